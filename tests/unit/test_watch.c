/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pure helpers of the watcher: uuid parsing, coalescing, backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "host/nvmehost.h"
#include "host/queue.h"
#include "watch_internal.h"

static void test_uuid(void **state)
{
	char out[WATCH_UUID_LEN + 1];
	const char good[] = "3F2504E0-4F89-11D3-9A0C-0305E82C3301\n";

	(void)state;
	assert_int_equal(watch_uuid_parse(good, strlen(good), out), 0);
	assert_string_equal(out, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
	/* bounded by len, not by a NUL */
	assert_int_equal(watch_uuid_parse(good, 20, out), POE_FAIL);
	assert_int_equal(watch_uuid_parse("3f2504e0-4f89-11d3-9a0c-0305e82c330", 35, out),
			 POE_FAIL);
	assert_int_equal(watch_uuid_parse("3f2504e0x4f89-11d3-9a0c-0305e82c3301", 36, out),
			 POE_FAIL);
	assert_int_equal(watch_uuid_parse("3f2504e0-4f89-11d3-9a0c-0305e82c330g", 36, out),
			 POE_FAIL);
	assert_int_equal(watch_uuid_parse("00000000-0000-0000-0000-000000000000\n", 37, out),
			 POE_FAIL);
	assert_int_equal(watch_uuid_parse("", 0, out), POE_FAIL);
}

static struct queue_job job(int vmid, enum queue_action a, const char *arg)
{
	struct queue_job j;

	memset(&j, 0, sizeof(j));
	j.vmid = vmid;
	j.action = a;
	strcpy(j.arg, arg);
	return j;
}

static void test_coalesce(void **state)
{
	struct queue_job jobs[7];
	int key_of[7];

	(void)state;
	jobs[0] = job(100, QUEUE_RESCAN, "");
	jobs[1] = job(100, QUEUE_UNUSED_REMOVE, "ONTAP01:100/a.raw");
	jobs[2] = job(100, QUEUE_RESCAN, "");
	jobs[3] = job(100, QUEUE_UNUSED_REMOVE, "ONTAP01:100/b.raw");
	jobs[4] = job(100, QUEUE_UNUSED_REMOVE, "ONTAP01:100/a.raw");
	jobs[5] = job(100, QUEUE_NVME_ATTACH, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
	jobs[6] = job(100, QUEUE_NVME_ATTACH, "3F2504E0-4F89-11D3-9A0C-0305E82C3301");
	assert_int_equal(watch_coalesce(jobs, 7, key_of), 4);
	assert_int_equal(key_of[0], 0);
	assert_int_equal(key_of[1], 1);
	assert_int_equal(key_of[2], 0);
	assert_int_equal(key_of[3], 3);
	assert_int_equal(key_of[4], 1);
	assert_int_equal(key_of[5], 5);
	assert_int_equal(key_of[6], 5);

	/* register jobs coalesce per volume, not with unused-remove of the same volume */
	{
		struct queue_job r[3];
		int k[3];

		r[0] = job(100, QUEUE_REGISTER, "ONTAP01:100/a.raw");
		r[1] = job(100, QUEUE_UNUSED_REMOVE, "ONTAP01:100/a.raw");
		r[2] = job(100, QUEUE_REGISTER, "ONTAP01:100/a.raw");
		assert_int_equal(watch_coalesce(r, 3, k), 2);
		assert_int_equal(k[2], 0);
		assert_int_equal(k[1], 1);
		r[2] = job(100, QUEUE_REGISTER, "ONTAP01:100/b.raw");
		assert_int_equal(watch_coalesce(r, 3, k), 3);
	}

		/* 500 rescans of one VM are one */
	{
		struct queue_job many[500];
		int keys[500];

		for (int i = 0; i < 500; i++)
			many[i] = job(101, QUEUE_RESCAN, "");
		assert_int_equal(watch_coalesce(many, 500, keys), 1);
	}
	/* other VM: never the same */
	jobs[1] = job(101, QUEUE_RESCAN, "");
	assert_false(watch_jobs_same(&jobs[0], &jobs[1]));
}

static void test_backoff(void **state)
{
	int64_t b = 0;
	int64_t seen[12];

	(void)state;
	for (int i = 0; i < 12; i++)
		seen[i] = b = watch_backoff_next(b);
	assert_int_equal(seen[0], 500);
	assert_int_equal(seen[1], 1000);
	assert_int_equal(seen[2], 2000);
	assert_int_equal(seen[5], 16000);
	assert_int_equal(seen[6], 30000);
	assert_int_equal(seen[11], 30000);
}

static void test_retryable(void **state)
{
	(void)state;
	assert_true(watch_qm_is_retryable("VM is locked (backup)\n"));
	assert_true(watch_qm_is_retryable(
		"can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"));
	assert_true(watch_qm_is_retryable("cluster not ready - no quorum?"));
	assert_false(watch_qm_is_retryable(
		"Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist"));
	assert_false(watch_qm_is_retryable(""));
	assert_false(watch_qm_is_retryable(NULL));
}

/* The device -> uuid direction of nvmehost (the watcher's /dev fallbacks). */
static void test_device_uuid_parsers(void **state)
{
	static const char ontapdevices[] =
		"Warning: something first\n"
		"{\"ONTAPdevices\":[{\"Device\":\"/dev/nvme0n1\",\"UUID\":\"11111111-2222-3333-4444-"
		"555555555555\"},{\"Device\":\"/dev/nvme1n1\",\"UUID\":\"AAAAAAAA-BBBB-CCCC-DDDD-"
		"EEEEEEEEEEEE\"},{\"Device\":\"/dev/nvme2n1\"}]}";
	static const char list_flat[] =
		"{\"Devices\":[{\"DevicePath\":\"/dev/nvme3n1\",\"UUID\":\"0123456789abcdef0123456789"
		"abcdef\"},{\"DevicePath\":\"/dev/nvme4n1\",\"UUID\":\"00000000-0000-0000-0000-"
		"000000000000\"}]}";
	static const char list_nested[] =
		"{\"Devices\":[{\"Subsystems\":[{\"Namespaces\":[{\"NameSpace\":\"nvme5n2\","
		"\"UUID\":\"99999999-8888-7777-6666-555555555555\"}]}]}]}";
	char u[NVMEHOST_UUID_LEN + 1];

	(void)state;
	assert_int_equal(nvmehost_parse_ontapdevices_uuid(ontapdevices, strlen(ontapdevices),
							  "nvme1n1", u), 0);
	assert_string_equal(u, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
	assert_int_equal(nvmehost_parse_ontapdevices_uuid(ontapdevices, strlen(ontapdevices),
							  "nvme0n1", u), 0);
	assert_string_equal(u, "11111111-2222-3333-4444-555555555555");
	/* a record without UUID, a device not listed */
	assert_int_equal(nvmehost_parse_ontapdevices_uuid(ontapdevices, strlen(ontapdevices),
							  "nvme2n1", u), POE_NOTFOUND);
	assert_int_equal(nvmehost_parse_ontapdevices_uuid(ontapdevices, strlen(ontapdevices),
							  "nvme9n1", u), POE_NOTFOUND);
	assert_int_equal(nvmehost_parse_ontapdevices_uuid("{\"x\":1}", 7, "nvme0n1", u),
			 POE_FAIL);
	err_clear();
	/* an NGUID-style value becomes a uuid; an all-zero one is no uuid */
	assert_int_equal(nvmehost_parse_list_uuid(list_flat, strlen(list_flat), "nvme3n1", u), 0);
	assert_string_equal(u, "01234567-89ab-cdef-0123-456789abcdef");
	assert_int_equal(nvmehost_parse_list_uuid(list_flat, strlen(list_flat), "nvme4n1", u),
			 POE_NOTFOUND);
	assert_int_equal(nvmehost_parse_list_uuid(list_nested, strlen(list_nested), "nvme5n2", u),
			 0);
	assert_string_equal(u, "99999999-8888-7777-6666-555555555555");
	assert_int_equal(nvmehost_parse_list_uuid("no json", 7, "nvme5n2", u), POE_FAIL);
	err_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_coalesce),    cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_retryable),   cmocka_unit_test(test_device_uuid_parsers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
