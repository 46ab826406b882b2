// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Host side of NVMe/TCP (DESIGN.md "Storage kinds", reference/prior-art.md §2.4): the host
 * NQN, "nvme connect-all" per portal, and namespace uuid -> block device. ONTAP's namespace
 * uuid is the NVMe NS UUID the kernel shows in /sys/class/block/nvmeXnY/uuid (§2.8). Native
 * NVMe multipath shows one head device nvmeXnY per namespace plus hidden per-path devices
 * nvmeXcYnZ; only the head may be given to a VM.
 */
#include "host/nvmehost.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "base/exec.h"
#include "format/json.h"
#include "base/log.h"
#include "base/util.h"

#define CONNECT_TIMEOUT_MS (30 * 1000)  /* per portal, as the prior art (§2.4) */
#define QUERY_TIMEOUT_MS (15 * 1000)    /* nvme list / ontapdevices */
#define SYSFS_ATTR_MAX 128              /* a uuid/nguid line is < 40 bytes */
#define HOSTNQN_FILE_MAX 4096
#define NVME_JSON_TOKENS 65536          /* a few thousand namespaces at most */
#define EALREADY_EXIT 114               /* nvme-cli exits with errno: EALREADY */

/* ---- names ---- */

static bool take_digits(const char **p)
{
	const char *s = *p;

	while (isdigit((unsigned char)**p) && *p - s < 6)
		(*p)++;
	return *p > s && !isdigit((unsigned char)**p);
}

bool nvmehost_is_head(const char *name)
{
	const char *p = name;

	if (strncmp(p, "nvme", 4) != 0)
		return false;
	p += 4;
	if (!take_digits(&p) || *p++ != 'n' || !take_digits(&p))
		return false;
	return *p == '\0';
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

bool nvmehost_volid_uuid(const struct config *cfg, const char *volid,
			 char uuid[NVMEHOST_UUID_LEN + 1])
{
	static const char tail[] = "/disk/by-id/nvme-uuid.";
	const char *rest = NULL;
	size_t dl;

	if (!volid)
		return false;
	if (!strncmp(volid, NVMEHOST_BYID_PREFIX, strlen(NVMEHOST_BYID_PREFIX))) {
		rest = volid + strlen(NVMEHOST_BYID_PREFIX);
	} else if (cfg && cfg->paths.dev) {
		dl = strlen(cfg->paths.dev);
		if (!strncmp(volid, cfg->paths.dev, dl) &&
		    !strncmp(volid + dl, tail, strlen(tail)))
			rest = volid + dl + strlen(tail);
	}
	if (!rest || strlen(rest) != NVMEHOST_UUID_LEN || !util_is_uuid(rest))
		return false;
	memcpy(uuid, rest, NVMEHOST_UUID_LEN + 1);
	lower(uuid);
	return true;
}

/* ---- bounded reads ---- */

/*
 * Read at most max - 1 bytes of a small file; longer files are an error (a sysfs attribute
 * or a hostnqn file that large is not what we expect).
 */
static int read_small(const char *path, char *out, size_t max)
{
	size_t len = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return err_set(errno == ENOENT ? POE_NOTFOUND : POE_FAIL, "cannot open '%s': %s",
			       path, strerror(errno));
	for (;;) {
		ssize_t r;

		if (len >= max - 1) {
			char extra;

			r = read(fd, &extra, 1);
			if (r > 0)
				rc = err_set(POE_FAIL, "'%s' is larger than %zu bytes", path, max - 1);
			break;
		}
		r = read(fd, out + len, max - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_set(POE_FAIL, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	out[rc == 0 ? len : 0] = '\0';
	return rc;
}

/* First line, surrounding whitespace removed. */
static void first_line(char *s)
{
	char *start = s, *end;

	while (*start && isspace((unsigned char)*start))
		start++;
	end = start;
	while (*end && *end != '\n' && *end != '\r')
		end++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	memmove(s, start, (size_t)(end - start));
	s[end - start] = '\0';
}

/* A host NQN read from src (first line of text): "nqn.", at most 223 printable bytes. */
static int take_nqn(char *text, const char *src, char *out, size_t n)
{
	size_t len;

	first_line(text);
	len = strlen(text);
	if (strncmp(text, "nqn.", 4) != 0 || len > NVMEHOST_NQN_MAX)
		return err_set(POE_CONFIG, "%s holds no NVMe host NQN (expected 'nqn.' and at most %d bytes)",
			       src, NVMEHOST_NQN_MAX);
	for (const char *p = text; *p; p++)
		if (!isgraph((unsigned char)*p))
			return err_set(POE_CONFIG, "%s: the host NQN contains a space or control character",
				       src);
	if (len + 1 > n)
		return err_set(POE_FAIL, "host NQN from %s is too long", src);
	memcpy(out, text, len + 1);
	return 0;
}

static const char *nvme_path(const struct config *cfg);

/*
 * No hostnqn file: ask nvme-cli, which prints the file's NQN or, without one, the NQN it
 * generates from the DMI product uuid and uses itself (nvme.c show_hostnqn_cmd:
 * nvmf_hostnqn_from_file(), else nvmf_hostnqn_generate()).
 */
static int hostnqn_from_cli(const struct config *cfg, const char *file, char *out, size_t n)
{
	const char *argv[] = { nvme_path(cfg), "show-hostnqn", NULL };
	struct exec_result r;
	char src[300], detail[256];
	int rc;

	exec_result_init(&r);
	rc = exec_run(argv, util_now_ms() + QUERY_TIMEOUT_MS, &r);
	snprintf(src, sizeof(src), "'%s show-hostnqn'", nvme_path(cfg));
	if (rc == 0 && r.exit_code != 0) {
		exec_result_last_line(&r, detail, sizeof(detail));
		rc = err_set(POE_CONFIG, "%s failed (exit %d): %s", src, r.exit_code, detail);
	} else if (rc == 0) {
		char *text = util_xstrdup(buf_cstr(&r.out));

		rc = take_nqn(text, src, out, n);
		free(text);
	}
	exec_result_release(&r);
	/* no file and no answer: nvme-cli missing or broken, a setup problem of this node */
	if (rc < 0)
		return err_prefix(rc == POE_TIMEOUT ? rc : POE_CONFIG,
				  "cannot read this node's NVMe host NQN: no '%s' (install nvme-cli, or run 'nvme gen-hostnqn > %s')",
				  file, file);
	log_debug("host NQN from %s (no '%s'): %s", src, file, out);
	return 0;
}

int nvmehost_hostnqn(const struct config *cfg, char *out, size_t n)
{
	const char *path = cfg->paths.hostnqn ? cfg->paths.hostnqn : "/etc/nvme/hostnqn";
	char *text = util_xmalloc(HOSTNQN_FILE_MAX + 1);
	char src[4200];
	int rc;

	rc = read_small(path, text, HOSTNQN_FILE_MAX + 1);
	if (rc == POE_NOTFOUND) {
		err_clear();
		rc = hostnqn_from_cli(cfg, path, out, n);
	} else if (rc < 0) {
		rc = err_prefix(rc, "cannot read this node's NVMe host NQN");
	} else {
		snprintf(src, sizeof(src), "'%s'", path);
		rc = take_nqn(text, src, out, n);
	}
	free(text);
	return rc;
}

/* ---- running nvme-cli ---- */

static const char *nvme_path(const struct config *cfg)
{
	return cfg->paths.nvme ? cfg->paths.nvme : "/usr/sbin/nvme";
}

static int64_t bounded(int64_t deadline, int64_t ms)
{
	return util_deadline_within(deadline, ms);
}

static bool mentions_already(const struct exec_result *r)
{
	return strstr(buf_cstr(&r->out), "already connected") ||
	       strstr(buf_cstr(&r->err), "already connected") ||
	       strstr(buf_cstr(&r->err), "Operation already in progress");
}

int nvmehost_connect(const struct config *cfg, const char *const *portals, int n,
		     int64_t deadline)
{
	struct buf why = BUF_INIT(8192);
	struct exec_result r;
	char nqn[NVMEHOST_NQN_MAX + 1] = "";
	bool timed_out = false;
	int ok = 0, rc;

	if (n <= 0)
		return err_set(POE_CONFIG, "no NVMe/TCP portal to connect to");
	/* pass the NQN ONTAP knows us by; without one nvme-cli uses its own default */
	if (nvmehost_hostnqn(cfg, nqn, sizeof(nqn)) < 0) {
		log_debug("connecting without --hostnqn: %s", err_msg());
		err_clear();
		nqn[0] = '\0';
	}
	exec_result_init(&r);
	for (int i = 0; i < n; i++) {
		const char *argv[] = { nvme_path(cfg), "connect-all", "-t", "tcp", "-a", portals[i],
				       nqn[0] ? "-q" : NULL, nqn, NULL };
		char detail[256];

		if (util_deadline_passed(deadline)) {
			timed_out = true;
			buf_note(&why, "%s%s: not tried (deadline)", why.len ? "; " : "",
				 portals[i]);
			continue;
		}
		rc = exec_run(argv, bounded(deadline, CONNECT_TIMEOUT_MS), &r);
		if (rc == POE_TIMEOUT) {
			/* a TLS or routing problem makes connects hang rather than fail (§2.4) */
			buf_note(&why, "%s%s: no answer in time", why.len ? "; " : "", portals[i]);
			timed_out |= deadline && util_deadline_passed(deadline);
			continue;
		}
		if (rc < 0) {
			rc = err_prefix(rc, "cannot run '%s'", nvme_path(cfg));
			goto out;
		}
		if (r.exit_code == 0 || r.exit_code == EALREADY_EXIT || mentions_already(&r)) {
			log_info("NVMe/TCP portal %s: %s", portals[i],
				 mentions_already(&r) || r.exit_code == EALREADY_EXIT ?
					 "already connected" :
					 "connected");
			ok++;
			continue;
		}
		exec_result_last_line(&r, detail, sizeof(detail));
		log_warn("NVMe/TCP portal %s: connect-all failed (exit %d): %s", portals[i],
			 r.exit_code, detail);
		buf_note(&why, "%s%s: %s (exit %d)", why.len ? "; " : "", portals[i],
			 detail[0] ? detail : "failed", r.exit_code);
	}
	if (ok > 0) {
		rc = ok;
	} else if (timed_out) {
		rc = err_set(POE_TIMEOUT, "no NVMe/TCP portal answered before the deadline: %s",
			     buf_cstr(&why));
	} else {
		rc = err_set(POE_FAIL, "no NVMe/TCP portal answered: %s", buf_cstr(&why));
	}
out:
	exec_result_release(&r);
	buf_release(&why);
	return rc;
}

/* ---- discovery.conf ---- */

/*
 * The portals nvmf-autoconnect.service reconnects at boot ("nvme connect-all" without
 * arguments reads one discovery controller per line of SYSCONFDIR/nvme/discovery.conf:
 * nvme-cli fabrics.c discover_from_conf_file, lines split at ' ', '=' and newline, '#'
 * comments; a tcp discovery controller's trsvcid defaults to 8009,
 * nvmf_get_default_trsvcid).
 */
#define DISC_PORT "8009"
#define DISC_FILE_MAX (1 << 20)

/* Whether one discovery.conf line names the tcp discovery controller at portal:8009. */
static bool disc_line_is(const char *line, size_t len, const char *portal)
{
	char *copy = util_xmalloc(len + 1), *p = copy, *tok;
	const char *tr = NULL, *addr = NULL, *svc = NULL;
	const char **want = NULL;
	bool same;

	memcpy(copy, line, len);
	copy[len] = '\0';
	while (copy[0] != '#' && (tok = strsep(&p, " \t=\r\n"))) {
		if (!*tok)
			continue;
		if (want) {
			*want = tok;
			want = NULL;
		} else if (!strcmp(tok, "-t") || !strcmp(tok, "--transport")) {
			want = &tr;
		} else if (!strcmp(tok, "-a") || !strcmp(tok, "--traddr")) {
			want = &addr;
		} else if (!strcmp(tok, "-s") || !strcmp(tok, "--trsvcid")) {
			want = &svc;
		}
	}
	same = tr && !strcmp(tr, "tcp") && addr && !strcmp(addr, portal) &&
	       !strcmp(svc ? svc : DISC_PORT, DISC_PORT);
	free(copy);
	return same;
}

static bool disc_has(const struct buf *text, const char *portal)
{
	const char *p = text->data, *end = text->data + text->len;

	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (disc_line_is(p, len, portal))
			return true;
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

/* Write text to path atomically, keeping the mode of the file it replaces. */
static int disc_write(const char *dir, const char *path, const struct buf *text)
{
	unsigned int mode = 0644;
	struct stat st;

	if (stat(path, &st) == 0)
		mode = st.st_mode & 0777;
	if (util_mkdir_p(dir, 0755) < 0)
		return err_prefix(POE_FAIL, "cannot create '%s'", dir);
	return util_write_file_atomic(path, text->data, text->len, mode);
}

int nvmehost_persist_portals(const struct config *cfg, const char *const *portals, int n,
			     struct buf *dry)
{
	const char *dir = cfg->paths.nvme_etc ? cfg->paths.nvme_etc : "/etc/nvme";
	char *path = util_xasprintf("%s/discovery.conf", dir);
	struct buf text = BUF_INIT(DISC_FILE_MAX), add = BUF_INIT(DISC_FILE_MAX);
	int rc, nadd = 0;

	rc = buf_read_file(&text, path);
	if (rc == POE_NOTFOUND) {
		err_clear();
		rc = 0;
	}
	for (int i = 0; rc == 0 && i < n; i++) {
		if (disc_has(&text, portals[i]) || disc_has(&add, portals[i]))
			continue;
		rc = buf_printf(&add, "--transport=tcp --traddr=%s --trsvcid=" DISC_PORT "\n",
				portals[i]);
		nadd++;
	}
	if (rc < 0 || nadd == 0)
		goto out;
	if (dry) {
		rc = buf_printf(dry, "WRITE %s (append) %s", path, buf_cstr(&add));
		goto out;
	}
	if (text.len && text.data[text.len - 1] != '\n')
		rc = buf_putc(&text, '\n');
	if (rc == 0)
		rc = buf_append(&text, add.data, add.len);
	if (rc == 0)
		rc = disc_write(dir, path, &text);
	if (rc == 0)
		log_info("added %d NVMe/TCP portal(s) to %s: nvmf-autoconnect connects them at boot",
			 nadd, path);
out:
	if (rc < 0)
		rc = err_prefix(rc, "cannot keep the NVMe/TCP portals in '%s'", path);
	buf_release(&text);
	buf_release(&add);
	free(path);
	return rc;
}

/* ---- resolution ---- */

/* Lower-case hex digits of s without dashes or whitespace; false when other bytes occur. */
static bool hex_only(const char *s, char *out, size_t n)
{
	size_t k = 0;

	for (; *s; s++) {
		if (*s == '-' || isspace((unsigned char)*s))
			continue;
		if (!isxdigit((unsigned char)*s) || k + 1 >= n)
			return false;
		out[k++] = (char)tolower((unsigned char)*s);
	}
	out[k] = '\0';
	return k > 0;
}

static bool attr_matches(const struct config *cfg, const char *name, const char *attr,
			 const char *want_hex)
{
	char *path = util_xasprintf("%s/class/block/%s/%s", cfg->paths.sysfs, name, attr);
	char val[SYSFS_ATTR_MAX], hex[SYSFS_ATTR_MAX];
	bool eq = false;

	if (read_small(path, val, sizeof(val)) == 0) {
		first_line(val);
		eq = hex_only(val, hex, sizeof(hex)) && !strcmp(hex, want_hex);
	}
	err_clear();
	free(path);
	return eq;
}

/* A head device that is not hidden (native multipath marks path devices hidden=1). */
static bool usable_head(const struct config *cfg, const char *name)
{
	char *path;
	char val[SYSFS_ATTR_MAX];
	bool hidden = false;

	if (!nvmehost_is_head(name))
		return false;
	path = util_xasprintf("%s/class/block/%s/hidden", cfg->paths.sysfs, name);
	if (read_small(path, val, sizeof(val)) == 0) {
		first_line(val);
		hidden = !strcmp(val, "1");
	}
	err_clear();
	free(path);
	return !hidden;
}

static bool sysfs_matches(const struct config *cfg, const char *name, const char *want_hex)
{
	return attr_matches(cfg, name, "uuid", want_hex) ||
	       attr_matches(cfg, name, "nguid", want_hex);
}

/* "<paths.dev>/<name>" when it exists. */
static int dev_path(const struct config *cfg, const char *name, char *dev, size_t n)
{
	char *p = util_xasprintf("%s/%s", cfg->paths.dev, name);
	struct stat st;
	int rc = 0;

	if (stat(p, &st) < 0)
		rc = err_set(POE_NOTFOUND, "'%s' does not exist", p);
	else if (util_strlcpy(dev, p, n) >= n)
		rc = err_set(POE_FAIL, "device path '%s' is too long", p);
	free(p);
	return rc;
}

static int by_sysfs(const struct config *cfg, const char *want_hex, char *dev, size_t n)
{
	char *cls = util_xasprintf("%s/class/block", cfg->paths.sysfs);
	struct dirent *de;
	DIR *d = opendir(cls);
	int rc = POE_NOTFOUND;

	if (!d)
		goto out;
	while ((de = readdir(d)) != NULL) {
		if (!usable_head(cfg, de->d_name) || !sysfs_matches(cfg, de->d_name, want_hex))
			continue;
		rc = dev_path(cfg, de->d_name, dev, n);
		if (rc == 0)
			break;
		err_clear();
		rc = POE_NOTFOUND;
	}
	closedir(d);
out:
	free(cls);
	return rc;
}

/* Basename of a "/dev/nvme0n1" string when it is a head device. */
static bool head_of(const char *path, char *name, size_t n)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (!nvmehost_is_head(base) || strlen(base) >= n)
		return false;
	memcpy(name, base, strlen(base) + 1);
	return true;
}

/* Parse the JSON document that starts at the first '{' (nvme-cli may print complaints first). */
static int parse_from_brace(struct json_doc *d, const char *text, size_t len)
{
	const char *brace = memchr(text, '{', len);

	if (!brace)
		return err_set(POE_FAIL, "no JSON document in the nvme output");
	return json_parse(d, brace, len - (size_t)(brace - text), NVME_JSON_TOKENS);
}

static bool str_eq_hex(const struct json_doc *d, int tok, const char *want_hex)
{
	char val[SYSFS_ATTR_MAX], hex[SYSFS_ATTR_MAX];

	if (json_str(d, tok, val, sizeof(val)) < 0) {
		err_clear();
		return false;
	}
	return hex_only(val, hex, sizeof(hex)) && !strcmp(hex, want_hex);
}

static int want_of(const char *uuid, char *hex, size_t n)
{
	if (!uuid || !util_is_uuid(uuid) || !hex_only(uuid, hex, n))
		return err_set(POE_USAGE, "'%s' is not a namespace uuid", uuid ? uuid : "");
	return 0;
}


/*
 * Parse `nvme netapp ontapdevices -o json` (text before the JSON tolerated) into d and
 * return the index of its "ONTAPdevices" array, or a POE_* code (d is then released).
 */
static int ontapdevices_array(struct json_doc *d, const char *text, size_t len)
{
	int arr, rc = parse_from_brace(d, text, len);

	if (rc < 0)
		return err_prefix(rc, "nvme netapp ontapdevices");
	arr = json_get(d, 0, "ONTAPdevices");
	if (json_type(d, arr) != JSON_ARRAY) {
		json_free(d);
		return err_set(POE_FAIL, "nvme netapp ontapdevices: no 'ONTAPdevices' array");
	}
	return arr;
}

int nvmehost_parse_ontapdevices(const char *text, size_t len, const char *uuid, char *name,
				size_t n)
{
	struct json_doc d = { 0 };
	char want[40];
	int arr, rc;

	rc = want_of(uuid, want, sizeof(want));
	if (rc < 0)
		return rc;
	arr = ontapdevices_array(&d, text, len);
	if (arr < 0)
		return arr;
	rc = POE_NOTFOUND;
	json_for_each(&d, arr, it) {
		char devpath[256];

		if (json_type(&d, it) != JSON_OBJECT ||
		    !str_eq_hex(&d, json_member(&d, it, "UUID"), want))
			continue;
		if (json_get_str(&d, it, "Device", devpath, sizeof(devpath)) < 0 ||
		    !head_of(devpath, name, n)) {
			err_clear();
			continue;
		}
		rc = 0;
		break;
	}
	json_free(&d);
	return rc;
}

/*
 * Walk every object of an "nvme list -o json" document: the flat layout has
 * Devices[].{DevicePath,UUID?}, the verbose one Devices[].Subsystems[].Namespaces[].
 * {NameSpace:"nvme0n1",UUID?}. Depth is bounded by the JSON module's nesting. match() is
 * asked about each record naming a head device (base, e.g. "nvme0n1"): 0 ends the walk,
 * POE_NOTFOUND goes on, anything else is an error.
 */
typedef int (*list_match_fn)(const struct json_doc *d, int rec, const char *base, void *arg);

static int list_walk(const struct json_doc *d, int tok, list_match_fn match, void *arg,
		     int depth)
{
	int t = json_type(d, tok);

	if (depth > 16 || (t != JSON_OBJECT && t != JSON_ARRAY))
		return POE_NOTFOUND;
	if (t == JSON_OBJECT) {
		const char *keys[] = { "DevicePath", "NameSpace" };

		for (int k = 0; k < 2; k++) {
			int v = json_member(d, tok, keys[k]);
			char path[256], base[64];
			int rc;

			if (json_type(d, v) != JSON_STRING || json_str(d, v, path, sizeof(path)) < 0 ||
			    !head_of(path, base, sizeof(base))) {
				err_clear();
				continue;
			}
			rc = match(d, tok, base, arg);
			if (rc != POE_NOTFOUND)
				return rc;
		}
	}
	json_for_each(d, tok, it) {
		int rc = list_walk(d, it, match, arg, depth + 1);

		if (rc != POE_NOTFOUND)
			return rc;
	}
	return POE_NOTFOUND;
}

/* The device of namespace uuid want: the record's UUID, else (none listed) sysfs. */
struct want_device {
	const struct config *cfg;
	const char *want;
	char *name;
	size_t n;
};

static int match_uuid(const struct json_doc *d, int rec, const char *base, void *arg)
{
	struct want_device *w = arg;
	int u = json_member(d, rec, "UUID");

	if (!(u >= 0 ? str_eq_hex(d, u, w->want) :
		       (w->cfg && usable_head(w->cfg, base) && sysfs_matches(w->cfg, base, w->want))))
		return POE_NOTFOUND;
	if (strlen(base) >= w->n)
		return err_set(POE_FAIL, "device name too long");
	memcpy(w->name, base, strlen(base) + 1);
	return 0;
}

int nvmehost_parse_list(const struct config *cfg, const char *text, size_t len, const char *uuid,
			char *name, size_t n)
{
	struct json_doc d = { 0 };
	char want[40];
	int rc;

	rc = want_of(uuid, want, sizeof(want));
	if (rc < 0)
		return rc;
	rc = parse_from_brace(&d, text, len);
	if (rc < 0)
		return err_prefix(rc, "nvme list");
	rc = list_walk(&d, 0, match_uuid, &(struct want_device){ cfg, want, name, n }, 0);
	json_free(&d);
	return rc;
}

typedef int (*parse_fn)(const struct config *cfg, const char *text, size_t len, const char *uuid,
			char *name, size_t n);

static int ontapdevices_adapter(const struct config *cfg, const char *text, size_t len,
				const char *uuid, char *name, size_t n)
{
	(void)cfg;
	return nvmehost_parse_ontapdevices(text, len, uuid, name, n);
}

/* Run an nvme-cli query (r initialised by the caller); a non-zero exit is POE_FAIL. */
static int run_query(const char *const *argv, struct exec_result *r)
{
	char detail[256];
	int rc = exec_run(argv, bounded(0, QUERY_TIMEOUT_MS), r);

	if (rc < 0 || r->exit_code == 0)
		return rc;
	exec_result_last_line(r, detail, sizeof(detail));
	return err_set(POE_FAIL, "'%s %s' failed (exit %d): %s", argv[0], argv[1], r->exit_code,
		       detail);
}

static int by_command(const struct config *cfg, const char *const *argv, parse_fn parse,
		      const char *uuid, char *dev, size_t n)
{
	struct exec_result r;
	char name[64];
	int rc;

	exec_result_init(&r);
	rc = run_query(argv, &r);
	if (rc == 0)
		rc = parse(cfg, buf_cstr(&r.out), r.out.len, uuid, name, sizeof(name));
	if (rc == 0)
		rc = dev_path(cfg, name, dev, n);
	exec_result_release(&r);
	return rc;
}

int nvmehost_resolve_sysfs(const struct config *cfg, const char *uuid, char *dev, size_t n)
{
	char want[40];
	int rc = want_of(uuid, want, sizeof(want));

	if (rc < 0)
		return rc;
	rc = by_sysfs(cfg, want, dev, n);
	if (rc == POE_NOTFOUND)
		return err_set(POE_NOTFOUND, "no NVMe device with namespace uuid %s under '%s'", uuid,
			       cfg->paths.sysfs);
	return rc < 0 ? rc : NVMEHOST_BY_SYSFS;
}

/* Why a fallback found nothing, for the message (rc its result); the error is cleared. */
static void why_not(int rc, char *why, size_t n)
{
	util_strlcpy(why, rc == POE_NOTFOUND ? "not listed" : err_msg(), n);
	err_clear();
}

int nvmehost_resolve(const struct config *cfg, const char *uuid, char *dev, size_t n)
{
	const char *ontapdevices[] = { nvme_path(cfg), "netapp", "ontapdevices", "-o", "json",
				       NULL };
	const char *list[] = { nvme_path(cfg), "list", "-o", "json", NULL };
	char why2[320], why3[320];
	int rc;

	rc = nvmehost_resolve_sysfs(cfg, uuid, dev, n);
	if (rc != POE_NOTFOUND)
		return rc;
	err_clear();
	/* the NetApp plugin matches the namespace path and survives odd sysfs layouts */
	rc = by_command(cfg, ontapdevices, ontapdevices_adapter, uuid, dev, n);
	if (rc == 0) {
		log_debug("namespace %s resolved through 'nvme netapp ontapdevices'", uuid);
		return NVMEHOST_BY_ONTAPDEVICES;
	}
	why_not(rc, why2, sizeof(why2));
	/* nvme-cli without the NetApp plugin */
	rc = by_command(cfg, list, nvmehost_parse_list, uuid, dev, n);
	if (rc == 0) {
		log_debug("namespace %s resolved through 'nvme list'", uuid);
		return NVMEHOST_BY_LIST;
	}
	why_not(rc, why3, sizeof(why3));
	return err_set(POE_NOTFOUND,
		       "no block device for namespace %s on this node (sysfs: not found; "
		       "ontapdevices: %s; nvme list: %s): is the node connected ('pve-ontap nvme connect')?",
		       uuid, why2, why3);
}

/* ---- device -> uuid ---- */

/* A uuid or NGUID text (dashes and whitespace ignored) as a lower-case 8-4-4-4-12 uuid. */
static bool uuid_of_text(const char *text, char uuid[NVMEHOST_UUID_LEN + 1])
{
	char hex[SYSFS_ATTR_MAX];

	/* the kernel shows an all-zero id when the namespace has none */
	if (!hex_only(text, hex, sizeof(hex)) || strlen(hex) != 32 || strspn(hex, "0") == 32)
		return false;
	snprintf(uuid, NVMEHOST_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
		 hex + 16, hex + 20);
	return true;
}

static bool json_uuid(const struct json_doc *d, int tok, char uuid[NVMEHOST_UUID_LEN + 1])
{
	char val[SYSFS_ATTR_MAX];

	if (json_type(d, tok) != JSON_STRING || json_str(d, tok, val, sizeof(val)) < 0) {
		err_clear();
		return false;
	}
	return uuid_of_text(val, uuid);
}

int nvmehost_device_uuid_sysfs(const struct config *cfg, const char *name,
			       char uuid[NVMEHOST_UUID_LEN + 1])
{
	static const char *const attrs[] = { "uuid", "nguid" };

	if (!name || !nvmehost_is_head(name))
		return err_set(POE_USAGE, "'%s' is not an NVMe namespace device", name ? name : "");
	for (int i = 0; i < 2; i++) {
		char *path = util_xasprintf("%s/class/block/%s/%s", cfg->paths.sysfs, name,
					    attrs[i]);
		char val[SYSFS_ATTR_MAX];
		bool found = false;

		if (read_small(path, val, sizeof(val)) == 0) {
			first_line(val);
			found = uuid_of_text(val, uuid);
		}
		err_clear();
		free(path);
		if (found)
			return NVMEHOST_BY_SYSFS;
	}
	return err_set(POE_NOTFOUND, "no namespace uuid of '%s' under '%s'", name,
		       cfg->paths.sysfs);
}

int nvmehost_parse_ontapdevices_uuid(const char *text, size_t len, const char *name,
				     char uuid[NVMEHOST_UUID_LEN + 1])
{
	struct json_doc d = { 0 };
	int arr, rc;

	arr = ontapdevices_array(&d, text, len);
	if (arr < 0)
		return arr;
	rc = POE_NOTFOUND;
	json_for_each(&d, arr, it) {
		char devpath[256], base[64];

		if (json_type(&d, it) != JSON_OBJECT)
			continue;
		if (json_get_str(&d, it, "Device", devpath, sizeof(devpath)) < 0 ||
		    !head_of(devpath, base, sizeof(base)) || strcmp(base, name) != 0) {
			err_clear();
			continue;
		}
		if (json_uuid(&d, json_member(&d, it, "UUID"), uuid)) {
			rc = 0;
			break;
		}
	}
	json_free(&d);
	return rc;
}

/* list_walk() the other way round: the UUID of the record naming device name. */
struct want_uuid {
	const char *name;
	char *uuid;
};

static int match_name(const struct json_doc *d, int rec, const char *base, void *arg)
{
	struct want_uuid *w = arg;

	if (strcmp(base, w->name) != 0 || !json_uuid(d, json_member(d, rec, "UUID"), w->uuid))
		return POE_NOTFOUND;
	return 0;
}

int nvmehost_parse_list_uuid(const char *text, size_t len, const char *name,
			     char uuid[NVMEHOST_UUID_LEN + 1])
{
	struct json_doc d = { 0 };
	int rc;

	rc = parse_from_brace(&d, text, len);
	if (rc < 0)
		return err_prefix(rc, "nvme list");
	rc = list_walk(&d, 0, match_name, &(struct want_uuid){ name, uuid }, 0);
	json_free(&d);
	return rc;
}

typedef int (*parse_uuid_fn)(const char *text, size_t len, const char *name,
			     char uuid[NVMEHOST_UUID_LEN + 1]);

static int uuid_by_command(const char *const *argv, parse_uuid_fn parse, const char *name,
			   char uuid[NVMEHOST_UUID_LEN + 1])
{
	struct exec_result r;
	int rc;

	exec_result_init(&r);
	rc = run_query(argv, &r);
	if (rc == 0)
		rc = parse(buf_cstr(&r.out), r.out.len, name, uuid);
	exec_result_release(&r);
	return rc;
}

int nvmehost_device_uuid(const struct config *cfg, const char *name,
			 char uuid[NVMEHOST_UUID_LEN + 1])
{
	const char *ontapdevices[] = { nvme_path(cfg), "netapp", "ontapdevices", "-o", "json",
				       NULL };
	const char *list[] = { nvme_path(cfg), "list", "-o", "json", NULL };
	char why2[320], why3[320];
	int rc;

	rc = nvmehost_device_uuid_sysfs(cfg, name, uuid);
	if (rc != POE_NOTFOUND)
		return rc;
	err_clear();
	rc = uuid_by_command(ontapdevices, nvmehost_parse_ontapdevices_uuid, name, uuid);
	if (rc == 0)
		return NVMEHOST_BY_ONTAPDEVICES;
	why_not(rc, why2, sizeof(why2));
	rc = uuid_by_command(list, nvmehost_parse_list_uuid, name, uuid);
	if (rc == 0)
		return NVMEHOST_BY_LIST;
	why_not(rc, why3, sizeof(why3));
	return err_set(POE_NOTFOUND,
		       "no namespace uuid for '%s' (sysfs: no uuid or nguid; ontapdevices: %s; "
		       "nvme list: %s)",
		       name, why2, why3);
}
