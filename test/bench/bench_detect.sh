#!/usr/bin/env bash
# Detection benchmark, inside a throwaway cluster (test/bench.sh runs it; or
# standalone: pg_virtualenv -o shared_buffers=512MB test/bench/bench_detect.sh):
#   1. Each set-returning function against the plain SQL of
#      ../shared/bench/plain_sql_pipeline.sql (step d grid and lead, step e
#      z-score and stuck runs), on the same readings, side by side in one
#      run, both writing their result into a table: 50,000 meters x 1 day
#      and 5,000 meters x 7 days.  Seconds and ratios; then the floors (reading
#      the same readings, writing the same rows), which bound the ratio.
#   2. Fleet detection: detect() for 50,000 meters x 1 day with 28 days of
#      history (target <= 20 s), after the history was detected once (the
#      backfill, also timed), then the same day again (idempotent rerun).
# BENCH_QUICK=1 shrinks the fleet tenfold (a smoke run).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PEER=${MeterEtlPlainSql:-$ROOT/../shared/bench/plain_sql_pipeline.sql}
WORK=$(mktemp -d /tmp/meter_etl_bench_detect.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
export PGDATABASE=meter_etl_bench_detect
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS meter_etl_bench_detect" -c "CREATE DATABASE meter_etl_bench_detect"
METERS=50000
WEEK_METERS=5000
[ "${BENCH_QUICK:-0}" = 1 ] && METERS=5000 && WEEK_METERS=500
HISTORY=28
START=2024-06-10                                   # first day of history (a Monday)
DAY=$(date -d "$START + $HISTORY days" +%F)       # the day detected
NEXT=$(date -d "$DAY + 1 day" +%F)
WEEK0=$(date -d "$DAY - 6 days" +%F)
. test/bench/lib_bench.sh

q -c "CREATE EXTENSION meter_etl"
echo "== generating $METERS meters x $(( HISTORY + 1 )) days at 15 min (default faults)"
bin/meter-etl-gen --meters "$METERS" --days 1 --history-days "$HISTORY" --start "$DAY" --seed 31 \
  --out "$WORK/fleet.csv" 2>/dev/null
chmod 644 "$WORK/fleet.csv"
echo "   $(( $(wc -l < "$WORK/fleet.csv") - 1 )) lines, $(du -m "$WORK/fleet.csv" | cut -f1) MB"
t_load=$(timed bin/meter-etl-load --ingest "$WORK/fleet.csv")
rm -f "$WORK/fleet.csv"
q -c "VACUUM ANALYZE meter_etl.reading" -c "CHECKPOINT"
READINGS=$(q -c "SELECT count(*) FROM meter_etl.reading")
echo "   loaded $READINGS readings in $t_load s"

echo "== 2. fleet detection"
t_backfill=$(timed q -c "SELECT meter_etl.detect('$START', '$DAY')")
q -c "VACUUM ANALYZE meter_etl.meter_day" -c "CHECKPOINT"
t_day=$(timed q -c "SELECT meter_etl.detect('$DAY', '$NEXT')")
t_rerun=$(timed q -c "SELECT meter_etl.detect('$DAY', '$NEXT')")
q -c "SELECT '   day run: ' || series || ' series, ' || flags_changed || ' flags, ' || estimates_written || ' estimates, '
              || gaps_written || ' gaps, ' || faults_new || ' new episodes, ' || alerts || ' alerts'
         FROM meter_etl.detect_run WHERE from_ts = '$DAY' ORDER BY run_id LIMIT 1"
q -c "SELECT '   rerun:   ' || flags_changed + estimates_written + gaps_written + faults_new + faults_updated
              || ' changes (idempotent)' FROM meter_etl.detect_run ORDER BY run_id DESC LIMIT 1"

echo "== 1. set-returning functions against plain SQL, same readings"
if [ ! -f "$PEER" ]; then
  echo "   (plain-SQL peer not found at $PEER: skipped)"
else
  # the peer's tables and steps d and e, run as written
  sed -n '/^CREATE TABLE clean/,/^CREATE TABLE stuck_runs/p' "$PEER" > "$WORK/peer_ddl.sql"
  step() { awk -v m="$1" 'index($0, m) == 1 { on = 1; next } on { print; if ($0 ~ /;[[:space:]]*(--.*)?$/) exit }' "$PEER"; }
  step "-- step d (grid)" > "$WORK/d_grid.sql"
  step "-- step d (lead)" > "$WORK/d_lead.sql"
  step "-- step e: rolling z-score" > "$WORK/e_zscore.sql"
  step "-- step e: runs of identical values" > "$WORK/e_runs.sql"
  peer() { PGOPTIONS="$PGOPTIONS -c search_path=peer,public" psql -X -q -v ON_ERROR_STOP=1 \
             -v iv='15 minutes' -v maxgap='2 hours' -f "$1" >/dev/null; }
  printf '%-38s %10s %10s %8s %10s %10s\n' "step" "plain s" "meter_etl s" "ratio" "plain rows" "ours rows" > "$WORK/table.txt"
  # rolling_outliers() reads a window and a quarter of slack plus one interval
  # before the range (src/pg/detect/detect_outliers.c): 96 x 15 min -> 30 h 15 min
  CTX='30 hours 15 minutes'
  # the functions' reader query (src/pg/detect/detect_reader.c) with literal bounds, the
  # plan they get, over the meter keys in $keys; the sums keep every column read
  scan() { q -c "SELECT count(*), sum(s.kw), sum(s.flags) FROM (SELECT r.meter_key, r.channel_id, r.ts, r.kw, r.flags
                   FROM meter_etl.reading r WHERE r.ts >= '$1' AND r.ts < '$2' AND r.meter_key BETWEEN $keys
                   ORDER BY r.meter_key, r.channel_id, r.ts) s"; }
  compare() {   # label, meters (count), from, to
    local label=$1 n=$2 from=$3 to=$4 last ids
    last="M$(printf '%06d' "$n")"     # the generator numbers meters M000001, M000002, ...
    ids="(SELECT array_agg(meter_id) FROM meter_etl.meter WHERE meter_id <= '$last')"
    q -c "DROP SCHEMA IF EXISTS peer CASCADE" -c "CREATE SCHEMA peer"
    PGOPTIONS="$PGOPTIONS -c search_path=peer" q -f "$WORK/peer_ddl.sql"
    # in (meter, ts) order, as a clustered table stores it: the plain sorts find their input sorted
    q -c "INSERT INTO peer.clean SELECT meter_id, ts, kw FROM meter_etl.v_reading
            WHERE meter_id <= '$last' AND ts >= '$from' AND ts < '$to'
            ORDER BY meter_id, ts" \
      -c "VACUUM ANALYZE peer.clean" -c "CHECKPOINT"
    q -c "CREATE TABLE peer.ours_filled (meter_id text, ts timestamptz, value_kw float8, estimated bool);
          CREATE TABLE peer.ours_outliers (meter_id text, ts timestamptz, value_kw float8, mu float8, sd float8, z float8);
          CREATE TABLE peer.ours_runs (meter_id text, kind text, run_start timestamptz, run_end timestamptz, evidence jsonb)"
    local rows=$(q -c "SELECT count(*) FROM peer.clean")
    # The plain SQL reads a table it has just written, so from the cache; read
    # the readings the functions will read once, untimed, so that they do too.
    local keys
    keys=$(q -c "SELECT min(meter_key) || ' AND ' || max(meter_key) FROM meter_etl.meter
                  WHERE meter_id <= '$last'")
    scan "$(q -c "SELECT '$from'::timestamptz - interval '$CTX'")" \
         "$(q -c "SELECT '$to'::timestamptz + interval '1 day'")" >/dev/null
    echo "   $label: $rows readings"
    local a b t_grid t_lead t_zs
    a=$(timed peer "$WORK/d_grid.sql")
    t_grid=$a
    b=$(timed q -c "INSERT INTO peer.ours_filled SELECT meter_id, ts, kw, estimated
                      FROM meter_etl.interpolate('$from', '$to', $ids, max_gap => '2 hours') WHERE method <> 'gap'")
    printf '%-38s %10s %10s %8s %10s %10s\n' "$label d grid fill" "$a" "$b" "$(ratio "$a" "$b" 1)" \
      "$(q -c "SELECT count(*) FROM peer.filled_grid")" "$(q -c "SELECT count(*) FROM peer.ours_filled")" >> "$WORK/table.txt"
    a=$(timed peer "$WORK/d_lead.sql")
    t_lead=$a
    printf '%-38s %10s %10s %8s %10s %10s\n' "$label d lead fill" "$a" "$b" "$(ratio "$a" "$b" 1)" \
      "$(q -c "SELECT count(*) FROM peer.filled_lead")" "$(q -c "SELECT count(*) FROM peer.ours_filled")" >> "$WORK/table.txt"
    a=$(timed peer "$WORK/e_zscore.sql")
    t_zs=$a
    b=$(timed q -c "INSERT INTO peer.ours_outliers SELECT meter_id, ts, kw, centre, scale, score
                      FROM meter_etl.rolling_outliers('$from', '$to', $ids, method => 'zscore', window_size => 96,
                             centred => false, threshold => 4, min_periods => 16, scale => 'linear',
                             outliers_only => true)")
    printf '%-38s %10s %10s %8s %10s %10s\n' "$label e z-score (96 prev)" "$a" "$b" "$(ratio "$a" "$b" 1)" \
      "$(q -c "SELECT count(*) FROM peer.outliers")" "$(q -c "SELECT count(*) FROM peer.ours_outliers")" >> "$WORK/table.txt"
    local b_zs=$b
    a=$(timed peer "$WORK/e_runs.sql")
    local t_runs=$a
    b=$(timed q -c "INSERT INTO peer.ours_runs SELECT meter_id, kind, start_ts, end_ts, evidence
                      FROM meter_etl.detect_faulty_meters('$from', '$to', $ids, kinds => '{stuck_zero,flatline}',
                             history => '0', stuck_zero_min => '4 hours', flatline_min => '4 hours',
                             flatline_min_readings => 16)")
    printf '%-38s %10s %10s %8s %10s %10s\n' "$label e stuck runs (>= 4 h)" "$a" "$b" "$(ratio "$a" "$b" 1)" \
      "$(q -c "SELECT count(*) FROM peer.stuck_runs")" "$(q -c "SELECT count(*) FROM peer.ours_runs")" >> "$WORK/table.txt"
    floors "$label" "$from" "$to" "$last" "$t_zs" "$b_zs" "$t_grid" "$t_lead" "$t_runs"
  }
  # Floors: what any reader of meter_etl.reading and any writer of the result
  # pays, measured on the same rows; they bound the ratio an SRF can reach.
  printf '%-38s %10s %10s %10s %10s\n' "floor" "read s" "read+ctx s" "write s" "rows" > "$WORK/floors.txt"
  printf '%-38s %8s %8s %8s %8s\n' "ceiling on the ratio" "grid" "lead" "z-score" "runs" > "$WORK/ceilings.txt"
  floors() {   # label, from, to, last meter id, plain s of z-score, ours z-score s, plain s of grid, lead, runs
    local label=$1 from=$2 to=$3 last=$4 t_zs=$5 b_zs=$6 t_grid=$7 t_lead=$8 t_runs=$9 rd rdc wr a
    rd=$(timed scan "$from" "$to")
    rdc=$(timed scan "$(q -c "SELECT '$from'::timestamptz - interval '$CTX'")" "$to")
    q -c "CREATE TABLE peer.write_floor (LIKE peer.ours_filled)"
    wr=$(timed q -c "INSERT INTO peer.write_floor SELECT * FROM peer.ours_filled")
    printf '%-38s %10s %10s %10s %10s\n' "$label" "$rd" "$rdc" "$wr" \
      "$(q -c "SELECT count(*) FROM peer.write_floor")" >> "$WORK/floors.txt"
    # the plain z-score given the same readings before the range as ours
    q -c "TRUNCATE peer.clean, peer.outliers" \
      -c "INSERT INTO peer.clean SELECT meter_id, ts, kw FROM meter_etl.v_reading
            WHERE meter_id <= '$last' AND ts >= '$from'::timestamptz - interval '$CTX' AND ts < '$to'
            ORDER BY meter_id, ts" \
      -c "VACUUM ANALYZE peer.clean"
    a=$(timed peer "$WORK/e_zscore.sql")
    printf '%-38s %10s %10s %8s %10s %10s\n' "$label e z-score, plain + 30 h" "$a" "$b_zs" "$(ratio "$a" "$b_zs" 1)" \
      "$(q -c "SELECT count(*) FROM peer.outliers WHERE ts >= '$from'")" \
      "$(q -c "SELECT count(*) FROM peer.ours_outliers")" >> "$WORK/table.txt"
    local rw; rw=$(awk -v a="$rd" -v b="$wr" 'BEGIN { printf "%.2f", a + b }')
    printf '%-38s %8s %8s %8s %8s\n' "$label" "$(ratio "$t_grid" "$rw" 1)" "$(ratio "$t_lead" "$rw" 1)" \
      "$(ratio "$t_zs" "$rdc" 1)" "$(ratio "$t_runs" "$rd" 1)" >> "$WORK/ceilings.txt"
  }
  compare "${METERS} x 1 day" "$METERS" "$DAY" "$NEXT"
  compare "${WEEK_METERS} x 7 days" "$WEEK_METERS" "$WEEK0" "$NEXT"
  q -c "DROP SCHEMA peer CASCADE"
  echo
  cat "$WORK/table.txt"
  echo "   d: both fill gaps up to 2 h and return every slot; interpolate() also fills the slots at the ends"
  echo "      of the range from readings outside it.  e z-score: the same windows (96 readings before), but"
  echo "      the plain SQL starts each meter with short windows where rolling_outliers() reads the readings"
  echo "      before the range.  e stuck runs: detect_faulty_meters() also checks each run against the day"
  echo "      before and after (PV nights and constant loads are not faults).  plain + 30 h: the plain"
  echo "      z-score given the same readings before the range as rolling_outliers() reads (rows: in the range)."
  echo
  cat "$WORK/floors.txt"
  echo "   read: the readings of the range in series order, the scan every SRF starts with; read+ctx: with"
  echo "      rolling_outliers()' 30 h before; write: inserting the grid's rows into a table."
  echo
  cat "$WORK/ceilings.txt"
  echo "   the ratio an SRF would reach if it cost nothing but the floor: plain s / (read + write) for the"
  echo "   fills, which write every slot; plain s / read+ctx for the z-score; plain s / read for the runs."
fi

echo
echo "== fleet detection, $METERS meters, $READINGS readings"
printf '%-52s %8s\n' "step" "seconds"
printf '%-52s %8s\n' "load + ingest (29 days)" "$t_load"
printf '%-52s %8s\n' "detect(): backfill of the $HISTORY days of history" "$t_backfill"
printf '%-52s %8s  %s\n' "detect(): 1 day with $HISTORY days of history" "$t_day" \
  "$(awk -v t="$t_day" 'BEGIN { print (t <= 20 ? "(target <= 20 s: met)" : "(target <= 20 s: MISSED)") }')"
printf '%-52s %8s\n' "detect(): the same day again (nothing changes)" "$t_rerun"
psql -X -q -d postgres -c "DROP DATABASE meter_etl_bench_detect"
