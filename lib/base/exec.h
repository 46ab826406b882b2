/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_EXEC_H
#define PVE_ONTAP_EXEC_H

#include <stdint.h>

#include "base/buf.h"

/*
 * Run a program with fork/execve and an argument vector, never a shell. stdin is
 * /dev/null; stdout and stderr are captured (each capped at 1 MiB). The child gets a
 * minimal environment (PATH, LC_ALL=C) and never a secret. On the deadline (own or
 * global) the child is sent SIGTERM, then SIGKILL 2 s later.
 */
struct exec_result {
	int exit_code;   /* exit status, or 128 + signal number */
	int timed_out;
	struct buf out;
	struct buf err;
};

void exec_result_init(struct exec_result *r);
void exec_result_release(struct exec_result *r);
/*
 * The last non-empty line a failed program printed, for a message: of stderr, or of stdout
 * when stderr is empty; trailing white space dropped, cut to fit out (n bytes, n >= 1).
 */
void exec_result_last_line(const struct exec_result *r, char *out, size_t n);

/*
 * argv[0] is the program path (absolute); argv is NULL-terminated. Returns 0 when the
 * program ran and exited (whatever its status: check r->exit_code), POE_FAIL when it could
 * not be started, POE_TIMEOUT on the deadline.
 */
int exec_run(const char *const argv[], int64_t deadline_ms, struct exec_result *r);

/* Format argv for logs: "qm rescan --vmid 100" (args quoted when they contain spaces);
 * a command line longer than out's limit ends in "..." (buf_note()). */
void exec_format_argv(const char *const argv[], struct buf *out);

#endif
