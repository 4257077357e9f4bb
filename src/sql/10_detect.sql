
-- ======================================================================
-- Detection: interpolation, rolling outliers, faulty meters, peaks
-- (C cores in src/core/series/, glue in src/pg/detect/; see
--  doc/detection.md)
--
-- Every detection entry point runs with jit = off: its statements are large
-- plans over every day partition, which JIT compiles for seconds and gains
-- nothing from (auto_explain, by hand: 4.9 s of a 7.7 s detect() of one
-- day of 5,000 meters went to compiling one statement).
-- ======================================================================

-- ---------------------------------------------------------------- SRFs

CREATE FUNCTION interpolate(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL,
                            max_gap interval DEFAULT '@ME_DEFAULT_MAX_GAP_S@ s', like_day boolean DEFAULT false)
RETURNS TABLE (meter_id text, channel text, ts timestamptz, kw double precision,
               estimated boolean, method text)
AS 'MODULE_PATHNAME', 'meter_etl_interpolate'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION interpolate(timestamptz, timestamptz, text[], interval, boolean) IS
  'One row per grid slot in [from_ts, to_ts) of each meter channel: the actual reading, a linear estimate for a gap up to max_gap, a like-day estimate for longer gaps when like_day, or a hole (kw NULL, method gap)';

CREATE FUNCTION interpolate_array(ts timestamptz[], kw double precision[], step interval DEFAULT '15 minutes',
                            max_gap interval DEFAULT '@ME_DEFAULT_MAX_GAP_S@ s', from_ts timestamptz DEFAULT NULL,
                            to_ts timestamptz DEFAULT NULL, like_day boolean DEFAULT false,
                            time_zone text DEFAULT 'UTC')
RETURNS TABLE (ts timestamptz, kw double precision, estimated boolean, method text)
AS 'MODULE_PATHNAME', 'meter_etl_interpolate_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION interpolate_array(timestamptz[], double precision[], interval, interval, timestamptz, timestamptz, boolean, text) IS
  'interpolate() on any series: ts strictly ascending, kw NULL for a missing reading; the grid is every step in [from_ts, to_ts) (default: the span of ts)';

CREATE FUNCTION rolling_outliers(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL,
                                 method text DEFAULT '@ME_DEFAULT_OUTLIER_METHOD@', window_size integer DEFAULT @ME_DEFAULT_OUTLIER_WINDOW@,
                                 centred boolean DEFAULT true, threshold double precision DEFAULT @ME_DEFAULT_OUTLIER_THRESHOLD@,
                                 min_periods integer DEFAULT NULL, min_scale double precision DEFAULT NULL,
                                 scale text DEFAULT 'log', outliers_only boolean DEFAULT false)
RETURNS TABLE (meter_id text, channel text, ts timestamptz, kw double precision,
               score double precision, is_outlier boolean, centre double precision,
               scale double precision, n_window integer)
AS 'MODULE_PATHNAME', 'meter_etl_rolling_outliers'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION rolling_outliers(timestamptz, timestamptz, text[], text, integer, boolean, double precision, integer, double precision, text, boolean) IS
  'Rolling outlier score of every reading in [from_ts, to_ts): hampel (x - median) / (1.4826 MAD) or zscore (x - mean) / stddev over a centred or trailing window of window_size readings (default 2, the readings either side: a spike check; NULL = one day), on asinh(kW / 0.1) by default (scale log: relative deviations); is_outlier when |score| > threshold';

CREATE FUNCTION rolling_outliers_array(kw double precision[], method text DEFAULT '@ME_DEFAULT_OUTLIER_METHOD@',
                                 window_size integer DEFAULT @ME_DEFAULT_OUTLIER_WINDOW@, centred boolean DEFAULT true,
                                 threshold double precision DEFAULT @ME_DEFAULT_OUTLIER_THRESHOLD@, min_periods integer DEFAULT NULL,
                                 min_scale double precision DEFAULT NULL, scale text DEFAULT 'log',
                                 outliers_only boolean DEFAULT false)
RETURNS TABLE (ord integer, kw double precision, score double precision, is_outlier boolean,
               centre double precision, scale double precision, n_window integer)
AS 'MODULE_PATHNAME', 'meter_etl_rolling_outliers_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION rolling_outliers_array(double precision[], text, integer, boolean, double precision, integer, double precision, text, boolean) IS
  'rolling_outliers() on any series of values in order (NULL = missing); ord is the 1-based position in kw';

CREATE FUNCTION detect_faulty_meters(from_ts timestamptz DEFAULT pg_catalog.date_trunc('day', pg_catalog.now()) - interval '1 day',
                                     to_ts timestamptz DEFAULT pg_catalog.date_trunc('day', pg_catalog.now()),
                                     meters text[] DEFAULT NULL,
                                     kinds text[] DEFAULT NULL, history interval DEFAULT '@ME_DEFAULT_HISTORY_DAYS@ days',
                                     stuck_zero_min interval DEFAULT '@ME_DEFAULT_STUCK_ZERO_MIN_S@ s',
                                     flatline_min interval DEFAULT '@ME_DEFAULT_FLATLINE_MIN_S@ s',
                                     flatline_min_readings integer DEFAULT @ME_DEFAULT_FLATLINE_MIN_READINGS@,
                                     shift_min_z double precision DEFAULT @ME_DEFAULT_SHIFT_MIN_Z@,
                                     shift_min_factor double precision DEFAULT @ME_DEFAULT_SHIFT_MIN_FACTOR@,
                                     shift_min_days integer DEFAULT @ME_DEFAULT_SHIFT_MIN_DAYS@,
                                     offline_min interval DEFAULT '@ME_DEFAULT_OFFLINE_MIN_S@ s',
                                     shift_persist_days integer DEFAULT @ME_DEFAULT_SHIFT_PERSIST_DAYS@,
                                     fleet_min_meters integer DEFAULT @ME_DEFAULT_FLEET_MIN_METERS@)
RETURNS TABLE (meter_id text, channel text, kind text, start_ts timestamptz, end_ts timestamptz,
               evidence jsonb)
AS 'MODULE_PATHNAME', 'meter_etl_detect_faulty_meters'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION detect_faulty_meters(timestamptz, timestamptz, text[], text[], interval, interval, interval, integer, double precision, double precision, integer, interval, integer, integer) IS
  'Faulty-meter episodes overlapping [from_ts, to_ts): stuck_zero, flatline, level_shift (daily energy divided by the fleet''s level, against the same weekday of the previous 4 weeks, robust z; ongoing, or lasting shift_persist_days) and offline, judged with history before from_ts; and usage_anomaly, a shift that ended sooner (reported, not a fault); without a range: yesterday (midnight to midnight in the session''s TimeZone)';

CREATE FUNCTION detect_faulty_meters_array(ts timestamptz[], kw double precision[], step interval DEFAULT '15 minutes',
                                     kinds text[] DEFAULT NULL, time_zone text DEFAULT 'UTC',
                                     stuck_zero_min interval DEFAULT '@ME_DEFAULT_STUCK_ZERO_MIN_S@ s',
                                     flatline_min interval DEFAULT '@ME_DEFAULT_FLATLINE_MIN_S@ s',
                                     flatline_min_readings integer DEFAULT @ME_DEFAULT_FLATLINE_MIN_READINGS@,
                                     shift_min_z double precision DEFAULT @ME_DEFAULT_SHIFT_MIN_Z@,
                                     shift_min_factor double precision DEFAULT @ME_DEFAULT_SHIFT_MIN_FACTOR@,
                                     shift_min_days integer DEFAULT @ME_DEFAULT_SHIFT_MIN_DAYS@,
                                     offline_min interval DEFAULT '@ME_DEFAULT_OFFLINE_MIN_S@ s',
                                     shift_persist_days integer DEFAULT @ME_DEFAULT_SHIFT_PERSIST_DAYS@)
RETURNS TABLE (kind text, start_ts timestamptz, end_ts timestamptz, evidence jsonb)
AS 'MODULE_PATHNAME', 'meter_etl_detect_faulty_meters_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION detect_faulty_meters_array(timestamptz[], double precision[], interval, text[], text, interval, interval, integer, double precision, double precision, integer, interval, integer) IS
  'detect_faulty_meters() on any series: ts strictly ascending, kw NULL for a missing reading, local days in time_zone (a lone series: no fleet level)';

-- ---------------------------------------------------------------- persisted results

CREATE TABLE detect_run (
    run_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mode               text NOT NULL CHECK (mode IN ('range', 'pending')),
    from_ts            timestamptz,
    to_ts              timestamptz,
    meters             integer,
    status             text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok')),
    started_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at        timestamptz,
    settings           jsonb NOT NULL DEFAULT '{}',
    ingest_runs        bigint[],
    series             bigint NOT NULL DEFAULT 0,
    flags_changed      bigint NOT NULL DEFAULT 0,
    estimates_written  bigint NOT NULL DEFAULT 0,
    estimates_removed  bigint NOT NULL DEFAULT 0,
    estimates_replaced bigint NOT NULL DEFAULT 0,
    estimate_mae_kw    double precision,
    gaps_written       bigint NOT NULL DEFAULT 0,
    gaps_removed       bigint NOT NULL DEFAULT 0,
    faults_new         bigint NOT NULL DEFAULT 0,
    faults_updated     bigint NOT NULL DEFAULT 0,
    faults_removed     bigint NOT NULL DEFAULT 0,
    status_changes     bigint NOT NULL DEFAULT 0,
    alerts             bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE detect_run IS
  'One row per detect() or detect_pending() call: range, settings in force and what changed (a second run over the same data changes nothing)';
COMMENT ON COLUMN detect_run.estimates_replaced IS
  'Estimates removed because an actual reading arrived for their slot (re-validation); estimate_mae_kw is their mean absolute error against those actuals';
COMMENT ON COLUMN detect_run.ingest_runs IS 'detect_pending(): the ingest runs whose readings this run covered';

CREATE TABLE estimate (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    ts         timestamptz NOT NULL,
    kw         double precision NOT NULL,
    method     text NOT NULL DEFAULT 'linear' CHECK (method IN ('linear', 'like_day')),
    run_id     bigint,
    PRIMARY KEY (meter_key, channel_id, ts)
);
CREATE INDEX estimate_ts_idx ON estimate (ts);
COMMENT ON TABLE estimate IS
  'Estimated values for the slots of short gaps (up to meter_etl.max_gap), kept apart from meter_etl.reading so an actual reading arriving later always wins; v_reading_filled combines both';

CREATE TABLE gap (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    start_ts   timestamptz NOT NULL,
    end_ts     timestamptz NOT NULL,
    intervals  bigint NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('long', 'leading', 'trailing', 'no_data')),
    run_id     bigint,
    PRIMARY KEY (meter_key, channel_id, start_ts),
    CHECK (end_ts > start_ts)
);
CREATE INDEX gap_end_idx ON gap (end_ts);    -- gaps are bounded: recent ends find recent gaps
COMMENT ON TABLE gap IS
  'Gaps longer than meter_etl.max_gap, left unfilled: [start_ts, end_ts) of missing slots. long: readings on both sides; trailing: no reading since (end_ts = end of the last detection); leading / no_data: no reading before within what detection read';

CREATE TABLE fault (
    meter_key    integer NOT NULL,
    channel_id   smallint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('stuck_zero', 'flatline', 'level_shift', 'offline', 'usage_anomaly')),
    start_ts     timestamptz NOT NULL,
    end_ts       timestamptz NOT NULL,
    ongoing      boolean NOT NULL,
    evidence     jsonb NOT NULL,
    first_run_id bigint,
    run_id       bigint,
    PRIMARY KEY (meter_key, channel_id, kind, start_ts)
);
CREATE INDEX fault_end_idx ON fault (end_ts);
COMMENT ON TABLE fault IS
  'Faulty-meter episodes [start_ts, end_ts): stuck_zero, flatline, level_shift, offline, with the evidence; ongoing when still going at the end of the data seen. Also usage_anomaly episodes (a household''s transient change of usage): kept here because detection revises one into the other, but not faults: they flag no reading, set no status, raise no alert and exclude no meter from peaks';

CREATE TABLE meter_status (
    meter_key       integer NOT NULL,
    channel_id      smallint NOT NULL,
    status          text NOT NULL CHECK (status IN ('ok', 'faulty', 'offline')),
    reason          text CHECK (reason IN ('stuck_zero', 'flatline', 'level_shift', 'offline')),
    since           timestamptz,
    evidence        jsonb,
    as_of           timestamptz NOT NULL,
    last_reading_ts timestamptz,
    changed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id          bigint,
    PRIMARY KEY (meter_key, channel_id),
    CHECK ((status = 'ok') = (reason IS NULL))
);
COMMENT ON TABLE meter_status IS
  'Current status of each meter channel as of the latest detection: ok, faulty (reason = the fault kind) or offline, since when (data time) and the evidence';
COMMENT ON COLUMN meter_status.since IS
  'faulty/offline: start of the episode; ok: end of the last episode (NULL if never faulty)';
COMMENT ON COLUMN meter_status.as_of IS 'End of the latest detection range; older ranges re-detected later do not change the status';

CREATE TABLE meter_day (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    day        date NOT NULL,
    start_ts   timestamptz NOT NULL,
    end_ts     timestamptz NOT NULL,
    kw_sum     double precision NOT NULL,
    readings   integer NOT NULL,
    run_id     bigint,
    raw_kw_sum   double precision,
    raw_readings integer,
    PRIMARY KEY (meter_key, channel_id, day)
);
CREATE INDEX meter_day_start_idx ON meter_day (start_ts);
COMMENT ON TABLE meter_day IS
  'Per local day (the meter''s zone) the sum and count of readings that count for consumption (outliers and stuck/flatline readings left out): the history level_shift detection judges a new day against';
COMMENT ON COLUMN meter_day.raw_kw_sum IS
  'Sum of all the day''s readings, outliers and stuck runs included (the fleet''s level is made of these: a pure function of the readings, whichever run computes it)';
COMMENT ON COLUMN meter_day.raw_readings IS 'Count of all the day''s readings';

CREATE TABLE fleet_reference (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    known_from date NOT NULL,
    usual      double precision,
    run_id     bigint,
    PRIMARY KEY (meter_key, channel_id)
);
COMMENT ON TABLE fleet_reference IS
  'Each meter channel''s usual day for the fleet''s level: the median kWh per 24 h of its first 7 whole days in the store (known_from = the last of them; NULL usual: its first two weeks hold fewer than 7), set once by detect()';

CREATE TABLE fleet_day (
    channel_id smallint NOT NULL,
    time_zone  text NOT NULL,
    day        date NOT NULL,
    level      double precision NOT NULL CHECK (level > 0),
    meters     integer NOT NULL,
    run_id     bigint,
    PRIMARY KEY (channel_id, time_zone, day)
);
COMMENT ON TABLE fleet_day IS
  'The fleet''s level per channel, time zone and local day (fleet_levels()), kept by detect() for the days it detects: level shift divides each meter''s day by it';

CREATE FUNCTION fleet_levels(from_ts timestamptz, to_ts timestamptz,
                             stored_before timestamptz DEFAULT NULL,
                             min_meters integer DEFAULT @ME_DEFAULT_FLEET_MIN_METERS@)
RETURNS TABLE (channel text, time_zone text, day date, level double precision, meters integer)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
  v_read_from constant timestamptz := greatest(fleet_levels.from_ts,
                                               coalesce(fleet_levels.stored_before, fleet_levels.from_ts));
BEGIN
  IF fleet_levels.from_ts IS NULL OR fleet_levels.to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF fleet_levels.from_ts > fleet_levels.to_ts THEN
    RAISE EXCEPTION 'from_ts must not be later than to_ts' USING ERRCODE = 'invalid_parameter_value';
  ELSIF fleet_levels.min_meters IS NULL OR fleet_levels.min_meters < 1 THEN
    RAISE EXCEPTION 'min_meters must be at least 1' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
  -- whole days with 90 % of their readings, kWh per 24 h of every reading:
  -- days starting before v_read_from as stored (at any time: a meter's
  -- first days too), the others from the readings of [v_read_from, to_ts)
  WITH stored AS (
    SELECT y.meter_key, y.channel_id, y.day, y.raw_kw_sum / y.raw_readings * 24 AS e
      FROM meter_etl.meter_day y
      JOIN meter_etl.meter m ON m.meter_key = y.meter_key
     WHERE y.start_ts < v_read_from AND y.raw_readings > 0
       AND y.raw_readings >= 0.9 * extract(epoch FROM y.end_ts - y.start_ts) / m.interval_s
  ), fresh AS (
    SELECT x.meter_key, x.channel_id, x.day, x.e
      FROM (SELECT r.meter_key, r.channel_id, m.interval_s, coalesce(m.time_zone, 'UTC') AS tz,
                   (r.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date AS day,
                   pg_catalog.avg(r.kw) * 24 AS e, pg_catalog.count(*) AS n
              FROM meter_etl.reading r
              JOIN meter_etl.meter m ON m.meter_key = r.meter_key
             WHERE r.ts >= v_read_from AND r.ts < fleet_levels.to_ts
             GROUP BY 1, 2, 3, 4, 5) x
     CROSS JOIN LATERAL (SELECT x.day::timestamp AT TIME ZONE x.tz AS s,
                                (x.day + 1)::timestamp AT TIME ZONE x.tz AS e) b
     WHERE b.s >= v_read_from AND b.e <= fleet_levels.to_ts
       AND x.n >= 0.9 * extract(epoch FROM b.e - b.s) / x.interval_s
  ), day_e AS (
    SELECT * FROM stored UNION ALL SELECT * FROM fresh
  ), firsts AS (              -- each meter's first 7 whole days
    SELECT d.meter_key, d.channel_id, d.day, d.e,
           pg_catalog.row_number() OVER (PARTITION BY d.meter_key, d.channel_id ORDER BY d.day) AS k
      FROM day_e d
  ), usual AS (               -- its usual day: their median, a constant of the meter
    SELECT r.meter_key, r.channel_id, r.known_from, r.usual AS l
      FROM meter_etl.fleet_reference r WHERE r.usual IS NOT NULL
    UNION ALL                 -- (not set by detect() yet: the first days of the window)
    SELECT f.meter_key, f.channel_id, pg_catalog.max(f.day), pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY f.e)
      FROM firsts f
     WHERE f.k <= 7 AND NOT EXISTS (SELECT 1 FROM meter_etl.fleet_reference r
                                     WHERE r.meter_key = f.meter_key AND r.channel_id = f.channel_id)
     GROUP BY 1, 2
    HAVING pg_catalog.count(*) = 7
  )
  -- rounded to 1e-9: sums of the same readings in another order (the store's
  -- daily sums, a hash aggregate) differ in the last bits, the level must not
  SELECT c.name, coalesce(m.time_zone, 'UTC'), d.day,
         pg_catalog.round(pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY d.e / u.l)::numeric, 9)::double precision,
         pg_catalog.count(*)::integer
    FROM day_e d
    JOIN usual u ON u.meter_key = d.meter_key AND u.channel_id = d.channel_id
    JOIN meter_etl.meter m ON m.meter_key = d.meter_key
    JOIN meter_etl.channel c ON c.channel_id = d.channel_id
   WHERE u.l > 0 AND d.day > u.known_from     -- only days after the reference: the same whichever run
     AND d.day::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC') >= fleet_levels.from_ts
   GROUP BY 1, 2, 3
  HAVING pg_catalog.count(*) >= fleet_levels.min_meters
     AND pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY d.e / u.l) > 0
   ORDER BY 1, 2, 3;
END
$$;
COMMENT ON FUNCTION fleet_levels(timestamptz, timestamptz, timestamptz, integer) IS
  'The fleet''s level on each whole local day in [from_ts, to_ts), per channel and time zone: the median over meters of the day''s energy divided by the meter''s usual day (fleet_reference: the median of its first 7 whole days in the store; for a meter detect() has not seen, of its first 7 in the window; it counts from the day after them), so the ratio of two days'' levels is how much the fleet changed between them. Every reading counts. Days of min_meters meters or more; days starting before stored_before come from meter_day (what detect() keeps), the rest from the readings. level_shift divides each day by it';

CREATE TABLE ingest_extent (
    ingest_run_id bigint NOT NULL,
    meter_key     integer NOT NULL,
    ts_min        timestamptz NOT NULL,
    ts_max        timestamptz NOT NULL,
    PRIMARY KEY (ingest_run_id, meter_key)
);
COMMENT ON TABLE ingest_extent IS
  'Per ingest run and meter, the time span of the readings stored (for a run of reingest(), also the span its removal changed): what detect_pending() recomputes';

CREATE TABLE detect_done (
    ingest_run_id bigint PRIMARY KEY,
    detect_run_id bigint NOT NULL,
    done_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE detect_done IS 'Ingest runs whose readings detect_pending() has processed';

-- ---------------------------------------------------------------- batch detection

CREATE FUNCTION detect_settings()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'meter_etl_detect_settings'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION detect_settings() IS
  'The meter_etl.* detection settings detect() would use now (recorded in detect_run.settings)';

CREATE FUNCTION detect_compute(from_ts timestamptz, to_ts timestamptz, meter_keys integer[] DEFAULT NULL)
RETURNS TABLE (item text, meter_key integer, channel_id smallint, ts timestamptz, end_ts timestamptz,
               kw double precision, flags smallint, kind text, n bigint, day date,
               open_start boolean, open_end boolean, evidence jsonb,
               raw_kw double precision, raw_n bigint, partial boolean)
AS 'MODULE_PATHNAME', 'meter_etl_detect_compute'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION detect_compute(timestamptz, timestamptz, integer[]) IS
  'What detect() would write for [from_ts, to_ts), without writing: flags, estimate, gap, fault, day and series rows (internal, for detect() and tests)';

CREATE FUNCTION outage_evidence(start_ts timestamptz, end_ts timestamptz, interval_s integer)
RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
  -- as detect_compute writes it (numbers to 6 significant digits)
  SELECT pg_catalog.jsonb_build_object(
           'hours', h, 'missing_share', 1, 'longest_gap_hours', h,
           'missing_intervals', (extract(epoch FROM outage_evidence.end_ts - outage_evidence.start_ts)
                                 / outage_evidence.interval_s)::bigint)
    FROM (SELECT pg_catalog.trim_scale(pg_catalog.round(x, greatest(0, 5 - floor(log(10, x))::integer))) AS h
            FROM (SELECT (extract(epoch FROM outage_evidence.end_ts - outage_evidence.start_ts) / 3600)::numeric AS x) a) b
$$;
COMMENT ON FUNCTION outage_evidence(timestamptz, timestamptz, integer) IS
  'Internal (detect()): the evidence of an offline episode [start_ts, end_ts) without a reading, as detect_compute() gives it';

CREATE FUNCTION previous_reading(meter_key integer, channel_id smallint, before_ts timestamptz,
                                 interval_s integer)
RETURNS timestamptz
LANGUAGE sql STABLE STRICT
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
  -- off-grid readings are no reading for gaps, as for the fill
  SELECT r.ts FROM meter_etl.reading r
   WHERE r.meter_key = previous_reading.meter_key AND r.channel_id = previous_reading.channel_id
     AND r.ts < previous_reading.before_ts
     AND (extract(epoch FROM r.ts)::bigint % previous_reading.interval_s) = 0
   ORDER BY r.ts DESC LIMIT 1
$$;
COMMENT ON FUNCTION previous_reading(integer, smallint, timestamptz, integer) IS
  'Internal: the last reading on its interval grid of a meter channel before before_ts, or NULL: where a gap or an outage that began before what detect() read starts';

CREATE FUNCTION fleet_reference_set(run_id bigint, from_ts timestamptz, to_ts timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_n bigint;
BEGIN
  IF fleet_reference_set.from_ts IS NULL OR fleet_reference_set.to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  -- meter channels with readings in [from_ts, to_ts) and no reference yet:
  -- their first reading (one index probe each), then their first two weeks
  WITH need AS (
    SELECT DISTINCT r.meter_key, r.channel_id
      FROM meter_etl.reading r
     WHERE r.ts >= fleet_reference_set.from_ts AND r.ts < fleet_reference_set.to_ts
       AND NOT EXISTS (SELECT 1 FROM meter_etl.fleet_reference x
                        WHERE x.meter_key = r.meter_key AND x.channel_id = r.channel_id)
  ), first AS (
    SELECT n.meter_key, n.channel_id, f.ts, m.interval_s, coalesce(m.time_zone, 'UTC') AS tz
      FROM need n
      JOIN meter_etl.meter m ON m.meter_key = n.meter_key
     CROSS JOIN LATERAL (SELECT r.ts FROM meter_etl.reading r
                          WHERE r.meter_key = n.meter_key AND r.channel_id = n.channel_id
                          ORDER BY r.ts LIMIT 1) f
  ), days AS (
    SELECT f.meter_key, f.channel_id, f.ts AS first_ts, (r.ts AT TIME ZONE f.tz)::date AS day,
           pg_catalog.avg(r.kw) * 24 AS e, pg_catalog.count(*) AS n, f.interval_s, f.tz
      FROM first f
      JOIN meter_etl.reading r ON r.meter_key = f.meter_key AND r.channel_id = f.channel_id
                              AND r.ts >= f.ts AND r.ts < f.ts + interval '15 days'
     GROUP BY f.meter_key, f.channel_id, f.ts, 4, f.interval_s, f.tz
  ), whole AS (
    SELECT d.*, pg_catalog.row_number() OVER (PARTITION BY d.meter_key, d.channel_id ORDER BY d.day) AS k
      FROM days d
     WHERE d.day::timestamp AT TIME ZONE d.tz >= d.first_ts
       AND (d.day + 1)::timestamp AT TIME ZONE d.tz <= d.first_ts + interval '15 days'
       AND d.n >= 0.9 * extract(epoch FROM ((d.day + 1)::timestamp AT TIME ZONE d.tz)
                                           - (d.day::timestamp AT TIME ZONE d.tz)) / d.interval_s
  ), ref AS (
    SELECT w.meter_key, w.channel_id, pg_catalog.max(w.day) AS known_from,
           CASE WHEN pg_catalog.count(*) = 7 THEN pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY w.e) END AS usual
      FROM whole w WHERE w.k <= 7
     GROUP BY 1, 2
  )
  INSERT INTO meter_etl.fleet_reference (meter_key, channel_id, known_from, usual, run_id)
  SELECT f.meter_key, f.channel_id, coalesce(r.known_from, (f.ts AT TIME ZONE f.tz)::date + 14), r.usual,
         fleet_reference_set.run_id
    FROM first f LEFT JOIN ref r ON r.meter_key = f.meter_key AND r.channel_id = f.channel_id
   -- set once it is known: 7 whole days, or two weeks of readings (then never usable)
   WHERE r.usual IS NOT NULL
      OR EXISTS (SELECT 1 FROM meter_etl.reading x
                  WHERE x.meter_key = f.meter_key AND x.channel_id = f.channel_id AND x.ts >= f.ts + interval '15 days')
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION fleet_reference_set(bigint, timestamptz, timestamptz) IS
  'Internal (detect()): set fleet_reference for the meter channels with readings in [from_ts, to_ts) that have none, from their first 7 whole days in the store; returns how many were set';

CREATE FUNCTION detect_apply(run_id bigint, from_ts timestamptz, to_ts timestamptz, meter_keys integer[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_run   constant bigint := detect_apply.run_id;
  v_from  constant timestamptz := detect_apply.from_ts;
  v_to    constant timestamptz := detect_apply.to_ts;
  v_keys  constant integer[] := detect_apply.meter_keys;
  v_lo    timestamptz;
  v_min   timestamptz;
  v_settings jsonb;
  v_offline interval;
  v_series bigint;
  v_flags bigint;
  v_est_w bigint;
  v_est_d bigint;
  v_est_r bigint;
  v_mae   double precision;
  v_gap_w bigint;
  v_gap_d bigint;
  v_flt_n bigint := 0;
  v_flt_u bigint := 0;
  v_flt_d bigint;
  v_n     bigint;
  v_stat  bigint := 0;
  v_alert bigint := 0;
  rec     record;
BEGIN
  v_settings := meter_etl.detect_settings();    -- (this loads the module: the settings are defined)
  -- the fleet's level of the range's days first: level shift divides by it.
  -- The whole fleet, whichever meters are asked for; the day before and
  -- after too, for the zones' offsets (the readings read from a day and a
  -- half before, the rest comes from meter_day)
  IF (v_settings ->> 'level_shift_fleet_min_meters')::integer > 0 THEN
    PERFORM meter_etl.fleet_reference_set(v_run, v_from - interval '36 hours', v_to + interval '1 day');
    INSERT INTO meter_etl.fleet_day AS f (channel_id, time_zone, day, level, meters, run_id)
    SELECT c.channel_id, l.time_zone, l.day, l.level, l.meters, v_run
      FROM meter_etl.fleet_levels(v_from - interval '1 day', v_to + interval '1 day',
                                  stored_before => v_from - interval '36 hours',
                                  min_meters => (v_settings ->> 'level_shift_fleet_min_meters')::integer) l
      JOIN meter_etl.channel c ON c.name = l.channel
    ON CONFLICT (channel_id, time_zone, day) DO UPDATE
       SET level = EXCLUDED.level, meters = EXCLUDED.meters, run_id = EXCLUDED.run_id
     WHERE (f.level, f.meters) IS DISTINCT FROM (EXCLUDED.level, EXCLUDED.meters);
  END IF;
  CREATE TEMP TABLE me_detect ON COMMIT DROP AS
    SELECT * FROM meter_etl.detect_compute(v_from, v_to, v_keys);
  ANALYZE pg_temp.me_detect;
  v_lo := v_from - make_interval(secs => (v_settings ->> 'max_gap_s')::double precision);
  v_offline := make_interval(secs => (v_settings ->> 'offline_min_s')::double precision);
  SELECT count(*) INTO v_series FROM me_detect d WHERE d.item = 'series';

  -- flags on readings: only the ones that change (UPDATE goes through reading_guard)
  SELECT min(d.ts) INTO v_min FROM me_detect d WHERE d.item = 'flags';
  UPDATE meter_etl.reading rd SET flags = d.flags
    FROM me_detect d
   WHERE d.item = 'flags' AND rd.meter_key = d.meter_key AND rd.channel_id = d.channel_id
     AND rd.ts = d.ts AND rd.ts >= v_min AND rd.ts < v_to AND rd.flags IS DISTINCT FROM d.flags;
  GET DIAGNOSTICS v_flags = ROW_COUNT;

  -- estimates: drop the ones no longer wanted (an actual arrived, the gap grew), upsert the rest
  WITH del AS (
    DELETE FROM meter_etl.estimate e
     WHERE e.ts >= v_lo AND e.ts < v_to AND (v_keys IS NULL OR e.meter_key = ANY (v_keys))
       AND NOT EXISTS (SELECT 1 FROM me_detect d
                        WHERE d.item = 'estimate' AND d.meter_key = e.meter_key
                          AND d.channel_id = e.channel_id AND d.ts = e.ts AND d.kw = e.kw)
    RETURNING e.meter_key, e.channel_id, e.ts, e.kw)
  SELECT count(*), count(rd.kw), avg(abs(rd.kw - del.kw))
    INTO v_est_d, v_est_r, v_mae
    FROM del LEFT JOIN meter_etl.reading rd
      ON rd.meter_key = del.meter_key AND rd.channel_id = del.channel_id AND rd.ts = del.ts;
  INSERT INTO meter_etl.estimate AS e (meter_key, channel_id, ts, kw, method, run_id)
  SELECT d.meter_key, d.channel_id, d.ts, d.kw, d.kind, v_run
    FROM me_detect d WHERE d.item = 'estimate'
  ON CONFLICT (meter_key, channel_id, ts) DO UPDATE
     SET kw = EXCLUDED.kw, method = EXCLUDED.method, run_id = EXCLUDED.run_id
   WHERE e.kw IS DISTINCT FROM EXCLUDED.kw OR e.method IS DISTINCT FROM EXCLUDED.method;
  GET DIAGNOSTICS v_est_w = ROW_COUNT;

  -- gaps: a gap whose start lies before what was read starts after the
  -- series' previous reading, as one run over both would find it (files
  -- delivered day by day leave a meter out of the runs of the days it was
  -- silent, so its outage can end runs after the one that saw it begin);
  -- with no reading before, it keeps the start recorded earlier
  CREATE TEMP TABLE me_detect_gap ON COMMIT DROP AS
  SELECT x.meter_key, x.channel_id, x.start_ts, x.end_ts,
         (extract(epoch FROM x.end_ts - x.start_ts) / x.interval_s)::bigint AS intervals, x.kind
    FROM (SELECT d.meter_key, d.channel_id, d.end_ts, m.interval_s,
                 coalesce(b.ts + make_interval(secs => m.interval_s), p.start_ts,
                          CASE WHEN d.open_start THEN greatest(d.ts, v_from) ELSE d.ts END) AS start_ts,
                 CASE WHEN b.ts IS NULL AND (p.start_ts IS NULL OR p.kind IN ('leading', 'no_data')) THEN d.kind
                      WHEN d.kind = 'leading' THEN 'long'
                      WHEN d.kind = 'no_data' THEN 'trailing'
                      ELSE d.kind END AS kind
            FROM me_detect d
            JOIN meter_etl.meter m ON m.meter_key = d.meter_key
            -- (only episodes that start before what was read pay the probe)
            LEFT JOIN LATERAL (SELECT CASE WHEN d.open_start
                                           THEN meter_etl.previous_reading(d.meter_key, d.channel_id, d.ts, m.interval_s)
                                      END AS ts) b ON true
            LEFT JOIN LATERAL (SELECT g.start_ts, g.kind FROM meter_etl.gap g
                                WHERE d.open_start AND g.meter_key = d.meter_key AND g.channel_id = d.channel_id
                                  AND g.start_ts < d.ts AND g.end_ts >= d.ts
                                ORDER BY g.start_ts LIMIT 1) p ON true
           WHERE d.item = 'gap') x;
  DELETE FROM meter_etl.gap g
   WHERE g.end_ts > v_lo AND g.start_ts < v_to AND (v_keys IS NULL OR g.meter_key = ANY (v_keys))
     -- a gap that ended before from_ts and began before the day read ahead
     -- of it is out of this run's sight (it finds long gaps between readings
     -- it read): only a run that read its start can drop it
     AND NOT (g.end_ts <= v_from AND g.start_ts < v_from - interval '1 day')
     AND NOT EXISTS (SELECT 1 FROM me_detect_gap n
                      WHERE n.meter_key = g.meter_key AND n.channel_id = g.channel_id
                        AND n.start_ts = g.start_ts);
  GET DIAGNOSTICS v_gap_d = ROW_COUNT;
  INSERT INTO meter_etl.gap AS g (meter_key, channel_id, start_ts, end_ts, intervals, kind, run_id)
  SELECT n.meter_key, n.channel_id, n.start_ts, n.end_ts, n.intervals, n.kind, v_run FROM me_detect_gap n
  ON CONFLICT (meter_key, channel_id, start_ts) DO UPDATE
     SET end_ts = EXCLUDED.end_ts, intervals = EXCLUDED.intervals, kind = EXCLUDED.kind, run_id = EXCLUDED.run_id
   WHERE (g.end_ts, g.intervals, g.kind) IS DISTINCT FROM (EXCLUDED.end_ts, EXCLUDED.intervals, EXCLUDED.kind)
     -- a gap still open at the end of this range does not shorten one seen further
     AND NOT (EXCLUDED.kind IN ('trailing', 'no_data') AND g.end_ts > EXCLUDED.end_ts);
  GET DIAGNOSTICS v_gap_w = ROW_COUNT;

  -- fault episodes, same rule for starts before what was read: an outage
  -- starts after the series' previous reading, or else continues one
  -- recorded earlier (missing readings before what was read may be before
  -- the meter existed: an outage from there starts at from_ts)
  CREATE TEMP TABLE me_detect_fault ON COMMIT DROP AS
  SELECT x.meter_key, x.channel_id, x.kind, x.start_ts, x.end_ts, x.ongoing,
         -- an outage continuing before what was read: its evidence is the whole
         -- outage's when no reading lies in it (what one run over it says)
         CASE WHEN x.kind = 'offline' AND x.earlier
                   AND NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                                    WHERE r.meter_key = x.meter_key AND r.channel_id = x.channel_id
                                      AND r.ts >= x.start_ts AND r.ts < x.end_ts)
              THEN meter_etl.outage_evidence(x.start_ts, x.end_ts, x.interval_s)
              ELSE x.evidence END AS evidence,
         x.partial
    FROM (SELECT d.meter_key, d.channel_id, d.kind, d.end_ts, d.open_end AS ongoing, d.evidence, d.partial,
                 d.open_start, m.interval_s, b.ts IS NOT NULL OR p.start_ts IS NOT NULL AS earlier,
                 coalesce(b.ts + make_interval(secs => m.interval_s), p.start_ts,
                          CASE WHEN d.open_start AND d.kind = 'offline' THEN greatest(d.ts, v_from)
                               ELSE d.ts END) AS start_ts
            FROM me_detect d
            JOIN meter_etl.meter m ON m.meter_key = d.meter_key
            LEFT JOIN LATERAL (SELECT CASE WHEN d.open_start AND d.kind = 'offline'
                                           THEN meter_etl.previous_reading(d.meter_key, d.channel_id, d.ts, m.interval_s)
                                      END AS ts) b ON true
            LEFT JOIN LATERAL (SELECT f.start_ts FROM meter_etl.fault f
                                WHERE d.open_start AND f.meter_key = d.meter_key AND f.channel_id = d.channel_id
                                  AND f.kind = d.kind AND f.start_ts < d.ts AND f.end_ts >= d.ts
                                ORDER BY f.start_ts LIMIT 1) p ON true
           WHERE d.item = 'fault') x
   -- a silence from the start of what was read, with nothing before it, is
   -- an outage only once it lasts offline_min within the range
   WHERE NOT (x.kind = 'offline' AND x.open_start AND NOT x.earlier AND x.end_ts - x.start_ts < v_offline);
  -- a run that saw an episode without the context its evidence needs keeps
  -- what a run that saw all of it stored
  UPDATE pg_temp.me_detect_fault n SET evidence = f.evidence, ongoing = f.ongoing
    FROM meter_etl.fault f
   WHERE n.partial AND f.meter_key = n.meter_key AND f.channel_id = n.channel_id
     AND f.kind = n.kind AND f.start_ts = n.start_ts AND f.end_ts = n.end_ts;
  -- episodes no longer found (or found with another start: then a revision, not news)
  CREATE TEMP TABLE me_detect_fault_old ON COMMIT DROP AS
  WITH del AS (
    DELETE FROM meter_etl.fault f
     WHERE f.end_ts > v_lo AND f.start_ts < v_to AND (v_keys IS NULL OR f.meter_key = ANY (v_keys))
       -- an outage is judged up to to_ts only: one going on past it was seen
       -- by a run over a later range, and this one cannot tell it is not there
       AND NOT (f.kind = 'offline' AND f.end_ts > v_to)
       AND NOT EXISTS (SELECT 1 FROM me_detect_fault n
                        WHERE n.meter_key = f.meter_key AND n.channel_id = f.channel_id
                          AND n.kind = f.kind AND n.start_ts = f.start_ts)
    RETURNING f.meter_key, f.channel_id, f.kind, f.start_ts, f.end_ts)
  SELECT * FROM del;
  GET DIAGNOSTICS v_flt_d = ROW_COUNT;
  -- readings before from_ts that only a removed episode had marked suspect
  UPDATE meter_etl.reading rd SET flags = rd.flags & ~4
    FROM me_detect_fault_old o
   WHERE rd.meter_key = o.meter_key AND rd.channel_id = o.channel_id
     AND rd.ts >= o.start_ts AND rd.ts < least(o.end_ts, v_from) AND rd.flags & 4 <> 0
     AND NOT EXISTS (SELECT 1 FROM meter_etl.fault f
                      WHERE f.meter_key = rd.meter_key AND f.channel_id = rd.channel_id
                        AND rd.ts >= f.start_ts AND rd.ts < f.end_ts AND f.kind <> 'usage_anomaly')
     AND NOT EXISTS (SELECT 1 FROM me_detect_fault n
                      WHERE n.meter_key = rd.meter_key AND n.channel_id = rd.channel_id
                        AND rd.ts >= n.start_ts AND rd.ts < n.end_ts AND n.kind <> 'usage_anomaly');
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_flags := v_flags + v_n;
  FOR rec IN
    INSERT INTO meter_etl.fault AS f (meter_key, channel_id, kind, start_ts, end_ts, ongoing, evidence,
                                      first_run_id, run_id)
    SELECT n.meter_key, n.channel_id, n.kind, n.start_ts, n.end_ts, n.ongoing, n.evidence, v_run, v_run
      FROM me_detect_fault n
    ON CONFLICT (meter_key, channel_id, kind, start_ts) DO UPDATE
       SET end_ts = EXCLUDED.end_ts, ongoing = EXCLUDED.ongoing, evidence = EXCLUDED.evidence,
           run_id = EXCLUDED.run_id
     WHERE (f.end_ts, f.ongoing, f.evidence) IS DISTINCT FROM (EXCLUDED.end_ts, EXCLUDED.ongoing, EXCLUDED.evidence)
       -- an episode cut by the end of what this run read does not shorten one seen further
       AND NOT (EXCLUDED.ongoing AND f.end_ts > EXCLUDED.end_ts)
    RETURNING f.meter_key, f.channel_id, f.kind, f.start_ts, f.end_ts, f.ongoing, f.evidence,
              f.first_run_id = v_run
              AND NOT EXISTS (SELECT 1 FROM me_detect_fault_old o
                               WHERE o.meter_key = f.meter_key AND o.channel_id = f.channel_id
                                 AND o.kind = f.kind AND o.start_ts < f.end_ts AND o.end_ts > f.start_ts) AS is_new
  LOOP
    IF rec.kind = 'usage_anomaly' THEN
      CONTINUE;                 -- reported in v_usage_anomaly, not a fault: no alert, not counted
    ELSIF NOT rec.is_new THEN
      v_flt_u := v_flt_u + 1;
      CONTINUE;
    END IF;
    v_flt_n := v_flt_n + 1;
    PERFORM meter_etl.raise_alert(
      'meter_fault', 'warning',
      format('meter "%s" channel "%s": %s from %s', m.meter_id, c.name, rec.kind, rec.start_ts),
      jsonb_build_object('channel', c.name, 'fault', rec.kind, 'start_ts', rec.start_ts, 'end_ts', rec.end_ts,
                         'ongoing', rec.ongoing, 'evidence', rec.evidence, 'detect_run_id', v_run),
      m.meter_id)
      FROM meter_etl.meter m, meter_etl.channel c
     WHERE m.meter_key = rec.meter_key AND c.channel_id = rec.channel_id;
    v_alert := v_alert + 1;
  END LOOP;
  -- an episode a run left open because it read nothing after it is over
  -- once a reading follows it (what one run over both says); a later run
  -- that reads the series but not the episode closes it
  UPDATE meter_etl.fault f SET ongoing = false
   WHERE f.ongoing AND f.kind IN ('stuck_zero', 'flatline', 'offline')
     AND f.end_ts < v_to AND (v_keys IS NULL OR f.meter_key = ANY (v_keys))
     AND EXISTS (SELECT 1 FROM me_detect d
                  WHERE d.item = 'series' AND d.meter_key = f.meter_key AND d.channel_id = f.channel_id)
     AND EXISTS (SELECT 1 FROM meter_etl.reading r
                  WHERE r.meter_key = f.meter_key AND r.channel_id = f.channel_id
                    AND r.ts >= f.end_ts AND r.ts < v_to);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_flt_u := v_flt_u + v_n;

  -- daily sums for level-shift history
  INSERT INTO meter_etl.meter_day AS y (meter_key, channel_id, day, start_ts, end_ts, kw_sum, readings, run_id,
                                        raw_kw_sum, raw_readings)
  SELECT d.meter_key, d.channel_id, d.day, d.ts, d.end_ts, d.kw, d.n, v_run, d.raw_kw, d.raw_n
    FROM me_detect d WHERE d.item = 'day'
  ON CONFLICT (meter_key, channel_id, day) DO UPDATE
     SET start_ts = EXCLUDED.start_ts, end_ts = EXCLUDED.end_ts, kw_sum = EXCLUDED.kw_sum,
         readings = EXCLUDED.readings, run_id = EXCLUDED.run_id,
         raw_kw_sum = EXCLUDED.raw_kw_sum, raw_readings = EXCLUDED.raw_readings
   WHERE (y.kw_sum, y.readings, y.start_ts, y.end_ts, y.raw_kw_sum, y.raw_readings)
         IS DISTINCT FROM (EXCLUDED.kw_sum, EXCLUDED.readings, EXCLUDED.start_ts, EXCLUDED.end_ts,
                           EXCLUDED.raw_kw_sum, EXCLUDED.raw_readings);

  -- status as of the latest range detected (this one, or a later one seen
  -- before): an episode still going then decides it (offline first), else
  -- ok.  For this range what it found; for an earlier range re-detected,
  -- what is stored, so that any order of runs ends in the same status
  FOR rec IN
    WITH s AS (
      SELECT d.meter_key, d.channel_id, d.ts AS last_ts, greatest(v_to, ms.as_of) AS as_of
        FROM me_detect d
        LEFT JOIN meter_etl.meter_status ms ON ms.meter_key = d.meter_key AND ms.channel_id = d.channel_id
       WHERE d.item = 'series'
    ), cur AS (
      SELECT DISTINCT ON (e.meter_key, e.channel_id) e.meter_key, e.channel_id, e.kind, e.start_ts, e.evidence
        FROM (SELECT n.meter_key, n.channel_id, n.kind, n.start_ts, n.evidence
                FROM me_detect_fault n JOIN s ON s.meter_key = n.meter_key AND s.channel_id = n.channel_id
               WHERE s.as_of = v_to AND n.ongoing
              UNION ALL
              SELECT f.meter_key, f.channel_id, f.kind, f.start_ts, f.evidence
                FROM meter_etl.fault f JOIN s ON s.meter_key = f.meter_key AND s.channel_id = f.channel_id
               WHERE s.as_of > v_to AND f.ongoing AND f.end_ts >= s.as_of - interval '1 day') e
       WHERE e.kind <> 'usage_anomaly'
       ORDER BY e.meter_key, e.channel_id,
                array_position('{offline,stuck_zero,flatline,level_shift}'::text[], e.kind), e.start_ts
    ), want AS (
      SELECT s.meter_key, s.channel_id,
             CASE WHEN cur.kind IS NULL THEN 'ok' WHEN cur.kind = 'offline' THEN 'offline' ELSE 'faulty' END AS status,
             cur.kind AS reason,
             CASE WHEN cur.kind IS NOT NULL THEN cur.start_ts
                  ELSE (SELECT max(f.end_ts) FROM meter_etl.fault f
                         WHERE f.meter_key = s.meter_key AND f.channel_id = s.channel_id AND f.end_ts <= s.as_of
                           AND f.kind <> 'usage_anomaly') END AS since,
             cur.evidence, s.last_ts, s.as_of
        FROM s LEFT JOIN cur ON cur.meter_key = s.meter_key AND cur.channel_id = s.channel_id
    ), old AS (
      SELECT w.*, o.status AS old_status
        FROM want w LEFT JOIN meter_etl.meter_status o
          ON o.meter_key = w.meter_key AND o.channel_id = w.channel_id
    ), up AS (
      INSERT INTO meter_etl.meter_status AS ms (meter_key, channel_id, status, reason, since, evidence, as_of,
                                                last_reading_ts, run_id)
      SELECT o.meter_key, o.channel_id, o.status, o.reason, o.since, o.evidence, o.as_of, o.last_ts, v_run FROM old o
      ON CONFLICT (meter_key, channel_id) DO UPDATE
         SET status = EXCLUDED.status, reason = EXCLUDED.reason, since = EXCLUDED.since,
             evidence = EXCLUDED.evidence, as_of = EXCLUDED.as_of,
             last_reading_ts = greatest(ms.last_reading_ts, EXCLUDED.last_reading_ts),
             changed_at = CASE WHEN (ms.status, ms.reason) IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.reason)
                               THEN clock_timestamp() ELSE ms.changed_at END,
             run_id = EXCLUDED.run_id
       WHERE EXCLUDED.as_of >= ms.as_of
         AND (ms.status, ms.reason, ms.since, ms.evidence, ms.as_of, ms.last_reading_ts)
             IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.reason, EXCLUDED.since, EXCLUDED.evidence,
                               EXCLUDED.as_of, greatest(ms.last_reading_ts, EXCLUDED.last_reading_ts))
      RETURNING ms.meter_key, ms.channel_id, ms.status, ms.since
    )
    SELECT up.*, o.old_status FROM up JOIN old o USING (meter_key, channel_id)
  LOOP
    IF rec.old_status IS DISTINCT FROM rec.status THEN
      v_stat := v_stat + 1;
    END IF;
    IF rec.status = 'ok' AND rec.old_status IN ('faulty', 'offline') THEN
      PERFORM meter_etl.raise_alert(
        'meter_recovered', 'info',
        format('meter "%s" channel "%s" is ok again since %s', m.meter_id, c.name, coalesce(rec.since::text, '?')),
        jsonb_build_object('channel', c.name, 'previous_status', rec.old_status, 'since', rec.since,
                           'detect_run_id', v_run),
        m.meter_id)
        FROM meter_etl.meter m, meter_etl.channel c
       WHERE m.meter_key = rec.meter_key AND c.channel_id = rec.channel_id;
      v_alert := v_alert + 1;
    END IF;
  END LOOP;

  UPDATE meter_etl.detect_run SET
    series = series + v_series, flags_changed = flags_changed + v_flags,
    estimates_written = estimates_written + v_est_w, estimates_removed = estimates_removed + v_est_d,
    estimates_replaced = estimates_replaced + v_est_r,
    estimate_mae_kw = CASE WHEN v_est_r > 0
                           THEN (coalesce(estimate_mae_kw, 0) * estimates_replaced + v_mae * v_est_r)
                                / (estimates_replaced + v_est_r)
                           ELSE estimate_mae_kw END,
    gaps_written = gaps_written + v_gap_w, gaps_removed = gaps_removed + v_gap_d,
    faults_new = faults_new + v_flt_n, faults_updated = faults_updated + v_flt_u,
    faults_removed = faults_removed + v_flt_d, status_changes = status_changes + v_stat,
    alerts = alerts + v_alert
   WHERE detect_run.run_id = v_run;
  DROP TABLE pg_temp.me_detect;
  DROP TABLE pg_temp.me_detect_gap;
  DROP TABLE pg_temp.me_detect_fault;
  DROP TABLE pg_temp.me_detect_fault_old;
END
$$;
COMMENT ON FUNCTION detect_apply(bigint, timestamptz, timestamptz, integer[]) IS
  'Internal: apply what detect_compute() found for one range to reading flags, estimate, gap, fault, meter_day and meter_status, set-based, raising alerts';

-- without a range: yesterday, midnight to midnight in the session's TimeZone
-- (the last complete day; what a nightly job detects)
CREATE FUNCTION detect(from_ts timestamptz DEFAULT pg_catalog.date_trunc('day', pg_catalog.now()) - interval '1 day',
                       to_ts timestamptz DEFAULT pg_catalog.date_trunc('day', pg_catalog.now()),
                       meters text[] DEFAULT NULL)
RETURNS detect_run
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_keys integer[];
  v_bad  text;
  v_run  meter_etl.detect_run;
BEGIN
  IF from_ts IS NULL OR to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF from_ts >= to_ts THEN
    RAISE EXCEPTION 'from_ts must be earlier than to_ts' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF meters IS NOT NULL THEN
    SELECT u.id INTO v_bad FROM unnest(meters) AS u(id)
     WHERE u.id IS NULL OR NOT EXISTS (SELECT 1 FROM meter_etl.meter m WHERE m.meter_id = u.id) LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'meter "%" does not exist', coalesce(v_bad, 'NULL')
        USING ERRCODE = 'undefined_object', HINT = 'Meter ids are the ones in meter_etl.meter.meter_id.';
    END IF;
    SELECT array_agg(m.meter_key ORDER BY m.meter_key) INTO v_keys
      FROM meter_etl.meter m WHERE m.meter_id = ANY (meters);
  END IF;
  -- one detection at a time: they write the same rows
  PERFORM pg_advisory_xact_lock(hashtextextended('meter_etl.detect', 7411));
  INSERT INTO meter_etl.detect_run (mode, from_ts, to_ts, meters, settings)
  VALUES ('range', from_ts, to_ts, cardinality(v_keys), meter_etl.detect_settings())
  RETURNING * INTO v_run;
  PERFORM meter_etl.detect_apply(v_run.run_id, from_ts, to_ts, v_keys);
  PERFORM meter_etl.rollup_refresh();   -- flags and estimates reach the rollups
  UPDATE meter_etl.detect_run r SET status = 'ok', finished_at = clock_timestamp()
   WHERE r.run_id = v_run.run_id RETURNING * INTO v_run;
  RETURN v_run;
END
$$;
COMMENT ON FUNCTION detect(timestamptz, timestamptz, text[]) IS
  'Batch detection for [from_ts, to_ts) over the fleet (or the given meters): outlier and suspect_meter flags on readings, estimates, gaps, fault episodes, meter_status and alerts (NOTIFY meter_etl_alert). Idempotent; any order of runs stores what one run over their union stores. Without a range: yesterday (midnight to midnight in the session''s TimeZone)';

CREATE FUNCTION detect_pending(max_runs integer DEFAULT NULL)
RETURNS detect_run
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_runs bigint[];
  v_run  meter_etl.detect_run;
  g      record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('meter_etl.detect', 7411));
  SELECT array_agg(i.run_id ORDER BY i.run_id) INTO v_runs
    FROM (SELECT i.run_id FROM meter_etl.ingest_run i
           WHERE i.status = 'ok'
             AND NOT EXISTS (SELECT 1 FROM meter_etl.detect_done d WHERE d.ingest_run_id = i.run_id)
           ORDER BY i.run_id LIMIT max_runs) i;
  IF v_runs IS NULL THEN
    RETURN NULL;
  END IF;
  -- runs whose extents ingest did not record: find them in the store (one scan)
  INSERT INTO meter_etl.ingest_extent (ingest_run_id, meter_key, ts_min, ts_max)
  SELECT i.run_id, r.meter_key, min(r.ts), max(r.ts)
    FROM meter_etl.ingest_run i
    JOIN meter_etl.reading r ON r.file_id = i.file_id
   WHERE i.run_id = ANY (v_runs)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.ingest_extent e WHERE e.ingest_run_id = i.run_id)
   GROUP BY i.run_id, r.meter_key;
  INSERT INTO meter_etl.detect_run (mode, ingest_runs, settings)
  VALUES ('pending', v_runs, meter_etl.detect_settings())
  RETURNING * INTO v_run;
  -- per meter: from the day before its new readings to the end of them;
  -- meters with the same days are detected together
  FOR g IN
    SELECT x.lo, max(x.hi) AS hi, array_agg(x.meter_key ORDER BY x.meter_key) AS keys
      FROM (SELECT e.meter_key,
                   date_trunc('day', min(e.ts_min), 'UTC') - interval '1 day' AS lo,
                   max(e.ts_max) + make_interval(secs => max(m.interval_s)) AS hi,
                   date_trunc('day', max(e.ts_max), 'UTC') AS hi_day
              FROM meter_etl.ingest_extent e JOIN meter_etl.meter m USING (meter_key)
             WHERE e.ingest_run_id = ANY (v_runs)
             GROUP BY e.meter_key) x
     GROUP BY x.lo, x.hi_day
     ORDER BY x.lo, x.hi_day
  LOOP
    PERFORM meter_etl.detect_apply(v_run.run_id, g.lo, g.hi, g.keys);
  END LOOP;
  SELECT min(e.ts_min), max(e.ts_max) INTO v_run.from_ts, v_run.to_ts
    FROM meter_etl.ingest_extent e WHERE e.ingest_run_id = ANY (v_runs);
  INSERT INTO meter_etl.detect_done (ingest_run_id, detect_run_id)
  SELECT unnest(v_runs), v_run.run_id;
  PERFORM meter_etl.rollup_refresh();   -- flags and estimates reach the rollups
  UPDATE meter_etl.detect_run r SET status = 'ok', finished_at = clock_timestamp(),
         from_ts = v_run.from_ts, to_ts = v_run.to_ts,
         meters = (SELECT count(DISTINCT e.meter_key) FROM meter_etl.ingest_extent e
                    WHERE e.ingest_run_id = ANY (v_runs))
   WHERE r.run_id = v_run.run_id RETURNING * INTO v_run;
  RETURN v_run;
END
$$;
COMMENT ON FUNCTION detect_pending(integer) IS
  'Incremental detection: for the ingest runs not yet processed, recompute only their meters, from the day before their readings to the end of them; NULL when nothing is pending';

-- ---------------------------------------------------------------- views

CREATE VIEW v_meter_status AS
SELECT m.meter_id, c.name AS channel, s.status, s.reason, s.since, s.as_of, s.last_reading_ts,
       s.evidence, s.changed_at
  FROM meter_status s
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id);
COMMENT ON VIEW v_meter_status IS
  'Current status of each meter channel (ok, faulty with the fault kind as reason, offline) with meter ids and channel names';

CREATE VIEW v_gap AS
SELECT m.meter_id, c.name AS channel, g.start_ts, g.end_ts, g.intervals, g.kind,
       extract(epoch FROM g.end_ts - g.start_ts) / 3600.0 AS hours
  FROM gap g
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id);
COMMENT ON VIEW v_gap IS 'Long gaps (unfilled) with meter ids, channel names and length in hours';

CREATE VIEW v_fault AS
SELECT m.meter_id, c.name AS channel, f.kind, f.start_ts, f.end_ts, f.ongoing, f.evidence
  FROM fault f
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id)
 WHERE f.kind <> 'usage_anomaly';
COMMENT ON VIEW v_fault IS 'Faulty-meter episodes with meter ids and channel names (usage anomalies are in v_usage_anomaly)';

CREATE VIEW v_usage_anomaly AS
SELECT m.meter_id, c.name AS channel, f.start_ts, f.end_ts, f.ongoing,
       (f.evidence ->> 'days')::integer AS days, (f.evidence ->> 'ratio')::double precision AS ratio,
       (f.evidence ->> 'raw_ratio')::double precision AS raw_ratio,
       (f.evidence ->> 'fleet_level')::double precision AS fleet_level, f.evidence
  FROM fault f
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id)
 WHERE f.kind = 'usage_anomaly';
COMMENT ON VIEW v_usage_anomaly IS
  'Usage anomalies: days on which a household used at least level_shift_min_factor times more or less than its own usual (the fleet''s level divided out) and went back within level_shift_persist_days. Not meter faults: no reading flagged, no status, no alert, still counted in peaks';
COMMENT ON COLUMN v_usage_anomaly.ratio IS 'Energy of the episode / the meter''s usual energy, both divided by the fleet''s level of each day';
COMMENT ON COLUMN v_usage_anomaly.raw_ratio IS 'The same ratio as read, without the fleet''s level';
COMMENT ON COLUMN v_usage_anomaly.fleet_level IS 'Mean fleet level of the episode''s days (1 = a usual day for the fleet)';

CREATE VIEW v_reading_filled AS
SELECT m.meter_id, c.name AS channel, r.ts, r.kw, r.kw * (m.interval_s / 3600.0)::float8 AS kwh, r.flags,
       false AS estimated, 'actual'::text AS method
  FROM reading r
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id)
UNION ALL
SELECT m.meter_id, c.name, e.ts, e.kw, e.kw * m.interval_s / 3600.0, 1::smallint, true, e.method
  FROM estimate e
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id)
 WHERE NOT EXISTS (SELECT 1 FROM reading r
                    WHERE r.meter_key = e.meter_key AND r.channel_id = e.channel_id AND r.ts = e.ts);
COMMENT ON VIEW v_reading_filled IS
  'Readings plus the estimates for the slots of short gaps (flags = 1 estimated, method linear); an actual reading always wins over an estimate';

CREATE VIEW v_meter_day AS
SELECT m.meter_id, c.name AS channel, y.day, y.start_ts, y.end_ts, y.readings,
       y.kw_sum / nullif(y.readings, 0) * 24 AS kwh_per_24h,
       y.readings / (extract(epoch FROM y.end_ts - y.start_ts) / m.interval_s) AS coverage
  FROM meter_day y
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id);
COMMENT ON VIEW v_meter_day IS
  'Daily consumption per meter channel and local day, as level_shift detection sees it (mean kW x 24, outliers and stuck readings left out) and the share of the day''s slots read';

-- ---------------------------------------------------------------- peaks

CREATE FUNCTION peak_periods(from_ts timestamptz, to_ts timestamptz, bucket interval DEFAULT '30 minutes',
                             top_n integer DEFAULT 10, per_day boolean DEFAULT false,
                             meters text[] DEFAULT NULL, channel text DEFAULT 'import',
                             exclude_flagged boolean DEFAULT true, time_zone text DEFAULT 'UTC')
RETURNS TABLE (period_start timestamptz, period_end timestamptz, demand_kw double precision,
               meters_counted integer, day date, rank integer)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
BEGIN
  -- a mistake is an error, never an empty answer
  IF peak_periods.from_ts IS NULL OR peak_periods.to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF peak_periods.from_ts > peak_periods.to_ts THEN
    RAISE EXCEPTION 'from_ts must not be later than to_ts' USING ERRCODE = 'invalid_parameter_value';
  ELSIF peak_periods.bucket IS NULL OR peak_periods.bucket <= interval '0' THEN
    RAISE EXCEPTION 'bucket must be a positive interval' USING ERRCODE = 'invalid_parameter_value';
  ELSIF peak_periods.top_n IS NULL OR peak_periods.top_n < 1 THEN
    RAISE EXCEPTION 'top_n must be at least 1' USING ERRCODE = 'invalid_parameter_value';
  ELSIF peak_periods.per_day IS NULL OR peak_periods.exclude_flagged IS NULL THEN
    RAISE EXCEPTION 'per_day and exclude_flagged must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF peak_periods.meters IS NOT NULL AND pg_catalog.cardinality(peak_periods.meters) = 0 THEN
    RAISE EXCEPTION 'meters must not be an empty array'
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass NULL for every meter.';
  ELSIF NOT EXISTS (SELECT 1 FROM meter_etl.channel c WHERE c.name = peak_periods.channel) THEN
    RAISE EXCEPTION 'unrecognized channel "%"', peak_periods.channel
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'meter_etl.channel lists the channels, e.g. import, export, net.';
  ELSIF peak_periods.time_zone IS NULL
        OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names z WHERE z.name = peak_periods.time_zone)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_abbrevs z WHERE z.abbrev = peak_periods.time_zone) THEN
    RAISE EXCEPTION 'time zone "%" is not recognized', peak_periods.time_zone
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- hour and day buckets of the whole fleet come from the rollups when they
  -- give the same answer (35_rollup.sql: rollup_answers says when)
  IF peak_periods.meters IS NULL
     AND meter_etl.rollup_answers(peak_periods.from_ts, peak_periods.to_ts, peak_periods.bucket,
                                  peak_periods.channel, peak_periods.exclude_flagged, peak_periods.time_zone) THEN
    RETURN QUERY SELECT * FROM meter_etl.rollup_peaks(peak_periods.from_ts, peak_periods.to_ts, peak_periods.bucket,
                                                      peak_periods.top_n, peak_periods.per_day, peak_periods.channel,
                                                      peak_periods.exclude_flagged, peak_periods.time_zone);
    RETURN;
  END IF;
  RETURN QUERY
  WITH ch AS (
    SELECT c.channel_id FROM meter_etl.channel c WHERE c.name = peak_periods.channel
  ), scope AS (
    SELECT m.meter_key FROM meter_etl.meter m
     WHERE peak_periods.meters IS NULL OR m.meter_id = ANY (peak_periods.meters)
  ), excluded AS (            -- meter-days with a fault episode or a long gap
    SELECT DISTINCT x.meter_key, d::date AS day
      FROM (SELECT f.meter_key, f.start_ts, f.end_ts FROM meter_etl.fault f, ch
             WHERE f.channel_id = ch.channel_id AND f.end_ts > peak_periods.from_ts AND f.start_ts < peak_periods.to_ts
               AND f.kind <> 'usage_anomaly'   -- the household's doing: it still makes the peak
            UNION ALL
            SELECT g.meter_key, g.start_ts, g.end_ts FROM meter_etl.gap g, ch
             WHERE g.channel_id = ch.channel_id AND g.end_ts > peak_periods.from_ts AND g.start_ts < peak_periods.to_ts) x
      CROSS JOIN LATERAL generate_series((greatest(x.start_ts, peak_periods.from_ts) AT TIME ZONE peak_periods.time_zone)::date,
                                         ((least(x.end_ts, peak_periods.to_ts) - interval '1 microsecond')
                                          AT TIME ZONE peak_periods.time_zone)::date,
                                         interval '1 day') AS d
     WHERE peak_periods.exclude_flagged
  ), r AS (
    SELECT rd.meter_key, rd.ts, rd.kw, rd.flags
      FROM meter_etl.reading rd, ch
     WHERE rd.channel_id = ch.channel_id AND rd.ts >= peak_periods.from_ts AND rd.ts < peak_periods.to_ts
       AND rd.meter_key IN (SELECT meter_key FROM scope)
    UNION ALL
    SELECT e.meter_key, e.ts, e.kw, 1::smallint
      FROM meter_etl.estimate e, ch
     WHERE e.channel_id = ch.channel_id AND e.ts >= peak_periods.from_ts AND e.ts < peak_periods.to_ts
       AND e.meter_key IN (SELECT meter_key FROM scope)
       AND NOT EXISTS (SELECT 1 FROM meter_etl.reading a
                        WHERE a.meter_key = e.meter_key AND a.channel_id = e.channel_id AND a.ts = e.ts)
  ), per_meter AS (
    SELECT date_bin(peak_periods.bucket, r.ts, timestamptz '2000-01-01 00:00:00+00') AS b,
           r.meter_key, avg(r.kw) AS kw
      FROM r
     WHERE NOT peak_periods.exclude_flagged
        OR (r.flags & 6 = 0
            AND NOT EXISTS (SELECT 1 FROM excluded x
                             WHERE x.meter_key = r.meter_key
                               AND x.day = (r.ts AT TIME ZONE peak_periods.time_zone)::date))
     GROUP BY 1, 2
  ), fleet AS (
    SELECT pm.b, sum(pm.kw) AS demand, count(*)::integer AS n,
           (pm.b AT TIME ZONE peak_periods.time_zone)::date AS day
      FROM per_meter pm GROUP BY pm.b
  ), ranked AS (
    SELECT f.*, row_number() OVER (PARTITION BY CASE WHEN peak_periods.per_day THEN f.day END
                                   ORDER BY f.demand DESC, f.b)::integer AS rk
      FROM fleet f
  )
  SELECT k.b, k.b + peak_periods.bucket, k.demand, k.n, k.day, k.rk
    FROM ranked k
   WHERE k.rk <= peak_periods.top_n
   ORDER BY CASE WHEN peak_periods.per_day THEN k.day END, k.rk;
END
$$;
COMMENT ON FUNCTION peak_periods(timestamptz, timestamptz, interval, integer, boolean, text[], text, boolean, text) IS
  'Fleet demand per bucket (sum over meters of their mean kW, estimates included): the top_n buckets, or the top_n of each day (time_zone) when per_day. By default a meter is left out on a day with a fault episode or a long gap, and readings flagged outlier or suspect_meter are left out';

SELECT pg_catalog.pg_extension_config_dump('detect_run', '');
SELECT pg_catalog.pg_extension_config_dump('estimate', '');
SELECT pg_catalog.pg_extension_config_dump('gap', '');
SELECT pg_catalog.pg_extension_config_dump('fault', '');
SELECT pg_catalog.pg_extension_config_dump('meter_status', '');
SELECT pg_catalog.pg_extension_config_dump('meter_day', '');
SELECT pg_catalog.pg_extension_config_dump('fleet_day', '');
SELECT pg_catalog.pg_extension_config_dump('fleet_reference', '');
SELECT pg_catalog.pg_extension_config_dump('ingest_extent', '');
SELECT pg_catalog.pg_extension_config_dump('detect_done', '');

-- detection writes: not for PUBLIC (the read-only SRFs and peak_periods are)
REVOKE ALL ON FUNCTION detect(timestamptz, timestamptz, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION detect_pending(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION detect_apply(bigint, timestamptz, timestamptz, integer[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION detect_compute(timestamptz, timestamptz, integer[]) FROM PUBLIC;
