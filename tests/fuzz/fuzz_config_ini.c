/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz.h"

#include "config.h"
#include "err.h"
#include "log.h"

/* The .ini reader for pve-ontap-snapshot.py configs (DESIGN.md "Configuration"). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;

	log_set_level(LOG_LVL_ERROR);
	if (config_parse_ini("fuzz/pve-ontap-snapshot.ini", (const char *)data, size, &c) == 0)
		config_free(c);
	err_clear();
	/* Secrets accumulate in the log scrubber; start each input from none. */
	log_clear_secrets();
	return 0;
}
