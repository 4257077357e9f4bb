/*
 * rollup.c - the ingest's share of the rollups
 *
 * While the store writes readings, every reading it stored is added to an
 * in-memory row of its meter, channel and local day (the day's hours as
 * slots, as meter_etl.rollup_meter_day keeps them).  The rows go to
 * meter_etl.rollup_add() as one call per batch of meter-days: a delta row
 * per meter-day, which the views and rollup_refresh() add up.  Recomputing
 * the same meter-days from the stored readings with SQL afterwards cost the
 * ingest of a 50,000-meter day four times the ingest itself (measured); the
 * sums here cost a hash lookup per run of readings of one series.
 *
 * Local days follow the zone of the file's profile, with PostgreSQL's own
 * rules (timestamp2tm, DetermineTimeZoneOffset: what "day::timestamp AT
 * TIME ZONE zone" gives in SQL).  A meter registered under another zone is
 * recomputed from the readings instead (rollup_add sends it to
 * rollup_change).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pg/meter_etl.h"
#include "rollup.h"

/* 23, 24 or 25 hours; a zone whose offset changes by more still fits */
#define ROLLUP_MAX_SLOTS 26
/* meter-days held before a call to rollup_add (about 1 kB each) */
#define ROLLUP_FLUSH 16384
/* reading flags that count as "flagged": outlier | suspect_meter */
#define ROLLUP_FLAGGED 6

typedef struct RollupKey
{
	int32		meter_key;
	int32		day;			/* local date, days since 2000-01-01 */
	int16		channel_id;
} RollupKey;

typedef struct RollupDay
{
	RollupKey	key;			/* hash key */
	TimestampTz start;			/* local midnight */
	TimestampTz end;			/* the next one */
	int			nslots;
	double		kw_sum[ROLLUP_MAX_SLOTS];
	double		kw_sum_flagged[ROLLUP_MAX_SLOTS];
	double		kw_max[ROLLUP_MAX_SLOTS];
	int32		readings[ROLLUP_MAX_SLOTS];
	int32		flagged[ROLLUP_MAX_SLOTS];
} RollupDay;

struct MeRollup
{
	char	   *time_zone;
	pg_tz	   *tz;
	bool		enabled;		/* rollup_add exists (not on a 0.1 schema) */
	MemoryContext cxt;
	HTAB	   *days;
	RollupDay  *last;			/* readings come in runs of one series */
};

static void rollup_flush(MeRollup *ru);

/* A fresh hash table of meter-days. */
static void
rollup_reset(MeRollup *ru)
{
	HASHCTL		ctl;

	MemoryContextReset(ru->cxt);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(RollupKey);
	ctl.entrysize = sizeof(RollupDay);
	ctl.hcxt = ru->cxt;
	ru->days = hash_create("meter_etl rollup days", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ru->last = NULL;
}

/* Start the rollup of one ingest, whose local days are in time_zone. */
MeRollup *
me_rollup_begin(const char *time_zone)
{
	MeRollup   *ru = palloc0(sizeof(MeRollup));

	ru->time_zone = pstrdup(time_zone);
	ru->tz = pg_tzset(time_zone);
	if (ru->tz == NULL)			/* the ingest checked the zone already */
		elog(ERROR, "time zone \"%s\" is not recognized", time_zone);
	ru->enabled = me_schema_has("rollup_meter_day", NULL);
	ru->cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl rollup", ALLOCSET_DEFAULT_SIZES);
	rollup_reset(ru);
	return ru;
}

/* The instant local midnight of date day (days since 2000-01-01) is. */
static TimestampTz
local_midnight(pg_tz *tz, int32 day)
{
	struct pg_tm tm;
	int			offset;
	TimestampTz t;

	memset(&tm, 0, sizeof(tm));
	j2date(day + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	offset = DetermineTimeZoneOffset(&tm, tz);
	if (tm2timestamp(&tm, 0, &offset, &t) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return t;
}

/* The meter-day a reading at ts adds to, created empty if new. */
static RollupDay *
rollup_day_of(MeRollup *ru, int32 meter_key, int16 channel_id, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	RollupKey	key;
	RollupDay  *e;
	bool		found;

	if (timestamp2tm(ts, &tzoff, &tm, &fsec, NULL, ru->tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	memset(&key, 0, sizeof(key));
	key.meter_key = meter_key;
	key.channel_id = channel_id;
	key.day = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
	e = hash_search(ru->days, &key, HASH_ENTER, &found);
	if (!found)
	{
		int64		hours;

		e->start = local_midnight(ru->tz, key.day);
		e->end = local_midnight(ru->tz, key.day + 1);
		hours = (e->end - e->start + USECS_PER_HOUR - 1) / USECS_PER_HOUR;
		if (hours < 1 || hours > ROLLUP_MAX_SLOTS)
			elog(ERROR, "local day of %d hours in time zone \"%s\"", (int) hours, ru->time_zone);
		e->nslots = (int) hours;
		memset(e->kw_sum, 0, sizeof(e->kw_sum));
		memset(e->kw_sum_flagged, 0, sizeof(e->kw_sum_flagged));
		memset(e->readings, 0, sizeof(e->readings));
		memset(e->flagged, 0, sizeof(e->flagged));
	}
	return e;
}

/* Add one stored reading. */
void
me_rollup_add(MeRollup *ru, int32 meter_key, int16 channel_id, TimestampTz ts, double kw, uint16 flags)
{
	RollupDay  *e = ru->last;
	int			h;

	if (!ru->enabled)
		return;
	if (e == NULL || e->key.meter_key != meter_key || e->key.channel_id != channel_id ||
		ts < e->start || ts >= e->end)
	{
		if (hash_get_num_entries(ru->days) >= ROLLUP_FLUSH)
			rollup_flush(ru);
		e = ru->last = rollup_day_of(ru, meter_key, channel_id, ts);
	}
	h = (int) ((ts - e->start) / USECS_PER_HOUR);
	if (e->readings[h] == 0 || kw > e->kw_max[h])
		e->kw_max[h] = kw;
	e->kw_sum[h] += kw;
	e->readings[h]++;
	if (flags & ROLLUP_FLAGGED)
	{
		e->kw_sum_flagged[h] += kw;
		e->flagged[h]++;
	}
}

/* An array datum of n elements of a fixed-width type. */
static Datum
rollup_array(Datum *d, bool *nulls, int n, Oid type, int16 len, bool byval, char align)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, type, len, byval, align));
}

/* A meter-day's totals over its slots (kw_max NULL when it read nothing). */
static void
day_totals(const RollupDay *e, Datum *s, Datum *sf, Datum *mx, bool *mxnull, Datum *rd, Datum *fl)
{
	double		sum = 0,
				sumf = 0,
				max = 0;
	int32		n = 0,
				f = 0;

	for (int h = 0; h < e->nslots; h++)
	{
		sum += e->kw_sum[h];
		sumf += e->kw_sum_flagged[h];
		if (e->readings[h] > 0 && (n == 0 || e->kw_max[h] > max))
			max = e->kw_max[h];
		n += e->readings[h];
		f += e->flagged[h];
	}
	*s = Float8GetDatum(sum);
	*sf = Float8GetDatum(sumf);
	*mx = Float8GetDatum(max);
	*mxnull = n == 0;
	*rd = Int32GetDatum(n);
	*fl = Int32GetDatum(f);
}

/* Send the meter-days held to rollup_add and start afresh. */
static void
rollup_flush(MeRollup *ru)
{
	long		n = hash_get_num_entries(ru->days);
	HASH_SEQ_STATUS seq;
	RollupDay  *e;
	Datum	   *keys, *chans, *days, *starts, *nslots, *offs;
	Datum	   *s, *sf, *mx, *rd, *fl;
	Datum	   *ts, *tsf, *tmx, *trd, *tfl;
	bool	   *tmxnull;
	int			k = 0,
				o = 0;
	Oid			argtypes[17] = {TEXTOID, INT4ARRAYOID, INT2ARRAYOID, DATEARRAYOID, TIMESTAMPTZARRAYOID,
		INT4ARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID, INT4ARRAYOID,
	FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID, INT4ARRAYOID};
	Datum		args[17];
	MemoryContext old;

	if (n == 0)
		return;
	old = MemoryContextSwitchTo(ru->cxt);
	keys = palloc(sizeof(Datum) * n);
	chans = palloc(sizeof(Datum) * n);
	days = palloc(sizeof(Datum) * n);
	starts = palloc(sizeof(Datum) * n);
	nslots = palloc(sizeof(Datum) * n);
	offs = palloc(sizeof(Datum) * n);
	s = palloc(sizeof(Datum) * n * ROLLUP_MAX_SLOTS);
	sf = palloc(sizeof(Datum) * n * ROLLUP_MAX_SLOTS);
	mx = palloc(sizeof(Datum) * n * ROLLUP_MAX_SLOTS);
	rd = palloc(sizeof(Datum) * n * ROLLUP_MAX_SLOTS);
	fl = palloc(sizeof(Datum) * n * ROLLUP_MAX_SLOTS);
	ts = palloc(sizeof(Datum) * n);
	tsf = palloc(sizeof(Datum) * n);
	tmx = palloc(sizeof(Datum) * n);
	tmxnull = palloc(sizeof(bool) * n);
	trd = palloc(sizeof(Datum) * n);
	tfl = palloc(sizeof(Datum) * n);
	hash_seq_init(&seq, ru->days);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		keys[k] = Int32GetDatum(e->key.meter_key);
		chans[k] = Int16GetDatum(e->key.channel_id);
		days[k] = DateADTGetDatum(e->key.day);
		starts[k] = TimestampTzGetDatum(e->start);
		nslots[k] = Int32GetDatum(e->nslots);
		offs[k] = Int32GetDatum(o);
		day_totals(e, &ts[k], &tsf[k], &tmx[k], &tmxnull[k], &trd[k], &tfl[k]);
		k++;
		for (int h = 0; h < e->nslots; h++, o++)
		{
			s[o] = Float8GetDatum(e->kw_sum[h]);
			sf[o] = Float8GetDatum(e->kw_sum_flagged[h]);
			/* NaN, not NULL, for an empty hour: rollup_add slices this
			 * array per meter-day, and a PL/pgSQL array with NULLs costs a
			 * scan from its start per slice (O(n^2) per batch, measured) */
			mx[o] = Float8GetDatum(e->readings[h] > 0 ? e->kw_max[h] : get_float8_nan());
			rd[o] = Int32GetDatum(e->readings[h]);
			fl[o] = Int32GetDatum(e->flagged[h]);
		}
	}
	args[0] = CStringGetTextDatum(ru->time_zone);
	args[1] = rollup_array(keys, NULL, k, INT4OID, 4, true, TYPALIGN_INT);
	args[2] = rollup_array(chans, NULL, k, INT2OID, 2, true, TYPALIGN_SHORT);
	args[3] = rollup_array(days, NULL, k, DATEOID, 4, true, TYPALIGN_INT);
	args[4] = rollup_array(starts, NULL, k, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	args[5] = rollup_array(nslots, NULL, k, INT4OID, 4, true, TYPALIGN_INT);
	args[6] = rollup_array(offs, NULL, k, INT4OID, 4, true, TYPALIGN_INT);
	args[7] = rollup_array(s, NULL, o, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	args[8] = rollup_array(sf, NULL, o, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	args[9] = rollup_array(mx, NULL, o, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	args[10] = rollup_array(rd, NULL, o, INT4OID, 4, true, TYPALIGN_INT);
	args[11] = rollup_array(fl, NULL, o, INT4OID, 4, true, TYPALIGN_INT);
	args[12] = rollup_array(ts, NULL, k, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	args[13] = rollup_array(tsf, NULL, k, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	args[14] = rollup_array(tmx, tmxnull, k, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	args[15] = rollup_array(trd, NULL, k, INT4OID, 4, true, TYPALIGN_INT);
	args[16] = rollup_array(tfl, NULL, k, INT4OID, 4, true, TYPALIGN_INT);
	MemoryContextSwitchTo(old);
	if (SPI_execute_with_args("SELECT meter_etl.rollup_add($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
							  " $13, $14, $15, $16, $17)",
							  17, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not add the ingest's rollups");
	SPI_freetuptable(SPI_tuptable);
	rollup_reset(ru);
}

/* Send what is held and free everything. */
void
me_rollup_end(MeRollup *ru)
{
	if (ru->enabled)
		rollup_flush(ru);
	MemoryContextDelete(ru->cxt);
	pfree(ru->time_zone);
	pfree(ru);
}
