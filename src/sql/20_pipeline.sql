
-- ======================================================================
-- Orchestration: pipeline runs, retries, dead letters, scheduling
-- ======================================================================

CREATE TABLE pipeline_run (
    run_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id       bigint NOT NULL REFERENCES raw_file,
    attempt       integer NOT NULL,
    worker        text NOT NULL,
    backend_pid   integer NOT NULL DEFAULT pg_backend_pid(),
    status        text NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'dead_letter', 'crashed')),
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz,
    ingest_run_id bigint,
    readings_read bigint,
    rows_clean    bigint,
    rows_quarantined bigint,
    rows_duplicate bigint,
    error         text,
    sqlstate      text
);
CREATE INDEX pipeline_run_file_idx ON pipeline_run (file_id, run_id);
CREATE INDEX pipeline_run_started_idx ON pipeline_run (started_at);
COMMENT ON TABLE pipeline_run IS
  'Run history: one row per file and attempt processed by run_pipeline (bounded by meter_etl.run_history_days)';
COMMENT ON COLUMN pipeline_run.status IS
  'running, ok, failed (will be retried), dead_letter (gave up), crashed (the worker died; the file was reclaimed)';

CREATE TABLE dead_letter (
    file_id     bigint PRIMARY KEY REFERENCES raw_file,
    failed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts    integer NOT NULL,
    last_error  text,
    sqlstate    text,
    alert_id    bigint
);
COMMENT ON TABLE dead_letter IS
  'Files that failed meter_etl.max_attempts times; meter_etl.retry_dead_letter(file_id) puts one back';

CREATE TABLE inbox_file (
    path        text PRIMARY KEY,
    size_bytes  bigint NOT NULL,
    modified_at timestamptz NOT NULL,
    file_id     bigint NOT NULL REFERENCES raw_file,
    staged_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE inbox_file IS
  'Files scan_inbox() staged from meter_etl.inbox_dir, so an unchanged file is not read again';

CREATE FUNCTION scan_inbox(min_age interval DEFAULT '10 seconds', source text DEFAULT 'inbox')
RETURNS TABLE (path text, file_id bigint, is_new boolean)
AS 'MODULE_PATHNAME', 'meter_etl_scan_inbox'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION scan_inbox(interval, text) IS
  'Stage the files in meter_etl.inbox_dir that are new or changed (hidden, *.tmp, *.part and files younger than min_age are left alone)';

-- A file is claimed by a session-level advisory lock on (class, file_id) for
-- as long as a worker processes it.  The lock disappears with the backend,
-- so a file left 'processing' by a crashed worker is simply claimed again.
CREATE FUNCTION claim_next_file(worker text, OUT file_id bigint, OUT run_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_file bigint;
BEGIN
  FOR v_file IN
    SELECT f.file_id FROM meter_etl.raw_file f
     WHERE f.status IN ('staged', 'failed', 'processing')
       AND (f.next_attempt_at IS NULL OR f.next_attempt_at <= clock_timestamp())
     ORDER BY f.file_id
     FOR UPDATE SKIP LOCKED
     LIMIT 32
  LOOP
    CONTINUE WHEN NOT pg_try_advisory_lock(7411, v_file::integer);
    -- a run left 'running' belonged to a worker that died
    UPDATE meter_etl.pipeline_run SET status = 'crashed', finished_at = clock_timestamp(),
           error = 'the worker ended before finishing this file'
     WHERE pipeline_run.file_id = v_file AND status = 'running';
    UPDATE meter_etl.raw_file f SET status = 'processing', attempts = f.attempts + 1
     WHERE f.file_id = v_file;
    -- the run row is committed with the claim, so a crash leaves a trace
    INSERT INTO meter_etl.pipeline_run (file_id, attempt, worker, status)
    SELECT v_file, f.attempts, claim_next_file.worker, 'running' FROM meter_etl.raw_file f
     WHERE f.file_id = v_file
    RETURNING pipeline_run.run_id INTO claim_next_file.run_id;
    claim_next_file.file_id := v_file;
    RETURN;
  END LOOP;
END
$$;
COMMENT ON FUNCTION claim_next_file(text) IS
  'Claim the next due raw file for a worker (row lock SKIP LOCKED plus a session advisory lock) and open its run row; NULLs when none is due';

CREATE FUNCTION process_claimed_file(p_file bigint, p_run bigint, p_detect boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_run     bigint := p_run;
  v_attempt integer;
  v_max     integer := coalesce(current_setting('meter_etl.max_attempts', true), '@ME_DEFAULT_MAX_ATTEMPTS@')::integer;
  v_backoff interval := coalesce(current_setting('meter_etl.retry_backoff', true), '@ME_DEFAULT_RETRY_BACKOFF_S@ s')::interval;
  r         meter_etl.ingest_run;
  v_err     text;
  v_state   text;
  v_alert   bigint;
  v_corrupt boolean;
BEGIN
  IF p_file IS NULL OR p_run IS NULL OR p_detect IS NULL THEN
    RAISE EXCEPTION 'file_id, run_id and detect must not be null'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass what meter_etl.claim_next_file() returned.';
  END IF;
  SELECT f.attempts INTO v_attempt FROM meter_etl.raw_file f WHERE f.file_id = p_file;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'raw file % does not exist', p_file USING ERRCODE = 'undefined_object';
  END IF;
  PERFORM 1 FROM meter_etl.pipeline_run pr WHERE pr.run_id = p_run AND pr.file_id = p_file;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pipeline run % is not a run of raw file %', p_run, p_file
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass what meter_etl.claim_next_file() returned.';
  END IF;
  BEGIN
    r := meter_etl.ingest(p_file);
    -- incremental detection of what this ingest (and any before it) stored;
    -- a detection failure does not undo the ingest: the run stays pending
    IF p_detect THEN
      BEGIN
        PERFORM meter_etl.detect_pending();
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_err = MESSAGE_TEXT, v_state = RETURNED_SQLSTATE;
        PERFORM meter_etl.raise_alert('detection_failed', 'warning',
                  format('detection after raw file %s failed; it stays pending', p_file),
                  jsonb_build_object('error', v_err, 'sqlstate', v_state), NULL, p_file);
        v_err := NULL;
        v_state := NULL;
      END;
    ELSE
      PERFORM meter_etl.rollup_refresh();   -- detection would have done it
    END IF;
    UPDATE meter_etl.pipeline_run
       SET status = 'ok', finished_at = clock_timestamp(), ingest_run_id = r.run_id,
           readings_read = r.readings_read, rows_clean = r.rows_clean,
           rows_quarantined = r.rows_quarantined, rows_duplicate = r.rows_duplicate
     WHERE run_id = v_run;
    UPDATE meter_etl.raw_file SET next_attempt_at = NULL, last_error = NULL WHERE file_id = p_file;
    RETURN 'ok';
  EXCEPTION WHEN OTHERS THEN
    -- everything the failed attempt wrote is rolled back with this block
    GET STACKED DIAGNOSTICS v_err = MESSAGE_TEXT, v_state = RETURNED_SQLSTATE;
  END;
  -- stored bytes that no longer match their hash will not heal on a retry
  v_corrupt := v_state = 'XX001';
  IF v_corrupt THEN
    v_alert := meter_etl.raise_alert('raw_file_corrupted', 'critical',
                 format('raw file %s does not match the bytes it was staged with; it was moved to the dead-letter queue', p_file),
                 jsonb_build_object('error', v_err, 'sqlstate', v_state, 'attempts', v_attempt),
                 NULL, p_file);
  ELSIF v_attempt >= v_max THEN
    v_alert := meter_etl.raise_alert('file_dead_letter', 'critical',
                 format('raw file %s failed %s times and was moved to the dead-letter queue', p_file, v_attempt),
                 jsonb_build_object('error', v_err, 'sqlstate', v_state, 'attempts', v_attempt),
                 NULL, p_file);
  END IF;
  IF v_alert IS NOT NULL THEN
    INSERT INTO meter_etl.dead_letter (file_id, attempts, last_error, sqlstate, alert_id)
    VALUES (p_file, v_attempt, v_err, v_state, v_alert)
    ON CONFLICT (file_id) DO UPDATE SET failed_at = clock_timestamp(), attempts = EXCLUDED.attempts,
           last_error = EXCLUDED.last_error, sqlstate = EXCLUDED.sqlstate, alert_id = EXCLUDED.alert_id;
    UPDATE meter_etl.raw_file SET status = 'dead_letter', last_error = v_err, next_attempt_at = NULL
     WHERE file_id = p_file;
    UPDATE meter_etl.pipeline_run SET status = 'dead_letter', finished_at = clock_timestamp(),
           error = v_err, sqlstate = v_state WHERE run_id = v_run;
    RETURN 'dead_letter';
  END IF;
  UPDATE meter_etl.raw_file SET status = 'failed', last_error = v_err,
         next_attempt_at = clock_timestamp() + v_backoff * power(2, v_attempt - 1)
   WHERE file_id = p_file;
  UPDATE meter_etl.pipeline_run SET status = 'failed', finished_at = clock_timestamp(),
         error = v_err, sqlstate = v_state WHERE run_id = v_run;
  RETURN 'failed';
END
$$;
COMMENT ON FUNCTION process_claimed_file(bigint, bigint, boolean) IS
  'Ingest one claimed file (and run incremental detection); on error roll back that file only and schedule a retry or a dead letter';

-- A procedure that commits cannot carry a SET clause: this one names every
-- object with its schema, and pins search_path for each of its transactions
-- with set_config(..., true).
CREATE PROCEDURE run_pipeline(max_files integer DEFAULT NULL, worker text DEFAULT NULL,
                              scan boolean DEFAULT true, detect boolean DEFAULT true)
LANGUAGE plpgsql
AS $$
DECLARE
  v_worker text := coalesce(worker, 'session-' || pg_backend_pid());
  v_file   bigint;
  v_run    bigint;
  v_done   integer := 0;
  v_result text;
BEGIN
  PERFORM pg_catalog.set_config('search_path', 'meter_etl, pg_catalog, pg_temp', true);
  -- one run per worker name at a time: a scheduled run that finds its
  -- predecessor still busy skips instead of queueing behind it
  IF NOT pg_try_advisory_lock(7412, hashtext(v_worker)) THEN
    RAISE NOTICE 'pipeline worker "%" is already running; skipped', v_worker;
    RETURN;
  END IF;
  -- a file lands, the pipeline starts: pick up new files from the inbox first
  IF scan AND coalesce(current_setting('meter_etl.inbox_dir', true), '') <> '' THEN
    PERFORM meter_etl.scan_inbox();
    COMMIT;
    PERFORM pg_catalog.set_config('search_path', 'meter_etl, pg_catalog, pg_temp', true);
  END IF;
  LOOP
    EXIT WHEN max_files IS NOT NULL AND v_done >= max_files;
    SELECT c.file_id, c.run_id INTO v_file, v_run FROM meter_etl.claim_next_file(v_worker) c;
    COMMIT;                         -- the claim, its attempt count and run row are durable
    PERFORM pg_catalog.set_config('search_path', 'meter_etl, pg_catalog, pg_temp', true);
    EXIT WHEN v_file IS NULL;
    v_result := meter_etl.process_claimed_file(v_file, v_run, detect);
    COMMIT;                         -- each file in its own transaction
    PERFORM pg_catalog.set_config('search_path', 'meter_etl, pg_catalog, pg_temp', true);
    PERFORM pg_advisory_unlock(7411, v_file::integer);
    v_done := v_done + 1;
  END LOOP;
  PERFORM pg_advisory_unlock(7412, hashtext(v_worker));
  PERFORM meter_etl.prune_history();
  COMMIT;
END
$$;
COMMENT ON PROCEDURE run_pipeline(integer, text, boolean, boolean) IS
  'Stage new inbox files (scan), then ingest due raw files one transaction each and detect incrementally (detect), with retries (meter_etl.max_attempts), back-off and a dead-letter queue; safe to run in several sessions';

CREATE FUNCTION retry_dead_letter(file_id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  DELETE FROM meter_etl.dead_letter d WHERE d.file_id = retry_dead_letter.file_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'raw file % is not in the dead-letter queue', retry_dead_letter.file_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  UPDATE meter_etl.raw_file f SET status = 'staged', attempts = 0, next_attempt_at = NULL
   WHERE f.file_id = retry_dead_letter.file_id;
  RETURN true;
END
$$;
COMMENT ON FUNCTION retry_dead_letter(bigint) IS
  'Put a dead-lettered file back in the queue with a fresh attempt count';

CREATE FUNCTION prune_history()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_keep interval := make_interval(days => coalesce(current_setting('meter_etl.run_history_days', true), '@ME_DEFAULT_RUN_HISTORY_DAYS@')::integer);
  v_n    integer;
BEGIN
  DELETE FROM meter_etl.pipeline_run
   WHERE finished_at < clock_timestamp() - v_keep AND status <> 'running';
  GET DIAGNOSTICS v_n = ROW_COUNT;
  -- changes of the store every archive of their date holds (the test of
  -- v_archive_coverage): a date archived later reads the store whole.  The
  -- age keeps the changes an archive still reading might not see.
  DELETE FROM meter_etl.archive_change c
   WHERE c.changed_at < clock_timestamp() - v_keep
     AND NOT EXISTS (SELECT 1 FROM meter_etl.archive_manifest m
                       LEFT JOIN meter_etl.archive_export e ON e.export_id = m.export_id
                      WHERE m.day = c.day
                        AND (e.snapshot IS NULL OR e.finished_at IS NULL OR c.changed_at > e.finished_at
                             OR NOT pg_catalog.pg_visible_in_snapshot(c.xid, e.snapshot)));
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION prune_history() IS
  'Delete pipeline run history older than meter_etl.run_history_days, and changes of the store as old that every archive holds (run_pipeline calls it); returns the pipeline runs deleted';

-- ----------------------------------------------------------------------
-- pg_cron
-- ----------------------------------------------------------------------

CREATE FUNCTION cron_expression(every text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_iv   interval;
  v_mins integer;
BEGIN
  IF every ~ '^\s*\S+\s+\S+\s+\S+\s+\S+\s+\S+\s*$' THEN
    RETURN every;                   -- already a cron expression
  END IF;
  BEGIN
    v_iv := every::interval;
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'invalid schedule "%"', every
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use an interval such as ''5 minutes'' or a cron expression such as ''*/5 * * * *''.';
  END;
  v_mins := (extract(epoch FROM v_iv) / 60)::integer;
  IF extract(epoch FROM v_iv) < 60 OR extract(epoch FROM v_iv)::integer % 60 <> 0 THEN
    RAISE EXCEPTION 'invalid schedule "%": pg_cron runs jobs at most once a minute', every
      USING ERRCODE = 'invalid_parameter_value';
  ELSIF v_mins = 1 THEN
    RETURN '* * * * *';
  ELSIF v_mins < 60 AND 60 % v_mins = 0 THEN
    RETURN format('*/%s * * * *', v_mins);
  ELSIF v_mins % 60 = 0 AND v_mins < 1440 AND 24 % (v_mins / 60) = 0 THEN
    RETURN format('0 */%s * * *', v_mins / 60);
  ELSIF v_mins = 1440 THEN
    RETURN '0 0 * * *';
  END IF;
  RAISE EXCEPTION 'invalid schedule "%": the interval must divide an hour or a day', every
    USING ERRCODE = 'invalid_parameter_value',
          HINT = 'Use a cron expression for other schedules.';
END
$$;
COMMENT ON FUNCTION cron_expression(text) IS
  'Cron expression for an interval (''5 minutes'' -> ''*/5 * * * *''); cron expressions pass through';

CREATE FUNCTION schedule(every text DEFAULT '1 minute', workers integer DEFAULT 1,
                         archive_at text DEFAULT NULL, archive_days integer DEFAULT 2)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_cron text := meter_etl.cron_expression(every);
  i      integer;
BEGIN
  IF to_regnamespace('cron') IS NULL OR to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
    RAISE EXCEPTION 'pg_cron is not installed in this database'
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, and run CREATE EXTENSION pg_cron.';
  END IF;
  IF workers < 1 OR workers > 64 THEN
    RAISE EXCEPTION 'workers must be between 1 and 64' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF archive_days < 1 THEN
    RAISE EXCEPTION 'archive_days must be at least 1' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM meter_etl.unschedule();
  FOR i IN 1 .. workers LOOP
    RETURN NEXT cron.schedule(format('meter_etl_pipeline_%s', i), v_cron,
                              format('CALL meter_etl.run_pipeline(worker => %L)', 'cron-' || i));
  END LOOP;
  -- bounded history: ours and pg_cron's own, daily
  RETURN NEXT cron.schedule('meter_etl_prune_history', '17 3 * * *',
    format('SELECT meter_etl.prune_history(); DELETE FROM cron.job_run_details WHERE end_time < now() - interval %L',
           coalesce(current_setting('meter_etl.run_history_days', true), '@ME_DEFAULT_RUN_HISTORY_DAYS@') || ' days'));
  -- the Parquet archive of the last complete days (runs as the caller)
  IF archive_at IS NOT NULL THEN
    RETURN NEXT cron.schedule('meter_etl_archive', meter_etl.cron_expression(archive_at),
      format('SELECT count(*) FROM meter_etl.archive_recent(days => %s)', archive_days));
  END IF;
END
$$;
COMMENT ON FUNCTION schedule(text, integer, text, integer) IS
  'Register the pipeline with pg_cron (one job per worker, a daily history prune, and with archive_at a job running archive_recent); returns the job ids';

CREATE FUNCTION unschedule()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_n integer := 0;
  v_job bigint;
BEGIN
  IF to_regnamespace('cron') IS NULL THEN
    RAISE EXCEPTION 'pg_cron is not installed in this database'
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Nothing is scheduled without pg_cron.';
  END IF;
  FOR v_job IN EXECUTE 'SELECT jobid FROM cron.job WHERE jobname LIKE ''meter\_etl\_%'''
  LOOP
    PERFORM cron.unschedule(v_job);
    v_n := v_n + 1;
  END LOOP;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION unschedule() IS 'Remove meter_etl''s pg_cron jobs; returns how many were removed';

-- ----------------------------------------------------------------------
-- Monitoring
-- ----------------------------------------------------------------------

CREATE VIEW v_meter_freshness AS
SELECT m.meter_id, m.interval_s, m.last_reading_at,
       now() - m.last_reading_at AS age,
       m.last_reading_at < now() - make_interval(secs => 4 * m.interval_s) - interval '1 day' AS stale
  FROM meter m;
COMMENT ON VIEW v_meter_freshness IS
  'Per meter: the newest stored reading and its age; stale when more than a day plus four intervals old';

-- security_invoker: the query text of other sessions stays hidden from a
-- role that could not see it in pg_stat_activity itself
CREATE VIEW v_ingest_progress WITH (security_invoker = true) AS
SELECT a.pid, a.application_name, p.bytes_processed, p.bytes_total, p.tuples_processed,
       round(100.0 * p.bytes_processed / nullif(p.bytes_total, 0), 1) AS percent,
       now() - a.query_start AS running_for, a.query
  FROM pg_stat_progress_copy p
  JOIN pg_stat_activity a USING (pid)
 WHERE p.relid = 'meter_etl.reading'::regclass;
COMMENT ON VIEW v_ingest_progress IS
  'Progress of ingests running in other sessions (bytes of the raw file read, readings stored), from pg_stat_progress_copy';

REVOKE ALL ON FUNCTION claim_next_file(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION process_claimed_file(bigint, bigint, boolean) FROM PUBLIC;
REVOKE ALL ON PROCEDURE run_pipeline(integer, text, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION scan_inbox(interval, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION retry_dead_letter(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION prune_history() FROM PUBLIC;
REVOKE ALL ON FUNCTION schedule(text, integer, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION unschedule() FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pipeline_run', '');
SELECT pg_catalog.pg_extension_config_dump('dead_letter', '');
SELECT pg_catalog.pg_extension_config_dump('inbox_file', '');
