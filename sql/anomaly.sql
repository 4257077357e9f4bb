-- Isolation-forest anomaly scores (issue #20): isolation_forest_array() on
-- any matrix, anomaly_scores() over the store (features per meter and local
-- day), score_anomalies() and its persistence, v_anomaly_top, and every
-- refusal.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- ---------------------------------------------------------------- on arrays
-- identical rows: nothing to isolate, every score exactly 0.5
SELECT array_agg(round(s::numeric, 12)) AS identical
  FROM unnest(meter_etl.isolation_forest_array(array_fill(2.5::float8, ARRAY[5, 3]))) s;
-- one row: 0.5 as well (c(1) = 0)
SELECT meter_etl.isolation_forest_array(ARRAY[[1.0, 2.0]]::float8[]) AS single;
-- 50 points on a grid and one far away: the far one scores highest
WITH pts AS (
  SELECT ARRAY[(i % 7)::float8, (i / 7)::float8] AS p, i FROM generate_series(0, 49) i
  UNION ALL SELECT ARRAY[40.0, -30.0]::float8[], 50),
m AS (SELECT array_agg(p ORDER BY i) AS x FROM (SELECT ARRAY[p] AS p, i FROM pts) q),
s AS (SELECT u.score, u.ord FROM m, unnest(meter_etl.isolation_forest_array(
        (SELECT array_agg(p ORDER BY i) FROM pts), 100, 32, 7)) WITH ORDINALITY u(score, ord))
SELECT (SELECT ord FROM s ORDER BY score DESC LIMIT 1) AS top_row,
       bool_and(score > 0 AND score <= 1) AS in_range, count(*) AS scores,
       round(max(score)::numeric, 2) > 0.7 AS far_is_high
  FROM s;
-- a seed gives the same scores, another seed others
WITH x AS (SELECT array_agg(ARRAY[sin(i)::float8, cos(i * 3)::float8] ORDER BY i) AS x
             FROM generate_series(1, 100) i)
SELECT meter_etl.isolation_forest_array(x, 20, 16, 1) = meter_etl.isolation_forest_array(x, 20, 16, 1) AS same_seed_same,
       meter_etl.isolation_forest_array(x, 20, 16, 1) <> meter_etl.isolation_forest_array(x, 20, 16, 2) AS other_seed_differs,
       meter_etl.isolation_forest_array(x) = meter_etl.isolation_forest_array(x, 100, 256, 0) AS defaults
  FROM x;

-- ---------------------------------------------------------------- a fleet
-- 20 hourly meters, 4-17 March 2024 (14 days); m20 lives in Brisbane
-- (UTC+10), so its whole local days in the range are 5-17 March.  A daily
-- shape (low nights, a morning and an evening peak) scaled per meter, with
-- a small deterministic wobble; three anomalous days injected: m03 on
-- 10 March at 5 times its load, m07 on 12 March flat all day, m11 on
-- 8 March with its day shifted by 12 hours (busy nights).
INSERT INTO meter_etl.meter (meter_id, interval_s, time_zone)
SELECT format('m%s', lpad(i::text, 2, '0')), 3600, CASE WHEN i = 20 THEN 'Australia/Brisbane' ELSE 'UTC' END
  FROM generate_series(1, 20) i;
CREATE TEMP TABLE shape AS
SELECT h, CASE WHEN h < 6 THEN 0.3 WHEN h < 9 THEN 0.9 WHEN h < 17 THEN 0.5 WHEN h < 22 THEN 1.6 ELSE 0.6 END AS f
  FROM generate_series(0, 23) h;
INSERT INTO meter_etl.reading (meter_key, channel_id, ts, kw)
SELECT m.meter_key, 1, t,
       CASE WHEN m.meter_id = 'm03' AND l::date = '2024-03-10' THEN 5 * base
            WHEN m.meter_id = 'm07' AND l::date = '2024-03-12' THEN 0.8 * (0.5 + m.meter_key % 5 * 0.2)
            ELSE base END
  FROM meter_etl.meter m
 CROSS JOIN generate_series(timestamptz '2024-03-04', '2024-03-17 23:00', '1 hour') t
 CROSS JOIN LATERAL (SELECT t AT TIME ZONE m.time_zone AS l) lt
 CROSS JOIN LATERAL (
   SELECT (0.5 + m.meter_key % 5 * 0.2) * s.f * (1 + 0.05 * sin(m.meter_key * 7 + extract(doy FROM l) * 13 + extract(hour FROM l)))
          AS base
     FROM shape s
    WHERE s.h = CASE WHEN m.meter_id = 'm11' AND l::date = '2024-03-08' THEN (extract(hour FROM l)::int + 12) % 24
                     ELSE extract(hour FROM l)::int END) b;
-- flags are counted, not dropped: three outliers and a source-estimated reading
UPDATE meter_etl.reading r SET flags = CASE WHEN r.ts = '2024-03-10 20:00' THEN 16 ELSE 2 END
  FROM meter_etl.meter m
 WHERE m.meter_key = r.meter_key AND m.meter_id = 'm03' AND r.ts IN ('2024-03-10 18:00', '2024-03-10 19:00', '2024-03-10 21:00', '2024-03-10 20:00');
SELECT count(*) AS readings FROM meter_etl.reading;

CREATE TEMP TABLE run1 AS SELECT * FROM meter_etl.anomaly_scores('2024-03-04', '2024-03-18');
-- 19 meters x 14 days, and 13 local days of m20
SELECT count(*) AS meter_days, count(DISTINCT meter_id) AS meters,
       bool_and(score > 0 AND score < 1) AS scores_in_range,
       bool_and(channel_id = 1) AS import_only FROM run1;
SELECT min(day), max(day), count(*) FROM run1 WHERE meter_id = 'm20';
-- the three injected days are the three highest scores, well above the rest
SELECT meter_id, day FROM (SELECT * FROM run1 ORDER BY score DESC LIMIT 3) t ORDER BY meter_id;
SELECT (SELECT min(score) FROM (SELECT score FROM run1 ORDER BY score DESC LIMIT 3) t) >
       (SELECT max(score) FROM (SELECT score FROM run1 ORDER BY score DESC OFFSET 3) t) + 0.05 AS clear_margin,
       (SELECT round(avg(score)::numeric, 1) FROM run1) AS mean_score;
-- the features say why (keys pinned; values rounded)
SELECT DISTINCT jsonb_object_keys(features) AS key FROM run1 ORDER BY 1;
SELECT meter_id, day,
       round((features->>'energy_kwh')::numeric, 2) AS energy_kwh,
       round((features->>'peak_mean')::numeric, 2) AS peak_mean,
       round((features->>'night_day')::numeric, 2) AS night_day,
       round((features->>'zero_share')::numeric, 2) AS zero_share,
       round((features->>'max_step_kw')::numeric, 2) AS max_step_kw,
       round((features->>'own_resid')::numeric, 2) AS own_resid,
       round((features->>'peer_resid')::numeric, 2) AS peer_resid,
       features->'readings' AS readings, features->'expected' AS expected,
       features->'flagged' AS flagged, features->'estimated' AS estimated
  FROM run1
 WHERE (meter_id, day) IN (('m03', '2024-03-10'), ('m03', '2024-03-09'), ('m07', '2024-03-12'), ('m11', '2024-03-08'))
 ORDER BY 1, 2;
-- deterministic for a seed; another seed gives other scores, the same top three
SELECT count(*) AS differences FROM (
  (SELECT * FROM run1 EXCEPT SELECT * FROM meter_etl.anomaly_scores('2024-03-04', '2024-03-18'))
  UNION ALL
  (SELECT * FROM meter_etl.anomaly_scores('2024-03-04', '2024-03-18') EXCEPT SELECT * FROM run1)) d;
SELECT count(*) > 200 AS other_seed_differs
  FROM run1 r JOIN meter_etl.anomaly_scores('2024-03-04', '2024-03-18', seed => 99) o USING (meter_id, day)
 WHERE r.score <> o.score;
SELECT meter_id, day FROM (SELECT * FROM meter_etl.anomaly_scores('2024-03-04', '2024-03-18', seed => 99)
                            ORDER BY score DESC LIMIT 3) t ORDER BY meter_id;
-- a list of meters, a range that cuts days: only whole local days are scored
SELECT meter_id, day FROM meter_etl.anomaly_scores('2024-03-10 06:00', '2024-03-12 06:00', ARRAY['m03', 'm20'])
 ORDER BY 1, 2;
-- a day with too few readings (under half its slots) is not scored
DELETE FROM meter_etl.reading r USING meter_etl.meter m
 WHERE m.meter_key = r.meter_key AND m.meter_id = 'm05' AND r.ts >= '2024-03-06' AND r.ts < '2024-03-06 13:00';
SELECT day, features->'readings' AS readings FROM meter_etl.anomaly_scores('2024-03-05', '2024-03-08', ARRAY['m05'])
 ORDER BY day;

-- ---------------------------------------------------------------- persistence
SELECT run_id, meters, trees, sample_size, seed, days_scored, days_replaced, finished_at IS NOT NULL AS finished
  FROM meter_etl.score_anomalies('2024-03-04', '2024-03-18');
-- again: the range's rows are replaced, not added
SELECT run_id, days_scored, days_replaced FROM meter_etl.score_anomalies('2024-03-04', '2024-03-18');
SELECT count(*) AS stored, min(run_id), max(run_id) FROM meter_etl.anomaly_score;
-- one meter over two days: only those two rows are replaced
SELECT run_id, meters, days_scored, days_replaced
  FROM meter_etl.score_anomalies('2024-03-10', '2024-03-12', ARRAY['m03'], 10, 8, 3);
SELECT run_id, count(*) FROM meter_etl.anomaly_score GROUP BY 1 ORDER BY 1;
SELECT m.meter_id, s.day, s.run_id FROM meter_etl.anomaly_score s JOIN meter_etl.meter m USING (meter_key)
 WHERE s.run_id = 3 ORDER BY 1, 2;
-- rescoring the whole range puts one run's view back
SELECT run_id, days_scored, days_replaced FROM meter_etl.score_anomalies('2024-03-04', '2024-03-18');
-- the top anomalies of a day, for BI
SELECT day, rank, meter_id, channel, round(score::numeric, 2) > 0.6 AS high, features ? 'peer_resid' AS has_features
  FROM meter_etl.v_anomaly_top WHERE rank <= 2 AND day IN ('2024-03-08', '2024-03-10', '2024-03-12') ORDER BY day, rank;
SELECT max(rank) AS max_rank, count(DISTINCT day) AS days FROM meter_etl.v_anomaly_top;

-- ---------------------------------------------------------------- refusals
\set VERBOSITY terse
SELECT meter_etl.isolation_forest_array(NULL);
SELECT meter_etl.isolation_forest_array('{}');
SELECT meter_etl.isolation_forest_array(ARRAY[1.0, 2.0]::float8[]);
SELECT meter_etl.isolation_forest_array('{{{1},{2}}}'::float8[]);
SELECT meter_etl.isolation_forest_array('{{1,2},{3}}'::float8[]);
SELECT meter_etl.isolation_forest_array(ARRAY[[1.0, NULL], [2.0, 3.0]]::float8[]);
SELECT meter_etl.isolation_forest_array(ARRAY[[1.0, 2.0], [2.0, 'NaN']]::float8[]);
SELECT meter_etl.isolation_forest_array(ARRAY[[1.0, 2.0], ['-Infinity', 3.0]]::float8[]);
SELECT meter_etl.isolation_forest_array(ARRAY[[1.0]]::float8[], 0);
SELECT meter_etl.isolation_forest_array(ARRAY[[1.0]]::float8[], 10001);
SELECT meter_etl.isolation_forest_array(ARRAY[[1.0]]::float8[], 10, 0);
SELECT meter_etl.isolation_forest_array(ARRAY[[1.0]]::float8[], 10, -5);
SELECT meter_etl.isolation_forest_array(ARRAY[[1.0]]::float8[], NULL);
SELECT meter_etl.isolation_forest_array(ARRAY[[1.0]]::float8[], 10, 10, NULL);
SELECT count(*) FROM meter_etl.anomaly_scores(NULL, '2024-03-18');
SELECT count(*) FROM meter_etl.anomaly_scores('2024-03-04', NULL);
SELECT count(*) FROM meter_etl.anomaly_scores('2024-03-18', '2024-03-04');
SELECT count(*) FROM meter_etl.anomaly_scores('2024-03-04', '2024-03-04');
SELECT count(*) FROM meter_etl.anomaly_scores('2024-03-04', 'infinity');
SELECT count(*) FROM meter_etl.anomaly_scores('2024-03-04', '2024-03-18', ARRAY['m01', 'nope']);
SELECT count(*) FROM meter_etl.anomaly_scores('2024-03-04', '2024-03-18', ARRAY['m01', NULL]);
SELECT count(*) FROM meter_etl.anomaly_scores('2024-03-04', '2024-03-18', trees => 0);
SELECT count(*) FROM meter_etl.anomaly_scores('2024-03-04', '2024-03-18', sample_size => 0);
SELECT count(*) FROM meter_etl.anomaly_scores('2024-03-04', '2024-03-18', seed => NULL);
SELECT meter_etl.score_anomalies(NULL, '2024-03-18');
SELECT meter_etl.score_anomalies('2024-03-18', '2024-03-04');
SELECT meter_etl.score_anomalies('2024-03-04', '2024-03-18', ARRAY['nope']);
SELECT meter_etl.score_anomalies('2024-03-04', '2024-03-18', trees => NULL);
SELECT meter_etl.score_anomalies('2024-03-04', '2024-03-18', sample_size => -1);
-- the refused runs left no run behind
SELECT count(*) AS runs FROM meter_etl.anomaly_run;
-- no meter-day in range: nothing to score, an empty answer
SELECT count(*) FROM meter_etl.anomaly_scores('2023-01-01', '2023-01-05');
\set VERBOSITY default

-- ---------------------------------------------------------------- DST
-- a London meter over the spring change (31 March 2024 has 23 local hours):
-- the short day expects 23 readings and its energy is 23 hours' worth
INSERT INTO meter_etl.meter (meter_id, interval_s, time_zone) VALUES ('dst1', 3600, 'Europe/London');
INSERT INTO meter_etl.reading (meter_key, channel_id, ts, kw)
SELECT m.meter_key, 1, t, 1.0 + extract(hour FROM t AT TIME ZONE 'Europe/London') / 23.0
  FROM meter_etl.meter m, generate_series(timestamptz '2024-03-30 00:00+00', '2024-04-01 22:00+00', '1 hour') t
 WHERE m.meter_id = 'dst1';
SELECT day, features->'readings' AS readings, features->'expected' AS expected,
       round((features->>'energy_kwh')::numeric, 3) AS energy_kwh, score > 0 AND score < 1 AS scored
  FROM meter_etl.anomaly_scores('2024-03-29', '2024-04-03', ARRAY['dst1']) ORDER BY day;
