/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_LOCK_H
#define PVE_ONTAP_LOCK_H

#include <stdint.h>

/*
 * Cluster-wide lock: a directory <paths.lock>/pve-ontap-<name> created with mkdir (atomic
 * on pmxcfs, as PVE's cfs_lock), with an owner file inside. A lock older than 120 s is
 * stale (its holder died) and is taken over. Waits (100 ms steps) until the deadline.
 */
struct cluster_lock {
	char path[512];
	int held;
};

/* name: "vm-100", "storage-ONTAP01". Returns 0, POE_TIMEOUT, or POE_FAIL. */
int cluster_lock_acquire(struct cluster_lock *l, const char *lockdir, const char *name,
			 int64_t deadline);
void cluster_lock_release(struct cluster_lock *l);

#endif
