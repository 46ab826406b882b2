/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz.h"

#include <stdlib.h>

#include "base/buf.h"
#include "base/err.h"
#include "format/json.h"
#include "base/log.h"
#include "policy.h"

/*
 * The policy loader (DESIGN.md "Policies (contract)"), and what is done with a policy it
 * accepts: the phase lookup of the hook and both writers of "policy show".
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf errors = BUF_INIT(1 << 20);
	struct buf out = BUF_INIT(1 << 20);
	struct policy *p = NULL;
	struct json_writer w;
	int idx[POLICY_MAX_RULES];

	log_set_level(LOG_LVL_ERROR);
	if (policy_parse("fuzz/100.yaml", (const char *)data, size, &p, &errors) < 0)
		goto out;
	for (unsigned ph = 1; ph && policy_phase_name(ph); ph <<= 1)
		policy_rules_for_phase(p, ph, idx);
	policy_blocks_start(p);
	policy_write_yaml(p, 1796212800, &out); /* 2026-12-02 12:00 UTC */
	buf_reset(&out);
	jw_init(&w, &out, 1);
	policy_write_json(p, 1796212800, &w, NULL);
	jw_finish(&w);
out:
	policy_free(p);
	buf_release(&out);
	buf_release(&errors);
	err_clear();
	return 0;
}
