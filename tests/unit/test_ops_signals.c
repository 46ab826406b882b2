/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the signal handling of operations (lib/ops/ops.c): a run catches SIGINT,
 * SIGTERM and SIGHUP, a quiesce inside it does not give them up, and the handlers found
 * before are put back (never SIG_DFL: the watcher has its own).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/ops_internal.h"

static volatile sig_atomic_t theirs;

static void their_handler(int sig)
{
	theirs = sig;
}

static void set_theirs(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = their_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	theirs = 0;
}

static bool is_theirs(int sig)
{
	struct sigaction cur;

	sigaction(sig, NULL, &cur);
	return cur.sa_handler == their_handler;
}

static void test_run_catches_and_restores(void **state)
{
	(void)state;
	set_theirs();
	ops_run_signals_catch();
	assert_int_equal(ops_interrupt_signal(), 0);
	raise(SIGHUP);
	assert_int_equal(ops_interrupt_signal(), SIGHUP);
	assert_int_equal(theirs, 0);
	ops_run_signals_release();
	/* the signal stays readable after the run, the old handlers are back */
	assert_int_equal(ops_interrupt_signal(), SIGHUP);
	assert_true(is_theirs(SIGINT) && is_theirs(SIGTERM) && is_theirs(SIGHUP));
	raise(SIGTERM);
	assert_int_equal(theirs, SIGTERM);
	assert_string_equal(ops_signal_name(SIGINT), "SIGINT");
}

static void test_quiesce_inside_a_run_keeps_the_handlers(void **state)
{
	(void)state;
	set_theirs();
	ops_run_signals_catch();
	ops_signals_catch();
	ops_signals_restore();
	/* the quiesce ended, the run goes on: still ours */
	raise(SIGTERM);
	assert_int_equal(ops_interrupt_signal(), SIGTERM);
	assert_int_equal(theirs, 0);
	/* an unbalanced restore (a quiesce of a stopped VM) changes nothing */
	ops_signals_restore();
	raise(SIGINT);
	assert_int_equal(theirs, 0);
	ops_run_signals_release();
	assert_true(is_theirs(SIGTERM));
}

static void test_quiesce_alone_restores_the_watchers_handlers(void **state)
{
	(void)state;
	set_theirs();
	ops_signals_catch();
	raise(SIGINT);
	assert_int_equal(theirs, 0);
	assert_int_equal(ops_interrupt_signal(), SIGINT);
	ops_signals_restore();
	assert_true(is_theirs(SIGINT) && is_theirs(SIGTERM) && is_theirs(SIGHUP));
	/* a new run starts with no signal */
	ops_run_signals_catch();
	assert_int_equal(ops_interrupt_signal(), 0);
	ops_run_signals_release();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_catches_and_restores),
		cmocka_unit_test(test_quiesce_inside_a_run_keeps_the_handlers),
		cmocka_unit_test(test_quiesce_alone_restores_the_watchers_handlers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
