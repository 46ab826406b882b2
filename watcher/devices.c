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
#include "ops/names.h"
#include "pve/pve.h"
#include "base/util.h"

#define DEV_MAX_ATTEMPTS 6
#define ONTAP_LOOKUP_MS (15 * 1000)

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
	util_strlcpy(d->name, name, sizeof(d->name)); /* checked above: fits */
	log_debug("new device '%s'", name);
}

/* A look-up on the device worker: it reads cfg and the ONTAP clients, nothing else. */
struct dev_task {
	struct wk_task wk;                    /* first: the pool frees what it keeps */
	char name[64];
	const struct config *cfg;             /* borrowed: drained before a reload */
	struct ontap_client **oc;             /* the watcher's, used by this worker only */
	char (*waiting)[WATCH_UUID_LEN + 1];  /* uuids of pending nvme-attach jobs */
	int nwaiting;
	enum dev_result { DEV_DONE, DEV_AGAIN } res;
	struct wd_found found;
	bool have_found;
};

static struct ontap_client *client_for(struct dev_task *t, const struct config_ontap *co)
{
	long idx;

	if (!co)
		return NULL;
	idx = co - t->cfg->ontap;
	if (idx < 0 || idx >= t->cfg->nontap)
		return NULL;
	if (!t->oc[idx])
		t->oc[idx] = ontap_client_new(co);
	return t->oc[idx];
}

static bool uuid_waiting(const struct dev_task *t, const char *uuid)
{
	for (int i = 0; i < t->nwaiting; i++)
		if (!strcasecmp(t->waiting[i], uuid))
			return true;
	return false;
}

/* The VM whose namespace uuid is in one of the NVMe pools; -1: none (*transient: ask again). */
static int lookup_vmid(struct dev_task *t, const char *uuid, struct ontap_namespace *ns,
		       bool *transient)
{
	int vmid = -1;

	for (int i = 0; i < t->cfg->nstorages && vmid < 0; i++) {
		const struct config_storage *s = &t->cfg->storages[i];
		struct ontap_client *oc;
		int rc;

		if (s->protocol != STORAGE_NVME)
			continue;
		oc = client_for(t, s->ontap);
		if (!oc) {
			log_warn("NVMe pool '%s': no ONTAP client: %s", s->id, err_msg());
			err_clear();
			*transient = true;
			continue;
		}
		rc = ontap_namespace_get(oc, uuid, ns, util_now_ms() + ONTAP_LOOKUP_MS);
		if (rc == POE_NOTFOUND) {
			err_clear();
			continue;
		}
		if (rc < 0) {
			log_warn("device '%s': cannot look up namespace %s on ONTAP '%s': %s",
				 t->name, uuid, ontap_client_name(oc), err_msg());
			err_clear();
			*transient = true;
			continue;
		}
		vmid = names_nvme_ns_vmid(ns->name, s->prefix ? s->prefix : "pve_");
	}
	return vmid;
}

static enum dev_result resolve_device(struct dev_task *t)
{
	char *uuid = t->found.uuid;
	struct ontap_namespace ns;
	bool transient = false;
	int vmid;
	int rc;

	/* sysfs first; nvme-cli when the kernel shows no uuid (nor nguid) for it */
	rc = nvmehost_device_uuid(t->cfg, t->name, uuid);
	if (rc == POE_NOTFOUND) {
		log_debug("device '%s': %s", t->name, err_msg());
		err_clear();
		return DEV_AGAIN;
	}
	if (rc < 0) {
		log_warn("device '%s' left alone: %s", t->name, err_msg());
		err_clear();
		return DEV_DONE;
	}
	/* an nvme-attach job waits for this namespace: it knows the VM, run it now */
	if (uuid_waiting(t, uuid)) {
		log_info("device '%s' is namespace %s of a waiting nvme-attach job: attaching",
			 t->name, uuid);
		t->found.vmid = -1;
		t->have_found = true;
		return DEV_DONE;
	}
	vmid = lookup_vmid(t, uuid, &ns, &transient);
	if (vmid < 0) {
		if (transient)
			return DEV_AGAIN;
		log_info("device '%s' (namespace %s) belongs to no VM of a configured NVMe pool: "
			 "left alone", t->name, uuid);
		return DEV_DONE;
	}
	if (!pve_vm_is_local(t->cfg->paths.pve_etc, vmid)) {
		log_debug("device '%s' is namespace '%s' of VM %d, which is not on this node",
			  t->name, ns.name, vmid);
		return DEV_DONE;
	}
	log_info("device '%s' is namespace '%s' of VM %d: attaching", t->name, ns.name, vmid);
	t->found.vmid = vmid;
	t->have_found = true;
	return DEV_DONE;
}

static void dev_task_run(void *arg)
{
	struct dev_task *t = arg;

	t->res = resolve_device(t);
}

static struct watch_dev *dev_find(struct watcher *w, const char *name)
{
	for (int i = 0; i < w->ndevs; i++)
		if (!strcmp(w->devs[i].name, name))
			return &w->devs[i];
	return NULL;
}

/* A finished look-up: the device is done (dropped) or tried again later. */
static void dev_result(struct watcher *w, struct dev_task *t)
{
	struct watch_dev *d = dev_find(w, t->name);

	if (!d)
		return;
	d->busy = false;
	/* cancelled (reload, stop): tried again, not counted */
	if (!t->wk.started)
		return;
	if (t->res == DEV_AGAIN && ++d->attempts < DEV_MAX_ATTEMPTS) {
		d->next_try_ms = util_now_ms() + (WATCH_BACKOFF_MIN_MS << d->attempts);
		return;
	}
	if (d->attempts >= DEV_MAX_ATTEMPTS)
		log_warn("device '%s' left alone after %d attempts", d->name, d->attempts);
	*d = w->devs[--w->ndevs];
}

static int dev_collect(struct watcher *w, struct wd_found **found)
{
	struct wk_task *wk;
	int n = 0, cap = 0;

	while (w->dev_pool && (wk = wk_take(w->dev_pool)) != NULL) {
		struct dev_task *t = wk->arg;

		if (t->wk.started && t->have_found && found) {
			if (n == cap) {
				cap = cap ? cap * 2 : 4;
				*found = util_xrealloc(*found, sizeof(**found) * (size_t)cap);
			}
			(*found)[n++] = t->found;
		}
		dev_result(w, t);
		free(t->waiting);
		free(t);
	}
	return n;
}

static int dev_submit(struct watcher *w, struct watch_dev *d,
		      char (*waiting)[WATCH_UUID_LEN + 1], int nwaiting)
{
	struct dev_task *t = util_xcalloc(1, sizeof(*t));

	t->wk.fn = dev_task_run;
	t->wk.arg = t;
	util_strlcpy(t->name, d->name, sizeof(t->name)); /* same size: cannot be cut */
	t->cfg = w->cfg;
	t->oc = w->oc;
	if (nwaiting > 0) {
		t->waiting = util_xcalloc((size_t)nwaiting, sizeof(*t->waiting));
		memcpy(t->waiting, waiting, sizeof(*waiting) * (size_t)nwaiting);
		t->nwaiting = nwaiting;
	}
	t->res = DEV_AGAIN;
	if ((!w->dev_pool && wk_pool_new(&w->dev_pool, 1) < 0) ||
	    wk_submit(w->dev_pool, &t->wk) < 0) {
		free(t->waiting);
		free(t);
		return POE_FAIL;
	}
	d->busy = true;
	return 0;
}

int wd_run(struct watcher *w, int64_t now, char (*waiting)[WATCH_UUID_LEN + 1], int nwaiting,
	   struct wd_found **found)
{
	int n;

	*found = NULL;
	n = dev_collect(w, found);
	for (int i = 0; i < w->ndevs && !*w->stop; i++) {
		struct watch_dev *d = &w->devs[i];

		if (d->busy || d->next_try_ms > now)
			continue;
		if (dev_submit(w, d, waiting, nwaiting) < 0) {
			log_warn("device '%s': cannot look it up now: %s", d->name, err_msg());
			err_clear();
			d->next_try_ms = now + WATCH_BACKOFF_MIN_MS;
		}
	}
	return n;
}

int64_t wd_next_due(const struct watcher *w)
{
	int64_t due = 0;

	for (int i = 0; i < w->ndevs; i++) {
		int64_t t = w->devs[i].next_try_ms ? w->devs[i].next_try_ms : 1;

		/* a device with the worker waits for its result (wd_wake_fd) */
		if (w->devs[i].busy)
			continue;
		if (!due || t < due)
			due = t;
	}
	return due;
}

int wd_wake_fd(const struct watcher *w)
{
	return wk_fd(w->dev_pool);
}

bool wd_drain(struct watcher *w, bool stopping)
{
	if (!w->dev_pool)
		return true;
	if (wk_inflight(w->dev_pool) > 0)
		wk_cancel_waiting(w->dev_pool);
	for (;;) {
		dev_collect(w, NULL);
		if (!wk_inflight(w->dev_pool))
			return true;
		if (stopping && wk_running(w->dev_pool) > 0)
			return false;
		wk_wait(w->dev_pool, 1000);
	}
}

void wd_release(struct watcher *w)
{
	wd_drain(w, false);
	if (w->oc && w->cfg) {
		for (int i = 0; i < w->cfg->nontap; i++)
			ontap_client_free(w->oc[i]);
	}
	free(w->oc);
	w->oc = NULL;
}
