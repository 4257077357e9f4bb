#!/usr/bin/env bash
# Rollup benchmark (issue 19), inside a throwaway cluster (test/bench/bench.sh):
#   1. What maintaining the rollups adds to the ingest of a 50,000-meter day:
#      three new days ingested with the rollups and three without (the
#      rollup table renamed away, so ingest's C aggregation is off), the
#      runs interleaved; median of 3 and spread of each, and the ratio.
#   2. A year of daily fleet energy: from the rollups (v_fleet_energy_day)
#      and the same query over reading, side by side.  The store holds the
#      days measured here, not a year: the query over reading is timed on
#      them and scaled to 365 days (it scans every reading, so it grows
#      with them); the rollups' fleet rows are one per zone and day whatever
#      the fleet size, so a year of them is written (copies of the measured
#      days' rows, zone UTC, dates of 2025) and the query over them is timed
#      as it is.
#   3. peak_periods over that year, hour and day buckets, from the rollups;
#      the same call forced onto the readings (a rollup_incomplete row) over
#      the measured days, scaled to a year; and the 30-minute default bucket,
#      which always reads the readings.
# BENCH_QUICK=1 runs 5,000 meters (a smoke run).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=$(mktemp -d /tmp/meter_etl_bench_rollup.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
export PGDATABASE=meter_etl_bench_rollup
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $PGDATABASE" -c "CREATE DATABASE $PGDATABASE"
METERS=50000
[ "${BENCH_QUICK:-0}" = 1 ] && METERS=5000
. test/bench/lib_bench.sh
q -c "CREATE EXTENSION meter_etl"

# ingest DAY: one generated day of the fleet, staged, then timed ingest
ingest_day() {
  bin/meter-etl-gen --meters "$METERS" --days 1 --start "$1" --faults default --seed "${1//-/}" \
    --out "$WORK/d.csv" 2>/dev/null
  chmod 644 "$WORK/d.csv"
  local f; f=$(bin/meter-etl-load "$WORK/d.csv" | cut -f1)
  rm -f "$WORK/d.csv"
  q -c "CHECKPOINT"
  timed q -c "SELECT rows_clean FROM meter_etl.ingest($f)"
}
rollups_off() { q -c "ALTER TABLE meter_etl.rollup_meter_day RENAME TO rollup_meter_day_off"; }
rollups_on() { q -c "ALTER TABLE meter_etl.rollup_meter_day_off RENAME TO rollup_meter_day"; }
stats() {   # file -> "median (spread min-max)"
  echo "$(median < "$1") (spread $(sort -n "$1" | head -1)-$(sort -n "$1" | tail -1))"
}

echo "== 1. ingest of a $METERS-meter day (15 min, ~1% faults), with and without the rollups"
: > "$WORK/on.txt"; : > "$WORK/off.txt"
for i in 0 1 2; do
  ingest_day "$(date -d "2024-06-10 + $((2 * i)) days" +%F)" >> "$WORK/on.txt"; echo >> "$WORK/on.txt"
  rollups_off
  ingest_day "$(date -d "2024-06-11 + $((2 * i)) days" +%F)" >> "$WORK/off.txt"; echo >> "$WORK/off.txt"
  rollups_on
done
on=$(median < "$WORK/on.txt"); off=$(median < "$WORK/off.txt")
# the floor of any rollup with a row per meter-day: writing the first file's
# rows again (its local days 9 and 10 June, before any refresh) into a copy
# of the table with its indexes, by plain INSERT ... SELECT
q -c "CREATE TABLE floor_copy (LIKE meter_etl.rollup_meter_day INCLUDING INDEXES)" -c "CHECKPOINT"
floor_rows=$(q -c "SELECT count(*) FROM meter_etl.rollup_meter_day WHERE day BETWEEN '2024-06-09' AND '2024-06-10'")
t_floor=$(timed q -c "INSERT INTO floor_copy SELECT * FROM meter_etl.rollup_meter_day WHERE day BETWEEN '2024-06-09' AND '2024-06-10'")
floor_mb=$(q -c "SELECT round(pg_total_relation_size('floor_copy') / 1048576.0)")
q -c "DROP TABLE floor_copy"
lines=$(q -c "SELECT readings_read FROM meter_etl.ingest_run WHERE status = 'ok' ORDER BY run_id LIMIT 1")
printf '%-56s %s\n' "ingest without rollups, s (median of 3)" "$(stats "$WORK/off.txt")"
printf '%-56s %s\n' "ingest with rollups, s (median of 3)" "$(stats "$WORK/on.txt")"
echo "   rollups add $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.1f", 100 * (a - b) / b }') % to the ingest of $lines readings (target <= 15 %)"
echo "   floor: writing one file's $floor_rows rollup rows ($floor_mb MB with indexes) by INSERT ... SELECT takes $t_floor s, $(awk -v a="$t_floor" -v b="$off" 'BEGIN { printf "%.1f", 100 * a / b }') % of the ingest without rollups"
# the days ingested without them, rolled up afterwards: what a rebuild costs
t_rebuild=$(timed q -c "SELECT * FROM meter_etl.rollup_rebuild('2024-06-11', '2024-06-11')")
printf '%-56s %s\n' "rollup_rebuild of one day ($METERS meter-days), s" "$t_rebuild"
q -c "SELECT * FROM meter_etl.rollup_rebuild('2024-06-09', '2024-06-16')" >/dev/null
q -c "VACUUM ANALYZE"
bad=$(q -c "SELECT count(*) FROM (SELECT r.meter_key, (r.ts AT TIME ZONE m.time_zone)::date AS d, sum(r.kw) AS s
                                      FROM meter_etl.reading r JOIN meter_etl.meter m USING (meter_key) GROUP BY 1, 2) x
             FULL JOIN (SELECT meter_key, day AS d, sum(kw_sum) AS s FROM meter_etl.rollup_meter_day GROUP BY 1, 2) y
               USING (meter_key, d)
            WHERE abs(coalesce(x.s, 0) - coalesce(y.s, 0)) > 1e-6 * greatest(abs(x.s), 1)")
[ "$bad" = 0 ] || { echo "FAIL: $bad meter-days differ between the rollups and the readings"; exit 1; }
echo "   (the rollups of every meter-day equal the readings' sums)"

echo
echo "== 2. a year of daily fleet energy ($METERS meters)"
ndays=$(q -c "SELECT count(DISTINCT (ts AT TIME ZONE 'UTC')::date) FROM meter_etl.reading")
stored=$(q -c "SELECT count(*) FROM meter_etl.reading")
# the year of fleet rows: the measured days' rows repeated over 2025, zone UTC
q -c "INSERT INTO meter_etl.rollup_fleet_day
        SELECT 'UTC', f.channel_id, d::date, d, f.kwh, f.kwh_flagged, f.demand_kw, f.demand_kw_clean, f.peak_kw,
               d + (f.peak_hour_ts - f.start_ts), f.meters, f.meters_clean, f.readings, f.estimated, f.flagged
          FROM generate_series(timestamptz '2025-01-01 00:00+00', '2025-12-31 00:00+00', '1 day') WITH ORDINALITY g(d, n)
          JOIN (SELECT *, row_number() OVER (ORDER BY day) - 1 AS k FROM meter_etl.rollup_fleet_day
                 WHERE day BETWEEN '2024-06-10' AND '2024-06-15') f ON f.k = (g.n - 1) % 6" \
  -c "INSERT INTO meter_etl.rollup_fleet_hour
        SELECT 'UTC', h.channel_id, g.d + (h.hour_ts - f.start_ts), g.d::date, h.kwh, h.kwh_flagged, h.demand_kw,
               h.demand_kw_clean, h.meters, h.meters_clean, h.meters_day, h.meters_estimated, h.meters_flagged,
               h.meters_excluded, h.readings, h.estimated, h.flagged
          FROM generate_series(timestamptz '2025-01-01 00:00+00', '2025-12-31 00:00+00', '1 day') WITH ORDINALITY g(d, n)
          JOIN (SELECT *, row_number() OVER (ORDER BY day) - 1 AS k FROM meter_etl.rollup_fleet_day
                 WHERE day BETWEEN '2024-06-10' AND '2024-06-15' AND time_zone <> 'UTC') f ON f.k = (g.n - 1) % 6
          JOIN meter_etl.rollup_fleet_hour h ON h.time_zone = f.time_zone AND h.channel_id = f.channel_id AND h.day = f.day
         WHERE g.d + (h.hour_ts - f.start_ts) < g.d + interval '1 day'" \
  -c "ANALYZE meter_etl.rollup_fleet_day" -c "ANALYZE meter_etl.rollup_fleet_hour"
year_rollup="SELECT local_date, sum(energy_kwh) FROM meter_etl.v_fleet_energy_day
              WHERE channel = 'import' AND local_date BETWEEN '2025-01-01' AND '2025-12-31' GROUP BY 1 ORDER BY 1"
# the plain query an analyst writes without the rollups (energy = kW x interval)
days_reading="SELECT (r.ts AT TIME ZONE m.time_zone)::date, sum(r.kw * m.interval_s / 3600.0)
                FROM meter_etl.reading r JOIN meter_etl.meter m USING (meter_key) GROUP BY 1 ORDER BY 1"
[ "$(q -c "$year_rollup" | wc -l)" = 365 ] || { echo "FAIL: the year query does not give 365 days"; exit 1; }
: > "$WORK/yr.txt"; : > "$WORK/rd.txt"
for i in 1 2 3; do
  q -c "\\timing on" -c "$year_rollup" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' >> "$WORK/yr.txt"
  timed q -c "$days_reading" >> "$WORK/rd.txt"; echo >> "$WORK/rd.txt"
done
t_yr=$(median < "$WORK/yr.txt")
t_rd=$(median < "$WORK/rd.txt")
t_rd_year=$(awk -v t="$t_rd" -v n="$ndays" 'BEGIN { printf "%.1f", t * 365 / n }')
printf '%-56s %s\n' "from the rollups: 365 days, ms (median of 3)" "$(stats "$WORK/yr.txt")"
printf '%-56s %s\n' "over reading: $ndays days ($stored rows), s (median of 3)" "$(stats "$WORK/rd.txt")"
printf '%-56s %s\n' "over reading: 365 days, s (scaled from $ndays days)" "$t_rd_year"
echo "   the rollups answer in $t_yr ms (target <= 100 ms), $(awk -v a="$t_rd_year" -v b="$t_yr" 'BEGIN { printf "%.0f", 1000 * a / b }')x faster than the readings would"

echo
echo "== 3. peak_periods over a year of $METERS meters (top 10, whole fleet)"
peaks() {   # bucket exclude_flagged from to zone -> ms of the call
  q -c "\\timing on" -c "SELECT count(*) FROM meter_etl.peak_periods('$3', '$4', bucket => '$1', exclude_flagged => $2, time_zone => '$5')" \
    | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
for b in "1 hour" "1 day"; do
  for x in true false; do
    : > "$WORK/p.txt"
    for i in 1 2 3; do peaks "$b" "$x" 2025-01-01 2026-01-01 UTC >> "$WORK/p.txt"; done
    printf '%-56s %s\n' "from the rollups: bucket $b, exclude_flagged $x, ms" "$(stats "$WORK/p.txt")"
  done
done
# forced onto the readings: what peak_periods took before the rollups
q -c "INSERT INTO meter_etl.rollup_incomplete DEFAULT VALUES"
for b in "1 hour" "30 minutes"; do
  for x in true false; do
    t=$(peaks "$b" "$x" 2024-06-10 2024-06-13 Europe/London)
    printf '%-56s %s\n' "over reading: bucket $b, exclude_flagged $x, 3 days, s" "$(awk -v t="$t" 'BEGIN { printf "%.2f", t / 1000 }')"
    printf '%-56s %s\n' "   scaled to 365 days, s" "$(awk -v t="$t" 'BEGIN { printf "%.0f", t / 1000 * 365 / 3 }')"
  done
done
q -c "DELETE FROM meter_etl.rollup_incomplete"
echo "   (30-minute and finer buckets, and meter subsets, always read the readings)"
psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE"
