/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_HOOK_H
#define PVE_ONTAP_HOOK_H

#include <stdint.h>

/*
 * Hookscript mode: PVE runs "pve-ontap <vmid> <phase>" (reference/pve.md §1) with the VM's
 * config lock held, so the hook takes the snapshots its policy names for the phase,
 * applies retention, and leaves every change of the VM config to the watcher (job queue).
 *
 * Returns the process exit status itself (not a POE_* code): 0, unless the phase is
 * pre-start, the policy says on_error: block and the run failed; then the DESIGN.md status
 * of the failure (4 API error, 5 timeout, ...), which makes PVE abort the start.
 *
 * With no policy for the VM, or no rule for the phase, it returns 0 after loading the
 * configuration and two stat() calls: no network client is created, no request sent.
 * An unknown phase, a missing or broken configuration and a broken policy are reported
 * in one line each and return 0 (a policy that cannot be read cannot ask to block).
 * The policy's timeout bounds the whole run: the work gets it less a cleanup share (a
 * quarter, 1 s at least, half at most; util_deadline_set_global()), undoing a failed
 * snapshot the rest (ops_ctx.cleanup_deadline). SIGINT/SIGTERM/SIGHUP make the run undo
 * what it made and release the lock before it ends. A watchdog
 * thread ends the process a few seconds after it should anything ignore the deadline.
 *
 * config_path: --config, or NULL for the DESIGN.md search order ($PVE_ONTAP_CONFIG, as PVE
 * passes no options). phase is borrowed.
 */
int hook_run(const char *config_path, int vmid, const char *phase);

/*
 * One scheduled run of the rule with label (the watcher starts it as a child process,
 * "pve-ontap sched-run"): under the VM's cluster lock, skip the slot when this node's run
 * state or ONTAP (a snapshot of the label at or after slot) says it is done, skip a VM that
 * is not running; else the rule as in a hook run (quiesce, min_interval, retention,
 * timeout), recorded in the run state with the slot. A failure is one warning line.
 * Returns the exit status: 0 for done or skipped, else the DESIGN.md status of the failure.
 */
int hook_run_scheduled(const char *config_path, int vmid, const char *label, int64_t slot);

/*
 * Seconds the watchdog waits past the policy timeout before it ends the process. PVE
 * holds the VM's lock meanwhile, so this is short; a guest thaw or resume still in
 * progress extends it (ops_guest_quiesced(), HOOK_WATCHDOG_QUIESCE_S), because a guest
 * left frozen is worse than a start or stop held up a little longer. A thaw that ends
 * after the grace starts it again, for the clean-up after it (clones, lock).
 */
#define HOOK_WATCHDOG_GRACE_S 5
/* Further seconds it waits while a guest is still frozen or suspended (being thawed). */
#define HOOK_WATCHDOG_QUIESCE_S 90

#endif
