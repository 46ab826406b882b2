/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz.h"

#include "base/err.h"
#include "host/queue.h"

/* Job files are written by hooks and read by the root watcher (DESIGN.md "Job queue"). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_job job = { 0 };

	if (queue_parse((const char *)data, size, &job) == 0)
		queue_action_name(job.action);
	err_clear();
	return 0;
}
