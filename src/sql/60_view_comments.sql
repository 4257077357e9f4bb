
-- ======================================================================
-- The result-view contract (issue 19): every column of every v_* view is
-- documented, with its unit (sql/view_contract.sql fails on one without)
-- ======================================================================

COMMENT ON COLUMN v_reading.meter_id IS 'Meter id';
COMMENT ON COLUMN v_reading.channel IS 'Channel name (import, export, net, solar, ...)';
COMMENT ON COLUMN v_reading.ts IS 'Start of the interval (timestamptz, UTC in the store)';
COMMENT ON COLUMN v_reading.kw IS 'Average power over the interval in kW';
COMMENT ON COLUMN v_reading.kwh IS 'Energy of the interval in kWh (kw x interval)';
COMMENT ON COLUMN v_reading.flags IS 'Quality flag bits (meter_etl.quality_flag; 0 = actual)';
COMMENT ON COLUMN v_reading.flag_names IS 'Names of the quality flags set';
COMMENT ON COLUMN v_reading.file_id IS 'Raw file the reading came from (lineage)';
COMMENT ON COLUMN v_reading.line_no IS 'Physical line of the raw file';

COMMENT ON COLUMN v_file_accounting.file_id IS 'Raw file';
COMMENT ON COLUMN v_file_accounting.file_name IS 'File name as received';
COMMENT ON COLUMN v_file_accounting.status IS 'Raw file status (staged, processing, ingested, failed, dead_letter)';
COMMENT ON COLUMN v_file_accounting.format IS 'Format profile of its latest successful ingest';
COMMENT ON COLUMN v_file_accounting.lines_read IS 'Non-blank data lines read';
COMMENT ON COLUMN v_file_accounting.readings_read IS 'Readings the file holds';
COMMENT ON COLUMN v_file_accounting.rows_clean IS 'Readings stored in the clean store';
COMMENT ON COLUMN v_file_accounting.rows_quarantined IS 'Readings quarantined';
COMMENT ON COLUMN v_file_accounting.rows_duplicate IS 'Exact duplicates of stored readings';
COMMENT ON COLUMN v_file_accounting.balanced IS 'readings_read = rows_clean + rows_quarantined + rows_duplicate';
COMMENT ON COLUMN v_file_accounting.quarantined_by_reason IS 'Quarantined readings by reason code: {"reason": count}';
COMMENT ON COLUMN v_file_accounting.finished_at IS 'When the ingest finished';

COMMENT ON COLUMN v_quarantine_summary.reason IS 'Reason code (meter_etl.reason_code)';
COMMENT ON COLUMN v_quarantine_summary.description IS 'What the reason code means';
COMMENT ON COLUMN v_quarantine_summary.day IS 'Day the readings were quarantined (timestamptz at midnight of the session''s TimeZone)';
COMMENT ON COLUMN v_quarantine_summary.readings IS 'Readings quarantined';

COMMENT ON COLUMN v_meter_status.meter_id IS 'Meter id';
COMMENT ON COLUMN v_meter_status.channel IS 'Channel name';
COMMENT ON COLUMN v_meter_status.status IS 'ok, faulty or offline';
COMMENT ON COLUMN v_meter_status.reason IS 'Fault kind when faulty or offline, NULL when ok';
COMMENT ON COLUMN v_meter_status.since IS 'Start of the current episode; when ok, the end of the last one';
COMMENT ON COLUMN v_meter_status.as_of IS 'End of the latest detection range';
COMMENT ON COLUMN v_meter_status.last_reading_ts IS 'Newest reading detection saw';
COMMENT ON COLUMN v_meter_status.evidence IS 'Evidence of the episode (jsonb)';
COMMENT ON COLUMN v_meter_status.changed_at IS 'When the status last changed';

COMMENT ON COLUMN v_gap.meter_id IS 'Meter id';
COMMENT ON COLUMN v_gap.channel IS 'Channel name';
COMMENT ON COLUMN v_gap.start_ts IS 'First missing slot (timestamptz)';
COMMENT ON COLUMN v_gap.end_ts IS 'End of the gap, exclusive (timestamptz)';
COMMENT ON COLUMN v_gap.intervals IS 'Missing slots';
COMMENT ON COLUMN v_gap.kind IS 'long, leading, trailing or no_data';
COMMENT ON COLUMN v_gap.hours IS 'Length of the gap in hours';

COMMENT ON COLUMN v_fault.meter_id IS 'Meter id';
COMMENT ON COLUMN v_fault.channel IS 'Channel name';
COMMENT ON COLUMN v_fault.kind IS 'stuck_zero, flatline, level_shift or offline';
COMMENT ON COLUMN v_fault.start_ts IS 'Start of the episode (timestamptz)';
COMMENT ON COLUMN v_fault.end_ts IS 'End of the episode, exclusive (timestamptz)';
COMMENT ON COLUMN v_fault.ongoing IS 'Still going at the end of the data seen';
COMMENT ON COLUMN v_fault.evidence IS 'Evidence (jsonb)';

COMMENT ON COLUMN v_usage_anomaly.meter_id IS 'Meter id';
COMMENT ON COLUMN v_usage_anomaly.channel IS 'Channel name';
COMMENT ON COLUMN v_usage_anomaly.start_ts IS 'Start of the episode (timestamptz)';
COMMENT ON COLUMN v_usage_anomaly.end_ts IS 'End of the episode, exclusive (timestamptz)';
COMMENT ON COLUMN v_usage_anomaly.ongoing IS 'Still going at the end of the data seen';
COMMENT ON COLUMN v_usage_anomaly.days IS 'Days the episode lasted';
COMMENT ON COLUMN v_usage_anomaly.evidence IS 'Evidence (jsonb)';

COMMENT ON COLUMN v_reading_filled.meter_id IS 'Meter id';
COMMENT ON COLUMN v_reading_filled.channel IS 'Channel name';
COMMENT ON COLUMN v_reading_filled.ts IS 'Start of the interval (timestamptz)';
COMMENT ON COLUMN v_reading_filled.kw IS 'Average power over the interval in kW';
COMMENT ON COLUMN v_reading_filled.kwh IS 'Energy of the interval in kWh';
COMMENT ON COLUMN v_reading_filled.flags IS 'Quality flag bits (1 for an estimate)';
COMMENT ON COLUMN v_reading_filled.estimated IS 'An estimate of meter_etl, not a reading';
COMMENT ON COLUMN v_reading_filled.method IS 'actual, linear or like_day';

COMMENT ON COLUMN v_meter_day.meter_id IS 'Meter id';
COMMENT ON COLUMN v_meter_day.channel IS 'Channel name';
COMMENT ON COLUMN v_meter_day.day IS 'Local date in the meter''s zone';
COMMENT ON COLUMN v_meter_day.start_ts IS 'Local midnight starting the day (timestamptz)';
COMMENT ON COLUMN v_meter_day.end_ts IS 'Local midnight ending the day (timestamptz)';
COMMENT ON COLUMN v_meter_day.readings IS 'Readings that count for consumption';
COMMENT ON COLUMN v_meter_day.kwh_per_24h IS 'Mean kW x 24: kWh per 24 hours';
COMMENT ON COLUMN v_meter_day.coverage IS 'Share of the day''s slots read (0-1)';

COMMENT ON COLUMN v_meter_freshness.meter_id IS 'Meter id';
COMMENT ON COLUMN v_meter_freshness.interval_s IS 'Reading interval in seconds';
COMMENT ON COLUMN v_meter_freshness.last_reading_at IS 'Newest reading stored by ingest';
COMMENT ON COLUMN v_meter_freshness.age IS 'now() - last_reading_at (interval)';
COMMENT ON COLUMN v_meter_freshness.stale IS 'More than a day plus four intervals old';

COMMENT ON COLUMN v_ingest_progress.pid IS 'Backend process id of the ingest';
COMMENT ON COLUMN v_ingest_progress.application_name IS 'Its application_name';
COMMENT ON COLUMN v_ingest_progress.bytes_processed IS 'Bytes of the raw file read';
COMMENT ON COLUMN v_ingest_progress.bytes_total IS 'Size of the raw file in bytes';
COMMENT ON COLUMN v_ingest_progress.tuples_processed IS 'Readings stored so far';
COMMENT ON COLUMN v_ingest_progress.percent IS 'bytes_processed / bytes_total, in percent';
COMMENT ON COLUMN v_ingest_progress.running_for IS 'Time since the statement started (interval)';
COMMENT ON COLUMN v_ingest_progress.query IS 'The statement (visible to roles that may see it in pg_stat_activity)';

COMMENT ON COLUMN v_pipeline_health.pending IS 'Raw files staged, waiting to be processed';
COMMENT ON COLUMN v_pipeline_health.processing IS 'Raw files being processed';
COMMENT ON COLUMN v_pipeline_health.failed_awaiting_retry IS 'Raw files that failed and wait for their retry';
COMMENT ON COLUMN v_pipeline_health.dead_letter IS 'Raw files in the dead-letter queue';
COMMENT ON COLUMN v_pipeline_health.ingested IS 'Raw files ingested';
COMMENT ON COLUMN v_pipeline_health.oldest_pending_received_at IS 'Staging time of the oldest file waiting';
COMMENT ON COLUMN v_pipeline_health.last_success_at IS 'When the pipeline last processed a file';
COMMENT ON COLUMN v_pipeline_health.readings_per_second_last_hour IS 'Readings per second of processing over the last hour';
COMMENT ON COLUMN v_pipeline_health.open_alerts IS 'Alerts not acknowledged';
COMMENT ON COLUMN v_pipeline_health.archive_failures_open IS 'Archive dates that failed every attempt and are not resolved';
COMMENT ON COLUMN v_pipeline_health.detection_pending IS 'Successful ingests detection has not processed yet';

COMMENT ON COLUMN v_archive_coverage.dataset IS 'Archive dataset (subdirectory of meter_etl.archive_dir; empty = the directory)';
COMMENT ON COLUMN v_archive_coverage.day IS 'UTC date';
COMMENT ON COLUMN v_archive_coverage.status IS 'archived, stale, failed or not_archived';
COMMENT ON COLUMN v_archive_coverage.partition_key IS 'Hive partition key of the files (meter_bucket or meter_id)';
COMMENT ON COLUMN v_archive_coverage.files IS 'Parquet files of the date';
COMMENT ON COLUMN v_archive_coverage.rows IS 'Rows in them';
COMMENT ON COLUMN v_archive_coverage.bytes IS 'Their size in bytes';
COMMENT ON COLUMN v_archive_coverage.meters IS 'Meters in them';
COMMENT ON COLUMN v_archive_coverage.min_ts IS 'Earliest reading archived (timestamptz)';
COMMENT ON COLUMN v_archive_coverage.max_ts IS 'Latest reading archived (timestamptz)';
COMMENT ON COLUMN v_archive_coverage.export_id IS 'The archive call that wrote the files (archive_export)';
COMMENT ON COLUMN v_archive_coverage.written_at IS 'When the files were written';
COMMENT ON COLUMN v_archive_coverage.schema_version IS 'Column layout of the files (1 or 2)';
COMMENT ON COLUMN v_archive_coverage.open_failures IS 'Failed attempts not resolved';
COMMENT ON COLUMN v_archive_coverage.last_failure IS 'When the date last failed';
