/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/secret.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_MAX 64
#define SECRET_MASK "***"

/*
 * Secrets are registered by config.c (main thread) and read by every thread that logs or
 * sets an error, hence the mutex. This module sits below err and log so that both can
 * scrub without depending on each other.
 */
static pthread_mutex_t secret_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[SECRET_MAX];
static size_t secret_len[SECRET_MAX];
static int nsecrets;

void secret_add(const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;

	if (n < 4)
		return;
	pthread_mutex_lock(&secret_lock);
	for (int i = 0; i < nsecrets; i++) {
		if (strcmp(secrets[i], secret) == 0)
			goto out;
	}
	if (nsecrets == SECRET_MAX) {
		/* Drop the oldest: a config reload registers the current ones again. */
		free(secrets[0]);
		memmove(&secrets[0], &secrets[1], (SECRET_MAX - 1) * sizeof(char *));
		memmove(&secret_len[0], &secret_len[1],
			(SECRET_MAX - 1) * sizeof(size_t));
		nsecrets--;
	}
	secrets[nsecrets] = strdup(secret);
	if (!secrets[nsecrets]) {
		fputs("pve-ontap: error: out of memory\n", stderr);
		abort();
	}
	secret_len[nsecrets] = n;
	nsecrets++;
out:
	pthread_mutex_unlock(&secret_lock);
}

void secret_clear(void)
{
	pthread_mutex_lock(&secret_lock);
	for (int i = 0; i < nsecrets; i++) {
		free(secrets[i]);
		secrets[i] = NULL;
	}
	nsecrets = 0;
	pthread_mutex_unlock(&secret_lock);
}

void secret_scrub(char *dst, unsigned long n, const char *src)
{
	size_t o = 0;

	if (n == 0)
		return;
	if (!src)
		src = "";
	pthread_mutex_lock(&secret_lock);
	while (*src && o + 1 < n) {
		size_t best = 0;

		/* Longest match wins so that a secret containing another is masked whole. */
		for (int i = 0; i < nsecrets; i++) {
			size_t l = secret_len[i];

			if (l > best && strncmp(src, secrets[i], l) == 0)
				best = l;
		}
		if (best) {
			for (const char *m = SECRET_MASK; *m && o + 1 < n; m++)
				dst[o++] = *m;
			src += best;
		} else {
			dst[o++] = *src++;
		}
	}
	dst[o] = '\0';
	pthread_mutex_unlock(&secret_lock);
}
