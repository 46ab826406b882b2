/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_CONFIG_H
#define PVE_ONTAP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The configuration of DESIGN.md "Configuration (contract)". */

struct config_pve {
	char *host;         /* default "127.0.0.1" */
	int port;           /* default 8006 */
	char *token;        /* "user@realm!tokenid=secret" or NULL */
	char *user;         /* with password (ticket auth) */
	char *password;     /* from password: or password_file: */
	bool verify;        /* default true */
	char *ca_file;
	char *fingerprint;
};

struct config_ontap {
	char *name;         /* key under ontap: */
	char *host;
	int port;           /* default 443 */
	char *user;
	char *password;
	bool verify;        /* default true */
	char *ca_file;
	char *fingerprint;  /* optional pin, as for pve */
};

enum storage_protocol { STORAGE_NFS = 0, STORAGE_NVME = 1 };

struct config_storage {
	char *id;                      /* PVE storage id (NFS) or pool name (NVMe) */
	char *ontap_name;
	const struct config_ontap *ontap; /* resolved; borrowed from struct config */
	enum storage_protocol protocol;
	char *svm;
	char *volume;                  /* NFS: optional, else found from the export */
	/* NVMe pool */
	char *subsystem;
	char *aggregate;
	char *prefix;                  /* default "pve_" */
	int encryption;                /* -1 unset, 0, 1 */
	char *space_reserve;           /* "none" | "volume"; default "none" */
	char *qos_policy;
	char *adaptive_qos_policy;
	char *tiering_policy;
	int snapshot_reserve;          /* -1 unset, else percent */
	char **portals;
	int nportals;
};

/* The longest PVE storage id (pool name) a config may hold (config.c checks it). */
#define CONFIG_STORAGE_ID_MAX 255

struct config_paths {
	char *pve_etc;   /* /etc/pve */
	char *policies;  /* /etc/pve/pve-ontap/policies */
	char *queue;     /* /var/lib/pve-ontap/queue */
	char *state;     /* /var/lib/pve-ontap */
	char *lock;      /* /etc/pve/priv/lock */
	char *mnt;       /* /mnt/pve */
	char *dev;       /* /dev */
	char *sysfs;     /* /sys */
	char *qm;        /* /usr/sbin/qm */
	char *nvme;      /* /usr/sbin/nvme */
	char *nvme_etc;  /* /etc/nvme: hostnqn, discovery.conf */
	char *hostnqn;   /* <nvme_etc>/hostnqn */
	char *lvm_conf;  /* /etc/lvm/lvm.conf (doctor's global_filter check) */
	char *metrics;   /* Prometheus textfile the watcher keeps; NULL = none */
	char *snippets;  /* default snippets dir for install-hook: /var/lib/vz/snippets */
};

struct config_watch {
	int64_t reconcile_s; /* default 60 */
	int max_parallel;    /* scheduled runs at once on this node, default 4 (1..64) */
};

struct config {
	char *file;                 /* the file it was loaded from */
	bool from_ini;              /* read in pve-ontap-snapshot.py's .ini format */
	struct config_pve pve;
	struct config_ontap *ontap;
	int nontap;
	struct config_storage *storages;
	int nstorages;
	struct config_paths paths;
	struct config_watch watch;
};

/*
 * Find and load the configuration: explicit path, else $PVE_ONTAP_CONFIG, else
 * /etc/pve/pve-ontap/config.yaml, else /etc/pve-ontap/config.yaml. A name ending in ".ini"
 * is read in pve-ontap-snapshot.py's format. Errors are POE_CONFIG with "file:line:col:
 * message" for YAML problems (unknown key, wrong type, bad value), the permission reason
 * for a password in a file readable by group or others (outside /etc/pve), and
 * POE_NOTFOUND-style message (but code POE_CONFIG) when no file exists. Secrets loaded are
 * registered with secret_add(). Caller frees with config_free().
 */
int config_load(const char *path, struct config **out);
/* Parse from memory (tests, fuzzing); name is used in messages; no permission check. */
int config_parse_yaml(const char *name, const char *text, size_t len, struct config **out);
int config_parse_ini(const char *name, const char *text, size_t len, struct config **out);
/*
 * The file config_load(path) reads: path, else $PVE_ONTAP_CONFIG, else the first of
 * /etc/pve/pve-ontap/config.yaml and /etc/pve-ontap/config.yaml that exists; NULL when
 * there is none (borrowed pointers).
 */
const char *config_search(const char *path);

/* The pmxcfs mount: a file there is access-controlled by pmxcfs, not by its mode bits. */
#define CONFIG_PMXCFS_DIR "/etc/pve"

/*
 * Is path, resolved (realpath: symbolic links and ".." followed), dir or inside it?
 * "/etc/pve/../root/c.yaml" is not under /etc/pve. False when path cannot be resolved.
 */
bool config_path_is_under(const char *path, const char *dir);

/* Who besides the owner may read a file of this mode: "its group", "others", "its group
 * and others" or "nobody else" (for messages). */
const char *config_readers(unsigned int mode);

/* A config with only defaults (paths etc.), used when no file is needed (policy check). */
struct config *config_new_defaults(void);
void config_free(struct config *c);

/* Storage by id, or NULL. */
const struct config_storage *config_storage_find(const struct config *c, const char *id);

#endif
