/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_NVMEHOST_H
#define PVE_ONTAP_NVMEHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;

/*
 * Host side of NVMe/TCP: this node's host NQN, fabric connects through nvme-cli and the
 * resolution of an ONTAP namespace uuid to the local block device. nvme-cli runs through
 * exec_run() with an argument vector and a timeout; nothing here prints on stdout. Every
 * byte read from sysfs or from nvme-cli output is bounded before it is looked at.
 */

#define NVMEHOST_UUID_LEN 36
#define NVMEHOST_NQN_MAX 223          /* NVMe base spec: NQN is at most 223 bytes */
/* The stable name PVE configs use for an NVMe disk (DESIGN.md "Storage kinds"). */
#define NVMEHOST_BYID_PREFIX "/dev/disk/by-id/nvme-uuid."

/*
 * This node's host NQN (DESIGN.md "Configuration"): paths.hostnqn (<paths.nvme_etc>/hostnqn;
 * first line, at most 4 KiB read), else, when that file does not exist, the first line of
 * "<paths.nvme> show-hostnqn" (the NQN nvme-cli itself uses). Either must start with "nqn."
 * and be at most 223 printable bytes without spaces. out >= 224 bytes.
 */
int nvmehost_hostnqn(const struct config *cfg, char *out, size_t n);

/*
 * "nvme connect-all -t tcp -a <portal> [-q <hostnqn>]" for each portal, each bounded by
 * 30 s and by deadline (absolute monotonic ms, 0 = none). A portal whose controller exists
 * already ("already connected" in the output, or EALREADY) counts as connected. Returns
 * the number of connected portals (> 0), or POE_FAIL naming every portal and its error
 * when none answered (POE_TIMEOUT when the deadline passed first).
 */
int nvmehost_connect(const struct config *cfg, const char *const *portals, int n,
		     int64_t deadline);

/*
 * Keep the portals in <paths.nvme_etc>/discovery.conf, the file nvme-cli's "discover" and
 * "connect-all" (and so nvmf-autoconnect.service at boot) read: one line
 * "--transport=tcp --traddr=<portal> --trsvcid=8009" per portal that no line names yet;
 * other lines stay as they are; written atomically, and only when something is added. With
 * dry non-NULL the lines that would be added go there instead.
 */
int nvmehost_persist_portals(const struct config *cfg, const char *const *portals, int n,
			     struct buf *dry);

enum nvmehost_strategy {
	NVMEHOST_BY_SYSFS = 1,        /* <sysfs>/class/block/nvmeXnY/{uuid,nguid} */
	NVMEHOST_BY_ONTAPDEVICES = 2, /* nvme netapp ontapdevices -o json */
	NVMEHOST_BY_LIST = 3,         /* nvme list -o json (+ sysfs) */
};

/*
 * Block device of the namespace with this uuid: "<paths.dev>/nvme<X>n<Y>" (a namespace
 * head, never a per-path "nvme<X>c<Y>n<Z>" or a hidden device). Tries sysfs (uuid, then
 * nguid), then nvme-cli's NetApp plugin, then "nvme list". Returns the strategy that found
 * it (> 0), POE_NOTFOUND when none did, POE_USAGE for a malformed uuid.
 */
int nvmehost_resolve(const struct config *cfg, const char *uuid, char *dev, size_t n);
/* The same restricted to sysfs (no child process): cheap enough for listings. */
int nvmehost_resolve_sysfs(const struct config *cfg, const char *uuid, char *dev, size_t n);

/*
 * The other direction: the namespace uuid of head device name ("nvme<X>n<Y>"), lower case
 * 8-4-4-4-12. The _sysfs variant reads <sysfs>/class/block/<name>/uuid, then .../nguid (ONTAP
 * sets the NGUID to the uuid's bytes); the full one then asks nvme-cli's NetApp plugin and
 * "nvme list" (as nvmehost_resolve() does). Returns the strategy (> 0), POE_NOTFOUND when no
 * source knows the device, POE_USAGE for a name that is not a head device.
 */
int nvmehost_device_uuid_sysfs(const struct config *cfg, const char *name,
			       char uuid[NVMEHOST_UUID_LEN + 1]);
int nvmehost_device_uuid(const struct config *cfg, const char *name,
			 char uuid[NVMEHOST_UUID_LEN + 1]);
/* Parsers for the other direction: uuid gets the UUID of the record of device name. */
int nvmehost_parse_ontapdevices_uuid(const char *text, size_t len, const char *name,
				     char uuid[NVMEHOST_UUID_LEN + 1]);
int nvmehost_parse_list_uuid(const char *text, size_t len, const char *name,
			     char uuid[NVMEHOST_UUID_LEN + 1]);

/* Parsers of nvme-cli output, exposed for tests. name gets the device's basename
 * ("nvme0n1"); 0 when found, POE_NOTFOUND when no record matches, POE_FAIL on bad JSON. */
int nvmehost_parse_ontapdevices(const char *text, size_t len, const char *uuid, char *name,
				size_t n);
/* Flat ("Devices":[{"DevicePath","UUID"?}]) and nested (Subsystems/Namespaces) layouts;
 * a record without UUID is checked through sysfs when cfg is given. */
int nvmehost_parse_list(const struct config *cfg, const char *text, size_t len, const char *uuid,
			char *name, size_t n);

/* "nvme<X>n<Y>" exactly. */
bool nvmehost_is_head(const char *name);
/*
 * The namespace uuid of an NVMe disk volid: "/dev/disk/by-id/nvme-uuid.<uuid>" or the same
 * below paths.dev (cfg may be NULL). uuid gets it in lower case.
 */
bool nvmehost_volid_uuid(const struct config *cfg, const char *volid,
			 char uuid[NVMEHOST_UUID_LEN + 1]);

#endif
