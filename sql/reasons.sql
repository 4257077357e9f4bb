-- Every documented reason code, produced once each, and nothing else.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- reasons found while reading a file (one line each)
SELECT meter_etl.stage('reasons.csv',
  convert_to(E'meter_id,timestamp,value,unit\n'
   'R1,2024-01-01T00:00:00Z,1,kW\n'                -- line 2: clean
   'R1,2024-01-01T00:15:00Z,"1,kW\n'               -- 3 parse_error
   ',2024-01-01T00:30:00Z,1,kW\n'                  -- 4 missing_field
   'R1\t2,2024-01-01T00:30:00Z,1,kW\n'             -- 5 bad_meter_id
   'R1,2024-01-01 25:00,1,kW\n'                    -- 6 bad_timestamp
   'R1,1999-12-31T23:45:00Z,1,kW\n'                -- 7 timestamp_out_of_range
   'R1,2024-01-01T00:40:00Z,1,kW\n'                -- 8 off_grid_timestamp
   'R1,2024-01-01T00:45:00Z,?,kW\n'                -- 9 missing_value
   'R1,2024-01-01T01:00:00Z,one,kW\n'              -- 10 bad_value
   'R1,2024-01-01T01:15:00Z,-1,kW\n'               -- 11 negative_value
   'R1,2024-01-01T01:30:00Z,1000,kW\n'             -- 12 implausible_value
   'R1,2024-01-01T01:45:00Z,1,kVAr\n'              -- 13 bad_unit
   'R1,2024-01-01T00:00:00Z,2,kW\n', 'UTF8')       -- 14 duplicate_conflict
  || '\x52c8312c323032342d30312d30315430323a30303a30305a2c312c6b570a'::bytea  -- 15 encoding_error (Latin-1)
) AS f \gset
SELECT readings_read, rows_clean, rows_quarantined, rows_duplicate FROM meter_etl.ingest(:f, 'generic');

-- reasons found on local-time files
INSERT INTO meter_etl.format_profile (name, meter_column, ts_column, value_columns, unit_default, time_zone, interval_minutes)
VALUES ('reasons_local', 'm', 't', '{v}', 'kW', 'Europe/London', 30);
SELECT meter_etl.stage('local.csv', convert_to(E'm,t,v\nR2,2024-03-31 01:30,1\n', 'UTF8')) AS l \gset
SELECT readings_read, rows_quarantined FROM meter_etl.ingest(:l, 'reasons_local');

-- a channel label too long to be a channel name (63 bytes is the most)
SELECT meter_etl.stage('channel.csv',
  convert_to(E'meter_id,timestamp,value,unit,channel\n'
             'R1,2024-01-01T03:00:00Z,1,kW,' || repeat('c', 63) || E'\n'
             'R1,2024-01-01T03:00:00Z,1,kW,' || repeat('c', 64) || E'\n', 'UTF8')) AS ch \gset
SELECT readings_read, rows_clean, rows_quarantined FROM meter_etl.ingest(:ch, 'generic');

-- a number no double holds is a bad value, never 0 kW (underflow) or infinity
SELECT meter_etl.stage('range.csv',
  convert_to(E'meter_id,timestamp,value,unit\n'
             'R3,2024-01-01T00:00:00Z,1e-400,kW\n'
             'R3,2024-01-01T00:15:00Z,1e400,kW\n'
             'R3,2024-01-01T00:30:00Z,0e-400,kW\n', 'UTF8')) AS rg \gset
SELECT readings_read, rows_clean, rows_quarantined, quarantined_by_reason FROM meter_etl.ingest(:rg, 'generic');
SELECT line_no, reason, value_raw FROM meter_etl.quarantine WHERE file_id = :rg ORDER BY line_no;
SELECT length(name) AS longest_channel FROM meter_etl.channel ORDER BY 1 DESC LIMIT 1;

-- reasons found by the guard trigger on other paths
INSERT INTO meter_etl.reading (meter_key, ts, kw) VALUES (-1, '2024-01-01', 1);
INSERT INTO meter_etl.reading (meter_key, channel_id, ts, kw)
SELECT meter_key, 999, '2024-01-01', 1 FROM meter_etl.meter WHERE meter_id = 'R1';

SELECT q.reason, q.line_no, q.source
  FROM meter_etl.quarantine q ORDER BY q.reason, q.file_id, q.line_no;

-- every documented code was produced above, and no undocumented one
SELECT rc.code AS untested_reason FROM meter_etl.reason_code rc
 WHERE NOT EXISTS (SELECT 1 FROM meter_etl.quarantine q WHERE q.reason = rc.code);
SELECT DISTINCT q.reason AS undocumented_reason FROM meter_etl.quarantine q
 WHERE NOT EXISTS (SELECT 1 FROM meter_etl.reason_code rc WHERE rc.code = q.reason);
-- and every quarantine row from ingest names its file and line
SELECT count(*) AS ingest_rows_without_lineage
  FROM meter_etl.quarantine WHERE source = 'ingest' AND (file_id IS NULL OR line_no IS NULL);
