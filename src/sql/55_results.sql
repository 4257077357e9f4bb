
-- ======================================================================
-- Data-quality scorecard and the result views for BI (issue 19)
-- ======================================================================
-- The scorecard is kept per UTC day (the store's partitions) in tables
-- that refresh_results() fills, because a dashboard must not scan a day's
-- 4.8 M readings per query: one refresh reads each day once.  A day whose
-- readings or estimates changed after its refresh is shown stale (the
-- store's change log, archive_change).

-- Ingest records, per run and UTC day, the readings it stored and the
-- exact duplicates it dropped: the only place duplicates are counted by day.
CREATE TABLE ingest_day (
    ingest_run_id  bigint NOT NULL,
    day            date NOT NULL,
    rows_clean     bigint NOT NULL,
    rows_duplicate bigint NOT NULL,
    PRIMARY KEY (ingest_run_id, day)
);
CREATE INDEX ingest_day_day_idx ON ingest_day (day);
COMMENT ON TABLE ingest_day IS
  'Per ingest run and UTC day of the readings: readings stored and exact duplicates dropped (written by ingest)';

-- what the scorecard and the meter dimension look up
CREATE INDEX quarantine_ts_idx ON quarantine (ts);
CREATE INDEX ingest_extent_meter_idx ON ingest_extent (meter_key, ts_min);

CREATE TABLE dq_meter_day (
    day              date NOT NULL,
    meter_key        integer NOT NULL,
    channels         integer NOT NULL,
    expected         integer NOT NULL,
    clean            integer NOT NULL,
    quarantined      integer NOT NULL,
    estimated        integer NOT NULL,
    source_estimated integer NOT NULL,
    missing          integer NOT NULL,
    PRIMARY KEY (day, meter_key)
);
CREATE INDEX dq_meter_day_meter_idx ON dq_meter_day (meter_key, day);
COMMENT ON TABLE dq_meter_day IS
  'Data-quality scorecard per meter and UTC day, written by refresh_results() (v_dq_meter_day shows it)';

CREATE TABLE dq_day (
    day                   date PRIMARY KEY,
    meters_active         integer NOT NULL,
    expected              bigint NOT NULL,
    received              bigint NOT NULL,
    clean                 bigint NOT NULL,
    quarantined           bigint NOT NULL,
    quarantined_by_reason jsonb NOT NULL,
    duplicates            bigint NOT NULL,
    estimated             bigint NOT NULL,
    source_estimated      bigint NOT NULL,
    missing               bigint NOT NULL,
    delay_median_hours    double precision,
    delay_p95_hours       double precision,
    computed_at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE dq_day IS
  'Data-quality scorecard per UTC day, written by refresh_results() (v_dq_day shows it)';

CREATE TABLE dq_file_day (
    day                   date NOT NULL,
    file_id               bigint NOT NULL,
    expected              bigint NOT NULL,
    received              bigint NOT NULL,
    clean                 bigint NOT NULL,
    quarantined           bigint NOT NULL,
    quarantined_by_reason jsonb NOT NULL,
    duplicates            bigint NOT NULL,
    missing               bigint NOT NULL,
    delay_median_hours    double precision,
    delay_p95_hours       double precision,
    PRIMARY KEY (day, file_id)
);
CREATE INDEX dq_file_day_file_idx ON dq_file_day (file_id);
COMMENT ON TABLE dq_file_day IS
  'Data-quality scorecard per UTC day and raw file, written by refresh_results() (v_dq_file_day shows it)';

CREATE TABLE peak_day (
    day            date NOT NULL,
    rank           integer NOT NULL CHECK (rank >= 1),
    period_start   timestamptz NOT NULL,
    period_end     timestamptz NOT NULL,
    demand_kw      double precision NOT NULL,
    meters_counted integer NOT NULL,
    PRIMARY KEY (day, rank)
);
COMMENT ON TABLE peak_day IS
  'The top 10 half-hours of fleet import demand of each UTC day (peak_periods() with its defaults: flagged meter-days and outliers left out), written by refresh_results()';

CREATE FUNCTION refresh_results(from_date date, to_date date)
RETURNS TABLE (day date, meters_active integer, expected bigint, clean bigint, peaks integer)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  d     date;
  v_lo  timestamptz;
  v_hi  timestamptz;
BEGIN
  IF refresh_results.from_date IS NULL OR refresh_results.to_date IS NULL THEN
    RAISE EXCEPTION 'from_date and to_date must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF refresh_results.from_date > refresh_results.to_date THEN
    RAISE EXCEPTION 'from_date must not be later than to_date' USING ERRCODE = 'invalid_parameter_value';
  ELSIF refresh_results.to_date - refresh_results.from_date >= 366 THEN
    RAISE EXCEPTION 'refusing to refresh % days at once', refresh_results.to_date - refresh_results.from_date + 1
      USING ERRCODE = 'program_limit_exceeded',
            HINT = 'Refresh at most a year per call; each day reads that day''s readings once.';
  END IF;
  -- one refresh at a time: two would delete each other's rows
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('meter_etl.refresh_results', 7411));
  -- each meter's span in the store: from its first stored reading (the
  -- ingest extents) to its newest
  CREATE TEMP TABLE me_dq_span ON COMMIT DROP AS
  SELECT m.meter_key, m.meter_id, m.interval_s, f.first_ts, m.last_reading_at AS last_ts
    FROM meter_etl.meter m
   CROSS JOIN LATERAL (SELECT min(e.ts_min) AS first_ts FROM meter_etl.ingest_extent e
                        WHERE e.meter_key = m.meter_key) f;
  -- the latest successful run of each file: what its accounting is
  CREATE TEMP TABLE me_dq_run ON COMMIT DROP AS
  SELECT DISTINCT ON (i.file_id) i.file_id, i.run_id
    FROM meter_etl.ingest_run i WHERE i.status = 'ok' ORDER BY i.file_id, i.run_id DESC;
  FOR d IN SELECT g::date FROM pg_catalog.generate_series(refresh_results.from_date::timestamp,
                                                          refresh_results.to_date::timestamp, interval '1 day') g
  LOOP
    v_lo := d::timestamp AT TIME ZONE 'UTC';
    v_hi := (d + 1)::timestamp AT TIME ZONE 'UTC';
    -- the day's readings per meter: one pass over the day's partition
    CREATE TEMP TABLE me_dq_read ON COMMIT DROP AS
    SELECT s.meter_key, count(*)::integer AS channels, sum(s.n)::integer AS clean,
           sum(s.se)::integer AS source_estimated, min(s.lo) AS first_ts, max(s.hi) AS last_ts
      FROM (SELECT r.meter_key, r.channel_id, count(*) AS n, count(*) FILTER (WHERE r.flags & 16 <> 0) AS se,
                   min(r.ts) AS lo, max(r.ts) AS hi
              FROM meter_etl.reading r WHERE r.ts >= v_lo AND r.ts < v_hi
             GROUP BY r.meter_key, r.channel_id) s
     GROUP BY s.meter_key;
    -- expected: every slot of the day within the meter's span (its first
    -- to its newest reading), once per channel it read that day (at least one)
    DELETE FROM meter_etl.dq_meter_day x WHERE x.day = d;
    INSERT INTO meter_etl.dq_meter_day (day, meter_key, channels, expected, clean, quarantined, estimated,
                                        source_estimated, missing)
    SELECT d, a.meter_key, a.channels, a.expected, a.clean, coalesce(q.n, 0), coalesce(e.n, 0),
           a.source_estimated, greatest(a.expected - a.clean, 0)
      FROM (SELECT s.meter_key, coalesce(x.channels, 1) AS channels,
                   (coalesce(x.channels, 1) * greatest(0, extract(epoch FROM
                      least(v_hi, greatest(s.last_ts, x.last_ts) + make_interval(secs => s.interval_s))
                      - greatest(v_lo, least(s.first_ts, x.first_ts))) / s.interval_s))::integer AS expected,
                   coalesce(x.clean, 0) AS clean, coalesce(x.source_estimated, 0) AS source_estimated
              FROM me_dq_span s
              LEFT JOIN me_dq_read x USING (meter_key)
             WHERE x.meter_key IS NOT NULL OR (s.first_ts < v_hi AND s.last_ts >= v_lo)) a
      LEFT JOIN (SELECT s.meter_key, count(*)::integer AS n
                   FROM meter_etl.quarantine qq JOIN me_dq_span s ON s.meter_id = qq.meter_id
                  WHERE qq.ts >= v_lo AND qq.ts < v_hi GROUP BY s.meter_key) q USING (meter_key)
      LEFT JOIN (SELECT ee.meter_key, count(*)::integer AS n
                   FROM meter_etl.estimate ee
                  WHERE ee.ts >= v_lo AND ee.ts < v_hi
                    AND NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                                     WHERE r.meter_key = ee.meter_key AND r.channel_id = ee.channel_id AND r.ts = ee.ts)
                  GROUP BY ee.meter_key) e USING (meter_key);
    -- per file: the day's stored readings and their delay from the end of
    -- their interval to the staging of their file (a second pass)
    CREATE TEMP TABLE me_dq_delay ON COMMIT DROP AS
    SELECT r.file_id::bigint AS file_id, count(*) AS clean,
           percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP
             (ORDER BY extract(epoch FROM f.received_at - r.ts) - s.interval_s) AS p
      FROM meter_etl.reading r
      JOIN meter_etl.raw_file f ON f.file_id = r.file_id
      JOIN me_dq_span s ON s.meter_key = r.meter_key
     WHERE r.ts >= v_lo AND r.ts < v_hi
     GROUP BY GROUPING SETS ((r.file_id), ());
    CREATE TEMP TABLE me_dq_quar ON COMMIT DROP AS
    SELECT q.file_id, q.reason, count(*) AS n
      FROM meter_etl.quarantine q WHERE q.ts >= v_lo AND q.ts < v_hi
     GROUP BY q.file_id, q.reason;
    CREATE TEMP TABLE me_dq_dup ON COMMIT DROP AS
    SELECT r.file_id, g.rows_duplicate AS n
      FROM meter_etl.ingest_day g JOIN me_dq_run r ON r.run_id = g.ingest_run_id
     WHERE g.day = d AND g.rows_duplicate > 0;
    DELETE FROM meter_etl.dq_file_day x WHERE x.day = d;
    INSERT INTO meter_etl.dq_file_day (day, file_id, expected, received, clean, quarantined,
                                       quarantined_by_reason, duplicates, missing, delay_median_hours, delay_p95_hours)
    SELECT d, k.file_id, coalesce(x.n, 0), c.n + qn.n + coalesce(u.n, 0), c.n, qn.n, qn.by_reason,
           coalesce(u.n, 0), greatest(coalesce(x.n, 0) - (c.n + qn.n + coalesce(u.n, 0)), 0),
           y.p[1] / 3600, y.p[2] / 3600
      FROM (SELECT y.file_id FROM me_dq_delay y WHERE y.file_id IS NOT NULL
            UNION SELECT q.file_id FROM me_dq_quar q WHERE q.file_id IS NOT NULL
            UNION SELECT u.file_id FROM me_dq_dup u) k
      LEFT JOIN me_dq_delay y ON y.file_id = k.file_id
      LEFT JOIN me_dq_dup u ON u.file_id = k.file_id
      CROSS JOIN LATERAL (SELECT coalesce(y.clean, 0) AS n) c
      CROSS JOIN LATERAL (SELECT coalesce(sum(q.n), 0)::bigint AS n,
                                 coalesce(jsonb_object_agg(q.reason, q.n ORDER BY q.reason)
                                            FILTER (WHERE q.reason IS NOT NULL), '{}') AS by_reason
                            FROM me_dq_quar q WHERE q.file_id = k.file_id) qn
      -- the slots of the day within the spans the file's run stored per meter
      LEFT JOIN LATERAL (SELECT sum(coalesce(rd.channels, 1) * greatest(0, extract(epoch FROM
                                  least(v_hi, e.ts_max + make_interval(secs => s.interval_s))
                                  - greatest(v_lo, e.ts_min)) / s.interval_s))::bigint AS n
                           FROM me_dq_run rn
                           JOIN meter_etl.ingest_extent e ON e.ingest_run_id = rn.run_id
                           JOIN me_dq_span s ON s.meter_key = e.meter_key
                           LEFT JOIN me_dq_read rd ON rd.meter_key = e.meter_key
                          WHERE rn.file_id = k.file_id AND e.ts_min < v_hi AND e.ts_max >= v_lo) x ON true;
    DELETE FROM meter_etl.dq_day x WHERE x.day = d;
    INSERT INTO meter_etl.dq_day (day, meters_active, expected, received, clean, quarantined, quarantined_by_reason,
                                  duplicates, estimated, source_estimated, missing, delay_median_hours, delay_p95_hours)
    SELECT d, count(*), coalesce(sum(m.expected), 0), coalesce(sum(m.clean), 0) + qa.n + du.n,
           coalesce(sum(m.clean), 0), qa.n, qa.by_reason, du.n, coalesce(sum(m.estimated), 0),
           coalesce(sum(m.source_estimated), 0), coalesce(sum(m.missing), 0),
           (SELECT y.p[1] / 3600 FROM me_dq_delay y WHERE y.file_id IS NULL),
           (SELECT y.p[2] / 3600 FROM me_dq_delay y WHERE y.file_id IS NULL)
      FROM meter_etl.dq_meter_day m
     CROSS JOIN (SELECT coalesce(sum(t.n), 0)::bigint AS n,
                        coalesce(jsonb_object_agg(t.reason, t.n ORDER BY t.reason), '{}') AS by_reason
                   FROM (SELECT q.reason, sum(q.n) AS n FROM me_dq_quar q GROUP BY q.reason) t) qa
     CROSS JOIN (SELECT coalesce(sum(u.n), 0)::bigint AS n FROM me_dq_dup u) du
     WHERE m.day = d
     GROUP BY qa.n, qa.by_reason, du.n;
    -- the day's top half-hours of fleet demand
    DELETE FROM meter_etl.peak_day x WHERE x.day = d;
    INSERT INTO meter_etl.peak_day (day, rank, period_start, period_end, demand_kw, meters_counted)
    SELECT d, p.rank, p.period_start, p.period_end, p.demand_kw, p.meters_counted
      FROM meter_etl.peak_periods(v_lo, v_hi, interval '30 minutes', 10, false, NULL, 'import', true, 'UTC') p;
    RETURN QUERY
    SELECT d, y.meters_active, y.expected, y.clean, (SELECT count(*)::integer FROM meter_etl.peak_day p WHERE p.day = d)
      FROM meter_etl.dq_day y WHERE y.day = d;
    DROP TABLE me_dq_read, me_dq_delay, me_dq_quar, me_dq_dup;
  END LOOP;
  DROP TABLE me_dq_span, me_dq_run;
END
$$;
COMMENT ON FUNCTION refresh_results(date, date) IS
  'Compute the data-quality scorecard (dq_day, dq_file_day, dq_meter_day) and the daily peaks (peak_day) of the UTC dates [from_date, to_date], replacing what they held: each day''s readings are read twice (per meter, per file). Schedule it after detection, e.g. nightly for the last two days';

-- ----------------------------------------------------------------------
-- The result views (the contract sql/view_contract.sql pins)
-- ----------------------------------------------------------------------

CREATE VIEW v_dq_day AS
SELECT y.day, y.meters_active, y.expected, y.received, y.clean, y.quarantined, y.quarantined_by_reason,
       y.duplicates, y.estimated, y.source_estimated, y.missing,
       round(100.0 * y.clean / nullif(y.expected, 0), 2) AS completeness_pct,
       round(100.0 * y.clean / nullif(y.clean + y.quarantined, 0), 2) AS validity_pct,
       y.delay_median_hours, y.delay_p95_hours, y.computed_at,
       EXISTS (SELECT 1 FROM archive_change c WHERE c.day = y.day AND c.changed_at > y.computed_at) AS stale
  FROM dq_day y;
COMMENT ON VIEW v_dq_day IS
  'Data-quality scorecard per UTC day (refresh_results() computes it): readings expected from each active meter''s interval, received, clean, quarantined by reason, duplicates, estimated, missing; completeness and validity; timeliness';
COMMENT ON COLUMN v_dq_day.day IS 'UTC date';
COMMENT ON COLUMN v_dq_day.meters_active IS 'Meters active that day: the day overlaps the span from their first to their newest stored reading, or they read that day';
COMMENT ON COLUMN v_dq_day.expected IS 'Readings expected: per active meter, the day''s interval slots within its span, times the channels it read that day (at least one)';
COMMENT ON COLUMN v_dq_day.received IS 'Readings received for the day: clean + quarantined + duplicates';
COMMENT ON COLUMN v_dq_day.clean IS 'Readings of the day in the clean store';
COMMENT ON COLUMN v_dq_day.quarantined IS 'Quarantined readings whose timestamp falls on the day (readings without a readable timestamp are counted per file in v_file_accounting only)';
COMMENT ON COLUMN v_dq_day.quarantined_by_reason IS 'The quarantined readings by reason code: {"reason": count}';
COMMENT ON COLUMN v_dq_day.duplicates IS 'Exact duplicates of stored readings that ingest dropped (latest ingest of each file)';
COMMENT ON COLUMN v_dq_day.estimated IS 'Slots filled by meter_etl''s estimates (meter_etl.estimate) for want of a reading';
COMMENT ON COLUMN v_dq_day.source_estimated IS 'Clean readings the source marked estimated (flag source_estimated)';
COMMENT ON COLUMN v_dq_day.missing IS 'Expected slots without a clean reading (estimated ones included)';
COMMENT ON COLUMN v_dq_day.completeness_pct IS 'clean / expected, in percent';
COMMENT ON COLUMN v_dq_day.validity_pct IS 'clean / (clean + quarantined), in percent';
COMMENT ON COLUMN v_dq_day.delay_median_hours IS 'Median delay, in hours, from the end of a clean reading''s interval to the staging of its raw file';
COMMENT ON COLUMN v_dq_day.delay_p95_hours IS '95th percentile of that delay, in hours';
COMMENT ON COLUMN v_dq_day.computed_at IS 'When refresh_results() computed the day';
COMMENT ON COLUMN v_dq_day.stale IS 'The day''s readings or estimates changed after computed_at: refresh it';

CREATE VIEW v_dq_file_day AS
SELECT y.day, y.file_id, f.file_name, f.received_at, y.expected, y.received, y.clean, y.quarantined,
       y.quarantined_by_reason, y.duplicates, y.missing,
       round(100.0 * y.clean / nullif(y.expected, 0), 2) AS completeness_pct,
       round(100.0 * y.clean / nullif(y.clean + y.quarantined, 0), 2) AS validity_pct,
       y.delay_median_hours, y.delay_p95_hours
  FROM dq_file_day y JOIN raw_file f USING (file_id);
COMMENT ON VIEW v_dq_file_day IS
  'Data-quality scorecard per UTC day and raw file (refresh_results() computes it): what the file brought for the day against the slots of its span';
COMMENT ON COLUMN v_dq_file_day.day IS 'UTC date';
COMMENT ON COLUMN v_dq_file_day.file_id IS 'Raw file (meter_etl.raw_file)';
COMMENT ON COLUMN v_dq_file_day.file_name IS 'The file''s name as received';
COMMENT ON COLUMN v_dq_file_day.received_at IS 'When the file was staged';
COMMENT ON COLUMN v_dq_file_day.expected IS 'Slots of the day within the span the file''s ingest stored per meter (first to last reading), times the meter''s channels that day';
COMMENT ON COLUMN v_dq_file_day.received IS 'Readings of the day the file held: clean + quarantined + duplicates';
COMMENT ON COLUMN v_dq_file_day.clean IS 'Readings of the day stored from the file';
COMMENT ON COLUMN v_dq_file_day.quarantined IS 'Readings of the day from the file that were quarantined';
COMMENT ON COLUMN v_dq_file_day.quarantined_by_reason IS 'The quarantined readings by reason code: {"reason": count}';
COMMENT ON COLUMN v_dq_file_day.duplicates IS 'Exact duplicates in the file of readings already stored';
COMMENT ON COLUMN v_dq_file_day.missing IS 'Slots of its span the file held no reading for: expected - received, not below 0';
COMMENT ON COLUMN v_dq_file_day.completeness_pct IS 'clean / expected, in percent';
COMMENT ON COLUMN v_dq_file_day.validity_pct IS 'clean / (clean + quarantined), in percent';
COMMENT ON COLUMN v_dq_file_day.delay_median_hours IS 'Median delay, in hours, from the end of a reading''s interval to the file''s staging';
COMMENT ON COLUMN v_dq_file_day.delay_p95_hours IS '95th percentile of that delay, in hours';

CREATE VIEW v_dq_meter_day AS
SELECT y.day, m.meter_id, y.channels, y.expected, y.clean, y.quarantined, y.estimated, y.source_estimated, y.missing,
       round(100.0 * y.clean / nullif(y.expected, 0), 2) AS completeness_pct,
       round(100.0 * y.clean / nullif(y.clean + y.quarantined, 0), 2) AS validity_pct
  FROM dq_meter_day y JOIN meter m USING (meter_key);
COMMENT ON VIEW v_dq_meter_day IS
  'Data-quality scorecard per meter and UTC day (refresh_results() computes it; dq_meters() ranks a range)';
COMMENT ON COLUMN v_dq_meter_day.day IS 'UTC date';
COMMENT ON COLUMN v_dq_meter_day.meter_id IS 'Meter id';
COMMENT ON COLUMN v_dq_meter_day.channels IS 'Channels the meter read that day (1 if none)';
COMMENT ON COLUMN v_dq_meter_day.expected IS 'The day''s interval slots within the meter''s span, times channels';
COMMENT ON COLUMN v_dq_meter_day.clean IS 'Readings of the day in the clean store';
COMMENT ON COLUMN v_dq_meter_day.quarantined IS 'Quarantined readings of the meter whose timestamp falls on the day';
COMMENT ON COLUMN v_dq_meter_day.estimated IS 'Slots filled by meter_etl''s estimates';
COMMENT ON COLUMN v_dq_meter_day.source_estimated IS 'Clean readings the source marked estimated';
COMMENT ON COLUMN v_dq_meter_day.missing IS 'Expected slots without a clean reading';
COMMENT ON COLUMN v_dq_meter_day.completeness_pct IS 'clean / expected, in percent';
COMMENT ON COLUMN v_dq_meter_day.validity_pct IS 'clean / (clean + quarantined), in percent';

-- Reads the view, not the tables: a reader may call it.
CREATE FUNCTION dq_meters(from_date date, to_date date)
RETURNS TABLE (rank integer, meter_id text, days integer, expected bigint, clean bigint, quarantined bigint,
               estimated bigint, source_estimated bigint, missing bigint,
               completeness_pct numeric, validity_pct numeric)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  IF dq_meters.from_date IS NULL OR dq_meters.to_date IS NULL THEN
    RAISE EXCEPTION 'from_date and to_date must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF dq_meters.from_date > dq_meters.to_date THEN
    RAISE EXCEPTION 'from_date must not be later than to_date' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
  SELECT (row_number() OVER (ORDER BY a.completeness_pct NULLS LAST, a.validity_pct NULLS LAST,
                                      a.missing DESC, a.meter_id))::integer, a.*
    FROM (SELECT v.meter_id, count(*)::integer AS days, sum(v.expected)::bigint AS expected,
                 sum(v.clean)::bigint AS clean, sum(v.quarantined)::bigint AS quarantined,
                 sum(v.estimated)::bigint AS estimated, sum(v.source_estimated)::bigint AS source_estimated,
                 sum(v.missing)::bigint AS missing,
                 round(100.0 * sum(v.clean) / nullif(sum(v.expected), 0), 2) AS completeness_pct,
                 round(100.0 * sum(v.clean) / nullif(sum(v.clean) + sum(v.quarantined), 0), 2) AS validity_pct
            FROM meter_etl.v_dq_meter_day v
           WHERE v.day BETWEEN dq_meters.from_date AND dq_meters.to_date
           GROUP BY v.meter_id) a
   ORDER BY 1;
END
$$;
COMMENT ON FUNCTION dq_meters(date, date) IS
  'The data-quality scorecard per meter over the UTC dates [from_date, to_date] (as refresh_results() stored them), worst first: lowest completeness, then lowest validity, then most missing';

-- v_meter, the meter dimension, is in 74_segments.sql: it joins each
-- meter's load-profile segment (meter_segment).

CREATE VIEW v_meter_health AS
SELECT m.meter_id, c.name AS channel, s.status, s.reason, s.since, s.as_of, s.last_reading_ts AS last_reading_at,
       (SELECT count(*) FROM fault f WHERE f.meter_key = s.meter_key AND f.channel_id = s.channel_id
           AND f.ongoing AND f.kind <> 'usage_anomaly')::integer AS open_faults,
       round((SELECT count(*) FROM estimate e WHERE e.meter_key = s.meter_key AND e.channel_id = s.channel_id
                 AND e.ts >= s.as_of - interval '7 days' AND e.ts < s.as_of)
             / (7 * 86400.0 / m.interval_s), 4) AS estimated_share_7d
  FROM meter_status s
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id);
COMMENT ON VIEW v_meter_health IS
  'Meter health per meter channel as of its latest detection: status, last reading, open fault episodes and the share of the last 7 days'' slots that are estimates';
COMMENT ON COLUMN v_meter_health.meter_id IS 'Meter id';
COMMENT ON COLUMN v_meter_health.channel IS 'Channel name';
COMMENT ON COLUMN v_meter_health.status IS 'ok, faulty or offline (meter_status)';
COMMENT ON COLUMN v_meter_health.reason IS 'The fault kind when faulty or offline, NULL when ok';
COMMENT ON COLUMN v_meter_health.since IS 'Start of the current episode; when ok, the end of the last one (NULL if never faulty)';
COMMENT ON COLUMN v_meter_health.as_of IS 'End of the latest detection range the status reflects';
COMMENT ON COLUMN v_meter_health.last_reading_at IS 'Newest reading detection saw for the channel';
COMMENT ON COLUMN v_meter_health.open_faults IS 'Fault episodes still going (usage anomalies are not faults)';
COMMENT ON COLUMN v_meter_health.estimated_share_7d IS 'Estimated slots / all slots of the 7 days before as_of (0-1)';

CREATE VIEW v_peak_period AS
SELECT p.day, p.rank, p.period_start, p.period_end, p.demand_kw, p.meters_counted,
       y.meters_active, y.meters_active - p.meters_counted AS meters_excluded
  FROM peak_day p LEFT JOIN dq_day y USING (day);
COMMENT ON VIEW v_peak_period IS
  'The top 10 half-hours of fleet import demand of each UTC day refresh_results() computed (rank 1 = the highest)';
COMMENT ON COLUMN v_peak_period.day IS 'UTC date';
COMMENT ON COLUMN v_peak_period.rank IS 'Rank within the day, 1 = the highest demand';
COMMENT ON COLUMN v_peak_period.period_start IS 'Start of the half-hour (timestamptz)';
COMMENT ON COLUMN v_peak_period.period_end IS 'End of the half-hour (timestamptz)';
COMMENT ON COLUMN v_peak_period.demand_kw IS 'Fleet demand in kW: the sum over meters of their mean kW in the half-hour, estimates included';
COMMENT ON COLUMN v_peak_period.meters_counted IS 'Meters whose readings made the demand';
COMMENT ON COLUMN v_peak_period.meters_active IS 'Meters active that day (v_dq_day)';
COMMENT ON COLUMN v_peak_period.meters_excluded IS 'Active meters not counted: left out for a fault episode or a long gap that day, or without a reading in the half-hour';

CREATE VIEW v_daily_peak AS
SELECT p.day, p.period_start, p.period_end, p.demand_kw, p.meters_counted, p.meters_active, p.meters_excluded
  FROM v_peak_period p WHERE p.rank = 1;
COMMENT ON VIEW v_daily_peak IS 'Each UTC day''s highest half-hour of fleet import demand (rank 1 of v_peak_period)';
COMMENT ON COLUMN v_daily_peak.day IS 'UTC date';
COMMENT ON COLUMN v_daily_peak.period_start IS 'Start of the peak half-hour (timestamptz)';
COMMENT ON COLUMN v_daily_peak.period_end IS 'End of the peak half-hour (timestamptz)';
COMMENT ON COLUMN v_daily_peak.demand_kw IS 'Fleet demand in kW in that half-hour';
COMMENT ON COLUMN v_daily_peak.meters_counted IS 'Meters whose readings made the demand';
COMMENT ON COLUMN v_daily_peak.meters_active IS 'Meters active that day';
COMMENT ON COLUMN v_daily_peak.meters_excluded IS 'Active meters not counted (fault, long gap, no reading)';

SELECT pg_catalog.pg_extension_config_dump('ingest_day', '');
SELECT pg_catalog.pg_extension_config_dump('dq_day', '');
SELECT pg_catalog.pg_extension_config_dump('dq_file_day', '');
SELECT pg_catalog.pg_extension_config_dump('dq_meter_day', '');
SELECT pg_catalog.pg_extension_config_dump('peak_day', '');
