#!/usr/bin/env bash
# The demo itself, inside a throwaway cluster (see test/demo.sh): a utility's
# whole job on a generated fleet, and a summary to check it by.
#
#   1. bin/meter-etl-gen writes a fleet with faults (spikes, stuck and frozen
#      meters, level shifts, offline meters, gaps, broken lines, duplicates)
#      and its ground truth (labels.csv); the readings are cut into one file
#      per local day, as a vendor delivers them, and dropped in an inbox;
#   2. CALL meter_etl.run_pipeline(): the inbox scanned, each file staged
#      into the raw zone, ingested in its own transaction and detection run
#      on what it brought (gaps filled, outliers flagged, faulty meters);
#   3. meter_etl.archive_parquet() writes the clean store, estimates
#      included, as Parquet (one directory per UTC date);
#   4. the summary: accounting, quarantine by reason, detected faults
#      against the injected ones, gaps and estimates, the archive, and where
#      the files are.  It is also written to summary.txt;
#   5. meter_etl.refresh_results() computes the data-quality scorecard and
#      bin/meter-etl-report writes the HTML report of the days with faults.
#
# Everything lands in DEMO_OUT (default /tmp/meter_etl_demo), emptied first;
# the cluster is thrown away, the files stay.  METERS (500), DAYS (7 days
# with faults) and HISTORY_DAYS (21 clean days before them, what detection
# judges a meter's usual level by) size the fleet.
set -euo pipefail
cd "$(dirname "$0")/.."
METERS=${METERS:-500}
DAYS=${DAYS:-7}
HISTORY_DAYS=${HISTORY_DAYS:-21}
SEED=${SEED:-42}
START=2024-03-25                      # the first day with faults (the generator's default)
OUT=${DEMO_OUT:-/tmp/meter_etl_demo}
t0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
secs() { awk -v m="$1" 'BEGIN { printf "%.1f s", m / 1000 }'; }
p() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

# the output directory is the demo's own: refuse anything else
case $OUT in
  *\'*|*\\*) echo "demo: DEMO_OUT must not contain quotes or backslashes: $OUT" >&2; exit 1 ;;
  /*) ;;
  *) echo "demo: DEMO_OUT must be an absolute path: $OUT" >&2; exit 1 ;;
esac
if [ -e "$OUT" ] && [ ! -f "$OUT/.meter_etl_demo" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
  echo "demo: $OUT exists and is not a demo output directory; remove it or set DEMO_OUT" >&2
  exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT/inbox" "$OUT/archive"
touch "$OUT/.meter_etl_demo"
chmod 755 "$OUT" "$OUT/inbox"
exec > >(tee "$OUT/summary.txt") 2>&1
tee_pid=$!

echo "== meter_etl demo: $METERS meters, $HISTORY_DAYS clean days then $DAYS days with faults, 15-minute readings (seed $SEED)"

# ---------------------------------------------------------------- 1. generate
t=$(date +%s%N)
bin/meter-etl-gen --meters "$METERS" --days "$DAYS" --history-days "$HISTORY_DAYS" --start "$START" \
  --seed "$SEED" --order time --out "$OUT/fleet.csv" --labels "$OUT/labels.csv" 2>"$OUT/gen.err" ||
  { cat "$OUT/gen.err"; exit 1; }
rm "$OUT/gen.err"
first=$(date -d "$START - $HISTORY_DAYS days" +%F)
last=$(date -d "$START + $((DAYS - 1)) days" +%F)
# one file per local day (the timestamps are local, Europe/London), in the
# order the lines come: a line whose timestamp is broken, out of range or of
# an earlier day (a vendor's late copy) stays in the day it came in
awk -F, -v dir="$OUT/inbox" -v first="$first" -v last="$last" '
  NR == 1 { header = $0; next }
  {
    d = substr($2, 1, 10)
    if (d ~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$/ && d >= first && d <= last && d > day) {
      if (file != "") close(file)
      day = d; file = dir "/meters_" day ".csv"
      print header > file
    }
    print > file
  }' "$OUT/fleet.csv"
lines=$(( $(wc -l < "$OUT/fleet.csv") - 1 ))
rm "$OUT/fleet.csv"
nfiles=$(ls "$OUT/inbox" | wc -l)
# scan_inbox() leaves files younger than 10 s alone (they may still be
# written): these are complete
chmod 644 "$OUT"/inbox/*.csv
touch -d '1 minute ago' "$OUT"/inbox/*.csv
echo "   generated $(printf "%'d" "$lines") lines in $nfiles daily files ($first .. $last) and their labels, $(secs "$(ms "$t")")"

# ---------------------------------------------------------------- 2. pipeline
q "CREATE EXTENSION meter_etl"
# the server reads the inbox and writes the archive: the archive directory
# belongs to the server's OS user
chown "$(stat -c %U "$(q "SHOW data_directory")")" "$OUT/archive"
p -c "LOAD 'meter_etl'" \
  -c "ALTER SYSTEM SET meter_etl.inbox_dir = '$OUT/inbox'" \
  -c "ALTER SYSTEM SET meter_etl.archive_dir = '$OUT/archive'" \
  -c "SELECT pg_reload_conf()" >/dev/null
t=$(date +%s%N)
p -c "CALL meter_etl.run_pipeline()"
pipeline_ms=$(ms "$t")
q "SELECT '   CALL meter_etl.run_pipeline(): ' || count(*) FILTER (WHERE status = 'ok') || ' files ingested, '
          || count(*) FILTER (WHERE status = 'failed') || ' failed, '
          || count(*) FILTER (WHERE status = 'dead_letter') || ' dead-lettered; '
          || (SELECT count(*) FROM meter_etl.detect_run WHERE status = 'ok') || ' detection runs, $(secs "$pipeline_ms")'
     FROM meter_etl.pipeline_run"

# ---------------------------------------------------------------- 3. archive
t=$(date +%s%N)
read -r from_d to_d < <(q "SELECT min(ts AT TIME ZONE 'UTC')::date || ' ' || max(ts AT TIME ZONE 'UTC')::date FROM meter_etl.reading")
q "CREATE TABLE demo_archive AS SELECT * FROM meter_etl.archive_parquet('$from_d', '$to_d')" >/dev/null
archive_ms=$(ms "$t")

# ---------------------------------------------------------------- 4. summary
p -c "CREATE TABLE lab (kind text, meter_id text, line_no bigint, start_ts timestamptz, end_ts timestamptz, detail text)" \
  -c "\\copy lab FROM '$OUT/labels.csv' WITH (FORMAT csv, HEADER true)"
p -v lines="$lines" -v archive_title="meter_etl.archive_parquet('$from_d', '$to_d') into $OUT/archive, $(secs "$archive_ms")" <<'SQL'
\pset footer off
\echo
\echo '== accounting: every reading read is clean, quarantined or a duplicate'
SELECT count(*) AS files, sum(readings_read) AS readings_read, sum(rows_clean) AS clean,
       sum(rows_quarantined) AS quarantined, sum(rows_duplicate) AS duplicate,
       sum(readings_read) = sum(rows_clean) + sum(rows_quarantined) + sum(rows_duplicate) AS balanced,
       bool_and(balanced) AS every_file_balanced,
       sum(readings_read) = :lines AS read_all_generated_lines
  FROM meter_etl.v_file_accounting;

\echo '== quarantine by reason (labelled: what the generator injected)'
SELECT r.reason, r.quarantined, coalesce(l.labelled, 0) AS labelled, rc.description
  FROM (SELECT reason, count(*) AS quarantined FROM meter_etl.quarantine GROUP BY reason) r
  JOIN meter_etl.reason_code rc ON rc.code = r.reason
  LEFT JOIN (SELECT kind, count(*) AS labelled FROM lab GROUP BY kind) l ON l.kind = r.reason
 ORDER BY r.quarantined DESC, r.reason;
\echo '   the first of each, traceable to its file and line (all of them: quarantine.csv)'
SELECT DISTINCT ON (q.reason) q.reason, f.file_name || ':' || q.line_no AS file_line,
       q.raw_line, coalesce(q.detail, '') AS detail
  FROM meter_etl.quarantine q JOIN meter_etl.raw_file f USING (file_id)
 ORDER BY q.reason, q.quarantine_id;
SELECT 'duplicate (exact copies: counted, not stored twice)' AS not_quarantined,
       sum(rows_duplicate) AS counted, (SELECT count(*) FROM lab WHERE kind = 'duplicate') AS labelled
  FROM meter_etl.v_file_accounting;

\echo '== faulty meters: detected episodes against the injected ones'
\echo '   (an episode matches a label of its kind on the same meter overlapping it in time)'
\i test/fault_match.sql
SELECT kind, labelled AS injected, detected, round(detected_true::numeric / nullif(detected, 0), 2) AS precision,
       round(found::numeric / nullif(labelled, 0), 2) AS recall
  FROM fault_match
UNION ALL
-- spikes: the outlier flag on the spiked reading
SELECT 'spike (outlier flag)', (SELECT count(*) FROM lab WHERE kind = 'spike'), o.n,
       round(tp::numeric / nullif(o.n, 0), 2), round(tp::numeric / nullif((SELECT count(*) FROM lab WHERE kind = 'spike'), 0), 2)
  FROM (SELECT count(*) AS n FROM meter_etl.v_reading WHERE flags & 2 <> 0) o,
       (SELECT count(*) AS tp FROM meter_etl.v_reading v JOIN lab l
            ON l.kind = 'spike' AND l.meter_id = v.meter_id AND l.start_ts = v.ts
         WHERE v.flags & 2 <> 0) t;
\echo '   meters by status at the end of the data, and the alerts detection raised'
SELECT status, coalesce(reason, '') AS reason, count(*) AS meters
  FROM meter_etl.v_meter_status WHERE channel = 'import' GROUP BY status, reason ORDER BY status, reason;
SELECT kind AS alert, severity, count(*) AS raised FROM meter_etl.alert GROUP BY kind, severity ORDER BY 1;

\echo '== gaps: short ones (up to meter_etl.max_gap) filled with estimates, longer ones left open'
SELECT l.kind AS injected, count(*) AS gaps,
       count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM meter_etl.estimate e JOIN meter_etl.meter m USING (meter_key)
          WHERE m.meter_id = l.meter_id AND e.ts >= l.start_ts AND e.ts <= l.end_ts)) AS filled,
       count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM meter_etl.v_gap g
          WHERE g.channel = 'import' AND g.meter_id = l.meter_id
            AND g.start_ts <= l.end_ts AND g.end_ts > l.start_ts)) AS left_open
  FROM lab l WHERE l.kind IN ('short_gap', 'long_gap', 'offline')
 GROUP BY l.kind ORDER BY min(l.end_ts - l.start_ts);
WITH short AS (SELECT l.meter_id, t AS ts FROM lab l,
                      generate_series(l.start_ts, l.end_ts, interval '15 minutes') t
                WHERE l.kind = 'short_gap'),
est AS (SELECT m.meter_id, e.ts, e.method FROM meter_etl.estimate e JOIN meter_etl.meter m USING (meter_key))
SELECT (SELECT count(*) FROM short) AS short_gap_slots,
       (SELECT count(*) FROM short JOIN est USING (meter_id, ts)) AS estimated,
       (SELECT count(*) FROM est) AS estimates_stored,
       (SELECT count(*) FROM est WHERE method = 'linear') AS linear,
       (SELECT count(*) FROM est WHERE method = 'like_day') AS like_day,
       (SELECT count(*) FROM meter_etl.v_gap) AS open_gaps_stored;

\echo '== archive:' :archive_title
SELECT count(*) FILTER (WHERE a.status = 'archived') AS dates_archived,
       count(*) FILTER (WHERE a.status = 'failed') AS dates_failed,
       sum(a.files) AS files, sum(a.rows) AS rows, pg_size_pretty(sum(a.bytes)) AS size,
       sum(a.rows) = (SELECT count(*) FROM meter_etl.v_reading_filled) AS rows_equal_readings_plus_estimates
  FROM demo_archive a;
SQL

# ---------------------------------------------------------------- 5. report
# the data-quality scorecard of the days with faults, then the HTML report
# a reader login could write (bin/meter-etl-report reads only the views)
t=$(date +%s%N)
LAST=$(date -d "$START + $(( DAYS - 1 )) days" +%F)
q "SELECT count(*) FROM meter_etl.refresh_results('$START', '$LAST')" >/dev/null
# an example tariff (not a real one: yours goes in tou_tariff and tou_period)
# for the report's time-of-use split
q "INSERT INTO meter_etl.tou_tariff (tariff, default_period, description)
     VALUES ('demo_tou', 'shoulder', 'example three-period tariff of the demo') ON CONFLICT DO NOTHING"
q "INSERT INTO meter_etl.tou_period (tariff, period, days, start_time, end_time) VALUES
     ('demo_tou', 'peak', '{1,2,3,4,5}', '16:00', '19:00'), ('demo_tou', 'off_peak', '{1,2,3,4,5,6,7}', '00:00', '07:00')
   ON CONFLICT DO NOTHING"
bin/meter-etl-report --from "$START" --to "$LAST" --zone Europe/London -o "$OUT/report.html" >/dev/null
report_ms=$(ms "$t")
echo "== report: $OUT/report.html (the $DAYS days with faults: fleet load and daily peaks, energy, time-of-use split, data quality, faults with a chart per meter; $(secs "$report_ms"))"

# what an engineer opens next, next to the raw deliveries and the labels
p -c "\\copy (SELECT f.file_name, q.line_no, q.reason, q.detail, q.raw_line FROM meter_etl.quarantine q JOIN meter_etl.raw_file f USING (file_id) ORDER BY q.quarantine_id) TO '$OUT/quarantine.csv' WITH (FORMAT csv, HEADER true)" \
  -c "\\copy (SELECT meter_id, channel, kind, start_ts, end_ts, ongoing, evidence FROM meter_etl.v_fault ORDER BY meter_id, start_ts) TO '$OUT/faults.csv' WITH (FORMAT csv, HEADER true)"
echo
echo "== files in $OUT"
echo "   inbox/            the $nfiles daily files as delivered (the raw zone holds the same bytes)"
echo "   labels.csv        the generator's ground truth: every injected fault, by kind"
echo "   archive/          the Parquet archive: $(find "$OUT/archive" -name '*.parquet' | wc -l) files, date=YYYY-MM-DD/meter_bucket=NN/part-0000.parquet"
echo "                     e.g. DuckDB: SELECT * FROM read_parquet('$OUT/archive/**/*.parquet', hive_partitioning = true)"
echo "   quarantine.csv    every quarantined reading: file, line, reason, detail, raw line"
echo "   faults.csv        every detected meter fault with its evidence"
echo "   report.html       the HTML report (charts, no script, opens offline): open it in a browser"
echo "   summary.txt       this summary"
echo "== elapsed $(secs "$(ms "$t0")") (pipeline $(secs "$pipeline_ms"), archive $(secs "$archive_ms")); the cluster is thrown away now"
exec >&- 2>&-
wait "$tee_pid"
