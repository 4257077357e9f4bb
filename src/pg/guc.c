/*
 * guc.c - configuration parameters (meter_etl.*)
 *
 * Settings that decide what counts as valid data or which server files
 * may be read are superuser-only (PGC_SUSET): a loader must not be able to
 * widen the rules for its own session.  Tuning knobs are user-settable.
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/read/parse.h"
#include "guc.h"

char	   *me_inbox_dir = NULL;
double		me_max_kw = ME_DEFAULT_MAX_KW;
char	   *me_min_timestamp = NULL;
int			me_future_tolerance_s = ME_DEFAULT_FUTURE_TOLERANCE_S;
int			me_grid_tolerance_s = ME_DEFAULT_GRID_TOLERANCE_S;
int			me_max_line_bytes = ME_DEFAULT_MAX_LINE_BYTES;
int			me_batch_rows = ME_DEFAULT_BATCH_ROWS;
char	   *me_archive_dir = NULL;
int			me_archive_buckets = ME_DEFAULT_ARCHIVE_BUCKETS;
int			me_max_attempts = ME_DEFAULT_MAX_ATTEMPTS;
bool		me_parallel_parse = true;
bool		me_parallel_archive = true;
bool		me_bulk_index_build = true;
int			me_retry_backoff_s = ME_DEFAULT_RETRY_BACKOFF_S;
int			me_run_history_days = ME_DEFAULT_RUN_HISTORY_DAYS;

/* Accept ISO-8601 dates and date-times for meter_etl.min_timestamp. */
static bool
check_min_timestamp(char **newval, void **extra, GucSource source)
{
	MeDateTime	dt;

	if (*newval == NULL || !me_parse_datetime(*newval, strlen(*newval), ME_DATE_YMD, &dt))
	{
		GUC_check_errdetail("Use an ISO-8601 date or date and time, such as \"2000-01-01\".");
		return false;
	}
	return true;
}

/* meter_etl.archive_dir: empty or an absolute path (resolved when used). */
static bool
check_archive_dir(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if ((*newval)[0] != '/')
	{
		GUC_check_errdetail("meter_etl.archive_dir must be an absolute path.");
		return false;
	}
	return true;
}

/* Define every meter_etl.* parameter; called from _PG_init. */
void
me_define_gucs(void)
{
	DefineCustomStringVariable("meter_etl.inbox_dir",
							   "Server directory that stage_server_file() and scan_inbox() may read.",
							   "Empty disables server-side file access. Paths outside it are refused.",
							   &me_inbox_dir, "", PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("meter_etl.max_kw",
							 "Readings above this many kW are quarantined as implausible_value.",
							 NULL, &me_max_kw, ME_DEFAULT_MAX_KW, 0.001, 1e9, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("meter_etl.min_timestamp",
							   "Readings before this time (UTC unless an offset is given) are out of range.",
							   NULL, &me_min_timestamp, ME_DEFAULT_MIN_TIMESTAMP, PGC_SUSET, 0,
							   check_min_timestamp, NULL, NULL);
	DefineCustomIntVariable("meter_etl.future_tolerance",
							"How far past the current time a reading may lie.",
							NULL, &me_future_tolerance_s, ME_DEFAULT_FUTURE_TOLERANCE_S, 0, INT_MAX, PGC_SUSET,
							GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.grid_tolerance",
							"Timestamps this close to the interval grid are snapped onto it.",
							"Never more than a quarter of the interval; farther ones are off_grid_timestamp.",
							&me_grid_tolerance_s, ME_DEFAULT_GRID_TOLERANCE_S, 0, 3600, PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.max_line_bytes",
							"Longer lines are quarantined as parse_error without being buffered.",
							NULL, &me_max_line_bytes, ME_DEFAULT_MAX_LINE_BYTES, 1024, 1024 * 1024 * 1024,
							PGC_USERSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.batch_rows",
							"Readings buffered, sorted and de-duplicated per insert batch.",
							NULL, &me_batch_rows, ME_DEFAULT_BATCH_ROWS, 1024, 4 * 1024 * 1024, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("meter_etl.parallel_parse",
							 "Parse raw files in a second thread while the backend stores readings.",
							 "Off parses and stores in turn, in the backend itself.",
							 &me_parallel_parse, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("meter_etl.parallel_archive",
							 "Encode and compress Parquet in a second thread while the backend reads the store.",
							 "Off encodes in the backend itself.",
							 &me_parallel_archive, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("meter_etl.bulk_index_build",
							 "Index a day partition created by the same ingest once, after loading it in key order.",
							 "Off maintains the index row by row, as for existing partitions.",
							 &me_bulk_index_build, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.max_attempts",
							"Attempts run_pipeline makes on a raw file before moving it to the dead-letter queue.",
							NULL, &me_max_attempts, ME_DEFAULT_MAX_ATTEMPTS, 1, 100, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.retry_backoff",
							"Wait before the second attempt on a failed file; doubles with each attempt.",
							NULL, &me_retry_backoff_s, ME_DEFAULT_RETRY_BACKOFF_S, 0, 86400, PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("meter_etl.run_history_days",
							"Days of pipeline run history kept (ours, and pg_cron's when scheduled by meter_etl).",
							NULL, &me_run_history_days, ME_DEFAULT_RUN_HISTORY_DAYS, 1, 36500, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("meter_etl.archive_dir",
							   "Server directory archive_parquet() writes Parquet files into.",
							   "Empty disables the archive. Nothing is written outside it.",
							   &me_archive_dir, "", PGC_SUSET, 0, check_archive_dir, NULL, NULL);
	DefineCustomIntVariable("meter_etl.archive_buckets",
							"Meter buckets (meter_bucket=NN partitions) per day in the Parquet archive.",
							"Keep it unchanged for a dataset: a meter's bucket depends on it.",
							&me_archive_buckets, ME_DEFAULT_ARCHIVE_BUCKETS, 1, 1000, PGC_USERSET, 0,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("meter_etl");
}

/*
 * Fill validation thresholds from the settings, relative to the transaction
 * start.  The guard trigger asks once per row, so the parsed min_timestamp
 * is kept and reused while its text is unchanged.
 */
void
me_rules_from_gucs(MeRules *rules)
{
	static char *parsed_text = NULL;	/* in TopMemoryContext */
	static int64 parsed_ts;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	if (parsed_text == NULL || strcmp(parsed_text, me_min_timestamp) != 0)
	{
		MeDateTime	dt;

		if (!me_parse_datetime(me_min_timestamp, strlen(me_min_timestamp), ME_DATE_YMD, &dt))
			elog(ERROR, "invalid meter_etl.min_timestamp \"%s\"", me_min_timestamp);
		parsed_ts = me_datetime_to_ts(&dt);
		if (parsed_text != NULL)
			pfree(parsed_text);
		parsed_text = MemoryContextStrdup(TopMemoryContext, me_min_timestamp);
	}
	memset(rules, 0, sizeof(*rules));
	rules->min_ts = parsed_ts;
	rules->max_ts = now + (int64) me_future_tolerance_s * USECS_PER_SEC;
	rules->max_kw = me_max_kw;
	rules->grid_tolerance_us = (int64) me_grid_tolerance_s * USECS_PER_SEC;
	rules->max_meter_id_len = ME_DEFAULT_MAX_METER_ID_LEN;
}
