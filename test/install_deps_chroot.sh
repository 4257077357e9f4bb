#!/usr/bin/env bash
# test/install_deps.sh on a clean machine: a minimal Debian bookworm root
# (mmdebstrap --variant=minbase: the required packages and apt, nothing
# else) without package lists, as a fresh container has none.  This
# repository's files are copied in (no ../shared beside them), and inside
# the root, as root:
#   test/install_deps.sh            its apt path: the install finds no lists,
#                                   apt-get update, the install again
#   test/install_deps_check.sh      every command the suites call is there
#   make && make unit               the build and the cmocka tests (the
#                                   real-data tests skip: no ../shared)
#   make check                      the pg_regress suites
#   test/demo.sh                    README command 1, from scratch
# With --run-all, test/run_all.sh too (npm and the end-to-end suites; long).
# The root's PostgreSQL is its own: nothing is installed on this machine
# but mmdebstrap.  test/run_all.sh runs it as its suite cleanroot: about
# 3 minutes here, most of it downloading and unpacking some 280 MB of
# packages.
# Usage (as root):  test/install_deps_chroot.sh [--run-all] [--keep DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
run_all=0 keep=""
while [ $# -gt 0 ]; do
  case $1 in
    --run-all) run_all=1 ;;
    --keep) keep=${2:?--keep needs a directory}; shift ;;
    *) echo "usage: test/install_deps_chroot.sh [--run-all] [--keep DIR]" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "install_deps_chroot.sh: run as root (mmdebstrap, mount, chroot)" >&2; exit 1; }
if ! command -v mmdebstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mmdebstrap ||
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mmdebstrap; }
fi
root=${keep:-$(mktemp -d /tmp/meter_etl_chroot.XXXXXX)}
mkdir -p "$root"
cleanup() {
  umount -R "$root/proc" "$root/sys" "$root/dev" 2>/dev/null || true
  rm -f "${log:-}"
  [ -n "$keep" ] || rm -rf --one-file-system "$root"
}
trap cleanup EXIT
start=$(date +%s)
phase() { echo "== [$(( $(date +%s) - start )) s] $*"; }

phase "mmdebstrap --variant=minbase bookworm $root"
[ -z "$(ls -A "$root")" ] || { echo "install_deps_chroot.sh: $root is not empty" >&2; exit 1; }
mmdebstrap --quiet --variant=minbase bookworm "$root" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
# a fresh machine: no package lists; services are not started in a chroot
rm -rf "$root"/var/lib/apt/lists/*
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mkdir -p "$root/root/meter_etl"
# the files of this work tree that git knows or would add (no build
# output); without git, everything but the build output
if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -
else
  tar --exclude=./tmp_check --exclude=./test/build --exclude=./bin --exclude=node_modules \
      --exclude='*.o' --exclude='*.so' --exclude=./results -cf - .
fi | tar -C "$root/root/meter_etl" -xf -

inside() {   # run a command in the root, with a clean environment
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin bash -c "cd /root/meter_etl && $1"
}
log=$(mktemp /tmp/meter_etl_chroot_log.XXXXXX)
step() {   # step WHAT COMMAND [PATTERN]: run it inside; show the lines matching PATTERN, all of it when it fails
  phase "$1"
  if ! inside "$2" > "$log" 2>&1; then
    tail -60 "$log"
    echo "FAIL: $1 in a clean bookworm root"
    exit 1
  fi
  grep -E "${3:-.}" "$log" | sed 's/^/   /' || true
  echo "ok   clean bookworm root: $1"
}
step "test/install_deps.sh (no package lists yet)" "test/install_deps.sh" '^== installing|^E:|^Get:1 |^Fetched'
step "test/install_deps_check.sh" "test/install_deps_check.sh" '^ok|^FAIL'
step "make && make unit" "make -s && make -s unit" '^== |^\[  (PASSED|FAILED|SKIPPED) *\] [0-9]'
step "make check" "make -s check" 'tests passed|failed'
step "test/demo.sh" "test/demo.sh"
if [ "$run_all" -eq 1 ]; then
  step "test/run_all.sh" "test/run_all.sh" '^== |passed, '
fi
rm -f "$log"
phase "done: test/install_deps.sh installs what the build, the tests and the demo need on a clean bookworm"
