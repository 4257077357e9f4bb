#!/usr/bin/env bash
# run.sh - Parquet interoperability test: build the sample writer against the
# pure C sources, write the samples to a temporary directory and read them
# back with DuckDB and hyparquet (check.mjs).  Exits non-zero on any mismatch.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cc="${CC:-cc}"

if [ ! -d "$here/node_modules" ]; then
	echo "== npm install (test/interop)"
	# versions are pinned in package.json and package-lock.json; `npm ci`
	# is not used because npm's lock file omits the other platforms'
	# optional DuckDB bindings and `npm ci` then refuses it.
	(cd "$here" && npm install --no-audit --no-fund)
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/pq_interop.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "== build pq_sample"
"$cc" -O2 -g -std=gnu11 -I"$root/src" \
	-Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wno-sign-compare -o "$work/pq_sample" "$here/pq_sample.c" \
	"$root/src/core/me_alloc.c" "$root"/src/core/parquet/*.c -lzstd -lm

echo "== write samples"
mkdir "$work/out"
"$work/pq_sample" "$work/out"

echo "== read back with DuckDB and hyparquet"
node "$here/check.mjs" "$work/out"
