#!/usr/bin/env bash
# make bench: every benchmark, each in its own throwaway cluster, printing
# figures measured side by side in one run.  Not part of CI (it takes
# several minutes and wants a quiet machine).  BENCH_QUICK=1 for a smoke run.
set -euo pipefail
cd "$(dirname "$0")/../.."
test/install_deps.sh >/dev/null
make -s >/dev/null
make -s install >/dev/null
opts=(-o shared_buffers=512MB -o max_wal_size=8GB -o checkpoint_timeout=30min)
for b in test/bench/bench_*.sh; do
  echo "######## $b"
  pg_virtualenv -t "${opts[@]}" "$b"
done
