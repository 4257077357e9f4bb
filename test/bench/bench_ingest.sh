#!/usr/bin/env bash
# Ingest benchmark, inside a throwaway cluster (see test/bench/bench.sh):
#   1. 50,000 meters x 1 day at 15 minutes (4.8 M lines), side by side in one run:
#      bare COPY into a typed table, the plain-SQL ETL of
#      ../shared/bench/plain_sql_pipeline.sql (COPY to text staging + step c),
#      and meter_etl's stage + ingest.  Rows/s and ratios.
#   2. Scale: ingest rows/s into an empty store and with >= 50 M rows stored.
#   3. Memory: peak backend memory while ingesting a >= 1 GB raw file.
# BENCH_QUICK=1 shrinks everything tenfold (for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PEER=${MeterEtlPlainSql:-$ROOT/../shared/bench/plain_sql_pipeline.sql}
WORK=$(mktemp -d /tmp/meter_etl_bench.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
export PGDATABASE=meter_etl_bench
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS meter_etl_bench" -c "CREATE DATABASE meter_etl_bench"
METERS=50000
[ "${BENCH_QUICK:-0}" = 1 ] && METERS=5000
. test/bench/lib_bench.sh

q -c "CREATE EXTENSION meter_etl"
echo "== generating $METERS meters x 1 day at 15 min"
bin/meter-etl-gen --meters "$METERS" --days 1 --start 2024-06-10 --faults none --units power --out "$WORK/day.csv" 2>/dev/null
bin/meter-etl-gen --meters "$METERS" --days 1 --start 2024-06-11 --faults default --out "$WORK/faulty.csv" 2>/dev/null
chmod 644 "$WORK"/*.csv
LINES=$(( $(wc -l < "$WORK/day.csv") - 1 ))
echo "   $LINES lines, $(du -m "$WORK/day.csv" | cut -f1) MB"

echo "== 1. side by side on the same file"
q -c "CREATE TABLE typed (meter_id text, ts timestamptz, value float8, unit text)"
q -c "CHECKPOINT"
t_copy=$(timed q -c "COPY typed FROM '$WORK/day.csv' (FORMAT csv, HEADER true)")
q -c "CREATE TABLE typed_pk (meter_id text, ts timestamptz, value float8, unit text, PRIMARY KEY (meter_id, ts))"
q -c "CHECKPOINT"
t_copy_pk=$(timed q -c "COPY typed_pk FROM '$WORK/day.csv' (FORMAT csv, HEADER true)")

t_plain=""
if [ -f "$PEER" ]; then
  # the peer's DDL and step c, run as written (psql variables as it suggests)
  sed -n '/^CREATE UNLOGGED TABLE staging_u/,/^-- step d (grid)/p' "$PEER" | sed '$d' > "$WORK/peer.sql"
  q -c "CHECKPOINT"
  t0=$(now)
  q -c "CREATE SCHEMA peer" >/dev/null
  PGOPTIONS="-c search_path=peer" psql -X -q -v ON_ERROR_STOP=1 \
    -v ts_re='^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)$' \
    -v num_re='^-?[0-9]+(\.[0-9]+)?$' -v ts_lo='2000-01-01' \
    -c "$(sed -n '/^CREATE UNLOGGED TABLE staging_u/,/^CREATE TABLE stuck_runs/p' "$WORK/peer.sql")" \
    -c "COPY staging_u FROM '$WORK/day.csv' (FORMAT csv, HEADER true)" \
    -f <(sed -n '/^-- step c/,$p' "$WORK/peer.sql") >/dev/null
  t_plain=$(secs "$t0" "$(now)")
  plain_rows=$(q -c "SELECT count(*) FROM peer.clean")
else
  echo "   (plain-SQL peer not found at $PEER: skipped)"
fi

q -c "CHECKPOINT"
t0=$(now)
fid=$(bin/meter-etl-load "$WORK/day.csv" | cut -f1)
t_stage=$(secs "$t0" "$(now)")
q -c "CHECKPOINT"
t_ingest=$(timed q -c "SELECT rows_clean FROM meter_etl.ingest($fid)")
clean=$(q -c "SELECT rows_clean FROM meter_etl.ingest_run WHERE file_id = $fid AND status = 'ok'")
[ "$clean" = "$LINES" ] || { echo "ingest stored $clean of $LINES readings"; exit 1; }
# ingest hashes the bytes it streams (raw zone integrity); the same hash
# alone over the same file, three times, bounds what that costs
for i in 1 2 3; do timed q -c "SELECT octet_length(meter_etl.raw_sha256($fid))"; echo; done > "$WORK/sha.txt"
t_sha=$(median < "$WORK/sha.txt")
sha_spread="$(sort -n "$WORK/sha.txt" | head -1)-$(sort -n "$WORK/sha.txt" | tail -1)"
fid2=$(bin/meter-etl-load "$WORK/faulty.csv" | cut -f1)
q -c "CHECKPOINT"
t_faulty=$(timed q -c "SELECT rows_clean FROM meter_etl.ingest($fid2)")
acct=$(q -c "SELECT format('%s clean, %s quarantined, %s duplicate', rows_clean, rows_quarantined, rows_duplicate) FROM meter_etl.ingest_run WHERE file_id = $fid2 AND status = 'ok'")
# the same fleet on other (new) days, with one speed-up switched off each
variant() {   # day, setting -> seconds
  bin/meter-etl-gen --meters "$METERS" --days 1 --start "$1" --faults none --units power --out "$WORK/v.csv" 2>/dev/null
  local f; f=$(bin/meter-etl-load "$WORK/v.csv" | cut -f1)
  rm -f "$WORK/v.csv"
  q -c "CHECKPOINT"
  timed q -c "SET $2" -c "SELECT rows_clean FROM meter_etl.ingest($f)"
}
t_nobulk=$(variant 2024-06-13 "meter_etl.bulk_index_build = off")
t_noparse=$(variant 2024-06-15 "meter_etl.parallel_parse = off")

printf '\n%-52s %9s %12s %10s\n' "method ($LINES lines)" "seconds" "rows/s" "vs COPY"
printf '%-52s %9s %12s %10s\n' "bare COPY into a typed table (no key)" "$t_copy" "$(rate "$LINES" "$t_copy")" "1.00"
printf '%-52s %9s %12s %10s\n' "COPY into a typed table with a primary key" "$t_copy_pk" "$(rate "$LINES" "$t_copy_pk")" "$(ratio "$t_copy_pk" "$t_copy")"
[ -n "$t_plain" ] && printf '%-52s %9s %12s %10s\n' "plain-SQL ETL (staging COPY + step c)" "$t_plain" "$(rate "$LINES" "$t_plain")" "$(ratio "$t_plain" "$t_copy")"
printf '%-52s %9s %12s %10s\n' "meter_etl ingest (staged file)" "$t_ingest" "$(rate "$LINES" "$t_ingest")" "$(ratio "$t_ingest" "$t_copy")"
printf '%-52s %9s %12s %10s\n' "  of which ingest's hash check, at most (sha256 alone)" "$t_sha" "" ""
echo "   (sha256 of the $(du -m "$WORK/day.csv" | cut -f1) MB file alone: median of 3 $t_sha s, spread $sha_spread s; $(awk -v a="$t_sha" -v b="$t_ingest" 'BEGIN { printf "%.1f", 100 * a / b }') % of the ingest, an upper bound: ingest hashes in the backend while the parser thread parses)"
printf '%-52s %9s %12s %10s\n' "meter_etl stage (client, 1 MiB chunks, sha256)" "$t_stage" "" ""
tot=$(awk -v a="$t_stage" -v b="$t_ingest" 'BEGIN { printf "%.2f", a + b }')
printf '%-52s %9s %12s %10s\n' "meter_etl stage + ingest" "$tot" "$(rate "$LINES" "$tot")" "$(ratio "$tot" "$t_copy")"
printf '%-52s %9s %12s %10s\n' "meter_etl ingest, bulk_index_build = off" "$t_nobulk" "$(rate "$LINES" "$t_nobulk")" "$(ratio "$t_nobulk" "$t_copy")"
printf '%-52s %9s %12s %10s\n' "meter_etl ingest, parallel_parse = off" "$t_noparse" "$(rate "$LINES" "$t_noparse")" "$(ratio "$t_noparse" "$t_copy")"
printf '%-52s %9s %12s %10s\n' "meter_etl ingest, file with ~1% faults" "$t_faulty" "$(rate "$LINES" "$t_faulty")" "$(ratio "$t_faulty" "$t_copy")"
echo "   (faulty file: $acct)"
[ -n "$t_plain" ] && echo "   ingest is $(ratio "$t_plain" "$t_ingest")x faster than the plain-SQL ETL (which stored $plain_rows rows); stage + ingest $(ratio "$t_plain" "$tot")x"

echo
echo "== 2. scale: ingest throughput with an empty store and with >= 50 M rows stored"
e_rate=$(rate "$LINES" "$t_ingest")
q -c "DROP TABLE typed, typed_pk" -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS peer CASCADE"
DAYS=11
[ "${BENCH_QUICK:-0}" = 1 ] && DAYS=2
for d in $(seq 1 $DAYS); do
  start=$(date -d "2024-05-01 + $d days" +%F)
  bin/meter-etl-gen --meters "$METERS" --days 1 --start "$start" --faults none --seed "$d" --out "$WORK/p.csv" 2>/dev/null
  bin/meter-etl-load --ingest "$WORK/p.csv" >/dev/null
  rm -f "$WORK/p.csv"
done
stored=$(q -c "SELECT count(*) FROM meter_etl.reading")
bin/meter-etl-gen --meters "$METERS" --days 1 --start 2024-06-20 --faults none --seed 99 --out "$WORK/new.csv" 2>/dev/null
fid3=$(bin/meter-etl-load "$WORK/new.csv" | cut -f1)
q -c "CHECKPOINT"
t_full=$(timed q -c "SELECT rows_clean FROM meter_etl.ingest($fid3)")
printf '%-52s %12s\n' "store size before the ingest (rows)" "$stored"
printf '%-52s %12s\n' "ingest rows/s, empty store" "$e_rate"
printf '%-52s %12s\n' "ingest rows/s, store of $stored rows" "$(rate "$LINES" "$t_full")"
echo "   ratio full/empty: $(ratio "$(rate "$LINES" "$t_full")" "$e_rate")"

echo
echo "== 3. memory: peak backend memory while ingesting a >= 1 GB raw file"
MDAYS=6
[ "${BENCH_QUICK:-0}" = 1 ] && MDAYS=1
bin/meter-etl-gen --meters "$METERS" --days "$MDAYS" --start 2024-07-01 --faults default --seed 5 --out "$WORK/big.csv" 2>/dev/null
size_mb=$(du -m "$WORK/big.csv" | cut -f1)
fid4=$(bin/meter-etl-load "$WORK/big.csv" | cut -f1)
rm -f "$WORK/big.csv"
q -c "CHECKPOINT"
psql -X -q -At -c "SELECT pg_backend_pid(), pg_sleep(1), (SELECT readings_read FROM meter_etl.ingest($fid4))" > "$WORK/ingest.out" &
sleep 0.5
pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '%meter_etl.ingest($fid4)%' AND pid <> pg_backend_pid()")
peak_anon=0; peak_hwm=0
while kill -0 "$pid" 2>/dev/null && ! grep -q '|' "$WORK/ingest.out" 2>/dev/null; do
  if [ -r "/proc/$pid/status" ]; then
    a=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    h=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${a:-0}" -gt "$peak_anon" ] && peak_anon=$a
    [ "${h:-0}" -gt "$peak_hwm" ] && peak_hwm=$h
  fi
  sleep 0.2
done
wait
read_n=$(cut -d'|' -f3 "$WORK/ingest.out")
printf '%-52s %12s\n' "raw file (MB)" "$size_mb"
printf '%-52s %12s\n' "readings ingested" "$read_n"
printf '%-52s %12s\n' "peak private memory of the backend (RssAnon, MB)" "$(( peak_anon / 1024 ))"
printf '%-52s %12s\n' "peak RSS incl. shared buffers touched (VmHWM, MB)" "$(( peak_hwm / 1024 ))"
psql -X -q -d postgres -c "DROP DATABASE meter_etl_bench"
