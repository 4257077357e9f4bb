-- Every reading is accounted for, on malformed files too:
-- each suite starts from a fresh install, so ids do not depend on suite order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
-- readings_read = rows_clean + rows_quarantined + rows_duplicate.
SET timezone = 'UTC';
CREATE TEMP TABLE fixture (name text, content bytea);
INSERT INTO fixture VALUES
 ('empty', ''),
 ('blank_lines_only', convert_to(E'\n\n  \n', 'UTF8')),
 ('header_only', convert_to('meter_id,timestamp,value,unit', 'UTF8')),
 ('header_only_crlf', convert_to(E'meter_id,timestamp,value,unit\r\n', 'UTF8')),
 ('bom_crlf', '\xefbbbf'::bytea || convert_to(E'meter_id,timestamp,value,unit\r\nA1,2024-01-01T00:00:00Z,1,kW\r\nA1,2024-01-01T00:15:00Z,2,kW\r\n', 'UTF8')),
 ('cr_only', convert_to(E'meter_id,timestamp,value,unit\rA2,2024-01-01T00:00:00Z,1,kW\rA2,2024-01-01T00:15:00Z,2,kW', 'UTF8')),
 ('no_final_newline', convert_to(E'meter_id,timestamp,value,unit\nA3,2024-01-01T00:00:00Z,1,kW', 'UTF8')),
 ('wrong_column_count', convert_to(E'meter_id,timestamp,value,unit\nA4,2024-01-01T00:00:00Z,1\nA4,2024-01-01T00:15:00Z,1,kW,extra\nA4,2024-01-01T00:30:00Z,1,kW\n', 'UTF8')),
 ('bad_quoting', convert_to(E'meter_id,timestamp,value,unit\nA5,2024-01-01T00:00:00Z,"1,kW\nA5,2024-01-01T00:15:00Z,1"2,kW\nA5,"2024-01-01T00:30:00Z"x,1,kW\nA5,2024-01-01T00:45:00Z,"1",kW\n', 'UTF8')),
 ('invalid_utf8', convert_to(E'meter_id,timestamp,value,unit\n', 'UTF8') || '\x4136fc2c323032342d30312d30315430303a30303a30305a2c312c6b570a'::bytea || convert_to(E'A6,2024-01-01T00:15:00Z,1,kW\n', 'UTF8')),
 ('nul_byte', convert_to(E'meter_id,timestamp,value,unit\n', 'UTF8') || '\x41372c323032342d30312d30315430303a30303a30305a2c31002c6b570a'::bytea),
 ('binary_junk', convert_to(E'meter_id,timestamp,value,unit\n', 'UTF8') || '\x00010203fffefd0a8081820a'::bytea),
 ('duplicates', convert_to(E'meter_id,timestamp,value,unit\nA8,2024-01-01T00:00:00Z,1,kW\nA8,2024-01-01T00:00:00Z,1,kW\nA8,2024-01-01T00:00:00Z,1000,W\nA8,2024-01-01T00:00:00Z,2,kW\n', 'UTF8')),
 ('every_field_error', convert_to(E'meter_id,timestamp,value,unit\n,2024-01-01T00:00:00Z,1,kW\nA9,,1,kW\nA9,2024-02-30T00:00:00Z,1,kW\nA9,2024-01-01T00:00:00Z,,kW\nA9,2024-01-01T00:15:00Z,1.2.3,kW\nA9,2024-01-01T00:30:00Z,1,kVA\nA9,2024-01-01T00:45:00Z,-3,kW\nA9,2024-01-01T01:00:00Z,150000,W\nA9,1999-01-01T01:15:00Z,1,kW\nA9,2024-01-01T01:22:00Z,1,kW\n' || repeat('x', 70) || E',2024-01-01T01:30:00Z,1,kW\nA9,2024-01-01T01:45:00Z,1,kW\n', 'UTF8'));

-- stage and ingest every fixture (format given: an empty file has no header to detect)
CREATE TEMP TABLE result AS
SELECT f.name, r.*
  FROM fixture f,
       LATERAL meter_etl.stage(f.name || '.csv', f.content) AS s(file_id),
       LATERAL meter_etl.ingest(s.file_id, 'generic') AS r;
SELECT name, lines_read, blank_lines, readings_read, rows_clean, rows_quarantined, rows_duplicate,
       readings_read = rows_clean + rows_quarantined + rows_duplicate AS balanced
  FROM result ORDER BY name;

-- a file without readings is an ok run, but says so: a WARNING above and an alert
SELECT r.name, a.severity, a.message, a.details
  FROM result r JOIN meter_etl.alert a ON a.file_id = r.file_id AND a.kind = 'empty_file'
 ORDER BY r.name;

-- the quarantine holds one row per quarantined reading, with reason, line and raw text
SELECT r.name, count(q.*) = r.rows_quarantined AS quarantine_matches
  FROM result r LEFT JOIN meter_etl.quarantine q ON q.file_id = r.file_id
 GROUP BY r.name, r.rows_quarantined ORDER BY r.name;
SELECT r.name, q.line_no, q.reason, q.detail, q.raw_line
  FROM result r JOIN meter_etl.quarantine q ON q.file_id = r.file_id
 ORDER BY r.name, q.line_no;

-- the clean rows carry their lineage back to the raw zone
SELECT r.name, v.meter_id, v.ts, v.kw, v.line_no,
       meter_etl.raw_line(v.file_id, v.line_no) AS raw
  FROM result r JOIN meter_etl.v_reading v ON v.file_id = r.file_id
 WHERE r.name IN ('duplicates', 'bad_quoting', 'cr_only')
 ORDER BY r.name, v.ts;

-- the database itself refuses an unbalanced run
\set VERBOSITY terse
INSERT INTO meter_etl.ingest_run (file_id, status, readings_read, rows_clean)
SELECT min(file_id), 'ok', 10, 9 FROM meter_etl.raw_file;
\set VERBOSITY default

-- every successful ingest balances, as v_file_accounting shows
SELECT bool_and(balanced) AS all_balanced, count(*) AS files FROM meter_etl.v_file_accounting;

-- idempotency: ingesting again changes nothing and says so
SELECT count(*) AS readings_before FROM meter_etl.reading \gset
SELECT count(*) AS quarantine_before FROM meter_etl.quarantine \gset
SELECT rows_clean, rows_duplicate FROM meter_etl.ingest((SELECT file_id FROM result WHERE name = 'duplicates'));
SELECT count(*) = :readings_before AS readings_same FROM meter_etl.reading;
SELECT count(*) = :quarantine_before AS quarantine_same FROM meter_etl.quarantine;

-- a different file carrying readings already stored: exact repeats are
-- duplicates, different values are duplicate_conflict (the first value stays)
SELECT meter_etl.stage('overlap.csv', convert_to(E'meter_id,timestamp,value,unit\nA1,2024-01-01T00:00:00Z,1,kW\nA1,2024-01-01T00:15:00Z,5,kW\nA1,2024-01-01T00:30:00Z,3,kW\n', 'UTF8')) AS ov \gset
SELECT readings_read, rows_clean, rows_quarantined, rows_duplicate, quarantined_by_reason FROM meter_etl.ingest(:ov);
SELECT line_no, reason, meter_id, value_raw, detail, raw_line FROM meter_etl.quarantine WHERE file_id = :ov;
SELECT ts, kw, file_id = :ov AS from_overlap FROM meter_etl.v_reading WHERE meter_id = 'A1' ORDER BY ts;

-- small batches: duplicates and conflicts across batch boundaries are found too
SET meter_etl.batch_rows = 1024;
SELECT meter_etl.stage('batches.csv', convert_to('meter_id,timestamp,value,unit' || E'\n' ||
  (SELECT string_agg(format('B%s,%s,%s,kW', i % 7, to_char(timestamp '2024-03-01' + (i / 7) * interval '15 min', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), i % 5), E'\n' ORDER BY i)
     FROM generate_series(0, 2999) i) || E'\n' ||
  (SELECT string_agg(format('B%s,%s,%s,kW', i % 7, to_char(timestamp '2024-03-01' + (i / 7) * interval '15 min', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), CASE WHEN i % 2 = 0 THEN i % 5 ELSE 9 END), E'\n' ORDER BY i)
     FROM generate_series(0, 2999, 3) i) || E'\n', 'UTF8')) AS bt \gset
SELECT readings_read, rows_clean, rows_quarantined, rows_duplicate FROM meter_etl.ingest(:bt);
RESET meter_etl.batch_rows;
