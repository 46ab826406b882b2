/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Local reader of the PVE files pve-ontap needs: a VM's config
 * (/etc/pve/qemu-server/<vmid>.conf) and /etc/pve/storage.cfg (reference/pve.md §6-8).
 * Both come from pmxcfs, are written by PVE and read by us as untrusted text: every line
 * is bounded, unknown keys are ignored, and files larger than 1 MiB are refused.
 */
#include "pve/pve.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

/* pmxcfs refuses files above 1 MiB; anything bigger is not a PVE file. */
#define PVE_FILE_MAX (1024 * 1024)
#define PVE_VMID_MIN 100
#define PVE_VMID_MAX 999999999

/* ---- small helpers ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim leading and trailing blanks (and a stray '\r') in place; returns the new start. */
static char *trim(char *s)
{
	size_t n;

	while (is_blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && (is_blank(s[n - 1]) || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* PVE's boolean property values. */
static bool parse_pve_bool(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "true")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "0") || !strcasecmp(v, "off") || !strcasecmp(v, "no") ||
	    !strcasecmp(v, "false")) {
		*out = false;
		return true;
	}
	return false;
}

/* "<prefix><n>" with n a decimal number without leading zeros in [0, max]. */
static bool key_is_numbered(const char *key, const char *prefix, int max)
{
	size_t pl = strlen(prefix);
	const char *p = key + pl;
	long n = 0;

	if (strncmp(key, prefix, pl) != 0 || *p == '\0')
		return false;
	if (p[0] == '0' && p[1] != '\0')
		return false;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		n = n * 10 + (*p - '0');
		if (n > max)
			return false;
	}
	return true;
}

bool pve_is_drive_key(const char *key)
{
	if (!key)
		return false;
	return key_is_numbered(key, "scsi", 30) || key_is_numbered(key, "virtio", 15) ||
	       key_is_numbered(key, "sata", 5) || key_is_numbered(key, "ide", 3) ||
	       key_is_numbered(key, "unused", 255) || !strcmp(key, "efidisk0") ||
	       !strcmp(key, "tpmstate0");
}

/* ---- VM config ---- */

static void drive_release(struct pve_drive *d)
{
	free(d->volid);
	free(d->storage);
	free(d->volume);
	free(d->options);
	memset(d, 0, sizeof(*d));
}

void pve_vmconf_free(struct pve_vmconf *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->ndrives; i++)
		drive_release(&c->drives[i]);
	free(c->drives);
	free(c->path);
	free(c->lock);
	free(c->hookscript);
	free(c->name);
	free(c);
}

/* Does the volume's file name start with "vm-<digits>-cloudinit"? */
static bool is_cloudinit_volume(const char *volume)
{
	const char *base = strrchr(volume, '/');
	const char *p;

	base = base ? base + 1 : volume;
	if (strncmp(base, "vm-", 3) != 0)
		return false;
	p = base + 3;
	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	return strncmp(p, "-cloudinit", 10) == 0;
}

/* ---- volume names (PVE/Storage/Plugin.pm) ---- */

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Perl's \s on a byte string, and what we refuse besides (see pve.h). */
static bool name_byte_bad(unsigned char c)
{
	return c == '/' || c == ' ' || c <= 0x1f || c >= 0x7f;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/*
 * parse_name_dir: (vm-|base-|subvol-)<digits>-<rest>.<fmt>, else not snap-*.qcow2, else
 * (base-)?<rest>.<fmt>; <rest> one byte at least. Returns false with why set.
 */
static bool name_dir_parse(const char *s, size_t n, struct pve_volname *out)
{
	static const char *const fmts[] = { "raw", "qcow2", "vmdk", "subvol" };
	const char *fmt = NULL;
	size_t stem;

	for (size_t i = 0; i < n; i++) {
		if (name_byte_bad((unsigned char)s[i])) {
			snprintf(out->why, sizeof(out->why), "a '/', a blank or a control byte in the file name");
			return false;
		}
	}
	for (int i = 0; i < 4 && !fmt; i++) {
		char ext[9];

		snprintf(ext, sizeof(ext), ".%s", fmts[i]);
		if (ends_with(s, n, ext))
			fmt = fmts[i];
	}
	stem = fmt ? n - strlen(fmt) - 1 : 0;
	if (!fmt || stem == 0) {
		snprintf(out->why, sizeof(out->why), "not a .raw, .qcow2, .vmdk or .subvol file name");
		return false;
	}
	if (n >= 5 && !strncmp(s, "snap-", 5) && !strcmp(fmt, "qcow2")) {
		snprintf(out->why, sizeof(out->why), "'snap-*.qcow2' is a snapshot file name, not a volume");
		return false;
	}
	if (n >= sizeof(out->name)) {
		snprintf(out->why, sizeof(out->why), "file name longer than %zu bytes", sizeof(out->name) - 1);
		return false;
	}
	memcpy(out->name, s, n);
	out->name[n] = '\0';
	util_strlcpy(out->format, fmt, sizeof(out->format)); /* one of fmts: fits */
	/* "(base-)?[^/\s]+": "base-.raw" is a name, but not a base image */
	out->is_base = stem > 5 && !strncmp(s, "base-", 5);
	return true;
}

static enum pve_vtype vol_invalid(struct pve_volname *out, const char *why)
{
	out->vtype = PVE_VOL_INVALID;
	if (why)
		util_strlcpy(out->why, why, sizeof(out->why));
	return PVE_VOL_INVALID;
}

/* The other content types of parse_volname: <dir>/<one component> (not disk images). */
static bool is_other_content(const char *v)
{
	static const char *const dirs[] = { "iso/", "vztmpl/", "backup/", "snippets/", "import/" };

	for (int i = 0; i < 5; i++) {
		size_t k = strlen(dirs[i]);

		if (!strncmp(v, dirs[i], k) && v[k] && !strchr(v + k, '/'))
			return true;
	}
	return false;
}

enum pve_vtype pve_volname_parse(const char *v, struct pve_volname *out)
{
	const char *comp[5];
	size_t len[5];
	int n = 0;

	memset(out, 0, sizeof(*out));
	if (!v || !*v)
		return vol_invalid(out, "empty volume name");
	/* split at '/': "<vmid>/<name>" or "<vmid>/<base>/<vmid>/<name>" (\S+ each) */
	for (const char *p = v;;) {
		const char *slash = strchr(p, '/');

		if (n == 5)
			break;
		comp[n] = p;
		len[n++] = slash ? (size_t)(slash - p) : strlen(p);
		if (!slash)
			break;
		p = slash + 1;
	}
	if (n != 2 && n != 4) {
		if (is_other_content(v))
			return out->vtype = PVE_VOL_OTHER;
		return vol_invalid(out, "not <vmid>/<file> nor a linked clone <vmid>/<base>/<vmid>/<file>");
	}
	if (!all_digits(comp[0], len[0])) {
		if (n == 2 && is_other_content(v))
			return out->vtype = PVE_VOL_OTHER;
		return vol_invalid(out, "the owner directory is not a VMID");
	}
	if (n == 4) {
		struct pve_volname base;

		memset(&base, 0, sizeof(base));
		if (!all_digits(comp[2], len[2]))
			return vol_invalid(out, "the owner directory is not a VMID");
		if (!name_dir_parse(comp[1], len[1], &base))
			return vol_invalid(out, base.why);
	}
	if (len[n - 2] >= sizeof(out->owner))
		return vol_invalid(out, "the owner VMID is too long");
	if (!name_dir_parse(comp[n - 1], len[n - 1], out))
		return vol_invalid(out, NULL);
	memcpy(out->owner, comp[n - 2], len[n - 2]);
	out->owner[len[n - 2]] = '\0';
	return out->vtype = PVE_VOL_IMAGES;
}

/*
 * Split a volume id at the first ':' after a valid storage id (a ':' inside the file name
 * stays in the volume). Absolute paths and special values keep storage/volume NULL.
 */
static void drive_split_volid(struct pve_drive *d)
{
	const char *colon;

	if (d->volid[0] == '/')
		return;
	colon = strchr(d->volid, ':');
	/* parse_volume_id: [a-z][a-z0-9\-_.]*[a-z0-9], so two characters at least */
	if (!colon || colon - d->volid < 2 ||
	    !util_is_storage_id(d->volid, (size_t)(colon - d->volid)) || colon[1] == '\0')
		return;
	d->storage = util_xmalloc((size_t)(colon - d->volid) + 1);
	memcpy(d->storage, d->volid, (size_t)(colon - d->volid));
	d->storage[colon - d->volid] = '\0';
	d->volume = util_xstrdup(colon + 1);
}

/*
 * Parse a drive property string "[file=]<volid>[,key=value...]" (qemu-server Drive.pm).
 * The volume is the element without '=' (PVE's default key) or "file=..."; all other
 * elements are kept, in order, in options.
 */
static int drive_parse(struct pve_drive *d, const char *key, const char *value)
{
	char *copy = util_xstrdup(value);
	struct buf opts = BUF_INIT(PVE_FILE_MAX);
	char *save = NULL;
	int rc = 0;

	memset(d, 0, sizeof(*d));
	util_strlcpy(d->key, key, sizeof(d->key)); /* a drive key (pve_is_drive_key): fits */
	d->is_unused = !strncmp(key, "unused", 6);

	for (char *el = strtok_r(copy, ",", &save); el; el = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(el, '=');
		bool b;

		if (!d->volid && (!eq || !strncmp(el, "file=", 5))) {
			d->volid = util_xstrdup(eq ? el + 5 : el);
			continue;
		}
		if (eq) {
			*eq = '\0';
			if (!strcmp(el, "media") && !strcmp(eq + 1, "cdrom"))
				d->is_cdrom = true;
			else if (!strcmp(el, "backup") && parse_pve_bool(eq + 1, &b) && !b)
				d->backup_off = true;
			*eq = '=';
		}
		if ((opts.len && buf_putc(&opts, ',') < 0) || buf_puts(&opts, el) < 0) {
			rc = POE_FAIL;
			goto out;
		}
	}
	if (!d->volid || !d->volid[0]) {
		rc = err_set(POE_FAIL, "drive '%s' has no volume", key);
		goto out;
	}
	d->options = opts.data ? buf_detach(&opts) : util_xstrdup("");
	if (!strcmp(d->volid, "cdrom") || !strcmp(d->volid, "none")) {
		d->is_cdrom = true;
		goto out;
	}
	drive_split_volid(d);
	if (d->volume && is_cloudinit_volume(d->volume))
		d->is_cdrom = true;
out:
	if (rc < 0)
		drive_release(d);
	buf_release(&opts);
	free(copy);
	return rc;
}

/* "agent: 1", "agent: enabled=1,fstrim_cloned_disks=1", "agent: 0,type=virtio" */
static bool agent_enabled(const char *value)
{
	char *copy = util_xstrdup(value);
	char *save = NULL;
	bool on = false;

	for (char *el = strtok_r(copy, ",", &save); el; el = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(el, '=');
		const char *v = NULL;

		if (!eq)
			v = el;
		else if (!strncmp(el, "enabled=", 8))
			v = eq + 1;
		if (v) {
			bool b = false;

			on = parse_pve_bool(v, &b) && b;
			break;
		}
	}
	free(copy);
	return on;
}

static void replace_str(char **dst, const char *v)
{
	free(*dst);
	*dst = util_xstrdup(v);
}

static int vmconf_add_drive(struct pve_vmconf *c, const char *key, const char *value)
{
	struct pve_drive d;
	int rc;

	rc = drive_parse(&d, key, value);
	if (rc < 0)
		return rc;
	/* A key appears once in a section; should it repeat, the last one wins as in PVE. */
	for (int i = 0; i < c->ndrives; i++) {
		if (!strcmp(c->drives[i].key, key)) {
			drive_release(&c->drives[i]);
			c->drives[i] = d;
			return 0;
		}
	}
	c->drives = util_xrealloc(c->drives, (size_t)(c->ndrives + 1) * sizeof(*c->drives));
	c->drives[c->ndrives++] = d;
	return 0;
}

/* One "key: value" line of the current section. Lines PVE would not parse are skipped. */
static int vmconf_line(struct pve_vmconf *c, char *line)
{
	char *colon = strchr(line, ':');
	char *key = line;
	char *value;
	int rc;

	if (!colon)
		return 0;
	*colon = '\0';
	value = trim(colon + 1);
	/* PVE's key syntax: [a-z][a-z_-]*\d* */
	if (!islower((unsigned char)key[0]))
		return 0;
	for (const char *p = key; *p; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' &&
		    *p != '-')
			return 0;

	if (pve_is_drive_key(key)) {
		if (!*value)
			return 0;
		rc = vmconf_add_drive(c, key, value);
		if (rc < 0)
			return err_prefix(rc, "invalid drive '%s' in config of VM %d", key,
					  c->vmid);
	} else if (!strcmp(key, "lock")) {
		replace_str(&c->lock, value);
	} else if (!strcmp(key, "agent")) {
		c->agent = agent_enabled(value);
	} else if (!strcmp(key, "hookscript")) {
		replace_str(&c->hookscript, value);
	} else if (!strcmp(key, "name")) {
		replace_str(&c->name, value);
	}
	return 0;
}

int pve_vmconf_parse(const char *text, size_t len, int vmid, struct pve_vmconf **out)
{
	struct pve_vmconf *c = util_xcalloc(1, sizeof(*c));
	char *copy = NULL;
	char *save = NULL;
	int rc = 0;

	*out = NULL;
	c->vmid = vmid;
	if (len > PVE_FILE_MAX) {
		rc = err_set(POE_FAIL, "config of VM %d is larger than %d bytes", vmid,
			     PVE_FILE_MAX);
		goto out;
	}
	if (memchr(text, '\0', len)) {
		rc = err_set(POE_FAIL, "config of VM %d contains a NUL byte", vmid);
		goto out;
	}
	copy = util_xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* The description is stored as leading '#' lines; skip them wherever they are. */
		if (line[0] == '#')
			continue;
		/* Snapshots, [PENDING] and [special:cloudinit] follow the live config. */
		if (line[0] == '[')
			break;
		line = trim(line);
		if (!*line)
			continue;
		rc = vmconf_line(c, line);
		if (rc < 0)
			goto out;
	}
	*out = c;
	c = NULL;
out:
	free(copy);
	pve_vmconf_free(c);
	return rc;
}

static int vmconf_load_file(const char *path, int vmid, const char *node, struct pve_vmconf **out)
{
	struct buf b = BUF_INIT(PVE_FILE_MAX);
	int rc;

	rc = buf_read_file(&b, path);
	if (rc < 0)
		goto out;
	rc = pve_vmconf_parse(b.data ? b.data : "", b.len, vmid, out);
	if (rc < 0) {
		rc = err_prefix(rc, "%s", path);
		goto out;
	}
	(*out)->path = util_xstrdup(path);
	rc = util_strcpy((*out)->node, node, sizeof((*out)->node), "node name");
	if (rc < 0) {
		pve_vmconf_free(*out);
		*out = NULL;
	}
out:
	buf_release(&b);
	return rc;
}

int pve_local_node(const char *pve_etc, char *out, size_t n)
{
	static const char *const links[] = { "local", "qemu-server" };
	char target[512];

	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		char *path = util_xasprintf("%s/%s", pve_etc, links[i]);
		ssize_t len = readlink(path, target, sizeof(target) - 1);
		size_t nl;

		free(path);
		if (len <= 0 || (size_t)len >= sizeof(target) - 1)
			continue;
		target[len] = '\0';
		if (strncmp(target, "nodes/", 6) != 0)
			continue;
		nl = strcspn(target + 6, "/");
		if (nl == 0 || nl >= n)
			continue;
		memcpy(out, target + 6, nl);
		out[nl] = '\0';
		if (util_is_safe_name(out))
			return 0;
	}
	return POE_NOTFOUND;
}

int pve_vmconf_load(const char *pve_etc, int vmid, struct pve_vmconf **out)
{
	char *path = NULL;
	char *nodes = NULL;
	DIR *dir = NULL;
	struct dirent *de;
	char local[64];
	int rc;

	*out = NULL;
	if (vmid < PVE_VMID_MIN || vmid > PVE_VMID_MAX)
		return err_set(POE_USAGE, "invalid VM id %d", vmid);

	/* The local node's VMs, through pmxcfs's qemu-server -> nodes/<local>/qemu-server;
	 * the link names the node, so no API call is needed to learn it */
	path = util_xasprintf("%s/qemu-server/%d.conf", pve_etc, vmid);
	rc = vmconf_load_file(path, vmid, pve_local_node(pve_etc, local, sizeof(local)) == 0 ?
					  local : "", out);
	if (rc != POE_NOTFOUND)
		goto out;

	/* A VM of another cluster node. */
	nodes = util_xasprintf("%s/nodes", pve_etc);
	dir = opendir(nodes);
	if (!dir) {
		rc = err_set(POE_NOTFOUND, "VM %d not found: no config in '%s/qemu-server'", vmid,
			     pve_etc);
		goto out;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' || !util_is_safe_name(de->d_name) ||
		    strlen(de->d_name) >= sizeof((*out)->node))
			continue;
		free(path);
		path = util_xasprintf("%s/%s/qemu-server/%d.conf", nodes, de->d_name, vmid);
		rc = vmconf_load_file(path, vmid, de->d_name, out);
		if (rc != POE_NOTFOUND)
			goto out;
	}
	rc = err_set(POE_NOTFOUND, "VM %d not found: no config in '%s' or '%s/*/qemu-server'",
		     vmid, pve_etc, nodes);
out:
	if (dir)
		closedir(dir);
	free(nodes);
	free(path);
	return rc;
}

bool pve_vm_is_local(const char *pve_etc, int vmid)
{
	char *path = util_xasprintf("%s/qemu-server/%d.conf", pve_etc, vmid);
	struct stat st;
	bool local = stat(path, &st) == 0 && S_ISREG(st.st_mode);

	free(path);
	return local;
}

/* ---- storage.cfg ---- */

void pve_storage_release(struct pve_storage *st)
{
	if (!st)
		return;
	free(st->id);
	free(st->type);
	free(st->server);
	free(st->export_path);
	free(st->path);
	free(st->options);
	free(st->content);
	free(st->nodes);
	memset(st, 0, sizeof(*st));
}

void pve_storagecfg_free(struct pve_storagecfg *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++)
		pve_storage_release(&s->st[i]);
	free(s->st);
	free(s);
}

const struct pve_storage *pve_storagecfg_find(const struct pve_storagecfg *s, const char *id)
{
	if (!s || !id)
		return NULL;
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->st[i].id, id))
			return &s->st[i];
	return NULL;
}

/* "<type>: <id>" (pve-common SectionConfig: ^(\S+):\s*(\S+)\s*$). */
static bool parse_section_header(char *line, char **type, char **id)
{
	char *colon = strchr(line, ':');
	char *v;

	if (!colon || colon == line)
		return false;
	for (char *p = line; p < colon; p++)
		if (isspace((unsigned char)*p))
			return false;
	*colon = '\0';
	v = trim(colon + 1);
	if (!*v)
		return false;
	for (char *p = v; *p; p++)
		if (isspace((unsigned char)*p))
			return false;
	*type = line;
	*id = v;
	return true;
}

static void storage_set(struct pve_storage *st, const char *key, const char *value)
{
	char **dst = NULL;

	if (!strcmp(key, "server"))
		dst = &st->server;
	else if (!strcmp(key, "export"))
		dst = &st->export_path;
	else if (!strcmp(key, "path"))
		dst = &st->path;
	else if (!strcmp(key, "options"))
		dst = &st->options;
	else if (!strcmp(key, "content"))
		dst = &st->content;
	else if (!strcmp(key, "nodes"))
		dst = &st->nodes;

	if (dst) {
		replace_str(dst, value);
	} else if (!strcmp(key, "disable")) {
		bool b = true;

		/* A flag: written bare when set; "disable 0" is read as off. */
		if (*value && !parse_pve_bool(value, &b))
			b = true;
		st->disabled = b;
	}
	/* Every other property (prune-backups, format, ...) is of no use to us. */
}

int pve_storagecfg_parse(const char *text, size_t len, const char *mnt,
			 struct pve_storagecfg **out)
{
	struct pve_storagecfg *s = util_xcalloc(1, sizeof(*s));
	struct pve_storage *cur = NULL;
	bool skipping = false;
	char *copy = NULL;
	char *p, *next;
	int lineno = 0;
	int rc = 0;

	*out = NULL;
	if (len > PVE_FILE_MAX) {
		rc = err_set(POE_FAIL, "storage.cfg is larger than %d bytes", PVE_FILE_MAX);
		goto out;
	}
	if (memchr(text, '\0', len)) {
		rc = err_set(POE_FAIL, "storage.cfg contains a NUL byte");
		goto out;
	}
	copy = util_xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';

	/* Lines by hand: blank lines matter (they end a section), strtok would swallow them. */
	for (p = copy; p; p = next) {
		char *line;

		next = strchr(p, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line = p;
		if (trim(line)[0] == '\0') {
			cur = NULL;
			skipping = false;
			continue;
		}
		if (trim(line)[0] == '#')
			continue;
		if (!is_blank(line[0])) {
			char *type, *id;

			cur = NULL;
			skipping = true;
			line = trim(line);
			if (!parse_section_header(line, &type, &id)) {
				log_warn("storage.cfg:%d: cannot parse section header", lineno);
				continue;
			}
			if (!util_is_storage_id(id, strlen(id))) {
				log_warn("storage.cfg:%d: invalid storage id '%s'", lineno, id);
				continue;
			}
			if (pve_storagecfg_find(s, id)) {
				log_warn("storage.cfg:%d: duplicate storage '%s' ignored", lineno,
					 id);
				continue;
			}
			s->st = util_xrealloc(s->st, (size_t)(s->n + 1) * sizeof(*s->st));
			cur = &s->st[s->n++];
			memset(cur, 0, sizeof(*cur));
			cur->id = util_xstrdup(id);
			cur->type = util_xstrdup(type);
			skipping = false;
			continue;
		}
		if (!cur) {
			if (!skipping)
				log_warn("storage.cfg:%d: property outside a section ignored",
					 lineno);
			continue;
		}
		{
			char *key = trim(line);
			char *v = key;

			while (*v && !is_blank(*v))
				v++;
			if (*v)
				*v++ = '\0';
			storage_set(cur, key, trim(v));
		}
	}

	for (int i = 0; i < s->n; i++) {
		struct pve_storage *st = &s->st[i];

		/* NFSPlugin: the mount point defaults to /mnt/pve/<storage id>. */
		if (!st->path && !strcmp(st->type, "nfs") && mnt)
			st->path = util_xasprintf("%s/%s", mnt, st->id);
	}
	*out = s;
	s = NULL;
out:
	free(copy);
	pve_storagecfg_free(s);
	return rc;
}

int pve_storagecfg_load(const char *pve_etc, const char *mnt, struct pve_storagecfg **out)
{
	struct buf b = BUF_INIT(PVE_FILE_MAX);
	char *path = util_xasprintf("%s/storage.cfg", pve_etc);
	int rc;

	*out = NULL;
	rc = buf_read_file(&b, path);
	if (rc < 0)
		goto out;
	rc = pve_storagecfg_parse(b.data ? b.data : "", b.len, mnt, out);
	if (rc < 0)
		rc = err_prefix(rc, "%s", path);
out:
	buf_release(&b);
	free(path);
	return rc;
}
