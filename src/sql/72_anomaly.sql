
-- ======================================================================
-- Anomaly scores (issue #20): an isolation forest over meter-days
-- (C cores in src/core/predict/, glue in src/pg/predict/)
--
-- Per meter channel and local day seven features (daily energy,
-- peak/mean, night/day, zero share, largest step, residual against the
-- meter's hour-of-week profile and against its peers' profile shape) and
-- an isolation-forest score (Liu, Ting & Zhou 2008) in (0, 1], high =
-- unusual.  A separate step, not part of detect(): the forest is fitted
-- over the whole fleet's days of a range, which needs whole local days
-- and two passes over their readings, while detect() runs per file on
-- whatever just arrived.  Schedule score_anomalies() nightly after
-- detect().
-- ======================================================================

CREATE FUNCTION isolation_forest_array(features double precision[],
                                       trees integer DEFAULT @ME_DEFAULT_IFOREST_TREES@,
                                       sample_size integer DEFAULT @ME_DEFAULT_IFOREST_SAMPLE_SIZE@,
                                       seed bigint DEFAULT @ME_DEFAULT_IFOREST_SEED@)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'meter_etl_isolation_forest_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION isolation_forest_array(double precision[], integer, integer, bigint) IS
  'Isolation-forest scores of any points: features is a 2-D array, one row per point (no NULL, NaN or infinity); trees trees, each on a subsample of min(sample_size, rows) rows drawn without replacement, depth limit ceil(log2 subsample); returns each row''s score 2^(-E[h]/c(subsample)) in (0, 1] in row order (0.5 for identical rows), deterministic for a seed';

CREATE FUNCTION anomaly_scores(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL,
                               trees integer DEFAULT @ME_DEFAULT_IFOREST_TREES@,
                               sample_size integer DEFAULT @ME_DEFAULT_IFOREST_SAMPLE_SIZE@,
                               seed bigint DEFAULT @ME_DEFAULT_IFOREST_SEED@)
RETURNS TABLE (meter_id text, channel_id smallint, day date, score double precision, features jsonb)
AS 'MODULE_PATHNAME', 'meter_etl_anomaly_scores'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION anomaly_scores(timestamptz, timestamptz, text[], integer, integer, bigint) IS
  'Isolation-forest score of every whole local day (meter.time_zone) in [from_ts, to_ts) of each meter channel with readings for at least half its slots, one forest per channel over all those meter-days; features: energy_kwh (mean kW x day hours), peak_mean, night_day (00-06 local / rest), zero_share, max_step_kw, own_resid (RMS against the meter''s hour-of-week means / its mean kW), peer_resid (RMS of the day''s shape against the peers'' hour-of-week shape), and the counts readings, expected, flagged (outlier or suspect_meter) and estimated (source-estimated); readings of meter_etl.reading only (meter_etl.estimate is not read)';

-- ---------------------------------------------------------------- persisted scores

CREATE TABLE anomaly_run (
    run_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_ts       timestamptz NOT NULL,
    to_ts         timestamptz NOT NULL,
    meters        integer,
    trees         integer NOT NULL,
    sample_size   integer NOT NULL,
    seed          bigint NOT NULL,
    days_scored   bigint NOT NULL DEFAULT 0,
    days_replaced bigint NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz
);
COMMENT ON TABLE anomaly_run IS
  'One row per score_anomalies() call: the range, the forest''s parameters, and how many meter-days it scored and replaced';
COMMENT ON COLUMN anomaly_run.meters IS 'Number of meters asked for; NULL = the whole fleet';
COMMENT ON COLUMN anomaly_run.days_replaced IS 'Stored meter-days of the range deleted before the new scores were written';

CREATE TABLE anomaly_score (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    day        date NOT NULL,
    score      double precision NOT NULL CHECK (score > 0 AND score <= 1),
    features   jsonb NOT NULL,
    run_id     bigint NOT NULL,
    PRIMARY KEY (meter_key, channel_id, day)
);
CREATE INDEX anomaly_score_day_idx ON anomaly_score (day, channel_id, score DESC);
COMMENT ON TABLE anomaly_score IS
  'Isolation-forest score of each meter channel''s local day, as the latest score_anomalies() over that day stored it (scores are relative to the meter-days that run fitted on)';
COMMENT ON COLUMN anomaly_score.day IS 'Local date in the meter''s time zone';
COMMENT ON COLUMN anomaly_score.score IS 'Isolation-forest score in (0, 1]: near 1 unusual, about 0.5 or below usual';
COMMENT ON COLUMN anomaly_score.features IS 'The day''s features and counts, as anomaly_scores() returns them';
COMMENT ON COLUMN anomaly_score.run_id IS 'The meter_etl.anomaly_run that wrote the row';

CREATE FUNCTION score_anomalies(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL,
                                trees integer DEFAULT @ME_DEFAULT_IFOREST_TREES@,
                                sample_size integer DEFAULT @ME_DEFAULT_IFOREST_SAMPLE_SIZE@,
                                seed bigint DEFAULT @ME_DEFAULT_IFOREST_SEED@)
RETURNS anomaly_run
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_run meter_etl.anomaly_run;
  v_n   bigint;
BEGIN
  -- anomaly_scores() checks everything else (range, sizes, unknown meters)
  IF from_ts IS NULL OR to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF trees IS NULL OR sample_size IS NULL OR seed IS NULL THEN
    RAISE EXCEPTION 'trees, sample_size and seed must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- one scoring at a time: they replace the same rows
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('meter_etl.score_anomalies', 7411));
  INSERT INTO meter_etl.anomaly_run (from_ts, to_ts, meters, trees, sample_size, seed)
  VALUES (from_ts, to_ts, pg_catalog.cardinality(meters), trees, sample_size, seed)
  RETURNING * INTO v_run;
  -- the range's stored days: whole local days of the meters in scope, as anomaly_scores() picks them
  DELETE FROM meter_etl.anomaly_score s USING meter_etl.meter m
   WHERE m.meter_key = s.meter_key
     AND (meters IS NULL OR m.meter_id = ANY (meters))
     AND (s.day::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC')) >= from_ts
     AND ((s.day + 1)::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC')) <= to_ts;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  UPDATE meter_etl.anomaly_run r SET days_replaced = v_n WHERE r.run_id = v_run.run_id;
  INSERT INTO meter_etl.anomaly_score (meter_key, channel_id, day, score, features, run_id)
  SELECT m.meter_key, a.channel_id, a.day, a.score, a.features, v_run.run_id
    FROM meter_etl.anomaly_scores(from_ts, to_ts, meters, trees, sample_size, seed) a
    JOIN meter_etl.meter m ON m.meter_id = a.meter_id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  UPDATE meter_etl.anomaly_run r SET days_scored = v_n, finished_at = pg_catalog.clock_timestamp()
   WHERE r.run_id = v_run.run_id RETURNING * INTO v_run;
  RETURN v_run;
END
$$;
COMMENT ON FUNCTION score_anomalies(timestamptz, timestamptz, text[], integer, integer, bigint) IS
  'Score the whole local days in [from_ts, to_ts) with anomaly_scores() and store them in meter_etl.anomaly_score, replacing the range''s stored days of the meters in scope (idempotent for a range and seed); returns the anomaly_run row. A separate step, not called by detect()';

-- the top anomalies of each local day, for BI
CREATE VIEW v_anomaly_top AS
SELECT t.day, t.rank, m.meter_id, c.name AS channel, t.score, t.features, t.run_id
  FROM (SELECT s.meter_key, s.channel_id, s.day, s.score, s.features, s.run_id,
               pg_catalog.row_number() OVER (PARTITION BY s.day, s.channel_id
                                             ORDER BY s.score DESC, s.meter_key) AS rank
          FROM meter_etl.anomaly_score s) t
  JOIN meter_etl.meter m ON m.meter_key = t.meter_key
  JOIN meter_etl.channel c ON c.channel_id = t.channel_id
 WHERE t.rank <= 10;
COMMENT ON VIEW v_anomaly_top IS
  'The ten highest isolation-forest scores of each local day and channel (meter_etl.anomaly_score), ranked';
COMMENT ON COLUMN v_anomaly_top.day IS 'Local date in the meter''s time zone';
COMMENT ON COLUMN v_anomaly_top.rank IS 'Rank within the day and channel, 1 = most unusual (ties by meter)';
COMMENT ON COLUMN v_anomaly_top.meter_id IS 'Meter id';
COMMENT ON COLUMN v_anomaly_top.channel IS 'Channel name (import, export, net, solar, ...)';
COMMENT ON COLUMN v_anomaly_top.score IS 'Isolation-forest score in (0, 1]: near 1 unusual';
COMMENT ON COLUMN v_anomaly_top.features IS 'Why: energy_kwh (kWh), peak_mean, night_day, zero_share (0-1), max_step_kw (kW), own_resid, peer_resid (dimensionless), and the counts readings, expected, flagged, estimated';
COMMENT ON COLUMN v_anomaly_top.run_id IS 'The meter_etl.anomaly_run that scored the day';

SELECT pg_catalog.pg_extension_config_dump('anomaly_run', '');
SELECT pg_catalog.pg_extension_config_dump('anomaly_score', '');
