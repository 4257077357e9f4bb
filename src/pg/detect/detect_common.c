/*
 * detect_common.c - what the detection glue files share
 *
 * The catalog of meters in scope (one query, not one per meter), the
 * series reader (one SPI cursor over meter_etl.reading ordered by
 * meter_key, channel_id, ts, cut into series as the key changes, with a
 * memory context reset per series; a list of meters is read as one range
 * of keys when that costs little, see plan_key_range), argument checks and
 * the mapping of the cores' status codes to errors with SQLSTATEs.
 *
 * The cursor is opened with SPI but fetched through a DestReceiver of our
 * own: its five columns are by-value, so they are copied out of each slot
 * into arrays without forming a tuple per row (SPI_cursor_fetch would copy
 * every row into a tuple table first).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "miscadmin.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "detect.h"
#include "pg/meter_etl.h"

static void plan_key_range(MeDetCatalog *cat, const Datum *keys, int nkeys);

#define FETCH_ROWS 20000

/* A batch of fetched rows, filled by the cursor's DestReceiver. */
typedef struct RowBatch
{
	int			n;
	int			pos;
	int32		meter[FETCH_ROWS];
	int16		channel[FETCH_ROWS];
	int16		flags[FETCH_ROWS];
	int64		ts[FETCH_ROWS];
	double		kw[FETCH_ROWS];
} RowBatch;

/* DestReceiver that copies the five by-value columns straight from the slot. */
typedef struct RowDest
{
	DestReceiver pub;
	RowBatch   *batch;
} RowDest;

struct MeDetReader
{
	MeDetCatalog *cat;
	Portal		portal;
	RowDest		dest;
	RowBatch   *batch;
	bool		eof;
	MemoryContext buf_cxt;		/* growing buffers, live as long as the reader */
	MemoryContext series_cxt;	/* reset before each series */
	size_t		cap;
	int64	   *ts;
	double	   *kw;
	int16	   *flags;
	/* the first row of the next series, already fetched */
	bool		have_next;
	int32		next_meter;
	int16		next_channel;
	int64		next_ts;
	double		next_kw;
	int16		next_flags;
	int32		last_meter;
	int16		last_channel;
};

static bool row_receive(TupleTableSlot *slot, DestReceiver *self);
static void row_startup(DestReceiver *self, int operation, TupleDesc typeinfo);
static void row_shutdown(DestReceiver *self);
static void row_destroy(DestReceiver *self);

typedef struct ZoneEntry
{
	char		name[NAMEDATALEN * 2];	/* hash key */
	MeZone		zone;
} ZoneEntry;

/* ------------------------------------------------------------ catalog */

/* A MeZone for a zone name, set up once per call. */
MeZone *
me_det_zone(MeDetCatalog *cat, const char *name)
{
	char		key[NAMEDATALEN * 2];
	ZoneEntry  *z;
	bool		found;

	memset(key, 0, sizeof(key));
	strlcpy(key, name, sizeof(key));
	z = hash_search(cat->zones, key, HASH_ENTER, &found);
	if (!found && !me_zone_setup(&z->zone, name))
	{
		hash_search(cat->zones, key, HASH_REMOVE, NULL);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", name)));
	}
	return &z->zone;
}

/* Report the first meter id of ids that is not in meter_etl.meter. */
static void
check_unknown_meters(Datum ids)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1] = {ids};

	if (SPI_execute_with_args("SELECT u.id FROM unnest($1) AS u(id)"
							  " WHERE u.id IS NULL OR NOT EXISTS"
							  " (SELECT 1 FROM meter_etl.meter m WHERE m.meter_id = u.id) LIMIT 1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up meters");
	if (SPI_processed > 0)
	{
		char	   *id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (id == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("meters must not contain nulls")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("meter \"%s\" does not exist", id),
				 errhint("Meter ids are the ones in meter_etl.meter.meter_id.")));
	}
}

/*
 * Load the meters in scope (all, by id, or by key) and the channel names
 * with one query each.  The caller is connected to SPI; everything lives
 * in the current memory context.
 */
void
me_det_catalog_load(MeDetCatalog *cat, ArrayType *meter_ids, ArrayType *meter_keys)
{
	HASHCTL		ctl;
	Oid			argtypes[1];
	Datum		args[1];
	const char *sql;
	int			nargs = 0;
	MemoryContext cxt = CurrentMemoryContext;
	Datum	   *keys;
	int			nkeys = 0;

	memset(cat, 0, sizeof(*cat));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(MeDetMeter);
	ctl.hcxt = cxt;
	cat->meters = hash_create("meter_etl detect meters", 1024, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = NAMEDATALEN * 2;
	ctl.entrysize = sizeof(ZoneEntry);
	cat->zones = hash_create("meter_etl detect zones", 16, &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	cat->max_interval_us = 0;

	if (meter_ids != NULL)
	{
		if (ARR_NDIM(meter_ids) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("meters must be a one-dimensional array")));
		check_unknown_meters(PointerGetDatum(meter_ids));
		sql = "SELECT meter_key, meter_id, interval_s, coalesce(time_zone, 'UTC')"
			" FROM meter_etl.meter WHERE meter_id = ANY ($1)";
		argtypes[0] = TEXTARRAYOID;
		args[0] = PointerGetDatum(meter_ids);
		nargs = 1;
	}
	else if (meter_keys != NULL)
	{
		sql = "SELECT meter_key, meter_id, interval_s, coalesce(time_zone, 'UTC')"
			" FROM meter_etl.meter WHERE meter_key = ANY ($1)";
		argtypes[0] = INT4ARRAYOID;
		args[0] = PointerGetDatum(meter_keys);
		nargs = 1;
	}
	else
		sql = "SELECT meter_key, meter_id, interval_s, coalesce(time_zone, 'UTC')"
			" FROM meter_etl.meter";
	if (SPI_execute_with_args(sql, nargs, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read meter_etl.meter");
	keys = palloc(sizeof(Datum) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int32		key = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		MeDetMeter *m = hash_search(cat->meters, &key, HASH_ENTER, NULL);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		char	   *tz = SPI_getvalue(tup, desc, 4);

		m->meter_id = SPI_getvalue(tup, desc, 2);
		m->interval_s = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		MemoryContextSwitchTo(old);
		m->zone = me_det_zone(cat, tz);
		if ((int64) m->interval_s * USECS_PER_SEC > cat->max_interval_us)
			cat->max_interval_us = (int64) m->interval_s * USECS_PER_SEC;
		keys[nkeys++] = Int32GetDatum(key);
	}
	SPI_freetuptable(SPI_tuptable);
	cat->nmeters = nkeys;
	if (meter_ids != NULL || meter_keys != NULL)
	{
		cat->keys = PointerGetDatum(construct_array(keys, nkeys, INT4OID, 4, true, TYPALIGN_INT));
		plan_key_range(cat, keys, nkeys);
	}
	if (cat->max_interval_us == 0)
		cat->max_interval_us = 15 * USECS_PER_MINUTE;

	if (SPI_execute("SELECT channel_id, name FROM meter_etl.channel ORDER BY channel_id", true, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "could not read meter_etl.channel");
	cat->nchannels = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			id = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		cat->nchannels = Max(cat->nchannels, id + 1);
	}
	cat->channels = palloc0(sizeof(char *) * (cat->nchannels + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			id = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext old = MemoryContextSwitchTo(cxt);

		if (id >= 0)
			cat->channels[id] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		MemoryContextSwitchTo(old);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* The name of a channel id ("?" if the id is not in meter_etl.channel). */
const char *
me_det_channel_name(const MeDetCatalog *cat, int16 ch)
{
	return (ch >= 0 && ch < cat->nchannels && cat->channels[ch]) ? cat->channels[ch] : "?";
}

/* The meter of a key (readings always have one unless the trigger was bypassed). */
MeDetMeter *
me_det_meter(MeDetCatalog *cat, int32 meter_key)
{
	MeDetMeter *m = hash_search(cat->meters, &meter_key, HASH_FIND, NULL);

	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("readings of meter_key %d have no meter in meter_etl.meter", meter_key),
				 errhint("Rows that bypassed the reading_guard trigger; delete them or add the meter.")));
	return m;
}

/* ------------------------------------------------------------ reader */

/*
 * With a list of meters, the readings are read either by key = ANY (list),
 * one descent of each partition's index per meter, or as the one range of
 * keys from the list's lowest to its highest, skipping the meters in
 * between that were not asked for.  The range wins unless it holds many
 * more meters than the list (the budget of keyruns.c: 2 x plus 16): a whole
 * fleet, or a block of it, is then read like the whole store.
 */
static void
plan_key_range(MeDetCatalog *cat, const Datum *keys, int nkeys)
{
	Oid			argtypes[2] = {INT4OID, INT4OID};
	Datum		args[2];
	int32		lo = PG_INT32_MAX,
				hi = PG_INT32_MIN;
	bool		isnull;
	int64		inside;

	if (nkeys == 0)
		return;
	for (int i = 0; i < nkeys; i++)
	{
		lo = Min(lo, DatumGetInt32(keys[i]));
		hi = Max(hi, DatumGetInt32(keys[i]));
	}
	args[0] = Int32GetDatum(lo);
	args[1] = Int32GetDatum(hi);
	if (SPI_execute_with_args("SELECT count(*) FROM meter_etl.meter WHERE meter_key BETWEEN $1 AND $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count the meters in a key range");
	inside = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	if (inside <= 2 * (int64) nkeys + 16)
	{
		cat->key_range = true;
		cat->key_lo = lo;
		cat->key_hi = hi;
	}
}

/*
 * Open the cursor over readings with from <= ts < to of the catalog's
 * meters.  Estimated values are not in meter_etl.reading (they live in
 * meter_etl.estimate), so every row read is a reading as received.
 */
MeDetReader *
me_det_reader_open(MeDetCatalog *cat, TimestampTz from, TimestampTz to)
{
	MeDetReader *rd = palloc0(sizeof(MeDetReader));
	Oid			argtypes[4] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4ARRAYOID, INT4OID};
	Datum		args[4];
	int			nargs = 2;
	const char *sql;

	rd->cat = cat;
	rd->buf_cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl series buffers",
										ALLOCSET_DEFAULT_SIZES);
	rd->series_cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl series",
										   ALLOCSET_DEFAULT_SIZES);
	args[0] = TimestampTzGetDatum(from);
	args[1] = TimestampTzGetDatum(to);
	args[2] = cat->keys;
	if (cat->key_range)
	{
		/* see plan_key_range(); me_det_reader_next() skips meters not asked for */
		argtypes[2] = INT4OID;
		args[2] = Int32GetDatum(cat->key_lo);
		args[3] = Int32GetDatum(cat->key_hi);
		nargs = 4;
		sql = "SELECT r.meter_key, r.channel_id, r.ts, r.kw, r.flags FROM meter_etl.reading r"
			" WHERE r.ts >= $1 AND r.ts < $2 AND r.meter_key BETWEEN $3 AND $4"
			" ORDER BY r.meter_key, r.channel_id, r.ts";
	}
	else if (cat->keys != (Datum) 0)
	{
		nargs = 3;
		sql = "SELECT r.meter_key, r.channel_id, r.ts, r.kw, r.flags FROM meter_etl.reading r"
			" WHERE r.ts >= $1 AND r.ts < $2 AND r.meter_key = ANY ($3)"
			" ORDER BY r.meter_key, r.channel_id, r.ts";
	}
	else
		sql = "SELECT r.meter_key, r.channel_id, r.ts, r.kw, r.flags FROM meter_etl.reading r"
			" WHERE r.ts >= $1 AND r.ts < $2"
			" ORDER BY r.meter_key, r.channel_id, r.ts";
	rd->portal = SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, args, NULL, true,
										   CURSOR_OPT_NO_SCROLL);
	if (rd->portal == NULL)
		elog(ERROR, "could not open a cursor over meter_etl.reading: %s",
			 SPI_result_code_string(SPI_result));
	rd->last_meter = -1;
	rd->batch = MemoryContextAllocZero(rd->buf_cxt, sizeof(RowBatch));
	rd->dest.pub.receiveSlot = row_receive;
	rd->dest.pub.rStartup = row_startup;
	rd->dest.pub.rShutdown = row_shutdown;
	rd->dest.pub.rDestroy = row_destroy;
	rd->dest.pub.mydest = DestNone;
	rd->dest.batch = rd->batch;
	return rd;
}

/* Context for the caller's per-series allocations; reset by the next series. */
MemoryContext
me_det_series_context(MeDetReader *rd)
{
	return rd->series_cxt;
}

/* DestReceiver callbacks: rows arrive as slots, no tuple is formed. */
static bool
row_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RowBatch   *b = ((RowDest *) self)->batch;

	slot_getsomeattrs(slot, 5);
	if (slot->tts_isnull[0] || slot->tts_isnull[1] || slot->tts_isnull[2] ||
		slot->tts_isnull[3] || slot->tts_isnull[4])
		elog(ERROR, "unexpected null in meter_etl.reading");
	b->meter[b->n] = DatumGetInt32(slot->tts_values[0]);
	b->channel[b->n] = DatumGetInt16(slot->tts_values[1]);
	b->ts[b->n] = DatumGetTimestampTz(slot->tts_values[2]);
	b->kw[b->n] = DatumGetFloat8(slot->tts_values[3]);
	b->flags[b->n] = DatumGetInt16(slot->tts_values[4]);
	b->n++;
	return true;
}

static void
row_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
row_shutdown(DestReceiver *self)
{
}

static void
row_destroy(DestReceiver *self)
{
}

/* Next row from the cursor into the next_* fields; false at the end. */
static bool
fetch_row(MeDetReader *rd)
{
	RowBatch   *b = rd->batch;

	if (b->pos >= b->n)
	{
		if (rd->eof)
			return false;
		CHECK_FOR_INTERRUPTS();
		b->n = 0;
		b->pos = 0;
		/* the SPI cursor, fetched through our receiver instead of a tuple table */
		PortalRunFetch(rd->portal, FETCH_FORWARD, FETCH_ROWS, (DestReceiver *) &rd->dest);
		if (b->n < FETCH_ROWS)
			rd->eof = true;
		if (b->n == 0)
			return false;
	}
	rd->next_meter = b->meter[b->pos];
	rd->next_channel = b->channel[b->pos];
	rd->next_ts = b->ts[b->pos];
	rd->next_kw = b->kw[b->pos];
	rd->next_flags = b->flags[b->pos];
	b->pos++;
	return true;
}

/* Make room for n readings in the series buffers. */
static void
reserve(MeDetReader *rd, size_t n)
{
	size_t		cap = rd->cap ? rd->cap : 4096;

	if (n <= rd->cap)
		return;
	while (cap < n)
		cap *= 2;
	if (rd->ts == NULL)
	{
		rd->ts = MemoryContextAllocHuge(rd->buf_cxt, cap * sizeof(int64));
		rd->kw = MemoryContextAllocHuge(rd->buf_cxt, cap * sizeof(double));
		rd->flags = MemoryContextAllocHuge(rd->buf_cxt, cap * sizeof(int16));
	}
	else
	{
		rd->ts = repalloc_huge(rd->ts, cap * sizeof(int64));
		rd->kw = repalloc_huge(rd->kw, cap * sizeof(double));
		rd->flags = repalloc_huge(rd->flags, cap * sizeof(int16));
	}
	rd->cap = cap;
}

/*
 * The next series, or false when the cursor is exhausted.  s->ts, s->kw
 * and s->flags stay valid until the next call; so does everything the
 * caller allocates in me_det_series_context().
 */
bool
me_det_reader_next(MeDetReader *rd, MeDetSeries *s)
{
	size_t		n;
	int32		mk;
	int16		ch;

	do
	{
		n = 0;
		MemoryContextReset(rd->series_cxt);
		if (!rd->have_next && !fetch_row(rd))
			return false;
		rd->have_next = false;
		mk = rd->next_meter;
		ch = rd->next_channel;
		if (mk < rd->last_meter || (mk == rd->last_meter && ch <= rd->last_channel))
			elog(ERROR, "readings are not in (meter_key, channel_id, ts) order");
		rd->last_meter = mk;
		rd->last_channel = ch;
		for (;;)
		{
			reserve(rd, n + 1);
			if (n > 0 && rd->next_ts <= rd->ts[n - 1])
				elog(ERROR, "readings of meter_key %d are not in time order", mk);
			rd->ts[n] = rd->next_ts;
			rd->kw[n] = rd->next_kw;
			rd->flags[n] = rd->next_flags;
			n++;
			if (!fetch_row(rd))
				break;
			if (rd->next_meter != mk || rd->next_channel != ch)
			{
				rd->have_next = true;
				break;
			}
		}
		/* a key range also holds meters that were not asked for: skip them */
	} while (rd->cat->key_range && hash_search(rd->cat->meters, &mk, HASH_FIND, NULL) == NULL);
	memset(s, 0, sizeof(*s));
	s->meter = me_det_meter(rd->cat, mk);
	s->channel_id = ch;
	s->channel = me_det_channel_name(rd->cat, ch);
	s->interval_us = (int64) s->meter->interval_s * USECS_PER_SEC;
	s->n = n;
	s->ts = rd->ts;
	s->kw = rd->kw;
	s->flags = rd->flags;
	s->in.ts = (const int64_t *) rd->ts;
	s->in.kw = rd->kw;
	s->in.present = NULL;
	s->in.n = n;
	return true;
}

/* Close the cursor and free the buffers. */
void
me_det_reader_close(MeDetReader *rd)
{
	SPI_cursor_close(rd->portal);
	MemoryContextDelete(rd->series_cxt);
	MemoryContextDelete(rd->buf_cxt);
	pfree(rd);
}

/* ------------------------------------------------------------ arguments */

/* A non-negative interval argument in microseconds (days count 24 h). */
int64
me_det_interval_arg(FunctionCallInfo fcinfo, int argno, const char *name, bool allow_zero)
{
	Interval   *iv;
	int64		us;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	iv = PG_GETARG_INTERVAL_P(argno);
	if (iv->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not contain months or years", name),
				 errhint("Use days, e.g. '28 days'.")));
	if (pg_mul_s64_overflow((int64) iv->day, USECS_PER_DAY, &us) ||
		pg_add_s64_overflow(us, iv->time, &us) || us > (int64) 3660 * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long", name)));
	if (us < 0 || (us == 0 && !allow_zero))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be %s", name, allow_zero ? "zero or positive" : "positive")));
	return us;
}

/* A finite timestamp argument. */
TimestampTz
me_det_ts_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	TimestampTz t;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	t = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be finite", name)));
	return t;
}

/* A float argument within [lo, hi]. */
double
me_det_float_arg(FunctionCallInfo fcinfo, int argno, const char *name, double lo, double hi)
{
	double		v;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	v = PG_GETARG_FLOAT8(argno);
	if (isnan(v) || v < lo || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %g and %g", name, lo, hi)));
	return v;
}

/* from_ts < to_ts, and not absurdly long. */
void
me_det_check_range(TimestampTz from, TimestampTz to)
{
	if (from >= to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_ts must be earlier than to_ts")));
	if (to - from > (int64) 3660 * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("time range must not exceed 3660 days"),
				 errhint("Process long histories in pieces, e.g. a year at a time.")));
}

/* t + us, saturating instead of overflowing. */
TimestampTz
me_det_add(TimestampTz t, int64 us)
{
	TimestampTz r;

	if (pg_add_s64_overflow(t, us, &r))
		return us > 0 ? DT_NOEND : DT_NOBEGIN;
	return r;
}

/*
 * Where the due slots of a stored series end: at to, or at the start of the
 * current slot if that is earlier.  Readings for later slots cannot have
 * arrived, so those slots are neither missing (gaps, offline) nor holes.
 * Only for the store: analysts' arrays may hold any times.
 */
int64
me_det_due_to(int64 to, int64 interval_us)
{
	return Min(to, me_floor_to(GetCurrentTransactionStartTimestamp(), interval_us));
}

/* Text of a timestamp for messages. */
static const char *
ts_text(int64 ts)
{
	return timestamptz_to_str((TimestampTz) ts);
}

/* NaN and infinity never reach the cores. */
void
me_det_check_finite(const MeDetSeries *s)
{
	size_t		bad;

	if (series_check_finite(s->kw, NULL, s->n, &bad) != ME_SERIES_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("reading of meter \"%s\" channel \"%s\" at %s is not a finite number",
						s->meter->meter_id, s->channel, ts_text(s->ts[bad])),
				 errhint("Correct or delete the reading in meter_etl.reading.")));
}

/* Turn a core's status into an error (what: the function's name). */
void
me_det_series_error(int status, const char *what, const MeDetSeries *s)
{
	const char *where;

	if (status == ME_SERIES_OK)
		return;					/* the common case: no message to build */
	where = s ? psprintf(" for meter \"%s\" channel \"%s\"", s->meter->meter_id, s->channel) : "";
	switch (status)
	{
		case ME_SERIES_ERANGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s: time range holds too many intervals%s", what, where),
					 errhint("Use a shorter range.")));
			break;
		case ME_SERIES_ENOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory in %s%s", what, where)));
			break;
		case ME_SERIES_ENONFINITE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s: value is not a finite number%s", what, where)));
			break;
		case ME_SERIES_EORDER:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s: timestamps are not strictly ascending%s", what, where)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: invalid combination of parameters%s", what, where)));
	}
}

/*
 * The ts and kw arrays of the "any series" variants (ts_arg < 0: values
 * only).  ts must be strictly ascending without nulls; a null kw is a
 * missing reading; NaN and infinity are refused.
 */
void
me_det_arrays(FunctionCallInfo fcinfo, int ts_arg, int kw_arg, MeDetArrays *a)
{
	ArrayType  *kwa;
	Datum	   *d;
	bool	   *nulls;
	int			n;
	size_t		bad;

	memset(a, 0, sizeof(*a));
	if (PG_ARGISNULL(kw_arg) || (ts_arg >= 0 && PG_ARGISNULL(ts_arg)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", ts_arg >= 0 && PG_ARGISNULL(ts_arg) ? "ts" : "kw")));
	kwa = PG_GETARG_ARRAYTYPE_P(kw_arg);
	if (ARR_NDIM(kwa) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("kw must be a one-dimensional array")));
	deconstruct_array(kwa, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &d, &nulls, &n);
	a->n = n;
	a->kw = palloc(sizeof(double) * (n + 1));
	a->present = palloc(sizeof(bool) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		a->present[i] = !nulls[i];
		a->kw[i] = nulls[i] ? 0.0 : DatumGetFloat8(d[i]);
	}
	if (series_check_finite(a->kw, a->present, n, &bad) != ME_SERIES_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kw[%d] is not a finite number: %g", (int) bad + 1, a->kw[bad]),
				 errhint("Pass NULL for a missing reading.")));
	if (ts_arg >= 0)
	{
		ArrayType  *tsa = PG_GETARG_ARRAYTYPE_P(ts_arg);
		Datum	   *t;
		bool	   *tnulls;
		int			nt;

		if (ARR_NDIM(tsa) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("ts must be a one-dimensional array")));
		deconstruct_array(tsa, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &t, &tnulls, &nt);
		if (nt != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("ts and kw must have the same number of elements"),
					 errdetail("ts has %d elements, kw has %d.", nt, n)));
		a->ts = palloc(sizeof(int64) * (n + 1));
		for (int i = 0; i < n; i++)
		{
			if (tnulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("ts[%d] is null", i + 1),
						 errhint("Every element needs a timestamp; use a NULL kw for a missing reading.")));
			a->ts[i] = DatumGetTimestampTz(t[i]);
			if (TIMESTAMP_NOT_FINITE(a->ts[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("ts[%d] is not finite", i + 1)));
		}
		if (series_check_order(a->ts, n, &bad) != ME_SERIES_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ts must be strictly ascending"),
					 errdetail("ts[%d] (%s) is not later than ts[%d].", (int) bad + 1,
							   ts_text(a->ts[bad]), (int) bad),
					 errhint("Aggregate with ORDER BY ts, e.g. array_agg(ts ORDER BY ts).")));
	}
}

/* Error context: which series was being processed. */
static void
series_error_callback(void *arg)
{
	MeDetErrCtx *e = arg;

	if (e->s != NULL && e->s->meter != NULL)
		errcontext("%s of meter \"%s\" channel \"%s\"", e->what, e->s->meter->meter_id,
				   e->s->channel);
}

/* Push an error context that names the current series (set e->s as you go). */
void
me_det_errctx_push(MeDetErrCtx *e, const char *what)
{
	e->what = what;
	e->s = NULL;
	e->cb.callback = series_error_callback;
	e->cb.arg = e;
	e->cb.previous = error_context_stack;
	error_context_stack = &e->cb;
}

/* Pop it again (on the normal path; errors unwind the stack themselves). */
void
me_det_errctx_pop(MeDetErrCtx *e)
{
	error_context_stack = e->cb.previous;
}
