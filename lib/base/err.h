/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_ERR_H
#define PVE_ONTAP_ERR_H

/*
 * Error codes. Every fallible function returns 0 (or a count >= 0) on success and one of
 * these on failure. The negated code is the exit status of DESIGN.md (contract), so only
 * main() has to turn it into one: exit(-rc).
 */
enum poe_code {
	POE_OK = 0,
	POE_FAIL = -1,     /* operation failed */
	POE_USAGE = -2,    /* usage error */
	POE_CONFIG = -3,   /* configuration or policy error */
	POE_API = -4,      /* ONTAP or PVE API error: unreachable, TLS, HTTP or job failure */
	POE_TIMEOUT = -5,  /* deadline expired */
	POE_NOTFOUND = -6, /* object not found */
};

/*
 * Store the message of the current error (thread-local, the last one wins) and return
 * code, so callers write: return err_set(POE_API, "cannot reach '%s': %s", host, why);
 * The message is scrubbed of registered secrets (see secret_add()).
 */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Put context in front of the stored message ("cannot snapshot VM 100: <old message>")
 * and return code; used by callers that add what they were doing.
 */
int err_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The stored message, "" when none. Borrowed; valid until the next err_set(). */
const char *err_msg(void);

/* The code stored with the message (POE_OK when none). */
int err_code(void);

/* Forget the stored message. */
void err_clear(void);

/*
 * The message and code of a failure, kept while cleanup code runs (which may fail and set
 * its own): err_save() after the failure, cleanup, then `return err_restore(&saved);`.
 */
struct err_saved {
	int code;
	char msg[1024];
};
void err_save(struct err_saved *s);
/* Put the saved message back as the current one; returns its code. */
int err_restore(const struct err_saved *s);

/* Exit status of DESIGN.md for a return code: 0 for rc >= 0, else -rc (1..6). */
int err_exit_status(int rc);

#endif
