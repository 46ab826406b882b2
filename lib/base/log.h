/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_LOG_H
#define PVE_ONTAP_LOG_H

#include <stdbool.h>

/* Levels in syslog order so that the journald prefix is "<level>". */
enum log_level {
	LOG_LVL_ERROR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/*
 * Logging goes to stderr only (stdout is for a command's primary output). When stderr is
 * connected to the journal (JOURNAL_STREAM set and matching stderr's dev:ino) each line
 * goes to journald through its native protocol instead, with PRIORITY=, MESSAGE= and the
 * calling thread's context as VMID=, LABEL=, PHASE= (journalctl -u pve-ontap-watch
 * VMID=100); if that socket cannot be used, the line goes to stderr prefixed with "<N>"
 * so journald still records its priority. Otherwise lines read
 * "pve-ontap: warning: ...", as always. No trailing newline in fmt.
 */
void log_init(const char *progname);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error|warn|info|debug"; returns 0 or POE_USAGE. */
int log_parse_level(const char *s, enum log_level *out);
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * What the calling thread's lines are about, for the journal fields: a VM id (0: none),
 * a snapshot label and a hook phase (NULL or "": none). Thread-local; cleared by
 * log_context_clear(). A value too long for its field (label 63, phase 31 bytes) leaves the
 * field out rather than cut it.
 */
void log_context_set(int vmid, const char *label, const char *phase);
void log_context_label(const char *label);
void log_context_clear(void);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/*
 * Progress for waits longer than a second (ONTAP jobs, PVE tasks): a one-line spinner on
 * stderr, only when stderr is a terminal and the level is at least info; silent otherwise.
 * log_progress_done() clears the line.
 */
void log_progress(const char *what, const char *detail);
void log_progress_done(void);

#endif
