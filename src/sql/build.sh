#!/bin/sh
# build.sh PART... - assemble the install script from its parts (in the
# order given) and fill in @ME_DEFAULT_*@ with the values the C headers
# #define, so that each default is stated once.  Fails on a placeholder no
# header defines.  Run by the Makefile from the repository root.
set -eu
headers="src/core/series/series.h src/core/read/rules.h src/core/read/reader.h src/pg/guc.h"
# issue #20 anomaly scores
headers="$headers src/core/predict/iforest.h"
headers="$headers src/core/predict/kmeans.h"
# issue 20, load forecasting
headers="$headers src/core/predict/forecast.h"
# NAME VALUE per line: a quoted string whole, otherwise the first word
defs=$(sed -n -e 's/^#define \(ME_DEFAULT_[A-Z0-9_]*\)[ 	][ 	]*"\([^"]*\)".*/\1 \2/p' \
              -e 't' -e 's/^#define \(ME_DEFAULT_[A-Z0-9_]*\)[ 	][ 	]*\([A-Za-z0-9._+-][A-Za-z0-9._+-]*\)\([ 	].*\)\{0,1\}$/\1 \2/p' $headers)
cat "$@" | awk -v defs="$defs" '
  BEGIN {
    n = split(defs, d, "\n")
    for (i = 1; i <= n; i++) {
      sp = index(d[i], " ")
      val[substr(d[i], 1, sp - 1)] = substr(d[i], sp + 1)
    }
  }
  {
    while (match($0, /@ME_DEFAULT_[A-Z0-9_]+@/)) {
      name = substr($0, RSTART + 1, RLENGTH - 2)
      if (!(name in val)) { print "build.sh: no #define for " name > "/dev/stderr"; exit 1 }
      $0 = substr($0, 1, RSTART - 1) val[name] substr($0, RSTART + RLENGTH)
    }
    print
  }'
