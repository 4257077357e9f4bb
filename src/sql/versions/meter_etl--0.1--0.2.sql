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
  -- hour and day buckets of the whole fleet come from the rollups when they
  -- give the same answer (35_rollup.sql: rollup_answers says when)
  IF peak_periods.meters IS NULL
     AND meter_etl.rollup_answers(peak_periods.from_ts, peak_periods.to_ts, peak_periods.bucket,
                                  peak_periods.channel, peak_periods.exclude_flagged, peak_periods.time_zone) THEN
    RETURN QUERY SELECT * FROM meter_etl.rollup_peaks(peak_periods.from_ts, peak_periods.to_ts, peak_periods.bucket,
                                                      peak_periods.top_n, peak_periods.per_day, peak_periods.channel,
                                                      peak_periods.exclude_flagged, peak_periods.time_zone);
    RETURN;
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
  PERFORM meter_etl.rollup_refresh();   -- flags and estimates reach the rollups
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
-- Generation channels: a tolerance below zero (issue 17)
-- ======================================================================
-- A reading of an unsigned channel no further below zero than the
-- channel's negative_tolerance_kw is stored as 0 kW with the edited flag
-- (an inverter's standby draw at night); beyond it, negative_value as
-- before.  The solar channel gets the default of a fresh install
-- (ME_DEFAULT_SOLAR_NEGATIVE_TOLERANCE_KW in src/core/read/rules.h); a solar
-- channel made signed under 0.1 keeps none.  The column comes last, as in a
-- fresh install, and the catalog's words are the fresh script's.
ALTER TABLE channel
  ADD COLUMN negative_tolerance_kw double precision
      CONSTRAINT channel_negative_tolerance_kw_check
      CHECK (negative_tolerance_kw >= 0 AND negative_tolerance_kw < 'Infinity'),
  ADD CONSTRAINT channel_signed_tolerance_check CHECK (NOT (signed AND negative_tolerance_kw > 0));
COMMENT ON COLUMN channel.negative_tolerance_kw IS
  'How far below zero a reading of this (unsigned) channel may be and still be stored, as 0 kW with the edited flag: an inverter''s standby draw on a generation channel. NULL or 0: none, every negative is negative_value. Signed channels take none';
UPDATE channel SET negative_tolerance_kw = 0.1 WHERE channel_id = 4 AND name = 'solar' AND NOT signed;
UPDATE reason_code
   SET description = 'A negative reading on a channel that is not signed (net channels may be negative), further below zero than the channel''s negative_tolerance_kw if it has one.'
 WHERE code = 'negative_value';
UPDATE quality_flag
   SET description = 'Changed by a person or a rule: a small negative on a generation channel stored as 0 (within meter_etl.channel.negative_tolerance_kw; the raw line keeps the value), or a correction after ingest.'
 WHERE bit = 8;

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

-- ======================================================================
-- Rollups (issue 19): per meter-day with hour slots, per fleet hour and day
-- ======================================================================
-- The new objects are the fresh script's (35_rollup.sql), in the same
-- words; detect() (above), detect_pending() and process_file() end with
-- rollup_refresh().  Existing readings are rolled up by
-- SELECT * FROM meter_etl.rollup_rebuild(from_date, to_date).

-- ======================================================================
-- Rollups: what BI tools read instead of a billion readings
-- (doc/rollup.md says why they look like this)
-- ======================================================================
-- One row per meter, channel and local day of the meter's zone, with the
-- day's hours as arrays (slot h = hour h after local midnight: a UTC hour
-- in every whole-hour zone; 23 or 25 slots on DST days).  A row per hour
-- would be a quarter of the readings again, and writing it would cost the
-- ingest a third more; a row per meter-day costs it about 1/100th of the
-- readings' rows.
--
-- How they stay current:
--   ingest (C)   adds what it stored as a delta row per meter-day it
--                touched (sums add up; rollup_refresh merges the rows)
--   every other change of reading or estimate (detection's flags and
--                estimates, reingest, COPY, UPDATE, DELETE) goes through
--                statement triggers into rollup_change, and rollup_refresh
--                recomputes those meter-days from the readings
--   the fleet tables (per zone, channel and hour / day) are recomputed by
--                rollup_refresh for the days marked in rollup_fleet_dirty
-- detect() and detect_pending() end with rollup_refresh(), so the pipeline
-- keeps everything current; after a bare ingest() call it yourself (or let
-- pg_cron).

CREATE TABLE rollup_meter_day (
    meter_key        integer NOT NULL,
    channel_id       smallint NOT NULL,
    day              date NOT NULL,
    start_ts         timestamptz NOT NULL,
    kw_sum           double precision NOT NULL,
    kw_sum_flagged   double precision NOT NULL,
    kw_max           double precision,
    readings         integer NOT NULL,
    estimated        integer NOT NULL,
    flagged          integer NOT NULL,
    hour_kw_sum      double precision[] NOT NULL,
    hour_kw_sum_flagged double precision[],
    hour_kw_max      double precision[] NOT NULL,
    hour_readings    integer[] NOT NULL,
    hour_estimated   integer[],
    hour_flagged     integer[],
    CHECK (pg_catalog.cardinality(hour_kw_sum) BETWEEN 1 AND 26)
);
CREATE INDEX rollup_meter_day_key_idx ON rollup_meter_day (meter_key, channel_id, day);
CREATE INDEX rollup_meter_day_day_idx ON rollup_meter_day (day);
-- hour_kw_sum_flagged, hour_estimated and hour_flagged are NULL when zero
-- in every slot (most meter-days: a third less to write per ingest);
-- readers unnest them as zeros, as many as hour_kw_sum.
COMMENT ON TABLE rollup_meter_day IS
  'Rollup per meter, channel and local day of the meter''s zone, with its hours as arrays (slot h = hour h after local midnight). Sums over readings and estimates; more than one row for a meter-day until rollup_refresh() merges them (the views sum them). Read through v_consumption_hour, v_consumption_day, v_consumption_month';
COMMENT ON COLUMN rollup_meter_day.day IS 'Local date in the meter''s zone (meter.time_zone, UTC when NULL)';
COMMENT ON COLUMN rollup_meter_day.start_ts IS 'The instant the local day starts (local midnight)';
COMMENT ON COLUMN rollup_meter_day.kw_sum IS 'Sum of the kW of the day''s readings and estimates (energy = kw_sum * interval / 1 h)';
COMMENT ON COLUMN rollup_meter_day.kw_sum_flagged IS 'The part of kw_sum from readings flagged outlier or suspect_meter';
COMMENT ON COLUMN rollup_meter_day.kw_max IS 'Highest kW of a reading or estimate';
COMMENT ON COLUMN rollup_meter_day.readings IS 'Readings (actuals) in the day';
COMMENT ON COLUMN rollup_meter_day.estimated IS 'Estimates (meter_etl.estimate) filling slots without a reading';
COMMENT ON COLUMN rollup_meter_day.flagged IS 'Readings flagged outlier or suspect_meter (flags & 6)';
COMMENT ON COLUMN rollup_meter_day.hour_kw_sum IS 'kw_sum per hour slot';
COMMENT ON COLUMN rollup_meter_day.hour_kw_sum_flagged IS 'kw_sum_flagged per hour slot (NULL: 0 in every slot)';
COMMENT ON COLUMN rollup_meter_day.hour_kw_max IS 'kw_max per hour slot (NULL: nothing in the hour)';
COMMENT ON COLUMN rollup_meter_day.hour_readings IS 'readings per hour slot';
COMMENT ON COLUMN rollup_meter_day.hour_estimated IS 'estimated per hour slot (NULL: 0 in every slot)';
COMMENT ON COLUMN rollup_meter_day.hour_flagged IS 'flagged per hour slot (NULL: 0 in every slot)';

CREATE TABLE rollup_change (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    day        date NOT NULL,
    PRIMARY KEY (meter_key, channel_id, day)
);
COMMENT ON TABLE rollup_change IS
  'Meter-days whose rollup rollup_refresh() must recompute from the readings (written by the statement triggers on reading and estimate)';

CREATE TABLE rollup_fleet_dirty (
    time_zone text NOT NULL,
    day       date NOT NULL,
    PRIMARY KEY (time_zone, day)
);
COMMENT ON TABLE rollup_fleet_dirty IS
  'Local days of a zone whose fleet rollups rollup_refresh() must recompute';

CREATE TABLE rollup_fleet_hour (
    time_zone        text NOT NULL,
    channel_id       smallint NOT NULL,
    hour_ts          timestamptz NOT NULL,
    day              date NOT NULL,
    kwh              double precision NOT NULL,
    kwh_flagged      double precision NOT NULL,
    demand_kw        double precision NOT NULL,
    demand_kw_clean  double precision NOT NULL,
    meters           integer NOT NULL,
    meters_clean     integer NOT NULL,
    meters_day       integer NOT NULL,
    meters_estimated integer NOT NULL,
    meters_flagged   integer NOT NULL,
    meters_excluded  integer NOT NULL,
    readings         bigint NOT NULL,
    estimated        bigint NOT NULL,
    flagged          bigint NOT NULL,
    PRIMARY KEY (time_zone, channel_id, hour_ts)
);
CREATE INDEX rollup_fleet_hour_ts_idx ON rollup_fleet_hour (channel_id, hour_ts);
COMMENT ON TABLE rollup_fleet_hour IS
  'Fleet rollup per meters'' zone, channel and hour (recomputed by rollup_refresh() from rollup_meter_day); read through v_fleet_load_hour';

CREATE TABLE rollup_fleet_day (
    time_zone        text NOT NULL,
    channel_id       smallint NOT NULL,
    day              date NOT NULL,
    start_ts         timestamptz NOT NULL,
    kwh              double precision NOT NULL,
    kwh_flagged      double precision NOT NULL,
    demand_kw        double precision NOT NULL,
    demand_kw_clean  double precision NOT NULL,
    peak_kw          double precision,
    peak_hour_ts     timestamptz,
    meters           integer NOT NULL,
    meters_clean     integer NOT NULL,
    readings         bigint NOT NULL,
    estimated        bigint NOT NULL,
    flagged          bigint NOT NULL,
    PRIMARY KEY (time_zone, channel_id, day)
);
CREATE INDEX rollup_fleet_day_ts_idx ON rollup_fleet_day (channel_id, start_ts);
COMMENT ON TABLE rollup_fleet_day IS
  'Fleet rollup per meters'' zone, channel and local day (recomputed by rollup_refresh()); read through v_fleet_energy_day';

CREATE TABLE rollup_incomplete (
    since timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rollup_incomplete IS
  'A row while the rollups do not cover the whole store (after ALTER EXTENSION UPDATE from 0.1 with readings stored): rollup_rebuild() over the store''s dates removes it, and until then peak_periods reads the readings';

-- ---------------------------------------------------------------- changes

-- The statement triggers: every change of reading or estimate outside the
-- C ingest (which writes its own delta rows) marks the meter-days it
-- touched.  Transition tables, so a COPY of a million rows costs one
-- grouped INSERT, not a million.
-- What detection writes is added as delta rows, not recomputed: an UPDATE
-- of reading that changes only flags (the same rows, the same kW: the
-- flagged sums move by the changed readings' kW), and new estimates in
-- slots without a reading (the sums grow by them).  make bench: detect()
-- of a 50,000-meter day with 28 days of history 56.7 s recomputing those
-- meter-days, 52.4 s with the deltas (18.1 s before the rollups: the
-- fleet refresh that remains is the open cost).  Every other change (kW,
-- keys, deletions, estimates replaced) marks its meter-days in
-- rollup_change, to be recomputed by rollup_refresh().
CREATE FUNCTION rollup_note_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  -- (nested: a statement naming old_rows only runs where the trigger has it)
  IF TG_TABLE_NAME = 'reading' AND TG_OP = 'UPDATE' THEN
    -- the same readings with the same kW (set operations and grouping, not
    -- joins: transition tables have no statistics, and a nested loop over
    -- 150,000 rows each never ends)
    IF (SELECT count(*) FROM new_rows) = (SELECT count(*) FROM old_rows)
       AND NOT EXISTS (SELECT n.meter_key, n.channel_id, n.ts, n.kw FROM new_rows n
                       EXCEPT ALL
                       SELECT o.meter_key, o.channel_id, o.ts, o.kw FROM old_rows o) THEN
      PERFORM meter_etl.rollup_add_delta(
        ARRAY(SELECT ROW(x.meter_key, x.channel_id, x.ts, max(x.kw), sum(x.fl)::integer, 0)::meter_etl.rollup_delta
                FROM (SELECT n.meter_key, n.channel_id, n.ts, n.kw, ((n.flags & 6) <> 0)::integer AS fl FROM new_rows n
                      UNION ALL
                      SELECT o.meter_key, o.channel_id, o.ts, o.kw, -((o.flags & 6) <> 0)::integer FROM old_rows o) x
               GROUP BY x.meter_key, x.channel_id, x.ts
              HAVING sum(x.fl) <> 0));
      RETURN NULL;
    END IF;
  END IF;
  IF TG_TABLE_NAME = 'estimate' AND TG_OP = 'INSERT' THEN
    -- an estimate where a reading is counts for nothing (the reading does)
    PERFORM meter_etl.rollup_add_delta(
      ARRAY(SELECT ROW(n.meter_key, n.channel_id, n.ts, n.kw, 0, 1)::meter_etl.rollup_delta
              FROM new_rows n
             WHERE NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                                WHERE r.meter_key = n.meter_key AND r.channel_id = n.channel_id AND r.ts = n.ts)));
    RETURN NULL;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO meter_etl.rollup_change (meter_key, channel_id, day)
    SELECT DISTINCT n.meter_key, n.channel_id, (n.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date
      FROM new_rows n JOIN meter_etl.meter m ON m.meter_key = n.meter_key
    ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO meter_etl.rollup_change (meter_key, channel_id, day)
    SELECT DISTINCT o.meter_key, o.channel_id, (o.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date
      FROM old_rows o JOIN meter_etl.meter m ON m.meter_key = o.meter_key
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollup_note_change() IS
  'AFTER statement trigger on reading and estimate: adds flag changes and new estimates as delta rows (rollup_add_delta), marks the meter-days of any other change in rollup_change';

-- One changed reading or estimate for rollup_add_delta: the flagged count
-- moves by flag_delta (its kW with it), the estimates by est_delta (its kW
-- into the sums).
CREATE TYPE rollup_delta AS (meter_key integer, channel_id smallint, ts timestamptz, kw double precision,
                             flag_delta integer, est_delta integer);
COMMENT ON TYPE rollup_delta IS 'Internal: a change rollup_add_delta() adds to the rollups';

-- Delta rows, one per meter-day the changes touch, with their hour slots;
-- their fleet days are marked for rollup_refresh().
CREATE FUNCTION rollup_add_delta(changes rollup_delta[])
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
-- planned for the array it is given (a generic plan guesses 10 changes
-- and joins 150,000 by nested loops)
SET plan_cache_mode = force_custom_plan
SET work_mem = '128MB'
AS $$
DECLARE
  v_n integer;
BEGIN
  IF changes IS NULL THEN
    RAISE EXCEPTION 'changes must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF pg_catalog.cardinality(changes) = 0 THEN
    RETURN 0;
  END IF;
  WITH c AS (
    SELECT u.meter_key, u.channel_id, u.ts, u.kw, u.flag_delta, u.est_delta, z.tz,
           (u.ts AT TIME ZONE z.tz)::date AS day
      FROM unnest(changes) u JOIN meter_etl.meter m ON m.meter_key = u.meter_key
     CROSS JOIN LATERAL (SELECT coalesce(m.time_zone, 'UTC') AS tz) z
  ), sp AS (
    SELECT DISTINCT c.meter_key, c.channel_id, c.day, c.tz,
           c.day::timestamp AT TIME ZONE c.tz AS start_ts,
           pg_catalog.ceil(extract(epoch FROM ((c.day + 1)::timestamp AT TIME ZONE c.tz)
                                             - (c.day::timestamp AT TIME ZONE c.tz)) / 3600)::integer AS nslots
      FROM c
  ), h AS (
    SELECT c.meter_key, c.channel_id, c.day,
           pg_catalog.floor(extract(epoch FROM c.ts - sp.start_ts) / 3600)::integer AS slot,
           sum(c.kw * c.est_delta) AS s, sum(c.kw * c.flag_delta) AS sf,
           max(c.kw) FILTER (WHERE c.est_delta > 0) AS mx,
           sum(c.est_delta)::integer AS e, sum(c.flag_delta)::integer AS f
      FROM c JOIN sp ON sp.meter_key = c.meter_key AND sp.channel_id = c.channel_id AND sp.day = c.day
     GROUP BY 1, 2, 3, 4
  ), dirty AS (
    INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
    SELECT DISTINCT sp.tz, sp.day FROM sp
    ON CONFLICT DO NOTHING
  )
  INSERT INTO meter_etl.rollup_meter_day
    (meter_key, channel_id, day, start_ts, kw_sum, kw_sum_flagged, kw_max, readings, estimated, flagged,
     hour_kw_sum, hour_kw_sum_flagged, hour_kw_max, hour_readings, hour_estimated, hour_flagged)
  SELECT sp.meter_key, sp.channel_id, sp.day, sp.start_ts,
         coalesce(sum(h.s), 0), coalesce(sum(h.sf), 0), max(h.mx), 0,
         coalesce(sum(h.e), 0), coalesce(sum(h.f), 0),
         array_agg(coalesce(h.s, 0) ORDER BY g.slot), array_agg(coalesce(h.sf, 0) ORDER BY g.slot),
         array_agg(h.mx ORDER BY g.slot), pg_catalog.array_fill(0, ARRAY[sp.nslots]),
         array_agg(coalesce(h.e, 0) ORDER BY g.slot), array_agg(coalesce(h.f, 0) ORDER BY g.slot)
    FROM sp
   CROSS JOIN LATERAL pg_catalog.generate_series(0, sp.nslots - 1) AS g(slot)
    LEFT JOIN h ON h.meter_key = sp.meter_key AND h.channel_id = sp.channel_id AND h.day = sp.day AND h.slot = g.slot
   GROUP BY sp.meter_key, sp.channel_id, sp.day, sp.start_ts, sp.nslots;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION rollup_add_delta(rollup_delta[]) IS
  'Internal (the rollup triggers): add delta rows for flag changes and new estimates, and mark their fleet days';


CREATE TRIGGER rollup_reading_insert AFTER INSERT ON reading
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();
CREATE TRIGGER rollup_reading_update AFTER UPDATE ON reading
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();
CREATE TRIGGER rollup_reading_delete AFTER DELETE ON reading
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();
CREATE TRIGGER rollup_estimate_insert AFTER INSERT ON estimate
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();
CREATE TRIGGER rollup_estimate_update AFTER UPDATE ON estimate
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();
CREATE TRIGGER rollup_estimate_delete AFTER DELETE ON estimate
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();

-- A fault episode or a gap leaves a meter out of the fleet's clean demand
-- on the local days it overlaps (as peak_periods does): those days' fleet
-- rows change with it.
CREATE FUNCTION rollup_note_episode()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
    SELECT DISTINCT z.tz, d::date
      FROM new_rows n JOIN meter_etl.meter m ON m.meter_key = n.meter_key
     CROSS JOIN LATERAL (SELECT coalesce(m.time_zone, 'UTC') AS tz) z
     CROSS JOIN LATERAL pg_catalog.generate_series((n.start_ts AT TIME ZONE z.tz)::date,
                                                   ((n.end_ts - interval '1 microsecond') AT TIME ZONE z.tz)::date,
                                                   interval '1 day') AS d
     WHERE n.end_ts > n.start_ts
    ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
    SELECT DISTINCT z.tz, d::date
      FROM old_rows o JOIN meter_etl.meter m ON m.meter_key = o.meter_key
     CROSS JOIN LATERAL (SELECT coalesce(m.time_zone, 'UTC') AS tz) z
     CROSS JOIN LATERAL pg_catalog.generate_series((o.start_ts AT TIME ZONE z.tz)::date,
                                                   ((o.end_ts - interval '1 microsecond') AT TIME ZONE z.tz)::date,
                                                   interval '1 day') AS d
     WHERE o.end_ts > o.start_ts
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollup_note_episode() IS
  'AFTER statement trigger on fault and gap: marks the local days an episode overlaps in rollup_fleet_dirty';

CREATE TRIGGER rollup_fault_insert AFTER INSERT ON fault
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();
CREATE TRIGGER rollup_fault_update AFTER UPDATE ON fault
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();
CREATE TRIGGER rollup_fault_delete AFTER DELETE ON fault
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();
CREATE TRIGGER rollup_gap_insert AFTER INSERT ON gap
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();
CREATE TRIGGER rollup_gap_update AFTER UPDATE ON gap
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();
CREATE TRIGGER rollup_gap_delete AFTER DELETE ON gap
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();

-- ---------------------------------------------------------------- ingest

-- Called by the C ingest once per batch of meter-days, with the hour slots
-- of all of them flattened (offs[i] + 1 .. offs[i] + nslots[i]) and each
-- day's totals beside (kw_max NaN for an empty hour: see rollup.c).  A delta computed in a zone that is not the meter's
-- own (a meter delivered under two profiles) goes to rollup_change instead,
-- to be recomputed; so does a meter-day with estimates (a reading for an
-- estimated slot replaces the estimate).
CREATE FUNCTION rollup_add(time_zone text, meter_keys integer[], channel_ids smallint[], days date[],
                           start_ts timestamptz[], nslots integer[], offs integer[],
                           kw_sum double precision[], kw_sum_flagged double precision[],
                           kw_max double precision[], readings integer[], flagged integer[],
                           day_kw_sum double precision[], day_kw_sum_flagged double precision[],
                           day_kw_max double precision[], day_readings integer[], day_flagged integer[])
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
-- a custom plan per call: it holds the arrays as flat constants.  The
-- generic plan PL/pgSQL switches to after five calls reads them as
-- parameters, and every slice of an (expanded) array parameter flattens
-- the whole array first: 16,384 meter-days took 15 s instead of 0.3 s.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
  v_n integer;
BEGIN
  IF rollup_add.time_zone IS NULL OR meter_keys IS NULL OR channel_ids IS NULL OR days IS NULL
     OR rollup_add.start_ts IS NULL OR nslots IS NULL OR offs IS NULL OR rollup_add.kw_sum IS NULL
     OR rollup_add.kw_sum_flagged IS NULL OR rollup_add.kw_max IS NULL OR rollup_add.readings IS NULL
     OR rollup_add.flagged IS NULL OR day_kw_sum IS NULL OR day_kw_sum_flagged IS NULL
     OR day_kw_max IS NULL OR day_readings IS NULL OR day_flagged IS NULL THEN
    RAISE EXCEPTION 'rollup_add arguments must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  INSERT INTO meter_etl.rollup_meter_day
    (meter_key, channel_id, day, start_ts, kw_sum, kw_sum_flagged, kw_max, readings, estimated, flagged,
     hour_kw_sum, hour_kw_sum_flagged, hour_kw_max, hour_readings, hour_estimated, hour_flagged)
  SELECT u.k, u.c, u.d, u.s, u.ts, u.tsf, u.tmx, u.tn, 0, u.tf,
         rollup_add.kw_sum[u.o + 1 : u.o + u.ns],
         CASE WHEN u.tf > 0 THEN rollup_add.kw_sum_flagged[u.o + 1 : u.o + u.ns] END,
         pg_catalog.array_replace(rollup_add.kw_max[u.o + 1 : u.o + u.ns], 'NaN'::double precision, NULL),
         rollup_add.readings[u.o + 1 : u.o + u.ns],
         NULL, CASE WHEN u.tf > 0 THEN rollup_add.flagged[u.o + 1 : u.o + u.ns] END
    FROM unnest(meter_keys, channel_ids, days, rollup_add.start_ts, nslots, offs,
                day_kw_sum, day_kw_sum_flagged, day_kw_max, day_readings, day_flagged)
         AS u(k, c, d, s, ns, o, ts, tsf, tmx, tn, tf)
    JOIN meter_etl.meter m ON m.meter_key = u.k
   WHERE coalesce(m.time_zone, 'UTC') = rollup_add.time_zone;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  IF v_n < pg_catalog.cardinality(meter_keys) OR EXISTS (SELECT 1 FROM meter_etl.estimate LIMIT 1) THEN
    INSERT INTO meter_etl.rollup_change (meter_key, channel_id, day)
    SELECT DISTINCT u.k, u.c, u.d
      FROM unnest(meter_keys, channel_ids, days, rollup_add.start_ts, nslots) AS u(k, c, d, s, ns)
      JOIN meter_etl.meter m ON m.meter_key = u.k
     WHERE coalesce(m.time_zone, 'UTC') <> rollup_add.time_zone
        OR EXISTS (SELECT 1 FROM meter_etl.estimate e
                    WHERE e.meter_key = u.k AND e.channel_id = u.c
                      AND e.ts >= u.s AND e.ts < u.s + u.ns * interval '1 hour')
    ON CONFLICT DO NOTHING;
  END IF;
  INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
  SELECT DISTINCT rollup_add.time_zone, u.d FROM unnest(days) AS u(d)
  ON CONFLICT DO NOTHING;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION rollup_add(text, integer[], smallint[], date[], timestamptz[], integer[], integer[], double precision[], double precision[], double precision[], integer[], integer[], double precision[], double precision[], double precision[], integer[], integer[]) IS
  'Internal (the C ingest): add delta rows for the meter-days an ingest stored readings in';

-- ---------------------------------------------------------------- refresh

-- Recompute the meter-days in pg_temp.me_rollup_keys (meter_key,
-- channel_id, day) from reading and estimate, replacing their rows.
CREATE FUNCTION rollup_recompute_keys()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
-- a day of 50,000 meters aggregates 2.4 M hour slots: in memory, not in batches on disk
SET work_mem = '128MB'
AS $$
DECLARE
  v_n integer;
BEGIN
  CREATE TEMP TABLE me_rollup_span ON COMMIT DROP AS
  SELECT k.meter_key, k.channel_id, k.day, s.start_ts, s.end_ts,
         pg_catalog.ceil(extract(epoch FROM s.end_ts - s.start_ts) / 3600)::integer AS nslots
    FROM pg_temp.me_rollup_keys k
    JOIN meter_etl.meter m ON m.meter_key = k.meter_key
   CROSS JOIN LATERAL (SELECT k.day::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC') AS start_ts,
                              (k.day + 1)::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC') AS end_ts) s;
  ANALYZE pg_temp.me_rollup_span;
  DELETE FROM meter_etl.rollup_meter_day r USING pg_temp.me_rollup_span s
   WHERE r.meter_key = s.meter_key AND r.channel_id = s.channel_id AND r.day = s.day;
  INSERT INTO meter_etl.rollup_meter_day
    (meter_key, channel_id, day, start_ts, kw_sum, kw_sum_flagged, kw_max, readings, estimated, flagged,
     hour_kw_sum, hour_kw_sum_flagged, hour_kw_max, hour_readings, hour_estimated, hour_flagged)
  WITH v AS (
    SELECT s.meter_key, s.channel_id, s.day, r.kw, false AS est, r.flags & 6 <> 0 AS fl, r.ts, s.start_ts
      FROM pg_temp.me_rollup_span s
      JOIN meter_etl.reading r ON r.meter_key = s.meter_key AND r.channel_id = s.channel_id
                              AND r.ts >= s.start_ts AND r.ts < s.end_ts
    UNION ALL
    SELECT s.meter_key, s.channel_id, s.day, e.kw, true, false, e.ts, s.start_ts
      FROM pg_temp.me_rollup_span s
      JOIN meter_etl.estimate e ON e.meter_key = s.meter_key AND e.channel_id = s.channel_id
                               AND e.ts >= s.start_ts AND e.ts < s.end_ts
     WHERE NOT EXISTS (SELECT 1 FROM meter_etl.reading a
                        WHERE a.meter_key = e.meter_key AND a.channel_id = e.channel_id AND a.ts = e.ts)
  ), h AS (
    SELECT v.meter_key, v.channel_id, v.day,
           pg_catalog.floor(extract(epoch FROM v.ts - v.start_ts) / 3600)::integer AS slot,
           sum(v.kw) AS s, coalesce(sum(v.kw) FILTER (WHERE v.fl), 0) AS sf, max(v.kw) AS mx,
           count(*) FILTER (WHERE NOT v.est)::integer AS n, count(*) FILTER (WHERE v.est)::integer AS e,
           count(*) FILTER (WHERE v.fl)::integer AS f
      FROM v GROUP BY 1, 2, 3, 4
  )
  SELECT s.meter_key, s.channel_id, s.day, s.start_ts,
         coalesce(sum(h.s), 0), coalesce(sum(h.sf), 0), max(h.mx),
         coalesce(sum(h.n), 0), coalesce(sum(h.e), 0), coalesce(sum(h.f), 0),
         array_agg(coalesce(h.s, 0) ORDER BY g.slot), array_agg(coalesce(h.sf, 0) ORDER BY g.slot),
         array_agg(h.mx ORDER BY g.slot), array_agg(coalesce(h.n, 0) ORDER BY g.slot),
         array_agg(coalesce(h.e, 0) ORDER BY g.slot), array_agg(coalesce(h.f, 0) ORDER BY g.slot)
    FROM pg_temp.me_rollup_span s
   CROSS JOIN LATERAL pg_catalog.generate_series(0, s.nslots - 1) AS g(slot)
    LEFT JOIN h ON h.meter_key = s.meter_key AND h.channel_id = s.channel_id AND h.day = s.day AND h.slot = g.slot
   GROUP BY s.meter_key, s.channel_id, s.day, s.start_ts
  HAVING count(h.slot) > 0;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
  SELECT DISTINCT coalesce(m.time_zone, 'UTC'), s.day
    FROM pg_temp.me_rollup_span s JOIN meter_etl.meter m ON m.meter_key = s.meter_key
  ON CONFLICT DO NOTHING;
  DROP TABLE pg_temp.me_rollup_span;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION rollup_recompute_keys() IS
  'Internal: recompute the rollup of the meter-days in pg_temp.me_rollup_keys from reading and estimate';

-- Merge the delta rows of the meter-days of one zone's day into one row
-- each (sums add up, maxima take the larger), so that the fleet sees one
-- row per meter.
CREATE FUNCTION rollup_merge_day(time_zone text, day date)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_n integer;
BEGIN
  IF rollup_merge_day.time_zone IS NULL OR rollup_merge_day.day IS NULL THEN
    RAISE EXCEPTION 'time_zone and day must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  CREATE TEMP TABLE me_rollup_merged ON COMMIT DROP AS
  WITH dup AS (
    SELECT r.meter_key, r.channel_id
      FROM meter_etl.rollup_meter_day r JOIN meter_etl.meter m ON m.meter_key = r.meter_key
     WHERE r.day = rollup_merge_day.day AND coalesce(m.time_zone, 'UTC') = rollup_merge_day.time_zone
     GROUP BY 1, 2 HAVING count(*) > 1
  ), del AS (
    DELETE FROM meter_etl.rollup_meter_day r USING dup
     WHERE r.meter_key = dup.meter_key AND r.channel_id = dup.channel_id AND r.day = rollup_merge_day.day
    RETURNING r.*
  ), slots AS (
    SELECT d.meter_key, d.channel_id, d.start_ts, u.i,
           sum(u.s) AS s, sum(u.sf) AS sf, max(u.mx) AS mx, sum(u.n)::integer AS n,
           sum(u.e)::integer AS e, sum(u.f)::integer AS f
      FROM del d
     CROSS JOIN LATERAL unnest(d.hour_kw_sum, coalesce(d.hour_kw_sum_flagged, pg_catalog.array_fill(0::double precision, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])),
                               d.hour_kw_max, d.hour_readings,
                               coalesce(d.hour_estimated, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])),
                               coalesce(d.hour_flagged, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])))
                WITH ORDINALITY AS u(s, sf, mx, n, e, f, i)
     GROUP BY 1, 2, 3, 4
  )
  SELECT s.meter_key, s.channel_id, s.start_ts,
         sum(s.s) AS kw_sum, sum(s.sf) AS kw_sum_flagged, max(s.mx) AS kw_max,
         sum(s.n)::integer AS readings, sum(s.e)::integer AS estimated, sum(s.f)::integer AS flagged,
         array_agg(s.s ORDER BY s.i) AS a_s, array_agg(s.sf ORDER BY s.i) AS a_sf,
         array_agg(s.mx ORDER BY s.i) AS a_mx, array_agg(s.n ORDER BY s.i) AS a_n,
         array_agg(s.e ORDER BY s.i) AS a_e, array_agg(s.f ORDER BY s.i) AS a_f
    FROM slots s GROUP BY 1, 2, 3;
  INSERT INTO meter_etl.rollup_meter_day
    (meter_key, channel_id, day, start_ts, kw_sum, kw_sum_flagged, kw_max, readings, estimated, flagged,
     hour_kw_sum, hour_kw_sum_flagged, hour_kw_max, hour_readings, hour_estimated, hour_flagged)
  SELECT x.meter_key, x.channel_id, rollup_merge_day.day, x.start_ts, x.kw_sum, x.kw_sum_flagged, x.kw_max,
         x.readings, x.estimated, x.flagged, x.a_s, x.a_sf, x.a_mx, x.a_n, x.a_e, x.a_f
    FROM pg_temp.me_rollup_merged x;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  DROP TABLE pg_temp.me_rollup_merged;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION rollup_merge_day(text, date) IS
  'Internal: merge the delta rows of each meter-day of one zone''s local day into one row';

-- Recompute the fleet rows of one zone's day from its meter rows (merged
-- first).  demand_kw is what peak_periods calls demand with
-- exclude_flagged => false (the sum over meters of their mean kW in the
-- hour); demand_kw_clean with exclude_flagged => true (flagged readings
-- left out, and meters with a fault episode or gap that day).
CREATE FUNCTION rollup_fleet_recompute(time_zone text, day date)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
-- a day of 50,000 meters aggregates 2.4 M hour slots: in memory, not in batches on disk
SET work_mem = '128MB'
AS $$
DECLARE
  v_n     integer;
  v_start timestamptz := rollup_fleet_recompute.day::timestamp AT TIME ZONE rollup_fleet_recompute.time_zone;
  v_end   timestamptz := (rollup_fleet_recompute.day + 1)::timestamp AT TIME ZONE rollup_fleet_recompute.time_zone;
BEGIN
  IF rollup_fleet_recompute.time_zone IS NULL OR rollup_fleet_recompute.day IS NULL THEN
    RAISE EXCEPTION 'time_zone and day must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM meter_etl.rollup_merge_day(rollup_fleet_recompute.time_zone, rollup_fleet_recompute.day);
  DELETE FROM meter_etl.rollup_fleet_hour f
   WHERE f.time_zone = rollup_fleet_recompute.time_zone AND f.day = rollup_fleet_recompute.day;
  DELETE FROM meter_etl.rollup_fleet_day f
   WHERE f.time_zone = rollup_fleet_recompute.time_zone AND f.day = rollup_fleet_recompute.day;
  CREATE TEMP TABLE me_rollup_md ON COMMIT DROP AS
  SELECT r.*, m.interval_s,
         EXISTS (SELECT 1 FROM meter_etl.fault f
                  WHERE f.meter_key = r.meter_key AND f.channel_id = r.channel_id AND f.kind <> 'usage_anomaly'
                    AND f.end_ts > v_start AND f.start_ts < v_end)
         OR EXISTS (SELECT 1 FROM meter_etl.gap g
                     WHERE g.meter_key = r.meter_key AND g.channel_id = r.channel_id
                       AND g.end_ts > v_start AND g.start_ts < v_end) AS excluded
    FROM meter_etl.rollup_meter_day r JOIN meter_etl.meter m ON m.meter_key = r.meter_key
   WHERE r.day = rollup_fleet_recompute.day AND coalesce(m.time_zone, 'UTC') = rollup_fleet_recompute.time_zone;
  INSERT INTO meter_etl.rollup_fleet_hour
    (time_zone, channel_id, hour_ts, day, kwh, kwh_flagged, demand_kw, demand_kw_clean, meters, meters_clean,
     meters_day, meters_estimated, meters_flagged, meters_excluded, readings, estimated, flagged)
  SELECT rollup_fleet_recompute.time_zone, d.channel_id, d.start_ts + (u.i - 1) * interval '1 hour',
         rollup_fleet_recompute.day,
         sum(u.s * d.interval_s / 3600.0), sum(u.sf * d.interval_s / 3600.0),
         coalesce(sum(u.s / (u.n + u.e)) FILTER (WHERE u.n + u.e > 0), 0),
         coalesce(sum((u.s - u.sf) / (u.n + u.e - u.f)) FILTER (WHERE u.n + u.e - u.f > 0 AND NOT d.excluded), 0),
         count(*) FILTER (WHERE u.n + u.e > 0)::integer,
         count(*) FILTER (WHERE u.n + u.e - u.f > 0 AND NOT d.excluded)::integer,
         count(*)::integer,
         count(*) FILTER (WHERE u.e > 0)::integer, count(*) FILTER (WHERE u.f > 0)::integer,
         count(*) FILTER (WHERE d.excluded)::integer,
         sum(u.n), sum(u.e), sum(u.f)
    FROM pg_temp.me_rollup_md d
   CROSS JOIN LATERAL unnest(d.hour_kw_sum, coalesce(d.hour_kw_sum_flagged, pg_catalog.array_fill(0::double precision, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])),
                             d.hour_readings, coalesce(d.hour_estimated, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])),
                             coalesce(d.hour_flagged, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])))
              WITH ORDINALITY AS u(s, sf, n, e, f, i)
   GROUP BY d.channel_id, u.i, d.start_ts;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  INSERT INTO meter_etl.rollup_fleet_day
    (time_zone, channel_id, day, start_ts, kwh, kwh_flagged, demand_kw, demand_kw_clean, peak_kw, peak_hour_ts,
     meters, meters_clean, readings, estimated, flagged)
  SELECT rollup_fleet_recompute.time_zone, d.channel_id, rollup_fleet_recompute.day, v_start,
         sum(d.kw_sum * d.interval_s / 3600.0), sum(d.kw_sum_flagged * d.interval_s / 3600.0),
         coalesce(sum(d.kw_sum / (d.readings + d.estimated)) FILTER (WHERE d.readings + d.estimated > 0), 0),
         coalesce(sum((d.kw_sum - d.kw_sum_flagged) / (d.readings + d.estimated - d.flagged))
                  FILTER (WHERE d.readings + d.estimated - d.flagged > 0 AND NOT d.excluded), 0),
         p.demand_kw, p.hour_ts,
         count(*) FILTER (WHERE d.readings + d.estimated > 0)::integer,
         count(*) FILTER (WHERE d.readings + d.estimated - d.flagged > 0 AND NOT d.excluded)::integer,
         sum(d.readings), sum(d.estimated), sum(d.flagged)
    FROM pg_temp.me_rollup_md d
    LEFT JOIN LATERAL (SELECT h.demand_kw, h.hour_ts FROM meter_etl.rollup_fleet_hour h
                        WHERE h.time_zone = rollup_fleet_recompute.time_zone AND h.channel_id = d.channel_id
                          AND h.day = rollup_fleet_recompute.day
                        ORDER BY h.demand_kw DESC, h.hour_ts LIMIT 1) p ON true
   GROUP BY d.channel_id, p.demand_kw, p.hour_ts;
  DROP TABLE pg_temp.me_rollup_md;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION rollup_fleet_recompute(text, date) IS
  'Internal: recompute rollup_fleet_hour and rollup_fleet_day of one zone''s local day from rollup_meter_day';

CREATE FUNCTION rollup_refresh()
RETURNS TABLE (meter_days integer, fleet_days integer)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_md integer := 0;
  v_fd integer := 0;
  d    record;
BEGIN
  -- one refresh at a time: two would recompute the same rows
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('meter_etl.rollup_refresh', 7411));
  CREATE TEMP TABLE me_rollup_keys ON COMMIT DROP AS
  WITH del AS (DELETE FROM meter_etl.rollup_change RETURNING *) SELECT * FROM del;
  IF EXISTS (SELECT 1 FROM pg_temp.me_rollup_keys) THEN
    v_md := meter_etl.rollup_recompute_keys();
  END IF;
  DROP TABLE pg_temp.me_rollup_keys;
  FOR d IN WITH del AS (DELETE FROM meter_etl.rollup_fleet_dirty RETURNING *)
           SELECT * FROM del ORDER BY time_zone, day LOOP
    PERFORM meter_etl.rollup_fleet_recompute(d.time_zone, d.day);
    v_fd := v_fd + 1;
  END LOOP;
  RETURN QUERY SELECT v_md, v_fd;
END
$$;
COMMENT ON FUNCTION rollup_refresh() IS
  'Bring the rollups up to date: recompute the meter-days changed outside the ingest (rollup_change), merge delta rows, and recompute the fleet rows of every day marked (rollup_fleet_dirty). detect() and detect_pending() call it; returns the meter-days and fleet days recomputed';

CREATE FUNCTION rollup_rebuild(from_date date, to_date date)
RETURNS TABLE (meter_days integer, fleet_days integer)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
BEGIN
  IF from_date IS NULL OR to_date IS NULL THEN
    RAISE EXCEPTION 'from_date and to_date must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF from_date > to_date THEN
    RAISE EXCEPTION 'from_date must not be later than to_date' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('meter_etl.rollup_refresh', 7411));
  -- every meter-day in range that has data or a rollup row (the UTC days
  -- one day wider: a local day reaches into the UTC days beside it)
  INSERT INTO meter_etl.rollup_change (meter_key, channel_id, day)
  SELECT x.meter_key, x.channel_id, x.day FROM (
    SELECT r.meter_key, r.channel_id, (r.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date AS day
      FROM meter_etl.reading r JOIN meter_etl.meter m ON m.meter_key = r.meter_key
     WHERE r.ts >= (from_date - 1)::timestamp AT TIME ZONE 'UTC' AND r.ts < (to_date + 2)::timestamp AT TIME ZONE 'UTC'
    UNION
    SELECT e.meter_key, e.channel_id, (e.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date
      FROM meter_etl.estimate e JOIN meter_etl.meter m ON m.meter_key = e.meter_key
     WHERE e.ts >= (from_date - 1)::timestamp AT TIME ZONE 'UTC' AND e.ts < (to_date + 2)::timestamp AT TIME ZONE 'UTC'
    UNION
    SELECT r.meter_key, r.channel_id, r.day FROM meter_etl.rollup_meter_day r
     WHERE r.day BETWEEN from_date AND to_date) x
   WHERE x.day BETWEEN from_date AND to_date
  ON CONFLICT DO NOTHING;
  -- fleet days with no meter row left must go too
  INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
  SELECT DISTINCT f.time_zone, f.day FROM meter_etl.rollup_fleet_day f WHERE f.day BETWEEN from_date AND to_date
  ON CONFLICT DO NOTHING;
  -- a rebuild of every date the store holds makes the rollups whole
  IF EXISTS (SELECT 1 FROM meter_etl.rollup_incomplete)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                      WHERE r.ts < (from_date - 1)::timestamp AT TIME ZONE 'UTC'
                         OR r.ts >= (to_date + 2)::timestamp AT TIME ZONE 'UTC')
     AND NOT EXISTS (SELECT 1 FROM meter_etl.estimate e
                      WHERE e.ts < (from_date - 1)::timestamp AT TIME ZONE 'UTC'
                         OR e.ts >= (to_date + 2)::timestamp AT TIME ZONE 'UTC') THEN
    DELETE FROM meter_etl.rollup_incomplete;
  END IF;
  RETURN QUERY SELECT * FROM meter_etl.rollup_refresh();
END
$$;
COMMENT ON FUNCTION rollup_rebuild(date, date) IS
  'Recompute every rollup of the local dates [from_date, to_date] from reading and estimate (after a restore, or to check the incremental ones)';

-- ---------------------------------------------------------------- peaks

-- Whether the rollups answer peak_periods() exactly: the whole fleet, hour
-- buckets in whole-hour zones or day buckets of UTC meters (date_bin's days
-- are UTC days), a range on bucket boundaries, nothing pending, and for
-- exclude_flagged the meters'' zone is the caller's (the days a fault or
-- gap leaves a meter out are local days).
CREATE FUNCTION rollup_answers(from_ts timestamptz, to_ts timestamptz, bucket interval, channel text,
                               exclude_flagged boolean, time_zone text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF from_ts IS NULL OR to_ts IS NULL OR bucket IS NULL OR channel IS NULL OR exclude_flagged IS NULL
     OR time_zone IS NULL THEN
    RAISE EXCEPTION 'rollup_answers arguments must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  RETURN rollup_answers.bucket IN (interval '1 hour', interval '1 day')
     AND pg_catalog.date_bin(rollup_answers.bucket, rollup_answers.from_ts, timestamptz '2000-01-01 00:00:00+00') = rollup_answers.from_ts
     AND pg_catalog.date_bin(rollup_answers.bucket, rollup_answers.to_ts, timestamptz '2000-01-01 00:00:00+00') = rollup_answers.to_ts
     AND NOT EXISTS (SELECT 1 FROM meter_etl.rollup_incomplete)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.rollup_change)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.rollup_fleet_dirty)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.rollup_fleet_day f JOIN meter_etl.channel c ON c.channel_id = f.channel_id
                      WHERE c.name = rollup_answers.channel
                        AND f.start_ts < rollup_answers.to_ts + interval '1 day'
                        AND f.start_ts > rollup_answers.from_ts - interval '2 days'
                        AND ((rollup_answers.exclude_flagged AND f.time_zone <> rollup_answers.time_zone)
                             OR (rollup_answers.bucket = interval '1 day' AND f.time_zone <> 'UTC')
                             OR pg_catalog.date_bin(interval '1 hour', f.start_ts, timestamptz '2000-01-01 00:00:00+00') <> f.start_ts));
END
$$;
COMMENT ON FUNCTION rollup_answers(timestamptz, timestamptz, interval, text, boolean, text) IS
  'Internal: whether rollup_peaks() gives what peak_periods() computes from the readings for these arguments';

CREATE FUNCTION rollup_peaks(from_ts timestamptz, to_ts timestamptz, bucket interval, top_n integer,
                             per_day boolean, channel text, exclude_flagged boolean, time_zone text)
RETURNS TABLE (period_start timestamptz, period_end timestamptz, demand_kw double precision,
               meters_counted integer, day date, rank integer)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  IF from_ts IS NULL OR to_ts IS NULL OR bucket IS NULL OR top_n IS NULL OR per_day IS NULL
     OR channel IS NULL OR exclude_flagged IS NULL OR time_zone IS NULL THEN
    RAISE EXCEPTION 'rollup_peaks arguments must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  RETURN QUERY
  WITH b AS (
    SELECT h.hour_ts AS b,
           sum(CASE WHEN rollup_peaks.exclude_flagged THEN h.demand_kw_clean ELSE h.demand_kw END) AS demand,
           sum(CASE WHEN rollup_peaks.exclude_flagged THEN h.meters_clean ELSE h.meters END)::integer AS n
      FROM meter_etl.rollup_fleet_hour h JOIN meter_etl.channel c ON c.channel_id = h.channel_id
     WHERE rollup_peaks.bucket = interval '1 hour' AND c.name = rollup_peaks.channel
       AND h.hour_ts >= rollup_peaks.from_ts AND h.hour_ts < rollup_peaks.to_ts
     GROUP BY h.hour_ts
    UNION ALL
    SELECT f.start_ts,
           sum(CASE WHEN rollup_peaks.exclude_flagged THEN f.demand_kw_clean ELSE f.demand_kw END),
           sum(CASE WHEN rollup_peaks.exclude_flagged THEN f.meters_clean ELSE f.meters END)::integer
      FROM meter_etl.rollup_fleet_day f JOIN meter_etl.channel c ON c.channel_id = f.channel_id
     WHERE rollup_peaks.bucket = interval '1 day' AND c.name = rollup_peaks.channel
       AND f.start_ts >= rollup_peaks.from_ts AND f.start_ts < rollup_peaks.to_ts
     GROUP BY f.start_ts
  ), fleet AS (
    SELECT b.b, b.demand, b.n, (b.b AT TIME ZONE rollup_peaks.time_zone)::date AS day FROM b WHERE b.n > 0
  ), ranked AS (
    SELECT f.*, row_number() OVER (PARTITION BY CASE WHEN rollup_peaks.per_day THEN f.day END
                                   ORDER BY f.demand DESC, f.b)::integer AS rk
      FROM fleet f
  )
  SELECT k.b, k.b + rollup_peaks.bucket, k.demand, k.n, k.day, k.rk
    FROM ranked k
   WHERE k.rk <= rollup_peaks.top_n
   ORDER BY CASE WHEN rollup_peaks.per_day THEN k.day END, k.rk;
END
$$;
COMMENT ON FUNCTION rollup_peaks(timestamptz, timestamptz, interval, integer, boolean, text, boolean, text) IS
  'Internal: peak_periods() of the whole fleet from rollup_fleet_hour / rollup_fleet_day (when rollup_answers() says they agree)';

-- ---------------------------------------------------------------- views

CREATE VIEW v_consumption_hour AS
SELECT m.meter_id, c.name AS channel, r.day AS local_date, (u.i - 1)::integer AS hour_of_day,
       r.start_ts + (u.i - 1) * interval '1 hour' AS hour_start,
       sum(u.s) * m.interval_s / 3600.0 AS energy_kwh,
       sum(u.s) / nullif(sum(u.n + u.e), 0) AS mean_kw,
       max(u.mx) AS max_kw,
       sum(u.n)::integer AS readings, sum(u.e)::integer AS estimated, sum(u.f)::integer AS flagged
  FROM rollup_meter_day r
  JOIN meter m ON m.meter_key = r.meter_key
  JOIN channel c ON c.channel_id = r.channel_id
 CROSS JOIN LATERAL unnest(r.hour_kw_sum, r.hour_kw_max, r.hour_readings,
                           coalesce(r.hour_estimated, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(r.hour_kw_sum)])),
                           coalesce(r.hour_flagged, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(r.hour_kw_sum)])))
       WITH ORDINALITY AS u(s, mx, n, e, f, i)
 GROUP BY m.meter_id, m.interval_s, c.name, r.day, r.start_ts, u.i
HAVING sum(u.n + u.e) > 0;
COMMENT ON VIEW v_consumption_hour IS
  'Consumption per meter, channel and hour (from the rollups; filter on meter_id and local_date for speed)';
COMMENT ON COLUMN v_consumption_hour.meter_id IS 'Meter id';
COMMENT ON COLUMN v_consumption_hour.channel IS 'Channel name';
COMMENT ON COLUMN v_consumption_hour.local_date IS 'Local date in the meter''s zone';
COMMENT ON COLUMN v_consumption_hour.hour_of_day IS 'Hours since local midnight (0-22 / 0-24 on DST days; the local clock hour on other days)';
COMMENT ON COLUMN v_consumption_hour.hour_start IS 'Start of the hour (timestamptz)';
COMMENT ON COLUMN v_consumption_hour.energy_kwh IS 'Energy in kWh, estimates included';
COMMENT ON COLUMN v_consumption_hour.mean_kw IS 'Mean kW of the hour''s readings and estimates';
COMMENT ON COLUMN v_consumption_hour.max_kw IS 'Highest kW of a reading or estimate in the hour';
COMMENT ON COLUMN v_consumption_hour.readings IS 'Readings (actuals) in the hour';
COMMENT ON COLUMN v_consumption_hour.estimated IS 'Estimates in the hour';
COMMENT ON COLUMN v_consumption_hour.flagged IS 'Readings flagged outlier or suspect_meter';

CREATE VIEW v_consumption_day AS
SELECT m.meter_id, c.name AS channel, r.day AS local_date,
       sum(r.kw_sum) * m.interval_s / 3600.0 AS energy_kwh,
       sum(r.kw_sum) / nullif(sum(r.readings + r.estimated), 0) AS mean_kw,
       max(r.kw_max) AS max_kw,
       sum(r.readings)::integer AS readings, sum(r.estimated)::integer AS estimated,
       sum(r.flagged)::integer AS flagged,
       round(extract(epoch FROM (r.day + 1)::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC')
                              - r.day::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC')))::integer
         / m.interval_s AS expected
  FROM rollup_meter_day r
  JOIN meter m ON m.meter_key = r.meter_key
  JOIN channel c ON c.channel_id = r.channel_id
 GROUP BY m.meter_id, m.interval_s, m.time_zone, c.name, r.day;
COMMENT ON VIEW v_consumption_day IS 'Consumption per meter, channel and local day (from the rollups)';
COMMENT ON COLUMN v_consumption_day.meter_id IS 'Meter id';
COMMENT ON COLUMN v_consumption_day.channel IS 'Channel name';
COMMENT ON COLUMN v_consumption_day.local_date IS 'Local date in the meter''s zone';
COMMENT ON COLUMN v_consumption_day.energy_kwh IS 'Energy in kWh, estimates included';
COMMENT ON COLUMN v_consumption_day.mean_kw IS 'Mean kW of the day''s readings and estimates';
COMMENT ON COLUMN v_consumption_day.max_kw IS 'Highest kW of a reading or estimate';
COMMENT ON COLUMN v_consumption_day.readings IS 'Readings (actuals)';
COMMENT ON COLUMN v_consumption_day.estimated IS 'Estimates';
COMMENT ON COLUMN v_consumption_day.flagged IS 'Readings flagged outlier or suspect_meter';
COMMENT ON COLUMN v_consumption_day.expected IS 'Slots in the local day at the meter''s interval (92/96/100 at 15 minutes)';

CREATE VIEW v_consumption_month AS
SELECT d.meter_id, d.channel, pg_catalog.date_trunc('month', d.local_date)::date AS month,
       sum(d.energy_kwh) AS energy_kwh, max(d.max_kw) AS max_kw, count(*)::integer AS days,
       sum(d.readings)::integer AS readings, sum(d.estimated)::integer AS estimated,
       sum(d.flagged)::integer AS flagged
  FROM v_consumption_day d
 GROUP BY d.meter_id, d.channel, 3;
COMMENT ON VIEW v_consumption_month IS 'Consumption per meter, channel and local calendar month (from the rollups)';
COMMENT ON COLUMN v_consumption_month.meter_id IS 'Meter id';
COMMENT ON COLUMN v_consumption_month.channel IS 'Channel name';
COMMENT ON COLUMN v_consumption_month.month IS 'First local date of the month';
COMMENT ON COLUMN v_consumption_month.energy_kwh IS 'Energy in kWh, estimates included';
COMMENT ON COLUMN v_consumption_month.max_kw IS 'Highest kW of a reading or estimate';
COMMENT ON COLUMN v_consumption_month.days IS 'Days of the month with data';
COMMENT ON COLUMN v_consumption_month.readings IS 'Readings (actuals)';
COMMENT ON COLUMN v_consumption_month.estimated IS 'Estimates';
COMMENT ON COLUMN v_consumption_month.flagged IS 'Readings flagged outlier or suspect_meter';

CREATE VIEW v_fleet_load_hour AS
SELECT f.time_zone, c.name AS channel, f.hour_ts AS hour_start, f.day AS local_date,
       f.kwh AS load_kw, f.kwh - f.kwh_flagged AS load_kw_unflagged, f.demand_kw, f.demand_kw_clean,
       f.kwh AS energy_kwh, f.meters, f.meters_clean, f.meters_day - f.meters AS meters_missing,
       f.meters_estimated, f.meters_flagged, f.meters_excluded,
       f.readings::bigint AS readings, f.estimated::bigint AS estimated, f.flagged::bigint AS flagged
  FROM rollup_fleet_hour f JOIN channel c ON c.channel_id = f.channel_id;
COMMENT ON VIEW v_fleet_load_hour IS
  'Fleet load per hour, per meters'' zone and channel (from the rollups, current after rollup_refresh()): sum over zones for the whole fleet';
COMMENT ON COLUMN v_fleet_load_hour.time_zone IS 'The meters'' zone (local dates are in it)';
COMMENT ON COLUMN v_fleet_load_hour.channel IS 'Channel name';
COMMENT ON COLUMN v_fleet_load_hour.hour_start IS 'Start of the hour (timestamptz)';
COMMENT ON COLUMN v_fleet_load_hour.local_date IS 'Local date of the hour in time_zone';
COMMENT ON COLUMN v_fleet_load_hour.load_kw IS 'Average fleet load over the hour in kW (its energy / 1 h), estimates included';
COMMENT ON COLUMN v_fleet_load_hour.load_kw_unflagged IS 'load_kw without the readings flagged outlier or suspect_meter';
COMMENT ON COLUMN v_fleet_load_hour.demand_kw IS 'Sum over meters of their mean kW in the hour (peak_periods'' demand, exclude_flagged => false)';
COMMENT ON COLUMN v_fleet_load_hour.demand_kw_clean IS 'The same without flagged readings and without meters that had a fault episode or gap that day (peak_periods'' default)';
COMMENT ON COLUMN v_fleet_load_hour.energy_kwh IS 'Fleet energy in the hour in kWh';
COMMENT ON COLUMN v_fleet_load_hour.meters IS 'Meters with a reading or estimate in the hour';
COMMENT ON COLUMN v_fleet_load_hour.meters_clean IS 'Meters counted in demand_kw_clean';
COMMENT ON COLUMN v_fleet_load_hour.meters_missing IS 'Meters with data that day but none in this hour (excluded: missing)';
COMMENT ON COLUMN v_fleet_load_hour.meters_estimated IS 'Meters with an estimate in the hour';
COMMENT ON COLUMN v_fleet_load_hour.meters_flagged IS 'Meters with a flagged reading in the hour (excluded from load_kw_unflagged and demand_kw_clean)';
COMMENT ON COLUMN v_fleet_load_hour.meters_excluded IS 'Meters left out of demand_kw_clean for a fault episode or gap that day';
COMMENT ON COLUMN v_fleet_load_hour.readings IS 'Readings (actuals)';
COMMENT ON COLUMN v_fleet_load_hour.estimated IS 'Estimates';
COMMENT ON COLUMN v_fleet_load_hour.flagged IS 'Flagged readings';

CREATE VIEW v_fleet_energy_day AS
SELECT f.time_zone, c.name AS channel, f.day AS local_date, f.kwh AS energy_kwh,
       f.kwh - f.kwh_flagged AS energy_kwh_unflagged, f.peak_kw, f.peak_hour_ts AS peak_hour_start,
       f.meters, f.readings::bigint AS readings, f.estimated::bigint AS estimated, f.flagged::bigint AS flagged
  FROM rollup_fleet_day f JOIN channel c ON c.channel_id = f.channel_id;
COMMENT ON VIEW v_fleet_energy_day IS
  'Fleet energy per local day, per meters'' zone and channel (from the rollups, current after rollup_refresh())';
COMMENT ON COLUMN v_fleet_energy_day.time_zone IS 'The meters'' zone';
COMMENT ON COLUMN v_fleet_energy_day.channel IS 'Channel name';
COMMENT ON COLUMN v_fleet_energy_day.local_date IS 'Local date in time_zone';
COMMENT ON COLUMN v_fleet_energy_day.energy_kwh IS 'Fleet energy in kWh, estimates included';
COMMENT ON COLUMN v_fleet_energy_day.energy_kwh_unflagged IS 'energy_kwh without readings flagged outlier or suspect_meter';
COMMENT ON COLUMN v_fleet_energy_day.peak_kw IS 'The day''s highest hourly fleet demand in kW (demand_kw of v_fleet_load_hour)';
COMMENT ON COLUMN v_fleet_energy_day.peak_hour_start IS 'Start of that hour';
COMMENT ON COLUMN v_fleet_energy_day.meters IS 'Meters with data that day';
COMMENT ON COLUMN v_fleet_energy_day.readings IS 'Readings (actuals)';
COMMENT ON COLUMN v_fleet_energy_day.estimated IS 'Estimates';
COMMENT ON COLUMN v_fleet_energy_day.flagged IS 'Flagged readings';

-- Fleet load per reading interval reads the store itself: intervals finer
-- than an hour are not rolled up (a 15-minute fleet row per zone would be
-- cheap, but which interval? meters of 15, 30 and 60 minutes mix).
CREATE VIEW v_fleet_load_interval AS
SELECT x.ts AS interval_start, c.name AS channel, sum(x.kw) AS load_kw,
       sum(x.kw) FILTER (WHERE x.flags & 6 = 0) AS load_kw_unflagged,
       count(*)::integer AS meters, count(*) FILTER (WHERE x.est)::integer AS meters_estimated,
       count(*) FILTER (WHERE x.flags & 6 <> 0)::integer AS meters_flagged
  FROM (SELECT r.ts, r.channel_id, r.kw, r.flags, false AS est FROM reading r
        UNION ALL
        SELECT e.ts, e.channel_id, e.kw, 0::smallint, true FROM estimate e
         WHERE NOT EXISTS (SELECT 1 FROM reading a
                            WHERE a.meter_key = e.meter_key AND a.channel_id = e.channel_id AND a.ts = e.ts)) x
  JOIN channel c ON c.channel_id = x.channel_id
 GROUP BY x.ts, c.name;
COMMENT ON VIEW v_fleet_load_interval IS
  'Fleet load per reading interval start (reads reading and estimate, not the rollups: filter on interval_start)';
COMMENT ON COLUMN v_fleet_load_interval.interval_start IS 'Interval start (timestamptz)';
COMMENT ON COLUMN v_fleet_load_interval.channel IS 'Channel name';
COMMENT ON COLUMN v_fleet_load_interval.load_kw IS 'Sum of the meters'' kW in the interval, estimates included';
COMMENT ON COLUMN v_fleet_load_interval.load_kw_unflagged IS 'load_kw without readings flagged outlier or suspect_meter';
COMMENT ON COLUMN v_fleet_load_interval.meters IS 'Meters with a reading or estimate starting at interval_start';
COMMENT ON COLUMN v_fleet_load_interval.meters_estimated IS 'Of those, meters whose value is an estimate';
COMMENT ON COLUMN v_fleet_load_interval.meters_flagged IS 'Of those, meters whose reading is flagged (excluded from load_kw_unflagged)';

SELECT pg_catalog.pg_extension_config_dump('rollup_meter_day', '');
SELECT pg_catalog.pg_extension_config_dump('rollup_change', '');
SELECT pg_catalog.pg_extension_config_dump('rollup_fleet_dirty', '');
SELECT pg_catalog.pg_extension_config_dump('rollup_fleet_hour', '');
SELECT pg_catalog.pg_extension_config_dump('rollup_fleet_day', '');
SELECT pg_catalog.pg_extension_config_dump('rollup_incomplete', '');

REVOKE ALL ON FUNCTION rollup_add(text, integer[], smallint[], date[], timestamptz[], integer[], integer[], double precision[], double precision[], double precision[], integer[], integer[], double precision[], double precision[], double precision[], integer[], integer[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION detect_pending(max_runs integer DEFAULT NULL)
RETURNS detect_run
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_runs bigint[];
  v_run  meter_etl.detect_run;
  g      record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('meter_etl.detect', 7411));
  SELECT array_agg(i.run_id ORDER BY i.run_id) INTO v_runs
    FROM (SELECT i.run_id FROM meter_etl.ingest_run i
           WHERE i.status = 'ok'
             AND NOT EXISTS (SELECT 1 FROM meter_etl.detect_done d WHERE d.ingest_run_id = i.run_id)
           ORDER BY i.run_id LIMIT max_runs) i;
  IF v_runs IS NULL THEN
    RETURN NULL;
  END IF;
  -- runs whose extents ingest did not record: find them in the store (one scan)
  INSERT INTO meter_etl.ingest_extent (ingest_run_id, meter_key, ts_min, ts_max)
  SELECT i.run_id, r.meter_key, min(r.ts), max(r.ts)
    FROM meter_etl.ingest_run i
    JOIN meter_etl.reading r ON r.file_id = i.file_id
   WHERE i.run_id = ANY (v_runs)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.ingest_extent e WHERE e.ingest_run_id = i.run_id)
   GROUP BY i.run_id, r.meter_key;
  INSERT INTO meter_etl.detect_run (mode, ingest_runs, settings)
  VALUES ('pending', v_runs, meter_etl.detect_settings())
  RETURNING * INTO v_run;
  -- per meter: from the day before its new readings to the end of them;
  -- meters with the same days are detected together
  FOR g IN
    SELECT x.lo, max(x.hi) AS hi, array_agg(x.meter_key ORDER BY x.meter_key) AS keys
      FROM (SELECT e.meter_key,
                   date_trunc('day', min(e.ts_min), 'UTC') - interval '1 day' AS lo,
                   max(e.ts_max) + make_interval(secs => max(m.interval_s)) AS hi,
                   date_trunc('day', max(e.ts_max), 'UTC') AS hi_day
              FROM meter_etl.ingest_extent e JOIN meter_etl.meter m USING (meter_key)
             WHERE e.ingest_run_id = ANY (v_runs)
             GROUP BY e.meter_key) x
     GROUP BY x.lo, x.hi_day
     ORDER BY x.lo, x.hi_day
  LOOP
    PERFORM meter_etl.detect_apply(v_run.run_id, g.lo, g.hi, g.keys);
  END LOOP;
  SELECT min(e.ts_min), max(e.ts_max) INTO v_run.from_ts, v_run.to_ts
    FROM meter_etl.ingest_extent e WHERE e.ingest_run_id = ANY (v_runs);
  INSERT INTO meter_etl.detect_done (ingest_run_id, detect_run_id)
  SELECT unnest(v_runs), v_run.run_id;
  PERFORM meter_etl.rollup_refresh();   -- flags and estimates reach the rollups
  UPDATE meter_etl.detect_run r SET status = 'ok', finished_at = clock_timestamp(),
         from_ts = v_run.from_ts, to_ts = v_run.to_ts,
         meters = (SELECT count(DISTINCT e.meter_key) FROM meter_etl.ingest_extent e
                    WHERE e.ingest_run_id = ANY (v_runs))
   WHERE r.run_id = v_run.run_id RETURNING * INTO v_run;
  RETURN v_run;
END
$$;
COMMENT ON FUNCTION detect_pending(integer) IS
  'Incremental detection: for the ingest runs not yet processed, recompute only their meters, from the day before their readings to the end of them; NULL when nothing is pending';

REVOKE ALL ON FUNCTION rollup_note_change(), rollup_note_episode(), rollup_recompute_keys(), rollup_add_delta(rollup_delta[]),
      rollup_merge_day(text, date), rollup_fleet_recompute(text, date), rollup_refresh(),
      rollup_rebuild(date, date), rollup_answers(timestamptz, timestamptz, interval, text, boolean, text),
      rollup_peaks(timestamptz, timestamptz, interval, integer, boolean, text, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollup_note_change(), rollup_note_episode(), rollup_recompute_keys(), rollup_add_delta(rollup_delta[]),
      rollup_merge_day(text, date), rollup_fleet_recompute(text, date), rollup_refresh(),
      rollup_rebuild(date, date), rollup_answers(timestamptz, timestamptz, interval, text, boolean, text),
      rollup_peaks(timestamptz, timestamptz, interval, integer, boolean, text, boolean, text),
      rollup_add(text, integer[], smallint[], date[], timestamptz[], integer[], integer[], double precision[], double precision[], double precision[], integer[], integer[], double precision[], double precision[], double precision[], integer[], integer[])
   TO meter_etl_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON rollup_meter_day, rollup_change, rollup_fleet_dirty, rollup_fleet_hour,
      rollup_fleet_day, rollup_incomplete, v_consumption_hour, v_consumption_day, v_consumption_month, v_fleet_load_hour,
      v_fleet_energy_day, v_fleet_load_interval TO meter_etl_admin;
GRANT SELECT ON v_consumption_hour, v_consumption_day, v_consumption_month, v_fleet_load_hour,
      v_fleet_energy_day, v_fleet_load_interval TO meter_etl_reader;
-- readings stored before the rollups existed: not rolled up until
-- rollup_rebuild() covers their dates (peak_periods reads the readings)
INSERT INTO rollup_incomplete
SELECT now() WHERE EXISTS (SELECT 1 FROM reading) OR EXISTS (SELECT 1 FROM estimate);

-- ======================================================================
-- Results for BI (issue 19)
-- ======================================================================
-- The calendar and time-of-use periods, the data-quality scorecard, the
-- daily peaks, the meter dimension and health, and a comment on every
-- column of every v_* view.  The new objects are the fresh script's, in
-- the same words; then the privileges 90_roles.sql gives them.

-- ======================================================================
-- Enrichment (issue 19): the calendar per zone and time-of-use periods
-- ======================================================================
-- Public holidays are the users' to fill (none are shipped: no source
-- this extension could cite covers every zone).  Seasons are
-- meteorological (whole months: Dec-Feb winter in the northern
-- hemisphere, summer in the southern); a zone is northern unless
-- calendar_zone says otherwise.

CREATE TABLE holiday (
    time_zone text NOT NULL
              CHECK (pg_catalog.timezone(time_zone, timestamptz '2000-01-01 00:00:00+00') IS NOT NULL),
    day       date NOT NULL,
    name      text NOT NULL CHECK (pg_catalog.btrim(name) <> ''),
    PRIMARY KEY (time_zone, day)
);
COMMENT ON TABLE holiday IS
  'Public holidays per time zone (the zone stands for its region), filled by users: meter_etl ships none';
COMMENT ON COLUMN holiday.time_zone IS 'IANA time zone the holiday applies to, as meter.time_zone names it (an unrecognized zone is refused)';
COMMENT ON COLUMN holiday.day IS 'Local date of the holiday';

CREATE TABLE calendar_zone (
    time_zone  text PRIMARY KEY
               CHECK (pg_catalog.timezone(time_zone, timestamptz '2000-01-01 00:00:00+00') IS NOT NULL),
    hemisphere text NOT NULL CHECK (hemisphere IN ('north', 'south'))
);
COMMENT ON TABLE calendar_zone IS
  'The hemisphere of a time zone for the seasons of the calendar; a zone not listed is northern. Ships the southern zone of the built-in profiles (Australia/Brisbane)';
INSERT INTO calendar_zone VALUES ('Australia/Brisbane', 'south');

-- The calendar's attributes of local dates: one place for the views and
-- the functions below.  Reads no table.
CREATE FUNCTION calendar_days(time_zone text, from_date date, to_date date, hemisphere text DEFAULT 'north')
RETURNS TABLE (local_date date, day_start timestamptz, day_end timestamptz, hours integer,
               weekday integer, weekend boolean, iso_week integer, iso_year integer,
               month integer, quarter integer, season text)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  IF calendar_days.time_zone IS NULL OR calendar_days.from_date IS NULL OR calendar_days.to_date IS NULL
     OR calendar_days.hemisphere IS NULL THEN
    RAISE EXCEPTION 'time_zone, from_date, to_date and hemisphere must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  ELSIF calendar_days.from_date > calendar_days.to_date THEN
    RAISE EXCEPTION 'from_date must not be later than to_date' USING ERRCODE = 'invalid_parameter_value';
  ELSIF calendar_days.to_date - calendar_days.from_date > 36600 THEN
    RAISE EXCEPTION 'refusing a calendar of % days', calendar_days.to_date - calendar_days.from_date + 1
      USING ERRCODE = 'program_limit_exceeded', HINT = 'Ask for at most 100 years at a time.';
  ELSIF calendar_days.hemisphere NOT IN ('north', 'south') THEN
    RAISE EXCEPTION 'unrecognized hemisphere "%"', calendar_days.hemisphere
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use north or south.';
  END IF;
  -- an unrecognized zone raises its own error here (22023)
  PERFORM pg_catalog.timezone(calendar_days.time_zone, pg_catalog.now());
  RETURN QUERY
  SELECT d.d, d.s, d.e, (extract(epoch FROM d.e - d.s) / 3600)::integer,
         extract(isodow FROM d.d)::integer, extract(isodow FROM d.d) >= 6,
         extract(week FROM d.d)::integer, extract(isoyear FROM d.d)::integer,
         extract(month FROM d.d)::integer, extract(quarter FROM d.d)::integer,
         (CASE WHEN calendar_days.hemisphere = 'north'
               THEN ARRAY['winter', 'spring', 'summer', 'autumn']
               ELSE ARRAY['summer', 'autumn', 'winter', 'spring'] END)
           [(extract(month FROM d.d)::integer % 12) / 3 + 1]
    FROM (SELECT g::date AS d,
                 g::date::timestamp AT TIME ZONE calendar_days.time_zone AS s,
                 (g::date + 1)::timestamp AT TIME ZONE calendar_days.time_zone AS e
            FROM pg_catalog.generate_series(calendar_days.from_date::timestamp, calendar_days.to_date::timestamp,
                                            interval '1 day') AS g) d
   ORDER BY d.d;
END
$$;
COMMENT ON FUNCTION calendar_days(text, date, date, text) IS
  'Calendar attributes of the local dates [from_date, to_date] of a time zone: the day''s UTC start and end and its length in hours (23 or 25 on DST days), ISO weekday (1 = Monday) and weekend (Saturday, Sunday), ISO week and year, month, quarter and meteorological season of the hemisphere. Reads no table';

CREATE FUNCTION calendar(time_zone text, from_date date, to_date date)
RETURNS TABLE (hour_start timestamptz, hour_end timestamptz, local_date date, local_hour integer,
               utc_offset interval, weekday integer, weekend boolean, iso_week integer, iso_year integer,
               month integer, quarter integer, season text, holiday text, day_hours integer)
LANGUAGE sql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
  SELECT h, h + interval '1 hour', c.local_date, extract(hour FROM h AT TIME ZONE calendar.time_zone)::integer,
         (h AT TIME ZONE calendar.time_zone) - (h AT TIME ZONE 'UTC'),
         c.weekday, c.weekend, c.iso_week, c.iso_year, c.month, c.quarter, c.season, hd.name, c.hours
    FROM meter_etl.calendar_days(calendar.time_zone, calendar.from_date, calendar.to_date,
                                 coalesce((SELECT z.hemisphere FROM meter_etl.calendar_zone z
                                            WHERE z.time_zone = calendar.time_zone), 'north')) c
   CROSS JOIN LATERAL pg_catalog.generate_series(c.day_start, c.day_end - interval '1 hour', interval '1 hour') AS h
    LEFT JOIN meter_etl.holiday hd ON hd.time_zone = calendar.time_zone AND hd.day = c.local_date
   ORDER BY h
$$;
COMMENT ON FUNCTION calendar(text, date, date) IS
  'One row per hour of the local dates [from_date, to_date] of a time zone, DST-correct (23 rows on the spring day, 25 on the autumn day, the repeated hour twice with its two offsets): local date and hour, UTC offset, ISO weekday, weekend, ISO week and year, month, quarter, meteorological season (hemisphere from calendar_zone), holiday name (from holiday) and the day''s length in hours. Hours are UTC hours: in a zone whose offset is not whole hours they start at :30 or :45 local';

-- The calendar dimension for BI: every local date of the store (its
-- partitions, a day either side for the zones' offsets) in each zone the
-- meters use.
CREATE VIEW v_calendar AS
SELECT z.time_zone, c.local_date, c.day_start, c.day_end, c.hours, c.weekday, c.weekend,
       c.iso_week, c.iso_year, c.month, c.quarter, c.season, h.name AS holiday, h.name IS NOT NULL AS is_holiday
  FROM (SELECT DISTINCT coalesce(m.time_zone, 'UTC') AS time_zone FROM meter m) z
 CROSS JOIN (SELECT min(p.day) - 1 AS lo, max(p.day) + 1 AS hi FROM reading_partition p
             HAVING min(p.day) IS NOT NULL) r
 CROSS JOIN LATERAL calendar_days(z.time_zone, r.lo, r.hi,
                                  coalesce((SELECT cz.hemisphere FROM calendar_zone cz
                                             WHERE cz.time_zone = z.time_zone), 'north')) c
  LEFT JOIN holiday h ON h.time_zone = z.time_zone AND h.day = c.local_date;
COMMENT ON VIEW v_calendar IS
  'Calendar dimension: one row per local date and time zone the meters use (a meter without a zone counts as UTC), over the days the store holds (its daily partitions, a day either side); DST days have 23 or 25 hours';
COMMENT ON COLUMN v_calendar.time_zone IS 'IANA time zone (meter.time_zone; UTC for meters without one)';
COMMENT ON COLUMN v_calendar.local_date IS 'The local date';
COMMENT ON COLUMN v_calendar.day_start IS 'Local midnight starting the date, as a UTC instant (timestamptz)';
COMMENT ON COLUMN v_calendar.day_end IS 'Local midnight ending the date, as a UTC instant (timestamptz)';
COMMENT ON COLUMN v_calendar.hours IS 'Length of the local day in hours: 24, 23 on the day clocks go forward, 25 on the day they go back';
COMMENT ON COLUMN v_calendar.weekday IS 'ISO weekday: 1 = Monday ... 7 = Sunday';
COMMENT ON COLUMN v_calendar.weekend IS 'Saturday or Sunday (holidays are in is_holiday)';
COMMENT ON COLUMN v_calendar.iso_week IS 'ISO 8601 week number (1-53), of iso_year';
COMMENT ON COLUMN v_calendar.iso_year IS 'ISO 8601 week-numbering year (differs from the calendar year around 1 January)';
COMMENT ON COLUMN v_calendar.month IS 'Month, 1-12';
COMMENT ON COLUMN v_calendar.quarter IS 'Calendar quarter, 1-4';
COMMENT ON COLUMN v_calendar.season IS 'Meteorological season (whole months; December-February is winter in the north, summer in the south; hemisphere from calendar_zone, north by default)';
COMMENT ON COLUMN v_calendar.holiday IS 'Name of the public holiday on this date (meter_etl.holiday), NULL if none';
COMMENT ON COLUMN v_calendar.is_holiday IS 'Whether holiday names one';

-- ----------------------------------------------------------------------
-- Time-of-use periods
-- ----------------------------------------------------------------------

CREATE TABLE tou_tariff (
    tariff              text PRIMARY KEY CHECK (pg_catalog.btrim(tariff) <> ''),
    default_period      text NOT NULL CHECK (pg_catalog.btrim(default_period) <> ''),
    holidays_as_weekend boolean NOT NULL DEFAULT true,
    description         text
);
COMMENT ON TABLE tou_tariff IS
  'Time-of-use tariffs: the period of an hour no tou_period row covers is default_period; with holidays_as_weekend, a holiday of the zone (meter_etl.holiday) counts as a Sunday';

CREATE TABLE tou_period (
    tariff     text NOT NULL REFERENCES tou_tariff ON UPDATE CASCADE ON DELETE CASCADE,
    period     text NOT NULL CHECK (pg_catalog.btrim(period) <> ''),
    days       integer[] NOT NULL
               CHECK (pg_catalog.cardinality(days) BETWEEN 1 AND 7 AND pg_catalog.array_position(days, NULL) IS NULL
                      AND days <@ '{1,2,3,4,5,6,7}'::integer[]),
    start_time time NOT NULL,
    end_time   time NOT NULL CHECK (end_time <> start_time),
    valid_from date NOT NULL DEFAULT '-infinity',
    valid_to   date CHECK (valid_to > valid_from),
    PRIMARY KEY (tariff, period, days, start_time, valid_from)
);
COMMENT ON TABLE tou_period IS
  'Time-of-use periods of a tariff: on the ISO weekdays in days (1 = Monday), local time [start_time, end_time); an end_time before start_time wraps past midnight into the next day (days names the day it starts); 24:00 ends at midnight. Valid for local dates [valid_from, valid_to) (NULL: open). Two periods of a tariff may not cover the same weekday and time while both are valid (a trigger refuses it)';
COMMENT ON COLUMN tou_period.days IS 'ISO weekdays the period starts on: 1 = Monday ... 7 = Sunday (a holiday counts as 7 when the tariff says holidays_as_weekend)';
COMMENT ON COLUMN tou_period.valid_to IS 'First local date the period no longer applies (exclusive); NULL = open-ended';

-- Overlap: the minutes of the ISO week each row covers, as ranges (a wrap
-- past midnight continues into the next day, Sunday's into Monday's).
CREATE FUNCTION tou_period_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_other record;
BEGIN
  -- one writer per tariff at a time, so that two inserts cannot both pass
  PERFORM 1 FROM meter_etl.tou_tariff t WHERE t.tariff = NEW.tariff FOR UPDATE;
  SELECT p.period, p.days, p.start_time, p.end_time INTO v_other
    FROM meter_etl.tou_period p
   WHERE p.tariff = NEW.tariff
     AND (p.period, p.days, p.start_time, p.valid_from) IS DISTINCT FROM (NEW.period, NEW.days, NEW.start_time, NEW.valid_from)
     AND daterange(p.valid_from, p.valid_to) && daterange(NEW.valid_from, NEW.valid_to)
     AND EXISTS (
       WITH rows AS (
         SELECT 0 AS w, NEW.days AS days, NEW.start_time AS s, NEW.end_time AS e
         UNION ALL SELECT 1, p.days, p.start_time, p.end_time
       ), spans AS (   -- minutes of the week, a wrap adding a day
         SELECT r.w, (d - 1) * 1440 + (extract(epoch FROM r.s) / 60)::integer AS lo,
                (d - 1) * 1440 + (extract(epoch FROM r.e) / 60)::integer
                  + CASE WHEN r.e < r.s THEN 1440 ELSE 0 END AS hi
           FROM rows r, unnest(r.days) AS d
       ), ranges AS (  -- past the end of Sunday: again from Monday
         SELECT w, int4range(lo, least(hi, 10080)) AS m FROM spans
         UNION ALL SELECT w, int4range(0, hi - 10080) FROM spans WHERE hi > 10080
       )
       SELECT 1 FROM ranges a JOIN ranges b ON a.w = 0 AND b.w = 1 AND a.m && b.m)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'time-of-use period "%" of tariff "%" overlaps period "%"', NEW.period, NEW.tariff, v_other.period
      USING ERRCODE = 'exclusion_violation',
            DETAIL = pg_catalog.format('Both cover some of the same weekdays and times while both are valid (%s %s-%s against %s %s-%s).',
                                       NEW.days, NEW.start_time, NEW.end_time, v_other.days, v_other.start_time, v_other.end_time),
            HINT = 'Every local time maps to one period: end one where the other starts, or split their validity.';
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tou_period_check() IS
  'Constraint trigger on tou_period: refuses a period that covers a weekday and time another period of its tariff covers while both are valid';

CREATE CONSTRAINT TRIGGER tou_period_no_overlap AFTER INSERT OR UPDATE ON tou_period
  FOR EACH ROW EXECUTE FUNCTION tou_period_check();

-- The choice itself, on rows given: one place for tou_period_of() and the
-- view of energy by period (which reads the periods as its owner, so a
-- reader needs no table).
CREATE FUNCTION tou_period_pick(periods tou_period[], default_period text, day date, local_time time,
                                dow integer, prev_dow integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  -- periods may be NULL (a tariff without periods: its default applies)
  IF tou_period_pick.default_period IS NULL OR tou_period_pick.day IS NULL OR tou_period_pick.local_time IS NULL
     OR tou_period_pick.dow IS NULL OR tou_period_pick.prev_dow IS NULL THEN
    RAISE EXCEPTION 'default_period, day, local_time, dow and prev_dow must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  RETURN (SELECT coalesce((SELECT p.period
                       FROM unnest(tou_period_pick.periods) AS p
                      WHERE (tou_period_pick.dow = ANY (p.days) AND daterange(p.valid_from, p.valid_to) @> tou_period_pick.day
                             AND tou_period_pick.local_time >= p.start_time
                             AND (p.end_time < p.start_time OR tou_period_pick.local_time < p.end_time))
                         OR (p.end_time < p.start_time AND tou_period_pick.local_time < p.end_time
                             AND tou_period_pick.prev_dow = ANY (p.days)
                             AND daterange(p.valid_from, p.valid_to) @> tou_period_pick.day - 1)
                      ORDER BY p.period
                      LIMIT 1),
                    tou_period_pick.default_period));
END
$$;
COMMENT ON FUNCTION tou_period_pick(tou_period[], text, date, time, integer, integer) IS
  'The period among a tariff''s periods at a local date and time whose ISO weekday is dow (prev_dow: the day before''s; 7 on holidays when the tariff says so), else default_period: what tou_period_of() answers';

CREATE FUNCTION tou_period_of(tariff text, time_zone text, ts timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_tariff meter_etl.tou_tariff;
  v_local  timestamp;
  v_day    date;
  v_time   time;
  v_dow    integer;
  v_prev   integer;
  v_period text;
BEGIN
  IF tou_period_of.tariff IS NULL OR tou_period_of.time_zone IS NULL OR tou_period_of.ts IS NULL THEN
    RAISE EXCEPTION 'tariff, time_zone and ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT * INTO v_tariff FROM meter_etl.tou_tariff t WHERE t.tariff = tou_period_of.tariff;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unrecognized tariff "%"', tou_period_of.tariff
      USING ERRCODE = 'invalid_parameter_value', HINT = 'meter_etl.tou_tariff lists the tariffs.';
  END IF;
  v_local := tou_period_of.ts AT TIME ZONE tou_period_of.time_zone;   -- 22023 for an unrecognized zone
  v_day := v_local::date;
  v_time := v_local::time;
  -- the weekday of the date and of the day before (a period may wrap into
  -- this one); a holiday counts as a Sunday when the tariff says so
  SELECT max(g.dow) FILTER (WHERE g.d = v_day), max(g.dow) FILTER (WHERE g.d = v_day - 1)
    INTO v_dow, v_prev
    FROM (SELECT x.d, CASE WHEN v_tariff.holidays_as_weekend AND h.day IS NOT NULL THEN 7
                           ELSE extract(isodow FROM x.d)::integer END AS dow
            FROM unnest(ARRAY[v_day, v_day - 1]) AS x(d)
            LEFT JOIN meter_etl.holiday h ON h.time_zone = tou_period_of.time_zone AND h.day = x.d) g;
  SELECT meter_etl.tou_period_pick(array_agg(p), v_tariff.default_period, v_day, v_time, v_dow, v_prev)
    INTO v_period
    FROM meter_etl.tou_period p WHERE p.tariff = v_tariff.tariff;
  RETURN v_period;
END
$$;
COMMENT ON FUNCTION tou_period_of(text, text, timestamptz) IS
  'The time-of-use period of a tariff at an instant, by the local time of the zone: the period covering that weekday and time (a holiday is a Sunday for tariffs with holidays_as_weekend; a period wrapping past midnight counts from the day it starts), else the tariff''s default_period';

CREATE FUNCTION tou_calendar(tariff text, time_zone text, from_date date, to_date date)
RETURNS TABLE (hour_start timestamptz, hour_end timestamptz, local_date date, local_hour integer,
               weekday integer, holiday text, period text)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF tou_calendar.tariff IS NULL THEN
    RAISE EXCEPTION 'tariff must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF NOT EXISTS (SELECT 1 FROM meter_etl.tou_tariff t WHERE t.tariff = tou_calendar.tariff) THEN
    RAISE EXCEPTION 'unrecognized tariff "%"', tou_calendar.tariff
      USING ERRCODE = 'invalid_parameter_value', HINT = 'meter_etl.tou_tariff lists the tariffs.';
  END IF;
  RETURN QUERY
  SELECT c.hour_start, c.hour_end, c.local_date, c.local_hour, c.weekday, c.holiday,
         meter_etl.tou_period_of(tou_calendar.tariff, tou_calendar.time_zone, c.hour_start)
    FROM meter_etl.calendar(tou_calendar.time_zone, tou_calendar.from_date, tou_calendar.to_date) c;
END
$$;
COMMENT ON FUNCTION tou_calendar(text, text, date, date) IS
  'Every hour of the local dates [from_date, to_date] of a zone with its time-of-use period of the tariff (the period at the start of the hour): the mapping energy per period is summed over';

CREATE VIEW v_tou_period AS
SELECT p.tariff, p.period, p.days, p.start_time, p.end_time, p.end_time < p.start_time AS wraps_midnight,
       p.valid_from, p.valid_to, t.default_period, t.holidays_as_weekend
  FROM tou_period p JOIN tou_tariff t USING (tariff);
COMMENT ON VIEW v_tou_period IS
  'Time-of-use periods with their tariff''s default period (hours no period covers) and holiday rule';
COMMENT ON COLUMN v_tou_period.tariff IS 'Tariff name';
COMMENT ON COLUMN v_tou_period.period IS 'Period name (e.g. peak, shoulder, off_peak)';
COMMENT ON COLUMN v_tou_period.days IS 'ISO weekdays the period starts on (1 = Monday ... 7 = Sunday)';
COMMENT ON COLUMN v_tou_period.start_time IS 'Local start time (inclusive)';
COMMENT ON COLUMN v_tou_period.end_time IS 'Local end time (exclusive); before start_time when the period wraps past midnight';
COMMENT ON COLUMN v_tou_period.wraps_midnight IS 'The period ends on the next day';
COMMENT ON COLUMN v_tou_period.valid_from IS 'First local date the period applies (-infinity: always)';
COMMENT ON COLUMN v_tou_period.valid_to IS 'First local date it no longer applies (NULL: open-ended)';
COMMENT ON COLUMN v_tou_period.default_period IS 'The tariff''s period for hours no period covers';
COMMENT ON COLUMN v_tou_period.holidays_as_weekend IS 'Holidays of the zone count as a Sunday';

SELECT pg_catalog.pg_extension_config_dump('holiday', '');
SELECT pg_catalog.pg_extension_config_dump('calendar_zone', 'WHERE time_zone <> ''Australia/Brisbane''');
SELECT pg_catalog.pg_extension_config_dump('tou_tariff', '');
SELECT pg_catalog.pg_extension_config_dump('tou_period', '');

-- ======================================================================
-- Data-quality scorecard and the result views for BI (issue 19)
-- ======================================================================
-- The scorecard is kept per UTC day (the store's partitions) in tables
-- that refresh_results() fills, because a dashboard must not scan a day's
-- 4.8 M readings per query: one refresh reads each day once.  A day whose
-- readings or estimates changed after its refresh is shown stale (the
-- store's change log, archive_change).

-- Ingest records, per run and UTC day, the readings it stored and the
-- exact duplicates it dropped: the only place duplicates are counted by day.
CREATE TABLE ingest_day (
    ingest_run_id  bigint NOT NULL,
    day            date NOT NULL,
    rows_clean     bigint NOT NULL,
    rows_duplicate bigint NOT NULL,
    PRIMARY KEY (ingest_run_id, day)
);
CREATE INDEX ingest_day_day_idx ON ingest_day (day);
COMMENT ON TABLE ingest_day IS
  'Per ingest run and UTC day of the readings: readings stored and exact duplicates dropped (written by ingest)';

-- what the scorecard and the meter dimension look up
CREATE INDEX quarantine_ts_idx ON quarantine (ts);
CREATE INDEX ingest_extent_meter_idx ON ingest_extent (meter_key, ts_min);

CREATE TABLE dq_meter_day (
    day              date NOT NULL,
    meter_key        integer NOT NULL,
    channels         integer NOT NULL,
    expected         integer NOT NULL,
    clean            integer NOT NULL,
    quarantined      integer NOT NULL,
    estimated        integer NOT NULL,
    source_estimated integer NOT NULL,
    missing          integer NOT NULL,
    PRIMARY KEY (day, meter_key)
);
CREATE INDEX dq_meter_day_meter_idx ON dq_meter_day (meter_key, day);
COMMENT ON TABLE dq_meter_day IS
  'Data-quality scorecard per meter and UTC day, written by refresh_results() (v_dq_meter_day shows it)';

CREATE TABLE dq_day (
    day                   date PRIMARY KEY,
    meters_active         integer NOT NULL,
    expected              bigint NOT NULL,
    received              bigint NOT NULL,
    clean                 bigint NOT NULL,
    quarantined           bigint NOT NULL,
    quarantined_by_reason jsonb NOT NULL,
    duplicates            bigint NOT NULL,
    estimated             bigint NOT NULL,
    source_estimated      bigint NOT NULL,
    missing               bigint NOT NULL,
    delay_median_hours    double precision,
    delay_p95_hours       double precision,
    computed_at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE dq_day IS
  'Data-quality scorecard per UTC day, written by refresh_results() (v_dq_day shows it)';

CREATE TABLE dq_file_day (
    day                   date NOT NULL,
    file_id               bigint NOT NULL,
    expected              bigint NOT NULL,
    received              bigint NOT NULL,
    clean                 bigint NOT NULL,
    quarantined           bigint NOT NULL,
    quarantined_by_reason jsonb NOT NULL,
    duplicates            bigint NOT NULL,
    missing               bigint NOT NULL,
    delay_median_hours    double precision,
    delay_p95_hours       double precision,
    PRIMARY KEY (day, file_id)
);
CREATE INDEX dq_file_day_file_idx ON dq_file_day (file_id);
COMMENT ON TABLE dq_file_day IS
  'Data-quality scorecard per UTC day and raw file, written by refresh_results() (v_dq_file_day shows it)';

CREATE TABLE peak_day (
    day            date NOT NULL,
    rank           integer NOT NULL CHECK (rank >= 1),
    period_start   timestamptz NOT NULL,
    period_end     timestamptz NOT NULL,
    demand_kw      double precision NOT NULL,
    meters_counted integer NOT NULL,
    PRIMARY KEY (day, rank)
);
COMMENT ON TABLE peak_day IS
  'The top 10 half-hours of fleet import demand of each UTC day (peak_periods() with its defaults: flagged meter-days and outliers left out), written by refresh_results()';

CREATE FUNCTION refresh_results(from_date date, to_date date)
RETURNS TABLE (day date, meters_active integer, expected bigint, clean bigint, peaks integer)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  d     date;
  v_lo  timestamptz;
  v_hi  timestamptz;
BEGIN
  IF refresh_results.from_date IS NULL OR refresh_results.to_date IS NULL THEN
    RAISE EXCEPTION 'from_date and to_date must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF refresh_results.from_date > refresh_results.to_date THEN
    RAISE EXCEPTION 'from_date must not be later than to_date' USING ERRCODE = 'invalid_parameter_value';
  ELSIF refresh_results.to_date - refresh_results.from_date >= 366 THEN
    RAISE EXCEPTION 'refusing to refresh % days at once', refresh_results.to_date - refresh_results.from_date + 1
      USING ERRCODE = 'program_limit_exceeded',
            HINT = 'Refresh at most a year per call; each day reads that day''s readings once.';
  END IF;
  -- one refresh at a time: two would delete each other's rows
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('meter_etl.refresh_results', 7411));
  -- each meter's span in the store: from its first stored reading (the
  -- ingest extents) to its newest
  CREATE TEMP TABLE me_dq_span ON COMMIT DROP AS
  SELECT m.meter_key, m.meter_id, m.interval_s, f.first_ts, m.last_reading_at AS last_ts
    FROM meter_etl.meter m
   CROSS JOIN LATERAL (SELECT min(e.ts_min) AS first_ts FROM meter_etl.ingest_extent e
                        WHERE e.meter_key = m.meter_key) f;
  -- the latest successful run of each file: what its accounting is
  CREATE TEMP TABLE me_dq_run ON COMMIT DROP AS
  SELECT DISTINCT ON (i.file_id) i.file_id, i.run_id
    FROM meter_etl.ingest_run i WHERE i.status = 'ok' ORDER BY i.file_id, i.run_id DESC;
  FOR d IN SELECT g::date FROM pg_catalog.generate_series(refresh_results.from_date::timestamp,
                                                          refresh_results.to_date::timestamp, interval '1 day') g
  LOOP
    v_lo := d::timestamp AT TIME ZONE 'UTC';
    v_hi := (d + 1)::timestamp AT TIME ZONE 'UTC';
    -- the day's readings per meter: one pass over the day's partition
    CREATE TEMP TABLE me_dq_read ON COMMIT DROP AS
    SELECT s.meter_key, count(*)::integer AS channels, sum(s.n)::integer AS clean,
           sum(s.se)::integer AS source_estimated, min(s.lo) AS first_ts, max(s.hi) AS last_ts
      FROM (SELECT r.meter_key, r.channel_id, count(*) AS n, count(*) FILTER (WHERE r.flags & 16 <> 0) AS se,
                   min(r.ts) AS lo, max(r.ts) AS hi
              FROM meter_etl.reading r WHERE r.ts >= v_lo AND r.ts < v_hi
             GROUP BY r.meter_key, r.channel_id) s
     GROUP BY s.meter_key;
    -- expected: every slot of the day within the meter's span (its first
    -- to its newest reading), once per channel it read that day (at least one)
    DELETE FROM meter_etl.dq_meter_day x WHERE x.day = d;
    INSERT INTO meter_etl.dq_meter_day (day, meter_key, channels, expected, clean, quarantined, estimated,
                                        source_estimated, missing)
    SELECT d, a.meter_key, a.channels, a.expected, a.clean, coalesce(q.n, 0), coalesce(e.n, 0),
           a.source_estimated, greatest(a.expected - a.clean, 0)
      FROM (SELECT s.meter_key, coalesce(x.channels, 1) AS channels,
                   (coalesce(x.channels, 1) * greatest(0, extract(epoch FROM
                      least(v_hi, greatest(s.last_ts, x.last_ts) + make_interval(secs => s.interval_s))
                      - greatest(v_lo, least(s.first_ts, x.first_ts))) / s.interval_s))::integer AS expected,
                   coalesce(x.clean, 0) AS clean, coalesce(x.source_estimated, 0) AS source_estimated
              FROM me_dq_span s
              LEFT JOIN me_dq_read x USING (meter_key)
             WHERE x.meter_key IS NOT NULL OR (s.first_ts < v_hi AND s.last_ts >= v_lo)) a
      LEFT JOIN (SELECT s.meter_key, count(*)::integer AS n
                   FROM meter_etl.quarantine qq JOIN me_dq_span s ON s.meter_id = qq.meter_id
                  WHERE qq.ts >= v_lo AND qq.ts < v_hi GROUP BY s.meter_key) q USING (meter_key)
      LEFT JOIN (SELECT ee.meter_key, count(*)::integer AS n
                   FROM meter_etl.estimate ee
                  WHERE ee.ts >= v_lo AND ee.ts < v_hi
                    AND NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                                     WHERE r.meter_key = ee.meter_key AND r.channel_id = ee.channel_id AND r.ts = ee.ts)
                  GROUP BY ee.meter_key) e USING (meter_key);
    -- per file: the day's stored readings and their delay from the end of
    -- their interval to the staging of their file (a second pass)
    CREATE TEMP TABLE me_dq_delay ON COMMIT DROP AS
    SELECT r.file_id::bigint AS file_id, count(*) AS clean,
           percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP
             (ORDER BY extract(epoch FROM f.received_at - r.ts) - s.interval_s) AS p
      FROM meter_etl.reading r
      JOIN meter_etl.raw_file f ON f.file_id = r.file_id
      JOIN me_dq_span s ON s.meter_key = r.meter_key
     WHERE r.ts >= v_lo AND r.ts < v_hi
     GROUP BY GROUPING SETS ((r.file_id), ());
    CREATE TEMP TABLE me_dq_quar ON COMMIT DROP AS
    SELECT q.file_id, q.reason, count(*) AS n
      FROM meter_etl.quarantine q WHERE q.ts >= v_lo AND q.ts < v_hi
     GROUP BY q.file_id, q.reason;
    CREATE TEMP TABLE me_dq_dup ON COMMIT DROP AS
    SELECT r.file_id, g.rows_duplicate AS n
      FROM meter_etl.ingest_day g JOIN me_dq_run r ON r.run_id = g.ingest_run_id
     WHERE g.day = d AND g.rows_duplicate > 0;
    DELETE FROM meter_etl.dq_file_day x WHERE x.day = d;
    INSERT INTO meter_etl.dq_file_day (day, file_id, expected, received, clean, quarantined,
                                       quarantined_by_reason, duplicates, missing, delay_median_hours, delay_p95_hours)
    SELECT d, k.file_id, coalesce(x.n, 0), c.n + qn.n + coalesce(u.n, 0), c.n, qn.n, qn.by_reason,
           coalesce(u.n, 0), greatest(coalesce(x.n, 0) - (c.n + qn.n + coalesce(u.n, 0)), 0),
           y.p[1] / 3600, y.p[2] / 3600
      FROM (SELECT y.file_id FROM me_dq_delay y WHERE y.file_id IS NOT NULL
            UNION SELECT q.file_id FROM me_dq_quar q WHERE q.file_id IS NOT NULL
            UNION SELECT u.file_id FROM me_dq_dup u) k
      LEFT JOIN me_dq_delay y ON y.file_id = k.file_id
      LEFT JOIN me_dq_dup u ON u.file_id = k.file_id
      CROSS JOIN LATERAL (SELECT coalesce(y.clean, 0) AS n) c
      CROSS JOIN LATERAL (SELECT coalesce(sum(q.n), 0)::bigint AS n,
                                 coalesce(jsonb_object_agg(q.reason, q.n ORDER BY q.reason)
                                            FILTER (WHERE q.reason IS NOT NULL), '{}') AS by_reason
                            FROM me_dq_quar q WHERE q.file_id = k.file_id) qn
      -- the slots of the day within the spans the file's run stored per meter
      LEFT JOIN LATERAL (SELECT sum(coalesce(rd.channels, 1) * greatest(0, extract(epoch FROM
                                  least(v_hi, e.ts_max + make_interval(secs => s.interval_s))
                                  - greatest(v_lo, e.ts_min)) / s.interval_s))::bigint AS n
                           FROM me_dq_run rn
                           JOIN meter_etl.ingest_extent e ON e.ingest_run_id = rn.run_id
                           JOIN me_dq_span s ON s.meter_key = e.meter_key
                           LEFT JOIN me_dq_read rd ON rd.meter_key = e.meter_key
                          WHERE rn.file_id = k.file_id AND e.ts_min < v_hi AND e.ts_max >= v_lo) x ON true;
    DELETE FROM meter_etl.dq_day x WHERE x.day = d;
    INSERT INTO meter_etl.dq_day (day, meters_active, expected, received, clean, quarantined, quarantined_by_reason,
                                  duplicates, estimated, source_estimated, missing, delay_median_hours, delay_p95_hours)
    SELECT d, count(*), coalesce(sum(m.expected), 0), coalesce(sum(m.clean), 0) + qa.n + du.n,
           coalesce(sum(m.clean), 0), qa.n, qa.by_reason, du.n, coalesce(sum(m.estimated), 0),
           coalesce(sum(m.source_estimated), 0), coalesce(sum(m.missing), 0),
           (SELECT y.p[1] / 3600 FROM me_dq_delay y WHERE y.file_id IS NULL),
           (SELECT y.p[2] / 3600 FROM me_dq_delay y WHERE y.file_id IS NULL)
      FROM meter_etl.dq_meter_day m
     CROSS JOIN (SELECT coalesce(sum(t.n), 0)::bigint AS n,
                        coalesce(jsonb_object_agg(t.reason, t.n ORDER BY t.reason), '{}') AS by_reason
                   FROM (SELECT q.reason, sum(q.n) AS n FROM me_dq_quar q GROUP BY q.reason) t) qa
     CROSS JOIN (SELECT coalesce(sum(u.n), 0)::bigint AS n FROM me_dq_dup u) du
     WHERE m.day = d
     GROUP BY qa.n, qa.by_reason, du.n;
    -- the day's top half-hours of fleet demand
    DELETE FROM meter_etl.peak_day x WHERE x.day = d;
    INSERT INTO meter_etl.peak_day (day, rank, period_start, period_end, demand_kw, meters_counted)
    SELECT d, p.rank, p.period_start, p.period_end, p.demand_kw, p.meters_counted
      FROM meter_etl.peak_periods(v_lo, v_hi, interval '30 minutes', 10, false, NULL, 'import', true, 'UTC') p;
    RETURN QUERY
    SELECT d, y.meters_active, y.expected, y.clean, (SELECT count(*)::integer FROM meter_etl.peak_day p WHERE p.day = d)
      FROM meter_etl.dq_day y WHERE y.day = d;
    DROP TABLE me_dq_read, me_dq_delay, me_dq_quar, me_dq_dup;
  END LOOP;
  DROP TABLE me_dq_span, me_dq_run;
END
$$;
COMMENT ON FUNCTION refresh_results(date, date) IS
  'Compute the data-quality scorecard (dq_day, dq_file_day, dq_meter_day) and the daily peaks (peak_day) of the UTC dates [from_date, to_date], replacing what they held: each day''s readings are read twice (per meter, per file). Schedule it after detection, e.g. nightly for the last two days';

-- ----------------------------------------------------------------------
-- The result views (the contract sql/view_contract.sql pins)
-- ----------------------------------------------------------------------

CREATE VIEW v_dq_day AS
SELECT y.day, y.meters_active, y.expected, y.received, y.clean, y.quarantined, y.quarantined_by_reason,
       y.duplicates, y.estimated, y.source_estimated, y.missing,
       round(100.0 * y.clean / nullif(y.expected, 0), 2) AS completeness_pct,
       round(100.0 * y.clean / nullif(y.clean + y.quarantined, 0), 2) AS validity_pct,
       y.delay_median_hours, y.delay_p95_hours, y.computed_at,
       EXISTS (SELECT 1 FROM archive_change c WHERE c.day = y.day AND c.changed_at > y.computed_at) AS stale
  FROM dq_day y;
COMMENT ON VIEW v_dq_day IS
  'Data-quality scorecard per UTC day (refresh_results() computes it): readings expected from each active meter''s interval, received, clean, quarantined by reason, duplicates, estimated, missing; completeness and validity; timeliness';
COMMENT ON COLUMN v_dq_day.day IS 'UTC date';
COMMENT ON COLUMN v_dq_day.meters_active IS 'Meters active that day: the day overlaps the span from their first to their newest stored reading, or they read that day';
COMMENT ON COLUMN v_dq_day.expected IS 'Readings expected: per active meter, the day''s interval slots within its span, times the channels it read that day (at least one)';
COMMENT ON COLUMN v_dq_day.received IS 'Readings received for the day: clean + quarantined + duplicates';
COMMENT ON COLUMN v_dq_day.clean IS 'Readings of the day in the clean store';
COMMENT ON COLUMN v_dq_day.quarantined IS 'Quarantined readings whose timestamp falls on the day (readings without a readable timestamp are counted per file in v_file_accounting only)';
COMMENT ON COLUMN v_dq_day.quarantined_by_reason IS 'The quarantined readings by reason code: {"reason": count}';
COMMENT ON COLUMN v_dq_day.duplicates IS 'Exact duplicates of stored readings that ingest dropped (latest ingest of each file)';
COMMENT ON COLUMN v_dq_day.estimated IS 'Slots filled by meter_etl''s estimates (meter_etl.estimate) for want of a reading';
COMMENT ON COLUMN v_dq_day.source_estimated IS 'Clean readings the source marked estimated (flag source_estimated)';
COMMENT ON COLUMN v_dq_day.missing IS 'Expected slots without a clean reading (estimated ones included)';
COMMENT ON COLUMN v_dq_day.completeness_pct IS 'clean / expected, in percent';
COMMENT ON COLUMN v_dq_day.validity_pct IS 'clean / (clean + quarantined), in percent';
COMMENT ON COLUMN v_dq_day.delay_median_hours IS 'Median delay, in hours, from the end of a clean reading''s interval to the staging of its raw file';
COMMENT ON COLUMN v_dq_day.delay_p95_hours IS '95th percentile of that delay, in hours';
COMMENT ON COLUMN v_dq_day.computed_at IS 'When refresh_results() computed the day';
COMMENT ON COLUMN v_dq_day.stale IS 'The day''s readings or estimates changed after computed_at: refresh it';

CREATE VIEW v_dq_file_day AS
SELECT y.day, y.file_id, f.file_name, f.received_at, y.expected, y.received, y.clean, y.quarantined,
       y.quarantined_by_reason, y.duplicates, y.missing,
       round(100.0 * y.clean / nullif(y.expected, 0), 2) AS completeness_pct,
       round(100.0 * y.clean / nullif(y.clean + y.quarantined, 0), 2) AS validity_pct,
       y.delay_median_hours, y.delay_p95_hours
  FROM dq_file_day y JOIN raw_file f USING (file_id);
COMMENT ON VIEW v_dq_file_day IS
  'Data-quality scorecard per UTC day and raw file (refresh_results() computes it): what the file brought for the day against the slots of its span';
COMMENT ON COLUMN v_dq_file_day.day IS 'UTC date';
COMMENT ON COLUMN v_dq_file_day.file_id IS 'Raw file (meter_etl.raw_file)';
COMMENT ON COLUMN v_dq_file_day.file_name IS 'The file''s name as received';
COMMENT ON COLUMN v_dq_file_day.received_at IS 'When the file was staged';
COMMENT ON COLUMN v_dq_file_day.expected IS 'Slots of the day within the span the file''s ingest stored per meter (first to last reading), times the meter''s channels that day';
COMMENT ON COLUMN v_dq_file_day.received IS 'Readings of the day the file held: clean + quarantined + duplicates';
COMMENT ON COLUMN v_dq_file_day.clean IS 'Readings of the day stored from the file';
COMMENT ON COLUMN v_dq_file_day.quarantined IS 'Readings of the day from the file that were quarantined';
COMMENT ON COLUMN v_dq_file_day.quarantined_by_reason IS 'The quarantined readings by reason code: {"reason": count}';
COMMENT ON COLUMN v_dq_file_day.duplicates IS 'Exact duplicates in the file of readings already stored';
COMMENT ON COLUMN v_dq_file_day.missing IS 'Slots of its span the file held no reading for: expected - received, not below 0';
COMMENT ON COLUMN v_dq_file_day.completeness_pct IS 'clean / expected, in percent';
COMMENT ON COLUMN v_dq_file_day.validity_pct IS 'clean / (clean + quarantined), in percent';
COMMENT ON COLUMN v_dq_file_day.delay_median_hours IS 'Median delay, in hours, from the end of a reading''s interval to the file''s staging';
COMMENT ON COLUMN v_dq_file_day.delay_p95_hours IS '95th percentile of that delay, in hours';

CREATE VIEW v_dq_meter_day AS
SELECT y.day, m.meter_id, y.channels, y.expected, y.clean, y.quarantined, y.estimated, y.source_estimated, y.missing,
       round(100.0 * y.clean / nullif(y.expected, 0), 2) AS completeness_pct,
       round(100.0 * y.clean / nullif(y.clean + y.quarantined, 0), 2) AS validity_pct
  FROM dq_meter_day y JOIN meter m USING (meter_key);
COMMENT ON VIEW v_dq_meter_day IS
  'Data-quality scorecard per meter and UTC day (refresh_results() computes it; dq_meters() ranks a range)';
COMMENT ON COLUMN v_dq_meter_day.day IS 'UTC date';
COMMENT ON COLUMN v_dq_meter_day.meter_id IS 'Meter id';
COMMENT ON COLUMN v_dq_meter_day.channels IS 'Channels the meter read that day (1 if none)';
COMMENT ON COLUMN v_dq_meter_day.expected IS 'The day''s interval slots within the meter''s span, times channels';
COMMENT ON COLUMN v_dq_meter_day.clean IS 'Readings of the day in the clean store';
COMMENT ON COLUMN v_dq_meter_day.quarantined IS 'Quarantined readings of the meter whose timestamp falls on the day';
COMMENT ON COLUMN v_dq_meter_day.estimated IS 'Slots filled by meter_etl''s estimates';
COMMENT ON COLUMN v_dq_meter_day.source_estimated IS 'Clean readings the source marked estimated';
COMMENT ON COLUMN v_dq_meter_day.missing IS 'Expected slots without a clean reading';
COMMENT ON COLUMN v_dq_meter_day.completeness_pct IS 'clean / expected, in percent';
COMMENT ON COLUMN v_dq_meter_day.validity_pct IS 'clean / (clean + quarantined), in percent';

-- Reads the view, not the tables: a reader may call it.
CREATE FUNCTION dq_meters(from_date date, to_date date)
RETURNS TABLE (rank integer, meter_id text, days integer, expected bigint, clean bigint, quarantined bigint,
               estimated bigint, source_estimated bigint, missing bigint,
               completeness_pct numeric, validity_pct numeric)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  IF dq_meters.from_date IS NULL OR dq_meters.to_date IS NULL THEN
    RAISE EXCEPTION 'from_date and to_date must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF dq_meters.from_date > dq_meters.to_date THEN
    RAISE EXCEPTION 'from_date must not be later than to_date' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
  SELECT (row_number() OVER (ORDER BY a.completeness_pct NULLS LAST, a.validity_pct NULLS LAST,
                                      a.missing DESC, a.meter_id))::integer, a.*
    FROM (SELECT v.meter_id, count(*)::integer AS days, sum(v.expected)::bigint AS expected,
                 sum(v.clean)::bigint AS clean, sum(v.quarantined)::bigint AS quarantined,
                 sum(v.estimated)::bigint AS estimated, sum(v.source_estimated)::bigint AS source_estimated,
                 sum(v.missing)::bigint AS missing,
                 round(100.0 * sum(v.clean) / nullif(sum(v.expected), 0), 2) AS completeness_pct,
                 round(100.0 * sum(v.clean) / nullif(sum(v.clean) + sum(v.quarantined), 0), 2) AS validity_pct
            FROM meter_etl.v_dq_meter_day v
           WHERE v.day BETWEEN dq_meters.from_date AND dq_meters.to_date
           GROUP BY v.meter_id) a
   ORDER BY 1;
END
$$;
COMMENT ON FUNCTION dq_meters(date, date) IS
  'The data-quality scorecard per meter over the UTC dates [from_date, to_date] (as refresh_results() stored them), worst first: lowest completeness, then lowest validity, then most missing';

CREATE VIEW v_meter AS
SELECT m.meter_id, coalesce(m.time_zone, 'UTC') AS time_zone, m.interval_s / 60 AS interval_minutes,
       f.first_reading_at, m.last_reading_at,
       (SELECT array_agg(c.name ORDER BY c.channel_id) FROM meter_status s JOIN channel c USING (channel_id)
         WHERE s.meter_key = m.meter_key) AS channels,
       NULL::text AS segment, m.created_at
  FROM meter m
 CROSS JOIN LATERAL (SELECT min(e.ts_min) AS first_reading_at FROM ingest_extent e
                      WHERE e.meter_key = m.meter_key) f;
COMMENT ON VIEW v_meter IS 'Meter dimension: one row per meter';
COMMENT ON COLUMN v_meter.meter_id IS 'Meter id as the files name it';
COMMENT ON COLUMN v_meter.time_zone IS 'IANA time zone of the meter''s profile (UTC when it had none): the zone of its local days';
COMMENT ON COLUMN v_meter.interval_minutes IS 'Reading interval in minutes';
COMMENT ON COLUMN v_meter.first_reading_at IS 'Earliest reading stored by ingest';
COMMENT ON COLUMN v_meter.last_reading_at IS 'Newest reading stored by ingest';
COMMENT ON COLUMN v_meter.channels IS 'Channels detection has seen for the meter (NULL before its first detection)';
COMMENT ON COLUMN v_meter.segment IS 'Customer segment: always NULL until meter segmentation exists (kept so that dashboards need no change then)';
COMMENT ON COLUMN v_meter.created_at IS 'When the meter was first registered';

CREATE VIEW v_meter_health AS
SELECT m.meter_id, c.name AS channel, s.status, s.reason, s.since, s.as_of, s.last_reading_ts AS last_reading_at,
       (SELECT count(*) FROM fault f WHERE f.meter_key = s.meter_key AND f.channel_id = s.channel_id
           AND f.ongoing AND f.kind <> 'usage_anomaly')::integer AS open_faults,
       round((SELECT count(*) FROM estimate e WHERE e.meter_key = s.meter_key AND e.channel_id = s.channel_id
                 AND e.ts >= s.as_of - interval '7 days' AND e.ts < s.as_of)
             / (7 * 86400.0 / m.interval_s), 4) AS estimated_share_7d
  FROM meter_status s
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id);
COMMENT ON VIEW v_meter_health IS
  'Meter health per meter channel as of its latest detection: status, last reading, open fault episodes and the share of the last 7 days'' slots that are estimates';
COMMENT ON COLUMN v_meter_health.meter_id IS 'Meter id';
COMMENT ON COLUMN v_meter_health.channel IS 'Channel name';
COMMENT ON COLUMN v_meter_health.status IS 'ok, faulty or offline (meter_status)';
COMMENT ON COLUMN v_meter_health.reason IS 'The fault kind when faulty or offline, NULL when ok';
COMMENT ON COLUMN v_meter_health.since IS 'Start of the current episode; when ok, the end of the last one (NULL if never faulty)';
COMMENT ON COLUMN v_meter_health.as_of IS 'End of the latest detection range the status reflects';
COMMENT ON COLUMN v_meter_health.last_reading_at IS 'Newest reading detection saw for the channel';
COMMENT ON COLUMN v_meter_health.open_faults IS 'Fault episodes still going (usage anomalies are not faults)';
COMMENT ON COLUMN v_meter_health.estimated_share_7d IS 'Estimated slots / all slots of the 7 days before as_of (0-1)';

CREATE VIEW v_peak_period AS
SELECT p.day, p.rank, p.period_start, p.period_end, p.demand_kw, p.meters_counted,
       y.meters_active, y.meters_active - p.meters_counted AS meters_excluded
  FROM peak_day p LEFT JOIN dq_day y USING (day);
COMMENT ON VIEW v_peak_period IS
  'The top 10 half-hours of fleet import demand of each UTC day refresh_results() computed (rank 1 = the highest)';
COMMENT ON COLUMN v_peak_period.day IS 'UTC date';
COMMENT ON COLUMN v_peak_period.rank IS 'Rank within the day, 1 = the highest demand';
COMMENT ON COLUMN v_peak_period.period_start IS 'Start of the half-hour (timestamptz)';
COMMENT ON COLUMN v_peak_period.period_end IS 'End of the half-hour (timestamptz)';
COMMENT ON COLUMN v_peak_period.demand_kw IS 'Fleet demand in kW: the sum over meters of their mean kW in the half-hour, estimates included';
COMMENT ON COLUMN v_peak_period.meters_counted IS 'Meters whose readings made the demand';
COMMENT ON COLUMN v_peak_period.meters_active IS 'Meters active that day (v_dq_day)';
COMMENT ON COLUMN v_peak_period.meters_excluded IS 'Active meters not counted: left out for a fault episode or a long gap that day, or without a reading in the half-hour';

CREATE VIEW v_daily_peak AS
SELECT p.day, p.period_start, p.period_end, p.demand_kw, p.meters_counted, p.meters_active, p.meters_excluded
  FROM v_peak_period p WHERE p.rank = 1;
COMMENT ON VIEW v_daily_peak IS 'Each UTC day''s highest half-hour of fleet import demand (rank 1 of v_peak_period)';
COMMENT ON COLUMN v_daily_peak.day IS 'UTC date';
COMMENT ON COLUMN v_daily_peak.period_start IS 'Start of the peak half-hour (timestamptz)';
COMMENT ON COLUMN v_daily_peak.period_end IS 'End of the peak half-hour (timestamptz)';
COMMENT ON COLUMN v_daily_peak.demand_kw IS 'Fleet demand in kW in that half-hour';
COMMENT ON COLUMN v_daily_peak.meters_counted IS 'Meters whose readings made the demand';
COMMENT ON COLUMN v_daily_peak.meters_active IS 'Meters active that day';
COMMENT ON COLUMN v_daily_peak.meters_excluded IS 'Active meters not counted (fault, long gap, no reading)';

SELECT pg_catalog.pg_extension_config_dump('ingest_day', '');
SELECT pg_catalog.pg_extension_config_dump('dq_day', '');
SELECT pg_catalog.pg_extension_config_dump('dq_file_day', '');
SELECT pg_catalog.pg_extension_config_dump('dq_meter_day', '');
SELECT pg_catalog.pg_extension_config_dump('peak_day', '');

-- ======================================================================
-- Energy by time-of-use period (the rollups' hours mapped to a tariff)
-- ======================================================================
-- Each hour of a meter's rollup goes to the tariff's period at the hour's
-- start in the meter's zone, as tou_period_of() maps it (tou_period_pick:
-- holidays, validity, periods past midnight).  The view covers every tariff: filter on tariff and
-- meter_id (a meter-year is 8,760 hour lookups per tariff).

CREATE VIEW v_energy_tou_day AS
SELECT t.tariff, h.meter_id, h.channel, h.local_date, x.period,
       sum(h.energy_kwh) AS energy_kwh, count(*)::integer AS hours,
       sum(h.readings)::integer AS readings, sum(h.estimated)::integer AS estimated
  FROM (SELECT t.tariff, t.default_period, t.holidays_as_weekend,
               (SELECT array_agg(p) FROM tou_period p WHERE p.tariff = t.tariff) AS periods
          FROM tou_tariff t) t
 CROSS JOIN v_consumption_hour h
  JOIN meter m ON m.meter_id = h.meter_id
 CROSS JOIN LATERAL (SELECT h.hour_start AT TIME ZONE coalesce(m.time_zone, 'UTC') AS lt,
                            coalesce(m.time_zone, 'UTC') AS tz) l
 CROSS JOIN LATERAL (
       SELECT meter_etl.tou_period_pick(t.periods, t.default_period, l.lt::date, l.lt::time,
                (SELECT CASE WHEN t.holidays_as_weekend AND count(hd.day) > 0 THEN 7
                             ELSE extract(isodow FROM l.lt::date)::integer END
                   FROM holiday hd WHERE hd.time_zone = l.tz AND hd.day = l.lt::date),
                (SELECT CASE WHEN t.holidays_as_weekend AND count(hd.day) > 0 THEN 7
                             ELSE extract(isodow FROM l.lt::date - 1)::integer END
                   FROM holiday hd WHERE hd.time_zone = l.tz AND hd.day = l.lt::date - 1)) AS period) x
 GROUP BY t.tariff, h.meter_id, h.channel, h.local_date, x.period;
COMMENT ON VIEW v_energy_tou_day IS
  'Energy per tariff, meter, channel, local day and time-of-use period (from the hourly rollups; filter on tariff and meter_id)';
COMMENT ON COLUMN v_energy_tou_day.tariff IS 'Tariff (tou_tariff)';
COMMENT ON COLUMN v_energy_tou_day.meter_id IS 'Meter id';
COMMENT ON COLUMN v_energy_tou_day.channel IS 'Channel name';
COMMENT ON COLUMN v_energy_tou_day.local_date IS 'Local date in the meter''s zone';
COMMENT ON COLUMN v_energy_tou_day.period IS 'The tariff''s period at the start of each hour summed';
COMMENT ON COLUMN v_energy_tou_day.energy_kwh IS 'Energy in kWh in the period that day, estimates included';
COMMENT ON COLUMN v_energy_tou_day.hours IS 'Hours of the day with data in the period';
COMMENT ON COLUMN v_energy_tou_day.readings IS 'Readings (actuals)';
COMMENT ON COLUMN v_energy_tou_day.estimated IS 'Estimates';
GRANT SELECT, INSERT, UPDATE, DELETE ON v_energy_tou_day TO meter_etl_admin;
GRANT SELECT ON v_energy_tou_day TO meter_etl_reader;
REVOKE ALL ON FUNCTION tou_period_pick(tou_period[], text, date, time, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tou_period_pick(tou_period[], text, date, time, integer, integer)
   TO meter_etl_admin, meter_etl_reader;

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

-- privileges as 90_roles.sql gives them
REVOKE ALL ON FUNCTION calendar_days(text, date, date, text), calendar(text, date, date),
       tou_period_check(), tou_period_of(text, text, timestamptz), tou_calendar(text, text, date, date),
       refresh_results(date, date), dq_meters(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION calendar_days(text, date, date, text), calendar(text, date, date),
      tou_period_check(), tou_period_of(text, text, timestamptz), tou_calendar(text, text, date, date),
      refresh_results(date, date), dq_meters(date, date) TO meter_etl_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON holiday, calendar_zone, tou_tariff, tou_period, ingest_day,
      dq_day, dq_file_day, dq_meter_day, peak_day TO meter_etl_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON v_calendar, v_tou_period, v_meter, v_meter_health, v_dq_day,
      v_dq_file_day, v_dq_meter_day, v_peak_period, v_daily_peak TO meter_etl_admin;
GRANT SELECT ON v_calendar, v_tou_period, v_meter, v_meter_health, v_dq_day, v_dq_file_day, v_dq_meter_day,
      v_peak_period, v_daily_peak TO meter_etl_reader;
GRANT EXECUTE ON FUNCTION calendar_days(text, date, date, text), dq_meters(date, date) TO meter_etl_reader;


-- ======================================================================
-- Gaps and outages that began before what a run read (issue 17)
-- ======================================================================
-- Files delivered day by day leave a silent meter out of the runs of the
-- days it was silent: a gap or an outage that began before what a run read
-- starts after the series' previous reading (previous_reading()), a gap
-- out of a run's sight is not deleted by it, and an episode left open is
-- closed once a reading follows it.  detect_apply() as in a fresh install.
CREATE FUNCTION previous_reading(meter_key integer, channel_id smallint, before_ts timestamptz,
                                 interval_s integer)
RETURNS timestamptz
LANGUAGE sql STABLE STRICT
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
  -- off-grid readings are no reading for gaps, as for the fill
  SELECT r.ts FROM meter_etl.reading r
   WHERE r.meter_key = previous_reading.meter_key AND r.channel_id = previous_reading.channel_id
     AND r.ts < previous_reading.before_ts
     AND (extract(epoch FROM r.ts)::bigint % previous_reading.interval_s) = 0
   ORDER BY r.ts DESC LIMIT 1
$$;
COMMENT ON FUNCTION previous_reading(integer, smallint, timestamptz, integer) IS
  'Internal: the last reading on its interval grid of a meter channel before before_ts, or NULL: where a gap or an outage that began before what detect() read starts';

CREATE OR REPLACE FUNCTION detect_apply(run_id bigint, from_ts timestamptz, to_ts timestamptz, meter_keys integer[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
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

  -- gaps: a gap whose start lies before what was read starts after the
  -- series' previous reading, as one run over both would find it (files
  -- delivered day by day leave a meter out of the runs of the days it was
  -- silent, so its outage can end runs after the one that saw it begin);
  -- with no reading before, it keeps the start recorded earlier
  CREATE TEMP TABLE me_detect_gap ON COMMIT DROP AS
  SELECT x.meter_key, x.channel_id, x.start_ts, x.end_ts,
         (extract(epoch FROM x.end_ts - x.start_ts) / x.interval_s)::bigint AS intervals, x.kind
    FROM (SELECT d.meter_key, d.channel_id, d.end_ts, m.interval_s,
                 coalesce(b.ts + make_interval(secs => m.interval_s), p.start_ts,
                          CASE WHEN d.open_start THEN greatest(d.ts, v_from) ELSE d.ts END) AS start_ts,
                 CASE WHEN b.ts IS NULL AND (p.start_ts IS NULL OR p.kind IN ('leading', 'no_data')) THEN d.kind
                      WHEN d.kind = 'leading' THEN 'long'
                      WHEN d.kind = 'no_data' THEN 'trailing'
                      ELSE d.kind END AS kind
            FROM me_detect d
            JOIN meter_etl.meter m ON m.meter_key = d.meter_key
            -- (only episodes that start before what was read pay the probe)
            LEFT JOIN LATERAL (SELECT CASE WHEN d.open_start
                                           THEN meter_etl.previous_reading(d.meter_key, d.channel_id, d.ts, m.interval_s)
                                      END AS ts) b ON true
            LEFT JOIN LATERAL (SELECT g.start_ts, g.kind FROM meter_etl.gap g
                                WHERE d.open_start AND g.meter_key = d.meter_key AND g.channel_id = d.channel_id
                                  AND g.start_ts < d.ts AND g.end_ts >= d.ts
                                ORDER BY g.start_ts LIMIT 1) p ON true
           WHERE d.item = 'gap') x;
  DELETE FROM meter_etl.gap g
   WHERE g.end_ts > v_lo AND g.start_ts < v_to AND (v_keys IS NULL OR g.meter_key = ANY (v_keys))
     -- a gap that ended before from_ts and began before the day read ahead
     -- of it is out of this run's sight (it finds long gaps between readings
     -- it read): only a run that read its start can drop it
     AND NOT (g.end_ts <= v_from AND g.start_ts < v_from - interval '1 day')
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

  -- fault episodes, same rule for starts before what was read: an outage
  -- starts after the series' previous reading, or else continues one
  -- recorded earlier (missing readings before what was read may be before
  -- the meter existed: an outage from there starts at from_ts)
  CREATE TEMP TABLE me_detect_fault ON COMMIT DROP AS
  SELECT x.meter_key, x.channel_id, x.kind, x.start_ts, x.end_ts, x.ongoing,
         -- an outage continuing before what was read: its evidence is the whole
         -- outage's when no reading lies in it (what one run over it says)
         CASE WHEN x.kind = 'offline' AND x.earlier
                   AND NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                                    WHERE r.meter_key = x.meter_key AND r.channel_id = x.channel_id
                                      AND r.ts >= x.start_ts AND r.ts < x.end_ts)
              THEN meter_etl.outage_evidence(x.start_ts, x.end_ts, x.interval_s)
              ELSE x.evidence END AS evidence,
         x.partial
    FROM (SELECT d.meter_key, d.channel_id, d.kind, d.end_ts, d.open_end AS ongoing, d.evidence, d.partial,
                 d.open_start, m.interval_s, b.ts IS NOT NULL OR p.start_ts IS NOT NULL AS earlier,
                 coalesce(b.ts + make_interval(secs => m.interval_s), p.start_ts,
                          CASE WHEN d.open_start AND d.kind = 'offline' THEN greatest(d.ts, v_from)
                               ELSE d.ts END) AS start_ts
            FROM me_detect d
            JOIN meter_etl.meter m ON m.meter_key = d.meter_key
            LEFT JOIN LATERAL (SELECT CASE WHEN d.open_start AND d.kind = 'offline'
                                           THEN meter_etl.previous_reading(d.meter_key, d.channel_id, d.ts, m.interval_s)
                                      END AS ts) b ON true
            LEFT JOIN LATERAL (SELECT f.start_ts FROM meter_etl.fault f
                                WHERE d.open_start AND f.meter_key = d.meter_key AND f.channel_id = d.channel_id
                                  AND f.kind = d.kind AND f.start_ts < d.ts AND f.end_ts >= d.ts
                                ORDER BY f.start_ts LIMIT 1) p ON true
           WHERE d.item = 'fault') x
   -- a silence from the start of what was read, with nothing before it, is
   -- an outage only once it lasts offline_min within the range
   WHERE NOT (x.kind = 'offline' AND x.open_start AND NOT x.earlier AND x.end_ts - x.start_ts < v_offline);
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
  -- an episode a run left open because it read nothing after it is over
  -- once a reading follows it (what one run over both says); a later run
  -- that reads the series but not the episode closes it
  UPDATE meter_etl.fault f SET ongoing = false
   WHERE f.ongoing AND f.kind IN ('stuck_zero', 'flatline', 'offline')
     AND f.end_ts < v_to AND (v_keys IS NULL OR f.meter_key = ANY (v_keys))
     AND EXISTS (SELECT 1 FROM me_detect d
                  WHERE d.item = 'series' AND d.meter_key = f.meter_key AND d.channel_id = f.channel_id)
     AND EXISTS (SELECT 1 FROM meter_etl.reading r
                  WHERE r.meter_key = f.meter_key AND r.channel_id = f.channel_id
                    AND r.ts >= f.end_ts AND r.ts < v_to);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_flt_u := v_flt_u + v_n;

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

REVOKE ALL ON FUNCTION previous_reading(integer, smallint, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION previous_reading(integer, smallint, timestamptz, integer) TO meter_etl_admin;

-- detection runs without JIT (10_detect.sql says why)
ALTER FUNCTION detect(timestamp with time zone,timestamp with time zone,text[]) SET jit = off;
ALTER FUNCTION detect_apply(bigint,timestamp with time zone,timestamp with time zone,integer[]) SET jit = off;
ALTER FUNCTION detect_compute(timestamp with time zone,timestamp with time zone,integer[]) SET jit = off;
ALTER FUNCTION detect_faulty_meters(timestamp with time zone,timestamp with time zone,text[],text[],interval,interval,interval,integer,double precision,double precision,integer,interval,integer,integer) SET jit = off;
ALTER FUNCTION detect_pending(integer) SET jit = off;
ALTER FUNCTION fleet_levels(timestamp with time zone,timestamp with time zone,timestamp with time zone,integer) SET jit = off;
ALTER FUNCTION fleet_reference_set(bigint,timestamp with time zone,timestamp with time zone) SET jit = off;
ALTER FUNCTION interpolate(timestamp with time zone,timestamp with time zone,text[],interval,boolean) SET jit = off;
ALTER FUNCTION peak_periods(timestamp with time zone,timestamp with time zone,interval,integer,boolean,text[],text,boolean,text) SET jit = off;
ALTER FUNCTION rolling_outliers(timestamp with time zone,timestamp with time zone,text[],text,integer,boolean,double precision,integer,double precision,text,boolean) SET jit = off;


-- ======================================================================
-- Anomaly scores: isolation forest over meter-days (issue #20, anomaly part)
-- ======================================================================

-- ======================================================================
-- Anomaly scores (issue #20): an isolation forest over meter-days
-- (C cores in src/core/predict/, glue in src/pg/predict/)
--
-- Per meter channel and local day seven features (daily energy,
-- peak/mean, night/day, zero share, largest step, residual against the
-- meter's hour-of-week profile and against its peers' profile shape) and
-- an isolation-forest score (Liu, Ting & Zhou 2008) in (0, 1], high =
-- unusual.  A separate step, not part of detect(): the forest is fitted
-- over the whole fleet's days of a range, which needs whole local days
-- and two passes over their readings, while detect() runs per file on
-- whatever just arrived.  Schedule score_anomalies() nightly after
-- detect().
-- ======================================================================

CREATE FUNCTION isolation_forest_array(features double precision[],
                                       trees integer DEFAULT 100,
                                       sample_size integer DEFAULT 256,
                                       seed bigint DEFAULT 0)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'meter_etl_isolation_forest_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION isolation_forest_array(double precision[], integer, integer, bigint) IS
  'Isolation-forest scores of any points: features is a 2-D array, one row per point (no NULL, NaN or infinity); trees trees, each on a subsample of min(sample_size, rows) rows drawn without replacement, depth limit ceil(log2 subsample); returns each row''s score 2^(-E[h]/c(subsample)) in (0, 1] in row order (0.5 for identical rows), deterministic for a seed';

CREATE FUNCTION anomaly_scores(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL,
                               trees integer DEFAULT 100,
                               sample_size integer DEFAULT 256,
                               seed bigint DEFAULT 0)
RETURNS TABLE (meter_id text, channel_id smallint, day date, score double precision, features jsonb)
AS 'MODULE_PATHNAME', 'meter_etl_anomaly_scores'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION anomaly_scores(timestamptz, timestamptz, text[], integer, integer, bigint) IS
  'Isolation-forest score of every whole local day (meter.time_zone) in [from_ts, to_ts) of each meter channel with readings for at least half its slots, one forest per channel over all those meter-days; features: energy_kwh (mean kW x day hours), peak_mean, night_day (00-06 local / rest), zero_share, max_step_kw, own_resid (RMS against the meter''s hour-of-week means / its mean kW), peer_resid (RMS of the day''s shape against the peers'' hour-of-week shape), and the counts readings, expected, flagged (outlier or suspect_meter) and estimated (source-estimated); readings of meter_etl.reading only (meter_etl.estimate is not read)';

-- ---------------------------------------------------------------- persisted scores

CREATE TABLE anomaly_run (
    run_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_ts       timestamptz NOT NULL,
    to_ts         timestamptz NOT NULL,
    meters        integer,
    trees         integer NOT NULL,
    sample_size   integer NOT NULL,
    seed          bigint NOT NULL,
    days_scored   bigint NOT NULL DEFAULT 0,
    days_replaced bigint NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz
);
COMMENT ON TABLE anomaly_run IS
  'One row per score_anomalies() call: the range, the forest''s parameters, and how many meter-days it scored and replaced';
COMMENT ON COLUMN anomaly_run.meters IS 'Number of meters asked for; NULL = the whole fleet';
COMMENT ON COLUMN anomaly_run.days_replaced IS 'Stored meter-days of the range deleted before the new scores were written';

CREATE TABLE anomaly_score (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    day        date NOT NULL,
    score      double precision NOT NULL CHECK (score > 0 AND score <= 1),
    features   jsonb NOT NULL,
    run_id     bigint NOT NULL,
    PRIMARY KEY (meter_key, channel_id, day)
);
CREATE INDEX anomaly_score_day_idx ON anomaly_score (day, channel_id, score DESC);
COMMENT ON TABLE anomaly_score IS
  'Isolation-forest score of each meter channel''s local day, as the latest score_anomalies() over that day stored it (scores are relative to the meter-days that run fitted on)';
COMMENT ON COLUMN anomaly_score.day IS 'Local date in the meter''s time zone';
COMMENT ON COLUMN anomaly_score.score IS 'Isolation-forest score in (0, 1]: near 1 unusual, about 0.5 or below usual';
COMMENT ON COLUMN anomaly_score.features IS 'The day''s features and counts, as anomaly_scores() returns them';
COMMENT ON COLUMN anomaly_score.run_id IS 'The meter_etl.anomaly_run that wrote the row';

CREATE FUNCTION score_anomalies(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL,
                                trees integer DEFAULT 100,
                                sample_size integer DEFAULT 256,
                                seed bigint DEFAULT 0)
RETURNS anomaly_run
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_run meter_etl.anomaly_run;
  v_n   bigint;
BEGIN
  -- anomaly_scores() checks everything else (range, sizes, unknown meters)
  IF from_ts IS NULL OR to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF trees IS NULL OR sample_size IS NULL OR seed IS NULL THEN
    RAISE EXCEPTION 'trees, sample_size and seed must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- one scoring at a time: they replace the same rows
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('meter_etl.score_anomalies', 7411));
  INSERT INTO meter_etl.anomaly_run (from_ts, to_ts, meters, trees, sample_size, seed)
  VALUES (from_ts, to_ts, pg_catalog.cardinality(meters), trees, sample_size, seed)
  RETURNING * INTO v_run;
  -- the range's stored days: whole local days of the meters in scope, as anomaly_scores() picks them
  DELETE FROM meter_etl.anomaly_score s USING meter_etl.meter m
   WHERE m.meter_key = s.meter_key
     AND (meters IS NULL OR m.meter_id = ANY (meters))
     AND (s.day::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC')) >= from_ts
     AND ((s.day + 1)::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC')) <= to_ts;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  UPDATE meter_etl.anomaly_run r SET days_replaced = v_n WHERE r.run_id = v_run.run_id;
  INSERT INTO meter_etl.anomaly_score (meter_key, channel_id, day, score, features, run_id)
  SELECT m.meter_key, a.channel_id, a.day, a.score, a.features, v_run.run_id
    FROM meter_etl.anomaly_scores(from_ts, to_ts, meters, trees, sample_size, seed) a
    JOIN meter_etl.meter m ON m.meter_id = a.meter_id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  UPDATE meter_etl.anomaly_run r SET days_scored = v_n, finished_at = pg_catalog.clock_timestamp()
   WHERE r.run_id = v_run.run_id RETURNING * INTO v_run;
  RETURN v_run;
END
$$;
COMMENT ON FUNCTION score_anomalies(timestamptz, timestamptz, text[], integer, integer, bigint) IS
  'Score the whole local days in [from_ts, to_ts) with anomaly_scores() and store them in meter_etl.anomaly_score, replacing the range''s stored days of the meters in scope (idempotent for a range and seed); returns the anomaly_run row. A separate step, not called by detect()';

-- the top anomalies of each local day, for BI
CREATE VIEW v_anomaly_top AS
SELECT t.day, t.rank, m.meter_id, c.name AS channel, t.score, t.features, t.run_id
  FROM (SELECT s.meter_key, s.channel_id, s.day, s.score, s.features, s.run_id,
               pg_catalog.row_number() OVER (PARTITION BY s.day, s.channel_id
                                             ORDER BY s.score DESC, s.meter_key) AS rank
          FROM meter_etl.anomaly_score s) t
  JOIN meter_etl.meter m ON m.meter_key = t.meter_key
  JOIN meter_etl.channel c ON c.channel_id = t.channel_id
 WHERE t.rank <= 10;
COMMENT ON VIEW v_anomaly_top IS
  'The ten highest isolation-forest scores of each local day and channel (meter_etl.anomaly_score), ranked';
COMMENT ON COLUMN v_anomaly_top.day IS 'Local date in the meter''s time zone';
COMMENT ON COLUMN v_anomaly_top.rank IS 'Rank within the day and channel, 1 = most unusual (ties by meter)';
COMMENT ON COLUMN v_anomaly_top.meter_id IS 'Meter id';
COMMENT ON COLUMN v_anomaly_top.channel IS 'Channel name (import, export, net, solar, ...)';
COMMENT ON COLUMN v_anomaly_top.score IS 'Isolation-forest score in (0, 1]: near 1 unusual';
COMMENT ON COLUMN v_anomaly_top.features IS 'Why: energy_kwh (kWh), peak_mean, night_day, zero_share (0-1), max_step_kw (kW), own_resid, peer_resid (dimensionless), and the counts readings, expected, flagged, estimated';
COMMENT ON COLUMN v_anomaly_top.run_id IS 'The meter_etl.anomaly_run that scored the day';

SELECT pg_catalog.pg_extension_config_dump('anomaly_run', '');
SELECT pg_catalog.pg_extension_config_dump('anomaly_score', '');

-- privileges as 90_roles.sql gives them
REVOKE ALL ON FUNCTION isolation_forest_array(double precision[], integer, integer, bigint),
       anomaly_scores(timestamptz, timestamptz, text[], integer, integer, bigint),
       score_anomalies(timestamptz, timestamptz, text[], integer, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION isolation_forest_array(double precision[], integer, integer, bigint),
      anomaly_scores(timestamptz, timestamptz, text[], integer, integer, bigint),
      score_anomalies(timestamptz, timestamptz, text[], integer, integer, bigint) TO meter_etl_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON anomaly_run, anomaly_score, v_anomaly_top TO meter_etl_admin;
GRANT USAGE, SELECT ON SEQUENCE anomaly_run_run_id_seq TO meter_etl_admin;
GRANT SELECT ON v_anomaly_top TO meter_etl_reader;
GRANT EXECUTE ON FUNCTION isolation_forest_array(double precision[], integer, integer, bigint)
   TO meter_etl_reader;

-- Analytics: load-profile segmentation (issue 20)
-- ======================================================================
-- v_meter is rebuilt by 74_segments.sql with the segment joined (its
-- segment column becomes an integer), so the 0.2 v_meter made above goes
-- first; the grants 90_roles.sql gives it are repeated below.
DROP VIEW v_meter;
-- ======================================================================
-- Analytics: load-profile segmentation (issue 20)
-- (C cores src/core/predict/kmeans.c and loadprofile.c, glue
--  src/pg/predict/segments.c)
--
-- load_profiles() computes every meter's mean normalised daily profile
-- (weekdays and weekends apart), clusters them with k-means and keeps the
-- latest segmentation in meter_segment and segment_profile; v_meter shows
-- each meter's segment, v_segment_profile the segments' shapes.
-- ======================================================================

CREATE SEQUENCE segment_run_seq;
COMMENT ON SEQUENCE segment_run_seq IS 'Run ids of load_profiles() (meter_segment.run_id)';

CREATE TABLE meter_segment (
    meter_key   integer PRIMARY KEY REFERENCES meter (meter_key) ON DELETE CASCADE,
    segment     integer NOT NULL CHECK (segment >= 1),
    distance    double precision NOT NULL CHECK (distance >= 0),
    notes       text[] NOT NULL DEFAULT '{}',
    run_id      bigint NOT NULL,
    from_ts     timestamptz NOT NULL,
    to_ts       timestamptz NOT NULL,
    k           integer NOT NULL CHECK (k >= 1),
    computed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE meter_segment IS
  'The latest load-profile segmentation (load_profiles()): one row per meter that had readings in the range; each run replaces the previous one';
COMMENT ON COLUMN meter_segment.segment IS 'Segment 1 .. k, numbered by size (1 = the most meters)';
COMMENT ON COLUMN meter_segment.distance IS 'Euclidean distance of the meter''s normalised profile to its segment''s centroid';
COMMENT ON COLUMN meter_segment.notes IS
  'What the profile made up: zero_load (a day type read all zero: flat profile), slots_interpolated (slots without readings), no_weekday / no_weekend (the other day type stands in)';
COMMENT ON COLUMN meter_segment.run_id IS 'The load_profiles() run (segment_run_seq)';
COMMENT ON COLUMN meter_segment.from_ts IS 'Start of the readings the run profiled';
COMMENT ON COLUMN meter_segment.to_ts IS 'End (exclusive) of the readings the run profiled';
COMMENT ON COLUMN meter_segment.k IS 'Number of segments asked for';

CREATE TABLE segment_profile (
    segment    integer NOT NULL CHECK (segment >= 1),
    day_type   text NOT NULL CHECK (day_type IN ('weekday', 'weekend')),
    slot       integer NOT NULL CHECK (slot >= 0),
    slot_start time NOT NULL,
    value      double precision NOT NULL,
    run_id     bigint NOT NULL,
    PRIMARY KEY (segment, day_type, slot)
);
COMMENT ON TABLE segment_profile IS
  'Centroids of the latest segmentation as daily profiles: the mean normalised load of the segment''s meters per local slot of day (1 = the day type''s mean)';

SELECT pg_catalog.pg_extension_config_dump('meter_segment', '');
SELECT pg_catalog.pg_extension_config_dump('segment_profile', '');
SELECT pg_catalog.pg_extension_config_dump('segment_run_seq', '');

CREATE FUNCTION kmeans_array(points double precision[], k integer,
                             restarts integer DEFAULT 10,
                             seed bigint DEFAULT 0,
                             OUT labels integer[], OUT inertia double precision,
                             OUT centroids double precision[])
RETURNS record
AS 'MODULE_PATHNAME', 'meter_etl_kmeans_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION kmeans_array(double precision[], integer, integer, bigint) IS
  'k-means of the rows of a two-dimensional array (one point per row): greedy k-means++ seeding, Lloyd iterations, the best of restarts runs by inertia, deterministic for a seed; labels 1 .. k numbered by cluster size (1 = the largest), inertia the within-cluster sum of squares, centroids a k x d array';

CREATE FUNCTION load_profiles(from_ts timestamptz, to_ts timestamptz, k integer, meters text[] DEFAULT NULL,
                              restarts integer DEFAULT 10,
                              seed bigint DEFAULT 0)
RETURNS TABLE (run_id bigint, segment integer, meters integer, inertia double precision,
               mean_distance double precision)
AS 'MODULE_PATHNAME', 'meter_etl_load_profiles'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION load_profiles(timestamptz, timestamptz, integer, text[], integer, bigint) IS
  'Segments meters by the shape of their day: each meter''s mean daily profile of its import channel (net without one) over [from_ts, to_ts), weekdays and weekends apart, at the coarsest interval in scope, each divided by its mean absolute load; k-means (kmeans_array) over the profiles; replaces meter_segment and segment_profile and returns one row per segment (its meters, within-segment sum of squares and mean distance to the centroid)';

CREATE FUNCTION meter_profiles(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL)
RETURNS TABLE (meter_id text, profile double precision[], notes text[])
AS 'MODULE_PATHNAME', 'meter_etl_meter_profiles'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION meter_profiles(timestamptz, timestamptz, text[]) IS
  'The profiles load_profiles() clusters, one row per meter with readings in [from_ts, to_ts): weekday slots then weekend slots at the coarsest interval in scope, each day type divided by its mean absolute load; notes as meter_segment.notes';

CREATE VIEW v_segment_profile AS
SELECT p.segment, p.day_type, p.slot_start, p.value, coalesce(c.meters, 0) AS meters, p.run_id
  FROM meter_etl.segment_profile p
  LEFT JOIN (SELECT s.segment, count(*)::integer AS meters FROM meter_etl.meter_segment s
              GROUP BY s.segment) c USING (segment);
COMMENT ON VIEW v_segment_profile IS
  'Load-profile segments of the latest load_profiles() run: each segment''s normalised daily profile, one row per segment, day type and local slot';
COMMENT ON COLUMN v_segment_profile.segment IS 'Segment 1 .. k (v_meter.segment), 1 = the most meters';
COMMENT ON COLUMN v_segment_profile.day_type IS 'weekday (Monday to Friday) or weekend (Saturday, Sunday), in the meter''s local time';
COMMENT ON COLUMN v_segment_profile.slot_start IS 'Local time of day the slot starts';
COMMENT ON COLUMN v_segment_profile.value IS 'Normalised load: the slot''s mean load over the day type''s mean absolute load (1 = average, 2 = twice the average, negative = export)';
COMMENT ON COLUMN v_segment_profile.meters IS 'Meters in the segment';
COMMENT ON COLUMN v_segment_profile.run_id IS 'The load_profiles() run';

-- The meter dimension with each meter's segment (NULL before the first
-- load_profiles() or for a meter without readings in its range).
CREATE VIEW v_meter AS
SELECT m.meter_id, coalesce(m.time_zone, 'UTC') AS time_zone, m.interval_s / 60 AS interval_minutes,
       f.first_reading_at, m.last_reading_at,
       (SELECT array_agg(c.name ORDER BY c.channel_id) FROM meter_etl.meter_status s
          JOIN meter_etl.channel c USING (channel_id)
         WHERE s.meter_key = m.meter_key) AS channels,
       g.segment, m.created_at
  FROM meter_etl.meter m
  LEFT JOIN meter_etl.meter_segment g USING (meter_key)
 CROSS JOIN LATERAL (SELECT min(e.ts_min) AS first_reading_at FROM meter_etl.ingest_extent e
                      WHERE e.meter_key = m.meter_key) f;
COMMENT ON VIEW v_meter IS 'Meter dimension: one row per meter';
COMMENT ON COLUMN v_meter.meter_id IS 'Meter id as the files name it';
COMMENT ON COLUMN v_meter.time_zone IS 'IANA time zone of the meter''s profile (UTC when it had none): the zone of its local days';
COMMENT ON COLUMN v_meter.interval_minutes IS 'Reading interval in minutes';
COMMENT ON COLUMN v_meter.first_reading_at IS 'Earliest reading stored by ingest';
COMMENT ON COLUMN v_meter.last_reading_at IS 'Newest reading stored by ingest';
COMMENT ON COLUMN v_meter.channels IS 'Channels detection has seen for the meter (NULL before its first detection)';
COMMENT ON COLUMN v_meter.segment IS 'Load-profile segment of the latest load_profiles() run (v_segment_profile), NULL until the meter is segmented';
COMMENT ON COLUMN v_meter.created_at IS 'When the meter was first registered';

REVOKE ALL ON FUNCTION kmeans_array(double precision[], integer, integer, bigint),
      load_profiles(timestamptz, timestamptz, integer, text[], integer, bigint),
      meter_profiles(timestamptz, timestamptz, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kmeans_array(double precision[], integer, integer, bigint),
      load_profiles(timestamptz, timestamptz, integer, text[], integer, bigint),
      meter_profiles(timestamptz, timestamptz, text[]) TO meter_etl_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON meter_segment, segment_profile, v_meter, v_segment_profile
   TO meter_etl_admin;
GRANT USAGE, SELECT ON SEQUENCE segment_run_seq TO meter_etl_admin;
GRANT SELECT ON v_meter TO meter_etl_reader;
-- Analytics, load-profile segmentation (issue 20): readers see the segments
-- (v_meter.segment, v_segment_profile) and may cluster their own arrays;
-- load_profiles() writes meter_segment, so it stays the admin's.
GRANT SELECT ON v_segment_profile TO meter_etl_reader;
GRANT EXECUTE ON FUNCTION kmeans_array(double precision[], integer, integer, bigint) TO meter_etl_reader;

-- ======================================================================
-- Load forecasting (issue 20, forecast part): forecast_model, forecast_point,
-- forecast_array(), forecast(), forecast_backtest(), forecast_backtest_array(),
-- forecast_run() and v_forecast_vs_actual, as src/sql/76_forecast.sql installs them
-- ======================================================================

CREATE TABLE forecast_model (
    model_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_key    integer,
    channel_id   smallint,
    group_name   text,
    method       text NOT NULL CHECK (method IN ('hw2', 'snaive')),
    interval_s   integer NOT NULL CHECK (interval_s > 0),
    weekly       boolean NOT NULL,
    alpha        double precision NOT NULL,
    delta        double precision NOT NULL,
    omega        double precision NOT NULL,
    phi          double precision NOT NULL,
    sigma        double precision NOT NULL,
    n            integer NOT NULL,
    evals        integer NOT NULL,
    history_from timestamptz NOT NULL,
    history_to   timestamptz NOT NULL,
    fitted_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((group_name IS NULL) = (meter_key IS NOT NULL AND channel_id IS NOT NULL)),
    CHECK (group_name IS NULL OR (meter_key IS NULL AND channel_id IS NULL))
);
CREATE UNIQUE INDEX forecast_model_meter_idx ON forecast_model (meter_key, channel_id, method)
  WHERE group_name IS NULL;
CREATE UNIQUE INDEX forecast_model_group_idx ON forecast_model (group_name, method)
  WHERE group_name IS NOT NULL;
COMMENT ON TABLE forecast_model IS
  'Fitted forecasting parameters, one row per series (a meter channel, or a group total such as fleet) and method; forecast() reuses a row for 7 days (refit => true fits anew)';
COMMENT ON COLUMN forecast_model.group_name IS 'Name of a total: fleet, or meters: and the sorted meter ids; NULL for a meter channel';
COMMENT ON COLUMN forecast_model.weekly IS 'Whether the weekly season is in use (the history held at least 2 weeks)';
COMMENT ON COLUMN forecast_model.alpha IS 'Level smoothing, in (0, 1)';
COMMENT ON COLUMN forecast_model.delta IS 'Daily-season smoothing, in (0, 1)';
COMMENT ON COLUMN forecast_model.omega IS 'Weekly-season smoothing, in (0, 1); 0 without the weekly season';
COMMENT ON COLUMN forecast_model.phi IS 'AR(1) coefficient of the Holt-Winters errors, in (-1, 1)';
COMMENT ON COLUMN forecast_model.sigma IS 'Root mean square of the one-step errors over the history fitted, kW';
COMMENT ON COLUMN forecast_model.n IS 'Slots of history fitted';
COMMENT ON COLUMN forecast_model.evals IS 'Objective evaluations the fit spent';

CREATE TABLE forecast_point (
    series      text NOT NULL,
    method      text NOT NULL,
    ts          timestamptz NOT NULL,
    meter_id    text,
    channel     text,
    interval_s  integer NOT NULL,
    forecast_kw double precision NOT NULL,
    lo80        double precision NOT NULL,
    hi80        double precision NOT NULL,
    lo95        double precision NOT NULL,
    hi95        double precision NOT NULL,
    made_at     timestamptz NOT NULL DEFAULT now(),
    model_id    bigint,
    actual_kw   double precision,
    PRIMARY KEY (series, method, ts)
);
CREATE INDEX forecast_point_ts_idx ON forecast_point (ts);
COMMENT ON TABLE forecast_point IS
  'Forecasts written by forecast_run(): one row per series, method and slot; a later run replaces the forecast of a slot it covers again';
COMMENT ON COLUMN forecast_point.actual_kw IS
  'The fleet total: the actual total over the slot, filled in by forecast_run() once its history_to is past the slot (and refreshed for the 2 days before it, for late readings); NULL for meter channels, whose actuals v_forecast_vs_actual reads from reading';

-- fits and forecasts are user data: dumped with the database
SELECT pg_catalog.pg_extension_config_dump('forecast_model', '');
SELECT pg_catalog.pg_extension_config_dump('forecast_point', '');

-- ---------------------------------------------------------------- functions

CREATE FUNCTION forecast_array(ts timestamptz[], kw double precision[], horizon interval DEFAULT '1 day',
                               time_zone text DEFAULT 'UTC', method text DEFAULT 'hw2',
                               step interval DEFAULT '15 minutes')
RETURNS TABLE (ts timestamptz, forecast_kw double precision, lo80 double precision, hi80 double precision,
               lo95 double precision, hi95 double precision)
AS 'MODULE_PATHNAME', 'meter_etl_forecast_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION forecast_array(timestamptz[], double precision[], interval, text, text, interval) IS
  'Forecast of any series for horizon after its last step, with 80 % and 95 % prediction intervals: ts strictly ascending, kw NULL for a missing value (filled from the same slot last week, else yesterday); seasons follow the local clock of time_zone; method hw2 (double-seasonal Holt-Winters with AR(1) errors) or snaive (same slot last week)';

CREATE FUNCTION forecast(meters text[] DEFAULT NULL,
                         history_from timestamptz DEFAULT pg_catalog.now() - interval '56 days',
                         history_to timestamptz DEFAULT pg_catalog.now(),
                         horizon interval DEFAULT '1 day', method text DEFAULT 'hw2',
                         fleet boolean DEFAULT false, refit boolean DEFAULT false)
RETURNS TABLE (series text, meter_id text, channel text, ts timestamptz, forecast_kw double precision,
               lo80 double precision, hi80 double precision, lo95 double precision, hi95 double precision,
               model_id bigint, interval_s integer)
AS 'MODULE_PATHNAME', 'meter_etl_forecast'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION forecast(text[], timestamptz, timestamptz, interval, text, boolean, boolean) IS
  'Forecast for horizon after history_to at each meter channel''s interval, from the readings (and estimates) in [history_from, history_to), holes filled from the same slot last week; or, with fleet, of the total of the meters'' import channels (all meters when meters is NULL). Fitted parameters are kept in forecast_model (model_id) and reused unless refit, older than 7 days or fitted on a history with(out) the weekly season this one lacks (has); interval_s is the step of the series';

CREATE FUNCTION forecast_backtest(meters text[] DEFAULT NULL,
                                  from_ts timestamptz DEFAULT pg_catalog.now() - interval '56 days',
                                  to_ts timestamptz DEFAULT pg_catalog.now(),
                                  days integer DEFAULT 28,
                                  method text DEFAULT 'hw2', fleet boolean DEFAULT false)
RETURNS TABLE (series text, n bigint, mae double precision, rmse double precision, mase double precision,
               mape double precision)
AS 'MODULE_PATHNAME', 'meter_etl_forecast_backtest'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION forecast_backtest(text[], timestamptz, timestamptz, integer, text, boolean) IS
  'Rolling-origin day-ahead evaluation on [from_ts, to_ts): each of the last days local days is forecast from its start, the parameters fitted once on the history before the first; MAE and RMSE in kW, MASE against the in-sample seasonal-naive MAE (weekly lag), MAPE in % over actuals at least 10 % of the mean |kW|; one row per series and a (pooled) row';

CREATE FUNCTION forecast_backtest_array(ts timestamptz[], kw double precision[],
                                        days integer DEFAULT 28,
                                        time_zone text DEFAULT 'UTC', method text DEFAULT 'hw2',
                                        step interval DEFAULT '15 minutes')
RETURNS TABLE (n bigint, mae double precision, rmse double precision, mase double precision,
               mape double precision)
AS 'MODULE_PATHNAME', 'meter_etl_forecast_backtest_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION forecast_backtest_array(timestamptz[], double precision[], integer, text, text, interval) IS
  'forecast_backtest() on any series: ts strictly ascending, kw NULL for a missing value (filled as forecast_array() fills it); the last days local days of time_zone are the origins';

CREATE FUNCTION forecast_run(meters text[] DEFAULT NULL, history interval DEFAULT '56 days',
                             horizon interval DEFAULT '1 day', method text DEFAULT 'hw2',
                             fleet boolean DEFAULT true, history_to timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_rows bigint;
  v_lo timestamptz;
  v_hi timestamptz;
  v_iv integer;
BEGIN
  IF history IS NULL OR fleet IS NULL OR history_to IS NULL THEN
    RAISE EXCEPTION '% must not be null',
      CASE WHEN history IS NULL THEN 'history' WHEN fleet IS NULL THEN 'fleet' ELSE 'history_to' END
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF history <= interval '0' THEN
    RAISE EXCEPTION 'history must be positive' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- the fleet's actual total of its past slots: one scan of their readings
  -- (a lookup per slot would scan a day's partition per slot)
  SELECT pg_catalog.min(p.ts), pg_catalog.max(p.ts), pg_catalog.max(p.interval_s) INTO v_lo, v_hi, v_iv
    FROM meter_etl.forecast_point p
   WHERE p.series = 'fleet' AND p.ts >= forecast_run.history_to - forecast_run.history
     AND p.ts + pg_catalog.make_interval(secs => p.interval_s) <= forecast_run.history_to
     AND (p.actual_kw IS NULL OR p.ts >= forecast_run.history_to - interval '2 days');
  IF v_lo IS NOT NULL THEN
    UPDATE meter_etl.forecast_point p SET actual_kw = a.kw
      FROM (SELECT pg_catalog.date_bin(pg_catalog.make_interval(secs => v_iv), r.ts, timestamptz '2000-01-01 UTC') AS slot,
                   pg_catalog.sum(r.kw * m.interval_s) / v_iv AS kw
              FROM meter_etl.reading r JOIN meter_etl.meter m ON m.meter_key = r.meter_key
             WHERE r.channel_id = 1 AND r.ts >= v_lo AND r.ts < v_hi + pg_catalog.make_interval(secs => v_iv)
             GROUP BY 1) a
     WHERE p.series = 'fleet' AND p.ts = a.slot AND p.ts BETWEEN v_lo AND v_hi AND p.interval_s = v_iv
       AND (p.actual_kw IS NULL OR p.ts >= forecast_run.history_to - interval '2 days');
  END IF;
  -- the meter channels, and with fleet their total (the second call runs only then)
  INSERT INTO meter_etl.forecast_point (series, method, ts, meter_id, channel, interval_s, forecast_kw,
                                        lo80, hi80, lo95, hi95, made_at, model_id)
  SELECT f.series, forecast_run.method, f.ts, f.meter_id, f.channel, f.interval_s, f.forecast_kw,
         f.lo80, f.hi80, f.lo95, f.hi95, pg_catalog.now(), f.model_id
    FROM (SELECT * FROM meter_etl.forecast(forecast_run.meters, forecast_run.history_to - forecast_run.history,
                                           forecast_run.history_to, forecast_run.horizon, forecast_run.method)
          UNION ALL
          SELECT * FROM meter_etl.forecast(forecast_run.meters, forecast_run.history_to - forecast_run.history,
                                           forecast_run.history_to, forecast_run.horizon, forecast_run.method,
                                           fleet => true)
           WHERE forecast_run.fleet) f
  ON CONFLICT ON CONSTRAINT forecast_point_pkey DO UPDATE
     SET forecast_kw = excluded.forecast_kw, lo80 = excluded.lo80, hi80 = excluded.hi80,
         lo95 = excluded.lo95, hi95 = excluded.hi95, made_at = excluded.made_at,
         model_id = excluded.model_id, interval_s = excluded.interval_s;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  RETURN v_rows;
END
$$;
COMMENT ON FUNCTION forecast_run(text[], interval, interval, text, boolean, timestamptz) IS
  'Scheduled step (pg_cron): forecasts every meter channel (or those in meters) and, with fleet, their import total for horizon after history_to from the history before it, into forecast_point, and fills in the fleet''s actual total of past slots; returns the forecast rows written';

-- ---------------------------------------------------------------- view

CREATE VIEW v_forecast_vs_actual AS
SELECT p.series, p.meter_id, p.channel, p.method, p.ts,
       p.ts AT TIME ZONE coalesce(m.time_zone, 'UTC') AS ts_local,
       p.forecast_kw, p.lo80, p.hi80, p.lo95, p.hi95,
       a.kw AS actual_kw, a.kw - p.forecast_kw AS error_kw,
       p.made_at, p.model_id
  FROM meter_etl.forecast_point p
  LEFT JOIN meter_etl.meter m ON m.meter_id = p.meter_id
  LEFT JOIN meter_etl.channel c ON c.name = p.channel
  LEFT JOIN LATERAL (
    SELECT CASE WHEN p.meter_id IS NULL THEN p.actual_kw
                ELSE (SELECT r.kw FROM meter_etl.reading r
                       WHERE r.meter_key = m.meter_key AND r.channel_id = c.channel_id AND r.ts = p.ts)
           END AS kw) a ON true;
COMMENT ON VIEW v_forecast_vs_actual IS
  'Forecasts written by forecast_run() beside the readings that came: per series and slot the forecast, its 80 % and 95 % intervals, the actual kW and the error';
COMMENT ON COLUMN v_forecast_vs_actual.series IS 'Series forecast: meter_id:channel, or the name of a total (fleet)';
COMMENT ON COLUMN v_forecast_vs_actual.meter_id IS 'Meter of the series; NULL for a total';
COMMENT ON COLUMN v_forecast_vs_actual.channel IS 'Channel of the series; NULL for a total (the import channels)';
COMMENT ON COLUMN v_forecast_vs_actual.method IS 'hw2 (double-seasonal Holt-Winters) or snaive (seasonal naive)';
COMMENT ON COLUMN v_forecast_vs_actual.ts IS 'Start of the slot (UTC instant)';
COMMENT ON COLUMN v_forecast_vs_actual.ts_local IS 'Start of the slot on the meter''s local clock (UTC for a total)';
COMMENT ON COLUMN v_forecast_vs_actual.forecast_kw IS 'Forecast average power over the slot, kW';
COMMENT ON COLUMN v_forecast_vs_actual.lo80 IS 'Lower bound of the 80 % prediction interval, kW';
COMMENT ON COLUMN v_forecast_vs_actual.hi80 IS 'Upper bound of the 80 % prediction interval, kW';
COMMENT ON COLUMN v_forecast_vs_actual.lo95 IS 'Lower bound of the 95 % prediction interval, kW';
COMMENT ON COLUMN v_forecast_vs_actual.hi95 IS 'Upper bound of the 95 % prediction interval, kW';
COMMENT ON COLUMN v_forecast_vs_actual.actual_kw IS 'The reading of the slot, kW; for fleet the total of every meter''s import readings over the slot, as forecast_run() filled it in (forecast_point.actual_kw); NULL until known';
COMMENT ON COLUMN v_forecast_vs_actual.error_kw IS 'actual_kw - forecast_kw';
COMMENT ON COLUMN v_forecast_vs_actual.made_at IS 'When forecast_run() wrote the forecast';
COMMENT ON COLUMN v_forecast_vs_actual.model_id IS 'The forecast_model row whose parameters made it';

-- privileges as 90_roles.sql gives them
REVOKE ALL ON FUNCTION forecast_array(timestamptz[], double precision[], interval, text, text, interval),
       forecast(text[], timestamptz, timestamptz, interval, text, boolean, boolean),
       forecast_backtest(text[], timestamptz, timestamptz, integer, text, boolean),
       forecast_backtest_array(timestamptz[], double precision[], integer, text, text, interval),
       forecast_run(text[], interval, interval, text, boolean, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forecast_array(timestamptz[], double precision[], interval, text, text, interval),
      forecast(text[], timestamptz, timestamptz, interval, text, boolean, boolean),
      forecast_backtest(text[], timestamptz, timestamptz, integer, text, boolean),
      forecast_backtest_array(timestamptz[], double precision[], integer, text, text, interval),
      forecast_run(text[], interval, interval, text, boolean, timestamptz) TO meter_etl_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON forecast_model, forecast_point, v_forecast_vs_actual TO meter_etl_admin;
GRANT USAGE, SELECT ON SEQUENCE forecast_model_model_id_seq TO meter_etl_admin;
GRANT SELECT ON v_forecast_vs_actual TO meter_etl_reader;
GRANT EXECUTE ON FUNCTION forecast_array(timestamptz[], double precision[], interval, text, text, interval),
      forecast_backtest_array(timestamptz[], double precision[], integer, text, text, interval)
   TO meter_etl_reader;
