-- The result-view contract for BI tools (issue 19): the v_* views of schema
-- meter_etl, their columns, types and order, are pinned here, so a change
-- that would break a dashboard fails this suite (the expected file is the
-- contract; change it only with a CHANGELOG entry).  Every view and every
-- column carries a COMMENT, and meter_etl_reader may SELECT every v_* view
-- and no table.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;

-- the contract: every view, its columns in order, their types
\pset format unaligned
SELECT c.relname AS view, a.attnum AS position, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'v\_%'
 ORDER BY 1, 2;
\pset format aligned

-- undocumented: views or columns without a comment (none)
SELECT c.relname AS view_without_comment
  FROM pg_class c
 WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'v\_%'
   AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''
 ORDER BY 1;
SELECT c.relname AS view, a.attname AS column_without_comment
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'v\_%'
   AND coalesce(col_description(c.oid, a.attnum), '') = ''
 ORDER BY 1, a.attnum;

-- the reader: SELECT on every v_* view, on no table and on no other view
SELECT c.relname AS view_reader_cannot_read
  FROM pg_class c
 WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'v\_%'
   AND NOT has_table_privilege('meter_etl_reader', c.oid, 'SELECT')
 ORDER BY 1;
SELECT c.relname AS relation_reader_can_read, c.relkind
  FROM pg_class c
 WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND NOT (c.relkind = 'v' AND c.relname LIKE 'v\_%')
   AND (has_table_privilege('meter_etl_reader', c.oid, 'SELECT')
        OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                      AND has_column_privilege('meter_etl_reader', c.oid, a.attnum, 'SELECT')))
 ORDER BY 1;
-- the daily partitions the store creates are tables the reader cannot read either
SELECT meter_etl.create_partitions('2024-01-01', '2024-01-01');
SELECT has_table_privilege('meter_etl_reader', 'meter_etl.reading_p20240101', 'SELECT') AS reader_reads_partition;

-- a reader login reads every view, as a BI tool would (an empty store: no
-- rows, but no error either) and is refused every table
SET client_min_messages = warning;
DROP ROLE IF EXISTS contract_reader;
RESET client_min_messages;
CREATE ROLE contract_reader LOGIN IN ROLE meter_etl_reader;
CREATE TEMP TABLE contract_result (relname text, relkind "char", outcome text);
GRANT INSERT ON contract_result TO contract_reader;
SET SESSION AUTHORIZATION contract_reader;
DO $$
DECLARE
  r record;
  n bigint;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c
            WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relkind IN ('r', 'p', 'v')
            ORDER BY c.relname
  LOOP
    BEGIN
      EXECUTE format('SELECT count(*) FROM (SELECT * FROM meter_etl.%I LIMIT 1) x', r.relname) INTO n;
      INSERT INTO contract_result VALUES (r.relname, r.relkind, 'read');
    EXCEPTION WHEN insufficient_privilege THEN
      INSERT INTO contract_result VALUES (r.relname, r.relkind, 'refused');
    END;
  END LOOP;
END
$$;
RESET SESSION AUTHORIZATION;
SELECT relkind, outcome, count(*) FROM contract_result GROUP BY 1, 2 ORDER BY 1, 2;
-- what was read is exactly the v_* views; what was refused, every table
SELECT relname, relkind, outcome FROM contract_result
 WHERE (outcome = 'read') <> (relkind = 'v' AND relname LIKE 'v\_%')
 ORDER BY 1;
DROP TABLE contract_result;
DROP ROLE contract_reader;
