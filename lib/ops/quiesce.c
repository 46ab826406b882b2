/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Quiescing a guest around a snapshot: guest-agent fsfreeze, suspend to disk, or shutdown,
 * always undone (also after a failed begin, and on SIGINT/SIGTERM through ops_interrupted).
 */
#include "ops/ops.h"

#include <stdatomic.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "ops/ops_internal.h"
#include "pve/pve.h"

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
	pc = ops_pve(ctx);
	if (!pc)
		return err_code() ? err_code() : POE_API;
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

/*
 * Undo ops_quiesce_begin(), whatever happened in between (also after a failed begin: a freeze
 * that timed out at the proxy may still have frozen the guest). The thaw gets its own
 * deadline: a hook whose deadline passed must still thaw the guest.
 */
int ops_quiesce_end(struct ops_ctx *ctx, const struct pve_vmconf *vm, struct quiesce_state *qs)
{
	int64_t saved = util_deadline_global();
	int64_t deadline = util_now_ms() + 60000;
	struct pve_client *pc = ctx->pve;
	char status[32] = "";
	int rc = 0;

	if (!qs->active || !pc)
		goto out;
	util_deadline_set_global(0);
	switch (qs->mode) {
	case QUIESCE_FREEZE:
		for (int attempt = 0; attempt < 3; attempt++) {
			rc = pve_agent_thaw(pc, qs->node, vm->vmid, deadline);
			if (pve_agent_status(pc, qs->node, vm->vmid, status, sizeof(status),
					     deadline) == 0 &&
			    strcmp(status, "frozen") != 0) {
				rc = 0;
				break;
			}
			if (rc == 0)
				rc = err_set(POE_API, "VM %d still reports '%s' after thaw", vm->vmid,
					     status);
		}
		if (rc < 0)
			log_error("VM %d may still be frozen: run 'qm guest cmd %d fsfreeze-thaw': %s",
				  vm->vmid, vm->vmid, err_msg());
		else
			log_info("thawed the file systems of VM %d", vm->vmid);
		break;
	case QUIESCE_SUSPEND:
		rc = pve_vm_resume(pc, qs->node, vm->vmid, deadline);
		if (rc < 0)
			log_error("cannot resume VM %d: %s", vm->vmid, err_msg());
		else
			log_info("resumed VM %d", vm->vmid);
		break;
	case QUIESCE_SHUTDOWN:
		rc = pve_vm_start(pc, qs->node, vm->vmid, deadline);
		if (rc < 0)
			log_error("cannot start VM %d again: %s", vm->vmid, err_msg());
		else
			log_info("started VM %d again", vm->vmid);
		break;
	case QUIESCE_NONE:
		break;
	}
	util_deadline_set_global(saved);
	qs->active = false;
	atomic_store(&guest_quiesced, 0);
out:
	if (qs->mode != QUIESCE_NONE)
		ops_signals_restore();
	return rc;
}
