#!/usr/bin/env bash
# Inside a throwaway cluster (pg_virtualenv sets PGHOST/PGPORT/PGUSER):
# the pg_regress suites, then every end-to-end script test/e2e/e2e*.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! make -s installcheck; then
  echo "---- regression.diffs ----"
  cat regression.diffs
  exit 1
fi
for t in test/e2e/e2e*.sh; do
  echo "== $t"
  "$t"
done
echo "== test/security/run.sh"
test/security/run.sh
