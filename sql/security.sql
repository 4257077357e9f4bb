-- Roles: what the admin, the loader and the reader can and cannot do.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
DROP ROLE IF EXISTS sec_admin;
DROP ROLE IF EXISTS sec_loader;
DROP ROLE IF EXISTS sec_reader;
DROP ROLE IF EXISTS sec_nobody;
RESET client_min_messages;
SET timezone = 'UTC';
CREATE ROLE sec_admin LOGIN IN ROLE meter_etl_admin;
CREATE ROLE sec_loader LOGIN IN ROLE meter_etl_loader;
CREATE ROLE sec_reader LOGIN IN ROLE meter_etl_reader;
CREATE ROLE sec_nobody LOGIN;

-- nothing is granted to PUBLIC
SELECT count(*) AS public_functions
  FROM pg_proc p WHERE p.pronamespace = 'meter_etl'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT count(*) AS public_tables
  FROM pg_class c WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind IN ('r', 'p', 'v')
   AND has_table_privilege('public', c.oid, 'SELECT');
-- functions that run with their owner's rights: the reviewed list (90_roles.sql
-- says why each needs it); a new one must be added here, and reviewed
SELECT p.oid::regprocedure AS security_definer, p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'meter_etl'::regnamespace AND p.prosecdef ORDER BY 1::text;
-- every function and trigger function pins search_path with pg_temp last, so
-- that no temporary object of a caller is found before the extension's own;
-- the only exception is a procedure that commits (it cannot carry SET and
-- pins the path itself after each COMMIT)
SELECT p.oid::regprocedure AS unpinned, p.prokind, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'meter_etl'::regnamespace
   AND NOT coalesce('search_path=meter_etl, pg_catalog, pg_temp' = ANY (p.proconfig), false)
 ORDER BY 1::text;
-- no EXECUTE for PUBLIC on any of them
SELECT count(*) AS public_execute
  FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
 WHERE p.pronamespace = 'meter_etl'::regnamespace AND a.grantee = 0 AND a.privilege_type = 'EXECUTE';
-- the raw zone is append-only for the admin: status columns only
SELECT c.relname, has_table_privilege('meter_etl_admin', c.oid, 'INSERT') AS ins,
       has_table_privilege('meter_etl_admin', c.oid, 'UPDATE') AS upd,
       has_table_privilege('meter_etl_admin', c.oid, 'DELETE') AS del,
       (SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0
           AND has_column_privilege('meter_etl_admin', c.oid, a.attnum, 'UPDATE')) AS updatable_columns
  FROM pg_class c WHERE c.oid IN ('meter_etl.raw_file'::regclass, 'meter_etl.raw_chunk'::regclass) ORDER BY 1;

-- every privilege the three roles hold, object by object: the reviewed list
-- (a new table, view or function is granted only by naming it in 90_roles.sql,
-- and shows up here)
\pset format unaligned
WITH objs AS (
  SELECT 'schema' AS kind, n.nspname::text AS name, n.nspacl AS acl, n.nspowner AS owner
    FROM pg_namespace n WHERE n.nspname = 'meter_etl'
  UNION ALL
  SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'S' THEN 'sequence' ELSE 'table' END,
         c.relname::text, c.relacl, c.relowner
    FROM pg_class c WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  UNION ALL
  SELECT 'column', c.relname || '.' || a.attname, a.attacl, c.relowner
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   WHERE c.relnamespace = 'meter_etl'::regnamespace AND a.attacl IS NOT NULL
  UNION ALL
  SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
         p.oid::regprocedure::text, p.proacl, p.proowner
    FROM pg_proc p WHERE p.pronamespace = 'meter_etl'::regnamespace
)
SELECT r.rolname AS role, o.kind, o.name,
       string_agg(x.privilege_type, ',' ORDER BY x.privilege_type) AS privileges
  FROM objs o
 CROSS JOIN LATERAL aclexplode(coalesce(o.acl, acldefault('r', o.owner))) x
  JOIN pg_roles r ON r.oid = x.grantee
 WHERE r.rolname IN ('meter_etl_admin', 'meter_etl_loader', 'meter_etl_reader')
 GROUP BY r.rolname, o.kind, o.name
 ORDER BY 1, 2, 3;
\pset format aligned

-- the loader stages files and nothing else
SET SESSION AUTHORIZATION sec_loader;
SELECT meter_etl.stage('sec.csv', convert_to(E'meter_id,timestamp,value,unit\nS1,2024-01-01T00:00:00Z,1,kW\nS1,2024-01-01T00:15:00Z,-1,kW\n', 'UTF8')) AS f \gset
SELECT meter_etl.stage_begin('sec2.csv') AS up \gset
SELECT meter_etl.stage_chunk(:up, 0, convert_to(E'meter_id,timestamp,value,unit\nS2,2024-01-01T00:00:00Z,2,kW\n', 'UTF8'));
SELECT is_new FROM meter_etl.stage_finish(:up);
SELECT count(*) FROM meter_etl.raw_file;
SELECT * FROM meter_etl.ingest(:f);
SELECT * FROM meter_etl.reingest(:f);
SELECT meter_etl.stage_server_file('x.csv');
SELECT count(*) FROM meter_etl.v_reading;
CALL meter_etl.run_pipeline();
RESET SESSION AUTHORIZATION;

-- another user cannot append to someone else's upload
SELECT meter_etl.stage_begin('alien.csv') AS alien \gset
SET SESSION AUTHORIZATION sec_loader;
SELECT meter_etl.stage_chunk(:alien, 0, '\x41');
RESET SESSION AUTHORIZATION;

-- the admin runs the pipeline (ingest creates partitions through the owner's function)
SET SESSION AUTHORIZATION sec_admin;
CALL meter_etl.run_pipeline(worker => 'sec');
SELECT file_name, status FROM meter_etl.raw_file ORDER BY file_id;
SELECT count(*) AS readings FROM meter_etl.reading;
SELECT count(*) AS quarantined FROM meter_etl.quarantine;
-- and reprocesses a file (the store, the raw file's status, temporary tables)
SELECT format, rows_clean, rows_quarantined FROM meter_etl.reingest(:f);
SELECT count(*) AS readings FROM meter_etl.reading;
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT meter_key, '2024-01-01 00:30+00', 3 FROM meter_etl.meter WHERE meter_id = 'S1';
-- but cannot change what counts as valid, open a directory, or rewrite the raw zone
SET meter_etl.max_kw = 1e9;
SET meter_etl.inbox_dir = '/';
UPDATE meter_etl.raw_file SET file_name = 'x' WHERE file_id = :f;
DELETE FROM meter_etl.raw_chunk;
RESET SESSION AUTHORIZATION;

-- the reader sees result views and nothing else
SET SESSION AUTHORIZATION sec_reader;
SELECT meter_id, ts, kw, flag_names FROM meter_etl.v_reading ORDER BY meter_id, ts;
SELECT file_name, readings_read, rows_clean, rows_quarantined, balanced FROM meter_etl.v_file_accounting ORDER BY 1;
SELECT reason, readings FROM meter_etl.v_quarantine_summary;
SELECT ingested FROM meter_etl.v_pipeline_health;
SELECT count(*) FROM meter_etl.reading;
SELECT count(*) FROM meter_etl.quarantine;
SELECT count(*) FROM meter_etl.raw_chunk;
SELECT meter_etl.stage('r.csv', '\x00');
SELECT * FROM meter_etl.ingest(1);
SELECT * FROM meter_etl.reingest(1);
INSERT INTO meter_etl.meter (meter_id, interval_s) VALUES ('R', 900);
RESET SESSION AUTHORIZATION;

-- a role with no meter_etl role sees nothing
SET SESSION AUTHORIZATION sec_nobody;
SELECT count(*) FROM meter_etl.v_reading;
RESET SESSION AUTHORIZATION;

SET client_min_messages = warning;
DROP EXTENSION meter_etl CASCADE;
DROP ROLE sec_admin;
DROP ROLE sec_loader;
DROP ROLE sec_reader;
DROP ROLE sec_nobody;
