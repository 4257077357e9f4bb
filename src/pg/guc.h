/*
 * guc.h - meter_etl's settings (guc.c): the variables the glue reads, and
 * the validation rules the pure reader gets from them
 */
#ifndef ME_GUC_H
#define ME_GUC_H

#include "postgres.h"

#include "core/read/rules.h"

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
