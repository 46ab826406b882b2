/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_POLICY_H
#define PVE_ONTAP_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct cal_event;
struct json_writer;

/*
 * Snapshot policies of DESIGN.md "Policies (contract)": <paths.policies>/<vmid>.yaml, else
 * <paths.policies>/default.yaml. The loader walks the YAML document with netplan-style key
 * tables (key, expected node type, handler) and collects every error it finds, each as one
 * line "file:line:col: message" (1-based, from libyaml's marks).
 */

/* Hook phases (reference/pve.md §1.1), as bits so a rule can name several. */
enum policy_phase {
	POLICY_PRE_START = 1u << 0,
	POLICY_POST_START = 1u << 1,
	POLICY_PRE_STOP = 1u << 2,
	POLICY_POST_STOP = 1u << 3,
};

enum policy_on_error {
	POLICY_ON_ERROR_WARN = 0,   /* never block (the default) */
	POLICY_ON_ERROR_BLOCK,      /* a failure in pre-start aborts the start */
};

enum policy_quiesce {
	POLICY_QUIESCE_NONE = 0,
	POLICY_QUIESCE_FREEZE,      /* guest agent fsfreeze, only where the VM runs */
};

#define POLICY_MAX_FILE_BYTES (64 * 1024)
#define POLICY_MAX_DEPTH 8
#define POLICY_LABEL_MAX 32
#define POLICY_MAX_RULES 64
#define POLICY_MAX_DISKS 64
#define POLICY_KEEP_DEFAULT 7
#define POLICY_KEEP_MAX 1000
#define POLICY_TIMEOUT_DEFAULT_S 30
#define POLICY_TIMEOUT_MAX_S 3600

/* A rule fires on hook phases (`on`), on a schedule (`schedule`), or both. */
struct policy_rule {
	unsigned phases;                    /* enum policy_phase bits; 0: scheduled only */
	char label[POLICY_LABEL_MAX + 1];   /* [a-z0-9_]{1,32}, unique within the policy */
	int keep;                           /* 1..1000, default 7 */
	int64_t min_interval_s;             /* 0 = none */
	enum policy_quiesce quiesce;        /* default none */
	char *schedule;                     /* PVE calendar event as written; NULL: none */
	struct cal_event *cal;              /* schedule parsed (sched/calendar.h); NULL: none */
	int register_clones;                /* per-rule "register": -1 inherit, 0 no, 1 yes */
};

struct policy {
	char *file;                  /* where it was loaded from */
	struct policy_rule *rules;
	int nrules;
	/* NULL-terminated disk keys; NULL = every disk on a configured storage / none excluded */
	char **include;
	char **exclude;
	bool register_clones;        /* "register", default true */
	enum policy_on_error on_error;
	int64_t timeout_s;           /* default 30, 1..3600 */
	bool skip_on_migration;      /* default true */
};

/* "pre-start" -> POLICY_PRE_START; 0 for anything else. */
unsigned policy_phase_parse(const char *s);
/* Name of one phase bit ("pre-start"), or NULL. */
const char *policy_phase_name(unsigned phase);

/*
 * Load and validate a policy file (<= 64 KiB, one YAML document, no anchors or aliases,
 * nesting <= 8). On success *out is a new policy (caller frees with policy_free()). On
 * failure returns POE_CONFIG (or POE_NOTFOUND when the file does not exist), *out is NULL,
 * and every problem found is appended to errors (may be NULL) as one line
 * "file:line:col: message\n"; err_msg() holds the first one.
 */
int policy_load_file(const char *path, struct policy **out, struct buf *errors);
/* The same from memory; name is used in messages. */
int policy_parse(const char *name, const char *text, size_t len, struct policy **out,
		 struct buf *errors);
void policy_free(struct policy *p);

/*
 * Find the policy of a VM: <dir>/<vmid>.yaml, else <dir>/default.yaml (two stat() calls at
 * most, no parsing). Writes the path to path_out (size n). Returns 0, POE_NOTFOUND when
 * neither exists, POE_CONFIG when a candidate cannot be examined (permission, not a
 * regular file), POE_FAIL when the path does not fit.
 */
int policy_find(const char *dir, int vmid, char *path_out, size_t n);

/* Rules that fire on phase (one bit): fills idx (capacity POLICY_MAX_RULES) with indexes
 * into p->rules, returns their count. */
int policy_rules_for_phase(const struct policy *p, unsigned phase, int *idx);
/* Does a run of rule r register its NFS clones (the rule's `register`, else the policy's)? */
bool policy_rule_registers(const struct policy *p, const struct policy_rule *r);
/* Does a failed pre-start run abort the start? */
bool policy_blocks_start(const struct policy *p);

/* Duration as the policy writes it: "12h", "90s", "0s" (out >= 24 bytes). */
void policy_format_duration(int64_t seconds, char *out, size_t n);

/*
 * The effective policy with every default filled in, as YAML that policy_parse() accepts,
 * appended to out; a scheduled rule gets a comment with its next due time after now (Unix
 * seconds, local time).
 */
int policy_write_yaml(const struct policy *p, int64_t now, struct buf *out);
/* The effective policy as a JSON object (member key, or NULL inside an array/at the top);
 * a scheduled rule has "next_due" (UTC ISO-8601 after now, null when it never fires again). */
void policy_write_json(const struct policy *p, int64_t now, struct json_writer *w,
		       const char *key);

#endif
