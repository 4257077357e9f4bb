#!/usr/bin/env bash
# The whole job end to end on an embedded default: installs what it needs,
# builds meter_etl, starts a throwaway PostgreSQL cluster, generates a demo
# fleet with injected faults, streams it into the raw zone, ingests it, and
# prints the accounting and what was quarantined and why, next to the
# generator's ground truth.  Usage (as root on Debian bookworm): test/demo.sh
#   METERS=2000 DAYS=7 test/demo.sh     a bigger fleet
set -euo pipefail
cd "$(dirname "$0")/.."
test/install_deps.sh >/dev/null
echo "== building meter_etl"
make -s >/dev/null
make -s install >/dev/null
exec pg_virtualenv -t test/demo_run.sh
