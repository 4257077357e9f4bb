-- A persistent level shift stays one ongoing episode however long ago it
-- started (issue 17): detect() reads the history before an ongoing
-- level_shift's start, not only the 8 weeks before its range, so a fault
-- from 10 weeks ago is not forgotten (nor "recovered") when its baseline
-- leaves the window.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- 6 households, 100 days at 15 minutes; S triples from Feb 1 and stays
CREATE TEMP TABLE fx AS
SELECT m AS meter_id, s.ts,
       round(((0.3 + 0.6 * exp(-((extract(hour FROM s.ts) - 19) ^ 2) / 6) + 0.3 * exp(-((extract(hour FROM s.ts) - 8) ^ 2) / 3))
              * (1 + 0.1 * ascii(m)) / 8 * (1 + 0.05 * ((extract(doy FROM s.ts)::int * 31 + ascii(m) * 7) % 9 - 4) / 4.0)
              * CASE WHEN m = 'S' AND s.ts >= '2024-02-01' THEN 3 ELSE 1 END)::numeric, 3)::float8 AS kw
  FROM generate_series(timestamptz '2024-01-01', '2024-04-09 23:45', '15 minutes') s(ts),
       unnest('{A,B,C,D,E,S}'::text[]) m;
SELECT meter_etl.stage('fleet.csv', convert_to('meter_id,timestamp,value,unit' || E'\n'
         || string_agg(meter_id || ',' || to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ',' || kw || ',kW', E'\n'
                       ORDER BY meter_id, ts) || E'\n', 'UTF8')) AS f FROM fx \gset
SELECT rows_clean FROM meter_etl.ingest(:f);

-- the first six weeks: S shifted from Feb 1, still going
SELECT faults_new FROM meter_etl.detect('2024-01-01', '2024-02-12');
SELECT meter_id, kind, start_ts, ongoing FROM meter_etl.v_fault ORDER BY 1;
-- ten weeks after the shift began, one day: the episode is the same one, still going
SELECT faults_new, faults_removed, status_changes FROM meter_etl.detect('2024-04-08', '2024-04-09');
SELECT meter_id, kind, start_ts, end_ts, ongoing FROM meter_etl.v_fault ORDER BY 1;
SELECT meter_id, status, reason, since FROM meter_etl.v_meter_status WHERE meter_id = 'S';
SELECT count(*) AS recovered FROM meter_etl.alert WHERE kind = 'meter_recovered';

-- Files delivered day by day (run_pipeline detects what each file brought):
-- a meter silent from 2024-04-16 01:30 to 2024-04-19 23:15 is in no run of
-- the days it was silent.  The run of 16 April sees the outage begin (a
-- trailing gap), the run of the 19th its end (with less than the outage
-- read before it), the run of the 20th reads neither side; the gap stored
-- must be the one gap one run over the days stores (the demo found it
-- missing).
SELECT meter_etl.stage('outage.csv', convert_to('meter_id,timestamp,value,unit' || E'\n'
         || string_agg('O,' || to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ',0.5,kW', E'\n' ORDER BY ts) || E'\n', 'UTF8')) AS o
  FROM generate_series(timestamptz '2024-04-15', '2024-04-20 23:45', '15 minutes') ts
 WHERE ts < '2024-04-16 01:30' OR ts >= '2024-04-19 23:30' \gset
SELECT rows_clean FROM meter_etl.ingest(:o);
SELECT gaps_written FROM meter_etl.detect('2024-04-15', '2024-04-15 23:45', '{O}');
SELECT gaps_written FROM meter_etl.detect('2024-04-16', '2024-04-16 23:45', '{O}');
SELECT gaps_written FROM meter_etl.detect('2024-04-19', '2024-04-19 23:45', '{O}');
SELECT gaps_written, gaps_removed FROM meter_etl.detect('2024-04-20', '2024-04-20 23:45', '{O}');
CREATE TEMP TABLE by_day AS SELECT start_ts, end_ts, intervals, kind FROM meter_etl.v_gap WHERE meter_id = 'O';
SELECT * FROM by_day;
CREATE TEMP TABLE by_day_fault AS
SELECT kind, start_ts, end_ts, ongoing, evidence::text FROM meter_etl.v_fault WHERE meter_id = 'O';
-- one run over the days, from scratch
DELETE FROM meter_etl.gap WHERE meter_key = (SELECT meter_key FROM meter_etl.meter WHERE meter_id = 'O');
DELETE FROM meter_etl.fault WHERE meter_key = (SELECT meter_key FROM meter_etl.meter WHERE meter_id = 'O');
SELECT gaps_written FROM meter_etl.detect('2024-04-15', '2024-04-20 23:45', '{O}');
SELECT 'by day, not at once' AS differs, * FROM (SELECT * FROM by_day EXCEPT
       SELECT start_ts, end_ts, intervals, kind FROM meter_etl.v_gap WHERE meter_id = 'O') x
UNION ALL
SELECT 'at once, not by day', * FROM (SELECT start_ts, end_ts, intervals, kind FROM meter_etl.v_gap WHERE meter_id = 'O'
       EXCEPT SELECT * FROM by_day) y;
-- and the episodes (the outage, and the constant readings on either side)
SELECT kind, start_ts, end_ts, ongoing, evidence FROM meter_etl.v_fault WHERE meter_id = 'O' ORDER BY start_ts;
SELECT 'by day, not at once' AS differs, * FROM (SELECT * FROM by_day_fault EXCEPT
       SELECT kind, start_ts, end_ts, ongoing, evidence::text FROM meter_etl.v_fault WHERE meter_id = 'O') x
UNION ALL
SELECT 'at once, not by day', * FROM (SELECT kind, start_ts, end_ts, ongoing, evidence::text
       FROM meter_etl.v_fault WHERE meter_id = 'O' EXCEPT SELECT * FROM by_day_fault) y;

-- the same with the meter back 90 minutes after the start of a day's run
-- (less than max_gap into its range): still one long gap from the previous
-- reading, as one run over the days finds it
SELECT meter_etl.stage('outage2.csv', convert_to('meter_id,timestamp,value,unit' || E'\n'
         || string_agg('P,' || to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ',' || (0.4 + (extract(minute FROM ts) / 100))::text || ',kW', E'\n' ORDER BY ts) || E'\n', 'UTF8')) AS o2
  FROM generate_series(timestamptz '2024-05-01', '2024-05-04 23:45', '15 minutes') ts
 WHERE ts < '2024-05-01 23:15' OR ts >= '2024-05-04 01:30' \gset
SELECT rows_clean FROM meter_etl.ingest(:o2);
SELECT gaps_written FROM meter_etl.detect('2024-05-01', '2024-05-01 23:45', '{P}');
SELECT gaps_written FROM meter_etl.detect('2024-05-04', '2024-05-04 23:45', '{P}');
SELECT start_ts, end_ts, intervals, kind FROM meter_etl.v_gap WHERE meter_id = 'P';
SELECT kind, start_ts, end_ts, ongoing FROM meter_etl.v_fault WHERE meter_id = 'P' ORDER BY start_ts;
