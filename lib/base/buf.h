/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_BUF_H
#define PVE_ONTAP_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * Growable byte buffer with a hard cap: exceeding max is an error (POE_FAIL with a
 * message), never a silent truncation. data is always NUL-terminated when non-NULL.
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

#define BUF_INIT(maxbytes) { NULL, 0, 0, (maxbytes) }

void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
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
