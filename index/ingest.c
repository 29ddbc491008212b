/*
 * ingest.c - the import pipeline: a walker, N workers, one writer.
 *
 * Each file is prepared by a worker (scan, split, hash, dedup candidates
 * confirmed byte by byte, compress the new segments) and handed to the
 * writer, which decides for good under the store's write lock (BEGIN
 * IMMEDIATE): another process may have stored the same data meanwhile, so
 * every decision is checked again there.  The queue between them is bounded
 * in bytes, so memory stays flat whatever the number of files.
 *
 * Crash order of one batch (commit_batch), and what a crash after each
 * step leaves:
 *   1. Ids reserved (patient, study, series, instance), each kind in a
 *      committed transaction of its own; a new pack's row likewise
 *      (ensure_pack).  Left: ids skipped for good, never reused; perhaps
 *      an empty pack.
 *   2. BEGIN IMMEDIATE.  Per new file: its new segments appended to this
 *      process's pack or written as blob files under "<name>.tmp<pid>",
 *      its record appended to the pack, its rows inserted (uncommitted).
 *      Left: no rows; pack entries no row names (the last perhaps torn:
 *      verify and reindex take a torn end of the newest pack for what it
 *      is); temporary files, which gc removes.  reindex reads packs, not
 *      rows: a record whose blobs all reached the pack comes back as if
 *      its batch had committed, one whose blob is a temporary file does not.
 *   3. syncfs: the appends and temporary files are durable.
 *   4. Blob files renamed to their final names; syncfs again when there
 *      were any.  Left: blob files no row names (orphans, for gc).
 *   5. COMMIT: the batch is stored.  When its answer is lost (a catalogue
 *      server gone) and the server cannot tell its fate, nothing is
 *      undone: the batch fails as "unknown", its data stays, and the pack
 *      takes no more appends.
 * A failure at any step (ENOSPC, EIO, a busy database) rolls the
 * transaction back, cuts the pack back to where the batch began and removes
 * the batch's blob files (rollback_data), so no record of it is left for a
 * reindex to bring back.
 */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "dicom.h"

#define INFLIGHT_BYTES (24u << 20)   /* file bytes held in memory between workers and writer */
#define INFLIGHT_ITEMS 256
#define BATCH_MAX 64
#define PATHQ_MAX 4096
#define MAX_CANDIDATES 16
/* Files larger than this are streamed (ingest.h): their pixel value is cut
 * into pieces of about PIECE_BYTES, each a blob of its own, hashed, looked
 * up and encoded on every core, never the whole file in memory. */
#define STREAM_FILE_BYTES (64ull << 20)
#define PIECE_BYTES (16ull << 20)
#define HASH_READ_BYTES (4u << 20)

struct segment {
	uint64_t off, len;
	uint32_t kind;
	int piece;                     /* one piece of a streamed pixel value */
	uint8_t hash[HASH_LEN];
	struct blob_ref found;         /* found.id != 0: same bytes already stored */
	uint8_t *enc;                  /* encoded bytes when new */
	size_t enc_len;
	uint8_t *raw_own;              /* header or trailer of a streamed file */
	char *tmp;                     /* a new piece, encoded and written by a
	                                * worker as a temporary blob file (ordinal
	                                * 0) that the writer has not taken yet */
};

struct item {
	struct item *next;
	char *path;
	const uint8_t *bytes;          /* the whole file, read into memory (malloc);
	                                * NULL for a streamed file */
	size_t len;                    /* the file's size */
	size_t reserved;               /* counted in ing->inflight until committed */
	int src_fd;                    /* a streamed file, open until freed; -1
	                                * none yet; -2 large but read whole */
	struct dcm_info info;
	uint8_t file_hash[HASH_LEN];
	int nseg;
	struct segment *seg;           /* seg_small, or RECORD_MAX_SEGMENTS (streamed) */
	struct segment seg_small[3];
	struct ingest_result res;
};

/* A blob file written under its temporary name in the current batch. */
struct pending {
	struct blob_ref ref;
	const uint8_t *raw;            /* its bytes, or NULL: a piece, in src_fd */
	int src_fd;
	uint64_t src_off;
	char tmp[4200];
};

struct pathq {
	char **v;
	size_t head, count, cap;
};

struct ingest {
	struct store *s;
	ingest_report_fn report;
	void *arg;
	int nthreads;
	pthread_t *workers;
	pthread_t writer;
	int writer_started;

	pthread_mutex_t lock;         /* guards everything below to 'totals' */
	pthread_cond_t cond;
	struct pathq paths;
	int no_more_paths;
	int workers_done;
	struct item *ready_head, *ready_tail;
	uint64_t inflight;
	int inflight_items;
	int64_t queued;
	struct ingest_totals totals;
	int first_error;
	int piece_slots;              /* pieces that may be in memory now */
	int piece_slots_max;          /* ... at once: bounds a streamed file's memory */

	pthread_mutex_t write_lock;   /* the writer state: one batch at a time */
	struct catalog *writer_cat;
	struct pack_writer *pack;
	int64_t pack_id;
	struct codec_ctx *writer_codec;
	struct pending *pending;      /* blob files of this batch, not yet renamed */
	size_t npending, cappending;

	pthread_mutex_t one_file_lock; /* ingest_one's own worker state */
	struct catalog *one_file_cat;
	struct codec_ctx *one_file_codec;

	pthread_mutex_t hold_lock;    /* guards held */
	int held;                     /* the store's ingest lock, from the first
	                               * ingest_add to ingest_end (store.h) */
};

static struct item *item_new(void)
{
	struct item *it = calloc(1, sizeof(*it));
	if (it) {
		it->src_fd = -1;
		it->seg = it->seg_small;
	}
	return it;
}

static void item_free(struct item *it)
{
	if (!it)
		return;
	for (int i = 0; i < it->nseg; i++) {
		free(it->seg[i].enc);
		free(it->seg[i].raw_own);
		if (it->seg[i].tmp)
			blob_file_remove(it->seg[i].tmp);   /* a piece nobody took */
		free(it->seg[i].tmp);
	}
	if (it->seg != it->seg_small)
		free(it->seg);
	if (it->src_fd >= 0)
		close(it->src_fd);
	free((void *)it->bytes);
	free(it->path);
	free(it);
}

static void reject(struct item *it, const char *fmt, const char *detail)
{
	it->res.outcome = INGEST_REJECTED;
	snprintf(it->res.reason, sizeof(it->res.reason), fmt, detail);
}

/* ---------------- worker side ---------------- */

/* The image layout of native pixel data, for the codec's predictors: 1 and
 * *l filled, or 0 when the pixels are encapsulated or of a kind the codec
 * keeps as opaque bytes.  The codec also falls back to opaque bytes when the
 * layout does not add up to the segment's length. */
static int native_layout(const struct dcm_info *d, struct codec_layout *l)
{
	if (d->pixel_tag != 0x7FE00010u || d->pixel_encapsulated ||
	    (d->bits_allocated != 8 && d->bits_allocated != 16) ||
	    d->rows <= 0 || d->columns <= 0 || d->samples_per_pixel <= 0)
		return 0;
	l->bytes_per_sample = (uint32_t)d->bits_allocated / 8;
	l->samples_per_pixel = (uint32_t)d->samples_per_pixel;
	l->planar = (uint32_t)d->planar_configuration;
	l->columns = (uint32_t)d->columns;
	l->rows = (uint32_t)d->rows;
	l->frames = d->number_of_frames > 0 ? (uint32_t)d->number_of_frames : 1;
	return 1;
}

/* The bytes a layout row (or, for colour planes, frame) takes: a piece of
 * a streamed pixel value is cut at a multiple of it.  1 when opaque. */
static uint64_t piece_unit(const struct dcm_info *d)
{
	struct codec_layout l;
	if (!native_layout(d, &l))
		return 1;
	uint64_t row = (uint64_t)l.columns * l.samples_per_pixel * l.bytes_per_sample;
	uint64_t unit = l.planar ? row * l.rows : row;
	/* A frame of planes larger than this is cut as opaque bytes. */
	return unit && unit <= 2 * PIECE_BYTES ? unit : 1;
}

/* The codec layout of a segment: native pixel data by its image; a piece
 * of it (whole rows, or whole frames of planes) as one tall image of its
 * rows, or its frames.  0 when the bytes are opaque. */
static int segment_layout(const struct dcm_info *d, const struct segment *sg,
			  struct codec_layout *l)
{
	if (sg->kind != BLOB_PIXELS || !native_layout(d, l))
		return 0;
	if (!sg->piece)
		return 1;
	uint64_t unit = piece_unit(d);
	if (unit == 1 || sg->len % unit)
		return 0;
	if (l->planar) {
		l->frames = (uint32_t)(sg->len / unit);
	} else {
		l->rows = (uint32_t)(sg->len / unit);
		l->frames = 1;
	}
	return 1;
}

/* Compress a new segment's bytes raw into sg->enc (sg->enc_len bytes,
 * owned by the segment and freed with its item).  Native pixel data is
 * coded by its image layout; pixels get zstd level 1 (codec.h), headers and
 * trailers level 3.  Returns 0, or -ENOMEM. */
static int encode_segment(struct codec_ctx *ctx, const struct dcm_info *d,
			  const uint8_t *raw, struct segment *sg)
{
	struct codec_layout lay;
	int native = segment_layout(d, sg, &lay);
	int level = sg->kind == BLOB_PIXELS ? 1 : 3;
	if (codec_encode(ctx, raw, sg->len, native ? &lay : NULL, level, &sg->enc, &sg->enc_len))
		return -ENOMEM;
	return 0;
}

/* Find a stored blob with exactly these bytes. */
static int find_existing(struct store *s, struct catalog *cat, struct codec_ctx *ctx,
			 const struct segment *sg, const uint8_t *raw,
			 struct blob_ref *found)
{
	struct blob_ref cand[MAX_CANDIDATES];
	int n = catalog_blob_candidates(cat, sg->hash, cand, MAX_CANDIDATES);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		int eq = store_blob_equals(s, ctx, &cand[i], raw, sg->len);
		if (eq < 0)
			continue;   /* unreadable candidate: verify reports it; never share it */
		if (eq) {
			*found = cand[i];
			return 1;
		}
	}
	return 0;
}

static const char *file_type(mode_t m)
{
	return S_ISDIR(m) ? "a folder" : S_ISLNK(m) ? "a symbolic link" : S_ISFIFO(m) ? "a FIFO" :
	       S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device" :
	       S_ISBLK(m) ? "a block device" : "not a regular file";
}

/* Take len bytes of the in-flight budget before reading a file, so that
 * workers never hold more than INFLIGHT_BYTES of file data between them;
 * one file always passes, whatever its size. */
static void reserve_bytes(struct ingest *ing, size_t len)
{
	pthread_mutex_lock(&ing->lock);
	while (ing->inflight && ing->inflight + len > INFLIGHT_BYTES)
		pthread_cond_wait(&ing->cond, &ing->lock);
	ing->inflight += len;
	pthread_mutex_unlock(&ing->lock);
}

/* Read the whole file into it->bytes.  Only regular files are opened: a FIFO
 * would block open() forever and a device may act on open, so the type is
 * checked first, and the open neither blocks nor follows a symbolic link
 * swapped in meanwhile.  The bytes are read, not mapped: a file truncated
 * by someone else while it is prepared (a second writer in /incoming) then
 * reads short and is refused, where a mapping would raise SIGBUS. */
static int read_file(struct ingest *ing, struct item *it)
{
	struct stat st;
	if (lstat(it->path, &st) < 0) {
		reject(it, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		reject(it, "%s, not a regular file", file_type(st.st_mode));
		return -1;
	}
	int fd = open(it->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		reject(it, "cannot open: %s", errno == ELOOP ? "a symbolic link" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		reject(it, "%s", "not a regular file");
		return -1;
	}
	size_t len = (size_t)st.st_size;
	it->res.size = len;
	if (len == 0) {
		close(fd);
		reject(it, "%s", "empty file (0 bytes)");
		return -1;
	}
	it->len = len;
	if (len > STREAM_FILE_BYTES && it->src_fd == -1) {
		it->src_fd = fd;   /* streamed: prepare_streamed reads it */
		return 1;
	}
	reserve_bytes(ing, len);
	it->reserved = len;   /* from here on, the writer gives the budget back */
	uint8_t *buf = malloc(len);
	if (!buf) {
		/* A store-side failure, not the file's fault: not "rejected". */
		close(fd);
		it->res.outcome = INGEST_FAILED;
		it->res.err = -ENOMEM;
		snprintf(it->res.reason, sizeof(it->res.reason), "no memory to read %zu bytes", len);
		return -1;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : 0;
			close(fd);
			free(buf);
			if (e)
				reject(it, "cannot read: %s", strerror(e));
			else
				reject(it, "%s", "the file shrank while it was read (truncated by another writer?)");
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	it->bytes = buf;
	return 0;
}

/* ---- streamed files ---- */

/* Read exactly len bytes at off.  0, 1 when the file ends first (it shrank),
 * or -errno. */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 1;
		got += (size_t)n;
	}
	return 0;
}

/* A SIGBUS while the scanner walks a mapped file (another writer cut the
 * file short) ends that scan, not the process. */
static __thread sigjmp_buf *scan_guard;
static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig)
{
	if (scan_guard)
		siglongjmp(*scan_guard, 1);
	signal(sig, SIG_DFL);   /* not ours: the fault repeats and kills, as it would */
}

static void sigbus_install(void)
{
	struct sigaction old, sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	/* Only where nobody else handles SIGBUS. */
	if (sigaction(SIGBUS, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
		sigaction(SIGBUS, &sa, NULL);
}

/* dcm_scan over a mapping of the file: the scanner skips the pixel value
 * by its length (fragments by their item headers), so only the pages it
 * reads are touched, never the whole file.  The DCM status, or -1 when the
 * file was cut short meanwhile, or -errno of the mapping. */
static int scan_mapped(int fd, size_t len, struct dcm_info *info, char *err, size_t errlen)
{
	pthread_once(&sigbus_once, sigbus_install);
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, len, MADV_RANDOM);
	sigjmp_buf jb;
	int rc = -1;
	if (sigsetjmp(jb, 1) == 0) {
		scan_guard = &jb;
		rc = dcm_scan(p, len, info, err, errlen);
	}
	scan_guard = NULL;
	munmap(p, len);
	return rc;
}

/* An encapsulated pixel value, found without touching its fragments: a
 * mapped scan steps over every item header, and the kernel maps the cached
 * pages around each one, so a slide of small tiles would count whole in
 * the process's memory.  Instead the first PROBE_BYTES are scanned to find
 * the pixel element, its items are walked with small reads, and the file
 * is scanned again as a stand-in of the same size: an anonymous mapping
 * holding the header and the trailer where they are, and between them
 * items of zeros ending where the real items end, so that only the pages
 * written count, and the info, offsets and messages are those of the file.
 * Pieces are cut where an item starts, once a piece holds at least piece
 * bytes, so one tile (fragment) lies in one piece; an item longer than a
 * piece (one fragment for a whole frame) is cut inside, as opaque bytes, so
 * that no piece exceeds 2 * piece.  cuts[] gets the file offsets where
 * pieces 2.. begin.  0, or 1: not this way (no encapsulated pixel element
 * in the probe, items that do not walk cleanly, a trailer over
 * STAND_IN_TRAILER_MAX): the caller scans the mapping, which says exactly
 * what is wrong; or -errno. */
#define PROBE_BYTES (1u << 20)
#define STAND_IN_TRAILER_MAX (16u << 20)

/* Item headers are read through a window: an item that ends within
 * WALK_WINDOW of the last read brings in a whole window (9 M empty items,
 * one 8-byte pread each, took 6.4 s for 72 MB), one past it 8 bytes (a
 * slide of large tiles is not read twice). */
#define WALK_WINDOW (64u << 10)

struct walk_window {
	uint8_t *buf;
	uint64_t off, len;
};

static int walk_header(int fd, struct walk_window *w, uint64_t file_len, uint64_t pos,
		       uint8_t h[8])
{
	if (pos + 8 > w->off + w->len) {
		uint64_t n = pos + 8 - (w->off + w->len) < WALK_WINDOW ? WALK_WINDOW : 8;
		if (n > file_len - pos)
			n = file_len - pos;
		int r = pread_full(fd, w->buf, (size_t)n, pos);
		if (r)
			return r;
		w->off = pos, w->len = n;
	}
	memcpy(h, w->buf + (pos - w->off), 8);
	return 0;
}

static int walk_cut(int fd, struct walk_window *w, uint64_t file_len, uint64_t pos,
		    uint64_t piece, uint64_t *cuts, int *ncuts, uint64_t *value_end)
{
	uint64_t value_start = pos, start = pos;
	int n = 0;
	for (;;) {
		uint8_t h[8];
		if (file_len - pos < 8 || walk_header(fd, w, file_len, pos, h))
			return 1;
		uint32_t group = (uint32_t)h[0] | (uint32_t)h[1] << 8;
		uint32_t elem = (uint32_t)h[2] | (uint32_t)h[3] << 8;
		uint32_t len = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
			       (uint32_t)h[7] << 24;
		if ((group << 16 | elem) == DCM_TAG_SEQUENCE_DELIMITER) {
			*value_end = pos + 8;
			break;
		}
		if ((group << 16 | elem) != DCM_TAG_ITEM || len == DCM_UNDEFINED_LENGTH ||
		    len > file_len - pos - 8)
			return 1;
		if (pos - start >= piece) {
			if (n >= RECORD_MAX_PIECES - 1)
				return 1;
			cuts[n++] = start = pos;
		}
		uint64_t end = pos + 8 + len;
		while (end - start > 2 * piece) {
			if (n >= RECORD_MAX_PIECES - 1)
				return 1;
			cuts[n++] = start += piece;
		}
		pos = end;
	}
	/* No piece of a few bytes at the end: the last cut goes when what
	 * follows it is short (the piece before then stays under 2.25x). */
	if (n && *value_end - cuts[n - 1] < piece / 4 &&
	    *value_end - (n > 1 ? cuts[n - 2] : value_start) <= 2 * piece + piece / 4)
		n--;
	*ncuts = n;
	return 0;
}

static int walk_items(int fd, uint64_t file_len, uint64_t pos, uint64_t piece,
		      uint64_t *cuts, int *ncuts, uint64_t *value_end)
{
	struct walk_window w = { .buf = malloc(WALK_WINDOW), .off = 0, .len = 0 };
	if (!w.buf)
		return -ENOMEM;
	int r = walk_cut(fd, &w, file_len, pos, piece, cuts, ncuts, value_end);
	free(w.buf);
	return r;
}

static int scan_encapsulated(struct item *it, uint64_t piece, uint64_t *cuts, int *ncuts)
{
	char err[200];
	size_t probe_len = it->len < PROBE_BYTES ? it->len : PROBE_BYTES;
	uint8_t *probe = malloc(probe_len);
	struct dcm_info *first = malloc(sizeof(*first));
	uint8_t *stand_in = MAP_FAILED;
	int r = probe && first ? pread_full(it->src_fd, probe, probe_len, 0) : -ENOMEM;
	if (r)
		goto out;
	r = 1;
	/* The probe ends inside the fragments: dcm_scan fails there, having
	 * found the element; what it found is checked by the second scan. */
	if (dcm_scan(probe, probe_len, first, err, sizeof(err)) == DCM_OK || !first->pixel_tag ||
	    !first->pixel_encapsulated || first->syntax == DCM_SYNTAX_DEFLATED ||
	    first->syntax == DCM_SYNTAX_EXPLICIT_BE || first->pixel_value_offset > probe_len)
		goto out;
	uint64_t po = first->pixel_value_offset, value_end;
	if ((r = walk_items(it->src_fd, it->len, po, piece, cuts, ncuts, &value_end)))
		goto out;
	r = 1;
	if (it->len - value_end > STAND_IN_TRAILER_MAX)
		goto out;
	stand_in = mmap(NULL, it->len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (stand_in == MAP_FAILED) {
		r = -ENOMEM;
		goto out;
	}
	madvise(stand_in, it->len, MADV_NOHUGEPAGE);   /* a touched page, not 2 MiB */
	memcpy(stand_in, probe, (size_t)po);
	/* Items of zeros from po to the delimiter, each at most 2 GiB, none
	 * left shorter than its 8-byte header. */
	uint64_t pos = po, delim = value_end - 8;
	while (pos < delim) {
		uint64_t len = delim - pos - 8;
		if (len > (1ull << 31))
			len = 1ull << 31;
		if (delim - pos - 8 - len < 8 && delim - pos - 8 - len > 0)
			len -= 8;
		uint8_t *h = stand_in + pos;
		h[0] = 0xFE, h[1] = 0xFF, h[2] = 0x00, h[3] = 0xE0;
		h[4] = (uint8_t)len, h[5] = (uint8_t)(len >> 8), h[6] = (uint8_t)(len >> 16),
		h[7] = (uint8_t)(len >> 24);
		pos += 8 + len;
	}
	memcpy(stand_in + delim, (const uint8_t[8]){ 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0 }, 8);
	if ((r = pread_full(it->src_fd, stand_in + value_end, (size_t)(it->len - value_end), value_end)))
		goto out;
	r = 1;
	if (dcm_scan(stand_in, it->len, &it->info, err, sizeof(err)) != DCM_OK ||
	    it->info.pixel_tag != first->pixel_tag || !it->info.pixel_encapsulated ||
	    it->info.pixel_value_offset != po || it->info.pixel_value_length != value_end - po)
		goto out;
	r = 0;
out:
	if (r)
		memset(&it->info, 0, sizeof(it->info));
	if (stand_in != MAP_FAILED)
		munmap(stand_in, it->len);
	free(probe);
	free(first);
	return r;
}

/* Pieces of one streamed file, shared by the threads that do them. */
struct piece_job {
	struct ingest *ing;
	struct item *it;
	pthread_mutex_t lock;
	int next, end;             /* segments [next, end) are pieces not yet taken */
	int err;                   /* the first failure: -errno, or 1 (file shrank) */
};

static void piece_slot_take(struct ingest *ing)
{
	pthread_mutex_lock(&ing->lock);
	while (ing->piece_slots <= 0)
		pthread_cond_wait(&ing->cond, &ing->lock);
	ing->piece_slots--;
	pthread_mutex_unlock(&ing->lock);
}

static void piece_slot_give(struct ingest *ing)
{
	pthread_mutex_lock(&ing->lock);
	ing->piece_slots++;
	pthread_cond_broadcast(&ing->cond);
	pthread_mutex_unlock(&ing->lock);
}

/* One piece: read, hash, look up, and when new encode it and write it as a
 * temporary blob file (the writer decides for good).  0, 1 (short read),
 * or -errno. */
static int piece_do(struct ingest *ing, struct catalog *cat, struct codec_ctx *ctx,
		    struct item *it, struct segment *sg)
{
	uint8_t *raw = malloc(sg->len);
	if (!raw)
		return -ENOMEM;
	int r = pread_full(it->src_fd, raw, sg->len, sg->off);
	if (r) {
		free(raw);
		return r;
	}
	hash_bytes(raw, sg->len, sg->hash);
	r = find_existing(ing->s, cat, ctx, sg, raw, &sg->found);
	if (r == 0 && (r = encode_segment(ctx, &it->info, raw, sg)) == 0) {
		free(raw);
		raw = NULL;
		struct blob_header h = { .ordinal = 0, .kind = sg->kind, .raw_size = sg->len,
					 .enc_size = sg->enc_len };
		memcpy(h.hash, sg->hash, HASH_LEN);
		char tmp[4200];
		r = blob_file_write_tmp_unique(store_dir(ing->s), &h, sg->enc, tmp, sizeof(tmp));
		free(sg->enc);
		sg->enc = NULL;
		if (!r && !(sg->tmp = strdup(tmp))) {
			blob_file_remove(tmp);
			r = -ENOMEM;
		}
	}
	free(raw);
	return r < 0 ? r : 0;
}

static void piece_loop(struct piece_job *job, struct catalog *cat, struct codec_ctx *ctx)
{
	for (;;) {
		pthread_mutex_lock(&job->lock);
		int i = job->err ? job->end : job->next++;
		pthread_mutex_unlock(&job->lock);
		if (i >= job->end)
			return;
		piece_slot_take(job->ing);
		int r = piece_do(job->ing, cat, ctx, job->it, &job->it->seg[i]);
		piece_slot_give(job->ing);
		if (r) {
			pthread_mutex_lock(&job->lock);
			if (!job->err)
				job->err = r;
			pthread_mutex_unlock(&job->lock);
		}
	}
}

static void *piece_helper(void *arg)
{
	struct piece_job *job = arg;
	struct catalog *cat = NULL;
	struct codec_ctx *ctx = codec_ctx_new();
	int r = ctx ? store_catalog(job->ing->s, &cat) : -ENOMEM;
	if (!r) {
		piece_loop(job, cat, ctx);
	} else {
		pthread_mutex_lock(&job->lock);
		if (!job->err)
			job->err = r;
		pthread_mutex_unlock(&job->lock);
	}
	catalog_close(cat);
	codec_ctx_free(ctx);
	return NULL;
}

/* The whole file's key, read in order.  0, 1 (it shrank), or -errno. */
static int hash_whole_file(struct item *it)
{
	uint8_t *buf = malloc(HASH_READ_BYTES);
	struct hash_stream *hs = hash_stream_new();
	int r = buf && hs ? 0 : -ENOMEM;
	for (uint64_t off = 0; !r && off < it->len; off += HASH_READ_BYTES) {
		size_t n = it->len - off < HASH_READ_BYTES ? (size_t)(it->len - off) : HASH_READ_BYTES;
		if (!(r = pread_full(it->src_fd, buf, n, off)))
			hash_stream_add(hs, buf, n);
	}
	if (hs)
		hash_stream_end(hs, it->file_hash);
	free(buf);
	return r;
}

static void fail_item(struct item *it, int err, const char *what)
{
	it->res.outcome = INGEST_FAILED;
	it->res.err = err;
	snprintf(it->res.reason, sizeof(it->res.reason), "%s: %s", what, strerror(-err));
}

/* Prepare a file larger than STREAM_FILE_BYTES from it->src_fd: header and
 * trailer in memory, the pixel value in pieces done on every core (at most
 * ing->piece_slots in memory at once), the file's key read in order
 * meanwhile.  Returns 1 when the file cannot be cut (deflated, no pixel
 * value, little of it) and is to be read whole, else 0 (it->res says what
 * went wrong, if anything). */
static int prepare_streamed(struct ingest *ing, struct catalog *cat, struct codec_ctx *ctx,
			    struct item *it)
{
	char err[200] = "";
	struct stat before, after;
	if (fstat(it->src_fd, &before) < 0) {
		reject(it, "cannot read: %s", strerror(errno));
		return 0;
	}
	/* Pieces of at most RECORD_MAX_PIECES; the file's size bounds the
	 * pixel value's, which encapsulated cuts are chosen before knowing. */
	uint64_t piece = PIECE_BYTES;
	if (it->len / piece >= RECORD_MAX_PIECES)
		piece = it->len / RECORD_MAX_PIECES + 1;
	uint64_t cuts[RECORD_MAX_PIECES];
	int ncuts = 0;
	int sc = scan_encapsulated(it, piece, cuts, &ncuts);
	if (sc < 0) {
		fail_item(it, sc, sc == -ENOMEM ? "out of memory" : "cannot read");
		return 0;
	}
	if (sc == 0)
		sc = DCM_OK;   /* cut at items: cuts[] */
	else
		sc = scan_mapped(it->src_fd, it->len, &it->info, err, sizeof(err));
	int by_items = sc == DCM_OK && it->info.pixel_encapsulated && ncuts > 0;
	if (sc == -1) {
		reject(it, "%s", "the file shrank while it was read (truncated by another writer?)");
		return 0;
	}
	if (sc < 0) {
		reject(it, "cannot map: %s", strerror(-sc));
		return 0;
	}
	if (sc != DCM_OK) {
		reject(it, "%s", err[0] ? err : dcm_strerror(sc));
		return 0;
	}
	const struct dcm_info *d = &it->info;
	uint64_t po = d->pixel_value_offset, pl = d->pixel_value_length;
	if (d->syntax == DCM_SYNTAX_DEFLATED || !d->pixel_tag || pl < 2 * PIECE_BYTES)
		return 1;
	/* Native: pieces of whole rows (frames of planes). */
	uint64_t unit = piece_unit(d);
	piece = (piece + unit - 1) / unit * unit;
	if (!(it->seg = calloc(RECORD_MAX_SEGMENTS, sizeof(*it->seg)))) {
		it->seg = it->seg_small;
		fail_item(it, -ENOMEM, "out of memory");
		return 0;
	}
	it->seg[it->nseg++] = (struct segment){ .off = 0, .len = po, .kind = BLOB_HEADER };
	int first_piece = it->nseg;
	if (by_items) {
		for (int c = 0; c <= ncuts; c++) {
			uint64_t from = c ? cuts[c - 1] : po, to = c < ncuts ? cuts[c] : po + pl;
			it->seg[it->nseg++] = (struct segment){ .off = from, .len = to - from,
								.kind = BLOB_PIXELS, .piece = 1 };
		}
	} else {
		for (uint64_t o = 0; o < pl; o += piece)
			it->seg[it->nseg++] = (struct segment){ .off = po + o,
								.len = pl - o < piece ? pl - o : piece,
								.kind = BLOB_PIXELS, .piece = 1 };
	}
	int end_piece = it->nseg;
	if (po + pl < it->len)
		it->seg[it->nseg++] = (struct segment){ .off = po + pl, .len = it->len - po - pl,
							.kind = BLOB_TRAILER };
	/* Header and trailer: small, in memory, done like any file's. */
	for (int i = 0; i < it->nseg; i++) {
		struct segment *sg = &it->seg[i];
		if (sg->piece)
			continue;
		int r = (sg->raw_own = malloc(sg->len ? sg->len : 1)) ? 0 : -ENOMEM;
		if (!r)
			r = pread_full(it->src_fd, sg->raw_own, sg->len, sg->off);
		if (!r) {
			hash_bytes(sg->raw_own, sg->len, sg->hash);
			r = find_existing(ing->s, cat, ctx, sg, sg->raw_own, &sg->found);
			if (r == 0)
				r = encode_segment(ctx, d, sg->raw_own, sg);
			else if (r == 1)
				r = 0;
		}
		if (r == 1) {
			reject(it, "%s", "the file shrank while it was read (truncated by another writer?)");
			return 0;
		}
		if (r) {
			fail_item(it, r, "cannot prepare");
			return 0;
		}
	}
	struct piece_job job = { .ing = ing, .it = it, .next = first_piece, .end = end_piece };
	pthread_mutex_init(&job.lock, NULL);
	int helpers = ing->piece_slots_max - 1;
	if (helpers > end_piece - first_piece - 1)
		helpers = end_piece - first_piece - 1;
	pthread_t tids[8];
	int started = 0;
	while (started < helpers && started < 8 &&
	       pthread_create(&tids[started], NULL, piece_helper, &job) == 0)
		started++;
	/* The whole file's key in order while the helpers encode; then help. */
	int hr = hash_whole_file(it);
	piece_loop(&job, cat, ctx);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&job.lock);
	int r = job.err ? job.err : hr;
	if (!r && (fstat(it->src_fd, &after) < 0 || after.st_size != before.st_size ||
		   after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
		   after.st_mtim.tv_nsec != before.st_mtim.tv_nsec))
		r = 1;
	if (r == 1)
		reject(it, "%s", "the file changed while it was read (written by another program?)");
	else if (r)
		fail_item(it, r, r == -ENOMEM ? "out of memory" : "cannot store a piece");
	return 0;
}

static void prepare(struct ingest *ing, struct catalog *cat, struct codec_ctx *ctx,
		    struct item *it)
{
	it->res.path = it->path;
	int rf = read_file(ing, it);
	if (rf < 0)
		return;
	if (rf == 1) {
		if (prepare_streamed(ing, cat, ctx, it) == 0)
			return;
		/* Not cut into pieces after all: read whole like any file. */
		close(it->src_fd);
		it->src_fd = -2;   /* read_file reads it whole this time */
		memset(&it->info, 0, sizeof(it->info));
		if (read_file(ing, it) < 0)
			return;
	}
	char err[200];
	int scanned = dcm_scan(it->bytes, it->len, &it->info, err, sizeof(err));
	if (scanned != DCM_OK) {
		reject(it, "%s", err[0] ? err : dcm_strerror(scanned));
		return;
	}
	const struct dcm_info *d = &it->info;
	/* Split at the pixel element; deflated files and files without
	 * pixels are one segment. */
	if (d->syntax == DCM_SYNTAX_DEFLATED || !d->pixel_tag) {
		it->nseg = 1;
		it->seg[0] = (struct segment){ .off = 0, .len = it->len, .kind = BLOB_WHOLE };
	} else {
		uint64_t po = d->pixel_value_offset, pl = d->pixel_value_length;
		it->seg[it->nseg++] = (struct segment){ .off = 0, .len = po, .kind = BLOB_HEADER };
		if (pl)
			it->seg[it->nseg++] = (struct segment){ .off = po, .len = pl, .kind = BLOB_PIXELS };
		if (po + pl < it->len)
			it->seg[it->nseg++] = (struct segment){ .off = po + pl, .len = it->len - po - pl,
								.kind = BLOB_TRAILER };
	}
	hash_bytes(it->bytes, it->len, it->file_hash);
	for (int i = 0; i < it->nseg; i++) {
		struct segment *sg = &it->seg[i];
		const uint8_t *raw = it->bytes + sg->off;
		if (sg->off == 0 && sg->len == it->len)
			memcpy(sg->hash, it->file_hash, HASH_LEN);   /* the whole file: hashed just above */
		else
			hash_bytes(raw, sg->len, sg->hash);
		int r = find_existing(ing->s, cat, ctx, sg, raw, &sg->found);
		if (r < 0) {
			it->res.outcome = INGEST_FAILED;
			it->res.err = r;
			snprintf(it->res.reason, sizeof(it->res.reason), "index lookup failed: %s",
				 strerror(-r));
			return;
		}
		if (r)
			continue;
		if (encode_segment(ctx, d, raw, sg)) {
			it->res.outcome = INGEST_FAILED;
			it->res.err = -ENOMEM;
			snprintf(it->res.reason, sizeof(it->res.reason), "out of memory compressing");
			return;
		}
	}
}

static int pop_path(struct ingest *ing, char **path)
{
	pthread_mutex_lock(&ing->lock);
	while (!ing->paths.count && !ing->no_more_paths)
		pthread_cond_wait(&ing->cond, &ing->lock);
	int got = 0;
	if (ing->paths.count) {
		*path = ing->paths.v[ing->paths.head];
		ing->paths.head = (ing->paths.head + 1) % ing->paths.cap;
		ing->paths.count--;
		got = 1;
		pthread_cond_broadcast(&ing->cond);
	}
	pthread_mutex_unlock(&ing->lock);
	return got;
}

static void hand_to_writer(struct ingest *ing, struct item *it)
{
	pthread_mutex_lock(&ing->lock);
	/* Bound items in flight (their bytes were reserved before reading);
	 * one item always passes. */
	while (ing->inflight_items && ing->inflight_items >= INFLIGHT_ITEMS)
		pthread_cond_wait(&ing->cond, &ing->lock);
	ing->inflight_items++;
	if (ing->ready_tail)
		ing->ready_tail->next = it;
	else
		ing->ready_head = it;
	ing->ready_tail = it;
	pthread_cond_broadcast(&ing->cond);
	pthread_mutex_unlock(&ing->lock);
}

static void *worker_main(void *arg)
{
	struct ingest *ing = arg;
	struct catalog *cat = NULL;
	struct codec_ctx *ctx = codec_ctx_new();
	int r = store_catalog(ing->s, &cat);
	char *path;
	while (pop_path(ing, &path)) {
		struct item *it = item_new();
		if (!it) {
			/* Not counted as done otherwise: a progress loop waiting for
			 * the queue to drain would wait for ever. */
			free(path);
			pthread_mutex_lock(&ing->lock);
			ing->queued--;
			ing->totals.n_failed++;
			if (!ing->first_error)
				ing->first_error = -ENOMEM;
			pthread_cond_broadcast(&ing->cond);
			pthread_mutex_unlock(&ing->lock);
			continue;
		}
		it->path = path;
		if (r || !ctx) {
			it->res.path = path;
			it->res.outcome = INGEST_FAILED;
			it->res.err = r ? r : -ENOMEM;
			snprintf(it->res.reason, sizeof(it->res.reason), "cannot open the index");
		} else {
			prepare(ing, cat, ctx, it);
		}
		hand_to_writer(ing, it);
	}
	catalog_close(cat);
	codec_ctx_free(ctx);
	pthread_mutex_lock(&ing->lock);
	ing->workers_done++;
	pthread_cond_broadcast(&ing->cond);
	pthread_mutex_unlock(&ing->lock);
	return NULL;
}

/* ---------------- writer side ---------------- */

static int ensure_pack(struct ingest *ing, char *err, size_t errlen)
{
	if (ing->pack && pack_writer_size(ing->pack) < pack_writer_limit(ing->pack))
		return 0;
	pack_writer_free(ing->pack);
	ing->pack = NULL;
	int r = pack_writer_create(store_dir(ing->s), &ing->pack, err, errlen);
	if (r)
		return r;
	/* The pack row commits on its own so that blob rows can point to it. */
	r = catalog_begin(ing->writer_cat);
	if (!r)
		r = catalog_pack_id(ing->writer_cat, pack_writer_name(ing->pack), &ing->pack_id);
	if (!r)
		r = catalog_commit(ing->writer_cat);
	else
		catalog_rollback(ing->writer_cat);
	if (r) {
		snprintf(err, errlen, "cannot register pack: %s", catalog_errmsg(ing->writer_cat));
		/* Unregistered, it must not be taken for the last pack's id. */
		pack_writer_free(ing->pack);
		ing->pack = NULL;
	}
	return r;
}

/* A streamed piece's bytes, read again from its file into *buf (the
 * caller's, to free); they must still hash to its key.  0, -ENOMEM,
 * -ESTALE (the file changed since the worker read it), or -errno. */
static int load_piece(int fd, uint64_t off, uint64_t len, const uint8_t hash[HASH_LEN],
		      uint8_t **buf)
{
	uint8_t *b = malloc(len ? len : 1);
	if (!b)
		return -ENOMEM;
	int r = pread_full(fd, b, len, off);
	uint8_t h[HASH_LEN];
	if (!r) {
		hash_bytes(b, len, h);
		if (memcmp(h, hash, HASH_LEN))
			r = -ESTALE;
	}
	if (r) {
		free(b);
		return r == 1 ? -ESTALE : r;
	}
	*buf = b;
	return 0;
}

/* The bytes of a segment held in memory: the file's, or a streamed file's
 * header or trailer.  NULL for a piece (read again when needed). */
static const uint8_t *segment_raw(const struct item *it, const struct segment *sg)
{
	return it->bytes ? it->bytes + sg->off : sg->raw_own;
}

/* A piece written by a worker that the writer does not take. */
static void drop_piece_file(struct segment *sg)
{
	if (sg->tmp) {
		blob_file_remove(sg->tmp);
		free(sg->tmp);
		sg->tmp = NULL;
	}
}

/* Whether pending blob p holds raw[0..len) (p's bytes from its file when
 * they are not in memory).  1, 0, or -errno. */
static int pending_equals(const struct pending *p, const uint8_t *raw, uint64_t len)
{
	if (p->raw)
		return !memcmp(p->raw, raw, len);
	uint8_t *b;
	int r = load_piece(p->src_fd, p->src_off, len, p->ref.hash, &b);
	if (r)
		return r;
	r = !memcmp(b, raw, len);
	free(b);
	return r;
}

/* *raw, or when NULL (a piece) its bytes read again into *loaded.  0 or
 * load_piece's error. */
static int need_raw(const struct item *it, const struct segment *sg, const uint8_t **raw,
		    uint8_t **loaded)
{
	if (*raw)
		return 0;
	int r = load_piece(it->src_fd, sg->off, sg->len, sg->hash, loaded);
	if (!r)
		*raw = *loaded;
	return r;
}

/* Store one new segment (or find that this batch already stored it). */
static int write_segment(struct ingest *ing, struct item *it, struct segment *sg,
			 uint64_t *stored)
{
	const uint8_t *raw = segment_raw(it, sg);
	uint8_t *loaded = NULL;        /* a piece's bytes, read when a comparison needs them */
	struct blob_ref cand[MAX_CANDIDATES];
	uint32_t ordinal = 0;
	int r = 0, eq;
	/* Files of this batch are not under their final names yet. */
	for (size_t i = 0; i < ing->npending; i++) {
		struct pending *p = &ing->pending[i];
		if (memcmp(p->ref.hash, sg->hash, HASH_LEN))
			continue;
		if (p->ref.raw_size == sg->len) {
			if ((r = need_raw(it, sg, &raw, &loaded)))
				goto out;
			if ((eq = pending_equals(p, raw, sg->len)) < 0) {
				r = eq;
				goto out;
			}
			if (eq) {
				sg->found = p->ref;
				drop_piece_file(sg);
				goto out;
			}
		}
		if (p->ref.ordinal >= ordinal)
			ordinal = p->ref.ordinal + 1;
	}
	int n = catalog_blob_candidates(ing->writer_cat, sg->hash, cand, MAX_CANDIDATES);
	if (n < 0) {
		r = n;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (cand[i].pack == 0) {
			int pend = 0;
			for (size_t j = 0; j < ing->npending; j++)
				pend |= ing->pending[j].ref.id == cand[i].id;
			if (pend)
				continue;   /* compared above */
		}
		if ((r = need_raw(it, sg, &raw, &loaded)))
			goto out;
		eq = store_blob_equals(ing->s, ing->writer_codec, &cand[i], raw, sg->len);
		if (eq == 1) {
			sg->found = cand[i];
			drop_piece_file(sg);
			goto out;
		}
		if (cand[i].ordinal >= ordinal)
			ordinal = cand[i].ordinal + 1;
	}
	if (n == MAX_CANDIDATES) {
		r = -EOVERFLOW;
		goto out;
	}
	/* A worker's piece file names ordinal 0: another ordinal is written here. */
	if (ordinal)
		drop_piece_file(sg);
	/* No sg->enc: the worker found it stored, but gc freed it since. */
	if (!sg->enc && !sg->tmp) {
		if ((r = need_raw(it, sg, &raw, &loaded)))
			goto out;
		if ((r = encode_segment(ing->writer_codec, &it->info, raw, sg)))
			goto out;
	}
	struct blob_header h = { .ordinal = ordinal, .kind = sg->kind,
				 .raw_size = sg->len, .enc_size = sg->enc_len };
	memcpy(h.hash, sg->hash, HASH_LEN);
	struct blob_ref ref = { .ordinal = ordinal, .kind = sg->kind, .raw_size = sg->len,
				.enc_size = sg->enc_len };
	memcpy(ref.hash, sg->hash, HASH_LEN);
	struct pending *p = NULL;
	if (sg->tmp || sg->enc_len >= BLOB_FILE_THRESHOLD) {
		if (ing->npending == ing->cappending) {
			size_t cap = ing->cappending ? ing->cappending * 2 : 64;
			struct pending *np = realloc(ing->pending, cap * sizeof(*np));
			if (!np) {
				r = -ENOMEM;
				goto out;
			}
			ing->pending = np;
			ing->cappending = cap;
		}
		p = &ing->pending[ing->npending];
		if (sg->tmp) {
			/* Written by a worker already: the writer takes it over. */
			snprintf(p->tmp, sizeof(p->tmp), "%s", sg->tmp);
			free(sg->tmp);
			sg->tmp = NULL;
		} else {
			r = blob_file_write_tmp(store_dir(ing->s), &h, sg->enc, p->tmp, sizeof(p->tmp));
		}
		if (!r)
			ing->npending++;
	} else {
		uint8_t hb[BLOB_HEADER_BYTES];
		blob_header_encode(&h, hb);
		uint64_t off;
		r = pack_append(ing->pack, PACK_ENTRY_BLOB, hb, sizeof(hb), sg->enc, sg->enc_len, &off);
		ref.pack = ing->pack_id;
		ref.offset = off + BLOB_HEADER_BYTES;
	}
	if (r)
		goto out;
	r = catalog_insert_blob(ing->writer_cat, &ref);
	if (r)
		goto out;
	if (p) {
		p->ref = ref;
		p->raw = segment_raw(it, sg);
		p->src_fd = it->src_fd;
		p->src_off = sg->off;
	}
	sg->found = ref;
	*stored += sg->enc_len;
out:
	free(loaded);
	return r;
}

static int segments_match(struct catalog *cat, int64_t instance_id, const struct item *it)
{
	struct blob_ref segs[RECORD_MAX_SEGMENTS];
	int n = catalog_segments(cat, instance_id, segs, RECORD_MAX_SEGMENTS);
	if (n != it->nseg)
		return 0;
	for (int i = 0; i < n; i++)
		if (segs[i].id != it->seg[i].found.id)
			return 0;
	return 1;
}

/* The same row: key, place and sizes all equal. */
static int same_blob(const struct blob_ref *a, const struct blob_ref *b)
{
	return a->id == b->id && !memcmp(a->hash, b->hash, HASH_LEN) &&
	       a->ordinal == b->ordinal && a->kind == b->kind &&
	       a->raw_size == b->raw_size && a->enc_size == b->enc_size &&
	       a->pack == b->pack && a->offset == b->offset;
}

/* Decide and write one item inside the batch transaction. */
static int commit_item(struct ingest *ing, struct item *it, struct id_pool pools[4],
		       uint64_t *stored)
{
	for (int i = 0; i < it->nseg; i++) {
		struct blob_ref still;
		/* gc may have freed what the worker found, and blob ids are
		 * rowids: a blob stored since may have the freed id.  Share it
		 * only when the row is still that very blob, else store again. */
		if (it->seg[i].found.id &&
		    (catalog_blob_by_id(ing->writer_cat, it->seg[i].found.id, &still) != 0 ||
		     !same_blob(&still, &it->seg[i].found)))
			it->seg[i].found.id = 0;
	}
	for (int i = 0; i < it->nseg; i++)
		if (!it->seg[i].found.id) {
			int r = write_segment(ing, it, &it->seg[i], stored);
			if (r)
				return r;
		}
	struct cat_version *vers;
	int nv = catalog_versions(ing->writer_cat, it->info.sop_instance_uid, &vers);
	if (nv < 0)
		return nv;
	uint32_t maxv = 0;
	int64_t first_series = nv > 0 ? vers[0].series_id : 0;
	for (int i = 0; i < nv; i++) {
		if (vers[i].size == it->len && !memcmp(vers[i].file_hash, it->file_hash, HASH_LEN) &&
		    segments_match(ing->writer_cat, vers[i].instance_id, it)) {
			it->res.outcome = INGEST_DUPLICATE;
			it->res.instance_id = vers[i].instance_id;
			free(vers);
			return 0;
		}
		if (vers[i].version > maxv)
			maxv = vers[i].version;
	}
	free(vers);
	struct instance_record rec = { 0 };
	rec.version = maxv + 1;
	rec.stored_at_ns = wall_clock_ns();
	rec.size = it->len;
	memcpy(rec.file_hash, it->file_hash, HASH_LEN);
	rec.nseg = (uint32_t)it->nseg;
	int64_t blob_ids[RECORD_MAX_SEGMENTS];
	for (int i = 0; i < it->nseg; i++) {
		memcpy(rec.seg[i].hash, it->seg[i].found.hash, HASH_LEN);
		rec.seg[i].ordinal = it->seg[i].found.ordinal;
		rec.seg[i].kind = it->seg[i].kind;
		rec.seg[i].raw_size = it->seg[i].len;
		blob_ids[i] = it->seg[i].found.id;
	}
	rec.info = it->info;
	int r = catalog_place(ing->writer_cat, &rec, &pools[0], &pools[1], &pools[2]);
	if (r)
		return r;
	if (pools[3].next >= pools[3].end)
		return -ERANGE;
	rec.instance_id = pools[3].next++;
	uint8_t *buf;
	size_t len;
	if (record_encode(&rec, &buf, &len))
		return -ENOMEM;
	uint64_t off;
	r = pack_append(ing->pack, PACK_ENTRY_INSTANCE, buf, len, NULL, 0, &off);
	free(buf);
	struct record_loc loc = { ing->pack_id, off, (uint32_t)len };
	if (!r)
		r = catalog_insert_instance(ing->writer_cat, &rec, blob_ids, &loc);
	if (r)
		return r;
	it->res.outcome = rec.version > 1 ? INGEST_VERSION : INGEST_NEW;
	it->res.instance_id = rec.instance_id;
	/* A SOPInstanceUID is unique world-wide, so a version filed under
	 * another series (patient, study) is a correction or a mistake: say so. */
	it->res.refiled = rec.version > 1 && first_series != rec.series_id;
	if (rec.info.unclean[0]) {
		it->res.quarantined = 1;
		snprintf(it->res.reason, sizeof(it->res.reason), "%s", rec.info.unclean);
	}
	return 0;
}

static void account(struct ingest *ing, struct item *it)
{
	struct ingest_totals *t = &ing->totals;
	switch (it->res.outcome) {
	case INGEST_NEW: t->n_new++; break;
	case INGEST_DUPLICATE: t->n_duplicate++; break;
	case INGEST_VERSION: t->n_version++; break;
	case INGEST_REJECTED: t->n_rejected++; break;
	default:
		t->n_failed++;
		if (!ing->first_error)
			ing->first_error = it->res.err ? it->res.err : -EIO;
	}
	if (it->res.quarantined &&
	    (it->res.outcome == INGEST_NEW || it->res.outcome == INGEST_VERSION))
		t->n_quarantined++;
	t->bytes_in += it->res.size;
}

/* Undo the data of a batch whose rows rolled back: no record of it may stay
 * in the pack for reindex to bring back, and no blob file of it (temporary,
 * or already renamed) that no committed row names. */
static void rollback_data(struct ingest *ing, uint64_t pack_before)
{
	if (ing->pack && pack_before &&
	    pack_writer_truncate(ing->pack, pack_before) < 0) {
		/* A pack that cannot be cut back is not appended to again. */
		pack_writer_free(ing->pack);
		ing->pack = NULL;
	}
	for (size_t i = 0; i < ing->npending; i++) {
		struct pending *p = &ing->pending[i];
		int gone = blob_file_remove(p->tmp);
		if (gone != -ENOENT)
			continue;
		/* Renamed already: remove it unless a committed row has it
		 * (another import that stored the same blob meanwhile). */
		struct blob_ref still;
		if (catalog_blob_by_key(ing->writer_cat, p->ref.hash, p->ref.ordinal, &still) == -ENOENT) {
			char path[4200];
			blob_file_path(store_dir(ing->s), p->ref.hash, p->ref.ordinal, path, sizeof(path));
			blob_file_remove(path);
		}
	}
}

/* Commit a batch: data, one sync, then the rows.  On a store error the whole
 * batch fails (nothing of it is visible) and each item says why. */
static void commit_batch(struct ingest *ing, struct item **v, int n)
{
	char err[256] = "";
	struct item *culprit = NULL;    /* the item whose commit failed, if one did */
	uint64_t stored = 0;
	int todo = 0;
	for (int i = 0; i < n; i++)
		if (v[i]->res.outcome == INGEST_NEW)
			todo++;
	int r = 0;
	if (todo) {
		struct id_pool pools[4];
		static const char *kinds[] = { "patient", "study", "series", "instance" };
		pthread_mutex_lock(&ing->write_lock);
		r = ensure_pack(ing, err, sizeof(err));
		/* Where this batch's entries begin: a rollback cuts them off. */
		uint64_t pack_before = r ? 0 : pack_writer_size(ing->pack);
		for (int k = 0; !r && k < 4; k++) {
			r = catalog_reserve_ids(ing->writer_cat, kinds[k], todo, &pools[k].next);
			pools[k].end = pools[k].next + todo;
		}
		if (!r)
			r = catalog_begin(ing->writer_cat);
		for (int i = 0; !r && i < n; i++)
			if (v[i]->res.outcome == INGEST_NEW) {
				r = commit_item(ing, v[i], pools, &stored);
				if (r) {
					culprit = v[i];
					snprintf(err, sizeof(err), "%s",
						 r == -EIO || r == -EBUSY ? catalog_errmsg(ing->writer_cat) : strerror(-r));
				}
			}
		/* Data durable under temporary names, then renamed (and the
		 * renames made durable) just before the rows commit: a crash
		 * leaves temporary files or, for a moment, orphans; never a row
		 * naming missing data. */
		if (!r)
			r = store_sync(ing->s);
		for (size_t i = 0; !r && i < ing->npending; i++)
			r = blob_file_publish(ing->pending[i].tmp);
		if (!r && ing->npending)
			r = store_sync(ing->s);
		/* The rows may name blobs shared with older imports: only the
		 * ingest lock keeps gc (perhaps on another machine) from freeing
		 * them, and a catalogue server drops it silently with a lost
		 * connection. */
		if (!r)
			r = store_ingest_check(ing->s, err, sizeof(err));
		if (!r)
			r = catalog_commit(ing->writer_cat);
		if (r == -EINPROGRESS) {
			/* The rows may be stored: every byte they could name
			 * stays (at worst orphans, for gc), and this pack,
			 * whose end may be named, takes no more appends. */
			snprintf(err, sizeof(err), "%s; import again to be sure",
				 catalog_errmsg(ing->writer_cat));
			pack_writer_free(ing->pack);
			ing->pack = NULL;
		} else if (r) {
			if (!err[0])
				snprintf(err, sizeof(err), "%s", r == -EIO || r == -EBUSY ?
					 catalog_errmsg(ing->writer_cat) : strerror(-r));
			catalog_rollback(ing->writer_cat);
			rollback_data(ing, pack_before);
		}
		ing->npending = 0;
		pthread_mutex_unlock(&ing->write_lock);
	}
	pthread_mutex_lock(&ing->lock);
	for (int i = 0; i < n; i++) {
		struct item *it = v[i];
		if (r && (it->res.outcome == INGEST_NEW || it->res.outcome == INGEST_VERSION ||
			  it->res.outcome == INGEST_DUPLICATE)) {
			it->res.outcome = INGEST_FAILED;
			it->res.err = r;
			/* Each file says its own story: the one that failed, or
			 * that it went down with its batch (and where that failed). */
			const char *why = err[0] ? err : strerror(-r);
			if (!culprit || culprit == it)
				snprintf(it->res.reason, sizeof(it->res.reason), "store error: %s", why);
			else
				snprintf(it->res.reason, sizeof(it->res.reason),
					 "store error: not stored, its batch failed at '%.80s': %s",
					 culprit->path, why);
		}
		account(ing, it);
		ing->inflight -= it->reserved;
		ing->inflight_items--;
		ing->queued--;
	}
	if (!r)
		ing->totals.bytes_stored += stored;
	pthread_cond_broadcast(&ing->cond);
	pthread_mutex_unlock(&ing->lock);
}

static void *writer_main(void *arg)
{
	struct ingest *ing = arg;
	for (;;) {
		struct item *batch[BATCH_MAX];
		int n = 0;
		pthread_mutex_lock(&ing->lock);
		while (!ing->ready_head && ing->workers_done < ing->nthreads)
			pthread_cond_wait(&ing->cond, &ing->lock);
		while (ing->ready_head && n < BATCH_MAX) {
			struct item *it = ing->ready_head;
			ing->ready_head = it->next;
			if (!ing->ready_head)
				ing->ready_tail = NULL;
			it->next = NULL;
			batch[n++] = it;
		}
		int finished = !n && ing->workers_done >= ing->nthreads;
		pthread_mutex_unlock(&ing->lock);
		if (finished)
			break;
		commit_batch(ing, batch, n);
		for (int i = 0; i < n; i++) {
			if (ing->report)
				ing->report(ing->arg, &batch[i]->res);
			item_free(batch[i]);
		}
	}
	return NULL;
}

/* ---------------- public ---------------- */

/* Frees an ingest whose threads have ended (or never started): what it
 * owns, each part NULL or set. */
static void ingest_free(struct ingest *ing)
{
	pack_writer_free(ing->pack);
	free(ing->pending);
	catalog_close(ing->writer_cat);
	catalog_close(ing->one_file_cat);
	codec_ctx_free(ing->writer_codec);
	codec_ctx_free(ing->one_file_codec);
	free(ing->workers);
	free(ing->paths.v);
	pthread_mutex_destroy(&ing->lock);
	pthread_cond_destroy(&ing->cond);
	pthread_mutex_destroy(&ing->write_lock);
	pthread_mutex_destroy(&ing->one_file_lock);
	pthread_mutex_destroy(&ing->hold_lock);
	free(ing);
}

/* No path comes any more: workers end once the queue is empty. */
static void close_path_queue(struct ingest *ing)
{
	pthread_mutex_lock(&ing->lock);
	ing->no_more_paths = 1;
	pthread_cond_broadcast(&ing->cond);
	pthread_mutex_unlock(&ing->lock);
}

int ingest_begin(struct store *s, int threads, ingest_report_fn report,
		 void *arg, struct ingest **out, char *err, size_t errlen)
{
	if (store_readonly(s)) {
		snprintf(err, errlen, "store is open read-only");
		return -EROFS;
	}
	struct ingest *ing = calloc(1, sizeof(*ing));
	if (!ing)
		return -ENOMEM;
	ing->s = s;
	ing->report = report;
	ing->arg = arg;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	ing->nthreads = threads;
	ing->piece_slots = ing->piece_slots_max = threads < 4 ? threads : 4;
	ing->totals.started_ns = wall_clock_ns();
	pthread_mutex_init(&ing->lock, NULL);
	pthread_cond_init(&ing->cond, NULL);
	pthread_mutex_init(&ing->write_lock, NULL);
	pthread_mutex_init(&ing->one_file_lock, NULL);
	pthread_mutex_init(&ing->hold_lock, NULL);
	ing->paths.cap = PATHQ_MAX;
	ing->paths.v = calloc(PATHQ_MAX, sizeof(char *));
	int r = ing->paths.v ? store_catalog(s, &ing->writer_cat) : -ENOMEM;
	if (!r)
		r = catalog_bulk_writer(ing->writer_cat);
	if (!r && !(ing->writer_codec = codec_ctx_new()))
		r = -ENOMEM;
	if (r) {
		snprintf(err, errlen, "cannot start import: %s", strerror(-r));
		goto fail;
	}
	ing->workers = calloc((size_t)threads, sizeof(pthread_t));
	if (!ing->workers) {
		r = -ENOMEM;
		snprintf(err, errlen, "cannot start import: %s", strerror(-r));
		goto fail;
	}
	int started = 0, e = 0;
	while (started < threads && !(e = pthread_create(&ing->workers[started], NULL, worker_main, ing)))
		started++;
	if (!e)
		e = pthread_create(&ing->writer, NULL, writer_main, ing);
	if (e) {
		/* Unwind: the workers started find no paths and end; nothing
		 * was queued, so nothing waits for the writer. */
		r = -e;
		snprintf(err, errlen, "cannot start import threads (%d of %d started): %s", started,
			 threads + 1, strerror(e));
		close_path_queue(ing);
		for (int i = 0; i < started; i++)
			pthread_join(ing->workers[i], NULL);
		goto fail;
	}
	ing->writer_started = 1;
	*out = ing;
	return 0;
fail:
	ingest_free(ing);
	return r;
}

static int push_path(struct ingest *ing, const char *path)
{
	char *dup = strdup(path);
	if (!dup)
		return -ENOMEM;
	pthread_mutex_lock(&ing->lock);
	while (ing->paths.count == ing->paths.cap)
		pthread_cond_wait(&ing->cond, &ing->lock);
	ing->paths.v[(ing->paths.head + ing->paths.count) % ing->paths.cap] = dup;
	ing->paths.count++;
	ing->queued++;
	pthread_cond_broadcast(&ing->cond);
	pthread_mutex_unlock(&ing->lock);
	return 0;
}

static __thread struct ingest *walk_ing;

static int walk_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_F)
		return push_path(walk_ing, path) ? 1 : 0;
	if (type == FTW_DNR || type == FTW_NS) {
		/* Unreadable entries are reported as rejected files. */
		push_path(walk_ing, path);
	}
	return 0;
}

int ingest_add(struct ingest *ing, const char *path)
{
	/* Workers look up blobs to share as soon as a path is queued: from
	 * then on gc must wait (store.h, the ingest lock). */
	pthread_mutex_lock(&ing->hold_lock);
	int h = ing->held ? 0 : store_ingest_hold(ing->s);
	if (!h)
		ing->held = 1;
	pthread_mutex_unlock(&ing->hold_lock);
	if (h)
		return h;
	struct stat st;
	if (stat(path, &st) < 0)
		return push_path(ing, path);   /* the worker reports why */
	if (!S_ISDIR(st.st_mode))
		return push_path(ing, path);
	walk_ing = ing;
	int r = nftw(path, walk_cb, 32, FTW_PHYS);
	walk_ing = NULL;
	return r < 0 ? -errno : r ? -ENOMEM : 0;
}

void ingest_progress(struct ingest *ing, struct ingest_totals *t, int64_t *queued)
{
	pthread_mutex_lock(&ing->lock);
	*t = ing->totals;
	*queued = ing->queued;
	pthread_mutex_unlock(&ing->lock);
}

int ingest_end(struct ingest *ing, struct ingest_totals *t)
{
	close_path_queue(ing);
	for (int i = 0; i < ing->nthreads; i++)
		pthread_join(ing->workers[i], NULL);
	if (ing->writer_started)
		pthread_join(ing->writer, NULL);
	if (ing->held)
		store_ingest_release(ing->s);   /* every commit is done */
	int r = ing->first_error;
	*t = ing->totals;
	/* A session that was offered nothing (a read-write mount whose
	 * /incoming stayed empty) leaves no row in the import log. */
	if (t->n_new || t->n_duplicate || t->n_version || t->n_rejected || t->n_failed ||
	    t->bytes_in)
		catalog_log_import(ing->writer_cat, ing->totals.started_ns, wall_clock_ns(),
				   t->n_new, t->n_duplicate, t->n_version, t->n_rejected,
				   t->bytes_in, t->bytes_stored);
	ingest_free(ing);
	return r;
}

int ingest_one(struct ingest *ing, const char *path, struct ingest_result *res)
{
	struct item *it = item_new();
	if (!it || !(it->path = strdup(path))) {
		free(it);
		return -ENOMEM;
	}
	/* One file's session: gc may run between files of a mount. */
	int r = store_ingest_hold(ing->s);
	if (r) {
		item_free(it);
		return r;
	}
	pthread_mutex_lock(&ing->one_file_lock);
	if (!ing->one_file_cat)
		r = store_catalog(ing->s, &ing->one_file_cat);
	if (!r && !ing->one_file_codec && !(ing->one_file_codec = codec_ctx_new()))
		r = -ENOMEM;
	if (!r)
		prepare(ing, ing->one_file_cat, ing->one_file_codec, it);
	pthread_mutex_unlock(&ing->one_file_lock);
	if (r) {
		store_ingest_release(ing->s);
		item_free(it);
		return r;
	}
	pthread_mutex_lock(&ing->lock);
	ing->queued++;
	ing->inflight_items++;   /* its bytes were reserved by prepare */
	pthread_mutex_unlock(&ing->lock);
	struct item *v[1] = { it };
	commit_batch(ing, v, 1);
	store_ingest_release(ing->s);
	*res = it->res;
	res->path = path;
	item_free(it);
	return 0;
}
