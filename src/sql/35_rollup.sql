
-- ======================================================================
-- Rollups: what BI tools read instead of a billion readings
-- (doc/rollup.md says why they look like this)
-- ======================================================================
-- One row per meter, channel and local day of the meter's zone, with the
-- day's hours as arrays (slot h = hour h after local midnight: a UTC hour
-- in every whole-hour zone; 23 or 25 slots on DST days).  A row per hour
-- would be a quarter of the readings again, and writing it would cost the
-- ingest a third more; a row per meter-day costs it about 1/100th of the
-- readings' rows.
--
-- How they stay current:
--   ingest (C)   adds what it stored as a delta row per meter-day it
--                touched (sums add up; rollup_refresh merges the rows)
--   every other change of reading or estimate (detection's flags and
--                estimates, reingest, COPY, UPDATE, DELETE) goes through
--                statement triggers into rollup_change, and rollup_refresh
--                recomputes those meter-days from the readings
--   the fleet tables (per zone, channel and hour / day) are recomputed by
--                rollup_refresh for the days marked in rollup_fleet_dirty
-- detect() and detect_pending() end with rollup_refresh(), so the pipeline
-- keeps everything current; after a bare ingest() call it yourself (or let
-- pg_cron).

CREATE TABLE rollup_meter_day (
    meter_key        integer NOT NULL,
    channel_id       smallint NOT NULL,
    day              date NOT NULL,
    start_ts         timestamptz NOT NULL,
    kw_sum           double precision NOT NULL,
    kw_sum_flagged   double precision NOT NULL,
    kw_max           double precision,
    readings         integer NOT NULL,
    estimated        integer NOT NULL,
    flagged          integer NOT NULL,
    hour_kw_sum      double precision[] NOT NULL,
    hour_kw_sum_flagged double precision[],
    hour_kw_max      double precision[] NOT NULL,
    hour_readings    integer[] NOT NULL,
    hour_estimated   integer[],
    hour_flagged     integer[],
    CHECK (pg_catalog.cardinality(hour_kw_sum) BETWEEN 1 AND 26)
);
CREATE INDEX rollup_meter_day_key_idx ON rollup_meter_day (meter_key, channel_id, day);
CREATE INDEX rollup_meter_day_day_idx ON rollup_meter_day (day);
-- hour_kw_sum_flagged, hour_estimated and hour_flagged are NULL when zero
-- in every slot (most meter-days: a third less to write per ingest);
-- readers unnest them as zeros, as many as hour_kw_sum.
COMMENT ON TABLE rollup_meter_day IS
  'Rollup per meter, channel and local day of the meter''s zone, with its hours as arrays (slot h = hour h after local midnight). Sums over readings and estimates; more than one row for a meter-day until rollup_refresh() merges them (the views sum them). Read through v_consumption_hour, v_consumption_day, v_consumption_month';
COMMENT ON COLUMN rollup_meter_day.day IS 'Local date in the meter''s zone (meter.time_zone, UTC when NULL)';
COMMENT ON COLUMN rollup_meter_day.start_ts IS 'The instant the local day starts (local midnight)';
COMMENT ON COLUMN rollup_meter_day.kw_sum IS 'Sum of the kW of the day''s readings and estimates (energy = kw_sum * interval / 1 h)';
COMMENT ON COLUMN rollup_meter_day.kw_sum_flagged IS 'The part of kw_sum from readings flagged outlier or suspect_meter';
COMMENT ON COLUMN rollup_meter_day.kw_max IS 'Highest kW of a reading or estimate';
COMMENT ON COLUMN rollup_meter_day.readings IS 'Readings (actuals) in the day';
COMMENT ON COLUMN rollup_meter_day.estimated IS 'Estimates (meter_etl.estimate) filling slots without a reading';
COMMENT ON COLUMN rollup_meter_day.flagged IS 'Readings flagged outlier or suspect_meter (flags & 6)';
COMMENT ON COLUMN rollup_meter_day.hour_kw_sum IS 'kw_sum per hour slot';
COMMENT ON COLUMN rollup_meter_day.hour_kw_sum_flagged IS 'kw_sum_flagged per hour slot (NULL: 0 in every slot)';
COMMENT ON COLUMN rollup_meter_day.hour_kw_max IS 'kw_max per hour slot (NULL: nothing in the hour)';
COMMENT ON COLUMN rollup_meter_day.hour_readings IS 'readings per hour slot';
COMMENT ON COLUMN rollup_meter_day.hour_estimated IS 'estimated per hour slot (NULL: 0 in every slot)';
COMMENT ON COLUMN rollup_meter_day.hour_flagged IS 'flagged per hour slot (NULL: 0 in every slot)';

CREATE TABLE rollup_change (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    day        date NOT NULL,
    PRIMARY KEY (meter_key, channel_id, day)
);
COMMENT ON TABLE rollup_change IS
  'Meter-days whose rollup rollup_refresh() must recompute from the readings (written by the statement triggers on reading and estimate)';

CREATE TABLE rollup_fleet_dirty (
    time_zone text NOT NULL,
    day       date NOT NULL,
    PRIMARY KEY (time_zone, day)
);
COMMENT ON TABLE rollup_fleet_dirty IS
  'Local days of a zone whose fleet rollups rollup_refresh() must recompute';

CREATE TABLE rollup_fleet_hour (
    time_zone        text NOT NULL,
    channel_id       smallint NOT NULL,
    hour_ts          timestamptz NOT NULL,
    day              date NOT NULL,
    kwh              double precision NOT NULL,
    kwh_flagged      double precision NOT NULL,
    demand_kw        double precision NOT NULL,
    demand_kw_clean  double precision NOT NULL,
    meters           integer NOT NULL,
    meters_clean     integer NOT NULL,
    meters_day       integer NOT NULL,
    meters_estimated integer NOT NULL,
    meters_flagged   integer NOT NULL,
    meters_excluded  integer NOT NULL,
    readings         bigint NOT NULL,
    estimated        bigint NOT NULL,
    flagged          bigint NOT NULL,
    PRIMARY KEY (time_zone, channel_id, hour_ts)
);
CREATE INDEX rollup_fleet_hour_ts_idx ON rollup_fleet_hour (channel_id, hour_ts);
COMMENT ON TABLE rollup_fleet_hour IS
  'Fleet rollup per meters'' zone, channel and hour (recomputed by rollup_refresh() from rollup_meter_day); read through v_fleet_load_hour';

CREATE TABLE rollup_fleet_day (
    time_zone        text NOT NULL,
    channel_id       smallint NOT NULL,
    day              date NOT NULL,
    start_ts         timestamptz NOT NULL,
    kwh              double precision NOT NULL,
    kwh_flagged      double precision NOT NULL,
    demand_kw        double precision NOT NULL,
    demand_kw_clean  double precision NOT NULL,
    peak_kw          double precision,
    peak_hour_ts     timestamptz,
    meters           integer NOT NULL,
    meters_clean     integer NOT NULL,
    readings         bigint NOT NULL,
    estimated        bigint NOT NULL,
    flagged          bigint NOT NULL,
    PRIMARY KEY (time_zone, channel_id, day)
);
CREATE INDEX rollup_fleet_day_ts_idx ON rollup_fleet_day (channel_id, start_ts);
COMMENT ON TABLE rollup_fleet_day IS
  'Fleet rollup per meters'' zone, channel and local day (recomputed by rollup_refresh()); read through v_fleet_energy_day';

CREATE TABLE rollup_incomplete (
    since timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rollup_incomplete IS
  'A row while the rollups do not cover the whole store (after ALTER EXTENSION UPDATE from 0.1 with readings stored): rollup_rebuild() over the store''s dates removes it, and until then peak_periods reads the readings';

-- ---------------------------------------------------------------- changes

-- The statement triggers: every change of reading or estimate outside the
-- C ingest (which writes its own delta rows) marks the meter-days it
-- touched.  Transition tables, so a COPY of a million rows costs one
-- grouped INSERT, not a million.
-- What detection writes is added as delta rows, not recomputed: an UPDATE
-- of reading that changes only flags (the same rows, the same kW: the
-- flagged sums move by the changed readings' kW), and new estimates in
-- slots without a reading (the sums grow by them).  make bench: detect()
-- of a 50,000-meter day with 28 days of history 56.7 s recomputing those
-- meter-days, 52.4 s with the deltas (18.1 s before the rollups: the
-- fleet refresh that remains is the open cost).  Every other change (kW,
-- keys, deletions, estimates replaced) marks its meter-days in
-- rollup_change, to be recomputed by rollup_refresh().
CREATE FUNCTION rollup_note_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  -- (nested: a statement naming old_rows only runs where the trigger has it)
  IF TG_TABLE_NAME = 'reading' AND TG_OP = 'UPDATE' THEN
    -- the same readings with the same kW (set operations and grouping, not
    -- joins: transition tables have no statistics, and a nested loop over
    -- 150,000 rows each never ends)
    IF (SELECT count(*) FROM new_rows) = (SELECT count(*) FROM old_rows)
       AND NOT EXISTS (SELECT n.meter_key, n.channel_id, n.ts, n.kw FROM new_rows n
                       EXCEPT ALL
                       SELECT o.meter_key, o.channel_id, o.ts, o.kw FROM old_rows o) THEN
      PERFORM meter_etl.rollup_add_delta(
        ARRAY(SELECT ROW(x.meter_key, x.channel_id, x.ts, max(x.kw), sum(x.fl)::integer, 0)::meter_etl.rollup_delta
                FROM (SELECT n.meter_key, n.channel_id, n.ts, n.kw, ((n.flags & 6) <> 0)::integer AS fl FROM new_rows n
                      UNION ALL
                      SELECT o.meter_key, o.channel_id, o.ts, o.kw, -((o.flags & 6) <> 0)::integer FROM old_rows o) x
               GROUP BY x.meter_key, x.channel_id, x.ts
              HAVING sum(x.fl) <> 0));
      RETURN NULL;
    END IF;
  END IF;
  IF TG_TABLE_NAME = 'estimate' AND TG_OP = 'INSERT' THEN
    -- an estimate where a reading is counts for nothing (the reading does)
    PERFORM meter_etl.rollup_add_delta(
      ARRAY(SELECT ROW(n.meter_key, n.channel_id, n.ts, n.kw, 0, 1)::meter_etl.rollup_delta
              FROM new_rows n
             WHERE NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                                WHERE r.meter_key = n.meter_key AND r.channel_id = n.channel_id AND r.ts = n.ts)));
    RETURN NULL;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO meter_etl.rollup_change (meter_key, channel_id, day)
    SELECT DISTINCT n.meter_key, n.channel_id, (n.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date
      FROM new_rows n JOIN meter_etl.meter m ON m.meter_key = n.meter_key
    ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO meter_etl.rollup_change (meter_key, channel_id, day)
    SELECT DISTINCT o.meter_key, o.channel_id, (o.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date
      FROM old_rows o JOIN meter_etl.meter m ON m.meter_key = o.meter_key
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollup_note_change() IS
  'AFTER statement trigger on reading and estimate: adds flag changes and new estimates as delta rows (rollup_add_delta), marks the meter-days of any other change in rollup_change';

-- One changed reading or estimate for rollup_add_delta: the flagged count
-- moves by flag_delta (its kW with it), the estimates by est_delta (its kW
-- into the sums).
CREATE TYPE rollup_delta AS (meter_key integer, channel_id smallint, ts timestamptz, kw double precision,
                             flag_delta integer, est_delta integer);
COMMENT ON TYPE rollup_delta IS 'Internal: a change rollup_add_delta() adds to the rollups';

-- Delta rows, one per meter-day the changes touch, with their hour slots;
-- their fleet days are marked for rollup_refresh().
CREATE FUNCTION rollup_add_delta(changes rollup_delta[])
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
-- planned for the array it is given (a generic plan guesses 10 changes
-- and joins 150,000 by nested loops)
SET plan_cache_mode = force_custom_plan
SET work_mem = '128MB'
AS $$
DECLARE
  v_n integer;
BEGIN
  IF changes IS NULL THEN
    RAISE EXCEPTION 'changes must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF pg_catalog.cardinality(changes) = 0 THEN
    RETURN 0;
  END IF;
  WITH c AS (
    SELECT u.meter_key, u.channel_id, u.ts, u.kw, u.flag_delta, u.est_delta, z.tz,
           (u.ts AT TIME ZONE z.tz)::date AS day
      FROM unnest(changes) u JOIN meter_etl.meter m ON m.meter_key = u.meter_key
     CROSS JOIN LATERAL (SELECT coalesce(m.time_zone, 'UTC') AS tz) z
  ), sp AS (
    SELECT DISTINCT c.meter_key, c.channel_id, c.day, c.tz,
           c.day::timestamp AT TIME ZONE c.tz AS start_ts,
           pg_catalog.ceil(extract(epoch FROM ((c.day + 1)::timestamp AT TIME ZONE c.tz)
                                             - (c.day::timestamp AT TIME ZONE c.tz)) / 3600)::integer AS nslots
      FROM c
  ), h AS (
    SELECT c.meter_key, c.channel_id, c.day,
           pg_catalog.floor(extract(epoch FROM c.ts - sp.start_ts) / 3600)::integer AS slot,
           sum(c.kw * c.est_delta) AS s, sum(c.kw * c.flag_delta) AS sf,
           max(c.kw) FILTER (WHERE c.est_delta > 0) AS mx,
           sum(c.est_delta)::integer AS e, sum(c.flag_delta)::integer AS f
      FROM c JOIN sp ON sp.meter_key = c.meter_key AND sp.channel_id = c.channel_id AND sp.day = c.day
     GROUP BY 1, 2, 3, 4
  ), dirty AS (
    INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
    SELECT DISTINCT sp.tz, sp.day FROM sp
    ON CONFLICT DO NOTHING
  )
  INSERT INTO meter_etl.rollup_meter_day
    (meter_key, channel_id, day, start_ts, kw_sum, kw_sum_flagged, kw_max, readings, estimated, flagged,
     hour_kw_sum, hour_kw_sum_flagged, hour_kw_max, hour_readings, hour_estimated, hour_flagged)
  SELECT sp.meter_key, sp.channel_id, sp.day, sp.start_ts,
         coalesce(sum(h.s), 0), coalesce(sum(h.sf), 0), max(h.mx), 0,
         coalesce(sum(h.e), 0), coalesce(sum(h.f), 0),
         array_agg(coalesce(h.s, 0) ORDER BY g.slot), array_agg(coalesce(h.sf, 0) ORDER BY g.slot),
         array_agg(h.mx ORDER BY g.slot), pg_catalog.array_fill(0, ARRAY[sp.nslots]),
         array_agg(coalesce(h.e, 0) ORDER BY g.slot), array_agg(coalesce(h.f, 0) ORDER BY g.slot)
    FROM sp
   CROSS JOIN LATERAL pg_catalog.generate_series(0, sp.nslots - 1) AS g(slot)
    LEFT JOIN h ON h.meter_key = sp.meter_key AND h.channel_id = sp.channel_id AND h.day = sp.day AND h.slot = g.slot
   GROUP BY sp.meter_key, sp.channel_id, sp.day, sp.start_ts, sp.nslots;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION rollup_add_delta(rollup_delta[]) IS
  'Internal (the rollup triggers): add delta rows for flag changes and new estimates, and mark their fleet days';


CREATE TRIGGER rollup_reading_insert AFTER INSERT ON reading
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();
CREATE TRIGGER rollup_reading_update AFTER UPDATE ON reading
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();
CREATE TRIGGER rollup_reading_delete AFTER DELETE ON reading
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();
CREATE TRIGGER rollup_estimate_insert AFTER INSERT ON estimate
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();
CREATE TRIGGER rollup_estimate_update AFTER UPDATE ON estimate
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();
CREATE TRIGGER rollup_estimate_delete AFTER DELETE ON estimate
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_change();

-- A fault episode or a gap leaves a meter out of the fleet's clean demand
-- on the local days it overlaps (as peak_periods does): those days' fleet
-- rows change with it.
CREATE FUNCTION rollup_note_episode()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
    SELECT DISTINCT z.tz, d::date
      FROM new_rows n JOIN meter_etl.meter m ON m.meter_key = n.meter_key
     CROSS JOIN LATERAL (SELECT coalesce(m.time_zone, 'UTC') AS tz) z
     CROSS JOIN LATERAL pg_catalog.generate_series((n.start_ts AT TIME ZONE z.tz)::date,
                                                   ((n.end_ts - interval '1 microsecond') AT TIME ZONE z.tz)::date,
                                                   interval '1 day') AS d
     WHERE n.end_ts > n.start_ts
    ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
    SELECT DISTINCT z.tz, d::date
      FROM old_rows o JOIN meter_etl.meter m ON m.meter_key = o.meter_key
     CROSS JOIN LATERAL (SELECT coalesce(m.time_zone, 'UTC') AS tz) z
     CROSS JOIN LATERAL pg_catalog.generate_series((o.start_ts AT TIME ZONE z.tz)::date,
                                                   ((o.end_ts - interval '1 microsecond') AT TIME ZONE z.tz)::date,
                                                   interval '1 day') AS d
     WHERE o.end_ts > o.start_ts
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollup_note_episode() IS
  'AFTER statement trigger on fault and gap: marks the local days an episode overlaps in rollup_fleet_dirty';

CREATE TRIGGER rollup_fault_insert AFTER INSERT ON fault
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();
CREATE TRIGGER rollup_fault_update AFTER UPDATE ON fault
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();
CREATE TRIGGER rollup_fault_delete AFTER DELETE ON fault
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();
CREATE TRIGGER rollup_gap_insert AFTER INSERT ON gap
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();
CREATE TRIGGER rollup_gap_update AFTER UPDATE ON gap
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();
CREATE TRIGGER rollup_gap_delete AFTER DELETE ON gap
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_note_episode();

-- ---------------------------------------------------------------- ingest

-- Called by the C ingest once per batch of meter-days, with the hour slots
-- of all of them flattened (offs[i] + 1 .. offs[i] + nslots[i]) and each
-- day's totals beside (kw_max NaN for an empty hour: see rollup.c).  A delta computed in a zone that is not the meter's
-- own (a meter delivered under two profiles) goes to rollup_change instead,
-- to be recomputed; so does a meter-day with estimates (a reading for an
-- estimated slot replaces the estimate).
CREATE FUNCTION rollup_add(time_zone text, meter_keys integer[], channel_ids smallint[], days date[],
                           start_ts timestamptz[], nslots integer[], offs integer[],
                           kw_sum double precision[], kw_sum_flagged double precision[],
                           kw_max double precision[], readings integer[], flagged integer[],
                           day_kw_sum double precision[], day_kw_sum_flagged double precision[],
                           day_kw_max double precision[], day_readings integer[], day_flagged integer[])
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
-- a custom plan per call: it holds the arrays as flat constants.  The
-- generic plan PL/pgSQL switches to after five calls reads them as
-- parameters, and every slice of an (expanded) array parameter flattens
-- the whole array first: 16,384 meter-days took 15 s instead of 0.3 s.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
  v_n integer;
BEGIN
  IF rollup_add.time_zone IS NULL OR meter_keys IS NULL OR channel_ids IS NULL OR days IS NULL
     OR rollup_add.start_ts IS NULL OR nslots IS NULL OR offs IS NULL OR rollup_add.kw_sum IS NULL
     OR rollup_add.kw_sum_flagged IS NULL OR rollup_add.kw_max IS NULL OR rollup_add.readings IS NULL
     OR rollup_add.flagged IS NULL OR day_kw_sum IS NULL OR day_kw_sum_flagged IS NULL
     OR day_kw_max IS NULL OR day_readings IS NULL OR day_flagged IS NULL THEN
    RAISE EXCEPTION 'rollup_add arguments must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  INSERT INTO meter_etl.rollup_meter_day
    (meter_key, channel_id, day, start_ts, kw_sum, kw_sum_flagged, kw_max, readings, estimated, flagged,
     hour_kw_sum, hour_kw_sum_flagged, hour_kw_max, hour_readings, hour_estimated, hour_flagged)
  SELECT u.k, u.c, u.d, u.s, u.ts, u.tsf, u.tmx, u.tn, 0, u.tf,
         rollup_add.kw_sum[u.o + 1 : u.o + u.ns],
         CASE WHEN u.tf > 0 THEN rollup_add.kw_sum_flagged[u.o + 1 : u.o + u.ns] END,
         pg_catalog.array_replace(rollup_add.kw_max[u.o + 1 : u.o + u.ns], 'NaN'::double precision, NULL),
         rollup_add.readings[u.o + 1 : u.o + u.ns],
         NULL, CASE WHEN u.tf > 0 THEN rollup_add.flagged[u.o + 1 : u.o + u.ns] END
    FROM unnest(meter_keys, channel_ids, days, rollup_add.start_ts, nslots, offs,
                day_kw_sum, day_kw_sum_flagged, day_kw_max, day_readings, day_flagged)
         AS u(k, c, d, s, ns, o, ts, tsf, tmx, tn, tf)
    JOIN meter_etl.meter m ON m.meter_key = u.k
   WHERE coalesce(m.time_zone, 'UTC') = rollup_add.time_zone;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  IF v_n < pg_catalog.cardinality(meter_keys) OR EXISTS (SELECT 1 FROM meter_etl.estimate LIMIT 1) THEN
    INSERT INTO meter_etl.rollup_change (meter_key, channel_id, day)
    SELECT DISTINCT u.k, u.c, u.d
      FROM unnest(meter_keys, channel_ids, days, rollup_add.start_ts, nslots) AS u(k, c, d, s, ns)
      JOIN meter_etl.meter m ON m.meter_key = u.k
     WHERE coalesce(m.time_zone, 'UTC') <> rollup_add.time_zone
        OR EXISTS (SELECT 1 FROM meter_etl.estimate e
                    WHERE e.meter_key = u.k AND e.channel_id = u.c
                      AND e.ts >= u.s AND e.ts < u.s + u.ns * interval '1 hour')
    ON CONFLICT DO NOTHING;
  END IF;
  INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
  SELECT DISTINCT rollup_add.time_zone, u.d FROM unnest(days) AS u(d)
  ON CONFLICT DO NOTHING;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION rollup_add(text, integer[], smallint[], date[], timestamptz[], integer[], integer[], double precision[], double precision[], double precision[], integer[], integer[], double precision[], double precision[], double precision[], integer[], integer[]) IS
  'Internal (the C ingest): add delta rows for the meter-days an ingest stored readings in';

-- ---------------------------------------------------------------- refresh

-- Recompute the meter-days in pg_temp.me_rollup_keys (meter_key,
-- channel_id, day) from reading and estimate, replacing their rows.
CREATE FUNCTION rollup_recompute_keys()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
-- a day of 50,000 meters aggregates 2.4 M hour slots: in memory, not in batches on disk
SET work_mem = '128MB'
AS $$
DECLARE
  v_n integer;
BEGIN
  CREATE TEMP TABLE me_rollup_span ON COMMIT DROP AS
  SELECT k.meter_key, k.channel_id, k.day, s.start_ts, s.end_ts,
         pg_catalog.ceil(extract(epoch FROM s.end_ts - s.start_ts) / 3600)::integer AS nslots
    FROM pg_temp.me_rollup_keys k
    JOIN meter_etl.meter m ON m.meter_key = k.meter_key
   CROSS JOIN LATERAL (SELECT k.day::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC') AS start_ts,
                              (k.day + 1)::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC') AS end_ts) s;
  ANALYZE pg_temp.me_rollup_span;
  DELETE FROM meter_etl.rollup_meter_day r USING pg_temp.me_rollup_span s
   WHERE r.meter_key = s.meter_key AND r.channel_id = s.channel_id AND r.day = s.day;
  INSERT INTO meter_etl.rollup_meter_day
    (meter_key, channel_id, day, start_ts, kw_sum, kw_sum_flagged, kw_max, readings, estimated, flagged,
     hour_kw_sum, hour_kw_sum_flagged, hour_kw_max, hour_readings, hour_estimated, hour_flagged)
  WITH v AS (
    SELECT s.meter_key, s.channel_id, s.day, r.kw, false AS est, r.flags & 6 <> 0 AS fl, r.ts, s.start_ts
      FROM pg_temp.me_rollup_span s
      JOIN meter_etl.reading r ON r.meter_key = s.meter_key AND r.channel_id = s.channel_id
                              AND r.ts >= s.start_ts AND r.ts < s.end_ts
    UNION ALL
    SELECT s.meter_key, s.channel_id, s.day, e.kw, true, false, e.ts, s.start_ts
      FROM pg_temp.me_rollup_span s
      JOIN meter_etl.estimate e ON e.meter_key = s.meter_key AND e.channel_id = s.channel_id
                               AND e.ts >= s.start_ts AND e.ts < s.end_ts
     WHERE NOT EXISTS (SELECT 1 FROM meter_etl.reading a
                        WHERE a.meter_key = e.meter_key AND a.channel_id = e.channel_id AND a.ts = e.ts)
  ), h AS (
    SELECT v.meter_key, v.channel_id, v.day,
           pg_catalog.floor(extract(epoch FROM v.ts - v.start_ts) / 3600)::integer AS slot,
           sum(v.kw) AS s, coalesce(sum(v.kw) FILTER (WHERE v.fl), 0) AS sf, max(v.kw) AS mx,
           count(*) FILTER (WHERE NOT v.est)::integer AS n, count(*) FILTER (WHERE v.est)::integer AS e,
           count(*) FILTER (WHERE v.fl)::integer AS f
      FROM v GROUP BY 1, 2, 3, 4
  )
  SELECT s.meter_key, s.channel_id, s.day, s.start_ts,
         coalesce(sum(h.s), 0), coalesce(sum(h.sf), 0), max(h.mx),
         coalesce(sum(h.n), 0), coalesce(sum(h.e), 0), coalesce(sum(h.f), 0),
         array_agg(coalesce(h.s, 0) ORDER BY g.slot), array_agg(coalesce(h.sf, 0) ORDER BY g.slot),
         array_agg(h.mx ORDER BY g.slot), array_agg(coalesce(h.n, 0) ORDER BY g.slot),
         array_agg(coalesce(h.e, 0) ORDER BY g.slot), array_agg(coalesce(h.f, 0) ORDER BY g.slot)
    FROM pg_temp.me_rollup_span s
   CROSS JOIN LATERAL pg_catalog.generate_series(0, s.nslots - 1) AS g(slot)
    LEFT JOIN h ON h.meter_key = s.meter_key AND h.channel_id = s.channel_id AND h.day = s.day AND h.slot = g.slot
   GROUP BY s.meter_key, s.channel_id, s.day, s.start_ts
  HAVING count(h.slot) > 0;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
  SELECT DISTINCT coalesce(m.time_zone, 'UTC'), s.day
    FROM pg_temp.me_rollup_span s JOIN meter_etl.meter m ON m.meter_key = s.meter_key
  ON CONFLICT DO NOTHING;
  DROP TABLE pg_temp.me_rollup_span;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION rollup_recompute_keys() IS
  'Internal: recompute the rollup of the meter-days in pg_temp.me_rollup_keys from reading and estimate';

-- Merge the delta rows of the meter-days of one zone's day into one row
-- each (sums add up, maxima take the larger), so that the fleet sees one
-- row per meter.
CREATE FUNCTION rollup_merge_day(time_zone text, day date)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_n integer;
BEGIN
  IF rollup_merge_day.time_zone IS NULL OR rollup_merge_day.day IS NULL THEN
    RAISE EXCEPTION 'time_zone and day must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  CREATE TEMP TABLE me_rollup_merged ON COMMIT DROP AS
  WITH dup AS (
    SELECT r.meter_key, r.channel_id
      FROM meter_etl.rollup_meter_day r JOIN meter_etl.meter m ON m.meter_key = r.meter_key
     WHERE r.day = rollup_merge_day.day AND coalesce(m.time_zone, 'UTC') = rollup_merge_day.time_zone
     GROUP BY 1, 2 HAVING count(*) > 1
  ), del AS (
    DELETE FROM meter_etl.rollup_meter_day r USING dup
     WHERE r.meter_key = dup.meter_key AND r.channel_id = dup.channel_id AND r.day = rollup_merge_day.day
    RETURNING r.*
  ), slots AS (
    SELECT d.meter_key, d.channel_id, d.start_ts, u.i,
           sum(u.s) AS s, sum(u.sf) AS sf, max(u.mx) AS mx, sum(u.n)::integer AS n,
           sum(u.e)::integer AS e, sum(u.f)::integer AS f
      FROM del d
     CROSS JOIN LATERAL unnest(d.hour_kw_sum, coalesce(d.hour_kw_sum_flagged, pg_catalog.array_fill(0::double precision, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])),
                               d.hour_kw_max, d.hour_readings,
                               coalesce(d.hour_estimated, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])),
                               coalesce(d.hour_flagged, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])))
                WITH ORDINALITY AS u(s, sf, mx, n, e, f, i)
     GROUP BY 1, 2, 3, 4
  )
  SELECT s.meter_key, s.channel_id, s.start_ts,
         sum(s.s) AS kw_sum, sum(s.sf) AS kw_sum_flagged, max(s.mx) AS kw_max,
         sum(s.n)::integer AS readings, sum(s.e)::integer AS estimated, sum(s.f)::integer AS flagged,
         array_agg(s.s ORDER BY s.i) AS a_s, array_agg(s.sf ORDER BY s.i) AS a_sf,
         array_agg(s.mx ORDER BY s.i) AS a_mx, array_agg(s.n ORDER BY s.i) AS a_n,
         array_agg(s.e ORDER BY s.i) AS a_e, array_agg(s.f ORDER BY s.i) AS a_f
    FROM slots s GROUP BY 1, 2, 3;
  INSERT INTO meter_etl.rollup_meter_day
    (meter_key, channel_id, day, start_ts, kw_sum, kw_sum_flagged, kw_max, readings, estimated, flagged,
     hour_kw_sum, hour_kw_sum_flagged, hour_kw_max, hour_readings, hour_estimated, hour_flagged)
  SELECT x.meter_key, x.channel_id, rollup_merge_day.day, x.start_ts, x.kw_sum, x.kw_sum_flagged, x.kw_max,
         x.readings, x.estimated, x.flagged, x.a_s, x.a_sf, x.a_mx, x.a_n, x.a_e, x.a_f
    FROM pg_temp.me_rollup_merged x;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  DROP TABLE pg_temp.me_rollup_merged;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION rollup_merge_day(text, date) IS
  'Internal: merge the delta rows of each meter-day of one zone''s local day into one row';

-- Recompute the fleet rows of one zone's day from its meter rows (merged
-- first).  demand_kw is what peak_periods calls demand with
-- exclude_flagged => false (the sum over meters of their mean kW in the
-- hour); demand_kw_clean with exclude_flagged => true (flagged readings
-- left out, and meters with a fault episode or gap that day).
CREATE FUNCTION rollup_fleet_recompute(time_zone text, day date)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
-- a day of 50,000 meters aggregates 2.4 M hour slots: in memory, not in batches on disk
SET work_mem = '128MB'
AS $$
DECLARE
  v_n     integer;
  v_start timestamptz := rollup_fleet_recompute.day::timestamp AT TIME ZONE rollup_fleet_recompute.time_zone;
  v_end   timestamptz := (rollup_fleet_recompute.day + 1)::timestamp AT TIME ZONE rollup_fleet_recompute.time_zone;
BEGIN
  IF rollup_fleet_recompute.time_zone IS NULL OR rollup_fleet_recompute.day IS NULL THEN
    RAISE EXCEPTION 'time_zone and day must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM meter_etl.rollup_merge_day(rollup_fleet_recompute.time_zone, rollup_fleet_recompute.day);
  DELETE FROM meter_etl.rollup_fleet_hour f
   WHERE f.time_zone = rollup_fleet_recompute.time_zone AND f.day = rollup_fleet_recompute.day;
  DELETE FROM meter_etl.rollup_fleet_day f
   WHERE f.time_zone = rollup_fleet_recompute.time_zone AND f.day = rollup_fleet_recompute.day;
  CREATE TEMP TABLE me_rollup_md ON COMMIT DROP AS
  SELECT r.*, m.interval_s,
         EXISTS (SELECT 1 FROM meter_etl.fault f
                  WHERE f.meter_key = r.meter_key AND f.channel_id = r.channel_id AND f.kind <> 'usage_anomaly'
                    AND f.end_ts > v_start AND f.start_ts < v_end)
         OR EXISTS (SELECT 1 FROM meter_etl.gap g
                     WHERE g.meter_key = r.meter_key AND g.channel_id = r.channel_id
                       AND g.end_ts > v_start AND g.start_ts < v_end) AS excluded
    FROM meter_etl.rollup_meter_day r JOIN meter_etl.meter m ON m.meter_key = r.meter_key
   WHERE r.day = rollup_fleet_recompute.day AND coalesce(m.time_zone, 'UTC') = rollup_fleet_recompute.time_zone;
  INSERT INTO meter_etl.rollup_fleet_hour
    (time_zone, channel_id, hour_ts, day, kwh, kwh_flagged, demand_kw, demand_kw_clean, meters, meters_clean,
     meters_day, meters_estimated, meters_flagged, meters_excluded, readings, estimated, flagged)
  SELECT rollup_fleet_recompute.time_zone, d.channel_id, d.start_ts + (u.i - 1) * interval '1 hour',
         rollup_fleet_recompute.day,
         sum(u.s * d.interval_s / 3600.0), sum(u.sf * d.interval_s / 3600.0),
         coalesce(sum(u.s / (u.n + u.e)) FILTER (WHERE u.n + u.e > 0), 0),
         coalesce(sum((u.s - u.sf) / (u.n + u.e - u.f)) FILTER (WHERE u.n + u.e - u.f > 0 AND NOT d.excluded), 0),
         count(*) FILTER (WHERE u.n + u.e > 0)::integer,
         count(*) FILTER (WHERE u.n + u.e - u.f > 0 AND NOT d.excluded)::integer,
         count(*)::integer,
         count(*) FILTER (WHERE u.e > 0)::integer, count(*) FILTER (WHERE u.f > 0)::integer,
         count(*) FILTER (WHERE d.excluded)::integer,
         sum(u.n), sum(u.e), sum(u.f)
    FROM pg_temp.me_rollup_md d
   CROSS JOIN LATERAL unnest(d.hour_kw_sum, coalesce(d.hour_kw_sum_flagged, pg_catalog.array_fill(0::double precision, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])),
                             d.hour_readings, coalesce(d.hour_estimated, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])),
                             coalesce(d.hour_flagged, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(d.hour_kw_sum)])))
              WITH ORDINALITY AS u(s, sf, n, e, f, i)
   GROUP BY d.channel_id, u.i, d.start_ts;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  INSERT INTO meter_etl.rollup_fleet_day
    (time_zone, channel_id, day, start_ts, kwh, kwh_flagged, demand_kw, demand_kw_clean, peak_kw, peak_hour_ts,
     meters, meters_clean, readings, estimated, flagged)
  SELECT rollup_fleet_recompute.time_zone, d.channel_id, rollup_fleet_recompute.day, v_start,
         sum(d.kw_sum * d.interval_s / 3600.0), sum(d.kw_sum_flagged * d.interval_s / 3600.0),
         coalesce(sum(d.kw_sum / (d.readings + d.estimated)) FILTER (WHERE d.readings + d.estimated > 0), 0),
         coalesce(sum((d.kw_sum - d.kw_sum_flagged) / (d.readings + d.estimated - d.flagged))
                  FILTER (WHERE d.readings + d.estimated - d.flagged > 0 AND NOT d.excluded), 0),
         p.demand_kw, p.hour_ts,
         count(*) FILTER (WHERE d.readings + d.estimated > 0)::integer,
         count(*) FILTER (WHERE d.readings + d.estimated - d.flagged > 0 AND NOT d.excluded)::integer,
         sum(d.readings), sum(d.estimated), sum(d.flagged)
    FROM pg_temp.me_rollup_md d
    LEFT JOIN LATERAL (SELECT h.demand_kw, h.hour_ts FROM meter_etl.rollup_fleet_hour h
                        WHERE h.time_zone = rollup_fleet_recompute.time_zone AND h.channel_id = d.channel_id
                          AND h.day = rollup_fleet_recompute.day
                        ORDER BY h.demand_kw DESC, h.hour_ts LIMIT 1) p ON true
   GROUP BY d.channel_id, p.demand_kw, p.hour_ts;
  DROP TABLE pg_temp.me_rollup_md;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION rollup_fleet_recompute(text, date) IS
  'Internal: recompute rollup_fleet_hour and rollup_fleet_day of one zone''s local day from rollup_meter_day';

CREATE FUNCTION rollup_refresh()
RETURNS TABLE (meter_days integer, fleet_days integer)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  v_md integer := 0;
  v_fd integer := 0;
  d    record;
BEGIN
  -- one refresh at a time: two would recompute the same rows
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('meter_etl.rollup_refresh', 7411));
  CREATE TEMP TABLE me_rollup_keys ON COMMIT DROP AS
  WITH del AS (DELETE FROM meter_etl.rollup_change RETURNING *) SELECT * FROM del;
  IF EXISTS (SELECT 1 FROM pg_temp.me_rollup_keys) THEN
    v_md := meter_etl.rollup_recompute_keys();
  END IF;
  DROP TABLE pg_temp.me_rollup_keys;
  FOR d IN WITH del AS (DELETE FROM meter_etl.rollup_fleet_dirty RETURNING *)
           SELECT * FROM del ORDER BY time_zone, day LOOP
    PERFORM meter_etl.rollup_fleet_recompute(d.time_zone, d.day);
    v_fd := v_fd + 1;
  END LOOP;
  RETURN QUERY SELECT v_md, v_fd;
END
$$;
COMMENT ON FUNCTION rollup_refresh() IS
  'Bring the rollups up to date: recompute the meter-days changed outside the ingest (rollup_change), merge delta rows, and recompute the fleet rows of every day marked (rollup_fleet_dirty). detect() and detect_pending() call it; returns the meter-days and fleet days recomputed';

CREATE FUNCTION rollup_rebuild(from_date date, to_date date)
RETURNS TABLE (meter_days integer, fleet_days integer)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off
AS $$
BEGIN
  IF from_date IS NULL OR to_date IS NULL THEN
    RAISE EXCEPTION 'from_date and to_date must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF from_date > to_date THEN
    RAISE EXCEPTION 'from_date must not be later than to_date' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('meter_etl.rollup_refresh', 7411));
  -- every meter-day in range that has data or a rollup row (the UTC days
  -- one day wider: a local day reaches into the UTC days beside it)
  INSERT INTO meter_etl.rollup_change (meter_key, channel_id, day)
  SELECT x.meter_key, x.channel_id, x.day FROM (
    SELECT r.meter_key, r.channel_id, (r.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date AS day
      FROM meter_etl.reading r JOIN meter_etl.meter m ON m.meter_key = r.meter_key
     WHERE r.ts >= (from_date - 1)::timestamp AT TIME ZONE 'UTC' AND r.ts < (to_date + 2)::timestamp AT TIME ZONE 'UTC'
    UNION
    SELECT e.meter_key, e.channel_id, (e.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date
      FROM meter_etl.estimate e JOIN meter_etl.meter m ON m.meter_key = e.meter_key
     WHERE e.ts >= (from_date - 1)::timestamp AT TIME ZONE 'UTC' AND e.ts < (to_date + 2)::timestamp AT TIME ZONE 'UTC'
    UNION
    SELECT r.meter_key, r.channel_id, r.day FROM meter_etl.rollup_meter_day r
     WHERE r.day BETWEEN from_date AND to_date) x
   WHERE x.day BETWEEN from_date AND to_date
  ON CONFLICT DO NOTHING;
  -- fleet days with no meter row left must go too
  INSERT INTO meter_etl.rollup_fleet_dirty (time_zone, day)
  SELECT DISTINCT f.time_zone, f.day FROM meter_etl.rollup_fleet_day f WHERE f.day BETWEEN from_date AND to_date
  ON CONFLICT DO NOTHING;
  -- a rebuild of every date the store holds makes the rollups whole
  IF EXISTS (SELECT 1 FROM meter_etl.rollup_incomplete)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                      WHERE r.ts < (from_date - 1)::timestamp AT TIME ZONE 'UTC'
                         OR r.ts >= (to_date + 2)::timestamp AT TIME ZONE 'UTC')
     AND NOT EXISTS (SELECT 1 FROM meter_etl.estimate e
                      WHERE e.ts < (from_date - 1)::timestamp AT TIME ZONE 'UTC'
                         OR e.ts >= (to_date + 2)::timestamp AT TIME ZONE 'UTC') THEN
    DELETE FROM meter_etl.rollup_incomplete;
  END IF;
  RETURN QUERY SELECT * FROM meter_etl.rollup_refresh();
END
$$;
COMMENT ON FUNCTION rollup_rebuild(date, date) IS
  'Recompute every rollup of the local dates [from_date, to_date] from reading and estimate (after a restore, or to check the incremental ones)';

-- ---------------------------------------------------------------- peaks

-- Whether the rollups answer peak_periods() exactly: the whole fleet, hour
-- buckets in whole-hour zones or day buckets of UTC meters (date_bin's days
-- are UTC days), a range on bucket boundaries, nothing pending, and for
-- exclude_flagged the meters'' zone is the caller's (the days a fault or
-- gap leaves a meter out are local days).
CREATE FUNCTION rollup_answers(from_ts timestamptz, to_ts timestamptz, bucket interval, channel text,
                               exclude_flagged boolean, time_zone text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF from_ts IS NULL OR to_ts IS NULL OR bucket IS NULL OR channel IS NULL OR exclude_flagged IS NULL
     OR time_zone IS NULL THEN
    RAISE EXCEPTION 'rollup_answers arguments must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  RETURN rollup_answers.bucket IN (interval '1 hour', interval '1 day')
     AND pg_catalog.date_bin(rollup_answers.bucket, rollup_answers.from_ts, timestamptz '2000-01-01 00:00:00+00') = rollup_answers.from_ts
     AND pg_catalog.date_bin(rollup_answers.bucket, rollup_answers.to_ts, timestamptz '2000-01-01 00:00:00+00') = rollup_answers.to_ts
     AND NOT EXISTS (SELECT 1 FROM meter_etl.rollup_incomplete)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.rollup_change)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.rollup_fleet_dirty)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.rollup_fleet_day f JOIN meter_etl.channel c ON c.channel_id = f.channel_id
                      WHERE c.name = rollup_answers.channel
                        AND f.start_ts < rollup_answers.to_ts + interval '1 day'
                        AND f.start_ts > rollup_answers.from_ts - interval '2 days'
                        AND ((rollup_answers.exclude_flagged AND f.time_zone <> rollup_answers.time_zone)
                             OR (rollup_answers.bucket = interval '1 day' AND f.time_zone <> 'UTC')
                             OR pg_catalog.date_bin(interval '1 hour', f.start_ts, timestamptz '2000-01-01 00:00:00+00') <> f.start_ts));
END
$$;
COMMENT ON FUNCTION rollup_answers(timestamptz, timestamptz, interval, text, boolean, text) IS
  'Internal: whether rollup_peaks() gives what peak_periods() computes from the readings for these arguments';

CREATE FUNCTION rollup_peaks(from_ts timestamptz, to_ts timestamptz, bucket interval, top_n integer,
                             per_day boolean, channel text, exclude_flagged boolean, time_zone text)
RETURNS TABLE (period_start timestamptz, period_end timestamptz, demand_kw double precision,
               meters_counted integer, day date, rank integer)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  IF from_ts IS NULL OR to_ts IS NULL OR bucket IS NULL OR top_n IS NULL OR per_day IS NULL
     OR channel IS NULL OR exclude_flagged IS NULL OR time_zone IS NULL THEN
    RAISE EXCEPTION 'rollup_peaks arguments must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  RETURN QUERY
  WITH b AS (
    SELECT h.hour_ts AS b,
           sum(CASE WHEN rollup_peaks.exclude_flagged THEN h.demand_kw_clean ELSE h.demand_kw END) AS demand,
           sum(CASE WHEN rollup_peaks.exclude_flagged THEN h.meters_clean ELSE h.meters END)::integer AS n
      FROM meter_etl.rollup_fleet_hour h JOIN meter_etl.channel c ON c.channel_id = h.channel_id
     WHERE rollup_peaks.bucket = interval '1 hour' AND c.name = rollup_peaks.channel
       AND h.hour_ts >= rollup_peaks.from_ts AND h.hour_ts < rollup_peaks.to_ts
     GROUP BY h.hour_ts
    UNION ALL
    SELECT f.start_ts,
           sum(CASE WHEN rollup_peaks.exclude_flagged THEN f.demand_kw_clean ELSE f.demand_kw END),
           sum(CASE WHEN rollup_peaks.exclude_flagged THEN f.meters_clean ELSE f.meters END)::integer
      FROM meter_etl.rollup_fleet_day f JOIN meter_etl.channel c ON c.channel_id = f.channel_id
     WHERE rollup_peaks.bucket = interval '1 day' AND c.name = rollup_peaks.channel
       AND f.start_ts >= rollup_peaks.from_ts AND f.start_ts < rollup_peaks.to_ts
     GROUP BY f.start_ts
  ), fleet AS (
    SELECT b.b, b.demand, b.n, (b.b AT TIME ZONE rollup_peaks.time_zone)::date AS day FROM b WHERE b.n > 0
  ), ranked AS (
    SELECT f.*, row_number() OVER (PARTITION BY CASE WHEN rollup_peaks.per_day THEN f.day END
                                   ORDER BY f.demand DESC, f.b)::integer AS rk
      FROM fleet f
  )
  SELECT k.b, k.b + rollup_peaks.bucket, k.demand, k.n, k.day, k.rk
    FROM ranked k
   WHERE k.rk <= rollup_peaks.top_n
   ORDER BY CASE WHEN rollup_peaks.per_day THEN k.day END, k.rk;
END
$$;
COMMENT ON FUNCTION rollup_peaks(timestamptz, timestamptz, interval, integer, boolean, text, boolean, text) IS
  'Internal: peak_periods() of the whole fleet from rollup_fleet_hour / rollup_fleet_day (when rollup_answers() says they agree)';

-- ---------------------------------------------------------------- views

CREATE VIEW v_consumption_hour AS
SELECT m.meter_id, c.name AS channel, r.day AS local_date, (u.i - 1)::integer AS hour_of_day,
       r.start_ts + (u.i - 1) * interval '1 hour' AS hour_start,
       sum(u.s) * m.interval_s / 3600.0 AS energy_kwh,
       sum(u.s) / nullif(sum(u.n + u.e), 0) AS mean_kw,
       max(u.mx) AS max_kw,
       sum(u.n)::integer AS readings, sum(u.e)::integer AS estimated, sum(u.f)::integer AS flagged
  FROM rollup_meter_day r
  JOIN meter m ON m.meter_key = r.meter_key
  JOIN channel c ON c.channel_id = r.channel_id
 CROSS JOIN LATERAL unnest(r.hour_kw_sum, r.hour_kw_max, r.hour_readings,
                           coalesce(r.hour_estimated, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(r.hour_kw_sum)])),
                           coalesce(r.hour_flagged, pg_catalog.array_fill(0, ARRAY[pg_catalog.cardinality(r.hour_kw_sum)])))
       WITH ORDINALITY AS u(s, mx, n, e, f, i)
 GROUP BY m.meter_id, m.interval_s, c.name, r.day, r.start_ts, u.i
HAVING sum(u.n + u.e) > 0;
COMMENT ON VIEW v_consumption_hour IS
  'Consumption per meter, channel and hour (from the rollups; filter on meter_id and local_date for speed)';
COMMENT ON COLUMN v_consumption_hour.meter_id IS 'Meter id';
COMMENT ON COLUMN v_consumption_hour.channel IS 'Channel name';
COMMENT ON COLUMN v_consumption_hour.local_date IS 'Local date in the meter''s zone';
COMMENT ON COLUMN v_consumption_hour.hour_of_day IS 'Hours since local midnight (0-22 / 0-24 on DST days; the local clock hour on other days)';
COMMENT ON COLUMN v_consumption_hour.hour_start IS 'Start of the hour (timestamptz)';
COMMENT ON COLUMN v_consumption_hour.energy_kwh IS 'Energy in kWh, estimates included';
COMMENT ON COLUMN v_consumption_hour.mean_kw IS 'Mean kW of the hour''s readings and estimates';
COMMENT ON COLUMN v_consumption_hour.max_kw IS 'Highest kW of a reading or estimate in the hour';
COMMENT ON COLUMN v_consumption_hour.readings IS 'Readings (actuals) in the hour';
COMMENT ON COLUMN v_consumption_hour.estimated IS 'Estimates in the hour';
COMMENT ON COLUMN v_consumption_hour.flagged IS 'Readings flagged outlier or suspect_meter';

CREATE VIEW v_consumption_day AS
SELECT m.meter_id, c.name AS channel, r.day AS local_date,
       sum(r.kw_sum) * m.interval_s / 3600.0 AS energy_kwh,
       sum(r.kw_sum) / nullif(sum(r.readings + r.estimated), 0) AS mean_kw,
       max(r.kw_max) AS max_kw,
       sum(r.readings)::integer AS readings, sum(r.estimated)::integer AS estimated,
       sum(r.flagged)::integer AS flagged,
       round(extract(epoch FROM (r.day + 1)::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC')
                              - r.day::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC')))::integer
         / m.interval_s AS expected
  FROM rollup_meter_day r
  JOIN meter m ON m.meter_key = r.meter_key
  JOIN channel c ON c.channel_id = r.channel_id
 GROUP BY m.meter_id, m.interval_s, m.time_zone, c.name, r.day;
COMMENT ON VIEW v_consumption_day IS 'Consumption per meter, channel and local day (from the rollups)';
COMMENT ON COLUMN v_consumption_day.meter_id IS 'Meter id';
COMMENT ON COLUMN v_consumption_day.channel IS 'Channel name';
COMMENT ON COLUMN v_consumption_day.local_date IS 'Local date in the meter''s zone';
COMMENT ON COLUMN v_consumption_day.energy_kwh IS 'Energy in kWh, estimates included';
COMMENT ON COLUMN v_consumption_day.mean_kw IS 'Mean kW of the day''s readings and estimates';
COMMENT ON COLUMN v_consumption_day.max_kw IS 'Highest kW of a reading or estimate';
COMMENT ON COLUMN v_consumption_day.readings IS 'Readings (actuals)';
COMMENT ON COLUMN v_consumption_day.estimated IS 'Estimates';
COMMENT ON COLUMN v_consumption_day.flagged IS 'Readings flagged outlier or suspect_meter';
COMMENT ON COLUMN v_consumption_day.expected IS 'Slots in the local day at the meter''s interval (92/96/100 at 15 minutes)';

CREATE VIEW v_consumption_month AS
SELECT d.meter_id, d.channel, pg_catalog.date_trunc('month', d.local_date)::date AS month,
       sum(d.energy_kwh) AS energy_kwh, max(d.max_kw) AS max_kw, count(*)::integer AS days,
       sum(d.readings)::integer AS readings, sum(d.estimated)::integer AS estimated,
       sum(d.flagged)::integer AS flagged
  FROM v_consumption_day d
 GROUP BY d.meter_id, d.channel, 3;
COMMENT ON VIEW v_consumption_month IS 'Consumption per meter, channel and local calendar month (from the rollups)';
COMMENT ON COLUMN v_consumption_month.meter_id IS 'Meter id';
COMMENT ON COLUMN v_consumption_month.channel IS 'Channel name';
COMMENT ON COLUMN v_consumption_month.month IS 'First local date of the month';
COMMENT ON COLUMN v_consumption_month.energy_kwh IS 'Energy in kWh, estimates included';
COMMENT ON COLUMN v_consumption_month.max_kw IS 'Highest kW of a reading or estimate';
COMMENT ON COLUMN v_consumption_month.days IS 'Days of the month with data';
COMMENT ON COLUMN v_consumption_month.readings IS 'Readings (actuals)';
COMMENT ON COLUMN v_consumption_month.estimated IS 'Estimates';
COMMENT ON COLUMN v_consumption_month.flagged IS 'Readings flagged outlier or suspect_meter';

CREATE VIEW v_fleet_load_hour AS
SELECT f.time_zone, c.name AS channel, f.hour_ts AS hour_start, f.day AS local_date,
       f.kwh AS load_kw, f.kwh - f.kwh_flagged AS load_kw_unflagged, f.demand_kw, f.demand_kw_clean,
       f.kwh AS energy_kwh, f.meters, f.meters_clean, f.meters_day - f.meters AS meters_missing,
       f.meters_estimated, f.meters_flagged, f.meters_excluded,
       f.readings::bigint AS readings, f.estimated::bigint AS estimated, f.flagged::bigint AS flagged
  FROM rollup_fleet_hour f JOIN channel c ON c.channel_id = f.channel_id;
COMMENT ON VIEW v_fleet_load_hour IS
  'Fleet load per hour, per meters'' zone and channel (from the rollups, current after rollup_refresh()): sum over zones for the whole fleet';
COMMENT ON COLUMN v_fleet_load_hour.time_zone IS 'The meters'' zone (local dates are in it)';
COMMENT ON COLUMN v_fleet_load_hour.channel IS 'Channel name';
COMMENT ON COLUMN v_fleet_load_hour.hour_start IS 'Start of the hour (timestamptz)';
COMMENT ON COLUMN v_fleet_load_hour.local_date IS 'Local date of the hour in time_zone';
COMMENT ON COLUMN v_fleet_load_hour.load_kw IS 'Average fleet load over the hour in kW (its energy / 1 h), estimates included';
COMMENT ON COLUMN v_fleet_load_hour.load_kw_unflagged IS 'load_kw without the readings flagged outlier or suspect_meter';
COMMENT ON COLUMN v_fleet_load_hour.demand_kw IS 'Sum over meters of their mean kW in the hour (peak_periods'' demand, exclude_flagged => false)';
COMMENT ON COLUMN v_fleet_load_hour.demand_kw_clean IS 'The same without flagged readings and without meters that had a fault episode or gap that day (peak_periods'' default)';
COMMENT ON COLUMN v_fleet_load_hour.energy_kwh IS 'Fleet energy in the hour in kWh';
COMMENT ON COLUMN v_fleet_load_hour.meters IS 'Meters with a reading or estimate in the hour';
COMMENT ON COLUMN v_fleet_load_hour.meters_clean IS 'Meters counted in demand_kw_clean';
COMMENT ON COLUMN v_fleet_load_hour.meters_missing IS 'Meters with data that day but none in this hour (excluded: missing)';
COMMENT ON COLUMN v_fleet_load_hour.meters_estimated IS 'Meters with an estimate in the hour';
COMMENT ON COLUMN v_fleet_load_hour.meters_flagged IS 'Meters with a flagged reading in the hour (excluded from load_kw_unflagged and demand_kw_clean)';
COMMENT ON COLUMN v_fleet_load_hour.meters_excluded IS 'Meters left out of demand_kw_clean for a fault episode or gap that day';
COMMENT ON COLUMN v_fleet_load_hour.readings IS 'Readings (actuals)';
COMMENT ON COLUMN v_fleet_load_hour.estimated IS 'Estimates';
COMMENT ON COLUMN v_fleet_load_hour.flagged IS 'Flagged readings';

CREATE VIEW v_fleet_energy_day AS
SELECT f.time_zone, c.name AS channel, f.day AS local_date, f.kwh AS energy_kwh,
       f.kwh - f.kwh_flagged AS energy_kwh_unflagged, f.peak_kw, f.peak_hour_ts AS peak_hour_start,
       f.meters, f.readings::bigint AS readings, f.estimated::bigint AS estimated, f.flagged::bigint AS flagged
  FROM rollup_fleet_day f JOIN channel c ON c.channel_id = f.channel_id;
COMMENT ON VIEW v_fleet_energy_day IS
  'Fleet energy per local day, per meters'' zone and channel (from the rollups, current after rollup_refresh())';
COMMENT ON COLUMN v_fleet_energy_day.time_zone IS 'The meters'' zone';
COMMENT ON COLUMN v_fleet_energy_day.channel IS 'Channel name';
COMMENT ON COLUMN v_fleet_energy_day.local_date IS 'Local date in time_zone';
COMMENT ON COLUMN v_fleet_energy_day.energy_kwh IS 'Fleet energy in kWh, estimates included';
COMMENT ON COLUMN v_fleet_energy_day.energy_kwh_unflagged IS 'energy_kwh without readings flagged outlier or suspect_meter';
COMMENT ON COLUMN v_fleet_energy_day.peak_kw IS 'The day''s highest hourly fleet demand in kW (demand_kw of v_fleet_load_hour)';
COMMENT ON COLUMN v_fleet_energy_day.peak_hour_start IS 'Start of that hour';
COMMENT ON COLUMN v_fleet_energy_day.meters IS 'Meters with data that day';
COMMENT ON COLUMN v_fleet_energy_day.readings IS 'Readings (actuals)';
COMMENT ON COLUMN v_fleet_energy_day.estimated IS 'Estimates';
COMMENT ON COLUMN v_fleet_energy_day.flagged IS 'Flagged readings';

-- Fleet load per reading interval reads the store itself: intervals finer
-- than an hour are not rolled up (a 15-minute fleet row per zone would be
-- cheap, but which interval? meters of 15, 30 and 60 minutes mix).
CREATE VIEW v_fleet_load_interval AS
SELECT x.ts AS interval_start, c.name AS channel, sum(x.kw) AS load_kw,
       sum(x.kw) FILTER (WHERE x.flags & 6 = 0) AS load_kw_unflagged,
       count(*)::integer AS meters, count(*) FILTER (WHERE x.est)::integer AS meters_estimated,
       count(*) FILTER (WHERE x.flags & 6 <> 0)::integer AS meters_flagged
  FROM (SELECT r.ts, r.channel_id, r.kw, r.flags, false AS est FROM reading r
        UNION ALL
        SELECT e.ts, e.channel_id, e.kw, 0::smallint, true FROM estimate e
         WHERE NOT EXISTS (SELECT 1 FROM reading a
                            WHERE a.meter_key = e.meter_key AND a.channel_id = e.channel_id AND a.ts = e.ts)) x
  JOIN channel c ON c.channel_id = x.channel_id
 GROUP BY x.ts, c.name;
COMMENT ON VIEW v_fleet_load_interval IS
  'Fleet load per reading interval start (reads reading and estimate, not the rollups: filter on interval_start)';
COMMENT ON COLUMN v_fleet_load_interval.interval_start IS 'Interval start (timestamptz)';
COMMENT ON COLUMN v_fleet_load_interval.channel IS 'Channel name';
COMMENT ON COLUMN v_fleet_load_interval.load_kw IS 'Sum of the meters'' kW in the interval, estimates included';
COMMENT ON COLUMN v_fleet_load_interval.load_kw_unflagged IS 'load_kw without readings flagged outlier or suspect_meter';
COMMENT ON COLUMN v_fleet_load_interval.meters IS 'Meters with a reading or estimate starting at interval_start';
COMMENT ON COLUMN v_fleet_load_interval.meters_estimated IS 'Of those, meters whose value is an estimate';
COMMENT ON COLUMN v_fleet_load_interval.meters_flagged IS 'Of those, meters whose reading is flagged (excluded from load_kw_unflagged)';

SELECT pg_catalog.pg_extension_config_dump('rollup_meter_day', '');
SELECT pg_catalog.pg_extension_config_dump('rollup_change', '');
SELECT pg_catalog.pg_extension_config_dump('rollup_fleet_dirty', '');
SELECT pg_catalog.pg_extension_config_dump('rollup_fleet_hour', '');
SELECT pg_catalog.pg_extension_config_dump('rollup_fleet_day', '');
SELECT pg_catalog.pg_extension_config_dump('rollup_incomplete', '');

REVOKE ALL ON FUNCTION rollup_add(text, integer[], smallint[], date[], timestamptz[], integer[], integer[], double precision[], double precision[], double precision[], integer[], integer[], double precision[], double precision[], double precision[], integer[], integer[]) FROM PUBLIC;
