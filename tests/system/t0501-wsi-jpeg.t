#!/bin/bash
# t0501-wsi-jpeg.t - a generated whole-slide image of JPEG-baseline tiles
# (one fragment a tile, a Basic Offset Table; two levels, level 0 about
# 180 MB, large enough that an import holding the file whole would pass the
# bound) round-trips byte-identical through import, dcmfsctl get and the
# mount (random tiles at the offsets of the Basic Offset Table, then 1 MiB
# reads), and its import stays under 200 MB of peak RSS.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/wsi.sh"
need_fuse
wsi_roundtrip jpeg "${DCMFS_TEST_WSI_MB:-180}"
done_testing
