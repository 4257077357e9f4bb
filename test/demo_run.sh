#!/usr/bin/env bash
# The demo itself, inside a throwaway cluster (see test/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
METERS=${METERS:-500}
DAYS=${DAYS:-7}
WORK=$(mktemp -d /tmp/meter_etl_demo.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
p() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

echo "== generating $METERS meters x $DAYS days at 15 minutes, with faults"
bin/meter-etl-gen --meters "$METERS" --days "$DAYS" --out "$WORK/fleet.csv" --labels "$WORK/labels.csv"

p -c "CREATE EXTENSION meter_etl"
echo "== staging and ingesting (bin/meter-etl-load --ingest)"
time bin/meter-etl-load --ingest --source demo "$WORK/fleet.csv"

echo
echo "== accounting: every reading is clean, quarantined or a duplicate"
p -c "SELECT file_name, format, lines_read, readings_read, rows_clean, rows_quarantined, rows_duplicate, balanced
        FROM meter_etl.v_file_accounting"

echo "== quarantined readings by reason, next to the generator's labels"
p -c "CREATE TEMP TABLE labels (kind text, meter_id text, line_no bigint, start_ts text, end_ts text, detail text)" \
  -c "\\copy labels FROM '$WORK/labels.csv' WITH (FORMAT csv, HEADER true)" \
  -c "SELECT coalesce(q.reason, l.kind) AS reason, q.readings AS quarantined, l.labelled, rc.description
        FROM (SELECT reason, count(*) AS readings FROM meter_etl.quarantine GROUP BY reason) q
        FULL JOIN (SELECT kind, count(*) AS labelled FROM labels GROUP BY kind) l ON l.kind = q.reason
        LEFT JOIN meter_etl.reason_code rc ON rc.code = coalesce(q.reason, l.kind)
       WHERE q.reason IS NOT NULL OR l.kind IN (SELECT code FROM meter_etl.reason_code) OR l.kind = 'duplicate'
       ORDER BY 1" \
  -c "SELECT 'duplicate (counted, not quarantined)' AS what, rows_duplicate AS ingest, (SELECT count(*) FROM labels WHERE kind = 'duplicate') AS labelled
        FROM meter_etl.ingest_run WHERE status = 'ok'"

echo "== a few quarantined lines, traceable to file and line"
p -c "SELECT reason, line_no, left(raw_line, 60) AS raw_line, detail FROM meter_etl.quarantine
       WHERE quarantine_id IN (SELECT min(quarantine_id) FROM meter_etl.quarantine GROUP BY reason) ORDER BY reason"

echo "== the clean store (v_reading): fleet demand per day"
p -c "SELECT date_trunc('day', ts) AS day, count(DISTINCT meter_id) AS meters, count(*) AS readings,
             round(sum(kwh)::numeric, 1) AS kwh, round(max(kw)::numeric, 2) AS max_kw
        FROM meter_etl.v_reading GROUP BY 1 ORDER BY 1"
echo "== done: the cluster is thrown away now"
