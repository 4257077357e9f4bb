-- DROP EXTENSION removes everything, partitions and data included.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SELECT rows_clean FROM meter_etl.ingest(meter_etl.stage('d.csv',
  convert_to(E'meter_id,timestamp,value,unit\nD1,2024-01-01T00:00:00Z,1,kW\n', 'UTF8')));
SELECT count(*) > 0 AS has_partitions FROM pg_inherits WHERE inhparent = 'meter_etl.reading'::regclass;
DROP EXTENSION meter_etl CASCADE;
SELECT count(*) AS leftover_relations FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'meter_etl';
SELECT count(*) AS leftover_schema FROM pg_namespace WHERE nspname = 'meter_etl';
-- the roles are cluster-wide and stay for other databases
SELECT rolname FROM pg_roles WHERE rolname LIKE 'meter\_etl\_%' ORDER BY 1;
-- and it installs again cleanly
CREATE EXTENSION meter_etl;
SELECT count(*) AS builtin_profiles FROM meter_etl.format_profile;
