/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz.h"

#include <stdbool.h>
#include <stdlib.h>

#include "base/err.h"
#include "format/json.h"

/* Every accessor on every token: the parser's token array is what the rest trusts. */
static void visit(const struct json_doc *d, int tok)
{
	char small[8], big[4096];
	int64_t i64;
	bool b;
	size_t rawlen;
	char *s;

	json_type(d, tok);
	json_str(d, tok, small, sizeof(small));
	json_str(d, tok, big, sizeof(big));
	json_str_eq(d, tok, "uuid");
	s = json_strdup(d, tok);
	free(s);
	json_int(d, tok, &i64);
	json_bool(d, tok, &b);
	json_raw(d, tok, &rawlen);
	json_count(d, tok);
	json_key_of(d, tok);
	json_member(d, tok, "records");
	json_first(d, tok);
	json_next(d, tok);
}

/* The tree walk callers do (json_for_each), bounded in depth like theirs. */
static void walk(const struct json_doc *d, int tok, int depth)
{
	if (depth > 64)
		return;
	json_for_each(d, tok, it) {
		json_key_of(d, it);
		walk(d, it, depth + 1);
	}
}

static void unescape(const uint8_t *data, size_t size)
{
	/* Output buffers of exactly outsz bytes on the heap, so one byte too many is caught. */
	size_t sizes[3] = { 1, size / 2 + 1, size * 4 + 4 };

	for (int k = 0; k < 3; k++) {
		char *out = malloc(sizes[k]);
		size_t outlen = 0;

		if (!out)
			return;
		json_unescape((const char *)data, size, out, sizes[k], &outlen);
		free(out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc d = { 0 };
	char s[256];
	int64_t i64;

	unescape(data, size);
	/* A small token cap also exercises the grow-until-cap path. */
	if (json_parse(&d, (const char *)data, size, 512) == 0) {
		for (int i = 0; i < d.ntok; i++)
			visit(&d, i);
		visit(&d, -1);
		visit(&d, d.ntok);
		walk(&d, 0, 0);
		json_get_str(&d, 0, "records.0.uuid", s, sizeof(s));
		json_get_int(&d, 0, "num_records", &i64);
		json_get(&d, 0, "error.message");
		json_get(&d, 0, "0.1.2");
	}
	json_free(&d);
	err_clear();
	return 0;
}
