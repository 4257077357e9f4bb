#!/usr/bin/env bash
# Run every meter_etl test suite on this machine: installs what it needs
# (Debian packages, npm packages for the Parquet interop checks), builds,
# runs the cmocka unit tests, the generator check, then the pg_regress
# suites and the end-to-end scripts on a throwaway PostgreSQL cluster.
# Usage (as root on Debian bookworm):  test/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# Everything is also logged, so that the last line can count what passed,
# failed and was skipped across the suites: cmocka tests, pg_regress tests,
# and the "ok" / "FAIL" / "skip" lines of the scripts.
LOG=$(mktemp /tmp/meter_etl_run_all.XXXXXX)
exec > >(tee "$LOG") 2>&1
summary() {
  local rc=$? passed failed skipped
  set +e
  sleep 0.5   # let tee write what is still in the pipe
  passed=$(( $(grep -o '^\[  PASSED  \] [0-9]*' "$LOG" | awk '{ s += $4 } END { print s + 0 }' || true) \
           + $(grep -c '^test .* \.\.\. ok' "$LOG" || true) + $(grep -c '^ok ' "$LOG" || true) ))
  failed=$(( $(grep -o '^\[  FAILED  \] [0-9]*' "$LOG" | awk '{ s += $4 } END { print s + 0 }' || true) \
           + $(grep -c '^test .* \.\.\. FAILED' "$LOG" || true) + $(grep -c '^FAIL' "$LOG" || true) ))
  skipped=$(grep -c '^skip ' "$LOG" || true)
  [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
  echo "== $passed passed, $failed failed, $skipped skipped in $(( $(date +%s) - start )) s"
  rm -f "$LOG"
  exit "$rc"
}
trap summary EXIT

test/install_deps.sh

echo "== build (warnings are errors)"
make -s clean >/dev/null
make -s
make -s check-exports
make -s install

echo "== unit tests (cmocka)"
make -s unit

echo "== unit tests under valgrind"
for t in test/build/test_*; do
  valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite "$t" >/dev/null
done

echo "== unit tests with AddressSanitizer and UBSan (clang)"
make -s clean-unit
make -s unit UNIT_CC=clang UNIT_SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" | grep -E "^==|PASSED|FAILED"
make -s clean-unit
make -s unit-build

echo "== fuzzing the CSV-to-reading path (libFuzzer, ${FUZZ_SECONDS:-60} s)"
test/fuzz/run.sh

echo "== demo-data generator"
test/gen_fleet_check.sh

echo "== Parquet writer read back by DuckDB and hyparquet (npm packages)"
test/interop/run.sh

echo "== SQL suites on a temporary instance (make check: nothing installed, no root needed)"
make -s check

echo "== SQL suites and end-to-end tests on a throwaway cluster"
pg_virtualenv -t -o "shared_preload_libraries=pg_cron" -o "cron.database_name=postgres" \
  -o "cron.use_background_workers=on" -o "max_worker_processes=32" \
  -o "max_locks_per_transaction=256" test/pg_suites.sh

