#!/usr/bin/env bash
# Detection benchmark, inside a throwaway cluster (test/bench.sh runs it; or
# standalone: pg_virtualenv -o shared_buffers=512MB test/bench_detect.sh):
#   1. Each set-returning function against the plain SQL of
#      ../shared/bench/plain_sql_pipeline.sql (step d grid and lead, step e
#      z-score and stuck runs), on the same readings, side by side in one
#      run, both writing their result into a table: 50,000 meters x 1 day
#      and 5,000 meters x 7 days.  Seconds and ratios.
#   2. Fleet detection: detect() for 50,000 meters x 1 day with 28 days of
#      history (target <= 20 s), after the history was detected once (the
#      backfill, also timed), then the same day again (idempotent rerun).
# BENCH_QUICK=1 shrinks the fleet tenfold (a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
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
. test/lib_bench.sh

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
  printf '%-34s %10s %10s %8s %10s %10s\n' "step" "plain s" "meter_etl s" "ratio" "plain rows" "ours rows" > "$WORK/table.txt"
  compare() {   # label, meters (count), from, to
    local label=$1 n=$2 from=$3 to=$4 ids
    ids="(SELECT array_agg(meter_id) FROM meter_etl.meter WHERE meter_id <= 'M$(printf '%06d' "$n")')"
    q -c "DROP SCHEMA IF EXISTS peer CASCADE" -c "CREATE SCHEMA peer"
    PGOPTIONS="$PGOPTIONS -c search_path=peer" q -f "$WORK/peer_ddl.sql"
    q -c "INSERT INTO peer.clean SELECT meter_id, ts, kw FROM meter_etl.v_reading
            WHERE meter_id <= 'M$(printf '%06d' "$n")' AND ts >= '$from' AND ts < '$to'" \
      -c "VACUUM ANALYZE peer.clean" -c "CHECKPOINT"
    q -c "CREATE TABLE peer.ours_filled (meter_id text, ts timestamptz, value_kw float8, estimated bool);
          CREATE TABLE peer.ours_outliers (meter_id text, ts timestamptz, value_kw float8, mu float8, sd float8, z float8);
          CREATE TABLE peer.ours_runs (meter_id text, kind text, run_start timestamptz, run_end timestamptz, evidence jsonb)"
    local rows=$(q -c "SELECT count(*) FROM peer.clean")
    echo "   $label: $rows readings"
    local a b
    a=$(timed peer "$WORK/d_grid.sql")
    b=$(timed q -c "INSERT INTO peer.ours_filled SELECT meter_id, ts, kw, estimated
                      FROM meter_etl.interpolate('$from', '$to', $ids, max_gap => '2 hours') WHERE method <> 'gap'")
    printf '%-34s %10s %10s %8s %10s %10s\n' "$label d grid fill" "$a" "$b" "$(ratio "$a" "$b" 1)" \
      "$(q -c "SELECT count(*) FROM peer.filled_grid")" "$(q -c "SELECT count(*) FROM peer.ours_filled")" >> "$WORK/table.txt"
    a=$(timed peer "$WORK/d_lead.sql")
    printf '%-34s %10s %10s %8s %10s %10s\n' "$label d lead fill" "$a" "$b" "$(ratio "$a" "$b" 1)" \
      "$(q -c "SELECT count(*) FROM peer.filled_lead")" "$(q -c "SELECT count(*) FROM peer.ours_filled")" >> "$WORK/table.txt"
    a=$(timed peer "$WORK/e_zscore.sql")
    b=$(timed q -c "INSERT INTO peer.ours_outliers SELECT meter_id, ts, kw, centre, scale, score
                      FROM meter_etl.rolling_outliers('$from', '$to', $ids, method => 'zscore', window_size => 96,
                             centred => false, threshold => 4, min_periods => 16, scale => 'linear',
                             outliers_only => true)")
    printf '%-34s %10s %10s %8s %10s %10s\n' "$label e z-score (96 prev)" "$a" "$b" "$(ratio "$a" "$b" 1)" \
      "$(q -c "SELECT count(*) FROM peer.outliers")" "$(q -c "SELECT count(*) FROM peer.ours_outliers")" >> "$WORK/table.txt"
    a=$(timed peer "$WORK/e_runs.sql")
    b=$(timed q -c "INSERT INTO peer.ours_runs SELECT meter_id, kind, start_ts, end_ts, evidence
                      FROM meter_etl.detect_faulty_meters('$from', '$to', $ids, kinds => '{stuck_zero,flatline}',
                             history => '0', stuck_zero_min => '4 hours', flatline_min => '4 hours',
                             flatline_min_readings => 16)")
    printf '%-34s %10s %10s %8s %10s %10s\n' "$label e stuck runs (>= 4 h)" "$a" "$b" "$(ratio "$a" "$b" 1)" \
      "$(q -c "SELECT count(*) FROM peer.stuck_runs")" "$(q -c "SELECT count(*) FROM peer.ours_runs")" >> "$WORK/table.txt"
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
  echo "      before and after (PV nights and constant loads are not faults)."
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
