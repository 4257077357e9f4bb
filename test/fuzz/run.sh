#!/usr/bin/env bash
# Build fuzz_reader with libFuzzer + ASan/UBSan (clang), replay the saved
# regression inputs, then fuzz from the seed corpus for FUZZ_SECONDS (60).
# A finding is copied into test/fuzz/regressions/ to become a fixture.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
work=$(mktemp -d /tmp/meter_etl_fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
srcs="src/core/me_alloc.c src/core/read/parse.c src/core/read/tzconv.c src/core/read/rules.c src/core/read/csvmap.c src/core/read/reader.c src/core/read/reader_fields.c src/core/read/reader_long.c src/core/read/reader_wide.c src/core/read/reader_nem12.c src/core/read/sniff.c"
clang -g -O1 -std=gnu11 -Isrc -Itest/unit -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -o "$work/fuzz_reader" test/fuzz/fuzz_reader.c $srcs -lcsv -lm
echo "== replaying regression inputs"
if ls test/fuzz/regressions/* >/dev/null 2>&1; then
  "$work/fuzz_reader" -runs=0 test/fuzz/regressions/* 2>&1 | tail -1
fi
test/fuzz/make_corpus.sh "$work/corpus"
mkdir -p "$work/new"
echo "== fuzzing for ${secs}s"
if ! "$work/fuzz_reader" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 \
     -artifact_prefix="$work/" "$work/new" "$work/corpus" > "$work/log" 2>&1; then
  tail -40 "$work/log"
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -e "$f" ] && cp "$f" test/fuzz/regressions/ && echo "saved $(basename "$f") to test/fuzz/regressions/"
  done
  exit 1
fi
grep -E "^#[0-9]+.*(DONE|pulse)" "$work/log" | tail -1
echo "== fuzzing found nothing"
