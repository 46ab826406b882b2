/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/secret.h"

/*
 * One message per thread: a worker thread's failure must not overwrite the message main()
 * is about to print. 1024 bytes is plenty for "what failed: remote detail"; longer
 * messages are cut, never overflowed.
 */
#define ERR_MSG_MAX 1024

static _Thread_local char err_buf[ERR_MSG_MAX];
static _Thread_local int err_last_code;

/* Store the scrubbed text and the code; returns code. */
static int err_store(int code, const char *text)
{
	secret_scrub(err_buf, sizeof(err_buf), text);
	err_last_code = code;
	return code;
}

int err_set(int code, const char *fmt, ...)
{
	char tmp[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	return err_store(code, tmp);
}

int err_prefix(int code, const char *fmt, ...)
{
	char ctx[ERR_MSG_MAX];
	char tmp[2 * ERR_MSG_MAX + 4]; /* cut to ERR_MSG_MAX by err_store() */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (err_buf[0] != '\0')
		snprintf(tmp, sizeof(tmp), "%s: %s", ctx, err_buf);
	else
		snprintf(tmp, sizeof(tmp), "%s", ctx);
	return err_store(code, tmp);
}

const char *err_msg(void)
{
	return err_buf;
}

int err_code(void)
{
	return err_last_code;
}

void err_clear(void)
{
	err_buf[0] = '\0';
	err_last_code = POE_OK;
}

int err_exit_status(int rc)
{
	if (rc >= 0)
		return 0;
	if (rc < POE_NOTFOUND)
		return -POE_FAIL;
	return -rc;
}

void err_save(struct err_saved *s)
{
	s->code = err_last_code;
	snprintf(s->msg, sizeof(s->msg), "%s", err_buf);
}

int err_restore(const struct err_saved *s)
{
	snprintf(err_buf, sizeof(err_buf), "%s", s->msg);
	err_last_code = s->code;
	return s->code;
}
