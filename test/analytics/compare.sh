#!/usr/bin/env bash
# meter_etl's analytics side by side with their peers, on a running server
# (PG* variables set) and one generated fleet: household archetypes
# (--archetypes), labelled anomalous days (--anomaly-days) and the
# generator's faults.  Sourced by test/e2e/e2e_analytics_peers.sh (small, in
# CI, with assertions) and test/bench/bench_analytics.sh (the sizes the
# issue names); it defines compare_setup, compare_iforest and
# compare_kmeans, which print a table and leave their figures in shell
# variables (IF_*, KM_*).  The peers run in Debian's python3
# (test/analytics/peers.py); nothing here is a dependency of the extension.
PY=${MeterEtlPython:-/usr/bin/python3}
PEERS=test/analytics/peers.py

# ms SQL...: the server's own time of the statement, in ms (psql \timing)
cmp_ms() { psql -X -q -At -v ON_ERROR_STOP=1 -c "\\timing on" -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1; }
cmp_q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
# cmp_json FILE KEY [KEY2]: a value of the peer's JSON (KEY2: inside KEY)
cmp_json() { "$PY" -c "import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v[sys.argv[3]] if len(sys.argv) > 3 else v)" "$@"; }
cmp_fmt() { awk -v v="$1" -v d="${2:-3}" 'BEGIN { printf "%.*f", d, v }'; }
# cmp_json_ms FILE KEY: a time in seconds in the peer's JSON, as ms
cmp_json_ms() { awk -v s="$(cmp_json "$1" "$2")" 'BEGIN { printf "%.1f", s * 1000 }'; }

# compare_setup DIR METERS DAYS INTERVAL_MIN SEED: generate, ingest, load the labels
compare_setup() {
  local dir=$1 meters=$2 days=$3 interval=$4 seed=$5
  bin/meter-etl-gen --meters "$meters" --days "$days" --start 2024-03-04 --interval "$interval" --seed "$seed" \
    --archetypes --anomaly-days 20 --faults default --units power \
    --labels "$dir/labels.csv" --out "$dir/fleet.csv" 2>/dev/null
  chmod 644 "$dir"/*.csv
  bin/meter-etl-load --ingest "$dir/fleet.csv" >/dev/null
  # the generic profile registers 15-minute meters; these read at $interval
  cmp_q "UPDATE meter_etl.meter SET interval_s = $interval * 60" >/dev/null
  cmp_q "CREATE TABLE IF NOT EXISTS public.cmp_label (kind text, meter_id text, line_no bigint, start_ts timestamptz,
                                                   end_ts timestamptz, detail text);
         TRUNCATE public.cmp_label" >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -c "\\copy public.cmp_label FROM '$dir/labels.csv' (FORMAT csv, HEADER true)"
  CMP_FROM=2024-03-04
  CMP_TO=$(date -d "2024-03-04 + $days days" +%F)
}

# compare_iforest DIR SEED: scores and features of every meter-day, the
# truth (a fault or an injected anomalous day on that local day), then the
# peer on the same features; our forest alone timed on the same matrix
compare_iforest() {
  local dir=$1 seed=$2
  IF_ALL_MS=$(cmp_ms "CREATE TABLE public.cmp_scores AS
                        SELECT * FROM meter_etl.anomaly_scores('$CMP_FROM', '$CMP_TO', seed => $seed)")
  cmp_q "CREATE TABLE public.cmp_if AS
           SELECT s.*, EXISTS (SELECT 1 FROM public.cmp_label l JOIN meter_etl.meter m ON m.meter_id = l.meter_id
                                WHERE l.meter_id = s.meter_id
                                  AND l.kind IN ('stuck_zero', 'flatline', 'level_shift', 'offline', 'spike', 'anomaly_day')
                                  AND l.start_ts < (s.day + 1)::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC')
                                  AND coalesce(l.end_ts, l.start_ts) >= s.day::timestamp AT TIME ZONE coalesce(m.time_zone, 'UTC')) AS truth,
                  ARRAY[(features->>'energy_kwh')::float8, (features->>'peak_mean')::float8,
                        (features->>'night_day')::float8, (features->>'zero_share')::float8,
                        (features->>'max_step_kw')::float8, (features->>'own_resid')::float8,
                        (features->>'peer_resid')::float8] AS f
             FROM public.cmp_scores s WHERE s.channel_id = 1" >/dev/null
  cmp_q "COPY (SELECT truth::int, score, f[1], f[2], f[3], f[4], f[5], f[6], f[7] FROM public.cmp_if
               ORDER BY meter_id, day) TO STDOUT (FORMAT csv)" > "$dir/if.csv"
  # the matrix built first, so that the time is the forest's, not array_agg's
  cmp_q "CREATE TABLE public.cmp_if_m AS SELECT array_agg(f ORDER BY meter_id, day) AS m FROM public.cmp_if" >/dev/null
  : > "$dir/if_ms.txt"
  for _ in 1 2 3; do
    cmp_ms "SELECT cardinality(meter_etl.isolation_forest_array(m, seed => $seed)) FROM public.cmp_if_m" >> "$dir/if_ms.txt"
  done
  IF_OURS_MS=$(sort -n "$dir/if_ms.txt" | sed -n 2p)
  IF_OURS_SPREAD="$(sort -n "$dir/if_ms.txt" | head -1)-$(sort -n "$dir/if_ms.txt" | tail -1)"
  "$PY" "$PEERS" iforest "$dir/if.csv" "$seed" > "$dir/if.json"
  IF_N=$(cmp_json "$dir/if.json" points)
  IF_POS=$(cmp_json "$dir/if.json" positives)
  IF_AUC_OURS=$(cmp_json "$dir/if.json" auc_ours)
  IF_AUC_SK=$(cmp_json "$dir/if.json" auc_sklearn)
  IF_SK_MS=$(cmp_json_ms "$dir/if.json" sklearn_s)
  IF_SK_SPREAD="$(cmp_json_ms "$dir/if.json" sklearn_s_min)-$(cmp_json_ms "$dir/if.json" sklearn_s_max)"
  IF_SPEEDUP=$(awk -v a="$IF_SK_MS" -v b="$IF_OURS_MS" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }')
  printf '\n%-58s %12s %12s\n' "isolation forest, $IF_N meter-days ($IF_POS labelled)" "meter_etl" "scikit-learn"
  printf '%-58s %12s %12s\n' "ROC AUC against the labels" "$(cmp_fmt "$IF_AUC_OURS" 4)" "$(cmp_fmt "$IF_AUC_SK" 4)"
  printf '%-58s %12s %12s\n' "fit + score of the same features, ms (median of 3)" "$IF_OURS_MS" "$IF_SK_MS"
  printf '%-58s %12s %12s\n' "   spread, ms" "$IF_OURS_SPREAD" "$IF_SK_SPREAD"
  printf '%-58s %12s\n' "anomaly_scores() (features from the store + forest), ms" "$IF_ALL_MS"
  echo "   meter_etl is ${IF_SPEEDUP}x faster; AUC difference $(awk -v a="$IF_AUC_OURS" -v b="$IF_AUC_SK" 'BEGIN { printf "%+.4f", a - b }')"
  cmp_q "DROP TABLE public.cmp_scores, public.cmp_if, public.cmp_if_m" >/dev/null
}

# compare_kmeans DIR K RESTARTS SEED: the meters' profiles, segmented by
# load_profiles(); the peer on the same vectors; our k-means alone timed
# on the same matrix (kmeans_array); the truth is each meter's archetype
compare_kmeans() {
  local dir=$1 k=$2 restarts=$3 seed=$4
  KM_ALL_MS=$(cmp_ms "SELECT count(*) FROM meter_etl.load_profiles('$CMP_FROM', '$CMP_TO', $k, restarts => $restarts, seed => $seed)")
  KM_INERTIA=$(cmp_q "SELECT sum(inertia) FROM meter_etl.load_profiles('$CMP_FROM', '$CMP_TO', $k, restarts => $restarts, seed => $seed)")
  cmp_q "CREATE TABLE public.cmp_prof AS
           SELECT p.meter_id, p.profile, s.segment,
                  (SELECT substr(l.detail, 11) FROM public.cmp_label l WHERE l.meter_id = p.meter_id AND l.kind = 'archetype') AS truth
             FROM meter_etl.meter_profiles('$CMP_FROM', '$CMP_TO') p
             JOIN meter_etl.meter m USING (meter_id) JOIN meter_etl.meter_segment s USING (meter_key)" >/dev/null
  cmp_q "COPY (SELECT truth || ',' || segment || ',' || array_to_string(profile, ',') FROM public.cmp_prof ORDER BY meter_id)
           TO STDOUT" > "$dir/km.csv"
  cmp_q "CREATE TABLE public.cmp_prof_m AS SELECT array_agg(profile ORDER BY meter_id) AS m FROM public.cmp_prof" >/dev/null
  : > "$dir/km_ms.txt"
  for _ in 1 2 3; do
    cmp_ms "SELECT (meter_etl.kmeans_array(m, $k, $restarts, $seed)).inertia FROM public.cmp_prof_m" >> "$dir/km_ms.txt"
  done
  KM_OURS_MS=$(sort -n "$dir/km_ms.txt" | sed -n 2p)
  KM_OURS_SPREAD="$(sort -n "$dir/km_ms.txt" | head -1)-$(sort -n "$dir/km_ms.txt" | tail -1)"
  "$PY" "$PEERS" kmeans "$dir/km.csv" "$k" "$restarts" "$seed" > "$dir/km.json"
  KM_N=$(cmp_json "$dir/km.json" points)
  KM_DIMS=$(cmp_json "$dir/km.json" dims)
  KM_INERTIA_SK=$(cmp_json "$dir/km.json" inertia_sklearn)
  KM_ARI_OURS=$(cmp_json "$dir/km.json" ari_ours)
  KM_ARI_SK=$(cmp_json "$dir/km.json" ari_sklearn)
  KM_SK_MS=$(cmp_json_ms "$dir/km.json" sklearn_s)
  KM_SK1_MS=$(cmp_json_ms "$dir/km.json" sklearn_1thread_s)
  KM_SK_SPREAD="$(cmp_json_ms "$dir/km.json" sklearn_s_min)-$(cmp_json_ms "$dir/km.json" sklearn_s_max)"
  KM_RATIO=$(awk -v a="$KM_INERTIA" -v b="$KM_INERTIA_SK" 'BEGIN { printf "%.4f", a / b }')
  KM_SPEEDUP=$(awk -v a="$KM_SK_MS" -v b="$KM_OURS_MS" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }')
  printf '\n%-58s %12s %12s\n' "k-means, $KM_N profiles x $KM_DIMS, k = $k, $restarts restarts" "meter_etl" "scikit-learn"
  printf '%-58s %12s %12s\n' "within-cluster sum of squares (inertia)" "$(cmp_fmt "$KM_INERTIA" 4)" "$(cmp_fmt "$KM_INERTIA_SK" 4)"
  printf '%-58s %12s %12s\n' "adjusted Rand index against the archetypes" "$(cmp_fmt "$KM_ARI_OURS" 4)" "$(cmp_fmt "$KM_ARI_SK" 4)"
  printf '%-58s %12s %12s\n' "k-means of the same vectors, ms (median of 3)" "$KM_OURS_MS" "$KM_SK_MS"
  printf '%-58s %12s %12s\n' "   spread, ms" "$KM_OURS_SPREAD" "$KM_SK_SPREAD"
  printf '%-58s %12s %12s\n' "   scikit-learn on one thread, ms (median of 3)" "" "$KM_SK1_MS"
  printf '%-58s %12s\n' "load_profiles() (profiles from the store + k-means), ms" "$KM_ALL_MS"
  echo "   inertia ours / scikit-learn's = $KM_RATIO; meter_etl is ${KM_SPEEDUP}x faster than scikit-learn on its default threads (${OMP_NUM_THREADS:-all} of $(nproc) cores), $(awk -v a="$KM_SK1_MS" -v b="$KM_OURS_MS" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }')x than on one (meter_etl's k-means runs on one)"
  cmp_q "DROP TABLE public.cmp_prof, public.cmp_prof_m" >/dev/null
}

# compare_forecast DIR ORIGINS HISTORY_DAYS: day-ahead forecasts from each of
# the last ORIGINS local midnights of every series in public.cmp_series
# (series, tz, step_s, ts, kw; a series named fleet... is a fleet total),
# each fitted on the HISTORY_DAYS before it, by meter_etl (forecast_array,
# refitted at every origin) and by statsmodels on the same numbers; an
# origin needs 8 days of data before it (the weekly seasonal naive of the
# MASE scale).  Prints a table per series and the pooled MASE.
compare_forecast() {
  local dir=$1 norigins=$2 hdays=$3
  cmp_q "CREATE TABLE public.cmp_origin AS
           SELECT s.series, s.tz, s.step_s, d::timestamp AT TIME ZONE s.tz AS origin
             FROM (SELECT series, min(tz) AS tz, min(step_s) AS step_s, min(ts) AS first_ts, max(ts) AS last_ts
                     FROM public.cmp_series GROUP BY 1) s,
                  LATERAL generate_series(((s.last_ts + make_interval(secs => s.step_s)) AT TIME ZONE s.tz)::date - $norigins,
                                          ((s.last_ts + make_interval(secs => s.step_s)) AT TIME ZONE s.tz)::date - 1,
                                          interval '1 day') d
            WHERE d::timestamp AT TIME ZONE s.tz >= s.first_ts + interval '8 days'" >/dev/null
  FC_FITS=$(cmp_q "SELECT count(*) FROM public.cmp_origin")
  FC_OURS_MS=$(cmp_ms "CREATE TABLE public.cmp_ours AS
    SELECT o.series, f.ts, f.forecast_kw
      FROM public.cmp_origin o
     CROSS JOIN LATERAL (SELECT array_agg(s.ts ORDER BY s.ts) AS t, array_agg(s.kw ORDER BY s.ts) AS k
                           FROM public.cmp_series s
                          WHERE s.series = o.series AND s.ts >= o.origin - interval '$hdays days' AND s.ts < o.origin) h
     CROSS JOIN LATERAL meter_etl.forecast_array(h.t, h.k, interval '1 day', o.tz, 'hw2', make_interval(secs => o.step_s)) f")
  cmp_q "COPY (SELECT series, extract(epoch FROM ts), kw FROM public.cmp_series ORDER BY 1, 2) TO STDOUT (FORMAT csv)" > "$dir/fc_hist.csv"
  cmp_q "COPY (SELECT series, extract(epoch FROM origin), step_s, $hdays * 86400 FROM public.cmp_origin ORDER BY 1, 2)
           TO STDOUT (FORMAT csv)" > "$dir/fc_origins.csv"
  cmp_q "COPY (SELECT series, extract(epoch FROM ts), forecast_kw FROM public.cmp_ours ORDER BY 1, 2) TO STDOUT (FORMAT csv)" > "$dir/fc_ours.csv"
  "$PY" "$PEERS" forecast "$dir/fc_hist.csv" "$dir/fc_origins.csv" "$dir/fc_ours.csv" > "$dir/fc.json"
  "$PY" - "$dir/fc.json" "$FC_OURS_MS" "$FC_FITS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ours_ms = float(sys.argv[2]) / max(int(sys.argv[3]), 1)
f = lambda v: f"{v:8.3f}" if v == v else "       -"
print(f"\nday-ahead forecasts, rolling origin ({r['fits']} fits): MASE, MAE (kW) and MAPE (%)")
print(f"{'series':28} {'n':>6} | {'MASE ours':>9} {'statsm.':>8} {'s.naive':>8} | {'MAE ours':>8} {'statsm.':>8} | {'MAPE ours':>9} {'statsm.':>8}")
for name, s in r["series"].items():
    o, m, n = s["meter_etl"], s["statsmodels"], s["seasonal_naive"]
    print(f"{name[:28]:28} {s['n']:6d} | {f(o['mase']):>9} {f(m['mase'])} {f(n['mase'])} | {f(o['mae'])} {f(m['mae'])} | {f(o['mape']):>9} {f(m['mape'])}")
for label, key in (("pooled MASE, all meters", "pooled_mase"), ("   real households", "pooled_mase_real"),
                   ("   generated meters", "pooled_mase_generated")):
    p = r[key]
    print(f"{label:28} {'':6} | {f(p['meter_etl']):>9} {f(p['statsmodels'])} {f(p['seasonal_naive'])}")
print(f"fit + forecast per series-origin: meter_etl {ours_ms:.1f} ms, statsmodels {1000 * r['statsmodels_fit_s']:.1f} ms (median)")
PY
  FC_POOLED_OURS=$(cmp_json "$dir/fc.json" pooled_mase meter_etl)
  FC_POOLED_SM=$(cmp_json "$dir/fc.json" pooled_mase statsmodels)
  FC_POOLED_SN=$(cmp_json "$dir/fc.json" pooled_mase seasonal_naive)
  cmp_q "DROP TABLE public.cmp_origin, public.cmp_ours" >/dev/null
}
