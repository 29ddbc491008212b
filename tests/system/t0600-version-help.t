#!/bin/bash
# t0600-version-help.t - every program answers --version with its name and
# the version of index/version.h (exit 0); `dcmfsctl COMMAND --help` prints
# that command's usage, and only it, with exit 0, for every command that
# `dcmfsctl --help` lists; an unknown command's --help is still an error;
# every option `dcmfsctl --help` names is in README.md and dcmfsctl(8).
. "$(dirname "$0")/lib/common.sh"
[ -x "$CTL" ] || skip_all "$CTL not built"
version=$(sed -n 's/^#define DCMFS_VERSION "\(.*\)"$/\1/p' "$TOP/index/version.h")
check "index/version.h names a version ($version)" [ -n "$version" ]
for p in dcmfs dcmfsctl dcmfs-scan dcmfs-codecbench dcmfs-sharebench dcmfs-gencorpus; do
	out=$("$BUILD/$p" --version 2>&1)
	st=$?
	check "$p --version exits 0 and says '$p $version'" eval '[ $st = 0 ] && [[ "$out" == "$p $version"* ]] || { echo "$st: $out"; false; }'
done
if $PY -c 'import xxhash, zstandard' 2>/dev/null; then
	check "dcmfs-extract.py --version" eval '[ "$($PY "$TOP/tools/dcmfs-extract.py" --version)" = "dcmfs-extract.py $version" ]'
else
	skip "dcmfs-extract.py --version: python3-xxhash or python3-zstandard not installed"
fi
check "the storescp front door answers --version" eval '"$TOP/packaging/dcmfs-storescp" --version | grep -q "^dcmfs-storescp "'

"$CTL" --help >"$T/help" 2>&1
commands=$(sed -n 's/^  \([a-z][a-z]*\)\( .*\)\?$/\1/p' "$T/help" | sort -u)
check "dcmfsctl --help lists commands" [ "$(echo "$commands" | wc -w)" -ge 10 ]
for c in $commands; do
	"$CTL" "$c" --help >"$T/out" 2>&1
	st=$?
	check "dcmfsctl $c --help exits 0 with $c's usage alone" eval '[ $st = 0 ] && grep -q "^  $c " "$T/out" &&
		! grep "^  [a-z]" "$T/out" | grep -vq "^  $c " || { echo "exit $st"; cat "$T/out"; false; }'
done
check "dcmfsctl help import is import's usage" eval '"$CTL" help import | grep -q "^  import "'
check "dcmfsctl frobnicate --help exits 2" exits_with 2 "unknown command 'frobnicate'" "$CTL" frobnicate --help
check "dcmfsctl --version is not an unknown command" eval '"$CTL" --version | grep -qv unknown'

# every option of --help is documented where an admin looks
opts=$(grep -o -- ' -[a-zA-Z]\b\| --[a-z][a-z-]*' "$T/help" | tr -d ' ' | sort -u)
for o in $opts; do
	check "README.md names $o" grep -q -- "$o\b" "$TOP/README.md"
	check "dcmfsctl(8) names $o" grep -q -- "$(echo "$o" | sed 's/-/\\\\-/g')" "$TOP/packaging/dcmfsctl.8"
done
done_testing
