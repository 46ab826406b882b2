/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "sched/calendar.h"

/*
 * PVE calendar events (lib/sched/calendar.c): the parser on arbitrary bytes, and for an
 * event it accepts, next-due times in a zone with DST (Europe/Berlin) from instants around
 * its transitions, checked against the contract of calendar.h: a next time is strictly
 * after its start or -1, a chain of them only moves forward, an error has a column inside
 * the text. A broken promise aborts, so libFuzzer keeps the input.
 */
static const int64_t starts[] = {
	-1,
	0,
	1774744200, /* 2026-03-29 00:30 UTC: Berlin's clocks go forward at 01:00 UTC */
	1792886400, /* 2026-10-25 00:00 UTC: Berlin's clocks go back at 01:00 UTC */
	7258118399, /* 2199-12-31 23:59:59 UTC, the last second of the format */
};

static void check_event(const struct cal_event *ev)
{
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		int64_t t = starts[i];

		/* a few steps of a chain, as the scheduler walks it */
		for (int k = 0; k < 4; k++) {
			int64_t next = cal_next(ev, t);

			if (next == -1)
				break;
			if (next <= t)
				abort();
			t = next;
		}
	}
	cal_period(ev, starts[2]);
	cal_ever(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int tz_set;
	struct cal_event *ev = NULL;
	char err[256];
	char *spec;
	int col = -1;

	if (!tz_set) {
		setenv("TZ", "Europe/Berlin", 1);
		tzset();
		tz_set = 1;
	}
	if (size > 4096) /* a schedule is one short line; longer adds nothing */
		return 0;
	spec = malloc(size + 1);
	if (!spec)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';
	if (cal_parse(spec, &ev, err, sizeof(err), &col) == 0) {
		check_event(ev);
		cal_free(ev);
	} else if (ev || col < 0 || (size_t)col > strlen(spec) || !err[0]) {
		abort();
	}
	free(spec);
	err_clear();
	return 0;
}
