/* meter_etl--0.1.sql - install script for meter_etl 0.1 */

\echo Use "CREATE EXTENSION meter_etl" to load this file. \quit

-- The schema belongs to the extension, so DROP EXTENSION removes it too.
CREATE SCHEMA meter_etl;
COMMENT ON SCHEMA meter_etl IS 'meter_etl: smart-meter ETL (raw zone, ingest, quarantine, clean store)';
SET LOCAL search_path TO meter_etl, pg_catalog;

-- ======================================================================
-- Catalog of reason codes and quality flags: documented in one place
-- ======================================================================

CREATE TABLE reason_code (
    code        text PRIMARY KEY,
    stage       text NOT NULL CHECK (stage IN ('parse', 'field', 'rule', 'store')),
    description text NOT NULL
);
COMMENT ON TABLE reason_code IS
  'Quarantine reason codes: stable identifiers stored in meter_etl.quarantine.reason';

INSERT INTO reason_code VALUES
 ('parse_error',            'parse', 'The line could not be split into the expected fields: wrong column count, invalid or unterminated quoting, an over-long line, or an invalid NEM12 record.'),
 ('encoding_error',         'parse', 'The line is not valid UTF-8 or contains a NUL byte.'),
 ('missing_field',          'field', 'The meter id or timestamp field is empty.'),
 ('bad_meter_id',           'field', 'The meter id is longer than 64 bytes or contains control characters.'),
 ('unknown_meter',          'store', 'A row inserted into meter_etl.reading names a meter_key that is not in meter_etl.meter.'),
 ('unknown_channel',        'store', 'A row inserted into meter_etl.reading names a channel_id that is not in meter_etl.channel.'),
 ('bad_timestamp',          'field', 'The timestamp does not parse in the format''s date order, or names an impossible date or time.'),
 ('nonexistent_local_time', 'field', 'A local time inside the hour skipped by a daylight-saving change.'),
 ('timestamp_out_of_range', 'rule',  'Earlier than meter_etl.min_timestamp or later than now plus meter_etl.future_tolerance.'),
 ('off_grid_timestamp',     'rule',  'Not on the meter''s interval grid and further from it than meter_etl.grid_tolerance (or a quarter interval).'),
 ('missing_value',          'field', 'The value is empty or a missing marker of the format (Null, ?, NaN, NA), or NEM12 quality N.'),
 ('bad_value',              'field', 'The value is not a decimal number (text, several points, hex, infinity, out of range).'),
 ('negative_value',         'rule',  'A negative reading on a channel that is not signed (net channels may be negative).'),
 ('implausible_value',      'rule',  'Larger in magnitude than meter_etl.max_kw after conversion to kW.'),
 ('bad_unit',               'field', 'The unit is not one of W, kW, MW, Wh, kWh, MWh (energy units are per interval).'),
 ('bad_channel',            'field', 'The channel label is longer than 63 bytes once trimmed and lower-cased (channel names are at most 63 bytes).'),
 ('duplicate_conflict',     'store', 'Another reading for the same meter, channel and time with a different value was read first; the first one is kept.');

CREATE TABLE quality_flag (
    bit         integer PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL
);
COMMENT ON TABLE quality_flag IS
  'Bits of meter_etl.reading.flags (0 = an actual reading as received)';

INSERT INTO quality_flag VALUES
 (1,  'estimated',        'Estimated by meter_etl (interpolation); never mixed silently with actual data.'),
 (2,  'outlier',          'Flagged by the rolling-statistics outlier detector.'),
 (4,  'suspect_meter',    'The meter was flagged faulty for this period.'),
 (8,  'edited',           'Changed by a person or a rule after ingest.'),
 (16, 'source_estimated', 'The source marked the reading estimated or substituted (NEM12 E/S/F, ESTIMATED? = Yes).'),
 (32, 'time_adjusted',    'The timestamp was snapped onto the interval grid (within meter_etl.grid_tolerance).');

CREATE FUNCTION flag_names(flags integer)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
SET search_path = pg_catalog
AS $$
  SELECT coalesce(array_agg(name ORDER BY bit), '{}')
  FROM (VALUES (1, 'estimated'), (2, 'outlier'), (4, 'suspect_meter'), (8, 'edited'),
               (16, 'source_estimated'), (32, 'time_adjusted')) AS f(bit, name)
  WHERE flags & bit <> 0
$$;
COMMENT ON FUNCTION flag_names(integer) IS 'Names of the quality flags set in a flags value';

-- ======================================================================
-- Raw zone: files exactly as received, immutable
-- ======================================================================

CREATE TABLE raw_file (
    file_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name    text NOT NULL,
    source       text,
    sha256       bytea UNIQUE,
    size_bytes   bigint NOT NULL DEFAULT 0,
    chunk_count  integer NOT NULL DEFAULT 0,
    received_at  timestamptz NOT NULL DEFAULT now(),
    received_by  name NOT NULL DEFAULT session_user,
    status       text NOT NULL DEFAULT 'receiving'
                 CHECK (status IN ('receiving', 'staged', 'processing', 'ingested', 'failed', 'dead_letter')),
    format       text,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    next_attempt_at timestamptz,
    CHECK (status = 'receiving' OR sha256 IS NOT NULL)
);
CREATE INDEX raw_file_status_idx ON raw_file (status, file_id);
COMMENT ON TABLE raw_file IS
  'Raw zone: one row per received file; the bytes are in meter_etl.raw_chunk. Content columns are immutable once staged.';
COMMENT ON COLUMN raw_file.sha256 IS 'SHA-256 of the bytes as received; staging identical bytes again returns the existing file';
COMMENT ON COLUMN raw_file.status IS 'receiving -> staged -> processing -> ingested | failed | dead_letter';
COMMENT ON COLUMN raw_file.next_attempt_at IS 'A failed file is not retried before this time (exponential back-off)';

CREATE TABLE raw_chunk (
    file_id   bigint NOT NULL REFERENCES raw_file,
    chunk_no  integer NOT NULL CHECK (chunk_no >= 0),
    data      bytea NOT NULL,
    PRIMARY KEY (file_id, chunk_no)
);
COMMENT ON TABLE raw_chunk IS
  'Raw zone bytes in 1 MiB chunks, so files of any size stage and stream with bounded memory';

-- lz4 is PostgreSQL's fast TOAST compression (pglz is the slow default);
-- fall back to uncompressed storage on servers built without lz4.
DO $$
BEGIN
  ALTER TABLE raw_chunk ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  ALTER TABLE raw_chunk ALTER COLUMN data SET STORAGE EXTERNAL;
END
$$;

CREATE FUNCTION raw_zone_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  parent_status text;
  parent_chunks integer;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION 'cannot truncate "%": the raw zone is immutable', TG_TABLE_NAME
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF TG_TABLE_NAME = 'raw_file' THEN
    IF OLD.status = 'receiving' THEN
      RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
      RAISE EXCEPTION 'cannot delete raw file %: the raw zone is immutable', OLD.file_id
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Staged files are kept as received; only their status changes.';
    END IF;
    IF (NEW.file_id, NEW.file_name, NEW.source, NEW.sha256, NEW.size_bytes, NEW.chunk_count,
        NEW.received_at, NEW.received_by)
       IS DISTINCT FROM
       (OLD.file_id, OLD.file_name, OLD.source, OLD.sha256, OLD.size_bytes, OLD.chunk_count,
        OLD.received_at, OLD.received_by) OR NEW.status = 'receiving' THEN
      RAISE EXCEPTION 'cannot modify raw file %: the raw zone is immutable', OLD.file_id
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = 'Only status, format, attempts and last_error may change after staging.';
    END IF;
    RETURN NEW;
  END IF;
  -- raw_chunk
  IF TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION 'cannot modify chunks of raw file %: the raw zone is immutable', OLD.file_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  SELECT status, chunk_count INTO parent_status, parent_chunks FROM raw_file
   WHERE file_id = CASE WHEN TG_OP = 'DELETE' THEN OLD.file_id ELSE NEW.file_id END;
  -- a restore (pg_dump) brings staged files back chunk by chunk: a chunk
  -- may complete a file up to its recorded chunk_count, never change it
  IF TG_OP = 'INSERT' AND parent_status <> 'receiving' AND NEW.chunk_no < parent_chunks THEN
    RETURN NEW;
  END IF;
  IF parent_status IS DISTINCT FROM 'receiving' THEN
    RAISE EXCEPTION 'cannot % chunks of raw file %: it is no longer receiving',
      lower(TG_OP), CASE WHEN TG_OP = 'DELETE' THEN OLD.file_id ELSE NEW.file_id END
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION raw_zone_guard() IS
  'Keeps the raw zone immutable: staged files and their chunks cannot be changed, deleted or truncated';

CREATE TRIGGER raw_file_guard BEFORE UPDATE OR DELETE ON raw_file
  FOR EACH ROW EXECUTE FUNCTION raw_zone_guard();
CREATE TRIGGER raw_file_no_truncate BEFORE TRUNCATE ON raw_file
  FOR EACH STATEMENT EXECUTE FUNCTION raw_zone_guard();
CREATE TRIGGER raw_chunk_guard BEFORE INSERT OR UPDATE OR DELETE ON raw_chunk
  FOR EACH ROW EXECUTE FUNCTION raw_zone_guard();
CREATE TRIGGER raw_chunk_no_truncate BEFORE TRUNCATE ON raw_chunk
  FOR EACH STATEMENT EXECUTE FUNCTION raw_zone_guard();

-- Staging: begin / chunk / finish is the streaming protocol of the client
-- and of stage_server_file; stage() wraps it for bytea values.

CREATE FUNCTION raw_sha256(file_id bigint)
RETURNS bytea
AS 'MODULE_PATHNAME', 'meter_etl_raw_sha256'
LANGUAGE C STRICT VOLATILE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION raw_sha256(bigint) IS
  'SHA-256 of a raw file''s stored bytes, computed chunk by chunk (also verifies integrity)';

CREATE FUNCTION stage_begin(file_name text, source text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = meter_etl, pg_catalog
AS $$
  INSERT INTO meter_etl.raw_file (file_name, source, received_by)
  VALUES (file_name, source, session_user)
  RETURNING file_id
$$;
COMMENT ON FUNCTION stage_begin(text, text) IS
  'Start receiving a file; returns its file_id. Follow with stage_chunk() calls and stage_finish().';

CREATE FUNCTION stage_chunk(file_id bigint, chunk_no integer, data bytea)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = meter_etl, pg_catalog
AS $$
BEGIN
  PERFORM 1 FROM meter_etl.raw_file f
   WHERE f.file_id = stage_chunk.file_id AND f.status = 'receiving'
     AND f.received_by = session_user;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'raw file % is not being received by this user', stage_chunk.file_id
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Call meter_etl.stage_begin() first.';
  END IF;
  INSERT INTO meter_etl.raw_chunk VALUES (stage_chunk.file_id, stage_chunk.chunk_no, stage_chunk.data);
END
$$;
COMMENT ON FUNCTION stage_chunk(bigint, integer, bytea) IS
  'Append one chunk (chunks are numbered from 0) to a file being received';

CREATE FUNCTION stage_finish(upload_id bigint, OUT file_id bigint, OUT is_new boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_id   bigint := upload_id;
  v_sha  bytea;
  v_size bigint;
  v_n    integer;
  v_max  integer;
  v_old  bigint;
BEGIN
  PERFORM 1 FROM meter_etl.raw_file f
   WHERE f.file_id = v_id AND f.status = 'receiving' AND f.received_by = session_user
   FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'raw file % is not being received by this user', v_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  SELECT count(*), coalesce(sum(octet_length(c.data)), 0), max(c.chunk_no)
    INTO v_n, v_size, v_max
    FROM meter_etl.raw_chunk c WHERE c.file_id = v_id;
  IF v_n > 0 AND v_max <> v_n - 1 THEN
    RAISE EXCEPTION 'raw file % has missing chunks', v_id
      USING ERRCODE = 'data_exception',
            DETAIL = format('Found %s chunks, the highest numbered %s.', v_n, v_max);
  END IF;
  v_sha := meter_etl.raw_sha256(v_id);
  -- identical bytes staged concurrently must not both survive
  PERFORM pg_advisory_xact_lock(hashtextextended(encode(v_sha, 'hex'), 7411));
  SELECT f.file_id INTO v_old FROM meter_etl.raw_file f WHERE f.sha256 = v_sha;
  IF FOUND THEN
    DELETE FROM meter_etl.raw_chunk c WHERE c.file_id = v_id;
    DELETE FROM meter_etl.raw_file f WHERE f.file_id = v_id;
    stage_finish.file_id := v_old;
    is_new := false;
    RETURN;
  END IF;
  UPDATE meter_etl.raw_file f
     SET sha256 = v_sha, size_bytes = v_size, chunk_count = v_n, status = 'staged'
   WHERE f.file_id = v_id;
  stage_finish.file_id := v_id;
  is_new := true;
END
$$;
COMMENT ON FUNCTION stage_finish(bigint) IS
  'Finish receiving a file: hash it, and either keep it (is_new) or drop it in favour of an identical staged file';

CREATE FUNCTION stage(file_name text, content bytea, source text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_id    bigint;
  v_old   bigint;
  v_chunk constant integer := 1048576;
  v_hash  constant bytea := sha256(content);
BEGIN
  -- check for identical bytes first so a re-sent file costs no copy
  PERFORM pg_advisory_xact_lock(hashtextextended(encode(v_hash, 'hex'), 7411));
  SELECT f.file_id INTO v_old FROM meter_etl.raw_file f WHERE f.sha256 = v_hash;
  IF FOUND THEN
    RETURN v_old;
  END IF;
  v_id := meter_etl.stage_begin(file_name, source);
  INSERT INTO meter_etl.raw_chunk (file_id, chunk_no, data)
  SELECT v_id, n, substring(content FROM n * v_chunk + 1 FOR v_chunk)
    FROM generate_series(0, (octet_length(content) - 1) / v_chunk) AS n
   WHERE octet_length(content) > 0;
  RETURN (meter_etl.stage_finish(v_id)).file_id;
END
$$;
COMMENT ON FUNCTION stage(text, bytea, text) IS
  'Stage a file''s bytes into the raw zone; returns its file_id (the existing one if identical bytes were staged before)';

CREATE FUNCTION stage_server_file(path text, source text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'meter_etl_stage_server_file'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION stage_server_file(text, text) IS
  'Stage a file from the server''s meter_etl.inbox_dir (paths outside it, .. and symlinks out are refused)';

CREATE FUNCTION raw_line(file_id bigint, line_no bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'meter_etl_raw_line'
LANGUAGE C STRICT VOLATILE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION raw_line(bigint, bigint) IS
  'One physical line of a raw file as received (1-based; LF, CRLF or CR end a line), for lineage checks';

-- ======================================================================
-- Format profiles
-- ======================================================================

CREATE TABLE format_profile (
    name             text PRIMARY KEY,
    description      text,
    layout           text NOT NULL DEFAULT 'long' CHECK (layout IN ('long', 'wide', 'nem12')),
    delimiter        "char" NOT NULL DEFAULT ',',
    quote            "char" NOT NULL DEFAULT '"',
    detect_columns   text[] NOT NULL DEFAULT '{}',
    meter_column     text,
    meter_default    text,
    channel_column   text,
    channel_default  text NOT NULL DEFAULT 'import',
    channel_map      jsonb NOT NULL DEFAULT '{}',
    ts_column        text,
    date_column      text,
    time_column      text,
    date_order       text NOT NULL DEFAULT 'YMD' CHECK (date_order IN ('YMD', 'DMY', 'MDY')),
    time_zone        text NOT NULL DEFAULT 'UTC',
    ts_marks         text NOT NULL DEFAULT 'start' CHECK (ts_marks IN ('start', 'end')),
    newest_first     boolean NOT NULL DEFAULT false,
    value_columns    text[] NOT NULL DEFAULT '{}',
    value_channels   text[],
    value_units      text[],
    unit_column      text,
    unit_default     text,
    interval_minutes integer CHECK (interval_minutes > 0 AND 1440 % interval_minutes = 0),
    missing_markers  text[] NOT NULL DEFAULT '{"Null",NaN,?,NA}' CHECK (array_position(missing_markers, NULL) IS NULL),
    estimated_column text,
    estimated_values text[] NOT NULL DEFAULT '{yes,y,true,e}',
    signed_channels  text[] NOT NULL DEFAULT '{net}',
    builtin          boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE format_profile IS
  'How a vendor''s file maps to (meter, channel, time, value, unit); add rows for your own layouts';
COMMENT ON COLUMN format_profile.detect_columns IS
  'Header names (case-insensitive) that identify the layout for format => ''auto''; the profile matching the most wins';
COMMENT ON COLUMN format_profile.channel_map IS
  'Raw channel label -> "channel" or "channel:unit", e.g. {"Active Import Interval (kW)": "import:kW"}';
COMMENT ON COLUMN format_profile.ts_marks IS 'Whether timestamps mark the start or the end of the interval';
COMMENT ON COLUMN format_profile.newest_first IS
  'The file runs backwards in time, which reverses how a repeated DST hour is resolved';
COMMENT ON COLUMN format_profile.time_zone IS
  'Zone of timestamps without an offset (IANA name, e.g. Europe/Dublin); ISO-8601 offsets always win';

INSERT INTO format_profile (name, description, layout, delimiter, detect_columns, meter_column,
    channel_column, channel_map, ts_column, date_column, time_column, date_order, time_zone,
    ts_marks, newest_first, value_columns, value_channels, value_units, unit_column, unit_default,
    interval_minutes, estimated_column, builtin)
VALUES
 ('generic', 'meter_id,timestamp,value,unit[,channel]: ISO-8601 timestamps, W/kW/Wh/kWh per row, 15-minute interval',
  'long', ',', '{meter_id,timestamp,value,unit}', 'meter_id', 'channel', '{}', 'timestamp', NULL, NULL,
  'YMD', 'UTC', 'start', false, '{value}', NULL, NULL, 'unit', NULL, 15, NULL, true),
 ('generic_30min', 'The generic layout for 30-minute meters (select it explicitly)',
  'long', ',', '{}', 'meter_id', 'channel', '{}', 'timestamp', NULL, NULL,
  'YMD', 'UTC', 'start', false, '{value}', NULL, NULL, 'unit', NULL, 30, NULL, true),
 ('generic_60min', 'The generic layout for hourly meters (select it explicitly)',
  'long', ',', '{}', 'meter_id', 'channel', '{}', 'timestamp', NULL, NULL,
  'YMD', 'UTC', 'start', false, '{value}', NULL, NULL, 'unit', NULL, 60, NULL, true),
 ('lcl', 'Smart meters in London (LCL), Kaggle halfhourly layout: LCLid,tstp,energy(kWh/hh); UTC, kWh per half hour',
  'long', ',', '{lclid,tstp,energy(kwh/hh)}', 'lclid', NULL, '{}', 'tstp', NULL, NULL,
  'YMD', 'UTC', 'start', false, '{energy(kwh/hh)}', NULL, '{kWh}', NULL, 'kWh', 30, NULL, true),
 ('lcl_tou', 'Smart meters in London (LCL), UK Power Networks layout: LCLid,stdorToU,DateTime,KWH/hh (per half hour)',
  'long', ',', '{lclid,stdortou,datetime,kwh/hh (per half hour)}', 'lclid', NULL, '{}', 'datetime', NULL, NULL,
  'YMD', 'UTC', 'start', false, '{kwh/hh (per half hour)}', NULL, '{kWh}', NULL, 'kWh', 30, NULL, true),
 ('uci', 'UCI household power: Date;Time;Global_active_power;... day-first local time (Europe/Paris), kW, ? markers, 1-minute',
  'long', ';', '{date,time,global_active_power}', NULL, NULL, '{}', NULL, 'date', 'time',
  'DMY', 'Europe/Paris', 'start', false, '{global_active_power}', NULL, '{kW}', NULL, 'kW', 1, NULL, true),
 ('esb_hdf', 'ESB Networks HDF export: interval end times in Europe/Dublin, newest first, import/export interleaved, kW or kWh',
  'long', ',', '{mprn,read value,read type,read date and end time}', 'mprn', 'read type',
  '{"Active Import Interval (kW)": "import:kW", "Active Export Interval (kW)": "export:kW",
    "Active Import Interval (kWh)": "import:kWh", "Active Export Interval (kWh)": "export:kWh"}',
  'read date and end time', NULL, NULL, 'DMY', 'Europe/Dublin', 'end', true, '{read value}', NULL, NULL,
  NULL, NULL, 30, NULL, true),
 ('au_interval_csv', 'Australian retailer interval export: Nmi,...,Date,Interval,Start Time,End Time,Value,Unit of Measure (AEST)',
  'long', ',', '{nmi,register,date,start time,value,unit of measure}', 'nmi', 'register',
  '{"E1": "import", "B1": "export"}', NULL, 'date', 'start time', 'YMD', 'Australia/Brisbane', 'start', false,
  '{value}', NULL, NULL, 'unit of measure', NULL, 30, NULL, true),
 ('wide_au', 'Wide meter-day layout (Jemena portal): NMI,METER SERIAL NUMBER,CON/GEN,DATE,ESTIMATED?,00:00 - 00:30,... kWh, AEST',
  'wide', ',', '{nmi,con/gen,date}', 'nmi', 'con/gen', '{"Consumption": "import", "Generation": "export"}',
  NULL, 'date', NULL, 'DMY', 'Australia/Brisbane', 'start', false, '{}', NULL, NULL, NULL, 'kWh', NULL,
  'estimated?', true),
 ('wide', 'Generic wide layout: meter_id,date[,channel][,unit],HH:MM columns (interval start times), kWh per interval',
  'wide', ',', '{meter_id,date}', 'meter_id', 'channel', '{}', NULL, 'date', NULL, 'YMD', 'UTC',
  'start', false, '{}', NULL, NULL, NULL, 'kWh', NULL, NULL, true),
 ('nem12', 'AEMO NEM12 interval data (100/200/300/400/500/900 records), market time (UTC+10)',
  'nem12', ',', '{}', NULL, NULL, '{"E1": "import", "B1": "export"}', NULL, NULL, NULL, 'YMD',
  'Australia/Brisbane', 'start', false, '{}', NULL, NULL, NULL, NULL, NULL, NULL, true),
 ('pecan_15min', 'Pecan Street 15-minute export: dataid,local_15min,,grid,solar (US Central local time, kW; grid is net)',
  'long', ',', '{dataid,local_15min,grid,solar}', 'dataid', NULL, '{}', NULL, 'local_15min', '',
  'MDY', 'America/Chicago', 'start', false, '{grid,solar}', '{net,solar}', '{kW,kW}', NULL, 'kW', 15, NULL, true);

CREATE FUNCTION validate_profile()
RETURNS trigger
AS 'MODULE_PATHNAME', 'meter_etl_validate_profile'
LANGUAGE C
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION validate_profile() IS
  'Trigger: a format profile must load the way ingest will use it (units, zone, columns)';
CREATE TRIGGER validate_profile AFTER INSERT OR UPDATE ON format_profile
  FOR EACH ROW EXECUTE FUNCTION validate_profile();

-- ======================================================================
-- Clean store
-- ======================================================================

CREATE TABLE meter (
    meter_key     integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    meter_id      text NOT NULL UNIQUE,
    interval_s    integer NOT NULL CHECK (interval_s > 0 AND 86400 % interval_s = 0),
    time_zone     text,
    first_file_id bigint,
    last_reading_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE meter IS 'Meter dimension: the narrow meter_key used by readings, with the meter''s interval';
COMMENT ON COLUMN meter.last_reading_at IS 'Newest reading stored by ingest (data freshness)';

CREATE TABLE channel (
    channel_id  smallint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    signed      boolean NOT NULL DEFAULT false,
    description text
);
COMMENT ON TABLE channel IS 'Series a meter records (import, export, net ...); signed channels may be negative';
INSERT INTO channel (channel_id, name, signed, description) OVERRIDING SYSTEM VALUE VALUES
 (1, 'import', false, 'Energy drawn from the grid (the default for single-series files)'),
 (2, 'export', false, 'Energy fed into the grid (solar export)'),
 (3, 'net',    true,  'Net import; negative while exporting'),
 (4, 'solar',  false, 'On-site generation');
SELECT setval(pg_get_serial_sequence('meter_etl.channel', 'channel_id'), 100);

CREATE TABLE reading (
    ts         timestamptz NOT NULL,
    kw         double precision NOT NULL,
    file_id    integer,
    line_no    integer,
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL DEFAULT 1,
    flags      smallint NOT NULL DEFAULT 0
) PARTITION BY RANGE (ts);
COMMENT ON TABLE reading IS
  'Clean store: one row per meter, channel and interval start (UTC), average kW; partitioned by day, each partition keyed by (meter_key, channel_id, ts). The single source of truth.';
COMMENT ON COLUMN reading.kw IS 'Average power over the interval in kW (energy readings are converted)';
COMMENT ON COLUMN reading.flags IS 'Quality flags, see meter_etl.quality_flag (0 = actual)';
COMMENT ON COLUMN reading.line_no IS 'Physical line of the raw file the reading came from (lineage)';

-- The key lives on each partition rather than on the parent: the daily
-- partitions are created at run time (not by the extension script), and a
-- key inherited from an extension-owned parent would stop pg_dump output
-- from restoring.  ts is part of the key and of the partition bound, so a
-- key per partition is a key for the whole table.
CREATE TABLE reading_default PARTITION OF reading DEFAULT;
ALTER TABLE reading_default ADD PRIMARY KEY (meter_key, channel_id, ts);
COMMENT ON TABLE reading_default IS
  'Rows inserted for days without a daily partition wait here; create_partitions() moves them into their partition';

-- the daily partitions by day, for the functions and views that need them
CREATE VIEW reading_partition AS
SELECT to_date(substr(c.relname, 10), 'YYYYMMDD') AS day, c.oid::regclass AS part, c.reltuples
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'meter_etl.reading'::regclass
   AND c.relname ~ '^reading_p[0-9]{8}$';
COMMENT ON VIEW reading_partition IS
  'Daily partitions of reading (UTC day, relation, planner row estimate: -1 never analyzed, 0 empty when analyzed)';

CREATE FUNCTION create_partitions(from_date date, to_date date)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  d       date;
  part    text;
  created integer := 0;
BEGIN
  IF to_date - from_date > 3660 THEN
    RAISE EXCEPTION 'refusing to create % daily partitions at once', to_date - from_date + 1
      USING ERRCODE = 'program_limit_exceeded',
            HINT = 'Check the date range; partitions are created per day.';
  END IF;
  -- one creator at a time; ATTACH keeps concurrent inserts running
  PERFORM pg_advisory_xact_lock(hashtextextended('meter_etl.create_partitions', 7411));
  FOR d IN SELECT generate_series(from_date, to_date, interval '1 day')::date LOOP
    part := 'reading_p' || to_char(d, 'YYYYMMDD');
    CONTINUE WHEN to_regclass('meter_etl.' || part) IS NOT NULL;
    EXECUTE format('CREATE TABLE meter_etl.%I (LIKE meter_etl.reading INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION)', part);
    EXECUTE format('ALTER TABLE meter_etl.%I ADD PRIMARY KEY (meter_key, channel_id, ts)', part);
    -- rows that arrived before the partition existed wait in the default one
    EXECUTE format('WITH moved AS (DELETE FROM meter_etl.reading_default WHERE ts >= %L AND ts < %L RETURNING *)'
                   ' INSERT INTO meter_etl.%I SELECT * FROM moved',
                   d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00', part);
    EXECUTE format('ALTER TABLE meter_etl.reading ATTACH PARTITION meter_etl.%I FOR VALUES FROM (%L) TO (%L)',
                   part, d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00');
    created := created + 1;
  END LOOP;
  RETURN created;
END
$$;
COMMENT ON FUNCTION create_partitions(date, date) IS
  'Create the daily partitions of meter_etl.reading for a UTC date range (ingest creates missing ones itself)';

CREATE FUNCTION register_meters(ids text[], intervals integer[], time_zone text, file_id bigint)
RETURNS TABLE (meter_id text, meter_key integer)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
BEGIN
  -- sorted, so that concurrent ingests take row locks in the same order
  INSERT INTO meter_etl.meter AS m (meter_id, interval_s, time_zone, first_file_id)
  SELECT u.id, u.iv, register_meters.time_zone, register_meters.file_id
    FROM unnest(ids, intervals) AS u(id, iv)
   ORDER BY u.id
  ON CONFLICT ON CONSTRAINT meter_meter_id_key DO NOTHING;
  RETURN QUERY SELECT m.meter_id, m.meter_key FROM meter_etl.meter m WHERE m.meter_id = ANY (ids);
END
$$;
COMMENT ON FUNCTION register_meters(text[], integer[], text, bigint) IS
  'Add meters not yet known (used by ingest) and return the keys of all given meter ids';

CREATE FUNCTION register_channels(names text[], signed boolean[])
RETURNS TABLE (name text, channel_id smallint)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
BEGIN
  INSERT INTO meter_etl.channel AS c (name, signed)
  SELECT u.n, u.s FROM unnest(names, signed) AS u(n, s) ORDER BY u.n
  ON CONFLICT ON CONSTRAINT channel_name_key DO NOTHING;
  RETURN QUERY SELECT c.name, c.channel_id FROM meter_etl.channel c WHERE c.name = ANY (names);
END
$$;
COMMENT ON FUNCTION register_channels(text[], boolean[]) IS
  'Add channels not yet known (used by ingest) and return the ids of all given channel names';

CREATE FUNCTION reading_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'meter_etl_reading_guard'
LANGUAGE C
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION reading_guard() IS
  'BEFORE INSERT OR UPDATE trigger on meter_etl.reading: invalid rows go to meter_etl.quarantine with a reason and are skipped';

CREATE TRIGGER reading_guard BEFORE INSERT OR UPDATE ON reading
  FOR EACH ROW EXECUTE FUNCTION reading_guard();

CREATE TABLE quarantine (
    quarantine_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id       bigint,
    line_no       bigint,
    reason        text NOT NULL REFERENCES reason_code,
    detail        text,
    meter_id      text,
    channel       text,
    ts            timestamptz,
    ts_raw        text,
    value_raw     text,
    unit_raw      text,
    raw_line      text,
    source        text NOT NULL DEFAULT 'ingest' CHECK (source IN ('ingest', 'trigger')),
    run_id        bigint,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_file_idx ON quarantine (file_id, line_no);
CREATE INDEX quarantine_reason_idx ON quarantine (reason, created_at);
COMMENT ON TABLE quarantine IS
  'Readings that failed validation, with the reason, the raw values and the raw line; nothing is dropped silently';
COMMENT ON COLUMN quarantine.raw_line IS 'The raw line as text; bytes that are not valid UTF-8 appear as \xNN';

CREATE TABLE ingest_run (
    run_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id          bigint NOT NULL REFERENCES raw_file,
    format           text,
    status           text NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
    started_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at      timestamptz,
    bytes_read       bigint NOT NULL DEFAULT 0,
    lines_read       bigint NOT NULL DEFAULT 0,
    blank_lines      bigint NOT NULL DEFAULT 0,
    readings_read    bigint NOT NULL DEFAULT 0,
    rows_clean       bigint NOT NULL DEFAULT 0,
    rows_quarantined bigint NOT NULL DEFAULT 0,
    rows_duplicate   bigint NOT NULL DEFAULT 0,
    quarantined_by_reason jsonb NOT NULL DEFAULT '{}',
    error            text,
    CONSTRAINT ingest_run_accounting
      CHECK (status <> 'ok' OR readings_read = rows_clean + rows_quarantined + rows_duplicate)
);
CREATE INDEX ingest_run_file_idx ON ingest_run (file_id, run_id);
COMMENT ON TABLE ingest_run IS
  'One row per ingest of a raw file; the CHECK constraint enforces readings_read = clean + quarantined + duplicate';
COMMENT ON COLUMN ingest_run.lines_read IS 'Non-blank data lines after the header (NEM12: records after the 100 record)';
COMMENT ON COLUMN ingest_run.readings_read IS
  'Readings the file holds: one per value in a parsed line, one for a line that could not be parsed';

CREATE FUNCTION ingest(file_id bigint, format text DEFAULT 'auto')
RETURNS ingest_run
AS 'MODULE_PATHNAME', 'meter_etl_ingest'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION ingest(bigint, text) IS
  'Parse a staged raw file into meter_etl.reading (streaming, chunk by chunk); invalid readings go to quarantine. Idempotent.';

CREATE FUNCTION detect_format(file_id bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'meter_etl_detect_format'
LANGUAGE C STRICT VOLATILE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION detect_format(bigint) IS
  'The format profile whose header matches the raw file best (what ingest(format => ''auto'') uses)';

-- ======================================================================
-- Alerts (shared by detection, the pipeline and the archive)
-- ======================================================================

CREATE TABLE alert (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    raised_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    kind            text NOT NULL,
    meter_id        text,
    file_id         bigint,
    message         text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}',
    acknowledged_at timestamptz
);
CREATE INDEX alert_open_idx ON alert (raised_at) WHERE acknowledged_at IS NULL;
COMMENT ON TABLE alert IS
  'Alerts raised by detection, the pipeline and the archive; each is also sent with NOTIFY on channel meter_etl_alert';

CREATE FUNCTION raise_alert(kind text, severity text, message text, details jsonb DEFAULT '{}',
                            meter_id text DEFAULT NULL, file_id bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_id bigint;
  v_payload text;
BEGIN
  INSERT INTO meter_etl.alert (kind, severity, message, details, meter_id, file_id)
  VALUES (raise_alert.kind, raise_alert.severity, raise_alert.message, coalesce(raise_alert.details, '{}'),
          raise_alert.meter_id, raise_alert.file_id)
  RETURNING alert_id INTO v_id;
  v_payload := jsonb_build_object('alert_id', v_id, 'kind', raise_alert.kind, 'severity', raise_alert.severity,
                                  'meter_id', raise_alert.meter_id, 'file_id', raise_alert.file_id,
                                  'message', raise_alert.message, 'details', raise_alert.details)::text;
  -- NOTIFY payloads must stay under 8000 bytes; the alert row keeps everything
  IF octet_length(v_payload) > 7900 THEN
    v_payload := jsonb_build_object('alert_id', v_id, 'kind', raise_alert.kind, 'severity', raise_alert.severity,
                                    'meter_id', raise_alert.meter_id, 'file_id', raise_alert.file_id,
                                    'message', left(raise_alert.message, 2000), 'truncated', true)::text;
  END IF;
  PERFORM pg_notify('meter_etl_alert', v_payload);
  RETURN v_id;
END
$$;
COMMENT ON FUNCTION raise_alert(text, text, text, jsonb, text, bigint) IS
  'Record an alert and NOTIFY meter_etl_alert with a JSON payload (alert_id, kind, severity, meter_id, file_id, message, details)';

-- ======================================================================
-- Views for people and BI tools
-- ======================================================================

CREATE VIEW v_reading AS
SELECT m.meter_id, c.name AS channel, r.ts, r.kw,
       r.kw * (m.interval_s / 3600.0)::float8 AS kwh,
       r.flags, flag_names(r.flags) AS flag_names,
       r.file_id, r.line_no
  FROM reading r
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id);
COMMENT ON VIEW v_reading IS 'Clean readings with meter ids, channel names, energy per interval and flag names';

CREATE VIEW v_file_accounting AS
SELECT f.file_id, f.file_name, f.status, r.format, r.lines_read, r.readings_read,
       r.rows_clean, r.rows_quarantined, r.rows_duplicate,
       r.readings_read = r.rows_clean + r.rows_quarantined + r.rows_duplicate AS balanced,
       r.quarantined_by_reason, r.finished_at
  FROM raw_file f
  LEFT JOIN LATERAL (SELECT * FROM ingest_run i
                      WHERE i.file_id = f.file_id AND i.status = 'ok'
                      ORDER BY i.run_id DESC LIMIT 1) r ON true;
COMMENT ON VIEW v_file_accounting IS 'Per raw file: the accounting of its successful ingest';

CREATE VIEW v_quarantine_summary AS
SELECT q.reason, rc.description, date_trunc('day', q.created_at) AS day, count(*) AS readings
  FROM quarantine q JOIN reason_code rc ON rc.code = q.reason
 GROUP BY q.reason, rc.description, date_trunc('day', q.created_at);
COMMENT ON VIEW v_quarantine_summary IS 'Quarantined readings by reason and day';

-- ======================================================================
-- pg_dump: user data in extension tables is dumped with the database
-- ======================================================================

SELECT pg_catalog.pg_extension_config_dump('raw_file', '');
SELECT pg_catalog.pg_extension_config_dump('raw_chunk', '');
SELECT pg_catalog.pg_extension_config_dump('format_profile', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('meter', '');
SELECT pg_catalog.pg_extension_config_dump('reading_default', '');
SELECT pg_catalog.pg_extension_config_dump('channel', 'WHERE channel_id > 4');
SELECT pg_catalog.pg_extension_config_dump('quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('ingest_run', '');
SELECT pg_catalog.pg_extension_config_dump('alert', '');

-- Nothing is granted to PUBLIC; the file-touching function least of all.
REVOKE ALL ON FUNCTION stage_server_file(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION stage(text, bytea, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION stage_begin(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION stage_chunk(bigint, integer, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION stage_finish(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION ingest(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION raw_line(bigint, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION raw_sha256(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION create_partitions(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION register_meters(text[], integer[], text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION register_channels(text[], boolean[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION raise_alert(text, text, text, jsonb, text, bigint) FROM PUBLIC;

-- ======================================================================
-- Detection: interpolation, rolling outliers, faulty meters, peaks
-- (C cores in src/series*.c, glue in src/srf_*.c and src/detect*.c;
--  see doc/detection.md)
-- ======================================================================

-- ---------------------------------------------------------------- SRFs

CREATE FUNCTION interpolate(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL,
                            max_gap interval DEFAULT '2 hours', like_day boolean DEFAULT false)
RETURNS TABLE (meter_id text, channel text, ts timestamptz, kw double precision,
               estimated boolean, method text)
AS 'MODULE_PATHNAME', 'meter_etl_interpolate'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION interpolate(timestamptz, timestamptz, text[], interval, boolean) IS
  'One row per grid slot in [from_ts, to_ts) of each meter channel: the actual reading, a linear estimate for a gap up to max_gap, a like-day estimate for longer gaps when like_day, or a hole (kw NULL, method gap)';

CREATE FUNCTION interpolate_array(ts timestamptz[], kw double precision[], step interval DEFAULT '15 minutes',
                            max_gap interval DEFAULT '2 hours', from_ts timestamptz DEFAULT NULL,
                            to_ts timestamptz DEFAULT NULL, like_day boolean DEFAULT false,
                            time_zone text DEFAULT 'UTC')
RETURNS TABLE (ts timestamptz, kw double precision, estimated boolean, method text)
AS 'MODULE_PATHNAME', 'meter_etl_interpolate_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION interpolate_array(timestamptz[], double precision[], interval, interval, timestamptz, timestamptz, boolean, text) IS
  'interpolate() on any series: ts strictly ascending, kw NULL for a missing reading; the grid is every step in [from_ts, to_ts) (default: the span of ts)';

CREATE FUNCTION rolling_outliers(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL,
                                 method text DEFAULT 'hampel', window_size integer DEFAULT 2,
                                 centred boolean DEFAULT true, threshold double precision DEFAULT 2,
                                 min_periods integer DEFAULT NULL, min_scale double precision DEFAULT NULL,
                                 scale text DEFAULT 'log', outliers_only boolean DEFAULT false)
RETURNS TABLE (meter_id text, channel text, ts timestamptz, kw double precision,
               score double precision, is_outlier boolean, centre double precision,
               scale double precision, n_window integer)
AS 'MODULE_PATHNAME', 'meter_etl_rolling_outliers'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION rolling_outliers(timestamptz, timestamptz, text[], text, integer, boolean, double precision, integer, double precision, text, boolean) IS
  'Rolling outlier score of every reading in [from_ts, to_ts): hampel (x - median) / (1.4826 MAD) or zscore (x - mean) / stddev over a centred or trailing window of window_size readings (default 2, the readings either side: a spike check; NULL = one day), on asinh(kW / 0.1) by default (scale log: relative deviations); is_outlier when |score| > threshold';

CREATE FUNCTION rolling_outliers_array(kw double precision[], method text DEFAULT 'hampel',
                                 window_size integer DEFAULT 2, centred boolean DEFAULT true,
                                 threshold double precision DEFAULT 2, min_periods integer DEFAULT NULL,
                                 min_scale double precision DEFAULT NULL, scale text DEFAULT 'log',
                                 outliers_only boolean DEFAULT false)
RETURNS TABLE (ord integer, kw double precision, score double precision, is_outlier boolean,
               centre double precision, scale double precision, n_window integer)
AS 'MODULE_PATHNAME', 'meter_etl_rolling_outliers_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION rolling_outliers_array(double precision[], text, integer, boolean, double precision, integer, double precision, text, boolean) IS
  'rolling_outliers() on any series of values in order (NULL = missing); ord is the 1-based position in kw';

CREATE FUNCTION detect_faulty_meters(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL,
                                     kinds text[] DEFAULT NULL, history interval DEFAULT '28 days',
                                     stuck_zero_min interval DEFAULT '8 hours',
                                     flatline_min interval DEFAULT '8 hours',
                                     flatline_min_readings integer DEFAULT 16,
                                     shift_min_z double precision DEFAULT 3,
                                     shift_min_factor double precision DEFAULT 2,
                                     shift_min_days integer DEFAULT 2,
                                     offline_min interval DEFAULT '24 hours')
RETURNS TABLE (meter_id text, channel text, kind text, start_ts timestamptz, end_ts timestamptz,
               evidence jsonb)
AS 'MODULE_PATHNAME', 'meter_etl_detect_faulty_meters'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION detect_faulty_meters(timestamptz, timestamptz, text[], text[], interval, interval, interval, integer, double precision, double precision, integer, interval) IS
  'Faulty-meter episodes overlapping [from_ts, to_ts): stuck_zero, flatline, level_shift (daily energy against the same weekday of the previous 4 weeks, robust z) and offline, judged with history before from_ts';

CREATE FUNCTION detect_faulty_meters_array(ts timestamptz[], kw double precision[], step interval DEFAULT '15 minutes',
                                     kinds text[] DEFAULT NULL, time_zone text DEFAULT 'UTC',
                                     stuck_zero_min interval DEFAULT '8 hours',
                                     flatline_min interval DEFAULT '8 hours',
                                     flatline_min_readings integer DEFAULT 16,
                                     shift_min_z double precision DEFAULT 3,
                                     shift_min_factor double precision DEFAULT 2,
                                     shift_min_days integer DEFAULT 2,
                                     offline_min interval DEFAULT '24 hours')
RETURNS TABLE (kind text, start_ts timestamptz, end_ts timestamptz, evidence jsonb)
AS 'MODULE_PATHNAME', 'meter_etl_detect_faulty_meters_array'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION detect_faulty_meters_array(timestamptz[], double precision[], interval, text[], text, interval, interval, integer, double precision, double precision, integer, interval) IS
  'detect_faulty_meters() on any series: ts strictly ascending, kw NULL for a missing reading, local days in time_zone';

-- ---------------------------------------------------------------- persisted results

CREATE TABLE detect_run (
    run_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mode               text NOT NULL CHECK (mode IN ('range', 'pending')),
    from_ts            timestamptz,
    to_ts              timestamptz,
    meters             integer,
    status             text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok')),
    started_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at        timestamptz,
    settings           jsonb NOT NULL DEFAULT '{}',
    ingest_runs        bigint[],
    series             bigint NOT NULL DEFAULT 0,
    flags_changed      bigint NOT NULL DEFAULT 0,
    estimates_written  bigint NOT NULL DEFAULT 0,
    estimates_removed  bigint NOT NULL DEFAULT 0,
    estimates_replaced bigint NOT NULL DEFAULT 0,
    estimate_mae_kw    double precision,
    gaps_written       bigint NOT NULL DEFAULT 0,
    gaps_removed       bigint NOT NULL DEFAULT 0,
    faults_new         bigint NOT NULL DEFAULT 0,
    faults_updated     bigint NOT NULL DEFAULT 0,
    faults_removed     bigint NOT NULL DEFAULT 0,
    status_changes     bigint NOT NULL DEFAULT 0,
    alerts             bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE detect_run IS
  'One row per detect() or detect_pending() call: range, settings in force and what changed (a second run over the same data changes nothing)';
COMMENT ON COLUMN detect_run.estimates_replaced IS
  'Estimates removed because an actual reading arrived for their slot (re-validation); estimate_mae_kw is their mean absolute error against those actuals';
COMMENT ON COLUMN detect_run.ingest_runs IS 'detect_pending(): the ingest runs whose readings this run covered';

CREATE TABLE estimate (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    ts         timestamptz NOT NULL,
    kw         double precision NOT NULL,
    method     text NOT NULL DEFAULT 'linear' CHECK (method IN ('linear', 'like_day')),
    run_id     bigint,
    PRIMARY KEY (meter_key, channel_id, ts)
);
CREATE INDEX estimate_ts_idx ON estimate (ts);
COMMENT ON TABLE estimate IS
  'Estimated values for the slots of short gaps (up to meter_etl.max_gap), kept apart from meter_etl.reading so an actual reading arriving later always wins; v_reading_filled combines both';

CREATE TABLE gap (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    start_ts   timestamptz NOT NULL,
    end_ts     timestamptz NOT NULL,
    intervals  bigint NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('long', 'leading', 'trailing', 'no_data')),
    run_id     bigint,
    PRIMARY KEY (meter_key, channel_id, start_ts),
    CHECK (end_ts > start_ts)
);
CREATE INDEX gap_end_idx ON gap (end_ts);    -- gaps are bounded: recent ends find recent gaps
COMMENT ON TABLE gap IS
  'Gaps longer than meter_etl.max_gap, left unfilled: [start_ts, end_ts) of missing slots. long: readings on both sides; trailing: no reading since (end_ts = end of the last detection); leading / no_data: no reading before within what detection read';

CREATE TABLE fault (
    meter_key    integer NOT NULL,
    channel_id   smallint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('stuck_zero', 'flatline', 'level_shift', 'offline')),
    start_ts     timestamptz NOT NULL,
    end_ts       timestamptz NOT NULL,
    ongoing      boolean NOT NULL,
    evidence     jsonb NOT NULL,
    first_run_id bigint,
    run_id       bigint,
    PRIMARY KEY (meter_key, channel_id, kind, start_ts)
);
CREATE INDEX fault_end_idx ON fault (end_ts);
COMMENT ON TABLE fault IS
  'Faulty-meter episodes [start_ts, end_ts): stuck_zero, flatline, level_shift, offline, with the evidence; ongoing when still going at the end of the data seen';

CREATE TABLE meter_status (
    meter_key       integer NOT NULL,
    channel_id      smallint NOT NULL,
    status          text NOT NULL CHECK (status IN ('ok', 'faulty', 'offline')),
    reason          text CHECK (reason IN ('stuck_zero', 'flatline', 'level_shift', 'offline')),
    since           timestamptz,
    evidence        jsonb,
    as_of           timestamptz NOT NULL,
    last_reading_ts timestamptz,
    changed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id          bigint,
    PRIMARY KEY (meter_key, channel_id),
    CHECK ((status = 'ok') = (reason IS NULL))
);
COMMENT ON TABLE meter_status IS
  'Current status of each meter channel as of the latest detection: ok, faulty (reason = the fault kind) or offline, since when (data time) and the evidence';
COMMENT ON COLUMN meter_status.since IS
  'faulty/offline: start of the episode; ok: end of the last episode (NULL if never faulty)';
COMMENT ON COLUMN meter_status.as_of IS 'End of the latest detection range; older ranges re-detected later do not change the status';

CREATE TABLE meter_day (
    meter_key  integer NOT NULL,
    channel_id smallint NOT NULL,
    day        date NOT NULL,
    start_ts   timestamptz NOT NULL,
    end_ts     timestamptz NOT NULL,
    kw_sum     double precision NOT NULL,
    readings   integer NOT NULL,
    run_id     bigint,
    PRIMARY KEY (meter_key, channel_id, day)
);
CREATE INDEX meter_day_start_idx ON meter_day (start_ts);
COMMENT ON TABLE meter_day IS
  'Per local day (the meter''s zone) the sum and count of readings that count for consumption (outliers and stuck/flatline readings left out): the history level_shift detection judges a new day against';

CREATE TABLE ingest_extent (
    ingest_run_id bigint NOT NULL,
    meter_key     integer NOT NULL,
    ts_min        timestamptz NOT NULL,
    ts_max        timestamptz NOT NULL,
    PRIMARY KEY (ingest_run_id, meter_key)
);
COMMENT ON TABLE ingest_extent IS
  'Per ingest run and meter, the time span of the readings stored: what detect_pending() recomputes';

CREATE TABLE detect_done (
    ingest_run_id bigint PRIMARY KEY,
    detect_run_id bigint NOT NULL,
    done_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE detect_done IS 'Ingest runs whose readings detect_pending() has processed';

-- ---------------------------------------------------------------- batch detection

CREATE FUNCTION detect_settings()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'meter_etl_detect_settings'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION detect_settings() IS
  'The meter_etl.* detection settings detect() would use now (recorded in detect_run.settings)';

CREATE FUNCTION detect_compute(from_ts timestamptz, to_ts timestamptz, meter_keys integer[] DEFAULT NULL)
RETURNS TABLE (item text, meter_key integer, channel_id smallint, ts timestamptz, end_ts timestamptz,
               kw double precision, flags smallint, kind text, n bigint, day date,
               open_start boolean, open_end boolean, evidence jsonb)
AS 'MODULE_PATHNAME', 'meter_etl_detect_compute'
LANGUAGE C STABLE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION detect_compute(timestamptz, timestamptz, integer[]) IS
  'What detect() would write for [from_ts, to_ts), without writing: flags, estimate, gap, fault, day and series rows (internal, for detect() and tests)';

CREATE FUNCTION detect_apply(run_id bigint, from_ts timestamptz, to_ts timestamptz, meter_keys integer[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_run   constant bigint := detect_apply.run_id;
  v_from  constant timestamptz := detect_apply.from_ts;
  v_to    constant timestamptz := detect_apply.to_ts;
  v_keys  constant integer[] := detect_apply.meter_keys;
  v_lo    timestamptz;
  v_min   timestamptz;
  v_settings jsonb;
  v_offline interval;
  v_series bigint;
  v_flags bigint;
  v_est_w bigint;
  v_est_d bigint;
  v_est_r bigint;
  v_mae   double precision;
  v_gap_w bigint;
  v_gap_d bigint;
  v_flt_n bigint := 0;
  v_flt_u bigint := 0;
  v_flt_d bigint;
  v_n     bigint;
  v_stat  bigint := 0;
  v_alert bigint := 0;
  rec     record;
BEGIN
  -- compute first (this also loads the module, so the settings are defined)
  CREATE TEMP TABLE me_detect ON COMMIT DROP AS
    SELECT * FROM meter_etl.detect_compute(v_from, v_to, v_keys);
  ANALYZE pg_temp.me_detect;
  v_settings := meter_etl.detect_settings();
  v_lo := v_from - make_interval(secs => (v_settings ->> 'max_gap_s')::double precision);
  v_offline := make_interval(secs => (v_settings ->> 'offline_min_s')::double precision);
  SELECT count(*) INTO v_series FROM me_detect d WHERE d.item = 'series';

  -- flags on readings: only the ones that change (UPDATE goes through reading_guard)
  SELECT min(d.ts) INTO v_min FROM me_detect d WHERE d.item = 'flags';
  UPDATE meter_etl.reading rd SET flags = d.flags
    FROM me_detect d
   WHERE d.item = 'flags' AND rd.meter_key = d.meter_key AND rd.channel_id = d.channel_id
     AND rd.ts = d.ts AND rd.ts >= v_min AND rd.ts < v_to AND rd.flags IS DISTINCT FROM d.flags;
  GET DIAGNOSTICS v_flags = ROW_COUNT;

  -- estimates: drop the ones no longer wanted (an actual arrived, the gap grew), upsert the rest
  WITH del AS (
    DELETE FROM meter_etl.estimate e
     WHERE e.ts >= v_lo AND e.ts < v_to AND (v_keys IS NULL OR e.meter_key = ANY (v_keys))
       AND NOT EXISTS (SELECT 1 FROM me_detect d
                        WHERE d.item = 'estimate' AND d.meter_key = e.meter_key
                          AND d.channel_id = e.channel_id AND d.ts = e.ts AND d.kw = e.kw)
    RETURNING e.meter_key, e.channel_id, e.ts, e.kw)
  SELECT count(*), count(rd.kw), avg(abs(rd.kw - del.kw))
    INTO v_est_d, v_est_r, v_mae
    FROM del LEFT JOIN meter_etl.reading rd
      ON rd.meter_key = del.meter_key AND rd.channel_id = del.channel_id AND rd.ts = del.ts;
  INSERT INTO meter_etl.estimate AS e (meter_key, channel_id, ts, kw, method, run_id)
  SELECT d.meter_key, d.channel_id, d.ts, d.kw, d.kind, v_run
    FROM me_detect d WHERE d.item = 'estimate'
  ON CONFLICT (meter_key, channel_id, ts) DO UPDATE
     SET kw = EXCLUDED.kw, method = EXCLUDED.method, run_id = EXCLUDED.run_id
   WHERE e.kw IS DISTINCT FROM EXCLUDED.kw OR e.method IS DISTINCT FROM EXCLUDED.method;
  GET DIAGNOSTICS v_est_w = ROW_COUNT;

  -- gaps: a gap whose start lies before what was read keeps the start recorded earlier
  CREATE TEMP TABLE me_detect_gap ON COMMIT DROP AS
  SELECT d.meter_key, d.channel_id,
         coalesce(p.start_ts, CASE WHEN d.open_start THEN greatest(d.ts, v_from) ELSE d.ts END) AS start_ts,
         d.end_ts,
         (extract(epoch FROM d.end_ts - coalesce(p.start_ts, CASE WHEN d.open_start THEN greatest(d.ts, v_from)
                                                                  ELSE d.ts END)) / m.interval_s)::bigint AS intervals,
         CASE WHEN p.start_ts IS NULL OR p.kind IN ('leading', 'no_data') THEN d.kind
              WHEN d.kind = 'leading' THEN 'long'
              WHEN d.kind = 'no_data' THEN 'trailing'
              ELSE d.kind END AS kind
    FROM me_detect d
    JOIN meter_etl.meter m ON m.meter_key = d.meter_key
    LEFT JOIN LATERAL (SELECT g.start_ts, g.kind FROM meter_etl.gap g
                        WHERE d.open_start AND g.meter_key = d.meter_key AND g.channel_id = d.channel_id
                          AND g.start_ts < d.ts AND g.end_ts >= d.ts
                        ORDER BY g.start_ts LIMIT 1) p ON true
   WHERE d.item = 'gap';
  DELETE FROM meter_etl.gap g
   WHERE g.end_ts > v_lo AND g.start_ts < v_to AND (v_keys IS NULL OR g.meter_key = ANY (v_keys))
     AND NOT EXISTS (SELECT 1 FROM me_detect_gap n
                      WHERE n.meter_key = g.meter_key AND n.channel_id = g.channel_id
                        AND n.start_ts = g.start_ts);
  GET DIAGNOSTICS v_gap_d = ROW_COUNT;
  INSERT INTO meter_etl.gap AS g (meter_key, channel_id, start_ts, end_ts, intervals, kind, run_id)
  SELECT n.meter_key, n.channel_id, n.start_ts, n.end_ts, n.intervals, n.kind, v_run FROM me_detect_gap n
  ON CONFLICT (meter_key, channel_id, start_ts) DO UPDATE
     SET end_ts = EXCLUDED.end_ts, intervals = EXCLUDED.intervals, kind = EXCLUDED.kind, run_id = EXCLUDED.run_id
   WHERE (g.end_ts, g.intervals, g.kind) IS DISTINCT FROM (EXCLUDED.end_ts, EXCLUDED.intervals, EXCLUDED.kind)
     -- a gap still open at the end of this range does not shorten one seen further
     AND NOT (EXCLUDED.kind IN ('trailing', 'no_data') AND g.end_ts > EXCLUDED.end_ts);
  GET DIAGNOSTICS v_gap_w = ROW_COUNT;

  -- fault episodes, same rule for starts before what was read
  CREATE TEMP TABLE me_detect_fault ON COMMIT DROP AS
  -- (missing readings before what was read may be before the meter existed:
  -- an offline episode from there starts at from_ts unless it continues one)
  SELECT d.meter_key, d.channel_id, d.kind,
         coalesce(p.start_ts, CASE WHEN d.open_start AND d.kind = 'offline' THEN greatest(d.ts, v_from)
                                   ELSE d.ts END) AS start_ts,
         d.end_ts, d.open_end AS ongoing, d.evidence
    FROM me_detect d
    LEFT JOIN LATERAL (SELECT f.start_ts FROM meter_etl.fault f
                        WHERE d.open_start AND f.meter_key = d.meter_key AND f.channel_id = d.channel_id
                          AND f.kind = d.kind AND f.start_ts < d.ts AND f.end_ts >= d.ts
                        ORDER BY f.start_ts LIMIT 1) p ON true
   WHERE d.item = 'fault'
     AND NOT (d.kind = 'offline' AND d.open_start AND p.start_ts IS NULL
              AND d.end_ts - greatest(d.ts, v_from) < v_offline);
  -- episodes no longer found (or found with another start: then a revision, not news)
  CREATE TEMP TABLE me_detect_fault_old ON COMMIT DROP AS
  WITH del AS (
    DELETE FROM meter_etl.fault f
     WHERE f.end_ts > v_lo AND f.start_ts < v_to AND (v_keys IS NULL OR f.meter_key = ANY (v_keys))
       AND NOT EXISTS (SELECT 1 FROM me_detect_fault n
                        WHERE n.meter_key = f.meter_key AND n.channel_id = f.channel_id
                          AND n.kind = f.kind AND n.start_ts = f.start_ts)
    RETURNING f.meter_key, f.channel_id, f.kind, f.start_ts, f.end_ts)
  SELECT * FROM del;
  GET DIAGNOSTICS v_flt_d = ROW_COUNT;
  -- readings before from_ts that only a removed episode had marked suspect
  UPDATE meter_etl.reading rd SET flags = rd.flags & ~4
    FROM me_detect_fault_old o
   WHERE rd.meter_key = o.meter_key AND rd.channel_id = o.channel_id
     AND rd.ts >= o.start_ts AND rd.ts < least(o.end_ts, v_from) AND rd.flags & 4 <> 0
     AND NOT EXISTS (SELECT 1 FROM meter_etl.fault f
                      WHERE f.meter_key = rd.meter_key AND f.channel_id = rd.channel_id
                        AND rd.ts >= f.start_ts AND rd.ts < f.end_ts)
     AND NOT EXISTS (SELECT 1 FROM me_detect_fault n
                      WHERE n.meter_key = rd.meter_key AND n.channel_id = rd.channel_id
                        AND rd.ts >= n.start_ts AND rd.ts < n.end_ts);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_flags := v_flags + v_n;
  FOR rec IN
    INSERT INTO meter_etl.fault AS f (meter_key, channel_id, kind, start_ts, end_ts, ongoing, evidence,
                                      first_run_id, run_id)
    SELECT n.meter_key, n.channel_id, n.kind, n.start_ts, n.end_ts, n.ongoing, n.evidence, v_run, v_run
      FROM me_detect_fault n
    ON CONFLICT (meter_key, channel_id, kind, start_ts) DO UPDATE
       SET end_ts = EXCLUDED.end_ts, ongoing = EXCLUDED.ongoing, evidence = EXCLUDED.evidence,
           run_id = EXCLUDED.run_id
     WHERE (f.end_ts, f.ongoing, f.evidence) IS DISTINCT FROM (EXCLUDED.end_ts, EXCLUDED.ongoing, EXCLUDED.evidence)
       -- an episode cut by the end of what this run read does not shorten one seen further
       AND NOT (EXCLUDED.ongoing AND f.end_ts > EXCLUDED.end_ts)
    RETURNING f.meter_key, f.channel_id, f.kind, f.start_ts, f.end_ts, f.ongoing, f.evidence,
              f.first_run_id = v_run
              AND NOT EXISTS (SELECT 1 FROM me_detect_fault_old o
                               WHERE o.meter_key = f.meter_key AND o.channel_id = f.channel_id
                                 AND o.kind = f.kind AND o.start_ts < f.end_ts AND o.end_ts > f.start_ts) AS is_new
  LOOP
    IF NOT rec.is_new THEN
      v_flt_u := v_flt_u + 1;
      CONTINUE;
    END IF;
    v_flt_n := v_flt_n + 1;
    PERFORM meter_etl.raise_alert(
      'meter_fault', 'warning',
      format('meter "%s" channel "%s": %s from %s', m.meter_id, c.name, rec.kind, rec.start_ts),
      jsonb_build_object('channel', c.name, 'fault', rec.kind, 'start_ts', rec.start_ts, 'end_ts', rec.end_ts,
                         'ongoing', rec.ongoing, 'evidence', rec.evidence, 'detect_run_id', v_run),
      m.meter_id)
      FROM meter_etl.meter m, meter_etl.channel c
     WHERE m.meter_key = rec.meter_key AND c.channel_id = rec.channel_id;
    v_alert := v_alert + 1;
  END LOOP;

  -- daily sums for level-shift history
  INSERT INTO meter_etl.meter_day AS y (meter_key, channel_id, day, start_ts, end_ts, kw_sum, readings, run_id)
  SELECT d.meter_key, d.channel_id, d.day, d.ts, d.end_ts, d.kw, d.n, v_run
    FROM me_detect d WHERE d.item = 'day'
  ON CONFLICT (meter_key, channel_id, day) DO UPDATE
     SET start_ts = EXCLUDED.start_ts, end_ts = EXCLUDED.end_ts, kw_sum = EXCLUDED.kw_sum,
         readings = EXCLUDED.readings, run_id = EXCLUDED.run_id
   WHERE (y.kw_sum, y.readings, y.start_ts, y.end_ts)
         IS DISTINCT FROM (EXCLUDED.kw_sum, EXCLUDED.readings, EXCLUDED.start_ts, EXCLUDED.end_ts);

  -- status as of to_ts: an episode still going decides it (offline first), else ok
  FOR rec IN
    WITH s AS (
      SELECT d.meter_key, d.channel_id, d.ts AS last_ts FROM me_detect d WHERE d.item = 'series'
    ), cur AS (
      SELECT DISTINCT ON (n.meter_key, n.channel_id) n.meter_key, n.channel_id, n.kind, n.start_ts, n.evidence
        FROM me_detect_fault n
       WHERE n.ongoing
       ORDER BY n.meter_key, n.channel_id,
                array_position('{offline,stuck_zero,flatline,level_shift}'::text[], n.kind), n.start_ts
    ), want AS (
      SELECT s.meter_key, s.channel_id,
             CASE WHEN cur.kind IS NULL THEN 'ok' WHEN cur.kind = 'offline' THEN 'offline' ELSE 'faulty' END AS status,
             cur.kind AS reason,
             CASE WHEN cur.kind IS NOT NULL THEN cur.start_ts
                  ELSE (SELECT max(f.end_ts) FROM meter_etl.fault f
                         WHERE f.meter_key = s.meter_key AND f.channel_id = s.channel_id AND f.end_ts <= v_to) END AS since,
             cur.evidence, s.last_ts
        FROM s LEFT JOIN cur ON cur.meter_key = s.meter_key AND cur.channel_id = s.channel_id
    ), old AS (
      SELECT w.*, o.status AS old_status
        FROM want w LEFT JOIN meter_etl.meter_status o
          ON o.meter_key = w.meter_key AND o.channel_id = w.channel_id
    ), up AS (
      INSERT INTO meter_etl.meter_status AS ms (meter_key, channel_id, status, reason, since, evidence, as_of,
                                                last_reading_ts, run_id)
      SELECT o.meter_key, o.channel_id, o.status, o.reason, o.since, o.evidence, v_to, o.last_ts, v_run FROM old o
      ON CONFLICT (meter_key, channel_id) DO UPDATE
         SET status = EXCLUDED.status, reason = EXCLUDED.reason, since = EXCLUDED.since,
             evidence = EXCLUDED.evidence, as_of = EXCLUDED.as_of,
             last_reading_ts = greatest(ms.last_reading_ts, EXCLUDED.last_reading_ts),
             changed_at = CASE WHEN (ms.status, ms.reason) IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.reason)
                               THEN clock_timestamp() ELSE ms.changed_at END,
             run_id = EXCLUDED.run_id
       WHERE EXCLUDED.as_of >= ms.as_of
         AND (ms.status, ms.reason, ms.since, ms.evidence, ms.as_of, ms.last_reading_ts)
             IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.reason, EXCLUDED.since, EXCLUDED.evidence,
                               EXCLUDED.as_of, greatest(ms.last_reading_ts, EXCLUDED.last_reading_ts))
      RETURNING ms.meter_key, ms.channel_id, ms.status, ms.since
    )
    SELECT up.*, o.old_status FROM up JOIN old o USING (meter_key, channel_id)
  LOOP
    IF rec.old_status IS DISTINCT FROM rec.status THEN
      v_stat := v_stat + 1;
    END IF;
    IF rec.status = 'ok' AND rec.old_status IN ('faulty', 'offline') THEN
      PERFORM meter_etl.raise_alert(
        'meter_recovered', 'info',
        format('meter "%s" channel "%s" is ok again since %s', m.meter_id, c.name, coalesce(rec.since::text, '?')),
        jsonb_build_object('channel', c.name, 'previous_status', rec.old_status, 'since', rec.since,
                           'detect_run_id', v_run),
        m.meter_id)
        FROM meter_etl.meter m, meter_etl.channel c
       WHERE m.meter_key = rec.meter_key AND c.channel_id = rec.channel_id;
      v_alert := v_alert + 1;
    END IF;
  END LOOP;

  UPDATE meter_etl.detect_run SET
    series = series + v_series, flags_changed = flags_changed + v_flags,
    estimates_written = estimates_written + v_est_w, estimates_removed = estimates_removed + v_est_d,
    estimates_replaced = estimates_replaced + v_est_r,
    estimate_mae_kw = CASE WHEN v_est_r > 0
                           THEN (coalesce(estimate_mae_kw, 0) * estimates_replaced + v_mae * v_est_r)
                                / (estimates_replaced + v_est_r)
                           ELSE estimate_mae_kw END,
    gaps_written = gaps_written + v_gap_w, gaps_removed = gaps_removed + v_gap_d,
    faults_new = faults_new + v_flt_n, faults_updated = faults_updated + v_flt_u,
    faults_removed = faults_removed + v_flt_d, status_changes = status_changes + v_stat,
    alerts = alerts + v_alert
   WHERE detect_run.run_id = v_run;
  DROP TABLE pg_temp.me_detect;
  DROP TABLE pg_temp.me_detect_gap;
  DROP TABLE pg_temp.me_detect_fault;
  DROP TABLE pg_temp.me_detect_fault_old;
END
$$;
COMMENT ON FUNCTION detect_apply(bigint, timestamptz, timestamptz, integer[]) IS
  'Internal: apply what detect_compute() found for one range to reading flags, estimate, gap, fault, meter_day and meter_status, set-based, raising alerts';

CREATE FUNCTION detect(from_ts timestamptz, to_ts timestamptz, meters text[] DEFAULT NULL)
RETURNS detect_run
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_keys integer[];
  v_bad  text;
  v_run  meter_etl.detect_run;
BEGIN
  IF from_ts IS NULL OR to_ts IS NULL THEN
    RAISE EXCEPTION 'from_ts and to_ts must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF from_ts >= to_ts THEN
    RAISE EXCEPTION 'from_ts must be earlier than to_ts' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF meters IS NOT NULL THEN
    SELECT u.id INTO v_bad FROM unnest(meters) AS u(id)
     WHERE u.id IS NULL OR NOT EXISTS (SELECT 1 FROM meter_etl.meter m WHERE m.meter_id = u.id) LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'meter "%" does not exist', coalesce(v_bad, 'NULL')
        USING ERRCODE = 'undefined_object', HINT = 'Meter ids are the ones in meter_etl.meter.meter_id.';
    END IF;
    SELECT array_agg(m.meter_key ORDER BY m.meter_key) INTO v_keys
      FROM meter_etl.meter m WHERE m.meter_id = ANY (meters);
  END IF;
  -- one detection at a time: they write the same rows
  PERFORM pg_advisory_xact_lock(hashtextextended('meter_etl.detect', 7411));
  INSERT INTO meter_etl.detect_run (mode, from_ts, to_ts, meters, settings)
  VALUES ('range', from_ts, to_ts, cardinality(v_keys), meter_etl.detect_settings())
  RETURNING * INTO v_run;
  PERFORM meter_etl.detect_apply(v_run.run_id, from_ts, to_ts, v_keys);
  UPDATE meter_etl.detect_run r SET status = 'ok', finished_at = clock_timestamp()
   WHERE r.run_id = v_run.run_id RETURNING * INTO v_run;
  RETURN v_run;
END
$$;
COMMENT ON FUNCTION detect(timestamptz, timestamptz, text[]) IS
  'Batch detection for [from_ts, to_ts) over the fleet (or the given meters): outlier and suspect_meter flags on readings, estimates, gaps, fault episodes, meter_status and alerts (NOTIFY meter_etl_alert). Idempotent.';

CREATE FUNCTION detect_pending(max_runs integer DEFAULT NULL)
RETURNS detect_run
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_runs bigint[];
  v_run  meter_etl.detect_run;
  g      record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('meter_etl.detect', 7411));
  SELECT array_agg(i.run_id ORDER BY i.run_id) INTO v_runs
    FROM (SELECT i.run_id FROM meter_etl.ingest_run i
           WHERE i.status = 'ok'
             AND NOT EXISTS (SELECT 1 FROM meter_etl.detect_done d WHERE d.ingest_run_id = i.run_id)
           ORDER BY i.run_id LIMIT max_runs) i;
  IF v_runs IS NULL THEN
    RETURN NULL;
  END IF;
  -- runs whose extents ingest did not record: find them in the store (one scan)
  INSERT INTO meter_etl.ingest_extent (ingest_run_id, meter_key, ts_min, ts_max)
  SELECT i.run_id, r.meter_key, min(r.ts), max(r.ts)
    FROM meter_etl.ingest_run i
    JOIN meter_etl.reading r ON r.file_id = i.file_id
   WHERE i.run_id = ANY (v_runs)
     AND NOT EXISTS (SELECT 1 FROM meter_etl.ingest_extent e WHERE e.ingest_run_id = i.run_id)
   GROUP BY i.run_id, r.meter_key;
  INSERT INTO meter_etl.detect_run (mode, ingest_runs, settings)
  VALUES ('pending', v_runs, meter_etl.detect_settings())
  RETURNING * INTO v_run;
  -- per meter: from the day before its new readings to the end of them;
  -- meters with the same days are detected together
  FOR g IN
    SELECT x.lo, max(x.hi) AS hi, array_agg(x.meter_key ORDER BY x.meter_key) AS keys
      FROM (SELECT e.meter_key,
                   date_trunc('day', min(e.ts_min), 'UTC') - interval '1 day' AS lo,
                   max(e.ts_max) + make_interval(secs => max(m.interval_s)) AS hi,
                   date_trunc('day', max(e.ts_max), 'UTC') AS hi_day
              FROM meter_etl.ingest_extent e JOIN meter_etl.meter m USING (meter_key)
             WHERE e.ingest_run_id = ANY (v_runs)
             GROUP BY e.meter_key) x
     GROUP BY x.lo, x.hi_day
     ORDER BY x.lo, x.hi_day
  LOOP
    PERFORM meter_etl.detect_apply(v_run.run_id, g.lo, g.hi, g.keys);
  END LOOP;
  SELECT min(e.ts_min), max(e.ts_max) INTO v_run.from_ts, v_run.to_ts
    FROM meter_etl.ingest_extent e WHERE e.ingest_run_id = ANY (v_runs);
  INSERT INTO meter_etl.detect_done (ingest_run_id, detect_run_id)
  SELECT unnest(v_runs), v_run.run_id;
  UPDATE meter_etl.detect_run r SET status = 'ok', finished_at = clock_timestamp(),
         from_ts = v_run.from_ts, to_ts = v_run.to_ts,
         meters = (SELECT count(DISTINCT e.meter_key) FROM meter_etl.ingest_extent e
                    WHERE e.ingest_run_id = ANY (v_runs))
   WHERE r.run_id = v_run.run_id RETURNING * INTO v_run;
  RETURN v_run;
END
$$;
COMMENT ON FUNCTION detect_pending(integer) IS
  'Incremental detection: for the ingest runs not yet processed, recompute only their meters, from the day before their readings to the end of them; NULL when nothing is pending';

-- ---------------------------------------------------------------- views

CREATE VIEW v_meter_status AS
SELECT m.meter_id, c.name AS channel, s.status, s.reason, s.since, s.as_of, s.last_reading_ts,
       s.evidence, s.changed_at
  FROM meter_status s
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id);
COMMENT ON VIEW v_meter_status IS
  'Current status of each meter channel (ok, faulty with the fault kind as reason, offline) with meter ids and channel names';

CREATE VIEW v_gap AS
SELECT m.meter_id, c.name AS channel, g.start_ts, g.end_ts, g.intervals, g.kind,
       extract(epoch FROM g.end_ts - g.start_ts) / 3600.0 AS hours
  FROM gap g
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id);
COMMENT ON VIEW v_gap IS 'Long gaps (unfilled) with meter ids, channel names and length in hours';

CREATE VIEW v_fault AS
SELECT m.meter_id, c.name AS channel, f.kind, f.start_ts, f.end_ts, f.ongoing, f.evidence
  FROM fault f
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id);
COMMENT ON VIEW v_fault IS 'Faulty-meter episodes with meter ids and channel names';

CREATE VIEW v_reading_filled AS
SELECT m.meter_id, c.name AS channel, r.ts, r.kw, r.kw * (m.interval_s / 3600.0)::float8 AS kwh, r.flags,
       false AS estimated, 'actual'::text AS method
  FROM reading r
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id)
UNION ALL
SELECT m.meter_id, c.name, e.ts, e.kw, e.kw * m.interval_s / 3600.0, 1::smallint, true, e.method
  FROM estimate e
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id)
 WHERE NOT EXISTS (SELECT 1 FROM reading r
                    WHERE r.meter_key = e.meter_key AND r.channel_id = e.channel_id AND r.ts = e.ts);
COMMENT ON VIEW v_reading_filled IS
  'Readings plus the estimates for the slots of short gaps (flags = 1 estimated, method linear); an actual reading always wins over an estimate';

CREATE VIEW v_meter_day AS
SELECT m.meter_id, c.name AS channel, y.day, y.start_ts, y.end_ts, y.readings,
       y.kw_sum / nullif(y.readings, 0) * 24 AS kwh_per_24h,
       y.readings / (extract(epoch FROM y.end_ts - y.start_ts) / m.interval_s) AS coverage
  FROM meter_day y
  JOIN meter m USING (meter_key)
  JOIN channel c USING (channel_id);
COMMENT ON VIEW v_meter_day IS
  'Daily consumption per meter channel and local day, as level_shift detection sees it (mean kW x 24, outliers and stuck readings left out) and the share of the day''s slots read';

-- ---------------------------------------------------------------- peaks

CREATE FUNCTION peak_periods(from_ts timestamptz, to_ts timestamptz, bucket interval DEFAULT '30 minutes',
                             top_n integer DEFAULT 10, per_day boolean DEFAULT false,
                             meters text[] DEFAULT NULL, channel text DEFAULT 'import',
                             exclude_flagged boolean DEFAULT true, time_zone text DEFAULT 'UTC')
RETURNS TABLE (period_start timestamptz, period_end timestamptz, demand_kw double precision,
               meters_counted integer, day date, rank integer)
LANGUAGE sql STABLE
SET search_path = meter_etl, pg_catalog
AS $$
  WITH ch AS (
    SELECT c.channel_id FROM meter_etl.channel c WHERE c.name = peak_periods.channel
  ), scope AS (
    SELECT m.meter_key FROM meter_etl.meter m
     WHERE peak_periods.meters IS NULL OR m.meter_id = ANY (peak_periods.meters)
  ), excluded AS (            -- meter-days with a fault episode or a long gap
    SELECT DISTINCT x.meter_key, d::date AS day
      FROM (SELECT f.meter_key, f.start_ts, f.end_ts FROM meter_etl.fault f, ch
             WHERE f.channel_id = ch.channel_id AND f.end_ts > peak_periods.from_ts AND f.start_ts < peak_periods.to_ts
            UNION ALL
            SELECT g.meter_key, g.start_ts, g.end_ts FROM meter_etl.gap g, ch
             WHERE g.channel_id = ch.channel_id AND g.end_ts > peak_periods.from_ts AND g.start_ts < peak_periods.to_ts) x
      CROSS JOIN LATERAL generate_series((greatest(x.start_ts, peak_periods.from_ts) AT TIME ZONE peak_periods.time_zone)::date,
                                         ((least(x.end_ts, peak_periods.to_ts) - interval '1 microsecond')
                                          AT TIME ZONE peak_periods.time_zone)::date,
                                         interval '1 day') AS d
     WHERE peak_periods.exclude_flagged
  ), r AS (
    SELECT rd.meter_key, rd.ts, rd.kw, rd.flags
      FROM meter_etl.reading rd, ch
     WHERE rd.channel_id = ch.channel_id AND rd.ts >= peak_periods.from_ts AND rd.ts < peak_periods.to_ts
       AND rd.meter_key IN (SELECT meter_key FROM scope)
    UNION ALL
    SELECT e.meter_key, e.ts, e.kw, 1::smallint
      FROM meter_etl.estimate e, ch
     WHERE e.channel_id = ch.channel_id AND e.ts >= peak_periods.from_ts AND e.ts < peak_periods.to_ts
       AND e.meter_key IN (SELECT meter_key FROM scope)
       AND NOT EXISTS (SELECT 1 FROM meter_etl.reading a
                        WHERE a.meter_key = e.meter_key AND a.channel_id = e.channel_id AND a.ts = e.ts)
  ), per_meter AS (
    SELECT date_bin(peak_periods.bucket, r.ts, timestamptz '2000-01-01 00:00:00+00') AS b,
           r.meter_key, avg(r.kw) AS kw
      FROM r
     WHERE NOT peak_periods.exclude_flagged
        OR (r.flags & 6 = 0
            AND NOT EXISTS (SELECT 1 FROM excluded x
                             WHERE x.meter_key = r.meter_key
                               AND x.day = (r.ts AT TIME ZONE peak_periods.time_zone)::date))
     GROUP BY 1, 2
  ), fleet AS (
    SELECT pm.b, sum(pm.kw) AS demand, count(*)::integer AS n,
           (pm.b AT TIME ZONE peak_periods.time_zone)::date AS day
      FROM per_meter pm GROUP BY pm.b
  ), ranked AS (
    SELECT f.*, row_number() OVER (PARTITION BY CASE WHEN peak_periods.per_day THEN f.day END
                                   ORDER BY f.demand DESC, f.b)::integer AS rk
      FROM fleet f
  )
  SELECT k.b, k.b + peak_periods.bucket, k.demand, k.n, k.day, k.rk
    FROM ranked k
   WHERE k.rk <= peak_periods.top_n
   ORDER BY CASE WHEN peak_periods.per_day THEN k.day END, k.rk
$$;
COMMENT ON FUNCTION peak_periods(timestamptz, timestamptz, interval, integer, boolean, text[], text, boolean, text) IS
  'Fleet demand per bucket (sum over meters of their mean kW, estimates included): the top_n buckets, or the top_n of each day (time_zone) when per_day. By default a meter is left out on a day with a fault episode or a long gap, and readings flagged outlier or suspect_meter are left out';

SELECT pg_catalog.pg_extension_config_dump('detect_run', '');
SELECT pg_catalog.pg_extension_config_dump('estimate', '');
SELECT pg_catalog.pg_extension_config_dump('gap', '');
SELECT pg_catalog.pg_extension_config_dump('fault', '');
SELECT pg_catalog.pg_extension_config_dump('meter_status', '');
SELECT pg_catalog.pg_extension_config_dump('meter_day', '');
SELECT pg_catalog.pg_extension_config_dump('ingest_extent', '');
SELECT pg_catalog.pg_extension_config_dump('detect_done', '');

-- detection writes: not for PUBLIC (the read-only SRFs and peak_periods are)
REVOKE ALL ON FUNCTION detect(timestamptz, timestamptz, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION detect_pending(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION detect_apply(bigint, timestamptz, timestamptz, integer[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION detect_compute(timestamptz, timestamptz, integer[]) FROM PUBLIC;

-- ======================================================================
-- Orchestration: pipeline runs, retries, dead letters, scheduling
-- ======================================================================

CREATE TABLE pipeline_run (
    run_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id       bigint NOT NULL REFERENCES raw_file,
    attempt       integer NOT NULL,
    worker        text NOT NULL,
    backend_pid   integer NOT NULL DEFAULT pg_backend_pid(),
    status        text NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'dead_letter', 'crashed')),
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz,
    ingest_run_id bigint,
    readings_read bigint,
    rows_clean    bigint,
    rows_quarantined bigint,
    rows_duplicate bigint,
    error         text,
    sqlstate      text
);
CREATE INDEX pipeline_run_file_idx ON pipeline_run (file_id, run_id);
CREATE INDEX pipeline_run_started_idx ON pipeline_run (started_at);
COMMENT ON TABLE pipeline_run IS
  'Run history: one row per file and attempt processed by run_pipeline (bounded by meter_etl.run_history_days)';
COMMENT ON COLUMN pipeline_run.status IS
  'running, ok, failed (will be retried), dead_letter (gave up), crashed (the worker died; the file was reclaimed)';

CREATE TABLE dead_letter (
    file_id     bigint PRIMARY KEY REFERENCES raw_file,
    failed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts    integer NOT NULL,
    last_error  text,
    sqlstate    text,
    alert_id    bigint
);
COMMENT ON TABLE dead_letter IS
  'Files that failed meter_etl.max_attempts times; meter_etl.retry_dead_letter(file_id) puts one back';

CREATE TABLE inbox_file (
    path        text PRIMARY KEY,
    size_bytes  bigint NOT NULL,
    modified_at timestamptz NOT NULL,
    file_id     bigint NOT NULL REFERENCES raw_file,
    staged_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE inbox_file IS
  'Files scan_inbox() staged from meter_etl.inbox_dir, so an unchanged file is not read again';

CREATE FUNCTION scan_inbox(min_age interval DEFAULT '10 seconds', source text DEFAULT 'inbox')
RETURNS TABLE (path text, file_id bigint, is_new boolean)
AS 'MODULE_PATHNAME', 'meter_etl_scan_inbox'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION scan_inbox(interval, text) IS
  'Stage the files in meter_etl.inbox_dir that are new or changed (hidden, *.tmp, *.part and files younger than min_age are left alone)';

-- A file is claimed by a session-level advisory lock on (class, file_id) for
-- as long as a worker processes it.  The lock disappears with the backend,
-- so a file left 'processing' by a crashed worker is simply claimed again.
CREATE FUNCTION claim_next_file(worker text, OUT file_id bigint, OUT run_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_file bigint;
BEGIN
  FOR v_file IN
    SELECT f.file_id FROM meter_etl.raw_file f
     WHERE f.status IN ('staged', 'failed', 'processing')
       AND (f.next_attempt_at IS NULL OR f.next_attempt_at <= clock_timestamp())
     ORDER BY f.file_id
     FOR UPDATE SKIP LOCKED
     LIMIT 32
  LOOP
    CONTINUE WHEN NOT pg_try_advisory_lock(7411, v_file::integer);
    -- a run left 'running' belonged to a worker that died
    UPDATE meter_etl.pipeline_run SET status = 'crashed', finished_at = clock_timestamp(),
           error = 'the worker ended before finishing this file'
     WHERE pipeline_run.file_id = v_file AND status = 'running';
    UPDATE meter_etl.raw_file f SET status = 'processing', attempts = f.attempts + 1
     WHERE f.file_id = v_file;
    -- the run row is committed with the claim, so a crash leaves a trace
    INSERT INTO meter_etl.pipeline_run (file_id, attempt, worker, status)
    SELECT v_file, f.attempts, claim_next_file.worker, 'running' FROM meter_etl.raw_file f
     WHERE f.file_id = v_file
    RETURNING pipeline_run.run_id INTO claim_next_file.run_id;
    claim_next_file.file_id := v_file;
    RETURN;
  END LOOP;
END
$$;
COMMENT ON FUNCTION claim_next_file(text) IS
  'Claim the next due raw file for a worker (row lock SKIP LOCKED plus a session advisory lock) and open its run row; NULLs when none is due';

CREATE FUNCTION process_claimed_file(p_file bigint, p_run bigint, p_detect boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_run     bigint := p_run;
  v_attempt integer;
  v_max     integer := coalesce(current_setting('meter_etl.max_attempts', true), '3')::integer;
  v_backoff interval := coalesce(current_setting('meter_etl.retry_backoff', true), '60s')::interval;
  r         meter_etl.ingest_run;
  v_err     text;
  v_state   text;
  v_alert   bigint;
BEGIN
  SELECT attempts INTO v_attempt FROM meter_etl.raw_file WHERE file_id = p_file;
  BEGIN
    r := meter_etl.ingest(p_file);
    -- incremental detection of what this ingest (and any before it) stored;
    -- a detection failure does not undo the ingest: the run stays pending
    IF p_detect THEN
      BEGIN
        PERFORM meter_etl.detect_pending();
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_err = MESSAGE_TEXT, v_state = RETURNED_SQLSTATE;
        PERFORM meter_etl.raise_alert('detection_failed', 'warning',
                  format('detection after raw file %s failed; it stays pending', p_file),
                  jsonb_build_object('error', v_err, 'sqlstate', v_state), NULL, p_file);
        v_err := NULL;
        v_state := NULL;
      END;
    END IF;
    UPDATE meter_etl.pipeline_run
       SET status = 'ok', finished_at = clock_timestamp(), ingest_run_id = r.run_id,
           readings_read = r.readings_read, rows_clean = r.rows_clean,
           rows_quarantined = r.rows_quarantined, rows_duplicate = r.rows_duplicate
     WHERE run_id = v_run;
    UPDATE meter_etl.raw_file SET next_attempt_at = NULL, last_error = NULL WHERE file_id = p_file;
    RETURN 'ok';
  EXCEPTION WHEN OTHERS THEN
    -- everything the failed attempt wrote is rolled back with this block
    GET STACKED DIAGNOSTICS v_err = MESSAGE_TEXT, v_state = RETURNED_SQLSTATE;
  END;
  IF v_attempt >= v_max THEN
    v_alert := meter_etl.raise_alert('file_dead_letter', 'critical',
                 format('raw file %s failed %s times and was moved to the dead-letter queue', p_file, v_attempt),
                 jsonb_build_object('error', v_err, 'sqlstate', v_state, 'attempts', v_attempt),
                 NULL, p_file);
    INSERT INTO meter_etl.dead_letter (file_id, attempts, last_error, sqlstate, alert_id)
    VALUES (p_file, v_attempt, v_err, v_state, v_alert)
    ON CONFLICT (file_id) DO UPDATE SET failed_at = clock_timestamp(), attempts = EXCLUDED.attempts,
           last_error = EXCLUDED.last_error, sqlstate = EXCLUDED.sqlstate, alert_id = EXCLUDED.alert_id;
    UPDATE meter_etl.raw_file SET status = 'dead_letter', last_error = v_err, next_attempt_at = NULL
     WHERE file_id = p_file;
    UPDATE meter_etl.pipeline_run SET status = 'dead_letter', finished_at = clock_timestamp(),
           error = v_err, sqlstate = v_state WHERE run_id = v_run;
    RETURN 'dead_letter';
  END IF;
  UPDATE meter_etl.raw_file SET status = 'failed', last_error = v_err,
         next_attempt_at = clock_timestamp() + v_backoff * power(2, v_attempt - 1)
   WHERE file_id = p_file;
  UPDATE meter_etl.pipeline_run SET status = 'failed', finished_at = clock_timestamp(),
         error = v_err, sqlstate = v_state WHERE run_id = v_run;
  RETURN 'failed';
END
$$;
COMMENT ON FUNCTION process_claimed_file(bigint, bigint, boolean) IS
  'Ingest one claimed file (and run incremental detection); on error roll back that file only and schedule a retry or a dead letter';

-- A procedure that commits cannot carry a SET clause: this one names every
-- object with its schema, and pins search_path for each of its transactions
-- with set_config(..., true).
CREATE PROCEDURE run_pipeline(max_files integer DEFAULT NULL, worker text DEFAULT NULL,
                              scan boolean DEFAULT true, detect boolean DEFAULT true)
LANGUAGE plpgsql
AS $$
DECLARE
  v_worker text := coalesce(worker, 'session-' || pg_backend_pid());
  v_file   bigint;
  v_run    bigint;
  v_done   integer := 0;
  v_result text;
BEGIN
  PERFORM pg_catalog.set_config('search_path', 'meter_etl, pg_catalog', true);
  -- one run per worker name at a time: a scheduled run that finds its
  -- predecessor still busy skips instead of queueing behind it
  IF NOT pg_try_advisory_lock(7412, hashtext(v_worker)) THEN
    RAISE NOTICE 'pipeline worker "%" is already running; skipped', v_worker;
    RETURN;
  END IF;
  -- a file lands, the pipeline starts: pick up new files from the inbox first
  IF scan AND coalesce(current_setting('meter_etl.inbox_dir', true), '') <> '' THEN
    PERFORM meter_etl.scan_inbox();
    COMMIT;
    PERFORM pg_catalog.set_config('search_path', 'meter_etl, pg_catalog', true);
  END IF;
  LOOP
    EXIT WHEN max_files IS NOT NULL AND v_done >= max_files;
    SELECT c.file_id, c.run_id INTO v_file, v_run FROM meter_etl.claim_next_file(v_worker) c;
    COMMIT;                         -- the claim, its attempt count and run row are durable
    PERFORM pg_catalog.set_config('search_path', 'meter_etl, pg_catalog', true);
    EXIT WHEN v_file IS NULL;
    v_result := meter_etl.process_claimed_file(v_file, v_run, detect);
    COMMIT;                         -- each file in its own transaction
    PERFORM pg_catalog.set_config('search_path', 'meter_etl, pg_catalog', true);
    PERFORM pg_advisory_unlock(7411, v_file::integer);
    v_done := v_done + 1;
  END LOOP;
  PERFORM pg_advisory_unlock(7412, hashtext(v_worker));
  PERFORM meter_etl.prune_history();
  COMMIT;
END
$$;
COMMENT ON PROCEDURE run_pipeline(integer, text, boolean, boolean) IS
  'Stage new inbox files (scan), then ingest due raw files one transaction each and detect incrementally (detect), with retries (meter_etl.max_attempts), back-off and a dead-letter queue; safe to run in several sessions';

CREATE FUNCTION retry_dead_letter(file_id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
BEGIN
  DELETE FROM meter_etl.dead_letter d WHERE d.file_id = retry_dead_letter.file_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'raw file % is not in the dead-letter queue', retry_dead_letter.file_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  UPDATE meter_etl.raw_file f SET status = 'staged', attempts = 0, next_attempt_at = NULL
   WHERE f.file_id = retry_dead_letter.file_id;
  RETURN true;
END
$$;
COMMENT ON FUNCTION retry_dead_letter(bigint) IS
  'Put a dead-lettered file back in the queue with a fresh attempt count';

CREATE FUNCTION prune_history()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_keep interval := make_interval(days => coalesce(current_setting('meter_etl.run_history_days', true), '30')::integer);
  v_n    integer;
BEGIN
  DELETE FROM meter_etl.pipeline_run
   WHERE finished_at < clock_timestamp() - v_keep AND status <> 'running';
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION prune_history() IS
  'Delete pipeline run history older than meter_etl.run_history_days (run_pipeline calls it)';

-- ----------------------------------------------------------------------
-- pg_cron
-- ----------------------------------------------------------------------

CREATE FUNCTION cron_expression(every text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_iv   interval;
  v_mins integer;
BEGIN
  IF every ~ '^\s*\S+\s+\S+\s+\S+\s+\S+\s+\S+\s*$' THEN
    RETURN every;                   -- already a cron expression
  END IF;
  BEGIN
    v_iv := every::interval;
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'invalid schedule "%"', every
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use an interval such as ''5 minutes'' or a cron expression such as ''*/5 * * * *''.';
  END;
  v_mins := (extract(epoch FROM v_iv) / 60)::integer;
  IF extract(epoch FROM v_iv) < 60 OR extract(epoch FROM v_iv)::integer % 60 <> 0 THEN
    RAISE EXCEPTION 'invalid schedule "%": pg_cron runs jobs at most once a minute', every
      USING ERRCODE = 'invalid_parameter_value';
  ELSIF v_mins = 1 THEN
    RETURN '* * * * *';
  ELSIF v_mins < 60 AND 60 % v_mins = 0 THEN
    RETURN format('*/%s * * * *', v_mins);
  ELSIF v_mins % 60 = 0 AND v_mins < 1440 AND 24 % (v_mins / 60) = 0 THEN
    RETURN format('0 */%s * * *', v_mins / 60);
  ELSIF v_mins = 1440 THEN
    RETURN '0 0 * * *';
  END IF;
  RAISE EXCEPTION 'invalid schedule "%": the interval must divide an hour or a day', every
    USING ERRCODE = 'invalid_parameter_value',
          HINT = 'Use a cron expression for other schedules.';
END
$$;
COMMENT ON FUNCTION cron_expression(text) IS
  'Cron expression for an interval (''5 minutes'' -> ''*/5 * * * *''); cron expressions pass through';

CREATE FUNCTION schedule(every text DEFAULT '1 minute', workers integer DEFAULT 1,
                         archive_at text DEFAULT NULL, archive_days integer DEFAULT 2)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_cron text := meter_etl.cron_expression(every);
  i      integer;
BEGIN
  IF to_regnamespace('cron') IS NULL OR to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
    RAISE EXCEPTION 'pg_cron is not installed in this database'
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, and run CREATE EXTENSION pg_cron.';
  END IF;
  IF workers < 1 OR workers > 64 THEN
    RAISE EXCEPTION 'workers must be between 1 and 64' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF archive_days < 1 THEN
    RAISE EXCEPTION 'archive_days must be at least 1' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM meter_etl.unschedule();
  FOR i IN 1 .. workers LOOP
    RETURN NEXT cron.schedule(format('meter_etl_pipeline_%s', i), v_cron,
                              format('CALL meter_etl.run_pipeline(worker => %L)', 'cron-' || i));
  END LOOP;
  -- bounded history: ours and pg_cron's own, daily
  RETURN NEXT cron.schedule('meter_etl_prune_history', '17 3 * * *',
    format('SELECT meter_etl.prune_history(); DELETE FROM cron.job_run_details WHERE end_time < now() - interval %L',
           coalesce(current_setting('meter_etl.run_history_days', true), '30') || ' days'));
  -- the Parquet archive of the last complete days (runs as the caller)
  IF archive_at IS NOT NULL THEN
    RETURN NEXT cron.schedule('meter_etl_archive', meter_etl.cron_expression(archive_at),
      format('SELECT count(*) FROM meter_etl.archive_recent(days => %s)', archive_days));
  END IF;
END
$$;
COMMENT ON FUNCTION schedule(text, integer, text, integer) IS
  'Register the pipeline with pg_cron (one job per worker, a daily history prune, and with archive_at a job running archive_recent); returns the job ids';

CREATE FUNCTION unschedule()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  v_n integer := 0;
  v_job bigint;
BEGIN
  IF to_regnamespace('cron') IS NULL THEN
    RAISE EXCEPTION 'pg_cron is not installed in this database'
      USING ERRCODE = 'feature_not_supported',
            HINT = 'Nothing is scheduled without pg_cron.';
  END IF;
  FOR v_job IN EXECUTE 'SELECT jobid FROM cron.job WHERE jobname LIKE ''meter\_etl\_%'''
  LOOP
    PERFORM cron.unschedule(v_job);
    v_n := v_n + 1;
  END LOOP;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION unschedule() IS 'Remove meter_etl''s pg_cron jobs; returns how many were removed';

-- ----------------------------------------------------------------------
-- Monitoring
-- ----------------------------------------------------------------------

CREATE VIEW v_meter_freshness AS
SELECT m.meter_id, m.interval_s, m.last_reading_at,
       now() - m.last_reading_at AS age,
       m.last_reading_at < now() - make_interval(secs => 4 * m.interval_s) - interval '1 day' AS stale
  FROM meter m;
COMMENT ON VIEW v_meter_freshness IS
  'Per meter: the newest stored reading and its age; stale when more than a day plus four intervals old';

CREATE VIEW v_ingest_progress AS
SELECT a.pid, a.application_name, p.bytes_processed, p.bytes_total, p.tuples_processed,
       round(100.0 * p.bytes_processed / nullif(p.bytes_total, 0), 1) AS percent,
       now() - a.query_start AS running_for, a.query
  FROM pg_stat_progress_copy p
  JOIN pg_stat_activity a USING (pid)
 WHERE p.relid = 'meter_etl.reading'::regclass;
COMMENT ON VIEW v_ingest_progress IS
  'Progress of ingests running in other sessions (bytes of the raw file read, readings stored), from pg_stat_progress_copy';

REVOKE ALL ON FUNCTION claim_next_file(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION process_claimed_file(bigint, bigint, boolean) FROM PUBLIC;
REVOKE ALL ON PROCEDURE run_pipeline(integer, text, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION scan_inbox(interval, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION retry_dead_letter(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION prune_history() FROM PUBLIC;
REVOKE ALL ON FUNCTION schedule(text, integer, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION unschedule() FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('pipeline_run', '');
SELECT pg_catalog.pg_extension_config_dump('dead_letter', '');
SELECT pg_catalog.pg_extension_config_dump('inbox_file', '');

-- ======================================================================
-- Parquet archive: archive_parquet(), its catalog and failures
-- ======================================================================

CREATE TABLE archive_export (
    export_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset        text NOT NULL,
    from_date      date NOT NULL,
    to_date        date NOT NULL,
    layout         text NOT NULL CHECK (layout IN ('meter_bucket', 'meter_id')),
    buckets        integer,
    compression    text NOT NULL,
    row_group_rows integer NOT NULL,
    line_numbers   boolean NOT NULL,
    status         text NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed')),
    started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at    timestamptz,
    started_by     name NOT NULL DEFAULT session_user,
    days_archived  integer NOT NULL DEFAULT 0,
    days_failed    integer NOT NULL DEFAULT 0,
    files          bigint NOT NULL DEFAULT 0,
    rows           bigint NOT NULL DEFAULT 0,
    bytes          bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE archive_export IS
  'One row per archive_parquet() call: arguments, outcome and totals; export_id is written into every file''s key/value metadata';
COMMENT ON COLUMN archive_export.status IS
  'ok (every date with readings archived), partial (some dates failed), failed (every date with readings failed)';

CREATE TABLE archive_manifest (
    path            text PRIMARY KEY,
    dataset         text NOT NULL,
    day             date NOT NULL,
    partition_key   text NOT NULL CHECK (partition_key IN ('meter_bucket', 'meter_id')),
    partition_value text NOT NULL,
    rows            bigint NOT NULL CHECK (rows > 0),
    bytes           bigint NOT NULL,
    meters          integer NOT NULL,
    min_ts          timestamptz NOT NULL,
    max_ts          timestamptz NOT NULL,
    sha256          bytea NOT NULL,
    compression     text NOT NULL,
    schema_version  integer NOT NULL,
    export_id       bigint NOT NULL,
    written_at      timestamptz NOT NULL
);
CREATE INDEX archive_manifest_day_idx ON archive_manifest (dataset, day);
CREATE INDEX archive_manifest_export_idx ON archive_manifest (export_id);
COMMENT ON TABLE archive_manifest IS
  'The Parquet archive''s catalog: one row per published file, replaced with the files when a date is archived again';
COMMENT ON COLUMN archive_manifest.path IS
  'File path relative to meter_etl.archive_dir: [dataset/]date=YYYY-MM-DD/meter_bucket=NN/part-0000.parquet';
COMMENT ON COLUMN archive_manifest.dataset IS 'Subdirectory of meter_etl.archive_dir holding the dataset ('''' = the directory itself)';
COMMENT ON COLUMN archive_manifest.partition_value IS 'Bucket number as in the path (''07''), or the meter id (unescaped)';
COMMENT ON COLUMN archive_manifest.sha256 IS 'SHA-256 of the file''s bytes as written';
COMMENT ON COLUMN archive_manifest.schema_version IS 'Layout of the columns (1: meter_id, channel, ts, kw, quality_flags, estimated, file_id, line_no)';

CREATE TABLE archive_failure (
    failure_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    export_id          bigint NOT NULL,
    dataset            text NOT NULL,
    day                date NOT NULL,
    partition_key      text NOT NULL,
    partition_value    text,
    attempts           integer NOT NULL,
    sqlstate           text,
    last_error         text NOT NULL,
    alert_id           bigint,
    failed_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at        timestamptz,
    resolved_by_export bigint
);
CREATE INDEX archive_failure_open_idx ON archive_failure (dataset, day) WHERE resolved_at IS NULL;
COMMENT ON TABLE archive_failure IS
  'Archive dead letters: dates that could not be archived after every attempt (each with a critical archive_failed alert); resolved when the date is archived later';

CREATE FUNCTION archive_parquet(from_date date, to_date date,
                                buckets integer DEFAULT NULL,
                                partition_by text DEFAULT 'meter_bucket',
                                dataset text DEFAULT '',
                                compression text DEFAULT 'zstd',
                                row_group_rows integer DEFAULT 1048576,
                                line_numbers boolean DEFAULT false)
RETURNS TABLE (day date, status text, files integer, rows bigint, bytes bigint, export_id bigint)
AS 'MODULE_PATHNAME', 'meter_etl_archive_parquet'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog
SET jit = off;  -- the per-date query is a plain index scan: nothing for JIT to gain
COMMENT ON FUNCTION archive_parquet(date, date, integer, text, text, text, integer, boolean) IS
  'Archive the readings of UTC dates as Parquet under meter_etl.archive_dir (hive layout date=/meter_bucket= or date=/meter_id=); files replace a date''s earlier ones when the transaction commits';

CREATE FUNCTION archive_drop(from_date date, to_date date, dataset text DEFAULT '')
RETURNS bigint
AS 'MODULE_PATHNAME', 'meter_etl_archive_drop'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION archive_drop(date, date, text) IS
  'Remove the archived files of UTC dates (when the transaction commits) and their manifest rows; returns the number of manifest files removed';

CREATE FUNCTION meter_bucket(meter_id text, buckets integer)
RETURNS integer
AS 'MODULE_PATHNAME', 'meter_etl_meter_bucket'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
SET search_path = meter_etl, pg_catalog;
COMMENT ON FUNCTION meter_bucket(text, integer) IS
  'The meter_bucket archive_parquet() puts a meter in: (hashtextextended(meter_id, 0) & max bigint) % buckets';

CREATE VIEW v_archive_coverage AS
WITH files AS (
  SELECT m.dataset, m.day, min(m.partition_key) AS partition_key,
         count(*) AS files, sum(m.rows) AS rows, sum(m.bytes) AS bytes,
         sum(m.meters) AS meters, min(m.min_ts) AS min_ts, max(m.max_ts) AS max_ts,
         max(m.export_id) AS export_id, max(m.written_at) AS written_at,
         max(m.schema_version) AS schema_version
    FROM archive_manifest m
   GROUP BY m.dataset, m.day
), fails AS (
  SELECT f.dataset, f.day, count(*) AS open_failures, max(f.failed_at) AS last_failure
    FROM archive_failure f
   WHERE f.resolved_at IS NULL
   GROUP BY f.dataset, f.day
), store_days AS (
  -- daily partitions of the clean store that hold (or may hold) rows
  SELECT p.day FROM reading_partition p WHERE p.reltuples <> 0
)
SELECT coalesce(fi.dataset, fa.dataset) AS dataset,
       coalesce(fi.day, fa.day) AS day,
       CASE WHEN fa.open_failures IS NULL THEN 'archived'
            WHEN fi.files IS NULL THEN 'failed'
            ELSE 'stale' END AS status,
       fi.partition_key, coalesce(fi.files, 0) AS files, coalesce(fi.rows, 0) AS rows,
       coalesce(fi.bytes, 0) AS bytes, fi.meters, fi.min_ts, fi.max_ts,
       fi.export_id, fi.written_at, fi.schema_version,
       coalesce(fa.open_failures, 0) AS open_failures, fa.last_failure
  FROM files fi
  FULL JOIN fails fa ON fa.dataset = fi.dataset AND fa.day = fi.day
UNION ALL
SELECT NULL, s.day, 'not_archived', NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL
  FROM store_days s
 WHERE NOT EXISTS (SELECT 1 FROM archive_manifest m WHERE m.day = s.day)
   AND NOT EXISTS (SELECT 1 FROM archive_failure f WHERE f.day = s.day AND f.resolved_at IS NULL);
COMMENT ON VIEW v_archive_coverage IS
  'Per dataset and UTC date: archived (files, rows, bytes, time span, export), failed (open failures, nothing archived), stale (the last attempt failed, older files kept); not_archived for days of the clean store without any archive';

-- What a scheduled job runs once a day (schedule(archive_at => ...)).
CREATE FUNCTION archive_recent(days integer DEFAULT 2,
                               catch_up integer DEFAULT 7,
                               dataset text DEFAULT '',
                               buckets integer DEFAULT NULL,
                               partition_by text DEFAULT 'meter_bucket')
RETURNS TABLE (day date, status text, files integer, rows bigint, bytes bigint, export_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = meter_etl, pg_catalog
AS $$
DECLARE
  -- UTC dates, like the store's partitions and the archive's date= keys
  v_today date := (now() AT TIME ZONE 'UTC')::date;
  v_from  date;
  v_due   record;
  v_has   boolean;
  v_done  integer := 0;
BEGIN
  IF days IS NULL OR days < 1 OR catch_up IS NULL OR catch_up < 0 THEN
    RAISE EXCEPTION 'days must be at least 1 and catch_up at least 0'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_from := v_today - days;
  -- older days that are due, oldest first, at most catch_up per call: an
  -- open failure, or readings never archived (the job did not run then)
  FOR v_due IN
    SELECT d, min(part) AS part FROM (
      SELECT f.day AS d, NULL::text AS part FROM archive_failure f
       WHERE f.dataset = archive_recent.dataset AND f.resolved_at IS NULL AND f.day < v_from
      UNION ALL
      SELECT p.day, p.part::text FROM reading_partition p WHERE p.day < v_from
      UNION ALL
      -- stray rows of days without a partition (the default partition is small);
      -- v_from is a UTC date, whatever the session's time zone
      SELECT DISTINCT (r.ts AT TIME ZONE 'UTC')::date, NULL FROM reading_default r
       WHERE r.ts < (v_from::timestamp AT TIME ZONE 'UTC')) cand
     WHERE NOT EXISTS (SELECT 1 FROM archive_manifest m
                        WHERE m.dataset = archive_recent.dataset AND m.day = cand.d)
        OR EXISTS (SELECT 1 FROM archive_failure f
                    WHERE f.dataset = archive_recent.dataset AND f.day = cand.d AND f.resolved_at IS NULL)
     GROUP BY d ORDER BY d
  LOOP
    EXIT WHEN v_done >= catch_up;
    v_has := true;
    IF v_due.part IS NOT NULL THEN   -- an empty partition is not due
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', v_due.part) INTO v_has;
    END IF;
    CONTINUE WHEN NOT v_has;
    RETURN QUERY SELECT * FROM archive_parquet(v_due.d, v_due.d, buckets, partition_by, dataset);
    v_done := v_done + 1;
  END LOOP;
  -- the last complete days again: late readings and detection results since
  -- the last run replace those days' files
  RETURN QUERY SELECT * FROM archive_parquet(v_from, v_today - 1, buckets, partition_by, dataset);
END
$$;
COMMENT ON FUNCTION archive_recent(integer, integer, text, integer, text) IS
  'Archive the last complete UTC days again (late readings and detection results replace their files), plus up to catch_up older days that failed or were never archived';

SELECT pg_catalog.pg_extension_config_dump('archive_export', '');
SELECT pg_catalog.pg_extension_config_dump('archive_manifest', '');
SELECT pg_catalog.pg_extension_config_dump('archive_failure', '');

-- Writing server files is for superusers (and pg_write_server_files) only.
REVOKE ALL ON FUNCTION archive_parquet(date, date, integer, text, text, text, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION archive_drop(date, date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION archive_recent(integer, integer, text, integer, text) FROM PUBLIC;

-- ======================================================================
-- Monitoring across the modules (after all of them exist)
-- ======================================================================

CREATE VIEW v_pipeline_health AS
SELECT count(*) FILTER (WHERE f.status = 'staged')                        AS pending,
       count(*) FILTER (WHERE f.status = 'processing')                    AS processing,
       count(*) FILTER (WHERE f.status = 'failed')                        AS failed_awaiting_retry,
       count(*) FILTER (WHERE f.status = 'dead_letter')                   AS dead_letter,
       count(*) FILTER (WHERE f.status = 'ingested')                      AS ingested,
       min(f.received_at) FILTER (WHERE f.status IN ('staged', 'failed')) AS oldest_pending_received_at,
       (SELECT max(finished_at) FROM pipeline_run WHERE status = 'ok')    AS last_success_at,
       (SELECT round(sum(readings_read) / nullif(extract(epoch FROM sum(finished_at - started_at)), 0))
          FROM pipeline_run WHERE status = 'ok' AND finished_at > now() - interval '1 hour') AS readings_per_second_last_hour,
       (SELECT count(*) FROM alert WHERE acknowledged_at IS NULL)        AS open_alerts,
       (SELECT count(*) FROM archive_failure WHERE resolved_at IS NULL)  AS archive_failures_open,
       (SELECT count(*) FROM ingest_run i WHERE i.status = 'ok'
           AND NOT EXISTS (SELECT 1 FROM detect_done d WHERE d.ingest_run_id = i.run_id)) AS detection_pending
  FROM raw_file f;
COMMENT ON VIEW v_pipeline_health IS
  'Pipeline health: files by status, oldest pending, last success, throughput over the last hour, open alerts, archive dead letters, ingests awaiting detection';


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

-- Creating a partition is DDL on reading, which only its owner may do;
-- ingest run by an admin needs it, so this one function runs as the owner.
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
