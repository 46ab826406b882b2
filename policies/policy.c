// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Policy loader, on lib/yamltree: the YAML text becomes a small tree of our own built from
 * libyaml's events (anchors and aliases refused, nesting bounded), walked with
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

#include "base/buf.h"
#include "base/err.h"
#include "format/json.h"
#include "pve/pve.h"
#include "sched/calendar.h"
#include "base/util.h"
#include "format/yamltree.h"

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

/* ---- the YAML document ---- */

/*
 * A policy names the anchor it refuses and says "invalid YAML" for what libyaml cannot
 * parse; an alias, an anchor or a too-deep subtree is reported and the walk goes on.
 */
static void policy_yaml_problem(struct yt_doc *d, const struct yt_problem *p)
{
	struct yt_errors *el = &d->errs;

	switch (p->kind) {
	case YT_SYNTAX:
		if (p->reader) /* the reader reports a byte offset, not a mark */
			yt_errors_add(el, 1, 1, "invalid YAML: %s at byte %zu", p->problem,
				      p->offset);
		else if (p->context)
			yt_errors_add(el, p->line, p->col, "invalid YAML: %s %s", p->problem,
				      p->context);
		else
			yt_errors_add(el, p->line, p->col, "invalid YAML: %s", p->problem);
		break;
	case YT_SECOND_DOC:
		yt_errors_add(el, p->line, p->col,
			      "a policy file holds one YAML document, found a second one");
		break;
	case YT_ALIAS:
		yt_errors_add(el, p->line, p->col, "YAML aliases are not allowed in a policy (*%s)",
			      p->name);
		break;
	case YT_ANCHOR:
		yt_errors_add(el, p->line, p->col, "YAML anchors are not allowed in a policy (&%s)",
			      p->name);
		break;
	case YT_TOO_DEEP:
		yt_errors_add(el, p->line, p->col, "nesting deeper than %d levels", d->max_depth);
		break;
	default:
		yt_problem_default(d, p);
		break;
	}
}

/* Does the mapping have key with a non-null value? */
static bool map_has(const struct yt_node *map, const char *key)
{
	for (int i = 0; i + 1 < map->n; i += 2) {
		const struct yt_node *k = map->kids[i];

		if (k->type == YT_SCALAR && !strcmp(k->value, key) && !yt_is_null(map->kids[i + 1]))
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

static void scalar_bool(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			bool *out)
{
	if (parse_bool(v->value, out))
		yt_error(d, v, "'%s' must be true or false, not '%s'", k->value, v->value);
}

/* Duration in [min, max] seconds. */
static int scalar_duration(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			   int64_t min, int64_t max, int64_t *out)
{
	int64_t s = 0;
	char lo[24], hi[24];

	if (util_parse_duration(v->value, &s) || s < 0) {
		yt_error(d, v, "bad duration '%s' for '%s' (a number with s, m, h or d, e.g. 12h)",
			 v->value, k->value);
		return POE_CONFIG;
	}
	if (s < min || s > max) {
		policy_format_duration(min, lo, sizeof(lo));
		policy_format_duration(max, hi, sizeof(hi));
		yt_error(d, v, "'%s' must be from %s to %s, not '%s'", k->value, lo, hi, v->value);
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
	const struct yt_node *on;
	const struct yt_node *label;
};

static void rule_on(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		    const struct yt_key *e)
{
	struct rule_state *rs = obj;

	(void)k;
	(void)e;
	rs->on = v;
	if (v->n == 0) {
		yt_error(d, v, "'on' lists no phase (any of pre-start, post-start, pre-stop, "
			       "post-stop)");
		return;
	}
	for (int i = 0; i < v->n; i++) {
		const struct yt_node *it = v->kids[i];
		unsigned bit;

		if (it->bad)
			continue;
		if (it->type != YT_SCALAR) {
			yt_error(d, it, "a phase must be a scalar, not %s",
				 yt_type_name(d, it->type));
			continue;
		}
		bit = policy_phase_parse(it->value);
		if (!bit) {
			yt_error(d, it, "unknown phase '%s' (expected pre-start, post-start, "
					"pre-stop or post-stop)", it->value);
			continue;
		}
		if (rs->r.phases & bit) {
			yt_error(d, it, "phase '%s' listed twice", it->value);
			continue;
		}
		rs->r.phases |= bit;
	}
}

static void rule_label(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
		       void *obj, const struct yt_key *e)
{
	struct rule_state *rs = obj;

	(void)k;
	(void)e;
	if (!label_is_valid(v->value)) {
		yt_error(d, v, "bad label '%s' (1 to %d of a-z, 0-9 and _)", v->value,
			 POLICY_LABEL_MAX);
		return;
	}
	/* these buckets belong to snapshots made by hand and to vm restore's safety copy */
	if (!strcmp(v->value, "manual") || !strcmp(v->value, "prerestore")) {
		yt_error(d, v, "label '%s' is reserved (retention would delete snapshots made by "
			       "hand)", v->value);
		return;
	}
	util_strlcpy(rs->r.label, v->value, sizeof(rs->r.label)); /* a valid label fits */
	rs->label = v;
}

static void rule_keep(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		      const struct yt_key *e)
{
	struct rule_state *rs = obj;
	int64_t keep = 0;

	(void)k;
	(void)e;
	if (util_parse_int(v->value, 1, POLICY_KEEP_MAX, &keep)) {
		yt_error(d, v, "'keep' must be an integer from 1 to %d, not '%s'", POLICY_KEEP_MAX,
			 v->value);
		return;
	}
	rs->r.keep = (int)keep;
}

static void rule_min_interval(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			      void *obj, const struct yt_key *e)
{
	struct rule_state *rs = obj;

	(void)e;
	/* ten years: far beyond any sensible interval, well inside int64 milliseconds */
	scalar_duration(d, k, v, 0, 3650LL * 86400, &rs->r.min_interval_s);
}

static void rule_quiesce(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			 void *obj, const struct yt_key *e)
{
	struct rule_state *rs = obj;

	(void)k;
	(void)e;
	if (!strcmp(v->value, "none"))
		rs->r.quiesce = POLICY_QUIESCE_NONE;
	else if (!strcmp(v->value, "freeze"))
		rs->r.quiesce = POLICY_QUIESCE_FREEZE;
	else
		yt_error(d, v, "'quiesce' must be none or freeze, not '%s'", v->value);
}

/* The column of byte i of scalar v, when v is written as is on one line; else v's own. */
static int scalar_col(const struct yt_node *v, int i)
{
	if (!v->verbatim || i < 0)
		return v->col;
	return v->col + (v->plain ? 0 : 1) + i;
}

static void rule_schedule(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			  void *obj, const struct yt_key *e)
{
	struct rule_state *rs = obj;
	struct cal_event *ev = NULL;
	char msg[256];
	int col = 0;

	(void)k;
	(void)e;
	if (cal_parse(v->value, &ev, msg, sizeof(msg), &col) < 0) {
		yt_errors_add(&d->errs, v->line, scalar_col(v, col), "bad schedule '%s': %s",
			      v->value, msg);
		return;
	}
	/* independent of today's date, so a policy does not turn invalid as time passes */
	if (!cal_ever(ev)) {
		yt_error(d, v, "schedule '%s' never fires (no date matches it)", v->value);
		cal_free(ev);
		return;
	}
	rs->r.schedule = util_xstrdup(v->value);
	rs->r.cal = ev;
}

static void rule_register(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			  void *obj, const struct yt_key *e)
{
	struct rule_state *rs = obj;
	bool b = false;

	(void)e;
	if (parse_bool(v->value, &b)) {
		yt_error(d, v, "'%s' must be true or false, not '%s'", k->value, v->value);
		return;
	}
	rs->r.register_clones = b ? 1 : 0;
}

static const struct yt_key rule_keys[] = {
	{ "on", YT_SEQ, rule_on, 0 },
	{ "schedule", YT_SCALAR, rule_schedule, 0 },
	{ "label", YT_SCALAR, rule_label, 0 },
	{ "keep", YT_SCALAR, rule_keep, 0 },
	{ "min_interval", YT_SCALAR, rule_min_interval, 0 },
	{ "quiesce", YT_SCALAR, rule_quiesce, 0 },
	{ "register", YT_SCALAR, rule_register, 0 },
	{ NULL, 0, NULL, 0 },
};

static void top_snapshots(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			  void *obj, const struct yt_key *e)
{
	struct policy *p = obj;
	const struct yt_node *labels[POLICY_MAX_RULES];

	(void)k;
	(void)e;
	p->rules = util_xcalloc(v->n ? v->n : 1, sizeof(*p->rules));
	for (int i = 0; i < v->n; i++) {
		const struct yt_node *it = v->kids[i];
		struct rule_state rs = { .r = { .keep = POLICY_KEEP_DEFAULT,
						.register_clones = -1 } };

		if (it->bad)
			continue;
		if (it->type != YT_MAP) {
			yt_error(d, it, "a snapshot rule must be a mapping, not %s",
				 yt_type_name(d, it->type));
			continue;
		}
		/* a limit, not a slowdown: the hook and the scheduler look at every rule */
		if (p->nrules == POLICY_MAX_RULES) {
			yt_error(d, it, "more than %d snapshot rules (the limit of one policy); "
					"found %d", POLICY_MAX_RULES, v->n);
			break;
		}
		yt_walk_map(d, it, rule_keys, &rs, "a snapshot rule");
		/* a key that is there but wrong has had its error already */
		if (!map_has(it, "on") && !map_has(it, "schedule"))
			yt_error(d, it, "snapshot rule without 'on' or 'schedule' (when it fires)");
		if (!map_has(it, "label"))
			yt_error(d, it, "snapshot rule without 'label'");
		for (int j = 0; rs.label && j < p->nrules; j++) {
			if (labels[j] && !strcmp(p->rules[j].label, rs.r.label)) {
				yt_error(d, rs.label, "duplicate label '%s' (first at line %d)",
					 rs.r.label, labels[j]->line);
				break;
			}
		}
		labels[p->nrules] = rs.label;
		p->rules[p->nrules++] = rs.r;
	}
}

/* ---- disks ---- */

static void disk_list(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
		      char ***out)
{
	char **list;
	int n = 0;

	if (v->n == 0) {
		yt_error(d, v, "'%s' lists no disk (leave it out instead)", k->value);
		return;
	}
	if (v->n > POLICY_MAX_DISKS) {
		yt_error(d, v, "'%s' lists more than %d disks", k->value, POLICY_MAX_DISKS);
		return;
	}
	list = util_xcalloc(v->n + 1, sizeof(*list));
	for (int i = 0; i < v->n; i++) {
		const struct yt_node *it = v->kids[i];
		bool dup = false;

		if (it->bad)
			continue;
		if (it->type != YT_SCALAR) {
			yt_error(d, it, "a disk key must be a scalar, not %s",
				 yt_type_name(d, it->type));
			continue;
		}
		if (!pve_is_drive_key(it->value)) {
			yt_error(d, it, "'%s' is not a PVE disk key (scsi0, virtio1, sata2, ide3, "
					"efidisk0, tpmstate0, ...)", it->value);
			continue;
		}
		for (int j = 0; j < n && !dup; j++)
			dup = !strcmp(list[j], it->value);
		if (dup) {
			yt_error(d, it, "disk '%s' listed twice", it->value);
			continue;
		}
		list[n++] = util_xstrdup(it->value);
	}
	*out = list;
}

static void disks_include(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			  void *obj, const struct yt_key *e)
{
	(void)e;
	disk_list(d, k, v, &((struct policy *)obj)->include);
}

static void disks_exclude(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			  void *obj, const struct yt_key *e)
{
	(void)e;
	disk_list(d, k, v, &((struct policy *)obj)->exclude);
}

static const struct yt_key disks_keys[] = {
	{ "include", YT_SEQ, disks_include, 0 },
	{ "exclude", YT_SEQ, disks_exclude, 0 },
	{ NULL, 0, NULL, 0 },
};

static void top_disks(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		      const struct yt_key *e)
{
	(void)k;
	(void)e;
	yt_walk_map(d, v, disks_keys, obj, "'disks'");
}

/* ---- top-level scalars ---- */

static void top_register(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			 void *obj, const struct yt_key *e)
{
	(void)e;
	scalar_bool(d, k, v, &((struct policy *)obj)->register_clones);
}

static void top_on_error(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			 void *obj, const struct yt_key *e)
{
	struct policy *p = obj;

	(void)k;
	(void)e;
	if (!strcmp(v->value, "warn"))
		p->on_error = POLICY_ON_ERROR_WARN;
	else if (!strcmp(v->value, "block"))
		p->on_error = POLICY_ON_ERROR_BLOCK;
	else
		yt_error(d, v, "'on_error' must be warn or block, not '%s'", v->value);
}

static void top_timeout(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v,
			void *obj, const struct yt_key *e)
{
	(void)e;
	/* PVE itself puts no bound on a hook and holds the VM lock meanwhile (pve.md §1.3) */
	scalar_duration(d, k, v, 1, POLICY_TIMEOUT_MAX_S, &((struct policy *)obj)->timeout_s);
}

static void top_skip_on_migration(struct yt_doc *d, const struct yt_node *k,
				  const struct yt_node *v, void *obj, const struct yt_key *e)
{
	(void)e;
	scalar_bool(d, k, v, &((struct policy *)obj)->skip_on_migration);
}

static const struct yt_key top_keys[] = {
	{ "snapshots", YT_SEQ, top_snapshots, 0 },
	{ "disks", YT_MAP, top_disks, 0 },
	{ "register", YT_SCALAR, top_register, 0 },
	{ "on_error", YT_SCALAR, top_on_error, 0 },
	{ "timeout", YT_SCALAR, top_timeout, 0 },
	{ "skip_on_migration", YT_SCALAR, top_skip_on_migration, 0 },
	{ NULL, 0, NULL, 0 },
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
	for (int i = 0; p->rules && i < p->nrules; i++) {
		free(p->rules[i].schedule);
		cal_free(p->rules[i].cal);
	}
	free(p->rules);
	strv_free(p->include);
	strv_free(p->exclude);
	free(p);
}

int policy_parse(const char *name, const char *text, size_t len, struct policy **out,
		 struct buf *errors)
{
	struct yt_doc d = {
		.errs = { .file = name, .msg_max = 768 },
		.max_depth = POLICY_MAX_DEPTH,
		.recover = true,
		.problem = policy_yaml_problem,
		.null_is_absent = true,
	};
	struct policy *p = policy_new_defaults(name);
	struct yt_node *root = NULL;
	int rc;

	*out = NULL;
	if (len > POLICY_MAX_FILE_BYTES) {
		yt_errors_add(&d.errs, 1, 1, "policy is larger than %d KiB (%zu bytes)",
			      POLICY_MAX_FILE_BYTES / 1024, len);
		goto done;
	}
	rc = yt_build(&d, text, len, &root);
	if (rc && !d.errs.n)
		goto fail;
	if (rc)
		goto done;
	if (root && !root->bad && !yt_is_null(root)) {
		if (root->type != YT_MAP)
			yt_error(&d, root, "a policy must be a mapping, not %s",
				 yt_type_name(&d, root->type));
		else
			yt_walk_map(&d, root, top_keys, p, NULL);
	}
done:
	if (d.errs.n) {
		/*
		 * In the order of the file (the walk finds some late: a missing key after its
		 * mapping); the caller's cap on errors stops the list, never the validation.
		 */
		yt_errors_sort(&d.errs);
		for (int i = 0; errors && i < d.errs.n; i++)
			buf_note(errors, "%s\n", d.errs.v[i].text);
		rc = yt_errors_report(&d.errs);
		goto fail;
	}
	*out = p;
	p = NULL;
	rc = 0;
fail:
	yt_node_free(root);
	policy_free(p);
	yt_errors_release(&d.errs);
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
		buf_note(errors, "%s\n", err_msg());
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

bool policy_rule_registers(const struct policy *p, const struct policy_rule *r)
{
	if (r && r->register_clones >= 0)
		return r->register_clones;
	return p && p->register_clones;
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

static int yaml_strv(struct buf *b, const char *key, char **v)
{
	if (buf_printf(b, "  %s: [", key) < 0)
		return POE_FAIL;
	for (int i = 0; v[i]; i++)
		if (buf_printf(b, "%s%s", i ? ", " : "", v[i]) < 0)
			return POE_FAIL;
	return buf_puts(b, "]\n");
}

/* Local time of t as "2026-12-02 19:00:00 CET", "never" for -1. */
static void format_due_local(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t < 0 || !localtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%d %H:%M:%S %Z", &tm))
		snprintf(out, n, "never");
}

/* The `on` and `schedule` lines of a rule, the first one as the sequence item. */
static int yaml_rule_when(struct buf *b, const struct policy_rule *r, int64_t now)
{
	const char *lead = "  - ";
	char due[64];
	bool first = true;

	if (r->phases) {
		if (buf_puts(b, "  - on: [") < 0)
			return POE_FAIL;
		for (int j = 0; j < NPHASES; j++) {
			if (!(r->phases & phases[j].bit))
				continue;
			if (buf_printf(b, "%s%s", first ? "" : ", ", phases[j].name) < 0)
				return POE_FAIL;
			first = false;
		}
		if (buf_puts(b, "]\n") < 0)
			return POE_FAIL;
		lead = "    ";
	}
	if (!r->schedule)
		return 0;
	/* a validated calendar event holds no quote or backslash */
	format_due_local(cal_next(r->cal, now), due, sizeof(due));
	return buf_printf(b, "%sschedule: \"%s\"    # next due: %s\n", lead, r->schedule, due);
}

/* One rule: its `on` and `schedule` lines, then the rest of its keys. */
static int yaml_rule(struct buf *b, const struct policy *p, const struct policy_rule *r,
		     int64_t now)
{
	char d[24];

	if (yaml_rule_when(b, r, now) < 0)
		return POE_FAIL;
	policy_format_duration(r->min_interval_s, d, sizeof(d));
	return buf_printf(b, "    label: %s\n    keep: %d\n    min_interval: %s\n"
			  "    quiesce: %s\n    register: %s\n", r->label, r->keep, d,
			  quiesce_name(r->quiesce), policy_rule_registers(p, r) ? "true" : "false");
}

int policy_write_yaml(const struct policy *p, int64_t now, struct buf *b)
{
	char d[24];

	/* labels, phases and disk keys are validated tokens: nothing needs quoting */
	if (buf_puts(b, p->nrules ? "snapshots:\n" : "snapshots: []\n") < 0)
		return POE_FAIL;
	for (int i = 0; i < p->nrules; i++)
		if (yaml_rule(b, p, &p->rules[i], now) < 0)
			return POE_FAIL;
	if (!p->include && !p->exclude) {
		if (buf_puts(b, "disks: {}    # every disk on a configured storage\n") < 0)
			return POE_FAIL;
	} else if (buf_puts(b, "disks:\n") < 0 ||
		   (p->include && yaml_strv(b, "include", p->include) < 0) ||
		   (p->exclude && yaml_strv(b, "exclude", p->exclude) < 0)) {
		return POE_FAIL;
	}
	policy_format_duration(p->timeout_s, d, sizeof(d));
	return buf_printf(b, "register: %s\non_error: %s\ntimeout: %s\nskip_on_migration: %s\n",
			  p->register_clones ? "true" : "false",
			  p->on_error == POLICY_ON_ERROR_BLOCK ? "block" : "warn", d,
			  p->skip_on_migration ? "true" : "false");
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

/* A rule's "schedule" and "next_due" members. */
static void json_rule_schedule(struct json_writer *w, const struct policy_rule *r, int64_t now)
{
	int64_t next = r->cal ? cal_next(r->cal, now) : -1;
	char iso[21];

	jw_string(w, "schedule", r->schedule);
	if (next < 0) {
		jw_null(w, "next_due");
		return;
	}
	util_iso8601((time_t)next, iso);
	jw_string(w, "next_due", iso);
}

void policy_write_json(const struct policy *p, int64_t now, struct json_writer *w,
		       const char *key)
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
		json_rule_schedule(w, r, now);
		jw_string(w, "label", r->label);
		jw_int(w, "keep", r->keep);
		policy_format_duration(r->min_interval_s, d, sizeof(d));
		jw_string(w, "min_interval", d);
		jw_int(w, "min_interval_seconds", r->min_interval_s);
		jw_string(w, "quiesce", quiesce_name(r->quiesce));
		jw_bool(w, "register", policy_rule_registers(p, r));
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
