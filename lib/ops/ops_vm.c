/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM snapshots. NFS disks get one ONTAP single-file clone each, next to the disk in
 * images/<vmid>/ (DESIGN.md "Names"), all clones of a volume in one parallel batch; NVMe
 * disks get one consistency-group snapshot (ops_nvme.c). ONTAP is the source of truth:
 * listing reads the image directories through the files API, so it works on any node and
 * before the storage is mounted (pre-start).
 */
#include "ops/ops.h"

#include <stdarg.h>
#include <pthread.h>
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
/* Undoing a failed create outside a hook: a grace period past the run's own deadline. */
#define OPS_CLEANUP_GRACE_MS 15000
/* The least time undoing gets, even when the hook's share is used up. */
#define OPS_CLEANUP_MIN_MS 1000

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

/* Does the drive take part, by kind and by the include/exclude lists? */
static bool drive_selected(const struct pve_drive *d, const char *const *include,
			   const char *const *exclude)
{
	if (d->is_cdrom || d->is_unused)
		return false;
	if (include && !in_list(include, d->key))
		return false;
	return !(exclude && in_list(exclude, d->key));
}

/* A volid "<configured NFS storage>:..." that did not split as PVE splits one. */
static const struct config_storage *unsplit_storage(const struct config *cfg,
						    const struct pve_drive *d)
{
	const char *colon = d->volid ? strchr(d->volid, ':') : NULL;
	char id[64];

	if (d->storage || !colon || (size_t)(colon - d->volid) >= sizeof(id))
		return NULL;
	snprintf(id, sizeof(id), "%.*s", (int)(colon - d->volid), d->volid);
	return config_storage_find(cfg, id);
}

/*
 * One selected drive: a disk image on a configured NFS storage goes into p->disks (its
 * volume resolved later); 1 = not ours (skipped, with a note unless quiet). A reference
 * PVE would not accept on a configured storage is refused unless quiet (listing skips it).
 */
static int plan_drive(struct ops_ctx *ctx, struct vm_plan *p, const struct pve_drive *d,
		      bool quiet, const struct config_storage **st_out)
{
	const struct config_storage *st;
	struct pve_volname vn;
	struct vm_disk *vd;
	size_t stem;

	if (is_nvme_volid(ctx->cfg, d->volid)) {
		p->has_nvme = true;
		return 1;
	}
	st = d->storage ? config_storage_find(ctx->cfg, d->storage) : unsplit_storage(ctx->cfg, d);
	if (!st || st->protocol != STORAGE_NFS) {
		if (!quiet)
			log_info("skipping %s: '%s' is not on a storage configured for pve-ontap",
				 d->key, d->volid);
		return 1;
	}
	if (!d->volume || pve_volname_parse(d->volume, &vn) == PVE_VOL_INVALID) {
		if (quiet)
			return 1;
		return err_set(POE_FAIL, "%s of VM %d refers to '%s', which PVE does not accept as a volume of storage '%s': %s",
			       d->key, p->vm->vmid, d->volid, st->id,
			       d->volume ? vn.why : "no volume name");
	}
	if (vn.vtype != PVE_VOL_IMAGES) {
		if (!quiet)
			log_info("skipping %s: '%s' is not a disk image", d->key, d->volid);
		return 1;
	}
	if (p->ndisks >= OPS_MAX_DISKS)
		return err_set(POE_FAIL, "VM %d has more than %d disks", p->vm->vmid, OPS_MAX_DISKS);
	vd = &p->disks[p->ndisks++];
	memset(vd, 0, sizeof(*vd));
	vd->d = d;
	util_strlcpy(vd->file, vn.name, sizeof(vd->file)); /* sizes of pve_volname's: no cut */
	util_strlcpy(vd->ext, vn.format, sizeof(vd->ext));
	stem = strlen(vn.name) - strlen(vn.format) - 1;
	memcpy(vd->stem, vn.name, stem);
	vd->stem[stem] = '\0';
	/* the directory is the owner's (a linked clone's too), whatever the name says */
	snprintf(vd->dir, sizeof(vd->dir), "images/%s", vn.owner);
	*st_out = st;
	return 0;
}

/*
 * Load the VM config and decide which disks take part. include/exclude filter by key;
 * quiet=true suppresses the "skipping" notes and skips references PVE would refuse
 * (listing, pruning); otherwise such a reference fails the plan, before any request.
 */
static int plan_build(struct ops_ctx *ctx, int vmid, const char *const *include,
		      const char *const *exclude, bool quiet, struct vm_plan *p)
{
	const struct config_storage *sts[OPS_MAX_DISKS];
	int rc;

	memset(p, 0, sizeof(*p));
	rc = pve_vmconf_load(ctx->cfg->paths.pve_etc, vmid, &p->vm);
	if (rc == POE_NOTFOUND)
		return err_set(POE_NOTFOUND, "VM %d not found (no config under '%s')", vmid,
			       ctx->cfg->paths.pve_etc);
	if (rc < 0)
		return rc;
	if (!quiet) /* creating, restoring: one parallel clone round per volume */
		ctx->parallel_hint = p->vm->ndrives; /* an upper bound of its width */
	/* every drive is checked first: a refusal comes before any request */
	for (int i = 0; i < p->vm->ndrives; i++) {
		const struct pve_drive *d = &p->vm->drives[i];

		if (!drive_selected(d, include, exclude))
			continue;
		rc = plan_drive(ctx, p, d, quiet, &sts[p->ndisks]);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < p->ndisks; i++) {
		struct vm_disk *vd = &p->disks[i];
		char dir[sizeof(vd->dir)];

		rc = plan_volume(ctx, p, sts[i], &vd->vol);
		if (rc < 0)
			return err_prefix(rc, "cannot find the ONTAP volume of %s", vd->d->key);
		util_strlcpy(dir, vd->dir, sizeof(dir)); /* same size: cannot be cut */
		if (strlen(vd->vol->subdir) + strlen(dir) >= sizeof(vd->dir))
			return err_set(POE_FAIL, "path of %s below export '%s' is too long", vd->d->key,
				       vd->vol->subdir);
		memcpy(vd->dir, vd->vol->subdir, strlen(vd->vol->subdir));
		util_strlcpy(vd->dir + strlen(vd->vol->subdir), dir,
			     sizeof(vd->dir) - strlen(vd->vol->subdir));
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
				util_strlcpy(dir, p->disks[i].dir, sizeof(dir)); /* same size */
		rc = ontap_dir_list(ov->oc, ov->vol.uuid, dir, &files, &nfiles, ctx->deadline);
		if (rc == POE_NOTFOUND && !ops_volume_stale(ctx, ov, rc))
			continue;
		if (rc < 0)
			return err_prefix(rc, "cannot list '%s' on volume '%s'", dir, ov->vol.name);
		for (int f = 0; f < nfiles; f++) {
			char stem[256], snap[96], ext[16], path[OPS_PATH_MAX];
			const struct vm_disk *vd;
			bool ours;

			if (strcmp(files[f].type, "file") != 0 ||
			    !ops_parse_clone_name(files[f].name, stem, sizeof(stem), snap,
						  sizeof(snap), ext, sizeof(ext)))
				continue;
			vd = stem_disk(p, stem, &ours);
			if (!ours)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, files[f].name);
			rc = vm_snapshot_add_disk(ops_snapshot_find_or_add(arr, n, snap),
						  vd ? vd->d->key : stem, "file-clone", ov->st->id,
						  path);
			if (rc < 0)
				break;
		}
		free(files);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int merge_snapshots(struct vm_snapshot **arr, int *n, const struct vm_snapshot *more,
			   int nmore)
{
	for (int i = 0; i < nmore; i++) {
		struct vm_snapshot *s = ops_snapshot_find_or_add(arr, n, more[i].name);

		for (int d = 0; d < more[i].ndisks; d++) {
			const struct vm_snapshot_disk *md = &more[i].disks[d];
			int rc = vm_snapshot_add_disk(s, md->disk, md->kind, md->storage, md->path);

			if (rc < 0)
				return rc;
		}
		if (!s->created)
			s->created = more[i].created;
	}
	return 0;
}

static bool snapshot_has(const struct vm_snapshot *s, const char *key, const char *kind)
{
	for (int k = 0; k < s->ndisks; k++)
		if (!strcmp(s->disks[k].disk, key) && !strcmp(s->disks[k].kind, kind))
			return true;
	return false;
}

/*
 * The current disks each snapshot lacks. An NFS disk without its clone: PVE frees the file
 * when its unusedN entry is removed (qm set --delete, the GUI's Remove, qm destroy;
 * reference/pve.md Additions), or the disk came later. An NVMe drive counts once some
 * snapshot of the VM covers it (a drive outside every pool is in none).
 */
static int mark_missing(const struct vm_plan *p, struct vm_snapshot *arr, int n)
{
	const char **nvme = util_xcalloc((size_t)p->vm->ndrives + 1, sizeof(*nvme));
	int nn = 0, rc = 0;

	for (int i = 0; i < p->vm->ndrives; i++) {
		const char *key = p->vm->drives[i].key;

		for (int k = 0; k < n; k++) {
			if (snapshot_has(&arr[k], key, "cg-snapshot")) {
				nvme[nn++] = key;
				break;
			}
		}
	}
	for (int k = 0; k < n && rc == 0; k++) {
		arr[k].nmissing = 0;
		for (int i = 0; i < p->ndisks && rc == 0; i++)
			if (!snapshot_has(&arr[k], p->disks[i].d->key, "file-clone"))
				rc = vm_snapshot_add_missing(&arr[k], p->disks[i].d->key);
		for (int i = 0; i < nn && rc == 0; i++)
			if (!snapshot_has(&arr[k], nvme[i], "cg-snapshot"))
				rc = vm_snapshot_add_missing(&arr[k], nvme[i]);
	}
	free(nvme);
	return rc;
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
			rc = merge_snapshots(&arr, &narr, nv, nnv);
		ops_vm_snapshot_list_free(nv, nnv);
	}
	/* qsort swaps whole records: each still has one owner */
	if (rc == 0 && narr > 1)
		qsort(arr, (size_t)narr, sizeof(*arr), snap_cmp);
	if (rc == 0)
		rc = mark_missing(p, arr, narr);
	if (rc < 0) {
		ops_vm_snapshot_list_free(arr, narr);
		return rc;
	}
	*out = arr;
	*n = narr;
	return 0;
}

static int list_once(struct ops_ctx *ctx, int vmid, struct vm_snapshot **out, int *n)
{
	struct vm_plan *p = util_xcalloc(1, sizeof(*p)); /* ~90 KB: not on the stack */
	int rc;

	*out = NULL;
	*n = 0;
	rc = plan_build(ctx, vmid, NULL, NULL, true, p);
	if (rc == 0)
		rc = list_plan(ctx, p, out, n);
	plan_release(p);
	free(p);
	return rc;
}

/* A cached volume that turned out stale made the first try fail having made nothing. */
int ops_vm_snapshot_list(struct ops_ctx *ctx, int vmid, struct vm_snapshot **out, int *n)
{
	int rc = list_once(ctx, vmid, out, n);

	if (ops_volume_retry(ctx, rc))
		rc = list_once(ctx, vmid, out, n);
	return rc;
}

/* ---- create ---- */

/* Delete clone files of a failed or deleted snapshot, volume by volume. */
static int delete_clones(struct ops_ctx *ctx, const struct vm_plan *p, const char *const *paths,
			 const char *const *storages, int n)
{
	struct ontap_file_op *ops = calloc((size_t)n + 1, sizeof(*ops));
	int rc = 0;

	if (!ops)
		return err_set(POE_FAIL, "out of memory deleting %d clone files", n);
	for (int v = 0; v < p->nvols; v++) {
		int nops = 0, r;

		memset(ops, 0, ((size_t)n + 1) * sizeof(*ops));
		for (int i = 0; i < n; i++)
			if (!strcmp(storages[i], p->vols[v].st->id))
				ops[nops++].dst = paths[i];
		if (!nops)
			continue;
		r = ontap_file_delete_many(p->vols[v].oc, &p->vols[v].vol, ops, nops, ctx->deadline);
		if (r < 0 && rc == 0)
			rc = r;
	}
	free(ops);
	return rc;
}

/*
 * The clones of one create, per disk (index as in plan->disks): destination path, and the
 * request's outcome. A clone counts as made when ONTAP said so, and as possibly made
 * (op.maybe) when the answer was lost or its job outlived the deadline.
 */
struct clone_set {
	char (*dsts)[OPS_PATH_MAX];
	char (*srcs)[OPS_PATH_MAX];
	struct ontap_file_op *op;
	bool *sent;
};

static void clone_set_init(struct clone_set *cs)
{
	cs->dsts = util_xcalloc(OPS_MAX_DISKS, sizeof(*cs->dsts));
	cs->srcs = util_xcalloc(OPS_MAX_DISKS, sizeof(*cs->srcs));
	cs->op = util_xcalloc(OPS_MAX_DISKS, sizeof(*cs->op));
	cs->sent = util_xcalloc(OPS_MAX_DISKS, sizeof(*cs->sent));
}

static void clone_set_release(struct clone_set *cs)
{
	free(cs->dsts);
	free(cs->srcs);
	free(cs->op);
	free(cs->sent);
}

static bool clone_made(const struct clone_set *cs, int i)
{
	return cs->sent[i] && cs->op[i].rc == 0;
}

/* Was a clone made, or may one have been (answer lost, job outlived the deadline)? */
static bool clones_may_exist(const struct vm_plan *p, const struct clone_set *cs)
{
	for (int i = 0; i < p->ndisks; i++)
		if (cs->sent[i] && (cs->op[i].rc == 0 || cs->op[i].maybe))
			return true;
	return false;
}

/* The disks of volume v whose clone may exist (made or unknown), in idx; returns how many. */
static int clones_on(const struct vm_plan *p, const struct clone_set *cs, int v, int *idx)
{
	int n = 0;

	for (int i = 0; i < p->ndisks; i++)
		if (p->disks[i].vol == &p->vols[v] && cs->sent[i] &&
		    (cs->op[i].rc == 0 || cs->op[i].maybe))
			idx[n++] = i;
	return n;
}

static void clone_volume(struct ops_ctx *ctx, struct vm_plan *p, int v, const char *name,
			 struct clone_set *cs, int *rc)
{
	struct ontap_file_op *ops = util_xcalloc(OPS_MAX_DISKS, sizeof(*ops));
	int idx[OPS_MAX_DISKS], nops = 0, r;

	for (int i = 0; i < p->ndisks; i++) {
		struct vm_disk *vd = &p->disks[i];

		if (vd->vol != &p->vols[v])
			continue;
		/* a cut path would clone the wrong file or name the clone wrongly: refuse */
		if ((size_t)snprintf(cs->srcs[i], OPS_PATH_MAX, "%s/%s", vd->dir, vd->file) >=
			    OPS_PATH_MAX ||
		    (size_t)snprintf(cs->dsts[i], OPS_PATH_MAX, "%s/%s-snap-%s.%s", vd->dir,
				     vd->stem, name, vd->ext) >= OPS_PATH_MAX) {
			*rc = err_set(POE_FAIL, "the clone path of %s is longer than %d bytes",
				      vd->d->key, OPS_PATH_MAX - 1);
			goto out;
		}
		ops[nops].src = cs->srcs[i];
		ops[nops].dst = cs->dsts[i];
		idx[nops++] = i;
	}
	if (!nops)
		goto out;
	r = ontap_file_clone_many(p->vols[v].oc, &p->vols[v].vol, ops, nops, ctx->deadline);
	for (int k = 0; k < nops; k++) {
		cs->op[idx[k]] = ops[k];
		cs->sent[idx[k]] = true;
		if (ops[k].rc < 0) /* detail per disk; the command's own error names the first */
			log_info("clone of %s failed%s: %s", p->disks[idx[k]].d->key,
				 ops[k].maybe ? " (outcome unknown)" : "",
				 ops[k].err[0] ? ops[k].err : "unknown error");
	}
	if (r < 0 && *rc == 0)
		*rc = r;
out:
	free(ops);
}

static int clone_disks(struct ops_ctx *ctx, struct vm_plan *p, const char *name,
		       struct vm_snapshot *out, struct clone_set *cs)
{
	int rc = 0;

	/* one volume's batch at a time: a signal stops the run between batches */
	for (int v = 0; v < p->nvols && rc == 0 && !ops_interrupted; v++) {
		clone_volume(ctx, p, v, name, cs, &rc);
		/* nothing may exist yet and the volume is not there: the caller retries */
		if (rc < 0 && !clones_may_exist(p, cs))
			ops_volume_stale(ctx, &p->vols[v], rc);
	}
	for (int i = 0; i < p->ndisks; i++) {
		int r;

		if (!clone_made(cs, i))
			continue;
		r = vm_snapshot_add_disk(out, p->disks[i].d->key, "file-clone",
					 p->disks[i].vol->st->id, cs->dsts[i]);
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

/* Is the clone op one whose answer never came and whose job is unknown? */
static bool clone_unanswered(const struct ontap_file_op *op)
{
	return op->maybe && !op->job[0];
}

/* Look the unanswered clones of one directory up by name; returns how many stay unknown. */
static int look_up_dir(struct ops_volume *ov, struct ontap_file_op *ops, int n, int k,
		       int64_t deadline)
{
	struct ontap_file *files = NULL;
	size_t dl = (size_t)(strrchr(ops[k].dst, '/') - ops[k].dst);
	char dir[OPS_PATH_MAX];
	int nfiles = 0, left = 0, rc;

	snprintf(dir, sizeof(dir), "%.*s", (int)dl, ops[k].dst);
	rc = ontap_dir_list(ov->oc, ov->vol.uuid, dir, &files, &nfiles, deadline);
	for (int j = k; j < n; j++) {
		const char *base = strrchr(ops[j].dst, '/');
		bool found = false;

		if (!clone_unanswered(&ops[j]) || !base || (size_t)(base - ops[j].dst) != dl ||
		    strncmp(ops[j].dst, dir, dl) != 0)
			continue;
		for (int f = 0; f < nfiles && !found; f++)
			found = !strcmp(files[f].name, base + 1);
		if (found) {
			ops[j].maybe = false;
			ops[j].rc = 0;
		} else if (rc == 0 || rc == POE_NOTFOUND) {
			/* not there: a POST that timed out may still be carried out, one that
			 * ended in a closed connection has been (or never will be) */
			if (ops[j].rc != POE_TIMEOUT)
				ops[j].maybe = false;
		}
		left += ops[j].maybe;
	}
	free(files);
	return left;
}

/*
 * The clones whose POST got no answer (ONTAP completes a request whose connection dropped):
 * find their destinations by name; one whose POST timed out is looked for until deadline,
 * as ONTAP may still be working on it. Those found count as made; the rest as not made,
 * except timed-out ones never seen (they keep maybe).
 */
static void clones_look_up(struct ops_volume *ov, struct ontap_file_op *ops, int n,
			   int64_t deadline)
{
	for (;;) {
		int left = 0;
		bool seen[OPS_MAX_DISKS] = { false };

		for (int k = 0; k < n; k++) {
			if (!clone_unanswered(&ops[k]) || seen[k] || !strrchr(ops[k].dst, '/'))
				continue;
			left += look_up_dir(ov, ops, n, k, deadline);
			for (int j = k; j < n; j++)
				seen[j] = seen[j] || !strncmp(ops[j].dst, ops[k].dst,
						(size_t)(strrchr(ops[k].dst, '/') - ops[k].dst) + 1);
		}
		if (!left || util_sleep_ms(300, deadline) < 0)
			break;
	}
}

/* Append text to a note buffer; a note too long for it ends in "...". */
static void __attribute__((format(printf, 3, 4)))
note_add(char *note, size_t size, const char *fmt, ...)
{
	size_t len = strlen(note);
	va_list ap;
	int w;

	if (len + 8 >= size)
		return;
	va_start(ap, fmt);
	w = vsnprintf(note + len, size - len, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= size - len)
		util_strlcpy(note + size - 4, "...", 4);
}

/* Undo the clones of volume v: wait for unknown ones, look them up, delete what may exist. */
static int rollback_volume(struct vm_plan *p, struct clone_set *cs, int v, int64_t deadline,
			   char *note, size_t size)
{
	struct ontap_file_op *ops = util_xcalloc(OPS_MAX_DISKS, sizeof(*ops));
	struct ontap_file_op *del = util_xcalloc(OPS_MAX_DISKS, sizeof(*del));
	int idx[OPS_MAX_DISKS], n, nd = 0, removed = 0;
	struct ops_volume *ov = &p->vols[v];

	n = clones_on(p, cs, v, idx);
	for (int k = 0; k < n; k++)
		ops[k] = cs->op[idx[k]];
	if (ontap_file_clone_wait(ov->oc, ops, n, deadline) < 0)
		log_info("a clone job of the failed snapshot is still running");
	clones_look_up(ov, ops, n, deadline);
	/* made, or still unknown: delete (what may still appear is named in the note) */
	for (int k = 0; k < n; k++) {
		if (ops[k].rc == 0 || ops[k].maybe) {
			ops[nd] = ops[k];
			del[nd++].dst = ops[k].dst;
		}
	}
	if (nd && ontap_file_delete_many(ov->oc, &ov->vol, del, nd, deadline) < 0)
		log_info("removing clones failed: %s", err_msg());
	for (int k = 0; k < nd; k++) {
		if (del[k].rc < 0)
			note_add(note, size, "; could not remove '%s': %s", del[k].dst, del[k].err);
		else if (ops[k].maybe && ops[k].job[0])
			note_add(note, size, "; ONTAP job %s may still make '%s': delete it when the job ends",
				 ops[k].job, ops[k].dst);
		else if (ops[k].maybe)
			note_add(note, size, "; the clone to '%s' got no answer: should that file appear, delete it",
				 ops[k].dst);
		else
			removed++;
	}
	free(ops);
	free(del);
	return removed;
}

/*
 * Remove every clone of a failed create that may exist: made, answer lost, or job still
 * running, within ctx->deadline (create_failed() sets it to the cleanup deadline). note
 * gets the state to report ("" when there was nothing to undo).
 */
static void rollback_clones(struct ops_ctx *ctx, struct vm_plan *p, struct clone_set *cs,
			    char *note, size_t size)
{
	int removed = 0, idx[OPS_MAX_DISKS];
	bool any = false;

	note[0] = '\0';
	for (int v = 0; v < p->nvols; v++)
		any |= clones_on(p, cs, v, idx) > 0;
	if (!any)
		return;
	for (int v = 0; v < p->nvols; v++)
		removed += rollback_volume(p, cs, v, ctx->deadline, note, size);
	if (!note[0] && removed)
		note_add(note, size, "; the %d clone(s) made were removed", removed);
	else if (!note[0])
		note_add(note, size, "; no clone was made");
}

/* The cause of a failed create, with what was done about it; rc is the cause's code. */
static int create_failed(struct ops_ctx *ctx, struct vm_plan *p, struct clone_set *cs,
			 const struct vm_snapshot *out, bool nvme_done, int rc)
{
	int64_t saved_ctx, deadline;
	struct err_saved failure;
	char note[1024];
	int sig = ops_interrupted;

	if (sig && (rc == 0 || rc == POE_FAIL))
		rc = err_set(POE_FAIL, "interrupted by %s", ops_signal_name(sig));
	err_save(&failure);
	/* undoing runs until the cleanup deadline (the hook's timeout), else a grace period of
	 * its own: the run's deadline may be what failed, and half a snapshot must not stay.
	 * In ctx->deadline, not bounded by the global deadline (the hook's work share). */
	saved_ctx = ctx->deadline;
	deadline = ctx->cleanup_deadline;
	if (!deadline || deadline < util_now_ms() + OPS_CLEANUP_MIN_MS)
		deadline = util_now_ms() + (deadline ? OPS_CLEANUP_MIN_MS : OPS_CLEANUP_GRACE_MS);
	ctx->deadline = util_deadline_own(deadline - util_now_ms());
	rollback_clones(ctx, p, cs, note, sizeof(note));
	if (nvme_done && ops_nvme_vm_snapshot_delete(ctx, p->vm, out->name) < 0)
		note_add(note, sizeof(note), "; its CG snapshot could not be removed: %s",
			 err_msg());
	ctx->deadline = saved_ctx;
	if (sig && !note[0])
		note_add(note, sizeof(note), "; nothing was made");
	return err_set(rc, "cannot snapshot VM %d as '%s': %s%s", p->vm->vmid,
		       out->name, failure.msg, note);
}

/* "<storage>:<vmid>/<file>" of a clone file (path relative to the volume). */
static int clone_volid(char *out, size_t n, const char *storage, int vmid, const char *path)
{
	const char *file = strrchr(path, '/');
	int len = snprintf(out, n, "%s:%d/%s", storage, vmid, file ? file + 1 : path);

	if (len < 0 || (size_t)len >= n)
		return err_set(POE_FAIL, "volume id of clone '%s' on '%s' is too long", path,
			       storage);
	return 0;
}

/*
 * Each new clone file becomes one register job (DESIGN.md "Job queue"): the watcher adds
 * exactly that volume as the VM's next unusedN. Never a whole-VM rescan, which would add
 * the images of every other storage (FlexClone mounts included) as well.
 */
static void queue_register_clones(struct ops_ctx *ctx, int vmid, const struct vm_snapshot *s)
{
	char volid[512];

	for (int i = 0; i < s->ndisks; i++) {
		const struct vm_snapshot_disk *d = &s->disks[i];

		if (strcmp(d->kind, "file-clone") != 0)
			continue;
		if (clone_volid(volid, sizeof(volid), d->storage, vmid, d->path) < 0 ||
		    ops_queue(ctx, vmid, QUEUE_REGISTER, volid) < 0)
			log_warn("snapshot taken, but clone '%s' was not queued for registration: %s",
				 d->path, err_msg());
	}
}

static int create_with_plan(struct ops_ctx *ctx, struct vm_plan *p,
			    const struct vm_snapshot_opts *o, struct vm_snapshot *out)
{
	const char *label = o->label ? o->label : "manual";
	struct clone_set cs;
	struct quiesce_state qs;
	char comment[160];
	bool nvme_done = false, restarts, failed;
	int rc, rq;

	vm_snapshot_clear(out); /* a first try's record (retry) */
	if (!ops_is_valid_label(label))
		return err_set(POE_USAGE, "bad label '%s': use 1 to 32 of a-z, 0-9 and _", label);
	if (!p->ndisks && !p->has_nvme)
		return err_set(POE_FAIL, "VM %d has no disk on a storage configured for pve-ontap",
			       o->vmid);
	out->created = o->when ? o->when : time(NULL);
	ops_snapshot_name(label, out->created, out->name, sizeof(out->name));
	util_strlcpy(out->label, label, sizeof(out->label)); /* a valid label fits */
	snprintf(comment, sizeof(comment), "pve-ontap vm=%d label=%s phase=%s", o->vmid, label,
		 ctx->phase ? ctx->phase : "manual");

	clone_set_init(&cs);
	memset(&qs, 0, sizeof(qs));
	rc = ops_interrupted ? POE_FAIL : 0;
	/* a stale cached volume is found before the guest is touched */
	for (int v = 0; v < p->nvols && o->quiesce != QUIESCE_NONE && rc == 0; v++)
		rc = ops_volume_check(ctx, &p->vols[v], p->ndisks);
	if (rc < 0 && !ops_interrupted)
		goto out;
	if (rc == 0)
		rc = ops_quiesce_begin(ctx, p->vm, o->quiesce, &qs);
	if (rc == 0 && !ops_interrupted)
		rc = clone_disks(ctx, p, out->name, out, &cs);
	if (rc == 0 && p->has_nvme && !ops_interrupted) {
		rc = ops_nvme_vm_snapshot_create(ctx, p->vm, out->name, comment, label, out);
		nvme_done = rc == 0;
	}
	failed = rc < 0 || ops_interrupted;
	/* a VM started again runs its hookscript, which takes the VM's lock and lists its
	 * snapshots: a failed one is removed first, while the lock is still ours */
	restarts = ops_quiesce_restarts(&qs);
	if (failed && restarts)
		rc = create_failed(ctx, p, &cs, out, nvme_done, rc);
	rq = ops_quiesce_end(ctx, p->vm, &qs);
	if (failed) {
		if (!restarts)
			rc = create_failed(ctx, p, &cs, out, nvme_done, rc);
		goto out;
	}
	/* the snapshot is complete: it is kept, whatever became of the guest */
	if (rq < 0) {
		rc = err_set(POE_FAIL, "snapshot '%s' of VM %d was taken and is kept, but %s",
			     out->name, o->vmid, err_msg());
		goto out;
	}
	if (o->queue_rescan)
		queue_register_clones(ctx, o->vmid, out);
out:
	clone_set_release(&cs);
	return rc;
}

static int create_once(struct ops_ctx *ctx, const struct vm_snapshot_opts *o,
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

int ops_vm_snapshot_create(struct ops_ctx *ctx, const struct vm_snapshot_opts *o,
			   struct vm_snapshot *out)
{
	int rc = create_once(ctx, o, out);

	if (ops_volume_retry(ctx, rc))
		rc = create_once(ctx, o, out);
	return rc;
}

/* ---- delete and prune ---- */

/* The plan and the snapshots of a delete or prune; the listing GET opens the connections
 * of the delete round beside it (a volume found in the cache had no look-up GET for it). */
static int plan_for_delete(struct ops_ctx *ctx, int vmid, struct vm_plan *p,
			   struct vm_snapshot **snaps, int *n)
{
	int rc = plan_build(ctx, vmid, NULL, NULL, true, p);

	if (rc < 0)
		return rc;
	for (int v = 0; v < p->nvols; v++)
		ontap_client_expect_parallel(p->vols[v].oc, p->ndisks);
	return list_plan(ctx, p, snaps, n);
}

static int delete_snapshot(struct ops_ctx *ctx, struct vm_plan *p, const struct vm_snapshot *s)
{
	const char **paths = calloc((size_t)s->ndisks + 1, sizeof(*paths));
	const char **stores = calloc((size_t)s->ndisks + 1, sizeof(*stores));
	bool nvme = false;
	int n = 0, rc = 0, r;

	if (!paths || !stores) {
		free(paths);
		free(stores);
		return err_set(POE_FAIL, "out of memory deleting snapshot '%s' of VM %d (%d disks)",
			       s->name, p->vm->vmid, s->ndisks);
	}
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
	if (rc < 0) {
		rc = err_prefix(rc, "cannot delete snapshot '%s' of VM %d", s->name, p->vm->vmid);
		n = 0;
	}
	/* PVE may list the clones as unusedN: the watcher drops them (the VM may be locked) */
	for (int i = 0; i < n; i++) {
		char volid[512];

		if (clone_volid(volid, sizeof(volid), stores[i], p->vm->vmid, paths[i]) < 0 ||
		    ops_queue(ctx, p->vm->vmid, QUEUE_UNUSED_REMOVE, volid) < 0)
			log_warn("cannot queue the removal of '%s' from the VM config: %s", volid,
				 err_msg());
	}
	free(paths);
	free(stores);
	return rc;
}

/* The plan and every snapshot of the VM (*snaps, caller frees); *found is the one called
 * name, POE_NOTFOUND when there is none. */
static int plan_find(struct ops_ctx *ctx, int vmid, const char *name, struct vm_plan *p,
		     struct vm_snapshot **snaps, int *n, struct vm_snapshot **found)
{
	int rc = plan_for_delete(ctx, vmid, p, snaps, n);

	*found = NULL;
	if (rc < 0)
		return rc;
	for (int i = 0; i < *n; i++)
		if (!strcmp((*snaps)[i].name, name))
			*found = &(*snaps)[i];
	if (!*found)
		return err_set(POE_NOTFOUND, "VM %d has no snapshot '%s'", vmid, name);
	return 0;
}

static int delete_once(struct ops_ctx *ctx, int vmid, const char *name)
{
	struct vm_plan *p = util_xcalloc(1, sizeof(*p));
	struct vm_snapshot *snaps = NULL, *s;
	int n = 0, rc;

	if (!ops_parse_snapshot_name(name, NULL, 0, &(time_t){ 0 })) {
		rc = err_set(POE_USAGE, "'%s' is not a pve-ontap snapshot name (<label>-<YYYYMMDDTHHMMSSZ>)",
			     name);
		goto out;
	}
	rc = plan_find(ctx, vmid, name, p, &snaps, &n, &s);
	if (rc == 0)
		rc = delete_snapshot(ctx, p, s);
out:
	ops_vm_snapshot_list_free(snaps, n);
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

int ops_vm_snapshot_delete(struct ops_ctx *ctx, int vmid, const char *name)
{
	int rc = delete_once(ctx, vmid, name);

	if (ops_volume_retry(ctx, rc))
		rc = delete_once(ctx, vmid, name);
	return rc;
}

static int prune_once(struct ops_ctx *ctx, int vmid, const char *label, int keep,
		      struct vm_snapshot **pruned, int *npruned)
{
	struct vm_plan *p = util_xcalloc(1, sizeof(*p));
	struct vm_snapshot *snaps = NULL;
	int n = 0, deleted = 0, rc;

	if (pruned) {
		/* a retry starts afresh (ops_volume_retry(): only when nothing was deleted) */
		ops_vm_snapshot_list_free(*pruned, *npruned);
		*pruned = NULL;
		*npruned = 0;
	}
	rc = plan_for_delete(ctx, vmid, p, &snaps, &n);
	if (rc < 0)
		goto out;
	/* oldest first: a snapshot goes when keep newer ones of its label exist */
	for (int i = 0; i < n; i++) {
		if (!prune_label_matches(snaps[i].label, label) ||
		    newer_with_label(snaps, n, i) < keep)
			continue;
		/* a signal stops pruning between snapshots: each one goes whole or not at all */
		if (ops_interrupted) {
			rc = err_set(POE_FAIL, "interrupted by %s after pruning %d snapshot(s) of VM %d; older ones beyond keep %d remain",
				     ops_signal_name(ops_interrupted), deleted, vmid, keep);
			goto out;
		}
		rc = delete_snapshot(ctx, p, &snaps[i]);
		if (rc < 0)
			goto out;
		log_info("%s snapshot '%s' of VM %d (keep %d %s)",
			 ctx->dry_run ? "would prune" : "pruned", snaps[i].name, vmid, keep,
			 snaps[i].label);
		if (pruned)
			vm_snapshot_move(ops_snapshot_find_or_add(pruned, npruned, snaps[i].name),
					 &snaps[i]);
		deleted++;
	}
	rc = deleted;
out:
	ops_vm_snapshot_list_free(snaps, n);
	plan_release(p);
	free(p);
	return rc;
}

int ops_vm_snapshot_prune(struct ops_ctx *ctx, int vmid, const char *label, int keep)
{
	return ops_vm_snapshot_prune_select(ctx, vmid, label, keep, NULL, NULL);
}

int ops_vm_snapshot_prune_select(struct ops_ctx *ctx, int vmid, const char *label, int keep,
				 struct vm_snapshot **pruned, int *npruned)
{
	int rc;

	if (pruned) {
		*pruned = NULL;
		*npruned = 0;
	}
	rc = prune_once(ctx, vmid, label, keep, pruned, npruned);
	if (ops_volume_retry(ctx, rc))
		rc = prune_once(ctx, vmid, label, keep, pruned, npruned);
	return rc;
}

/* ---- restore ---- */

/*
 * PVE's lock on the VM config: another operation owns the disks (migrate, clone, backup,
 * rollback, create, ...), or the VM is hibernated (suspended: its saved RAM belongs to the
 * disks as they are, and resuming after a restore corrupts the guest). force overrides a
 * lock left behind, never "suspended".
 */
static int check_unlocked(int vmid, const char *lock, bool force)
{
	if (!lock || !lock[0])
		return 0;
	if (!strcmp(lock, "suspended"))
		return err_set(POE_FAIL,
			       "VM %d is hibernated (lock 'suspended'): its saved memory belongs to the current disks; resume it and shut it down before restoring (--force does not override this)",
			       vmid);
	if (!force)
		return err_set(POE_FAIL,
			       "VM %d is locked ('%s'): another operation is using its disks; wait for it to end, or add --force if the lock is stale",
			       vmid, lock);
	log_warn("VM %d is locked ('%s'): restoring anyway (--force)", vmid, lock);
	return 0;
}

static void keys_list(const char (*keys)[16], int n, char *out, size_t len)
{
	size_t l = 0;

	out[0] = '\0';
	for (int i = 0; i < n && l < len; i++)
		l += (size_t)snprintf(out + l, len - l, "%s%s", i ? ", " : "", keys[i]);
}

/* An incomplete snapshot is refused unless force; then what it lacks stays as it is. */
static int check_complete(const struct vm_snapshot *s, bool force)
{
	size_t len = (size_t)s->nmissing * 18 + 1; /* "<key<=15>, " each */
	char *keys;
	int rc = 0;

	if (!s->nmissing)
		return 0;
	keys = malloc(len);
	if (!keys)
		return err_set(POE_FAIL, "out of memory checking snapshot '%s'", s->name);
	keys_list((const char (*)[16])s->missing, s->nmissing, keys, len);
	if (!force)
		rc = err_set(POE_FAIL,
			     "snapshot '%s' is incomplete: it has no copy of %s (its clone was deleted, or the disk came later): use --force to restore the other disks",
			     s->name, keys);
	else
		log_warn("snapshot '%s' has no copy of %s: left as it is (--force)", s->name, keys);
	free(keys);
	return rc;
}

/* The clone of plan disk i in snapshot s, or NULL. */
static const char *clone_of(const struct vm_plan *p, int i, const struct vm_snapshot *s)
{
	for (int k = 0; s && k < s->ndisks; k++)
		if (!strcmp(s->disks[k].kind, "file-clone") &&
		    !strcmp(s->disks[k].disk, p->disks[i].d->key))
			return s->disks[k].path;
	return NULL;
}

/*
 * Clone srcs[i] over plan disk i (NULL: leave it), one parallel batch per storage. sent[i]
 * is set for every disk a clone was sent for (a failed one may have been overwritten: ONTAP
 * answers a lost or failed job with no word on the file), failed[i] for those that failed.
 * stop: no storage after the first that failed. Returns the first failure's code.
 */
static int clone_over(struct ops_ctx *ctx, const struct vm_plan *p, const char *const *srcs,
		      bool stop, bool *sent, bool *failed)
{
	char (*dsts)[OPS_PATH_MAX] = util_xcalloc(OPS_MAX_DISKS, sizeof(*dsts));
	struct ontap_file_op *ops = util_xcalloc(OPS_MAX_DISKS, sizeof(*ops));
	struct err_saved first = { 0 };
	int rc = 0;

	for (int v = 0; v < p->nvols && !(stop && rc < 0); v++) {
		int idx[OPS_MAX_DISKS], nops = 0, r;

		memset(ops, 0, OPS_MAX_DISKS * sizeof(*ops));
		for (int i = 0; i < p->ndisks; i++) {
			if (p->disks[i].vol != &p->vols[v] || !srcs[i])
				continue;
			/* dir (< 384) + "/" + file (< 256) always fit OPS_PATH_MAX */
			snprintf(dsts[nops], OPS_PATH_MAX, "%s/%s", p->disks[i].dir,
				 p->disks[i].file);
			ops[nops] = (struct ontap_file_op){ .src = srcs[i], .dst = dsts[nops],
							    .overwrite = true };
			idx[nops++] = i;
		}
		if (!nops)
			continue;
		r = ontap_file_clone_many(p->vols[v].oc, &p->vols[v].vol, ops, nops,
					  ctx->deadline);
		for (int k = 0; k < nops; k++) {
			sent[idx[k]] = true;
			failed[idx[k]] = ops[k].rc != 0;
		}
		if (r < 0 && rc == 0) {
			rc = r;
			err_save(&first);
		}
	}
	free(ops);
	free(dsts);
	return rc < 0 ? err_restore(&first) : 0;
}

/*
 * Put every disk a failed restore sent a clone for back from the safety snapshot, on every
 * storage, with a deadline of its own (the run's may be what failed). Appends to state
 * what it could not undo.
 */
static void put_back(struct ops_ctx *ctx, const struct vm_plan *p, const struct vm_snapshot *safety,
		     const bool *sent, struct buf *state)
{
	const char *srcs[OPS_MAX_DISKS] = { NULL };
	bool tried[OPS_MAX_DISKS] = { false }, failed[OPS_MAX_DISKS] = { false };
	char keys[OPS_MAX_DISKS][16], list[OPS_MAX_DISKS * 18];
	int64_t own = ctx->deadline;
	int nkeys = 0, want = 0;

	for (int i = 0; i < p->ndisks; i++) {
		if (!sent[i])
			continue;
		srcs[i] = clone_of(p, i, safety);
		want++;
		if (!srcs[i]) /* keys for the message; a drive key has the same size */
			util_strlcpy(keys[nkeys++], p->disks[i].d->key, sizeof(keys[0]));
	}
	if (!want)
		return;
	ctx->deadline = util_deadline_own(30000); /* not bounded by the global deadline */
	if (clone_over(ctx, p, srcs, false, tried, failed) < 0)
		log_warn("putting back from '%s': %s", safety->name, err_msg());
	ctx->deadline = own;
	for (int i = 0; i < p->ndisks; i++)
		if (tried[i] && failed[i])
			util_strlcpy(keys[nkeys++], p->disks[i].d->key, sizeof(keys[0]));
	if (!nkeys) {
		buf_note(state, ", every NFS disk put back from it");
		return;
	}
	keys_list((const char (*)[16])keys, nkeys, list, sizeof(list));
	buf_note(state, "; %s could not be put back from it: restore '%s' to bring %s back",
		 list, safety->name, nkeys > 1 ? "them" : "it");
}

/* Every check a restore makes before it changes anything; the VM must be stopped. */
/*
 * The VM's PVE status, read on a thread of its own (own client, own connection) while the
 * ONTAP listing runs, so restore pays PVE's round trips beside ONTAP's, not after them.
 * Anything unusual (no node in the local config, a failure) is left to the sequential
 * check, which reports it; a dry run always takes that path.
 */
struct status_fetch {
	const struct config *cfg;
	int vmid;
	int64_t deadline;
	pthread_t thread;
	bool started;
	int rc;
	struct pve_vm_status st;
};

static void *status_fetch_run(void *arg)
{
	struct status_fetch *f = arg;
	struct pve_vmconf *vm = NULL;
	struct pve_client *pc = NULL;

	f->rc = pve_vmconf_load(f->cfg->paths.pve_etc, f->vmid, &vm);
	if (f->rc == 0 && !vm->node[0])
		f->rc = POE_NOTFOUND;
	if (f->rc == 0) {
		pc = pve_client_new(&f->cfg->pve);
		f->rc = pc ? pve_vm_status(pc, vm->node, f->vmid, &f->st, f->deadline) : POE_API;
	}
	pve_client_free(pc);
	pve_vmconf_free(vm);
	err_clear(); /* this thread's message; the sequential check speaks for failures */
	return NULL;
}

static void status_fetch_start(struct status_fetch *f, struct ops_ctx *ctx, int vmid)
{
	memset(f, 0, sizeof(*f));
	f->cfg = ctx->cfg;
	f->vmid = vmid;
	f->deadline = ctx->deadline;
	f->rc = POE_FAIL;
	f->started = !ctx->dry_run &&
		     pthread_create(&f->thread, NULL, status_fetch_run, f) == 0;
}

/* The fetched status, or NULL (not started, failed): then ask PVE here. Joins the thread. */
static const struct pve_vm_status *status_fetch_end(struct status_fetch *f)
{
	if (f->started) {
		pthread_join(f->thread, NULL);
		f->started = false;
		return f->rc == 0 ? &f->st : NULL;
	}
	return NULL;
}

static int restore_checks(struct ops_ctx *ctx, struct vm_plan *p, const struct vm_snapshot *s,
			  bool force, const struct pve_vm_status *fetched)
{
	struct pve_vm_status st;
	struct pve_client *pc;
	char node[64];
	int rc;

	rc = check_unlocked(p->vm->vmid, p->vm->lock, force);
	if (rc == 0)
		rc = check_complete(s, force);
	if (rc < 0)
		return rc;
	/* the disks are overwritten in place: the guest must not be running */
	if (fetched) {
		st = *fetched;
		goto have_status;
	}
	rc = ops_pve(ctx, &pc);
	if (rc < 0)
		return rc;
	rc = ops_vm_node(ctx, p->vm, node, sizeof(node));
	if (rc == 0)
		rc = pve_vm_status(pc, node, p->vm->vmid, &st, ctx->deadline);
	if (rc < 0)
		return rc;
have_status:
	if (strcmp(st.status, "stopped") != 0)
		return err_set(POE_FAIL, "VM %d is %s: stop it before restoring", p->vm->vmid,
			       st.status);
	/* the API's word on the lock, when the config read here is not the one PVE holds */
	if (!p->vm->lock || !p->vm->lock[0])
		return check_unlocked(p->vm->vmid, st.lock, force);
	return 0;
}

static bool has_kind(const struct vm_snapshot *s, const char *kind)
{
	for (int k = 0; k < s->ndisks; k++)
		if (!strcmp(s->disks[k].kind, kind))
			return true;
	return false;
}

/*
 * The NFS disks, then the NVMe parts (which cannot be undone, so they go last: an NFS
 * failure leaves them untouched). Any failure puts every NFS disk back from safety; state
 * gets what the disks hold then.
 */
static int restore_disks(struct ops_ctx *ctx, struct vm_plan *p, const struct vm_snapshot *s,
			 const struct vm_snapshot *safety, struct nvme_restore *nr,
			 struct buf *state)
{
	const char *srcs[OPS_MAX_DISKS] = { NULL };
	bool sent[OPS_MAX_DISKS] = { false }, failed[OPS_MAX_DISKS] = { false };
	struct buf nvme = BUF_INIT(1 << 20);
	struct err_saved failure;
	int rc;

	for (int i = 0; i < p->ndisks; i++)
		srcs[i] = clone_of(p, i, s);
	rc = clone_over(ctx, p, srcs, true, sent, failed);
	if (rc == 0 && ops_interrupted)
		rc = err_set(POE_FAIL, "interrupted by a signal");
	if (rc == 0 && nr)
		rc = ops_nvme_restore_run(ctx, nr, &nvme);
	if (rc < 0) {
		err_save(&failure);
		if (safety->name[0])
			buf_note(state, "safety snapshot '%s' kept", safety->name);
		put_back(ctx, p, safety, sent, state);
		if (nvme.len)
			buf_note(state, "%s%s", state->len ? "; " : "", buf_cstr(&nvme));
		rc = err_restore(&failure);
	}
	buf_release(&nvme);
	return rc;
}

static int restore_with_plan(struct ops_ctx *ctx, struct vm_plan *p, const struct vm_snapshot *s,
			     bool force, const struct pve_vm_status *fetched)
{
	struct vm_snapshot_opts so = { .vmid = p->vm->vmid, .label = "prerestore",
				       .queue_rescan = true };
	struct vm_snapshot *safety = util_xcalloc(1, sizeof(*safety));
	struct nvme_restore *nr = NULL;
	struct buf state = BUF_INIT(1 << 20);
	bool has_nvme = p->has_nvme;
	int rc;

	rc = restore_checks(ctx, p, s, force, fetched);
	if (rc == 0 && has_nvme && has_kind(s, "cg-snapshot"))
		rc = ops_nvme_restore_prepare(ctx, p->vm, s->name, force, &nr);
	if (rc < 0)
		goto out;
	if (!has_kind(s, "file-clone") && !nr) {
		rc = err_set(POE_FAIL, "snapshot '%s' has no copy of any current disk of VM %d",
			     s->name, p->vm->vmid);
		goto out;
	}
	/*
	 * The safety snapshot covers the NFS disks only: ONTAP's CG restore deletes every CG
	 * snapshot newer than the one restored, so one taken now would be gone afterwards.
	 */
	p->has_nvme = false;
	if (p->ndisks) {
		rc = create_with_plan(ctx, p, &so, safety);
		if (rc < 0) {
			rc = err_prefix(rc, "cannot take the safety snapshot before restoring");
			goto out;
		}
		log_info("safety snapshot '%s' taken of the NFS disks", safety->name);
	}
	p->has_nvme = has_nvme;
	if (nr)
		log_warn("VM %d: the NVMe disks are rolled back without a safety copy (a CG restore discards newer snapshots); 'pve-ontap nvme clone' keeps one first",
			 p->vm->vmid);
	rc = restore_disks(ctx, p, s, safety, nr, &state);
	/* what the disks hold first, the cause (remote detail) last */
	if (rc < 0 && state.len)
		rc = err_prefix(rc, "cannot restore VM %d to '%s' (%s)", p->vm->vmid, s->name,
				buf_cstr(&state));
	else if (rc < 0)
		rc = err_prefix(rc, "cannot restore VM %d to '%s'", p->vm->vmid, s->name);
out:
	buf_release(&state);
	p->has_nvme = has_nvme;
	ops_nvme_restore_free(nr);
	vm_snapshot_clear(safety);
	free(safety);
	return rc;
}

int ops_vm_snapshot_restore(struct ops_ctx *ctx, int vmid, const char *name, bool force)
{
	struct vm_plan *p = util_xcalloc(1, sizeof(*p));
	struct vm_snapshot *snaps = NULL, *s;
	const struct pve_vm_status *fetched;
	struct status_fetch f;
	int n = 0, rc;

	status_fetch_start(&f, ctx, vmid);
	rc = plan_find(ctx, vmid, name, p, &snaps, &n, &s);
	/* a stale cached volume shows in the listing, before anything changed: look again */
	if (rc < 0 && ops_volume_retry(ctx, rc)) {
		ops_vm_snapshot_list_free(snaps, n);
		snaps = NULL;
		n = 0;
		plan_release(p);
		rc = plan_find(ctx, vmid, name, p, &snaps, &n, &s);
	}
	fetched = status_fetch_end(&f);
	if (rc == 0)
		rc = restore_with_plan(ctx, p, s, force, fetched);
	ops_vm_snapshot_list_free(snaps, n);
	plan_release(p);
	free(p);
	return rc;
}
