
-- ======================================================================
-- Reprocessing: reingest() replaces what a raw file stored
-- ======================================================================
-- ingest() of an ingested file changes nothing.  reingest() removes the
-- file's contribution (its readings by lineage, its quarantine rows, what
-- detection derived from them) and ingests it again, in one transaction;
-- the raw zone stays as it is.

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
