-- Detection functions: interpolate, rolling_outliers, detect_faulty_meters,
-- their array variants, and their errors.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- Fixture: 35 days of 15-minute readings (4 weeks of history, then a week)
-- for meters with one kind of trouble each.  Values are deterministic: a
-- daily shape, a weekday/weekend difference and a small day-to-day wobble.
SELECT meter_etl.create_partitions('2024-01-01', '2024-02-05');
INSERT INTO meter_etl.meter (meter_id, interval_s, time_zone) VALUES
 ('OK', 900, 'UTC'), ('STUCK', 900, 'UTC'), ('FLAT', 900, 'UTC'), ('SHIFT', 900, 'UTC'),
 ('OFF', 900, 'UTC'), ('GAPS', 900, 'UTC'), ('SPIKE', 900, 'Europe/London');
CREATE TEMP TABLE shape AS
SELECT ts, round((0.4 + 0.8 * exp(-((extract(hour FROM ts) + extract(minute FROM ts) / 60 - 19) ^ 2) / 6)
                  + 0.5 * exp(-((extract(hour FROM ts) + extract(minute FROM ts) / 60 - 8) ^ 2) / 3))
                 * (CASE WHEN extract(isodow FROM ts) >= 6 THEN 1.2 ELSE 1 END)
                 * (1 + 0.04 * ((extract(doy FROM ts)::int * 37) % 11 - 5) / 5.0)
                 * (1 + 0.03 * ((extract(epoch FROM ts)::bigint / 900 * 7919) % 13 - 6) / 6.0), 3)::float8 AS kw
  FROM generate_series(timestamptz '2024-01-01', '2024-02-04 23:45', '15 minutes') AS ts;
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT m.meter_key, s.ts,
       CASE m.meter_id
         WHEN 'STUCK' THEN CASE WHEN s.ts >= '2024-02-01 02:00' AND s.ts < '2024-02-01 14:00' THEN 0 ELSE s.kw END
         WHEN 'FLAT'  THEN CASE WHEN s.ts >= '2024-02-02 06:00' AND s.ts < '2024-02-02 17:00' THEN 0.777 ELSE s.kw END
         WHEN 'SHIFT' THEN CASE WHEN s.ts >= '2024-01-31' THEN s.kw * 3 ELSE s.kw END
         WHEN 'SPIKE' THEN CASE WHEN s.ts = '2024-02-01 03:00' THEN s.kw * 15 ELSE s.kw END
         ELSE s.kw END
  FROM shape s CROSS JOIN meter_etl.meter m
 WHERE NOT (m.meter_id = 'OFF' AND s.ts >= '2024-02-01 10:00' AND s.ts < '2024-02-02 16:00')
   AND NOT (m.meter_id = 'GAPS' AND ((s.ts >= '2024-02-01 12:00' AND s.ts < '2024-02-01 13:00')
                                  OR (s.ts >= '2024-02-02 03:00' AND s.ts < '2024-02-02 08:00')));
SELECT m.meter_id, count(*) FROM meter_etl.reading JOIN meter_etl.meter m USING (meter_key)
 GROUP BY 1 ORDER BY 1;

-- ---------------------------------------------------------------- interpolate
-- a list of meters whose keys are not contiguous (OK .. OFF holds STUCK, FLAT and
-- SHIFT) is read as one key range; the meters in between are skipped
SELECT meter_id, count(*) AS slots
  FROM meter_etl.interpolate('2024-02-01', '2024-02-02', '{OFF,OK}') GROUP BY 1 ORDER BY 1;
SELECT meter_id, kind FROM meter_etl.detect_faulty_meters('2024-02-01', '2024-02-05', '{OK,SHIFT}')
 ORDER BY 1, 2;
-- the short gap is filled linearly and labelled; the long one is a hole
SELECT ts, round(kw::numeric, 4) AS kw, estimated, method
  FROM meter_etl.interpolate('2024-02-01 11:30', '2024-02-01 13:30', '{GAPS}');
SELECT method, estimated, count(*), count(kw) AS with_value
  FROM meter_etl.interpolate('2024-02-01', '2024-02-03', '{GAPS}') GROUP BY 1, 2 ORDER BY 1;
-- the estimate lies on the line between its neighbours
SELECT bool_and(abs(i.kw - (b.kw + (a.kw - b.kw) * extract(epoch FROM i.ts - b.ts) / extract(epoch FROM a.ts - b.ts))) < 1e-9) AS on_line
  FROM meter_etl.interpolate('2024-02-01 12:00', '2024-02-01 13:00', '{GAPS}') i,
       meter_etl.v_reading b, meter_etl.v_reading a
 WHERE b.meter_id = 'GAPS' AND b.ts = '2024-02-01 11:45' AND a.meter_id = 'GAPS' AND a.ts = '2024-02-01 13:00';
-- max_gap decides: with 6 hours the long gap is filled too; 0 fills nothing
SELECT count(*) FILTER (WHERE method = 'linear') AS linear, count(*) FILTER (WHERE method = 'gap') AS holes
  FROM meter_etl.interpolate('2024-02-01', '2024-02-03', '{GAPS}', max_gap => '6 hours');
SELECT count(*) FILTER (WHERE estimated) AS estimated
  FROM meter_etl.interpolate('2024-02-01', '2024-02-03', '{GAPS}', max_gap => '0');
-- like-day fills the long gap with the mean of the same time on nearby same weekdays, labelled
SELECT method, count(*) FROM meter_etl.interpolate('2024-02-02 02:00', '2024-02-02 09:00', '{GAPS}', like_day => true)
 GROUP BY 1 ORDER BY 1;
SELECT i.ts, round(i.kw::numeric, 4) AS like_day_kw,
       round(avg(v.kw)::numeric, 4) AS mean_of_4_same_weekdays
  FROM meter_etl.interpolate('2024-02-02 03:00', '2024-02-02 03:15', '{GAPS}', like_day => true) i
  JOIN meter_etl.v_reading v ON v.meter_id = 'GAPS'
   AND v.ts IN (i.ts - interval '7 days', i.ts - interval '14 days', i.ts - interval '21 days', i.ts - interval '28 days')
 GROUP BY 1, 2;
-- every meter gets a grid; the channel is named
SELECT meter_id, channel, count(*) FROM meter_etl.interpolate('2024-02-04', '2024-02-05')
 GROUP BY 1, 2 ORDER BY 1;

-- ---------------------------------------------------------------- rolling_outliers
-- the default is a spike check on a log scale: the x15 reading and nothing else
SELECT meter_id, ts, kw, round(score::numeric, 2) AS score, round(centre::numeric, 3) AS centre
  FROM meter_etl.rolling_outliers('2024-01-29', '2024-02-05') WHERE is_outlier ORDER BY 1, 2;
SELECT meter_id, ts FROM meter_etl.rolling_outliers('2024-01-29', '2024-02-05', outliers_only => true)
 ORDER BY 1, 2;
-- a textbook trailing z-score over a day flags the level shift as it starts, and more
SELECT meter_id, count(*) AS outliers
  FROM meter_etl.rolling_outliers('2024-01-29', '2024-02-05', method => 'zscore', window_size => 96,
                                  centred => false, threshold => 3, scale => 'linear', min_scale => 0)
 WHERE is_outlier GROUP BY 1 ORDER BY 1;
-- a flat window: MAD 0; with no floor an unequal value scores infinite, an equal one 0
SELECT ts, kw, score, is_outlier, scale
  FROM meter_etl.rolling_outliers('2024-02-02 06:30', '2024-02-02 07:00', '{FLAT}', min_scale => 0, scale => 'linear');
SELECT ord, kw, score, is_outlier, scale
  FROM meter_etl.rolling_outliers_array('{1,1,1,2,1,1}', min_scale => 0, scale => 'linear') WHERE ord BETWEEN 3 AND 4;
-- window larger than the series: clipped to what there is
SELECT count(*), count(score) AS scored, max(n_window)
  FROM meter_etl.rolling_outliers('2024-01-01', '2024-01-01 02:00', '{OK}', window_size => 1000, min_periods => 2);

-- ---------------------------------------------------------------- detect_faulty_meters
-- each fault found once, on the right meter, with its evidence
SELECT meter_id, channel, kind, start_ts, end_ts, evidence
  FROM meter_etl.detect_faulty_meters('2024-01-29', '2024-02-05') ORDER BY 1, 3;
-- kinds filter, and thresholds: a 12 h stuck run is not a stuck run at 13 h
SELECT meter_id, kind FROM meter_etl.detect_faulty_meters('2024-01-29', '2024-02-05', kinds => '{stuck_zero}');
SELECT count(*) FROM meter_etl.detect_faulty_meters('2024-01-29', '2024-02-05', '{STUCK}', stuck_zero_min => '13 hours');
-- without history there is no baseline for a level shift
SELECT count(*) FROM meter_etl.detect_faulty_meters('2024-01-29', '2024-02-05', '{SHIFT}', history => '0');
-- a one-day change is a transient unless shift_min_days says otherwise
SELECT kind, start_ts, end_ts FROM meter_etl.detect_faulty_meters('2024-01-31', '2024-02-01', '{SHIFT}');
SELECT kind, start_ts, end_ts
  FROM meter_etl.detect_faulty_meters('2024-01-31', '2024-02-01', '{SHIFT}', shift_min_days => 1);

-- ---------------------------------------------------------------- offline and new meters
-- NEW starts reporting inside the window: the slots before its first reading
-- are not an outage.  BACK reported before the window, went silent, and came
-- back: its leading gap is one (judged from the start of the history).
INSERT INTO meter_etl.meter (meter_id, interval_s, time_zone) VALUES ('NEW', 900, 'UTC'), ('BACK', 900, 'UTC');
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT m.meter_key, s.ts, s.kw
  FROM meter_etl.meter m, shape s
 WHERE (m.meter_id = 'NEW' AND s.ts >= '2024-02-02')
    OR (m.meter_id = 'BACK' AND (s.ts < '2024-01-03' OR s.ts >= '2024-02-02 12:00'));
SELECT meter_id, kind, start_ts, end_ts, evidence ->> 'missing_intervals' AS missing
  FROM meter_etl.detect_faulty_meters('2024-02-01', '2024-02-05', '{NEW,BACK}', kinds => '{offline}')
 ORDER BY meter_id, start_ts;
-- a range reaching into the future: slots that have not ended are not missing
INSERT INTO meter_etl.meter (meter_id, interval_s, time_zone) VALUES ('LIVE', 900, 'UTC');
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT m.meter_key, t, 0.5
  FROM meter_etl.meter m,
       generate_series(date_trunc('hour', now()) - interval '3 days', date_trunc('hour', now()) - interval '1 hour',
                       interval '15 minutes') t
 WHERE m.meter_id = 'LIVE';
SELECT count(*) AS offline_episodes
  FROM meter_etl.detect_faulty_meters(now() - interval '2 days', now() + interval '5 days', '{LIVE}',
                                      kinds => '{offline}', history => '1 day');
DELETE FROM meter_etl.reading WHERE meter_key IN (SELECT meter_key FROM meter_etl.meter WHERE meter_id IN ('NEW', 'BACK', 'LIVE'));
DELETE FROM meter_etl.meter WHERE meter_id IN ('NEW', 'BACK', 'LIVE');

-- ---------------------------------------------------------------- array variants
SELECT ts, round(kw::numeric, 3) AS kw, estimated, method
  FROM meter_etl.interpolate_array('{2024-03-01 00:00+00,2024-03-01 00:15+00,2024-03-01 01:00+00,2024-03-01 05:00+00}',
                                   '{1,2,5,7}');
-- NULL kw is a missing reading; from/to widen the grid
SELECT ts, kw, method
  FROM meter_etl.interpolate_array('{2024-03-01 00:00+00,2024-03-01 00:30+00,2024-03-01 01:00+00}', '{1,NULL,3}',
                                   step => '30 minutes', from_ts => '2024-03-01 00:00+00', to_ts => '2024-03-01 02:00+00');
-- off-grid readings are ignored, with a notice
SELECT count(*) FROM meter_etl.interpolate_array('{2024-03-01 00:07+00,2024-03-01 00:15+00}', '{1,2}');
SELECT ord, kw, round(score::numeric, 2) AS score, is_outlier
  FROM meter_etl.rolling_outliers_array('{1,1.1,0.9,12,1,NULL,1.05}') ORDER BY ord;
SELECT ord, round(score::numeric, 3) AS score, round(centre::numeric, 3) AS centre, n_window
  FROM meter_etl.rolling_outliers_array('{1,2,3,4,100}', method => 'zscore', window_size => 3, centred => false,
                                        scale => 'linear', min_periods => 2, threshold => 3) ORDER BY ord;
SELECT ord, kw FROM meter_etl.rolling_outliers_array('{1,1,1,9,1,1}', outliers_only => true);
SELECT count(*) FROM meter_etl.rolling_outliers_array('{}');
-- the same faults on arrays built from the store
SELECT f.kind, f.start_ts, f.end_ts, f.evidence ->> 'readings' AS readings
  FROM (SELECT array_agg(ts ORDER BY ts) AS t, array_agg(kw ORDER BY ts) AS k
          FROM meter_etl.v_reading WHERE meter_id = 'STUCK') a,
       meter_etl.detect_faulty_meters_array(a.t, a.k) f;
SELECT f.kind, f.start_ts, f.end_ts
  FROM (SELECT array_agg(ts ORDER BY ts) AS t, array_agg(kw ORDER BY ts) AS k
          FROM meter_etl.v_reading WHERE meter_id = 'SHIFT') a,
       meter_etl.detect_faulty_meters_array(a.t, a.k, kinds => '{level_shift}') f;
SELECT count(*) FROM meter_etl.detect_faulty_meters_array('{}', '{}');
-- an array is the analyst's data: its times are not capped at the current time
-- (a forecast for 2100 with a 30-hour hole is offline there)
SELECT f.kind, f.start_ts, f.end_ts
  FROM (SELECT array_agg(t ORDER BY t) AS t, array_agg(1.0::float8) AS k
          FROM generate_series('2100-01-01 00:00+00'::timestamptz, '2100-01-04 00:00+00', '15 minutes') t
         WHERE t < '2100-01-02 00:00+00' OR t >= '2100-01-03 06:00+00') a,
       meter_etl.detect_faulty_meters_array(a.t, a.k, kinds => '{offline}') f;

-- ---------------------------------------------------------------- errors
SELECT * FROM meter_etl.interpolate('2024-02-02', '2024-02-01');
SELECT * FROM meter_etl.interpolate('2024-02-01', '2024-02-02', '{NOPE}');
SELECT * FROM meter_etl.interpolate('2024-02-01', '2024-02-02', max_gap => '1 month');
SELECT * FROM meter_etl.interpolate('2024-02-01', '2024-02-02', max_gap => '-1 hour');
SELECT * FROM meter_etl.interpolate(NULL, '2024-02-02');
SELECT * FROM meter_etl.interpolate('-infinity', '2024-02-02');
SELECT * FROM meter_etl.rolling_outliers('2024-02-01', '2024-02-02', method => 'median');
SELECT * FROM meter_etl.rolling_outliers('2024-02-01', '2024-02-02', window_size => 0);
SELECT * FROM meter_etl.rolling_outliers('2024-02-01', '2024-02-02', scale => 'cubic');
SELECT * FROM meter_etl.rolling_outliers('2024-02-01', '2024-02-02', threshold => 'NaN');
SELECT * FROM meter_etl.detect_faulty_meters('2024-02-01', '2024-02-02', kinds => '{stuck_zero,broken}');
SELECT * FROM meter_etl.detect_faulty_meters('2024-02-01', '2024-02-02', offline_min => '10 minutes');
SELECT * FROM meter_etl.interpolate_array('{2024-03-01 00:15+00,2024-03-01 00:00+00}', '{1,2}');
SELECT * FROM meter_etl.interpolate_array('{2024-03-01 00:00+00,2024-03-01 00:00+00}', '{1,2}');
SELECT * FROM meter_etl.interpolate_array('{2024-03-01 00:00+00}', '{1,2}');
SELECT * FROM meter_etl.interpolate_array('{2024-03-01 00:00+00,NULL}', '{1,2}');
SELECT * FROM meter_etl.interpolate_array('{2024-03-01 00:00+00,2024-03-01 00:15+00}', '{1,NaN}');
SELECT * FROM meter_etl.interpolate_array('{2024-03-01 00:00+00}', '{1}', step => '7 minutes');
SELECT * FROM meter_etl.interpolate_array('{2024-03-01 00:00+00}', '{1}', time_zone => 'Mars/Olympus');
SELECT * FROM meter_etl.rolling_outliers_array('{1,Infinity,2}');
SELECT * FROM meter_etl.rolling_outliers_array('{{1,2},{3,4}}');
SELECT * FROM meter_etl.detect_faulty_meters_array('{2024-03-01 00:00+00}', '{-Infinity}');
-- a NaN that reached the store by a path that skipped the rules is refused before the cores
ALTER TABLE meter_etl.reading DISABLE TRIGGER reading_guard;
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT meter_key, '2024-02-04 12:07', 'NaN' FROM meter_etl.meter WHERE meter_id = 'OK';
ALTER TABLE meter_etl.reading ENABLE TRIGGER reading_guard;
SELECT count(*) FROM meter_etl.rolling_outliers('2024-02-04', '2024-02-05', '{OK}');
