#!/usr/bin/env bash
# The whole job end to end, as a utility runs it: installs what it needs,
# builds and installs meter_etl, starts a throwaway PostgreSQL cluster, and
# runs test/demo_run.sh in it: a generated fleet with injected faults and
# its ground truth, delivered as daily files into an inbox, the pipeline
# (stage, ingest, detection), the Parquet archive, and a summary of the
# accounting, the quarantine, the detected faults against the injected
# ones, the gaps filled and the archive, and the HTML report.  The files stay in
# /tmp/meter_etl_demo (DEMO_OUT), the summary in its summary.txt.
# Usage (as root on Debian bookworm): test/demo.sh
#   METERS=2000 DAYS=7 HISTORY_DAYS=21 test/demo.sh     another fleet
set -euo pipefail
cd "$(dirname "$0")/.."
test/install_deps.sh >/dev/null
echo "== building and installing meter_etl"
start=$(date +%s)
make -s >/dev/null
make -s install >/dev/null
echo "   $(( $(date +%s) - start )) s"
exec pg_virtualenv -t test/demo_run.sh
