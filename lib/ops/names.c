/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ops/names.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

bool ops_is_valid_label(const char *label)
{
	size_t n = strlen(label);

	if (n < 1 || n > 32)
		return false;
	for (const char *p = label; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

void ops_snapshot_name(const char *label, time_t t, char *out, size_t n)
{
	char ts[17];

	util_ts_format(t, ts);
	snprintf(out, n, "%s-%s", label, ts);
}

bool ops_parse_snapshot_name(const char *name, char *label, size_t label_n, time_t *t)
{
	const char *dash = strrchr(name, '-');
	char lbl[40];
	size_t ln;

	if (!dash || strlen(dash + 1) != 16)
		return false;
	ln = (size_t)(dash - name);
	if (ln < 1 || ln >= sizeof(lbl))
		return false;
	memcpy(lbl, name, ln);
	lbl[ln] = '\0';
	if (!ops_is_valid_label(lbl) || util_ts_parse(dash + 1, t) < 0)
		return false;
	/* a label the caller has no room for is not taken for a cut one */
	return !label || util_strlcpy(label, lbl, label_n) < label_n;
}

bool ops_parse_clone_name(const char *file, char *stem_out, size_t stem_n, char *snap_out,
			  size_t snap_n, char *ext_out, size_t ext_n)
{
	const char *dot = strrchr(file, '.');
	const char *p, *marker = NULL;
	char snap[96];
	size_t len;

	if (!dot || dot == file || !util_is_safe_name(file))
		return false;
	/* the last "-snap-" whose remainder is "<label>-<ts>" */
	for (p = strstr(file, "-snap-"); p && p < dot; p = strstr(p + 1, "-snap-"))
		marker = p;
	if (!marker)
		return false;
	len = (size_t)(dot - (marker + 6));
	if (len >= sizeof(snap))
		return false;
	memcpy(snap, marker + 6, len);
	snap[len] = '\0';
	if (!ops_parse_snapshot_name(snap, NULL, 0, &(time_t){ 0 }))
		return false;
	/* parts the caller has no room for make it no clone name of ours, never a cut one */
	if ((size_t)(marker - file) + 1 > stem_n || len + 1 > snap_n || strlen(dot + 1) + 1 > ext_n)
		return false;
	memcpy(stem_out, file, (size_t)(marker - file));
	stem_out[marker - file] = '\0';
	memcpy(snap_out, snap, len + 1);
	memcpy(ext_out, dot + 1, strlen(dot + 1) + 1);
	return true;
}

int names_clone_vmid(const char *file)
{
	static const char *const exts[] = { "raw", "qcow2", "vmdk" };
	char stem[256], snap[96], ext[16];
	const char *p;
	long vmid = 0;
	int digits = 0;
	bool ok = false;

	if (!ops_parse_clone_name(file, stem, sizeof(stem), snap, sizeof(snap), ext, sizeof(ext)))
		return -1;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		ok = ok || strcmp(ext, exts[i]) == 0;
	if (!ok)
		return -1;
	if (strncmp(stem, "vm-", 3) == 0)
		p = stem + 3;
	else if (strncmp(stem, "base-", 5) == 0)
		p = stem + 5;
	else
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (++digits > 9)
			return -1;
		vmid = vmid * 10 + (*p - '0');
	}
	/* PVE's VMID range (pve-common PVE::JSONSchema pve-vmid): 100 .. 999999999 */
	if (digits == 0 || vmid < 100 || *p != '-' || p[1] == '\0')
		return -1;
	for (p++; *p; p++)
		if (isspace((unsigned char)*p) || *p == '/')
			return -1;
	return (int)vmid;
}

/* Digits only, no leading zero (except "0"), at most 9. */
static bool take_number(const char **p, long long *out)
{
	const char *s = *p;
	long long v = 0;

	while (isdigit((unsigned char)**p) && *p - s < 9)
		v = v * 10 + (*(*p)++ - '0');
	if (*p == s || isdigit((unsigned char)**p) || (s[0] == '0' && *p - s > 1))
		return false;
	*out = v;
	return true;
}

/*
 * "<prefix>vm_<vmid>_disk_<n>" (disk) or "<prefix>vm_<vmid>_disk_<n>_clone_<suffix>"
 * (recovery clone). false for every other name.
 */
bool names_nvme_volume(const char *prefix, const char *name, int *vmid, int *disk, bool *clone)
{
	const char *p = name;
	long long v, d;
	size_t pl = strlen(prefix);

	if (strncmp(p, prefix, pl) != 0)
		return false;
	p += pl;
	if (strncmp(p, "vm_", 3) != 0)
		return false;
	p += 3;
	if (!take_number(&p, &v) || strncmp(p, "_disk_", 6) != 0)
		return false;
	p += 6;
	if (!take_number(&p, &d))
		return false;
	*vmid = (int)v;
	*disk = (int)d;
	*clone = false;
	if (*p == '\0')
		return true;
	if (strncmp(p, "_clone_", 7) != 0 || p[7] == '\0')
		return false;
	*clone = true;
	return true;
}

int names_nvme_ns_vmid(const char *ns_name, const char *prefix)
{
	char vol[256];
	const char *p, *slash;
	int vmid, disk;
	bool clone;

	if (strncmp(ns_name, "/vol/", 5) != 0)
		return -1;
	p = ns_name + 5;
	slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) >= sizeof(vol) || slash[1] == '\0' || strchr(slash + 1, '/'))
		return -1;
	memcpy(vol, p, (size_t)(slash - p));
	vol[slash - p] = '\0';
	if (!names_nvme_volume(prefix ? prefix : "", vol, &vmid, &disk, &clone) || clone ||
	    vmid < 100)
		return -1;
	return vmid;
}

bool names_nvme_cg(const char *prefix, const char *name, int *vmid)
{
	const char *p = name;
	size_t pl = strlen(prefix);
	long long v;

	if (strncmp(p, prefix, pl) != 0 || strncmp(p + pl, "cg_vm_", 6) != 0)
		return false;
	p += pl + 6;
	if (!take_number(&p, &v) || *p != '\0')
		return false;
	*vmid = (int)v;
	return true;
}
