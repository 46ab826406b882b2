/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_RUNSTATE_H
#define PVE_ONTAP_RUNSTATE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * What this node last did for one VM and label (hook or scheduled run): one small file
 * <paths.state>/runs/<vmid>-<label>.state of "key=value" lines, replaced atomically (temp,
 * fsync, rename). ONTAP stays the source of truth for snapshots; this file only knows what
 * ONTAP cannot: the last failure and its cause, the last schedule slot done (so a slot
 * missed while the watcher was down is made up once), and run counters for the metrics.
 * Callers hold the VM's cluster lock while they update it.
 */
#define RUN_STATE_CAUSE_MAX 1024

struct run_state {
	int64_t last_run;             /* Unix seconds of the last run, 0 = never */
	bool failed;                  /* the last run failed */
	char cause[RUN_STATE_CAUSE_MAX]; /* why, one line; "" when it succeeded */
	int64_t last_success;         /* Unix seconds, 0 = never */
	int64_t slot;                 /* the last schedule slot (Unix seconds) handled, 0 = none */
	uint64_t runs_ok;
	uint64_t runs_failed;
};

/* Read the state of vmid/label. A missing file is a zeroed *out and 0; an unreadable or
 * malformed one is POE_FAIL (and *out zeroed). */
int run_state_load(const char *state_dir, int vmid, const char *label, struct run_state *out);
int run_state_save(const char *state_dir, int vmid, const char *label, const struct run_state *st);

/*
 * Load, record one run at now (ok, or failed with cause; newlines in cause become spaces,
 * a longer cause is kept to its first RUN_STATE_CAUSE_MAX - 1 bytes and ends in "..."),
 * set slot when slot > 0, save. Returns 0 or POE_FAIL.
 */
int run_state_record(const char *state_dir, int vmid, const char *label, int64_t now, bool ok,
		     const char *cause, int64_t slot);

#endif
