#!/usr/bin/env bash
# End-to-end test of bin/meter-etl-report on a running server (PG* variables
# set, e.g. by pg_virtualenv): a generated fleet with faults over the spring
# DST change is ingested, detected and its scorecard refreshed; a login
# that holds only meter_etl_reader writes the report (so it needs nothing
# but the result views); headless Chromium opens it
# (test/interop/report_check.mjs) and checks that every chart drew, with the number of points the database
# gives for each series, that no console error and no network request
# happened, and that each flagged meter has its chart.  The screenshot is
# kept in $REPORT_ARTIFACTS (default /tmp/meter_etl_report_test).  Then the
# client's refusals.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/e2e/lib_e2e.sh
e2e_setup meter_etl_e2e_report
ART=${REPORT_ARTIFACTS:-/tmp/meter_etl_report_test}
mkdir -p "$ART"

if [ ! -d test/interop/node_modules/playwright-core ]; then
  (cd test/interop && npm install --no-audit --no-fund >/dev/null)
fi

q "CREATE EXTENSION meter_etl"
bin/meter-etl-gen --meters 40 --days 7 --start 2024-03-25 --faults heavy --seed 11 \
  --out "$WORK/fleet.csv" 2>/dev/null
chmod 644 "$WORK/fleet.csv"
bin/meter-etl-load --ingest "$WORK/fleet.csv" | grep -q "format=generic" || fail "fleet not ingested"
q "SELECT count(*) FROM meter_etl.detect('2024-03-25 00:00 Europe/London', '2024-04-01 00:00 Europe/London')" >/dev/null
q "SELECT count(*) FROM meter_etl.refresh_results('2024-03-25', '2024-03-31')" >/dev/null
# a tariff of three periods: peak on weekday evenings, off-peak every night
q "INSERT INTO meter_etl.tou_tariff (tariff, default_period) VALUES ('home', 'shoulder')"
q "INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES
     ('home', 'peak', '{1,2,3,4,5}', '16:00', '19:00'), ('home', 'off_peak', '{1,2,3,4,5,6,7}', '00:00', '07:00')"

q "DROP ROLE IF EXISTS report_user" 2>/dev/null || true
q "CREATE ROLE report_user LOGIN PASSWORD 'report' IN ROLE meter_etl_reader"
trap 'rm -rf "$WORK"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS meter_etl_e2e_report" -c "DROP ROLE IF EXISTS report_user" >/dev/null 2>&1 || true' EXIT
READER="host=${PGHOST:-localhost} port=${PGPORT:-5432} dbname=$PGDATABASE user=report_user password=report"
refused_as_reader() { psql -X -q -At -d "$READER" -c "$1" >/dev/null 2>&1 && fail "reader read $1"; echo "ok   reader refused: $1"; }
refused_as_reader "SELECT 1 FROM meter_etl.reading LIMIT 1"

echo "-- the report, written by the reader"
out=$(bin/meter-etl-report -d "$READER" --from 2024-03-25 --to 2024-03-31 --zone Europe/London -o "$WORK/report.html")
check "report path printed" "$WORK/report.html" "$out"
grep -q "<script" "$WORK/report.html" && fail "the report holds a script"
grep -qE 'src="https?:|href="https?:' "$WORK/report.html" && fail "the report links outside itself"
echo "ok   self-contained ($(du -k "$WORK/report.html" | cut -f1) kB, no script, no external link)"

# What each chart must show, from the database (a superuser's view of it)
R="WITH rng AS (SELECT '2024-03-25'::timestamp AT TIME ZONE 'Europe/London' AS f,
                        '2024-04-01'::timestamp AT TIME ZONE 'Europe/London' AS t),
        v AS (SELECT v.* FROM meter_etl.v_reading_filled v, rng
               WHERE v.channel = 'import' AND v.ts >= rng.f AND v.ts < rng.t)"
hours=$(q "$R SELECT count(DISTINCT date_trunc('hour', ts)) FROM v")
days=$(q "$R SELECT count(DISTINCT (ts AT TIME ZONE 'Europe/London')::date) FROM v")
est_days=$(q "$R SELECT count(DISTINCT (ts AT TIME ZONE 'Europe/London')::date) FROM v WHERE estimated")
act_days=$(q "$R SELECT count(DISTINCT (ts AT TIME ZONE 'Europe/London')::date) FROM v WHERE NOT estimated")
meters=$(q "WITH rng AS (SELECT '2024-03-25'::timestamp AT TIME ZONE 'Europe/London' AS f,
                                 '2024-04-01'::timestamp AT TIME ZONE 'Europe/London' AS t)
            SELECT least(20, count(DISTINCT (meter_id, channel))) FROM
              (SELECT meter_id, channel, start_ts, end_ts FROM meter_etl.v_fault
               UNION ALL SELECT meter_id, channel, start_ts, end_ts FROM meter_etl.v_usage_anomaly) e, rng
             WHERE e.start_ts < rng.t AND coalesce(e.end_ts, 'infinity') > rng.f")
tou() { q "SELECT count(DISTINCT local_date) FROM meter_etl.v_energy_tou_day
             WHERE tariff = 'home' AND channel = 'import' AND period = '$1' AND local_date BETWEEN '2024-03-25' AND '2024-03-31'"; }
tou_peak=$(tou peak); tou_off=$(tou off_peak); tou_sh=$(tou shoulder)
check "weekdays with peak energy" 5 "$tou_peak"
dq_days=$(q "SELECT count(*) FROM meter_etl.v_dq_day WHERE day BETWEEN '2024-03-25' AND '2024-03-31' AND completeness_pct IS NOT NULL AND validity_pct IS NOT NULL")
check "a DST week of 7 local days" 7 "$days"
check "the scorecard's days" 7 "$dq_days"
check "hours of a week with the spring change" 167 "$hours"
[ "$meters" -gt 0 ] || fail "the heavy faults gave no flagged meter"
expect=$(cat <<JSON
{"charts": {
  "chart-fleet": {"fleet load": $hours, "daily peak": $days},
  "chart-energy": {"measured": $act_days, "estimated": $est_days},
  "chart-tou": {"off_peak": $tou_off, "peak": $tou_peak, "shoulder": $tou_sh},
  "chart-quality": {"clean": $days, "estimated": $days, "flagged": $days},
  "chart-scorecard": {"completeness %": $dq_days, "validity %": $dq_days}},
 "meter_charts": $meters}
JSON
)
node test/interop/report_check.mjs "$WORK/report.html" "$ART/report.png" "$expect"
cp "$WORK/report.html" "$ART/report.html"
echo "ok   artifacts: $ART/report.png $ART/report.html"

echo "-- refusals"
bad() {
  local want=$1; shift
  local rc=0
  bin/meter-etl-report -d "$READER" "$@" -o "$WORK/x.html" >/dev/null 2>"$WORK/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "meter-etl-report $*: exit $rc, expected 2"
  grep -q -- "$want" "$WORK/err" || fail "meter-etl-report $*: expected '$want', got '$(cat "$WORK/err")'"
  echo "ok   refused: $* ($(head -1 "$WORK/err"))"
}
bad "from must not be later" --from 2024-03-31 --to 2024-03-25
bad "unrecognized time zone" --from 2024-03-25 --to 2024-03-31 --zone Mars/Olympus
bad "usage" --from 2024-03-25
bad "max-meters" --from 2024-03-25 --to 2024-03-31 --max-meters -1
bad "tariff \"nope\" does not exist" --from 2024-03-25 --to 2024-03-31 --tariff nope
rc=0; bin/meter-etl-report -d "$READER" --from 2024-02-30 --to 2024-03-31 -o "$WORK/x.html" 2>"$WORK/err" || rc=$?
[ "$rc" -ne 0 ] && grep -q "out of range\|invalid" "$WORK/err" || fail "an invalid date: exit $rc, $(cat "$WORK/err")"
echo "ok   refused: an invalid date ($(head -1 "$WORK/err"))"
[ ! -e "$WORK/x.html" ] || fail "a refused report left a file"
echo "e2e_report: all checks passed"
