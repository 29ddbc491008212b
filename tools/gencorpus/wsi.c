/*
 * wsi.c - whole-slide images for dcmfs-gencorpus --wsi (gencorpus.h).
 *
 * One run writes, per form asked for, one series of VL Whole Slide
 * Microscopy Image Storage instances (1.2.840.10008.5.1.4.1.1.77.1.6): a
 * pyramid of 2 or 3 levels, each level one tiled multi-frame instance
 * (DimensionOrganizationType TILED_FULL, 256x256 RGB tiles, row by row):
 *   native  Explicit VR Little Endian, PhotometricInterpretation RGB
 *   jpeg    JPEG baseline (1.2.840.10008.1.2.4.50), YBR_FULL_422, one
 *           fragment per tile, with a Basic Offset Table
 * Both forms share patient and study; each form is its own series.
 *
 * The picture is a real RGB image (the corpus's ultrasound image by
 * default) repeated mirror-wise over the slide; level L samples it every
 * 2^L pixels.  Every sample gets light noise in [-3, 3] drawn from a
 * stream keyed by seed, level and tile, so that no two tiles are equal and
 * the same options give the same bytes.
 *
 * A slide is streamed: the header, then tile after tile; only one tile and
 * (for jpeg) the offset table are held.  The offset table is written as a
 * placeholder and filled in at the end.  Each file is written under a
 * temporary name and renamed when complete.
 */
#include "gencorpus.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "../cli.h"

#define TILE 256
#define TILE_BYTES (TILE * TILE * 3)
#define WSI_SOP_CLASS "1.2.840.10008.5.1.4.1.1.77.1.6"
#define TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define TS_JPEG_BASELINE "1.2.840.10008.1.2.4.50"
/* Pixel spacing of level 0, in mm (0.25 micrometre, a 40x scan). */
#define SPACING0_MM 0.00025

/* The texture: an 8-bit RGB image, pixel-interleaved. */
struct texture {
	uint8_t *rgb;
	int w, h;
};

/* What the instances of one run share. */
struct slide {
	char study_uid[DCM_UI_MAX], for_uid[DCM_UI_MAX], specimen_uid[DCM_UI_MAX];
	char dim_uid[DCM_UI_MAX];
	long gx, gy;            /* level-0 tile grid */
};

/* One level of one form, as written. */
struct level {
	int jpeg, index;        /* level index 0.. */
	long gx, gy;            /* tile grid */
	long cols, rows;        /* total pixel matrix */
	char series_uid[DCM_UI_MAX], sop_uid[DCM_UI_MAX];
};

/* ---- texture ---- */

static void texture_load(struct texture *t, const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die("cannot open texture '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) || st.st_size <= 0)
		die("cannot read texture '%s'", path);
	uint8_t *b = xmalloc((size_t)st.st_size);
	size_t n = 0;
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, b + n, (size_t)st.st_size - n);
		if (r <= 0)
			die("cannot read texture '%s'", path);
		n += (size_t)r;
	}
	close(fd);
	struct dcm_info info;
	char err[256];
	if (dcm_scan(b, n, &info, err, sizeof(err)) != DCM_OK)
		die("texture '%s': %s", path, err);
	size_t need = (size_t)info.rows * (size_t)info.columns * 3;
	if (info.pixel_encapsulated || info.samples_per_pixel != 3 ||
	    info.bits_allocated != 8 || info.planar_configuration != 0 ||
	    info.pixel_value_length < need || info.rows < 16 || info.columns < 16)
		die("texture '%s' is not native 8-bit pixel-interleaved RGB", path);
	t->w = info.columns;
	t->h = info.rows;
	t->rgb = xmalloc(need);
	memcpy(t->rgb, b + info.pixel_value_offset, need);
	free(b);
}

/* The default texture: US1_UNCR.dcm under the usual corpus folders. */
static const char *texture_default(char *buf, size_t len)
{
	const char *env = getenv("DCMFS_CORPUS");
	const char *roots[] = { env, "../shared/corpus", "/work/shared/corpus" };
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		if (!roots[i])
			continue;
		snprintf(buf, len, "%s/real/us/US1_UNCR.dcm", roots[i]);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	die("no texture: real/us/US1_UNCR.dcm not found under $DCMFS_CORPUS, "
	    "../shared/corpus or /work/shared/corpus; give --wsi-texture FILE");
}

/* Mirror-wise repeat of [0, n) over all integers >= 0. */
static int mirror(long v, int n)
{
	long m = v % (2L * n);
	return (int)(m < n ? m : 2L * n - 1 - m);
}

/* Tile (tx, ty) of level lv into out[TILE_BYTES]. */
static void tile_make(const struct texture *t, uint64_t seed, const struct level *lv,
		      long tx, long ty, uint8_t *out)
{
	struct rng r = { rng_mix(rng_mix(seed, 0x57534931u + (uint64_t)lv->index),
				 (uint64_t)(ty * lv->gx + tx)) };
	static const int8_t noise[8] = { -3, -2, -1, 0, 1, 2, 3, 0 };
	uint64_t bits = 0;
	int left = 0;
	long step = 1L << lv->index;
	for (int y = 0; y < TILE; y++) {
		const uint8_t *row = t->rgb + (size_t)mirror((ty * TILE + y) * step, t->h) * (size_t)t->w * 3;
		uint8_t *o = out + (size_t)y * TILE * 3;
		for (int x = 0; x < TILE; x++) {
			const uint8_t *p = row + (size_t)mirror((tx * TILE + x) * step, t->w) * 3;
			for (int c = 0; c < 3; c++) {
				if (!left) {
					bits = rng_next(&r);
					left = 21;
				}
				int v = p[c] + noise[bits & 7];
				bits >>= 3;
				left--;
				*o++ = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
		}
	}
}

/* ---- JPEG ---- */

/* Encode one RGB tile as baseline JPEG, 4:2:2 (YBR_FULL_422), into a new
 * buffer *out of *outlen bytes that the caller frees.  (libjpeg's memory
 * destination would grow a buffer it was given by allocating another and
 * leaving the old one to us, so it always starts from none.) */
static void tile_jpeg(const uint8_t *rgb, int quality, unsigned char **out,
		      unsigned long *outlen)
{
	*out = NULL;
	*outlen = 0;
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	c.err = jpeg_std_error(&e);     /* its error_exit prints and exits */
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, out, outlen);
	c.image_width = TILE;
	c.image_height = TILE;
	c.input_components = 3;
	c.in_color_space = JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, quality, TRUE);
	c.comp_info[0].h_samp_factor = 2;
	c.comp_info[0].v_samp_factor = 1;
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < TILE) {
		JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * TILE * 3);
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
}

/* ---- element writer (explicit VR little endian) ---- */

static void put16(struct obuf *o, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	obuf_put(o, b, 2);
}

static void put32(struct obuf *o, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	obuf_put(o, b, 4);
}

static void tag(struct obuf *o, uint32_t t)
{
	put16(o, (uint16_t)(t >> 16));
	put16(o, (uint16_t)t);
}

/* Element header; long VRs (OB, SQ, UT ...) take 2 reserved bytes and a 32-bit length. */
static void head(struct obuf *o, uint32_t t, const char *vr, uint32_t len)
{
	tag(o, t);
	obuf_put(o, vr, 2);
	if (dcm_vr_is_long(vr)) {
		put16(o, 0);
		put32(o, len);
	} else {
		put16(o, (uint16_t)len);
	}
}

static void str(struct obuf *o, uint32_t t, const char *vr, const char *s)
{
	put_text_element(o, t, vr, s, 1);
}

static void us(struct obuf *o, uint32_t t, uint16_t v)
{
	head(o, t, "US", 2);
	put16(o, v);
}

static void ul(struct obuf *o, uint32_t t, uint32_t v)
{
	head(o, t, "UL", 4);
	put32(o, v);
}

static void fl(struct obuf *o, uint32_t t, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	head(o, t, "FL", 4);
	put32(o, u);
}

static void fmt_str(struct obuf *o, uint32_t t, const char *vr, const char *fmt, double v)
{
	char b[64];
	snprintf(b, sizeof(b), fmt, v);
	str(o, t, vr, b);
}

/* Sequences and items of undefined length, closed by delimiters. */
static void seq_open(struct obuf *o, uint32_t t) { head(o, t, "SQ", 0xFFFFFFFFu); }
static void item_open(struct obuf *o) { tag(o, 0xFFFEE000u); put32(o, 0xFFFFFFFFu); }
static void item_close(struct obuf *o) { tag(o, 0xFFFEE00Du); put32(o, 0); }
static void seq_close(struct obuf *o) { tag(o, 0xFFFEE0DDu); put32(o, 0); }
static void seq_empty(struct obuf *o, uint32_t t) { seq_open(o, t); seq_close(o); }

/* A sequence holding one code item. */
static void code_seq(struct obuf *o, uint32_t t, const char *value,
		     const char *scheme, const char *meaning)
{
	seq_open(o, t);
	item_open(o);
	str(o, 0x00080100u, "SH", value);
	str(o, 0x00080102u, "SH", scheme);
	str(o, 0x00080104u, "LO", meaning);
	item_close(o);
	seq_close(o);
}

/* ---- one instance ---- */

static void write_all(FILE *f, const void *p, size_t n, const char *path)
{
	if (n && fwrite(p, 1, n, f) != n)
		die("cannot write '%s': %s", path, strerror(errno));
}

/* File Meta and dataset up to Pixel Data's value, into o. */
static void header_make(struct obuf *o, const struct gencorpus *g, const struct slide *s,
			const struct level *lv, uint32_t pixel_len)
{
	static const uint8_t preamble[128];
	char impl_uid[DCM_UI_MAX], buf[128];
	struct rng ir = { 0x6463 };     /* one fixed implementation UID */
	uid_make(&ir, impl_uid, sizeof(impl_uid));
	const char *ts = lv->jpeg ? TS_JPEG_BASELINE : TS_EXPLICIT_LE;
	double spacing = SPACING0_MM * (double)(1L << lv->index);
	const char *type = lv->index ? "DERIVED\\PRIMARY\\VOLUME\\RESAMPLED"
				     : "ORIGINAL\\PRIMARY\\VOLUME\\NONE";
	long frames = lv->gx * lv->gy;

	o->n = 0;
	obuf_put(o, preamble, sizeof(preamble));
	obuf_put(o, "DICM", 4);
	struct obuf m = { 0 };
	static const uint8_t version[2] = { 0, 1 };
	head(&m, 0x00020001u, "OB", 2);
	obuf_put(&m, version, 2);
	str(&m, 0x00020002u, "UI", WSI_SOP_CLASS);
	str(&m, 0x00020003u, "UI", lv->sop_uid);
	str(&m, 0x00020010u, "UI", ts);
	str(&m, 0x00020012u, "UI", impl_uid);
	str(&m, 0x00020013u, "SH", "DCMFS_GENCORPUS");
	ul(o, 0x00020000u, (uint32_t)m.n);
	obuf_put(o, m.p, m.n);
	free(m.p);

	str(o, 0x00080008u, "CS", type);
	str(o, 0x00080016u, "UI", WSI_SOP_CLASS);
	str(o, 0x00080018u, "UI", lv->sop_uid);
	str(o, 0x00080020u, "DA", "20240115");
	str(o, 0x00080023u, "DA", "20240115");
	str(o, 0x0008002Au, "DT", "20240115093000");
	str(o, 0x00080030u, "TM", "093000");
	str(o, 0x00080033u, "TM", "093000");
	snprintf(buf, sizeof(buf), "WSI%llu", (unsigned long long)(g->seed % 1000000));
	str(o, 0x00080050u, "SH", buf);
	str(o, 0x00080060u, "CS", "SM");
	str(o, 0x00080070u, "LO", "dcmfs");
	str(o, 0x00080090u, "PN", "");
	str(o, 0x00081090u, "LO", "dcmfs-gencorpus --wsi");
	snprintf(buf, sizeof(buf), "WSI^Synthetic^%llu", (unsigned long long)g->seed);
	str(o, 0x00100010u, "PN", buf);
	snprintf(buf, sizeof(buf), "WSI%llu", (unsigned long long)g->seed);
	str(o, 0x00100020u, "LO", buf);
	str(o, 0x00100030u, "DA", "");
	str(o, 0x00100040u, "CS", "");
	str(o, 0x00181000u, "LO", "0001");
	str(o, 0x00181020u, "LO", "1");
	str(o, 0x0020000Du, "UI", s->study_uid);
	str(o, 0x0020000Eu, "UI", lv->series_uid);
	str(o, 0x00200010u, "SH", "1");
	str(o, 0x00200011u, "IS", lv->jpeg ? "2" : "1");
	snprintf(buf, sizeof(buf), "%d", lv->index + 1);
	str(o, 0x00200013u, "IS", buf);
	str(o, 0x00200052u, "UI", s->for_uid);
	str(o, 0x00201040u, "LO", "SLIDE_CORNER");
	seq_open(o, 0x00209221u);       /* DimensionOrganizationSequence */
	item_open(o);
	str(o, 0x00209164u, "UI", s->dim_uid);
	item_close(o);
	seq_close(o);
	str(o, 0x00209311u, "CS", "TILED_FULL");
	us(o, 0x00280002u, 3);
	str(o, 0x00280004u, "CS", lv->jpeg ? "YBR_FULL_422" : "RGB");
	us(o, 0x00280006u, 0);
	snprintf(buf, sizeof(buf), "%ld", frames);
	str(o, 0x00280008u, "IS", buf);
	us(o, 0x00280010u, TILE);
	us(o, 0x00280011u, TILE);
	us(o, 0x00280100u, 8);
	us(o, 0x00280101u, 8);
	us(o, 0x00280102u, 7);
	us(o, 0x00280103u, 0);
	str(o, 0x00282110u, "CS", lv->jpeg ? "01" : "00");
	if (lv->jpeg)
		str(o, 0x00282114u, "CS", "ISO_10918_1");
	str(o, 0x00400512u, "LO", "SLIDE-1");
	seq_empty(o, 0x00400513u);      /* IssuerOfTheContainerIdentifierSequence */
	seq_empty(o, 0x00400518u);      /* ContainerTypeCodeSequence */
	seq_open(o, 0x00400560u);       /* SpecimenDescriptionSequence */
	item_open(o);
	str(o, 0x00400551u, "LO", "SPECIMEN-1");
	str(o, 0x00400554u, "UI", s->specimen_uid);
	seq_empty(o, 0x00400562u);      /* IssuerOfTheSpecimenIdentifierSequence */
	seq_empty(o, 0x00400610u);      /* SpecimenPreparationSequence */
	item_close(o);
	seq_close(o);
	fl(o, 0x00480001u, (float)((double)lv->cols * spacing));
	fl(o, 0x00480002u, (float)((double)lv->rows * spacing));
	fl(o, 0x00480003u, 0.004f);
	ul(o, 0x00480006u, (uint32_t)lv->cols);
	ul(o, 0x00480007u, (uint32_t)lv->rows);
	seq_open(o, 0x00480008u);       /* TotalPixelMatrixOriginSequence */
	item_open(o);
	str(o, 0x0040072Au, "DS", "20");
	str(o, 0x0040073Au, "DS", "40");
	item_close(o);
	seq_close(o);
	str(o, 0x00480010u, "CS", "NO");
	str(o, 0x00480011u, "CS", "AUTO");
	str(o, 0x00480012u, "CS", "NO");
	str(o, 0x00480102u, "DS", "0\\-1\\0\\-1\\0\\0");
	seq_open(o, 0x00480105u);       /* OpticalPathSequence */
	item_open(o);
	code_seq(o, 0x00220016u, "111744", "DCM", "Brightfield illumination");
	str(o, 0x00480106u, "SH", "1");
	code_seq(o, 0x00480108u, "414298005", "SCT", "Full Spectrum");
	item_close(o);
	seq_close(o);
	ul(o, 0x00480302u, 1);          /* NumberOfOpticalPaths */
	ul(o, 0x00480303u, 1);          /* TotalPixelMatrixFocalPlanes */
	seq_open(o, 0x52009229u);       /* SharedFunctionalGroupsSequence */
	item_open(o);
	seq_open(o, 0x00289110u);       /* PixelMeasuresSequence */
	item_open(o);
	fmt_str(o, 0x00180050u, "DS", "%.4g", 0.004);
	snprintf(buf, sizeof(buf), "%.6g\\%.6g", spacing, spacing);
	str(o, 0x00280030u, "DS", buf);
	item_close(o);
	seq_close(o);
	seq_open(o, 0x00400710u);       /* WholeSlideMicroscopyImageFrameTypeSequence */
	item_open(o);
	str(o, 0x00089007u, "CS", type);
	item_close(o);
	seq_close(o);
	seq_open(o, 0x00480207u);       /* OpticalPathIdentificationSequence */
	item_open(o);
	str(o, 0x00480106u, "SH", "1");
	item_close(o);
	seq_close(o);
	item_close(o);
	seq_close(o);
	head(o, 0x7FE00010u, "OB", pixel_len);
}

/* Write level lv of one form to dir/name; returns its size in bytes. */
static uint64_t level_write(const struct gencorpus *g, const struct slide *s,
			    const struct texture *t, const struct level *lv,
			    const char *path)
{
	char tmp[1100];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	if (!f)
		die("cannot create '%s': %s", tmp, strerror(errno));
	static char fbuf[1 << 20];
	setvbuf(f, fbuf, _IOFBF, sizeof(fbuf));
	long frames = lv->gx * lv->gy;
	uint64_t native_len = (uint64_t)frames * TILE_BYTES;
	if (!lv->jpeg && native_len >= 0xFFFFFFFEull)
		die("level %d of %ld tiles is over 4 GB, the most native Pixel Data holds",
		    lv->index, frames);
	struct obuf h = { 0 };
	header_make(&h, g, s, lv, lv->jpeg ? 0xFFFFFFFFu : (uint32_t)native_len);
	write_all(f, h.p, h.n, tmp);
	uint64_t pos = h.n;

	uint8_t *tile = xmalloc(TILE_BYTES);
	uint32_t *bot = NULL;
	uint64_t bot_at = 0, frag_base = 0;
	unsigned char *jbuf = NULL;
	unsigned long jlen = 0;
	if (lv->jpeg) {
		/* Basic Offset Table item, filled in when the offsets are known */
		bot = xmalloc(sizeof(uint32_t) * (size_t)frames);
		memset(bot, 0, sizeof(uint32_t) * (size_t)frames);
		h.n = 0;
		tag(&h, 0xFFFEE000u);
		put32(&h, (uint32_t)(4 * frames));
		write_all(f, h.p, h.n, tmp);
		bot_at = pos + 8;
		write_all(f, bot, sizeof(uint32_t) * (size_t)frames, tmp);
		pos += 8 + 4 * (uint64_t)frames;
		frag_base = pos;
	}
	for (long ty = 0; ty < lv->gy; ty++) {
		for (long tx = 0; tx < lv->gx; tx++) {
			tile_make(t, g->seed, lv, tx, ty, tile);
			if (!lv->jpeg) {
				write_all(f, tile, TILE_BYTES, tmp);
				pos += TILE_BYTES;
				continue;
			}
			tile_jpeg(tile, g->wsi_quality, &jbuf, &jlen);
			uint32_t even = (uint32_t)(jlen + (jlen & 1));
			if (pos - frag_base > 0xFFFFFFFFull)
				die("'%s': Basic Offset Table offsets pass 4 GB; ask for a smaller slide", path);
			bot[ty * lv->gx + tx] = (uint32_t)(pos - frag_base);
			h.n = 0;
			tag(&h, 0xFFFEE000u);
			put32(&h, even);
			obuf_put(&h, jbuf, jlen);
			free(jbuf);
			if (jlen & 1)
				obuf_put(&h, "", 1);         /* a fragment has even length */
			write_all(f, h.p, h.n, tmp);
			pos += h.n;
		}
	}
	if (lv->jpeg) {
		h.n = 0;
		seq_close(&h);
		write_all(f, h.p, h.n, tmp);
		pos += h.n;
		/* the table, little endian */
		struct obuf b = { 0 };
		for (long i = 0; i < frames; i++)
			put32(&b, bot[i]);
		if (fflush(f) || fseeko(f, (off_t)bot_at, SEEK_SET))
			die("cannot write '%s': %s", tmp, strerror(errno));
		write_all(f, b.p, b.n, tmp);
		free(b.p);
	}
	if (fclose(f))
		die("cannot write '%s': %s", tmp, strerror(errno));
	if (rename(tmp, path))
		die("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
	free(bot);
	free(tile);
	free(h.p);
	return pos;
}

/* Mean stored size of 32 level-0 JPEG tiles spread over a gx x gy grid. */
static double jpeg_mean_tile(const struct gencorpus *g, const struct texture *t,
			     long gx, long gy)
{
	struct level lv = { .jpeg = 1, .gx = gx, .gy = gy };
	uint8_t *tile = xmalloc(TILE_BYTES);
	unsigned char *jbuf = NULL;
	unsigned long jlen = 0;
	double sum = 0;
	int n = 32;
	for (int i = 0; i < n; i++) {
		long k = (long)((double)i * (double)(gx * gy) / n);
		tile_make(t, g->seed, &lv, k % gx, k / gx, tile);
		tile_jpeg(tile, g->wsi_quality, &jbuf, &jlen);
		free(jbuf);
		sum += (double)(jlen + 8 + 4);  /* item header, offset table entry */
	}
	free(tile);
	return sum / n;
}

/* The level-0 grid for n tiles: about twice as wide as high. */
static void grid_for(long n, long *gx, long *gy)
{
	*gy = (long)floor(sqrt((double)n / 2.0));
	if (*gy < 1)
		*gy = 1;
	*gx = (n + *gy - 1) / *gy;
}

void wsi_write(struct gencorpus *g)
{
	char tbuf[1024];
	struct texture t;
	texture_load(&t, g->wsi_texture ? g->wsi_texture : texture_default(tbuf, sizeof(tbuf)));

	struct rng ur = { rng_mix(g->seed, 0x5753494955494473ull) };
	struct slide s;
	uid_make(&ur, s.study_uid, sizeof(s.study_uid));
	uid_make(&ur, s.for_uid, sizeof(s.for_uid));
	uid_make(&ur, s.specimen_uid, sizeof(s.specimen_uid));
	uid_make(&ur, s.dim_uid, sizeof(s.dim_uid));

	/* refuse before writing anything, not halfway */
	for (int form = 0; form < 2; form++) {
		for (int l = 0; l < g->wsi_levels && (g->wsi_forms & (1 << form)); l++) {
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s-level%d.dcm", g->outdir,
				 form ? "jpeg" : "native", l);
			if (access(path, F_OK) == 0)
				die("'%s' exists; use an empty folder", path);
		}
	}
	for (int form = 0; form < 2; form++) {
		if (!(g->wsi_forms & (1 << form)))
			continue;
		int jpeg = form == 1;
		const char *name = jpeg ? "jpeg" : "native";
		long n0 = g->wsi_tiles;
		if (!n0) {
			/* a JPEG tile's size depends on where it is: estimate on
			 * a guessed grid, then again on the grid that gives */
			double want = g->wsi_mb * 1048576.0;
			n0 = (long)ceil(want / TILE_BYTES);
			for (int pass = 0; jpeg && pass < 2; pass++) {
				grid_for(n0, &s.gx, &s.gy);
				n0 = (long)ceil(want / jpeg_mean_tile(g, &t, s.gx, s.gy));
			}
		}
		grid_for(n0, &s.gx, &s.gy);
		char series_uid[DCM_UI_MAX];
		uid_make(&ur, series_uid, sizeof(series_uid));
		for (int l = 0; l < g->wsi_levels; l++) {
			struct level lv = { .jpeg = jpeg, .index = l };
			lv.cols = (s.gx * TILE + (1L << l) - 1) >> l;
			lv.rows = (s.gy * TILE + (1L << l) - 1) >> l;
			lv.gx = (lv.cols + TILE - 1) / TILE;
			lv.gy = (lv.rows + TILE - 1) / TILE;
			memcpy(lv.series_uid, series_uid, sizeof(series_uid));
			uid_make(&ur, lv.sop_uid, sizeof(lv.sop_uid));
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s-level%d.dcm", g->outdir, name, l);
			uint64_t bytes = level_write(g, &s, &t, &lv, path);
			printf("%s\tform=%s\tlevel=%d\ttiles=%ld\tgrid=%ldx%ld\tmatrix=%ldx%ld\tbytes=%llu\n",
			       path, name, l, lv.gx * lv.gy, lv.gx, lv.gy, lv.cols, lv.rows,
			       (unsigned long long)bytes);
			if (!g->quiet)
				fprintf(stderr, "dcmfs-gencorpus: wrote %s (%llu bytes)\n", path,
					(unsigned long long)bytes);
		}
	}
	free(t.rgb);
	if (fflush(stdout) || ferror(stdout))
		die("cannot write standard output");
}
