/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli/options.c (option splitting, --config lookup) and cli/suggest.c ("did you mean"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "cli.h"

/* A heap copy exactly as long as s: reading past its NUL is a heap overflow (ASan). */
static char *exact(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	memcpy(p, s, n);
	return p;
}

static void test_split_option(void **state)
{
	char name[16];
	const char *value;
	char *empty = exact(""), *dash = exact("-");

	(void)state;
	assert_int_equal(cli_split_option(empty, name, sizeof(name), &value), 0);
	assert_int_equal(cli_split_option(dash, name, sizeof(name), &value), 0);
	assert_int_equal(cli_split_option("100", name, sizeof(name), &value), 0);
	assert_int_equal(cli_split_option("--vm", name, sizeof(name), &value), 1);
	assert_string_equal(name, "vm");
	assert_null(value);
	assert_int_equal(cli_split_option("-vm=100", name, sizeof(name), &value), 1);
	assert_string_equal(name, "vm");
	assert_string_equal(value, "100");
	assert_int_equal(cli_split_option("--snapshot=", name, sizeof(name), &value), 1);
	assert_string_equal(name, "snapshot");
	assert_string_equal(value, "");
	/* a name longer than the buffer is an error, never cut to a shorter option */
	assert_int_equal(cli_split_option("--a-very-long-option-name", name, sizeof(name),
					  &value), POE_USAGE);
	assert_true(cli_is_help("--help") && cli_is_help("-h") && cli_is_help("-help"));
	assert_false(cli_is_help("--help=x") || cli_is_help("help") || cli_is_help(empty));
	free(empty);
	free(dash);
}

static void test_find_config(void **state)
{
	char *empty = exact("");
	char *argv[] = { "list", "--vm", "100", empty, "-config", "/a.yaml", "--config=/b.yaml",
			 NULL };

	(void)state;
	assert_string_equal(cli_find_config(7, argv, "/d.yaml"), "/b.yaml");
	assert_string_equal(cli_find_config(6, argv, "/d.yaml"), "/a.yaml");
	assert_string_equal(cli_find_config(4, argv, "/d.yaml"), "/d.yaml");
	assert_null(cli_find_config(5, argv, NULL)); /* "-config" without a value */
	free(empty);
}

static void test_edit_distance_uses_git_weights(void **state)
{
	(void)state;
	assert_int_equal(cli_edit_distance("vm", "vm"), 0);
	assert_int_equal(cli_edit_distance("craete", "create"), 0);  /* swap 0 */
	assert_int_equal(cli_edit_distance("docter", "doctor"), 2);  /* substitution 2 */
	assert_int_equal(cli_edit_distance("vm", "vmx"), 1);         /* insertion 1 */
	assert_int_equal(cli_edit_distance("vmm", "vm"), 3);         /* deletion 3 */
	assert_int_equal(cli_edit_distance("", "abc"), 3);
}

static void test_suggest(void **state)
{
	const char *objs[] = { "vm", "storage", "nvme", "policy", "watch", "install-hook",
			       "doctor", "hook", "help" };
	const char *verbs[] = { "create", "list", "delete", "restore", "prune" };
	char out[128];

	(void)state;
	assert_int_equal(cli_suggest("vmm", objs, 9, "", out, sizeof(out)), 1);
	assert_string_equal(out, "; did you mean 'vm'");
	assert_int_equal(cli_suggest("docter", objs, 9, "", out, sizeof(out)), 1);
	assert_string_equal(out, "; did you mean 'doctor'");
	assert_int_equal(cli_suggest("craete", verbs, 5, "", out, sizeof(out)), 1);
	assert_string_equal(out, "; did you mean 'create'");
	/* prefixes are nearest; every one of them is named */
	assert_int_equal(cli_suggest("h", objs, 9, "", out, sizeof(out)), 2);
	assert_string_equal(out, "; did you mean one of 'hook' or 'help'");
	assert_int_equal(cli_suggest("snaphsot", (const char *[]){ "snapshot", "vm" }, 2, "--",
				     out, sizeof(out)), 1);
	assert_string_equal(out, "; did you mean '--snapshot'");
	assert_int_equal(cli_suggest("frobnicate", objs, 9, "", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(cli_suggest("", objs, 9, "", out, sizeof(out)), 0);
	/* a hint that does not fit is no hint, not half of one */
	assert_int_equal(cli_suggest("vmm", objs, 9, "", out, 8), 0);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_option),
		cmocka_unit_test(test_find_config),
		cmocka_unit_test(test_edit_distance_uses_git_weights),
		cmocka_unit_test(test_suggest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
