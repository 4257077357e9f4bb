
-- ======================================================================
-- Analytics: load-profile segmentation (issue 20)
-- (C cores src/core/predict/kmeans.c and loadprofile.c, glue
--  src/pg/predict/segments.c)
--
-- load_profiles() computes every meter's mean normalised daily profile
-- (weekdays and weekends apart), clusters them with k-means and keeps the
-- latest segmentation in meter_segment and segment_profile; v_meter shows
-- each meter's segment, v_segment_profile the segments' shapes.
-- ======================================================================

CREATE SEQUENCE segment_run_seq;
COMMENT ON SEQUENCE segment_run_seq IS 'Run ids of load_profiles() (meter_segment.run_id)';

CREATE TABLE meter_segment (
    meter_key   integer PRIMARY KEY REFERENCES meter (meter_key) ON DELETE CASCADE,
    segment     integer NOT NULL CHECK (segment >= 1),
    distance    double precision NOT NULL CHECK (distance >= 0),
    notes       text[] NOT NULL DEFAULT '{}',
    run_id      bigint NOT NULL,
    from_ts     timestamptz NOT NULL,
    to_ts       timestamptz NOT NULL,
    k           integer NOT NULL CHECK (k >= 1),
    computed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE meter_segment IS
  'The latest load-profile segmentation (load_profiles()): one row per meter that had readings in the range; each run replaces the previous one';
COMMENT ON COLUMN meter_segment.segment IS 'Segment 1 .. k, numbered by size (1 = the most meters)';
COMMENT ON COLUMN meter_segment.distance IS 'Euclidean distance of the meter''s normalised profile to its segment''s centroid';
COMMENT ON COLUMN meter_segment.notes IS
  'What the profile made up: zero_load (a day type read all zero: flat profile), slots_interpolated (slots without readings), no_weekday / no_weekend (the other day type stands in)';
COMMENT ON COLUMN meter_segment.run_id IS 'The load_profiles() run (segment_run_seq)';
COMMENT ON COLUMN meter_segment.from_ts IS 'Start of the readings the run profiled';
COMMENT ON COLUMN meter_segment.to_ts IS 'End (exclusive) of the readings the run profiled';
COMMENT ON COLUMN meter_segment.k IS 'Number of segments asked for';

CREATE TABLE segment_profile (
    segment    integer NOT NULL CHECK (segment >= 1),
    day_type   text NOT NULL CHECK (day_type IN ('weekday', 'weekend')),
    slot       integer NOT NULL CHECK (slot >= 0),
    slot_start time NOT NULL,
    value      double precision NOT NULL,
    run_id     bigint NOT NULL,
    PRIMARY KEY (segment, day_type, slot)
);
COMMENT ON TABLE segment_profile IS
  'Centroids of the latest segmentation as daily profiles: the mean normalised load of the segment''s meters per local slot of day (1 = the day type''s mean)';

SELECT pg_catalog.pg_extension_config_dump('meter_segment', '');
SELECT pg_catalog.pg_extension_config_dump('segment_profile', '');
SELECT pg_catalog.pg_extension_config_dump('segment_run_seq', '');

CREATE FUNCTION kmeans_array(points double precision[], k integer,
                             restarts integer DEFAULT @ME_DEFAULT_KMEANS_RESTARTS@,
                             seed bigint DEFAULT @ME_DEFAULT_KMEANS_SEED@,
                             OUT labels integer[], OUT inertia double precision,
                             OUT centroids double precision[])
RETURNS record
AS 'MODULE_PATHNAME', 'meter_etl_kmeans_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION kmeans_array(double precision[], integer, integer, bigint) IS
  'k-means of the rows of a two-dimensional array (one point per row): greedy k-means++ seeding, Lloyd iterations, the best of restarts runs by inertia, deterministic for a seed; labels 1 .. k numbered by cluster size (1 = the largest), inertia the within-cluster sum of squares, centroids a k x d array';

CREATE FUNCTION load_profiles(from_ts timestamptz, to_ts timestamptz, k integer, meters text[] DEFAULT NULL,
                              restarts integer DEFAULT @ME_DEFAULT_KMEANS_RESTARTS@,
                              seed bigint DEFAULT @ME_DEFAULT_KMEANS_SEED@)
RETURNS TABLE (run_id bigint, segment integer, meters integer, inertia double precision,
               mean_distance double precision)
AS 'MODULE_PATHNAME', 'meter_etl_load_profiles'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION load_profiles(timestamptz, timestamptz, integer, text[], integer, bigint) IS
  'Segments meters by the shape of their day: each meter''s mean daily profile of its import channel (net without one) over [from_ts, to_ts), weekdays and weekends apart, at the coarsest interval in scope, each divided by its mean absolute load; k-means (kmeans_array) over the profiles; replaces meter_segment and segment_profile and returns one row per segment (its meters, within-segment sum of squares and mean distance to the centroid)';

CREATE FUNCTION meter_profiles(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL)
RETURNS TABLE (meter_id text, profile double precision[], notes text[])
AS 'MODULE_PATHNAME', 'meter_etl_meter_profiles'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION meter_profiles(timestamptz, timestamptz, text[]) IS
  'The profiles load_profiles() clusters, one row per meter with readings in [from_ts, to_ts): weekday slots then weekend slots at the coarsest interval in scope, each day type divided by its mean absolute load; notes as meter_segment.notes';

CREATE VIEW v_segment_profile AS
SELECT p.segment, p.day_type, p.slot_start, p.value, coalesce(c.meters, 0) AS meters, p.run_id
  FROM meter_etl.segment_profile p
  LEFT JOIN (SELECT s.segment, count(*)::integer AS meters FROM meter_etl.meter_segment s
              GROUP BY s.segment) c USING (segment);
COMMENT ON VIEW v_segment_profile IS
  'Load-profile segments of the latest load_profiles() run: each segment''s normalised daily profile, one row per segment, day type and local slot';
COMMENT ON COLUMN v_segment_profile.segment IS 'Segment 1 .. k (v_meter.segment), 1 = the most meters';
COMMENT ON COLUMN v_segment_profile.day_type IS 'weekday (Monday to Friday) or weekend (Saturday, Sunday), in the meter''s local time';
COMMENT ON COLUMN v_segment_profile.slot_start IS 'Local time of day the slot starts';
COMMENT ON COLUMN v_segment_profile.value IS 'Normalised load: the slot''s mean load over the day type''s mean absolute load (1 = average, 2 = twice the average, negative = export)';
COMMENT ON COLUMN v_segment_profile.meters IS 'Meters in the segment';
COMMENT ON COLUMN v_segment_profile.run_id IS 'The load_profiles() run';

-- The meter dimension with each meter's segment (NULL before the first
-- load_profiles() or for a meter without readings in its range).
CREATE VIEW v_meter AS
SELECT m.meter_id, coalesce(m.time_zone, 'UTC') AS time_zone, m.interval_s / 60 AS interval_minutes,
       f.first_reading_at, m.last_reading_at,
       (SELECT array_agg(c.name ORDER BY c.channel_id) FROM meter_etl.meter_status s
          JOIN meter_etl.channel c USING (channel_id)
         WHERE s.meter_key = m.meter_key) AS channels,
       g.segment, m.created_at
  FROM meter_etl.meter m
  LEFT JOIN meter_etl.meter_segment g USING (meter_key)
 CROSS JOIN LATERAL (SELECT min(e.ts_min) AS first_reading_at FROM meter_etl.ingest_extent e
                      WHERE e.meter_key = m.meter_key) f;
COMMENT ON VIEW v_meter IS 'Meter dimension: one row per meter';
COMMENT ON COLUMN v_meter.meter_id IS 'Meter id as the files name it';
COMMENT ON COLUMN v_meter.time_zone IS 'IANA time zone of the meter''s profile (UTC when it had none): the zone of its local days';
COMMENT ON COLUMN v_meter.interval_minutes IS 'Reading interval in minutes';
COMMENT ON COLUMN v_meter.first_reading_at IS 'Earliest reading stored by ingest';
COMMENT ON COLUMN v_meter.last_reading_at IS 'Newest reading stored by ingest';
COMMENT ON COLUMN v_meter.channels IS 'Channels detection has seen for the meter (NULL before its first detection)';
COMMENT ON COLUMN v_meter.segment IS 'Load-profile segment of the latest load_profiles() run (v_segment_profile), NULL until the meter is segmented';
COMMENT ON COLUMN v_meter.created_at IS 'When the meter was first registered';
