/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz.h"

#include "config/config.h"
#include "base/err.h"
#include "base/log.h"
#include "base/secret.h"

/*
 * The YAML config loader (DESIGN.md "Configuration"). password_file: paths are read
 * relative to the name's directory; run.sh runs the fuzzer with stdin from /dev/null so a
 * mutated "/dev/stdin" cannot block it.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;

	log_set_level(LOG_LVL_ERROR);
	if (config_parse_yaml("fuzz/config.yaml", (const char *)data, size, &c) == 0)
		config_free(c);
	err_clear();
	/* Secrets accumulate in the log scrubber; start each input from none. */
	secret_clear();
	return 0;
}
