-- Reprocessing a file (issue 18): reingest() removes what an ingested file
-- stored and ingests it again.  A file ingested with the wrong profile and
-- then reingested with the right one leaves the store (readings with their
-- lineage, quarantine, accounting, meters, detection after detect_pending,
-- the archive's coverage) as a fresh ingest with the right profile does;
-- readings another file also delivered stay, as that file's.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set SHOW_CONTEXT never
LOAD 'meter_etl';

-- File A: two 30-minute meters, energy in kWh per interval, three days.
-- M1 misses one slot (a short gap: an estimate), four hours (a long gap),
-- reads 0 for ten hours (stuck_zero) and has a spike; M2 repeats a line,
-- sends a different value for one slot and one reading off the 30-minute
-- grid.  Read as 'generic' (15 minutes) every kWh is taken for a quarter
-- hour: twice the power, the meters registered at 900 s, and the off-grid
-- reading stored.  'generic_30min' is the right profile.
CREATE TEMP TABLE a_line AS
SELECT row_number() OVER (ORDER BY g.m, g.ts, g.k) AS n,
       format('%s,%s,%s,kWh', g.m, to_char(g.ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), g.v) AS line
  FROM (SELECT m, ts, 0 AS k,
               CASE WHEN m = 'M1' AND ts >= '2024-03-05 12:00+00' AND ts < '2024-03-05 22:00+00' THEN 0
                    WHEN m = 'M1' AND ts = '2024-03-06 12:00+00' THEN 3
                    ELSE round((0.25 + 0.15 * sin(extract(epoch FROM ts) / 5400
                                                  + CASE m WHEN 'M1' THEN 0 ELSE 1 END))::numeric, 3) END AS v
          FROM unnest(ARRAY['M1', 'M2']) AS m,
               generate_series('2024-03-04 00:00+00'::timestamptz, '2024-03-06 23:30+00', interval '30 minutes') AS ts
         WHERE NOT (m = 'M1' AND (ts = '2024-03-04 06:00+00'
                                  OR (ts >= '2024-03-05 02:00+00' AND ts < '2024-03-05 06:00+00')))
        UNION ALL SELECT 'M2', '2024-03-04 01:00+00', 1, 0.31       -- the same slot again ...
        UNION ALL SELECT 'M2', '2024-03-04 01:30+00', 1, 0.9        -- ... and with another value
        UNION ALL SELECT 'M2', '2024-03-04 02:15+00', 0, 0.2) g;    -- off the 30-minute grid
UPDATE a_line SET line = 'M2,2024-03-04T01:00:00Z,0.31,kWh'
 WHERE line LIKE 'M2,2024-03-04T01:00:00Z,%';
CREATE TEMP TABLE a_file AS
SELECT convert_to('meter_id,timestamp,value,unit' || E'\n' || string_agg(line, E'\n' ORDER BY n) || E'\n', 'UTF8') AS content
  FROM a_line;
-- File B: M2's readings of 10:00 and 10:30 on 4 March again (same values as
-- A's, right profile), 11:00 with twice A's energy (a conflict), and M3.
CREATE TEMP TABLE b_file AS
SELECT convert_to(E'meter_id,timestamp,value,unit\n'
                  || (SELECT string_agg(line, E'\n' ORDER BY n) FROM a_line
                       WHERE line LIKE 'M2,2024-03-04T10:00:00Z,%' OR line LIKE 'M2,2024-03-04T10:30:00Z,%') || E'\n'
                  || (SELECT format('M2,2024-03-04T11:00:00Z,%s,kWh', 2 * split_part(line, ',', 3)::numeric) FROM a_line
                       WHERE line LIKE 'M2,2024-03-04T11:00:00Z,%') || E'\n'
                  || E'M3,2024-03-04T10:00:00Z,0.4,kWh\nM3,2024-03-04T10:30:00Z,0.5,kWh\n', 'UTF8') AS content;
SELECT convert_from(content, 'UTF8') AS b_file FROM b_file;

-- What the checks compare: the store without ids (file names, meter ids, channel names)
CREATE FUNCTION pg_temp.snapshot(label text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TEMP TABLE %I AS SELECT v.meter_id, v.channel, v.ts, v.kw, v.flags::integer AS flags,
                         f.file_name, v.line_no
                    FROM meter_etl.v_reading v JOIN meter_etl.raw_file f USING (file_id)', label || '_reading');
  EXECUTE format('CREATE TEMP TABLE %I AS SELECT f.file_name, q.line_no, q.reason, q.detail, q.meter_id, q.channel,
                         q.ts, q.ts_raw, q.value_raw, q.unit_raw, q.raw_line, q.source
                    FROM meter_etl.quarantine q JOIN meter_etl.raw_file f USING (file_id)', label || '_quarantine');
  EXECUTE format('CREATE TEMP TABLE %I AS SELECT file_name, status, format, lines_read, readings_read, rows_clean,
                         rows_quarantined, rows_duplicate, quarantined_by_reason::text AS by_reason
                    FROM meter_etl.v_file_accounting', label || '_accounting');
  EXECUTE format('CREATE TEMP TABLE %I AS SELECT m.meter_id, m.interval_s, m.time_zone, f.file_name AS first_file,
                         m.last_reading_at
                    FROM meter_etl.meter m JOIN meter_etl.raw_file f ON f.file_id = m.first_file_id', label || '_meter');
  EXECUTE format('CREATE TEMP TABLE %I AS SELECT m.meter_id, e.channel_id, e.ts, e.kw, e.method
                    FROM meter_etl.estimate e JOIN meter_etl.meter m USING (meter_key)', label || '_estimate');
  EXECUTE format('CREATE TEMP TABLE %I AS SELECT meter_id, channel, start_ts, end_ts, intervals, kind
                    FROM meter_etl.v_gap', label || '_gap');
  EXECUTE format('CREATE TEMP TABLE %I AS SELECT m.meter_id, f.channel_id, f.kind, f.start_ts, f.end_ts, f.ongoing,
                         f.evidence::text AS evidence
                    FROM meter_etl.fault f JOIN meter_etl.meter m USING (meter_key)', label || '_fault');
  EXECUTE format('CREATE TEMP TABLE %I AS SELECT m.meter_id, y.channel_id, y.day, y.start_ts, y.end_ts, y.kw_sum,
                         y.readings, y.raw_kw_sum, y.raw_readings
                    FROM meter_etl.meter_day y JOIN meter_etl.meter m USING (meter_key)', label || '_day');
END
$$;
-- rows of a's table not in b's, and of b's not in a's, per table
CREATE FUNCTION pg_temp.differences(a text, b text, tables text[])
RETURNS TABLE (tbl text, only_in_first bigint, only_in_second bigint) LANGUAGE plpgsql AS $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY tables LOOP
    tbl := t;
    EXECUTE format('SELECT count(*) FROM (SELECT * FROM %I EXCEPT ALL SELECT * FROM %I) x', a || '_' || t, b || '_' || t)
      INTO only_in_first;
    EXECUTE format('SELECT count(*) FROM (SELECT * FROM %I EXCEPT ALL SELECT * FROM %I) x', b || '_' || t, a || '_' || t)
      INTO only_in_second;
    RETURN NEXT;
  END LOOP;
END
$$;

-- ---------------------------------------------------------------- the reference
-- A fresh database state: A ingested with the right profile, detected;
-- then B, detected incrementally.
SELECT meter_etl.stage('a.csv', content) AS a FROM a_file \gset
SELECT format, lines_read, readings_read, rows_clean, rows_quarantined, rows_duplicate, quarantined_by_reason
  FROM meter_etl.ingest(:a, 'generic_30min');
SELECT series, estimates_written, gaps_written, faults_new FROM meter_etl.detect('2024-03-04', '2024-03-08');
SELECT pg_temp.snapshot('ref1');
SELECT meter_etl.stage('b.csv', content) AS b FROM b_file \gset
SELECT format, readings_read, rows_clean, rows_quarantined, rows_duplicate FROM meter_etl.ingest(:b, 'generic_30min');
SELECT meters FROM meter_etl.detect_pending();
SELECT pg_temp.snapshot('ref2');
-- what the reference holds, in short
SELECT 'readings' AS what, count(*) FROM ref1_reading
UNION ALL SELECT 'quarantined', count(*) FROM ref1_quarantine
UNION ALL SELECT 'estimates', count(*) FROM ref1_estimate
UNION ALL SELECT 'gaps', count(*) FROM ref1_gap
UNION ALL SELECT 'faults', count(*) FROM ref1_fault
UNION ALL SELECT 'days', count(*) FROM ref1_day;
SELECT meter_id, interval_s, first_file FROM ref1_meter ORDER BY 1;

-- ---------------------------------------------------------------- the wrong profile
SET client_min_messages = warning;
DROP EXTENSION meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SELECT current_setting('data_directory') || '/meter_etl_regress_reingest' AS adir \gset
SELECT format('cat >/dev/null; rm -rf %1$s && mkdir -p %1$s', :'adir') AS setup_cmd \gset
COPY (SELECT 1) TO PROGRAM :'setup_cmd';
SET meter_etl.archive_dir = :'adir';

SELECT meter_etl.stage('a.csv', content) AS a FROM a_file \gset
SELECT meter_etl.raw_sha256(:a) AS a_sha \gset
SELECT format, lines_read, readings_read, rows_clean, rows_quarantined, rows_duplicate, quarantined_by_reason
  FROM meter_etl.ingest(:a, 'generic');
SELECT series, estimates_written > 0 AS estimates, gaps_written, faults_new
  FROM meter_etl.detect('2024-03-04', '2024-03-08');
SELECT day, status, rows FROM meter_etl.archive_parquet('2024-03-04', '2024-03-06');
SELECT pg_temp.snapshot('wrong');
-- the wrong profile's store differs from the reference everywhere
SELECT * FROM pg_temp.differences('wrong', 'ref1', '{reading,quarantine,accounting,meter,estimate,gap,fault,day}');

-- ingest() of an ingested file with another format refuses, and names reingest()
SELECT * FROM meter_etl.ingest(:a, 'generic_30min');
-- with its own format, or auto, it is idempotent
SELECT format, rows_clean FROM meter_etl.ingest(:a, 'generic');
SELECT format, rows_clean FROM meter_etl.ingest(:a);

-- ---------------------------------------------------------------- reingest
SELECT format, lines_read, readings_read, rows_clean, rows_quarantined, rows_duplicate, quarantined_by_reason
  FROM meter_etl.reingest(:a, 'generic_30min');
SELECT pg_temp.snapshot('redone');
-- everything but detection equals the reference now; detection is pending
SELECT * FROM pg_temp.differences('redone', 'ref1', '{quarantine,accounting,meter}');
SELECT count(*) AS only_here FROM (SELECT meter_id, channel, ts, kw, flags & ~6, file_name, line_no FROM redone_reading
                                   EXCEPT ALL SELECT meter_id, channel, ts, kw, flags & ~6, file_name, line_no FROM ref1_reading) x;
SELECT count(*) AS only_there FROM (SELECT meter_id, channel, ts, kw, flags & ~6, file_name, line_no FROM ref1_reading
                                    EXCEPT ALL SELECT meter_id, channel, ts, kw, flags & ~6, file_name, line_no FROM redone_reading) x;
SELECT count(*) AS estimates_left FROM redone_estimate;
SELECT count(*) AS gaps_left FROM redone_gap;
SELECT count(*) AS faults_left FROM redone_fault;
SELECT count(*) AS days_left FROM redone_day;
SELECT count(*) AS flagged_readings FROM meter_etl.reading WHERE flags & 6 <> 0;
SELECT detection_pending FROM meter_etl.v_pipeline_health;
-- the new run's extents cover what was removed and what it stored
SELECT m.meter_id, e.ts_min, e.ts_max
  FROM meter_etl.ingest_extent e JOIN meter_etl.meter m USING (meter_key)
 WHERE e.ingest_run_id = (SELECT max(run_id) FROM meter_etl.ingest_run) ORDER BY 1;
-- the archived dates are stale: their files hold the wrong readings
SELECT day, status, store_changed_at IS NOT NULL AS changed FROM meter_etl.v_archive_coverage ORDER BY day;
-- detect_pending() detects the spans again: detection equals the reference
SELECT mode, meters, cardinality(ingest_runs) AS ingest_runs FROM meter_etl.detect_pending();
SELECT pg_temp.snapshot('detected');
SELECT * FROM pg_temp.differences('detected', 'ref1', '{reading,quarantine,accounting,meter,estimate,gap,fault,day}');
SELECT detection_pending FROM meter_etl.v_pipeline_health;
-- and archive_recent() archives the stale dates again
SELECT day, status, rows FROM meter_etl.archive_recent(catch_up => 0) WHERE day < '2025-01-01';
SELECT day, status, rows FROM meter_etl.v_archive_coverage ORDER BY day;
-- the raw zone did not change
SELECT meter_etl.raw_sha256(:a) = :'a_sha'::bytea AS raw_unchanged, status, format
  FROM meter_etl.raw_file WHERE file_id = :a;

-- run history: both ingest runs, and the reprocessing with what it removed
SELECT run_id, format, status, rows_clean, rows_quarantined, rows_duplicate
  FROM meter_etl.ingest_run WHERE file_id = :a ORDER BY run_id;
SELECT file_id, replaced_run_id, ingest_run_id, old_format, format, readings_removed, readings_reattributed,
       quarantine_removed, duplicates_removed, estimates_removed > 0 AS estimates_removed, gaps_removed,
       faults_removed, days_removed, conflicts_outdated, started_by = current_user AS by_me
  FROM meter_etl.reingest_run ORDER BY reingest_id;
SELECT file_name, format, rows_clean, balanced FROM meter_etl.v_file_accounting;

-- ---------------------------------------------------------------- another file's readings stay
-- B repeats two of A's readings: duplicates, recorded with B's lines; its
-- third one conflicts.  The store equals the reference with B.
SELECT meter_etl.stage('b.csv', content) AS b FROM b_file \gset
SELECT format, readings_read, rows_clean, rows_quarantined, rows_duplicate FROM meter_etl.ingest(:b, 'generic_30min');
SELECT m.meter_id, d.ts, d.file_id = :b AS from_b, d.line_no, d.flags
  FROM meter_etl.file_duplicate d JOIN meter_etl.meter m USING (meter_key) ORDER BY 1, 2;
SELECT meters FROM meter_etl.detect_pending();
SELECT pg_temp.snapshot('with_b');
SELECT * FROM pg_temp.differences('with_b', 'ref2', '{reading,quarantine,accounting,meter,estimate,gap,fault,day}');

-- A read with the wrong profile again: the two readings B delivered too stay,
-- as B's (its lines), and A's wrong copies of them are conflicts now; the
-- reading B conflicted with is gone, and A's new value for that slot is
-- B's: B's conflict is outdated, and a NOTICE says which file to reingest
SELECT format, readings_read, rows_clean, rows_quarantined, rows_duplicate
  FROM meter_etl.reingest(:a, 'generic');
SELECT meters FROM meter_etl.detect_pending();
SELECT v.meter_id, v.ts, v.kw, f.file_name, v.line_no, meter_etl.raw_line(v.file_id, v.line_no) AS raw
  FROM meter_etl.v_reading v JOIN meter_etl.raw_file f USING (file_id)
 WHERE v.meter_id = 'M2' AND v.ts BETWEEN '2024-03-04 10:00+00' AND '2024-03-04 11:00+00' ORDER BY v.ts;
SELECT f.file_name, q.reason, q.ts, q.detail FROM meter_etl.quarantine q JOIN meter_etl.raw_file f USING (file_id)
 WHERE q.reason = 'duplicate_conflict' ORDER BY 1, 3;
-- and right again: the two readings stay B's, A's copies are its duplicates
SELECT format, readings_read, rows_clean, rows_quarantined, rows_duplicate
  FROM meter_etl.reingest(:a, 'generic_30min');
SELECT m.meter_id, d.ts, d.file_id = :a AS from_a, d.line_no FROM meter_etl.file_duplicate d
  JOIN meter_etl.meter m USING (meter_key) ORDER BY 1, 2;
SELECT meters FROM meter_etl.detect_pending();
SELECT pg_temp.snapshot('final');
-- the readings (values and flags) and detection equal the reference with B ...
SELECT count(*) AS only_here FROM (SELECT meter_id, channel, ts, kw, flags FROM final_reading
                                   EXCEPT ALL SELECT meter_id, channel, ts, kw, flags FROM ref2_reading) x;
SELECT count(*) AS only_there FROM (SELECT meter_id, channel, ts, kw, flags FROM ref2_reading
                                    EXCEPT ALL SELECT meter_id, channel, ts, kw, flags FROM final_reading) x;
SELECT * FROM pg_temp.differences('final', 'ref2', '{quarantine,meter,estimate,gap,fault,day}');
-- ... with B's lineage where B delivered them too (the reingested file came after B)
SELECT f.meter_id, f.ts, f.file_name, f.line_no, r.file_name AS ref_file, r.line_no AS ref_line
  FROM final_reading f JOIN ref2_reading r USING (meter_id, channel, ts)
 WHERE (f.file_name, f.line_no) IS DISTINCT FROM (r.file_name, r.line_no) ORDER BY 1, 2;
SELECT f.file_name, f.rows_clean, f.rows_duplicate, r.rows_clean AS ref_clean, r.rows_duplicate AS ref_duplicate
  FROM final_accounting f JOIN ref2_accounting r USING (file_name) ORDER BY 1;
SELECT file_id, format, readings_removed, readings_reattributed, quarantine_removed, duplicates_removed,
       conflicts_outdated
  FROM meter_etl.reingest_run ORDER BY reingest_id;

-- ---------------------------------------------------------------- one transaction
-- a reingest that fails (the file does not fit the profile) changes nothing
SELECT count(*) AS readings, sum(kw) AS kw FROM meter_etl.reading \gset
SELECT count(*) AS runs FROM meter_etl.ingest_run \gset
SELECT * FROM meter_etl.reingest(:a, 'lcl');
SELECT count(*) = :readings AS readings_same, sum(kw) = :kw AS kw_same FROM meter_etl.reading;
SELECT count(*) = :runs AS runs_same FROM meter_etl.ingest_run;
SELECT status, format FROM meter_etl.raw_file WHERE file_id = :a;
-- the same format again reprocesses (a corrected profile) and ends where it was;
-- A's copies of B's readings are removed and recorded again
SELECT format, rows_clean, rows_quarantined, rows_duplicate FROM meter_etl.reingest(:a, 'generic_30min');
SELECT readings_removed, readings_reattributed, quarantine_removed, duplicates_removed
  FROM meter_etl.reingest_run ORDER BY reingest_id DESC LIMIT 1;
SELECT count(*) AS copies FROM meter_etl.file_duplicate WHERE file_id = :a;

-- ---------------------------------------------------------------- refusals
\set VERBOSITY terse
SELECT * FROM meter_etl.reingest(NULL);
SELECT * FROM meter_etl.reingest(:a, NULL);
SELECT * FROM meter_etl.reingest(999);
SELECT * FROM meter_etl.reingest(:a, 'nope');
\set VERBOSITY default
SELECT meter_etl.stage_begin('partial.csv') AS up \gset
SELECT * FROM meter_etl.reingest(:up);
SELECT meter_etl.stage('never.csv', convert_to(E'meter_id,timestamp,value,unit\nN1,2024-03-04T00:00:00Z,1,kW\n', 'UTF8')) AS never \gset
SELECT * FROM meter_etl.reingest(:never, 'generic');

-- clean up
RESET meter_etl.archive_dir;
SELECT format('cat >/dev/null; rm -rf %s', :'adir') AS cleanup_cmd \gset
COPY (SELECT 1) TO PROGRAM :'cleanup_cmd';
