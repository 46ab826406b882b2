/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz.h"

#include "base/err.h"
#include "pve/pve.h"

/* The reader of /etc/pve/storage.cfg (reference/pve.md §8). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pve_storagecfg *s = NULL;

	if (pve_storagecfg_parse((const char *)data, size, "/mnt/pve", &s) == 0) {
		for (int i = 0; i < s->n; i++)
			pve_storagecfg_find(s, s->st[i].id);
		pve_storagecfg_find(s, "ONTAP01");
		pve_storagecfg_free(s);
	}
	err_clear();
	return 0;
}
