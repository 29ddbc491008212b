/*
 * rewrite.c - one instance of dcmfs-gencorpus: a seed with its identifying
 * attributes replaced (gencorpus.h).
 *
 * The seed's top-level elements are merged, in tag order, with a sorted list
 * of replacements: a replaced element is written anew (in the seed's VR when
 * it has one), one absent is inserted when the replacement says so, and
 * every other element is copied byte for byte, nested sequences and private
 * tags included.  The meta group length is recomputed.  Pixel Data and
 * everything after it are copied as they are, apart from the pixel tweak.
 */
#include "gencorpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* One attribute to replace (or insert). */
struct replacement {
	uint32_t tag;
	const char *vr;         /* VR when inserting, or when the seed has none */
	const char *val;        /* text value (padded here) */
	int insert;             /* insert when absent */
};

static void obuf_need(struct obuf *o, size_t add)
{
	if (o->n + add > o->cap) {
		size_t c = o->cap ? o->cap : 1 << 20;
		while (c < o->n + add)
			c *= 2;
		o->p = xrealloc(o->p, c);
		o->cap = c;
	}
}

void obuf_put(struct obuf *o, const void *src, size_t n)
{
	obuf_need(o, n);
	memcpy(o->p + o->n, src, n);
	o->n += n;
}

/* A text element, padded to even length (UI and OB with NUL, others with a
 * space), with the long-VR header rule of the scanner. */
void put_text_element(struct obuf *o, uint32_t tag, const char *vr, const char *val,
		      int explicit_vr)
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
		if (dcm_vr_is_long(vr)) {
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
	obuf_put(o, h, hl);
	obuf_put(o, val, vl);
	if (vl & 1) {
		uint8_t pad = (vr[0] == 'U' && vr[1] == 'I') || (vr[0] == 'O' && vr[1] == 'B') ? 0 : ' ';
		obuf_put(o, &pad, 1);
	}
}

/* Merge elements [e, e+n) of b with the sorted replacements; emit into o. */
static void merge_elements(struct obuf *o, const uint8_t *b, const struct dcm_element *e, int n,
			   const struct replacement *rep, int nrep, int explicit_vr)
{
	int j = 0;
	for (int i = 0; i < n; i++) {
		while (j < nrep && rep[j].tag < e[i].tag) {
			if (rep[j].insert)
				put_text_element(o, rep[j].tag, rep[j].vr, rep[j].val, explicit_vr);
			j++;
		}
		if (j < nrep && rep[j].tag == e[i].tag) {
			put_text_element(o, rep[j].tag, explicit_vr && e[i].vr[0] ? e[i].vr : rep[j].vr,
					 rep[j].val, explicit_vr);
			j++;
			continue;
		}
		obuf_put(o, b + e[i].offset, e[i].end - e[i].offset);
	}
	for (; j < nrep; j++)
		if (rep[j].insert)
			put_text_element(o, rep[j].tag, rep[j].vr, rep[j].val, explicit_vr);
}

static int cmp_replacement(const void *a, const void *b)
{
	uint32_t x = ((const struct replacement *)a)->tag, y = ((const struct replacement *)b)->tag;
	return (x > y) - (x < y);
}

/* The first odd group >= 0009 the seed does not use, for dept2's block. */
static uint16_t free_private_group(const struct seed *s)
{
	uint16_t g = 0x0009;
	for (;;) {
		int used = 0;
		for (int i = 0; i < s->nused; i++)
			if (s->used_private_groups[i] == g)
				used = 1;
		if (!used)
			return g;
		g = (uint16_t)(g + 2);
	}
}

/* The documented pixel tweak (usage text): px is the native pixel value. */
static void tweak_pixels(uint8_t *px, size_t len, int bits_allocated, uint32_t serial)
{
	if (bits_allocated == 16) {
		wr16(px, (uint16_t)(rd16(px) + (serial & 0xFFFF)));
		uint8_t *last = px + ((len - 2) & ~(size_t)1);
		wr16(last, (uint16_t)(rd16(last) + (serial >> 16)));
	} else {
		for (int i = 0; i < 4; i++)
			px[i] = (uint8_t)(px[i] + (uint8_t)(serial >> (8 * i)));
	}
}

void rewrite_instance(struct obuf *o, const struct seed *s, const struct inst *in)
{
	char series_no[16], instance_no[16];
	snprintf(series_no, sizeof(series_no), "%d", in->series_no);
	snprintf(instance_no, sizeof(instance_no), "%d", in->instance_no);
	o->n = 0;
	/* preamble + magic */
	obuf_put(o, s->buf, 132);
	/* meta group */
	struct replacement mo[4];
	int nmo = 0;
	mo[nmo++] = (struct replacement){ 0x00020003, "UI", in->sop_uid, 1 };
	if (in->dept2) {
		mo[nmo++] = (struct replacement){ 0x00020013, "SH", "DEPT2_GW_3.1", 1 };
		mo[nmo++] = (struct replacement){ 0x00020016, "AE", "DEPT2_PACS", 1 };
	}
	/* skip the old group length */
	const struct dcm_element *me = s->meta;
	int nme = s->nmeta;
	if (nme && me[0].tag == 0x00020000) {
		me++;
		nme--;
	}
	size_t group_length_at = o->n;
	uint8_t group_length[12] = { 0x02, 0, 0, 0, 'U', 'L', 4, 0, 0, 0, 0, 0 };
	obuf_put(o, group_length, 12);
	size_t meta_start = o->n;
	merge_elements(o, s->buf, me, nme, mo, nmo, 1);
	wr32(o->p + group_length_at + 8, (uint32_t)(o->n - meta_start));

	/* dataset */
	struct replacement d[24];
	int nd = 0;
	d[nd++] = (struct replacement){ 0x00080018, "UI", in->sop_uid, 1 };
	d[nd++] = (struct replacement){ 0x00080020, "DA", in->date, 1 };
	d[nd++] = (struct replacement){ 0x00080021, "DA", in->date, 0 };
	d[nd++] = (struct replacement){ 0x00080022, "DA", in->date, 0 };
	d[nd++] = (struct replacement){ 0x00080023, "DA", in->date, 0 };
	d[nd++] = (struct replacement){ 0x00080030, "TM", in->time, 0 };
	d[nd++] = (struct replacement){ 0x00080050, "SH", in->accession, 1 };
	d[nd++] = (struct replacement){ 0x00100010, "PN", in->name, 1 };
	d[nd++] = (struct replacement){ 0x00100020, "LO", in->pid, 1 };
	d[nd++] = (struct replacement){ 0x00100030, "DA", in->birth, 0 };
	d[nd++] = (struct replacement){ 0x00100040, "CS", in->sex, 0 };
	d[nd++] = (struct replacement){ 0x0020000D, "UI", in->study_uid, 1 };
	d[nd++] = (struct replacement){ 0x0020000E, "UI", in->series_uid, 1 };
	d[nd++] = (struct replacement){ 0x00200010, "SH", in->study_id, 0 };
	d[nd++] = (struct replacement){ 0x00200011, "IS", series_no, 1 };
	d[nd++] = (struct replacement){ 0x00200013, "IS", instance_no, 1 };
	d[nd++] = (struct replacement){ 0x00200052, "UI", in->for_uid, 0 };
	char dept_val[32];
	if (in->dept2) {
		uint16_t g = free_private_group(s);
		snprintf(dept_val, sizeof(dept_val), "DEPT2 %s", in->accession);
		d[nd++] = (struct replacement){ (uint32_t)g << 16 | 0x0010, "LO", "DCMFS GENCORPUS DEPT2", 1 };
		d[nd++] = (struct replacement){ (uint32_t)g << 16 | 0x1001, "LO", dept_val, 1 };
	}
	qsort(d, (size_t)nd, sizeof(d[0]), cmp_replacement);
	merge_elements(o, s->buf, s->dataset, s->ndataset, d, nd, s->explicit_vr);
	/* pixel data and everything after it, verbatim */
	size_t pixel_start = o->n;
	obuf_put(o, s->buf + s->pixel_offset, s->len - s->pixel_offset);
	if (in->serial && s->pixel_native && s->pixel_value_length >= 4)
		tweak_pixels(o->p + pixel_start + (s->pixel_value_offset - s->pixel_offset),
			     s->pixel_value_length, s->bits_allocated, in->serial);
}
