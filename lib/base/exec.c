/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/exec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

/* Each captured stream keeps at most this much; the rest is read and discarded. */
#define EXEC_OUTPUT_MAX (1024 * 1024)
/* After SIGTERM the child gets this long before SIGKILL. */
#define EXEC_KILL_GRACE_MS 2000
/*
 * After the child exited, a grandchild that inherited the pipes may keep them open (a
 * daemonising helper): read what it wrote within this time, then stop waiting for EOF.
 */
#define EXEC_DRAIN_MS 500
/* Poll wakes at least this often to notice the child's exit while pipes stay open. */
#define EXEC_POLL_MS 100

/* The child's whole environment: no secret and nothing of ours can leak through it. */
static char *const exec_env[] = {
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	NULL,
};

void exec_result_init(struct exec_result *r)
{
	r->exit_code = -1;
	r->timed_out = 0;
	buf_init(&r->out, EXEC_OUTPUT_MAX);
	buf_init(&r->err, EXEC_OUTPUT_MAX);
}

void exec_result_release(struct exec_result *r)
{
	buf_release(&r->out);
	buf_release(&r->err);
}

void exec_result_last_line(const struct exec_result *r, char *out, size_t n)
{
	const char *text = r->err.len ? buf_cstr(&r->err) : buf_cstr(&r->out);
	const char *end = text + strlen(text);
	const char *start;

	while (end > text && isspace((unsigned char)end[-1]))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	if ((size_t)(end - start) >= n)
		end = start + n - 1;
	memcpy(out, start, (size_t)(end - start));
	out[end - start] = '\0';
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* In the child: move fd above the standard descriptors so dup2() cannot clobber it. */
static int child_lift_fd(int fd)
{
	return fd > STDERR_FILENO ? fd : fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
}

/*
 * In the child between fork() and execve(): only async-signal-safe calls. Reports errno on
 * status_fd (close-on-exec, so a successful execve closes it with nothing written).
 */
static void __attribute__((noreturn))
child_exec(const char *const argv[], int devnull, int out_w, int err_w, int status_fd)
{
	struct sigaction sa;
	sigset_t none;
	int e;

	/* Own process group: a timeout kills helpers the program started too. */
	setpgid(0, 0);
	/* Ignored signals and the blocked mask survive execve(); give the program defaults. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	devnull = child_lift_fd(devnull);
	out_w = child_lift_fd(out_w);
	err_w = child_lift_fd(err_w);
	if (devnull < 0 || out_w < 0 || err_w < 0 || dup2(devnull, STDIN_FILENO) < 0 ||
	    dup2(out_w, STDOUT_FILENO) < 0 || dup2(err_w, STDERR_FILENO) < 0)
		goto fail;
	/* Descriptors opened without O_CLOEXEC elsewhere (libraries) must not leak either. */
	close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(argv[0], (char *const *)argv, exec_env);
fail:
	e = errno;
	while (write(status_fd, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* Read what is available from *fd into b (capped); closes *fd on EOF or error. */
static void drain(int *fd, struct buf *b, bool *truncated)
{
	char chunk[8192]; /* frames stay under -Wstack-usage (Makefile) */
	ssize_t n = read(*fd, chunk, sizeof(chunk));

	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		close_fd(fd);
		return;
	}
	if (n == 0) {
		close_fd(fd);
		return;
	}
	if ((size_t)n > b->max - b->len) {
		*truncated = true;
		n = (ssize_t)(b->max - b->len);
	}
	if (n > 0)
		buf_append(b, chunk, (size_t)n);
}

static int wait_child(pid_t pid, int options, int *status)
{
	pid_t w;

	do {
		w = waitpid(pid, status, options);
	} while (w < 0 && errno == EINTR);
	return (int)w;
}

static void set_exit_code(struct exec_result *r, int status)
{
	if (WIFEXITED(status))
		r->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r->exit_code = 128 + WTERMSIG(status);
}

int exec_run(const char *const argv[], int64_t deadline_ms, struct exec_result *r)
{
	int64_t deadline = util_deadline_min(deadline_ms);
	int out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, st_p[2] = { -1, -1 };
	bool out_trunc = false, err_trunc = false, reaped = false;
	int64_t kill_at = 0, drain_until = 0;
	struct buf cmd = BUF_INIT(4096);
	int devnull = -1, status = 0, child_errno = 0;
	pid_t pid = -1;
	ssize_t n;
	int rc = 0;

	r->exit_code = -1;
	r->timed_out = 0;
	buf_reset(&r->out);
	buf_reset(&r->err);
	if (!argv || !argv[0] || argv[0][0] != '/') {
		rc = err_set(POE_FAIL, "cannot run '%s': not an absolute path",
			     argv && argv[0] ? argv[0] : "");
		goto out;
	}
	if (deadline && util_now_ms() >= deadline) {
		rc = err_set(POE_TIMEOUT, "cannot run '%s': deadline expired", argv[0]);
		goto out;
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 ||
	    pipe2(st_p, O_CLOEXEC) < 0) {
		rc = err_set(POE_FAIL, "cannot run '%s': %s", argv[0], strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rc = err_set(POE_FAIL, "cannot run '%s': fork: %s", argv[0], strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(argv, devnull, out_p[1], err_p[1], st_p[1]);

	close_fd(&devnull);
	close_fd(&out_p[1]);
	close_fd(&err_p[1]);
	close_fd(&st_p[1]);
	/* EOF: execve succeeded; an int: the errno of the failed execve (or dup2). */
	do {
		n = read(st_p[0], &child_errno, sizeof(child_errno));
	} while (n < 0 && errno == EINTR);
	close_fd(&st_p[0]);
	if (n == (ssize_t)sizeof(child_errno)) {
		wait_child(pid, 0, &status);
		reaped = true;
		rc = err_set(POE_FAIL, "cannot run '%s': %s", argv[0], strerror(child_errno));
		goto out;
	}
	fcntl(out_p[0], F_SETFL, O_NONBLOCK);
	fcntl(err_p[0], F_SETFL, O_NONBLOCK);

	while (!reaped || out_p[0] >= 0 || err_p[0] >= 0) {
		struct pollfd pfd[2] = {
			{ .fd = out_p[0], .events = POLLIN },
			{ .fd = err_p[0], .events = POLLIN },
		};
		int64_t now = util_now_ms();
		int64_t wait = EXEC_POLL_MS;

		if (!reaped && wait_child(pid, WNOHANG, &status) == pid) {
			reaped = true;
			drain_until = now + EXEC_DRAIN_MS;
		}
		/* exited and both pipes read to the end: nothing left to wait for */
		if (reaped && out_p[0] < 0 && err_p[0] < 0)
			break;
		if (reaped && now >= drain_until)
			break;
		if (!reaped && deadline && now >= deadline && !r->timed_out) {
			r->timed_out = 1;
			kill(-pid, SIGTERM);
			kill(pid, SIGTERM);
			kill_at = now + EXEC_KILL_GRACE_MS;
		}
		if (!reaped && kill_at && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			kill_at = 0;
		}
		/* Pipes closed (usually: the child is exiting): look for its exit sooner. */
		if (!reaped && out_p[0] < 0 && err_p[0] < 0)
			wait = 5;
		if (!reaped && deadline && !r->timed_out && deadline - now < wait)
			wait = deadline - now;
		if (!reaped && kill_at && kill_at - now < wait)
			wait = kill_at - now;
		if (reaped && drain_until - now < wait)
			wait = drain_until - now;
		if (wait < 0)
			wait = 0;
		if (poll(pfd, 2, (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			rc = err_set(POE_FAIL, "cannot run '%s': poll: %s", argv[0],
				     strerror(errno));
			break;
		}
		if (out_p[0] >= 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			drain(&out_p[0], &r->out, &out_trunc);
		if (err_p[0] >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			drain(&err_p[0], &r->err, &err_trunc);
	}
	if (!reaped) {
		/* Only after a poll failure: do not leave the child running or a zombie. */
		if (rc < 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
		}
		if (wait_child(pid, 0, &status) == pid)
			reaped = true;
	}
	if (reaped)
		set_exit_code(r, status);
	if (rc < 0)
		goto out;
	if (out_trunc || err_trunc) {
		const char *which = out_trunc && err_trunc ? "stdout and stderr"
				    : out_trunc		   ? "stdout"
							   : "stderr";

		/* The result has no field for it, so the cut is reported here. */
		exec_format_argv(argv, &cmd);
		log_warn("output of '%s' exceeded %d bytes on %s; the rest was discarded",
			 buf_cstr(&cmd), EXEC_OUTPUT_MAX, which);
	}
	if (r->timed_out) {
		buf_reset(&cmd);
		exec_format_argv(argv, &cmd);
		rc = err_set(POE_TIMEOUT, "command '%s' did not finish before the deadline",
			     buf_cstr(&cmd));
	}
out:
	if (pid > 0 && !reaped && wait_child(pid, 0, &status) == pid)
		set_exit_code(r, status);
	close_fd(&devnull);
	close_fd(&out_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	close_fd(&st_p[0]);
	close_fd(&st_p[1]);
	buf_release(&cmd);
	return rc;
}

/* Does arg need quoting to read back unambiguously in a log line? */
static bool needs_quotes(const char *arg)
{
	if (*arg == '\0')
		return true;
	for (const char *p = arg; *p; p++) {
		if (strchr(" \t\n'\"\\$`;&|<>()*?[]{}!#~", *p))
			return true;
	}
	return false;
}

void exec_format_argv(const char *const argv[], struct buf *out)
{
	if (!argv)
		return;
	for (int i = 0; argv[i]; i++) {
		const char *arg = argv[i];

		if (i == 0) {
			const char *slash = strrchr(arg, '/');

			arg = slash ? slash + 1 : arg;
		} else {
			buf_putc(out, ' ');
		}
		if (!needs_quotes(arg)) {
			buf_puts(out, arg);
			continue;
		}
		/* Shell-style single quotes; a quote inside becomes '\'' */
		buf_putc(out, '\'');
		for (const char *p = arg; *p; p++) {
			if (*p == '\'')
				buf_puts(out, "'\\''");
			else
				buf_putc(out, *p);
		}
		buf_putc(out, '\'');
	}
}
