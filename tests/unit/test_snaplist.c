/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the VM snapshot records of lib/ops/snaplist.c: disks and missing disks in
 * arrays that double on demand (no count cap), one owner per record (move, never copy),
 * and lists freed whole. Run under valgrind by check-valgrind: nothing may leak.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "ops/ops.h"
#include "ops/ops_internal.h"

#define NAME_A "daily-20260101T000000Z"
#define NAME_B "daily-20260102T000000Z"

/* n disks "d<i>" (file clones at "images/100/d<i>.raw"), as the listing adds them */
static void add_disks(struct vm_snapshot *s, int n)
{
	for (int i = 0; i < n; i++) {
		char key[16], path[64];

		snprintf(key, sizeof(key), "d%d", i);
		snprintf(path, sizeof(path), "images/100/d%d.raw", i);
		assert_int_equal(vm_snapshot_add_disk(s, key, "file-clone", "ONTAP01", path), 0);
	}
}

static void test_more_than_64_disks_all_kept(void **state)
{
	struct vm_snapshot *list = NULL;
	int n = 0;

	(void)state;
	/* the listing finds a snapshot's disks one by one, interleaved with another's */
	for (int i = 0; i < 70; i++) {
		char key[16];

		snprintf(key, sizeof(key), "d%d", i);
		assert_int_equal(vm_snapshot_add_disk(ops_snapshot_find_or_add(&list, &n, NAME_A),
						      key, "file-clone", "ONTAP01", "p"), 0);
		if (i % 7 == 0)
			add_disks(ops_snapshot_find_or_add(&list, &n, NAME_B), 1);
	}
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, NAME_A);
	assert_string_equal(list[0].label, "daily");
	assert_int_equal(list[0].ndisks, 70);
	for (int i = 0; i < 70; i++) {
		char key[16];

		snprintf(key, sizeof(key), "d%d", i);
		assert_string_equal(list[0].disks[i].disk, key);
		assert_string_equal(list[0].disks[i].kind, "file-clone");
		assert_string_equal(list[0].disks[i].storage, "ONTAP01");
	}
	assert_int_equal(list[1].ndisks, 10);
	for (int i = 0; i < 70; i++) {
		char key[16];

		snprintf(key, sizeof(key), "m%d", i);
		assert_int_equal(vm_snapshot_add_missing(&list[1], key), 0);
	}
	assert_int_equal(list[1].nmissing, 70);
	assert_string_equal(list[1].missing[69], "m69");
	ops_vm_snapshot_list_free(list, n);
}

static void test_many_snapshots_each_with_disks(void **state)
{
	struct vm_snapshot *list = NULL;
	int n = 0;

	(void)state;
	/* the list array doubles while records hold heap arrays: moved, never copied */
	for (int k = 0; k < 100; k++) {
		char name[96];

		snprintf(name, sizeof(name), "hourly-202601%02dT%02d0000Z", 1 + k / 24, k % 24);
		add_disks(ops_snapshot_find_or_add(&list, &n, name), 1 + k % 5);
	}
	assert_int_equal(n, 100);
	for (int k = 0; k < 100; k++) {
		char path[64];

		snprintf(path, sizeof(path), "images/100/d%d.raw", k % 5);
		assert_int_equal(list[k].ndisks, 1 + k % 5);
		assert_string_equal(list[k].disks[list[k].ndisks - 1].path, path);
	}
	ops_vm_snapshot_list_free(list, n);
}

static void test_move_hands_over_one_owner(void **state)
{
	struct vm_snapshot *list = NULL, *pruned = NULL;
	int n = 0, np = 0;

	(void)state;
	add_disks(ops_snapshot_find_or_add(&list, &n, NAME_A), 66);
	assert_int_equal(vm_snapshot_add_missing(&list[0], "scsi1"), 0);
	vm_snapshot_move(ops_snapshot_find_or_add(&pruned, &np, list[0].name), &list[0]);
	/* the source is empty (its arrays now belong to the new record) */
	assert_null(list[0].disks);
	assert_null(list[0].missing);
	assert_int_equal(list[0].ndisks, 0);
	assert_int_equal(np, 1);
	assert_string_equal(pruned[0].name, NAME_A);
	assert_int_equal(pruned[0].ndisks, 66);
	assert_string_equal(pruned[0].disks[65].disk, "d65");
	assert_int_equal(pruned[0].nmissing, 1);
	assert_string_equal(pruned[0].missing[0], "scsi1");
	ops_vm_snapshot_list_free(list, n);
	ops_vm_snapshot_list_free(pruned, np);
}

/* A disk whose key, storage or path does not fit is refused whole, never kept cut. */
static void test_too_long_is_refused(void **state)
{
	struct vm_snapshot *list = NULL, *s;
	char path[OPS_PATH_MAX + 8];
	int n = 0;

	(void)state;
	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	s = ops_snapshot_find_or_add(&list, &n, NAME_A);
	assert_int_equal(vm_snapshot_add_disk(s, "scsi0", "file-clone", "ONTAP01", path),
			 POE_FAIL);
	assert_non_null(strstr(err_msg(), "snapshot path"));
	memset(path, 's', CONFIG_STORAGE_ID_MAX + 1); /* one byte over the longest id */
	path[CONFIG_STORAGE_ID_MAX + 1] = '\0';
	assert_int_equal(vm_snapshot_add_disk(s, "scsi0", "file-clone", path, "p"), POE_FAIL);
	assert_non_null(strstr(err_msg(), "storage id"));
	assert_int_equal(vm_snapshot_add_missing(s, "a-key-of-sixteen-bytes"), POE_FAIL);
	assert_int_equal(s->ndisks, 0);
	assert_int_equal(s->nmissing, 0);
	assert_int_equal(vm_snapshot_add_disk(s, "scsi0", "file-clone", "ONTAP01", "p"), 0);
	assert_int_equal(s->ndisks, 1);
	ops_vm_snapshot_list_free(list, n);
}

static void test_clear_and_free_empty(void **state)
{
	struct vm_snapshot s = { .ndisks = 0 };

	(void)state;
	vm_snapshot_clear(&s); /* a zeroed record */
	add_disks(&s, 3);
	vm_snapshot_clear(&s);
	assert_null(s.disks);
	assert_int_equal(s.ndisks, 0);
	assert_int_equal(s.cap_disks, 0);
	add_disks(&s, 2); /* usable again */
	assert_int_equal(s.ndisks, 2);
	vm_snapshot_clear(&s);
	ops_vm_snapshot_list_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_more_than_64_disks_all_kept),
		cmocka_unit_test(test_many_snapshots_each_with_disks),
		cmocka_unit_test(test_move_hands_over_one_owner),
		cmocka_unit_test(test_too_long_is_refused),
		cmocka_unit_test(test_clear_and_free_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
