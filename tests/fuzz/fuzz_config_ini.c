/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz.h"

#include "config/config.h"
#include "base/err.h"
#include "base/log.h"
#include "base/secret.h"

/* The .ini reader for pve-ontap-snapshot.py configs (DESIGN.md "Configuration"). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;

	log_set_level(LOG_LVL_ERROR);
	if (config_parse_ini("fuzz/pve-ontap-snapshot.ini", (const char *)data, size, &c) == 0)
		config_free(c);
	err_clear();
	/* Secrets accumulate in the log scrubber; start each input from none. */
	secret_clear();
	return 0;
}
