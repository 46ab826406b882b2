/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pure helpers of the watcher: uuid parsing, coalescing, backoff, retryable qm errors. No I/O,
 * so tests/unit/test_watch.c can check them directly.
 */
#include "watch_internal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/util.h"

int watch_uuid_parse(const char *text, size_t len, char out[WATCH_UUID_LEN + 1])
{
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	if (len != WATCH_UUID_LEN)
		return err_set(POE_FAIL, "not a namespace uuid");
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)text[i]);
	out[len] = '\0';
	if (!util_is_uuid(out))
		return err_set(POE_FAIL, "not a namespace uuid");
	/* the all-zero uuid is what devices without one report */
	if (!strcmp(out, "00000000-0000-0000-0000-000000000000"))
		return err_set(POE_FAIL, "namespace has no uuid");
	return 0;
}

bool watch_jobs_same(const struct queue_job *a, const struct queue_job *b)
{
	if (a->vmid != b->vmid || a->action != b->action)
		return false;
	switch (a->action) {
	case QUEUE_RESCAN:
		return true;
	case QUEUE_UNUSED_REMOVE:
	case QUEUE_REGISTER:
		return !strcmp(a->arg, b->arg);
	case QUEUE_NVME_ATTACH:
		return !strcasecmp(a->arg, b->arg);
	}
	return false;
}

int watch_coalesce(const struct queue_job *jobs, int n, int *key_of)
{
	int distinct = 0;

	for (int i = 0; i < n; i++) {
		key_of[i] = i;
		for (int j = 0; j < i; j++) {
			if (key_of[j] == j && watch_jobs_same(&jobs[j], &jobs[i])) {
				key_of[i] = j;
				break;
			}
		}
		if (key_of[i] == i)
			distinct++;
	}
	return distinct;
}

int64_t watch_backoff_next(int64_t cur_ms)
{
	if (cur_ms < WATCH_BACKOFF_MIN_MS)
		return WATCH_BACKOFF_MIN_MS;
	if (cur_ms >= WATCH_BACKOFF_MAX_MS / 2)
		return WATCH_BACKOFF_MAX_MS;
	return cur_ms * 2;
}

bool watch_qm_is_retryable(const char *text)
{
	/*
	 * qemu-server: "VM is locked (<lock>)" for a lock: key, "can't lock file
	 * '/var/lock/qemu-server/lock-<vmid>.conf' - got timeout" for the flock
	 * (reference/pve.md §5.2); pmxcfs without quorum: "cluster not ready - no quorum?".
	 */
	static const char *const patterns[] = {
		"VM is locked", "got timeout", "can't lock file", "no quorum", "cluster not ready",
	};

	if (!text)
		return false;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (strstr(text, patterns[i]))
			return true;
	return false;
}
