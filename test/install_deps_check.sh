#!/usr/bin/env bash
# Does test/install_deps.sh install every command the suites call?  A fast
# check without a clean machine (test/install_deps_chroot.sh is the slow one:
# the script run in a fresh Debian bookworm root).
#
#   1. every package install_deps.sh names is known to apt;
#   2. every command the scripts call -- read from test/**/*.sh, .ci/run,
#      src/sql/build.sh and the Makefile's recipes by test/shell_commands.awk,
#      plus the few they call through variables (cc, valgrind, runuser, the
#      server's programs) -- is found in a Debian PATH and belongs to a
#      package that install_deps.sh installs, or that one of those depends
#      on (Depends and Pre-Depends as installed here: the script installs
#      without Recommends), or to Debian's base set: what a minimal bookworm
#      root has (mmdebstrap --variant=minbase: Essential: yes, Priority:
#      required, and apt, which a root has as Priority: important), with
#      their dependencies.
# Shell builtins and keywords and the scripts' own functions are not
# commands.  Prints one "ok" line per check and a FAIL line per command that
# the script would not install.  Usage: test/install_deps_check.sh [-v]
set -euo pipefail
cd "$(dirname "$0")/.."
verbose=${1:-}
failures=0
ok()   { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
work=$(mktemp -d /tmp/meter_etl_deps_check.XXXXXX)
trap 'rm -rf "$work"' EXIT

test/install_deps.sh --list > "$work/listed"

# 1. the names are packages apt knows
apt-cache --no-all-versions show $(cat "$work/listed") 2>/dev/null | sed -n 's/^Package: //p' | sort -u > "$work/known"
unknown=$(sort -u "$work/listed" | comm -23 - "$work/known")
if ! apt-cache --no-all-versions show apt >/dev/null 2>&1; then
  echo "skip package names: apt has no package lists here (apt-get update fetches them)"
elif [ -z "$unknown" ]; then ok "apt knows all $(wc -l < "$work/listed") packages install_deps.sh names"
else fail "install_deps.sh names packages apt does not know: $(echo $unknown)"; fi

# 2a. what the scripts call.  First the reader itself, on a script whose
# commands are known: alpha beta delta epsilon zeta cat kappa nu awk omicron
# are called; the comment, the here-document, the for list, the array, the
# awk program and the redirection targets are not commands
cat > "$work/fixture.sh" <<'EOF'
x=$(alpha --flag "$(beta)")   # gamma
if delta | epsilon && ! zeta; then :; fi
cat <<'SQL' > out.txt
eta
SQL
for i in theta iota; do kappa "$i" 2>&1 >/dev/null; done
arr=(lambda mu)
fn() { nu; }
awk '
xi
' file | LC_ALL=C omicron
EOF
got=$(awk -f test/shell_commands.awk "$work/fixture.sh" | awk -F'\t' '$3 == "" { print $1 } $3 == "function" { print "function:" $1 }' | sort | tr '\n' ' ')
want="alpha awk beta cat delta epsilon function:fn kappa nu omicron zeta "
if [ "$got" = "$want" ]; then ok "shell_commands.awk reads a script's commands"
else fail "shell_commands.awk read '$got' from its fixture, not '$want'"; fi

# (not test/install_deps_chroot.sh: it runs on the machine that builds the
# clean root, with Debian's base set and the mmdebstrap it installs itself)
scripts=$(ls test/*.sh test/*/*.sh .ci/run src/sql/build.sh | grep -vx test/install_deps_chroot.sh)
{ awk -f test/shell_commands.awk $scripts; awk -v make=1 -f test/shell_commands.awk Makefile; } > "$work/calls"
awk -F'\t' '$3 == "function" { print $1 }' "$work/calls" | sort -u > "$work/functions"
bindir=$(pg_config --bindir)
# called through variables or arrays, which the reader does not follow
{
  awk -F'\t' '$3 != "function" { print $1 "\t" $2 }' "$work/calls"
  printf '%s\tMakefile: UNIT_CC, PGXS\n' cc gcc
  printf 'valgrind\ttest/run_all.sh: each_unit_test\n'
  printf 'runuser\ttest/check.sh: run=(runuser ...)\n'
  printf 'clang\ttest/run_all.sh: UNIT_CC=clang\n'
  for p in postgres initdb pg_ctl psql; do printf '%s\ttest/check.sh: copied from pg_config --bindir\n' "$bindir/$p"; done
  printf '%s\ttest/check.sh: pg_regress\n' "$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress"
} | sort -u -t "$(printf '\t')" -k1,1 > "$work/commands"

# 2b. the packages install_deps.sh brings, with their dependencies as
# installed here, and Debian's base set with its dependencies
dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Priority}\t${Essential}\t${Provides}\t${Pre-Depends}, ${Depends}\n' > "$work/dpkg"
closure() {   # closure ROOTS-FILE: every installed package the roots depend on, roots included
  awk -F'\t' -v roots="$1" '
    function clean(s) { sub(/^[ \t]+/, "", s); sub(/[ (:].*$/, "", s); return s }
    FNR == NR { if ($1 ~ /^ii/) { inst[$2] = 1; dep[$2] = $6; np = split($5, pv, ","); for (i = 1; i <= np; i++) if (clean(pv[i]) != "") prov[clean(pv[i])] = prov[clean(pv[i])] " " $2 }
                if ($1 ~ /^ii/ && roots == "REQUIRED" && ($3 == "required" || $4 == "yes" || $2 == "apt")) queue[++nq] = $2
                next }
    { queue[++nq] = $1 }
    END {
      for (h = 1; h <= nq; h++) {
        p = queue[h]
        if (!(p in inst) || (p in seen)) continue
        seen[p] = 1; print p
        ng = split(dep[p], groups, ",")
        for (g = 1; g <= ng; g++) {
          na = split(groups[g], alts, "|")
          for (a = 1; a <= na; a++) {
            x = clean(alts[a])
            if (x == "") continue
            if (x in inst) { queue[++nq] = x; break }
            if (x in prov) { split(prov[x], pp, " "); queue[++nq] = pp[1]; break }
          }
        }
      }
    }' "$work/dpkg" "$2"
}
closure LISTED "$work/listed" | sort -u > "$work/by_script"
echo > "$work/none"
closure REQUIRED "$work/none" | sort -u > "$work/required"

# 2c. each command: its path in a Debian PATH, then the package whose file
# list holds it (or its merged-/usr twin, or the target of its symbolic
# link), from one search of dpkg's file lists
while IFS=$'\t' read -r cmd where; do
  grep -qxF "$cmd" "$work/functions" && continue
  case $(type -t "$cmd" 2>/dev/null || true) in builtin|keyword) continue ;; esac
  if [ "${cmd#/}" != "$cmd" ]; then path=$cmd
  else path=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$cmd" 2>/dev/null || true); fi
  [ -n "$path" ] || continue   # not a program: a word the reader took for one
  printf '%s\t%s\t%s\n' "$cmd" "$where" "$path"
done < "$work/commands" > "$work/resolved"
while IFS=$'\t' read -r cmd where path; do
  for f in "$path" "$(readlink -f "$path")"; do
    f=$(realpath -s -m "$f")
    printf '%s\n' "$f" "${f/#\/usr\//\/}" "/usr$f"
  done
done < "$work/resolved" | sort -u > "$work/paths"
grep -xF -f "$work/paths" /var/lib/dpkg/info/*.list 2>/dev/null |
  sed 's|^/var/lib/dpkg/info/\([^:]*\)\.list:|\1\t|; s|^\([^:\t]*\):[^\t]*\t|\1\t|' > "$work/owners"
n=0
while IFS=$'\t' read -r cmd where path; do
  n=$((n + 1))
  pkg=""
  for f in "$path" "$(readlink -f "$path")"; do
    f=$(realpath -s -m "$f")
    pkg=$(awk -F'\t' -v a="$f" -v b="${f/#\/usr\//\/}" -v c="/usr$f" '$2 == a || $2 == b || $2 == c { print $1; exit }' "$work/owners")
    [ -n "$pkg" ] && break
  done
  if [ -z "$pkg" ]; then
    fail "$cmd ($where): $path belongs to no Debian package"
    continue
  fi
  if grep -qxF "$pkg" "$work/by_script"; then how="install_deps.sh"
  elif grep -qxF "$pkg" "$work/required"; then how="base"
  else
    fail "$cmd ($where): $path is in package $pkg, which install_deps.sh does not install (add it to its list)"
    continue
  fi
  if [ "$verbose" = -v ]; then printf '   %-22s %-34s %-28s %s\n' "$cmd" "$path" "$pkg" "$how"; fi
done < "$work/resolved"
# the scripts call far more than a few commands: a reader that finds few is broken
[ "$n" -ge 40 ] || fail "only $n commands found in the scripts: test/shell_commands.awk misreads them"
if [ "$failures" -eq 0 ]; then
  ok "all $n commands the suites call come from packages install_deps.sh installs or Debian's base set"
fi
[ "$failures" -eq 0 ]
