/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_SCHED_COMPLIANCE_H
#define PVE_ONTAP_SCHED_COMPLIANCE_H

#include <stdbool.h>
#include <stdint.h>

struct cal_event;

/* One rule's state in `status` (DESIGN.md "Command line", status). */
enum sched_compliance { SC_OK = 0, SC_LATE, SC_FAILED, SC_NEVER };

/* "ok", "late", "failed", "never" */
const char *sched_compliance_name(enum sched_compliance c);

/*
 * failed: the last run on this node failed (run state). newest: creation time of the newest
 * snapshot with the rule's label, 0 when there is none. cal (may be NULL) and
 * min_interval_s (0: none) are the rule's. The expected interval is the schedule's period
 * (cal_period() at now) or min_interval, the larger when both are set; late means the newest
 * is older than that plus one period's grace (the interval again). A rule with neither is
 * never late. failed wins over never, never over late.
 */
enum sched_compliance sched_compliance(bool failed, int64_t newest, int64_t now,
				       const struct cal_event *cal, int64_t min_interval_s);

/* The expected interval as above, 0 when there is none. */
int64_t sched_expected_interval(const struct cal_event *cal, int64_t min_interval_s, int64_t now);

#endif
