/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_JSON_H
#define PVE_ONTAP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * JSON documents, parsed with jsmn (JSMN_STRICT, JSMN_PARENT_LINKS). Tokens are addressed
 * by index (int); a negative index means "absent" and every accessor accepts it, so
 * lookups can be chained without checks in between. Only this module touches jsmn tokens.
 */
enum json_type {
	JSON_ABSENT = 0,
	JSON_OBJECT,
	JSON_ARRAY,
	JSON_STRING,
	JSON_NUMBER,
	JSON_BOOL,
	JSON_NULL,
};

struct json_doc {
	char *text;  /* owned copy of the input */
	size_t len;
	void *tok;   /* jsmntok_t array, owned */
	int ntok;
};

/* Default cap on tokens; the array grows on JSMN_ERROR_NOMEM up to max_tokens. */
#define JSON_MAX_TOKENS_DEFAULT (1 << 20)

/*
 * Parse text (copied). Returns 0, or POE_FAIL with a message ("invalid JSON at offset N",
 * "JSON document too large"). The root is token 0. Caller releases with json_free().
 */
int json_parse(struct json_doc *d, const char *text, size_t len, int max_tokens);
void json_free(struct json_doc *d);

enum json_type json_type(const struct json_doc *d, int tok);
/*
 * Look up a dotted path below token from: "svm.name", "records", "records.0.uuid"
 * (a numeric segment indexes an array). Returns the token index or -1.
 */
int json_get(const struct json_doc *d, int from, const char *path);
/* Object member by exact key (compared with its length). -1 when absent. */
int json_member(const struct json_doc *d, int obj, const char *key);
/* Number of elements of an array or members of an object; 0 otherwise. */
int json_count(const struct json_doc *d, int tok);
/* First element of an array / value of the first member of an object, or -1. */
int json_first(const struct json_doc *d, int container);
/* Next sibling after tok (skipping tok's subtree) within the same container, or -1. */
int json_next(const struct json_doc *d, int tok);
/* For object iteration: the key token belonging to value token tok, or -1. */
int json_key_of(const struct json_doc *d, int value_tok);

#define json_for_each(d, container, it) \
	for (int it = json_first((d), (container)); it >= 0; it = json_next((d), it))

/*
 * String value unescaped (\uXXXX incl. surrogate pairs to UTF-8) into out (size n).
 * POE_NOTFOUND if tok < 0, POE_FAIL if not a string, has an embedded NUL or is too long.
 */
int json_str(const struct json_doc *d, int tok, char *out, size_t n);
/* Newly allocated unescaped string (caller frees), or NULL (absent / not a string). */
char *json_strdup(const struct json_doc *d, int tok);
/* Compare a string token with s after unescaping. */
bool json_str_eq(const struct json_doc *d, int tok, const char *s);
/* Integer with range check (no fraction, no exponent overflow). POE_NOTFOUND / POE_FAIL. */
int json_int(const struct json_doc *d, int tok, int64_t *out);
int json_bool(const struct json_doc *d, int tok, bool *out);
/* Raw token text (not unescaped) and its length, for logging; NULL when absent. */
const char *json_raw(const struct json_doc *d, int tok, size_t *len);

/* Convenience: json_str/json_int/json_bool of json_get(d, from, path). */
int json_get_str(const struct json_doc *d, int from, const char *path, char *out, size_t n);
char *json_get_strdup(const struct json_doc *d, int from, const char *path);
int json_get_int(const struct json_doc *d, int from, const char *path, int64_t *out);
int json_get_bool(const struct json_doc *d, int from, const char *path, bool *out);

/*
 * Unescape a JSON string body (without quotes) of length n into out (size outsz).
 * Exposed for the fuzzer and tests.
 */
int json_unescape(const char *s, size_t n, char *out, size_t outsz, size_t *outlen);

/*
 * Writer for request bodies and --json output. Errors are sticky: check jw_finish().
 * key is NULL for array elements and the top-level value.
 */
struct json_writer {
	struct buf *b;
	int depth;
	unsigned char first[64];
	int err;
	int pretty;
};

void jw_init(struct json_writer *w, struct buf *b, int pretty);
void jw_object_begin(struct json_writer *w, const char *key);
void jw_object_end(struct json_writer *w);
void jw_array_begin(struct json_writer *w, const char *key);
void jw_array_end(struct json_writer *w);
void jw_string(struct json_writer *w, const char *key, const char *val); /* NULL -> null */
void jw_int(struct json_writer *w, const char *key, int64_t val);
void jw_bool(struct json_writer *w, const char *key, bool val);
void jw_null(struct json_writer *w, const char *key);
/* Returns 0, or the first error (POE_FAIL: buffer cap, nesting too deep, unbalanced). */
int jw_finish(struct json_writer *w);
/* Append s as a quoted, escaped JSON string to b. */
int json_quote(struct buf *b, const char *s);

#endif
