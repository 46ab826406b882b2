/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_SCHED_CLOCK_H
#define PVE_ONTAP_SCHED_CLOCK_H

#include <stdint.h>

/*
 * The wall clock of schedule decisions (due times, slots, "late", the names of scheduled
 * snapshots), in Unix seconds: time(NULL) plus the test-only PVE_ONTAP_TEST_NOW_OFFSET
 * (whole seconds, may be negative; or "@<file>" holding them, read at every call;
 * HACKING.md "Test-only knobs"). Unset, malformed or over ten years: no offset.
 */
int64_t sched_now(void);

#endif
