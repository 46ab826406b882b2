/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/err.h"
#include "base/secret.h"

#define LOG_LINE_MAX 4096

static const char *log_progname = "pve-ontap";
static enum log_level log_level = LOG_LVL_INFO;
static bool log_journal;
/* the journal's native socket (systemd-journald.socket), when stderr is the journal */
static int journal_fd = -1;
static struct sockaddr_un journal_addr;
static socklen_t journal_addr_len;

/* What a line is about, per thread (the watcher runs one VM's jobs per worker). */
static _Thread_local struct {
	int vmid;
	char label[64];
	char phase[32];
} log_ctx;
/*
 * The spinner line (log_progress): drawn by the main thread only, erased by whichever thread
 * writes the next line. The lock keeps "erase the spinner, write the line" in one piece when
 * worker threads (the watcher's) log beside it.
 */
static pthread_mutex_t progress_lock = PTHREAD_MUTEX_INITIALIZER;
static bool log_progress_shown;
static unsigned int log_spin;

/* Linux: the main thread's id is the process id (gettid(2)). */
static bool on_main_thread(void)
{
	return (pid_t)syscall(SYS_gettid) == getpid();
}


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

/*
 * The journal's native protocol (systemd's "Native Journal Protocol", as sd_journal_send()
 * speaks it, without linking libsystemd): one datagram per entry on journald's socket.
 * PVE_ONTAP_JOURNAL_SOCKET replaces the socket's path for tests only (HACKING.md).
 */
static void journal_open(void)
{
	const char *path = getenv("PVE_ONTAP_JOURNAL_SOCKET");

	if (!path || !*path)
		path = "/run/systemd/journal/socket";
	if (strlen(path) >= sizeof(journal_addr.sun_path)) {
		journal_addr_len = 0;
		return;
	}
	memset(&journal_addr, 0, sizeof(journal_addr));
	journal_addr.sun_family = AF_UNIX;
	memcpy(journal_addr.sun_path, path, strlen(path) + 1);
	journal_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
	if (journal_fd < 0)
		journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

void log_init(const char *progname)
{
	if (progname && *progname) {
		const char *slash = strrchr(progname, '/');

		log_progname = slash ? slash + 1 : progname;
	}
	log_journal = stderr_is_journal();
	if (log_journal)
		journal_open();
}

/* A value that does not fit leaves the field out: a cut label would name another one. */
static void ctx_copy(char *dst, size_t n, const char *s)
{
	if (!s || strlen(s) >= n)
		s = "";
	memcpy(dst, s, strlen(s) + 1);
}

void log_context_set(int vmid, const char *label, const char *phase)
{
	log_ctx.vmid = vmid > 0 ? vmid : 0;
	ctx_copy(log_ctx.label, sizeof(log_ctx.label), label);
	ctx_copy(log_ctx.phase, sizeof(log_ctx.phase), phase);
}

void log_context_label(const char *label)
{
	ctx_copy(log_ctx.label, sizeof(log_ctx.label), label);
}

void log_context_clear(void)
{
	memset(&log_ctx, 0, sizeof(log_ctx));
}

/* One field: "NAME=value\n", or, for a value with a newline, NAME\n <le64 size> value\n. */
static bool journal_field(char *buf, size_t cap, size_t *len, const char *name,
			  const char *value)
{
	size_t n = strlen(name), v = strlen(value);

	if (*len + n + v + 10 > cap)
		return false;
	memcpy(buf + *len, name, n);
	*len += n;
	if (!strchr(value, '\n')) {
		buf[(*len)++] = '=';
	} else {
		uint64_t le = (uint64_t)v;

		buf[(*len)++] = '\n';
		for (int i = 0; i < 8; i++)
			buf[(*len)++] = (char)((le >> (8 * i)) & 0xff);
	}
	memcpy(buf + *len, value, v);
	*len += v;
	buf[(*len)++] = '\n';
	return true;
}

/* Send one entry with the thread's VMID=, LABEL=, PHASE=; false when it did not go. */
static bool journal_send(enum log_level level, const char *msg)
{
	char buf[LOG_LINE_MAX + 512], num[24];
	size_t len = 0;
	bool ok;

	if (journal_fd < 0 || journal_addr_len == 0)
		return false;
	snprintf(num, sizeof(num), "%d", (int)level);
	ok = journal_field(buf, sizeof(buf), &len, "PRIORITY", num) &&
	     journal_field(buf, sizeof(buf), &len, "SYSLOG_IDENTIFIER", log_progname) &&
	     journal_field(buf, sizeof(buf), &len, "MESSAGE", msg);
	if (ok && log_ctx.vmid > 0) {
		snprintf(num, sizeof(num), "%d", log_ctx.vmid);
		ok = journal_field(buf, sizeof(buf), &len, "VMID", num);
	}
	if (ok && log_ctx.label[0])
		ok = journal_field(buf, sizeof(buf), &len, "LABEL", log_ctx.label);
	if (ok && log_ctx.phase[0])
		ok = journal_field(buf, sizeof(buf), &len, "PHASE", log_ctx.phase);
	return ok && sendto(journal_fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&journal_addr,
			    journal_addr_len) == (ssize_t)len;
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

	if (log_journal && journal_send(level, clean))
		goto out;
	pthread_mutex_lock(&progress_lock);
	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>%s\n", (int)level, clean);
	else
		n = snprintf(line, sizeof(line), "%s%s: %s%s\n",
			     log_progress_shown ? "\r\033[K" : "", log_progname, level_word(level),
			     clean);
	if (n >= 0) {
		if ((size_t)n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		log_progress_shown = false;
		write_stderr(line, (size_t)n);
	}
	pthread_mutex_unlock(&progress_lock);
out:
	errno = saved_errno;
}

void log_progress(const char *what, const char *detail)
{
	static const char spin[] = "|/-\\";
	char raw[512];
	char clean[512];
	int n;

	if (!log_enabled(LOG_LVL_INFO) || !isatty(STDERR_FILENO) || !on_main_thread())
		return;
	snprintf(raw, sizeof(raw), "%s%s%s", what ? what : "", detail && *detail ? ": " : "",
		 detail ? detail : "");
	secret_scrub(clean, sizeof(clean), raw);
	pthread_mutex_lock(&progress_lock);
	n = snprintf(raw, sizeof(raw), "\r\033[K%c %s", spin[log_spin++ % 4], clean);
	if (n >= 0) {
		if ((size_t)n >= sizeof(raw))
			n = sizeof(raw) - 1;
		write_stderr(raw, (size_t)n);
		log_progress_shown = true;
	}
	pthread_mutex_unlock(&progress_lock);
}

void log_progress_done(void)
{
	/* the spinner is the main thread's: a worker's wait ending does not erase it */
	if (!on_main_thread())
		return;
	pthread_mutex_lock(&progress_lock);
	if (log_progress_shown)
		write_stderr("\r\033[K", 4);
	log_progress_shown = false;
	pthread_mutex_unlock(&progress_lock);
}
