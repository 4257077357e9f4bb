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
