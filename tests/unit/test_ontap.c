/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ONTAP client (lib/ontap/) against a scripted in-process server (fake_http.h): the
 * requests it sends, paging, jobs, lost replies and errors, in milliseconds. The
 * simulator-backed tests (tests/integration/test_ontap_client.py) check the same client
 * against the whole API model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/util.h"
#include "config/config.h"
#include "fake_http.h"
#include "ontap/ontap.h"

static struct config_ontap cluster = {
	.name = "c1", .host = "ontap.invalid", .port = 443, .user = "admin",
	.password = "s3cr3t-ontap", .verify = true,
};

struct fixture {
	struct fake_http f;
	struct ontap_client *oc;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	http_set_fake_transport(fake_http_answer, &fx->f);
	fx->oc = ontap_client_new(&cluster);
	assert_non_null(fx->oc);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	ontap_client_free(fx->oc);
	http_set_fake_transport(NULL, NULL);
	free(fx);
	return 0;
}

#define VOL1 "{\"uuid\":\"11111111-1111-1111-1111-111111111111\",\"name\":\"vol1\"," \
	     "\"svm\":{\"name\":\"svm1\"},\"nas\":{\"path\":\"/vol1\"},\"state\":\"online\"," \
	     "\"space\":{\"size\":1073741824}}"

static void dump(const struct fake_http *f)
{
	for (int i = 0; i < f->nlog; i++)
		print_message("  %s\n", f->log[i]);
}

/* One GET with the name and svm filters; the record is parsed. */
static void test_volume_find(void **state)
{
	struct fixture *fx = *state;
	struct ontap_volume v;

	fake_route(&fx->f, "GET", "/api/storage/volumes?", 200,
		   "{\"records\":[" VOL1 "],\"num_records\":1}", 0);
	assert_int_equal(ontap_volume_find(fx->oc, "svm1", "vol1", &v, 0), 0);
	dump(&fx->f);
	assert_int_equal(fx->f.nlog, 1);
	assert_non_null(strstr(fx->f.log[0], "name=vol1"));
	assert_non_null(strstr(fx->f.log[0], "svm.name=svm1"));
	assert_string_equal(v.uuid, "11111111-1111-1111-1111-111111111111");
	assert_string_equal(v.nas_path, "/vol1");
	assert_int_equal(v.size, 1073741824);
}

#define VOL_UUID "11111111-1111-1111-1111-111111111111"
#define SNAP_PATH "/api/storage/volumes/" VOL_UUID "/snapshots"
#define JOB "{\"job\":{\"uuid\":\"22222222-2222-2222-2222-222222222222\"," \
	    "\"_links\":{\"self\":{\"href\":\"/api/cluster/jobs/22222222-2222-2222-2222-222222222222\"}}}}"
#define JOB_PATH "/api/cluster/jobs/22222222-2222-2222-2222-222222222222"

/* A collection of three pages is read whole by following _links.next (ONTAP §1.6). */
static void test_volume_list_pages(void **state)
{
	struct fixture *fx = *state;
	struct ontap_volume *v = NULL;
	int n = 0;

	fake_route(&fx->f, "GET", "/api/storage/volumes?page=3", 200,
		   "{\"records\":[{\"uuid\":\"u3\",\"name\":\"c\"}],\"num_records\":1}", 0);
	fake_route(&fx->f, "GET", "/api/storage/volumes?page=2", 200,
		   "{\"records\":[{\"uuid\":\"u2\",\"name\":\"b\"}],\"num_records\":1,"
		   "\"_links\":{\"next\":{\"href\":\"/api/storage/volumes?page=3\"}}}", 0);
	fake_route(&fx->f, "GET", "/api/storage/volumes?", 200,
		   "{\"records\":[{\"uuid\":\"u1\",\"name\":\"a\"}],\"num_records\":1,"
		   "\"_links\":{\"next\":{\"href\":\"/api/storage/volumes?page=2\"}}}", 0);
	assert_int_equal(ontap_volume_list(fx->oc, "svm1", "pve_*", &v, &n, 0), 0);
	assert_int_equal(n, 3);
	assert_int_equal(fx->f.nlog, 3);
	assert_string_equal(fx->f.log[1], "GET /api/storage/volumes?page=2");
	assert_string_equal(v[0].name, "a");
	assert_string_equal(v[2].name, "c");
	free(v);
}

/* 202 + job: the job is polled until success; one POST only. */
static void test_snapshot_create_job(void **state)
{
	struct fixture *fx = *state;

	fake_route(&fx->f, "POST", SNAP_PATH, 202, JOB, 0);
	fake_route(&fx->f, "GET", JOB_PATH, 200, "{\"state\":\"running\"}", 1);
	fake_route(&fx->f, "GET", JOB_PATH, 200, "{\"state\":\"success\"}", 0);
	assert_int_equal(ontap_snapshot_create(fx->oc, VOL_UUID, "pveontap_x", "c", NULL, 0), 0);
	dump(&fx->f);
	assert_int_equal(fake_count(&fx->f, "POST "), 1);
	assert_int_equal(fake_count(&fx->f, "GET " JOB_PATH), 2);
	assert_non_null(strstr(fx->f.log[0], "\"name\":\"pveontap_x\""));
}

/* A failed job is an API error with ONTAP's message and code (exit 4), never success. */
static void test_snapshot_create_job_failure(void **state)
{
	struct fixture *fx = *state;

	fake_route(&fx->f, "POST", SNAP_PATH, 202, JOB, 0);
	fake_route(&fx->f, "GET", JOB_PATH, 200,
		   "{\"state\":\"failure\",\"message\":\"snapshot name exists\",\"code\":1638401}", 0);
	assert_int_equal(ontap_snapshot_create(fx->oc, VOL_UUID, "pveontap_x", "c", NULL, 0),
			 POE_API);
	assert_non_null(strstr(err_msg(), "snapshot name exists"));
	assert_non_null(strstr(err_msg(), "1638401"));
	assert_int_equal(fake_count(&fx->f, "POST "), 1);
}

/* An error answer of a GET carries ONTAP's message; 404 is "not found" (exit 6). */
static void test_volume_not_found(void **state)
{
	struct fixture *fx = *state;
	struct ontap_volume v;

	fake_route(&fx->f, "GET", "/api/storage/volumes?", 200, "{\"records\":[],\"num_records\":0}", 0);
	assert_int_equal(ontap_volume_find(fx->oc, "svm1", "nope", &v, 0), POE_NOTFOUND);
	assert_non_null(strstr(err_msg(), "nope"));
	assert_int_equal(fx->f.nlog, 1);
}

/*
 * The POST's reply is lost (connection reset after sending): the client looks the snapshot
 * up by name instead of sending the POST again, and finds it (ONTAP §5: never re-POST
 * blindly, a create that reached ONTAP completes).
 */
static void test_snapshot_create_lost_reply(void **state)
{
	struct fixture *fx = *state;

	fake_route(&fx->f, "POST", SNAP_PATH, 0, "", 0);
	fake_route(&fx->f, "GET", SNAP_PATH "?", 200,
		   "{\"records\":[{\"uuid\":\"33333333-3333-3333-3333-333333333333\","
		   "\"name\":\"pveontap_x\",\"create_time\":\"2026-11-22T10:15:00+00:00\"}],"
		   "\"num_records\":1}", 0);
	assert_int_equal(ontap_snapshot_create(fx->oc, VOL_UUID, "pveontap_x", "c", NULL, 0), 0);
	dump(&fx->f);
	assert_int_equal(fake_count(&fx->f, "POST "), 1);
	assert_int_equal(fake_count(&fx->f, "GET " SNAP_PATH "?"), 1);
	assert_non_null(strstr(fx->f.log[1], "name=pveontap_x"));
}

#define SNAP_X "{\"records\":[{\"uuid\":\"33333333-3333-3333-3333-333333333333\"," \
	       "\"name\":\"pveontap_x\",\"create_time\":\"2026-11-22T10:15:00+00:00\"}]," \
	       "\"num_records\":1}"
/* the simulator's 503 body (tests/sim/ontap_core.py) */
#define BUSY "{\"error\":{\"message\":\"server busy\",\"code\":\"65552\"}}"

/* A GET answered 503 is sent again after a (jittered) backoff. */
static void test_get_503_retried(void **state)
{
	struct fixture *fx = *state;
	struct ontap_volume v;

	fake_route(&fx->f, "GET", "/api/storage/volumes?", 503, BUSY, 1);
	fake_route(&fx->f, "GET", "/api/storage/volumes?", 200,
		   "{\"records\":[" VOL1 "],\"num_records\":1}", 0);
	assert_int_equal(ontap_volume_find(fx->oc, "svm1", "vol1", &v, 0), 0);
	assert_int_equal(fake_count(&fx->f, "GET /api/storage/volumes?"), 2);
}

/*
 * A POST answered 503 is sent again only after a look-up by name finds nothing (ONTAP was
 * busy and made nothing): 503, re-check (none), POST again, job.
 */
static void test_post_503_resent_after_recheck(void **state)
{
	struct fixture *fx = *state;

	fake_route(&fx->f, "POST", SNAP_PATH, 503, BUSY, 1);
	fake_route(&fx->f, "POST", SNAP_PATH, 202, JOB, 0);
	fake_route(&fx->f, "GET", SNAP_PATH "?", 200, "{\"records\":[],\"num_records\":0}", 0);
	fake_route(&fx->f, "GET", JOB_PATH, 200, "{\"state\":\"success\"}", 0);
	assert_int_equal(ontap_snapshot_create(fx->oc, VOL_UUID, "pveontap_x", "c", NULL, 0), 0);
	dump(&fx->f);
	assert_int_equal(fake_count(&fx->f, "POST "), 2);
	assert_int_equal(fake_count(&fx->f, "GET " SNAP_PATH "?"), 1);
	assert_non_null(strstr(fx->f.log[1], "name=pveontap_x"));
	assert_non_null(strstr(fx->f.log[2], "POST "));
}

/* The re-check finds the snapshot (made by whoever): done, the POST is not sent again. */
static void test_post_503_found_by_recheck(void **state)
{
	struct fixture *fx = *state;

	fake_route(&fx->f, "POST", SNAP_PATH, 503, BUSY, 0);
	fake_route(&fx->f, "GET", SNAP_PATH "?", 200, SNAP_X, 0);
	assert_int_equal(ontap_snapshot_create(fx->oc, VOL_UUID, "pveontap_x", "c", NULL, 0), 0);
	assert_int_equal(fake_count(&fx->f, "POST "), 1);
	assert_int_equal(fake_count(&fx->f, "GET " SNAP_PATH "?"), 1);
}

/* Busy every time: three POSTs at most, each after a re-check; the 503 is the error. */
static void test_post_503_gives_up(void **state)
{
	struct fixture *fx = *state;

	fake_route(&fx->f, "POST", SNAP_PATH, 503, BUSY, 0);
	fake_route(&fx->f, "GET", SNAP_PATH "?", 200, "{\"records\":[],\"num_records\":0}", 0);
	assert_int_equal(ontap_snapshot_create(fx->oc, VOL_UUID, "pveontap_x", "c", NULL, 0),
			 POE_API);
	assert_non_null(strstr(err_msg(), "server busy"));
	assert_int_equal(fake_count(&fx->f, "POST "), 3);
	assert_int_equal(fake_count(&fx->f, "GET " SNAP_PATH "?"), 2);
}

/* The backoff is spread over [ms/2, 3ms/2), not the same for everyone. */
static void test_jitter(void **state)
{
	int64_t lo = INT64_MAX, hi = 0;

	(void)state;
	for (int i = 0; i < 200; i++) {
		int64_t j = util_jitter_ms(1000);

		assert_true(j >= 500 && j < 1500);
		lo = j < lo ? j : lo;
		hi = j > hi ? j : hi;
	}
	assert_true(hi - lo > 500);
}

#define CLONE_PATH "/api/storage/file/clone"
#define FILES_PATH "/api/storage/volumes/" VOL_UUID "/files/"

static int clone_one_file(struct fixture *fx, struct ontap_file_op *op)
{
	static const struct ontap_volume vol = { .uuid = VOL_UUID, .name = "vol1" };

	memset(op, 0, sizeof(*op));
	op->src = "images/100/vm-100-disk-0.raw";
	op->dst = "images/100/vm-100-disk-0-snap-x-20261122T101500Z.raw";
	return ontap_file_clone_many(fx->oc, &vol, op, 1, 0);
}

#define NO_FILES "{\"records\":[],\"num_records\":0}"

/* The clone POST is refused with 503 (times answers; 0 = always); listing is the directory. */
static void busy_clone(struct fixture *fx, int times, const char *listing)
{
	fake_route(&fx->f, "POST", CLONE_PATH, 503,
		   "{\"error\":{\"message\":\"busy\",\"code\":\"2\"}}", times);
	fake_route(&fx->f, "GET", FILES_PATH, 200, listing, 0);
}

/* A clone refused with 503 is looked up by name, then sent again: one clone made. */
static void test_batch_clone_503_resent(void **state)
{
	struct fixture *fx = *state;
	struct ontap_file_op op;

	busy_clone(fx, 1, NO_FILES);
	fake_route(&fx->f, "POST", CLONE_PATH, 201, "{}", 0);
	assert_int_equal(clone_one_file(fx, &op), 0);
	dump(&fx->f);
	assert_int_equal(op.rc, 0);
	assert_int_equal(fake_count(&fx->f, "POST " CLONE_PATH), 2);
	assert_int_equal(fake_count(&fx->f, "GET " FILES_PATH), 1);
}

/* The clone refused with 503 exists when looked up (ONTAP did it): no second POST. */
static void test_batch_clone_503_found(void **state)
{
	struct fixture *fx = *state;
	struct ontap_file_op op;

	busy_clone(fx, 0, "{\"records\":[{\"name\":\"vm-100-disk-0-snap-x-20261122T101500Z.raw\","
			   "\"type\":\"file\"}],\"num_records\":1}");
	assert_int_equal(clone_one_file(fx, &op), 0);
	assert_int_equal(op.rc, 0);
	assert_int_equal(fake_count(&fx->f, "POST " CLONE_PATH), 1);
}

/* Still refused after every try: the clone failed (the 503 named), never "maybe". */
static void test_batch_clone_503_gives_up(void **state)
{
	struct fixture *fx = *state;
	struct ontap_file_op op;

	busy_clone(fx, 0, NO_FILES);
	assert_int_equal(clone_one_file(fx, &op), POE_API);
	assert_true(op.rc < 0);
	assert_false(op.maybe);
	assert_non_null(strstr(op.err, "busy"));
	assert_int_equal(fake_count(&fx->f, "POST " CLONE_PATH), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_volume_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_list_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_create_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_create_job_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_create_lost_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_503_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_503_resent_after_recheck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_503_found_by_recheck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_503_gives_up, setup, teardown),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test_setup_teardown(test_batch_clone_503_resent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_clone_503_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_clone_503_gives_up, setup, teardown),
	};

	/* backoffs of 1 s and more in milliseconds (HACKING.md "Test-only knobs") */
	setenv("PVE_ONTAP_TEST_TIME_SCALE", "0.001", 1);

	return cmocka_run_group_tests(tests, NULL, NULL);
}
