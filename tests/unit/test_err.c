/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/log.h"
#include "base/secret.h"

static int teardown(void **state)
{
	(void)state;
	err_clear();
	secret_clear();
	return 0;
}

static void test_set_returns_code_and_stores(void **state)
{
	(void)state;
	assert_int_equal(err_set(POE_API, "cannot reach '%s': %s", "ontap1", "refused"), POE_API);
	assert_string_equal(err_msg(), "cannot reach 'ontap1': refused");
	assert_int_equal(err_code(), POE_API);
	assert_int_equal(err_set(POE_USAGE, "second"), POE_USAGE);
	assert_string_equal(err_msg(), "second");
	assert_int_equal(err_code(), POE_USAGE);
}

static void test_clear(void **state)
{
	(void)state;
	err_set(POE_FAIL, "x");
	err_clear();
	assert_string_equal(err_msg(), "");
	assert_int_equal(err_code(), POE_OK);
}

static void test_prefix_keeps_old(void **state)
{
	(void)state;
	err_set(POE_API, "entry already exists (ONTAP error 1)");
	assert_int_equal(err_prefix(POE_FAIL, "cannot snapshot VM %d", 100), POE_FAIL);
	assert_string_equal(err_msg(),
			    "cannot snapshot VM 100: entry already exists (ONTAP error 1)");
	assert_int_equal(err_code(), POE_FAIL);
}

static void test_prefix_without_old(void **state)
{
	(void)state;
	err_clear();
	err_prefix(POE_CONFIG, "cannot load '%s'", "a.yaml");
	assert_string_equal(err_msg(), "cannot load 'a.yaml'");
}

static void test_long_message_truncated(void **state)
{
	char big[3000];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_set(POE_FAIL, "%s", big);
	assert_int_equal(strlen(err_msg()), 1023);
	err_prefix(POE_FAIL, "ctx");
	assert_int_equal(strlen(err_msg()), 1023);
	assert_memory_equal(err_msg(), "ctx: aaa", 8);
}

static void test_secret_scrubbed(void **state)
{
	(void)state;
	secret_add("s3cr3t-ontap");
	err_set(POE_API, "login with 's3cr3t-ontap' failed");
	assert_string_equal(err_msg(), "login with '***' failed");
	err_set(POE_API, "x");
	err_prefix(POE_API, "pw s3cr3t-ontap");
	assert_string_equal(err_msg(), "pw ***: x");
}

static void test_exit_status(void **state)
{
	(void)state;
	assert_int_equal(err_exit_status(0), 0);
	assert_int_equal(err_exit_status(5), 0);
	assert_int_equal(err_exit_status(POE_FAIL), 1);
	assert_int_equal(err_exit_status(POE_USAGE), 2);
	assert_int_equal(err_exit_status(POE_CONFIG), 3);
	assert_int_equal(err_exit_status(POE_API), 4);
	assert_int_equal(err_exit_status(POE_TIMEOUT), 5);
	assert_int_equal(err_exit_status(POE_NOTFOUND), 6);
	assert_int_equal(err_exit_status(-99), 1);
}

static void test_save_restore(void **state)
{
	struct err_saved saved;

	(void)state;
	assert_int_equal(err_set(POE_API, "cannot clone 'a': busy"), POE_API);
	err_save(&saved);
	assert_int_equal(err_set(POE_FAIL, "cleanup failed too"), POE_FAIL);
	assert_int_equal(err_restore(&saved), POE_API);
	assert_string_equal(err_msg(), "cannot clone 'a': busy");
	assert_int_equal(err_code(), POE_API);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_save_restore, teardown),
		cmocka_unit_test_teardown(test_set_returns_code_and_stores, teardown),
		cmocka_unit_test_teardown(test_clear, teardown),
		cmocka_unit_test_teardown(test_prefix_keeps_old, teardown),
		cmocka_unit_test_teardown(test_prefix_without_old, teardown),
		cmocka_unit_test_teardown(test_long_message_truncated, teardown),
		cmocka_unit_test_teardown(test_secret_scrubbed, teardown),
		cmocka_unit_test_teardown(test_exit_status, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
