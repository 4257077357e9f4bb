#!/usr/bin/env bash
# Archive benchmark, inside a throwaway cluster (see test/bench/bench.sh):
# one day of 50,000 meters (4.8 M readings) archived by archive_parquet(),
# side by side with DuckDB writing the same readings from the same CSV to
# Parquet with the same codec (ZSTD).  Rows/s, bytes and the ratios against
# the targets (throughput >= 0.8x DuckDB's, size <= 1.2x DuckDB's).
# Medians of 3 runs, each side timed around the call alone in an open
# session (a new-session row shows what connecting adds).  BENCH_QUICK=1
# shrinks the fleet tenfold.
# Standalone: pg_virtualenv -o shared_buffers=512MB test/bench/bench_archive.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=$(mktemp -d /tmp/meter_etl_bench_archive.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
export PGDATABASE=meter_etl_bench_archive
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $PGDATABASE" -c "CREATE DATABASE $PGDATABASE"
METERS=50000
[ "${BENCH_QUICK:-0}" = 1 ] && METERS=5000
RUNS=3
. test/bench/lib_bench.sh

[ -d test/interop/node_modules ] || (cd test/interop && npm ci --no-audit --no-fund >/dev/null)
q -c "CREATE EXTENSION meter_etl"
ARCH=$WORK/archive
mkdir -p "$ARCH" "$WORK/duck"
chown "$(stat -c %U "$(q -c "SHOW data_directory")")" "$ARCH"

echo "== generating and ingesting $METERS meters x 1 day at 15 min"
bin/meter-etl-gen --meters "$METERS" --days 1 --faults none --out "$WORK/day.csv" 2>/dev/null
chmod 644 "$WORK/day.csv"
LINES=$(( $(wc -l < "$WORK/day.csv") - 1 ))
bin/meter-etl-load --ingest "$WORK/day.csv" >/dev/null
q -c "VACUUM ANALYZE meter_etl.reading" -c "CHECKPOINT"
DAY=$(q -c "SELECT min(ts)::date FROM meter_etl.reading")
echo "   $LINES readings on $DAY, CSV $(du -m "$WORK/day.csv" | cut -f1) MB"

# archive_parquet for the day, RUNS times in one session (each run replaces
# the last), each call timed by psql's \timing around the call alone, as
# DuckDB's side times its COPY in an open connection; prints "seconds bytes".
# $1: extra arguments, $2: an extra setting
ours() {
  local out
  out=$({ echo "SET meter_etl.archive_dir = '$ARCH';"
          echo "SET ${2:-meter_etl.parallel_archive = on};"
          echo "\\timing on"
          for _ in $(seq $RUNS); do
            echo "SELECT 'bytes', sum(bytes) FROM meter_etl.archive_parquet('$DAY', '$DAY', $1);"
          done; } | psql -X -q -At -v ON_ERROR_STOP=1)
  echo "$(echo "$out" | awk '/^Time:/ { printf "%.3f\n", $2 / 1000 }' | median)" \
       "$(echo "$out" | awk -F'|' '$1 == "bytes" { b = $2 } END { print b }')"
}
# the same, but each run in a new session, timed from the client (connection,
# backend start-up and first touches of shared memory included)
ours_fresh() {
  local t0 times="" bytes
  for _ in $(seq $RUNS); do
    t0=$(now)
    bytes=$(q -c "SET meter_etl.archive_dir = '$ARCH'" \
              -c "SELECT sum(bytes) FROM meter_etl.archive_parquet('$DAY', '$DAY', $1)")
    times="$times $(secs "$t0" "$(now)" 3)"
  done
  echo "$(echo "$times" | tr ' ' '\n' | grep . | median) $bytes"
}
# one untimed run first, so that every timed run starts as warm as DuckDB's
# (whose CSV the generator has just left in the page cache)
q -c "SET meter_etl.archive_dir = '$ARCH'" -c "SELECT count(*) FROM meter_etl.archive_parquet('$DAY', '$DAY', dataset => 'warmup')" >/dev/null
echo "== archive_parquet ($RUNS runs each, after one untimed run)"
read -r t16 b16 < <(ours "dataset => 'b16'")
read -r t1 b1 < <(ours "dataset => 'b1', buckets => 1")
read -r tln bln < <(ours "dataset => 'lines', line_numbers => true")
read -r tser bser < <(ours "dataset => 'serial'" "meter_etl.parallel_archive = off")
read -r tfr bfr < <(ours_fresh "dataset => 'fresh'")
rows_ok=$(q -c "SELECT sum(rows) FROM meter_etl.archive_manifest WHERE dataset = 'b16'")
[ "$rows_ok" = "$LINES" ] || { echo "archive holds $rows_ok of $LINES readings"; exit 1; }

echo "== DuckDB $(node -e "console.log(require('./test/interop/node_modules/@duckdb/node-api/package.json').version)") writing the same readings from the CSV ($RUNS runs each)"
node test/interop/archive_bench.mjs "$WORK/day.csv" "$WORK/duck" "$RUNS" > "$WORK/duck.tsv"
duck() { awk -F'\t' -v n="$1" '$1 == n { print $2, $4 }' "$WORK/duck.tsv"; }
read -r td bd < <(duck "duckdb, same 9 columns")
read -r tdl bdl < <(duck "duckdb, same 9 columns with line numbers")
read -r td1 bd1 < <(duck "duckdb, same 9 columns, 1 thread")
read -r tdc bdc < <(duck "duckdb, the CSV columns as read (4)")

row() { printf '%-58s %8s %11s %9s %8s %8s\n' "$@"; }
echo
row "method ($LINES readings, ZSTD)" "seconds" "rows/s" "MB" "speed" "size"
row "" "" "" "" "vs duck" "vs duck"
row "archive_parquet, 16 buckets (default)" "$t16" "$(rate "$LINES" "$t16")" "$(mb "$b16")" "$(ratio "$td" "$t16")" "$(ratio "$b16" "$bd")"
row "archive_parquet, 1 bucket" "$t1" "$(rate "$LINES" "$t1")" "$(mb "$b1")" "$(ratio "$td" "$t1")" "$(ratio "$b1" "$bd")"
row "archive_parquet, 16 buckets, parallel_archive = off" "$tser" "$(rate "$LINES" "$tser")" "$(mb "$bser")" "$(ratio "$td" "$tser")" "$(ratio "$bser" "$bd")"
row "archive_parquet, 16 buckets, a new session per run" "$tfr" "$(rate "$LINES" "$tfr")" "$(mb "$bfr")" "$(ratio "$td" "$tfr")" "$(ratio "$bfr" "$bd")"
row "DuckDB, same 9 columns (2 threads)" "$td" "$(rate "$LINES" "$td")" "$(mb "$bd")" "1.00" "1.00"
row "DuckDB, same 9 columns, 1 thread" "$td1" "$(rate "$LINES" "$td1")" "$(mb "$bd1")" "" ""
row "archive_parquet, line_numbers => true" "$tln" "$(rate "$LINES" "$tln")" "$(mb "$bln")" "$(ratio "$tdl" "$tln")" "$(ratio "$bln" "$bdl")"
row "DuckDB, same 9 columns with line numbers" "$tdl" "$(rate "$LINES" "$tdl")" "$(mb "$bdl")" "1.00" "1.00"
row "DuckDB, the 4 CSV columns as read (reference)" "$tdc" "$(rate "$LINES" "$tdc")" "$(mb "$bdc")" "" ""
echo
echo "   speed = DuckDB seconds / ours (target >= 0.80); size = our bytes / DuckDB's (target <= 1.20)"
echo "   default: speed $(ratio "$td" "$t16") $(awk -v r="$(ratio "$td" "$t16")" 'BEGIN { print (r >= 0.8 ? "(met)" : "(missed)") }')," \
     "size $(ratio "$b16" "$bd") $(awk -v r="$(ratio "$b16" "$bd")" 'BEGIN { print (r <= 1.2 ? "(met)" : "(missed)") }')"
echo "   ours: one backend (plus its encoder thread), reading from the store, each call timed in an"
echo "   open session; DuckDB: parsing the CSV on $(nproc) threads, each COPY timed in an open connection"
psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE"
