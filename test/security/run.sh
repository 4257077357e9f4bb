#!/usr/bin/env bash
# The attack suite, on a running server (PG* variables of a superuser set,
# e.g. by pg_virtualenv).  Four real logins -- one per meter_etl role
# (reader, loader, admin) and one with none of them -- connect over TCP and
# try what an attacker holding that role would: shadow every table and
# function a SECURITY DEFINER path uses in their temporary schema, create
# objects in schema meter_etl or public, set the settings that open
# directories or widen the rules, leave the inbox and the archive through
# "..", absolute paths, symlinks, sibling prefixes and FIFOs, write the raw
# zone, and read the raw zone or the quarantine.  Every attack must fail.
# Afterwards a superuser proves that no role gained an attribute or a
# membership, that none owns an object, and that no raw byte changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/e2e/lib_e2e.sh
e2e_setup meter_etl_security
DB=$PGDATABASE
ROLES="atk_reader atk_loader atk_admin atk_archiver atk_nobody"
PW="attack-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
passed=0 failed=0 skipped=0

ok()   { passed=$((passed + 1)); echo "ok   $*"; }
bad()  { failed=$((failed + 1)); echo "FAIL $*"; }
skip() { skipped=$((skipped + 1)); echo "skip $*"; }

# run SQL (a string, or a file with -f) as one of the attack logins, in one
# session; prints everything the server said
as_role() {
  local role=$1; shift
  PGUSER=$role PGPASSWORD=$PW PGHOST=${PGHOST:-localhost} \
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@" 2>&1
}

# attack ROLE WHAT PATTERN SQL: SQL must fail with an error matching PATTERN
attack() {
  local role=$1 what=$2 pattern=$3 sql=$4 out
  if out=$(as_role "$role" -c "$sql"); then
    bad "$role: $what: succeeded: $(echo "$out" | head -2 | tr '\n' ' ')"
  elif echo "$out" | grep -q "SHADOW_USED"; then
    bad "$role: $what: a shadow ran: $(echo "$out" | grep SHADOW_USED | head -1)"
  elif ! echo "$out" | grep -q -- "$pattern"; then
    bad "$role: $what: expected an error matching '$pattern', got: $(echo "$out" | head -2 | tr '\n' ' ')"
  else
    ok "$role: $what (refused: $(echo "$out" | grep ERROR | head -1 | sed 's/^.*ERROR: *//'))"
  fi
}

# shadowed ROLE WHAT SQL: with every shadow in place, SQL (work the role may
# do) must succeed and no shadow may run
shadowed() {
  local role=$1 what=$2 sql=$3 out rc=0
  { cat "$WORK/shadow_objects.sql"; echo "$sql"; } > "$WORK/shadowed.sql"
  out=$(as_role "$role" -f "$WORK/shadowed.sql") || rc=$?
  if echo "$out" | grep -q "SHADOW_USED"; then
    bad "$role: $what: a shadow ran: $(echo "$out" | grep SHADOW_USED | head -1)"
  elif [ $rc -ne 0 ]; then
    bad "$role: $what: failed under shadows: $(echo "$out" | grep ERROR | head -1)"
  else
    ok "$role: $what: no shadow ran ($(grep -c '^CREATE' "$WORK/shadow_objects.sql") temporary objects)"
  fi
}

# expect ROLE WHAT EXPECTED SQL: the last line SQL (a script) prints must be EXPECTED
expect() {
  local role=$1 what=$2 want=$3 out
  echo "$4" > "$WORK/expect.sql"
  out=$(as_role "$role" -f "$WORK/expect.sql" | grep -v '^WARNING\|^DETAIL\|^HINT\|^CONTEXT\|^psql:' | tail -1) || true
  if [ "$out" = "$want" ]; then ok "$role: $what ($out)"; else bad "$role: $what: expected '$want', got '$out'"; fi
}

csv() { printf "meter_id,timestamp,value,unit\n%s,2024-01-01T00:00:00Z,%s,kW\n" "$1" "$2"; }
bytes() { echo "convert_to(E'$(csv "$1" "$2" | sed 's/$/\\n/' | tr -d '\n')', 'UTF8')"; }

echo "-- setup: the extension, four logins, a staged and ingested file"
q "CREATE EXTENSION meter_etl" >/dev/null
for r in $ROLES; do
  q "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
done
q "CREATE ROLE atk_reader LOGIN PASSWORD '$PW' IN ROLE meter_etl_reader;
   CREATE ROLE atk_loader LOGIN PASSWORD '$PW' IN ROLE meter_etl_loader;
   CREATE ROLE atk_admin  LOGIN PASSWORD '$PW' IN ROLE meter_etl_admin;
   CREATE ROLE atk_nobody LOGIN PASSWORD '$PW';
   -- an admin trusted to write the Parquet archive on the server
   CREATE ROLE atk_archiver LOGIN PASSWORD '$PW' IN ROLE meter_etl_admin, pg_write_server_files;" >/dev/null
cleanup() {
  rm -rf "$WORK"
  for r in $ROLES; do
    psql -X -q -d "$DB" -c "DROP OWNED BY $r" >/dev/null 2>&1 || true
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
fid=$(q "SELECT meter_etl.stage('first.csv', $(bytes F1 1.5))")
q "SELECT status FROM meter_etl.ingest($fid)" >/dev/null
alien=$(q "SELECT meter_etl.stage_begin('alien.csv')")
psql -X -q -d "$DB" -f test/security/shadow.sql > "$WORK/shadow_objects.sql"
[ "$(grep -c '^CREATE TEMP VIEW' "$WORK/shadow_objects.sql")" -gt 10 ] || { echo "FAIL the shadow script is empty"; exit 1; }
# what must not change: the roles' attributes and memberships, and every raw byte
baseline() {
  q "SELECT string_agg(format('%s:%s%s%s%s%s', r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb,
                                r.rolreplication, r.rolbypassrls), ' ' ORDER BY r.rolname)
       || ' | ' || coalesce((SELECT string_agg(m.roleid::regrole || '>' || m.member::regrole, ' ' ORDER BY 1)
                               FROM pg_auth_members m
                              WHERE m.member::regrole::text LIKE 'atk\_%' OR m.roleid::regrole::text LIKE 'atk\_%'), '')
     FROM pg_roles r WHERE r.rolname LIKE 'atk\_%' OR r.rolname LIKE 'meter\_etl\_%'"
}
chunks() {
  q "SELECT count(*) || ' ' || coalesce(md5(string_agg(c.file_id || ':' || c.chunk_no || ':' || md5(c.data), ',' ORDER BY c.file_id, c.chunk_no)), '')
       FROM meter_etl.raw_chunk c WHERE c.file_id <= $fid"
}
roles_before=$(baseline)
chunks_before=$(chunks)

echo "-- the review's attack, verbatim: a loader's temporary view over raw_file"
as_role atk_loader -c "CREATE FUNCTION pg_temp.evil() RETURNS text LANGUAGE plpgsql
  AS \$\$BEGIN RAISE WARNING 'SHADOW_USED'; EXECUTE 'ALTER ROLE atk_loader SUPERUSER'; RETURN 'receiving'; END\$\$;
  CREATE TEMP VIEW raw_file AS
    SELECT g::bigint AS file_id, pg_temp.evil() AS status, 0 AS chunk_count FROM generate_series(1, 100) g;
  SELECT meter_etl.stage('x.csv', 'hello'::bytea);" > "$WORK/verbatim.out" 2>&1 || true
if grep -q SHADOW_USED "$WORK/verbatim.out" || [ "$(q "SELECT rolsuper FROM pg_roles WHERE rolname = 'atk_loader'")" = t ]; then
  bad "atk_loader: temporary view raw_file ran as the owner: $(head -3 "$WORK/verbatim.out" | tr '\n' ' ')"
else
  ok "atk_loader: temporary view raw_file is not used by stage() (loader is still not a superuser)"
fi

echo "-- every table and function a SECURITY DEFINER path uses, shadowed"
shadowed atk_loader "stage() of new bytes" "SELECT meter_etl.stage('sh1.csv', $(bytes SH1 1)) > 0;"
shadowed atk_loader "stage() of bytes staged before" "SELECT meter_etl.stage('sh1-again.csv', $(bytes SH1 1)) > 0;"
shadowed atk_loader "stage_begin / stage_chunk / stage_finish" \
  "SELECT meter_etl.stage_begin('sh2.csv') AS up \\gset
   SELECT meter_etl.stage_chunk(:up, 0, $(bytes SH2 2));
   SELECT is_new FROM meter_etl.stage_finish(:up);"
shadowed atk_loader "stage_finish of a duplicate upload (deletes it)" \
  "SELECT meter_etl.stage_begin('sh2-dup.csv') AS up \\gset
   SELECT meter_etl.stage_chunk(:up, 0, $(bytes SH2 2));
   SELECT is_new FROM meter_etl.stage_finish(:up);"
shadowed atk_admin "create_partitions() (runs as the owner)" "SELECT meter_etl.create_partitions('2031-01-01', '2031-01-02');"
shadowed atk_admin "ingest, with a new daily partition made by the owner" \
  "SELECT meter_etl.stage('sh3.csv', convert_to(E'meter_id,timestamp,value,unit\\nSH3,2024-02-03T00:00:00Z,1,kW\\n', 'UTF8')) AS f \\gset
   SELECT status FROM meter_etl.ingest(:f);"
shadowed atk_admin "run_pipeline (stage, claim, ingest, detect)" \
  "SELECT meter_etl.stage('sh4.csv', convert_to(E'meter_id,timestamp,value,unit\\nSH4,2024-02-04T00:00:00Z,1,kW\\n', 'UTF8'));
   CALL meter_etl.run_pipeline(scan => false);"

echo "-- writing the raw zone"
for r in atk_reader atk_loader atk_admin atk_nobody; do
  pat="permission denied"
  attack $r "INSERT a chunk" "$pat" "INSERT INTO meter_etl.raw_chunk VALUES ($fid, 7, '\\x00')"
  attack $r "UPDATE a chunk" "$pat" "UPDATE meter_etl.raw_chunk SET data = '\\x00' WHERE file_id = $fid"
  attack $r "DELETE chunks" "$pat" "DELETE FROM meter_etl.raw_chunk WHERE file_id = $fid"
  attack $r "TRUNCATE raw_chunk" "$pat" "TRUNCATE meter_etl.raw_chunk"
  attack $r "UPDATE a file's hash" "$pat" "UPDATE meter_etl.raw_file SET sha256 = '\\x00' WHERE file_id = $fid"
  attack $r "DELETE a file" "$pat" "DELETE FROM meter_etl.raw_file WHERE file_id = $fid"
done
attack atk_admin "the review's rewrite: temporary raw_file, then DELETE and INSERT chunks" "permission denied" \
  "CREATE TEMP TABLE raw_file (file_id bigint, status text, chunk_count integer);
   INSERT INTO raw_file VALUES ($fid, 'receiving', 0);
   DELETE FROM meter_etl.raw_chunk WHERE file_id = $fid;
   INSERT INTO meter_etl.raw_chunk VALUES ($fid, 0, 'other bytes');"
attack atk_admin "rename a staged file" "permission denied" \
  "UPDATE meter_etl.raw_file SET file_name = 'other.csv' WHERE file_id = $fid"
attack atk_admin "claim another user's file" "permission denied" \
  "UPDATE meter_etl.raw_file SET received_by = 'atk_admin' WHERE file_id = $fid"
attack atk_loader "SELECT from a result view" "permission denied" "SELECT count(*) FROM meter_etl.v_reading"
attack atk_admin "set a staged file back to receiving" "the raw zone is immutable" \
  "UPDATE meter_etl.raw_file SET status = 'receiving' WHERE file_id = $fid"
attack atk_admin "disable the raw zone's trigger" "must be owner" \
  "ALTER TABLE meter_etl.raw_chunk DISABLE TRIGGER raw_chunk_guard"
attack atk_admin "drop the raw zone's trigger" "must be owner" "DROP TRIGGER raw_chunk_guard ON meter_etl.raw_chunk"
attack atk_loader "append to another user's upload" "is not being received by this user" \
  "SELECT meter_etl.stage_chunk($alien, 0, 'x'::bytea)"
attack atk_loader "finish another user's upload" "is not being received by this user" \
  "SELECT meter_etl.stage_finish($alien)"
attack atk_loader "append to a file that finished staging" "is not being received by this user" \
  "SELECT meter_etl.stage_chunk($fid, 1, 'x'::bytea)"
attack atk_loader "replace a staging function" "must be owner\|permission denied" \
  "CREATE OR REPLACE FUNCTION meter_etl.stage_chunk(file_id bigint, chunk_no integer, data bytea) RETURNS void LANGUAGE sql AS 'SELECT'"

echo "-- reading what a role may not read"
for r in atk_reader atk_loader atk_nobody; do
  for t in raw_file raw_chunk quarantine reading meter ingest_run alert; do
    attack $r "SELECT from $t" "permission denied" "SELECT count(*) FROM meter_etl.$t"
  done
  attack $r "raw_line()" "permission denied" "SELECT meter_etl.raw_line($fid, 1)"
  attack $r "raw_sha256()" "permission denied" "SELECT meter_etl.raw_sha256($fid)"
  attack $r "COPY reading out" "permission denied" "COPY meter_etl.reading TO STDOUT"
done
attack atk_nobody "SELECT from a result view" "permission denied" "SELECT count(*) FROM meter_etl.v_reading"
attack atk_reader "stage()" "permission denied" "SELECT meter_etl.stage('r.csv', 'x'::bytea)"
attack atk_reader "ingest()" "permission denied" "SELECT meter_etl.ingest($fid)"
attack atk_loader "ingest()" "permission denied" "SELECT meter_etl.ingest($fid)"
attack atk_loader "run_pipeline()" "permission denied" "CALL meter_etl.run_pipeline()"
attack atk_nobody "stage()" "permission denied" "SELECT meter_etl.stage('n.csv', 'x'::bytea)"

echo "-- creating objects where the extension resolves names"
for r in $ROLES; do
  attack $r "CREATE TABLE in meter_etl" "permission denied" "CREATE TABLE meter_etl.raw_file_x (i int)"
  attack $r "CREATE FUNCTION in meter_etl" "permission denied" \
    "CREATE FUNCTION meter_etl.sha256(bytea) RETURNS bytea LANGUAGE sql AS 'SELECT \$1'"
  attack $r "CREATE TABLE in public" "permission denied" "CREATE TABLE public.raw_file (i int)"
  attack $r "CREATE ROLE" "permission denied" "CREATE ROLE atk_new"
done
attack atk_admin "grant itself another role" "must have admin option" "GRANT meter_etl_loader TO atk_admin"
attack atk_loader "grant itself the admin role" "must have admin option" "GRANT meter_etl_admin TO atk_loader"

echo "-- settings that open directories or widen the rules"
# each role loads the library with a function it may call, so that SET
# meets the setting's real definition
load_reader="SELECT count(*) FROM meter_etl.interpolate_array(ARRAY[now()], ARRAY[1.0::float8])"
load_admin=$load_reader
load_loader="SELECT (meter_etl.stage_finish(meter_etl.stage_begin('load.csv'))).is_new"
for r in reader loader admin; do
  load=load_$r
  for g in inbox_dir archive_dir max_kw min_timestamp future_tolerance grid_tolerance max_attempts; do
    attack atk_$r "SET meter_etl.$g" "permission denied to set parameter" "${!load}; SET meter_etl.$g = '/'"
  done
  attack atk_$r "ALTER ROLE ... SET meter_etl.inbox_dir" "permission denied" \
    "${!load}; ALTER ROLE atk_$r SET meter_etl.inbox_dir = '/'"
  attack atk_$r "set_config('meter_etl.archive_dir')" "permission denied to set parameter" \
    "${!load}; SELECT set_config('meter_etl.archive_dir', '/', false)"
done
# a placeholder set before the library loads is dropped when it loads
expect atk_loader "SET meter_etl.inbox_dir before the library loads is discarded" "" \
  "SET meter_etl.inbox_dir = '/';
   $load_loader \\g /dev/null
   SHOW meter_etl.inbox_dir;"

echo "-- leaving the inbox and the archive"
mkdir -p "$WORK/inbox/sub" "$WORK/inbox2" "$WORK/outside" "$WORK/archive" "$WORK/archive2"
chmod 755 "$WORK"/inbox "$WORK"/inbox/sub "$WORK"/inbox2 "$WORK"/outside "$WORK"/archive "$WORK"/archive2
csv I1 1 > "$WORK/inbox/ok.csv"; csv S1 9 > "$WORK/outside/secret.csv"; csv S2 9 > "$WORK/inbox2/sibling.csv"
chmod 644 "$WORK"/inbox/ok.csv "$WORK"/outside/secret.csv "$WORK"/inbox2/sibling.csv
ln -s "$WORK/outside/secret.csv" "$WORK/inbox/link-out.csv"
ln -s "$WORK/outside" "$WORK/inbox/dir-out"
chown -R postgres "$WORK/archive" "$WORK/archive2" 2>/dev/null || chmod 777 "$WORK/archive" "$WORK/archive2"
psql -X -q -d "$DB" -c "LOAD 'meter_etl'" -c "ALTER SYSTEM SET meter_etl.inbox_dir = '$WORK/inbox'" \
  -c "ALTER SYSTEM SET meter_etl.archive_dir = '$WORK/archive'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
expect atk_admin "a file inside the inbox stages" "t" "SELECT meter_etl.stage_server_file('ok.csv') > 0"
attack atk_admin "inbox: dot-dot" 'must not contain ".."' "SELECT meter_etl.stage_server_file('../outside/secret.csv')"
attack atk_admin "inbox: absolute path outside" "outside meter_etl.inbox_dir" \
  "SELECT meter_etl.stage_server_file('$WORK/outside/secret.csv')"
attack atk_admin "inbox: sibling directory with the same prefix" "outside meter_etl.inbox_dir" \
  "SELECT meter_etl.stage_server_file('$WORK/inbox2/sibling.csv')"
attack atk_admin "inbox: symlink to a file outside" "outside meter_etl.inbox_dir" \
  "SELECT meter_etl.stage_server_file('link-out.csv')"
attack atk_admin "inbox: symlinked directory outside" "outside meter_etl.inbox_dir" \
  "SELECT meter_etl.stage_server_file('dir-out/secret.csv')"
attack atk_admin "inbox: a server file by absolute path" "outside meter_etl.inbox_dir" \
  "SELECT meter_etl.stage_server_file('/etc/passwd')"
if mkfifo "$WORK/inbox/fifo.csv" 2>/dev/null; then
  chmod 666 "$WORK/inbox/fifo.csv"
  attack atk_admin "inbox: a FIFO" "is not a regular file" "SELECT meter_etl.stage_server_file('fifo.csv')"
else
  skip "atk_admin: inbox: a FIFO (mkfifo is not available here)"
fi
attack atk_loader "stage_server_file()" "permission denied" "SELECT meter_etl.stage_server_file('ok.csv')"
attack atk_admin "archive_parquet() without pg_write_server_files" "permission denied to write the Parquet archive" \
  "SELECT * FROM meter_etl.archive_parquet('2024-01-01', '2024-01-01')"
attack atk_archiver "archive: dot-dot" 'must not contain ".."' \
  "SELECT * FROM meter_etl.archive_parquet('2024-01-01', '2024-01-01', dataset => '../archive2')"
attack atk_archiver "archive: absolute path outside" "outside meter_etl.archive_dir" \
  "SELECT * FROM meter_etl.archive_parquet('2024-01-01', '2024-01-01', dataset => '$WORK/archive2')"
ln -s "$WORK/archive2" "$WORK/archive/link-out"
attack atk_archiver "archive: symlinked dataset directory" "symbolic link\|outside meter_etl.archive_dir" \
  "SELECT * FROM meter_etl.archive_parquet('2024-01-01', '2024-01-01', dataset => 'link-out')"
attack atk_archiver "archive: drop files outside" 'must not contain ".."' \
  "SELECT meter_etl.archive_drop('2024-01-01', '2024-01-01', dataset => '../archive2')"
attack atk_archiver "SET meter_etl.archive_dir" "permission denied to set parameter" \
  "$load_admin; SET meter_etl.archive_dir = '$WORK/archive2'"
attack atk_loader "archive_parquet()" "permission denied" \
  "SELECT * FROM meter_etl.archive_parquet('2024-01-01', '2024-01-01')"
[ -z "$(ls -A "$WORK/archive2")" ] && ok "nothing was written outside the archive directory" \
  || bad "files appeared outside the archive directory: $(ls -A "$WORK/archive2")"
psql -X -q -d "$DB" -c "LOAD 'meter_etl'" -c "ALTER SYSTEM RESET meter_etl.inbox_dir" -c "ALTER SYSTEM RESET meter_etl.archive_dir" \
  -c "SELECT pg_reload_conf()" >/dev/null

echo "-- a superuser checks what the attacks left"
roles_after=$(baseline)
[ "$roles_after" = "$roles_before" ] && ok "no role gained an attribute or a membership" \
  || bad "roles changed: before '$roles_before', after '$roles_after'"
owned=$(q "SELECT count(*) FROM (SELECT relowner AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                   WHERE n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
                                  UNION ALL SELECT proowner FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                                   WHERE n.nspname NOT LIKE 'pg\_temp\_%') x
            WHERE x.o::regrole::text LIKE 'atk\_%'")
[ "$owned" = 0 ] && ok "no attack login owns a lasting table or function" || bad "attack logins own $owned objects"
chunks_after=$(chunks)
[ "$chunks_after" = "$chunks_before" ] && ok "no raw chunk changed (${chunks_after%% *} chunks)" \
  || bad "raw chunks changed: before '$chunks_before', after '$chunks_after'"
mismatch=$(q "SELECT count(*) FROM meter_etl.raw_file f WHERE f.status <> 'receiving' AND f.sha256 IS DISTINCT FROM meter_etl.raw_sha256(f.file_id)")
[ "$mismatch" = 0 ] && ok "every staged file still hashes to its recorded SHA-256" || bad "$mismatch staged files no longer match their hash"

echo "== security: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
