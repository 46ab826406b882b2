/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define LOG_LINE_MAX 4096
#define LOG_MAX_SECRETS 64
#define LOG_MASK "***"

static const char *log_progname = "pve-ontap";
static enum log_level log_level = LOG_LVL_INFO;
static bool log_journal;
static bool log_progress_shown;
static unsigned int log_spin;

/*
 * Secrets are registered by config.c (main thread) and read by every thread that logs or
 * sets an error, hence the mutex.
 */
static pthread_mutex_t log_secret_lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_secrets[LOG_MAX_SECRETS];
static size_t log_secret_len[LOG_MAX_SECRETS];
static int log_nsecrets;

/*
 * systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it connected to stdout/stderr
 * (systemd.exec(5)); only when stderr is still that stream do we use "<N>" prefixes.
 */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev = 0, ino = 0;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *progname)
{
	if (progname && *progname) {
		const char *slash = strrchr(progname, '/');

		log_progname = slash ? slash + 1 : progname;
	}
	log_journal = stderr_is_journal();
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_parse_level(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOG_LVL_ERROR }, { "warn", LOG_LVL_WARN },   { "warning", LOG_LVL_WARN },
		{ "info", LOG_LVL_INFO },   { "debug", LOG_LVL_DEBUG },
	};

	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return err_set(POE_USAGE, "invalid log level '%s' (expected error, warn, info or debug)",
		       s ? s : "");
}

bool log_enabled(enum log_level level)
{
	return level <= log_level;
}

void log_add_secret(const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;

	if (n < 4)
		return;
	pthread_mutex_lock(&log_secret_lock);
	for (int i = 0; i < log_nsecrets; i++) {
		if (strcmp(log_secrets[i], secret) == 0)
			goto out;
	}
	if (log_nsecrets == LOG_MAX_SECRETS) {
		/* Drop the oldest: a config reload registers the current ones again. */
		free(log_secrets[0]);
		memmove(&log_secrets[0], &log_secrets[1], (LOG_MAX_SECRETS - 1) * sizeof(char *));
		memmove(&log_secret_len[0], &log_secret_len[1],
			(LOG_MAX_SECRETS - 1) * sizeof(size_t));
		log_nsecrets--;
	}
	log_secrets[log_nsecrets] = strdup(secret);
	if (!log_secrets[log_nsecrets]) {
		fputs("pve-ontap: error: out of memory\n", stderr);
		abort();
	}
	log_secret_len[log_nsecrets] = n;
	log_nsecrets++;
out:
	pthread_mutex_unlock(&log_secret_lock);
}

void log_clear_secrets(void)
{
	pthread_mutex_lock(&log_secret_lock);
	for (int i = 0; i < log_nsecrets; i++) {
		free(log_secrets[i]);
		log_secrets[i] = NULL;
	}
	log_nsecrets = 0;
	pthread_mutex_unlock(&log_secret_lock);
}

void log_scrub(char *dst, unsigned long n, const char *src)
{
	size_t o = 0;

	if (n == 0)
		return;
	if (!src)
		src = "";
	pthread_mutex_lock(&log_secret_lock);
	while (*src && o + 1 < n) {
		size_t best = 0;

		/* Longest match wins so that a secret containing another is masked whole. */
		for (int i = 0; i < log_nsecrets; i++) {
			size_t l = log_secret_len[i];

			if (l > best && strncmp(src, log_secrets[i], l) == 0)
				best = l;
		}
		if (best) {
			for (const char *m = LOG_MASK; *m && o + 1 < n; m++)
				dst[o++] = *m;
			src += best;
		} else {
			dst[o++] = *src++;
		}
	}
	dst[o] = '\0';
	pthread_mutex_unlock(&log_secret_lock);
}

/* Write all of s to stderr, retrying on EINTR and short writes. */
static void write_stderr(const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, s, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		s += w;
		len -= (size_t)w;
	}
}

static const char *level_word(enum log_level level)
{
	switch (level) {
	case LOG_LVL_ERROR:
		return "error: ";
	case LOG_LVL_WARN:
		return "warning: ";
	case LOG_LVL_DEBUG:
		return "debug: ";
	default:
		return "";
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char raw[LOG_LINE_MAX];
	char clean[LOG_LINE_MAX];
	char line[LOG_LINE_MAX + 128];
	int saved_errno = errno;
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	log_scrub(clean, sizeof(clean), raw);

	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>%s\n", (int)level, clean);
	else
		n = snprintf(line, sizeof(line), "%s%s: %s%s\n",
			     log_progress_shown ? "\r\033[K" : "", log_progname, level_word(level),
			     clean);
	if (n < 0)
		goto out;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	log_progress_shown = false;
	write_stderr(line, (size_t)n);
out:
	errno = saved_errno;
}

void log_progress(const char *what, const char *detail)
{
	static const char spin[] = "|/-\\";
	char raw[512];
	char clean[512];
	int n;

	if (!log_enabled(LOG_LVL_INFO) || !isatty(STDERR_FILENO))
		return;
	snprintf(raw, sizeof(raw), "%s%s%s", what ? what : "", detail && *detail ? ": " : "",
		 detail ? detail : "");
	log_scrub(clean, sizeof(clean), raw);
	n = snprintf(raw, sizeof(raw), "\r\033[K%c %s", spin[log_spin++ % 4], clean);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(raw))
		n = sizeof(raw) - 1;
	write_stderr(raw, (size_t)n);
	log_progress_shown = true;
}

void log_progress_done(void)
{
	if (!log_progress_shown)
		return;
	write_stderr("\r\033[K", 4);
	log_progress_shown = false;
}
