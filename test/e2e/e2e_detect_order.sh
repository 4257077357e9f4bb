#!/usr/bin/env bash
# Property: whatever the order of detect() and detect_pending() calls over
# whatever ranges, the persisted state equals one detect() over their union
# (issue 17).  A generated fleet with faults is ingested into two
# databases; one gets a random sequence of calls whose ranges cover the span
# in pieces, overlapping, out of order, the other one detect() over the
# span.  Reading flags, estimates, gaps, faults, daily sums, the fleet's
# levels and the status must be identical.  Sequences: ORDER_RUNS (3), seeded.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/e2e/lib_e2e.sh
e2e_setup meter_etl_order_a
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS meter_etl_order_b" -c "CREATE DATABASE meter_etl_order_b"
trap 'rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS meter_etl_order_b" >/dev/null 2>&1 || true' EXIT
bin/meter-etl-gen --meters 40 --days 14 --history-days 14 --faults heavy --seed 17 --start 2024-03-25 \
  --out "$WORK/fleet.csv" 2>/dev/null
S='2024-03-11'; E='2024-04-08'      # the span: 28 local days (Europe/London data, UTC ranges)
state() {  # a digest per table of what detection persisted
  psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT 'flags ' || md5(coalesce(string_agg(meter_key || ',' || channel_id || ',' || ts || ',' || flags, ';' ORDER BY meter_key, channel_id, ts), ''))
  FROM meter_etl.reading WHERE flags & 6 <> 0;
SELECT 'estimate ' || md5(coalesce(string_agg(meter_key || ',' || ts || ',' || kw || method, ';' ORDER BY meter_key, channel_id, ts), '')) FROM meter_etl.estimate;
SELECT 'gap ' || md5(coalesce(string_agg(meter_key || ',' || start_ts || ',' || end_ts || kind, ';' ORDER BY meter_key, channel_id, start_ts), '')) FROM meter_etl.gap;
SELECT 'fault ' || md5(coalesce(string_agg(meter_key || kind || start_ts || end_ts || ongoing || evidence, ';' ORDER BY meter_key, channel_id, kind, start_ts), '')) FROM meter_etl.fault;
SELECT 'meter_day ' || md5(coalesce(string_agg(meter_key || ',' || day || ',' || kw_sum || ',' || readings || ',' || coalesce(raw_kw_sum, -1), ';' ORDER BY meter_key, channel_id, day), '')) FROM meter_etl.meter_day;
SELECT 'fleet_day ' || md5(coalesce(string_agg(channel_id || time_zone || day || ',' || level || ',' || meters, ';' ORDER BY channel_id, time_zone, day), '')) FROM meter_etl.fleet_day;
SELECT 'status ' || md5(coalesce(string_agg(meter_key || status || coalesce(reason, '') || coalesce(since::text, ''), ';' ORDER BY meter_key, channel_id), '')) FROM meter_etl.meter_status;
SQL
}
load() {
  psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "DROP EXTENSION IF EXISTS meter_etl CASCADE" -c "CREATE EXTENSION meter_etl" 2>/dev/null
  PGDATABASE=$1 bin/meter-etl-load --ingest "$WORK/fleet.csv" >/dev/null
}
load meter_etl_order_b
psql -X -q -At -v ON_ERROR_STOP=1 -d meter_etl_order_b -c "SELECT status FROM meter_etl.detect('$S', '$E')" >/dev/null
state meter_etl_order_b > "$WORK/want.txt"
for seed in $(seq "${ORDER_FIRST:-1}" "${ORDER_RUNS:-3}"); do
  load meter_etl_order_a
  # pieces of the span: random cut points, each piece widened at random, in random order;
  # detect_pending() at a random place in the sequence
  calls=$(python3 - "$seed" "$S" <<'PY'
import random, sys, datetime
r = random.Random(int(sys.argv[1]))
s = datetime.datetime.fromisoformat(sys.argv[2])
hours = 28 * 24
cuts = sorted(r.sample(range(1, hours), r.randint(2, 6)))
edges = [0] + cuts + [hours]
pieces = []
for a, b in zip(edges, edges[1:]):
    a = max(0, a - r.choice([0, 0, 3, 30])); b = min(hours, b + r.choice([0, 0, 5, 50]))
    pieces.append((a, b))
r.shuffle(pieces)
calls = ["SELECT status FROM meter_etl.detect('%s+00', '%s+00')" % (s + datetime.timedelta(hours=a), s + datetime.timedelta(hours=b)) for a, b in pieces]
calls.insert(r.randint(0, len(calls)), "SELECT status FROM meter_etl.detect_pending()")
print("\n".join(calls))
PY
)
  while IFS= read -r c; do
    psql -X -q -At -v ON_ERROR_STOP=1 -d meter_etl_order_a -c "$c" >/dev/null
  done <<< "$calls"
  state meter_etl_order_a > "$WORK/got.txt"
  if diff -u "$WORK/want.txt" "$WORK/got.txt" > "$WORK/diff.txt"; then
    echo "ok   sequence $seed ($(echo "$calls" | wc -l) calls) stores what one detect() over the span stores"
  else
    echo "$calls" | sed 's/^/   /'
    cat "$WORK/diff.txt"
    fail "sequence $seed: the state differs from one detect() over the span"
  fi
done
psql -X -q -d postgres -c "DROP DATABASE meter_etl_order_a"
echo "== detection order property passed"
