/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM snapshots. NFS disks get one ONTAP single-file clone each, next to the disk in
 * images/<vmid>/ (DESIGN.md "Names"), all clones of a volume in one parallel batch; NVMe
 * disks get one consistency-group snapshot (ops_nvme.c). ONTAP is the source of truth:
 * listing reads the image directories through the files API, so it works on any node and
 * before the storage is mounted (pre-start).
 */
#include "ops/ops.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "base/log.h"
#include "host/nvmehost.h"
#include "ontap/ontap.h"
#include "ops/ops_internal.h"
#include "pve/pve.h"
#include "host/queue.h"
#include "base/util.h"

#define MAX_VOLS 16

struct vm_disk {
	const struct pve_drive *d;
	struct ops_volume *vol;
	char dir[384];       /* "<subdir>images/<vmid>" */
	char file[256];      /* "vm-100-disk-0.raw" */
	char stem[256];      /* "vm-100-disk-0" */
	char ext[16];
};

struct vm_plan {
	struct pve_vmconf *vm;
	struct ops_volume vols[MAX_VOLS];
	int nvols;
	struct vm_disk disks[OPS_MAX_DISKS];
	int ndisks;
	bool has_nvme;
};

static void plan_release(struct vm_plan *p)
{
	pve_vmconf_free(p->vm);
	p->vm = NULL;
}

static bool in_list(const char *const *list, const char *key)
{
	for (; list && *list; list++)
		if (!strcmp(*list, key))
			return true;
	return false;
}

/* An NVMe disk: /dev/disk/by-id/nvme-uuid.<uuid> (or that path below paths.dev). */
static bool is_nvme_volid(const struct config *cfg, const char *volid)
{
	char uuid[NVMEHOST_UUID_LEN + 1];

	return volid && volid[0] == '/' && nvmehost_volid_uuid(cfg, volid, uuid);
}

static int plan_volume(struct ops_ctx *ctx, struct vm_plan *p, const struct config_storage *st,
		       struct ops_volume **out)
{
	int rc;

	for (int i = 0; i < p->nvols; i++) {
		if (p->vols[i].st == st) {
			*out = &p->vols[i];
			return 0;
		}
	}
	if (p->nvols >= MAX_VOLS)
		return err_set(POE_FAIL, "VM %d uses more than %d storages", p->vm->vmid, MAX_VOLS);
	rc = ops_volume_resolve(ctx, st, &p->vols[p->nvols]);
	if (rc < 0)
		return rc;
	*out = &p->vols[p->nvols++];
	return 0;
}

/*
 * Load the VM config and decide which disks take part. include/exclude filter by key;
 * quiet=true suppresses the "skipping" notes (listing, pruning).
 */
static int plan_build(struct ops_ctx *ctx, int vmid, const char *const *include,
		      const char *const *exclude, bool quiet, struct vm_plan *p)
{
	int rc;

	memset(p, 0, sizeof(*p));
	rc = pve_vmconf_load(ctx->cfg->paths.pve_etc, vmid, &p->vm);
	if (rc == POE_NOTFOUND)
		return err_set(POE_NOTFOUND, "VM %d not found (no config under '%s')", vmid,
			       ctx->cfg->paths.pve_etc);
	if (rc < 0)
		return rc;
	for (int i = 0; i < p->vm->ndrives; i++) {
		const struct pve_drive *d = &p->vm->drives[i];
		const struct config_storage *st;
		struct vm_disk *vd;
		const char *slash, *dot;

		if (d->is_cdrom || d->is_unused)
			continue;
		if (include && !in_list(include, d->key))
			continue;
		if (exclude && in_list(exclude, d->key))
			continue;
		if (is_nvme_volid(ctx->cfg, d->volid)) {
			p->has_nvme = true;
			continue;
		}
		st = d->storage ? config_storage_find(ctx->cfg, d->storage) : NULL;
		if (!st || st->protocol != STORAGE_NFS) {
			if (!quiet)
				log_info("skipping %s: '%s' is not on a storage configured for pve-ontap",
					 d->key, d->volid);
			continue;
		}
		if (p->ndisks >= OPS_MAX_DISKS)
			return err_set(POE_FAIL, "VM %d has more than %d disks", vmid, OPS_MAX_DISKS);
		vd = &p->disks[p->ndisks];
		memset(vd, 0, sizeof(*vd));
		vd->d = d;
		/* a directory-storage volume is "<vmid>/<file>"; the owner is the directory */
		slash = d->volume ? strchr(d->volume, '/') : NULL;
		if (!slash || !util_is_safe_name(slash + 1) ||
		    (size_t)(slash - d->volume) >= 16) {
			if (!quiet)
				log_info("skipping %s: '%s' is not a disk image of a directory storage",
					 d->key, d->volid);
			continue;
		}
		util_strlcpy(vd->file, slash + 1, sizeof(vd->file));
		dot = strrchr(vd->file, '.');
		if (!dot || dot == vd->file || strlen(dot + 1) >= sizeof(vd->ext)) {
			if (!quiet)
				log_info("skipping %s: '%s' has no image format extension", d->key,
					 d->volid);
			continue;
		}
		util_strlcpy(vd->ext, dot + 1, sizeof(vd->ext));
		memcpy(vd->stem, vd->file, (size_t)(dot - vd->file));
		vd->stem[dot - vd->file] = '\0';
		rc = plan_volume(ctx, p, st, &vd->vol);
		if (rc < 0)
			return err_prefix(rc, "cannot find the ONTAP volume of %s", d->key);
		snprintf(vd->dir, sizeof(vd->dir), "%simages/%.*s", vd->vol->subdir,
			 (int)(slash - d->volume), d->volume);
		p->ndisks++;
	}
	return 0;
}

/* ---- listing ---- */

static int snap_cmp(const void *a, const void *b)
{
	const struct vm_snapshot *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->name, y->name);
}

struct vm_snapshot *ops_snapshot_find_or_add(struct vm_snapshot **arr, int *n, const char *name)
{
	struct vm_snapshot *s;

	for (int i = 0; i < *n; i++)
		if (!strcmp((*arr)[i].name, name))
			return &(*arr)[i];
	*arr = util_xrealloc(*arr, (size_t)(*n + 1) * sizeof(**arr));
	s = &(*arr)[(*n)++];
	memset(s, 0, sizeof(*s));
	util_strlcpy(s->name, name, sizeof(s->name));
	ops_parse_snapshot_name(name, s->label, sizeof(s->label), &s->created);
	return s;
}

/* Is stem a disk of this VM: a current disk's stem, or vm-<vmid>-disk-<n>? */
static const struct vm_disk *stem_disk(const struct vm_plan *p, const char *stem, bool *ours)
{
	char prefix[32];
	size_t pl;

	for (int i = 0; i < p->ndisks; i++) {
		if (!strcmp(p->disks[i].stem, stem)) {
			*ours = true;
			return &p->disks[i];
		}
	}
	pl = (size_t)snprintf(prefix, sizeof(prefix), "vm-%d-disk-", p->vm->vmid);
	*ours = !strncmp(stem, prefix, pl) && stem[pl] && strspn(stem + pl, "0123456789") ==
								   strlen(stem + pl);
	return NULL;
}

static int list_nfs(struct ops_ctx *ctx, const struct vm_plan *p, struct vm_snapshot **arr,
		    int *n)
{
	for (int v = 0; v < p->nvols; v++) {
		const struct ops_volume *ov = &p->vols[v];
		struct ontap_file *files = NULL;
		char dir[384] = "";
		int nfiles = 0, rc;

		/* every disk of this VM on this volume shares one directory */
		for (int i = 0; i < p->ndisks; i++)
			if (p->disks[i].vol == ov)
				util_strlcpy(dir, p->disks[i].dir, sizeof(dir));
		rc = ontap_dir_list(ov->oc, ov->vol.uuid, dir, &files, &nfiles, ctx->deadline);
		if (rc == POE_NOTFOUND)
			continue;
		if (rc < 0)
			return err_prefix(rc, "cannot list '%s' on volume '%s'", dir, ov->vol.name);
		for (int f = 0; f < nfiles; f++) {
			char stem[256], snap[96], ext[16];
			const struct vm_disk *vd;
			struct vm_snapshot *s;
			struct vm_snapshot_disk *sd;
			bool ours;

			if (strcmp(files[f].type, "file") != 0 ||
			    !ops_parse_clone_name(files[f].name, stem, sizeof(stem), snap,
						  sizeof(snap), ext, sizeof(ext)))
				continue;
			vd = stem_disk(p, stem, &ours);
			if (!ours)
				continue;
			s = ops_snapshot_find_or_add(arr, n, snap);
			if (s->ndisks >= OPS_MAX_DISKS)
				continue;
			sd = &s->disks[s->ndisks++];
			util_strlcpy(sd->disk, vd ? vd->d->key : stem, sizeof(sd->disk));
			util_strlcpy(sd->kind, "file-clone", sizeof(sd->kind));
			util_strlcpy(sd->storage, ov->st->id, sizeof(sd->storage));
			snprintf(sd->path, sizeof(sd->path), "%s/%s", dir, files[f].name);
		}
		free(files);
	}
	return 0;
}

static void merge_snapshots(struct vm_snapshot **arr, int *n, const struct vm_snapshot *more,
			    int nmore)
{
	for (int i = 0; i < nmore; i++) {
		struct vm_snapshot *s = ops_snapshot_find_or_add(arr, n, more[i].name);

		for (int d = 0; d < more[i].ndisks && s->ndisks < OPS_MAX_DISKS; d++)
			s->disks[s->ndisks++] = more[i].disks[d];
		if (!s->created)
			s->created = more[i].created;
	}
}

static int list_plan(struct ops_ctx *ctx, const struct vm_plan *p, struct vm_snapshot **out,
		     int *n)
{
	struct vm_snapshot *arr = NULL;
	int narr = 0, rc;

	rc = list_nfs(ctx, p, &arr, &narr);
	if (rc == 0 && p->has_nvme) {
		struct vm_snapshot *nv = NULL;
		int nnv = 0;

		rc = ops_nvme_vm_snapshot_list(ctx, p->vm, &nv, &nnv);
		if (rc == 0)
			merge_snapshots(&arr, &narr, nv, nnv);
		free(nv);
	}
	if (rc < 0) {
		free(arr);
		return rc;
	}
	if (narr > 1)
		qsort(arr, (size_t)narr, sizeof(*arr), snap_cmp);
	*out = arr;
	*n = narr;
	return 0;
}

int ops_vm_snapshot_list(struct ops_ctx *ctx, int vmid, struct vm_snapshot **out, int *n)
{
	struct vm_plan p;
	int rc;

	*out = NULL;
	*n = 0;
	rc = plan_build(ctx, vmid, NULL, NULL, true, &p);
	if (rc == 0)
		rc = list_plan(ctx, &p, out, n);
	plan_release(&p);
	return rc;
}

/* ---- create ---- */

/* Delete clone files of a failed or deleted snapshot, volume by volume. */
static int delete_clones(struct ops_ctx *ctx, const struct vm_plan *p, const char *const *paths,
			 const char *const *storages, int n)
{
	int rc = 0;

	for (int v = 0; v < p->nvols; v++) {
		struct ontap_file_op ops[OPS_MAX_DISKS];
		int nops = 0, r;

		memset(ops, 0, sizeof(ops));
		for (int i = 0; i < n && nops < OPS_MAX_DISKS; i++)
			if (!strcmp(storages[i], p->vols[v].st->id))
				ops[nops++].dst = paths[i];
		if (!nops)
			continue;
		r = ontap_file_delete_many(p->vols[v].oc, &p->vols[v].vol, ops, nops, ctx->deadline);
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

static int clone_disks(struct ops_ctx *ctx, struct vm_plan *p, const char *name,
		       struct vm_snapshot *out, char dsts[][OPS_PATH_MAX], bool *made)
{
	int rc = 0;

	for (int v = 0; v < p->nvols; v++) {
		struct ontap_file_op ops[OPS_MAX_DISKS];
		int idx[OPS_MAX_DISKS];
		char srcs[OPS_MAX_DISKS][OPS_PATH_MAX];
		int nops = 0, r;

		memset(ops, 0, sizeof(ops));
		for (int i = 0; i < p->ndisks; i++) {
			struct vm_disk *vd = &p->disks[i];

			if (vd->vol != &p->vols[v])
				continue;
			snprintf(srcs[nops], sizeof(srcs[nops]), "%s/%s", vd->dir, vd->file);
			snprintf(dsts[i], OPS_PATH_MAX, "%s/%s-snap-%s.%s", vd->dir, vd->stem, name,
				 vd->ext);
			ops[nops].src = srcs[nops];
			ops[nops].dst = dsts[i];
			idx[nops++] = i;
		}
		if (!nops)
			continue;
		r = ontap_file_clone_many(p->vols[v].oc, &p->vols[v].vol, ops, nops, ctx->deadline);
		for (int k = 0; k < nops; k++) {
			if (ops[k].rc == 0)
				made[idx[k]] = true;
			else /* detail per disk; the command's own error names the first */
				log_info("clone of %s failed: %s", p->disks[idx[k]].d->key,
					 ops[k].err[0] ? ops[k].err : "unknown error");
		}
		if (r < 0 && rc == 0)
			rc = r;
		if (ops_interrupted)
			break;
	}
	for (int i = 0; i < p->ndisks; i++) {
		struct vm_snapshot_disk *sd;

		if (!made[i] || out->ndisks >= OPS_MAX_DISKS)
			continue;
		sd = &out->disks[out->ndisks++];
		util_strlcpy(sd->disk, p->disks[i].d->key, sizeof(sd->disk));
		util_strlcpy(sd->kind, "file-clone", sizeof(sd->kind));
		util_strlcpy(sd->storage, p->disks[i].vol->st->id, sizeof(sd->storage));
		util_strlcpy(sd->path, dsts[i], sizeof(sd->path));
	}
	return rc;
}

static void rollback_clones(struct ops_ctx *ctx, struct vm_plan *p, char dsts[][OPS_PATH_MAX],
			    const bool *made)
{
	const char *paths[OPS_MAX_DISKS], *stores[OPS_MAX_DISKS];
	int n = 0;

	for (int i = 0; i < p->ndisks; i++) {
		if (!made[i])
			continue;
		paths[n] = dsts[i];
		stores[n++] = p->disks[i].vol->st->id;
	}
	int64_t saved = util_deadline_global();
	int64_t saved_ctx = ctx->deadline;

	if (!n)
		return;
	/* cleaning up gets a short grace period of its own: the run's deadline may be what
	 * failed, and half a snapshot must not stay behind */
	util_deadline_set_global(util_now_ms() + 15000);
	ctx->deadline = 0;
	if (delete_clones(ctx, p, paths, stores, n) < 0)
		log_error("could not remove the clones of the failed snapshot: %s", err_msg());
	else
		log_info("removed %d clone(s) of the failed snapshot", n);
	ctx->deadline = saved_ctx;
	util_deadline_set_global(saved);
}

static int create_with_plan(struct ops_ctx *ctx, struct vm_plan *p,
			    const struct vm_snapshot_opts *o, struct vm_snapshot *out)
{
	const char *label = o->label ? o->label : "manual";
	char (*dsts)[OPS_PATH_MAX] = util_xcalloc(OPS_MAX_DISKS, sizeof(*dsts));
	bool made[OPS_MAX_DISKS] = { false };
	struct quiesce_state qs;
	char comment[160];
	bool nvme_done = false;
	int rc, rq;

	memset(out, 0, sizeof(*out));
	if (!ops_is_valid_label(label)) {
		rc = err_set(POE_USAGE, "bad label '%s': use 1 to 32 of a-z, 0-9 and _", label);
		goto out;
	}
	if (!p->ndisks && !p->has_nvme) {
		rc = err_set(POE_FAIL, "VM %d has no disk on a storage configured for pve-ontap",
			     o->vmid);
		goto out;
	}
	out->created = o->when ? o->when : time(NULL);
	ops_snapshot_name(label, out->created, out->name, sizeof(out->name));
	util_strlcpy(out->label, label, sizeof(out->label));
	snprintf(comment, sizeof(comment), "pve-ontap vm=%d label=%s phase=%s", o->vmid, label,
		 ctx->phase ? ctx->phase : "manual");

	ops_interrupted = 0;
	rc = ops_quiesce_begin(ctx, p->vm, o->quiesce, &qs);
	if (rc == 0)
		rc = clone_disks(ctx, p, out->name, out, dsts, made);
	if (rc == 0 && p->has_nvme && !ops_interrupted) {
		rc = ops_nvme_vm_snapshot_create(ctx, p->vm, out->name, comment, label, out);
		nvme_done = rc == 0;
	}
	rq = ops_quiesce_end(ctx, p->vm, &qs);
	if (rc == 0 && ops_interrupted)
		rc = err_set(POE_FAIL, "interrupted by a signal");
	if (rc == 0 && rq < 0)
		rc = rq;
	if (rc < 0) {
		int saved = rc;
		char msg[1024];

		util_strlcpy(msg, err_msg(), sizeof(msg));
		rollback_clones(ctx, p, dsts, made);
		if (nvme_done)
			ops_nvme_vm_snapshot_delete(ctx, p->vm, out->name);
		rc = err_set(saved, "cannot snapshot VM %d as '%s': %s", o->vmid, out->name, msg);
		goto out;
	}
	if (o->queue_rescan && out->ndisks) {
		bool nfs = false;

		for (int i = 0; i < out->ndisks; i++)
			nfs |= !strcmp(out->disks[i].kind, "file-clone");
		if (nfs && ops_queue(ctx, o->vmid, QUEUE_RESCAN, NULL) < 0)
			log_warn("snapshot taken, but the rescan job was not queued: %s", err_msg());
	}
out:
	free(dsts);
	return rc;
}

int ops_vm_snapshot_create(struct ops_ctx *ctx, const struct vm_snapshot_opts *o,
			   struct vm_snapshot *out)
{
	struct vm_plan *p = util_xcalloc(1, sizeof(*p));
	int rc;

	rc = plan_build(ctx, o->vmid, o->include, o->exclude, false, p);
	if (rc == 0)
		rc = create_with_plan(ctx, p, o, out);
	plan_release(p);
	free(p);
	return rc;
}

/* ---- delete and prune ---- */

static int delete_snapshot(struct ops_ctx *ctx, struct vm_plan *p, const struct vm_snapshot *s)
{
	const char *paths[OPS_MAX_DISKS], *stores[OPS_MAX_DISKS];
	bool nvme = false;
	int n = 0, rc = 0, r;

	for (int i = 0; i < s->ndisks; i++) {
		if (!strcmp(s->disks[i].kind, "file-clone")) {
			paths[n] = s->disks[i].path;
			stores[n++] = s->disks[i].storage;
		} else {
			nvme = true;
		}
	}
	if (n)
		rc = delete_clones(ctx, p, paths, stores, n);
	if (nvme) {
		r = ops_nvme_vm_snapshot_delete(ctx, p->vm, s->name);
		if (r < 0 && rc == 0)
			rc = r;
	}
	if (rc < 0)
		return err_prefix(rc, "cannot delete snapshot '%s' of VM %d", s->name, p->vm->vmid);
	/* PVE may list the clones as unusedN: the watcher drops them (the VM may be locked) */
	for (int i = 0; i < n; i++) {
		const char *file = strrchr(paths[i], '/');
		char volid[512];

		snprintf(volid, sizeof(volid), "%s:%d/%s", stores[i], p->vm->vmid,
			 file ? file + 1 : paths[i]);
		if (ops_queue(ctx, p->vm->vmid, QUEUE_UNUSED_REMOVE, volid) < 0)
			log_warn("cannot queue the removal of '%s' from the VM config: %s", volid,
				 err_msg());
	}
	return 0;
}

int ops_vm_snapshot_delete(struct ops_ctx *ctx, int vmid, const char *name)
{
	struct vm_plan *p = util_xcalloc(1, sizeof(*p));
	struct vm_snapshot *snaps = NULL;
	int n = 0, rc;

	if (!ops_parse_snapshot_name(name, NULL, 0, &(time_t){ 0 })) {
		rc = err_set(POE_USAGE, "'%s' is not a pve-ontap snapshot name (<label>-<YYYYMMDDTHHMMSSZ>)",
			     name);
		goto out;
	}
	rc = plan_build(ctx, vmid, NULL, NULL, true, p);
	if (rc == 0)
		rc = list_plan(ctx, p, &snaps, &n);
	if (rc < 0)
		goto out;
	rc = err_set(POE_NOTFOUND, "VM %d has no snapshot '%s'", vmid, name);
	for (int i = 0; i < n; i++)
		if (!strcmp(snaps[i].name, name))
			rc = delete_snapshot(ctx, p, &snaps[i]);
	if (rc == 0)
		err_clear();
out:
	free(snaps);
	plan_release(p);
	free(p);
	return rc;
}

/* Does retention by hand consider this label? Snapshots taken by hand or as a safety net
 * before a restore are pruned only when asked for by their label. */
static bool prune_label_matches(const char *have, const char *label)
{
	if (label)
		return !strcmp(have, label);
	return strcmp(have, "manual") != 0 && strcmp(have, "prerestore") != 0;
}

/* How many newer snapshots share s's label (list oldest first, so: those after i). */
static int newer_with_label(const struct vm_snapshot *snaps, int n, int i)
{
	int newer = 0;

	for (int j = i + 1; j < n; j++)
		newer += !strcmp(snaps[j].label, snaps[i].label);
	return newer;
}

int ops_vm_snapshot_prune_select(struct ops_ctx *ctx, int vmid, const char *label, int keep,
				 struct vm_snapshot **pruned, int *npruned)
{
	struct vm_plan *p = util_xcalloc(1, sizeof(*p));
	struct vm_snapshot *snaps = NULL;
	int n = 0, deleted = 0, rc;

	if (pruned) {
		*pruned = NULL;
		*npruned = 0;
	}
	rc = plan_build(ctx, vmid, NULL, NULL, true, p);
	if (rc == 0)
		rc = list_plan(ctx, p, &snaps, &n);
	if (rc < 0)
		goto out;
	/* oldest first: a snapshot goes when keep newer ones of its label exist */
	for (int i = 0; i < n; i++) {
		if (!prune_label_matches(snaps[i].label, label) ||
		    newer_with_label(snaps, n, i) < keep)
			continue;
		rc = delete_snapshot(ctx, p, &snaps[i]);
		if (rc < 0)
			goto out;
		log_info("%s snapshot '%s' of VM %d (keep %d %s)",
			 ctx->dry_run ? "would prune" : "pruned", snaps[i].name, vmid, keep,
			 snaps[i].label);
		if (pruned)
			*ops_snapshot_find_or_add(pruned, npruned, snaps[i].name) = snaps[i];
		deleted++;
	}
	rc = deleted;
out:
	free(snaps);
	plan_release(p);
	free(p);
	return rc;
}

int ops_vm_snapshot_prune(struct ops_ctx *ctx, int vmid, const char *label, int keep)
{
	return ops_vm_snapshot_prune_select(ctx, vmid, label, keep, NULL, NULL);
}

/* ---- restore ---- */

static int restore_nfs(struct ops_ctx *ctx, struct vm_plan *p, const struct vm_snapshot *s,
		       const struct vm_snapshot *safety, bool force)
{
	const char *srcs[OPS_MAX_DISKS] = { NULL };
	int rc = 0;

	/* every current NFS disk must be in the snapshot, or --force restores a subset */
	for (int i = 0; i < p->ndisks; i++) {
		for (int k = 0; k < s->ndisks; k++)
			if (!strcmp(s->disks[k].kind, "file-clone") &&
			    !strcmp(s->disks[k].disk, p->disks[i].d->key))
				srcs[i] = s->disks[k].path;
		if (!srcs[i] && !force)
			return err_set(POE_FAIL,
				       "snapshot '%s' has no copy of %s (added later?): use --force to restore the other disks",
				       s->name, p->disks[i].d->key);
	}
	for (int v = 0; v < p->nvols && rc == 0; v++) {
		struct ontap_file_op ops[OPS_MAX_DISKS];
		char dsts[OPS_MAX_DISKS][OPS_PATH_MAX];
		int idx[OPS_MAX_DISKS], nops = 0;

		memset(ops, 0, sizeof(ops));
		for (int i = 0; i < p->ndisks; i++) {
			if (p->disks[i].vol != &p->vols[v] || !srcs[i])
				continue;
			snprintf(dsts[nops], sizeof(dsts[nops]), "%s/%s", p->disks[i].dir,
				 p->disks[i].file);
			ops[nops].src = srcs[i];
			ops[nops].dst = dsts[nops];
			ops[nops].overwrite = true;
			idx[nops++] = i;
		}
		if (!nops)
			continue;
		rc = ontap_file_clone_many(p->vols[v].oc, &p->vols[v].vol, ops, nops, ctx->deadline);
		if (rc == 0)
			continue;
		/* put back what was already overwritten, from the safety snapshot */
		for (int k = 0; k < nops; k++) {
			ops[k].overwrite = true;
			ops[k].src = NULL;
			for (int j = 0; safety && j < safety->ndisks; j++)
				if (!strcmp(safety->disks[j].disk, p->disks[idx[k]].d->key))
					ops[k].src = safety->disks[j].path;
			if (ops[k].rc != 0 || !ops[k].src)
				ops[k].src = NULL;
		}
		{
			struct ontap_file_op back[OPS_MAX_DISKS];
			char msg[1024];
			int nb = 0;

			util_strlcpy(msg, err_msg(), sizeof(msg));
			for (int k = 0; k < nops; k++)
				if (ops[k].src)
					back[nb++] = ops[k];
			if (nb && ontap_file_clone_many(p->vols[v].oc, &p->vols[v].vol, back, nb,
							0) < 0)
				log_error("could not put back %d disk(s) from the safety snapshot '%s': %s",
					  nb, safety->name, err_msg());
			else if (nb)
				log_info("put back %d disk(s) from the safety snapshot '%s'", nb,
					 safety->name);
			rc = err_set(rc, "%s", msg);
		}
	}
	return rc;
}

int ops_vm_snapshot_restore(struct ops_ctx *ctx, int vmid, const char *name, bool force)
{
	struct vm_plan *p = util_xcalloc(1, sizeof(*p));
	struct vm_snapshot *snaps = NULL, *s = NULL, safety;
	struct vm_snapshot_opts so = { .vmid = vmid, .label = "prerestore", .queue_rescan = true };
	struct pve_vm_status st;
	struct pve_client *pc;
	bool has_nvme;
	char node[64];
	int n = 0, rc;

	memset(&safety, 0, sizeof(safety));
	rc = plan_build(ctx, vmid, NULL, NULL, true, p);
	if (rc == 0)
		rc = list_plan(ctx, p, &snaps, &n);
	if (rc < 0)
		goto out;
	for (int i = 0; i < n; i++)
		if (!strcmp(snaps[i].name, name))
			s = &snaps[i];
	if (!s) {
		rc = err_set(POE_NOTFOUND, "VM %d has no snapshot '%s'", vmid, name);
		goto out;
	}
	/* the disks are overwritten in place: the guest must not be running */
	pc = ops_pve(ctx);
	if (!pc) {
		rc = err_code() ? err_code() : POE_API;
		goto out;
	}
	rc = ops_vm_node(ctx, p->vm, node, sizeof(node));
	if (rc == 0)
		rc = pve_vm_status(pc, node, vmid, &st, ctx->deadline);
	if (rc < 0)
		goto out;
	if (strcmp(st.status, "stopped") != 0) {
		rc = err_set(POE_FAIL, "VM %d is %s: stop it before restoring", vmid, st.status);
		goto out;
	}
	/*
	 * The safety snapshot covers the NFS disks only: ONTAP's CG restore deletes every CG
	 * snapshot newer than the one restored, so one taken now would be gone afterwards.
	 */
	has_nvme = p->has_nvme;
	p->has_nvme = false;
	if (p->ndisks) {
		rc = create_with_plan(ctx, p, &so, &safety);
		if (rc < 0) {
			rc = err_prefix(rc, "cannot take the safety snapshot before restoring");
			goto out;
		}
		log_info("safety snapshot '%s' taken of the NFS disks", safety.name);
	}
	p->has_nvme = has_nvme;
	if (has_nvme)
		log_warn("VM %d: the NVMe disks are rolled back without a safety copy (a CG restore discards newer snapshots); 'pve-ontap nvme clone' keeps one first",
			 vmid);
	rc = restore_nfs(ctx, p, s, p->ndisks ? &safety : NULL, force);
	if (rc == 0 && p->has_nvme)
		rc = ops_nvme_vm_snapshot_restore(ctx, p->vm, name, force);
	if (rc < 0)
		rc = safety.name[0] ?
			     err_prefix(rc, "cannot restore VM %d to '%s' (safety snapshot '%s' kept)",
					vmid, name, safety.name) :
			     err_prefix(rc, "cannot restore VM %d to '%s'", vmid, name);
out:
	free(snaps);
	plan_release(p);
	free(p);
	return rc;
}
