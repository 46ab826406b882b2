/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_BUF_H
#define PVE_ONTAP_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include <stdbool.h>

/*
 * Growable byte buffer with a hard cap: exceeding max is an error (POE_FAIL with a
 * message), never a silent truncation. data is always NUL-terminated when non-NULL.
 * An appender that fails leaves the contents as they were, so its result must be
 * checked (warn_unused_result, as curl's dynbuf); text for a person, where a cut is
 * harmless, goes through buf_note() instead.
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
	bool cut;       /* buf_note() reached max: the text ends in "..." */
};

#define BUF_INIT(maxbytes) { NULL, 0, 0, (maxbytes), false }

void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *p, size_t n) __attribute__((warn_unused_result));
int buf_puts(struct buf *b, const char *s) __attribute__((warn_unused_result));
int buf_putc(struct buf *b, char c) __attribute__((warn_unused_result));
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), warn_unused_result));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0), warn_unused_result));
/*
 * Append to a message (what a person reads: an error's details, a report): never fails and
 * never touches the thread's error. Text beyond max is dropped and the message ends in
 * "..."; notes after that are ignored until the buffer is reset.
 */
void buf_note(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "" when empty; borrowed. */
const char *buf_cstr(const struct buf *b);
/* Keep the allocation, drop the contents. */
void buf_reset(struct buf *b);
/* Free the allocation; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);
/* Returns the contents as a newly allocated string (caller frees); the buffer is emptied. */
char *buf_detach(struct buf *b);
/*
 * Read a whole file into b, refusing files larger than b->max (error names the file).
 * POE_NOTFOUND when it does not exist.
 */
int buf_read_file(struct buf *b, const char *path);

#endif
