/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "pve-ontap watch [--once]": the watcher of DESIGN.md "Watcher", meant to run in the
 * foreground under install/pve-ontap-watch.service.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "base/err.h"
#include "watch.h"

static const char watch_help[] =
	"Run the watcher in the foreground: it processes the job queue (paths.queue) that the\n"
	"hook and the CLI fill (registering new clones as unusedN, removal of unusedN entries\n"
	"whose file is gone, attachment of new NVMe namespaces), watches the image directories\n"
	"of the configured NFS storages and /dev, and reconciles every 'watch.reconcile' (a\n"
	"duration, default 60s). It runs the scheduled rules of the running VMs whose config\n"
	"is on this node (at most 'watch.max_parallel' at once, each as a child process under\n"
	"the VM's cluster lock) and, with 'paths.metrics' set, keeps a Prometheus textfile\n"
	"there. SIGHUP reloads the configuration and policies, SIGTERM finishes the job in hand\n"
	"and exits 0. Runs as root (it runs qm); PVE_ONTAP_ALLOW_NONROOT=1 lifts that for tests.\n"
	"  --once   process the pending jobs and one reconcile, then exit (1 if jobs are left);\n"
	"           no scheduled runs";

static int cmd_watch(struct cli_ctx *ctx, int argc, char **argv)
{
	bool once = false;
	const struct cli_opt opts[] = {
		{ "once", CLI_OPT_FLAG, &once, false, NULL,
		  "process pending jobs and one reconcile, then exit" },
		{ .name = NULL },
	};
	const char *allow = getenv("PVE_ONTAP_ALLOW_NONROOT");
	int rc;

	rc = cli_parse("watch", argc, argv, opts, watch_help, NULL, NULL);
	if (rc)
		return rc;
	/* the dispatcher checks CLI_NEEDS_ROOT too; the watcher insists on the exact opt-in */
	if (geteuid() != 0 && !(allow && !strcmp(allow, "1")))
		return err_set(POE_USAGE, "watch must run as root (it runs qm); "
			       "PVE_ONTAP_ALLOW_NONROOT=1 allows it for tests");
	rc = cli_config(ctx);
	if (rc < 0)
		return rc;
	/* reload (SIGHUP) reads the file that was found now, whatever the search order */
	return watch_run(ctx->cfg->file ? ctx->cfg->file : ctx->config_path, once);
}

const struct cli_object cli_obj_watch = {
	.name = "watch",
	.summary = "run the watcher (job queue, NFS image directories, NVMe devices)",
	.verbs = NULL,
	.fn = cmd_watch,
	.flags = CLI_NEEDS_CONFIG | CLI_NEEDS_ROOT,
	.usage = "[--once]",
	.help = watch_help,
};
