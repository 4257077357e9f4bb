/*
 * meter_etl.h - declarations shared by the PostgreSQL glue files
 *
 * The pure modules (parse, tzconv, rules, csvmap, reader, series, parquet)
 * have their own headers and never include this one.
 */
#ifndef METER_ETL_H
#define METER_ETL_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "core/read/rules.h"
#include "core/read/tzconv.h"

/* guc.c */
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

/* meter_etl.c */
extern bool me_zone_setup(MeZone *zone, const char *tzname);
extern char *me_sanitize_text(const char *s, size_t len);

/* quarantine.c */
typedef struct MeQuarantineRow
{
	int64		file_id;		/* 0 = none */
	int64		line_no;		/* 0 = none */
	const char *reason;
	const char *detail;
	const char *meter_id;
	const char *channel;
	bool		has_ts;
	TimestampTz ts;
	const char *ts_raw;
	const char *value_raw;
	const char *unit_raw;
	const char *raw_line;
	const char *source;
	int64		run_id;			/* 0 = none */
} MeQuarantineRow;

extern void me_quarantine_insert(const MeQuarantineRow *rows, int n);

#endif							/* METER_ETL_H */
