/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The udev link of a namespace (queue_runner.c's nvme-attach). Below devices.c and
 * queue_runner.c: it calls nothing of the watcher.
 */
#include "watch_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/util.h"
#include "config/config.h"
#include "host/nvmehost.h"

int wd_device_for_uuid(const struct config *cfg, const char *uuid, char *path, size_t n)
{
	char *byid = util_xasprintf("%s/disk/by-id/nvme-uuid.%s", cfg->paths.dev, uuid);
	char kname[PATH_MAX];
	struct stat st;
	int rc;

	/*
	 * Only the udev link goes into a VM config (DESIGN.md "Watcher"): a kernel name such as
	 * nvme0n1 differs per node and per connect. udev makes the link a moment after the
	 * device node: until then the namespace counts as not there (the caller retries).
	 */
	if (stat(byid, &st) == 0) {
		rc = util_strlcpy(path, byid, n) < n ? 0
		     : err_set(POE_FAIL, "device path '%s' is too long", byid);
		goto out;
	}
	if (nvmehost_resolve_sysfs(cfg, uuid, kname, sizeof(kname)) > 0)
		rc = err_set(POE_NOTFOUND, "'%s' is there, its udev link '%s' not yet", kname,
			     byid);
	else
		rc = err_set(POE_NOTFOUND, "no device has namespace uuid %s ('%s' is missing)",
			     uuid, byid);
out:
	free(byid);
	return rc;
}
