#!/usr/bin/env bash
# Install everything meter_etl needs to build, test and run its demo on
# Debian bookworm: PostgreSQL 15 server and headers, libcsv, cmocka, zstd,
# pg_cron, valgrind, clang (fuzzing, sanitizers), Node.js (Parquet
# interoperability checks with DuckDB and hyparquet), Python 3 (the
# detection-order property test; scikit-learn and statsmodels, the peers of
# the analytics quality checks and benchmarks) and Chromium (the report's browser test;
# tests only, never a dependency of the extension).  Idempotent; only calls
# apt-get when something is missing, and apt-get update only when the
# install fails (a fresh machine or container has no package lists yet).
#   test/install_deps.sh --list   print the packages, one a line, and exit
# test/install_deps_check.sh checks that every command the suites call comes
# from one of these packages (or what they depend on, or Debian's base
# set); test/install_deps_chroot.sh runs this script in a clean bookworm root.
set -euo pipefail

pkgs=(build-essential pkg-config postgresql-15 postgresql-server-dev-15 postgresql-common
      postgresql-contrib libpq-dev libcsv-dev libcmocka-dev libzstd-dev postgresql-15-cron
      valgrind clang libclang-rt-dev ca-certificates python3 chromium fonts-dejavu-core
      python3-sklearn python3-statsmodels)
if [ "${1:-}" = --list ]; then
  printf '%s\n' "${pkgs[@]}" nodejs npm
  exit 0
fi
# a Node.js installed some other way (nvm, a tarball) is kept
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "== installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi
