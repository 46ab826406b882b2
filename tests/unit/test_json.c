/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "format/json.h"

static int parse(struct json_doc *d, const char *s)
{
	return json_parse(d, s, strlen(s), 0);
}

static const char *ontap_answer =
	"{\"records\":[{\"uuid\":\"u-1\",\"name\":\"vol1\",\"svm\":{\"name\":\"svm1\"},"
	"\"size\":107374182400,\"is_svm_root\":false,\"nas\":null},"
	"{\"uuid\":\"u-2\",\"name\":\"vol2\",\"svm\":{\"name\":\"svm1\"},\"size\":1,"
	"\"is_svm_root\":true,\"tags\":[]}],\"num_records\":2}";

static void test_parse_and_get(void **state)
{
	struct json_doc d;
	int64_t v = 0;
	bool b = true;
	char s[32];

	(void)state;
	assert_int_equal(parse(&d, ontap_answer), 0);
	assert_int_equal(json_type(&d, 0), JSON_OBJECT);
	assert_int_equal(json_count(&d, 0), 2);
	assert_int_equal(json_count(&d, json_get(&d, 0, "records")), 2);
	assert_int_equal(json_get_str(&d, 0, "records.0.uuid", s, sizeof(s)), 0);
	assert_string_equal(s, "u-1");
	assert_int_equal(json_get_str(&d, 0, "records.1.svm.name", s, sizeof(s)), 0);
	assert_string_equal(s, "svm1");
	assert_int_equal(json_get_int(&d, 0, "records.0.size", &v), 0);
	assert_true(v == 107374182400LL);
	assert_int_equal(json_get_int(&d, 0, "num_records", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(json_get_bool(&d, 0, "records.0.is_svm_root", &b), 0);
	assert_false(b);
	assert_int_equal(json_get_bool(&d, 0, "records.1.is_svm_root", &b), 0);
	assert_true(b);
	assert_int_equal(json_type(&d, json_get(&d, 0, "records.0.nas")), JSON_NULL);
	assert_int_equal(json_type(&d, json_get(&d, 0, "records.1.tags")), JSON_ARRAY);
	assert_int_equal(json_count(&d, json_get(&d, 0, "records.1.tags")), 0);
	assert_int_equal(json_first(&d, json_get(&d, 0, "records.1.tags")), -1);
	assert_int_equal(json_get(&d, 0, ""), 0);

	/* absent paths */
	assert_int_equal(json_get(&d, 0, "records.2"), -1);
	assert_int_equal(json_get(&d, 0, "records.x"), -1);
	assert_int_equal(json_get(&d, 0, "records.-1"), -1);
	assert_int_equal(json_get(&d, 0, "records.0.uuid.more"), -1);
	assert_int_equal(json_get(&d, 0, "nope"), -1);
	assert_int_equal(json_get(&d, -1, "records"), -1);
	assert_int_equal(json_get(&d, 0, "records..0"), -1);
	assert_int_equal(json_get_str(&d, 0, "records.5.uuid", s, sizeof(s)), POE_NOTFOUND);
	assert_int_equal(json_get_int(&d, 0, "x", &v), POE_NOTFOUND);
	assert_int_equal(json_get_bool(&d, 0, "x", &b), POE_NOTFOUND);
	assert_null(json_get_strdup(&d, 0, "x"));
	assert_int_equal(json_type(&d, -1), JSON_ABSENT);
	assert_int_equal(json_type(&d, 100000), JSON_ABSENT);
	assert_int_equal(json_count(&d, -1), 0);

	/* wrong types */
	assert_int_equal(json_get_int(&d, 0, "records.0.uuid", &v), POE_FAIL);
	assert_int_equal(json_get_str(&d, 0, "records.0.size", s, sizeof(s)), POE_FAIL);
	assert_int_equal(json_get_bool(&d, 0, "records.0.nas", &b), POE_FAIL);
	json_free(&d);
	assert_null(d.text);
	assert_null(d.tok);
}

static void test_iterate(void **state)
{
	struct json_doc d;
	const char *names[] = { "vol1", "vol2" };
	const char *keys[] = { "uuid", "name", "svm", "size", "is_svm_root", "nas" };
	int i = 0;

	(void)state;
	assert_int_equal(parse(&d, ontap_answer), 0);
	json_for_each(&d, json_get(&d, 0, "records"), rec) {
		assert_true(i < 2);
		assert_true(json_str_eq(&d, json_member(&d, rec, "name"), names[i]));
		i++;
	}
	assert_int_equal(i, 2);

	i = 0;
	json_for_each(&d, json_get(&d, 0, "records.0"), val) {
		int k = json_key_of(&d, val);

		assert_true(i < 6);
		assert_true(k >= 0);
		assert_true(json_str_eq(&d, k, keys[i]));
		i++;
	}
	assert_int_equal(i, 6);
	/* json_next on a key moves to the next key */
	{
		int svm_key = json_key_of(&d, json_get(&d, 0, "records.0.svm"));

		assert_true(json_str_eq(&d, json_next(&d, svm_key), "size"));
	}
	assert_int_equal(json_key_of(&d, json_get(&d, 0, "records.0")), -1);
	assert_int_equal(json_key_of(&d, 0), -1);
	assert_int_equal(json_next(&d, 0), -1);
	assert_int_equal(json_next(&d, -1), -1);
	assert_int_equal(json_first(&d, json_get(&d, 0, "num_records")), -1);
	json_free(&d);
}

static void test_nested_iteration(void **state)
{
	struct json_doc d;
	int64_t sum = 0;
	int n = 0;

	(void)state;
	assert_int_equal(parse(&d, "[[1,[2,3]],{\"a\":[4]},5,{},[]]"), 0);
	json_for_each(&d, 0, el) {
		int64_t v;

		n++;
		if (json_int(&d, el, &v) == 0)
			sum += v;
	}
	assert_int_equal(n, 5);
	assert_int_equal(sum, 5);
	assert_int_equal(json_get_int(&d, 0, "0.1.1", &sum), 0);
	assert_int_equal(sum, 3);
	assert_int_equal(json_get_int(&d, 0, "1.a.0", &sum), 0);
	assert_int_equal(sum, 4);
	json_free(&d);
}

static void test_member_exact_key(void **state)
{
	struct json_doc d;

	(void)state;
	assert_int_equal(parse(&d, "{\"nameX\":1,\"nam\":2,\"name\":3,\"n\\u0061me2\":4}"), 0);
	assert_int_equal(json_type(&d, json_member(&d, 0, "name")), JSON_NUMBER);
	assert_true(json_str_eq(&d, json_key_of(&d, json_member(&d, 0, "name")), "name"));
	{
		int64_t v = 0;

		assert_int_equal(json_int(&d, json_member(&d, 0, "name"), &v), 0);
		assert_int_equal(v, 3);
		assert_int_equal(json_int(&d, json_member(&d, 0, "name2"), &v), 0);
		assert_int_equal(v, 4);
	}
	assert_int_equal(json_member(&d, 0, "na"), -1);
	assert_int_equal(json_member(&d, 0, NULL), -1);
	assert_int_equal(json_member(&d, -1, "name"), -1);
	json_free(&d);
}

static void test_scalars_at_root(void **state)
{
	struct json_doc d;
	int64_t v = 0;
	bool b = false;
	char s[8];

	(void)state;
	assert_int_equal(parse(&d, "42"), 0);
	assert_int_equal(json_int(&d, 0, &v), 0);
	assert_int_equal(v, 42);
	json_free(&d);
	assert_int_equal(parse(&d, " true\n"), 0);
	assert_int_equal(json_bool(&d, 0, &b), 0);
	assert_true(b);
	json_free(&d);
	assert_int_equal(parse(&d, "\"x\""), 0);
	assert_int_equal(json_str(&d, 0, s, sizeof(s)), 0);
	assert_string_equal(s, "x");
	json_free(&d);
	assert_int_equal(parse(&d, "null"), 0);
	assert_int_equal(json_type(&d, 0), JSON_NULL);
	json_free(&d);
}

static void expect_invalid(const char *text, const char *msg_part)
{
	struct json_doc d;

	assert_int_equal(json_parse(&d, text, strlen(text), 0), POE_FAIL);
	if (msg_part && !strstr(err_msg(), msg_part))
		fail_msg("'%s': message '%s' lacks '%s'", text, err_msg(), msg_part);
	assert_null(d.text);
	assert_null(d.tok);
}

static void test_invalid(void **state)
{
	(void)state;
	expect_invalid("", "invalid JSON at offset 0");
	expect_invalid("   ", "invalid JSON");
	expect_invalid("{", "unexpected end of input");
	expect_invalid("{\"a\":1", "unexpected end of input");
	expect_invalid("\"abc", "invalid JSON");
	expect_invalid("[1 2]", "invalid JSON at offset 3");
	expect_invalid("[1,]", "invalid JSON at offset 2");
	expect_invalid("[,1]", "invalid JSON at offset 1");
	expect_invalid("{\"a\":1,}", "invalid JSON at offset 6");
	expect_invalid("{\"a\" 1}", "invalid JSON");
	expect_invalid("{\"a\":}", "invalid JSON");
	expect_invalid("{\"a\"}", "invalid JSON");
	expect_invalid("{\"a\":1:2}", "invalid JSON");
	expect_invalid("{\"a\":\"b\":\"c\"}", "invalid JSON");
	expect_invalid("{1:2}", "invalid JSON");
	expect_invalid("[tru]", "invalid JSON at offset 1");
	expect_invalid("[01]", "invalid JSON");
	expect_invalid("[1.]", "invalid JSON");
	expect_invalid("[-]", "invalid JSON");
	expect_invalid("[1e]", "invalid JSON");
	expect_invalid("[nulll]", "invalid JSON");
	expect_invalid("{\"a\":1} x", "invalid JSON at offset 8");
	expect_invalid("{} {}", "invalid JSON");
	expect_invalid("1 2", "invalid JSON");
	expect_invalid("[1]]", "invalid JSON");
	expect_invalid("[\"a\tb\"]", "invalid JSON at offset 3");
	expect_invalid("[\"\\x\"]", "invalid JSON");
	expect_invalid("[\"\\u12g4\"]", "invalid JSON");
	expect_invalid("{'a':1}", "invalid JSON at offset 1");
	expect_invalid("[1,2}", "invalid JSON");
}

static void test_embedded_nul_input(void **state)
{
	struct json_doc d;

	(void)state;
	assert_int_equal(json_parse(&d, "{}\0{}", 5, 0), POE_FAIL);
	assert_int_equal(json_parse(&d, "[1\0]", 4, 0), POE_FAIL);
}

static void test_valid_numbers(void **state)
{
	struct json_doc d;

	(void)state;
	assert_int_equal(parse(&d, "[0,-0,1.5,-1.5e10,2E+3,3e-2,12345678901234567890123]"), 0);
	assert_int_equal(json_count(&d, 0), 7);
	json_free(&d);
}

static void test_tokens_grow_and_cap(void **state)
{
	struct buf b = BUF_INIT(1 << 20);
	struct json_doc d;
	int64_t v = 0;

	(void)state;
	assert_int_equal(buf_putc(&b, '['), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_printf(&b, "%s{\"i\":%d}", i ? "," : "", i), 0);
	assert_int_equal(buf_putc(&b, ']'), 0);
	/* 1 + 1000 * 3 tokens: grows from the initial 64 */
	assert_int_equal(json_parse(&d, b.data, b.len, 0), 0);
	assert_int_equal(d.ntok, 3001);
	assert_int_equal(json_get_int(&d, 0, "999.i", &v), 0);
	assert_int_equal(v, 999);
	json_free(&d);
	assert_int_equal(json_parse(&d, b.data, b.len, 3001), 0);
	json_free(&d);
	assert_int_equal(json_parse(&d, b.data, b.len, 3000), POE_FAIL);
	assert_non_null(strstr(err_msg(), "JSON document too large"));
	assert_int_equal(json_parse(&d, b.data, b.len, 10), POE_FAIL);
	assert_non_null(strstr(err_msg(), "more than 10 tokens"));
	buf_release(&b);
}

static void test_deep_nesting(void **state)
{
	struct buf b = BUF_INIT(1 << 20);
	struct json_doc d;

	(void)state;
	for (int i = 0; i < 20000; i++)
		assert_int_equal(buf_putc(&b, '['), 0);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(buf_putc(&b, ']'), 0);
	assert_int_equal(json_parse(&d, b.data, b.len, 0), 0);
	assert_int_equal(d.ntok, 20000);
	json_free(&d);
	buf_release(&b);
}

static void test_unescape(void **state)
{
	char out[32];
	size_t n = 0;

	(void)state;
	assert_int_equal(json_unescape("a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f", 20, out, sizeof(out), &n),
			 0);
	assert_string_equal(out, "a\"b\\c/d\n\t\r\b\f");
	assert_int_equal(n, 12);
	assert_int_equal(json_unescape("\\u00e9\\u20AC", 12, out, sizeof(out), &n), 0);
	assert_string_equal(out, "\xc3\xa9\xe2\x82\xac");
	assert_int_equal(json_unescape("\\ud83d\\ude00", 12, out, sizeof(out), &n), 0);
	assert_string_equal(out, "\xf0\x9f\x98\x80");
	assert_int_equal(n, 4);
	assert_int_equal(json_unescape("\\u0041", 6, out, sizeof(out), &n), 0);
	assert_string_equal(out, "A");
	/* invalid UTF-8 bytes pass through unchanged (documented in json.c) */
	assert_int_equal(json_unescape("\xff\xfe", 2, out, sizeof(out), &n), 0);
	assert_string_equal(out, "\xff\xfe");

	assert_int_equal(json_unescape("\\u0000", 6, out, sizeof(out), &n), POE_FAIL);
	assert_non_null(strstr(err_msg(), "NUL"));
	assert_int_equal(json_unescape("\\ud83d", 6, out, sizeof(out), &n), POE_FAIL);
	assert_non_null(strstr(err_msg(), "surrogate"));
	assert_int_equal(json_unescape("\\ud83dx\\ude00", 13, out, sizeof(out), &n), POE_FAIL);
	assert_int_equal(json_unescape("\\ud83d\\u0041", 12, out, sizeof(out), &n), POE_FAIL);
	assert_int_equal(json_unescape("\\ude00", 6, out, sizeof(out), &n), POE_FAIL);
	assert_int_equal(json_unescape("\\u12", 4, out, sizeof(out), &n), POE_FAIL);
	assert_int_equal(json_unescape("\\", 1, out, sizeof(out), &n), POE_FAIL);
	assert_int_equal(json_unescape("\\q", 2, out, sizeof(out), &n), POE_FAIL);
	assert_int_equal(json_unescape("a\0b", 3, out, sizeof(out), &n), POE_FAIL);
	/* output size: n bytes need n + 1 */
	assert_int_equal(json_unescape("abcd", 4, out, 5, &n), 0);
	assert_int_equal(json_unescape("abcd", 4, out, 4, &n), POE_FAIL);
	assert_non_null(strstr(err_msg(), "too long"));
	assert_int_equal(json_unescape("\\u20ac", 6, out, 3, &n), POE_FAIL);
	assert_int_equal(json_unescape("", 0, out, 0, &n), POE_FAIL);
}

static void test_string_accessors(void **state)
{
	struct json_doc d;
	char small[4];
	char *s;
	size_t len = 0;
	const char *raw;

	(void)state;
	assert_int_equal(parse(&d, "{\"k\":\"caf\\u00e9 \\\"q\\\"\",\"z\":\"a\\u0000b\",\"n\":5}"),
			 0);
	s = json_get_strdup(&d, 0, "k");
	assert_string_equal(s, "caf\xc3\xa9 \"q\"");
	free(s);
	assert_true(json_str_eq(&d, json_member(&d, 0, "k"), "caf\xc3\xa9 \"q\""));
	assert_false(json_str_eq(&d, json_member(&d, 0, "k"), "caf"));
	assert_false(json_str_eq(&d, json_member(&d, 0, "n"), "5"));
	assert_false(json_str_eq(&d, -1, "x"));
	assert_int_equal(json_get_str(&d, 0, "k", small, sizeof(small)), POE_FAIL);
	assert_int_equal(json_get_str(&d, 0, "z", small, sizeof(small)), POE_FAIL);
	assert_null(json_get_strdup(&d, 0, "z"));
	assert_null(json_get_strdup(&d, 0, "n"));
	assert_int_equal(json_str(&d, -1, small, sizeof(small)), POE_NOTFOUND);
	raw = json_raw(&d, json_member(&d, 0, "k"), &len);
	assert_int_equal(len, 15);
	assert_memory_equal(raw, "caf\\u00e9", 9);
	raw = json_raw(&d, json_member(&d, 0, "n"), &len);
	assert_int_equal(len, 1);
	assert_int_equal(raw[0], '5');
	assert_null(json_raw(&d, -1, &len));
	assert_int_equal(len, 0);
	json_free(&d);
}

static void test_int_ranges(void **state)
{
	struct json_doc d;
	int64_t v = 0;

	(void)state;
	assert_int_equal(parse(&d, "[9223372036854775807,-9223372036854775808,"
				   "9223372036854775808,-9223372036854775809,1.5,1e3,-0,"
				   "123456789012345678901234567890123]"),
			 0);
	assert_int_equal(json_get_int(&d, 0, "0", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(json_get_int(&d, 0, "1", &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(json_get_int(&d, 0, "2", &v), POE_FAIL);
	assert_non_null(strstr(err_msg(), "9223372036854775808"));
	assert_int_equal(json_get_int(&d, 0, "3", &v), POE_FAIL);
	assert_int_equal(json_get_int(&d, 0, "4", &v), POE_FAIL);
	assert_int_equal(json_get_int(&d, 0, "5", &v), POE_FAIL);
	assert_int_equal(json_get_int(&d, 0, "6", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(json_get_int(&d, 0, "7", &v), POE_FAIL);
	json_free(&d);
}

static void test_quote(void **state)
{
	struct buf b = BUF_INIT(256);

	(void)state;
	assert_int_equal(json_quote(&b, "a\"b\\c/\n\t\r\x01\x1f\x7f\xc3\xa9"), 0);
	assert_string_equal(buf_cstr(&b), "\"a\\\"b\\\\c/\\n\\t\\r\\u0001\\u001f\x7f\xc3\xa9\"");
	buf_reset(&b);
	assert_int_equal(json_quote(&b, ""), 0);
	assert_string_equal(buf_cstr(&b), "\"\"");
	buf_release(&b);
}

static void test_writer_compact(void **state)
{
	struct buf b = BUF_INIT(4096);
	struct json_writer w;
	struct json_doc d;

	(void)state;
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	jw_string(&w, "name", "snap \"1\"");
	jw_int(&w, "size", -42);
	jw_bool(&w, "ok", true);
	jw_null(&w, "none");
	jw_string(&w, "nullstr", NULL);
	jw_array_begin(&w, "list");
	jw_int(&w, NULL, 1);
	jw_object_begin(&w, NULL);
	jw_object_end(&w);
	jw_array_begin(&w, NULL);
	jw_array_end(&w);
	jw_array_end(&w);
	jw_object_end(&w);
	assert_int_equal(jw_finish(&w), 0);
	assert_string_equal(buf_cstr(&b), "{\"name\":\"snap \\\"1\\\"\",\"size\":-42,\"ok\":true,"
					  "\"none\":null,\"nullstr\":null,\"list\":[1,{},[]]}");
	/* round trip through the parser */
	assert_int_equal(json_parse(&d, b.data, b.len, 0), 0);
	assert_true(json_str_eq(&d, json_get(&d, 0, "name"), "snap \"1\""));
	json_free(&d);
	buf_release(&b);
}

static void test_writer_pretty(void **state)
{
	struct buf b = BUF_INIT(4096);
	struct json_writer w;

	(void)state;
	jw_init(&w, &b, 1);
	jw_array_begin(&w, NULL);
	jw_object_begin(&w, NULL);
	jw_string(&w, "vm", "100");
	jw_array_begin(&w, "disks");
	jw_string(&w, NULL, "scsi0");
	jw_array_end(&w);
	jw_object_begin(&w, "empty");
	jw_object_end(&w);
	jw_object_end(&w);
	jw_array_end(&w);
	assert_int_equal(jw_finish(&w), 0);
	assert_string_equal(buf_cstr(&b), "[\n"
					  "  {\n"
					  "    \"vm\": \"100\",\n"
					  "    \"disks\": [\n"
					  "      \"scsi0\"\n"
					  "    ],\n"
					  "    \"empty\": {}\n"
					  "  }\n"
					  "]");
	buf_release(&b);
}

static void test_writer_errors(void **state)
{
	struct buf b = BUF_INIT(4096);
	struct buf tiny = BUF_INIT(8);
	struct json_writer w;

	(void)state;
	jw_init(&w, &b, 0);
	assert_int_equal(jw_finish(&w), POE_FAIL); /* nothing written */

	buf_reset(&b);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	assert_int_equal(jw_finish(&w), POE_FAIL); /* unclosed */

	buf_reset(&b);
	jw_init(&w, &b, 0);
	jw_object_begin(&w, NULL);
	jw_int(&w, NULL, 1); /* member without key */
	jw_object_end(&w);
	assert_int_equal(jw_finish(&w), POE_FAIL);
	assert_non_null(strstr(err_msg(), "without a key"));

	buf_reset(&b);
	jw_init(&w, &b, 0);
	jw_array_begin(&w, NULL);
	jw_int(&w, "k", 1);
	assert_int_equal(jw_finish(&w), POE_FAIL);

	buf_reset(&b);
	jw_init(&w, &b, 0);
	jw_array_begin(&w, NULL);
	jw_object_end(&w); /* mismatched */
	assert_int_equal(jw_finish(&w), POE_FAIL);

	buf_reset(&b);
	jw_init(&w, &b, 0);
	jw_array_end(&w);
	assert_int_equal(jw_finish(&w), POE_FAIL);

	buf_reset(&b);
	jw_init(&w, &b, 0);
	jw_int(&w, NULL, 1);
	jw_int(&w, NULL, 2); /* two top-level values */
	assert_int_equal(jw_finish(&w), POE_FAIL);

	buf_reset(&b);
	jw_init(&w, &b, 0);
	for (int i = 0; i < 100; i++)
		jw_array_begin(&w, NULL);
	assert_int_equal(jw_finish(&w), POE_FAIL);
	assert_non_null(strstr(err_msg(), "too deep"));

	/* buffer cap: error is sticky, later calls do nothing */
	jw_init(&w, &tiny, 0);
	jw_array_begin(&w, NULL);
	jw_string(&w, NULL, "this is too long");
	jw_int(&w, NULL, 1);
	jw_array_end(&w);
	assert_int_equal(jw_finish(&w), POE_FAIL);
	assert_true(tiny.len <= 8);
	buf_release(&tiny);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_get),
		cmocka_unit_test(test_iterate),
		cmocka_unit_test(test_nested_iteration),
		cmocka_unit_test(test_member_exact_key),
		cmocka_unit_test(test_scalars_at_root),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_embedded_nul_input),
		cmocka_unit_test(test_valid_numbers),
		cmocka_unit_test(test_tokens_grow_and_cap),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_string_accessors),
		cmocka_unit_test(test_int_ranges),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_writer_compact),
		cmocka_unit_test(test_writer_pretty),
		cmocka_unit_test(test_writer_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
