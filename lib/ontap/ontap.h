/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_ONTAP_H
#define PVE_ONTAP_ONTAP_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct config_ontap;
struct json_doc;

/*
 * ONTAP REST client (reference/ontap-rest.md). No printing: failures return POE_* codes,
 * set err_set() with "<what failed>: <ONTAP message> (ONTAP error <code>)" and keep the
 * structured detail in ontap_last_error(). Every lookup filters by name and svm.name and
 * sends an explicit fields= list including uuid; every collection follows _links.next.
 * Writes send return_timeout and poll the job on 202 until a terminal state or the
 * deadline (POE_TIMEOUT: a slow job is never reported as failed). All deadlines are
 * absolute monotonic ms (0 = default per operation), bounded by the global deadline.
 * Every request carries "X-Dot-Client-App: pve-ontap/<version>".
 */

struct ontap_error {
	long http_status;   /* 0 for transport errors and failed jobs */
	char code[24];      /* ONTAP error code as a string, "" when none */
	char message[512];
	char target[128];
};

struct ontap_client;

/* Returns a new client (caller frees) or NULL with err_set(). cfg is borrowed. */
struct ontap_client *ontap_client_new(const struct config_ontap *cfg);
void ontap_client_free(struct ontap_client *oc);
/* The next parallel round will send n requests: the next GET opens their connections. */
void ontap_client_expect_parallel(struct ontap_client *oc, int n);
const struct ontap_error *ontap_last_error(const struct ontap_client *oc);
/* The configured name ("cluster1") and host, for messages. Borrowed. */
const char *ontap_client_name(const struct ontap_client *oc);

/*
 * Dry run: GETs are sent, every mutating request is appended to log as
 * "METHOD /api/path?query body" (never credentials) and answered as if it succeeded.
 */
void ontap_client_set_dry_run(struct ontap_client *oc, struct buf *log);
bool ontap_client_is_dry_run(const struct ontap_client *oc);

/* Counters for benchmarks and tests: requests sent by this client. */
unsigned long ontap_client_requests(const struct ontap_client *oc);

/* GET /api/cluster?fields=version, once per client (later calls answer from memory). */
int ontap_cluster_version(struct ontap_client *oc, int *generation, int *major, int *minor,
			  int64_t deadline);

/* ---- volumes ---- */

struct ontap_volume {
	char uuid[40];
	char name[208];
	char svm[64];
	char nas_path[256];
	char state[16];
	char comment[256];
	uint64_t size;
	uint64_t used;
	uint64_t available;
	int snapshot_reserve;     /* percent, -1 unknown */
	bool is_flexclone;
	char clone_parent[208];   /* parent volume name of a FlexClone */
	char clone_parent_snapshot[256];
	char cg_name[64];         /* consistency group, if any */
};

int ontap_volume_find(struct ontap_client *oc, const char *svm, const char *name,
		      struct ontap_volume *out, int64_t deadline);
/* Lookup by junction path (a PVE NFS export); POE_NOTFOUND when no volume has it. */
int ontap_volume_find_by_path(struct ontap_client *oc, const char *svm, const char *nas_path,
			      struct ontap_volume *out, int64_t deadline);
/* Instance GET with the expensive fields (storage show). */
int ontap_volume_get(struct ontap_client *oc, const char *uuid, struct ontap_volume *out,
		     int64_t deadline);
/* List volumes of svm whose name matches pattern (ONTAP wildcard). Caller frees *out. */
int ontap_volume_list(struct ontap_client *oc, const char *svm, const char *pattern,
		      struct ontap_volume **out, int *n, int64_t deadline);

struct ontap_volume_spec {
	const char *name;
	const char *svm;
	const char *aggregate;
	uint64_t size;
	const char *guarantee;        /* "none" | "volume" */
	int encryption;               /* -1 leave default, 0, 1 */
	const char *qos_policy;
	const char *adaptive_qos_policy;
	const char *tiering_policy;
	int snapshot_reserve;         /* -1 leave default */
	uint64_t autosize_max;        /* 0 = no autosize */
	const char *nas_path;         /* NULL = not junctioned */
	const char *comment;
	bool snapshot_policy_none;
};

int ontap_volume_create(struct ontap_client *oc, const struct ontap_volume_spec *spec,
			struct ontap_volume *out, int64_t deadline);
int ontap_volume_resize(struct ontap_client *oc, const char *uuid, uint64_t size,
			int64_t deadline);
/* nas_path "" unmounts (clears the junction). */
int ontap_volume_set_nas_path(struct ontap_client *oc, const char *uuid, const char *nas_path,
			      int64_t deadline);
/* Clears the junction first when set, then deletes. */
int ontap_volume_delete(struct ontap_client *oc, const char *uuid, int64_t deadline);
/* FlexClone of parent at parent_snapshot (NULL = fresh), junctioned at nas_path (NULL = none). */
int ontap_volume_flexclone(struct ontap_client *oc, const char *svm, const char *parent,
			   const char *parent_snapshot, const char *name, const char *nas_path,
			   struct ontap_volume *out, int64_t deadline);
/* SnapRestore: PATCH restore_to.snapshot.name (destroys newer snapshots). */
int ontap_volume_restore(struct ontap_client *oc, const char *uuid, const char *snapshot,
			 int64_t deadline);

/* ---- volume snapshots ---- */

struct ontap_snapshot {
	char uuid[40];
	char name[256];
	char comment[256];
	char label[64];          /* snapmirror_label */
	time_t create_time;
};

/* Idempotent: an existing snapshot of that name is success. */
int ontap_snapshot_create(struct ontap_client *oc, const char *vol_uuid, const char *name,
			  const char *comment, const char *label, int64_t deadline);
/* Snapshots of a volume (name_pattern e.g. "pveontap_*", NULL = all), sorted by
 * create_time ascending. Caller frees *out. */
int ontap_snapshot_list(struct ontap_client *oc, const char *vol_uuid, const char *name_pattern,
			struct ontap_snapshot **out, int *n, int64_t deadline);
int ontap_snapshot_find(struct ontap_client *oc, const char *vol_uuid, const char *name,
			struct ontap_snapshot *out, int64_t deadline);
int ontap_snapshot_delete(struct ontap_client *oc, const char *vol_uuid, const char *snap_uuid,
			  int64_t deadline);

/* ---- files ---- */

/* One file operation of a parallel batch; rc, err, maybe and job are outputs. */
struct ontap_file_op {
	const char *src;       /* clone source (may be "./.snapshot/<snap>/images/...") */
	const char *dst;       /* clone destination / file to delete */
	bool overwrite;
	int rc;
	char err[320];
	/*
	 * rc < 0, but ONTAP may have done it or may still do it: the POST got no answer (it
	 * may have reached ONTAP, which completes a request whose connection dropped), its
	 * job was still running at the deadline, or the job vanished before it was seen to
	 * end. job is the job to wait for ("" when none is known).
	 */
	bool maybe;
	char job[64];
};

/*
 * File clones within one volume, all in parallel (one POST each, then the jobs). Returns 0
 * when all succeeded, else the code of the first failure (err_set() summarises; each
 * op's rc/err tells which).
 */
int ontap_file_clone_many(struct ontap_client *oc, const struct ontap_volume *vol,
			  struct ontap_file_op *ops, int n, int64_t deadline);
/*
 * Wait until deadline for the jobs of the clones whose outcome is unknown (maybe with a
 * job), all polled in parallel. A job that ends clears maybe and sets rc (0: the file was
 * made). Returns 0, or POE_TIMEOUT when a job is still running (its op keeps maybe).
 */
int ontap_file_clone_wait(struct ontap_client *oc, struct ontap_file_op *ops, int n,
			  int64_t deadline);
/* Delete files (ops[i].dst) in parallel; a file that is already gone counts as deleted. */
int ontap_file_delete_many(struct ontap_client *oc, const struct ontap_volume *vol,
			   struct ontap_file_op *ops, int n, int64_t deadline);

struct ontap_file {
	char name[256];
	char type[16];           /* "file", "directory", ... */
	uint64_t size;
	time_t creation_time;
};

/* Entries of directory relpath ("images/100"; "." and ".." left out). POE_NOTFOUND when
 * the directory does not exist. Caller frees *out. */
int ontap_dir_list(struct ontap_client *oc, const char *vol_uuid, const char *relpath,
		   struct ontap_file **out, int *n, int64_t deadline);
int ontap_dir_create(struct ontap_client *oc, const char *vol_uuid, const char *relpath,
		     int64_t deadline);

/* ---- NVMe ---- */

struct ontap_namespace {
	char uuid[40];
	char name[256];          /* /vol/<vol>/<ns> */
	char volume[208];
	char state[16];
	uint64_t size;
	uint64_t used;
	bool mapped;
	char subsystem[96];      /* when mapped */
};

int ontap_namespace_create(struct ontap_client *oc, const char *svm, const char *name,
			   uint64_t size, const char *comment, struct ontap_namespace *out,
			   int64_t deadline);
int ontap_namespace_find(struct ontap_client *oc, const char *svm, const char *name,
			 struct ontap_namespace *out, int64_t deadline);
int ontap_namespace_get(struct ontap_client *oc, const char *uuid, struct ontap_namespace *out,
			int64_t deadline);
/* Namespaces whose name matches pattern ("/vol/pve_vm_100_disk_*\/ *"). Caller frees. */
int ontap_namespace_list(struct ontap_client *oc, const char *svm, const char *pattern,
			 struct ontap_namespace **out, int *n, int64_t deadline);
int ontap_namespace_resize(struct ontap_client *oc, const char *uuid, uint64_t size,
			   int64_t deadline);
int ontap_namespace_delete(struct ontap_client *oc, const char *uuid, int64_t deadline);

struct ontap_subsystem {
	char uuid[40];
	char name[96];
	char target_nqn[256];
};

int ontap_subsystem_find(struct ontap_client *oc, const char *svm, const char *name,
			 struct ontap_subsystem *out, int64_t deadline);
/* Creates it, or returns the existing one (create race). */
int ontap_subsystem_ensure(struct ontap_client *oc, const char *svm, const char *name,
			   struct ontap_subsystem *out, int64_t deadline);
/* "already exists" is success. */
int ontap_subsystem_host_add(struct ontap_client *oc, const char *subsys_uuid, const char *nqn,
			     int64_t deadline);
/* "already mapped" is success. */
int ontap_map_create(struct ontap_client *oc, const char *svm, const char *subsys_uuid,
		     const char *ns_uuid, int64_t deadline);
/* "not mapped" is success. */
int ontap_map_delete(struct ontap_client *oc, const char *subsys_uuid, const char *ns_uuid,
		     int64_t deadline);

struct ontap_lif {
	char name[96];
	char ip[64];
};

/* data_nvme_tcp LIFs of svm that are enabled and up (all pages). Caller frees *out. */
int ontap_nvme_lifs(struct ontap_client *oc, const char *svm, struct ontap_lif **out, int *n,
		    int64_t deadline);

/* ---- consistency groups ---- */

struct ontap_cg {
	char uuid[40];
	char name[64];
	char **volumes;          /* member volume names, owned */
	int nvolumes;
};

void ontap_cg_release(struct ontap_cg *cg);
int ontap_cg_find(struct ontap_client *oc, const char *svm, const char *name,
		  struct ontap_cg *out, int64_t deadline);
int ontap_cg_create(struct ontap_client *oc, const char *svm, const char *name,
		    const char *const *volumes, int nvolumes, struct ontap_cg *out,
		    int64_t deadline);
/*
 * 0 when the cluster can add volumes to, and remove them from, an existing consistency group
 * (PATCH volumes[].provisioning_options.action: ONTAP 9.12.1 and later), else POE_FAIL with
 * a message naming the release the cluster runs (or the error of reading it). Adding and
 * removing check it first and send nothing to an older cluster.
 */
int ontap_cg_membership_supported(struct ontap_client *oc, int64_t deadline);
/* Every consistency group of svm whose name matches pattern. Free with ontap_cg_list_free. */
int ontap_cg_list(struct ontap_client *oc, const char *svm, const char *pattern,
		  struct ontap_cg **out, int *n, int64_t deadline);
void ontap_cg_list_free(struct ontap_cg *cgs, int n);
int ontap_cg_add_volume(struct ontap_client *oc, const char *cg_uuid, const char *volume,
			int64_t deadline);
int ontap_cg_remove_volume(struct ontap_client *oc, const char *cg_uuid, const char *volume,
			   int64_t deadline);
int ontap_cg_delete(struct ontap_client *oc, const char *cg_uuid, int64_t deadline);

struct ontap_cg_snapshot {
	char uuid[40];
	char name[256];
	char comment[256];
	time_t create_time;
	bool is_partial;
	char **volumes;          /* volumes covered (snapshot_volumes), owned */
	int nvolumes;
};

void ontap_cg_snapshot_release(struct ontap_cg_snapshot *s);
void ontap_cg_snapshot_list_free(struct ontap_cg_snapshot *s, int n);
/* Idempotent on name. */
int ontap_cg_snapshot_create(struct ontap_client *oc, const char *cg_uuid, const char *name,
			     const char *comment, const char *label, int64_t deadline);
/* Sorted by create_time ascending. */
int ontap_cg_snapshot_list(struct ontap_client *oc, const char *cg_uuid, const char *name_pattern,
			   struct ontap_cg_snapshot **out, int *n, int64_t deadline);
int ontap_cg_snapshot_delete(struct ontap_client *oc, const char *cg_uuid, const char *snap_uuid,
			     int64_t deadline);
int ontap_cg_restore(struct ontap_client *oc, const char *cg_uuid, const char *snap_uuid,
		     int64_t deadline);

#endif
