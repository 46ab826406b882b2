/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Per VM and label run state of this node (runstate.h). */
#include "sched/runstate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/util.h"

#define RUN_STATE_FILE_MAX 4096

static char *state_path(const char *state_dir, int vmid, const char *label)
{
	return util_xasprintf("%s/runs/%d-%s.state", state_dir, vmid, label);
}

static int parse_u64(const char *v, uint64_t *out)
{
	int64_t x;

	if (util_parse_int(v, 0, INT64_MAX, &x) < 0)
		return -1;
	*out = (uint64_t)x;
	return 0;
}

static int parse_i64(const char *v, int64_t *out)
{
	return util_parse_int(v, 0, INT64_MAX, out) < 0 ? -1 : 0;
}

/* One "key=value" line into st; unknown keys are ignored (a newer version wrote them). */
static int parse_line(char *line, struct run_state *st)
{
	char *eq = strchr(line, '=');
	const char *k = line, *v;

	if (!eq)
		return -1;
	*eq = '\0';
	v = eq + 1;
	if (!strcmp(k, "last_run"))
		return parse_i64(v, &st->last_run);
	if (!strcmp(k, "last_success"))
		return parse_i64(v, &st->last_success);
	if (!strcmp(k, "slot"))
		return parse_i64(v, &st->slot);
	if (!strcmp(k, "runs_ok"))
		return parse_u64(v, &st->runs_ok);
	if (!strcmp(k, "runs_failed"))
		return parse_u64(v, &st->runs_failed);
	if (!strcmp(k, "result")) {
		if (strcmp(v, "ok") && strcmp(v, "failed"))
			return -1;
		st->failed = !strcmp(v, "failed");
		return 0;
	}
	if (!strcmp(k, "cause"))
		return util_strlcpy(st->cause, v, sizeof(st->cause)) < sizeof(st->cause) ? 0 : -1;
	return 0;
}

int run_state_load(const char *state_dir, int vmid, const char *label, struct run_state *out)
{
	char *path = state_path(state_dir, vmid, label);
	struct buf b = BUF_INIT(RUN_STATE_FILE_MAX);
	char *text = NULL, *save = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = buf_read_file(&b, path);
	if (rc == POE_NOTFOUND) {
		err_clear();
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	text = buf_detach(&b);
	if (!text)
		goto out; /* empty: as if never run */
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (parse_line(line, out) < 0) {
			memset(out, 0, sizeof(*out));
			rc = err_set(POE_FAIL, "malformed run state '%s'", path);
			goto out;
		}
	}
out:
	free(text);
	buf_release(&b);
	free(path);
	return rc;
}

int run_state_save(const char *state_dir, int vmid, const char *label, const struct run_state *st)
{
	char *dir = util_xasprintf("%s/runs", state_dir);
	char *path = state_path(state_dir, vmid, label);
	struct buf b = BUF_INIT(RUN_STATE_FILE_MAX);
	int rc;

	rc = util_mkdir_p(dir, 0700);
	if (rc == 0)
		rc = buf_printf(&b,
				"last_run=%" PRId64 "\nresult=%s\ncause=%s\nlast_success=%" PRId64
				"\nslot=%" PRId64 "\nruns_ok=%" PRIu64 "\nruns_failed=%" PRIu64
				"\n",
				st->last_run, st->failed ? "failed" : "ok", st->cause,
				st->last_success, st->slot, st->runs_ok, st->runs_failed);
	if (rc == 0)
		rc = util_write_file_atomic(path, buf_cstr(&b), b.len, 0600);
	if (rc < 0)
		rc = err_prefix(POE_FAIL, "cannot write the run state of VM %d label '%s'", vmid,
				label);
	buf_release(&b);
	free(path);
	free(dir);
	return rc;
}

/* cause as one line that fits, marked when it had to be cut */
static void set_cause(struct run_state *st, const char *cause)
{
	size_t n = util_strlcpy(st->cause, cause ? cause : "", sizeof(st->cause));

	if (n >= sizeof(st->cause))
		memcpy(st->cause + sizeof(st->cause) - 4, "...", 4);
	for (char *p = st->cause; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

int run_state_record(const char *state_dir, int vmid, const char *label, int64_t now, bool ok,
		     const char *cause, int64_t slot)
{
	struct run_state st;
	int rc = run_state_load(state_dir, vmid, label, &st);

	if (rc < 0)
		memset(&st, 0, sizeof(st)); /* a broken file is replaced by a good one */
	st.last_run = now;
	st.failed = !ok;
	set_cause(&st, ok ? "" : cause);
	if (ok) {
		st.last_success = now;
		st.runs_ok++;
	} else {
		st.runs_failed++;
	}
	if (slot > 0)
		st.slot = slot;
	return run_state_save(state_dir, vmid, label, &st);
}
