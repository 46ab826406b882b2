/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_HTTP_H
#define PVE_ONTAP_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"

/*
 * libcurl wrapper. One struct http_client per endpoint (ONTAP cluster, PVE node): its easy
 * handles are reused so connections stay alive. TLS verification is on unless
 * opts.verify is false; no redirect is ever followed (credentials must not follow one).
 */
struct http_opts {
	const char *base_url;    /* "https://192.0.2.1:443" (no trailing slash) */
	bool verify;             /* verify peer and host name */
	const char *ca_file;     /* CA bundle; NULL = system store */
	const char *fingerprint; /* SHA-256 of the leaf certificate, "AA:BB:..." (32 pairs) or
				  * hex; when set, the chain is not verified but the leaf must
				  * match (as Proxmox's own clients pin) */
	const char *user;        /* Basic auth, with password; NULL = none */
	const char *password;
	const char *auth_header; /* a whole header line, e.g. "Authorization: PVEAPIToken=..." */
	const char *user_agent;  /* extra header line, e.g. "X-Dot-Client-App: pve-ontap/1.0" */
	long connect_timeout_ms; /* default 10000 */
	long request_timeout_ms; /* default 60000, always bounded by the request deadline */
	size_t max_body;         /* response body cap, default 16 MiB */
	int max_parallel;        /* cap for http_perform_many(), default 8 */
};

struct http_client;

struct http_request {
	const char *method;        /* "GET", "POST", "PATCH", "PUT", "DELETE" */
	const char *path;          /* appended to base_url; must start with '/' */
	const char *body;          /* NULL = none */
	size_t body_len;
	const char *content_type;  /* default "application/json" when body is set */
	const char *extra_header;  /* one more header line (e.g. CSRFPreventionToken), or NULL */
	const char *cookie;        /* Cookie header value, or NULL */
	int64_t deadline_ms;       /* absolute monotonic; 0 = only the client's timeouts */
	bool once;                 /* not idempotent (a POST that creates): never re-sent once
				    * it may have reached the server, not even after an empty
				    * reply on a reused connection, which is also what a server
				    * that acted and then lost the connection looks like */
};

struct http_response {
	long status;          /* 0 when no HTTP answer arrived */
	char reason[128];     /* reason phrase of the status line */
	struct buf body;      /* capped by opts.max_body */
	char location[512];   /* Location header, if any */
	int rc;               /* per-request result in http_perform_many() */
	bool permanent;       /* the failure cannot go away by itself (TLS verification,
			       * fingerprint pin, body or header over the cap): no retry */
};

/* Returns a new client (caller frees with http_client_free()) or NULL with err_set(). */
struct http_client *http_client_new(const struct http_opts *opts);
void http_client_free(struct http_client *c);
/* The base URL given at creation (borrowed). */
const char *http_client_base(const struct http_client *c);

void http_response_init(struct http_response *r);
void http_response_release(struct http_response *r);

/*
 * Perform one request. Returns 0 when an HTTP response arrived (any status: the caller
 * interprets it), POE_API for transport failures (cannot connect, TLS, reset, body over
 * the cap; message names the host and curl's reason), POE_TIMEOUT when the deadline (the
 * request's or the global one, see util_deadline_set_global()) expired. Connection
 * failures before any byte was sent (refused, reset on a reused connection) are retried
 * up to 2 times with a short backoff; nothing else is retried here.
 */
int http_perform(struct http_client *c, const struct http_request *rq,
		 struct http_response *rs);

/*
 * Perform n requests in parallel (curl multi, at most opts.max_parallel at once, one
 * connection each, reused afterwards). Each rs[i].rc gets what http_perform() would have
 * returned; the function returns 0 if all got an HTTP answer, else the first failure.
 */
int http_perform_many(struct http_client *c, const struct http_request *rq,
		      struct http_response *rs, int n);

/*
 * In-process transport for tests (tests/unit/fake_ontap.h): while set, every client sends
 * every request to fn instead of the network, in order (a parallel batch one request after
 * the other), and libcurl is never loaded. fn fills rs (status, body) and returns what
 * http_perform() would: 0, or POE_API/POE_TIMEOUT after err_set(). NULL restores the network.
 * Not thread-safe against requests in flight: set it before creating clients.
 */
typedef int (*http_fake_fn)(void *arg, const char *base, const struct http_request *rq,
			    struct http_response *rs);
void http_set_fake_transport(http_fake_fn fn, void *arg);

/*
 * Say that the next parallel round will want n connections: the next GET is then sent on
 * that many at once (up to opts.max_parallel; the first answer counts), so their connect and
 * TLS round trips overlap it. A no-op when n connections were already opened.
 */
void http_client_warm(struct http_client *c, int n);

/*
 * Parse a SHA-256 certificate fingerprint, "AA:BB:..." (32 pairs) or 64 hex digits, any
 * case, into out. Returns 0 or POE_FAIL (no message: the caller names the setting).
 */
int http_parse_fingerprint(const char *s, unsigned char out[32]);

/* Percent-encode s for a URL path segment or query value (everything but unreserved). */
int http_urlencode(struct buf *out, const char *s);

/*
 * The SHA-256 of the leaf certificate the last pinned handshake of c saw, as "AA:BB:..."
 * (95 characters and a NUL; n >= 96), the form opts.fingerprint takes; POE_NOTFOUND when
 * no pinned handshake got that far. Doctor pins a fingerprint no certificate has to
 * learn the one the server shows, without trusting it for anything.
 */
int http_client_peer_fingerprint(const struct http_client *c, char *out, size_t n);

#endif
