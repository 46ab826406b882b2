// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hookscript mode: phase -> policy -> operations. PVE runs us with the VM's config lock
 * held and, for pre-start, aborts the start on a non-zero exit (reference/pve.md §1.2,
 * §1.3). So: say little, finish within the policy's timeout, never touch the VM config
 * (ops queue that work for the watcher), and exit 0 unless the policy asks to block.
 */
#include "hook.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "host/lock.h"
#include "base/log.h"
#include "ops/ops.h"
#include "policy.h"
#include "pve/pve.h"
#include "sched/clock.h"
#include "sched/runstate.h"
#include "base/util.h"

struct hook {
	int vmid;
	const char *phase_name;
	unsigned phase;
	const struct config *cfg;
	const struct policy *pol;
	struct ops_ctx ctx;
	int64_t deadline;           /* for the work: the timeout less the cleanup share */
	int64_t end;                /* the policy's timeout: undoing a failed step ends here */
	const char *what;           /* the step that failed, for the warning line */
	struct vm_snapshot *list;   /* our snapshots of the VM, oldest first */
	int nlist;
	bool listed;
	int64_t slot;               /* scheduled run: the slot it is for (0: a hook run) */
};

/* "now" for min_interval and names: a scheduled run uses the schedule's clock */
static int64_t hook_now(const struct hook *h)
{
	return h->slot ? sched_now() : (int64_t)time(NULL);
}

/*
 * Status lines go to stdout, warnings to stderr; both end up in the task log (or the
 * journal for a post-stop from qmeventd). Flushed at once so that they stay in order.
 */
static void __attribute__((format(printf, 3, 4)))
say(int vmid, const char *phase, const char *fmt, ...)
{
	va_list ap;

	printf("pve-ontap: VM %d %s: ", vmid, phase);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/*
 * Through log_msg(): one line, secrets scrubbed, and under systemd (qmeventd's post-stop,
 * the watcher) the journal's <3>/<4> priority prefix, so a failed run is a warning there.
 */
static void __attribute__((format(printf, 4, 5)))
complain(bool error, int vmid, const char *phase, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(error ? LOG_LVL_ERROR : LOG_LVL_WARN, "VM %d %s: %s", vmid, phase, msg);
}

/* ---- watchdog ---- */

/*
 * Every request and child process honours the global deadline; this is the safety net
 * for anything that does not (a resolver, a bug): PVE would otherwise wait forever with
 * the VM locked (pve.md §1.3, "No timeout"). A thread rather than alarm(): libcurl may
 * use SIGALRM, and a thread can release the cluster lock before it ends the process.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;       /* signalled by watchdog_stop(); waits on CLOCK_MONOTONIC */
	pthread_t thread;
	bool running;
	bool disarmed;             /* guarded by mu */
	struct cluster_lock *lock; /* guarded by mu: released before _exit() */
	int64_t fire_at;
	int status;
	char msg[256];
} wd = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void *watchdog_main(void *arg)
{
	int64_t quiesce_until = wd.fire_at + HOOK_WATCHDOG_QUIESCE_S * 1000LL;
	bool waited = false; /* the grace ran out while the guest was quiesced */

	(void)arg;
	pthread_mutex_lock(&wd.mu);
	while (!wd.disarmed) {
		int64_t now = util_now_ms();
		int64_t left = wd.fire_at - now;
		struct timespec ts;

		/* never end the process while a guest is frozen or suspended by us: the thaw
		 * has a deadline of its own; it gets up to HOOK_WATCHDOG_QUIESCE_S more. The
		 * clean-up after a thaw that ended past the grace gets a grace of its own. */
		if (left <= 0 && ops_guest_quiesced() && now < quiesce_until) {
			left = 200;
			waited = true;
		} else if (left <= 0 && waited) {
			wd.fire_at = now + HOOK_WATCHDOG_GRACE_S * 1000LL;
			left = HOOK_WATCHDOG_GRACE_S * 1000LL;
			waited = false;
		} else if (left <= 0) {
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&wd.cond, &wd.mu, &ts);
	}
	if (wd.disarmed) {
		pthread_mutex_unlock(&wd.mu);
		return NULL;
	}
	/* still holding mu: hook_run() cannot release the lock under our feet */
	if (wd.lock)
		cluster_lock_release(wd.lock);
	if (write(STDERR_FILENO, wd.msg, strlen(wd.msg)) < 0) {
		/* nothing left to tell it to */
	}
	_exit(wd.status);
}

static void watchdog_start(const struct hook *h, int status)
{
	pthread_condattr_t ca;
	char t[24];

	policy_format_duration(h->pol->timeout_s, t, sizeof(t));
	wd.fire_at = h->end + HOOK_WATCHDOG_GRACE_S * 1000LL;
	wd.status = status;
	wd.disarmed = false;
	snprintf(wd.msg, sizeof(wd.msg),
		 "pve-ontap: %s: VM %d %s: still running %d s after the timeout of %s, "
		 "giving up\n", status ? "error" : "warning", h->vmid, h->phase_name,
		 HOOK_WATCHDOG_GRACE_S, t);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&wd.thread, NULL, watchdog_main, NULL) == 0) {
		wd.running = true;
	} else {
		pthread_cond_destroy(&wd.cond);
		log_debug("cannot start the hook watchdog thread");
	}
}

static void watchdog_guard_lock(struct cluster_lock *l)
{
	pthread_mutex_lock(&wd.mu);
	wd.lock = l;
	pthread_mutex_unlock(&wd.mu);
}

/* Release the cluster lock (if held) and stop the watchdog. */
static void watchdog_stop(struct cluster_lock *l)
{
	pthread_mutex_lock(&wd.mu);
	cluster_lock_release(l);
	wd.lock = NULL;
	wd.disarmed = true;
	if (wd.running)
		pthread_cond_signal(&wd.cond);
	pthread_mutex_unlock(&wd.mu);
	if (wd.running) {
		pthread_join(wd.thread, NULL);
		pthread_cond_destroy(&wd.cond);
		wd.running = false;
	}
}

/* ---- one rule ---- */

static void format_age(int64_t s, char *out, size_t n)
{
	if (s < 0)
		s = 0; /* a clock step backwards: call it new */
	if (s >= 86400)
		snprintf(out, n, "%lldd", (long long)(s / 86400));
	else if (s >= 3600)
		snprintf(out, n, "%lldh", (long long)(s / 3600));
	else if (s >= 60)
		snprintf(out, n, "%lldm", (long long)(s / 60));
	else
		snprintf(out, n, "%llds", (long long)s);
}

static int ensure_list(struct hook *h)
{
	int rc;

	if (h->listed)
		return 0;
	h->what = "cannot list snapshots";
	rc = ops_vm_snapshot_list(&h->ctx, h->vmid, &h->list, &h->nlist);
	if (rc < 0)
		return rc;
	h->listed = true;
	return 0;
}

/* Only at post-start and pre-stop is the guest running, so only there can it be frozen. */
static enum quiesce rule_quiesce(const struct hook *h, const struct policy_rule *r)
{
	if (r->quiesce != POLICY_QUIESCE_FREEZE)
		return QUIESCE_NONE;
	if (h->slot)
		return QUIESCE_FREEZE; /* scheduled runs are for running VMs only */
	return (h->phase & (POLICY_POST_START | POLICY_PRE_STOP)) ? QUIESCE_FREEZE : QUIESCE_NONE;
}

static int run_rule(struct hook *h, const struct policy_rule *r)
{
	struct vm_snapshot_opts o = { 0 };
	struct vm_snapshot snap = { .ndisks = 0 };
	const struct vm_snapshot *newest = NULL;
	const char *doomed[3];
	int nlabel = 0, ndoomed = 0, excess, pruned, rc;
	char names[3 * 100 + 8] = "";
	char a[24], b[24];
	int64_t t0;

	rc = ensure_list(h);
	if (rc < 0)
		goto out;
	for (int i = 0; i < h->nlist; i++) {
		const struct vm_snapshot *s = &h->list[i];

		if (strcmp(s->label, r->label))
			continue;
		nlabel++;
		if (!newest || s->created >= newest->created)
			newest = s;
	}
	if (r->min_interval_s > 0 && newest) {
		int64_t age = hook_now(h) - (int64_t)newest->created;

		if (age < r->min_interval_s) {
			format_age(age, a, sizeof(a));
			policy_format_duration(r->min_interval_s, b, sizeof(b));
			say(h->vmid, h->phase_name, "skipped %s: newest is %s old (min_interval %s)",
			    r->label, a, b);
			goto out; /* rc 0: no run */
		}
	}

	o.vmid = h->vmid;
	o.label = r->label;
	o.quiesce = rule_quiesce(h, r);
	/* C has no implicit char ** -> const char *const * conversion */
	o.include = (const char *const *)h->pol->include;
	o.exclude = (const char *const *)h->pol->exclude;
	o.queue_rescan = policy_rule_registers(h->pol, r);
	o.when = h->slot ? (time_t)hook_now(h) : 0;
	h->what = "snapshot failed";
	t0 = util_now_ms();
	rc = ops_vm_snapshot_create(&h->ctx, &o, &snap);
	if (rc < 0)
		goto out;
	snprintf(a, sizeof(a), "%.1f", (double)(util_now_ms() - t0) / 1000.0);

	/* the list is oldest first, so these are what prune will delete (for the line) */
	excess = nlabel + 1 - r->keep;
	for (int i = 0; i < h->nlist && ndoomed < excess && ndoomed < 3; i++)
		if (!strcmp(h->list[i].label, r->label))
			doomed[ndoomed++] = h->list[i].name;

	pruned = ops_vm_snapshot_prune(&h->ctx, h->vmid, r->label, r->keep);
	if (pruned < 0) {
		/* the snapshot the policy asked for exists: retention trouble never blocks */
		say(h->vmid, h->phase_name, "snapshot %s of %d disk%s in %s s", snap.name,
		    snap.ndisks, snap.ndisks == 1 ? "" : "s", a);
		complain(false, h->vmid, h->phase_name, "retention of '%s' failed: %s", r->label,
			 err_msg());
		rc = 1;
		goto out;
	}
	if (pruned > 0 && pruned == excess) {
		size_t len = 0;

		for (int i = 0; i < ndoomed; i++)
			len += snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
					doomed[i]);
		if (pruned > ndoomed)
			snprintf(names + len, sizeof(names) - len, ", ...");
	}
	if (pruned > 0 && names[0])
		say(h->vmid, h->phase_name, "snapshot %s of %d disk%s in %s s; pruned %d (%s)",
		    snap.name, snap.ndisks, snap.ndisks == 1 ? "" : "s", a, pruned, names);
	else if (pruned > 0)
		say(h->vmid, h->phase_name, "snapshot %s of %d disk%s in %s s; pruned %d",
		    snap.name, snap.ndisks, snap.ndisks == 1 ? "" : "s", a, pruned);
	else
		say(h->vmid, h->phase_name, "snapshot %s of %d disk%s in %s s", snap.name,
		    snap.ndisks, snap.ndisks == 1 ? "" : "s", a);
	rc = 1;
out:
	vm_snapshot_clear(&snap);
	return rc;
}

/*
 * A failed run: the rules from `from` on did not get their snapshot. Their run state says
 * so (status shows them failed until a later run succeeds); labels gets " (label x)" or
 * " (labels x, y)" for the one warning line.
 */
static void record_failure(struct hook *h, const int *idx, int from, int nidx, const char *cause,
			   char *labels, size_t n)
{
	size_t len = (size_t)snprintf(labels, n, " (label%s ", nidx - from > 1 ? "s" : "");

	for (int i = from; i < nidx; i++) {
		const char *label = h->pol->rules[idx[i]].label;

		if (run_state_record(h->cfg->paths.state, h->vmid, label, hook_now(h), false,
				     cause, h->slot) < 0)
			log_warn("%s", err_msg());
		if (len < n)
			len += (size_t)snprintf(labels + len, n - len, "%s%s", i > from ? ", " : "",
						label);
	}
	if (len < n)
		snprintf(labels + len, n - len, ")");
}

static void record_success(struct hook *h, const char *label)
{
	if (run_state_record(h->cfg->paths.state, h->vmid, label, hook_now(h), true, NULL,
			     h->slot) < 0)
		log_warn("%s", err_msg());
}

/*
 * vzdump of a stopped VM starts and stops it with the config locked "backup" and fires
 * every phase (pve.md §1.4, §11.4): a backup is not a boot, take no snapshots for it.
 * Read from the local config file: no request.
 */
static bool vm_in_backup(const struct config *cfg, int vmid)
{
	struct pve_vmconf *vc = NULL;
	bool backup = false;

	if (pve_vmconf_load(cfg->paths.pve_etc, vmid, &vc) == 0)
		backup = vc->lock && !strcmp(vc->lock, "backup");
	pve_vmconf_free(vc);
	err_clear();
	return backup;
}

/* ---- the hook ---- */

/* Config and the VM's policy; < 0 when the hook has nothing to do (said why, if it matters). */
static int load_config_and_policy(const char *config_path, int vmid, const char *phase_name,
				  struct config **cfg, struct policy **pol)
{
	struct buf errors = BUF_INIT(64 * 1024);
	char path[4096];
	int rc;

	rc = config_load(config_path, cfg);
	if (rc < 0) {
		complain(false, vmid, phase_name, "no usable configuration, nothing done: %s",
			 err_msg());
		goto out;
	}
	rc = policy_find((*cfg)->paths.policies, vmid, path, sizeof(path));
	if (rc == POE_NOTFOUND) {
		log_debug("%s", err_msg());
		goto out;
	}
	if (rc < 0) {
		complain(false, vmid, phase_name, "nothing done: %s", err_msg());
		goto out;
	}
	rc = policy_load_file(path, pol, &errors);
	if (rc < 0) {
		const char *e = buf_cstr(&errors);

		complain(false, vmid, phase_name, "invalid policy '%s', nothing done:", path);
		fputs(*e ? e : err_msg(), stderr);
		if (!*e)
			fputc('\n', stderr);
	}
out:
	buf_release(&errors);
	return rc;
}

/*
 * The run's deadlines: the work gets the policy's timeout less a share kept for undoing a
 * failed snapshot (waiting for clone jobs whose outcome is unknown, removing clones): a
 * quarter, at least 1 s, at most half. The global deadline is the work's.
 */
static void set_deadlines(struct hook *h)
{
	int64_t timeout_ms = h->pol->timeout_s * 1000;
	int64_t share = timeout_ms / 4;

	if (share < 1000)
		share = 1000;
	if (share > timeout_ms / 2)
		share = timeout_ms / 2;
	h->end = util_now_ms() + timeout_ms;
	h->deadline = h->end - share;
	util_deadline_set_global(h->deadline);
}

/* A migration target (skip_on_migration) or a backup run: say so and take nothing. */
static bool run_skipped(const struct hook *h)
{
	const char *from = getenv("PVE_MIGRATED_FROM");

	if ((h->phase & (POLICY_PRE_START | POLICY_POST_START)) && h->pol->skip_on_migration &&
	    from && *from) {
		say(h->vmid, h->phase_name, "skipped: migration from %s (skip_on_migration)", from);
		return true;
	}
	if (vm_in_backup(h->cfg, h->vmid)) {
		say(h->vmid, h->phase_name, "skipped: backup in progress (lock: backup)");
		return true;
	}
	return false;
}

/* The one warning (or, blocking, error) line of a failed run and its run state; returns the
 * exit status of the hook. */
static int report_failure(struct hook *h, int rc, const int *idx, int failed_rule, int nidx,
			  bool blocking)
{
	char cause[RUN_STATE_CAUSE_MAX];
	char labels[POLICY_MAX_RULES * (POLICY_LABEL_MAX + 2) + 16];

	/* whatever gave up first, the cause is the policy's deadline: say so */
	if (util_deadline_passed(h->deadline)) {
		char t[24];

		policy_format_duration(h->pol->timeout_s, t, sizeof(t));
		rc = err_prefix(POE_TIMEOUT, "timeout of %s reached", t);
	}
	util_strlcpy(cause, err_msg(), sizeof(cause)); /* recording may clear it */
	record_failure(h, idx, failed_rule, nidx, cause, labels, sizeof(labels));
	if (!blocking) {
		complain(false, h->vmid, h->phase_name, "%s: %s%s", h->what, cause, labels);
		return 0;
	}
	complain(true, h->vmid, h->phase_name, "%s: %s%s; the start is aborted (on_error: block)",
		 h->what, cause, labels);
	return err_exit_status(rc);
}


/* What every run, by phase or by schedule, undoes at its end, whatever happened. */
static void run_end(struct hook *h, struct cluster_lock *lock, struct policy *pol,
		    struct config *cfg)
{
	watchdog_stop(lock);
	ops_run_signals_release();
	ops_vm_snapshot_list_free(h->list, h->nlist);
	policy_free(pol);
	config_free(cfg);
	util_deadline_set_global(0);
	log_context_clear();
	fflush(stdout);
}
int hook_run(const char *config_path, int vmid, const char *phase_name)
{
	struct hook h = { .vmid = vmid, .phase_name = phase_name };
	struct config *cfg = NULL;
	struct policy *pol = NULL;
	struct cluster_lock lock = { .held = 0 };
	bool ctx_ready = false;
	bool blocking = false;
	int idx[POLICY_MAX_RULES];
	char lockname[32];
	int nidx, rc, status = 0, failed_rule = 0;

	/* the task log wants our own summary lines, not every step (pve.md §11.5) */
	if (log_get_level() == LOG_LVL_INFO)
		log_set_level(LOG_LVL_WARN);
	h.phase = policy_phase_parse(phase_name);
	if (!h.phase) {
		/* PVE may add phases; Proxmox's example exits non-zero there, we must not */
		say(vmid, phase_name ? phase_name : "(none)", "unknown phase, nothing to do");
		return 0;
	}
	if (vmid <= 0) {
		complain(false, vmid, phase_name, "invalid VM id, nothing to do");
		return 0;
	}

	if (load_config_and_policy(config_path, vmid, phase_name, &cfg, &pol) < 0)
		goto out;
	h.cfg = cfg;
	h.pol = pol;
	nidx = policy_rules_for_phase(pol, h.phase, idx);
	if (nidx == 0)
		goto out;

	set_deadlines(&h);
	blocking = h.phase == POLICY_PRE_START && policy_blocks_start(pol);

	if (run_skipped(&h))
		goto out;

	watchdog_start(&h, blocking ? err_exit_status(POE_TIMEOUT) : 0);
	/* PVE ends a hook that outlasts a stop with SIGTERM: undo, release the lock, then go */
	ops_run_signals_catch();
	snprintf(lockname, sizeof(lockname), "vm-%d", vmid);
	h.what = "cannot lock the VM";
	rc = cluster_lock_acquire(&lock, cfg->paths.lock, lockname, h.deadline);
	if (rc < 0)
		goto failed;
	watchdog_guard_lock(&lock);

	ops_ctx_init(&h.ctx, cfg);
	ctx_ready = true;
	h.ctx.deadline = h.deadline;
	h.ctx.cleanup_deadline = h.end;
	h.ctx.phase = phase_name;
	/* the journal fields of what this run logs (log.h): VMID=, PHASE=, LABEL= per rule */
	log_context_set(vmid, NULL, phase_name);
	for (failed_rule = 0; failed_rule < nidx; failed_rule++) {
		log_context_label(pol->rules[idx[failed_rule]].label);
		rc = run_rule(&h, &pol->rules[idx[failed_rule]]);
		if (rc > 0)
			record_success(&h, pol->rules[idx[failed_rule]].label);
		if (rc < 0)
			break; /* the next rule would meet the same ONTAP, PVE or deadline */
	}
failed:
	if (rc < 0)
		status = report_failure(&h, rc, idx, failed_rule, nidx, blocking);
out:
	if (ctx_ready)
		ops_ctx_release(&h.ctx);
	run_end(&h, &lock, pol, cfg);
	return status;
}

/* ---- scheduled runs (the watcher's children) ---- */

/* The rule with label that has a schedule, or NULL (the policy changed since). */
static const struct policy_rule *scheduled_rule(const struct policy *p, const char *label)
{
	for (int i = 0; i < p->nrules; i++)
		if (p->rules[i].cal && !strcmp(p->rules[i].label, label))
			return &p->rules[i];
	return NULL;
}

/* Mark slot handled without counting a run (it was done elsewhere, or the VM is stopped). */
static void slot_handled(const struct hook *h, const char *label)
{
	struct run_state st;

	if (run_state_load(h->cfg->paths.state, h->vmid, label, &st) == 0 && st.slot < h->slot) {
		st.slot = h->slot;
		if (run_state_save(h->cfg->paths.state, h->vmid, label, &st) < 0)
			log_warn("%s", err_msg());
	}
}

/*
 * Under the VM's lock: is the slot done already, by this node (run state) or by another
 * node's watcher that had the VM before a migration, or shares its state (ONTAP: a snapshot
 * of the label made at or after the slot)? Returns 1 when done, 0 when not, < 0 on error.
 */
static int slot_done(struct hook *h, const char *label)
{
	struct run_state st;
	int rc;

	if (run_state_load(h->cfg->paths.state, h->vmid, label, &st) == 0 && st.slot >= h->slot)
		return 1;
	rc = ensure_list(h);
	if (rc < 0)
		return rc;
	for (int i = 0; i < h->nlist; i++)
		if (!strcmp(h->list[i].label, label) && (int64_t)h->list[i].created >= h->slot)
			return 1;
	return 0;
}

/* Is the VM running on this node? Stopped VMs' disks do not change: no scheduled run. */
static int vm_running(struct hook *h, bool *running)
{
	struct pve_client *pc;
	struct pve_vm_status st;
	char node[128];
	int rc;

	h->what = "cannot read the VM status";
	rc = ops_pve(&h->ctx, &pc);
	if (rc < 0)
		return rc;
	rc = pve_vm_node(pc, h->vmid, node, sizeof(node), h->deadline);
	if (rc == 0)
		rc = pve_vm_status(pc, node, h->vmid, &st, h->deadline);
	if (rc == 0)
		*running = !strcmp(st.status, "running");
	return rc;
}

/* The part under the lock: slot check, VM state, the rule. */
static int scheduled_locked(struct hook *h, const struct policy_rule *r)
{
	bool running = false;
	int rc;

	/* migrated away since the watcher looked: the new node's watcher has it now */
	if (!pve_vm_is_local(h->cfg->paths.pve_etc, h->vmid)) {
		log_info("VM %d schedule %s: skipped: its config is no longer on this node",
			 h->vmid, r->label);
		return 0;
	}
	h->what = "cannot list snapshots";
	rc = slot_done(h, r->label);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		log_info("VM %d schedule %s: slot already done", h->vmid, r->label);
		slot_handled(h, r->label);
		return 0;
	}
	rc = vm_running(h, &running);
	if (rc < 0)
		return rc;
	if (!running) {
		log_info("VM %d schedule %s: skipped: the VM is not running", h->vmid, r->label);
		slot_handled(h, r->label);
		return 0;
	}
	rc = run_rule(h, r);
	if (rc > 0)
		record_success(h, r->label);
	return rc < 0 ? rc : 0;
}

int hook_run_scheduled(const char *config_path, int vmid, const char *label, int64_t slot)
{
	struct hook h = { .vmid = vmid, .phase_name = "schedule", .slot = slot };
	struct config *cfg = NULL;
	struct policy *pol = NULL;
	struct cluster_lock lock = { .held = 0 };
	const struct policy_rule *r;
	char lockname[32];
	int idx[1], rc, status = 0;

	rc = load_config_and_policy(config_path, vmid, "schedule", &cfg, &pol);
	if (rc < 0) {
		status = rc == POE_NOTFOUND ? 0 : err_exit_status(rc);
		goto out;
	}
	h.cfg = cfg;
	h.pol = pol;
	r = scheduled_rule(pol, label);
	if (!r)
		goto out; /* the rule went away with a policy change: nothing to do */
	idx[0] = (int)(r - pol->rules);
	set_deadlines(&h);
	watchdog_start(&h, err_exit_status(POE_TIMEOUT));
	/* systemd stopping the watcher sends SIGTERM to its children too: undo, then go */
	ops_run_signals_catch();
	ops_ctx_init(&h.ctx, cfg);
	h.ctx.deadline = h.deadline;
	h.ctx.cleanup_deadline = h.end;
	h.ctx.phase = "schedule";
	log_context_set(vmid, label, "schedule"); /* journal fields VMID=, LABEL=, PHASE= */
	snprintf(lockname, sizeof(lockname), "vm-%d", vmid);
	h.what = "cannot lock the VM";
	rc = cluster_lock_acquire(&lock, cfg->paths.lock, lockname, h.deadline);
	if (rc == 0) {
		watchdog_guard_lock(&lock);
		rc = scheduled_locked(&h, r);
	}
	if (rc < 0) {
		report_failure(&h, rc, idx, 0, 1, false);
		status = err_exit_status(rc);
	}
	ops_ctx_release(&h.ctx);
out:
	run_end(&h, &lock, pol, cfg);
	return status;
}
