/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_UTIL_H
#define PVE_ONTAP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Monotonic milliseconds. */
int64_t util_now_ms(void);
/* Process-wide hard deadline (absolute monotonic ms, 0 = none): the hook's timeout, set
 * once by the hook and never swapped (HACKING.md "Deadlines"). */
void util_deadline_set_global(int64_t deadline_ms);
int64_t util_deadline_global(void);
/*
 * A deadline ms from now for a step that must run even when the global deadline has
 * passed (thawing or restarting a guest, undoing half a snapshot): not bounded by the
 * global one. Passed down like any deadline (it is encoded as a negative value: compare
 * deadlines only through these functions, or util_deadline_at() for the time itself).
 */
int64_t util_deadline_own(int64_t ms);
/* The earlier of d and ms from now, of d's kind (util_deadline_own() or not; 0 = ms). */
int64_t util_deadline_within(int64_t d, int64_t ms);
/* The earlier of d and the global deadline (0 = none); an own deadline as it is. */
int64_t util_deadline_min(int64_t d);
/* The monotonic time at which d (after util_deadline_min()) expires, 0 when none. */
int64_t util_deadline_at(int64_t d);
/* Milliseconds left until d (after util_deadline_min), INT64_MAX when none, 0 when over. */
int64_t util_deadline_left(int64_t d);
bool util_deadline_passed(int64_t d);
/* Sleep ms (or until the deadline); returns POE_TIMEOUT when the deadline passed.
 * PVE_ONTAP_TEST_TIME_SCALE=F (F in (0, 1], tests only) makes every sleep F times as long. */
int util_sleep_ms(int64_t ms, int64_t deadline);
/* A backoff of about ms: uniform in [ms/2, 3ms/2), different in each process and call, so
 * that clients which failed together do not come back together. */
int64_t util_jitter_ms(int64_t ms);

/* Timestamp of DESIGN.md: UTC "YYYYMMDDTHHMMSSZ" (out >= 17 bytes). */
void util_ts_format(time_t t, char out[17]);
/* Parse that form back; returns 0 or POE_FAIL. */
int util_ts_parse(const char *s, time_t *out);
/* ISO-8601 UTC "2026-11-22T10:15:00Z" (out >= 21 bytes). */
void util_iso8601(time_t t, char out[21]);
/* Parse an ISO-8601 time with offset ("2021-08-31T13:18:24-04:00" or "...Z"). */
int util_iso8601_parse(const char *s, time_t *out);

/* Durations "30s", "12h", "5m", "7d" (and a plain number = seconds) to seconds. */
int util_parse_duration(const char *s, int64_t *seconds);
/* Sizes "32G", "512M", "1T", "4096" (powers of 1024, optional trailing B/iB) to bytes. */
int util_parse_size(const char *s, uint64_t *bytes);
/* Decimal integer in [min, max]; whole string. */
int util_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/*
 * A name is a single path component we create or read: non-empty, <= 255 bytes, no '/',
 * not "." or "..", no control characters. Everything that comes from a config, a policy,
 * a PVE config or an ONTAP answer and is used in a path goes through this.
 */
bool util_is_safe_name(const char *s);
/* Relative path of safe components separated by '/'. */
bool util_is_safe_relpath(const char *s);
/* A UUID as 8-4-4-4-12 hex digits (either case), nothing after it. */
bool util_is_uuid(const char *s);
/*
 * The first n bytes of s are a PVE storage id (pve-storage's parse_storage_id,
 * reference/pve.md §8): a letter, then letters, digits, '-', '_', '.', ending with a letter
 * or a digit. Callers that bound the length (PVE: 2 or more) check n themselves.
 */
bool util_is_storage_id(const char *s, size_t n);

/* Newly allocated printf result (caller frees); aborts on out-of-memory like xmalloc. */
char *util_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *util_xmalloc(size_t n);
void *util_xcalloc(size_t n, size_t size);
void *util_xrealloc(void *p, size_t n);
char *util_xstrdup(const char *s);
/*
 * Copy src into dst (size n). 0, or POE_FAIL with a message naming what ("clone path") and
 * the text when it does not fit: a cut name or path is an error, never used (STYLE #5).
 * dst then holds a cut copy, NUL-terminated.
 */
int util_strcpy(char *dst, const char *src, size_t n, const char *what)
	__attribute__((warn_unused_result));
/* snprintf into dst (size n): 0, or POE_FAIL naming what when the result does not fit,
 * as util_strcpy(). */
int util_format(char *dst, size_t n, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), warn_unused_result));
/*
 * strlcpy for text where a cut is harmless and intended (messages, display columns):
 * returns strlen(src). Anything used as a name, path, id or key goes through util_strcpy().
 */
size_t util_strlcpy(char *dst, const char *src, size_t n);

/* mkdir -p with mode for each created component. */
int util_mkdir_p(const char *path, unsigned int mode);
/*
 * Write data to path atomically: temporary file ".<name>.XXXXXX" in the same directory,
 * fsync, rename, fsync the directory. Returns 0 or POE_FAIL.
 */
int util_write_file_atomic(const char *path, const void *data, size_t len, unsigned int mode);

#endif
