
-- ======================================================================
-- Forecasting (#20): double-seasonal Holt-Winters with AR(1) errors and
-- the seasonal-naive baseline (C core in src/core/predict/, glue in
-- src/pg/predict/; the model is described in core/predict/forecast.h)
-- ======================================================================

CREATE TABLE forecast_model (
    model_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_key    integer,
    channel_id   smallint,
    group_name   text,
    method       text NOT NULL CHECK (method IN ('hw2', 'snaive')),
    interval_s   integer NOT NULL CHECK (interval_s > 0),
    weekly       boolean NOT NULL,
    alpha        double precision NOT NULL,
    delta        double precision NOT NULL,
    omega        double precision NOT NULL,
    phi          double precision NOT NULL,
    sigma        double precision NOT NULL,
    n            integer NOT NULL,
    evals        integer NOT NULL,
    history_from timestamptz NOT NULL,
    history_to   timestamptz NOT NULL,
    fitted_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((group_name IS NULL) = (meter_key IS NOT NULL AND channel_id IS NOT NULL)),
    CHECK (group_name IS NULL OR (meter_key IS NULL AND channel_id IS NULL))
);
CREATE UNIQUE INDEX forecast_model_meter_idx ON forecast_model (meter_key, channel_id, method)
  WHERE group_name IS NULL;
CREATE UNIQUE INDEX forecast_model_group_idx ON forecast_model (group_name, method)
  WHERE group_name IS NOT NULL;
COMMENT ON TABLE forecast_model IS
  'Fitted forecasting parameters, one row per series (a meter channel, or a group total such as fleet) and method; forecast() reuses a row for @ME_DEFAULT_FORECAST_MODEL_MAX_AGE_DAYS@ days (refit => true fits anew)';
COMMENT ON COLUMN forecast_model.group_name IS 'Name of a total: fleet, or meters: and the sorted meter ids; NULL for a meter channel';
COMMENT ON COLUMN forecast_model.weekly IS 'Whether the weekly season is in use (the history held at least 2 weeks)';
COMMENT ON COLUMN forecast_model.alpha IS 'Level smoothing, in (0, 1)';
COMMENT ON COLUMN forecast_model.delta IS 'Daily-season smoothing, in (0, 1)';
COMMENT ON COLUMN forecast_model.omega IS 'Weekly-season smoothing, in (0, 1); 0 without the weekly season';
COMMENT ON COLUMN forecast_model.phi IS 'AR(1) coefficient of the Holt-Winters errors, in (-1, 1)';
COMMENT ON COLUMN forecast_model.sigma IS 'Root mean square of the one-step errors over the history fitted, kW';
COMMENT ON COLUMN forecast_model.n IS 'Slots of history fitted';
COMMENT ON COLUMN forecast_model.evals IS 'Objective evaluations the fit spent';

CREATE TABLE forecast_point (
    series      text NOT NULL,
    method      text NOT NULL,
    ts          timestamptz NOT NULL,
    meter_id    text,
    channel     text,
    interval_s  integer NOT NULL,
    forecast_kw double precision NOT NULL,
    lo80        double precision NOT NULL,
    hi80        double precision NOT NULL,
    lo95        double precision NOT NULL,
    hi95        double precision NOT NULL,
    made_at     timestamptz NOT NULL DEFAULT now(),
    model_id    bigint,
    actual_kw   double precision,
    PRIMARY KEY (series, method, ts)
);
CREATE INDEX forecast_point_ts_idx ON forecast_point (ts);
COMMENT ON TABLE forecast_point IS
  'Forecasts written by forecast_run(): one row per series, method and slot; a later run replaces the forecast of a slot it covers again';
COMMENT ON COLUMN forecast_point.actual_kw IS
  'The fleet total: the actual total over the slot, filled in by forecast_run() once its history_to is past the slot (and refreshed for the 2 days before it, for late readings); NULL for meter channels, whose actuals v_forecast_vs_actual reads from reading';

-- fits and forecasts are user data: dumped with the database
SELECT pg_catalog.pg_extension_config_dump('forecast_model', '');
SELECT pg_catalog.pg_extension_config_dump('forecast_point', '');

-- ---------------------------------------------------------------- functions

CREATE FUNCTION forecast_array(ts timestamptz[], kw double precision[], horizon interval DEFAULT '1 day',
                               time_zone text DEFAULT 'UTC', method text DEFAULT '@ME_DEFAULT_FORECAST_METHOD@',
                               step interval DEFAULT '15 minutes')
RETURNS TABLE (ts timestamptz, forecast_kw double precision, lo80 double precision, hi80 double precision,
               lo95 double precision, hi95 double precision)
AS 'MODULE_PATHNAME', 'meter_etl_forecast_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION forecast_array(timestamptz[], double precision[], interval, text, text, interval) IS
  'Forecast of any series for horizon after its last step, with 80 % and 95 % prediction intervals: ts strictly ascending, kw NULL for a missing value (filled from the same slot last week, else yesterday); seasons follow the local clock of time_zone; method hw2 (double-seasonal Holt-Winters with AR(1) errors) or snaive (same slot last week)';

CREATE FUNCTION forecast(meters text[] DEFAULT NULL,
                         history_from timestamptz DEFAULT pg_catalog.now() - interval '@ME_DEFAULT_FORECAST_HISTORY_DAYS@ days',
                         history_to timestamptz DEFAULT pg_catalog.now(),
                         horizon interval DEFAULT '1 day', method text DEFAULT '@ME_DEFAULT_FORECAST_METHOD@',
                         fleet boolean DEFAULT false, refit boolean DEFAULT false)
RETURNS TABLE (series text, meter_id text, channel text, ts timestamptz, forecast_kw double precision,
               lo80 double precision, hi80 double precision, lo95 double precision, hi95 double precision,
               model_id bigint, interval_s integer)
AS 'MODULE_PATHNAME', 'meter_etl_forecast'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION forecast(text[], timestamptz, timestamptz, interval, text, boolean, boolean) IS
  'Forecast for horizon after history_to at each meter channel''s interval, from the readings (and estimates) in [history_from, history_to), holes filled from the same slot last week; or, with fleet, of the total of the meters'' import channels (all meters when meters is NULL). Fitted parameters are kept in forecast_model (model_id) and reused unless refit, older than @ME_DEFAULT_FORECAST_MODEL_MAX_AGE_DAYS@ days or fitted on a history with(out) the weekly season this one lacks (has); interval_s is the step of the series';

CREATE FUNCTION forecast_backtest(meters text[] DEFAULT NULL,
                                  from_ts timestamptz DEFAULT pg_catalog.now() - interval '@ME_DEFAULT_FORECAST_HISTORY_DAYS@ days',
                                  to_ts timestamptz DEFAULT pg_catalog.now(),
                                  days integer DEFAULT @ME_DEFAULT_FORECAST_BACKTEST_DAYS@,
                                  method text DEFAULT '@ME_DEFAULT_FORECAST_METHOD@', fleet boolean DEFAULT false)
RETURNS TABLE (series text, n bigint, mae double precision, rmse double precision, mase double precision,
               mape double precision)
AS 'MODULE_PATHNAME', 'meter_etl_forecast_backtest'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog, pg_temp
SET jit = off;
COMMENT ON FUNCTION forecast_backtest(text[], timestamptz, timestamptz, integer, text, boolean) IS
  'Rolling-origin day-ahead evaluation on [from_ts, to_ts): each of the last days local days is forecast from its start, the parameters fitted once on the history before the first; MAE and RMSE in kW, MASE against the in-sample seasonal-naive MAE (weekly lag), MAPE in % over actuals at least 10 % of the mean |kW|; one row per series and a (pooled) row';

CREATE FUNCTION forecast_backtest_array(ts timestamptz[], kw double precision[],
                                        days integer DEFAULT @ME_DEFAULT_FORECAST_BACKTEST_DAYS@,
                                        time_zone text DEFAULT 'UTC', method text DEFAULT '@ME_DEFAULT_FORECAST_METHOD@',
                                        step interval DEFAULT '15 minutes')
RETURNS TABLE (n bigint, mae double precision, rmse double precision, mase double precision,
               mape double precision)
AS 'MODULE_PATHNAME', 'meter_etl_forecast_backtest_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION forecast_backtest_array(timestamptz[], double precision[], integer, text, text, interval) IS
  'forecast_backtest() on any series: ts strictly ascending, kw NULL for a missing value (filled as forecast_array() fills it); the last days local days of time_zone are the origins';

CREATE FUNCTION forecast_run(meters text[] DEFAULT NULL, history interval DEFAULT '@ME_DEFAULT_FORECAST_HISTORY_DAYS@ days',
                             horizon interval DEFAULT '1 day', method text DEFAULT '@ME_DEFAULT_FORECAST_METHOD@',
                             fleet boolean DEFAULT true, history_to timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_rows bigint;
  v_lo timestamptz;
  v_hi timestamptz;
  v_iv integer;
BEGIN
  IF history IS NULL OR fleet IS NULL OR history_to IS NULL THEN
    RAISE EXCEPTION '% must not be null',
      CASE WHEN history IS NULL THEN 'history' WHEN fleet IS NULL THEN 'fleet' ELSE 'history_to' END
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF history <= interval '0' THEN
    RAISE EXCEPTION 'history must be positive' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- the fleet's actual total of its past slots: one scan of their readings
  -- (a lookup per slot would scan a day's partition per slot)
  SELECT pg_catalog.min(p.ts), pg_catalog.max(p.ts), pg_catalog.max(p.interval_s) INTO v_lo, v_hi, v_iv
    FROM meter_etl.forecast_point p
   WHERE p.series = 'fleet' AND p.ts >= forecast_run.history_to - forecast_run.history
     AND p.ts + pg_catalog.make_interval(secs => p.interval_s) <= forecast_run.history_to
     AND (p.actual_kw IS NULL OR p.ts >= forecast_run.history_to - interval '2 days');
  IF v_lo IS NOT NULL THEN
    UPDATE meter_etl.forecast_point p SET actual_kw = a.kw
      FROM (SELECT pg_catalog.date_bin(pg_catalog.make_interval(secs => v_iv), r.ts, timestamptz '2000-01-01 UTC') AS slot,
                   pg_catalog.sum(r.kw * m.interval_s) / v_iv AS kw
              FROM meter_etl.reading r JOIN meter_etl.meter m ON m.meter_key = r.meter_key
             WHERE r.channel_id = 1 AND r.ts >= v_lo AND r.ts < v_hi + pg_catalog.make_interval(secs => v_iv)
             GROUP BY 1) a
     WHERE p.series = 'fleet' AND p.ts = a.slot AND p.ts BETWEEN v_lo AND v_hi AND p.interval_s = v_iv
       AND (p.actual_kw IS NULL OR p.ts >= forecast_run.history_to - interval '2 days');
  END IF;
  -- the meter channels, and with fleet their total (the second call runs only then)
  INSERT INTO meter_etl.forecast_point (series, method, ts, meter_id, channel, interval_s, forecast_kw,
                                        lo80, hi80, lo95, hi95, made_at, model_id)
  SELECT f.series, forecast_run.method, f.ts, f.meter_id, f.channel, f.interval_s, f.forecast_kw,
         f.lo80, f.hi80, f.lo95, f.hi95, pg_catalog.now(), f.model_id
    FROM (SELECT * FROM meter_etl.forecast(forecast_run.meters, forecast_run.history_to - forecast_run.history,
                                           forecast_run.history_to, forecast_run.horizon, forecast_run.method)
          UNION ALL
          SELECT * FROM meter_etl.forecast(forecast_run.meters, forecast_run.history_to - forecast_run.history,
                                           forecast_run.history_to, forecast_run.horizon, forecast_run.method,
                                           fleet => true)
           WHERE forecast_run.fleet) f
  ON CONFLICT ON CONSTRAINT forecast_point_pkey DO UPDATE
     SET forecast_kw = excluded.forecast_kw, lo80 = excluded.lo80, hi80 = excluded.hi80,
         lo95 = excluded.lo95, hi95 = excluded.hi95, made_at = excluded.made_at,
         model_id = excluded.model_id, interval_s = excluded.interval_s;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  RETURN v_rows;
END
$$;
COMMENT ON FUNCTION forecast_run(text[], interval, interval, text, boolean, timestamptz) IS
  'Scheduled step (pg_cron): forecasts every meter channel (or those in meters) and, with fleet, their import total for horizon after history_to from the history before it, into forecast_point, and fills in the fleet''s actual total of past slots; returns the forecast rows written';

-- ---------------------------------------------------------------- view

CREATE VIEW v_forecast_vs_actual AS
SELECT p.series, p.meter_id, p.channel, p.method, p.ts,
       p.ts AT TIME ZONE coalesce(m.time_zone, 'UTC') AS ts_local,
       p.forecast_kw, p.lo80, p.hi80, p.lo95, p.hi95,
       a.kw AS actual_kw, a.kw - p.forecast_kw AS error_kw,
       p.made_at, p.model_id
  FROM meter_etl.forecast_point p
  LEFT JOIN meter_etl.meter m ON m.meter_id = p.meter_id
  LEFT JOIN meter_etl.channel c ON c.name = p.channel
  LEFT JOIN LATERAL (
    SELECT CASE WHEN p.meter_id IS NULL THEN p.actual_kw
                ELSE (SELECT r.kw FROM meter_etl.reading r
                       WHERE r.meter_key = m.meter_key AND r.channel_id = c.channel_id AND r.ts = p.ts)
           END AS kw) a ON true;
COMMENT ON VIEW v_forecast_vs_actual IS
  'Forecasts written by forecast_run() beside the readings that came: per series and slot the forecast, its 80 % and 95 % intervals, the actual kW and the error';
COMMENT ON COLUMN v_forecast_vs_actual.series IS 'Series forecast: meter_id:channel, or the name of a total (fleet)';
COMMENT ON COLUMN v_forecast_vs_actual.meter_id IS 'Meter of the series; NULL for a total';
COMMENT ON COLUMN v_forecast_vs_actual.channel IS 'Channel of the series; NULL for a total (the import channels)';
COMMENT ON COLUMN v_forecast_vs_actual.method IS 'hw2 (double-seasonal Holt-Winters) or snaive (seasonal naive)';
COMMENT ON COLUMN v_forecast_vs_actual.ts IS 'Start of the slot (UTC instant)';
COMMENT ON COLUMN v_forecast_vs_actual.ts_local IS 'Start of the slot on the meter''s local clock (UTC for a total)';
COMMENT ON COLUMN v_forecast_vs_actual.forecast_kw IS 'Forecast average power over the slot, kW';
COMMENT ON COLUMN v_forecast_vs_actual.lo80 IS 'Lower bound of the 80 % prediction interval, kW';
COMMENT ON COLUMN v_forecast_vs_actual.hi80 IS 'Upper bound of the 80 % prediction interval, kW';
COMMENT ON COLUMN v_forecast_vs_actual.lo95 IS 'Lower bound of the 95 % prediction interval, kW';
COMMENT ON COLUMN v_forecast_vs_actual.hi95 IS 'Upper bound of the 95 % prediction interval, kW';
COMMENT ON COLUMN v_forecast_vs_actual.actual_kw IS 'The reading of the slot, kW; for fleet the total of every meter''s import readings over the slot, as forecast_run() filled it in (forecast_point.actual_kw); NULL until known';
COMMENT ON COLUMN v_forecast_vs_actual.error_kw IS 'actual_kw - forecast_kw';
COMMENT ON COLUMN v_forecast_vs_actual.made_at IS 'When forecast_run() wrote the forecast';
COMMENT ON COLUMN v_forecast_vs_actual.model_id IS 'The forecast_model row whose parameters made it';
