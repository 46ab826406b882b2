// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ONTAP REST client, NVMe and consistency-group part: namespaces, subsystems, hosts, maps,
 * NVMe/TCP LIFs, consistency groups, their snapshots and CG restore
 * (shared/reference/ontap-rest.md §2.8-§2.10). Transport lives in ontap.c.
 */
#include "ontap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "ontap_internal.h"
#include "util.h"

/* ---- generic helpers ---- */

/* POST/PATCH/DELETE with a JSON body built by the caller. */
static int send_json(struct ontap_client *oc, const char *method, struct oc_url *u,
		     struct json_writer *w, struct buf *b, const char *what, unsigned int flags,
		     oc_recheck_fn recheck, const void *arg, const char *const *dup,
		     const char *const *ok, struct json_doc *resp, int64_t deadline)
{
	struct oc_call c = {
		.method = method,
		.url = oc_url_str(u),
		.body = w ? oc_body(w, b) : NULL,
		.what = what,
		.flags = flags,
		.recheck = recheck,
		.recheck_arg = arg,
		.dup_codes = dup,
		.ok_codes = ok,
		.deadline = deadline,
	};

	if (!c.url || (w && !c.body))
		return POE_FAIL;
	return oc_request(oc, &c, resp);
}

static void jw_ref(struct json_writer *w, const char *key, const char *field, const char *val)
{
	jw_object_begin(w, key);
	jw_string(w, field, val);
	jw_object_end(w);
}

/* ---- namespaces ---- */

#define NS_FIELDS                                                                        \
	"uuid,name,location.volume.name,status.state,space.size,space.used,status.mapped," \
	"subsystem_map.subsystem.name"

static void namespace_parse(const struct json_doc *d, int tok, struct ontap_namespace *ns)
{
	memset(ns, 0, sizeof(*ns));
	oc_jstr(d, tok, "uuid", ns->uuid, sizeof(ns->uuid));
	oc_jstr(d, tok, "name", ns->name, sizeof(ns->name));
	oc_jstr(d, tok, "location.volume.name", ns->volume, sizeof(ns->volume));
	oc_jstr(d, tok, "status.state", ns->state, sizeof(ns->state));
	ns->size = oc_ju64(d, tok, "space.size");
	ns->used = oc_ju64(d, tok, "space.used");
	ns->mapped = oc_jbool(d, tok, "status.mapped");
	oc_jstr(d, tok, "subsystem_map.subsystem.name", ns->subsystem, sizeof(ns->subsystem));
	if (ns->subsystem[0])
		ns->mapped = true;
}

int ontap_namespace_find(struct ontap_client *oc, const char *svm, const char *name,
			 struct ontap_namespace *out, int64_t deadline)
{
	struct oc_records r = { 0 };
	struct oc_record rec = { NULL, -1 };
	struct oc_url u;
	const char *url;
	char what[400];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "find namespace '%s'", name);
	oc_url_init(&u);
	oc_url_put(&u, "/api/storage/namespaces");
	oc_url_q(&u, "name", name);
	oc_url_q(&u, "svm.name", svm);
	oc_url_qraw(&u, "fields", NS_FIELDS);
	url = oc_url_str(&u);
	rc = url ? oc_get_one(oc, url, what, &r, &rec, deadline) : POE_FAIL;
	if (rc == 0 && out)
		namespace_parse(rec.d, rec.tok, out);
	oc_records_free(&r);
	oc_url_release(&u);
	return rc;
}

int ontap_namespace_get(struct ontap_client *oc, const char *uuid, struct ontap_namespace *out,
			int64_t deadline)
{
	struct json_doc d = { 0 };
	struct oc_url u;
	const char *url;
	char what[128];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "read namespace '%s'", uuid);
	oc_url_init(&u);
	oc_url_put(&u, "/api/storage/namespaces/");
	oc_url_seg(&u, uuid);
	oc_url_qraw(&u, "fields", NS_FIELDS);
	url = oc_url_str(&u);
	rc = url ? oc_get(oc, url, what, &d, deadline) : POE_FAIL;
	if (rc == 0)
		namespace_parse(&d, 0, out);
	json_free(&d);
	oc_url_release(&u);
	return rc;
}

int ontap_namespace_list(struct ontap_client *oc, const char *svm, const char *pattern,
			 struct ontap_namespace **out, int *n, int64_t deadline)
{
	struct oc_records r = { 0 };
	struct oc_url u;
	const char *url;
	int rc;

	*out = NULL;
	*n = 0;
	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	oc_url_init(&u);
	oc_url_put(&u, "/api/storage/namespaces");
	oc_url_q(&u, "name", pattern);
	oc_url_q(&u, "svm.name", svm);
	oc_url_qraw(&u, "fields", NS_FIELDS);
	url = oc_url_str(&u);
	rc = url ? oc_get_all(oc, url, "list namespaces", &r, deadline) : POE_FAIL;
	if (rc > 0) {
		*out = util_xcalloc((size_t)r.n, sizeof(**out));
		for (int i = 0; i < r.n; i++)
			namespace_parse(r.rec[i].d, r.rec[i].tok, &(*out)[i]);
		*n = r.n;
	}
	oc_records_free(&r);
	oc_url_release(&u);
	return rc < 0 ? rc : 0;
}

struct named_key {
	const char *svm;
	const char *name;
};

static int namespace_exists(struct ontap_client *oc, const void *arg, int64_t deadline)
{
	const struct named_key *k = arg;

	return ontap_namespace_find(oc, k->svm, k->name, NULL, deadline);
}

int ontap_namespace_create(struct ontap_client *oc, const char *svm, const char *name,
			   uint64_t size, const char *comment, struct ontap_namespace *out,
			   int64_t deadline)
{
	static const char *const dup[] = { "1", "72089725", NULL };
	struct buf b = BUF_INIT(OC_MAX_BODY);
	struct named_key key = { svm, name };
	struct json_doc d = { 0 };
	struct json_writer w;
	struct oc_url u;
	char what[400];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "create namespace '%s'", name);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	if (svm)
		jw_ref(&w, "svm", "name", svm);
	jw_string(&w, "name", name);
	jw_string(&w, "os_type", "linux");
	jw_object_begin(&w, "space");
	jw_int(&w, "size", (int64_t)size);
	jw_int(&w, "block_size", 4096);
	jw_object_end(&w);
	if (comment)
		jw_string(&w, "comment", comment);
	jw_object_end(&w);

	oc_url_init(&u);
	oc_url_put(&u, "/api/storage/namespaces");
	oc_url_return_timeout(&u, deadline);
	rc = send_json(oc, "POST", &u, &w, &b, what, 0, namespace_exists, &key, dup, NULL, &d,
		       deadline);
	if (rc < 0 || !out)
		goto out;
	if (oc_dry(oc)) {
		memset(out, 0, sizeof(*out));
		util_strlcpy(out->name, name, sizeof(out->name));
		out->size = size;
		goto out;
	}
	/* The answer may carry the new record or only a job: read it back by name. */
	rc = ontap_namespace_find(oc, svm, name, out, deadline);
out:
	json_free(&d);
	oc_url_release(&u);
	buf_release(&b);
	return rc;
}

int ontap_namespace_resize(struct ontap_client *oc, const char *uuid, uint64_t size,
			   int64_t deadline)
{
	struct buf b = BUF_INIT(OC_MAX_BODY);
	struct json_writer w;
	struct oc_url u;
	char what[128];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "resize namespace '%s'", uuid);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	jw_object_begin(&w, "space");
	jw_int(&w, "size", (int64_t)size);
	jw_object_end(&w);
	jw_object_end(&w);
	oc_url_init(&u);
	oc_url_put(&u, "/api/storage/namespaces/");
	oc_url_seg(&u, uuid);
	oc_url_return_timeout(&u, deadline);
	rc = send_json(oc, "PATCH", &u, &w, &b, what, OC_IDEMPOTENT, NULL, NULL, NULL, NULL,
		       NULL, deadline);
	oc_url_release(&u);
	buf_release(&b);
	return rc;
}

int ontap_namespace_delete(struct ontap_client *oc, const char *uuid, int64_t deadline)
{
	struct oc_url u;
	char what[128];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "delete namespace '%s'", uuid);
	oc_url_init(&u);
	oc_url_put(&u, "/api/storage/namespaces/");
	oc_url_seg(&u, uuid);
	oc_url_return_timeout(&u, deadline);
	rc = send_json(oc, "DELETE", &u, NULL, NULL, what, OC_IDEMPOTENT, NULL, NULL, NULL, NULL,
		       NULL, deadline);
	oc_url_release(&u);
	return rc;
}

/* ---- subsystems, hosts, maps ---- */

static void subsystem_parse(const struct json_doc *d, int tok, struct ontap_subsystem *s)
{
	memset(s, 0, sizeof(*s));
	oc_jstr(d, tok, "uuid", s->uuid, sizeof(s->uuid));
	oc_jstr(d, tok, "name", s->name, sizeof(s->name));
	oc_jstr(d, tok, "target_nqn", s->target_nqn, sizeof(s->target_nqn));
}

int ontap_subsystem_find(struct ontap_client *oc, const char *svm, const char *name,
			 struct ontap_subsystem *out, int64_t deadline)
{
	struct oc_records r = { 0 };
	struct oc_record rec = { NULL, -1 };
	struct oc_url u;
	const char *url;
	char what[300];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "find NVMe subsystem '%s'", name);
	oc_url_init(&u);
	oc_url_put(&u, "/api/protocols/nvme/subsystems");
	oc_url_q(&u, "name", name);
	oc_url_q(&u, "svm.name", svm);
	oc_url_qraw(&u, "fields", "uuid,name,target_nqn");
	url = oc_url_str(&u);
	rc = url ? oc_get_one(oc, url, what, &r, &rec, deadline) : POE_FAIL;
	if (rc == 0 && out)
		subsystem_parse(rec.d, rec.tok, out);
	oc_records_free(&r);
	oc_url_release(&u);
	return rc;
}

int ontap_subsystem_ensure(struct ontap_client *oc, const char *svm, const char *name,
			   struct ontap_subsystem *out, int64_t deadline)
{
	/* 72090025: created by someone else meanwhile (§2.9): read it and go on. */
	static const char *const exists[] = { "1", "72090025", NULL };
	struct buf b = BUF_INIT(OC_MAX_BODY);
	struct json_writer w;
	struct oc_url u;
	char what[300];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	rc = ontap_subsystem_find(oc, svm, name, out, deadline);
	if (rc != POE_NOTFOUND)
		return rc;
	snprintf(what, sizeof(what), "create NVMe subsystem '%s'", name);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	if (svm)
		jw_ref(&w, "svm", "name", svm);
	jw_string(&w, "name", name);
	jw_string(&w, "os_type", "linux");
	jw_string(&w, "comment", "pve-ontap");
	jw_object_end(&w);
	oc_url_init(&u);
	oc_url_put(&u, "/api/protocols/nvme/subsystems");
	/* Re-sending after a lost reply is safe: a duplicate answers 72090025. */
	rc = send_json(oc, "POST", &u, &w, &b, what, OC_IDEMPOTENT, NULL, NULL, NULL, exists, NULL,
		       deadline);
	if (rc == 0 && out) {
		if (oc_dry(oc)) {
			memset(out, 0, sizeof(*out));
			util_strlcpy(out->name, name, sizeof(out->name));
		} else {
			rc = ontap_subsystem_find(oc, svm, name, out, deadline);
		}
	}
	oc_url_release(&u);
	buf_release(&b);
	return rc;
}

int ontap_subsystem_host_add(struct ontap_client *oc, const char *subsys_uuid, const char *nqn,
			     int64_t deadline)
{
	static const char *const exists[] = { "1", "72089705", NULL };
	struct buf b = BUF_INIT(OC_MAX_BODY);
	struct json_writer w;
	struct oc_url u;
	char what[400];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "add host '%s' to NVMe subsystem '%s'", nqn, subsys_uuid);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	jw_string(&w, "nqn", nqn);
	jw_object_end(&w);
	oc_url_init(&u);
	oc_url_put(&u, "/api/protocols/nvme/subsystems/");
	oc_url_seg(&u, subsys_uuid);
	oc_url_put(&u, "/hosts");
	rc = send_json(oc, "POST", &u, &w, &b, what, OC_IDEMPOTENT, NULL, NULL, NULL, exists, NULL,
		       deadline);
	oc_url_release(&u);
	buf_release(&b);
	return rc;
}

int ontap_map_create(struct ontap_client *oc, const char *svm, const char *subsys_uuid,
		     const char *ns_uuid, int64_t deadline)
{
	static const char *const mapped[] = { "1", "72089790", NULL };
	struct buf b = BUF_INIT(OC_MAX_BODY);
	struct json_writer w;
	struct oc_url u;
	char what[200];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "map namespace '%s' to NVMe subsystem '%s'", ns_uuid, subsys_uuid);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	if (svm)
		jw_ref(&w, "svm", "name", svm);
	jw_ref(&w, "subsystem", "uuid", subsys_uuid);
	jw_ref(&w, "namespace", "uuid", ns_uuid);
	jw_object_end(&w);
	oc_url_init(&u);
	oc_url_put(&u, "/api/protocols/nvme/subsystem-maps");
	rc = send_json(oc, "POST", &u, &w, &b, what, OC_IDEMPOTENT, NULL, NULL, NULL, mapped, NULL,
		       deadline);
	oc_url_release(&u);
	buf_release(&b);
	return rc;
}

int ontap_map_delete(struct ontap_client *oc, const char *subsys_uuid, const char *ns_uuid,
		     int64_t deadline)
{
	static const char *const unmapped[] = { "72090019", NULL };
	struct oc_url u;
	char what[200];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "unmap namespace '%s' from NVMe subsystem '%s'", ns_uuid,
		 subsys_uuid);
	oc_url_init(&u);
	oc_url_put(&u, "/api/protocols/nvme/subsystem-maps/");
	oc_url_seg(&u, subsys_uuid);
	oc_url_put(&u, "/");
	oc_url_seg(&u, ns_uuid);
	rc = send_json(oc, "DELETE", &u, NULL, NULL, what, OC_IDEMPOTENT, NULL, NULL, NULL,
		       unmapped, NULL, deadline);
	/* A map that does not exist is what was asked for. */
	if (rc == POE_NOTFOUND) {
		err_clear();
		rc = 0;
	}
	oc_url_release(&u);
	return rc;
}

int ontap_nvme_lifs(struct ontap_client *oc, const char *svm, struct ontap_lif **out, int *n,
		    int64_t deadline)
{
	struct oc_records r = { 0 };
	struct oc_url u;
	const char *url;
	int rc, m = 0;

	*out = NULL;
	*n = 0;
	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	oc_url_init(&u);
	oc_url_put(&u, "/api/network/ip/interfaces");
	oc_url_q(&u, "svm.name", svm);
	oc_url_qraw(&u, "services", "data_nvme_tcp");
	oc_url_qraw(&u, "fields", "uuid,name,ip.address,state,enabled");
	url = oc_url_str(&u);
	rc = url ? oc_get_all(oc, url, "list NVMe/TCP interfaces", &r, deadline) : POE_FAIL;
	if (rc > 0) {
		*out = util_xcalloc((size_t)r.n, sizeof(**out));
		for (int i = 0; i < r.n; i++) {
			const struct json_doc *d = r.rec[i].d;
			int tok = r.rec[i].tok;
			char state[16];
			struct ontap_lif *l = &(*out)[m];

			/* Only LIFs that are up and enabled can serve (§2.9). */
			oc_jstr(d, tok, "state", state, sizeof(state));
			if (strcmp(state, "up") != 0 || !oc_jbool(d, tok, "enabled"))
				continue;
			oc_jstr(d, tok, "name", l->name, sizeof(l->name));
			oc_jstr(d, tok, "ip.address", l->ip, sizeof(l->ip));
			if (l->ip[0])
				m++;
		}
		*n = m;
		if (!m) {
			free(*out);
			*out = NULL;
		}
	}
	oc_records_free(&r);
	oc_url_release(&u);
	return rc < 0 ? rc : 0;
}

/* ---- consistency groups ---- */

static char **names_of(const struct json_doc *d, int arr, const char *path, int *n)
{
	char **v = NULL;
	int m = 0;

	*n = 0;
	if (json_type(d, arr) != JSON_ARRAY || json_count(d, arr) == 0)
		return NULL;
	v = util_xcalloc((size_t)json_count(d, arr), sizeof(*v));
	json_for_each(d, arr, it) {
		char *s = json_get_strdup(d, it, path);

		if (s)
			v[m++] = s;
	}
	*n = m;
	return v;
}

static void free_names(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void ontap_cg_release(struct ontap_cg *cg)
{
	if (!cg)
		return;
	free_names(cg->volumes, cg->nvolumes);
	cg->volumes = NULL;
	cg->nvolumes = 0;
}

static void cg_parse(const struct json_doc *d, int tok, struct ontap_cg *cg)
{
	memset(cg, 0, sizeof(*cg));
	oc_jstr(d, tok, "uuid", cg->uuid, sizeof(cg->uuid));
	oc_jstr(d, tok, "name", cg->name, sizeof(cg->name));
	cg->volumes = names_of(d, json_get(d, tok, "volumes"), "name", &cg->nvolumes);
}

int ontap_cg_find(struct ontap_client *oc, const char *svm, const char *name,
		  struct ontap_cg *out, int64_t deadline)
{
	struct oc_records r = { 0 };
	struct oc_record rec = { NULL, -1 };
	struct oc_url u;
	const char *url;
	char what[200];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "find consistency group '%s'", name);
	oc_url_init(&u);
	oc_url_put(&u, "/api/application/consistency-groups");
	oc_url_q(&u, "name", name);
	oc_url_q(&u, "svm.name", svm);
	/* volumes is expensive: named explicitly (§1.4). */
	oc_url_qraw(&u, "fields", "uuid,name,volumes.name,volumes.uuid");
	url = oc_url_str(&u);
	rc = url ? oc_get_one(oc, url, what, &r, &rec, deadline) : POE_FAIL;
	if (rc == 0 && out)
		cg_parse(rec.d, rec.tok, out);
	oc_records_free(&r);
	oc_url_release(&u);
	return rc;
}

static int cg_exists(struct ontap_client *oc, const void *arg, int64_t deadline)
{
	const struct named_key *k = arg;

	return ontap_cg_find(oc, k->svm, k->name, NULL, deadline);
}

int ontap_cg_create(struct ontap_client *oc, const char *svm, const char *name,
		    const char *const *volumes, int nvolumes, struct ontap_cg *out,
		    int64_t deadline)
{
	static const char *const dup[] = { "1", "53411852", "53411860", NULL };
	struct buf b = BUF_INIT(OC_MAX_BODY);
	struct named_key key = { svm, name };
	struct json_writer w;
	struct oc_url u;
	char what[200];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	snprintf(what, sizeof(what), "create consistency group '%s'", name);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	if (svm)
		jw_ref(&w, "svm", "name", svm);
	jw_string(&w, "name", name);
	jw_array_begin(&w, "volumes");
	for (int i = 0; i < nvolumes; i++) {
		jw_object_begin(&w, NULL);
		jw_string(&w, "name", volumes[i]);
		jw_ref(&w, "provisioning_options", "action", "add");
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_ref(&w, "snapshot_policy", "name", "none");
	jw_object_end(&w);
	oc_url_init(&u);
	oc_url_put(&u, "/api/application/consistency-groups");
	oc_url_return_timeout(&u, deadline);
	rc = send_json(oc, "POST", &u, &w, &b, what, 0, cg_exists, &key, dup, NULL, NULL, deadline);
	if (rc == 0 && out) {
		if (oc_dry(oc)) {
			memset(out, 0, sizeof(*out));
			util_strlcpy(out->name, name, sizeof(out->name));
			out->volumes = util_xcalloc((size_t)nvolumes + 1, sizeof(char *));
			for (int i = 0; i < nvolumes; i++)
				out->volumes[i] = util_xstrdup(volumes[i]);
			out->nvolumes = nvolumes;
		} else {
			rc = ontap_cg_find(oc, svm, name, out, deadline);
		}
	}
	oc_url_release(&u);
	buf_release(&b);
	return rc;
}

static int cg_patch_volume(struct ontap_client *oc, const char *cg_uuid, const char *volume,
			   const char *action, int64_t deadline)
{
	struct buf b = BUF_INIT(OC_MAX_BODY);
	struct json_writer w;
	struct oc_url u;
	char what[400];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	snprintf(what, sizeof(what), "%s volume '%s' %s consistency group '%s'", action, volume,
		 strcmp(action, "add") ? "from" : "to", cg_uuid);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	jw_array_begin(&w, "volumes");
	jw_object_begin(&w, NULL);
	jw_string(&w, "name", volume);
	jw_ref(&w, "provisioning_options", "action", action);
	jw_object_end(&w);
	jw_array_end(&w);
	jw_object_end(&w);
	oc_url_init(&u);
	oc_url_put(&u, "/api/application/consistency-groups/");
	oc_url_seg(&u, cg_uuid);
	oc_url_return_timeout(&u, deadline);
	rc = send_json(oc, "PATCH", &u, &w, &b, what, OC_IDEMPOTENT, NULL, NULL, NULL, NULL, NULL,
		       deadline);
	oc_url_release(&u);
	buf_release(&b);
	return rc;
}

int ontap_cg_add_volume(struct ontap_client *oc, const char *cg_uuid, const char *volume,
			int64_t deadline)
{
	return cg_patch_volume(oc, cg_uuid, volume, "add", deadline);
}

int ontap_cg_remove_volume(struct ontap_client *oc, const char *cg_uuid, const char *volume,
			   int64_t deadline)
{
	return cg_patch_volume(oc, cg_uuid, volume, "remove", deadline);
}

static void cg_url(struct oc_url *u, const char *cg_uuid)
{
	oc_url_put(u, "/api/application/consistency-groups/");
	oc_url_seg(u, cg_uuid);
}

int ontap_cg_delete(struct ontap_client *oc, const char *cg_uuid, int64_t deadline)
{
	struct oc_url u;
	char what[128];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	snprintf(what, sizeof(what), "delete consistency group '%s'", cg_uuid);
	oc_url_init(&u);
	cg_url(&u, cg_uuid);
	oc_url_return_timeout(&u, deadline);
	rc = send_json(oc, "DELETE", &u, NULL, NULL, what, OC_IDEMPOTENT, NULL, NULL, NULL, NULL,
		       NULL, deadline);
	oc_url_release(&u);
	return rc;
}

/* ---- CG snapshots ---- */

#define CGSNAP_FIELDS "uuid,name,comment,create_time,is_partial,snapshot_volumes"

void ontap_cg_snapshot_release(struct ontap_cg_snapshot *s)
{
	if (!s)
		return;
	free_names(s->volumes, s->nvolumes);
	s->volumes = NULL;
	s->nvolumes = 0;
}

void ontap_cg_snapshot_list_free(struct ontap_cg_snapshot *s, int n)
{
	if (!s)
		return;
	for (int i = 0; i < n; i++)
		ontap_cg_snapshot_release(&s[i]);
	free(s);
}

static void cgsnap_parse(const struct json_doc *d, int tok, struct ontap_cg_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	oc_jstr(d, tok, "uuid", s->uuid, sizeof(s->uuid));
	oc_jstr(d, tok, "name", s->name, sizeof(s->name));
	oc_jstr(d, tok, "comment", s->comment, sizeof(s->comment));
	s->create_time = oc_jtime(d, tok, "create_time");
	s->is_partial = oc_jbool(d, tok, "is_partial");
	s->volumes = names_of(d, json_get(d, tok, "snapshot_volumes"), "volume.name",
			      &s->nvolumes);
}

static int cgsnap_cmp(const void *a, const void *b)
{
	const struct ontap_cg_snapshot *x = a, *y = b;

	if (x->create_time != y->create_time)
		return x->create_time < y->create_time ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void cgsnap_url(struct oc_url *u, const char *cg_uuid)
{
	cg_url(u, cg_uuid);
	oc_url_put(u, "/snapshots");
}

int ontap_cg_snapshot_list(struct ontap_client *oc, const char *cg_uuid, const char *name_pattern,
			   struct ontap_cg_snapshot **out, int *n, int64_t deadline)
{
	struct oc_records r = { 0 };
	struct oc_url u;
	const char *url;
	char what[128];
	int rc;

	*out = NULL;
	*n = 0;
	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "list snapshots of consistency group '%s'", cg_uuid);
	oc_url_init(&u);
	cgsnap_url(&u, cg_uuid);
	oc_url_q(&u, "name", name_pattern);
	oc_url_qraw(&u, "fields", CGSNAP_FIELDS);
	url = oc_url_str(&u);
	rc = url ? oc_get_all(oc, url, what, &r, deadline) : POE_FAIL;
	if (rc > 0) {
		*out = util_xcalloc((size_t)r.n, sizeof(**out));
		for (int i = 0; i < r.n; i++)
			cgsnap_parse(r.rec[i].d, r.rec[i].tok, &(*out)[i]);
		qsort(*out, (size_t)r.n, sizeof(**out), cgsnap_cmp);
		*n = r.n;
	}
	oc_records_free(&r);
	oc_url_release(&u);
	return rc < 0 ? rc : 0;
}

struct cgsnap_key {
	const char *cg_uuid;
	const char *name;
	const char *snap_uuid;
};

static int cgsnap_exists(struct ontap_client *oc, const void *arg, int64_t deadline)
{
	const struct cgsnap_key *k = arg;
	struct ontap_cg_snapshot *s = NULL;
	int n = 0;
	int rc = ontap_cg_snapshot_list(oc, k->cg_uuid, k->name, &s, &n, deadline);

	ontap_cg_snapshot_list_free(s, n);
	if (rc < 0)
		return rc;
	return n > 0 ? 0 : POE_NOTFOUND;
}

static int cgsnap_gone(struct ontap_client *oc, const void *arg, int64_t deadline)
{
	const struct cgsnap_key *k = arg;
	struct json_doc d = { 0 };
	struct oc_url u;
	const char *url;
	int rc;

	oc_url_init(&u);
	cgsnap_url(&u, k->cg_uuid);
	oc_url_put(&u, "/");
	oc_url_seg(&u, k->snap_uuid);
	oc_url_qraw(&u, "fields", "uuid,name");
	url = oc_url_str(&u);
	rc = url ? oc_get(oc, url, "read consistency group snapshot", &d, deadline) : POE_FAIL;
	json_free(&d);
	oc_url_release(&u);
	if (rc == POE_NOTFOUND)
		return 0;
	return rc == 0 ? POE_NOTFOUND : rc;
}

int ontap_cg_snapshot_create(struct ontap_client *oc, const char *cg_uuid, const char *name,
			     const char *comment, const char *label, int64_t deadline)
{
	/* 53411921 is also what a duplicate name gives (Trident treats it so, §2.10). */
	static const char *const dup[] = { "1", "53411921", NULL };
	struct buf b = BUF_INIT(OC_MAX_BODY);
	struct cgsnap_key key = { cg_uuid, name, NULL };
	struct json_writer w;
	struct oc_url u;
	char what[400];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "create snapshot '%s' of consistency group '%s'", name, cg_uuid);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	jw_string(&w, "name", name);
	if (comment)
		jw_string(&w, "comment", comment);
	jw_string(&w, "consistency_type", "crash");
	if (label)
		jw_string(&w, "snapmirror_label", label);
	jw_object_end(&w);
	oc_url_init(&u);
	cgsnap_url(&u, cg_uuid);
	oc_url_return_timeout(&u, deadline);
	rc = send_json(oc, "POST", &u, &w, &b, what, 0, cgsnap_exists, &key, dup, NULL, NULL,
		       deadline);
	/* Idempotent on the name: a duplicate is fine when the snapshot is there. */
	if (rc < 0 && oc_last_code_in(oc, dup) && !oc_dry(oc)) {
		char keep[512];
		int chk;

		util_strlcpy(keep, err_msg(), sizeof(keep));
		chk = cgsnap_exists(oc, &key, deadline);
		if (chk == 0) {
			err_clear();
			rc = 0;
		} else {
			err_set(rc, "%s", keep);
		}
	}
	oc_url_release(&u);
	buf_release(&b);
	return rc;
}

int ontap_cg_snapshot_delete(struct ontap_client *oc, const char *cg_uuid, const char *snap_uuid,
			     int64_t deadline)
{
	struct cgsnap_key key = { cg_uuid, NULL, snap_uuid };
	struct oc_url u;
	char what[200];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "delete snapshot '%s' of consistency group '%s'", snap_uuid,
		 cg_uuid);
	oc_url_init(&u);
	cgsnap_url(&u, cg_uuid);
	oc_url_put(&u, "/");
	oc_url_seg(&u, snap_uuid);
	oc_url_return_timeout(&u, deadline);
	rc = send_json(oc, "DELETE", &u, NULL, NULL, what, OC_IDEMPOTENT, cgsnap_gone, &key, NULL,
		       NULL, NULL, deadline);
	oc_url_release(&u);
	return rc;
}

int ontap_cg_restore(struct ontap_client *oc, const char *cg_uuid, const char *snap_uuid,
		     int64_t deadline)
{
	struct buf b = BUF_INIT(OC_MAX_BODY);
	struct json_writer w;
	struct oc_url u;
	char what[200];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	snprintf(what, sizeof(what), "restore consistency group '%s' to snapshot '%s'", cg_uuid,
		 snap_uuid);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	jw_object_begin(&w, "restore_to");
	jw_ref(&w, "snapshot", "uuid", snap_uuid);
	jw_object_end(&w);
	jw_object_end(&w);
	oc_url_init(&u);
	cg_url(&u, cg_uuid);
	oc_url_return_timeout(&u, deadline);
	/* "Retry until it succeeds" (§2.10): restoring to the same snapshot again is harmless. */
	rc = send_json(oc, "PATCH", &u, &w, &b, what, OC_IDEMPOTENT, NULL, NULL, NULL, NULL, NULL,
		       deadline);
	oc_url_release(&u);
	buf_release(&b);
	return rc;
}
