/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Quiescing a guest around a snapshot: guest-agent fsfreeze, suspend to disk, or shutdown,
 * always undone (also after a failed begin, and on SIGINT/SIGTERM through ops_interrupted).
 */
#include "ops/ops.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "host/lock.h"
#include "ops/ops_internal.h"
#include "pve/pve.h"

/* How long undoing a quiesce may take, past any deadline of the run: a thaw, and a start
 * or resume, which includes PVE running the VM's pre-start hookscript. */
#define OPS_THAW_MS 60000
#define OPS_RESTART_MS 120000
#define OPS_RESTART_TRIES 4     /* each failure waited on for 0.5, 1, 2, 4 s */

static atomic_int guest_quiesced;

bool ops_guest_quiesced(void)
{
	return atomic_load(&guest_quiesced) != 0;
}

/* What each mode does to a running guest, indexed by enum quiesce. */
static const struct {
	int (*begin)(struct pve_client *pc, const char *node, int vmid, int64_t deadline);
	const char *verb; /* "cannot <verb> VM 100" */
	const char *done; /* "<done> VM 100" */
} quiesce_steps[] = {
	[QUIESCE_NONE] = { NULL, NULL, NULL },
	[QUIESCE_FREEZE] = { pve_agent_freeze, "freeze the file systems of",
			     "froze the file systems of" },
	[QUIESCE_SUSPEND] = { pve_vm_suspend_todisk, "suspend", "suspended to disk" },
	[QUIESCE_SHUTDOWN] = { pve_vm_shutdown, "shut down", "shut down" },
};

int ops_quiesce_begin(struct ops_ctx *ctx, const struct pve_vmconf *vm, enum quiesce mode,
		      struct quiesce_state *qs)
{
	struct pve_vm_status st;
	struct pve_client *pc;
	int rc;

	memset(qs, 0, sizeof(*qs));
	qs->mode = mode;
	if (mode == QUIESCE_NONE)
		return 0;
	rc = ops_pve(ctx, &pc);
	if (rc < 0)
		return rc;
	rc = ops_vm_node(ctx, vm, qs->node, sizeof(qs->node));
	if (rc < 0)
		return err_prefix(rc, "cannot find the node of VM %d", vm->vmid);
	rc = pve_vm_status(pc, qs->node, vm->vmid, &st, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot read the status of VM %d", vm->vmid);
	if (strcmp(st.status, "running") != 0) {
		log_info("VM %d is %s: its disks are consistent without quiescing", vm->vmid,
			 st.status);
		return 0;
	}
	ops_signals_catch();
	if (mode == QUIESCE_FREEZE && !st.agent && !vm->agent) {
		log_warn("VM %d has no guest agent: the snapshot is crash-consistent only",
			 vm->vmid);
		return 0;
	}
	/* right after QEMU started the guest is still booting: freeze only an agent that
	 * answers its ping, never thaw one that was never frozen (DESIGN.md Policies) */
	if (mode == QUIESCE_FREEZE && ctx->phase && !strcmp(ctx->phase, "post-start") &&
	    pve_agent_ping(pc, qs->node, vm->vmid, ctx->deadline) < 0) {
		log_info("VM %d: the guest agent is not up yet, the snapshot is crash-consistent: %s",
			 vm->vmid, err_msg());
		err_clear();
		return 0;
	}
	/* from the first request on the guest may be quiesced, even if it fails (a freeze
	 * that timed out at the proxy can still freeze): quiesce_end() always undoes it */
	qs->active = true;
	atomic_store(&guest_quiesced, 1);
	rc = quiesce_steps[mode].begin(pc, qs->node, vm->vmid, ctx->deadline);
	if (rc < 0)
		return err_prefix(rc, "cannot %s VM %d", quiesce_steps[mode].verb, vm->vmid);
	log_info("%s VM %d", quiesce_steps[mode].done, vm->vmid);
	return 0;
}

/* Thaw until the agent reports the file systems thawed (3 tries), within deadline. */
static int thaw_vm(struct pve_client *pc, const struct pve_vmconf *vm, const char *node,
		   int64_t deadline)
{
	char status[32] = "";
	int rc = 0;

	for (int attempt = 0; attempt < 3; attempt++) {
		rc = pve_agent_thaw(pc, node, vm->vmid, deadline);
		if (pve_agent_status(pc, node, vm->vmid, status, sizeof(status), deadline) == 0 &&
		    strcmp(status, "frozen") != 0)
			return 0;
		if (rc == 0)
			rc = err_set(POE_API, "VM %d still reports '%s' after thaw", vm->vmid, status);
	}
	log_error("VM %d may still be frozen: run 'qm guest cmd %d fsfreeze-thaw': %s", vm->vmid,
		  vm->vmid, err_msg());
	return rc;
}

/*
 * Resume (hibernated) or start (shut down) the VM again until PVE reports it running:
 * a failed call is retried, and one whose answer was lost may have worked, so the VM's
 * status decides. On failure the message says the VM needs attention.
 */
static int restart_vm(struct pve_client *pc, const struct pve_vmconf *vm, const char *node,
		      bool hibernated, int64_t deadline)
{
	struct pve_vm_status st;
	char why[512] = "";
	int64_t pause = 500;
	int rc;

	for (int attempt = 1;; attempt++) {
		rc = hibernated ? pve_vm_resume(pc, node, vm->vmid, deadline)
				: pve_vm_start(pc, node, vm->vmid, deadline);
		if (rc < 0) {
			util_strlcpy(why, err_msg(), sizeof(why));
			/* a task whose status was lost may still be running: give it time */
			util_sleep_ms(pause, deadline);
			pause = pause * 2 > 8000 ? 8000 : pause * 2;
		}
		if (pve_vm_status(pc, node, vm->vmid, &st, deadline) == 0) {
			if (!strcmp(st.status, "running"))
				return 0;
			hibernated = !strcmp(st.lock, "suspended");
			if (rc == 0) {
				snprintf(why, sizeof(why), "PVE reports it %s%s%s", st.status,
					 st.lock[0] ? ", lock " : "", st.lock);
				util_sleep_ms(pause, deadline);
			}
		} else if (rc == 0) {
			util_strlcpy(why, err_msg(), sizeof(why));
		}
		if (attempt == OPS_RESTART_TRIES)
			break;
		log_warn("VM %d is not running again yet, retrying: %s", vm->vmid, why);
		if (util_deadline_passed(deadline))
			break;
	}
	return err_set(POE_FAIL, "VM %d needs attention: it is not running again (start it "
		       "with 'qm start %d'): %s", vm->vmid, vm->vmid, why);
}

/*
 * Undo ops_quiesce_begin(), whatever happened in between (also after a failed begin: a freeze
 * that timed out at the proxy may still have frozen the guest). The undo gets its own
 * deadline, not bounded by the global one (util_deadline_own()): a hook whose deadline
 * passed must still thaw the guest. Before a start or
 * resume, the VM's cluster lock is released: PVE runs the VM's pre-start hookscript in
 * that start (qemu-server vm_start), and that run takes the same lock (DESIGN.md Cluster).
 */
int ops_quiesce_end(struct ops_ctx *ctx, const struct pve_vmconf *vm, struct quiesce_state *qs)
{
	int64_t deadline = util_deadline_own(qs->mode == QUIESCE_FREEZE ? OPS_THAW_MS
								    : OPS_RESTART_MS);
	struct pve_client *pc = ctx->pve;
	int rc = 0;

	if (!qs->active || !pc)
		goto out;
	if (qs->mode == QUIESCE_FREEZE) {
		rc = thaw_vm(pc, vm, qs->node, deadline);
		if (rc == 0)
			log_info("thawed the file systems of VM %d", vm->vmid);
	} else if (qs->mode == QUIESCE_SUSPEND || qs->mode == QUIESCE_SHUTDOWN) {
		if (ctx->vm_lock) {
			cluster_lock_release(ctx->vm_lock);
			ctx->vm_lock = NULL;
		}
		rc = restart_vm(pc, vm, qs->node, qs->mode == QUIESCE_SUSPEND, deadline);
		if (rc == 0)
			log_info("%s VM %d again", qs->mode == QUIESCE_SUSPEND ? "resumed" : "started",
				 vm->vmid);
		else
			log_error("%s", err_msg());
	}
	qs->active = false;
	atomic_store(&guest_quiesced, 0);
out:
	if (qs->mode != QUIESCE_NONE)
		ops_signals_restore();
	return rc;
}

bool ops_quiesce_restarts(const struct quiesce_state *qs)
{
	return qs->active && (qs->mode == QUIESCE_SUSPEND || qs->mode == QUIESCE_SHUTDOWN);
}
