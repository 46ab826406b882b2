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
	pthread_sigmask(SIG_SETMASK, &none, NULL); /* async-signal-safe, signal-safety(7) */

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
	if (n > 0 && buf_append(b, chunk, (size_t)n) < 0)
		*truncated = true; /* cannot happen: n fits under b->max */
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

/* One child being supervised by exec_run(). */
struct child {
	const char *const *argv;
	struct exec_result *r;
	int64_t deadline;
	pid_t pid;
	int out, err;          /* read ends, -1 once at EOF */
	bool reaped;
	int status;
	bool out_trunc, err_trunc;
	int64_t kill_at, drain_until;
};

/* fork and execve argv with stdin /dev/null; 0, or POE_FAIL with a message (nothing left). */
static int spawn(struct child *ch)
{
	int out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, st_p[2] = { -1, -1 };
	int devnull, child_errno = 0, rc = 0;
	ssize_t n;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 ||
	    pipe2(st_p, O_CLOEXEC) < 0) {
		rc = err_set(POE_FAIL, "cannot run '%s': %s", ch->argv[0], strerror(errno));
		goto out;
	}
	ch->pid = fork();
	if (ch->pid < 0) {
		rc = err_set(POE_FAIL, "cannot run '%s': fork: %s", ch->argv[0], strerror(errno));
		goto out;
	}
	if (ch->pid == 0)
		child_exec(ch->argv, devnull, out_p[1], err_p[1], st_p[1]);
	close_fd(&st_p[1]);
	/* EOF: execve succeeded; an int: the errno of the failed execve (or dup2). */
	do {
		n = read(st_p[0], &child_errno, sizeof(child_errno));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(child_errno)) {
		wait_child(ch->pid, 0, &ch->status);
		ch->reaped = true;
		rc = err_set(POE_FAIL, "cannot run '%s': %s", ch->argv[0], strerror(child_errno));
		goto out;
	}
	ch->out = out_p[0];
	ch->err = err_p[0];
	out_p[0] = err_p[0] = -1;
	fcntl(ch->out, F_SETFL, O_NONBLOCK);
	fcntl(ch->err, F_SETFL, O_NONBLOCK);
out:
	close_fd(&devnull);
	close_fd(&out_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	close_fd(&st_p[0]);
	close_fd(&st_p[1]);
	return rc;
}

static void kill_child(pid_t pid, int sig)
{
	kill(-pid, sig);
	kill(pid, sig);
}

/*
 * One step of the supervision: reap, enforce the deadline (SIGTERM, then SIGKILL after the
 * grace), and how long poll() may wait. false when there is nothing left to wait for.
 */
static bool supervise(struct child *ch, int64_t now, int64_t *wait)
{
	*wait = EXEC_POLL_MS;
	if (!ch->reaped && wait_child(ch->pid, WNOHANG, &ch->status) == ch->pid) {
		ch->reaped = true;
		ch->drain_until = now + EXEC_DRAIN_MS;
	}
	/* exited and both pipes read to the end, or the drain time is over */
	if (ch->reaped && ((ch->out < 0 && ch->err < 0) || now >= ch->drain_until))
		return false;
	if (!ch->reaped && ch->deadline && now >= ch->deadline && !ch->r->timed_out) {
		ch->r->timed_out = 1;
		kill_child(ch->pid, SIGTERM);
		ch->kill_at = now + EXEC_KILL_GRACE_MS;
	}
	if (!ch->reaped && ch->kill_at && now >= ch->kill_at) {
		kill_child(ch->pid, SIGKILL);
		ch->kill_at = 0;
	}
	/* Pipes closed (usually: the child is exiting): look for its exit sooner. */
	if (!ch->reaped && ch->out < 0 && ch->err < 0)
		*wait = 5;
	if (!ch->reaped && ch->deadline && !ch->r->timed_out && ch->deadline - now < *wait)
		*wait = ch->deadline - now;
	if (!ch->reaped && ch->kill_at && ch->kill_at - now < *wait)
		*wait = ch->kill_at - now;
	if (ch->reaped && ch->drain_until - now < *wait)
		*wait = ch->drain_until - now;
	if (*wait < 0)
		*wait = 0;
	return true;
}

/* Read the child's output until it exited and the pipes are drained; 0 or POE_FAIL. */
static int collect(struct child *ch)
{
	int64_t wait;

	while (supervise(ch, util_now_ms(), &wait)) {
		struct pollfd pfd[2] = {
			{ .fd = ch->out, .events = POLLIN },
			{ .fd = ch->err, .events = POLLIN },
		};

		if (poll(pfd, 2, (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			/* do not leave the child running or a zombie */
			if (!ch->reaped)
				kill_child(ch->pid, SIGKILL);
			return err_set(POE_FAIL, "cannot run '%s': poll: %s", ch->argv[0],
				       strerror(errno));
		}
		if (ch->out >= 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			drain(&ch->out, &ch->r->out, &ch->out_trunc);
		if (ch->err >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			drain(&ch->err, &ch->r->err, &ch->err_trunc);
	}
	return 0;
}

/* What the caller learns beyond the exit code: output cut, deadline missed. */
static int report(const struct child *ch)
{
	struct buf cmd = BUF_INIT(4096);
	int rc = 0;

	if (ch->out_trunc || ch->err_trunc) {
		const char *which = ch->out_trunc && ch->err_trunc ? "stdout and stderr"
				    : ch->out_trunc		       ? "stdout"
								       : "stderr";

		/* The result has no field for it, so the cut is reported here. */
		exec_format_argv(ch->argv, &cmd);
		log_warn("output of '%s' exceeded %d bytes on %s; the rest was discarded",
			 buf_cstr(&cmd), EXEC_OUTPUT_MAX, which);
	}
	if (ch->r->timed_out) {
		buf_reset(&cmd);
		exec_format_argv(ch->argv, &cmd);
		rc = err_set(POE_TIMEOUT, "command '%s' did not finish before the deadline",
			     buf_cstr(&cmd));
	}
	buf_release(&cmd);
	return rc;
}

int exec_run(const char *const argv[], int64_t deadline_ms, struct exec_result *r)
{
	struct child ch = { .argv = argv, .r = r, .deadline = util_deadline_at(deadline_ms),
			    .pid = -1, .out = -1, .err = -1 };
	int rc;

	r->exit_code = -1;
	r->timed_out = 0;
	buf_reset(&r->out);
	buf_reset(&r->err);
	if (!argv || !argv[0] || argv[0][0] != '/')
		return err_set(POE_FAIL, "cannot run '%s': not an absolute path",
			       argv && argv[0] ? argv[0] : "");
	if (ch.deadline && util_now_ms() >= ch.deadline)
		return err_set(POE_TIMEOUT, "cannot run '%s': deadline expired", argv[0]);
	rc = spawn(&ch);
	if (rc < 0)
		return rc; /* the exit code stays -1: the program never ran */
	rc = collect(&ch);
	if (!ch.reaped && wait_child(ch.pid, 0, &ch.status) == ch.pid)
		ch.reaped = true;
	if (ch.reaped)
		set_exit_code(r, ch.status);
	close_fd(&ch.out);
	close_fd(&ch.err);
	if (rc == 0)
		rc = report(&ch);
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
			buf_note(out, " ");
		}
		if (!needs_quotes(arg)) {
			buf_note(out, "%s", arg);
			continue;
		}
		/* Shell-style single quotes; a quote inside becomes '\'' */
		buf_note(out, "'");
		for (const char *p = arg; *p;) {
			size_t run = strcspn(p, "'");

			buf_note(out, "%.*s%s", (int)run, p, p[run] ? "'\\''" : "");
			p += run + (p[run] != '\0');
		}
		buf_note(out, "'");
	}
}
