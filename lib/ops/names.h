/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_NAMES_H
#define PVE_ONTAP_NAMES_H

/*
 * DESIGN.md "Names (contract)", in one place for the operations and the watcher: snapshot
 * names "<label>-<ts>", clone files "<stem>-snap-<label>-<ts>.<ext>". Pure, no I/O.
 */

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

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
/*
 * The VM id of a clone file name that PVE would accept as that VM's image and that has our
 * clone shape: pve-storage's parse_name_dir (PVE/Storage/Plugin.pm) takes
 * "(vm-|base-)<vmid>-<name>.(raw|qcow2|vmdk)", and the "-snap-<label>-<ts>" part is ours.
 * -1 for any other name.
 */
int names_clone_vmid(const char *file);

/*
 * NVMe pool names (DESIGN.md "Storage kinds"): "<prefix>vm_<vmid>_disk_<n>" (a disk) or
 * "<prefix>vm_<vmid>_disk_<n>_clone_<suffix>" (a recovery clone, *clone set). Numbers are
 * digits without a leading zero, at most 9. false for every other name.
 */
bool names_nvme_volume(const char *prefix, const char *name, int *vmid, int *disk, bool *clone);
/* "<prefix>cg_vm_<vmid>", the consistency group of a VM's NVMe disks; false otherwise. */
bool names_nvme_cg(const char *prefix, const char *name, int *vmid);
/* The VM of a namespace path "/vol/<disk volume>/<name>"; -1 for any other shape. */
int names_nvme_ns_vmid(const char *ns_name, const char *prefix);

#endif
