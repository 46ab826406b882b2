/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_SECRET_H
#define PVE_ONTAP_SECRET_H

/*
 * Register a secret (password, token) that must never appear in output: every log line
 * and error message is scrubbed of it (replaced by "***"). The string is copied. Empty
 * strings and strings shorter than 4 bytes are ignored (they would mangle ordinary text).
 */
void secret_add(const char *secret);
/* Copy src to dst (size n) with registered secrets replaced; always NUL-terminates. */
void secret_scrub(char *dst, unsigned long n, const char *src);
/* Forget all registered secrets (tests, config reload). */
void secret_clear(void);

#endif
