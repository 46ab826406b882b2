/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration loader (DESIGN.md "Configuration (contract)").
 *
 * YAML: libyaml's events are turned into a small tree of our own (not yaml_parser_load()),
 * which is where anchors and aliases are refused and the nesting depth is bounded before
 * anything recurses. The tree is walked with netplan-style key tables (key, expected node
 * type, handler). Every problem becomes one "file:line:col: message" (1-based, from
 * libyaml's marks) and the walk goes on, so a user sees all of them at once: the first is
 * the error message (err_set()), and when there are several, each is also logged with
 * log_error() in file order.
 *
 * INI: the format of pve-ontap-snapshot.py (configparser): a [proxmox] section and one
 * section per PVE storage id holding that storage's ONTAP host, user, pass and verify.
 * Each such section becomes an ONTAP cluster of the same name plus an NFS storage with
 * that id. The .ini names no SVM, so storage.svm stays NULL: the operations layer finds
 * the volume by its junction path (the storage's export) without an SVM filter.
 * Values are taken as written (no %-interpolation), keys are case-insensitive, [DEFAULT]
 * is inherited by every section, and keys the script did not know are warned about, not
 * refused, so that its users can switch unchanged.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "buf.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define CONFIG_MAX_FILE ((size_t)1 << 20)
#define CONFIG_MAX_DEPTH 16
#define CONFIG_MAX_ERRORS 100
#define CONFIG_MAX_SCALAR 4096
#define CONFIG_MAX_ONTAP 256
#define CONFIG_MAX_STORAGES 4096
#define CONFIG_MAX_PORTALS 16
#define PASSWORD_FILE_MAX 4096

static const char *const default_search[] = {
	"/etc/pve/pve-ontap/config.yaml",
	"/etc/pve-ontap/config.yaml",
};

/* ---- config object ---- */

static void secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? util_xstrdup(s) : NULL;
}

static void set_secret(char **dst, const char *s)
{
	secret_free(*dst);
	*dst = util_xstrdup(s);
	log_add_secret(s);
}

struct config *config_new_defaults(void)
{
	struct config *c = util_xcalloc(1, sizeof(*c));

	c->pve.host = util_xstrdup("127.0.0.1");
	c->pve.port = 8006;
	c->pve.verify = true;
	c->paths.pve_etc = util_xstrdup("/etc/pve");
	c->paths.policies = util_xstrdup("/etc/pve/pve-ontap/policies");
	c->paths.queue = util_xstrdup("/var/lib/pve-ontap/queue");
	c->paths.state = util_xstrdup("/var/lib/pve-ontap");
	c->paths.lock = util_xstrdup("/etc/pve/priv/lock");
	c->paths.mnt = util_xstrdup("/mnt/pve");
	c->paths.dev = util_xstrdup("/dev");
	c->paths.sysfs = util_xstrdup("/sys");
	c->paths.qm = util_xstrdup("/usr/sbin/qm");
	c->paths.nvme = util_xstrdup("/usr/sbin/nvme");
	c->paths.hostnqn = util_xstrdup("/etc/nvme/hostnqn");
	c->paths.snippets = util_xstrdup("/var/lib/vz/snippets");
	c->watch.reconcile_s = 60;
	return c;
}

static void ontap_release(struct config_ontap *o)
{
	free(o->name);
	free(o->host);
	free(o->user);
	secret_free(o->password);
	free(o->ca_file);
	free(o->fingerprint);
}

static void storage_release(struct config_storage *s)
{
	free(s->id);
	free(s->ontap_name);
	free(s->svm);
	free(s->volume);
	free(s->subsystem);
	free(s->aggregate);
	free(s->prefix);
	free(s->space_reserve);
	free(s->qos_policy);
	free(s->adaptive_qos_policy);
	free(s->tiering_policy);
	for (int i = 0; i < s->nportals; i++)
		free(s->portals[i]);
	free(s->portals);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->file);
	free(c->pve.host);
	secret_free(c->pve.token);
	free(c->pve.user);
	secret_free(c->pve.password);
	free(c->pve.ca_file);
	free(c->pve.fingerprint);
	for (int i = 0; i < c->nontap; i++)
		ontap_release(&c->ontap[i]);
	free(c->ontap);
	for (int i = 0; i < c->nstorages; i++)
		storage_release(&c->storages[i]);
	free(c->storages);
	free(c->paths.pve_etc);
	free(c->paths.policies);
	free(c->paths.queue);
	free(c->paths.state);
	free(c->paths.lock);
	free(c->paths.mnt);
	free(c->paths.dev);
	free(c->paths.sysfs);
	free(c->paths.qm);
	free(c->paths.nvme);
	free(c->paths.hostnqn);
	free(c->paths.snippets);
	free(c);
}

const struct config_storage *config_storage_find(const struct config *c, const char *id)
{
	if (!c || !id)
		return NULL;
	for (int i = 0; i < c->nstorages; i++)
		if (strcmp(c->storages[i].id, id) == 0)
			return &c->storages[i];
	return NULL;
}

static struct config_ontap *ontap_add(struct config *c, const char *name)
{
	struct config_ontap *o;

	c->ontap = util_xrealloc(c->ontap, (size_t)(c->nontap + 1) * sizeof(*c->ontap));
	o = &c->ontap[c->nontap++];
	memset(o, 0, sizeof(*o));
	o->name = util_xstrdup(name);
	o->port = 443;
	o->verify = true;
	return o;
}

static struct config_storage *storage_add(struct config *c, const char *id)
{
	struct config_storage *s;

	c->storages = util_xrealloc(c->storages,
				    (size_t)(c->nstorages + 1) * sizeof(*c->storages));
	s = &c->storages[c->nstorages++];
	memset(s, 0, sizeof(*s));
	s->id = util_xstrdup(id);
	s->protocol = STORAGE_NFS;
	s->prefix = util_xstrdup("pve_");
	s->space_reserve = util_xstrdup("none");
	s->encryption = -1;
	s->snapshot_reserve = -1;
	return s;
}

static const struct config_ontap *ontap_find(const struct config *c, const char *name)
{
	for (int i = 0; i < c->nontap; i++)
		if (strcmp(c->ontap[i].name, name) == 0)
			return &c->ontap[i];
	return NULL;
}

/* ---- value checks shared by YAML and INI ---- */

/* PVE's storage id: [A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9] (pve-storage's parse_storage_id). */
static bool storage_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 255 || !isalpha((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
			return false;
	}
	return true;
}

/* ONTAP object names we pass on (SVM, subsystem, aggregate, QoS policy, cluster key). */
static bool object_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
			return false;
	}
	return true;
}

/* ONTAP volume names: a letter or '_', then letters, digits and '_' (203 at most). */
static bool volume_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 203 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* A prefix of volume names: empty, or the start of a valid volume name (64 at most). */
static bool prefix_ok(const char *s)
{
	return s[0] == '\0' || (strlen(s) <= 64 && volume_name_ok(s));
}

/* A host name or IP literal that goes into a URL: nothing that could change its shape. */
static bool host_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!isalnum(ch) && !strchr(".-:[]_%", ch))
			return false;
	}
	return true;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* "user@realm!tokenid=secret" */
static bool token_ok(const char *s)
{
	const char *at = strchr(s, '@');
	const char *bang = at ? strchr(at, '!') : NULL;
	const char *eq = bang ? strchr(bang, '=') : NULL;

	return at && at > s && bang && bang > at + 1 && eq && eq > bang + 1 && eq[1] != '\0' &&
	       !has_control(s) && !strchr(s, ' ');
}

static bool is_under_etc_pve(const char *path)
{
	char *real = realpath(path, NULL);
	bool under;

	if (!real)
		return false;
	under = strcmp(real, "/etc/pve") == 0 || strncmp(real, "/etc/pve/", 9) == 0;
	free(real);
	return under;
}

/* ---- error collection ---- */

struct errlist {
	char **msgs;
	int n;       /* stored */
	int total;   /* counted, including those over the cap */
};

static void errlist_addv(struct errlist *el, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void errlist_addv(struct errlist *el, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT(2048);

	el->total++;
	if (el->n >= CONFIG_MAX_ERRORS)
		return;
	if (buf_vprintf(&b, fmt, ap) < 0) {
		buf_release(&b);
		return;
	}
	el->msgs = util_xrealloc(el->msgs, (size_t)(el->n + 1) * sizeof(char *));
	el->msgs[el->n++] = buf_detach(&b);
}

static void errlist_add(struct errlist *el, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void errlist_add(struct errlist *el, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errlist_addv(el, fmt, ap);
	va_end(ap);
}

/* Report: the first error is the error message, all are logged when there are several. */
static int errlist_report(struct errlist *el)
{
	int rc;

	if (el->total == 0)
		return 0;
	if (el->total > 1) {
		for (int i = 0; i < el->n; i++)
			log_error("%s", el->msgs[i]);
		if (el->total > el->n)
			log_error("%d more errors not shown", el->total - el->n);
	}
	rc = err_set(POE_CONFIG, "%s", el->n ? el->msgs[0] : "invalid configuration");
	return rc;
}

static void errlist_release(struct errlist *el)
{
	for (int i = 0; i < el->n; i++)
		free(el->msgs[i]);
	free(el->msgs);
	el->msgs = NULL;
	el->n = el->total = 0;
}

/* ---- the YAML tree ---- */

enum ytype { Y_SCALAR = 1, Y_MAP, Y_SEQ };

struct ynode {
	enum ytype type;
	int line, col; /* 1-based */
	bool plain;    /* scalar without quotes */
	char *value;
	struct ynode **kids; /* sequence items; mapping keys and values alternating */
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

static struct ynode *ynode_new(enum ytype type, const yaml_mark_t *m)
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
		parent->kids = util_xrealloc(parent->kids, (size_t)parent->cap * sizeof(kid));
	}
	parent->kids[parent->n++] = kid;
}

/* A plain empty scalar, "~" or "null": YAML's null. */
static bool ynode_is_null(const struct ynode *y)
{
	return y->type == Y_SCALAR && y->plain &&
	       (y->value[0] == '\0' || !strcmp(y->value, "~") || !strcasecmp(y->value, "null"));
}

static const char *ynode_kind(const struct ynode *y)
{
	if (ynode_is_null(y))
		return "an empty value";
	switch (y->type) {
	case Y_SCALAR:
		return "a scalar";
	case Y_MAP:
		return "a mapping";
	case Y_SEQ:
		return "a list";
	}
	return "?";
}

static const char *ytype_name(enum ytype t)
{
	switch (t) {
	case Y_SCALAR:
		return "a scalar";
	case Y_MAP:
		return "a mapping";
	case Y_SEQ:
		return "a list";
	}
	return "?";
}

struct loader {
	const char *name;
	char *dir;            /* directory of the file, for relative password_file paths */
	struct errlist errs;
	struct config *c;
	bool holds_password;  /* a password: key (not password_file:) */
	bool holds_token;
	/* storages: where their ontap: reference was, resolved after the whole walk */
	const struct ynode **st_key;
	const struct ynode **st_ontap;
	unsigned paths_set;   /* bit i: the i-th char * of struct config_paths was given */
};

static void yerr(struct loader *ld, const struct ynode *y, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void yerr(struct loader *ld, const struct ynode *y, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errlist_add(&ld->errs, "%s:%d:%d: %s", ld->name, y->line, y->col, msg);
}

static void yerr_mark(struct loader *ld, const yaml_mark_t *m, const char *msg)
{
	errlist_add(&ld->errs, "%s:%d:%d: %s", ld->name, (int)m->line + 1, (int)m->column + 1,
		    msg);
}

/*
 * Build the tree. Structural problems (syntax, aliases, anchors, depth, several
 * documents) stop the parse: what follows them would only produce noise.
 */
static int build_tree(struct loader *ld, const char *text, size_t len, struct ynode **root)
{
	yaml_parser_t ps;
	yaml_event_t ev;
	struct ynode *stack[CONFIG_MAX_DEPTH];
	int depth = 0;
	int docs = 0;
	bool done = false, failed = false;

	*root = NULL;
	if (!yaml_parser_initialize(&ps))
		return err_set(POE_FAIL, "cannot initialise the YAML parser");
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	while (!done && !failed) {
		struct ynode *node = NULL;

		if (!yaml_parser_parse(&ps, &ev)) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s%s%s", ps.problem ? ps.problem : "syntax error",
				 ps.context ? " " : "", ps.context ? ps.context : "");
			yerr_mark(ld, &ps.problem_mark, msg);
			failed = true;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				yerr_mark(ld, &ev.start_mark, "only one YAML document is allowed");
				failed = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			yerr_mark(ld, &ev.start_mark, "YAML aliases are not allowed");
			failed = true;
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.anchor) {
				yerr_mark(ld, &ev.start_mark, "YAML anchors are not allowed");
				failed = true;
				break;
			}
			if (strlen((const char *)ev.data.scalar.value) != ev.data.scalar.length) {
				yerr_mark(ld, &ev.start_mark, "NUL character in a value");
				failed = true;
				break;
			}
			if (ev.data.scalar.length > CONFIG_MAX_SCALAR) {
				yerr_mark(ld, &ev.start_mark, "value longer than 4096 bytes");
				failed = true;
				break;
			}
			node = ynode_new(Y_SCALAR, &ev.start_mark);
			node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			node->value = util_xstrdup((const char *)ev.data.scalar.value);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			const yaml_char_t *anchor = ev.type == YAML_MAPPING_START_EVENT ?
							    ev.data.mapping_start.anchor :
							    ev.data.sequence_start.anchor;

			if (anchor) {
				yerr_mark(ld, &ev.start_mark, "YAML anchors are not allowed");
				failed = true;
				break;
			}
			if (depth == CONFIG_MAX_DEPTH) {
				yerr_mark(ld, &ev.start_mark, "nesting too deep");
				failed = true;
				break;
			}
			node = ynode_new(ev.type == YAML_MAPPING_START_EVENT ? Y_MAP : Y_SEQ,
					 &ev.start_mark);
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
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
				ynode_free(node); /* cannot happen: one document, one root */
			if (node->type != Y_SCALAR)
				stack[depth++] = node;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&ps);
	return failed ? POE_CONFIG : 0;
}

/* ---- key tables ---- */

struct key_entry;
typedef void (*key_fn)(struct loader *ld, const struct ynode *k, const struct ynode *v,
		       void *obj, const struct key_entry *e);

struct key_entry {
	const char *key;
	enum ytype type;
	key_fn fn;
	size_t off; /* of the field in obj the generic handlers fill */
};

#define FIELD(obj, e, type) ((type *)((char *)(obj) + (e)->off))

static const struct ynode *map_find(const struct ynode *map, const char *key)
{
	for (int i = 0; i + 1 < map->n; i += 2)
		if (map->kids[i]->type == Y_SCALAR && !strcmp(map->kids[i]->value, key))
			return map->kids[i];
	return NULL;
}

/* Key is a scalar and not seen before in this mapping; reports otherwise. */
static bool key_usable(struct loader *ld, const struct ynode *map, int i)
{
	const struct ynode *k = map->kids[i];

	if (k->type != Y_SCALAR) {
		yerr(ld, k, "a key must be a scalar, not %s", ynode_kind(k));
		return false;
	}
	for (int j = 0; j < i; j += 2) {
		const struct ynode *prev = map->kids[j];

		if (prev->type == Y_SCALAR && !strcmp(prev->value, k->value)) {
			yerr(ld, k, "duplicate key '%s' (first at line %d)", k->value, prev->line);
			return false;
		}
	}
	return true;
}

static void walk_map(struct loader *ld, const struct ynode *map, const struct key_entry *table,
		     void *obj)
{
	for (int i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kids[i], *v = map->kids[i + 1];
		const struct key_entry *e;

		if (!key_usable(ld, map, i))
			continue;
		for (e = table; e->key; e++)
			if (!strcmp(e->key, k->value))
				break;
		if (!e->key) {
			char list[512] = "";
			size_t used = 0;

			for (const struct key_entry *t = table; t->key && used < sizeof(list); t++)
				used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
							 t == table ? "" : ", ", t->key);
			yerr(ld, k, "unknown key '%s' (expected one of: %s)", k->value, list);
			continue;
		}
		if (v->type != e->type) {
			yerr(ld, v, "'%s' must be %s, not %s", e->key, ytype_name(e->type),
			     ynode_kind(v));
			continue;
		}
		e->fn(ld, k, v, obj, e);
	}
}

/* The scalar's text when it is a usable string, else NULL (reported). */
static const char *scalar_text(struct loader *ld, const struct ynode *k, const struct ynode *v)
{
	if (ynode_is_null(v) || v->value[0] == '\0') {
		yerr(ld, v, "'%s' needs a value", k->value);
		return NULL;
	}
	if (has_control(v->value)) {
		yerr(ld, v, "'%s' contains a control character", k->value);
		return NULL;
	}
	return v->value;
}

static void h_string(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		     const struct key_entry *e)
{
	const char *s = scalar_text(ld, k, v);

	if (s)
		set_str(FIELD(obj, e, char *), s);
}

static void h_host(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		   const struct key_entry *e)
{
	const char *s = scalar_text(ld, k, v);

	if (!s)
		return;
	if (!host_ok(s)) {
		yerr(ld, v, "bad host '%s' (a host name or an IP address)", s);
		return;
	}
	set_str(FIELD(obj, e, char *), s);
}

static void h_port(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		   const struct key_entry *e)
{
	int64_t n;

	if (util_parse_int(v->value, 1, 65535, &n) < 0) {
		yerr(ld, v, "'%s' must be an integer from 1 to 65535, not '%s'", k->value, v->value);
		return;
	}
	*FIELD(obj, e, int) = (int)n;
}

static int parse_yaml_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(s, "false") || !strcasecmp(s, "no")) {
		*out = false;
		return 0;
	}
	return POE_CONFIG;
}

static void h_bool(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		   const struct key_entry *e)
{
	if (parse_yaml_bool(v->value, FIELD(obj, e, bool)) < 0)
		yerr(ld, v, "'%s' must be true or false (or yes/no), not '%s'", k->value,
		     v->value);
}

static void h_fingerprint(struct loader *ld, const struct ynode *k, const struct ynode *v,
			  void *obj, const struct key_entry *e)
{
	unsigned char fp[32];
	const char *s = scalar_text(ld, k, v);

	if (!s)
		return;
	if (http_parse_fingerprint(s, fp) < 0) {
		yerr(ld, v, "'%s' must be a SHA-256 fingerprint (32 hex pairs, AA:BB:...)",
		     k->value);
		return;
	}
	set_str(FIELD(obj, e, char *), s);
}

/* Secrets: the value never appears in a message. */
static void h_password(struct loader *ld, const struct ynode *k, const struct ynode *v,
		       void *obj, const struct key_entry *e)
{
	if (ynode_is_null(v) || v->value[0] == '\0') {
		yerr(ld, v, "'%s' needs a value", k->value);
		return;
	}
	if (has_control(v->value)) {
		yerr(ld, v, "'%s' contains a control character", k->value);
		return;
	}
	ld->holds_password = true;
	set_secret(FIELD(obj, e, char *), v->value);
}

static void h_token(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		    const struct key_entry *e)
{
	const char *eq;

	if (!token_ok(v->value)) {
		yerr(ld, v, "'%s' must be an API token 'user@realm!tokenid=secret'", k->value);
		return;
	}
	ld->holds_token = true;
	set_secret(FIELD(obj, e, char *), v->value);
	eq = strchr(strchr(v->value, '!'), '=');
	log_add_secret(eq + 1);
}

static char *resolve_relative(const struct loader *ld, const char *path)
{
	if (path[0] == '/' || !ld->dir)
		return util_xstrdup(path);
	return util_xasprintf("%s/%s", ld->dir, path);
}

/*
 * password_file: one line (a trailing newline is dropped), at most 4 KiB, not readable by
 * group or others unless it lives in /etc/pve (pmxcfs enforces access there).
 */
static void h_password_file(struct loader *ld, const struct ynode *k, const struct ynode *v,
			    void *obj, const struct key_entry *e)
{
	struct buf b = BUF_INIT(PASSWORD_FILE_MAX);
	const char *s = scalar_text(ld, k, v);
	char *path = NULL;
	struct stat st;

	if (!s)
		return;
	path = resolve_relative(ld, s);
	if (buf_read_file(&b, path) < 0) {
		yerr(ld, v, "cannot read password file: %s", err_msg());
		goto out;
	}
	if (stat(path, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) &&
	    !is_under_etc_pve(path)) {
		yerr(ld, v, "password file '%s' is readable by others (mode %04o): chmod 600 it",
		     path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	if (memchr(b.data, '\0', b.len) || has_control(b.data)) {
		yerr(ld, v, "password file '%s' must hold one line without control characters",
		     path);
		goto out;
	}
	if (b.len == 0) {
		yerr(ld, v, "password file '%s' is empty", path);
		goto out;
	}
	set_secret(FIELD(obj, e, char *), b.data);
out:
	if (b.data)
		explicit_bzero(b.data, b.cap);
	buf_release(&b);
	free(path);
}

/* Both password: and password_file: in one mapping is a mistake worth naming. */
static void check_password_pair(struct loader *ld, const struct ynode *map)
{
	const struct ynode *p = map_find(map, "password");
	const struct ynode *f = map_find(map, "password_file");

	if (p && f)
		yerr(ld, p->line > f->line ? p : f,
		     "'password' and 'password_file' exclude each other");
}

/* ---- pve: ---- */

static const struct key_entry pve_keys[] = {
	{ "host", Y_SCALAR, h_host, offsetof(struct config_pve, host) },
	{ "port", Y_SCALAR, h_port, offsetof(struct config_pve, port) },
	{ "token", Y_SCALAR, h_token, offsetof(struct config_pve, token) },
	{ "user", Y_SCALAR, h_string, offsetof(struct config_pve, user) },
	{ "password", Y_SCALAR, h_password, offsetof(struct config_pve, password) },
	{ "password_file", Y_SCALAR, h_password_file, offsetof(struct config_pve, password) },
	{ "verify", Y_SCALAR, h_bool, offsetof(struct config_pve, verify) },
	{ "ca_file", Y_SCALAR, h_string, offsetof(struct config_pve, ca_file) },
	{ "fingerprint", Y_SCALAR, h_fingerprint, offsetof(struct config_pve, fingerprint) },
	{ NULL, 0, NULL, 0 },
};

static void h_pve(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		  const struct key_entry *e)
{
	struct config_pve *p = &((struct config *)obj)->pve;

	(void)e;
	walk_map(ld, v, pve_keys, p);
	check_password_pair(ld, v);
	if (p->user && !p->password && !map_find(v, "password") && !map_find(v, "password_file"))
		yerr(ld, k, "'pve' sets 'user' but neither 'password' nor 'password_file'");
	if (p->password && !p->user)
		yerr(ld, k, "'pve' sets a password but no 'user'");
}

/* ---- ontap: ---- */

static const struct key_entry ontap_keys[] = {
	{ "host", Y_SCALAR, h_host, offsetof(struct config_ontap, host) },
	{ "port", Y_SCALAR, h_port, offsetof(struct config_ontap, port) },
	{ "user", Y_SCALAR, h_string, offsetof(struct config_ontap, user) },
	{ "password", Y_SCALAR, h_password, offsetof(struct config_ontap, password) },
	{ "password_file", Y_SCALAR, h_password_file, offsetof(struct config_ontap, password) },
	{ "verify", Y_SCALAR, h_bool, offsetof(struct config_ontap, verify) },
	{ "ca_file", Y_SCALAR, h_string, offsetof(struct config_ontap, ca_file) },
	{ "fingerprint", Y_SCALAR, h_fingerprint, offsetof(struct config_ontap, fingerprint) },
	{ NULL, 0, NULL, 0 },
};

static void h_ontap(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		    const struct key_entry *e)
{
	struct config *c = obj;

	(void)k;
	(void)e;
	for (int i = 0; i + 1 < v->n; i += 2) {
		const struct ynode *name = v->kids[i], *body = v->kids[i + 1];
		struct config_ontap *o;

		if (!key_usable(ld, v, i))
			continue;
		if (!object_name_ok(name->value)) {
			yerr(ld, name, "bad ONTAP cluster name '%s' (letters, digits, '.', '_', '-')",
			     name->value);
			continue;
		}
		if (body->type != Y_MAP || ynode_is_null(body)) {
			yerr(ld, body, "ONTAP cluster '%s' must be a mapping, not %s", name->value,
			     ynode_kind(body));
			continue;
		}
		if (c->nontap >= CONFIG_MAX_ONTAP) {
			yerr(ld, name, "more than %d ONTAP clusters", CONFIG_MAX_ONTAP);
			return;
		}
		o = ontap_add(c, name->value);
		walk_map(ld, body, ontap_keys, o);
		check_password_pair(ld, body);
		if (!o->host)
			yerr(ld, name, "ONTAP cluster '%s' has no 'host'", o->name);
		if (!o->user)
			yerr(ld, name, "ONTAP cluster '%s' has no 'user'", o->name);
		if (!o->password && !map_find(body, "password") && !map_find(body, "password_file"))
			yerr(ld, name, "ONTAP cluster '%s' has neither 'password' nor "
				       "'password_file'", o->name);
	}
}

/* ---- storages: ---- */

static void h_storage_ontap(struct loader *ld, const struct ynode *k, const struct ynode *v,
			    void *obj, const struct key_entry *e)
{
	struct config_storage *s = obj;
	const char *name = scalar_text(ld, k, v);

	(void)e;
	if (!name)
		return;
	set_str(&s->ontap_name, name);
	/* resolved once every ontap: entry is known (the section may come later) */
	ld->st_ontap[s - ld->c->storages] = v;
}

static void h_protocol(struct loader *ld, const struct ynode *k, const struct ynode *v,
		       void *obj, const struct key_entry *e)
{
	struct config_storage *s = obj;

	(void)k;
	(void)e;
	if (!strcmp(v->value, "nfs"))
		s->protocol = STORAGE_NFS;
	else if (!strcmp(v->value, "nvme"))
		s->protocol = STORAGE_NVME;
	else
		yerr(ld, v, "'protocol' must be nfs or nvme, not '%s'", v->value);
}

static void h_object_name(struct loader *ld, const struct ynode *k, const struct ynode *v,
			  void *obj, const struct key_entry *e)
{
	const char *s = scalar_text(ld, k, v);

	if (!s)
		return;
	if (!object_name_ok(s)) {
		yerr(ld, v, "bad %s '%s' (letters, digits, '.', '_', '-')", k->value, s);
		return;
	}
	set_str(FIELD(obj, e, char *), s);
}

static void h_volume(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		     const struct key_entry *e)
{
	const char *s = scalar_text(ld, k, v);

	if (!s)
		return;
	if (!volume_name_ok(s)) {
		yerr(ld, v, "bad volume name '%s' (a letter or '_', then letters, digits, '_')",
		     s);
		return;
	}
	set_str(FIELD(obj, e, char *), s);
}

static void h_prefix(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		     const struct key_entry *e)
{
	/* An empty prefix must be written as "" (a bare 'prefix:' is more likely a slip). */
	if (ynode_is_null(v)) {
		yerr(ld, v, "'%s' needs a value (\"\" for none)", k->value);
		return;
	}
	if (!prefix_ok(v->value)) {
		yerr(ld, v, "bad prefix '%s' (a letter or '_', then letters, digits, '_'; "
			    "at most 64)", v->value);
		return;
	}
	set_str(FIELD(obj, e, char *), v->value);
}

static void h_encryption(struct loader *ld, const struct ynode *k, const struct ynode *v,
			 void *obj, const struct key_entry *e)
{
	bool b;

	if (parse_yaml_bool(v->value, &b) < 0) {
		yerr(ld, v, "'%s' must be true or false (or yes/no), not '%s'", k->value,
		     v->value);
		return;
	}
	*FIELD(obj, e, int) = b ? 1 : 0;
}

static void h_space_reserve(struct loader *ld, const struct ynode *k, const struct ynode *v,
			    void *obj, const struct key_entry *e)
{
	if (strcmp(v->value, "none") && strcmp(v->value, "volume")) {
		yerr(ld, v, "'%s' must be none or volume, not '%s'", k->value, v->value);
		return;
	}
	set_str(FIELD(obj, e, char *), v->value);
}

static void h_tiering(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		      const struct key_entry *e)
{
	static const char *const ok[] = { "none", "snapshot_only", "auto", "all", "backup" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!strcmp(v->value, ok[i])) {
			set_str(FIELD(obj, e, char *), v->value);
			return;
		}
	}
	yerr(ld, v, "'%s' must be none, snapshot_only, auto, all or backup, not '%s'", k->value,
	     v->value);
}

static void h_snapshot_reserve(struct loader *ld, const struct ynode *k, const struct ynode *v,
			       void *obj, const struct key_entry *e)
{
	int64_t n;

	if (util_parse_int(v->value, 0, 90, &n) < 0) {
		yerr(ld, v, "'%s' must be a percentage from 0 to 90, not '%s'", k->value,
		     v->value);
		return;
	}
	*FIELD(obj, e, int) = (int)n;
}

static void h_portals(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		      const struct key_entry *e)
{
	struct config_storage *s = obj;

	(void)e;
	if (v->n > CONFIG_MAX_PORTALS) {
		yerr(ld, v, "'%s' lists more than %d addresses", k->value, CONFIG_MAX_PORTALS);
		return;
	}
	for (int i = 0; i < v->n; i++) {
		const struct ynode *it = v->kids[i];

		if (it->type != Y_SCALAR || ynode_is_null(it)) {
			yerr(ld, it, "a portal must be an address, not %s", ynode_kind(it));
			continue;
		}
		if (!host_ok(it->value)) {
			yerr(ld, it, "bad portal address '%s'", it->value);
			continue;
		}
		s->portals = util_xrealloc(s->portals,
					   (size_t)(s->nportals + 1) * sizeof(char *));
		s->portals[s->nportals++] = util_xstrdup(it->value);
	}
}

static const struct key_entry storage_keys[] = {
	{ "ontap", Y_SCALAR, h_storage_ontap, 0 },
	{ "protocol", Y_SCALAR, h_protocol, 0 },
	{ "svm", Y_SCALAR, h_object_name, offsetof(struct config_storage, svm) },
	{ "volume", Y_SCALAR, h_volume, offsetof(struct config_storage, volume) },
	{ "subsystem", Y_SCALAR, h_object_name, offsetof(struct config_storage, subsystem) },
	{ "aggregate", Y_SCALAR, h_object_name, offsetof(struct config_storage, aggregate) },
	{ "prefix", Y_SCALAR, h_prefix, offsetof(struct config_storage, prefix) },
	{ "encryption", Y_SCALAR, h_encryption, offsetof(struct config_storage, encryption) },
	{ "space_reserve", Y_SCALAR, h_space_reserve,
	  offsetof(struct config_storage, space_reserve) },
	{ "qos_policy", Y_SCALAR, h_object_name, offsetof(struct config_storage, qos_policy) },
	{ "adaptive_qos_policy", Y_SCALAR, h_object_name,
	  offsetof(struct config_storage, adaptive_qos_policy) },
	{ "tiering_policy", Y_SCALAR, h_tiering, offsetof(struct config_storage, tiering_policy) },
	{ "snapshot_reserve", Y_SCALAR, h_snapshot_reserve,
	  offsetof(struct config_storage, snapshot_reserve) },
	{ "portals", Y_SEQ, h_portals, 0 },
	{ NULL, 0, NULL, 0 },
};

static void h_storages(struct loader *ld, const struct ynode *k, const struct ynode *v,
		       void *obj, const struct key_entry *e)
{
	struct config *c = obj;

	(void)k;
	(void)e;
	for (int i = 0; i + 1 < v->n; i += 2) {
		const struct ynode *id = v->kids[i], *body = v->kids[i + 1];
		struct config_storage *s;
		int idx;

		if (!key_usable(ld, v, i))
			continue;
		if (!storage_id_ok(id->value)) {
			yerr(ld, id, "'%s' is not a PVE storage id ([A-Za-z][A-Za-z0-9._-]*"
				     "[A-Za-z0-9])", id->value);
			continue;
		}
		if (body->type != Y_MAP || ynode_is_null(body)) {
			yerr(ld, body, "storage '%s' must be a mapping, not %s", id->value,
			     ynode_kind(body));
			continue;
		}
		if (c->nstorages >= CONFIG_MAX_STORAGES) {
			yerr(ld, id, "more than %d storages", CONFIG_MAX_STORAGES);
			return;
		}
		s = storage_add(c, id->value);
		idx = (int)(s - c->storages);
		ld->st_key = util_xrealloc(ld->st_key, (size_t)c->nstorages * sizeof(void *));
		ld->st_ontap = util_xrealloc(ld->st_ontap, (size_t)c->nstorages * sizeof(void *));
		ld->st_key[idx] = id;
		ld->st_ontap[idx] = NULL;
		walk_map(ld, body, storage_keys, s);
		if (s->protocol == STORAGE_NVME) {
			if (!s->svm)
				yerr(ld, id, "NVMe storage '%s' has no 'svm'", s->id);
			if (!s->subsystem)
				yerr(ld, id, "NVMe storage '%s' has no 'subsystem'", s->id);
		}
		if (s->qos_policy && s->adaptive_qos_policy)
			yerr(ld, map_find(body, "adaptive_qos_policy"),
			     "'qos_policy' and 'adaptive_qos_policy' exclude each other");
	}
}

/* ---- paths:, watch: ---- */

static void h_path(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		   const struct key_entry *e)
{
	const char *s = scalar_text(ld, k, v);

	if (!s)
		return;
	if (s[0] != '/') {
		yerr(ld, v, "'%s' must be an absolute path, not '%s'", k->value, s);
		return;
	}
	set_str(FIELD(obj, e, char *), s);
	ld->paths_set |= 1u << (e->off / sizeof(char *));
}

#define PATH_KEY(name) { #name, Y_SCALAR, h_path, offsetof(struct config_paths, name) }

static const struct key_entry paths_keys[] = {
	PATH_KEY(pve_etc), PATH_KEY(policies), PATH_KEY(queue),   PATH_KEY(state),
	PATH_KEY(lock),    PATH_KEY(mnt),      PATH_KEY(dev),     PATH_KEY(sysfs),
	PATH_KEY(qm),      PATH_KEY(nvme),     PATH_KEY(hostnqn), PATH_KEY(snippets),
	{ NULL, 0, NULL, 0 },
};

#define PATH_BIT(name) (1u << (offsetof(struct config_paths, name) / sizeof(char *)))

static void h_paths(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		    const struct key_entry *e)
{
	struct config_paths *p = &((struct config *)obj)->paths;

	(void)k;
	(void)e;
	walk_map(ld, v, paths_keys, p);
	/*
	 * Paths below another one follow it unless given: a test tree (or a node with a
	 * different layout) that moves pve_etc or state moves what lives inside them.
	 */
	if ((ld->paths_set & PATH_BIT(pve_etc)) && !(ld->paths_set & PATH_BIT(policies))) {
		free(p->policies);
		p->policies = util_xasprintf("%s/pve-ontap/policies", p->pve_etc);
	}
	if ((ld->paths_set & PATH_BIT(pve_etc)) && !(ld->paths_set & PATH_BIT(lock))) {
		free(p->lock);
		p->lock = util_xasprintf("%s/priv/lock", p->pve_etc);
	}
	if ((ld->paths_set & PATH_BIT(state)) && !(ld->paths_set & PATH_BIT(queue))) {
		free(p->queue);
		p->queue = util_xasprintf("%s/queue", p->state);
	}
}

static void h_duration(struct loader *ld, const struct ynode *k, const struct ynode *v,
		       void *obj, const struct key_entry *e)
{
	int64_t s;

	if (util_parse_duration(v->value, &s) < 0 || s < 1 || s > 7 * 86400) {
		yerr(ld, v, "bad duration '%s' for '%s' (1s to 7d: a number with s, m, h or d)",
		     v->value, k->value);
		return;
	}
	*FIELD(obj, e, int64_t) = s;
}

static const struct key_entry watch_keys[] = {
	{ "reconcile", Y_SCALAR, h_duration, offsetof(struct config_watch, reconcile_s) },
	{ NULL, 0, NULL, 0 },
};

static void h_watch(struct loader *ld, const struct ynode *k, const struct ynode *v, void *obj,
		    const struct key_entry *e)
{
	(void)k;
	(void)e;
	walk_map(ld, v, watch_keys, &((struct config *)obj)->watch);
}

static const struct key_entry top_keys[] = {
	{ "pve", Y_MAP, h_pve, 0 },
	{ "ontap", Y_MAP, h_ontap, 0 },
	{ "storages", Y_MAP, h_storages, 0 },
	{ "paths", Y_MAP, h_paths, 0 },
	{ "watch", Y_MAP, h_watch, 0 },
	{ NULL, 0, NULL, 0 },
};

/* Storages name their cluster by key; the whole file is known now. */
static void resolve_storages(struct loader *ld)
{
	struct config *c = ld->c;

	for (int i = 0; i < c->nstorages; i++) {
		struct config_storage *s = &c->storages[i];

		if (!s->ontap_name) {
			if (!ld->st_ontap[i])
				yerr(ld, ld->st_key[i], "storage '%s' has no 'ontap' (the name of a "
							"cluster under ontap:)", s->id);
			continue;
		}
		s->ontap = ontap_find(c, s->ontap_name);
		if (!s->ontap)
			yerr(ld, ld->st_ontap[i], "storage '%s' names unknown ONTAP cluster '%s'",
			     s->id, s->ontap_name);
	}
}

static char *dir_of(const char *name)
{
	const char *slash = name ? strrchr(name, '/') : NULL;

	if (!slash)
		return NULL;
	if (slash == name)
		return util_xstrdup("/");
	return util_xasprintf("%.*s", (int)(slash - name), name);
}

struct secrets_seen {
	bool password;
	bool token;
};

static int parse_yaml(const char *name, const char *text, size_t len, struct config **out,
		      struct secrets_seen *seen)
{
	struct loader ld = { .name = name ? name : "<config>" };
	struct ynode *root = NULL;
	int rc;

	*out = NULL;
	ld.c = config_new_defaults();
	ld.c->file = util_xstrdup(ld.name);
	ld.dir = dir_of(name);
	rc = build_tree(&ld, text, len, &root);
	if (rc < 0 && ld.errs.total == 0)
		goto out; /* the parser itself could not start: message already set */
	/* After a structural error the tree is partial: walking it would only add noise. */
	if (rc == 0 && root && !ynode_is_null(root)) {
		if (root->type != Y_MAP) {
			yerr(&ld, root, "the configuration must be a mapping, not %s",
			     ynode_kind(root));
		} else {
			walk_map(&ld, root, top_keys, ld.c);
			resolve_storages(&ld);
		}
	}
	rc = errlist_report(&ld.errs);
	if (seen) {
		seen->password = ld.holds_password;
		seen->token = ld.holds_token;
	}
out:
	ynode_free(root);
	errlist_release(&ld.errs);
	free(ld.st_key);
	free(ld.st_ontap);
	free(ld.dir);
	if (rc < 0) {
		config_free(ld.c);
		return rc;
	}
	*out = ld.c;
	return 0;
}

int config_parse_yaml(const char *name, const char *text, size_t len, struct config **out)
{
	return parse_yaml(name, text, len, out, NULL);
}

/* ---- INI (pve-ontap-snapshot.py) ---- */

struct ini_kv {
	char *key;   /* lower-cased, as configparser does */
	char *value;
	int line;
	bool used;
};

struct ini_section {
	char *name;
	int line;
	struct ini_kv *kv;
	int n;
};

struct ini {
	const char *name;
	struct errlist errs;
	struct ini_section *sec;
	int nsec;
	struct ini_section *defaults; /* [DEFAULT]: inherited by every section */
};

static void ierr(struct ini *in, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ierr(struct ini *in, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errlist_add(&in->errs, "%s:%d: %s", in->name, line, msg);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static struct ini_kv *ini_own(struct ini_section *s, const char *key)
{
	for (int i = 0; s && i < s->n; i++)
		if (!strcmp(s->kv[i].key, key))
			return &s->kv[i];
	return NULL;
}

/* A key of a section, else of [DEFAULT]; marks it used. */
static struct ini_kv *ini_get(struct ini *in, struct ini_section *s, const char *key)
{
	struct ini_kv *kv = ini_own(s, key);

	if (!kv)
		kv = ini_own(in->defaults, key);
	if (kv)
		kv->used = true;
	return kv;
}

static void ini_release(struct ini *in)
{
	for (int i = 0; i < in->nsec; i++) {
		struct ini_section *s = &in->sec[i];

		for (int k = 0; k < s->n; k++) {
			free(s->kv[k].key);
			secret_free(s->kv[k].value);
		}
		free(s->kv);
		free(s->name);
	}
	free(in->sec);
	errlist_release(&in->errs);
}

static void ini_read(struct ini *in, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	struct ini_section *cur = NULL;
	int line = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *raw, *s, *sep;

		line++;
		if (memchr(p, '\0', n)) {
			ierr(in, line, "NUL character in a line");
			p += n + 1;
			continue;
		}
		raw = util_xasprintf("%.*s", (int)n, p);
		p += n + 1;
		s = trim(raw);
		if (*s == '\0' || *s == '#' || *s == ';')
			goto next;
		if (*s == '[') {
			char *close = strchr(s, ']');
			char *name;

			if (!close || trim(close + 1)[0] != '\0') {
				ierr(in, line, "bad section header (expected [name])");
				cur = NULL;
				goto next;
			}
			*close = '\0';
			name = trim(s + 1);
			cur = NULL;
			for (int i = 0; i < in->nsec; i++) {
				if (!strcmp(in->sec[i].name, name)) {
					ierr(in, line, "duplicate section [%s] (first at line %d)",
					     name, in->sec[i].line);
					goto next;
				}
			}
			in->sec = util_xrealloc(in->sec, (size_t)(in->nsec + 1) * sizeof(*in->sec));
			cur = &in->sec[in->nsec++];
			memset(cur, 0, sizeof(*cur));
			cur->name = util_xstrdup(name);
			cur->line = line;
			goto next;
		}
		sep = s + strcspn(s, "=:");
		if (*sep == '\0') {
			ierr(in, line, "expected 'key = value'");
			goto next;
		}
		if (!cur) {
			ierr(in, line, "a key outside of a section");
			goto next;
		}
		*sep = '\0';
		{
			char *key = trim(s), *value = trim(sep + 1);
			struct ini_kv *kv;

			for (char *q = key; *q; q++)
				*q = (char)tolower((unsigned char)*q);
			if (*key == '\0') {
				ierr(in, line, "empty key");
				goto next;
			}
			kv = ini_own(cur, key);
			if (kv) {
				ierr(in, line, "duplicate key '%s' in [%s] (first at line %d)", key,
				     cur->name, kv->line);
				goto next;
			}
			cur->kv = util_xrealloc(cur->kv, (size_t)(cur->n + 1) * sizeof(*cur->kv));
			kv = &cur->kv[cur->n++];
			kv->key = util_xstrdup(key);
			kv->value = util_xstrdup(value);
			kv->line = line;
			kv->used = false;
		}
next:
		explicit_bzero(raw, strlen(raw));
		free(raw);
	}
	/* pointers into in->sec are stable from here on */
	for (int i = 0; i < in->nsec; i++)
		if (!strcmp(in->sec[i].name, "DEFAULT"))
			in->defaults = &in->sec[i];
}

/* configparser's getboolean(): 1/yes/true/on, 0/no/false/off, any case. */
static int ini_bool(struct ini *in, struct ini_kv *kv, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(kv->value, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(kv->value, no[i])) {
			*out = false;
			return 0;
		}
	}
	ierr(in, kv->line, "'%s' must be true or false, not '%s'", kv->key, kv->value);
	return POE_CONFIG;
}

/* proxmoxer accepts "host:port" in proxmox_host. */
static void ini_pve_host(struct ini *in, struct config *c, struct ini_kv *kv)
{
	char *colon = strchr(kv->value, ':');
	char *host = util_xstrdup(kv->value);

	if (colon && !strchr(colon + 1, ':')) {
		int64_t port;

		host[colon - kv->value] = '\0';
		if (util_parse_int(colon + 1, 1, 65535, &port) < 0) {
			ierr(in, kv->line, "bad port in '%s' (1 to 65535)", kv->value);
			goto out;
		}
		c->pve.port = (int)port;
	}
	if (!host_ok(host)) {
		ierr(in, kv->line, "bad host '%s' (a host name or an IP address)", kv->value);
		goto out;
	}
	set_str(&c->pve.host, host);
out:
	free(host);
}

static bool ini_nonempty(struct ini *in, struct ini_kv *kv)
{
	if (kv->value[0] == '\0') {
		ierr(in, kv->line, "'%s' needs a value", kv->key);
		return false;
	}
	if (has_control(kv->value)) {
		ierr(in, kv->line, "'%s' contains a control character", kv->key);
		return false;
	}
	return true;
}

static void ini_proxmox(struct ini *in, struct ini_section *s, struct config *c, bool *pw)
{
	struct ini_kv *kv;

	if ((kv = ini_get(in, s, "proxmox_host")) && ini_nonempty(in, kv))
		ini_pve_host(in, c, kv);
	if ((kv = ini_get(in, s, "proxmox_user")) && ini_nonempty(in, kv))
		set_str(&c->pve.user, kv->value);
	if ((kv = ini_get(in, s, "proxmox_pass")) && ini_nonempty(in, kv)) {
		set_secret(&c->pve.password, kv->value);
		*pw = true;
	}
	if ((kv = ini_get(in, s, "proxmox_verify")))
		ini_bool(in, kv, &c->pve.verify);
	if (c->pve.user && !c->pve.password)
		ierr(in, s->line, "[%s] sets 'proxmox_user' but no 'proxmox_pass'", s->name);
}

static void ini_storage(struct ini *in, struct ini_section *s, struct config *c, bool *pw)
{
	struct config_ontap *o;
	struct config_storage *st;
	struct ini_kv *kv;

	if (!storage_id_ok(s->name)) {
		ierr(in, s->line, "'%s' is not a PVE storage id ([A-Za-z][A-Za-z0-9._-]*"
				  "[A-Za-z0-9])", s->name);
		return;
	}
	o = ontap_add(c, s->name);
	if ((kv = ini_get(in, s, "host")) && ini_nonempty(in, kv)) {
		if (host_ok(kv->value))
			set_str(&o->host, kv->value);
		else
			ierr(in, kv->line, "bad host '%s' (a host name or an IP address)",
			     kv->value);
	}
	if ((kv = ini_get(in, s, "user")) && ini_nonempty(in, kv))
		set_str(&o->user, kv->value);
	if ((kv = ini_get(in, s, "pass")) && ini_nonempty(in, kv)) {
		set_secret(&o->password, kv->value);
		*pw = true;
	}
	if ((kv = ini_get(in, s, "verify")))
		ini_bool(in, kv, &o->verify);
	if (!ini_get(in, s, "host"))
		ierr(in, s->line, "[%s] has no 'host'", s->name);
	if (!ini_get(in, s, "user"))
		ierr(in, s->line, "[%s] has no 'user'", s->name);
	if (!ini_get(in, s, "pass"))
		ierr(in, s->line, "[%s] has no 'pass'", s->name);
	st = storage_add(c, s->name);
	st->ontap_name = util_xstrdup(s->name);
	/* st->svm stays NULL: the .ini names none (see the top of this file). */
}

static int parse_ini(const char *name, const char *text, size_t len, struct config **out,
		     struct secrets_seen *seen)
{
	struct ini in = { .name = name ? name : "<config>" };
	struct config *c = config_new_defaults();
	bool pw = false;
	int rc;

	*out = NULL;
	c->file = util_xstrdup(in.name);
	c->from_ini = true;
	ini_read(&in, text, len);
	for (int i = 0; i < in.nsec; i++) {
		struct ini_section *s = &in.sec[i];

		if (s == in.defaults)
			continue;
		if (!strcmp(s->name, "proxmox"))
			ini_proxmox(&in, s, c, &pw);
		else
			ini_storage(&in, s, c, &pw);
	}
	/* ontap[] is complete: storages can point into it now */
	for (int i = 0; i < c->nstorages; i++)
		c->storages[i].ontap = ontap_find(c, c->storages[i].ontap_name);
	/* pve-ontap-snapshot.py ignored keys it did not know: warn, so users can switch. */
	for (int i = 0; i < in.nsec; i++)
		for (int k = 0; k < in.sec[i].n; k++)
			if (!in.sec[i].kv[k].used && &in.sec[i] != in.defaults)
				log_warn("%s:%d: unknown key '%s' in [%s] ignored", in.name,
					 in.sec[i].kv[k].line, in.sec[i].kv[k].key, in.sec[i].name);
	rc = errlist_report(&in.errs);
	if (seen) {
		seen->password = pw;
		seen->token = false;
	}
	ini_release(&in);
	if (rc < 0) {
		config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int config_parse_ini(const char *name, const char *text, size_t len, struct config **out)
{
	return parse_ini(name, text, len, out, NULL);
}

/* ---- finding and loading the file ---- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int config_load(const char *path, struct config **out)
{
	struct buf b = BUF_INIT(CONFIG_MAX_FILE);
	struct secrets_seen seen = { false, false };
	struct config *c = NULL;
	const char *file = path && *path ? path : NULL;
	const char *env = getenv("PVE_ONTAP_CONFIG");
	struct stat st;
	int rc;

	*out = NULL;
	if (!file && env && *env)
		file = env;
	for (size_t i = 0; !file && i < sizeof(default_search) / sizeof(default_search[0]); i++)
		if (access(default_search[i], F_OK) == 0)
			file = default_search[i];
	if (!file)
		return err_set(POE_CONFIG, "no configuration file (looked for %s and %s; use "
					   "--config FILE or $PVE_ONTAP_CONFIG)",
			       default_search[0], default_search[1]);

	rc = buf_read_file(&b, file);
	if (rc < 0) {
		rc = err_prefix(POE_CONFIG, "cannot load the configuration");
		goto out;
	}
	if (ends_with(file, ".ini"))
		rc = parse_ini(file, b.data, b.len, &c, &seen);
	else
		rc = parse_yaml(file, b.data, b.len, &c, &seen);
	if (rc < 0)
		goto out;

	/* DESIGN.md: a file holding a password must not be readable by group or others,
	 * except under /etc/pve, where pmxcfs enforces access. */
	if ((seen.password || seen.token) && stat(file, &st) == 0 &&
	    (st.st_mode & (S_IRGRP | S_IROTH)) && !is_under_etc_pve(file)) {
		rc = err_set(POE_CONFIG,
			     "config file '%s' holds %s and is readable by others (mode %04o): "
			     "chmod 600 it",
			     file, seen.password ? "a password" : "an API token",
			     (unsigned)(st.st_mode & 07777));
		goto out;
	}
	*out = c;
	c = NULL;
out:
	config_free(c);
	if (b.data)
		explicit_bzero(b.data, b.cap);
	buf_release(&b);
	return rc;
}
