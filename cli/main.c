/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pve-ontap entry point: hook mode detection, global options, object/verb dispatch from
 * static tables (git's commands[] with precondition flags checked once, iproute2's object
 * then verb), help, and the one place where a return code becomes an exit status.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
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

#define PROG "pve-ontap"

/* The command being run; cli_parse() consults it for global options given after the verb. */
static struct cli_ctx *current_ctx;

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

static const char global_help[] =
	"Global options (before or after the command):\n"
	"  --config FILE      configuration file (default: $PVE_ONTAP_CONFIG,\n"
	"                     /etc/pve/pve-ontap/config.yaml, /etc/pve-ontap/config.yaml)\n"
	"  --log-level LEVEL  error, warn, info (default) or debug; logs go to stderr\n"
	"  --json             print list/show/create results as one JSON document\n"
	"  --dry-run          print the ONTAP and PVE requests that would be sent, change nothing\n"
	"  --help             help for the command\n"
	"  --version          print the version\n"
	"Options also take one dash (-vm 100 -suspend), as pve-ontap-snapshot.py did.\n";

static const char exit_help[] =
	"Exit status: 0 success, 1 operation failed, 2 usage error, 3 configuration or policy\n"
	"error, 4 ONTAP or PVE API error, 5 timeout, 6 object not found.\n";

static void print_main_help(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [global options] OBJECT VERB [options]\n"
		"       " PROG " VMID PHASE            (as a Proxmox VE hookscript)\n\n"
		"ONTAP snapshots, FlexClones and NVMe/TCP namespaces for Proxmox VE guests.\n\n"
		"Objects:\n");
	for (size_t i = 0; i < NOBJECTS; i++)
		fprintf(f, "  %-13s %s\n", objects[i]->name, objects[i]->summary);
	fprintf(f, "  %-13s %s\n", "hook", "run the hookscript for VMID PHASE explicitly");
	fprintf(f, "\n%s\n%s\nRun '" PROG " OBJECT --help' for the verbs of an object.\n",
		global_help, exit_help);
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

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(POE_USAGE, "%s: %s (see '" PROG " %s --help')", cmd, msg, cmd);
}

int cli_require_yes(bool yes, const char *what)
{
	if (yes)
		return 0;
	fprintf(stderr, "%s\n", what);
	return err_set(POE_USAGE, "refusing without --yes");
}

int cli_config(struct cli_ctx *ctx)
{
	if (ctx->cfg)
		return 0;
	return config_load(ctx->config_path, &ctx->cfg);
}

/* Global options may also follow the verb; returns 1 when arg (and maybe its value) was one. */
static int parse_global(struct cli_ctx *ctx, const char *name, const char *value, int *used)
{
	*used = 0;
	if (!strcmp(name, "json")) {
		ctx->json = true;
		return 1;
	}
	if (!strcmp(name, "dry-run")) {
		ctx->dry_run = true;
		return 1;
	}
	if (!strcmp(name, "config") || !strcmp(name, "log-level")) {
		if (!value)
			return err_set(POE_USAGE, "option '--%s' needs a value", name);
		*used = 1;
		if (!strcmp(name, "config")) {
			ctx->config_path = value;
		} else {
			enum log_level lvl;

			if (log_parse_level(value, &lvl) < 0)
				return err_set(POE_USAGE,
					       "bad log level '%s' (error, warn, info, debug)", value);
			log_set_level(lvl);
		}
		return 1;
	}
	return 0;
}

static void print_opts_help(FILE *f, const char *cmd, const struct cli_opt *opts,
			    const char *help)
{
	fprintf(f, "usage: " PROG " %s", cmd);
	for (const struct cli_opt *o = opts; o && o->name; o++) {
		const char *mv = o->metavar ? o->metavar : "VALUE";

		if (o->type == CLI_OPT_FLAG)
			fprintf(f, o->required ? " --%s" : " [--%s]", o->name);
		else
			fprintf(f, o->required ? " --%s %s" : " [--%s %s]", o->name, mv);
	}
	fprintf(f, "\n\n%s\n", help ? help : "");
	if (opts && opts->name) {
		fprintf(f, "\nOptions:\n");
		for (const struct cli_opt *o = opts; o->name; o++) {
			char left[64];

			if (o->type == CLI_OPT_FLAG)
				snprintf(left, sizeof(left), "--%s", o->name);
			else
				snprintf(left, sizeof(left), "--%s %s", o->name,
					 o->metavar ? o->metavar : "VALUE");
			fprintf(f, "  %-22s %s\n", left, o->help ? o->help : "");
		}
	}
	fprintf(f, "\n%s\n%s", global_help, exit_help);
}

static int store_opt(const char *cmd, const struct cli_opt *o, const char *value)
{
	switch (o->type) {
	case CLI_OPT_STR:
		*(const char **)o->dst = value;
		return 0;
	case CLI_OPT_INT: {
		int64_t v;

		if (util_parse_int(value, INT32_MIN, INT32_MAX, &v) < 0)
			return cli_usage_error(cmd, "option '--%s' needs a number, not '%s'",
					       o->name, value);
		*(long long *)o->dst = v;
		return 0;
	}
	case CLI_OPT_SIZE: {
		uint64_t v;

		if (util_parse_size(value, &v) < 0)
			return cli_usage_error(cmd, "option '--%s' needs a size like 32G, not '%s'",
					       o->name, value);
		*(unsigned long long *)o->dst = v;
		return 0;
	}
	case CLI_OPT_FLAG:
		*(bool *)o->dst = true;
		return 0;
	}
	return POE_FAIL;
}

int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts,
	      const char *help, char ***pos, int *npos)
{
	bool seen[64] = { false };
	int np = 0;

	if (pos)
		*pos = util_xcalloc((size_t)argc + 1, sizeof(char *));
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *name, *eq, *value = NULL;
		char namebuf[64];
		const struct cli_opt *o;
		int used, r, idx;

		if (arg[0] != '-' || !arg[1]) {
			if (!pos)
				return cli_usage_error(cmd, "unexpected argument '%s'", arg);
			(*pos)[np++] = argv[i];
			continue;
		}
		name = arg + 1;
		if (*name == '-')
			name++;
		eq = strchr(name, '=');
		if (eq) {
			util_strlcpy(namebuf, name,
				     (size_t)(eq - name) + 1 < sizeof(namebuf) ?
					     (size_t)(eq - name) + 1 : sizeof(namebuf));
			name = namebuf;
			value = eq + 1;
		}
		if (!strcmp(name, "help") || !strcmp(name, "h")) {
			print_opts_help(stdout, cmd, opts, help);
			return 1;
		}
		for (o = opts, idx = 0; o && o->name; o++, idx++)
			if (!strcmp(o->name, name))
				break;
		if (!o || !o->name) {
			const char *next = value ? value : (i + 1 < argc ? argv[i + 1] : NULL);

			r = current_ctx ? parse_global(current_ctx, name, next, &used) : 0;
			if (r < 0)
				return r;
			if (r == 0)
				return cli_usage_error(cmd, "unknown option '%s'", arg);
			if (used && !value)
				i++;
			continue;
		}
		if (o->type == CLI_OPT_FLAG) {
			if (value)
				return cli_usage_error(cmd, "option '--%s' takes no value", name);
		} else if (!value) {
			if (i + 1 >= argc)
				return cli_usage_error(cmd, "option '--%s' needs a value", name);
			value = argv[++i];
		}
		r = store_opt(cmd, o, value);
		if (r < 0)
			return r;
		if (idx < 64)
			seen[idx] = true;
	}
	for (int idx = 0; opts && opts[idx].name; idx++)
		if (opts[idx].required && idx < 64 && !seen[idx])
			return cli_usage_error(cmd, "option '--%s' is required", opts[idx].name);
	if (npos)
		*npos = np;
	return 0;
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

static int dispatch(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_object *obj = NULL;
	const struct cli_verb *verb = NULL;
	unsigned flags;
	char cmd[64];
	int rc;

	for (size_t i = 0; i < NOBJECTS; i++)
		if (!strcmp(objects[i]->name, argv[0]))
			obj = objects[i];
	if (!obj)
		return err_set(POE_USAGE, "unknown command '%s' (see '" PROG " --help')", argv[0]);
	if (obj->verbs) {
		if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
		    !strcmp(argv[1], "help")) {
			print_object_help(argc < 2 ? stderr : stdout, obj);
			return argc < 2 ? err_set(POE_USAGE, "%s: a verb is required", obj->name) : 0;
		}
		for (verb = obj->verbs; verb->name; verb++)
			if (!strcmp(verb->name, argv[1]))
				break;
		if (!verb->name) {
			print_object_help(stderr, obj);
			return err_set(POE_USAGE, "%s: unknown verb '%s'", obj->name, argv[1]);
		}
		snprintf(cmd, sizeof(cmd), "%s %s", obj->name, verb->name);
		flags = verb->flags;
		argc--;
		argv++;
	} else {
		snprintf(cmd, sizeof(cmd), "%s", obj->name);
		flags = obj->flags;
	}
	/* --help never needs a config or root */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-help") ||
		    !strcmp(argv[i], "-h"))
			flags &= ~(unsigned)(CLI_NEEDS_CONFIG | CLI_NEEDS_ROOT);
	if ((flags & CLI_NEEDS_ROOT) && geteuid() != 0 &&
	    !(getenv("PVE_ONTAP_ALLOW_NONROOT") && !strcmp(getenv("PVE_ONTAP_ALLOW_NONROOT"), "1")))
		return err_set(POE_USAGE, "%s must run as root (it runs qm and reads /etc/pve/priv)",
			       cmd);
	if (flags & CLI_NEEDS_CONFIG) {
		/* -config may follow the verb (pve-ontap-snapshot.py style): find it first */
		for (int i = 1; i < argc; i++) {
			const char *a = argv[i] + (argv[i][0] == '-') + (argv[i][1] == '-');

			if (argv[i][0] == '-' && !strcmp(a, "config") && i + 1 < argc)
				ctx->config_path = argv[i + 1];
			else if (argv[i][0] == '-' && !strncmp(a, "config=", 7))
				ctx->config_path = a + 7;
		}
		rc = cli_config(ctx);
		if (rc < 0)
			return rc;
	}
	return verb ? verb->fn(ctx, argc, argv) : obj->fn(ctx, argc, argv);
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

int main(int argc, char **argv)
{
	struct cli_ctx ctx = { .progname = PROG };
	int i, rc;

	protect_secrets();
	log_init(PROG);
	/* Hook mode: PVE runs "<script> <vmid> <phase>" with no options at all. */
	if (argc == 3 && is_all_digits(argv[1]))
		return run_hook(getenv("PVE_ONTAP_CONFIG"), argv[1], argv[2]);

	current_ctx = &ctx;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *name = argv[i] + 1 + (argv[i][1] == '-');
		const char *eq = strchr(name, '=');
		char namebuf[64];
		int used;

		if (!strcmp(name, "help") || !strcmp(name, "h")) {
			print_main_help(stdout);
			return 0;
		}
		if (!strcmp(name, "version")) {
			printf(PROG " %s\n", PVE_ONTAP_VERSION);
			return 0;
		}
		if (eq) {
			util_strlcpy(namebuf, name,
				     (size_t)(eq - name) + 1 < sizeof(namebuf) ?
					     (size_t)(eq - name) + 1 : sizeof(namebuf));
			name = namebuf;
		}
		rc = parse_global(&ctx, name, eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL),
				  &used);
		if (rc == 0)
			rc = err_set(POE_USAGE, "unknown global option '%s'", argv[i]);
		if (rc < 0)
			goto out;
		if (used && !eq)
			i++;
	}
	if (i >= argc) {
		print_main_help(stderr);
		rc = err_set(POE_USAGE, "a command is required");
		goto out;
	}
	if (!strcmp(argv[i], "hook")) {
		if (argc - i != 3) {
			rc = err_set(POE_USAGE, "usage: " PROG " hook VMID PHASE");
			goto out;
		}
		return run_hook(ctx.config_path ? ctx.config_path : getenv("PVE_ONTAP_CONFIG"),
				argv[i + 1], argv[i + 2]);
	}
	if (!strcmp(argv[i], "sched-run")) {
		if (argc - i != 4) {
			rc = err_set(POE_USAGE, "usage: " PROG " sched-run VMID LABEL SLOT");
			goto out;
		}
		return run_scheduled(ctx.config_path ? ctx.config_path :
				     getenv("PVE_ONTAP_CONFIG"), argv + i + 1);
	}
	rc = dispatch(&ctx, argc - i, argv + i);
out:
	if (rc == 1) /* --help was printed */
		rc = 0;
	if (rc < 0 && err_msg()[0])
		fprintf(stderr, PROG ": error: %s\n", err_msg());
	config_free(ctx.cfg);
	return err_exit_status(rc);
}
