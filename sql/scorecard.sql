-- The data-quality scorecard and the result views over it (issue 19):
-- expected readings from each meter's interval and span, received, clean,
-- quarantined by reason, duplicates, estimated, missing, completeness,
-- validity and timeliness, per UTC day, per day and file, per meter; the
-- daily peaks; the meter dimension and meter health.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- Two 15-minute meters.  File 1: A on 1 March, all 96 slots but a 45-minute
-- gap (10:00-10:30) and a bad value at 12:00, with 00:00 sent twice; B from
-- 06:00 on 1 March to 05:45 on 2 March, a negative value at 07:00.  File 2,
-- staged later: A on 2 March, A's 23:45 of 1 March again (a duplicate) and
-- its 23:30 with another value (a conflict).
CREATE TEMP TABLE f1 AS
SELECT 'meter_id,timestamp,value,unit' || E'\n' || string_agg(line, E'\n' ORDER BY o) || E'\n' AS csv FROM (
  SELECT 1 AS o, ts, format('A,%s,%s,kW', to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                            CASE WHEN ts = '2024-03-01 12:00' THEN 'x' ELSE (1 + extract(hour FROM ts) / 10)::text END) AS line
    FROM generate_series(timestamptz '2024-03-01', '2024-03-01 23:45', '15 minutes') ts
   WHERE NOT (ts >= '2024-03-01 10:00' AND ts <= '2024-03-01 10:30')
  UNION ALL SELECT 2, '2024-03-01', 'A,2024-03-01T00:00:00Z,1,kW'
  UNION ALL
  SELECT 3, ts, format('B,%s,%s,kW', to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       CASE WHEN ts = '2024-03-01 07:00' THEN '-1' ELSE '2' END)
    FROM generate_series(timestamptz '2024-03-01 06:00', '2024-03-02 05:45', '15 minutes') ts) x;
CREATE TEMP TABLE f2 AS
SELECT 'meter_id,timestamp,value,unit' || E'\n' || string_agg(line, E'\n' ORDER BY ts) || E'\n' AS csv FROM (
  SELECT ts, format('A,%s,%s,kW', to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), (1 + extract(hour FROM ts) / 10)::text) AS line
    FROM generate_series(timestamptz '2024-03-02', '2024-03-02 23:45', '15 minutes') ts
  UNION ALL SELECT '2024-03-01 23:45', 'A,2024-03-01T23:45:00Z,3.3,kW'
  UNION ALL SELECT '2024-03-01 23:30', 'A,2024-03-01T23:30:00Z,9,kW') x;
SELECT file_id, readings_read, rows_clean, rows_quarantined, rows_duplicate, quarantined_by_reason
  FROM meter_etl.ingest(meter_etl.stage('f1.csv', convert_to((SELECT csv FROM f1), 'UTF8')), 'generic');
SELECT file_id, readings_read, rows_clean, rows_quarantined, rows_duplicate, quarantined_by_reason
  FROM meter_etl.ingest(meter_etl.stage('f2.csv', convert_to((SELECT csv FROM f2), 'UTF8')), 'generic');
-- ingest counts its readings and duplicates per UTC day
SELECT ingest_run_id, day, rows_clean, rows_duplicate FROM meter_etl.ingest_day ORDER BY 1, 2;
SELECT status FROM meter_etl.detect('2024-03-01', '2024-03-03');
SELECT m.meter_id, e.ts, e.method FROM meter_etl.estimate e JOIN meter_etl.meter m USING (meter_key) ORDER BY 1, 2;

-- nothing until a refresh; then per day
SELECT count(*) AS before_refresh FROM meter_etl.v_dq_day;
SELECT * FROM meter_etl.refresh_results('2024-02-29', '2024-03-03');
SELECT day, meters_active, expected, received, clean, quarantined, quarantined_by_reason, duplicates,
       estimated, source_estimated, missing, completeness_pct, validity_pct, stale
  FROM meter_etl.v_dq_day ORDER BY day;
-- the accounting of a day holds: received = clean + quarantined + duplicates,
-- and missing = expected - clean
SELECT bool_and(received = clean + quarantined + duplicates AND missing = expected - clean) AS balanced
  FROM meter_etl.v_dq_day;
-- timeliness: from the end of each reading's interval to its file's staging
SELECT d.day, abs(d.delay_median_hours - x.p50) < 1e-9 AS median_ok, abs(d.delay_p95_hours - x.p95) < 1e-9 AS p95_ok,
       d.delay_median_hours > 0 AS positive
  FROM meter_etl.v_dq_day d
  JOIN (SELECT (r.ts AT TIME ZONE 'UTC')::date AS day,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM f.received_at - r.ts) - 900) / 3600 AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM f.received_at - r.ts) - 900) / 3600 AS p95
          FROM meter_etl.reading r JOIN meter_etl.raw_file f ON f.file_id = r.file_id GROUP BY 1) x USING (day)
 ORDER BY 1;
-- per day and file
SELECT day, file_id, file_name, expected, received, clean, quarantined, quarantined_by_reason, duplicates,
       missing, completeness_pct, validity_pct, delay_median_hours IS NOT NULL AS has_delay
  FROM meter_etl.v_dq_file_day ORDER BY day, file_id;
-- per meter and day, and over a range worst first
SELECT day, meter_id, channels, expected, clean, quarantined, estimated, source_estimated, missing,
       completeness_pct, validity_pct
  FROM meter_etl.v_dq_meter_day ORDER BY day, meter_id;
SELECT * FROM meter_etl.dq_meters('2024-03-01', '2024-03-02');
SELECT * FROM meter_etl.dq_meters('2024-03-02', '2024-03-02');
-- a change of the store after the refresh makes its day stale; a refresh
-- replaces the day's rows
UPDATE meter_etl.reading SET flags = flags | 8 WHERE ts = '2024-03-02 05:45';
SELECT day, stale FROM meter_etl.v_dq_day ORDER BY day;
SELECT day, clean FROM meter_etl.refresh_results('2024-03-02', '2024-03-02');
SELECT day, stale FROM meter_etl.v_dq_day ORDER BY day;
SELECT count(*) AS meter_days FROM meter_etl.dq_meter_day;
-- a meter silent all day inside its span: everything missing
DELETE FROM meter_etl.reading r USING meter_etl.meter m
 WHERE m.meter_key = r.meter_key AND m.meter_id = 'B' AND r.ts >= '2024-03-02';
DELETE FROM meter_etl.estimate e USING meter_etl.meter m
 WHERE m.meter_key = e.meter_key AND m.meter_id = 'B' AND e.ts >= '2024-03-02';
SELECT day, meters_active, expected, clean FROM meter_etl.refresh_results('2024-03-02', '2024-03-02');
SELECT meter_id, expected, clean, missing, completeness_pct FROM meter_etl.v_dq_meter_day WHERE day = '2024-03-02' ORDER BY 1;

-- ---------------------------------------------------------------- peaks
-- B reads a constant 2 kW, which detection calls a flatline fault: it is
-- left out of the peaks (meters_excluded), A alone makes them
SELECT day, rank, period_start, round(demand_kw::numeric, 3) AS demand_kw, meters_counted, meters_active, meters_excluded
  FROM meter_etl.v_peak_period WHERE rank <= 3 ORDER BY day, rank;
SELECT day, period_start, round(demand_kw::numeric, 3) AS demand_kw, meters_counted FROM meter_etl.v_daily_peak ORDER BY day;
-- the stored peaks are peak_periods' answer
SELECT bool_and(p.period_start = q.period_start AND p.demand_kw = q.demand_kw) AS same_as_peak_periods
  FROM meter_etl.v_peak_period p
  JOIN meter_etl.peak_periods('2024-03-01', '2024-03-02', top_n => 10) q ON q.rank = p.rank
 WHERE p.day = '2024-03-01';

-- ---------------------------------------------------------------- dimension, health
SELECT meter_id, time_zone, interval_minutes, first_reading_at, last_reading_at, channels, segment
  FROM meter_etl.v_meter ORDER BY 1;
SELECT meter_id, channel, status, reason, last_reading_at, open_faults, estimated_share_7d
  FROM meter_etl.v_meter_health ORDER BY 1, 2;

-- ---------------------------------------------------------------- argument checks
\set VERBOSITY terse
SELECT * FROM meter_etl.refresh_results('2024-03-02', '2024-03-01');
SELECT * FROM meter_etl.refresh_results(NULL, '2024-03-01');
SELECT * FROM meter_etl.refresh_results('2020-01-01', '2024-03-01');
SELECT * FROM meter_etl.dq_meters('2024-03-02', '2024-03-01');
SELECT * FROM meter_etl.dq_meters('2024-03-02', NULL);
\set VERBOSITY default
