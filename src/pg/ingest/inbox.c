/*
 * inbox.c - meter_etl.scan_inbox(): stage the files that landed in the inbox
 *
 * The in-database analogue of "a file lands, the pipeline starts": walk
 * meter_etl.inbox_dir, skip what is hidden, still being written or already
 * staged unchanged (path, size and modification time are remembered in
 * meter_etl.inbox_file), and stage the rest through the raw zone, whose
 * content hash makes a re-sent file cost nothing.  Entries that resolve
 * outside the inbox (symlinks) are skipped with a warning rather than
 * failing the scan.
 */
#include "postgres.h"

#include <limits.h>
#include <sys/stat.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "core/confine.h"
#include "stage.h"

PG_FUNCTION_INFO_V1(meter_etl_scan_inbox);

/* A candidate file found by the walk. */
typedef struct InboxEntry
{
	char	   *rel;			/* path below the inbox */
	int64		size;
	TimestampTz mtime;
} InboxEntry;

typedef struct Walk
{
	InboxEntry *items;
	int			n;
	int			cap;
	char		root[PATH_MAX];
	TimestampTz newest_allowed;
} Walk;

/* Names an uploader uses while a file is incomplete, and hidden files. */
static bool
skipped_name(const char *name)
{
	size_t		n = strlen(name);

	return name[0] == '.' ||
		(n > 4 && strcmp(name + n - 4, ".tmp") == 0) ||
		(n > 5 && strcmp(name + n - 5, ".part") == 0);
}

/* Is the real path of this entry inside the inbox? */
static bool
inside_inbox(const Walk *w, const char *full)
{
	char		real[PATH_MAX];

	return realpath(full, real) != NULL && me_path_inside(real, w->root) &&
		strcmp(real, w->root) != 0;
}

/* Collect regular files below dir (relative path rel), depth first. */
static void
walk_dir(Walk *w, const char *rel, int depth)
{
	char	   *dirpath;
	DIR		   *dir;
	struct dirent *de;

	if (depth > 16)
	{
		ereport(WARNING,
				(errmsg("skipping \"%s\": directories nest more than 16 levels deep", rel)));
		return;
	}
	dirpath = rel[0] ? psprintf("%s/%s", w->root, rel) : pstrdup(w->root);
	dir = AllocateDir(dirpath);
	while ((de = ReadDir(dir, dirpath)) != NULL)
	{
		char	   *childrel;
		char	   *full;
		struct stat st;

		CHECK_FOR_INTERRUPTS();
		if (skipped_name(de->d_name))
			continue;
		childrel = rel[0] ? psprintf("%s/%s", rel, de->d_name) : pstrdup(de->d_name);
		full = psprintf("%s/%s", w->root, childrel);
		if (stat(full, &st) != 0)
			continue;
		if (!inside_inbox(w, full))
		{
			ereport(WARNING,
					(errmsg("skipping \"%s\": it leads outside meter_etl.inbox_dir", childrel)));
			continue;
		}
		if (S_ISDIR(st.st_mode))
			walk_dir(w, childrel, depth + 1);
		else if (S_ISREG(st.st_mode))
		{
			TimestampTz mtime = time_t_to_timestamptz(st.st_mtime);

			if (mtime > w->newest_allowed)
				continue;		/* may still be being written */
			if (w->n == w->cap)
			{
				w->cap = w->cap ? w->cap * 2 : 64;
				w->items = w->items ? repalloc(w->items, sizeof(InboxEntry) * w->cap) :
					palloc(sizeof(InboxEntry) * w->cap);
			}
			w->items[w->n].rel = childrel;
			w->items[w->n].size = (int64) st.st_size;
			w->items[w->n].mtime = mtime;
			w->n++;
		}
	}
	FreeDir(dir);
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const InboxEntry *) a)->rel, ((const InboxEntry *) b)->rel);
}

/* Was this file staged before with the same size and modification time? */
static bool
already_staged(const InboxEntry *e)
{
	Oid			argtypes[3] = {TEXTOID, INT8OID, TIMESTAMPTZOID};
	Datum		args[3] = {CStringGetTextDatum(e->rel), Int64GetDatum(e->size),
	TimestampTzGetDatum(e->mtime)};

	if (SPI_execute_with_args("SELECT 1 FROM meter_etl.inbox_file WHERE path = $1"
							  " AND size_bytes = $2 AND modified_at = $3",
							  3, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read meter_etl.inbox_file");
	return SPI_processed > 0;
}

/* Remember a staged file. */
static void
remember(const InboxEntry *e, int64 file_id)
{
	Oid			argtypes[4] = {TEXTOID, INT8OID, TIMESTAMPTZOID, INT8OID};
	Datum		args[4] = {CStringGetTextDatum(e->rel), Int64GetDatum(e->size),
	TimestampTzGetDatum(e->mtime), Int64GetDatum(file_id)};

	if (SPI_execute_with_args("INSERT INTO meter_etl.inbox_file (path, size_bytes, modified_at, file_id)"
							  " VALUES ($1, $2, $3, $4) ON CONFLICT (path) DO UPDATE"
							  " SET size_bytes = EXCLUDED.size_bytes, modified_at = EXCLUDED.modified_at,"
							  " file_id = EXCLUDED.file_id, staged_at = clock_timestamp()",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record an inbox file");
}

/* SQL: scan_inbox(min_age interval, source text) RETURNS TABLE (path, file_id, is_new) */
Datum
meter_etl_scan_inbox(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Interval   *min_age;
	char	   *source = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Walk		w;
	char	   *rel;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("min_age must not be null"),
				 errhint("Pass an interval such as '10 seconds', or '0' for no minimum age.")));
	min_age = PG_GETARG_INTERVAL_P(0);
	InitMaterializedSRF(fcinfo, 0);
	memset(&w, 0, sizeof(w));
	/* resolving "." both checks the setting and canonicalises the root */
	me_inbox_resolve_dir(w.root);
	/* calendar arithmetic, as now() - min_age in SQL */
	w.newest_allowed = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
															   TimestampTzGetDatum(GetCurrentTimestamp()),
															   IntervalPGetDatum(min_age)));
	walk_dir(&w, "", 0);
	qsort(w.items, w.n, sizeof(InboxEntry), entry_cmp);
	for (int i = 0; i < w.n; i++)
	{
		InboxEntry *e = &w.items[i];
		bool		is_new;
		int64		file_id;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		SPI_connect();
		if (already_staged(e))
		{
			SPI_finish();
			continue;
		}
		SPI_finish();
		rel = e->rel;
		file_id = me_stage_path(rel, source, &is_new);
		SPI_connect();
		remember(e, file_id);
		SPI_finish();
		values[0] = CStringGetTextDatum(e->rel);
		values[1] = Int64GetDatum(file_id);
		values[2] = BoolGetDatum(is_new);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
