#!/usr/bin/env bash
#
# gen_fleet_check.sh - checks for the demo-fleet generator (bin/meter-etl-gen)
#
#   determinism (same seed => byte-identical, other seed => different),
#   header, row counts (DST-aware), every label kind present in a heavy run,
#   every labelled line matches its kind, unlabelled lines are clean, gaps and
#   per-meter runs look as labelled, --archetypes and --anomaly-days, and the
#   50,000 x 1 day timing.
#
# Environment: GEN_TIME_LIMIT (seconds, default 4) for the timing run.
set -euo pipefail

cd "$(dirname "$0")/.."
GEN=bin/meter-etl-gen
TIME_LIMIT=${GEN_TIME_LIMIT:-4}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gen_fleet_check.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

failures=0
ok()   { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }

make -s "$GEN"

# ------------------------------------------------------------ determinism
$GEN --meters 40 --days 3 --seed 7 --out "$TMP/a.csv" --labels "$TMP/a.lab" 2>/dev/null
$GEN --meters 40 --days 3 --seed 7 --out "$TMP/b.csv" --labels "$TMP/b.lab" 2>/dev/null
$GEN --meters 40 --days 3 --seed 7 --faults default --order meter --meter-prefix M \
	--interval 15 --start 2024-03-25 --history-days 0 2>/dev/null > "$TMP/c.csv"
$GEN --meters 40 --days 3 --seed 8 --out "$TMP/d.csv" 2>/dev/null
if cmp -s "$TMP/a.csv" "$TMP/b.csv" && cmp -s "$TMP/a.lab" "$TMP/b.lab" &&
	cmp -s "$TMP/a.csv" "$TMP/c.csv"; then
	ok "same seed gives byte-identical data and labels (file and stdout)"
else
	fail "same seed is not byte-identical"
fi
if cmp -s "$TMP/a.csv" "$TMP/d.csv"; then fail "seeds 7 and 8 give identical output"
else ok "a different seed gives different output"; fi

# ------------------------------------------------------------ header, counts
if [ "$(head -n 1 "$TMP/a.csv")" = "meter_id,timestamp,value,unit" ]; then ok "header"
else fail "header is '$(head -n 1 "$TMP/a.csv")'"; fi

# count_check DESC EXPECTED_LINES ARGS...
count_check() {
	local desc=$1 want=$2 got
	shift 2
	got=$($GEN --faults none "$@" 2>/dev/null | wc -l)
	if [ "$got" -eq "$want" ]; then ok "$desc: $got lines"
	else fail "$desc: $got lines, expected $want"; fi
}
count_check "no faults, plain week, 15 min" $((1 + 25 * 7 * 96)) --meters 25 --days 7 --start 2024-04-08
count_check "no faults, spring DST week (92-row day)" $((1 + 25 * (7 * 96 - 4))) --meters 25 --days 7
count_check "no faults, autumn DST week (100-row day)" $((1 + 25 * (7 * 96 + 4))) --meters 25 --days 7 --start 2024-10-21
count_check "no faults, 30 min, 2 history days" $((1 + 10 * 5 * 48)) --meters 10 --days 3 --history-days 2 --interval 30 --start 2024-05-06
count_check "no faults, 60 min, time order" $((1 + 10 * 4 * 24)) --meters 10 --days 4 --interval 60 --order time --start 2024-01-08

per_day=$($GEN --faults none --meters 1 --days 8 2>/dev/null | awk -F, 'NR > 1 { n[substr($2, 1, 10)]++ }
	END { printf "%d/%d/%d", n["2024-03-30"], n["2024-03-31"], n["2024-04-01"] }')
if [ "$per_day" = "96/92/96" ]; then ok "local days around the spring change have 96/92/96 rows"
else fail "local day row counts around 2024-03-31: $per_day"; fi

# ------------------------------------------------------------ label checker
cat > "$TMP/check.awk" <<'AWK'
function die(msg) { print "  " msg; errors++; if (errors > 20) exit 1 }
function dfc(y, m, d,   era, yoe, doy, doe) {
	y -= (m <= 2)
	era = int((y >= 0 ? y : y - 399) / 400)
	yoe = y - era * 400
	doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
	doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
	return era * 146097 + doe - 719468
}
function is_ts(s,   mo, d, h, mi) {
	if (length(s) != 25 || s !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9][+-][0-9][0-9]:[0-9][0-9]$/)
		return 0
	mo = substr(s, 6, 2) + 0; d = substr(s, 9, 2) + 0
	h = substr(s, 12, 2) + 0; mi = substr(s, 15, 2) + 0
	return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60
}
# UTC minutes since 1970 of a valid ISO timestamp with offset
function utc(s,   off) {
	off = substr(s, 21, 2) * 60 + substr(s, 24, 2)
	if (substr(s, 20, 1) == "-") off = -off
	return dfc(substr(s, 1, 4) + 0, substr(s, 6, 2) + 0, substr(s, 9, 2) + 0) * 1440 + \
		substr(s, 12, 2) * 60 + substr(s, 15, 2) - off
}
function is_num(v) { return v ~ /^[0-9]+(\.[0-9]+)?$/ }
function kw(v, u) { return u == "W" ? v / 1000 : (u == "kWh" ? v * 60 / IV : v + 0) }
function good_unit(u) { return u == "W" || u == "kW" || u == "Wh" || u == "kWh" }
function detail(k, key,   n, i, parts) {
	n = split(LD[k], parts, ";")
	for (i = 1; i <= n; i++)
		if (index(parts[i], key "=") == 1) return substr(parts[i], length(key) + 2)
	return ""
}
function dnum(k, key) { return detail(k, key) + 0 }
BEGIN { FS = "," }
FNR == NR {
	if (FNR == 1) {
		if ($0 != "kind,meter_id,line_no,start_ts,end_ts,detail") die("labels header: " $0)
		next
	}
	nlab++
	K[nlab] = $1; LM[nlab] = $2; LL[nlab] = $3; LS[nlab] = $4; LE[nlab] = $5; LD[nlab] = $6
	kinds[$1]++
	if (NF != 6 || !is_ts($4) || !is_ts($5) || $2 == "") die("bad label row: " $0)
	if ($3 != "") {
		if ($3 in byline) die("two labels for line " $3)
		byline[$3] = nlab
	}
	next
}
FNR == 1 { if ($0 != "meter_id,timestamp,value,unit") die("data header: " $0); next }
{
	rows++
	L[FNR] = $0
	if (NF != 4) { die("line " FNR ": " NF " fields: " $0); next }
	ts_ok = is_ts($2)
	if (FNR in byline) {
		k = byline[FNR]; kind = K[k]
		if (kind != "missing_field" && $1 != LM[k]) die("line " FNR ": meter " $1 " but label says " LM[k])
		want = utc(LS[k])
		if (kind != "bad_timestamp" && kind != "off_grid_timestamp" && kind != "timestamp_out_of_range" &&
			!(ts_ok && utc($2) == want))
			die("line " FNR " (" kind "): timestamp " $2 " is not " LS[k])
		if (kind != "bad_value" && kind != "missing_value" && kind != "negative_value" && !is_num($3))
			die("line " FNR " (" kind "): value '" $3 "' not numeric")
		if (kind != "bad_unit" && !good_unit($4)) die("line " FNR " (" kind "): unit '" $4 "'")
		if (kind == "spike") {
			v = kw($3, $4)
			if (!(v > 0 && v < 100 && dnum(k, "factor") >= 8 && dnum(k, "factor") <= 20)) die("line " FNR ": spike " $0 " " LD[k])
		} else if (kind == "negative_value") {
			if ($3 !~ /^-[0-9]+(\.[0-9]+)?$/ || $3 + 0 == 0) die("line " FNR ": negative_value " $0)
		} else if (kind == "bad_timestamp") {
			if (is_ts($2) || $2 != detail(k, "ts")) die("line " FNR ": bad_timestamp parses: " $0)
		} else if (kind == "bad_value") {
			if ($3 != "abc" && $3 != "1.2.3" && $3 != "--5" && $3 != "0x1F" && $3 != "inf") die("line " FNR ": bad_value " $0)
		} else if (kind == "missing_value") {
			if ($3 != "") die("line " FNR ": missing_value " $0)
		} else if (kind == "bad_unit") {
			if (good_unit($4)) die("line " FNR ": bad_unit " $0)
		} else if (kind == "implausible_value") {
			v = kw($3, $4)
			if (v < 499.9 || v > 5000.1) die("line " FNR ": implausible_value " v " kW: " $0)
		} else if (kind == "off_grid_timestamp") {
			d = ts_ok ? utc($2) - want : 999
			if (d < 0) d = -d
			if (d < 3 || d > 7 || (substr($2, 15, 2) % IV) == 0) die("line " FNR ": off_grid " $0 " vs " LS[k])
		} else if (kind == "timestamp_out_of_range") {
			y = substr($2, 1, 4)
			if (!ts_ok || (y != "1999" && y != "2099")) die("line " FNR ": out_of_range " $0)
		} else if (kind == "missing_field") {
			if ($1 != "") die("line " FNR ": missing_field " $0)
		} else if (kind == "duplicate") {
			of = dnum(k, "of_line")
			if (of >= FNR || L[of] != $0) die("line " FNR ": duplicate of line " of " differs: " $0 " / " L[of])
		} else if (kind == "duplicate_conflict") {
			of = dnum(k, "of_line"); split(L[of], o, ",")
			if (of != FNR - 1 || o[1] != $1 || o[2] != $2 || o[3] == $3 || o[4] != $4) die("line " FNR ": duplicate_conflict " $0 " / " L[of])
		} else die("line " FNR ": unexpected per-line kind " kind)
		dirty++
		if (kind == "bad_timestamp" || kind == "off_grid_timestamp" || kind == "timestamp_out_of_range" || kind == "missing_field")
			next
		t = utc($2)
		present[$1, t] = 1
		next
	}
	# unlabelled lines must be clean
	if ($1 !~ ("^" PREFIX "[0-9][0-9][0-9][0-9][0-9][0-9]+$") || !ts_ok || !is_num($3) || !good_unit($4))
		{ die("line " FNR ": unlabelled but not clean: " $0); next }
	t = utc($2)
	if ((t % IV) != 0 || substr($2, 18, 2) != "00") die("line " FNR ": unlabelled off-grid: " $0)
	if (t < T0 || t >= T1) die("line " FNR ": outside the series: " $0)
	if (($1, t) in clean) die("line " FNR ": unlabelled duplicate of " $1 " " $2)
	clean[$1, t] = 1
	present[$1, t] = 1
	val[$1, t] = $3
	kwv[$1, t] = kw($3, $4)
	if (!($1 in nrow)) { nmeters++; order[nmeters] = $1 }
	nrow[$1]++
	if ($3 + 0 == 0) zeros[$1]++
	units[$1, $4] = 1
	if (ORDER == "meter" && $1 < lastmeter) die("line " FNR ": meter order broken at " $1)
	if (ORDER == "meter" && ($1 in lastt) && t <= lastt[$1]) die("line " FNR ": time order broken within " $1)
	if (ORDER == "meter") { lastmeter = $1; lastt[$1] = t }
	if (ORDER == "time" && t < lasttime) die("line " FNR ": time order broken at " $2)
	if (ORDER == "time") lasttime = t
}
END {
	if (errors > 20) exit 1
	missing = 0
	for (k = 1; k <= nlab; k++) {
		kind = K[k]; m = LM[k]; s = utc(LS[k]); e = utc(LE[k])
		n = (e - s) / IV + 1
		if (kind == "short_gap" || kind == "long_gap" || kind == "offline") {
			if (dnum(k, "intervals") != n) die(kind " " m " " LS[k] ": intervals=" detail(k, "intervals") " but span is " n)
			if (kind == "short_gap" && (n < 1 || n > 6)) die("short_gap of " n)
			if (kind == "long_gap" && (n < 3 * 60 / IV || n > 10 * 60 / IV)) die("long_gap of " n)
			if (kind == "offline" && (n < 24 * 60 / IV || n > 72 * 60 / IV)) die("offline of " n)
			for (t = s; t <= e; t += IV)
				if ((m, t) in present) { die(kind " " m " " LS[k] ": a row exists inside the gap"); break }
			if (!(clean[m, s - IV] || present[m, s - IV]) || !clean[m, e + IV])
				die(kind " " m " " LS[k] ": not bounded by readings")
			missing += n
		} else if (kind == "stuck_zero" || kind == "flatline") {
			if (dnum(k, "intervals") != n || n < 8 * 60 / IV) die(kind " " m ": " n " intervals")
			fv = detail(k, "value")
			for (t = s; t <= e; t += IV) {
				if (!clean[m, t]) { die(kind " " m ": no clean row at minute " t); break }
				if (kind == "stuck_zero" && val[m, t] + 0 != 0) { die("stuck_zero " m ": value " val[m, t]); break }
				if (kind == "flatline" && (val[m, t] != fv || fv + 0 == 0)) { die("flatline " m ": " val[m, t] " != " fv); break }
			}
			if (kind == "stuck_zero" && zeros[m] != n) die("stuck_zero " m ": " zeros[m] " zero rows, label says " n)
		} else if (kind == "level_shift") {
			f = dnum(k, "factor")
			if (!((f >= 2.5 && f <= 4) || (f >= 0.2 && f <= 0.35))) die("level_shift factor " f)
			if (e != T1 - IV || n < 2 * 1380 / IV) die("level_shift " m " must run to the end, >= 2 days")
			sb = 0; nb = 0; sa = 0; na = 0
			for (t = s - 2 * 1440; t < s; t += IV) if (clean[m, t]) { sb += kwv[m, t]; nb++ }
			for (t = s; t <= e; t += IV) if (clean[m, t]) { sa += kwv[m, t]; na++ }
			r = (nb && na && sb > 0) ? (sa / na) / (sb / nb) / f : 0
			if (r < 0.6 || r > 1.67) die("level_shift " m " factor " f ": observed ratio/factor " r)
		} else if (LL[k] == "") die("label without line number: " kind)
	}
	expect = BASE - missing + kinds["duplicate"] + kinds["duplicate_conflict"]
	if (rows != expect) die("data rows " rows " != " BASE " - " missing " missing + " kinds["duplicate"] " + " kinds["duplicate_conflict"] " duplicates = " expect)
	for (m in nrow) if ((m, "W") in units && (m, "kW") in units) switched++
	printf "  rows=%d labelled_lines=%d missing=%d meters_with_W_and_kW=%d\n", rows, dirty, missing, switched
	for (kk in kinds) print "KIND " kk " " kinds[kk] > KINDFILE
	if (errors) exit 1
}
AWK

# check_run NAME ARGS... : generate with labels and run the checker
check_run() {
	local name=$1 meters days interval start order prefix base lines t0 t1
	shift
	$GEN "$@" --out "$TMP/$name.csv" --labels "$TMP/$name.lab" 2>"$TMP/$name.err"
	meters=$(sed -n 's/.*meters=\([0-9]*\).*/\1/p' "$TMP/$name.err")
	lines=$($GEN "$@" --faults none 2>/dev/null | wc -l)
	base=$((lines - 1))
	interval=15; order=meter; prefix=M; start=2024-03-25; days=7
	local hist=0
	while [ $# -gt 0 ]; do
		case $1 in
			--interval) interval=$2 ;;
			--order) order=$2 ;;
			--meter-prefix) prefix=$2 ;;
			--start) start=$2 ;;
			--days) days=$2 ;;
			--history-days) hist=$2 ;;
		esac
		shift
	done
	# series bounds in UTC minutes, from the clean run's first/last rows
	read -r t0 t1 < <($GEN --meters 1 --days "$days" --start "$start" --history-days "$hist" \
		--interval "$interval" --faults none 2>/dev/null | awk -F, -v IV="$interval" '
		function dfc(y, m, d,   era, yoe, doy, doe) { y -= (m <= 2); era = int((y >= 0 ? y : y - 399) / 400); yoe = y - era * 400
			doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1; doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
			return era * 146097 + doe - 719468 }
		function utc(s) { return dfc(substr(s, 1, 4) + 0, substr(s, 6, 2) + 0, substr(s, 9, 2) + 0) * 1440 + \
			substr(s, 12, 2) * 60 + substr(s, 15, 2) - substr(s, 21, 2) * 60 }
		NR == 2 { a = utc($2) } END { print a, utc($2) + IV }')
	if awk -v IV="$interval" -v ORDER="$order" -v PREFIX="$prefix" -v BASE="$base" \
		-v T0="$t0" -v T1="$t1" -v KINDFILE="$TMP/$name.kinds" \
		-f "$TMP/check.awk" "$TMP/$name.lab" "$TMP/$name.csv" 2>/dev/null; then
		ok "$name: labels match the data ($meters meters)"
	else
		fail "$name: label/data check (see above)"
	fi
}

ALL_KINDS="spike negative_value bad_timestamp bad_value missing_value bad_unit implausible_value
off_grid_timestamp timestamp_out_of_range missing_field duplicate duplicate_conflict short_gap long_gap
stuck_zero flatline level_shift offline"

check_run heavy --meters 300 --days 7 --faults heavy
missing_kinds=""
for k in $ALL_KINDS; do
	grep -q "^KIND $k " "$TMP/heavy.kinds" || missing_kinds="$missing_kinds $k"
done
if [ -z "$missing_kinds" ]; then ok "heavy 300 x 7: all $(echo $ALL_KINDS | wc -w) label kinds present"
else fail "heavy 300 x 7: missing kinds:$missing_kinds"; fi
grep -q 'lines=' "$TMP/heavy.err" || fail "no stderr summary"

check_run default --meters 200 --days 7
check_run time_order --meters 120 --days 5 --faults heavy --order time --seed 3
check_run history --meters 60 --days 2 --history-days 5 --interval 30 --faults heavy --seed 11 --meter-prefix X --start 2024-10-26
check_run hourly --meters 80 --days 4 --interval 60 --start 2024-01-01 --seed 99

# a meter-order and a time-order run hold the same rows
$GEN --meters 120 --days 5 --faults heavy --order meter --seed 3 2>/dev/null | sort > "$TMP/m.sorted"
if sort "$TMP/time_order.csv" | cmp -s - "$TMP/m.sorted"; then ok "--order time holds the same rows as --order meter"
else fail "--order time and --order meter hold different rows"; fi

# >= 50 meters: each per-meter kind at least once even at default rates
$GEN --meters 50 --days 7 --out /dev/null --labels "$TMP/m50.lab" 2>/dev/null
m50=$(for k in stuck_zero flatline level_shift offline; do grep -c "^$k," "$TMP/m50.lab" || true; done | tr '\n' ' ')
if [ "$m50" = "1 1 1 1 " ]; then ok "50 meters: one of each per-meter fault"
else fail "50 meters: per-meter fault counts $m50"; fi

# history days are clean: nothing labelled before --start
if awk -F, 'NR > 1 && $4 < "2024-10-25T23:00:00+00:00" { bad = 1 } END { exit bad }' "$TMP/history.lab"; then
	ok "no faults inside --history-days"
else fail "faults inside --history-days"; fi

# with faults, a few meters legitimately mix W and kW
if awk -F, 'NR > 1 && ($4 == "W" || $4 == "kW") { u[$1, $4] = 1; m[$1] = 1 }
	END { for (x in m) if (u[x, "W"] && u[x, "kW"]) n++; exit !(n >= 1) }' "$TMP/heavy.csv"; then
	ok "some meters switch between W and kW"
else fail "no meter switches unit"; fi

# --shift-start / --shift-factors: level shifts start on those days (local
# midnight, Europe/London) with those factors, and last to the end
$GEN --meters 400 --days 21 --faults heavy --seed 5 --shift-start 6:14 --shift-factors 0.25,0.5,2,4 \
	--out /dev/null --labels "$TMP/shift.lab" 2>/dev/null
if awk -F, '$1 == "level_shift" { n++; f = substr($6, 8, 4); split($4, d, "T");
		if (d[1] < "2024-03-30" || d[1] > "2024-04-08" || (f != "0.25" && f != "0.50" && f != "2.00" && f != "4.00") ||
		    $5 != "2024-04-14T22:45:00+00:00") bad = 1 }
	END { exit bad || n < 10 }' "$TMP/shift.lab"; then
	ok "--shift-start 6:14 --shift-factors: shifts on days 6-14 with those factors, to the end"
else fail "--shift-start/--shift-factors not honoured"; fi
if $GEN --shift-start 6 >/dev/null 2>&1 || $GEN --shift-start 9:3 >/dev/null 2>&1 ||
	$GEN --shift-factors 1 >/dev/null 2>&1 || $GEN --shift-factors 2,x >/dev/null 2>&1; then
	fail "invalid --shift-start/--shift-factors accepted"
else ok "invalid --shift-start/--shift-factors rejected"; fi

# bad arguments are rejected
if $GEN --interval 20 >/dev/null 2>&1 || $GEN --start 2024-02-30 >/dev/null 2>&1 ||
	$GEN --faults lots >/dev/null 2>&1 || $GEN --meters 0 >/dev/null 2>&1; then
	fail "invalid arguments accepted"
else ok "invalid arguments rejected"; fi

# ------------------------------------------------- archetypes, anomalous days
# (issue 20) the options change nothing else: the fault-free readings of a
# fleet with anomalous days differ from the plain fleet's only on the
# labelled days; every meter has one archetype label; no clean reading is
# negative (PV homes import less at midday, they never read below zero)
$GEN --meters 100 --days 7 --seed 3 --faults none --out "$TMP/p.csv" 2>/dev/null
$GEN --meters 100 --days 7 --seed 3 --faults none --anomaly-days 10 --out "$TMP/q.csv" --labels "$TMP/q.lab" 2>/dev/null
$GEN --meters 100 --days 7 --seed 3 --faults none --archetypes --anomaly-days 10 \
	--out "$TMP/r.csv" --labels "$TMP/r.lab" 2>/dev/null
$GEN --meters 100 --days 7 --seed 3 --faults none --archetypes --anomaly-days 10 \
	--out "$TMP/s.csv" --labels "$TMP/s.lab" 2>/dev/null
if [ "$(grep -c '^anomaly_day,' "$TMP/q.lab")" -eq 10 ] && ! grep -q '^archetype,' "$TMP/q.lab" &&
	awk -F, 'FNR == 1 { f++ } f == 1 && /^anomaly_day,/ { a[$2] = 1; next }
		f == 2 { p[FNR] = $0; next }
		f == 3 && $0 != p[FNR] { if (!($1 in a)) bad = 1; d++ }
		END { exit bad || d == 0 }' "$TMP/q.lab" "$TMP/p.csv" "$TMP/q.csv"; then
	ok "--anomaly-days 10 on 100 meters: 10 labelled days, readings of other meters unchanged"
else fail "--anomaly-days: wrong labels or readings changed off the labelled meters"; fi
if cmp -s "$TMP/r.csv" "$TMP/s.csv" && cmp -s "$TMP/r.lab" "$TMP/s.lab" &&
	[ "$(grep -c '^archetype,' "$TMP/r.lab")" -eq 100 ] &&
	[ "$(grep '^archetype,' "$TMP/r.lab" | cut -d, -f6 | sort -u | wc -l)" -eq 6 ] &&
	! awk -F, 'NR > 1 && $3 ~ /^-/ { found = 1 } END { exit !found }' "$TMP/r.csv"; then
	ok "--archetypes: deterministic, one of 6 archetypes per meter, no negative reading"
else fail "--archetypes: labels, determinism or negative readings"; fi

# ------------------------------------------------------------ timing
start_ns=$(date +%s%N)
$GEN --meters 50000 --days 1 --out "$TMP/big.csv" 2>"$TMP/big.err"
end_ns=$(date +%s%N)
secs=$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
big_lines=$(wc -l < "$TMP/big.csv")
echo "     50,000 meters x 1 day: $big_lines lines in $secs s"
if awk -v s="$secs" -v l="$TIME_LIMIT" 'BEGIN { exit !(s < l) }'; then ok "timing under ${TIME_LIMIT}s"
else fail "timing ${secs}s >= ${TIME_LIMIT}s"; fi

if [ "$failures" -ne 0 ]; then
	echo "gen_fleet_check: $failures failure(s)"
	exit 1
fi
echo "gen_fleet_check: all passed"
