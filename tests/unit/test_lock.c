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

/*
 * pmxcfs refuses rename of lock directories (pve-cluster src/pmxcfs/memdb.c, "we do not
 * allow rename for locks"): these definitions take the place of libc's for lock.c, so
 * every test runs on a lock directory where rename fails with EACCES, as there.
 */
static int rename_calls;

int rename(const char *from, const char *to)
{
	(void)from;
	(void)to;
	rename_calls++;
	errno = EACCES;
	return -1;
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags)
{
	(void)fromfd;
	(void)tofd;
	(void)flags;
	return rename(from, to);
}

/* Lock times scaled by 1/100 (HACKING.md, PVE_ONTAP_TEST_LOCK_SCALE): a lock expires
 * 1.2 s after its mtime, the holder refreshes it every 100 ms. */
#define SCALE "0.01"
#define STALE_MS 1200

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

/* A lock of "other-node" pid 12345, whose owner file says it was taken secs ago. */
static void write_other_owner(const char *dir, int secs)
{
	char owner[512];

	snprintf(owner, sizeof(owner), "other-node 12345 %lld\n", (long long)time(NULL) - secs);
	write_owner(dir, owner);
}

/* Set the lock directory's mtime to secs ago. */
static void age_lock(const char *dir, int secs)
{
	char *lockdir = util_xasprintf("%s/pve-ontap-vm-100", dir);
	struct utimbuf old = { .actime = time(NULL) - secs, .modtime = time(NULL) - secs };

	assert_int_equal(utime(lockdir, &old), 0);
	free(lockdir);
}

static struct timespec lock_mtime(const char *dir)
{
	char *lockdir = util_xasprintf("%s/pve-ontap-vm-100", dir);
	struct stat st;

	assert_int_equal(stat(lockdir, &st), 0);
	free(lockdir);
	return st.st_mtim;
}

static void test_stale_takeover(void **state)
{
	const char *dir = *state;
	struct cluster_lock l;

	/* another node's holder whose lock was last refreshed 10 minutes ago */
	write_other_owner(dir, 600);
	age_lock(dir, 600);
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", util_now_ms() + 1000), 0);
	assert_int_equal(count_entries(dir), 1); /* no break directory left behind */
	cluster_lock_release(&l);
	assert_int_equal(count_entries(dir), 0);
	assert_int_equal(rename_calls, 0);
}

/* An owner file that says "10 minutes ago" does not make a refreshed lock stale. */
static void test_old_owner_but_fresh_mtime_not_taken(void **state)
{
	const char *dir = *state;
	struct cluster_lock l;

	write_other_owner(dir, 600);
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", util_now_ms() + 400),
			 POE_TIMEOUT);
	assert_non_null(strstr(err_msg(), "held by other-node pid 12345"));
}

static void test_fresh_other_node_not_taken(void **state)
{
	const char *dir = *state;
	struct cluster_lock l;

	write_other_owner(dir, 5);
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

/*
 * A job longer than the lock's lifetime: the holder's mtime advances while it holds the
 * lock, and a waiter on another "node" (a child with a deadline past the expiry) never
 * takes it over.
 */
static void test_refresh_keeps_a_long_job_locked(void **state)
{
	const char *dir = *state;
	struct cluster_lock l;
	struct timespec first, last;
	int status;
	pid_t pid;

	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", 0), 0);
	first = lock_mtime(dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cluster_lock cl;
		int rc = cluster_lock_acquire(&cl, dir, "vm-100", util_now_ms() + 2 * STALE_MS);

		_exit(rc == POE_TIMEOUT ? 0 : 1);
	}
	for (int i = 0; i < 5; i++) {
		struct timespec now;

		usleep(STALE_MS * 1000 / 2);
		now = lock_mtime(dir);
		/* touched again within half a lifetime, every time */
		assert_true(now.tv_sec > first.tv_sec ||
			    (now.tv_sec == first.tv_sec && now.tv_nsec > first.tv_nsec));
		first = now;
	}
	last = lock_mtime(dir);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0); /* the waiter timed out */
	(void)last;
	cluster_lock_release(&l);
	assert_int_equal(count_entries(dir), 0);
}

/*
 * N waiters meet one stale lock at the same moment (a pipe is the starting gun): exactly
 * one of them gets it. Each winner holds the lock past every waiter's deadline.
 */
static int race_for_stale_lock(const char *dir, int n)
{
	int gun[2], winners = 0;
	pid_t *pids = util_xcalloc((size_t)n, sizeof(*pids));

	assert_int_equal(pipe(gun), 0);
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct cluster_lock cl;
			char c;

			close(gun[1]);
			if (read(gun[0], &c, 1) != 0)
				_exit(3);
			if (cluster_lock_acquire(&cl, dir, "vm-100", util_now_ms() + 700) < 0)
				_exit(1);
			usleep(1000 * 1000);
			cluster_lock_release(&cl);
			_exit(0);
		}
	}
	close(gun[0]);
	close(gun[1]); /* EOF: all start */
	for (int i = 0; i < n; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_true(WEXITSTATUS(status) <= 1);
		winners += WEXITSTATUS(status) == 0;
	}
	free(pids);
	return winners;
}

static void test_one_winner_for_an_expired_lock(void **state)
{
	const char *dir = *state;

	for (int round = 0; round < 2; round++) {
		write_other_owner(dir, 0);
		age_lock(dir, 10);
		assert_int_equal(race_for_stale_lock(dir, 8), 1);
		assert_int_equal(count_entries(dir), 0);
	}
}

static void test_one_winner_for_a_dead_local_owner(void **state)
{
	const char *dir = *state;
	char owner[512];
	char host[256];
	int status;
	pid_t pid;

	gethostname(host, sizeof(host));
	for (int round = 0; round < 2; round++) {
		pid = fork();
		if (pid == 0)
			_exit(0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		/* fresh mtime: only the dead owner makes it stale */
		snprintf(owner, sizeof(owner), "%s %ld %lld\n", host, (long)pid,
			 (long long)time(NULL));
		write_owner(dir, owner);
		assert_int_equal(race_for_stale_lock(dir, 8), 1);
		assert_int_equal(count_entries(dir), 0);
	}
}

/* A waiter that died while breaking a stale lock delays the takeover by one lifetime. */
static void test_dead_breaker(void **state)
{
	const char *dir = *state;
	struct timespec m;
	struct cluster_lock l;
	char *bp;

	write_owner(dir, "other-node 12345 1\n");
	age_lock(dir, 10);
	m = lock_mtime(dir);
	bp = util_xasprintf("%s/pve-ontap-vm-100.break-%lld.%09ld-0", dir, (long long)m.tv_sec,
			    m.tv_nsec);
	assert_int_equal(mkdir(bp, 0700), 0);
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", util_now_ms() + 300),
			 POE_TIMEOUT);
	assert_true(exists(bp));
	assert_int_equal(cluster_lock_acquire(&l, dir, "vm-100", util_now_ms() + 3 * STALE_MS),
			 0);
	assert_false(exists(bp));
	cluster_lock_release(&l);
	assert_int_equal(count_entries(dir), 0);
	free(bp);
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
	setenv("PVE_ONTAP_TEST_LOCK_SCALE", SCALE, 1);
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
		cmocka_unit_test_setup_teardown(test_old_owner_but_fresh_mtime_not_taken, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refresh_keeps_a_long_job_locked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_winner_for_an_expired_lock, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_winner_for_a_dead_local_owner, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dead_breaker, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
