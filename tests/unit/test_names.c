/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DESIGN.md "Names": clone file names and NVMe namespace names back to their VM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "ops/names.h"

static void test_clone_names(void **state)
{
	(void)state;
	assert_int_equal(names_clone_vmid("vm-100-disk-0-snap-daily-20261122T101500Z.raw"),
			 100);
	assert_int_equal(names_clone_vmid("vm-4242-disk-12-snap-a_b9-20240313T144247Z.qcow2"),
			 4242);
	assert_int_equal(names_clone_vmid("vm-100-disk-3-snap-boot-20240313T144247Z.vmdk"),
			 100);
	/* not ours */
	assert_int_equal(names_clone_vmid("vm-100-disk-0.raw"), -1);
	assert_int_equal(names_clone_vmid("vm-100-disk-0-snap-daily-20261122T101500Z.img"),
			 -1);
	assert_int_equal(names_clone_vmid("vm-100-disk-0-snap-Daily-20261122T101500Z.raw"),
			 -1);
	assert_int_equal(names_clone_vmid("vm-100-disk-0-snap--20261122T101500Z.raw"), -1);
	assert_int_equal(names_clone_vmid("vm-100-disk-0-snap-daily-2026112T101500Z.raw"),
			 -1);
	assert_int_equal(names_clone_vmid("vm-100-disk-0-snap-daily-20261122T101500.raw"),
			 -1);
	assert_int_equal(names_clone_vmid("vm-99-disk-0-snap-daily-20261122T101500Z.raw"),
			 -1);
	assert_int_equal(names_clone_vmid("vm-100-disk-0-snap-daily-20261122T101500Z.raw.x"),
			 -1);
	assert_int_equal(names_clone_vmid("vm-100-disk-0-snapshot-2024-03-13_14:42:47.raw"),
			 -1);
	assert_int_equal(names_clone_vmid(
				 "vm-100-disk-0-snap-abcdefghijklmnopqrstuvwxyz0123456-"
				 "20261122T101500Z.raw"),
			 -1); /* label of 33 characters */
	assert_int_equal(names_clone_vmid(""), -1);
}

/* A part the caller has no room for is refused, never handed back cut (STYLE #5). */
static void test_parse_no_room(void **state)
{
	const char *f = "vm-100-disk-0-snap-daily-20261122T101500Z.qcow2";
	char stem[64], snap[64], ext[8], label[8];
	time_t t;

	(void)state;
	assert_true(ops_parse_clone_name(f, stem, sizeof(stem), snap, sizeof(snap), ext,
					 sizeof(ext)));
	assert_string_equal(stem, "vm-100-disk-0");
	assert_string_equal(snap, "daily-20261122T101500Z");
	assert_string_equal(ext, "qcow2");
	assert_false(ops_parse_clone_name(f, stem, sizeof(stem), snap, sizeof(snap), ext, 5));
	assert_false(ops_parse_clone_name(f, stem, sizeof(stem), snap, 22, ext, sizeof(ext)));
	assert_true(ops_parse_clone_name(f, stem, sizeof(stem), snap, 23, ext, 6));
	assert_true(ops_parse_snapshot_name("daily-20261122T101500Z", label, sizeof(label), &t));
	assert_string_equal(label, "daily");
	assert_false(ops_parse_snapshot_name("weekly-20261122T101500Z", label, 6, &t));
	assert_true(ops_parse_snapshot_name("weekly-20261122T101500Z", label, 7, &t));
}

static void test_ns_names(void **state)
{
	(void)state;
	assert_int_equal(names_nvme_ns_vmid("/vol/pve_vm_100_disk_0/pve_vm_100_disk_0", "pve_"),
			 100);
	assert_int_equal(names_nvme_ns_vmid("/vol/x_vm_123456_disk_7/ns", "x_"), 123456);
	assert_int_equal(names_nvme_ns_vmid("/vol/vm_100_disk_0/ns", ""), 100);
	assert_int_equal(names_nvme_ns_vmid("/vol/pve_vm_100_disk_0/ns", "other_"), -1);
	assert_int_equal(names_nvme_ns_vmid("/vol/pve_vm_100_disk_0", "pve_"), -1);
	assert_int_equal(names_nvme_ns_vmid("/vol/pve_vm_100_disk_0/", "pve_"), -1);
	assert_int_equal(names_nvme_ns_vmid("/vol/pve_vm_100_disk_0/a/b", "pve_"), -1);
	assert_int_equal(names_nvme_ns_vmid("/vol/pve_vm_100_disk_x/ns", "pve_"), -1);
	assert_int_equal(names_nvme_ns_vmid("/vol/pve_vm_42_disk_0/ns", "pve_"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clone_names),
		cmocka_unit_test(test_ns_names),
		cmocka_unit_test(test_parse_no_room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
