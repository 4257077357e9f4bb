-- Orchestration: run_pipeline with retries, dead letters, history, scheduling errors.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';
SET meter_etl.retry_backoff = 0;     -- retry at once in this test
SET meter_etl.max_attempts = 3;

SELECT meter_etl.stage('good1.csv', convert_to(E'meter_id,timestamp,value,unit\nP1,2024-02-01T00:00:00Z,1,kW\nP1,2024-02-01T00:15:00Z,-1,kW\n', 'UTF8'));
SELECT meter_etl.stage('mystery.csv', convert_to(E'zaehler|zeit|wert\nP2|01.02.2024 00:00|1\n', 'UTF8'));
SELECT meter_etl.stage('good2.csv', convert_to(E'meter_id,timestamp,value,unit\nP3,2024-02-01T00:00:00Z,2,kW\n', 'UTF8'));

-- one call processes every due file, each in its own transaction; the file
-- nobody can read fails three times and lands in the dead-letter queue
CALL meter_etl.run_pipeline(worker => 'regress');
SELECT file_id, file_name, status, attempts, last_error IS NOT NULL AS has_error
  FROM meter_etl.raw_file ORDER BY file_id;
SELECT file_id, attempt, worker, status, readings_read, rows_clean, rows_quarantined, sqlstate, left(error, 60) AS error
  FROM meter_etl.pipeline_run ORDER BY run_id;
SELECT file_id, attempts, sqlstate, left(last_error, 60) AS last_error FROM meter_etl.dead_letter;
SELECT kind, severity, file_id, message, details->>'sqlstate' AS sqlstate FROM meter_etl.alert;
SELECT pending, processing, failed_awaiting_retry, dead_letter, ingested, open_alerts
  FROM meter_etl.v_pipeline_health;
SELECT meter_id, last_reading_at FROM meter_etl.v_meter_freshness ORDER BY meter_id;
-- each ingested file was also detected incrementally, from the extents ingest recorded
SELECT (SELECT count(*) FROM meter_etl.detect_done) AS detected_runs,
       (SELECT count(*) FROM meter_etl.ingest_run WHERE status = 'ok') AS ingested_runs,
       (SELECT count(*) FROM meter_etl.ingest_extent) AS extents;

-- the fix: a profile for the vendor's layout, then the file goes back in the queue
INSERT INTO meter_etl.format_profile (name, delimiter, detect_columns, meter_column, ts_column,
    date_order, value_columns, unit_default, interval_minutes)
VALUES ('pipe_vendor', '|', '{zaehler,zeit,wert}', 'zaehler', 'zeit', 'DMY', '{wert}', 'kW', 15);
SELECT meter_etl.retry_dead_letter(2);
SELECT meter_etl.retry_dead_letter(2);
CALL meter_etl.run_pipeline(worker => 'regress');
SELECT file_id, status, attempts, format FROM meter_etl.raw_file WHERE file_id = 2;
SELECT count(*) AS dead FROM meter_etl.dead_letter;

-- nothing left to do: a run is a no-op
CALL meter_etl.run_pipeline();
SELECT count(*) AS runs FROM meter_etl.pipeline_run;

-- with back-off a failed file waits for a later run
SET meter_etl.retry_backoff = 3600;
SELECT meter_etl.stage('broken.csv', convert_to(E'nothing,we,know\n1,2,3\n', 'UTF8')) AS b \gset
CALL meter_etl.run_pipeline();
SELECT status, attempts, next_attempt_at > now() + interval '50 minutes' AS backed_off
  FROM meter_etl.raw_file WHERE file_id = :b;
CALL meter_etl.run_pipeline();
SELECT attempts FROM meter_etl.raw_file WHERE file_id = :b;

-- the procedure commits, so it cannot run inside a transaction block
BEGIN;
CALL meter_etl.run_pipeline();
ROLLBACK;

-- a raw file whose stored bytes no longer match their hash goes to the
-- dead-letter queue at once (a retry cannot heal it), with a critical alert
SET meter_etl.retry_backoff = 0;
SELECT meter_etl.stage('rewritten.csv', convert_to(E'meter_id,timestamp,value,unit\nP9,2024-02-01T00:00:00Z,1,kW\n', 'UTF8')) AS rw \gset
ALTER TABLE meter_etl.raw_chunk DISABLE TRIGGER raw_chunk_guard;
UPDATE meter_etl.raw_chunk SET data = convert_to(E'meter_id,timestamp,value,unit\nP9,2024-02-01T00:00:00Z,7,kW\n', 'UTF8')
 WHERE file_id = :rw;
ALTER TABLE meter_etl.raw_chunk ENABLE TRIGGER raw_chunk_guard;
CALL meter_etl.run_pipeline(worker => 'regress');
SELECT status, attempts FROM meter_etl.raw_file WHERE file_id = :rw;
SELECT attempts, sqlstate, left(last_error, 60) AS last_error FROM meter_etl.dead_letter WHERE file_id = :rw;
SELECT kind, severity, message FROM meter_etl.alert WHERE file_id = :rw;
SELECT count(*) AS stored FROM meter_etl.v_reading WHERE meter_id = 'P9';
SET meter_etl.retry_backoff = 3600;

-- a claimed file is processed only with what claim_next_file() returned
SELECT meter_etl.process_claimed_file(NULL, NULL);
SELECT meter_etl.process_claimed_file(:b, NULL);
SELECT meter_etl.process_claimed_file(999, 1);
SELECT meter_etl.process_claimed_file(:b, 1);

-- bounded history
UPDATE meter_etl.pipeline_run SET started_at = started_at - interval '400 days',
       finished_at = finished_at - interval '400 days' WHERE file_id = 1;
SELECT meter_etl.prune_history();
SELECT count(*) FILTER (WHERE file_id = 1) AS file1_runs_left FROM meter_etl.pipeline_run;

-- scheduling: intervals become cron expressions; pg_cron must be installed
SELECT e, meter_etl.cron_expression(e)
  FROM unnest(ARRAY['1 minute', '5 minutes', '15 min', '2 hours', '1 day', '*/10 * * * *']) AS e;
SELECT meter_etl.cron_expression('30 seconds');
SELECT meter_etl.cron_expression('7 minutes');
SELECT meter_etl.cron_expression('whenever');
SELECT meter_etl.schedule('5 minutes');
SELECT meter_etl.unschedule();
