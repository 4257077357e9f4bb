#!/usr/bin/env bash
# The analytics of issue 20 against their peers, small enough for CI, on a
# running server (PG* variables set): a generated fleet of 300 meters x 21
# days at 30 minutes with household archetypes, labelled anomalous days
# and faults.  meter_etl's isolation forest must rank the labelled
# meter-days within 0.02 ROC AUC of scikit-learn's IsolationForest on the
# same features (or better), and its k-means must reach scikit-learn's
# KMeans inertia within 1 % on the same profiles (same k, same restarts)
# and recover the archetypes.  Speed is claimed only by make bench
# (test/bench/bench_analytics.sh), not here.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/e2e/lib_e2e.sh
. test/analytics/compare.sh
e2e_setup meter_etl_e2e_peers
q "CREATE EXTENSION meter_etl"
compare_setup "$WORK" 300 21 30 7
compare_iforest "$WORK" 0
awk -v a="$IF_AUC_OURS" -v b="$IF_AUC_SK" 'BEGIN { exit !(a >= b - 0.02) }' \
  || fail "isolation forest: ROC AUC $IF_AUC_OURS, scikit-learn's $IF_AUC_SK (more than 0.02 below)"
echo "ok   isolation forest ROC AUC $(cmp_fmt "$IF_AUC_OURS" 4) vs scikit-learn $(cmp_fmt "$IF_AUC_SK" 4) (within 0.02 or better)"
awk -v a="$IF_AUC_OURS" 'BEGIN { exit !(a >= 0.8) }' || fail "isolation forest: ROC AUC $IF_AUC_OURS below 0.8"
echo "ok   the labelled meter-days rank high (ROC AUC >= 0.8)"
compare_kmeans "$WORK" 6 10 0
awk -v r="$KM_RATIO" 'BEGIN { exit !(r <= 1.01) }' || fail "k-means: inertia $KM_INERTIA, scikit-learn's $KM_INERTIA_SK (ratio $KM_RATIO > 1.01)"
echo "ok   k-means inertia within 1 % of scikit-learn's or better (ratio $KM_RATIO)"
awk -v a="$KM_ARI_OURS" 'BEGIN { exit !(a >= 0.9) }' || fail "k-means: adjusted Rand index $KM_ARI_OURS against the archetypes"
echo "ok   the six archetypes recovered (adjusted Rand index $(cmp_fmt "$KM_ARI_OURS" 4), scikit-learn's $(cmp_fmt "$KM_ARI_SK" 4))"
echo "e2e_analytics_peers: all checks passed"
