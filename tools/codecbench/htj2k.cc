/*
 * htj2k.cc - OpenJPH HTJ2K lossless as a reference: each frame one
 * codestream (reversible 5/3 wavelet, 5 levels or fewer for tiny images,
 * 64x64 code blocks, the reversible colour transform for 3 components), the
 * data's real bit depth.
 * OpenJPH reports errors by throwing: every call is caught here.
 */
#include "refs.h"

/* ojph_arch.h defines OJPH_EXPORT, which the other headers use unincluded */
#include <openjph/ojph_arch.h>
#include <openjph/ojph_codestream.h>
#include <openjph/ojph_file.h>
#include <openjph/ojph_mem.h>
#include <openjph/ojph_params.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <vector>

namespace {

/* Sample x of component comp on row y of a frame. */
inline ojph::si32 sample_at(const uint8_t *frame, const codec_layout &l,
			    bool is_signed, ojph::ui32 comp, size_t y, size_t x)
{
	size_t spp = l.samples_per_pixel;
	size_t i = l.planar ? (size_t)comp * l.rows * l.columns + y * l.columns + x
			    : (y * l.columns + x) * spp + comp;
	if (l.bytes_per_sample == 2) {
		uint16_t v = (uint16_t)(frame[2 * i] | frame[2 * i + 1] << 8);
		return is_signed ? (ojph::si32)(int16_t)v : (ojph::si32)v;
	}
	return is_signed ? (ojph::si32)(int8_t)frame[i] : (ojph::si32)frame[i];
}

inline void set_sample(uint8_t *frame, const codec_layout &l, ojph::ui32 comp,
		       size_t y, size_t x, ojph::si32 v)
{
	size_t spp = l.samples_per_pixel;
	size_t i = l.planar ? (size_t)comp * l.rows * l.columns + y * l.columns + x
			    : (y * l.columns + x) * spp + comp;
	if (l.bytes_per_sample == 2) {
		frame[2 * i] = (uint8_t)v;
		frame[2 * i + 1] = (uint8_t)(v >> 8);
	} else {
		frame[i] = (uint8_t)v;
	}
}

/* Appends the frame's u32 length and codestream to dst. */
void encode_frame(const uint8_t *frame, const codec_layout &l, int bits,
		  bool is_signed, std::vector<uint8_t> &dst)
{
	ojph::mem_outfile out;   /* closed by the codestream's close */
	out.open(l.columns * l.rows * 2u + 4096);
	ojph::codestream cs;
	ojph::param_siz siz = cs.access_siz();
	siz.set_image_extent(ojph::point(l.columns, l.rows));
	siz.set_num_components(l.samples_per_pixel);
	for (ojph::ui32 c = 0; c < l.samples_per_pixel; c++)
		siz.set_component(c, ojph::point(1, 1), (ojph::ui32)bits, is_signed);
	siz.set_image_offset(ojph::point(0, 0));
	siz.set_tile_size(ojph::size(l.columns, l.rows));
	siz.set_tile_offset(ojph::point(0, 0));
	ojph::param_cod cod = cs.access_cod();
	/* 5 levels, fewer for images too small for them (OpenJPH then
	 * decodes wrong pixels: a 3x3 image takes 1) */
	ojph::ui32 levels = 0, side = l.columns < l.rows ? l.columns : l.rows;
	while (levels < 5 && (side >> (levels + 1)) >= 1)
		levels++;
	cod.set_num_decomposition(levels);
	cod.set_block_dims(64, 64);
	cod.set_progression_order("RPCL");
	cod.set_color_transform(l.samples_per_pixel == 3);
	cod.set_reversible(true);
	cs.set_planar(false);
	cs.write_headers(&out);
	ojph::ui32 comp = 0;
	ojph::line_buf *line = cs.exchange(NULL, comp);
	for (size_t y = 0; y < l.rows; y++)
		for (ojph::ui32 c = 0; c < l.samples_per_pixel; c++) {
			for (size_t x = 0; x < l.columns; x++)
				line->i32[x] = sample_at(frame, l, is_signed, comp, y, x);
			line = cs.exchange(line, comp);
		}
	cs.flush();
	uint32_t n = (uint32_t)out.tell();
	const uint8_t *p = (const uint8_t *)&n;
	dst.insert(dst.end(), p, p + 4);
	dst.insert(dst.end(), out.get_data(), out.get_data() + n);
	cs.close();
}

void decode_frame(const uint8_t *enc, size_t len, const codec_layout &l,
		  uint8_t *frame)
{
	ojph::codestream cs;
	ojph::mem_infile in;
	in.open(enc, len);
	cs.read_headers(&in);
	cs.create();
	for (size_t y = 0; y < l.rows; y++)
		for (ojph::ui32 c = 0; c < l.samples_per_pixel; c++) {
			ojph::ui32 comp;
			ojph::line_buf *line = cs.pull(comp);
			for (size_t x = 0; x < l.columns; x++)
				set_sample(frame, l, comp, y, x, line->i32[x]);
		}
	cs.close();
}

int htj2k_encode(ref_series *s)
{
	try {
		for (int i = 0; i < s->n; i++) {
			ref_image *im = &s->im[i];
			int bits = im->is_signed ? ref_signed_bit_depth(im) :
						   ref_bit_depth(im);
			std::vector<uint8_t> out;
			out.reserve(im->pix_len / 2);
			/* frames back to back, each prefixed with its u32 length */
			for (uint32_t f = 0; f < im->layout.frames; f++) {
				size_t flen;
				encode_frame(ref_frame(im, f, &flen), im->layout, bits,
					     im->is_signed != 0, out);
			}
			im->enc_len = out.size();
			im->enc = (uint8_t *)std::malloc(im->enc_len);
			if (!im->enc) {
				std::snprintf(s->why, sizeof(s->why), "htj2k: out of memory");
				return -1;
			}
			std::memcpy(im->enc, out.data(), im->enc_len);
		}
	} catch (const std::exception &e) {
		std::snprintf(s->why, sizeof(s->why), "htj2k encode: %s", e.what());
		return -1;
	}
	return 0;
}

int htj2k_decode(ref_series *s, uint8_t *dst)
{
	try {
		for (int i = 0; i < s->n; i++) {
			const ref_image *im = &s->im[i];
			size_t at = 0;
			for (uint32_t f = 0; f < im->layout.frames; f++) {
				size_t flen;
				uint32_t n;
				ref_frame(im, f, &flen);
				if (im->enc_len - at < 4)
					throw std::runtime_error("truncated");
				std::memcpy(&n, im->enc + at, 4);
				decode_frame(im->enc + at + 4, n, im->layout, dst);
				dst += flen;
				at += 4 + (size_t)n;
			}
		}
	} catch (const std::exception &e) {
		std::snprintf(s->why, sizeof(s->why), "htj2k decode: %s", e.what());
		return -1;
	}
	return 0;
}

} // namespace

extern "C" const ref_codec ref_htj2k = { "htj2k", htj2k_encode, htj2k_decode };
