#!/bin/bash
# torture.sh [--seconds N] [torture.py options]: the long run behind
# `make torture`: kill -9 of imports and of the FUSE daemon, and random
# damage to packs, blob files and index.db, on the corpus (variety/ and the
# real/ files; or Debian's pydicom test files), for N seconds.
# Prints the counts (see torture.py); exit 1 when a promise did not hold.
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS=$HERE/../../../shared/corpus
data=()
if [ -d "$CORPUS" ]; then
	CORPUS=$(cd "$CORPUS" && pwd)
	data=(--data "$CORPUS/variety" --data "$CORPUS/real")
fi
exec /usr/bin/python3 "$HERE/torture.py" "${data[@]}" "$@"
