/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "format/json.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/util.h"

/*
 * jsmn tokenises but, even with JSMN_STRICT, accepts some invalid input ("[1 2]",
 * "{\"a\":1,}", "tru", "01", two root values). After jsmn we therefore check the text
 * between tokens (separators), every primitive's grammar and every string's bytes, so that
 * what we accept is RFC 8259 JSON. Byte sequences that are not valid UTF-8 are passed
 * through unchanged: we never interpret them, and rejecting them would make an otherwise
 * usable ONTAP answer fail for a name we only echo back.
 */

#define JSON_TOKENS_INITIAL 64

static const jsmntok_t *toks(const struct json_doc *d)
{
	return d->tok;
}

static bool valid_tok(const struct json_doc *d, int t)
{
	return d && d->tok && t >= 0 && t < d->ntok;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Offset of the first character of token t, including a string's opening quote. */
static int span_start(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->start - 1 : t->start;
}

/* Offset just after token t, including a string's closing quote. */
static int span_end(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->end + 1 : t->end;
}

/*
 * Check that text[from, to) is whitespace around exactly one sep (sep 0: whitespace only).
 * Returns -1 when fine, else the offset of the offending character.
 */
static int check_gap(const char *text, int from, int to, char sep)
{
	bool seen = sep == 0;

	for (int i = from; i < to; i++) {
		if (is_ws(text[i]))
			continue;
		if (!seen && text[i] == sep) {
			seen = true;
			continue;
		}
		return i;
	}
	return seen ? -1 : to;
}

static bool valid_number(const char *s, int n)
{
	int i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return false;
	if (s[i] == '0') {
		i++;
	} else if (s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return false;
	}
	if (i < n && s[i] == '.') {
		int f = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		int e;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		e = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == e)
			return false;
	}
	return i == n;
}

static bool valid_primitive(const char *s, int n)
{
	if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
	    (n == 4 && memcmp(s, "null", 4) == 0))
		return true;
	return valid_number(s, n);
}

/* Returns -1 when the token stream is valid JSON, else the offset of the first error. */
static int validate(const struct json_doc *d)
{
	const jsmntok_t *t = toks(d);
	int *last = util_xcalloc((size_t)d->ntok, sizeof(int));
	int bad = -1;

	for (int i = 0; i < d->ntok && bad < 0; i++) {
		int p = t[i].parent;

		last[i] = -1;
		if (t[i].type == JSMN_PRIMITIVE &&
		    !valid_primitive(d->text + t[i].start, t[i].end - t[i].start)) {
			bad = t[i].start;
			break;
		}
		if (t[i].type == JSMN_STRING) {
			for (int k = t[i].start; k < t[i].end; k++) {
				if ((unsigned char)d->text[k] < 0x20) {
					bad = k;
					break;
				}
			}
			if (bad >= 0)
				break;
		}
		if (p < 0) {
			/* Only one root value, preceded by whitespace only. */
			if (i == 0)
				bad = check_gap(d->text, 0, span_start(&t[i]), 0);
			else
				bad = span_start(&t[i]);
			continue;
		}
		if (p >= i) {
			bad = span_start(&t[i]);
			break;
		}
		if (t[p].type == JSMN_OBJECT || t[p].type == JSMN_ARRAY) {
			bool key_ok = t[i].type == JSMN_STRING && t[i].size == 1;

			if (t[p].type == JSMN_OBJECT && !key_ok) {
				bad = span_end(&t[i]);
				break;
			}
			if (last[p] < 0)
				bad = check_gap(d->text, t[p].start + 1, span_start(&t[i]), 0);
			else
				bad = check_gap(d->text, last[p], span_start(&t[i]), ',');
			last[p] = span_end(&t[i]);
		} else if (t[p].type == JSMN_STRING) {
			/* A member value: its key's parent is the object. */
			int obj = t[p].parent;

			if (obj < 0 || t[obj].type != JSMN_OBJECT) {
				bad = span_start(&t[i]);
				break;
			}
			bad = check_gap(d->text, span_end(&t[p]), span_start(&t[i]), ':');
			last[obj] = span_end(&t[i]);
		} else {
			bad = span_start(&t[i]);
		}
	}
	/* Nothing but whitespace before each container's closing bracket. */
	for (int i = 0; i < d->ntok && bad < 0; i++) {
		if (t[i].type != JSMN_OBJECT && t[i].type != JSMN_ARRAY)
			continue;
		bad = check_gap(d->text, last[i] < 0 ? t[i].start + 1 : last[i], t[i].end - 1, 0);
	}
	if (bad < 0 && d->ntok > 0)
		bad = check_gap(d->text, span_end(&t[0]), (int)d->len, 0);
	free(last);
	return bad;
}

int json_parse(struct json_doc *d, const char *text, size_t len, int max_tokens)
{
	unsigned int ntok = JSON_TOKENS_INITIAL;
	jsmntok_t *tok = NULL;
	jsmn_parser p;
	int rc = 0, r, bad;

	d->text = NULL;
	d->len = 0;
	d->tok = NULL;
	d->ntok = 0;
	if (max_tokens <= 0)
		max_tokens = JSON_MAX_TOKENS_DEFAULT;
	if (len > INT_MAX - 2)
		return err_set(POE_FAIL, "JSON document too large (%zu bytes)", len);
	/*
	 * The copy ends in " \0" while parsing: in strict mode jsmn wants a delimiter after a
	 * primitive, so a bare top-level number ("42") would otherwise be incomplete.
	 */
	d->text = util_xmalloc(len + 2);
	if (len)
		memcpy(d->text, text, len);
	d->text[len] = ' ';
	d->text[len + 1] = '\0';
	d->len = len;
	if (ntok > (unsigned int)max_tokens)
		ntok = (unsigned int)max_tokens;
	tok = util_xmalloc(ntok * sizeof(*tok));
	jsmn_init(&p);
	for (;;) {
		r = jsmn_parse(&p, d->text, len + 1, tok, ntok);
		if (r != JSMN_ERROR_NOMEM)
			break;
		if (ntok >= (unsigned int)max_tokens) {
			rc = err_set(POE_FAIL, "JSON document too large (more than %d tokens)",
				     max_tokens);
			goto out;
		}
		ntok = ntok > (unsigned int)max_tokens / 2 ? (unsigned int)max_tokens : ntok * 2;
		tok = util_xrealloc(tok, ntok * sizeof(*tok));
	}
	d->text[len] = '\0';
	if (r == JSMN_ERROR_PART) {
		rc = err_set(POE_FAIL, "invalid JSON at offset %zu: unexpected end of input", len);
		goto out;
	}
	if (r < 0) {
		rc = err_set(POE_FAIL, "invalid JSON at offset %u", p.pos);
		goto out;
	}
	if (r == 0) {
		rc = err_set(POE_FAIL, "invalid JSON at offset %zu: empty document", len);
		goto out;
	}
	d->tok = tok;
	d->ntok = r;
	tok = NULL;
	bad = validate(d);
	if (bad >= 0) {
		if ((size_t)bad >= len)
			rc = err_set(POE_FAIL, "invalid JSON at offset %d: unexpected end of input",
				     bad);
		else
			rc = err_set(POE_FAIL, "invalid JSON at offset %d", bad);
		goto out;
	}
out:
	free(tok);
	if (rc < 0)
		json_free(d);
	return rc;
}

void json_free(struct json_doc *d)
{
	if (!d)
		return;
	free(d->text);
	free(d->tok);
	d->text = NULL;
	d->tok = NULL;
	d->len = 0;
	d->ntok = 0;
}

enum json_type json_type(const struct json_doc *d, int tok)
{
	const jsmntok_t *t;

	if (!valid_tok(d, tok))
		return JSON_ABSENT;
	t = &toks(d)[tok];
	switch (t->type) {
	case JSMN_OBJECT:
		return JSON_OBJECT;
	case JSMN_ARRAY:
		return JSON_ARRAY;
	case JSMN_STRING:
		return JSON_STRING;
	case JSMN_PRIMITIVE:
		switch (d->text[t->start]) {
		case 't':
		case 'f':
			return JSON_BOOL;
		case 'n':
			return JSON_NULL;
		default:
			return JSON_NUMBER;
		}
	default:
		return JSON_ABSENT;
	}
}

/* Index of the first token after tok's subtree (tokens are in document order). */
static int subtree_end(const struct json_doc *d, int tok)
{
	const jsmntok_t *t = toks(d);
	int end = span_end(&t[tok]);
	int j = tok + 1;

	while (j < d->ntok && t[j].start < end)
		j++;
	return j;
}

static bool is_key(const struct json_doc *d, int tok)
{
	int p = toks(d)[tok].parent;

	return p >= 0 && toks(d)[p].type == JSMN_OBJECT;
}

int json_first(const struct json_doc *d, int container)
{
	const jsmntok_t *t;

	if (!valid_tok(d, container))
		return -1;
	t = &toks(d)[container];
	if (t->size <= 0)
		return -1;
	if (t->type == JSMN_ARRAY)
		return container + 1;
	if (t->type == JSMN_OBJECT)
		return container + 2;
	return -1;
}

int json_next(const struct json_doc *d, int tok)
{
	const jsmntok_t *t;
	int p, j;

	if (!valid_tok(d, tok))
		return -1;
	t = toks(d);
	p = t[tok].parent;
	if (p < 0)
		return -1;
	if (is_key(d, tok)) {
		/* A key: the next key after this member's value. */
		j = subtree_end(d, tok + 1);
		return j < d->ntok && t[j].parent == p ? j : -1;
	}
	j = subtree_end(d, tok);
	if (t[p].type == JSMN_ARRAY)
		return j < d->ntok && t[j].parent == p ? j : -1;
	if (t[p].type == JSMN_STRING && t[p].parent >= 0) {
		/* A member value: the value of the next member. */
		return j < d->ntok && t[j].parent == t[p].parent && j + 1 < d->ntok ? j + 1 : -1;
	}
	return -1;
}

int json_key_of(const struct json_doc *d, int value_tok)
{
	int p;

	if (!valid_tok(d, value_tok))
		return -1;
	p = toks(d)[value_tok].parent;
	if (p >= 0 && toks(d)[p].type == JSMN_STRING && is_key(d, p))
		return p;
	return -1;
}

int json_count(const struct json_doc *d, int tok)
{
	const jsmntok_t *t;

	if (!valid_tok(d, tok))
		return 0;
	t = &toks(d)[tok];
	if (t->type != JSMN_OBJECT && t->type != JSMN_ARRAY)
		return 0;
	return t->size;
}

/* Does string token tok, unescaped, equal s[0, n)? */
static bool str_eq_n(const struct json_doc *d, int tok, const char *s, size_t n)
{
	const jsmntok_t *t = &toks(d)[tok];
	size_t raw = (size_t)(t->end - t->start);
	char stackbuf[256];
	char *out = stackbuf;
	size_t outlen = 0;
	bool eq;

	if (t->type != JSMN_STRING)
		return false;
	/* Fast path: no escapes, compare the raw bytes. */
	if (!memchr(d->text + t->start, '\\', raw))
		return raw == n && memcmp(d->text + t->start, s, n) == 0;
	if (raw + 1 > sizeof(stackbuf))
		out = util_xmalloc(raw + 1);
	eq = json_unescape(d->text + t->start, raw, out, raw + 1, &outlen) == 0 && outlen == n &&
	     memcmp(out, s, n) == 0;
	if (out != stackbuf)
		free(out);
	return eq;
}

static int member_n(const struct json_doc *d, int obj, const char *key, size_t n)
{
	if (!valid_tok(d, obj) || toks(d)[obj].type != JSMN_OBJECT || !key)
		return -1;
	json_for_each(d, obj, v) {
		if (str_eq_n(d, v - 1, key, n))
			return v;
	}
	return -1;
}

int json_member(const struct json_doc *d, int obj, const char *key)
{
	return key ? member_n(d, obj, key, strlen(key)) : -1;
}

int json_get(const struct json_doc *d, int from, const char *path)
{
	const char *seg = path;
	int cur = from;

	if (!valid_tok(d, from) || !path)
		return -1;
	if (*path == '\0')
		return from;
	for (;;) {
		const char *dot = strchr(seg, '.');
		size_t n = dot ? (size_t)(dot - seg) : strlen(seg);

		if (toks(d)[cur].type == JSMN_OBJECT) {
			cur = member_n(d, cur, seg, n);
		} else if (toks(d)[cur].type == JSMN_ARRAY) {
			long idx = 0;

			if (n == 0 || n > 9)
				return -1;
			for (size_t i = 0; i < n; i++) {
				if (seg[i] < '0' || seg[i] > '9')
					return -1;
				idx = idx * 10 + (seg[i] - '0');
			}
			if (idx >= toks(d)[cur].size)
				return -1;
			cur = json_first(d, cur);
			while (idx-- > 0 && cur >= 0)
				cur = json_next(d, cur);
		} else {
			return -1;
		}
		if (cur < 0 || !dot)
			return cur;
		seg = dot + 1;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(const char *s, size_t n, size_t i, unsigned *out)
{
	unsigned v = 0;

	if (i + 4 > n)
		return -1;
	for (size_t k = 0; k < 4; k++) {
		int h = hexval(s[i + k]);

		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

/*
 * Decode the \\uXXXX escape whose hex digits start at s[*i] (a surrogate pair takes two
 * escapes) into UTF-8 in enc; advances *i. Lone surrogates and U+0000 are errors.
 */
static int decode_u(const char *s, size_t n, size_t *i, char enc[4], size_t *elen)
{
	unsigned cp, lo;

	if (hex4(s, n, *i, &cp) < 0)
		return err_set(POE_FAIL, "invalid JSON string: bad \\u escape");
	*i += 4;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return err_set(POE_FAIL, "invalid JSON string: lone low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (*i + 6 > n || s[*i] != '\\' || s[*i + 1] != 'u' ||
		    hex4(s, n, *i + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
			return err_set(POE_FAIL, "invalid JSON string: lone high surrogate");
		*i += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return err_set(POE_FAIL, "invalid JSON string: embedded NUL");
	if (cp < 0x80) {
		enc[0] = (char)cp;
		*elen = 1;
	} else if (cp < 0x800) {
		enc[0] = (char)(0xc0 | cp >> 6);
		enc[1] = (char)(0x80 | (cp & 0x3f));
		*elen = 2;
	} else if (cp < 0x10000) {
		enc[0] = (char)(0xe0 | cp >> 12);
		enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		enc[2] = (char)(0x80 | (cp & 0x3f));
		*elen = 3;
	} else {
		enc[0] = (char)(0xf0 | cp >> 18);
		enc[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		enc[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		enc[3] = (char)(0x80 | (cp & 0x3f));
		*elen = 4;
	}
	return 0;
}

int json_unescape(const char *s, size_t n, char *out, size_t outsz, size_t *outlen)
{
	size_t o = 0;

	if (outsz == 0)
		return err_set(POE_FAIL, "JSON string too long");
	for (size_t i = 0; i < n;) {
		char enc[4];
		size_t elen = 1;
		char c = s[i];

		if (c == '\0')
			return err_set(POE_FAIL, "invalid JSON string: embedded NUL");
		if (c != '\\') {
			enc[0] = c;
			i++;
		} else {
			if (i + 1 >= n)
				return err_set(POE_FAIL, "invalid JSON string: truncated escape");
			c = s[i + 1];
			i += 2;
			switch (c) {
			case '"':
			case '\\':
			case '/':
				enc[0] = c;
				break;
			case 'b':
				enc[0] = '\b';
				break;
			case 'f':
				enc[0] = '\f';
				break;
			case 'n':
				enc[0] = '\n';
				break;
			case 'r':
				enc[0] = '\r';
				break;
			case 't':
				enc[0] = '\t';
				break;
			case 'u':
				if (decode_u(s, n, &i, enc, &elen) < 0)
					return POE_FAIL;
				break;
			default:
				return err_set(POE_FAIL, "invalid JSON string: bad escape '\\%c'",
					       c >= 0x20 && c < 0x7f ? c : '?');
			}
		}
		if (elen > outsz - 1 - o)
			return err_set(POE_FAIL, "JSON string too long (more than %zu bytes)",
				       outsz - 1);
		memcpy(out + o, enc, elen);
		o += elen;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return 0;
}

int json_str(const struct json_doc *d, int tok, char *out, size_t n)
{
	const jsmntok_t *t;

	if (!valid_tok(d, tok))
		return err_set(POE_NOTFOUND, "JSON value not found");
	t = &toks(d)[tok];
	if (t->type != JSMN_STRING)
		return err_set(POE_FAIL, "JSON value is not a string");
	return json_unescape(d->text + t->start, (size_t)(t->end - t->start), out, n, NULL);
}

char *json_strdup(const struct json_doc *d, int tok)
{
	const jsmntok_t *t;
	size_t n;
	char *out;

	if (!valid_tok(d, tok) || toks(d)[tok].type != JSMN_STRING)
		return NULL;
	t = &toks(d)[tok];
	n = (size_t)(t->end - t->start) + 1; /* unescaping never grows the text */
	out = util_xmalloc(n);
	if (json_unescape(d->text + t->start, n - 1, out, n, NULL) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

bool json_str_eq(const struct json_doc *d, int tok, const char *s)
{
	return valid_tok(d, tok) && s && str_eq_n(d, tok, s, strlen(s));
}

int json_int(const struct json_doc *d, int tok, int64_t *out)
{
	const jsmntok_t *t;
	char num[32];
	char *end = NULL;
	long long v;
	int n;

	if (!valid_tok(d, tok))
		return err_set(POE_NOTFOUND, "JSON value not found");
	t = &toks(d)[tok];
	n = t->end - t->start;
	if (json_type(d, tok) != JSON_NUMBER)
		return err_set(POE_FAIL, "JSON value is not a number");
	/* strtoll on a bounded copy: the token is not NUL-terminated inside the text. */
	if ((size_t)n >= sizeof(num) || strcspn(d->text + t->start, ".eE") < (size_t)n)
		return err_set(POE_FAIL, "JSON number '%.*s' is not an integer in range",
			       n < 40 ? n : 40, d->text + t->start);
	memcpy(num, d->text + t->start, (size_t)n);
	num[n] = '\0';
	errno = 0;
	v = strtoll(num, &end, 10);
	if (errno || *end != '\0')
		return err_set(POE_FAIL, "JSON number '%s' is not an integer in range", num);
	*out = v;
	return 0;
}

int json_bool(const struct json_doc *d, int tok, bool *out)
{
	if (!valid_tok(d, tok))
		return err_set(POE_NOTFOUND, "JSON value not found");
	if (json_type(d, tok) != JSON_BOOL)
		return err_set(POE_FAIL, "JSON value is not a boolean");
	*out = d->text[toks(d)[tok].start] == 't';
	return 0;
}

const char *json_raw(const struct json_doc *d, int tok, size_t *len)
{
	const jsmntok_t *t;

	if (!valid_tok(d, tok)) {
		if (len)
			*len = 0;
		return NULL;
	}
	t = &toks(d)[tok];
	if (len)
		*len = (size_t)(t->end - t->start);
	return d->text + t->start;
}

int json_get_str(const struct json_doc *d, int from, const char *path, char *out, size_t n)
{
	int t = json_get(d, from, path);

	if (t < 0)
		return err_set(POE_NOTFOUND, "JSON value '%s' not found", path ? path : "");
	return json_str(d, t, out, n);
}

char *json_get_strdup(const struct json_doc *d, int from, const char *path)
{
	return json_strdup(d, json_get(d, from, path));
}

int json_get_int(const struct json_doc *d, int from, const char *path, int64_t *out)
{
	int t = json_get(d, from, path);

	if (t < 0)
		return err_set(POE_NOTFOUND, "JSON value '%s' not found", path ? path : "");
	return json_int(d, t, out);
}

int json_get_bool(const struct json_doc *d, int from, const char *path, bool *out)
{
	int t = json_get(d, from, path);

	if (t < 0)
		return err_set(POE_NOTFOUND, "JSON value '%s' not found", path ? path : "");
	return json_bool(d, t, out);
}

/* Writer. first[depth]: bit 0 "no element written yet", bit 1 "container is an object". */
#define JW_FIRST 1u
#define JW_OBJECT 2u
#define JW_MAX_DEPTH ((int)sizeof(((struct json_writer *)0)->first) - 1)

static void jw_fail(struct json_writer *w, int rc, const char *why)
{
	if (w->err == 0)
		w->err = err_set(rc, "cannot write JSON: %s", why);
}

void jw_init(struct json_writer *w, struct buf *b, int pretty)
{
	w->b = b;
	w->depth = 0;
	memset(w->first, 0, sizeof(w->first));
	w->first[0] = JW_FIRST;
	w->err = 0;
	w->pretty = pretty;
}

static void jw_put(struct json_writer *w, const char *s)
{
	if (w->err == 0 && buf_puts(w->b, s) < 0)
		w->err = POE_FAIL;
}

static void jw_indent(struct json_writer *w)
{
	if (!w->pretty)
		return;
	jw_put(w, "\n");
	for (int i = 0; i < w->depth; i++)
		jw_put(w, "  ");
}

/* Separator, indentation and key before a value; false when the writer is in error. */
static bool jw_prefix(struct json_writer *w, const char *key)
{
	unsigned char *f;

	if (w->err)
		return false;
	if (w->depth < 0 || w->depth > JW_MAX_DEPTH) {
		jw_fail(w, POE_FAIL, "writer state corrupted");
		return false;
	}
	f = &w->first[w->depth];
	if (w->depth == 0) {
		if (!(*f & JW_FIRST)) {
			jw_fail(w, POE_FAIL, "more than one top-level value");
			return false;
		}
	} else if ((*f & JW_OBJECT) && !key) {
		jw_fail(w, POE_FAIL, "object member without a key");
		return false;
	} else if (!(*f & JW_OBJECT) && key) {
		jw_fail(w, POE_FAIL, "array element with a key");
		return false;
	}
	if (w->depth > 0) {
		if (!(*f & JW_FIRST))
			jw_put(w, ",");
		jw_indent(w);
	}
	*f &= (unsigned char)~JW_FIRST;
	if (key) {
		if (w->err == 0 && json_quote(w->b, key) < 0)
			w->err = POE_FAIL;
		jw_put(w, w->pretty ? ": " : ":");
	}
	return w->err == 0;
}

static void jw_begin(struct json_writer *w, const char *key, bool object)
{
	if (!jw_prefix(w, key))
		return;
	if (w->depth >= JW_MAX_DEPTH) {
		jw_fail(w, POE_FAIL, "nesting too deep");
		return;
	}
	jw_put(w, object ? "{" : "[");
	w->depth++;
	w->first[w->depth] = (unsigned char)(JW_FIRST | (object ? JW_OBJECT : 0));
}

static void jw_end(struct json_writer *w, bool object)
{
	unsigned char f;

	if (w->err)
		return;
	if (w->depth <= 0 || w->depth > JW_MAX_DEPTH) {
		jw_fail(w, POE_FAIL, "unbalanced end of container");
		return;
	}
	f = w->first[w->depth];
	if (!!(f & JW_OBJECT) != object) {
		jw_fail(w, POE_FAIL, "unbalanced end of container");
		return;
	}
	w->depth--;
	if (!(f & JW_FIRST))
		jw_indent(w);
	jw_put(w, object ? "}" : "]");
}

void jw_object_begin(struct json_writer *w, const char *key)
{
	jw_begin(w, key, true);
}

void jw_object_end(struct json_writer *w)
{
	jw_end(w, true);
}

void jw_array_begin(struct json_writer *w, const char *key)
{
	jw_begin(w, key, false);
}

void jw_array_end(struct json_writer *w)
{
	jw_end(w, false);
}

void jw_string(struct json_writer *w, const char *key, const char *val)
{
	if (!jw_prefix(w, key))
		return;
	if (!val)
		jw_put(w, "null");
	else if (json_quote(w->b, val) < 0)
		w->err = POE_FAIL;
}

void jw_int(struct json_writer *w, const char *key, int64_t val)
{
	if (jw_prefix(w, key) && buf_printf(w->b, "%lld", (long long)val) < 0)
		w->err = POE_FAIL;
}

void jw_bool(struct json_writer *w, const char *key, bool val)
{
	if (jw_prefix(w, key))
		jw_put(w, val ? "true" : "false");
}

void jw_null(struct json_writer *w, const char *key)
{
	if (jw_prefix(w, key))
		jw_put(w, "null");
}

int jw_finish(struct json_writer *w)
{
	if (w->err)
		return w->err;
	if (w->depth != 0)
		jw_fail(w, POE_FAIL, "unclosed object or array");
	else if (w->first[0] & JW_FIRST)
		jw_fail(w, POE_FAIL, "no value written");
	return w->err;
}

int json_quote(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	int rc = buf_putc(b, '"');

	/* Copy runs of plain bytes at once; bytes >= 0x80 (UTF-8) pass through unchanged. */
	for (const char *p = s; rc == 0 && *p; p++) {
		unsigned char c = (unsigned char)*p;
		char esc[7];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc = buf_append(b, run, (size_t)(p - run));
		run = p + 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			esc[2] = '\0';
		} else if (c == '\n') {
			memcpy(esc, "\\n", 3);
		} else if (c == '\r') {
			memcpy(esc, "\\r", 3);
		} else if (c == '\t') {
			memcpy(esc, "\\t", 3);
		} else {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			esc[6] = '\0';
		}
		if (rc == 0)
			rc = buf_puts(b, esc);
	}
	if (rc == 0)
		rc = buf_puts(b, run);
	if (rc == 0)
		rc = buf_putc(b, '"');
	return rc;
}
