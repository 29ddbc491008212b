/*
 * model.h - dcmfs-codecbench -M: estimates the ratio a residual model would
 * reach on grey images before it is built (model.c says which model), so
 * a codec's next method can be chosen by numbers.  Prints six lines
 * "model ratio, ..." (three for the JPEG-LS-like model, three for its
 * decoder-friendly variant); returns 0, or -1 (no usable image, out of memory).
 */
#ifndef DCMFS_CODECBENCH_MODEL_H
#define DCMFS_CODECBENCH_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

struct model_image {
	const uint8_t *pix;             /* native pixels, pix_len bytes */
	size_t pix_len;
	struct codec_layout layout;     /* grey (1 sample), 1 or 2 bytes */
	int bits_stored;                /* sets the context thresholds */
	int is_signed;
};

int model_estimate(const struct model_image *ims, int n);

#endif
