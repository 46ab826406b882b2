// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Policy loader. The YAML text is turned into a small tree of our own from libyaml's
 * events (not yaml_parser_load()): that is where anchors and aliases are refused and the
 * nesting depth is bounded before anything recurses. The tree is then walked with
 * netplan-style key tables: key, expected node type, handler. Every problem becomes one
 * "file:line:col: message" line and the walk goes on, so a user sees all of them at once.
 */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "pve.h"
#include "util.h"

/* ---- phases ---- */

static const struct {
	unsigned bit;
	const char *name;
} phases[] = {
	{ POLICY_PRE_START, "pre-start" },
	{ POLICY_POST_START, "post-start" },
	{ POLICY_PRE_STOP, "pre-stop" },
	{ POLICY_POST_STOP, "post-stop" },
};

#define NPHASES ((int)(sizeof(phases) / sizeof(phases[0])))

unsigned policy_phase_parse(const char *s)
{
	if (!s)
		return 0;
	for (int i = 0; i < NPHASES; i++)
		if (!strcmp(s, phases[i].name))
			return phases[i].bit;
	return 0;
}

const char *policy_phase_name(unsigned phase)
{
	for (int i = 0; i < NPHASES; i++)
		if (phase == phases[i].bit)
			return phases[i].name;
	return NULL;
}

/* ---- the YAML tree ---- */

enum ynode_type { YN_SCALAR = 1, YN_MAP, YN_SEQ };

struct ynode {
	enum ynode_type type;
	int line, col;          /* 1-based */
	bool bad;               /* an alias or a too-deep subtree: already reported, skip */
	bool plain;             /* scalar without quotes */
	char *value;            /* scalar text */
	struct ynode **kids;    /* sequence items; mapping keys and values alternating */
	int n, cap;
};

static void ynode_free(struct ynode *y)
{
	if (!y)
		return;
	for (int i = 0; i < y->n; i++)
		ynode_free(y->kids[i]);
	free(y->kids);
	free(y->value);
	free(y);
}

static struct ynode *ynode_new(enum ynode_type type, const yaml_mark_t *m)
{
	struct ynode *y = util_xcalloc(1, sizeof(*y));

	y->type = type;
	y->line = (int)m->line + 1;
	y->col = (int)m->column + 1;
	return y;
}

static void ynode_add(struct ynode *parent, struct ynode *kid)
{
	if (parent->n == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->kids = util_xrealloc(parent->kids, parent->cap * sizeof(*parent->kids));
	}
	parent->kids[parent->n++] = kid;
}

static const char *ynode_type_name(enum ynode_type t)
{
	switch (t) {
	case YN_SCALAR:
		return "a scalar";
	case YN_MAP:
		return "a mapping";
	case YN_SEQ:
		return "a sequence";
	}
	return "a node";
}

/* A plain "", "~" or "null": the key is treated as absent (its default applies). */
static bool ynode_is_null(const struct ynode *y)
{
	return y->type == YN_SCALAR && y->plain &&
	       (!y->value[0] || !strcmp(y->value, "~") || !strcasecmp(y->value, "null"));
}

/* ---- error collection ---- */

struct loader_error {
	int line, col, seq;
	char *text;             /* "file:line:col: message" */
};

struct loader {
	const char *name;
	struct buf *errors;
	struct loader_error *errs;  /* reported in file order once the walk is done */
	int nerrors, cap;
	struct policy *p;
};

static void __attribute__((format(printf, 4, 5)))
lerr(struct loader *ld, int line, int col, const char *fmt, ...)
{
	char msg[768];
	struct loader_error *e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ld->nerrors == ld->cap) {
		ld->cap = ld->cap ? ld->cap * 2 : 16;
		ld->errs = util_xrealloc(ld->errs, (size_t)ld->cap * sizeof(*ld->errs));
	}
	e = &ld->errs[ld->nerrors];
	e->line = line;
	e->col = col;
	e->seq = ld->nerrors++;
	e->text = util_xasprintf("%s:%d:%d: %s", ld->name, line, col, msg);
}

static int error_cmp(const void *a, const void *b)
{
	const struct loader_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Hand the errors over in the order of the file (the walk finds some late: anchors while
 * reading, a missing key after its mapping). Returns POE_CONFIG with the first in err_msg().
 */
static int loader_report(struct loader *ld)
{
	qsort(ld->errs, (size_t)ld->nerrors, sizeof(*ld->errs), error_cmp);
	/* the caller's cap on errors stops the list, never the validation */
	for (int i = 0; ld->errors && i < ld->nerrors; i++)
		buf_printf(ld->errors, "%s\n", ld->errs[i].text);
	return err_set(POE_CONFIG, "%s", ld->errs[0].text);
}

static void loader_release(struct loader *ld)
{
	for (int i = 0; i < ld->nerrors; i++)
		free(ld->errs[i].text);
	free(ld->errs);
}

#define nerr(ld, node, ...) lerr((ld), (node)->line, (node)->col, __VA_ARGS__)

/* ---- events -> tree ---- */

static void parser_error(struct loader *ld, const yaml_parser_t *ps)
{
	const char *problem = ps->problem ? ps->problem : "syntax error";
	int line = (int)ps->problem_mark.line + 1;
	int col = (int)ps->problem_mark.column + 1;

	if (ps->error == YAML_READER_ERROR) {
		/* the reader reports a byte offset, not a mark */
		lerr(ld, 1, 1, "invalid YAML: %s at byte %zu", problem, ps->problem_offset);
	} else if (ps->context) {
		lerr(ld, line, col, "invalid YAML: %s %s", problem, ps->context);
	} else {
		lerr(ld, line, col, "invalid YAML: %s", problem);
	}
}

static bool refuse_anchor(struct loader *ld, const yaml_event_t *ev, const yaml_char_t *anchor)
{
	if (!anchor)
		return false;
	lerr(ld, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
	     "YAML anchors are not allowed in a policy (&%s)", (const char *)anchor);
	return true;
}

/*
 * Build the tree of the (single) document. Returns 0 with *root (NULL for an empty
 * document) or POE_CONFIG after reporting a syntax error; structural problems (anchors,
 * aliases, depth) are reported and the offending node is kept as a "bad" placeholder so
 * that the key/value pairing of its mapping stays intact.
 */
static int build_tree(struct loader *ld, const char *text, size_t len, struct ynode **root)
{
	yaml_parser_t ps;
	yaml_event_t ev;
	struct ynode *stack[POLICY_MAX_DEPTH];
	int depth = 0;
	int skip = 0;           /* open collections below the depth limit */
	int ndocs = 0;
	bool done = false;
	int rc = 0;

	*root = NULL;
	if (!yaml_parser_initialize(&ps))
		return err_set(POE_FAIL, "cannot initialise the YAML parser");
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);

	while (!done) {
		struct ynode *node = NULL;
		bool push = false;

		if (!yaml_parser_parse(&ps, &ev)) {
			parser_error(ld, &ps);
			rc = POE_CONFIG;
			goto out;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1) {
				lerr(ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				     "a policy file holds one YAML document, found a second one");
				rc = POE_CONFIG;
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_ALIAS_EVENT:
			if (skip)
				break;
			lerr(ld, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
			     "YAML aliases are not allowed in a policy (*%s)",
			     (const char *)ev.data.alias.anchor);
			node = ynode_new(YN_SCALAR, &ev.start_mark);
			node->bad = true;
			node->value = util_xstrdup("");
			break;
		case YAML_SCALAR_EVENT:
			refuse_anchor(ld, &ev, ev.data.scalar.anchor);
			if (skip)
				break;
			node = ynode_new(YN_SCALAR, &ev.start_mark);
			/* an embedded NUL would cut the value short: refuse it */
			if (strlen((const char *)ev.data.scalar.value) != ev.data.scalar.length) {
				nerr(ld, node, "NUL character in a value");
				node->bad = true;
			}
			node->value = util_xstrdup((const char *)ev.data.scalar.value);
			node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			const yaml_char_t *anchor = ev.type == YAML_MAPPING_START_EVENT ?
							    ev.data.mapping_start.anchor :
							    ev.data.sequence_start.anchor;
			refuse_anchor(ld, &ev, anchor);
			if (skip) {
				skip++;
				break;
			}
			node = ynode_new(ev.type == YAML_MAPPING_START_EVENT ? YN_MAP : YN_SEQ,
					 &ev.start_mark);
			if (depth == POLICY_MAX_DEPTH) {
				nerr(ld, node, "nesting deeper than %d levels", POLICY_MAX_DEPTH);
				node->bad = true;
				skip = 1;
			} else {
				push = true;
			}
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (skip)
				skip--;
			else if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		if (node) {
			if (depth > 0)
				ynode_add(stack[depth - 1], node);
			else if (!*root)
				*root = node;
			else
				ynode_free(node); /* cannot happen within one document */
			if (push)
				stack[depth++] = node;
		}
		yaml_event_delete(&ev);
	}
out:
	yaml_parser_delete(&ps);
	if (rc) {
		ynode_free(*root);
		*root = NULL;
	}
	return rc;
}

/* ---- key tables ---- */

struct key_entry {
	const char *key;
	enum ynode_type type;
	void (*fn)(struct loader *ld, const struct ynode *key, const struct ynode *val,
		   void *obj);
};

static const struct key_entry *key_lookup(const struct key_entry *tab, const char *key)
{
	for (; tab->key; tab++)
		if (!strcmp(tab->key, key))
			return tab;
	return NULL;
}

static void key_list(const struct key_entry *tab, char *out, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	for (; tab->key && len < n; tab++)
		len += snprintf(out + len, n - len, "%s%s", len ? ", " : "", tab->key);
}

/*
 * Walk a mapping against a key table. where names the mapping in messages ("a snapshot
 * rule"), NULL at the top.
 */
static void walk_map(struct loader *ld, const struct ynode *map, const struct key_entry *tab,
		     void *obj, const char *where)
{
	for (int i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kids[i];
		const struct ynode *v = map->kids[i + 1];
		const struct key_entry *e;
		bool dup = false;

		if (k->bad)
			continue;
		if (k->type != YN_SCALAR) {
			nerr(ld, k, "a key must be a scalar, not %s", ynode_type_name(k->type));
			continue;
		}
		for (int j = 0; j < i && !dup; j += 2) {
			const struct ynode *o = map->kids[j];

			if (o->type == YN_SCALAR && !o->bad && !strcmp(o->value, k->value)) {
				nerr(ld, k, "duplicate key '%s' (first at line %d)", k->value,
				     o->line);
				dup = true;
			}
		}
		if (dup)
			continue;
		e = key_lookup(tab, k->value);
		if (!e) {
			char keys[256];

			key_list(tab, keys, sizeof(keys));
			nerr(ld, k, "unknown key '%s'%s%s (expected one of: %s)", k->value,
			     where ? " in " : "", where ? where : "", keys);
			continue;
		}
		if (v->bad || ynode_is_null(v))
			continue;
		if (v->type != e->type) {
			nerr(ld, v, "'%s' must be %s, not %s", e->key, ynode_type_name(e->type),
			     ynode_type_name(v->type));
			continue;
		}
		e->fn(ld, k, v, obj);
	}
}

/* Does the mapping have key with a non-null value? */
static bool map_has(const struct ynode *map, const char *key)
{
	for (int i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kids[i];

		if (k->type == YN_SCALAR && !strcmp(k->value, key) && !ynode_is_null(map->kids[i + 1]))
			return true;
	}
	return false;
}

/* ---- value parsers ---- */

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return POE_FAIL;
}

static void scalar_bool(struct loader *ld, const struct ynode *k, const struct ynode *v,
			bool *out)
{
	if (parse_bool(v->value, out))
		nerr(ld, v, "'%s' must be true or false, not '%s'", k->value, v->value);
}

/* Duration in [min, max] seconds. */
static int scalar_duration(struct loader *ld, const struct ynode *k, const struct ynode *v,
			   int64_t min, int64_t max, int64_t *out)
{
	int64_t s = 0;
	char lo[24], hi[24];

	if (util_parse_duration(v->value, &s) || s < 0) {
		nerr(ld, v, "bad duration '%s' for '%s' (a number with s, m, h or d, e.g. 12h)",
		     v->value, k->value);
		return POE_CONFIG;
	}
	if (s < min || s > max) {
		policy_format_duration(min, lo, sizeof(lo));
		policy_format_duration(max, hi, sizeof(hi));
		nerr(ld, v, "'%s' must be from %s to %s, not '%s'", k->value, lo, hi, v->value);
		return POE_CONFIG;
	}
	*out = s;
	return 0;
}

static bool label_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > POLICY_LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* ---- snapshot rules ---- */

struct rule_state {
	struct policy_rule r;
	const struct ynode *on;
	const struct ynode *label;
};

static void rule_on(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj)
{
	struct rule_state *rs = obj;

	(void)k;
	rs->on = v;
	if (v->n == 0) {
		nerr(ld, v, "'on' lists no phase (any of pre-start, post-start, pre-stop, "
			    "post-stop)");
		return;
	}
	for (int i = 0; i < v->n; i++) {
		const struct ynode *it = v->kids[i];
		unsigned bit;

		if (it->bad)
			continue;
		if (it->type != YN_SCALAR) {
			nerr(ld, it, "a phase must be a scalar, not %s", ynode_type_name(it->type));
			continue;
		}
		bit = policy_phase_parse(it->value);
		if (!bit) {
			nerr(ld, it, "unknown phase '%s' (expected pre-start, post-start, "
				     "pre-stop or post-stop)", it->value);
			continue;
		}
		if (rs->r.phases & bit) {
			nerr(ld, it, "phase '%s' listed twice", it->value);
			continue;
		}
		rs->r.phases |= bit;
	}
}

static void rule_label(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj)
{
	struct rule_state *rs = obj;

	(void)k;
	if (!label_is_valid(v->value)) {
		nerr(ld, v, "bad label '%s' (1 to %d of a-z, 0-9 and _)", v->value,
		     POLICY_LABEL_MAX);
		return;
	}
	/* these buckets belong to snapshots made by hand and to vm restore's safety copy */
	if (!strcmp(v->value, "manual") || !strcmp(v->value, "prerestore")) {
		nerr(ld, v, "label '%s' is reserved (retention would delete snapshots made by "
			    "hand)", v->value);
		return;
	}
	util_strlcpy(rs->r.label, v->value, sizeof(rs->r.label));
	rs->label = v;
}

static void rule_keep(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj)
{
	struct rule_state *rs = obj;
	int64_t keep = 0;

	(void)k;
	if (util_parse_int(v->value, 1, POLICY_KEEP_MAX, &keep)) {
		nerr(ld, v, "'keep' must be an integer from 1 to %d, not '%s'", POLICY_KEEP_MAX,
		     v->value);
		return;
	}
	rs->r.keep = (int)keep;
}

static void rule_min_interval(struct loader *ld, const struct ynode *k, const struct ynode *v,
			      void *obj)
{
	struct rule_state *rs = obj;

	/* ten years: far beyond any sensible interval, well inside int64 milliseconds */
	scalar_duration(ld, k, v, 0, 3650LL * 86400, &rs->r.min_interval_s);
}

static void rule_quiesce(struct loader *ld, const struct ynode *k, const struct ynode *v,
			 void *obj)
{
	struct rule_state *rs = obj;

	(void)k;
	if (!strcmp(v->value, "none"))
		rs->r.quiesce = POLICY_QUIESCE_NONE;
	else if (!strcmp(v->value, "freeze"))
		rs->r.quiesce = POLICY_QUIESCE_FREEZE;
	else
		nerr(ld, v, "'quiesce' must be none or freeze, not '%s'", v->value);
}

static const struct key_entry rule_keys[] = {
	{ "on", YN_SEQ, rule_on },
	{ "label", YN_SCALAR, rule_label },
	{ "keep", YN_SCALAR, rule_keep },
	{ "min_interval", YN_SCALAR, rule_min_interval },
	{ "quiesce", YN_SCALAR, rule_quiesce },
	{ NULL, 0, NULL },
};

static void top_snapshots(struct loader *ld, const struct ynode *k, const struct ynode *v,
			  void *obj)
{
	struct policy *p = obj;
	const struct ynode *labels[POLICY_MAX_RULES];

	(void)k;
	p->rules = util_xcalloc(v->n ? v->n : 1, sizeof(*p->rules));
	for (int i = 0; i < v->n; i++) {
		const struct ynode *it = v->kids[i];
		struct rule_state rs = { .r = { .keep = POLICY_KEEP_DEFAULT } };

		if (it->bad)
			continue;
		if (it->type != YN_MAP) {
			nerr(ld, it, "a snapshot rule must be a mapping, not %s",
			     ynode_type_name(it->type));
			continue;
		}
		if (p->nrules == POLICY_MAX_RULES) {
			nerr(ld, it, "more than %d snapshot rules", POLICY_MAX_RULES);
			break;
		}
		walk_map(ld, it, rule_keys, &rs, "a snapshot rule");
		/* a key that is there but wrong has had its error already */
		if (!map_has(it, "on"))
			nerr(ld, it, "snapshot rule without 'on' (the phases it fires on)");
		if (!map_has(it, "label"))
			nerr(ld, it, "snapshot rule without 'label'");
		for (int j = 0; rs.label && j < p->nrules; j++) {
			if (labels[j] && !strcmp(p->rules[j].label, rs.r.label)) {
				nerr(ld, rs.label, "duplicate label '%s' (first at line %d)",
				     rs.r.label, labels[j]->line);
				break;
			}
		}
		labels[p->nrules] = rs.label;
		p->rules[p->nrules++] = rs.r;
	}
}

/* ---- disks ---- */

static void disk_list(struct loader *ld, const struct ynode *k, const struct ynode *v,
		      char ***out)
{
	char **list;
	int n = 0;

	if (v->n == 0) {
		nerr(ld, v, "'%s' lists no disk (leave it out instead)", k->value);
		return;
	}
	if (v->n > POLICY_MAX_DISKS) {
		nerr(ld, v, "'%s' lists more than %d disks", k->value, POLICY_MAX_DISKS);
		return;
	}
	list = util_xcalloc(v->n + 1, sizeof(*list));
	for (int i = 0; i < v->n; i++) {
		const struct ynode *it = v->kids[i];
		bool dup = false;

		if (it->bad)
			continue;
		if (it->type != YN_SCALAR) {
			nerr(ld, it, "a disk key must be a scalar, not %s",
			     ynode_type_name(it->type));
			continue;
		}
		if (!pve_is_drive_key(it->value)) {
			nerr(ld, it, "'%s' is not a PVE disk key (scsi0, virtio1, sata2, ide3, "
				     "efidisk0, tpmstate0, ...)", it->value);
			continue;
		}
		for (int j = 0; j < n && !dup; j++)
			dup = !strcmp(list[j], it->value);
		if (dup) {
			nerr(ld, it, "disk '%s' listed twice", it->value);
			continue;
		}
		list[n++] = util_xstrdup(it->value);
	}
	*out = list;
}

static void disks_include(struct loader *ld, const struct ynode *k, const struct ynode *v,
			  void *obj)
{
	disk_list(ld, k, v, &((struct policy *)obj)->include);
}

static void disks_exclude(struct loader *ld, const struct ynode *k, const struct ynode *v,
			  void *obj)
{
	disk_list(ld, k, v, &((struct policy *)obj)->exclude);
}

static const struct key_entry disks_keys[] = {
	{ "include", YN_SEQ, disks_include },
	{ "exclude", YN_SEQ, disks_exclude },
	{ NULL, 0, NULL },
};

static void top_disks(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj)
{
	(void)k;
	walk_map(ld, v, disks_keys, obj, "'disks'");
}

/* ---- top-level scalars ---- */

static void top_register(struct loader *ld, const struct ynode *k, const struct ynode *v,
			 void *obj)
{
	scalar_bool(ld, k, v, &((struct policy *)obj)->register_clones);
}

static void top_on_error(struct loader *ld, const struct ynode *k, const struct ynode *v,
			 void *obj)
{
	struct policy *p = obj;

	(void)k;
	if (!strcmp(v->value, "warn"))
		p->on_error = POLICY_ON_ERROR_WARN;
	else if (!strcmp(v->value, "block"))
		p->on_error = POLICY_ON_ERROR_BLOCK;
	else
		nerr(ld, v, "'on_error' must be warn or block, not '%s'", v->value);
}

static void top_timeout(struct loader *ld, const struct ynode *k, const struct ynode *v,
			void *obj)
{
	/* PVE itself puts no bound on a hook and holds the VM lock meanwhile (pve.md §1.3) */
	scalar_duration(ld, k, v, 1, POLICY_TIMEOUT_MAX_S, &((struct policy *)obj)->timeout_s);
}

static void top_skip_on_migration(struct loader *ld, const struct ynode *k,
				  const struct ynode *v, void *obj)
{
	scalar_bool(ld, k, v, &((struct policy *)obj)->skip_on_migration);
}

static const struct key_entry top_keys[] = {
	{ "snapshots", YN_SEQ, top_snapshots },
	{ "disks", YN_MAP, top_disks },
	{ "register", YN_SCALAR, top_register },
	{ "on_error", YN_SCALAR, top_on_error },
	{ "timeout", YN_SCALAR, top_timeout },
	{ "skip_on_migration", YN_SCALAR, top_skip_on_migration },
	{ NULL, 0, NULL },
};

/* ---- public API ---- */

static struct policy *policy_new_defaults(const char *name)
{
	struct policy *p = util_xcalloc(1, sizeof(*p));

	p->file = util_xstrdup(name);
	p->register_clones = true;
	p->on_error = POLICY_ON_ERROR_WARN;
	p->timeout_s = POLICY_TIMEOUT_DEFAULT_S;
	p->skip_on_migration = true;
	return p;
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **s = v; *s; s++)
		free(*s);
	free(v);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	free(p->file);
	free(p->rules);
	strv_free(p->include);
	strv_free(p->exclude);
	free(p);
}

int policy_parse(const char *name, const char *text, size_t len, struct policy **out,
		 struct buf *errors)
{
	struct loader ld = { .name = name, .errors = errors };
	struct ynode *root = NULL;
	int rc;

	*out = NULL;
	ld.p = policy_new_defaults(name);
	if (len > POLICY_MAX_FILE_BYTES) {
		lerr(&ld, 1, 1, "policy is larger than %d KiB (%zu bytes)",
		     POLICY_MAX_FILE_BYTES / 1024, len);
		goto done;
	}
	rc = build_tree(&ld, text, len, &root);
	if (rc && !ld.nerrors)
		goto fail;
	if (rc)
		goto done;
	if (root && !root->bad && !ynode_is_null(root)) {
		if (root->type != YN_MAP)
			nerr(&ld, root, "a policy must be a mapping, not %s",
			     ynode_type_name(root->type));
		else
			walk_map(&ld, root, top_keys, ld.p, NULL);
	}
done:
	if (ld.nerrors) {
		rc = loader_report(&ld);
		goto fail;
	}
	*out = ld.p;
	ld.p = NULL;
	rc = 0;
fail:
	ynode_free(root);
	policy_free(ld.p);
	loader_release(&ld);
	return rc;
}

int policy_load_file(const char *path, struct policy **out, struct buf *errors)
{
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	ssize_t r;
	int fd = -1;
	int rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = err_set(errno == ENOENT ? POE_NOTFOUND : POE_CONFIG,
			     "cannot open policy '%s': %s", path, strerror(errno));
		goto report;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = err_set(POE_CONFIG, "policy '%s' is not a regular file", path);
		goto report;
	}
	/* one byte more than the cap tells a file that grew past it from one that fits */
	text = util_xmalloc(POLICY_MAX_FILE_BYTES + 2);
	while (len <= POLICY_MAX_FILE_BYTES) {
		r = read(fd, text + len, POLICY_MAX_FILE_BYTES + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(POE_CONFIG, "cannot read policy '%s': %s", path,
				     strerror(errno));
			goto report;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	text[len] = '\0';
	if (len > POLICY_MAX_FILE_BYTES) {
		/* the exact size only for the message; reading stopped at the cap */
		size_t size = (size_t)st.st_size > len ? (size_t)st.st_size : len;

		rc = err_set(POE_CONFIG, "%s:1:1: policy is larger than %d KiB (%zu bytes)", path,
			     POLICY_MAX_FILE_BYTES / 1024, size);
		goto report;
	}
	rc = policy_parse(path, text, len, out, errors);
	goto out;
report:
	if (errors)
		buf_printf(errors, "%s\n", err_msg());
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return rc;
}

int policy_find(const char *dir, int vmid, char *path_out, size_t n)
{
	char name[32];
	struct stat st;
	int len;

	for (int i = 0; i < 2; i++) {
		if (i == 0)
			snprintf(name, sizeof(name), "%d.yaml", vmid);
		else
			snprintf(name, sizeof(name), "default.yaml");
		len = snprintf(path_out, n, "%s/%s", dir, name);
		if (len < 0 || (size_t)len >= n)
			return err_set(POE_FAIL, "policy path '%s/%s' is too long", dir, name);
		if (stat(path_out, &st) == 0) {
			if (!S_ISREG(st.st_mode))
				return err_set(POE_CONFIG, "policy '%s' is not a regular file",
					       path_out);
			return 0;
		}
		if (errno != ENOENT && errno != ENOTDIR)
			return err_set(POE_CONFIG, "cannot access policy '%s': %s", path_out,
				       strerror(errno));
	}
	path_out[0] = '\0';
	return err_set(POE_NOTFOUND, "no policy for VM %d: neither '%s/%d.yaml' nor "
				     "'%s/default.yaml' exists", vmid, dir, vmid, dir);
}

int policy_rules_for_phase(const struct policy *p, unsigned phase, int *idx)
{
	int n = 0;

	for (int i = 0; p && i < p->nrules && n < POLICY_MAX_RULES; i++)
		if (p->rules[i].phases & phase)
			idx[n++] = i;
	return n;
}

bool policy_blocks_start(const struct policy *p)
{
	return p && p->on_error == POLICY_ON_ERROR_BLOCK;
}

void policy_format_duration(int64_t s, char *out, size_t n)
{
	if (s > 0 && s % 86400 == 0)
		snprintf(out, n, "%lldd", (long long)(s / 86400));
	else if (s > 0 && s % 3600 == 0)
		snprintf(out, n, "%lldh", (long long)(s / 3600));
	else if (s > 0 && s % 60 == 0)
		snprintf(out, n, "%lldm", (long long)(s / 60));
	else
		snprintf(out, n, "%llds", (long long)s);
}

static const char *quiesce_name(enum policy_quiesce q)
{
	return q == POLICY_QUIESCE_FREEZE ? "freeze" : "none";
}

static void yaml_strv(struct buf *b, const char *key, char **v)
{
	buf_printf(b, "  %s: [", key);
	for (int i = 0; v[i]; i++)
		buf_printf(b, "%s%s", i ? ", " : "", v[i]);
	buf_puts(b, "]\n");
}

int policy_write_yaml(const struct policy *p, struct buf *b)
{
	char d[24];
	int rc;

	/* labels, phases and disk keys are validated tokens: nothing needs quoting */
	buf_puts(b, p->nrules ? "snapshots:\n" : "snapshots: []\n");
	for (int i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		bool first = true;

		buf_puts(b, "  - on: [");
		for (int j = 0; j < NPHASES; j++) {
			if (!(r->phases & phases[j].bit))
				continue;
			buf_printf(b, "%s%s", first ? "" : ", ", phases[j].name);
			first = false;
		}
		buf_puts(b, "]\n");
		buf_printf(b, "    label: %s\n    keep: %d\n", r->label, r->keep);
		policy_format_duration(r->min_interval_s, d, sizeof(d));
		buf_printf(b, "    min_interval: %s\n    quiesce: %s\n", d,
			   quiesce_name(r->quiesce));
	}
	if (!p->include && !p->exclude) {
		buf_puts(b, "disks: {}    # every disk on a configured storage\n");
	} else {
		buf_puts(b, "disks:\n");
		if (p->include)
			yaml_strv(b, "include", p->include);
		if (p->exclude)
			yaml_strv(b, "exclude", p->exclude);
	}
	policy_format_duration(p->timeout_s, d, sizeof(d));
	rc = buf_printf(b, "register: %s\non_error: %s\ntimeout: %s\nskip_on_migration: %s\n",
			p->register_clones ? "true" : "false",
			p->on_error == POLICY_ON_ERROR_BLOCK ? "block" : "warn", d,
			p->skip_on_migration ? "true" : "false");
	return rc < 0 ? rc : 0;
}

static void json_strv(struct json_writer *w, const char *key, char **v)
{
	if (!v) {
		jw_null(w, key);
		return;
	}
	jw_array_begin(w, key);
	for (int i = 0; v[i]; i++)
		jw_string(w, NULL, v[i]);
	jw_array_end(w);
}

void policy_write_json(const struct policy *p, struct json_writer *w, const char *key)
{
	char d[24];

	jw_object_begin(w, key);
	jw_string(w, "file", p->file);
	jw_array_begin(w, "snapshots");
	for (int i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];

		jw_object_begin(w, NULL);
		jw_array_begin(w, "on");
		for (int j = 0; j < NPHASES; j++)
			if (r->phases & phases[j].bit)
				jw_string(w, NULL, phases[j].name);
		jw_array_end(w);
		jw_string(w, "label", r->label);
		jw_int(w, "keep", r->keep);
		policy_format_duration(r->min_interval_s, d, sizeof(d));
		jw_string(w, "min_interval", d);
		jw_int(w, "min_interval_seconds", r->min_interval_s);
		jw_string(w, "quiesce", quiesce_name(r->quiesce));
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_begin(w, "disks");
	json_strv(w, "include", p->include);
	json_strv(w, "exclude", p->exclude);
	jw_object_end(w);
	jw_bool(w, "register", p->register_clones);
	jw_string(w, "on_error", p->on_error == POLICY_ON_ERROR_BLOCK ? "block" : "warn");
	policy_format_duration(p->timeout_s, d, sizeof(d));
	jw_string(w, "timeout", d);
	jw_int(w, "timeout_seconds", p->timeout_s);
	jw_bool(w, "skip_on_migration", p->skip_on_migration);
	jw_object_end(w);
}
