/*
 * detect_faults.c - meter_etl.detect_faulty_meters(): faulty-meter episodes
 *
 * Two SQL entry points over one routine, me_det_faults(), which the batch
 * detection (detect_compute.c) uses as well:
 *   detect_faulty_meters(from_ts, to_ts, meters, ...)   readings of the store
 *   detect_faulty_meters(ts[], kw[], step, ...)         any series
 *
 * me_det_faults runs the cores in two steps.  First stuck_zero, flatline
 * and offline on the readings (series_detect_faults).  Then level shift on
 * daily energy (series_days + series_level_shift_days) with the readings
 * inside stuck_zero and flatline episodes left out: a day with a dead
 * register is that fault, not also a change in consumption.  Daily sums
 * can come from meter_etl.meter_day for days before the readings read, so
 * the batch need not read four weeks of readings to judge one day.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "detect.h"
#include "pg/meter_etl.h"

PG_FUNCTION_INFO_V1(meter_etl_detect_faulty_meters);
PG_FUNCTION_INFO_V1(meter_etl_detect_faulty_meters_array);

#define RUN_KINDS ((1u << ME_FAULT_STUCK_ZERO) | (1u << ME_FAULT_FLATLINE))

/* Mask of fault kinds from a text[] (NULL: all). */
unsigned
me_det_fault_kinds(ArrayType *kinds)
{
	Datum	   *d;
	bool	   *nulls;
	int			n;
	unsigned	mask = 0;

	if (kinds == NULL)
		return ME_FAULT_ALL;
	deconstruct_array(kinds, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *k;
		int			j;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("kinds must not contain nulls")));
		k = TextDatumGetCString(d[i]);
		for (j = 0; j <= ME_FAULT_LAST; j++)
			if (strcmp(k, series_fault_kind_name((MeFaultKind) j)) == 0)
				break;
		if (j > ME_FAULT_LAST)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized fault kind \"%s\"", k),
					 errhint("Use stuck_zero, flatline, level_shift, offline or usage_anomaly.")));
		mask |= 1u << j;
	}
	return mask;
}

/* Core parameters from the thresholds, for a series' interval and zone. */
void
me_det_fault_params(const MeDetFaultArgs *a, int64 interval_us, MeZone *zone, MeFaultParams *p)
{
	series_fault_params_default(p);
	p->kinds = a->kinds;
	p->interval_us = interval_us;
	p->zone = zone;
	p->stuck_zero_min_us = a->stuck_zero_min_us;
	p->flatline_min_us = a->flatline_min_us;
	p->flatline_min_readings = a->flatline_min_readings;
	p->shift_min_z = a->shift_min_z;
	p->shift_min_rel_change = series_shift_rel_change(a->shift_min_factor);
	p->shift_min_days = a->shift_min_days;
	p->shift_min_factor = a->shift_min_factor;
	p->shift_persist_days = a->shift_persist_days;
	p->offline_gap_us = a->offline_min_us;
	p->offline_window_us = Max(a->offline_min_us, interval_us);
}

/* Append the faults of src whose kind is in mask to dst. */
static void
append_faults(MeFaultList *dst, size_t *cap, const MeFaultList *src, unsigned mask)
{
	for (size_t i = 0; i < src->n; i++)
	{
		if (!(mask & (1u << src->items[i].kind)))
			continue;
		if (dst->n == *cap)
		{
			*cap = *cap ? *cap * 2 : 8;
			dst->items = dst->items ? repalloc(dst->items, sizeof(MeFault) * *cap) :
				palloc(sizeof(MeFault) * *cap);
		}
		dst->items[dst->n++] = src->items[i];
	}
}

/*
 * Faulty-meter episodes of series s over window w (see MeDetFaultWindow in
 * detect.h), in the current memory context; out->items is palloc'd.  Days
 * wholly inside [w->trusted_from, w->win_to) are computed from the
 * readings and returned in *days (if days != NULL); the others come from
 * w->stored.
 */
void
me_det_faults(const MeDetSeries *s, const MeFaultParams *p, const MeDetFaultWindow *w,
			  MeFaultList *out, MeDay **days, size_t *ndays)
{
	MeFaultParams pr = *p;
	MeFaultList runs,
				shifts;
	size_t		cap = 0;
	int			rc;
	int64		runs_from = w->runs_from;
	int64		to = w->to;
	int64		win_to = w->win_to;
	const MeDay *stored = w->stored;
	size_t		nstored = w->nstored;
	const bool *outlier = w->outlier;

	memset(out, 0, sizeof(*out));
	memset(&shifts, 0, sizeof(shifts));
	if (days)
	{
		*days = NULL;
		*ndays = 0;
	}
	/*
	 * Runs always (they mask level shift), over all the readings so that a
	 * run's reference days on both sides are there; offline only up to
	 * to: after it, missing readings may simply not have arrived yet (the
	 * store's callers end it at the current time, me_det_due_to).
	 */
	pr.kinds = RUN_KINDS;
	rc = series_detect_faults(&s->in, runs_from, win_to, &pr, &runs);
	me_det_series_error(rc);
	append_faults(out, &cap, &runs, p->kinds);
	if (p->kinds & (1u << ME_FAULT_OFFLINE))
	{
		MeFaultList off;

		pr.kinds = 1u << ME_FAULT_OFFLINE;
		rc = series_detect_faults(&s->in, runs_from, Max(to, runs_from), &pr, &off);
		me_det_series_error(rc);
		append_faults(out, &cap, &off, p->kinds);
		series_fault_list_free(&off);
	}

	if ((p->kinds & ME_FAULT_SHIFT_KINDS) || days != NULL)
	{
		bool	   *present = palloc(sizeof(bool) * (s->n + 1));
		MeSeries	masked = s->in;
		MeDay	   *computed;
		MeDay	   *all;
		size_t		ncomp,
					nall = 0,
					si = 0,
					ci = 0,
					j = 0;

		/* outliers and readings inside stuck_zero / flatline episodes do not count */
		for (size_t i = 0; i < s->n; i++)
			present[i] = (s->in.present == NULL || s->in.present[i]) &&
				(outlier == NULL || !outlier[i]);
		for (size_t f = 0; f < runs.n; f++)
		{
			if (!(RUN_KINDS & (1u << runs.items[f].kind)))
				continue;
			while (j > 0 && s->ts[j - 1] >= runs.items[f].start_ts)
				j--;
			for (; j < s->n && s->ts[j] < runs.items[f].end_ts; j++)
				if (s->ts[j] >= runs.items[f].start_ts)
					present[j] = false;
		}
		masked.present = present;
		rc = series_days(&masked, runs_from, win_to, p, &computed, &ncomp);
		series_fault_list_free(&runs);
		me_det_series_error(rc);
		/* stored days, overridden by days read in full */
		all = palloc(sizeof(MeDay) * (nstored + ncomp + 1));
		while (si < nstored || ci < ncomp)
		{
			bool		whole = ci < ncomp && computed[ci].start_ts >= w->trusted_from &&
				computed[ci].end_ts <= win_to;

			if (ci >= ncomp || (si < nstored && stored[si].day < computed[ci].day))
				all[nall++] = stored[si++];
			else if (si >= nstored || computed[ci].day < stored[si].day)
				all[nall++] = computed[ci++];
			else
			{
				all[nall++] = whole ? computed[ci] : stored[si];
				ci++;
				si++;
			}
		}
		if (p->kinds & ME_FAULT_SHIFT_KINDS)
		{
			rc = series_level_shift_days(all, nall, w->days_from, win_to, p, &shifts);
			me_det_series_error(rc);
			append_faults(out, &cap, &shifts, p->kinds);
			series_fault_list_free(&shifts);
		}
		if (days != NULL)
		{
			*days = palloc(sizeof(MeDay) * (ncomp + 1));
			for (ci = 0; ci < ncomp; ci++)
				if (computed[ci].start_ts >= w->trusted_from && computed[ci].end_ts <= win_to)
					(*days)[(*ndays)++] = computed[ci];
		}
		series_days_free(computed);
		pfree(all);
		pfree(present);
	}
	else
		series_fault_list_free(&runs);
	if (out->n > 1)
		qsort(out->items, out->n, sizeof(MeFault), series_fault_cmp);
}

/* A number for JSON: finite, with the sentinel capped. */
static void
json_num(StringInfo buf, const char *key, double v, bool comma)
{
	if (!isfinite(v) || fabs(v) >= ME_SERIES_SCORE_SENTINEL)
		v = v > 0 ? 1e300 : -1e300;
	appendStringInfo(buf, "%s\"%s\": %.6g", comma ? ", " : "", key, v);
}

/* The evidence of an episode, per kind (documented in doc/detection.md). */
Datum
me_det_evidence(const MeFault *f, const MeDetSeries *s)
{
	StringInfoData buf;
	double		hours = (double) (f->end_ts - f->start_ts) / (double) USECS_PER_HOUR;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	switch (f->kind)
	{
		case ME_FAULT_STUCK_ZERO:
		case ME_FAULT_FLATLINE:
			appendStringInfo(&buf, "\"readings\": " INT64_FORMAT, f->n);
			json_num(&buf, "hours", hours, true);
			json_num(&buf, "value_kw", f->value, true);
			json_num(&buf, "unusual_share", f->score, true);
			json_num(&buf, "reference_kw", f->baseline, true);
			break;
		case ME_FAULT_LEVEL_SHIFT:
		case ME_FAULT_USAGE_ANOMALY:
			appendStringInfo(&buf, "\"days\": " INT64_FORMAT, f->n);
			json_num(&buf, "ratio", f->value, true);
			json_num(&buf, "robust_z", f->score, true);
			json_num(&buf, "baseline_kwh_per_day", f->baseline, true);
			json_num(&buf, "raw_ratio", f->raw_value, true);
			json_num(&buf, "fleet_level", f->fleet, true);
			appendStringInfo(&buf, ", \"ongoing\": %s", f->ongoing ? "true" : "false");
			break;
		case ME_FAULT_OFFLINE:
			appendStringInfo(&buf, "\"missing_intervals\": " INT64_FORMAT, f->n);
			json_num(&buf, "hours", hours, true);
			json_num(&buf, "missing_share", f->value, true);
			json_num(&buf, "longest_gap_hours", f->score, true);
			break;
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/* Thresholds shared by both entry points, from argument first on. */
static void
fault_args(FunctionCallInfo fcinfo, int first, MeDetFaultArgs *a)
{
	memset(a, 0, sizeof(*a));
	a->stuck_zero_min_us = me_det_interval_arg(fcinfo, first, "stuck_zero_min", false);
	a->flatline_min_us = me_det_interval_arg(fcinfo, first + 1, "flatline_min", false);
	if (PG_ARGISNULL(first + 2) || PG_GETARG_INT32(first + 2) < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("flatline_min_readings must be at least 2")));
	a->flatline_min_readings = PG_GETARG_INT32(first + 2);
	a->shift_min_z = me_det_float_arg(fcinfo, first + 3, "shift_min_z", 0.0, 1e12);
	a->shift_min_factor = me_det_float_arg(fcinfo, first + 4, "shift_min_factor", 1.0, 1e6);
	if (PG_ARGISNULL(first + 5) || PG_GETARG_INT32(first + 5) < 1 || PG_GETARG_INT32(first + 5) > 366)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shift_min_days must be between 1 and 366")));
	a->shift_min_days = PG_GETARG_INT32(first + 5);
	a->offline_min_us = me_det_interval_arg(fcinfo, first + 6, "offline_min", false);
	if (a->offline_min_us < USECS_PER_HOUR)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("offline_min must be at least one hour")));
	if (PG_ARGISNULL(first + 7) || PG_GETARG_INT32(first + 7) < 1 || PG_GETARG_INT32(first + 7) > 3660)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shift_persist_days must be between 1 and 3660")));
	a->shift_persist_days = PG_GETARG_INT32(first + 7);
}

/* Append one episode row (prefix: meter_id, channel or none). */
static void
emit_fault(ReturnSetInfo *rsinfo, const MeFault *f, const Datum *prefix, int nprefix,
		   const MeDetSeries *s)
{
	Datum		v[6];
	bool		nulls[6] = {false};
	int			k = 0;

	for (; k < nprefix; k++)
		v[k] = prefix[k];
	v[k++] = CStringGetTextDatum(series_fault_kind_name(f->kind));
	v[k++] = TimestampTzGetDatum(f->start_ts);
	v[k++] = TimestampTzGetDatum(f->end_ts);
	v[k++] = me_det_evidence(f, s);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
}

/*
 * Where offline detection may start for series s read from hfrom.  Slots
 * before a series' first reading are an outage only if the meter reported
 * earlier: a meter installed (or first loaded) inside the window was not
 * offline before it.  The batch knows this from meter_day; here one probe
 * per series with a long enough leading gap asks the store.  Without ORDER
 * BY the Append stops at the first partition holding a reading.
 */
static int64
offline_from(SPIPlanPtr *probe, const MeDetSeries *s, int64 hfrom, int64 offline_min_us)
{
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	int64		first;

	if (s->n == 0 || s->ts[0] - hfrom < offline_min_us)
		return hfrom;
	if (*probe == NULL)
	{
		Oid			types[3] = {INT4OID, INT2OID, TIMESTAMPTZOID};

		*probe = SPI_prepare("SELECT 1 FROM meter_etl.reading WHERE meter_key = $1"
							 " AND channel_id = $2 AND ts < $3 LIMIT 1", 3, types);
		if (*probe == NULL)
			elog(ERROR, "could not prepare the earlier-reading probe: %s",
				 SPI_result_code_string(SPI_result));
	}
	args[0] = Int32GetDatum(s->meter->meter_key);
	args[1] = Int16GetDatum(s->channel_id);
	args[2] = TimestampTzGetDatum(hfrom);
	if (SPI_execute_plan(*probe, args, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for earlier readings");
	if (SPI_processed > 0)
		return hfrom;
	first = me_floor_to(s->ts[0], s->interval_us);
	return first;
}

/*
 * detect_faulty_meters(from_ts, to_ts, meters, kinds, history, stuck_zero_min,
 *                      flatline_min, flatline_min_readings, shift_min_z,
 *                      shift_min_factor, shift_min_days, offline_min,
 *                      shift_persist_days, fleet_min_meters)
 * -> (meter_id, channel, kind, start_ts, end_ts, evidence)
 */
Datum
meter_etl_detect_faulty_meters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz from = me_det_ts_arg(fcinfo, 0, "from_ts");
	TimestampTz to = me_det_ts_arg(fcinfo, 1, "to_ts");
	ArrayType  *meters = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	unsigned	kinds = me_det_fault_kinds(PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3));
	int64		history = me_det_interval_arg(fcinfo, 4, "history", true);
	MeDetFaultArgs a;
	MeDetCatalog cat;
	MeDetReader *rd;
	MeDetSeries s;
	MeDetErrCtx ectx;
	TimestampTz hfrom;
	SPIPlanPtr	probe = NULL;
	MeDetFleet *fleet = NULL;
	int			fleet_min;

	me_det_check_range(from, to);
	fault_args(fcinfo, 5, &a);
	if (PG_ARGISNULL(13) || PG_GETARG_INT32(13) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fleet_min_meters must be 0 or more"),
				 errhint("0 judges every meter against its own history only.")));
	fleet_min = PG_GETARG_INT32(13);
	a.kinds = kinds;
	hfrom = me_det_add(from, -history);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	me_det_catalog_load(&cat, meters, NULL);
	/* the peers are the whole fleet, whichever meters are asked for */
	if (kinds & ME_FAULT_SHIFT_KINDS)
		fleet = me_det_fleet_load(&cat, hfrom, to, hfrom, fleet_min);
	me_det_errctx_push(&ectx, "detect_faulty_meters");
	rd = me_det_reader_open(&cat, hfrom, to);
	while (me_det_reader_next(rd, &s))
	{
		MemoryContext old = MemoryContextSwitchTo(me_det_series_context(rd));
		MeFaultParams p;
		MeFaultList l;
		MeDetFaultWindow w;
		Datum		prefix[2];

		CHECK_FOR_INTERRUPTS();
		ectx.s = &s;
		me_det_check_finite(&s);
		me_det_fault_params(&a, s.interval_us, s.meter->zone, &p);
		me_det_fleet_params(fleet, &s, &p);
		memset(&w, 0, sizeof(w));
		w.runs_from = w.days_from = w.trusted_from = hfrom;
		if (kinds & (1u << ME_FAULT_OFFLINE))
			w.runs_from = offline_from(&probe, &s, hfrom, a.offline_min_us);
		w.win_to = to;
		w.to = me_det_due_to(to, s.interval_us);
		/* outliers only mask level shift's daily sums: skip the pass otherwise */
		if (kinds & ME_FAULT_SHIFT_KINDS)
			w.outlier = me_det_default_outliers(&s.in, s.interval_us);
		me_det_faults(&s, &p, &w, &l, NULL, NULL);
		prefix[0] = CStringGetTextDatum(s.meter->meter_id);
		prefix[1] = CStringGetTextDatum(s.channel);
		for (size_t i = 0; i < l.n; i++)
			if (l.items[i].end_ts > from && l.items[i].start_ts < to)
				emit_fault(rsinfo, &l.items[i], prefix, 2, &s);
		MemoryContextSwitchTo(old);
	}
	me_det_reader_close(rd);
	me_det_errctx_pop(&ectx);
	SPI_finish();
	return (Datum) 0;
}

/*
 * detect_faulty_meters(ts[], kw[], step, kinds, time_zone, stuck_zero_min,
 *                      flatline_min, flatline_min_readings, shift_min_z,
 *                      shift_min_factor, shift_min_days, offline_min,
 *                      shift_persist_days)
 * -> (kind, start_ts, end_ts, evidence)
 */
Datum
meter_etl_detect_faulty_meters_array(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MeDetArrays arr;
	int64		step = me_det_interval_arg(fcinfo, 2, "step", false);
	unsigned	kinds = me_det_fault_kinds(PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3));
	const char *tzname = PG_ARGISNULL(4) ? "UTC" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	MeDetFaultArgs a;
	MeFaultParams p;
	MeZone		zone;
	MeDetSeries s;
	MeDetMeter	m;
	MeFaultList l;
	MeDetFaultWindow w;
	int64		from,
				to;

	me_det_arrays(fcinfo, 0, 1, &arr);
	if (USECS_PER_DAY % step != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("step must divide a day"),
				 errhint("Use the interval of the readings, e.g. '15 minutes' or '30 minutes'.")));
	if (!me_zone_setup(&zone, tzname))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", tzname)));
	fault_args(fcinfo, 5, &a);
	a.kinds = kinds;
	InitMaterializedSRF(fcinfo, 0);
	if (arr.n == 0)
		return (Datum) 0;
	memset(&m, 0, sizeof(m));
	m.meter_id = "(array)";
	m.interval_s = (int32) (step / USECS_PER_SEC);
	m.zone = &zone;
	memset(&s, 0, sizeof(s));
	s.meter = &m;
	s.channel = "(array)";
	s.interval_us = step;
	s.n = arr.n;
	s.ts = arr.ts;
	s.kw = arr.kw;
	s.in.ts = arr.ts;
	s.in.kw = arr.kw;
	s.in.present = arr.present;
	s.in.n = arr.n;
	from = me_floor_to(arr.ts[0], step);
	to = me_det_add(arr.ts[arr.n - 1], step);
	me_det_fault_params(&a, step, &zone, &p);
	memset(&w, 0, sizeof(w));
	w.runs_from = w.days_from = w.trusted_from = from;
	w.to = w.win_to = to;
	if (kinds & ME_FAULT_SHIFT_KINDS)
		w.outlier = me_det_default_outliers(&s.in, step);
	me_det_faults(&s, &p, &w, &l, NULL, NULL);
	for (size_t i = 0; i < l.n; i++)
		emit_fault(rsinfo, &l.items[i], NULL, 0, &s);
	return (Datum) 0;
}
