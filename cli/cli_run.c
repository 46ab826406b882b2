/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The frame every command runs an operation in: context, dry-run record, cluster lock. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

void cli_run_begin(struct cli_run *r, struct cli_ctx *cc)
{
	ops_ctx_init(&r->ctx, cc->cfg);
	buf_init(&r->dry, 1 << 20);
	memset(&r->lock, 0, sizeof(r->lock));
	r->signals = false;
	if (cc->dry_run)
		r->ctx.dry_run = &r->dry;
}

/*
 * A command that changes ONTAP or PVE catches SIGINT/SIGTERM/SIGHUP from before it takes
 * the lock until it has released it: the operation undoes or finishes what it started
 * (ops_run_signals_catch()), and the lock is never left behind by a signal.
 */
int cli_run_begin_vm(struct cli_run *r, struct cli_ctx *cc, int vmid)
{
	cli_run_begin(r, cc);
	r->signals = true;
	ops_run_signals_catch();
	return ops_lock_vm(&r->ctx, vmid, &r->lock);
}

int cli_run_begin_storage(struct cli_run *r, struct cli_ctx *cc, const char *id)
{
	cli_run_begin(r, cc);
	r->signals = true;
	ops_run_signals_catch();
	return ops_lock_storage(&r->ctx, id, &r->lock);
}

void cli_run_end(struct cli_run *r, struct cli_ctx *cc)
{
	cluster_lock_release(&r->lock);
	if (r->signals) {
		ops_run_signals_release();
		cc->interrupted = ops_interrupt_signal();
	}
	ops_ctx_release(&r->ctx);
	if (cc->dry_run)
		fputs(buf_cstr(&r->dry), stdout);
	buf_release(&r->dry);
}

void cli_json_begin(struct cli_json *j)
{
	buf_init(&j->out, 64 << 20);
	jw_init(&j->w, &j->out, 1);
}

int cli_json_end(struct cli_json *j)
{
	int rc = jw_finish(&j->w);

	if (rc == 0)
		printf("%s\n", buf_cstr(&j->out));
	buf_release(&j->out);
	return rc;
}
