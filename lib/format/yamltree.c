/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * YAML documents as a tree of our own, and the key-table walk over it (see yamltree.h).
 * libyaml returns 1 on success: that convention stays inside this file.
 */
#include "format/yamltree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "base/err.h"
#include "base/util.h"

#define YT_MSG_MAX 1024

/* ---- errors ---- */

void yt_errors_addv(struct yt_errors *el, int line, int col, const char *fmt, va_list ap)
{
	size_t size = el->msg_max ? el->msg_max : YT_MSG_MAX;
	char *msg = util_xmalloc(size);
	struct yt_error *e;

	vsnprintf(msg, size, fmt, ap);
	el->total++;
	if (el->keep && el->n >= el->keep)
		goto out;
	if (el->n == el->cap) {
		el->cap = el->cap ? el->cap * 2 : 16;
		el->v = util_xrealloc(el->v, (size_t)el->cap * sizeof(*el->v));
	}
	e = &el->v[el->n];
	e->line = line;
	e->col = col;
	e->seq = el->n++;
	if (col > 0)
		e->text = util_xasprintf("%s:%d:%d: %s", el->file, line, col, msg);
	else
		e->text = util_xasprintf("%s:%d: %s", el->file, line, msg);
out:
	free(msg);
}

void yt_errors_add(struct yt_errors *el, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yt_errors_addv(el, line, col, fmt, ap);
	va_end(ap);
}

static int error_cmp(const void *a, const void *b)
{
	const struct yt_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void yt_errors_sort(struct yt_errors *el)
{
	if (el->n > 1)
		qsort(el->v, (size_t)el->n, sizeof(*el->v), error_cmp);
}

int yt_errors_report(const struct yt_errors *el)
{
	if (el->n == 0)
		return 0;
	return err_set(POE_CONFIG, "%s", el->v[0].text);
}

void yt_errors_release(struct yt_errors *el)
{
	for (int i = 0; i < el->n; i++)
		free(el->v[i].text);
	free(el->v);
	el->v = NULL;
	el->n = el->total = el->cap = 0;
}

/* ---- nodes ---- */

void yt_node_free(struct yt_node *y)
{
	if (!y)
		return;
	for (int i = 0; i < y->n; i++)
		yt_node_free(y->kids[i]);
	free(y->kids);
	free(y->value);
	free(y);
}

static struct yt_node *node_new(enum yt_type type, const yaml_mark_t *m)
{
	struct yt_node *y = util_xcalloc(1, sizeof(*y));

	y->type = type;
	y->line = (int)m->line + 1;
	y->col = (int)m->column + 1;
	return y;
}

/* Is the scalar's source its value, byte for byte, on one line (plus its two quotes)? */
static bool scalar_is_verbatim(const yaml_event_t *ev)
{
	yaml_scalar_style_t st = ev->data.scalar.style;
	size_t quotes = st == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
				st == YAML_DOUBLE_QUOTED_SCALAR_STYLE
			? 2
			: 0;

	if (st != YAML_PLAIN_SCALAR_STYLE && !quotes)
		return false; /* block scalars: | and > */
	return ev->start_mark.line == ev->end_mark.line &&
	       ev->end_mark.index - ev->start_mark.index == ev->data.scalar.length + quotes;
}

static void node_add(struct yt_node *parent, struct yt_node *kid)
{
	if (parent->n == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->kids =
			util_xrealloc(parent->kids, (size_t)parent->cap * sizeof(*parent->kids));
	}
	parent->kids[parent->n++] = kid;
}

bool yt_is_null(const struct yt_node *y)
{
	return y->type == YT_SCALAR && y->plain &&
	       (y->value[0] == '\0' || !strcmp(y->value, "~") || !strcasecmp(y->value, "null"));
}

const char *yt_type_name(const struct yt_doc *d, enum yt_type t)
{
	switch (t) {
	case YT_SCALAR:
		return "a scalar";
	case YT_MAP:
		return "a mapping";
	case YT_SEQ:
		return d->seq_name ? d->seq_name : "a sequence";
	}
	return "a node";
}

const char *yt_kind(const struct yt_doc *d, const struct yt_node *y)
{
	return yt_is_null(y) ? "an empty value" : yt_type_name(d, y->type);
}

void yt_error(struct yt_doc *d, const struct yt_node *y, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yt_errors_addv(&d->errs, y->line, y->col, fmt, ap);
	va_end(ap);
}

/* ---- events -> tree ---- */

void yt_problem_default(struct yt_doc *d, const struct yt_problem *p)
{
	static const char *const words[] = {
		[YT_SECOND_DOC] = "only one YAML document is allowed",
		[YT_ALIAS] = "YAML aliases are not allowed",
		[YT_ANCHOR] = "YAML anchors are not allowed",
		[YT_NUL] = "NUL character in a value",
		[YT_TOO_DEEP] = "nesting too deep",
	};
	struct yt_errors *el = &d->errs;

	if (p->kind == YT_SYNTAX)
		yt_errors_add(el, p->line, p->col, "%s%s%s", p->problem, p->context ? " " : "",
			      p->context ? p->context : "");
	else if (p->kind == YT_TOO_LONG)
		yt_errors_add(el, p->line, p->col, "value longer than %zu bytes", d->max_scalar);
	else
		yt_errors_add(el, p->line, p->col, "%s", words[p->kind]);
}

struct builder {
	struct yt_doc *d;
	bool failed;
	struct yt_node **stack; /* open collections, d->max_depth deep */
	int depth;
	int skip;               /* open collections below the depth limit (recover) */
	int ndocs;
};

static void say(struct builder *b, const struct yt_problem *p)
{
	if (b->d->problem)
		b->d->problem(b->d, p);
	else
		yt_problem_default(b->d, p);
}

/* Reports a structural problem at m; returns true when it stops the build. */
static bool refuse(struct builder *b, enum yt_problem_kind kind, const yaml_mark_t *m,
		   const yaml_char_t *name)
{
	struct yt_problem p = {
		.kind = kind,
		.line = (int)m->line + 1,
		.col = (int)m->column + 1,
		.name = (const char *)name,
	};

	say(b, &p);
	if (kind == YT_SECOND_DOC || !b->d->recover)
		b->failed = true;
	return b->failed;
}

static void refuse_syntax(struct builder *b, const yaml_parser_t *ps)
{
	struct yt_problem p = {
		.kind = YT_SYNTAX,
		.line = (int)ps->problem_mark.line + 1,
		.col = (int)ps->problem_mark.column + 1,
		.problem = ps->problem ? ps->problem : "syntax error",
		.context = ps->context,
		.reader = ps->error == YAML_READER_ERROR,
		.offset = ps->problem_offset,
	};

	say(b, &p);
	b->failed = true;
}

static struct yt_node *on_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct yt_node *node;

	if (ev->data.scalar.anchor &&
	    refuse(b, YT_ANCHOR, &ev->start_mark, ev->data.scalar.anchor))
		return NULL;
	if (b->skip)
		return NULL;
	node = node_new(YT_SCALAR, &ev->start_mark);
	node->value = util_xstrdup((const char *)ev->data.scalar.value);
	node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	node->verbatim = scalar_is_verbatim(ev);
	/* an embedded NUL would cut the value short: refuse it */
	if (strlen(node->value) != ev->data.scalar.length) {
		node->bad = true;
		refuse(b, YT_NUL, &ev->start_mark, NULL);
	} else if (b->d->max_scalar && ev->data.scalar.length > b->d->max_scalar) {
		node->bad = true;
		refuse(b, YT_TOO_LONG, &ev->start_mark, NULL);
	}
	return node;
}

/* A mapping or sequence opens; *push when it becomes the new innermost collection. */
static struct yt_node *on_collection(struct builder *b, const yaml_event_t *ev, bool *push)
{
	bool map = ev->type == YAML_MAPPING_START_EVENT;
	const yaml_char_t *anchor = map ? ev->data.mapping_start.anchor
					: ev->data.sequence_start.anchor;
	struct yt_node *node;

	if (anchor && refuse(b, YT_ANCHOR, &ev->start_mark, anchor))
		return NULL;
	if (b->skip) {
		b->skip++;
		return NULL;
	}
	node = node_new(map ? YT_MAP : YT_SEQ, &ev->start_mark);
	if (b->depth == b->d->max_depth) {
		node->bad = true;
		b->skip = 1;
		refuse(b, YT_TOO_DEEP, &ev->start_mark, NULL);
	} else {
		*push = true;
	}
	return node;
}

/* One parser event; the new node (to attach) or NULL; *done at the stream's end. */
static struct yt_node *on_event(struct builder *b, const yaml_event_t *ev, bool *push, bool *done)
{
	struct yt_node *node = NULL;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		*done = true;
		break;
	case YAML_DOCUMENT_START_EVENT:
		if (++b->ndocs > 1)
			refuse(b, YT_SECOND_DOC, &ev->start_mark, NULL);
		break;
	case YAML_ALIAS_EVENT:
		if (b->skip)
			break;
		node = node_new(YT_SCALAR, &ev->start_mark);
		node->bad = true;
		node->value = util_xstrdup("");
		refuse(b, YT_ALIAS, &ev->start_mark, ev->data.alias.anchor);
		break;
	case YAML_SCALAR_EVENT:
		node = on_scalar(b, ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		node = on_collection(b, ev, push);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->skip)
			b->skip--;
		else if (b->depth > 0)
			b->depth--;
		break;
	default:
		break;
	}
	return node;
}

int yt_build(struct yt_doc *d, const char *text, size_t len, struct yt_node **root)
{
	struct builder b = { .d = d };
	yaml_parser_t ps;
	yaml_event_t ev;
	bool done = false;

	*root = NULL;
	if (!yaml_parser_initialize(&ps))
		return err_set(POE_FAIL, "cannot initialise the YAML parser");
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	b.stack = util_xcalloc((size_t)(d->max_depth > 0 ? d->max_depth : 1), sizeof(*b.stack));

	while (!done && !b.failed) {
		struct yt_node *node;
		bool push = false;

		if (!yaml_parser_parse(&ps, &ev)) {
			refuse_syntax(&b, &ps);
			break;
		}
		node = on_event(&b, &ev, &push, &done);
		if (node) {
			if (b.depth > 0)
				node_add(b.stack[b.depth - 1], node);
			else if (!*root)
				*root = node;
			else
				yt_node_free(node); /* cannot happen within one document */
			if (push)
				b.stack[b.depth++] = node;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&ps);
	free(b.stack);
	if (b.failed) {
		yt_node_free(*root);
		*root = NULL;
		return POE_CONFIG;
	}
	return 0;
}

/* ---- key tables ---- */

const struct yt_node *yt_map_find(const struct yt_node *map, const char *key)
{
	for (int i = 0; i + 1 < map->n; i += 2)
		if (map->kids[i]->type == YT_SCALAR && !strcmp(map->kids[i]->value, key))
			return map->kids[i];
	return NULL;
}

bool yt_key_usable(struct yt_doc *d, const struct yt_node *map, int i)
{
	const struct yt_node *k = map->kids[i];

	if (k->bad)
		return false;
	if (k->type != YT_SCALAR) {
		yt_error(d, k, "a key must be a scalar, not %s", yt_kind(d, k));
		return false;
	}
	for (int j = 0; j < i; j += 2) {
		const struct yt_node *prev = map->kids[j];

		if (prev->type == YT_SCALAR && !prev->bad && !strcmp(prev->value, k->value)) {
			yt_error(d, k, "duplicate key '%s' (first at line %d)", k->value,
				 prev->line);
			return false;
		}
	}
	return true;
}

void yt_walk_map(struct yt_doc *d, const struct yt_node *map, const struct yt_key *table, void *obj,
		 const char *where)
{
	for (int i = 0; i + 1 < map->n; i += 2) {
		const struct yt_node *k = map->kids[i], *v = map->kids[i + 1];
		const struct yt_key *e;

		if (!yt_key_usable(d, map, i))
			continue;
		for (e = table; e->key; e++)
			if (!strcmp(e->key, k->value))
				break;
		if (!e->key) {
			char list[512] = "";
			size_t used = 0;

			for (const struct yt_key *t = table; t->key && used < sizeof(list); t++)
				used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
							 t == table ? "" : ", ", t->key);
			yt_error(d, k, "unknown key '%s'%s%s (expected one of: %s)", k->value,
				 where ? " in " : "", where ? where : "", list);
			continue;
		}
		if (v->bad || (d->null_is_absent && yt_is_null(v)))
			continue;
		if (v->type != e->type) {
			yt_error(d, v, "'%s' must be %s, not %s", e->key, yt_type_name(d, e->type),
				 yt_kind(d, v));
			continue;
		}
		e->fn(d, k, v, obj, e);
	}
}
