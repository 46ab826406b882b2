/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scheduled rules (DESIGN.md "Policies"): for every VM whose config is on this node
 * (<pve_etc>/qemu-server, which pmxcfs shows as this node's nodes/<node>/qemu-server) and
 * every rule of its policy with a `schedule`, the next due time in the schedule's clock
 * (sched_now()). A due rule runs as a child process, "pve-ontap sched-run VMID LABEL SLOT"
 * (hook_run_scheduled(): cluster lock, slot check, VM running, quiesce, retention, timeout,
 * run state), so that a run never blocks the queue's fast path and its deadline and
 * watchdog are its own. At most watch.max_parallel children at once, in due order.
 *
 * Slots: a run is for the latest slot due at its start; the next due time is the first
 * slot after that start, so a clock jump forward or a watcher that was down gives one run,
 * never one per missed slot; a jump backwards only makes the next slot come later (slots
 * already done are not repeated: the child checks the run state and ONTAP under the lock).
 * At start, a rule whose run state names a slot has that slot's successor as due time: one
 * missed while the watcher was down is made up once, at once.
 *
 * The VM and policy lists are read again every rescan period (the reconcile interval) and
 * on SIGHUP; parsed policies are cached by path, mtime and size (one parse of a
 * default.yaml that a thousand VMs share).
 */
#include "watch_internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "config/config.h"
#include "policy.h"
#include "sched/calendar.h"
#include "sched/clock.h"
#include "sched/metrics.h"
#include "sched/runstate.h"

/* cal_next() steps taken to find the latest slot before now (a week of minutes) */
#define SLOT_WALK_MAX 20000
/* sleep at most this long, so that a wall-clock jump is seen within it */
#define SCHED_MAX_SLEEP_MS 60000

struct ws_policy {
	char *path;
	struct timespec mtime;
	off_t size;
	struct policy *pol;       /* NULL: does not load (said once) */
	bool seen;
};

struct ws_entry {
	int vmid;
	char label[POLICY_LABEL_MAX + 1];
	char *schedule;           /* to see a changed schedule on rescan */
	const struct cal_event *cal; /* borrowed from the policy cache */
	int64_t next_due;         /* schedule clock, s; -1: never again */
	pid_t pid;                /* running child, 0: none */
	int64_t started;          /* schedule clock at its start */
	bool seen;
};

struct ws_sched {
	struct ws_policy *pols;
	int npols;
	struct ws_entry *e;
	int n;
	int cap;
	int running;
	int64_t next_scan_ms;
	bool metrics_dirty;
	int last_pending;         /* jobs pending in the file last written */
	char exe[4096];
};

static void entry_free(struct ws_entry *e)
{
	free(e->schedule);
}

static struct ws_policy *policy_cached(struct ws_sched *s, const char *path)
{
	struct ws_policy *p;
	struct stat st;

	if (stat(path, &st) < 0)
		return NULL;
	for (int i = 0; i < s->npols; i++) {
		p = &s->pols[i];
		if (strcmp(p->path, path) != 0)
			continue;
		if (p->mtime.tv_sec != st.st_mtim.tv_sec ||
		    p->mtime.tv_nsec != st.st_mtim.tv_nsec || p->size != st.st_size) {
			policy_free(p->pol);
			p->pol = NULL;
			goto load;
		}
		p->seen = true;
		return p;
	}
	s->pols = util_xrealloc(s->pols, (size_t)(s->npols + 1) * sizeof(*s->pols));
	p = &s->pols[s->npols++];
	memset(p, 0, sizeof(*p));
	p->path = util_xstrdup(path);
load:
	p->mtime = st.st_mtim;
	p->size = st.st_size;
	p->seen = true;
	if (policy_load_file(path, &p->pol, NULL) < 0) {
		log_warn("scheduled rules of '%s' not run: %s", path, err_msg());
		err_clear();
	}
	return p;
}

/* The latest slot of cal at or before now, starting from a slot known to be due. */
static int64_t latest_slot(const struct cal_event *cal, int64_t due, int64_t now)
{
	int64_t s = due;

	for (int i = 0; i < SLOT_WALK_MAX; i++) {
		int64_t t = cal_next(cal, s);

		if (t < 0 || t > now)
			return s;
		s = t;
	}
	return now; /* a very long gap: the slot is now */
}

/* A rule seen for the first time: due at the slot after its last one, or the next slot. */
static int64_t first_due(const struct config *cfg, int vmid, const char *label,
			 const struct cal_event *cal, int64_t now)
{
	struct run_state st;

	if (run_state_load(cfg->paths.state, vmid, label, &st) < 0) {
		err_clear();
		st.slot = 0;
	}
	if (st.slot > 0)
		return cal_next(cal, st.slot); /* <= now: missed while we were down */
	return cal_next(cal, now);
}

static struct ws_entry *entry_find(struct ws_sched *s, int vmid, const char *label)
{
	for (int i = 0; i < s->n; i++)
		if (s->e[i].vmid == vmid && !strcmp(s->e[i].label, label))
			return &s->e[i];
	return NULL;
}

static void entry_note(struct ws_sched *s, const struct config *cfg, int vmid,
		       const struct policy_rule *r, int64_t now)
{
	struct ws_entry *e = entry_find(s, vmid, r->label);

	if (e && strcmp(e->schedule, r->schedule) != 0) {
		free(e->schedule);
		e->schedule = util_xstrdup(r->schedule);
		e->next_due = cal_next(r->cal, now);
	}
	if (!e) {
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 16;
			s->e = util_xrealloc(s->e, (size_t)s->cap * sizeof(*s->e));
		}
		e = &s->e[s->n++];
		memset(e, 0, sizeof(*e));
		e->vmid = vmid;
		util_strlcpy(e->label, r->label, sizeof(e->label)); /* a policy label: fits */
		e->schedule = util_xstrdup(r->schedule);
		e->next_due = first_due(cfg, vmid, r->label, r->cal, now);
	}
	e->cal = r->cal;
	e->seen = true;
}

static void note_vm(struct ws_sched *s, const struct config *cfg, int vmid, int64_t now)
{
	char path[4096];
	struct ws_policy *p;

	if (policy_find(cfg->paths.policies, vmid, path, sizeof(path)) < 0) {
		err_clear();
		return;
	}
	p = policy_cached(s, path);
	if (!p || !p->pol)
		return;
	for (int i = 0; i < p->pol->nrules; i++)
		if (p->pol->rules[i].cal)
			entry_note(s, cfg, vmid, &p->pol->rules[i], now);
}

/* Entries and policies no longer seen go; a running child's entry stays until reaped. */
static void sweep(struct ws_sched *s)
{
	int k = 0;

	for (int i = 0; i < s->n; i++) {
		if (s->e[i].seen || s->e[i].pid > 0)
			s->e[k++] = s->e[i];
		else
			entry_free(&s->e[i]);
	}
	s->n = k;
	k = 0;
	for (int i = 0; i < s->npols; i++) {
		if (s->pols[i].seen) {
			s->pols[k++] = s->pols[i];
		} else {
			free(s->pols[i].path);
			policy_free(s->pols[i].pol);
		}
	}
	s->npols = k;
}

static void rescan(struct ws_sched *s, const struct config *cfg)
{
	char *dir = util_xasprintf("%s/qemu-server", cfg->paths.pve_etc);
	int64_t now = sched_now();
	DIR *d = opendir(dir);
	struct dirent *de;

	for (int i = 0; i < s->n; i++)
		s->e[i].seen = false;
	for (int i = 0; i < s->npols; i++)
		s->pols[i].seen = false;
	while (d && (de = readdir(d)) != NULL) {
		int64_t vmid;
		char num[32];
		size_t len = strlen(de->d_name);

		if (len < 6 || len - 5 >= sizeof(num) || strcmp(de->d_name + len - 5, ".conf"))
			continue;
		memcpy(num, de->d_name, len - 5);
		num[len - 5] = '\0';
		if (util_parse_int(num, 100, 999999999, &vmid) < 0) {
			err_clear();
			continue;
		}
		note_vm(s, cfg, (int)vmid, now);
	}
	if (d)
		closedir(d);
	free(dir);
	/* a policy whose rules went must not leave entries pointing into freed rules: those
	 * not seen are swept; their running children are still reaped by pid */
	for (int i = 0; i < s->n; i++)
		if (!s->e[i].seen)
			s->e[i].cal = NULL;
	sweep(s);
	s->metrics_dirty = true;
}

/* ---- children ---- */

/*
 * fork + execve of ourselves: between them only async-signal-safe calls (the watcher has
 * threads). The child gets the default signal mask and dispositions back.
 */
static pid_t spawn(const struct ws_sched *s, const char *config_path, const struct ws_entry *e,
		   int64_t slot)
{
	char vmid[16], slot_s[24];
	char *argv[8];
	int i = 0;
	pid_t pid;

	snprintf(vmid, sizeof(vmid), "%d", e->vmid);
	snprintf(slot_s, sizeof(slot_s), "%lld", (long long)slot);
	argv[i++] = "pve-ontap";
	if (config_path) {
		argv[i++] = "--config";
		argv[i++] = (char *)config_path;
	}
	argv[i++] = "sched-run";
	argv[i++] = vmid;
	argv[i++] = (char *)e->label;
	argv[i++] = slot_s;
	argv[i] = NULL;
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		for (int sig = 1; sig < NSIG; sig++)
			sigaction(sig, &dfl, NULL);
		sigemptyset(&none);
		pthread_sigmask(SIG_SETMASK, &none, NULL);
		execv(s->exe, argv);
		_exit(127);
	}
	return pid;
}

/* A child that ended without recording its run (killed, crashed): record it failed. */
static void child_ended(struct ws_sched *s, const struct config *cfg, struct ws_entry *e,
			int status)
{
	struct run_state st;
	char cause[128];

	s->running--;
	e->pid = 0;
	s->metrics_dirty = true;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if (run_state_load(cfg->paths.state, e->vmid, e->label, &st) == 0 &&
	    st.last_run >= e->started)
		return; /* it recorded (and logged) its failure itself */
	err_clear();
	if (WIFSIGNALED(status))
		snprintf(cause, sizeof(cause), "scheduled run killed by signal %d",
			 WTERMSIG(status));
	else
		snprintf(cause, sizeof(cause), "scheduled run ended with exit status %d",
			 WEXITSTATUS(status));
	log_warn("VM %d schedule: %s (label %s)", e->vmid, cause, e->label);
	if (run_state_record(cfg->paths.state, e->vmid, e->label, sched_now(), false, cause, 0) < 0)
		log_warn("%s", err_msg());
}

/* Reap our own children only (by pid): exec_run() of the workers waits for its own. */
static void reap(struct ws_sched *s, const struct config *cfg)
{
	for (int i = 0; i < s->n && s->running > 0; i++) {
		struct ws_entry *e = &s->e[i];
		int status = 0;
		pid_t r;

		if (e->pid <= 0)
			continue;
		do {
			r = waitpid(e->pid, &status, WNOHANG);
		} while (r < 0 && errno == EINTR);
		if (r == e->pid || (r < 0 && errno == ECHILD))
			child_ended(s, cfg, e, r == e->pid ? status : 0);
	}
}

static int due_cmp(const void *a, const void *b)
{
	const struct ws_entry *x = *(const struct ws_entry *const *)a;
	const struct ws_entry *y = *(const struct ws_entry *const *)b;

	if (x->next_due != y->next_due)
		return x->next_due < y->next_due ? -1 : 1;
	return x->vmid != y->vmid ? (x->vmid < y->vmid ? -1 : 1) : strcmp(x->label, y->label);
}

static int max_parallel(const struct config *cfg)
{
	return cfg->watch.max_parallel > 0 ? cfg->watch.max_parallel : 4;
}

/* Start due runs, earliest first, while fewer than max_parallel run. */
static void start_due(struct ws_sched *s, const struct watcher *w, int64_t now)
{
	struct ws_entry **due = util_xcalloc((size_t)(s->n ? s->n : 1), sizeof(*due));
	int ndue = 0;

	for (int i = 0; i < s->n; i++)
		if (s->e[i].pid == 0 && s->e[i].cal && s->e[i].next_due >= 0 &&
		    s->e[i].next_due <= now)
			due[ndue++] = &s->e[i];
	qsort(due, (size_t)ndue, sizeof(*due), due_cmp);
	for (int i = 0; i < ndue && s->running < max_parallel(w->cfg); i++) {
		struct ws_entry *e = due[i];
		int64_t slot = latest_slot(e->cal, e->next_due, now);
		pid_t pid = spawn(s, w->config_path, e, slot);

		if (pid < 0) {
			log_warn("VM %d schedule: cannot start the run of '%s': %s", e->vmid,
				 e->label, strerror(errno));
			break; /* try again on the next wakeup */
		}
		log_debug("VM %d schedule %s: run for slot %lld (pid %d)", e->vmid, e->label,
			  (long long)slot, (int)pid);
		e->pid = pid;
		e->started = now;
		s->running++;
		e->next_due = cal_next(e->cal, now);
	}
	free(due);
}

/* ---- metrics ---- */

static int jobs_pending(const struct watcher *w)
{
	int n = 0;

	for (int i = 0; i < w->njobs; i++)
		n += !w->jobs[i].done;
	return n;
}

/* One row per run state file of this node ("<vmid>-<label>.state"): hook runs count too. */
static void metrics_rows(const struct config *cfg, struct metrics_row **rows, char ***labels,
			 int *n)
{
	char *dir = util_xasprintf("%s/runs", cfg->paths.state);
	DIR *d = opendir(dir);
	struct dirent *de;
	int cap = 0;

	*n = 0;
	while (d && (de = readdir(d)) != NULL) {
		char label[POLICY_LABEL_MAX + 1];
		struct run_state st;
		int vmid, len = 0;

		if (sscanf(de->d_name, "%d-%32[a-z0-9_].state%n", &vmid, label, &len) != 2 ||
		    de->d_name[len] != '\0' || len == 0 ||
		    run_state_load(cfg->paths.state, vmid, label, &st) < 0) {
			err_clear();
			continue;
		}
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			*rows = util_xrealloc(*rows, (size_t)cap * sizeof(**rows));
			*labels = util_xrealloc(*labels, (size_t)cap * sizeof(**labels));
		}
		(*labels)[*n] = util_xstrdup(label);
		(*rows)[*n] = (struct metrics_row){ .vmid = vmid, .label = (*labels)[*n],
						    .last_success = st.last_success,
						    .runs_ok = st.runs_ok,
						    .runs_failed = st.runs_failed };
		(*n)++;
	}
	if (d)
		closedir(d);
	free(dir);
}

static void metrics_update(struct ws_sched *s, const struct watcher *w, int pending)
{
	struct metrics_row *rows = NULL;
	char **labels = NULL;
	int n = 0;

	metrics_rows(w->cfg, &rows, &labels, &n);
	if (metrics_write(w->cfg->paths.metrics, rows, n, pending) < 0) {
		log_warn("%s", err_msg());
		err_clear();
	}
	for (int i = 0; i < n; i++)
		free(labels[i]);
	free(labels);
	free(rows);
	s->metrics_dirty = false;
}

/* ---- the watcher's side ---- */

int ws_setup(struct watcher *w)
{
	struct ws_sched *s = w->sched;
	ssize_t len;

	if (!s) {
		s = w->sched = util_xcalloc(1, sizeof(*s));
		len = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
		if (len <= 0 || (size_t)len >= sizeof(s->exe) - 1)
			return err_set(POE_FAIL,
				       "cannot find our own executable for scheduled runs");
		s->exe[len] = '\0';
		s->last_pending = -1;
	}
	/* SIGHUP: the policies are read again, running children go on */
	for (int i = 0; i < s->npols; i++)
		s->pols[i].mtime.tv_nsec = -1;
	s->next_scan_ms = 0;
	return 0;
}

void ws_release(struct watcher *w)
{
	struct ws_sched *s = w->sched;

	if (!s)
		return;
	/* children finish on their own (their lock, deadline and run state are their own) */
	for (int i = 0; i < s->n; i++)
		entry_free(&s->e[i]);
	for (int i = 0; i < s->npols; i++) {
		free(s->pols[i].path);
		policy_free(s->pols[i].pol);
	}
	free(s->pols);
	free(s->e);
	free(s);
	w->sched = NULL;
}

void ws_run(struct watcher *w, int64_t now_ms)
{
	struct ws_sched *s = w->sched;
	int pending;

	if (!s)
		return;
	if (s->running > 0)
		reap(s, w->cfg);
	if (s->next_scan_ms <= now_ms) {
		int64_t every = w->cfg->watch.reconcile_s > 0 ? w->cfg->watch.reconcile_s : 60;

		rescan(s, w->cfg);
		s->next_scan_ms = now_ms + (every > 3600 ? 3600 : every) * 1000;
	}
	if (!*w->stop)
		start_due(s, w, sched_now());
	pending = jobs_pending(w);
	if (w->cfg->paths.metrics && (s->metrics_dirty || pending != s->last_pending)) {
		metrics_update(s, w, pending);
		s->last_pending = pending;
	}
}

int64_t ws_next_due(const struct watcher *w)
{
	const struct ws_sched *s = w->sched;
	int64_t now = sched_now(), first = -1, mono = util_now_ms(), due;

	if (!s)
		return 0;
	for (int i = 0; i < s->n; i++) {
		const struct ws_entry *e = &s->e[i];

		if (e->pid == 0 && e->cal && e->next_due >= 0 && (first < 0 || e->next_due < first))
			first = e->next_due;
	}
	due = s->next_scan_ms;
	if (first >= 0) {
		/* full running slots: a child's exit (SIGCHLD) wakes the loop */
		int64_t t = mono + (first > now ? (first - now) * 1000 : 0);

		if (s->running < max_parallel(w->cfg) && t < due)
			due = t;
	}
	if (due > mono + SCHED_MAX_SLEEP_MS)
		due = mono + SCHED_MAX_SLEEP_MS;
	return due > 0 ? due : mono;
}

int ws_running(const struct watcher *w)
{
	return w->sched ? w->sched->running : 0;
}
