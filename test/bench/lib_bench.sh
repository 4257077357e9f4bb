# Helpers shared by the benchmark scripts (test/bench/bench_*.sh); sourced, not run.
# Times are wall-clock seconds; ratios and rates guard against a zero divisor.

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
# secs START END [DECIMALS=2]
secs() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { printf "%.*f", d, b - a }'; }
# rate ROWS SECONDS: rows per second
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'; }
# ratio A B [DECIMALS=2]: A / B
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b > 0) printf "%.*f", d, a / b; else print "-" }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
# median of the numbers on stdin, one per line
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# timed COMMAND...: run it, print its seconds
timed() { local t0; t0=$(now); "$@" >/dev/null; secs "$t0" "$(now)"; }
