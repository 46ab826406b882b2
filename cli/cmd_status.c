/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "pve-ontap status [--vm ID]": policy compliance per VM with a policy on this node and per
 * label (DESIGN.md "Command line", status). ONTAP is the source of truth for snapshots: one
 * listing per VM, the VMs listed in parallel (a few threads, each with its own clients and
 * connections); the last failure comes from this node's run state.
 */
#include "cli.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "config/config.h"
#include "format/json.h"
#include "ops/ops.h"
#include "policy.h"
#include "sched/calendar.h"
#include "sched/clock.h"
#include "sched/compliance.h"
#include "sched/runstate.h"

/* VMs listed at once: each is one ONTAP listing (a request per volume) */
#define STATUS_PARALLEL 8

struct status_vm {
	int vmid;
	struct policy *pol;
	char policy_err[512];      /* the policy does not load */
	struct vm_snapshot *snaps; /* oldest first */
	int nsnaps;
	int list_rc;
	char list_err[1024];
};

struct status_job {
	const struct config *cfg;
	struct status_vm *vms;
	int n;
	int next;                  /* guarded by mu */
	pthread_mutex_t mu;
};

static void *list_worker(void *arg)
{
	struct status_job *j = arg;

	for (;;) {
		struct status_vm *v;
		struct ops_ctx ctx;
		int i;

		pthread_mutex_lock(&j->mu);
		i = j->next++;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->n)
			return NULL;
		v = &j->vms[i];
		if (!v->pol)
			continue;
		ops_ctx_init(&ctx, j->cfg);
		ctx.deadline = util_now_ms() + 60000;
		v->list_rc = ops_vm_snapshot_list(&ctx, v->vmid, &v->snaps, &v->nsnaps);
		if (v->list_rc < 0)
			util_strlcpy(v->list_err, err_msg(), sizeof(v->list_err));
		ops_ctx_release(&ctx);
	}
}

static void list_all(const struct config *cfg, struct status_vm *vms, int n)
{
	struct status_job j = { .cfg = cfg, .vms = vms, .n = n, .mu = PTHREAD_MUTEX_INITIALIZER };
	pthread_t t[STATUS_PARALLEL];
	int nt = 0;

	for (int i = 0; i < STATUS_PARALLEL && i < n; i++)
		if (pthread_create(&t[nt], NULL, list_worker, &j) == 0)
			nt++;
	if (nt == 0)
		list_worker(&j); /* no thread: one after the other */
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&j.mu);
}

static int vmid_cmp(const void *a, const void *b)
{
	const struct status_vm *x = a, *y = b;

	return (x->vmid > y->vmid) - (x->vmid < y->vmid);
}

/* VMs whose config is on this node (<pve_etc>/qemu-server, pmxcfs's view of this node) and
 * that have a policy; only want when want > 0. */
static int collect_vms(const struct config *cfg, int want, struct status_vm **out, int *n)
{
	char *dir = util_xasprintf("%s/qemu-server", cfg->paths.pve_etc);
	DIR *d = opendir(dir);
	struct dirent *de;
	int cap = 0;

	*out = NULL;
	*n = 0;
	if (!d) {
		int rc = err_set(POE_CONFIG, "cannot read '%s': %m", dir);

		free(dir);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		int vmid = 0, len = 0;
		struct status_vm *v;

		if (sscanf(de->d_name, "%d.conf%n", &vmid, &len) != 1 || de->d_name[len] ||
		    vmid < 100 || (want > 0 && vmid != want))
			continue;
		if (policy_find(cfg->paths.policies, vmid, path, sizeof(path)) < 0) {
			err_clear();
			continue;
		}
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			*out = util_xrealloc(*out, (size_t)cap * sizeof(**out));
		}
		v = &(*out)[(*n)++];
		memset(v, 0, sizeof(*v));
		v->vmid = vmid;
		if (policy_load_file(path, &v->pol, NULL) < 0)
			util_strlcpy(v->policy_err, err_msg(), sizeof(v->policy_err));
	}
	closedir(d);
	free(dir);
	if (*n > 1)
		qsort(*out, (size_t)*n, sizeof(**out), vmid_cmp);
	return 0;
}

struct status_row {
	int vmid;
	const char *label;
	const struct vm_snapshot *newest;  /* NULL: none */
	int64_t next_due;                  /* -1: none */
	enum sched_compliance state;
	const char *cause;                 /* failed: why; NULL otherwise */
	char cause_buf[RUN_STATE_CAUSE_MAX];
};

static const struct vm_snapshot *newest_of(const struct status_vm *v, const char *label)
{
	const struct vm_snapshot *best = NULL;

	for (int i = 0; i < v->nsnaps; i++)
		if (!strcmp(v->snaps[i].label, label) &&
		    (!best || v->snaps[i].created >= best->created))
			best = &v->snaps[i];
	return best;
}

static void row_for_rule(const struct config *cfg, const struct status_vm *v,
			 const struct policy_rule *r, int64_t now, struct status_row *row)
{
	struct run_state st;

	memset(row, 0, sizeof(*row));
	row->vmid = v->vmid;
	row->label = r->label;
	row->next_due = r->cal ? cal_next(r->cal, now) : -1;
	if (v->list_rc < 0) {
		/* without ONTAP's answer nothing is known: not ok */
		row->state = SC_FAILED;
		snprintf(row->cause_buf, sizeof(row->cause_buf), "%s", v->list_err);
		row->cause = row->cause_buf;
		return;
	}
	row->newest = newest_of(v, r->label);
	if (run_state_load(cfg->paths.state, v->vmid, r->label, &st) < 0) {
		log_warn("%s", err_msg());
		err_clear();
	}
	row->state = sched_compliance(st.failed, row->newest ? (int64_t)row->newest->created : 0,
				      now, r->cal, r->min_interval_s);
	if (row->state == SC_FAILED) {
		util_strlcpy(row->cause_buf, st.cause, sizeof(row->cause_buf));
		row->cause = row->cause_buf;
	}
}

static void format_age(int64_t s, char *out, size_t n)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(out, n, "%lldd%lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(out, n, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(out, n, "%lldm", (long long)(s / 60));
	else
		snprintf(out, n, "%llds", (long long)s);
}

static void row_json(struct json_writer *w, const struct status_row *r, int64_t now)
{
	char iso[21];

	jw_object_begin(w, NULL);
	jw_int(w, "vmid", r->vmid);
	jw_string(w, "label", r->label);
	jw_string(w, "newest", r->newest ? r->newest->name : NULL);
	if (r->newest) {
		util_iso8601(r->newest->created, iso);
		jw_string(w, "newest_created", iso);
		jw_int(w, "age_seconds", now - (int64_t)r->newest->created);
	} else {
		jw_null(w, "newest_created");
		jw_null(w, "age_seconds");
	}
	if (r->next_due >= 0) {
		util_iso8601((time_t)r->next_due, iso);
		jw_string(w, "next_due", iso);
	} else {
		jw_null(w, "next_due");
	}
	jw_string(w, "state", sched_compliance_name(r->state));
	jw_string(w, "cause", r->cause);
	jw_object_end(w);
}

static void row_text(const struct status_row *r, int64_t now)
{
	char age[32] = "-", due[21] = "-";

	if (r->newest)
		format_age(now - (int64_t)r->newest->created, age, sizeof(age));
	if (r->next_due >= 0)
		util_iso8601((time_t)r->next_due, due);
	printf("%-9d %-20s %-40s %-8s %-20s %s%s%s\n", r->vmid, r->label,
	       r->newest ? r->newest->name : "-", age, due, sched_compliance_name(r->state),
	       r->cause ? ": " : "", r->cause ? r->cause : "");
}

static const char status_help[] =
	"Policy compliance on this node: for every VM whose config is on this node and that has\n"
	"a policy, and every label of it, the newest snapshot (from ONTAP), its age, the next due\n"
	"time of a scheduled rule, and ok, late (the newest is older than the schedule's period,\n"
	"or min_interval, plus one period's grace), failed (the last run on this node failed)\n"
	"or never (no snapshot with that label yet). Exit status 0 when all are ok, else 1.";

/* Rows of every VM (a VM whose policy does not load is one failed row, label "-"). */
static int build_rows(const struct config *cfg, const struct status_vm *vms, int nvms,
		      int64_t now, struct status_row **out)
{
	int n = 0, cap = 0;

	*out = NULL;
	for (int i = 0; i < nvms; i++) {
		int nr = vms[i].pol ? vms[i].pol->nrules : 1;

		for (int k = 0; k < nr; k++) {
			struct status_row *row;

			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				*out = util_xrealloc(*out, (size_t)cap * sizeof(**out));
			}
			row = &(*out)[n++];
			if (vms[i].pol) {
				row_for_rule(cfg, &vms[i], &vms[i].pol->rules[k], now, row);
				continue;
			}
			memset(row, 0, sizeof(*row));
			row->vmid = vms[i].vmid;
			row->label = "-";
			row->next_due = -1;
			row->state = SC_FAILED;
			util_strlcpy(row->cause_buf, vms[i].policy_err, sizeof(row->cause_buf));
			row->cause = row->cause_buf;
		}
	}
	return n;
}

static int print_rows(const struct cli_ctx *cc, const struct status_row *rows, int n,
		      int64_t now, bool all_ok)
{
	if (cc->json) {
		struct cli_json j;

		cli_json_begin(&j);
		jw_object_begin(&j.w, NULL);
		jw_bool(&j.w, "ok", all_ok);
		jw_array_begin(&j.w, "rules");
		for (int i = 0; i < n; i++)
			row_json(&j.w, &rows[i], now);
		jw_array_end(&j.w);
		jw_object_end(&j.w);
		return cli_json_end(&j);
	}
	printf("%-9s %-20s %-40s %-8s %-20s %s\n", "VMID", "LABEL", "NEWEST", "AGE", "NEXT DUE",
	       "STATE");
	for (int i = 0; i < n; i++)
		row_text(&rows[i], now);
	return 0;
}

static int cmd_status(struct cli_ctx *cc, int argc, char **argv)
{
	long long vmid = 0;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, false, "ID", "only this VM" },
		{ .name = NULL },
	};
	struct status_vm *vms = NULL;
	struct status_row *rows = NULL;
	int nvms = 0, n = 0, rc;
	bool all_ok = true;
	int64_t now;

	rc = cli_parse("status", argc, argv, opts, status_help, NULL, NULL);
	if (rc)
		return rc;
	rc = cli_config(cc);
	if (rc == 0)
		rc = collect_vms(cc->cfg, (int)vmid, &vms, &nvms);
	if (rc < 0)
		goto out;
	if (vmid > 0 && nvms == 0) {
		rc = err_set(POE_NOTFOUND, "VM %lld has no config on this node or no policy", vmid);
		goto out;
	}
	list_all(cc->cfg, vms, nvms);
	now = sched_now();
	n = build_rows(cc->cfg, vms, nvms, now, &rows);
	for (int i = 0; i < n; i++)
		all_ok = all_ok && rows[i].state == SC_OK;
	rc = print_rows(cc, rows, n, now, all_ok);
	if (rc == 0 && !all_ok) {
		err_clear(); /* no message: the table says what */
		rc = POE_FAIL;
	}
out:
	for (int i = 0; i < nvms; i++) {
		policy_free(vms[i].pol);
		ops_vm_snapshot_list_free(vms[i].snaps, vms[i].nsnaps);
	}
	free(vms);
	free(rows);
	return rc;
}

const struct cli_object cli_obj_status = {
	.name = "status",
	.summary = "policy compliance of this node's VMs: newest snapshot, next due, state",
	.verbs = NULL,
	.fn = cmd_status,
	.flags = CLI_NEEDS_CONFIG,
	.usage = "[--vm ID]",
	.help = status_help,
};
