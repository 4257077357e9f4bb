-- Raw zone: bytes as received, content hash, immutability, chunked streaming.
-- each suite starts from a fresh install, so ids do not depend on suite order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS meter_etl CASCADE;
CREATE EXTENSION meter_etl;
RESET client_min_messages;
SET timezone = 'UTC';

SELECT meter_etl.stage('day1.csv', convert_to(E'meter_id,timestamp,value,unit\nM1,2024-01-01T00:00:00Z,1,kW\n', 'UTF8'), 'unit-test') AS first_id \gset
SELECT file_name, source, size_bytes, chunk_count, status, sha256 = sha256(convert_to(E'meter_id,timestamp,value,unit\nM1,2024-01-01T00:00:00Z,1,kW\n', 'UTF8')) AS hash_ok
  FROM meter_etl.raw_file WHERE file_id = :first_id;

-- identical bytes under another name: the existing file comes back, no copy
SELECT meter_etl.stage('day1-again.csv', convert_to(E'meter_id,timestamp,value,unit\nM1,2024-01-01T00:00:00Z,1,kW\n', 'UTF8')) = :first_id AS same_file;
SELECT count(*) AS files FROM meter_etl.raw_file;

-- a 2.5 MiB file is stored as three 1 MiB chunks and hashed chunk by chunk
SELECT meter_etl.stage('big.bin', decode(repeat('00ff', 1310720), 'hex') || '\x01'::bytea) AS big_id \gset
SELECT size_bytes, chunk_count FROM meter_etl.raw_file WHERE file_id = :big_id;
SELECT chunk_no, octet_length(data) FROM meter_etl.raw_chunk WHERE file_id = :big_id ORDER BY chunk_no;
SELECT meter_etl.raw_sha256(:big_id) = sha256(decode(repeat('00ff', 1310720), 'hex') || '\x01'::bytea) AS chunked_hash_ok;

-- the raw zone is immutable
UPDATE meter_etl.raw_file SET file_name = 'renamed.csv' WHERE file_id = :first_id;
UPDATE meter_etl.raw_file SET sha256 = '\x00' WHERE file_id = :first_id;
DELETE FROM meter_etl.raw_file WHERE file_id = :first_id;
UPDATE meter_etl.raw_chunk SET data = '\x00' WHERE file_id = :first_id;
DELETE FROM meter_etl.raw_chunk WHERE file_id = :first_id;
INSERT INTO meter_etl.raw_chunk VALUES (:first_id, 5, '\x00');
TRUNCATE meter_etl.raw_chunk;
TRUNCATE meter_etl.raw_file CASCADE;
-- status is metadata and may change
UPDATE meter_etl.raw_file SET status = 'failed', last_error = 'test' WHERE file_id = :first_id;
UPDATE meter_etl.raw_file SET status = 'staged', last_error = NULL WHERE file_id = :first_id;

-- the streaming protocol the client uses: begin, chunks, finish
SELECT meter_etl.stage_begin('streamed.csv', 'client') AS up \gset
SELECT meter_etl.stage_chunk(:up, 0, convert_to(E'meter_id,timestamp,value,unit\n', 'UTF8'));
SELECT meter_etl.stage_chunk(:up, 1, convert_to(E'M9,2024-01-01T00:00:00Z,2,kW\n', 'UTF8'));
SELECT file_id = :up AS kept, is_new FROM meter_etl.stage_finish(:up);
SELECT status, size_bytes, chunk_count FROM meter_etl.raw_file WHERE file_id = :up;
-- a chunk after finishing is refused
SELECT meter_etl.stage_chunk(:up, 2, '\x00');
-- a missing chunk is detected
SELECT meter_etl.stage_begin('gappy.csv') AS gap \gset
SELECT meter_etl.stage_chunk(:gap, 0, '\x41');
SELECT meter_etl.stage_chunk(:gap, 2, '\x42');
SELECT * FROM meter_etl.stage_finish(:gap);
-- re-sending identical bytes through the protocol drops the upload
SELECT meter_etl.stage_begin('dup.csv') AS dup \gset
SELECT meter_etl.stage_chunk(:dup, 0, convert_to(E'meter_id,timestamp,value,unit\nM1,2024-01-01T00:00:00Z,1,kW\n', 'UTF8'));
SELECT file_id = :first_id AS existing, is_new FROM meter_etl.stage_finish(:dup);
SELECT count(*) FROM meter_etl.raw_file WHERE file_id = :dup;

-- an empty file is a valid raw file
SELECT meter_etl.stage('empty.csv', '') AS empty_id \gset
SELECT size_bytes, chunk_count, status FROM meter_etl.raw_file WHERE file_id = :empty_id;

-- lineage: any physical line of a raw file, whatever the line endings
SELECT meter_etl.stage('endings.csv', convert_to(E'h1\r\nl2\rl3\nl4', 'UTF8')) AS le \gset
SELECT n, meter_etl.raw_line(:le, n) FROM generate_series(1, 5) n;   -- past the last line: NULL
SELECT meter_etl.raw_line(:le, 1) IS NOT DISTINCT FROM 'h1' AS crlf_ok;
-- invalid UTF-8 stays visible as \xNN
SELECT meter_etl.stage('latin1.csv', '\x4dfc6c6c65720a'::bytea) AS l1 \gset
SELECT meter_etl.raw_line(:l1, 1);

-- ingest checks the stored bytes against what staging recorded, as it reads
-- them: here a rewrite that only the owner could make (the guard off, as a
-- restore gone wrong or a storage fault would leave it)
SELECT meter_etl.stage('tamper.csv', convert_to(E'meter_id,timestamp,value,unit\nT1,2024-01-01T00:00:00Z,1,kW\n', 'UTF8')) AS tamper \gset
ALTER TABLE meter_etl.raw_chunk DISABLE TRIGGER raw_chunk_guard;
UPDATE meter_etl.raw_chunk SET data = convert_to(E'meter_id,timestamp,value,unit\nT1,2024-01-01T00:00:00Z,9,kW\n', 'UTF8')
 WHERE file_id = :tamper;
-- and a 2-chunk file that lost its last chunk
SELECT meter_etl.stage('cut.csv', convert_to(E'meter_id,timestamp,value,unit\n' || repeat(E'C1,2024-01-01T00:00:00Z,1,kW\n', 40000), 'UTF8')) AS cut \gset
DELETE FROM meter_etl.raw_chunk WHERE file_id = :cut AND chunk_no = 1;
ALTER TABLE meter_etl.raw_chunk ENABLE TRIGGER raw_chunk_guard;
SELECT * FROM meter_etl.ingest(:tamper);
SELECT * FROM meter_etl.ingest(:cut);
SET meter_etl.parallel_parse = off;
SELECT * FROM meter_etl.ingest(:tamper);
RESET meter_etl.parallel_parse;
-- nothing of either was stored, and both are still waiting, unchanged
SELECT count(*) AS stored FROM meter_etl.reading;
SELECT file_id, status FROM meter_etl.raw_file WHERE file_id IN (:tamper, :cut) ORDER BY 1;

-- server-side staging is refused until a superuser configures the inbox
SELECT meter_etl.stage_server_file('x.csv');
-- staging and ingest are not for PUBLIC
CREATE ROLE raw_zone_nobody;
SET ROLE raw_zone_nobody;
SELECT meter_etl.stage('x.csv', '\x00');
SELECT meter_etl.ingest(1);
SELECT count(*) FROM meter_etl.raw_file;
RESET ROLE;
DROP ROLE raw_zone_nobody;
