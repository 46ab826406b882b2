/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "net/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "base/err.h"
#include "base/log.h"
#include "net/netlib.h"
#include "base/util.h"

#ifndef PVE_ONTAP_VERSION
#define PVE_ONTAP_VERSION "0"
#endif

#define HTTP_DEFAULT_CONNECT_MS 10000L
#define HTTP_DEFAULT_REQUEST_MS 60000L
#define HTTP_DEFAULT_MAX_BODY ((size_t)16 << 20)
#define HTTP_DEFAULT_PARALLEL 8
/* an at-most-once request reuses a connection that answered this recently, else opens one */
#define HTTP_FRESH_REUSE_MS 2000
#define HTTP_PARALLEL_CAP 64
#define HTTP_MAX_RETRIES 2
#define HTTP_POLL_MS 1000
#define FP_LEN 32

/* Backoff before retry 1 and 2 (ms). */
static const int64_t retry_backoff_ms[HTTP_MAX_RETRIES] = { 200, 600 };

struct http_client;

/* One easy handle of the client's pool and the state of the transfer it carries. */
struct slot {
	CURL *easy;
	struct http_client *c;
	bool busy;
	char errbuf[CURL_ERROR_SIZE];
	struct http_response *rs;
	bool too_big;         /* body over opts.max_body */
	bool header_too_long; /* reason phrase or Location over its field */
	bool got_header;      /* a status line arrived */
	bool pin_mismatch;    /* the pinned-fingerprint check rejected the leaf */
	const char *up;       /* body of an at-most-once request, sent by on_upload() */
	size_t up_len, up_off;
};

struct http_client {
	char *base;      /* base URL without trailing slash */
	char *host;      /* authority of base, for messages */
	bool verify;
	char *ca_file;
	bool pinned;
	unsigned char pin[FP_LEN];
	bool seen_leaf;             /* a pinned handshake saw this leaf (doctor shows it) */
	unsigned char leaf[FP_LEN];
	char *user;
	char *password;
	char *auth_header;
	char *user_agent;
	long connect_ms;
	long request_ms;
	size_t max_body;
	int max_parallel;
	/*
	 * Every transfer runs through this multi handle, so its connection cache is the one
	 * place idle keep-alive connections live: sequential requests and the parallel
	 * batches of http_perform_many() all reuse them.
	 */
	CURLM *multi;
	struct slot *slots;
	int opened;      /* most transfers run at once so far: connections in the cache */
	int64_t last_answer; /* monotonic ms of the last answer on this client's connections */
	int warm;        /* connections the next parallel round will want (http_client_warm) */
	pthread_mutex_t lock; /* a multi handle must not be driven by two threads at once */
};

enum job_state { JOB_PENDING, JOB_RUNNING, JOB_DONE };

struct job {
	const struct http_request *rq;
	struct http_response *rs;
	enum job_state state;
	int retries;
	int64_t not_before; /* backoff: do not start before this monotonic time */
	int64_t deadline;   /* util_deadline_min(rq->deadline_ms) (may be an own one) */
	struct slot *slot;
	struct curl_slist *headers;
	char *url;
	int64_t started;
	char msg[512];      /* error message when rs->rc < 0 */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
	global_rc = netlib.global_init(CURL_GLOBAL_DEFAULT);
}

static void secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static char *xstrdup_or_null(const char *s)
{
	return s ? util_xstrdup(s) : NULL;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int http_parse_fingerprint(const char *s, unsigned char out[32])
{
	int n = 0;

	if (!s)
		return POE_FAIL;
	while (*s) {
		int hi, lo;

		if (n > 0 && *s == ':')
			s++;
		if (n >= FP_LEN)
			return POE_FAIL;
		hi = hexval((unsigned char)s[0]);
		if (hi < 0)
			return POE_FAIL;
		lo = hexval((unsigned char)s[1]);
		if (lo < 0)
			return POE_FAIL;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return n == FP_LEN ? 0 : POE_FAIL;
}

/* "https://user@host:443/x" -> "host:443" (never the user part). */
static char *authority_of(const char *url)
{
	const char *p = strstr(url, "://");
	const char *end, *at;

	p = p ? p + 3 : url;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	return util_xasprintf("%.*s", (int)(end - p), p);
}

static bool has_line_break(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

static http_fake_fn fake_fn;
static void *fake_arg;

void http_set_fake_transport(http_fake_fn fn, void *arg)
{
	fake_fn = fn;
	fake_arg = arg;
}

struct http_client *http_client_new(const struct http_opts *opts)
{
	struct http_client *c = NULL;
	size_t len;

	if (!opts || !opts->base_url || !*opts->base_url) {
		err_set(POE_FAIL, "no base URL for the HTTP client");
		return NULL;
	}
	if (strncmp(opts->base_url, "https://", 8) && strncmp(opts->base_url, "http://", 7)) {
		err_set(POE_CONFIG, "URL '%s' is neither https:// nor http://", opts->base_url);
		return NULL;
	}
	if (has_line_break(opts->auth_header) || has_line_break(opts->user_agent)) {
		err_set(POE_FAIL, "header line for '%s' contains a line break", opts->base_url);
		return NULL;
	}
	/* libcurl is loaded here, not at exec: see netlib.h. */
	if (!fake_fn && netlib_load() < 0)
		return NULL;
	if (!fake_fn)
		pthread_once(&global_once, global_init);
	if (!fake_fn && global_rc != CURLE_OK) {
		err_set(POE_FAIL, "cannot initialise libcurl: %s", netlib.easy_strerror(global_rc));
		return NULL;
	}

	c = util_xcalloc(1, sizeof(*c));
	/* from here on http_client_free() can take a half-built client */
	pthread_mutex_init(&c->lock, NULL);
	c->base = util_xstrdup(opts->base_url);
	len = strlen(c->base);
	while (len > 0 && c->base[len - 1] == '/')
		c->base[--len] = '\0';
	c->host = authority_of(c->base);
	if (opts->fingerprint && *opts->fingerprint) {
		if (http_parse_fingerprint(opts->fingerprint, c->pin) < 0) {
			err_set(POE_CONFIG,
				"invalid fingerprint for '%s': expected 32 hex pairs (AA:BB:...)",
				c->host);
			goto fail;
		}
		c->pinned = true;
	}
	c->verify = opts->verify;
	c->ca_file = xstrdup_or_null(opts->ca_file);
	c->user = xstrdup_or_null(opts->user);
	c->password = xstrdup_or_null(opts->password);
	c->auth_header = xstrdup_or_null(opts->auth_header);
	c->user_agent = xstrdup_or_null(opts->user_agent);
	c->connect_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
						      : HTTP_DEFAULT_CONNECT_MS;
	c->request_ms = opts->request_timeout_ms > 0 ? opts->request_timeout_ms
						      : HTTP_DEFAULT_REQUEST_MS;
	c->max_body = opts->max_body > 0 ? opts->max_body : HTTP_DEFAULT_MAX_BODY;
	c->max_parallel = opts->max_parallel > 0 ? opts->max_parallel : HTTP_DEFAULT_PARALLEL;
	if (c->max_parallel > HTTP_PARALLEL_CAP)
		c->max_parallel = HTTP_PARALLEL_CAP;
	c->slots = util_xcalloc((size_t)c->max_parallel, sizeof(*c->slots));
	for (int i = 0; i < c->max_parallel; i++)
		c->slots[i].c = c;
	if (fake_fn)
		return c;
	c->multi = netlib.multi_init();
	if (!c->multi) {
		err_set(POE_FAIL, "cannot create a curl multi handle");
		goto fail;
	}
	/* HTTP/1.1, one request per connection at a time; keep as many idle as we use. */
	netlib.multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	netlib.multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->max_parallel);
	if (!c->verify && !c->pinned)
		log_debug("TLS verification of '%s' is off", c->host);
	return c;
fail:
	http_client_free(c);
	return NULL;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	/* Closes the cached connections; no easy handle is attached between calls. */
	if (c->multi)
		netlib.multi_cleanup(c->multi);
	for (int i = 0; i < c->max_parallel; i++)
		if (c->slots[i].easy)
			netlib.easy_cleanup(c->slots[i].easy);
	pthread_mutex_destroy(&c->lock);
	free(c->slots);
	free(c->ca_file);
	free(c->user);
	secret_free(c->password);
	secret_free(c->auth_header);
	free(c->user_agent);
	free(c->host);
	free(c->base);
	free(c);
}

const char *http_client_base(const struct http_client *c)
{
	return c->base;
}

void http_response_init(struct http_response *r)
{
	r->status = 0;
	r->reason[0] = '\0';
	buf_init(&r->body, HTTP_DEFAULT_MAX_BODY);
	r->location[0] = '\0';
	r->rc = 0;
	r->permanent = false;
}

void http_response_release(struct http_response *r)
{
	buf_release(&r->body);
	r->status = 0;
	r->reason[0] = '\0';
	r->location[0] = '\0';
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct slot *s = ud;
	struct buf *b = &s->rs->body;
	size_t n = size * nmemb;

	/* Returning less than n makes curl abort the transfer with CURLE_WRITE_ERROR. */
	if (n > s->c->max_body || b->len > s->c->max_body - n) {
		s->too_big = true;
		return 0;
	}
	if (buf_append(b, p, n) < 0) {
		s->too_big = true;
		return 0;
	}
	return n;
}

/* Copy [p, p+n) without surrounding blanks into dst; false when it does not fit. */
static bool copy_trimmed(char *dst, size_t dstsz, const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' ' ||
			 p[n - 1] == '\t'))
		n--;
	if (n >= dstsz)
		return false;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return true;
}

/*
 * Header lines arrive one at a time, not NUL-terminated, exactly as received: every read
 * below stays within [p, p + n).
 */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct slot *s = ud;
	struct http_response *rs = s->rs;
	size_t n = size * nmemb;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		const char *sp, *end = p + n;

		/* A new status line (after a 1xx): forget what the previous one said. */
		s->got_header = true;
		rs->reason[0] = '\0';
		rs->location[0] = '\0';
		sp = memchr(p, ' ', n);
		if (sp) {
			sp++;
			while (sp < end && isdigit((unsigned char)*sp))
				sp++;
			if (sp < end && !copy_trimmed(rs->reason, sizeof(rs->reason), sp,
						      (size_t)(end - sp))) {
				s->header_too_long = true;
				return 0;
			}
		}
	} else if (n >= 9 && strncasecmp(p, "location:", 9) == 0) {
		if (!copy_trimmed(rs->location, sizeof(rs->location), p + 9, n - 9)) {
			s->header_too_long = true;
			return 0;
		}
	}
	return n;
}

/*
 * Pinned mode: replace OpenSSL's chain verification by a comparison of the leaf
 * certificate's SHA-256 with the pin, as Proxmox's own clients do (pve.md 2.5). This runs
 * inside the handshake, so a wrong certificate never sees a byte of the request. The
 * cert_verify_callback (rather than a per-depth verify callback) sees the leaf exactly
 * once, whatever errors chain building would have reported.
 */
static int pin_verify(X509_STORE_CTX *x, void *arg)
{
	struct slot *s = arg;
	X509 *leaf = netlib.x509_store_ctx_get0_cert(x);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (leaf && netlib.x509_digest(leaf, netlib.evp_sha256(), md, &mdlen) == 1 &&
	    mdlen == FP_LEN) {
		memcpy(s->c->leaf, md, FP_LEN);
		s->c->seen_leaf = true;
	}
	if (s->c->seen_leaf && netlib.crypto_memcmp(s->c->leaf, s->c->pin, FP_LEN) == 0) {
		netlib.x509_store_ctx_set_error(x, X509_V_OK);
		return 1;
	}
	s->pin_mismatch = true;
	netlib.x509_store_ctx_set_error(x, X509_V_ERR_CERT_REJECTED);
	return 0;
}

static CURLcode pin_ctx(CURL *easy, void *sslctx, void *arg)
{
	(void)easy;
	/* curl set SSL_VERIFY_NONE (verifypeer off); PEER makes our failure fatal. */
	netlib.ssl_ctx_set_verify(sslctx, SSL_VERIFY_PEER, NULL);
	netlib.ssl_ctx_set_cert_verify_callback(sslctx, pin_verify, arg);
	return CURLE_OK;
}

static bool method_ok(const char *m)
{
	if (!m || !*m || strlen(m) > 16)
		return false;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return true;
}

static struct slot *slot_get(struct http_client *c)
{
	for (int i = 0; i < c->max_parallel; i++) {
		struct slot *s = &c->slots[i];

		if (s->busy)
			continue;
		if (!s->easy) {
			s->easy = netlib.easy_init();
			if (!s->easy)
				return NULL;
		}
		s->busy = true;
		return s;
	}
	return NULL;
}

static void job_reset_response(struct job *j)
{
	struct http_response *rs = j->rs;

	rs->status = 0;
	rs->reason[0] = '\0';
	rs->location[0] = '\0';
	buf_reset(&rs->body);
	rs->body.max = j->slot ? j->slot->c->max_body : rs->body.max;
}

static void job_cleanup(struct job *j)
{
	netlib.slist_free_all(j->headers);
	j->headers = NULL;
	free(j->url);
	j->url = NULL;
}

static int job_fail(struct job *j, int rc)
{
	util_strlcpy(j->msg, err_msg(), sizeof(j->msg));
	j->rs->rc = rc;
	j->state = JOB_DONE;
	return rc;
}

static int add_header(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = netlib.slist_append(*l, line);

	if (!n)
		return err_set(POE_FAIL, "out of memory");
	*l = n;
	return 0;
}

static int build_headers(struct http_client *c, const struct http_request *rq,
			 struct curl_slist **out)
{
	struct curl_slist *l = NULL;
	char ct[256];
	int rc;

	/* Expect: empty keeps curl from waiting for a 100 Continue on larger bodies. */
	rc = add_header(&l, "Accept: application/json");
	if (!rc)
		rc = add_header(&l, "Expect:");
	if (!rc && rq->body) {
		snprintf(ct, sizeof(ct), "Content-Type: %s",
			 rq->content_type ? rq->content_type : "application/json");
		rc = add_header(&l, ct);
	}
	if (!rc && c->auth_header)
		rc = add_header(&l, c->auth_header);
	if (!rc && c->user_agent)
		rc = add_header(&l, c->user_agent);
	if (!rc && rq->extra_header)
		rc = add_header(&l, rq->extra_header);
	if (rc < 0) {
		netlib.slist_free_all(l);
		return rc;
	}
	*out = l;
	return 0;
}

/* The body of an at-most-once request, handed to libcurl as it asks for it. */
static size_t on_upload(char *buf, size_t size, size_t nitems, void *ud)
{
	struct slot *s = ud;
	size_t n = size * nitems, left = s->up_len - s->up_off;

	if (n > left)
		n = left;
	memcpy(buf, s->up + s->up_off, n);
	s->up_off += n;
	return n;
}

/*
 * libcurl rewinds the body only to send the request again, which it does by itself when a
 * reused connection answers nothing, and that is also what a server that acted and then lost
 * the connection looks like: an at-most-once request refuses, and the transfer fails
 * (CURLE_SEND_FAIL_REWIND) as "no answer" for the caller to look its result up.
 */
static int on_upload_seek(void *ud, curl_off_t offset, int origin)
{
	struct slot *s = ud;

	if (offset == 0 && origin == SEEK_SET && s->up_off == 0)
		return CURL_SEEKFUNC_OK;
	return CURL_SEEKFUNC_FAIL;
}

/*
 * The value is passed through varargs (curl's typecheck-gcc.h does not apply to a call
 * through a pointer): every value below has exactly the option's type (long, curl_off_t,
 * a pointer or a callback).
 */
#define SETOPT(e, opt, val)                                                          \
	do {                                                                         \
		if (netlib.easy_setopt((e), (opt), (val)) != CURLE_OK)               \
			return err_set(POE_FAIL, "cannot set curl option %s", #opt); \
	} while (0)

static int setup_easy(struct http_client *c, struct job *j, int64_t timeout_ms)
{
	const struct http_request *rq = j->rq;
	struct slot *s = j->slot;
	CURL *e = s->easy;
	int rc;

	/* Keeps the connection cache and TLS sessions, drops every option of the last use. */
	netlib.easy_reset(e);
	s->errbuf[0] = '\0';
	s->rs = j->rs;
	s->too_big = false;
	s->header_too_long = false;
	s->got_header = false;
	s->pin_mismatch = false;

	rc = build_headers(c, rq, &j->headers);
	if (rc < 0)
		return rc;
	j->url = util_xasprintf("%s%s", c->base, rq->path);

	SETOPT(e, CURLOPT_URL, j->url);
	SETOPT(e, CURLOPT_PRIVATE, (void *)j);
	SETOPT(e, CURLOPT_ERRORBUFFER, s->errbuf);
	SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	/*
	 * An at-most-once request (a POST that creates) never goes twice (on_upload_seek); it
	 * takes a connection that answered moments ago, else opens one (an idle one may have
	 * been closed by the server, and the request would fail for nothing).
	 */
	if (rq->once && util_now_ms() - c->last_answer > HTTP_FRESH_REUSE_MS)
		SETOPT(e, CURLOPT_FRESH_CONNECT, 1L);
	SETOPT(e, CURLOPT_PROTOCOLS_STR, "https,http");
	SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "https,http");
	/* Never follow a redirect: Basic credentials or a token must not go elsewhere. */
	SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* Management traffic goes direct: a proxy configured for apt must not see it. */
	SETOPT(e, CURLOPT_PROXY, "");
	SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	SETOPT(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(e, CURLOPT_WRITEDATA, (void *)s);
	SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(e, CURLOPT_HEADERDATA, (void *)s);
	SETOPT(e, CURLOPT_HTTPHEADER, j->headers);
	SETOPT(e, CURLOPT_USERAGENT, "pve-ontap/" PVE_ONTAP_VERSION);

	if (c->pinned) {
		/* The pin replaces chain and host name checks (see pin_verify()). */
		SETOPT(e, CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(e, CURLOPT_SSL_VERIFYHOST, 0L);
		SETOPT(e, CURLOPT_SSL_CTX_FUNCTION, pin_ctx);
		SETOPT(e, CURLOPT_SSL_CTX_DATA, (void *)s);
	} else {
		SETOPT(e, CURLOPT_SSL_VERIFYPEER, c->verify ? 1L : 0L);
		SETOPT(e, CURLOPT_SSL_VERIFYHOST, c->verify ? 2L : 0L);
		if (c->ca_file)
			SETOPT(e, CURLOPT_CAINFO, c->ca_file);
	}
	if (c->user) {
		SETOPT(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SETOPT(e, CURLOPT_USERNAME, c->user);
		SETOPT(e, CURLOPT_PASSWORD, c->password ? c->password : "");
	}
	if (rq->cookie)
		SETOPT(e, CURLOPT_COOKIE, rq->cookie);

	if (rq->body || strcmp(rq->method, "POST") == 0) {
		SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
		if (rq->once) {
			s->up = rq->body ? rq->body : "";
			s->up_len = rq->body ? rq->body_len : 0;
			s->up_off = 0;
			SETOPT(e, CURLOPT_POST, 1L);
			SETOPT(e, CURLOPT_READFUNCTION, on_upload);
			SETOPT(e, CURLOPT_READDATA, (void *)s);
			SETOPT(e, CURLOPT_SEEKFUNCTION, on_upload_seek);
			SETOPT(e, CURLOPT_SEEKDATA, (void *)s);
		} else {
			SETOPT(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		}
		if (strcmp(rq->method, "POST") != 0)
			SETOPT(e, CURLOPT_CUSTOMREQUEST, rq->method);
	} else if (strcmp(rq->method, "HEAD") == 0) {
		SETOPT(e, CURLOPT_NOBODY, 1L);
	} else {
		SETOPT(e, CURLOPT_HTTPGET, 1L);
		if (strcmp(rq->method, "GET") != 0)
			SETOPT(e, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	return 0;
}

/* Start job j on a free slot; returns 0 (running or finished with an error). */
static int job_start(struct http_client *c, struct job *j)
{
	const struct http_request *rq = j->rq;
	int64_t left, timeout;
	int rc;

	if (!rq->path || rq->path[0] != '/' || !method_ok(rq->method) ||
	    has_line_break(rq->path) || has_line_break(rq->extra_header) ||
	    has_line_break(rq->cookie))
		return job_fail(j, err_set(POE_FAIL, "invalid request to '%s'", c->host));
	left = util_deadline_left(j->deadline);
	if (left <= 0)
		return job_fail(j, err_set(POE_TIMEOUT,
					   "deadline expired before the request to '%s'", c->host));
	timeout = c->request_ms < left ? c->request_ms : left;

	j->slot = slot_get(c);
	if (!j->slot)
		return job_fail(j, err_set(POE_FAIL, "cannot create a curl handle"));
	job_reset_response(j);
	rc = setup_easy(c, j, timeout);
	if (rc == 0 && netlib.multi_add_handle(c->multi, j->slot->easy) != CURLM_OK)
		rc = err_set(POE_FAIL, "cannot start the request to '%s'", c->host);
	if (rc < 0) {
		j->slot->busy = false;
		j->slot = NULL;
		job_cleanup(j);
		return job_fail(j, rc);
	}
	j->started = util_now_ms();
	j->state = JOB_RUNNING;
	return 0;
}

static bool is_tls_verify_error(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
	       cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
	       cc == CURLE_SSL_INVALIDCERTSTATUS;
}

static bool is_tls_error(CURLcode cc)
{
	return cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CERTPROBLEM ||
	       cc == CURLE_SSL_CIPHER || cc == CURLE_SSL_ENGINE_NOTFOUND ||
	       cc == CURLE_SSL_SHUTDOWN_FAILED || cc == CURLE_SSL_CRL_BADFILE;
}

/* Map a finished transfer to 0 / POE_*; the message goes to err_set(). */
static int classify(struct http_client *c, struct job *j, CURLcode cc)
{
	struct slot *s = j->slot;
	const char *detail = s->errbuf[0] ? s->errbuf : netlib.easy_strerror(cc);
	long status = 0;

	if (cc == CURLE_OK) {
		netlib.easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
		j->rs->status = status;
		/* Callers may hand body.data to parsers: never NULL after a response. */
		if (buf_append(&j->rs->body, "", 0) < 0)
			return err_set(POE_FAIL, "out of memory");
		return 0;
	}
	j->rs->permanent = s->too_big || s->header_too_long || s->pin_mismatch ||
			   is_tls_verify_error(cc) || is_tls_error(cc);
	if (s->too_big)
		return err_set(POE_API, "response from '%s' exceeds %zu bytes", c->host,
			       c->max_body);
	if (s->header_too_long)
		return err_set(POE_API, "response from '%s' has an over-long header line",
			       c->host);
	if (s->pin_mismatch)
		return err_set(POE_API, "certificate of '%s' does not match the pinned fingerprint",
			       c->host);
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		/* The deadline was the binding limit when it has (all but) passed now. */
		if (j->deadline && util_deadline_left(j->deadline) <= 20)
			return err_set(POE_TIMEOUT, "deadline expired during the request to '%s'",
				       c->host);
		if (!s->got_header) {
			curl_off_t pre = 0;

			/* No pre-transfer time: connect or TLS never finished (a reused
			 * connection has one too, so this does not misreport those). */
			netlib.easy_getinfo(s->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
			if (pre == 0)
				return err_set(POE_API, "cannot connect to '%s': %s", c->host,
					       detail);
		}
		return err_set(POE_API, "request to '%s' timed out after %lld ms", c->host,
			       (long long)(util_now_ms() - j->started));
	}
	if (is_tls_verify_error(cc))
		return err_set(POE_API, "TLS verification of '%s' failed: %s", c->host, detail);
	if (is_tls_error(cc))
		return err_set(POE_API, "TLS handshake with '%s' failed: %s", c->host, detail);
	if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
		return err_set(POE_API, "cannot connect to '%s': %s", c->host, detail);
	return err_set(POE_API, "request to '%s' failed: %s", c->host, detail);
}

/*
 * Only failures where the server cannot have acted on the request are retried: no
 * connection, a send error before any response, or nothing at all on a reused connection
 * (the server closed it while idle).
 */
static bool retryable(struct job *j, CURLcode cc)
{
	struct slot *s = j->slot;
	long nconn = 1;

	if (s->pin_mismatch || s->too_big || s->header_too_long)
		return false;
	if (cc == CURLE_COULDNT_CONNECT)
		return true;
	if (cc == CURLE_SEND_ERROR && !s->got_header)
		return true;
	if (cc == CURLE_GOT_NOTHING && !j->rq->once) {
		netlib.easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &nconn);
		return nconn == 0;
	}
	return false;
}

static void job_finish(struct http_client *c, struct job *j, CURLcode cc)
{
	struct slot *s = j->slot;
	int rc;
	bool retry = false;

	netlib.multi_remove_handle(c->multi, s->easy);
	rc = classify(c, j, cc);
	if (rc < 0 && j->retries < HTTP_MAX_RETRIES && retryable(j, cc)) {
		int64_t wait = retry_backoff_ms[j->retries];

		/* Never sleep past the deadline; the error stands when there is no room. */
		if (!j->deadline || util_deadline_left(j->deadline) > wait) {
			retry = true;
			log_debug("%s %s: %s; retrying in %lld ms", j->rq->method, j->rq->path,
				  err_msg(), (long long)wait);
			j->retries++;
			j->not_before = util_now_ms() + wait;
		}
	}
	log_debug("%s %s%s -> %ld (%lld ms)", j->rq->method, c->host, j->rq->path,
		  j->rs->status, (long long)(util_now_ms() - j->started));
	s->busy = false;
	s->rs = NULL;
	j->slot = NULL;
	job_cleanup(j);
	if (retry) {
		j->state = JOB_PENDING;
		return;
	}
	if (rc < 0) {
		job_fail(j, rc);
		return;
	}
	j->rs->rc = 0;
	j->state = JOB_DONE;
	c->last_answer = util_now_ms();
}

static int run_jobs(struct http_client *c, struct job *jobs, int n)
{
	int done = 0;
	int running = 0;

	for (;;) {
		int64_t now = util_now_ms();
		int64_t wait = HTTP_POLL_MS;
		int still = 0, queued;
		CURLMsg *m;

		/* Start what may start, as long as there is a free handle. */
		for (int i = 0; i < n && running < c->max_parallel; i++) {
			struct job *j = &jobs[i];

			if (j->state != JOB_PENDING || j->not_before > now)
				continue;
			job_start(c, j);
			if (j->state == JOB_RUNNING)
				running++;
			else
				done++;
		}
		if (done == n)
			break;

		if (netlib.multi_perform(c->multi, &still) != CURLM_OK)
			return err_set(POE_FAIL, "curl multi interface failed");
		while ((m = netlib.multi_info_read(c->multi, &queued))) {
			char *priv = NULL;
			struct job *j;

			if (m->msg != CURLMSG_DONE)
				continue;
			netlib.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
			j = (struct job *)priv;
			if (!j)
				continue;
			job_finish(c, j, m->data.result);
			running--;
			if (j->state == JOB_DONE)
				done++;
		}
		if (done == n)
			break;

		/* Poll until curl has work, a backoff ends, or a second passes. */
		now = util_now_ms();
		for (int i = 0; i < n; i++) {
			if (jobs[i].state != JOB_PENDING)
				continue;
			if (running >= c->max_parallel)
				break;
			if (jobs[i].not_before <= now) {
				wait = 0;
				break;
			}
			if (jobs[i].not_before - now < wait)
				wait = jobs[i].not_before - now;
		}
		if (wait > 0 && netlib.multi_poll(c->multi, NULL, 0, (int)wait, NULL) != CURLM_OK)
			return err_set(POE_FAIL, "curl multi interface failed");
	}
	return 0;
}

static int perform_fake(struct http_client *c, const struct http_request *rq,
			struct http_response *rs, int n)
{
	struct err_saved first = { 0 };
	int rc = 0;

	for (int i = 0; i < n; i++) {
		buf_reset(&rs[i].body);
		rs[i].status = 0;
		rs[i].reason[0] = '\0';
		rs[i].location[0] = '\0';
		rs[i].rc = fake_fn(fake_arg, c->base, &rq[i], &rs[i]);
		if (rs[i].rc < 0 && rc == 0) {
			rc = rs[i].rc;
			err_save(&first);
		}
	}
	return rc < 0 ? err_restore(&first) : 0;
}

static int perform(struct http_client *c, const struct http_request *rq,
		   struct http_response *rs, int n);

/*
 * A GET while the next round will want more connections than are open: send it on that many
 * connections at once (a read, so copies are harmless), keep the first answer, and the
 * connections stay in the cache for the round. Each new connection pays its TCP and TLS
 * round trips now, beside the GET, instead of after it.
 */
static int perform_warming(struct http_client *c, const struct http_request *rq,
			   struct http_response *rs)
{
	int k = (c->warm < c->max_parallel ? c->warm : c->max_parallel);
	struct http_request *rqs = util_xcalloc((size_t)k, sizeof(*rqs));
	struct http_response *rss = util_xcalloc((size_t)k, sizeof(*rss));
	int rc;

	for (int i = 0; i < k; i++) {
		rqs[i] = *rq;
		if (i == 0)
			rss[0] = *rs;
		else
			http_response_init(&rss[i]);
	}
	c->warm = 0;
	log_debug("opening %d connections to '%s' for the next round", k, c->host);
	rc = perform(c, rqs, rss, k);
	*rs = rss[0];
	rc = rs->rc;
	for (int i = 1; i < k; i++)
		http_response_release(&rss[i]);
	free(rss);
	free(rqs);
	return rc;
}

void http_client_warm(struct http_client *c, int n)
{
	if (c)
		c->warm = n > c->opened ? n : 0;
}

static int perform(struct http_client *c, const struct http_request *rq,
		   struct http_response *rs, int n)
{
	struct job *jobs;
	int rc = 0, first = -1;

	if (n <= 0)
		return 0;
	if (fake_fn)
		return perform_fake(c, rq, rs, n);
	if (n == 1 && c->warm > 1 && c->warm > c->opened && strcmp(rq->method, "GET") == 0)
		return perform_warming(c, rq, rs);
	if (n > c->opened)
		c->opened = n < c->max_parallel ? n : c->max_parallel;
	jobs = util_xcalloc((size_t)n, sizeof(*jobs));
	for (int i = 0; i < n; i++) {
		jobs[i].rq = &rq[i];
		jobs[i].rs = &rs[i];
		jobs[i].state = JOB_PENDING;
		jobs[i].deadline = util_deadline_min(rq[i].deadline_ms);
		rs[i].rc = 0;
	}
	pthread_mutex_lock(&c->lock);
	rc = run_jobs(c, jobs, n);
	if (rc < 0) {
		/* The multi interface broke down: detach what is still attached. */
		for (int i = 0; i < n; i++) {
			if (jobs[i].state == JOB_RUNNING) {
				netlib.multi_remove_handle(c->multi, jobs[i].slot->easy);
				jobs[i].slot->busy = false;
				jobs[i].slot->rs = NULL;
				jobs[i].slot = NULL;
				job_cleanup(&jobs[i]);
			}
			if (jobs[i].state != JOB_DONE)
				rs[i].rc = rc;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (rc == 0) {
		for (int i = 0; i < n; i++) {
			if (rs[i].rc < 0) {
				first = i;
				break;
			}
		}
		if (first >= 0)
			rc = err_set(rs[first].rc, "%s", jobs[first].msg);
	}
	free(jobs);
	return rc;
}

int http_perform(struct http_client *c, const struct http_request *rq,
		 struct http_response *rs)
{
	return perform(c, rq, rs, 1);
}

int http_perform_many(struct http_client *c, const struct http_request *rq,
		      struct http_response *rs, int n)
{
	return perform(c, rq, rs, n);
}

int http_client_peer_fingerprint(const struct http_client *c, char *out, size_t n)
{
	if (!c->seen_leaf || n < FP_LEN * 3)
		return POE_NOTFOUND;
	for (int i = 0; i < FP_LEN; i++)
		snprintf(out + 3 * i, n - 3 * (size_t)i, "%02X%s", c->leaf[i],
			 i + 1 < FP_LEN ? ":" : "");
	return 0;
}

int http_urlencode(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (; *s && rc == 0; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			rc = buf_putc(out, (char)ch);
		} else {
			char enc[3] = { '%', hex[ch >> 4], hex[ch & 15] };

			rc = buf_append(out, enc, sizeof(enc));
		}
	}
	return rc;
}
