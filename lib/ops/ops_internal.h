/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_OPS_INTERNAL_H
#define PVE_ONTAP_OPS_INTERNAL_H

/* Shared by ops*.c only. */

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
};

/*
 * Resolve the volume of a configured NFS storage: by the configured volume name, else by
 * the storage's export (storage.cfg) as nas.path, stripping trailing components for an
 * export below a junction. Never scans all volumes.
 */
int ops_volume_resolve(struct ops_ctx *ctx, const struct config_storage *st,
		       struct ops_volume *out);
/* The PVE storage definition (local storage.cfg; the API when there is none). */
int ops_pve_storage(struct ops_ctx *ctx, const char *id, struct pve_storage *out);

/* "<label>-<ts>" for time t. */
void ops_snapshot_name(const char *label, time_t t, char *out, size_t n);
/* Split a VM snapshot name; false unless it has exactly the shape of DESIGN.md. */
bool ops_parse_snapshot_name(const char *name, char *label, size_t label_n, time_t *t);
bool ops_is_valid_label(const char *label);
/*
 * Parse a clone file name "<stem>-snap-<label>-<ts>.<ext>"; stem_out gets the disk file's
 * stem, snap_out "<label>-<ts>", ext_out the extension. false when not of that shape.
 */
bool ops_parse_clone_name(const char *file, char *stem_out, size_t stem_n, char *snap_out,
			  size_t snap_n, char *ext_out, size_t ext_n);

/* The snapshot called name in *arr (n entries), appended (label and time from the name)
 * when absent; *arr is reallocated, the caller frees it. */
struct vm_snapshot *ops_snapshot_find_or_add(struct vm_snapshot **arr, int *n, const char *name);

/* Node of the VM: from the config path when it is under nodes/, else the API. */
int ops_vm_node(struct ops_ctx *ctx, const struct pve_vmconf *vm, char *node, size_t n);

/* Set by SIGINT/SIGTERM while a guest is frozen or suspended; checked between steps. */
extern volatile int ops_interrupted;
void ops_signals_catch(void);
void ops_signals_restore(void);

/* Queue a job for the watcher unless dry-run (then it is recorded in ctx->dry_run). */
int ops_queue(struct ops_ctx *ctx, int vmid, int action, const char *arg);

#endif
