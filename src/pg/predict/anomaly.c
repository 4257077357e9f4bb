/*
 * anomaly.c - meter_etl.anomaly_scores(): isolation-forest scores of meter-days
 *
 * Per meter channel and local day (meter.time_zone) the seven features of
 * dayfeatures.h, then one isolation forest per channel over all the
 * meter-days of the call (import and export days are not peers), each day
 * scored by it.  The readings are streamed one meter channel at a time by
 * the detection reader (detect_reader.c), twice: the first pass builds the
 * peers' hour-of-week profile shape (the mean over meters of each meter's
 * normalised profile, the meter itself included), the second the
 * features.  Only the feature matrix stays in memory: meter-days x 7
 * doubles plus a few counts per day.
 *
 * What is scored: the readings of meter_etl.reading as stored, flagged
 * ones included (outlier and suspect_meter flags mark exactly the days an
 * analyst wants to see; the features jsonb counts them as "flagged"; a
 * source-estimated reading counts as "estimated").  meter_etl's own
 * estimates (meter_etl.estimate) are not read: a gap stays a gap.  Only
 * whole local days inside [from_ts, to_ts) with readings for at least
 * half their slots are scored; energy is the mean kW times the day's
 * length, so a few missing readings do not make a low day.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "anomaly.h"
#include "core/predict/dayfeatures.h"
#include "core/series/series_int.h"
#include "pg/detect/detect.h"

PG_FUNCTION_INFO_V1(meter_etl_anomaly_scores);

#define QF_FLAGGED (2 | 4)			/* outlier, suspect_meter */
#define QF_SOURCE_ESTIMATED 16

/* One scored meter-day: its key and the counts shown beside its features. */
typedef struct DayRow
{
	int32		meter_key;
	int16		channel_id;
	int32		day;			/* local date, days since 2000-01-01 (DateADT) */
	int32		readings;
	int32		expected;		/* slots of the local day at the meter's interval */
	int32		flagged;
	int32		estimated;
} DayRow;

/* The meter-days of a call: rows[n] and their features x[n][ME_DAYF_N]. */
typedef struct DayTable
{
	MemoryContext cxt;
	DayRow	   *rows;
	double	   *x;
	size_t		n;
	size_t		cap;
} DayTable;

/* A series' readings in local time: each reading's local day and hour. */
typedef struct LocalHours
{
	MeLocal		lc;
	int32	   *day;
	uint8	   *hour;
} LocalHours;

/* Local day and hour of every reading (series context); days never go back. */
static void
local_hours(const MeDetSeries *s, LocalHours *lh)
{
	series_local_init(&lh->lc, s->meter->zone);
	lh->day = palloc(sizeof(int32) * (s->n + 1));
	lh->hour = palloc(s->n + 1);
	for (size_t i = 0; i < s->n; i++)
	{
		int64		local = series_to_local(&lh->lc, s->ts[i]);
		int64		day = me_floor_div(local, USECS_PER_DAY);
		int64		hour;

		/* a zone falling back across midnight: the repeated hour stays in the later day */
		if (i > 0 && day < lh->day[i - 1])
			day = lh->day[i - 1];
		hour = (local - day * USECS_PER_DAY) / USECS_PER_HOUR;
		lh->day[i] = (int32) day;
		lh->hour[i] = (uint8) Max(0, Min(23, hour));
	}
}

static int
hour_of_week(int32 day, uint8 hour)
{
	return me_dow((int64) day * USECS_PER_DAY) * 24 + hour;
}

/* The series' hour-of-week profile over every reading read. */
static void
own_profile(const MeDetSeries *s, const LocalHours *lh, MeHowProfile *p)
{
	me_how_profile_init(p);
	for (size_t i = 0; i < s->n; i++)
		me_how_profile_add(p, hour_of_week(lh->day[i], lh->hour[i]), s->kw[i]);
}

/* Pass 1: add the series' normalised profile to its channel's peers. */
static void
peers_add(MeHowProfile *peers, int nchannels, const MeDetSeries *s)
{
	LocalHours	lh;
	MeHowProfile own;
	double		shape[ME_HOURS_PER_WEEK];

	if (s->channel_id < 0 || s->channel_id >= nchannels)
		return;
	local_hours(s, &lh);
	own_profile(s, &lh, &own);
	if (!me_how_profile_shape(&own, shape))
		return;					/* only zeros: no shape to share */
	for (int h = 0; h < ME_HOURS_PER_WEEK; h++)
		if (own.n[h] > 0)
			me_how_profile_add(&peers[s->channel_id], h, shape[h]);
}

/* Room for one more meter-day. */
static void
table_reserve(DayTable *t)
{
	size_t		cap;

	if (t->n < t->cap)
		return;
	cap = t->cap ? t->cap * 2 : 1024;
	if (t->rows == NULL)
	{
		t->rows = MemoryContextAllocHuge(t->cxt, cap * sizeof(DayRow));
		t->x = MemoryContextAllocHuge(t->cxt, cap * sizeof(double) * ME_DAYF_N);
	}
	else
	{
		t->rows = repalloc_huge(t->rows, cap * sizeof(DayRow));
		t->x = repalloc_huge(t->x, cap * sizeof(double) * ME_DAYF_N);
	}
	t->cap = cap;
}

/* The context of one series' days: its profile and its peers' shape. */
typedef struct SeriesCtx
{
	const MeDetSeries *s;
	LocalHours	lh;
	double		means[ME_HOURS_PER_WEEK];
	double		level;
	const double *peer_shape;
	TimestampTz from;
	TimestampTz to;
} SeriesCtx;

/* Readings i..j-1 are one local day: its features, if it is whole and covered. */
static void
add_day(DayTable *t, SeriesCtx *c, size_t i, size_t j)
{
	const MeDetSeries *s = c->s;
	int32		day = c->lh.day[i];
	int64		start = series_day_start(&c->lh.lc, day);
	int64		end = series_day_start(&c->lh.lc, (int64) day + 1);
	int64		expected = (end - start) / s->interval_us;
	MeDayInput	in;
	DayRow	   *r;
	int			st;

	if (start < c->from || end > c->to || (double) (j - i) < expected * ME_ANOMALY_MIN_COVERAGE)
		return;
	in.kw = s->kw + i;
	in.hour = c->lh.hour + i;
	in.n = j - i;
	in.dow = me_dow((int64) day * USECS_PER_DAY);
	in.day_hours = (double) (end - start) / (double) USECS_PER_HOUR;
	in.own_mean = c->means;
	in.own_level = c->level;
	in.peer_shape = c->peer_shape;
	table_reserve(t);
	st = me_day_features(&in, t->x + t->n * ME_DAYF_N, NULL);
	if (st != ME_DAYF_OK)
		elog(ERROR, "day features: %s", me_dayf_strerror(st));
	r = &t->rows[t->n++];
	memset(r, 0, sizeof(*r));
	r->meter_key = s->meter->meter_key;
	r->channel_id = s->channel_id;
	r->day = day;
	r->readings = (int32) (j - i);
	r->expected = (int32) expected;
	for (size_t k = i; k < j; k++)
	{
		r->flagged += (s->flags[k] & QF_FLAGGED) != 0;
		r->estimated += (s->flags[k] & QF_SOURCE_ESTIMATED) != 0;
	}
}

/* Pass 2: the features of every whole local day of the series. */
static void
meter_days(DayTable *t, const MeDetSeries *s, const double *peer_shape,
			TimestampTz from, TimestampTz to)
{
	SeriesCtx	c;
	MeHowProfile own;
	size_t		j;

	c.s = s;
	c.peer_shape = peer_shape;
	c.from = from;
	c.to = to;
	local_hours(s, &c.lh);
	own_profile(s, &c.lh, &own);
	c.level = me_how_profile_means(&own, c.means);
	for (size_t i = 0; i < s->n; i = j)
	{
		for (j = i + 1; j < s->n && c.lh.day[j] == c.lh.day[i]; j++)
			;
		add_day(t, &c, i, j);
	}
}

/* Score the days of each channel with a forest of their own. */
static double *
score_by_channel(const DayTable *t, int nchannels, const MeIForestParams *p)
{
	double	   *score = palloc_extended(sizeof(double) * (t->n + 1), MCXT_ALLOC_HUGE);
	double	   *x = palloc_extended(sizeof(double) * ME_DAYF_N * (t->n + 1), MCXT_ALLOC_HUGE);
	double	   *sc = palloc_extended(sizeof(double) * (t->n + 1), MCXT_ALLOC_HUGE);
	size_t	   *idx = palloc_extended(sizeof(size_t) * (t->n + 1), MCXT_ALLOC_HUGE);

	for (int ch = 0; ch < nchannels; ch++)
	{
		size_t		m = 0;

		for (size_t i = 0; i < t->n; i++)
			if (t->rows[i].channel_id == ch)
			{
				memcpy(x + m * ME_DAYF_N, t->x + i * ME_DAYF_N, sizeof(double) * ME_DAYF_N);
				idx[m++] = i;
			}
		if (m == 0)
			continue;
		me_anomaly_fit_score(x, m, ME_DAYF_N, p, sc);
		for (size_t k = 0; k < m; k++)
			score[idx[k]] = sc[k];
	}
	pfree(x);
	pfree(sc);
	pfree(idx);
	return score;
}

/* The features and counts of a meter-day as jsonb (keys in me_dayf_names). */
static Datum
features_jsonb(const DayRow *r, const double *f)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int k = 0; k < ME_DAYF_N; k++)
		appendStringInfo(&buf, "\"%s\": %.6g, ", me_dayf_names[k], f[k]);
	appendStringInfo(&buf, "\"readings\": %d, \"expected\": %d, \"flagged\": %d, \"estimated\": %d}",
					 r->readings, r->expected, r->flagged, r->estimated);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/* Both passes over the store: the peers' shapes, then the meter-days. */
static void
read_days(MeDetCatalog *cat, TimestampTz from, TimestampTz to, DayTable *t)
{
	MeHowProfile *peers = palloc0(sizeof(MeHowProfile) * (cat->nchannels + 1));
	double	   *shapes = palloc(sizeof(double) * ME_HOURS_PER_WEEK * (cat->nchannels + 1));
	MeDetErrCtx ectx;
	MeDetSeries s;
	MeDetReader *rd;

	me_det_errctx_push(&ectx, "anomaly_scores");
	for (int pass = 0; pass < 2; pass++)
	{
		rd = me_det_reader_open(cat, from, to);
		while (me_det_reader_next(rd, &s))
		{
			MemoryContext old = MemoryContextSwitchTo(me_det_series_context(rd));

			CHECK_FOR_INTERRUPTS();
			ectx.s = &s;
			me_det_check_finite(&s);
			if (pass == 0)
				peers_add(peers, cat->nchannels, &s);
			else if (s.channel_id >= 0 && s.channel_id < cat->nchannels)
				meter_days(t, &s, shapes + ME_HOURS_PER_WEEK * s.channel_id, from, to);
			MemoryContextSwitchTo(old);
		}
		me_det_reader_close(rd);
		ectx.s = NULL;
		for (int ch = 0; pass == 0 && ch < cat->nchannels; ch++)
			me_how_profile_shape(&peers[ch], shapes + ME_HOURS_PER_WEEK * ch);
	}
	me_det_errctx_pop(&ectx);
}

/*
 * anomaly_scores(from_ts, to_ts, meters, trees, sample_size, seed)
 * -> (meter_id, channel_id, day, score, features)
 */
Datum
meter_etl_anomaly_scores(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz from = me_det_ts_arg(fcinfo, 0, "from_ts");
	TimestampTz to = me_det_ts_arg(fcinfo, 1, "to_ts");
	ArrayType  *meters = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	MeIForestParams p;
	MeDetCatalog cat;
	DayTable	t;
	double	   *score;
	MemoryContext row_cxt;

	me_det_check_range(from, to);
	me_anomaly_forest_args(fcinfo, 3, &p);
	InitMaterializedSRF(fcinfo, 0);
	memset(&t, 0, sizeof(t));
	t.cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl anomaly days",
								  ALLOCSET_DEFAULT_SIZES);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl anomaly row",
									ALLOCSET_DEFAULT_SIZES);
	SPI_connect();
	me_det_catalog_load(&cat, meters, NULL);
	read_days(&cat, from, to, &t);
	score = score_by_channel(&t, cat.nchannels, &p);
	for (size_t i = 0; i < t.n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(row_cxt);
		const DayRow *r = &t.rows[i];
		Datum		v[5];
		bool		nulls[5] = {false};

		v[0] = CStringGetTextDatum(me_det_meter(&cat, r->meter_key)->meter_id);
		v[1] = Int16GetDatum(r->channel_id);
		v[2] = DateADTGetDatum((DateADT) r->day);
		v[3] = Float8GetDatum(score[i]);
		v[4] = features_jsonb(r, t.x + i * ME_DAYF_N);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	SPI_finish();
	MemoryContextDelete(row_cxt);
	MemoryContextDelete(t.cxt);
	return (Datum) 0;
}
