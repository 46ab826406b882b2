/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Option parsing shared by every command (as git keeps parse-options.c apart from git.c):
 * "--name value", "--name=value", "-name value" and "-name=value" (pve-ontap-snapshot.py's
 * style), global options before or after the verb, and the help texts every command ends
 * with. cmd_*.c use cli_parse(); main.c only dispatches.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "config/config.h"

/* The command being run; cli_parse() consults it for global options given after the verb. */
static struct cli_ctx *current_ctx;

static const char global_help[] =
	"Global options (before or after the command):\n"
	"  --config FILE      configuration file (default: $PVE_ONTAP_CONFIG,\n"
	"                     /etc/pve/pve-ontap/config.yaml, /etc/pve-ontap/config.yaml)\n"
	"  --log-level LEVEL  error, warn, info (default) or debug; logs go to stderr\n"
	"  --json             print list/show/create results as one JSON document\n"
	"  --dry-run          print the ONTAP and PVE requests that would be sent, change nothing\n"
	"  --help             help for the command\n"
	"  --version          print the version\n"
	"Options take their value as '--opt VALUE' or '--opt=VALUE', and also one dash\n"
	"(-vm 100 -suspend, -vm=100), as pve-ontap-snapshot.py did.\n";

static const char exit_help[] =
	"Exit status: 0 success, 1 operation failed, 2 usage error, 3 configuration or policy\n"
	"error, 4 ONTAP or PVE API error, 5 timeout, 6 object not found.\n";

void cli_options_set_ctx(struct cli_ctx *ctx)
{
	current_ctx = ctx;
}

void cli_print_global_help(FILE *f)
{
	fprintf(f, "%s\n%s", global_help, exit_help);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(POE_USAGE, "%s: %s (see '%s %s --help')", cmd, msg, CLI_PROG, cmd);
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

int cli_split_option(const char *arg, char *name, size_t n, const char **value)
{
	const char *s = arg + 1, *eq;
	size_t len;

	*value = NULL;
	if (arg[0] != '-' || !arg[1])
		return 0;
	if (*s == '-')
		s++;
	eq = strchr(s, '=');
	len = eq ? (size_t)(eq - s) : strlen(s);
	if (len + 1 > n)
		return err_set(POE_USAGE, "unknown option '%s'", arg);
	memcpy(name, s, len);
	name[len] = '\0';
	if (eq)
		*value = eq + 1;
	return 1;
}

bool cli_is_help(const char *arg)
{
	char name[8];
	const char *value;

	return cli_split_option(arg, name, sizeof(name), &value) == 1 && !value &&
	       (!strcmp(name, "help") || !strcmp(name, "h"));
}

const char *cli_find_config(int argc, char **argv, const char *dflt)
{
	/* -config may follow the verb (pve-ontap-snapshot.py style): found before the load */
	for (int i = 1; i < argc; i++) {
		char name[8];
		const char *value;

		if (cli_split_option(argv[i], name, sizeof(name), &value) != 1 ||
		    strcmp(name, "config"))
			continue;
		if (value)
			dflt = value;
		else if (i + 1 < argc)
			dflt = argv[++i];
	}
	return dflt;
}

/* Global options may also follow the verb; returns 1 when arg (and maybe its value) was one. */
int cli_parse_global(struct cli_ctx *ctx, const char *name, const char *value, int *used)
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
	if (strcmp(name, "config") && strcmp(name, "log-level"))
		return 0;
	if (!value)
		return err_set(POE_USAGE, "option '--%s' needs a value", name);
	*used = 1;
	if (!strcmp(name, "config")) {
		ctx->config_path = value;
	} else {
		enum log_level lvl;

		if (log_parse_level(value, &lvl) < 0)
			return err_set(POE_USAGE, "bad log level '%s' (error, warn, info, debug)",
				       value);
		log_set_level(lvl);
	}
	return 1;
}

static void print_opts_help(FILE *f, const char *cmd, const struct cli_opt *opts,
			    const char *help)
{
	fprintf(f, "usage: %s %s", CLI_PROG, cmd);
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
	fputc('\n', f);
	cli_print_global_help(f);
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

/* An option that is not the command's: a global one, or a usage error naming the nearest. */
static int parse_other(const char *cmd, const struct cli_opt *opts, int argc, char **argv,
		       int *i, const char *name, const char *value)
{
	const char *next = value ? value : (*i + 1 < argc ? argv[*i + 1] : NULL);
	const char **names;
	size_t n = 0;
	char hint[256];
	int used, r;

	r = current_ctx ? cli_parse_global(current_ctx, name, next, &used) : 0;
	if (r < 0)
		return r;
	if (r > 0) {
		if (used && !value)
			(*i)++;
		return 0;
	}
	for (const struct cli_opt *o = opts; o && o->name; o++)
		n++;
	names = util_xcalloc(n + 1, sizeof(*names));
	for (size_t k = 0; k < n; k++)
		names[k] = opts[k].name;
	cli_suggest(name, names, n, "--", hint, sizeof(hint));
	free(names);
	return cli_usage_error(cmd, "unknown option '%s'%s", argv[*i], hint);
}

/* The option argv[*i] (name and maybe "=value" split off) of opts[idx]: store its value. */
static int parse_own(const char *cmd, const struct cli_opt *o, int argc, char **argv, int *i,
		     const char *value)
{
	if (o->type == CLI_OPT_FLAG) {
		if (value)
			return cli_usage_error(cmd, "option '--%s' takes no value", o->name);
	} else if (!value) {
		if (*i + 1 >= argc)
			return cli_usage_error(cmd, "option '--%s' needs a value", o->name);
		value = argv[++(*i)];
	}
	return store_opt(cmd, o, value);
}

int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts,
	      const char *help, char ***pos, int *npos)
{
	size_t nopts = 0;
	bool *seen;
	int np = 0, rc = 0;

	while (opts && opts[nopts].name)
		nopts++;
	seen = util_xcalloc(nopts + 1, sizeof(bool));
	if (pos)
		*pos = util_xcalloc((size_t)argc + 1, sizeof(char *));
	for (int i = 1; i < argc && rc == 0; i++) {
		char name[64];
		const char *value;
		size_t idx;

		rc = cli_split_option(argv[i], name, sizeof(name), &value);
		if (rc < 0)
			break;
		if (rc == 0) {
			if (!pos)
				rc = cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
			else
				(*pos)[np++] = argv[i];
			continue;
		}
		if (!value && (!strcmp(name, "help") || !strcmp(name, "h"))) {
			print_opts_help(stdout, cmd, opts, help);
			rc = 1;
			break;
		}
		for (idx = 0; idx < nopts && strcmp(opts[idx].name, name); idx++)
			;
		if (idx == nopts) {
			rc = parse_other(cmd, opts, argc, argv, &i, name, value);
			continue;
		}
		rc = parse_own(cmd, &opts[idx], argc, argv, &i, value);
		seen[idx] = true;
	}
	for (size_t idx = 0; rc == 0 && idx < nopts; idx++)
		if (opts[idx].required && !seen[idx])
			rc = cli_usage_error(cmd, "option '--%s' is required", opts[idx].name);
	free(seen);
	if (rc == 0 && npos)
		*npos = np;
	return rc;
}
