/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_ONTAP_INTERNAL_H
#define PVE_ONTAP_ONTAP_INTERNAL_H

/*
 * Shared between ontap.c (transport, volumes, snapshots, files) and ontap_nvme.c
 * (namespaces, subsystems, maps, LIFs, consistency groups). Not a public interface.
 */

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "format/json.h"
#include "ontap/ontap.h"

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
	/* The cluster version (generation, major, minor), read once when first needed. */
	bool version_known;
	int version[3];
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
/*
 * 1 when the cluster runs ONTAP g.ma.mi or later, 0 when it runs an older release, < 0 when
 * the version cannot be read. The version is read (GET /api/cluster?fields=version) by the
 * first call of a client and kept: once per run and cluster, and only when a call depends
 * on it (DESIGN.md "Storage kinds", ONTAP versions).
 */
int oc_version_at_least(struct ontap_client *oc, int g, int ma, int mi, int64_t deadline);

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

/* ---- one kind of object, and the requests every kind shares ---- */

/*
 * What one kind of ONTAP object looks like to the helpers below: where it lives, which fields
 * to ask for, how to turn a record into its struct, how to name it in messages and how ONTAP
 * treats writes to it. URLs: path, then for a sub-collection "/" + the owner's uuid + sub,
 * then for an instance "/" + its uuid (each uuid or name one encoded segment).
 */
struct oc_kind {
	const char *what;         /* in messages: "NVMe subsystem" */
	const char *plural;       /* "list <plural>": "namespaces" */
	const char *owner;        /* of a sub-collection, in messages: "volume" */
	const char *path;         /* "/api/storage/volumes" (for snapshots too) */
	const char *sub;          /* after the owner's uuid: "/snapshots"; NULL: none */
	const char *scope_key;    /* a constant filter of every listing: "services", or NULL */
	const char *scope_val;
	const char *fields;       /* fields= of finds, reads and lists (uuid always among them) */
	bool names_svm;           /* find messages name the SVM ("... on SVM 'svm1'") */
	size_t size;              /* of one parsed element */
	/* Fill *out (cleared first) from a record; false leaves it out of a list. */
	bool (*parse)(const struct json_doc *d, int tok, void *out);
	int (*cmp)(const void *a, const void *b); /* order of lists, NULL: as ONTAP sends them */

	bool inline_writes;       /* ONTAP makes these inline: writes send no return_timeout */
	/* POST of a new object (oc_create): */
	unsigned int create_flags;        /* OC_IDEMPOTENT: a repeat is answered by create_ok */
	oc_recheck_fn create_recheck;     /* after a lost reply, with a struct oc_target */
	const char *const *create_dup;    /* "already exists" after a lost reply */
	const char *const *create_ok;     /* codes that mean success */
	/* DELETE (oc_delete): */
	const char *const *delete_ok;     /* codes that mean success ("not mapped") */
	/*
	 * After a DELETE whose job vanished, read the object back with these fields to learn
	 * the outcome (NULL: no read-back, the outcome is reported unknown); gone_what is the
	 * message of that read (NULL: "read <what> '<uuid>'").
	 */
	const char *gone_fields;
	const char *gone_what;
};

/* Which records of a kind: all parts optional, query order key, svm.name, scope, fields. */
struct oc_where {
	const char *parent;       /* the owner's uuid (sub-collections) */
	const char *uuid;         /* an instance that answers with records (a directory) */
	const char *key;          /* the filtered field, NULL: "name" */
	const char *val;          /* its value (an ONTAP pattern in lists), NULL: no filter */
	const char *svm;          /* svm.name, NULL: any */
};

/* The kind's URL for an owner (NULL: none) and an instance (NULL: the collection). */
void oc_kind_url(struct oc_url *u, const struct oc_kind *k, const char *parent, const char *uuid);

/*
 * Exactly one record of w (default deadline OC_DEADLINE_SHORT_MS), parsed into out when it
 * is non-NULL. what NULL: "find <what> '<val>'[ of <owner> '<parent>'][ on SVM '<svm>']".
 */
int oc_find(struct ontap_client *oc, const struct oc_kind *k, const struct oc_where *w,
	    const char *what, void *out, int64_t deadline);
/* GET of one instance with the kind's fields into out ("read <what> '<uuid>'"). */
int oc_read(struct ontap_client *oc, const struct oc_kind *k, const char *parent,
	    const char *uuid, void *out, int64_t deadline);
/*
 * Every record of w (all pages) parsed into a newly allocated array stored at out, the
 * address of the caller's element pointer (a struct ontap_x **; caller frees; NULL when
 * none is kept), sorted by the kind's cmp. what NULL: "list <plural>[ of <owner> '<parent>']".
 */
int oc_list(struct ontap_client *oc, const struct oc_kind *k, const struct oc_where *w,
	    const char *what, void *out, int *n, int64_t deadline);

/* A JSON request body under construction (top-level object open) and its message. */
struct oc_write {
	struct buf b;
	struct json_writer w;
	char what[700];
};

void oc_write_begin(struct oc_write *wr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Close the object; returns the body (borrowed from wr) or NULL with err_set(). */
const char *oc_write_end(struct oc_write *wr);
void oc_write_release(struct oc_write *wr);

/* One write to the kind's URL: [?qkey=qval][&return_timeout unless inline_writes]. */
struct oc_send {
	const struct oc_kind *kind;
	const char *method;
	const char *parent;       /* the owner's uuid, NULL: none */
	const char *uuid;         /* the instance, NULL: the collection */
	const char *qkey;         /* one query parameter, NULL: none */
	const char *qval;
	const char *body;         /* JSON or NULL */
	const char *what;
	unsigned int flags;
	oc_recheck_fn recheck;
	const void *recheck_arg;
	const char *const *dup_codes;
	const char *const *ok_codes;
};

int oc_send(struct ontap_client *oc, const struct oc_send *s, int64_t deadline);

/* The object a create makes (the argument of the kind's create_recheck). */
struct oc_target {
	const struct oc_kind *kind;
	const char *parent;       /* the owner's uuid, NULL: none */
	const char *svm;
	const char *name;         /* NULL: nameless (a host entry, a map) */
};

/*
 * POST body (NULL: building it failed, POE_FAIL) to the collection as the kind says; on
 * success and with out non-NULL read the object back by name into out, except in dry-run
 * mode, where nothing was made: the caller fills out from the request.
 */
int oc_create(struct ontap_client *oc, const struct oc_kind *k, const char *parent,
	      const char *svm, const char *name, const char *what, const char *body, void *out,
	      int64_t deadline);
/* create_recheck of most kinds: 0 when the struct oc_target's object exists (oc_find). */
int oc_exists(struct ontap_client *oc, const void *arg, int64_t deadline);
/* PATCH of an instance with [?qkey=qval] and body (NULL: POE_FAIL); idempotent. */
int oc_patch(struct ontap_client *oc, const struct oc_kind *k, const char *uuid, const char *qkey,
	     const char *qval, const char *what, const char *body, int64_t deadline);
/*
 * DELETE of an instance, idempotent, with the kind's read-back after a vanished job.
 * what NULL: "delete <what> '<uuid>'[ of <owner> '<parent>']".
 */
int oc_delete(struct ontap_client *oc, const struct oc_kind *k, const char *parent,
	      const char *uuid, const char *what, int64_t deadline);

/* Order of snapshot lists: create_time ascending, then name (qsort result). */
int oc_cmp_time_name(time_t ta, const char *na, time_t tb, const char *nb);

/* {"key":{"field":"val"}} */
void oc_jw_ref(struct json_writer *w, const char *key, const char *field, const char *val);

/* Finish a JSON body; returns the string (borrowed from b) or NULL with err_set(). */
const char *oc_body(struct json_writer *w, struct buf *b);

/* True in dry-run mode for a request that would not be sent. */
bool oc_dry(const struct ontap_client *oc);

#endif
