#!/usr/bin/env bash
# Upgrades, on a running server (PG* variables set, e.g. by pg_virtualenv):
# every earlier version installs from its frozen script, holds data, and
# ALTER EXTENSION meter_etl UPDATE brings it to the current version with
# the same schema as a fresh install -- compared as pg_dump sees it
# (binary-upgrade mode, so that extension members, their comments and
# their initial privileges are dumped) and as the catalog sees it (ACLs,
# column ACLs, function settings) -- and the data still works.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/e2e/lib_e2e.sh
e2e_setup meter_etl_upgrade_fresh
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" meter_etl.control)
sharedir=$(pg_config --sharedir)/extension
olds=$(ls "$sharedir"/meter_etl--*.sql | sed -n 's/.*meter_etl--\([0-9.]*\)\.sql$/\1/p' | grep -vx "$current" || true)
[ -n "$olds" ] || fail "no earlier version installed in $sharedir"

csv() { printf "E'meter_id,timestamp,value,unit\\\\n%s,2024-03-0%sT00:00:00Z,%s,kW\\\\n'" "$1" "$2" "$3"; }

# what a schema is: pg_dump's view with OIDs left out, then the catalog's
schema_of() {
  # (the daily partitions are data: the upgraded database holds some)
  pg_dump --schema-only --binary-upgrade -T 'meter_etl.reading_p*' -d "$1" 2>/dev/null \
    | grep -v 'binary_upgrade_set_next\|binary_upgrade_set_missing\|binary_upgrade_create_empty_extension\|^-- Dumped \|^SET \|^SELECT pg_catalog.set_config' \
    | grep -v '^\\restrict\|^\\unrestrict\|pg_catalog.setval(' \
    | sed "s/OID [0-9]*/OID n/g; s/'[0-9][0-9]*'/'n'/g" > "$2.dump" || true
  psql -X -q -At -d "$1" -c "
    SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(c.relacl::text, '-')
      FROM pg_class c WHERE c.relnamespace = 'meter_etl'::regnamespace AND c.relname !~ '^reading_p[0-9]{8}'
    UNION ALL
    SELECT 'col ' || a.attrelid::regclass::text || '.' || a.attname || ' ' || a.attacl::text
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = 'meter_etl'::regnamespace AND a.attacl IS NOT NULL
    UNION ALL
    SELECT 'fn ' || p.oid::regprocedure::text || ' ' || p.prosecdef::text || ' ' || coalesce(p.proconfig::text, '-')
           || ' ' || coalesce(p.proacl::text, '-') || ' ' || md5(p.prosrc)
      FROM pg_proc p WHERE p.pronamespace = 'meter_etl'::regnamespace
    UNION ALL
    SELECT 'ext ' || e.extversion || ' ' || coalesce(e.extcondition::text, '-') FROM pg_extension e WHERE e.extname = 'meter_etl'
    ORDER BY 1" > "$2.catalog"
}

q "CREATE EXTENSION meter_etl"
schema_of meter_etl_upgrade_fresh "$WORK/fresh"
[ -s "$WORK/fresh.dump" ] && grep -q "CREATE TABLE meter_etl.reading" "$WORK/fresh.dump" \
  || fail "pg_dump --binary-upgrade did not dump the extension's members"

for v in $olds; do
  db=meter_etl_upgrade_$(echo "$v" | tr . _)
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
  export PGDATABASE=$db
  q "CREATE EXTENSION meter_etl VERSION '$v'"
  check "$v installs from its frozen script" "$v" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'meter_etl'")"
  f1=$(q "SELECT meter_etl.stage('before.csv', convert_to($(csv U1 1 1.5), 'UTF8'))")
  q "SELECT status FROM meter_etl.ingest($f1)" >/dev/null
  q "ALTER EXTENSION meter_etl UPDATE"
  check "$v updates to $current" "$current" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'meter_etl'")"
  schema_of "$db" "$WORK/up_$v"
  diff -u "$WORK/fresh.dump" "$WORK/up_$v.dump" > "$WORK/dump.diff" \
    || { head -60 "$WORK/dump.diff"; fail "$v updated differs from a fresh $current install (pg_dump)"; }
  echo "ok   $v updated = fresh $current, as pg_dump sees it ($(grep -c '^CREATE\|^ALTER\|^COMMENT\|^GRANT\|^REVOKE' "$WORK/fresh.dump") statements)"
  diff -u "$WORK/fresh.catalog" "$WORK/up_$v.catalog" > "$WORK/catalog.diff" \
    || { head -60 "$WORK/catalog.diff"; fail "$v updated differs from a fresh $current install (catalog)"; }
  echo "ok   $v updated = fresh $current, as the catalog sees it ($(wc -l < "$WORK/fresh.catalog") objects)"
  # the data of the old version is still there and the pipeline still runs
  check "readings kept" "1" "$(q "SELECT count(*) FROM meter_etl.reading")"
  f2=$(q "SELECT meter_etl.stage('after.csv', convert_to($(csv U2 2 2.5), 'UTF8'))")
  check "ingest after the update" "ok 1" "$(q "SELECT status || ' ' || rows_clean FROM meter_etl.ingest($f2)")"
  check "raw file staged by $v verifies" "t" "$(q "SELECT sha256 = meter_etl.raw_sha256(file_id) FROM meter_etl.raw_file WHERE file_id = $f1")"
  psql -X -q -d postgres -c "DROP DATABASE $db"
done
export PGDATABASE=meter_etl_upgrade_fresh
echo "== upgrade tests passed"
