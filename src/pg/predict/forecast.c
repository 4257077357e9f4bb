/*
 * forecast.c - the SQL entry points of load forecasting
 *
 *   forecast_array(ts[], kw[], horizon, time_zone, method, step)  any series
 *   forecast(meters, history_from, history_to, horizon, method, fleet, refit)
 *   forecast_backtest(meters, from_ts, to_ts, days, method, fleet)
 *   forecast_backtest_array(ts[], kw[], days, time_zone, method, step)
 *
 * The store's series come from the detection reader (one sorted scan,
 * readings plus estimates, a memory context per series); each is put on
 * its interval grid with its holes filled (forecast_grid.c), or added into
 * the group's grid for a fleet or group total.  The model is the pure core
 * (core/predict/forecast.c); fitted parameters are kept in
 * meter_etl.forecast_model (forecast_model.c).
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "predict.h"
#include "pg/meter_etl.h"

PG_FUNCTION_INFO_V1(meter_etl_forecast_array);
PG_FUNCTION_INFO_V1(meter_etl_forecast);
PG_FUNCTION_INFO_V1(meter_etl_forecast_backtest);
PG_FUNCTION_INFO_V1(meter_etl_forecast_backtest_array);

#define IMPORT_CHANNEL 1		/* what fleet and group totals add up */

/* One call over the store: what to read and what to do with each series. */
typedef struct FcCall FcCall;
typedef void (*FcSink) (FcCall *c, const char *series, const char *meter_id,
						const char *channel, const FcKey *key, FcGrid *g);

struct FcCall
{
	MeDetCatalog cat;
	ReturnSetInfo *rsinfo;
	int64		from;
	int64		to;
	int64		horizon_us;
	MeFcMethod	method;
	bool		fleet;
	bool		refit;
	int			days;			/* backtest origins */
	char	   *group;			/* name of the total (fleet) */
	MeFcAccuracy pool;
	int			nseries;
	int			skipped;		/* series with under 2 days of readings */
	FcModels	models;			/* prepared statements on forecast_model */
	MeDetErrCtx ectx;
};

/* A float8 datum, NULL for NaN (an undefined metric). */
static Datum
metric(double v, bool *isnull)
{
	*isnull = isnan(v);
	return Float8GetDatum(*isnull ? 0.0 : v);
}

/* ------------------------------------------------------------ reading */

/*
 * A meter channel's grid of [from, to) from the reader's series, or false
 * when it holds under 2 days of readings (left out and counted).
 */
static bool
series_grid(FcCall *c, const MeDetSeries *s, FcGrid *g)
{
	me_det_check_finite(s);
	fc_grid_init(g, c->from, c->to, s->interval_us, c->fleet ? 0 : c->horizon_us);
	for (size_t i = 0; i < s->n; i++)
		(void) fc_grid_put(g, s->ts[i], s->kw[i]);
	if (g->npresent < 2 * (size_t) g->m1)
	{
		c->skipped++;
		return false;
	}
	fc_grid_finish(g, s->meter->zone);
	return true;
}

/* Add a meter's filled grid into the total's (kW averaged into its slots). */
static void
add_into(FcGrid *total, const FcGrid *g)
{
	double		share = (double) g->step / (double) total->step;

	for (size_t i = 0; i < g->n; i++)
	{
		int64		k = me_floor_div(fc_grid_ts(g, i) - total->from, total->step);

		if (k >= 0 && k < (int64) total->n)
		{
			total->y[k] += g->y[i] * share;
			total->present[k] = true;
		}
	}
}

/* Every meter channel in scope, one grid each, handed to sink. */
static void
each_meter(FcCall *c, MeDetReader *rd, FcSink sink)
{
	MeDetSeries s;

	while (me_det_reader_next(rd, &s))
	{
		MemoryContext old = MemoryContextSwitchTo(me_det_series_context(rd));
		FcGrid		g;

		CHECK_FOR_INTERRUPTS();
		c->ectx.s = &s;
		if (series_grid(c, &s, &g))
		{
			FcKey		key = {s.meter->meter_key, s.channel_id, NULL};

			sink(c, psprintf("%s:%s", s.meter->meter_id, s.channel), s.meter->meter_id,
				 s.channel, &key, &g);
		}
		c->ectx.s = NULL;
		MemoryContextSwitchTo(old);
	}
}

/*
 * The total of the meters' import channels at the longest interval in
 * scope, in the first meter's time zone; meters streamed one at a time.
 */
static void
each_total(FcCall *c, MeDetReader *rd, FcSink sink)
{
	MeDetSeries s;
	FcGrid		total;
	MeZone	   *zone = NULL;
	FcKey		key = {0, 0, c->group};

	fc_grid_init(&total, c->from, c->to, c->cat.max_interval_us, c->horizon_us);
	while (me_det_reader_next(rd, &s))
	{
		MemoryContext old = MemoryContextSwitchTo(me_det_series_context(rd));
		FcGrid		g;

		CHECK_FOR_INTERRUPTS();
		c->ectx.s = &s;
		if (s.channel_id == IMPORT_CHANNEL && series_grid(c, &s, &g))
		{
			add_into(&total, &g);
			if (zone == NULL)
				zone = s.meter->zone;
		}
		c->ectx.s = NULL;
		MemoryContextSwitchTo(old);
	}
	if (zone == NULL)
		return;					/* no meter with readings: no rows */
	total.npresent = total.n;
	fc_grid_finish(&total, zone);
	sink(c, c->group, NULL, NULL, &key, &total);
}

/*
 * The name of a total: "fleet" for every meter, else "meters:" and the
 * sorted ids (an md5 of them when that would be long).
 */
static char *
group_name(ArrayType *meters)
{
	Datum	   *d;
	bool	   *nulls;
	int			n;
	char	  **ids;
	StringInfoData b;

	if (meters == NULL)
		return "fleet";
	deconstruct_array(meters, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, &n);
	ids = palloc(sizeof(char *) * (n + 1));
	for (int i = 0; i < n; i++)
		ids[i] = TextDatumGetCString(d[i]);
	qsort(ids, n, sizeof(char *), pg_qsort_strcmp);
	initStringInfo(&b);
	for (int i = 0; i < n; i++)
		if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
			appendStringInfo(&b, "%s%s", i ? "," : "", ids[i]);
	if (b.len > 200)
		return psprintf("meters:md5=%s",
						TextDatumGetCString(DirectFunctionCall1(md5_text,
																CStringGetTextDatum(b.data))));
	return psprintf("meters:%s", b.data);
}

/* Load the catalog, read the series and hand them to sink. */
static void
run_call(FcCall *c, ArrayType *meters, FcSink sink, const char *what)
{
	MeDetReader *rd;

	if (meters != NULL && ArrayGetNItems(ARR_NDIM(meters), ARR_DIMS(meters)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("meters must not be empty"),
				 errhint("Pass NULL for every meter.")));
	SPI_connect();
	me_det_catalog_load(&c->cat, meters, NULL);
	c->cat.with_estimates = true;
	c->group = c->fleet ? group_name(meters) : NULL;
	me_det_errctx_push(&c->ectx, what);
	rd = me_det_reader_open(&c->cat, c->from, c->to);
	if (c->fleet)
		each_total(c, rd, sink);
	else
		each_meter(c, rd, sink);
	me_det_reader_close(rd);
	me_det_errctx_pop(&c->ectx);
	if (c->skipped > 0)
		ereport(NOTICE,
				(errmsg("%d series left out: fewer than 2 days of readings in the history",
						c->skipped)));
	SPI_finish();
}

/* ------------------------------------------------------------ forecast */

/* Rows (series, meter_id, channel, ts, forecast_kw, lo80, hi80, lo95, hi95, model_id, interval_s). */
static void
forecast_sink(FcCall *c, const char *series, const char *meter_id, const char *channel,
			  const FcKey *key, FcGrid *g)
{
	MeFcModel	m;
	MeFcSeries	s;
	MeFcPoint  *out = palloc(sizeof(MeFcPoint) * (g->h + 1));
	int64		id = fc_model_get(&c->models, key, c->method, g, c->refit, &m);

	fc_series(g, &s);
	fc_error(me_fc_forecast(&s, &m, g->ds + g->n, g->ws + g->n, g->h, out));
	for (size_t k = 0; k < g->h; k++)
	{
		Datum		v[11];
		bool		nulls[11] = {false};

		v[0] = CStringGetTextDatum(series);
		v[1] = meter_id ? CStringGetTextDatum(meter_id) : (Datum) 0;
		v[2] = channel ? CStringGetTextDatum(channel) : (Datum) 0;
		nulls[1] = meter_id == NULL;
		nulls[2] = channel == NULL;
		v[3] = TimestampTzGetDatum(fc_grid_ts(g, g->n + k));
		v[4] = Float8GetDatum(out[k].f);
		v[5] = Float8GetDatum(out[k].lo80);
		v[6] = Float8GetDatum(out[k].hi80);
		v[7] = Float8GetDatum(out[k].lo95);
		v[8] = Float8GetDatum(out[k].hi95);
		v[9] = Int64GetDatum(id);
		v[10] = Int32GetDatum((int32) (g->step / USECS_PER_SEC));
		tuplestore_putvalues(c->rsinfo->setResult, c->rsinfo->setDesc, v, nulls);
	}
}

/*
 * forecast(meters, history_from, history_to, horizon, method, fleet, refit)
 * -> (series, meter_id, channel, ts, forecast_kw, lo80, hi80, lo95, hi95, model_id, interval_s)
 */
Datum
meter_etl_forecast(PG_FUNCTION_ARGS)
{
	FcCall		c;
	ArrayType  *meters = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);

	memset(&c, 0, sizeof(c));
	c.from = me_det_ts_arg(fcinfo, 1, "history_from");
	c.to = me_det_ts_arg(fcinfo, 2, "history_to");
	c.horizon_us = fc_horizon_arg(fcinfo, 3);
	c.method = fc_method_arg(fcinfo, 4);
	c.fleet = fc_bool_arg(fcinfo, 5, "fleet");
	c.refit = fc_bool_arg(fcinfo, 6, "refit");
	fc_check_history(c.from, c.to, 0, "history_from", "history_to");
	InitMaterializedSRF(fcinfo, 0);
	c.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	run_call(&c, meters, forecast_sink, "forecast");
	return (Datum) 0;
}

/* ------------------------------------------------------------ backtest */

/* The backtest's days: 1 to 366 local days. */
static int
days_arg(FunctionCallInfo fcinfo, int argno)
{
	int			days;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("days must not be null")));
	days = PG_GETARG_INT32(argno);
	if (days < 1 || days > 366)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("days must be between 1 and 366")));
	return days;
}

/*
 * A row of metrics: (series, n, mae, rmse, mase, mape), or without the
 * series (series NULL) for the array form.
 */
static void
accuracy_row(ReturnSetInfo *rsinfo, const char *series, const MeFcAccuracy *a)
{
	Datum		v[6];
	bool		nulls[6] = {false};
	double		mae,
				rmse,
				mase,
				mape;
	int			k = 0;

	me_fc_accuracy_finish(a, &mae, &rmse, &mase, &mape);
	if (series != NULL)
		v[k++] = CStringGetTextDatum(series);
	v[k++] = Int64GetDatum((int64) a->n);
	v[k] = metric(mae, &nulls[k]);
	k++;
	v[k] = metric(rmse, &nulls[k]);
	k++;
	v[k] = metric(mase, &nulls[k]);
	k++;
	v[k] = metric(mape, &nulls[k]);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
}

static void
backtest_sink(FcCall *c, const char *series, const char *meter_id, const char *channel,
			  const FcKey *key, FcGrid *g)
{
	MeFcSeries	s;
	MeFcModel	m;
	MeFcAccuracy a;

	fc_series(g, &s);
	fc_error(me_fc_backtest(&s, c->method, c->days, &m, &a));
	accuracy_row(c->rsinfo, series, &a);
	me_fc_accuracy_add(&c->pool, &a);
	c->nseries++;
}

/*
 * forecast_backtest(meters, from_ts, to_ts, days, method, fleet)
 * -> (series, n, mae, rmse, mase, mape), the last row '(pooled)'
 */
Datum
meter_etl_forecast_backtest(PG_FUNCTION_ARGS)
{
	FcCall		c;
	ArrayType  *meters = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);

	memset(&c, 0, sizeof(c));
	c.from = me_det_ts_arg(fcinfo, 1, "from_ts");
	c.to = me_det_ts_arg(fcinfo, 2, "to_ts");
	c.days = days_arg(fcinfo, 3);
	c.method = fc_method_arg(fcinfo, 4);
	c.fleet = fc_bool_arg(fcinfo, 5, "fleet");
	fc_check_history(c.from, c.to, c.days, "from_ts", "to_ts");
	InitMaterializedSRF(fcinfo, 0);
	c.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	run_call(&c, meters, backtest_sink, "forecast_backtest");
	if (c.nseries > 0)
		accuracy_row(c.rsinfo, "(pooled)", &c.pool);
	return (Datum) 0;
}

/* ------------------------------------------------------------ arrays */

/* The array's values on the grid of step from its first to its last slot. */
static void
array_grid(const MeDetArrays *a, int64 step, int64 horizon_us, MeZone *zone, FcGrid *g)
{
	int64		from = me_floor_to(a->ts[0], step);
	int64		to = me_floor_to(a->ts[a->n - 1], step) + step;

	fc_grid_init(g, from, to, step, horizon_us);
	for (int i = 0; i < a->n; i++)
		if (a->present[i] && !fc_grid_put(g, a->ts[i], a->kw[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ts[%d] falls in the same step as an earlier element", i + 1),
					 errhint("Pass one value per step, or the step of the readings.")));
	if (g->npresent == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kw must hold at least one value")));
	fc_grid_finish(g, zone);
}

/*
 * The series of an array form: ts and kw (arguments 0 and 1), its time
 * zone and step (arguments tz_arg and step_arg), on its grid with the
 * horizon after it.
 */
static void
array_series(FunctionCallInfo fcinfo, int tz_arg, int step_arg, int64 horizon, FcGrid *g)
{
	MeDetArrays arr;
	int64		step = me_det_interval_arg(fcinfo, step_arg, "step", false);
	char	   *tzname;
	MeZone		zone;

	me_det_arrays(fcinfo, 0, 1, &arr);
	if (arr.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ts and kw must not be empty")));
	if (USECS_PER_DAY % step != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("step must divide a day"),
				 errhint("Use the interval of the readings, e.g. '15 minutes' or '1 hour'.")));
	if (PG_ARGISNULL(tz_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("time_zone must not be null")));
	tzname = text_to_cstring(PG_GETARG_TEXT_PP(tz_arg));
	if (!me_zone_setup(&zone, tzname))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", tzname)));
	array_grid(&arr, step, horizon, &zone, g);
}

/*
 * forecast_array(ts[], kw[], horizon, time_zone, method, step)
 * -> (ts, forecast_kw, lo80, hi80, lo95, hi95)
 */
Datum
meter_etl_forecast_array(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		horizon = fc_horizon_arg(fcinfo, 2);
	MeFcMethod	method = fc_method_arg(fcinfo, 4);
	FcGrid		g;
	MeFcSeries	s;
	MeFcModel	m;
	MeFcPoint  *out;

	array_series(fcinfo, 3, 5, horizon, &g);
	fc_series(&g, &s);
	fc_error(me_fc_fit(&s, method, &m));
	out = palloc(sizeof(MeFcPoint) * (g.h + 1));
	fc_error(me_fc_forecast(&s, &m, g.ds + g.n, g.ws + g.n, g.h, out));
	InitMaterializedSRF(fcinfo, 0);
	for (size_t k = 0; k < g.h; k++)
	{
		Datum		v[6];
		bool		nulls[6] = {false};

		v[0] = TimestampTzGetDatum(fc_grid_ts(&g, g.n + k));
		v[1] = Float8GetDatum(out[k].f);
		v[2] = Float8GetDatum(out[k].lo80);
		v[3] = Float8GetDatum(out[k].hi80);
		v[4] = Float8GetDatum(out[k].lo95);
		v[5] = Float8GetDatum(out[k].hi95);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	return (Datum) 0;
}

/*
 * forecast_backtest_array(ts[], kw[], days, time_zone, method, step)
 * -> (n, mae, rmse, mase, mape): forecast_backtest() on any series
 */
Datum
meter_etl_forecast_backtest_array(PG_FUNCTION_ARGS)
{
	int			days = days_arg(fcinfo, 2);
	MeFcMethod	method = fc_method_arg(fcinfo, 4);
	FcGrid		g;
	MeFcSeries	s;
	MeFcModel	m;
	MeFcAccuracy a;

	array_series(fcinfo, 3, 5, 0, &g);
	fc_check_history(g.from, fc_grid_ts(&g, g.n), days, "ts[1]", "the end of the last step");
	fc_series(&g, &s);
	fc_error(me_fc_backtest(&s, method, days, &m, &a));
	InitMaterializedSRF(fcinfo, 0);
	accuracy_row((ReturnSetInfo *) fcinfo->resultinfo, NULL, &a);
	return (Datum) 0;
}
