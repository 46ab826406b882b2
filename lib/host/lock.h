/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_LOCK_H
#define PVE_ONTAP_LOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Cluster-wide lock: a directory <paths.lock>/pve-ontap-<name> created with mkdir (atomic
 * on pmxcfs, as PVE's cfs_lock), with an owner file inside. As on pmxcfs, a lock lives
 * 120 s from its directory's mtime: while held, a thread refreshes that mtime every 10 s;
 * a waiter takes over only a lock whose mtime is older than 120 s or whose owner is a dead
 * process on this node, without rename (pmxcfs refuses it for lock directories). Waits
 * (100 ms steps) until the deadline. All times scale with $PVE_ONTAP_TEST_LOCK_SCALE
 * (tests only, HACKING.md).
 */
struct cluster_lock {
	char path[512];
	int held;
	/* the refresher thread, running while held */
	bool refreshing;
	bool stop;                   /* guarded by mu */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
};

/* name: "vm-100", "storage-ONTAP01". Returns 0, POE_TIMEOUT, or POE_FAIL. */
int cluster_lock_acquire(struct cluster_lock *l, const char *lockdir, const char *name,
			 int64_t deadline);
/* Stops the refresher and removes the lock if it is still ours. Safe to call twice. */
void cluster_lock_release(struct cluster_lock *l);

#endif
