/*
 * guc.h - meter_etl's settings (guc.c): the variables the glue reads, and
 * the validation rules the pure reader gets from them
 */
#ifndef ME_GUC_H
#define ME_GUC_H

#include "postgres.h"

#include "core/read/reader.h"
#include "core/read/rules.h"

/*
 * Defaults of the settings that are not the rules' (core/read/rules.h) or
 * detection's (core/series/series.h); the pipeline's SQL takes them through
 * @NAME@ when the install script is built.
 */
#define ME_DEFAULT_BATCH_ROWS 65536
#define ME_DEFAULT_ARCHIVE_BUCKETS 16
#define ME_DEFAULT_MAX_ATTEMPTS 3
#define ME_DEFAULT_RETRY_BACKOFF_S 60
#define ME_DEFAULT_RUN_HISTORY_DAYS 30

extern char *me_inbox_dir;
extern double me_max_kw;
extern char *me_min_timestamp;
extern int	me_future_tolerance_s;
extern int	me_grid_tolerance_s;
extern int	me_max_line_bytes;
extern int	me_batch_rows;
extern char *me_archive_dir;
extern int	me_archive_buckets;
extern int	me_max_attempts;
extern bool me_parallel_parse;
extern bool me_parallel_archive;
extern bool me_bulk_index_build;
extern int	me_retry_backoff_s;
extern int	me_run_history_days;
extern void me_define_gucs(void);
extern void me_rules_from_gucs(MeRules *rules);

#endif							/* ME_GUC_H */
