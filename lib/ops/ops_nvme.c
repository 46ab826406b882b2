// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * NVMe/TCP disks (DESIGN.md "Storage kinds", NVMe model): one VM disk = one FlexVol
 * "<prefix>vm_<vmid>_disk_<n>" = one namespace "/vol/<vol>/<vol>" mapped to the pool's
 * subsystem; all volumes of a VM in the consistency group "<prefix>cg_vm_<vmid>", whose
 * snapshots "pveontap_<label>-<ts>" are the VM snapshots of its NVMe disks. The prior art
 * (reference/prior-art.md §2) is followed, avoiding its bugs (§2.6): resize grows the volume
 * before the namespace, a restore that would discard newer snapshots is refused, every
 * listing asks for uuid and pages, LIFs are filtered on state.
 *
 * The ONTAP client decides nothing about names; every name of an object we create, delete
 * or restore is built and checked here against the shapes above, so a snapshot or volume
 * made by a person or another tool is never touched.
 */
#include "ops/ops.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* Namespace limits of ONTAP (§2.8); 20 MiB is the smallest a cloud-init disk works with
 * (prior art 1.0-5). */
#define NS_MIN_SIZE (20ULL << 20)
#define NS_MAX_SIZE 140737488355328ULL
#define NS_BLOCK 4096ULL
/*
 * WAFL needs room next to a namespace that fills its volume (metadata, and the blocks a
 * namespace overwrite holds while a snapshot exists): the volume is 5 % larger than the
 * namespace, at least 64 MiB larger (the prior art's 105 % is too little for small disks),
 * then divided by (1 - snapshot reserve). Snapshot deltas beyond that come from autosize,
 * which may grow the volume up to twice that size.
 */
#define VOL_HEADROOM_PCT 5
#define VOL_HEADROOM_MIN (64ULL << 20)
#define VOL_AUTOSIZE_FACTOR 2
#define SNAP_PREFIX "pveontap_"
#define MAX_POOLS 16
#define CLEANUP_MS (30 * 1000)

/* ---- names ---- */

static const char *prefix_of(const struct config_storage *st)
{
	return st->prefix ? st->prefix : "pve_";
}

/* A prefix has 64 bytes at most (config.c prefix_ok): the names fit out's 208. */
static void volume_name(const struct config_storage *st, int vmid, int disk, char *out, size_t n)
{
	snprintf(out, n, "%svm_%d_disk_%d", prefix_of(st), vmid, disk);
}

static void cg_name_of(const struct config_storage *st, int vmid, char *out, size_t n)
{
	snprintf(out, n, "%scg_vm_%d", prefix_of(st), vmid);
}


/*
 * Volume of a namespace: location.volume.name, else the path's second component (left ""
 * when it does not fit). out is char[208] at every caller, the size of ns->volume.
 */
static void ns_volume(const struct ontap_namespace *ns, char *out, size_t n)
{
	const char *p, *slash;

	if (ns->volume[0]) {
		util_strlcpy(out, ns->volume, n); /* same size: cannot be cut */
		return;
	}
	out[0] = '\0';
	if (strncmp(ns->name, "/vol/", 5) != 0)
		return;
	p = ns->name + 5;
	slash = strchr(p, '/');
	if (slash && (size_t)(slash - p) < n) {
		memcpy(out, p, (size_t)(slash - p));
		out[slash - p] = '\0';
	}
}

/* "<label>_<ts>" of a VM snapshot name, the volume-name-safe form ('-' is not allowed);
 * POE_FAIL when it does not fit: a cut suffix names other clones. */
static int snap_suffix(const char *name, char *out, size_t n)
{
	if (util_strcpy(out, name, n, "snapshot name") < 0)
		return POE_FAIL;
	for (char *p = out; *p; p++)
		if (*p == '-')
			*p = '_';
	return 0;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static uint64_t volume_size_for(const struct config_storage *st, uint64_t size)
{
	uint64_t head = size / 100 * VOL_HEADROOM_PCT;
	uint64_t v;

	if (head < VOL_HEADROOM_MIN)
		head = VOL_HEADROOM_MIN;
	v = size + head;
	if (st->snapshot_reserve > 0 && st->snapshot_reserve < 90)
		v = v / (uint64_t)(100 - st->snapshot_reserve) * 100 + 100;
	return round_up(v, NS_BLOCK);
}

/* ---- pools ---- */

static int nvme_pool(struct ops_ctx *ctx, const char *id, const struct config_storage **out)
{
	const struct config_storage *st = config_storage_find(ctx->cfg, id);

	if (!st)
		return err_set(POE_CONFIG, "NVMe pool '%s' is not configured (storages: in '%s')", id,
			       ctx->cfg->file ? ctx->cfg->file : "the configuration");
	if (st->protocol != STORAGE_NVME)
		return err_set(POE_CONFIG, "storage '%s' is not an NVMe pool (protocol: nvme)", id);
	if (!st->svm || !st->subsystem)
		return err_set(POE_CONFIG, "NVMe pool '%s' needs 'svm' and 'subsystem'", id);
	*out = st;
	return 0;
}

/* The VM's disk namespaces in one pool, and its CG there. */
struct pool_vm {
	const struct config_storage *st;
	struct ontap_client *oc;
	struct ontap_namespace *ns;
	int nns;
	struct ontap_cg cg;
	bool has_cg;
	char cgname[64];
};

static void pool_vm_release(struct pool_vm *pv)
{
	free(pv->ns);
	pv->ns = NULL;
	pv->nns = 0;
	ontap_cg_release(&pv->cg);
	pv->has_cg = false;
}

static void pools_free(struct pool_vm *pv, int n)
{
	for (int i = 0; i < n; i++)
		pool_vm_release(&pv[i]);
	free(pv);
}

static int pool_vm_load(struct ops_ctx *ctx, const struct config_storage *st, int vmid,
			struct pool_vm *pv)
{
	struct ontap_namespace *all = NULL;
	char pattern[300];
	int nall = 0, rc;

	memset(pv, 0, sizeof(*pv));
	pv->st = st;
	rc = ops_ontap(ctx, st, &pv->oc);
	if (rc < 0)
		return rc;
	snprintf(pattern, sizeof(pattern), "/vol/%svm_%d_disk_*/*", prefix_of(st), vmid);
	rc = ontap_namespace_list(pv->oc, st->svm, pattern, &all, &nall, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot list the namespaces of VM %d in pool '%s'", vmid,
				  st->id);
	pv->ns = util_xcalloc((size_t)nall + 1, sizeof(*pv->ns));
	for (int i = 0; i < nall; i++) {
		char vol[208];
		int v, d;
		bool clone;

		ns_volume(&all[i], vol, sizeof(vol));
		if (names_nvme_volume(prefix_of(st), vol, &v, &d, &clone) && v == vmid && !clone)
			pv->ns[pv->nns++] = all[i];
	}
	free(all);
	cg_name_of(st, vmid, pv->cgname, sizeof(pv->cgname));
	if (!pv->nns)
		return 0;
	rc = ontap_cg_find(pv->oc, st->svm, pv->cgname, &pv->cg, ctx->deadline);
	if (rc == POE_NOTFOUND) {
		err_clear();
		return 0;
	}
	if (rc < 0)
		return err_prefix(rc, "cannot read consistency group '%s'", pv->cgname);
	pv->has_cg = true;
	return 0;
}

/* Every NVMe pool that holds a disk namespace of the VM. */
static int vm_pools(struct ops_ctx *ctx, int vmid, struct pool_vm **out, int *n)
{
	struct pool_vm *pv = util_xcalloc(MAX_POOLS, sizeof(*pv));
	int m = 0, rc = 0;

	for (int i = 0; i < ctx->cfg->nstorages && m < MAX_POOLS; i++) {
		const struct config_storage *st = &ctx->cfg->storages[i];

		if (st->protocol != STORAGE_NVME || !st->svm)
			continue;
		rc = pool_vm_load(ctx, st, vmid, &pv[m]);
		if (rc < 0) {
			pool_vm_release(&pv[m]);
			pools_free(pv, m);
			return rc;
		}
		if (pv[m].nns)
			m++;
		else
			pool_vm_release(&pv[m]);
	}
	*out = pv;
	*n = m;
	return 0;
}

static bool in_names(char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return true;
	return false;
}

static const struct ontap_namespace *pool_ns_of(const struct pool_vm *pv, const char *vol)
{
	for (int i = 0; i < pv->nns; i++) {
		char v[208];

		ns_volume(&pv->ns[i], v, sizeof(v));
		if (!strcmp(v, vol))
			return &pv->ns[i];
	}
	return NULL;
}

/* The VM config key of the drive that is this namespace, else "nvme_disk_<n>"; POE_FAIL
 * when it does not fit out: two disks cut to one key would be one disk of the snapshot. */
static int disk_key(const struct ops_ctx *ctx, const struct pve_vmconf *vm,
		    const struct pool_vm *pv, const char *vol, char *out, size_t n)
{
	const struct ontap_namespace *ns = pool_ns_of(pv, vol);
	char u[NVMEHOST_UUID_LEN + 1];
	int v, d;
	bool clone;

	for (int i = 0; ns && vm && i < vm->ndrives; i++) {
		const struct pve_drive *dr = &vm->drives[i];

		if (!dr->is_cdrom && nvmehost_volid_uuid(ctx->cfg, dr->volid, u) &&
		    !strcasecmp(u, ns->uuid))
			return util_strcpy(out, dr->key, n, "drive key");
	}
	if (names_nvme_volume(prefix_of(pv->st), vol, &v, &d, &clone))
		return util_format(out, n, "disk key", "nvme_disk_%d", d);
	return util_strcpy(out, vol, n, "disk key");
}

/* ---- cleanup deadline ---- */

struct grace {
	int64_t ctx;
};

/* Cleaning up gets its own short deadline in ctx->deadline, not bounded by the global one:
 * the operation's deadline (or the hook's) may be what failed. */
static void grace_begin(struct ops_ctx *ctx, struct grace *g)
{
	g->ctx = ctx->deadline;
	ctx->deadline = util_deadline_own(CLEANUP_MS);
}

static void grace_end(struct ops_ctx *ctx, const struct grace *g)
{
	ctx->deadline = g->ctx;
}

/* ---- VM config guard ---- */

struct vm_guard {
	int vmid;
	bool loaded;
	struct pve_vmconf *vm;    /* NULL when the VM has no config */
	bool status_known;
	bool running;
};

static void guard_release(struct vm_guard *g)
{
	pve_vmconf_free(g->vm);
	g->vm = NULL;
}

/*
 * Is namespace uuid a drive of the VM? key gets the drive key ("" when not). Refuses with
 * POE_FAIL while the VM runs: pulling a disk from under a running guest loses data.
 */
static int guard_check(struct ops_ctx *ctx, struct vm_guard *g, const char *uuid, char *key,
		       size_t n)
{
	char u[NVMEHOST_UUID_LEN + 1];
	int rc;

	key[0] = '\0';
	if (!g->loaded) {
		g->loaded = true;
		rc = pve_vmconf_load(ctx->cfg->paths.pve_etc, g->vmid, &g->vm);
		if (rc == POE_NOTFOUND) {
			err_clear();
			g->vm = NULL;
		} else if (rc < 0) {
			return err_prefix(rc, "cannot read the config of VM %d", g->vmid);
		}
	}
	for (int i = 0; g->vm && i < g->vm->ndrives; i++) {
		const struct pve_drive *d = &g->vm->drives[i];

		if (nvmehost_volid_uuid(ctx->cfg, d->volid, u) && !strcasecmp(u, uuid)) {
			rc = util_strcpy(key, d->key, n, "drive key");
			if (rc < 0)
				return rc;
			break;
		}
	}
	if (!key[0] || !strncmp(key, "unused", 6))
		return 0;
	if (!g->status_known) {
		struct pve_client *pc;
		struct pve_vm_status st;
		char node[64];

		rc = ops_pve(ctx, &pc);
		if (rc < 0)
			return rc;
		rc = ops_vm_node(ctx, g->vm, node, sizeof(node));
		if (rc == 0)
			rc = pve_vm_status(pc, node, g->vmid, &st, ctx->deadline);
		if (rc < 0)
			return err_prefix(rc, "cannot tell whether VM %d is running", g->vmid);
		g->status_known = true;
		g->running = strcmp(st.status, "stopped") != 0;
	}
	if (g->running)
		return err_set(POE_FAIL,
			       "namespace %s is attached to VM %d as %s and the VM is running: stop it or detach the disk first",
			       uuid, g->vmid, key);
	return 0;
}

/* Have the watcher drop the drive that names this namespace (DESIGN.md job queue). */
static void queue_detach(struct ops_ctx *ctx, int vmid, const char *uuid, const char *key)
{
	char volid[128];

	if (!key[0])
		return;
	snprintf(volid, sizeof(volid), NVMEHOST_BYID_PREFIX "%s", uuid);
	if (ops_queue(ctx, vmid, QUEUE_UNUSED_REMOVE, volid) < 0)
		log_warn("cannot queue the removal of %s ('%s') from VM %d: %s", key, volid, vmid,
			 err_msg());
	else
		log_info("queued the removal of %s ('%s') from the config of VM %d", key, volid,
			 vmid);
}

/* ---- subsystem, host and connection ---- */

static int pool_prepare(struct ops_ctx *ctx, const struct config_storage *st,
			struct ontap_client *oc, struct ontap_subsystem *ss)
{
	char nqn[NVMEHOST_NQN_MAX + 1];
	int rc;

	rc = nvmehost_hostnqn(ctx->cfg, nqn, sizeof(nqn));
	if (rc < 0)
		return rc;
	rc = ontap_subsystem_ensure(oc, st->svm, st->subsystem, ss, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot set up NVMe subsystem '%s' of pool '%s'", st->subsystem,
				  st->id);
	rc = ontap_subsystem_host_add(oc, ss->uuid, nqn, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot allow this node ('%s') on NVMe subsystem '%s'", nqn,
				  st->subsystem);
	return 0;
}

/* Connect this node to the pool's portals: configured, else the up data_nvme_tcp LIFs. */
static int pool_connect(struct ops_ctx *ctx, const struct config_storage *st,
			struct ontap_client *oc)
{
	const char **portals = NULL;
	struct ontap_lif *lifs = NULL;
	int n = 0, nlifs = 0, rc;

	if (st->nportals > 0) {
		portals = util_xcalloc((size_t)st->nportals, sizeof(*portals));
		for (int i = 0; i < st->nportals; i++)
			portals[n++] = st->portals[i];
	} else {
		rc = ontap_nvme_lifs(oc, st->svm, &lifs, &nlifs, ctx->deadline);
		if (rc < 0) {
			rc = err_prefix(rc, "cannot discover the NVMe/TCP portals of pool '%s'",
					st->id);
			goto out;
		}
		if (!nlifs) {
			rc = err_set(POE_FAIL,
				     "SVM '%s' has no NVMe/TCP interface that is up: set 'portals' of pool '%s'",
				     st->svm, st->id);
			goto out;
		}
		portals = util_xcalloc((size_t)nlifs, sizeof(*portals));
		for (int i = 0; i < nlifs; i++)
			portals[n++] = lifs[i].ip;
	}
	if (ctx->dry_run) {
		for (int i = 0; i < n; i++) {
			rc = buf_printf(ctx->dry_run, "EXEC %s connect-all -t tcp -a %s\n",
					ctx->cfg->paths.nvme, portals[i]);
			if (rc < 0)
				goto out;
		}
		rc = nvmehost_persist_portals(ctx->cfg, portals, n, ctx->dry_run);
		rc = rc < 0 ? rc : n;
		goto out;
	}
	rc = nvmehost_connect(ctx->cfg, portals, n, ctx->deadline);
	/* so that nvmf-autoconnect reconnects them at boot (DESIGN.md "Storage kinds") */
	if (rc > 0) {
		int prc = nvmehost_persist_portals(ctx->cfg, portals, n, NULL);

		rc = prc < 0 ? prc : rc;
	}
out:
	free(portals);
	free(lifs);
	return rc;
}

int ops_nvme_connect(struct ops_ctx *ctx, const char *pool)
{
	const struct config_storage *st;
	struct ontap_subsystem ss;
	struct ontap_client *oc;
	int rc;

	rc = nvme_pool(ctx, pool, &st);
	if (rc < 0)
		return rc;
	rc = ops_ontap(ctx, st, &oc);
	if (rc < 0)
		return rc;
	rc = pool_prepare(ctx, st, oc, &ss);
	if (rc < 0)
		return rc;
	return pool_connect(ctx, st, oc);
}

/* Connect and try to name the device; neither is fatal (the watcher attaches later). */
static void after_create(struct ops_ctx *ctx, const struct config_storage *st,
			 struct ontap_client *oc, int vmid, struct nvme_disk_info *info)
{
	/* a dry run has no uuid yet: show the job with a placeholder */
	const char *uuid = info->uuid[0] ? info->uuid : "00000000-0000-0000-0000-000000000000";

	if (pool_connect(ctx, st, oc) < 0) {
		log_warn("namespace '%s' is ready, but this node is not connected: %s (run 'pve-ontap nvme connect --storage %s')",
			 info->ns_name, err_msg(), st->id);
		err_clear();
	}
	if (!ctx->dry_run && nvmehost_resolve_sysfs(ctx->cfg, info->uuid, info->device,
						    sizeof(info->device)) < 0) {
		info->device[0] = '\0';
		err_clear();
	}
	if ((info->uuid[0] || ctx->dry_run) && ops_queue(ctx, vmid, QUEUE_NVME_ATTACH, uuid) < 0) {
		log_warn("namespace '%s' is ready, but the attach job was not queued: %s",
			 info->ns_name, err_msg());
		err_clear();
	}
}

/* ---- create ---- */

/* *info of a disk; POE_FAIL when the pool id (up to 255 bytes), the volume or the namespace
 * does not fit: what is reported is what a later command addresses. */
static int info_from(struct nvme_disk_info *info, const struct config_storage *st,
		     const struct ontap_namespace *ns, const char *vol)
{
	bool clone = false;

	memset(info, 0, sizeof(*info));
	if (util_strcpy(info->pool, st->id, sizeof(info->pool), "pool name") < 0)
		return POE_FAIL;
	info->vmid = -1;
	info->disk = -1;
	if (vol) {
		if (util_strcpy(info->volume, vol, sizeof(info->volume), "volume name") < 0)
			return POE_FAIL;
		if (!names_nvme_volume(prefix_of(st), vol, &info->vmid, &info->disk, &clone)) {
			info->vmid = -1;
			info->disk = -1;
		}
		info->is_clone = clone;
	}
	if (ns) {
		if (util_strcpy(info->ns_name, ns->name, sizeof(info->ns_name),
				"namespace path") < 0 ||
		    util_strcpy(info->uuid, ns->uuid, sizeof(info->uuid), "namespace uuid") < 0)
			return POE_FAIL;
		info->size = ns->size;
		info->used = ns->used;
		info->mapped = ns->mapped;
	}
	return 0;
}

static int next_disk(struct ops_ctx *ctx, const struct config_storage *st, struct ontap_client *oc,
		     int vmid, int *out)
{
	struct ontap_volume *vols = NULL;
	char pattern[128];
	bool used[1024] = { false };
	int n = 0, rc;

	snprintf(pattern, sizeof(pattern), "%svm_%d_disk_*", prefix_of(st), vmid);
	rc = ontap_volume_list(oc, st->svm, pattern, &vols, &n, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot list the volumes of VM %d", vmid);
	for (int i = 0; i < n; i++) {
		int v, d;
		bool clone;

		if (names_nvme_volume(prefix_of(st), vols[i].name, &v, &d, &clone) && v == vmid &&
		    d >= 0 && d < 1024)
			used[d] = true;
	}
	free(vols);
	for (int d = 0; d < 1024; d++) {
		if (!used[d]) {
			*out = d;
			return 0;
		}
	}
	return err_set(POE_FAIL, "VM %d has no free disk number in pool '%s'", vmid, st->id);
}

enum made {
	MADE_VOLUME = 1 << 0,
	MADE_NAMESPACE = 1 << 1,
	MADE_MAP = 1 << 2,
	MADE_CG = 1 << 3,        /* created the CG */
	MADE_CG_MEMBER = 1 << 4, /* added the volume to an existing CG */
};

static void create_teardown(struct ops_ctx *ctx, struct ontap_client *oc, unsigned made,
			    const struct ontap_volume *vol, const struct ontap_namespace *ns,
			    const struct ontap_subsystem *ss, const struct ontap_cg *cg)
{
	struct grace g;
	int failed = 0;

	if (!made)
		return;
	grace_begin(ctx, &g);
	if ((made & MADE_CG) && ontap_cg_delete(oc, cg->uuid, ctx->deadline) < 0) {
		log_error("cleanup: cannot delete consistency group '%s': %s", cg->name, err_msg());
		failed++;
	}
	if ((made & MADE_CG_MEMBER) &&
	    ontap_cg_remove_volume(oc, cg->uuid, vol->name, ctx->deadline) < 0) {
		log_error("cleanup: cannot take volume '%s' out of consistency group '%s': %s",
			  vol->name, cg->name, err_msg());
		failed++;
	}
	if ((made & MADE_MAP) && ontap_map_delete(oc, ss->uuid, ns->uuid, ctx->deadline) < 0) {
		log_error("cleanup: cannot unmap namespace '%s': %s", ns->name, err_msg());
		failed++;
	}
	if ((made & MADE_NAMESPACE) && ontap_namespace_delete(oc, ns->uuid, ctx->deadline) < 0) {
		log_error("cleanup: cannot delete namespace '%s': %s", ns->name, err_msg());
		failed++;
	}
	if ((made & MADE_VOLUME) && ontap_volume_delete(oc, vol->uuid, ctx->deadline) < 0) {
		log_error("cleanup: cannot delete volume '%s': %s", vol->name, err_msg());
		failed++;
	}
	if (failed)
		log_error("cleanup left %d object(s) of volume '%s' behind: remove them by hand",
			  failed, vol->name);
	else
		log_info("removed what was made for volume '%s'", vol->name);
	grace_end(ctx, &g);
}

/* The volume of a new disk, with the pool's options. */
static void disk_spec(const struct config_storage *st, const char *vname, uint64_t size,
		      const char *comment, struct ontap_volume_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->name = vname;
	spec->svm = st->svm;
	spec->aggregate = st->aggregate;
	spec->size = volume_size_for(st, size);
	spec->guarantee = st->space_reserve ? st->space_reserve : "none";
	/*
	 * encryption.enabled=true is what the REST subset offers: ONTAP then uses NAE when
	 * the aggregate has it, else NVE with the SVM's key manager.
	 */
	spec->encryption = st->encryption;
	spec->qos_policy = st->qos_policy;
	spec->adaptive_qos_policy = st->adaptive_qos_policy;
	spec->tiering_policy = st->tiering_policy;
	spec->snapshot_reserve = st->snapshot_reserve >= 0 ? st->snapshot_reserve : 0;
	spec->autosize_max = spec->size * VOL_AUTOSIZE_FACTOR;
	spec->comment = comment;
	/* snapshots are the CG's (VM snapshots): a volume policy would double them (§2.5 1.3-2) */
	spec->snapshot_policy_none = true;
}

/* Put the new disk's volume into the VM's CG, creating the CG for the first disk. */
static int cg_join(struct ops_ctx *ctx, const struct config_storage *st, struct ontap_client *oc,
		   const char *cgname, const char *vname, struct ontap_cg *cg, unsigned *made)
{
	int rc = ontap_cg_find(oc, st->svm, cgname, cg, ctx->deadline);

	if (rc == POE_NOTFOUND) {
		const char *vols[1] = { vname };

		err_clear();
		rc = ontap_cg_create(oc, st->svm, cgname, vols, 1, cg, ctx->deadline);
		if (rc == 0)
			*made |= MADE_CG;
	} else if (rc == 0 && !in_names(cg->volumes, cg->nvolumes, vname)) {
		rc = ontap_cg_add_volume(oc, cg->uuid, vname, ctx->deadline);
		if (rc == 0)
			*made |= MADE_CG_MEMBER;
	}
	return rc;
}

/* The VM's CG (its name in name): 1 with *cg filled, 0 when there is none, < 0 on error. */
static int vm_cg_find(struct ops_ctx *ctx, const struct config_storage *st,
		      struct ontap_client *oc, int vmid, char *name, size_t n, struct ontap_cg *cg)
{
	int rc;

	cg_name_of(st, vmid, name, n);
	rc = ontap_cg_find(oc, st->svm, name, cg, ctx->deadline);
	if (rc == POE_NOTFOUND) {
		err_clear();
		return 0;
	}
	if (rc < 0)
		return err_prefix(rc, "cannot read consistency group '%s'", name);
	return 1;
}

/*
 * Before anything changes: a disk that joins the VM's existing consistency group, or leaves
 * one that keeps other members, needs a cluster that can change CG membership (9.12.1+).
 */
static int cg_change_check(struct ops_ctx *ctx, const struct config_storage *st,
			   struct ontap_client *oc, int vmid, const char *vol, bool adding)
{
	struct ontap_cg cg;
	char name[64];
	bool member;
	int rc;

	rc = vm_cg_find(ctx, st, oc, vmid, name, sizeof(name), &cg);
	if (rc <= 0)
		return rc;
	member = in_names(cg.volumes, cg.nvolumes, vol);
	if (adding ? !member : (member && cg.nvolumes > 1))
		rc = ontap_cg_membership_supported(oc, ctx->deadline);
	ontap_cg_release(&cg);
	if (rc < 0)
		return err_prefix(rc, "volume '%s' would have to %s consistency group '%s'", vol,
				  adding ? "join" : "leave", name);
	return 0;
}

/* What ops_nvme_create() checks before asking ONTAP: VM id, pool, size (rounded up). */
static int create_check(struct ops_ctx *ctx, int vmid, const char *pool, uint64_t *size,
			const struct config_storage **st, struct nvme_disk_info *out)
{
	int rc;

	if (vmid < 100 || vmid > 999999999)
		return err_set(POE_USAGE, "VM id %d is out of range (100..999999999)", vmid);
	rc = nvme_pool(ctx, pool, st);
	if (rc == 0) /* the pool id fits the report: known before anything is made */
		rc = info_from(out, *st, NULL, NULL);
	if (rc < 0)
		return rc;
	if (!(*st)->aggregate)
		return err_set(POE_CONFIG, "NVMe pool '%s' needs 'aggregate' to create volumes",
			       (*st)->id);
	*size = round_up(*size, NS_BLOCK);
	if (*size < NS_MIN_SIZE || *size > NS_MAX_SIZE)
		return err_set(POE_USAGE, "disk size %llu is out of range (20M..128T)",
			       (unsigned long long)*size);
	return 0;
}

int ops_nvme_create(struct ops_ctx *ctx, int vmid, const char *pool, uint64_t size,
		    struct nvme_disk_info *out)
{
	const struct config_storage *st;
	struct ontap_volume_spec spec;
	struct ontap_volume vol;
	struct ontap_namespace ns;
	struct ontap_subsystem ss;
	struct ontap_cg cg;
	struct ontap_client *oc;
	char vname[208], nsname[440], comment[96], cgname[64];
	unsigned made = 0;
	int disk = 0, rc;

	memset(&vol, 0, sizeof(vol));
	memset(&ns, 0, sizeof(ns));
	memset(&ss, 0, sizeof(ss));
	memset(&cg, 0, sizeof(cg));
	memset(out, 0, sizeof(*out));
	rc = create_check(ctx, vmid, pool, &size, &st, out);
	if (rc == 0)
		rc = ops_ontap(ctx, st, &oc);
	if (rc < 0)
		return rc;

	rc = next_disk(ctx, st, oc, vmid, &disk);
	if (rc < 0)
		return rc;
	volume_name(st, vmid, disk, vname, sizeof(vname));
	rc = cg_change_check(ctx, st, oc, vmid, vname, true);
	if (rc < 0)
		return err_prefix(rc, "cannot create disk %d of VM %d in pool '%s'", disk, vmid,
				  st->id);
	/* the pool's subsystem and this node's host entry are shared by every disk of the
	 * pool: set up before the disk and never removed by a cleanup */
	rc = pool_prepare(ctx, st, oc, &ss);
	if (rc < 0)
		return rc;
	snprintf(nsname, sizeof(nsname), "/vol/%s/%s", vname, vname);
	snprintf(comment, sizeof(comment), "pve-ontap vm=%d disk=%d", vmid, disk);
	cg_name_of(st, vmid, cgname, sizeof(cgname));

	disk_spec(st, vname, size, comment, &spec);

	rc = ontap_volume_create(oc, &spec, &vol, ctx->deadline);
	if (rc < 0)
		goto fail;
	made |= MADE_VOLUME;
	if (!vol.name[0]) {
		rc = util_strcpy(vol.name, vname, sizeof(vol.name), "volume name");
		if (rc < 0)
			goto fail;
	}
	rc = ontap_namespace_create(oc, st->svm, nsname, size, comment, &ns, ctx->deadline);
	if (rc < 0)
		goto fail;
	made |= MADE_NAMESPACE;
	rc = ontap_map_create(oc, st->svm, ss.uuid, ns.uuid, ctx->deadline);
	if (rc < 0)
		goto fail;
	made |= MADE_MAP;
	rc = cg_join(ctx, st, oc, cgname, vname, &cg, &made);
	if (rc < 0)
		goto fail;
	rc = info_from(out, st, &ns, vname);
	if (rc == 0 && !out->ns_name[0])
		rc = util_strcpy(out->ns_name, nsname, sizeof(out->ns_name), "namespace path");
	if (rc < 0)
		goto fail;
	out->vmid = vmid;
	out->disk = disk;
	out->volume_size = spec.size;
	out->mapped = true;
	log_info("created disk %d of VM %d: volume '%s', namespace '%s' (%s), in '%s'", disk, vmid,
		 vname, nsname, ns.uuid, cgname);
	after_create(ctx, st, oc, vmid, out);
	rc = 0;
	goto out;
fail:
	{
		struct err_saved failure;

		err_save(&failure);
		create_teardown(ctx, oc, made, &vol, &ns, &ss, &cg);
		err_restore(&failure);
		rc = err_prefix(rc, "cannot create disk %d of VM %d in pool '%s'", disk, vmid,
				st->id);
	}
out:
	ontap_cg_release(&cg);
	return rc;
}

/* ---- find one disk ---- */

struct disk_ref {
	const struct config_storage *st;
	struct ontap_client *oc;
	struct ontap_volume vol;
	struct ontap_namespace ns;
	bool has_ns;
};

static int find_ns_in(struct ops_ctx *ctx, struct ontap_client *oc, const char *svm,
		      const char *vol, struct ontap_namespace *out)
{
	char name[440];
	struct ontap_namespace *all = NULL;
	int n = 0, rc;

	snprintf(name, sizeof(name), "/vol/%s/%s", vol, vol);
	rc = ontap_namespace_find(oc, svm, name, out, ctx->deadline);
	if (rc != POE_NOTFOUND)
		return rc;
	err_clear();
	/* a renamed or cloned volume keeps the old leaf name (prior art §2.4) */
	snprintf(name, sizeof(name), "/vol/%s/*", vol);
	rc = ontap_namespace_list(oc, svm, name, &all, &n, ctx->deadline);
	if (rc == 0 && n > 0)
		*out = all[0];
	else if (rc == 0)
		rc = POE_NOTFOUND;
	free(all);
	return rc;
}

static int find_disk(struct ops_ctx *ctx, int vmid, int disk, const char *pool,
		     struct disk_ref *out)
{
	int found = 0, rc;

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < ctx->cfg->nstorages; i++) {
		const struct config_storage *st = &ctx->cfg->storages[i];
		struct ontap_client *oc;
		struct ontap_volume v;
		char vname[208];

		if (st->protocol != STORAGE_NVME || (pool && strcmp(pool, st->id) != 0))
			continue;
		if (!st->svm || !st->subsystem) {
			const struct config_storage *bad;

			return nvme_pool(ctx, st->id, &bad);
		}
		rc = ops_ontap(ctx, st, &oc);
		if (rc < 0)
			return rc;
		volume_name(st, vmid, disk, vname, sizeof(vname));
		rc = ontap_volume_find(oc, st->svm, vname, &v, ctx->deadline);
		if (rc == POE_NOTFOUND) {
			err_clear();
			continue;
		}
		if (rc < 0)
			return err_prefix(rc, "cannot look up volume '%s'", vname);
		if (found++) {
			return err_set(POE_USAGE, "disk %d of VM %d exists in pools '%s' and '%s': add --storage",
				       disk, vmid, out->st->id, st->id);
		}
		out->st = st;
		out->oc = oc;
		out->vol = v;
	}
	if (pool && !found) {
		const struct config_storage *st;

		rc = nvme_pool(ctx, pool, &st);
		if (rc < 0)
			return rc;
	}
	if (!found)
		return err_set(POE_NOTFOUND, "VM %d has no NVMe disk %d%s%s", vmid, disk,
			       pool ? " in pool " : "", pool ? pool : "");
	rc = find_ns_in(ctx, out->oc, out->st->svm, out->vol.name, &out->ns);
	if (rc == 0)
		out->has_ns = true;
	else if (rc == POE_NOTFOUND)
		err_clear();
	else
		return err_prefix(rc, "cannot look up the namespace of volume '%s'", out->vol.name);
	return 0;
}

/* ---- delete ---- */

/* What a deletion wanted is already the case: success. */
static int not_there(void)
{
	err_clear();
	return 0;
}

/* Unmap, delete the namespace(s) and the volume; ns may be NULL. */
static int remove_volume(struct ops_ctx *ctx, struct ontap_client *oc,
			 const struct config_storage *st, const struct ontap_volume *vol,
			 const struct ontap_namespace *ns)
{
	struct ontap_subsystem ss;
	int rc;

	if (ns) {
		rc = ontap_subsystem_find(oc, st->svm, st->subsystem, &ss, ctx->deadline);
		if (rc == 0)
			rc = ontap_map_delete(oc, ss.uuid, ns->uuid, ctx->deadline);
		else if (rc == POE_NOTFOUND)
			rc = not_there();
		if (rc < 0)
			return err_prefix(rc, "cannot unmap namespace '%s'", ns->name);
		rc = ontap_namespace_delete(oc, ns->uuid, ctx->deadline);
		if (rc == POE_NOTFOUND)
			rc = not_there();
		if (rc < 0)
			return err_prefix(rc, "cannot delete namespace '%s'", ns->name);
	}
	rc = ontap_volume_delete(oc, vol->uuid, ctx->deadline);
	if (rc == POE_NOTFOUND)
		rc = not_there();
	if (rc < 0)
		return err_prefix(rc, "cannot delete volume '%s'", vol->name);
	return 0;
}

/*
 * Recovery clones whose volume name matches pattern ("<vol>_clone_*"): refused while one
 * is attached to the running VM; otherwise removed and detached through the watcher.
 */
static int delete_clones(struct ops_ctx *ctx, const struct config_storage *st,
			 struct ontap_client *oc, int vmid, const char *pattern,
			 struct vm_guard *g)
{
	struct ontap_volume *vols = NULL;
	int n = 0, rc, ndel = 0;

	rc = ontap_volume_list(oc, st->svm, pattern, &vols, &n, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot list the recovery clones of VM %d", vmid);
	/* check them all before removing any */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		for (int i = 0; i < n && rc == 0; i++) {
			struct ontap_namespace ns;
			char key[16];
			int v, d;
			bool clone, has_ns;

			if (!names_nvme_volume(prefix_of(st), vols[i].name, &v, &d, &clone) || !clone ||
			    v != vmid)
				continue;
			rc = find_ns_in(ctx, oc, st->svm, vols[i].name, &ns);
			has_ns = rc == 0;
			if (rc == POE_NOTFOUND)
				rc = not_there();
			if (rc < 0)
				break;
			key[0] = '\0';
			if (has_ns)
				rc = guard_check(ctx, g, ns.uuid, key, sizeof(key));
			if (rc < 0 || pass == 0)
				continue;
			rc = remove_volume(ctx, oc, st, &vols[i], has_ns ? &ns : NULL);
			if (rc < 0)
				break;
			ndel++;
			log_info("deleted recovery clone '%s' of VM %d", vols[i].name, vmid);
			if (has_ns)
				queue_detach(ctx, vmid, ns.uuid, key);
		}
	}
	free(vols);
	return rc < 0 ? rc : ndel;
}

/* Take a volume out of the VM's CG; the last member takes the CG (and its snapshots) along. */
static int leave_cg(struct ops_ctx *ctx, const struct config_storage *st, struct ontap_client *oc,
		    int vmid, const char *vol)
{
	struct ontap_cg_snapshot *snaps = NULL;
	struct ontap_cg cg;
	char name[64];
	int n = 0, rc;

	rc = vm_cg_find(ctx, st, oc, vmid, name, sizeof(name), &cg);
	if (rc <= 0)
		return rc;
	rc = 0;
	if (!in_names(cg.volumes, cg.nvolumes, vol))
		goto out;
	if (cg.nvolumes > 1) {
		rc = ontap_cg_remove_volume(oc, cg.uuid, vol, ctx->deadline);
		goto out;
	}
	/* ONTAP refuses to delete a CG that still has snapshots (prior art §2.3) */
	rc = ontap_cg_snapshot_list(oc, cg.uuid, NULL, &snaps, &n, ctx->deadline);
	for (int i = 0; i < n && rc == 0; i++)
		rc = ontap_cg_snapshot_delete(oc, cg.uuid, snaps[i].uuid, ctx->deadline);
	if (rc == 0)
		rc = ontap_cg_delete(oc, cg.uuid, ctx->deadline);
	if (rc == 0)
		log_info("deleted consistency group '%s' with its last volume", name);
out:
	ontap_cg_snapshot_list_free(snaps, n);
	ontap_cg_release(&cg);
	return rc < 0 ? err_prefix(rc, "cannot take volume '%s' out of consistency group '%s'",
				   vol, name) :
			0;
}

int ops_nvme_delete(struct ops_ctx *ctx, int vmid, int disk, const char *pool,
		    struct nvme_disk_info *out)
{
	struct vm_guard g = { .vmid = vmid };
	struct disk_ref d;
	char pattern[300], key[16] = "";
	int rc;

	memset(out, 0, sizeof(*out));
	rc = find_disk(ctx, vmid, disk, pool, &d);
	if (rc < 0)
		goto out;
	rc = info_from(out, d.st, d.has_ns ? &d.ns : NULL, d.vol.name);
	if (rc < 0)
		goto out;
	out->volume_size = d.vol.size;
	if (d.has_ns) {
		rc = guard_check(ctx, &g, d.ns.uuid, key, sizeof(key));
		if (rc < 0)
			goto out;
	}
	rc = cg_change_check(ctx, d.st, d.oc, vmid, d.vol.name, false);
	if (rc < 0)
		goto out;
	/* a clone pins the snapshot it was made from, so the volume's snapshots */
	snprintf(pattern, sizeof(pattern), "%s_clone_*", d.vol.name);
	rc = delete_clones(ctx, d.st, d.oc, vmid, pattern, &g);
	if (rc < 0)
		goto out;
	rc = leave_cg(ctx, d.st, d.oc, vmid, d.vol.name);
	if (rc == 0)
		rc = remove_volume(ctx, d.oc, d.st, &d.vol, d.has_ns ? &d.ns : NULL);
	if (rc < 0)
		goto out;
	log_info("deleted disk %d of VM %d (volume '%s')", disk, vmid, d.vol.name);
	if (d.has_ns)
		queue_detach(ctx, vmid, d.ns.uuid, key);
out:
	if (rc < 0)
		rc = err_prefix(rc, "cannot delete disk %d of VM %d", disk, vmid);
	guard_release(&g);
	return rc;
}

/* ---- resize ---- */

int ops_nvme_resize(struct ops_ctx *ctx, int vmid, int disk, const char *pool, uint64_t size,
		    struct nvme_disk_info *out)
{
	struct disk_ref d;
	uint64_t vsize;
	int rc;

	memset(out, 0, sizeof(*out));
	size = round_up(size, NS_BLOCK);
	if (size > NS_MAX_SIZE)
		return err_set(POE_USAGE, "disk size %llu is larger than ONTAP's 128 TiB namespace limit",
			       (unsigned long long)size);
	rc = find_disk(ctx, vmid, disk, pool, &d);
	if (rc < 0)
		return rc;
	if (!d.has_ns)
		return err_set(POE_NOTFOUND, "volume '%s' holds no namespace", d.vol.name);
	rc = info_from(out, d.st, &d.ns, d.vol.name);
	if (rc < 0)
		return rc;
	out->volume_size = d.vol.size;
	if (size < d.ns.size)
		return err_set(POE_USAGE,
			       "disk %d of VM %d is %llu bytes: shrinking to %llu is not supported (ONTAP grows namespaces only)",
			       disk, vmid, (unsigned long long)d.ns.size, (unsigned long long)size);
	if (size == d.ns.size) {
		log_info("disk %d of VM %d already has %llu bytes", disk, vmid,
			 (unsigned long long)size);
		return 0;
	}
	/* the volume first: a namespace cannot outgrow its volume (prior art bug §2.6.3) */
	vsize = volume_size_for(d.st, size);
	if (vsize > d.vol.size) {
		rc = ontap_volume_resize(d.oc, d.vol.uuid, vsize, ctx->deadline);
		if (rc < 0)
			return err_prefix(rc, "cannot grow volume '%s' of disk %d of VM %d", d.vol.name,
					  disk, vmid);
		out->volume_size = vsize;
	}
	rc = ontap_namespace_resize(d.oc, d.ns.uuid, size, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot grow namespace '%s' (its volume was grown)", d.ns.name);
	out->size = size;
	log_info("grew disk %d of VM %d to %llu bytes; the guest sees it after a rescan", disk, vmid,
		 (unsigned long long)size);
	return 0;
}

/* ---- list ---- */

int ops_nvme_list(struct ops_ctx *ctx, int vmid, const char *pool, struct nvme_disk_info **out,
		  int *n)
{
	struct nvme_disk_info *arr = NULL;
	int narr = 0, rc = 0;

	*out = NULL;
	*n = 0;
	if (pool) {
		const struct config_storage *st;

		rc = nvme_pool(ctx, pool, &st);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < ctx->cfg->nstorages; i++) {
		const struct config_storage *st = &ctx->cfg->storages[i];
		struct ontap_namespace *ns = NULL;
		struct ontap_volume *vols = NULL;
		struct ontap_client *oc;
		char pattern[300], vpattern[128];
		int nns = 0, nvols = 0;

		if (st->protocol != STORAGE_NVME || !st->svm || (pool && strcmp(pool, st->id) != 0))
			continue;
		rc = ops_ontap(ctx, st, &oc);
		if (rc < 0)
			break;
		if (vmid) {
			snprintf(pattern, sizeof(pattern), "/vol/%svm_%d_*/*", prefix_of(st), vmid);
			snprintf(vpattern, sizeof(vpattern), "%svm_%d_*", prefix_of(st), vmid);
		} else {
			snprintf(pattern, sizeof(pattern), "/vol/%svm_*/*", prefix_of(st));
			snprintf(vpattern, sizeof(vpattern), "%svm_*", prefix_of(st));
		}
		rc = ontap_namespace_list(oc, st->svm, pattern, &ns, &nns, ctx->deadline);
		if (rc == 0)
			rc = ontap_volume_list(oc, st->svm, vpattern, &vols, &nvols, ctx->deadline);
		if (rc < 0) {
			rc = err_prefix(rc, "cannot list NVMe pool '%s'", st->id);
			free(ns);
			free(vols);
			break;
		}
		for (int k = 0; k < nns; k++) {
			struct nvme_disk_info *info;
			char vol[208];

			ns_volume(&ns[k], vol, sizeof(vol));
			arr = util_xrealloc(arr, (size_t)(narr + 1) * sizeof(*arr));
			info = &arr[narr];
			rc = info_from(info, st, &ns[k], vol);
			if (rc < 0)
				break;
			if (info->vmid < 0 || (vmid && info->vmid != vmid))
				continue;
			for (int v = 0; v < nvols; v++)
				if (!strcmp(vols[v].name, vol))
					info->volume_size = vols[v].size;
			if (nvmehost_resolve_sysfs(ctx->cfg, info->uuid, info->device,
						   sizeof(info->device)) < 0) {
				info->device[0] = '\0';
				err_clear();
			}
			narr++;
		}
		free(ns);
		free(vols);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n = narr;
	return 0;
}

/* ---- VM snapshots ---- */


static int snap_add_disk(struct vm_snapshot *s, const char *key, const char *pool,
			 const char *path)
{
	for (int i = 0; i < s->ndisks; i++)
		if (!strcmp(s->disks[i].disk, key) && !strcmp(s->disks[i].kind, "cg-snapshot"))
			return 0;
	return vm_snapshot_add_disk(s, key, "cg-snapshot", pool, path);
}

/* "pveontap_<label>-<ts>" -> "<label>-<ts>"; NULL unless exactly that shape. */
static const char *our_snapshot(const char *ontap_name)
{
	size_t pl = strlen(SNAP_PREFIX);

	if (strncmp(ontap_name, SNAP_PREFIX, pl) != 0 ||
	    !ops_parse_snapshot_name(ontap_name + pl, NULL, 0, &(time_t){ 0 }))
		return NULL;
	return ontap_name + pl;
}

static int volume_uuid(struct ops_ctx *ctx, const struct pool_vm *pv, const char *vol,
		       struct ontap_volume *out)
{
	int rc = ontap_volume_find(pv->oc, pv->st->svm, vol, out, ctx->deadline);

	return rc < 0 ? err_prefix(rc, "cannot look up volume '%s'", vol) : 0;
}

/* Is vol a member of the pool's CG? */
static bool in_cg(const struct pool_vm *pv, const char *vol)
{
	return pv->has_cg && in_names(pv->cg.volumes, pv->cg.nvolumes, vol);
}

/* Delete every CG and volume snapshot named snap of the VM in this pool; errors collected. */
static int delete_named(struct ops_ctx *ctx, const struct pool_vm *pv, const char *snap)
{
	int first = 0;

	if (pv->has_cg) {
		struct ontap_cg_snapshot *cs = NULL;
		int n = 0, rc;

		rc = ontap_cg_snapshot_list(pv->oc, pv->cg.uuid, snap, &cs, &n, ctx->deadline);
		for (int i = 0; i < n && rc == 0; i++) {
			int r = ontap_cg_snapshot_delete(pv->oc, pv->cg.uuid, cs[i].uuid,
							 ctx->deadline);

			if (r < 0 && !first)
				first = err_prefix(r, "cannot delete snapshot '%s' of consistency group '%s'",
						   snap, pv->cgname);
		}
		if (rc < 0 && !first)
			first = rc;
		ontap_cg_snapshot_list_free(cs, n);
	}
	for (int k = 0; k < pv->nns; k++) {
		struct ontap_snapshot *vs = NULL;
		struct ontap_volume vol;
		char vname[208];
		int n = 0, rc;

		ns_volume(&pv->ns[k], vname, sizeof(vname));
		rc = volume_uuid(ctx, pv, vname, &vol);
		if (rc == 0)
			rc = ontap_snapshot_list(pv->oc, vol.uuid, snap, &vs, &n, ctx->deadline);
		for (int i = 0; i < n && rc == 0; i++) {
			int r = ontap_snapshot_delete(pv->oc, vol.uuid, vs[i].uuid, ctx->deadline);

			if (r < 0 && !first)
				first = err_prefix(r, "cannot delete snapshot '%s' of volume '%s'", snap,
						   vname);
		}
		if (rc < 0 && !first)
			first = rc;
		free(vs);
	}
	return first;
}

int ops_nvme_vm_snapshot_create(struct ops_ctx *ctx, const struct pve_vmconf *vm,
				const char *name, const char *comment, const char *label,
				struct vm_snapshot *out)
{
	struct pool_vm *pv = NULL;
	char snap[128];
	int npv = 0, done = 0, rc;

	snprintf(snap, sizeof(snap), SNAP_PREFIX "%s", name);
	rc = vm_pools(ctx, vm->vmid, &pv, &npv);
	if (rc < 0)
		return rc;
	if (!npv) {
		log_warn("VM %d has NVMe disks, but no configured NVMe pool holds a namespace of it: they are not in snapshot '%s'",
			 vm->vmid, name);
		goto out;
	}
	for (done = 0; done < npv; done++) {
		struct pool_vm *p = &pv[done];

		if (p->has_cg) {
			/* one atomic snapshot of every disk of the VM in this pool */
			rc = ontap_cg_snapshot_create(p->oc, p->cg.uuid, snap, comment, label,
						      ctx->deadline);
			if (rc < 0) {
				rc = err_prefix(rc, "cannot snapshot consistency group '%s'",
						p->cgname);
				break;
			}
		} else {
			log_warn("VM %d has no consistency group '%s' in pool '%s': its volumes are snapshotted one by one (not atomic across disks)",
				 vm->vmid, p->cgname, p->st->id);
		}
		for (int k = 0; k < p->nns && rc == 0; k++) {
			struct ontap_volume vol;
			char vname[208], key[16];

			ns_volume(&p->ns[k], vname, sizeof(vname));
			if (!in_cg(p, vname)) {
				if (p->has_cg)
					log_warn("volume '%s' is not in consistency group '%s': snapshotted on its own",
						 vname, p->cgname);
				rc = volume_uuid(ctx, p, vname, &vol);
				if (rc == 0)
					rc = ontap_snapshot_create(p->oc, vol.uuid, snap, comment, label,
								   ctx->deadline);
				if (rc < 0) {
					rc = err_prefix(rc, "cannot snapshot volume '%s'", vname);
					break;
				}
			}
			if (!out)
				continue;
			rc = disk_key(ctx, vm, p, vname, key, sizeof(key));
			if (rc == 0)
				rc = snap_add_disk(out, key, p->st->id,
						   p->has_cg ? p->cgname : vname);
		}
		if (rc < 0) {
			done++;
			break;
		}
	}
	if (rc < 0) {
		struct err_saved failure;
		struct grace g;

		err_save(&failure);
		grace_begin(ctx, &g);
		for (int i = 0; i < done && i < npv; i++)
			if (delete_named(ctx, &pv[i], snap) < 0)
				log_error("cleanup: %s", err_msg());
		grace_end(ctx, &g);
		rc = err_restore(&failure);
	}
out:
	pools_free(pv, npv);
	return rc;
}

int ops_nvme_vm_snapshot_list(struct ops_ctx *ctx, const struct pve_vmconf *vm,
			      struct vm_snapshot **out, int *n)
{
	struct vm_snapshot *arr = NULL;
	struct pool_vm *pv = NULL;
	int narr = 0, npv = 0, rc;

	*out = NULL;
	*n = 0;
	rc = vm_pools(ctx, vm->vmid, &pv, &npv);
	if (rc < 0)
		return rc;
	for (int i = 0; i < npv && rc == 0; i++) {
		struct pool_vm *p = &pv[i];

		if (p->has_cg) {
			struct ontap_cg_snapshot *cs = NULL;
			int ncs = 0;

			rc = ontap_cg_snapshot_list(p->oc, p->cg.uuid, SNAP_PREFIX "*", &cs, &ncs,
						    ctx->deadline);
			for (int k = 0; k < ncs && rc == 0; k++) {
				const char *nm = our_snapshot(cs[k].name);
				char *const *vols = cs[k].nvolumes ? cs[k].volumes : p->cg.volumes;
				int nvols = cs[k].nvolumes ? cs[k].nvolumes : p->cg.nvolumes;
				struct vm_snapshot *s;

				if (!nm)
					continue;
				s = ops_snapshot_find_or_add(&arr, &narr, nm);
				for (int v = 0; v < nvols && rc == 0; v++) {
					char key[16];

					if (!pool_ns_of(p, vols[v]))
						continue;
					rc = disk_key(ctx, vm, p, vols[v], key, sizeof(key));
					if (rc == 0)
						rc = snap_add_disk(s, key, p->st->id, p->cgname);
				}
			}
			ontap_cg_snapshot_list_free(cs, ncs);
		}
		/* volumes outside the CG (or no CG at all): their own snapshots */
		for (int k = 0; k < p->nns && rc == 0; k++) {
			struct ontap_snapshot *vs = NULL;
			struct ontap_volume vol;
			char vname[208];
			int nvs = 0;

			ns_volume(&p->ns[k], vname, sizeof(vname));
			if (in_cg(p, vname))
				continue;
			rc = volume_uuid(ctx, p, vname, &vol);
			if (rc == 0)
				rc = ontap_snapshot_list(p->oc, vol.uuid, SNAP_PREFIX "*", &vs, &nvs,
							 ctx->deadline);
			for (int s = 0; s < nvs && rc == 0; s++) {
				const char *nm = our_snapshot(vs[s].name);
				char key[16];

				if (!nm)
					continue;
				rc = disk_key(ctx, vm, p, vname, key, sizeof(key));
				if (rc < 0)
					break;
				rc = snap_add_disk(ops_snapshot_find_or_add(&arr, &narr, nm), key,
						   p->st->id, vname);
			}
			free(vs);
		}
	}
	pools_free(pv, npv);
	if (rc < 0) {
		ops_vm_snapshot_list_free(arr, narr);
		return rc;
	}
	*out = arr;
	*n = narr;
	return 0;
}

int ops_nvme_vm_snapshot_delete(struct ops_ctx *ctx, const struct pve_vmconf *vm,
				const char *name)
{
	struct vm_guard g = { .vmid = vm->vmid };
	struct pool_vm *pv = NULL;
	char snap[128], suffix[100];
	int npv = 0, rc, first = 0;

	snprintf(snap, sizeof(snap), SNAP_PREFIX "%s", name);
	rc = snap_suffix(name, suffix, sizeof(suffix));
	if (rc == 0)
		rc = vm_pools(ctx, vm->vmid, &pv, &npv);
	if (rc < 0)
		return rc;
	for (int i = 0; i < npv; i++) {
		char pattern[300];

		/* recovery clones made from this snapshot pin it: they go first */
		snprintf(pattern, sizeof(pattern), "%svm_%d_disk_*_clone_%s", prefix_of(pv[i].st),
			 vm->vmid, suffix);
		rc = delete_clones(ctx, pv[i].st, pv[i].oc, vm->vmid, pattern, &g);
		if (rc < 0) {
			first = rc;
			break;
		}
		rc = delete_named(ctx, &pv[i], snap);
		if (rc < 0 && !first)
			first = rc;
	}
	pools_free(pv, npv);
	guard_release(&g);
	return first;
}

/* ---- restore ---- */

struct restore_plan {
	bool cg;                      /* one CG restore, else per-volume restores */
	bool cg_partial;              /* incomplete CG snapshot: its volumes one by one */
	char cg_snap_uuid[40];
	char vols[OPS_MAX_DISKS][208];
	char vol_uuids[OPS_MAX_DISKS][40];
	int nvols;
};

/* Newer snapshots a restore destroys (ops_vm_snapshot_restore() takes no NVMe safety
 * snapshot for that reason: ONTAP would delete it with the restore). */
static int count_newer(const char *const *names, const time_t *times, int n, int target,
		       char *first, size_t fn)
{
	int newer = 0;

	first[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i == target || times[i] < times[target] ||
		    (times[i] == times[target] && i < target))
			continue;
		if (!newer++)
			util_strlcpy(first, names[i], fn); /* for the message only */
	}
	return newer;
}

static int plan_cg(struct ops_ctx *ctx, const struct pool_vm *p, const char *snap, bool force,
		   struct restore_plan *rp, bool *found)
{
	struct ontap_cg_snapshot *cs = NULL;
	const char **names = NULL;
	time_t *times = NULL;
	int ncs = 0, target = -1, rc;
	char newest[256], missing[512] = "";

	*found = false;
	rc = ontap_cg_snapshot_list(p->oc, p->cg.uuid, NULL, &cs, &ncs, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot list the snapshots of consistency group '%s'",
				  p->cgname);
	for (int i = 0; i < ncs; i++)
		if (!strcmp(cs[i].name, snap))
			target = i;
	if (target < 0)
		goto out;
	*found = true;
	for (int v = 0; v < p->cg.nvolumes; v++) {
		if (cs[target].nvolumes &&
		    !in_names(cs[target].volumes, cs[target].nvolumes, p->cg.volumes[v])) {
			size_t l = strlen(missing);

			snprintf(missing + l, sizeof(missing) - l, "%s'%s'", l ? ", " : "",
				 p->cg.volumes[v]);
		}
	}
	if ((cs[target].is_partial || missing[0]) && !force) {
		rc = err_set(POE_FAIL,
			     "snapshot '%s' of consistency group '%s' is %s%s: use --force to restore the volumes it has one by one",
			     snap, p->cgname, missing[0] ? "missing volume " : "partial",
			     missing[0] ? missing : "");
		goto out;
	}
	names = util_xcalloc((size_t)ncs, sizeof(*names));
	times = util_xcalloc((size_t)ncs, sizeof(*times));
	for (int i = 0; i < ncs; i++) {
		names[i] = cs[i].name;
		times[i] = cs[i].create_time;
	}
	{
		int newer = count_newer(names, times, ncs, target, newest, sizeof(newest));

		if (newer && !force) {
			rc = err_set(POE_FAIL,
				     "restoring '%s' discards %d newer snapshot(s) of consistency group '%s' (from '%s'): add --force",
				     snap, newer, p->cgname, newest);
			goto out;
		}
		if (newer)
			log_warn("restoring '%s' discards %d newer snapshot(s) of consistency group '%s' (--force)",
				 snap, newer, p->cgname);
	}
	if (!cs[target].is_partial && !missing[0]) {
		rp->cg = true;
		rc = util_strcpy(rp->cg_snap_uuid, cs[target].uuid, sizeof(rp->cg_snap_uuid),
				 "CG snapshot uuid");
	} else {
		log_warn("snapshot '%s' is incomplete: restoring the volumes it has one by one (--force)",
			 snap);
		rp->cg_partial = true;
		for (int v = 0; v < cs[target].nvolumes && rp->nvols < OPS_MAX_DISKS; v++) {
			rc = util_strcpy(rp->vols[rp->nvols], cs[target].volumes[v],
					 sizeof(rp->vols[0]), "volume name");
			if (rc < 0)
				goto out;
			rp->nvols++;
		}
	}
out:
	free(names);
	free(times);
	ontap_cg_snapshot_list_free(cs, ncs);
	return rc;
}

/*
 * Per-volume restore plan for the VM's volumes that no CG restore covers (no CG, not a
 * member, or the CG snapshot was incomplete and --force restores what it has).
 */
static int plan_volumes(struct ops_ctx *ctx, const struct pool_vm *p, const char *snap, bool force,
			struct restore_plan *rp, bool *any)
{
	int rc = 0;

	for (int k = 0; k < p->nns && rc == 0; k++) {
		struct ontap_snapshot *vs = NULL;
		struct ontap_volume vol;
		const char **names = NULL;
		time_t *times = NULL;
		char vname[208], newest[256];
		int nvs = 0, target = -1, newer;

		ns_volume(&p->ns[k], vname, sizeof(vname));
		if ((rp->cg || rp->cg_partial) && in_cg(p, vname))
			continue;
		rc = volume_uuid(ctx, p, vname, &vol);
		if (rc == 0)
			rc = ontap_snapshot_list(p->oc, vol.uuid, NULL, &vs, &nvs, ctx->deadline);
		if (rc < 0) {
			free(vs);
			break;
		}
		for (int i = 0; i < nvs; i++)
			if (!strcmp(vs[i].name, snap))
				target = i;
		if (target < 0) {
			if (!force)
				rc = err_set(POE_FAIL,
					     "snapshot '%s' has no copy of volume '%s' (added later?): use --force to restore the other disks",
					     snap, vname);
			free(vs);
			continue;
		}
		names = util_xcalloc((size_t)nvs, sizeof(*names));
		times = util_xcalloc((size_t)nvs, sizeof(*times));
		for (int i = 0; i < nvs; i++) {
			names[i] = vs[i].name;
			times[i] = vs[i].create_time;
		}
		newer = count_newer(names, times, nvs, target, newest, sizeof(newest));
		if (newer && !force)
			rc = err_set(POE_FAIL,
				     "restoring '%s' discards %d newer snapshot(s) of volume '%s' (from '%s'): add --force",
				     snap, newer, vname, newest);
		if (rc == 0 && rp->nvols < OPS_MAX_DISKS) {
			rc = util_strcpy(rp->vols[rp->nvols], vname, sizeof(rp->vols[0]),
					 "volume name");
			if (rc == 0)
				rc = util_strcpy(rp->vol_uuids[rp->nvols], vol.uuid,
						 sizeof(rp->vol_uuids[0]), "volume uuid");
			if (rc == 0) {
				rp->nvols++;
				*any = true;
			}
		}
		free(names);
		free(times);
		free(vs);
	}
	return rc;
}

struct nvme_restore {
	struct pool_vm *pv;
	int npv;
	struct restore_plan *plans;   /* one per pool */
	char snap[128];               /* "pveontap_<name>" */
};

void ops_nvme_restore_free(struct nvme_restore *r)
{
	if (!r)
		return;
	pools_free(r->pv, r->npv);
	free(r->plans);
	free(r);
}

int ops_nvme_restore_prepare(struct ops_ctx *ctx, const struct pve_vmconf *vm, const char *name,
			     bool force, struct nvme_restore **out)
{
	struct nvme_restore *r = util_xcalloc(1, sizeof(*r));
	bool any = false;
	int rc;

	*out = NULL;
	snprintf(r->snap, sizeof(r->snap), SNAP_PREFIX "%s", name);
	rc = vm_pools(ctx, vm->vmid, &r->pv, &r->npv);
	if (rc == 0)
		r->plans = util_xcalloc((size_t)r->npv + 1, sizeof(*r->plans));
	/* check every pool before changing anything */
	for (int i = 0; i < r->npv && rc == 0; i++) {
		bool found = false;

		if (r->pv[i].has_cg) {
			rc = plan_cg(ctx, &r->pv[i], r->snap, force, &r->plans[i], &found);
			any |= found;
		}
		if (rc == 0)
			rc = plan_volumes(ctx, &r->pv[i], r->snap, force, &r->plans[i], &any);
	}
	if (rc == 0 && !any)
		rc = err_set(POE_NOTFOUND, "no NVMe disk of VM %d has snapshot '%s'", vm->vmid, name);
	if (rc < 0) {
		ops_nvme_restore_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* One step of a restore: a whole CG (vol < 0) or one volume of a pool's plan. */
struct restore_part {
	int pool;
	int vol;
};

static int restore_parts(const struct nvme_restore *r, struct restore_part *parts)
{
	int n = 0;

	for (int i = 0; i < r->npv; i++) {
		if (r->plans[i].cg)
			parts[n++] = (struct restore_part){ i, -1 };
		for (int v = 0; v < r->plans[i].nvols; v++)
			parts[n++] = (struct restore_part){ i, v };
	}
	return n;
}

static void part_name(const struct nvme_restore *r, const struct restore_part *pt, char *out,
		      size_t n)
{
	if (pt->vol < 0)
		snprintf(out, n, "consistency group '%s'", r->pv[pt->pool].cgname);
	else
		snprintf(out, n, "volume '%s'", r->plans[pt->pool].vols[pt->vol]);
}

static int restore_part(struct ops_ctx *ctx, const struct nvme_restore *r,
			const struct restore_part *pt)
{
	const struct pool_vm *pv = &r->pv[pt->pool];
	const struct restore_plan *rp = &r->plans[pt->pool];
	struct ontap_volume vol;
	const char *uuid;
	int rc = 0;

	if (pt->vol < 0)
		return ontap_cg_restore(pv->oc, pv->cg.uuid, rp->cg_snap_uuid, ctx->deadline);
	uuid = rp->vol_uuids[pt->vol];
	if (!uuid[0]) {
		rc = volume_uuid(ctx, pv, rp->vols[pt->vol], &vol);
		uuid = vol.uuid;
	}
	return rc < 0 ? rc : ontap_volume_restore(pv->oc, uuid, r->snap, ctx->deadline);
}

/*
 * What a run that failed at part `failed` leaves: the parts before it are restored (ONTAP
 * cannot undo them), a failed CG restore may have restored some of its volumes (ONTAP does
 * not roll them back), a failed volume restore and the parts after it left the disks alone.
 */
static void failed_state(const struct nvme_restore *r, const struct restore_part *parts, int n,
			 int failed, struct buf *b)
{
	const char *name = r->snap + strlen(SNAP_PREFIX);
	char nm[300];

	buf_note(b, "NVMe disks: ");
	for (int k = 0; k < failed; k++) {
		part_name(r, &parts[k], nm, sizeof(nm));
		buf_note(b, "%s%s", k ? ", " : "", nm);
	}
	if (failed > 0)
		buf_note(b, " restored to '%s' and not undone (ONTAP keeps no copy of what a restore replaces), ",
			 name);
	part_name(r, &parts[failed], nm, sizeof(nm));
	buf_note(b, "%s %s", nm, parts[failed].vol < 0 ?
		 "may be partly restored (ONTAP does not roll back its volumes)" :
		 "not restored");
	for (int k = failed + 1; k < n; k++) {
		part_name(r, &parts[k], nm, sizeof(nm));
		buf_note(b, "%s%s", k == failed + 1 ? ", not restored: " : ", ", nm);
	}
	if (failed > 0 || parts[failed].vol < 0)
		buf_note(b, "; run the restore again to bring them all to '%s'", name);
}

int ops_nvme_restore_run(struct ops_ctx *ctx, struct nvme_restore *r, struct buf *state)
{
	struct restore_part *parts;
	int n, rc = 0;

	parts = util_xcalloc((size_t)r->npv * (OPS_MAX_DISKS + 1) + 1, sizeof(*parts));
	n = restore_parts(r, parts);
	for (int k = 0; k < n; k++) {
		char nm[300];

		part_name(r, &parts[k], nm, sizeof(nm));
		rc = restore_part(ctx, r, &parts[k]);
		if (rc == 0) {
			log_info("restored %s to '%s'", nm, r->snap);
			continue;
		}
		failed_state(r, parts, n, k, state);
		rc = err_prefix(rc, "cannot restore %s", nm);
		break;
	}
	free(parts);
	return rc;
}

/* ---- clone ---- */

struct clone_made {
	const struct config_storage *st;
	struct ontap_client *oc;
	struct ontap_volume vol;
	struct ontap_namespace ns;
	char ss_uuid[40];
	bool created;
	bool mapped;
};

static void clone_teardown(struct ops_ctx *ctx, struct clone_made *m, int n)
{
	struct grace g;

	grace_begin(ctx, &g);
	for (int i = n - 1; i >= 0; i--) {
		if (!m[i].created)
			continue;
		if (m[i].mapped &&
		    ontap_map_delete(m[i].oc, m[i].ss_uuid, m[i].ns.uuid, ctx->deadline) < 0)
			log_error("cleanup: cannot unmap '%s': %s", m[i].ns.name, err_msg());
		if (m[i].ns.uuid[0] &&
		    ontap_namespace_delete(m[i].oc, m[i].ns.uuid, ctx->deadline) < 0)
			log_error("cleanup: cannot delete namespace '%s': %s", m[i].ns.name, err_msg());
		if (ontap_volume_delete(m[i].oc, m[i].vol.uuid, ctx->deadline) < 0)
			log_error("cleanup: cannot delete clone '%s': %s", m[i].vol.name, err_msg());
	}
	grace_end(ctx, &g);
}

/* Volumes of the VM in this pool that have the snapshot. */
static int clone_sources(struct ops_ctx *ctx, const struct pool_vm *p, const char *snap,
			 char (*vols)[208], int max)
{
	int n = 0, rc = 0;

	if (p->has_cg) {
		struct ontap_cg_snapshot *cs = NULL;
		int ncs = 0;

		rc = ontap_cg_snapshot_list(p->oc, p->cg.uuid, snap, &cs, &ncs, ctx->deadline);
		for (int k = 0; k < ncs && rc == 0; k++) {
			char *const *v = cs[k].nvolumes ? cs[k].volumes : p->cg.volumes;
			int nv = cs[k].nvolumes ? cs[k].nvolumes : p->cg.nvolumes;

			for (int i = 0; i < nv && n < max && rc == 0; i++) {
				if (!pool_ns_of(p, v[i]))
					continue;
				rc = util_strcpy(vols[n], v[i], 208, "volume name");
				if (rc == 0)
					n++;
			}
		}
		ontap_cg_snapshot_list_free(cs, ncs);
	}
	for (int k = 0; k < p->nns && rc == 0 && n < max; k++) {
		struct ontap_volume vol;
		char vname[208];
		bool have = false;

		ns_volume(&p->ns[k], vname, sizeof(vname));
		for (int i = 0; i < n; i++)
			have |= !strcmp(vols[i], vname);
		if (have || in_cg(p, vname))
			continue;
		rc = volume_uuid(ctx, p, vname, &vol);
		if (rc == 0) {
			rc = ontap_snapshot_find(p->oc, vol.uuid, snap, NULL, ctx->deadline);
			if (rc == 0)
				rc = util_strcpy(vols[n++], vname, 208, "volume name");
			else if (rc == POE_NOTFOUND)
				rc = not_there();
		}
	}
	return rc < 0 ? rc : n;
}

/* One recovery clone of volume vol: reused when it exists, else a FlexClone; mapped. */
static int clone_one(struct ops_ctx *ctx, const struct pool_vm *p, const struct ontap_subsystem *ss,
		     const char *vol, const char *snap, const char *suffix, struct clone_made *m)
{
	char cname[208];
	int rc;

	if ((size_t)snprintf(cname, sizeof(cname), "%s_clone_%s", vol, suffix) >= sizeof(cname))
		return err_set(POE_FAIL, "clone name for volume '%s' is too long", vol);
	rc = ontap_volume_find(m->oc, m->st->svm, cname, &m->vol, ctx->deadline);
	if (rc == 0) {
		log_info("recovery clone '%s' exists already: reusing it", cname);
	} else if (rc == POE_NOTFOUND) {
		err_clear();
		rc = ontap_volume_flexclone(m->oc, m->st->svm, vol, snap, cname, NULL, &m->vol,
					    ctx->deadline);
		if (rc < 0)
			return rc;
		m->created = true;
		if (!m->vol.name[0] &&
		    util_strcpy(m->vol.name, cname, sizeof(m->vol.name), "clone name") < 0)
			return POE_FAIL;
	} else {
		return rc;
	}
	rc = find_ns_in(ctx, m->oc, m->st->svm, cname, &m->ns);
	if (rc == POE_NOTFOUND && ctx->dry_run) {
		rc = 0;
		err_clear();
		snprintf(m->ns.name, sizeof(m->ns.name), "/vol/%s/%s", cname, vol);
	}
	if (rc < 0)
		return err_prefix(rc, "clone '%s' holds no namespace", cname);
	(void)p;
	rc = ontap_map_create(m->oc, m->st->svm, ss->uuid, m->ns.uuid, ctx->deadline);
	if (rc < 0)
		return rc;
	m->mapped = true;
	return 0;
}

/* Clone every volume of pool p that has snap; appends to made[*nmade]. */
static int clone_pool(struct ops_ctx *ctx, const struct pool_vm *p, const char *snap,
		      const char *suffix, struct clone_made *made, int *nmade)
{
	char (*vols)[208] = util_xcalloc(OPS_MAX_DISKS, sizeof(*vols));
	struct ontap_subsystem ss;
	int nv, rc;

	nv = clone_sources(ctx, p, snap, vols, OPS_MAX_DISKS);
	rc = nv < 0 ? nv : 0;
	if (rc == 0 && nv > 0)
		rc = pool_prepare(ctx, p->st, p->oc, &ss);
	for (int k = 0; k < nv && rc == 0 && *nmade < OPS_MAX_DISKS; k++) {
		struct clone_made *m = &made[*nmade];

		memset(m, 0, sizeof(*m));
		m->st = p->st;
		m->oc = p->oc;
		rc = util_strcpy(m->ss_uuid, ss.uuid, sizeof(m->ss_uuid), "subsystem uuid");
		if (rc < 0)
			break;
		(*nmade)++;
		rc = clone_one(ctx, p, &ss, vols[k], snap, suffix, m);
	}
	free(vols);
	return rc;
}

/* Connect once per pool, then hand each clone to the watcher (attach job). */
static void clones_to_node(struct ops_ctx *ctx, int vmid, const struct clone_made *made,
			   struct nvme_disk_info *infos, int nmade)
{
	for (int i = 0; i < nmade; i++) {
		bool seen = false;

		for (int k = 0; k < i; k++)
			seen |= made[k].st == made[i].st;
		if (!seen && pool_connect(ctx, made[i].st, made[i].oc) < 0) {
			log_warn("clones are mapped, but this node is not connected: %s", err_msg());
			err_clear();
		}
	}
	for (int i = 0; i < nmade; i++) {
		if (!ctx->dry_run && nvmehost_resolve_sysfs(ctx->cfg, infos[i].uuid, infos[i].device,
							    sizeof(infos[i].device)) < 0) {
			infos[i].device[0] = '\0';
			err_clear();
		}
		if ((infos[i].uuid[0] || ctx->dry_run) &&
		    ops_queue(ctx, vmid, QUEUE_NVME_ATTACH,
			      infos[i].uuid[0] ? infos[i].uuid :
						 "00000000-0000-0000-0000-000000000000") < 0) {
			log_warn("clone '%s' is mapped, but the attach job was not queued: %s",
				 infos[i].volume, err_msg());
			err_clear();
		}
	}
}

int ops_nvme_clone(struct ops_ctx *ctx, int vmid, const char *name, struct nvme_disk_info **out,
		   int *nout)
{
	struct clone_made *made = util_xcalloc(OPS_MAX_DISKS, sizeof(*made));
	struct nvme_disk_info *infos = NULL;
	struct pve_vmconf *vm = NULL;
	struct pool_vm *pv = NULL;
	char snap[128], suffix[100];
	int npv = 0, nmade = 0, rc;

	*out = NULL;
	*nout = 0;
	if (!ops_parse_snapshot_name(name, NULL, 0, &(time_t){ 0 })) {
		rc = err_set(POE_USAGE, "'%s' is not a pve-ontap snapshot name (<label>-<YYYYMMDDTHHMMSSZ>)",
			     name);
		goto out;
	}
	rc = pve_vmconf_load(ctx->cfg->paths.pve_etc, vmid, &vm);
	if (rc == POE_NOTFOUND)
		rc = err_set(POE_NOTFOUND, "VM %d not found (no config under '%s')", vmid,
			     ctx->cfg->paths.pve_etc);
	if (rc < 0)
		goto out;
	snprintf(snap, sizeof(snap), SNAP_PREFIX "%s", name);
	rc = snap_suffix(name, suffix, sizeof(suffix));
	if (rc == 0)
		rc = vm_pools(ctx, vmid, &pv, &npv);
	if (rc < 0)
		goto out;
	for (int i = 0; i < npv && rc == 0; i++)
		rc = clone_pool(ctx, &pv[i], snap, suffix, made, &nmade);
	if (rc == 0 && !nmade)
		rc = err_set(POE_NOTFOUND, "no NVMe disk of VM %d has snapshot '%s'", vmid, name);
	if (rc == 0)
		infos = util_xcalloc((size_t)nmade, sizeof(*infos));
	for (int i = 0; i < nmade && rc == 0; i++) {
		rc = info_from(&infos[i], made[i].st, &made[i].ns, made[i].vol.name);
		infos[i].volume_size = made[i].vol.size;
		infos[i].mapped = true;
	}
	if (rc < 0) {
		struct err_saved saved;

		free(infos);
		err_save(&saved);
		clone_teardown(ctx, made, nmade);
		err_restore(&saved);
		rc = err_prefix(rc, "cannot clone snapshot '%s' of VM %d", name, vmid);
		goto out;
	}
	clones_to_node(ctx, vmid, made, infos, nmade);
	*out = infos;
	*nout = nmade;
	rc = 0;
out:
	pools_free(pv, npv);
	pve_vmconf_free(vm);
	free(made);
	return rc;
}
