-- Day partitions created by an ingest are loaded first and indexed once
-- afterwards (meter_etl.bulk_index_build), as long as no batch can repeat
-- a key already written (per meter and channel, its times lie outside the
-- span loaded so far); otherwise the index is built at that point and the
-- checked path takes over.  Either way the accounting and the index must
-- equal those of the row-by-row path.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
CREATE EXTENSION IF NOT EXISTS amcheck;
RESET client_min_messages;
SET timezone = 'UTC';
-- small batches, so that a file spans several of them
SET meter_etl.batch_rows = 1024;

-- 12 meters x 96 quarter hours of one UTC day, in meter and time order
CREATE FUNCTION pg_temp.day_lines(day date, meter_from int, meter_to int, descending bool DEFAULT false)
RETURNS SETOF text LANGUAGE sql AS $$
  SELECT format('B%s,%s,%s,kW', lpad(m::text, 3, '0'),
                to_char((day + q * interval '15 min') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                round((m + q / 100.0)::numeric, 2))
    FROM generate_series(meter_from, meter_to) m, generate_series(0, 95) q
   ORDER BY CASE WHEN descending THEN -m ELSE m END, CASE WHEN descending THEN -q ELSE q END
$$;
CREATE FUNCTION pg_temp.load(name text, lines text[]) RETURNS SETOF meter_etl.ingest_run
LANGUAGE sql AS $$
  SELECT r.* FROM meter_etl.stage(name, convert_to('meter_id,timestamp,value,unit' || E'\n' ||
                                   array_to_string(lines, E'\n') || E'\n', 'UTF8')) s(file_id),
                  LATERAL meter_etl.ingest(s.file_id, 'generic') r
$$;
-- every index of every reading partition holds exactly the partition's rows
CREATE FUNCTION pg_temp.indexes_ok() RETURNS text LANGUAGE sql AS $$
  SELECT count(*) || ' indexes checked'
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace,
         LATERAL bt_index_check(i.indexrelid, true)
   WHERE n.nspname = 'meter_etl' AND c.relname LIKE 'reading\_%'
$$;

-- 1. in order: the whole file goes in before its index is built
SELECT lines_read, readings_read, rows_clean, rows_quarantined, rows_duplicate
  FROM pg_temp.load('ordered.csv', ARRAY(SELECT pg_temp.day_lines('2024-02-01', 1, 12)));
SELECT pg_temp.indexes_ok();
SELECT count(*) FROM meter_etl.reading_p20240201;

-- the index built afterwards enforces the key: the same readings again are duplicates
SELECT rows_clean, rows_duplicate
  FROM pg_temp.load('ordered_again.csv', ARRAY(SELECT pg_temp.day_lines('2024-02-01', 1, 12) OFFSET 1));
-- and the planner can use it
SET enable_seqscan = off;
SELECT kw FROM meter_etl.reading_p20240201 r JOIN meter_etl.meter m USING (meter_key)
 WHERE m.meter_id = 'B007' AND r.ts = '2024-02-01 12:00+00';
RESET enable_seqscan;

-- 2. in order, then a duplicate and a conflicting reading of the first
--    meter in a later batch: the order breaks, the index is built there
--    and both are caught by the key
SELECT lines_read, readings_read, rows_clean, rows_quarantined, rows_duplicate
  FROM pg_temp.load('late_repeat.csv',
                    ARRAY(SELECT pg_temp.day_lines('2024-02-02', 1, 12)) ||
                    ARRAY['B001,2024-02-02T00:15:00Z,1.01,kW', 'B001,2024-02-02T00:30:00Z,9.99,kW']);
SELECT line_no, reason, detail FROM meter_etl.quarantine q
  JOIN meter_etl.raw_file f USING (file_id) WHERE f.file_name = 'late_repeat.csv';
SELECT pg_temp.indexes_ok();

-- 3. newest first (as ESB exports are): out of order from the second batch on
SELECT lines_read, readings_read, rows_clean, rows_quarantined, rows_duplicate
  FROM pg_temp.load('descending.csv',
                    ARRAY(SELECT pg_temp.day_lines('2024-02-03', 1, 12, true)) ||
                    ARRAY(SELECT pg_temp.day_lines('2024-02-03', 5, 5, true)));
SELECT pg_temp.indexes_ok();

-- 4. the same files with the index maintained row by row give the same result
SET meter_etl.bulk_index_build = off;
SELECT lines_read, readings_read, rows_clean, rows_quarantined, rows_duplicate
  FROM pg_temp.load('late_repeat_rowwise.csv',
                    ARRAY(SELECT replace(l, '2024-02-02', '2024-02-12') FROM pg_temp.day_lines('2024-02-02', 1, 12) l) ||
                    ARRAY['B001,2024-02-12T00:15:00Z,1.01,kW', 'B001,2024-02-12T00:30:00Z,9.99,kW']);
SELECT lines_read, readings_read, rows_clean, rows_quarantined, rows_duplicate
  FROM pg_temp.load('descending_rowwise.csv',
                    ARRAY(SELECT replace(l, '2024-02-03', '2024-02-13') FROM pg_temp.day_lines('2024-02-03', 1, 12, true) l) ||
                    ARRAY(SELECT replace(l, '2024-02-03', '2024-02-13') FROM pg_temp.day_lines('2024-02-03', 5, 5, true) l));
RESET meter_etl.bulk_index_build;

-- 5. one transaction creates a partition and loads two files into it: the
--    first is loaded before its index is built, the second, finding rows
--    there, is checked against the key
BEGIN;
SELECT meter_etl.create_partitions('2024-02-04', '2024-02-04');
SELECT rows_clean FROM pg_temp.load('first.csv', ARRAY(SELECT pg_temp.day_lines('2024-02-04', 7, 12)));
SELECT rows_clean, rows_duplicate
  FROM pg_temp.load('second.csv', ARRAY(SELECT pg_temp.day_lines('2024-02-04', 1, 8)));
SELECT pg_temp.indexes_ok();
COMMIT;

-- 6. a failed ingest leaves nothing behind: the partition it created goes too
BEGIN;
SELECT rows_clean FROM pg_temp.load('rolled_back.csv', ARRAY(SELECT pg_temp.day_lines('2024-02-05', 1, 12)));
ROLLBACK;
SELECT to_regclass('meter_etl.reading_p20240205') IS NULL AS partition_gone;

-- which indexes were built by a sort after (part of) the load: a rebuilt
-- index has a new file, so its relfilenode no longer equals its oid
SELECT c.relname AS partition, x.relfilenode <> x.oid AS built_after_load
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class x ON x.oid = i.indexrelid
 WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relname LIKE 'reading\_%'
 ORDER BY 1;

-- every file balances
SELECT file_name, balanced
  FROM meter_etl.v_file_accounting ORDER BY file_name;
SELECT pg_temp.indexes_ok();

-- 7. one batch holds readings that repeat stored ones in an existing
--    partition (resolved after the batch is written) and a late repeat
--    that makes the new partition build its index mid-batch.  The rebuild
--    closes and reopens the store's relations; an invalidation arriving
--    then (here: ANALYZE from another session, run from an index
--    expression while the index is built) must not leave the duplicate
--    resolution with a stale relation (it used to crash the backend).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
SELECT rows_clean FROM pg_temp.load('existing.csv', ARRAY(SELECT pg_temp.day_lines('2024-02-06', 1, 1)));
CREATE FUNCTION public.bulk_load_probe(x float8) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF x = 7.125 THEN
    PERFORM public.dblink_exec(format('dbname=%s port=%s host=%s user=%s', current_database(),
                                      current_setting('port'),
                                      split_part(current_setting('unix_socket_directories'), ',', 1),
                                      current_user),
                               'ANALYZE meter_etl.reading_p20240206');
    PERFORM count(*) FROM meter_etl.meter;   -- takes a lock: the invalidation is processed
  END IF;
  RETURN x;
END $$;
CREATE INDEX reading_probe_idx ON meter_etl.reading (public.bulk_load_probe(kw));
SELECT lines_read, rows_clean, rows_quarantined, rows_duplicate
  FROM pg_temp.load('repeat_and_late.csv',
         ARRAY(SELECT replace(l, ',2.05,', ',7.125,') FROM pg_temp.day_lines('2024-02-07', 2, 11) l)
         || ARRAY(SELECT pg_temp.day_lines('2024-02-06', 1, 1))
         || ARRAY['B002,2024-02-07T00:15:00Z,10,kW']);
SELECT (SELECT count(*) FROM meter_etl.reading_p20240206) AS existing_rows,
       (SELECT count(*) FROM meter_etl.reading_p20240207) AS new_rows;
SELECT pg_temp.indexes_ok();
DROP INDEX meter_etl.reading_probe_idx;
DROP FUNCTION public.bulk_load_probe(float8);
SELECT file_name, balanced FROM meter_etl.v_file_accounting
 WHERE file_name IN ('existing.csv', 'repeat_and_late.csv') ORDER BY file_name;
