/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pve-ontap entry point: hook mode detection, global options, object/verb dispatch from
 * static tables (git's commands[] with precondition flags checked once, iproute2's object
 * then verb), help, "did you mean" for a mistyped object or verb (as git's help.c), and
 * the one place where a return code becomes an exit status. Option parsing is
 * cli/options.c.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config/config.h"
#include "base/err.h"
#include "hook.h"
#include "base/log.h"
#include "base/util.h"

#define PROG CLI_PROG

static const struct cli_object *const objects[] = {
	&cli_obj_vm,
	&cli_obj_storage,
	&cli_obj_nvme,
	&cli_obj_policy,
	&cli_obj_status,
	&cli_obj_watch,
	&cli_obj_install_hook,
	&cli_obj_doctor,
};

#define NOBJECTS (sizeof(objects) / sizeof(objects[0]))

static const char hook_help[] =
	"usage: " PROG " hook VMID PHASE\n"
	"       " PROG " VMID PHASE   (what Proxmox VE runs)\n\n"
	"Hook mode: Proxmox VE runs a VM's hookscript as '<script> VMID PHASE' for the phases\n"
	"pre-start, post-start, pre-stop and post-stop; 'pve-ontap install-hook --vm ID' sets\n"
	"pve-ontap as that script. For the phase, pve-ontap takes the ONTAP snapshots the VM's\n"
	"policy (<paths.policies>/<vmid>.yaml, else default.yaml) asks for, prunes by 'keep'\n"
	"and queues the jobs the watcher finishes; no policy means nothing is done. The\n"
	"configuration is $PVE_ONTAP_CONFIG, else the usual search order ('hook' also takes\n"
	"--config FILE before it). 'hook VMID PHASE' runs the same thing by hand.\n\n"
	"Exit status: 0, unless the phase is pre-start, the policy says 'on_error: block' and\n"
	"the run failed: then non-zero, and PVE does not start the VM.\n";

static void print_main_help(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [global options] OBJECT VERB [options]\n"
		"       " PROG " help [OBJECT [VERB]]\n"
		"       " PROG " VMID PHASE            (as a Proxmox VE hookscript)\n\n"
		"ONTAP snapshots, FlexClones and NVMe/TCP namespaces for Proxmox VE guests.\n\n"
		"Objects:\n");
	for (size_t i = 0; i < NOBJECTS; i++)
		fprintf(f, "  %-13s %s\n", objects[i]->name, objects[i]->summary);
	fprintf(f, "  %-13s %s\n", "hook", "run the hookscript for VMID PHASE explicitly");
	fputc('\n', f);
	cli_print_global_help(f);
	fprintf(f, "\nRun '" PROG " help OBJECT' or '" PROG " OBJECT --help' for the verbs of an "
		   "object.\n");
}

static void print_object_help(FILE *f, const struct cli_object *o)
{
	if (!o->verbs) {
		fprintf(f, "usage: " PROG " %s %s\n\n%s\n", o->name, o->usage ? o->usage : "",
			o->help ? o->help : o->summary);
		return;
	}
	fprintf(f, "usage: " PROG " %s VERB [options]\n\n%s\n\nVerbs:\n", o->name, o->summary);
	for (const struct cli_verb *v = o->verbs; v->name; v++)
		fprintf(f, "  %s %s %s\n", o->name, v->name, v->usage ? v->usage : "");
	fprintf(f, "\nRun '" PROG " %s VERB --help' for details.\n", o->name);
}

static bool is_all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static int run_hook(const char *config_path, const char *vmid_s, const char *phase)
{
	int64_t vmid;

	if (util_parse_int(vmid_s, 100, 999999999, &vmid) < 0) {
		fprintf(stderr, PROG ": hook: '%s' is not a VM id\n", vmid_s);
		return 0;
	}
	return hook_run(config_path, (int)vmid, phase);
}

/* "sched-run VMID LABEL SLOT": the watcher's child for one scheduled run (HACKING.md). */
static int run_scheduled(const char *config_path, char **argv)
{
	int64_t vmid, slot;

	if (util_parse_int(argv[0], 100, 999999999, &vmid) < 0 ||
	    util_parse_int(argv[2], 1, INT64_MAX, &slot) < 0) {
		fprintf(stderr, PROG ": sched-run: bad VM id or slot\n");
		return 2;
	}
	return hook_run_scheduled(config_path, (int)vmid, argv[1], slot);
}

static const struct cli_object *find_object(const char *name)
{
	char hint[256];
	const char *names[NOBJECTS + 2];

	for (size_t i = 0; i < NOBJECTS; i++)
		if (!strcmp(objects[i]->name, name))
			return objects[i];
	for (size_t i = 0; i < NOBJECTS; i++)
		names[i] = objects[i]->name;
	names[NOBJECTS] = "hook";
	names[NOBJECTS + 1] = "help";
	cli_suggest(name, names, NOBJECTS + 2, "", hint, sizeof(hint));
	err_set(POE_USAGE, "unknown command '%s' (see '" PROG " --help')%s", name, hint);
	return NULL;
}

static const struct cli_verb *find_verb(const struct cli_object *obj, const char *name)
{
	const struct cli_verb *v;
	const char **names;
	size_t n = 0;
	char hint[256];

	for (v = obj->verbs; v->name; v++, n++)
		if (!strcmp(v->name, name))
			return v;
	names = util_xcalloc(n + 1, sizeof(*names));
	for (size_t i = 0; i < n; i++)
		names[i] = obj->verbs[i].name;
	cli_suggest(name, names, n, "", hint, sizeof(hint));
	free(names);
	print_object_help(stderr, obj);
	err_set(POE_USAGE, "%s: unknown verb '%s' (see '" PROG " %s --help')%s", obj->name, name,
		obj->name, hint);
	return NULL;
}

/* The object and verb argv names: their cli_fn, flags and command name ("vm create"). */
static int resolve(int *argc, char ***argv, cli_fn *fn, unsigned *flags, char *cmd, size_t n)
{
	const struct cli_object *obj = find_object((*argv)[0]);
	const struct cli_verb *verb;

	if (!obj)
		return POE_USAGE;
	if (!obj->verbs) {
		snprintf(cmd, n, "%s", obj->name);
		*fn = obj->fn;
		*flags = obj->flags;
		return 0;
	}
	if (*argc < 2 || cli_is_help((*argv)[1]) || !strcmp((*argv)[1], "help")) {
		print_object_help(*argc < 2 ? stderr : stdout, obj);
		return *argc < 2 ? err_set(POE_USAGE, "%s: a verb is required", obj->name) : 1;
	}
	verb = find_verb(obj, (*argv)[1]);
	if (!verb)
		return POE_USAGE;
	snprintf(cmd, n, "%s %s", obj->name, verb->name);
	*fn = verb->fn;
	*flags = verb->flags;
	(*argc)--;
	(*argv)++;
	return 0;
}

static int dispatch(struct cli_ctx *ctx, int argc, char **argv)
{
	unsigned flags = 0;
	char cmd[64];
	cli_fn fn = NULL;
	int rc = resolve(&argc, &argv, &fn, &flags, cmd, sizeof(cmd));
	const char *allow = getenv("PVE_ONTAP_ALLOW_NONROOT");

	if (rc)
		return rc;
	/* --help never needs a config or root */
	for (int i = 1; i < argc; i++)
		if (cli_is_help(argv[i]))
			flags &= ~(unsigned)(CLI_NEEDS_CONFIG | CLI_NEEDS_ROOT);
	if ((flags & CLI_NEEDS_ROOT) && geteuid() != 0 && !(allow && !strcmp(allow, "1")))
		return err_set(POE_USAGE, "%s must run as root (it runs qm and reads /etc/pve/priv)",
			       cmd);
	if (flags & CLI_NEEDS_CONFIG) {
		ctx->config_path = cli_find_config(argc, argv, ctx->config_path);
		rc = cli_config(ctx);
		if (rc < 0)
			return rc;
	}
	return fn(ctx, argc, argv);
}

/* "help [OBJECT [VERB]]": the help the object or the verb prints for --help. */
static int run_help(struct cli_ctx *ctx, int argc, char **argv)
{
	char *args[4] = { NULL };

	if (argc < 2) {
		print_main_help(stdout);
		return 0;
	}
	if (argc > 3)
		return err_set(POE_USAGE, "usage: " PROG " help [OBJECT [VERB]]");
	if (!strcmp(argv[1], "hook")) {
		fputs(hook_help, stdout);
		return 0;
	}
	args[0] = argv[1];
	args[1] = argc == 3 ? argv[2] : "--help";
	args[2] = argc == 3 ? "--help" : NULL;
	return dispatch(ctx, argc == 3 ? 3 : 2, args);
}

static int run_hook_command(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc >= 2 && cli_is_help(argv[1])) {
		fputs(hook_help, stdout);
		return 0;
	}
	if (argc != 3) {
		fputs(hook_help, stderr);
		return err_set(POE_USAGE, "hook: VMID and PHASE are required");
	}
	return run_hook(ctx->config_path ? ctx->config_path : getenv("PVE_ONTAP_CONFIG"), argv[1],
			argv[2]);
}

/*
 * The process holds passwords and tokens (struct config, libcurl): a core file or another
 * process reading our memory through /proc must not get them.
 */
static void protect_secrets(void)
{
	struct rlimit none = { 0, 0 };

	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Global options before the command; returns the index of the command, 0 when --help or
 * --version was answered, or POE_USAGE. */
static int parse_leading(struct cli_ctx *ctx, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		char name[64];
		const char *value;
		int used, rc = cli_split_option(argv[i], name, sizeof(name), &value);

		if (rc == 0)
			break;
		if (rc > 0 && !value && (!strcmp(name, "help") || !strcmp(name, "h"))) {
			print_main_help(stdout);
			return 0;
		}
		if (rc > 0 && !value && !strcmp(name, "version")) {
			printf(PROG " %s\n", PVE_ONTAP_VERSION);
			return 0;
		}
		if (rc > 0)
			rc = cli_parse_global(ctx, name, value ? value : (i + 1 < argc ? argv[i + 1] :
							     NULL), &used);
		if (rc == 0)
			rc = err_set(POE_USAGE, "unknown global option '%s'", argv[i]);
		if (rc < 0)
			return rc;
		if (used && !value)
			i++;
	}
	if (i >= argc) {
		print_main_help(stderr);
		return err_set(POE_USAGE, "a command is required");
	}
	return i;
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx = { .progname = PROG };
	int i, rc;

	protect_secrets();
	log_init(PROG);
	/* Hook mode: PVE runs "<script> <vmid> <phase>" with no options at all. */
	if (argc == 3 && is_all_digits(argv[1]))
		return run_hook(getenv("PVE_ONTAP_CONFIG"), argv[1], argv[2]);

	cli_options_set_ctx(&ctx);
	rc = i = parse_leading(&ctx, argc, argv);
	if (i > 0 && !strcmp(argv[i], "sched-run")) {
		/* the watcher's child: its exit status is the run's (hook_run_scheduled()) */
		if (argc - i == 4)
			return run_scheduled(ctx.config_path ? ctx.config_path :
					     getenv("PVE_ONTAP_CONFIG"), argv + i + 1);
		rc = err_set(POE_USAGE, "usage: " PROG " sched-run VMID LABEL SLOT");
	} else if (i > 0 && !strcmp(argv[i], "hook")) {
		rc = run_hook_command(&ctx, argc - i, argv + i);
		if (rc > 0) { /* hook_run() returns the exit status itself, not a POE_* code */
			config_free(ctx.cfg);
			return rc;
		}
	} else if (i > 0 && !strcmp(argv[i], "help"))
		rc = run_help(&ctx, argc - i, argv + i);
	else if (i > 0)
		rc = dispatch(&ctx, argc - i, argv + i);
	/* an operation that noticed the signal failed with its own message (what it undid);
	 * one that had no step left to stop at completed: say so, and that nothing was undone */
	if (rc == 0 && ctx.interrupted)
		rc = err_set(POE_FAIL, "interrupted by %s after the operation had completed: "
			     "its result stands, nothing was undone", ops_signal_name(ctx.interrupted));
	if (rc == 1) /* --help was printed */
		rc = 0;
	if (rc < 0 && err_msg()[0])
		fprintf(stderr, PROG ": error: %s\n", err_msg());
	config_free(ctx.cfg);
	return err_exit_status(rc);
}
