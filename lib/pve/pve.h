/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_PVE_H
#define PVE_ONTAP_PVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct config_pve;
struct config_storage;

/* ---- local reader: /etc/pve files (reference/pve.md §6-8) ---- */

struct pve_drive {
	char key[16];        /* "scsi0", "virtio1", "efidisk0", "tpmstate0", "unused2" */
	char *volid;         /* "ONTAP01:100/vm-100-disk-0.raw" or an absolute path */
	char *storage;       /* "ONTAP01", NULL for a path */
	char *volume;        /* "100/vm-100-disk-0.raw", NULL for a path */
	char *options;       /* everything after the first ',' ("discard=on,size=32G"), or "" */
	bool is_cdrom;       /* media=cdrom, "cdrom", "none", or a cloud-init drive */
	bool is_unused;
	bool backup_off;     /* backup=0 */
};

struct pve_vmconf {
	int vmid;
	char *path;          /* file it was read from */
	char node[64];       /* from nodes/<node>/qemu-server or the local links; "" unknown */
	struct pve_drive *drives;
	int ndrives;
	char *lock;          /* NULL when none */
	bool agent;          /* agent: 1 / enabled=1 */
	char *hookscript;
	char *name;
};

/*
 * Read <pve_etc>/qemu-server/<vmid>.conf, else <pve_etc>/nodes/<any>/qemu-server/<vmid>.conf.
 * Only the current section (stops at the first "[" line). POE_NOTFOUND when absent.
 * Caller frees with pve_vmconf_free().
 */
/*
 * This node's name from pmxcfs's links <pve_etc>/local -> nodes/<node> and
 * <pve_etc>/qemu-server -> nodes/<node>/qemu-server (reference/pve.md 7); POE_NOTFOUND
 * (no message) without them.
 */
int pve_local_node(const char *pve_etc, char *out, size_t n);
int pve_vmconf_load(const char *pve_etc, int vmid, struct pve_vmconf **out);
int pve_vmconf_parse(const char *text, size_t len, int vmid, struct pve_vmconf **out);
void pve_vmconf_free(struct pve_vmconf *c);
/*
 * The volume name of a directory-style storage (NFS included), parsed exactly as
 * pve-storage does (PVE/Storage/Plugin.pm parse_volname and parse_name_dir, PVE 9; see
 * reference/pve.md §8 and its correction): "<vmid>/<name>" or, for a linked clone,
 * "<base vmid>/<base name>/<vmid>/<name>" is a disk image owned by <vmid>, the directory;
 * a name is "vm-|base-|subvol-<digits>-<rest>" or "[base-]<rest>" with <rest> free of '/'
 * and whitespace, ending in .raw, .qcow2, .vmdk or .subvol, but never "snap-*.qcow2".
 * iso/, vztmpl/, backup/, snippets/ and import/ names are other content. Stricter than PVE
 * in one point: control characters and non-ASCII bytes in a name are refused (whether
 * PVE's \s covers U+0085 and U+00A0 depends on how Perl decoded the config).
 */
enum pve_vtype { PVE_VOL_INVALID = 0, PVE_VOL_IMAGES, PVE_VOL_OTHER };

struct pve_volname {
	enum pve_vtype vtype;
	char owner[16];      /* images: the owning VMID, as written (the directory) */
	char name[256];      /* images: file name in images/<owner>/ */
	char format[8];      /* images: raw, qcow2, vmdk or subvol */
	bool is_base;        /* images: a base (template) image */
	char why[96];        /* invalid: why PVE refuses it */
};

/* Parse volname (the part after "<storage>:"); returns out->vtype. */
enum pve_vtype pve_volname_parse(const char *volname, struct pve_volname *out);

/* Is the VM's config on this node (i.e. reachable via <pve_etc>/qemu-server)? */
bool pve_vm_is_local(const char *pve_etc, int vmid);
/* Is the drive key a disk key (scsiN, virtioN, sataN, ideN, efidisk0, tpmstate0, unusedN)? */
bool pve_is_drive_key(const char *key);

struct pve_storage {
	char *id;
	char *type;          /* "nfs", "dir", ... */
	char *server;
	char *export_path;   /* "export" */
	char *path;          /* default <mnt>/<id> for nfs */
	char *options;
	char *content;
	char *nodes;
	bool disabled;
};

struct pve_storagecfg {
	struct pve_storage *st;
	int n;
};

/* Parse <pve_etc>/storage.cfg; mnt is paths.mnt for the default path. */
int pve_storagecfg_load(const char *pve_etc, const char *mnt, struct pve_storagecfg **out);
int pve_storagecfg_parse(const char *text, size_t len, const char *mnt,
			 struct pve_storagecfg **out);
void pve_storagecfg_free(struct pve_storagecfg *s);
const struct pve_storage *pve_storagecfg_find(const struct pve_storagecfg *s, const char *id);

/* ---- API client (reference/pve.md §2-4) ---- */

struct pve_client;

/* Returns a new client (caller frees) or NULL with err_set(); cfg borrowed. */
struct pve_client *pve_client_new(const struct config_pve *cfg);
void pve_client_free(struct pve_client *pc);
/* Dry run as for ontap_client_set_dry_run(). */
void pve_client_set_dry_run(struct pve_client *pc, struct buf *log);

int pve_version(struct pve_client *pc, char *out, size_t n, int64_t deadline);
/* Node that holds the VM (GET /cluster/resources?type=vm). POE_NOTFOUND if none. */
int pve_vm_node(struct pve_client *pc, int vmid, char *node, size_t n, int64_t deadline);

struct pve_vm_status {
	char status[16];     /* "running" | "stopped" */
	char qmpstatus[24];  /* "running", "paused", "prelaunch", ... */
	char lock[32];
	bool agent;
};

int pve_vm_status(struct pve_client *pc, const char *node, int vmid, struct pve_vm_status *st,
		  int64_t deadline);
/* Each waits for the task and checks its exitstatus ("OK" or "WARNINGS: n"). */
int pve_vm_suspend_todisk(struct pve_client *pc, const char *node, int vmid, int64_t deadline);
int pve_vm_resume(struct pve_client *pc, const char *node, int vmid, int64_t deadline);
int pve_vm_shutdown(struct pve_client *pc, const char *node, int vmid, int64_t deadline);
int pve_vm_start(struct pve_client *pc, const char *node, int vmid, int64_t deadline);
/* Guest agent; status_out gets "frozen" / "thawed" (may be NULL). PVE pings the agent
 * before every call (3 s); pve_agent_ping() is that ping alone, changing nothing. */
int pve_agent_ping(struct pve_client *pc, const char *node, int vmid, int64_t deadline);
int pve_agent_freeze(struct pve_client *pc, const char *node, int vmid, int64_t deadline);
int pve_agent_thaw(struct pve_client *pc, const char *node, int vmid, int64_t deadline);
int pve_agent_status(struct pve_client *pc, const char *node, int vmid, char *status_out,
		     size_t n, int64_t deadline);
/* GET /storage/{id}: fills st (caller releases with pve_storage_release()). */
int pve_storage_get(struct pve_client *pc, const char *id, struct pve_storage *st,
		    int64_t deadline);
void pve_storage_release(struct pve_storage *st);
/* POST /storage for an NFS storage from st (id, server, export, path?, options, content, nodes). */
int pve_storage_create(struct pve_client *pc, const struct pve_storage *st, int64_t deadline);
int pve_storage_delete(struct pve_client *pc, const char *id, int64_t deadline);
/* Wait for a task: polls every 500 ms until stopped, then checks exitstatus. */
int pve_task_wait(struct pve_client *pc, const char *node, const char *upid, int64_t deadline);

#endif
