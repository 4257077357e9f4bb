/*
 * quarantine.c - the quarantine table writer and the reading_guard trigger
 *
 * reading_guard is the BEFORE INSERT OR UPDATE row trigger on
 * meter_etl.reading.  It applies the rules of rules.c to rows arriving by
 * any path other than ingest (INSERT, COPY, UPDATE): an invalid row is
 * written to meter_etl.quarantine with its reason and skipped.  The valid
 * path costs no SPI: meters and channels are cached per transaction.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "core/me_time.h"
#include "pg/guc.h"
#include "quarantine.h"

PG_FUNCTION_INFO_V1(meter_etl_reading_guard);

#define QCOLS 13

/* Build a one-dimensional array from datums with nulls. */
static Datum
make_array(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, elemtype,
											  typlen, typbyval, typalign));
}

/* A text datum, or a null flag for NULL input. */
static inline Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * Insert quarantine rows with one statement (arrays + unnest).  The caller
 * is connected to SPI.
 */
void
me_quarantine_insert(const MeQuarantineRow *rows, int n)
{
	static SPIPlanPtr plan = NULL;
	static const Oid elemtypes[QCOLS] = {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		args[QCOLS];
	Datum	   *vals;
	bool	   *nulls;
	int			ret;

	if (n == 0)
		return;
	if (plan == NULL)
	{
		Oid			argtypes[QCOLS];

		for (int c = 0; c < QCOLS; c++)
			argtypes[c] = get_array_type(elemtypes[c]);
		plan = SPI_prepare("INSERT INTO meter_etl.quarantine (file_id, line_no, reason, detail,"
						   " meter_id, channel, ts, ts_raw, value_raw, unit_raw, raw_line, source, run_id)"
						   " SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
						   QCOLS, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
	}
	vals = palloc(sizeof(Datum) * n);
	nulls = palloc(sizeof(bool) * n);
	for (int c = 0; c < QCOLS; c++)
	{
		for (int i = 0; i < n; i++)
		{
			const MeQuarantineRow *q = &rows[i];

			nulls[i] = false;
			switch (c)
			{
				case 0:
					nulls[i] = q->file_id == 0;
					vals[i] = Int64GetDatum(q->file_id);
					break;
				case 1:
					nulls[i] = q->line_no == 0;
					vals[i] = Int64GetDatum(q->line_no);
					break;
				case 2:
					vals[i] = text_or_null(q->reason, &nulls[i]);
					break;
				case 3:
					vals[i] = text_or_null(q->detail, &nulls[i]);
					break;
				case 4:
					vals[i] = text_or_null(q->meter_id, &nulls[i]);
					break;
				case 5:
					vals[i] = text_or_null(q->channel, &nulls[i]);
					break;
				case 6:
					nulls[i] = !q->has_ts;
					vals[i] = TimestampTzGetDatum(q->ts);
					break;
				case 7:
					vals[i] = text_or_null(q->ts_raw, &nulls[i]);
					break;
				case 8:
					vals[i] = text_or_null(q->value_raw, &nulls[i]);
					break;
				case 9:
					vals[i] = text_or_null(q->unit_raw, &nulls[i]);
					break;
				case 10:
					vals[i] = text_or_null(q->raw_line, &nulls[i]);
					break;
				case 11:
					vals[i] = text_or_null(q->source, &nulls[i]);
					break;
				case 12:
					nulls[i] = q->run_id == 0;
					vals[i] = Int64GetDatum(q->run_id);
					break;
			}
		}
		args[c] = make_array(vals, nulls, n, elemtypes[c]);
	}
	ret = SPI_execute_plan(plan, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert quarantine rows: %s", SPI_result_code_string(ret));
	pfree(vals);
	pfree(nulls);
}

/* ------------------------------------------------------------ trigger caches */

typedef struct MeterCacheEntry
{
	int32		meter_key;
	bool		found;
	int32		interval_s;
	char	   *meter_id;
} MeterCacheEntry;

typedef struct ChannelCacheEntry
{
	int16		channel_id;
	bool		found;
	bool		is_signed;
	double		neg_tolerance_kw;	/* 0: none */
	char	   *name;
} ChannelCacheEntry;

static HTAB *meter_cache = NULL;
static HTAB *channel_cache = NULL;
static LocalTransactionId cache_lxid = InvalidLocalTransactionId;
static int	notices_sent = 0;

/* Caches live for one transaction, so changes to meter/channel are seen next time. */
static void
reset_caches_if_new_xact(void)
{
	HASHCTL		ctl;

	if (cache_lxid == MyProc->lxid && meter_cache != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(MeterCacheEntry);
	ctl.hcxt = TopTransactionContext;
	meter_cache = hash_create("meter_etl meter cache", 256, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(int16);
	ctl.entrysize = sizeof(ChannelCacheEntry);
	channel_cache = hash_create("meter_etl channel cache", 16, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	cache_lxid = MyProc->lxid;
	notices_sent = 0;
}

/* Run a one-row lookup by key into ncols text columns; returns false when no row. */
static bool
lookup_row(const char *sql, Oid keytype, Datum key, char **cols, int ncols)
{
	Oid			argtypes[1] = {keytype};
	Datum		args[1] = {key};
	bool		found;

	SPI_connect();
	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "lookup failed: %s", sql);
	found = SPI_processed == 1;
	if (found)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		for (int i = 0; i < ncols; i++)
			cols[i] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return found;
}

/* The cached meter for a key (entry->found false if there is none). */
static MeterCacheEntry *
get_meter(int32 meter_key)
{
	bool		hit;
	MeterCacheEntry *e = hash_search(meter_cache, &meter_key, HASH_ENTER, &hit);

	if (!hit)
	{
		char	   *col[2] = {NULL, NULL};

		e->found = lookup_row("SELECT meter_id, interval_s FROM meter_etl.meter WHERE meter_key = $1",
							  INT4OID, Int32GetDatum(meter_key), col, 2);
		e->meter_id = col[0];
		e->interval_s = e->found ? pg_strtoint32(col[1]) : 0;
	}
	return e;
}

/*
 * The cached channel for an id.  negative_tolerance_kw came with 0.2: read
 * through to_jsonb, so that a 0.1 schema (no column) has no tolerance.
 */
static ChannelCacheEntry *
get_channel(int16 channel_id)
{
	bool		hit;
	ChannelCacheEntry *e = hash_search(channel_cache, &channel_id, HASH_ENTER, &hit);

	if (!hit)
	{
		char	   *col[3] = {NULL, NULL, NULL};

		e->found = lookup_row("SELECT name, signed::text, pg_catalog.to_jsonb(c)"
							  " OPERATOR(pg_catalog.->>) 'negative_tolerance_kw'"
							  " FROM meter_etl.channel c WHERE channel_id = $1",
							  INT2OID, Int16GetDatum(channel_id), col, 3);
		e->name = col[0];
		e->is_signed = e->found && strcmp(col[1], "true") == 0;
		e->neg_tolerance_kw = e->found && col[2] != NULL ?
			DatumGetFloat8(DirectFunctionCall1(float8in, CStringGetDatum(col[2]))) : 0;
	}
	return e;
}

/* Column number of a reading column in this relation (partitions may differ). */
static int
attnum_of(TupleDesc desc, const char *name)
{
	int			n = SPI_fnumber(desc, name);

	if (n <= 0)
		elog(ERROR, "column \"%s\" not found in table with reading_guard trigger", name);
	return n;
}

/* Fetch a non-null attribute or report the reason for a null. */
static Datum
getattr(HeapTuple tup, TupleDesc desc, int attnum, bool *isnull)
{
	return heap_getattr(tup, attnum, desc, isnull);
}

/* Quarantine a rejected row and tell the user (a few times per transaction). */
static void
quarantine_row(MeReason reason, const char *detail, HeapTuple tup, TupleDesc desc,
			   const char *meter_id, const char *channel)
{
	MeQuarantineRow q;
	bool		isnull;
	Datum		d;

	memset(&q, 0, sizeof(q));
	q.reason = me_reason_code(reason);
	q.detail = detail;
	q.source = "trigger";
	q.meter_id = meter_id;
	q.channel = channel;
	d = getattr(tup, desc, attnum_of(desc, "ts"), &isnull);
	q.has_ts = !isnull;
	q.ts = isnull ? 0 : DatumGetTimestampTz(d);
	d = getattr(tup, desc, attnum_of(desc, "kw"), &isnull);
	q.value_raw = isnull ? NULL : DatumGetCString(DirectFunctionCall1(float8out, d));
	d = getattr(tup, desc, attnum_of(desc, "file_id"), &isnull);
	q.file_id = isnull ? 0 : DatumGetInt32(d);
	d = getattr(tup, desc, attnum_of(desc, "line_no"), &isnull);
	q.line_no = isnull ? 0 : DatumGetInt32(d);
	SPI_connect();
	me_quarantine_insert(&q, 1);
	SPI_finish();
	if (notices_sent < 10)
		ereport(NOTICE,
				(errmsg("reading quarantined: %s", q.reason),
				 detail ? errdetail_internal("%s", detail) : 0,
				 notices_sent == 9 ?
				 errhint("Further quarantine notices in this transaction are suppressed; see meter_etl.quarantine.") : 0));
	notices_sent++;
}

/*
 * Validate one row; returns the tuple, snapped onto the grid or a small
 * negative of a generation channel set to 0 (flagged), or NULL to skip it.
 */
static HeapTuple
guard_tuple(Relation rel, HeapTuple tup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			a_ts = attnum_of(desc, "ts");
	int			a_kw = attnum_of(desc, "kw");
	int			a_flags = attnum_of(desc, "flags");
	bool		n_ts,
				n_kw,
				n_meter,
				n_chan,
				n_flags;
	Datum		ts = getattr(tup, desc, a_ts, &n_ts);
	Datum		kw = getattr(tup, desc, a_kw, &n_kw);
	Datum		mk = getattr(tup, desc, attnum_of(desc, "meter_key"), &n_meter);
	Datum		ch = getattr(tup, desc, attnum_of(desc, "channel_id"), &n_chan);
	Datum		fl = getattr(tup, desc, a_flags, &n_flags);
	MeterCacheEntry *m;
	ChannelCacheEntry *c;
	MeRules		rules;
	int64		t;
	double		v = 0;
	bool		snapped;
	bool		clipped = false;
	MeReason	reason;

	/* NOT NULL constraints report nulls with their own errors */
	if (n_ts || n_kw || n_meter || n_chan)
		return tup;
	reset_caches_if_new_xact();
	m = get_meter(DatumGetInt32(mk));
	c = get_channel(DatumGetInt16(ch));
	if (!m->found)
	{
		quarantine_row(ME_R_UNKNOWN_METER, psprintf("meter_key %d is not in meter_etl.meter",
													DatumGetInt32(mk)),
					   tup, desc, NULL, c->found ? c->name : NULL);
		return NULL;
	}
	if (!c->found)
	{
		quarantine_row(ME_R_UNKNOWN_CHANNEL, psprintf("channel_id %d is not in meter_etl.channel",
													  DatumGetInt16(ch)),
					   tup, desc, m->meter_id, NULL);
		return NULL;
	}
	me_rules_from_gucs(&rules);
	t = DatumGetTimestampTz(ts);
	reason = me_check_ts(&t, (int64) m->interval_s * USECS_PER_SEC, &rules, &snapped);
	if (reason == ME_OK && snapped &&
		me_floor_div(t, USECS_PER_DAY) != me_floor_div(DatumGetTimestampTz(ts), USECS_PER_DAY))
		reason = ME_R_OFF_GRID_TIMESTAMP;	/* snapping must not change the partition */
	if (reason == ME_OK)
	{
		v = DatumGetFloat8(kw);
		reason = me_check_kw(&v, c->is_signed, c->neg_tolerance_kw, &rules, &clipped);
	}
	if (reason != ME_OK)
	{
		quarantine_row(reason, NULL, tup, desc, m->meter_id, c->name);
		return NULL;
	}
	if (snapped || clipped)
	{
		int			cols[3];
		Datum		vals[3];
		bool		nulls[3] = {false, false, false};
		int			n = 0;
		int16		flags = n_flags ? 0 : DatumGetInt16(fl);

		if (snapped)
		{
			cols[n] = a_ts;
			vals[n++] = TimestampTzGetDatum(t);
			flags |= ME_FLAG_TIME_ADJUSTED;
		}
		if (clipped)
		{
			cols[n] = a_kw;
			vals[n++] = Float8GetDatum(v);
			flags |= ME_FLAG_EDITED;
		}
		cols[n] = a_flags;
		vals[n++] = Int16GetDatum(flags);
		tup = heap_modify_tuple_by_cols(tup, desc, n, cols, vals, nulls);
	}
	return tup;
}

/*
 * Does an UPDATE leave meter, channel, time and value as they were?  Then
 * the rules have nothing new to judge (detection sets flags this way), and
 * a reading accepted under earlier settings must not be quarantined now.
 */
static bool
same_reading(Relation rel, HeapTuple oldtup, HeapTuple newtup)
{
	static const char *const cols[4] = {"ts", "kw", "meter_key", "channel_id"};
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < 4; i++)
	{
		int			a = attnum_of(desc, cols[i]);
		bool		n1,
					n2;
		Datum		d1 = getattr(oldtup, desc, a, &n1);
		Datum		d2 = getattr(newtup, desc, a, &n2);

		if (n1 || n2 || !datumIsEqual(d1, d2, TupleDescAttr(desc, a - 1)->attbyval,
									  TupleDescAttr(desc, a - 1)->attlen))
			return false;
	}
	return true;
}

/* BEFORE INSERT OR UPDATE row trigger on meter_etl.reading. */
Datum
meter_etl_reading_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	HeapTuple	tup;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "reading_guard: not called by trigger manager");
	td = (TriggerData *) fcinfo->context;
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BEFORE(td->tg_event))
		elog(ERROR, "reading_guard: must be fired before insert or update, for each row");
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		tup = td->tg_newtuple;
		/* flags (or lineage) only: the reading itself was validated on its way in */
		if (same_reading(td->tg_relation, td->tg_trigtuple, tup))
			return PointerGetDatum(tup);
	}
	else if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		tup = td->tg_trigtuple;
	else
		elog(ERROR, "reading_guard: must be fired by insert or update");
	return PointerGetDatum(guard_tuple(td->tg_relation, tup));
}
