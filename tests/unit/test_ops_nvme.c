/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NVMe operations (lib/ops/ops_nvme.c, ops_orphans.c) against a scripted ONTAP
 * (fake_http.h): a pool id, volume or namespace name that does not fit what an operation
 * reports is an error naming it, never a cut name (STYLE #5). A pool id may have 255
 * bytes (PVE's storage id); struct nvme_disk_info and nvme_orphan keep 63.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "config/config.h"
#include "fake_http.h"
#include "ops/ops.h"

#define UUID1 "11111111-2222-3333-4444-555555555555"

#define VOLS "{\"records\":[{\"uuid\":\"" UUID1 "\",\"name\":\"pve_vm_100_disk_0\"," \
	     "\"svm\":{\"name\":\"svm1\"},\"state\":\"online\"}],\"num_records\":1}"
#define NONE "{\"records\":[],\"num_records\":0}"
#define NSS "{\"records\":[{\"uuid\":\"" UUID1 "\"," \
	    "\"name\":\"/vol/pve_vm_100_disk_0/pve_vm_100_disk_0\"," \
	    "\"location\":{\"volume\":{\"name\":\"pve_vm_100_disk_0\"}}," \
	    "\"space\":{\"size\":1073741824}}],\"num_records\":1}"

struct fixture {
	struct fake_http f;
	char dir[64];
	char nodes[96];
	char node[128];
	struct config_ontap cluster;
	struct config_storage st;
	struct config cfg;
	struct ops_ctx ctx;
};

/* One NVMe pool with id (on cluster c1), an empty <pve_etc>/nodes/n1: no VM exists. */
static struct fixture *fixture_new(const char *id)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/test_ops_nvme.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->nodes, sizeof(fx->nodes), "%s/nodes", fx->dir);
	snprintf(fx->node, sizeof(fx->node), "%s/n1", fx->nodes);
	assert_int_equal(mkdir(fx->nodes, 0755), 0);
	assert_int_equal(mkdir(fx->node, 0755), 0);
	fx->cluster = (struct config_ontap){ .name = (char *)"c1", .host = (char *)"ontap.invalid",
					     .port = 443, .user = (char *)"admin",
					     .password = (char *)"s3cr3t", .verify = true };
	fx->st = (struct config_storage){ .id = (char *)id, .ontap = &fx->cluster,
					  .protocol = STORAGE_NVME, .svm = (char *)"svm1",
					  .subsystem = (char *)"ss1", .aggregate = (char *)"aggr1",
					  .encryption = -1, .snapshot_reserve = -1 };
	fx->cfg.ontap = &fx->cluster;
	fx->cfg.nontap = 1;
	fx->cfg.storages = &fx->st;
	fx->cfg.nstorages = 1;
	fx->cfg.paths.pve_etc = fx->dir;
	http_set_fake_transport(fake_http_answer, &fx->f);
	ops_ctx_init(&fx->ctx, &fx->cfg);
	err_clear();
	return fx;
}

static void fixture_free(struct fixture *fx)
{
	ops_ctx_release(&fx->ctx);
	http_set_fake_transport(NULL, NULL);
	rmdir(fx->node);
	rmdir(fx->nodes);
	rmdir(fx->dir);
	free(fx);
}

static void test_orphans_of_a_pool_that_fits(void **state)
{
	struct fixture *fx = fixture_new("nvme1");
	struct nvme_orphan *o = NULL;
	int n = -1;

	(void)state;
	fake_route(&fx->f, "GET", "/api/storage/volumes?", 200, VOLS, 0);
	fake_route(&fx->f, "GET", "/api/application/consistency-groups?", 200, NONE, 0);
	assert_int_equal(ops_nvme_orphans(&fx->ctx, NULL, &o, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(o[0].pool, "nvme1");
	assert_string_equal(o[0].kind, "volume");
	assert_string_equal(o[0].name, "pve_vm_100_disk_0");
	assert_int_equal(o[0].vmid, 100);
	free(o);
	fixture_free(fx);
}

/* The longest id a config accepts (CONFIG_STORAGE_ID_MAX): "nvme-" and 250 'p's. */
static const char *long_pool(void)
{
	static char id[CONFIG_STORAGE_ID_MAX + 1];

	memcpy(id, "nvme-", 5);
	memset(id + 5, 'p', CONFIG_STORAGE_ID_MAX - 5);
	id[CONFIG_STORAGE_ID_MAX] = '\0';
	return id;
}

/* The old code listed orphans and disks under a pool id cut to 63 bytes: a pool that is
 * not there. */
static void test_the_longest_pool_id_is_kept_whole(void **state)
{
	struct fixture *fx = fixture_new(long_pool());
	struct nvme_orphan *o = NULL;
	struct nvme_disk_info *d = NULL;
	int n = -1, nd = -1;

	(void)state;
	fake_route(&fx->f, "GET", "/api/storage/namespaces?", 200, NSS, 0);
	fake_route(&fx->f, "GET", "/api/storage/volumes?", 200, VOLS, 0);
	fake_route(&fx->f, "GET", "/api/application/consistency-groups?", 200, NONE, 0);
	assert_int_equal(ops_nvme_orphans(&fx->ctx, NULL, &o, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(o[0].pool, long_pool());
	assert_int_equal(ops_nvme_list(&fx->ctx, 100, NULL, &d, &nd), 0);
	assert_int_equal(nd, 1);
	assert_string_equal(d[0].pool, long_pool());
	assert_string_equal(d[0].volume, "pve_vm_100_disk_0");
	free(o);
	free(d);
	fixture_free(fx);
}

/* An id longer than any config holds (a caller that skipped config.c) is refused before
 * anything is made: no request reaches ONTAP. */
static void test_create_in_a_too_long_pool_id_asks_nothing(void **state)
{
	char id[CONFIG_STORAGE_ID_MAX + 8];
	struct fixture *fx;
	struct nvme_disk_info d;

	(void)state;
	memset(id, 'p', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	fx = fixture_new(id);
	assert_int_equal(ops_nvme_create(&fx->ctx, 100, id, 1ULL << 30, &d), POE_FAIL);
	assert_non_null(strstr(err_msg(), "pool name 'ppp"));
	assert_int_equal(fx->f.nlog, 0);
	fixture_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_orphans_of_a_pool_that_fits),
		cmocka_unit_test(test_the_longest_pool_id_is_kept_whole),
		cmocka_unit_test(test_create_in_a_too_long_pool_id_asks_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
