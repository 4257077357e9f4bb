
-- ======================================================================
-- Roles and privileges (runs last, so it covers every object above)
-- ======================================================================
-- meter_etl_admin   runs and configures the pipeline
-- meter_etl_loader  stages files, nothing else
-- meter_etl_reader  reads the result views, nothing else
-- Roles are cluster-wide: they are created if missing and survive DROP
-- EXTENSION (other databases may use them).  Grant them to login roles.

DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['meter_etl_admin', 'meter_etl_loader', 'meter_etl_reader'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END
$$;

-- SECURITY DEFINER is kept to five functions, each reviewed in
-- sql/security.sql: the four staging functions (00_core.sql says why) and
-- this one.  Creating a partition is DDL on reading, which only its owner
-- may do; ingest run by an admin needs it, so this function runs as the
-- owner.  Every name in their bodies is schema-qualified.
ALTER FUNCTION create_partitions(date, date) SECURITY DEFINER;

-- nothing for PUBLIC: not the schema, not a function
REVOKE ALL ON SCHEMA meter_etl FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA meter_etl FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA meter_etl FROM PUBLIC;

GRANT USAGE ON SCHEMA meter_etl TO meter_etl_admin, meter_etl_loader, meter_etl_reader;

-- admin: everything in the schema (the raw zone stays immutable by trigger,
-- and settings that widen the rules or open directories stay superuser-only)
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA meter_etl TO meter_etl_admin;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA meter_etl TO meter_etl_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA meter_etl TO meter_etl_admin;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA meter_etl TO meter_etl_admin;
-- The raw zone is append-only for everyone but the extension's owner: files
-- arrive only through the staging functions (which run as the owner), and
-- the admin may move a file's status, never its bytes or its identity.
REVOKE INSERT, UPDATE, DELETE ON raw_file, raw_chunk FROM meter_etl_admin;
GRANT UPDATE (status, format, attempts, last_error, next_attempt_at) ON raw_file TO meter_etl_admin;

-- loader: the staging functions only (SECURITY DEFINER, checked per call)
GRANT EXECUTE ON FUNCTION stage(text, bytea, text), stage_begin(text, text),
      stage_chunk(bigint, integer, bytea), stage_finish(bigint) TO meter_etl_loader;

-- reader: the result views, and the functions on the caller's own arrays
-- (they read no table).  Each object is named: a new view or function is
-- granted only when it is added here, and sql/security.sql prints every
-- privilege of the three roles, so the expected file is the reviewed list.
GRANT SELECT ON v_reading, v_file_accounting, v_quarantine_summary,
      v_meter_status, v_gap, v_fault, v_usage_anomaly, v_reading_filled, v_meter_day,
      v_meter_freshness, v_ingest_progress, v_archive_coverage, v_pipeline_health,
      v_calendar, v_tou_period, v_meter, v_meter_health, v_dq_day, v_dq_file_day, v_dq_meter_day,
      v_peak_period, v_daily_peak, v_consumption_hour, v_consumption_day, v_consumption_month,
      v_fleet_load_hour, v_fleet_energy_day, v_fleet_load_interval, v_energy_tou_day
   TO meter_etl_reader;
-- calendar_days and tou_period_pick read no table (v_calendar and
-- v_energy_tou_day call them); dq_meters reads only v_dq_meter_day, with
-- the caller's privileges
GRANT EXECUTE ON FUNCTION calendar_days(text, date, date, text), dq_meters(date, date),
      tou_period_pick(tou_period[], text, date, time, integer, integer) TO meter_etl_reader;
GRANT EXECUTE ON FUNCTION flag_names(integer),
      interpolate_array(timestamptz[], double precision[], interval, interval, timestamptz, timestamptz, boolean, text),
      rolling_outliers_array(double precision[], text, integer, boolean, double precision, integer, double precision, text, boolean),
      detect_faulty_meters_array(timestamptz[], double precision[], interval, text[], text, interval, interval, integer, double precision, double precision, integer, interval, integer)
   TO meter_etl_reader;

-- issue #20, anomaly scores: the top anomalies per day, and the forest on
-- the caller's own arrays (reads no table)
GRANT SELECT ON v_anomaly_top TO meter_etl_reader;
GRANT EXECUTE ON FUNCTION isolation_forest_array(double precision[], integer, integer, bigint)
   TO meter_etl_reader;
-- Analytics, load-profile segmentation (issue 20): readers see the segments
-- (v_meter.segment, v_segment_profile) and may cluster their own arrays;
-- load_profiles() writes meter_segment, so it stays the admin's.
GRANT SELECT ON v_segment_profile TO meter_etl_reader;
GRANT EXECUTE ON FUNCTION kmeans_array(double precision[], integer, integer, bigint) TO meter_etl_reader;

-- forecasting (#20): readers see the forecasts beside the actuals, and may
-- forecast and backtest their own arrays (the *_array forms read no table)
GRANT SELECT ON v_forecast_vs_actual TO meter_etl_reader;
GRANT EXECUTE ON FUNCTION forecast_array(timestamptz[], double precision[], interval, text, text, interval),
      forecast_backtest_array(timestamptz[], double precision[], integer, text, text, interval)
   TO meter_etl_reader;
