/*
 * detect_compute.c - the computing half of meter_etl.detect()
 *
 * meter_etl.detect_compute(from_ts, to_ts, meter_keys) runs every detector
 * over the fleet (or the given meters) for [from_ts, to_ts) and returns
 * what the store should look like, as rows tagged by item:
 *
 *   flags     a reading whose outlier / suspect_meter bits must change
 *   estimate  a linear estimate for a slot of a short gap
 *   gap       a long gap (kind long, leading, trailing or no_data)
 *   fault     a faulty-meter episode overlapping the range
 *   day       a local day's energy (for meter_etl.meter_day), and that of
 *             all its readings (raw_kw, raw_n)
 *   series    one per series: its last reading, for the status
 *
 * It writes nothing: detect() (plpgsql, src/sql/10_detect.sql) applies
 * the rows set-based, which keeps this function a pure read of the store
 * that can be run, inspected and tested on its own.
 *
 * Data read: readings of [from - C, to + C) with one cursor ordered by
 * (meter_key, channel_id, ts), C the context (a day and 9 hours before,
 * a day after, or more for long max_gap / outlier windows), and the stored
 * daily sums of the 8 weeks before (meter_etl.meter_day) with a second
 * cursor in the same order; the two are merged by series.  So judging one
 * day costs about three days of readings, not the weeks that level-shift
 * detection looks at.  Thresholds come from the meter_etl.* detection
 * settings (detect_gucs.c).
 *
 * What is exact within a run: flags for readings in [from, to);
 * estimates and gaps in [from - max_gap, to) (C >= 2 max_gap, so both
 * neighbours of such a slot are read); episodes overlapping [from, to)
 * with their full extent as far as the context reaches (a start at the
 * edge of what was read is marked open_start, and detect() keeps the
 * earlier start it recorded).  Readings before from inside such an
 * episode get the suspect_meter bit too (set, never cleared, there).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "core/read/rules.h"
#include "detect.h"

PG_FUNCTION_INFO_V1(meter_etl_detect_compute);

#define NCOLS 16
/*
 * Level-shift history read from meter_etl.meter_day: a day is judged
 * against the 4 weeks before it, and an episode can have started up to
 * about 4 weeks before the range (it lasts until the baseline adopts the
 * new level), so its first days need their own 4 weeks: 8 weeks and a day.
 */
#define HISTORY_DAYS 57
#define DAY_FETCH 20000

/* Output columns. */
enum
{
	C_ITEM, C_METER, C_CHANNEL, C_TS, C_END, C_KW, C_FLAGS, C_KIND, C_N, C_DAY,
	C_OPEN_START, C_OPEN_END, C_EVIDENCE, C_RAW_KW, C_RAW_N, C_PARTIAL
};

/* Cursor over meter_etl.meter_day in (meter_key, channel_id, day) order. */
typedef struct DayCursor
{
	Portal		portal;
	SPITupleTable *tt;
	uint64		ntt;
	uint64		pos;
	bool		eof;
	bool		have;			/* cur holds an unconsumed row */
	int32		meter_key;
	int16		channel_id;
	MeDay		cur;
} DayCursor;

/* The run: range, context, settings and output. */
typedef struct Compute
{
	ReturnSetInfo *rsinfo;
	MeDetCatalog cat;
	TimestampTz from;
	TimestampTz to;
	TimestampTz raw_from;		/* readings read: [raw_from, raw_to) */
	TimestampTz raw_to;
	TimestampTz days_from;		/* level-shift history starts here */
	TimestampTz trusted_from;	/* days starting here or later are stored */
	int64		max_gap;
	TimestampTz lo;				/* from - max_gap: estimates, gaps, episodes from here */
	MeDetOutlierArgs oargs;
	MeDetFaultArgs fargs;
	MeDetFleet *fleet;			/* level shift's context, or NULL */
	struct Ongoing *ongoing;	/* level shifts going on since before days_from + 4 weeks */
	int			nongoing;
	TimestampTz series_days_from;	/* level-shift history of the series being computed */
	SPIPlanPtr	probe;			/* an earlier reading of a series? */
	Datum		items[6];
	Datum		linear;			/* the method label of estimates */
} Compute;

static const char *const item_names[6] = {"flags", "estimate", "gap", "fault", "day", "series"};

enum
{
	I_FLAGS, I_ESTIMATE, I_GAP, I_FAULT, I_DAY, I_SERIES
};

/* ------------------------------------------------------------ output */

/* A row with item, meter and channel set and everything else NULL. */
static void
row_init(Compute *c, int item, int32 meter_key, int16 channel_id, Datum *v, bool *n)
{
	for (int i = 0; i < NCOLS; i++)
	{
		v[i] = (Datum) 0;
		n[i] = true;
	}
	v[C_ITEM] = c->items[item];
	n[C_ITEM] = false;
	v[C_METER] = Int32GetDatum(meter_key);
	n[C_METER] = false;
	v[C_CHANNEL] = Int16GetDatum(channel_id);
	n[C_CHANNEL] = false;
}

/* Set one column. */
static inline void
col(Datum *v, bool *n, int c, Datum d)
{
	v[c] = d;
	n[c] = false;
}

static void
row_put(Compute *c, Datum *v, bool *n)
{
	tuplestore_putvalues(c->rsinfo->setResult, c->rsinfo->setDesc, v, n);
}

/* ------------------------------------------------------------ stored days */

/* Advance the day cursor to its next row; false at the end. */
static bool
day_fetch(DayCursor *dc)
{
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	if (dc->tt == NULL || dc->pos >= dc->ntt)
	{
		if (dc->tt != NULL)
		{
			SPI_freetuptable(dc->tt);
			dc->tt = NULL;
		}
		if (dc->eof)
			return dc->have = false;
		SPI_cursor_fetch(dc->portal, true, DAY_FETCH);
		dc->tt = SPI_tuptable;
		dc->ntt = SPI_processed;
		dc->pos = 0;
		dc->eof = dc->ntt < DAY_FETCH;
		if (dc->ntt == 0)
			return dc->have = false;
	}
	tup = dc->tt->vals[dc->pos++];
	desc = dc->tt->tupdesc;
	dc->meter_key = DatumGetInt32(heap_getattr(tup, 1, desc, &isnull));
	dc->channel_id = DatumGetInt16(heap_getattr(tup, 2, desc, &isnull));
	dc->cur.day = DatumGetDateADT(heap_getattr(tup, 3, desc, &isnull));
	dc->cur.start_ts = DatumGetTimestampTz(heap_getattr(tup, 4, desc, &isnull));
	dc->cur.end_ts = DatumGetTimestampTz(heap_getattr(tup, 5, desc, &isnull));
	dc->cur.kw_sum = DatumGetFloat8(heap_getattr(tup, 6, desc, &isnull));
	dc->cur.n = DatumGetInt32(heap_getattr(tup, 7, desc, &isnull));
	return dc->have = true;
}

/* Open the cursor over stored days with start in [from, to). */
static void
day_open(DayCursor *dc, MeDetCatalog *cat, TimestampTz from, TimestampTz to)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4ARRAYOID};
	Datum		args[3] = {TimestampTzGetDatum(from), TimestampTzGetDatum(to), cat->keys};
	const char *sql = cat->keys != (Datum) 0 ?
		"SELECT meter_key, channel_id, day, start_ts, end_ts, kw_sum, readings"
		" FROM meter_etl.meter_day WHERE start_ts >= $1 AND start_ts < $2"
		" AND meter_key = ANY ($3) ORDER BY meter_key, channel_id, day" :
		"SELECT meter_key, channel_id, day, start_ts, end_ts, kw_sum, readings"
		" FROM meter_etl.meter_day WHERE start_ts >= $1 AND start_ts < $2"
		" ORDER BY meter_key, channel_id, day";

	memset(dc, 0, sizeof(*dc));
	dc->portal = SPI_cursor_open_with_args(NULL, sql, cat->keys != (Datum) 0 ? 3 : 2,
										   argtypes, args, NULL, true, CURSOR_OPT_NO_SCROLL);
	if (dc->portal == NULL)
		elog(ERROR, "could not open a cursor over meter_etl.meter_day");
	day_fetch(dc);
}

/* Stored days of one series (the cursor must not be behind it). */
static MeDay *
day_take(DayCursor *dc, int32 meter_key, int16 channel_id, size_t *n)
{
	MeDay	   *out = NULL;
	size_t		cap = 0;

	*n = 0;
	while (dc->have && (dc->meter_key < meter_key ||
						(dc->meter_key == meter_key && dc->channel_id < channel_id)))
		day_fetch(dc);
	while (dc->have && dc->meter_key == meter_key && dc->channel_id == channel_id)
	{
		if (*n == cap)
		{
			cap = cap ? cap * 2 : 32;
			out = out ? repalloc(out, sizeof(MeDay) * cap) : palloc(sizeof(MeDay) * cap);
		}
		out[(*n)++] = dc->cur;
		day_fetch(dc);
	}
	return out;
}

/* ------------------------------------------------------------ per series */

/*
 * Is t inside one of the meter-fault episodes (sorted by start)?  A usage
 * anomaly is the household's doing, not the meter's: it marks nothing.
 */
static bool
in_episode(const MeFaultList *l, const bool *keep, int64 t)
{
	for (size_t f = 0; f < l->n; f++)
	{
		if (l->items[f].start_ts > t)
			break;
		if (keep[f] && t < l->items[f].end_ts && l->items[f].kind != ME_FAULT_USAGE_ANOMALY)
			return true;
	}
	return false;
}

/* Flags of the readings: outlier bit in [from, to), suspect bit inside episodes. */
static void
emit_flags(Compute *c, const MeDetSeries *s, const MeScore *sc, const MeFaultList *l,
		   const bool *keep)
{
	for (size_t i = 0; i < s->n; i++)
	{
		int16		old = s->flags[i];
		int16		nw = old;
		bool		inside;
		Datum		v[NCOLS];
		bool		n[NCOLS];

		if (s->ts[i] >= c->to)
			break;
		inside = in_episode(l, keep, s->ts[i]);
		if (s->ts[i] < c->from)
		{
			if (!inside)
				continue;
			nw = old | ME_FLAG_SUSPECT_METER;	/* context: only ever set */
		}
		else
		{
			nw &= ~(ME_FLAG_OUTLIER | ME_FLAG_SUSPECT_METER);
			if (sc[i].is_outlier)
				nw |= ME_FLAG_OUTLIER;
			if (inside)
				nw |= ME_FLAG_SUSPECT_METER;
		}
		if (nw == old)
			continue;
		row_init(c, I_FLAGS, s->meter->meter_key, s->channel_id, v, n);
		col(v, n, C_TS, TimestampTzGetDatum(s->ts[i]));
		col(v, n, C_FLAGS, Int16GetDatum(nw));
		row_put(c, v, n);
	}
}

/* Linear estimates for the slots of short gaps in [from - max_gap, to). */
static void
emit_estimates(Compute *c, const MeDetSeries *s)
{
	MeFillParams p;
	MeFillResult res;
	int			rc;

	if (s->n == 0)
		return;
	series_fill_params_default(&p);
	p.interval_us = s->interval_us;
	p.from_ts = c->lo;
	p.to_ts = c->to;
	p.max_gap_us = c->max_gap;
	p.zone = s->meter->zone;
	rc = series_fill_linear(&s->in, &p, &res);
	me_det_series_error(rc);
	for (size_t i = 0; i < res.n_points; i++)
	{
		Datum		v[NCOLS];
		bool		n[NCOLS];

		if (res.points[i].method != ME_FILL_LINEAR)
			continue;
		row_init(c, I_ESTIMATE, s->meter->meter_key, s->channel_id, v, n);
		col(v, n, C_TS, TimestampTzGetDatum(res.points[i].ts));
		col(v, n, C_KW, Float8GetDatum(res.points[i].kw));
		col(v, n, C_KIND, c->linear);
		row_put(c, v, n);
	}
	series_fill_result_free(&res);
}

/* One gap row, if it touches [from - max_gap, to). */
static void
put_gap(Compute *c, const MeDetSeries *s, int64 start, int64 end, const char *kind,
		bool open_start, bool open_end)
{
	Datum		v[NCOLS];
	bool		n[NCOLS];

	if (end <= c->lo || start >= c->to || end <= start)
		return;
	row_init(c, I_GAP, s->meter->meter_key, s->channel_id, v, n);
	col(v, n, C_TS, TimestampTzGetDatum(start));
	col(v, n, C_END, TimestampTzGetDatum(end));
	col(v, n, C_KIND, CStringGetTextDatum(kind));
	col(v, n, C_N, Int64GetDatum((end - start) / s->interval_us));
	col(v, n, C_OPEN_START, BoolGetDatum(open_start));
	col(v, n, C_OPEN_END, BoolGetDatum(open_end));
	row_put(c, v, n);
}

/*
 * Gaps longer than max_gap between the on-grid readings (the ones the fill
 * uses); also, longer than max_gap within [from, to) (or, for a meter that
 * reported before what was read, counting the silence read before from): a
 * leading gap before the first reading, a trailing one after the last (to
 * to_ts, or to the current time if that is earlier: it may still close), or
 * no_data.
 * Leading and no_data gaps start at the first slot that counts (first: the
 * start of what was read, or the meter's first reading when it has no
 * history); detect() keeps an earlier start it recorded, or else starts
 * them at from_ts.
 */
static void
emit_gaps(Compute *c, const MeDetSeries *s, int64 first)
{
	int64		iv = s->interval_us;
	int64		w0 = first + ((iv - first % iv) % iv);	/* first slot that counts */
	bool		have = false;
	int64		prev = 0;
	int64		end;

	for (size_t i = 0; i < s->n; i++)
	{
		int64		t = s->ts[i];

		if (t % iv != 0)
			continue;			/* off the grid: not used by the fill either */
		/*
		 * Leading: long from from_ts, or from w0 when the meter reported
		 * before what was read (w0 before from): a meter back from an outage
		 * just after from (detect() starts it after the previous reading, as
		 * one run over both would)
		 */
		if (!have && t > c->from && t - Min(w0, c->from) > c->max_gap)
			put_gap(c, s, w0, t, series_gap_kind_name(ME_GAP_LEADING), true, false);
		else if (have && t - prev > c->max_gap)
			put_gap(c, s, prev + iv, t, series_gap_kind_name(ME_GAP_LONG), false, false);
		have = true;
		prev = t;
		if (t >= c->to)
			break;
	}
	/* open gaps end at the current time: slots yet to come are not missing */
	end = me_det_due_to(c->to, iv);
	if (!have)
		put_gap(c, s, w0, end, series_gap_kind_name(ME_GAP_NODATA), true, true);
	else if (end - (prev + iv) > c->max_gap)
		put_gap(c, s, prev + iv, end, series_gap_kind_name(ME_GAP_TRAILING), false, true);
}

/*
 * Was the episode seen with less than the context its evidence needs?  A
 * run of stuck or frozen readings is judged against the same slots of the
 * day before and after it: cut by what was read, its evidence (readings,
 * reference_kw) is what this run could see, and detect() keeps what a run
 * that saw all of it stored.
 */
static bool
partial_view(const Compute *c, const MeFault *e, const MeDetSeries *s)
{
	if (e->kind != ME_FAULT_STUCK_ZERO && e->kind != ME_FAULT_FLATLINE)
		return false;
	return e->start_ts - USECS_PER_DAY - s->interval_us < c->raw_from ||
		e->end_ts + USECS_PER_DAY + s->interval_us > c->raw_to;
}

/* Episodes overlapping [from, to) (keep[f]), rows and suspect flags. */
static void
emit_faults(Compute *c, const MeDetSeries *s, const MeFaultList *l, bool *keep, int64 last_ts)
{
	for (size_t f = 0; f < l->n; f++)
	{
		const MeFault *e = &l->items[f];
		Datum		v[NCOLS];
		bool		n[NCOLS];
		bool		open_start;
		bool		open_end;

		keep[f] = e->end_ts > c->lo && e->start_ts < c->to;
		if (!keep[f])
			continue;
		if (e->kind == ME_FAULT_LEVEL_SHIFT || e->kind == ME_FAULT_USAGE_ANOMALY)
			open_start = e->start_ts <= c->series_days_from + USECS_PER_DAY;
		else
			open_start = e->start_ts <= c->raw_from + s->interval_us;
		/* still going at the end of the data seen */
		open_end = e->kind == ME_FAULT_OFFLINE ? e->end_ts >= c->to :
			last_ts != DT_NOBEGIN && e->end_ts > last_ts;
		row_init(c, I_FAULT, s->meter->meter_key, s->channel_id, v, n);
		col(v, n, C_TS, TimestampTzGetDatum(e->start_ts));
		col(v, n, C_END, TimestampTzGetDatum(e->end_ts));
		col(v, n, C_KIND, CStringGetTextDatum(series_fault_kind_name(e->kind)));
		col(v, n, C_N, Int64GetDatum(e->n));
		col(v, n, C_OPEN_START, BoolGetDatum(open_start));
		col(v, n, C_OPEN_END, BoolGetDatum(open_end));
		col(v, n, C_EVIDENCE, me_det_evidence(e, s));
		col(v, n, C_PARTIAL, BoolGetDatum(partial_view(c, e, s)));
		row_put(c, v, n);
	}
}

/*
 * A level shift still going on whose baseline (the 4 weeks before its
 * start) lies before the history read for every series: those series read
 * their stored days from there, so that the episode is judged against the
 * level before it however long ago it started.
 */
typedef struct Ongoing
{
	int32		meter_key;
	int16		channel_id;
	TimestampTz history_from;
} Ongoing;

static void
ongoing_load(Compute *c)
{
	Oid			types[2] = {TIMESTAMPTZOID, INT4ARRAYOID};
	Datum		args[2] = {TimestampTzGetDatum(c->days_from), c->cat.keys};
	const char *sql = c->cat.keys != (Datum) 0 ?
		"SELECT meter_key, channel_id, min(start_ts) FROM meter_etl.fault"
		" WHERE kind = 'level_shift' AND ongoing AND start_ts < $1 + interval '29 days'"
		" AND meter_key = ANY ($2) GROUP BY 1, 2 ORDER BY 1, 2" :
		"SELECT meter_key, channel_id, min(start_ts) FROM meter_etl.fault"
		" WHERE kind = 'level_shift' AND ongoing AND start_ts < $1 + interval '29 days'"
		" GROUP BY 1, 2 ORDER BY 1, 2";

	if (SPI_execute_with_args(sql, c->cat.keys != (Datum) 0 ? 2 : 1, types, args, NULL, true, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "could not read the ongoing level shifts");
	c->nongoing = (int) SPI_processed;
	c->ongoing = palloc(sizeof(Ongoing) * (SPI_processed + 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	t = SPI_tuptable->vals[r];
		bool		isnull;

		c->ongoing[r].meter_key = DatumGetInt32(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull));
		c->ongoing[r].channel_id = DatumGetInt16(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull));
		/* its 4 weeks of baseline, and a day for the zone's offset */
		c->ongoing[r].history_from =
			me_det_add(DatumGetTimestampTz(SPI_getbinval(t, SPI_tuptable->tupdesc, 3, &isnull)),
					   -(int64) (ME_DEFAULT_HISTORY_DAYS + 2) * USECS_PER_DAY);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* Has series s a reading before the first one read?  One index probe. */
static bool
earlier_reading(Compute *c, const MeDetSeries *s)
{
	Datum		args[3];

	if (c->probe == NULL)
	{
		Oid			types[3] = {INT4OID, INT2OID, TIMESTAMPTZOID};

		c->probe = SPI_prepare("SELECT 1 FROM meter_etl.reading WHERE meter_key = $1"
							   " AND channel_id = $2 AND ts < $3 LIMIT 1", 3, types);
		if (c->probe == NULL)
			elog(ERROR, "could not prepare the earlier-reading probe: %s",
				 SPI_result_code_string(SPI_result));
	}
	args[0] = Int32GetDatum(s->meter->meter_key);
	args[1] = Int16GetDatum(s->channel_id);
	args[2] = TimestampTzGetDatum(s->ts[0]);
	if (SPI_execute_plan(c->probe, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for earlier readings");
	return SPI_processed > 0;
}

/* Where the level-shift history of series (meter_key, channel_id) starts. */
static TimestampTz
series_history_from(const Compute *c, int32 meter_key, int16 channel_id)
{
	for (int i = 0; i < c->nongoing; i++)
		if (c->ongoing[i].meter_key == meter_key && c->ongoing[i].channel_id == channel_id)
			return Min(c->ongoing[i].history_from, c->days_from);
	return c->days_from;
}

/*
 * The stored days of [from, to) of one series, then the n days the cursor
 * gave (which start at to): one ascending array.
 */
static MeDay *
days_before(int32 meter_key, int16 channel_id, TimestampTz from, TimestampTz to,
			const MeDay *stored, size_t *n)
{
	Oid			types[4] = {INT4OID, INT2OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[4] = {Int32GetDatum(meter_key), Int16GetDatum(channel_id),
		TimestampTzGetDatum(from), TimestampTzGetDatum(to)};
	MeDay	   *out;
	uint64		k;

	if (SPI_execute_with_args("SELECT day - date '2000-01-01', start_ts, end_ts, kw_sum, readings"
							  " FROM meter_etl.meter_day WHERE meter_key = $1 AND channel_id = $2"
							  " AND start_ts >= $3 AND start_ts < $4 ORDER BY day",
							  4, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the stored days of an ongoing level shift");
	out = palloc(sizeof(MeDay) * (SPI_processed + *n + 1));
	for (k = 0; k < SPI_processed; k++)
	{
		HeapTuple	t = SPI_tuptable->vals[k];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		out[k].day = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		out[k].start_ts = DatumGetTimestampTz(SPI_getbinval(t, d, 2, &isnull));
		out[k].end_ts = DatumGetTimestampTz(SPI_getbinval(t, d, 3, &isnull));
		out[k].kw_sum = DatumGetFloat8(SPI_getbinval(t, d, 4, &isnull));
		out[k].n = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	if (*n > 0)
		memcpy(out + k, stored, sizeof(MeDay) * *n);
	*n += k;
	return out;
}

/*
 * The days to store (meter_etl.meter_day): what counts for consumption,
 * and every reading of the day (raw, the stuff of the fleet's level).
 */
static void
emit_days(Compute *c, const MeDetSeries *s, const MeFaultParams *p, const MeDay *days,
		  size_t ndays)
{
	MeDay	   *raw = NULL;
	size_t		nraw = 0,
				r = 0;

	if (ndays > 0)
		me_det_series_error(series_days(&s->in, c->raw_from, c->raw_to, p, &raw, &nraw));
	for (size_t d = 0; d < ndays; d++)
	{
		Datum		v[NCOLS];
		bool		n[NCOLS];

		while (r < nraw && raw[r].day < days[d].day)
			r++;
		row_init(c, I_DAY, s->meter->meter_key, s->channel_id, v, n);
		col(v, n, C_DAY, DateADTGetDatum((DateADT) days[d].day));
		col(v, n, C_TS, TimestampTzGetDatum(days[d].start_ts));
		col(v, n, C_END, TimestampTzGetDatum(days[d].end_ts));
		col(v, n, C_KW, Float8GetDatum(days[d].kw_sum));
		col(v, n, C_N, Int64GetDatum(days[d].n));
		if (r < nraw && raw[r].day == days[d].day)
		{
			col(v, n, C_RAW_KW, Float8GetDatum(raw[r].kw_sum));
			col(v, n, C_RAW_N, Int64GetDatum(raw[r].n));
		}
		row_put(c, v, n);
	}
	series_days_free(raw);
}

/* Everything about one series (s->n may be 0: known from stored days only). */
static void
compute_series(Compute *c, const MeDetSeries *s, const MeDay *stored, size_t nstored)
{
	MeScore    *sc = palloc0(sizeof(MeScore) * (s->n + 1));
	bool	   *outlier = palloc0(sizeof(bool) * (s->n + 1));
	MeFaultParams p;
	MeFaultList l;
	MeDetFaultWindow w;
	MeDay	   *days;
	size_t		ndays;
	bool	   *keep;
	int64		last_ts = DT_NOBEGIN;
	int64		in_range = 0;
	int64		first;
	Datum		v[NCOLS];
	bool		n[NCOLS];

	me_det_check_finite(s);
	c->series_days_from = series_history_from(c, s->meter->meter_key, s->channel_id);
	if (c->series_days_from < c->days_from)
		stored = days_before(s->meter->meter_key, s->channel_id, c->series_days_from,
							 me_det_add(c->days_from, -USECS_PER_DAY), stored, &nstored);
	/*
	 * A series whose stored history does not reach back before its first
	 * reading starts there: missing slots before it are not a gap or an
	 * outage, the meter was not reporting yet.
	 */
	first = c->raw_from;
	if (s->n > 0 && s->ts[0] > c->raw_from)
	{
		bool		history = false;

		/*
		 * A stored day that ended before the first reading read proves the
		 * meter reported earlier; one that merely contains it does not (its
		 * readings may all be later the same day): then ask the store.
		 */
		for (size_t d = 0; d < nstored && !history; d++)
			history = stored[d].end_ts <= s->ts[0];
		if (!history)
			history = earlier_reading(c, s);
		if (!history)
			first = me_floor_to(s->ts[0], s->interval_us);
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->ts[i] < c->to)
		{
			last_ts = s->ts[i];
			in_range += s->ts[i] >= c->from;
		}
	if (s->n > 0)
		me_det_outliers(&s->in, &c->oargs, s->interval_us, sc, s);
	for (size_t i = 0; i < s->n; i++)
		outlier[i] = sc[i].is_outlier;
	me_det_fault_params(&c->fargs, s->interval_us, s->meter->zone, &p);
	me_det_fleet_params(c->fleet, s, &p);
	memset(&w, 0, sizeof(w));
	w.runs_from = first;
	/*
	 * Offline is judged up to to_ts, after which readings may not have
	 * arrived yet, or up to the last reading read if that is later: a run
	 * over an earlier range then sees an outage's surroundings as one over
	 * a later range does (a sparse window cut at to_ts is not an outage).
	 */
	w.to = me_det_due_to(c->to, s->interval_us);
	if (s->n > 0 && s->ts[s->n - 1] + s->interval_us > w.to)
		w.to = Min(s->ts[s->n - 1] + s->interval_us, c->raw_to);
	w.win_to = c->raw_to;
	w.days_from = c->series_days_from;
	w.trusted_from = c->trusted_from;
	w.stored = stored;
	w.nstored = nstored;
	w.outlier = outlier;
	me_det_faults(s, &p, &w, &l, &days, &ndays);
	keep = palloc0(sizeof(bool) * (l.n + 1));
	emit_faults(c, s, &l, keep, last_ts);
	emit_flags(c, s, sc, &l, keep);
	emit_estimates(c, s);
	emit_gaps(c, s, first);
	emit_days(c, s, &p, days, ndays);
	row_init(c, I_SERIES, s->meter->meter_key, s->channel_id, v, n);
	if (last_ts != DT_NOBEGIN)
		col(v, n, C_TS, TimestampTzGetDatum(last_ts));
	col(v, n, C_N, Int64GetDatum(in_range));
	row_put(c, v, n);
}

/* Settings of the batch detection into the argument structs. */
static void
load_settings(Compute *c)
{
	me_det_outlier_settings(&c->oargs);
	memset(&c->fargs, 0, sizeof(c->fargs));
	c->fargs.kinds = ME_FAULT_ALL;
	c->fargs.stuck_zero_min_us = (int64) me_det_stuck_zero_min_s * USECS_PER_SEC;
	c->fargs.flatline_min_us = (int64) me_det_flatline_min_s * USECS_PER_SEC;
	c->fargs.flatline_min_readings = ME_DEFAULT_FLATLINE_MIN_READINGS;
	c->fargs.shift_min_z = me_det_shift_min_z;
	c->fargs.shift_min_factor = me_det_shift_min_factor;
	c->fargs.shift_min_days = me_det_shift_min_days;
	c->fargs.shift_persist_days = me_det_shift_persist_days;
	c->fargs.offline_min_us = (int64) me_det_offline_min_s * USECS_PER_SEC;
	c->max_gap = (int64) me_det_max_gap_s * USECS_PER_SEC;
}

/*
 * detect_compute(from_ts, to_ts, meter_keys)
 * -> (item, meter_key, channel_id, ts, end_ts, kw, flags, kind, n, day,
 *     open_start, open_end, evidence, raw_kw, raw_n, partial)
 */
Datum
meter_etl_detect_compute(PG_FUNCTION_ARGS)
{
	Compute		c;
	MeDetReader *rd;
	DayCursor	dc;
	MeDetSeries s;
	MeDetErrCtx ectx;
	bool		have_s;
	int64		ctx,
				ctx_before,
				margin,
				wtime;
	MemoryContext key_cxt;
	TimestampTz fleet_from;

	memset(&c, 0, sizeof(c));
	c.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	c.from = me_det_ts_arg(fcinfo, 0, "from_ts");
	c.to = me_det_ts_arg(fcinfo, 1, "to_ts");
	me_det_check_range(c.from, c.to);
	load_settings(&c);
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < 6; i++)
		c.items[i] = CStringGetTextDatum(item_names[i]);
	c.linear = CStringGetTextDatum("linear");
	SPI_connect();
	me_det_catalog_load(&c.cat, NULL, PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2));
	/*
	 * Context: a day, two max_gaps (both neighbours of an estimate), an
	 * outlier window.  Before the range, also enough that a local day which
	 * ended after the previous range (zones west of UTC) lies wholly inside
	 * what is read, a run long enough to count in front of it included:
	 * its daily sum is then stored with everything it needs.
	 */
	wtime = (c.oargs.window > 0 ? c.oargs.window : 96) * c.cat.max_interval_us;
	ctx = Max(USECS_PER_DAY, 2 * c.max_gap + c.cat.max_interval_us);
	ctx = Max(ctx, wtime + wtime / 4);
	ctx = ((ctx + USECS_PER_HOUR - 1) / USECS_PER_HOUR) * USECS_PER_HOUR;
	margin = Max(c.fargs.stuck_zero_min_us, c.fargs.flatline_min_us) + c.cat.max_interval_us;
	ctx_before = Max(ctx, USECS_PER_DAY + margin + USECS_PER_HOUR);
	c.raw_from = me_det_add(c.from, -ctx_before);
	c.raw_to = me_det_add(c.to, ctx);
	c.trusted_from = me_det_add(c.raw_from, margin);
	c.lo = me_det_add(c.from, -c.max_gap);
	c.days_from = me_det_add(c.from, -(int64) HISTORY_DAYS * USECS_PER_DAY);
	/*
	 * The fleet's levels, which detect() stored for the range before calling
	 * this (fleet_levels() into meter_etl.fleet_day) and earlier runs for the
	 * history: the peers are the whole fleet, whichever meters are asked for.
	 */
	ongoing_load(&c);
	fleet_from = c.days_from;
	for (int i = 0; i < c.nongoing; i++)
		fleet_from = Min(fleet_from, c.ongoing[i].history_from);
	c.fleet = me_det_fleet_stored(&c.cat, me_det_add(fleet_from, -USECS_PER_DAY), c.raw_to,
								  me_det_fleet_min_meters);
	key_cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl detect series",
									ALLOCSET_DEFAULT_SIZES);
	me_det_errctx_push(&ectx, "detect");
	rd = me_det_reader_open(&c.cat, c.raw_from, c.raw_to);
	day_open(&dc, &c.cat, me_det_add(c.days_from, -USECS_PER_DAY), c.raw_to);
	have_s = me_det_reader_next(rd, &s);
	/* series come from the readings and from the stored days, merged by key */
	while (have_s || dc.have)
	{
		MemoryContext old = MemoryContextSwitchTo(key_cxt);
		bool		from_readings = have_s &&
			(!dc.have || s.meter->meter_key < dc.meter_key ||
			 (s.meter->meter_key == dc.meter_key && s.channel_id <= dc.channel_id));
		MeDetSeries empty;
		MeDay	   *stored;
		size_t		nstored;

		CHECK_FOR_INTERRUPTS();
		if (from_readings)
		{
			stored = day_take(&dc, s.meter->meter_key, s.channel_id, &nstored);
			ectx.s = &s;
			compute_series(&c, &s, stored, nstored);
		}
		else
		{
			/* a series with history but no reading in the window */
			memset(&empty, 0, sizeof(empty));
			empty.meter = me_det_meter(&c.cat, dc.meter_key);
			empty.channel_id = dc.channel_id;
			empty.channel = me_det_channel_name(&c.cat, dc.channel_id);
			empty.interval_us = (int64) empty.meter->interval_s * USECS_PER_SEC;
			stored = day_take(&dc, empty.meter->meter_key, empty.channel_id, &nstored);
			ectx.s = &empty;
			compute_series(&c, &empty, stored, nstored);
			ectx.s = NULL;		/* empty lives in this block only */
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(key_cxt);
		if (from_readings)
			have_s = me_det_reader_next(rd, &s);
	}
	SPI_cursor_close(dc.portal);
	me_det_reader_close(rd);
	me_det_errctx_pop(&ectx);
	SPI_finish();
	return (Datum) 0;
}
