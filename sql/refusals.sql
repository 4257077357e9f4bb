-- Mistakes a new user makes get an error with a clear message, never a
-- silent empty result, a made-up answer or an internal row dump.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';
\set VERBOSITY terse

-- staging
SELECT meter_etl.stage(NULL, NULL);
SELECT meter_etl.stage('x.csv', NULL);
SELECT meter_etl.stage('', 'abc'::bytea);
SELECT meter_etl.stage('   ', 'abc'::bytea);
SELECT meter_etl.stage_begin(NULL);
SELECT meter_etl.stage_begin('up.csv') AS up \gset
SELECT meter_etl.stage_chunk(:up, 0, NULL);
SELECT meter_etl.stage_chunk(:up, -1, 'x'::bytea);
SELECT meter_etl.stage_chunk(:up, NULL, 'x'::bytea);
-- an empty file is fine, though, and identical bytes under a bad name are refused too
SELECT meter_etl.stage('empty.csv', ''::bytea) > 0 AS empty_ok;
SELECT meter_etl.stage('', ''::bytea);

-- a raw file that does not exist
SELECT meter_etl.detect_format(999);
SELECT meter_etl.raw_line(999, 1);
SELECT meter_etl.raw_sha256(999);
SELECT * FROM meter_etl.ingest(999);
SELECT meter_etl.stage('lines.csv', convert_to(E'a\nb\n', 'UTF8')) AS f \gset
SELECT meter_etl.raw_line(:f, 0);
SELECT meter_etl.raw_line(:f, -3);

-- peak_periods
SELECT * FROM meter_etl.peak_periods('2024-01-01', '2024-01-02', top_n => NULL);
SELECT * FROM meter_etl.peak_periods('2024-01-01', '2024-01-02', top_n => 0);
SELECT * FROM meter_etl.peak_periods('2024-01-01', '2024-01-02', top_n => -1);
SELECT * FROM meter_etl.peak_periods('2024-01-01', '2024-01-02', channel => 'imports');
SELECT * FROM meter_etl.peak_periods('2024-01-02', '2024-01-01');
SELECT * FROM meter_etl.peak_periods(NULL, '2024-01-01');
SELECT * FROM meter_etl.peak_periods('2024-01-01', '2024-01-02', bucket => '0 minutes');
SELECT * FROM meter_etl.peak_periods('2024-01-01', '2024-01-02', meters => '{}');
SELECT * FROM meter_etl.peak_periods('2024-01-01', '2024-01-02', time_zone => 'Mars/Olympus');
SELECT * FROM meter_etl.peak_periods('2024-01-01', '2024-01-02', per_day => NULL);
-- and the right call on an empty store is an empty answer
SELECT count(*) FROM meter_etl.peak_periods('2024-01-01', '2024-01-02', time_zone => 'Europe/London');

-- detect() and detect_faulty_meters() without a range: yesterday, midnight
-- to midnight in the session's TimeZone; a NULL given is still an error
SET timezone = 'Europe/London';
SELECT from_ts = date_trunc('day', now()) - interval '1 day' AS from_yesterday,
       to_ts = date_trunc('day', now()) AS to_today, status
  FROM meter_etl.detect();
SELECT count(*) AS episodes FROM meter_etl.detect_faulty_meters();
SELECT meter_etl.detect(NULL);
SELECT count(*) FROM meter_etl.detect_faulty_meters(to_ts => NULL);
RESET timezone;
