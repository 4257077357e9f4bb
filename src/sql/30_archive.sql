
-- ======================================================================
-- Parquet archive: archive_parquet(), its catalog and failures
-- ======================================================================

CREATE TABLE archive_export (
    export_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset        text NOT NULL,
    from_date      date NOT NULL,
    to_date        date NOT NULL,
    layout         text NOT NULL CHECK (layout IN ('meter_bucket', 'meter_id')),
    buckets        integer,
    compression    text NOT NULL,
    row_group_rows integer NOT NULL,
    line_numbers   boolean NOT NULL,
    status         text NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed')),
    started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at    timestamptz,
    started_by     name NOT NULL DEFAULT session_user,
    days_archived  integer NOT NULL DEFAULT 0,
    days_failed    integer NOT NULL DEFAULT 0,
    files          bigint NOT NULL DEFAULT 0,
    rows           bigint NOT NULL DEFAULT 0,
    bytes          bigint NOT NULL DEFAULT 0,
    snapshot       pg_snapshot
);
COMMENT ON TABLE archive_export IS
  'One row per archive_parquet() call: arguments, outcome and totals; export_id is written into every file''s key/value metadata';
COMMENT ON COLUMN archive_export.status IS
  'ok (every date with readings archived), partial (some dates failed), failed (every date with readings failed)';
COMMENT ON COLUMN archive_export.snapshot IS
  'The snapshot every date of the call was read with: a change in archive_change whose transaction it does not see is missing from the files';

CREATE TABLE archive_manifest (
    path            text PRIMARY KEY,
    dataset         text NOT NULL,
    day             date NOT NULL,
    partition_key   text NOT NULL CHECK (partition_key IN ('meter_bucket', 'meter_id')),
    partition_value text NOT NULL,
    rows            bigint NOT NULL CHECK (rows > 0),
    bytes           bigint NOT NULL,
    meters          integer NOT NULL,
    min_ts          timestamptz NOT NULL,
    max_ts          timestamptz NOT NULL,
    sha256          bytea NOT NULL,
    compression     text NOT NULL,
    schema_version  integer NOT NULL,
    export_id       bigint NOT NULL,
    written_at      timestamptz NOT NULL
);
CREATE INDEX archive_manifest_day_idx ON archive_manifest (dataset, day);
CREATE INDEX archive_manifest_export_idx ON archive_manifest (export_id);
COMMENT ON TABLE archive_manifest IS
  'The Parquet archive''s catalog: one row per published file, replaced with the files when a date is archived again';
COMMENT ON COLUMN archive_manifest.path IS
  'File path relative to meter_etl.archive_dir: [dataset/]date=YYYY-MM-DD/meter_bucket=NN/part-0000.parquet';
COMMENT ON COLUMN archive_manifest.dataset IS 'Subdirectory of meter_etl.archive_dir holding the dataset ('''' = the directory itself)';
COMMENT ON COLUMN archive_manifest.partition_value IS 'Bucket number as in the path (''07''), or the meter id (unescaped)';
COMMENT ON COLUMN archive_manifest.sha256 IS 'SHA-256 of the file''s bytes as written';
COMMENT ON COLUMN archive_manifest.schema_version IS 'Layout of the columns (1: meter_id, channel, ts, kw, quality_flags, estimated, file_id, line_no; 2: the same plus method, with the estimates)';

CREATE TABLE archive_failure (
    failure_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    export_id          bigint NOT NULL,
    dataset            text NOT NULL,
    day                date NOT NULL,
    partition_key      text NOT NULL,
    partition_value    text,
    attempts           integer NOT NULL,
    sqlstate           text,
    last_error         text NOT NULL,
    alert_id           bigint,
    failed_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at        timestamptz,
    resolved_by_export bigint
);
CREATE INDEX archive_failure_open_idx ON archive_failure (dataset, day) WHERE resolved_at IS NULL;
COMMENT ON TABLE archive_failure IS
  'Archive dead letters: dates that could not be archived after every attempt (each with a critical archive_failed alert); resolved when the date is archived later';

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

CREATE FUNCTION archive_parquet(from_date date, to_date date,
                                buckets integer DEFAULT NULL,
                                partition_by text DEFAULT 'meter_bucket',
                                dataset text DEFAULT '',
                                compression text DEFAULT 'zstd',
                                row_group_rows integer DEFAULT 1048576,
                                line_numbers boolean DEFAULT false)
RETURNS TABLE (day date, status text, files integer, rows bigint, bytes bigint, export_id bigint)
AS 'MODULE_PATHNAME', 'meter_etl_archive_parquet'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;  -- the per-date query is a plain index scan: nothing for JIT to gain
COMMENT ON FUNCTION archive_parquet(date, date, integer, text, text, text, integer, boolean) IS
  'Archive the readings and estimates of UTC dates as Parquet under meter_etl.archive_dir (hive layout date=/meter_bucket= or date=/meter_id=); files replace a date''s earlier ones when the transaction commits';

CREATE FUNCTION archive_drop(from_date date, to_date date, dataset text DEFAULT '')
RETURNS bigint
AS 'MODULE_PATHNAME', 'meter_etl_archive_drop'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION archive_drop(date, date, text) IS
  'Remove the archived files of UTC dates (when the transaction commits) and their manifest rows; returns the number of manifest files removed';

CREATE FUNCTION meter_bucket(meter_id text, buckets integer)
RETURNS integer
AS 'MODULE_PATHNAME', 'meter_etl_meter_bucket'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION meter_bucket(text, integer) IS
  'The meter_bucket archive_parquet() puts a meter in: (hashtextextended(meter_id, 0) & max bigint) % buckets';

CREATE VIEW v_archive_coverage AS
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

-- What a scheduled job runs once a day (schedule(archive_at => ...)).
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

SELECT pg_catalog.pg_extension_config_dump('archive_export', '');
SELECT pg_catalog.pg_extension_config_dump('archive_manifest', '');
SELECT pg_catalog.pg_extension_config_dump('archive_failure', '');
SELECT pg_catalog.pg_extension_config_dump('archive_change', '');

-- Writing server files is for superusers (and pg_write_server_files) only.
REVOKE ALL ON FUNCTION archive_parquet(date, date, integer, text, text, text, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION archive_drop(date, date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION archive_recent(integer, integer, text, integer, text, integer) FROM PUBLIC;
