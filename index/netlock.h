/*
 * netlock.h - a store's locks (store.h, "Locks") in its PostgreSQL
 * catalogue's database, so that they exclude processes on other machines.
 *
 * Each lock is a session-level advisory lock on the two-int key
 * (NETLOCK_CLASS, byte), byte being the lock's byte of STORE/lock, taken
 * on one connection of its own per open store: the locks belong to the
 * process as its OFD locks do, and go with its connection when it dies.
 * Like an OFD lock (and unlike a bare advisory lock, which stacks), a byte
 * is held in one mode at a time: taking it again converts it.  The
 * two-int keys never meet catalog_pg.c's one-bigint PG_CATALOG_LOCK.
 *
 * A lost connection loses its locks on the server: a take or drop on it
 * fails (-EIO), netlock_check finds it out, and only netlock_renew, when
 * asked, connects again; nothing is retaken behind the caller's back.
 */
#ifndef DCMFS_NETLOCK_H
#define DCMFS_NETLOCK_H

#include <stddef.h>

/* The first int of every key ("dcmL"). */
#define NETLOCK_CLASS 1684237644        /* 0x64636d4c */

struct netlock;

/* Connect to the database of url (a libpq connection URL): 0 and *out
 * (the caller's, to netlock_close), -ENOMEM, or -EIO with err saying why. */
int netlock_open(const char *url, struct netlock **out, char *err, size_t errlen);
/* Close the connection: every lock it holds goes.  NULL is fine. */
void netlock_close(struct netlock *nl);
/* Take byte shared or exclusive.  Without wait: -EAGAIN at once when
 * another session holds it in a conflicting mode.  With wait: until it is
 * granted (the wait goes back to the server every half second, and lets
 * other threads use the connection in between).  0, -EAGAIN, or -EIO
 * (err, if not NULL, says why).  Any thread. */
int netlock_take(struct netlock *nl, int byte, int exclusive, int wait, char *err, size_t errlen);
/* Drop byte (nothing when not held): 0 or -EIO.  Any thread. */
int netlock_drop(struct netlock *nl, int byte);
/* Whether the server still grants this session byte in the mode it was
 * taken (a round trip that reads pg_locks): 0, or -EIO with err saying why
 * (the connection is gone, or the server no longer has the lock: then
 * every lock of nl is gone with it).  Call it right before relying on the
 * lock: the server drops a lost session's locks without telling anyone. */
int netlock_check(struct netlock *nl, int byte, char *err, size_t errlen);
/* For a long-lived holder of byte shared (a mount's use lock): when
 * netlock_check finds it lost and nl held nothing else, connect again and
 * take byte shared again, without waiting.  0 (it was held: nothing done),
 * 1 (taken again), -EAGAIN (another session holds it exclusively now),
 * -EBUSY (other locks were held on the lost connection: left for their
 * holders to find out), or -EIO; err says why for each but 0 and 1.
 * Nothing that happened while it was lost is undone. */
int netlock_renew(struct netlock *nl, int byte, char *err, size_t errlen);

#endif
