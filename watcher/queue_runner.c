/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Jobs of DESIGN.md "Job queue (contract)": read and validate job files, keep them in
 * arrival order, run them per VM with duplicates coalesced, retry while the VM is locked,
 * and delete a file only after its action succeeded (so a crash at any point leaves the
 * job to be done again: every action is idempotent).
 *
 * Decisions beyond the contract:
 * - invalid files go to <queue>/rejected/ (never acted on); a job whose action keeps
 *   failing for another reason than a lock (WATCH_MAX_FAILURES attempts with backoff) goes
 *   to <queue>/failed/, so one bad job cannot retry forever.
 * - a job for a VM whose config is not on this node is kept for WATCH_REMOTE_GRACE_MS (a
 *   migration moves the config at its end, and the VM may come back), then moved to
 *   failed/ with the node that owns the VM named in the log. The queue is node-local, so
 *   nobody else would ever see it; the owning node's reconcile finds unreferenced clone
 *   files and stale unusedN entries on the shared NFS storage by itself.
 */
#include "watch_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "base/exec.h"
#include "base/log.h"
#include "host/nvmehost.h"
#include "pve/pve.h"
#include "base/util.h"

#define WATCH_MAX_FAILURES 8
#define WATCH_REMOTE_GRACE_MS (10 * 60 * 1000)
/*
 * An nvme-attach job waits this long for its block device: a namespace mapped a moment ago
 * shows up after the controller's AEN and udev (seconds, more on a busy fabric). The /dev
 * event of the device ends the wait at once (wq_wake_uuid()).
 */
#define WATCH_DEVICE_WAIT_MS (5 * 60 * 1000)
/* qm rescan activates every storage with images; give it time, but not forever */
#define QM_TIMEOUT_MS (120 * 1000)

void wq_note_name(struct watcher *w, const char *name)
{
	if (w->nnames == w->names_cap) {
		w->names_cap = w->names_cap ? w->names_cap * 2 : 64;
		w->names = util_xrealloc(w->names, sizeof(*w->names) * (size_t)w->names_cap);
	}
	w->names[w->nnames++] = util_xstrdup(name);
}

static void names_clear(struct watcher *w)
{
	for (int i = 0; i < w->nnames; i++)
		free(w->names[i]);
	w->nnames = 0;
}

struct scan_entry {
	char *name;
	struct timespec mtime;
};

static int scan_entry_cmp(const void *a, const void *b)
{
	const struct scan_entry *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Read the whole queue directory (start, overflow, reload): every file not already
 * pending, oldest first (mtime, then name). It replaces the names from events, which it
 * covers: the watch was in place before the readdir.
 */
void wq_scan(struct watcher *w)
{
	struct scan_entry *ents = NULL;
	const char **pending = NULL;
	int nents = 0, cap = 0, npending = 0;
	struct dirent *de;
	DIR *d = NULL;
	int fd;

	names_clear(w);
	fd = openat(w->queue_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		log_error("cannot read queue directory '%s': %s", w->cfg->paths.queue,
			  strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	pending = util_xcalloc((size_t)w->njobs + 1, sizeof(*pending));
	for (int i = 0; i < w->njobs; i++)
		if (!w->jobs[i].done && w->jobs[i].job.file[0])
			pending[npending++] = w->jobs[i].job.file;
	if (npending > 1)
		qsort(pending, (size_t)npending, sizeof(*pending), str_ptr_cmp);

	while ((de = readdir(d)) != NULL) {
		const char *key = de->d_name;
		struct stat st;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, "rejected") ||
		    !strcmp(de->d_name, "failed"))
			continue;
		if (bsearch(&key, pending, (size_t)npending, sizeof(*pending), str_ptr_cmp))
			continue;
		if (nents == cap) {
			cap = cap ? cap * 2 : 64;
			ents = util_xrealloc(ents, sizeof(*ents) * (size_t)cap);
		}
		ents[nents].name = util_xstrdup(de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			ents[nents].mtime = st.st_mtim;
		else
			ents[nents].mtime = (struct timespec){ 0, 0 };
		nents++;
	}
	closedir(d);
	if (nents > 1)
		qsort(ents, (size_t)nents, sizeof(*ents), scan_entry_cmp);
	for (int i = 0; i < nents; i++) {
		wq_note_name(w, ents[i].name);
		free(ents[i].name);
	}
	if (nents > 0)
		log_info("%d job file(s) waiting in '%s'", nents, w->cfg->paths.queue);
	free(ents);
	free(pending);
}

/* Move a job file into <queue>/<sub>/ (rejected or failed); unlink it if that fails. */
static void move_aside(struct watcher *w, const char *sub, const char *name)
{
	char *dst = util_xasprintf("%s/%s", sub, name);

	if (mkdirat(w->queue_fd, sub, 0700) < 0 && errno != EEXIST)
		log_error("cannot create '%s/%s': %s", w->cfg->paths.queue, sub, strerror(errno));
	if (renameat(w->queue_fd, name, w->queue_fd, dst) < 0 && errno != ENOENT) {
		log_error("cannot move job file '%s' to '%s/': %s; deleting it", name, sub,
			  strerror(errno));
		if (unlinkat(w->queue_fd, name, 0) < 0 && errno != ENOENT &&
		    unlinkat(w->queue_fd, name, AT_REMOVEDIR) < 0)
			log_error("cannot delete job file '%s': %s", name, strerror(errno));
	}
	free(dst);
}

static void jobs_append(struct watcher *w, const struct queue_job *job)
{
	struct watch_job *j;

	if (w->njobs == w->jobs_cap) {
		w->jobs_cap = w->jobs_cap ? w->jobs_cap * 2 : 64;
		w->jobs = util_xrealloc(w->jobs, sizeof(*w->jobs) * (size_t)w->jobs_cap);
	}
	j = &w->jobs[w->njobs++];
	j->job = *job;
	j->seq = ++w->seq;
	j->task = 0;
	j->nodev_since_ms = 0;
	j->done = false;
}

void wq_read_names(struct watcher *w)
{
	for (int i = 0; i < w->nnames; i++) {
		struct queue_job job;
		int rc = queue_read(w->queue_fd, w->names[i], &job);

		if (rc == 0) {
			log_debug("job '%s': VM %d %s %s", job.file, job.vmid,
				  queue_action_name(job.action), job.arg);
			jobs_append(w, &job);
		} else if (rc == POE_NOTFOUND) {
			/* gone already (a duplicate event of a job done meanwhile) */
		} else {
			log_warn("rejected job file '%s' (moved to '%s/rejected/'): %s",
				 w->names[i], w->cfg->paths.queue, err_msg());
			move_aside(w, "rejected", w->names[i]);
		}
		err_clear();
	}
	names_clear(w);
}

void wq_add(struct watcher *w, const struct queue_job *job)
{
	struct queue_job j = *job;

	j.file[0] = '\0';
	jobs_append(w, &j);
}

/*
 * w->vms is sorted by vmid: wq_run() looks up the VM of every pending job on every pass, and
 * a burst keeps thousands of jobs pending (a linear search made that quadratic).
 */
static int vm_search(const struct watcher *w, int vmid, bool *found)
{
	int lo = 0, hi = w->nvms;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (w->vms[mid].vmid == vmid) {
			*found = true;
			return mid;
		}
		if (w->vms[mid].vmid < vmid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct watch_vm *vm_get(struct watcher *w, int vmid)
{
	bool found;
	int lo = vm_search(w, vmid, &found);

	if (found)
		return &w->vms[lo];
	w->vms = util_xrealloc(w->vms, sizeof(*w->vms) * (size_t)(w->nvms + 1));
	memmove(&w->vms[lo + 1], &w->vms[lo], sizeof(*w->vms) * (size_t)(w->nvms - lo));
	memset(&w->vms[lo], 0, sizeof(w->vms[0]));
	w->vms[lo].vmid = vmid;
	w->nvms++;
	return &w->vms[lo];
}

static enum watch_result run_qm(int vmid, const char *const argv[])
{
	struct exec_result r;
	struct buf cmd = BUF_INIT(4096);
	enum watch_result res;
	char detail[320];
	int rc;

	exec_result_init(&r);
	exec_format_argv(argv, &cmd);
	rc = exec_run(argv, util_now_ms() + QM_TIMEOUT_MS, &r);
	if (rc == POE_TIMEOUT) {
		log_warn("VM %d: '%s' timed out, will retry", vmid, buf_cstr(&cmd));
		res = WR_RETRY;
		goto out;
	}
	if (rc < 0) {
		log_error("VM %d: cannot run '%s': %s", vmid, buf_cstr(&cmd), err_msg());
		res = WR_FAIL;
		goto out;
	}
	if (r.exit_code == 0) {
		log_info("VM %d: '%s' done", vmid, buf_cstr(&cmd));
		res = WR_OK;
		goto out;
	}
	exec_result_last_line(&r, detail, sizeof(detail));
	if (watch_qm_is_retryable(buf_cstr(&r.out)) || watch_qm_is_retryable(buf_cstr(&r.err))) {
		log_info("VM %d: '%s' must wait: %s", vmid, buf_cstr(&cmd), detail);
		res = WR_RETRY;
	} else {
		log_warn("VM %d: '%s' failed (exit %d): %s", vmid, buf_cstr(&cmd), r.exit_code,
			 detail);
		res = WR_FAIL;
	}
out:
	err_clear();
	buf_release(&cmd);
	exec_result_release(&r);
	return res;
}

static enum watch_result do_rescan(const struct config *cfg, int vmid)
{
	char id[16];
	const char *argv[] = { cfg->paths.qm, "rescan", "--vmid", id, NULL };

	snprintf(id, sizeof(id), "%d", vmid);
	return run_qm(vmid, argv);
}

bool wq_volid_is_namespace(const struct config *cfg, const char *volid, const char *uuid)
{
	char u[NVMEHOST_UUID_LEN + 1];
	const char *base;
	bool in_dev;
	size_t dl;

	if (!volid || volid[0] != '/')
		return false;
	if (nvmehost_volid_uuid(cfg, volid, u))
		return !strcasecmp(u, uuid);
	/* a head device by its kernel name: what it is now, the config does not say */
	base = strrchr(volid, '/') + 1;
	dl = cfg->paths.dev ? strlen(cfg->paths.dev) : 0;
	in_dev = ((size_t)(base - volid) == 5 && !strncmp(volid, "/dev/", 5)) ||
		 (dl && (size_t)(base - volid) == dl + 1 && !strncmp(volid, cfg->paths.dev, dl));
	if (!in_dev || !nvmehost_is_head(base))
		return false;
	if (nvmehost_device_uuid_sysfs(cfg, base, u) < 0) {
		log_debug("cannot tell the namespace of '%s': %s", volid, err_msg());
		err_clear();
		return false;
	}
	return !strcasecmp(u, uuid);
}

/* The VM's config, or false (logged: the caller retries). */
static bool load_conf(const struct config *cfg, int vmid, struct pve_vmconf **conf)
{
	if (pve_vmconf_load(cfg->paths.pve_etc, vmid, conf) == 0)
		return true;
	log_warn("VM %d: cannot read its config: %s", vmid, err_msg());
	err_clear();
	return false;
}

enum wq_file wq_volume_file(const struct config *cfg, const char *storage, const char *volume)
{
	struct pve_storagecfg *sc = NULL;
	const struct pve_storage *ps;
	enum wq_file res = WQ_FILE_UNKNOWN;
	struct stat st;
	char *images = NULL, *path = NULL;

	if (!storage || !volume || !util_is_safe_relpath(volume))
		return WQ_FILE_UNKNOWN;
	if (pve_storagecfg_load(cfg->paths.pve_etc, cfg->paths.mnt, &sc) < 0) {
		log_warn("cannot read storage.cfg: %s", err_msg());
		err_clear();
		return WQ_FILE_UNKNOWN;
	}
	ps = pve_storagecfg_find(sc, storage);
	if (!ps || !ps->path || ps->path[0] != '/')
		goto out;
	images = util_xasprintf("%s/images", ps->path);
	path = util_xasprintf("%s/%s", images, volume);
	if (stat(images, &st) < 0 || !S_ISDIR(st.st_mode))
		goto out;
	if (lstat(path, &st) == 0)
		res = WQ_FILE_THERE;
	else if (errno == ENOENT)
		res = WQ_FILE_GONE;
out:
	free(images);
	free(path);
	pve_storagecfg_free(sc);
	return res;
}

/*
 * May the watcher delete this unusedN entry? Deleting unusedN deletes its file (qemu-server
 * API2/Qemu.pm: the m/^unused/ branch of the delete path calls try_deallocate_drive ->
 * vdisk_free), so only an entry whose file is gone goes, whatever the job said. Checked
 * right before the qm call; *unknown is set when that cannot be told (storage not mounted).
 */
static bool unused_file_gone(const struct config *cfg, int vmid, const struct pve_drive *d,
			     bool *unknown)
{
	switch (wq_volume_file(cfg, d->storage, d->volume)) {
	case WQ_FILE_GONE:
		return true;
	case WQ_FILE_THERE:
		log_info("VM %d: %s refers to '%s', whose file is still there: left alone (deleting "
			 "the entry would delete the file)", vmid, d->key, d->volid);
		return false;
	case WQ_FILE_UNKNOWN:
		break;
	}
	log_warn("VM %d: cannot tell whether the file of %s '%s' is gone (storage not mounted?): "
		 "left alone for now", vmid, d->key, d->volid);
	*unknown = true;
	return false;
}

/*
 * Drop config entries of volid. A volume id of ours names unusedN entries (the clone file
 * went away); an NVMe namespace ("nvme delete") is a raw path in any drive key (scsiN,
 * virtioN, ..., unusedN), spelt by-id or as the kernel's device name (PVE frees no raw path:
 * vm_is_volid_owner() is false for it).
 */
static enum watch_result do_unused_remove(const struct config *cfg, int vmid, const char *volid)
{
	struct pve_vmconf *conf = NULL;
	struct buf keys = BUF_INIT(4096);
	char uuid[NVMEHOST_UUID_LEN + 1];
	enum watch_result res;
	bool nvme, unknown = false;
	char id[16];

	nvme = nvmehost_volid_uuid(cfg, volid, uuid);
	if (!load_conf(cfg, vmid, &conf)) {
		res = WR_RETRY;
		goto out;
	}
	for (int i = 0; i < conf->ndrives; i++) {
		const struct pve_drive *d = &conf->drives[i];
		bool match;

		if (nvme)
			match = wq_volid_is_namespace(cfg, d->volid, uuid);
		else
			match = d->is_unused && d->volid && !strcmp(d->volid, volid) &&
				unused_file_gone(cfg, vmid, d, &unknown);
		if (match && buf_printf(&keys, "%s%s", keys.len ? "," : "", d->key) < 0) {
			log_error("VM %d: cannot remove '%s': %s", vmid, volid, err_msg());
			res = WR_FAIL; /* keys are short: 4 KiB hold every drive key of a VM */
			goto out;
		}
	}
	if (!keys.len) {
		if (!unknown)
			log_info("VM %d: no %s to remove for '%s'", vmid,
				 nvme ? "drive" : "unused entry", volid);
		res = unknown ? WR_FAIL : WR_OK;
		goto out;
	}
	snprintf(id, sizeof(id), "%d", vmid);
	{
		const char *argv[] = { cfg->paths.qm, "set", id, "--delete", buf_cstr(&keys),
				       NULL };

		res = run_qm(vmid, argv);
	}
out:
	buf_release(&keys);
	pve_vmconf_free(conf);
	return res;
}

/* qemu-server MAX_UNUSED_DISKS: unused0 .. unused255 */
#define PVE_MAX_UNUSED 256

/*
 * register: volid becomes the VM's lowest free unusedN (what qemu-server's add_unused_volume
 * picks in "qm rescan", for this one volume), "qm set N --unusedK <volid>". Nothing to do when
 * the config refers to it already or its file is gone.
 */
static enum watch_result do_register(const struct config *cfg, int vmid, const char *volid)
{
	struct pve_vmconf *conf = NULL;
	const char *colon = strchr(volid, ':');
	bool *used = util_xcalloc(PVE_MAX_UNUSED, sizeof(*used));
	enum watch_result res;
	char storage[128], key[32], id[16];
	int slot = -1;

	if (!colon || (size_t)(colon - volid) >= sizeof(storage)) {
		res = WR_FAIL;
		goto out;
	}
	memcpy(storage, volid, (size_t)(colon - volid));
	storage[colon - volid] = '\0';
	if (!load_conf(cfg, vmid, &conf)) {
		res = WR_RETRY;
		goto out;
	}
	for (int i = 0; i < conf->ndrives; i++) {
		const struct pve_drive *d = &conf->drives[i];
		int n;

		if (d->volid && !strcmp(d->volid, volid)) {
			log_info("VM %d: '%s' is in its config already (%s)", vmid, volid, d->key);
			res = WR_OK;
			goto out;
		}
		if (d->is_unused && sscanf(d->key, "unused%d", &n) == 1 && n >= 0 &&
		    n < PVE_MAX_UNUSED)
			used[n] = true;
	}
	switch (wq_volume_file(cfg, storage, colon + 1)) {
	case WQ_FILE_THERE:
		break;
	case WQ_FILE_GONE:
		log_info("VM %d: the file of '%s' is gone: nothing to register", vmid, volid);
		res = WR_OK;
		goto out;
	case WQ_FILE_UNKNOWN:
		log_warn("VM %d: cannot tell whether '%s' is there (storage not mounted?)", vmid,
			 volid);
		res = WR_FAIL;
		goto out;
	}
	for (int i = 0; i < PVE_MAX_UNUSED && slot < 0; i++)
		if (!used[i])
			slot = i;
	if (slot < 0) {
		log_warn("VM %d: no free unusedN entry for '%s' (all %d taken)", vmid, volid,
			 PVE_MAX_UNUSED);
		res = WR_FAIL;
		goto out;
	}
	snprintf(key, sizeof(key), "--unused%d", slot);
	snprintf(id, sizeof(id), "%d", vmid);
	{
		const char *argv[] = { cfg->paths.qm, "set", id, key, volid, NULL };

		res = run_qm(vmid, argv);
	}
out:
	free(used);
	pve_vmconf_free(conf);
	return res;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (!strcmp(a, b))
		return true;
	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

enum watch_result wq_nvme_attach(const struct config *cfg, int vmid, const char *uuid)
{
	struct pve_vmconf *conf = NULL;
	enum watch_result res;
	char dev[PATH_MAX], value[PATH_MAX + 16];
	char key[16], id[16];
	bool used[31] = { false };
	int slot = -1;
	int rc;

	rc = wd_device_for_uuid(cfg, uuid, dev, sizeof(dev));
	if (rc < 0) {
		log_info("VM %d: no block device for namespace %s (yet): %s", vmid, uuid,
			 err_msg());
		err_clear();
		res = WR_NODEV;
		goto out;
	}
	if (!load_conf(cfg, vmid, &conf)) {
		res = WR_RETRY;
		goto out;
	}
	for (int i = 0; i < conf->ndrives; i++) {
		const struct pve_drive *d = &conf->drives[i];
		int n;

		/* unusedN counts too: a namespace someone detached stays detached */
		if (d->volid && d->volid[0] == '/' &&
		    (same_file(d->volid, dev) || wq_volid_is_namespace(cfg, d->volid, uuid))) {
			log_info("VM %d: namespace %s is already attached as %s", vmid, uuid,
				 d->key);
			res = WR_OK;
			goto out;
		}
		if (sscanf(d->key, "scsi%d", &n) == 1 && n >= 0 && n <= 30)
			used[n] = true;
	}
	for (int i = 0; i <= 30 && slot < 0; i++)
		if (!used[i])
			slot = i;
	if (slot < 0) {
		log_warn("VM %d: no free scsi slot (scsi0..scsi30) for namespace %s", vmid, uuid);
		res = WR_FAIL;
		goto out;
	}
	snprintf(key, sizeof(key), "--scsi%d", slot);
	snprintf(id, sizeof(id), "%d", vmid);
	/* shared=1: QemuMigrate.pm refuses a drive path starting with '/' without it */
	snprintf(value, sizeof(value), "%s,shared=1", dev);  /* fits: dev < PATH_MAX */
	{
		const char *argv[] = { cfg->paths.qm, "set", id, key, value, NULL };

		res = run_qm(vmid, argv);
	}
out:
	pve_vmconf_free(conf);
	return res;
}

enum watch_result wq_run_action(const struct config *cfg, const struct queue_job *job)
{
	enum watch_result res = WR_FAIL;

	/* the journal's VMID= field of every line this job logs (log.h) */
	log_context_set(job->vmid, NULL, NULL);
	switch (job->action) {
	case QUEUE_RESCAN:
		res = do_rescan(cfg, job->vmid);
		break;
	case QUEUE_UNUSED_REMOVE:
		res = do_unused_remove(cfg, job->vmid, job->arg);
		break;
	case QUEUE_NVME_ATTACH:
		res = wq_nvme_attach(cfg, job->vmid, job->arg);
		break;
	case QUEUE_REGISTER:
		res = do_register(cfg, job->vmid, job->arg);
		break;
	}
	log_context_clear();
	return res;
}

/* A job is over: its file is deleted (done) or moved to aside ("rejected", "failed"). */
static void finish_job(struct watcher *w, struct watch_job *j, const char *aside)
{
	j->done = true;
	if (!j->job.file[0])
		return;
	if (aside) {
		move_aside(w, aside, j->job.file);
		return;
	}
	if (unlinkat(w->queue_fd, j->job.file, 0) < 0 && errno != ENOENT)
		log_error("cannot delete job file '%s': %s", j->job.file, strerror(errno));
	w->jobs_done++;
}

/* The action of these jobs is done (or given up): delete (or move aside) their files. */
static void finish_jobs(struct watcher *w, struct watch_job **jobs, const int *key_of, int n,
			int key, const char *aside)
{
	for (int i = 0; i < n; i++) {
		struct watch_job *j = jobs[i];

		if (key_of[i] != key || j->done)
			continue;
		finish_job(w, j, aside);
	}
}

static void vm_backoff(struct watch_vm *vm, int64_t now)
{
	vm->backoff_ms = watch_backoff_next(vm->backoff_ms);
	vm->next_try_ms = now + vm->backoff_ms;
}

/* The VM's config is not on this node: keep its jobs a while, then move them aside. */
static void handle_remote(struct watcher *w, struct watch_vm *vm, struct watch_job **jobs,
			  const int *key_of, int n, int64_t now)
{
	int files = 0;

	for (int i = 0; i < n; i++) {
		if (!jobs[i]->job.file[0])
			jobs[i]->done = true; /* internal: the owning node's watcher has its own */
		else
			files++;
	}
	if (!files)
		return;
	if (!vm->remote_since_ms) {
		vm->remote_since_ms = now;
		log_info("VM %d is not on this node: keeping its %d job(s) for %d minutes", vm->vmid,
			 files, WATCH_REMOTE_GRACE_MS / 60000);
	}
	if (now - vm->remote_since_ms < WATCH_REMOTE_GRACE_MS) {
		vm_backoff(vm, now);
		return;
	}
	{
		struct pve_vmconf *conf = NULL;
		const char *node = "";

		if (pve_vmconf_load(w->cfg->paths.pve_etc, vm->vmid, &conf) == 0)
			node = conf->node;
		err_clear();
		log_warn("VM %d is %s%s%s: moved its %d job(s) to '%s/failed/' (the reconcile on "
			 "the VM's node finds its clone files)",
			 vm->vmid, node[0] ? "on node '" : "not in the cluster", node,
			 node[0] ? "'" : "", files, w->cfg->paths.queue);
		pve_vmconf_free(conf);
	}
	for (int i = 0; i < n; i++)
		finish_jobs(w, jobs, key_of, n, key_of[i], "failed");
	vm->remote_since_ms = 0;
}

/* A job's action on a worker: it reads cfg, the VM and qm, nothing else of the watcher. */
struct wq_task {
	struct wk_task wk;                 /* first: the pool frees what it keeps */
	uint64_t id;
	int vmid;
	struct queue_job job;
	const struct config *cfg;          /* borrowed: kept alive until the task is taken back */
	enum watch_result res;             /* WR_RETRY when it never ran (cancelled) */
};

static void wq_task_run(void *arg)
{
	struct wq_task *t = arg;

	t->res = wq_run_action(t->cfg, &t->job);
}

/*
 * Hand the VM's next action to the workers: its oldest pending job together with every
 * pending job that does the same (coalesced). Jobs that arrive while the action runs are
 * not covered by it (a rescan started before a clone appeared does not see the clone).
 * Returns true when a task was submitted.
 */
static bool dispatch_vm(struct watcher *w, struct watch_vm *vm, int64_t now)
{
	struct watch_job **jobs = NULL;
	struct queue_job *q = NULL;
	struct wq_task *t = NULL;
	int *key_of = NULL;
	bool started = false;
	int n = 0, same = 0;

	for (int i = 0; i < w->njobs; i++)
		if (!w->jobs[i].done && !w->jobs[i].task && w->jobs[i].job.vmid == vm->vmid)
			n++;
	if (!n)
		goto out;
	jobs = util_xcalloc((size_t)n, sizeof(*jobs));
	q = util_xcalloc((size_t)n, sizeof(*q));
	key_of = util_xcalloc((size_t)n, sizeof(*key_of));
	n = 0;
	for (int i = 0; i < w->njobs; i++) {
		if (!w->jobs[i].done && !w->jobs[i].task && w->jobs[i].job.vmid == vm->vmid) {
			jobs[n] = &w->jobs[i];
			q[n++] = w->jobs[i].job;
		}
	}
	watch_coalesce(q, n, key_of);

	if (!pve_vm_is_local(w->cfg->paths.pve_etc, vm->vmid)) {
		handle_remote(w, vm, jobs, key_of, n, now);
		goto out;
	}
	vm->remote_since_ms = 0;
	t = util_xcalloc(1, sizeof(*t));
	t->wk.fn = wq_task_run;
	t->wk.arg = t;
	t->id = ++w->task_seq;
	t->vmid = vm->vmid;
	t->job = q[0];
	t->cfg = w->cfg;
	t->res = WR_RETRY;
	if (!w->pool && wk_pool_new(&w->pool, WQ_WORKERS) < 0)
		goto fail;
	if (wk_submit(w->pool, &t->wk) < 0)
		goto fail;
	t = NULL; /* the workers' now */
	/* jobs of one VM run in order: key_of[0] == 0, the oldest pending job */
	for (int i = 0; i < n; i++) {
		if (key_of[i] == 0) {
			jobs[i]->task = w->task_seq;
			same++;
		}
	}
	if (same > 1)
		log_debug("VM %d: %d %s job(s) coalesced", vm->vmid, same,
			  queue_action_name(q[0].action));
	vm->busy = true;
	vm->woken = false;
	started = true;
	goto out;
fail:
	log_error("VM %d: cannot run its jobs: %s", vm->vmid, err_msg());
	err_clear();
	vm_backoff(vm, now);
out:
	free(t);
	free(jobs);
	free(q);
	free(key_of);
	return started;
}

/* The jobs of a finished task: done (files deleted), or moved aside. */
static void finish_task_jobs(struct watcher *w, uint64_t id, const char *aside)
{
	for (int i = 0; i < w->njobs; i++) {
		struct watch_job *j = &w->jobs[i];

		if (j->task != id || j->done)
			continue;
		finish_job(w, j, aside);
	}
}

/* The jobs of a task that will be tried again: pending, no longer with a task. */
static void release_task_jobs(struct watcher *w, uint64_t id)
{
	for (int i = 0; i < w->njobs; i++)
		if (w->jobs[i].task == id)
			w->jobs[i].task = 0;
}

/* Device waits are counted per job: it gives up WATCH_DEVICE_WAIT_MS after its first try. */
static bool device_wait_over(struct watcher *w, uint64_t id, int64_t now)
{
	bool over = false;

	for (int i = 0; i < w->njobs; i++) {
		struct watch_job *j = &w->jobs[i];

		if (j->task != id)
			continue;
		if (!j->nodev_since_ms)
			j->nodev_since_ms = now;
		over |= now - j->nodev_since_ms >= WATCH_DEVICE_WAIT_MS;
	}
	return over;
}

/*
 * The task's jobs are over (done: where NULL, else moved aside to where/), and the VM
 * starts afresh: no failures counted, no backoff.
 */
static void task_over(struct watcher *w, struct watch_vm *vm, int id, const char *where)
{
	finish_task_jobs(w, id, where);
	vm->failures = 0;
	vm->backoff_ms = 0;
	vm->next_try_ms = 0;
}

static void apply_result(struct watcher *w, const struct wq_task *t, int64_t now)
{
	struct watch_vm *vm = vm_get(w, t->vmid);
	const struct queue_job *q = &t->job;

	vm->busy = false;
	switch (t->res) {
	case WR_OK:
		task_over(w, vm, t->id, NULL);
		break;
	case WR_FAIL:
		if (++vm->failures >= WATCH_MAX_FAILURES) {
			log_warn("VM %d: giving up on %s %s after %d attempts (job moved to "
				 "'%s/failed/')",
				 vm->vmid, queue_action_name(q->action), q->arg, vm->failures,
				 w->cfg->paths.queue);
			task_over(w, vm, t->id, "failed");
			break;
		}
		release_task_jobs(w, t->id);
		vm_backoff(vm, now);
		break;
	case WR_NODEV:
		if (device_wait_over(w, t->id, now)) {
			log_warn("VM %d: no block device for namespace %s appeared in %d s: job moved "
				 "to '%s/failed/' (is the node connected: 'pve-ontap nvme connect'?)",
				 vm->vmid, q->arg, WATCH_DEVICE_WAIT_MS / 1000, w->cfg->paths.queue);
			task_over(w, vm, t->id, "failed");
			break;
		}
		release_task_jobs(w, t->id);
		vm_backoff(vm, now);
		break;
	case WR_RETRY:
	case WR_REMOTE:
		release_task_jobs(w, t->id);
		vm_backoff(vm, now);
		break;
	}
	if (vm->woken && vm->next_try_ms) {
		/* its device appeared while the attempt ran */
		vm->next_try_ms = 0;
		vm->backoff_ms = 0;
	}
	vm->woken = false;
	if (vm->next_try_ms)
		log_debug("VM %d: next attempt in %lld ms", vm->vmid, (long long)vm->backoff_ms);
}

/* Take the results the workers have; returns how many. */
static int collect(struct watcher *w)
{
	struct wk_task *wk;
	int n = 0;

	while (w->pool && (wk = wk_take(w->pool)) != NULL) {
		struct wq_task *t = wk->arg;

		apply_result(w, t, util_now_ms());
		free(t);
		n++;
	}
	return n;
}

/* Drop finished jobs and VMs without jobs. */
static void compact(struct watcher *w)
{
	int n = 0;

	/* a job is about 0.8 KiB: copy only what moves */
	for (int i = 0; i < w->njobs; i++) {
		if (w->jobs[i].done)
			continue;
		if (n != i)
			w->jobs[n] = w->jobs[i];
		n++;
	}
	w->njobs = n;
	/* a burst of jobs should not keep its memory (about 0.8 KiB per pending job) */
	if (n == 0 && w->jobs_cap > 256) {
		free(w->jobs);
		w->jobs = NULL;
		w->jobs_cap = 0;
	}
	/* VMs without jobs go (keeping the order vm_get() searches in) */
	for (int i = 0; i < w->nvms; i++)
		w->vms[i].keep = w->vms[i].busy;
	for (int j = 0; j < w->njobs; j++) {
		bool found;
		int i = vm_search(w, w->jobs[j].job.vmid, &found);

		if (found)
			w->vms[i].keep = true;
	}
	n = 0;
	for (int i = 0; i < w->nvms; i++)
		if (w->vms[i].keep)
			w->vms[n++] = w->vms[i];
	w->nvms = n;
}

bool wq_run(struct watcher *w, int64_t now)
{
	uint64_t round = ++w->round;
	bool ran = collect(w) > 0;

	now = util_now_ms();
	/* VMs in the order of their oldest pending job */
	for (int i = 0; i < w->njobs; i++) {
		struct watch_vm *vm;

		if (wk_inflight(w->pool) >= WQ_WORKERS || *w->stop)
			break;
		if (w->jobs[i].done || w->jobs[i].task)
			continue;
		vm = vm_get(w, w->jobs[i].job.vmid);
		if (vm->round == round)
			continue;
		vm->round = round;
		if (vm->busy || vm->next_try_ms > now)
			continue;
		ran |= dispatch_vm(w, vm, now);
	}
	compact(w);
	return ran;
}

int64_t wq_next_due(const struct watcher *w)
{
	int64_t due = 0;

	/* every worker busy: the next finished task wakes the loop (wq_wake_fd) */
	if (wk_inflight(w->pool) >= WQ_WORKERS)
		return 0;
	for (int i = 0; i < w->nvms; i++) {
		int64_t t = w->vms[i].next_try_ms ? w->vms[i].next_try_ms : 1;

		/* a VM with a task running waits for its result, not for a time */
		if (w->vms[i].busy)
			continue;
		if (!due || t < due)
			due = t;
	}
	return due;
}

int wq_wake_fd(const struct watcher *w)
{
	return wk_fd(w->pool);
}

int wq_inflight(const struct watcher *w)
{
	return wk_inflight(w->pool);
}

void wq_drain(struct watcher *w, bool cancel_waiting)
{
	if (!w->pool)
		return;
	if (cancel_waiting && wk_inflight(w->pool) > 0)
		wk_cancel_waiting(w->pool);
	for (;;) {
		collect(w);
		if (!wk_inflight(w->pool))
			break;
		wk_wait(w->pool, 1000);
	}
	compact(w);
}

bool wq_wake_uuid(struct watcher *w, const char *uuid)
{
	bool found = false;

	for (int i = 0; i < w->njobs; i++) {
		const struct watch_job *j = &w->jobs[i];
		struct watch_vm *vm;

		if (j->done || j->job.action != QUEUE_NVME_ATTACH || strcasecmp(j->job.arg, uuid))
			continue;
		found = true;
		vm = vm_get(w, j->job.vmid);
		if (vm->busy) {
			vm->woken = true;
		} else {
			vm->next_try_ms = 0;
			vm->backoff_ms = 0;
		}
	}
	return found;
}

int wq_waiting_uuids(const struct watcher *w, char (**out)[WATCH_UUID_LEN + 1])
{
	int n = 0;

	*out = NULL;
	for (int i = 0; i < w->njobs; i++)
		n += !w->jobs[i].done && w->jobs[i].job.action == QUEUE_NVME_ATTACH;
	if (!n)
		return 0;
	*out = util_xcalloc((size_t)n, sizeof(**out));
	n = 0;
	for (int i = 0; i < w->njobs; i++) {
		const struct watch_job *j = &w->jobs[i];

		if (j->done || j->job.action != QUEUE_NVME_ATTACH)
			continue;
		/* a longer arg is no uuid: it matches none */
		if (util_strlcpy((*out)[n], j->job.arg, sizeof((*out)[n])) < sizeof((*out)[n]))
			n++;
	}
	return n;
}

bool wq_idle(const struct watcher *w)
{
	return w->njobs == 0 && w->nnames == 0;
}

void wq_release(struct watcher *w)
{
	wq_drain(w, true);
	wk_pool_free(w->pool);
	w->pool = NULL;
	names_clear(w);
	free(w->names);
	w->names = NULL;
	w->names_cap = 0;
	free(w->jobs);
	w->jobs = NULL;
	w->njobs = 0;
	w->jobs_cap = 0;
	free(w->vms);
	w->vms = NULL;
	w->nvms = 0;
}
