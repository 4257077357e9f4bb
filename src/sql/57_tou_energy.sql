
-- ======================================================================
-- Energy by time-of-use period (the rollups' hours mapped to a tariff)
-- ======================================================================
-- Each hour of a meter's rollup goes to the tariff's period at the hour's
-- start in the meter's zone, as tou_period_of() maps it (tou_period_pick:
-- holidays, validity, periods past midnight).  The view covers every tariff: filter on tariff and
-- meter_id (a meter-year is 8,760 hour lookups per tariff).

CREATE VIEW v_energy_tou_day AS
SELECT t.tariff, h.meter_id, h.channel, h.local_date, x.period,
       sum(h.energy_kwh) AS energy_kwh, count(*)::integer AS hours,
       sum(h.readings)::integer AS readings, sum(h.estimated)::integer AS estimated
  FROM (SELECT t.tariff, t.default_period, t.holidays_as_weekend,
               (SELECT array_agg(p) FROM tou_period p WHERE p.tariff = t.tariff) AS periods
          FROM tou_tariff t) t
 CROSS JOIN v_consumption_hour h
  JOIN meter m ON m.meter_id = h.meter_id
 CROSS JOIN LATERAL (SELECT h.hour_start AT TIME ZONE coalesce(m.time_zone, 'UTC') AS lt,
                            coalesce(m.time_zone, 'UTC') AS tz) l
 CROSS JOIN LATERAL (
       SELECT meter_etl.tou_period_pick(t.periods, t.default_period, l.lt::date, l.lt::time,
                (SELECT CASE WHEN t.holidays_as_weekend AND count(hd.day) > 0 THEN 7
                             ELSE extract(isodow FROM l.lt::date)::integer END
                   FROM holiday hd WHERE hd.time_zone = l.tz AND hd.day = l.lt::date),
                (SELECT CASE WHEN t.holidays_as_weekend AND count(hd.day) > 0 THEN 7
                             ELSE extract(isodow FROM l.lt::date - 1)::integer END
                   FROM holiday hd WHERE hd.time_zone = l.tz AND hd.day = l.lt::date - 1)) AS period) x
 GROUP BY t.tariff, h.meter_id, h.channel, h.local_date, x.period;
COMMENT ON VIEW v_energy_tou_day IS
  'Energy per tariff, meter, channel, local day and time-of-use period (from the hourly rollups; filter on tariff and meter_id)';
COMMENT ON COLUMN v_energy_tou_day.tariff IS 'Tariff (tou_tariff)';
COMMENT ON COLUMN v_energy_tou_day.meter_id IS 'Meter id';
COMMENT ON COLUMN v_energy_tou_day.channel IS 'Channel name';
COMMENT ON COLUMN v_energy_tou_day.local_date IS 'Local date in the meter''s zone';
COMMENT ON COLUMN v_energy_tou_day.period IS 'The tariff''s period at the start of each hour summed';
COMMENT ON COLUMN v_energy_tou_day.energy_kwh IS 'Energy in kWh in the period that day, estimates included';
COMMENT ON COLUMN v_energy_tou_day.hours IS 'Hours of the day with data in the period';
COMMENT ON COLUMN v_energy_tou_day.readings IS 'Readings (actuals)';
COMMENT ON COLUMN v_energy_tou_day.estimated IS 'Estimates';
