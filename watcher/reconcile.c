/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NFS image directories of the configured storages (DESIGN.md "Watcher"): each clone file of
 * ours that the VM config does not reference is registered by itself (a register job: "qm set
 * N --unusedK <volid>"; never "qm rescan", which would add every FlexClone mount's images
 * too), and unusedN entries of ours whose file is gone are removed. inotify sees only what passes through
 * this node's kernel (reference/pve.md §9), so the same checks also run every
 * watch.reconcile_s seconds with a plain readdir.
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

#include <inotifytools/inotify.h>

#include "config/config.h"
#include "base/err.h"
#include "base/log.h"
#include "ops/names.h"
#include "pve/pve.h"
#include "base/util.h"

#define IMAGES_MASK (IN_CREATE | IN_MOVED_TO | IN_ONLYDIR)
#define VMDIR_MASK (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR)

int wr_setup(struct watcher *w)
{
	const struct config *cfg = w->cfg;
	struct pve_storagecfg *sc = NULL;

	if (pve_storagecfg_load(cfg->paths.pve_etc, cfg->paths.mnt, &sc) < 0) {
		log_debug("storage.cfg not read, using '%s/<storage>': %s", cfg->paths.mnt,
			  err_msg());
		err_clear();
		sc = NULL;
	}
	for (int i = 0; i < cfg->nstorages; i++) {
		const struct config_storage *s = &cfg->storages[i];
		const struct pve_storage *ps;
		struct watch_nfs *n;

		if (s->protocol != STORAGE_NFS || !util_is_safe_name(s->id))
			continue;
		ps = sc ? pve_storagecfg_find(sc, s->id) : NULL;
		w->nfs = util_xrealloc(w->nfs, sizeof(*w->nfs) * (size_t)(w->nnfs + 1));
		n = &w->nfs[w->nnfs++];
		memset(n, 0, sizeof(*n));
		n->id = util_xstrdup(s->id);
		if (ps && ps->path && ps->path[0] == '/')
			n->images = util_xasprintf("%s/images", ps->path);
		else
			n->images = util_xasprintf("%s/%s/images", cfg->paths.mnt, s->id);
	}
	pve_storagecfg_free(sc);
	wr_watch(w);
	return 0;
}

void wr_release(struct watcher *w)
{
	for (int i = 0; i < w->nnfs; i++) {
		free(w->nfs[i].id);
		free(w->nfs[i].images);
	}
	free(w->nfs);
	w->nfs = NULL;
	w->nnfs = 0;
	free(w->sigs);
	w->sigs = NULL;
	w->nsigs = 0;
}

static int parse_vmid_dir(const char *name)
{
	int64_t v;

	if (util_parse_int(name, 100, 999999999, &v) < 0) {
		err_clear();
		return -1;
	}
	/* "0100" is not a VM directory PVE would use */
	return name[0] == '0' ? -1 : (int)v;
}

static struct watch_dir *vmdir_find(struct watcher *w, int nfs, int vmid)
{
	for (int i = 0; i < w->ndirs; i++)
		if (w->dirs[i].kind == WK_VMDIR && w->dirs[i].nfs == nfs &&
		    w->dirs[i].vmid == vmid)
			return &w->dirs[i];
	return NULL;
}

/* Watch images/<vmid>/; returns the watch (NULL when it cannot be watched). */
static struct watch_dir *vmdir_watch(struct watcher *w, int nfs, int vmid)
{
	struct watch_dir *d = vmdir_find(w, nfs, vmid);
	char *path;
	int idx;

	if (d)
		return d;
	path = util_xasprintf("%s/%d/", w->nfs[nfs].images, vmid);
	idx = w->add_dir(w, path, VMDIR_MASK, WK_VMDIR, nfs, vmid);
	free(path);
	if (idx < 0) {
		log_debug("%s", err_msg());
		err_clear();
		return NULL;
	}
	return &w->dirs[idx];
}

void wr_watch(struct watcher *w)
{
	for (int i = 0; i < w->nnfs; i++) {
		struct watch_nfs *n = &w->nfs[i];
		struct dirent *de;
		struct stat st;
		char *path;
		DIR *d;
		int idx;

		if (n->watched)
			continue;
		if (stat(n->images, &st) < 0 || !S_ISDIR(st.st_mode)) {
			if (!n->warned)
				log_warn("image directory '%s' of storage '%s' is missing (not "
					 "mounted?); looking again at each reconcile",
					 n->images, n->id);
			n->warned = true;
			continue;
		}
		path = util_xasprintf("%s/", n->images);
		idx = w->add_dir(w, path, IMAGES_MASK, WK_IMAGES, i, 0);
		free(path);
		if (idx < 0) {
			log_warn("%s", err_msg());
			err_clear();
			continue;
		}
		n->watched = true;
		n->warned = false;
		d = opendir(n->images);
		if (!d)
			continue;
		while ((de = readdir(d)) != NULL) {
			int vmid = parse_vmid_dir(de->d_name);

			if (vmid > 0)
				vmdir_watch(w, i, vmid);
		}
		closedir(d);
	}
}

void wr_event(struct watcher *w, struct watch_dir *d, uint32_t mask, const char *name)
{
	if (mask & IN_IGNORED) {
		if (d->kind == WK_IMAGES) {
			log_warn("image directory '%s' went away", w->nfs[d->nfs].images);
			w->nfs[d->nfs].watched = false;
		}
		return;
	}
	if (d->kind == WK_IMAGES) {
		int vmid = (mask & IN_ISDIR) ? parse_vmid_dir(name) : -1;
		struct watch_dir *vd;

		if (vmid < 0)
			return;
		/* files may have landed before the watch: look at the directory once */
		vd = vmdir_watch(w, d->nfs, vmid);
		if (vd)
			vd->dirty = true;
		return;
	}
	if (d->kind == WK_VMDIR && !(mask & IN_ISDIR) && names_clone_vmid(name) == d->vmid)
		d->dirty = true;
}

/* Order-independent fingerprint of a set of names (readdir order is arbitrary). */
static uint64_t name_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static struct watch_sig *sig_find(struct watcher *w, int nfs, int vmid)
{
	for (int i = 0; i < w->nsigs; i++)
		if (w->sigs[i].nfs == nfs && w->sigs[i].vmid == vmid)
			return &w->sigs[i];
	return NULL;
}

static bool drive_refers_to(const struct pve_drive *d, const char *storage, int vmid,
			    const char *file)
{
	char vol[300];

	if (!d->storage || !d->volume || strcmp(d->storage, storage) != 0)
		return false;
	snprintf(vol, sizeof(vol), "%d/%s", vmid, file);
	return !strcmp(d->volume, vol);
}

/* Queue a register job for the clone file name in storage n of VM vmid. */
static void queue_register(struct watcher *w, const struct watch_nfs *n, int vmid,
			   const char *name)
{
	struct queue_job job = { .vmid = vmid, .action = QUEUE_REGISTER };
	int len = snprintf(job.arg, sizeof(job.arg), "%s:%d/%s", n->id, vmid, name);

	if (len < 0 || (size_t)len >= sizeof(job.arg)) {
		log_warn("VM %d: volume id of '%s' on '%s' is too long to register", vmid, name,
			 n->id);
		return;
	}
	log_info("VM %d: clone '%s' is not in its config: registering it", vmid, job.arg);
	wq_add(w, &job);
}

/*
 * Clone files of ours in images/<vmid>/ that the VM config does not reference -> one register
 * job each. The set of such files is remembered: when registering left the same set
 * unreferenced (qm refused, "Too many unused volumes"), the next look does not ask again.
 */
static void scan_vmdir(struct watcher *w, int nfs, int vmid)
{
	const struct watch_nfs *n = &w->nfs[nfs];
	struct pve_vmconf *conf = NULL;
	struct watch_sig *sig;
	struct dirent *de;
	char **names = NULL;
	uint64_t h = 0;
	int count = 0, cap = 0;
	char *path = NULL;
	DIR *d = NULL;

	if (!pve_vm_is_local(w->cfg->paths.pve_etc, vmid))
		goto out;
	path = util_xasprintf("%s/%d", n->images, vmid);
	d = opendir(path);
	if (!d)
		goto out;
	if (pve_vmconf_load(w->cfg->paths.pve_etc, vmid, &conf) < 0) {
		log_debug("VM %d: config not read: %s", vmid, err_msg());
		err_clear();
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		bool referenced = false;

		if (names_clone_vmid(de->d_name) != vmid)
			continue;
		/* an empty file is a clone still being made (qm rescan skips them too) */
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_size == 0)
			continue;
		for (int i = 0; i < conf->ndrives && !referenced; i++)
			referenced = drive_refers_to(&conf->drives[i], n->id, vmid, de->d_name);
		if (referenced)
			continue;
		h += name_hash(de->d_name);
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			names = util_xrealloc(names, sizeof(*names) * (size_t)cap);
		}
		names[count++] = util_xstrdup(de->d_name);
	}
	sig = sig_find(w, nfs, vmid);
	if (!count) {
		if (sig)
			*sig = w->sigs[--w->nsigs];
		goto out;
	}
	if (sig && sig->sig == h) {
		log_debug("VM %d: %d clone file(s) on '%s' still unreferenced after registering",
			  vmid, count, n->id);
		goto out;
	}
	if (!sig) {
		w->sigs = util_xrealloc(w->sigs, sizeof(*w->sigs) * (size_t)(w->nsigs + 1));
		sig = &w->sigs[w->nsigs++];
		sig->nfs = nfs;
		sig->vmid = vmid;
	}
	sig->sig = h;
	for (int i = 0; i < count; i++)
		queue_register(w, n, vmid, names[i]);
out:
	for (int i = 0; i < count; i++)
		free(names[i]);
	free(names);
	if (d)
		closedir(d);
	free(path);
	pve_vmconf_free(conf);
}

void wr_flush_dirty(struct watcher *w)
{
	for (int i = 0; i < w->ndirs; i++) {
		if (w->dirs[i].kind != WK_VMDIR || !w->dirs[i].dirty)
			continue;
		w->dirs[i].dirty = false;
		/* scan_vmdir() never adds watches, so dirs[] stays where it is */
		scan_vmdir(w, w->dirs[i].nfs, w->dirs[i].vmid);
	}
}

static int nfs_by_id(const struct watcher *w, const char *id)
{
	for (int i = 0; i < w->nnfs; i++)
		if (!strcmp(w->nfs[i].id, id))
			return i;
	return -1;
}

/* unusedN entries of ours whose file is gone -> remove them (through unused-remove). */
static void reconcile_unused(struct watcher *w, const bool *reachable)
{
	char *dir = util_xasprintf("%s/qemu-server", w->cfg->paths.pve_etc);
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) {
		log_debug("cannot read '%s': %s", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		struct pve_vmconf *conf = NULL;
		char num[16];
		size_t len = strlen(de->d_name);
		int vmid;

		if (len < 6 || len - 5 >= sizeof(num) || strcmp(de->d_name + len - 5, ".conf"))
			continue;
		memcpy(num, de->d_name, len - 5);
		num[len - 5] = '\0';
		vmid = parse_vmid_dir(num);
		if (vmid < 0)
			continue;
		if (pve_vmconf_load(w->cfg->paths.pve_etc, vmid, &conf) < 0) {
			err_clear();
			continue;
		}
		for (int i = 0; i < conf->ndrives; i++) {
			const struct pve_drive *dr = &conf->drives[i];
			const char *slash;
			struct stat st;
			char *path;
			int nfs;

			if (!dr->is_unused || !dr->storage || !dr->volume ||
			    strlen(dr->volid) >= sizeof(((struct queue_job *)0)->arg))
				continue;
			nfs = nfs_by_id(w, dr->storage);
			slash = strchr(dr->volume, '/');
			if (nfs < 0 || !reachable[nfs] || !slash ||
			    names_clone_vmid(slash + 1) < 0 ||
			    !util_is_safe_relpath(dr->volume))
				continue;
			path = util_xasprintf("%s/%s", w->nfs[nfs].images, dr->volume);
			if (lstat(path, &st) < 0 && errno == ENOENT) {
				struct queue_job job = { .vmid = vmid,
							 .action = QUEUE_UNUSED_REMOVE };

				if (util_strcpy(job.arg, dr->volid, sizeof(job.arg), "volume id") < 0) {
					log_warn("VM %d: %s: %s", vmid, dr->key, err_msg());
				} else {
					log_info("VM %d: %s refers to '%s', which is gone: removing it",
						 vmid, dr->key, dr->volid);
					wq_add(w, &job);
				}
			}
			free(path);
		}
		pve_vmconf_free(conf);
	}
	closedir(d);
out:
	free(dir);
}

void wr_reconcile(struct watcher *w)
{
	bool *reachable = util_xcalloc((size_t)w->nnfs + 1, sizeof(*reachable));
	int64_t start = util_now_ms();

	for (int i = 0; i < w->nnfs; i++) {
		struct watch_nfs *n = &w->nfs[i];
		struct dirent *de;
		DIR *d = opendir(n->images);

		/* an unmounted storage says nothing about its files: leave it alone */
		if (!d)
			continue;
		reachable[i] = true;
		while ((de = readdir(d)) != NULL) {
			int vmid = parse_vmid_dir(de->d_name);

			if (vmid < 0)
				continue;
			if (n->watched)
				vmdir_watch(w, i, vmid);
			scan_vmdir(w, i, vmid);
		}
		closedir(d);
	}
	reconcile_unused(w, reachable);
	free(reachable);
	log_debug("reconcile took %lld ms", (long long)(util_now_ms() - start));
}
