/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the job queue files (lib/host/queue.c, DESIGN.md "Job queue"). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "host/queue.h"
#include "testutil.h"
#include "base/util.h"

static int setup(void **state)
{
	char *root = testutil_mkdtemp("test_queue");

	if (!root)
		return -1;
	*state = util_xasprintf("%s/queue", root);
	free(root);
	return 0;
}

static int teardown(void **state)
{
	char *dir = *state;
	char *root = util_xstrdup(dir);

	*strrchr(root, '/') = '\0';
	testutil_rm_rf(root);
	free(root);
	free(dir);
	return 0;
}

/* Names of the entries in dir (sorted), hidden ones included; returns their count. */
static int list_dir(const char *dir, char names[][256], int max)
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, alphasort);
	int k = 0;

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..") && k < max)
			util_strlcpy(names[k++], ents[i]->d_name, 256);
		free(ents[i]);
	}
	free(ents);
	return k;
}

static void write_raw(const char *dir, const char *name, const char *text)
{
	char *p = util_xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	free(p);
}

static void test_put_and_read_roundtrip(void **state)
{
	const char *dir = *state;
	struct queue_job jobs[4] = {
		{ .vmid = 100, .action = QUEUE_RESCAN },
		{ .vmid = 100, .action = QUEUE_UNUSED_REMOVE,
		  .arg = "ONTAP01:100/vm-100-disk-0-snap-daily-20261122T101500Z.raw" },
		{ .vmid = 100, .action = QUEUE_REGISTER,
		  .arg = "ONTAP01:100/vm-100-disk-0-snap-daily-20261122T101500Z.raw" },
		{ .vmid = 4242, .action = QUEUE_NVME_ATTACH,
		  .arg = "1b4e28ba-2fa1-11d2-883f-0016d3cca427" },
	};
	char names[8][256];
	struct queue_job got;
	struct stat st;
	int dfd, n;

	for (int i = 0; i < 4; i++)
		assert_int_equal(queue_put(dir, &jobs[i]), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	n = list_dir(dir, names, 8);
	assert_int_equal(n, 4); /* no temporary files left behind */
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	for (int i = 0; i < n; i++) {
		assert_true(names[i][0] != '.');
		assert_non_null(strstr(names[i], ".job"));
		assert_int_equal(queue_read(dfd, names[i], &got), 0);
		assert_string_equal(got.file, names[i]);
		/* sorted by name: 100-... (three, in write order), then 4242-... */
		assert_int_equal(got.vmid, jobs[i].vmid);
		assert_int_equal(got.action, jobs[i].action);
		assert_string_equal(got.arg, jobs[i].arg);
	}
	close(dfd);
}

static void test_put_rejects_bad_jobs(void **state)
{
	const char *dir = *state;
	struct queue_job bad_vmid = { .vmid = 99, .action = QUEUE_RESCAN };
	struct queue_job bad_volid = { .vmid = 100, .action = QUEUE_UNUSED_REMOVE,
				       .arg = "ONTAP01:100/../../etc/passwd" };
	struct queue_job bad_uuid = { .vmid = 100, .action = QUEUE_NVME_ATTACH,
				      .arg = "not-a-uuid" };

	assert_int_equal(queue_put(dir, &bad_vmid), POE_FAIL);
	assert_int_equal(queue_put(dir, &bad_volid), POE_FAIL);
	assert_int_equal(queue_put(dir, &bad_uuid), POE_FAIL);
}

static void test_parse_valid(void **state)
{
	struct queue_job j;
	static const char t1[] = "{\"vmid\":100,\"action\":\"rescan\"}";
	static const char t2[] = " {\"action\":\"unused-remove\",\"vmid\":101,"
				 "\"volid\":\"ONTAP01:101/vm-101-disk-0-snap-x.raw\"}\n";
	static const char t3[] = "{\"vmid\":999999999,\"action\":\"nvme-attach\","
				 "\"uuid\":\"ABCDEF01-2345-6789-abcd-ef0123456789\"}";

	(void)state;
	assert_int_equal(queue_parse(t1, strlen(t1), &j), 0);
	assert_int_equal(j.vmid, 100);
	assert_int_equal(j.action, QUEUE_RESCAN);
	assert_string_equal(j.arg, "");
	assert_int_equal(queue_parse(t2, strlen(t2), &j), 0);
	assert_int_equal(j.action, QUEUE_UNUSED_REMOVE);
	assert_string_equal(j.arg, "ONTAP01:101/vm-101-disk-0-snap-x.raw");
	assert_int_equal(queue_parse(t3, strlen(t3), &j), 0);
	assert_int_equal(j.action, QUEUE_NVME_ATTACH);
	assert_string_equal(queue_action_name(j.action), "nvme-attach");
	{
		static const char t4[] = "{\"vmid\":100,\"action\":\"register\","
					 "\"volid\":\"ONTAP01:100/vm-100-disk-0-snap-x.raw\"}";

		assert_int_equal(queue_parse(t4, strlen(t4), &j), 0);
		assert_int_equal(j.action, QUEUE_REGISTER);
		assert_string_equal(j.arg, "ONTAP01:100/vm-100-disk-0-snap-x.raw");
		assert_string_equal(queue_action_name(j.action), "register");
	}
}

#define NVME_ATTACH "{\"vmid\":100,\"action\":\"nvme-attach\",\"uuid\":"

static void test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"null",
		"{\"vmid\":100}",
		"{\"action\":\"rescan\"}",
		"{\"vmid\":\"100\",\"action\":\"rescan\"}",
		"{\"vmid\":100.5,\"action\":\"rescan\"}",
		"{\"vmid\":99,\"action\":\"rescan\"}",
		"{\"vmid\":1000000000,\"action\":\"rescan\"}",
		"{\"vmid\":-100,\"action\":\"rescan\"}",
		"{\"vmid\":100,\"action\":\"destroy\"}",
		"{\"vmid\":100,\"action\":\"rescan\",\"extra\":1}",
		"{\"vmid\":100,\"action\":\"rescan\",\"vmid\":101}",
		"{\"vmid\":100,\"action\":\"rescan\",\"volid\":\"A:100/x.raw\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\"}",
		("{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"A:100/x.raw\",\"uuid\":"
		 "\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"}"),
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"ONTAP01:100/../x.raw\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"ONTAP01:100/a/b.raw\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"ONTAP01:abc/x.raw\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"ONTAP01:/x.raw\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"9x:100/x.raw\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"/dev/sda\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"ONTAP01:100/x y.raw\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"ONTAP01:100/x,size=1\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"ONTAP01:100/x\\n.raw\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":\"ONTAP01:100/x\\u0000\"}",
		"{\"vmid\":100,\"action\":\"unused-remove\",\"volid\":5}",
		"{\"vmid\":100,\"action\":\"register\"}",
		"{\"vmid\":100,\"action\":\"register\",\"volid\":\"ONTAP01:100/../x.raw\"}",
		/* a raw path is never registered (PVE owns no path) */
		"{\"vmid\":100,\"action\":\"register\",\"volid\":"
		"\"/dev/disk/by-id/nvme-uuid.1b4e28ba-2fa1-11d2-883f-0016d3cca427\"}",
		"{\"vmid\":100,\"action\":\"register\",\"uuid\":"
		"\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"}",
		NVME_ATTACH "\"1b4e28ba2fa111d2883f0016d3cca427\"}",
		NVME_ATTACH "\"1b4e28ba-2fa1-11d2-883f-0016d3cca42\"}",
		NVME_ATTACH "\"1b4e28ba-2fa1-11d2-883f-0016d3cca4271\"}",
		NVME_ATTACH "\"gb4e28ba-2fa1-11d2-883f-0016d3cca427\"}",
		"{\"vmid\":100,\"action\":\"rescan\"",
		"{\"vmid\":100,\"action\":\"rescan\"} {}",
		"{'vmid':100,'action':'rescan'}",
	};
	struct queue_job j;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = queue_parse(bad[i], strlen(bad[i]), &j);

		if (rc != POE_FAIL)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(j.vmid, 0);
	}
}

static void test_read_rejects_untrusted_files(void **state)
{
	const char *dir = *state;
	char big[QUEUE_MAX_JOB_BYTES + 64];
	struct queue_job j;
	char *p;
	int dfd;

	assert_int_equal(util_mkdir_p(dir, 0700), 0);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);

	/* valid */
	write_raw(dir, "100-1.job", "{\"vmid\":100,\"action\":\"rescan\"}");
	assert_int_equal(queue_read(dfd, "100-1.job", &j), 0);

	/* symlink to a valid job */
	p = util_xasprintf("%s/100-2.job", dir);
	assert_int_equal(symlink("100-1.job", p), 0);
	free(p);
	assert_int_equal(queue_read(dfd, "100-2.job", &j), POE_FAIL);

	/* FIFO: must not block */
	p = util_xasprintf("%s/100-3.job", dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	free(p);
	assert_int_equal(queue_read(dfd, "100-3.job", &j), POE_FAIL);
	assert_non_null(strstr(err_msg(), "regular"));

	/* directory */
	p = util_xasprintf("%s/100-4.job", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	assert_int_equal(queue_read(dfd, "100-4.job", &j), POE_FAIL);

	/* too big, even when the start is valid JSON */
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "{\"vmid\":100,\"action\":\"rescan\"}", 30);
	write_raw(dir, "100-5.job", big);
	assert_int_equal(queue_read(dfd, "100-5.job", &j), POE_FAIL);
	assert_non_null(strstr(err_msg(), "larger"));

	/* content for another VM than the name says */
	write_raw(dir, "101-6.job", "{\"vmid\":100,\"action\":\"rescan\"}");
	assert_int_equal(queue_read(dfd, "101-6.job", &j), POE_FAIL);

	/* bad names: hidden temporary, not .job, path */
	write_raw(dir, ".100-7.job.tmp", "{\"vmid\":100,\"action\":\"rescan\"}");
	assert_int_equal(queue_read(dfd, ".100-7.job.tmp", &j), POE_FAIL);
	assert_int_equal(queue_read(dfd, "../100-1.job", &j), POE_FAIL);
	assert_int_equal(queue_read(dfd, "100-1.txt", &j), POE_FAIL);

	/* missing */
	assert_int_equal(queue_read(dfd, "100-404.job", &j), POE_NOTFOUND);

	/* malformed */
	write_raw(dir, "100-8.job", "{\"vmid\":100,\"action\":\"rm -rf /\"}");
	assert_int_equal(queue_read(dfd, "100-8.job", &j), POE_FAIL);
	close(dfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_and_read_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_rejects_bad_jobs, setup, teardown),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test_setup_teardown(test_read_rejects_untrusted_files, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
