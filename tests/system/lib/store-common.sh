# Shared by the store tests: TAP helpers, a private temp folder, the corpus.
# Source it; then use ok/fail/plan/skip_all and $TMP, $CTL, $CORPUS.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD=${BUILD:-$TOP/build}
CTL=$BUILD/dcmfsctl
SCAN=$BUILD/dcmfs-scan
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dcmfs-t.XXXXXX")
PYDICOM_FILES=/usr/lib/python3/dist-packages/pydicom/data/test_files
if [ -d "$TOP/../shared/corpus" ]; then
	CORPUS=$(cd "$TOP/../shared/corpus" && pwd)
else
	CORPUS=""
fi
_cleanups=()
at_exit() { _cleanups+=("$*"); }
_run_cleanups() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[i]}" || true; done
	rm -rf "$TMP"
}
trap _run_cleanups EXIT

_n=0
_failed=0
plan() { echo "1..$1"; }
ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $*"; }
# check DESCRIPTION COMMAND...: one TAP line from a command's exit status.
check() {
	local d=$1
	shift
	if "$@" >"$TMP/check.out" 2>&1; then ok "$d"; else not_ok "$d"; sed 's/^/# /' "$TMP/check.out" | head -20; fi
}
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
done_testing() { echo "1..$_n"; [ "$_failed" -eq 0 ]; exit $?; }

# The sample data: the shared corpus, else Debian's pydicom test files.
sample_dir() {
	if [ -n "$CORPUS" ]; then echo "$CORPUS"; elif [ -d "$PYDICOM_FILES" ]; then echo "$PYDICOM_FILES"; else echo ""; fi
}

# A JSON field of `dcmfsctl stats --json` (total section).
stat_total() {
	"$CTL" stats --json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['total']['$2'])"
}
