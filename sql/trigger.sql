-- The BEFORE INSERT OR UPDATE trigger guards every path into the clean store.
-- each suite starts from a fresh install, so ids do not depend on suite order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';
INSERT INTO meter_etl.meter (meter_id, interval_s) VALUES ('T1', 900), ('T2', 3600);
SELECT meter_key AS t1 FROM meter_etl.meter WHERE meter_id = 'T1' \gset
SELECT meter_key AS t2 FROM meter_etl.meter WHERE meter_id = 'T2' \gset

-- INSERT: valid rows pass, invalid ones are quarantined with a reason and skipped
INSERT INTO meter_etl.reading (meter_key, channel_id, ts, kw) VALUES
 (:t1, 1, '2024-05-01 00:00+00', 1.0),          -- ok
 (:t1, 1, '2024-05-01 00:15+00', -1.0),         -- negative_value
 (:t1, 3, '2024-05-01 00:15+00', -1.0),         -- ok: net is signed
 (:t1, 1, '2024-05-01 00:30+00', 1e6),          -- implausible_value
 (:t1, 1, '2024-05-01 00:37+00', 1.0),          -- off_grid_timestamp
 (:t1, 1, '2024-05-01 00:45:20+00', 1.0),       -- snapped to 00:45 (time_adjusted)
 (:t2, 1, '2024-05-01 00:15+00', 1.0),          -- off grid for an hourly meter
 (:t1, 1, '1990-01-01 00:00+00', 1.0),          -- timestamp_out_of_range
 (:t1, 1, now() + interval '3 days', 1.0),       -- timestamp_out_of_range (future)
 (:t1, 1, '2024-05-01 01:00+00', 'NaN'),        -- bad_value
 (:t1, 1, '2024-05-01 01:00+00', 'Infinity'),   -- bad_value
 (987654, 1, '2024-05-01 01:00+00', 1.0),       -- unknown_meter
 (:t1, 99, '2024-05-01 01:00+00', 1.0);         -- unknown_channel
SELECT m.meter_id, r.channel_id, r.ts, r.kw, meter_etl.flag_names(r.flags)
  FROM meter_etl.reading r JOIN meter_etl.meter m USING (meter_key) ORDER BY 1, 2, 3;
SELECT reason, source, meter_id, channel, ts IS NOT NULL AS has_ts, value_raw, detail
  FROM meter_etl.quarantine ORDER BY quarantine_id;

-- COPY goes through the same trigger
COPY meter_etl.reading (meter_key, channel_id, ts, kw) FROM stdin WITH (FORMAT csv);
1,1,2024-05-01 02:00:00+00,2.5
1,1,2024-05-01 02:15:00+00,-2.5
\.
SELECT count(*) FILTER (WHERE source = 'trigger') AS trigger_rows FROM meter_etl.quarantine;
SELECT ts, kw FROM meter_etl.reading WHERE ts >= '2024-05-01 02:00+00' ORDER BY ts;

-- UPDATE too: an invalid new value is quarantined and the old row stays
UPDATE meter_etl.reading SET kw = -7 WHERE ts = '2024-05-01 00:00+00' AND channel_id = 1;
SELECT kw FROM meter_etl.reading WHERE ts = '2024-05-01 00:00+00' AND channel_id = 1;
UPDATE meter_etl.reading SET kw = 7, flags = 8 WHERE ts = '2024-05-01 00:00+00' AND channel_id = 1;
SELECT kw, meter_etl.flag_names(flags) FROM meter_etl.reading WHERE ts = '2024-05-01 00:00+00' AND channel_id = 1;

-- thresholds are settings; only a superuser may change them
SET meter_etl.max_kw = 2000000;
INSERT INTO meter_etl.reading (meter_key, ts, kw) VALUES (:t1, '2024-05-01 03:00+00', 1e6);
RESET meter_etl.max_kw;
SELECT count(*) FROM meter_etl.reading WHERE ts = '2024-05-01 03:00+00';
-- a changed min_timestamp applies from the next row on, and RESET restores it
INSERT INTO meter_etl.reading (meter_key, ts, kw) VALUES (:t1, '1999-06-01 00:00+00', 1);
SET meter_etl.min_timestamp = '1990-01-01';
INSERT INTO meter_etl.reading (meter_key, ts, kw) VALUES (:t1, '1999-06-01 00:15+00', 1);
RESET meter_etl.min_timestamp;
INSERT INTO meter_etl.reading (meter_key, ts, kw) VALUES (:t1, '1999-06-01 00:30+00', 1);
SELECT ts, 'stored' AS outcome FROM meter_etl.reading WHERE ts < '2000-01-01'
UNION ALL
SELECT ts, reason FROM meter_etl.quarantine WHERE ts < '2000-01-01' ORDER BY 1;
CREATE ROLE trigger_tester;
GRANT USAGE ON SCHEMA meter_etl TO trigger_tester;
SET ROLE trigger_tester;
SET meter_etl.max_kw = 1e9;
SET meter_etl.min_timestamp = '1900-01-01';
RESET ROLE;
REVOKE USAGE ON SCHEMA meter_etl FROM trigger_tester;
DROP ROLE trigger_tester;
SET meter_etl.min_timestamp = 'yesterday';

-- notices are limited per transaction, the quarantine is not
BEGIN;
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT :t1, '2024-05-02 00:00+00'::timestamptz + i * interval '15 min', -1 FROM generate_series(1, 12) i;
COMMIT;
SELECT count(*) FROM meter_etl.quarantine WHERE ts >= '2024-05-02' AND reason = 'negative_value';

-- a plain INSERT without the trigger's knowledge of NULLs still gets core errors
INSERT INTO meter_etl.reading (meter_key, ts, kw) VALUES (:t1, NULL, 1);

-- rows inserted for days without a daily partition wait in the default
-- partition until create_partitions() (or an ingest touching the day) moves them
SELECT tableoid::regclass AS partition, count(*) FROM meter_etl.reading GROUP BY 1 ORDER BY 1;
SELECT meter_etl.create_partitions('2024-05-01', '2024-05-02');
SELECT tableoid::regclass AS partition, count(*) FROM meter_etl.reading GROUP BY 1 ORDER BY 1;
SELECT meter_etl.create_partitions('2024-05-01', '2024-05-02') AS created_again;
