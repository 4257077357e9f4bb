#!/usr/bin/env bash
# Run every meter_etl test suite on this machine: installs what it needs
# (Debian packages, npm packages for the Parquet interop checks), builds,
# runs the cmocka unit tests (plain, under valgrind, under ASan/UBSan), the
# fuzzer, the generator check, the Parquet interop check, the check that
# test/install_deps.sh installs every command the suites call, then the
# pg_regress suites on a temporary instance and, on a throwaway cluster,
# again with the end-to-end scripts and the attack suite.
#
# Usage (as root on Debian bookworm):  test/run_all.sh [SUITE...]
#   SUITE: unit valgrind sanitizers fuzz generator interop deps check cluster
#   cleanroot (default: all of them; the build always runs).  cleanroot is
#   test/install_deps_chroot.sh: install_deps.sh, the build, the tests and
#   the demo in a clean Debian bookworm root (about 3 minutes).  E2E="e2e.sh security"
#   limits the cluster suite to those scripts (test/pg_suites.sh).
#
# Every suite's output is logged and counted: cmocka's outcome of each test
# ([       OK ] / [  FAILED  ] / [  SKIPPED ] after its [ RUN      ] line),
# pg_regress's "test NAME ... ok / FAILED", and the scripts' "ok ...",
# "FAIL..." and "skip NAME: WHY" lines.  A suite that exits non-zero without
# a FAIL line counts one failure, one that prints none of these lines counts
# one check.  A failing suite does not stop the next (a failed build does).
# The last line is "N passed, N failed, N skipped", the skipped items named
# above it; the exit status is 1 when anything failed.
#
# Tests that read the real vendor files (../shared/data/real beside the
# clone, or $MeterEtlRealData) skip without them; with CI=true (.ci/run sets
# it) they fail instead.  MeterEtlRealData=/nonexistent shows what a clone
# without ../shared runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib_real.sh
start=$(date +%s)
RES=$(mktemp -d /tmp/meter_etl_run_all.XXXXXX)
SUITES="unit valgrind sanitizers fuzz generator interop deps check cluster cleanroot"
for s in "$@"; do
  case " $SUITES " in
    *" $s "*) ;;
    *) echo "run_all.sh: unrecognized suite \"$s\" (suites: $SUITES)" >&2; exit 2 ;;
  esac
done
selected=${*:-$SUITES}
: > "$RES/counts"; : > "$RES/skipped"; : > "$RES/failed"

# count SUITE STATUS: the suite's log counted into $RES/counts (suite,
# passed, failed, skipped) and its skipped and failed items named in
# $RES/skipped and $RES/failed.  A "== path/name" line names the binary or
# script the following lines come from.
count() {
  awk -v suite="$1" -v rc="$2" -v res="$RES" '
    function item(where, what) { return (ctx != "" ? ctx : suite) ": " what }
    function skipped(what) { s++; print item(ctx, what) >> (res "/skipped") }
    function failed(what) { f++; print item(ctx, what) >> (res "/failed") }
    /^== [^ ]*\/[^ ]*$/ { ctx = $2; sub(/.*\//, "", ctx); next }
    /^\[ RUN +\] / { cur = $NF; next }
    /^\[ +(OK|FAILED|ERROR|SKIPPED) +\] / && cur != "" && $NF == cur {
      if ($2 == "OK") p++; else if ($2 == "SKIPPED") skipped(cur); else failed(cur)
      cur = ""; next
    }
    /^test [^ ]+ +\.\.\. / {
      if ($0 ~ /\.\.\. ok/) p++
      else if ($0 ~ /failed \(ignored\)/) skipped("pg_regress " $2 " (ignored)")
      else failed("pg_regress " $2)
      next
    }
    /^ok / { p++; next }
    /^FAIL/ { line = $0; sub(/^FAIL:? *-? */, "", line); failed(substr(line, 1, 100)); next }
    /^skip / { line = substr($0, 6); if (index(line, ": ")) line = substr(line, 1, index(line, ": ") - 1); skipped(line); next }
    END {
      ctx = ""
      if (rc != 0 && f == 0) failed("exited with status " rc)
      if (p + f + s == 0) p = 1
      printf "%s\t%d\t%d\t%d\n", suite, p, f, s >> (res "/counts")
    }' "$RES/$1.log"
}

# suite NAME COMMAND...: run one suite when it is selected, log and count it
suite() {
  local name=$1 rc=0
  shift
  case " $selected build " in *" $name "*) ;; *) return 0 ;; esac
  echo "== $name"
  "$@" 2>&1 | tee "$RES/$name.log" || rc=$?
  count "$name" "$rc"
  return "$rc"
}

summary() {
  local rc=$? p f s
  set +e
  trap - EXIT
  read -r p f s < <(awk -F'\t' '{ p += $2; f += $3; s += $4 } END { print p + 0, f + 0, s + 0 }' "$RES/counts")
  # an exit before the counts (install_deps, a failed build) is a failure
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { f=1; echo "run_all.sh: stopped with status $rc" >> "$RES/failed"; }
  echo
  echo "== summary (suite: passed, failed, skipped)"
  awk -F'\t' '{ printf "   %-12s %6d %6d %6d\n", $1, $2, $3, $4 }' "$RES/counts"
  if [ -s "$RES/failed" ]; then
    echo "== failed ($(wc -l < "$RES/failed")):"
    sed 's/^/   /' "$RES/failed"
  fi
  if [ -s "$RES/skipped" ]; then
    echo "== skipped ($s):"
    sed 's/^/   /' "$RES/skipped"
  fi
  echo "== $(( $(date +%s) - start )) s"
  rm -rf "$RES"
  echo "$p passed, $f failed, $s skipped"
  [ "$f" -eq 0 ] && exit 0
  exit 1
}
trap summary EXIT

if [ -d "$REAL" ]; then
  echo "== real vendor data: $REAL"
elif [ "${CI:-}" = true ]; then
  echo "== real vendor data: $REAL is missing; CI=true: the tests that read it fail"
else
  echo "== real vendor data: $REAL is missing; the tests that read it are skipped (listed at the end)"
fi

test/install_deps.sh

build() {
  make -s clean >/dev/null && make -s && make -s check-exports && make -s install
}
suite build build   # warnings are errors; a failed build stops the run

# each unit-test binary again under a tool; its output shown when it fails
each_unit_test() {   # LABEL COMMAND-PREFIX...
  local label=$1 t out rc=0
  shift
  for t in test/build/test_*; do
    if out=$("$@" "$t" 2>&1); then
      echo "ok   $label: $(basename "$t")"
    else
      echo "$out" | tail -40 | sed 's/^/   | /'
      echo "FAIL $label: $(basename "$t")"
      rc=1
    fi
  done
  return "$rc"
}
sanitizers() {
  local rc=0
  make -s clean-unit
  make -s unit-build UNIT_CC=clang UNIT_SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all" &&
    each_unit_test "ASan+UBSan" || rc=1
  make -s clean-unit
  make -s unit-build || rc=1   # the plain binaries again
  return "$rc"
}

suite unit make -s unit || true
suite valgrind each_unit_test valgrind valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite || true
suite sanitizers sanitizers || true
suite fuzz test/fuzz/run.sh || true
suite generator test/gen_fleet_check.sh || true
suite interop test/interop/run.sh || true
suite deps test/install_deps_check.sh || true
suite check make -s check || true
suite cluster pg_virtualenv -t -o "shared_preload_libraries=pg_cron" -o "cron.database_name=postgres" \
  -o "cron.use_background_workers=on" -o "max_worker_processes=32" \
  -o "max_locks_per_transaction=256" test/pg_suites.sh || true
suite cleanroot test/install_deps_chroot.sh || true
