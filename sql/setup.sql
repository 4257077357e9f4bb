-- The extension's objects: schema, comments, pinned search_path, privileges.
SET client_min_messages = warning;
SELECT e.extname, e.extversion, n.nspname AS schema
  FROM pg_extension e JOIN pg_depend d ON d.refobjid = e.oid AND d.deptype = 'e'
  JOIN pg_namespace n ON n.oid = d.objid AND d.classid = 'pg_namespace'::regclass
 WHERE e.extname = 'meter_etl';

-- every table and view of the extension carries a comment
SELECT c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'meter_etl' AND c.relkind IN ('r', 'p', 'v')
   AND obj_description(c.oid, 'pg_class') IS NULL
   AND c.relname !~ '^reading_p[0-9]{8}$'
 ORDER BY 1;

-- every function carries a comment and pins search_path
SELECT p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'meter_etl'
   AND (obj_description(p.oid, 'pg_proc') IS NULL
        OR NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%'))
   AND p.prokind <> 'p'
 ORDER BY 1;
-- procedures that COMMIT cannot carry a SET clause; they qualify every name instead
SELECT p.proname, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented,
       pg_get_functiondef(p.oid) !~ '\m(FROM|UPDATE|JOIN)\s+(?!meter_etl\.)[a-z_]+\M' AS names_qualified
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'meter_etl' AND p.prokind = 'p' ORDER BY 1;

-- SECURITY DEFINER only where a loader needs it (staging without table rights)
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'meter_etl' AND p.prosecdef ORDER BY 1;

-- nothing that touches files, stages or ingests is executable by PUBLIC
SELECT p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'meter_etl'
   AND has_function_privilege('public', p.oid, 'EXECUTE')
   AND p.proname IN ('stage', 'stage_begin', 'stage_chunk', 'stage_finish', 'stage_server_file',
                     'ingest', 'raw_line', 'raw_sha256', 'create_partitions')
 ORDER BY 1;

-- reason codes and quality flags are documented in one place
SELECT code, stage FROM meter_etl.reason_code ORDER BY code;
SELECT bit, name FROM meter_etl.quality_flag ORDER BY bit;
SELECT meter_etl.flag_names(0), meter_etl.flag_names(1 | 16 | 32);

-- the built-in format profiles
SELECT name, layout, delimiter, time_zone, ts_marks, interval_minutes
  FROM meter_etl.format_profile WHERE builtin ORDER BY name;

-- the clean store is partitioned by time
SELECT c.relname, pg_get_partkeydef(c.oid)
  FROM pg_class c WHERE c.oid = 'meter_etl.reading'::regclass;

-- configuration parameters (defined when the library loads)
LOAD 'meter_etl';
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'meter_etl.%' ORDER BY name;
