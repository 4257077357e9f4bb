#!/usr/bin/env bash
# Inside a throwaway cluster (pg_virtualenv sets PGHOST/PGPORT/PGUSER):
# the pg_regress suites, then the end-to-end scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! make -s installcheck; then
  echo "---- regression.diffs ----"
  cat regression.diffs
  exit 1
fi
test/e2e.sh
