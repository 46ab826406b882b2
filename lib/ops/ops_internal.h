/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_OPS_INTERNAL_H
#define PVE_ONTAP_OPS_INTERNAL_H

/* Shared by ops*.c only. */

#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "ontap/ontap.h"
#include "ops/ops.h"

struct pve_storagecfg;
struct pve_storage;

/* The ONTAP volume behind a configured NFS storage, resolved once per operation. */
struct ops_volume {
	const struct config_storage *st;
	struct ontap_client *oc;
	struct ontap_volume vol;
	char subdir[256];     /* export below the junction ("" normally), with trailing '/' */
	char mountpath[512];  /* where PVE mounts it on this node */
	bool cached;          /* vol came from the volume cache, not from ONTAP */
	char cache_key[300];  /* "export:<path>" or "volume:<name>" */
};

/*
 * Resolve the volume of a configured NFS storage: by the configured volume name, else by
 * the storage's export (storage.cfg) as nas.path, stripping trailing components for an
 * export below a junction. Never scans all volumes.
 */
int ops_volume_resolve(struct ops_ctx *ctx, const struct config_storage *st,
		       struct ops_volume *out);
/*
 * A request about ov failed with rc: when ov came from the volume cache and ONTAP says the
 * volume is not there (404 / 918235 on the volume, 918236 name and uuid of different
 * volumes), confirmed by a GET of the volume by uuid, the entry is dropped, ctx->vol_stale
 * is set and true returned: nothing was made in a volume that does not exist.
 */
bool ops_volume_stale(struct ops_ctx *ctx, const struct ops_volume *ov, int rc);
/*
 * Before a guest is frozen: GET a cached volume by uuid, opening the width connections of
 * the clone round beside it (so the round inside the freeze pays no handshakes), and find
 * a stale entry before the guest is touched (POE_NOTFOUND, ctx->vol_stale). 0 otherwise.
 */
int ops_volume_check(struct ops_ctx *ctx, const struct ops_volume *ov, int width);
/* After a failure rc: true (once) when ops_volume_stale() saw a stale entry; the volumes
 * resolved so far are forgotten and the next look-up asks ONTAP. */
bool ops_volume_retry(struct ops_ctx *ctx, int rc);

/* The volume cache (volcache.c), <paths.state>/volumes.json. */
struct volcache_key {
	const char *cluster;  /* "host:port" */
	const char *svm;      /* configured SVM, "" for any */
	const char *key;      /* "export:<path>" or "volume:<name>" */
};
/* 0 and *out (uuid, name, svm, nas_path) on a hit; POE_NOTFOUND on a miss or a file that
 * is not ours; POE_FAIL (error set) when the entry's fields do not fit *out. The caller
 * checks the entry against what it asked for. */
int ops_volcache_get(const struct config *cfg, const struct volcache_key *k,
		     struct ontap_volume *out);
void ops_volcache_put(const struct config *cfg, const struct volcache_key *k,
		      const struct ontap_volume *v);
void ops_volcache_drop(const struct config *cfg, const struct volcache_key *k);

/* The PVE storage definition (local storage.cfg; the API when there is none). */
int ops_pve_storage(struct ops_ctx *ctx, const char *id, struct pve_storage *out);

#include "ops/names.h"

/* The snapshot called name in *arr (n entries), appended (label and time from the name)
 * when absent; *arr is reallocated, the caller frees it. name is a valid snapshot name
 * (ops_parse_snapshot_name()), so it fits the record. */
struct vm_snapshot *ops_snapshot_find_or_add(struct vm_snapshot **arr, int *n, const char *name);

/* Node of the VM: from the config path when it is under nodes/, else the API. */
int ops_vm_node(struct ops_ctx *ctx, const struct pve_vmconf *vm, char *node, size_t n);

/*
 * The number of the SIGINT/SIGTERM/SIGHUP that arrived while a command run or a quiesce had
 * the handlers installed (0: none); checked between steps.
 */
extern volatile sig_atomic_t ops_interrupted;
/* Catch those signals while a guest is quiesced (a no-op inside ops_run_signals_catch()). */
void ops_signals_catch(void);
void ops_signals_restore(void);

/* What ops_quiesce_begin() did to a guest, for ops_quiesce_end() to undo. */
struct quiesce_state {
	enum quiesce mode;
	bool active;          /* we froze / suspended / shut down the guest */
	char node[64];
};

/* Quiesce a running VM as mode says (a stopped VM or no agent: nothing, with a line). */
int ops_quiesce_begin(struct ops_ctx *ctx, const struct pve_vmconf *vm, enum quiesce mode,
		      struct quiesce_state *qs);
/* Undo ops_quiesce_begin(), retried and verified; its own deadline past the hook's. A
 * start or resume first releases ctx->vm_lock. */
int ops_quiesce_end(struct ops_ctx *ctx, const struct pve_vmconf *vm, struct quiesce_state *qs);
/* True when ops_quiesce_end() will start or resume the VM (it is down now). */
bool ops_quiesce_restarts(const struct quiesce_state *qs);

/* Queue a job for the watcher unless dry-run (then it is recorded in ctx->dry_run). */
int ops_queue(struct ops_ctx *ctx, int vmid, int action, const char *arg);

#endif
