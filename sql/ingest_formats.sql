-- Ingest of every shipped layout, from small inline fixtures.
-- each suite starts from a fresh install, so ids do not depend on suite order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';
\set acct 'format, lines_read, readings_read, rows_clean, rows_quarantined, rows_duplicate, quarantined_by_reason'

-- generic: ISO-8601 offsets, W/kW/Wh/kWh, optional channel column
SELECT meter_etl.stage('generic.csv', convert_to(
'meter_id,timestamp,value,unit,channel
G1,2024-01-01T00:00:00Z,1.5,kW,import
G1,2024-01-01T00:15:00+00:00,1500,W,import
G1,2024-01-01T01:30:00+01:00,0.25,kWh,import
G1,2024-01-01T00:45:00Z,250,Wh,import
G1,2024-01-01T00:00:00Z,-0.5,kW,net
G1,2024-01-01T00:00:00Z,0.3,kW,Export
', 'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);
SELECT meter_id, channel, ts, kw, flags FROM meter_etl.v_reading WHERE file_id = :f ORDER BY channel, ts;

-- LCL (Kaggle layout): space-padded kWh per half hour, UTC, Null marker
SELECT meter_etl.stage('MAC000002.csv', convert_to(
'LCLid,tstp,energy(kWh/hh)
MAC000002,2013-01-01 00:00:00, 0.219 
MAC000002,2013-01-01 00:30:00, 0.241 
MAC000002,2013-01-01 01:00:00,Null
MAC000002,2013-03-31 01:00:00, 3.7839999 
', 'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);
SELECT meter_id, ts, round(kw::numeric, 4) AS kw FROM meter_etl.v_reading WHERE file_id = :f ORDER BY ts;
-- kwh (energy per interval) gives back the value as received, without rounding noise
SELECT ts, kwh FROM meter_etl.v_reading WHERE file_id = :f ORDER BY ts;

-- LCL (UK Power Networks layout): stdorToU column, fractional seconds
SELECT meter_etl.stage('lcl_tou.csv', convert_to(
'LCLid,stdorToU,DateTime,KWH/hh (per half hour) 
MAC000003,Std,2012-10-12 00:30:00.0000000,0
MAC000003,Std,2012-10-12 01:00:00.0000000,0.102
MAC000003,Std,2012-10-12 01:30:00.0000000,Null
', 'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);

-- UCI: ';' separated, day-first local time (Europe/Paris), '?' markers, CRLF,
-- no meter column (the file name is the meter id), truncated last line
SELECT meter_etl.stage('household_power.txt', convert_to(
E'Date;Time;Global_active_power;Global_reactive_power;Voltage;Global_intensity;Sub_metering_1;Sub_metering_2;Sub_metering_3\r\n'
 '16/12/2006;17:24:00;4.216;0.418;234.840;18.400;0.000;1.000;17.000\r\n'
 '16/12/2006;17:25:00;5.360;0.436;233.630;23.000;0.000;1.000;16.000\r\n'
 '21/12/2006;11:23:00;?;?;?;?;?;?;\r\n'
 '27/12/2006;18:46:00;1.688;0.000;238.2', 'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);
SELECT meter_id, ts, kw FROM meter_etl.v_reading WHERE file_id = :f ORDER BY ts;
SELECT line_no, reason, detail, raw_line FROM meter_etl.quarantine WHERE file_id = :f ORDER BY line_no;

-- ESB HDF: interval END times in Europe/Dublin, newest first, import and
-- export interleaved, kW; the spring-forward day has no 01:00/01:30 ends
SELECT meter_etl.stage('HDF_kW.csv', convert_to(
'MPRN,Meter Serial Number,Read Value,Read Type,Read Date and End Time
10000000001,XXX,0,Active Export Interval (kW),26-03-2023 02:30
10000000001,XXX,0.628000,Active Import Interval (kW),26-03-2023 02:30
10000000001,XXX,0.500000,Active Import Interval (kW),26-03-2023 02:00
10000000001,XXX,0.400000,Active Import Interval (kW),26-03-2023 00:30
10000000001,XXX,0.300000,Active Import Interval (kW),26-03-2023 00:00
', 'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);
SELECT meter_id, channel, ts, kw FROM meter_etl.v_reading WHERE file_id = :f ORDER BY channel, ts;

-- ESB fall-back: the repeated hour is resolved by order of appearance; the
-- file runs newest first, so the first 01:30 seen is the later instant
SELECT meter_etl.stage('HDF_fallback.csv', convert_to(
'MPRN,Meter Serial Number,Read Value,Read Type,Read Date and End Time
10000000002,XXX,4,Active Import Interval (kW),29-10-2023 02:00
10000000002,XXX,3,Active Import Interval (kW),29-10-2023 01:30
10000000002,XXX,2,Active Import Interval (kW),29-10-2023 01:00
10000000002,XXX,1,Active Import Interval (kW),29-10-2023 01:30
10000000002,XXX,0,Active Import Interval (kW),29-10-2023 01:00
', 'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);
SELECT ts, kw FROM meter_etl.v_reading WHERE file_id = :f ORDER BY ts;

-- Australian retailer narrow export: date + start time, unit column (KWH)
SELECT meter_etl.stage('redenergy.csv', convert_to(
'Nmi,Read Type,Meter,Register,Date,Interval,Start Time,End Time,Value,Unit of Measure
6001140731,A,0234134,E1,2013-09-21,1,00:00,00:30,0.019,KWH
6001140731,A,0234134,E1,2013-09-21,2,00:30,01:00,0.063,KWH', 'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);
SELECT meter_id, channel, ts, kw FROM meter_etl.v_reading WHERE file_id = :f ORDER BY ts;

-- wide meter-day layout (Jemena): 48 half-hour columns, kWh, AEST
SELECT meter_etl.stage('jemena.csv', convert_to(
'"NMI","METER SERIAL NUMBER","CON/GEN","DATE","ESTIMATED?",' ||
  (SELECT string_agg(format('"%s - %s"', to_char(t, 'HH24:MI'), to_char(t + interval '30 min', 'HH24:MI')), ',')
     FROM generate_series(timestamp '2000-01-01', timestamp '2000-01-01 23:30', interval '30 min') t) || E'\n' ||
'1111111111,0204324,Consumption,01/07/2014,No,' || (SELECT string_agg('0.5', ',') FROM generate_series(1, 48)) || E'\n' ||
'1111111111,0204324,Generation,01/07/2014,Yes,' || (SELECT string_agg(CASE WHEN i = 3 THEN '' ELSE '0.1' END, ',') FROM generate_series(1, 48) i) || E'\n\n',
'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);
SELECT channel, count(*), min(ts), max(ts), avg(kw), bool_and(flags = 16) AS source_estimated
  FROM meter_etl.v_reading WHERE file_id = :f GROUP BY channel ORDER BY channel;

-- generic wide layout: meter_id,date + HH:MM columns (24 hourly intervals)
SELECT meter_etl.stage('wide.csv', convert_to(
'meter_id,date,' || (SELECT string_agg(lpad(h::text, 2, '0') || ':00', ',') FROM generate_series(0, 23) h) || E'\n' ||
'W1,2024-02-01,' || (SELECT string_agg((h * 0.1)::text, ',') FROM generate_series(0, 23) h) || E'\n',
'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);
SELECT count(*), min(ts), max(ts), max(kw) FROM meter_etl.v_reading WHERE file_id = :f;

-- NEM12: 200 record gives NMI, suffix, unit and interval; 300 one day; 400
-- overrides quality; 500 and 900 carry no intervals; CRLF
SELECT meter_etl.stage('nem12.csv', convert_to(
E'100,NEM12,201402070911,MDA1,Ret1\r\n'
 '200,1111111111,E1,001,E1,N1,1111111,KWH,30,20150226\r\n'
 '300,20140401,' || (SELECT string_agg('0.25', ',') FROM generate_series(1, 48)) || E',A,,,20140402120025,\r\n'
 '300,20140402,' || (SELECT string_agg('0.5', ',') FROM generate_series(1, 48)) || E',V,,,20140403120025,\r\n'
 '400,1,4,E52,,\r\n'
 '400,5,48,A,,\r\n'
 '500,N,,20140401000002,5797.496\r\n'
 '900\r\n', 'UTF8')) AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);
SELECT meter_id, channel, count(*), min(ts), max(ts), min(kw), max(kw),
       count(*) FILTER (WHERE flags & 16 <> 0) AS source_estimated
  FROM meter_etl.v_reading WHERE file_id = :f GROUP BY 1, 2;

-- Pecan Street: two timestamp layouts in one column, net (signed) grid channel,
-- US Central local time with a spring-forward gap
SELECT meter_etl.stage('pecan.csv', convert_to(
E'dataid,local_15min,,grid,solar,solar2,Whole Home Use\r\n'
 '661,1/1/2018,0:00,0.5,0.0,,0.50000\r\n'
 '1642,1/1/2018 13:00,,-0.486,1.2,,0.7\r\n'
 '1642,3/11/2018 2:15,,0.3,0.0,,0.3\r\n'
 '1642,3/11/2018 3:00,,0.3,-0.068,,0.3\r\n', 'UTF8'), 'pecan') AS f \gset
SELECT :acct FROM meter_etl.ingest(:f);
SELECT meter_id, channel, ts, kw FROM meter_etl.v_reading WHERE file_id = :f ORDER BY meter_id, ts, channel;
SELECT line_no, reason, meter_id, channel, value_raw FROM meter_etl.quarantine WHERE file_id = :f ORDER BY line_no, channel;

-- auto-detection picks each profile from its header
SELECT file_name, format FROM meter_etl.raw_file ORDER BY file_id;

-- meters are registered with the interval and zone of their first file
SELECT meter_id, interval_s, time_zone FROM meter_etl.meter ORDER BY meter_id;
-- readings were routed to daily partitions created on demand
SELECT count(*) > 5 AS has_partitions FROM pg_inherits WHERE inhparent = 'meter_etl.reading'::regclass;
