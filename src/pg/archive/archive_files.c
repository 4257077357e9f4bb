/*
 * archive_files.c - the Parquet archive's files: paths confined to
 * meter_etl.archive_dir, and their publication when the transaction commits
 *
 * Writers leave finished files as part-0000.parquet.tmp and register the
 * date with me_archive_begin_day().  Just before the transaction commits,
 * the .tmp files are renamed into place, every other part file of the date
 * (older exports, another layout, .tmp files left by a crash) is removed
 * and the directories are fsynced; an aborted transaction or subtransaction
 * deletes its .tmp files instead.  File system errors raise an ERROR, never
 * a PANIC (the archive is not the database).
 */
#include "postgres.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

#include "core/confine.h"
#include "archive.h"
#include "pg/guc.h"
#include "pg/ingest/stage.h"

#define ARCHIVE_DIR_MODE 0750

static List *pending_days = NIL;
static bool callbacks_registered = false;

/* Messages name paths relative to the archive root (set when it is resolved). */
static char msg_root[PATH_MAX];

/* ------------------------------------------------------------ helpers */

/* "YYYY-MM-DD" of a date. */
char *
me_archive_date(DateADT d)
{
	int			y,
				m,
				dd;

	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
	return psprintf("%04d-%02d-%02d", y, m, dd);
}

/* Bucket of a meter id: hashtextextended(meter_id, 0), made non-negative, modulo buckets. */
int32
me_archive_bucket_of(const char *id, int len, int buckets)
{
	uint64		h = hash_bytes_extended((const unsigned char *) id, len, 0);

	return (int32) ((h & UINT64CONST(0x7FFFFFFFFFFFFFFF)) % (uint64) buckets);
}

/*
 * A partition value as a path segment: bytes other than ASCII letters,
 * digits, '-', '_' and '.' become %XX (as Hive, Spark and DuckDB decode).
 */
char *
me_archive_hive_escape(const char *s, int len)
{
	StringInfoData buf;

	if (len == 0)
		return pstrdup("__HIVE_DEFAULT_PARTITION__");
	initStringInfo(&buf);
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_' || c == '.')
			appendStringInfoChar(&buf, (char) c);
		else
			appendStringInfo(&buf, "%%%02X", c);
	}
	return buf.data;
}

/* A path for messages: relative to meter_etl.archive_dir when inside it. */
const char *
me_archive_disp(const char *path)
{
	size_t		n = strlen(msg_root);

	if (n > 1 && strncmp(path, msg_root, n) == 0 && path[n] == '/')
		return path + n + 1;
	return path;
}

/* Make sure dir exists as a real directory (not a symlink); create it if missing. */
void
me_archive_ensure_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, ARCHIVE_DIR_MODE) == 0)
	{
		/* the server's umask would hide the archive from its readers' group */
		if (chmod(dir, ARCHIVE_DIR_MODE) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not change permissions of directory \"%s\": %m", me_archive_disp(dir))));
		return;
	}
	if (errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", me_archive_disp(dir))));
	if (lstat(dir, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat directory \"%s\": %m", me_archive_disp(dir))));
	if (S_ISLNK(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("\"%s\" is a symbolic link", dir),
				 errdetail("The archive does not follow symbolic links below the dataset directory.")));
	if (!S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a directory", me_archive_disp(dir))));
}

/* Only superusers and members of pg_write_server_files may write server files. */
void
me_archive_check_privilege(void)
{
	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write the Parquet archive"),
				 errdetail("Only superusers and roles with privileges of pg_write_server_files may write files on the server.")));
}

/*
 * Resolve the archive root and a dataset below it.  The dataset may be
 * relative to meter_etl.archive_dir or an absolute path inside it; each
 * component is resolved in turn (created when create is true) and must stay
 * inside the root.  Returns false when the dataset does not exist and create
 * is false; *rel then holds the lexical relative path.
 */
bool
me_archive_resolve_dataset(const char *dataset, bool create, char **root_out, char **dir_out, char **rel_out)
{
	char		root[PATH_MAX];
	char		real[PATH_MAX];
	const char *rest = dataset;
	char	   *copy;
	char	   *tok;
	char	   *save;
	StringInfoData cur;
	StringInfoData rel;
	struct stat st;

	me_resolve_dir_setting("meter_etl.archive_dir", me_archive_dir,
						   "the Parquet archive is written to", root);
	strlcpy(msg_root, root, sizeof(msg_root));
	if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("meter_etl.archive_dir \"%s\" is not a directory", me_archive_dir)));
	if (me_path_has_dotdot(dataset))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("path \"%s\" must not contain \"..\"", dataset)));
	if (is_absolute_path(dataset))
	{
		size_t		n1 = strlen(me_archive_dir);
		size_t		n2 = strlen(root);

		while (n1 > 1 && me_archive_dir[n1 - 1] == '/')
			n1--;
		if (strncmp(dataset, root, n2) == 0 && (dataset[n2] == '/' || dataset[n2] == '\0'))
			rest = dataset + n2;
		else if (strncmp(dataset, me_archive_dir, n1) == 0 &&
				 (dataset[n1] == '/' || dataset[n1] == '\0'))
			rest = dataset + n1;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("path \"%s\" is outside meter_etl.archive_dir", dataset)));
	}
	initStringInfo(&cur);
	appendStringInfoString(&cur, root);
	initStringInfo(&rel);
	copy = pstrdup(rest);
	for (tok = strtok_r(copy, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save))
	{
		if (strcmp(tok, ".") == 0)
			continue;
		for (const char *c = tok; *c; c++)
			if ((unsigned char) *c < 0x20 || *c == 0x7F)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("dataset \"%s\" contains a control character", dataset)));
		if (strchr(tok, '=') != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("dataset directory \"%s\" must not contain \"=\"", tok),
					 errdetail("Readers would take it for a partition key.")));
		if (strcmp(cur.data, "/") != 0)
			appendStringInfoChar(&cur, '/');
		appendStringInfoString(&cur, tok);
		if (rel.len > 0)
			appendStringInfoChar(&rel, '/');
		appendStringInfoString(&rel, tok);
		if (lstat(cur.data, &st) != 0)
		{
			if (errno != ENOENT)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not stat \"%s\": %m", cur.data)));
			if (!create)
			{
				/* report the lexical path: nothing exists there to resolve */
				const char *more = strtok_r(NULL, "", &save);

				if (more != NULL)
					appendStringInfo(&rel, "/%s", more);
				*root_out = pstrdup(root);
				*dir_out = psprintf("%s/%s", root, rel.data);
				*rel_out = rel.data;
				return false;
			}
			me_archive_ensure_dir(cur.data);
		}
		if (realpath(cur.data, real) == NULL)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not resolve \"%s\": %m", cur.data)));
		if (!me_path_inside(real, root))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("path \"%s\" is outside meter_etl.archive_dir", dataset),
					 errdetail("It resolves to \"%s\".", real)));
		if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is not a directory", me_archive_disp(cur.data))));
		/* continue from the canonical path; rel follows it */
		resetStringInfo(&cur);
		appendStringInfoString(&cur, real);
		resetStringInfo(&rel);
		if (strcmp(real, root) != 0)
			appendStringInfoString(&rel, real + strlen(root) + (strcmp(root, "/") == 0 ? 0 : 1));
	}
	*root_out = pstrdup(root);
	*dir_out = cur.data;
	*rel_out = rel.data;
	return true;
}

/* fsync a directory (raising an ERROR, never a PANIC, on failure). */
static void
sync_dir(const char *dir)
{
	fsync_fname_ext(dir, true, false, ERROR);
}

/* ------------------------------------------------------------ publication */

/* Is name "part-<digits>.parquet" (or with ".tmp" when tmp_too)? */
static bool
is_part_file(const char *name, bool tmp_too)
{
	const char *p = name;
	size_t		n;

	if (strncmp(p, "part-", 5) != 0)
		return false;
	p += 5;
	if (!isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	n = strlen(p);
	return strcmp(p, ".parquet") == 0 || (tmp_too && n == 12 && strcmp(p, ".parquet.tmp") == 0);
}

/* Is name a partition directory of either layout? */
static bool
is_part_dir(const char *name)
{
	return strncmp(name, "meter_bucket=", 13) == 0 || strncmp(name, "meter_id=", 9) == 0;
}

/* Is path one of the day's new files? */
static bool
is_new_file(PendingDay *pd, const char *path)
{
	ListCell   *lc;

	foreach(lc, pd->files)
		if (strcmp(((ArchiveFile *) lfirst(lc))->final_path, path) == 0)
			return true;
	return false;
}

/*
 * Remove every part file of the date that is not one of its new files
 * (older exports, other layouts, .tmp files left by a crash), then the
 * partition directories and the date directory left empty.
 */
static void
remove_stale(PendingDay *pd)
{
	DIR		   *dd;
	struct dirent *de;
	bool		date_empty = true;

	dd = AllocateDir(pd->date_dir);
	if (dd == NULL && errno == ENOENT)
		return;
	while ((de = ReadDir(dd, pd->date_dir)) != NULL)
	{
		char	   *sub;
		struct stat st;
		DIR		   *pdh;
		struct dirent *pe;
		bool		empty = true;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		sub = psprintf("%s/%s", pd->date_dir, de->d_name);
		if (!is_part_dir(de->d_name) || lstat(sub, &st) != 0 || !S_ISDIR(st.st_mode))
		{
			date_empty = false;
			continue;
		}
		pdh = AllocateDir(sub);
		while ((pe = ReadDir(pdh, sub)) != NULL)
		{
			char	   *f;

			if (strcmp(pe->d_name, ".") == 0 || strcmp(pe->d_name, "..") == 0)
				continue;
			f = psprintf("%s/%s", sub, pe->d_name);
			if (is_part_file(pe->d_name, true) && !is_new_file(pd, f))
			{
				if (unlink(f) != 0 && errno != ENOENT)
					ereport(ERROR,
							(errcode_for_file_access(),
							 errmsg("could not remove file \"%s\": %m", me_archive_disp(f))));
			}
			else
				empty = false;
			pfree(f);
		}
		FreeDir(pdh);
		if (empty)
		{
			if (rmdir(sub) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not remove directory \"%s\": %m", me_archive_disp(sub))));
		}
		else
		{
			sync_dir(sub);
			date_empty = false;
		}
		pfree(sub);
	}
	FreeDir(dd);
	if (date_empty)
	{
		if (rmdir(pd->date_dir) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove directory \"%s\": %m", me_archive_disp(pd->date_dir))));
	}
	else
		sync_dir(pd->date_dir);
}

/* Rename a day's new files into place, then remove what they replace. */
static void
publish_day(PendingDay *pd)
{
	ListCell   *lc;
	const char *last_dir = NULL;

	foreach(lc, pd->files)
	{
		ArchiveFile *f = lfirst(lc);

		if (rename(f->tmp_path, f->final_path) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rename file \"%s\" to \"%s\": %m",
							me_archive_disp(f->tmp_path), me_archive_disp(f->final_path))));
		/* files of one partition directory are adjacent */
		if (last_dir != NULL && strcmp(last_dir, f->part_dir) != 0)
			sync_dir(last_dir);
		last_dir = f->part_dir;
	}
	if (last_dir != NULL)
		sync_dir(last_dir);
	remove_stale(pd);
	sync_dir(pd->dataset_dir);
}

/* Delete .tmp files (ArchiveFile list) and the directories made only for them. */
void
me_archive_discard_files(List *files, const char *date_dir)
{
	ListCell   *lc;

	foreach(lc, files)
	{
		ArchiveFile *f = lfirst(lc);

		(void) unlink(f->tmp_path);
		(void) rmdir(f->part_dir);	/* fails harmlessly unless empty */
	}
	(void) rmdir(date_dir);
}

/* Delete a day's .tmp files and the directories that were only made for them. */
static void
discard_day(PendingDay *pd)
{
	me_archive_discard_files(pd->files, pd->date_dir);
}

/* Transaction callback: publish at pre-commit, clean up on abort. */
static void
archive_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (pending_days == NIL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			foreach(lc, pending_days)
				publish_day(lfirst(lc));
			pending_days = NIL;
			break;
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot prepare a transaction that wrote to the Parquet archive")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			foreach(lc, pending_days)
				discard_day(lfirst(lc));
			pending_days = NIL;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			pending_days = NIL;
			break;
		default:
			break;
	}
}

/* Subtransaction callback: a rolled-back subtransaction takes its days with it. */
static void
archive_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	List	   *keep = NIL;
	ListCell   *lc;
	MemoryContext old;

	if (pending_days == NIL)
		return;
	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	foreach(lc, pending_days)
	{
		PendingDay *pd = lfirst(lc);

		if (pd->nest_level >= level)
		{
			if (event == SUBXACT_EVENT_ABORT_SUB)
			{
				discard_day(pd);
				continue;
			}
			pd->nest_level = level - 1;
		}
		keep = lappend(keep, pd);
	}
	MemoryContextSwitchTo(old);
	pending_days = keep;
}

/* Register the callbacks once per backend. */
static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(archive_xact_callback, NULL);
	RegisterSubXactCallback(archive_subxact_callback, NULL);
	callbacks_registered = true;
}

/* Start a pending day (refusing a date this transaction already wrote). */
PendingDay *
me_archive_begin_day(const char *dataset_dir, const char *dataset_rel, DateADT day)
{
	ListCell   *lc;
	PendingDay *pd;
	MemoryContext old;

	foreach(lc, pending_days)
	{
		pd = lfirst(lc);
		if (pd->day == day && strcmp(pd->dataset_dir, dataset_dir) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("date %s of dataset \"%s\" was already archived in this transaction",
							me_archive_date(day), dataset_rel),
					 errhint("Commit first, or archive each date once per transaction.")));
	}
	register_callbacks();
	old = MemoryContextSwitchTo(TopTransactionContext);
	pd = palloc0(sizeof(PendingDay));
	pd->nest_level = GetCurrentTransactionNestLevel();
	pd->dataset_dir = pstrdup(dataset_dir);
	pd->dataset_rel = pstrdup(dataset_rel);
	pd->date_dir = psprintf("%s/date=%s", dataset_dir, me_archive_date(day));
	pd->day = day;
	pending_days = lappend(pending_days, pd);
	MemoryContextSwitchTo(old);
	return pd;
}

/* Forget a pending day now (its .tmp files are deleted). */
void
me_archive_cancel_day(PendingDay *pd)
{
	discard_day(pd);
	pending_days = list_delete_ptr(pending_days, pd);
}

