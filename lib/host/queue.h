/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_QUEUE_H
#define PVE_ONTAP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The job queue of DESIGN.md (contract): one file <vmid>-<unique>.job per job, written to
 * ".<name>.tmp" in the same directory, fsync'ed, renamed into place. Content is one JSON
 * object with vmid, action and (per action) volid or uuid.
 */
enum queue_action {
	QUEUE_RESCAN = 0,
	QUEUE_UNUSED_REMOVE,
	QUEUE_NVME_ATTACH,
	QUEUE_REGISTER,          /* one clone volume becomes the VM's next free unusedN */
};

#define QUEUE_MAX_JOB_BYTES 4096

struct queue_job {
	int vmid;
	enum queue_action action;
	char arg[512];           /* volid (unused-remove, register) or namespace uuid (nvme-attach) */
	char file[256];          /* file name in the queue directory (when read) */
};

const char *queue_action_name(enum queue_action a);
/* Write a job into dir (created 0700 if missing). Returns 0 or POE_FAIL. */
int queue_put(const char *dir, const struct queue_job *job);
/*
 * Parse a job file's content (untrusted: bounded, strict JSON, known action, vmid in
 * 100..999999999, volid/uuid checked). Returns 0 or POE_FAIL with the reason.
 */
int queue_parse(const char *text, size_t len, struct queue_job *job);
/*
 * Open and validate a job file dirfd/name: regular file (O_NOFOLLOW), owned by root (or by
 * the current euid when not root, for tests), <= QUEUE_MAX_JOB_BYTES, valid content.
 */
int queue_read(int dirfd, const char *name, struct queue_job *job);

#endif
