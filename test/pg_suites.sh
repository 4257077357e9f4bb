#!/usr/bin/env bash
# Inside a throwaway cluster (pg_virtualenv sets PGHOST/PGPORT/PGUSER):
# the pg_regress suites, then every end-to-end script test/e2e/e2e*.sh and
# the attack suite test/security/run.sh.  A failing script does not stop
# the next; one that fails without saying so gets a FAIL line here, so
# that test/run_all.sh counts it.  The exit status is 1 when any failed.
#   E2E="e2e.sh e2e_quality.sh security"   only those scripts
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
if ! make -s installcheck; then
  echo "---- regression.diffs ----"
  cat regression.diffs
  status=1
fi
scripts=()
if [ -n "${E2E:-}" ]; then
  for n in $E2E; do
    case $n in
      security) scripts+=(test/security/run.sh) ;;
      *) [ -f "test/e2e/$n" ] || { echo "FAIL: E2E names test/e2e/$n, which does not exist"; status=1; continue; }
         scripts+=("test/e2e/$n") ;;
    esac
  done
else
  scripts=(test/e2e/e2e*.sh test/security/run.sh)
fi
out=$(mktemp /tmp/meter_etl_pg_suites.XXXXXX)
trap 'rm -f "$out"' EXIT
for t in "${scripts[@]}"; do
  echo "== $t"
  rc=0
  "$t" 2>&1 | tee "$out" || rc=$?
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -q '^FAIL' "$out" || echo "FAIL: $t exited with status $rc"
  fi
done
exit "$status"
