/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pve-ontap vm create|list|delete|restore|prune: VM snapshots (NFS file clones, NVMe CG
 * snapshots). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "cli.h"
#include "config/config.h"
#include "base/err.h"
#include "format/json.h"
#include "base/log.h"
#include "ops/ops.h"
#include "base/util.h"

/* only the bound struct buf needs: the summary of any real snapshot is far smaller */
#define DISK_SUMMARY_MAX ((size_t)1 << 24)

static void snapshot_json(struct json_writer *w, const struct vm_snapshot *s,
			  const struct vm_snapshot *pruned, int npruned);

/* "pruned": [snapshot objects] (vm create --keep, vm prune) */
static void pruned_json(struct json_writer *w, const struct vm_snapshot *pruned, int npruned)
{
	jw_array_begin(w, "pruned");
	for (int i = 0; i < npruned; i++)
		snapshot_json(w, &pruned[i], NULL, 0);
	jw_array_end(w);
}

/* only the bound struct buf needs: the summary of any real snapshot is far smaller */
#define DISK_SUMMARY_MAX ((size_t)1 << 24)

static void snapshot_json(struct json_writer *w, const struct vm_snapshot *s,
			  const struct vm_snapshot *pruned, int npruned)
{
	char iso[21];

	util_iso8601(s->created, iso);
	jw_object_begin(w, NULL);
	jw_string(w, "name", s->name);
	jw_string(w, "label", s->label);
	jw_string(w, "created", iso);
	jw_array_begin(w, "disks");
	for (int i = 0; i < s->ndisks; i++) {
		jw_object_begin(w, NULL);
		jw_string(w, "disk", s->disks[i].disk);
		jw_string(w, "kind", s->disks[i].kind);
		jw_string(w, "storage", s->disks[i].storage);
		jw_string(w, "path", s->disks[i].path);
		jw_object_end(w);
	}
	jw_array_end(w);
	/* current disks without a copy (a clone deleted with its unusedN entry, a later disk) */
	jw_bool(w, "complete", s->nmissing == 0);
	jw_array_begin(w, "missing");
	for (int i = 0; i < s->nmissing; i++)
		jw_string(w, NULL, s->missing[i]);
	jw_array_end(w);
	if (pruned)
		pruned_json(w, pruned, npruned);
	jw_object_end(w);
}

/* "scsi0,virtio1 (incomplete, missing: sata0)" into b (emptied first); every key whole. */
static int disk_summary(const struct vm_snapshot *s, struct buf *b)
{
	int rc = 0;

	buf_reset(b);
	for (int i = 0; i < s->ndisks && rc == 0; i++)
		rc = buf_printf(b, "%s%s", i ? "," : "", s->disks[i].disk);
	for (int i = 0; i < s->nmissing && rc == 0; i++)
		rc = buf_printf(b, "%s%s", i ? "," : " (incomplete, missing: ", s->missing[i]);
	if (s->nmissing && rc == 0)
		rc = buf_puts(b, ")");
	return rc;
}

static void print_pruned(int vmid, const struct vm_snapshot *pruned, int npruned, bool dry)
{
	for (int i = 0; i < npruned; i++)
		printf("%s snapshot '%s' of VM %d\n", dry ? "would delete" : "deleted",
		       pruned[i].name, vmid);
}

static int check_keep(const char *cmd, long long keep, long long min, bool label_ok)
{
	if (keep < min || keep > 1000)
		return cli_usage_error(cmd, "--keep must be %lld..1000, not %lld", min, keep);
	if (!label_ok)
		return cli_usage_error(cmd, "--keep needs --label: snapshots labelled 'manual' are "
				       "pruned only by 'vm prune --label manual'");
	return 0;
}

static int vm_create(struct cli_ctx *cc, int argc, char **argv)
{
	const char *label = NULL, *quiesce = NULL;
	long long vmid = 0, keep = -1;
	bool suspend = false, shutdown = false;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM to snapshot" },
		{ "label", CLI_OPT_STR, &label, false, "L",
		  "label (a-z, 0-9, _; default manual): part of the name" },
		{ "keep", CLI_OPT_INT, &keep, false, "N",
		  "then delete the oldest of this label beyond the newest N (needs --label)" },
		{ "quiesce", CLI_OPT_STR, &quiesce, false, "MODE",
		  "none (default), freeze (guest agent fsfreeze), suspend (to disk), shutdown" },
		{ "suspend", CLI_OPT_FLAG, &suspend, false, NULL, "same as --quiesce suspend" },
		{ "shutdown", CLI_OPT_FLAG, &shutdown, false, NULL, "same as --quiesce shutdown" },
		{ .name = NULL },
	};
	struct vm_snapshot_opts so = { 0 };
	struct vm_snapshot snap = { .ndisks = 0 }, *pruned = NULL;
	struct cli_run run;
	int npruned = 0, nlist = 0, rc;

	rc = cli_parse("vm create", argc, argv, opts,
		       "Snapshot every disk of a VM on a configured storage: one ONTAP file clone per\n"
		       "NFS disk (all in parallel, next to the disk in images/<vmid>/), one consistency-\n"
		       "group snapshot for its NVMe disks. If any disk fails, what was made is removed.\n"
		       "Register jobs make the clones visible in PVE (unusedN) through the watcher.\n"
		       "With --keep N the newest N snapshots of the label survive and older ones\n"
		       "of it are deleted.",
		       NULL, NULL);
	if (rc)
		return rc;
	rc = keep < 0 ? 0 : check_keep("vm create", keep, 1, label != NULL);
	if (rc < 0)
		return rc;
	so.vmid = (int)vmid;
	so.label = label;
	so.queue_rescan = true;
	if (quiesce && ops_parse_quiesce(quiesce, &so.quiesce) < 0)
		return POE_USAGE;
	if (suspend + shutdown + (quiesce != NULL) > 1)
		return cli_usage_error("vm create", "choose one of --quiesce, --suspend, --shutdown");
	if (suspend)
		so.quiesce = QUIESCE_SUSPEND;
	if (shutdown)
		so.quiesce = QUIESCE_SHUTDOWN;
	rc = cli_run_begin_vm(&run, cc, so.vmid);
	if (rc == 0)
		rc = ops_vm_snapshot_create(&run.ctx, &so, &snap);
	if (rc == 0 && keep > 0) {
		/* the snapshot exists: a retention failure is an error, but says so */
		npruned = ops_vm_snapshot_prune_select(&run.ctx, so.vmid, label, (int)keep, &pruned,
						       &nlist);
		if (npruned < 0)
			rc = err_prefix(npruned, "created snapshot '%s', but retention failed",
					snap.name);
	}
	cli_run_end(&run, cc);
	if (rc == 0 && cc->json) {
		struct cli_json j;

		cli_json_begin(&j);
		snapshot_json(&j.w, &snap, keep > 0 ? pruned : NULL, npruned);
		rc = cli_json_end(&j);
	} else if (rc == 0 && !cc->dry_run) {
		struct buf disks = BUF_INIT(DISK_SUMMARY_MAX);

		rc = disk_summary(&snap, &disks);
		if (rc == 0)
			printf("created snapshot '%s' of VM %d (%s)\n", snap.name, so.vmid,
			       buf_cstr(&disks));
		buf_release(&disks);
		if (rc == 0)
			print_pruned(so.vmid, pruned, npruned, false);
	}
	ops_vm_snapshot_list_free(pruned, nlist);
	vm_snapshot_clear(&snap);
	return rc;
}

static int vm_list(struct cli_ctx *cc, int argc, char **argv)
{
	long long vmid = 0;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM" },
		{ .name = NULL },
	};
	struct vm_snapshot *snaps = NULL;
	struct cli_run run;
	int n = 0, rc;

	rc = cli_parse("vm list", argc, argv, opts,
		       "List the pve-ontap snapshots of a VM, oldest first, with the disks each covers.\n"
		       "Only names made by pve-ontap (<label>-<YYYYMMDDTHHMMSSZ>) are listed. A snapshot\n"
		       "without a copy of a current disk is incomplete (the missing disks are named):\n"
		       "removing a clone's Unused Disk in PVE (qm set --delete unusedN) deletes the file.",
		       NULL, NULL);
	if (rc)
		return rc;
	cli_run_begin(&run, cc);
	rc = ops_vm_snapshot_list(&run.ctx, (int)vmid, &snaps, &n);
	cli_run_end(&run, cc);
	if (rc < 0)
		return rc;
	if (cc->json) {
		struct cli_json j;

		cli_json_begin(&j);
		jw_array_begin(&j.w, NULL);
		for (int i = 0; i < n; i++)
			snapshot_json(&j.w, &snaps[i], NULL, 0);
		jw_array_end(&j.w);
		rc = cli_json_end(&j);
	} else {
		struct buf disks = BUF_INIT(DISK_SUMMARY_MAX);

		printf("%-40s %-20s %s\n", "NAME", "CREATED", "DISKS");
		for (int i = 0; i < n && rc == 0; i++) {
			char iso[21];

			util_iso8601(snaps[i].created, iso);
			rc = disk_summary(&snaps[i], &disks);
			if (rc == 0)
				printf("%-40s %-20s %s\n", snaps[i].name, iso, buf_cstr(&disks));
		}
		buf_release(&disks);
	}
	ops_vm_snapshot_list_free(snaps, n);
	return rc;
}

static int vm_delete(struct cli_ctx *cc, int argc, char **argv)
{
	const char *name = NULL;
	long long vmid = 0;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM" },
		{ "snapshot", CLI_OPT_STR, &name, true, "NAME", "snapshot name from 'vm list'" },
		{ .name = NULL },
	};
	struct cli_run run;
	int rc;

	rc = cli_parse("vm delete", argc, argv, opts,
		       "Delete every file clone and CG snapshot of one VM snapshot. PVE's unusedN\n"
		       "entries for the clones are removed by the watcher.",
		       NULL, NULL);
	if (rc)
		return rc;
	rc = cli_run_begin_vm(&run, cc, (int)vmid);
	if (rc == 0)
		rc = ops_vm_snapshot_delete(&run.ctx, (int)vmid, name);
	cli_run_end(&run, cc);
	if (rc == 0 && !cc->dry_run)
		printf("deleted snapshot '%s' of VM %lld\n", name, vmid);
	return rc;
}

static int vm_restore(struct cli_ctx *cc, int argc, char **argv)
{
	const char *name = NULL;
	long long vmid = 0;
	bool yes = false, force = false;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM (must be stopped)" },
		{ "snapshot", CLI_OPT_STR, &name, true, "NAME", "snapshot name from 'vm list'" },
		{ "yes", CLI_OPT_FLAG, &yes, false, NULL, "really overwrite the disks" },
		{ "force", CLI_OPT_FLAG, &force, false, NULL,
		  "go on despite missing disks, newer CG snapshots or a stale PVE lock" },
		{ .name = NULL },
	};
	struct cli_run run;
	char what[512];
	int rc;

	rc = cli_parse("vm restore", argc, argv, opts,
		       "Bring a stopped VM's disks back to a snapshot: each disk's clone is cloned back\n"
		       "over the disk. A safety snapshot labelled 'prerestore' is taken first, and if any\n"
		       "disk fails every NFS disk is put back from it. A VM locked by PVE is refused\n"
		       "(--force overrides a stale lock, never 'suspended'); so is an incomplete\n"
		       "snapshot (--force restores the disks it has).",
		       NULL, NULL);
	if (rc)
		return rc;
	snprintf(what, sizeof(what),
		 "restoring VM %lld to '%s' overwrites its disks: every change since that snapshot is\n"
		 "lost (a safety snapshot labelled 'prerestore' is taken first). Add --yes to go on.",
		 vmid, name);
	if (!cc->dry_run) {
		rc = cli_require_yes(yes, what);
		if (rc < 0)
			return rc;
	}
	rc = cli_run_begin_vm(&run, cc, (int)vmid);
	if (rc == 0)
		rc = ops_vm_snapshot_restore(&run.ctx, (int)vmid, name, force);
	cli_run_end(&run, cc);
	if (rc == 0 && !cc->dry_run)
		printf("restored VM %lld to snapshot '%s'\n", vmid, name);
	return rc;
}

static int vm_prune(struct cli_ctx *cc, int argc, char **argv)
{
	const char *label = NULL;
	long long vmid = 0, keep = 0;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM" },
		{ "keep", CLI_OPT_INT, &keep, true, "N",
		  "newest snapshots per label that survive" },
		{ "label", CLI_OPT_STR, &label, false, "L",
		  "only this label (default: every label except manual and prerestore)" },
		{ .name = NULL },
	};
	struct vm_snapshot *pruned = NULL;
	struct cli_json j;
	struct cli_run run;
	int n = 0, nlist = 0, rc;

	rc = cli_parse("vm prune", argc, argv, opts,
		       "Retention by hand: per label, keep the newest N pve-ontap snapshots of\n"
		       "the VM and delete older ones (every disk's clone, CG snapshots). Names\n"
		       "that pve-ontap did not make are never touched; 'manual' and 'prerestore'\n"
		       "only with --label. With --dry-run it prints what would be deleted and\n"
		       "deletes nothing.",
		       NULL, NULL);
	if (rc == 0)
		rc = check_keep("vm prune", keep, 0, true);
	if (rc)
		return rc;
	rc = cli_run_begin_vm(&run, cc, (int)vmid);
	if (rc == 0)
		n = rc = ops_vm_snapshot_prune_select(&run.ctx, (int)vmid, label, (int)keep,
						      &pruned, &nlist);
	if (rc >= 0 && cc->json) {
		cli_json_begin(&j);
		jw_object_begin(&j.w, NULL);
		jw_int(&j.w, "vmid", vmid);
		jw_int(&j.w, "keep", keep);
		jw_string(&j.w, "label", label);
		jw_bool(&j.w, "dry_run", cc->dry_run);
		/* with --dry-run this yields to the one dry-run document (cli_run_end) */
		pruned_json(&j.w, pruned, n);
		jw_object_end(&j.w);
	}
	cli_run_end(&run, cc);
	if (rc >= 0 && cc->json)
		rc = cli_json_end(&j);
	else if (rc >= 0)
		print_pruned((int)vmid, pruned, n, cc->dry_run);
	ops_vm_snapshot_list_free(pruned, nlist);
	return rc < 0 ? rc : 0;
}

static const struct cli_verb vm_verbs[] = {
	{ "create", vm_create, CLI_NEEDS_CONFIG,
	  "--vm ID [--label L] [--keep N] [--quiesce none|freeze|suspend|shutdown] [--suspend] "
	  "[--shutdown]",
	  NULL },
	{ "list", vm_list, CLI_NEEDS_CONFIG, "--vm ID", NULL },
	{ "delete", vm_delete, CLI_NEEDS_CONFIG, "--vm ID --snapshot NAME", NULL },
	{ "restore", vm_restore, CLI_NEEDS_CONFIG, "--vm ID --snapshot NAME [--yes] [--force]",
	  NULL },
	{ "prune", vm_prune, CLI_NEEDS_CONFIG, "--vm ID --keep N [--label L]", NULL },
	{ .name = NULL },
};

const struct cli_object cli_obj_vm = {
	.name = "vm",
	.summary = "VM snapshots: file clones of NFS disks, CG snapshots of NVMe disks",
	.verbs = vm_verbs,
};
