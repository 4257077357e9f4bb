-- The calendar per zone and time-of-use periods (issue 19): DST days,
-- holidays users add, seasons by hemisphere, a tariff's periods (no
-- overlaps, wraps past midnight, a default period) and their errors.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- ---------------------------------------------------------------- calendar
-- DST in London: 31 March 2024 has 23 hours, 27 October 25; the hours are
-- the day's real hours (01:00 is skipped in spring, repeated in autumn)
SELECT local_date, hours, weekday, weekend, iso_week, iso_year, month, quarter, season,
       day_start, day_end
  FROM meter_etl.calendar_days('Europe/London', '2024-03-30', '2024-04-01');
SELECT local_date, count(*) AS hours, min(day_hours) AS day_hours,
       string_agg(local_hour::text, ',' ORDER BY hour_start) AS local_hours
  FROM meter_etl.calendar('Europe/London', '2024-03-31', '2024-03-31') GROUP BY 1;
SELECT hour_start, local_hour, utc_offset
  FROM meter_etl.calendar('Europe/London', '2024-10-27', '2024-10-27') WHERE local_hour BETWEEN 0 AND 2;
SELECT count(*) AS hours FROM meter_etl.calendar('Europe/London', '2024-10-27', '2024-10-27');
-- ISO weeks and years around New Year: 30 Dec 2024 is in week 1 of 2025
SELECT local_date, weekday, iso_week, iso_year
  FROM meter_etl.calendar_days('UTC', '2024-12-29', '2025-01-01');
-- meteorological seasons, by hemisphere (Brisbane ships as southern)
SELECT time_zone, hemisphere FROM meter_etl.calendar_zone;
SELECT m, (SELECT season FROM meter_etl.calendar('Europe/Paris', make_date(2024, m, 15), make_date(2024, m, 15)) LIMIT 1) AS north,
          (SELECT season FROM meter_etl.calendar('Australia/Brisbane', make_date(2024, m, 15), make_date(2024, m, 15)) LIMIT 1) AS south
  FROM generate_series(1, 12) m;
-- holidays are the users' own (none ship); a holiday shows in the calendar
SELECT count(*) AS shipped_holidays FROM meter_etl.holiday;
INSERT INTO meter_etl.holiday VALUES ('Europe/London', '2024-12-25', 'Christmas Day');
SELECT DISTINCT local_date, holiday FROM meter_etl.calendar('Europe/London', '2024-12-24', '2024-12-26') ORDER BY 1;
-- zones and names are checked when stored
\set VERBOSITY terse
INSERT INTO meter_etl.holiday VALUES ('Mars/Olympus', '2024-12-25', 'x');
INSERT INTO meter_etl.holiday VALUES ('Europe/London', '2024-12-26', ' ');
INSERT INTO meter_etl.calendar_zone VALUES ('Europe/London', 'east');
-- argument checks
SELECT * FROM meter_etl.calendar('Europe/London', '2024-02-01', '2024-01-01');
SELECT * FROM meter_etl.calendar('Mars/Olympus', '2024-01-01', '2024-01-01');
SELECT * FROM meter_etl.calendar(NULL, '2024-01-01', '2024-01-01');
SELECT * FROM meter_etl.calendar_days('UTC', '2024-01-01', '2024-01-01', 'west');
SELECT * FROM meter_etl.calendar_days('UTC', '1900-01-01', '2024-01-01');
\set VERBOSITY default

-- v_calendar: the store's days in each zone the meters use
SELECT meter_etl.create_partitions('2024-03-30', '2024-03-31');
INSERT INTO meter_etl.meter (meter_id, interval_s, time_zone) VALUES ('L1', 1800, 'Europe/London'), ('U1', 900, NULL);
SELECT time_zone, local_date, hours, weekday, weekend, season, is_holiday
  FROM meter_etl.v_calendar ORDER BY 1, 2;

-- ---------------------------------------------------------------- time of use
-- weekdays: peak 16:00-20:00, shoulder 07:00-16:00 and 20:00-22:00, off_peak
-- 22:00-07:00 (wrapping past midnight); weekends and holidays: off_peak
-- all day by the default period
INSERT INTO meter_etl.tou_tariff (tariff, default_period) VALUES ('home', 'off_peak');
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES
 ('home', 'peak',     '{1,2,3,4,5}', '16:00', '20:00'),
 ('home', 'shoulder', '{1,2,3,4,5}', '07:00', '16:00'),
 ('home', 'shoulder', '{1,2,3,4,5}', '20:00', '22:00'),
 ('home', 'off_peak', '{1,2,3,4,5}', '22:00', '07:00');
SELECT tariff, period, days, start_time, end_time, wraps_midnight, default_period
  FROM meter_etl.v_tou_period ORDER BY start_time;
-- every local hour maps to one period: a Friday, then the weekend (Friday's
-- off_peak wraps into Saturday until 07:00; after that the default)
SELECT local_date, weekday, string_agg(local_hour || '=' || left(period, 2), ' ' ORDER BY hour_start) AS hours
  FROM meter_etl.tou_calendar('home', 'Europe/London', '2024-03-29', '2024-03-31') GROUP BY 1, 2 ORDER BY 1;
-- the DST days: 23 and 25 hours, each with its period
SELECT local_date, period, count(*) AS hours
  FROM meter_etl.tou_calendar('home', 'Europe/London', '2024-03-31', '2024-04-01') GROUP BY 1, 2 ORDER BY 1, 2;
SELECT local_date, count(*) AS hours, count(*) FILTER (WHERE period = 'off_peak') AS off_peak
  FROM meter_etl.tou_calendar('home', 'Europe/London', '2024-10-27', '2024-10-28') GROUP BY 1 ORDER BY 1;
-- by instant, in the zone's local time: 16:30 UTC is 17:30 BST on Monday 1 April
SELECT meter_etl.tou_period_of('home', 'Europe/London', '2024-04-01 16:30+00') AS bst,
       meter_etl.tou_period_of('home', 'UTC', '2024-04-01 16:30+00') AS utc,
       meter_etl.tou_period_of('home', 'Europe/London', '2024-04-01 06:59:59+01') AS before_7,
       meter_etl.tou_period_of('home', 'Europe/London', '2024-04-01 07:00+01') AS at_7;
-- a holiday counts as a Sunday (Christmas 2024 is a Wednesday), unless the tariff says not
SELECT meter_etl.tou_period_of('home', 'Europe/London', '2024-12-25 17:00+00') AS christmas,
       meter_etl.tou_period_of('home', 'Europe/London', '2024-12-24 17:00+00') AS eve,
       meter_etl.tou_period_of('home', 'Europe/London', '2024-12-25 08:00+00') AS christmas_morning;
UPDATE meter_etl.tou_tariff SET holidays_as_weekend = false WHERE tariff = 'home';
SELECT meter_etl.tou_period_of('home', 'Europe/London', '2024-12-25 17:00+00') AS christmas_weekday;
-- validity: a new peak from 1 June (the old one ends there), no overlap
UPDATE meter_etl.tou_period SET valid_to = '2024-06-01' WHERE tariff = 'home' AND period = 'peak';
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time, valid_from)
VALUES ('home', 'peak', '{1,2,3,4,5}', '16:00', '20:00', '2024-06-01');
UPDATE meter_etl.tou_period SET period = 'super_peak' WHERE valid_from = '2024-06-01';
SELECT meter_etl.tou_period_of('home', 'UTC', '2024-05-31 17:00+00') AS may, meter_etl.tou_period_of('home', 'UTC', '2024-06-03 17:00+00') AS june;
-- refused: overlaps (the same day and time, Saturday morning that Friday's
-- wrap covers, Sunday's wrap into Monday morning), bad days, an empty period
\set VERBOSITY terse
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES ('home', 'x', '{3}', '19:00', '21:00');
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES ('home', 'x', '{6}', '05:00', '06:00');
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES ('home', 'x', '{7}', '23:00', '07:30');
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES ('home', 'x', '{6,8}', '10:00', '11:00');
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES ('home', 'x', '{}', '10:00', '11:00');
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES ('home', 'x', '{6}', '10:00', '10:00');
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES ('nope', 'x', '{6}', '10:00', '11:00');
-- allowed: Saturday morning, right where Friday's wrap ends, until midnight;
-- with another default period, what comes from the wrap and what from the
-- default tell apart
INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES ('home', 'weekend', '{6}', '07:00', '24:00');
UPDATE meter_etl.tou_tariff SET default_period = 'base' WHERE tariff = 'home';
SELECT meter_etl.tou_period_of('home', 'UTC', '2024-03-30 06:59+00') AS sat_early,
       meter_etl.tou_period_of('home', 'UTC', '2024-03-30 23:59+00') AS sat_late,
       meter_etl.tou_period_of('home', 'UTC', '2024-03-31 00:00+00') AS sun_midnight;
-- argument checks
SELECT meter_etl.tou_period_of('nope', 'UTC', now());
SELECT meter_etl.tou_period_of('home', 'Mars/Olympus', now());
SELECT meter_etl.tou_period_of('home', NULL, now());
SELECT * FROM meter_etl.tou_calendar('nope', 'UTC', '2024-01-01', '2024-01-01');
SELECT * FROM meter_etl.tou_calendar('home', 'UTC', '2024-01-02', '2024-01-01');
\set VERBOSITY default
