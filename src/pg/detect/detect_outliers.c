/*
 * srf_outliers.c - meter_etl.rolling_outliers(): rolling z-score / Hampel
 *
 * Two SQL entry points share the core series_outliers():
 *   rolling_outliers(from_ts, to_ts, meters, ...)  readings of the store
 *   rolling_outliers(kw float8[], ...)             any series of values
 * Windows count readings, not time; the store variant reads enough
 * readings before (and, centred, after) the range that the first and last
 * readings of the range get full windows.
 *
 * scale 'log' scores asinh(kW / 0.1 kW) instead of kW: a log scale that
 * still takes zero and negative readings.  Meter data is multiplicative
 * (noise grows with the load, a spike is the value times N), so on this
 * scale a score measures a relative deviation: a kettle on a small night
 * load and a spike on an evening peak are told apart by how many times the
 * reading exceeds its neighbours, not by kW.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/timestamp.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "detect.h"

PG_FUNCTION_INFO_V1(meter_etl_rolling_outliers);
PG_FUNCTION_INFO_V1(meter_etl_rolling_outliers_array);

/* hampel or zscore. */
MeOutlierMethod
me_det_outlier_method(const char *name)
{
	if (pg_strcasecmp(name, "hampel") == 0)
		return ME_OUTLIER_HAMPEL;
	if (pg_strcasecmp(name, "zscore") == 0 || pg_strcasecmp(name, "z-score") == 0)
		return ME_OUTLIER_ZSCORE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized outlier method \"%s\"", name),
			 errhint("Use hampel (median and MAD) or zscore (mean and standard deviation).")));
	return ME_OUTLIER_HAMPEL;	/* keep compiler quiet */
}

#define LOG_SCALE_KW 0.1		/* asinh(kw / this): linear below, log above */

/* Core parameters for a series with the given interval. */
void
me_det_outlier_params(const MeDetOutlierArgs *a, int64 interval_us, MeOutlierParams *p)
{
	series_outlier_params_default(p, a->method);
	p->mode = a->mode;
	p->window = a->window > 0 ? (size_t) a->window :
		(size_t) Max(USECS_PER_DAY / Max(interval_us, 1), 1);
	p->min_periods = a->min_periods > 0 ? (size_t) a->min_periods : Max(p->window / 2, 1);
	p->threshold = a->threshold;
	p->min_scale = a->min_scale;
}

/*
 * Scores of a series (out: in->n entries).  On the log scale the core sees
 * transformed values and the centre is turned back into kW; the scale stays
 * in log units (a relative spread).
 */
void
me_det_outliers(const MeSeries *in, const MeDetOutlierArgs *a, int64 interval_us, MeScore *out,
				const MeDetSeries *s)
{
	MeOutlierParams p;
	MeSeries	t = *in;
	double	   *x = NULL;
	int			rc;

	me_det_outlier_params(a, interval_us, &p);
	if (a->log_scale)
	{
		x = palloc(sizeof(double) * (in->n + 1));
		for (size_t i = 0; i < in->n; i++)
			x[i] = (in->present == NULL || in->present[i]) ? asinh(in->kw[i] / LOG_SCALE_KW) : 0.0;
		t.kw = x;
	}
	rc = series_outliers(&t, &p, out);
	me_det_series_error(rc);
	if (x != NULL)
	{
		for (size_t i = 0; i < in->n; i++)
			out[i].centre = sinh(out[i].centre) * LOG_SCALE_KW;
		pfree(x);
	}
}

/* The shared arguments: method, window_size, centred, threshold, min_periods, min_scale, scale, outliers_only. */
static void
outlier_args(FunctionCallInfo fcinfo, int first, MeDetOutlierArgs *a, int default_window)
{
	memset(a, 0, sizeof(*a));
	if (PG_ARGISNULL(first))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method must not be null")));
	a->method = me_det_outlier_method(text_to_cstring(PG_GETARG_TEXT_PP(first)));
	a->window = PG_ARGISNULL(first + 1) ? default_window : PG_GETARG_INT32(first + 1);
	if (!PG_ARGISNULL(first + 1) && (a->window < 1 || a->window > 100000))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_size must be between 1 and 100000")));
	a->mode = (PG_ARGISNULL(first + 2) || PG_GETARG_BOOL(first + 2)) ?
		ME_WINDOW_CENTRED : ME_WINDOW_TRAILING;
	a->threshold = me_det_float_arg(fcinfo, first + 3, "threshold", 0.0, 1e12);
	a->min_periods = PG_ARGISNULL(first + 4) ? 0 : PG_GETARG_INT32(first + 4);
	if (!PG_ARGISNULL(first + 4) && (a->min_periods < 1 || a->min_periods > 100000))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_periods must be between 1 and 100000")));
	a->log_scale = me_det_log_scale(PG_ARGISNULL(first + 6) ? "log" :
									text_to_cstring(PG_GETARG_TEXT_PP(first + 6)));
	/* default floor: 1 on the log scale (a factor of e^2 at threshold 2), none in kW */
	a->min_scale = PG_ARGISNULL(first + 5) ? (a->log_scale ? ME_DEFAULT_OUTLIER_MIN_SCALE_LOG : 0.0) :
		me_det_float_arg(fcinfo, first + 5, "min_scale", 0.0, 1e12);
	a->outliers_only = !PG_ARGISNULL(first + 7) && PG_GETARG_BOOL(first + 7);
}

/* log or linear. */
bool
me_det_log_scale(const char *name)
{
	if (pg_strcasecmp(name, "log") == 0)
		return true;
	if (pg_strcasecmp(name, "linear") == 0)
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized scale \"%s\"", name),
			 errhint("Use log (relative deviations) or linear (kW).")));
	return true;				/* keep compiler quiet */
}

/* Score as SQL sees it: NULL when not scored, +-Infinity for the sentinel. */
static void
score_datums(const MeScore *o, Datum *v, bool *isnull)
{
	bool		scored = o->status == ME_SCORE_OK || o->status == ME_SCORE_DEGENERATE;
	double		sc = o->score;

	if (fabs(sc) >= ME_SERIES_SCORE_SENTINEL)
		sc = sc > 0 ? get_float8_infinity() : -get_float8_infinity();
	v[0] = Float8GetDatum(sc);
	isnull[0] = !scored;
	v[1] = BoolGetDatum(o->is_outlier);
	isnull[1] = false;
	v[2] = Float8GetDatum(o->centre);
	isnull[2] = o->n_window == 0;
	v[3] = Float8GetDatum(o->scale);
	isnull[3] = !scored;
	v[4] = Int32GetDatum((int32) o->n_window);
	isnull[4] = false;
}

/*
 * rolling_outliers(from_ts, to_ts, meters, method, window_size, centred,
 *                  threshold, min_periods, min_scale, scale, outliers_only)
 * -> (meter_id, channel, ts, kw, score, is_outlier, centre, scale, n_window)
 */
Datum
meter_etl_rolling_outliers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz from = me_det_ts_arg(fcinfo, 0, "from_ts");
	TimestampTz to = me_det_ts_arg(fcinfo, 1, "to_ts");
	ArrayType  *meters = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	MeDetOutlierArgs a;
	MeDetCatalog cat;
	MeDetReader *rd;
	MeDetSeries s;
	MeDetErrCtx ectx;
	int64		ctx_before,
				ctx_after,
				wmax;

	me_det_check_range(from, to);
	outlier_args(fcinfo, 3, &a, 0);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	me_det_catalog_load(&cat, meters, NULL);
	/* enough time for a full window of readings of the slowest meter, plus slack */
	wmax = a.window > 0 ? (int64) a.window * cat.max_interval_us : USECS_PER_DAY;
	ctx_before = wmax + wmax / 4 + cat.max_interval_us;
	ctx_after = a.mode == ME_WINDOW_CENTRED ? ctx_before / 2 + cat.max_interval_us : 0;
	me_det_errctx_push(&ectx, "rolling_outliers");
	rd = me_det_reader_open(&cat, me_det_add(from, -ctx_before), me_det_add(to, ctx_after));
	while (me_det_reader_next(rd, &s))
	{
		MemoryContext old = MemoryContextSwitchTo(me_det_series_context(rd));
		MeScore    *sc;
		Datum		mid,
					chan;

		CHECK_FOR_INTERRUPTS();
		ectx.s = &s;
		me_det_check_finite(&s);
		sc = palloc(sizeof(MeScore) * (s.n + 1));
		me_det_outliers(&s.in, &a, s.interval_us, sc, &s);
		mid = CStringGetTextDatum(s.meter->meter_id);
		chan = CStringGetTextDatum(s.channel);
		for (size_t i = 0; i < s.n; i++)
		{
			Datum		v[9];
			bool		nulls[9] = {false};

			if (s.ts[i] < from || s.ts[i] >= to || (a.outliers_only && !sc[i].is_outlier))
				continue;
			v[0] = mid;
			v[1] = chan;
			v[2] = TimestampTzGetDatum(s.ts[i]);
			v[3] = Float8GetDatum(s.kw[i]);
			score_datums(&sc[i], v + 4, nulls + 4);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
		}
		MemoryContextSwitchTo(old);
	}
	me_det_reader_close(rd);
	me_det_errctx_pop(&ectx);
	SPI_finish();
	return (Datum) 0;
}

/*
 * rolling_outliers_array(kw float8[], method, window_size, centred, threshold,
 *                        min_periods, min_scale, scale, outliers_only)
 * -> (ord, kw, score, is_outlier, centre, scale, n_window)
 */
Datum
meter_etl_rolling_outliers_array(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MeDetArrays arr;
	MeDetOutlierArgs a;
	MeSeries	in;
	MeScore    *sc;

	me_det_arrays(fcinfo, -1, 0, &arr);
	outlier_args(fcinfo, 1, &a, 96);
	InitMaterializedSRF(fcinfo, 0);
	in.ts = NULL;
	in.kw = arr.kw;
	in.present = arr.present;
	in.n = arr.n;
	sc = palloc(sizeof(MeScore) * (arr.n + 1));
	me_det_outliers(&in, &a, 15 * USECS_PER_MINUTE, sc, NULL);
	for (int i = 0; i < arr.n; i++)
	{
		Datum		v[7];
		bool		nulls[7] = {false};

		if (a.outliers_only && !sc[i].is_outlier)
			continue;
		v[0] = Int32GetDatum(i + 1);
		v[1] = Float8GetDatum(arr.kw[i]);
		nulls[1] = !arr.present[i];
		score_datums(&sc[i], v + 2, nulls + 2);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	return (Datum) 0;
}

/*
 * Outlier flags of a series with the batch settings (meter_etl.outlier_*):
 * daily energy for level-shift detection leaves these readings out, so a
 * spike does not pass for a change in consumption.
 */
bool *
me_det_default_outliers(const MeSeries *in, int64 interval_us)
{
	MeDetOutlierArgs a;
	MeScore    *sc = palloc(sizeof(MeScore) * (in->n + 1));
	bool	   *flag = palloc(sizeof(bool) * (in->n + 1));

	me_det_outlier_settings(&a);
	me_det_outliers(in, &a, interval_us, sc, NULL);
	for (size_t i = 0; i < in->n; i++)
		flag[i] = sc[i].is_outlier;
	pfree(sc);
	return flag;
}

/* The batch settings (meter_etl.outlier_*) as arguments. */
void
me_det_outlier_settings(MeDetOutlierArgs *a)
{
	memset(a, 0, sizeof(*a));
	a->method = (MeOutlierMethod) me_det_outlier_method_guc;
	a->mode = ME_WINDOW_CENTRED;
	a->window = me_det_outlier_window;
	a->threshold = me_det_outlier_threshold;
	a->min_scale = me_det_outlier_min_scale;
	a->log_scale = true;
}
