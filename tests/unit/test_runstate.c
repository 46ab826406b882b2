/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the run state files (lib/sched/runstate.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/err.h"
#include "sched/runstate.h"
#include "testutil.h"

static char *file_text(const char *dir, const char *name)
{
	char *path = util_xasprintf("%s/runs/%s", dir, name);
	struct buf b = BUF_INIT(1 << 16);

	assert_int_equal(buf_read_file(&b, path), 0);
	free(path);
	return buf_detach(&b);
}

static void test_missing_is_never(void **state)
{
	char *dir = testutil_mkdtemp("test_runstate");
	struct run_state st;

	(void)state;
	assert_int_equal(run_state_load(dir, 100, "daily", &st), 0);
	assert_int_equal(st.last_run, 0);
	assert_false(st.failed);
	assert_int_equal(st.slot, 0);
	testutil_rm_rf(dir);
	free(dir);
}

static void test_record_failure_then_success(void **state)
{
	char *dir = testutil_mkdtemp("test_runstate");
	struct run_state st;
	struct stat sb;
	char *path, *text;

	(void)state;
	assert_int_equal(run_state_record(dir, 100, "hourly", 1000, false, "cannot\nclone", 960),
			 0);
	text = file_text(dir, "100-hourly.state");
	assert_string_equal(text, "last_run=1000\nresult=failed\ncause=cannot clone\n"
				  "last_success=0\nslot=960\nruns_ok=0\nruns_failed=1\n");
	free(text);
	path = util_xasprintf("%s/runs/100-hourly.state", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(path);
	/* slot 0 keeps the last one */
	assert_int_equal(run_state_record(dir, 100, "hourly", 2000, true, "ignored", 0), 0);
	assert_int_equal(run_state_load(dir, 100, "hourly", &st), 0);
	assert_false(st.failed);
	assert_string_equal(st.cause, "");
	assert_int_equal(st.last_success, 2000);
	assert_int_equal(st.slot, 960);
	assert_int_equal(st.runs_ok, 1);
	assert_int_equal(st.runs_failed, 1);
	testutil_rm_rf(dir);
	free(dir);
}

static void test_malformed_is_an_error_and_replaced(void **state)
{
	char *dir = testutil_mkdtemp("test_runstate");
	char *runs = util_xasprintf("%s/runs", dir);
	char *path = util_xasprintf("%s/100-x.state", runs);
	struct run_state st;
	FILE *f;

	(void)state;
	assert_int_equal(util_mkdir_p(runs, 0700), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("last_run=abc\n", f);
	fclose(f);
	assert_int_equal(run_state_load(dir, 100, "x", &st), POE_FAIL);
	assert_int_equal(st.last_run, 0);
	assert_int_equal(run_state_record(dir, 100, "x", 5, true, NULL, 0), 0);
	assert_int_equal(run_state_load(dir, 100, "x", &st), 0);
	assert_int_equal(st.runs_ok, 1);
	testutil_rm_rf(dir);
	free(path);
	free(runs);
	free(dir);
}

static void test_long_cause_is_marked(void **state)
{
	char *dir = testutil_mkdtemp("test_runstate");
	char cause[3000];
	struct run_state st;

	(void)state;
	memset(cause, 'a', sizeof(cause) - 1);
	cause[sizeof(cause) - 1] = '\0';
	assert_int_equal(run_state_record(dir, 100, "x", 5, false, cause, 0), 0);
	assert_int_equal(run_state_load(dir, 100, "x", &st), 0);
	assert_int_equal(strlen(st.cause), RUN_STATE_CAUSE_MAX - 1);
	assert_string_equal(st.cause + RUN_STATE_CAUSE_MAX - 4, "...");
	testutil_rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_is_never),
		cmocka_unit_test(test_record_failure_then_success),
		cmocka_unit_test(test_malformed_is_an_error_and_replaced),
		cmocka_unit_test(test_long_cause_is_marked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
