/*
 * archive.h - shared by the Parquet archive's glue files: archive.c (the
 * SQL functions and the writing) and archive_files.c (paths confined to
 * meter_etl.archive_dir, and publication of the files at commit)
 */
#ifndef ME_ARCHIVE_H
#define ME_ARCHIVE_H

#include "postgres.h"

#include "common/sha2.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/date.h"

/* One file of a day: written as tmp_path, published as final_path. */
typedef struct ArchiveFile
{
	char	   *final_path;		/* absolute */
	char	   *tmp_path;		/* final_path + ".tmp" */
	char	   *part_dir;		/* absolute directory of the file */
	char	   *rel_path;		/* relative to archive_dir (manifest key) */
	char	   *part_value;		/* "07" or the meter id */
	int64		rows;
	int64		bytes;
	int32		meters;
	TimestampTz min_ts;
	TimestampTz max_ts;
	TimestampTz written_at;
	uint8		sha256[PG_SHA256_DIGEST_LENGTH];
} ArchiveFile;

/*
 * A date whose new files wait for the end of the transaction (or a date to
 * drop).  Lives in TopTransactionContext; nest_level is the (sub)transaction
 * that owns it, so that a rolled-back subtransaction discards its dates.
 */
typedef struct PendingDay
{
	int			nest_level;
	char	   *dataset_dir;	/* absolute */
	char	   *date_dir;		/* absolute */
	char	   *dataset_rel;
	DateADT		day;
	List	   *files;			/* ArchiveFile * */
} PendingDay;

/* archive_files.c */
extern char *me_archive_date(DateADT d);
extern int32 me_archive_bucket_of(const char *id, int len, int buckets);
extern char *me_archive_hive_escape(const char *s, int len);
extern const char *me_archive_disp(const char *path);
extern void me_archive_ensure_dir(const char *dir);
extern void me_archive_check_privilege(void);
extern bool me_archive_resolve_dataset(const char *dataset, bool create, char **root_out,
									   char **dir_out, char **rel_out);
extern PendingDay *me_archive_begin_day(const char *dataset_dir, const char *dataset_rel, DateADT day);
extern void me_archive_cancel_day(PendingDay *pd);
extern void me_archive_discard_files(List *files, const char *date_dir);

#endif							/* ME_ARCHIVE_H */
