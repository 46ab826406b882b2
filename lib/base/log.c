/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/secret.h"

#define LOG_LINE_MAX 4096

static const char *log_progname = "pve-ontap";
static enum log_level log_level = LOG_LVL_INFO;
static bool log_journal;
static bool log_progress_shown;
static unsigned int log_spin;


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
	secret_scrub(clean, sizeof(clean), raw);

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
	secret_scrub(clean, sizeof(clean), raw);
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
