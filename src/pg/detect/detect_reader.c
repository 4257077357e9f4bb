/*
 * detect_reader.c - the series reader of the detection glue
 *
 * One SPI cursor over meter_etl.reading ordered by meter_key, channel_id,
 * ts, cut into series as the key changes, with a memory context reset per
 * series.  The cursor is opened with SPI but fetched through a
 * DestReceiver of our own: its five columns are by-value, so they are
 * copied out of each slot into arrays without forming a tuple per row
 * (SPI_cursor_fetch would copy every row into a tuple table first).
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

/*
 * Readings and, for slots without one, the stored estimates (flag 1,
 * estimated), as v_reading_filled combines them: what forecasting reads.
 */
#define READ_WITH_ESTIMATES \
	"(SELECT meter_key, channel_id, ts, kw, flags FROM meter_etl.reading" \
	" UNION ALL SELECT e.meter_key, e.channel_id, e.ts, e.kw, 1::smallint FROM meter_etl.estimate e" \
	" WHERE NOT EXISTS (SELECT 1 FROM meter_etl.reading x WHERE x.meter_key = e.meter_key" \
	" AND x.channel_id = e.channel_id AND x.ts = e.ts))"

/*
 * Open the cursor over readings with from <= ts < to of the catalog's
 * meters.  Estimated values are not in meter_etl.reading (they live in
 * meter_etl.estimate), so every row read is a reading as received, unless
 * the catalog asks for the estimates too (cat->with_estimates).
 */
MeDetReader *
me_det_reader_open(MeDetCatalog *cat, TimestampTz from, TimestampTz to)
{
	MeDetReader *rd = palloc0(sizeof(MeDetReader));
	Oid			argtypes[4] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4ARRAYOID, INT4OID};
	Datum		args[4];
	int			nargs = 2;
	const char *sql;
	const char *src;

	rd->cat = cat;
	rd->buf_cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl series buffers",
										ALLOCSET_DEFAULT_SIZES);
	rd->series_cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl series",
										   ALLOCSET_DEFAULT_SIZES);
	args[0] = TimestampTzGetDatum(from);
	args[1] = TimestampTzGetDatum(to);
	args[2] = cat->keys;
	src = cat->with_estimates ? READ_WITH_ESTIMATES : "meter_etl.reading";
	if (cat->key_range)
	{
		/* see me_det_plan_key_range(); me_det_reader_next() skips meters not asked for */
		argtypes[2] = INT4OID;
		args[2] = Int32GetDatum(cat->key_lo);
		args[3] = Int32GetDatum(cat->key_hi);
		nargs = 4;
		sql = psprintf("SELECT r.meter_key, r.channel_id, r.ts, r.kw, r.flags FROM %s r"
					   " WHERE r.ts >= $1 AND r.ts < $2 AND r.meter_key BETWEEN $3 AND $4"
					   " ORDER BY r.meter_key, r.channel_id, r.ts", src);
	}
	else if (cat->keys != (Datum) 0)
	{
		nargs = 3;
		sql = psprintf("SELECT r.meter_key, r.channel_id, r.ts, r.kw, r.flags FROM %s r"
					   " WHERE r.ts >= $1 AND r.ts < $2 AND r.meter_key = ANY ($3)"
					   " ORDER BY r.meter_key, r.channel_id, r.ts", src);
	}
	else
		sql = psprintf("SELECT r.meter_key, r.channel_id, r.ts, r.kw, r.flags FROM %s r"
					   " WHERE r.ts >= $1 AND r.ts < $2"
					   " ORDER BY r.meter_key, r.channel_id, r.ts", src);
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
