/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the YAML tree and key-table walk (lib/format/yamltree.c). */
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
#include "format/yamltree.h"

/* A document that stops at the first structural problem (as the configuration reads). */
static struct yt_doc strict_doc(void)
{
	struct yt_doc d = {
		.errs = { .file = "t.yaml" },
		.max_depth = 4,
		.max_scalar = 8,
		.seq_name = "a list",
	};

	return d;
}

/* A document that reads on after a structural problem (as a policy reads). */
static struct yt_doc lenient_doc(void)
{
	struct yt_doc d = {
		.errs = { .file = "p.yaml" },
		.max_depth = 2,
		.recover = true,
		.null_is_absent = true,
	};

	return d;
}

/* Every stored error line, each followed by a newline; caller frees. */
static char *lines_of(const struct yt_doc *d)
{
	struct buf b = BUF_INIT(1 << 16);

	for (int i = 0; i < d->errs.n; i++)
		assert_int_equal(buf_printf(&b, "%s\n", d->errs.v[i].text), 0);
	return buf_detach(&b);
}

static void assert_lines(const struct yt_doc *d, const char *expected)
{
	char *got = lines_of(d);

	assert_string_equal(got, expected);
	free(got);
}

static void test_tree_and_marks(void **state)
{
	static const char text[] = "a: 1\nb:\n  - x\n  - 'y'\nc: ~\nd:\n";
	struct yt_doc d = strict_doc();
	struct yt_node *root = NULL;
	const struct yt_node *b, *seq;

	(void)state;
	assert_int_equal(yt_build(&d, text, strlen(text), &root), 0);
	assert_int_equal(d.errs.total, 0);
	assert_non_null(root);
	assert_int_equal(root->type, YT_MAP);
	assert_int_equal(root->n, 8);
	assert_int_equal(root->line, 1);
	assert_int_equal(root->col, 1);

	b = yt_map_find(root, "b");
	assert_non_null(b);
	assert_int_equal(b->line, 2);
	seq = root->kids[3];
	assert_int_equal(seq->type, YT_SEQ);
	assert_int_equal(seq->n, 2);
	assert_int_equal(seq->kids[0]->line, 3);
	assert_int_equal(seq->kids[0]->col, 5);
	assert_true(seq->kids[0]->plain);
	assert_false(seq->kids[1]->plain);
	assert_string_equal(seq->kids[1]->value, "y");

	assert_true(yt_is_null(root->kids[5]));   /* c: ~ */
	assert_true(yt_is_null(root->kids[7]));   /* d: */
	assert_false(yt_is_null(seq->kids[0]));
	assert_null(yt_map_find(root, "zz"));

	assert_string_equal(yt_kind(&d, seq), "a list");
	assert_string_equal(yt_kind(&d, root->kids[5]), "an empty value");
	assert_string_equal(yt_type_name(&d, YT_MAP), "a mapping");
	d.seq_name = NULL;
	assert_string_equal(yt_type_name(&d, YT_SEQ), "a sequence");
	yt_node_free(root);

	/* an empty stream has no root */
	assert_int_equal(yt_build(&d, "", 0, &root), 0);
	assert_null(root);
	yt_errors_release(&d.errs);
}

/* Builds text, expecting rc; returns the error lines (caller frees). */
static char *build_errors(struct yt_doc *d, const char *text, int rc)
{
	struct yt_node *root = NULL;
	char *lines;

	assert_int_equal(yt_build(d, text, strlen(text), &root), rc);
	if (rc)
		assert_null(root);
	lines = lines_of(d);
	yt_node_free(root);
	yt_errors_release(&d->errs);
	return lines;
}

static void expect_strict(const char *text, const char *expected)
{
	struct yt_doc d = strict_doc();
	char *got = build_errors(&d, text, POE_CONFIG);

	assert_string_equal(got, expected);
	free(got);
}

static void test_strict_stops_at_first_problem(void **state)
{
	(void)state;
	expect_strict("a: &x 1\nb: *x\n", "t.yaml:1:4: YAML anchors are not allowed\n");
	expect_strict("a:\n  b: *x\nc: *y\n", "t.yaml:2:6: YAML aliases are not allowed\n");
	expect_strict("a: 1\n---\nb: 2\n", "t.yaml:2:1: only one YAML document is allowed\n");
	expect_strict("a: [[[[1]]]]\n", "t.yaml:1:7: nesting too deep\n");
	expect_strict("a: 123456789\n", "t.yaml:1:4: value longer than 8 bytes\n");
	expect_strict("a: \"x\\0y\"\n", "t.yaml:1:4: NUL character in a value\n");
	expect_strict("a: [1\n", "t.yaml:2:1: did not find expected ',' or ']' while parsing a "
		      "flow sequence\n");
}

static void test_lenient_reads_on(void **state)
{
	struct yt_doc d = lenient_doc();
	struct yt_node *root = NULL;
	static const char text[] = "a: &x 1\nb: *x\nc: [[1]]\nd: 2\n";

	(void)state;
	assert_int_equal(yt_build(&d, text, strlen(text), &root), 0);
	assert_lines(&d, "p.yaml:1:4: YAML anchors are not allowed\n"
			 "p.yaml:2:4: YAML aliases are not allowed\n"
			 "p.yaml:3:5: nesting too deep\n");
	/* the pairing of the mapping survives: the alias and the deep list are placeholders */
	assert_int_equal(root->n, 8);
	assert_string_equal(root->kids[1]->value, "1");
	assert_false(root->kids[1]->bad);
	assert_true(root->kids[3]->bad);
	assert_true(root->kids[5]->kids[0]->bad);
	assert_string_equal(root->kids[7]->value, "2");
	yt_node_free(root);
	yt_errors_release(&d.errs);

	/* a second document stops even a lenient build */
	{
		char *got = build_errors(&d, "a: 1\n---\nb: 2\n", POE_CONFIG);

		assert_string_equal(got, "p.yaml:2:1: only one YAML document is allowed\n");
		free(got);
	}
}

/* A caller's own wording: here, the anchor's name in the message. */
static void named_anchor(struct yt_doc *d, const struct yt_problem *p)
{
	if (p->kind == YT_ANCHOR)
		yt_errors_add(&d->errs, p->line, p->col, "no anchors here (&%s)", p->name);
	else
		yt_problem_default(d, p);
}

static void test_own_wording(void **state)
{
	struct yt_doc d = lenient_doc();
	char *got;

	(void)state;
	d.problem = named_anchor;
	got = build_errors(&d, "a: &t 1\nb: *t\n", 0);
	assert_string_equal(got, "p.yaml:1:4: no anchors here (&t)\n"
				 "p.yaml:2:4: YAML aliases are not allowed\n");
	free(got);
}

static void test_errors(void **state)
{
	struct yt_errors el = { .file = "f", .keep = 2, .msg_max = 8 };

	(void)state;
	assert_int_equal(yt_errors_report(&el), 0);
	yt_errors_add(&el, 3, 1, "third");
	yt_errors_add(&el, 1, 0, "first, cut here");
	yt_errors_add(&el, 2, 2, "not kept");
	assert_int_equal(el.n, 2);
	assert_int_equal(el.total, 3);
	assert_string_equal(el.v[1].text, "f:1: first, ");
	yt_errors_sort(&el);
	assert_string_equal(el.v[0].text, "f:1: first, ");
	assert_string_equal(el.v[1].text, "f:3:1: third");
	assert_int_equal(yt_errors_report(&el), POE_CONFIG);
	assert_string_equal(err_msg(), "f:1: first, ");
	yt_errors_release(&el);
	assert_int_equal(el.n, 0);
	assert_int_equal(el.total, 0);
	assert_string_equal(el.file, "f");
}

/* ---- key tables ---- */

struct sample {
	int calls;
	char name[16];
	int port;
};

static void h_name(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		   const struct yt_key *e)
{
	struct sample *s = obj;

	(void)d;
	(void)k;
	s->calls++;
	snprintf((char *)obj + e->off, sizeof(s->name), "%s", v->value);
}

static void h_port(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		   const struct yt_key *e)
{
	struct sample *s = obj;

	(void)e;
	s->calls++;
	if (strcmp(v->value, "80"))
		yt_error(d, v, "'%s' must be 80, not '%s'", k->value, v->value);
	else
		s->port = 80;
}

static void h_items(struct yt_doc *d, const struct yt_node *k, const struct yt_node *v, void *obj,
		    const struct yt_key *e)
{
	(void)d;
	(void)k;
	(void)v;
	(void)e;
	((struct sample *)obj)->calls++;
}

static const struct yt_key sample_keys[] = {
	{ "name", YT_SCALAR, h_name, offsetof(struct sample, name) },
	{ "port", YT_SCALAR, h_port, 0 },
	{ "items", YT_SEQ, h_items, 0 },
	{ NULL, 0, NULL, 0 },
};

static void walk(struct yt_doc *d, const char *text, struct sample *s, const char *where)
{
	struct yt_node *root = NULL;

	assert_int_equal(yt_build(d, text, strlen(text), &root), 0);
	yt_walk_map(d, root, sample_keys, s, where);
	yt_node_free(root);
}

static void test_walk(void **state)
{
	struct yt_doc d = strict_doc();
	struct sample s = { 0 };

	(void)state;
	walk(&d, "name: abc\nport: 80\nitems: [a]\n", &s, NULL);
	assert_int_equal(d.errs.total, 0);
	assert_int_equal(s.calls, 3);
	assert_string_equal(s.name, "abc");
	assert_int_equal(s.port, 80);

	memset(&s, 0, sizeof(s));
	walk(&d, "nmae: a\nport: 81\nport: 80\n[k]: 1\nitems: x\nname: {}\n", &s, "'thing'");
	assert_lines(&d, "t.yaml:1:1: unknown key 'nmae' in 'thing' (expected one of: name, "
			 "port, items)\n"
			 "t.yaml:2:7: 'port' must be 80, not '81'\n"
			 "t.yaml:3:1: duplicate key 'port' (first at line 2)\n"
			 "t.yaml:4:1: a key must be a scalar, not a list\n"
			 "t.yaml:5:8: 'items' must be a list, not a scalar\n"
			 "t.yaml:6:7: 'name' must be a scalar, not a mapping\n");
	assert_int_equal(s.calls, 1);
	yt_errors_release(&d.errs);

	/* strict: a null value reaches the type check and the handler */
	memset(&s, 0, sizeof(s));
	walk(&d, "items:\nport:\n", &s, NULL);
	assert_lines(&d, "t.yaml:1:7: 'items' must be a list, not an empty value\n"
			 "t.yaml:2:6: 'port' must be 80, not ''\n");
	yt_errors_release(&d.errs);

	/* lenient: a null value is an absent key, and a sequence is called a sequence */
	d = lenient_doc();
	memset(&s, 0, sizeof(s));
	walk(&d, "items:\nport: ~\nname: [a]\n", &s, NULL);
	assert_lines(&d, "p.yaml:3:7: 'name' must be a scalar, not a sequence\n");
	assert_int_equal(s.calls, 0);
	yt_errors_release(&d.errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_and_marks),
		cmocka_unit_test(test_strict_stops_at_first_problem),
		cmocka_unit_test(test_lenient_reads_on),
		cmocka_unit_test(test_own_wording),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
