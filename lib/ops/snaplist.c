/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Lists of VM snapshots as the NFS and NVMe halves build them (ops_vm.c, ops_nvme.c): one
 * record per snapshot name, disks added by whichever half finds them.
 */
#include <stdlib.h>
#include <string.h>

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
	util_strlcpy(s->name, name, sizeof(s->name));
	ops_parse_snapshot_name(name, s->label, sizeof(s->label), &s->created);
	return s;
}
