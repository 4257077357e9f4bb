/*
 * store.c - batched writes into the clean store, in the style of COPY
 *
 * A batch of validated readings is sorted by (day, meter, channel, time),
 * de-duplicated in memory, and written partition by partition with
 * table_multi_insert and a bulk-insert state, as COPY does.  Index entries
 * go in with a partial uniqueness check (the mode deferred constraints
 * use): a reading whose key is already stored does not raise an error but
 * comes back as a possible conflict.  Those rare rows are removed again
 * and compared with the stored reading: equal values are duplicates,
 * different values are duplicate_conflict.  The common path therefore
 * costs one index insertion per row and no extra lookups.
 *
 * A day partition that this very transaction created (the common case: a
 * file brings a new day) is loaded the way pg_restore loads a table: rows
 * first, index afterwards.  Nobody else can see such a partition, so the
 * only possible key collisions are within this file.  Each batch is sorted
 * and de-duplicated in memory; across batches, the span of times already
 * written is kept per series (meter and channel), and a batch whose times
 * lie wholly before or after its series' span cannot collide.  Head-end
 * files, grouped by meter, newest or oldest first, pass this test batch
 * after batch (the ingest keeps a meter's readings in one batch).  The
 * index is then built once, by a sort, when the store is closed.  When a
 * batch could collide, the index is built at that point and the partition
 * continues on the checked path above.  Building an index from sorted heap
 * tuples costs a fraction of inserting the same entries one by one (see
 * make bench).
 *
 * A possible conflict whose stored reading came from another file and has
 * the same value is that file's reading delivered again: its key, line and
 * flags go to meter_etl.file_duplicate, so that reingesting the other
 * file keeps the reading as this file's (15_reingest.sql).  Only this rare
 * path writes there; the common one is unchanged.
 *
 * The ingest path applies the guard trigger's rules itself (rules.c), so
 * the row trigger is not fired here; every other path goes through it.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/execPartition.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "pg/guc.h"
#include "pg/meter_etl.h"
#include "store.h"

#define STORE_SLOTS 1000		/* rows per table_multi_insert call, as COPY */
#define NCOLS 7

/* Slots and column positions for one partition. */
typedef struct PartBuf
{
	ResultRelInfo *rri;
	TupleTableSlot *slots[STORE_SLOTS];
	AttrNumber	att[NCOLS];		/* ts, kw, file_id, line_no, meter_key, channel_id, flags */
	int			natts;
} PartBuf;

/* Key of one series (meter and channel) in a deferred partition. */
typedef struct SeriesKey
{
	int32		meter_key;
	int16		channel_id;
} SeriesKey;

/* The span of times written so far for one series of a deferred partition. */
typedef struct SeriesSpan
{
	SeriesKey	key;
	int64		min_ts;
	int64		max_ts;
} SeriesSpan;

/*
 * A partition written by this store.  While "deferred", its index is not
 * maintained: it is built once by build_index.  spans says which times of
 * which series are in it, so that a batch can be shown not to collide.
 */
typedef struct DeferredPart
{
	Oid			relid;
	bool		deferred;
	HTAB	   *spans;			/* SeriesKey -> SeriesSpan */
} DeferredPart;

struct MeStore
{
	int64		file_id;
	int64		run_id;			/* the ingest run, for file_duplicate */
	bool		note_copies;	/* file_duplicate exists (not on a 0.1 schema) */
	Oid			relid;
	Relation	rel;
	EState	   *estate;
	ModifyTableState *mtstate;
	ResultRelInfo *root;
	PartitionTupleRouting *proute;
	TupleTableSlot *rootslot;
	AttrNumber	rootatt[NCOLS];
	BulkInsertState bistate;
	List	   *partbufs;
	MemoryContext cxt;			/* lives as long as the store */
	int32	   *known_days;		/* days known to have a partition */
	int			nknown;
	int			capknown;
	List	   *parts;			/* DeferredPart for every partition written */
};

static const char *const colnames[NCOLS] = {
	"ts", "kw", "file_id", "line_no", "meter_key", "channel_id", "flags"
};

/* Attribute numbers of our columns in a relation (partitions may differ). */
static void
map_columns(Relation rel, AttrNumber *att)
{
	for (int c = 0; c < NCOLS; c++)
	{
		att[c] = get_attnum(RelationGetRelid(rel), colnames[c]);
		if (att[c] == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" missing from \"%s\"", colnames[c],
				 RelationGetRelationName(rel));
	}
}

/* Open the parent and set up partition routing, as COPY FROM does. */
static void
store_open(MeStore *st)
{
	RangeTblEntry *rte;
	MemoryContext old = MemoryContextSwitchTo(st->cxt);

	st->rel = table_open(st->relid, RowExclusiveLock);
	st->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = st->relid;
	rte->relkind = st->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(st->estate, list_make1(rte));
	st->root = makeNode(ResultRelInfo);
	ExecInitResultRelation(st->estate, st->root, 1);
	st->mtstate = makeNode(ModifyTableState);
	st->mtstate->ps.plan = NULL;
	st->mtstate->ps.state = st->estate;
	st->mtstate->operation = CMD_INSERT;
	st->mtstate->mt_nrels = 1;
	st->mtstate->resultRelInfo = st->root;
	st->mtstate->rootResultRelInfo = st->root;
	st->proute = ExecSetupPartitionTupleRouting(st->estate, st->rel);
	st->rootslot = table_slot_create(st->rel, &st->estate->es_tupleTable);
	map_columns(st->rel, st->rootatt);
	st->bistate = GetBulkInsertState();
	st->partbufs = NIL;
	MemoryContextSwitchTo(old);
}

/* Close everything store_open opened (before DDL on the parent, and at the end). */
static void
store_close(MeStore *st)
{
	ListCell   *lc;

	foreach(lc, st->partbufs)
	{
		PartBuf    *pb = lfirst(lc);

		for (int i = 0; i < STORE_SLOTS && pb->slots[i]; i++)
			ExecDropSingleTupleTableSlot(pb->slots[i]);
		table_finish_bulk_insert(pb->rri->ri_RelationDesc, 0);
	}
	list_free_deep(st->partbufs);
	st->partbufs = NIL;
	FreeBulkInsertState(st->bistate);
	ExecCleanupTupleRouting(st->mtstate, st->proute);
	ExecCloseResultRelations(st->estate);
	ExecCloseRangeTableRelations(st->estate);
	ExecResetTupleTable(st->estate->es_tupleTable, false);
	FreeExecutorState(st->estate);
	table_close(st->rel, NoLock);
	st->rel = NULL;
}

/* ------------------------------------------------------------ deferred index */

/*
 * May this partition be loaded first and indexed afterwards?  Only if this
 * transaction created it, it is still empty, and its only unique index is
 * the primary key whose order the load checks (other unique or exclusion
 * indexes would need checks the sort cannot give).
 */
static bool
can_defer(ResultRelInfo *rri)
{
	Relation	rel = rri->ri_RelationDesc;

	if (!me_bulk_index_build ||
		rel->rd_createSubid == InvalidSubTransactionId ||
		RelationGetNumberOfBlocks(rel) != 0)
		return false;
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Form_pg_index ix = rri->ri_IndexRelationDescs[i]->rd_index;

		if (ix->indisexclusion || (ix->indisunique && !ix->indisprimary))
			return false;
	}
	return true;
}

/* Build the indexes of a partition loaded without them (relations closed). */
static void
build_index(DeferredPart *dp)
{
	ReindexParams params = {0};

	if (!dp->deferred)
		return;
	dp->deferred = false;
	hash_destroy(dp->spans);
	dp->spans = NULL;
	/* unique checks on, as REINDEX TABLE does: a repeated key is an error, never a silent one */
	reindex_relation(dp->relid, REINDEX_REL_CHECK_CONSTRAINTS, &params);
	CommandCounterIncrement();
}

/* The deferred-index state of a partition, set up on first use. */
static DeferredPart *
part_state(MeStore *st, ResultRelInfo *rri)
{
	Relation	rel = rri->ri_RelationDesc;
	ListCell   *lc;
	DeferredPart *dp;

	foreach(lc, st->parts)
	{
		dp = lfirst(lc);
		if (dp->relid == RelationGetRelid(rel))
			return dp;
	}
	dp = MemoryContextAllocZero(st->cxt, sizeof(DeferredPart));
	dp->relid = RelationGetRelid(rel);
	dp->deferred = can_defer(rri);
	if (dp->deferred)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(SeriesKey);
		ctl.entrysize = sizeof(SeriesSpan);
		ctl.hcxt = st->cxt;
		dp->spans = hash_create("meter_etl deferred series", 1024, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	{
		MemoryContext old = MemoryContextSwitchTo(st->cxt);

		st->parts = lappend(st->parts, dp);
		MemoryContextSwitchTo(old);
	}
	return dp;
}

/*
 * Rows [*a, to) of a run: advance *a past rows that are not stored, set
 * *b to the end of the series starting there.  False when none is left.
 */
static bool
next_series(const MeStoreRow *rows, int *a, int *b, int to)
{
	while (*a < to && rows[*a].outcome != ME_OUT_CLEAN)
		(*a)++;
	if (*a == to)
		return false;
	*b = *a + 1;
	while (*b < to && rows[*b].meter_key == rows[*a].meter_key &&
		   rows[*b].channel_id == rows[*a].channel_id)
		(*b)++;
	return true;
}

static void
series_key(SeriesKey *k, const MeStoreRow *r)
{
	memset(k, 0, sizeof(*k));	/* the padding is hashed too */
	k->meter_key = r->meter_key;
	k->channel_id = r->channel_id;
}

/*
 * Can rows [from, to) of one partition (sorted, de-duplicated) go into the
 * deferred partition without a key check?  Yes if, for every series, their
 * times lie wholly before or after the times already written: then none
 * can equal a stored key.  Delayed repeats of a reading fall inside.
 */
static bool
run_fits(DeferredPart *dp, const MeStoreRow *rows, int from, int to)
{
	int			a = from,
				b;

	while (next_series(rows, &a, &b, to))
	{
		SeriesKey	k;
		SeriesSpan *sp;
		int			last = b - 1;

		while (rows[last].outcome != ME_OUT_CLEAN)
			last--;
		series_key(&k, &rows[a]);
		sp = hash_search(dp->spans, &k, HASH_FIND, NULL);
		if (sp != NULL && !(rows[a].ts > sp->max_ts || rows[last].ts < sp->min_ts))
			return false;
		a = b;
	}
	return true;
}

/* Record the times of rows [from, to), just written, in the spans. */
static void
note_spans(DeferredPart *dp, const MeStoreRow *rows, int from, int to)
{
	int			a = from,
				b;

	while (next_series(rows, &a, &b, to))
	{
		SeriesKey	k;
		SeriesSpan *sp;
		bool		found;

		series_key(&k, &rows[a]);
		sp = hash_search(dp->spans, &k, HASH_ENTER, &found);
		if (!found)
		{
			sp->min_ts = PG_INT64_MAX;
			sp->max_ts = PG_INT64_MIN;
		}
		for (int i = a; i < b; i++)
			if (rows[i].outcome == ME_OUT_CLEAN)
			{
				sp->min_ts = Min(sp->min_ts, rows[i].ts);
				sp->max_ts = Max(sp->max_ts, rows[i].ts);
			}
		a = b;
	}
}

/* Start writing the readings of one raw file, for ingest run run_id. */
MeStore *
me_store_begin(int64 file_id, int64 run_id)
{
	MeStore    *st = palloc0(sizeof(MeStore));
	AclResult	aclres;

	st->file_id = file_id;
	st->run_id = run_id;
	st->note_copies = me_schema_has("file_duplicate", NULL);
	/* reading keeps file and line as int4: narrow rows for billions of readings */
	if (file_id > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("raw file id " INT64_FORMAT " exceeds the range of reading.file_id", file_id)));
	st->relid = get_relname_relid("reading", get_namespace_oid("meter_etl", false));
	if (!OidIsValid(st->relid))
		elog(ERROR, "table meter_etl.reading does not exist");
	aclres = pg_class_aclcheck(st->relid, GetUserId(), ACL_INSERT);
	if (aclres != ACLCHECK_OK)
		aclcheck_error(aclres, OBJECT_TABLE, "reading");
	st->cxt = AllocSetContextCreate(CurrentMemoryContext, "meter_etl store",
									ALLOCSET_DEFAULT_SIZES);
	store_open(st);
	return st;
}

/* The clean store's relation id (for progress reporting). */
Oid
me_store_relid(MeStore *st)
{
	return st->relid;
}

/* Finish: flush bulk-insert state and close relations. */
void
me_store_end(MeStore *st)
{
	ListCell   *lc;

	store_close(st);
	foreach(lc, st->parts)
		build_index(lfirst(lc));
	MemoryContextDelete(st->cxt);
	pfree(st);
}

/* ------------------------------------------------------------ sorting */

static int
row_cmp(const void *a, const void *b)
{
	const MeStoreRow *x = a;
	const MeStoreRow *y = b;

	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	if (x->meter_key != y->meter_key)
		return x->meter_key < y->meter_key ? -1 : 1;
	if (x->channel_id != y->channel_id)
		return x->channel_id < y->channel_id ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->line_no != y->line_no)
		return x->line_no < y->line_no ? -1 : 1;
	return 0;
}

/* Is rows[from, to) already in key order? */
static bool
is_sorted(const MeStoreRow *rows, int from, int to)
{
	for (int i = from + 1; i < to; i++)
		if (row_cmp(&rows[i - 1], &rows[i]) > 0)
			return false;
	return true;
}

/*
 * Sort by (day, meter, channel, time, line).  Head-end files are usually in
 * meter and time order already, but a local day spans two UTC days, so the
 * rows are first distributed stably by day (a batch holds few days) and
 * each day is sorted only if it is not in order yet.
 */
static void
sort_rows(MeStoreRow *rows, int n)
{
#define MAX_BUCKET_DAYS 16
	int32		days[MAX_BUCKET_DAYS];
	int			count[MAX_BUCKET_DAYS] = {0};
	int			start[MAX_BUCKET_DAYS];
	int			ndays = 0;
	MeStoreRow *tmp;

	if (is_sorted(rows, 0, n))
		return;
	for (int i = 0; i < n; i++)
	{
		int			d = 0;

		while (d < ndays && days[d] != rows[i].day)
			d++;
		if (d == ndays)
		{
			if (ndays == MAX_BUCKET_DAYS)
			{
				qsort(rows, n, sizeof(MeStoreRow), row_cmp);
				return;
			}
			days[ndays++] = rows[i].day;
		}
		count[d]++;
	}
	/* buckets in day order */
	for (int a = 1; a < ndays; a++)
		for (int b = a; b > 0 && days[b - 1] > days[b]; b--)
		{
			int32		t = days[b];
			int			c = count[b];

			days[b] = days[b - 1];
			count[b] = count[b - 1];
			days[b - 1] = t;
			count[b - 1] = c;
		}
	start[0] = 0;
	for (int d = 1; d < ndays; d++)
		start[d] = start[d - 1] + count[d - 1];
	tmp = palloc(sizeof(MeStoreRow) * n);
	for (int i = 0; i < n; i++)
	{
		int			d = 0;

		while (days[d] != rows[i].day)
			d++;
		tmp[start[d]++] = rows[i];
	}
	memcpy(rows, tmp, sizeof(MeStoreRow) * n);
	pfree(tmp);
	for (int d = 0, from = 0; d < ndays; from += count[d], d++)
		if (!is_sorted(rows, from, from + count[d]))
			qsort(rows + from, count[d], sizeof(MeStoreRow), row_cmp);
}

/* Same meter, channel and time? */
static inline bool
same_key(const MeStoreRow *a, const MeStoreRow *b)
{
	return a->ts == b->ts && a->meter_key == b->meter_key && a->channel_id == b->channel_id;
}

/* Within the batch: the first line wins; later equal keys are dups or conflicts. */
static void
dedupe_batch(MeStoreRow *rows, int n)
{
	int			keep = 0;

	for (int i = 0; i < n; i++)
		rows[i].outcome = ME_OUT_CLEAN;
	for (int i = 1; i < n; i++)
	{
		if (same_key(&rows[keep], &rows[i]))
		{
			rows[i].outcome = rows[i].kw == rows[keep].kw ? ME_OUT_DUPLICATE : ME_OUT_CONFLICT;
			rows[i].other_kw = rows[keep].kw;
		}
		else
			keep = i;
	}
}

/* ------------------------------------------------------------ partitions */

/* Has this day been seen to have a partition? */
static bool
day_known(MeStore *st, int32 day)
{
	for (int i = st->nknown - 1; i >= 0; i--)
		if (st->known_days[i] == day)
			return true;
	return false;
}

static void
remember_day(MeStore *st, int32 day)
{
	if (st->nknown == st->capknown)
	{
		st->capknown = st->capknown ? st->capknown * 2 : 16;
		st->known_days = st->known_days ?
			repalloc(st->known_days, sizeof(int32) * st->capknown) :
			MemoryContextAlloc(st->cxt, sizeof(int32) * st->capknown);
	}
	st->known_days[st->nknown++] = day;
}

/*
 * Make sure every day in the batch has a partition.  Creating one is DDL
 * on the parent, which must not be open at the time, so routing is torn
 * down and rebuilt around it.
 */
static void
ensure_partitions(MeStore *st, MeStoreRow *rows, int n)
{
	bool		reopened = false;

	for (int i = 0; i < n; i++)
	{
		Oid			argtypes[1] = {DATEOID};
		Datum		args[1];
		int32		day = rows[i].day;

		if (rows[i].outcome != ME_OUT_CLEAN || day_known(st, day))
			continue;
		if (!reopened)
		{
			store_close(st);
			reopened = true;
		}
		args[0] = DateADTGetDatum((DateADT) day);
		if (SPI_execute_with_args("SELECT meter_etl.create_partitions($1, $1)", 1, argtypes,
								  args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not create partition");
		remember_day(st, day);
	}
	if (reopened)
		store_open(st);
}

/* Slots and column map for a partition, created on first use. */
static PartBuf *
partbuf_for(MeStore *st, ResultRelInfo *rri)
{
	ListCell   *lc;
	PartBuf    *pb;
	MemoryContext old;

	foreach(lc, st->partbufs)
	{
		pb = lfirst(lc);
		if (pb->rri == rri)
			return pb;
	}
	old = MemoryContextSwitchTo(st->cxt);
	pb = palloc0(sizeof(PartBuf));
	pb->rri = rri;
	map_columns(rri->ri_RelationDesc, pb->att);
	pb->natts = RelationGetDescr(rri->ri_RelationDesc)->natts;
	for (int i = 0; i < STORE_SLOTS; i++)
		pb->slots[i] = table_slot_create(rri->ri_RelationDesc, NULL);
	st->partbufs = lappend(st->partbufs, pb);
	MemoryContextSwitchTo(old);
	return pb;
}

/* Put a row's values into a slot laid out by att. */
static void
fill_slot(TupleTableSlot *slot, const AttrNumber *att, int natts, const MeStoreRow *r,
		  int64 file_id)
{
	ExecClearTuple(slot);
	for (int a = 0; a < natts; a++)
		slot->tts_isnull[a] = true;
	slot->tts_values[att[0] - 1] = TimestampTzGetDatum(r->ts);
	slot->tts_values[att[1] - 1] = Float8GetDatum(r->kw);
	slot->tts_values[att[2] - 1] = Int32GetDatum((int32) file_id);
	slot->tts_values[att[3] - 1] = Int32GetDatum((int32) r->line_no);
	slot->tts_values[att[4] - 1] = Int32GetDatum(r->meter_key);
	slot->tts_values[att[5] - 1] = Int16GetDatum(r->channel_id);
	slot->tts_values[att[6] - 1] = Int16GetDatum((int16) r->flags);
	for (int c = 0; c < NCOLS; c++)
		slot->tts_isnull[att[c] - 1] = (c == 2 && file_id == 0) || (c == 3 && r->line_no == 0);
	ExecStoreVirtualTuple(slot);
}

/* The partition a day's rows go to. */
static ResultRelInfo *
route(MeStore *st, const MeStoreRow *r)
{
	fill_slot(st->rootslot, st->rootatt, RelationGetDescr(st->rel)->natts, r, st->file_id);
	return ExecFindPartition(st->mtstate, st->root, st->proute, st->rootslot, st->estate);
}

/* ------------------------------------------------------------ writing */

typedef struct Suspect
{
	int			row;			/* index into the batch */
	Oid			relid;			/* partition holding our new tuple (an Oid:
								 * the store may reopen its relations before
								 * the suspects are resolved) */
	ItemPointerData tid;
} Suspect;

/*
 * Insert rows [from, to) of one partition; rows whose key may already be
 * stored are appended to *sus.
 */
static void
write_run(MeStore *st, MeStoreRow *rows, int from, int to, Suspect **sus, int *nsus, int *capsus)
{
	ResultRelInfo *rri = route(st, &rows[from]);
	DeferredPart *dp = part_state(st, rri);
	PartBuf    *pb;
	int			i = from;

	if (dp->deferred && !run_fits(dp, rows, from, to))
	{
		/* keys may collide: index what is there and check from now on */
		elog(DEBUG1, "meter_etl: readings for \"%s\" may repeat stored ones; indexing it now",
			 RelationGetRelationName(rri->ri_RelationDesc));
		store_close(st);
		build_index(dp);
		store_open(st);
		rri = route(st, &rows[from]);
	}
	pb = partbuf_for(st, rri);
	ReleaseBulkInsertStatePin(st->bistate);
	while (i < to)
	{
		int			nslots = 0;
		int			idx[STORE_SLOTS];
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		for (; i < to && nslots < STORE_SLOTS; i++)
		{
			if (rows[i].outcome != ME_OUT_CLEAN)
				continue;
			if (rows[i].line_no > PG_INT32_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("line " INT64_FORMAT " exceeds the range of reading.line_no", rows[i].line_no),
						 errhint("Split files of more than 2147483647 lines.")));
			idx[nslots] = i;
			fill_slot(pb->slots[nslots++], pb->att, pb->natts, &rows[i], st->file_id);
		}
		if (nslots == 0)
			break;
		st->estate->es_output_cid = GetCurrentCommandId(true);
		old = MemoryContextSwitchTo(GetPerTupleMemoryContext(st->estate));
		table_multi_insert(rri->ri_RelationDesc, pb->slots, nslots,
						   GetCurrentCommandId(true), 0, st->bistate);
		MemoryContextSwitchTo(old);
		for (int k = 0; k < nslots && rri->ri_NumIndices > 0 && !dp->deferred; k++)
		{
			List	   *conflicts = ExecInsertIndexTuples(rri, pb->slots[k], st->estate,
														  false, true, NULL, NIL);

			if (conflicts != NIL)
			{
				if (*nsus == *capsus)
				{
					*capsus = *capsus ? *capsus * 2 : 64;
					*sus = *sus ? repalloc(*sus, sizeof(Suspect) * *capsus) :
						palloc(sizeof(Suspect) * *capsus);
				}
				(*sus)[*nsus].row = idx[k];
				(*sus)[*nsus].relid = RelationGetRelid(rri->ri_RelationDesc);
				(*sus)[*nsus].tid = pb->slots[k]->tts_tid;
				(*nsus)++;
				list_free(conflicts);
			}
		}
		for (int k = 0; k < nslots; k++)
			ExecClearTuple(pb->slots[k]);
		ResetPerTupleExprContext(st->estate);
	}
	if (dp->deferred)
		note_spans(dp, rows, from, to);
}

/* Array datum helper. */
static Datum
array_of(Datum *d, int n, Oid type, int16 len, bool byval, char align)
{
	return PointerGetDatum(construct_array(d, n, type, len, byval, align));
}

/*
 * Record the rows idx[0..n) as copies of readings another file stored
 * (meter_etl.file_duplicate): one statement, the first line of a key
 * kept when a later batch brings it again.
 */
static void
note_copies(MeStore *st, const MeStoreRow *rows, const int *idx, int n)
{
	Datum	   *mk = palloc(sizeof(Datum) * n);
	Datum	   *ch = palloc(sizeof(Datum) * n);
	Datum	   *ts = palloc(sizeof(Datum) * n);
	Datum	   *ln = palloc(sizeof(Datum) * n);
	Datum	   *fl = palloc(sizeof(Datum) * n);
	Oid			argtypes[7] = {INT4ARRAYOID, INT2ARRAYOID, TIMESTAMPTZARRAYOID, INT4ARRAYOID,
	INT2ARRAYOID, INT8OID, INT8OID};
	Datum		args[7];

	for (int i = 0; i < n; i++)
	{
		const MeStoreRow *r = &rows[idx[i]];

		mk[i] = Int32GetDatum(r->meter_key);
		ch[i] = Int16GetDatum(r->channel_id);
		ts[i] = TimestampTzGetDatum(r->ts);
		ln[i] = Int32GetDatum((int32) r->line_no);	/* checked by write_run */
		fl[i] = Int16GetDatum((int16) r->flags);
	}
	args[0] = array_of(mk, n, INT4OID, 4, true, TYPALIGN_INT);
	args[1] = array_of(ch, n, INT2OID, 2, true, TYPALIGN_SHORT);
	args[2] = array_of(ts, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	args[3] = array_of(ln, n, INT4OID, 4, true, TYPALIGN_INT);
	args[4] = array_of(fl, n, INT2OID, 2, true, TYPALIGN_SHORT);
	args[5] = Int64GetDatum(st->file_id);
	args[6] = Int64GetDatum(st->run_id);
	if (SPI_execute_with_args("INSERT INTO meter_etl.file_duplicate"
							  " (meter_key, channel_id, ts, line_no, flags, file_id, ingest_run_id)"
							  " SELECT u.m, u.c, u.t, u.l, u.f, $6, $7"
							  "   FROM unnest($1, $2, $3, $4, $5) AS u(m, c, t, l, f)"
							  " ON CONFLICT DO NOTHING",
							  7, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the readings another file stored");
	pfree(mk);
	pfree(ch);
	pfree(ts);
	pfree(ln);
	pfree(fl);
}

/*
 * Rows whose key was already stored: take our copy out again and compare
 * with the stored reading.  Equal values are duplicates, different ones
 * conflicts; a duplicate of another file's reading is recorded as a copy.
 * A key held by a transaction still in progress cannot be judged yet; the
 * file is then failed with a retryable error.
 */
static void
resolve_suspects(MeStore *st, MeStoreRow *rows, Suspect *sus, int nsus)
{
	Datum	   *mk = palloc(sizeof(Datum) * nsus);
	Datum	   *ch = palloc(sizeof(Datum) * nsus);
	Datum	   *ts = palloc(sizeof(Datum) * nsus);
	int		   *copies = palloc(sizeof(int) * nsus);
	int			ncopies = 0;
	Oid			argtypes[3] = {INT4ARRAYOID, INT2ARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		args[3];
	Relation	rel = NULL;

	CommandCounterIncrement();
	for (int i = 0; i < nsus; i++)
	{
		/* the partition stays locked by this transaction; NoLock reopens it */
		if (rel == NULL || RelationGetRelid(rel) != sus[i].relid)
		{
			if (rel != NULL)
				table_close(rel, NoLock);
			rel = table_open(sus[i].relid, NoLock);
		}
		simple_table_tuple_delete(rel, &sus[i].tid, GetActiveSnapshot());
		mk[i] = Int32GetDatum(rows[sus[i].row].meter_key);
		ch[i] = Int16GetDatum(rows[sus[i].row].channel_id);
		ts[i] = TimestampTzGetDatum(rows[sus[i].row].ts);
	}
	if (rel != NULL)
		table_close(rel, NoLock);
	CommandCounterIncrement();
	args[0] = array_of(mk, nsus, INT4OID, 4, true, TYPALIGN_INT);
	args[1] = array_of(ch, nsus, INT2OID, 2, true, TYPALIGN_SHORT);
	args[2] = array_of(ts, nsus, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	if (SPI_execute_with_args("SELECT k.i, r.kw, r.file_id"
							  " FROM unnest($1, $2, $3) WITH ORDINALITY AS k(m, c, t, i)"
							  " LEFT JOIN meter_etl.reading r"
							  "   ON r.meter_key = k.m AND r.channel_id = k.c AND r.ts = k.t",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up stored readings");
	for (uint64 j = 0; j < SPI_processed; j++)
	{
		bool		n1,
					n2,
					n3;
		int64		i = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1, &n1));
		Datum		kw = SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 2, &n2);
		Datum		owner = SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 3, &n3);
		MeStoreRow *r = &rows[sus[i - 1].row];

		if (n2)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not ingest raw file " INT64_FORMAT ": another transaction is storing the same readings",
							st->file_id),
					 errhint("Retry the ingest; meter_etl.run_pipeline() retries automatically.")));
		r->other_kw = DatumGetFloat8(kw);
		r->outcome = r->kw == r->other_kw ? ME_OUT_DUPLICATE : ME_OUT_CONFLICT;
		if (r->outcome == ME_OUT_DUPLICATE && st->note_copies && !n3 &&
			(int64) DatumGetInt32(owner) != st->file_id)
			copies[ncopies++] = sus[i - 1].row;
	}
	SPI_freetuptable(SPI_tuptable);
	if (ncopies > 0)
		note_copies(st, rows, copies, ncopies);
	pfree(mk);
	pfree(ch);
	pfree(ts);
	pfree(copies);
}

/*
 * Store a batch.  On return each row's outcome says whether it was stored,
 * was a duplicate, or conflicts with a reading kept earlier.  The caller is
 * connected to SPI.
 */
void
me_store_flush(MeStore *st, MeStoreRow *rows, int n)
{
	Suspect    *sus = NULL;
	int			nsus = 0,
				capsus = 0;
	int			from = 0;

	if (n == 0)
		return;
	sort_rows(rows, n);
	dedupe_batch(rows, n);
	ensure_partitions(st, rows, n);
	while (from < n)
	{
		int			to = from + 1;

		while (to < n && rows[to].day == rows[from].day)
			to++;
		write_run(st, rows, from, to, &sus, &nsus, &capsus);
		from = to;
	}
	if (nsus > 0)
	{
		resolve_suspects(st, rows, sus, nsus);
		pfree(sus);
	}
}
