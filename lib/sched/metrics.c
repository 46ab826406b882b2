/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Prometheus textfile of the watcher (metrics.h). */
#include "sched/metrics.h"

#include <inttypes.h>
#include <stdio.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/util.h"

#define METRICS_FILE_MAX (64 << 20)

/* label value escaping of the text exposition format: backslash, double quote, newline */
static int put_label_value(struct buf *out, const char *s)
{
	int rc = 0;

	for (; *s && rc == 0; s++) {
		if (*s == '\\')
			rc = buf_puts(out, "\\\\");
		else if (*s == '"')
			rc = buf_puts(out, "\\\"");
		else if (*s == '\n')
			rc = buf_puts(out, "\\n");
		else
			rc = buf_putc(out, *s);
	}
	return rc;
}

static int put_labels(struct buf *out, const struct metrics_row *r, const char *result)
{
	int rc = buf_printf(out, "{vmid=\"%d\",label=\"", r->vmid);

	if (rc == 0)
		rc = put_label_value(out, r->label);
	if (rc == 0 && result)
		rc = buf_printf(out, "\",result=\"%s", result);
	if (rc == 0)
		rc = buf_puts(out, "\"}");
	return rc;
}

static int family(struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int metrics_format(struct buf *out, const struct metrics_row *rows, int n, int jobs_pending)
{
	static const char last[] = "pve_ontap_snapshot_last_success_timestamp_seconds";
	static const char runs[] = "pve_ontap_snapshot_runs_total";
	int rc = family(out, last, "gauge",
			"Unix time of the last successful snapshot run on this node, "
			"per VM and label.");

	for (int i = 0; i < n && rc == 0; i++) {
		if (!rows[i].last_success)
			continue;
		rc = buf_puts(out, last);
		if (rc == 0)
			rc = put_labels(out, &rows[i], NULL);
		if (rc == 0)
			rc = buf_printf(out, " %" PRId64 "\n", rows[i].last_success);
	}
	if (rc == 0)
		rc = family(out, runs, "counter",
			    "Snapshot runs (hook and scheduled) on this node, "
			    "per VM, label and result.");
	for (int i = 0; i < n && rc == 0; i++) {
		for (int k = 0; k < 2 && rc == 0; k++) {
			rc = buf_puts(out, runs);
			if (rc == 0)
				rc = put_labels(out, &rows[i], k ? "failed" : "ok");
			if (rc == 0)
				rc = buf_printf(out, " %" PRIu64 "\n",
						k ? rows[i].runs_failed : rows[i].runs_ok);
		}
	}
	if (rc == 0)
		rc = family(out, "pve_ontap_watcher_jobs_pending", "gauge",
			    "Jobs in the watcher's queue not yet done.");
	if (rc == 0)
		rc = buf_printf(out, "pve_ontap_watcher_jobs_pending %d\n", jobs_pending);
	return rc;
}

int metrics_write(const char *path, const struct metrics_row *rows, int n, int jobs_pending)
{
	struct buf b = BUF_INIT(METRICS_FILE_MAX);
	int rc = metrics_format(&b, rows, n, jobs_pending);

	if (rc < 0)
		rc = err_prefix(POE_FAIL, "cannot format the metrics for '%s'", path);
	else
		rc = util_write_file_atomic(path, buf_cstr(&b), b.len, 0644);
	buf_release(&b);
	return rc;
}
