/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"

static void test_empty(void **state)
{
	struct buf b = BUF_INIT(16);

	(void)state;
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(b.len, 0);
	buf_release(&b);
	assert_null(b.data);
}

static void test_append_and_printf(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(buf_puts(&b, "hello"), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(buf_printf(&b, "%s %d", "world", 42), 0);
	assert_int_equal(buf_append(&b, "\0x", 2), 0);
	assert_int_equal(b.len, 16);
	assert_string_equal(buf_cstr(&b), "hello world 42");
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(b.data[15], 'x');
	buf_release(&b);
}

static void test_growth_many(void **state)
{
	struct buf b = BUF_INIT(100000);

	(void)state;
	for (int i = 0; i < 10000; i++)
		assert_int_equal(buf_printf(&b, "%d,", i % 10), 0);
	assert_int_equal(b.len, 20000);
	assert_int_equal(strlen(buf_cstr(&b)), 20000);
	assert_memory_equal(b.data + 19990, "5,6,7,8,9,", 10);
	buf_release(&b);
}

static void test_cap_exact_and_exceeded(void **state)
{
	struct buf b = BUF_INIT(8);

	(void)state;
	assert_int_equal(buf_puts(&b, "12345678"), 0);
	assert_int_equal(buf_putc(&b, '9'), POE_FAIL);
	assert_non_null(strstr(err_msg(), "8 bytes"));
	assert_string_equal(buf_cstr(&b), "12345678");
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "%s", "123456789"), POE_FAIL);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_printf(&b, "%d", 1234), 0);
	assert_int_equal(buf_printf(&b, "%d", 12345), POE_FAIL);
	assert_string_equal(buf_cstr(&b), "1234");
	assert_true(b.cap <= 9);
	buf_release(&b);
}

static void test_reset_keeps_allocation(void **state)
{
	struct buf b = BUF_INIT(64);
	char *p;

	(void)state;
	assert_int_equal(buf_puts(&b, "abc"), 0);
	p = b.data;
	buf_reset(&b);
	assert_ptr_equal(b.data, p);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_puts(&b, "x"), 0);
	assert_string_equal(buf_cstr(&b), "x");
	buf_release(&b);
	assert_int_equal(buf_puts(&b, "again"), 0);
	assert_string_equal(buf_cstr(&b), "again");
	buf_release(&b);
}

static void test_detach(void **state)
{
	struct buf b = BUF_INIT(64);
	char *s;

	(void)state;
	s = buf_detach(&b);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(buf_puts(&b, "owned"), 0);
	s = buf_detach(&b);
	assert_string_equal(s, "owned");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 64);
	free(s);
}

static void test_note_cut_and_sticky(void **state)
{
	struct buf b = BUF_INIT(12);

	(void)state;
	err_clear();
	buf_note(&b, "%s", "error: ");
	buf_note(&b, "%d", 42);
	assert_string_equal(buf_cstr(&b), "error: 42");
	assert_false(b.cut);
	/* the next note does not fit: kept up to the limit, ending in "..." */
	buf_note(&b, "; %s", "disk-1");
	assert_int_equal(b.len, 12);
	assert_string_equal(buf_cstr(&b), "error: 42...");
	assert_true(b.cut);
	/* later notes are dropped, even short ones; the thread's error is untouched */
	buf_note(&b, "x");
	assert_string_equal(buf_cstr(&b), "error: 42...");
	assert_string_equal(err_msg(), "");
	/* a data appender still refuses past max, leaving the text as it was */
	assert_int_equal(buf_puts(&b, "y"), POE_FAIL);
	assert_string_equal(buf_cstr(&b), "error: 42...");
	buf_reset(&b);
	assert_false(b.cut);
	buf_note(&b, "again");
	assert_string_equal(buf_cstr(&b), "again");
	buf_release(&b);
}

static void test_note_fits_exactly(void **state)
{
	struct buf b = BUF_INIT(8);

	(void)state;
	buf_note(&b, "12345678");
	assert_string_equal(buf_cstr(&b), "12345678");
	assert_false(b.cut);
	buf_note(&b, "9");
	assert_string_equal(buf_cstr(&b), "12345...");
	buf_release(&b);
}

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_buf.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_dir(void **state)
{
	char p[128];

	(void)state;
	snprintf(p, sizeof(p), "%s/f", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	return 0;
}

static void write_file(const char *path, const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void test_read_file(void **state)
{
	struct buf b = BUF_INIT(10);
	char p[128];

	(void)state;
	snprintf(p, sizeof(p), "%s/f", tmpdir);
	write_file(p, "0123456789", 10);
	assert_int_equal(buf_puts(&b, "old"), 0);
	assert_int_equal(buf_read_file(&b, p), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(buf_cstr(&b), "0123456789");

	write_file(p, "0123456789A", 11);
	assert_int_equal(buf_read_file(&b, p), POE_FAIL);
	assert_non_null(strstr(err_msg(), "is larger than 10 bytes"));
	buf_release(&b);
}

static void test_read_file_too_large_message(void **state)
{
	struct buf b = BUF_INIT(4);
	char p[128], want[256];

	(void)state;
	snprintf(p, sizeof(p), "%s/f", tmpdir);
	write_file(p, "12345", 5);
	assert_int_equal(buf_read_file(&b, p), POE_FAIL);
	snprintf(want, sizeof(want), "file '%s' is larger than 4 bytes", p);
	assert_string_equal(err_msg(), want);
	assert_string_equal(buf_cstr(&b), "");
	buf_release(&b);
}

static void test_read_file_empty_and_missing(void **state)
{
	struct buf b = BUF_INIT(4);
	char p[128];

	(void)state;
	snprintf(p, sizeof(p), "%s/f", tmpdir);
	write_file(p, "", 0);
	assert_int_equal(buf_read_file(&b, p), 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	snprintf(p, sizeof(p), "%s/missing", tmpdir);
	assert_int_equal(buf_read_file(&b, p), POE_NOTFOUND);
	assert_non_null(strstr(err_msg(), "No such file or directory"));
	assert_int_equal(buf_read_file(&b, tmpdir), POE_FAIL); /* a directory */
	buf_release(&b);
}

static void test_read_pseudo_file(void **state)
{
	struct buf b = BUF_INIT(1 << 20);

	(void)state;
	/* /proc files report size 0: the size must come from reading. */
	assert_int_equal(buf_read_file(&b, "/proc/self/stat"), 0);
	assert_true(b.len > 10);
	assert_int_equal(strlen(b.data), b.len);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_append_and_printf),
		cmocka_unit_test(test_growth_many),
		cmocka_unit_test(test_cap_exact_and_exceeded),
		cmocka_unit_test(test_reset_keeps_allocation),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_note_cut_and_sticky),
		cmocka_unit_test(test_note_fits_exactly),
		cmocka_unit_test_setup_teardown(test_read_file, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_file_too_large_message, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_file_empty_and_missing, setup_dir,
						teardown_dir),
		cmocka_unit_test(test_read_pseudo_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
