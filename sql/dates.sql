-- Dates with month names, and a profile's own date_format (issue 17).
-- each suite starts from a fresh install, so ids do not depend on suite order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';
\set acct 'format, lines_read, readings_read, rows_clean, rows_quarantined, quarantined_by_reason'

-- AusNet's "My Power Planner" wide export: the wide_au header, month names
-- in the dates (01/Dec/2013 and the other spellings vendors write), kWh per
-- half hour, AEST (UTC+10, no DST), so local midnight is 14:00 UTC the day before
SELECT meter_etl.stage('ausnet.csv', convert_to(
'NMI,METER SERIAL NUMBER,CON/GEN,DATE,ESTIMATED?,' ||
  (SELECT string_agg(format('%s - %s', to_char(t, 'HH24:MI'), to_char(t + interval '30 min', 'HH24:MI')), ',')
     FROM generate_series(timestamp '2000-01-01', timestamp '2000-01-01 23:30', interval '30 min') t) || E'\n' ||
(SELECT string_agg(format('6305000001,A123,%s,%s,No,', c, d) ||
                   (SELECT string_agg('0.25', ',') FROM generate_series(1, 48)), E'\n' ORDER BY n)
   FROM (VALUES (1, 'Consumption', '01/Dec/2013'), (2, 'Generation', '01/Dec/2013'),
                (3, 'Consumption', '2-Dec-2013'), (4, 'Consumption', 'Dec 3 2013'),
                (5, 'Consumption', '2013-Dec-04'), (6, 'Consumption', '5 december 2013'),
                (7, 'Consumption', 'SEPT 30 2013')) v(n, c, d)) || E'\n',
'UTF8')) AS f \gset
SELECT meter_etl.detect_format(:f);
SELECT :acct FROM meter_etl.ingest(:f);
-- each meter-day from local midnight to 23:30, in UTC
SELECT (ts AT TIME ZONE 'Australia/Brisbane')::date AS local_day, channel, min(ts), max(ts),
       count(*), avg(kw)
  FROM meter_etl.v_reading WHERE file_id = :f
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS quarantined FROM meter_etl.quarantine WHERE file_id = :f;

-- a profile's date_format decides what date_order alone would read the
-- other way: 01/02/2013 is 2 January under MM/DD/YYYY even with DMY, and a
-- date that does not match the pattern is refused, ISO or not
INSERT INTO meter_etl.format_profile (name, description, layout, meter_column, date_column,
    date_order, date_format, unit_default)
VALUES ('us_wide', 'Wide layout with month-first dates', 'wide', 'meter_id', 'date', 'DMY',
        'MM/DD/YYYY', 'kWh');
SELECT meter_etl.stage('us_wide.csv', convert_to(
'meter_id,date,00:00,06:00,12:00,18:00
U1,01/02/2013,1,2,3,4
U1,12/31/2013,1,2,3,4
U1,2013-01-03,1,2,3,4
U1,31/12/2013,1,2,3,4
', 'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f, 'us_wide');
SELECT meter_id, ts, round(kw::numeric, 4) AS kw FROM meter_etl.v_reading WHERE file_id = :f ORDER BY ts;
SELECT line_no, reason, raw_line FROM meter_etl.quarantine WHERE file_id = :f ORDER BY line_no;

-- a long layout with a pattern: the time follows the date as without one;
-- the pattern asks for the comma, so the last line is refused
INSERT INTO meter_etl.format_profile (name, ts_column, meter_column, value_columns, date_format,
    time_zone, unit_default, interval_minutes)
VALUES ('named_long', 'when', 'meter', '{kw}', 'MON D, YYYY', 'Europe/Dublin', 'kW', 30);
SELECT meter_etl.stage('named_long.csv', convert_to(
'meter,when,kw
L1,"Jul 1, 2024 00:30",1.5
L1,"July 1, 2024 01:00:00",2
L1,"Jul 1 2024 01:30",3
', 'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f, 'named_long');
SELECT meter_id, ts, kw FROM meter_etl.v_reading WHERE file_id = :f ORDER BY ts;
SELECT line_no, reason, raw_line FROM meter_etl.quarantine WHERE file_id = :f ORDER BY line_no;

-- an invalid pattern is refused when the profile is stored, with its reason
INSERT INTO meter_etl.format_profile (name, layout, date_column, date_format)
VALUES ('bad_pattern', 'wide', 'date', 'DD/MM/YY');
UPDATE meter_etl.format_profile SET date_format = 'DD/DD/YYYY' WHERE name = 'us_wide';
-- each refusal says what is wrong, with SQLSTATE 22007 (invalid_datetime_format)
DO $$
DECLARE
  pat text;
  st text;
  det text;
BEGIN
  FOREACH pat IN ARRAY ARRAY['', 'MM/YYYY', 'DD/MM', 'DMYYYY', ' DD/MM/YYYY', 'YYYY-MMM-DD',
                             'DD.MM.YYYY HH24:MI', 'DD-Mon-YYYY']
  LOOP
    BEGIN
      UPDATE meter_etl.format_profile SET date_format = pat WHERE name = 'us_wide';
      RAISE NOTICE '"%": accepted', pat;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
      RAISE NOTICE '"%": % %', pat, st, det;
    END;
  END LOOP;
END
$$;
SELECT name, date_order, date_format FROM meter_etl.format_profile WHERE NOT builtin ORDER BY name;
-- NULL goes back to reading dates by date_order
UPDATE meter_etl.format_profile SET date_format = NULL WHERE name = 'us_wide';
SELECT date_format IS NULL AS auto FROM meter_etl.format_profile WHERE name = 'us_wide';
