/* meter_etl--0.1--0.2.sql - upgrade meter_etl 0.1 to 0.2 */

\echo Use "ALTER EXTENSION meter_etl UPDATE TO '0.2'" to load this file. \quit

SET LOCAL search_path TO meter_etl, pg_catalog, pg_temp;

-- ======================================================================
-- Security (issue 23): pg_temp is searched last, never first
-- ======================================================================
-- 0.1 pinned search_path = meter_etl, pg_catalog, which leaves pg_temp to
-- be searched FIRST for relations: a caller's temporary view named like one
-- of our tables ran inside SECURITY DEFINER code as the owner.  Every
-- function now names pg_temp last.
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'meter_etl'::regnamespace AND p.prokind = 'f'
  LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = meter_etl, pg_catalog, pg_temp', f);
  END LOOP;
END
$$;

-- The SECURITY DEFINER functions and the raw zone's trigger qualify every
-- name they use; run_pipeline sets the new path after each COMMIT;
-- process_claimed_file checks its arguments and dead-letters a raw file
-- whose bytes no longer match their hash at once; the staging functions
-- and peak_periods refuse bad arguments instead of answering silently.
CREATE OR REPLACE FUNCTION raw_zone_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  parent_status text;
  parent_chunks integer;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'cannot truncate "%": the raw zone is immutable', TG_TABLE_NAME
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF TG_TABLE_NAME = 'raw_file' THEN
    IF OLD.status = 'receiving' THEN
      RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
      RAISE EXCEPTION 'cannot delete raw file %: the raw zone is immutable', OLD.file_id
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Staged files are kept as received; only their status changes.';
    END IF;
    IF (NEW.file_id, NEW.file_name, NEW.source, NEW.sha256, NEW.size_bytes, NEW.chunk_count,
        NEW.received_at, NEW.received_by)
       IS DISTINCT FROM
       (OLD.file_id, OLD.file_name, OLD.source, OLD.sha256, OLD.size_bytes, OLD.chunk_count,
        OLD.received_at, OLD.received_by) OR NEW.status = 'receiving' THEN
      RAISE EXCEPTION 'cannot modify raw file %: the raw zone is immutable', OLD.file_id
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = 'Only status, format, attempts and last_error may change after staging.';
    END IF;
    RETURN NEW;
  END IF;
  -- raw_chunk
  IF TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION 'cannot modify chunks of raw file %: the raw zone is immutable', OLD.file_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  -- qualified: this trigger also fires inside the SECURITY DEFINER staging
  -- functions, where a name the caller could shadow would run as the owner
  SELECT f.status, f.chunk_count INTO parent_status, parent_chunks FROM meter_etl.raw_file f
   WHERE f.file_id = CASE WHEN TG_OP = 'DELETE' THEN OLD.file_id ELSE NEW.file_id END;
  -- a restore (pg_dump) brings staged files back chunk by chunk: a chunk
  -- may complete a file up to its recorded chunk_count, never change it
  IF TG_OP = 'INSERT' AND parent_status <> 'receiving' AND NEW.chunk_no < parent_chunks THEN
    RETURN NEW;
  END IF;
  IF parent_status IS DISTINCT FROM 'receiving' AND TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'cannot delete chunks of raw file %: it is no longer receiving', OLD.file_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  ELSIF parent_status IS DISTINCT FROM 'receiving' THEN
    RAISE EXCEPTION 'cannot add chunks to raw file %: it is no longer receiving', NEW.file_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE OR REPLACE FUNCTION stage_begin(file_name text, source text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_id bigint;
BEGIN
  IF stage_begin.file_name IS NULL OR pg_catalog.btrim(stage_begin.file_name) = '' THEN
    RAISE EXCEPTION 'file_name must not be empty'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name the file as it was received; the name is kept for lineage.';
  END IF;
  INSERT INTO meter_etl.raw_file (file_name, source, received_by)
  VALUES (stage_begin.file_name, stage_begin.source, session_user)
  RETURNING raw_file.file_id INTO v_id;
  RETURN v_id;
END
$$;

CREATE OR REPLACE FUNCTION stage_chunk(file_id bigint, chunk_no integer, data bytea)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF stage_chunk.chunk_no IS NULL OR stage_chunk.chunk_no < 0 OR stage_chunk.data IS NULL THEN
    RAISE EXCEPTION 'chunk_no must be zero or more and data must not be null'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Chunks are numbered from 0; an empty file is sent as no chunks at all.';
  END IF;
  PERFORM 1 FROM meter_etl.raw_file f
   WHERE f.file_id = stage_chunk.file_id AND f.status = 'receiving'
     AND f.received_by = session_user;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'raw file % is not being received by this user', stage_chunk.file_id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Call meter_etl.stage_begin() first.';
  END IF;
  INSERT INTO meter_etl.raw_chunk VALUES (stage_chunk.file_id, stage_chunk.chunk_no, stage_chunk.data);
END
$$;

CREATE OR REPLACE FUNCTION stage_finish(upload_id bigint, OUT file_id bigint, OUT is_new boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_id   bigint := upload_id;
  v_sha  bytea;
  v_size bigint;
  v_n    integer;
  v_max  integer;
  v_old  bigint;
BEGIN
  PERFORM 1 FROM meter_etl.raw_file f
   WHERE f.file_id = v_id AND f.status = 'receiving' AND f.received_by = session_user
   FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'raw file % is not being received by this user', v_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  SELECT pg_catalog.count(*), coalesce(pg_catalog.sum(pg_catalog.octet_length(c.data)), 0),
         pg_catalog.max(c.chunk_no)
    INTO v_n, v_size, v_max
    FROM meter_etl.raw_chunk c WHERE c.file_id = v_id;
  IF v_n > 0 AND v_max <> v_n - 1 THEN
    RAISE EXCEPTION 'raw file % has missing chunks', v_id
      USING ERRCODE = 'data_exception',
            DETAIL = pg_catalog.format('Found %s chunks, the highest numbered %s.', v_n, v_max);
  END IF;
  v_sha := meter_etl.raw_sha256(v_id);
  -- identical bytes staged concurrently must not both survive
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(pg_catalog.encode(v_sha, 'hex'), 7411));
  SELECT f.file_id INTO v_old FROM meter_etl.raw_file f WHERE f.sha256 = v_sha;
  IF FOUND THEN
    DELETE FROM meter_etl.raw_chunk c WHERE c.file_id = v_id;
    DELETE FROM meter_etl.raw_file f WHERE f.file_id = v_id;
    stage_finish.file_id := v_old;
    is_new := false;
    RETURN;
  END IF;
  UPDATE meter_etl.raw_file f
     SET sha256 = v_sha, size_bytes = v_size, chunk_count = v_n, status = 'staged'
   WHERE f.file_id = v_id;
  stage_finish.file_id := v_id;
  is_new := true;
END
$$;

CREATE OR REPLACE FUNCTION stage(file_name text, content bytea, source text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_id    bigint;
  v_old   bigint;
  v_chunk constant integer := 1048576;
  v_hash  constant bytea := pg_catalog.sha256(content);
BEGIN
  IF content IS NULL THEN
    RAISE EXCEPTION 'content must not be null'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Stage an empty file as an empty bytea.';
  END IF;
  -- stage_begin checks the name too, but identical bytes never reach it
  IF stage.file_name IS NULL OR pg_catalog.btrim(stage.file_name) = '' THEN
    RAISE EXCEPTION 'file_name must not be empty'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name the file as it was received; the name is kept for lineage.';
  END IF;
  -- check for identical bytes first so a re-sent file costs no copy
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(pg_catalog.encode(v_hash, 'hex'), 7411));
  SELECT f.file_id INTO v_old FROM meter_etl.raw_file f WHERE f.sha256 = v_hash;
  IF FOUND THEN
    RETURN v_old;
  END IF;
  v_id := meter_etl.stage_begin(file_name, source);
  INSERT INTO meter_etl.raw_chunk (file_id, chunk_no, data)
  SELECT v_id, n, pg_catalog.substr(content, n * v_chunk + 1, v_chunk)
    FROM pg_catalog.generate_series(0, (pg_catalog.octet_length(content) - 1) / v_chunk) AS n
   WHERE pg_catalog.octet_length(content) > 0;
  RETURN (meter_etl.stage_finish(v_id)).file_id;
END
$$;

CREATE OR REPLACE FUNCTION create_partitions(from_date date, to_date date)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  d       date;
  part    text;
  created integer := 0;
BEGIN
  IF to_date - from_date > 3660 THEN
    RAISE EXCEPTION 'refusing to create % daily partitions at once', to_date - from_date + 1
      USING ERRCODE = 'program_limit_exceeded',
            HINT = 'Check the date range; partitions are created per day.';
  END IF;
  -- one creator at a time; ATTACH keeps concurrent inserts running
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('meter_etl.create_partitions', 7411));
  FOR d IN SELECT pg_catalog.generate_series(from_date, to_date, interval '1 day')::date LOOP
    part := 'reading_p' || pg_catalog.to_char(d, 'YYYYMMDD');
    CONTINUE WHEN pg_catalog.to_regclass('meter_etl.' || part) IS NOT NULL;
    EXECUTE pg_catalog.format('CREATE TABLE meter_etl.%I (LIKE meter_etl.reading INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION)', part);
    EXECUTE pg_catalog.format('ALTER TABLE meter_etl.%I ADD PRIMARY KEY (meter_key, channel_id, ts)', part);
    -- rows that arrived before the partition existed wait in the default one
    EXECUTE pg_catalog.format('WITH moved AS (DELETE FROM meter_etl.reading_default WHERE ts >= %L AND ts < %L RETURNING *)'
                   ' INSERT INTO meter_etl.%I SELECT * FROM moved',
                   d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00', part);
    EXECUTE pg_catalog.format('ALTER TABLE meter_etl.reading ATTACH PARTITION meter_etl.%I FOR VALUES FROM (%L) TO (%L)',
                   part, d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
    created := created + 1;
  END LOOP;
  RETURN created;
END
$$;

CREATE OR REPLACE FUNCTION process_claimed_file(p_file bigint, p_run bigint, p_detect boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_run     bigint := p_run;
  v_attempt integer;
  v_max     integer := coalesce(current_setting('meter_etl.max_attempts', true), '3')::integer;
  v_backoff interval := coalesce(current_setting('meter_etl.retry_backoff', true), '60 s')::interval;
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

CREATE OR REPLACE PROCEDURE run_pipeline(max_files integer DEFAULT NULL, worker text DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION peak_periods(from_ts timestamptz, to_ts timestamptz, bucket interval DEFAULT '30 minutes',
                             top_n integer DEFAULT 10, per_day boolean DEFAULT false,
                             meters text[] DEFAULT NULL, channel text DEFAULT 'import',
                             exclude_flagged boolean DEFAULT true, time_zone text DEFAULT 'UTC')
RETURNS TABLE (period_start timestamptz, period_end timestamptz, demand_kw double precision,
               meters_counted integer, day date, rank integer)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  -- a mistake is an error, never an empty answer
  IF peak_periods.from_ts IS NULL OR peak_periods.to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF peak_periods.from_ts > peak_periods.to_ts THEN
    RAISE EXCEPTION 'from_ts must not be later than to_ts' USING ERRCODE = 'invalid_parameter_value';
  ELSIF peak_periods.bucket IS NULL OR peak_periods.bucket <= interval '0' THEN
    RAISE EXCEPTION 'bucket must be a positive interval' USING ERRCODE = 'invalid_parameter_value';
  ELSIF peak_periods.top_n IS NULL OR peak_periods.top_n < 1 THEN
    RAISE EXCEPTION 'top_n must be at least 1' USING ERRCODE = 'invalid_parameter_value';
  ELSIF peak_periods.per_day IS NULL OR peak_periods.exclude_flagged IS NULL THEN
    RAISE EXCEPTION 'per_day and exclude_flagged must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF peak_periods.meters IS NOT NULL AND pg_catalog.cardinality(peak_periods.meters) = 0 THEN
    RAISE EXCEPTION 'meters must not be an empty array'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass NULL for every meter.';
  ELSIF NOT EXISTS (SELECT 1 FROM meter_etl.channel c WHERE c.name = peak_periods.channel) THEN
    RAISE EXCEPTION 'unrecognized channel "%"', peak_periods.channel
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'meter_etl.channel lists the channels, e.g. import, export, net.';
  ELSIF peak_periods.time_zone IS NULL
        OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names z WHERE z.name = peak_periods.time_zone)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_abbrevs z WHERE z.abbrev = peak_periods.time_zone) THEN
    RAISE EXCEPTION 'time zone "%" is not recognized', peak_periods.time_zone
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
  WITH ch AS (
    SELECT c.channel_id FROM meter_etl.channel c WHERE c.name = peak_periods.channel
  ), scope AS (
    SELECT m.meter_key FROM meter_etl.meter m
     WHERE peak_periods.meters IS NULL OR m.meter_id = ANY (peak_periods.meters)
  ), excluded AS (            -- meter-days with a fault episode or a long gap
    SELECT DISTINCT x.meter_key, d::date AS day
      FROM (SELECT f.meter_key, f.start_ts, f.end_ts FROM meter_etl.fault f, ch
             WHERE f.channel_id = ch.channel_id AND f.end_ts > peak_periods.from_ts AND f.start_ts < peak_periods.to_ts
            UNION ALL
            SELECT g.meter_key, g.start_ts, g.end_ts FROM meter_etl.gap g, ch
             WHERE g.channel_id = ch.channel_id AND g.end_ts > peak_periods.from_ts AND g.start_ts < peak_periods.to_ts) x
      CROSS JOIN LATERAL generate_series((greatest(x.start_ts, peak_periods.from_ts) AT TIME ZONE peak_periods.time_zone)::date,
                                         ((least(x.end_ts, peak_periods.to_ts) - interval '1 microsecond')
                                          AT TIME ZONE peak_periods.time_zone)::date,
                                         interval '1 day') AS d
     WHERE peak_periods.exclude_flagged
  ), r AS (
    SELECT rd.meter_key, rd.ts, rd.kw, rd.flags
      FROM meter_etl.reading rd, ch
     WHERE rd.channel_id = ch.channel_id AND rd.ts >= peak_periods.from_ts AND rd.ts < peak_periods.to_ts
       AND rd.meter_key IN (SELECT meter_key FROM scope)
    UNION ALL
    SELECT e.meter_key, e.ts, e.kw, 1::smallint
      FROM meter_etl.estimate e, ch
     WHERE e.channel_id = ch.channel_id AND e.ts >= peak_periods.from_ts AND e.ts < peak_periods.to_ts
       AND e.meter_key IN (SELECT meter_key FROM scope)
       AND NOT EXISTS (SELECT 1 FROM meter_etl.reading a
                        WHERE a.meter_key = e.meter_key AND a.channel_id = e.channel_id AND a.ts = e.ts)
  ), per_meter AS (
    SELECT date_bin(peak_periods.bucket, r.ts, timestamptz '2000-01-01 00:00:00+00') AS b,
           r.meter_key, avg(r.kw) AS kw
      FROM r
     WHERE NOT peak_periods.exclude_flagged
        OR (r.flags & 6 = 0
            AND NOT EXISTS (SELECT 1 FROM excluded x
                             WHERE x.meter_key = r.meter_key
                               AND x.day = (r.ts AT TIME ZONE peak_periods.time_zone)::date))
     GROUP BY 1, 2
  ), fleet AS (
    SELECT pm.b, sum(pm.kw) AS demand, count(*)::integer AS n,
           (pm.b AT TIME ZONE peak_periods.time_zone)::date AS day
      FROM per_meter pm GROUP BY pm.b
  ), ranked AS (
    SELECT f.*, row_number() OVER (PARTITION BY CASE WHEN peak_periods.per_day THEN f.day END
                                   ORDER BY f.demand DESC, f.b)::integer AS rk
      FROM fleet f
  )
  SELECT k.b, k.b + peak_periods.bucket, k.demand, k.n, k.day, k.rk
    FROM ranked k
   WHERE k.rk <= peak_periods.top_n
   ORDER BY CASE WHEN peak_periods.per_day THEN k.day END, k.rk;
END
$$;

-- CREATE OR REPLACE resets SECURITY DEFINER (90_roles.sql sets it)
ALTER FUNCTION create_partitions(date, date) SECURITY DEFINER;

-- The raw zone is append-only for everyone but the extension's owner.
REVOKE INSERT, UPDATE, DELETE ON raw_file, raw_chunk FROM meter_etl_admin;
GRANT UPDATE (status, format, attempts, last_error, next_attempt_at) ON raw_file TO meter_etl_admin;

-- The monitoring view shows other sessions' query text only to a role that
-- may see it in pg_stat_activity itself.
ALTER VIEW v_ingest_progress SET (security_invoker = true);

-- ======================================================================
-- The archive follows late data, with the estimates (issue 17)
-- ======================================================================
-- Changes of the store (readings and estimates) are recorded per UTC date
-- with their transaction, each export records the snapshot it read with,
-- v_archive_coverage calls a date stale when its files miss a change,
-- archive_recent() archives stale dates again (max_stale_days per call),
-- and prune_history() bounds the log.  The files hold the estimates
-- (schema version 2).  The new objects are the fresh script's, in the same
-- words.
ALTER TABLE archive_export ADD COLUMN snapshot pg_snapshot;
COMMENT ON COLUMN archive_export.snapshot IS
  'The snapshot every date of the call was read with: a change in archive_change whose transaction it does not see is missing from the files';

-- Which archived dates miss a change of the store.  Every change to the
-- readings or estimates of a UTC date (ingest, detection's flags and
-- estimates, direct DML through reading) adds a row with the writing
-- transaction's id; a date's files
-- miss the change when the snapshot of the export that wrote them
-- (archive_export.snapshot) does not see that transaction.  Comparing
-- snapshots rather than clock times is exact for a change that commits
-- while an archive is reading: its clock time is earlier, its commit later.
CREATE TABLE archive_change (
    day        date NOT NULL,
    xid        xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    source     text NOT NULL CHECK (source IN ('ingest', 'reading', 'estimate')),
    changed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX archive_change_day_idx ON archive_change (day);
COMMENT ON TABLE archive_change IS
  'Changes to the store per UTC date (ingest, reading DML such as detection''s flags, estimates), with the writing transaction: an archived date whose export snapshot does not see one is stale; prune_history() removes changes every archive has seen';
COMMENT ON COLUMN archive_change.source IS
  'ingest (readings stored by ingest), reading (INSERT, UPDATE or DELETE through meter_etl.reading), estimate (the same on meter_etl.estimate)';

-- Statement triggers on reading and estimate record the dates a statement
-- touched (ingest writes without triggers and records its dates itself).
-- A transition table may serve one event only, hence three triggers a
-- table on one function.
CREATE FUNCTION archive_note_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO meter_etl.archive_change (day, source)
    SELECT DISTINCT (n.ts AT TIME ZONE 'UTC')::date, TG_TABLE_NAME FROM new_rows n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO meter_etl.archive_change (day, source)
    SELECT (n.ts AT TIME ZONE 'UTC')::date, TG_TABLE_NAME FROM new_rows n
    UNION
    SELECT (o.ts AT TIME ZONE 'UTC')::date, TG_TABLE_NAME FROM old_rows o;
  ELSE
    INSERT INTO meter_etl.archive_change (day, source)
    SELECT DISTINCT (o.ts AT TIME ZONE 'UTC')::date, TG_TABLE_NAME FROM old_rows o;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION archive_note_change() IS
  'AFTER statement trigger on meter_etl.reading and meter_etl.estimate: records the UTC dates the statement changed in meter_etl.archive_change';

CREATE TRIGGER reading_archive_insert AFTER INSERT ON reading
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION archive_note_change();
CREATE TRIGGER reading_archive_update AFTER UPDATE ON reading
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION archive_note_change();
CREATE TRIGGER reading_archive_delete AFTER DELETE ON reading
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION archive_note_change();
CREATE TRIGGER estimate_archive_insert AFTER INSERT ON estimate
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION archive_note_change();
CREATE TRIGGER estimate_archive_update AFTER UPDATE ON estimate
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION archive_note_change();
CREATE TRIGGER estimate_archive_delete AFTER DELETE ON estimate
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION archive_note_change();

SELECT pg_catalog.pg_extension_config_dump('archive_change', '');

CREATE OR REPLACE VIEW v_archive_coverage AS
WITH files AS (
  SELECT m.dataset, m.day, min(m.partition_key) AS partition_key,
         count(*) AS files, sum(m.rows) AS rows, sum(m.bytes) AS bytes,
         sum(m.meters) AS meters, min(m.min_ts) AS min_ts, max(m.max_ts) AS max_ts,
         max(m.export_id) AS export_id, max(m.written_at) AS written_at,
         max(m.schema_version) AS schema_version
    FROM archive_manifest m
   GROUP BY m.dataset, m.day
), missed AS (
  -- the newest change of the store the date's files miss: its transaction is
  -- not in the export's snapshot, or it happened after the export finished
  -- (which also holds after a restore into a cluster with other transaction
  -- ids); an export without a snapshot (written by 0.1) misses every change
  SELECT fi.dataset, fi.day, max(c.changed_at) AS store_changed_at
    FROM files fi
    LEFT JOIN archive_export e ON e.export_id = fi.export_id
    JOIN archive_change c ON c.day = fi.day
   WHERE e.snapshot IS NULL OR e.finished_at IS NULL OR c.changed_at > e.finished_at
      OR NOT pg_visible_in_snapshot(c.xid, e.snapshot)
   GROUP BY fi.dataset, fi.day
), fails AS (
  SELECT f.dataset, f.day, count(*) AS open_failures, max(f.failed_at) AS last_failure
    FROM archive_failure f
   WHERE f.resolved_at IS NULL
   GROUP BY f.dataset, f.day
), store_days AS (
  -- daily partitions of the clean store that hold (or may hold) rows
  SELECT p.day FROM reading_partition p WHERE p.reltuples <> 0
)
SELECT coalesce(fi.dataset, fa.dataset) AS dataset,
       coalesce(fi.day, fa.day) AS day,
       CASE WHEN fi.files IS NULL THEN 'failed'
            WHEN fa.open_failures IS NOT NULL OR mi.store_changed_at IS NOT NULL THEN 'stale'
            ELSE 'archived' END AS status,
       fi.partition_key, coalesce(fi.files, 0) AS files, coalesce(fi.rows, 0) AS rows,
       coalesce(fi.bytes, 0) AS bytes, fi.meters, fi.min_ts, fi.max_ts,
       fi.export_id, fi.written_at, fi.schema_version,
       coalesce(fa.open_failures, 0) AS open_failures, fa.last_failure,
       mi.store_changed_at
  FROM files fi
  FULL JOIN fails fa ON fa.dataset = fi.dataset AND fa.day = fi.day
  LEFT JOIN missed mi ON mi.dataset = fi.dataset AND mi.day = fi.day
UNION ALL
SELECT NULL, s.day, 'not_archived', NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL
  FROM store_days s
 WHERE NOT EXISTS (SELECT 1 FROM archive_manifest m WHERE m.day = s.day)
   AND NOT EXISTS (SELECT 1 FROM archive_failure f WHERE f.day = s.day AND f.resolved_at IS NULL);
COMMENT ON VIEW v_archive_coverage IS
  'Per dataset and UTC date: archived (files, rows, bytes, time span, export), failed (open failures, nothing archived), stale (older files kept after a failure, or the store changed since: store_changed_at, the newest change the files miss); not_archived for days of the clean store without any archive';
COMMENT ON COLUMN v_archive_coverage.store_changed_at IS
  'The newest change of the store (meter_etl.archive_change) the date''s files do not hold; NULL when they hold every change';

-- the files hold the estimates too (schema version 2)
COMMENT ON COLUMN archive_manifest.schema_version IS 'Layout of the columns (1: meter_id, channel, ts, kw, quality_flags, estimated, file_id, line_no; 2: the same plus method, with the estimates)';
COMMENT ON FUNCTION archive_parquet(date, date, integer, text, text, text, integer, boolean) IS
  'Archive the readings and estimates of UTC dates as Parquet under meter_etl.archive_dir (hive layout date=/meter_bucket= or date=/meter_id=); files replace a date''s earlier ones when the transaction commits';

-- a new argument (max_stale_days): a new signature
DROP FUNCTION archive_recent(integer, integer, text, integer, text);
CREATE FUNCTION archive_recent(days integer DEFAULT 2,
                               catch_up integer DEFAULT 7,
                               dataset text DEFAULT '',
                               buckets integer DEFAULT NULL,
                               partition_by text DEFAULT 'meter_bucket',
                               max_stale_days integer DEFAULT 7)
RETURNS TABLE (day date, status text, files integer, rows bigint, bytes bigint, export_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  -- UTC dates, like the store's partitions and the archive's date= keys
  v_today date := (now() AT TIME ZONE 'UTC')::date;
  v_from  date;
  v_due   record;
  v_has   boolean;
  v_done  integer := 0;
  v_days  date[] := '{}';
BEGIN
  IF days IS NULL OR catch_up IS NULL OR max_stale_days IS NULL THEN
    RAISE EXCEPTION 'days, catch_up and max_stale_days must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  ELSIF days < 1 THEN
    RAISE EXCEPTION 'days must be at least 1, not %', days
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'days is how many of the last complete UTC days are archived again.';
  ELSIF catch_up < 0 THEN
    RAISE EXCEPTION 'catch_up must not be negative, not %', catch_up
      USING ERRCODE = 'invalid_parameter_value';
  ELSIF max_stale_days < 1 THEN
    RAISE EXCEPTION 'max_stale_days must be at least 1, not %', max_stale_days
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Stale dates left over are archived by the next call, oldest first.';
  END IF;
  v_from := v_today - days;
  -- older days that are due, oldest first, at most catch_up per call: an
  -- open failure, or readings never archived (the job did not run then)
  FOR v_due IN
    SELECT d, min(part) AS part FROM (
      SELECT f.day AS d, NULL::text AS part FROM archive_failure f
       WHERE f.dataset = archive_recent.dataset AND f.resolved_at IS NULL AND f.day < v_from
      UNION ALL
      SELECT p.day, p.part::text FROM reading_partition p WHERE p.day < v_from
      UNION ALL
      -- stray rows of days without a partition (the default partition is small);
      -- v_from is a UTC date, whatever the session's time zone
      SELECT DISTINCT (r.ts AT TIME ZONE 'UTC')::date, NULL FROM reading_default r
       WHERE r.ts < (v_from::timestamp AT TIME ZONE 'UTC')) cand
     WHERE NOT EXISTS (SELECT 1 FROM archive_manifest m
                        WHERE m.dataset = archive_recent.dataset AND m.day = cand.d)
        OR EXISTS (SELECT 1 FROM archive_failure f
                    WHERE f.dataset = archive_recent.dataset AND f.day = cand.d AND f.resolved_at IS NULL)
     GROUP BY d ORDER BY d
  LOOP
    EXIT WHEN v_done >= catch_up;
    v_has := true;
    IF v_due.part IS NOT NULL THEN   -- an empty partition is not due
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', v_due.part) INTO v_has;
    END IF;
    CONTINUE WHEN NOT v_has;
    RETURN QUERY SELECT * FROM archive_parquet(v_due.d, v_due.d, buckets, partition_by, dataset);
    v_days := v_days || v_due.d;
    v_done := v_done + 1;
  END LOOP;
  -- archived days whose files miss later changes of the store (late
  -- readings, new detection results), oldest first, at most max_stale_days
  -- per call: the rest wait for the next call.  A day whose readings are
  -- gone (its partition dropped) keeps its files and is not due.
  v_done := 0;
  FOR v_due IN
    SELECT c.day AS d FROM v_archive_coverage c
     WHERE c.dataset = archive_recent.dataset AND c.store_changed_at IS NOT NULL
       AND c.day < v_from AND c.day <> ALL (v_days)
     ORDER BY c.day
  LOOP
    EXIT WHEN v_done >= max_stale_days;
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM reading r
                               WHERE r.ts >= (v_due.d::timestamp AT TIME ZONE 'UTC')
                                 AND r.ts < ((v_due.d + 1)::timestamp AT TIME ZONE 'UTC'));
    RETURN QUERY SELECT * FROM archive_parquet(v_due.d, v_due.d, buckets, partition_by, dataset);
    v_done := v_done + 1;
  END LOOP;
  -- the last complete days again: late readings and detection results since
  -- the last run replace those days' files
  RETURN QUERY SELECT * FROM archive_parquet(v_from, v_today - 1, buckets, partition_by, dataset);
END
$$;
COMMENT ON FUNCTION archive_recent(integer, integer, text, integer, text, integer) IS
  'Archive the last complete UTC days again, plus up to catch_up older days that failed or were never archived and up to max_stale_days older archived days whose files miss later changes of the store (oldest first)';

CREATE OR REPLACE FUNCTION prune_history()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_keep interval := make_interval(days => coalesce(current_setting('meter_etl.run_history_days', true), '30')::integer);
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

-- privileges as 90_roles.sql gives them
REVOKE ALL ON FUNCTION archive_recent(integer, integer, text, integer, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION archive_note_change() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive_recent(integer, integer, text, integer, text, integer), archive_note_change() TO meter_etl_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON archive_change TO meter_etl_admin;
