/*
 * icache.c - open instances by inode, for read-only mounts.
 *
 * Read-only mounts answer open with ENOSYS, so the kernel sends no OPEN or
 * RELEASE for files and reads carry no handle: each read finds its open
 * instance here by inode.  ICACHE_SIZE slots, least recently used evicted
 * when no read holds them; when every slot is held, the reader opens the
 * file for itself once.
 */
#include "dcmfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct inst_file *icache_get(struct dcmfs *d, fuse_ino_t ino, int *uncached, int *err)
{
	*uncached = 0;
	pthread_mutex_lock(&d->icache_lock);
	for (int i = 0; i < ICACHE_SIZE; i++) {
		struct icache_ent *e = &d->icache[i];
		if (e->ino == ino) {
			e->refs++;
			e->used = ++d->icache_clock;
			pthread_mutex_unlock(&d->icache_lock);
			return e->f;
		}
	}
	pthread_mutex_unlock(&d->icache_lock);
	struct tstate *t = tstate_get(d);
	struct inst_file *f = NULL;
	int r = !t ? -tstate_errno() : inst_file_open(d->store, t->cat, ino_id(ino), &f);
	if (r) {
		*err = r == -EBADMSG ? EIO : -r;   /* damaged data: EIO */
		return NULL;
	}
	struct inst_file *evicted = NULL;
	pthread_mutex_lock(&d->icache_lock);
	struct icache_ent *victim = NULL;
	for (int i = 0; i < ICACHE_SIZE; i++) {
		struct icache_ent *e = &d->icache[i];
		if (e->ino == ino) {            /* another thread was quicker */
			e->refs++;
			e->used = ++d->icache_clock;
			pthread_mutex_unlock(&d->icache_lock);
			inst_file_close(f);
			return e->f;
		}
		if (!e->refs && (!victim || e->used < victim->used))
			victim = e;
	}
	if (victim) {
		evicted = victim->ino ? victim->f : NULL;
		*victim = (struct icache_ent){ .ino = ino, .f = f, .refs = 1, .used = ++d->icache_clock };
	} else {
		*uncached = 1;                  /* every slot busy: use it once */
	}
	pthread_mutex_unlock(&d->icache_lock);
	inst_file_close(evicted);
	return f;
}

void icache_put(struct dcmfs *d, struct inst_file *f, int uncached)
{
	if (uncached) {
		inst_file_close(f);
		return;
	}
	pthread_mutex_lock(&d->icache_lock);
	for (int i = 0; i < ICACHE_SIZE; i++)
		if (d->icache[i].f == f && d->icache[i].refs > 0) {
			d->icache[i].refs--;
			break;
		}
	pthread_mutex_unlock(&d->icache_lock);
}

void icache_free(struct dcmfs *d)
{
	if (!d->icache)
		return;
	for (int i = 0; i < ICACHE_SIZE; i++)
		inst_file_close(d->icache[i].f);
	free(d->icache);
	d->icache = NULL;
}
