/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the cluster lock (lib/host/lock.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "base/err.h"
#include "host/lock.h"
#include "testutil.h"
#include "base/util.h"

static int setup(void **state)
{
	*state = testutil_mkdtemp("test_lock");
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	testutil_rm_rf(*state);
	free(*state);
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Entries named pve-ontap-* in dir: lock directories and leftovers of a takeover. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "pve-ontap-", 10))
			n++;
	closedir(d);
	return n;
}

static void test_acquire_release(void **state)
{
	const char *dir = *state;
	struct cluster_lock l;
	char *p = util_xasprintf("%s/pve-ontap-vm-100/owner", dir);
	char buf[512] = "";
	char host[256];
	FILE *f;

	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", util_now_ms() + 1000), 0);
	assert_true(l.held);
	assert_true(exists(p));
	f = fopen(p, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	gethostname(host, sizeof(host));
	assert_int_equal(strncmp(buf, host, strlen(host)), 0);
	{
		char pid[32];

		snprintf(pid, sizeof(pid), " %ld ", (long)getpid());
		assert_non_null(strstr(buf, pid));
	}
	cluster_lock_release(&l);
	assert_false(l.held);
	assert_false(exists(p));
	assert_int_equal(count_entries(dir), 0);
	/* releasing twice is harmless */
	cluster_lock_release(&l);
	free(p);
}

static void test_bad_name(void **state)
{
	struct cluster_lock l;

	assert_int_equal(cluster_lock_acquire(&l, *state, "../x", 0), POE_FAIL);
	assert_int_equal(cluster_lock_acquire(&l, *state, "", 0), POE_FAIL);
	assert_int_equal(cluster_lock_acquire(&l, "/nonexistent/dir", "vm-1", 0), POE_FAIL);
}

static void test_timeout_while_held(void **state)
{
	const char *dir = *state;
	struct cluster_lock a, b;
	int64_t t0;

	assert_int_equal(cluster_lock_acquire(&a, dir, "vm-100", 0), 0);
	t0 = util_now_ms();
	assert_int_equal(cluster_lock_acquire(&b, dir, "vm-100", t0 + 350), POE_TIMEOUT);
	assert_true(util_now_ms() - t0 >= 300);
	assert_true(util_now_ms() - t0 < 2000);
	assert_false(b.held);
	assert_non_null(strstr(err_msg(), "vm-100"));
	/* another name is independent */
	assert_int_equal(cluster_lock_acquire(&b, dir, "storage-ONTAP01", util_now_ms() + 100), 0);
	cluster_lock_release(&b);
	cluster_lock_release(&a);
}

/* The child holds the lock for a while; the parent waits and gets it after the release. */
static void test_contention_with_child(void **state)
{
	const char *dir = *state;
	struct cluster_lock l;
	int pipefd[2];
	int64_t t0;
	int status;
	char c;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cluster_lock cl;

		close(pipefd[0]);
		if (cluster_lock_acquire(&cl, dir, "vm-100", util_now_ms() + 2000) < 0)
			_exit(1);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(2);
		usleep(500 * 1000);
		cluster_lock_release(&cl);
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);

	t0 = util_now_ms();
	/* a short deadline times out while the child holds it */
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", t0 + 150), POE_TIMEOUT);
	/* a longer one succeeds once the child releases */
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", t0 + 5000), 0);
	assert_true(util_now_ms() - t0 >= 300);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	cluster_lock_release(&l);
	assert_int_equal(count_entries(dir), 0);
}

/* Many children race for the lock; each holds it exclusively (checked with a marker file). */
static void test_mutual_exclusion(void **state)
{
	const char *dir = *state;
	char *marker = util_xasprintf("%s/marker", dir);
	pid_t pids[6];

	for (int i = 0; i < 6; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			for (int k = 0; k < 5; k++) {
				struct cluster_lock cl;
				int fd;

				if (cluster_lock_acquire(&cl, dir, "vm-100", util_now_ms() + 20000))
					_exit(1);
				fd = open(marker, O_CREAT | O_EXCL | O_WRONLY, 0600);
				if (fd < 0)
					_exit(2); /* someone else is inside */
				close(fd);
				usleep(2000);
				unlink(marker);
				cluster_lock_release(&cl);
			}
			_exit(0);
		}
	}
	for (int i = 0; i < 6; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	free(marker);
}

static void write_owner(const char *dir, const char *content)
{
	char *lockdir = util_xasprintf("%s/pve-ontap-vm-100", dir);
	char *owner = util_xasprintf("%s/owner", lockdir);
	FILE *f;

	assert_int_equal(mkdir(lockdir, 0700), 0);
	if (content) {
		f = fopen(owner, "w");
		assert_non_null(f);
		fputs(content, f);
		fclose(f);
	}
	free(owner);
	free(lockdir);
}

static void test_stale_takeover(void **state)
{
	const char *dir = *state;
	struct cluster_lock l;
	char owner[512];

	/* another node's holder, 10 minutes ago */
	snprintf(owner, sizeof(owner), "other-node 12345 %lld\n", (long long)time(NULL) - 600);
	write_owner(dir, owner);
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", util_now_ms() + 1000), 0);
	cluster_lock_release(&l);
	assert_int_equal(count_entries(dir), 0);
}

static void test_fresh_other_node_not_taken(void **state)
{
	const char *dir = *state;
	struct cluster_lock l;
	char owner[512];

	snprintf(owner, sizeof(owner), "other-node 12345 %lld\n", (long long)time(NULL) - 5);
	write_owner(dir, owner);
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", util_now_ms() + 300),
			 POE_TIMEOUT);
	assert_non_null(strstr(err_msg(), "other-node"));
}

static void test_stale_without_owner_file(void **state)
{
	const char *dir = *state;
	char *lockdir = util_xasprintf("%s/pve-ontap-vm-100", dir);
	struct utimbuf old = { .actime = time(NULL) - 300, .modtime = time(NULL) - 300 };
	struct cluster_lock l;

	write_owner(dir, NULL);
	/* fresh directory without owner: a holder between mkdir and writing the owner */
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", util_now_ms() + 250),
			 POE_TIMEOUT);
	assert_int_equal(utime(lockdir, &old), 0);
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", util_now_ms() + 1000), 0);
	cluster_lock_release(&l);
	free(lockdir);
}

static void test_dead_local_holder(void **state)
{
	const char *dir = *state;
	struct cluster_lock l;
	char owner[512];
	char host[256];
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	gethostname(host, sizeof(host));
	snprintf(owner, sizeof(owner), "%s %ld %lld\n", host, (long)pid, (long long)time(NULL));
	write_owner(dir, owner);
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", util_now_ms() + 1000), 0);
	cluster_lock_release(&l);
}

static void test_release_after_takeover(void **state)
{
	const char *dir = *state;
	char *owner = util_xasprintf("%s/pve-ontap-vm-100/owner", dir);
	struct cluster_lock l;
	FILE *f;

	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", 0), 0);
	/* someone took it over as stale meanwhile */
	f = fopen(owner, "w");
	assert_non_null(f);
	fprintf(f, "other-node 777 %lld\n", (long long)time(NULL));
	fclose(f);
	cluster_lock_release(&l);
	assert_true(exists(owner)); /* not ours to remove */
	free(owner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_acquire_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_while_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contention_with_child, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mutual_exclusion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_takeover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_other_node_not_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_without_owner_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_local_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_after_takeover, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
