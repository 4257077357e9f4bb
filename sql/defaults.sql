-- One default, one place: every setting's boot value (the reviewed list),
-- and every SQL parameter that stands for a setting has the setting's
-- default.  Both come from the same #define (core/series/series.h,
-- core/read/rules.h, pg/guc.h); test/e2e/e2e.sh compares them with the
-- README's table, and the cmocka tests run the cores with them.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
LOAD 'meter_etl';

SELECT name, boot_val, unit, context, vartype
  FROM pg_settings WHERE name LIKE 'meter\_etl.%' ORDER BY name;

-- (function, parameter) -> the setting it stands for
CREATE TEMP TABLE param_setting (fn regproc, param text, setting text);
INSERT INTO param_setting VALUES
  ('meter_etl.interpolate', 'max_gap', 'meter_etl.max_gap'),
  ('meter_etl.interpolate_array', 'max_gap', 'meter_etl.max_gap'),
  ('meter_etl.rolling_outliers', 'method', 'meter_etl.outlier_method'),
  ('meter_etl.rolling_outliers', 'window_size', 'meter_etl.outlier_window'),
  ('meter_etl.rolling_outliers', 'threshold', 'meter_etl.outlier_threshold'),
  ('meter_etl.rolling_outliers_array', 'method', 'meter_etl.outlier_method'),
  ('meter_etl.rolling_outliers_array', 'window_size', 'meter_etl.outlier_window'),
  ('meter_etl.rolling_outliers_array', 'threshold', 'meter_etl.outlier_threshold'),
  ('meter_etl.detect_faulty_meters', 'stuck_zero_min', 'meter_etl.stuck_zero_min'),
  ('meter_etl.detect_faulty_meters', 'flatline_min', 'meter_etl.flatline_min'),
  ('meter_etl.detect_faulty_meters', 'shift_min_z', 'meter_etl.level_shift_min_z'),
  ('meter_etl.detect_faulty_meters', 'shift_min_factor', 'meter_etl.level_shift_min_factor'),
  ('meter_etl.detect_faulty_meters', 'shift_min_days', 'meter_etl.level_shift_min_days'),
  ('meter_etl.detect_faulty_meters', 'offline_min', 'meter_etl.offline_min'),
  ('meter_etl.detect_faulty_meters_array', 'stuck_zero_min', 'meter_etl.stuck_zero_min'),
  ('meter_etl.detect_faulty_meters_array', 'flatline_min', 'meter_etl.flatline_min'),
  ('meter_etl.detect_faulty_meters_array', 'shift_min_z', 'meter_etl.level_shift_min_z'),
  ('meter_etl.detect_faulty_meters_array', 'shift_min_factor', 'meter_etl.level_shift_min_factor'),
  ('meter_etl.detect_faulty_meters_array', 'shift_min_days', 'meter_etl.level_shift_min_days'),
  ('meter_etl.detect_faulty_meters_array', 'offline_min', 'meter_etl.offline_min');

-- each parameter's DEFAULT, evaluated, against the setting's boot value
-- (time settings in seconds, compared as intervals)
CREATE TEMP VIEW param_default AS
SELECT ps.fn, ps.param, ps.setting, s.boot_val, s.unit,
       pg_get_function_arg_default(ps.fn, array_position(p.proargnames, ps.param)) AS default_expr
  FROM param_setting ps
  JOIN pg_settings s ON s.name = ps.setting
  JOIN pg_proc p ON p.oid = ps.fn;

CREATE FUNCTION pg_temp.eval(expr text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
  EXECUTE 'SELECT (' || expr || ')::text' INTO v;
  RETURN v;
END $$;

SELECT fn, param, setting, default_expr, boot_val, unit
  FROM param_default
 WHERE default_expr IS NULL
    OR CASE WHEN unit = 's' THEN pg_temp.eval(default_expr)::interval <> make_interval(secs => boot_val::float8)
            WHEN unit IS NULL AND boot_val ~ '^[0-9.]+$' THEN pg_temp.eval(default_expr)::float8 <> boot_val::float8
            ELSE pg_temp.eval(default_expr) <> boot_val END;
SELECT count(*) AS parameters_checked FROM param_default;
