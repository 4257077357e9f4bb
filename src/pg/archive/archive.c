/*
 * archive.c - meter_etl.archive_parquet(): the clean store as a Parquet
 * archive, hive-partitioned by UTC date and meter bucket (or meter id)
 *
 *   <archive_dir>[/<dataset>]/date=YYYY-MM-DD/meter_bucket=NN/part-0000.parquet
 *   <archive_dir>[/<dataset>]/date=YYYY-MM-DD/meter_id=<id>/part-0000.parquet
 *
 * A date is read in (meter id, channel, time) order through the primary
 * key, one range scan per run of meters whose keys follow their ids (see
 * keyruns.h): straight from the date's own partition with the index access
 * method, or, for dates in the default partition, by one SPI query whose
 * DestReceiver does the same.  Rows go straight into the pure C writer
 * (src/parquet): one open file per bucket
 * (or one at a time per meter), memory bounded by their row groups whatever
 * the day's size.  Files are written as part-0000.parquet.tmp and fsynced;
 * a date is tried up to three times, each in a subtransaction, and a date
 * that fails every time is recorded in meter_etl.archive_failure with an
 * alert and left as it was.
 *
 * Publication is tied to the transaction: the finished .tmp files are
 * renamed into place, and the date's older files removed, just before the
 * transaction commits (and the manifest rows become visible with it).  An
 * aborted transaction deletes its .tmp files and leaves the archive as it
 * was.  A crash leaves at most .tmp files, which no *.parquet glob matches
 * and the next archive of that date removes.  Re-archiving a date therefore
 * replaces exactly that date's files, never duplicating a row.
 *
 * Confinement: everything is written below meter_etl.archive_dir (resolved
 * with realpath); a dataset path may not contain "..", may not lead out of
 * the directory through a symlink, and directories the archive uses must not
 * be symlinks.  Paths and publication live in archive_files.c.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "storage/fd.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/keyruns.h"
#include "core/me_alloc.h"
#include "core/parquet/pq_async.h"
#include "core/parquet/pq_writer.h"
#include "archive.h"
#include "pg/guc.h"
#include "pg/meter_etl.h"

PG_FUNCTION_INFO_V1(meter_etl_archive_parquet);
PG_FUNCTION_INFO_V1(meter_etl_archive_drop);
PG_FUNCTION_INFO_V1(meter_etl_meter_bucket);

#define ARCHIVE_SCHEMA_VERSION 2
#define ARCHIVE_ATTEMPTS 3
#define ARCHIVE_MAX_DAYS 3660
#define ARCHIVE_FILE_MODE 0640

typedef enum ArchiveLayout
{
	LAYOUT_BUCKET,				/* meter_bucket=NN */
	LAYOUT_METER				/* meter_id=<id>, one partition per meter */
} ArchiveLayout;

/*
 * Columns of the files (schema version 2: version 1 plus method, last so
 * that the earlier columns keep their positions); meter_id is left out when
 * it is the partition key.
 */
enum
{
	COL_METER_ID, COL_CHANNEL, COL_TS, COL_KW, COL_FLAGS, COL_ESTIMATED,
	COL_FILE_ID, COL_LINE_NO, COL_METHOD, NCOLS
};

/*
 * Dictionary encoding everywhere but kw and line_no: kw holds thousands of
 * distinct values per file, so a dictionary per open bucket file costs a
 * probe per row for little saving; line numbers are all distinct.
 */
static const PqColumnSpec archive_columns[NCOLS] = {
	{"meter_id", PQ_STRING, false, true},
	{"channel", PQ_STRING, false, true},
	{"ts", PQ_TIMESTAMP_US, false, true},
	{"kw", PQ_DOUBLE, false, false},
	{"quality_flags", PQ_INT16, false, true},
	{"estimated", PQ_BOOLEAN, false, false},
	{"file_id", PQ_INT32, true, true},
	{"line_no", PQ_INT32, true, false},
	{"method", PQ_STRING, true, true},
};

/* The flags of an estimate row, as v_reading_filled gives them: estimated. */
#define ESTIMATE_FLAGS 1

/* A meter as the archive sees it. */
typedef struct ArchiveMeter
{
	int32		meter_key;
	char	   *meter_id;
	int32		id_len;
	int32		bucket;
} ArchiveMeter;

/* Everything one call of archive_parquet() works with. */
typedef struct ArchiveCtx
{
	char	   *root;			/* realpath of meter_etl.archive_dir */
	char	   *dataset_dir;	/* absolute, canonical */
	char	   *dataset_rel;	/* relative to root, "" for the root */
	ArchiveLayout layout;
	int			buckets;
	int			bucket_width;
	PqCodec		codec;
	const char *codec_name;
	int			row_group_rows;
	bool		line_numbers;	/* fill line_no (else NULL: it doubles the files) */
	int64		export_id;
	MemoryContext call_cxt;		/* lives for the whole call */
	SPIPlanPtr	plan;			/* the partition query */
	ArchiveMeter *meters;		/* every meter, by id */
	int			nmeters;
	MeKeyOrd   *key_ord;		/* (meter_key, position) by key */
	MeKeyRun   *runs;			/* the meters as index range scans */
	int			nruns;
	Datum		run_lo;			/* the runs' first and last keys, int4[] */
	Datum		run_hi;
	char	  **bucket_names;	/* "00", "01", ... */
	uint32		page_bytes;		/* Parquet page size target */
	int			rg_rows_open;	/* row group rows with every bucket file open */
	char	  **channels;		/* channel name by channel_id */
	int		   *channel_len;
	int			nchannels;
	/* the partition being written, for the error context */
	DateADT		cur_day;
	const char *cur_part;
} ArchiveCtx;

/* Output sink state: a descriptor plus the running SHA-256. */
typedef struct ArchiveSink
{
	int			fd;
	pg_cryptohash_ctx *sha;
	int			saved_errno;
} ArchiveSink;

/* ------------------------------------------------------------ writing */

/* Sink callback: write(2) everything and hash it. */
static int
archive_sink_write(void *ctx, const void *buf, size_t len)
{
	ArchiveSink *s = ctx;
	const char *p = buf;
	size_t		left = len;

	while (left > 0)
	{
		ssize_t		n = write(s->fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			s->saved_errno = (n == 0) ? ENOSPC : errno;
			return -1;
		}
		p += n;
		left -= (size_t) n;
	}
	if (pg_cryptohash_update(s->sha, (const uint8 *) buf, len) < 0)
	{
		s->saved_errno = 0;
		return -1;
	}
	return 0;
}

/* Turn a writer failure into an ERROR. */
static void
pq_check(int rc, PqWriter *w, ArchiveSink *sink, const char *path)
{
	if (rc == PQ_OK)
		return;
	if (rc == PQ_ERR_IO && sink->saved_errno != 0)
	{
		errno = sink->saved_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", me_archive_disp(path))));
	}
	if (rc == PQ_ERR_VALUE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("could not archive a reading: %s", pq_writer_errmsg(w))));
	if (rc == PQ_ERR_NOMEM)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("%s", pq_writer_errmsg(w))));
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not write Parquet file \"%s\": %s", me_archive_disp(path), pq_writer_errmsg(w))));
}

/* Error context: which partition was being archived. */
static void
archive_error_callback(void *arg)
{
	ArchiveCtx *ac = arg;

	if (ac->cur_part != NULL)
		errcontext("archiving date %s, partition %s=%s of dataset \"%s\"",
				   me_archive_date(ac->cur_day),
				   ac->layout == LAYOUT_BUCKET ? "meter_bucket" : "meter_id",
				   ac->cur_part, ac->dataset_rel);
}

/* An estimate of the day being written (meter_etl.estimate). */
typedef struct DayEstimate
{
	int64		ord;			/* the meter's position in id order */
	int			ch;
	TimestampTz ts;
	double		kw;
	const char *method;
} DayEstimate;

/* One partition file being written. */
typedef struct PartFile
{
	ArchiveFile *f;				/* in TopTransactionContext */
	const char *part_seg;		/* "meter_bucket=07" or "meter_id=<escaped>" */
	MemoryContext wcxt;			/* the writer's memory (libzstd's too) */
	PqWriter   *w;
	bool		malloced;		/* writer on malloc: it runs in the encoder thread */
	ArchiveSink sink;
	int64		last_ord;		/* last meter written, to count meters */
} PartFile;

/*
 * Streams a day's rows, in (meter id, channel, time) order, into its
 * partition files: a DestReceiver fed by the executor, so no tuple is
 * copied and memory is bounded by the open writers' row groups.  Bucket
 * layout: one file per bucket, all open during the pass (a bucket's rows
 * keep the global order); meter layout: one file at a time.
 */
typedef struct DayWriter
{
	DestReceiver pub;
	ArchiveCtx *ac;
	PendingDay *pd;
	MemoryContext cxt;			/* for PartFiles (rows arrive in a per-tuple context) */
	PartFile  **open;			/* by bucket (meter layout: [0] only) */
	List	   *files;			/* every ArchiveFile begun, for cleanup */
	int			ncols;
	PqColumnSpec cols[NCOLS];
	int			colmap[NCOLS];
	PqValue		row[NCOLS];
	PqAsync    *async;			/* encoder thread (bucket layout), or NULL */
	int64		prev_ord;
	int			prev_ch;
	TimestampTz prev_ts;
	int32		last_key;		/* the meter of the last row and its position */
	int64		last_ord;
	Oid			parent;			/* reading, and the day's own partition */
	Oid			partid;			/* (InvalidOid: read through the query) */
	int64		rows;
	DayEstimate *est;			/* the day's estimates in row order */
	int			nest;
	int			next_est;		/* the first not yet written */
} DayWriter;

/* Create a partition's directories, its .tmp file and its writer. */
static PartFile *
open_part_file(DayWriter *dw, const char *part_value, const char *part_seg)
{
	ArchiveCtx *ac = dw->ac;
	PartFile   *pf = palloc0(sizeof(PartFile));
	ArchiveFile *f;
	PqOptions	opts;
	char		errbuf[256];
	MemoryContext old;

	old = MemoryContextSwitchTo(TopTransactionContext);
	f = palloc0(sizeof(ArchiveFile));
	f->part_dir = psprintf("%s/%s", dw->pd->date_dir, part_seg);
	f->final_path = psprintf("%s/part-0000.parquet", f->part_dir);
	f->tmp_path = psprintf("%s.tmp", f->final_path);
	f->rel_path = psprintf("%s%sdate=%s/%s/part-0000.parquet", ac->dataset_rel,
						   ac->dataset_rel[0] ? "/" : "", me_archive_date(dw->pd->day), part_seg);
	f->part_value = pstrdup(part_value);
	f->min_ts = DT_NOEND;
	f->max_ts = DT_NOBEGIN;
	dw->files = lappend(dw->files, f);
	MemoryContextSwitchTo(old);
	pf->f = f;
	pf->part_seg = part_seg;
	pf->last_ord = -1;
	pf->sink.fd = -1;
	if (strlen(f->tmp_path) >= MAXPGPATH)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("archive path \"%s\" is too long", me_archive_disp(f->tmp_path))));
	me_archive_ensure_dir(dw->pd->date_dir);
	me_archive_ensure_dir(f->part_dir);

	/* a leftover .tmp (or anything planted there) is replaced, never followed */
	if (unlink(f->tmp_path) != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", me_archive_disp(f->tmp_path))));
	pf->sink.fd = OpenTransientFilePerm(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY,
										ARCHIVE_FILE_MODE);
	if (pf->sink.fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", me_archive_disp(f->tmp_path))));
	if (fchmod(pf->sink.fd, ARCHIVE_FILE_MODE) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not change permissions of file \"%s\": %m", me_archive_disp(f->tmp_path))));
	pf->sink.sha = pg_cryptohash_create(PG_SHA256);
	if (pg_cryptohash_init(pf->sink.sha) < 0)
		elog(ERROR, "could not initialize SHA-256: %s", pg_cryptohash_error(pf->sink.sha));

	pq_options_init(&opts);
	opts.codec = ac->codec;
	opts.row_group_rows = ac->rg_rows_open;
	opts.row_group_bytes = UINT64CONST(256) * 1024 * 1024;
	opts.page_bytes = ac->page_bytes;
	pf->wcxt = AllocSetContextCreate(ac->call_cxt, "meter_etl archive writer", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(pf->wcxt);
	if (dw->async != NULL)
	{
		/* the encoder thread grows this writer's buffers: malloc from the start */
		MeAllocHooks saved = me_alloc_swap(me_alloc_libc());

		pf->w = pq_writer_create(dw->cols, dw->ncols, &opts,
								 (PqSink) {archive_sink_write, &pf->sink}, errbuf, sizeof(errbuf));
		me_alloc_swap(saved);
		pf->malloced = true;
	}
	else
		pf->w = pq_writer_create(dw->cols, dw->ncols, &opts,
								 (PqSink) {archive_sink_write, &pf->sink}, errbuf, sizeof(errbuf));
	MemoryContextSwitchTo(old);
	if (pf->w == NULL)
		elog(ERROR, "could not create the Parquet writer: %s", errbuf);
	return pf;
}

/* Release a writer that lives on malloc (created for the encoder thread). */
static void
free_part_writer(PartFile *pf)
{
	if (pf->w != NULL && pf->malloced)
	{
		MeAllocHooks saved = me_alloc_swap(me_alloc_libc());

		pq_writer_free(pf->w);
		me_alloc_swap(saved);
		pf->w = NULL;
	}
}

/* The encoder thread failed: report the error of the writer that failed. */
static void
report_async_failure(DayWriter *dw, int rc)
{
	PqWriter   *failed = NULL;
	int			nopen = dw->ac->layout == LAYOUT_BUCKET ? dw->ac->buckets : 1;

	rc = pq_async_drain(dw->async, &failed);
	for (int b = 0; b < nopen; b++)
		if (dw->open[b] != NULL && dw->open[b]->w == failed)
			pq_check(rc, failed, &dw->open[b]->sink, dw->open[b]->f->tmp_path);
	elog(ERROR, "the Parquet encoder thread failed (%d)", rc);
}

/* Write the footer, fsync and close a partition file; it is complete as .tmp. */
static void
close_part_file(DayWriter *dw, PartFile *pf)
{
	ArchiveFile *f = pf->f;
	char	   *export_s = psprintf(INT64_FORMAT, dw->ac->export_id);
	char	   *part_s = psprintf("date=%s/%s", me_archive_date(dw->pd->day), pf->part_seg);
	PqKeyValue	kv[5];
	uint64		rows_out,
				bytes_out;
	MemoryContext old;

	kv[4] = (PqKeyValue) {"meter_etl.line_numbers", dw->ac->line_numbers ? "true" : "false"};
	kv[0] = (PqKeyValue) {"meter_etl.schema_version", CppAsString2(ARCHIVE_SCHEMA_VERSION)};
	kv[1] = (PqKeyValue) {"meter_etl.export_id", export_s};
	kv[2] = (PqKeyValue) {"meter_etl.partition", part_s};
	kv[3] = (PqKeyValue) {"meter_etl.sort_order", "meter_id,channel_id,ts"};
	old = MemoryContextSwitchTo(pf->wcxt);
	if (pf->malloced)
	{
		MeAllocHooks saved = me_alloc_swap(me_alloc_libc());
		int			rc = pq_writer_close(pf->w, kv, lengthof(kv), &rows_out, &bytes_out);

		me_alloc_swap(saved);
		pq_check(rc, pf->w, &pf->sink, f->tmp_path);
		free_part_writer(pf);
	}
	else
		pq_check(pq_writer_close(pf->w, kv, lengthof(kv), &rows_out, &bytes_out), pf->w,
				 &pf->sink, f->tmp_path);
	MemoryContextSwitchTo(old);
	if ((int64) rows_out != f->rows)
		elog(ERROR, "Parquet writer counted " UINT64_FORMAT " rows, expected " INT64_FORMAT,
			 rows_out, f->rows);
	MemoryContextDelete(pf->wcxt);
	pf->w = NULL;
	f->bytes = (int64) bytes_out;
	if (pg_fsync(pf->sink.fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", me_archive_disp(f->tmp_path))));
	if (CloseTransientFile(pf->sink.fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", me_archive_disp(f->tmp_path))));
	pf->sink.fd = -1;
	if (pg_cryptohash_final(pf->sink.sha, f->sha256, sizeof(f->sha256)) < 0)
		elog(ERROR, "could not finalize SHA-256: %s", pg_cryptohash_error(pf->sink.sha));
	pg_cryptohash_free(pf->sink.sha);
	f->written_at = GetCurrentTimestamp();
}

/*
 * Position of a row's meter in id order, or -1 when the row belongs to
 * another run (its meter is read by a run of its own: skip it here).
 */
static int64
row_meter(DayWriter *dw, int64 run, int32 key)
{
	ArchiveCtx *ac = dw->ac;
	MeKeyRun   *r;

	if (run < 1 || run > ac->nruns)
		elog(ERROR, "unexpected run %lld in the archive query", (long long) run);
	if (key != dw->last_key || dw->last_ord < 0)
	{
		dw->last_key = key;
		dw->last_ord = me_keyord_find(ac->key_ord, ac->nmeters, key);
		if (dw->last_ord < 0)
			elog(ERROR, "unexpected meter %d in the archive query", key);
	}
	r = &ac->runs[run - 1];
	return (dw->last_ord >= r->first && dw->last_ord <= r->last) ? dw->last_ord : -1;
}

/*
 * Archive one row of meter ord: v and isnull hold (meter_key, channel_id,
 * ts, kw, flags, file_id, line_no); method is the estimate's, NULL for an
 * actual reading.
 */
static void
archive_row(DayWriter *dw, int64 ord, const Datum *v, const bool *isnull, const char *method)
{
	ArchiveCtx *ac = dw->ac;
	PqValue    *row = dw->row;
	const int  *colmap = dw->colmap;
	int			ch = DatumGetInt16(v[1]);
	TimestampTz ts = DatumGetTimestampTz(v[2]);
	int16		flags = DatumGetInt16(v[4]);
	ArchiveMeter *m;
	PartFile   *pf;
	ArchiveFile *f;
	MemoryContext old;

	if (ch < 0 || ch >= ac->nchannels || ac->channels[ch] == NULL)
		elog(ERROR, "unexpected row in the archive query (meter %lld, channel %d)",
			 (long long) ord, ch);
	/* the query must deliver (meter, channel, time) strictly ascending */
	if (ord < dw->prev_ord ||
		(ord == dw->prev_ord && (ch < dw->prev_ch || (ch == dw->prev_ch && ts <= dw->prev_ts))))
		elog(ERROR, "archive query returned rows out of order");
	dw->prev_ord = ord;
	dw->prev_ch = ch;
	dw->prev_ts = ts;
	m = &ac->meters[ord];

	if (ac->layout == LAYOUT_BUCKET)
	{
		pf = dw->open[m->bucket];
		ac->cur_part = ac->bucket_names[m->bucket];
		if (pf == NULL)
		{
			old = MemoryContextSwitchTo(dw->cxt);
			pf = dw->open[m->bucket] = open_part_file(dw, ac->bucket_names[m->bucket],
													  psprintf("meter_bucket=%s", ac->bucket_names[m->bucket]));
			MemoryContextSwitchTo(old);
		}
	}
	else
	{
		pf = dw->open[0];
		ac->cur_part = m->meter_id;
		if (pf != NULL && pf->last_ord != ord)
		{
			old = MemoryContextSwitchTo(dw->cxt);
			close_part_file(dw, pf);
			MemoryContextSwitchTo(old);
			pf = dw->open[0] = NULL;
		}
		if (pf == NULL)
		{
			old = MemoryContextSwitchTo(dw->cxt);
			pf = dw->open[0] = open_part_file(dw, m->meter_id,
											  psprintf("meter_id=%s", me_archive_hive_escape(m->meter_id, m->id_len)));
			MemoryContextSwitchTo(old);
		}
	}
	f = pf->f;
	if (pf->last_ord != ord)
	{
		f->meters++;
		pf->last_ord = ord;
	}
	if (colmap[COL_METER_ID] >= 0)
	{
		row[colmap[COL_METER_ID]].v.str.ptr = m->meter_id;
		row[colmap[COL_METER_ID]].v.str.len = m->id_len;
	}
	row[colmap[COL_CHANNEL]].v.str.ptr = ac->channels[ch];
	row[colmap[COL_CHANNEL]].v.str.len = ac->channel_len[ch];
	row[colmap[COL_TS]].v.ts = ts;
	row[colmap[COL_KW]].v.f64 = DatumGetFloat8(v[3]);
	row[colmap[COL_FLAGS]].v.i32 = flags;
	row[colmap[COL_ESTIMATED]].v.b = (flags & ESTIMATE_FLAGS) != 0;
	row[colmap[COL_FILE_ID]].is_null = isnull[5];
	row[colmap[COL_FILE_ID]].v.i32 = isnull[5] ? 0 : DatumGetInt32(v[5]);
	row[colmap[COL_LINE_NO]].is_null = isnull[6] || !ac->line_numbers;
	row[colmap[COL_LINE_NO]].v.i32 = isnull[6] ? 0 : DatumGetInt32(v[6]);
	row[colmap[COL_METHOD]].is_null = method == NULL;
	row[colmap[COL_METHOD]].v.str.ptr = method;
	row[colmap[COL_METHOD]].v.str.len = method ? strlen(method) : 0;
	if (dw->async != NULL)
	{
		/* strings point into ac's meter and channel tables, stable for the call */
		int			rc = pq_async_write(dw->async, pf->w, row);

		if (rc != PQ_OK)
			report_async_failure(dw, rc);
	}
	else
	{
		old = MemoryContextSwitchTo(pf->wcxt);
		pq_check(pq_write_row(pf->w, row), pf->w, &pf->sink, f->tmp_path);
		MemoryContextSwitchTo(old);
	}
	f->rows++;
	if (ts < f->min_ts)
		f->min_ts = ts;
	if (ts > f->max_ts)
		f->max_ts = ts;
	if ((++dw->rows & 8191) == 0)
		CHECK_FOR_INTERRUPTS();
}

/* Order of rows in a file: meter (id order), channel, time. */
static int
row_key_cmp(int64 ord1, int ch1, TimestampTz ts1, int64 ord2, int ch2, TimestampTz ts2)
{
	if (ord1 != ord2)
		return ord1 < ord2 ? -1 : 1;
	if (ch1 != ch2)
		return ch1 < ch2 ? -1 : 1;
	return ts1 < ts2 ? -1 : ts1 > ts2;
}

/* qsort comparator of DayEstimate. */
static int
estimate_cmp(const void *a, const void *b)
{
	const DayEstimate *x = a;
	const DayEstimate *y = b;

	return row_key_cmp(x->ord, x->ch, x->ts, y->ord, y->ch, y->ts);
}

/*
 * Write the day's estimates that sort before the reading (ord, ch, ts), or
 * all that are left when all is true; an estimate for the reading's own
 * slot is dropped, as an actual reading always wins (v_reading_filled).
 */
static void
write_estimates(DayWriter *dw, bool all, int64 ord, int ch, TimestampTz ts)
{
	while (dw->next_est < dw->nest)
	{
		DayEstimate *e = &dw->est[dw->next_est];
		int			c = all ? -1 : row_key_cmp(e->ord, e->ch, e->ts, ord, ch, ts);
		Datum		v[7];
		bool		isnull[7] = {false, false, false, false, false, true, true};

		if (c > 0)
			break;
		dw->next_est++;
		if (c == 0)
			continue;
		v[0] = Int32GetDatum(dw->ac->meters[e->ord].meter_key);
		v[1] = Int16GetDatum(e->ch);
		v[2] = TimestampTzGetDatum(e->ts);
		v[3] = Float8GetDatum(e->kw);
		v[4] = Int16GetDatum(ESTIMATE_FLAGS);
		v[5] = v[6] = (Datum) 0;
		archive_row(dw, e->ord, v, isnull, e->method);
	}
}

/* Archive one reading of meter ord, after the estimates that come before it. */
static void
archive_reading(DayWriter *dw, int64 ord, const Datum *v, const bool *isnull)
{
	if (dw->next_est < dw->nest)
		write_estimates(dw, false, ord, DatumGetInt16(v[1]), DatumGetTimestampTz(v[2]));
	archive_row(dw, ord, v, isnull, NULL);
}

/*
 * Load the day's estimates, in row order, to be merged with the readings.
 * They fill short gaps only (up to meter_etl.max_gap), so a day's are few
 * next to its readings.  Read-only: the call's snapshot, as the readings.
 */
static void
load_estimates(DayWriter *dw)
{
	ArchiveCtx *ac = dw->ac;
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[2];
	const char *methods[4] = {NULL};
	int			nmethods = 0;

	args[0] = TimestampTzGetDatum((TimestampTz) dw->pd->day * USECS_PER_DAY);
	args[1] = TimestampTzGetDatum((TimestampTz) (dw->pd->day + 1) * USECS_PER_DAY);
	if (SPI_execute_with_args("SELECT meter_key, channel_id::integer, ts, kw, method FROM meter_etl.estimate"
							  " WHERE ts >= $1 AND ts < $2",
							  2, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the estimates of a day");
	dw->nest = (int) SPI_processed;
	dw->est = MemoryContextAlloc(dw->cxt, sizeof(DayEstimate) * Max(dw->nest, 1));
	for (int i = 0; i < dw->nest; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		DayEstimate *e = &dw->est[i];
		bool		isnull;
		int32		key = DatumGetInt32(SPI_getbinval(t, td, 1, &isnull));
		char	   *method = SPI_getvalue(t, td, 5);
		int			m;

		e->ord = me_keyord_find(ac->key_ord, ac->nmeters, key);
		if (e->ord < 0)
			elog(ERROR, "unexpected meter %d in meter_etl.estimate", key);
		e->ch = DatumGetInt32(SPI_getbinval(t, td, 2, &isnull));
		e->ts = DatumGetTimestampTz(SPI_getbinval(t, td, 3, &isnull));
		e->kw = DatumGetFloat8(SPI_getbinval(t, td, 4, &isnull));
		/* a handful of methods: one copy each, alive as long as the writers */
		for (m = 0; m < nmethods && strcmp(methods[m], method) != 0; m++)
			;
		if (m == nmethods)
		{
			if (nmethods == lengthof(methods))
				elog(ERROR, "unexpected estimate method \"%s\"", method);
			methods[nmethods++] = MemoryContextStrdup(dw->cxt, method);
		}
		e->method = methods[m];
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(dw->est, dw->nest, sizeof(DayEstimate), estimate_cmp);
}

/* DestReceiver: one row (run, meter_key, channel_id, ts, kw, flags, file_id, line_no). */
static bool
day_receive(TupleTableSlot *slot, DestReceiver *self)
{
	DayWriter  *dw = (DayWriter *) self;
	int64		ord;

	slot_getallattrs(slot);
	ord = row_meter(dw, DatumGetInt64(slot->tts_values[0]), DatumGetInt32(slot->tts_values[1]));
	if (ord >= 0)
		archive_reading(dw, ord, slot->tts_values + 1, slot->tts_isnull + 1);
	return true;
}

/* DestReceiver callbacks with nothing to do: files open lazily and close after the query. */
static void
day_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

/* See day_startup. */
static void
day_shutdown(DestReceiver *self)
{
}

/* See day_startup (the receiver lives on write_day's stack). */
static void
day_destroy(DestReceiver *self)
{
}

/*
 * The query reading a day: per run of meters (plan_runs), the rows come
 * from the primary key index in (meter key, channel, time) order; rows of
 * meters outside the run are skipped by the receiver.  Parameters: the
 * runs' first and last keys (int4[]), the day's start and end.
 */
static SPIPlanPtr
prepare_read(void)
{
	static Oid	ptypes[4] = {INT4ARRAYOID, INT4ARRAYOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	SPIPlanPtr	plan;

	plan = SPI_prepare("SELECT k.run, r.meter_key, r.channel_id, r.ts, r.kw, r.flags, r.file_id, r.line_no"
					   "  FROM unnest($1::integer[], $2::integer[]) WITH ORDINALITY AS k(lo, hi, run),"
					   "  LATERAL (SELECT r.meter_key, r.channel_id, r.ts, r.kw, r.flags, r.file_id, r.line_no"
					   "             FROM meter_etl.reading r"
					   "            WHERE r.meter_key BETWEEN k.lo AND k.hi AND r.ts >= $3 AND r.ts < $4"
					   "            ORDER BY r.meter_key, r.channel_id, r.ts) r",
					   4, ptypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare the archive query: %s", SPI_result_code_string(SPI_result));
	return plan;
}

/*
 * The day's own partition of reading, or InvalidOid: it must be bounded by
 * exactly the day's UTC midnights, so that every row of the day is in it
 * and nothing else is.  Both sides of the comparison are printed by the
 * same output function, so comparing the text is exact.  *parent gets
 * reading's Oid.
 */
static Oid
day_partition(DateADT day, Oid *parent)
{
	static Oid	types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[2];
	Oid			part = InvalidOid;
	bool		isnull;

	args[0] = TimestampTzGetDatum((TimestampTz) day * USECS_PER_DAY);
	args[1] = TimestampTzGetDatum((TimestampTz) (day + 1) * USECS_PER_DAY);
	if (SPI_execute_with_args("SELECT c.oid, i.inhparent FROM pg_catalog.pg_inherits i"
							  "  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid"
							  " WHERE i.inhparent = 'meter_etl.reading'::pg_catalog.regclass"
							  "   AND c.relkind = 'r'"
							  "   AND pg_catalog.pg_get_expr(c.relpartbound, c.oid)"
							  "       = pg_catalog.format('FOR VALUES FROM (%L) TO (%L)', $1, $2)",
							  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the partition of a day");
	if (SPI_processed == 1)
	{
		part = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*parent = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return part;
}

/* The archived columns of reading, in archive_row's order. */
static const char *const read_columns[] = {
	"meter_key", "channel_id", "ts", "kw", "flags", "file_id", "line_no"
};
#define NREAD lengthof(read_columns)

/*
 * Read a day straight from its partition's primary key, one index range
 * scan per run of meters, without the executor: it is the same scan the
 * archive query makes, less the nested loop, the time conditions (the
 * partition holds exactly the day) and the projection per row.  Returns
 * false, having read nothing, where the shortcut does not apply: row
 * security on reading, or a primary key not led by (meter_key, channel_id,
 * ts).  The caller's SELECT privilege on reading is checked as the query
 * would, and the locks are kept until the transaction ends, as the query's
 * are (the files are published at commit).
 */
static bool
scan_day(DayWriter *dw)
{
	ArchiveCtx *ac = dw->ac;
	Oid			parent = dw->parent;
	Oid			partid = dw->partid;
	Relation	heap;
	Relation	index;
	Oid			indexid;
	AttrNumber	att[NREAD];
	AttrNumber	maxatt = 0;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	ScanKeyData keys[2];
	Datum		v[NREAD];
	bool		isnull[NREAD];
	AclResult	aclresult;

	aclresult = pg_class_aclcheck(parent, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, get_rel_name(parent));
	if (check_enable_rls(parent, InvalidOid, true) == RLS_ENABLED)
		return false;
	LockRelationOid(parent, AccessShareLock);
	heap = table_open(partid, AccessShareLock);
	for (int i = 0; i < NREAD; i++)
	{
		att[i] = get_attnum(partid, read_columns[i]);
		maxatt = Max(maxatt, att[i]);
	}
	indexid = RelationGetPrimaryKeyIndex(heap);
	if (!OidIsValid(indexid))
	{
		table_close(heap, NoLock);
		return false;
	}
	index = index_open(indexid, AccessShareLock);
	if (index->rd_index->indnkeyatts < 3 ||
		index->rd_index->indkey.values[0] != att[0] ||
		index->rd_index->indkey.values[1] != att[1] ||
		index->rd_index->indkey.values[2] != att[2])
	{
		index_close(index, NoLock);
		table_close(heap, NoLock);
		return false;
	}
	slot = table_slot_create(heap, NULL);
	scan = index_beginscan(heap, index, GetActiveSnapshot(), 2, 0);
	for (int r = 0; r < ac->nruns; r++)
	{
		ScanKeyInit(&keys[0], 1, BTGreaterEqualStrategyNumber, F_INT4GE,
					Int32GetDatum(ac->runs[r].lo));
		ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT4LE,
					Int32GetDatum(ac->runs[r].hi));
		index_rescan(scan, keys, 2, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			int64		ord;

			slot_getsomeattrs(slot, maxatt);
			for (int i = 0; i < NREAD; i++)
			{
				v[i] = slot->tts_values[att[i] - 1];
				isnull[i] = slot->tts_isnull[att[i] - 1];
			}
			ord = row_meter(dw, r + 1, DatumGetInt32(v[0]));
			if (ord >= 0)
				archive_reading(dw, ord, v, isnull);
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(heap, NoLock);
	return true;
}

/*
 * Write a day's partition files as .tmp: every meter's rows, read by
 * scan_day or else by the archive query, streamed into the writers.
 * Returns the files written (none when the day has no readings), in
 * partition order.
 */
static List *
write_day(ArchiveCtx *ac, PendingDay *pd, List **begun)
{
	DayWriter	dw;
	SPIExecuteOptions opt;
	ParamListInfo params;
	int			nopen = ac->layout == LAYOUT_BUCKET ? ac->buckets : 1;
	List	   *done = NIL;

	params = makeParamList(4);
	params->params[0].value = ac->run_lo;
	params->params[0].ptype = INT4ARRAYOID;
	params->params[1].value = ac->run_hi;
	params->params[1].ptype = INT4ARRAYOID;
	params->params[2].value = TimestampTzGetDatum((TimestampTz) pd->day * USECS_PER_DAY);
	params->params[2].ptype = TIMESTAMPTZOID;
	params->params[3].value = TimestampTzGetDatum((TimestampTz) (pd->day + 1) * USECS_PER_DAY);
	params->params[3].ptype = TIMESTAMPTZOID;
	for (int i = 0; i < 4; i++)
	{
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
	}

	memset(&dw, 0, sizeof(dw));
	dw.pub.receiveSlot = day_receive;
	dw.pub.rStartup = day_startup;
	dw.pub.rShutdown = day_shutdown;
	dw.pub.rDestroy = day_destroy;
	dw.pub.mydest = DestTuplestore;
	dw.ac = ac;
	dw.pd = pd;
	dw.cxt = CurrentMemoryContext;
	dw.open = palloc0(sizeof(PartFile *) * nopen);
	dw.prev_ord = -1;
	dw.prev_ch = -1;
	dw.last_ord = -1;
	dw.partid = day_partition(pd->day, &dw.parent);
	for (int c = 0; c < NCOLS; c++)
	{
		dw.colmap[c] = -1;
		if (c == COL_METER_ID && ac->layout == LAYOUT_METER)
			continue;			/* it is the partition key */
		dw.colmap[c] = dw.ncols;
		dw.cols[dw.ncols++] = archive_columns[c];
	}

	PG_TRY();
	{
		memset(&opt, 0, sizeof(opt));
		opt.params = params;
		opt.read_only = true;	/* every day of the call sees one snapshot */
		opt.dest = (DestReceiver *) &dw;
		if (ac->layout == LAYOUT_BUCKET && me_parallel_archive)
			dw.async = pq_async_start(dw.ncols);	/* NULL: encode in this backend */
		load_estimates(&dw);
		if (!OidIsValid(dw.partid) || !scan_day(&dw))
		{
			if (SPI_execute_plan_extended(ac->plan, &opt) != SPI_OK_SELECT)
				elog(ERROR, "could not run the archive query");
		}
		write_estimates(&dw, true, 0, 0, 0);
		if (dw.async != NULL)
		{
			PqWriter   *failed = NULL;
			int			rc = pq_async_drain(dw.async, &failed);

			if (rc != PQ_OK)
				report_async_failure(&dw, rc);
			pq_async_stop(dw.async);
			dw.async = NULL;
		}
		for (int b = 0; b < nopen; b++)
			if (dw.open[b] != NULL)
			{
				ac->cur_part = dw.open[b]->f->part_value;
				close_part_file(&dw, dw.open[b]);
			}
		ac->cur_part = NULL;
	}
	PG_FINALLY();
	{
		/* the caller deletes these .tmp files if anything failed */
		*begun = dw.files;
		/* stop the encoder before its writers go away */
		if (dw.async != NULL)
			pq_async_stop(dw.async);
		for (int b = 0; b < nopen; b++)
			if (dw.open[b] != NULL)
				free_part_writer(dw.open[b]);
	}
	PG_END_TRY();
	/* partition order: bucket layout closes by bucket, meter layout as it goes */
	if (ac->layout == LAYOUT_BUCKET)
	{
		for (int b = 0; b < nopen; b++)
			if (dw.open[b] != NULL)
				done = lappend(done, dw.open[b]->f);
	}
	else
		done = dw.files;
	return done;
}

/*
 * Whether an error needs an operator, so that trying again cannot help: a
 * path that is not what the archive expects (a file where a directory
 * should be, a symbolic link, a name too long, a stray file in the way) or
 * a permission the server lacks.  Everything else is worth another attempt:
 * a full disk or too many open files (class 53), out of memory, I/O errors,
 * lock timeouts, serialization failures and deadlocks.
 */
static bool
needs_operator(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_WRONG_OBJECT_TYPE ||
		sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE ||
		sqlerrcode == ERRCODE_NAME_TOO_LONG ||
		sqlerrcode == ERRCODE_DUPLICATE_FILE;
}

/*
 * Write a day with up to ARCHIVE_ATTEMPTS attempts, each in its own
 * subtransaction (a failed attempt's .tmp files are deleted).  Returns true
 * with the files in *files, or false with the last error in *edata_out.
 * Query cancellation and shutdown are never retried, an error that needs an
 * operator fails the day at once.
 */
static bool
write_day_retrying(ArchiveCtx *ac, PendingDay *pd, List **files, int *attempts,
				   ErrorData **edata_out, char **failed_part)
{
	for (volatile int attempt = 1;; attempt++)
	{
		MemoryContext oldcxt = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;
		List	   *volatile begun = NIL;
		ErrorData  *volatile edata = NULL;

		*attempts = attempt;
		ac->cur_part = NULL;
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcxt);
		PG_TRY();
		{
			List	   *b = NIL;

			PG_TRY();
			{
				*files = write_day(ac, pd, &b);
			}
			PG_FINALLY();
			{
				begun = b;
			}
			PG_END_TRY();
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
		}
		PG_END_TRY();
		if (edata == NULL)
			return true;

		/* the failed attempt's .tmp files, and directories made only for them */
		me_archive_discard_files(begun, pd->date_dir);
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION)
			ReThrowError(edata);
		if (attempt >= ARCHIVE_ATTEMPTS || needs_operator(edata->sqlerrcode))
		{
			*edata_out = edata;
			*failed_part = ac->cur_part ? pstrdup(ac->cur_part) : NULL;
			ac->cur_part = NULL;
			return false;
		}
		ereport(NOTICE,
				(errmsg("retrying date %s after: %s", me_archive_date(pd->day), edata->message)));
		FreeErrorData(edata);
		pg_usleep(100000L * attempt);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ------------------------------------------------------------ SQL glue */

/*
 * Split the meters, in id order, into runs of ascending keys that one range
 * scan of the primary key each reads (keyruns.h): a fleet whose keys follow
 * its ids is read by one scan instead of one per meter.
 */
static void
plan_runs(ArchiveCtx *ac, const int32 *keys)
{
	Datum	   *lo,
			   *hi;

	ac->key_ord = palloc(sizeof(MeKeyOrd) * Max(ac->nmeters, 1));
	for (int i = 0; i < ac->nmeters; i++)
	{
		ac->key_ord[i].key = keys[i];
		ac->key_ord[i].ord = i;
	}
	me_keyord_sort(ac->key_ord, ac->nmeters);
	ac->runs = palloc(sizeof(MeKeyRun) * Max(ac->nmeters, 1));
	ac->nruns = me_key_runs(keys, ac->nmeters, ac->key_ord, ac->runs);
	lo = palloc(sizeof(Datum) * Max(ac->nruns, 1));
	hi = palloc(sizeof(Datum) * Max(ac->nruns, 1));
	for (int r = 0; r < ac->nruns; r++)
	{
		lo[r] = Int32GetDatum(ac->runs[r].lo);
		hi[r] = Int32GetDatum(ac->runs[r].hi);
	}
	ac->run_lo = PointerGetDatum(construct_array(lo, ac->nruns, INT4OID, 4, true, TYPALIGN_INT));
	ac->run_hi = PointerGetDatum(construct_array(hi, ac->nruns, INT4OID, 4, true, TYPALIGN_INT));
}

/* Load every meter, by id (bytewise, Parquet's string order), with its bucket. */
static void
load_meters(ArchiveCtx *ac)
{
	MemoryContext old;
	int32	   *keys;

	if (SPI_execute("SELECT meter_key, meter_id FROM meter_etl.meter ORDER BY meter_id COLLATE \"C\"",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read meter_etl.meter");
	old = MemoryContextSwitchTo(ac->call_cxt);
	ac->nmeters = (int) SPI_processed;
	ac->meters = palloc(sizeof(ArchiveMeter) * Max(ac->nmeters, 1));
	keys = palloc(sizeof(int32) * Max(ac->nmeters, 1));
	for (int i = 0; i < ac->nmeters; i++)
	{
		bool		isnull;
		HeapTuple	t = SPI_tuptable->vals[i];
		text	   *id = DatumGetTextPP(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull));
		ArchiveMeter *m = &ac->meters[i];

		m->meter_key = DatumGetInt32(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull));
		m->id_len = VARSIZE_ANY_EXHDR(id);
		m->meter_id = pnstrdup(VARDATA_ANY(id), m->id_len);
		m->bucket = me_archive_bucket_of(m->meter_id, m->id_len, ac->buckets);
		keys[i] = m->meter_key;
	}
	plan_runs(ac, keys);
	pfree(keys);
	ac->bucket_names = palloc(sizeof(char *) * ac->buckets);
	for (int b = 0; b < ac->buckets; b++)
		ac->bucket_names[b] = psprintf("%0*d", ac->bucket_width, b);
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
}

/* Load channel names by id. */
static void
load_channels(ArchiveCtx *ac)
{
	MemoryContext old;
	int			maxid = 0;

	if (SPI_execute("SELECT channel_id::integer, name FROM meter_etl.channel", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read meter_etl.channel");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		maxid = Max(maxid, id);
	}
	old = MemoryContextSwitchTo(ac->call_cxt);
	ac->nchannels = maxid + 1;
	ac->channels = palloc0(sizeof(char *) * ac->nchannels);
	ac->channel_len = palloc0(sizeof(int) * ac->nchannels);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (id >= 0)
		{
			ac->channels[id] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
			ac->channel_len[id] = strlen(ac->channels[id]);
		}
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
}

/* Take the transaction-level lock of one date of a dataset. */
static void
lock_day(const char *dataset_rel, DateADT day)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		args[2];
	const char *key = psprintf("meter_etl.archive:%s", dataset_rel);

	args[0] = Int32GetDatum((int32) hash_bytes((const unsigned char *) key, strlen(key)));
	args[1] = Int32GetDatum((int32) day);
	if (SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock($1, $2)",
							  2, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the archive date");
	SPI_freetuptable(SPI_tuptable);
}

/* Replace the manifest rows of a day by its new files; close its open failures. */
static void
record_day(ArchiveCtx *ac, PendingDay *pd)
{
	Oid			dtypes[2] = {TEXTOID, DATEOID};
	Datum		dargs[2] = {CStringGetTextDatum(ac->dataset_rel), DateADTGetDatum(pd->day)};
	Oid			types[15] = {TEXTOID, TEXTOID, DATEOID, TEXTOID, TEXTOID, INT8OID, INT8OID,
		INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, BYTEAOID, TEXTOID, INT4OID, INT8OID,
	TIMESTAMPTZOID};
	const char *key = ac->layout == LAYOUT_BUCKET ? "meter_bucket" : "meter_id";
	ListCell   *lc;
	SPIPlanPtr	ins;

	if (SPI_execute_with_args("DELETE FROM meter_etl.archive_manifest WHERE dataset = $1 AND day = $2",
							  2, dtypes, dargs, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not update meter_etl.archive_manifest");
	ins = SPI_prepare("INSERT INTO meter_etl.archive_manifest (path, dataset, day, partition_key,"
					  " partition_value, rows, bytes, meters, min_ts, max_ts, sha256, compression,"
					  " schema_version, export_id, written_at)"
					  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
					  15, types);
	if (ins == NULL)
		elog(ERROR, "could not prepare the manifest insert");
	foreach(lc, pd->files)
	{
		ArchiveFile *f = lfirst(lc);
		Datum		a[15];
		bytea	   *sha = palloc(VARHDRSZ + sizeof(f->sha256));

		SET_VARSIZE(sha, VARHDRSZ + sizeof(f->sha256));
		memcpy(VARDATA(sha), f->sha256, sizeof(f->sha256));
		a[0] = CStringGetTextDatum(f->rel_path);
		a[1] = CStringGetTextDatum(ac->dataset_rel);
		a[2] = DateADTGetDatum(pd->day);
		a[3] = CStringGetTextDatum(key);
		a[4] = CStringGetTextDatum(f->part_value);
		a[5] = Int64GetDatum(f->rows);
		a[6] = Int64GetDatum(f->bytes);
		a[7] = Int32GetDatum(f->meters);
		a[8] = TimestampTzGetDatum(f->min_ts);
		a[9] = TimestampTzGetDatum(f->max_ts);
		a[10] = PointerGetDatum(sha);
		a[11] = CStringGetTextDatum(ac->codec_name);
		a[12] = Int32GetDatum(ARCHIVE_SCHEMA_VERSION);
		a[13] = Int64GetDatum(ac->export_id);
		a[14] = TimestampTzGetDatum(f->written_at);
		if (SPI_execute_plan(ins, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into meter_etl.archive_manifest");
	}
	SPI_freeplan(ins);
	{
		Oid			rtypes[3] = {TEXTOID, DATEOID, INT8OID};
		Datum		rargs[3] = {dargs[0], dargs[1], Int64GetDatum(ac->export_id)};

		if (SPI_execute_with_args("UPDATE meter_etl.archive_failure SET resolved_at = clock_timestamp(),"
								  " resolved_by_export = $3"
								  " WHERE dataset = $1 AND day = $2 AND resolved_at IS NULL",
								  3, rtypes, rargs, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update meter_etl.archive_failure");
	}
}

/* Record a date that could not be archived, with a critical alert. */
static void
record_failure(ArchiveCtx *ac, DateADT day, const char *part, int attempts, ErrorData *edata)
{
	Oid			types[9] = {INT8OID, TEXTOID, DATEOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, BOOLOID};
	Datum		args[9];
	const char *key = ac->layout == LAYOUT_BUCKET ? "meter_bucket" : "meter_id";
	char		nulls[9];
	bool		for_operator = needs_operator(edata->sqlerrcode);

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int64GetDatum(ac->export_id);
	args[1] = CStringGetTextDatum(ac->dataset_rel);
	args[2] = DateADTGetDatum(day);
	args[3] = CStringGetTextDatum(key);
	args[4] = part ? CStringGetTextDatum(part) : (Datum) 0;
	nulls[4] = part ? ' ' : 'n';
	args[5] = Int32GetDatum(attempts);
	args[6] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	args[7] = CStringGetTextDatum(edata->message ? edata->message : "unknown error");
	args[8] = BoolGetDatum(for_operator);
	if (SPI_execute_with_args("WITH al AS (SELECT meter_etl.raise_alert('archive_failed', 'critical',"
							  "   CASE WHEN $9"
							  "   THEN format('could not archive date %s of dataset \"%s\", an operator must fix the archive directory: %s',"
							  "               $3, $2, $8)"
							  "   ELSE format('could not archive date %s of dataset \"%s\" after %s attempts: %s',"
							  "               $3, $2, $6, $8) END,"
							  "   jsonb_build_object('export_id', $1, 'dataset', $2, 'day', $3,"
							  "    'partition_key', $4, 'partition_value', $5, 'attempts', $6,"
							  "    'sqlstate', $7, 'error', $8, 'needs_operator', $9)) AS alert_id)"
							  " INSERT INTO meter_etl.archive_failure (export_id, dataset, day, partition_key,"
							  "  partition_value, attempts, sqlstate, last_error, alert_id)"
							  " SELECT $1, $2, $3, $4, $5, $6, $7, $8, al.alert_id FROM al",
							  9, types, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the archive failure");
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("could not archive date %s of dataset \"%s\": %s",
					me_archive_date(day), ac->dataset_rel, edata->message),
			 part ? errdetail_plural("Writing partition %s=%s failed %d time.",
									 "Writing partition %s=%s failed %d times.", attempts, key, part, attempts) :
			 errdetail_plural("The attempt failed %d time.", "The attempt failed %d times.", attempts, attempts),
			 for_operator ?
			 errhint("Retrying cannot help: fix the archive directory (the path or its permissions), then archive the date again; the failure is recorded in meter_etl.archive_failure and files archived earlier for that date are kept.") :
			 errhint("The failure is recorded in meter_etl.archive_failure; files archived earlier for that date are kept.")));
}

/* Parse the compression argument. */
static void
parse_codec(ArchiveCtx *ac, const char *s)
{
	if (pg_strcasecmp(s, "zstd") == 0)
		ac->codec = PQ_CODEC_ZSTD, ac->codec_name = "zstd";
	else if (pg_strcasecmp(s, "snappy") == 0)
		ac->codec = PQ_CODEC_SNAPPY, ac->codec_name = "snappy";
	else if (pg_strcasecmp(s, "none") == 0 || pg_strcasecmp(s, "uncompressed") == 0)
		ac->codec = PQ_CODEC_UNCOMPRESSED, ac->codec_name = "none";
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized compression \"%s\"", s),
				 errhint("Use zstd, snappy or none.")));
}

/* Check the date range arguments. */
static void
check_range(FunctionCallInfo fcinfo, DateADT *from, DateADT *to)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("from_date and to_date must not be null")));
	*from = PG_GETARG_DATEADT(0);
	*to = PG_GETARG_DATEADT(1);
	if (DATE_NOT_FINITE(*from) || DATE_NOT_FINITE(*to))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("archive dates must be finite")));
	if (*to < *from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("to_date %s is before from_date %s", me_archive_date(*to), me_archive_date(*from))));
	if (*to - *from >= ARCHIVE_MAX_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("refusing to archive %d days in one call", *to - *from + 1),
				 errhint("Archive at most %d days per call.", ARCHIVE_MAX_DAYS)));
}

/*
 * The snapshot every date of the call is read with, the calling statement's
 * (the scans use the active snapshot, and the SPI queries run read-only),
 * as a pg_snapshot.  It must be taken here, not by the INSERT that records
 * it: that statement gets a newer snapshot, which would claim changes
 * committed meanwhile as archived.
 */
static Datum
read_snapshot(void)
{
	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	return pg_current_snapshot(fcinfo);
}

/* Insert the export row with the read snapshot; returns its id. */
static int64
start_export(ArchiveCtx *ac, DateADT from, DateADT to, Datum snapshot)
{
	Oid			types[9] = {TEXTOID, DATEOID, DATEOID, TEXTOID, INT4OID, TEXTOID, INT4OID, BOOLOID,
		PG_SNAPSHOTOID};
	Datum		args[9];
	char		nulls[9];
	bool		isnull;
	bool		has_snapshot;

	memset(nulls, ' ', sizeof(nulls));

	args[0] = CStringGetTextDatum(ac->dataset_rel);
	args[1] = DateADTGetDatum(from);
	args[2] = DateADTGetDatum(to);
	args[3] = CStringGetTextDatum(ac->layout == LAYOUT_BUCKET ? "meter_bucket" : "meter_id");
	args[4] = Int32GetDatum(ac->buckets);
	if (ac->layout != LAYOUT_BUCKET)
		nulls[4] = 'n';
	args[5] = CStringGetTextDatum(ac->codec_name);
	args[6] = Int32GetDatum(ac->row_group_rows);
	args[7] = BoolGetDatum(ac->line_numbers);
	args[8] = snapshot;
	/* a schema not yet updated from 0.1 has no snapshot to record */
	has_snapshot = me_schema_has("archive_export", "snapshot");
	if (SPI_execute_with_args(has_snapshot ?
							  "INSERT INTO meter_etl.archive_export (dataset, from_date, to_date, layout,"
							  " buckets, compression, row_group_rows, line_numbers, status, snapshot)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'running', $9) RETURNING export_id" :
							  "INSERT INTO meter_etl.archive_export (dataset, from_date, to_date, layout,"
							  " buckets, compression, row_group_rows, line_numbers, status)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'running') RETURNING export_id",
							  has_snapshot ? 9 : 8, types, args, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not record the archive export");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Record the export's totals. */
static void
finish_export(ArchiveCtx *ac, int days_ok, int days_failed, int64 files, int64 rows, int64 bytes)
{
	Oid			types[6] = {INT8OID, INT4OID, INT4OID, INT8OID, INT8OID, INT8OID};
	Datum		args[6] = {Int64GetDatum(ac->export_id), Int32GetDatum(days_ok),
		Int32GetDatum(days_failed), Int64GetDatum(files), Int64GetDatum(rows),
	Int64GetDatum(bytes)};

	if (SPI_execute_with_args("UPDATE meter_etl.archive_export SET finished_at = clock_timestamp(),"
							  " status = CASE WHEN $3 = 0 THEN 'ok' WHEN $2 = 0 THEN 'failed' ELSE 'partial' END,"
							  " days_archived = $2, days_failed = $3, files = $4, rows = $5, bytes = $6"
							  " WHERE export_id = $1",
							  6, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the archive export");
}

/*
 * SQL: archive_parquet(from_date, to_date, buckets, partition_by, dataset,
 * compression, row_group_rows) returns one row per date.
 */
Datum
meter_etl_archive_parquet(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArchiveCtx	ac;
	DateADT		from,
				to;
	const char *partition_by;
	char	   *dataset;
	Datum		snapshot;
	ErrorContextCallback errcb;
	int			days_ok = 0,
				days_failed = 0;
	int64		tot_files = 0,
				tot_rows = 0,
				tot_bytes = 0;

	me_archive_check_privilege();
	check_range(fcinfo, &from, &to);
	memset(&ac, 0, sizeof(ac));
	ac.buckets = PG_ARGISNULL(2) ? me_archive_buckets : PG_GETARG_INT32(2);
	partition_by = PG_ARGISNULL(3) ? "meter_bucket" : text_to_cstring(PG_GETARG_TEXT_PP(3));
	dataset = PG_ARGISNULL(4) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	parse_codec(&ac, PG_ARGISNULL(5) ? "zstd" : text_to_cstring(PG_GETARG_TEXT_PP(5)));
	ac.row_group_rows = PG_ARGISNULL(6) ? 1048576 : PG_GETARG_INT32(6);
	ac.line_numbers = PG_ARGISNULL(7) ? false : PG_GETARG_BOOL(7);
	if (strcmp(partition_by, "meter_bucket") == 0)
		ac.layout = LAYOUT_BUCKET;
	else if (strcmp(partition_by, "meter_id") == 0)
		ac.layout = LAYOUT_METER;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized partition_by \"%s\"", partition_by),
				 errhint("Use meter_bucket or meter_id.")));
	if (ac.buckets < 1 || ac.buckets > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("buckets must be between 1 and 1000")));
	if (ac.row_group_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("row_group_rows must be positive")));
	ac.bucket_width = 2;
	for (int b = ac.buckets - 1; b >= 100; b /= 10)
		ac.bucket_width++;
	/*
	 * Every bucket's writer is open during a pass and buffers its row group
	 * (about 60 bytes a row before the chunk is written): keep the rows
	 * buffered by all of them near 1 Mi, and their pages small (smaller row
	 * groups also stay in cache while they are encoded).
	 */
	ac.rg_rows_open = ac.layout == LAYOUT_BUCKET ?
		Min(ac.row_group_rows, Max(4096, 1048576 / ac.buckets)) : ac.row_group_rows;
	ac.page_bytes = ac.layout == LAYOUT_BUCKET ?
		Max(64 * 1024, Min(1024 * 1024, 8 * 1024 * 1024 / ac.buckets)) : 1024 * 1024;
	ac.call_cxt = CurrentMemoryContext;
	(void) me_archive_resolve_dataset(dataset, true, &ac.root, &ac.dataset_dir, &ac.dataset_rel);

	InitMaterializedSRF(fcinfo, 0);
	snapshot = read_snapshot();
	SPI_connect();
	ac.export_id = start_export(&ac, from, to, snapshot);
	load_channels(&ac);
	load_meters(&ac);
	ac.plan = prepare_read();

	errcb.callback = archive_error_callback;
	errcb.arg = &ac;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	for (DateADT day = from; day <= to; day++)
	{
		PendingDay *pd;
		List	   *files = NIL;
		ListCell   *lc;
		ErrorData  *edata = NULL;
		char	   *failed_part = NULL;
		int			attempts = 0;
		bool		failed;
		int64		rows = 0,
					bytes = 0;
		const char *status;
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		MemoryContext daycxt = AllocSetContextCreate(ac.call_cxt, "meter_etl archive day",
													 ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(daycxt);

		CHECK_FOR_INTERRUPTS();
		lock_day(ac.dataset_rel, day);
		pd = me_archive_begin_day(ac.dataset_dir, ac.dataset_rel, day);
		ac.cur_day = day;
		failed = !write_day_retrying(&ac, pd, &files, &attempts, &edata, &failed_part);
		if (failed)
		{
			me_archive_cancel_day(pd);
			record_failure(&ac, day, failed_part, attempts, edata);
			status = "failed";
			days_failed++;
		}
		else if (files == NIL)
		{
			/* no readings: nothing to replace, an earlier archive stays */
			me_archive_cancel_day(pd);
			status = "empty";
		}
		else
		{
			MemoryContext o2 = MemoryContextSwitchTo(TopTransactionContext);

			pd->files = list_copy(files);
			MemoryContextSwitchTo(o2);
			foreach(lc, files)
			{
				rows += ((ArchiveFile *) lfirst(lc))->rows;
				bytes += ((ArchiveFile *) lfirst(lc))->bytes;
			}
			record_day(&ac, pd);
			status = "archived";
			days_ok++;
			tot_files += list_length(files);
			tot_rows += rows;
			tot_bytes += bytes;
		}
		values[0] = DateADTGetDatum(day);
		values[1] = CStringGetTextDatum(status);
		values[2] = Int32GetDatum(list_length(pd->files));
		values[3] = Int64GetDatum(rows);
		values[4] = Int64GetDatum(bytes);
		values[5] = Int64GetDatum(ac.export_id);
		MemoryContextSwitchTo(old);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextDelete(daycxt);
	}
	error_context_stack = errcb.previous;
	finish_export(&ac, days_ok, days_failed, tot_files, tot_rows, tot_bytes);
	SPI_finish();
	return (Datum) 0;
}

/*
 * SQL: archive_drop(from_date, to_date, dataset) removes the archived files
 * of those dates (at commit) and their manifest rows; returns the number of
 * manifest files removed.
 */
Datum
meter_etl_archive_drop(PG_FUNCTION_ARGS)
{
	DateADT		from,
				to;
	char	   *dataset = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *root,
			   *dir,
			   *rel;
	bool		exists;
	int64		removed = 0;

	me_archive_check_privilege();
	check_range(fcinfo, &from, &to);
	exists = me_archive_resolve_dataset(dataset, false, &root, &dir, &rel);
	SPI_connect();
	for (DateADT day = from; day <= to; day++)
	{
		Oid			types[2] = {TEXTOID, DATEOID};
		Datum		args[2] = {CStringGetTextDatum(rel), DateADTGetDatum(day)};

		CHECK_FOR_INTERRUPTS();
		lock_day(rel, day);
		if (exists)
			(void) me_archive_begin_day(dir, rel, day);	/* no new files: all are removed */
		if (SPI_execute_with_args("DELETE FROM meter_etl.archive_manifest WHERE dataset = $1 AND day = $2",
								  2, types, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not update meter_etl.archive_manifest");
		removed += SPI_processed;
	}
	SPI_finish();
	PG_RETURN_INT64(removed);
}

/* SQL: meter_bucket(meter_id, buckets): the bucket archive_parquet puts a meter in. */
Datum
meter_etl_meter_bucket(PG_FUNCTION_ARGS)
{
	text	   *id = PG_GETARG_TEXT_PP(0);
	int32		buckets = PG_GETARG_INT32(1);

	if (buckets < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("buckets must be positive")));
	PG_RETURN_INT32(me_archive_bucket_of(VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id), buckets));
}
