/*
 * ingest.c - meter_etl.ingest(): raw zone -> clean store + quarantine
 *
 * Streams a staged file chunk by chunk through the pure reader (libcsv,
 * column mapping, field parsers, rules) and collects its output in
 * batches: valid readings go to store.c, which sorts, de-duplicates and
 * bulk-inserts them; invalid ones become quarantine rows.  Memory is
 * bounded by one raw chunk plus one batch, whatever the file size.
 *
 * The run is recorded in meter_etl.ingest_run, whose CHECK constraint
 * enforces the accounting: readings_read = clean + quarantined + duplicate.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/backend_progress.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/me_time.h"
#include "core/read/csvmap.h"
#include "core/read/parser_thread.h"
#include "core/read/reader.h"
#include "pg/guc.h"
#include "profile.h"
#include "quarantine.h"
#include "rollup.h"
#include "stage.h"
#include "store.h"
#include "pg/meter_etl.h"

PG_FUNCTION_INFO_V1(meter_etl_ingest);
PG_FUNCTION_INFO_V1(meter_etl_detect_format);

#define METER_KEYLEN (ME_DEFAULT_MAX_METER_ID_LEN + 1)
#define CHANNEL_KEYLEN (ME_MAX_CHANNEL_LEN + 1)	/* the reader refuses longer names */
#define QUARANTINE_FLUSH 8192

typedef struct MeterEntry
{
	char		meter_id[METER_KEYLEN]; /* hash key */
	int32		meter_key;		/* 0 until resolved */
	int32		interval_s;
	TimestampTz first_ts;		/* oldest and newest reading stored: the */
	TimestampTz last_ts;		/* span detection recomputes, and freshness */
	bool		stored;
} MeterEntry;

typedef struct ChannelEntry
{
	char		name[CHANNEL_KEYLEN];	/* hash key */
	int16		channel_id;		/* 0 until resolved */
	bool		is_signed;
} ChannelEntry;

/* Readings stored and exact duplicates per UTC day of their time. */
typedef struct DayEntry
{
	int32		day;			/* hash key: days since 2000-01-01 (DateADT) */
	int64		clean;
	int64		duplicate;
} DayEntry;

typedef struct IngestState
{
	int64		file_id;
	int64		run_id;
	const char *file_name;
	const char *format;
	MeLoadedProfile *prof;
	HTAB	   *meters;
	HTAB	   *channels;
	List	   *new_meters;
	List	   *new_channels;
	MeStoreRow *rows;			/* tags: the MeterEntry and ChannelEntry */
	int			nrows;
	int			maxrows;
	MeQuarantineRow *quar;
	int			nquar;
	int			capquar;
	MemoryContext batch_cxt;
	MeStore    *store;
	MeRollup   *rollup;		/* the meter-days stored (rollup.c) */
	int64		rows_clean;
	int64		rows_duplicate;
	int64		rows_quarantined;
	int64		by_reason[ME_R__COUNT];
	int64	   *conflict_lines; /* lines of duplicate_conflict rows, for raw_line */
	int			nconflict;
	int			conflict_cap;
	int64		size;			/* raw file bytes, for progress */
	MeRawIdentity raw;			/* what the stored chunks must hash to */
	MeterEntry *last_meter;		/* files come in meter order: skip the hash */
	ChannelEntry *last_channel;
	HTAB	   *days;			/* DayEntry per UTC day (meter_etl.ingest_day) */
	DayEntry   *last_day;		/* readings come in runs of one day */
	bool		again;			/* the file was ingested before (reingest) */
} IngestState;

/* ------------------------------------------------------------ resolution */

/* Register new meters and channels and learn their keys (one SPI call each). */
static void
resolve_entries(IngestState *is)
{
	ListCell   *lc;
	int			n;

	if ((n = list_length(is->new_meters)) > 0)
	{
		Datum	   *ids = palloc(sizeof(Datum) * n);
		Datum	   *ivs = palloc(sizeof(Datum) * n);
		Oid			argtypes[4] = {TEXTARRAYOID, INT4ARRAYOID, TEXTOID, INT8OID};
		Datum		args[4];
		int			i = 0;

		foreach(lc, is->new_meters)
		{
			MeterEntry *m = lfirst(lc);

			ids[i] = CStringGetTextDatum(m->meter_id);
			ivs[i++] = Int32GetDatum(m->interval_s);
		}
		args[0] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));
		args[1] = PointerGetDatum(construct_array(ivs, n, INT4OID, 4, true, TYPALIGN_INT));
		args[2] = CStringGetTextDatum(is->prof->time_zone);
		args[3] = Int64GetDatum(is->file_id);
		if (SPI_execute_with_args("SELECT meter_id, meter_key FROM meter_etl.register_meters($1, $2, $3, $4)",
								  4, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not register meters");
		for (uint64 j = 0; j < SPI_processed; j++)
		{
			bool		isnull;
			char	   *id = SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1);
			MeterEntry *m = hash_search(is->meters, id, HASH_FIND, NULL);

			if (m != NULL)
				m->meter_key = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[j],
														   SPI_tuptable->tupdesc, 2, &isnull));
		}
		SPI_freetuptable(SPI_tuptable);
		foreach(lc, is->new_meters)
			if (((MeterEntry *) lfirst(lc))->meter_key == 0)
				elog(ERROR, "meter \"%s\" was not registered", ((MeterEntry *) lfirst(lc))->meter_id);
		/*
		 * A file ingested again (reingest): the meters its first ingest
		 * created take this run's interval and zone, as a first ingest with
		 * this profile would have given them.
		 */
		if (is->again &&
			SPI_execute_with_args("UPDATE meter_etl.meter m SET interval_s = u.iv, time_zone = $3"
								  " FROM unnest($1, $2) AS u(id, iv)"
								  " WHERE m.meter_id = u.id AND m.first_file_id = $4"
								  " AND (m.interval_s, m.time_zone) IS DISTINCT FROM (u.iv, $3)",
								  4, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update the meters of a file ingested again");
		list_free(is->new_meters);
		is->new_meters = NIL;
	}
	if ((n = list_length(is->new_channels)) > 0)
	{
		Datum	   *names = palloc(sizeof(Datum) * n);
		Datum	   *sign = palloc(sizeof(Datum) * n);
		Oid			argtypes[2] = {TEXTARRAYOID, BOOLARRAYOID};
		Datum		args[2];
		int			i = 0;

		foreach(lc, is->new_channels)
		{
			ChannelEntry *c = lfirst(lc);

			names[i] = CStringGetTextDatum(c->name);
			sign[i++] = BoolGetDatum(c->is_signed);
		}
		args[0] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
		args[1] = PointerGetDatum(construct_array(sign, n, BOOLOID, 1, true, TYPALIGN_CHAR));
		if (SPI_execute_with_args("SELECT name, channel_id FROM meter_etl.register_channels($1, $2)",
								  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not register channels");
		for (uint64 j = 0; j < SPI_processed; j++)
		{
			bool		isnull;
			char	   *name = SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1);
			ChannelEntry *c = hash_search(is->channels, name, HASH_FIND, NULL);

			if (c != NULL)
				c->channel_id = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[j],
															SPI_tuptable->tupdesc, 2, &isnull));
		}
		SPI_freetuptable(SPI_tuptable);
		list_free(is->new_channels);
		is->new_channels = NIL;
	}
}

/* ------------------------------------------------------------ quarantine */

/* Room for one more quarantine row. */
static MeQuarantineRow *
next_quarantine_row(IngestState *is)
{
	if (is->nquar == is->capquar)
	{
		is->capquar = is->capquar ? is->capquar * 2 : 256;
		is->quar = is->quar ? repalloc(is->quar, sizeof(MeQuarantineRow) * is->capquar) :
			MemoryContextAlloc(TopTransactionContext, sizeof(MeQuarantineRow) * is->capquar);
	}
	memset(&is->quar[is->nquar], 0, sizeof(MeQuarantineRow));
	return &is->quar[is->nquar++];
}

/* Counted bytes as sanitized text in the batch context, or NULL. */
static char *
batch_text(IngestState *is, const char *s, size_t len)
{
	MemoryContext old;
	char	   *t;

	if (s == NULL)
		return NULL;
	old = MemoryContextSwitchTo(is->batch_cxt);
	me_trim(&s, &len);
	t = me_sanitize_text(s, len);
	MemoryContextSwitchTo(old);
	return t;
}

/* Write the collected quarantine rows. */
static void
flush_quarantine(IngestState *is)
{
	me_quarantine_insert(is->quar, is->nquar);
	is->nquar = 0;
}

/* ------------------------------------------------------------ batches */

/*
 * A conflict is found in the store, long after its line left the reader's
 * buffers: keep its line number, the line is fetched at the end.
 */
static void
remember_conflict(IngestState *is, int64 line_no)
{
	if (is->nconflict == is->conflict_cap)
	{
		is->conflict_cap = is->conflict_cap ? is->conflict_cap * 2 : 64;
		is->conflict_lines = is->conflict_lines ?
			repalloc(is->conflict_lines, sizeof(int64) * is->conflict_cap) :
			MemoryContextAlloc(TopTransactionContext, sizeof(int64) * is->conflict_cap);
	}
	is->conflict_lines[is->nconflict++] = line_no;
}

/* Lines found by me_raw_lines, gathered as text for one UPDATE. */
typedef struct ConflictLines
{
	ArrayBuildState *nos;
	ArrayBuildState *texts;
} ConflictLines;

static void
gather_line(void *arg, int64 line_no, const char *line, size_t len)
{
	ConflictLines *cl = arg;

	/* as the other quarantine rows: the first 2 kB of a line is plenty */
	cl->nos = accumArrayResult(cl->nos, Int64GetDatum(line_no), false, INT8OID, CurrentMemoryContext);
	cl->texts = accumArrayResult(cl->texts,
								 CStringGetTextDatum(me_sanitize_text(line, Min(len, (size_t) 2048))),
								 false, TEXTOID, CurrentMemoryContext);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Give the duplicate_conflict rows of this run their raw line, as every
 * quarantine row has: one more pass over the raw chunks, only when the file
 * had conflicts.
 */
static void
fill_conflict_lines(IngestState *is)
{
	ConflictLines cl = {NULL, NULL};
	int			n = 0;
	Oid			types[3] = {INT8ARRAYOID, TEXTARRAYOID, INT8OID};
	Datum		args[3];

	if (is->nconflict == 0)
		return;
	qsort(is->conflict_lines, is->nconflict, sizeof(int64), cmp_int64);
	for (int i = 0; i < is->nconflict; i++)
		if (n == 0 || is->conflict_lines[i] != is->conflict_lines[n - 1])
			is->conflict_lines[n++] = is->conflict_lines[i];
	me_raw_lines(is->file_id, is->conflict_lines, n, gather_line, &cl);
	if (cl.nos == NULL)
		return;
	args[0] = makeArrayResult(cl.nos, CurrentMemoryContext);
	args[1] = makeArrayResult(cl.texts, CurrentMemoryContext);
	args[2] = Int64GetDatum(is->run_id);
	if (SPI_execute_with_args("UPDATE meter_etl.quarantine q SET raw_line = u.line"
							  " FROM unnest($1, $2) AS u(line_no, line)"
							  " WHERE q.run_id = $3 AND q.line_no = u.line_no"
							  " AND q.reason = 'duplicate_conflict' AND q.raw_line IS NULL",
							  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not give the duplicate_conflict rows their lines");
}

/* Count a stored reading or a duplicate on the UTC day of its time. */
static void
count_day(IngestState *is, TimestampTz ts, bool duplicate)
{
	/* floor division: times before 2000 have negative days */
	int32		day = (int32) (ts >= 0 ? ts / USECS_PER_DAY : -((-ts - 1) / USECS_PER_DAY) - 1);
	DayEntry   *e = is->last_day;

	if (e == NULL || e->day != day)
	{
		bool		found;

		e = hash_search(is->days, &day, HASH_ENTER, &found);
		if (!found)
			e->clean = e->duplicate = 0;
		is->last_day = e;
	}
	if (duplicate)
		e->duplicate++;
	else
		e->clean++;
}

/*
 * Store the first n readings of the batch; conflicts become quarantine
 * rows.  Readings after the first n move to the front of the next batch.
 */
static void
flush_rows(IngestState *is, int n)
{
	resolve_entries(is);
	for (int i = 0; i < n; i++)
	{
		is->rows[i].meter_key = ((const MeterEntry *) is->rows[i].meter_tag)->meter_key;
		is->rows[i].channel_id = ((const ChannelEntry *) is->rows[i].channel_tag)->channel_id;
	}
	me_store_flush(is->store, is->rows, n);
	for (int i = 0; i < n; i++)
	{
		MeStoreRow *r = &is->rows[i];

		if (r->outcome == ME_OUT_CLEAN)
		{
			MeterEntry *m = (MeterEntry *) r->meter_tag;

			is->rows_clean++;
			if (!m->stored || r->ts > m->last_ts)
				m->last_ts = r->ts;
			if (!m->stored || r->ts < m->first_ts)
				m->first_ts = r->ts;
			m->stored = true;
			count_day(is, r->ts, false);
			me_rollup_add(is->rollup, r->meter_key, r->channel_id, r->ts, r->kw, r->flags);
		}
		else if (r->outcome == ME_OUT_DUPLICATE)
		{
			is->rows_duplicate++;
			count_day(is, r->ts, true);
		}
		else
		{
			MeQuarantineRow *q = next_quarantine_row(is);
			MemoryContext old = MemoryContextSwitchTo(is->batch_cxt);

			q->file_id = is->file_id;
			q->line_no = r->line_no;
			q->reason = me_reason_code(ME_R_DUPLICATE_CONFLICT);
			/* shortest exact text, as float8out: 0.241, never 0.24100000000000002 */
			q->detail = psprintf("a reading of %s kW for this meter, channel and time was kept; this one is %s kW",
								 float8out_internal(r->other_kw), float8out_internal(r->kw));
			q->meter_id = ((const MeterEntry *) r->meter_tag)->meter_id;
			q->channel = ((const ChannelEntry *) r->channel_tag)->name;
			q->has_ts = true;
			q->ts = r->ts;
			q->value_raw = float8out_internal(r->kw);
			q->unit_raw = "kW";
			q->source = "ingest";
			q->run_id = is->run_id;
			MemoryContextSwitchTo(old);
			remember_conflict(is, r->line_no);
			is->rows_quarantined++;
			is->by_reason[ME_R_DUPLICATE_CONFLICT]++;
		}
	}
	flush_quarantine(is);
	is->nrows -= n;
	memmove(is->rows, is->rows + n, sizeof(MeStoreRow) * is->nrows);
	MemoryContextReset(is->batch_cxt);
}

/* Store the whole batch. */
static void
flush_batch(IngestState *is)
{
	flush_rows(is, is->nrows);
}

/*
 * The batch is full: store it, but keep the readings of its last meter for
 * the next batch, unless that meter fills the batch alone.  A meter's
 * readings then meet in one batch, where a reading repeated a few lines
 * later is found by sorting, and the store can load a new partition
 * without its index (store.c).
 */
static void
flush_full_batch(IngestState *is)
{
	int			n = is->nrows;

	while (n > 0 && is->rows[n - 1].meter_tag == is->rows[is->nrows - 1].meter_tag)
		n--;
	flush_rows(is, n > 0 ? n : is->nrows);
}

/* Reader callback: a valid reading joins the batch. */
static void
on_reading(void *ctx, const MeReading *rd)
{
	IngestState *is = ctx;
	char		key[METER_KEYLEN];
	char		chkey[CHANNEL_KEYLEN];
	bool		found;
	MeterEntry *m;
	ChannelEntry *c;
	MeStoreRow *r;

	m = is->last_meter;
	if (m == NULL || strncmp(m->meter_id, rd->meter_id, rd->meter_len) != 0 ||
		m->meter_id[rd->meter_len] != '\0')
	{
		memset(key, 0, sizeof(key));
		memcpy(key, rd->meter_id, Min(rd->meter_len, (size_t) METER_KEYLEN - 1));
		m = hash_search(is->meters, key, HASH_ENTER, &found);
		if (!found)
		{
			m->meter_key = 0;
			m->stored = false;
			m->interval_s = rd->interval_s;
			is->new_meters = lappend(is->new_meters, m);
		}
		is->last_meter = m;
	}
	c = is->last_channel;
	if (c == NULL || strcmp(c->name, rd->channel) != 0)
	{
		memset(chkey, 0, sizeof(chkey));
		strlcpy(chkey, rd->channel, sizeof(chkey));
		c = hash_search(is->channels, chkey, HASH_ENTER, &found);
		if (!found)
		{
			c->channel_id = 0;
			c->is_signed = rd->signed_channel;
			is->new_channels = lappend(is->new_channels, c);
		}
		is->last_channel = c;
	}
	r = &is->rows[is->nrows];
	r->ts = rd->ts;
	r->kw = rd->kw;
	r->line_no = rd->line_no;
	r->flags = rd->flags;
	r->day = (int32) me_floor_div(rd->ts, USECS_PER_DAY);
	r->meter_tag = m;
	r->channel_tag = c;
	is->nrows++;
	if (is->nrows == is->maxrows)
		flush_full_batch(is);
}

/* Reader callback: an invalid reading becomes a quarantine row. */
static void
on_reject(void *ctx, const MeReject *rj)
{
	IngestState *is = ctx;
	MeQuarantineRow *q = next_quarantine_row(is);

	q->file_id = is->file_id;
	q->line_no = rj->line_no;
	q->reason = me_reason_code(rj->reason);
	q->detail = rj->detail ? batch_text(is, rj->detail, strlen(rj->detail)) : NULL;
	q->meter_id = batch_text(is, rj->meter_id, rj->meter_len);
	q->channel = rj->channel ? batch_text(is, rj->channel, strlen(rj->channel)) : NULL;
	q->has_ts = rj->has_ts;
	q->ts = rj->ts;
	q->ts_raw = batch_text(is, rj->ts_raw, rj->ts_len);
	q->value_raw = batch_text(is, rj->value_raw, rj->value_len);
	q->unit_raw = batch_text(is, rj->unit_raw, rj->unit_len);
	{
		/* keep quarantine rows readable: the first 2 kB of a line is plenty */
		size_t		n = Min(rj->line_len, (size_t) 2048);

		q->raw_line = batch_text(is, rj->line, n);
	}
	q->source = "ingest";
	q->run_id = is->run_id;
	is->rows_quarantined++;
	is->by_reason[rj->reason]++;
	if (is->nquar >= QUARANTINE_FLUSH)
	{
		/* pending readings hold nothing in batch_cxt */
		flush_quarantine(is);
		MemoryContextReset(is->batch_cxt);
	}
}

/* ------------------------------------------------------------ the run */

/* Error context: which file and line were being ingested. */
static void
ingest_error_callback(void *arg)
{
	IngestState *is = arg;

	errcontext("ingesting raw file " INT64_FORMAT " \"%s\" with format \"%s\"",
			   is->file_id, is->file_name, is->format);
}

/*
 * Lock the raw file row; returns its status, name and format (NULL until
 * ingested), and what staging recorded of its bytes.
 */
static char *
lock_raw_file(int64 file_id, char **file_name, char **format, MeRawIdentity *raw)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(file_id)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		sha;

	if (SPI_execute_with_args("SELECT status, file_name, size_bytes, chunk_count, sha256, format"
							  " FROM meter_etl.raw_file WHERE file_id = $1 FOR UPDATE",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not lock raw file");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("raw file " INT64_FORMAT " does not exist", file_id)));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	*file_name = SPI_getvalue(tup, desc, 2);
	*format = SPI_getvalue(tup, desc, 6);
	raw->file_id = file_id;
	raw->size_bytes = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	raw->chunk_count = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	sha = SPI_getbinval(tup, desc, 5, &isnull);
	raw->sha256 = isnull ? NULL : DatumGetByteaPCopy(sha);
	return SPI_getvalue(tup, desc, 1);
}

/* Run a query returning one ingest_run row and hand it back as the result. */
static Datum
return_run(FunctionCallInfo fcinfo, const char *sql, int64 id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};

	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "ingest run not found");
	return PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
}

/* Has the file an earlier successful run?  (reingest sets it staged again) */
static bool
ingested_before(int64 file_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(file_id)};

	if (SPI_execute_with_args("SELECT 1 FROM meter_etl.ingest_run WHERE file_id = $1 AND status = 'ok' LIMIT 1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the ingest runs of raw file " INT64_FORMAT, file_id);
	return SPI_processed > 0;
}

/* Insert the run row (status running) and return its id. */
static int64
start_run(int64 file_id, const char *format)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(file_id), CStringGetTextDatum(format)};
	bool		isnull;

	if (SPI_execute_with_args("INSERT INTO meter_etl.ingest_run (file_id, format, status)"
							  " VALUES ($1, $2, 'running') RETURNING run_id",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record the ingest run");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Record the final accounting of the run and mark the file ingested. */
static void
finish_run(IngestState *is, const MeReaderStats *st)
{
	StringInfoData reasons;
	Oid			argtypes[10] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID,
	INT8OID, INT8OID, JSONBOID, INT8OID};
	Datum		args[10];
	bool		first = true;

	initStringInfo(&reasons);
	appendStringInfoChar(&reasons, '{');
	for (int r = 1; r < ME_R__COUNT; r++)
		if (is->by_reason[r] > 0)
		{
			appendStringInfo(&reasons, "%s\"%s\": " INT64_FORMAT, first ? "" : ", ",
							 me_reason_code((MeReason) r), is->by_reason[r]);
			first = false;
		}
	appendStringInfoChar(&reasons, '}');
	args[0] = Int64GetDatum(is->run_id);
	args[1] = Int64GetDatum(st->bytes);
	args[2] = Int64GetDatum(st->lines_read);
	args[3] = Int64GetDatum(st->blank_lines);
	args[4] = Int64GetDatum(st->readings_read);
	args[5] = Int64GetDatum(is->rows_clean);
	args[6] = Int64GetDatum(is->rows_quarantined);
	args[7] = Int64GetDatum(is->rows_duplicate);
	args[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum(reasons.data));
	args[9] = Int64GetDatum(is->file_id);
	if (SPI_execute_with_args("UPDATE meter_etl.ingest_run SET status = 'ok', finished_at = clock_timestamp(),"
							  " bytes_read = $2, lines_read = $3, blank_lines = $4, readings_read = $5,"
							  " rows_clean = $6, rows_quarantined = $7, rows_duplicate = $8,"
							  " quarantined_by_reason = $9 WHERE run_id = $1",
							  9, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the ingest accounting");
	argtypes[1] = TEXTOID;
	args[0] = Int64GetDatum(is->file_id);
	args[1] = CStringGetTextDatum(is->format);
	if (SPI_execute_with_args("UPDATE meter_etl.raw_file SET status = 'ingested', format = $2,"
							  " last_error = NULL WHERE file_id = $1",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not mark the raw file ingested");
}

/*
 * A file without a single reading is accounted for like any other, but a
 * vendor's empty or header-only delivery usually means something went wrong
 * upstream: say so (WARNING) and raise an alert, so that it is not mistaken
 * for a quiet day.
 */
static void
warn_no_readings(IngestState *is, const char *file_name, const MeReaderStats *st)
{
	Oid			argtypes[5] = {TEXTOID, INT8OID, TEXTOID, INT8OID, INT8OID};
	Datum		args[5];

	ereport(WARNING,
			(errmsg("raw file " INT64_FORMAT " (\"%s\") held no readings", is->file_id, file_name),
			 errdetail("%lld lines (%lld bytes) were read as format \"%s\".",
					   (long long) st->lines_read, (long long) st->bytes, is->format),
			 errhint("Check that the delivery is complete and that the format matches its layout.")));
	args[0] = CStringGetTextDatum(file_name);
	args[1] = Int64GetDatum(is->file_id);
	args[2] = CStringGetTextDatum(is->format);
	args[3] = Int64GetDatum(st->lines_read);
	args[4] = Int64GetDatum(st->bytes);
	if (SPI_execute_with_args("SELECT meter_etl.raise_alert('empty_file', 'warning',"
							  " pg_catalog.format('raw file %s (%s) held no readings', $2, $1),"
							  " pg_catalog.jsonb_build_object('format', $3, 'lines_read', $4, 'bytes', $5),"
							  " NULL, $2)",
							  5, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not raise the empty-file alert");
}

/*
 * Record each meter's newest stored reading (freshness), the span of what
 * this run stored per meter (what incremental detection recomputes) and the
 * dates those spans cover (what the archive must write again): three
 * set-based statements per file.
 */
static void
update_freshness(IngestState *is)
{
	HASH_SEQ_STATUS seq;
	MeterEntry *m;
	long		n = hash_get_num_entries(is->meters);
	Datum	   *keys = palloc(sizeof(Datum) * (n + 1));
	Datum	   *first = palloc(sizeof(Datum) * (n + 1));
	Datum	   *last = palloc(sizeof(Datum) * (n + 1));
	int			k = 0;
	Oid			argtypes[4] = {INT4ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, INT8OID};
	Datum		args[4];

	hash_seq_init(&seq, is->meters);
	while ((m = hash_seq_search(&seq)) != NULL)
		if (m->stored)
		{
			keys[k] = Int32GetDatum(m->meter_key);
			first[k] = TimestampTzGetDatum(m->first_ts);
			last[k++] = TimestampTzGetDatum(m->last_ts);
		}
	if (k == 0)
		return;
	args[0] = PointerGetDatum(construct_array(keys, k, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(first, k, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(last, k, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = Int64GetDatum(is->run_id);
	if (SPI_execute_with_args("UPDATE meter_etl.meter m SET last_reading_at = u.b"
							  " FROM unnest($1, $2, $3) AS u(k, a, b)"
							  " WHERE m.meter_key = u.k AND (m.last_reading_at IS NULL OR m.last_reading_at < u.b)",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record meter freshness");
	if (SPI_execute_with_args("INSERT INTO meter_etl.ingest_extent (ingest_run_id, meter_key, ts_min, ts_max)"
							  " SELECT $4, u.k, u.a, u.b FROM unnest($1, $2, $3) AS u(k, a, b)",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the extent of the ingest");
	/* the UTC dates of those spans: their archived files miss this run */
	if (me_schema_has("archive_change", NULL) &&
		SPI_execute_with_args("INSERT INTO meter_etl.archive_change (day, source)"
							  " SELECT DISTINCT d.lo + g, 'ingest'"
							  "   FROM (SELECT DISTINCT (u.a AT TIME ZONE 'UTC')::date AS lo,"
							  "                         (u.b AT TIME ZONE 'UTC')::date AS hi"
							  "           FROM unnest($2, $3) AS u(a, b)) d,"
							  "        LATERAL pg_catalog.generate_series(0, d.hi - d.lo) AS g",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the dates the ingest changed");
}

/*
 * Record per UTC day the readings this run stored and the duplicates it
 * dropped (meter_etl.ingest_day: the scorecard's duplicates by day).  A 0.1
 * schema, before ALTER EXTENSION UPDATE, has no such table.
 */
static void
record_days(IngestState *is)
{
	HASH_SEQ_STATUS seq;
	DayEntry   *e;
	long		n = hash_get_num_entries(is->days);
	Datum	   *days;
	Datum	   *clean;
	Datum	   *dup;
	int			k = 0;
	Oid			argtypes[4] = {INT8OID, DATEARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		args[4];

	if (n == 0 || !me_schema_has("ingest_day", NULL))
		return;
	days = palloc(sizeof(Datum) * n);
	clean = palloc(sizeof(Datum) * n);
	dup = palloc(sizeof(Datum) * n);
	hash_seq_init(&seq, is->days);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		days[k] = DateADTGetDatum(e->day);
		clean[k] = Int64GetDatum(e->clean);
		dup[k++] = Int64GetDatum(e->duplicate);
	}
	args[0] = Int64GetDatum(is->run_id);
	args[1] = PointerGetDatum(construct_array(days, k, DATEOID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(clean, k, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = PointerGetDatum(construct_array(dup, k, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_with_args("INSERT INTO meter_etl.ingest_day (ingest_run_id, day, rows_clean, rows_duplicate)"
							  " SELECT $1, u.d, u.c, u.x FROM unnest($2, $3, $4) AS u(d, c, x)",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the ingest's readings per day");
}

/* Create the hash tables and buffers of a run. */
static void
init_state(IngestState *is)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = METER_KEYLEN;
	ctl.entrysize = sizeof(MeterEntry);
	ctl.hcxt = CurrentMemoryContext;
	is->meters = hash_create("meter_etl ingest meters", 1024, &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = CHANNEL_KEYLEN;
	ctl.entrysize = sizeof(ChannelEntry);
	is->channels = hash_create("meter_etl ingest channels", 16, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(DayEntry);
	is->days = hash_create("meter_etl ingest days", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	is->maxrows = me_batch_rows;
	is->rows = palloc(sizeof(MeStoreRow) * is->maxrows);
	is->batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl ingest batch",
										  ALLOCSET_DEFAULT_SIZES);
}

/*
 * Publish progress in pg_stat_progress_copy (and v_ingest_progress).  The
 * command is started again each time: creating a partition builds an index,
 * and that ends any progress report of this backend.
 */
static void
report_progress(IngestState *is, int64 bytes)
{
	const int	idx[6] = {PROGRESS_COPY_COMMAND, PROGRESS_COPY_TYPE, PROGRESS_COPY_BYTES_TOTAL,
		PROGRESS_COPY_BYTES_PROCESSED, PROGRESS_COPY_TUPLES_PROCESSED, PROGRESS_COPY_TUPLES_EXCLUDED};
	int64		val[6];

	val[0] = PROGRESS_COPY_COMMAND_FROM;
	val[1] = PROGRESS_COPY_TYPE_CALLBACK;
	val[2] = is->size;
	val[3] = bytes;
	val[4] = is->rows_clean;
	val[5] = is->rows_quarantined + is->rows_duplicate;
	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, me_store_relid(is->store));
	pgstat_progress_update_multi_param(6, idx, val);
}

/* Fail the ingest for a file the profile cannot read (a file-level error). */
static void
file_does_not_fit(IngestState *is, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("raw file " INT64_FORMAT " does not fit format \"%s\"", is->file_id, is->format),
			 errdetail("%s.", why),
			 errhint("Check the header, or pass the right format to meter_etl.ingest().")));
}

/* Feed the file's chunks through a reader in this backend. */
static void
read_file_inline(IngestState *is, MeReader *reader, MeReaderStats *stats)
{
	MeChunkReader cr;
	const char *data;
	size_t		len;
	bool		ok = true;

	me_chunks_open_hashed(&cr, is->file_id);
	while (ok && me_chunks_next(&cr, &data, &len))
	{
		CHECK_FOR_INTERRUPTS();
		ok = me_reader_feed(reader, data, len);
		report_progress(is, me_reader_stats(reader)->bytes);
	}
	/* altered bytes are the error to report, before any format error */
	me_chunks_drain(&cr);
	me_chunks_verify(&cr, &is->raw);
	me_chunks_close(&cr);
	if (ok)
		ok = me_reader_finish(reader);
	if (!ok)
		file_does_not_fit(is, me_reader_error(reader));
	*stats = *me_reader_stats(reader);
}

/*
 * The same with the reader in a parser thread: this backend fetches chunks
 * and stores readings while the thread parses.  Everything the thread
 * shares is malloc'd, and any error here stops and joins it first.
 */
static bool
read_file_threaded(IngestState *is, const MeReaderCallbacks *cb, const MeRules *rules,
				   const MeZone *zone, const char *stem, MeReaderStats *stats)
{
	MeParser   *volatile pp = me_parser_start(&is->prof->p, rules, zone, stem,
											  (size_t) me_max_line_bytes);
	char		err[512];
	bool		ok;
	bool		oom;

	if (pp == NULL)
		return false;			/* no thread: the caller parses inline */
	PG_TRY();
	{
		MeChunkReader cr;
		const char *data = NULL;
		size_t		len = 0;
		bool		more = true;
		bool		pending = false;
		int64		pushed = 0;
		int			rc = 0;

		me_chunks_open_hashed(&cr, is->file_id);
		while (rc != -1)
		{
			bool		busy = false;

			CHECK_FOR_INTERRUPTS();
			if (more && !pending)
			{
				pending = me_chunks_next(&cr, &data, &len);
				if (!pending)
				{
					more = false;
					me_parser_end_input(pp);
				}
			}
			if (pending && me_parser_push(pp, data, len, 0))
			{
				pending = false;
				pushed += (int64) len;
				busy = true;
			}
			rc = me_parser_next(pp, busy ? 0 : 20, cb, is);
			if (rc == 1)
				report_progress(is, pushed);
		}
		/* altered bytes are the error to report, before any format error */
		me_chunks_drain(&cr);
		me_chunks_verify(&cr, &is->raw);
		me_chunks_close(&cr);
	}
	PG_CATCH();
	{
		me_parser_stop(pp);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ok = me_parser_result(pp, stats, err, sizeof(err), &oom);
	me_parser_stop(pp);
	if (!ok && oom)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("The parser thread could not allocate memory while reading raw file " INT64_FORMAT ".",
						   is->file_id),
				 errhint("Retry when the server has more memory free, or set meter_etl.parallel_parse = off.")));
	if (!ok)
		file_does_not_fit(is, err);
	return true;
}

/*
 * The channels' tolerances below zero (meter_etl.channel), for the rules.
 * negative_tolerance_kw came with 0.2: read through to_jsonb, so that this
 * library also serves a 0.1 schema until ALTER EXTENSION meter_etl UPDATE
 * (no column there: no tolerance, every negative quarantined as before).
 * Connected to SPI; the array lives as long as the caller's context.
 */
static void
load_negative_tolerances(MeRules *rules)
{
	MeNegTolerance *t;

	if (SPI_execute("SELECT name, kw FROM (SELECT c.name, (pg_catalog.to_jsonb(c)"
					" OPERATOR(pg_catalog.->>) 'negative_tolerance_kw')::pg_catalog.float8 AS kw"
					" FROM meter_etl.channel c) t WHERE kw > 0 ORDER BY name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the channels' negative tolerances");
	t = palloc0(sizeof(MeNegTolerance) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		t[i].channel = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		t[i].kw = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											   2, &isnull));
	}
	rules->neg_tolerance = t;
	rules->nneg_tolerance = (int) SPI_processed;
	SPI_freetuptable(SPI_tuptable);
}

/* The file name without directory and extension (meter id of single-meter layouts). */
static char *
file_stem(const char *name)
{
	const char *base = strrchr(name, '/');
	char	   *stem = pstrdup(base ? base + 1 : name);
	char	   *dot = strrchr(stem, '.');

	if (dot != NULL && dot != stem)
		*dot = '\0';
	return stem;
}

/* SQL: ingest(file_id, format) */
Datum
meter_etl_ingest(PG_FUNCTION_ARGS)
{
	IngestState is;
	ErrorContextCallback errcb;
	MeReaderCallbacks cb = {on_reading, on_reject};
	MeRules		rules;
	MeZone		zone;
	MeReaderStats stats;
	char	   *status;
	char	   *file_name;
	char	   *format;
	char	   *done_format;
	Datum		result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("file_id must not be null")));
	/* the reader checks and keeps UTF-8; other server encodings would store it unconverted */
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("meter_etl.ingest requires a UTF8 database"),
				 errdetail("This database uses encoding %s.", GetDatabaseEncodingName()),
				 errhint("Create the database with ENCODING 'UTF8'.")));
	memset(&is, 0, sizeof(is));
	is.file_id = PG_GETARG_INT64(0);
	format = PG_ARGISNULL(1) ? "auto" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	SPI_connect();
	status = lock_raw_file(is.file_id, &file_name, &done_format, &is.raw);
	if (strcmp(status, "ingested") == 0)
	{
		/* the same file read another way is reprocessing, not a repeat */
		if (strcmp(format, "auto") != 0 && done_format != NULL && strcmp(format, done_format) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("raw file " INT64_FORMAT " was already ingested with format \"%s\"",
							is.file_id, done_format),
					 errdetail("Ingesting an ingested file again changes nothing, so format \"%s\" would not be applied.",
							   format),
					 errhint("Call meter_etl.reingest(" INT64_FORMAT ", %s) to remove what the file stored and ingest it again.",
							 is.file_id, quote_literal_cstr(format))));
		ereport(NOTICE,
				(errmsg("raw file " INT64_FORMAT " was already ingested; nothing changed", is.file_id),
				 errhint("The result is the accounting of the earlier run.")));
		result = return_run(fcinfo, "SELECT * FROM meter_etl.ingest_run WHERE file_id = $1"
							" AND status = 'ok' ORDER BY run_id DESC LIMIT 1", is.file_id);
		SPI_finish();
		PG_RETURN_DATUM(result);
	}
	if (strcmp(status, "receiving") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("raw file " INT64_FORMAT " is still being received", is.file_id),
				 errhint("Call meter_etl.stage_finish() first.")));
	if (strcmp(format, "auto") == 0)
		format = me_detect_format(is.file_id);
	is.format = format;
	is.file_name = file_name;
	is.prof = me_load_profile(format);
	if (!me_zone_setup(&zone, is.prof->time_zone))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" of format \"%s\" is not recognized",
						is.prof->time_zone, format)));
	me_rules_from_gucs(&rules);
	load_negative_tolerances(&rules);
	init_state(&is);
	is.again = ingested_before(is.file_id);
	is.run_id = start_run(is.file_id, format);
	errcb.callback = ingest_error_callback;
	errcb.arg = &is;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	is.store = me_store_begin(is.file_id, is.run_id);
	is.rollup = me_rollup_begin(is.prof->time_zone);
	is.size = is.raw.size_bytes;
	report_progress(&is, 0);
	if (!me_parallel_parse ||
		!read_file_threaded(&is, &cb, &rules, &zone, file_stem(file_name), &stats))
	{
		MeReader   *reader = me_reader_create(&is.prof->p, &rules, &zone, file_stem(file_name),
											  &cb, &is, (size_t) me_max_line_bytes);

		read_file_inline(&is, reader, &stats);
		me_reader_free(reader);
	}
	flush_batch(&is);
	me_store_end(is.store);
	me_rollup_end(is.rollup);
	fill_conflict_lines(&is);
	pgstat_progress_end_command();
	update_freshness(&is);
	record_days(&is);
	finish_run(&is, &stats);
	if (stats.readings_read == 0)
		warn_no_readings(&is, file_name, &stats);
	error_context_stack = errcb.previous;
	result = return_run(fcinfo, "SELECT * FROM meter_etl.ingest_run WHERE run_id = $1", is.run_id);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* SQL: detect_format(file_id) */
Datum
meter_etl_detect_format(PG_FUNCTION_ARGS)
{
	int64		file_id = PG_GETARG_INT64(0);
	char	   *format;

	SPI_connect();
	me_raw_file_must_exist(file_id);
	format = me_detect_format(file_id);
	format = MemoryContextStrdup(TopTransactionContext, format);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(format));
}
