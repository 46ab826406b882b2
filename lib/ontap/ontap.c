// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ONTAP REST client: transport (request building, error mapping, retries, job polling,
 * pagination, dry run), volumes, snapshots and files. The rules followed here are those of
 * shared/reference/ontap-rest.md §0, §1 and §5; every path, query parameter and body key is
 * one of shared/specs/ontap-openapi-subset.yaml.
 */
#include "ontap/ontap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "net/http.h"
#include "format/json.h"
#include "base/log.h"
#include "ontap/ontap_internal.h"
#include "base/util.h"

#ifndef PVE_ONTAP_VERSION
#define PVE_ONTAP_VERSION "0.0.0"
#endif

/* Internal result of job_wait(): the job record is gone (expired), outcome unknown. */
#define JOB_GONE 1

/* Retries of idempotent requests: 1 s, then x1.4, at most 3 tries (§5 guidance 6). */
#define RETRY_TRIES 3
#define RETRY_FIRST_MS 1000
/* Job polling: 250 ms, x1.5, at most 2 s between polls. */
#define POLL_FIRST_MS 250
#define POLL_MAX_MS 2000
#define MAX_PAGES 100000

/*
 * Codes meaning "the object named in the request does not exist" (§1.9 and the tables of §2),
 * mapped to POE_NOTFOUND.
 */
static const char *const notfound_codes[] = {
	"4",        /* entry doesn't exist */
	"918235",   /* volume not found */
	"917505",   /* SVM not found */
	"2621462",  /* SVM does not exist */
	"524601",   /* FlexClone parent volume not found */
	"1638600",  /* snapshot does not exist */
	"1638503",  /* snapshot not on that volume */
	"6684674",  /* no such file or directory */
	"917927",   /* namespace volume not found */
	"72090006", /* namespace not found */
	"72090007",
	"72089731",
	"72090001", /* subsystem not found */
	"72090021",
	"72090004", /* host does not exist */
	"53411842", /* consistency group does not exist */
	"53411843",
	"53411844",
	NULL,
};

/* ---- small helpers ---- */

bool oc_code_in(const char *code, const char *const *codes)
{
	if (!code || !code[0] || !codes)
		return false;
	for (int i = 0; codes[i]; i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

bool oc_last_code_in(const struct ontap_client *oc, const char *const *codes)
{
	return oc_code_in(oc->last.code, codes);
}

bool oc_dry(const struct ontap_client *oc)
{
	return oc->dry_log != NULL;
}

int64_t oc_deadline(int64_t deadline, int64_t dflt_ms)
{
	if (deadline == 0)
		deadline = util_now_ms() + dflt_ms;
	return util_deadline_min(deadline);
}

void oc_jstr(const struct json_doc *d, int from, const char *path, char *out, size_t n)
{
	if (json_get_str(d, from, path, out, n) < 0)
		out[0] = '\0';
}

uint64_t oc_ju64(const struct json_doc *d, int from, const char *path)
{
	int64_t v = 0;

	if (json_get_int(d, from, path, &v) < 0 || v < 0)
		return 0;
	return (uint64_t)v;
}

bool oc_jbool(const struct json_doc *d, int from, const char *path)
{
	bool v = false;

	if (json_get_bool(d, from, path, &v) < 0)
		return false;
	return v;
}

time_t oc_jtime(const struct json_doc *d, int from, const char *path)
{
	char s[64];
	time_t t = 0;

	oc_jstr(d, from, path, s, sizeof(s));
	if (!s[0] || util_iso8601_parse(s, &t) < 0)
		return 0;
	return t;
}

/* An ONTAP error code: a string in error bodies, an integer in job records (§0.8). */
static void code_of(const struct json_doc *d, int tok, char *out, size_t n)
{
	size_t len = 0;
	const char *raw;

	out[0] = '\0';
	if (json_type(d, tok) == JSON_STRING) {
		if (json_str(d, tok, out, n) < 0)
			out[0] = '\0';
		return;
	}
	if (json_type(d, tok) != JSON_NUMBER)
		return;
	raw = json_raw(d, tok, &len);
	if (raw && len < n) {
		memcpy(out, raw, len);
		out[len] = '\0';
	}
}

const char *oc_body(struct json_writer *w, struct buf *b)
{
	if (jw_finish(w) < 0) {
		err_set(POE_FAIL, "cannot build ONTAP request body: %s", err_msg());
		return NULL;
	}
	return buf_cstr(b);
}

void oc_jw_ref(struct json_writer *w, const char *key, const char *field, const char *val)
{
	jw_object_begin(w, key);
	jw_string(w, field, val);
	jw_object_end(w);
}

int oc_cmp_time_name(time_t ta, const char *na, time_t tb, const char *nb)
{
	if (ta != tb)
		return ta < tb ? -1 : 1;
	return strcmp(na, nb);
}

/* ---- URLs ---- */

void oc_url_init(struct oc_url *u)
{
	buf_init(&u->b, OC_MAX_URL);
	u->has_query = false;
	u->err = 0;
}

void oc_url_release(struct oc_url *u)
{
	buf_release(&u->b);
}

void oc_url_put(struct oc_url *u, const char *s)
{
	if (!u->err)
		u->err = buf_puts(&u->b, s);
}

void oc_url_seg(struct oc_url *u, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	/*
	 * The files endpoint takes the path as one segment with '/' as %2F and '.' as %2E
	 * (§2.7); doing the same for every segment is harmless and keeps uuids and names
	 * from ever adding a path level.
	 */
	for (const unsigned char *p = (const unsigned char *)s; *p && !u->err; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '~') {
			u->err = buf_putc(&u->b, (char)*p);
		} else {
			char enc[4] = { '%', hex[*p >> 4], hex[*p & 15], '\0' };

			u->err = buf_puts(&u->b, enc);
		}
	}
}

static void url_key(struct oc_url *u, const char *key)
{
	if (u->err)
		return;
	u->err = buf_printf(&u->b, "%c%s=", u->has_query ? '&' : '?', key);
	u->has_query = true;
}

void oc_url_q(struct oc_url *u, const char *key, const char *val)
{
	if (!val)
		return;
	url_key(u, key);
	if (!u->err)
		u->err = http_urlencode(&u->b, val);
}

void oc_url_qraw(struct oc_url *u, const char *key, const char *val)
{
	if (!val)
		return;
	url_key(u, key);
	if (!u->err)
		u->err = buf_puts(&u->b, val);
}

void oc_url_return_timeout(struct oc_url *u, int64_t deadline)
{
	int64_t left = util_deadline_left(deadline);
	int secs = OC_RETURN_TIMEOUT_S;
	char v[16];

	/*
	 * At most half of what is left: ONTAP must answer (202 + job) well before our deadline,
	 * so that a slow operation is reported with its job id as still running instead of as
	 * a lost reply.
	 */
	if (left != INT64_MAX && left / 2000 < secs)
		secs = left > 0 ? (int)(left / 2000) : 0;
	snprintf(v, sizeof(v), "%d", secs);
	oc_url_qraw(u, "return_timeout", v);
}

const char *oc_url_str(struct oc_url *u)
{
	if (u->err) {
		err_set(POE_FAIL, "cannot build ONTAP request URL: too long");
		return NULL;
	}
	return buf_cstr(&u->b);
}

/* ---- client ---- */

struct ontap_client *ontap_client_new(const struct config_ontap *cfg)
{
	struct ontap_client *oc = NULL;
	struct http_opts opts;
	char *base = NULL;

	if (!cfg || !cfg->host || !cfg->host[0]) {
		err_set(POE_CONFIG, "ONTAP cluster '%s' has no host",
			cfg && cfg->name ? cfg->name : "?");
		return NULL;
	}
	if (strchr(cfg->host, ':') && cfg->host[0] != '[')
		base = util_xasprintf("https://[%s]:%d", cfg->host, cfg->port ? cfg->port : 443);
	else
		base = util_xasprintf("https://%s:%d", cfg->host, cfg->port ? cfg->port : 443);

	memset(&opts, 0, sizeof(opts));
	opts.base_url = base;
	opts.verify = cfg->verify;
	opts.ca_file = cfg->ca_file;
	opts.fingerprint = cfg->fingerprint;
	opts.user = cfg->user;
	opts.password = cfg->password;
	opts.user_agent = "X-Dot-Client-App: pve-ontap/" PVE_ONTAP_VERSION;
	/* Whole request: 30 s of return_timeout plus slack (§5 guidance 4). */
	opts.connect_timeout_ms = 10000;
	opts.request_timeout_ms = (OC_RETURN_TIMEOUT_S + 30) * 1000;
	/* 16 disks in one wave; ONTAP's per-address limit is 96 (ontap-rest.md §4) */
	opts.max_parallel = 16;

	oc = util_xcalloc(1, sizeof(*oc));
	oc->cfg = cfg;
	oc->http = http_client_new(&opts);
	if (!oc->http) {
		err_prefix(POE_API, "cannot set up ONTAP client for '%s'", cfg->name ? cfg->name : cfg->host);
		free(oc);
		oc = NULL;
	}
	free(base);
	return oc;
}

void ontap_client_expect_parallel(struct ontap_client *oc, int n)
{
	if (oc)
		http_client_warm(oc->http, n);
}

void ontap_client_free(struct ontap_client *oc)
{
	if (!oc)
		return;
	http_client_free(oc->http);
	free(oc);
}

const struct ontap_error *ontap_last_error(const struct ontap_client *oc)
{
	return &oc->last;
}

const char *ontap_client_name(const struct ontap_client *oc)
{
	if (oc->cfg->name && oc->cfg->name[0])
		return oc->cfg->name;
	return oc->cfg->host;
}

void ontap_client_set_dry_run(struct ontap_client *oc, struct buf *log)
{
	oc->dry_log = log;
}

bool ontap_client_is_dry_run(const struct ontap_client *oc)
{
	return oc->dry_log != NULL;
}

unsigned long ontap_client_requests(const struct ontap_client *oc)
{
	return oc->requests;
}

/* ---- error mapping ---- */

static void last_error_set(struct ontap_client *oc, long status, const char *code,
			   const char *message, const char *target)
{
	/* for messages; a code cut to its size matches none of the short codes we look for */
	oc->last.http_status = status;
	util_strlcpy(oc->last.code, code ? code : "", sizeof(oc->last.code));
	util_strlcpy(oc->last.message, message ? message : "", sizeof(oc->last.message));
	util_strlcpy(oc->last.target, target ? target : "", sizeof(oc->last.target));
}

static void last_error_clear(struct ontap_client *oc)
{
	memset(&oc->last, 0, sizeof(oc->last));
}

/*
 * Turn an HTTP error answer into a POE code and message: {"error":{"message","code",
 * "target"}} (§1.9), 401/403 told apart (§5 guidance 7).
 */
static int http_error(struct ontap_client *oc, const char *what, const struct http_response *rs)
{
	struct json_doc d = { 0 };
	char code[24] = "", message[512] = "", target[128] = "";
	int rc;

	if (rs->body.len && json_parse(&d, rs->body.data, rs->body.len, 4096) == 0) {
		code_of(&d, json_get(&d, 0, "error.code"), code, sizeof(code));
		oc_jstr(&d, 0, "error.message", message, sizeof(message));
		oc_jstr(&d, 0, "error.target", target, sizeof(target));
	}
	json_free(&d);
	if (!message[0])
		snprintf(message, sizeof(message), "HTTP %ld%s%s", rs->status,
			 rs->reason[0] ? " " : "", rs->reason);
	last_error_set(oc, rs->status, code, message, target);

	if (rs->status == 401)
		return err_set(POE_API, "authentication failed for user '%s' on '%s'",
			       oc->cfg->user ? oc->cfg->user : "", oc->cfg->host);
	if (rs->status == 403)
		return err_set(POE_API, "cannot %s: permission denied for user '%s' on '%s': %s%s%s%s",
			       what, oc->cfg->user ? oc->cfg->user : "", oc->cfg->host, message,
			       code[0] ? " (ONTAP error " : "", code, code[0] ? ")" : "");
	rc = (rs->status == 404 || oc_code_in(code, notfound_codes)) ? POE_NOTFOUND : POE_API;
	if (code[0])
		return err_set(rc, "cannot %s: %s (ONTAP error %s)", what, message, code);
	return err_set(rc, "cannot %s: %s", what, message);
}

static int parse_answer(struct ontap_client *oc, const char *method, const char *url,
			const struct http_response *rs, struct json_doc *out)
{
	const char *text = rs->body.len ? rs->body.data : "{}";
	size_t len = rs->body.len ? rs->body.len : 2;
	char path[160];
	const char *q;

	if (json_parse(out, text, len, JSON_MAX_TOKENS_DEFAULT) == 0 &&
	    json_type(out, 0) == JSON_OBJECT)
		return 0;
	json_free(out);
	/* The query may be long; the path is enough to say which call it was. */
	q = strchr(url, '?');
	snprintf(path, sizeof(path), "%.*s", q ? (int)(q - url) : (int)strlen(url), url);
	last_error_set(oc, rs->status, "", "invalid JSON", "");
	return err_set(POE_API, "invalid response from ONTAP '%s' to %s %s: not a JSON object",
		       oc->cfg->host, method, path);
}

/* ---- jobs ---- */

static int still_running(const char *uuid, const char *what, int64_t start)
{
	return err_set(POE_TIMEOUT, "ONTAP job %s (%s) still running after %lld s", uuid, what,
		       (long long)((util_now_ms() - start + 500) / 1000));
}

/* Evaluate one job record: 0 success, 1 pending, POE_API failure (message set). */
static int job_eval(struct ontap_client *oc, const struct json_doc *d, const char *uuid,
		    const char *what)
{
	char state[32], code[24] = "", message[512] = "";

	oc_jstr(d, 0, "state", state, sizeof(state));
	if (strcmp(state, "success") == 0)
		return 0;
	if (strcmp(state, "queued") == 0 || strcmp(state, "running") == 0 ||
	    strcmp(state, "paused") == 0)
		return 1;
	/* Prefer error.* when present (§1.8); job.code is an integer, error.code a string. */
	code_of(d, json_get(d, 0, "error.code"), code, sizeof(code));
	if (!code[0])
		code_of(d, json_get(d, 0, "code"), code, sizeof(code));
	oc_jstr(d, 0, "error.message", message, sizeof(message));
	if (!message[0])
		oc_jstr(d, 0, "message", message, sizeof(message));
	if (strcmp(state, "failure") && strcmp(state, "cancelled") && strcmp(state, "expired")) {
		last_error_set(oc, 0, code, message, "");
		return err_set(POE_API, "cannot %s: ONTAP job %s ended in unknown state '%s'", what,
			       uuid, state);
	}
	if (!message[0])
		snprintf(message, sizeof(message), "job %s", state);
	last_error_set(oc, 0, code, message, "");
	if (code[0] && strcmp(code, "0") != 0)
		return err_set(POE_API, "cannot %s: %s (ONTAP error %s)", what, message, code);
	return err_set(POE_API, "cannot %s: %s", what, message);
}

static void job_url(struct oc_url *u, const char *uuid)
{
	oc_url_put(u, "/api/cluster/jobs/");
	oc_url_seg(u, uuid);
	oc_url_qraw(u, "fields", "state,message,code,error");
}

/*
 * Poll a job until a terminal state: 0, POE_API (failed), POE_TIMEOUT (still running at the
 * deadline; never reported as failed), JOB_GONE (404: expired or never known).
 */
static int job_wait(struct ontap_client *oc, const char *uuid, const char *what, int64_t start,
		    int64_t deadline)
{
	int64_t delay = POLL_FIRST_MS;
	struct oc_url u;
	const char *url;
	int rc;

	oc_url_init(&u);
	job_url(&u, uuid);
	url = oc_url_str(&u);
	if (!url) {
		rc = POE_FAIL;
		goto out;
	}
	for (;;) {
		struct json_doc d = { 0 };
		int64_t left;

		rc = oc_get(oc, url, "read ONTAP job", &d, deadline);
		if (rc == POE_NOTFOUND) {
			rc = JOB_GONE;
			goto out;
		}
		if (rc == POE_TIMEOUT) {
			rc = still_running(uuid, what, start);
			goto out;
		}
		if (rc < 0)
			goto out;
		rc = job_eval(oc, &d, uuid, what);
		json_free(&d);
		if (rc <= 0)
			goto out;
		left = util_deadline_left(deadline);
		if (left <= 0) {
			rc = still_running(uuid, what, start);
			goto out;
		}
		if (delay > 1000)
			log_progress("waiting for ONTAP job", what);
		util_sleep_ms(delay < left ? delay : left, 0);
		delay = delay * 3 / 2;
		if (delay > POLL_MAX_MS)
			delay = POLL_MAX_MS;
	}
out:
	log_progress_done();
	oc_url_release(&u);
	return rc;
}

/* ---- requests ---- */

static bool is_get(const char *method)
{
	return strcmp(method, "GET") == 0;
}

static int dry_run_log(struct ontap_client *oc, const struct oc_call *c, struct json_doc *resp)
{
	int rc = buf_printf(oc->dry_log, "%s %s%s%s\n", c->method, c->url, c->body ? " " : "",
			    c->body ? c->body : "");

	if (rc < 0)
		return rc;
	if (resp)
		return json_parse(resp, "{}", 2, 16);
	return 0;
}

static int empty_answer(struct json_doc *resp)
{
	if (resp)
		return json_parse(resp, "{}", 2, 16);
	return 0;
}

/* Where oc_request() stands between attempts. */
struct attempt {
	int n;            /* attempts made so far, this one included */
	bool retryable;   /* a GET or an idempotent write: may be sent again as it is */
	bool lost;        /* an earlier send may have reached ONTAP */
	bool recheck;     /* look for the result by name before sending again */
	bool now;         /* send again at once (no backoff) */
};

/* A 2xx answer: parse it and follow its job. */
static int answer_ok(struct ontap_client *oc, const struct oc_call *c, struct http_response *rs,
		     struct json_doc *d, int64_t sent, bool lost)
{
	char juuid[64];
	int rc = parse_answer(oc, c->method, c->url, rs, d);

	http_response_release(rs);
	if (rc < 0)
		return rc;
	oc_jstr(d, 0, "job.uuid", juuid, sizeof(juuid));
	if (!juuid[0] || (c->flags & OC_NO_JOB_WAIT))
		return 0;
	rc = job_wait(oc, juuid, c->what, sent, c->deadline);
	if (rc == JOB_GONE) {
		rc = c->recheck ? c->recheck(oc, c->recheck_arg, c->deadline) : POE_FAIL;
		if (rc == POE_NOTFOUND || rc == POE_FAIL)
			rc = err_set(POE_API,
				     "cannot %s: ONTAP job %s vanished before it was seen to finish; outcome unknown",
				     c->what, juuid);
	} else if (rc == POE_API && (oc_last_code_in(oc, c->ok_codes) ||
				     (lost && oc_last_code_in(oc, c->dup_codes)))) {
		err_clear();
		rc = 0;
	}
	return rc;
}

/*
 * An HTTP error answer: *rc is the result; true to send again after a backoff. A 5xx GET or
 * idempotent write is sent again; a POST answered 503 (ONTAP busy, ontap-rest.md §4) only
 * when a re-check by name (c->recheck, after the backoff) finds nothing.
 */
static bool error_answer(struct ontap_client *oc, const struct oc_call *c,
			 struct http_response *rs, struct attempt *a, int *rc)
{
	bool last = a->n >= RETRY_TRIES;
	bool again = rs->status >= 500 && rs->status != 501 &&
		     (rs->status == 503 || is_get(c->method)) && a->retryable && !last;

	if (rs->status == 503 && !a->retryable && c->recheck && !a->lost && !last)
		again = a->recheck = true;
	*rc = http_error(oc, c->what, rs);
	http_response_release(rs);
	if (oc_last_code_in(oc, c->ok_codes) || (a->lost && oc_last_code_in(oc, c->dup_codes))) {
		/* ok_codes, or the lost send did it: "already done" */
		err_clear();
		*rc = 0;
		return false;
	}
	if (*rc == POE_NOTFOUND && a->lost && strcmp(c->method, "DELETE") == 0) {
		*rc = 0; /* a DELETE whose first answer was lost */
		return false;
	}
	return again;
}

/* The result of a POST found by c->recheck: 0 found (done), 1 not found (send again). */
static int recheck(struct ontap_client *oc, const struct oc_call *c)
{
	int chk = c->recheck(oc, c->recheck_arg, c->deadline);

	if (chk == POE_NOTFOUND) {
		log_debug("ONTAP '%s': no result of %s %s found; sending again", oc->cfg->host,
			  c->method, c->url);
		return 1;
	}
	return chk;
}

/* No HTTP answer (cannot connect, reset, timeout): true to send again. */
static bool no_answer(struct ontap_client *oc, const struct oc_call *c, struct http_response *rs,
		      struct attempt *a, int *rc)
{
	bool permanent = rs->permanent;

	http_response_release(rs);
	*rc = err_prefix(*rc, "cannot %s", c->what);
	/* a certificate that failed verification fails the same way again */
	if (permanent || util_deadline_passed(c->deadline))
		return false;
	if (a->retryable) {
		a->lost = !is_get(c->method);
		return a->n < RETRY_TRIES;
	}
	/* A POST that may have reached ONTAP is never re-sent blindly (§5 guidance 6): look
	 * for its result first. */
	if (!c->recheck || a->lost)
		return false;
	a->lost = a->now = true;
	*rc = recheck(oc, c);
	return *rc == 1;
}

int oc_request(struct ontap_client *oc, const struct oc_call *c, struct json_doc *resp)
{
	struct attempt a = { .retryable = is_get(c->method) || (c->flags & OC_IDEMPOTENT) };
	int64_t backoff = RETRY_FIRST_MS;
	struct json_doc d = { 0 };
	int rc = POE_FAIL;

	if (resp)
		memset(resp, 0, sizeof(*resp));
	last_error_clear(oc);
	if (oc->dry_log && !is_get(c->method))
		return dry_run_log(oc, c, resp);

	for (;;) {
		struct http_request rq = {
			.method = c->method,
			.path = c->url,
			.body = c->body,
			.body_len = c->body ? strlen(c->body) : 0,
			.deadline_ms = c->deadline,
		};
		struct http_response rs;
		int64_t sent = util_now_ms(), pause;

		http_response_init(&rs);
		oc->requests++;
		a.n++;
		rc = http_perform(oc->http, &rq, &rs);
		if (rc == 0 && rs.status >= 200 && rs.status < 300) {
			rc = answer_ok(oc, c, &rs, &d, sent, a.lost);
			break;
		}
		if (!(rc == 0 ? error_answer(oc, c, &rs, &a, &rc) : no_answer(oc, c, &rs, &a, &rc)))
			break;
		if (a.now) {
			a.now = false;
			continue;
		}
		/* jittered: hooks that met a busy ONTAP together do not come back together */
		pause = util_jitter_ms(backoff);
		log_debug("ONTAP '%s': retrying %s %s in %lld ms", oc->cfg->host, c->method, c->url,
			  (long long)pause);
		if (util_sleep_ms(pause, c->deadline) < 0)
			break; /* keep the last error; the deadline is near */
		backoff = backoff * 14 / 10;
		if (a.recheck) {
			struct err_saved busy;

			a.recheck = false;
			err_save(&busy);
			rc = recheck(oc, c);
			if (rc != 1) /* found: done; a failed look-up: the 503 stands */
				rc = rc == 0 ? 0 : err_restore(&busy);
			if (rc != 1)
				break;
		}
	}
	if (rc == 0 && resp) {
		if (d.text)
			*resp = d;
		else
			rc = empty_answer(resp);
	} else {
		json_free(&d);
	}
	return rc;
}

int oc_get(struct ontap_client *oc, const char *url, const char *what, struct json_doc *resp,
	   int64_t deadline)
{
	struct oc_call c = {
		.method = "GET",
		.url = url,
		.what = what,
		.deadline = deadline,
	};

	return oc_request(oc, &c, resp);
}

void oc_records_free(struct oc_records *r)
{
	for (int i = 0; i < r->ndocs; i++) {
		json_free(r->docs[i]);
		free(r->docs[i]);
	}
	free(r->docs);
	free(r->rec);
	memset(r, 0, sizeof(*r));
}

int oc_get_all(struct ontap_client *oc, const char *url, const char *what, struct oc_records *r,
	       int64_t deadline)
{
	char *next = util_xstrdup(url);
	int rc = 0;

	memset(r, 0, sizeof(*r));
	/* Follow _links.next.href verbatim until it is absent (§1.6). */
	while (next) {
		struct json_doc *d = util_xcalloc(1, sizeof(*d));
		int recs, n;
		char *href;

		rc = oc_get(oc, next, what, d, deadline);
		free(next);
		next = NULL;
		if (rc < 0) {
			free(d);
			goto out;
		}
		r->docs = util_xrealloc(r->docs, (size_t)(r->ndocs + 1) * sizeof(*r->docs));
		r->docs[r->ndocs++] = d;
		recs = json_get(d, 0, "records");
		n = json_count(d, recs);
		if (json_type(d, recs) != JSON_ARRAY) {
			rc = err_set(POE_API, "invalid response from ONTAP '%s' (%s): no records",
				     oc->cfg->host, what);
			goto out;
		}
		if (r->n + n > OC_MAX_RECORDS || r->ndocs > MAX_PAGES) {
			rc = err_set(POE_API, "cannot %s: more than %d records", what, OC_MAX_RECORDS);
			goto out;
		}
		r->rec = util_xrealloc(r->rec, (size_t)(r->n + n + 1) * sizeof(*r->rec));
		json_for_each(d, recs, it) {
			r->rec[r->n].d = d;
			r->rec[r->n].tok = it;
			r->n++;
		}
		href = json_get_strdup(d, 0, "_links.next.href");
		if (href && href[0] == '/' && strncmp(href, "/api/", 5) == 0)
			next = href;
		else
			free(href);
	}
out:
	free(next);
	if (rc < 0)
		oc_records_free(r);
	return rc < 0 ? rc : r->n;
}

int oc_get_one(struct ontap_client *oc, const char *url, const char *what, struct oc_records *r,
	       struct oc_record *rec, int64_t deadline)
{
	int rc = oc_get_all(oc, url, what, r, deadline);

	if (rc < 0)
		return rc;
	if (r->n == 0)
		return err_set(POE_NOTFOUND, "cannot %s: not found", what);
	if (r->n > 1)
		return err_set(POE_API, "cannot %s: %d objects match", what, r->n);
	*rec = r->rec[0];
	return 0;
}

/* ---- one kind of object ---- */

void oc_kind_url(struct oc_url *u, const struct oc_kind *k, const char *parent, const char *uuid)
{
	oc_url_put(u, k->path);
	if (parent) {
		oc_url_put(u, "/");
		oc_url_seg(u, parent);
		if (k->sub)
			oc_url_put(u, k->sub);
	}
	if (uuid) {
		oc_url_put(u, "/");
		oc_url_seg(u, uuid);
	}
}

/* "<verb> <what> '<name>'[ of <owner> '<parent>']". Returns a newly allocated string. */
static char *kind_what(const struct oc_kind *k, const char *verb, const char *name,
		       const char *parent)
{
	if (parent && k->owner)
		return util_xasprintf("%s %s '%s' of %s '%s'", verb, k->what, name, k->owner,
				      parent);
	return util_xasprintf("%s %s '%s'", verb, k->what, name);
}

/* The collection URL of w with the kind's fields. */
static void where_url(struct oc_url *u, const struct oc_kind *k, const struct oc_where *w)
{
	oc_url_init(u);
	oc_kind_url(u, k, w->parent, w->uuid);
	oc_url_q(u, w->key ? w->key : "name", w->val);
	oc_url_q(u, "svm.name", w->svm);
	oc_url_qraw(u, k->scope_key, k->scope_val);
	oc_url_qraw(u, "fields", k->fields);
}

int oc_find(struct ontap_client *oc, const struct oc_kind *k, const struct oc_where *w,
	    const char *what, void *out, int64_t deadline)
{
	struct oc_records r = { 0 };
	struct oc_record rec = { NULL, -1 };
	char *own = NULL;
	struct oc_url u;
	const char *url;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	if (!what) {
		char *base = kind_what(k, "find", w->val, w->parent);

		if (k->names_svm && w->svm)
			own = util_xasprintf("%s on SVM '%s'", base, w->svm);
		else
			own = util_xstrdup(base);
		free(base);
		what = own;
	}
	where_url(&u, k, w);
	url = oc_url_str(&u);
	rc = url ? oc_get_one(oc, url, what, &r, &rec, deadline) : POE_FAIL;
	if (rc == 0 && out)
		k->parse(rec.d, rec.tok, out);
	oc_records_free(&r);
	oc_url_release(&u);
	free(own);
	return rc;
}

/* GET of one instance with fields; parsed into out when non-NULL. */
static int read_instance(struct ontap_client *oc, const struct oc_kind *k, const char *parent,
			 const char *uuid, const char *fields, const char *what, void *out,
			 int64_t deadline)
{
	struct json_doc d = { 0 };
	char *own = NULL;
	struct oc_url u;
	const char *url;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	if (!what)
		what = own = kind_what(k, "read", uuid, parent);
	oc_url_init(&u);
	oc_kind_url(&u, k, parent, uuid);
	oc_url_qraw(&u, "fields", fields);
	url = oc_url_str(&u);
	rc = url ? oc_get(oc, url, what, &d, deadline) : POE_FAIL;
	if (rc == 0 && out)
		k->parse(&d, 0, out);
	json_free(&d);
	oc_url_release(&u);
	free(own);
	return rc;
}

int oc_read(struct ontap_client *oc, const struct oc_kind *k, const char *parent,
	    const char *uuid, void *out, int64_t deadline)
{
	return read_instance(oc, k, parent, uuid, k->fields, NULL, out, deadline);
}

int oc_list(struct ontap_client *oc, const struct oc_kind *k, const struct oc_where *w,
	    const char *what, void *out, int *n, int64_t deadline)
{
	struct oc_records r = { 0 };
	char *own = NULL, *v = NULL;
	struct oc_url u;
	const char *url;
	int rc;

	*n = 0;
	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	if (!what) {
		if (w->parent && k->owner)
			own = util_xasprintf("list %s of %s '%s'", k->plural, k->owner, w->parent);
		else
			own = util_xasprintf("list %s", k->plural);
		what = own;
	}
	where_url(&u, k, w);
	url = oc_url_str(&u);
	rc = url ? oc_get_all(oc, url, what, &r, deadline) : POE_FAIL;
	if (rc > 0) {
		int m = 0;

		v = util_xcalloc((size_t)r.n, k->size);
		/* A record left out is overwritten by the next (parse clears it first). */
		for (int i = 0; i < r.n; i++)
			if (k->parse(r.rec[i].d, r.rec[i].tok, v + (size_t)m * k->size))
				m++;
		if (m && k->cmp)
			qsort(v, (size_t)m, k->size, k->cmp);
		if (!m) {
			free(v);
			v = NULL;
		}
		*n = m;
	}
	/* out is the caller's "struct ontap_x **": the array pointer goes in as it is. */
	memcpy(out, &v, sizeof(v));
	oc_records_free(&r);
	oc_url_release(&u);
	free(own);
	return rc < 0 ? rc : 0;
}

void oc_write_begin(struct oc_write *wr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(wr->what, sizeof(wr->what), fmt, ap);
	va_end(ap);
	buf_init(&wr->b, OC_MAX_BODY);
	jw_init(&wr->w, &wr->b, 0);
	jw_object_begin(&wr->w, NULL);
}

const char *oc_write_end(struct oc_write *wr)
{
	jw_object_end(&wr->w);
	return oc_body(&wr->w, &wr->b);
}

void oc_write_release(struct oc_write *wr)
{
	buf_release(&wr->b);
}

int oc_send(struct ontap_client *oc, const struct oc_send *s, int64_t deadline)
{
	struct oc_url u;
	int rc;

	oc_url_init(&u);
	oc_kind_url(&u, s->kind, s->parent, s->uuid);
	oc_url_q(&u, s->qkey, s->qval);
	if (!s->kind->inline_writes)
		oc_url_return_timeout(&u, deadline);
	{
		struct oc_call c = {
			.method = s->method,
			.url = oc_url_str(&u),
			.body = s->body,
			.what = s->what,
			.flags = s->flags,
			.recheck = s->recheck,
			.recheck_arg = s->recheck_arg,
			.dup_codes = s->dup_codes,
			.ok_codes = s->ok_codes,
			.deadline = deadline,
		};

		rc = c.url ? oc_request(oc, &c, NULL) : POE_FAIL;
	}
	oc_url_release(&u);
	return rc;
}

int oc_exists(struct ontap_client *oc, const void *arg, int64_t deadline)
{
	const struct oc_target *t = arg;
	struct oc_where w = { .parent = t->parent, .val = t->name, .svm = t->svm };

	return oc_find(oc, t->kind, &w, NULL, NULL, deadline);
}

int oc_create(struct ontap_client *oc, const struct oc_kind *k, const char *parent,
	      const char *svm, const char *name, const char *what, const char *body, void *out,
	      int64_t deadline)
{
	struct oc_target t = { k, parent, svm, name };
	struct oc_send s = {
		.kind = k,
		.method = "POST",
		.parent = parent,
		.body = body,
		.what = what,
		.flags = k->create_flags,
		.recheck = k->create_recheck,
		.recheck_arg = &t,
		.dup_codes = k->create_dup,
		.ok_codes = k->create_ok,
	};
	int rc = body ? oc_send(oc, &s, deadline) : POE_FAIL;

	/* The answer may carry the new record or only a job: read it back by name. */
	if (rc == 0 && out && !oc_dry(oc)) {
		struct oc_where w = { .parent = parent, .val = name, .svm = svm };

		rc = oc_find(oc, k, &w, NULL, out, deadline);
	}
	return rc;
}

int oc_patch(struct ontap_client *oc, const struct oc_kind *k, const char *uuid, const char *qkey,
	     const char *qval, const char *what, const char *body, int64_t deadline)
{
	struct oc_send s = {
		.kind = k,
		.method = "PATCH",
		.uuid = uuid,
		.qkey = qkey,
		.qval = qval,
		.body = body,
		.what = what,
		.flags = OC_IDEMPOTENT,
	};

	return body ? oc_send(oc, &s, deadline) : POE_FAIL;
}

/* The object a DELETE was about (recheck argument). */
struct gone_key {
	const struct oc_kind *k;
	const char *parent;
	const char *uuid;
};

/* 0 when the object is gone, POE_NOTFOUND while it is there. */
static int object_gone(struct ontap_client *oc, const void *arg, int64_t deadline)
{
	const struct gone_key *g = arg;
	int rc = read_instance(oc, g->k, g->parent, g->uuid, g->k->gone_fields, g->k->gone_what,
			       NULL, deadline);

	if (rc == POE_NOTFOUND)
		return 0;
	return rc == 0 ? POE_NOTFOUND : rc;
}

/* oc_delete() with one query parameter (qkey NULL: none). */
static int delete_q(struct ontap_client *oc, const struct oc_kind *k, const char *parent,
		    const char *uuid, const char *what, const char *qkey, const char *qval,
		    int64_t deadline)
{
	struct gone_key g = { k, parent, uuid };
	char *own = what ? NULL : kind_what(k, "delete", uuid, parent);
	struct oc_send s = {
		.kind = k,
		.method = "DELETE",
		.parent = parent,
		.uuid = uuid,
		.qkey = qkey,
		.qval = qval,
		.what = what ? what : own,
		.flags = OC_IDEMPOTENT,
		.recheck = k->gone_fields ? object_gone : NULL,
		.recheck_arg = &g,
		.ok_codes = k->delete_ok,
	};
	int rc = oc_send(oc, &s, deadline);

	free(own);
	return rc;
}

int oc_delete(struct ontap_client *oc, const struct oc_kind *k, const char *parent,
	      const char *uuid, const char *what, int64_t deadline)
{
	return delete_q(oc, k, parent, uuid, what, NULL, NULL, deadline);
}

/* ---- cluster ---- */

/* Read the version once per client (§3: detect it once per run and gate features on it). */
static int version_load(struct ontap_client *oc, int64_t deadline)
{
	struct json_doc d = { 0 };
	int64_t v[3] = { 0, 0, 0 };
	static const char *const keys[] = { "version.generation", "version.major",
					    "version.minor" };
	int rc;

	if (oc->version_known)
		return 0;
	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	rc = oc_get(oc, "/api/cluster?fields=version", "read the ONTAP cluster version", &d,
		    deadline);
	if (rc < 0)
		return rc;
	for (int i = 0; i < 3; i++) {
		if (json_get_int(&d, 0, keys[i], &v[i]) < 0 || v[i] < 0 || v[i] > 1000) {
			rc = err_set(POE_API, "invalid response from ONTAP '%s': no cluster version",
				     oc->cfg->host);
			goto out;
		}
		oc->version[i] = (int)v[i];
	}
	oc->version_known = true;
out:
	json_free(&d);
	return rc;
}

int ontap_cluster_version(struct ontap_client *oc, int *generation, int *major, int *minor,
			  int64_t deadline)
{
	int rc = version_load(oc, deadline);

	if (rc < 0)
		return rc;
	*generation = oc->version[0];
	*major = oc->version[1];
	*minor = oc->version[2];
	return 0;
}

int oc_version_at_least(struct ontap_client *oc, int g, int ma, int mi, int64_t deadline)
{
	long have, want = (long)g * 1000000L + (long)ma * 1000L + mi;
	int rc = version_load(oc, deadline);

	if (rc < 0)
		return err_prefix(rc, "cannot tell which ONTAP release '%s' runs",
				  ontap_client_name(oc));
	have = (long)oc->version[0] * 1000000L + (long)oc->version[1] * 1000L + oc->version[2];
	return have >= want ? 1 : 0;
}

/* ---- volumes ---- */

/* nas.path, clone.* and space.snapshot.* are expensive: they must be named (§1.4). */
#define VOL_FIELDS                                                                        \
	"uuid,name,svm.name,nas.path,state,comment,space.size,space.used,space.available," \
	"space.snapshot.reserve_percent,clone.is_flexclone,clone.parent_volume.name,"    \
	"clone.parent_snapshot.name,consistency_group.name"

static bool volume_parse(const struct json_doc *d, int tok, void *out)
{
	struct ontap_volume *v = out;
	int64_t pct = -1;

	memset(v, 0, sizeof(*v));
	oc_jstr(d, tok, "uuid", v->uuid, sizeof(v->uuid));
	oc_jstr(d, tok, "name", v->name, sizeof(v->name));
	oc_jstr(d, tok, "svm.name", v->svm, sizeof(v->svm));
	oc_jstr(d, tok, "nas.path", v->nas_path, sizeof(v->nas_path));
	oc_jstr(d, tok, "state", v->state, sizeof(v->state));
	oc_jstr(d, tok, "comment", v->comment, sizeof(v->comment));
	v->size = oc_ju64(d, tok, "space.size");
	v->used = oc_ju64(d, tok, "space.used");
	v->available = oc_ju64(d, tok, "space.available");
	if (json_get_int(d, tok, "space.snapshot.reserve_percent", &pct) < 0 || pct < 0 ||
	    pct > 100)
		pct = -1;
	v->snapshot_reserve = (int)pct;
	v->is_flexclone = oc_jbool(d, tok, "clone.is_flexclone");
	oc_jstr(d, tok, "clone.parent_volume.name", v->clone_parent, sizeof(v->clone_parent));
	oc_jstr(d, tok, "clone.parent_snapshot.name", v->clone_parent_snapshot,
		sizeof(v->clone_parent_snapshot));
	oc_jstr(d, tok, "consistency_group.name", v->cg_name, sizeof(v->cg_name));
	return true;
}

static const char *const volume_dup_codes[] = { "1", "917526", "13107405", NULL };

static const struct oc_kind volume_kind = {
	.what = "volume",
	.plural = "volumes",
	.path = "/api/storage/volumes",
	.fields = VOL_FIELDS,
	.names_svm = true,
	.size = sizeof(struct ontap_volume),
	.parse = volume_parse,
	.create_recheck = oc_exists,
	.create_dup = volume_dup_codes,
	.gone_fields = VOL_FIELDS,
};

int ontap_volume_find(struct ontap_client *oc, const char *svm, const char *name,
		      struct ontap_volume *out, int64_t deadline)
{
	struct oc_where w = { .val = name, .svm = svm };

	return oc_find(oc, &volume_kind, &w, NULL, out, deadline);
}

int ontap_volume_find_by_path(struct ontap_client *oc, const char *svm, const char *nas_path,
			      struct ontap_volume *out, int64_t deadline)
{
	struct oc_where w = { .key = "nas.path", .val = nas_path, .svm = svm };
	char *what = util_xasprintf("find volume with junction '%s'%s%s%s", nas_path,
				    svm ? " on SVM '" : "", svm ? svm : "", svm ? "'" : "");
	int rc = oc_find(oc, &volume_kind, &w, what, out, deadline);

	free(what);
	return rc;
}

int ontap_volume_get(struct ontap_client *oc, const char *uuid, struct ontap_volume *out,
		     int64_t deadline)
{
	return oc_read(oc, &volume_kind, NULL, uuid, out, deadline);
}

int ontap_volume_list(struct ontap_client *oc, const char *svm, const char *pattern,
		      struct ontap_volume **out, int *n, int64_t deadline)
{
	struct oc_where w = { .val = pattern, .svm = svm };

	return oc_list(oc, &volume_kind, &w, NULL, out, n, deadline);
}

/*
 * POST a new volume (create or FlexClone) and fill out: from ONTAP, or from the request in
 * dry-run mode.
 */
static int volume_post(struct ontap_client *oc, const char *svm, const char *name,
		       const char *nas_path, struct oc_write *wr, struct ontap_volume *out,
		       int64_t deadline)
{
	int rc = oc_create(oc, &volume_kind, NULL, svm, name, wr->what, oc_write_end(wr), out,
			   deadline);

	if (rc == 0 && out && oc_dry(oc)) {
		memset(out, 0, sizeof(*out));
		if (util_strcpy(out->name, name, sizeof(out->name), "volume name") < 0 ||
		    util_strcpy(out->svm, svm ? svm : "", sizeof(out->svm), "SVM name") < 0 ||
		    util_strcpy(out->nas_path, nas_path ? nas_path : "", sizeof(out->nas_path),
				"junction path") < 0)
			rc = POE_FAIL;
		out->snapshot_reserve = -1;
	}
	oc_write_release(wr);
	return rc;
}

int ontap_volume_create(struct ontap_client *oc, const struct ontap_volume_spec *spec,
			struct ontap_volume *out, int64_t deadline)
{
	struct oc_write wr;
	struct json_writer *w = &wr.w;
	const char *qos;

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	if (spec->qos_policy && spec->adaptive_qos_policy)
		return err_set(POE_CONFIG, "volume '%s': qos_policy and adaptive_qos_policy exclude each other",
			       spec->name);
	oc_write_begin(&wr, "create volume '%s'", spec->name);
	jw_string(w, "name", spec->name);
	if (spec->svm)
		oc_jw_ref(w, "svm", "name", spec->svm);
	if (spec->aggregate) {
		jw_array_begin(w, "aggregates");
		jw_object_begin(w, NULL);
		jw_string(w, "name", spec->aggregate);
		jw_object_end(w);
		jw_array_end(w);
	}
	if (spec->size)
		jw_int(w, "size", (int64_t)spec->size);
	if (spec->guarantee)
		oc_jw_ref(w, "guarantee", "type", spec->guarantee);
	if (spec->encryption >= 0) {
		jw_object_begin(w, "encryption");
		jw_bool(w, "enabled", spec->encryption > 0);
		jw_object_end(w);
	}
	/*
	 * The volume model has one QoS reference, qos.policy: ONTAP resolves the name to a
	 * fixed or an adaptive policy group, so both settings land there.
	 */
	qos = spec->qos_policy ? spec->qos_policy : spec->adaptive_qos_policy;
	if (qos) {
		jw_object_begin(w, "qos");
		oc_jw_ref(w, "policy", "name", qos);
		jw_object_end(w);
	}
	if (spec->tiering_policy)
		oc_jw_ref(w, "tiering", "policy", spec->tiering_policy);
	if (spec->snapshot_reserve >= 0) {
		jw_object_begin(w, "space");
		jw_object_begin(w, "snapshot");
		jw_int(w, "reserve_percent", spec->snapshot_reserve);
		jw_object_end(w);
		jw_object_end(w);
	}
	if (spec->autosize_max) {
		jw_object_begin(w, "autosize");
		jw_string(w, "mode", "grow");
		jw_int(w, "maximum", (int64_t)spec->autosize_max);
		jw_object_end(w);
	}
	if (spec->snapshot_policy_none)
		oc_jw_ref(w, "snapshot_policy", "name", "none");
	if (spec->nas_path)
		oc_jw_ref(w, "nas", "path", spec->nas_path);
	if (spec->comment)
		jw_string(w, "comment", spec->comment);
	return volume_post(oc, spec->svm, spec->name, spec->nas_path, &wr, out, deadline);
}

int ontap_volume_resize(struct ontap_client *oc, const char *uuid, uint64_t size,
			int64_t deadline)
{
	char body[64], what[128];

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(body, sizeof(body), "{\"size\":%llu}", (unsigned long long)size);
	snprintf(what, sizeof(what), "resize volume '%s'", uuid);
	return oc_patch(oc, &volume_kind, uuid, NULL, NULL, what, body, deadline);
}

int ontap_volume_set_nas_path(struct ontap_client *oc, const char *uuid, const char *nas_path,
			      int64_t deadline)
{
	struct oc_write wr;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	if (!nas_path)
		nas_path = "";
	if (nas_path[0])
		oc_write_begin(&wr, "mount volume '%s' at '%s'", uuid, nas_path);
	else
		oc_write_begin(&wr, "unmount volume '%s'", uuid);
	oc_jw_ref(&wr.w, "nas", "path", nas_path);
	rc = oc_patch(oc, &volume_kind, uuid, NULL, NULL, wr.what, oc_write_end(&wr), deadline);
	oc_write_release(&wr);
	return rc;
}

int ontap_volume_delete(struct ontap_client *oc, const char *uuid, int64_t deadline)
{
	struct ontap_volume v;
	char what[300];
	int rc, force;

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	/* "If a volume is mounted, unmount the volume ... before deleting it" (§2.4). */
	rc = ontap_volume_get(oc, uuid, &v, deadline);
	if (rc < 0)
		return rc;
	force = oc_version_at_least(oc, 9, 12, 0, deadline);
	if (force < 0)
		return force;
	if (v.nas_path[0]) {
		rc = ontap_volume_set_nas_path(oc, uuid, "", deadline);
		if (rc < 0)
			return rc;
	}
	snprintf(what, sizeof(what), "delete volume '%s'", v.name[0] ? v.name : uuid);
	/*
	 * Without force=true a deleted volume waits in the recovery queue, a FlexClone there
	 * still holding its space and its parent's snapshot; the parameter exists from 9.12 on
	 * and older releases refuse it as unknown (§2.4, Additions).
	 */
	rc = delete_q(oc, &volume_kind, NULL, uuid, what, force ? "force" : NULL,
		      force ? "true" : NULL, deadline);
	if (rc == 0 && !force && !oc_dry(oc))
		log_warn("ONTAP '%s' runs %d.%d.%d (force=true needs 9.12): volume '%s' waits in the "
			 "recovery queue, keeping its space and any parent snapshot, until ONTAP "
			 "purges it ('volume recovery-queue purge' does it at once)",
			 ontap_client_name(oc), oc->version[0], oc->version[1], oc->version[2],
			 v.name[0] ? v.name : uuid);
	return rc;
}

int ontap_volume_flexclone(struct ontap_client *oc, const char *svm, const char *parent,
			   const char *parent_snapshot, const char *name, const char *nas_path,
			   struct ontap_volume *out, int64_t deadline)
{
	struct oc_write wr;
	struct json_writer *w = &wr.w;

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	oc_write_begin(&wr, "clone volume '%s'%s%s%s as '%s'", parent,
		       parent_snapshot ? " at snapshot '" : "", parent_snapshot ? parent_snapshot : "",
		       parent_snapshot ? "'" : "", name);
	jw_string(w, "name", name);
	if (svm)
		oc_jw_ref(w, "svm", "name", svm);
	jw_object_begin(w, "clone");
	jw_bool(w, "is_flexclone", true);
	oc_jw_ref(w, "parent_volume", "name", parent);
	if (parent_snapshot)
		oc_jw_ref(w, "parent_snapshot", "name", parent_snapshot);
	jw_object_end(w);
	if (nas_path)
		oc_jw_ref(w, "nas", "path", nas_path);
	return volume_post(oc, svm, name, nas_path, &wr, out, deadline);
}

int ontap_volume_restore(struct ontap_client *oc, const char *uuid, const char *snapshot,
			 int64_t deadline)
{
	char what[400];

	deadline = oc_deadline(deadline, OC_DEADLINE_LONG_MS);
	snprintf(what, sizeof(what), "restore volume '%s' to snapshot '%s'", uuid, snapshot);
	/* The restore target is a query parameter of PATCH (§2.4); no other change with it. */
	return oc_patch(oc, &volume_kind, uuid, "restore_to.snapshot.name", snapshot, what, "{}",
			deadline);
}

/* ---- snapshots ---- */

#define SNAP_FIELDS "uuid,name,create_time,comment,snapmirror_label"

static bool snapshot_parse(const struct json_doc *d, int tok, void *out)
{
	struct ontap_snapshot *s = out;

	memset(s, 0, sizeof(*s));
	oc_jstr(d, tok, "uuid", s->uuid, sizeof(s->uuid));
	oc_jstr(d, tok, "name", s->name, sizeof(s->name));
	oc_jstr(d, tok, "comment", s->comment, sizeof(s->comment));
	oc_jstr(d, tok, "snapmirror_label", s->label, sizeof(s->label));
	s->create_time = oc_jtime(d, tok, "create_time");
	return true;
}

static int snapshot_cmp(const void *a, const void *b)
{
	const struct ontap_snapshot *x = a, *y = b;

	return oc_cmp_time_name(x->create_time, x->name, y->create_time, y->name);
}

/* "already exists" for a snapshot name: success (the call is idempotent). */
static const char *const snapshot_dup_codes[] = { "1", "525059", NULL };

static const struct oc_kind snapshot_kind = {
	.what = "snapshot",
	.plural = "snapshots",
	.owner = "volume",
	.path = "/api/storage/volumes",
	.sub = "/snapshots",
	.fields = SNAP_FIELDS,
	.size = sizeof(struct ontap_snapshot),
	.parse = snapshot_parse,
	.cmp = snapshot_cmp,
	.create_recheck = oc_exists,
	.create_ok = snapshot_dup_codes,
	.gone_fields = "uuid,name",
	.gone_what = "read snapshot",
};

int ontap_snapshot_list(struct ontap_client *oc, const char *vol_uuid, const char *name_pattern,
			struct ontap_snapshot **out, int *n, int64_t deadline)
{
	struct oc_where w = { .parent = vol_uuid, .val = name_pattern };

	return oc_list(oc, &snapshot_kind, &w, NULL, out, n, deadline);
}

int ontap_snapshot_find(struct ontap_client *oc, const char *vol_uuid, const char *name,
			struct ontap_snapshot *out, int64_t deadline)
{
	struct oc_where w = { .parent = vol_uuid, .val = name };

	return oc_find(oc, &snapshot_kind, &w, NULL, out, deadline);
}

int ontap_snapshot_create(struct ontap_client *oc, const char *vol_uuid, const char *name,
			  const char *comment, const char *label, int64_t deadline)
{
	struct oc_write wr;
	int rc;

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	oc_write_begin(&wr, "create snapshot '%s' on volume '%s'", name, vol_uuid);
	jw_string(&wr.w, "name", name);
	if (comment)
		jw_string(&wr.w, "comment", comment);
	if (label)
		jw_string(&wr.w, "snapmirror_label", label);
	rc = oc_create(oc, &snapshot_kind, vol_uuid, NULL, name, wr.what, oc_write_end(&wr), NULL,
		       deadline);
	oc_write_release(&wr);
	return rc;
}

int ontap_snapshot_delete(struct ontap_client *oc, const char *vol_uuid, const char *snap_uuid,
			  int64_t deadline)
{
	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	return oc_delete(oc, &snapshot_kind, vol_uuid, snap_uuid, NULL, deadline);
}

/* ---- files ---- */

static bool file_parse(const struct json_doc *d, int tok, void *out)
{
	struct ontap_file *f = out;

	memset(f, 0, sizeof(*f));
	oc_jstr(d, tok, "name", f->name, sizeof(f->name));
	if (!f->name[0] || strcmp(f->name, ".") == 0 || strcmp(f->name, "..") == 0)
		return false;
	oc_jstr(d, tok, "type", f->type, sizeof(f->type));
	f->size = oc_ju64(d, tok, "size");
	f->creation_time = oc_jtime(d, tok, "creation_time");
	return true;
}

/* A file or directory: /api/storage/volumes/{vol}/files/{relpath as one segment} (§2.7). */
static const struct oc_kind file_kind = {
	.what = "file",
	.plural = "files",
	.owner = "volume",
	.path = "/api/storage/volumes",
	.sub = "/files",
	.fields = "name,type,size,creation_time",
	.size = sizeof(struct ontap_file),
	.parse = file_parse,
	.inline_writes = true, /* directories; the file batch adds its own return_timeout */
};

static const char *file_seg(const char *relpath)
{
	return relpath && relpath[0] ? relpath : ".";
}

/* One request of a parallel batch, with its URL and body kept alive. */
struct batch_item {
	struct oc_url url;
	struct buf body;
	char job[64];
	bool pending;
};

static const char *const file_gone_codes[] = { "6684674", "4", NULL };

static void op_fail(struct ontap_file_op *op, int rc)
{
	op->rc = rc;
	util_strlcpy(op->err, err_msg(), sizeof(op->err));
}

/* The op failed, but ONTAP may have done it or may still do it (job: "" when unknown). */
static void op_unknown(struct ontap_file_op *op, int rc, const char *job)
{
	op_fail(op, rc);
	op->maybe = true;
	util_strlcpy(op->job, job ? job : "", sizeof(op->job)); /* same size: cannot be cut */
}

/* What a poll of the job of item/op is about, for messages: "clone 'a' to 'b'". */
static void poll_what(char *what, size_t n, const char *verb, const struct ontap_file_op *op)
{
	if (op->src)
		snprintf(what, n, "%s '%s' to '%s'", verb, op->src, op->dst);
	else
		snprintf(what, n, "%s '%s'", verb, op->dst);
}

/* One poll answer for item/op: the job ended (pending cleared, op->rc set) or goes on. */
static void poll_answer(struct ontap_client *oc, struct batch_item *item,
			struct ontap_file_op *op, const struct http_request *rq,
			struct http_response *rs, const char *verb, bool gone_ok, int64_t start,
			int64_t deadline)
{
	struct json_doc d = { 0 };
	char what[700];
	int rc;

	poll_what(what, sizeof(what), verb, op);
	if (rs->rc < 0 || (rs->status >= 500 && !util_deadline_passed(deadline))) {
		/* Transport trouble or a 5xx on a poll: try again next round. */
		if (util_deadline_passed(deadline)) {
			item->pending = false;
			op_unknown(op, still_running(item->job, what, start), item->job);
		}
		return;
	}
	if (rs->status == 404) {
		item->pending = false;
		op_unknown(op, err_set(POE_API,
				       "cannot %s: ONTAP job %s vanished before it was seen to finish; outcome unknown",
				       what, item->job), NULL);
		return;
	}
	if (rs->status >= 400) {
		item->pending = false;
		/* an error reading the job says nothing about the job itself */
		op_unknown(op, http_error(oc, "read ONTAP job", rs), item->job);
		return;
	}
	rc = parse_answer(oc, "GET", rq->path, rs, &d);
	if (rc == 0)
		rc = job_eval(oc, &d, item->job, what);
	json_free(&d);
	if (rc == 1) {
		if (util_deadline_left(deadline) <= 0) {
			item->pending = false;
			op_unknown(op, still_running(item->job, what, start), item->job);
		}
		return;
	}
	item->pending = false;
	if (rc < 0 && gone_ok && oc_last_code_in(oc, file_gone_codes))
		rc = 0;
	if (rc < 0) {
		op_fail(op, rc);
	} else {
		op->rc = 0;
		op->err[0] = '\0';
	}
}

/* The deadline passed: every job still pending has an unknown outcome. */
static void poll_give_up(struct batch_item *items, struct ontap_file_op *ops, int n,
			 const char *verb, int64_t start)
{
	for (int i = 0; i < n; i++) {
		char what[700];

		if (!items[i].pending)
			continue;
		snprintf(what, sizeof(what), "%s '%s'", verb, ops[i].dst);
		items[i].pending = false;
		op_unknown(&ops[i], still_running(items[i].job, what, start), items[i].job);
	}
}

/*
 * Poll the jobs of ops[i] with items[i].pending, all of a round in parallel, until each ends
 * or the deadline passes (then its op->maybe says the outcome is unknown).
 */
static void batch_poll(struct ontap_client *oc, struct batch_item *items,
		       struct ontap_file_op *ops, int n, const char *verb, bool gone_ok,
		       int64_t start, int64_t deadline)
{
	struct http_request *rq = util_xcalloc((size_t)n, sizeof(*rq));
	struct http_response *rs = util_xcalloc((size_t)n, sizeof(*rs));
	struct oc_url *urls = util_xcalloc((size_t)n, sizeof(*urls));
	int *idx = util_xcalloc((size_t)n, sizeof(*idx));
	int64_t delay = POLL_FIRST_MS;

	for (;;) {
		int64_t left;
		int m = 0;

		for (int i = 0; i < n; i++) {
			if (!items[i].pending)
				continue;
			oc_url_init(&urls[m]);
			job_url(&urls[m], items[i].job);
			rq[m] = (struct http_request){
				.method = "GET",
				.path = oc_url_str(&urls[m]) ? buf_cstr(&urls[m].b) : "/",
				.deadline_ms = deadline,
			};
			http_response_init(&rs[m]);
			idx[m++] = i;
		}
		if (m == 0)
			break;
		oc->requests += (unsigned long)m;
		http_perform_many(oc->http, rq, rs, m);
		for (int k = 0; k < m; k++) {
			poll_answer(oc, &items[idx[k]], &ops[idx[k]], &rq[k], &rs[k], verb, gone_ok,
				    start, deadline);
			http_response_release(&rs[k]);
			oc_url_release(&urls[k]);
		}
		m = 0;
		for (int i = 0; i < n; i++)
			m += items[i].pending;
		if (!m)
			break; /* no sleep after the last job ended */
		left = util_deadline_left(deadline);
		if (left <= 0) {
			poll_give_up(items, ops, n, verb, start);
			break;
		}
		util_sleep_ms(delay < left ? delay : left, 0);
		delay = delay * 3 / 2;
		if (delay > POLL_MAX_MS)
			delay = POLL_MAX_MS;
	}
	free(rq);
	free(rs);
	free(urls);
	free(idx);
}

/* Summary of a batch: 0, or the first failure with "cannot <verb> N of M files: <first>". */
static int batch_result(const struct ontap_file_op *ops, int n, const char *verb)
{
	int failed = 0, first = -1;

	for (int i = 0; i < n; i++) {
		if (ops[i].rc < 0) {
			failed++;
			if (first < 0)
				first = i;
		}
	}
	if (!failed)
		return 0;
	if (n == 1)
		return err_set(ops[first].rc, "%s", ops[first].err);
	return err_set(ops[first].rc, "cannot %s %d of %d files: %s", verb, failed, n,
		       ops[first].err);
}

/* Request i of a batch (URL and body kept in item); 0 or POE_FAIL. kind 0 clone, 1 delete. */
static int batch_request(const struct ontap_volume *vol, struct ontap_file_op *op,
			 struct batch_item *item, struct http_request *rq, int kind,
			 int64_t deadline)
{
	struct oc_url *u = &item->url;

	op->rc = 0;
	op->err[0] = '\0';
	op->maybe = false;
	op->job[0] = '\0';
	if (kind == 0) {
		struct json_writer w;

		oc_url_put(u, "/api/storage/file/clone");
		oc_url_return_timeout(u, deadline);
		jw_init(&w, &item->body, 0);
		jw_object_begin(&w, NULL);
		/* Both name and uuid: 9.10-9.13 want the name as well (§2.6). */
		jw_object_begin(&w, "volume");
		jw_string(&w, "name", vol->name);
		jw_string(&w, "uuid", vol->uuid);
		jw_object_end(&w);
		jw_string(&w, "source_path", op->src);
		jw_string(&w, "destination_path", op->dst);
		jw_bool(&w, "overwrite_destination", op->overwrite);
		jw_object_end(&w);
		if (!oc_body(&w, &item->body))
			return POE_FAIL;
	} else {
		oc_kind_url(u, &file_kind, vol->uuid, file_seg(op->dst));
		oc_url_return_timeout(u, deadline);
	}
	if (!oc_url_str(u))
		return POE_FAIL;
	*rq = (struct http_request){
		.method = kind == 0 ? "POST" : "DELETE",
		.path = buf_cstr(&u->b),
		.body = kind == 0 ? buf_cstr(&item->body) : NULL,
		.body_len = kind == 0 ? item->body.len : 0,
		.deadline_ms = deadline,
		/*
		 * a clone POST that may have reached ONTAP is never sent again; one that
		 * overwrites its destination (restore) does the same thing twice, so it may
		 * use a connection that is already open
		 */
		.once = kind == 0 && !op->overwrite,
	};
	return 0;
}

/* The first answer to request i: done, a job to poll (item->pending), or failed/unknown. */
static void batch_answer(struct ontap_client *oc, struct ontap_file_op *op,
			 struct batch_item *item, const struct http_request *rq,
			 struct http_response *rs, int kind, int64_t deadline)
{
	struct json_doc d = { 0 };
	char what[700];
	int r;

	if (kind == 0)
		snprintf(what, sizeof(what), "clone '%s' to '%s'", op->src, op->dst);
	else
		snprintf(what, sizeof(what), "delete '%s'", op->dst);
	if (rs->rc < 0 && kind == 1) {
		/* A DELETE may be sent again: do it alone, with retries. */
		struct oc_call c = {
			.method = "DELETE",
			.url = rq->path,
			.what = what,
			.flags = OC_IDEMPOTENT,
			.deadline = deadline,
		};

		r = oc_request(oc, &c, NULL);
		if (r < 0 && (r == POE_NOTFOUND || oc_last_code_in(oc, file_gone_codes)))
			r = 0;
		if (r < 0)
			op_fail(op, r);
		return;
	}
	if (rs->rc < 0) {
		/* A file clone POST may have reached ONTAP: never re-sent blindly. */
		op_unknown(op, err_set(rs->rc, "cannot %s: no answer from ONTAP '%s'%s", what,
				       oc->cfg->host,
				       rs->rc == POE_TIMEOUT ? " before the deadline" : ""),
			   NULL);
		return;
	}
	if (rs->status >= 400) {
		r = http_error(oc, what, rs);
		if (kind == 1 && (r == POE_NOTFOUND || oc_last_code_in(oc, file_gone_codes)))
			return; /* already gone */
		op_fail(op, r);
		return;
	}
	r = parse_answer(oc, rq->method, rq->path, rs, &d);
	if (r == 0) {
		oc_jstr(&d, 0, "job.uuid", item->job, sizeof(item->job));
		/*
		 * A job is followed whatever the status: 9.16 may answer 200/201 with a job
		 * that has not ended (Additions; Ansible's rest_generic polls any answer that
		 * carries job.uuid).
		 */
		item->pending = item->job[0] != '\0';
		if (rs->status == 202 && !item->job[0])
			r = err_set(POE_API, "invalid response from ONTAP '%s' (%s): 202 without a job",
				    oc->cfg->host, what);
	}
	json_free(&d);
	if (r < 0)
		op_fail(op, r);
}

/* Is dst (relative to the volume) there? Looked up in its directory's listing. */
static bool clone_exists(struct ontap_client *oc, const struct ontap_volume *vol, const char *dst,
			 int64_t deadline)
{
	const char *base = strrchr(dst, '/');
	struct ontap_file *files = NULL;
	char dir[512];
	bool found = false;
	int nfiles = 0;

	if (!base || (size_t)(base - dst) >= sizeof(dir))
		return false;
	snprintf(dir, sizeof(dir), "%.*s", (int)(base - dst), dst);
	if (ontap_dir_list(oc, vol->uuid, dir, &files, &nfiles, deadline) == 0)
		for (int f = 0; f < nfiles && !found; f++)
			found = strcmp(files[f].name, base + 1) == 0;
	free(files);
	err_clear();
	return found;
}

/*
 * Requests answered 503 (a busy cluster refuses work, ontap-rest.md §4) are sent again
 * after a jittered backoff, up to RETRY_TRIES in all, so a node-wide burst does not fail
 * in lockstep. A clone is first looked up by name: one that exists is done, never cloned
 * twice. A DELETE may simply be sent again.
 */
static void batch_retry_busy(struct ontap_client *oc, const struct ontap_volume *vol,
			     struct ontap_file_op *ops, struct batch_item *items,
			     const struct http_request *rq, struct http_response *rs, int n,
			     int kind, int64_t deadline)
{
	struct http_request *rq2 = util_xcalloc((size_t)n, sizeof(*rq2));
	struct http_response *rs2 = util_xcalloc((size_t)n, sizeof(*rs2));
	int *idx = util_xcalloc((size_t)n, sizeof(*idx));
	int64_t backoff = RETRY_FIRST_MS;

	for (int attempt = 1; attempt < RETRY_TRIES; attempt++) {
		int k = 0;

		for (int i = 0; i < n; i++)
			if (rs[i].status == 503 && ops[i].rc < 0 && !ops[i].maybe)
				idx[k++] = i;
		if (!k || util_sleep_ms(util_jitter_ms(backoff), deadline) < 0)
			break;
		backoff = backoff * 14 / 10;
		for (int j = 0; j < k; j++) {
			int i = idx[j];

			ops[i].rc = 0;
			ops[i].err[0] = '\0';
			rs[i].status = 0;
			if (kind == 0 && clone_exists(oc, vol, ops[i].dst, deadline)) {
				idx[j--] = idx[--k]; /* done while refused: nothing to send */
				continue;
			}
		}
		for (int j = 0; j < k; j++) {
			rq2[j] = rq[idx[j]];
			http_response_init(&rs2[j]);
		}
		oc->requests += (unsigned long)k;
		http_perform_many(oc->http, rq2, rs2, k);
		for (int j = 0; j < k; j++) {
			int i = idx[j];

			batch_answer(oc, &ops[i], &items[i], &rq[i], &rs2[j], kind, deadline);
			rs[i].status = rs2[j].status;
			http_response_release(&rs2[j]);
		}
	}
	free(idx);
	free(rs2);
	free(rq2);
}

/*
 * Send a batch (one http_perform_many), then evaluate: 2xx without a job done, 202/2xx with a
 * job polled in parallel. kind 0 = clone, 1 = delete.
 */
static int file_batch(struct ontap_client *oc, const struct ontap_volume *vol,
		      struct ontap_file_op *ops, int n, int kind, int64_t deadline)
{
	const char *verb = kind == 0 ? "clone" : "delete";
	struct batch_item *items = NULL;
	struct http_request *rq = NULL;
	struct http_response *rs = NULL;
	int64_t start = util_now_ms();
	int rc = 0;

	if (n <= 0)
		return 0;
	items = util_xcalloc((size_t)n, sizeof(*items));
	rq = util_xcalloc((size_t)n, sizeof(*rq));
	rs = util_xcalloc((size_t)n, sizeof(*rs));
	for (int i = 0; i < n; i++) {
		oc_url_init(&items[i].url);
		buf_init(&items[i].body, OC_MAX_BODY);
		http_response_init(&rs[i]);
	}
	for (int i = 0; i < n && rc == 0; i++)
		rc = batch_request(vol, &ops[i], &items[i], &rq[i], kind, deadline);
	if (rc < 0)
		goto out;

	last_error_clear(oc);
	if (oc_dry(oc)) {
		for (int i = 0; i < n && rc == 0; i++)
			rc = buf_printf(oc->dry_log, "%s %s%s%s\n", rq[i].method, rq[i].path,
					rq[i].body ? " " : "", rq[i].body ? rq[i].body : "");
		goto out;
	}

	oc->requests += (unsigned long)n;
	http_perform_many(oc->http, rq, rs, n);
	for (int i = 0; i < n; i++)
		batch_answer(oc, &ops[i], &items[i], &rq[i], &rs[i], kind, deadline);
	batch_retry_busy(oc, vol, ops, items, rq, rs, n, kind, deadline);
	batch_poll(oc, items, ops, n, verb, kind == 1, start, deadline);
	rc = batch_result(ops, n, verb);
out:
	for (int i = 0; i < n; i++) {
		oc_url_release(&items[i].url);
		buf_release(&items[i].body);
		http_response_release(&rs[i]);
	}
	free(items);
	free(rq);
	free(rs);
	return rc;
}

int ontap_file_clone_many(struct ontap_client *oc, const struct ontap_volume *vol,
			  struct ontap_file_op *ops, int n, int64_t deadline)
{
	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	return file_batch(oc, vol, ops, n, 0, deadline);
}

int ontap_file_clone_wait(struct ontap_client *oc, struct ontap_file_op *ops, int n,
			  int64_t deadline)
{
	struct batch_item *items;
	int waiting = 0, rc = 0;

	if (n <= 0 || oc_dry(oc))
		return 0;
	items = util_xcalloc((size_t)n, sizeof(*items));
	for (int i = 0; i < n; i++) {
		if (!ops[i].maybe || !ops[i].job[0])
			continue;
		util_strlcpy(items[i].job, ops[i].job, sizeof(items[i].job)); /* same size */
		items[i].pending = true;
		ops[i].maybe = false;
		waiting++;
	}
	if (waiting)
		batch_poll(oc, items, ops, n, "clone", false, util_now_ms(), deadline);
	for (int i = 0; i < n; i++)
		if (items[i].pending || (ops[i].maybe && ops[i].job[0]))
			rc = POE_TIMEOUT;
	free(items);
	return rc;
}

int ontap_file_delete_many(struct ontap_client *oc, const struct ontap_volume *vol,
			   struct ontap_file_op *ops, int n, int64_t deadline)
{
	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	return file_batch(oc, vol, ops, n, 1, deadline);
}

int ontap_dir_list(struct ontap_client *oc, const char *vol_uuid, const char *relpath,
		   struct ontap_file **out, int *n, int64_t deadline)
{
	struct oc_where w = { .parent = vol_uuid, .uuid = file_seg(relpath) };
	char *what = util_xasprintf("list directory '%s' of volume '%s'", relpath, vol_uuid);
	int rc = oc_list(oc, &file_kind, &w, what, out, n, deadline);

	free(what);
	return rc;
}

int ontap_dir_create(struct ontap_client *oc, const char *vol_uuid, const char *relpath,
		     int64_t deadline)
{
	static const char *const exists[] = { "6488118", NULL };
	char what[400];

	deadline = oc_deadline(deadline, OC_DEADLINE_SHORT_MS);
	snprintf(what, sizeof(what), "create directory '%s' in volume '%s'", relpath, vol_uuid);
	{
		/* Creating a directory twice changes nothing: safe to re-send. */
		struct oc_send s = {
			.kind = &file_kind,
			.method = "POST",
			.parent = vol_uuid,
			.uuid = file_seg(relpath),
			.body = "{\"type\":\"directory\",\"unix_permissions\":755}",
			.what = what,
			.flags = OC_IDEMPOTENT,
			.ok_codes = exists,
		};

		return oc_send(oc, &s, deadline);
	}
}
