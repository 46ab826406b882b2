/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * New NVMe namespace devices (DESIGN.md "Watcher"): /dev/nvmeXnY appears, its namespace
 * uuid comes from <sysfs>/class/block/nvmeXnY/uuid (fallbacks through nvmehost: nguid,
 * nvme netapp ontapdevices, nvme list), a pending nvme-attach job of that uuid runs at
 * once, else ONTAP names the namespace
 * "/vol/<prefix>vm_<vmid>_disk_<n>/..." in one of the configured NVMe pools, and the VM
 * gets the device through an nvme-attach job (so it is ordered and retried like the
 * others). Every node connected to the subsystem sees the device; only the node that owns
 * the VM attaches it.
 */
#include "watch_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "base/err.h"
#include "base/log.h"
#include "host/nvmehost.h"
#include "ontap/ontap.h"
#include "pve/pve.h"
#include "base/util.h"

#define DEV_MAX_ATTEMPTS 6
#define ONTAP_LOOKUP_MS (15 * 1000)

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

void wd_event(struct watcher *w, const char *name)
{
	struct watch_dev *d;

	if (strlen(name) >= sizeof(d->name))
		return;
	for (int i = 0; i < w->ndevs; i++)
		if (!strcmp(w->devs[i].name, name))
			return;
	w->devs = util_xrealloc(w->devs, sizeof(*w->devs) * (size_t)(w->ndevs + 1));
	d = &w->devs[w->ndevs++];
	memset(d, 0, sizeof(*d));
	util_strlcpy(d->name, name, sizeof(d->name));
	log_debug("new device '%s'", name);
}

static struct ontap_client *client_for(struct watcher *w, const struct config_ontap *co)
{
	long idx;

	if (!co)
		return NULL;
	idx = co - w->cfg->ontap;
	if (idx < 0 || idx >= w->cfg->nontap)
		return NULL;
	if (!w->oc[idx])
		w->oc[idx] = ontap_client_new(co);
	return w->oc[idx];
}

enum dev_result { DEV_DONE, DEV_AGAIN };

static enum dev_result resolve_device(struct watcher *w, const struct watch_dev *dev)
{
	char uuid[WATCH_UUID_LEN + 1];
	struct ontap_namespace ns;
	bool transient = false;
	int vmid = -1;
	int rc;

	/* sysfs first; nvme-cli when the kernel shows no uuid (nor nguid) for it */
	rc = nvmehost_device_uuid(w->cfg, dev->name, uuid);
	if (rc == POE_NOTFOUND) {
		log_debug("device '%s': %s", dev->name, err_msg());
		err_clear();
		return DEV_AGAIN;
	}
	if (rc < 0) {
		log_warn("device '%s' left alone: %s", dev->name, err_msg());
		err_clear();
		return DEV_DONE;
	}
	/* an nvme-attach job waits for this namespace: it knows the VM, run it now */
	if (wq_wake_uuid(w, uuid)) {
		log_info("device '%s' is namespace %s of a waiting nvme-attach job: attaching",
			 dev->name, uuid);
		return DEV_DONE;
	}
	for (int i = 0; i < w->cfg->nstorages && vmid < 0; i++) {
		const struct config_storage *s = &w->cfg->storages[i];
		struct ontap_client *oc;

		if (s->protocol != STORAGE_NVME)
			continue;
		oc = client_for(w, s->ontap);
		if (!oc) {
			log_warn("NVMe pool '%s': no ONTAP client: %s", s->id, err_msg());
			err_clear();
			transient = true;
			continue;
		}
		rc = ontap_namespace_get(oc, uuid, &ns, util_now_ms() + ONTAP_LOOKUP_MS);
		if (rc == POE_NOTFOUND) {
			err_clear();
			continue;
		}
		if (rc < 0) {
			log_warn("device '%s': cannot look up namespace %s on ONTAP '%s': %s",
				 dev->name, uuid, ontap_client_name(oc), err_msg());
			err_clear();
			transient = true;
			continue;
		}
		vmid = watch_ns_name_vmid(ns.name, s->prefix ? s->prefix : "pve_");
	}
	if (vmid < 0) {
		if (transient)
			return DEV_AGAIN;
		log_info("device '%s' (namespace %s) belongs to no VM of a configured NVMe pool: "
			 "left alone", dev->name, uuid);
		return DEV_DONE;
	}
	if (!pve_vm_is_local(w->cfg->paths.pve_etc, vmid)) {
		log_debug("device '%s' is namespace '%s' of VM %d, which is not on this node",
			  dev->name, ns.name, vmid);
		return DEV_DONE;
	}
	log_info("device '%s' is namespace '%s' of VM %d: attaching", dev->name, ns.name, vmid);
	{
		struct queue_job job = { .vmid = vmid, .action = QUEUE_NVME_ATTACH };

		util_strlcpy(job.arg, uuid, sizeof(job.arg));
		wq_add(w, &job);
	}
	return DEV_DONE;
}

void wd_run(struct watcher *w, int64_t now)
{
	for (int i = 0; i < w->ndevs;) {
		struct watch_dev *d = &w->devs[i];

		if (d->next_try_ms > now || watch_stopping()) {
			i++;
			continue;
		}
		if (resolve_device(w, d) == DEV_AGAIN && ++d->attempts < DEV_MAX_ATTEMPTS) {
			d->next_try_ms = util_now_ms() + (WATCH_BACKOFF_MIN_MS << d->attempts);
			i++;
			continue;
		}
		if (d->attempts >= DEV_MAX_ATTEMPTS)
			log_warn("device '%s' left alone after %d attempts", d->name, d->attempts);
		w->devs[i] = w->devs[--w->ndevs];
	}
}

int64_t wd_next_due(const struct watcher *w)
{
	int64_t due = 0;

	for (int i = 0; i < w->ndevs; i++) {
		int64_t t = w->devs[i].next_try_ms ? w->devs[i].next_try_ms : 1;

		if (!due || t < due)
			due = t;
	}
	return due;
}

void wd_release(struct watcher *w)
{
	if (w->oc && w->cfg) {
		for (int i = 0; i < w->cfg->nontap; i++)
			ontap_client_free(w->oc[i]);
	}
	free(w->oc);
	w->oc = NULL;
}
