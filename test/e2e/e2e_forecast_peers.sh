#!/usr/bin/env bash
# Day-ahead forecasts of issue 20 against statsmodels, small enough for CI,
# on a running server (PG* variables set): the real households and a
# generated fleet (test/analytics/forecast_series.sh), rolling origin over
# the last 7 local days of each series, each fit on the 28 days before it.
# meter_etl's double-seasonal Holt-Winters must be no worse than
# statsmodels' ExponentialSmoothing on the same history (pooled MASE over
# the meters), and on the fleet total also better than the seasonal naive.  make bench (test/bench/bench_analytics.sh) runs 4 weeks of origins
# and the speed comparison.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/e2e/lib_e2e.sh
. test/lib_real.sh
. test/analytics/compare.sh
. test/analytics/forecast_series.sh
if [ ! -d "$REAL/lcl_london_halfhourly" ]; then
  real_missing "forecast accuracy on real households" "$REAL/lcl_london_halfhourly is missing"
  exit 0
fi
e2e_setup meter_etl_e2e_forecast_peers
q "CREATE EXTENSION meter_etl"
fill_forecast_series "$WORK" 36
compare_forecast "$WORK" 7 28
# the issue's other target, pooled MASE below the seasonal naive's on the
# meters, is not met yet (see the README's Performance section): shown,
# not asserted
echo "note pooled MASE on the meters $(cmp_fmt "$FC_POOLED_OURS" 3), the seasonal naive's $(cmp_fmt "$FC_POOLED_SN" 3) ($(awk -v a="$FC_POOLED_OURS" -v b="$FC_POOLED_SN" 'BEGIN { print (a < b) ? "below" : "not below" }'))"
awk -v a="$FC_POOLED_OURS" -v b="$FC_POOLED_SM" 'BEGIN { exit !(a <= b) }' \
  || fail "pooled MASE $FC_POOLED_OURS worse than statsmodels' $FC_POOLED_SM"
echo "ok   pooled MASE $(cmp_fmt "$FC_POOLED_OURS" 3) no worse than statsmodels' $(cmp_fmt "$FC_POOLED_SM" 3)"
fleet=$("$PY" -c "import json,sys; s=json.load(open(sys.argv[1]))['series']['fleet (30 generated)']; print(s['meter_etl']['mase'], s['statsmodels']['mase'], s['seasonal_naive']['mase'])" "$WORK/fc.json")
read -r fo fs fn <<< "$fleet"
awk -v a="$fo" -v b="$fs" -v c="$fn" 'BEGIN { exit !(a < c && a <= b) }' \
  || fail "fleet total: MASE $fo, statsmodels $fs, seasonal naive $fn"
echo "ok   fleet total MASE $(cmp_fmt "$fo" 3): below the seasonal naive's $(cmp_fmt "$fn" 3), no worse than statsmodels' $(cmp_fmt "$fs" 3)"
echo "e2e_forecast_peers: all checks passed"
