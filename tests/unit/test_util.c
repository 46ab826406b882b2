/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/util.h"

/* An own deadline (thaw, undo) runs past a global deadline that has passed. */
static void test_deadline_own(void **state)
{
	int64_t now = util_now_ms(), own;

	(void)state;
	util_deadline_set_global(now - 1); /* the hook's deadline is over */
	assert_true(util_deadline_passed(0));
	assert_true(util_deadline_passed(now + 10000));
	own = util_deadline_own(10000);
	assert_false(util_deadline_passed(own));
	assert_int_equal(util_deadline_min(own), own); /* resolving keeps it one */
	assert_true(util_deadline_at(own) >= now + 10000);
	assert_false(util_deadline_passed(util_deadline_min(util_deadline_min(own))));
	assert_true(util_deadline_left(own) > 9000);
	assert_int_equal(util_sleep_ms(1, own), 0);
	/* within: the earlier of the two, still exempt from the global deadline */
	assert_false(util_deadline_passed(util_deadline_within(own, 5000)));
	assert_true(util_deadline_left(util_deadline_within(own, 5000)) <= 5000);
	assert_true(util_deadline_left(util_deadline_within(own, 50000)) > 9000);
	/* a plain deadline stays bounded by the global one */
	assert_true(util_deadline_passed(util_deadline_within(0, 5000)));
	assert_true(util_deadline_passed(util_deadline_within(now + 20000, 5000)));
	util_deadline_set_global(0);
	assert_int_equal(util_deadline_within(now + 20, 5000), now + 20);
}

static void test_deadlines(void **state)
{
	int64_t now = util_now_ms();

	(void)state;
	util_deadline_set_global(0);
	assert_int_equal(util_deadline_global(), 0);
	assert_int_equal(util_deadline_min(0), 0);
	assert_int_equal(util_deadline_min(now + 50), now + 50);
	assert_true(util_deadline_left(0) == INT64_MAX);
	assert_false(util_deadline_passed(0));
	assert_true(util_deadline_passed(now - 1));
	assert_int_equal(util_deadline_left(now - 1000), 0);
	assert_true(util_deadline_left(now + 10000) > 9000);

	util_deadline_set_global(now + 100);
	assert_int_equal(util_deadline_min(0), now + 100);
	assert_int_equal(util_deadline_min(now + 50), now + 50);
	assert_int_equal(util_deadline_min(now + 500), now + 100);
	assert_true(util_deadline_left(now + 100000) <= 100);
	util_deadline_set_global(0);
}

static void test_sleep(void **state)
{
	int64_t t0 = util_now_ms();

	(void)state;
	assert_int_equal(util_sleep_ms(30, 0), 0);
	assert_true(util_now_ms() - t0 >= 30);
	t0 = util_now_ms();
	assert_int_equal(util_sleep_ms(5000, t0 + 40), POE_TIMEOUT);
	assert_true(util_now_ms() - t0 >= 40);
	assert_true(util_now_ms() - t0 < 2000);
	assert_int_equal(util_sleep_ms(10, t0), POE_TIMEOUT);
	/* The global deadline applies too. */
	t0 = util_now_ms();
	util_deadline_set_global(t0 + 20);
	assert_int_equal(util_sleep_ms(5000, 0), POE_TIMEOUT);
	assert_true(util_now_ms() - t0 < 2000);
	util_deadline_set_global(0);
}

static void test_ts_format_parse(void **state)
{
	char out[17];
	time_t t = 0;

	(void)state;
	util_ts_format(1795342500, out); /* 2026-11-22 10:15:00 UTC */
	assert_string_equal(out, "20261122T101500Z");
	assert_int_equal(util_ts_parse("20261122T101500Z", &t), 0);
	assert_int_equal(t, 1795342500);
	util_ts_format(0, out);
	assert_string_equal(out, "19700101T000000Z");
	assert_int_equal(util_ts_parse("20240229T235959Z", &t), 0);
	util_ts_format(t, out);
	assert_string_equal(out, "20240229T235959Z");

	assert_int_equal(util_ts_parse("20230229T000000Z", &t), POE_FAIL);
	assert_int_equal(util_ts_parse("20261122T101500", &t), POE_FAIL);
	assert_int_equal(util_ts_parse("20261122T101500Z0", &t), POE_FAIL);
	assert_int_equal(util_ts_parse("20261122X101500Z", &t), POE_FAIL);
	assert_int_equal(util_ts_parse("20261322T101500Z", &t), POE_FAIL);
	assert_int_equal(util_ts_parse("20261122T246000Z", &t), POE_FAIL);
	assert_int_equal(util_ts_parse("2026112aT101500Z", &t), POE_FAIL);
	assert_int_equal(util_ts_parse("", &t), POE_FAIL);
	assert_non_null(strstr(err_msg(), "invalid timestamp"));
}

static void test_iso8601(void **state)
{
	char out[21];
	time_t t = 0;

	(void)state;
	util_iso8601(1795342500, out);
	assert_string_equal(out, "2026-11-22T10:15:00Z");
	assert_int_equal(util_iso8601_parse("2026-11-22T10:15:00Z", &t), 0);
	assert_int_equal(t, 1795342500);
	assert_int_equal(util_iso8601_parse("2021-08-31T13:18:24-04:00", &t), 0);
	util_iso8601(t, out);
	assert_string_equal(out, "2021-08-31T17:18:24Z");
	assert_int_equal(util_iso8601_parse("2021-08-31T13:18:24+05:30", &t), 0);
	util_iso8601(t, out);
	assert_string_equal(out, "2021-08-31T07:48:24Z");
	assert_int_equal(util_iso8601_parse("2021-08-31T13:18:24+0100", &t), 0);
	util_iso8601(t, out);
	assert_string_equal(out, "2021-08-31T12:18:24Z");
	assert_int_equal(util_iso8601_parse("2021-08-31T13:18:24.123Z", &t), 0);
	util_iso8601(t, out);
	assert_string_equal(out, "2021-08-31T13:18:24Z");

	assert_int_equal(util_iso8601_parse("2021-08-31T13:18:24", &t), POE_FAIL);
	assert_int_equal(util_iso8601_parse("2021-08-31 13:18:24Z", &t), POE_FAIL);
	assert_int_equal(util_iso8601_parse("2021-08-31T13:18:24+5:00", &t), POE_FAIL);
	assert_int_equal(util_iso8601_parse("2021-08-31T13:18:24Zjunk", &t), POE_FAIL);
	assert_int_equal(util_iso8601_parse("2021-02-30T13:18:24Z", &t), POE_FAIL);
	assert_int_equal(util_iso8601_parse("2021-08-31T13:18:24+24:00", &t), POE_FAIL);
	assert_int_equal(util_iso8601_parse("2021-08-31T13:18:24.Z", &t), POE_FAIL);
}

static void test_duration(void **state)
{
	int64_t s = 0;

	(void)state;
	assert_int_equal(util_parse_duration("30s", &s), 0);
	assert_int_equal(s, 30);
	assert_int_equal(util_parse_duration("5m", &s), 0);
	assert_int_equal(s, 300);
	assert_int_equal(util_parse_duration("12h", &s), 0);
	assert_int_equal(s, 43200);
	assert_int_equal(util_parse_duration("7d", &s), 0);
	assert_int_equal(s, 604800);
	assert_int_equal(util_parse_duration("90", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(util_parse_duration("0", &s), 0);
	assert_int_equal(s, 0);
	s = 77;
	assert_int_equal(util_parse_duration("", &s), POE_FAIL);
	assert_int_equal(util_parse_duration("-5s", &s), POE_FAIL);
	assert_int_equal(util_parse_duration("5x", &s), POE_FAIL);
	assert_int_equal(util_parse_duration("5ss", &s), POE_FAIL);
	assert_int_equal(util_parse_duration("h", &s), POE_FAIL);
	assert_int_equal(util_parse_duration(" 5s", &s), POE_FAIL);
	assert_int_equal(util_parse_duration("99999999999999999999d", &s), POE_FAIL);
	assert_int_equal(util_parse_duration("999999999999999999d", &s), POE_FAIL);
	assert_int_equal(s, 77);
	assert_non_null(strstr(err_msg(), "invalid duration '999999999999999999d'"));
}

static void test_size(void **state)
{
	uint64_t b = 0;

	(void)state;
	assert_int_equal(util_parse_size("4096", &b), 0);
	assert_true(b == 4096);
	assert_int_equal(util_parse_size("512M", &b), 0);
	assert_true(b == 512ULL << 20);
	assert_int_equal(util_parse_size("32G", &b), 0);
	assert_true(b == 32ULL << 30);
	assert_int_equal(util_parse_size("32g", &b), 0);
	assert_true(b == 32ULL << 30);
	assert_int_equal(util_parse_size("1T", &b), 0);
	assert_true(b == 1ULL << 40);
	assert_int_equal(util_parse_size("2P", &b), 0);
	assert_true(b == 2ULL << 50);
	assert_int_equal(util_parse_size("10KB", &b), 0);
	assert_true(b == 10240);
	assert_int_equal(util_parse_size("10KiB", &b), 0);
	assert_true(b == 10240);
	assert_int_equal(util_parse_size("10kib", &b), 0);
	assert_true(b == 10240);
	assert_int_equal(util_parse_size("100B", &b), 0);
	assert_true(b == 100);
	b = 5;
	assert_int_equal(util_parse_size("", &b), POE_FAIL);
	assert_int_equal(util_parse_size("G", &b), POE_FAIL);
	assert_int_equal(util_parse_size("1X", &b), POE_FAIL);
	assert_int_equal(util_parse_size("1Gi", &b), POE_FAIL);
	assert_int_equal(util_parse_size("1iB", &b), POE_FAIL);
	assert_int_equal(util_parse_size("1GBB", &b), POE_FAIL);
	assert_int_equal(util_parse_size("-1G", &b), POE_FAIL);
	assert_int_equal(util_parse_size("1.5G", &b), POE_FAIL);
	assert_int_equal(util_parse_size("16384P", &b), POE_FAIL);
	assert_int_equal(util_parse_size("18446744073709551616", &b), POE_FAIL);
	assert_true(b == 5);
	assert_int_equal(util_parse_size("18446744073709551615", &b), 0);
	assert_true(b == UINT64_MAX);
}

static void test_parse_int(void **state)
{
	int64_t v = 0;

	(void)state;
	assert_int_equal(util_parse_int("100", 100, 999999999, &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(util_parse_int("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(util_parse_int("99", 100, 200, &v), POE_FAIL);
	assert_non_null(strstr(err_msg(), "out of range"));
	assert_int_equal(util_parse_int("201", 100, 200, &v), POE_FAIL);
	assert_int_equal(util_parse_int("1x", 0, 200, &v), POE_FAIL);
	assert_int_equal(util_parse_int("", 0, 200, &v), POE_FAIL);
	assert_int_equal(util_parse_int(" 1", 0, 200, &v), POE_FAIL);
	assert_int_equal(util_parse_int("99999999999999999999", INT64_MIN, INT64_MAX, &v),
			 POE_FAIL);
	assert_int_equal(v, -5);
}

static void test_uuid_and_storage_id(void **state)
{
	(void)state;
	assert_true(util_is_uuid("3f2a6c1e-9b7d-4e21-8a55-0c6d9e1f2b3a"));
	assert_true(util_is_uuid("3F2A6C1E-9B7D-4E21-8A55-0C6D9E1F2B3A"));
	assert_false(util_is_uuid(""));
	assert_false(util_is_uuid("3f2a6c1e9b7d4e218a550c6d9e1f2b3a"));
	assert_false(util_is_uuid("3f2a6c1e-9b7d-4e21-8a55-0c6d9e1f2b3"));
	assert_false(util_is_uuid("3f2a6c1e-9b7d-4e21-8a55-0c6d9e1f2b3a0"));
	assert_false(util_is_uuid("3f2a6c1e-9b7d-4e21-8a550-c6d9e1f2b3a"));
	assert_false(util_is_uuid("3f2a6c1e-9b7d-4e21-8a55-0c6d9e1f2b3g"));

	assert_true(util_is_storage_id("ONTAP01", 7));
	assert_true(util_is_storage_id("a", 1));
	assert_true(util_is_storage_id("nfs.fast_1-b", 12));
	/* only the first n bytes count: the storage of "local:100/x.raw" */
	assert_true(util_is_storage_id("local:100/x.raw", 5));
	assert_false(util_is_storage_id("local:100/x.raw", 6));
	assert_false(util_is_storage_id("", 0));
	assert_false(util_is_storage_id("1nfs", 4));
	assert_false(util_is_storage_id("_nfs", 4));
	assert_false(util_is_storage_id("nfs-", 4));
	assert_false(util_is_storage_id("nfs.", 4));
	assert_false(util_is_storage_id("nf s", 4));
	assert_false(util_is_storage_id("nf\xc3\xa9", 4));
}

static void test_safe_names(void **state)
{
	char longname[300];

	(void)state;
	assert_true(util_is_safe_name("vm-100-disk-0.raw"));
	assert_true(util_is_safe_name("a b"));
	assert_true(util_is_safe_name("..."));
	assert_false(util_is_safe_name(""));
	assert_false(util_is_safe_name(NULL));
	assert_false(util_is_safe_name("."));
	assert_false(util_is_safe_name(".."));
	assert_false(util_is_safe_name("a/b"));
	assert_false(util_is_safe_name("a\nb"));
	assert_false(util_is_safe_name("a\x7f"));
	memset(longname, 'x', 255);
	longname[255] = '\0';
	assert_true(util_is_safe_name(longname));
	longname[255] = 'x';
	longname[256] = '\0';
	assert_false(util_is_safe_name(longname));

	assert_true(util_is_safe_relpath("images/100/vm-100-disk-0.qcow2"));
	assert_true(util_is_safe_relpath("a"));
	assert_false(util_is_safe_relpath("/abs"));
	assert_false(util_is_safe_relpath("a//b"));
	assert_false(util_is_safe_relpath("a/"));
	assert_false(util_is_safe_relpath("a/../b"));
	assert_false(util_is_safe_relpath("./a"));
	assert_false(util_is_safe_relpath(""));
	assert_false(util_is_safe_relpath(NULL));
}

static void test_strings(void **state)
{
	char small[4];
	char *s;

	(void)state;
	s = util_xasprintf("%s-%d", "vm", 100);
	assert_string_equal(s, "vm-100");
	free(s);
	s = util_xstrdup("x");
	assert_string_equal(s, "x");
	s = util_xrealloc(s, 100);
	assert_string_equal(s, "x");
	free(s);
	s = util_xcalloc(4, 4);
	for (int i = 0; i < 16; i++)
		assert_int_equal(s[i], 0);
	free(s);
	s = util_xmalloc(0);
	assert_non_null(s);
	free(s);
	assert_int_equal(util_strlcpy(small, "abcdef", sizeof(small)), 6);
	assert_string_equal(small, "abc");
	assert_int_equal(util_strlcpy(small, "ab", sizeof(small)), 2);
	assert_string_equal(small, "ab");
}

static char tmpdir[64];

static void rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char *c;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			c = util_xasprintf("%s/%s", path, e->d_name);
			rm_rf(c);
			free(c);
		}
		if (d)
			closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int setup_dir(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_util.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_dir(void **state)
{
	(void)state;
	rm_rf(tmpdir);
	return 0;
}

static void test_mkdir_p(void **state)
{
	struct stat st;
	char *p = util_xasprintf("%s/a/b//c/", tmpdir);
	char *q = util_xasprintf("%s/a/b/c", tmpdir);
	char *f = util_xasprintf("%s/file", tmpdir);
	char *g = util_xasprintf("%s/file/sub", tmpdir);

	(void)state;
	assert_int_equal(util_mkdir_p(p, 0750), 0);
	assert_int_equal(stat(q, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777 & ~0750, 0);
	assert_int_equal(util_mkdir_p(q, 0750), 0); /* exists: fine */
	assert_int_equal(util_write_file_atomic(f, "x", 1, 0600), 0);
	assert_int_equal(util_mkdir_p(f, 0750), POE_FAIL);
	assert_int_equal(util_mkdir_p(g, 0750), POE_FAIL);
	assert_non_null(strstr(err_msg(), "cannot create directory"));
	assert_int_equal(util_mkdir_p("", 0750), POE_FAIL);
	free(p);
	free(q);
	free(f);
	free(g);
}

static void test_write_atomic(void **state)
{
	struct buf b = BUF_INIT(1024);
	struct stat st;
	char *f = util_xasprintf("%s/job.json", tmpdir);
	char *bad = util_xasprintf("%s/nodir/x", tmpdir);
	DIR *d;
	struct dirent *e;
	int entries = 0;

	(void)state;
	assert_int_equal(util_write_file_atomic(f, "{\"a\":1}", 7, 0640), 0);
	assert_int_equal(buf_read_file(&b, f), 0);
	assert_string_equal(buf_cstr(&b), "{\"a\":1}");
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(util_write_file_atomic(f, "replaced", 8, 0600), 0);
	assert_int_equal(buf_read_file(&b, f), 0);
	assert_string_equal(buf_cstr(&b), "replaced");
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(util_write_file_atomic(f, "", 0, 0600), 0);
	assert_int_equal(buf_read_file(&b, f), 0);
	assert_int_equal(b.len, 0);
	/* No temporary files left behind. */
	d = opendir(tmpdir);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			entries++;
	closedir(d);
	assert_int_equal(entries, 1);

	assert_int_equal(util_write_file_atomic(bad, "x", 1, 0600), POE_FAIL);
	assert_non_null(strstr(err_msg(), "nodir"));
	free(f);
	free(bad);
	buf_release(&b);
}

static void test_strcpy_checked(void **state)
{
	char small[8];

	(void)state;
	assert_int_equal(util_strcpy(small, "1234567", sizeof(small), "name"), 0);
	assert_string_equal(small, "1234567");
	assert_int_equal(util_strcpy(small, "12345678", sizeof(small), "clone path"), POE_FAIL);
	assert_string_equal(small, "1234567");
	assert_non_null(strstr(err_msg(), "clone path '12345678...' is longer than 7 bytes"));
}

static void test_format_checked(void **state)
{
	char small[8];

	(void)state;
	assert_int_equal(util_format(small, sizeof(small), "key", "k_%d", 1234), 0);
	assert_string_equal(small, "k_1234");
	assert_int_equal(util_format(small, sizeof(small), "disk key", "nvme_disk_%d", 7),
			 POE_FAIL);
	assert_non_null(strstr(err_msg(), "disk key 'nvme_di...' is longer than 7 bytes"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strcpy_checked),
		cmocka_unit_test(test_format_checked),
		cmocka_unit_test(test_deadlines),
		cmocka_unit_test(test_deadline_own),
		cmocka_unit_test(test_sleep),
		cmocka_unit_test(test_ts_format_parse),
		cmocka_unit_test(test_iso8601),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_safe_names),
		cmocka_unit_test(test_uuid_and_storage_id),
		cmocka_unit_test(test_strings),
		cmocka_unit_test_setup_teardown(test_mkdir_p, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_write_atomic, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
