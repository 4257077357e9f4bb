/*
 * srf_interpolate.c - meter_etl.interpolate(): a regular grid per series
 *
 * Two SQL entry points share the cores series_fill_linear() and
 * series_fill_like_day():
 *   interpolate(from_ts, to_ts, meters, ...)   readings of the store
 *   interpolate(ts[], kw[], step, ...)         any series
 * Each grid slot comes back as the actual reading, a linear estimate (gap
 * up to max_gap between two actuals), a like-day estimate (only when asked,
 * for longer gaps) or a hole (kw NULL, method 'gap').  Estimates are
 * labelled, never silently mixed with actual data.
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "detect.h"
#include "pg/meter_etl.h"

PG_FUNCTION_INFO_V1(meter_etl_interpolate);
PG_FUNCTION_INFO_V1(meter_etl_interpolate_array);

#define LIKE_DAY_DAYS 4
#define LIKE_DAY_WEEKS 8

/* Method label of a slot as SQL shows it. */
static const char *
method_label(MeFillMethod m)
{
	const char *name = series_fill_method_name(m);

	return name ? name : "gap";
}

/*
 * Fill one series and append its slots (prefix: meter_id, channel or none);
 * returns the number of readings ignored for being off the grid.
 */
static size_t
emit_fill(ReturnSetInfo *rsinfo, const MeSeries *in, const MeFillParams *p, bool like_day,
		  const Datum *prefix, int nprefix, const MeDetSeries *s)
{
	MeFillResult res;
	int			rc;
	Datum		labels[4];
	size_t		offgrid;

	rc = series_fill_linear(in, p, &res);
	me_det_series_error(rc);
	if (like_day)
	{
		rc = series_fill_like_day(in, p, &res);
		if (rc != ME_SERIES_OK)
			series_fill_result_free(&res);
		me_det_series_error(rc);
	}
	for (int m = 0; m < 4; m++)
		labels[m] = CStringGetTextDatum(method_label((MeFillMethod) m));
	for (size_t i = 0; i < res.n_points; i++)
	{
		const MeFillPoint *pt = &res.points[i];
		Datum		v[6];
		bool		nulls[6] = {false};
		int			k = 0;

		for (; k < nprefix; k++)
			v[k] = prefix[k];
		v[k++] = TimestampTzGetDatum(pt->ts);
		v[k] = Float8GetDatum(pt->kw);
		nulls[k++] = pt->method == ME_FILL_HOLE;
		v[k++] = BoolGetDatum(pt->method == ME_FILL_LINEAR || pt->method == ME_FILL_LIKE_DAY);
		v[k++] = labels[pt->method];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	offgrid = res.n_offgrid;
	series_fill_result_free(&res);
	return offgrid;
}

/*
 * Where a stored series' grid ends: at to_ts, or at the current time if
 * that is earlier (slots yet to come are not missing), but never before a
 * reading inside the range (clocks run ahead, and the rules accept readings
 * up to meter_etl.future_tolerance ahead).
 */
static int64
grid_end(const MeDetSeries *s, int64 from, int64 to)
{
	int64		end = me_det_due_to(to, s->interval_us);

	for (size_t i = s->n; i > 0; i--)
		if (s->ts[i - 1] < to)
		{
			end = Max(end, Min(to, me_floor_to(s->ts[i - 1], s->interval_us) + s->interval_us));
			break;
		}
	return Max(end, from);
}

/*
 * interpolate(from_ts, to_ts, meters, max_gap, like_day)
 * -> (meter_id, channel, ts, kw, estimated, method)
 */
Datum
meter_etl_interpolate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz from = me_det_ts_arg(fcinfo, 0, "from_ts");
	TimestampTz to = me_det_ts_arg(fcinfo, 1, "to_ts");
	ArrayType  *meters = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	int64		max_gap = me_det_interval_arg(fcinfo, 3, "max_gap", true);
	bool		like_day = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
	MeDetCatalog cat;
	MeDetReader *rd;
	MeDetSeries s;
	MeDetErrCtx ectx;
	int64		ctx;

	me_det_check_range(from, to);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	me_det_catalog_load(&cat, meters, NULL);
	/* neighbours of the edge slots, or the like days around the range */
	ctx = like_day ? (int64) LIKE_DAY_WEEKS * 7 * USECS_PER_DAY + USECS_PER_DAY :
		max_gap + cat.max_interval_us;
	me_det_errctx_push(&ectx, "interpolate");
	rd = me_det_reader_open(&cat, me_det_add(from, -ctx), me_det_add(to, ctx));
	while (me_det_reader_next(rd, &s))
	{
		MemoryContext old = MemoryContextSwitchTo(me_det_series_context(rd));
		MeFillParams p;
		Datum		prefix[2];

		CHECK_FOR_INTERRUPTS();
		ectx.s = &s;
		me_det_check_finite(&s);
		series_fill_params_default(&p);
		p.interval_us = s.interval_us;
		p.from_ts = from;
		p.to_ts = grid_end(&s, from, to);
		p.max_gap_us = max_gap;
		p.like_day_days = LIKE_DAY_DAYS;
		p.like_day_max_weeks = LIKE_DAY_WEEKS;
		p.zone = s.meter->zone;
		prefix[0] = CStringGetTextDatum(s.meter->meter_id);
		prefix[1] = CStringGetTextDatum(s.channel);
		emit_fill(rsinfo, &s.in, &p, like_day, prefix, 2, &s);
		MemoryContextSwitchTo(old);
	}
	me_det_reader_close(rd);
	me_det_errctx_pop(&ectx);
	SPI_finish();
	return (Datum) 0;
}

/*
 * interpolate(ts[], kw[], step, max_gap, from_ts, to_ts, like_day, time_zone)
 * -> (ts, kw, estimated, method)
 */
Datum
meter_etl_interpolate_array(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MeDetArrays arr;
	int64		step = me_det_interval_arg(fcinfo, 2, "step", false);
	int64		max_gap = me_det_interval_arg(fcinfo, 3, "max_gap", true);
	bool		like_day = !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);
	const char *tzname = PG_ARGISNULL(7) ? "UTC" : text_to_cstring(PG_GETARG_TEXT_PP(7));
	MeZone		zone;
	MeFillParams p;
	MeSeries	in;
	size_t		offgrid;
	TimestampTz from,
				to;

	me_det_arrays(fcinfo, 0, 1, &arr);
	if (USECS_PER_DAY % step != 0 && step % USECS_PER_DAY != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("step must divide a day"),
				 errhint("Use the interval of the readings, e.g. '15 minutes' or '30 minutes'.")));
	if (!me_zone_setup(&zone, tzname))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", tzname)));
	InitMaterializedSRF(fcinfo, 0);
	if (arr.n == 0 && (PG_ARGISNULL(4) || PG_ARGISNULL(5)))
		return (Datum) 0;
	/* default range: from the first slot to the end of the last reading's slot */
	from = PG_ARGISNULL(4) ? (TimestampTz) me_floor_to(arr.ts[0], step) :
		me_det_ts_arg(fcinfo, 4, "from_ts");
	to = PG_ARGISNULL(5) ? me_det_add(arr.ts[arr.n - 1], step) : me_det_ts_arg(fcinfo, 5, "to_ts");
	me_det_check_range(from, to);
	series_fill_params_default(&p);
	p.interval_us = step;
	p.from_ts = from;
	p.to_ts = to;
	p.max_gap_us = max_gap;
	p.like_day_days = LIKE_DAY_DAYS;
	p.like_day_max_weeks = LIKE_DAY_WEEKS;
	p.zone = &zone;
	in.ts = arr.ts;
	in.kw = arr.kw;
	in.present = arr.present;
	in.n = arr.n;
	offgrid = emit_fill(rsinfo, &in, &p, like_day, NULL, 0, NULL);
	/* readings off the step grid are not used: say so */
	if (offgrid > 0)
		ereport(NOTICE,
				(errmsg("%zu readings are not on the grid of step and were ignored", offgrid),
				 errhint("The grid is every step since 2000-01-01 00:00 UTC; pass the interval of the readings.")));
	return (Datum) 0;
}
