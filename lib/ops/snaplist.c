/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Lists of VM snapshots as the NFS and NVMe halves build them (ops_vm.c, ops_nvme.c): one
 * record per snapshot name, disks added by whichever half finds them.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/util.h"
#include "ops/ops.h"
#include "ops/ops_internal.h"

struct vm_snapshot *ops_snapshot_find_or_add(struct vm_snapshot **arr, int *n, const char *name)
{
	struct vm_snapshot *s;

	for (int i = 0; i < *n; i++)
		if (!strcmp((*arr)[i].name, name))
			return &(*arr)[i];
	/* capacity is the next power of two of *n: the array doubles, never grows by one */
	if (*n == 0 || (*n & (*n - 1)) == 0)
		*arr = util_xrealloc(*arr, (size_t)(*n ? 2 * *n : 1) * sizeof(**arr));
	s = &(*arr)[(*n)++];
	memset(s, 0, sizeof(*s));
	util_strlcpy(s->name, name, sizeof(s->name)); /* a valid snapshot name (caller): fits */
	ops_parse_snapshot_name(name, s->label, sizeof(s->label), &s->created);
	return s;
}

/* Room for one more of *n items of size sz in *arr (capacity *cap, doubled when full). */
static int grow(void **arr, int *cap, int n, size_t sz, const char *what)
{
	void *p;
	int ncap;

	if (n < *cap)
		return 0;
	if (*cap > INT_MAX / 2)
		return err_set(POE_FAIL, "too many %s in one snapshot", what);
	ncap = *cap ? 2 * *cap : 4;
	p = realloc(*arr, (size_t)ncap * sz);
	if (!p)
		return err_set(POE_FAIL, "out of memory for %d %s of a snapshot", ncap, what);
	*arr = p;
	*cap = ncap;
	return 0;
}

int vm_snapshot_add_disk(struct vm_snapshot *s, const char *disk, const char *kind,
			 const char *storage, const char *path)
{
	struct vm_snapshot_disk *sd;
	void *arr = s->disks;
	int rc = grow(&arr, &s->cap_disks, s->ndisks, sizeof(*s->disks), "disks");

	s->disks = arr;
	if (rc < 0)
		return rc;
	sd = &s->disks[s->ndisks];
	if (util_strcpy(sd->disk, disk, sizeof(sd->disk), "disk key") < 0 ||
	    util_strcpy(sd->kind, kind, sizeof(sd->kind), "disk kind") < 0 ||
	    util_strcpy(sd->storage, storage, sizeof(sd->storage), "storage id") < 0 ||
	    util_strcpy(sd->path, path, sizeof(sd->path), "snapshot path") < 0)
		return POE_FAIL;
	s->ndisks++;
	return 0;
}

int vm_snapshot_add_missing(struct vm_snapshot *s, const char *key)
{
	void *arr = s->missing;
	int rc = grow(&arr, &s->cap_missing, s->nmissing, sizeof(*s->missing), "missing disks");

	s->missing = arr;
	if (rc < 0)
		return rc;
	if (util_strcpy(s->missing[s->nmissing], key, sizeof(s->missing[0]), "disk key") < 0)
		return POE_FAIL;
	s->nmissing++;
	return 0;
}

void vm_snapshot_clear(struct vm_snapshot *s)
{
	free(s->disks);
	free(s->missing);
	memset(s, 0, sizeof(*s));
}

void vm_snapshot_move(struct vm_snapshot *dst, struct vm_snapshot *src)
{
	if (dst == src)
		return;
	vm_snapshot_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

void ops_vm_snapshot_list_free(struct vm_snapshot *list, int n)
{
	for (int i = 0; list && i < n; i++)
		vm_snapshot_clear(&list[i]);
	free(list);
}
