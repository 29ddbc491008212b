#!/bin/bash
# t0605-man-pages.t - dcmfs(8) and dcmfsctl(8) render without a warning
# under `man --warnings`; dcmfs(8) names every option `dcmfs -h` lists and
# dcmfsctl(8) every command `dcmfsctl --help` lists; dcmfsctl(8) and README.md
# name every long option it lists.
. "$(dirname "$0")/lib/common.sh"
[ -x "$DCMFS" ] && [ -x "$CTL" ] || skip_all "dcmfs and dcmfsctl not built"
command -v man >/dev/null || skip_all "man (man-db) not installed"
for page in dcmfs.8 dcmfsctl.8; do
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$TOP/packaging/$page" >"$T/out" 2>"$T/warnings"
	st=$?
	check "$page renders (exit $st)" [ $st = 0 ]
	check "$page: no warnings" [ ! -s "$T/warnings" ]
	diag <"$T/warnings"
	for s in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		check "$page has $s" grep -q "^$s" "$T/out"
	done
	cp "$T/out" "$T/$page.txt"
done
"$DCMFS" -h >"$T/help"
for o in $({ grep -o -- '-o [a-z_]*' "$T/help" | sed 's/^-o //'; grep -o -- '^  -[a-zA-Z]\b' "$T/help"; } |
	tr -d ' ' | sort -u); do
	check "dcmfs(8) names $o" grep -q -- "$o" "$T/dcmfs.8.txt"
done
"$CTL" --help >"$T/help"
for c in $(sed -n 's/^  \([a-z][a-z]*\) .*/\1/p' "$T/help" | sort -u); do
	check "dcmfsctl(8) describes $c" grep -q "^       $c\b" "$T/dcmfsctl.8.txt"
done
names_both() { grep -q -- "$1" "$T/dcmfsctl.8.txt" && grep -q -- "$1" "$TOP/README.md"; }
for o in $(grep -o -- '--[a-z][a-z-]*' "$T/help" | sort -u); do
	check "dcmfsctl(8) and README name $o" names_both "$o"
done
done_testing
