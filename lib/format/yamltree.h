/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_YAMLTREE_H
#define PVE_ONTAP_YAMLTREE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * YAML documents as a small tree of our own, built from libyaml's events (not
 * yaml_parser_load()): that is where anchors and aliases are refused and the nesting depth
 * is bounded before anything recurses. The tree is walked with netplan-style key tables
 * (key, expected node type, handler). Every problem becomes one "file:line:col: message"
 * line (1-based, from libyaml's marks) and the walk goes on, so a user sees all of them at
 * once. The configuration (lib/config.c) and the policies (policies/policy.c) are read
 * with it; each states its own limits and words its own structural problems.
 * Prefix yt_ (yamltree).
 */

enum yt_type { YT_SCALAR = 1, YT_MAP, YT_SEQ };

struct yt_node {
	enum yt_type type;
	int line, col;          /* 1-based */
	bool bad;               /* an alias or a too-deep subtree: already reported, skip */
	bool plain;             /* scalar without quotes */
	bool verbatim;          /* scalar written on one line without escapes or folding:
				 * value[i] is at column col + i (col + 1 + i when quoted) */
	char *value;            /* scalar text ("" for a bad placeholder) */
	struct yt_node **kids;  /* sequence items; mapping keys and values alternating */
	int n, cap;
};

/* ---- errors: "file:line:col: message" lines ---- */

struct yt_error {
	int line, col, seq;
	char *text;             /* "file:line:col: message" */
};

struct yt_errors {
	/* set by the caller */
	const char *file;       /* what every line starts with */
	int keep;               /* lines stored at most (0: all); the rest are only counted */
	size_t msg_max;         /* a message is cut to this size with its NUL (0: 1024) */
	/* filled */
	struct yt_error *v;
	int n;                  /* stored */
	int total;              /* found, stored or not */
	int cap;
};

/* Adds "file:line:col: message"; col 0 gives "file:line: message" (formats without columns). */
void yt_errors_add(struct yt_errors *el, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void yt_errors_addv(struct yt_errors *el, int line, int col, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
/* Puts the stored lines in the order of the file (line, column, then as found). */
void yt_errors_sort(struct yt_errors *el);
/* 0 when there is none, else POE_CONFIG with the first line in err_msg(). */
int yt_errors_report(const struct yt_errors *el);
/* Frees the lines; the list is empty (file, keep, msg_max stay) and reusable. */
void yt_errors_release(struct yt_errors *el);

/* ---- a document: limits, wording, errors ---- */

enum yt_problem_kind {
	YT_SYNTAX,              /* what libyaml cannot parse: always stops the build */
	YT_SECOND_DOC,          /* a second document: always stops the build */
	YT_ALIAS,
	YT_ANCHOR,
	YT_NUL,                 /* a NUL byte inside a scalar */
	YT_TOO_LONG,            /* a scalar over max_scalar */
	YT_TOO_DEEP,            /* a collection max_depth levels down */
};

struct yt_problem {
	enum yt_problem_kind kind;
	int line, col;          /* 1-based */
	const char *name;       /* YT_ALIAS, YT_ANCHOR: the anchor's name */
	const char *problem;    /* YT_SYNTAX: libyaml's words ("syntax error" when it has none) */
	const char *context;    /* YT_SYNTAX: libyaml's context, or NULL */
	bool reader;            /* YT_SYNTAX: an encoding error, found at byte offset */
	size_t offset;
};

struct yt_doc {
	struct yt_errors errs;
	/* reading (yt_build) */
	int max_depth;          /* nesting levels, >= 1 */
	size_t max_scalar;      /* bytes in one scalar, 0: no cap */
	/*
	 * false: the first structural problem stops the build (what follows would be noise);
	 * true: it is reported and the offending node kept as a "bad" placeholder, so that
	 * the key/value pairing of its mapping stays intact and the walk finds the rest.
	 */
	bool recover;
	/* words a structural problem into errs; NULL: yt_problem_default() */
	void (*problem)(struct yt_doc *d, const struct yt_problem *p);
	/* walking (yt_walk_map) */
	const char *seq_name;   /* a sequence in messages: "a list"; NULL: "a sequence" */
	bool null_is_absent;    /* a key with a null value is skipped: its default applies */
};

/*
 * The wording used when d->problem is NULL: "YAML aliases are not allowed", "nesting too
 * deep", libyaml's own words for a syntax error, ...
 */
void yt_problem_default(struct yt_doc *d, const struct yt_problem *p);

/*
 * Build the tree of the (single) document in text (len bytes). Returns 0 with *root (NULL
 * for an empty stream; caller frees with yt_node_free()), or POE_CONFIG after a problem
 * that stops the build (reported in d->errs, *root is NULL), or POE_FAIL when libyaml
 * cannot start (err_msg()). With d->recover, problems that do not stop the build are in
 * d->errs while 0 is returned.
 */
int yt_build(struct yt_doc *d, const char *text, size_t len, struct yt_node **root);
void yt_node_free(struct yt_node *y);

/* A plain empty scalar, "~" or "null": YAML's null. */
bool yt_is_null(const struct yt_node *y);
/* "a scalar", "a mapping", or d->seq_name. */
const char *yt_type_name(const struct yt_doc *d, enum yt_type t);
/* As yt_type_name(), and "an empty value" for a null. */
const char *yt_kind(const struct yt_doc *d, const struct yt_node *y);
/* Adds "file:line:col: message" at the node. */
void yt_error(struct yt_doc *d, const struct yt_node *y, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- key tables ---- */

struct yt_key;
typedef void yt_key_fn(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
		       void *obj, const struct yt_key *e);

struct yt_key {
	const char *key;        /* NULL ends a table */
	enum yt_type type;      /* what the value must be */
	yt_key_fn *fn;
	size_t off;             /* for generic handlers: the field of obj they fill */
};

/* The key node of key in map, or NULL; borrowed. */
const struct yt_node *yt_map_find(const struct yt_node *map, const char *key);
/* Is map's i-th key a scalar not seen before in the mapping? Reports it otherwise. */
bool yt_key_usable(struct yt_doc *d, const struct yt_node *map, int i);
/*
 * Walk a mapping against a key table: unknown keys, duplicates and values of the wrong type
 * are reported, every other pair goes to its handler with obj. where names the mapping in
 * messages ("a snapshot rule"), NULL at the top.
 */
void yt_walk_map(struct yt_doc *d, const struct yt_node *map, const struct yt_key *table,
		 void *obj, const char *where);

#endif
