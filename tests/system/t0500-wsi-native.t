#!/bin/bash
# t0500-wsi-native.t - a generated whole-slide image of native RGB tiles
# (two levels, level 0 about 150 MB) round-trips byte-identical through
# import, dcmfsctl get and the mount (random tiles at their frame offsets,
# then 1 MiB reads), and its import stays under 200 MB of peak RSS.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/wsi.sh"
need_fuse
wsi_roundtrip native "${DCMFS_TEST_WSI_MB:-150}"
done_testing
