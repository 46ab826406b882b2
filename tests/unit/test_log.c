/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/log.h"
#include "base/secret.h"

/*
 * Capture what log_* writes to fd 2: the test swaps stderr for a temporary file, runs the
 * calls and reads the file back.
 */
static int saved_fd = -1;
static int cap_fd = -1;

static void capture_begin(void)
{
	char path[] = "/tmp/test_log.XXXXXX";

	cap_fd = mkstemp(path);
	assert_true(cap_fd >= 0);
	unlink(path);
	fflush(stderr);
	saved_fd = dup(STDERR_FILENO);
	assert_true(saved_fd >= 0);
	assert_true(dup2(cap_fd, STDERR_FILENO) >= 0);
}

/* Returns the captured text in out (size n). */
static void capture_end(char *out, size_t n)
{
	ssize_t r;

	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	saved_fd = -1;
	r = pread(cap_fd, out, n - 1, 0);
	assert_true(r >= 0);
	out[r] = '\0';
	close(cap_fd);
	cap_fd = -1;
}

static int setup(void **state)
{
	(void)state;
	unsetenv("JOURNAL_STREAM");
	log_init("pve-ontap");
	log_set_level(LOG_LVL_INFO);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	secret_clear();
	unsetenv("JOURNAL_STREAM");
	unsetenv("PVE_ONTAP_JOURNAL_SOCKET");
	log_init("pve-ontap");
	log_set_level(LOG_LVL_INFO);
	return 0;
}

static void test_plain_format(void **state)
{
	char out[1024];

	(void)state;
	capture_begin();
	log_error("cannot open '%s'", "x");
	log_warn("careful %d", 1);
	log_info("hello");
	log_debug("hidden");
	capture_end(out, sizeof(out));
	assert_string_equal(out, "pve-ontap: error: cannot open 'x'\n"
				 "pve-ontap: warning: careful 1\n"
				 "pve-ontap: hello\n");
}

static void test_debug_level(void **state)
{
	char out[1024];

	(void)state;
	log_set_level(LOG_LVL_DEBUG);
	assert_true(log_enabled(LOG_LVL_DEBUG));
	capture_begin();
	log_debug("detail %s", "d");
	capture_end(out, sizeof(out));
	assert_string_equal(out, "pve-ontap: debug: detail d\n");

	log_set_level(LOG_LVL_ERROR);
	assert_int_equal(log_get_level(), LOG_LVL_ERROR);
	assert_false(log_enabled(LOG_LVL_WARN));
	capture_begin();
	log_warn("nope");
	log_info("nope");
	log_error("yes");
	capture_end(out, sizeof(out));
	assert_string_equal(out, "pve-ontap: error: yes\n");
}

static void test_progname_basename(void **state)
{
	char out[256];

	(void)state;
	log_init("/usr/sbin/pve-ontap-watch");
	capture_begin();
	log_info("x");
	capture_end(out, sizeof(out));
	assert_string_equal(out, "pve-ontap-watch: x\n");
}

static void test_journal_prefix(void **state)
{
	char out[256];
	char js[64];
	struct stat st;

	(void)state;
	capture_begin();
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	/* journald's socket cannot be reached: the <N> lines on stderr are the fallback */
	setenv("PVE_ONTAP_JOURNAL_SOCKET", "/nonexistent/journal/socket", 1);
	log_init("pve-ontap");
	log_error("bad");
	log_warn("careful");
	log_info("note");
	capture_end(out, sizeof(out));
	assert_string_equal(out, "<3>bad\n<4>careful\n<6>note\n");
}

/* Set JOURNAL_STREAM to what fd 2 is now (systemd.exec(5)). */
static void stderr_is_the_journal(void)
{
	char js[64];
	struct stat st;

	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
}

static ssize_t next_datagram(int fd, char *buf, size_t n)
{
	return recv(fd, buf, n, MSG_DONTWAIT);
}

/* The native protocol: one datagram per line, the context as VMID=, LABEL=, PHASE=. */
static void test_journal_native(void **state)
{
	char dir[] = "/tmp/test_log_journal.XXXXXX", path[128], buf[512], out[64];
	static const char multi[] = "PRIORITY=6\nSYSLOG_IDENTIFIER=pve-ontap-watch\n"
				    "MESSAGE\n\x09\0\0\0\0\0\0\0two\nlines\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;
	ssize_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/socket", dir);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("PVE_ONTAP_JOURNAL_SOCKET", path, 1);
	capture_begin();
	stderr_is_the_journal();
	log_init("/usr/sbin/pve-ontap-watch");
	log_context_set(100, "daily", "pre-start");
	log_warn("snapshot of %s failed", "scsi0");
	log_context_label(NULL);
	log_error("no label");
	log_context_clear();
	log_info("two\nlines");
	capture_end(out, sizeof(out));
	assert_string_equal(out, "");  /* nothing twice: stderr is the journal too */
	n = next_datagram(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "PRIORITY=4\nSYSLOG_IDENTIFIER=pve-ontap-watch\n"
				 "MESSAGE=snapshot of scsi0 failed\nVMID=100\nLABEL=daily\n"
				 "PHASE=pre-start\n");
	n = next_datagram(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	assert_string_equal(buf, "PRIORITY=3\nSYSLOG_IDENTIFIER=pve-ontap-watch\n"
				 "MESSAGE=no label\nVMID=100\nPHASE=pre-start\n");
	/* a newline in the value: the binary form, name, LE64 length, value */
	n = next_datagram(fd, buf, sizeof(buf));
	assert_int_equal(n, sizeof(multi) - 1);
	assert_memory_equal(buf, multi, sizeof(multi) - 1);
	assert_true(next_datagram(fd, buf, sizeof(buf)) < 0);
	close(fd);
	unlink(path);
	rmdir(dir);
	unsetenv("PVE_ONTAP_JOURNAL_SOCKET");
}

/* A too-long phase leaves the field out rather than cut it. */
static void test_journal_context_not_cut(void **state)
{
	char dir[] = "/tmp/test_log_journal.XXXXXX", path[128], buf[512], out[64];
	char phase[40];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;
	ssize_t n;

	(void)state;
	memset(phase, 'p', sizeof(phase) - 1);
	phase[sizeof(phase) - 1] = '\0';
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/socket", dir);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("PVE_ONTAP_JOURNAL_SOCKET", path, 1);
	capture_begin();
	stderr_is_the_journal();
	log_init("pve-ontap");
	log_context_set(7, NULL, phase);
	log_warn("w");
	log_context_clear();
	capture_end(out, sizeof(out));
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	assert_string_equal(buf, "PRIORITY=4\nSYSLOG_IDENTIFIER=pve-ontap\nMESSAGE=w\nVMID=7\n");
	close(fd);
	unlink(path);
	rmdir(dir);
	unsetenv("PVE_ONTAP_JOURNAL_SOCKET");
}

static void test_journal_mismatch(void **state)
{
	char out[256];

	(void)state;
	setenv("JOURNAL_STREAM", "1:1", 1);
	capture_begin();
	log_init("pve-ontap");
	log_warn("careful");
	capture_end(out, sizeof(out));
	assert_string_equal(out, "pve-ontap: warning: careful\n");
}

static void test_parse_level(void **state)
{
	enum log_level l = LOG_LVL_INFO;

	(void)state;
	assert_int_equal(log_parse_level("debug", &l), 0);
	assert_int_equal(l, LOG_LVL_DEBUG);
	assert_int_equal(log_parse_level("warn", &l), 0);
	assert_int_equal(l, LOG_LVL_WARN);
	assert_int_equal(log_parse_level("error", &l), 0);
	assert_int_equal(l, LOG_LVL_ERROR);
	assert_int_equal(log_parse_level("info", &l), 0);
	assert_int_equal(l, LOG_LVL_INFO);
	assert_int_equal(log_parse_level("loud", &l), POE_USAGE);
	assert_non_null(strstr(err_msg(), "'loud'"));
	assert_int_equal(l, LOG_LVL_INFO);
}

static void test_scrub(void **state)
{
	char out[64];

	(void)state;
	secret_add("abc");		/* too short: ignored */
	secret_add("");
	secret_add(NULL);
	secret_add("hunter22");
	secret_add("hunter2245"); /* longer secret containing the other */
	secret_scrub(out, sizeof(out), "abc hunter22 x hunter2245 y hunter22");
	assert_string_equal(out, "abc *** x *** y ***");

	secret_scrub(out, 6, "hunter22hunter22");
	assert_string_equal(out, "*****");

	secret_clear();
	secret_scrub(out, sizeof(out), "hunter22");
	assert_string_equal(out, "hunter22");
}

static void test_log_line_scrubbed(void **state)
{
	char out[256];

	(void)state;
	secret_add("tok-0123456789");
	capture_begin();
	log_info("Authorization: PVEAPIToken=root@pam!x=%s", "tok-0123456789");
	capture_end(out, sizeof(out));
	assert_string_equal(out, "pve-ontap: Authorization: PVEAPIToken=root@pam!x=***\n");
}

static void test_progress_silent_when_not_tty(void **state)
{
	char out[256];

	(void)state;
	capture_begin();
	log_progress("waiting for job", "42%");
	log_progress_done();
	capture_end(out, sizeof(out));
	assert_string_equal(out, "");
}

/* stderr on a new pty (master returned in *master, -1 without ptys); *saved: the old one */
static int pty_begin(int *master, int *saved)
{
	int slave;

	*master = posix_openpt(O_RDWR | O_NOCTTY);
	if (*master < 0)
		return -1;
	assert_int_equal(grantpt(*master), 0);
	assert_int_equal(unlockpt(*master), 0);
	slave = open(ptsname(*master), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	*saved = dup(STDERR_FILENO);
	dup2(slave, STDERR_FILENO);
	close(slave);
	return 0;
}

static void pty_end(int master, int saved, char *out, size_t n)
{
	size_t got = 0;

	dup2(saved, STDERR_FILENO);
	close(saved);
	for (;;) {
		struct pollfd pfd = { .fd = master, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 200) <= 0)
			break;
		r = read(master, out + got, n - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(master);
	out[got] = '\0';
}

/* Run body with stderr on a pty; its output in out. False without ptys. */
static bool on_pty(void (*body)(void), char *out, size_t n)
{
	int master, saved;

	if (pty_begin(&master, &saved) < 0)
		return false;
	body();
	pty_end(master, saved, out, n);
	return true;
}

static void *worker_progress(void *arg)
{
	(void)arg;
	log_progress("worker wait", "running");
	log_progress_done();
	return NULL;
}

static void progress_with_worker(void)
{
	pthread_t th;

	log_progress("waiting for job", "running");
	assert_int_equal(pthread_create(&th, NULL, worker_progress, NULL), 0);
	pthread_join(th, NULL);
	log_info("done");
	log_progress_done();
}

/* Worker threads (the watcher's) neither draw the spinner nor erase the main thread's. */
static void test_progress_is_the_main_threads(void **state)
{
	char out[512];

	(void)state;
	if (!on_pty(progress_with_worker, out, sizeof(out))) {
		skip();
		return;
	}
	assert_null(strstr(out, "worker wait"));
	assert_non_null(strstr(out, " waiting for job: running"));
	/* the spinner line was still there: the next line erased it */
	assert_non_null(strstr(out, "\r\033[Kpve-ontap: done"));
}

static void progress_twice(void)
{
	log_progress("waiting for job", "running");
	log_progress("waiting for job", "running");
	log_info("done");
	log_progress_done();
}

static void test_progress_on_tty(void **state)
{
	char out[512];

	(void)state;
	if (!on_pty(progress_twice, out, sizeof(out))) {
		skip();
		return;
	}
	assert_non_null(strstr(out, "| waiting for job: running"));
	assert_non_null(strstr(out, "/ waiting for job: running"));
	assert_non_null(strstr(out, "\r\033[Kpve-ontap: done"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progname_basename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_native, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_context_not_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrub, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_line_scrubbed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_silent_when_not_tty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_on_tty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_is_the_main_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
