/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz.h"

#include "base/err.h"
#include "pve/pve.h"

/* The reader of /etc/pve/qemu-server/<vmid>.conf (reference/pve.md §7). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pve_vmconf *c = NULL;

	if (pve_vmconf_parse((const char *)data, size, 100, &c) == 0) {
		for (int i = 0; i < c->ndrives; i++)
			pve_is_drive_key(c->drives[i].key);
		pve_vmconf_free(c);
	}
	err_clear();
	return 0;
}
