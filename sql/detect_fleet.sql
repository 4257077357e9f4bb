-- Level shift in context (issue 17): detect() judges each day against the
-- fleet's level of that day (meter_etl.fleet_day), so a change the fleet
-- shares is nobody's fault; a persistent change of one meter is a fault
-- (ongoing); a transient one is a usage_anomaly, which flags nothing, sets
-- no status, raises no alert and stays in the peaks.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- 8 households, 5 weeks at 15 minutes: 4 weeks of history, then a cold
-- week (from Jan 29) that doubles every home's use.  H2 is away Jan 22-25
-- (0.3 of its usual, back after); H3 triples from Jan 31 and stays there
-- (the fault to find).
CREATE TEMP TABLE fx AS
SELECT 'H' || m AS meter_id, s.ts,
       round(((0.3 + 0.6 * exp(-((extract(hour FROM s.ts) - 19) ^ 2) / 6) + 0.3 * exp(-((extract(hour FROM s.ts) - 8) ^ 2) / 3))
              * (1 + 0.1 * m) * (1 + 0.05 * ((extract(doy FROM s.ts)::int * 31 + m * 7) % 9 - 4) / 4.0)
              * CASE WHEN s.ts >= '2024-01-29' THEN 2 ELSE 1 END)::numeric, 3)::float8 AS kw
  FROM generate_series(timestamptz '2024-01-01', '2024-02-04 23:45', '15 minutes') s(ts), generate_series(1, 8) m;
UPDATE fx SET kw = kw * 0.3 WHERE meter_id = 'H2' AND ts >= '2024-01-22' AND ts < '2024-01-26';
UPDATE fx SET kw = kw * 3 WHERE meter_id = 'H3' AND ts >= '2024-01-31';
SELECT meter_etl.stage('fleet.csv', convert_to('meter_id,timestamp,value,unit' || E'\n'
         || string_agg(meter_id || ',' || to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ',' || kw || ',kW', E'\n'
                       ORDER BY meter_id, ts) || E'\n', 'UTF8')) AS f FROM fx \gset
SELECT rows_clean FROM meter_etl.ingest(:f);

-- day by day, as the nightly job runs it
SELECT sum(faults_new) AS faults_new, sum(alerts) AS alerts
  FROM generate_series(timestamptz '2024-01-01', '2024-02-04', '1 day') AS d, meter_etl.detect(d, d + interval '1 day');
-- the fleet's level: 1 until the cold week, 2 in it
SELECT day >= '2024-01-29' AS cold, round(min(level)::numeric, 2) AS min_level, round(max(level)::numeric, 2) AS max_level,
       min(meters) AS meters, count(*) AS days
  FROM meter_etl.fleet_day GROUP BY 1 ORDER BY 1;
-- faults: only H3 (ongoing); the cold week is no one's fault; H2's week away is usage
SELECT meter_id, kind, start_ts, ongoing, round((evidence ->> 'ratio')::numeric, 1) AS ratio,
       round((evidence ->> 'fleet_level')::numeric, 1) AS fleet
  FROM meter_etl.v_fault ORDER BY 1, 2;
SELECT meter_id, start_ts, end_ts, ongoing, days, round(ratio::numeric, 1) AS ratio FROM meter_etl.v_usage_anomaly ORDER BY 1;
-- a usage anomaly marks nothing: H2's readings keep no suspect bit and its
-- status is ok.  While it was going on, day by day, nobody could know it
-- would end: it was an ongoing level_shift (an alert), and the day H2 came
-- back it became a usage anomaly (the meter recovered)
SELECT meter_id, status, reason FROM meter_etl.v_meter_status WHERE meter_id IN ('H2', 'H3') ORDER BY 1;
SELECT count(*) AS h2_suspect FROM meter_etl.v_reading WHERE meter_id = 'H2' AND 'suspect_meter' = ANY (flag_names);
SELECT kind, details ->> 'fault' AS fault FROM meter_etl.alert WHERE meter_id = 'H2' ORDER BY alert_id;
-- and it stays in the peaks: the fleet's daily peak on Jan 23 counts all 8
SELECT meters_counted FROM meter_etl.peak_periods('2024-01-23', '2024-01-24', top_n => 1, bucket => '1 hour');
-- the same days over the whole range at once store the same
CREATE TEMP TABLE before AS SELECT kind, meter_key, start_ts, end_ts, evidence FROM meter_etl.fault;
SELECT faults_new, faults_updated, faults_removed FROM meter_etl.detect('2024-01-01', '2024-02-05');
SELECT count(*) AS differ FROM (SELECT * FROM before EXCEPT SELECT kind, meter_key, start_ts, end_ts, evidence FROM meter_etl.fault) x;
-- judged alone, the cold week is a level shift of every home
SET meter_etl.level_shift_fleet_min_meters = 0;
SELECT count(DISTINCT meter_key) AS meters_shifted_alone
  FROM meter_etl.detect_compute('2024-01-29', '2024-02-05') WHERE item = 'fault' AND kind = 'level_shift';
RESET meter_etl.level_shift_fleet_min_meters;
-- fleet_levels refuses nonsense
\set VERBOSITY terse
SELECT * FROM meter_etl.fleet_levels(NULL, '2024-01-02');
SELECT * FROM meter_etl.fleet_levels('2024-01-02', '2024-01-01');
SELECT * FROM meter_etl.fleet_levels('2024-01-01', '2024-01-02', min_meters => 0);
