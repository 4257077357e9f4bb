# Shared helpers of the end-to-end scripts (sourced, not run).
#   e2e_setup NAME   a scratch directory $WORK (removed on exit) and a fresh
#                    database NAME, made the default with PGDATABASE
#   q SQL            one statement, unaligned output, stop on error
#   check WHAT EXPECTED ACTUAL / fail MESSAGE / refused WHAT SQL PATTERN

e2e_setup() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$WORK"
  trap 'rm -rf "$WORK"' EXIT
  export PGDATABASE=$1
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" 2>/dev/null
}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
check() {
  [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
  echo "ok   $1 ($3)"
}
# a statement that must fail with a message matching a pattern
refused() {
  local out
  if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "$2" 2>&1); then
    fail "$1: expected an error, got '$out'"
  fi
  echo "$out" | grep -q -- "$3" || fail "$1: expected error matching '$3', got '$out'"
  echo "ok   $1 (refused: $(echo "$out" | head -1 | sed 's/^.*ERROR: *//'))"
}
