/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "pve-ontap doctor": check what pve-ontap needs on this node, one line per check:
 * "ok   ...", "warn ..." or "FAIL ...: reason". The exit status is 1 when any check failed.
 * It reads and probes, and changes nothing but a temporary file in the job queue.
 */
#include "cli.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "base/exec.h"
#include "host/nvmehost.h"
#include "net/http.h"
#include "format/json.h"
#include "base/log.h"
#include "base/secret.h"
#include "ontap/ontap.h"
#include "ops/ops.h"
#include "policy.h"
#include "pve/pve.h"
#include "base/util.h"

#define CONNECT_TIMEOUT_MS 5000
#define CHECK_TIMEOUT_MS 20000
#define SYSTEMCTL_TIMEOUT_MS 10000
/* A job older than this means nobody processes the queue. */
#define QUEUE_STALE_S 300
#define WATCH_UNIT "pve-ontap-watch.service"

static const char doctor_help[] =
	"Check, one line each, what pve-ontap needs on this node and say what to fix:\n"
	"  - the configuration loads, and its file permissions;\n"
	"  - the PVE node files (storage.cfg, qm) and the policies (as 'policy check');\n"
	"  - the hookscripts of this node's VMs exist and are this binary (not an old copy);\n"
	"  - NVMe disks of this node's VMs have shared=1 (PVE migrates no raw path without);\n"
	"  - the PVE API: reachable, TLS, credentials, version;\n"
	"  - each ONTAP cluster: reachable, TLS, credentials, version (9.10.1 or later;\n"
	"    9.12.1 recommended for NVMe pools: consistency-group membership changes);\n"
	"  - each NFS storage maps to an ONTAP volume; each NVMe pool's SVM and subsystem\n"
	"    exist;\n"
	"  - with NVMe pools: LVM's global_filter (paths.lvm_conf) rejects the namespaces'\n"
	"    by-id links (the line to set is printed), and no volume or consistency group\n"
	"    of a VM that no longer exists is left on ONTAP;\n"
	"  - the watcher runs (systemctl is-active " WATCH_UNIT "), and the job queue is\n"
	"    writable and drained.\n"
	"Lines start with 'ok', 'warn' or 'FAIL'. Nothing is changed (a temporary file is\n"
	"created in the queue directory and removed). Exit status 1 when a check failed.";

enum verdict { V_OK, V_WARN, V_FAIL };

struct doctor {
	bool json;
	int nok, nwarn, nfail;
	struct json_writer w;
	struct buf out;
};

static void report(struct doctor *d, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct doctor *d, enum verdict v, const char *fmt, ...)
{
	static const char *const word[] = { "ok", "warn", "FAIL" };
	char raw[1024], msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* error messages carry remote text: never let a secret through */
	secret_scrub(msg, sizeof(msg), raw);
	if (v == V_OK)
		d->nok++;
	else if (v == V_WARN)
		d->nwarn++;
	else
		d->nfail++;
	if (d->json) {
		jw_object_begin(&d->w, NULL);
		jw_string(&d->w, "status", word[v]);
		jw_string(&d->w, "message", msg);
		jw_object_end(&d->w);
		return;
	}
	printf("%-4s %s\n", word[v], msg);
	fflush(stdout);
}

/* ---- configuration and local files ---- */

static void check_config_file(struct doctor *d, const struct config *cfg)
{
	struct stat st;
	unsigned mode;

	if (!cfg->file) {
		report(d, V_WARN, "config file permissions: not checked (no file name)");
		return;
	}
	if (stat(cfg->file, &st) < 0) {
		report(d, V_FAIL, "config file '%s': %s", cfg->file, strerror(errno));
		return;
	}
	mode = (unsigned)(st.st_mode & 07777);
	/* the real path: "/etc/pve/../root/c.yaml" is not on pmxcfs (shared with config.c) */
	if (config_path_is_under(cfg->file, CONFIG_PMXCFS_DIR)) {
		report(d, V_OK, "config file permissions: under /etc/pve, pmxcfs controls access");
		return;
	}
	/* The file chooses the programs run as root (paths.qm): nobody else may change it. */
	if (mode & (S_IWGRP | S_IWOTH)) {
		report(d, V_FAIL, "config file permissions: '%s' is writable by group or others "
		       "(mode %04o): chmod go-w it", cfg->file, mode);
		return;
	}
	if (st.st_uid != 0 && geteuid() == 0) {
		report(d, V_WARN, "config file permissions: '%s' is owned by uid %u, not root",
		       cfg->file, (unsigned)st.st_uid);
		return;
	}
	if (mode & (S_IRGRP | S_IROTH)) {
		report(d, V_WARN, "config file permissions: '%s' is readable by %s (mode %04o): "
		       "chmod 600 it if it will ever hold a password", cfg->file,
		       config_readers(mode), mode);
		return;
	}
	report(d, V_OK, "config file permissions: mode %04o, owner uid %u", mode,
	       (unsigned)st.st_uid);
}

static void check_node_files(struct doctor *d, const struct config *cfg)
{
	struct pve_storagecfg *sc = NULL;
	int rc;

	rc = pve_storagecfg_load(cfg->paths.pve_etc, cfg->paths.mnt, &sc);
	if (rc < 0)
		report(d, V_FAIL, "PVE storage configuration: %s (paths.pve_etc)", err_msg());
	else
		report(d, V_OK, "PVE storage configuration: %s/storage.cfg (%d storages)",
		       cfg->paths.pve_etc, sc->n);
	pve_storagecfg_free(sc);
	if (access(cfg->paths.qm, X_OK) < 0)
		report(d, V_FAIL, "qm: '%s' is not executable (%s): is this a Proxmox VE node? "
		       "(paths.qm)", cfg->paths.qm, strerror(errno));
	else
		report(d, V_OK, "qm: %s", cfg->paths.qm);
	for (int i = 0; i < cfg->nstorages; i++) {
		if (cfg->storages[i].protocol != STORAGE_NVME)
			continue;
		if (access(cfg->paths.nvme, X_OK) < 0)
			report(d, V_WARN, "nvme: '%s' is not executable: NVMe pools need nvme-cli "
			       "(apt install nvme-cli; paths.nvme)", cfg->paths.nvme);
		else
			report(d, V_OK, "nvme: %s", cfg->paths.nvme);
		break;
	}
}

static void check_policies(struct doctor *d, const struct config *cfg)
{
	const char *dir = cfg->paths.policies;
	DIR *dh = opendir(dir);
	struct dirent *de;
	int nfiles = 0, nbad = 0;

	if (!dh) {
		report(d, V_WARN, "policies: no directory '%s' (%s): the hook does nothing until a "
		       "policy exists (mkdir -p %s; see policies/examples)", dir, strerror(errno),
		       dir);
		return;
	}
	while ((de = readdir(dh))) {
		size_t len = strlen(de->d_name);
		struct buf errors = BUF_INIT(1 << 16);
		struct policy *p = NULL;
		char *path;

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".yaml"))
			continue;
		nfiles++;
		path = util_xasprintf("%s/%s", dir, de->d_name);
		if (policy_load_file(path, &p, &errors) < 0) {
			nbad++;
			report(d, V_FAIL, "policy %s: %s", path, err_msg());
		}
		policy_free(p);
		buf_release(&errors);
		free(path);
	}
	closedir(dh);
	if (nfiles == 0)
		report(d, V_WARN, "policies: none in '%s': the hook does nothing until a policy "
		       "exists (<vmid>.yaml or default.yaml)", dir);
	else if (nbad == 0)
		report(d, V_OK, "policies: %d valid in %s", nfiles, dir);
}

/* ---- hookscripts of the local VMs ---- */

/* Does the file at path have the same bytes as the running binary? */
static bool same_as_running(const char *path)
{
	char *a = util_xmalloc(65536), *b = util_xmalloc(65536); /* not on the stack */
	int fa = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int fb = open(path, O_RDONLY | O_CLOEXEC);
	bool same = fa >= 0 && fb >= 0;

	while (same) {
		ssize_t na = read(fa, a, 65536);
		ssize_t nb = na > 0 ? read(fb, b, (size_t)na) : read(fb, b, 1);

		if (na < 0 || nb < 0 || na != nb || (na > 0 && memcmp(a, b, (size_t)na)))
			same = false;
		else if (na == 0)
			break;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(a);
	free(b);
	return same;
}

/*
 * "storage:snippets/file" to a path through storage.cfg (local: paths.snippets by default);
 * newly allocated, or NULL when it cannot be resolved.
 */
static char *hookscript_path(const struct config *cfg, const struct pve_storagecfg *sc,
			     const char *volid)
{
	const char *colon = strchr(volid, ':');
	const struct pve_storage *st;
	char id[128];

	if (!colon || (size_t)(colon - volid) >= sizeof(id) || strncmp(colon + 1, "snippets/", 9))
		return NULL;
	memcpy(id, volid, (size_t)(colon - volid));
	id[colon - volid] = '\0';
	if (!util_is_safe_name(colon + 10))
		return NULL;
	st = sc ? pve_storagecfg_find(sc, id) : NULL;
	if (st && st->path && st->path[0])
		return util_xasprintf("%s/snippets/%s", st->path, colon + 10);
	if (!strcmp(id, "local"))
		return util_xasprintf("%s/%s", cfg->paths.snippets, colon + 10);
	return NULL;
}

static void check_hookscripts(struct doctor *d, const struct config *cfg)
{
	char *dir = util_xasprintf("%s/qemu-server", cfg->paths.pve_etc);
	struct pve_storagecfg *sc = NULL;
	DIR *dh = opendir(dir);
	struct dirent *de;
	int nhooked = 0, nstale = 0, nbad = 0;

	if (!dh) {
		free(dir);
		return; /* reported with the node files */
	}
	(void)pve_storagecfg_load(cfg->paths.pve_etc, cfg->paths.mnt, &sc);
	while ((de = readdir(dh))) {
		struct pve_vmconf *vm = NULL;
		char policy[4096];
		int64_t vmid;
		char *path, *dot = strchr(de->d_name, '.');

		if (!dot || strcmp(dot, ".conf"))
			continue;
		*dot = '\0';
		if (util_parse_int(de->d_name, 100, 999999999, &vmid) < 0 ||
		    pve_vmconf_load(cfg->paths.pve_etc, (int)vmid, &vm) < 0)
			continue;
		if (!vm->hookscript || !strstr(vm->hookscript, "pve-ontap")) {
			/* its own policy, not default.yaml (that would be one line per VM) */
			const char *base;

			if (policy_find(cfg->paths.policies, (int)vmid, policy, sizeof(policy)) == 0 &&
			    (base = strrchr(policy, '/')) &&
			    !strncmp(base + 1, de->d_name, strlen(de->d_name)) &&
			    !strcmp(base + 1 + strlen(de->d_name), ".yaml"))
				report(d, V_WARN, "VM %lld has a policy but no pve-ontap hookscript: "
				       "pve-ontap install-hook --vm %lld", (long long)vmid,
				       (long long)vmid);
			pve_vmconf_free(vm);
			continue;
		}
		nhooked++;
		path = hookscript_path(cfg, sc, vm->hookscript);
		if (!path || access(path, X_OK) < 0) {
			nbad++;
			report(d, V_FAIL, "VM %lld: hookscript '%s' is %s: PVE refuses to start it; "
			       "pve-ontap install-hook --vm %lld", (long long)vmid, vm->hookscript,
			       path ? "missing or not executable" : "not a snippets volume",
			       (long long)vmid);
		} else if (!same_as_running(path)) {
			nstale++;
			report(d, V_WARN, "VM %lld: hookscript %s differs from this pve-ontap (an "
			       "older copy?): pve-ontap install-hook --vm %lld", (long long)vmid,
			       path, (long long)vmid);
		}
		free(path);
		pve_vmconf_free(vm);
	}
	closedir(dh);
	pve_storagecfg_free(sc);
	free(dir);
	if (nhooked && !nstale && !nbad)
		report(d, V_OK, "hookscripts: %d VM%s on this node run this pve-ontap", nhooked,
		       nhooked == 1 ? "" : "s");
}

/* Does a drive's option string ("discard=on,shared=1,size=1G") set shared to true? */
static bool drive_is_shared(const char *options)
{
	const char *p = options;

	while (p && *p) {
		size_t n = strcspn(p, ",");

		if (n > 7 && !strncmp(p, "shared=", 7)) {
			const char *v = p + 7;
			size_t vl = n - 7;

			/* a PVE boolean: 1, on, yes, true */
			return (vl == 1 && *v == '1') || (vl == 2 && !strncasecmp(v, "on", 2)) ||
			       (vl == 3 && !strncasecmp(v, "yes", 3)) ||
			       (vl == 4 && !strncasecmp(v, "true", 4));
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

/* An NVMe namespace as a drive path: 1 the by-id link, 2 a kernel name /dev/nvmeXnY, else 0. */
static int nvme_path_kind(const struct config *cfg, const char *volid)
{
	char uuid[NVMEHOST_UUID_LEN + 1];

	if (!volid || volid[0] != '/')
		return 0;
	if (nvmehost_volid_uuid(cfg, volid, uuid))
		return 1;
	return nvmehost_is_head(strrchr(volid, '/') + 1) ? 2 : 0;
}

/*
 * NVMe disks of this node's VMs need shared=1: QemuMigrate.pm refuses any drive path
 * starting with '/' without it ("local file/device"), live or offline; a kernel name
 * (/dev/nvme0n1) differs per node and per connect and must be the by-id link instead.
 */
static void check_nvme_shared(struct doctor *d, const struct config *cfg)
{
	char *dir = util_xasprintf("%s/qemu-server", cfg->paths.pve_etc);
	DIR *dh = opendir(dir);
	struct dirent *de;
	int ndisks = 0, nbad = 0;

	free(dir);
	if (!dh)
		return; /* reported with the node files */
	while ((de = readdir(dh))) {
		struct pve_vmconf *vm = NULL;
		int64_t vmid;
		char num[16];
		const char *dot = strrchr(de->d_name, '.');

		if (!dot || strcmp(dot, ".conf") || (size_t)(dot - de->d_name) >= sizeof(num))
			continue;
		memcpy(num, de->d_name, (size_t)(dot - de->d_name));
		num[dot - de->d_name] = '\0';
		if (util_parse_int(num, 100, 999999999, &vmid) < 0 ||
		    pve_vmconf_load(cfg->paths.pve_etc, (int)vmid, &vm) < 0) {
			err_clear();
			continue;
		}
		for (int i = 0; i < vm->ndrives; i++) {
			const struct pve_drive *dr = &vm->drives[i];
			int kind = nvme_path_kind(cfg, dr->volid);

			if (!kind)
				continue;
			ndisks++;
			if (kind == 1 && drive_is_shared(dr->options))
				continue;
			nbad++;
			report(d, V_WARN, "VM %lld: NVMe disk %s '%s' %s: PVE will not migrate the VM "
			       "(QemuMigrate: local file/device); qm set %lld --%s "
			       "/dev/disk/by-id/nvme-uuid.<uuid>,shared=1 (and its other options)",
			       (long long)vmid, dr->key, dr->volid,
			       kind == 1 ? "lacks shared=1"
					 : "is a kernel name, which changes per node and connect",
			       (long long)vmid, dr->key);
		}
		pve_vmconf_free(vm);
	}
	closedir(dh);
	if (ndisks && !nbad)
		report(d, V_OK, "NVMe disks: %d on this node's VMs, each by-id with shared=1",
		       ndisks);
}

/* ---- endpoints: reachable, TLS, credentials, version ---- */

/* TCP connect with a timeout; why gets the reason on failure. */
static int tcp_probe(const char *host, int port, char *why, size_t n)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL, *ai;
	char portstr[16];
	int rc = POE_FAIL, g;

	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(why, n, "no address");
	g = getaddrinfo(host, portstr, &hints, &res);
	if (g != 0) {
		snprintf(why, n, "cannot resolve: %s", gai_strerror(g));
		return POE_FAIL;
	}
	for (ai = res; ai && rc < 0; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		struct pollfd pfd;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (fd < 0) {
			snprintf(why, n, "%s", strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			rc = 0;
		} else if (errno != EINPROGRESS) {
			snprintf(why, n, "%s", strerror(errno));
		} else {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			pfd.revents = 0;
			g = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
			if (g == 0)
				snprintf(why, n, "no answer within %d s", CONNECT_TIMEOUT_MS / 1000);
			else if (g < 0)
				snprintf(why, n, "%s", strerror(errno));
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr)
				snprintf(why, n, "%s", strerror(soerr ? soerr : errno));
			else
				rc = 0;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

struct endpoint {
	const char *label;       /* "PVE", "ONTAP cluster1" */
	const char *host;
	int port;
	bool verify;
	const char *ca_file;
	const char *fingerprint;
	const char *probe_path;  /* answered (401 is fine) without credentials */
	const char *section;     /* where its fingerprint: goes, "pve:" or "ontap: cluster1:" */
};

/*
 * The verified handshake failed: learn the certificate the server shows (a pin no
 * certificate has, so nothing is trusted or sent) and print its SHA-256 and the exact
 * line that pins it, to add once it is checked out of band. ONTAP's own certificate is
 * self-signed by default, so this is the usual first run.
 */
static void report_fingerprint(struct doctor *d, const struct endpoint *ep, const char *base)
{
	static const char nopin[] = "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:"
				    "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00";
	struct http_opts opts = { .base_url = base, .fingerprint = nopin,
				  .connect_timeout_ms = CONNECT_TIMEOUT_MS };
	struct http_request rq = { .method = "GET", .path = ep->probe_path };
	struct http_response rs;
	struct http_client *hc = http_client_new(&opts);
	char fp[96];

	if (!hc)
		return;
	http_response_init(&rs);
	rq.deadline_ms = util_now_ms() + CHECK_TIMEOUT_MS;
	(void)http_perform(hc, &rq, &rs);
	http_response_release(&rs);
	if (http_client_peer_fingerprint(hc, fp, sizeof(fp)) == 0)
		report(d, V_FAIL, "%s TLS: the server's certificate has SHA-256 fingerprint %s; "
		       "if it is self-signed (ONTAP's default), check that fingerprint out of band "
		       "(on the system's console, not over this network) and pin it: add under "
		       "'%s' in the config the line   fingerprint: \"%s\"", ep->label, fp,
		       ep->section, fp);
	http_client_free(hc);
}

/* Reachability and TLS; returns false (after reporting) when the API cannot be used. */
static bool check_transport(struct doctor *d, const struct endpoint *ep)
{
	struct http_opts opts = { 0 };
	struct http_request rq = { .method = "GET", .path = ep->probe_path };
	struct http_response rs;
	struct http_client *hc;
	bool v6 = strchr(ep->host, ':') != NULL;
	char why[256];
	char *base;
	int rc;

	if (tcp_probe(ep->host, ep->port, why, sizeof(why)) < 0) {
		report(d, V_FAIL, "%s reachable at %s:%d: %s", ep->label, ep->host, ep->port, why);
		return false;
	}
	report(d, V_OK, "%s reachable at %s:%d", ep->label, ep->host, ep->port);

	base = util_xasprintf(v6 ? "https://[%s]:%d" : "https://%s:%d", ep->host, ep->port);
	opts.base_url = base;
	opts.verify = ep->verify;
	opts.ca_file = ep->ca_file;
	opts.fingerprint = ep->fingerprint;
	opts.connect_timeout_ms = CONNECT_TIMEOUT_MS;
	opts.user_agent = "User-Agent: pve-ontap/" PVE_ONTAP_VERSION " (doctor)";
	hc = http_client_new(&opts);
	if (!hc) {
		report(d, V_FAIL, "%s TLS: %s", ep->label, err_msg());
		free(base);
		return false;
	}
	/* Without credentials: any HTTP answer (401) proves the handshake and the certificate. */
	http_response_init(&rs);
	rq.deadline_ms = util_now_ms() + CHECK_TIMEOUT_MS;
	rc = http_perform(hc, &rq, &rs);
	http_response_release(&rs);
	http_client_free(hc);
	if (rc < 0) {
		report(d, V_FAIL, "%s TLS: %s%s", ep->label, err_msg(),
		       ep->ca_file ? "" : " (set ca_file, or fingerprint to pin the certificate)");
		if (ep->verify && !ep->fingerprint)
			report_fingerprint(d, ep, base);
		free(base);
		return false;
	}
	free(base);
	if (!ep->verify)
		report(d, V_WARN, "%s TLS: the certificate is not verified (verify: false): set "
		       "ca_file or fingerprint", ep->label);
	else if (ep->fingerprint)
		report(d, V_OK, "%s TLS: certificate matches the pinned fingerprint", ep->label);
	else
		report(d, V_OK, "%s TLS: certificate verified against %s", ep->label,
		       ep->ca_file ? ep->ca_file : "the system CA store");
	return true;
}

static void check_pve(struct doctor *d, const struct config *cfg)
{
	const struct config_pve *p = &cfg->pve;
	struct endpoint ep = {
		.label = "PVE API",
		.host = p->host && p->host[0] ? p->host : "127.0.0.1",
		.port = p->port > 0 ? p->port : 8006,
		.verify = p->verify,
		.ca_file = p->ca_file,
		.fingerprint = p->fingerprint,
		.probe_path = "/api2/json/version",
		.section = "pve:",
	};
	struct pve_client *pc = NULL;
	char version[64], who[160];
	int rc;

	if (p->token) {
		const char *eq = strrchr(p->token, '=');

		snprintf(who, sizeof(who), "token '%.*s'",
			 (int)(eq ? eq - p->token : (long)strlen(p->token)), p->token);
	} else {
		snprintf(who, sizeof(who), "user '%s'", p->user ? p->user : "");
	}
	if (!check_transport(d, &ep))
		return;
	pc = pve_client_new(p);
	if (!pc) {
		report(d, V_FAIL, "PVE API credentials: %s", err_msg());
		return;
	}
	rc = pve_version(pc, version, sizeof(version), util_now_ms() + CHECK_TIMEOUT_MS);
	if (rc < 0) {
		report(d, V_FAIL, "PVE API credentials (%s): %s", who, err_msg());
		goto out;
	}
	report(d, V_OK, "PVE API credentials (%s) accepted", who);
	if (atoi(version) < 8)
		report(d, V_WARN, "PVE version %s: pve-ontap is made for PVE 8 and 9", version);
	else
		report(d, V_OK, "PVE version %s", version);
out:
	pve_client_free(pc);
}

static bool cluster_has_nvme(const struct config *cfg, const struct config_ontap *o)
{
	for (int i = 0; i < cfg->nstorages; i++)
		if (cfg->storages[i].ontap == o && cfg->storages[i].protocol == STORAGE_NVME)
			return true;
	return false;
}

static long version_code(int g, int ma, int mi)
{
	return (long)g * 1000000L + (long)ma * 1000L + mi;
}

/* Returns whether the cluster answered correctly (storages on it are then checked). */
static bool check_ontap(struct doctor *d, const struct config *cfg, const struct config_ontap *o)
{
	char label[128], section[160];
	struct endpoint ep = {
		.label = label,
		.section = section,
		.host = o->host ? o->host : "",
		.port = o->port > 0 ? o->port : 443,
		.verify = o->verify,
		.ca_file = o->ca_file,
		.fingerprint = o->fingerprint,
		.probe_path = "/api/cluster",
	};
	struct ontap_client *oc = NULL;
	int g = 0, ma = 0, mi = 0, rc;
	bool ok = false;
	long v;

	snprintf(label, sizeof(label), "ONTAP cluster '%s'", o->name);
	snprintf(section, sizeof(section), "ontap: %s:", o->name);
	if (!check_transport(d, &ep))
		return false;
	oc = ontap_client_new(o);
	if (!oc) {
		report(d, V_FAIL, "%s credentials: %s", label, err_msg());
		return false;
	}
	rc = ontap_cluster_version(oc, &g, &ma, &mi, util_now_ms() + CHECK_TIMEOUT_MS);
	if (rc < 0) {
		long st = ontap_last_error(oc)->http_status;

		report(d, V_FAIL, "%s %s (user '%s'): %s", label,
		       st == 401 || st == 403 ? "credentials" : "API", o->user ? o->user : "",
		       err_msg());
		goto out;
	}
	report(d, V_OK, "%s credentials (user '%s') accepted", label, o->user ? o->user : "");
	v = version_code(g, ma, mi);
	if (v < version_code(9, 10, 1)) {
		report(d, V_FAIL, "%s version %d.%d.%d: pve-ontap needs ONTAP 9.10.1 or later",
		       label, g, ma, mi);
		goto out;
	}
	if (v < version_code(9, 12, 1) && cluster_has_nvme(cfg, o))
		report(d, V_WARN, "%s version %d.%d.%d: 9.12.1 or later is recommended for NVMe "
		       "pools (adding or removing a disk changes consistency-group membership)",
		       label, g, ma, mi);
	else
		report(d, V_OK, "%s version %d.%d.%d", label, g, ma, mi);
	ok = true;
out:
	ontap_client_free(oc);
	return ok;
}

/* ---- storages ---- */

static void check_nfs_storage(struct doctor *d, struct ops_ctx *ctx, const struct config *cfg,
			      const struct config_storage *st)
{
	struct ontap_volume vol;
	struct pve_storagecfg *sc = NULL;
	const struct pve_storage *ps;
	struct stat sb;
	int rc;

	ctx->deadline = util_now_ms() + CHECK_TIMEOUT_MS;
	rc = ops_storage_volume(ctx, st->id, &vol);
	if (rc < 0) {
		report(d, V_FAIL, "storage '%s': %s", st->id, err_msg());
		return;
	}
	report(d, V_OK, "storage '%s' (NFS) is volume '%s' on SVM '%s'%s%s", st->id, vol.name,
	       vol.svm[0] ? vol.svm : st->svm, vol.nas_path[0] ? ", junction " : "",
	       vol.nas_path);
	/* The VM snapshots need the storage mounted here; PVE mounts it on activation. */
	if (pve_storagecfg_load(cfg->paths.pve_etc, cfg->paths.mnt, &sc) < 0)
		return;
	ps = pve_storagecfg_find(sc, st->id);
	if (ps && ps->path && stat(ps->path, &sb) == 0 && S_ISDIR(sb.st_mode))
		report(d, V_OK, "storage '%s' is mounted at %s", st->id, ps->path);
	else if (ps && ps->path)
		report(d, V_WARN, "storage '%s' is not mounted at %s on this node (pvesm status "
		       "mounts it)", st->id, ps->path);
	pve_storagecfg_free(sc);
}

static void check_nvme_pool(struct doctor *d, struct ops_ctx *ctx,
			    const struct config_storage *st)
{
	struct ontap_subsystem sub;
	struct ontap_lif *lifs = NULL;
	struct ontap_client *oc;
	int64_t deadline = util_now_ms() + CHECK_TIMEOUT_MS;
	int nlifs = 0, rc;

	if (ops_ontap(ctx, st, &oc) < 0) {
		report(d, V_FAIL, "NVMe pool '%s': %s", st->id, err_msg());
		return;
	}
	rc = ontap_subsystem_find(oc, st->svm, st->subsystem, &sub, deadline);
	if (rc == POE_NOTFOUND) {
		report(d, V_FAIL, "NVMe pool '%s': subsystem '%s' not found on SVM '%s' (is the "
		       "SVM name right? create the subsystem, or the first 'nvme create' does)",
		       st->id, st->subsystem ? st->subsystem : "", st->svm ? st->svm : "");
		return;
	}
	if (rc < 0) {
		report(d, V_FAIL, "NVMe pool '%s': %s", st->id, err_msg());
		return;
	}
	report(d, V_OK, "NVMe pool '%s': SVM '%s', subsystem '%s'", st->id, st->svm,
	       st->subsystem);
	if (st->nportals > 0)
		return;
	rc = ontap_nvme_lifs(oc, st->svm, &lifs, &nlifs, deadline);
	if (rc < 0)
		report(d, V_FAIL, "NVMe pool '%s': cannot list NVMe/TCP LIFs: %s", st->id,
		       err_msg());
	else if (nlifs == 0)
		report(d, V_FAIL, "NVMe pool '%s': SVM '%s' has no data_nvme_tcp LIF that is up "
		       "(or set portals:)", st->id, st->svm);
	else
		report(d, V_OK, "NVMe pool '%s': %d NVMe/TCP LIFs up", st->id, nlifs);
	free(lifs);
}

static void check_storages(struct doctor *d, const struct config *cfg, const bool *cluster_ok)
{
	struct ops_ctx ctx;

	if (cfg->nstorages == 0) {
		report(d, V_WARN, "storages: none configured (storages: in the config)");
		return;
	}
	ops_ctx_init(&ctx, cfg);
	for (int i = 0; i < cfg->nstorages; i++) {
		const struct config_storage *st = &cfg->storages[i];
		int ci = (int)(st->ontap - cfg->ontap);

		if (st->ontap && ci >= 0 && ci < cfg->nontap && !cluster_ok[ci]) {
			report(d, V_WARN, "storage '%s': not checked (ONTAP cluster '%s' failed above)",
			       st->id, st->ontap->name);
			continue;
		}
		if (st->protocol == STORAGE_NVME)
			check_nvme_pool(d, &ctx, st);
		else
			check_nfs_storage(d, &ctx, cfg, st);
	}
	ops_ctx_release(&ctx);
}

/* ---- NVMe host: LVM filter, orphaned objects ---- */

/* The reject rule for guest namespaces as it goes into lvm.conf (no backslash escape). */
#define LVM_REJECT "\"r|/dev/disk/by-id/nvme-uuid.*|\""
/* Names one namespace has on a host: its by-id link and its kernel name. */
#define LVM_SAMPLE_BYID "/dev/disk/by-id/nvme-uuid.00000000-0000-0000-0000-000000000000"
#define LVM_SAMPLE_KERNEL "/dev/nvme0n1"
#define LVM_CONF_MAX (4 << 20)

static bool have_nvme_pools(const struct config *cfg)
{
	for (int i = 0; i < cfg->nstorages; i++)
		if (cfg->storages[i].protocol == STORAGE_NVME)
			return true;
	return false;
}

/*
 * The value of devices/global_filter: the text from '[' to ']' (NULL when not set), in the
 * devices { } section, comments ('#' to the end of the line) skipped.
 */
static char *lvm_global_filter(const char *text)
{
	const char *p = text;
	int depth = 0;
	bool in_devices = false;

	while (*p) {
		if (*p == '#') {
			p += strcspn(p, "\n");
		} else if (*p == '"') {
			const char *q = strchr(p + 1, '"');

			p = q ? q + 1 : p + strlen(p);
		} else if (*p == '{') {
			depth++;
			p++;
		} else if (*p == '}') {
			if (--depth <= 0)
				in_devices = false;
			p++;
		} else if (depth == 0 && !strncmp(p, "devices", 7) && (p == text || !isalnum((unsigned char)p[-1]))) {
			p += 7;
			p += strspn(p, " \t\r\n");
			in_devices = *p == '{';
		} else if (depth == 1 && in_devices && !strncmp(p, "global_filter", 13) &&
			   !isalnum((unsigned char)p[13]) && p[13] != '_' &&
			   (p == text || isspace((unsigned char)p[-1]))) {
			const char *open = strchr(p, '['), *close = open ? strchr(open, ']') : NULL;

			if (!open || !close)
				return NULL;
			return strndup(open + 1, (size_t)(close - open - 1));
		} else {
			p++;
		}
	}
	return NULL;
}

/*
 * How LVM's filter list decides one device name: 'a' or 'r' of the first pattern that
 * matches, 0 when none does (lvm.conf(5), devices/filter: "a|regex|" or "r|regex|", any
 * delimiter), each tried as a POSIX extended regex.
 */
static int lvm_decide(const char *filter, const char *name)
{
	const char *p = filter;

	while ((p = strchr(p, '"'))) {
		const char *end = strchr(p + 1, '"');
		char kind, delim, *re;
		regex_t rx;
		int hit;

		if (!end)
			break;
		if (end - p < 4) {
			p = end + 1;
			continue;
		}
		kind = p[1];
		delim = p[2];
		if ((kind != 'a' && kind != 'r') || end[-1] != delim) {
			p = end + 1;
			continue;
		}
		re = strndup(p + 3, (size_t)(end - 1 - (p + 3)));
		hit = re && regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) == 0;
		if (hit) {
			hit = regexec(&rx, name, 0, NULL, 0) == 0;
			regfree(&rx);
		}
		free(re);
		if (hit)
			return kind;
		p = end + 1;
	}
	return 0;
}

/*
 * The host must not activate the guests' LVM inside their namespaces (DESIGN.md "Storage
 * kinds"). LVM accepts a device when any of its names matches an 'a' pattern first, and
 * rejects it when its names match 'r' patterns first, names matching nothing not counting
 * (lvm.conf(5)); PVE's own global_filter rejects only zd and rbd devices (pve-manager
 * postinst). So the by-id link must be rejected and the kernel name must not be accepted.
 */
static void check_lvm_filter(struct doctor *d, const struct config *cfg)
{
	const char *path = cfg->paths.lvm_conf;
	struct buf text = BUF_INIT(LVM_CONF_MAX);
	char *filter = NULL;
	int byid, kernel;

	if (!have_nvme_pools(cfg) || !path)
		return;
	if (buf_read_file(&text, path) < 0) {
		report(d, V_WARN, "LVM: cannot read '%s' (paths.lvm_conf): %s", path, err_msg());
		goto out;
	}
	filter = lvm_global_filter(buf_cstr(&text));
	byid = filter ? lvm_decide(filter, LVM_SAMPLE_BYID) : 0;
	kernel = filter ? lvm_decide(filter, LVM_SAMPLE_KERNEL) : 0;
	if (byid == 'r' && kernel != 'a') {
		report(d, V_OK, "LVM: global_filter in '%s' rejects the NVMe namespaces' by-id links",
		       path);
	} else if (!filter) {
		report(d, V_FAIL, "LVM: '%s' sets no global_filter, so this node scans (and may "
		       "activate) the LVM of guests on NVMe namespaces: add in its devices { } "
		       "section: global_filter=[" LVM_REJECT "]", path);
	} else {
		char *trimmed = filter + strspn(filter, " \t\r\n");
		size_t len = strlen(trimmed);

		while (len && isspace((unsigned char)trimmed[len - 1]))
			trimmed[--len] = '\0';
		report(d, V_FAIL, "LVM: global_filter in '%s' does not reject the NVMe namespaces' "
		       "by-id links (/dev/disk/by-id/nvme-uuid.*)%s: make it, in its devices { } "
		       "section: global_filter=[" LVM_REJECT "%s%s]", path,
		       byid == 'r' ? ", and accepts their kernel names (/dev/nvme*)" : "",
		       len ? "," : "", trimmed);
	}
out:
	free(filter);
	buf_release(&text);
}

/* Volumes and CGs of destroyed VMs (qm destroy leaves raw-path disks' objects behind). */
static void check_nvme_orphans(struct doctor *d, const struct config *cfg,
			       const bool *cluster_ok)
{
	struct nvme_orphan *o = NULL;
	struct ops_ctx ctx;
	int n = 0, rc;

	if (!have_nvme_pools(cfg))
		return;
	for (int i = 0; i < cfg->nstorages; i++) {
		const struct config_storage *st = &cfg->storages[i];
		int ci = (int)(st->ontap - cfg->ontap);

		if (st->protocol == STORAGE_NVME && st->ontap && ci >= 0 && ci < cfg->nontap &&
		    !cluster_ok[ci])
			return; /* reported above */
	}
	ops_ctx_init(&ctx, cfg);
	ctx.deadline = util_now_ms() + CHECK_TIMEOUT_MS;
	rc = ops_nvme_orphans(&ctx, NULL, &o, &n);
	ops_ctx_release(&ctx);
	if (rc < 0)
		report(d, V_WARN, "NVMe orphans: %s", err_msg());
	else if (n == 0)
		report(d, V_OK, "NVMe pools: no volume or consistency group of a deleted VM");
	for (int i = 0; rc == 0 && i < n; i++)
		report(d, V_WARN, "NVMe pool '%s': %s '%s' belongs to VM %d, which has no config "
		       "on any node ('qm destroy' leaves raw-path disks): delete it on ONTAP when "
		       "it is not needed ('pve-ontap nvme list --orphans')", o[i].pool,
		       o[i].kind, o[i].name, o[i].vmid);
	free(o);
}

/* ---- watcher and queue ---- */

static void check_watcher(struct doctor *d)
{
	static const char *const candidates[] = { "/usr/bin/systemctl", "/bin/systemctl" };
	const char *systemctl = NULL;
	struct exec_result r;
	char state[64];
	size_t len;

	if (access("/run/systemd/system", F_OK) < 0) {
		report(d, V_WARN, "watcher: not booted with systemd, cannot check "
		       WATCH_UNIT "; make sure 'pve-ontap watch' runs");
		return;
	}
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (access(candidates[i], X_OK) == 0) {
			systemctl = candidates[i];
			break;
		}
	if (!systemctl) {
		report(d, V_WARN, "watcher: systemctl not found, cannot check " WATCH_UNIT);
		return;
	}
	{
		const char *argv[] = { systemctl, "is-active", WATCH_UNIT, NULL };

		exec_result_init(&r);
		if (exec_run(argv, util_now_ms() + SYSTEMCTL_TIMEOUT_MS, &r) < 0) {
			report(d, V_WARN, "watcher: cannot run systemctl: %s", err_msg());
			exec_result_release(&r);
			return;
		}
	}
	util_strlcpy(state, buf_cstr(&r.out), sizeof(state)); /* shown; a cut is not "active" */
	len = strcspn(state, "\r\n");
	state[len] = '\0';
	if (r.exit_code == 0 && !strcmp(state, "active"))
		report(d, V_OK, "watcher: " WATCH_UNIT " is active");
	else
		report(d, V_FAIL, "watcher: " WATCH_UNIT " is %s: systemctl enable --now "
		       "pve-ontap-watch (clones stay invisible in PVE without it)",
		       state[0] ? state : "not active");
	exec_result_release(&r);
}

static void check_queue(struct doctor *d, const struct config *cfg)
{
	const char *q = cfg->paths.queue;
	char *tmp = NULL;
	struct stat st;
	DIR *dh;
	struct dirent *de;
	time_t now = time(NULL), oldest = now;
	int fd, njobs = 0;

	if (stat(q, &st) < 0 && errno == ENOENT) {
		/* queue_put() creates it on first use: its parent must let it */
		char *parent = util_xstrdup(q);
		char *slash;

		while ((slash = strrchr(parent, '/')) && slash != parent) {
			*slash = '\0';
			if (access(parent, F_OK) == 0)
				break;
		}
		if (access(parent, W_OK) == 0)
			report(d, V_OK, "queue directory '%s' does not exist yet (created on first "
			       "use)", q);
		else
			report(d, V_FAIL, "queue directory '%s' does not exist and cannot be created "
			       "under '%s': %s (paths.queue)", q, parent, strerror(errno));
		free(parent);
		return;
	}
	tmp = util_xasprintf("%s/.doctor.XXXXXX", q);
	fd = mkstemp(tmp);
	if (fd < 0) {
		report(d, V_FAIL, "queue directory '%s' is not writable: %s (paths.queue)", q,
		       strerror(errno));
		free(tmp);
		return;
	}
	close(fd);
	unlink(tmp);
	free(tmp);
	if (stat(q, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)))
		report(d, V_WARN, "queue directory '%s' is writable by group or others (mode %04o): "
		       "chmod 700 it", q, (unsigned)(st.st_mode & 07777));
	else
		report(d, V_OK, "queue directory '%s' is writable", q);

	dh = opendir(q);
	if (!dh)
		return;
	while ((de = readdir(dh))) {
		size_t len = strlen(de->d_name);
		char *path;

		if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".job"))
			continue;
		njobs++;
		path = util_xasprintf("%s/%s", q, de->d_name);
		if (stat(path, &st) == 0 && st.st_mtime < oldest)
			oldest = st.st_mtime;
		free(path);
	}
	closedir(dh);
	if (njobs && now - oldest > QUEUE_STALE_S)
		report(d, V_WARN, "queue: %d jobs waiting, the oldest for %lld min: is the watcher "
		       "running?", njobs, (long long)(now - oldest) / 60);
}

/* ---- without a configuration ---- */

#define EXAMPLE_CONFIG "/usr/share/doc/pve-ontap/examples/config.yaml"

/* No file where config_load() looks (or the one named does not exist)? */
static bool config_missing(const char *path)
{
	const char *file = config_search(path && *path ? path : NULL);

	return !file || (access(file, F_OK) < 0 && errno == ENOENT);
}

/* Is this pve-ontap in the snippets directory, where install-hook puts the hookscript? */
static void check_snippet_binary(struct doctor *d, const struct config *cfg)
{
	char *path = util_xasprintf("%s/pve-ontap", cfg->paths.snippets);

	if (access(path, X_OK) < 0)
		report(d, V_WARN, "hookscript binary: '%s' is missing (%s): 'pve-ontap install-hook "
		       "--vm ID' copies it there", path, strerror(errno));
	else if (!same_as_running(path))
		report(d, V_WARN, "hookscript binary: '%s' differs from this pve-ontap (an older "
		       "copy?): 'pve-ontap install-hook --vm ID' replaces it", path);
	else
		report(d, V_OK, "hookscript binary: %s is this pve-ontap", path);
	free(path);
}

/*
 * No configuration yet (a fresh install): say where to start, then run the checks that
 * need none, with the default paths.
 */
static void check_without_config(struct doctor *d)
{
	struct config *defaults = config_new_defaults();

	report(d, V_FAIL, "config: %s; start from the example: cp " EXAMPLE_CONFIG
	       " /etc/pve/pve-ontap/config.yaml, then set the hosts and credentials",
	       err_msg());
	check_snippet_binary(d, defaults);
	check_watcher(d);
	check_queue(d, defaults);
	config_free(defaults);
}

static int cmd_doctor(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_opt opts[] = { { .name = NULL } };
	struct doctor d = { .json = ctx->json, .out = BUF_INIT(1 << 20) };
	const struct config *cfg;
	bool *cluster_ok = NULL;
	int rc;

	rc = cli_parse("doctor", argc, argv, opts, doctor_help, NULL, NULL);
	if (rc)
		return rc;
	if (d.json) {
		jw_init(&d.w, &d.out, 1);
		jw_object_begin(&d.w, NULL);
		jw_array_begin(&d.w, "checks");
	}

	rc = cli_config(ctx);
	if (rc < 0 && config_missing(ctx->config_path)) {
		check_without_config(&d);
		goto out;
	}
	if (rc < 0) {
		report(&d, V_FAIL, "config: %s", err_msg());
		goto out;
	}
	cfg = ctx->cfg;
	report(&d, V_OK, "config %s loaded (%d ONTAP cluster%s, %d storage%s)%s",
	       cfg->file ? cfg->file : "", cfg->nontap, cfg->nontap == 1 ? "" : "s",
	       cfg->nstorages, cfg->nstorages == 1 ? "" : "s",
	       cfg->from_ini ? ", pve-ontap-snapshot.py .ini format" : "");
	check_config_file(&d, cfg);
	check_node_files(&d, cfg);
	check_policies(&d, cfg);
	check_hookscripts(&d, cfg);
	check_nvme_shared(&d, cfg);
	check_pve(&d, cfg);
	cluster_ok = util_xcalloc((size_t)cfg->nontap + 1, sizeof(bool));
	if (cfg->nontap == 0)
		report(&d, V_FAIL, "ONTAP: no cluster configured (ontap: in the config)");
	for (int i = 0; i < cfg->nontap; i++)
		cluster_ok[i] = check_ontap(&d, cfg, &cfg->ontap[i]);
	check_storages(&d, cfg, cluster_ok);
	check_lvm_filter(&d, cfg);
	check_nvme_orphans(&d, cfg, cluster_ok);
	check_watcher(&d);
	check_queue(&d, cfg);
out:
	if (d.json) {
		jw_array_end(&d.w);
		jw_int(&d.w, "ok", d.nok);
		jw_int(&d.w, "warnings", d.nwarn);
		jw_int(&d.w, "failed", d.nfail);
		jw_object_end(&d.w);
		if (jw_finish(&d.w) == 0)
			printf("%s\n", buf_cstr(&d.out));
	}
	buf_release(&d.out);
	free(cluster_ok);
	if (d.nfail)
		return err_set(POE_FAIL, "%d of %d checks failed", d.nfail,
			       d.nok + d.nwarn + d.nfail);
	if (!d.json)
		printf("all %d checks passed%s\n", d.nok + d.nwarn,
		       d.nwarn ? " (see the warnings)" : "");
	return 0;
}

const struct cli_object cli_obj_doctor = {
	.name = "doctor",
	.summary = "check the configuration, PVE, ONTAP, storages, watcher and queue",
	.verbs = NULL,
	.fn = cmd_doctor,
	/* no CLI_NEEDS_CONFIG: a configuration that does not load is one of the findings */
	.flags = 0,
	.usage = "",
	.help = doctor_help,
};
