-- Rollups (issue 19): after every step of a sequence of ingests, late
-- files, detections, SQL changes and deletions, the rollups equal the
-- aggregate over reading (+ estimates) per meter-day, per hour, and the
-- fleet's demand equals peak_periods() computed from the readings.
-- The data are pseudo-random (setseed), so the expected output is fixed.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set SHOW_CONTEXT never
LOAD 'meter_etl';

-- a profile like generic whose local days are London's (DST on 2024-03-31)
INSERT INTO meter_etl.format_profile
SELECT (jsonb_populate_record(NULL::meter_etl.format_profile,
        to_jsonb(p) || '{"name": "generic_london", "time_zone": "Europe/London"}')).*
  FROM meter_etl.format_profile p WHERE p.name = 'generic';

-- Mismatches between the rollups and the truth computed from the store
-- (each count must be 0).  Fleet: the whole fleet's peak_periods from the
-- rollups against the same computed from the readings (meters => all);
-- fleet_from_rollups says how many of its two cases (exclude_flagged true
-- and false) the rollups answered (0 while a refresh is pending).
CREATE FUNCTION rollup_mismatch(OUT meter_days bigint, OUT hours bigint, OUT fleet bigint, OUT fleet_from_rollups bigint)
LANGUAGE sql AS $$
  WITH src AS (
    SELECT r.meter_key, r.channel_id, r.ts, r.kw, false AS est, r.flags & 6 <> 0 AS fl FROM meter_etl.reading r
    UNION ALL
    SELECT e.meter_key, e.channel_id, e.ts, e.kw, true, false FROM meter_etl.estimate e
     WHERE NOT EXISTS (SELECT 1 FROM meter_etl.reading a
                        WHERE a.meter_key = e.meter_key AND a.channel_id = e.channel_id AND a.ts = e.ts)
  ), t AS (
    SELECT s.meter_key, s.channel_id, (s.ts AT TIME ZONE coalesce(m.time_zone, 'UTC'))::date AS day,
           sum(s.kw) AS s, coalesce(sum(s.kw) FILTER (WHERE s.fl), 0) AS sf, max(s.kw) AS mx,
           count(*) FILTER (WHERE NOT s.est) AS n, count(*) FILTER (WHERE s.est) AS e,
           count(*) FILTER (WHERE s.fl) AS f
      FROM src s JOIN meter_etl.meter m USING (meter_key) GROUP BY 1, 2, 3
  ), r AS (
    SELECT meter_key, channel_id, day, sum(kw_sum) AS s, sum(kw_sum_flagged) AS sf, max(kw_max) AS mx,
           sum(readings) AS n, sum(estimated) AS e, sum(flagged) AS f
      FROM meter_etl.rollup_meter_day GROUP BY 1, 2, 3
  ), th AS (
    SELECT m.meter_id, c.name AS channel, date_trunc('hour', s.ts) AS h,
           sum(s.kw) * m.interval_s / 3600.0 AS kwh, max(s.kw) AS mx,
           count(*) FILTER (WHERE NOT s.est) AS n, count(*) FILTER (WHERE s.est) AS e,
           count(*) FILTER (WHERE s.fl) AS f
      FROM src s JOIN meter_etl.meter m USING (meter_key) JOIN meter_etl.channel c USING (channel_id)
     GROUP BY m.meter_id, m.interval_s, c.name, 3
  ), pk AS (
    SELECT b, ef,
           (SELECT array_agg(row(p.period_start, p.meters_counted, round(p.demand_kw::numeric, 9)) ORDER BY p.period_start)
              FROM meter_etl.peak_periods('2024-03-28', '2024-04-05', b, 1000, false, NULL, 'import', ef, 'Europe/London') p) AS roll,
           (SELECT array_agg(row(p.period_start, p.meters_counted, round(p.demand_kw::numeric, 9)) ORDER BY p.period_start)
              FROM meter_etl.peak_periods('2024-03-28', '2024-04-05', b, 1000, false,
                                          (SELECT array_agg(meter_id) FROM meter_etl.meter), 'import', ef, 'Europe/London') p) AS truth
      FROM (VALUES (interval '1 hour')) v(b), (VALUES (true), (false)) e(ef)
  )
  SELECT (SELECT count(*) FROM t FULL JOIN r USING (meter_key, channel_id, day)
           WHERE t.n IS DISTINCT FROM r.n OR t.e IS DISTINCT FROM r.e OR t.f IS DISTINCT FROM r.f
              OR t.mx IS DISTINCT FROM r.mx OR NOT abs(t.s - r.s) < 1e-6 OR NOT abs(t.sf - r.sf) < 1e-6),
         (SELECT count(*) FROM th FULL JOIN meter_etl.v_consumption_hour v
                 ON v.meter_id = th.meter_id AND v.channel = th.channel AND v.hour_start = th.h
           WHERE th.n IS DISTINCT FROM v.readings OR th.e IS DISTINCT FROM v.estimated
              OR th.f IS DISTINCT FROM v.flagged OR th.mx IS DISTINCT FROM v.max_kw
              OR NOT abs(th.kwh - v.energy_kwh) < 1e-6),
         (SELECT count(*) FROM pk WHERE pk.roll IS DISTINCT FROM pk.truth),
         (SELECT count(*) FROM pk
           WHERE meter_etl.rollup_answers('2024-03-28', '2024-04-05', pk.b, 'import', pk.ef, 'Europe/London'))
$$;

-- readings of meters R1..R6 at 15 minutes for local dates [d0, d0 + days),
-- in kW with 3 decimals; each slot kept with probability keep (gaps), a
-- spike now and then
CREATE FUNCTION fleet_csv(d0 date, days integer, keep double precision, meters text[])
RETURNS bytea LANGUAGE sql AS $$
  SELECT convert_to('meter_id,timestamp,value,unit' || E'\n' ||
                    string_agg(format('%s,%s,%s,kW', m, to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), v), E'\n'
                               ORDER BY m, ts) || E'\n', 'UTF8')
    FROM (SELECT m, ts,
                 CASE WHEN random() < 0.01 THEN 9.5
                      ELSE round((0.4 + 0.3 * sin(extract(epoch FROM ts) / 7200.0 + length(m)) + random() * 0.2)::numeric, 3)
                 END AS v
            FROM unnest(meters) AS m,
                 generate_series(d0::timestamp AT TIME ZONE 'Europe/London',
                                 (d0 + days)::timestamp AT TIME ZONE 'Europe/London' - interval '15 minutes',
                                 interval '15 minutes') AS ts
           WHERE random() < keep) x
$$;

SELECT setseed(0.19);
-- 1. six meters, 2024-03-29 .. 2024-04-01 (the 31st has 23 hours), gaps
SELECT meter_etl.stage('a.csv', fleet_csv('2024-03-29', 4, 0.97, '{R1,R2,R3,R4,R5,R6}')) AS a \gset
SELECT rows_clean > 2000 AS stored FROM meter_etl.ingest(:a, 'generic_london');
SELECT count(*) AS delta_rows, count(DISTINCT (meter_key, day)) AS meter_days FROM meter_etl.rollup_meter_day;
SELECT day, cardinality(hour_kw_sum) AS slots, count(*) FROM meter_etl.rollup_meter_day GROUP BY 1, 2 ORDER BY 1;
SELECT * FROM rollup_mismatch();             -- fleet: dirty, so peak_periods reads the readings
SELECT meter_days, fleet_days FROM meter_etl.rollup_refresh();
SELECT * FROM rollup_mismatch();

-- 2. detection: flags and estimates reach the rollups (detect refreshes)
SELECT flags_changed > 0 AS flagged, estimates_written > 0 AS estimated
  FROM meter_etl.detect('2024-03-28', '2024-04-03');
SELECT sum(estimated) > 0 AS estimates, sum(flagged) > 0 AS flags FROM meter_etl.rollup_meter_day;
SELECT * FROM rollup_mismatch();

-- 3. a late file: the gaps' slots of R1..R3 (some were estimated), a new
-- day, two repeats; two files' deltas for the same meter-days until merged
SELECT meter_etl.stage('b.csv', fleet_csv('2024-03-30', 3, 0.5, '{R1,R2,R3}')) AS b \gset
SELECT rows_clean > 0 AS stored, rows_duplicate > 0 AS repeats FROM meter_etl.ingest(:b, 'generic_london');
SELECT count(*) > 0 AS pending_recompute FROM meter_etl.rollup_change;
SELECT * FROM meter_etl.detect('2024-03-28', '2024-04-03') \gset
SELECT * FROM rollup_mismatch();
SELECT count(*) = count(DISTINCT (meter_key, channel_id, day)) AS merged FROM meter_etl.rollup_meter_day;

-- 4. a meter delivered in another zone's profile: recomputed in its own
SELECT meter_etl.stage('c.csv', fleet_csv('2024-04-02', 1, 1, '{R4,R7}')) AS c \gset
SELECT rows_clean > 0 AS stored FROM meter_etl.ingest(:c, 'generic');
SELECT meter_id, time_zone FROM meter_etl.meter WHERE meter_id IN ('R4', 'R7') ORDER BY 1;
SELECT meter_days > 0 AS recomputed FROM meter_etl.rollup_refresh();
SELECT * FROM rollup_mismatch();

-- 5. SQL changes: an UPDATE, a DELETE, an INSERT through the guard trigger
UPDATE meter_etl.reading SET kw = kw * 2
 WHERE meter_key = (SELECT meter_key FROM meter_etl.meter WHERE meter_id = 'R2')
   AND ts >= '2024-03-30 10:00+00' AND ts < '2024-03-30 14:00+00';
DELETE FROM meter_etl.reading
 WHERE meter_key = (SELECT meter_key FROM meter_etl.meter WHERE meter_id = 'R5') AND ts < '2024-03-30 00:00+00';
INSERT INTO meter_etl.reading (ts, kw, meter_key, channel_id)
SELECT ts, 1.5, (SELECT meter_key FROM meter_etl.meter WHERE meter_id = 'R6'), 1
  FROM generate_series(timestamptz '2024-04-03 00:00+00', '2024-04-03 05:45+00', '15 minutes') ts;
SELECT count(*) AS changed_meter_days FROM meter_etl.rollup_change;
SELECT * FROM meter_etl.rollup_refresh();
SELECT * FROM rollup_mismatch();

-- 6. reingest of file a (its readings removed and stored again)
SELECT status FROM meter_etl.reingest(:a, 'generic_london');
SELECT * FROM meter_etl.detect('2024-03-28', '2024-04-04') \gset
SELECT * FROM rollup_mismatch();

-- 7. a full rebuild stores what the increments stored
CREATE TEMP TABLE before AS
SELECT meter_key, channel_id, day, kw_sum, readings, estimated, flagged, hour_kw_sum, hour_readings
  FROM meter_etl.rollup_meter_day;
CREATE TEMP TABLE fleet_before AS SELECT * FROM meter_etl.rollup_fleet_hour;
SELECT meter_days > 0 AS rebuilt, fleet_days > 0 AS fleet_rebuilt FROM meter_etl.rollup_rebuild('2024-03-20', '2024-04-10');
SELECT count(*) AS differing_meter_days
  FROM before b FULL JOIN meter_etl.rollup_meter_day r USING (meter_key, channel_id, day)
 WHERE b.readings IS DISTINCT FROM r.readings OR b.estimated IS DISTINCT FROM r.estimated
    OR b.flagged IS DISTINCT FROM r.flagged OR b.hour_readings IS DISTINCT FROM r.hour_readings
    OR NOT abs(b.kw_sum - r.kw_sum) < 1e-9;
SELECT count(*) AS differing_fleet_hours
  FROM fleet_before b FULL JOIN meter_etl.rollup_fleet_hour r USING (time_zone, channel_id, hour_ts)
 WHERE b.meters IS DISTINCT FROM r.meters OR b.meters_clean IS DISTINCT FROM r.meters_clean
    OR NOT abs(b.demand_kw - r.demand_kw) < 1e-9 OR NOT abs(b.demand_kw_clean - r.demand_kw_clean) < 1e-9;
SELECT * FROM rollup_mismatch();

-- the views: a day, a month, the fleet, per interval
SELECT meter_id, local_date, round(energy_kwh::numeric, 3) = round((SELECT sum(energy_kwh) FROM meter_etl.v_consumption_hour h
                                                 WHERE h.meter_id = d.meter_id AND h.local_date = d.local_date)::numeric, 3) AS hours_add_up,
       expected, readings + estimated <= expected AS within
  FROM meter_etl.v_consumption_day d WHERE meter_id = 'R1' ORDER BY local_date;
SELECT meter_id, month, days FROM meter_etl.v_consumption_month WHERE meter_id = 'R1' ORDER BY month;
SELECT round(sum(energy_kwh)::numeric, 6) = round((SELECT sum(energy_kwh) FROM meter_etl.v_consumption_day)::numeric, 6) AS fleet_energy_adds_up
  FROM meter_etl.v_fleet_energy_day;
SELECT round(sum(load_kw)::numeric, 6) = round((SELECT sum(kw) FROM meter_etl.v_reading_filled
                                                 WHERE ts >= '2024-03-31 00:00+00' AND ts < '2024-03-31 01:00+00')::numeric, 6) AS interval_load
  FROM meter_etl.v_fleet_load_interval WHERE interval_start >= '2024-03-31 00:00+00' AND interval_start < '2024-03-31 01:00+00';
-- when the rollups answer peak_periods: hours of whole-hour zones (for
-- exclude_flagged, all meters in the caller's zone: R7 is UTC), days of UTC
-- meters only (date_bin's days are UTC days), ranges on bucket boundaries
SELECT meter_etl.rollup_answers('2024-03-28', '2024-04-05', '1 day', 'import', false, 'UTC') AS day_buckets_from_rollups,
       meter_etl.rollup_answers('2024-03-28', '2024-04-05', '1 hour', 'import', false, 'Europe/London') AS hours_all,
       meter_etl.rollup_answers('2024-03-28', '2024-04-05', '1 hour', 'import', true, 'Europe/London') AS hours_london_excluding,
       meter_etl.rollup_answers('2024-03-28', '2024-04-05', '1 hour', 'import', true, 'UTC') AS hours_utc_excluding,
       meter_etl.rollup_answers('2024-03-28 00:30+00', '2024-04-05', '1 hour', 'import', false, 'UTC') AS off_boundary,
       meter_etl.rollup_answers('2024-03-28', '2024-04-05', '30 minutes', 'import', false, 'UTC') AS half_hours;

-- refusals
SELECT * FROM meter_etl.rollup_rebuild(NULL, '2024-04-01');
SELECT * FROM meter_etl.rollup_rebuild('2024-04-02', '2024-04-01');

-- energy by time-of-use period: each hour mapped as tou_period_of() maps
-- it (a holiday is a Sunday: no peak on Easter Monday)
INSERT INTO meter_etl.tou_tariff (tariff, default_period) VALUES ('home', 'off_peak');
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES
 ('home', 'peak', '{1,2,3,4,5}', '16:00', '20:00'), ('home', 'night', '{1,2,3,4,5,6,7}', '23:00', '06:00');
INSERT INTO meter_etl.holiday VALUES ('Europe/London', '2024-04-01', 'Easter Monday');
SELECT local_date, period, hours, round(energy_kwh::numeric, 3) AS energy_kwh
  FROM meter_etl.v_energy_tou_day WHERE tariff = 'home' AND meter_id = 'R1' ORDER BY local_date, period;
SELECT count(*) AS tou_mismatches
  FROM (SELECT h.meter_id, h.local_date, meter_etl.tou_period_of('home', 'Europe/London', h.hour_start) AS p,
               sum(h.energy_kwh) AS e
          FROM meter_etl.v_consumption_hour h WHERE h.meter_id IN ('R1', 'R2', 'R3') GROUP BY 1, 2, 3) a
  FULL JOIN (SELECT * FROM meter_etl.v_energy_tou_day WHERE tariff = 'home' AND meter_id IN ('R1', 'R2', 'R3')) b
    ON a.meter_id = b.meter_id AND a.local_date = b.local_date AND a.p = b.period
 WHERE (abs(a.e - b.energy_kwh) < 1e-9) IS NOT TRUE;
SELECT abs(sum(energy_kwh) FILTER (WHERE tariff = 'home') - (SELECT sum(energy_kwh) FROM meter_etl.v_consumption_hour)) < 1e-9 AS periods_add_up
  FROM meter_etl.v_energy_tou_day;
