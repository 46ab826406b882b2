// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ONTAP REST client, NVMe and consistency-group part: namespaces, subsystems, hosts, maps,
 * NVMe/TCP LIFs, consistency groups, their snapshots and CG restore
 * (shared/reference/ontap-rest.md §2.8-§2.10). Transport lives in ontap.c.
 */
#include "ontap/ontap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "format/json.h"
#include "base/log.h"
#include "ontap/ontap_internal.h"
#include "base/util.h"

/* ---- namespaces ---- */

#define NS_FIELDS                                                                        \
	"uuid,name,location.volume.name,status.state,space.size,space.used,status.mapped," \
	"subsystem_map.subsystem.name"

static bool namespace_parse(const struct json_doc *d, int tok, void *out)
{
	struct ontap_namespace *ns = out;

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
	return true;
}

static const char *const namespace_dup_codes[] = { "1", "72089725", NULL };

static const struct oc_kind namespace_kind = {
	.what = "namespace",
	.plural = "namespaces",
	.path = "/api/storage/namespaces",
	.fields = NS_FIELDS,
	.size = sizeof(struct ontap_namespace),
	.parse = namespace_parse,
	.create_recheck = oc_exists,
	.create_dup = namespace_dup_codes,
};

/* "svm":{"name":<svm>},"name":<name>: how the bodies that make an object in an SVM begin. */
static void jw_svm_name(struct json_writer *w, const char *svm, const char *name)
{
	if (svm)
		oc_jw_ref(w, "svm", "name", svm);
	jw_string(w, "name", name);
}

int ontap_namespace_find(struct ontap_client *oc, const char *svm, const char *name,
			 struct ontap_namespace *out, int64_t deadline)
{
	struct oc_where w = { .val = name, .svm = svm };

	return oc_find(oc, &namespace_kind, &w, NULL, out, deadline);
}

int ontap_namespace_get(struct ontap_client *oc, const char *uuid, struct ontap_namespace *out,
			int64_t deadline)
{
	return oc_read(oc, &namespace_kind, NULL, uuid, out, deadline);
}

int ontap_namespace_list(struct ontap_client *oc, const char *svm, const char *pattern,
			 struct ontap_namespace **out, int *n, int64_t deadline)
{
	struct oc_where w = { .val = pattern, .svm = svm };

	return oc_list(oc, &namespace_kind, &w, NULL, out, n, deadline);
}

int ontap_namespace_create(struct ontap_client *oc, const char *svm, const char *name,
			   uint64_t size, const char *comment, struct ontap_namespace *out,
			   int64_t deadline)
{
	struct oc_write wr;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	oc_write_begin(&wr, "create namespace '%s'", name);
	jw_svm_name(&wr.w, svm, name);
	jw_string(&wr.w, "os_type", "linux");
	jw_object_begin(&wr.w, "space");
	jw_int(&wr.w, "size", (int64_t)size);
	jw_int(&wr.w, "block_size", 4096);
	jw_object_end(&wr.w);
	if (comment)
		jw_string(&wr.w, "comment", comment);
	rc = oc_create(oc, &namespace_kind, NULL, svm, name, wr.what, oc_write_end(&wr), out,
		       deadline);
	if (rc == 0 && out && oc_dry(oc)) {
		memset(out, 0, sizeof(*out));
		if (util_strcpy(out->name, name, sizeof(out->name), "namespace path") < 0)
			rc = POE_FAIL;
		out->size = size;
	}
	oc_write_release(&wr);
	return rc;
}

int ontap_namespace_resize(struct ontap_client *oc, const char *uuid, uint64_t size,
			   int64_t deadline)
{
	struct oc_write wr;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	oc_write_begin(&wr, "resize namespace '%s'", uuid);
	jw_object_begin(&wr.w, "space");
	jw_int(&wr.w, "size", (int64_t)size);
	jw_object_end(&wr.w);
	rc = oc_patch(oc, &namespace_kind, uuid, NULL, NULL, wr.what, oc_write_end(&wr), deadline);
	oc_write_release(&wr);
	return rc;
}

int ontap_namespace_delete(struct ontap_client *oc, const char *uuid, int64_t deadline)
{
	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	return oc_delete(oc, &namespace_kind, NULL, uuid, NULL, deadline);
}

/* ---- subsystems, hosts, maps ---- */

static bool subsystem_parse(const struct json_doc *d, int tok, void *out)
{
	struct ontap_subsystem *s = out;

	memset(s, 0, sizeof(*s));
	oc_jstr(d, tok, "uuid", s->uuid, sizeof(s->uuid));
	oc_jstr(d, tok, "name", s->name, sizeof(s->name));
	oc_jstr(d, tok, "target_nqn", s->target_nqn, sizeof(s->target_nqn));
	return true;
}

/*
 * Subsystems, their hosts and maps are made inline (no return_timeout), and a POST sent again
 * is answered with an "already" code that means success (§2.9).
 */
static const char *const subsystem_exists_codes[] = { "1", "72090025", NULL };
static const char *const host_exists_codes[] = { "1", "72089705", NULL };
static const char *const mapped_codes[] = { "1", "72089790", NULL };
static const char *const unmapped_codes[] = { "72090019", NULL };

static const struct oc_kind subsystem_kind = {
	.what = "NVMe subsystem",
	.plural = "NVMe subsystems",
	.path = "/api/protocols/nvme/subsystems",
	.fields = "uuid,name,target_nqn",
	.size = sizeof(struct ontap_subsystem),
	.parse = subsystem_parse,
	.inline_writes = true,
	.create_flags = OC_IDEMPOTENT,
	/* 72090025: created by someone else meanwhile: read it and go on. */
	.create_ok = subsystem_exists_codes,
};

/* /api/protocols/nvme/subsystems/{subsystem}/hosts */
static const struct oc_kind subsystem_host_kind = {
	.what = "host",
	.plural = "hosts",
	.owner = "NVMe subsystem",
	.path = "/api/protocols/nvme/subsystems",
	.sub = "/hosts",
	.inline_writes = true,
	.create_flags = OC_IDEMPOTENT,
	.create_ok = host_exists_codes,
};

/* /api/protocols/nvme/subsystem-maps[/{subsystem}/{namespace}] */
static const struct oc_kind map_kind = {
	.what = "map",
	.plural = "maps",
	.path = "/api/protocols/nvme/subsystem-maps",
	.inline_writes = true,
	.create_flags = OC_IDEMPOTENT,
	.create_ok = mapped_codes,
	.delete_ok = unmapped_codes,
};

int ontap_subsystem_find(struct ontap_client *oc, const char *svm, const char *name,
			 struct ontap_subsystem *out, int64_t deadline)
{
	struct oc_where w = { .val = name, .svm = svm };

	return oc_find(oc, &subsystem_kind, &w, NULL, out, deadline);
}

int ontap_subsystem_ensure(struct ontap_client *oc, const char *svm, const char *name,
			   struct ontap_subsystem *out, int64_t deadline)
{
	struct oc_write wr;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	rc = ontap_subsystem_find(oc, svm, name, out, deadline);
	if (rc != POE_NOTFOUND)
		return rc;
	oc_write_begin(&wr, "create NVMe subsystem '%s'", name);
	jw_svm_name(&wr.w, svm, name);
	jw_string(&wr.w, "os_type", "linux");
	jw_string(&wr.w, "comment", "pve-ontap");
	rc = oc_create(oc, &subsystem_kind, NULL, svm, name, wr.what, oc_write_end(&wr), out,
		       deadline);
	if (rc == 0 && out && oc_dry(oc)) {
		memset(out, 0, sizeof(*out));
		if (util_strcpy(out->name, name, sizeof(out->name), "subsystem name") < 0)
			rc = POE_FAIL;
	}
	oc_write_release(&wr);
	return rc;
}

int ontap_subsystem_host_add(struct ontap_client *oc, const char *subsys_uuid, const char *nqn,
			     int64_t deadline)
{
	struct oc_write wr;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	oc_write_begin(&wr, "add host '%s' to NVMe subsystem '%s'", nqn, subsys_uuid);
	jw_string(&wr.w, "nqn", nqn);
	rc = oc_create(oc, &subsystem_host_kind, subsys_uuid, NULL, NULL, wr.what,
		       oc_write_end(&wr), NULL, deadline);
	oc_write_release(&wr);
	return rc;
}

int ontap_map_create(struct ontap_client *oc, const char *svm, const char *subsys_uuid,
		     const char *ns_uuid, int64_t deadline)
{
	struct oc_write wr;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	oc_write_begin(&wr, "map namespace '%s' to NVMe subsystem '%s'", ns_uuid, subsys_uuid);
	if (svm)
		oc_jw_ref(&wr.w, "svm", "name", svm);
	oc_jw_ref(&wr.w, "subsystem", "uuid", subsys_uuid);
	oc_jw_ref(&wr.w, "namespace", "uuid", ns_uuid);
	rc = oc_create(oc, &map_kind, NULL, NULL, NULL, wr.what, oc_write_end(&wr), NULL,
		       deadline);
	oc_write_release(&wr);
	return rc;
}

int ontap_map_delete(struct ontap_client *oc, const char *subsys_uuid, const char *ns_uuid,
		     int64_t deadline)
{
	char what[200];
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "unmap namespace '%s' from NVMe subsystem '%s'", ns_uuid,
		 subsys_uuid);
	rc = oc_delete(oc, &map_kind, subsys_uuid, ns_uuid, what, deadline);
	/* A map that does not exist is what was asked for. */
	if (rc == POE_NOTFOUND) {
		err_clear();
		rc = 0;
	}
	return rc;
}

/* Only LIFs that are up and enabled, with an address, can serve (§2.9). */
static bool lif_parse(const struct json_doc *d, int tok, void *out)
{
	struct ontap_lif *l = out;
	char state[16];

	memset(l, 0, sizeof(*l));
	oc_jstr(d, tok, "state", state, sizeof(state));
	if (strcmp(state, "up") != 0 || !oc_jbool(d, tok, "enabled"))
		return false;
	oc_jstr(d, tok, "name", l->name, sizeof(l->name));
	oc_jstr(d, tok, "ip.address", l->ip, sizeof(l->ip));
	return l->ip[0] != '\0';
}

static const struct oc_kind lif_kind = {
	.what = "NVMe/TCP interface",
	.plural = "NVMe/TCP interfaces",
	.path = "/api/network/ip/interfaces",
	.scope_key = "services",
	.scope_val = "data_nvme_tcp",
	.fields = "uuid,name,ip.address,state,enabled",
	.size = sizeof(struct ontap_lif),
	.parse = lif_parse,
};

int ontap_nvme_lifs(struct ontap_client *oc, const char *svm, struct ontap_lif **out, int *n,
		    int64_t deadline)
{
	struct oc_where w = { .svm = svm };

	return oc_list(oc, &lif_kind, &w, NULL, out, n, deadline);
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

static bool cg_parse(const struct json_doc *d, int tok, void *out)
{
	struct ontap_cg *cg = out;

	memset(cg, 0, sizeof(*cg));
	oc_jstr(d, tok, "uuid", cg->uuid, sizeof(cg->uuid));
	oc_jstr(d, tok, "name", cg->name, sizeof(cg->name));
	cg->volumes = names_of(d, json_get(d, tok, "volumes"), "name", &cg->nvolumes);
	return true;
}

static const char *const cg_dup_codes[] = { "1", "53411852", "53411860", NULL };

static const struct oc_kind cg_kind = {
	.what = "consistency group",
	.plural = "consistency groups",
	.path = "/api/application/consistency-groups",
	/* volumes is expensive: named explicitly (§1.4). */
	.fields = "uuid,name,volumes.name,volumes.uuid",
	.size = sizeof(struct ontap_cg),
	.parse = cg_parse,
	.create_recheck = oc_exists,
	.create_dup = cg_dup_codes,
};

int ontap_cg_find(struct ontap_client *oc, const char *svm, const char *name,
		  struct ontap_cg *out, int64_t deadline)
{
	struct oc_where w = { .val = name, .svm = svm };

	return oc_find(oc, &cg_kind, &w, NULL, out, deadline);
}

int ontap_cg_create(struct ontap_client *oc, const char *svm, const char *name,
		    const char *const *volumes, int nvolumes, struct ontap_cg *out,
		    int64_t deadline)
{
	struct oc_write wr;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	oc_write_begin(&wr, "create consistency group '%s'", name);
	jw_svm_name(&wr.w, svm, name);
	jw_array_begin(&wr.w, "volumes");
	for (int i = 0; i < nvolumes; i++) {
		jw_object_begin(&wr.w, NULL);
		jw_string(&wr.w, "name", volumes[i]);
		oc_jw_ref(&wr.w, "provisioning_options", "action", "add");
		jw_object_end(&wr.w);
	}
	jw_array_end(&wr.w);
	oc_jw_ref(&wr.w, "snapshot_policy", "name", "none");
	rc = oc_create(oc, &cg_kind, NULL, svm, name, wr.what, oc_write_end(&wr), out, deadline);
	if (rc == 0 && out && oc_dry(oc)) {
		memset(out, 0, sizeof(*out));
		rc = util_strcpy(out->name, name, sizeof(out->name), "consistency group name");
		if (rc == 0) {
			out->volumes = util_xcalloc((size_t)nvolumes + 1, sizeof(char *));
			for (int i = 0; i < nvolumes; i++)
				out->volumes[i] = util_xstrdup(volumes[i]);
			out->nvolumes = nvolumes;
		}
	}
	oc_write_release(&wr);
	return rc;
}

/* PATCH of a consistency group (wr released); the same again is harmless. */
static int cg_patch(struct ontap_client *oc, const char *cg_uuid, struct oc_write *wr,
		    int64_t deadline)
{
	int rc = oc_patch(oc, &cg_kind, cg_uuid, NULL, NULL, wr->what, oc_write_end(wr), deadline);

	oc_write_release(wr);
	return rc;
}

int ontap_cg_membership_supported(struct ontap_client *oc, int64_t deadline)
{
	/* volumes[].provisioning_options.action add/remove on PATCH: 9.12.1+ (§2.10, §3) */
	int rc = oc_version_at_least(oc, 9, 12, 1, deadline);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(POE_FAIL,
			       "ONTAP cluster '%s' runs %d.%d.%d: adding a volume to or removing one from a consistency group needs ONTAP 9.12.1 or later",
			       ontap_client_name(oc), oc->version[0], oc->version[1], oc->version[2]);
	return 0;
}

int ontap_cg_list(struct ontap_client *oc, const char *svm, const char *pattern,
		  struct ontap_cg **out, int *n, int64_t deadline)
{
	struct oc_where w = { .val = pattern, .svm = svm };

	return oc_list(oc, &cg_kind, &w, NULL, out, n, deadline);
}

void ontap_cg_list_free(struct ontap_cg *cgs, int n)
{
	for (int i = 0; cgs && i < n; i++)
		ontap_cg_release(&cgs[i]);
	free(cgs);
}

static int cg_patch_volume(struct ontap_client *oc, const char *cg_uuid, const char *volume,
			   const char *action, int64_t deadline)
{
	struct oc_write wr;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	rc = ontap_cg_membership_supported(oc, deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot %s volume '%s' %s consistency group '%s'", action,
				  volume, strcmp(action, "add") ? "from" : "to", cg_uuid);
	oc_write_begin(&wr, "%s volume '%s' %s consistency group '%s'", action, volume,
		       strcmp(action, "add") ? "from" : "to", cg_uuid);
	jw_array_begin(&wr.w, "volumes");
	jw_object_begin(&wr.w, NULL);
	jw_string(&wr.w, "name", volume);
	oc_jw_ref(&wr.w, "provisioning_options", "action", action);
	jw_object_end(&wr.w);
	jw_array_end(&wr.w);
	return cg_patch(oc, cg_uuid, &wr, deadline);
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

int ontap_cg_delete(struct ontap_client *oc, const char *cg_uuid, int64_t deadline)
{
	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	return oc_delete(oc, &cg_kind, NULL, cg_uuid, NULL, deadline);
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

static bool cgsnap_parse(const struct json_doc *d, int tok, void *out)
{
	struct ontap_cg_snapshot *s = out;

	memset(s, 0, sizeof(*s));
	oc_jstr(d, tok, "uuid", s->uuid, sizeof(s->uuid));
	oc_jstr(d, tok, "name", s->name, sizeof(s->name));
	oc_jstr(d, tok, "comment", s->comment, sizeof(s->comment));
	s->create_time = oc_jtime(d, tok, "create_time");
	s->is_partial = oc_jbool(d, tok, "is_partial");
	s->volumes = names_of(d, json_get(d, tok, "snapshot_volumes"), "volume.name",
			      &s->nvolumes);
	return true;
}

static int cgsnap_cmp(const void *a, const void *b)
{
	const struct ontap_cg_snapshot *x = a, *y = b;

	return oc_cmp_time_name(x->create_time, x->name, y->create_time, y->name);
}

/* 53411921 is also what a duplicate name gives (Trident treats it so, §2.10). */
static const char *const cgsnap_dup_codes[] = { "1", "53411921", NULL };

/* create_recheck (a struct oc_target): 0 when a snapshot of that name is listed. */
static int cgsnap_exists(struct ontap_client *oc, const void *arg, int64_t deadline)
{
	const struct oc_target *t = arg;
	struct ontap_cg_snapshot *s = NULL;
	int n = 0;
	int rc = ontap_cg_snapshot_list(oc, t->parent, t->name, &s, &n, deadline);

	ontap_cg_snapshot_list_free(s, n);
	if (rc < 0)
		return rc;
	return n > 0 ? 0 : POE_NOTFOUND;
}

static const struct oc_kind cgsnap_kind = {
	.what = "snapshot",
	.plural = "snapshots",
	.owner = "consistency group",
	.path = "/api/application/consistency-groups",
	.sub = "/snapshots",
	.fields = CGSNAP_FIELDS,
	.size = sizeof(struct ontap_cg_snapshot),
	.parse = cgsnap_parse,
	.cmp = cgsnap_cmp,
	.create_recheck = cgsnap_exists,
	.create_dup = cgsnap_dup_codes,
	.gone_fields = "uuid,name",
	.gone_what = "read consistency group snapshot",
};

int ontap_cg_snapshot_list(struct ontap_client *oc, const char *cg_uuid, const char *name_pattern,
			   struct ontap_cg_snapshot **out, int *n, int64_t deadline)
{
	struct oc_where w = { .parent = cg_uuid, .val = name_pattern };

	return oc_list(oc, &cgsnap_kind, &w, NULL, out, n, deadline);
}

int ontap_cg_snapshot_create(struct ontap_client *oc, const char *cg_uuid, const char *name,
			     const char *comment, const char *label, int64_t deadline)
{
	struct oc_target t = { &cgsnap_kind, cg_uuid, NULL, name };
	struct oc_write wr;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	oc_write_begin(&wr, "create snapshot '%s' of consistency group '%s'", name, cg_uuid);
	jw_string(&wr.w, "name", name);
	if (comment)
		jw_string(&wr.w, "comment", comment);
	jw_string(&wr.w, "consistency_type", "crash");
	if (label)
		jw_string(&wr.w, "snapmirror_label", label);
	rc = oc_create(oc, &cgsnap_kind, cg_uuid, NULL, name, wr.what, oc_write_end(&wr), NULL,
		       deadline);
	/* Idempotent on the name: a duplicate is fine when the snapshot is there. */
	if (rc < 0 && oc_last_code_in(oc, cgsnap_dup_codes) && !oc_dry(oc)) {
		struct err_saved keep;

		err_save(&keep);
		if (cgsnap_exists(oc, &t, deadline) == 0) {
			err_clear();
			rc = 0;
		} else {
			rc = err_restore(&keep);
		}
	}
	oc_write_release(&wr);
	return rc;
}

int ontap_cg_snapshot_delete(struct ontap_client *oc, const char *cg_uuid, const char *snap_uuid,
			     int64_t deadline)
{
	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	return oc_delete(oc, &cgsnap_kind, cg_uuid, snap_uuid, NULL, deadline);
}

int ontap_cg_restore(struct ontap_client *oc, const char *cg_uuid, const char *snap_uuid,
		     int64_t deadline)
{
	struct oc_write wr;

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	oc_write_begin(&wr, "restore consistency group '%s' to snapshot '%s'", cg_uuid, snap_uuid);
	jw_object_begin(&wr.w, "restore_to");
	oc_jw_ref(&wr.w, "snapshot", "uuid", snap_uuid);
	jw_object_end(&wr.w);
	/* "Retry until it succeeds" (§2.10): restoring to the same snapshot again is harmless. */
	return cg_patch(oc, cg_uuid, &wr, deadline);
}
