#!/usr/bin/env bash
# A BI tool's view of meter_etl (issue 19), on a running server (PG*
# variables set, e.g. by pg_virtualenv): a generated fleet goes through
# ingest, detection and refresh_results(); then a login in meter_etl_reader
# connects over TCP with a password, as Grafana or Power BI would, reads
# every v_* view (with rows where the fleet gives them), is refused every
# table, every other view and the functions that write, and sees the
# numbers the admin sees.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/e2e/lib_e2e.sh
e2e_setup meter_etl_bi

q "CREATE EXTENSION meter_etl"
echo "-- a fleet: 50 meters, 3 days, faults, through ingest, detection and the scorecard"
bin/meter-etl-gen --meters 50 --days 3 --seed 19 --out "$WORK/fleet.csv" 2>/dev/null
bin/meter-etl-load --ingest "$WORK/fleet.csv" >/dev/null
q "SELECT count(*) FROM meter_etl.detect('2024-03-24', '2024-03-28')" >/dev/null
q "SELECT count(*) FROM meter_etl.refresh_results('2024-03-24', '2024-03-27')" >/dev/null
# the zone the fleet's profile gave its meters
zone=$(q "SELECT coalesce(min(time_zone), 'UTC') FROM meter_etl.meter")
q "INSERT INTO meter_etl.holiday VALUES ('$zone', '2024-03-26', 'E2E day off')"
q "INSERT INTO meter_etl.tou_tariff (tariff, default_period) VALUES ('e2e', 'off_peak')"
q "INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES ('e2e', 'peak', '{1,2,3,4,5}', '16:00', '20:00')"

q "DROP ROLE IF EXISTS e2e_bi" >/dev/null 2>&1 || true
q "CREATE ROLE e2e_bi LOGIN PASSWORD 'b1-reader' IN ROLE meter_etl_reader" >/dev/null
trap 'q "DROP ROLE IF EXISTS e2e_bi" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
bi() { PGPASSWORD=b1-reader psql -X -q -At -v ON_ERROR_STOP=1 -h localhost -U e2e_bi -d meter_etl_bi -c "$1" 2>&1; }

echo "-- the reader login reads every v_* view"
views=$(q "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'meter_etl'::regnamespace
            AND c.relkind = 'v' AND c.relname LIKE 'v\\_%' ORDER BY 1")
nviews=0
for v in $views; do
  out=$(bi "SELECT count(*) FROM meter_etl.$v") || fail "reader cannot read $v: $out"
  check "reader reads $v" "$(q "SELECT count(*) FROM meter_etl.$v")" "$out"
  nviews=$((nviews + 1))
done
[ "$nviews" -ge 20 ] || fail "only $nviews v_* views"
# the views a dashboard is built on hold rows for this fleet
for v in v_meter v_meter_health v_calendar v_dq_day v_dq_file_day v_dq_meter_day v_peak_period v_daily_peak v_tou_period; do
  [ "$(bi "SELECT count(*) > 0 FROM meter_etl.$v")" = t ] || fail "$v is empty for the reader"
done
echo "ok   the dashboard views hold rows"
check "the reader ranks meters by data quality" "$(q "SELECT count(*) FROM meter_etl.dq_meters('2024-03-25', '2024-03-27')")" \
  "$(bi "SELECT count(*) FROM meter_etl.dq_meters('2024-03-25', '2024-03-27')")"
check "the calendar marks the holiday for the reader" "E2E day off" \
  "$(bi "SELECT holiday FROM meter_etl.v_calendar WHERE time_zone = '$zone' AND local_date = '2024-03-26'")"

echo "-- and nothing else"
rels=$(q "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'meter_etl'::regnamespace
           AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT (c.relkind = 'v' AND c.relname LIKE 'v\\_%') ORDER BY 1")
nrels=0
for r in $rels; do
  out=$(bi "SELECT count(*) FROM meter_etl.$r") && fail "reader read $r: $out"
  echo "$out" | grep -q "permission denied" || fail "reader on $r: expected permission denied, got '$out'"
  nrels=$((nrels + 1))
done
echo "ok   reader refused all $nrels tables, partitions and internal views"
for sql in "SELECT * FROM meter_etl.refresh_results('2024-03-25', '2024-03-25')" \
           "SELECT meter_etl.tou_period_of('e2e', 'UTC', now())" \
           "SELECT * FROM meter_etl.calendar('UTC', '2024-03-25', '2024-03-25')" \
           "INSERT INTO meter_etl.holiday VALUES ('UTC', '2024-01-01', 'x')" \
           "SELECT meter_etl.raw_line(1, 1)"; do
  out=$(bi "$sql") && fail "reader ran: $sql ($out)"
  echo "$out" | grep -q "permission denied" || fail "reader on '$sql': expected permission denied, got '$out'"
done
echo "ok   reader refused the functions that read tables or write"
echo "e2e_bi_client: all checks passed"
