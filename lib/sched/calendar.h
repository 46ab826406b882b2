/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_CALENDAR_H
#define PVE_ONTAP_CALENDAR_H

/*
 * Proxmox VE calendar events (the schedule format of vzdump jobs, /etc/pve/jobs.cfg; the
 * admin guide's "Schedule Format" appendix and proxmox-time): "[WEEKDAY] [[YEARS-]MONTHS-DAYS]
 * [HOURS:MINUTES[:SECONDS]]" with ranges "..", lists ",", repetitions "/", and the words
 * minutely hourly daily weekly monthly yearly quarterly semiannually. Times are local time
 * (TZ), and next-due computation is correct across DST transitions. Pure: no I/O.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cal_event;

/*
 * Parse spec. On success returns 0 and *out (free with cal_free()). On failure returns
 * POE_CONFIG, *out is NULL, and err (size n, may be NULL) holds a message without a
 * position, e.g. "unknown weekday 'mnday'"; col (may be NULL) the 0-based offset in spec
 * the message is about, for "file:line:col" errors.
 */
int cal_parse(const char *spec, struct cal_event **out, char *err, size_t n, int *col);
void cal_free(struct cal_event *ev);

/*
 * The first time strictly after `after` (Unix seconds) that the event matches, in Unix
 * seconds, or -1 when it never matches again (e.g. "feb 30") within the search horizon
 * (the event's next 200 years at most, bounded work).
 */
int64_t cal_next(const struct cal_event *ev, int64_t after);

/*
 * Does the event match any time from 1970-01-01 00:00:01 UTC to the end of the last year of
 * the format (2199)? False for
 * an impossible date ("*-02-30", "2021-02-29") or only years before 1970; independent of
 * the current time, so a one-shot date in the past stays valid.
 */
bool cal_ever(const struct cal_event *ev);

/* A typical period of the event in seconds (next-after-next minus next, from `now`), for
 * "late" in `status`; -1 when it does not repeat. */
int64_t cal_period(const struct cal_event *ev, int64_t now);

#endif
