/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the named cluster locks of lib/ops/ops.c: a storage's lock is named for
 * the whole storage id, never a cut one that another storage shares (STYLE #5).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/util.h"
#include "config/config.h"
#include "host/lock.h"
#include "ops/ops.h"

/* Two storage ids of the longest kind a config takes, alike but for the last byte. */
static void long_id(char *id, char last)
{
	memset(id, 's', CONFIG_STORAGE_ID_MAX);
	id[CONFIG_STORAGE_ID_MAX - 1] = last;
	id[CONFIG_STORAGE_ID_MAX] = '\0';
}

static void test_long_storage_ids_have_their_own_locks(void **state)
{
	char dir[] = "/tmp/test_ops_lock.XXXXXX";
	char a[CONFIG_STORAGE_ID_MAX + 1], b[CONFIG_STORAGE_ID_MAX + 1];
	struct cluster_lock la, lb;
	struct config cfg;
	struct ops_ctx ctx;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&cfg, 0, sizeof(cfg));
	cfg.paths.lock = dir;
	ops_ctx_init(&ctx, &cfg);
	long_id(a, 'a');
	long_id(b, 'b');
	ctx.deadline = util_now_ms() + 500;
	assert_int_equal(ops_lock_storage(&ctx, a, &la), 0);
	assert_true(la.held);
	/* the old 96-byte name was "storage-" and 87 bytes of the id: b waited for a's lock */
	ctx.deadline = util_now_ms() + 500;
	assert_int_equal(ops_lock_storage(&ctx, b, &lb), 0);
	assert_true(lb.held);
	assert_string_not_equal(la.path, lb.path);
	/* the same id is the same lock */
	ctx.deadline = util_now_ms() + 300;
	{
		struct cluster_lock again;

		assert_int_equal(ops_lock_storage(&ctx, a, &again), POE_TIMEOUT);
	}
	cluster_lock_release(&la);
	cluster_lock_release(&lb);
	ops_ctx_release(&ctx);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_storage_ids_have_their_own_locks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
