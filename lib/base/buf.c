/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/util.h"

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->cut = false;
}

/* Make room for n more bytes plus the NUL; the cap is b->max bytes of content. */
static int buf_reserve(struct buf *b, size_t n)
{
	size_t want, ncap;

	if (n > b->max || b->len > b->max - n)
		return err_set(POE_FAIL, "data exceeds the limit of %zu bytes", b->max);
	want = b->len + n + 1;
	if (want <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < want)
		ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
	if (b->max < SIZE_MAX && ncap > b->max + 1)
		ncap = b->max + 1;
	b->data = util_xrealloc(b->data, ncap);
	b->cap = ncap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);

	if (rc < 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return err_set(POE_FAIL, "cannot format output");
	if ((size_t)n < room) {
		/* Fitted in the existing allocation; the cap still applies. */
		if ((size_t)n > b->max - b->len) {
			b->data[b->len] = '\0';
			return err_set(POE_FAIL, "data exceeds the limit of %zu bytes", b->max);
		}
		b->len += (size_t)n;
		return 0;
	}
	rc = buf_reserve(b, (size_t)n);
	if (rc < 0) {
		if (b->data)
			b->data[b->len] = '\0';
		return rc;
	}
	va_copy(ap2, ap);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
	return 0;
}

void buf_note(struct buf *b, const char *fmt, ...)
{
	size_t room, take;
	va_list ap;
	int n;

	if (b->cut || b->max < 4)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	room = b->max - b->len;
	take = (size_t)n <= room ? (size_t)n : room;
	if (buf_reserve(b, take) < 0) /* cannot fail: take fits under max */
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, take + 1, fmt, ap);
	va_end(ap);
	b->len += take;
	if (take < (size_t)n) {
		memcpy(b->data + b->len - 3, "...", 3);
		b->cut = true;
	}
}

const char *buf_cstr(const struct buf *b)
{
	return b->data ? b->data : "";
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->cut = false;
	if (b->data)
		b->data[0] = '\0';
}

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->cut = false;
}

char *buf_detach(struct buf *b)
{
	char *p = b->data ? b->data : util_xstrdup("");

	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->cut = false;
	return p;
}

int buf_read_file(struct buf *b, const char *path)
{
	char chunk[8192]; /* frames stay under -Wstack-usage (Makefile) */
	struct stat st;
	int fd = -1;
	int rc = 0;

	buf_reset(b);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = err_set(errno == ENOENT ? POE_NOTFOUND : POE_FAIL, "cannot open '%s': %s",
			     path, strerror(errno));
		goto out;
	}
	/* Refuse early when the size is known; pseudo files (sysfs, proc) report 0 or 4096. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (unsigned long long)st.st_size > b->max) {
		rc = err_set(POE_FAIL, "file '%s' is larger than %zu bytes", path, b->max);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = err_set(POE_FAIL, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if ((size_t)r > b->max - b->len) {
			rc = err_set(POE_FAIL, "file '%s' is larger than %zu bytes", path, b->max);
			goto out;
		}
		rc = buf_append(b, chunk, (size_t)r);
		if (rc < 0)
			goto out;
	}
	/* An empty file still yields a valid (allocated) empty string. */
	rc = buf_append(b, "", 0);
out:
	if (rc < 0)
		buf_reset(b);
	if (fd >= 0)
		close(fd);
	return rc;
}
