/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The frame every command runs an operation in: context, dry-run record, cluster lock. */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"

/*
 * With --dry-run --json, stdout holds one document, the dry-run record (DESIGN.md "Command
 * line"): the result document a verb would print after it (cli_json_end) is dropped.
 */
static bool stdout_is_dry_run;

void cli_run_begin(struct cli_run *r, struct cli_ctx *cc)
{
	ops_ctx_init(&r->ctx, cc->cfg);
	buf_init(&r->dry, 1 << 20);
	memset(&r->lock, 0, sizeof(r->lock));
	r->signals = false;
	if (cc->dry_run)
		r->ctx.dry_run = &r->dry;
	if (cc->dry_run && cc->json)
		stdout_is_dry_run = true;
}

/*
 * A command that changes ONTAP or PVE catches SIGINT/SIGTERM/SIGHUP from before it takes
 * the lock until it has released it: the operation undoes or finishes what it started
 * (ops_run_signals_catch()), and the lock is never left behind by a signal.
 */
int cli_run_begin_vm(struct cli_run *r, struct cli_ctx *cc, int vmid)
{
	log_context_set(vmid, NULL, NULL);
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
		cli_dry_run_print(cc, buf_cstr(&r->dry));
	buf_release(&r->dry);
}

/* Percent-decoded s[0..n) as a JSON string (a PVE form field). */
static int put_form_string(struct buf *out, const char *s, size_t n)
{
	struct buf tmp;
	int rc = 0;

	buf_init(&tmp, n + 1);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (s[i] == '%' && i + 2 < n + 1 && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = { s[i + 1], s[i + 2], 0 };

			rc = buf_putc(&tmp, (char)strtol(hex, NULL, 16));
			i += 2;
		} else {
			rc = buf_putc(&tmp, s[i] == '+' ? ' ' : s[i]);
		}
	}
	if (rc == 0)
		rc = json_quote(out, buf_cstr(&tmp));
	buf_release(&tmp);
	return rc;
}

/* A request body: ONTAP's JSON as it is, PVE's form (k=v&k=v) as an object, none as null. */
static int put_body(struct buf *out, const char *body, size_t n)
{
	struct json_doc d = { 0 };
	int rc;

	if (n == 0)
		return buf_puts(out, "null");
	if ((body[0] == '{' || body[0] == '[') &&
	    json_parse(&d, body, n, JSON_MAX_TOKENS_DEFAULT) == 0) {
		json_free(&d);
		return buf_append(out, body, n);
	}
	rc = buf_putc(out, '{');
	for (size_t i = 0; i < n && rc == 0;) {
		size_t end = i, eq;

		while (end < n && body[end] != '&')
			end++;
		for (eq = i; eq < end && body[eq] != '='; eq++)
			;
		if (i > 0)
			rc = buf_putc(out, ',');
		if (rc == 0)
			rc = put_form_string(out, body + i, eq - i);
		if (rc == 0)
			rc = buf_putc(out, ':');
		if (rc == 0)
			rc = put_form_string(out, body + eq + (eq < end), end - eq - (eq < end));
		i = end + 1;
	}
	return rc < 0 ? rc : buf_putc(out, '}');
}

/* One "METHOD PATH[ BODY]" line of the ONTAP or PVE client's record as a request object. */
static int put_request(struct buf *out, const char *line, size_t n)
{
	const char *path = memchr(line, ' ', n), *body;
	size_t plen;
	int rc;

	path++;
	body = memchr(path, ' ', n - (size_t)(path - line));
	plen = body ? (size_t)(body - path) : n - (size_t)(path - line);
	rc = buf_printf(out, "{\"service\":\"%s\",\"method\":\"%.*s\",\"path\":",
			strncmp(path, "/api2/", 6) ? "ontap" : "pve", (int)(path - line - 1), line);
	if (rc == 0) {
		char *p = strndup(path, plen);

		rc = json_quote(out, p);
		free(p);
	}
	if (rc == 0)
		rc = buf_puts(out, ",\"body\":");
	if (rc == 0)
		rc = body ? put_body(out, body + 1, n - (size_t)(body + 1 - line)) :
			    buf_puts(out, "null");
	return rc < 0 ? rc : buf_putc(out, '}');
}

static bool is_request_line(const char *line, size_t n)
{
	size_t i = 0;

	while (i < n && isupper((unsigned char)line[i]))
		i++;
	return i > 0 && i < n && line[i] == ' ' && line[i + 1] == '/' &&
	       (!strncmp(line, "GET ", 4) || !strncmp(line, "POST ", 5) ||
		!strncmp(line, "PUT ", 4) || !strncmp(line, "PATCH ", 6) ||
		!strncmp(line, "DELETE ", 7));
}

/* Append line to the requests, jobs or commands array of the document. */
static int put_line(struct buf *arr[3], const char *line, size_t n)
{
	const char *json;
	int rc;

	if (is_request_line(line, n)) {
		if (arr[0]->len && buf_putc(arr[0], ',') < 0)
			return POE_FAIL;
		return put_request(arr[0], line, n);
	}
	json = n > 6 && !strncmp(line, "QUEUE ", 6) ? memchr(line, '{', n) : NULL;
	if (json) {
		if (arr[1]->len && buf_putc(arr[1], ',') < 0)
			return POE_FAIL;
		return buf_append(arr[1], json, n - (size_t)(json - line));
	}
	/* EXEC argv, UMOUNT path, COPY src dst: what would run on this node */
	if (arr[2]->len && buf_putc(arr[2], ',') < 0)
		return POE_FAIL;
	json = strndup(line, n);
	rc = json_quote(arr[2], json);
	free((char *)json);
	return rc;
}

int cli_dry_run_document(const char *log, struct buf *out)
{
	struct buf req, jobs, cmds;
	struct buf *arr[3] = { &req, &jobs, &cmds };
	int rc = 0;

	buf_init(&req, 64 << 20);
	buf_init(&jobs, 64 << 20);
	buf_init(&cmds, 64 << 20);
	for (const char *p = log; *p && rc == 0;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n)
			rc = put_line(arr, p, n);
		p += n + (nl != NULL);
	}
	if (rc == 0)
		rc = buf_printf(out, "{\"dry_run\":true,\"requests\":[%s],\"jobs\":[%s],"
			       "\"commands\":[%s]}\n", buf_cstr(&req), buf_cstr(&jobs),
			       buf_cstr(&cmds));
	buf_release(&req);
	buf_release(&jobs);
	buf_release(&cmds);
	return rc < 0 ? err_set(POE_FAIL, "the dry-run record does not fit in 64 MiB") : 0;
}

void cli_dry_run_print(struct cli_ctx *cc, const char *log)
{
	struct buf doc;

	if (!cc->json) {
		fputs(log, stdout);
		return;
	}
	buf_init(&doc, 256 << 20);
	if (cli_dry_run_document(log, &doc) == 0)
		fputs(buf_cstr(&doc), stdout);
	else
		fprintf(stderr, CLI_PROG ": error: %s\n", err_msg());
	buf_release(&doc);
	stdout_is_dry_run = true;
}

void cli_json_begin(struct cli_json *j)
{
	buf_init(&j->out, 64 << 20);
	jw_init(&j->w, &j->out, 1);
}

int cli_json_end(struct cli_json *j)
{
	int rc = jw_finish(&j->w);

	if (rc == 0 && !stdout_is_dry_run)
		printf("%s\n", buf_cstr(&j->out));
	buf_release(&j->out);
	return rc;
}
