/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/exec.h"
#include "base/util.h"

static void assert_no_children(void)
{
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_stdout_and_status(void **state)
{
	const char *argv[] = { "/bin/echo", "hello", "world", NULL };
	struct exec_result r;

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), 0);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(r.timed_out, 0);
	assert_string_equal(buf_cstr(&r.out), "hello world\n");
	assert_string_equal(buf_cstr(&r.err), "");
	/* reuse of the result resets it */
	assert_int_equal(exec_run(argv, 0, &r), 0);
	assert_string_equal(buf_cstr(&r.out), "hello world\n");
	exec_result_release(&r);
	assert_no_children();
}

static void test_stderr_and_exit_code(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "echo out; echo oops >&2; exit 3", NULL };
	struct exec_result r;

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), 0);
	assert_int_equal(r.exit_code, 3);
	assert_string_equal(buf_cstr(&r.out), "out\n");
	assert_string_equal(buf_cstr(&r.err), "oops\n");
	exec_result_release(&r);
	assert_no_children();
}

static void test_killed_by_signal(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	struct exec_result r;

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), 0);
	assert_int_equal(r.exit_code, 128 + 9);
	exec_result_release(&r);
	assert_no_children();
}

static void test_environment_is_minimal(void **state)
{
	const char *argv[] = { "/usr/bin/env", NULL };
	struct exec_result r;

	(void)state;
	setenv("PVE_ONTAP_TEST_SECRET", "s3cr3t", 1);
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), 0);
	assert_string_equal(buf_cstr(&r.out), "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLC_ALL=C\n");
	exec_result_release(&r);
	unsetenv("PVE_ONTAP_TEST_SECRET");
}

static void test_stdin_is_devnull(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "cat; readlink /proc/self/fd/0", NULL };
	struct exec_result r;

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, util_now_ms() + 10000, &r), 0);
	assert_int_equal(r.timed_out, 0);
	assert_string_equal(buf_cstr(&r.out), "/dev/null\n");
	exec_result_release(&r);
}

static void test_no_descriptor_leaks(void **state)
{
	const char *argv[] = { "/bin/ls", "/proc/self/fd", NULL };
	struct exec_result r;
	int leaky = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */

	(void)state;
	assert_true(leaky >= 0);
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), 0);
	/* 0-2 and the directory ls itself has open */
	assert_string_equal(buf_cstr(&r.out), "0\n1\n2\n3\n");
	exec_result_release(&r);
	close(leaky);
}

static void test_missing_program(void **state)
{
	const char *argv[] = { "/nonexistent/usr/sbin/qm", "list", NULL };
	struct exec_result r;

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), POE_FAIL);
	assert_string_equal(err_msg(),
			    "cannot run '/nonexistent/usr/sbin/qm': No such file or directory");
	exec_result_release(&r);
	assert_no_children();
}

static void test_not_executable(void **state)
{
	const char *argv[] = { "/etc/passwd", NULL };
	struct exec_result r;

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), POE_FAIL);
	assert_string_equal(err_msg(), "cannot run '/etc/passwd': Permission denied");
	exec_result_release(&r);
	assert_no_children();
}

static void test_relative_path_refused(void **state)
{
	const char *argv[] = { "echo", "x", NULL };
	const char *empty[] = { NULL };
	struct exec_result r;

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), POE_FAIL);
	assert_non_null(strstr(err_msg(), "not an absolute path"));
	assert_int_equal(exec_run(empty, 0, &r), POE_FAIL);
	exec_result_release(&r);
}

static void test_timeout_sigterm(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "echo started; exec sleep 30", NULL };
	struct exec_result r;
	int64_t t0 = util_now_ms();

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, t0 + 300, &r), POE_TIMEOUT);
	assert_true(util_now_ms() - t0 >= 300);
	assert_true(util_now_ms() - t0 < 1500);
	assert_int_equal(r.timed_out, 1);
	assert_int_equal(r.exit_code, 128 + 15);
	assert_string_equal(buf_cstr(&r.out), "started\n");
	assert_non_null(strstr(err_msg(), "did not finish before the deadline"));
	exec_result_release(&r);
	assert_no_children();
}

static void test_timeout_sigkill_whole_group(void **state)
{
	/* The shell ignores SIGTERM and so does its child (ignored signals are inherited). */
	const char *argv[] = { "/bin/sh", "-c", "trap '' TERM; sleep 30; echo survived", NULL };
	struct exec_result r;
	int64_t t0 = util_now_ms();

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, t0 + 100, &r), POE_TIMEOUT);
	assert_true(util_now_ms() - t0 >= 2100);
	assert_true(util_now_ms() - t0 < 4000);
	assert_int_equal(r.timed_out, 1);
	assert_int_equal(r.exit_code, 128 + 9);
	assert_string_equal(buf_cstr(&r.out), "");
	exec_result_release(&r);
	assert_no_children();
}

static void test_global_deadline(void **state)
{
	const char *argv[] = { "/bin/sleep", "30", NULL };
	struct exec_result r;
	int64_t t0 = util_now_ms();

	(void)state;
	util_deadline_set_global(t0 + 200);
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), POE_TIMEOUT);
	assert_true(util_now_ms() - t0 < 1500);
	/* already expired: not even started */
	assert_int_equal(exec_run(argv, 0, &r), POE_TIMEOUT);
	assert_int_equal(r.timed_out, 0);
	util_deadline_set_global(0);
	exec_result_release(&r);
	assert_no_children();
}

static void test_output_capped(void **state)
{
	const char *argv[] = { "/bin/sh", "-c",
			       "head -c 3000000 /dev/zero | tr '\\0' a; "
			       "head -c 2500000 /dev/zero | tr '\\0' b >&2; echo done >&2",
			       NULL };
	struct exec_result r;

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, util_now_ms() + 20000, &r), 0);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(r.out.len, 1024 * 1024);
	assert_int_equal(r.err.len, 1024 * 1024);
	assert_int_equal(r.out.data[r.out.len - 1], 'a');
	assert_int_equal(r.err.data[0], 'b');
	assert_int_equal(strlen(r.out.data), r.out.len);
	exec_result_release(&r);
	assert_no_children();
}

static void test_child_closes_pipes_early(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "exec >&- 2>&-; sleep 0.3; exit 4", NULL };
	struct exec_result r;
	int64_t t0 = util_now_ms();

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), 0);
	assert_true(util_now_ms() - t0 >= 300);
	assert_int_equal(r.exit_code, 4);
	exec_result_release(&r);
	assert_no_children();
}

static void test_grandchild_keeps_pipe(void **state)
{
	/* A daemonised helper holding stdout must not make us wait for it. */
	const char *argv[] = { "/bin/sh", "-c", "sleep 2 & echo parent", NULL };
	struct exec_result r;
	int64_t t0 = util_now_ms();

	(void)state;
	exec_result_init(&r);
	assert_int_equal(exec_run(argv, 0, &r), 0);
	assert_true(util_now_ms() - t0 < 2000);
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(buf_cstr(&r.out), "parent\n");
	exec_result_release(&r);
}

static void test_format_argv(void **state)
{
	const char *argv[] = { "/usr/sbin/qm", "rescan", "--vmid", "100", "a b", "", "it's", NULL };
	const char *plain[] = { "qm", NULL };
	struct buf b = BUF_INIT(256);

	(void)state;
	exec_format_argv(argv, &b);
	assert_string_equal(buf_cstr(&b), "qm rescan --vmid 100 'a b' '' 'it'\\''s'");
	buf_reset(&b);
	exec_format_argv(plain, &b);
	assert_string_equal(buf_cstr(&b), "qm");
	buf_release(&b);
}

/* A command line longer than the log buffer is shown cut, and says so. */
static void test_format_argv_cut(void **state)
{
	const char *argv[] = { "/usr/sbin/qm", "set", "100", "--delete", "unused0,unused1", NULL };
	struct buf b = BUF_INIT(16);

	(void)state;
	exec_format_argv(argv, &b);
	assert_string_equal(buf_cstr(&b), "qm set 100 --...");
	buf_release(&b);
}

static void test_last_line(void **state)
{
	struct exec_result r;
	char line[8];

	(void)state;
	exec_result_init(&r);
	exec_result_last_line(&r, line, sizeof(line));
	assert_string_equal(line, "");
	assert_int_equal(buf_puts(&r.out, "first\nfrom out\n"), 0);
	exec_result_last_line(&r, line, sizeof(line));
	assert_string_equal(line, "from ou");
	/* stderr wins when there is any; trailing blank lines and spaces do not count */
	assert_int_equal(buf_puts(&r.err, "warning\nbad\t\n\n  \n"), 0);
	exec_result_last_line(&r, line, sizeof(line));
	assert_string_equal(line, "bad");
	exec_result_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stdout_and_status),
		cmocka_unit_test(test_stderr_and_exit_code),
		cmocka_unit_test(test_killed_by_signal),
		cmocka_unit_test(test_environment_is_minimal),
		cmocka_unit_test(test_stdin_is_devnull),
		cmocka_unit_test(test_no_descriptor_leaks),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_not_executable),
		cmocka_unit_test(test_relative_path_refused),
		cmocka_unit_test(test_timeout_sigterm),
		cmocka_unit_test(test_timeout_sigkill_whole_group),
		cmocka_unit_test(test_global_deadline),
		cmocka_unit_test(test_output_capped),
		cmocka_unit_test(test_child_closes_pipes_early),
		cmocka_unit_test(test_grandchild_keeps_pipe),
		cmocka_unit_test(test_format_argv),
		cmocka_unit_test(test_format_argv_cut),
		cmocka_unit_test(test_last_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
