/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pve-ontap storage create|list|show|delete|restore|mount|unmount: volume snapshots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli.h"
#include "config/config.h"
#include "base/err.h"
#include "format/json.h"
#include "ontap/ontap.h"
#include "ops/ops.h"
#include "base/util.h"

static void snapshot_json(struct json_writer *w, const struct storage_snapshot *s)
{
	char iso[21];

	util_iso8601(s->created, iso);
	jw_object_begin(w, NULL);
	jw_string(w, "name", s->name);
	jw_string(w, "created", iso);
	jw_string(w, "comment", s->comment);
	jw_object_end(w);
}

static int st_create(struct cli_ctx *cc, int argc, char **argv)
{
	const char *id = NULL, *label = NULL;
	const struct cli_opt opts[] = {
		{ "storage", CLI_OPT_STR, &id, true, "ID", "PVE NFS storage id" },
		{ "label", CLI_OPT_STR, &label, false, "L", "label (default manual)" },
		{ .name = NULL },
	};
	struct storage_snapshot snap;
	struct cli_run c;
	int rc = cli_parse("storage create", argc, argv, opts,
			   "Take an ONTAP snapshot 'pveontap_<label>-<ts>' of the volume behind the\n"
			   "storage. Suspend or shut down its VMs first for a consistent state.",
			   NULL, NULL);

	if (rc)
		return rc;
	rc = cli_run_begin_storage(&c, cc, id);
	if (rc == 0)
		rc = ops_storage_snapshot_create(&c.ctx, id, label, &snap);
	cli_run_end(&c, cc);
	if (rc < 0 || cc->dry_run)
		return rc;
	if (cc->json) {
		struct cli_json j;

		cli_json_begin(&j);
		snapshot_json(&j.w, &snap);
		rc = cli_json_end(&j);
	} else {
		printf("created snapshot '%s' of storage '%s'\n", snap.name, id);
	}
	return rc;
}

static int st_list(struct cli_ctx *cc, int argc, char **argv)
{
	const char *id = NULL;
	const struct cli_opt opts[] = {
		{ "storage", CLI_OPT_STR, &id, true, "ID", "PVE NFS storage id" },
		{ .name = NULL },
	};
	struct storage_snapshot *snaps = NULL;
	struct cli_run c;
	int n = 0;
	int rc = cli_parse("storage list", argc, argv, opts,
			   "List every snapshot of the volume behind the storage, oldest first.",
			   NULL, NULL);

	if (rc)
		return rc;
	cli_run_begin(&c, cc);
	rc = ops_storage_snapshot_list(&c.ctx, id, &snaps, &n);
	cli_run_end(&c, cc);
	if (rc < 0)
		return rc;
	if (cc->json) {
		struct cli_json j;

		cli_json_begin(&j);
		jw_array_begin(&j.w, NULL);
		for (int i = 0; i < n; i++)
			snapshot_json(&j.w, &snaps[i]);
		jw_array_end(&j.w);
		rc = cli_json_end(&j);
	} else {
		printf("%-48s %-20s %s\n", "NAME", "CREATED", "COMMENT");
		for (int i = 0; i < n; i++) {
			char iso[21];

			util_iso8601(snaps[i].created, iso);
			printf("%-48s %-20s %s\n", snaps[i].name, iso, snaps[i].comment);
		}
	}
	free(snaps);
	return rc;
}

static int st_show(struct cli_ctx *cc, int argc, char **argv)
{
	const char *id = NULL;
	const struct cli_opt opts[] = {
		{ "storage", CLI_OPT_STR, &id, true, "ID", "PVE NFS storage id" },
		{ .name = NULL },
	};
	struct ontap_volume v;
	struct cli_run c;
	int rc = cli_parse("storage show", argc, argv, opts,
			   "Show the ONTAP volume behind the storage: junction, SVM, space, snapshot\n"
			   "reserve, FlexClone parent.",
			   NULL, NULL);

	if (rc)
		return rc;
	cli_run_begin(&c, cc);
	rc = ops_storage_volume(&c.ctx, id, &v);
	cli_run_end(&c, cc);
	if (rc < 0)
		return rc;
	if (cc->json) {
		struct cli_json j;

		cli_json_begin(&j);
		jw_object_begin(&j.w, NULL);
		jw_string(&j.w, "storage", id);
		jw_string(&j.w, "name", v.name);
		jw_string(&j.w, "uuid", v.uuid);
		jw_string(&j.w, "svm", v.svm);
		jw_string(&j.w, "nas_path", v.nas_path);
		jw_string(&j.w, "state", v.state);
		jw_int(&j.w, "size", (int64_t)v.size);
		jw_int(&j.w, "used", (int64_t)v.used);
		jw_int(&j.w, "available", (int64_t)v.available);
		jw_int(&j.w, "snapshot_reserve_percent", v.snapshot_reserve);
		jw_bool(&j.w, "is_flexclone", v.is_flexclone);
		jw_string(&j.w, "clone_parent", v.is_flexclone ? v.clone_parent : NULL);
		jw_string(&j.w, "clone_parent_snapshot",
			  v.is_flexclone ? v.clone_parent_snapshot : NULL);
		jw_object_end(&j.w);
		return cli_json_end(&j);
	}
	printf("storage:          %s\nvolume:           %s\nuuid:             %s\n"
	       "svm:              %s\njunction:         %s\nstate:            %s\n"
	       "size:             %llu\nused:             %llu\navailable:        %llu\n"
	       "snapshot reserve: %d%%\n",
	       id, v.name, v.uuid, v.svm, v.nas_path, v.state, (unsigned long long)v.size,
	       (unsigned long long)v.used, (unsigned long long)v.available, v.snapshot_reserve);
	if (v.is_flexclone)
		printf("flexclone of:     %s @ %s\n", v.clone_parent, v.clone_parent_snapshot);
	return 0;
}

static int st_delete(struct cli_ctx *cc, int argc, char **argv)
{
	const char *id = NULL, *name = NULL;
	const struct cli_opt opts[] = {
		{ "storage", CLI_OPT_STR, &id, true, "ID", "PVE NFS storage id" },
		{ "snapshot", CLI_OPT_STR, &name, true, "NAME", "snapshot name from 'storage list'" },
		{ .name = NULL },
	};
	struct cli_run c;
	int rc = cli_parse("storage delete", argc, argv, opts,
			   "Delete one snapshot of the volume behind the storage.", NULL, NULL);

	if (rc)
		return rc;
	rc = cli_run_begin_storage(&c, cc, id);
	if (rc == 0)
		rc = ops_storage_snapshot_delete(&c.ctx, id, name);
	cli_run_end(&c, cc);
	if (rc == 0 && !cc->dry_run)
		printf("deleted snapshot '%s' of storage '%s'\n", name, id);
	return rc;
}

static int st_restore(struct cli_ctx *cc, int argc, char **argv)
{
	const char *id = NULL, *name = NULL;
	bool yes = false, force = false;
	const struct cli_opt opts[] = {
		{ "storage", CLI_OPT_STR, &id, true, "ID", "PVE NFS storage id" },
		{ "snapshot", CLI_OPT_STR, &name, true, "NAME", "snapshot name from 'storage list'" },
		{ "yes", CLI_OPT_FLAG, &yes, false, NULL, "really rewind the whole storage" },
		{ "force", CLI_OPT_FLAG, &force, false, NULL, "even while VMs on it are running" },
		{ .name = NULL },
	};
	struct buf report = BUF_INIT(1 << 20);
	struct cli_run c;
	int running = 0;
	int rc = cli_parse("storage restore", argc, argv, opts,
			   "Rewind the whole volume behind the storage to a snapshot (SnapRestore):\n"
			   "every VM disk on it goes back, and ONTAP deletes every newer snapshot.\n"
			   "'storage mount' gives access to a snapshot without losing anything.",
			   NULL, NULL);

	if (rc)
		return rc;
	rc = cli_run_begin_storage(&c, cc, id);
	if (rc == 0 && !yes && !cc->dry_run) {
		/* say what would be lost, change nothing */
		rc = ops_storage_restore_plan(&c.ctx, id, name, force, &report, &running);
		if (rc == 0) {
			fputs(buf_cstr(&report), stderr);
			rc = cli_require_yes(false,
					     "data written since the snapshot is lost. Add --yes to go on.");
		}
	} else if (rc == 0) {
		rc = ops_storage_snapshot_restore(&c.ctx, id, name, force);
	}
	cli_run_end(&c, cc);
	if (rc == 0 && !cc->dry_run)
		printf("restored storage '%s' to snapshot '%s'\n", id, name);
	buf_release(&report);
	return rc;
}

static int st_mount(struct cli_ctx *cc, int argc, char **argv)
{
	const char *id = NULL, *name = NULL, *as = NULL;
	const struct cli_opt opts[] = {
		{ "storage", CLI_OPT_STR, &id, true, "ID", "PVE NFS storage id" },
		{ "snapshot", CLI_OPT_STR, &name, true, "NAME", "snapshot name from 'storage list'" },
		{ "as", CLI_OPT_STR, &as, false, "NEWID", "id of the new storage (default ID-CLONE)" },
		{ .name = NULL },
	};
	char newid[80] = "", clone[208] = "";
	struct cli_run c;
	int rc = cli_parse("storage mount", argc, argv, opts,
			   "Make a snapshot usable without touching the storage: a FlexClone\n"
			   "<volume>_clone_<ts> of it, junctioned at /<that name>, added to PVE as a new NFS\n"
			   "storage with the parent's server, options, content and nodes.",
			   NULL, NULL);

	if (rc)
		return rc;
	rc = cli_run_begin_storage(&c, cc, id);
	if (rc == 0)
		rc = ops_storage_mount(&c.ctx, id, name, as, newid, sizeof(newid), clone, sizeof(clone));
	cli_run_end(&c, cc);
	if (rc == 0 && !cc->dry_run)
		printf("mounted snapshot '%s' of '%s' as storage '%s' (FlexClone '%s')\n", name, id,
		       newid, clone);
	return rc;
}

static int st_unmount(struct cli_ctx *cc, int argc, char **argv)
{
	const char *id = NULL;
	bool force = false;
	const struct cli_opt opts[] = {
		{ "storage", CLI_OPT_STR, &id, true, "NEWID", "storage made by 'storage mount'" },
		{ "force", CLI_OPT_FLAG, &force, false, NULL,
		  "even while VM configs refer to volumes on it" },
		{ .name = NULL },
	};
	char clone[208] = "";
	struct cli_run c;
	int rc = cli_parse("storage unmount", argc, argv, opts,
			   "Remove a storage made by 'storage mount': the PVE storage, the NFS mount on\n"
			   "this node, the junction, then the FlexClone. Refuses anything else, and\n"
			   "refuses while a VM config refers to a volume on it (unless --force).",
			   NULL, NULL);

	if (rc)
		return rc;
	rc = cli_run_begin_storage(&c, cc, id);
	if (rc == 0)
		rc = ops_storage_unmount(&c.ctx, id, force, clone, sizeof(clone));
	cli_run_end(&c, cc);
	if (rc == 0 && !cc->dry_run)
		printf("unmounted storage '%s' and deleted FlexClone '%s'\n", id, clone);
	return rc;
}

static const struct cli_verb storage_verbs[] = {
	{ "create", st_create, CLI_NEEDS_CONFIG, "--storage ID [--label L]", NULL },
	{ "list", st_list, CLI_NEEDS_CONFIG, "--storage ID", NULL },
	{ "show", st_show, CLI_NEEDS_CONFIG, "--storage ID", NULL },
	{ "delete", st_delete, CLI_NEEDS_CONFIG, "--storage ID --snapshot NAME", NULL },
	{ "restore", st_restore, CLI_NEEDS_CONFIG, "--storage ID --snapshot NAME --yes [--force]",
	  NULL },
	{ "mount", st_mount, CLI_NEEDS_CONFIG, "--storage ID --snapshot NAME [--as NEWID]", NULL },
	{ "unmount", st_unmount, CLI_NEEDS_CONFIG, "--storage NEWID [--force]", NULL },
	{ .name = NULL },
};

const struct cli_object cli_obj_storage = {
	.name = "storage",
	.summary = "volume snapshots of NFS storages, FlexClone mount and unmount",
	.verbs = storage_verbs,
};
