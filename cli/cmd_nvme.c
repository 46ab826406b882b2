/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pve-ontap nvme create|delete|resize|list|clone|connect|resolve: NVMe/TCP disks of VMs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli.h"
#include "config/config.h"
#include "base/err.h"
#include "format/json.h"
#include "base/log.h"
#include "host/nvmehost.h"
#include "ops/ops.h"
#include "base/util.h"

static void info_json(struct json_writer *w, const struct nvme_disk_info *d)
{
	jw_object_begin(w, NULL);
	jw_string(w, "pool", d->pool);
	if (d->vmid > 0)
		jw_int(w, "vmid", d->vmid);
	else
		jw_null(w, "vmid");
	if (d->disk >= 0)
		jw_int(w, "disk", d->disk);
	else
		jw_null(w, "disk");
	jw_bool(w, "clone", d->is_clone);
	jw_string(w, "volume", d->volume);
	jw_string(w, "namespace", d->ns_name);
	jw_string(w, "uuid", d->uuid);
	jw_int(w, "size", (int64_t)d->size);
	jw_int(w, "used", (int64_t)d->used);
	if (d->volume_size)
		jw_int(w, "volume_size", (int64_t)d->volume_size);
	jw_bool(w, "mapped", d->mapped);
	jw_string(w, "device", d->device[0] ? d->device : NULL);
	jw_object_end(w);
}

/* One JSON document of n infos on stdout (as an array unless one == true). */
static int print_json(const struct nvme_disk_info *d, int n, bool one)
{
	struct cli_json j;

	cli_json_begin(&j);
	if (!one)
		jw_array_begin(&j.w, NULL);
	for (int i = 0; i < n; i++)
		info_json(&j.w, &d[i]);
	if (!one)
		jw_array_end(&j.w);
	return cli_json_end(&j);
}

static void human(uint64_t v, char *out, size_t n)
{
	static const char units[] = "BKMGTP";
	int u = 0;
	double x = (double)v;

	while (x >= 1024 && u < 5) {
		x /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%" PRIu64 "B", v);
	else
		snprintf(out, n, "%.1f%c", x, units[u]);
}

static int nvme_create(struct cli_ctx *cc, int argc, char **argv)
{
	const char *pool = NULL;
	long long vmid = 0;
	unsigned long long size = 0;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM that gets the disk" },
		{ "storage", CLI_OPT_STR, &pool, true, "POOL", "NVMe pool from the configuration" },
		{ "size", CLI_OPT_SIZE, &size, true, "SIZE",
		  "disk size (32G, 512M, 1T; at least 20M, rounded up to 4 KiB)" },
		{ .name = NULL },
	};
	struct nvme_disk_info d;
	struct cli_run r;
	int rc;

	rc = cli_parse("nvme create", argc, argv, opts,
		       "Create an NVMe/TCP disk for a VM: a FlexVol <prefix>vm_<vmid>_disk_<n> (the next\n"
		       "free n) with the pool's options (space reserve, encryption, QoS, tiering, snapshot\n"
		       "reserve, autosize, no snapshot policy), sized 5 % (at least 64 MiB) above the disk,\n"
		       "holding the namespace /vol/<vol>/<vol>. The namespace is mapped to the pool's\n"
		       "subsystem (created if missing, with this node's host NQN) and the volume joins the\n"
		       "VM's consistency group <prefix>cg_vm_<vmid> (created if missing). If any step fails,\n"
		       "what was made is removed again. Then this node connects to the pool's portals and\n"
		       "the watcher attaches the device to the VM (nvme-attach job).",
		       NULL, NULL);
	if (rc)
		return rc;
	rc = cli_run_begin_vm(&r, cc, (int)vmid);
	if (rc == 0)
		rc = ops_nvme_create(&r.ctx, (int)vmid, pool, size, &d);
	cli_run_end(&r, cc);
	if (rc < 0)
		return rc;
	if (cc->json)
		return print_json(&d, 1, true);
	if (!cc->dry_run)
		printf("created disk %d of VM %lld: namespace %s (%s)%s%s\n", d.disk, vmid, d.uuid,
		       d.ns_name, d.device[0] ? " at " : "", d.device);
	return 0;
}

static int nvme_delete(struct cli_ctx *cc, int argc, char **argv)
{
	const char *pool = NULL;
	long long vmid = 0, disk = -1;
	bool yes = false;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM" },
		{ "disk", CLI_OPT_INT, &disk, true, "N", "disk number n of <prefix>vm_<vmid>_disk_<n>" },
		{ "storage", CLI_OPT_STR, &pool, false, "POOL",
		  "the pool (needed only when several pools have that disk)" },
		{ "yes", CLI_OPT_FLAG, &yes, false, NULL, "really destroy the disk and its snapshots" },
		{ .name = NULL },
	};
	struct nvme_disk_info d;
	char what[512];
	struct cli_run r;
	int rc;

	rc = cli_parse("nvme delete", argc, argv, opts,
		       "Destroy an NVMe/TCP disk: its recovery clones, its consistency-group membership\n"
		       "(the group goes with its last volume), the map, the namespace and the volume with\n"
		       "all its snapshots. Refused while the disk is attached to a running VM; for a\n"
		       "stopped VM the watcher drops the disk from the VM config (unused-remove job).",
		       NULL, NULL);
	if (rc)
		return rc;
	if (disk < 0)
		return cli_usage_error("nvme delete", "--disk must be 0 or more");
	snprintf(what, sizeof(what),
		 "deleting disk %lld of VM %lld destroys its volume, its namespace and every snapshot\n"
		 "of it (the data is gone for good). Add --yes to go on.",
		 disk, vmid);
	if (!cc->dry_run) {
		rc = cli_require_yes(yes, what);
		if (rc < 0)
			return rc;
	}
	rc = cli_run_begin_vm(&r, cc, (int)vmid);
	if (rc == 0)
		rc = ops_nvme_delete(&r.ctx, (int)vmid, (int)disk, pool, &d);
	cli_run_end(&r, cc);
	if (rc == 0 && !cc->dry_run)
		printf("deleted disk %lld of VM %lld (volume '%s')\n", disk, vmid, d.volume);
	return rc;
}

static int nvme_resize(struct cli_ctx *cc, int argc, char **argv)
{
	const char *pool = NULL;
	long long vmid = 0, disk = -1;
	unsigned long long size = 0;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM" },
		{ "disk", CLI_OPT_INT, &disk, true, "N", "disk number" },
		{ "size", CLI_OPT_SIZE, &size, true, "SIZE", "new size (grow only)" },
		{ "storage", CLI_OPT_STR, &pool, false, "POOL",
		  "the pool (needed only when several pools have that disk)" },
		{ .name = NULL },
	};
	struct nvme_disk_info d;
	struct cli_run r;
	int rc;

	rc = cli_parse("nvme resize", argc, argv, opts,
		       "Grow an NVMe/TCP disk: the volume first (keeping the headroom), then the\n"
		       "namespace. Shrinking is refused: ONTAP cannot shrink a namespace.",
		       NULL, NULL);
	if (rc)
		return rc;
	if (disk < 0)
		return cli_usage_error("nvme resize", "--disk must be 0 or more");
	rc = cli_run_begin_vm(&r, cc, (int)vmid);
	if (rc == 0)
		rc = ops_nvme_resize(&r.ctx, (int)vmid, (int)disk, pool, size, &d);
	cli_run_end(&r, cc);
	if (rc < 0)
		return rc;
	if (cc->json)
		return print_json(&d, 1, true);
	if (!cc->dry_run) {
		char h[32];

		human(d.size, h, sizeof(h));
		printf("disk %lld of VM %lld is %s (%" PRIu64 " bytes)\n", disk, vmid, h, d.size);
	}
	return 0;
}

/* nvme list --orphans: volumes and CGs of VMs that no longer exist. */
static int list_orphans(struct cli_ctx *cc, const char *pool)
{
	struct nvme_orphan *o = NULL;
	struct cli_json j;
	struct cli_run r;
	int n = 0, rc;

	cli_run_begin(&r, cc);
	rc = ops_nvme_orphans(&r.ctx, pool, &o, &n);
	cli_run_end(&r, cc);
	if (rc < 0)
		return rc;
	if (cc->json) {
		cli_json_begin(&j);
		jw_array_begin(&j.w, NULL);
		for (int i = 0; i < n; i++) {
			jw_object_begin(&j.w, NULL);
			jw_string(&j.w, "pool", o[i].pool);
			jw_string(&j.w, "kind", o[i].kind);
			jw_string(&j.w, "name", o[i].name);
			jw_int(&j.w, "vmid", o[i].vmid);
			if (o[i].disk >= 0)
				jw_int(&j.w, "disk", o[i].disk);
			jw_bool(&j.w, "clone", o[i].is_clone);
			jw_object_end(&j.w);
		}
		jw_array_end(&j.w);
		rc = cli_json_end(&j);
	} else {
		printf("%-10s %-18s %-10s %s\n", "POOL", "KIND", "VMID", "NAME");
		for (int i = 0; i < n; i++)
			printf("%-10s %-18s %-10d %s\n", o[i].pool, o[i].kind, o[i].vmid, o[i].name);
	}
	free(o);
	return rc;
}

static int nvme_list(struct cli_ctx *cc, int argc, char **argv)
{
	const char *pool = NULL;
	long long vmid = 0;
	bool orphans = false;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, false, "ID", "only this VM's namespaces" },
		{ "storage", CLI_OPT_STR, &pool, false, "POOL", "only this pool" },
		{ "orphans", CLI_OPT_FLAG, &orphans, false, NULL,
		  "volumes and consistency groups of VMs that no longer exist" },
		{ .name = NULL },
	};
	struct nvme_disk_info *d = NULL;
	struct cli_run r;
	int n = 0, rc;

	rc = cli_parse("nvme list", argc, argv, opts,
		       "List the namespaces of pve-ontap's VM disks and recovery clones: pool, VM, disk,\n"
		       "volume, uuid, size, used, whether mapped, and the local block device when this\n"
		       "node is connected.\n"
		       "--orphans lists instead the volumes <prefix>vm_<vmid>_disk_<n> and consistency\n"
		       "groups <prefix>cg_vm_<vmid> of VMs that have no config on any node: PVE's\n"
		       "'qm destroy' leaves the ONTAP objects of raw-path disks behind.",
		       NULL, NULL);
	if (rc)
		return rc;
	if (orphans && vmid)
		return cli_usage_error("nvme list", "--orphans and --vm exclude each other");
	if (orphans)
		return list_orphans(cc, pool);
	cli_run_begin(&r, cc);
	rc = ops_nvme_list(&r.ctx, (int)vmid, pool, &d, &n);
	cli_run_end(&r, cc);
	if (rc < 0)
		return rc;
	if (cc->json) {
		rc = print_json(d, n, false);
	} else {
		printf("%-10s %-6s %-5s %-40s %-36s %8s %8s %-6s %s\n", "POOL", "VMID", "DISK",
		       "VOLUME", "UUID", "SIZE", "USED", "MAPPED", "DEVICE");
		for (int i = 0; i < n; i++) {
			char sz[32], used[32], disk[16];

			human(d[i].size, sz, sizeof(sz));
			human(d[i].used, used, sizeof(used));
			snprintf(disk, sizeof(disk), "%d%s", d[i].disk, d[i].is_clone ? "c" : "");
			printf("%-10s %-6d %-5s %-40s %-36s %8s %8s %-6s %s\n", d[i].pool, d[i].vmid,
			       disk, d[i].volume, d[i].uuid, sz, used, d[i].mapped ? "yes" : "no",
			       d[i].device[0] ? d[i].device : "-");
		}
	}
	free(d);
	return rc;
}

static int nvme_clone(struct cli_ctx *cc, int argc, char **argv)
{
	const char *name = NULL;
	long long vmid = 0;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM" },
		{ "snapshot", CLI_OPT_STR, &name, true, "NAME", "VM snapshot name from 'vm list'" },
		{ .name = NULL },
	};
	struct nvme_disk_info *d = NULL;
	struct cli_run r;
	int n = 0, rc;

	rc = cli_parse("nvme clone", argc, argv, opts,
		       "Make the NVMe disks of a VM snapshot available without rolling back: one FlexClone\n"
		       "<volume>_clone_<label>_<ts> per disk volume, its namespace mapped to the pool's\n"
		       "subsystem and attached to the VM as an extra disk by the watcher, for file-level\n"
		       "recovery. 'vm delete' of that snapshot (or 'nvme delete' of the disk) removes them.",
		       NULL, NULL);
	if (rc)
		return rc;
	rc = cli_run_begin_vm(&r, cc, (int)vmid);
	if (rc == 0)
		rc = ops_nvme_clone(&r.ctx, (int)vmid, name, &d, &n);
	cli_run_end(&r, cc);
	if (rc < 0)
		return rc;
	if (cc->json) {
		rc = print_json(d, n, false);
	} else if (!cc->dry_run) {
		for (int i = 0; i < n; i++)
			printf("cloned '%s' of VM %lld as '%s': namespace %s%s%s\n", name, vmid,
			       d[i].volume, d[i].uuid, d[i].device[0] ? " at " : "", d[i].device);
	}
	free(d);
	return rc;
}

static int nvme_connect(struct cli_ctx *cc, int argc, char **argv)
{
	const char *pool = NULL;
	const struct cli_opt opts[] = {
		{ "storage", CLI_OPT_STR, &pool, true, "POOL", "NVMe pool from the configuration" },
		{ .name = NULL },
	};
	struct cli_run r;
	int rc;

	rc = cli_parse("nvme connect", argc, argv, opts,
		       "Prepare this node for a pool: make sure the pool's subsystem exists and lists this\n"
		       "node's host NQN, then 'nvme connect-all' to each portal (the pool's 'portals', else\n"
		       "the SVM's NVMe/TCP interfaces that are up). Portals already connected count.",
		       NULL, NULL);
	if (rc)
		return rc;
	cli_run_begin(&r, cc);
	rc = ops_nvme_connect(&r.ctx, pool);
	cli_run_end(&r, cc);
	if (rc < 0)
		return rc;
	if (!cc->dry_run)
		printf("connected to %d portal(s) of pool '%s'\n", rc, pool);
	return 0;
}

static int nvme_resolve(struct cli_ctx *cc, int argc, char **argv)
{
	const char *uuid = NULL;
	const struct cli_opt opts[] = {
		{ "uuid", CLI_OPT_STR, &uuid, true, "UUID", "namespace uuid (as ONTAP shows it)" },
		{ .name = NULL },
	};
	char dev[512];
	int rc;

	rc = cli_parse("nvme resolve", argc, argv, opts,
		       "Print the local block device (nvme<X>n<Y>, never a per-path device) of a\n"
		       "namespace: sysfs uuid/nguid first, then 'nvme netapp ontapdevices', then\n"
		       "'nvme list'. Exit status 6 when this node does not see it.",
		       NULL, NULL);
	if (rc)
		return rc;
	if (!util_is_uuid(uuid))
		return cli_usage_error("nvme resolve", "'%s' is not a namespace uuid", uuid);
	rc = nvmehost_resolve(cc->cfg, uuid, dev, sizeof(dev));
	if (rc < 0)
		return rc;
	if (cc->json) {
		static const char *const how[] = { "", "sysfs", "ontapdevices", "nvme-list" };
		struct buf out = BUF_INIT(4096);
		struct json_writer w;

		jw_init(&w, &out, 1);
		jw_object_begin(&w, NULL);
		jw_string(&w, "uuid", uuid);
		jw_string(&w, "device", dev);
		jw_string(&w, "found_by", rc >= 1 && rc <= 3 ? how[rc] : "");
		jw_object_end(&w);
		if (jw_finish(&w) == 0)
			printf("%s\n", buf_cstr(&out));
		buf_release(&out);
	} else {
		printf("%s\n", dev);
	}
	return 0;
}

static const struct cli_verb nvme_verbs[] = {
	{ "create", nvme_create, CLI_NEEDS_CONFIG, "--vm ID --storage POOL --size SIZE", NULL },
	{ "delete", nvme_delete, CLI_NEEDS_CONFIG, "--vm ID --disk N [--storage POOL] [--yes]",
	  NULL },
	{ "resize", nvme_resize, CLI_NEEDS_CONFIG,
	  "--vm ID --disk N --size SIZE [--storage POOL]", NULL },
	{ "list", nvme_list, CLI_NEEDS_CONFIG, "[--vm ID] [--storage POOL] [--orphans]", NULL },
	{ "clone", nvme_clone, CLI_NEEDS_CONFIG, "--vm ID --snapshot NAME", NULL },
	{ "connect", nvme_connect, CLI_NEEDS_CONFIG, "--storage POOL", NULL },
	{ "resolve", nvme_resolve, CLI_NEEDS_CONFIG, "--uuid UUID", NULL },
	{ .name = NULL },
};

const struct cli_object cli_obj_nvme = {
	.name = "nvme",
	.summary = "NVMe/TCP disks: one FlexVol and namespace per disk, grouped per VM",
	.verbs = nvme_verbs,
};
