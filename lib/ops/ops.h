/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_OPS_H
#define PVE_ONTAP_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"

struct buf;
struct config;
struct config_storage;
struct ontap_client;
struct pve_client;
struct pve_vmconf;
struct ontap_volume;
struct cluster_lock;

/*
 * Operations shared by the CLI and the hook. They print nothing on stdout; progress and
 * notes go through log_*(); results come back in structs that cli/ formats.
 */
struct ops_ctx {
	const struct config *cfg;
	struct buf *dry_run;        /* non-NULL: record mutations here, change nothing */
	int64_t deadline;           /* for the whole operation, 0 = per-call defaults */
	int64_t cleanup_deadline;   /* until when undoing a failed step may run (the hook's
				     * timeout; it keeps a share past deadline); 0 = a grace
				     * period of its own */
	const char *phase;          /* hook phase, or NULL for "manual" */
	/* lazily created clients, one per configured ONTAP cluster; freed by ops_ctx_release() */
	struct ontap_client **ontap;
	int nontap;
	struct pve_client *pve;
	/* volumes resolved so far (struct ops_volume, ops_internal.h), one per storage */
	void *vols;
	int nvols;
	/* the VM lock ops_lock_vm() took: released before a quiesced VM is started again,
	 * since PVE runs its hookscript then, which takes the same lock (DESIGN.md Cluster) */
	struct cluster_lock *vm_lock;
	/* requests the operation's widest ONTAP round will send (disks on one volume): the
	 * volume lookup opens that many connections beside it (http_client_warm) */
	int parallel_hint;
	/* volume cache (<paths.state>/volumes.json): an entry was found stale (retry once
	 * with fresh look-ups); fresh_volumes: do not read the cache */
	bool vol_stale;
	bool fresh_volumes;
};

void ops_ctx_init(struct ops_ctx *ctx, const struct config *cfg);
void ops_ctx_release(struct ops_ctx *ctx);
/* Client for the cluster of a storage, or the PVE API client (created on first use, owned
 * by ctx): 0 with *out set, or the error code (err_set()) with *out NULL. */
int ops_ontap(struct ops_ctx *ctx, const struct config_storage *st, struct ontap_client **out);
int ops_pve(struct ops_ctx *ctx, struct pve_client **out);

/*
 * Take the cluster-wide lock "vm-<id>" or "storage-<id>" (DESIGN.md "Cluster") for an
 * operation that changes that object's ONTAP state, waiting up to a minute for another
 * node or hook to finish. No-op in dry-run. Release with cluster_lock_release().
 */
int ops_lock_vm(struct ops_ctx *ctx, int vmid, struct cluster_lock *l);
int ops_lock_storage(struct ops_ctx *ctx, const char *id, struct cluster_lock *l);

enum quiesce { QUIESCE_NONE = 0, QUIESCE_FREEZE, QUIESCE_SUSPEND, QUIESCE_SHUTDOWN };
int ops_parse_quiesce(const char *s, enum quiesce *out);

/*
 * A mutating command catches SIGINT, SIGTERM and SIGHUP for its whole run: the operation
 * stops after the step in flight, undoes what it made (or finishes what cannot be undone),
 * and the frame releases the lock. release puts back the handlers found at catch (not
 * SIG_DFL). ops_interrupt_signal() is the signal that arrived during the run, 0 if none
 * (it stays readable after release); ops_signal_name() gives "SIGTERM" etc. (static).
 */
void ops_run_signals_catch(void);
void ops_run_signals_release(void);
int ops_interrupt_signal(void);
const char *ops_signal_name(int sig);

/*
 * True from the moment a guest is being frozen, suspended or shut down until it has been
 * thawed, resumed or started again. A watchdog that ends the process must wait while this
 * holds: a guest is never left frozen (safe to call from another thread).
 */
bool ops_guest_quiesced(void);

/* ---- VM snapshots (NFS file clones and NVMe CG snapshots) ---- */

#define OPS_MAX_DISKS 64
/* a path inside a volume: directory (<= 383) + '/' + file name (<= 255) */
#define OPS_PATH_MAX 640

struct vm_snapshot_opts {
	int vmid;
	const char *label;           /* "manual" when NULL */
	enum quiesce quiesce;
	const char *const *include;  /* disk keys, NULL = every disk on a configured storage */
	const char *const *exclude;
	bool queue_rescan;           /* register clones in PVE through the watcher */
	time_t when;                 /* the name's time (a scheduled run's clock), 0 = now */
};

struct vm_snapshot_disk {
	char disk[16];               /* "scsi0" */
	char kind[16];               /* "file-clone" | "cg-snapshot" */
	char storage[CONFIG_STORAGE_ID_MAX + 1];
	char path[OPS_PATH_MAX];     /* clone file relative to the volume, or the CG name */
};

struct vm_snapshot {
	char name[96];               /* "<label>-<ts>" */
	char label[40];
	time_t created;
	/* heap arrays, grown by doubling (vm_snapshot_add_disk/_add_missing), no count cap */
	struct vm_snapshot_disk *disks;
	int ndisks, cap_disks;
	/*
	 * Current disks of the VM the snapshot has no copy of (filled by listing): a clone
	 * deleted with its unusedN entry (PVE's Remove frees the file), a disk added later or
	 * left out by the policy. Complete when nmissing is 0.
	 */
	char (*missing)[16];
	int nmissing, cap_missing;
};

/*
 * A record owns its two arrays: never copy one into a second owner (*a = *b), hand it over
 * with vm_snapshot_move. POE_FAIL when memory runs out (the record is unchanged).
 */
int vm_snapshot_add_disk(struct vm_snapshot *s, const char *disk, const char *kind,
			 const char *storage, const char *path);
int vm_snapshot_add_missing(struct vm_snapshot *s, const char *key);
/* dst (whose arrays are freed) takes over src's record; src is left empty. */
void vm_snapshot_move(struct vm_snapshot *dst, struct vm_snapshot *src);
/* Frees the arrays and empties the record (name and all); safe on a zeroed record. */
void vm_snapshot_clear(struct vm_snapshot *s);
/* Clears every record of a list from ops_vm_snapshot_list and frees it (NULL is fine). */
void ops_vm_snapshot_list_free(struct vm_snapshot *list, int n);

/* Take a VM snapshot; name_out gets "<label>-<ts>". */
int ops_vm_snapshot_create(struct ops_ctx *ctx, const struct vm_snapshot_opts *o,
			   struct vm_snapshot *out);
/* Our snapshots of the VM (names of DESIGN.md only), oldest first. Caller frees *out with
 * ops_vm_snapshot_list_free. */
int ops_vm_snapshot_list(struct ops_ctx *ctx, int vmid, struct vm_snapshot **out, int *n);
int ops_vm_snapshot_delete(struct ops_ctx *ctx, int vmid, const char *name);
/*
 * Needs the VM stopped and not locked by PVE (force overrides a lock other than
 * "suspended"); refuses an incomplete snapshot unless force (then the disks it has are
 * restored). Takes a "prerestore" safety snapshot of the NFS disks first and, when any disk
 * fails, puts every NFS disk back from it; the message names what could not be undone.
 */
int ops_vm_snapshot_restore(struct ops_ctx *ctx, int vmid, const char *name, bool force);
/* Delete the oldest of label beyond keep; names of deleted snapshots are logged. Returns
 * the number deleted. */
int ops_vm_snapshot_prune(struct ops_ctx *ctx, int vmid, const char *label, int keep);
/*
 * Retention by hand (vm prune, vm create --keep), with the hook's rules: per label the newest
 * keep survive; only names of DESIGN.md are considered. label NULL: every label except
 * "manual" and "prerestore" (those only when named). In dry-run nothing is deleted and the
 * requests are recorded. pruned (may be NULL) gets the deleted snapshots, oldest first;
 * caller frees *pruned with ops_vm_snapshot_list_free. Returns the number deleted.
 */
int ops_vm_snapshot_prune_select(struct ops_ctx *ctx, int vmid, const char *label, int keep,
				 struct vm_snapshot **pruned, int *npruned);

/* NVMe half of VM snapshots, implemented in ops_nvme.c; disks are the VM's NVMe drives. */
int ops_nvme_vm_snapshot_create(struct ops_ctx *ctx, const struct pve_vmconf *vm,
				const char *name, const char *comment, const char *label,
				struct vm_snapshot *out);
int ops_nvme_vm_snapshot_list(struct ops_ctx *ctx, const struct pve_vmconf *vm,
			      struct vm_snapshot **out, int *n);
int ops_nvme_vm_snapshot_delete(struct ops_ctx *ctx, const struct pve_vmconf *vm,
				const char *name);
/*
 * Restore of the VM's NVMe disks in two steps, so that everything is checked before any
 * disk changes: prepare looks at every pool (the snapshot complete, no newer snapshot
 * discarded unless force; POE_NOTFOUND when no NVMe disk has it) and changes nothing; run
 * restores the parts (CGs, volumes) in order. ONTAP keeps no copy of what a restore
 * replaces, so a failed run cannot be undone: it appends to state which parts are restored
 * and which were left as they were. *out is freed with ops_nvme_restore_free().
 */
struct nvme_restore;
int ops_nvme_restore_prepare(struct ops_ctx *ctx, const struct pve_vmconf *vm, const char *name,
			     bool force, struct nvme_restore **out);
int ops_nvme_restore_run(struct ops_ctx *ctx, struct nvme_restore *r, struct buf *state);
void ops_nvme_restore_free(struct nvme_restore *r);

/* ---- NVMe objects of VMs that no longer exist (ops_orphans.c) ---- */

/*
 * PVE's qm destroy skips raw-path disks (QemuServer.pm destroy_vm), so the ONTAP objects of
 * a destroyed VM's NVMe disks stay: volumes "<prefix>vm_<vmid>_disk_<n>[_clone_...]" and the
 * CG "<prefix>cg_vm_<vmid>" of a VM with no config anywhere under
 * <pve_etc>/nodes/<any>/qemu-server/.
 */
struct nvme_orphan {
	char pool[CONFIG_STORAGE_ID_MAX + 1];
	char kind[24];               /* "volume" or "consistency-group" */
	char name[208];
	int vmid;
	int disk;                    /* a volume's disk number, -1 for a CG */
	bool is_clone;
};

/*
 * Orphans of every NVMe pool (or of pool only), sorted by pool, VM, kind, name. Refuses
 * (POE_FAIL) when <pve_etc>/nodes cannot be read or is empty: without the cluster's VM
 * configs every VM would look gone. Caller frees *out.
 */
int ops_nvme_orphans(struct ops_ctx *ctx, const char *pool, struct nvme_orphan **out, int *n);

/* ---- NVMe/TCP disks (ops_nvme.c) ---- */

/*
 * One namespace of an NVMe pool: a VM disk "<prefix>vm_<vmid>_disk_<n>" or a recovery clone
 * "<prefix>vm_<vmid>_disk_<n>_clone_<label>_<ts>" made by ops_nvme_clone().
 */
struct nvme_disk_info {
	char pool[CONFIG_STORAGE_ID_MAX + 1];
	int vmid;                    /* -1 when the name is not ours */
	int disk;                    /* n, -1 when unknown */
	bool is_clone;
	char volume[208];
	char ns_name[256];           /* /vol/<volume>/<volume> */
	char uuid[40];
	uint64_t size;               /* namespace size, bytes */
	uint64_t used;
	uint64_t volume_size;
	bool mapped;
	char device[256];            /* local block device when connected, else "" */
};

/*
 * New disk for vmid in pool: FlexVol (size plus headroom, options of the pool), namespace
 * /vol/<vol>/<vol> of size, mapped to the pool's subsystem (ensured, with this node's host
 * NQN), volume added to the VM's CG "<prefix>cg_vm_<vmid>". Any failure removes what was
 * made. Then connects this node and queues an nvme-attach job.
 */
int ops_nvme_create(struct ops_ctx *ctx, int vmid, const char *pool, uint64_t size,
		    struct nvme_disk_info *out);
/*
 * Delete disk n of vmid (pool NULL: the one pool that has it): refused while attached to a
 * running VM; its recovery clones go first; CG membership, map, namespace and volume are
 * removed and the VM config entry is dropped by the watcher (unused-remove with the
 * by-id path).
 */
int ops_nvme_delete(struct ops_ctx *ctx, int vmid, int disk, const char *pool,
		    struct nvme_disk_info *out);
/* Grow disk n: the volume first, then the namespace; shrinking is POE_USAGE. */
int ops_nvme_resize(struct ops_ctx *ctx, int vmid, int disk, const char *pool, uint64_t size,
		    struct nvme_disk_info *out);
/* Namespaces of a pool (NULL: all NVMe pools), of one VM (vmid 0: all). Caller frees. */
int ops_nvme_list(struct ops_ctx *ctx, int vmid, const char *pool, struct nvme_disk_info **out,
		  int *n);
/*
 * FlexClones of every NVMe disk of the VM at snapshot name, their namespaces mapped and
 * attached to the VM as extra disks by the watcher (file-level recovery, no rollback).
 * Caller frees *out.
 */
int ops_nvme_clone(struct ops_ctx *ctx, int vmid, const char *name, struct nvme_disk_info **out,
		   int *n);
/* Ensure the subsystem knows this node and connect it to the pool's portals (configured or
 * discovered data_nvme_tcp LIFs). Returns the number of connected portals. */
int ops_nvme_connect(struct ops_ctx *ctx, const char *pool);

/* ---- storage (volume) snapshots and FlexClone mounts (ops_storage.c) ---- */

struct storage_snapshot {
	char name[256];
	char comment[256];
	time_t created;
};

/* ONTAP snapshot "pveontap_<label>-<ts>" of the volume behind an NFS storage. */
int ops_storage_snapshot_create(struct ops_ctx *ctx, const char *id, const char *label,
				struct storage_snapshot *out);
/* Every snapshot of the volume, oldest first. Caller frees *out with
 * ops_vm_snapshot_list_free. */
int ops_storage_snapshot_list(struct ops_ctx *ctx, const char *id, struct storage_snapshot **out,
			      int *n);
int ops_storage_snapshot_delete(struct ops_ctx *ctx, const char *id, const char *name);
/* The volume with its expensive fields (storage show). */
int ops_storage_volume(struct ops_ctx *ctx, const char *id, struct ontap_volume *out);

/*
 * What a volume restore would destroy: report gets the newer snapshots and the VMs with
 * disks on the storage (running ones marked); *running counts running VMs.
 */
/* A VM whose state cannot be read is an error (the PVE one) unless force. */
int ops_storage_restore_plan(struct ops_ctx *ctx, const char *id, const char *name, bool force,
			     struct buf *report, int *running);
/* SnapRestore; refuses while a VM on the storage runs unless force. */
int ops_storage_snapshot_restore(struct ops_ctx *ctx, const char *id, const char *name,
				 bool force);
/* FlexClone of snapshot name, junctioned and added to PVE as storage newid (NULL:
 * "<id>-CLONE") for this node only ("nodes <node>"); newid_out gets the id used, clone_out
 * the volume name, both before anything is made (POE_FAIL when they do not fit). */
int ops_storage_mount(struct ops_ctx *ctx, const char *id, const char *name, const char *newid,
		      char *newid_out, size_t newid_n, char *clone_out, size_t clone_n);
/* Remove a storage made by ops_storage_mount(): PVE storage, local mount, junction, volume;
 * when the volume cannot be deleted, the junction and the PVE storage are put back. Refuses
 * (POE_FAIL) while a VM config refers to a volume on it, unless force, or when the clone
 * name (clone_out, set before anything changes) or the mount path does not fit. */
int ops_storage_unmount(struct ops_ctx *ctx, const char *newid, bool force, char *clone_out,
			size_t clone_n);

#endif
