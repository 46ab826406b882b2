/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ok / late / failed / never of `status` (compliance.h). */
#include "sched/compliance.h"

#include "sched/calendar.h"

const char *sched_compliance_name(enum sched_compliance c)
{
	switch (c) {
	case SC_LATE:
		return "late";
	case SC_FAILED:
		return "failed";
	case SC_NEVER:
		return "never";
	default:
		return "ok";
	}
}

int64_t sched_expected_interval(const struct cal_event *cal, int64_t min_interval_s, int64_t now)
{
	int64_t period = cal ? cal_period(cal, now) : -1;
	int64_t want = period > 0 ? period : 0;

	if (min_interval_s > want)
		want = min_interval_s;
	return want;
}

enum sched_compliance sched_compliance(bool failed, int64_t newest, int64_t now,
				       const struct cal_event *cal, int64_t min_interval_s)
{
	int64_t want;

	if (failed)
		return SC_FAILED;
	if (newest <= 0)
		return SC_NEVER;
	want = sched_expected_interval(cal, min_interval_s, now);
	/* the interval plus one interval's grace; a clock step backwards makes age < 0: ok */
	if (want > 0 && now - newest > 2 * want)
		return SC_LATE;
	return SC_OK;
}
