-- Batch detection: detect() and detect_pending() write flags, estimates, gaps,
-- fault episodes, meter_status and alerts; idempotent and incremental;
-- actual readings arriving later replace estimates; peak_periods.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- Readings as CSV in the generic layout, staged and ingested like any file.
-- 4 weeks of history, then a week with one kind of trouble per meter.
CREATE TEMP TABLE fx AS
SELECT m.id AS meter_id, s.ts,
       round((0.4 + 0.8 * exp(-((extract(hour FROM s.ts) + extract(minute FROM s.ts) / 60 - 19) ^ 2) / 6)
              + 0.5 * exp(-((extract(hour FROM s.ts) + extract(minute FROM s.ts) / 60 - 8) ^ 2) / 3))
             * (CASE WHEN extract(isodow FROM s.ts) >= 6 THEN 1.2 ELSE 1 END)
             * (1 + 0.04 * ((extract(doy FROM s.ts)::int * 37) % 11 - 5) / 5.0)
             * (1 + 0.03 * ((extract(epoch FROM s.ts)::bigint / 900 * 7919 + m.n) % 13 - 6) / 6.0), 3)::float8 AS kw
  FROM generate_series(timestamptz '2024-01-01', '2024-02-04 23:45', '15 minutes') AS s(ts),
       (VALUES (1, 'OK'), (2, 'STUCK'), (3, 'FLAT'), (4, 'SHIFT'), (5, 'OFF'), (6, 'GAPS'), (7, 'SPIKE')) AS m(n, id);
UPDATE fx SET kw = 0 WHERE meter_id = 'STUCK' AND ts >= '2024-02-01 02:00' AND ts < '2024-02-01 14:00';
UPDATE fx SET kw = 0.777 WHERE meter_id = 'FLAT' AND ts >= '2024-02-02 06:00' AND ts < '2024-02-02 17:00';
UPDATE fx SET kw = kw * 3 WHERE meter_id = 'SHIFT' AND ts >= '2024-01-31';
UPDATE fx SET kw = kw * 15 WHERE meter_id = 'SPIKE' AND ts = '2024-02-01 03:00';
DELETE FROM fx WHERE meter_id = 'OFF' AND ts >= '2024-02-01 10:00' AND ts < '2024-02-02 16:00';
DELETE FROM fx WHERE meter_id = 'GAPS' AND ts >= '2024-02-02 03:00' AND ts < '2024-02-02 08:00';
-- one short gap of GAPS arrives late (estimated first, then replaced)
CREATE TEMP TABLE late AS
SELECT * FROM fx WHERE meter_id = 'GAPS' AND ts >= '2024-02-01 12:00' AND ts < '2024-02-01 13:00';
DELETE FROM fx WHERE meter_id = 'GAPS' AND ts >= '2024-02-01 12:00' AND ts < '2024-02-01 13:00';
CREATE FUNCTION pg_temp.csv(lo timestamptz, hi timestamptz, src regclass) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE b bytea;
BEGIN
  EXECUTE format($q$SELECT convert_to('meter_id,timestamp,value,unit' || E'\n'
                   || string_agg(meter_id || ',' || to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ',' || kw || ',kW', E'\n'
                                 ORDER BY meter_id, ts) || E'\n', 'UTF8')
                   FROM %s WHERE ts >= $1 AND ts < $2$q$, src) INTO b USING lo, hi;
  RETURN b;
END $$;

-- history: ingest, then detect it as a backfill
SELECT meter_etl.stage('history.csv', pg_temp.csv('2024-01-01', '2024-01-29', 'fx')) AS f \gset
SELECT readings_read, rows_clean FROM meter_etl.ingest(:f);
SELECT meters, series, faults_new, alerts, status FROM meter_etl.detect('2024-01-01', '2024-01-29');
SELECT count(*) AS days_stored FROM meter_etl.meter_day;
SELECT status, count(*) FROM meter_etl.v_meter_status GROUP BY 1;
-- the ingest runs before a detect() stay pending for detect_pending()
SELECT count(*) AS pending FROM meter_etl.ingest_run i
 WHERE NOT EXISTS (SELECT 1 FROM meter_etl.detect_done d WHERE d.ingest_run_id = i.run_id);
SELECT mode, series, faults_new FROM meter_etl.detect_pending();

-- a new week arrives: detect_pending() picks up just that file
SELECT meter_etl.stage('week.csv', pg_temp.csv('2024-01-29', '2024-02-05', 'fx')) AS f \gset
SELECT rows_clean FROM meter_etl.ingest(:f);
SELECT mode, from_ts, to_ts, meters, series, faults_new, faults_removed, estimates_written, gaps_written,
       status_changes, alerts, status
  FROM meter_etl.detect_pending();
SELECT meter_etl.detect_pending() IS NULL AS nothing_pending;

-- what it found
SELECT meter_id, channel, kind, start_ts, end_ts, ongoing FROM meter_etl.v_fault ORDER BY 1, 3, 4;
SELECT meter_id, status, reason, since, as_of FROM meter_etl.v_meter_status ORDER BY 1;
SELECT meter_id, start_ts, end_ts, intervals, kind, hours FROM meter_etl.v_gap ORDER BY 1, 2;
SELECT m.meter_id, e.ts, round(e.kw::numeric, 4) AS kw, e.method
  FROM meter_etl.estimate e JOIN meter_etl.meter m USING (meter_key) ORDER BY 1, 2;
-- flags: outlier on the spike, suspect_meter on readings inside episodes, nothing else
SELECT m.meter_id, meter_etl.flag_names(r.flags) AS flags, count(*), min(r.ts), max(r.ts)
  FROM meter_etl.reading r JOIN meter_etl.meter m USING (meter_key)
 WHERE r.flags <> 0 GROUP BY 1, 2 ORDER BY 1, 2;
-- alerts: one per new episode, with the details the NOTIFY payload carries
SELECT kind, severity, meter_id, message, details ->> 'fault' AS fault, details ? 'evidence' AS has_evidence
  FROM meter_etl.alert ORDER BY alert_id;

-- idempotent: the same range again changes nothing
CREATE TEMP TABLE snap AS
SELECT 'reading' AS t, md5(string_agg(meter_key || ',' || ts || ',' || flags, ';' ORDER BY meter_key, ts)) AS h
  FROM meter_etl.reading WHERE flags <> 0
UNION ALL SELECT 'estimate', md5(string_agg(meter_key || ',' || ts || ',' || kw, ';' ORDER BY meter_key, ts)) FROM meter_etl.estimate
UNION ALL SELECT 'gap', md5(string_agg(meter_key || ',' || start_ts || ',' || end_ts || kind, ';' ORDER BY meter_key, start_ts)) FROM meter_etl.gap
UNION ALL SELECT 'fault', md5(string_agg(meter_key || kind || start_ts || end_ts || ongoing || evidence, ';' ORDER BY meter_key, kind, start_ts)) FROM meter_etl.fault
UNION ALL SELECT 'status', md5(string_agg(meter_key || status || coalesce(reason, '') || coalesce(since::text, '') || as_of, ';' ORDER BY meter_key)) FROM meter_etl.meter_status
UNION ALL SELECT 'day', md5(string_agg(meter_key || ',' || day || ',' || kw_sum || ',' || readings, ';' ORDER BY meter_key, day)) FROM meter_etl.meter_day
UNION ALL SELECT 'alerts', count(*)::text FROM meter_etl.alert;
SELECT flags_changed, estimates_written, estimates_removed, gaps_written, gaps_removed, faults_new,
       faults_updated, faults_removed, status_changes, alerts
  FROM meter_etl.detect('2024-01-29', '2024-02-05');
-- incremental = whole: detecting everything at once gives the same state as history + week
SELECT flags_changed, estimates_written, gaps_written, faults_new, faults_updated, faults_removed, alerts
  FROM meter_etl.detect('2024-01-01', '2024-02-05');
-- and day by day too
SELECT sum(faults_new) AS faults_new, sum(faults_removed) AS faults_removed, sum(flags_changed) AS flags_changed
  FROM generate_series(timestamptz '2024-01-29', '2024-02-04', '1 day') AS d, meter_etl.detect(d, d + interval '1 day');
CREATE TEMP TABLE snap2 AS
SELECT 'reading' AS t, md5(string_agg(meter_key || ',' || ts || ',' || flags, ';' ORDER BY meter_key, ts)) AS h
  FROM meter_etl.reading WHERE flags <> 0
UNION ALL SELECT 'estimate', md5(string_agg(meter_key || ',' || ts || ',' || kw, ';' ORDER BY meter_key, ts)) FROM meter_etl.estimate
UNION ALL SELECT 'gap', md5(string_agg(meter_key || ',' || start_ts || ',' || end_ts || kind, ';' ORDER BY meter_key, start_ts)) FROM meter_etl.gap
UNION ALL SELECT 'fault', md5(string_agg(meter_key || kind || start_ts || end_ts || ongoing || evidence, ';' ORDER BY meter_key, kind, start_ts)) FROM meter_etl.fault
UNION ALL SELECT 'status', md5(string_agg(meter_key || status || coalesce(reason, '') || coalesce(since::text, '') || as_of, ';' ORDER BY meter_key)) FROM meter_etl.meter_status
UNION ALL SELECT 'day', md5(string_agg(meter_key || ',' || day || ',' || kw_sum || ',' || readings, ';' ORDER BY meter_key, day)) FROM meter_etl.meter_day
UNION ALL SELECT 'alerts', count(*)::text FROM meter_etl.alert;
SELECT a.t, a.h = b.h AS same FROM snap a JOIN snap2 b USING (t) ORDER BY 1;

-- the late actuals arrive: ingest takes them (an estimate never blocks a reading),
-- detect_pending() drops the estimates they replace and records how good they were
SELECT meter_etl.stage('late.csv', pg_temp.csv('2024-02-01', '2024-02-02', 'late')) AS f \gset
SELECT rows_clean, rows_quarantined, rows_duplicate FROM meter_etl.ingest(:f);
SELECT from_ts, to_ts, meters, estimates_removed, estimates_replaced, round(estimate_mae_kw::numeric, 4) AS mae_kw
  FROM meter_etl.detect_pending();
SELECT count(*) AS estimates_left FROM meter_etl.estimate;
SELECT ts, round(kw::numeric, 3) AS kw, flags, estimated, method FROM meter_etl.v_reading_filled
 WHERE meter_id = 'GAPS' AND ts >= '2024-02-01 11:45' AND ts < '2024-02-01 13:15' ORDER BY ts;
-- estimates are in v_reading_filled until then (a fresh short gap, filled)
DELETE FROM meter_etl.reading WHERE ts = '2024-02-03 10:00'
   AND meter_key = (SELECT meter_key FROM meter_etl.meter WHERE meter_id = 'OK');
SELECT estimates_written FROM meter_etl.detect('2024-02-03', '2024-02-04', '{OK}');
SELECT meter_id, ts, round(kw::numeric, 3) AS kw, flags, estimated, method FROM meter_etl.v_reading_filled
 WHERE meter_id = 'OK' AND ts BETWEEN '2024-02-03 09:45' AND '2024-02-03 10:15' ORDER BY ts;

-- flags change through UPDATE and the reading_guard trigger, which does not
-- re-judge a reading whose value did not change (even under stricter rules)
SET meter_etl.max_kw = 2;
SET meter_etl.outlier_threshold = 3;
SET meter_etl.outlier_window = 96;
SET meter_etl.outlier_min_scale = 0.25;
SELECT count(*) AS quarantined_before FROM meter_etl.quarantine;
SELECT flags_changed FROM meter_etl.detect('2024-01-29', '2024-02-05');
SELECT count(*) AS quarantined_after FROM meter_etl.quarantine;
SELECT count(*) AS flagged_above_max_kw FROM meter_etl.reading WHERE flags & 2 <> 0 AND kw > 2;
SELECT m.meter_id, count(*) AS outliers FROM meter_etl.reading r JOIN meter_etl.meter m USING (meter_key)
 WHERE r.flags & 2 <> 0 GROUP BY 1 ORDER BY 1;
RESET meter_etl.outlier_threshold;
RESET meter_etl.outlier_window;
RESET meter_etl.outlier_min_scale;
RESET meter_etl.max_kw;
SELECT flags_changed FROM meter_etl.detect('2024-01-29', '2024-02-05');
SELECT settings ->> 'outlier_threshold' AS threshold FROM meter_etl.detect_run ORDER BY run_id DESC LIMIT 1;

-- peaks: flagged meter-days and the spike are left out by default
SELECT rank, period_start, period_end, round(demand_kw::numeric, 3) AS demand_kw, meters_counted
  FROM meter_etl.peak_periods('2024-01-29', '2024-02-05', top_n => 3);
SELECT rank, period_start, round(demand_kw::numeric, 3) AS demand_kw, meters_counted
  FROM meter_etl.peak_periods('2024-01-29', '2024-02-05', top_n => 3, exclude_flagged => false);
SELECT day, rank, period_start, meters_counted
  FROM meter_etl.peak_periods('2024-01-29', '2024-02-05', bucket => '1 hour', top_n => 1, per_day => true);
-- the excluded meters on each day, as the default sees them
SELECT d::date AS day, 7 - max(p.meters_counted) AS meters_left_out
  FROM generate_series(timestamptz '2024-01-29', '2024-02-04', '1 day') AS d,
       meter_etl.peak_periods(d, d + interval '1 day', top_n => 100) p
 GROUP BY 1 ORDER BY 1;

-- detection status over time: a meter that goes offline, then comes back
SELECT meter_etl.create_partitions('2024-02-05', '2024-02-08');
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT m.meter_key, f.ts + interval '7 days', f.kw FROM fx f JOIN meter_etl.meter m USING (meter_id)
 WHERE f.meter_id = 'OK' AND f.ts >= '2024-01-29' AND f.ts < '2024-02-01'
UNION ALL
SELECT m.meter_key, f.ts + interval '7 days', f.kw FROM fx f JOIN meter_etl.meter m ON m.meter_id = 'OFF'
 WHERE f.meter_id = 'OK' AND f.ts >= '2024-01-29' AND f.ts < '2024-02-01'
   AND (f.ts < '2024-01-29 06:00' OR f.ts >= '2024-01-31 12:00');
SELECT status_changes, alerts FROM meter_etl.detect('2024-02-05', '2024-02-06', '{OK,OFF}');
SELECT status, reason, since FROM meter_etl.v_meter_status WHERE meter_id = 'OFF';
SELECT status_changes, alerts FROM meter_etl.detect('2024-02-06', '2024-02-07', '{OK,OFF}');
SELECT status, reason, since FROM meter_etl.v_meter_status WHERE meter_id = 'OFF';
SELECT status_changes, alerts FROM meter_etl.detect('2024-02-07', '2024-02-08', '{OK,OFF}');
SELECT status, reason, since FROM meter_etl.v_meter_status WHERE meter_id = 'OFF';
SELECT meter_id, kind, start_ts, end_ts, ongoing FROM meter_etl.v_fault WHERE meter_id = 'OFF' ORDER BY start_ts;
SELECT meter_id, start_ts, end_ts, kind FROM meter_etl.v_gap WHERE meter_id = 'OFF' ORDER BY start_ts;
SELECT kind, severity, meter_id, details ->> 'fault' AS fault, details ->> 'previous_status' AS previous
  FROM meter_etl.alert WHERE meter_id = 'OFF' ORDER BY alert_id;
-- re-detecting an old range does not roll the status back
SELECT status_changes FROM meter_etl.detect('2024-02-01', '2024-02-03', '{OFF}');
SELECT status, as_of FROM meter_etl.v_meter_status WHERE meter_id = 'OFF';

-- what detect() would write, without writing
SELECT item, count(*) FROM meter_etl.detect_compute('2024-02-01', '2024-02-02') GROUP BY 1 ORDER BY 1;

-- A range reaching into the future: slots yet to come are not missing.  The grid
-- of interpolate() and the trailing gap of detect() stop at the current time,
-- except that a reading from a clock running ahead stays on the grid.
INSERT INTO meter_etl.meter (meter_id, interval_s, time_zone) VALUES ('SOON', 900, 'UTC');
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT meter_key, date_trunc('hour', now()) - interval '12 hours' + i * interval '15 minutes', 1
  FROM meter_etl.meter, generate_series(0, 15) i WHERE meter_id = 'SOON';
SELECT date_trunc('hour', now()) - interval '12 hours' AS soon_from,
       date_trunc('day', now()) + interval '2 days' AS soon_to \gset
SELECT count(*) FILTER (WHERE ts >= now()) AS future_slots,
       count(*) FILTER (WHERE method = 'gap') > 0 AS has_holes
  FROM meter_etl.interpolate(:'soon_from', :'soon_to', '{SOON}');
SELECT status FROM meter_etl.detect(:'soon_from', :'soon_to', '{SOON}');
SELECT kind, end_ts <= now() AS ends_by_now, end_ts > now() - interval '15 minutes' AS ends_at_now
  FROM meter_etl.v_gap WHERE meter_id = 'SOON';
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT meter_key, date_trunc('hour', now()) + interval '1 hour', 2 FROM meter_etl.meter WHERE meter_id = 'SOON';
SELECT count(*) FILTER (WHERE ts >= now()) > 0 AS future_slots,
       count(*) FILTER (WHERE ts >= now() AND method = 'actual') AS future_actual,
       max(ts) = date_trunc('hour', now()) + interval '1 hour' AS ends_at_that_reading
  FROM meter_etl.interpolate(:'soon_from', :'soon_to', '{SOON}');

-- errors
SELECT meter_etl.detect('2024-02-02', '2024-02-01');
SELECT meter_etl.detect('2024-02-01', NULL);
SELECT meter_etl.detect('2024-02-01', '2024-02-02', '{NOPE}');
SET meter_etl.max_gap = '-1';
SET meter_etl.outlier_method = 'median';
