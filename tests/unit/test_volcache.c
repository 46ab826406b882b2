/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the volume cache (lib/ops/volcache.c): an entry whose name does not fit
 * struct ontap_volume is an error, never a cut name (STYLE #5), and an entry whose key
 * does not fit is not stored.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "config/config.h"
#include "ontap/ontap.h"
#include "ops/ops.h"
#include "ops/ops_internal.h"

#define UUID1 "11111111-2222-3333-4444-555555555555"

struct fixture {
	char dir[64];
	char file[96];
	struct config cfg;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/test_volcache.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->file, sizeof(fx->file), "%s/volumes.json", fx->dir);
	fx->cfg.paths.state = fx->dir;
	err_clear();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	unlink(fx->file);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* A cache file of ours with one entry for key "volume:v1" on cluster c:443, SVM svm1. */
static void write_cache(const struct fixture *fx, const char *name, const char *svm)
{
	FILE *f = fopen(fx->file, "w");

	assert_non_null(f);
	fprintf(f, "{\"pve-ontap-volume-cache\":1,\"entries\":[{\"cluster\":\"c:443\","
		   "\"svm\":\"svm1\",\"key\":\"volume:v1\",\"uuid\":\"" UUID1 "\",\"name\":\"%s\","
		   "\"svm_name\":\"%s\",\"nas_path\":\"/v1\"}]}\n", name, svm);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(fx->file, 0644), 0);
}

static char *read_cache(const struct fixture *fx)
{
	struct buf b;
	char *s;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_read_file(&b, fx->file), 0);
	s = strndup(b.data ? b.data : "", b.len);
	buf_release(&b);
	return s;
}

static void test_entry_that_fits_is_a_hit(void **state)
{
	struct fixture *fx = *state;
	struct volcache_key k = { "c:443", "svm1", "volume:v1" };
	struct ontap_volume v;

	write_cache(fx, "v1", "svm1");
	assert_int_equal(ops_volcache_get(&fx->cfg, &k, &v), 0);
	assert_string_equal(v.uuid, UUID1);
	assert_string_equal(v.name, "v1");
	assert_string_equal(v.svm, "svm1");
	assert_string_equal(v.nas_path, "/v1");
	assert_int_equal(v.snapshot_reserve, -1);
}

/* An entry with name and svm is POE_FAIL, naming what and how long it may be. */
static void expect_too_long(const struct fixture *fx, const char *name, const char *svm,
			    const char *what, const char *limit)
{
	struct volcache_key k = { "c:443", "svm1", "volume:v1" };
	struct ontap_volume v;

	write_cache(fx, name, svm);
	assert_int_equal(ops_volcache_get(&fx->cfg, &k, &v), POE_FAIL);
	assert_int_equal(err_code(), POE_FAIL);
	assert_non_null(strstr(err_msg(), what));
	assert_non_null(strstr(err_msg(), limit));
}

/* 220 bytes fit the entry (255) but not ontap_volume.name (207): cutting it named another
 * volume; it is POE_FAIL, naming what was too long. */
static void test_long_volume_name_is_an_error(void **state)
{
	char name[221];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	expect_too_long(*state, name, "svm1", "cached volume name 'aaaa",
			"is longer than 207 bytes");
}

static void test_long_svm_name_is_an_error(void **state)
{
	char svm[101];

	memset(svm, 's', sizeof(svm) - 1);
	svm[sizeof(svm) - 1] = '\0';
	expect_too_long(*state, "v1", svm, "cached SVM name 'ssss", "is longer than 63 bytes");
}

/* A key longer than an entry's field is not stored cut (it would never match); the old
 * entry of that key goes, the others stay. */
static void test_long_key_is_not_stored(void **state)
{
	struct fixture *fx = *state;
	struct volcache_key k1 = { "c:443", "svm1", "volume:v1" };
	struct ontap_volume v = { .uuid = UUID1, .name = "v2", .svm = "svm1", .nas_path = "/v2" };
	struct ontap_volume got;
	char key[300];
	struct volcache_key k = { "c:443", "svm1", key };
	char *text;

	memset(key, 'k', sizeof(key) - 1);
	memcpy(key, "export:/", 8);
	key[sizeof(key) - 1] = '\0';
	write_cache(fx, "v1", "svm1");
	err_set(POE_FAIL, "earlier failure");
	ops_volcache_put(&fx->cfg, &k, &v);
	/* a failure of the cache costs a look-up, it does not replace the caller's error */
	assert_string_equal(err_msg(), "earlier failure");
	text = read_cache(fx);
	assert_null(strstr(text, "export:/kkk"));
	assert_non_null(strstr(text, "\"volume:v1\""));
	free(text);
	assert_int_equal(ops_volcache_get(&fx->cfg, &k1, &got), 0);
	assert_string_equal(got.name, "v1");
	assert_int_equal(ops_volcache_get(&fx->cfg, &k, &got), POE_NOTFOUND);
}

static void test_put_then_get(void **state)
{
	struct fixture *fx = *state;
	struct volcache_key k = { "c:443", "svm1", "export:/v2/sub" };
	struct ontap_volume v = { .uuid = UUID1, .name = "v2", .svm = "svm1", .nas_path = "/v2" };
	struct ontap_volume got;

	ops_volcache_put(&fx->cfg, &k, &v);
	assert_int_equal(ops_volcache_get(&fx->cfg, &k, &got), 0);
	assert_string_equal(got.name, "v2");
	assert_string_equal(got.nas_path, "/v2");
	ops_volcache_drop(&fx->cfg, &k);
	assert_int_equal(ops_volcache_get(&fx->cfg, &k, &got), POE_NOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_entry_that_fits_is_a_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_volume_name_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_svm_name_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_key_is_not_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_then_get, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
