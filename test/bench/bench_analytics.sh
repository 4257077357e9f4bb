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
