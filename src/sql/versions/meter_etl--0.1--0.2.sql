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
  IF from_date IS NULL OR to_date IS NULL THEN
    RAISE EXCEPTION 'from_date and to_date must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF from_date > to_date THEN
    RAISE EXCEPTION 'from_date must not be later than to_date' USING ERRCODE = 'invalid_parameter_value';
  END IF;
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
               AND f.kind <> 'usage_anomaly'   -- the household's doing: it still makes the peak
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

-- 0.2 (issue 17): level shift judged against the level before an episode
-- and against the fleet's level of each day (fleet_levels, fleet_day,
-- fleet_reference); a shift that ended sooner than level_shift_persist_days
-- is a usage_anomaly, reported but not a fault; detection gives the same
-- state whatever the order of its runs.
ALTER TABLE fault DROP CONSTRAINT fault_kind_check;
ALTER TABLE fault ADD CONSTRAINT fault_kind_check
  CHECK (kind IN ('stuck_zero', 'flatline', 'level_shift', 'offline', 'usage_anomaly'));
COMMENT ON TABLE fault IS
  'Faulty-meter episodes [start_ts, end_ts): stuck_zero, flatline, level_shift, offline, with the evidence; ongoing when still going at the end of the data seen. Also usage_anomaly episodes (a household''s transient change of usage): kept here because detection revises one into the other, but not faults: they flag no reading, set no status, raise no alert and exclude no meter from peaks';
ALTER TABLE meter_day ADD COLUMN raw_kw_sum double precision, ADD COLUMN raw_readings integer;
COMMENT ON COLUMN meter_day.raw_kw_sum IS
  'Sum of all the day''s readings, outliers and stuck runs included (the fleet''s level is made of these: a pure function of the readings, whichever run computes it)';
COMMENT ON COLUMN meter_day.raw_readings IS 'Count of all the day''s readings';

CREATE TABLE fleet_reference (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    known_from date NOT NULL,
    usual      double precision,
    run_id     bigint,
    PRIMARY KEY (meter_key, channel_id)
);
COMMENT ON TABLE fleet_reference IS
  'Each meter channel''s usual day for the fleet''s level: the median kWh per 24 h of its first 7 whole days in the store (known_from = the last of them; NULL usual: its first two weeks hold fewer than 7), set once by detect()';

CREATE TABLE fleet_day (
    channel_id smallint NOT NULL,
    time_zone  text NOT NULL,
    day        date NOT NULL,
    level      double precision NOT NULL CHECK (level > 0),
    meters     integer NOT NULL,
    run_id     bigint,
    PRIMARY KEY (channel_id, time_zone, day)
);
COMMENT ON TABLE fleet_day IS
  'The fleet''s level per channel, time zone and local day (fleet_levels()), kept by detect() for the days it detects: level shift divides each meter''s day by it';
SELECT pg_catalog.pg_extension_config_dump('fleet_day', '');
SELECT pg_catalog.pg_extension_config_dump('fleet_reference', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON fleet_day, fleet_reference TO meter_etl_admin;

CREATE FUNCTION fleet_levels(from_ts timestamptz, to_ts timestamptz,
                             stored_before timestamptz DEFAULT NULL,
                             min_meters integer DEFAULT 5)
RETURNS TABLE (channel text, time_zone text, day date, level double precision, meters integer)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  v_read_from constant timestamptz := greatest(fleet_levels.from_ts,
                                               coalesce(fleet_levels.stored_before, fleet_levels.from_ts));
BEGIN
  IF fleet_levels.from_ts IS NULL OR fleet_levels.to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF fleet_levels.from_ts > fleet_levels.to_ts THEN
    RAISE EXCEPTION 'from_ts must not be later than to_ts' USING ERRCODE = 'invalid_parameter_value';
  ELSIF fleet_levels.min_meters IS NULL OR fleet_levels.min_meters < 1 THEN
    RAISE EXCEPTION 'min_meters must be at least 1' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
  -- whole days with 90 % of their readings, kWh per 24 h of every reading:
  -- days starting before v_read_from as stored (at any time: a meter's
  -- first days too), the others from the readings of [v_read_from, to_ts)
  WITH stored AS (
    SELECT y.meter_key, y.channel_id, y.day, y.raw_kw_sum / y.raw_readings * 24 AS e
      FROM meter_etl.meter_day y
      JOIN meter_etl.meter m ON m.meter_key = y.meter_key
     WHERE y.start_ts < v_read_from AND y.raw_readings > 0
       AND y.raw_readings >= 0.9 * extract(epoch FROM y.end_ts - y.start_ts) / m.interval_s
  ), fresh AS (
    SELECT x.meter_key, x.channel_id, x.day, x.e
      FROM (SELECT r.meter_key, r.channel_id, m.interval_s, coalesce(m.time_zone, 'UTC') AS tz,
                   (r.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date AS day,
                   pg_catalog.avg(r.kw) * 24 AS e, pg_catalog.count(*) AS n
              FROM meter_etl.reading r
              JOIN meter_etl.meter m ON m.meter_key = r.meter_key
             WHERE r.ts >= v_read_from AND r.ts < fleet_levels.to_ts
             GROUP BY 1, 2, 3, 4, 5) x
     CROSS JOIN LATERAL (SELECT x.day::timestamp AT TIME ZONE x.tz AS s,
                                (x.day + 1)::timestamp AT TIME ZONE x.tz AS e) b
     WHERE b.s >= v_read_from AND b.e <= fleet_levels.to_ts
       AND x.n >= 0.9 * extract(epoch FROM b.e - b.s) / x.interval_s
  ), day_e AS (
    SELECT * FROM stored UNION ALL SELECT * FROM fresh
  ), firsts AS (              -- each meter's first 7 whole days
    SELECT d.meter_key, d.channel_id, d.day, d.e,
           pg_catalog.row_number() OVER (PARTITION BY d.meter_key, d.channel_id ORDER BY d.day) AS k
      FROM day_e d
  ), usual AS (               -- its usual day: their median, a constant of the meter
    SELECT r.meter_key, r.channel_id, r.known_from, r.usual AS l
      FROM meter_etl.fleet_reference r WHERE r.usual IS NOT NULL
    UNION ALL                 -- (not set by detect() yet: the first days of the window)
    SELECT f.meter_key, f.channel_id, pg_catalog.max(f.day), pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY f.e)
      FROM firsts f
     WHERE f.k <= 7 AND NOT EXISTS (SELECT 1 FROM meter_etl.fleet_reference r
                                     WHERE r.meter_key = f.meter_key AND r.channel_id = f.channel_id)
     GROUP BY 1, 2
    HAVING pg_catalog.count(*) = 7
  )
  -- rounded to 1e-9: sums of the same readings in another order (the store's
  -- daily sums, a hash aggregate) differ in the last bits, the level must not
  SELECT c.name, coalesce(m.time_zone, 'UTC'), d.day,
         pg_catalog.round(pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY d.e / u.l)::numeric, 9)::double precision,
         pg_catalog.count(*)::integer
    FROM day_e d
    JOIN usual u ON u.meter_key = d.meter_key AND u.channel_id = d.channel_id
    JOIN meter_etl.meter m ON m.meter_key = d.meter_key
    JOIN meter_etl.channel c ON c.channel_id = d.channel_id
   WHERE u.l > 0 AND d.day > u.known_from     -- only days after the reference: the same whichever run
     AND d.day::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC') >= fleet_levels.from_ts
   GROUP BY 1, 2, 3
  HAVING pg_catalog.count(*) >= fleet_levels.min_meters
     AND pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY d.e / u.l) > 0
   ORDER BY 1, 2, 3;
END
$$;
COMMENT ON FUNCTION fleet_levels(timestamptz, timestamptz, timestamptz, integer) IS
  'The fleet''s level on each whole local day in [from_ts, to_ts), per channel and time zone: the median over meters of the day''s energy divided by the meter''s usual day (fleet_reference: the median of its first 7 whole days in the store; for a meter detect() has not seen, of its first 7 in the window; it counts from the day after them), so the ratio of two days'' levels is how much the fleet changed between them. Every reading counts. Days of min_meters meters or more; days starting before stored_before come from meter_day (what detect() keeps), the rest from the readings. level_shift divides each day by it';

DROP FUNCTION detect_faulty_meters(timestamptz, timestamptz, text[], text[], interval, interval, interval, integer, double precision, double precision, integer, interval);
DROP FUNCTION detect_faulty_meters_array(timestamptz[], double precision[], interval, text[], text, interval, interval, integer, double precision, double precision, integer, interval);
DROP FUNCTION detect_compute(timestamptz, timestamptz, integer[]);
CREATE FUNCTION detect_faulty_meters(from_ts timestamptz DEFAULT pg_catalog.date_trunc('day', pg_catalog.now()) - interval '1 day',
                                     to_ts timestamptz DEFAULT pg_catalog.date_trunc('day', pg_catalog.now()),
                                     meters text[] DEFAULT NULL,
                                     kinds text[] DEFAULT NULL, history interval DEFAULT '28 days',
                                     stuck_zero_min interval DEFAULT '28800 s',
                                     flatline_min interval DEFAULT '28800 s',
                                     flatline_min_readings integer DEFAULT 16,
                                     shift_min_z double precision DEFAULT 3,
                                     shift_min_factor double precision DEFAULT 2,
                                     shift_min_days integer DEFAULT 2,
                                     offline_min interval DEFAULT '86400 s',
                                     shift_persist_days integer DEFAULT 14,
                                     fleet_min_meters integer DEFAULT 5)
RETURNS TABLE (meter_id text, channel text, kind text, start_ts timestamptz, end_ts timestamptz,
               evidence jsonb)
AS 'MODULE_PATHNAME', 'meter_etl_detect_faulty_meters'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION detect_faulty_meters(timestamptz, timestamptz, text[], text[], interval, interval, interval, integer, double precision, double precision, integer, interval, integer, integer) IS
  'Faulty-meter episodes overlapping [from_ts, to_ts): stuck_zero, flatline, level_shift (daily energy divided by the fleet''s level, against the same weekday of the previous 4 weeks, robust z; ongoing, or lasting shift_persist_days) and offline, judged with history before from_ts; and usage_anomaly, a shift that ended sooner (reported, not a fault); without a range: yesterday (midnight to midnight in the session''s TimeZone)';

CREATE FUNCTION detect_faulty_meters_array(ts timestamptz[], kw double precision[], step interval DEFAULT '15 minutes',
                                     kinds text[] DEFAULT NULL, time_zone text DEFAULT 'UTC',
                                     stuck_zero_min interval DEFAULT '28800 s',
                                     flatline_min interval DEFAULT '28800 s',
                                     flatline_min_readings integer DEFAULT 16,
                                     shift_min_z double precision DEFAULT 3,
                                     shift_min_factor double precision DEFAULT 2,
                                     shift_min_days integer DEFAULT 2,
                                     offline_min interval DEFAULT '86400 s',
                                     shift_persist_days integer DEFAULT 14)
RETURNS TABLE (kind text, start_ts timestamptz, end_ts timestamptz, evidence jsonb)
AS 'MODULE_PATHNAME', 'meter_etl_detect_faulty_meters_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION detect_faulty_meters_array(timestamptz[], double precision[], interval, text[], text, interval, interval, integer, double precision, double precision, integer, interval, integer) IS
  'detect_faulty_meters() on any series: ts strictly ascending, kw NULL for a missing reading, local days in time_zone (a lone series: no fleet level)';

CREATE FUNCTION detect_compute(from_ts timestamptz, to_ts timestamptz, meter_keys integer[] DEFAULT NULL)
RETURNS TABLE (item text, meter_key integer, channel_id smallint, ts timestamptz, end_ts timestamptz,
               kw double precision, flags smallint, kind text, n bigint, day date,
               open_start boolean, open_end boolean, evidence jsonb,
               raw_kw double precision, raw_n bigint, partial boolean)
AS 'MODULE_PATHNAME', 'meter_etl_detect_compute'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION detect_compute(timestamptz, timestamptz, integer[]) IS
  'What detect() would write for [from_ts, to_ts), without writing: flags, estimate, gap, fault, day and series rows (internal, for detect() and tests)';

CREATE FUNCTION outage_evidence(start_ts timestamptz, end_ts timestamptz, interval_s integer)
RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
  -- as detect_compute writes it (numbers to 6 significant digits)
  SELECT pg_catalog.jsonb_build_object(
           'hours', h, 'missing_share', 1, 'longest_gap_hours', h,
           'missing_intervals', (extract(epoch FROM outage_evidence.end_ts - outage_evidence.start_ts)
                                 / outage_evidence.interval_s)::bigint)
    FROM (SELECT pg_catalog.trim_scale(pg_catalog.round(x, greatest(0, 5 - floor(log(10, x))::integer))) AS h
            FROM (SELECT (extract(epoch FROM outage_evidence.end_ts - outage_evidence.start_ts) / 3600)::numeric AS x) a) b
$$;
COMMENT ON FUNCTION outage_evidence(timestamptz, timestamptz, integer) IS
  'Internal (detect()): the evidence of an offline episode [start_ts, end_ts) without a reading, as detect_compute() gives it';

CREATE FUNCTION fleet_reference_set(run_id bigint, from_ts timestamptz, to_ts timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_n bigint;
BEGIN
  IF fleet_reference_set.from_ts IS NULL OR fleet_reference_set.to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- meter channels with readings in [from_ts, to_ts) and no reference yet:
  -- their first reading (one index probe each), then their first two weeks
  WITH need AS (
    SELECT DISTINCT r.meter_key, r.channel_id
      FROM meter_etl.reading r
     WHERE r.ts >= fleet_reference_set.from_ts AND r.ts < fleet_reference_set.to_ts
       AND NOT EXISTS (SELECT 1 FROM meter_etl.fleet_reference x
                        WHERE x.meter_key = r.meter_key AND x.channel_id = r.channel_id)
  ), first AS (
    SELECT n.meter_key, n.channel_id, f.ts, m.interval_s, coalesce(m.time_zone, 'UTC') AS tz
      FROM need n
      JOIN meter_etl.meter m ON m.meter_key = n.meter_key
     CROSS JOIN LATERAL (SELECT r.ts FROM meter_etl.reading r
                          WHERE r.meter_key = n.meter_key AND r.channel_id = n.channel_id
                          ORDER BY r.ts LIMIT 1) f
  ), days AS (
    SELECT f.meter_key, f.channel_id, f.ts AS first_ts, (r.ts AT TIME ZONE f.tz)::date AS day,
           pg_catalog.avg(r.kw) * 24 AS e, pg_catalog.count(*) AS n, f.interval_s, f.tz
      FROM first f
      JOIN meter_etl.reading r ON r.meter_key = f.meter_key AND r.channel_id = f.channel_id
                              AND r.ts >= f.ts AND r.ts < f.ts + interval '15 days'
     GROUP BY f.meter_key, f.channel_id, f.ts, 4, f.interval_s, f.tz
  ), whole AS (
    SELECT d.*, pg_catalog.row_number() OVER (PARTITION BY d.meter_key, d.channel_id ORDER BY d.day) AS k
      FROM days d
     WHERE d.day::timestamp AT TIME ZONE d.tz >= d.first_ts
       AND (d.day + 1)::timestamp AT TIME ZONE d.tz <= d.first_ts + interval '15 days'
       AND d.n >= 0.9 * extract(epoch FROM ((d.day + 1)::timestamp AT TIME ZONE d.tz)
                                           - (d.day::timestamp AT TIME ZONE d.tz)) / d.interval_s
  ), ref AS (
    SELECT w.meter_key, w.channel_id, pg_catalog.max(w.day) AS known_from,
           CASE WHEN pg_catalog.count(*) = 7 THEN pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY w.e) END AS usual
      FROM whole w WHERE w.k <= 7
     GROUP BY 1, 2
  )
  INSERT INTO meter_etl.fleet_reference (meter_key, channel_id, known_from, usual, run_id)
  SELECT f.meter_key, f.channel_id, coalesce(r.known_from, (f.ts AT TIME ZONE f.tz)::date + 14), r.usual,
         fleet_reference_set.run_id
    FROM first f LEFT JOIN ref r ON r.meter_key = f.meter_key AND r.channel_id = f.channel_id
   -- set once it is known: 7 whole days, or two weeks of readings (then never usable)
   WHERE r.usual IS NOT NULL
      OR EXISTS (SELECT 1 FROM meter_etl.reading x
                  WHERE x.meter_key = f.meter_key AND x.channel_id = f.channel_id AND x.ts >= f.ts + interval '15 days')
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION fleet_reference_set(bigint, timestamptz, timestamptz) IS
  'Internal (detect()): set fleet_reference for the meter channels with readings in [from_ts, to_ts) that have none, from their first 7 whole days in the store; returns how many were set';

CREATE OR REPLACE FUNCTION detect_apply(run_id bigint, from_ts timestamptz, to_ts timestamptz, meter_keys integer[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_run   constant bigint := detect_apply.run_id;
  v_from  constant timestamptz := detect_apply.from_ts;
  v_to    constant timestamptz := detect_apply.to_ts;
  v_keys  constant integer[] := detect_apply.meter_keys;
  v_lo    timestamptz;
  v_min   timestamptz;
  v_settings jsonb;
  v_offline interval;
  v_series bigint;
  v_flags bigint;
  v_est_w bigint;
  v_est_d bigint;
  v_est_r bigint;
  v_mae   double precision;
  v_gap_w bigint;
  v_gap_d bigint;
  v_flt_n bigint := 0;
  v_flt_u bigint := 0;
  v_flt_d bigint;
  v_n     bigint;
  v_stat  bigint := 0;
  v_alert bigint := 0;
  rec     record;
BEGIN
  v_settings := meter_etl.detect_settings();    -- (this loads the module: the settings are defined)
  -- the fleet's level of the range's days first: level shift divides by it.
  -- The whole fleet, whichever meters are asked for; the day before and
  -- after too, for the zones' offsets (the readings read from a day and a
  -- half before, the rest comes from meter_day)
  IF (v_settings ->> 'level_shift_fleet_min_meters')::integer > 0 THEN
    PERFORM meter_etl.fleet_reference_set(v_run, v_from - interval '36 hours', v_to + interval '1 day');
    INSERT INTO meter_etl.fleet_day AS f (channel_id, time_zone, day, level, meters, run_id)
    SELECT c.channel_id, l.time_zone, l.day, l.level, l.meters, v_run
      FROM meter_etl.fleet_levels(v_from - interval '1 day', v_to + interval '1 day',
                                  stored_before => v_from - interval '36 hours',
                                  min_meters => (v_settings ->> 'level_shift_fleet_min_meters')::integer) l
      JOIN meter_etl.channel c ON c.name = l.channel
    ON CONFLICT (channel_id, time_zone, day) DO UPDATE
       SET level = EXCLUDED.level, meters = EXCLUDED.meters, run_id = EXCLUDED.run_id
     WHERE (f.level, f.meters) IS DISTINCT FROM (EXCLUDED.level, EXCLUDED.meters);
  END IF;
  CREATE TEMP TABLE me_detect ON COMMIT DROP AS
    SELECT * FROM meter_etl.detect_compute(v_from, v_to, v_keys);
  ANALYZE pg_temp.me_detect;
  v_lo := v_from - make_interval(secs => (v_settings ->> 'max_gap_s')::double precision);
  v_offline := make_interval(secs => (v_settings ->> 'offline_min_s')::double precision);
  SELECT count(*) INTO v_series FROM me_detect d WHERE d.item = 'series';

  -- flags on readings: only the ones that change (UPDATE goes through reading_guard)
  SELECT min(d.ts) INTO v_min FROM me_detect d WHERE d.item = 'flags';
  UPDATE meter_etl.reading rd SET flags = d.flags
    FROM me_detect d
   WHERE d.item = 'flags' AND rd.meter_key = d.meter_key AND rd.channel_id = d.channel_id
     AND rd.ts = d.ts AND rd.ts >= v_min AND rd.ts < v_to AND rd.flags IS DISTINCT FROM d.flags;
  GET DIAGNOSTICS v_flags = ROW_COUNT;

  -- estimates: drop the ones no longer wanted (an actual arrived, the gap grew), upsert the rest
  WITH del AS (
    DELETE FROM meter_etl.estimate e
     WHERE e.ts >= v_lo AND e.ts < v_to AND (v_keys IS NULL OR e.meter_key = ANY (v_keys))
       AND NOT EXISTS (SELECT 1 FROM me_detect d
                        WHERE d.item = 'estimate' AND d.meter_key = e.meter_key
                          AND d.channel_id = e.channel_id AND d.ts = e.ts AND d.kw = e.kw)
    RETURNING e.meter_key, e.channel_id, e.ts, e.kw)
  SELECT count(*), count(rd.kw), avg(abs(rd.kw - del.kw))
    INTO v_est_d, v_est_r, v_mae
    FROM del LEFT JOIN meter_etl.reading rd
      ON rd.meter_key = del.meter_key AND rd.channel_id = del.channel_id AND rd.ts = del.ts;
  INSERT INTO meter_etl.estimate AS e (meter_key, channel_id, ts, kw, method, run_id)
  SELECT d.meter_key, d.channel_id, d.ts, d.kw, d.kind, v_run
    FROM me_detect d WHERE d.item = 'estimate'
  ON CONFLICT (meter_key, channel_id, ts) DO UPDATE
     SET kw = EXCLUDED.kw, method = EXCLUDED.method, run_id = EXCLUDED.run_id
   WHERE e.kw IS DISTINCT FROM EXCLUDED.kw OR e.method IS DISTINCT FROM EXCLUDED.method;
  GET DIAGNOSTICS v_est_w = ROW_COUNT;

  -- gaps: a gap whose start lies before what was read keeps the start recorded earlier
  CREATE TEMP TABLE me_detect_gap ON COMMIT DROP AS
  SELECT d.meter_key, d.channel_id,
         coalesce(p.start_ts, CASE WHEN d.open_start THEN greatest(d.ts, v_from) ELSE d.ts END) AS start_ts,
         d.end_ts,
         (extract(epoch FROM d.end_ts - coalesce(p.start_ts, CASE WHEN d.open_start THEN greatest(d.ts, v_from)
                                                                  ELSE d.ts END)) / m.interval_s)::bigint AS intervals,
         CASE WHEN p.start_ts IS NULL OR p.kind IN ('leading', 'no_data') THEN d.kind
              WHEN d.kind = 'leading' THEN 'long'
              WHEN d.kind = 'no_data' THEN 'trailing'
              ELSE d.kind END AS kind
    FROM me_detect d
    JOIN meter_etl.meter m ON m.meter_key = d.meter_key
    LEFT JOIN LATERAL (SELECT g.start_ts, g.kind FROM meter_etl.gap g
                        WHERE d.open_start AND g.meter_key = d.meter_key AND g.channel_id = d.channel_id
                          AND g.start_ts < d.ts AND g.end_ts >= d.ts
                        ORDER BY g.start_ts LIMIT 1) p ON true
   WHERE d.item = 'gap';
  DELETE FROM meter_etl.gap g
   WHERE g.end_ts > v_lo AND g.start_ts < v_to AND (v_keys IS NULL OR g.meter_key = ANY (v_keys))
     AND NOT EXISTS (SELECT 1 FROM me_detect_gap n
                      WHERE n.meter_key = g.meter_key AND n.channel_id = g.channel_id
                        AND n.start_ts = g.start_ts);
  GET DIAGNOSTICS v_gap_d = ROW_COUNT;
  INSERT INTO meter_etl.gap AS g (meter_key, channel_id, start_ts, end_ts, intervals, kind, run_id)
  SELECT n.meter_key, n.channel_id, n.start_ts, n.end_ts, n.intervals, n.kind, v_run FROM me_detect_gap n
  ON CONFLICT (meter_key, channel_id, start_ts) DO UPDATE
     SET end_ts = EXCLUDED.end_ts, intervals = EXCLUDED.intervals, kind = EXCLUDED.kind, run_id = EXCLUDED.run_id
   WHERE (g.end_ts, g.intervals, g.kind) IS DISTINCT FROM (EXCLUDED.end_ts, EXCLUDED.intervals, EXCLUDED.kind)
     -- a gap still open at the end of this range does not shorten one seen further
     AND NOT (EXCLUDED.kind IN ('trailing', 'no_data') AND g.end_ts > EXCLUDED.end_ts);
  GET DIAGNOSTICS v_gap_w = ROW_COUNT;

  -- fault episodes, same rule for starts before what was read
  CREATE TEMP TABLE me_detect_fault ON COMMIT DROP AS
  -- (missing readings before what was read may be before the meter existed:
  -- an offline episode from there starts at from_ts unless it continues one)
  SELECT d.meter_key, d.channel_id, d.kind,
         coalesce(p.start_ts, CASE WHEN d.open_start AND d.kind = 'offline' THEN greatest(d.ts, v_from)
                                   ELSE d.ts END) AS start_ts,
         d.end_ts, d.open_end AS ongoing,
         -- an outage continuing one recorded earlier: its evidence is the whole
         -- outage's when no reading lies in it (what one run over it says)
         CASE WHEN d.kind = 'offline' AND p.start_ts IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                                    WHERE r.meter_key = d.meter_key AND r.channel_id = d.channel_id
                                      AND r.ts >= p.start_ts AND r.ts < d.end_ts)
              THEN meter_etl.outage_evidence(p.start_ts, d.end_ts, m.interval_s)
              ELSE d.evidence END AS evidence,
         d.partial
    FROM me_detect d
    JOIN meter_etl.meter m ON m.meter_key = d.meter_key
    LEFT JOIN LATERAL (SELECT f.start_ts FROM meter_etl.fault f
                        WHERE d.open_start AND f.meter_key = d.meter_key AND f.channel_id = d.channel_id
                          AND f.kind = d.kind AND f.start_ts < d.ts AND f.end_ts >= d.ts
                        ORDER BY f.start_ts LIMIT 1) p ON true
   WHERE d.item = 'fault'
     AND NOT (d.kind = 'offline' AND d.open_start AND p.start_ts IS NULL
              AND d.end_ts - greatest(d.ts, v_from) < v_offline);
  -- a run that saw an episode without the context its evidence needs keeps
  -- what a run that saw all of it stored
  UPDATE pg_temp.me_detect_fault n SET evidence = f.evidence, ongoing = f.ongoing
    FROM meter_etl.fault f
   WHERE n.partial AND f.meter_key = n.meter_key AND f.channel_id = n.channel_id
     AND f.kind = n.kind AND f.start_ts = n.start_ts AND f.end_ts = n.end_ts;
  -- episodes no longer found (or found with another start: then a revision, not news)
  CREATE TEMP TABLE me_detect_fault_old ON COMMIT DROP AS
  WITH del AS (
    DELETE FROM meter_etl.fault f
     WHERE f.end_ts > v_lo AND f.start_ts < v_to AND (v_keys IS NULL OR f.meter_key = ANY (v_keys))
       -- an outage is judged up to to_ts only: one going on past it was seen
       -- by a run over a later range, and this one cannot tell it is not there
       AND NOT (f.kind = 'offline' AND f.end_ts > v_to)
       AND NOT EXISTS (SELECT 1 FROM me_detect_fault n
                        WHERE n.meter_key = f.meter_key AND n.channel_id = f.channel_id
                          AND n.kind = f.kind AND n.start_ts = f.start_ts)
    RETURNING f.meter_key, f.channel_id, f.kind, f.start_ts, f.end_ts)
  SELECT * FROM del;
  GET DIAGNOSTICS v_flt_d = ROW_COUNT;
  -- readings before from_ts that only a removed episode had marked suspect
  UPDATE meter_etl.reading rd SET flags = rd.flags & ~4
    FROM me_detect_fault_old o
   WHERE rd.meter_key = o.meter_key AND rd.channel_id = o.channel_id
     AND rd.ts >= o.start_ts AND rd.ts < least(o.end_ts, v_from) AND rd.flags & 4 <> 0
     AND NOT EXISTS (SELECT 1 FROM meter_etl.fault f
                      WHERE f.meter_key = rd.meter_key AND f.channel_id = rd.channel_id
                        AND rd.ts >= f.start_ts AND rd.ts < f.end_ts AND f.kind <> 'usage_anomaly')
     AND NOT EXISTS (SELECT 1 FROM me_detect_fault n
                      WHERE n.meter_key = rd.meter_key AND n.channel_id = rd.channel_id
                        AND rd.ts >= n.start_ts AND rd.ts < n.end_ts AND n.kind <> 'usage_anomaly');
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_flags := v_flags + v_n;
  FOR rec IN
    INSERT INTO meter_etl.fault AS f (meter_key, channel_id, kind, start_ts, end_ts, ongoing, evidence,
                                      first_run_id, run_id)
    SELECT n.meter_key, n.channel_id, n.kind, n.start_ts, n.end_ts, n.ongoing, n.evidence, v_run, v_run
      FROM me_detect_fault n
    ON CONFLICT (meter_key, channel_id, kind, start_ts) DO UPDATE
       SET end_ts = EXCLUDED.end_ts, ongoing = EXCLUDED.ongoing, evidence = EXCLUDED.evidence,
           run_id = EXCLUDED.run_id
     WHERE (f.end_ts, f.ongoing, f.evidence) IS DISTINCT FROM (EXCLUDED.end_ts, EXCLUDED.ongoing, EXCLUDED.evidence)
       -- an episode cut by the end of what this run read does not shorten one seen further
       AND NOT (EXCLUDED.ongoing AND f.end_ts > EXCLUDED.end_ts)
    RETURNING f.meter_key, f.channel_id, f.kind, f.start_ts, f.end_ts, f.ongoing, f.evidence,
              f.first_run_id = v_run
              AND NOT EXISTS (SELECT 1 FROM me_detect_fault_old o
                               WHERE o.meter_key = f.meter_key AND o.channel_id = f.channel_id
                                 AND o.kind = f.kind AND o.start_ts < f.end_ts AND o.end_ts > f.start_ts) AS is_new
  LOOP
    IF rec.kind = 'usage_anomaly' THEN
      CONTINUE;                 -- reported in v_usage_anomaly, not a fault: no alert, not counted
    ELSIF NOT rec.is_new THEN
      v_flt_u := v_flt_u + 1;
      CONTINUE;
    END IF;
    v_flt_n := v_flt_n + 1;
    PERFORM meter_etl.raise_alert(
      'meter_fault', 'warning',
      format('meter "%s" channel "%s": %s from %s', m.meter_id, c.name, rec.kind, rec.start_ts),
      jsonb_build_object('channel', c.name, 'fault', rec.kind, 'start_ts', rec.start_ts, 'end_ts', rec.end_ts,
                         'ongoing', rec.ongoing, 'evidence', rec.evidence, 'detect_run_id', v_run),
      m.meter_id)
      FROM meter_etl.meter m, meter_etl.channel c
     WHERE m.meter_key = rec.meter_key AND c.channel_id = rec.channel_id;
    v_alert := v_alert + 1;
  END LOOP;

  -- daily sums for level-shift history
  INSERT INTO meter_etl.meter_day AS y (meter_key, channel_id, day, start_ts, end_ts, kw_sum, readings, run_id,
                                        raw_kw_sum, raw_readings)
  SELECT d.meter_key, d.channel_id, d.day, d.ts, d.end_ts, d.kw, d.n, v_run, d.raw_kw, d.raw_n
    FROM me_detect d WHERE d.item = 'day'
  ON CONFLICT (meter_key, channel_id, day) DO UPDATE
     SET start_ts = EXCLUDED.start_ts, end_ts = EXCLUDED.end_ts, kw_sum = EXCLUDED.kw_sum,
         readings = EXCLUDED.readings, run_id = EXCLUDED.run_id,
         raw_kw_sum = EXCLUDED.raw_kw_sum, raw_readings = EXCLUDED.raw_readings
   WHERE (y.kw_sum, y.readings, y.start_ts, y.end_ts, y.raw_kw_sum, y.raw_readings)
         IS DISTINCT FROM (EXCLUDED.kw_sum, EXCLUDED.readings, EXCLUDED.start_ts, EXCLUDED.end_ts,
                           EXCLUDED.raw_kw_sum, EXCLUDED.raw_readings);

  -- status as of the latest range detected (this one, or a later one seen
  -- before): an episode still going then decides it (offline first), else
  -- ok.  For this range what it found; for an earlier range re-detected,
  -- what is stored, so that any order of runs ends in the same status
  FOR rec IN
    WITH s AS (
      SELECT d.meter_key, d.channel_id, d.ts AS last_ts, greatest(v_to, ms.as_of) AS as_of
        FROM me_detect d
        LEFT JOIN meter_etl.meter_status ms ON ms.meter_key = d.meter_key AND ms.channel_id = d.channel_id
       WHERE d.item = 'series'
    ), cur AS (
      SELECT DISTINCT ON (e.meter_key, e.channel_id) e.meter_key, e.channel_id, e.kind, e.start_ts, e.evidence
        FROM (SELECT n.meter_key, n.channel_id, n.kind, n.start_ts, n.evidence
                FROM me_detect_fault n JOIN s ON s.meter_key = n.meter_key AND s.channel_id = n.channel_id
               WHERE s.as_of = v_to AND n.ongoing
              UNION ALL
              SELECT f.meter_key, f.channel_id, f.kind, f.start_ts, f.evidence
                FROM meter_etl.fault f JOIN s ON s.meter_key = f.meter_key AND s.channel_id = f.channel_id
               WHERE s.as_of > v_to AND f.ongoing AND f.end_ts >= s.as_of - interval '1 day') e
       WHERE e.kind <> 'usage_anomaly'
       ORDER BY e.meter_key, e.channel_id,
                array_position('{offline,stuck_zero,flatline,level_shift}'::text[], e.kind), e.start_ts
    ), want AS (
      SELECT s.meter_key, s.channel_id,
             CASE WHEN cur.kind IS NULL THEN 'ok' WHEN cur.kind = 'offline' THEN 'offline' ELSE 'faulty' END AS status,
             cur.kind AS reason,
             CASE WHEN cur.kind IS NOT NULL THEN cur.start_ts
                  ELSE (SELECT max(f.end_ts) FROM meter_etl.fault f
                         WHERE f.meter_key = s.meter_key AND f.channel_id = s.channel_id AND f.end_ts <= s.as_of
                           AND f.kind <> 'usage_anomaly') END AS since,
             cur.evidence, s.last_ts, s.as_of
        FROM s LEFT JOIN cur ON cur.meter_key = s.meter_key AND cur.channel_id = s.channel_id
    ), old AS (
      SELECT w.*, o.status AS old_status
        FROM want w LEFT JOIN meter_etl.meter_status o
          ON o.meter_key = w.meter_key AND o.channel_id = w.channel_id
    ), up AS (
      INSERT INTO meter_etl.meter_status AS ms (meter_key, channel_id, status, reason, since, evidence, as_of,
                                                last_reading_ts, run_id)
      SELECT o.meter_key, o.channel_id, o.status, o.reason, o.since, o.evidence, o.as_of, o.last_ts, v_run FROM old o
      ON CONFLICT (meter_key, channel_id) DO UPDATE
         SET status = EXCLUDED.status, reason = EXCLUDED.reason, since = EXCLUDED.since,
             evidence = EXCLUDED.evidence, as_of = EXCLUDED.as_of,
             last_reading_ts = greatest(ms.last_reading_ts, EXCLUDED.last_reading_ts),
             changed_at = CASE WHEN (ms.status, ms.reason) IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.reason)
                               THEN clock_timestamp() ELSE ms.changed_at END,
             run_id = EXCLUDED.run_id
       WHERE EXCLUDED.as_of >= ms.as_of
         AND (ms.status, ms.reason, ms.since, ms.evidence, ms.as_of, ms.last_reading_ts)
             IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.reason, EXCLUDED.since, EXCLUDED.evidence,
                               EXCLUDED.as_of, greatest(ms.last_reading_ts, EXCLUDED.last_reading_ts))
      RETURNING ms.meter_key, ms.channel_id, ms.status, ms.since
    )
    SELECT up.*, o.old_status FROM up JOIN old o USING (meter_key, channel_id)
  LOOP
    IF rec.old_status IS DISTINCT FROM rec.status THEN
      v_stat := v_stat + 1;
    END IF;
    IF rec.status = 'ok' AND rec.old_status IN ('faulty', 'offline') THEN
      PERFORM meter_etl.raise_alert(
        'meter_recovered', 'info',
        format('meter "%s" channel "%s" is ok again since %s', m.meter_id, c.name, coalesce(rec.since::text, '?')),
        jsonb_build_object('channel', c.name, 'previous_status', rec.old_status, 'since', rec.since,
                           'detect_run_id', v_run),
        m.meter_id)
        FROM meter_etl.meter m, meter_etl.channel c
       WHERE m.meter_key = rec.meter_key AND c.channel_id = rec.channel_id;
      v_alert := v_alert + 1;
    END IF;
  END LOOP;

  UPDATE meter_etl.detect_run SET
    series = series + v_series, flags_changed = flags_changed + v_flags,
    estimates_written = estimates_written + v_est_w, estimates_removed = estimates_removed + v_est_d,
    estimates_replaced = estimates_replaced + v_est_r,
    estimate_mae_kw = CASE WHEN v_est_r > 0
                           THEN (coalesce(estimate_mae_kw, 0) * estimates_replaced + v_mae * v_est_r)
                                / (estimates_replaced + v_est_r)
                           ELSE estimate_mae_kw END,
    gaps_written = gaps_written + v_gap_w, gaps_removed = gaps_removed + v_gap_d,
    faults_new = faults_new + v_flt_n, faults_updated = faults_updated + v_flt_u,
    faults_removed = faults_removed + v_flt_d, status_changes = status_changes + v_stat,
    alerts = alerts + v_alert
   WHERE detect_run.run_id = v_run;
  DROP TABLE pg_temp.me_detect;
  DROP TABLE pg_temp.me_detect_gap;
  DROP TABLE pg_temp.me_detect_fault;
  DROP TABLE pg_temp.me_detect_fault_old;
END
$$;

CREATE OR REPLACE VIEW v_fault AS
SELECT m.meter_id, c.name AS channel, f.kind, f.start_ts, f.end_ts, f.ongoing, f.evidence
  FROM fault f
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id)
 WHERE f.kind <> 'usage_anomaly';
COMMENT ON VIEW v_fault IS 'Faulty-meter episodes with meter ids and channel names (usage anomalies are in v_usage_anomaly)';

CREATE VIEW v_usage_anomaly AS
SELECT m.meter_id, c.name AS channel, f.start_ts, f.end_ts, f.ongoing,
       (f.evidence ->> 'days')::integer AS days, (f.evidence ->> 'ratio')::double precision AS ratio,
       (f.evidence ->> 'raw_ratio')::double precision AS raw_ratio,
       (f.evidence ->> 'fleet_level')::double precision AS fleet_level, f.evidence
  FROM fault f
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id)
 WHERE f.kind = 'usage_anomaly';
COMMENT ON VIEW v_usage_anomaly IS
  'Usage anomalies: days on which a household used at least level_shift_min_factor times more or less than its own usual (the fleet''s level divided out) and went back within level_shift_persist_days. Not meter faults: no reading flagged, no status, no alert, still counted in peaks';
COMMENT ON COLUMN v_usage_anomaly.ratio IS 'Energy of the episode / the meter''s usual energy, both divided by the fleet''s level of each day';
COMMENT ON COLUMN v_usage_anomaly.raw_ratio IS 'The same ratio as read, without the fleet''s level';
COMMENT ON COLUMN v_usage_anomaly.fleet_level IS 'Mean fleet level of the episode''s days (1 = a usual day for the fleet)';

REVOKE EXECUTE ON FUNCTION fleet_levels(timestamptz, timestamptz, timestamptz, integer),
      detect_faulty_meters(timestamptz, timestamptz, text[], text[], interval, interval, interval, integer, double precision, double precision, integer, interval, integer, integer),
      detect_faulty_meters_array(timestamptz[], double precision[], interval, text[], text, interval, interval, integer, double precision, double precision, integer, interval, integer),
      detect_compute(timestamptz, timestamptz, integer[]),
      outage_evidence(timestamptz, timestamptz, integer),
      fleet_reference_set(bigint, timestamptz, timestamptz)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fleet_levels(timestamptz, timestamptz, timestamptz, integer),
      detect_faulty_meters(timestamptz, timestamptz, text[], text[], interval, interval, interval, integer, double precision, double precision, integer, interval, integer, integer),
      detect_faulty_meters_array(timestamptz[], double precision[], interval, text[], text, interval, interval, integer, double precision, double precision, integer, interval, integer),
      detect_compute(timestamptz, timestamptz, integer[]),
      outage_evidence(timestamptz, timestamptz, integer),
      fleet_reference_set(bigint, timestamptz, timestamptz)
  TO meter_etl_admin;
GRANT EXECUTE ON FUNCTION detect_faulty_meters_array(timestamptz[], double precision[], interval, text[], text, interval, interval, integer, double precision, double precision, integer, interval, integer)
  TO meter_etl_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON v_usage_anomaly TO meter_etl_admin;
GRANT SELECT ON v_usage_anomaly TO meter_etl_reader;

-- detect() without a range: yesterday
CREATE OR REPLACE FUNCTION detect(from_ts timestamptz DEFAULT pg_catalog.date_trunc('day', pg_catalog.now()) - interval '1 day',
                       to_ts timestamptz DEFAULT pg_catalog.date_trunc('day', pg_catalog.now()),
                       meters text[] DEFAULT NULL)
RETURNS detect_run
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_keys integer[];
  v_bad  text;
  v_run  meter_etl.detect_run;
BEGIN
  IF from_ts IS NULL OR to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF from_ts >= to_ts THEN
    RAISE EXCEPTION 'from_ts must be earlier than to_ts' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF meters IS NOT NULL THEN
    SELECT u.id INTO v_bad FROM unnest(meters) AS u(id)
     WHERE u.id IS NULL OR NOT EXISTS (SELECT 1 FROM meter_etl.meter m WHERE m.meter_id = u.id) LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'meter "%" does not exist', coalesce(v_bad, 'NULL')
        USING ERRCODE = 'undefined_object', HINT = 'Meter ids are the ones in meter_etl.meter.meter_id.';
    END IF;
    SELECT array_agg(m.meter_key ORDER BY m.meter_key) INTO v_keys
      FROM meter_etl.meter m WHERE m.meter_id = ANY (meters);
  END IF;
  -- one detection at a time: they write the same rows
  PERFORM pg_advisory_xact_lock(hashtextextended('meter_etl.detect', 7411));
  INSERT INTO meter_etl.detect_run (mode, from_ts, to_ts, meters, settings)
  VALUES ('range', from_ts, to_ts, cardinality(v_keys), meter_etl.detect_settings())
  RETURNING * INTO v_run;
  PERFORM meter_etl.detect_apply(v_run.run_id, from_ts, to_ts, v_keys);
  UPDATE meter_etl.detect_run r SET status = 'ok', finished_at = clock_timestamp()
   WHERE r.run_id = v_run.run_id RETURNING * INTO v_run;
  RETURN v_run;
END
$$;
COMMENT ON FUNCTION detect(timestamptz, timestamptz, text[]) IS
  'Batch detection for [from_ts, to_ts) over the fleet (or the given meters): outlier and suspect_meter flags on readings, estimates, gaps, fault episodes, meter_status and alerts (NOTIFY meter_etl_alert). Idempotent; any order of runs stores what one run over their union stores. Without a range: yesterday (midnight to midnight in the session''s TimeZone)';


-- the internal registration functions refuse NULL or mismatched arrays
CREATE OR REPLACE FUNCTION register_meters(ids text[], intervals integer[], time_zone text, file_id bigint)
RETURNS TABLE (meter_id text, meter_key integer)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF ids IS NULL OR intervals IS NULL OR cardinality(ids) <> cardinality(intervals) THEN
    RAISE EXCEPTION 'ids and intervals must be arrays of the same length'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- sorted, so that concurrent ingests take row locks in the same order
  INSERT INTO meter_etl.meter AS m (meter_id, interval_s, time_zone, first_file_id)
  SELECT u.id, u.iv, register_meters.time_zone, register_meters.file_id
    FROM unnest(ids, intervals) AS u(id, iv)
   ORDER BY u.id
  ON CONFLICT ON CONSTRAINT meter_meter_id_key DO NOTHING;
  RETURN QUERY SELECT m.meter_id, m.meter_key FROM meter_etl.meter m WHERE m.meter_id = ANY (ids);
END
$$;
CREATE OR REPLACE FUNCTION register_channels(names text[], signed boolean[])
RETURNS TABLE (name text, channel_id smallint)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF names IS NULL OR signed IS NULL OR cardinality(names) <> cardinality(signed) THEN
    RAISE EXCEPTION 'names and signed must be arrays of the same length'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO meter_etl.channel AS c (name, signed)
  SELECT u.n, u.s FROM unnest(names, signed) AS u(n, s) ORDER BY u.n
  ON CONFLICT ON CONSTRAINT channel_name_key DO NOTHING;
  RETURN QUERY SELECT c.name, c.channel_id FROM meter_etl.channel c WHERE c.name = ANY (names);
END
$$;

-- ======================================================================
-- Dates with month names and per-profile date formats (issue 17)
-- ======================================================================
-- A profile may name its date pattern; the validation trigger now refuses
-- an invalid one.  The column comes last, as in a fresh install.
ALTER TABLE format_profile ADD COLUMN date_format text;
COMMENT ON COLUMN format_profile.date_order IS
  'Order of day, month and year in numeric dates when date_format is NULL; a month name (01/Dec/2013, Dec 1 2013, 2013-Dec-01) is read in any order';
COMMENT ON COLUMN format_profile.date_format IS
  'Pattern of the date, e.g. DD/MON/YYYY: DD, D, MM, M, MON or MONTH (month name), YYYY, separated by - / . , or space; NULL reads dates by date_order. Overrides date_order; a time may follow as without it';
COMMENT ON FUNCTION validate_profile() IS
  'Trigger: a format profile must load the way ingest will use it (units, zone, columns, date_format)';
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

-- ======================================================================
-- Reprocessing a file (issue 18)
-- ======================================================================
-- reingest() removes what an ingested file stored and ingests it again;
-- ingest() refuses another format for an ingested file (in the library).
-- Ingest records duplicates of other files' readings in file_duplicate.
-- The new objects are the fresh script's, in the same words.
COMMENT ON FUNCTION ingest(bigint, text) IS
  'Parse a staged raw file into meter_etl.reading (streaming, chunk by chunk); invalid readings go to quarantine. Idempotent: an ingested file is not read again, and another format for it is refused (reingest() reprocesses it).';
COMMENT ON TABLE ingest_extent IS
  'Per ingest run and meter, the time span of the readings stored (for a run of reingest(), also the span its removal changed): what detect_pending() recomputes';

CREATE TABLE file_duplicate (
    meter_key     integer NOT NULL,
    channel_id    smallint NOT NULL,
    ts            timestamptz NOT NULL,
    file_id       bigint NOT NULL,
    line_no       integer,
    flags         smallint NOT NULL DEFAULT 0,
    ingest_run_id bigint NOT NULL,
    PRIMARY KEY (meter_key, channel_id, ts, file_id)
);
CREATE INDEX file_duplicate_file_idx ON file_duplicate (file_id);
COMMENT ON TABLE file_duplicate IS
  'Readings a file delivered that another file had stored with the same value (counted as duplicates), with this file''s line and flags: when the other file is reingested, the reading stays as this file''s';
COMMENT ON COLUMN file_duplicate.file_id IS 'The file that delivered the copy (not the one whose reading is stored)';
COMMENT ON COLUMN file_duplicate.ingest_run_id IS 'The ingest run of file_id that read the copy';

CREATE TABLE reingest_run (
    reingest_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id               bigint NOT NULL REFERENCES raw_file,
    replaced_run_id       bigint,
    ingest_run_id         bigint NOT NULL,
    old_format            text,
    format                text NOT NULL,
    started_by            name NOT NULL DEFAULT session_user,
    started_at            timestamptz NOT NULL,
    finished_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    readings_removed      bigint NOT NULL,
    readings_reattributed bigint NOT NULL,
    quarantine_removed    bigint NOT NULL,
    duplicates_removed    bigint NOT NULL,
    estimates_removed     bigint NOT NULL,
    gaps_removed          bigint NOT NULL,
    faults_removed        bigint NOT NULL,
    days_removed          bigint NOT NULL,
    conflicts_outdated    bigint NOT NULL
);
CREATE INDEX reingest_run_file_idx ON reingest_run (file_id, reingest_id);
COMMENT ON TABLE reingest_run IS
  'One row per reingest(): the run whose contribution was removed, the run that ingested the file again, and what was removed with it';
COMMENT ON COLUMN reingest_run.replaced_run_id IS 'The ingest run whose readings and quarantine rows were removed (it stays in ingest_run as history)';
COMMENT ON COLUMN reingest_run.readings_reattributed IS
  'Readings another file had also delivered: kept, with that file''s lineage (file_duplicate)';
COMMENT ON COLUMN reingest_run.duplicates_removed IS 'Copies this file had delivered of other files'' readings (file_duplicate rows)';
COMMENT ON COLUMN reingest_run.estimates_removed IS
  'Estimates, gaps, fault episodes and daily sums (days_removed: meter_day) detection had derived from the removed readings; detect_pending() recomputes their spans';
COMMENT ON COLUMN reingest_run.conflicts_outdated IS
  'duplicate_conflict rows of other files judged against a reading this file no longer holds (reingest those files to judge them again)';

CREATE FUNCTION reingest(file_id bigint, format text DEFAULT 'auto')
RETURNS ingest_run
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_file    constant bigint := reingest.file_id;
  v_format  constant text := reingest.format;
  v_started constant timestamptz := pg_catalog.clock_timestamp();
  v_status  text;
  v_old_fmt text;
  v_old     meter_etl.ingest_run;
  v_new     meter_etl.ingest_run;
  v_lo      timestamptz;
  v_hi      timestamptz;
  v_max_gap interval;
  n_moved   bigint;
  n_removed bigint;
  n_quar    bigint;
  n_dup     bigint;
  n_est     bigint;
  n_gap     bigint;
  n_fault   bigint;
  n_days    bigint;
  n_conf    bigint;
  v_conf_files bigint[];
BEGIN
  IF v_file IS NULL OR v_format IS NULL THEN
    RAISE EXCEPTION 'file_id and format must not be null'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass format => ''auto'' to pick the profile from the file''s header.';
  END IF;
  -- the row lock ingest() takes too: two reingests (or an ingest and a
  -- pipeline worker) of one file run one after the other
  SELECT f.status, f.format INTO v_status, v_old_fmt
    FROM meter_etl.raw_file f WHERE f.file_id = v_file FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'raw file % does not exist', v_file USING ERRCODE = 'undefined_object';
  ELSIF v_status = 'receiving' THEN
    RAISE EXCEPTION 'raw file % is still being received', v_file
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Call meter_etl.stage_finish() first.';
  ELSIF v_status <> 'ingested' THEN
    RAISE EXCEPTION 'raw file % has not been ingested', v_file
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = pg_catalog.format('Its status is %s, so it stored nothing to remove.', v_status),
            HINT = pg_catalog.format('Call meter_etl.ingest(%s, %L) instead.', v_file, v_format);
  ELSIF v_format <> 'auto'
        AND NOT EXISTS (SELECT 1 FROM meter_etl.format_profile p WHERE p.name = v_format) THEN
    RAISE EXCEPTION 'format profile "%" does not exist', v_format
      USING ERRCODE = 'undefined_object',
            HINT = 'See meter_etl.format_profile for the available formats, or use ''auto''.';
  END IF;
  -- Writes to the store wait until this one commits: an ingest running
  -- alongside could count a reading as a duplicate of one removed here and
  -- lose it.  Reads go on; the parent alone is locked (ingest and DML
  -- through reading open it), whatever the number of partitions.
  LOCK TABLE ONLY meter_etl.reading IN SHARE ROW EXCLUSIVE MODE;
  SELECT * INTO v_old FROM meter_etl.ingest_run i
   WHERE i.file_id = v_file AND i.status = 'ok' ORDER BY i.run_id DESC LIMIT 1;
  v_max_gap := pg_catalog.make_interval(secs => (meter_etl.detect_settings() ->> 'max_gap_s')::double precision);

  -- Where the file's readings are: the spans its run stored per meter.  A
  -- run that recorded none while it stored readings (ingested by 0.1) is
  -- found in the store, one scan, as detect_pending() does.
  CREATE TEMP TABLE me_reingest_extent ON COMMIT DROP AS
  SELECT e.meter_key, e.ts_min, e.ts_max FROM meter_etl.ingest_extent e
   WHERE e.ingest_run_id = v_old.run_id;
  IF v_old.rows_clean > 0 AND NOT EXISTS (SELECT 1 FROM pg_temp.me_reingest_extent) THEN
    INSERT INTO pg_temp.me_reingest_extent
    SELECT r.meter_key, pg_catalog.min(r.ts), pg_catalog.max(r.ts)
      FROM meter_etl.reading r WHERE r.file_id = v_file GROUP BY r.meter_key;
  END IF;
  ANALYZE pg_temp.me_reingest_extent;
  SELECT pg_catalog.min(e.ts_min), pg_catalog.max(e.ts_max) INTO v_lo, v_hi FROM pg_temp.me_reingest_extent e;

  -- 1. A reading another file also delivered stays, as that file's: the
  --    copy of its earliest run gives it its line and source flags; the
  --    value, an edit of it and detection's flags stay as stored.
  CREATE TEMP TABLE me_reingest_moved ON COMMIT DROP AS
  WITH pick AS (
    SELECT DISTINCT ON (d.meter_key, d.channel_id, d.ts) d.*
      FROM meter_etl.file_duplicate d
      JOIN pg_temp.me_reingest_extent e ON e.meter_key = d.meter_key
                                       AND d.ts >= e.ts_min AND d.ts <= e.ts_max
     WHERE d.file_id <> v_file
     ORDER BY d.meter_key, d.channel_id, d.ts, d.ingest_run_id, d.file_id
  ), moved AS (
    UPDATE meter_etl.reading r
       SET file_id = p.file_id, line_no = p.line_no, flags = p.flags | (r.flags & 14)
      FROM pick p
     WHERE r.meter_key = p.meter_key AND r.channel_id = p.channel_id AND r.ts = p.ts
       AND r.file_id = v_file AND r.ts >= v_lo AND r.ts <= v_hi
    RETURNING r.meter_key, r.channel_id, r.ts, p.file_id, p.ingest_run_id
  ), gone AS (
    DELETE FROM meter_etl.file_duplicate d USING moved m
     WHERE d.meter_key = m.meter_key AND d.channel_id = m.channel_id AND d.ts = m.ts
       AND d.file_id = m.file_id
  )
  SELECT * FROM moved;
  GET DIAGNOSTICS n_moved = ROW_COUNT;
  -- the run now holding such a reading covers it in its extents (unless it
  -- recorded none: then its readings are found in the store, as above)
  INSERT INTO meter_etl.ingest_extent AS x (ingest_run_id, meter_key, ts_min, ts_max)
  SELECT m.ingest_run_id, m.meter_key, pg_catalog.min(m.ts), pg_catalog.max(m.ts)
    FROM pg_temp.me_reingest_moved m
    JOIN meter_etl.ingest_run i ON i.run_id = m.ingest_run_id
   WHERE i.rows_clean = 0
      OR EXISTS (SELECT 1 FROM meter_etl.ingest_extent y WHERE y.ingest_run_id = m.ingest_run_id)
   GROUP BY 1, 2
  ON CONFLICT (ingest_run_id, meter_key) DO UPDATE
     SET ts_min = LEAST(x.ts_min, EXCLUDED.ts_min), ts_max = GREATEST(x.ts_max, EXCLUDED.ts_max);

  -- 2. The file's other readings go (the statement triggers on reading
  --    record their dates: archived files of those dates become stale).
  --    Per meter channel, the span removed, and the interval and zone
  --    detection saw it with (the new run may change them).
  CREATE TEMP TABLE me_reingest_series ON COMMIT DROP AS
  WITH del AS (
    DELETE FROM meter_etl.reading r USING pg_temp.me_reingest_extent e
     WHERE r.file_id = v_file AND r.meter_key = e.meter_key
       AND r.ts >= e.ts_min AND r.ts <= e.ts_max AND r.ts >= v_lo AND r.ts <= v_hi
    RETURNING r.meter_key, r.channel_id, r.ts)
  SELECT d.meter_key, d.channel_id, pg_catalog.min(d.ts) AS ts_min, pg_catalog.max(d.ts) AS ts_max,
         pg_catalog.count(*) AS removed, pg_catalog.make_interval(secs => m.interval_s) AS old_iv,
         coalesce(m.time_zone, 'UTC') AS old_zone
    FROM del d JOIN meter_etl.meter m ON m.meter_key = d.meter_key
   GROUP BY d.meter_key, d.channel_id, m.interval_s, m.time_zone;
  SELECT coalesce(pg_catalog.sum(s.removed), 0) INTO n_removed FROM pg_temp.me_reingest_series s;

  -- 3. its quarantine rows, and its copies of other files' readings
  DELETE FROM meter_etl.quarantine q WHERE q.file_id = v_file AND q.source = 'ingest';
  GET DIAGNOSTICS n_quar = ROW_COUNT;
  DELETE FROM meter_etl.file_duplicate d WHERE d.file_id = v_file;
  GET DIAGNOSTICS n_dup = ROW_COUNT;

  -- freshness: the newest reading ingest stored, where it was the file's
  UPDATE meter_etl.meter m
     SET last_reading_at = (SELECT pg_catalog.max(r.ts) FROM meter_etl.reading r
                             WHERE r.meter_key = m.meter_key AND r.file_id IS NOT NULL)
   WHERE m.last_reading_at <= (SELECT pg_catalog.max(s.ts_max) FROM pg_temp.me_reingest_series s
                                WHERE s.meter_key = m.meter_key);

  -- 4. ingest again (ingest() reads an ingested file never twice: the
  --    status goes back for it, inside this transaction only)
  UPDATE meter_etl.raw_file f SET status = 'staged' WHERE f.file_id = v_file;
  v_new := meter_etl.ingest(v_file, v_format);

  -- 5. What detection derived from the removed readings.  Per series, the
  --    window to recompute: the removed span, max_gap either side (the
  --    estimates next to it), and every gap and episode touching it (a gap
  --    ending or starting next to a removed reading grows).  What touches
  --    the span is deleted: detect_pending() recomputes the window whole, so
  --    it re-derives those with nothing of them left to continue.
  CREATE TEMP TABLE me_reingest_window ON COMMIT DROP AS
  SELECT s.meter_key, s.channel_id, s.ts_min, s.ts_max, s.old_iv, s.old_zone,
         -- from the reading before a gap that ends next to the span (the
         -- gap's start less the interval it was found with) ...
         LEAST(s.ts_min,
               (SELECT pg_catalog.min(g.start_ts) FROM meter_etl.gap g
                 WHERE g.meter_key = s.meter_key AND g.channel_id = s.channel_id
                   AND g.end_ts >= s.ts_min AND g.start_ts <= s.ts_max + s.old_iv) - s.old_iv,
               (SELECT pg_catalog.min(f.start_ts) FROM meter_etl.fault f
                 WHERE f.meter_key = s.meter_key AND f.channel_id = s.channel_id
                   AND f.end_ts >= s.ts_min AND f.start_ts <= s.ts_max + s.old_iv)) AS lo,
         -- ... to the end of what touches it (less the meter's interval now,
         -- which detect_pending() adds)
         GREATEST(s.ts_max + v_max_gap,
                  (SELECT pg_catalog.max(g.end_ts) FROM meter_etl.gap g
                    WHERE g.meter_key = s.meter_key AND g.channel_id = s.channel_id
                      AND g.end_ts >= s.ts_min AND g.start_ts <= s.ts_max + s.old_iv) - w.iv,
                  (SELECT pg_catalog.max(f.end_ts) FROM meter_etl.fault f
                    WHERE f.meter_key = s.meter_key AND f.channel_id = s.channel_id
                      AND f.end_ts >= s.ts_min AND f.start_ts <= s.ts_max + s.old_iv) - w.iv) AS hi,
         NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                      WHERE r.meter_key = s.meter_key AND r.channel_id = s.channel_id) AS empty
    FROM pg_temp.me_reingest_series s
    JOIN meter_etl.meter m ON m.meter_key = s.meter_key
   CROSS JOIN LATERAL (SELECT pg_catalog.make_interval(secs => m.interval_s) AS iv) w;
  ANALYZE pg_temp.me_reingest_window;

  DELETE FROM meter_etl.estimate e USING pg_temp.me_reingest_window w
   WHERE e.meter_key = w.meter_key AND e.channel_id = w.channel_id
     AND (w.empty OR (e.ts >= w.ts_min - v_max_gap AND e.ts <= w.ts_max + v_max_gap));
  GET DIAGNOSTICS n_est = ROW_COUNT;
  DELETE FROM meter_etl.gap g USING pg_temp.me_reingest_window w
   WHERE g.meter_key = w.meter_key AND g.channel_id = w.channel_id
     AND (w.empty OR (g.end_ts >= w.ts_min AND g.start_ts <= w.ts_max + w.old_iv));
  GET DIAGNOSTICS n_gap = ROW_COUNT;
  DELETE FROM meter_etl.fault f USING pg_temp.me_reingest_window w
   WHERE f.meter_key = w.meter_key AND f.channel_id = w.channel_id
     AND (w.empty OR (f.end_ts >= w.ts_min AND f.start_ts <= w.ts_max + w.old_iv));
  GET DIAGNOSTICS n_fault = ROW_COUNT;
  -- the daily sums the removed readings were part of, and the fleet's level of those days
  DELETE FROM meter_etl.meter_day y USING pg_temp.me_reingest_window w
   WHERE y.meter_key = w.meter_key AND y.channel_id = w.channel_id
     AND (w.empty OR (y.end_ts > w.ts_min AND y.start_ts <= w.ts_max));
  GET DIAGNOSTICS n_days = ROW_COUNT;
  DELETE FROM meter_etl.fleet_day l USING pg_temp.me_reingest_window w
   WHERE l.channel_id = w.channel_id AND l.time_zone = w.old_zone
     AND l.day >= (w.ts_min AT TIME ZONE w.old_zone)::date AND l.day <= (w.ts_max AT TIME ZONE w.old_zone)::date;
  -- a meter's usual day is made of its first days: set again from the store
  DELETE FROM meter_etl.fleet_reference x USING pg_temp.me_reingest_window w
   WHERE x.meter_key = w.meter_key AND x.channel_id = w.channel_id;
  -- a series left without any reading keeps no status either
  DELETE FROM meter_etl.meter_status ms USING pg_temp.me_reingest_window w
   WHERE ms.meter_key = w.meter_key AND ms.channel_id = w.channel_id AND w.empty;
  -- outlier and suspect_meter flags in the window: detection sets them again
  UPDATE meter_etl.reading r SET flags = r.flags & ~6
    FROM pg_temp.me_reingest_window w
   WHERE r.meter_key = w.meter_key AND r.channel_id = w.channel_id AND NOT w.empty
     AND r.ts >= w.lo AND r.ts <= w.hi AND r.flags & 6 <> 0
     AND r.ts >= (SELECT pg_catalog.min(x.lo) FROM pg_temp.me_reingest_window x)
     AND r.ts <= (SELECT pg_catalog.max(x.hi) FROM pg_temp.me_reingest_window x);
  -- the windows are pending: the new run's extents cover them, so the next
  -- detect_pending() detects them (from the day before, as for any run)
  INSERT INTO meter_etl.ingest_extent AS x (ingest_run_id, meter_key, ts_min, ts_max)
  SELECT v_new.run_id, w.meter_key, pg_catalog.min(w.lo), pg_catalog.max(w.hi)
    FROM pg_temp.me_reingest_window w WHERE NOT w.empty
   GROUP BY w.meter_key
  ON CONFLICT (ingest_run_id, meter_key) DO UPDATE
     SET ts_min = LEAST(x.ts_min, EXCLUDED.ts_min), ts_max = GREATEST(x.ts_max, EXCLUDED.ts_max);

  -- 6. Other files' readings quarantined as duplicate_conflict against a
  --    reading this file no longer holds, or now holds with their value:
  --    their judgment is outdated (they are that file's accounting; say so)
  SELECT pg_catalog.count(*), pg_catalog.array_agg(DISTINCT q.file_id ORDER BY q.file_id)
    INTO n_conf, v_conf_files
    FROM meter_etl.quarantine q
    JOIN meter_etl.meter m ON m.meter_id = q.meter_id
    JOIN meter_etl.channel c ON c.name = q.channel
    JOIN pg_temp.me_reingest_series s ON s.meter_key = m.meter_key AND s.channel_id = c.channel_id
   WHERE q.reason = 'duplicate_conflict' AND q.source = 'ingest' AND q.file_id <> v_file
     AND q.ts >= s.ts_min AND q.ts <= s.ts_max
     AND NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                      WHERE r.meter_key = s.meter_key AND r.channel_id = s.channel_id AND r.ts = q.ts
                        AND r.kw <> q.value_raw::double precision);

  INSERT INTO meter_etl.reingest_run (file_id, replaced_run_id, ingest_run_id, old_format, format,
                                      started_at, readings_removed, readings_reattributed,
                                      quarantine_removed, duplicates_removed, estimates_removed,
                                      gaps_removed, faults_removed, days_removed, conflicts_outdated)
  VALUES (v_file, v_old.run_id, v_new.run_id, v_old_fmt, v_new.format, v_started, n_removed, n_moved,
          n_quar, n_dup, n_est, n_gap, n_fault, n_days, n_conf);
  RAISE NOTICE 'raw file % was ingested again with format "%"', v_file, v_new.format
    USING DETAIL = pg_catalog.format(
            'Removed first: readings %s (kept as another file''s: %s), quarantine rows %s; '
            'derived from them: estimates %s, gaps %s, fault episodes %s, daily sums %s.',
            n_removed, n_moved, n_quar, n_est, n_gap, n_fault, n_days),
          HINT = 'meter_etl.detect_pending() detects the spans again; archived dates they touched are stale in meter_etl.v_archive_coverage.';
  IF n_conf > 0 THEN
    RAISE NOTICE 'readings of other files were quarantined as duplicate_conflict against readings raw file % no longer holds', v_file
      USING DETAIL = pg_catalog.format('Quarantine rows: %s, of raw files %s.', n_conf,
                                       pg_catalog.array_to_string(v_conf_files, ', ')),
            HINT = 'Reingest those files to judge their readings again.';
  END IF;
  DROP TABLE pg_temp.me_reingest_extent, pg_temp.me_reingest_moved, pg_temp.me_reingest_series,
             pg_temp.me_reingest_window;
  RETURN v_new;
END
$$;
COMMENT ON FUNCTION reingest(bigint, text) IS
  'Ingest an ingested raw file again (another format, or a corrected profile): its readings (kept as another file''s where that file delivered them too), quarantine rows and what detection derived from them are removed first, in the same transaction; the spans are pending for detect_pending() and archived dates they touched are stale. The raw zone is not changed.';

SELECT pg_catalog.pg_extension_config_dump('file_duplicate', '');
SELECT pg_catalog.pg_extension_config_dump('reingest_run', '');

REVOKE ALL ON FUNCTION reingest(bigint, text) FROM PUBLIC;

-- privileges as 90_roles.sql gives them
GRANT SELECT, INSERT, UPDATE, DELETE ON file_duplicate, reingest_run TO meter_etl_admin;
GRANT USAGE, SELECT ON SEQUENCE reingest_run_reingest_id_seq TO meter_etl_admin;
GRANT EXECUTE ON FUNCTION reingest(bigint, text) TO meter_etl_admin;
