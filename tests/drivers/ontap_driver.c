// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Test driver for the ONTAP REST client (HACKING.md "Test drivers"):
 *
 *   ontap_driver [--deadline-ms N] [--dry-run] [--svm SVM] CONFIG CLUSTER CMD ARGS...
 *
 * performs one client call against the cluster named CLUSTER in CONFIG and prints the result
 * as one JSON line, then {"requests": N} (and {"dry_run": "..."} in dry-run mode). Exit
 * status is err_exit_status(rc), with err_msg() on stderr. "-" stands for NULL arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "format/json.h"
#include "base/log.h"
#include "ontap/ontap.h"
#include "base/util.h"

struct ctx {
	struct ontap_client *oc;
	struct json_writer w;
	struct buf out;
	int64_t deadline;
	const char *svm;
	int argc;
	char **argv;
};

static const char *arg(const struct ctx *c, int i)
{
	const char *s = i < c->argc ? c->argv[i] : NULL;

	if (s && strcmp(s, "-") == 0)
		return NULL;
	return s;
}

static int need(const struct ctx *c, int n, const char *usage)
{
	if (c->argc < n)
		return err_set(POE_USAGE, "usage: %s", usage);
	return 0;
}

static int size_arg(const struct ctx *c, int i, uint64_t *out)
{
	const char *s = arg(c, i);

	if (!s || util_parse_size(s, out) < 0)
		return err_set(POE_USAGE, "invalid size '%s'", s ? s : "");
	return 0;
}

static void put_volume(struct json_writer *w, const char *key, const struct ontap_volume *v)
{
	jw_object_begin(w, key);
	jw_string(w, "uuid", v->uuid);
	jw_string(w, "name", v->name);
	jw_string(w, "svm", v->svm);
	jw_string(w, "nas_path", v->nas_path);
	jw_string(w, "state", v->state);
	jw_string(w, "comment", v->comment);
	jw_int(w, "size", (int64_t)v->size);
	jw_int(w, "used", (int64_t)v->used);
	jw_int(w, "available", (int64_t)v->available);
	jw_int(w, "snapshot_reserve", v->snapshot_reserve);
	jw_bool(w, "is_flexclone", v->is_flexclone);
	jw_string(w, "clone_parent", v->clone_parent);
	jw_string(w, "clone_parent_snapshot", v->clone_parent_snapshot);
	jw_string(w, "cg_name", v->cg_name);
	jw_object_end(w);
}

static void put_snapshot(struct json_writer *w, const struct ontap_snapshot *s)
{
	jw_object_begin(w, NULL);
	jw_string(w, "uuid", s->uuid);
	jw_string(w, "name", s->name);
	jw_string(w, "comment", s->comment);
	jw_string(w, "label", s->label);
	jw_int(w, "create_time", (int64_t)s->create_time);
	jw_object_end(w);
}

static void put_namespace(struct json_writer *w, const char *key, const struct ontap_namespace *n)
{
	jw_object_begin(w, key);
	jw_string(w, "uuid", n->uuid);
	jw_string(w, "name", n->name);
	jw_string(w, "volume", n->volume);
	jw_string(w, "state", n->state);
	jw_int(w, "size", (int64_t)n->size);
	jw_int(w, "used", (int64_t)n->used);
	jw_bool(w, "mapped", n->mapped);
	jw_string(w, "subsystem", n->subsystem);
	jw_object_end(w);
}

static void put_names(struct json_writer *w, const char *key, char **v, int n)
{
	jw_array_begin(w, key);
	for (int i = 0; i < n; i++)
		jw_string(w, NULL, v[i]);
	jw_array_end(w);
}

static void put_cg(struct json_writer *w, const struct ontap_cg *cg)
{
	jw_object_begin(w, NULL);
	jw_string(w, "uuid", cg->uuid);
	jw_string(w, "name", cg->name);
	put_names(w, "volumes", cg->volumes, cg->nvolumes);
	jw_object_end(w);
}

/* ---- commands: args start at index 0 after CMD ---- */

static int cmd_version(struct ctx *c)
{
	int g, ma, mi;
	int rc = ontap_cluster_version(c->oc, &g, &ma, &mi, c->deadline);

	if (rc < 0)
		return rc;
	jw_object_begin(&c->w, NULL);
	jw_int(&c->w, "generation", g);
	jw_int(&c->w, "major", ma);
	jw_int(&c->w, "minor", mi);
	jw_object_end(&c->w);
	return 0;
}

static int cmd_volume_find(struct ctx *c, bool by_path)
{
	struct ontap_volume v;
	int rc = need(c, 2, by_path ? "volume-find-path SVM PATH" : "volume-find SVM NAME");

	if (rc < 0)
		return rc;
	if (by_path)
		rc = ontap_volume_find_by_path(c->oc, arg(c, 0), arg(c, 1), &v, c->deadline);
	else
		rc = ontap_volume_find(c->oc, arg(c, 0), arg(c, 1), &v, c->deadline);
	if (rc == 0)
		put_volume(&c->w, NULL, &v);
	return rc;
}

static int cmd_volume_get(struct ctx *c)
{
	struct ontap_volume v;
	int rc = need(c, 1, "volume-get UUID");

	if (rc == 0)
		rc = ontap_volume_get(c->oc, arg(c, 0), &v, c->deadline);
	if (rc == 0)
		put_volume(&c->w, NULL, &v);
	return rc;
}

static int cmd_volume_list(struct ctx *c)
{
	struct ontap_volume *v = NULL;
	int n = 0;
	int rc = need(c, 2, "volume-list SVM PATTERN");

	if (rc == 0)
		rc = ontap_volume_list(c->oc, arg(c, 0), arg(c, 1), &v, &n, c->deadline);
	if (rc == 0) {
		jw_array_begin(&c->w, NULL);
		for (int i = 0; i < n; i++)
			put_volume(&c->w, NULL, &v[i]);
		jw_array_end(&c->w);
	}
	free(v);
	return rc;
}

static int cmd_volume_create(struct ctx *c)
{
	struct ontap_volume_spec s = { .encryption = -1, .snapshot_reserve = -1 };
	struct json_doc d = { 0 };
	struct ontap_volume v;
	char *strs[9] = { 0 };
	static const char *const keys[9] = { "name", "svm", "aggregate", "guarantee",
					     "qos_policy", "adaptive_qos_policy",
					     "tiering_policy", "nas_path", "comment" };
	int64_t i64;
	bool b;
	int rc = need(c, 1, "volume-create JSON-SPEC");

	if (rc < 0)
		return rc;
	rc = json_parse(&d, arg(c, 0), strlen(arg(c, 0)), 1024);
	if (rc < 0)
		goto out;
	for (int i = 0; i < 9; i++)
		strs[i] = json_get_strdup(&d, 0, keys[i]);
	s.name = strs[0];
	s.svm = strs[1];
	s.aggregate = strs[2];
	s.guarantee = strs[3];
	s.qos_policy = strs[4];
	s.adaptive_qos_policy = strs[5];
	s.tiering_policy = strs[6];
	s.nas_path = strs[7];
	s.comment = strs[8];
	if (json_get_int(&d, 0, "size", &i64) == 0)
		s.size = (uint64_t)i64;
	if (json_get_int(&d, 0, "autosize_max", &i64) == 0)
		s.autosize_max = (uint64_t)i64;
	if (json_get_int(&d, 0, "snapshot_reserve", &i64) == 0)
		s.snapshot_reserve = (int)i64;
	if (json_get_int(&d, 0, "encryption", &i64) == 0)
		s.encryption = (int)i64;
	if (json_get_bool(&d, 0, "snapshot_policy_none", &b) == 0)
		s.snapshot_policy_none = b;
	if (!s.name) {
		rc = err_set(POE_USAGE, "volume spec needs a name");
		goto out;
	}
	rc = ontap_volume_create(c->oc, &s, &v, c->deadline);
	if (rc == 0)
		put_volume(&c->w, NULL, &v);
out:
	for (int i = 0; i < 9; i++)
		free(strs[i]);
	json_free(&d);
	return rc;
}

static int cmd_volume_resize(struct ctx *c)
{
	uint64_t size;
	int rc = need(c, 2, "volume-resize UUID SIZE");

	if (rc == 0)
		rc = size_arg(c, 1, &size);
	if (rc == 0)
		rc = ontap_volume_resize(c->oc, arg(c, 0), size, c->deadline);
	return rc;
}

static int cmd_volume_nas_path(struct ctx *c)
{
	int rc = need(c, 2, "volume-nas-path UUID PATH");

	/* Here "-" means unmount (""), not NULL. */
	if (rc == 0)
		rc = ontap_volume_set_nas_path(c->oc, arg(c, 0), arg(c, 1) ? arg(c, 1) : "",
					       c->deadline);
	return rc;
}

/* Several uuids: one client, so the cluster version is read for the first only. */
static int cmd_volume_delete(struct ctx *c)
{
	int rc = need(c, 1, "volume-delete UUID...");

	for (int i = 0; rc == 0 && i < c->argc; i++)
		rc = ontap_volume_delete(c->oc, arg(c, i), c->deadline);
	return rc;
}

static int cmd_flexclone(struct ctx *c)
{
	struct ontap_volume v;
	int rc = need(c, 5, "flexclone SVM PARENT SNAPSHOT|- NAME NAS_PATH|-");

	if (rc == 0)
		rc = ontap_volume_flexclone(c->oc, arg(c, 0), arg(c, 1), arg(c, 2), arg(c, 3),
					    arg(c, 4), &v, c->deadline);
	if (rc == 0)
		put_volume(&c->w, NULL, &v);
	return rc;
}

static int cmd_volume_restore(struct ctx *c)
{
	int rc = need(c, 2, "volume-restore UUID SNAPSHOT");

	if (rc == 0)
		rc = ontap_volume_restore(c->oc, arg(c, 0), arg(c, 1), c->deadline);
	return rc;
}

static int cmd_snap_create(struct ctx *c)
{
	int rc = need(c, 4, "snap-create VOLUUID NAME COMMENT|- LABEL|-");

	if (rc == 0)
		rc = ontap_snapshot_create(c->oc, arg(c, 0), arg(c, 1), arg(c, 2), arg(c, 3),
					   c->deadline);
	return rc;
}

static int cmd_snap_list(struct ctx *c)
{
	struct ontap_snapshot *s = NULL;
	int n = 0;
	int rc = need(c, 2, "snap-list VOLUUID PATTERN|-");

	if (rc == 0)
		rc = ontap_snapshot_list(c->oc, arg(c, 0), arg(c, 1), &s, &n, c->deadline);
	if (rc == 0) {
		jw_array_begin(&c->w, NULL);
		for (int i = 0; i < n; i++)
			put_snapshot(&c->w, &s[i]);
		jw_array_end(&c->w);
	}
	free(s);
	return rc;
}

static int cmd_snap_find(struct ctx *c)
{
	struct ontap_snapshot s;
	int rc = need(c, 2, "snap-find VOLUUID NAME");

	if (rc == 0)
		rc = ontap_snapshot_find(c->oc, arg(c, 0), arg(c, 1), &s, c->deadline);
	if (rc == 0)
		put_snapshot(&c->w, &s);
	return rc;
}

static int cmd_snap_delete(struct ctx *c)
{
	int rc = need(c, 2, "snap-delete VOLUUID SNAPUUID");

	if (rc == 0)
		rc = ontap_snapshot_delete(c->oc, arg(c, 0), arg(c, 1), c->deadline);
	return rc;
}

/* file-clone VOLNAME SRC:DST[:overwrite]... / file-delete VOLNAME PATH... */
static int cmd_file_ops(struct ctx *c, bool clone)
{
	struct ontap_file_op *ops = NULL;
	char **copies = NULL;
	struct ontap_volume vol;
	int n = c->argc - 1;
	int rc = need(c, 2, clone ? "file-clone VOLNAME SRC:DST[:overwrite]..." :
				    "file-delete VOLNAME PATH...");

	if (rc < 0)
		return rc;
	ops = util_xcalloc((size_t)n, sizeof(*ops));
	copies = util_xcalloc((size_t)n, sizeof(*copies));
	for (int i = 0; i < n; i++) {
		char *s = util_xstrdup(c->argv[i + 1]);
		char *colon;

		copies[i] = s;
		if (!clone) {
			ops[i].dst = s;
			continue;
		}
		colon = strchr(s, ':');
		if (!colon) {
			rc = err_set(POE_USAGE, "file clone '%s' is not SRC:DST", s);
			goto out;
		}
		*colon = '\0';
		ops[i].src = s;
		ops[i].dst = colon + 1;
		colon = strchr(colon + 1, ':');
		if (colon) {
			*colon = '\0';
			ops[i].overwrite = strcmp(colon + 1, "overwrite") == 0;
		}
	}
	rc = ontap_volume_find(c->oc, c->svm, arg(c, 0), &vol, c->deadline);
	if (rc < 0)
		goto out;
	if (clone)
		rc = ontap_file_clone_many(c->oc, &vol, ops, n, c->deadline);
	else
		rc = ontap_file_delete_many(c->oc, &vol, ops, n, c->deadline);
	jw_array_begin(&c->w, NULL);
	for (int i = 0; i < n; i++) {
		jw_object_begin(&c->w, NULL);
		jw_string(&c->w, "src", ops[i].src);
		jw_string(&c->w, "dst", ops[i].dst);
		jw_int(&c->w, "rc", ops[i].rc);
		jw_string(&c->w, "err", ops[i].err);
		jw_object_end(&c->w);
	}
	jw_array_end(&c->w);
out:
	for (int i = 0; i < n; i++)
		free(copies[i]);
	free(copies);
	free(ops);
	return rc;
}

static int cmd_dir_list(struct ctx *c)
{
	struct ontap_file *f = NULL;
	int n = 0;
	int rc = need(c, 2, "dir-list VOLUUID RELPATH");

	if (rc == 0)
		rc = ontap_dir_list(c->oc, arg(c, 0), c->argv[1], &f, &n, c->deadline);
	if (rc == 0) {
		jw_array_begin(&c->w, NULL);
		for (int i = 0; i < n; i++) {
			jw_object_begin(&c->w, NULL);
			jw_string(&c->w, "name", f[i].name);
			jw_string(&c->w, "type", f[i].type);
			jw_int(&c->w, "size", (int64_t)f[i].size);
			jw_int(&c->w, "creation_time", (int64_t)f[i].creation_time);
			jw_object_end(&c->w);
		}
		jw_array_end(&c->w);
	}
	free(f);
	return rc;
}

static int cmd_dir_create(struct ctx *c)
{
	int rc = need(c, 2, "dir-create VOLUUID RELPATH");

	if (rc == 0)
		rc = ontap_dir_create(c->oc, arg(c, 0), c->argv[1], c->deadline);
	return rc;
}

static int cmd_namespace(struct ctx *c, const char *verb)
{
	struct ontap_namespace ns, *list = NULL;
	uint64_t size;
	int n = 0, rc = 0;

	if (strcmp(verb, "create") == 0) {
		rc = need(c, 4, "namespace-create SVM NAME SIZE COMMENT|-");
		if (rc == 0)
			rc = size_arg(c, 2, &size);
		if (rc == 0)
			rc = ontap_namespace_create(c->oc, arg(c, 0), arg(c, 1), size, arg(c, 3),
						    &ns, c->deadline);
	} else if (strcmp(verb, "find") == 0) {
		rc = need(c, 2, "namespace-find SVM NAME");
		if (rc == 0)
			rc = ontap_namespace_find(c->oc, arg(c, 0), arg(c, 1), &ns, c->deadline);
	} else if (strcmp(verb, "get") == 0) {
		rc = need(c, 1, "namespace-get UUID");
		if (rc == 0)
			rc = ontap_namespace_get(c->oc, arg(c, 0), &ns, c->deadline);
	} else if (strcmp(verb, "list") == 0) {
		rc = need(c, 2, "namespace-list SVM PATTERN|-");
		if (rc == 0)
			rc = ontap_namespace_list(c->oc, arg(c, 0), arg(c, 1), &list, &n,
						  c->deadline);
		if (rc == 0) {
			jw_array_begin(&c->w, NULL);
			for (int i = 0; i < n; i++)
				put_namespace(&c->w, NULL, &list[i]);
			jw_array_end(&c->w);
		}
		free(list);
		return rc;
	} else if (strcmp(verb, "resize") == 0) {
		rc = need(c, 2, "namespace-resize UUID SIZE");
		if (rc == 0)
			rc = size_arg(c, 1, &size);
		if (rc == 0)
			rc = ontap_namespace_resize(c->oc, arg(c, 0), size, c->deadline);
		return rc;
	} else if (strcmp(verb, "delete") == 0) {
		rc = need(c, 1, "namespace-delete UUID");
		if (rc == 0)
			rc = ontap_namespace_delete(c->oc, arg(c, 0), c->deadline);
		return rc;
	} else {
		return err_set(POE_USAGE, "unknown command 'namespace-%s'", verb);
	}
	if (rc == 0)
		put_namespace(&c->w, NULL, &ns);
	return rc;
}

static int cmd_subsystem(struct ctx *c, bool ensure)
{
	struct ontap_subsystem s;
	int rc = need(c, 2, ensure ? "subsystem-ensure SVM NAME" : "subsystem-find SVM NAME");

	if (rc == 0)
		rc = ensure ? ontap_subsystem_ensure(c->oc, arg(c, 0), arg(c, 1), &s, c->deadline) :
			      ontap_subsystem_find(c->oc, arg(c, 0), arg(c, 1), &s, c->deadline);
	if (rc == 0) {
		jw_object_begin(&c->w, NULL);
		jw_string(&c->w, "uuid", s.uuid);
		jw_string(&c->w, "name", s.name);
		jw_string(&c->w, "target_nqn", s.target_nqn);
		jw_object_end(&c->w);
	}
	return rc;
}

static int cmd_lifs(struct ctx *c)
{
	struct ontap_lif *l = NULL;
	int n = 0;
	int rc = need(c, 1, "lifs SVM");

	if (rc == 0)
		rc = ontap_nvme_lifs(c->oc, arg(c, 0), &l, &n, c->deadline);
	if (rc == 0) {
		jw_array_begin(&c->w, NULL);
		for (int i = 0; i < n; i++) {
			jw_object_begin(&c->w, NULL);
			jw_string(&c->w, "name", l[i].name);
			jw_string(&c->w, "ip", l[i].ip);
			jw_object_end(&c->w);
		}
		jw_array_end(&c->w);
	}
	free(l);
	return rc;
}

static int cmd_cg(struct ctx *c, const char *verb)
{
	struct ontap_cg cg = { 0 };
	int rc;

	if (strcmp(verb, "find") == 0 || strcmp(verb, "create") == 0) {
		bool create = verb[0] == 'c';

		rc = need(c, create ? 3 : 2, create ? "cg-create SVM NAME VOLUME..." :
						      "cg-find SVM NAME");
		if (rc < 0)
			return rc;
		if (create)
			rc = ontap_cg_create(c->oc, arg(c, 0), arg(c, 1),
					     (const char *const *)c->argv + 2, c->argc - 2, &cg,
					     c->deadline);
		else
			rc = ontap_cg_find(c->oc, arg(c, 0), arg(c, 1), &cg, c->deadline);
		if (rc == 0)
			put_cg(&c->w, &cg);
		ontap_cg_release(&cg);
		return rc;
	}
	if (strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0) {
		rc = need(c, 2, "cg-add|cg-remove CGUUID VOLUME");
		if (rc < 0)
			return rc;
		if (verb[0] == 'a')
			return ontap_cg_add_volume(c->oc, arg(c, 0), arg(c, 1), c->deadline);
		return ontap_cg_remove_volume(c->oc, arg(c, 0), arg(c, 1), c->deadline);
	}
	if (strcmp(verb, "delete") == 0) {
		rc = need(c, 1, "cg-delete CGUUID");
		return rc < 0 ? rc : ontap_cg_delete(c->oc, arg(c, 0), c->deadline);
	}
	if (strcmp(verb, "restore") == 0) {
		rc = need(c, 2, "cg-restore CGUUID SNAPUUID");
		return rc < 0 ? rc : ontap_cg_restore(c->oc, arg(c, 0), arg(c, 1), c->deadline);
	}
	return err_set(POE_USAGE, "unknown command 'cg-%s'", verb);
}

static int cmd_cgsnap(struct ctx *c, const char *verb)
{
	struct ontap_cg_snapshot *s = NULL;
	int n = 0, rc;

	if (strcmp(verb, "create") == 0) {
		rc = need(c, 4, "cgsnap-create CGUUID NAME COMMENT|- LABEL|-");
		return rc < 0 ? rc :
				ontap_cg_snapshot_create(c->oc, arg(c, 0), arg(c, 1), arg(c, 2),
							 arg(c, 3), c->deadline);
	}
	if (strcmp(verb, "delete") == 0) {
		rc = need(c, 2, "cgsnap-delete CGUUID SNAPUUID");
		return rc < 0 ? rc :
				ontap_cg_snapshot_delete(c->oc, arg(c, 0), arg(c, 1), c->deadline);
	}
	if (strcmp(verb, "list") != 0)
		return err_set(POE_USAGE, "unknown command 'cgsnap-%s'", verb);
	rc = need(c, 2, "cgsnap-list CGUUID PATTERN|-");
	if (rc == 0)
		rc = ontap_cg_snapshot_list(c->oc, arg(c, 0), arg(c, 1), &s, &n, c->deadline);
	if (rc == 0) {
		jw_array_begin(&c->w, NULL);
		for (int i = 0; i < n; i++) {
			jw_object_begin(&c->w, NULL);
			jw_string(&c->w, "uuid", s[i].uuid);
			jw_string(&c->w, "name", s[i].name);
			jw_string(&c->w, "comment", s[i].comment);
			jw_int(&c->w, "create_time", (int64_t)s[i].create_time);
			jw_bool(&c->w, "is_partial", s[i].is_partial);
			put_names(&c->w, "volumes", s[i].volumes, s[i].nvolumes);
			jw_object_end(&c->w);
		}
		jw_array_end(&c->w);
	}
	ontap_cg_snapshot_list_free(s, n);
	return rc;
}

static int dispatch(struct ctx *c, const char *cmd)
{
	static const struct {
		const char *prefix;
		int kind;
	} groups[] = { { "namespace-", 1 }, { "cgsnap-", 2 }, { "cg-", 3 } };

	if (strcmp(cmd, "version") == 0)
		return cmd_version(c);
	if (strcmp(cmd, "volume-find") == 0)
		return cmd_volume_find(c, false);
	if (strcmp(cmd, "volume-find-path") == 0)
		return cmd_volume_find(c, true);
	if (strcmp(cmd, "volume-get") == 0)
		return cmd_volume_get(c);
	if (strcmp(cmd, "volume-list") == 0)
		return cmd_volume_list(c);
	if (strcmp(cmd, "volume-create") == 0)
		return cmd_volume_create(c);
	if (strcmp(cmd, "volume-resize") == 0)
		return cmd_volume_resize(c);
	if (strcmp(cmd, "volume-nas-path") == 0)
		return cmd_volume_nas_path(c);
	if (strcmp(cmd, "volume-delete") == 0)
		return cmd_volume_delete(c);
	if (strcmp(cmd, "flexclone") == 0)
		return cmd_flexclone(c);
	if (strcmp(cmd, "volume-restore") == 0)
		return cmd_volume_restore(c);
	if (strcmp(cmd, "snap-create") == 0)
		return cmd_snap_create(c);
	if (strcmp(cmd, "snap-list") == 0)
		return cmd_snap_list(c);
	if (strcmp(cmd, "snap-find") == 0)
		return cmd_snap_find(c);
	if (strcmp(cmd, "snap-delete") == 0)
		return cmd_snap_delete(c);
	if (strcmp(cmd, "file-clone") == 0)
		return cmd_file_ops(c, true);
	if (strcmp(cmd, "file-delete") == 0)
		return cmd_file_ops(c, false);
	if (strcmp(cmd, "dir-list") == 0)
		return cmd_dir_list(c);
	if (strcmp(cmd, "dir-create") == 0)
		return cmd_dir_create(c);
	if (strcmp(cmd, "subsystem-find") == 0)
		return cmd_subsystem(c, false);
	if (strcmp(cmd, "subsystem-ensure") == 0)
		return cmd_subsystem(c, true);
	if (strcmp(cmd, "host-add") == 0)
		return need(c, 2, "host-add SUBUUID NQN") < 0 ?
			       POE_USAGE :
			       ontap_subsystem_host_add(c->oc, arg(c, 0), arg(c, 1), c->deadline);
	if (strcmp(cmd, "map-create") == 0)
		return need(c, 3, "map-create SVM SUBUUID NSUUID") < 0 ?
			       POE_USAGE :
			       ontap_map_create(c->oc, arg(c, 0), arg(c, 1), arg(c, 2), c->deadline);
	if (strcmp(cmd, "map-delete") == 0)
		return need(c, 2, "map-delete SUBUUID NSUUID") < 0 ?
			       POE_USAGE :
			       ontap_map_delete(c->oc, arg(c, 0), arg(c, 1), c->deadline);
	if (strcmp(cmd, "lifs") == 0)
		return cmd_lifs(c);
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		size_t len = strlen(groups[i].prefix);

		if (strncmp(cmd, groups[i].prefix, len) != 0)
			continue;
		if (groups[i].kind == 1)
			return cmd_namespace(c, cmd + len);
		if (groups[i].kind == 2)
			return cmd_cgsnap(c, cmd + len);
		return cmd_cg(c, cmd + len);
	}
	return err_set(POE_USAGE, "unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
	struct ctx c = { 0 };
	struct config *cfg = NULL;
	struct buf dry = BUF_INIT(1 << 20);
	const struct config_ontap *co = NULL;
	bool dry_run = false;
	int64_t deadline_ms = 0;
	int i = 1, rc;

	log_init("ontap_driver");
	if (getenv("ONTAP_DRIVER_DEBUG"))
		log_set_level(LOG_LVL_DEBUG);
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--dry-run") == 0) {
			dry_run = true;
		} else if (strcmp(argv[i], "--deadline-ms") == 0 && i + 1 < argc) {
			if (util_parse_int(argv[++i], 1, INT64_MAX / 4, &deadline_ms) < 0) {
				rc = err_set(POE_USAGE, "invalid --deadline-ms '%s'", argv[i]);
				goto out;
			}
		} else if (strcmp(argv[i], "--svm") == 0 && i + 1 < argc) {
			c.svm = argv[++i];
		} else {
			rc = err_set(POE_USAGE, "unknown option '%s'", argv[i]);
			goto out;
		}
	}
	if (argc - i < 3) {
		rc = err_set(POE_USAGE,
			     "usage: ontap_driver [--deadline-ms N] [--dry-run] [--svm SVM] CONFIG CLUSTER CMD ARGS...");
		goto out;
	}
	rc = config_load(argv[i], &cfg);
	if (rc < 0)
		goto out;
	for (int k = 0; k < cfg->nontap; k++)
		if (strcmp(cfg->ontap[k].name, argv[i + 1]) == 0)
			co = &cfg->ontap[k];
	if (!co) {
		rc = err_set(POE_CONFIG, "no ONTAP cluster '%s' in '%s'", argv[i + 1], argv[i]);
		goto out;
	}
	c.oc = ontap_client_new(co);
	if (!c.oc) {
		rc = err_code() < 0 ? err_code() : POE_FAIL;
		goto out;
	}
	if (dry_run)
		ontap_client_set_dry_run(c.oc, &dry);
	if (deadline_ms)
		c.deadline = util_now_ms() + deadline_ms;
	c.argc = argc - i - 3;
	c.argv = argv + i + 3;
	buf_init(&c.out, 64 << 20);
	jw_init(&c.w, &c.out, 0);
	rc = dispatch(&c, argv[i + 2]);
	if (c.out.len && jw_finish(&c.w) == 0)
		printf("%s\n", buf_cstr(&c.out));
	if (dry_run) {
		struct buf q = BUF_INIT(4 << 20);

		json_quote(&q, buf_cstr(&dry));
		printf("{\"dry_run\": %s}\n", buf_cstr(&q));
		buf_release(&q);
	}
	printf("{\"requests\": %lu}\n", ontap_client_requests(c.oc));
out:
	if (rc < 0)
		fprintf(stderr, "ontap_driver: error: %s\n", err_msg());
	ontap_client_free(c.oc);
	buf_release(&c.out);
	buf_release(&dry);
	config_free(cfg);
	return err_exit_status(rc);
}
