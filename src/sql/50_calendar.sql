
-- ======================================================================
-- Enrichment (issue 19): the calendar per zone and time-of-use periods
-- ======================================================================
-- Public holidays are the users' to fill (none are shipped: no source
-- this extension could cite covers every zone).  Seasons are
-- meteorological (whole months: Dec-Feb winter in the northern
-- hemisphere, summer in the southern); a zone is northern unless
-- calendar_zone says otherwise.

CREATE TABLE holiday (
    time_zone text NOT NULL
              CHECK (pg_catalog.timezone(time_zone, timestamptz '2000-01-01 00:00:00+00') IS NOT NULL),
    day       date NOT NULL,
    name      text NOT NULL CHECK (pg_catalog.btrim(name) <> ''),
    PRIMARY KEY (time_zone, day)
);
COMMENT ON TABLE holiday IS
  'Public holidays per time zone (the zone stands for its region), filled by users: meter_etl ships none';
COMMENT ON COLUMN holiday.time_zone IS 'IANA time zone the holiday applies to, as meter.time_zone names it (an unrecognized zone is refused)';
COMMENT ON COLUMN holiday.day IS 'Local date of the holiday';

CREATE TABLE calendar_zone (
    time_zone  text PRIMARY KEY
               CHECK (pg_catalog.timezone(time_zone, timestamptz '2000-01-01 00:00:00+00') IS NOT NULL),
    hemisphere text NOT NULL CHECK (hemisphere IN ('north', 'south'))
);
COMMENT ON TABLE calendar_zone IS
  'The hemisphere of a time zone for the seasons of the calendar; a zone not listed is northern. Ships the southern zone of the built-in profiles (Australia/Brisbane)';
INSERT INTO calendar_zone VALUES ('Australia/Brisbane', 'south');

-- The calendar's attributes of local dates: one place for the views and
-- the functions below.  Reads no table.
CREATE FUNCTION calendar_days(time_zone text, from_date date, to_date date, hemisphere text DEFAULT 'north')
RETURNS TABLE (local_date date, day_start timestamptz, day_end timestamptz, hours integer,
               weekday integer, weekend boolean, iso_week integer, iso_year integer,
               month integer, quarter integer, season text)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
  IF calendar_days.time_zone IS NULL OR calendar_days.from_date IS NULL OR calendar_days.to_date IS NULL
     OR calendar_days.hemisphere IS NULL THEN
    RAISE EXCEPTION 'time_zone, from_date, to_date and hemisphere must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  ELSIF calendar_days.from_date > calendar_days.to_date THEN
    RAISE EXCEPTION 'from_date must not be later than to_date' USING ERRCODE = 'invalid_parameter_value';
  ELSIF calendar_days.to_date - calendar_days.from_date > 36600 THEN
    RAISE EXCEPTION 'refusing a calendar of % days', calendar_days.to_date - calendar_days.from_date + 1
      USING ERRCODE = 'program_limit_exceeded', HINT = 'Ask for at most 100 years at a time.';
  ELSIF calendar_days.hemisphere NOT IN ('north', 'south') THEN
    RAISE EXCEPTION 'unrecognized hemisphere "%"', calendar_days.hemisphere
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use north or south.';
  END IF;
  -- an unrecognized zone raises its own error here (22023)
  PERFORM pg_catalog.timezone(calendar_days.time_zone, pg_catalog.now());
  RETURN QUERY
  SELECT d.d, d.s, d.e, (extract(epoch FROM d.e - d.s) / 3600)::integer,
         extract(isodow FROM d.d)::integer, extract(isodow FROM d.d) >= 6,
         extract(week FROM d.d)::integer, extract(isoyear FROM d.d)::integer,
         extract(month FROM d.d)::integer, extract(quarter FROM d.d)::integer,
         (CASE WHEN calendar_days.hemisphere = 'north'
               THEN ARRAY['winter', 'spring', 'summer', 'autumn']
               ELSE ARRAY['summer', 'autumn', 'winter', 'spring'] END)
           [(extract(month FROM d.d)::integer % 12) / 3 + 1]
    FROM (SELECT g::date AS d,
                 g::date::timestamp AT TIME ZONE calendar_days.time_zone AS s,
                 (g::date + 1)::timestamp AT TIME ZONE calendar_days.time_zone AS e
            FROM pg_catalog.generate_series(calendar_days.from_date::timestamp, calendar_days.to_date::timestamp,
                                            interval '1 day') AS g) d
   ORDER BY d.d;
END
$$;
COMMENT ON FUNCTION calendar_days(text, date, date, text) IS
  'Calendar attributes of the local dates [from_date, to_date] of a time zone: the day''s UTC start and end and its length in hours (23 or 25 on DST days), ISO weekday (1 = Monday) and weekend (Saturday, Sunday), ISO week and year, month, quarter and meteorological season of the hemisphere. Reads no table';

CREATE FUNCTION calendar(time_zone text, from_date date, to_date date)
RETURNS TABLE (hour_start timestamptz, hour_end timestamptz, local_date date, local_hour integer,
               utc_offset interval, weekday integer, weekend boolean, iso_week integer, iso_year integer,
               month integer, quarter integer, season text, holiday text, day_hours integer)
LANGUAGE sql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
  SELECT h, h + interval '1 hour', c.local_date, extract(hour FROM h AT TIME ZONE calendar.time_zone)::integer,
         (h AT TIME ZONE calendar.time_zone) - (h AT TIME ZONE 'UTC'),
         c.weekday, c.weekend, c.iso_week, c.iso_year, c.month, c.quarter, c.season, hd.name, c.hours
    FROM meter_etl.calendar_days(calendar.time_zone, calendar.from_date, calendar.to_date,
                                 coalesce((SELECT z.hemisphere FROM meter_etl.calendar_zone z
                                            WHERE z.time_zone = calendar.time_zone), 'north')) c
   CROSS JOIN LATERAL pg_catalog.generate_series(c.day_start, c.day_end - interval '1 hour', interval '1 hour') AS h
    LEFT JOIN meter_etl.holiday hd ON hd.time_zone = calendar.time_zone AND hd.day = c.local_date
   ORDER BY h
$$;
COMMENT ON FUNCTION calendar(text, date, date) IS
  'One row per hour of the local dates [from_date, to_date] of a time zone, DST-correct (23 rows on the spring day, 25 on the autumn day, the repeated hour twice with its two offsets): local date and hour, UTC offset, ISO weekday, weekend, ISO week and year, month, quarter, meteorological season (hemisphere from calendar_zone), holiday name (from holiday) and the day''s length in hours. Hours are UTC hours: in a zone whose offset is not whole hours they start at :30 or :45 local';

-- The calendar dimension for BI: every local date of the store (its
-- partitions, a day either side for the zones' offsets) in each zone the
-- meters use.
CREATE VIEW v_calendar AS
SELECT z.time_zone, c.local_date, c.day_start, c.day_end, c.hours, c.weekday, c.weekend,
       c.iso_week, c.iso_year, c.month, c.quarter, c.season, h.name AS holiday, h.name IS NOT NULL AS is_holiday
  FROM (SELECT DISTINCT coalesce(m.time_zone, 'UTC') AS time_zone FROM meter m) z
 CROSS JOIN (SELECT min(p.day) - 1 AS lo, max(p.day) + 1 AS hi FROM reading_partition p
             HAVING min(p.day) IS NOT NULL) r
 CROSS JOIN LATERAL calendar_days(z.time_zone, r.lo, r.hi,
                                  coalesce((SELECT cz.hemisphere FROM calendar_zone cz
                                             WHERE cz.time_zone = z.time_zone), 'north')) c
  LEFT JOIN holiday h ON h.time_zone = z.time_zone AND h.day = c.local_date;
COMMENT ON VIEW v_calendar IS
  'Calendar dimension: one row per local date and time zone the meters use (a meter without a zone counts as UTC), over the days the store holds (its daily partitions, a day either side); DST days have 23 or 25 hours';
COMMENT ON COLUMN v_calendar.time_zone IS 'IANA time zone (meter.time_zone; UTC for meters without one)';
COMMENT ON COLUMN v_calendar.local_date IS 'The local date';
COMMENT ON COLUMN v_calendar.day_start IS 'Local midnight starting the date, as a UTC instant (timestamptz)';
COMMENT ON COLUMN v_calendar.day_end IS 'Local midnight ending the date, as a UTC instant (timestamptz)';
COMMENT ON COLUMN v_calendar.hours IS 'Length of the local day in hours: 24, 23 on the day clocks go forward, 25 on the day they go back';
COMMENT ON COLUMN v_calendar.weekday IS 'ISO weekday: 1 = Monday ... 7 = Sunday';
COMMENT ON COLUMN v_calendar.weekend IS 'Saturday or Sunday (holidays are in is_holiday)';
COMMENT ON COLUMN v_calendar.iso_week IS 'ISO 8601 week number (1-53), of iso_year';
COMMENT ON COLUMN v_calendar.iso_year IS 'ISO 8601 week-numbering year (differs from the calendar year around 1 January)';
COMMENT ON COLUMN v_calendar.month IS 'Month, 1-12';
COMMENT ON COLUMN v_calendar.quarter IS 'Calendar quarter, 1-4';
COMMENT ON COLUMN v_calendar.season IS 'Meteorological season (whole months; December-February is winter in the north, summer in the south; hemisphere from calendar_zone, north by default)';
COMMENT ON COLUMN v_calendar.holiday IS 'Name of the public holiday on this date (meter_etl.holiday), NULL if none';
COMMENT ON COLUMN v_calendar.is_holiday IS 'Whether holiday names one';

-- ----------------------------------------------------------------------
-- Time-of-use periods
-- ----------------------------------------------------------------------

CREATE TABLE tou_tariff (
    tariff              text PRIMARY KEY CHECK (pg_catalog.btrim(tariff) <> ''),
    default_period      text NOT NULL CHECK (pg_catalog.btrim(default_period) <> ''),
    holidays_as_weekend boolean NOT NULL DEFAULT true,
    description         text
);
COMMENT ON TABLE tou_tariff IS
  'Time-of-use tariffs: the period of an hour no tou_period row covers is default_period; with holidays_as_weekend, a holiday of the zone (meter_etl.holiday) counts as a Sunday';

CREATE TABLE tou_period (
    tariff     text NOT NULL REFERENCES tou_tariff ON UPDATE CASCADE ON DELETE CASCADE,
    period     text NOT NULL CHECK (pg_catalog.btrim(period) <> ''),
    days       integer[] NOT NULL
               CHECK (pg_catalog.cardinality(days) BETWEEN 1 AND 7 AND pg_catalog.array_position(days, NULL) IS NULL
                      AND days <@ '{1,2,3,4,5,6,7}'::integer[]),
    start_time time NOT NULL,
    end_time   time NOT NULL CHECK (end_time <> start_time),
    valid_from date NOT NULL DEFAULT '-infinity',
    valid_to   date CHECK (valid_to > valid_from),
    PRIMARY KEY (tariff, period, days, start_time, valid_from)
);
COMMENT ON TABLE tou_period IS
  'Time-of-use periods of a tariff: on the ISO weekdays in days (1 = Monday), local time [start_time, end_time); an end_time before start_time wraps past midnight into the next day (days names the day it starts); 24:00 ends at midnight. Valid for local dates [valid_from, valid_to) (NULL: open). Two periods of a tariff may not cover the same weekday and time while both are valid (a trigger refuses it)';
COMMENT ON COLUMN tou_period.days IS 'ISO weekdays the period starts on: 1 = Monday ... 7 = Sunday (a holiday counts as 7 when the tariff says holidays_as_weekend)';
COMMENT ON COLUMN tou_period.valid_to IS 'First local date the period no longer applies (exclusive); NULL = open-ended';

-- Overlap: the minutes of the ISO week each row covers, as ranges (a wrap
-- past midnight continues into the next day, Sunday's into Monday's).
CREATE FUNCTION tou_period_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_other record;
BEGIN
  -- one writer per tariff at a time, so that two inserts cannot both pass
  PERFORM 1 FROM meter_etl.tou_tariff t WHERE t.tariff = NEW.tariff FOR UPDATE;
  SELECT p.period, p.days, p.start_time, p.end_time INTO v_other
    FROM meter_etl.tou_period p
   WHERE p.tariff = NEW.tariff
     AND (p.period, p.days, p.start_time, p.valid_from) IS DISTINCT FROM (NEW.period, NEW.days, NEW.start_time, NEW.valid_from)
     AND daterange(p.valid_from, p.valid_to) && daterange(NEW.valid_from, NEW.valid_to)
     AND EXISTS (
       WITH rows AS (
         SELECT 0 AS w, NEW.days AS days, NEW.start_time AS s, NEW.end_time AS e
         UNION ALL SELECT 1, p.days, p.start_time, p.end_time
       ), spans AS (   -- minutes of the week, a wrap adding a day
         SELECT r.w, (d - 1) * 1440 + (extract(epoch FROM r.s) / 60)::integer AS lo,
                (d - 1) * 1440 + (extract(epoch FROM r.e) / 60)::integer
                  + CASE WHEN r.e < r.s THEN 1440 ELSE 0 END AS hi
           FROM rows r, unnest(r.days) AS d
       ), ranges AS (  -- past the end of Sunday: again from Monday
         SELECT w, int4range(lo, least(hi, 10080)) AS m FROM spans
         UNION ALL SELECT w, int4range(0, hi - 10080) FROM spans WHERE hi > 10080
       )
       SELECT 1 FROM ranges a JOIN ranges b ON a.w = 0 AND b.w = 1 AND a.m && b.m)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'time-of-use period "%" of tariff "%" overlaps period "%"', NEW.period, NEW.tariff, v_other.period
      USING ERRCODE = 'exclusion_violation',
            DETAIL = pg_catalog.format('Both cover some of the same weekdays and times while both are valid (%s %s-%s against %s %s-%s).',
                                       NEW.days, NEW.start_time, NEW.end_time, v_other.days, v_other.start_time, v_other.end_time),
            HINT = 'Every local time maps to one period: end one where the other starts, or split their validity.';
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tou_period_check() IS
  'Constraint trigger on tou_period: refuses a period that covers a weekday and time another period of its tariff covers while both are valid';

CREATE CONSTRAINT TRIGGER tou_period_no_overlap AFTER INSERT OR UPDATE ON tou_period
  FOR EACH ROW EXECUTE FUNCTION tou_period_check();

-- The choice itself, on rows given: one place for tou_period_of() and the
-- view of energy by period (which reads the periods as its owner, so a
-- reader needs no table).
CREATE FUNCTION tou_period_pick(periods tou_period[], default_period text, day date, local_time time,
                                dow integer, prev_dow integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  -- periods may be NULL (a tariff without periods: its default applies)
  IF tou_period_pick.default_period IS NULL OR tou_period_pick.day IS NULL OR tou_period_pick.local_time IS NULL
     OR tou_period_pick.dow IS NULL OR tou_period_pick.prev_dow IS NULL THEN
    RAISE EXCEPTION 'default_period, day, local_time, dow and prev_dow must not be null'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  RETURN (SELECT coalesce((SELECT p.period
                       FROM unnest(tou_period_pick.periods) AS p
                      WHERE (tou_period_pick.dow = ANY (p.days) AND daterange(p.valid_from, p.valid_to) @> tou_period_pick.day
                             AND tou_period_pick.local_time >= p.start_time
                             AND (p.end_time < p.start_time OR tou_period_pick.local_time < p.end_time))
                         OR (p.end_time < p.start_time AND tou_period_pick.local_time < p.end_time
                             AND tou_period_pick.prev_dow = ANY (p.days)
                             AND daterange(p.valid_from, p.valid_to) @> tou_period_pick.day - 1)
                      ORDER BY p.period
                      LIMIT 1),
                    tou_period_pick.default_period));
END
$$;
COMMENT ON FUNCTION tou_period_pick(tou_period[], text, date, time, integer, integer) IS
  'The period among a tariff''s periods at a local date and time whose ISO weekday is dow (prev_dow: the day before''s; 7 on holidays when the tariff says so), else default_period: what tou_period_of() answers';

CREATE FUNCTION tou_period_of(tariff text, time_zone text, ts timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_tariff meter_etl.tou_tariff;
  v_local  timestamp;
  v_day    date;
  v_time   time;
  v_dow    integer;
  v_prev   integer;
  v_period text;
BEGIN
  IF tou_period_of.tariff IS NULL OR tou_period_of.time_zone IS NULL OR tou_period_of.ts IS NULL THEN
    RAISE EXCEPTION 'tariff, time_zone and ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT * INTO v_tariff FROM meter_etl.tou_tariff t WHERE t.tariff = tou_period_of.tariff;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unrecognized tariff "%"', tou_period_of.tariff
      USING ERRCODE = 'invalid_parameter_value', HINT = 'meter_etl.tou_tariff lists the tariffs.';
  END IF;
  v_local := tou_period_of.ts AT TIME ZONE tou_period_of.time_zone;   -- 22023 for an unrecognized zone
  v_day := v_local::date;
  v_time := v_local::time;
  -- the weekday of the date and of the day before (a period may wrap into
  -- this one); a holiday counts as a Sunday when the tariff says so
  SELECT max(g.dow) FILTER (WHERE g.d = v_day), max(g.dow) FILTER (WHERE g.d = v_day - 1)
    INTO v_dow, v_prev
    FROM (SELECT x.d, CASE WHEN v_tariff.holidays_as_weekend AND h.day IS NOT NULL THEN 7
                           ELSE extract(isodow FROM x.d)::integer END AS dow
            FROM unnest(ARRAY[v_day, v_day - 1]) AS x(d)
            LEFT JOIN meter_etl.holiday h ON h.time_zone = tou_period_of.time_zone AND h.day = x.d) g;
  SELECT meter_etl.tou_period_pick(array_agg(p), v_tariff.default_period, v_day, v_time, v_dow, v_prev)
    INTO v_period
    FROM meter_etl.tou_period p WHERE p.tariff = v_tariff.tariff;
  RETURN v_period;
END
$$;
COMMENT ON FUNCTION tou_period_of(text, text, timestamptz) IS
  'The time-of-use period of a tariff at an instant, by the local time of the zone: the period covering that weekday and time (a holiday is a Sunday for tariffs with holidays_as_weekend; a period wrapping past midnight counts from the day it starts), else the tariff''s default_period';

CREATE FUNCTION tou_calendar(tariff text, time_zone text, from_date date, to_date date)
RETURNS TABLE (hour_start timestamptz, hour_end timestamptz, local_date date, local_hour integer,
               weekday integer, holiday text, period text)
LANGUAGE plpgsql STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF tou_calendar.tariff IS NULL THEN
    RAISE EXCEPTION 'tariff must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF NOT EXISTS (SELECT 1 FROM meter_etl.tou_tariff t WHERE t.tariff = tou_calendar.tariff) THEN
    RAISE EXCEPTION 'unrecognized tariff "%"', tou_calendar.tariff
      USING ERRCODE = 'invalid_parameter_value', HINT = 'meter_etl.tou_tariff lists the tariffs.';
  END IF;
  RETURN QUERY
  SELECT c.hour_start, c.hour_end, c.local_date, c.local_hour, c.weekday, c.holiday,
         meter_etl.tou_period_of(tou_calendar.tariff, tou_calendar.time_zone, c.hour_start)
    FROM meter_etl.calendar(tou_calendar.time_zone, tou_calendar.from_date, tou_calendar.to_date) c;
END
$$;
COMMENT ON FUNCTION tou_calendar(text, text, date, date) IS
  'Every hour of the local dates [from_date, to_date] of a zone with its time-of-use period of the tariff (the period at the start of the hour): the mapping energy per period is summed over';

CREATE VIEW v_tou_period AS
SELECT p.tariff, p.period, p.days, p.start_time, p.end_time, p.end_time < p.start_time AS wraps_midnight,
       p.valid_from, p.valid_to, t.default_period, t.holidays_as_weekend
  FROM tou_period p JOIN tou_tariff t USING (tariff);
COMMENT ON VIEW v_tou_period IS
  'Time-of-use periods with their tariff''s default period (hours no period covers) and holiday rule';
COMMENT ON COLUMN v_tou_period.tariff IS 'Tariff name';
COMMENT ON COLUMN v_tou_period.period IS 'Period name (e.g. peak, shoulder, off_peak)';
COMMENT ON COLUMN v_tou_period.days IS 'ISO weekdays the period starts on (1 = Monday ... 7 = Sunday)';
COMMENT ON COLUMN v_tou_period.start_time IS 'Local start time (inclusive)';
COMMENT ON COLUMN v_tou_period.end_time IS 'Local end time (exclusive); before start_time when the period wraps past midnight';
COMMENT ON COLUMN v_tou_period.wraps_midnight IS 'The period ends on the next day';
COMMENT ON COLUMN v_tou_period.valid_from IS 'First local date the period applies (-infinity: always)';
COMMENT ON COLUMN v_tou_period.valid_to IS 'First local date it no longer applies (NULL: open-ended)';
COMMENT ON COLUMN v_tou_period.default_period IS 'The tariff''s period for hours no period covers';
COMMENT ON COLUMN v_tou_period.holidays_as_weekend IS 'Holidays of the zone count as a Sunday';

SELECT pg_catalog.pg_extension_config_dump('holiday', '');
SELECT pg_catalog.pg_extension_config_dump('calendar_zone', 'WHERE time_zone <> ''Australia/Brisbane''');
SELECT pg_catalog.pg_extension_config_dump('tou_tariff', '');
SELECT pg_catalog.pg_extension_config_dump('tou_period', '');
