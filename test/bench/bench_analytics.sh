#!/usr/bin/env bash
# Analytics benchmark (issue 20), inside a throwaway cluster
# (test/bench/bench.sh), side by side with the peers a user would pick,
# on the same numbers (test/analytics/compare.sh, peers.py):
#   1. isolation forest on 50,000 meter-days (2,000 meters x 25 days):
#      ROC AUC against the generator's labels and fit + score time, vs
#      scikit-learn's IsolationForest (100 trees, 256 samples);
#   2. k-means on 50,000 load profiles (50,000 meters x 7 days at 30
#      minutes, 96 values each), k = 6, 10 restarts: inertia, adjusted Rand
#      index against the archetypes and time, vs scikit-learn's KMeans.
# BENCH_QUICK=1 runs a tenth of each.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/bench/lib_bench.sh
. test/analytics/compare.sh
WORK=$(mktemp -d /tmp/meter_etl_bench_analytics.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
quick=${BENCH_QUICK:-0}
bench_db() {
  export PGDATABASE=$1
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
  q -c "CREATE EXTENSION meter_etl"
}

echo "== 1. isolation forest"
bench_db meter_etl_bench_iforest
if [ "$quick" = 1 ]; then compare_setup "$WORK" 200 25 15 3; else compare_setup "$WORK" 2000 25 15 3; fi
compare_iforest "$WORK" 0
echo "   (target: ROC AUC within 0.02 of scikit-learn's or better, >= 10x faster)"
psql -X -q -d postgres -c "DROP DATABASE meter_etl_bench_iforest"

echo
echo "== 2. k-means load profiles"
bench_db meter_etl_bench_kmeans
if [ "$quick" = 1 ]; then compare_setup "$WORK" 5000 7 30 4; else compare_setup "$WORK" 50000 7 30 4; fi
compare_kmeans "$WORK" 6 10 0
echo "   (target: inertia within 1 % of scikit-learn's, >= 5x faster)"
psql -X -q -d postgres -c "DROP DATABASE meter_etl_bench_kmeans"

echo
echo "== 3. forecasting speed: fit + day-ahead forecast of 5,000 meters x 28 days (30 minutes)"
bench_db meter_etl_bench_forecast
fm=5000; sample=50
[ "$quick" = 1 ] && fm=500 && sample=20
bin/meter-etl-gen --meters "$fm" --days 28 --start 2024-03-04 --interval 30 --seed 5 --archetypes --faults none \
  --units power --out "$WORK/fc.csv" 2>/dev/null
chmod 644 "$WORK/fc.csv"
bin/meter-etl-load --ingest "$WORK/fc.csv" >/dev/null
rm -f "$WORK/fc.csv"
q -c "UPDATE meter_etl.meter SET interval_s = 1800" -c "VACUUM ANALYZE"
: > "$WORK/fc_ms.txt"
for _ in 1 2 3; do
  cmp_ms "SELECT count(*) FROM meter_etl.forecast(history_from => '2024-03-04', history_to => '2024-04-01', refit => true)" >> "$WORK/fc_ms.txt"
done
fc_ms=$(median < "$WORK/fc_ms.txt")
fc_spread="$(sort -n "$WORK/fc_ms.txt" | head -1)-$(sort -n "$WORK/fc_ms.txt" | tail -1)"
reuse_ms=$(cmp_ms "SELECT count(*) FROM meter_etl.forecast(history_from => '2024-03-04', history_to => '2024-04-01')")
# statsmodels on a sample of the same meters' histories, scaled to all of them
q -c "COPY (SELECT m.meter_id, extract(epoch FROM r.ts), r.kw FROM meter_etl.reading r JOIN meter_etl.meter m USING (meter_key)
             WHERE m.meter_key <= (SELECT min(meter_key) + $sample - 1 FROM meter_etl.meter) ORDER BY 1, 2)
        TO STDOUT (FORMAT csv)" > "$WORK/fc_sample.csv"
"$PY" "$PEERS" fcspeed "$WORK/fc_sample.csv" 1800 > "$WORK/fcspeed.json"
sm_total=$(cmp_json "$WORK/fcspeed.json" total_s)
sm_all=$(awk -v t="$sm_total" -v s="$sample" -v n="$fm" 'BEGIN { printf "%.1f", t / s * n }')
printf '%-58s %s\n' "meter_etl forecast(), $fm meters, fit + forecast, s (median of 3)" "$(awk -v m="$fc_ms" 'BEGIN { printf "%.2f", m / 1000 }') (spread $fc_spread ms)"
printf '%-58s %s\n' "meter_etl forecast(), stored models reused, s" "$(awk -v m="$reuse_ms" 'BEGIN { printf "%.2f", m / 1000 }')"
printf '%-58s %s\n' "statsmodels ExponentialSmoothing, $sample meters, s" "$(cmp_fmt "$sm_total" 2) (median $(cmp_fmt "$(cmp_json "$WORK/fcspeed.json" median_s)" 3) s a meter)"
printf '%-58s %s\n' "statsmodels, $fm meters, s (scaled from $sample)" "$sm_all"
echo "   meter_etl is $(awk -v a="$sm_all" -v b="$fc_ms" 'BEGIN { printf "%.0f", a * 1000 / b }')x faster (target >= 50x); statsmodels fits a single daily season, meter_etl two"
psql -X -q -d postgres -c "DROP DATABASE meter_etl_bench_forecast"

echo
echo "== 4. forecast accuracy: day-ahead, rolling origin over the last 28 days, 28 days of history each"
. test/lib_real.sh
. test/analytics/forecast_series.sh
if [ -d "$REAL/lcl_london_halfhourly" ]; then
  bench_db meter_etl_bench_fc_accuracy
  fill_forecast_series "$WORK" 57
  compare_forecast "$WORK" 28 28
  psql -X -q -d postgres -c "DROP DATABASE meter_etl_bench_fc_accuracy"
else
  echo "   (skipped: the real households are not in $REAL)"
fi
