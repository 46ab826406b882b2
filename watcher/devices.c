/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * New NVMe namespace devices (DESIGN.md "Watcher"): /dev/nvmeXnY appears, its namespace
 * uuid comes from <sysfs>/class/block/nvmeXnY/uuid, ONTAP names the namespace
 * "/vol/<prefix>vm_<vmid>_disk_<n>/..." in one of the configured NVMe pools, and the VM
 * gets the device through an nvme-attach job (so it is ordered and retried like the
 * others). Every node connected to the subsystem sees the device; only the node that owns
 * the VM attaches it.
 */
#include "watch_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "ontap.h"
#include "pve.h"
#include "util.h"

#define DEV_MAX_ATTEMPTS 6
#define ONTAP_LOOKUP_MS (15 * 1000)

int wd_read_uuid(const struct config *cfg, const char *name, char out[WATCH_UUID_LEN + 1])
{
	char data[128];
	char *path = NULL;
	size_t len = 0;
	int fd = -1;
	int rc;

	if (!watch_is_nvme_head(name))
		return err_set(POE_FAIL, "'%s' is not an NVMe namespace device", name);
	path = util_xasprintf("%s/class/block/%s/uuid", cfg->paths.sysfs, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		rc = err_set(errno == ENOENT ? POE_NOTFOUND : POE_FAIL, "cannot open '%s': %s",
			     path, strerror(errno));
		goto out;
	}
	/* bounded: a uuid line is 37 bytes; anything longer is not one */
	while (len < sizeof(data)) {
		ssize_t n = read(fd, data + len, sizeof(data) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(POE_FAIL, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	rc = watch_uuid_parse(data, len, out);
	if (rc < 0)
		rc = err_prefix(rc, "'%s'", path);
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

int wd_device_for_uuid(const struct config *cfg, const char *uuid, char *path, size_t n)
{
	char *byid = util_xasprintf("%s/disk/by-id/nvme-uuid.%s", cfg->paths.dev, uuid);
	char *cls = util_xasprintf("%s/class/block", cfg->paths.sysfs);
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	int rc = POE_NOTFOUND;

	/* the udev link is the stable name (DESIGN.md "Storage kinds") */
	if (stat(byid, &st) == 0) {
		util_strlcpy(path, byid, n);
		rc = 0;
		goto out;
	}
	d = opendir(cls);
	if (!d)
		goto out;
	while ((de = readdir(d)) != NULL) {
		char u[WATCH_UUID_LEN + 1];
		char *dev;

		if (!watch_is_nvme_head(de->d_name))
			continue;
		if (wd_read_uuid(cfg, de->d_name, u) < 0 || strcasecmp(u, uuid) != 0) {
			err_clear();
			continue;
		}
		dev = util_xasprintf("%s/%s", cfg->paths.dev, de->d_name);
		if (stat(dev, &st) == 0) {
			util_strlcpy(path, dev, n);
			rc = 0;
		}
		free(dev);
		if (rc == 0)
			break;
	}
out:
	if (rc == POE_NOTFOUND)
		err_set(rc, "no device '%s' and no namespace device with uuid %s", byid, uuid);
	if (d)
		closedir(d);
	free(byid);
	free(cls);
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

	rc = wd_read_uuid(w->cfg, dev->name, uuid);
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
