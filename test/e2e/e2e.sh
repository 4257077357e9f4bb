#!/usr/bin/env bash
# End-to-end tests on a running server (PG* variables set, e.g. by
# pg_virtualenv): the generated fleet against its ground-truth labels, the
# client streaming files, real vendor files read in place, the server-side
# inbox confinement, and the README reference against the catalog.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. test/e2e/lib_e2e.sh
. test/lib_real.sh
e2e_setup meter_etl_e2e

q "CREATE EXTENSION meter_etl"

echo "-- generated fleet against its ground truth"
bin/meter-etl-gen --meters 300 --days 7 --faults heavy --seed 7 \
  --out "$WORK/fleet.csv" --labels "$WORK/labels.csv" 2>/dev/null
out=$(bin/meter-etl-load --ingest "$WORK/fleet.csv")
fid=$(echo "$out" | cut -f1)
echo "$out" | grep -q "new" || fail "first load should be new: $out"
label() { awk -F, -v k="$1" 'NR > 1 && $1 == k' "$WORK/labels.csv" | wc -l | tr -d ' '; }
reasons="negative_value bad_timestamp bad_value missing_value bad_unit implausible_value
         off_grid_timestamp timestamp_out_of_range missing_field duplicate_conflict"
for r in $reasons; do
  check "quarantined $r = labelled" "$(label "$r")" \
    "$(q "SELECT count(*) FROM meter_etl.quarantine WHERE file_id = $fid AND reason = '$r'")"
done
check "duplicates = labelled" "$(label duplicate)" \
  "$(q "SELECT rows_duplicate FROM meter_etl.ingest_run WHERE file_id = $fid AND status = 'ok'")"
check "readings read = data lines" "$(( $(wc -l < "$WORK/fleet.csv") - 1 ))" \
  "$(q "SELECT readings_read FROM meter_etl.ingest_run WHERE file_id = $fid AND status = 'ok'")"
check "balanced" "t" \
  "$(q "SELECT readings_read = rows_clean + rows_quarantined + rows_duplicate FROM meter_etl.ingest_run WHERE file_id = $fid AND status = 'ok'")"
# the quarantine names exactly the labelled lines, with the labelled reason
awk -F, -v rs="$reasons" 'BEGIN { n = split(rs, a, /[ \n]+/); for (i = 1; i <= n; i++) want[a[i]] = 1 }
  NR > 1 && ($1 in want) { print $1 "," $3 }' "$WORK/labels.csv" | sort > "$WORK/want.txt"
q "SELECT reason || ',' || line_no FROM meter_etl.quarantine WHERE file_id = $fid" | sort > "$WORK/got.txt"
diff -q "$WORK/want.txt" "$WORK/got.txt" >/dev/null || { diff "$WORK/want.txt" "$WORK/got.txt" | head; fail "quarantine lines differ from labels"; }
echo "ok   quarantine lines = labelled lines ($(wc -l < "$WORK/got.txt"))"
check "clean values kept in kW" "0" \
  "$(q "SELECT count(*) FROM meter_etl.reading WHERE file_id = $fid AND (kw < 0 OR kw > 100)")"
out=$(bin/meter-etl-load --ingest "$WORK/fleet.csv" 2>&1)
echo "$out" | grep -q "existing" || fail "re-load should find the existing file: $out"
check "re-ingest changes nothing" "1" "$(q "SELECT count(*) FROM meter_etl.ingest_run WHERE file_id = $fid")"

echo "-- client: an ingest that fails keeps the staged file and says so"
printf 'meter_id,timestamp,value,unit\nC9,2024-01-01T00:00:00Z,1,kW\n' > "$WORK/new.csv"
rc=0; out=$(bin/meter-etl-load --ingest -f nope "$WORK/new.csv" 2>"$WORK/client.err") || rc=$?
check "exit status of a failed ingest" "1" "$rc"
cid=$(echo "$out" | cut -f1)
check "the printed id committed, staged" "staged" "$(q "SELECT status FROM meter_etl.raw_file WHERE file_id = ${cid:-0}")"
echo "$out" | grep -q "ingest failed" || fail "no 'ingest failed' on the file's line: $out"
grep -q "staged as raw file $cid (kept), but ingest failed" "$WORK/client.err" || fail "stderr: $(cat "$WORK/client.err")"
check "the file ingests with the right format" "ok" "$(q "SELECT status FROM meter_etl.ingest($cid, 'generic')")"

echo "-- client streams a multi-chunk file, bytes unchanged"
bin/meter-etl-gen --meters 40 --days 7 --faults none --seed 3 --out "$WORK/big.csv" 2>/dev/null
out=$(bin/meter-etl-load -s e2e "$WORK/big.csv")
bid=$(echo "$out" | cut -f1)
check "chunks" "t" "$(q "SELECT chunk_count >= 2 FROM meter_etl.raw_file WHERE file_id = $bid")"
check "sha256 of stored bytes" "$(sha256sum "$WORK/big.csv" | cut -d' ' -f1)" \
  "$(q "SELECT encode(meter_etl.raw_sha256($bid), 'hex')")"
check "size" "$(stat -c %s "$WORK/big.csv")" "$(q "SELECT size_bytes FROM meter_etl.raw_file WHERE file_id = $bid")"

echo "-- server-side inbox: confined to meter_etl.inbox_dir"
mkdir -p "$WORK/inbox/sub" "$WORK/outside"
chmod 755 "$WORK/inbox" "$WORK/inbox/sub" "$WORK/outside"
printf 'meter_id,timestamp,value,unit\nI1,2024-01-01T00:00:00Z,1,kW\n' > "$WORK/inbox/ok.csv"
printf 'secret\n' > "$WORK/outside/secret.csv"
chmod 644 "$WORK/inbox/ok.csv" "$WORK/outside/secret.csv"
ln -s "$WORK/outside/secret.csv" "$WORK/inbox/link-out.csv"
ln -s "$WORK/inbox/ok.csv" "$WORK/inbox/sub/link-in.csv"
refused "inbox unset" "SELECT meter_etl.stage_server_file('ok.csv')" "inbox_dir is not set"
psql -X -q -c "LOAD 'meter_etl'" -c "ALTER SYSTEM SET meter_etl.inbox_dir = '$WORK/inbox'"
q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
iid=$(q "SELECT meter_etl.stage_server_file('ok.csv', 'inbox')")
check "relative path inside" "staged" "$(q "SELECT status FROM meter_etl.raw_file WHERE file_id = $iid")"
check "symlink staying inside" "$iid" "$(q "SELECT meter_etl.stage_server_file('sub/link-in.csv')" 2>/dev/null | tail -1)"
refused "dot-dot" "SELECT meter_etl.stage_server_file('sub/../ok.csv')" 'must not contain ".."'
refused "absolute path elsewhere" "SELECT meter_etl.stage_server_file('$WORK/outside/secret.csv')" "outside meter_etl.inbox_dir"
refused "symlink leading out" "SELECT meter_etl.stage_server_file('link-out.csv')" "outside meter_etl.inbox_dir"
refused "directory" "SELECT meter_etl.stage_server_file('sub')" "not a regular file"
refused "missing file" "SELECT meter_etl.stage_server_file('nope.csv')" "could not open file"
# scan_inbox: new and changed files only; hidden, partial and too-young files wait
printf 'meter_id,timestamp,value,unit\nI2,2024-01-01T00:00:00Z,2,kW\n' > "$WORK/inbox/sub/deep.csv"
printf 'meter_id,timestamp,value,unit\nI3,2024-01-01T00:00:00Z,3,kW\n' > "$WORK/inbox/.hidden.csv"
printf 'meter_id,timestamp,value,unit\nI4,2024-01' > "$WORK/inbox/upload.csv.part"
chmod 644 "$WORK"/inbox/sub/deep.csv "$WORK"/inbox/.hidden.csv "$WORK"/inbox/upload.csv.part
check "scan_inbox stages what landed" "ok.csv|f,sub/deep.csv|t,sub/link-in.csv|f" \
  "$(q "SELECT string_agg(path || '|' || CASE WHEN is_new THEN 't' ELSE 'f' END, ',' ORDER BY path) FROM meter_etl.scan_inbox(min_age => '0')")"
check "a second scan finds nothing new" "0" "$(q "SELECT count(*) FROM meter_etl.scan_inbox(min_age => '0')")"
check "files younger than min_age wait" "0" "$(q "SELECT count(*) FROM meter_etl.scan_inbox(min_age => '1 hour')")"
out=$(psql -X -q -At -c "SELECT count(*) FROM meter_etl.scan_inbox(min_age => NULL)" 2>&1 || true)
echo "$out" | grep -q "min_age must not be null" || fail "scan_inbox(NULL): $out"
echo "ok   scan_inbox refuses a NULL min_age"
printf 'meter_id,timestamp,value,unit\nI2,2024-01-01T00:15:00Z,5,kW\n' > "$WORK/inbox/sub/deep.csv"
touch -d '2 minutes ago' "$WORK/inbox/sub/deep.csv"
check "a changed file is staged again" "sub/deep.csv|t" \
  "$(q "SELECT string_agg(path || '|' || CASE WHEN is_new THEN 't' ELSE 'f' END, ',') FROM meter_etl.scan_inbox(min_age => '0')")"
printf 'meter_id,timestamp,value,unit\nI5,2024-01-01T00:00:00Z,5,kW\n' > "$WORK/inbox/late.csv"
chmod 644 "$WORK/inbox/late.csv"
touch -d '1 minute ago' "$WORK/inbox/late.csv"
psql -X -q -c "CALL meter_etl.run_pipeline()" >/dev/null
check "run_pipeline scans the inbox first" "ingested" \
  "$(q "SELECT f.status FROM meter_etl.inbox_file i JOIN meter_etl.raw_file f USING (file_id) WHERE i.path = 'late.csv'")"
q "CREATE ROLE e2e_plain LOGIN" >/dev/null
refused "not for ordinary roles" "SET ROLE e2e_plain; SELECT meter_etl.stage_server_file('ok.csv')" "permission denied"
psql -X -q -c "LOAD 'meter_etl'" -c "ALTER SYSTEM RESET meter_etl.inbox_dir"
q "SELECT pg_reload_conf()" >/dev/null

if [ -d "$REAL" ]; then
  echo "-- real vendor files, read in place from $REAL"
  real() { bin/meter-etl-load --ingest -s real "$REAL/$1" | cut -f4; }
  check "LCL MAC000002" "format=lcl read=17520 clean=17520 quarantined=0 duplicate=0" \
    "$(real lcl_london_halfhourly/MAC000002.csv)"
  check "LCL MAC000037 (dead meter, zeros are valid readings)" "format=lcl read=17519 clean=17519 quarantined=0 duplicate=0" \
    "$(real lcl_london_halfhourly/MAC000037.csv)"
  check "UCI (? markers, truncated last line)" "format=uci read=15923 clean=15920 quarantined=3 duplicate=0" \
    "$(real uci_household_power/household_power_consumption_2006-12_first1MiB.txt)"
  check "ESB HDF (import and export, newest first)" "format=esb_hdf read=21505 clean=21505 quarantined=0 duplicate=0" \
    "$(real esb_ireland_hdf/HDF_EXAMPLE_kW_2023.csv)"
  check "wide (Jemena)" "format=wide_au read=144 clean=144 quarantined=0 duplicate=0" \
    "$(real au_vic_meter_exports/example-01-vic-jemena-web-22112014.csv)"
  # both Victorian samples use the dummy NMI 1111111111 with different values
  # for 1-3 July 2014: the NEM12 readings for those days are conflicts
  check "NEM12 (same dummy NMI as the Jemena sample)" "format=nem12 read=17520 clean=17376 quarantined=144 duplicate=0" \
    "$(real au_vic_meter_exports/example-03-vic-ausnetservices-email-16122014-NEM12.csv)"
  check "NEM12 conflicts are the Jemena days" "144" \
    "$(q "SELECT count(*) FROM meter_etl.quarantine q JOIN meter_etl.raw_file f USING (file_id) WHERE f.file_name LIKE '%NEM12%' AND q.reason = 'duplicate_conflict' AND q.ts >= '2014-06-30 14:00+00' AND q.ts < '2014-07-03 14:00+00'")"
  check "NEM12 conflicts carry their raw line, a 300 record of those days (#18)" "144" \
    "$(q "SELECT count(*) FROM meter_etl.quarantine q JOIN meter_etl.raw_file f USING (file_id)
           WHERE f.file_name LIKE '%NEM12%' AND q.reason = 'duplicate_conflict'
             AND q.raw_line = meter_etl.raw_line(q.file_id, q.line_no) AND q.raw_line LIKE '300,2014070%'")"
  check "narrow (Red Energy, no final newline)" "format=au_interval_csv read=8 clean=8 quarantined=0 duplicate=0" \
    "$(real au_vic_meter_exports/example-02-vic-redenergy-email-04022014.csv)"
  pecan_csv=$REAL/pecan_austin_15min/15minute_data_austin.csv
  [ -f "$pecan_csv" ] || pecan_csv=$REAL/pecan_15min/15minute_data_austin.csv
  # solar's night standby (-0.001 to -0.068 kW, half of its readings) is
  # within the channel's tolerance: stored as 0 kW, edited, not quarantined
  check "Pecan Street (solar's night standby stored as 0 kW)" "format=pecan_15min read=131080 clean=130044 quarantined=1036 duplicate=0" \
    "$(bin/meter-etl-load --ingest -s real "$pecan_csv" | cut -f4)"
  pecan_q="FROM meter_etl.quarantine q JOIN meter_etl.raw_file f USING (file_id) WHERE f.file_name LIKE '%15minute_data_austin%'"
  pecan_r="FROM meter_etl.v_reading v JOIN meter_etl.raw_file f USING (file_id) WHERE f.file_name LIKE '%15minute_data_austin%'"
  check "Pecan: quarantined by reason" 'missing_field - 4, missing_value net 512, missing_value solar 512, nonexistent_local_time net 4, nonexistent_local_time solar 4' \
    "$(q "SELECT string_agg(reason || ' ' || channel || ' ' || n, ', ' ORDER BY reason, channel) FROM (SELECT reason, coalesce(channel, '-') AS channel, count(*) AS n $pecan_q GROUP BY 1, 2) r")"
  check "Pecan: no negative_value (solar within its 0.1 kW, net signed)" "0" "$(q "SELECT count(*) $pecan_q AND q.reason = 'negative_value'")"
  check "Pecan: solar readings stored as 0 kW, edited" "32245" \
    "$(q "SELECT count(*) $pecan_r AND v.channel = 'solar' AND 'edited' = ANY (v.flag_names) AND v.kw = 0")"
  check "Pecan: no other reading edited" "32245" "$(q "SELECT count(*) $pecan_r AND 'edited' = ANY (v.flag_names)")"
  # the edited readings are exactly the lines whose solar field is a small
  # negative, less the lines quarantined for another reason (no meter id,
  # the skipped DST hour)
  awk -F, 'NR > 1 && $5 != "" && $5 + 0 < 0 && $5 + 0 >= -0.1 { print NR }' "$pecan_csv" | sort > "$WORK/pecan_small_neg.txt"
  q "SELECT DISTINCT q.line_no $pecan_q AND q.channel IS DISTINCT FROM 'net'" | sort > "$WORK/pecan_quarantined.txt"
  q "SELECT v.line_no $pecan_r AND v.channel = 'solar' AND 'edited' = ANY (v.flag_names)" | sort > "$WORK/pecan_edited.txt"
  comm -23 "$WORK/pecan_small_neg.txt" "$WORK/pecan_quarantined.txt" > "$WORK/pecan_want.txt"
  diff -q "$WORK/pecan_want.txt" "$WORK/pecan_edited.txt" >/dev/null \
    || { diff "$WORK/pecan_want.txt" "$WORK/pecan_edited.txt" | head; fail "Pecan: edited solar lines differ from the small negatives of the file"; }
  echo "ok   Pecan: edited solar readings = the file's lines with a solar value in [-0.1, 0) ($(wc -l < "$WORK/pecan_edited.txt"))"
  check "Pecan: the raw line keeps the value (the first edited readings)" "-0.002 -0.002 -0.002 -0.003 -0.006" \
    "$(q "SELECT string_agg(split_part(meter_etl.raw_line(file_id, line_no), ',', 5), ' ' ORDER BY line_no)
            FROM (SELECT v.file_id, v.line_no $pecan_r AND v.channel = 'solar' AND 'edited' = ANY (v.flag_names)
                   ORDER BY v.line_no LIMIT 5) e")"
  check "Pecan: net (signed) keeps its negatives" "15962" "$(q "SELECT count(*) $pecan_r AND v.channel = 'net' AND v.kw < 0 AND v.flags = 0")"
  # as the README's quick start does it, from psql on the server's files
  newuser=$(psql -X -q -At -v ON_ERROR_STOP=1 -d postgres <<SQL
CREATE DATABASE meter_etl_newuser;
\c meter_etl_newuser
CREATE EXTENSION meter_etl;
SELECT format || ' ' || rows_clean || ' ' || rows_quarantined
  FROM meter_etl.ingest(meter_etl.stage('MAC000041.csv', pg_read_binary_file('$REAL/lcl_london_halfhourly/MAC000041.csv')));
SELECT format || ' ' || rows_clean || ' ' || rows_quarantined
  FROM meter_etl.ingest(meter_etl.stage('household_power.txt',
       pg_read_binary_file('$REAL/uci_household_power/household_power_consumption_2006-12_first1MiB.txt')));
SELECT count(DISTINCT meter_id) FROM meter_etl.v_reading;
\c postgres
DROP DATABASE meter_etl_newuser;
SQL
)
  check "a new user ingests LCL and UCI files from psql" "$(printf 'lcl 17518 0\nuci 15920 3\n2')" "$newuser"
  check "ESB import series" "14681" \
    "$(q "SELECT count(*) FROM meter_etl.v_reading v JOIN meter_etl.raw_file f USING (file_id) WHERE f.file_name LIKE 'HDF%' AND v.channel = 'import'")"
  check "NEM12 zeros kept (outside the conflict days)" "56" \
    "$(q "SELECT count(*) FROM meter_etl.v_reading v JOIN meter_etl.raw_file f USING (file_id) WHERE f.file_name LIKE '%NEM12%' AND v.kw = 0")"
  check "every real file balanced" "t" "$(q "SELECT bool_and(balanced) FROM meter_etl.v_file_accounting WHERE status = 'ingested'")"
else
  real_missing "real vendor files" "not found at $REAL"
fi

echo "-- a database that is not UTF8 is refused with a clear error"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS meter_etl_latin1" \
  -c "CREATE DATABASE meter_etl_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
out=$(psql -X -q -At -d meter_etl_latin1 -c "CREATE EXTENSION meter_etl" \
        -c "SELECT meter_etl.ingest(meter_etl.stage('l.csv', convert_to('meter_id,timestamp,value,unit', 'LATIN1')))" 2>&1 || true)
echo "$out" | grep -q "requires a UTF8 database" || fail "ingest in a LATIN1 database: $out"
psql -X -q -d postgres -c "DROP DATABASE meter_etl_latin1"
echo "ok   ingest refuses a LATIN1 database"

echo "-- logging in as each role over TCP"
q "DROP ROLE IF EXISTS e2e_loader; DROP ROLE IF EXISTS e2e_reader" >/dev/null 2>&1 || true
q "CREATE ROLE e2e_loader LOGIN PASSWORD 'l0ader' IN ROLE meter_etl_loader" >/dev/null
q "CREATE ROLE e2e_reader LOGIN PASSWORD 'r3ader' IN ROLE meter_etl_reader" >/dev/null
as_role() { PGPASSWORD=$2 psql -X -q -At -h localhost -U "$1" -d meter_etl_e2e -c "$3" 2>&1 || true; }
denied() { local out; out=$(as_role "$1" "$2" "$3"); echo "$out" | grep -q "permission denied" || fail "$1 was allowed: $3 ($out)"; }
printf 'meter_id,timestamp,value,unit\nL1,2024-01-01T00:00:00Z,1,kW\n' > "$WORK/login.csv"
out=$(PGPASSWORD=l0ader bin/meter-etl-load -d "host=localhost user=e2e_loader dbname=meter_etl_e2e" "$WORK/login.csv")
echo "$out" | grep -q "new" || fail "loader could not stage: $out"
echo "ok   loader logs in and stages with the client"
out=$(as_role e2e_loader l0ader "SELECT count(*) FROM meter_etl.v_reading"); echo "$out" | grep -q "permission denied" || fail "loader read a view: $out"
echo "ok   loader cannot read results"
[ "$(as_role e2e_reader r3ader "SELECT count(*) > 0 FROM meter_etl.v_reading")" = t ] || fail "reader cannot read v_reading"
echo "ok   reader logs in and reads v_reading"
denied e2e_reader r3ader "SELECT count(*) FROM meter_etl.reading"
denied e2e_reader r3ader "SELECT meter_etl.stage('x', '')"
echo "ok   reader cannot read tables or stage"
q "DROP ROLE e2e_loader; DROP ROLE e2e_reader" >/dev/null 2>&1 || true

echo "-- pg_dump and restore keep the raw zone, the store and the accounting"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS meter_etl_e2e_copy" -c "CREATE DATABASE meter_etl_e2e_copy"
pg_dump -X --disable-triggers meter_etl_e2e 2>/dev/null > "$WORK/dump.sql" || pg_dump --disable-triggers meter_etl_e2e > "$WORK/dump.sql"
psql -X -q -v ON_ERROR_STOP=1 -d meter_etl_e2e_copy -f "$WORK/dump.sql" >/dev/null 2>"$WORK/restore.err" || { cat "$WORK/restore.err"; fail "restore failed"; }
for t in raw_file raw_chunk reading quarantine ingest_run meter pipeline_run; do
  check "restored $t" "$(q "SELECT count(*) FROM meter_etl.$t")" \
    "$(psql -X -q -At -d meter_etl_e2e_copy -c "SELECT count(*) FROM meter_etl.$t")"
done
check "restored bytes hash the same" "$(q "SELECT encode(meter_etl.raw_sha256($fid), 'hex')")" \
  "$(psql -X -q -At -d meter_etl_e2e_copy -c "SELECT encode(meter_etl.raw_sha256($fid), 'hex')")"
psql -X -q -d postgres -c "DROP DATABASE meter_etl_e2e_copy"

echo "-- the README documents every reason code, flag and setting"
for code in $(q "SELECT code FROM meter_etl.reason_code"); do
  grep -q "\`$code\`" README.md || fail "README does not document reason code $code"
done
for flag in $(q "SELECT name FROM meter_etl.quality_flag"); do
  grep -q "\`$flag\`" README.md || fail "README does not document quality flag $flag"
done
q "LOAD 'meter_etl'" >/dev/null
for guc in $(psql -X -q -At -c "LOAD 'meter_etl'" -c "SELECT name FROM pg_settings WHERE name LIKE 'meter_etl.%'"); do
  grep -q "\`$guc\`" README.md || fail "README does not document setting $guc"
done
# every function, table and view of the schema (daily partitions aside)
for obj in $(q "SELECT DISTINCT p.proname FROM pg_proc p WHERE p.pronamespace = 'meter_etl'::regnamespace
                UNION SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'meter_etl'::regnamespace
                   AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relname !~ '^reading_p[0-9]{8}\$'"); do
  grep -q "\`$obj[\`(]" README.md || fail "README does not document $obj"
  nobj=$(( ${nobj:-0} + 1 ))
done
echo "ok   README reference complete (reason codes, flags, settings, $nobj functions, tables and views)"
# the settings table's defaults are the settings' boot values (one default,
# one place: the C #define the setting boots with)
awk -F'|' '/^\| `meter_etl\./ { gsub(/[` ]/, "", $2); d = $3; gsub(/^ +| +$/, "", d); print $2 "\t" d }' README.md \
  > "$WORK/readme_defaults.tsv"
bad=$(psql -X -q -At -c "LOAD 'meter_etl'" -c "CREATE TEMP TABLE rd (name text, doc text)" \
  -c "\\copy rd FROM '$WORK/readme_defaults.tsv'" -c "
  SELECT rd.name || ': README says ' || rd.doc || ', boots with ' || s.boot_val || coalesce(' ' || s.unit, '')
    FROM rd JOIN pg_settings s ON s.name = rd.name
   WHERE NOT CASE
     WHEN rd.doc = 'empty (off)' THEN s.boot_val = ''
     WHEN s.unit = 's' THEN rd.doc::interval = make_interval(secs => s.boot_val::float8)
     WHEN s.unit = 'B' THEN pg_size_bytes(rd.doc) = s.boot_val::bigint
     WHEN s.vartype IN ('integer', 'real') THEN rd.doc::float8 = s.boot_val::float8
     ELSE rd.doc = s.boot_val END")
[ -z "$bad" ] || fail "README settings table disagrees with the boot values: $bad"
check "README settings defaults = boot values" "$(q "LOAD 'meter_etl'" >/dev/null; psql -X -q -At -c "LOAD 'meter_etl'" -c "SELECT count(*) FROM pg_settings WHERE name LIKE 'meter_etl.%'")" \
  "$(wc -l < "$WORK/readme_defaults.tsv" | tr -d ' ')"
psql -X -q -d postgres -c "DROP DATABASE meter_etl_e2e"
q "DROP ROLE IF EXISTS e2e_plain" -d postgres >/dev/null 2>&1 || true
echo "== end-to-end tests passed"
