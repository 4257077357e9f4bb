#!/usr/bin/env bash
# make check: the pg_regress suites on a temporary instance, without
# installing anything into the system's PostgreSQL and without root.
#
# PGXS offers no temporary-instance check for an extension (the server
# finds extensions only in its own share directory), so this builds a
# private installation in tmp_check/install: the server's programs copied
# (PostgreSQL locates its share and lib directories relative to the
# running binary), the rest of its share and lib trees linked, and this
# extension installed into it with DESTDIR.  pg_regress --temp-instance then
# runs initdb and a server from there, with pg_cron preloaded as in CI.
# As root (initdb refuses to run as root) the suites run as user postgres;
# from /tmp when postgres cannot enter the clone (found by the clean-root
# test, test/install_deps_chroot.sh, on a clone under /root).
# Usage: make check  (REGRESS and REGRESS_OPTS come from the Makefile)
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-pg_config}
T=$PWD/tmp_check
# As root in a clone that user postgres cannot enter (under /root, say),
# everything runs in a copy under /tmp, and the results come back to
# tmp_check/out.
away=""
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -r "$PWD/sql" -a -x "$PWD/expected" 2>/dev/null; then
  away=$(mktemp -d /tmp/meter_etl_check.XXXXXX)
  trap 'rm -rf "$away"' EXIT
  rm -rf "$T"
  mkdir -p "$T"
  T=$away
fi
bindir=$($PG_CONFIG --bindir)
libdir=$($PG_CONFIG --pkglibdir)
sharedir=$($PG_CONFIG --sharedir)
pg_regress=$(dirname "$($PG_CONFIG --pgxs)")/../test/regress/pg_regress

rm -rf "$T"
mkdir -p "$T/install$bindir" "$T/install$libdir" "$T/install$sharedir" "$T/out"
make -s
make -s install DESTDIR="$T/install" >/dev/null
for prog in postgres initdb pg_ctl psql; do
  cp "$bindir/$prog" "$T/install$bindir/"
done
cp -rsn "$libdir/." "$T/install$libdir/"
cp -rsn "$sharedir/." "$T/install$sharedir/"
cat > "$T/check.conf" <<'EOF'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
max_worker_processes = 32
max_locks_per_transaction = 256
EOF

run=()
if [ "$(id -u)" -eq 0 ]; then
  chown -R postgres "$T"
  run=(runuser -u postgres --)
fi
indir=.
if [ -n "$away" ]; then
  indir=$T/in
  mkdir "$indir"
  cp -r sql expected "$indir/"
  chown -R postgres "$indir"
  chmod 755 "$T"
fi
status=0
(cd "$indir" &&
 "${run[@]}" "$pg_regress" --temp-instance="$T/data" --temp-config="$T/check.conf" \
   --bindir="$T/install$bindir" --inputdir=. --outputdir="$T/out" \
   ${REGRESS_OPTS:-} ${REGRESS:?REGRESS is set by the Makefile}) || status=$?
if [ -n "$away" ]; then
  rm -rf "$T/data"
  cp -r "$T/out" "$PWD/tmp_check/out"
fi
if [ "$status" -ne 0 ] && [ -f "$T/out/regression.diffs" ]; then
  cat "$T/out/regression.diffs"
fi
exit "$status"
