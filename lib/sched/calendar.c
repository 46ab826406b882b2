/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Proxmox VE calendar events (pve-docs calendar-events.adoc "Schedule Format"; the grammar
 * and the matching rules follow proxmox-time's calendar_event.rs, which PVE uses for
 * vzdump jobs). Each field is expanded into a bit set when parsed; cal_next() searches
 * local wall-clock time field by field (year, month, day, weekday, hour, minute, second),
 * jumping to the next allowed value of the first field that does not match, so the work is
 * bounded by the number of years searched, never by the number of minutes.
 *
 * DST: the search runs on wall-clock time and moves strictly forward from the wall time of
 * `after`, which is what proxmox-time (TmEditor: every step renormalised by mktime with
 * tm_isdst = -1) and systemd (calendarspec.c find_next/tm_within_bounds, commit 129cb6e2
 * "when mktime() moves us backwards, jump forward") do:
 *  - a wall time that does not exist (spring forward, 02:30 in Europe/Berlin on the last
 *    Sunday of March) does not fire; the search goes on from the first existing wall time
 *    after the gap (so "*:30" fires at 01:30 and 03:30, "02:30" not that day);
 *  - a wall time that exists twice (fall back) fires once, at its first occurrence after
 *    `after`: the repeated hour is not run again ("*:00" fires at 02:00 CEST and 03:00
 *    CET). glibc's mktime(tm_isdst = -1) picks either occurrence depending on earlier calls,
 *    so instants are derived here from localtime_r()'s tm_gmtoff instead, deterministically.
 */
#include "sched/calendar.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"

/* proxmox-time parses years below 2200 ("the upper limit for systemd, stay compatible") */
#define CAL_YEAR_MAX 2199
#define CAL_YEAR_WORDS (CAL_YEAR_MAX / 64 + 1)
/* cal_next() looks this many years ahead at most (calendar.h) */
#define CAL_HORIZON_YEARS 200
/* 2200-01-01 and 0000-01-01 00:00:00 UTC */
#define CAL_AFTER_MAX INT64_C(7258118400)
#define CAL_AFTER_MIN INT64_C(-62167219200)

struct cal_event {
	bool utc;
	uint8_t wdays;                   /* bit 0 Monday .. bit 6 Sunday */
	uint64_t sec[1], min[1], hour[1]; /* bit v for value v */
	uint64_t day[1], mon[1];         /* bits 1..31 and 1..12 */
	uint64_t year[CAL_YEAR_WORDS];   /* bits 0..CAL_YEAR_MAX */
};

/* ---- bit sets ---------------------------------------------------------------------- */

static void bit_set(uint64_t *m, unsigned v)
{
	m[v / 64] |= (uint64_t)1 << (v % 64);
}

/* The smallest member >= from and <= hi, or -1. */
static int bit_next(const uint64_t *m, int from, int hi)
{
	for (int v = from < 0 ? 0 : from; v <= hi;) {
		uint64_t w = m[v / 64] >> (v % 64);

		if (w) {
			v += __builtin_ctzll(w);
			return v <= hi ? v : -1;
		}
		v = (v / 64 + 1) * 64;
	}
	return -1;
}

/* ---- parser ------------------------------------------------------------------------ */

struct field {
	const char *name;
	unsigned lo, hi;   /* valid values */
	unsigned star;     /* first value of "*" + "/N" (proxmox-time: 1 for months and days) */
};

static const struct field F_YEAR = { "year", 0, CAL_YEAR_MAX, 0 };
static const struct field F_MON = { "month", 1, 12, 1 };
static const struct field F_DAY = { "day", 1, 31, 1 };
static const struct field F_HOUR = { "hour", 0, 23, 0 };
static const struct field F_MIN = { "minute", 0, 59, 0 };
static const struct field F_SEC = { "second", 0, 59, 0 };

struct pstate {
	const char *s;
	size_t pos, end; /* end: the text without a "UTC" suffix */
	char *err;
	size_t n;
	int *col;
};

__attribute__((format(printf, 3, 4))) static int perr(struct pstate *p, size_t col,
						    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err && p->n)
		snprintf(p->err, p->n, "%s", msg);
	if (p->col)
		*p->col = (int)col;
	return err_set(POE_CONFIG, "%s", msg);
}

static char peek(const struct pstate *p)
{
	return p->pos < p->end ? p->s[p->pos] : '\0';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A decimal number; values past 100000 stay 100000 (out of range for every field). */
static int parse_num(struct pstate *p, const struct field *f, unsigned *v)
{
	unsigned x = 0;

	if (!is_digit(peek(p))) {
		char c = peek(p);

		if (c)
			return perr(p, p->pos, "expected a number for %s, found '%c'", f->name,
				    c);
		return perr(p, p->pos, "expected a number for %s at the end", f->name);
	}
	while (is_digit(peek(p))) {
		if (x < 100000)
			x = x * 10 + (unsigned)(p->s[p->pos] - '0');
		if (x > 100000)
			x = 100000;
		p->pos++;
	}
	*v = x;
	return 0;
}

/* The digits at `at` as written, for messages (at most 20 of them). */
static int num_width(const struct pstate *p, size_t at)
{
	return (int)(p->pos - at > 20 ? 20 : p->pos - at);
}

static int parse_value(struct pstate *p, const struct field *f, unsigned *v)
{
	size_t at = p->pos;
	int rc = parse_num(p, f, v);

	if (rc < 0)
		return rc;
	if (*v < f->lo || *v > f->hi)
		return perr(p, at, "%s %.*s out of range %u..%u", f->name, num_width(p, at),
			    p->s + at, f->lo, f->hi);
	return 0;
}

static int parse_repeat(struct pstate *p, const struct field *f, unsigned min, unsigned *r)
{
	size_t at = p->pos;
	int rc = parse_num(p, f, r);

	if (rc < 0)
		return rc;
	/* proxmox-time: a repetition is a value of the field (below its maximum) */
	if (*r < min || *r > f->hi)
		return perr(p, at, "%s repetition %.*s out of range %u..%u", f->name,
			    num_width(p, at), p->s + at, min, f->hi);
	return 0;
}

static void set_series(uint64_t *m, unsigned a, unsigned b, unsigned r)
{
	if (r == 0) { /* "5/0": proxmox-time matches the start only */
		bit_set(m, a);
		return;
	}
	for (unsigned v = a; v <= b; v += r)
		bit_set(m, v);
}

/* VALUE ["..", VALUE] ["/" REPEAT] */
static int parse_comp(struct pstate *p, const struct field *f, uint64_t *m)
{
	size_t at = p->pos;
	unsigned a, b, r = 1;
	bool range = false;
	int rc = parse_value(p, f, &a);

	if (rc < 0)
		return rc;
	b = a;
	if (p->pos + 1 < p->end && p->s[p->pos] == '.' && p->s[p->pos + 1] == '.') {
		p->pos += 2;
		range = true;
		if ((rc = parse_value(p, f, &b)) < 0)
			return rc;
		if (a > b)
			return perr(p, at, "%s range start %u is bigger than its end %u", f->name,
				    a, b);
	}
	if (peek(p) == '/') {
		p->pos++;
		if ((rc = parse_repeat(p, f, 0, &r)) < 0)
			return rc;
		if (!range)
			b = f->hi; /* "5/2": from 5 to the end of the field */
	}
	set_series(m, a, b, r);
	return 0;
}

/* "*" ["/" REPEAT] | COMP ("," COMP)* */
static int parse_list(struct pstate *p, const struct field *f, uint64_t *m)
{
	int rc;

	if (peek(p) == '*') {
		unsigned r = 1;

		p->pos++;
		if (peek(p) == '/') {
			p->pos++;
			if ((rc = parse_repeat(p, f, 1, &r)) < 0)
				return rc;
		}
		set_series(m, f->star, f->hi, r);
		return 0;
	}
	for (;;) {
		if ((rc = parse_comp(p, f, m)) < 0)
			return rc;
		if (peek(p) != ',')
			return 0;
		p->pos++;
	}
}

/* The parts of the token at p->pos (up to a space or the end) separated by sep. */
static int count_in_token(const struct pstate *p, char sep, size_t *third)
{
	int k = 0;

	for (size_t i = p->pos; i < p->end && p->s[i] != ' '; i++)
		if (p->s[i] == sep && ++k == 3 && third)
			*third = i;
	return k;
}

/* After one field of a token: the separator that must follow, or the token's end ('\0'). */
static int expect_sep(struct pstate *p, char sep, const char *what)
{
	char c = peek(p);

	if (sep ? c == sep : (c == '\0' || c == ' ')) {
		if (sep)
			p->pos++;
		return 0;
	}
	if (c == '\0')
		return perr(p, p->pos, "expected '%c' in %s", sep, what);
	return perr(p, p->pos, "unexpected '%c' in %s", c, what);
}

/* [YEARS "-"] MONTHS "-" DAYS */
static int parse_date(struct pstate *p, struct cal_event *ev)
{
	size_t third = 0;
	int dashes = count_in_token(p, '-', &third), rc;

	if (dashes > 2)
		return perr(p, third, "too many '-' in date (YEARS-MONTHS-DAYS)");
	memset(ev->year, 0, sizeof(ev->year));
	if (dashes == 2) {
		if ((rc = parse_list(p, &F_YEAR, ev->year)) < 0 ||
		    (rc = expect_sep(p, '-', "date")) < 0)
			return rc;
	} else {
		set_series(ev->year, 0, CAL_YEAR_MAX, 1);
	}
	if ((rc = parse_list(p, &F_MON, ev->mon)) < 0 || (rc = expect_sep(p, '-', "date")) < 0 ||
	    (rc = parse_list(p, &F_DAY, ev->day)) < 0)
		return rc;
	return expect_sep(p, '\0', "date");
}

/* [HOURS ":"] MINUTES [":" SECONDS]; a lone value is minutes (pve-docs) */
static int parse_time(struct pstate *p, struct cal_event *ev)
{
	size_t third = 0;
	int colons = count_in_token(p, ':', &third), rc;

	if (colons > 2)
		return perr(p, third, "too many ':' in time (HOURS:MINUTES:SECONDS)");
	if (colons == 0) {
		set_series(ev->hour, 0, 23, 1);
	} else if ((rc = parse_list(p, &F_HOUR, ev->hour)) < 0 ||
		   (rc = expect_sep(p, ':', "time")) < 0) {
		return rc;
	}
	if ((rc = parse_list(p, &F_MIN, ev->min)) < 0)
		return rc;
	if (colons == 2) {
		if ((rc = expect_sep(p, ':', "time")) < 0 ||
		    (rc = parse_list(p, &F_SEC, ev->sec)) < 0)
			return rc;
	} else {
		bit_set(ev->sec, 0);
	}
	if (p->pos < p->end)
		return perr(p, p->pos, "unexpected '%c' after time", p->s[p->pos]);
	return 0;
}

static const char *const WEEKDAYS[7][2] = {
	{ "mon", "monday" }, { "tue", "tuesday" },  { "wed", "wednesday" }, { "thu", "thursday" },
	{ "fri", "friday" }, { "sat", "saturday" }, { "sun", "sunday" },
};

/* A weekday name (abbreviated or full, any case, as proxmox-time's week_days.rs); 0..6. */
static int parse_weekday(struct pstate *p)
{
	size_t at = p->pos, len = 0;

	while (is_alpha(peek(p))) {
		p->pos++;
		len++;
	}
	for (int d = 0; d < 7; d++)
		for (int k = 0; k < 2; k++)
			if (strlen(WEEKDAYS[d][k]) == len &&
			    strncasecmp(p->s + at, WEEKDAYS[d][k], len) == 0)
				return d;
	if (len == 0)
		return perr(p, at, "expected a weekday");
	return perr(p, at, "unknown weekday '%.*s'", (int)(len > 32 ? 32 : len), p->s + at);
}

/* DAY [".." DAY] ("," DAY [".." DAY])*; "fri..mon" wraps around the week. */
static int parse_weekdays(struct pstate *p, struct cal_event *ev)
{
	for (;;) {
		int a = parse_weekday(p), b;

		if (a < 0)
			return a;
		b = a;
		if (p->pos + 1 < p->end && p->s[p->pos] == '.' && p->s[p->pos + 1] == '.') {
			p->pos += 2;
			if ((b = parse_weekday(p)) < 0)
				return b;
		}
		for (int d = a;; d = (d + 1) % 7) {
			ev->wdays |= (uint8_t)(1u << d);
			if (d == b)
				break;
		}
		if (peek(p) != ',')
			break;
		p->pos++;
	}
	if (peek(p) && peek(p) != ' ' && !is_digit(peek(p)) && peek(p) != '*')
		return perr(p, p->pos, "unexpected '%c' after weekday", peek(p));
	return 0;
}

static void skip_spaces(struct pstate *p)
{
	while (peek(p) == ' ')
		p->pos++;
}

/* The shorthands of pve-docs' "Special Values" table. */
static bool parse_keyword(const struct pstate *p, struct cal_event *ev)
{
	static const struct {
		const char *word;
		unsigned fields; /* 1 minute, 2 hour, 4 day 1, 8 weekly, 16..: months */
		unsigned months; /* bit set of months, 0 = all */
	} kw[] = {
		{ "minutely", 0, 0 },       { "hourly", 1, 0 },
		{ "daily", 3, 0 },          { "weekly", 3 | 8, 0 },
		{ "monthly", 3 | 4, 0 },    { "yearly", 3 | 4, 1u << 1 },
		{ "annually", 3 | 4, 1u << 1 }, { "quarterly", 3 | 4, 0x492u << 0 },
		{ "semiannually", 3 | 4, (1u << 1) | (1u << 7) },
		{ "semi-annually", 3 | 4, (1u << 1) | (1u << 7) },
	};

	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
		if (strlen(kw[i].word) != p->end || strncmp(p->s, kw[i].word, p->end) != 0)
			continue;
		bit_set(ev->sec, 0);
		if (kw[i].fields & 1)
			bit_set(ev->min, 0);
		else
			set_series(ev->min, 0, 59, 1);
		if (kw[i].fields & 2)
			bit_set(ev->hour, 0);
		else
			set_series(ev->hour, 0, 23, 1);
		if (kw[i].fields & 4)
			bit_set(ev->day, 1);
		else
			set_series(ev->day, 1, 31, 1);
		ev->mon[0] = kw[i].months ? kw[i].months : 0x1ffe;
		ev->wdays = (kw[i].fields & 8) ? 1 : 0x7f;
		set_series(ev->year, 0, CAL_YEAR_MAX, 1);
		return true;
	}
	return false;
}

/* [WEEKDAYS] [DATE] [TIME], after the keywords; fields not given match everything, a
 * missing time is 00:00:00, missing seconds are :00 (proxmox-time). */
static int parse_spec(struct pstate *p, struct cal_event *ev)
{
	bool any = false;
	int rc;

	if (is_alpha(peek(p))) {
		if ((rc = parse_weekdays(p, ev)) < 0)
			return rc;
		skip_spaces(p);
		any = true;
	} else {
		ev->wdays = 0x7f;
	}
	if (peek(p) && count_in_token(p, '-', NULL) > 0) {
		if ((rc = parse_date(p, ev)) < 0)
			return rc;
		skip_spaces(p);
		any = true;
	} else {
		set_series(ev->year, 0, CAL_YEAR_MAX, 1);
		set_series(ev->mon, 1, 12, 1);
		set_series(ev->day, 1, 31, 1);
	}
	if (peek(p)) {
		if ((rc = parse_time(p, ev)) < 0)
			return rc;
		any = true;
	} else {
		bit_set(ev->hour, 0);
		bit_set(ev->min, 0);
		bit_set(ev->sec, 0);
	}
	if (!any)
		return perr(p, p->pos, "empty calendar event");
	return 0;
}

int cal_parse(const char *spec, struct cal_event **out, char *err, size_t n, int *col)
{
	struct pstate p = { .s = spec, .err = err, .n = n, .col = col };
	struct cal_event *ev;
	int rc;

	*out = NULL;
	if (err && n)
		err[0] = '\0';
	if (col)
		*col = 0;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return err_set(POE_FAIL, "out of memory");
	p.end = strlen(spec);
	/* proxmox-time: a "UTC" suffix computes the event in UTC instead of local time */
	if (p.end >= 3 && strcmp(spec + p.end - 3, "UTC") == 0) {
		ev->utc = true;
		p.end -= 3;
		while (p.end > 0 && spec[p.end - 1] == ' ')
			p.end--;
	}
	if (p.end == 0)
		rc = perr(&p, 0, "empty calendar event");
	else if (parse_keyword(&p, ev))
		rc = 0;
	else
		rc = parse_spec(&p, ev);
	if (rc < 0) {
		free(ev);
		return rc;
	}
	*out = ev;
	return 0;
}

void cal_free(struct cal_event *ev)
{
	free(ev);
}

/* ---- civil time -------------------------------------------------------------------- */

struct civil {
	int y, mo, d, h, mi, s;
};

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic, 400-year cycles). */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t yy = (int64_t)y - (m <= 2);
	int64_t era = floor_div(yy, 400);
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, struct civil *c)
{
	z += 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	c->d = (int)(doy - (153 * mp + 2) / 5 + 1);
	c->mo = (int)(mp < 10 ? mp + 3 : mp - 9);
	c->y = (int)(yoe + era * 400 + (c->mo <= 2));
}

/* Wall-clock time as seconds on a clock without DST ("naive" seconds) and back. */
static int64_t naive_of(const struct civil *c)
{
	return days_from_civil(c->y, c->mo, c->d) * 86400 + c->h * 3600 + c->mi * 60 + c->s;
}

static void civil_of(int64_t n, struct civil *c)
{
	int64_t days = floor_div(n, 86400), rest = n - days * 86400;

	civil_from_days(days, c);
	c->h = (int)(rest / 3600);
	c->mi = (int)(rest / 60 % 60);
	c->s = (int)(rest % 60);
}

/* The UTC offset in seconds at instant t in local time, 0 in UTC mode; false on failure. */
static bool offset_at(const struct cal_event *ev, int64_t t, long *off)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (ev->utc) {
		*off = 0;
		return true;
	}
	if (!localtime_r(&tt, &tm))
		return false;
	*off = tm.tm_gmtoff;
	return true;
}

/* ---- search ------------------------------------------------------------------------ */

static void next_month(struct civil *c)
{
	c->d = 1;
	c->h = c->mi = c->s = 0;
	if (++c->mo > 12) {
		c->mo = 1;
		c->y++;
	}
}

static void next_day(struct civil *c)
{
	if (++c->d > days_in_month(c->y, c->mo)) {
		next_month(c);
		return;
	}
	c->h = c->mi = c->s = 0;
}

static int weekday_of(const struct civil *c) /* 0 Monday .. 6 Sunday */
{
	int64_t days = days_from_civil(c->y, c->mo, c->d);

	return (int)(days - floor_div(days + 3, 7) * 7 + 3); /* 1970-01-01 was a Thursday */
}

/* Year, month, day and weekday: true when c is on a matching day (moved forward to it). */
static bool match_date(const struct cal_event *ev, struct civil *c, int ylimit, bool *none)
{
	int v = bit_next(ev->year, c->y, CAL_YEAR_MAX < ylimit ? CAL_YEAR_MAX : ylimit);

	if (v < 0) {
		*none = true;
		return false;
	}
	if (v != c->y) {
		*c = (struct civil){ .y = v, .mo = 1, .d = 1 };
		return false;
	}
	v = bit_next(ev->mon, c->mo, 12);
	if (v != c->mo) {
		if (v < 0)
			*c = (struct civil){ .y = c->y + 1, .mo = 1, .d = 1 };
		else
			*c = (struct civil){ .y = c->y, .mo = v, .d = 1 };
		return false;
	}
	v = bit_next(ev->day, c->d, days_in_month(c->y, c->mo));
	if (v != c->d) {
		if (v < 0)
			next_month(c);
		else
			*c = (struct civil){ .y = c->y, .mo = c->mo, .d = v };
		return false;
	}
	if (!(ev->wdays & (1u << weekday_of(c)))) {
		next_day(c);
		return false;
	}
	return true;
}

/* Hour, minute, second of a matching day: true when c matches (moved forward to it). */
static bool match_time(const struct cal_event *ev, struct civil *c)
{
	int v = bit_next(ev->hour, c->h, 23);

	if (v != c->h) {
		if (v < 0)
			next_day(c);
		else
			c->h = v, c->mi = c->s = 0;
		return false;
	}
	v = bit_next(ev->min, c->mi, 59);
	if (v != c->mi) {
		if (v < 0) {
			c->mi = c->s = 0;
			if (++c->h == 24)
				next_day(c);
		} else {
			c->mi = v, c->s = 0;
		}
		return false;
	}
	v = bit_next(ev->sec, c->s, 59);
	if (v != c->s) {
		if (v < 0)
			civil_of(naive_of(c) - c->s + 60, c);
		else
			c->s = v;
		return false;
	}
	return true;
}

/* Move c to the first matching wall time >= c; -1 when there is none up to year ylimit. */
static int match_from(const struct cal_event *ev, struct civil *c, int ylimit)
{
	bool none = false;

	for (;;) {
		if (c->y > ylimit)
			return -1;
		if (!match_date(ev, c, ylimit, &none)) {
			if (none)
				return -1;
			continue;
		}
		if (match_time(ev, c))
			return 0;
	}
}

/* The instants (ascending, at most 2) whose wall time is naive n; -1 on failure. In a gap
 * there are none; when clocks go back there are two. */
static int instants_of(const struct cal_event *ev, int64_t n, int64_t out[2])
{
	long offs[3];
	int k = 0;

	/* offsets in force a day around n cover the transition that n may be next to */
	if (!offset_at(ev, n - 86400, &offs[0]) || !offset_at(ev, n, &offs[1]) ||
	    !offset_at(ev, n + 86400, &offs[2]))
		return -1;
	for (int i = 0; i < 3; i++) {
		long o = offs[i], got;
		bool seen = false;

		for (int j = 0; j < i; j++)
			seen = seen || offs[j] == o;
		if (seen || !offset_at(ev, n - o, &got))
			continue;
		if (got == o && k < 2)
			out[k++] = n - o;
	}
	if (k == 2 && out[0] > out[1]) {
		int64_t t = out[0];

		out[0] = out[1];
		out[1] = t;
	}
	return k;
}

/* The first existing wall time after the gap that naive n falls into: the wall time of the
 * transition instant, found by bisection between n - largest and n - smallest offset. */
static int64_t gap_end(const struct cal_event *ev, int64_t n)
{
	long a, b, o;
	int64_t lo, hi;

	if (!offset_at(ev, n - 86400, &a) || !offset_at(ev, n + 86400, &b))
		return n + 1;
	lo = n - (a > b ? a : b); /* before the transition */
	hi = n - (a > b ? b : a); /* after it */
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		if (!offset_at(ev, mid, &o))
			return n + 1;
		if (o == b)
			hi = mid;
		else
			lo = mid;
	}
	if (!offset_at(ev, hi, &o) || hi + o <= n)
		return n + 1;
	return hi + o;
}

/* cal_next() looking `years` years ahead of the year after `after`. */
static int64_t next_within(const struct cal_event *ev, int64_t after, int years)
{
	struct civil c;
	long off;
	int ylimit;

	/* nothing matches after the last year the format has; before year 0 search from it */
	if (after >= CAL_AFTER_MAX)
		return -1;
	if (after < CAL_AFTER_MIN)
		after = CAL_AFTER_MIN;
	if (!offset_at(ev, after, &off))
		return -1;
	/* strictly after: one second past the wall time of `after`, never an earlier wall
	 * time (the repeated hour when clocks go back is not run twice) */
	civil_of(after + off + 1, &c);
	if (c.y > CAL_YEAR_MAX)
		return -1;
	ylimit = c.y + years;
	/* every round either returns or moves c forward past a gap (at most two per year) */
	for (int round = 0; round < 4 * years + 16; round++) {
		int64_t t[2], n;
		int k;

		if (match_from(ev, &c, ylimit) < 0)
			return -1;
		n = naive_of(&c);
		k = instants_of(ev, n, t);
		if (k < 0)
			return -1;
		for (int i = 0; i < k; i++)
			if (t[i] > after)
				return t[i];
		civil_of(k == 0 ? gap_end(ev, n) : n + 1, &c);
	}
	return -1;
}

int64_t cal_next(const struct cal_event *ev, int64_t after)
{
	return next_within(ev, after, CAL_HORIZON_YEARS);
}

bool cal_ever(const struct cal_event *ev)
{
	/* from 1970-01-01 00:00:00 UTC (so that any time found is > 0, never the -1 of
	 * "none") to the end of the last year of the format */
	return next_within(ev, 0, CAL_YEAR_MAX - 1969) > 0;
}

int64_t cal_period(const struct cal_event *ev, int64_t now)
{
	int64_t a = cal_next(ev, now), b;

	if (a < 0)
		return -1;
	b = cal_next(ev, a);
	return b < 0 ? -1 : b - a;
}
