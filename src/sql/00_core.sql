/* meter_etl--0.2.sql - install script for meter_etl 0.2, assembled from the parts in src/sql */

\echo Use "CREATE EXTENSION meter_etl" to load this file. \quit

-- The schema belongs to the extension, so DROP EXTENSION removes it too.
CREATE SCHEMA meter_etl;
COMMENT ON SCHEMA meter_etl IS 'meter_etl: smart-meter ETL (raw zone, ingest, quarantine, clean store)';
SET LOCAL search_path TO meter_etl, pg_catalog, pg_temp;

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
 ('negative_value',         'rule',  'A negative reading on a channel that is not signed (net channels may be negative), further below zero than the channel''s negative_tolerance_kw if it has one.'),
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
 (8,  'edited',           'Changed by a person or a rule: a small negative on a generation channel stored as 0 (within meter_etl.channel.negative_tolerance_kw; the raw line keeps the value), or a correction after ingest.'),
 (16, 'source_estimated', 'The source marked the reading estimated or substituted (NEM12 E/S/F, ESTIMATED? = Yes).'),
 (32, 'time_adjusted',    'The timestamp was snapped onto the interval grid (within meter_etl.grid_tolerance).');

CREATE FUNCTION flag_names(flags integer)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
SET search_path = meter_etl, pg_catalog, pg_temp
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
SET search_path = meter_etl, pg_catalog, pg_temp
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
  -- qualified: this trigger also fires inside the SECURITY DEFINER staging
  -- functions, where a name the caller could shadow would run as the owner
  SELECT f.status, f.chunk_count INTO parent_status, parent_chunks FROM meter_etl.raw_file f
   WHERE f.file_id = CASE WHEN TG_OP = 'DELETE' THEN OLD.file_id ELSE NEW.file_id END;
  -- a restore (pg_dump) brings staged files back chunk by chunk: a chunk
  -- may complete a file up to its recorded chunk_count, never change it
  IF TG_OP = 'INSERT' AND parent_status <> 'receiving' AND NEW.chunk_no < parent_chunks THEN
    RETURN NEW;
  END IF;
  IF parent_status IS DISTINCT FROM 'receiving' AND TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'cannot delete chunks of raw file %: it is no longer receiving', OLD.file_id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  ELSIF parent_status IS DISTINCT FROM 'receiving' THEN
    RAISE EXCEPTION 'cannot add chunks to raw file %: it is no longer receiving', NEW.file_id
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
--
-- The four staging functions are SECURITY DEFINER: a loader holds no
-- privilege on the raw zone's tables, and may add bytes only through them.
-- They check the caller themselves (session_user owns an upload), pin
-- search_path with pg_temp last, and qualify every name they use, so that
-- nothing a caller creates in its own temporary schema runs as the owner.

CREATE FUNCTION raw_sha256(file_id bigint)
RETURNS bytea
AS 'MODULE_PATHNAME', 'meter_etl_raw_sha256'
LANGUAGE C STRICT VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION raw_sha256(bigint) IS
  'SHA-256 of a raw file''s stored bytes, computed chunk by chunk (also verifies integrity)';

CREATE FUNCTION stage_begin(file_name text, source text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_id bigint;
BEGIN
  IF stage_begin.file_name IS NULL OR pg_catalog.btrim(stage_begin.file_name) = '' THEN
    RAISE EXCEPTION 'file_name must not be empty'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name the file as it was received; the name is kept for lineage.';
  END IF;
  INSERT INTO meter_etl.raw_file (file_name, source, received_by)
  VALUES (stage_begin.file_name, stage_begin.source, session_user)
  RETURNING raw_file.file_id INTO v_id;
  RETURN v_id;
END
$$;
COMMENT ON FUNCTION stage_begin(text, text) IS
  'Start receiving a file; returns its file_id. Follow with stage_chunk() calls and stage_finish().';

CREATE FUNCTION stage_chunk(file_id bigint, chunk_no integer, data bytea)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF stage_chunk.chunk_no IS NULL OR stage_chunk.chunk_no < 0 OR stage_chunk.data IS NULL THEN
    RAISE EXCEPTION 'chunk_no must be zero or more and data must not be null'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Chunks are numbered from 0; an empty file is sent as no chunks at all.';
  END IF;
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
SET search_path = meter_etl, pg_catalog, pg_temp
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
  SELECT pg_catalog.count(*), coalesce(pg_catalog.sum(pg_catalog.octet_length(c.data)), 0),
         pg_catalog.max(c.chunk_no)
    INTO v_n, v_size, v_max
    FROM meter_etl.raw_chunk c WHERE c.file_id = v_id;
  IF v_n > 0 AND v_max <> v_n - 1 THEN
    RAISE EXCEPTION 'raw file % has missing chunks', v_id
      USING ERRCODE = 'data_exception',
            DETAIL = pg_catalog.format('Found %s chunks, the highest numbered %s.', v_n, v_max);
  END IF;
  v_sha := meter_etl.raw_sha256(v_id);
  -- identical bytes staged concurrently must not both survive
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(pg_catalog.encode(v_sha, 'hex'), 7411));
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
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  v_id    bigint;
  v_old   bigint;
  v_chunk constant integer := 1048576;
  v_hash  constant bytea := pg_catalog.sha256(content);
BEGIN
  IF content IS NULL THEN
    RAISE EXCEPTION 'content must not be null'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Stage an empty file as an empty bytea.';
  END IF;
  -- stage_begin checks the name too, but identical bytes never reach it
  IF stage.file_name IS NULL OR pg_catalog.btrim(stage.file_name) = '' THEN
    RAISE EXCEPTION 'file_name must not be empty'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name the file as it was received; the name is kept for lineage.';
  END IF;
  -- check for identical bytes first so a re-sent file costs no copy
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(pg_catalog.encode(v_hash, 'hex'), 7411));
  SELECT f.file_id INTO v_old FROM meter_etl.raw_file f WHERE f.sha256 = v_hash;
  IF FOUND THEN
    RETURN v_old;
  END IF;
  v_id := meter_etl.stage_begin(file_name, source);
  INSERT INTO meter_etl.raw_chunk (file_id, chunk_no, data)
  SELECT v_id, n, pg_catalog.substr(content, n * v_chunk + 1, v_chunk)
    FROM pg_catalog.generate_series(0, (pg_catalog.octet_length(content) - 1) / v_chunk) AS n
   WHERE pg_catalog.octet_length(content) > 0;
  RETURN (meter_etl.stage_finish(v_id)).file_id;
END
$$;
COMMENT ON FUNCTION stage(text, bytea, text) IS
  'Stage a file''s bytes into the raw zone; returns its file_id (the existing one if identical bytes were staged before)';

CREATE FUNCTION stage_server_file(path text, source text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'meter_etl_stage_server_file'
LANGUAGE C VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION stage_server_file(text, text) IS
  'Stage a file from the server''s meter_etl.inbox_dir (paths outside it, .. and symlinks out are refused)';

CREATE FUNCTION raw_line(file_id bigint, line_no bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'meter_etl_raw_line'
LANGUAGE C STRICT VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp;
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
    builtin          boolean NOT NULL DEFAULT false,
    -- last: 0.1 installs gain it by ALTER TABLE ADD COLUMN, which appends
    date_format      text
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
COMMENT ON COLUMN format_profile.date_order IS
  'Order of day, month and year in numeric dates when date_format is NULL; a month name (01/Dec/2013, Dec 1 2013, 2013-Dec-01) is read in any order';
COMMENT ON COLUMN format_profile.date_format IS
  'Pattern of the date, e.g. DD/MON/YYYY: DD, D, MM, M, MON or MONTH (month name), YYYY, separated by - / . , or space; NULL reads dates by date_order. Overrides date_order; a time may follow as without it';
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
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION validate_profile() IS
  'Trigger: a format profile must load the way ingest will use it (units, zone, columns, date_format)';
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
    description text,
    -- last: 0.1 installs gain it by ALTER TABLE ADD COLUMN, which appends
    negative_tolerance_kw double precision
      CONSTRAINT channel_negative_tolerance_kw_check
      CHECK (negative_tolerance_kw >= 0 AND negative_tolerance_kw < 'Infinity'),
    CONSTRAINT channel_signed_tolerance_check CHECK (NOT (signed AND negative_tolerance_kw > 0))
);
COMMENT ON TABLE channel IS 'Series a meter records (import, export, net ...); signed channels may be negative';
COMMENT ON COLUMN channel.negative_tolerance_kw IS
  'How far below zero a reading of this (unsigned) channel may be and still be stored, as 0 kW with the edited flag: an inverter''s standby draw on a generation channel. NULL or 0: none, every negative is negative_value. Signed channels take none';
INSERT INTO channel (channel_id, name, signed, description, negative_tolerance_kw) OVERRIDING SYSTEM VALUE VALUES
 (1, 'import', false, 'Energy drawn from the grid (the default for single-series files)', NULL),
 (2, 'export', false, 'Energy fed into the grid (solar export)', NULL),
 (3, 'net',    true,  'Net import; negative while exporting', NULL),
 (4, 'solar',  false, 'On-site generation', @ME_DEFAULT_SOLAR_NEGATIVE_TOLERANCE_KW@);
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
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
DECLARE
  d       date;
  part    text;
  created integer := 0;
BEGIN
  IF from_date IS NULL OR to_date IS NULL THEN
    RAISE EXCEPTION 'from_date and to_date must not be null' USING ERRCODE = 'null_value_not_allowed';
  ELSIF from_date > to_date THEN
    RAISE EXCEPTION 'from_date must not be later than to_date' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF to_date - from_date > 3660 THEN
    RAISE EXCEPTION 'refusing to create % daily partitions at once', to_date - from_date + 1
      USING ERRCODE = 'program_limit_exceeded',
            HINT = 'Check the date range; partitions are created per day.';
  END IF;
  -- one creator at a time; ATTACH keeps concurrent inserts running
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('meter_etl.create_partitions', 7411));
  FOR d IN SELECT pg_catalog.generate_series(from_date, to_date, interval '1 day')::date LOOP
    part := 'reading_p' || pg_catalog.to_char(d, 'YYYYMMDD');
    CONTINUE WHEN pg_catalog.to_regclass('meter_etl.' || part) IS NOT NULL;
    EXECUTE pg_catalog.format('CREATE TABLE meter_etl.%I (LIKE meter_etl.reading INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION)', part);
    EXECUTE pg_catalog.format('ALTER TABLE meter_etl.%I ADD PRIMARY KEY (meter_key, channel_id, ts)', part);
    -- rows that arrived before the partition existed wait in the default one
    EXECUTE pg_catalog.format('WITH moved AS (DELETE FROM meter_etl.reading_default WHERE ts >= %L AND ts < %L RETURNING *)'
                   ' INSERT INTO meter_etl.%I SELECT * FROM moved',
                   d::text || ' 00:00:00+00', (d + 1)::text || ' 00:00:00+00', part);
    EXECUTE pg_catalog.format('ALTER TABLE meter_etl.reading ATTACH PARTITION meter_etl.%I FOR VALUES FROM (%L) TO (%L)',
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
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF ids IS NULL OR intervals IS NULL OR cardinality(ids) <> cardinality(intervals) THEN
    RAISE EXCEPTION 'ids and intervals must be arrays of the same length'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
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
SET search_path = meter_etl, pg_catalog, pg_temp
AS $$
BEGIN
  IF names IS NULL OR signed IS NULL OR cardinality(names) <> cardinality(signed) THEN
    RAISE EXCEPTION 'names and signed must be arrays of the same length'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
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
SET search_path = meter_etl, pg_catalog, pg_temp;
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
SET search_path = meter_etl, pg_catalog, pg_temp;
COMMENT ON FUNCTION ingest(bigint, text) IS
  'Parse a staged raw file into meter_etl.reading (streaming, chunk by chunk); invalid readings go to quarantine. Idempotent: an ingested file is not read again, and another format for it is refused (reingest() reprocesses it).';

CREATE FUNCTION detect_format(file_id bigint)
RETURNS text
AS 'MODULE_PATHNAME', 'meter_etl_detect_format'
LANGUAGE C STRICT VOLATILE
SET search_path = meter_etl, pg_catalog, pg_temp;
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
SET search_path = meter_etl, pg_catalog, pg_temp
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
