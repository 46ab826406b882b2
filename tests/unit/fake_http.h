/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_FAKE_HTTP_H
#define PVE_ONTAP_FAKE_HTTP_H

/*
 * A scripted in-process server for the unit tests of the clients and operations
 * (http_set_fake_transport()): routes answer by method and path prefix, every request is
 * logged, nothing touches the network, so paging, jobs and faults run in milliseconds.
 */

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "net/http.h"

#define FAKE_ROUTES 64
#define FAKE_LOG 256

struct fake_route {
	const char *method;
	const char *prefix;  /* matches the path including its query string */
	long status;         /* 0: the transport fails (as a reset connection would) */
	const char *body;
	int times;           /* answers left; 0 = every time */
	int used;
};

struct fake_http {
	struct fake_route routes[FAKE_ROUTES];
	int nroutes;
	char log[FAKE_LOG][512];  /* "METHOD path body" of every request, in order */
	int nlog;
};

/* Add a route; an earlier route that still has answers wins over a later one. */
static inline void fake_route(struct fake_http *f, const char *method, const char *prefix,
			      long status, const char *body, int times)
{
	f->routes[f->nroutes++] = (struct fake_route){ method, prefix, status, body, times, 0 };
}

static inline int fake_http_answer(void *arg, const char *base, const struct http_request *rq,
				   struct http_response *rs)
{
	struct fake_http *f = arg;

	(void)base;
	if (f->nlog < FAKE_LOG)
		snprintf(f->log[f->nlog++], sizeof(f->log[0]), "%s %s%s%.*s", rq->method, rq->path,
			 rq->body ? " " : "", rq->body ? (int)rq->body_len : 0,
			 rq->body ? rq->body : "");
	for (int i = 0; i < f->nroutes; i++) {
		struct fake_route *r = &f->routes[i];

		if (strcmp(r->method, rq->method) != 0 ||
		    strncmp(rq->path, r->prefix, strlen(r->prefix)) != 0 ||
		    (r->times && r->used >= r->times))
			continue;
		r->used++;
		if (r->status == 0)
			return err_set(POE_API, "cannot reach fake: connection reset");
		rs->status = r->status;
		return buf_append(&rs->body, r->body, strlen(r->body));
	}
	rs->status = 404;
	return buf_append(&rs->body, "{\"error\":{\"message\":\"entry doesn't exist\",\"code\":\"4\"}}",
			  strlen("{\"error\":{\"message\":\"entry doesn't exist\",\"code\":\"4\"}}"));
}

/* Requests logged whose "METHOD path" starts with prefix. */
static inline int fake_count(const struct fake_http *f, const char *prefix)
{
	int n = 0;

	for (int i = 0; i < f->nlog; i++)
		n += strncmp(f->log[i], prefix, strlen(prefix)) == 0;
	return n;
}

#endif
