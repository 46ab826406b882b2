/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the metrics textfile and the status states (lib/sched/metrics.c,
 * lib/sched/compliance.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "sched/calendar.h"
#include "sched/compliance.h"
#include "sched/metrics.h"

static void test_format(void **state)
{
	const struct metrics_row rows[] = {
		{ .vmid = 100, .label = "hourly", .last_success = 1700000000, .runs_ok = 3,
		  .runs_failed = 1 },
		{ .vmid = 101, .label = "a\"b\\c\nd", .last_success = 0, .runs_ok = 0,
		  .runs_failed = 2 },
	};
	struct buf b = BUF_INIT(1 << 16);

	(void)state;
	assert_int_equal(metrics_format(&b, rows, 2, 5), 0);
	assert_string_equal(buf_cstr(&b),
		"# HELP pve_ontap_snapshot_last_success_timestamp_seconds Unix time of the last "
		"successful snapshot run on this node, per VM and label.\n"
		"# TYPE pve_ontap_snapshot_last_success_timestamp_seconds gauge\n"
		"pve_ontap_snapshot_last_success_timestamp_seconds{vmid=\"100\",label=\"hourly\"} "
		"1700000000\n"
		"# HELP pve_ontap_snapshot_runs_total Snapshot runs (hook and scheduled) on this "
		"node, per VM, label and result.\n"
		"# TYPE pve_ontap_snapshot_runs_total counter\n"
		"pve_ontap_snapshot_runs_total{vmid=\"100\",label=\"hourly\",result=\"ok\"} 3\n"
		"pve_ontap_snapshot_runs_total{vmid=\"100\",label=\"hourly\",result=\"failed\"} 1\n"
		"pve_ontap_snapshot_runs_total{vmid=\"101\",label=\"a\\\"b\\\\c\\nd\","
		"result=\"ok\"} 0\n"
		"pve_ontap_snapshot_runs_total{vmid=\"101\",label=\"a\\\"b\\\\c\\nd\","
		"result=\"failed\"} 2\n"
		"# HELP pve_ontap_watcher_jobs_pending Jobs in the watcher's queue not yet done.\n"
		"# TYPE pve_ontap_watcher_jobs_pending gauge\n"
		"pve_ontap_watcher_jobs_pending 5\n");
	buf_release(&b);
}

static void test_compliance(void **state)
{
	struct cal_event *hourly = NULL;
	const int64_t now = 1800000000; /* a whole hour */

	(void)state;
	setenv("TZ", "UTC", 1);
	assert_int_equal(cal_parse("hourly", &hourly, NULL, 0, NULL), 0);
	assert_int_equal(sched_compliance(false, 0, now, hourly, 0), SC_NEVER);
	assert_int_equal(sched_compliance(true, 0, now, hourly, 0), SC_FAILED);
	assert_int_equal(sched_compliance(true, now - 10, now, hourly, 0), SC_FAILED);
	/* an hour plus an hour's grace */
	assert_int_equal(sched_compliance(false, now - 7200, now, hourly, 0), SC_OK);
	assert_int_equal(sched_compliance(false, now - 7201, now, hourly, 0), SC_LATE);
	/* min_interval longer than the period: it is the interval */
	assert_int_equal(sched_compliance(false, now - 7201, now, hourly, 12 * 3600), SC_OK);
	assert_int_equal(sched_compliance(false, now - 86401, now, hourly, 12 * 3600), SC_LATE);
	/* no schedule: min_interval alone; neither: never late */
	assert_int_equal(sched_compliance(false, now - 601, now, NULL, 300), SC_LATE);
	assert_int_equal(sched_compliance(false, now - 10 * 86400, now, NULL, 0), SC_OK);
	/* a clock step backwards: the newest is "in the future", ok */
	assert_int_equal(sched_compliance(false, now + 3600, now, hourly, 0), SC_OK);
	assert_string_equal(sched_compliance_name(SC_LATE), "late");
	assert_string_equal(sched_compliance_name(SC_NEVER), "never");
	assert_string_equal(sched_compliance_name(SC_FAILED), "failed");
	assert_string_equal(sched_compliance_name(SC_OK), "ok");
	cal_free(hourly);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_compliance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
