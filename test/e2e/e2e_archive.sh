#!/usr/bin/env bash
# End-to-end test of the Parquet archive on a running server (PG* variables
# set, e.g. by pg_virtualenv): a generated fleet with DST days plus edge rows
# (non-ASCII and path-hostile meter ids, readings before 1970 and 2000,
# negative net values, flags, readings without lineage, one-row files) is
# archived in three layouts and read back by DuckDB and hyparquet
# (test/interop/archive_check.mjs), which compare everything with what
# PostgreSQL exports.  Then: re-archiving replaces without duplicates, a
# crashed backend leaves only .tmp files that no reader sees and the next
# archive removes, and paths outside meter_etl.archive_dir are refused.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. test/e2e/lib_e2e.sh
e2e_setup meter_etl_e2e_archive

if [ ! -d test/interop/node_modules ]; then
  (cd test/interop && npm ci --no-audit --no-fund >/dev/null)
fi

# the archive directory belongs to the server's OS user
ARCH=$WORK/archive
mkdir -p "$ARCH" "$WORK/outside" "$WORK/expect"
chown "$(stat -c %U "$(q "SHOW data_directory")")" "$ARCH"
ln -s "$WORK/outside" "$ARCH/link-out"

q "CREATE EXTENSION meter_etl"
q "LOAD 'meter_etl'" >/dev/null

echo "-- a fleet over the spring DST change, plus edge rows"
bin/meter-etl-gen --meters 40 --days 3 --start 2024-03-30 --faults default --seed 5 \
  --out "$WORK/fleet.csv" 2>/dev/null
chmod 644 "$WORK/fleet.csv"
bin/meter-etl-load --ingest "$WORK/fleet.csv" | grep -q "format=generic" || fail "fleet not ingested"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET meter_etl.min_timestamp = '1960-01-01';
INSERT INTO meter_etl.meter (meter_id, interval_s) VALUES
  ('Zürich-1', 900), ('é-meter', 900), ('x/../y=z %', 900), ('quote''s', 3600), ('solo', 900), ('old', 900);
-- a day of Zürich-1 and é-meter across the DST change, flagged every few readings
INSERT INTO meter_etl.reading (meter_key, ts, kw, flags)
SELECT m.meter_key, t, round((random() * 5)::numeric, 3), (ARRAY[0, 1, 16, 17])[1 + (extract(minute FROM t)::int / 15)]
  FROM meter_etl.meter m, generate_series('2024-03-31 00:00+00'::timestamptz, '2024-03-31 23:45+00', '15 minutes') t
 WHERE m.meter_id IN ('Zürich-1', 'é-meter');
-- a signed channel with negative values, zero and the largest plausible value
INSERT INTO meter_etl.reading (meter_key, channel_id, ts, kw)
SELECT meter_key, 3, '2024-03-31 12:00+00'::timestamptz + n * interval '15 minutes', v
  FROM meter_etl.meter, unnest(ARRAY[-7.25, 0, 99.999, -0.001]) WITH ORDINALITY AS u(v, n)
 WHERE meter_id = 'Zürich-1';
INSERT INTO meter_etl.reading (meter_key, ts, kw)
SELECT meter_key, '2024-03-31 05:00+00', 1.5 FROM meter_etl.meter WHERE meter_id IN ('x/../y=z %', 'quote''s');
-- one reading alone on its day: one-row files
INSERT INTO meter_etl.reading (meter_key, ts, kw) SELECT meter_key, '2024-04-05 10:00+00', 0.001 FROM meter_etl.meter WHERE meter_id = 'solo';
-- estimates (archived with their method), one of them shadowed by an actual reading
INSERT INTO meter_etl.estimate (meter_key, channel_id, ts, kw, method)
SELECT meter_key, 1, v.ts, 0.002, v.m FROM meter_etl.meter,
       (VALUES ('2024-04-05 10:15+00'::timestamptz, 'linear'), ('2024-04-05 10:30+00', 'like_day'),
               ('2024-04-05 10:00+00', 'linear')) AS v(ts, m)
 WHERE meter_id = 'solo';
-- before 1970 and before 2000
INSERT INTO meter_etl.reading (meter_key, ts, kw, flags)
SELECT meter_key, ts, 2.5, 8 FROM meter_etl.meter,
       unnest(ARRAY['1969-07-20 20:15+00', '1999-12-31 23:45+00']::timestamptz[]) AS ts
 WHERE meter_id = 'old';
SQL
q "SELECT count(*) FROM meter_etl.reading WHERE file_id IS NULL" | grep -q "^2[0-9][0-9]$" || fail "edge rows missing"
echo "ok   $(q "SELECT count(*) FROM meter_etl.reading") readings, $(q "SELECT count(*) FROM meter_etl.meter") meters"

echo "-- archive in three layouts"
# the days with readings: three ranges (one call covers at most ten years)
archive() {
  q "SET meter_etl.archive_dir = '$ARCH';
     SELECT sum(a.files) || ' files, ' || sum(a.rows) || ' rows'
       FROM (VALUES ('1969-07-20'::date, '1969-07-20'::date), ('1999-12-31', '1999-12-31'),
                    ('2024-03-29', '2024-04-05')) AS d(f, t),
            LATERAL meter_etl.archive_parquet(d.f, d.t, $1) a"
}
echo "ok   fleet: $(archive "dataset => 'fleet', line_numbers => true")"
echo "ok   per_meter: $(archive "dataset => 'per_meter', partition_by => 'meter_id', compression => 'snappy', row_group_rows => 40")"
echo "ok   small_rg: $(archive "dataset => 'small_rg', buckets => 3, compression => 'none', row_group_rows => 500")"
check "every reading and estimate archived in each dataset" \
  "$(q "SELECT (count(*) + 2) * 3 FROM meter_etl.reading")" \
  "$(q "SELECT sum(rows) FROM meter_etl.archive_manifest")"

# what PostgreSQL has, one JSON object per reading and estimate, per dataset
export_rows() {  # name, partition expression, line numbers kept?
  q "SELECT row_to_json(x) FROM (
       SELECT m.meter_id, c.name AS channel, (extract(epoch FROM r.ts) * 1000000)::bigint::text AS ts_us,
              r.kw, r.flags AS quality_flags, (r.flags & 1) <> 0 AS estimated, r.file_id,
              CASE WHEN $3 THEN r.line_no END AS line_no, r.method,
              to_char(r.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS date, $2 AS part
         FROM (SELECT meter_key, channel_id, ts, kw, flags, file_id, line_no, NULL::text AS method FROM meter_etl.reading
              UNION ALL
              SELECT e.meter_key, e.channel_id, e.ts, e.kw, 1::smallint, NULL, NULL, e.method FROM meter_etl.estimate e
               WHERE NOT EXISTS (SELECT 1 FROM meter_etl.reading a
                                  WHERE (a.meter_key, a.channel_id, a.ts) = (e.meter_key, e.channel_id, e.ts))) r
         JOIN meter_etl.meter m USING (meter_key) JOIN meter_etl.channel c USING (channel_id)) x" \
    > "$WORK/expect/rows_$1.jsonl"
}
export_rows fleet "lpad(meter_etl.meter_bucket(m.meter_id, 16)::text, 2, '0')" true
export_rows per_meter "m.meter_id" false
export_rows small_rg "lpad(meter_etl.meter_bucket(m.meter_id, 3)::text, 2, '0')" false
export_manifest() {
  q "SELECT row_to_json(x) FROM (
       SELECT path, dataset, day::text AS day, partition_key, partition_value, rows, bytes,
              (extract(epoch FROM min_ts) * 1000000)::bigint::text AS min_ts_us,
              (extract(epoch FROM max_ts) * 1000000)::bigint::text AS max_ts_us,
              encode(sha256, 'hex') AS sha256, export_id
         FROM meter_etl.archive_manifest) x" > "$WORK/expect/manifest.jsonl"
}
export_manifest
config() {  # allow_tmp
  cat > "$WORK/expect/config.json" <<JSON
{"filter_day": "2024-03-31", "allow_tmp": $1, "datasets": [
  {"name": "fleet", "layout": "meter_bucket", "line_numbers": true, "compression": "ZSTD", "row_group_rows": 1048576},
  {"name": "per_meter", "layout": "meter_id", "line_numbers": false, "compression": "SNAPPY", "row_group_rows": 40},
  {"name": "small_rg", "layout": "meter_bucket", "line_numbers": false, "compression": "UNCOMPRESSED", "row_group_rows": 500}]}
JSON
}
config false
check "one-row files" "t" "$(q "SELECT count(*) >= 3 FROM meter_etl.archive_manifest WHERE rows = 1")"
check "files with several row groups" "t" \
  "$(q "SELECT count(*) > 0 FROM meter_etl.archive_manifest WHERE dataset = 'small_rg' AND rows > 1000")"

echo "-- read back with DuckDB and hyparquet"
node test/interop/archive_check.mjs "$ARCH" "$WORK/expect"

echo "-- re-archiving replaces the dates exactly"
before=$(q "SELECT count(*) FROM meter_etl.archive_manifest WHERE dataset = 'fleet'")
archive "dataset => 'fleet', line_numbers => true, buckets => 16" >/dev/null
archive "dataset => 'fleet', line_numbers => true" >/dev/null
check "same files after archiving twice" "$before" "$(q "SELECT count(*) FROM meter_etl.archive_manifest WHERE dataset = 'fleet'")"
# fewer buckets for two days: their old bucket directories disappear, nothing is duplicated
q "SET meter_etl.archive_dir = '$ARCH'; SELECT count(*) FROM meter_etl.archive_parquet('2024-03-30', '2024-03-31', dataset => 'small_rg', buckets => 2, compression => 'none', row_group_rows => 500)" >/dev/null
check "old buckets removed" "meter_bucket=00 meter_bucket=01" "$(ls "$ARCH/small_rg/date=2024-03-31" | tr '\n' ' ' | sed 's/ $//')"
check "manifest rows = readings and estimates (small_rg)" "$(q "SELECT count(*) + 2 FROM meter_etl.reading")" \
  "$(q "SELECT sum(rows) FROM meter_etl.archive_manifest WHERE dataset = 'small_rg'")"
export_rows small_rg "lpad(meter_etl.meter_bucket(m.meter_id,
  CASE WHEN r.ts >= '2024-03-30' AND r.ts < '2024-04-01' THEN 2 ELSE 3 END)::text, 2, '0')" false

echo "-- a backend killed while archiving leaves .tmp files only"
psql -X -q -At -c "SET meter_etl.archive_dir = '$ARCH'" -c "BEGIN" \
  -c "SELECT count(*) FROM meter_etl.archive_parquet('2024-03-30', '2024-03-31', dataset => 'fleet', buckets => 4)" \
  -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
for _ in $(seq 50); do
  [ -n "$(find "$ARCH/fleet" -name '*.parquet.tmp' | head -1)" ] && break
  sleep 0.1
done
pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")
[ -n "$pid" ] || fail "archiving backend not found"
kill -9 "$pid"
wait || true
for _ in $(seq 100); do q "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
ntmp=$(find "$ARCH/fleet" -name '*.parquet.tmp' | wc -l)
[ "$ntmp" -gt 0 ] || fail "expected .tmp files after the crash"
echo "ok   $ntmp .tmp files left by the crash"
export_manifest
config true
node test/interop/archive_check.mjs "$ARCH" "$WORK/expect" | tail -1
archive "dataset => 'fleet', line_numbers => true" >/dev/null
check ".tmp files removed by the next archive" "0" "$(find "$ARCH/fleet" -name '*.parquet.tmp' | wc -l)"
export_manifest
config false
node test/interop/archive_check.mjs "$ARCH" "$WORK/expect" | tail -1

echo "-- confinement to meter_etl.archive_dir"
set_dir="SET meter_etl.archive_dir = '$ARCH';"
refused "dot-dot" "$set_dir SELECT * FROM meter_etl.archive_parquet('2024-03-31', '2024-03-31', dataset => '../outside')" 'must not contain ".."'
refused "absolute path elsewhere" "$set_dir SELECT * FROM meter_etl.archive_parquet('2024-03-31', '2024-03-31', dataset => '$WORK/outside')" "outside meter_etl.archive_dir"
refused "symlink leading out" "$set_dir SELECT * FROM meter_etl.archive_parquet('2024-03-31', '2024-03-31', dataset => 'link-out/x')" "outside meter_etl.archive_dir"
refused "archive_dir unset" "SELECT * FROM meter_etl.archive_parquet('2024-03-31', '2024-03-31')" "archive_dir is not set"
q "CREATE ROLE e2e_archive_plain LOGIN" >/dev/null 2>&1 || true
refused "not for ordinary roles" "SET ROLE e2e_archive_plain; SELECT * FROM meter_etl.archive_parquet('2024-03-31', '2024-03-31')" "permission denied"
check "nothing written outside" "" "$(ls -A "$WORK/outside")"

psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE"
q "DROP ROLE IF EXISTS e2e_archive_plain" -d postgres >/dev/null 2>&1 || true
echo "== archive end-to-end tests passed"
