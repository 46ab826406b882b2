/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_CLI_H
#define PVE_ONTAP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/buf.h"
#include "format/json.h"
#include "host/lock.h"
#include "ops/ops.h"

struct config;

#define CLI_PROG "pve-ontap"

/*
 * Command-line front end: object, then verb ("pve-ontap storage mount ..."), as iproute2.
 * Every handler has one signature; main.c dispatches from static tables and checks the
 * command's flags (needs config, needs root) once. Handlers return 0 or a POE_* code and
 * print their primary output on stdout (tables, or one JSON document with --json).
 */
struct cli_ctx {
	const char *config_path;  /* --config, or NULL */
	bool json;
	bool dry_run;
	const char *progname;
	struct config *cfg;       /* loaded by cli_config() */
	int interrupted;          /* signal caught during a mutating run (cli_run_end()), or 0 */
};

typedef int (*cli_fn)(struct cli_ctx *ctx, int argc, char **argv);

enum cli_flags {
	CLI_NEEDS_CONFIG = 1 << 0,
	CLI_NEEDS_ROOT = 1 << 1,   /* refused as non-root (hook/watcher modes) */
};

struct cli_verb {
	const char *name;
	cli_fn fn;
	unsigned flags;
	const char *usage;   /* "--vm ID [--label L]" */
	const char *help;    /* one paragraph: what it does, what it changes */
};

struct cli_object {
	const char *name;
	const char *summary;
	const struct cli_verb *verbs;  /* NULL-name terminated; NULL for a verbless command */
	cli_fn fn;                     /* for verbless commands (watch, doctor, install-hook) */
	unsigned flags;
	const char *usage;
	const char *help;
};

/* Load the configuration once (DESIGN.md search order); the result stays in ctx->cfg. */
int cli_config(struct cli_ctx *ctx);

/*
 * Option parsing shared by every command. Accepts "--name value", "--name=value" and
 * "-name value" (pve-ontap-snapshot.py's style); flags take no value. Unknown options,
 * missing values and missing required options are POE_USAGE with a message naming the
 * command. "--help"/"-h" prints the command's help and returns 1 (caller returns 0).
 */
enum cli_opt_type { CLI_OPT_STR, CLI_OPT_INT, CLI_OPT_FLAG, CLI_OPT_SIZE };

struct cli_opt {
	const char *name;        /* without dashes: "vm" */
	enum cli_opt_type type;
	void *dst;               /* const char **, long long *, bool *, unsigned long long * */
	bool required;
	const char *metavar;
	const char *help;
};

/*
 * Parse argv (argv[0] is the verb) against opts (terminated by {NULL}). Positional
 * arguments are collected into *pos (argv pointers; may be NULL when none allowed).
 */
int cli_parse(const char *cmd, int argc, char **argv, const struct cli_opt *opts,
	      const char *help, char ***pos, int *npos);

/* Print "pve-ontap: <cmd>: <message>" usage error and return POE_USAGE. (cli/options.c) */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ask for nothing interactive: destructive verbs need --yes; this prints what would be
 * lost (text) and returns POE_USAGE when yes is false. */
int cli_require_yes(bool yes, const char *what);

/* The command whose global options cli_parse() also accepts after the verb (main.c). */
void cli_options_set_ctx(struct cli_ctx *ctx);

/* The global options and exit status paragraphs every help text ends with. */
void cli_print_global_help(FILE *f);

/*
 * Split an option argument ("--name", "-name", "--name=value", "-name=value") into name
 * (a buffer of n bytes) and *value (borrowed from arg, NULL without '='). Returns 1 for
 * an option, 0 for a positional argument ("", "-", "value"), POE_USAGE for a name that
 * does not fit. Never reads past arg's terminating NUL.
 */
int cli_split_option(const char *arg, char *name, size_t n, const char **value);

/* Is arg "--help", "-help", "-h" or "--h"? */
bool cli_is_help(const char *arg);

/* The last --config/-config[=]FILE in argv[1..argc-1], else dflt (borrowed pointers). */
const char *cli_find_config(int argc, char **argv, const char *dflt);

/*
 * A global option (json, dry-run, config, log-level) named name, with value the next
 * argument or the "=value" part; *used says whether the value was taken. Returns 1 when
 * it was one, 0 when not, POE_USAGE for a bad value.
 */
int cli_parse_global(struct cli_ctx *ctx, const char *name, const char *value, int *used);

/*
 * "did you mean" (cli/suggest.c, git's help.c): writes "; did you mean 'x'" (or "one of
 * 'x' or 'y'") naming the names nearest to typed, each preceded by prefix, into out, or
 * "" when none is near; returns how many were named. cli_edit_distance() is git's
 * weighted Damerau-Levenshtein distance (swap 0, substitution 2, insertion 1, deletion 3).
 */
int cli_suggest(const char *typed, const char *const *names, size_t n, const char *prefix,
		char *out, size_t outsz);
size_t cli_edit_distance(const char *a, const char *b);

/*
 * One operation of a command: an ops context (with --dry-run recording), and the cluster
 * lock of DESIGN.md for verbs that change a VM's or a storage's ONTAP objects.
 * cli_run_end() releases the lock and the clients and, in dry-run, prints what would have
 * been sent on stdout.
 */
struct cli_run {
	struct ops_ctx ctx;
	struct buf dry;
	struct cluster_lock lock;
	bool signals;             /* SIGINT/SIGTERM/SIGHUP caught (locked runs) */
};

void cli_run_begin(struct cli_run *r, struct cli_ctx *cc);
/* cli_run_begin() and the lock "vm-<vmid>" / "storage-<id>"; returns 0 or POE_*. These
 * also catch SIGINT/SIGTERM/SIGHUP until cli_run_end() (ops_run_signals_catch()). */
int cli_run_begin_vm(struct cli_run *r, struct cli_ctx *cc, int vmid);
int cli_run_begin_storage(struct cli_run *r, struct cli_ctx *cc, const char *id);
void cli_run_end(struct cli_run *r, struct cli_ctx *cc);

/*
 * The dry-run record (lines "METHOD /path[ body]" of the ONTAP and PVE clients,
 * "QUEUE <dir>/<vmid>-*.job {job}", anything else a command that would run here) printed
 * as is, or with --json as one document (DESIGN.md "Command line"):
 * {"dry_run": true, "requests": [{"service", "method", "path", "body"}], "jobs": [...],
 * "commands": ["EXEC ...", ...]}; after it, cli_json_end() prints nothing.
 */
void cli_dry_run_print(struct cli_ctx *cc, const char *log);
int cli_dry_run_document(const char *log, struct buf *out);

/* The one JSON document a --json command prints on stdout (pretty, capped at 64 MiB). */
struct cli_json {
	struct buf out;
	struct json_writer w;
};

void cli_json_begin(struct cli_json *j);
/* Finish the document, print it if it is complete, free it; returns jw_finish()'s code. */
int cli_json_end(struct cli_json *j);

/* Objects defined in cmd_*.c. */
extern const struct cli_object cli_obj_vm;
extern const struct cli_object cli_obj_storage;
extern const struct cli_object cli_obj_nvme;
extern const struct cli_object cli_obj_policy;
extern const struct cli_object cli_obj_watch;
extern const struct cli_object cli_obj_install_hook;
extern const struct cli_object cli_obj_doctor;
extern const struct cli_object cli_obj_status;

#endif
