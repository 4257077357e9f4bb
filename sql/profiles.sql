-- Format profiles: user-defined layouts, detection, and clear errors.
-- each suite starts from a fresh install, so ids do not depend on suite order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- a vendor layout of our own: semicolons, day-first local time, Wh per 15 min
INSERT INTO meter_etl.format_profile (name, description, delimiter, detect_columns, meter_column,
    ts_column, date_order, time_zone, value_columns, unit_default, interval_minutes, missing_markers)
VALUES ('acme_wh', 'ACME head-end export', ';', '{zaehler,zeit,wh}', 'zaehler', 'zeit', 'DMY',
        'Europe/Berlin', '{wh}', 'Wh', 15, '{-,leer}');
SELECT meter_etl.stage('acme.csv', convert_to(
'Zaehler;Zeit;Wh
Z-1;31.03.2024 01:45;250
Z-1;31.03.2024 02:15;250
Z-1;31.03.2024 03:00;-
Z-1;31.03.2024 03:15;500
', 'UTF8')) AS f \gset
SELECT meter_etl.detect_format(:f);
SELECT format, readings_read, rows_clean, rows_quarantined, quarantined_by_reason FROM meter_etl.ingest(:f);
SELECT meter_id, ts, kw FROM meter_etl.v_reading WHERE file_id = :f ORDER BY ts;

-- user profiles are dumped by pg_dump, the built-in ones are not
SELECT c.relname, x.cond
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(oid, cond)
  JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'meter_etl' AND x.cond <> '' ORDER BY 1;
-- every table of the extension is dumped with its data, except the fixed catalogs
-- (the daily partitions of reading are ordinary tables, dumped like any other)
SELECT c.relname AS not_dumped
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND d.deptype = 'e'
 WHERE e.extname = 'meter_etl' AND c.relkind = 'r'
   AND c.oid <> ALL (e.extconfig)
 ORDER BY 1;

-- errors a user can cause, each with a clear message
SELECT meter_etl.stage('mystery.csv', convert_to(E'foo,bar\n1,2\n', 'UTF8')) AS m \gset
SELECT meter_etl.detect_format(:m);
SELECT * FROM meter_etl.ingest(:m);
SELECT * FROM meter_etl.ingest(:m, 'no_such_format');
SELECT * FROM meter_etl.ingest(:m, 'generic');
SELECT * FROM meter_etl.ingest(424242);
SELECT * FROM meter_etl.ingest(NULL);
SELECT status FROM meter_etl.raw_file WHERE file_id = :m;

UPDATE meter_etl.format_profile SET time_zone = 'Mars/Olympus' WHERE name = 'acme_wh';
SELECT meter_etl.stage('acme2.csv', convert_to(E'Zaehler;Zeit;Wh\nZ-2;01.04.2024 00:00;1\n', 'UTF8')) AS a2 \gset
SELECT format, readings_read, rows_clean FROM meter_etl.ingest(:a2, 'acme_wh');
INSERT INTO meter_etl.format_profile (name, ts_column, value_columns, value_units)
VALUES ('bad_unit_profile', 't', '{v}', '{furlongs}');
INSERT INTO meter_etl.format_profile (name, ts_column) VALUES ('no_values', 't');
-- channel names are at most 63 bytes: a longer one is refused, not cut short
INSERT INTO meter_etl.format_profile (name, ts_column, value_columns, channel_default)
VALUES ('long_channel', 't', '{v}', repeat('c', 64));
INSERT INTO meter_etl.format_profile (name, ts_column, value_columns, channel_map)
VALUES ('long_mapped', 't', '{v}', jsonb_build_object('E1', repeat('c', 64) || ':kWh'));
\set VERBOSITY terse
INSERT INTO meter_etl.format_profile (name, interval_minutes) VALUES ('bad_interval', 7);
INSERT INTO meter_etl.format_profile (name, missing_markers) VALUES ('null_marker', '{NULL}');
\set VERBOSITY default

-- an empty file ingests with format auto as zero readings
SELECT meter_etl.stage('nothing.csv', '') AS e \gset
SELECT format, lines_read, readings_read FROM meter_etl.ingest(:e);

-- a file still being received cannot be ingested
SELECT meter_etl.stage_begin('partial.csv') AS p \gset
SELECT * FROM meter_etl.ingest(:p);
