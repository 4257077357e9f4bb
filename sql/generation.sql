-- Generation channels: a small negative on a channel that is not signed and
-- has a negative_tolerance_kw (an inverter's standby draw at night) is
-- stored as 0 kW with the edited flag, its value kept in the raw line;
-- beyond the tolerance, and on channels without one, it is negative_value;
-- signed channels keep their negatives.  Ingest and the guard trigger agree,
-- and the accounting balances.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- the shipped tolerances: solar only
SELECT channel_id, name, signed, negative_tolerance_kw FROM meter_etl.channel ORDER BY channel_id;

-- a night and a morning of a PV home in the Pecan Street layout (grid is the
-- signed net channel; 6/1/2018 is 1 June, US Central summer time); line 8
-- has no net value
SELECT meter_etl.stage('pv_night.csv', convert_to(
E'dataid,local_15min,,grid,solar,solar2,Whole Home Use\r\n'
 '77,6/1/2018,0:00,0.412,-0.004,,0.408\r\n'      -- line 2
 '77,6/1/2018,0:15,0.398,-0.068,,0.33\r\n'       -- 3: the Pecan Street minimum
 '77,6/1/2018,0:30,0.405,-0.1,,0.305\r\n'        -- 4: at the bound
 '77,6/1/2018,0:45,0.401,-0.35,,0.05\r\n'        -- 5: beyond it: negative_value
 '77,6/1/2018,1:00,0.399,0,,0.399\r\n'           -- 6: zero as read
 '77,6/1/2018,7:00,-1.25,1.9,,0.65\r\n'          -- 7: exporting: net negative, as read
 '77,6/1/2018,7:15,,-0.02,,\r\n', 'UTF8')) AS f \gset
SELECT format, readings_read, rows_clean, rows_quarantined, rows_duplicate, quarantined_by_reason,
       readings_read = rows_clean + rows_quarantined + rows_duplicate AS balanced
  FROM meter_etl.ingest(:f);
SELECT channel, ts, kw, flag_names, line_no FROM meter_etl.v_reading WHERE file_id = :f ORDER BY channel, ts;
SELECT line_no, reason, channel, value_raw FROM meter_etl.quarantine WHERE file_id = :f ORDER BY line_no, channel;
-- the value as received stays in the raw zone, by file and line
SELECT v.line_no, v.kw, split_part(meter_etl.raw_line(v.file_id, v.line_no), ',', 5) AS solar_as_received
  FROM meter_etl.v_reading v
 WHERE v.file_id = :f AND v.channel = 'solar' AND 'edited' = ANY (v.flag_names) ORDER BY 1;
SELECT balanced FROM meter_etl.v_file_accounting WHERE file_id = :f;

-- the generic layout: any unit (converted to kW first), any channel; export
-- (line 8) has no tolerance either
SELECT meter_etl.stage('channels.csv', convert_to(
E'meter_id,timestamp,value,unit,channel\n'
 'G1,2024-06-01T00:00:00Z,-50,W,solar\n'          -- 2: -0.05 kW, clipped
 'G1,2024-06-01T00:15:00Z,-0.025,kWh,solar\n'     -- 3: -0.1 kW, the bound
 'G1,2024-06-01T00:30:00Z,-0.2,kWh,solar\n'       -- 4: -0.8 kW: negative_value
 'G1,2024-06-01T00:45:20Z,-0.01,kW,solar\n'       -- 5: clipped and snapped
 'G1,2024-06-01T00:00:00Z,-0.05,kW,net\n'         -- 6: signed: as read
 'G1,2024-06-01T00:00:00Z,-0.05,kW,import\n'      -- 7: no tolerance: negative_value
 'G1,2024-06-01T00:00:00Z,-0.05,kW,export\n', 'UTF8')) AS g \gset
SELECT readings_read, rows_clean, rows_quarantined, rows_duplicate, quarantined_by_reason
  FROM meter_etl.ingest(:g, 'generic');
SELECT line_no, channel, ts, kw, flag_names FROM meter_etl.v_reading WHERE file_id = :g ORDER BY line_no;
SELECT line_no, reason, channel, value_raw, unit_raw FROM meter_etl.quarantine WHERE file_id = :g ORDER BY line_no;

-- a file whose readings repeat clipped ones: the same 0 kW is a duplicate,
-- whichever small negative it came from; a positive value is a conflict
SELECT meter_etl.stage('again.csv', convert_to(
E'meter_id,timestamp,value,unit,channel\n'
 'G1,2024-06-01T00:00:00Z,-0.07,kW,solar\n'
 'G1,2024-06-01T00:15:00Z,0,kW,solar\n'
 'G1,2024-06-01T00:45:00Z,0.3,kW,solar\n', 'UTF8')) AS a \gset
SELECT readings_read, rows_clean, rows_quarantined, rows_duplicate, quarantined_by_reason
  FROM meter_etl.ingest(:a, 'generic');

-- the tolerance is the channel's: changed, it applies to the next ingest;
-- a channel new to the store (wind, the last line) has none
UPDATE meter_etl.channel SET negative_tolerance_kw = 0.5 WHERE name = 'solar';
INSERT INTO meter_etl.channel (name, negative_tolerance_kw) VALUES ('pv', 0.05);
SELECT meter_etl.stage('changed.csv', convert_to(
E'meter_id,timestamp,value,unit,channel\n'
 'G2,2024-06-01T00:00:00Z,-0.35,kW,solar\n'       -- clipped now
 'G2,2024-06-01T00:00:00Z,-0.04,kW,pv\n'          -- clipped: a channel of the user''s
 'G2,2024-06-01T00:15:00Z,-0.06,kW,pv\n'          -- beyond pv''s 0.05
 'G2,2024-06-01T00:00:00Z,-0.04,kW,wind\n', 'UTF8')) AS c \gset
SELECT readings_read, rows_clean, rows_quarantined, quarantined_by_reason FROM meter_etl.ingest(:c, 'generic');
SELECT channel, ts, kw, flag_names FROM meter_etl.v_reading WHERE file_id = :c ORDER BY channel, ts;
SELECT line_no, reason, channel, value_raw FROM meter_etl.quarantine WHERE file_id = :c ORDER BY line_no;
SELECT name, signed, negative_tolerance_kw FROM meter_etl.channel WHERE channel_id > 4 ORDER BY name;
UPDATE meter_etl.channel SET negative_tolerance_kw = NULL WHERE name = 'solar';
SELECT meter_etl.stage('none.csv', convert_to(
E'meter_id,timestamp,value,unit,channel\n'
 'G3,2024-06-01T00:00:00Z,-0.004,kW,solar\n', 'UTF8')) AS n \gset
SELECT rows_clean, rows_quarantined, quarantined_by_reason FROM meter_etl.ingest(:n, 'generic');
UPDATE meter_etl.channel SET negative_tolerance_kw = 0 WHERE name = 'solar';
SELECT meter_etl.stage('zero.csv', convert_to(
E'meter_id,timestamp,value,unit,channel\n'
 'G3,2024-06-01T00:15:00Z,-0.004,kW,solar\n', 'UTF8')) AS z \gset
SELECT rows_clean, rows_quarantined, quarantined_by_reason FROM meter_etl.ingest(:z, 'generic');

-- a tolerance is a finite kW amount, not below 0, and signed channels take none
UPDATE meter_etl.channel SET negative_tolerance_kw = -0.1 WHERE name = 'solar';
UPDATE meter_etl.channel SET negative_tolerance_kw = 'NaN' WHERE name = 'solar';
UPDATE meter_etl.channel SET negative_tolerance_kw = 'Infinity' WHERE name = 'solar';
UPDATE meter_etl.channel SET negative_tolerance_kw = 0.1 WHERE name = 'net';
UPDATE meter_etl.channel SET signed = true WHERE name = 'pv';
UPDATE meter_etl.channel SET negative_tolerance_kw = 0.1 WHERE name = 'solar';

-- the guard trigger applies the same rule to rows written other than by ingest
SELECT meter_key AS g1 FROM meter_etl.meter WHERE meter_id = 'G1' \gset
INSERT INTO meter_etl.reading (meter_key, channel_id, ts, kw) VALUES
 (:g1, 4, '2024-06-02 00:45+00', 1.5),            -- solar: as given
 (:g1, 4, '2024-06-02 00:00+00', -0.05),          -- solar: 0 kW, edited
 (:g1, 4, '2024-06-02 00:15:20+00', -0.1),        -- solar: 0 kW, edited and time_adjusted
 (:g1, 4, '2024-06-02 00:30+00', -0.5),           -- solar: negative_value
 (:g1, 3, '2024-06-02 00:00+00', -0.05),          -- net: as given
 (:g1, 1, '2024-06-02 00:00+00', -0.05);          -- import: negative_value
SELECT r.channel_id, r.ts, r.kw, meter_etl.flag_names(r.flags)
  FROM meter_etl.reading r WHERE r.ts >= '2024-06-02' ORDER BY 1, 2;
SELECT reason, source, channel, value_raw FROM meter_etl.quarantine
 WHERE source = 'trigger' ORDER BY quarantine_id;
-- UPDATE too; a flags-only update of a clipped reading leaves it alone
UPDATE meter_etl.reading SET kw = -0.03 WHERE meter_key = :g1 AND channel_id = 4 AND ts = '2024-06-02 00:45+00';
UPDATE meter_etl.reading SET kw = -0.3 WHERE meter_key = :g1 AND channel_id = 4 AND ts = '2024-06-02 00:15+00';
UPDATE meter_etl.reading SET flags = flags | 2 WHERE meter_key = :g1 AND channel_id = 4 AND ts = '2024-06-02 00:00+00';
SELECT ts, kw, meter_etl.flag_names(flags) FROM meter_etl.reading
 WHERE meter_key = :g1 AND channel_id = 4 AND ts >= '2024-06-02' ORDER BY ts;
SELECT count(*) AS trigger_quarantined FROM meter_etl.quarantine WHERE source = 'trigger';

-- the catalog says what the tolerance does
SELECT description FROM meter_etl.reason_code WHERE code = 'negative_value';
SELECT description FROM meter_etl.quality_flag WHERE bit = 8;

-- a 0.1 database: no tolerance until ALTER EXTENSION UPDATE (the 0.2 library
-- serves the 0.1 schema), which gives solar the fresh install's default and
-- the catalog's words
CREATE TEMP TABLE fresh AS
SELECT 'channel' AS t, to_jsonb(c) AS row FROM meter_etl.channel c WHERE channel_id <= 4
UNION ALL SELECT 'reason_code', to_jsonb(r) FROM meter_etl.reason_code r
UNION ALL SELECT 'quality_flag', to_jsonb(q) FROM meter_etl.quality_flag q;
SET client_min_messages = warning;
DROP EXTENSION meter_etl CASCADE;
CREATE EXTENSION meter_etl VERSION '0.1';
RESET client_min_messages;
SELECT meter_etl.stage('old.csv', convert_to(
E'meter_id,timestamp,value,unit,channel\n'
 'O1,2024-06-01T00:00:00Z,-0.05,kW,solar\n'
 'O1,2024-06-01T00:45:00Z,1.5,kW,solar\n', 'UTF8')) AS o \gset
SELECT rows_clean, rows_quarantined, quarantined_by_reason FROM meter_etl.ingest(:o, 'generic');
INSERT INTO meter_etl.reading (meter_key, channel_id, ts, kw)
SELECT meter_key, 4, '2024-06-01 00:15+00', -0.05 FROM meter_etl.meter WHERE meter_id = 'O1';
SELECT reason, source FROM meter_etl.quarantine ORDER BY quarantine_id;
ALTER EXTENSION meter_etl UPDATE;
SELECT f.t, f.row AS fresh, u.row AS updated
  FROM fresh f
  FULL JOIN (SELECT 'channel' AS t, to_jsonb(c) AS row FROM meter_etl.channel c WHERE channel_id <= 4
             UNION ALL SELECT 'reason_code', to_jsonb(r) FROM meter_etl.reason_code r
             UNION ALL SELECT 'quality_flag', to_jsonb(q) FROM meter_etl.quality_flag q) u
    ON u.t = f.t AND u.row = f.row
 WHERE f.row IS NULL OR u.row IS NULL;
SELECT count(*) AS catalog_rows_compared FROM fresh;
SELECT meter_etl.stage('updated.csv', convert_to(
E'meter_id,timestamp,value,unit,channel\n'
 'O1,2024-06-01T00:30:00Z,-0.05,kW,solar\n', 'UTF8')) AS u \gset
SELECT rows_clean, rows_quarantined FROM meter_etl.ingest(:u, 'generic');
SELECT ts, kw, meter_etl.flag_names(flags) FROM meter_etl.reading ORDER BY ts;
