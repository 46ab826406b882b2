/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_ONTAP_INTERNAL_H
#define PVE_ONTAP_ONTAP_INTERNAL_H

/*
 * Shared between ontap.c (transport, volumes, snapshots, files) and ontap_nvme.c
 * (namespaces, subsystems, maps, LIFs, consistency groups). Not a public interface.
 */

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "ontap.h"

struct http_client;

/* Default job deadlines of reference/ontap-rest.md §5 guidance 4. */
#define OC_DEADLINE_SHORT_MS (120 * 1000)  /* snapshots, file clones, CG snapshots, lookups */
#define OC_DEADLINE_LONG_MS (600 * 1000)   /* FlexClone, volume create/delete, restore */

/* Seconds ONTAP may hold a write inline before answering 202 (§1.7). */
#define OC_RETURN_TIMEOUT_S 30

/* Hard caps on what one listing may accumulate and on request bodies. */
#define OC_MAX_RECORDS 100000
#define OC_MAX_BODY (1024 * 1024)
#define OC_MAX_URL (16 * 1024)

struct ontap_client {
	const struct config_ontap *cfg;
	struct http_client *http;
	struct ontap_error last;
	struct buf *dry_log;      /* borrowed; non-NULL in dry-run mode */
	unsigned long requests;
};

/* A URL path plus query under construction; errors are sticky (checked once). */
struct oc_url {
	struct buf b;
	bool has_query;
	int err;
};

void oc_url_init(struct oc_url *u);
void oc_url_release(struct oc_url *u);
/* Literal text (path pieces that need no encoding). */
void oc_url_put(struct oc_url *u, const char *s);
/* One path segment, percent-encoded (every byte but [A-Za-z0-9_~-], so '/' and '.' too). */
void oc_url_seg(struct oc_url *u, const char *s);
/* "?key=value" / "&key=value" with value percent-encoded (http_urlencode). NULL val: skipped. */
void oc_url_q(struct oc_url *u, const char *key, const char *val);
/* Same, value appended verbatim (constant field lists). */
void oc_url_qraw(struct oc_url *u, const char *key, const char *val);
/* return_timeout=N with N = min(OC_RETURN_TIMEOUT_S, half the seconds left until deadline). */
void oc_url_return_timeout(struct oc_url *u, int64_t deadline);
/* The URL, or NULL after an error (err_set() done). Borrowed. */
const char *oc_url_str(struct oc_url *u);

enum oc_flags {
	OC_IDEMPOTENT = 1 << 0,   /* may be re-sent after a transport error or a 503 */
	OC_NO_JOB_WAIT = 1 << 1,  /* do not follow a job link */
};

/*
 * Re-check of the target after a lost reply or a vanished job: returns 0 when the target is
 * in the state the request wanted (created object exists, deleted object gone), POE_NOTFOUND
 * when it is not, another code on failure.
 */
typedef int (*oc_recheck_fn)(struct ontap_client *oc, const void *arg, int64_t deadline);

struct oc_call {
	const char *method;
	const char *url;          /* "/api/..." with query */
	const char *body;         /* JSON or NULL */
	const char *what;         /* message context: "cannot create snapshot 'x'" */
	unsigned int flags;
	oc_recheck_fn recheck;    /* NULL: none possible */
	const void *recheck_arg;
	const char *const *dup_codes; /* NULL-terminated: "already exists" after a lost reply */
	const char *const *ok_codes;  /* NULL-terminated: error codes that mean success */
	int64_t deadline;         /* absolute, already defaulted */
};

/* Absolute deadline: deadline, or now + dflt_ms when 0, bounded by the global deadline. */
int64_t oc_deadline(int64_t deadline, int64_t dflt_ms);

/*
 * Send one request (retries, error mapping, job polling as in ontap.h). On success and
 * when resp is non-NULL, *resp holds the parsed answer ("{}" for an empty body or a
 * dry-run mutation); caller frees with json_free(). On failure *resp is empty.
 */
int oc_request(struct ontap_client *oc, const struct oc_call *c, struct json_doc *resp);
/* GET with retries. */
int oc_get(struct ontap_client *oc, const char *url, const char *what, struct json_doc *resp,
	   int64_t deadline);

/* Records of a paginated collection: (document, token) pairs. */
struct oc_record {
	const struct json_doc *d;
	int tok;
};

struct oc_records {
	struct json_doc **docs;   /* one per page, each allocated (record pointers stay valid) */
	int ndocs;
	struct oc_record *rec;
	int n;
};

/* GET url and every _links.next.href after it; caller frees with oc_records_free(). */
int oc_get_all(struct ontap_client *oc, const char *url, const char *what, struct oc_records *r,
	       int64_t deadline);
void oc_records_free(struct oc_records *r);

/*
 * Exactly one record expected: 0 with *rec set, POE_NOTFOUND when none (message:
 * "<what>: not found"), POE_API when several.
 */
int oc_get_one(struct ontap_client *oc, const char *url, const char *what, struct oc_records *r,
	       struct oc_record *rec, int64_t deadline);

/* The code of the last ONTAP error (job or HTTP) is one of the NULL-terminated list. */
bool oc_last_code_in(const struct ontap_client *oc, const char *const *codes);
bool oc_code_in(const char *code, const char *const *codes);

/* Field helpers: absent or oversized values give "" / 0 / false. */
void oc_jstr(const struct json_doc *d, int from, const char *path, char *out, size_t n);
uint64_t oc_ju64(const struct json_doc *d, int from, const char *path);
bool oc_jbool(const struct json_doc *d, int from, const char *path);
time_t oc_jtime(const struct json_doc *d, int from, const char *path);

/* Finish a JSON body; returns the string (borrowed from b) or NULL with err_set(). */
const char *oc_body(struct json_writer *w, struct buf *b);

/* True in dry-run mode for a request that would not be sent. */
bool oc_dry(const struct ontap_client *oc);

#endif
