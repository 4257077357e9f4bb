#!/usr/bin/env bash
# End-to-end test of late data and the Parquet archive (issue 17) on a
# running server (PG* variables set, e.g. by pg_virtualenv): a fleet goes
# through the pipeline (ingest and detection) and the scheduled archive job
# archives it, estimates included; then a late file brings readings for
# older dates that are already archived and an actual reading for a slot
# detection had estimated, v_archive_coverage calls those dates stale, and
# the next run of the job archives them again.  DuckDB reads the archive
# back and compares it with the store: rows, kw sums and estimated rows per
# date (estimated rows = rows of estimate), and row for row
# (test/interop/archive_check.mjs).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/e2e/lib_e2e.sh
e2e_setup meter_etl_e2e_archive_late

if [ ! -d test/interop/node_modules ]; then
  (cd test/interop && npm ci --no-audit --no-fund >/dev/null)
fi

# the archive directory belongs to the server's OS user
ARCH=$WORK/archive
mkdir -p "$ARCH" "$WORK/expect"
chown "$(stat -c %U "$(q "SHOW data_directory")")" "$ARCH"

q "CREATE EXTENSION meter_etl"
# where the job finds the directory (in production: ALTER SYSTEM)
q "ALTER DATABASE $PGDATABASE SET meter_etl.archive_dir = '$ARCH'"

# the statement schedule(archive_at => ...) registers with pg_cron, default days
job=$(sed -n "s/.*format('\(SELECT count(\*) FROM meter_etl\.archive_recent(days => \)%s)'.*/\1/p" src/sql/20_pipeline.sql)
[ -n "$job" ] || fail "the archive job's statement was not found in src/sql/20_pipeline.sql"
job="${job}2)"
run_job() { q "$job" >/dev/null; }

# the archive holds readings and the estimates no actual reading replaced
STORE="(SELECT meter_key, channel_id, ts, kw, flags, file_id, NULL::text AS method FROM meter_etl.reading
                     UNION ALL
                     SELECT e.meter_key, e.channel_id, e.ts, e.kw, 1::smallint, NULL, e.method FROM meter_etl.estimate e
                      WHERE NOT EXISTS (SELECT 1 FROM meter_etl.reading a
                                         WHERE (a.meter_key, a.channel_id, a.ts) = (e.meter_key, e.channel_id, e.ts))) r"
# what the store holds per UTC date, as archive_days.mjs prints the archive
store_days() {
  q "SELECT d.day || '|' || d.n || '|' || round(d.kw_sum::numeric, 6) || '|' || d.estimated
       FROM (SELECT to_char(r.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS n, sum(r.kw) AS kw_sum,
                    count(*) FILTER (WHERE r.flags & 1 <> 0) AS estimated
               FROM $STORE
              WHERE (r.ts AT TIME ZONE 'UTC')::date IN (SELECT day FROM meter_etl.archive_manifest WHERE dataset = '')
              GROUP BY 1) d
      ORDER BY d.day"
}
# every reading of the archived dates, as archive_check.mjs compares them
export_expect() {
  q "SELECT row_to_json(x) FROM (
       SELECT m.meter_id, c.name AS channel, (extract(epoch FROM r.ts) * 1000000)::bigint::text AS ts_us,
              r.kw, r.flags AS quality_flags, (r.flags & 1) <> 0 AS estimated, r.file_id,
              NULL::integer AS line_no, r.method, to_char(r.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS date,
              lpad(meter_etl.meter_bucket(m.meter_id, 16)::text, 2, '0') AS part
         FROM $STORE JOIN meter_etl.meter m USING (meter_key) JOIN meter_etl.channel c USING (channel_id)
        WHERE (r.ts AT TIME ZONE 'UTC')::date IN (SELECT day FROM meter_etl.archive_manifest WHERE dataset = '')) x" \
    > "$WORK/expect/rows_.jsonl"
  q "SELECT row_to_json(x) FROM (
       SELECT path, dataset, day::text AS day, partition_key, partition_value, rows, bytes,
              (extract(epoch FROM min_ts) * 1000000)::bigint::text AS min_ts_us,
              (extract(epoch FROM max_ts) * 1000000)::bigint::text AS max_ts_us,
              encode(sha256, 'hex') AS sha256, export_id
         FROM meter_etl.archive_manifest) x" > "$WORK/expect/manifest.jsonl"
  cat > "$WORK/expect/config.json" <<JSON
{"filter_day": "2024-05-02", "allow_tmp": false, "datasets": [
  {"name": "", "layout": "meter_bucket", "line_numbers": false, "compression": "ZSTD", "row_group_rows": 1048576}]}
JSON
}
compare_with_duckdb() {  # what
  local duck store
  duck=$(node test/interop/archive_days.mjs "$ARCH")
  store=$(store_days)
  [ "$duck" = "$store" ] || { diff <(echo "$store") <(echo "$duck") || true; fail "$1: DuckDB's archive differs from the store per date"; }
  echo "ok   $1: DuckDB per date = store ($(echo "$duck" | wc -l) dates, $(echo "$duck" | awk -F'|' '{ s += $2 } END { print s }') rows)"
  check "$1: estimated rows in the archive = rows of estimate for those dates" \
    "$(q "SELECT count(*) FROM meter_etl.estimate e
          WHERE (e.ts AT TIME ZONE 'UTC')::date IN (SELECT day FROM meter_etl.archive_manifest WHERE dataset = '')")" \
    "$(echo "$duck" | awk -F'|' '{ s += $4 } END { print s }')"
  export_expect
  node test/interop/archive_check.mjs "$ARCH" "$WORK/expect" | sed "s/^ok   (root)/ok   $1, row for row/" | grep '^ok'
}

echo "-- a fleet through the pipeline, archived by the scheduled job"
bin/meter-etl-gen --meters 30 --days 4 --start 2024-05-01 --faults default --seed 17 \
  --out "$WORK/fleet.csv" 2>/dev/null
chmod 644 "$WORK/fleet.csv"
bin/meter-etl-load "$WORK/fleet.csv" >/dev/null
q "CALL meter_etl.run_pipeline(scan => false)"
check "fleet ingested" "ingested" "$(q "SELECT string_agg(DISTINCT status, ',') FROM meter_etl.raw_file")"
run_job
check "every date archived by the first run" "0" \
  "$(q "SELECT count(*) FROM meter_etl.v_archive_coverage WHERE status <> 'archived'")"
compare_with_duckdb "after the first run"

echo "-- a late file for two older dates that are already archived, and an actual for an estimate"
exports_before=$(q "SELECT count(*) FROM meter_etl.archive_export")
[ "$(q "SELECT count(*) > 0 FROM meter_etl.estimate")" = t ] || fail "the fleet has no estimates to archive"
# the estimate the late file replaces with an actual reading: the fleet's first
read -r est_meter est_ts est_day <<<"$(q "SELECT m.meter_id, to_char(e.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
     (e.ts AT TIME ZONE 'UTC')::date FROM meter_etl.estimate e JOIN meter_etl.meter m USING (meter_key)
    WHERE e.channel_id = 1 ORDER BY e.ts, m.meter_id LIMIT 1" | tr '|' ' ')"
{
  echo "meter_id,timestamp,value,unit"
  # a meter the fleet did not have, all day on 2024-05-02 (UTC)
  for h in $(seq 0 23); do for m in 00 15 30 45; do
    printf 'LATE-1,2024-05-02T%02d:%s:00Z,%s.25,kW\n' "$h" "$m" "$((h % 5))"
  done; done
  # and an evening on 2024-05-01
  for h in 18 19 20; do printf 'LATE-2,2024-05-01T%02d:00:00Z,0.5,kW\n' "$h"; done
  printf '%s,%s,0.75,kW\n' "$est_meter" "$est_ts"
} > "$WORK/late.csv"
chmod 644 "$WORK/late.csv"
bin/meter-etl-load -s late "$WORK/late.csv" >/dev/null
q "CALL meter_etl.run_pipeline(scan => false)"
check "late file ingested" "100" "$(q "SELECT rows_clean FROM meter_etl.ingest_run ORDER BY run_id DESC LIMIT 1")"
check "the actual replaced the estimate" "0" \
  "$(q "SELECT count(*) FROM meter_etl.estimate e JOIN meter_etl.meter m USING (meter_key)
        WHERE m.meter_id = '$est_meter' AND e.ts = '$est_ts'")"
check "the late dates are stale" "$(printf '%s\n' 2024-05-01 2024-05-02 "$est_day" | sort -u | tr '\n' ' ' | sed 's/ $//')" \
  "$(q "SELECT string_agg(day::text, ' ' ORDER BY day) FROM meter_etl.v_archive_coverage
        WHERE status = 'stale' AND day IN ('2024-05-01', '2024-05-02', '$est_day')")"
check "the archive misses them until the job runs" "f" \
  "$(q "SELECT sum(rows) = (SELECT count(*) FROM meter_etl.reading WHERE ts >= '2024-05-02' AND ts < '2024-05-03')
          FROM meter_etl.archive_manifest WHERE day = '2024-05-02'")"

echo "-- the next run of the job archives the stale dates again"
run_job
check "nothing stale after the run" "0" \
  "$(q "SELECT count(*) FROM meter_etl.v_archive_coverage WHERE status <> 'archived'")"
check "the stale dates were archived by the run" "t" \
  "$(q "SELECT bool_and(export_id > $exports_before) FROM meter_etl.v_archive_coverage
        WHERE day IN ('2024-05-01', '2024-05-02', '$est_day')")"
compare_with_duckdb "after the late file"

echo "-- a run with nothing late archives no older date"
exports_before=$(q "SELECT max(export_id) FROM meter_etl.archive_export")
run_job
check "no older date archived" "0" \
  "$(q "SELECT count(*) FROM meter_etl.archive_export WHERE export_id > $exports_before AND from_date < (now() AT TIME ZONE 'UTC')::date - 2")"

psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE"
echo "== archive late-data end-to-end tests passed"
