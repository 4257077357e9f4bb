#!/usr/bin/env bash
# End-to-end tests of the orchestration, on a running server (PG* set by
# pg_virtualenv with pg_cron preloaded, cron.database_name=postgres and
# cron.use_background_workers=on):
#   - four workers at once process disjoint files; the result equals one worker's
#   - skip-if-running for a worker name
#   - alerts arrive by NOTIFY with a JSON payload
#   - kill -9 in the middle of a large ingest, restart, run again: nothing lost or doubled
#   - a pg_cron schedule really processes a staged file
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=$(mktemp -d /tmp/meter_etl_pipe.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
check() {
  [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
  echo "ok   $1 ($3)"
}
newdb() {
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" 2>/dev/null
  psql -X -q -d "$1" -c "CREATE EXTENSION meter_etl" -c "ALTER DATABASE $1 SET meter_etl.retry_backoff = 0"
}
q() { local db=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$*"; }
# a summary that must be identical whoever processed the files
summary() {
  local a b c d
  a=$(q "$1" "SELECT count(*) || '/' || round(sum(kw)::numeric, 6) || '/' || count(DISTINCT meter_key) FROM meter_etl.reading")
  b=$(q "$1" "SELECT string_agg(reason || '=' || n, ',' ORDER BY reason) FROM (SELECT reason, count(*) n FROM meter_etl.quarantine GROUP BY 1) x")
  c=$(q "$1" "SELECT sum(readings_read) || '/' || sum(rows_clean) || '/' || sum(rows_quarantined) || '/' || sum(rows_duplicate) FROM meter_etl.ingest_run WHERE status = 'ok'")
  d=$(q "$1" "SELECT (SELECT count(*) FILTER (WHERE flags <> 0) FROM meter_etl.reading) || ' flagged/' || (SELECT count(*) FROM meter_etl.fault) || ' faults/' || (SELECT count(*) FROM meter_etl.gap) || ' gaps/' || (SELECT count(*) FROM meter_etl.estimate) || ' estimates'")
  [ -n "$a" ] && [ -n "$c" ] || fail "empty summary for $1"
  echo "$a|$b|$c|$d"
}

echo "-- parallel workers"
for i in $(seq 1 24); do
  bin/meter-etl-gen --meters 40 --days 2 --seed "$i" --meter-prefix "F$i-" --out "$WORK/f$i.csv" 2>/dev/null
done
printf 'not,a,known\nlayout,at,all\n' > "$WORK/poison.csv"
for db in pipe_one pipe_four; do
  newdb "$db"
  bin/meter-etl-load -d "$db" "$WORK"/f*.csv "$WORK/poison.csv" >/dev/null
done
q pipe_one "CALL meter_etl.run_pipeline(worker => 'solo')"
for w in 1 2 3 4; do
  psql -X -q -d pipe_four -c "CALL meter_etl.run_pipeline(worker => 'w$w')" 2>"$WORK/w$w.err" &
done
wait
check "every file processed once by four workers" "24 ingested, 1 dead_letter" \
  "$(q pipe_four "SELECT count(*) FILTER (WHERE status = 'ingested') || ' ingested, ' || count(*) FILTER (WHERE status = 'dead_letter') || ' dead_letter' FROM meter_etl.raw_file")"
check "no file ingested twice" "24" "$(q pipe_four "SELECT count(DISTINCT file_id) FROM meter_etl.ingest_run WHERE status = 'ok'")"
check "work was shared" "t" "$(q pipe_four "SELECT count(DISTINCT worker) > 1 FROM meter_etl.pipeline_run WHERE status = 'ok'")"
check "four workers = one worker" "$(summary pipe_one)" "$(summary pipe_four)"
check "poison file: 3 attempts then dead letter" "3|dead_letter" \
  "$(q pipe_four "SELECT attempts || '|' || status FROM meter_etl.raw_file WHERE file_name = 'poison.csv'")"

echo "-- skip-if-running"
psql -X -q -d pipe_four -c "SELECT pg_advisory_lock(7412, hashtext('busy')), pg_sleep(3)" >/dev/null &
sleep 1
out=$(psql -X -q -d pipe_four -c "CALL meter_etl.run_pipeline(worker => 'busy')" 2>&1)
echo "$out" | grep -q 'pipeline worker "busy" is already running; skipped' || fail "no skip notice: $out"
echo "ok   a second run of the same worker skips"
wait

echo "-- alerts by NOTIFY"
bin/meter-etl-load -d pipe_four "$WORK/poison.csv" >/dev/null 2>&1 || true
q pipe_four "SELECT meter_etl.retry_dead_letter(file_id) FROM meter_etl.raw_file WHERE file_name = 'poison.csv'" >/dev/null
out=$(psql -X -q -d pipe_four -c "LISTEN meter_etl_alert" -c "CALL meter_etl.run_pipeline(worker => 'n')" -c "SELECT 1" 2>&1)
payload=$(echo "$out" | sed -n 's/^Asynchronous notification "meter_etl_alert" with payload "\(.*\)" received from server process.*/\1/p' | head -1)
[ -n "$payload" ] || fail "no notification: $out"
check "NOTIFY payload is JSON with kind and file" "file_dead_letter|critical|t" \
  "$(q pipe_four "SELECT (p->>'kind') || '|' || (p->>'severity') || '|' || CASE WHEN p->>'file_id' IS NOT NULL THEN 't' ELSE 'f' END FROM (SELECT \$j\$$payload\$j\$::jsonb AS p) x")"

echo "-- crash safety: kill -9 in the middle of a large ingest"
bin/meter-etl-gen --meters 20000 --days 2 --seed 77 --out "$WORK/big.csv" 2>/dev/null
for db in crash_ref crash_kill; do
  newdb "$db"
  bin/meter-etl-load -d "$db" "$WORK/big.csv" >/dev/null
done
q crash_ref "CALL meter_etl.run_pipeline()"
psql -X -q -d crash_kill -c "CALL meter_etl.run_pipeline(worker => 'victim')" >/dev/null 2>&1 &
victim=""
for i in $(seq 1 100); do
  victim=$(q postgres "SELECT pid FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'crash_kill' AND p.bytes_processed > 0" || true)
  [ -n "$victim" ] && break
  sleep 0.1
done
[ -n "$victim" ] || fail "ingest did not start"
sleep 1
kill -9 "$victim"
wait || true
for i in $(seq 1 60); do
  pg_isready -q && q postgres "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.5
done
echo "ok   server back after the crash"
check "nothing stored by the killed ingest" "0" "$(q crash_kill "SELECT count(*) FROM meter_etl.reading")"
check "the killed file is still claimed" "processing|1" "$(q crash_kill "SELECT status || '|' || attempts FROM meter_etl.raw_file")"
q crash_kill "CALL meter_etl.run_pipeline()"
check "after a rerun: same as the uninterrupted run" "$(summary crash_ref)" "$(summary crash_kill)"
check "the interrupted attempt is recorded as crashed" "crashed,ok" \
  "$(q crash_kill "SELECT string_agg(status, ',' ORDER BY run_id) FROM meter_etl.pipeline_run")"

echo "-- pg_cron: a scheduled run processes a staged file"
if q postgres "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron'" | grep -q 1 &&
   [ "$(q postgres "SHOW cron.database_name" 2>/dev/null)" = postgres ]; then
  q postgres "CREATE EXTENSION IF NOT EXISTS pg_cron" >/dev/null
  q postgres "DROP EXTENSION IF EXISTS meter_etl CASCADE" >/dev/null 2>&1
  q postgres "CREATE EXTENSION meter_etl" >/dev/null
  fid=$(bin/meter-etl-load -d postgres "$WORK/f1.csv" | cut -f1)
  q postgres "SELECT meter_etl.schedule('1 minute', 2, archive_at => '30 2 * * *')" >/dev/null
  check "jobs registered (2 workers, history prune, archive)" "4" \
    "$(q postgres "SELECT count(*) FROM cron.job WHERE jobname LIKE 'meter_etl%'")"
  check "the archive job runs daily" "30 2 * * *" \
    "$(q postgres "SELECT schedule FROM cron.job WHERE jobname = 'meter_etl_archive'")"
  status=""
  for i in $(seq 1 90); do
    status=$(q postgres "SELECT status FROM meter_etl.raw_file WHERE file_id = $fid")
    [ "$status" = ingested ] && break
    sleep 1
  done
  check "scheduled run ingested the file" "ingested" "$status"
  check "pg_cron recorded a successful run" "t" \
    "$(q postgres "SELECT bool_or(status = 'succeeded') FROM cron.job_run_details WHERE command LIKE '%run_pipeline%'")"
  # the archive job's command, run as pg_cron would run it: the file's days were
  # never archived, so it archives them (catch-up) besides the last two days
  mkdir -p "$WORK/archive" && chmod 777 "$WORK/archive"
  cmd=$(q postgres "SELECT command FROM cron.job WHERE jobname = 'meter_etl_archive'")
  PGOPTIONS="-c meter_etl.archive_dir=$WORK/archive" q postgres "$cmd" >/dev/null
  check "the archive job archived every day of the file (readings and estimates)" "t" \
    "$(q postgres "SELECT count(*) > 0 AND bool_and(m.rows = (SELECT count(*) FROM meter_etl.reading r
                                                      WHERE r.ts >= m.day AND r.ts < m.day + 1)
                                            + (SELECT count(*) FROM meter_etl.estimate e
                                                WHERE e.ts >= m.day AND e.ts < m.day + 1
                                                  AND NOT EXISTS (SELECT 1 FROM meter_etl.reading r
                                                                   WHERE r.meter_key = e.meter_key AND r.channel_id = e.channel_id
                                                                     AND r.ts = e.ts)))
                     FROM (SELECT day, sum(rows) AS rows FROM meter_etl.archive_manifest GROUP BY day) m")"
  check "... and every day with readings has files" "0" \
    "$(q postgres "SELECT count(*) FROM (SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date AS d FROM meter_etl.reading) r
                    WHERE NOT EXISTS (SELECT 1 FROM meter_etl.archive_manifest m WHERE m.day = r.d)")"
  check "unschedule removes the jobs" "4" "$(q postgres "SELECT meter_etl.unschedule()")"
  q postgres "DROP EXTENSION meter_etl CASCADE" >/dev/null
else
  echo "skip pg_cron: not preloaded for database postgres"
fi
for db in pipe_one pipe_four crash_ref crash_kill; do
  psql -X -q -d postgres -c "DROP DATABASE $db"
done
echo "== pipeline end-to-end tests passed"
