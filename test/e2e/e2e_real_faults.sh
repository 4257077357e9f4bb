#!/usr/bin/env bash
# Faulty-meter detection on real households (../shared/data/real, the Low
# Carbon London files, 2013, half-hourly), on a running server (PG* set).
# Prints every level_shift and usage_anomaly episode with its evidence, so
# that a person can look at each one, and checks:
#   - the dead meter (MAC000037) and the 18-day zero run (MAC000041) are
#     found as stuck_zero;
#   - no ordinary household gets a level_shift (a meter fault) for its
#     holidays, guests or heating: those are usage anomalies;
#   - judging days against the fleet's level removes level shifts that the
#     meter's peers share (fewer than with fleet_min_meters => 0).
# What is still reported as a fault is listed and explained (see
# doc/detection.md, "Level shift on real households").
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/e2e/lib_e2e.sh
. test/lib_real.sh
lcl=$REAL/lcl_london_halfhourly
if [ ! -d "$lcl" ]; then
  real_missing "real-data fault detection" "$lcl is missing"
  exit 0
fi
e2e_setup meter_etl_real_faults
q "CREATE EXTENSION meter_etl"
for f in "$lcl"/*.csv; do
  q "SELECT status FROM meter_etl.ingest(meter_etl.stage('$(basename "$f")', pg_read_binary_file('$f')))" >/dev/null
done
check "LCL households ingested" "7 105352" "$(q "SELECT count(DISTINCT meter_key) || ' ' || count(*) FROM meter_etl.reading")"
q "CREATE TABLE found AS SELECT * FROM meter_etl.detect_faulty_meters('2013-01-01', '2014-01-01', history => '0 days')"
q "CREATE TABLE alone AS SELECT * FROM meter_etl.detect_faulty_meters('2013-01-01', '2014-01-01', history => '0 days', fleet_min_meters => 0)"
echo "-- the fleet's level (median over the households of their day / their usual day)"
q "SELECT '   ' || count(*) || ' days, level ' || round(min(level)::numeric, 2) || ' to ' || round(max(level)::numeric, 2)
          || ', ' || min(meters) || ' to ' || max(meters) || ' meters a day'
     FROM meter_etl.fleet_levels('2013-01-01', '2014-01-01')"
echo "-- every level_shift and usage_anomaly episode, with its evidence"
psql -X -q -v ON_ERROR_STOP=1 -c "
SELECT meter_id, kind, start_ts::date AS first_day, (end_ts - interval '1 day')::date AS last_day,
       evidence ->> 'days' AS days, round((evidence ->> 'ratio')::numeric, 2) AS ratio,
       round((evidence ->> 'raw_ratio')::numeric, 2) AS raw_ratio,
       round((evidence ->> 'fleet_level')::numeric, 2) AS fleet,
       round((evidence ->> 'baseline_kwh_per_day')::numeric, 1) AS base_kwh,
       evidence ->> 'ongoing' AS ongoing
  FROM found WHERE kind IN ('level_shift', 'usage_anomaly') ORDER BY 1, 3" | sed 's/^/   /'
echo "-- the other faults, per meter and kind"
q "SELECT '   ' || meter_id || ' ' || kind || ': ' || count(*) || ' episodes, ' || round(sum(extract(epoch FROM end_ts - start_ts)) / 3600) || ' h'
     FROM found WHERE kind NOT IN ('level_shift', 'usage_anomaly') GROUP BY meter_id, kind ORDER BY 1"
check "the dead meter MAC000037 is stuck at zero" t \
  "$(q "SELECT count(*) > 0 FROM found WHERE meter_id = 'MAC000037' AND kind = 'stuck_zero'")"
check "MAC000041's 18-day zero run is one stuck_zero episode" 1 \
  "$(q "SELECT count(*) FROM found WHERE meter_id = 'MAC000041' AND kind = 'stuck_zero' AND end_ts - start_ts > interval '17 days'")"
check "no level_shift fault on the ordinary households (their changes are usage anomalies)" 0 \
  "$(q "SELECT count(*) FROM found WHERE kind = 'level_shift' AND meter_id IN ('MAC000002', 'MAC000004', 'MAC000016', 'MAC000041', 'MAC000079')")"
check "usage anomalies reported on the ordinary households" t \
  "$(q "SELECT count(DISTINCT meter_id) >= 4 FROM found WHERE kind = 'usage_anomaly'")"
# MAC000034 is electrically heated: 46 kWh a day until mid-April, 10 from
# late April, and from mid-November 4-5 times that again, while its peers
# (who do not heat with electricity) rose by a tenth.  Its spring drop is a
# usage anomaly against the fleet; the heating start, still going at the
# end of the data, stays a level_shift: kept visible here, not tuned away
# (peer groups by load profile would explain it).
check "the one level_shift left is MAC000034's electric heating from November (known, see doc/detection.md)" \
  "MAC000034 2013-11" "$(q "SELECT string_agg(meter_id || ' ' || to_char(start_ts, 'YYYY-MM'), ', ') FROM found WHERE kind = 'level_shift'")"
# the batch, as the pipeline runs it (the fleet's levels kept in fleet_day)
q "SELECT status FROM meter_etl.detect('2013-01-01', '2014-01-01')" >/dev/null
check "detect() stores the same: the one level_shift fault is MAC000034's" "MAC000034 2013-11" \
  "$(q "SELECT string_agg(meter_id || ' ' || to_char(start_ts, 'YYYY-MM'), ', ') FROM meter_etl.v_fault WHERE kind = 'level_shift'")"
check "detect() reports the households' changes as usage anomalies" t \
  "$(q "SELECT count(DISTINCT meter_id) >= 4 FROM meter_etl.v_usage_anomaly")"
check "no reading inside a usage anomaly is flagged suspect" 0 \
  "$(q "SELECT count(*) FROM meter_etl.v_usage_anomaly a JOIN meter_etl.v_reading r ON r.meter_id = a.meter_id
          AND r.ts >= a.start_ts AND r.ts < a.end_ts
        WHERE 'suspect_meter' = ANY (r.flag_names)
          AND NOT EXISTS (SELECT 1 FROM meter_etl.v_fault f WHERE f.meter_id = r.meter_id AND r.ts >= f.start_ts AND r.ts < f.end_ts)")"
nf=$(q "SELECT count(*) FROM found WHERE kind = 'level_shift'")
na=$(q "SELECT count(*) FROM alone WHERE kind = 'level_shift'")
[ "$nf" -lt "$na" ] || fail "the fleet's level should remove shared level shifts: $nf with it, $na without"
echo "ok   the fleet's level removes shared shifts ($na level_shift episodes judged alone, $nf against the fleet)"
# a new user's order of calls on the UCI house file: detect() of a range,
# then detect_pending(), stores what either alone stores: nothing before the
# meter's first reading (it was an offline episode and a leading gap)
uci=$REAL/uci_household_power/household_power_consumption_2006-12_first1MiB.txt
if [ -f "$uci" ]; then
  q "SELECT status FROM meter_etl.ingest(meter_etl.stage('uci.txt', pg_read_binary_file('$uci')))" >/dev/null
  q "SELECT status FROM meter_etl.detect('2006-12-16', '2006-12-28')" >/dev/null
  q "SELECT status FROM meter_etl.detect_pending()" >/dev/null
  check "UCI: detect() then detect_pending() record nothing before the first reading" "0 0" \
    "$(q "SELECT (SELECT count(*) FROM meter_etl.v_fault WHERE meter_id = 'uci' AND start_ts < '2006-12-16 16:24+00')
              || ' ' || (SELECT count(*) FROM meter_etl.v_gap WHERE meter_id = 'uci' AND kind = 'leading')")"
else
  real_missing "UCI order check" "$uci is missing"
fi
echo "== real-data fault detection passed"
