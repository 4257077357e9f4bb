-- Load-profile segmentation (issue 20): kmeans_array on the caller's
-- points; load_profiles() over the store recovers a fleet of three obvious
-- daily shapes as three segments (as a partition: segment numbers are by
-- size), the same for a seed, stored in meter_segment and segment_profile
-- (each run replacing the last), shown by v_meter and v_segment_profile;
-- and the refusals.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- kmeans_array: two groups; labels by size (the group of three is 1)
SELECT labels, inertia, centroids
  FROM meter_etl.kmeans_array(ARRAY[[0, 0], [0, 1], [10, 10], [10, 11], [10, 12]]::float8[], 2);
-- k = number of points: inertia 0; identical points: inertia 0, one label
SELECT inertia FROM meter_etl.kmeans_array(ARRAY[[1, 2], [3, 4], [5, 6]]::float8[], 3);
SELECT labels, inertia FROM meter_etl.kmeans_array(ARRAY[[7, 7], [7, 7], [7, 7]]::float8[], 2);
-- a seed gives the same answer every time
SELECT count(DISTINCT (r).labels) AS answers, count(DISTINCT round((r).inertia::numeric, 9)) AS inertias
  FROM (SELECT meter_etl.kmeans_array(
                 (SELECT array_agg(ARRAY[sin(i * 1.7), cos(i * 0.3)] ORDER BY i) FROM generate_series(1, 60) i),
                 4, 3, 42) AS r
          FROM generate_series(1, 5)) x;

-- 15 households, two weeks at 15 minutes: 5 with a morning peak (M), 5
-- with an evening peak (E), 5 that use most at night (N); sizes differ
-- (shape, not size, is clustered) and every day wobbles a little.
CREATE TEMP TABLE fx AS
SELECT g || m AS meter_id, s.ts,
       round(((0.2 + CASE g WHEN 'M' THEN 1.5 * exp(-((h - 7.5) ^ 2) / 2)
                            WHEN 'E' THEN 1.5 * exp(-((h - 19) ^ 2) / 3)
                            ELSE 1.2 * exp(-((h - 2) ^ 2) / 4) END)
              * m * (1 + 0.05 * ((extract(doy FROM s.ts)::int * 7 + m * 3 + h::int) % 5 - 2) / 2.0))::numeric, 3)::float8 AS kw
  FROM generate_series(timestamptz '2024-03-04', '2024-03-17 23:45', '15 minutes') s(ts)
 CROSS JOIN LATERAL (SELECT extract(hour FROM s.ts) + extract(minute FROM s.ts) / 60.0 AS h) hh,
       unnest(ARRAY['M', 'E', 'N']) g, generate_series(1, 5) m;
-- a meter that reads zero all along, for the notes
INSERT INTO fx SELECT 'Z1', ts, 0 FROM fx WHERE meter_id = 'M1';
SELECT meter_etl.stage('fleet.csv', convert_to('meter_id,timestamp,value,unit' || E'\n'
         || string_agg(meter_id || ',' || to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ',' || kw || ',kW', E'\n'
                       ORDER BY meter_id, ts) || E'\n', 'UTF8')) AS f FROM fx \gset
SELECT rows_clean FROM meter_etl.ingest(:f);
CREATE TEMP TABLE shapes AS
SELECT meter_id FROM meter_etl.meter WHERE meter_id <> 'Z1';

-- three segments of 5 meters each
SELECT segment, meters, round(inertia::numeric, 3) AS inertia, round(mean_distance::numeric, 3) AS mean_distance
  FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3, (SELECT array_agg(meter_id) FROM shapes))
 ORDER BY segment;
-- as a partition: each shape is one segment, the three shapes three segments
SELECT left(m.meter_id, 1) AS shape, count(DISTINCT s.segment) AS segments, count(*) AS meters
  FROM meter_etl.meter_segment s JOIN meter_etl.meter m USING (meter_key) GROUP BY 1 ORDER BY 1;
SELECT count(DISTINCT s.segment) AS segments FROM meter_etl.meter_segment s;
-- where each segment's weekday profile peaks (local time): the shapes
SELECT DISTINCT ON (p.segment) left(m.meter_id, 1) AS shape, p.slot_start AS peak, round(p.value::numeric, 2) AS value
  FROM meter_etl.v_segment_profile p
  JOIN meter_etl.meter_segment s ON s.segment = p.segment JOIN meter_etl.meter m USING (meter_key)
 WHERE p.day_type = 'weekday' ORDER BY p.segment, p.value DESC, m.meter_id;
-- the stored run: 15 meters, 3 x 2 x 96 profile values, each day type's mean 1
SELECT count(*) AS meters, count(DISTINCT run_id) AS runs, min(k) AS k, min(from_ts) AS from_ts, max(to_ts) AS to_ts,
       count(*) FILTER (WHERE notes <> '{}') AS noted
  FROM meter_etl.meter_segment;
SELECT sum(n) AS profile_values, count(DISTINCT segment) AS segments,
       round(max(abs(m - 1))::numeric, 9) AS mean_off_by
  FROM (SELECT segment, day_type, avg(abs(value)) AS m, count(*) AS n
          FROM meter_etl.segment_profile GROUP BY 1, 2) x;
SELECT segment, day_type, count(*) AS slots, min(slot_start) AS first_slot, max(slot_start) AS last_slot, min(meters) AS meters
  FROM meter_etl.v_segment_profile GROUP BY 1, 2 ORDER BY 1, 2;

-- the same seed again: the same segments and distances; a new run id
CREATE TEMP TABLE first_run AS SELECT meter_key, segment, distance, run_id FROM meter_etl.meter_segment;
SELECT count(*) AS rows FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3, (SELECT array_agg(meter_id) FROM shapes));
SELECT count(*) AS differ FROM (SELECT meter_key, segment, distance FROM first_run
                                EXCEPT SELECT meter_key, segment, distance FROM meter_etl.meter_segment) x;
SELECT (SELECT min(run_id) FROM meter_etl.meter_segment) > (SELECT min(run_id) FROM first_run) AS new_run,
       (SELECT count(*) FROM meter_etl.meter_segment) AS meters;
-- another seed, another start: still the same partition
SELECT count(*) AS rows
  FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3, (SELECT array_agg(meter_id) FROM shapes), 1, 99);
SELECT (SELECT count(DISTINCT segment) FROM meter_etl.meter_segment) AS segments, max(n) AS segments_per_shape
  FROM (SELECT count(DISTINCT s.segment) AS n FROM meter_etl.meter_segment s JOIN meter_etl.meter m USING (meter_key)
         GROUP BY left(m.meter_id, 1)) x;

-- meter_profiles: the vectors load_profiles clusters; kmeans_array on them
-- gives the same partition and inertia as load_profiles with the same seed
SELECT count(*) AS meters, min(cardinality(profile)) AS dims, max(cardinality(profile)) AS dims_max,
       round(max(abs(w - 1))::numeric, 9) AS weekday_mean_off_by
  FROM (SELECT meter_id, profile,
               (SELECT avg(abs(v)) FROM unnest(profile[1:96]) v) AS w
          FROM meter_etl.meter_profiles('2024-03-04', '2024-03-18', (SELECT array_agg(meter_id) FROM shapes))) x;
SELECT round((SELECT sum(inertia) FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3,
                                                   (SELECT array_agg(meter_id) FROM shapes)))::numeric, 9)
     = round((SELECT (meter_etl.kmeans_array(array_agg(profile ORDER BY meter_id), 3)).inertia
                FROM meter_etl.meter_profiles('2024-03-04', '2024-03-18', (SELECT array_agg(meter_id) FROM shapes)))::numeric, 9)
       AS same_inertia;

-- v_meter shows the segment of every meter segmented, NULL for the rest
SELECT left(meter_id, 1) AS shape, count(segment) AS segmented, count(*) AS meters
  FROM meter_etl.v_meter GROUP BY 1 ORDER BY 1;

-- a new run replaces the old one: four meters, the zero meter on its own
SELECT segment, meters, round(inertia::numeric, 6) AS inertia
  FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3, ARRAY['M1', 'M2', 'E1', 'Z1']) ORDER BY segment;
SELECT m.meter_id, s.segment, round(s.distance::numeric, 6) AS distance, s.notes
  FROM meter_etl.meter_segment s JOIN meter_etl.meter m USING (meter_key) ORDER BY 1;
SELECT count(*) AS profile_values FROM meter_etl.segment_profile;
SELECT count(segment) AS segmented FROM meter_etl.v_meter;
-- a week of weekdays only: the weekday profile stands in for the weekend
SELECT count(*) AS rows FROM meter_etl.load_profiles('2024-03-04', '2024-03-09', 2, ARRAY['M1', 'E1']);
SELECT DISTINCT notes FROM meter_etl.meter_segment;

-- a half-hourly meter with the evening shape, and an export channel with a
-- morning shape that is not load: profiled at the coarsest interval (48
-- slots), on its import channel, it joins E1
INSERT INTO meter_etl.meter (meter_id, interval_s) VALUES ('H1', 1800);
INSERT INTO meter_etl.reading (meter_key, channel_id, ts, kw)
SELECT m.meter_key, c.ch, s.ts,
       CASE c.ch WHEN 1 THEN 0.2 + 1.5 * exp(-((extract(hour FROM s.ts) + extract(minute FROM s.ts) / 60.0 - 19) ^ 2) / 3)
                 ELSE 3 * exp(-((extract(hour FROM s.ts) - 7.5) ^ 2) / 2) END
  FROM meter_etl.meter m, generate_series(timestamptz '2024-03-04', '2024-03-17 23:30', '30 minutes') s(ts),
       (VALUES (1), (2)) c(ch)
 WHERE m.meter_id = 'H1';
SELECT segment, meters FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 2, ARRAY['M1', 'E1', 'H1']) ORDER BY 1;
SELECT m.meter_id, s.segment FROM meter_etl.meter_segment s JOIN meter_etl.meter m USING (meter_key) ORDER BY 1;
SELECT count(*) AS profile_values, max(slot) AS last_slot, max(slot_start) AS last_start FROM meter_etl.segment_profile;

-- refusals
\set VERBOSITY terse
SELECT * FROM meter_etl.load_profiles(NULL, '2024-03-18', 3);
SELECT * FROM meter_etl.load_profiles('2024-03-04', NULL, 3);
SELECT * FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', NULL);
SELECT * FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 0);
SELECT * FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 18);
SELECT * FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3, ARRAY['M1', 'M2']);
SELECT * FROM meter_etl.load_profiles('2024-03-18', '2024-03-04', 3);
SELECT * FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3, ARRAY['M1', 'nope']);
SELECT * FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3, ARRAY['M1', NULL]);
SELECT * FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3, '{}');
SELECT * FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3, NULL, 0);
SELECT * FROM meter_etl.load_profiles('2024-03-04', '2024-03-18', 3, NULL, 10, NULL);
SELECT * FROM meter_etl.load_profiles('2020-01-01', '2020-01-02', 1);
SELECT * FROM meter_etl.meter_profiles(NULL, '2024-03-18');
SELECT * FROM meter_etl.meter_profiles('2024-03-18', '2024-03-04');
SELECT * FROM meter_etl.meter_profiles('2024-03-04', '2024-03-18', '{}');
SELECT * FROM meter_etl.meter_profiles('2024-03-04', '2024-03-18', ARRAY['nope']);
SELECT * FROM meter_etl.kmeans_array(NULL, 2);
SELECT * FROM meter_etl.kmeans_array(ARRAY[1, 2, 3]::float8[], 2);
SELECT * FROM meter_etl.kmeans_array('{}'::float8[], 1);
SELECT * FROM meter_etl.kmeans_array('{{1,2},{3}}'::float8[], 1);
SELECT * FROM meter_etl.kmeans_array(ARRAY[[1, 2], [3, NULL]]::float8[], 1);
SELECT * FROM meter_etl.kmeans_array(ARRAY[[1, 2], [3, 'NaN']]::float8[], 1);
SELECT * FROM meter_etl.kmeans_array(ARRAY[[1, 2], [3, 4]]::float8[], 3);
SELECT * FROM meter_etl.kmeans_array(ARRAY[[1, 2], [3, 4]]::float8[], 0);
SELECT * FROM meter_etl.kmeans_array(ARRAY[[1, 2], [3, 4]]::float8[], 1, 0);
SELECT * FROM meter_etl.kmeans_array(ARRAY[[1, 2], [3, 4]]::float8[], 1, 10, NULL);
-- the stored segmentation survived every refusal
SELECT count(*) AS meters FROM meter_etl.meter_segment;
