-- DROP EXTENSION removes everything, partitions and data included.
SELECT count(*) > 0 AS has_partitions FROM pg_inherits WHERE inhparent = 'meter_etl.reading'::regclass;
DROP EXTENSION meter_etl CASCADE;
SELECT count(*) AS leftover_relations FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'meter_etl';
SELECT count(*) AS leftover_schema FROM pg_namespace WHERE nspname = 'meter_etl';
-- and it installs again cleanly
CREATE EXTENSION meter_etl;
SELECT count(*) AS builtin_profiles FROM meter_etl.format_profile;
