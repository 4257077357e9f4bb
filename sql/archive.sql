-- Parquet archive: layout, manifest, replacement, transactions, failures,
-- confinement.  Files are written below the data directory and removed at
-- the end; paths are shown relative to meter_etl.archive_dir.  Directories
-- are made and removed with COPY ... TO PROGRAM (whose commands read their
-- stdin first, so COPY never writes into a closed pipe).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
DROP ROLE IF EXISTS archive_regress_user;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
LOAD 'meter_etl';

SELECT current_setting('data_directory') || '/meter_etl_regress_archive' AS adir \gset
SELECT format('cat >/dev/null; rm -rf %1$s && mkdir -p %1$s/outside && mkdir %1$s/archive && ln -s %1$s/outside %1$s/archive/escape',
              :'adir') AS setup_cmd \gset
COPY (SELECT 1) TO PROGRAM :'setup_cmd';
SELECT :'adir' || '/archive' AS root \gset

-- nothing happens without the setting, and it must be absolute
SET meter_etl.archive_dir = '';
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30');
SET meter_etl.archive_dir = 'relative/dir';
SET meter_etl.archive_dir = :'root';

-- meters with awkward ids, readings through the guard trigger
INSERT INTO meter_etl.meter (meter_id, interval_s) VALUES
  ('A-1', 900), ('B-2', 900), ('Zürich-1', 900), ('é-meter', 900), ('we/ird=id', 3600), ('solo', 900);
INSERT INTO meter_etl.reading (meter_key, channel_id, ts, kw, flags, file_id, line_no)
SELECT m.meter_key, 1, t, round((extract(epoch FROM t) / 3600 % 24)::numeric / 10 + m.meter_key, 3),
       CASE WHEN extract(minute FROM t) = 30 THEN 1 ELSE 0 END, 7, row_number() OVER ()
  FROM meter_etl.meter m,
       generate_series('2024-03-30 00:00+00'::timestamptz, '2024-03-31 23:45+00', interval '15 minutes') t
 WHERE m.interval_s = 900 AND m.meter_id <> 'solo';
INSERT INTO meter_etl.reading (meter_key, channel_id, ts, kw)
SELECT meter_key, 2, '2024-03-31 01:00+00', 0.5 FROM meter_etl.meter WHERE meter_id = 'A-1';
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT meter_key, '2024-03-31 02:00+00', 1.25 FROM meter_etl.meter WHERE meter_id = 'we/ird=id';
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT meter_key, '2024-03-30 12:00+00', 0 FROM meter_etl.meter WHERE meter_id = 'solo';
SELECT count(*) AS readings FROM meter_etl.reading;

-- argument checks
SELECT * FROM meter_etl.archive_parquet('2024-03-31', '2024-03-30');
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', buckets => 0);
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', partition_by => 'meter');
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', compression => 'lz4');
SELECT * FROM meter_etl.archive_parquet('2024-03-30', NULL);
SELECT * FROM meter_etl.archive_parquet('2010-01-01', '2030-01-01');

-- the bucket of a meter is a stable hash of its id
SELECT meter_id, meter_etl.meter_bucket(meter_id, 4) AS bucket FROM meter_etl.meter ORDER BY meter_id COLLATE "C";
SELECT meter_etl.meter_bucket('x', 0);

-- archive three days in 4 buckets: the day without readings is left alone
SELECT day, status, files, rows, bytes > 0 AS has_bytes, export_id
  FROM meter_etl.archive_parquet('2024-03-30', '2024-04-01', buckets => 4);
SELECT path, partition_key, partition_value, rows, meters, min_ts, max_ts, compression,
       schema_version, length(sha256) AS sha_len, export_id
  FROM meter_etl.archive_manifest ORDER BY path;
-- the files are where the manifest says, complete, with the recorded size and hash
SELECT count(*) AS files,
       bool_and((pg_stat_file(:'root' || '/' || path)).size = bytes) AS sizes_match,
       bool_and(sha256(pg_read_binary_file(:'root' || '/' || path)) = sha256) AS hashes_match,
       bool_and(substr(pg_read_binary_file(:'root' || '/' || path, 0, 4), 1, 4) = '\x50415231'::bytea) AS magic
  FROM meter_etl.archive_manifest;
SELECT pg_ls_dir(:'root' || '/date=2024-03-31') AS dir ORDER BY 1;
-- every meter lands in the bucket meter_bucket() names
SELECT bool_and(m.meters = s.meters AND m.rows = s.rows) AS buckets_match
  FROM meter_etl.archive_manifest m,
       LATERAL (SELECT count(DISTINCT r.meter_key) AS meters, count(*) AS rows
                  FROM meter_etl.reading r JOIN meter_etl.meter me USING (meter_key)
                 WHERE r.ts >= m.day AND r.ts < m.day + 1
                   AND meter_etl.meter_bucket(me.meter_id, 4) = m.partition_value::int) s;
SELECT export_id, dataset, from_date, to_date, layout, buckets, compression, row_group_rows,
       line_numbers, status, days_archived, days_failed, files, rows
  FROM meter_etl.archive_export ORDER BY export_id;

-- archiving again with 2 buckets replaces the dates exactly: old buckets go
SELECT day, status, files, rows FROM meter_etl.archive_parquet('2024-03-30', '2024-03-31', buckets => 2);
SELECT pg_ls_dir(:'root' || '/date=2024-03-31') AS dir ORDER BY 1;
SELECT day, count(*) AS files, sum(rows) AS rows, max(export_id) AS export_id
  FROM meter_etl.archive_manifest GROUP BY day ORDER BY day;

-- one partition per meter: ids are escaped in the path, meter_id is not a column
SELECT day, status, files, rows
  FROM meter_etl.archive_parquet('2024-03-31', '2024-03-31', partition_by => 'meter_id',
                                 compression => 'snappy', row_group_rows => 10, line_numbers => true);
SELECT path, partition_value, rows FROM meter_etl.archive_manifest WHERE day = '2024-03-31' ORDER BY path;
SELECT pg_ls_dir(:'root' || '/date=2024-03-31') AS dir ORDER BY 1;

-- files appear only when the transaction commits; a rollback leaves the archive as it was
BEGIN;
SELECT day, status, files FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', buckets => 1);
SELECT pg_ls_dir(:'root' || '/date=2024-03-30/meter_bucket=00') AS dir ORDER BY 1;
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', buckets => 1);
ROLLBACK;
SELECT pg_ls_dir(:'root' || '/date=2024-03-30/meter_bucket=00') AS dir ORDER BY 1;
SELECT count(*) AS files, max(export_id) AS export_id FROM meter_etl.archive_manifest WHERE day = '2024-03-30';
-- a rolled-back savepoint takes its dates with it
BEGIN;
SAVEPOINT s;
SELECT day, status FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', compression => 'none');
ROLLBACK TO SAVEPOINT s;
SELECT day, status FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', dataset => 'sub/set');
COMMIT;
SELECT pg_ls_dir(:'root' || '/date=2024-03-30') AS dir ORDER BY 1;
SELECT dataset, day, count(*) AS files, min(compression) AS compression
  FROM meter_etl.archive_manifest GROUP BY dataset, day ORDER BY dataset, day;
-- a .tmp left by a crash is removed by the next archive of that date
SELECT format('cat > %s/date=2024-03-30/meter_bucket=00/part-0001.parquet.tmp', :'root') AS tmp_cmd \gset
COPY (SELECT 'partial') TO PROGRAM :'tmp_cmd';
SELECT pg_ls_dir(:'root' || '/date=2024-03-30/meter_bucket=00') AS dir ORDER BY 1;
SELECT day, status, files FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', buckets => 2);
SELECT pg_ls_dir(:'root' || '/date=2024-03-30/meter_bucket=00') AS dir ORDER BY 1;

-- a partition that cannot be written: retried, recorded with an alert, the date left as it was
SELECT format('cat >/dev/null; echo blocker > %s/date=2024-03-31/meter_bucket=%s', :'root',
              lpad(meter_etl.meter_bucket('A-1', 2)::text, 2, '0')) AS block_cmd \gset
COPY (SELECT 1) TO PROGRAM :'block_cmd';
SELECT day, status, files, rows FROM meter_etl.archive_parquet('2024-03-31', '2024-03-31', buckets => 2);
SELECT dataset, day, partition_key, partition_value, attempts, sqlstate, last_error,
       alert_id IS NOT NULL AS alerted, resolved_at IS NULL AS open
  FROM meter_etl.archive_failure ORDER BY failure_id;
-- a file where a directory should be needs an operator: no retry, a clear alert
SELECT kind, severity, message, details->>'attempts' AS attempts, details->>'needs_operator' AS needs_operator
  FROM meter_etl.alert ORDER BY alert_id;
SELECT count(*) AS files_kept FROM meter_etl.archive_manifest WHERE day = '2024-03-31';
SELECT pg_ls_dir(:'root' || '/date=2024-03-31') AS dir ORDER BY 1;
SELECT dataset, day, status, files, rows, open_failures FROM meter_etl.v_archive_coverage ORDER BY dataset, day;
SELECT export_id, status, days_archived, days_failed FROM meter_etl.archive_export ORDER BY export_id DESC LIMIT 1;
-- once the obstacle is gone the date archives and the failure is resolved
SELECT format('cat >/dev/null; rm %s/date=2024-03-31/meter_bucket=%s', :'root',
              lpad(meter_etl.meter_bucket('A-1', 2)::text, 2, '0')) AS unblock_cmd \gset
COPY (SELECT 1) TO PROGRAM :'unblock_cmd';
SELECT day, status, files, rows FROM meter_etl.archive_parquet('2024-03-31', '2024-03-31', buckets => 2);
SELECT attempts, resolved_at IS NOT NULL AS resolved, resolved_by_export FROM meter_etl.archive_failure;
SELECT dataset, day, status, files, rows, open_failures FROM meter_etl.v_archive_coverage ORDER BY dataset, day;

-- confinement: no "..", nothing outside the directory, no symlink out, no "=" in dataset names
\set VERBOSITY terse
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', dataset => '../outside');
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', dataset => 'a/../../outside');
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', dataset => '/tmp');
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', dataset => 'escape');
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', dataset => 'date=2024-01-01');
\set VERBOSITY default
SELECT pg_ls_dir(:'adir' || '/outside') AS outside_dir;
-- an absolute path inside the directory is the same dataset as the relative one
SELECT day, status FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', dataset => :'root' || '/sub/set');
SELECT DISTINCT dataset FROM meter_etl.archive_manifest ORDER BY 1;

-- only superusers (and pg_write_server_files) write the archive
CREATE ROLE archive_regress_user;
GRANT meter_etl_admin TO archive_regress_user;
SET ROLE archive_regress_user;
SELECT * FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30');
SELECT * FROM meter_etl.archive_drop('2024-03-30', '2024-03-30');
RESET ROLE;
SET ROLE archive_regress_user;
SET meter_etl.archive_dir = '/tmp';
RESET ROLE;

-- archive_drop removes files (at commit) and manifest rows; the day's directory goes too
SELECT meter_etl.archive_drop('2024-03-30', '2024-03-31', dataset => 'sub/set') AS dropped;
SELECT pg_ls_dir(:'root' || '/sub/set') AS dir ORDER BY 1;
SELECT meter_etl.archive_drop('2024-03-30', '2024-03-30');
SELECT pg_ls_dir(:'root') AS dir ORDER BY 1;
SELECT dataset, day, status, files FROM meter_etl.v_archive_coverage ORDER BY dataset, day;

-- archive_recent(), what the scheduled job runs: the last complete days again, and
-- older days that were never archived (or failed), oldest first, catch_up per call;
-- an empty partition is not due.  Only the older days are shown (the last two
-- days have no readings here and yield one row each).
SELECT meter_etl.create_partitions('2024-03-20', '2024-03-21') IS NOT NULL AS empty_partition;
SELECT day, status, files, rows FROM meter_etl.archive_recent(catch_up => 1, dataset => 'recent')
 WHERE day < '2025-01-01';
SELECT count(*) AS recent_days FROM meter_etl.archive_recent(catch_up => 1, dataset => 'recent')
 WHERE day >= (now() AT TIME ZONE 'UTC')::date - 2;
SELECT day, status, files, rows FROM meter_etl.archive_recent(dataset => 'recent')
 WHERE day < '2025-01-01';
-- an open failure makes its day due again; the archive resolves it
INSERT INTO meter_etl.archive_failure (export_id, dataset, day, partition_key, attempts, last_error)
VALUES (0, 'recent', '2024-03-30', 'meter_bucket', 3, 'disk full');
SELECT day, status, files, rows FROM meter_etl.archive_recent(dataset => 'recent')
 WHERE day < '2025-01-01';
SELECT day, resolved_at IS NOT NULL AS resolved FROM meter_etl.archive_failure WHERE dataset = 'recent';
SELECT day, count(*) AS files, sum(rows) AS rows FROM meter_etl.archive_manifest
 WHERE dataset = 'recent' GROUP BY day ORDER BY day;
SELECT * FROM meter_etl.archive_recent(days => 0);
-- the window is in UTC dates whatever the session's time zone: a reading early
-- on its first day (UTC) must not also make that day a catch-up day
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT meter_key, ((now() AT TIME ZONE 'UTC')::date - 2)::timestamp AT TIME ZONE 'UTC' + interval '2 hours', 1
  FROM meter_etl.meter WHERE meter_id = 'A-1';
SET timezone = 'America/Los_Angeles';
SELECT count(*) AS days, sum(rows) AS rows FROM meter_etl.archive_recent(dataset => 'tz');
RESET timezone;
SET timezone = 'UTC';

-- Late data: every change of the store after a date was archived makes it
-- stale (v_archive_coverage.store_changed_at), and archive_recent() archives
-- stale dates before its window again, oldest first, max_stale_days per call
-- (only those dates are shown: the window's days depend on today's date).
-- Three February days of one meter, archived; then late readings on each.
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT meter_key, t, 1 FROM meter_etl.meter,
       generate_series('2024-02-01 00:00+00'::timestamptz, '2024-02-03 23:00+00', interval '1 hour') t
 WHERE meter_id = 'solo';
SELECT day, status, files, rows FROM meter_etl.archive_parquet('2024-02-01', '2024-02-03', dataset => 'late');
SELECT day, status, rows, store_changed_at IS NOT NULL AS changed
  FROM meter_etl.v_archive_coverage WHERE dataset = 'late' AND day < '2025-01-01' ORDER BY day;
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT meter_key, t, 2 FROM meter_etl.meter,
       unnest(ARRAY['2024-02-01 00:30+00', '2024-02-02 00:30+00', '2024-02-03 00:30+00']::timestamptz[]) t
 WHERE meter_id = 'solo';
SELECT day, source FROM meter_etl.archive_change WHERE day < '2024-03-01' ORDER BY day, source;
SELECT day, status, rows, store_changed_at IS NOT NULL AS changed
  FROM meter_etl.v_archive_coverage WHERE dataset = 'late' AND day < '2025-01-01' ORDER BY day;
-- oldest first, two per call; the third waits for the next call
SELECT day, status, files, rows FROM meter_etl.archive_recent(catch_up => 0, dataset => 'late', max_stale_days => 2)
 WHERE day < '2025-01-01';
SELECT day, status, rows, store_changed_at IS NOT NULL AS changed
  FROM meter_etl.v_archive_coverage WHERE dataset = 'late' AND day < '2025-01-01' ORDER BY day;
SELECT day, status, files, rows FROM meter_etl.archive_recent(catch_up => 0, dataset => 'late', max_stale_days => 2)
 WHERE day < '2025-01-01';
-- nothing is stale now: the next call archives no February day
SELECT count(*) AS february FROM meter_etl.archive_recent(catch_up => 0, dataset => 'late')
 WHERE day < '2024-03-01';
-- the archive equals the store on every date
SELECT c.day, c.status, c.rows,
       (SELECT count(*) FROM meter_etl.reading r
         WHERE r.ts >= c.day::timestamptz AND r.ts < (c.day + 1)::timestamptz) AS store_rows
  FROM meter_etl.v_archive_coverage c WHERE c.dataset = 'late' AND c.day < '2025-01-01' ORDER BY c.day;
-- a flag changed by UPDATE (as detection does) and a reading deleted make
-- dates stale too; a date whose readings are all gone is not due (its files stay)
UPDATE meter_etl.reading SET flags = 2 WHERE ts = '2024-02-02 05:00+00';
DELETE FROM meter_etl.reading WHERE ts >= '2024-02-03' AND ts < '2024-02-04';
SELECT day, status, store_changed_at IS NOT NULL AS changed
  FROM meter_etl.v_archive_coverage WHERE dataset = 'late' AND day < '2025-01-01' ORDER BY day;
SELECT day, status, files, rows FROM meter_etl.archive_recent(catch_up => 0, dataset => 'late', max_stale_days => 1)
 WHERE day < '2025-01-01';
SELECT day, status, rows, store_changed_at IS NOT NULL AS changed
  FROM meter_etl.v_archive_coverage WHERE dataset = 'late' AND day < '2025-01-01' ORDER BY day;
-- ingest records the UTC dates it stored readings for (ingest bypasses the triggers)
SELECT meter_etl.stage('late.csv', convert_to(E'meter_id,timestamp,value,unit\n'
       'solo,2024-02-01T23:45:00Z,1,kW\nsolo,2024-02-02T00:15:00Z,1,kW\n', 'UTF8')) AS late_file \gset
SELECT status, rows_clean FROM meter_etl.ingest(:late_file);
SELECT day, source, count(*) FROM meter_etl.archive_change
 WHERE source = 'ingest' GROUP BY day, source ORDER BY day;
-- the snapshot decides, not the clock: a change whose transaction began after
-- the export's snapshot was taken is missed even when recorded before it finished
SELECT day, status FROM meter_etl.archive_recent(catch_up => 0, dataset => 'late') WHERE day < '2025-01-01';
SELECT count(*) AS stale FROM meter_etl.v_archive_coverage WHERE dataset = 'late' AND status <> 'archived';
INSERT INTO meter_etl.archive_change (day, xid, source, changed_at)
SELECT '2024-02-01', pg_snapshot_xmax(e.snapshot), 'reading', e.started_at
  FROM meter_etl.archive_export e ORDER BY e.export_id DESC LIMIT 1;
SELECT day, status FROM meter_etl.v_archive_coverage WHERE dataset = 'late' AND status <> 'archived';
-- prune_history() drops old changes every archive holds, keeps the ones it misses
UPDATE meter_etl.archive_change SET changed_at = changed_at - interval '60 days';
SELECT meter_etl.prune_history() >= 0 AS pruned;
SELECT day, source FROM meter_etl.archive_change ORDER BY day, source;
SELECT day, status FROM meter_etl.v_archive_coverage WHERE dataset = 'late' AND status <> 'archived';
-- Estimates are archived with the readings (estimated, with their method), in
-- the same order; one for a slot that has an actual reading gives way to it.
-- Writing or removing estimates makes their date stale.
SELECT day, status FROM meter_etl.archive_parquet('2024-02-01', '2024-02-01', dataset => 'late');
INSERT INTO meter_etl.estimate (meter_key, channel_id, ts, kw, method)
SELECT meter_key, 1, v.t, 1.5, v.m FROM meter_etl.meter,
       (VALUES ('2024-02-01 00:15+00'::timestamptz, 'linear'), ('2024-02-01 00:45+00', 'like_day'),
               ('2024-02-01 00:30+00', 'linear')) AS v(t, m)
 WHERE meter_id = 'solo';
SELECT day, source FROM meter_etl.archive_change WHERE source = 'estimate';
SELECT day, status FROM meter_etl.v_archive_coverage WHERE dataset = 'late' AND status <> 'archived';
SELECT day, status, files, rows FROM meter_etl.archive_recent(catch_up => 0, dataset => 'late')
 WHERE day < '2025-01-01';
SELECT m.rows AS archived,
       (SELECT count(*) FROM meter_etl.reading r WHERE r.ts >= '2024-02-01' AND r.ts < '2024-02-02') AS readings
  FROM meter_etl.archive_manifest m WHERE m.dataset = 'late' AND m.day = '2024-02-01';
DELETE FROM meter_etl.estimate WHERE ts = '2024-02-01 00:45+00';
SELECT day, status FROM meter_etl.v_archive_coverage WHERE dataset = 'late' AND status <> 'archived';
SELECT day, status, files, rows FROM meter_etl.archive_recent(catch_up => 0, dataset => 'late')
 WHERE day < '2025-01-01';

-- refusals
SELECT * FROM meter_etl.archive_recent(days => NULL);
SELECT * FROM meter_etl.archive_recent(catch_up => NULL);
SELECT * FROM meter_etl.archive_recent(max_stale_days => NULL);
SELECT * FROM meter_etl.archive_recent(catch_up => -1);
SELECT * FROM meter_etl.archive_recent(max_stale_days => 0);
SELECT * FROM meter_etl.archive_recent(max_stale_days => -3);

-- Two read paths give the same files: a date without its own partition (rows in
-- reading_default, as all dates above) is read through the archive query; a
-- date with one straight from its primary key.  Meter keys here do not follow
-- the ids' order (A-1 .. we/ird=id, é-meter), so both paths also skip rows of
-- meters read by another run.  Column chunks compare byte for byte (the
-- footers differ: each carries its export id).
CREATE TEMP VIEW file_data AS
SELECT m.dataset, m.day, m.partition_value, m.rows, m.meters,
       sha256(substr(b, 1, length(b) - 8 - (get_byte(b, length(b) - 8) + 256 * get_byte(b, length(b) - 7)
                                             + 65536 * get_byte(b, length(b) - 6)))) AS data_sha256
  FROM meter_etl.archive_manifest m, LATERAL pg_read_binary_file(:'root' || '/' || m.path) b;
SELECT day, status, files, rows FROM meter_etl.archive_parquet('2024-03-30', '2024-03-31', dataset => 'by_query');
SELECT meter_etl.create_partitions('2024-03-30', '2024-03-31') AS created;
SELECT count(*) AS left_in_default FROM meter_etl.reading_default WHERE ts < '2024-04-01';
SELECT day, status, files, rows FROM meter_etl.archive_parquet('2024-03-30', '2024-03-31', dataset => 'by_index');
SELECT q.day, q.partition_value, q.rows, q.meters, q.data_sha256 = i.data_sha256 AS same_data
  FROM file_data q JOIN file_data i USING (day, partition_value)
 WHERE q.dataset = 'by_query' AND i.dataset = 'by_index' ORDER BY 1, 2;

-- Row security on reading is honoured: with a policy in force the archive reads
-- through the query (the direct scan would not apply it), so a hidden meter stays out
GRANT pg_write_server_files TO archive_regress_user;
ALTER TABLE meter_etl.reading ENABLE ROW LEVEL SECURITY;
CREATE POLICY archive_regress_hide ON meter_etl.reading FOR SELECT TO archive_regress_user
  USING (meter_key <> (SELECT meter_key FROM meter_etl.meter WHERE meter_id = 'A-1'));
SET ROLE archive_regress_user;
SELECT day, status, files, rows FROM meter_etl.archive_parquet('2024-03-30', '2024-03-30', dataset => 'rls');
RESET ROLE;
SELECT (SELECT sum(rows) FROM meter_etl.archive_manifest WHERE dataset = 'rls') AS archived,
       (SELECT count(*) FROM meter_etl.reading r JOIN meter_etl.meter m USING (meter_key)
         WHERE r.ts >= '2024-03-30' AND r.ts < '2024-03-31' AND m.meter_id <> 'A-1') AS visible;
DROP POLICY archive_regress_hide ON meter_etl.reading;
ALTER TABLE meter_etl.reading DISABLE ROW LEVEL SECURITY;
REVOKE pg_write_server_files FROM archive_regress_user;

-- clean up
DROP ROLE archive_regress_user;
RESET meter_etl.archive_dir;
SELECT format('cat >/dev/null; rm -rf %s', :'adir') AS cleanup_cmd \gset
COPY (SELECT 1) TO PROGRAM :'cleanup_cmd';
