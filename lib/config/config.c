/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Configuration loader (DESIGN.md "Configuration (contract)").
 *
 * YAML: read with lib/yamltree (a tree of our own built from libyaml's events, where
 * anchors and aliases are refused and the nesting depth is bounded, walked with
 * netplan-style key tables). Every problem becomes one "file:line:col: message" (1-based,
 * from libyaml's marks) and the walk goes on, so a user sees all of them at once: the first
 * is the error message (err_set()), and when there are several, each is also logged with
 * log_error() in the order found.
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
#include "config/config.h"

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

#include "base/buf.h"
#include "base/err.h"
#include "net/http.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/util.h"
#include "format/yamltree.h"

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

const char *config_search(const char *path)
{
	const char *env = getenv("PVE_ONTAP_CONFIG");

	if (path)
		return path;
	if (env && *env)
		return env;
	for (size_t i = 0; i < sizeof(default_search) / sizeof(default_search[0]); i++)
		if (access(default_search[i], F_OK) == 0)
			return default_search[i];
	return NULL;
}

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
	secret_add(s);
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
	c->paths.nvme_etc = util_xstrdup("/etc/nvme");
	c->paths.hostnqn = util_xstrdup("/etc/nvme/hostnqn");
	c->paths.lvm_conf = util_xstrdup("/etc/lvm/lvm.conf");
	c->paths.snippets = util_xstrdup("/var/lib/vz/snippets");
	c->watch.reconcile_s = 60;
	c->watch.max_parallel = 4;
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
	free(c->paths.nvme_etc);
	free(c->paths.hostnqn);
	free(c->paths.lvm_conf);
	free(c->paths.metrics);
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

	return n >= 2 && n <= CONFIG_STORAGE_ID_MAX && util_is_storage_id(s, n);
}

/* 1 to max bytes, each a letter, a digit or one of extra. */
static bool made_of(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!isalnum(ch) && !strchr(extra, ch))
			return false;
	}
	return true;
}

/* ONTAP object names we pass on (SVM, subsystem, aggregate, QoS policy, cluster key). */
static bool object_name_ok(const char *s)
{
	return made_of(s, 255, "._-");
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
	return made_of(s, 253, ".-:[]_%");
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

bool config_path_is_under(const char *path, const char *dir)
{
	char *real = realpath(path, NULL);
	size_t n = strlen(dir);
	bool under;

	if (!real)
		return false;
	while (n > 1 && dir[n - 1] == '/')
		n--;
	under = !strncmp(real, dir, n) && (real[n] == '\0' || real[n] == '/');
	free(real);
	return under;
}

static bool is_under_etc_pve(const char *path)
{
	return config_path_is_under(path, CONFIG_PMXCFS_DIR);
}

const char *config_readers(unsigned int mode)
{
	if ((mode & S_IRGRP) && (mode & S_IROTH))
		return "its group and others";
	if (mode & S_IRGRP)
		return "its group";
	if (mode & S_IROTH)
		return "others";
	return "nobody else";
}

/* ---- errors ---- */

/* The first error is the error message; all are logged when there are several. */
static int errors_report(const struct yt_errors *el)
{
	if (el->total > 1) {
		for (int i = 0; i < el->n; i++)
			log_error("%s", el->v[i].text);
		if (el->total > el->n)
			log_error("%d more errors not shown", el->total - el->n);
	}
	return yt_errors_report(el);
}

/* ---- YAML ---- */

struct loader {
	struct yt_doc doc;    /* what the key handlers get */
	char *dir;            /* directory of the file, for relative password_file paths */
	struct config *c;
	bool holds_password;  /* a password: key (not password_file:) */
	bool holds_token;
	/* storages: where their ontap: reference was, resolved after the whole walk */
	const struct yt_node **st_key;
	const struct yt_node **st_ontap;
	unsigned paths_set;   /* bit i: the i-th char * of struct config_paths was given */
};

static struct loader *loader_of(struct yt_doc *d)
{
	return (struct loader *)((char *)d - offsetof(struct loader, doc));
}

#define FIELD(obj, e, type) ((type *)((char *)(obj) + (e)->off))

/* The scalar's text when it is a usable string, else NULL (reported). */
static const char *scalar_text(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v)
{
	if (yt_is_null(v) || v->value[0] == '\0') {
		yt_error(d, v, "'%s' needs a value", k->value);
		return NULL;
	}
	if (has_control(v->value)) {
		yt_error(d, v, "'%s' contains a control character", k->value);
		return NULL;
	}
	return v->value;
}

static void h_string(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		     const struct yt_key *e)
{
	const char *s = scalar_text(d, k, v);

	if (s)
		set_str(FIELD(obj, e, char *), s);
}

static void h_host(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		   const struct yt_key *e)
{
	const char *s = scalar_text(d, k, v);

	if (!s)
		return;
	if (!host_ok(s)) {
		yt_error(d, v, "bad host '%s' (a host name or an IP address)", s);
		return;
	}
	set_str(FIELD(obj, e, char *), s);
}

static void h_port(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		   const struct yt_key *e)
{
	int64_t n;

	if (util_parse_int(v->value, 1, 65535, &n) < 0) {
		yt_error(d, v, "'%s' must be an integer from 1 to 65535, not '%s'", k->value,
			 v->value);
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

static void h_bool(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		   const struct yt_key *e)
{
	if (parse_yaml_bool(v->value, FIELD(obj, e, bool)) < 0)
		yt_error(d, v, "'%s' must be true or false (or yes/no), not '%s'", k->value,
			 v->value);
}

static void h_fingerprint(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			  void *obj, const struct yt_key *e)
{
	unsigned char fp[32];
	const char *s = scalar_text(d, k, v);

	if (!s)
		return;
	if (http_parse_fingerprint(s, fp) < 0) {
		yt_error(d, v, "'%s' must be a SHA-256 fingerprint (32 hex pairs, AA:BB:...)",
			 k->value);
		return;
	}
	set_str(FIELD(obj, e, char *), s);
}

/* Secrets: the value never appears in a message. */
static void h_password(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
		       void *obj, const struct yt_key *e)
{
	if (yt_is_null(v) || v->value[0] == '\0') {
		yt_error(d, v, "'%s' needs a value", k->value);
		return;
	}
	if (has_control(v->value)) {
		yt_error(d, v, "'%s' contains a control character", k->value);
		return;
	}
	loader_of(d)->holds_password = true;
	set_secret(FIELD(obj, e, char *), v->value);
}

static void h_token(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		    const struct yt_key *e)
{
	const char *eq;

	if (!token_ok(v->value)) {
		yt_error(d, v, "'%s' must be an API token 'user@realm!tokenid=secret'", k->value);
		return;
	}
	loader_of(d)->holds_token = true;
	set_secret(FIELD(obj, e, char *), v->value);
	eq = strchr(strchr(v->value, '!'), '=');
	secret_add(eq + 1);
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
static void h_password_file(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			    void *obj, const struct yt_key *e)
{
	struct buf b = BUF_INIT(PASSWORD_FILE_MAX);
	const char *s = scalar_text(d, k, v);
	char *path = NULL;
	struct stat st;

	if (!s)
		return;
	path = resolve_relative(loader_of(d), s);
	if (buf_read_file(&b, path) < 0) {
		yt_error(d, v, "cannot read password file: %s", err_msg());
		goto out;
	}
	if (stat(path, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) &&
	    !is_under_etc_pve(path)) {
		yt_error(d, v, "password file '%s' is readable by %s (mode %04o): chmod 600 it",
			 path, config_readers(st.st_mode), (unsigned)(st.st_mode & 07777));
		goto out;
	}
	while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	if (memchr(b.data, '\0', b.len) || has_control(b.data)) {
		yt_error(d, v, "password file '%s' must hold one line without control characters",
			 path);
		goto out;
	}
	if (b.len == 0) {
		yt_error(d, v, "password file '%s' is empty", path);
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
static void check_password_pair(struct yt_doc *d, const struct yt_node *map)
{
	const struct yt_node *p = yt_map_find(map, "password");
	const struct yt_node *f = yt_map_find(map, "password_file");

	if (p && f)
		yt_error(d, p->line > f->line ? p : f,
			 "'password' and 'password_file' exclude each other");
}

/* ---- pve: ---- */

static const struct yt_key pve_keys[] = {
	{ "host", YT_SCALAR, h_host, offsetof(struct config_pve, host) },
	{ "port", YT_SCALAR, h_port, offsetof(struct config_pve, port) },
	{ "token", YT_SCALAR, h_token, offsetof(struct config_pve, token) },
	{ "user", YT_SCALAR, h_string, offsetof(struct config_pve, user) },
	{ "password", YT_SCALAR, h_password, offsetof(struct config_pve, password) },
	{ "password_file", YT_SCALAR, h_password_file, offsetof(struct config_pve, password) },
	{ "verify", YT_SCALAR, h_bool, offsetof(struct config_pve, verify) },
	{ "ca_file", YT_SCALAR, h_string, offsetof(struct config_pve, ca_file) },
	{ "fingerprint", YT_SCALAR, h_fingerprint, offsetof(struct config_pve, fingerprint) },
	{ NULL, 0, NULL, 0 },
};

static void h_pve(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		  const struct yt_key *e)
{
	struct config_pve *p = &((struct config *)obj)->pve;

	(void)e;
	yt_walk_map(d, v, pve_keys, p, NULL);
	check_password_pair(d, v);
	if (p->user && !p->password && !yt_map_find(v, "password") &&
	    !yt_map_find(v, "password_file"))
		yt_error(d, k, "'pve' sets 'user' but neither 'password' nor 'password_file'");
	if (p->password && !p->user)
		yt_error(d, k, "'pve' sets a password but no 'user'");
}

/* ---- ontap: ---- */

static const struct yt_key ontap_keys[] = {
	{ "host", YT_SCALAR, h_host, offsetof(struct config_ontap, host) },
	{ "port", YT_SCALAR, h_port, offsetof(struct config_ontap, port) },
	{ "user", YT_SCALAR, h_string, offsetof(struct config_ontap, user) },
	{ "password", YT_SCALAR, h_password, offsetof(struct config_ontap, password) },
	{ "password_file", YT_SCALAR, h_password_file, offsetof(struct config_ontap, password) },
	{ "verify", YT_SCALAR, h_bool, offsetof(struct config_ontap, verify) },
	{ "ca_file", YT_SCALAR, h_string, offsetof(struct config_ontap, ca_file) },
	{ "fingerprint", YT_SCALAR, h_fingerprint, offsetof(struct config_ontap, fingerprint) },
	{ NULL, 0, NULL, 0 },
};

static void h_ontap(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		    const struct yt_key *e)
{
	struct config *c = obj;

	(void)k;
	(void)e;
	for (int i = 0; i + 1 < v->n; i += 2) {
		const struct yt_node *name = v->kids[i], *body = v->kids[i + 1];
		struct config_ontap *o;

		if (!yt_key_usable(d, v, i))
			continue;
		if (!object_name_ok(name->value)) {
			yt_error(d, name,
				 "bad ONTAP cluster name '%s' (letters, digits, '.', '_', '-')",
				 name->value);
			continue;
		}
		if (body->type != YT_MAP || yt_is_null(body)) {
			yt_error(d, body, "ONTAP cluster '%s' must be a mapping, not %s",
				 name->value, yt_kind(d, body));
			continue;
		}
		if (c->nontap >= CONFIG_MAX_ONTAP) {
			yt_error(d, name, "more than %d ONTAP clusters", CONFIG_MAX_ONTAP);
			return;
		}
		o = ontap_add(c, name->value);
		yt_walk_map(d, body, ontap_keys, o, NULL);
		check_password_pair(d, body);
		if (!o->host)
			yt_error(d, name, "ONTAP cluster '%s' has no 'host'", o->name);
		if (!o->user)
			yt_error(d, name, "ONTAP cluster '%s' has no 'user'", o->name);
		if (!o->password && !yt_map_find(body, "password") &&
		    !yt_map_find(body, "password_file"))
			yt_error(d, name, "ONTAP cluster '%s' has neither 'password' nor "
					  "'password_file'", o->name);
	}
}

/* ---- storages: ---- */

static void h_storage_ontap(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			    void *obj, const struct yt_key *e)
{
	struct config_storage *s = obj;
	struct loader *ld = loader_of(d);
	const char *name = scalar_text(d, k, v);

	(void)e;
	if (!name)
		return;
	set_str(&s->ontap_name, name);
	/* resolved once every ontap: entry is known (the section may come later) */
	ld->st_ontap[s - ld->c->storages] = v;
}

static void h_protocol(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
		       void *obj, const struct yt_key *e)
{
	struct config_storage *s = obj;

	(void)k;
	(void)e;
	if (!strcmp(v->value, "nfs"))
		s->protocol = STORAGE_NFS;
	else if (!strcmp(v->value, "nvme"))
		s->protocol = STORAGE_NVME;
	else
		yt_error(d, v, "'protocol' must be nfs or nvme, not '%s'", v->value);
}

static void h_object_name(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			  void *obj, const struct yt_key *e)
{
	const char *s = scalar_text(d, k, v);

	if (!s)
		return;
	if (!object_name_ok(s)) {
		yt_error(d, v, "bad %s '%s' (letters, digits, '.', '_', '-')", k->value, s);
		return;
	}
	set_str(FIELD(obj, e, char *), s);
}

static void h_volume(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		     const struct yt_key *e)
{
	const char *s = scalar_text(d, k, v);

	if (!s)
		return;
	if (!volume_name_ok(s)) {
		yt_error(d, v, "bad volume name '%s' (a letter or '_', then letters, digits, '_')",
			 s);
		return;
	}
	set_str(FIELD(obj, e, char *), s);
}

static void h_prefix(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		     const struct yt_key *e)
{
	/* An empty prefix must be written as "" (a bare 'prefix:' is more likely a slip). */
	if (yt_is_null(v)) {
		yt_error(d, v, "'%s' needs a value (\"\" for none)", k->value);
		return;
	}
	if (!prefix_ok(v->value)) {
		yt_error(d, v, "bad prefix '%s' (a letter or '_', then letters, digits, '_'; "
			       "at most 64)", v->value);
		return;
	}
	set_str(FIELD(obj, e, char *), v->value);
}

static void h_encryption(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			 void *obj, const struct yt_key *e)
{
	bool b;

	if (parse_yaml_bool(v->value, &b) < 0) {
		yt_error(d, v, "'%s' must be true or false (or yes/no), not '%s'", k->value,
			 v->value);
		return;
	}
	*FIELD(obj, e, int) = b ? 1 : 0;
}

static void h_space_reserve(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			    void *obj, const struct yt_key *e)
{
	if (strcmp(v->value, "none") && strcmp(v->value, "volume")) {
		yt_error(d, v, "'%s' must be none or volume, not '%s'", k->value, v->value);
		return;
	}
	set_str(FIELD(obj, e, char *), v->value);
}

static void h_tiering(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		      const struct yt_key *e)
{
	static const char *const ok[] = { "none", "snapshot_only", "auto", "all", "backup" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!strcmp(v->value, ok[i])) {
			set_str(FIELD(obj, e, char *), v->value);
			return;
		}
	}
	yt_error(d, v, "'%s' must be none, snapshot_only, auto, all or backup, not '%s'", k->value,
		 v->value);
}

static void h_snapshot_reserve(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			       void *obj, const struct yt_key *e)
{
	int64_t n;

	if (util_parse_int(v->value, 0, 90, &n) < 0) {
		yt_error(d, v, "'%s' must be a percentage from 0 to 90, not '%s'", k->value,
			 v->value);
		return;
	}
	*FIELD(obj, e, int) = (int)n;
}

static void h_portals(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		      const struct yt_key *e)
{
	struct config_storage *s = obj;

	(void)e;
	if (v->n > CONFIG_MAX_PORTALS) {
		yt_error(d, v, "'%s' lists more than %d addresses", k->value, CONFIG_MAX_PORTALS);
		return;
	}
	for (int i = 0; i < v->n; i++) {
		const struct yt_node *it = v->kids[i];

		if (it->type != YT_SCALAR || yt_is_null(it)) {
			yt_error(d, it, "a portal must be an address, not %s", yt_kind(d, it));
			continue;
		}
		if (!host_ok(it->value)) {
			yt_error(d, it, "bad portal address '%s'", it->value);
			continue;
		}
		s->portals = util_xrealloc(s->portals,
					   (size_t)(s->nportals + 1) * sizeof(char *));
		s->portals[s->nportals++] = util_xstrdup(it->value);
	}
}

static const struct yt_key storage_keys[] = {
	{ "ontap", YT_SCALAR, h_storage_ontap, 0 },
	{ "protocol", YT_SCALAR, h_protocol, 0 },
	{ "svm", YT_SCALAR, h_object_name, offsetof(struct config_storage, svm) },
	{ "volume", YT_SCALAR, h_volume, offsetof(struct config_storage, volume) },
	{ "subsystem", YT_SCALAR, h_object_name, offsetof(struct config_storage, subsystem) },
	{ "aggregate", YT_SCALAR, h_object_name, offsetof(struct config_storage, aggregate) },
	{ "prefix", YT_SCALAR, h_prefix, offsetof(struct config_storage, prefix) },
	{ "encryption", YT_SCALAR, h_encryption, offsetof(struct config_storage, encryption) },
	{ "space_reserve", YT_SCALAR, h_space_reserve,
	  offsetof(struct config_storage, space_reserve) },
	{ "qos_policy", YT_SCALAR, h_object_name, offsetof(struct config_storage, qos_policy) },
	{ "adaptive_qos_policy", YT_SCALAR, h_object_name,
	  offsetof(struct config_storage, adaptive_qos_policy) },
	{ "tiering_policy", YT_SCALAR, h_tiering, offsetof(struct config_storage, tiering_policy) },
	{ "snapshot_reserve", YT_SCALAR, h_snapshot_reserve,
	  offsetof(struct config_storage, snapshot_reserve) },
	{ "portals", YT_SEQ, h_portals, 0 },
	{ NULL, 0, NULL, 0 },
};

static void h_storages(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
		       void *obj, const struct yt_key *e)
{
	struct config *c = obj;
	struct loader *ld = loader_of(d);

	(void)k;
	(void)e;
	for (int i = 0; i + 1 < v->n; i += 2) {
		const struct yt_node *id = v->kids[i], *body = v->kids[i + 1];
		struct config_storage *s;
		int idx;

		if (!yt_key_usable(d, v, i))
			continue;
		if (!storage_id_ok(id->value)) {
			yt_error(d, id, "'%s' is not a PVE storage id ([A-Za-z][A-Za-z0-9._-]*"
					"[A-Za-z0-9])", id->value);
			continue;
		}
		if (body->type != YT_MAP || yt_is_null(body)) {
			yt_error(d, body, "storage '%s' must be a mapping, not %s", id->value,
				 yt_kind(d, body));
			continue;
		}
		if (c->nstorages >= CONFIG_MAX_STORAGES) {
			yt_error(d, id, "more than %d storages", CONFIG_MAX_STORAGES);
			return;
		}
		s = storage_add(c, id->value);
		idx = (int)(s - c->storages);
		ld->st_key = util_xrealloc(ld->st_key, (size_t)c->nstorages * sizeof(void *));
		ld->st_ontap = util_xrealloc(ld->st_ontap, (size_t)c->nstorages * sizeof(void *));
		ld->st_key[idx] = id;
		ld->st_ontap[idx] = NULL;
		yt_walk_map(d, body, storage_keys, s, NULL);
		if (s->protocol == STORAGE_NVME) {
			if (!s->svm)
				yt_error(d, id, "NVMe storage '%s' has no 'svm'", s->id);
			if (!s->subsystem)
				yt_error(d, id, "NVMe storage '%s' has no 'subsystem'", s->id);
		}
		if (s->qos_policy && s->adaptive_qos_policy)
			yt_error(d, yt_map_find(body, "adaptive_qos_policy"),
				 "'qos_policy' and 'adaptive_qos_policy' exclude each other");
	}
}

/* ---- paths:, watch: ---- */

static void h_path(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		   const struct yt_key *e)
{
	const char *s = scalar_text(d, k, v);

	if (!s)
		return;
	if (s[0] != '/') {
		yt_error(d, v, "'%s' must be an absolute path, not '%s'", k->value, s);
		return;
	}
	set_str(FIELD(obj, e, char *), s);
	loader_of(d)->paths_set |= 1u << (e->off / sizeof(char *));
}

#define PATH_KEY(name) { #name, YT_SCALAR, h_path, offsetof(struct config_paths, name) }

static const struct yt_key paths_keys[] = {
	PATH_KEY(pve_etc), PATH_KEY(policies), PATH_KEY(queue),   PATH_KEY(state),
	PATH_KEY(lock),    PATH_KEY(mnt),      PATH_KEY(dev),     PATH_KEY(sysfs),
	PATH_KEY(qm),      PATH_KEY(nvme),     PATH_KEY(hostnqn), PATH_KEY(snippets),
	PATH_KEY(nvme_etc), PATH_KEY(lvm_conf), PATH_KEY(metrics),
	{ NULL, 0, NULL, 0 },
};

#define PATH_BIT(name) (1u << (offsetof(struct config_paths, name) / sizeof(char *)))

static void h_paths(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		    const struct yt_key *e)
{
	struct config_paths *p = &((struct config *)obj)->paths;
	unsigned set;

	(void)k;
	(void)e;
	yt_walk_map(d, v, paths_keys, p, NULL);
	set = loader_of(d)->paths_set;
	/*
	 * Paths below another one follow it unless given: a test tree (or a node with a
	 * different layout) that moves pve_etc or state moves what lives inside them.
	 */
	if ((set & PATH_BIT(pve_etc)) && !(set & PATH_BIT(policies))) {
		free(p->policies);
		p->policies = util_xasprintf("%s/pve-ontap/policies", p->pve_etc);
	}
	if ((set & PATH_BIT(pve_etc)) && !(set & PATH_BIT(lock))) {
		free(p->lock);
		p->lock = util_xasprintf("%s/priv/lock", p->pve_etc);
	}
	if ((set & PATH_BIT(nvme_etc)) && !(set & PATH_BIT(hostnqn))) {
		free(p->hostnqn);
		p->hostnqn = util_xasprintf("%s/hostnqn", p->nvme_etc);
	}
	if ((set & PATH_BIT(state)) && !(set & PATH_BIT(queue))) {
		free(p->queue);
		p->queue = util_xasprintf("%s/queue", p->state);
	}
}

static void h_duration(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
		       void *obj, const struct yt_key *e)
{
	int64_t s;

	if (util_parse_duration(v->value, &s) < 0 || s < 1 || s > 7 * 86400) {
		yt_error(d, v, "bad duration '%s' for '%s' (1s to 7d: a number with s, m, h or d)",
			 v->value, k->value);
		return;
	}
	*FIELD(obj, e, int64_t) = s;
}

static void h_max_parallel(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			   void *obj, const struct yt_key *e)
{
	int64_t n;

	if (util_parse_int(v->value, 1, 64, &n) < 0) {
		yt_error(d, v, "'%s' must be an integer from 1 to 64, not '%s'", k->value, v->value);
		return;
	}
	*FIELD(obj, e, int) = (int)n;
}

static const struct yt_key watch_keys[] = {
	{ "reconcile", YT_SCALAR, h_duration, offsetof(struct config_watch, reconcile_s) },
	{ "max_parallel", YT_SCALAR, h_max_parallel, offsetof(struct config_watch, max_parallel) },
	{ NULL, 0, NULL, 0 },
};

static void h_watch(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		    const struct yt_key *e)
{
	(void)k;
	(void)e;
	yt_walk_map(d, v, watch_keys, &((struct config *)obj)->watch, NULL);
}

static const struct yt_key top_keys[] = {
	{ "pve", YT_MAP, h_pve, 0 },
	{ "ontap", YT_MAP, h_ontap, 0 },
	{ "storages", YT_MAP, h_storages, 0 },
	{ "paths", YT_MAP, h_paths, 0 },
	{ "watch", YT_MAP, h_watch, 0 },
	{ NULL, 0, NULL, 0 },
};

/* Storages name their cluster by key; the whole file is known now. */
static void resolve_storages(struct loader *ld)
{
	struct yt_doc *d = &ld->doc;
	struct config *c = ld->c;

	for (int i = 0; i < c->nstorages; i++) {
		struct config_storage *s = &c->storages[i];

		if (!s->ontap_name) {
			if (!ld->st_ontap[i])
				yt_error(d, ld->st_key[i], "storage '%s' has no 'ontap' (the name "
					 "of a cluster under ontap:)", s->id);
			continue;
		}
		s->ontap = ontap_find(c, s->ontap_name);
		if (!s->ontap)
			yt_error(d, ld->st_ontap[i], "storage '%s' names unknown ONTAP cluster '%s'",
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
	/*
	 * The first structural problem (syntax, alias, anchor, depth, a second document) stops
	 * the build: what follows it would only produce noise. A null value is an error, not
	 * an absent key: "pve:" alone is a slip.
	 */
	struct loader ld = {
		.doc = {
			.errs = { .file = name ? name : "<config>", .keep = CONFIG_MAX_ERRORS },
			.max_depth = CONFIG_MAX_DEPTH,
			.max_scalar = CONFIG_MAX_SCALAR,
			.seq_name = "a list",
		},
	};
	struct yt_doc *d = &ld.doc;
	struct yt_node *root = NULL;
	int rc;

	*out = NULL;
	ld.c = config_new_defaults();
	ld.c->file = util_xstrdup(d->errs.file);
	ld.dir = dir_of(name);
	rc = yt_build(d, text, len, &root);
	if (rc < 0 && d->errs.total == 0)
		goto out; /* the parser itself could not start: message already set */
	if (rc == 0 && root && !yt_is_null(root)) {
		if (root->type != YT_MAP) {
			yt_error(d, root, "the configuration must be a mapping, not %s",
				 yt_kind(d, root));
		} else {
			yt_walk_map(d, root, top_keys, ld.c, NULL);
			resolve_storages(&ld);
		}
	}
	rc = errors_report(&d->errs);
	if (seen) {
		seen->password = ld.holds_password;
		seen->token = ld.holds_token;
	}
out:
	yt_node_free(root);
	yt_errors_release(&d->errs);
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
	struct yt_errors errs;
	struct ini_section *sec;
	int nsec;
	struct ini_section *defaults; /* [DEFAULT]: inherited by every section */
};

static void ierr(struct ini *in, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ierr(struct ini *in, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yt_errors_addv(&in->errs, line, 0, fmt, ap);
	va_end(ap);
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
	yt_errors_release(&in->errs);
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
/* "host" or "host:port" (pve-ontap-snapshot.py took a port in proxmox_host). */
static void ini_host_port(struct ini *in, struct ini_kv *kv, char **host_out, int *port_out)
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
		*port_out = (int)port;
	}
	if (!host_ok(host)) {
		ierr(in, kv->line, "bad host '%s' (a host name or an IP address)", kv->value);
		goto out;
	}
	set_str(host_out, host);
out:
	free(host);
}

static void ini_pve_host(struct ini *in, struct config *c, struct ini_kv *kv)
{
	ini_host_port(in, kv, &c->pve.host, &c->pve.port);
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
	if ((kv = ini_get(in, s, "host")) && ini_nonempty(in, kv))
		ini_host_port(in, kv, &o->host, &o->port);
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

/*
 * [paths] (an extension: pve-ontap-snapshot.py had none) takes the keys of the YAML
 * paths: section, so an .ini config can run outside /etc/pve too (tests, other layouts).
 * A PVE storage literally named "paths" cannot be configured in an .ini file.
 */
static void ini_paths(struct ini *in, struct ini_section *s, struct config *c)
{
	for (const struct yt_key *e = paths_keys; e->key; e++) {
		struct ini_kv *kv = ini_get(in, s, e->key);

		if (!kv || !ini_nonempty(in, kv))
			continue;
		if (kv->value[0] != '/') {
			ierr(in, kv->line, "'%s' must be an absolute path, not '%s'", kv->key,
			     kv->value);
			continue;
		}
		set_str((char **)((char *)&c->paths + e->off), kv->value);
	}
}

static int parse_ini(const char *name, const char *text, size_t len, struct config **out,
		     struct secrets_seen *seen)
{
	struct ini in = { .name = name ? name : "<config>" };
	struct config *c = config_new_defaults();
	bool pw = false;
	int rc;

	*out = NULL;
	in.errs.file = in.name;
	in.errs.keep = CONFIG_MAX_ERRORS;
	c->file = util_xstrdup(in.name);
	c->from_ini = true;
	ini_read(&in, text, len);
	for (int i = 0; i < in.nsec; i++) {
		struct ini_section *s = &in.sec[i];

		if (s == in.defaults)
			continue;
		if (!strcmp(s->name, "proxmox"))
			ini_proxmox(&in, s, c, &pw);
		else if (!strcmp(s->name, "paths"))
			ini_paths(&in, s, c);
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
	rc = errors_report(&in.errs);
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
	const char *file = config_search(path && *path ? path : NULL);
	struct stat st;
	int rc;

	*out = NULL;
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
			     "config file '%s' holds %s and is readable by %s (mode %04o): "
			     "chmod 600 it",
			     file, seen.password ? "a password" : "an API token",
			     config_readers(st.st_mode), (unsigned)(st.st_mode & 07777));
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
