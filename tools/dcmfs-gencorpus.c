/*
 * dcmfs-gencorpus - write a realistic, deterministic DICOM archive made from
 * real seed images, with the duplicates that real archives receive.
 *
 *   dcmfs-gencorpus OUT --patients N [--studies-per-patient K] [--seed S]
 *                   [--dup-rate R] [--seeds DIR] [--small] [--max-instances M]
 *                   [--exact-pixels] [--list-seeds] [-q]
 *
 * See usage_text below for what is written and how.  The seed files are
 * parsed with a small element walker (explicit and implicit VR little endian,
 * undefined-length sequences and items, nested), which keeps every byte of
 * the seed except the top-level elements it replaces or inserts before Pixel
 * Data; Pixel Data and everything after it are copied verbatim (apart from the
 * documented pixel tweak).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dicom.h"

static const char usage_text[] =
"usage: dcmfs-gencorpus OUT --patients N [options]\n"
"\n"
"Writes a DICOM archive made from real seed images into OUT (created):\n"
"  OUT/patients/<PatientID>/studies/<StudyUID>/<SeriesUID>/<SOPUID>.dcm  originals\n"
"  OUT/dup-<kind>/patients/...                                         duplicates\n"
"The originals' tree has the same shape as a dcmfs mount, so OUT/patients is\n"
"the ext4 twin of a mounted store made from it.\n"
"\n"
"options:\n"
"  --patients N              patients to make (required)\n"
"  --studies-per-patient K   studies per patient (default 2)\n"
"  --seed S                  PRNG seed (default 1); same seed, same bytes\n"
"  --dup-rate R              fraction of studies that also arrive as a\n"
"                            duplicate, 0..1 (default 0.3)\n"
"  --seeds DIR               seed images (default: $DCMFS_CORPUS/real,\n"
"                            ../shared/corpus/real, /work/shared/corpus/real,\n"
"                            then pydicom's test files); with --small the\n"
"                            corpus root instead of real/\n"
"  --small                   use only small single-frame seeds (64x64 to\n"
"                            128x128, e.g. MR_small, CT_small): a big tree\n"
"                            of small files for metadata benchmarks\n"
"  --max-instances M         stop after M original instances (0: no limit)\n"
"  --exact-pixels            do not apply the pixel tweak (see below)\n"
"  --list-seeds              print the seeds found and exit\n"
"  -q                        no progress on stderr\n"
"\n"
"Studies: modality CT (35%), MR (30%), CR/DX (15%), US (10%), MG (10%);\n"
"modalities without seeds are skipped.  CT: one series of 100-300 slices;\n"
"MR: 1-3 series of 20-200 slices; CR/DX and MG: 1-4 images; US: 1-3\n"
"instances (multi-frame seeds preferred).  A series cycles through the slices\n"
"of one real seed series (in InstanceNumber order); single-image modalities\n"
"pick a seed per image.  Study dates are spread over 2008-2024.\n"
"\n"
"Rewritten attributes (replaced when present, the first seven inserted when\n"
"absent): PatientName, PatientID, StudyInstanceUID, SeriesInstanceUID,\n"
"SOPInstanceUID (and the meta MediaStorageSOPInstanceUID), StudyDate,\n"
"AccessionNumber, InstanceNumber, SeriesNumber; replaced only when present:\n"
"PatientBirthDate, PatientSex, SeriesDate, AcquisitionDate, ContentDate,\n"
"StudyTime, StudyID, FrameOfReferenceUID.  The meta group length is\n"
"recomputed.  Everything else, including nested sequences and private tags,\n"
"is the seed's bytes.\n"
"\n"
"UIDs: root 2.25 (ISO/IEC 9834-8 UUID-derived UIDs, which need no\n"
"registration): every UID is 2.25.<decimal of a version-4-format 128-bit\n"
"number> drawn from a splitmix64 stream keyed by --seed.  No registered\n"
"organisation root is used or implied.\n"
"\n"
"Pixel tweak (documented change, default on): every original instance gets\n"
"a serial s >= 1.  For native pixel data with 16 bits allocated, s mod 2^16\n"
"is added (mod 2^16) to the first stored pixel word and s >> 16 to the last;\n"
"for other native data the 4 bytes of s (LE) are added bytewise to the first\n"
"4 pixel bytes.  So no two original instances share pixel bytes by accident\n"
"(the real images are reused many times), while each image is still the\n"
"real one up to one or two corner samples.  Encapsulated pixel data is never\n"
"changed (identical fragments recur when a seed is reused).  Duplicates carry\n"
"exactly their original's pixel bytes.\n"
"\n"
"Duplicates (a study is duplicated with probability R; the kind is drawn\n"
"uniformly):\n"
"  resend     the same files again, byte for byte\n"
"  dept2      same UIDs and pixels, different meta header (SourceAET,\n"
"             ImplementationVersionName) and a private block (gggg,0010)\n"
"             creator 'DCMFS GENCORPUS DEPT2' + (gggg,1001) in the first odd\n"
"             group >= 0009 that the seed does not use\n"
"  corrected  same UIDs and pixels, a corrected PatientName\n"
"  merged     same study (UIDs, pixels) under a second PatientID\n"
"At the end it prints instances, bytes and pixel bytes by kind, and the\n"
"expected unique pixel bytes (what an ideal segment dedup keeps).\n";

/* ---------------------------------------------------------------- utils */

static int quiet;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("dcmfs-gencorpus: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die("out of memory");
	return p;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* splitmix64: small, fast, and the same everywhere. */
struct rng { uint64_t s; };

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t mix(uint64_t a, uint64_t b)
{
	struct rng r = { a ^ (b * 0xD6E8FEB86659FD93ULL) };
	rng_next(&r);
	return rng_next(&r);
}

/* uniform in [lo, hi] */
static int rng_range(struct rng *r, int lo, int hi)
{
	return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------------------------ UID maker */

static struct rng uid_rng;

/* 2.25.<128-bit UUID v4 layout as a decimal integer>, at most 44 chars. */
static void make_uid(char *out, size_t outlen)
{
	uint64_t hi = rng_next(&uid_rng), lo = rng_next(&uid_rng);
	hi = (hi & ~0xF000ULL) | 0x4000ULL;                    /* version 4 */
	lo = (lo & ~(3ULL << 62)) | (2ULL << 62);              /* variant 10 */
	/* 128-bit to decimal: repeated division by 10 on 32-bit limbs */
	uint32_t limb[4] = { (uint32_t)(hi >> 32), (uint32_t)hi, (uint32_t)(lo >> 32), (uint32_t)lo };
	char dig[48];
	int n = 0;
	for (;;) {
		uint64_t rem = 0;
		int zero = 1;
		for (int i = 0; i < 4; i++) {
			uint64_t cur = rem << 32 | limb[i];
			limb[i] = (uint32_t)(cur / 10);
			rem = cur % 10;
			if (limb[i])
				zero = 0;
		}
		dig[n++] = (char)('0' + rem);
		if (zero)
			break;
	}
	char *p = out;
	size_t left = outlen;
	int w = snprintf(p, left, "2.25.");
	p += w;
	left -= (size_t)w;
	while (n > 0 && left > 1) {
		*p++ = dig[--n];
		left--;
	}
	*p = 0;
}

/* ------------------------------------------------------------- walker */

struct elem {
	uint32_t tag;
	size_t off, end;        /* whole element [off, end) */
	char vr[3];             /* explicit VR, or "" */
};

struct seed {
	char *path;
	uint8_t *buf;
	size_t len;
	int explicit_vr;
	struct elem *meta;      /* group 0002 elements */
	int nmeta;
	struct elem *ds;        /* top-level dataset elements before pixel data */
	int nds;
	size_t ds_start;
	size_t pix_off;         /* pixel element start (or len when none) */
	int pix_native;
	size_t pix_val_off, pix_val_len;
	int bits_allocated;
	char modality[16];
	char series_uid[DCM_UI_MAX];
	int instance_number;
	int frames, rows, cols;
	uint16_t used_private_groups[64];
	int nused;
};

static int long_vr(const char *vr)
{
	static const char *l[] = { "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV" };
	for (size_t i = 0; i < sizeof(l) / sizeof(l[0]); i++)
		if (vr[0] == l[i][0] && vr[1] == l[i][1])
			return 1;
	return 0;
}

static int skip_items(const uint8_t *b, size_t end, size_t *pos, int explicit_vr, int depth);

/* Parse one element at *pos; returns 0 and advances, -1 on error. */
static int parse_elem(const uint8_t *b, size_t end, size_t *pos, int explicit_vr, struct elem *e, int depth)
{
	size_t p = *pos;
	if (p + 8 > end)
		return -1;
	uint32_t tag = (uint32_t)rd16(b + p) << 16 | rd16(b + p + 2);
	uint32_t len;
	size_t hdr;
	char vr[3] = "";
	if (explicit_vr) {
		vr[0] = (char)b[p + 4];
		vr[1] = (char)b[p + 5];
		if (vr[0] < 'A' || vr[0] > 'Z' || vr[1] < 'A' || vr[1] > 'Z')
			return -1;
		if (long_vr(vr)) {
			if (p + 12 > end)
				return -1;
			len = rd32(b + p + 8);
			hdr = 12;
		} else {
			len = rd16(b + p + 6);
			hdr = 8;
		}
	} else {
		len = rd32(b + p + 4);
		hdr = 8;
	}
	size_t q = p + hdr;
	if (len == 0xFFFFFFFFu) {
		if (depth > 32)
			return -1;
		/* UN with undefined length holds implicit VR LE (PS3.5 6.2.2) */
		int ex = explicit_vr && !(vr[0] == 'U' && vr[1] == 'N');
		if (skip_items(b, end, &q, ex, depth + 1))
			return -1;
	} else {
		if (len > end - q)
			return -1;
		q += len;
	}
	if (e) {
		e->tag = tag;
		e->off = p;
		e->end = q;
		memcpy(e->vr, vr, 3);
	}
	*pos = q;
	return 0;
}

/* Items of an undefined-length sequence, up to and including (FFFE,E0DD). */
static int skip_items(const uint8_t *b, size_t end, size_t *pos, int explicit_vr, int depth)
{
	size_t p = *pos;
	for (;;) {
		if (p + 8 > end)
			return -1;
		uint32_t tag = (uint32_t)rd16(b + p) << 16 | rd16(b + p + 2);
		uint32_t len = rd32(b + p + 4);
		p += 8;
		if (tag == 0xFFFEE0DDu)
			break;
		if (tag != 0xFFFEE000u)
			return -1;
		if (len != 0xFFFFFFFFu) {
			if (len > end - p)
				return -1;
			p += len;
			continue;
		}
		for (;;) {
			if (p + 8 > end)
				return -1;
			uint32_t t = (uint32_t)rd16(b + p) << 16 | rd16(b + p + 2);
			if (t == 0xFFFEE00Du) {
				p += 8;
				break;
			}
			if (parse_elem(b, end, &p, explicit_vr, NULL, depth))
				return -1;
		}
	}
	*pos = p;
	return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return NULL;
	}
	uint8_t *b = xmalloc((size_t)st.st_size);
	size_t n = 0;
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, b + n, (size_t)st.st_size - n);
		if (r <= 0) {
			free(b);
			close(fd);
			return NULL;
		}
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return b;
}

/* Load and parse one seed; NULL (with a reason in why) when unusable. */
static struct seed *load_seed(const char *path, const char **why)
{
	size_t len;
	uint8_t *b = slurp(path, &len);
	if (!b) {
		*why = "unreadable";
		return NULL;
	}
	struct dcm_info info;
	char err[256];
	if (dcm_scan(b, len, &info, err, sizeof(err)) != DCM_OK) {
		*why = "not accepted by dcm_scan";
		goto fail;
	}
	if (!info.has_meta || !info.has_preamble) {
		*why = "no preamble or File Meta";
		goto fail;
	}
	if (info.syntax != DCM_SYNTAX_EXPLICIT_LE && info.syntax != DCM_SYNTAX_IMPLICIT_LE) {
		*why = "not explicit/implicit VR little endian";
		goto fail;
	}
	if (info.pixel_tag != 0x7FE00010u) {
		*why = "no Pixel Data";
		goto fail;
	}
	struct seed *s = calloc(1, sizeof(*s));
	if (!s)
		die("out of memory");
	s->path = xstrdup(path);
	s->buf = b;
	s->len = len;
	s->explicit_vr = info.syntax == DCM_SYNTAX_EXPLICIT_LE;
	size_t p = 132;
	int cap = 16;
	s->meta = xmalloc(sizeof(struct elem) * (size_t)cap);
	while (p + 4 <= len && rd16(b + p) == 0x0002) {
		if (s->nmeta == cap)
			s->meta = xrealloc(s->meta, sizeof(struct elem) * (size_t)(cap *= 2));
		if (parse_elem(b, len, &p, 1, &s->meta[s->nmeta], 0)) {
			*why = "bad File Meta";
			goto fail_s;
		}
		s->nmeta++;
	}
	s->ds_start = p;
	cap = 64;
	s->ds = xmalloc(sizeof(struct elem) * (size_t)cap);
	uint32_t last = 0;
	for (;;) {
		if (p + 4 > len) {
			*why = "no top-level Pixel Data found by the walker";
			goto fail_s;
		}
		uint32_t tag = (uint32_t)rd16(b + p) << 16 | rd16(b + p + 2);
		if (tag == 0x7FE00010u)
			break;
		if (tag < last || tag >> 16 == 0xFFFE) {
			*why = "elements out of order";
			goto fail_s;
		}
		last = tag;
		if (s->nds == cap)
			s->ds = xrealloc(s->ds, sizeof(struct elem) * (size_t)(cap *= 2));
		if (parse_elem(b, len, &p, s->explicit_vr, &s->ds[s->nds], 0)) {
			*why = "element walk failed";
			goto fail_s;
		}
		uint16_t g = (uint16_t)(tag >> 16);
		if ((g & 1) && (s->nused == 0 || s->used_private_groups[s->nused - 1] != g) && s->nused < 64)
			s->used_private_groups[s->nused++] = g;
		s->nds++;
	}
	s->pix_off = p;
	if (p != info.pixel_element_offset) {
		*why = "walker and dcm_scan disagree on Pixel Data";
		goto fail_s;
	}
	s->pix_native = !info.pixel_encapsulated;
	s->pix_val_off = info.pixel_value_offset;
	s->pix_val_len = info.pixel_value_length;
	s->bits_allocated = info.bits_allocated;
	memcpy(s->modality, info.modality, sizeof(s->modality) - 1);
	s->modality[sizeof(s->modality) - 1] = 0;
	memcpy(s->series_uid, info.series_uid, sizeof(s->series_uid));
	s->instance_number = info.instance_number;
	s->frames = info.number_of_frames;
	s->rows = info.rows;
	s->cols = info.columns;
	*why = NULL;
	return s;
fail_s:
	free(s->meta);
	free(s->ds);
	free(s->path);
	free(s);
fail:
	free(b);
	return NULL;
}

/* ------------------------------------------------------------- emitter */

struct ovr {
	uint32_t tag;
	const char *vr;         /* VR to use when inserting / implicit ignores */
	const char *val;        /* text value (padded here) */
	int insert;             /* insert when absent */
	int ul;                 /* binary UL value (meta group length) */
};

struct obuf {
	uint8_t *p;
	size_t n, cap;
};

static void ob_need(struct obuf *o, size_t add)
{
	if (o->n + add > o->cap) {
		size_t c = o->cap ? o->cap : 1 << 20;
		while (c < o->n + add)
			c *= 2;
		o->p = xrealloc(o->p, c);
		o->cap = c;
	}
}

static void ob_put(struct obuf *o, const void *src, size_t n)
{
	ob_need(o, n);
	memcpy(o->p + o->n, src, n);
	o->n += n;
}

static void put_elem(struct obuf *o, uint32_t tag, const char *vr, const char *val, int explicit_vr)
{
	size_t vl = strlen(val);
	size_t pl = vl + (vl & 1);
	uint8_t h[12];
	wr16(h, (uint16_t)(tag >> 16));
	wr16(h + 2, (uint16_t)tag);
	size_t hl;
	if (explicit_vr) {
		h[4] = (uint8_t)vr[0];
		h[5] = (uint8_t)vr[1];
		if (long_vr(vr)) {
			h[6] = h[7] = 0;
			wr32(h + 8, (uint32_t)pl);
			hl = 12;
		} else {
			wr16(h + 6, (uint16_t)pl);
			hl = 8;
		}
	} else {
		wr32(h + 4, (uint32_t)pl);
		hl = 8;
	}
	ob_put(o, h, hl);
	ob_put(o, val, vl);
	if (vl & 1) {
		uint8_t pad = (vr[0] == 'U' && vr[1] == 'I') || (vr[0] == 'O' && vr[1] == 'B') ? 0 : ' ';
		ob_put(o, &pad, 1);
	}
}

/* Merge elements [e, e+n) of b with sorted overrides; emit into o. */
static void emit_group(struct obuf *o, const uint8_t *b, const struct elem *e, int n,
		       const struct ovr *ov, int nov, int explicit_vr)
{
	int j = 0;
	for (int i = 0; i < n; i++) {
		while (j < nov && ov[j].tag < e[i].tag) {
			if (ov[j].insert)
				put_elem(o, ov[j].tag, ov[j].vr, ov[j].val, explicit_vr);
			j++;
		}
		if (j < nov && ov[j].tag == e[i].tag) {
			put_elem(o, ov[j].tag, explicit_vr && e[i].vr[0] ? e[i].vr : ov[j].vr, ov[j].val, explicit_vr);
			j++;
			continue;
		}
		ob_put(o, b + e[i].off, e[i].end - e[i].off);
	}
	for (; j < nov; j++)
		if (ov[j].insert)
			put_elem(o, ov[j].tag, ov[j].vr, ov[j].val, explicit_vr);
}

static int cmp_ovr(const void *a, const void *b)
{
	uint32_t x = ((const struct ovr *)a)->tag, y = ((const struct ovr *)b)->tag;
	return (x > y) - (x < y);
}

/* What one instance looks like (everything but the seed's bytes). */
struct inst {
	const char *pid, *name, *sex, *birth;
	const char *study_uid, *series_uid, *sop_uid, *for_uid;
	const char *date, *time, *accession, *study_id;
	int series_no, instance_no;
	int dept2;              /* second-department header */
	uint32_t serial;        /* pixel tweak serial, 0 = none */
};

static void build(struct obuf *o, const struct seed *s, const struct inst *in)
{
	char sn[16], in_no[16];
	snprintf(sn, sizeof(sn), "%d", in->series_no);
	snprintf(in_no, sizeof(in_no), "%d", in->instance_no);
	o->n = 0;
	/* preamble + magic */
	ob_put(o, s->buf, 132);
	/* meta group */
	struct ovr mo[4];
	int nmo = 0;
	mo[nmo++] = (struct ovr){ 0x00020003, "UI", in->sop_uid, 1, 0 };
	if (in->dept2) {
		mo[nmo++] = (struct ovr){ 0x00020013, "SH", "DEPT2_GW_3.1", 1, 0 };
		mo[nmo++] = (struct ovr){ 0x00020016, "AE", "DEPT2_PACS", 1, 0 };
	}
	/* skip the old group length */
	const struct elem *me = s->meta;
	int nme = s->nmeta;
	if (nme && me[0].tag == 0x00020000) {
		me++;
		nme--;
	}
	size_t glpos = o->n;
	uint8_t gl[12] = { 0x02, 0, 0, 0, 'U', 'L', 4, 0, 0, 0, 0, 0 };
	ob_put(o, gl, 12);
	size_t mstart = o->n;
	emit_group(o, s->buf, me, nme, mo, nmo, 1);
	wr32(o->p + glpos + 8, (uint32_t)(o->n - mstart));

	/* dataset */
	struct ovr d[24];
	int nd = 0;
	d[nd++] = (struct ovr){ 0x00080018, "UI", in->sop_uid, 1, 0 };
	d[nd++] = (struct ovr){ 0x00080020, "DA", in->date, 1, 0 };
	d[nd++] = (struct ovr){ 0x00080021, "DA", in->date, 0, 0 };
	d[nd++] = (struct ovr){ 0x00080022, "DA", in->date, 0, 0 };
	d[nd++] = (struct ovr){ 0x00080023, "DA", in->date, 0, 0 };
	d[nd++] = (struct ovr){ 0x00080030, "TM", in->time, 0, 0 };
	d[nd++] = (struct ovr){ 0x00080050, "SH", in->accession, 1, 0 };
	d[nd++] = (struct ovr){ 0x00100010, "PN", in->name, 1, 0 };
	d[nd++] = (struct ovr){ 0x00100020, "LO", in->pid, 1, 0 };
	d[nd++] = (struct ovr){ 0x00100030, "DA", in->birth, 0, 0 };
	d[nd++] = (struct ovr){ 0x00100040, "CS", in->sex, 0, 0 };
	d[nd++] = (struct ovr){ 0x0020000D, "UI", in->study_uid, 1, 0 };
	d[nd++] = (struct ovr){ 0x0020000E, "UI", in->series_uid, 1, 0 };
	d[nd++] = (struct ovr){ 0x00200010, "SH", in->study_id, 0, 0 };
	d[nd++] = (struct ovr){ 0x00200011, "IS", sn, 1, 0 };
	d[nd++] = (struct ovr){ 0x00200013, "IS", in_no, 1, 0 };
	d[nd++] = (struct ovr){ 0x00200052, "UI", in->for_uid, 0, 0 };
	char dept_val[32];
	if (in->dept2) {
		uint16_t g = 0x0009;
		for (;;) {
			int used = 0;
			for (int i = 0; i < s->nused; i++)
				if (s->used_private_groups[i] == g)
					used = 1;
			if (!used)
				break;
			g = (uint16_t)(g + 2);
		}
		snprintf(dept_val, sizeof(dept_val), "DEPT2 %s", in->accession);
		d[nd++] = (struct ovr){ (uint32_t)g << 16 | 0x0010, "LO", "DCMFS GENCORPUS DEPT2", 1, 0 };
		d[nd++] = (struct ovr){ (uint32_t)g << 16 | 0x1001, "LO", dept_val, 1, 0 };
	}
	qsort(d, (size_t)nd, sizeof(d[0]), cmp_ovr);
	emit_group(o, s->buf, s->ds, s->nds, d, nd, s->explicit_vr);
	/* pixel data and everything after it, verbatim */
	size_t pstart = o->n;
	ob_put(o, s->buf + s->pix_off, s->len - s->pix_off);
	if (in->serial && s->pix_native && s->pix_val_len >= 4) {
		uint8_t *px = o->p + pstart + (s->pix_val_off - s->pix_off);
		size_t pl = s->pix_val_len;
		if (s->bits_allocated == 16) {
			wr16(px, (uint16_t)(rd16(px) + (in->serial & 0xFFFF)));
			uint8_t *last = px + ((pl - 2) & ~(size_t)1);
			wr16(last, (uint16_t)(rd16(last) + (in->serial >> 16)));
		} else {
			for (int i = 0; i < 4; i++)
				px[i] = (uint8_t)(px[i] + (uint8_t)(in->serial >> (8 * i)));
		}
	}
}

/* ------------------------------------------------------------ seeds */

struct series_seed {
	char modality[16];
	struct seed **sl;       /* slices, InstanceNumber order */
	int n;
};

static struct seed **seeds;
static int nseeds, capseeds;

static void walk_dir(const char *dir, int small)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return;
	for (int i = 0; i < n; i++) {
		const char *nm = ents[i]->d_name;
		if (nm[0] == '.' || !strcmp(nm, "malformed") || !strcmp(nm, "DICOMDIR") ||
		    strstr(nm, ".md") || strstr(nm, ".tsv")) {
			free(ents[i]);
			continue;
		}
		size_t pl = strlen(dir) + strlen(nm) + 2;
		char *path = xmalloc(pl);
		snprintf(path, pl, "%s/%s", dir, nm);
		struct stat st;
		if (stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				walk_dir(path, small);
			} else if (S_ISREG(st.st_mode)) {
				const char *why;
				struct seed *s = load_seed(path, &why);
				if (s && small && !(s->frames == 1 && s->rows >= 64 && s->cols >= 64 &&
						    s->rows <= 128 && s->cols <= 128 && s->pix_native)) {
					free(s->buf); free(s->meta); free(s->ds); free(s->path); free(s);
					s = NULL;
				}
				if (s) {
					if (nseeds == capseeds)
						seeds = xrealloc(seeds, sizeof(*seeds) * (size_t)(capseeds = capseeds ? capseeds * 2 : 64));
					seeds[nseeds++] = s;
				}
			}
		}
		free(path);
		free(ents[i]);
	}
	free(ents);
}

static int cmp_inst(const void *a, const void *b)
{
	const struct seed *x = *(const struct seed *const *)a, *y = *(const struct seed *const *)b;
	if (x->instance_number != y->instance_number)
		return (x->instance_number > y->instance_number) - (x->instance_number < y->instance_number);
	return strcmp(x->path, y->path);
}

/* Modality classes used for studies. */
enum { M_CT, M_MR, M_CR, M_US, M_MG, M_N };
static const char *mclass_name[M_N] = { "CT", "MR", "CR", "US", "MG" };
static const int mclass_weight[M_N] = { 35, 30, 15, 10, 10 };

static int mclass_of(const char *mod)
{
	if (!strcmp(mod, "CT")) return M_CT;
	if (!strcmp(mod, "MR")) return M_MR;
	if (!strcmp(mod, "CR") || !strcmp(mod, "DX") || !strcmp(mod, "RG")) return M_CR;
	if (!strcmp(mod, "US")) return M_US;
	if (!strcmp(mod, "MG")) return M_MG;
	return -1;
}

static struct series_seed *sseeds[M_N];  /* per class: series seeds (>= 2 slices) */
static int nsseeds[M_N];
static struct seed **singles[M_N];       /* per class: all seeds */
static int nsingles[M_N];

static void classify(void)
{
	for (int i = 0; i < nseeds; i++) {
		int c = mclass_of(seeds[i]->modality);
		if (c < 0)
			continue;
		singles[c] = xrealloc(singles[c], sizeof(struct seed *) * (size_t)(nsingles[c] + 1));
		singles[c][nsingles[c]++] = seeds[i];
		/* group by SeriesInstanceUID within the class */
		int k;
		for (k = 0; k < nsseeds[c]; k++)
			if (!strcmp(sseeds[c][k].sl[0]->series_uid, seeds[i]->series_uid))
				break;
		if (k == nsseeds[c]) {
			sseeds[c] = xrealloc(sseeds[c], sizeof(struct series_seed) * (size_t)(nsseeds[c] + 1));
			memset(&sseeds[c][k], 0, sizeof(struct series_seed));
			snprintf(sseeds[c][k].modality, sizeof(sseeds[c][k].modality), "%s", seeds[i]->modality);
			nsseeds[c]++;
		}
		struct series_seed *ss = &sseeds[c][k];
		ss->sl = xrealloc(ss->sl, sizeof(struct seed *) * (size_t)(ss->n + 1));
		ss->sl[ss->n++] = seeds[i];
	}
	for (int c = 0; c < M_N; c++)
		for (int k = 0; k < nsseeds[c]; k++)
			qsort(sseeds[c][k].sl, (size_t)sseeds[c][k].n, sizeof(struct seed *), cmp_inst);
}

/* Pick a seed series for CT/MR: prefer real series (>= 10 slices). */
static struct series_seed *pick_series(struct rng *r, int c)
{
	int big = 0;
	for (int k = 0; k < nsseeds[c]; k++)
		big += sseeds[c][k].n >= 10;
	if (big) {
		int want = rng_range(r, 0, big - 1);
		for (int k = 0; k < nsseeds[c]; k++)
			if (sseeds[c][k].n >= 10 && want-- == 0)
				return &sseeds[c][k];
	}
	return &sseeds[c][rng_range(r, 0, nsseeds[c] - 1)];
}

static struct seed *pick_single(struct rng *r, int c, int prefer_multiframe)
{
	if (prefer_multiframe) {
		int mf = 0;
		for (int i = 0; i < nsingles[c]; i++)
			mf += singles[c][i]->frames > 1;
		if (mf && rng_unit(r) < 0.7) {
			int want = rng_range(r, 0, mf - 1);
			for (int i = 0; i < nsingles[c]; i++)
				if (singles[c][i]->frames > 1 && want-- == 0)
					return singles[c][i];
		}
	}
	return singles[c][rng_range(r, 0, nsingles[c] - 1)];
}

/* ------------------------------------------------------------ writing */

enum { K_ORIG, K_RESEND, K_DEPT2, K_CORRECTED, K_MERGED, K_N };
static const char *kind_name[K_N] = { "original", "resend", "dept2", "corrected", "merged" };
static const char *kind_dir[K_N] = { "", "dup-resend/", "dup-dept2/", "dup-corrected/", "dup-merged/" };

struct counts {
	uint64_t studies, series, instances, bytes, pixel_bytes;
};
static struct counts cnt[K_N];
static uint64_t mod_instances[M_N], mod_bytes[M_N];

static const char *outdir;

static void mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			if (mkdir(path, 0755) && errno != EEXIST)
				die("mkdir %s: %s", path, strerror(errno));
			*p = '/';
		}
	}
	if (mkdir(path, 0755) && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
}

static void series_dir(char *out, size_t len, int kind, const char *pid, const char *study, const char *series)
{
	snprintf(out, len, "%s/%spatients/%s/studies/%s/%s", outdir, kind_dir[kind], pid, study, series);
}

static void write_file(const char *dir, const char *sop, const struct obuf *o)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s.dcm", dir, sop);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create %s: %s", path, strerror(errno));
	size_t n = 0;
	while (n < o->n) {
		ssize_t w = write(fd, o->p + n, o->n - n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write %s: %s", path, strerror(errno));
		}
		n += (size_t)w;
	}
	if (close(fd))
		die("close %s: %s", path, strerror(errno));
}

static const char *family[] = {
	"SMITH", "MUELLER", "GARCIA", "NGUYEN", "KOWALSKI", "ROSSI", "DUBOIS", "JANSEN",
	"OKAFOR", "TANAKA", "KIM", "SILVA", "IVANOV", "NIELSEN", "BERG", "HOFFMANN",
	"LOPEZ", "MARTIN", "SCHMIDT", "WAGNER", "BECKER", "FISCHER", "NOVAK", "HORVATH",
	"LARSEN", "MOREAU", "COSTA", "PEREIRA", "OBRIEN", "MURPHY", "SINGH", "PATEL",
};
static const char *given_f[] = {
	"ANNA", "MARIA", "SOFIA", "EMMA", "LEA", "CLARA", "JULIA", "IDA", "NORA", "ELIN",
	"HANNA", "AIKO", "MEI", "ZOE", "INES", "PETRA",
};
static const char *given_m[] = {
	"JOHN", "PETER", "LUCA", "JONAS", "NOAH", "ELIAS", "PAUL", "FELIX", "HUGO", "LIAM",
	"OSKAR", "KENJI", "MATEO", "ARJUN", "IVAN", "TOMAS",
};

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	exit(status);
}

int main(int argc, char **argv)
{
	long patients = -1, spp = 2, max_inst = 0;
	uint64_t seed = 1;
	double dup_rate = 0.3;
	const char *seeds_dir = NULL;
	int small = 0, exact = 0, list = 0;
	static const struct option lo[] = {
		{ "patients", required_argument, 0, 'p' },
		{ "studies-per-patient", required_argument, 0, 'k' },
		{ "seed", required_argument, 0, 's' },
		{ "dup-rate", required_argument, 0, 'd' },
		{ "seeds", required_argument, 0, 'S' },
		{ "small", no_argument, 0, 'm' },
		{ "max-instances", required_argument, 0, 'M' },
		{ "exact-pixels", no_argument, 0, 'x' },
		{ "list-seeds", no_argument, 0, 'l' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (c) {
		case 'p': patients = strtol(optarg, &end, 10); if (*end || patients < 0) die("bad --patients"); break;
		case 'k': spp = strtol(optarg, &end, 10); if (*end || spp < 1) die("bad --studies-per-patient"); break;
		case 's': seed = strtoull(optarg, &end, 10); if (*end) die("bad --seed"); break;
		case 'd': dup_rate = strtod(optarg, &end); if (*end || dup_rate < 0 || dup_rate > 1) die("bad --dup-rate"); break;
		case 'S': seeds_dir = optarg; break;
		case 'm': small = 1; break;
		case 'M': max_inst = strtol(optarg, &end, 10); if (*end || max_inst < 0) die("bad --max-instances"); break;
		case 'x': exact = 1; break;
		case 'l': list = 1; break;
		case 'q': quiet = 1; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (!list && (optind != argc - 1 || patients < 0))
		usage(2);
	outdir = list ? NULL : argv[optind];

	/* find the seeds */
	char envbuf[1024];
	const char *cands[6];
	int nc = 0;
	const char *env = getenv("DCMFS_CORPUS");
	if (seeds_dir) {
		cands[nc++] = seeds_dir;
	} else {
		if (env) {
			snprintf(envbuf, sizeof(envbuf), small ? "%s" : "%s/real", env);
			cands[nc++] = envbuf;
		}
		cands[nc++] = small ? "../shared/corpus" : "../shared/corpus/real";
		cands[nc++] = small ? "/work/shared/corpus" : "/work/shared/corpus/real";
		cands[nc++] = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
	}
	const char *used = NULL;
	for (int i = 0; i < nc && !nseeds; i++) {
		walk_dir(cands[i], small);
		if (nseeds)
			used = cands[i];
	}
	if (!nseeds)
		die("no usable seed images found (tried %s%s)", cands[0], nc > 1 ? " and others" : "");
	classify();
	int any = 0;
	for (int m = 0; m < M_N; m++)
		any += nsingles[m] > 0;
	if (!any)
		die("no seed of modality CT, MR, CR/DX, US or MG in %s", used);
	if (list) {
		printf("seeds from %s:\n", used);
		for (int m = 0; m < M_N; m++)
			for (int k = 0; k < nsseeds[m]; k++)
				printf("  %-3s %4d slice(s) %4dx%-4d x%d frames  %s%s\n", mclass_name[m], sseeds[m][k].n,
				       sseeds[m][k].sl[0]->cols, sseeds[m][k].sl[0]->rows, sseeds[m][k].sl[0]->frames,
				       sseeds[m][k].sl[0]->path, sseeds[m][k].n > 1 ? " ..." : "");
		return 0;
	}

	struct stat st;
	if (stat(outdir, &st) == 0) {
		char p[1024];
		snprintf(p, sizeof(p), "%s/patients", outdir);
		if (stat(p, &st) == 0)
			die("%s already holds a corpus (%s exists); use an empty folder", outdir, p);
	}
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", outdir);
	mkdirs(tmp);

	uid_rng.s = mix(seed, 0x55494453ULL);
	struct obuf o = { 0 }, od = { 0 };
	uint32_t serial = 0;
	uint64_t total_inst = 0;
	int stop = 0;
	char dir[1024], ddir[1024];
	for (long p = 0; p < patients && !stop; p++) {
		struct rng r = { mix(seed, (uint64_t)p + 1) };
		char pid[16], pid2[16], name[64], name2[64], birth[16];
		snprintf(pid, sizeof(pid), "%08llu", (unsigned long long)(((uint64_t)p + 1) * 2654435761ULL % 100000000ULL));
		snprintf(pid2, sizeof(pid2), "X%07llu", (unsigned long long)(rng_next(&r) % 10000000ULL));
		int female = (int)(rng_next(&r) & 1);
		const char *fam = family[rng_next(&r) % (sizeof(family) / sizeof(family[0]))];
		const char *giv = female ? given_f[rng_next(&r) % 16] : given_m[rng_next(&r) % 16];
		const char *giv2 = female ? given_f[rng_next(&r) % 16] : given_m[rng_next(&r) % 16];
		snprintf(name, sizeof(name), "%s^%s", fam, giv);
		/* a correction: another given name, or a middle name added */
		if (!strcmp(giv, giv2))
			snprintf(name2, sizeof(name2), "%s^%s^%c", fam, giv, 'A' + (int)(rng_next(&r) % 26));
		else
			snprintf(name2, sizeof(name2), "%s^%s", fam, giv2);
		int by = rng_range(&r, 1930, 2015);
		snprintf(birth, sizeof(birth), "%04d%02d%02d", by, rng_range(&r, 1, 12), rng_range(&r, 1, 28));
		const char *sex = female ? "F" : "M";

		for (long st_i = 0; st_i < spp && !stop; st_i++) {
			/* modality */
			int wsum = 0;
			for (int m = 0; m < M_N; m++)
				wsum += nsingles[m] ? mclass_weight[m] : 0;
			int w = rng_range(&r, 0, wsum - 1), mc = 0;
			for (int m = 0; m < M_N; m++) {
				if (!nsingles[m])
					continue;
				if (w < mclass_weight[m]) {
					mc = m;
					break;
				}
				w -= mclass_weight[m];
			}
			char study_uid[DCM_UI_MAX], date[16], tm[16], acc[20], sid[16];
			make_uid(study_uid, sizeof(study_uid));
			int y = rng_range(&r, 2008, 2024);
			snprintf(date, sizeof(date), "%04d%02d%02d", y, rng_range(&r, 1, 12), rng_range(&r, 1, 28));
			snprintf(tm, sizeof(tm), "%02d%02d%02d", rng_range(&r, 7, 19), rng_range(&r, 0, 59), rng_range(&r, 0, 59));
			snprintf(acc, sizeof(acc), "A%09llu", (unsigned long long)(rng_next(&r) % 1000000000ULL));
			snprintf(sid, sizeof(sid), "%d", rng_range(&r, 1, 9999));
			int dupk = K_ORIG;
			if (rng_unit(&r) < dup_rate)
				dupk = K_RESEND + (int)(rng_next(&r) % 4);
			int nseries;
			switch (mc) {
			case M_MR: nseries = rng_range(&r, 1, 3); break;
			default: nseries = 1;
			}
			cnt[K_ORIG].studies++;
			if (dupk)
				cnt[dupk].studies++;
			for (int se = 0; se < nseries && !stop; se++) {
				char series_uid[DCM_UI_MAX], for_uid[DCM_UI_MAX];
				make_uid(series_uid, sizeof(series_uid));
				make_uid(for_uid, sizeof(for_uid));
				int n;
				struct series_seed *ss = NULL;
				switch (mc) {
				case M_CT: n = rng_range(&r, 100, 300); ss = pick_series(&r, mc); break;
				case M_MR: n = rng_range(&r, 20, 200); ss = pick_series(&r, mc); break;
				case M_US: n = rng_range(&r, 1, 3); break;
				default: n = rng_range(&r, 1, 4); break;
				}
				series_dir(dir, sizeof(dir), K_ORIG, pid, study_uid, series_uid);
				mkdirs(dir);
				if (dupk) {
					series_dir(ddir, sizeof(ddir), dupk, dupk == K_MERGED ? pid2 : pid, study_uid, series_uid);
					mkdirs(ddir);
				}
				cnt[K_ORIG].series++;
				if (dupk)
					cnt[dupk].series++;
				for (int i = 0; i < n; i++) {
					if (max_inst && total_inst >= (uint64_t)max_inst) {
						stop = 1;
						break;
					}
					const struct seed *s = ss ? ss->sl[i % ss->n] : pick_single(&r, mc, mc == M_US);
					char sop[DCM_UI_MAX];
					make_uid(sop, sizeof(sop));
					struct inst in = {
						.pid = pid, .name = name, .sex = sex, .birth = birth,
						.study_uid = study_uid, .series_uid = series_uid, .sop_uid = sop,
						.for_uid = for_uid, .date = date, .time = tm, .accession = acc,
						.study_id = sid, .series_no = se + 1, .instance_no = i + 1,
						.serial = exact ? 0 : ++serial,
					};
					build(&o, s, &in);
					write_file(dir, sop, &o);
					uint64_t pixb = s->pix_val_len;
					cnt[K_ORIG].instances++;
					cnt[K_ORIG].bytes += o.n;
					cnt[K_ORIG].pixel_bytes += pixb;
					mod_instances[mc]++;
					mod_bytes[mc] += o.n;
					total_inst++;
					if (dupk) {
						const struct obuf *w2 = &o;
						if (dupk != K_RESEND) {
							struct inst d = in;
							if (dupk == K_DEPT2)
								d.dept2 = 1;
							else if (dupk == K_CORRECTED)
								d.name = name2;
							else
								d.pid = pid2;
							build(&od, s, &d);
							w2 = &od;
						}
						write_file(ddir, sop, w2);
						cnt[dupk].instances++;
						cnt[dupk].bytes += w2->n;
						cnt[dupk].pixel_bytes += pixb;
					}
				}
			}
		}
		if (!quiet && isatty(2))
			fprintf(stderr, "\rdcmfs-gencorpus: %ld/%ld patients, %" PRIu64 " instances", p + 1, patients, total_inst);
	}
	if (!quiet && isatty(2))
		fputc('\n', stderr);
	free(o.p);
	free(od.p);

	/* report */
	struct counts tot = { 0 };
	printf("# dcmfs-gencorpus %s: seed %" PRIu64 ", %ld patients x %ld studies, dup-rate %.2f, seeds %s%s%s\n",
	       outdir, seed, patients, spp, dup_rate, used, small ? " (small)" : "", exact ? ", exact pixels" : ", pixel tweak");
	printf("# %-10s %8s %8s %10s %14s %14s\n", "kind", "studies", "series", "instances", "bytes", "pixel_bytes");
	for (int k = 0; k < K_N; k++) {
		printf("  %-10s %8" PRIu64 " %8" PRIu64 " %10" PRIu64 " %14" PRIu64 " %14" PRIu64 "\n", kind_name[k],
		       cnt[k].studies, cnt[k].series, cnt[k].instances, cnt[k].bytes, cnt[k].pixel_bytes);
		tot.studies += cnt[k].studies;
		tot.series += cnt[k].series;
		tot.instances += cnt[k].instances;
		tot.bytes += cnt[k].bytes;
		tot.pixel_bytes += cnt[k].pixel_bytes;
	}
	printf("  %-10s %8" PRIu64 " %8" PRIu64 " %10" PRIu64 " %14" PRIu64 " %14" PRIu64 "\n", "total",
	       tot.studies, tot.series, tot.instances, tot.bytes, tot.pixel_bytes);
	printf("# by modality (originals):");
	for (int m = 0; m < M_N; m++)
		if (mod_instances[m])
			printf(" %s %" PRIu64 " inst %.1f MB;", mclass_name[m], mod_instances[m], mod_bytes[m] / 1e6);
	printf("\n");
	/* expected: the originals' pixels are unique (up to encapsulated
	 * seeds reused, which only lower it); duplicates add headers only,
	 * and a resend adds nothing. */
	uint64_t dup_hdr = 0;
	for (int k = K_DEPT2; k < K_N; k++)
		dup_hdr += cnt[k].bytes - cnt[k].pixel_bytes;
	printf("# expected after ideal segment dedup (before compression): at most %" PRIu64
	       " bytes = original files + duplicate headers; logical %" PRIu64 " bytes; ratio >= %.3f\n",
	       cnt[K_ORIG].bytes + dup_hdr, tot.bytes, (double)tot.bytes / (double)(cnt[K_ORIG].bytes + dup_hdr));
	for (int k = 0; k < K_N; k++)
		printf("gencorpus.%s.instances=%" PRIu64 "\ngencorpus.%s.bytes=%" PRIu64 "\ngencorpus.%s.pixel_bytes=%" PRIu64 "\n",
		       kind_name[k], cnt[k].instances, kind_name[k], cnt[k].bytes, kind_name[k], cnt[k].pixel_bytes);
	printf("gencorpus.total.instances=%" PRIu64 "\ngencorpus.total.bytes=%" PRIu64 "\ngencorpus.expected_dedup_bytes=%" PRIu64 "\n",
	       tot.instances, tot.bytes, cnt[K_ORIG].bytes + dup_hdr);
	if (fflush(stdout) || ferror(stdout))
		die("cannot write output");
	return 0;
}
