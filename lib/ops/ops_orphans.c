// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * NVMe objects left behind by VMs that no longer exist (DESIGN.md "Storage kinds": PVE's
 * own qm destroy leaves the ONTAP objects of a raw-path disk alone; reference/pve.md
 * Additions, destroy_vm skips paths starting with '/'). Read-only: nothing is deleted here.
 */
#include "ops/ops.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "config/config.h"
#include "ontap/ontap.h"
#include "ops/names.h"
#include "base/util.h"

/* The cluster's nodes: the names under <pve_etc>/nodes (at least one, or an error). */
struct nodes {
	char **names;
	int n;
};

static void nodes_free(struct nodes *nd)
{
	for (int i = 0; i < nd->n; i++)
		free(nd->names[i]);
	free(nd->names);
}

static int nodes_load(const char *pve_etc, struct nodes *nd)
{
	char *dir = util_xasprintf("%s/nodes", pve_etc);
	DIR *dh = opendir(dir);
	struct dirent *de;
	int rc = 0;

	memset(nd, 0, sizeof(*nd));
	if (!dh) {
		rc = err_set(POE_FAIL, "cannot tell which VMs exist: cannot read '%s': %s", dir,
			     strerror(errno));
		goto out;
	}
	while ((de = readdir(dh))) {
		if (de->d_name[0] == '.' || !util_is_safe_name(de->d_name))
			continue;
		nd->names = util_xrealloc(nd->names, (size_t)(nd->n + 1) * sizeof(*nd->names));
		nd->names[nd->n++] = util_xstrdup(de->d_name);
	}
	closedir(dh);
	if (nd->n == 0)
		rc = err_set(POE_FAIL, "cannot tell which VMs exist: '%s' lists no node (is pmxcfs running?)",
			     dir);
out:
	free(dir);
	return rc;
}

/* A config of vmid on any node: <pve_etc>/nodes/<node>/qemu-server/<vmid>.conf. */
static bool vm_exists(const char *pve_etc, const struct nodes *nd, int vmid)
{
	for (int i = 0; i < nd->n; i++) {
		char *path = util_xasprintf("%s/nodes/%s/qemu-server/%d.conf", pve_etc,
					    nd->names[i], vmid);
		struct stat st;
		bool there = stat(path, &st) == 0;

		free(path);
		if (there)
			return true;
	}
	return false;
}

struct orphans {
	const char *pve_etc;
	const struct nodes *nd;
	struct nvme_orphan *v;
	int n;
};

/* Adds name unless its VM exists; POE_FAIL when pool, kind or name do not fit an entry (a
 * cut name is what a person would delete). */
static int orphan_add(struct orphans *o, const struct config_storage *st, const char *kind,
		      const char *name, int vmid, int disk, bool clone)
{
	struct nvme_orphan *x;

	if (vm_exists(o->pve_etc, o->nd, vmid))
		return 0;
	o->v = util_xrealloc(o->v, (size_t)(o->n + 1) * sizeof(*o->v));
	x = &o->v[o->n];
	memset(x, 0, sizeof(*x));
	if (util_strcpy(x->pool, st->id, sizeof(x->pool), "pool name") < 0 ||
	    util_strcpy(x->kind, kind, sizeof(x->kind), "orphan kind") < 0 ||
	    util_strcpy(x->name, name, sizeof(x->name), "orphan name") < 0)
		return POE_FAIL;
	x->vmid = vmid;
	x->disk = disk;
	x->is_clone = clone;
	o->n++;
	return 0;
}

static int pool_orphans(struct ops_ctx *ctx, const struct config_storage *st, struct orphans *o)
{
	const char *prefix = st->prefix ? st->prefix : "pve_";
	struct ontap_client *oc;
	struct ontap_volume *vols = NULL;
	struct ontap_cg *cgs = NULL;
	char pattern[128];
	int nvols = 0, ncgs = 0, rc;

	rc = ops_ontap(ctx, st, &oc);
	if (rc < 0)
		return rc;
	snprintf(pattern, sizeof(pattern), "%svm_*", prefix);
	rc = ontap_volume_list(oc, st->svm, pattern, &vols, &nvols, ctx->deadline);
	if (rc == 0) {
		snprintf(pattern, sizeof(pattern), "%scg_vm_*", prefix);
		rc = ontap_cg_list(oc, st->svm, pattern, &cgs, &ncgs, ctx->deadline);
	}
	for (int i = 0; rc == 0 && i < nvols; i++) {
		int vmid, disk;
		bool clone;

		if (names_nvme_volume(prefix, vols[i].name, &vmid, &disk, &clone))
			rc = orphan_add(o, st, "volume", vols[i].name, vmid, disk, clone);
	}
	for (int i = 0; rc == 0 && i < ncgs; i++) {
		int vmid;

		if (names_nvme_cg(prefix, cgs[i].name, &vmid))
			rc = orphan_add(o, st, "consistency-group", cgs[i].name, vmid, -1, false);
	}
	free(vols);
	ontap_cg_list_free(cgs, ncgs);
	return rc < 0 ? err_prefix(rc, "cannot list NVMe pool '%s'", st->id) : 0;
}

static int orphan_cmp(const void *a, const void *b)
{
	const struct nvme_orphan *x = a, *y = b;
	int c = strcmp(x->pool, y->pool);

	if (c == 0 && x->vmid != y->vmid)
		c = x->vmid < y->vmid ? -1 : 1;
	if (c == 0)
		c = strcmp(y->kind, x->kind); /* volumes first */
	return c ? c : strcmp(x->name, y->name);
}

int ops_nvme_orphans(struct ops_ctx *ctx, const char *pool, struct nvme_orphan **out, int *n)
{
	struct nodes nd;
	struct orphans o = { .pve_etc = ctx->cfg->paths.pve_etc, .nd = &nd };
	int rc, pools = 0;

	*out = NULL;
	*n = 0;
	rc = nodes_load(ctx->cfg->paths.pve_etc, &nd);
	for (int i = 0; rc == 0 && i < ctx->cfg->nstorages; i++) {
		const struct config_storage *st = &ctx->cfg->storages[i];

		if (st->protocol != STORAGE_NVME || (pool && strcmp(pool, st->id) != 0))
			continue;
		pools++;
		if (!st->svm) {
			rc = err_set(POE_CONFIG, "NVMe pool '%s' needs 'svm'", st->id);
			break;
		}
		rc = pool_orphans(ctx, st, &o);
	}
	nodes_free(&nd);
	if (rc == 0 && pool && !pools)
		rc = err_set(POE_CONFIG, "NVMe pool '%s' is not configured", pool);
	if (rc < 0) {
		free(o.v);
		return rc;
	}
	if (o.n > 1)
		qsort(o.v, (size_t)o.n, sizeof(*o.v), orphan_cmp);
	*out = o.v;
	*n = o.n;
	return 0;
}
