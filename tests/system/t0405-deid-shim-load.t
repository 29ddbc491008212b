#!/bin/bash
# t0405-deid-shim-load.t - dcmfsctl starts without GDCM (its dictionaries
# cost every start some 20 ms) and loads the de-identification shim
# dcmfs-deid-gdcm.so at the first rewrite (tools/deid_gdcm_lazy.c): from
# ../lib/dcmfs/ or beside the program, only when root or the caller owns it
# and nobody else may write it.  Without a usable shim, a de-identified share
# withholds every file (never shows one not de-identified) and says why once.
. "$(dirname "$0")/lib/common.sh"
[ -n "$CT_SERIES" ] || skip_all "needs ../shared/corpus (a real CT series)"
SHIM=$BUILD/dcmfs-deid-gdcm.so
[ -f "$SHIM" ] || skip_all "no $SHIM (make all builds it)"
n=$(ls "$CT_SERIES" | wc -l)
S=$T/store
check "import a CT series" new_store "$S" "$CT_SERIES"

# 1. No GDCM library is loaded at start.
libs=$(ldd "$CTL" 2>&1)
echo "$libs" | grep -q 'libc\.so' && ! echo "$libs" | grep -qi gdcm &&
	ok "dcmfsctl links no GDCM library" || not_ok "ldd dcmfsctl: $(echo "$libs" | grep -i gdcm | head -3)"

# shows STORE NAME [CTL]: the de-identified instances share NAME shows
shows() { "${3:-$CTL}" share show "$1" "$2" 2>>"$T/show.err" | sed -n 's/^shows *\([0-9]*\) de-identified.*/\1/p'; }

# 2. With the shim beside the program, every file is de-identified.
"$CTL" share create "$S" a --all --deidentify >/dev/null
check "the shim beside dcmfsctl is loaded: the share shows all $n files" test "$(shows "$S" a)" = "$n"

# 3. A copy of dcmfsctl with no shim: every file withheld, one line says why.
mkdir -p "$T/bin"
cp "$CTL" "$T/bin/dcmfsctl"
: >"$T/show.err"
"$CTL" share create "$S" b --all --deidentify >/dev/null
got=$(shows "$S" b "$T/bin/dcmfsctl")
[ "$got" = 0 ] && [ "$(grep -c 'de-identification unavailable' "$T/show.err")" = 1 ] &&
	ok "without the shim nothing is shown and one line says why: $(cat "$T/show.err")" ||
	not_ok "without the shim: shows '$got', stderr: $(head -c 300 "$T/show.err")"

# 4. A shim others may write is not loaded.
cp "$SHIM" "$T/bin/dcmfs-deid-gdcm.so"
chmod 0666 "$T/bin/dcmfs-deid-gdcm.so"
: >"$T/show.err"
"$CTL" share create "$S" c --all --deidentify >/dev/null
got=$(shows "$S" c "$T/bin/dcmfsctl")
[ "$got" = 0 ] && grep -q 'others may write it' "$T/show.err" &&
	ok "a shim others may write is refused: $(cat "$T/show.err")" ||
	not_ok "writable shim: shows '$got', stderr: $(head -c 300 "$T/show.err")"

# 5. The same shim, made private, is loaded from beside the copy.
chmod 0644 "$T/bin/dcmfs-deid-gdcm.so"
: >"$T/show.err"
"$CTL" share create "$S" d --all --deidentify >/dev/null
check "the private shim beside the copy is loaded: all $n files shown" test "$(shows "$S" d "$T/bin/dcmfsctl")" = "$n"
done_testing
