# The real vendor files some tests read (sourced, not run).  REAL is
# ../shared/data/real beside the clone, or $MeterEtlRealData when set (point
# it at a missing directory to see what a clone without ../shared runs).
# A part that needs the files and does not find them calls
#   real_missing NAME WHY
# which prints "skip NAME: WHY" (test/run_all.sh lists every skip) and
# returns; with CI=true it prints a FAIL line and exits 1 instead, since CI
# always has the real data beside its clone.
REAL=${MeterEtlRealData:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/data/real}
real_missing() {
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $1: $2 (CI=true: the real data must be there; MeterEtlRealData names its directory)" >&2
    exit 1
  fi
  echo "skip $1: $2"
}
