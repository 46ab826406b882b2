/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Proxmox VE API client (reference/pve.md §2-4) on lib/http.h: API token or ticket
 * authentication, PVE's error shapes, UPID tasks waited for and their exitstatus checked.
 */
#include "pve/pve.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "net/http.h"
#include "format/json.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/util.h"

#ifndef PVE_ONTAP_VERSION
#define PVE_ONTAP_VERSION "0.0.0"
#endif

#define PVE_API_PREFIX "/api2/json"
/* Tickets live 2 h (pve.md §2.3); get a new one well before. */
#define PVE_TICKET_RENEW_MS (90LL * 60 * 1000)
#define PVE_TASK_POLL_MS 500
#define PVE_FORM_MAX (64 * 1024)
#define PVE_MSG_MAX 1024

/* Request flags. */
enum {
	PVE_RQ_READONLY = 1, /* a POST that changes nothing (fsfreeze-status): sent in dry run */
};

struct pve_client {
	struct http_client *http;
	const struct config_pve *cfg;
	char *where;       /* "host:port" for messages */
	char *auth_header; /* token mode: "Authorization: PVEAPIToken=..." (secret) */
	char *token_id;    /* "user@realm!tokenid", for messages */
	char *cookie;      /* ticket mode: "PVEAuthCookie=<ticket>" (secret) */
	char *csrf_header; /* ticket mode: "CSRFPreventionToken: <token>" */
	int64_t ticket_ms; /* when the ticket was issued (monotonic) */
	struct buf *dry;   /* dry run: mutations are appended here, not sent */
};

/* Overwrite a string holding a secret before freeing it. */
static void free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

struct pve_client *pve_client_new(const struct config_pve *cfg)
{
	struct pve_client *pc = NULL;
	struct http_opts opts = { 0 };
	const char *host = cfg->host && cfg->host[0] ? cfg->host : "127.0.0.1";
	int port = cfg->port > 0 ? cfg->port : 8006;
	bool v6 = strchr(host, ':') && host[0] != '[';
	char *base = NULL;

	if (!cfg->token && !(cfg->user && cfg->password)) {
		err_set(POE_CONFIG, "no PVE credentials: set pve.token, or pve.user with "
				    "pve.password or pve.password_file");
		return NULL;
	}
	if (cfg->token) {
		const char *bang = strchr(cfg->token, '!');
		const char *eq = strrchr(cfg->token, '=');

		if (!bang || !eq || eq < bang || !strchr(cfg->token, '@') || eq[1] == '\0') {
			err_set(POE_CONFIG, "invalid pve.token: expected "
					    "USER@REALM!TOKENID=SECRET");
			return NULL;
		}
	}

	pc = util_xcalloc(1, sizeof(*pc));
	pc->cfg = cfg;
	pc->where = util_xasprintf(v6 ? "[%s]:%d" : "%s:%d", host, port);
	base = util_xasprintf("https://%s", pc->where);
	if (cfg->token) {
		const char *eq = strrchr(cfg->token, '=');

		/* The secret travels only in this header (pve.md §2.2); it is never logged. */
		pc->auth_header = util_xasprintf("Authorization: PVEAPIToken=%s", cfg->token);
		pc->token_id = util_xasprintf("%.*s", (int)(eq - cfg->token), cfg->token);
		secret_add(eq + 1);
	}

	opts.base_url = base;
	opts.verify = cfg->verify;
	opts.ca_file = cfg->ca_file;
	opts.fingerprint = cfg->fingerprint;
	opts.auth_header = pc->auth_header;
	opts.user_agent = "User-Agent: pve-ontap/" PVE_ONTAP_VERSION;
	pc->http = http_client_new(&opts);
	free(base);
	if (!pc->http) {
		err_prefix(POE_API, "cannot set up the PVE API client for '%s'", pc->where);
		pve_client_free(pc);
		return NULL;
	}
	return pc;
}

void pve_client_free(struct pve_client *pc)
{
	if (!pc)
		return;
	http_client_free(pc->http);
	free(pc->where);
	free_secret(pc->auth_header);
	free(pc->token_id);
	free_secret(pc->cookie);
	free_secret(pc->csrf_header);
	free(pc);
}

void pve_client_set_dry_run(struct pve_client *pc, struct buf *log)
{
	pc->dry = log;
}

/* Append key=<value percent-encoded> to a form body. */
static int form_add(struct buf *b, const char *key, const char *val)
{
	if (b->len && buf_putc(b, '&') < 0)
		return POE_FAIL;
	if (buf_puts(b, key) < 0 || buf_putc(b, '=') < 0)
		return POE_FAIL;
	return http_urlencode(b, val);
}

/* Append "/<segment percent-encoded>" to a path. */
static int path_add(struct buf *b, const char *segment)
{
	if (buf_putc(b, '/') < 0)
		return POE_FAIL;
	return http_urlencode(b, segment);
}

/* Trim trailing whitespace (PVE ends messages with "\n") in place. */
static void rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/*
 * Error text of a non-2xx answer (pve.md §2.4): the JSON "message" (libpve-http-server >=
 * 5.2.0), else the reason phrase (older servers put the message's first line there), plus
 * the "errors" map of a 400; code POE_NOTFOUND for a missing VM or storage, POE_API else.
 */
static int api_error(struct pve_client *pc, const char *method, const char *path,
		     const struct http_response *rs)
{
	struct json_doc d = { 0 };
	struct buf msg = BUF_INIT(PVE_MSG_MAX * 4);
	char text[PVE_MSG_MAX] = "";
	int code = POE_API;
	int rc;

	if (rs->body.len && json_parse(&d, rs->body.data, rs->body.len, 4096) == 0 &&
	    json_type(&d, 0) == JSON_OBJECT) {
		if (json_get_str(&d, 0, "message", text, sizeof(text)) < 0)
			text[0] = '\0';
		rtrim(text);
		if (text[0])
			buf_note(&msg, "%s", text);
		json_for_each(&d, json_member(&d, 0, "errors"), v) {
			char key[128], val[PVE_MSG_MAX];

			if (json_str(&d, json_key_of(&d, v), key, sizeof(key)) < 0 ||
			    json_str(&d, v, val, sizeof(val)) < 0)
				continue;
			rtrim(val);
			buf_note(&msg, "%s%s: %s", msg.len ? "; " : "", key, val);
		}
	}
	err_clear();
	if (!msg.len) {
		util_strlcpy(text, rs->reason, sizeof(text));
		rtrim(text);
		if (text[0])
			buf_note(&msg, "%s", text);
		else
			buf_note(&msg, "no error message");
	}
	if (rs->status == 404 || strstr(buf_cstr(&msg), "does not exist"))
		code = POE_NOTFOUND;

	if (rs->status == 401 && pc->token_id)
		rc = err_set(POE_API, "API token '%s' was refused (HTTP 401: %s)", pc->token_id,
			     buf_cstr(&msg));
	else
		rc = err_set(code, "%s %s: HTTP %ld: %s", method, path, rs->status,
			     buf_cstr(&msg));
	json_free(&d);
	buf_release(&msg);
	return rc;
}

/* POST /access/ticket (pve.md §2.3): a ticket and a CSRF token for writes. */
static int pve_login(struct pve_client *pc, int64_t deadline)
{
	struct buf form = BUF_INIT(PVE_FORM_MAX);
	struct http_request rq = { 0 };
	struct http_response rs;
	struct json_doc d = { 0 };
	char *ticket = NULL;
	char *csrf = NULL;
	int rc;

	http_response_init(&rs);
	if (form_add(&form, "username", pc->cfg->user) < 0 ||
	    form_add(&form, "password", pc->cfg->password) < 0) {
		rc = POE_FAIL;
		goto out;
	}
	rq.method = "POST";
	rq.path = PVE_API_PREFIX "/access/ticket";
	rq.body = form.data;
	rq.body_len = form.len;
	rq.content_type = "application/x-www-form-urlencoded";
	rq.deadline_ms = deadline;
	rc = http_perform(pc->http, &rq, &rs);
	if (rc < 0)
		goto out;
	if (rs.status < 200 || rs.status > 299) {
		rc = api_error(pc, "POST", "/access/ticket", &rs);
		goto out;
	}
	if (json_parse(&d, rs.body.data ? rs.body.data : "", rs.body.len, 256) < 0) {
		rc = err_prefix(POE_API, "invalid answer to POST /access/ticket");
		goto out;
	}
	ticket = json_get_strdup(&d, 0, "data.ticket");
	csrf = json_get_strdup(&d, 0, "data.CSRFPreventionToken");
	if (!ticket || !csrf || !ticket[0] || !csrf[0] || strpbrk(ticket, "\r\n;") ||
	    strpbrk(csrf, "\r\n")) {
		rc = err_set(POE_API, "invalid answer to POST /access/ticket: no ticket");
		goto out;
	}
	secret_add(ticket);
	secret_add(csrf);
	free_secret(pc->cookie);
	free_secret(pc->csrf_header);
	pc->cookie = util_xasprintf("PVEAuthCookie=%s", ticket);
	pc->csrf_header = util_xasprintf("CSRFPreventionToken: %s", csrf);
	pc->ticket_ms = util_now_ms();
out:
	if (form.data)
		explicit_bzero(form.data, form.len);
	buf_release(&form);
	free_secret(ticket);
	free_secret(csrf);
	json_free(&d);
	http_response_release(&rs);
	if (rc < 0)
		rc = err_prefix(rc == POE_TIMEOUT ? POE_TIMEOUT : POE_API,
				"cannot log in to PVE at '%s' as '%s'", pc->where, pc->cfg->user);
	return rc;
}

/*
 * One API call. path is below /api2/json (query included for GETs), form the urlencoded
 * body of a POST/PUT (or NULL). On success *doc holds the parsed answer (caller frees
 * with json_free()) when doc is not NULL. Dry run: mutations are logged, not sent, and
 * answered with {"data":null}.
 */
static int pve_call(struct pve_client *pc, const char *method, const char *path, const char *form,
		    int flags, struct json_doc *doc, int64_t deadline)
{
	bool write = strcmp(method, "GET") != 0;
	struct http_request rq = { 0 };
	struct http_response rs;
	char *full = util_xasprintf("%s%s", PVE_API_PREFIX, path);
	int rc = 0;

	http_response_init(&rs);
	if (doc)
		memset(doc, 0, sizeof(*doc));

	if (write && pc->dry && !(flags & PVE_RQ_READONLY)) {
		rc = buf_printf(pc->dry, "%s %s%s%s\n", method, full, form && form[0] ? " " : "",
				form ? form : "");
		if (rc >= 0 && doc)
			rc = json_parse(doc, "{\"data\":null}", 13, 8);
		goto out;
	}

	for (int attempt = 0;; attempt++) {
		if (!pc->auth_header &&
		    (!pc->cookie || util_now_ms() - pc->ticket_ms > PVE_TICKET_RENEW_MS)) {
			rc = pve_login(pc, deadline);
			if (rc < 0)
				goto out;
		}
		memset(&rq, 0, sizeof(rq));
		rq.method = method;
		rq.path = full;
		if (write && (!strcmp(method, "POST") || !strcmp(method, "PUT"))) {
			/* Always a (possibly empty) form body, as PVE's own clients send. */
			rq.body = form ? form : "";
			rq.body_len = strlen(rq.body);
			rq.content_type = "application/x-www-form-urlencoded";
		}
		if (pc->cookie) {
			rq.cookie = pc->cookie;
			if (write)
				rq.extra_header = pc->csrf_header;
		}
		rq.deadline_ms = deadline;
		http_response_release(&rs);
		http_response_init(&rs);
		rc = http_perform(pc->http, &rq, &rs);
		if (rc < 0)
			goto out;
		/* An expired or revoked ticket: log in once more and repeat. */
		if (rs.status == 401 && pc->cookie && attempt == 0) {
			free_secret(pc->cookie);
			pc->cookie = NULL;
			continue;
		}
		break;
	}
	if (rs.status < 200 || rs.status > 299) {
		rc = api_error(pc, method, path, &rs);
		goto out;
	}
	if (doc) {
		rc = json_parse(doc, rs.body.data ? rs.body.data : "", rs.body.len,
				JSON_MAX_TOKENS_DEFAULT);
		if (rc < 0) {
			rc = err_prefix(POE_API, "%s %s: invalid answer", method, path);
			goto out;
		}
		if (json_type(doc, 0) != JSON_OBJECT) {
			json_free(doc);
			rc = err_set(POE_API, "%s %s: invalid answer: not a JSON object", method,
				     path);
			goto out;
		}
	}
out:
	http_response_release(&rs);
	free(full);
	return rc;
}

/* ---- tasks ---- */

/* Fields of "UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:" (pve.md §4). */
static void upid_field(const char *upid, int idx, char *out, size_t n)
{
	const char *p = upid;
	size_t len;

	out[0] = '\0';
	for (int i = 0; i < idx; i++) {
		p = strchr(p, ':');
		if (!p)
			return;
		p++;
	}
	len = strcspn(p, ":");
	if (len >= n)
		len = n - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}

int pve_task_wait(struct pve_client *pc, const char *node, const char *upid, int64_t deadline)
{
	struct buf path = BUF_INIT(4096);
	struct json_doc d = { 0 };
	char unode[64], type[64], id[64];
	char status[32], exitstatus[PVE_MSG_MAX];
	int64_t start = util_now_ms();
	bool progress = false;
	int rc;

	if (strncmp(upid, "UPID:", 5) != 0 || strpbrk(upid, "\r\n"))
		return err_set(POE_API, "invalid task id '%s'", upid);
	/* The task runs on the node named in its UPID (its second field). */
	upid_field(upid, 1, unode, sizeof(unode));
	upid_field(upid, 5, type, sizeof(type));
	upid_field(upid, 6, id, sizeof(id));
	if (unode[0] && util_is_safe_name(unode))
		node = unode;
	if (!node || !util_is_safe_name(node))
		return err_set(POE_API, "invalid node for task '%s'", upid);
	if (buf_puts(&path, "/nodes") < 0 || path_add(&path, node) < 0 ||
	    buf_puts(&path, "/tasks") < 0 || path_add(&path, upid) < 0 ||
	    buf_puts(&path, "/status") < 0) {
		rc = POE_FAIL;
		goto out;
	}

	for (;;) {
		json_free(&d);
		rc = pve_call(pc, "GET", path.data, NULL, 0, &d, deadline);
		if (rc < 0) {
			rc = err_prefix(rc, "cannot get the status of task %s for VM %s", type,
					id);
			goto out;
		}
		if (json_get_str(&d, 0, "data.status", status, sizeof(status)) < 0) {
			rc = err_set(POE_API, "task %s for VM %s: answer without a status", type,
				     id);
			goto out;
		}
		if (!strcmp(status, "stopped"))
			break;
		if (util_now_ms() - start >= 1000) { /* log.h: progress only for long waits */
			log_progress("waiting for PVE task", type);
			progress = true;
		}
		if (util_sleep_ms(PVE_TASK_POLL_MS, deadline) == POE_TIMEOUT) {
			rc = err_set(POE_TIMEOUT, "task %s for VM %s did not finish in time (%s)",
				     type, id, upid);
			goto out;
		}
	}
	if (json_get_str(&d, 0, "data.exitstatus", exitstatus, sizeof(exitstatus)) < 0)
		util_strlcpy(exitstatus, "no exit status", sizeof(exitstatus));
	rtrim(exitstatus);
	/* Only "OK" and "WARNINGS: n" are success (pve-common UPID.pm). */
	if (!strcmp(exitstatus, "OK")) {
		rc = 0;
	} else if (!strncmp(exitstatus, "WARNINGS: ", 10)) {
		log_warn("task %s for VM %s finished with %s", type, id, exitstatus);
		rc = 0;
	} else {
		rc = err_set(POE_API, "task %s for VM %s failed: %s", type, id, exitstatus);
	}
out:
	if (progress)
		log_progress_done();
	json_free(&d);
	buf_release(&path);
	return rc;
}

/* ---- calls ---- */

static int vm_path(struct buf *b, const char *node, int vmid, const char *rest)
{
	char id[16];

	if (!node || !util_is_safe_name(node))
		return err_set(POE_USAGE, "invalid node name '%s'", node ? node : "");
	if (vmid <= 0)
		return err_set(POE_USAGE, "invalid VM id %d", vmid);
	snprintf(id, sizeof(id), "%d", vmid);
	if (buf_puts(b, "/nodes") < 0 || path_add(b, node) < 0 || buf_puts(b, "/qemu") < 0 ||
	    path_add(b, id) < 0 || buf_puts(b, rest) < 0)
		return POE_FAIL;
	return 0;
}

int pve_version(struct pve_client *pc, char *out, size_t n, int64_t deadline)
{
	struct json_doc d = { 0 };
	int rc;

	rc = pve_call(pc, "GET", "/version", NULL, 0, &d, deadline);
	if (rc < 0)
		goto out;
	if (json_get_str(&d, 0, "data.version", out, n) < 0)
		rc = err_set(POE_API, "GET /version: answer without a version");
out:
	json_free(&d);
	if (rc < 0)
		rc = err_prefix(rc, "cannot get the PVE version from '%s'", pc->where);
	return rc;
}

/*
 * GET path; *data is the answer's "data" member, which must be of type (JSON_OBJECT,
 * JSON_ARRAY); what names it for the message ("a list"). Returns 0 or < 0.
 */
static int get_data(struct pve_client *pc, const char *path, enum json_type type,
		    const char *what, struct json_doc *d, int *data, int64_t deadline)
{
	int rc = pve_call(pc, "GET", path, NULL, 0, d, deadline);

	if (rc < 0)
		return rc;
	*data = json_member(d, 0, "data");
	if (json_type(d, *data) != type)
		return err_set(POE_API, "GET %s: answer without %s", path, what);
	return 0;
}

int pve_vm_node(struct pve_client *pc, int vmid, char *node, size_t n, int64_t deadline)
{
	struct json_doc d = { 0 };
	int data;
	int rc;

	rc = get_data(pc, "/cluster/resources?type=vm", JSON_ARRAY, "a list", &d, &data,
		      deadline);
	if (rc < 0)
		goto out;
	rc = POE_NOTFOUND;
	json_for_each(&d, data, e) {
		int64_t id;

		if (json_get_int(&d, e, "vmid", &id) < 0 || id != vmid)
			continue;
		/* type=vm lists containers too */
		if (!json_str_eq(&d, json_member(&d, e, "type"), "qemu"))
			continue;
		if (json_get_str(&d, e, "node", node, n) < 0 || !util_is_safe_name(node)) {
			rc = err_set(POE_API, "GET /cluster/resources: VM %d without a valid node",
				     vmid);
			goto out;
		}
		rc = 0;
		break;
	}
	if (rc == POE_NOTFOUND)
		rc = err_set(POE_NOTFOUND, "VM %d does not exist in the cluster", vmid);
out:
	json_free(&d);
	if (rc < 0 && rc != POE_NOTFOUND)
		rc = err_prefix(rc, "cannot find the node of VM %d", vmid);
	return rc;
}

/* A boolean-ish member: JSON number, bool, or "1"/"0" string. */
static bool member_true(const struct json_doc *d, int obj, const char *key)
{
	int t = json_member(d, obj, key);
	int64_t n;
	bool b;
	char s[8];

	if (json_int(d, t, &n) == 0)
		return n != 0;
	if (json_bool(d, t, &b) == 0)
		return b;
	if (json_str(d, t, s, sizeof(s)) == 0)
		return !strcmp(s, "1");
	return false;
}

int pve_vm_status(struct pve_client *pc, const char *node, int vmid, struct pve_vm_status *st,
		  int64_t deadline)
{
	struct buf path = BUF_INIT(1024);
	struct json_doc d = { 0 };
	int data;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = vm_path(&path, node, vmid, "/status/current");
	if (rc == 0)
		rc = get_data(pc, path.data, JSON_OBJECT, "a status", &d, &data, deadline);
	if (rc < 0)
		goto out;
	if (json_get_str(&d, data, "status", st->status, sizeof(st->status)) < 0) {
		rc = err_set(POE_API, "GET %s: answer without a status", path.data);
		goto out;
	}
	if (json_get_str(&d, data, "qmpstatus", st->qmpstatus, sizeof(st->qmpstatus)) < 0)
		util_strlcpy(st->qmpstatus, st->status, sizeof(st->qmpstatus)); /* larger: fits */
	if (json_get_str(&d, data, "lock", st->lock, sizeof(st->lock)) < 0)
		st->lock[0] = '\0';
	st->agent = member_true(&d, data, "agent");
	err_clear();
out:
	json_free(&d);
	buf_release(&path);
	if (rc < 0)
		rc = err_prefix(rc, "cannot get the status of VM %d", vmid);
	return rc;
}

/* POST a VM action that answers with a UPID, then wait for the task. */
static int vm_task(struct pve_client *pc, const char *node, int vmid, const char *rest,
		   const char *form, int64_t deadline)
{
	struct buf path = BUF_INIT(1024);
	struct json_doc d = { 0 };
	char upid[512];
	int data;
	int rc;

	rc = vm_path(&path, node, vmid, rest);
	if (rc < 0)
		goto out;
	rc = pve_call(pc, "POST", path.data, form, 0, &d, deadline);
	if (rc < 0)
		goto out;
	data = json_member(&d, 0, "data");
	if (json_type(&d, data) == JSON_NULL) {
		/* dry run, or done synchronously */
		goto out;
	}
	if (json_str(&d, data, upid, sizeof(upid)) < 0) {
		rc = err_set(POE_API, "POST %s: answer without a task id", path.data);
		goto out;
	}
	rc = pve_task_wait(pc, node, upid, deadline);
out:
	json_free(&d);
	buf_release(&path);
	return rc;
}

int pve_vm_suspend_todisk(struct pve_client *pc, const char *node, int vmid, int64_t deadline)
{
	int rc = vm_task(pc, node, vmid, "/status/suspend", "todisk=1", deadline);

	return rc < 0 ? err_prefix(rc, "cannot hibernate VM %d", vmid) : 0;
}

int pve_vm_resume(struct pve_client *pc, const char *node, int vmid, int64_t deadline)
{
	int rc = vm_task(pc, node, vmid, "/status/resume", NULL, deadline);

	return rc < 0 ? err_prefix(rc, "cannot resume VM %d", vmid) : 0;
}

int pve_vm_shutdown(struct pve_client *pc, const char *node, int vmid, int64_t deadline)
{
	int rc = vm_task(pc, node, vmid, "/status/shutdown", NULL, deadline);

	return rc < 0 ? err_prefix(rc, "cannot shut down VM %d", vmid) : 0;
}

int pve_vm_start(struct pve_client *pc, const char *node, int vmid, int64_t deadline)
{
	int rc = vm_task(pc, node, vmid, "/status/start", NULL, deadline);

	return rc < 0 ? err_prefix(rc, "cannot start VM %d", vmid) : 0;
}

/* POST .../agent/<cmd> (synchronous, {"result": ...}). */
static int agent_call(struct pve_client *pc, const char *node, int vmid, const char *cmd,
		      int flags, struct json_doc *d, int64_t deadline)
{
	struct buf path = BUF_INIT(1024);
	int rc;

	rc = vm_path(&path, node, vmid, "/agent/");
	if (rc >= 0)
		rc = buf_puts(&path, cmd);
	if (rc >= 0)
		rc = pve_call(pc, "POST", path.data, NULL, flags, d, deadline);
	buf_release(&path);
	return rc;
}

int pve_agent_ping(struct pve_client *pc, const char *node, int vmid, int64_t deadline)
{
	struct json_doc d = { 0 };
	int rc = agent_call(pc, node, vmid, "ping", PVE_RQ_READONLY, &d, deadline);

	json_free(&d);
	return rc < 0 ? err_prefix(rc, "the guest agent of VM %d does not answer", vmid) : 0;
}

int pve_agent_freeze(struct pve_client *pc, const char *node, int vmid, int64_t deadline)
{
	struct json_doc d = { 0 };
	int rc = agent_call(pc, node, vmid, "fsfreeze-freeze", 0, &d, deadline);

	json_free(&d);
	return rc < 0 ? err_prefix(rc, "cannot freeze the file systems of VM %d", vmid) : 0;
}

int pve_agent_thaw(struct pve_client *pc, const char *node, int vmid, int64_t deadline)
{
	struct json_doc d = { 0 };
	int rc = agent_call(pc, node, vmid, "fsfreeze-thaw", 0, &d, deadline);

	json_free(&d);
	return rc < 0 ? err_prefix(rc, "cannot thaw the file systems of VM %d", vmid) : 0;
}

int pve_agent_status(struct pve_client *pc, const char *node, int vmid, char *status_out,
		     size_t n, int64_t deadline)
{
	struct json_doc d = { 0 };
	char result[32];
	int rc;

	rc = agent_call(pc, node, vmid, "fsfreeze-status", PVE_RQ_READONLY, &d, deadline);
	if (rc < 0)
		goto out;
	if (json_get_str(&d, 0, "data.result", result, sizeof(result)) < 0) {
		rc = err_set(POE_API, "fsfreeze-status: answer without a result");
		goto out;
	}
	if (status_out)
		rc = util_strcpy(status_out, result, n, "freeze status");
out:
	json_free(&d);
	return rc < 0 ? err_prefix(rc, "cannot get the freeze status of VM %d", vmid) : 0;
}

static int storage_path(struct buf *b, const char *id)
{
	if (!id || !util_is_safe_name(id))
		return err_set(POE_USAGE, "invalid storage id '%s'", id ? id : "");
	if (buf_puts(b, "/storage") < 0 || path_add(b, id) < 0)
		return POE_FAIL;
	return 0;
}

int pve_storage_get(struct pve_client *pc, const char *id, struct pve_storage *st,
		    int64_t deadline)
{
	struct buf path = BUF_INIT(1024);
	struct json_doc d = { 0 };
	int data;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = storage_path(&path, id);
	if (rc == 0)
		rc = get_data(pc, path.data, JSON_OBJECT, "a storage", &d, &data, deadline);
	if (rc < 0)
		goto out;
	st->id = json_get_strdup(&d, data, "storage");
	if (!st->id)
		st->id = util_xstrdup(id);
	st->type = json_get_strdup(&d, data, "type");
	st->server = json_get_strdup(&d, data, "server");
	st->export_path = json_get_strdup(&d, data, "export");
	st->path = json_get_strdup(&d, data, "path");
	st->options = json_get_strdup(&d, data, "options");
	st->content = json_get_strdup(&d, data, "content");
	st->nodes = json_get_strdup(&d, data, "nodes");
	st->disabled = member_true(&d, data, "disable");
	if (!st->type) {
		rc = err_set(POE_API, "GET %s: answer without a type", path.data);
		pve_storage_release(st);
	}
out:
	json_free(&d);
	buf_release(&path);
	return rc < 0 ? err_prefix(rc, "cannot get PVE storage '%s'", id ? id : "") : 0;
}

int pve_storage_create(struct pve_client *pc, const struct pve_storage *st, int64_t deadline)
{
	struct buf form = BUF_INIT(PVE_FORM_MAX);
	struct json_doc d = { 0 };
	int rc = 0;

	if (!st->id || !util_is_safe_name(st->id) || !st->server || !st->export_path) {
		rc = err_set(POE_USAGE, "an NFS storage needs an id, a server and an export");
		goto out;
	}
	if (form_add(&form, "storage", st->id) < 0 || form_add(&form, "type", "nfs") < 0 ||
	    form_add(&form, "server", st->server) < 0 ||
	    form_add(&form, "export", st->export_path) < 0 ||
	    (st->path && form_add(&form, "path", st->path) < 0) ||
	    (st->content && form_add(&form, "content", st->content) < 0) ||
	    (st->options && form_add(&form, "options", st->options) < 0) ||
	    (st->nodes && form_add(&form, "nodes", st->nodes) < 0) ||
	    (st->disabled && form_add(&form, "disable", "1") < 0)) {
		rc = POE_FAIL;
		goto out;
	}
	rc = pve_call(pc, "POST", "/storage", form.data, 0, &d, deadline);
out:
	json_free(&d);
	buf_release(&form);
	return rc < 0 ? err_prefix(rc, "cannot create PVE storage '%s'",
				   st->id ? st->id : "") : 0;
}

int pve_storage_delete(struct pve_client *pc, const char *id, int64_t deadline)
{
	struct buf path = BUF_INIT(1024);
	int rc;

	rc = storage_path(&path, id);
	if (rc >= 0)
		rc = pve_call(pc, "DELETE", path.data, NULL, 0, NULL, deadline);
	buf_release(&path);
	return rc < 0 ? err_prefix(rc, "cannot remove PVE storage '%s'", id ? id : "") : 0;
}
