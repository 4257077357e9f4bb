-- Load forecasting (issue 20): double-seasonal Holt-Winters on meters with
-- a known daily + weekly pattern, prediction intervals, stored and reused
-- parameters, rolling-origin backtests against seasonal naive, the fleet
-- total, forecasts persisted beside the actuals, and every refusal.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

-- the pattern: morning and evening peaks, weekends (local) 40 % higher
CREATE FUNCTION pg_temp.pattern(ts timestamptz, scale float8) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
  SELECT scale * (0.3 + 0.8 * exp(-((extract(hour FROM ts) + extract(minute FROM ts) / 60 - 19) ^ 2) / 8)
                  + 0.3 * exp(-((extract(hour FROM ts) + extract(minute FROM ts) / 60 - 8) ^ 2) / 4.5))
         * CASE WHEN extract(isodow FROM ts) >= 6 THEN 1.4 ELSE 1 END
$$;
-- deterministic noise in [-0.5, 0.5) from the slot number and the meter
CREATE FUNCTION pg_temp.noise(ts timestamptz, m text) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
  SELECT ((((extract(epoch FROM ts)::bigint / 900) * 2654435761 + ascii(m) * 40503) % 1000) / 1000.0 - 0.5)::float8
$$;
-- refusals: SQLSTATE and message, or ANSWERED
CREATE FUNCTION pg_temp.refused(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ANSWERED';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- three households, 8 weeks at 15 minutes from Monday 2024-01-01, noise 10 %
CREATE TEMP TABLE fx AS
SELECT m AS meter_id, s.ts,
       round((pg_temp.pattern(s.ts, 1 + 0.5 * (ascii(m) - 65)) * (1 + 0.2 * pg_temp.noise(s.ts, m)))::numeric, 4)::float8 AS kw
  FROM generate_series(timestamptz '2024-01-01', '2024-02-25 23:45', '15 minutes') s(ts),
       unnest('{A,B,C}'::text[]) m;
SELECT meter_etl.stage('households.csv', convert_to('meter_id,timestamp,value,unit' || E'\n'
         || string_agg(meter_id || ',' || to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ',' || kw || ',kW', E'\n'
                       ORDER BY meter_id, ts) || E'\n', 'UTF8')) AS f FROM fx \gset
SELECT rows_clean FROM meter_etl.ingest(:f);
SELECT meter_id, interval_s FROM meter_etl.meter ORDER BY 1;

-- ---------------------------------------------------------------- arrays
-- A's last 6 weeks as arrays, with a hole; the next day (a Monday) is close to the pattern
CREATE TEMP TABLE fa AS
SELECT * FROM meter_etl.forecast_array(
         (SELECT array_agg(ts ORDER BY ts) FROM fx WHERE meter_id = 'A' AND ts >= '2024-01-15'),
         (SELECT array_agg(CASE WHEN ts BETWEEN '2024-02-20 10:00' AND '2024-02-20 11:00' THEN NULL ELSE kw END ORDER BY ts)
            FROM fx WHERE meter_id = 'A' AND ts >= '2024-01-15'),
         '1 day');
SELECT count(*) AS steps, min(ts) AS first, max(ts) AS last,
       round(avg(abs(forecast_kw - pg_temp.pattern(ts, 1)))::numeric / avg(pg_temp.pattern(ts, 1))::numeric, 2) < 0.1 AS close,
       bool_and(lo95 <= lo80 AND lo80 <= forecast_kw AND forecast_kw <= hi80 AND hi80 <= hi95) AS ordered,
       bool_and(hi95 > lo95) AS widths
  FROM fa;
-- seasonal naive repeats last Monday
SELECT bool_and(f.forecast_kw = x.kw) AS last_week
  FROM meter_etl.forecast_array((SELECT array_agg(ts ORDER BY ts) FROM fx WHERE meter_id = 'B'),
                                (SELECT array_agg(kw ORDER BY ts) FROM fx WHERE meter_id = 'B'),
                                '1 day', 'UTC', 'snaive') f
  JOIN fx x ON x.meter_id = 'B' AND x.ts = f.ts - interval '7 days';
-- hourly steps in a zone: a constant series forecasts the constant
SELECT count(*), min(forecast_kw), max(hi95)
  FROM meter_etl.forecast_array(ARRAY(SELECT generate_series(timestamptz '2024-03-20', '2024-04-05', '1 hour')),
                                array_fill(0.5::float8, ARRAY[385]), '6 hours', 'Europe/Dublin', 'hw2', '1 hour');

-- DST: hourly readings in Europe/Dublin following the local clock across
-- the 23-hour 31 March 2024; the day after is forecast by the local hour
CREATE TEMP TABLE dub AS
SELECT ts, (0.2 + 0.1 * extract(hour FROM ts AT TIME ZONE 'Europe/Dublin'))::float8 AS kw
  FROM generate_series(timestamptz '2024-03-10 00:00+00', '2024-03-31 23:00+01', '1 hour') ts;
SELECT count(*) AS steps, min(ts AT TIME ZONE 'Europe/Dublin') AS first_local,
       max(abs(forecast_kw - (0.2 + 0.1 * extract(hour FROM ts AT TIME ZONE 'Europe/Dublin')))) < 1e-6 AS by_local_hour
  FROM meter_etl.forecast_array((SELECT array_agg(ts ORDER BY ts) FROM dub), (SELECT array_agg(kw ORDER BY ts) FROM dub),
                                '1 day', 'Europe/Dublin', 'hw2', '1 hour');

-- ---------------------------------------------------------------- store
-- A's next day from the store: close to the pattern, intervals ordered
CREATE TEMP TABLE f1 AS SELECT * FROM meter_etl.forecast(ARRAY['A'], '2024-01-01', '2024-02-26');
SELECT series, meter_id, channel, count(*) AS steps, min(ts), max(ts),
       round(avg(abs(forecast_kw - pg_temp.pattern(ts, 1)))::numeric / avg(pg_temp.pattern(ts, 1))::numeric, 2) < 0.1 AS close,
       bool_and(lo95 <= lo80 AND lo80 <= forecast_kw AND forecast_kw <= hi80 AND hi80 <= hi95) AS ordered
  FROM f1 GROUP BY 1, 2, 3;
-- the model is stored once ...
SELECT m.meter_id, fm.method, fm.interval_s, fm.weekly, fm.n, fm.history_from, fm.history_to,
       fm.alpha BETWEEN 0 AND 1 AND fm.delta BETWEEN 0 AND 1 AND fm.omega BETWEEN 0 AND 1 AS in_range,
       abs(fm.phi) < 1 AS phi_ok, fm.sigma > 0 AS sigma_ok, fm.model_id = (SELECT DISTINCT model_id FROM f1) AS same_id
  FROM meter_etl.forecast_model fm JOIN meter_etl.meter m USING (meter_key);
-- ... reused by the next call (same id, same forecast) ...
SELECT (SELECT DISTINCT model_id FROM meter_etl.forecast(ARRAY['A'], '2024-01-01', '2024-02-26')) = (SELECT DISTINCT model_id FROM f1) AS reused,
       (SELECT count(*) FROM meter_etl.forecast(ARRAY['A'], '2024-01-01', '2024-02-26') g JOIN f1 USING (ts)
         WHERE g.forecast_kw = f1.forecast_kw) AS same_values,
       (SELECT count(*) FROM meter_etl.forecast_model) AS models;
-- ... replaced on refit, and when it is too old
SELECT (SELECT DISTINCT model_id FROM meter_etl.forecast(ARRAY['A'], '2024-01-01', '2024-02-26', refit => true))
         > (SELECT DISTINCT model_id FROM f1) AS refitted,
       (SELECT count(*) FROM meter_etl.forecast_model) AS models;
UPDATE meter_etl.forecast_model SET fitted_at = fitted_at - interval '30 days' RETURNING model_id AS old_id \gset
SELECT (SELECT DISTINCT model_id FROM meter_etl.forecast(ARRAY['A'], '2024-01-01', '2024-02-26')) > :old_id AS aged_out;
-- a week of history only: daily-only model
SELECT count(*), bool_and(lo95 <= hi95)
  FROM meter_etl.forecast(ARRAY['C'], '2024-02-19', '2024-02-26', '12 hours', 'hw2');
SELECT weekly, omega FROM meter_etl.forecast_model JOIN meter_etl.meter USING (meter_key) WHERE meter_id = 'C';
-- a meter with less than 2 days of readings in the history is left out (NOTICE)
SELECT count(*) FROM meter_etl.forecast(ARRAY['B'], '2024-02-25 12:00', '2024-03-01');

-- readings missing in the history come from meter_etl.estimate where they exist
DELETE FROM meter_etl.reading r USING meter_etl.meter m
 WHERE r.meter_key = m.meter_key AND m.meter_id = 'B' AND r.ts >= '2024-02-24' AND r.ts < '2024-02-24 02:00';
INSERT INTO meter_etl.estimate (meter_key, channel_id, ts, kw)
SELECT m.meter_key, 1, x.ts, x.kw FROM fx x JOIN meter_etl.meter m USING (meter_id)
 WHERE x.meter_id = 'B' AND x.ts >= '2024-02-24' AND x.ts < '2024-02-24 01:00';
SELECT count(*) AS steps,
       round(avg(abs(forecast_kw - pg_temp.pattern(ts, 1.5)))::numeric / avg(pg_temp.pattern(ts, 1.5))::numeric, 2) < 0.1 AS close
  FROM meter_etl.forecast(ARRAY['B'], '2024-01-01', '2024-02-26');

-- ---------------------------------------------------------------- fleet
SELECT series, meter_id IS NULL AS no_meter, count(*) AS steps,
       round(avg(abs(forecast_kw - (pg_temp.pattern(ts, 1) + pg_temp.pattern(ts, 1.5) + pg_temp.pattern(ts, 2))))::numeric
             / avg(pg_temp.pattern(ts, 4.5))::numeric, 2) < 0.1 AS close,
       bool_and(lo95 <= lo80 AND lo80 <= forecast_kw AND forecast_kw <= hi80 AND hi80 <= hi95) AS ordered
  FROM meter_etl.forecast(NULL, '2024-01-01', '2024-02-26', fleet => true) GROUP BY 1, 2;
SELECT DISTINCT series FROM meter_etl.forecast(ARRAY['C', 'A', 'A'], '2024-01-01', '2024-02-26', '1 hour', fleet => true);
SELECT group_name, method, weekly FROM meter_etl.forecast_model WHERE group_name IS NOT NULL ORDER BY 1;

-- ---------------------------------------------------------------- backtest
-- the last 14 days, a day ahead from each local midnight: HW beats seasonal naive
CREATE TEMP TABLE bt AS
SELECT 'hw2' AS method, * FROM meter_etl.forecast_backtest(ARRAY['A', 'B', 'C'], '2024-01-01', '2024-02-26', 14)
UNION ALL
SELECT 'snaive', * FROM meter_etl.forecast_backtest(ARRAY['A', 'B', 'C'], '2024-01-01', '2024-02-26', 14, 'snaive');
SELECT series, method, n, mase < 1 AS beats_naive, rmse >= mae AS rmse_ge_mae, mape > 0 AND mape < 50 AS mape_ok
  FROM bt ORDER BY series, method;
SELECT h.series, h.mase < s.mase AS hw_better FROM bt h JOIN bt s USING (series)
 WHERE h.method = 'hw2' AND s.method = 'snaive' ORDER BY 1;
SELECT series, n, mase < 1 AS beats_naive FROM meter_etl.forecast_backtest(NULL, '2024-01-01', '2024-02-26', 7, fleet => true);
-- the array form on A's readings gives the store's numbers
SELECT a.n, a.mae = b.mae AND a.rmse = b.rmse AND a.mase = b.mase AND a.mape = b.mape AS same
  FROM meter_etl.forecast_backtest_array((SELECT array_agg(ts ORDER BY ts) FROM fx WHERE meter_id = 'A'),
                                         (SELECT array_agg(kw ORDER BY ts) FROM fx WHERE meter_id = 'A'), 14) a,
       bt b
 WHERE b.series = 'A:import' AND b.method = 'hw2';

-- ---------------------------------------------------------------- persisted
-- forecasts for 25 February made from the history before it, beside the actuals
SELECT meter_etl.forecast_run(history_to => '2024-02-25', history => '42 days') AS rows_written;
SELECT series, method, count(*) AS slots, count(actual_kw) AS with_actual,
       round(avg(abs(error_kw))::numeric / avg(actual_kw)::numeric, 2) < 0.15 AS close,
       min(ts_local) AS first_local, bool_and(error_kw = actual_kw - forecast_kw) AS error_ok
  FROM meter_etl.v_forecast_vs_actual GROUP BY 1, 2 ORDER BY 1, 2;
-- a second run over the same slots replaces them
SELECT meter_etl.forecast_run(ARRAY['A'], history_to => '2024-02-25', fleet => false) AS rows_written;
SELECT count(*) AS points FROM meter_etl.forecast_point;
-- a method without stored models: fitted and stored by the run itself
SELECT meter_etl.forecast_run(history_to => '2024-02-25', method => 'snaive') AS rows_written;
SELECT method, count(*) AS points, count(DISTINCT model_id) AS models,
       bool_and(model_id IN (SELECT model_id FROM meter_etl.forecast_model)) AS models_stored
  FROM meter_etl.forecast_point GROUP BY 1 ORDER BY 1;
-- the next day's run fills in the fleet's actual total of the 25th (the sum of the readings)
SELECT meter_etl.forecast_run(history_to => '2024-02-26', history => '42 days') AS rows_written;
SELECT series, method, ts_local::date AS day, count(*) AS slots, count(actual_kw) AS with_actual
  FROM meter_etl.v_forecast_vs_actual GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT count(*) AS fleet_slots, bool_and(abs(v.actual_kw - x.kw) < 1e-9) AS sum_of_readings
  FROM meter_etl.v_forecast_vs_actual v
  JOIN (SELECT ts, sum(kw) AS kw FROM fx GROUP BY ts) x USING (ts)
 WHERE v.series = 'fleet' AND v.method = 'hw2';

-- ---------------------------------------------------------------- refusals
SELECT q, pg_temp.refused(q) FROM (VALUES
  ('SELECT * FROM meter_etl.forecast_array(NULL, ARRAY[1.0::float8])'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[now()], NULL)'),
  ('SELECT * FROM meter_etl.forecast_array(''{}'', ''{}'')'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[now(), now() + interval ''15 min''], ARRAY[1.0::float8])'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[''NaN''::float8])'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[1.0::float8])'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[1.0::float8], ''0 s'')'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[1.0::float8], ''-1 day'')'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[1.0::float8], ''60 days'')'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[1.0::float8], ''1 day'', ''Mars/Olympus'')'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[1.0::float8], ''1 day'', ''UTC'', ''prophet'')'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[1.0::float8], ''1 day'', ''UTC'', ''hw2'', ''7 minutes'')'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[timestamptz ''2024-01-01'', ''2024-01-01 00:05''], ARRAY[1.0::float8, 2.0])'),
  ('SELECT * FROM meter_etl.forecast_array(ARRAY[timestamptz ''2024-01-01'', ''2024-01-01 00:15''], ARRAY[NULL::float8, NULL])'),
  ('SELECT * FROM meter_etl.forecast(ARRAY[''A''], NULL, ''2024-02-26'')'),
  ('SELECT * FROM meter_etl.forecast(ARRAY[''A''], ''2024-02-26'', ''2024-01-01'')'),
  ('SELECT * FROM meter_etl.forecast(ARRAY[''A''], ''2024-02-25'', ''2024-02-26'')'),
  ('SELECT * FROM meter_etl.forecast(ARRAY[''A''], ''2024-01-01'', ''2024-02-26'', ''0 s'')'),
  ('SELECT * FROM meter_etl.forecast(ARRAY[''A''], ''2024-01-01'', ''2024-02-26'', ''1 day'', ''arima'')'),
  ('SELECT * FROM meter_etl.forecast(ARRAY[''A''], ''2024-01-01'', ''2024-02-26'', ''1 day'', NULL)'),
  ('SELECT * FROM meter_etl.forecast(ARRAY[''A''], ''2024-01-01'', ''2024-02-26'', fleet => NULL)'),
  ('SELECT * FROM meter_etl.forecast(ARRAY[''A''], ''2024-01-01'', ''2024-02-26'', refit => NULL)'),
  ('SELECT * FROM meter_etl.forecast(ARRAY[''nobody''], ''2024-01-01'', ''2024-02-26'')'),
  ('SELECT * FROM meter_etl.forecast(ARRAY[''A'', NULL], ''2024-01-01'', ''2024-02-26'')'),
  ('SELECT * FROM meter_etl.forecast(''{}'', ''2024-01-01'', ''2024-02-26'')'),
  ('SELECT * FROM meter_etl.forecast_backtest(ARRAY[''A''], ''2024-01-01'', ''2024-02-26'', NULL)'),
  ('SELECT * FROM meter_etl.forecast_backtest(ARRAY[''A''], ''2024-01-01'', ''2024-02-26'', 0)'),
  ('SELECT * FROM meter_etl.forecast_backtest(ARRAY[''A''], ''2024-01-01'', ''2024-02-26'', 60)'),
  ('SELECT * FROM meter_etl.forecast_backtest(ARRAY[''A''], ''2024-02-26'', ''2024-01-01'')'),
  ('SELECT * FROM meter_etl.forecast_backtest(ARRAY[''A''], ''2024-01-01'', ''2024-02-26'', 7, ''holt'')'),
  ('SELECT * FROM meter_etl.forecast_backtest(ARRAY[''nobody''], ''2024-01-01'', ''2024-02-26'')'),
  ('SELECT * FROM meter_etl.forecast_backtest_array(NULL, ARRAY[1.0::float8])'),
  ('SELECT * FROM meter_etl.forecast_backtest_array(''{}'', ''{}'')'),
  ('SELECT * FROM meter_etl.forecast_backtest_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[1.0::float8], NULL)'),
  ('SELECT * FROM meter_etl.forecast_backtest_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[1.0::float8], 0)'),
  ('SELECT * FROM meter_etl.forecast_backtest_array(ARRAY(SELECT generate_series(timestamptz ''2024-01-01'', ''2024-01-10'', ''1 hour'')), array_fill(1.0::float8, ARRAY[217]), 28, ''UTC'', ''hw2'', ''1 hour'')'),
  ('SELECT * FROM meter_etl.forecast_backtest_array(ARRAY[timestamptz ''2024-01-01''], ARRAY[1.0::float8], 7, ''UTC'', ''ets'')'),
  ('SELECT meter_etl.forecast_run(history => NULL)'),
  ('SELECT meter_etl.forecast_run(history => ''-1 day'')'),
  ('SELECT meter_etl.forecast_run(method => ''nope'')')
) v(q);
