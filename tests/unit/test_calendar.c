/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for PVE calendar events (lib/sched/calendar.c). The expected times are the
 * worked examples of pve-docs calendar-events.adoc ("Special Values" and "Schedule
 * Examples" tables) and the cases of proxmox-time src/test.rs (test_compute_next_event,
 * test_calendar_event_weekday), taken as data; DST days of Europe/Berlin and
 * America/New_York 2026 follow what proxmox-time and systemd do (see calendar.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "sched/calendar.h"

#define MIN INT64_C(60)
#define HOUR INT64_C(3600)
#define DAY INT64_C(86400)

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static int setup_utc(void **state)
{
	(void)state;
	set_tz("UTC");
	return 0;
}

/* An instant written as a UTC date and time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return (int64_t)timegm(&tm);
}

static struct cal_event *parse_ok(const char *spec)
{
	struct cal_event *ev = (struct cal_event *)1;
	char err[256] = "x";
	int col = -1;
	int rc = cal_parse(spec, &ev, err, sizeof(err), &col);

	if (rc)
		fprintf(stderr, "'%s': %s (col %d)\n", spec, err, col);
	assert_int_equal(rc, 0);
	assert_non_null(ev);
	return ev;
}

static void expect_next(const char *spec, int64_t after, int64_t want)
{
	struct cal_event *ev = parse_ok(spec);
	int64_t got = cal_next(ev, after);

	if (got != want)
		fprintf(stderr, "'%s' after %lld: got %lld, want %lld\n", spec, (long long)after,
			(long long)got, (long long)want);
	assert_int_equal(got, want);
	cal_free(ev);
}

/* Each next time of spec from after, in order (a chain of cal_next calls). */
static void expect_chain(const char *spec, int64_t after, const int64_t *want, size_t n)
{
	struct cal_event *ev = parse_ok(spec);

	for (size_t i = 0; i < n; i++) {
		int64_t got = cal_next(ev, after);

		if (got != want[i])
			fprintf(stderr, "'%s' step %zu after %lld: got %lld, want %lld\n", spec, i,
				(long long)after, (long long)got, (long long)want[i]);
		assert_int_equal(got, want[i]);
		after = got;
	}
	cal_free(ev);
}

static void expect_error(const char *spec, int want_col, const char *want_msg)
{
	struct cal_event *ev = (struct cal_event *)1;
	char err[256] = "";
	int col = -1;
	int rc = cal_parse(spec, &ev, err, sizeof(err), &col);

	if (rc != POE_CONFIG || col != want_col || strcmp(err, want_msg) != 0)
		fprintf(stderr, "'%s': rc %d col %d '%s'\n", spec, rc, col, err);
	assert_int_equal(rc, POE_CONFIG);
	assert_null(ev);
	assert_int_equal(col, want_col);
	assert_string_equal(err, want_msg);
	assert_string_equal(err_msg(), want_msg);
}

/* ---- proxmox-time src/test.rs, test_compute_next_event (every spec + " UTC") -------- */

#define THU_00 INT64_C(0)           /* 1970-01-01 00:00 UTC, a Thursday */
#define THU_15 (15 * HOUR)
#define JUL_31_2020 INT64_C(1596153600) /* Friday */
#define DEC_31_2020 INT64_C(1609372800) /* Thursday */

static void test_proxmox_time_fields(void **state)
{
	(void)state;
	/* a lone value is minutes */
	expect_next("0 UTC", THU_00, THU_00 + HOUR);
	expect_next("* UTC", THU_00, THU_00 + MIN);
	expect_next("*:0 UTC", THU_00, THU_00 + HOUR);
	expect_next("*:* UTC", THU_00, THU_00 + MIN);
	expect_next("*:*:* UTC", THU_00, THU_00 + 1);
	expect_next("*:3:5 UTC", THU_00, THU_00 + 3 * MIN + 5);
	expect_next("mon *:* UTC", THU_00, THU_00 + 4 * DAY);
	expect_next("mon 2:* UTC", THU_00, THU_00 + 4 * DAY + 2 * HOUR);
	expect_next("mon 2:50 UTC", THU_00, THU_00 + 4 * DAY + 2 * HOUR + 50 * MIN);
	expect_next("tue UTC", THU_00, THU_00 + 5 * DAY);
	expect_next("wed UTC", THU_00, THU_00 + 6 * DAY);
	expect_next("thu UTC", THU_00, THU_00 + 7 * DAY);
	expect_next("fri UTC", THU_00, THU_00 + 1 * DAY);
	expect_next("sat UTC", THU_00, THU_00 + 2 * DAY);
	expect_next("sun UTC", THU_00, THU_00 + 3 * DAY);
	/* repeated ranges */
	expect_next("4..10/2:0 UTC", THU_00, THU_00 + 4 * HOUR);
	expect_next("4..10/2:0 UTC", THU_00 + 5 * HOUR, THU_00 + 6 * HOUR);
	expect_next("4..10/2:0 UTC", THU_00 + 11 * HOUR, THU_00 + DAY + 4 * HOUR);
	/* several values for one field, in any order */
	expect_next("5,10:4,8 UTC", THU_00, THU_00 + 5 * HOUR + 4 * MIN);
	expect_next("10,5:8,4 UTC", THU_00, THU_00 + 5 * HOUR + 4 * MIN);
	expect_next("6,4..10:23,5/5 UTC", THU_00, THU_00 + 4 * HOUR + 5 * MIN);
	expect_next("4..10,6:5/5,23 UTC", THU_00, THU_00 + 4 * HOUR + 5 * MIN);
}

static void test_proxmox_time_wrapping(void **state)
{
	static const char *const days[] = { "sat", "sun", "mon", "tue", "wed", "thu", "fri" };
	static const char *const days2[] = { "fri", "sat", "sun", "mon", "tue", "wed", "thu" };
	char spec[32];

	(void)state;
	for (int i = 0; i < 7; i++) { /* month wrapping */
		snprintf(spec, sizeof(spec), "%s UTC", days[i]);
		expect_next(spec, JUL_31_2020, JUL_31_2020 + (i + 1) * DAY);
	}
	for (int i = 0; i < 7; i++) { /* year wrapping */
		snprintf(spec, sizeof(spec), "%s UTC", days2[i]);
		expect_next(spec, DEC_31_2020, DEC_31_2020 + (i + 1) * DAY);
	}
	expect_next("daily UTC", THU_00, THU_00 + DAY);
	expect_next("daily UTC", THU_00 + 1, THU_00 + DAY);
}

static void test_proxmox_time_chains(void **state)
{
	int64_t want[100];

	(void)state;
	for (int i = 0; i < 4; i++)
		want[i] = THU_00 + (5 + 2 * i) * HOUR;
	expect_chain("5/2:0 UTC", THU_00, want, 4);
	for (int i = 0; i < 99; i++)
		want[i] = THU_00 + (i + 1) * MIN;
	expect_chain("*:* UTC", THU_00, want, 99);
	for (int i = 0; i < 99; i++)
		want[i] = THU_00 + (i + 1) * HOUR;
	expect_chain("*:0 UTC", THU_00, want, 99);
	for (int i = 0; i < 99; i++)
		want[i] = THU_00 + (i + 1) * DAY + HOUR;
	expect_chain("1:0 UTC", THU_15, want, 99);
}

static void test_proxmox_time_dates(void **state)
{
	(void)state;
	expect_next("2020-07-31 UTC", 0, JUL_31_2020);
	expect_next("02-28 UTC", 0, (31 + 27) * DAY);
	expect_next("02-29 UTC", 0, 2 * 365 * DAY + (31 + 28) * DAY); /* 1972-02-29 */
	expect_next("1965/5-01-01 UTC", -1, THU_00);
	expect_next("2020-7..9-2/2 UTC", JUL_31_2020, JUL_31_2020 + 2 * DAY);
	expect_next("2020,2021-12-31 UTC", JUL_31_2020, DEC_31_2020);
	/* keyword shortcuts */
	expect_next("minutely UTC", THU_00, THU_00 + MIN);
	expect_next("hourly UTC", THU_00, THU_00 + HOUR);
	expect_next("weekly UTC", THU_00, THU_00 + 4 * DAY); /* next Monday */
	expect_next("monthly UTC", 0, 31 * DAY);
	expect_next("quarterly UTC", 0, (31 + 28 + 31) * DAY);
	expect_next("semiannually UTC", 0, (31 + 28 + 31 + 30 + 31 + 30) * DAY);
	expect_next("semi-annually UTC", 0, (31 + 28 + 31 + 30 + 31 + 30) * DAY);
	expect_next("yearly UTC", 0, 365 * DAY);
	expect_next("annually UTC", 0, 365 * DAY);
}

static void expect_never(const char *spec, int64_t after)
{
	expect_next(spec, after, -1);
}

static void test_never_fires(void **state)
{
	(void)state;
	/* proxmox-time test_never */
	expect_never("2021-02-29 UTC", 0);
	expect_never("02-30 UTC", 0);
	/* the issue's "feb 30", written in the format; April has 30 days */
	expect_never("*-02-30", 0);
	expect_never("*-02-30", utc(2026, 12, 2, 0, 0, 0));
	expect_never("*-04-31 12:00", utc(2026, 12, 2, 0, 0, 0));
	/* a date in the past, and after the last year of the format */
	expect_never("2015-10-21", utc(2015, 10, 21, 0, 0, 0));
	expect_never("daily", utc(2200, 1, 1, 0, 0, 0));
	expect_next("2199-12-31 23:59:59", utc(2026, 1, 1, 0, 0, 0),
		    utc(2199, 12, 31, 23, 59, 59));
	expect_never("2199-12-31 23:59:59", utc(2199, 12, 31, 23, 59, 59));
	/* more than 200 years ahead is past the search horizon (calendar.h) */
	expect_never("2199-01-01", utc(1970, 1, 1, 0, 0, 0));
	/* leap day on a given weekday: found years ahead, within bounded work */
	expect_next("fri *-02-29", utc(2026, 1, 1, 0, 0, 0), utc(2036, 2, 29, 0, 0, 0));
}

/* proxmox-time test_calendar_event_weekday: these parse */
static void test_proxmox_time_weekdays(void **state)
{
	static const char *const ok[] = {
		"mon,wed..fri", "fri..mon", "mon",       "MON",      "monDay",   "tue",
		"Tuesday",      "wed",      "wednesday", "thu",      "thursday", "fri",
		"friday",       "sat",      "saturday",  "sun",      "sunday",   "mon..fri",
		"mon,tue,fri",  "mon,tue..wednesday,fri..sat",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cal_free(parse_ok(ok[i]));
	/* fri..mon wraps: Fri, Sat, Sun, Mon; from Thu 1970-01-01 */
	int64_t want[] = { 1 * DAY, 2 * DAY, 3 * DAY, 4 * DAY, 8 * DAY };

	expect_chain("fri..mon UTC", THU_00, want, 5);
}

/* ---- pve-docs calendar-events.adoc ----------------------------------------------- */

/* Two specs that the docs call equivalent give the same next times from `after`. */
static void expect_same(const char *a, const char *b, int64_t after, int rounds)
{
	struct cal_event *ea = parse_ok(a), *eb = parse_ok(b);
	int64_t ta = after, tb = after;

	for (int i = 0; i < rounds; i++) {
		ta = cal_next(ea, ta);
		tb = cal_next(eb, tb);
		if (ta != tb)
			fprintf(stderr, "'%s' %lld != '%s' %lld\n", a, (long long)ta, b,
				(long long)tb);
		assert_int_equal(ta, tb);
	}
	cal_free(ea);
	cal_free(eb);
}

static void test_docs_special_values(void **state)
{
	static const char *const pairs[][2] = {
		{ "minutely", "*-*-* *:*:00" },
		{ "hourly", "*-*-* *:00:00" },
		{ "daily", "*-*-* 00:00:00" },
		{ "weekly", "mon *-*-* 00:00:00" },
		{ "monthly", "*-*-01 00:00:00" },
		{ "yearly", "*-01-01 00:00:00" },
		{ "annually", "*-01-01 00:00:00" },
		{ "quarterly", "*-01,04,07,10-01 00:00:00" },
		{ "semiannually", "*-01,07-01 00:00:00" },
		{ "semi-annually", "*-01,07-01 00:00:00" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		expect_same(pairs[i][0], pairs[i][1], JUL_31_2020 + 7, 30);
	expect_next("hourly", JUL_31_2020 + 7, JUL_31_2020 + HOUR);
	expect_next("quarterly", JUL_31_2020, utc(2020, 10, 1, 0, 0, 0));
}

static void test_docs_examples(void **state)
{
	const int64_t fri = JUL_31_2020; /* Friday 2020-07-31 00:00 UTC */

	(void)state;
	expect_same("mon,tue,wed,thu,fri", "mon..fri", fri, 20);
	expect_next("mon..fri", fri, fri + 3 * DAY); /* "every working day at 0:00" */
	expect_same("sat,sun", "sat..sun", fri, 20);
	expect_next("sat,sun", fri, fri + DAY);
	expect_chain("mon,wed,fri", fri, (int64_t[]){ fri + 3 * DAY, fri + 5 * DAY, fri + 7 * DAY },
		     3);
	expect_next("12:05", fri, fri + 12 * HOUR + 5 * MIN);
	expect_same("*/5", "0/5", fri, 30);
	expect_chain("*/5", fri, (int64_t[]){ fri + 5 * MIN, fri + 10 * MIN }, 2);
	/* "Monday, Tuesday, Wednesday 30, 40 and 50 minutes after every full hour" */
	expect_same("mon..wed 30/10", "mon,tue,wed 30/10", fri, 100);
	expect_chain("mon..wed 30/10", fri,
		     (int64_t[]){ fri + 3 * DAY + 30 * MIN, fri + 3 * DAY + 40 * MIN,
				  fri + 3 * DAY + 50 * MIN, fri + 3 * DAY + HOUR + 30 * MIN },
		     4);
	/* "every 15 minutes between 8 AM and 6 PM and between 10 PM and 11 PM" */
	expect_next("mon..fri 8..17,22:0/15", fri, fri + 8 * HOUR);
	expect_next("mon..fri 8..17,22:0/15", fri + 17 * HOUR + 45 * MIN, fri + 22 * HOUR);
	expect_next("mon..fri 8..17,22:0/15", fri + 22 * HOUR + 45 * MIN,
		    fri + 3 * DAY + 8 * HOUR);
	/* "Friday at 12:05, 12:25, 12:45, 13:05, 13:25 and 13:45" */
	expect_same("fri 12..13:5/20", "fri 12,13:5/20", fri, 20);
	expect_chain("fri 12..13:5/20", fri,
		     (int64_t[]){ fri + 12 * HOUR + 5 * MIN, fri + 12 * HOUR + 25 * MIN,
				  fri + 12 * HOUR + 45 * MIN, fri + 13 * HOUR + 5 * MIN,
				  fri + 13 * HOUR + 25 * MIN, fri + 13 * HOUR + 45 * MIN,
				  fri + 7 * DAY + 12 * HOUR + 5 * MIN },
		     7);
	/* "every day starting at 12:05 until 22:05, every 2 hours" */
	expect_same("12,14,16,18,20,22:5", "12/2:5", fri, 30);
	expect_chain("12/2:5", fri + 21 * HOUR,
		     (int64_t[]){ fri + 22 * HOUR + 5 * MIN, fri + DAY + 12 * HOUR + 5 * MIN }, 2);
	expect_same("*", "*/1", fri, 100);
	expect_next("*", fri, fri + MIN);
	expect_next("*-05", fri, utc(2020, 8, 5, 0, 0, 0));
	/* "first Saturday each month at 15:00": 2020-08-01 and 2020-09-05 */
	expect_chain("Sat *-1..7 15:00", fri,
		     (int64_t[]){ utc(2020, 8, 1, 15, 0, 0), utc(2020, 9, 5, 15, 0, 0) }, 2);
	expect_next("2015-10-21", 0, utc(2015, 10, 21, 0, 0, 0));
}

static void test_issue_examples(void **state)
{
	const int64_t fri = JUL_31_2020;

	(void)state;
	expect_next("*:00", fri + 1, fri + HOUR);
	expect_next("*/15", fri + 15 * MIN, fri + 30 * MIN);
	expect_next("mon..fri 02:30", fri + 3 * HOUR, fri + 3 * DAY + 2 * HOUR + 30 * MIN);
	expect_next("sat 03:00", fri, fri + DAY + 3 * HOUR);
	expect_next("0/2:00", fri + HOUR, fri + 2 * HOUR);
	expect_chain("8..17/2:30", fri + 17 * HOUR,
		     (int64_t[]){ fri + DAY + 8 * HOUR + 30 * MIN, fri + DAY + 10 * HOUR + 30 * MIN },
		     2);
	expect_next("5/0", fri, fri + 5 * MIN); /* a repetition of 0 is the start alone */
}

static void test_period(void **state)
{
	struct cal_event *ev;
	const int64_t thu = utc(2026, 12, 3, 12, 0, 0);

	(void)state;
	ev = parse_ok("hourly");
	assert_int_equal(cal_period(ev, thu), HOUR);
	cal_free(ev);
	ev = parse_ok("*/15");
	assert_int_equal(cal_period(ev, thu), 15 * MIN);
	cal_free(ev);
	ev = parse_ok("mon..fri 02:30"); /* Fri 02:30, then Mon 02:30 */
	assert_int_equal(cal_period(ev, thu), 3 * DAY);
	cal_free(ev);
	ev = parse_ok("2015-10-21");
	assert_int_equal(cal_period(ev, thu), -1);
	cal_free(ev);
	ev = parse_ok("2027-01-01"); /* fires once more, then never */
	assert_int_equal(cal_period(ev, thu), -1);
	cal_free(ev);
}

/* ---- local time and DST ------------------------------------------------------------ */

/* Europe/Berlin 2026: 02:00 CET -> 03:00 CEST on Sun 03-29 at 01:00 UTC; 03:00 CEST ->
 * 02:00 CET on Sun 10-25 at 01:00 UTC. */
static void test_dst_berlin(void **state)
{
	(void)state;
	set_tz("Europe/Berlin");
	/* local time: "daily" is local midnight (CET = UTC+1) */
	expect_next("daily", utc(2026, 1, 15, 12, 0, 0), utc(2026, 1, 15, 23, 0, 0));
	/* spring forward: 02:30 does not exist that night; the next run is Monday's */
	expect_next("02:30", utc(2026, 3, 28, 11, 0, 0), utc(2026, 3, 30, 0, 30, 0));
	expect_chain("*:30", utc(2026, 3, 28, 23, 30, 0), /* 00:30 CET */
		     (int64_t[]){ utc(2026, 3, 29, 0, 30, 0),   /* 01:30 CET */
				  utc(2026, 3, 29, 1, 30, 0) }, /* 03:30 CEST */
		     2);
	expect_next("*/15", utc(2026, 3, 29, 0, 45, 0), utc(2026, 3, 29, 1, 0, 0));
	expect_next("hourly", utc(2026, 3, 29, 0, 0, 0), utc(2026, 3, 29, 1, 0, 0));
	expect_chain("daily", utc(2026, 3, 28, 11, 0, 0),
		     (int64_t[]){ utc(2026, 3, 28, 23, 0, 0), utc(2026, 3, 29, 22, 0, 0) }, 2);
	/* fall back: 02:30 exists twice and runs once, at its first occurrence (CEST) */
	expect_chain("02:30", utc(2026, 10, 24, 10, 0, 0),
		     (int64_t[]){ utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 26, 1, 30, 0) }, 2);
	/* started during the repeated hour (02:10 CET): the second 02:30 is still ahead */
	expect_next("02:30", utc(2026, 10, 25, 1, 10, 0), utc(2026, 10, 25, 1, 30, 0));
	/* hourly: 01:00 CEST, 02:00 CEST, then 03:00 CET; the repeated 02:00 is not run */
	expect_chain("hourly", utc(2026, 10, 24, 22, 30, 0),
		     (int64_t[]){ utc(2026, 10, 24, 23, 0, 0), utc(2026, 10, 25, 0, 0, 0),
				  utc(2026, 10, 25, 2, 0, 0) },
		     3);
	expect_next("*/30", utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 25, 2, 0, 0));
	expect_chain("daily", utc(2026, 10, 24, 10, 0, 0),
		     (int64_t[]){ utc(2026, 10, 24, 22, 0, 0), utc(2026, 10, 25, 23, 0, 0) }, 2);
	/* UTC suffix ignores TZ */
	expect_next("daily UTC", utc(2026, 1, 15, 12, 0, 0), utc(2026, 1, 16, 0, 0, 0));
	set_tz("UTC");
}

/* America/New_York 2026: 02:00 EST -> 03:00 EDT on Sun 03-08 at 07:00 UTC; 02:00 EDT ->
 * 01:00 EST on Sun 11-01 at 06:00 UTC. */
static void test_dst_new_york(void **state)
{
	(void)state;
	set_tz("America/New_York");
	expect_next("02:30", utc(2026, 3, 7, 17, 0, 0), utc(2026, 3, 9, 6, 30, 0));
	expect_next("*:30", utc(2026, 3, 8, 6, 30, 0), utc(2026, 3, 8, 7, 30, 0));
	expect_next("mon..fri 02:30", utc(2026, 3, 6, 12, 0, 0), utc(2026, 3, 9, 6, 30, 0));
	expect_chain("01:30", utc(2026, 10, 31, 16, 0, 0),
		     (int64_t[]){ utc(2026, 11, 1, 5, 30, 0), utc(2026, 11, 2, 6, 30, 0) }, 2);
	expect_next("01:30", utc(2026, 11, 1, 6, 10, 0), utc(2026, 11, 1, 6, 30, 0));
	expect_chain("hourly", utc(2026, 11, 1, 4, 0, 0),
		     (int64_t[]){ utc(2026, 11, 1, 5, 0, 0), utc(2026, 11, 1, 7, 0, 0) }, 2);
	expect_chain("sun 00:00", utc(2026, 10, 30, 0, 0, 0),
		     (int64_t[]){ utc(2026, 11, 1, 4, 0, 0), utc(2026, 11, 8, 5, 0, 0) }, 2);
	set_tz("UTC");
}

/* ---- DST against brute force -------------------------------------------------------- */

/* Wall-clock predicates written in C for a few events, as an oracle independent of the
 * parser and of the field search. */
static bool p_0230(const struct tm *t) { return t->tm_hour == 2 && t->tm_min == 30; }
static bool p_x30(const struct tm *t) { return t->tm_min == 30; }
static bool p_q15(const struct tm *t) { return t->tm_min % 15 == 0; }
static bool p_hourly(const struct tm *t) { return t->tm_min == 0; }
static bool p_daily(const struct tm *t) { return t->tm_hour == 0 && t->tm_min == 0; }
static bool p_0130(const struct tm *t) { return t->tm_hour == 1 && t->tm_min == 30; }
static bool p_even(const struct tm *t) { return t->tm_hour % 2 == 0 && t->tm_min == 0; }
static bool p_sun(const struct tm *t) { return t->tm_wday == 0 && t->tm_hour < 4 && t->tm_min == 45; }
static bool p_2to3(const struct tm *t) { return (t->tm_hour == 2 || t->tm_hour == 3) && t->tm_min % 7 == 0; }

static int64_t wall_seconds(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;

	assert_non_null(localtime_r(&tt, tm));
	return t + tm->tm_gmtoff;
}

/* The first whole minute t > after whose wall time is later than after's and matches:
 * what "strictly after, each wall time once" means, found minute by minute. */
static int64_t brute_next(bool (*pred)(const struct tm *), int64_t after, int64_t span)
{
	struct tm tm;
	int64_t w0 = wall_seconds(after, &tm);

	for (int64_t t = (after / 60 + 1) * 60; t <= after + span; t += 60)
		if (wall_seconds(t, &tm) > w0 && pred(&tm))
			return t;
	return -2;
}

/* Around every transition of 2026 in zones with whole-hour, half-hour (Lord Howe) and
 * midnight (Havana) shifts, cal_next agrees with the brute force. */
static void test_dst_against_brute_force(void **state)
{
	static const char *const zones[] = { "Europe/Berlin", "America/New_York",
					     "Australia/Lord_Howe", "America/Havana" };
	static const struct {
		const char *spec;
		bool (*pred)(const struct tm *);
	} ev[] = {
		{ "02:30", p_0230 },  { "*:30", p_x30 },      { "*/15", p_q15 },
		{ "hourly", p_hourly }, { "daily", p_daily },  { "01:30", p_0130 },
		{ "0/2:00", p_even }, { "sun 0..3:45", p_sun }, { "2..3:*/7", p_2to3 },
	};
	const int64_t y2026 = utc(2026, 1, 1, 0, 0, 0);
	int transitions = 0;

	(void)state;
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		struct tm tm;
		long prev;

		set_tz(zones[z]);
		wall_seconds(y2026, &tm);
		prev = tm.tm_gmtoff;
		for (int64_t h = y2026; h < y2026 + 365 * DAY; h += 1800) {
			wall_seconds(h, &tm);
			if (tm.tm_gmtoff == prev)
				continue;
			prev = tm.tm_gmtoff;
			transitions++;
			for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
				struct cal_event *e = parse_ok(ev[i].spec);

				for (int64_t a = h - 20 * HOUR; a < h + 8 * HOUR; a += 53 * MIN + 7) {
					int64_t want = brute_next(ev[i].pred, a, 8 * DAY);

					if (cal_next(e, a) != want)
						fprintf(stderr, "%s '%s' after %lld\n", zones[z],
							ev[i].spec, (long long)a);
					assert_int_equal(cal_next(e, a), want);
				}
				cal_free(e);
			}
		}
	}
	assert_int_equal(transitions, 8); /* two a year in each zone */
	set_tz("UTC");
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_errors(void **state)
{
	(void)state;
	expect_error("", 0, "empty calendar event");
	expect_error("UTC", 0, "empty calendar event");
	expect_error("garbage", 0, "unknown weekday 'garbage'");
	expect_error("feb 30", 0, "unknown weekday 'feb'");
	expect_error("hourly 12:00", 0, "unknown weekday 'hourly'");
	expect_error("mon,", 4, "expected a weekday");
	expect_error("mon..", 5, "expected a weekday");
	expect_error("mon-fri", 3, "unexpected '-' after weekday");
	expect_error("mon..fri 25:00", 9, "hour 25 out of range 0..23");
	expect_error("12:60", 3, "minute 60 out of range 0..59");
	expect_error("12:00:61", 6, "second 61 out of range 0..59");
	expect_error("10..5:00", 0, "hour range start 10 is bigger than its end 5");
	expect_error("*/0", 2, "minute repetition 0 out of range 1..59");
	expect_error("*/60", 2, "minute repetition 60 out of range 1..59");
	expect_error("0/99", 2, "minute repetition 99 out of range 0..59");
	expect_error("12:00 foo", 5, "unexpected ' ' after time");
	expect_error("12:xx", 3, "expected a number for minute, found 'x'");
	expect_error("12:", 3, "expected a number for minute at the end");
	expect_error("1:2:3:4", 5, "too many ':' in time (HOURS:MINUTES:SECONDS)");
	expect_error("*-13-01", 2, "month 13 out of range 1..12");
	expect_error("*-00-01", 2, "month 00 out of range 1..12");
	expect_error("2026-02-32", 8, "day 32 out of range 1..31");
	expect_error("2200-01-01", 0, "year 2200 out of range 0..2199");
	expect_error("1-2-3-4", 5, "too many '-' in date (YEARS-MONTHS-DAYS)");
	expect_error("*,5", 1, "unexpected ',' after time");
	expect_error("@daily", 0, "expected a number for minute, found '@'");
	expect_error("99999999999999999999", 0, "minute 99999999999999999999 out of range 0..59");
	expect_error("mon 2026-01-01x", 14, "unexpected 'x' in date");
	expect_error("*-1,", 4, "expected a number for day at the end");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxmox_time_fields),
		cmocka_unit_test(test_proxmox_time_wrapping),
		cmocka_unit_test(test_proxmox_time_chains),
		cmocka_unit_test(test_proxmox_time_dates),
		cmocka_unit_test(test_proxmox_time_weekdays),
		cmocka_unit_test(test_never_fires),
		cmocka_unit_test(test_docs_special_values),
		cmocka_unit_test(test_docs_examples),
		cmocka_unit_test(test_issue_examples),
		cmocka_unit_test(test_period),
		cmocka_unit_test(test_dst_berlin),
		cmocka_unit_test(test_dst_new_york),
		cmocka_unit_test(test_dst_against_brute_force),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup_utc, NULL);
}
