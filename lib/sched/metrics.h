/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_SCHED_METRICS_H
#define PVE_ONTAP_SCHED_METRICS_H

#include <stdint.h>

struct buf;

/*
 * The watcher's Prometheus textfile (node_exporter's textfile collector; DESIGN.md "Command
 * line", status): exposition format 0.0.4, every family with its # HELP and # TYPE lines,
 * label values escaped (\\, \", \n).
 */
struct metrics_row {
	int vmid;
	const char *label;
	int64_t last_success;   /* Unix seconds, 0 = never (then no sample) */
	uint64_t runs_ok;
	uint64_t runs_failed;
};

/* Append the whole file to out. Returns 0 or the buf error. */
int metrics_format(struct buf *out, const struct metrics_row *rows, int n, int jobs_pending);
/* Write it atomically to path (temp, fsync, rename), mode 0644. */
int metrics_write(const char *path, const struct metrics_row *rows, int n, int jobs_pending);

#endif
