/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Storage operations: ONTAP volume snapshots of the volume behind a PVE NFS storage, the
 * guarded SnapRestore, and FlexClone mounts as new PVE storages. The volume is always
 * found by its junction (the storage's export) and SVM, never by scanning every volume.
 */
#include "ops/ops.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "base/exec.h"
#include "base/log.h"
#include "ontap/ontap.h"
#include "ops/ops_internal.h"
#include "pve/pve.h"
#include "base/util.h"

#define SNAP_PREFIX "pveontap_"

static int nfs_storage(struct ops_ctx *ctx, const char *id, struct ops_volume *ov)
{
	const struct config_storage *st = config_storage_find(ctx->cfg, id);

	if (!st)
		return err_set(POE_NOTFOUND, "storage '%s' is not configured for pve-ontap", id);
	if (st->protocol != STORAGE_NFS)
		return err_set(POE_USAGE, "storage '%s' is an NVMe pool: use 'pve-ontap nvme'", id);
	/* volume-wide changes (SnapRestore, FlexClones) ask ONTAP, never the volume cache */
	ctx->fresh_volumes = true;
	return ops_volume_resolve(ctx, st, ov);
}

int ops_storage_volume(struct ops_ctx *ctx, const char *id, struct ontap_volume *out)
{
	struct ops_volume ov;
	int rc = nfs_storage(ctx, id, &ov);

	if (rc < 0)
		return rc;
	return ontap_volume_get(ov.oc, ov.vol.uuid, out, ctx->deadline);
}

int ops_storage_snapshot_create(struct ops_ctx *ctx, const char *id, const char *label,
				struct storage_snapshot *out)
{
	char name[96], comment[192];
	struct ops_volume ov;
	int rc;

	if (!label)
		label = "manual";
	if (!ops_is_valid_label(label))
		return err_set(POE_USAGE, "bad label '%s': use 1 to 32 of a-z, 0-9 and _", label);
	rc = nfs_storage(ctx, id, &ov);
	if (rc < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	out->created = time(NULL);
	ops_snapshot_name(label, out->created, name, sizeof(name));
	snprintf(out->name, sizeof(out->name), SNAP_PREFIX "%s", name);
	snprintf(comment, sizeof(comment), "pve-ontap storage=%s label=%s phase=%s", id, label,
		 ctx->phase ? ctx->phase : "manual");
	util_strlcpy(out->comment, comment, sizeof(out->comment));
	rc = ontap_snapshot_create(ov.oc, ov.vol.uuid, out->name, comment, label, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot create snapshot '%s' of storage '%s' (volume '%s')",
				  out->name, id, ov.vol.name);
	return 0;
}

int ops_storage_snapshot_list(struct ops_ctx *ctx, const char *id, struct storage_snapshot **out,
			      int *n)
{
	struct ontap_snapshot *snaps = NULL;
	struct ops_volume ov;
	int ns = 0, rc;

	*out = NULL;
	*n = 0;
	rc = nfs_storage(ctx, id, &ov);
	if (rc < 0)
		return rc;
	rc = ontap_snapshot_list(ov.oc, ov.vol.uuid, NULL, &snaps, &ns, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot list the snapshots of storage '%s'", id);
	if (ns)
		*out = util_xcalloc((size_t)ns, sizeof(**out));
	for (int i = 0; i < ns && rc == 0; i++) {
		rc = util_strcpy((*out)[i].name, snaps[i].name, sizeof((*out)[i].name),
				 "snapshot name");
		util_strlcpy((*out)[i].comment, snaps[i].comment, sizeof((*out)[i].comment));
		(*out)[i].created = snaps[i].create_time;
	}
	free(snaps);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		return rc;
	}
	*n = ns;
	return 0;
}

static int find_snapshot(struct ops_ctx *ctx, const char *id, const char *name,
			 struct ops_volume *ov, struct ontap_snapshot *snap)
{
	int rc = nfs_storage(ctx, id, ov);

	if (rc < 0)
		return rc;
	if (!util_is_safe_name(name))
		return err_set(POE_USAGE, "bad snapshot name '%s'", name);
	rc = ontap_snapshot_find(ov->oc, ov->vol.uuid, name, snap, ctx->deadline);
	if (rc == POE_NOTFOUND)
		return err_set(POE_NOTFOUND, "storage '%s' (volume '%s') has no snapshot '%s'", id,
			       ov->vol.name, name);
	return rc;
}

int ops_storage_snapshot_delete(struct ops_ctx *ctx, const char *id, const char *name)
{
	struct ontap_snapshot snap;
	struct ops_volume ov;
	int rc = find_snapshot(ctx, id, name, &ov, &snap);

	if (rc < 0)
		return rc;
	rc = ontap_snapshot_delete(ov.oc, ov.vol.uuid, snap.uuid, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot delete snapshot '%s' of storage '%s'", name, id);
	return 0;
}

/* ---- restore ---- */

static bool vm_uses_storage(const struct pve_vmconf *vm, const char *id)
{
	for (int i = 0; i < vm->ndrives; i++)
		if (vm->drives[i].storage && !strcmp(vm->drives[i].storage, id))
			return true;
	return false;
}

/* VM ids with a config file in dir (<pve_etc>/nodes/<node>/qemu-server). */
static void scan_vmids(const char *dir, int **ids, int *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		int64_t vmid;
		char num[32];
		const char *dot = strrchr(e->d_name, '.');

		if (!dot || strcmp(dot, ".conf") != 0 || (size_t)(dot - e->d_name) >= sizeof(num))
			continue;
		memcpy(num, e->d_name, (size_t)(dot - e->d_name));
		num[dot - e->d_name] = '\0';
		if (util_parse_int(num, 100, 999999999, &vmid) < 0)
			continue;
		*ids = util_xrealloc(*ids, (size_t)(*n + 1) * sizeof(**ids));
		(*ids)[(*n)++] = (int)vmid;
	}
	closedir(d);
}

static void all_vmids(const char *pve_etc, int **ids, int *n)
{
	char path[1024];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/nodes", pve_etc);
	d = opendir(path);
	if (!d) {
		snprintf(path, sizeof(path), "%s/qemu-server", pve_etc);
		scan_vmids(path, ids, n);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !util_is_safe_name(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/nodes/%s/qemu-server", pve_etc, e->d_name);
		scan_vmids(path, ids, n);
	}
	closedir(d);
}

int ops_storage_restore_plan(struct ops_ctx *ctx, const char *id, const char *name, bool force,
			     struct buf *report, int *running)
{
	struct ontap_snapshot snap, *all = NULL;
	struct ops_volume ov;
	int nall = 0, *ids = NULL, nids = 0, newer = 0, unknown_rc = 0, rc;
	char unknown_msg[768] = "";

	*running = 0;
	rc = find_snapshot(ctx, id, name, &ov, &snap);
	if (rc < 0)
		return rc;
	rc = ontap_snapshot_list(ov.oc, ov.vol.uuid, NULL, &all, &nall, ctx->deadline);
	if (rc < 0)
		return rc;
	buf_note(report, "restoring storage '%s' (volume '%s') to '%s' rewinds every disk on it.\n",
		 id, ov.vol.name, name);
	/* the list is oldest first: everything after the target is newer and will go */
	for (int i = 0, after = 0; i < nall; i++) {
		if (after) {
			if (!newer++)
				buf_note(report, "newer snapshots that ONTAP will delete:\n");
			buf_note(report, "  %s\n", all[i].name);
		}
		after |= !strcmp(all[i].name, name);
	}
	if (!newer)
		buf_note(report, "no newer snapshot will be deleted.\n");
	free(all);
	all_vmids(ctx->cfg->paths.pve_etc, &ids, &nids);
	for (int i = 0; i < nids; i++) {
		struct pve_vmconf *vm = NULL;
		struct pve_vm_status st = { .status = "unknown" };
		struct pve_client *pc;
		char node[64];
		int r;

		if (pve_vmconf_load(ctx->cfg->paths.pve_etc, ids[i], &vm) < 0)
			continue;
		if (!vm_uses_storage(vm, id)) {
			pve_vmconf_free(vm);
			continue;
		}
		r = ops_pve(ctx, &pc);
		if (r == 0)
			r = ops_vm_node(ctx, vm, node, sizeof(node));
		if (r == 0)
			r = pve_vm_status(pc, node, vm->vmid, &st, ctx->deadline);
		if (r < 0) {
			/* a running VM's disks must not be rewound under it: unknown is not stopped
			 * (a literal shorter than the field: cannot be cut) */
			util_strlcpy(st.status, "unknown", sizeof(st.status));
			if (!unknown_rc) {
				unknown_rc = r;
				snprintf(unknown_msg, sizeof(unknown_msg), "VM %d: %s", vm->vmid,
					 err_msg());
			}
		}
		if (strcmp(st.status, "stopped") != 0)
			(*running)++;
		buf_note(report, "  VM %d (%s) has disks on '%s'\n", vm->vmid, st.status, id);
		pve_vmconf_free(vm);
	}
	free(ids);
	if (unknown_rc && !force)
		return err_set(unknown_rc,
			       "cannot tell whether the VMs on storage '%s' are running (%s): use --force to restore anyway",
			       id, unknown_msg);
	if (unknown_rc)
		log_warn("restoring although the state of a VM is unknown: %s", unknown_msg);
	return 0;
}

int ops_storage_snapshot_restore(struct ops_ctx *ctx, const char *id, const char *name,
				 bool force)
{
	struct buf report = BUF_INIT(1 << 20);
	struct ontap_snapshot snap;
	struct ops_volume ov;
	int running = 0, rc;

	rc = ops_storage_restore_plan(ctx, id, name, force, &report, &running);
	if (rc < 0)
		goto out;
	if (running && !force) {
		rc = err_set(POE_FAIL,
			     "%d VM(s) with disks on storage '%s' are running: stop them or use --force",
			     running, id);
		goto out;
	}
	rc = find_snapshot(ctx, id, name, &ov, &snap);
	if (rc == 0)
		rc = ontap_volume_restore(ov.oc, ov.vol.uuid, name, ctx->deadline);
	if (rc < 0)
		rc = err_prefix(rc, "cannot restore storage '%s' to '%s'", id, name);
out:
	buf_release(&report);
	return rc;
}

/* ---- FlexClone mount and unmount ---- */

/* A storage id we create: PVE's syntax, 2 to 64 characters. */
static bool is_storage_id(const char *s)
{
	size_t n = strlen(s);

	return n >= 2 && n <= 64 && util_is_storage_id(s, n);
}

/* This node's name: pmxcfs's links (pve_local_node()), else the host name up to its first
 * dot, as PVE::INotify::nodename() has it. */
static int local_node(const char *pve_etc, char *out, size_t n)
{
	if (pve_local_node(pve_etc, out, n) == 0)
		return 0;
	if (gethostname(out, n) < 0 || !out[0] || !memchr(out, '\0', n))
		return err_set(POE_FAIL, "cannot tell this node's name: %s", strerror(errno));
	out[strcspn(out, ".")] = '\0';
	return 0;
}

int ops_storage_mount(struct ops_ctx *ctx, const char *id, const char *name, const char *newid,
		      char *newid_out, size_t newid_n, char *clone_out, size_t clone_n)
{
	struct pve_storage parent, exists, ns;
	struct ontap_volume clone;
	struct ontap_snapshot snap;
	struct ops_volume ov;
	struct pve_client *pc;
	char sid[CONFIG_STORAGE_ID_MAX + 1], cname[256], junction[260], export[600], ts[17], node[256];
	int rc;

	memset(&parent, 0, sizeof(parent));
	rc = local_node(ctx->cfg->paths.pve_etc, node, sizeof(node));
	if (rc < 0)
		return rc;
	rc = find_snapshot(ctx, id, name, &ov, &snap);
	if (rc < 0)
		return rc;
	/* an id too long for sid is as much a usage error (2) as one of bad syntax */
	if (newid)
		rc = util_strcpy(sid, newid, sizeof(sid), "storage id");
	else
		rc = util_format(sid, sizeof(sid), "storage id", "%s-CLONE", id);
	if (rc < 0 || !is_storage_id(sid))
		return err_set(POE_USAGE, "'%s%s' is not a valid PVE storage id",
			       newid ? newid : id, newid ? "" : "-CLONE");
	/* the caller's buffers take the id and the clone name: known before anything is made */
	rc = util_strcpy(newid_out, sid, newid_n, "storage id");
	if (rc < 0)
		return rc;
	if (ops_pve_storage(ctx, sid, &exists) == 0) {
		pve_storage_release(&exists);
		return err_set(POE_FAIL, "storage '%s' already exists: unmount it first or use --as",
			       sid);
	}
	rc = ops_pve_storage(ctx, id, &parent);
	if (rc < 0)
		return rc;
	util_ts_format(time(NULL), ts);
	/* ONTAP volume names are at most 203 characters */
	if (strlen(ov.vol.name) + strlen("_clone_") + 16 > 203) {
		rc = err_set(POE_FAIL, "volume name '%s' is too long to name a FlexClone after it",
			     ov.vol.name);
		goto out;
	}
	snprintf(cname, sizeof(cname), "%s_clone_%s", ov.vol.name, ts); /* checked above */
	rc = util_strcpy(clone_out, cname, clone_n, "clone name");
	if (rc < 0)
		goto out;
	snprintf(junction, sizeof(junction), "/%s", cname);
	rc = ontap_volume_flexclone(ov.oc, ov.vol.svm[0] ? ov.vol.svm : ov.st->svm, ov.vol.name,
				    name, cname, junction, &clone, 0);
	if (rc < 0) {
		rc = err_prefix(rc, "cannot create FlexClone '%s' of '%s' at '%s'", cname,
				ov.vol.name, name);
		goto out;
	}
	/* same server and options (nconnect etc.) as the parent; the export below the junction
	 * is kept when the parent exported a sub-directory */
	snprintf(export, sizeof(export), "%s%s%.*s", junction, ov.subdir[0] ? "/" : "",
		 ov.subdir[0] ? (int)strlen(ov.subdir) - 1 : 0, ov.subdir);
	memset(&ns, 0, sizeof(ns));
	ns.id = sid;
	ns.type = (char *)"nfs";
	ns.server = parent.server;
	ns.export_path = export;
	ns.options = parent.options;
	ns.content = parent.content;
	/* this node only: no other node mounts it, so none keeps a stale mount of it once the
	 * FlexClone is deleted (PVE's DELETE /storage leaves mounts in place, pve.md Additions) */
	ns.nodes = node;
	rc = ops_pve(ctx, &pc);
	if (rc == 0)
		rc = pve_storage_create(pc, &ns, ctx->deadline);
	if (rc < 0) {
		struct err_saved failure;

		err_save(&failure);
		/* no PVE storage, so no FlexClone either: nothing half-made stays behind */
		if (ontap_volume_delete(ov.oc, clone.uuid, 0) < 0)
			log_error("could not remove FlexClone '%s' after the failure: %s", cname,
				  err_msg());
		rc = err_prefix(err_restore(&failure), "cannot add PVE storage '%s' for FlexClone '%s'",
				sid, cname);
		goto out;
	}
out:
	pve_storage_release(&parent);
	return rc;
}

/* Is path a mount point (listed in /proc/self/mountinfo)? */
static bool is_mountpoint(const char *path)
{
	struct buf mi = BUF_INIT(4 << 20);
	bool found = false;
	const char *line;

	if (buf_read_file(&mi, "/proc/self/mountinfo") < 0)
		return false;
	for (line = buf_cstr(&mi); line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		/* "36 35 98:0 /mnt1 /mnt/parent rw ..." : the fifth field is the mount point */
		const char *p = line;
		int field = 0;

		while (field < 4 && p && *p && *p != '\n') {
			p = strchr(p, ' ');
			if (p)
				p++;
			field++;
		}
		if (p && !strncmp(p, path, strlen(path)) && p[strlen(path)] == ' ') {
			found = true;
			break;
		}
	}
	buf_release(&mi);
	return found;
}

static int unmount_local(struct ops_ctx *ctx, const char *path)
{
	struct stat sb;

	if (ctx->dry_run)
		return buf_printf(ctx->dry_run, "UMOUNT %s\n", path);
	if (lstat(path, &sb) < 0)
		return 0;
	if (S_ISLNK(sb.st_mode)) {
		/* the simulated mount of the test tree */
		if (unlink(path) < 0)
			return err_set(POE_FAIL, "cannot remove '%s': %s", path, strerror(errno));
		return 0;
	}
	if (is_mountpoint(path)) {
		const char *argv[] = { "/bin/umount", path, NULL };
		struct exec_result r;
		int rc;

		exec_result_init(&r);
		rc = exec_run(argv, util_now_ms() + 60000, &r);
		if (rc == 0 && r.exit_code != 0)
			rc = err_set(POE_FAIL, "cannot unmount '%s': %s", path, buf_cstr(&r.err));
		exec_result_release(&r);
		if (rc < 0)
			return rc;
	}
	if (S_ISDIR(sb.st_mode) && rmdir(path) < 0 && errno != ENOENT)
		log_warn("cannot remove the mount point '%s': %s", path, strerror(errno));
	return 0;
}

/* Find the FlexClone volume behind a mounted clone storage and check it is ours. */
static int find_clone(struct ops_ctx *ctx, const char *export, struct ontap_volume *out,
		      struct ontap_client **oc_out)
{
	char cname[208], base[208];
	const char *p = export, *us;
	size_t n;

	while (*p == '/')
		p++;
	n = strcspn(p, "/");
	if (n == 0 || n >= sizeof(cname))
		return err_set(POE_FAIL, "export '%s' is not a FlexClone junction", export);
	memcpy(cname, p, n);
	cname[n] = '\0';
	us = strstr(cname, "_clone_");
	if (!us || strlen(us + 7) != 16 || util_ts_parse(us + 7, &(time_t){ 0 }) < 0)
		return err_set(POE_FAIL,
			       "'%s' is not a FlexClone made by 'storage mount' (<volume>_clone_<ts>): refusing to delete it",
			       cname);
	memcpy(base, cname, (size_t)(us - cname));
	base[us - cname] = '\0';
	for (int i = 0; i < ctx->cfg->nstorages; i++) {
		const struct config_storage *st = &ctx->cfg->storages[i];
		struct ontap_client *oc;
		int rc;

		if (st->protocol != STORAGE_NFS)
			continue;
		if (ops_ontap(ctx, st, &oc) < 0)
			continue;
		rc = ontap_volume_find(oc, st->svm, cname, out, ctx->deadline);
		if (rc == POE_NOTFOUND)
			continue;
		if (rc < 0)
			return rc;
		/* the lookup may not return the expensive clone fields: read the instance */
		rc = ontap_volume_get(oc, out->uuid, out, ctx->deadline);
		if (rc < 0)
			return rc;
		if (!out->is_flexclone || strcmp(out->clone_parent, base) != 0)
			return err_set(POE_FAIL,
				       "volume '%s' is not a FlexClone of '%s': refusing to delete it",
				       cname, base);
		*oc_out = oc;
		return 0;
	}
	return err_set(POE_NOTFOUND, "no FlexClone volume '%s' on the configured clusters", cname);
}

/*
 * The FlexClone could not be deleted after its PVE storage was removed: put back its
 * junction and the storage, so that nothing is left that 'storage unmount' cannot find
 * again. Returns failed (the original code) with a message naming the clone.
 */
static int unmount_put_back(struct ops_ctx *ctx, struct ontap_client *oc,
			    const struct ontap_volume *vol, const struct pve_storage *ps, int failed)
{
	struct pve_storage again = *ps;
	struct ontap_volume now;
	struct err_saved why;
	char dflt[600];
	int64_t deadline = util_deadline_own(60000); /* the run's deadline may be what failed */
	int rc;

	err_save(&why);
	/* PVE's default mount point stays implicit, as it was */
	snprintf(dflt, sizeof(dflt), "%s/%s", ctx->cfg->paths.mnt, ps->id);
	if (again.path && !strcmp(again.path, dflt))
		again.path = NULL;
	/* the junction is cleared just before the delete: restore it only if that happened */
	rc = ontap_volume_get(oc, vol->uuid, &now, deadline);
	if (rc == 0 && !now.nas_path[0] && vol->nas_path[0])
		rc = ontap_volume_set_nas_path(oc, vol->uuid, vol->nas_path, deadline);
	if (rc == 0 && ctx->pve)
		rc = pve_storage_create(ctx->pve, &again, deadline);
	if (rc < 0)
		return err_set(failed,
			       "cannot delete FlexClone '%s': %s; putting back PVE storage '%s' failed too (%s): remove the volume by hand",
			       vol->name, why.msg, ps->id, err_msg());
	return err_set(failed, "cannot delete FlexClone '%s': %s (PVE storage '%s' put back)",
		       vol->name, why.msg, ps->id);
}

/*
 * VM configs that still refer to a volume on storage id ("VM 100 (unused0, scsi1)"), appended
 * to out. Returns how many VMs do.
 */
static int vms_using_storage(const char *pve_etc, const char *id, struct buf *out)
{
	int *ids = NULL, nids = 0, nvms = 0;

	all_vmids(pve_etc, &ids, &nids);
	for (int i = 0; i < nids; i++) {
		struct pve_vmconf *vm = NULL;
		int nkeys = 0;

		if (pve_vmconf_load(pve_etc, ids[i], &vm) < 0) {
			err_clear();
			continue;
		}
		for (int k = 0; k < vm->ndrives; k++) {
			const struct pve_drive *d = &vm->drives[k];

			if (!d->storage || strcmp(d->storage, id) != 0)
				continue;
			if (!nkeys++)
				buf_note(out, "%sVM %d: %s", nvms ? "; " : "", vm->vmid, d->key);
			else
				buf_note(out, ", %s", d->key);
		}
		nvms += nkeys > 0;
		pve_vmconf_free(vm);
	}
	free(ids);
	return nvms;
}

int ops_storage_unmount(struct ops_ctx *ctx, const char *newid, bool force, char *clone_out,
			size_t clone_n)
{
	struct pve_storage ps;
	struct ontap_volume vol;
	struct ontap_client *oc = NULL;
	struct pve_client *pc;
	char path[512];
	int rc;

	rc = ops_pve_storage(ctx, newid, &ps);
	if (rc < 0)
		return rc;
	if (!ps.type || strcmp(ps.type, "nfs") != 0 || !ps.export_path) {
		rc = err_set(POE_FAIL, "storage '%s' is not an NFS storage made by 'storage mount'",
			     newid);
		goto out;
	}
	/* check everything before changing anything */
	rc = find_clone(ctx, ps.export_path, &vol, &oc);
	if (rc == 0)
		rc = util_strcpy(clone_out, vol.name, clone_n, "clone name");
	if (rc < 0)
		goto out;
	/* PVE leaves the NFS export mounted: it is unmounted below before the volume goes, and
	 * a cut path would be another mount */
	if (ps.path)
		rc = util_strcpy(path, ps.path, sizeof(path), "mount path");
	else
		rc = util_format(path, sizeof(path), "mount path", "%s/%s", ctx->cfg->paths.mnt,
				 newid);
	if (rc < 0)
		goto out;
	{
		struct buf users = BUF_INIT(1 << 20);
		int nvms = vms_using_storage(ctx->cfg->paths.pve_etc, newid, &users);

		if (nvms && !force)
			rc = err_set(POE_FAIL,
				     "storage '%s' is still used by %d VM config(s) (%s): remove those entries or use --force (they would dangle)",
				     newid, nvms, buf_cstr(&users));
		else if (nvms)
			log_warn("--force: VM config entries on storage '%s' will dangle: %s", newid,
				 buf_cstr(&users));
		buf_release(&users);
		if (rc < 0)
			goto out;
	}
	rc = ops_pve(ctx, &pc);
	if (rc == 0)
		rc = pve_storage_delete(pc, newid, ctx->deadline);
	if (rc < 0) {
		rc = err_prefix(rc, "cannot remove PVE storage '%s'", newid);
		goto out;
	}
	rc = unmount_local(ctx, path);
	if (rc == 0)
		rc = ontap_volume_delete(oc, vol.uuid, 0);
	if (rc < 0) {
		rc = unmount_put_back(ctx, oc, &vol, &ps, rc);
		goto out;
	}
out:
	pve_storage_release(&ps);
	return rc;
}
