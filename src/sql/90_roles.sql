
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

-- reader: the result views, and the functions those views call
DO $$
DECLARE
  v regclass;
BEGIN
  FOR v IN SELECT c.oid::regclass FROM pg_class c
            WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind IN ('v', 'm')
              AND c.relname LIKE 'v\_%'
  LOOP
    EXECUTE format('GRANT SELECT ON %s TO meter_etl_reader', v);
  END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION flag_names(integer) TO meter_etl_reader;
-- the series functions on the caller's own arrays read no table
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
            WHERE p.pronamespace = 'meter_etl'::regnamespace AND p.proname LIKE '%\_array'
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO meter_etl_reader', f);
  END LOOP;
END
$$;
