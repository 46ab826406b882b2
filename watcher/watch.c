/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The watch loop of DESIGN.md "Watcher": one inotify instance (libinotifytools) for the
 * job queue, the NFS image directories and /dev; poll() on it with a timeout that is the
 * time to the next reconcile or retry, so an idle watcher uses no CPU.
 *
 * libinotifytools (3.22) waits with select() and a timeout in whole seconds, and does not
 * give out its descriptor. We need millisecond retry timers and a race-free wait for the
 * signal flags (ppoll() with the signals unblocked only while waiting, STYLE.md #11), so
 * this file finds the descriptor libinotifytools opened (the one raw inotify use: it is
 * only polled here, and marked close-on-exec so qm does not inherit it) and reads events
 * with inotifytools_next_events(0, 1) once poll() says there are some.
 */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <inotifytools/inotify.h>
#include <inotifytools/inotifytools.h>

#include "config/config.h"
#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "host/nvmehost.h"
#include "watch_internal.h"

#define QUEUE_MASK (IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR)
#define DEV_MASK (IN_CREATE | IN_MOVED_TO | IN_ONLYDIR)

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_reload;
static volatile sig_atomic_t got_child;  /* a scheduled run (scheduler.c) ended */

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_reload = 1;
	else if (sig == SIGCHLD)
		got_child = 1;
	else
		got_stop = 1;
}

static const int handled_signals[] = { SIGHUP, SIGTERM, SIGINT, SIGCHLD };
#define NSIGNALS ((int)(sizeof(handled_signals) / sizeof(handled_signals[0])))

static void signals_install(struct sigaction old[NSIGNALS])
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: a blocking call returns EINTR and the loop looks at the flags */
	sa.sa_flags = 0;
	got_stop = 0;
	got_reload = 0;
	got_child = 0;
	for (int i = 0; i < NSIGNALS; i++) {
		/* SIGCHLD must not make the main thread's blocking calls fail: restart them
		 * (ppoll() returns EINTR all the same, signal(7)) */
		sa.sa_flags = handled_signals[i] == SIGCHLD ? SA_RESTART | SA_NOCLDSTOP : 0;
		sigaction(handled_signals[i], &sa, &old[i]);
	}
}

static void signals_restore(const struct sigaction old[NSIGNALS])
{
	for (int i = 0; i < NSIGNALS; i++)
		sigaction(handled_signals[i], &old[i], NULL);
}

static bool fd_is_inotify(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:inotify");
}

/*
 * Start libinotifytools and find its descriptor: inotify_init() returns the lowest free
 * descriptor, which we learn just before; /proc/self/fd confirms it (else we look for the
 * only inotify descriptor of the process).
 */
static int inotify_start(struct watcher *w)
{
	int predicted = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int found = -1;
	DIR *d;

	if (predicted >= 0)
		close(predicted);
	if (!inotifytools_initialize())
		return err_set(POE_FAIL, "cannot start inotify: %s", strerror(inotifytools_error()));
	if (predicted >= 0 && fd_is_inotify(predicted)) {
		found = predicted;
	} else if ((d = opendir("/proc/self/fd")) != NULL) {
		struct dirent *de;
		int count = 0;

		while ((de = readdir(d)) != NULL) {
			int fd = atoi(de->d_name);

			if (de->d_name[0] != '.' && fd != dirfd(d) && fd_is_inotify(fd)) {
				found = fd;
				count++;
			}
		}
		closedir(d);
		if (count != 1)
			found = -1;
	}
	if (found < 0) {
		inotifytools_cleanup();
		return err_set(POE_FAIL, "cannot find the inotify descriptor of libinotifytools");
	}
	fcntl(found, F_SETFD, FD_CLOEXEC);
	w->ifd = found;
	return 0;
}

static int watch_add_dir(struct watcher *w, const char *dir, uint32_t mask, enum watch_kind kind,
			 int nfs, int vmid)
{
	struct watch_dir *d;
	int wd;

	/* libinotifytools returns 1 on success (STYLE.md #2: wrapped here) */
	if (!inotifytools_watch_file(dir, (int)mask))
		return err_set(POE_FAIL, "cannot watch '%s': %s", dir,
			       strerror(inotifytools_error()));
	wd = inotifytools_wd_from_filename(dir);
	if (wd < 0)
		return err_set(POE_FAIL, "cannot watch '%s': no watch descriptor", dir);
	for (int i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd)
			return i;
	w->dirs = util_xrealloc(w->dirs, sizeof(*w->dirs) * (size_t)(w->ndirs + 1));
	d = &w->dirs[w->ndirs];
	memset(d, 0, sizeof(*d));
	d->wd = wd;
	d->kind = kind;
	d->nfs = nfs;
	d->vmid = vmid;
	log_debug("watching '%s'", dir);
	return w->ndirs++;
}

static void watches_remove_all(struct watcher *w)
{
	for (int i = 0; i < w->ndirs; i++)
		inotifytools_remove_watch_by_wd(w->dirs[i].wd);
	free(w->dirs);
	w->dirs = NULL;
	w->ndirs = 0;
}

static bool have_nvme_pool(const struct config *cfg)
{
	for (int i = 0; i < cfg->nstorages; i++)
		if (cfg->storages[i].protocol == STORAGE_NVME)
			return true;
	return false;
}

static int queue_setup(struct watcher *w)
{
	const char *q = w->cfg->paths.queue;
	char *dir = NULL;
	int rc;

	if (w->queue_fd >= 0) {
		close(w->queue_fd);
		w->queue_fd = -1;
	}
	rc = util_mkdir_p(q, 0700);
	if (rc < 0) {
		rc = err_prefix(POE_FAIL, "cannot create queue directory '%s'", q);
		goto out;
	}
	w->queue_fd = open(q, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->queue_fd < 0) {
		rc = err_set(POE_FAIL, "cannot open queue directory '%s': %s", q, strerror(errno));
		goto out;
	}
	/* watch first, then read the directory: nothing can fall between the two */
	dir = util_xasprintf("%s/", q);
	rc = watch_add_dir(w, dir, QUEUE_MASK, WK_QUEUE, -1, 0);
	if (rc < 0)
		goto out;
	rc = 0;
	w->queue_scan = true;
	w->queue_lost = false;
out:
	free(dir);
	return rc;
}

static int setup_all(struct watcher *w)
{
	int rc;

	w->oc = util_xcalloc((size_t)(w->cfg->nontap > 0 ? w->cfg->nontap : 1), sizeof(*w->oc));
	rc = queue_setup(w);
	if (rc < 0)
		return rc;
	if (have_nvme_pool(w->cfg)) {
		char *dir = util_xasprintf("%s/", w->cfg->paths.dev);

		rc = watch_add_dir(w, dir, DEV_MASK, WK_DEV, -1, 0);
		free(dir);
		if (rc < 0) {
			log_warn("new NVMe devices will not be attached: %s", err_msg());
			err_clear();
		}
	}
	rc = wr_setup(w);
	if (rc < 0)
		return rc;
	w->next_reconcile_ms = 0;
	return 0;
}

static void teardown_all(struct watcher *w)
{
	watches_remove_all(w);
	wr_release(w);
	wd_release(w);
	if (w->queue_fd >= 0)
		close(w->queue_fd);
	w->queue_fd = -1;
}

static int64_t reconcile_interval_ms(const struct config *cfg)
{
	int64_t s = cfg->watch.reconcile_s > 0 ? cfg->watch.reconcile_s : 60;

	if (s > 86400)
		s = 86400;
	return s * 1000;
}

static void log_status(const struct watcher *w)
{
	int nfs_watched = 0;

	for (int i = 0; i < w->nnfs; i++)
		nfs_watched += w->nfs[i].watched;
	log_info("watching queue '%s', %d of %d NFS storage(s), %s; reconcile every %llds",
		 w->cfg->paths.queue, nfs_watched, w->nnfs,
		 have_nvme_pool(w->cfg) ? "NVMe devices" : "no NVMe pool",
		 (long long)(reconcile_interval_ms(w->cfg) / 1000));
}

/* SIGHUP: a configuration that does not load leaves the running one in place. */
static int reload(struct watcher *w)
{
	struct config *nc = NULL;
	int rc;

	rc = config_load(w->config_path, &nc);
	if (rc < 0) {
		log_error("configuration not reloaded, keeping the running one: %s", err_msg());
		err_clear();
		return 0;
	}
	/* the workers read the running config: let them finish with it first */
	wq_drain(w, false);
	teardown_all(w);
	config_free(w->cfg);
	w->cfg = nc;
	rc = setup_all(w);
	if (rc == 0 && w->sched)
		rc = ws_setup(w);
	if (rc < 0)
		return rc;
	log_info("configuration reloaded from '%s'", w->cfg->file ? w->cfg->file : "?");
	log_status(w);
	return 0;
}

static struct watch_dir *dir_by_wd(struct watcher *w, int wd)
{
	for (int i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd)
			return &w->dirs[i];
	return NULL;
}

static void handle_event(struct watcher *w, const struct inotify_event *ev)
{
	const char *name = ev->len ? ev->name : "";
	struct watch_dir *d;

	if (ev->mask & IN_Q_OVERFLOW) {
		/* events were lost: read everything again */
		log_warn("inotify queue overflow: rescanning the queue and the image directories");
		w->queue_scan = true;
		w->next_reconcile_ms = 0;
		return;
	}
	d = dir_by_wd(w, ev->wd);
	if (!d)
		return;
	if (ev->mask & IN_IGNORED) {
		/*
		 * The directory went away (deleted, unmounted). libinotifytools keeps its
		 * wd -> name entry (it only drops it with inotify_rm_watch, which would
		 * now fail): a few bytes per removed VM directory.
		 */
		if (d->kind == WK_QUEUE)
			w->queue_lost = true;
		else if (d->kind == WK_IMAGES || d->kind == WK_VMDIR)
			wr_event(w, d, ev->mask, name);
		*d = w->dirs[--w->ndirs];
		return;
	}
	switch (d->kind) {
	case WK_QUEUE:
		if (!name[0] || name[0] == '.' || !strcmp(name, "rejected") ||
		    !strcmp(name, "failed"))
			return;
		wq_note_name(w, name);
		break;
	case WK_DEV:
		if (!(ev->mask & IN_ISDIR) && nvmehost_is_head(name))
			wd_event(w, name);
		break;
	case WK_IMAGES:
	case WK_VMDIR:
		wr_event(w, d, ev->mask, name);
		break;
	}
}

static void drain_events(struct watcher *w)
{
	struct inotify_event *ev;

	/* timeout 0: never blocks; events already read are handed out first */
	while ((ev = inotifytools_next_events(0, 1)) != NULL)
		handle_event(w, ev);
	if (inotifytools_error() && inotifytools_error() != EINTR &&
	    inotifytools_error() != EAGAIN)
		log_warn("cannot read inotify events: %s", strerror(inotifytools_error()));
}

/* Sleep in ppoll() until an event, a due timer or a signal. */
static void wait_for_work(struct watcher *w)
{
	int64_t now = util_now_ms();
	int64_t due = w->next_reconcile_ms;
	int64_t t;
	struct pollfd pfd[3] = {
		{ .fd = w->ifd, .events = POLLIN },
		{ .fd = wq_wake_fd(w), .events = POLLIN }, /* a worker finished (-1: none yet) */
		{ .fd = wd_wake_fd(w), .events = POLLIN }, /* a device look-up finished */
	};
	struct timespec ts;
	sigset_t block, orig;

	t = wq_next_due(w);
	if (t > 0 && t < due)
		due = t;
	t = wd_next_due(w);
	if (t > 0 && t < due)
		due = t;
	t = ws_next_due(w);
	if (t > 0 && t < due)
		due = t;
	if (w->nnames > 0 || w->queue_scan || w->queue_lost)
		due = now;
	t = due > now ? due - now : 0;
	ts.tv_sec = (time_t)(t / 1000);
	ts.tv_nsec = (long)(t % 1000) * 1000000L;

	sigemptyset(&block);
	for (int i = 0; i < NSIGNALS; i++)
		sigaddset(&block, handled_signals[i]);
	/* threads run beside this one: the main thread's mask only (sigprocmask(2)) */
	pthread_sigmask(SIG_BLOCK, &block, &orig);
	/* the flags are checked with the signals blocked, then ppoll() unblocks them */
	if (!got_stop && !got_reload && !got_child && t > 0)
		ppoll(pfd, 3, &ts, &orig);
	pthread_sigmask(SIG_SETMASK, &orig, NULL);
}

/*
 * Look-ups of new devices finished: a waiting nvme-attach job runs at once, or the VM the
 * namespace belongs to gets one. Then due devices go to the device worker.
 */
static void devices_step(struct watcher *w)
{
	char (*waiting)[WATCH_UUID_LEN + 1];
	int nwaiting = wq_waiting_uuids(w, &waiting);
	struct wd_found *found;
	int n = wd_run(w, util_now_ms(), waiting, nwaiting, &found);

	for (int i = 0; i < n; i++) {
		struct queue_job job = { .vmid = found[i].vmid, .action = QUEUE_NVME_ATTACH };

		if (found[i].vmid < 0) {
			wq_wake_uuid(w, found[i].uuid);
			continue;
		}
		util_strlcpy(job.arg, found[i].uuid, sizeof(job.arg)); /* a UUID: fits */
		wq_add(w, &job);
	}
	free(found);
	free(waiting);
}

/*
 * Stop the device worker. A look-up still running (an ONTAP that does not answer) does not
 * hold up the exit: it is left to end with the process, and what it reads (the config, the
 * ONTAP clients) is not freed. Returns true then.
 */
static bool devices_end(struct watcher *w)
{
	if (wd_drain(w, true)) {
		wk_pool_free(w->dev_pool);
		w->dev_pool = NULL;
		return false;
	}
	log_info("a device look-up is still running: not waiting for it");
	wk_pool_abandon(w->dev_pool);
	w->dev_pool = NULL;
	w->oc = NULL;
	return true;
}

/*
 * SIGTERM while a device look-up still runs: end the process here. exit() would run the
 * atexit handlers of libcurl's TLS library (OPENSSL_cleanup) under the thread that is
 * still inside a transfer; _exit() ends every thread at once. Nothing else is left to do
 * for a watcher that stopped cleanly (status 0, DESIGN.md "Watcher").
 */
static void __attribute__((noreturn)) exit_beside_lookup(void)
{
	fflush(NULL);
	_exit(0);
}

static int count_file_jobs_left(const struct watcher *w)
{
	int n = 0;

	for (int i = 0; i < w->njobs; i++)
		if (!w->jobs[i].done && w->jobs[i].job.file[0])
			n++;
	return n;
}

/* The loop ended (SIGTERM, --once done): the actions in hand finish (their job files go),
 * none starts. */
static int run_end(struct watcher *w)
{
	wq_drain(w, true);
	if (w->once) {
		int left = count_file_jobs_left(w);

		if (left > 0)
			return err_set(POE_FAIL, "%d job(s) left in '%s' for a later run", left,
				       w->cfg->paths.queue);
		return 0;
	}
	log_info("stopping (%lu job(s) done)", w->jobs_done);
	return 0;
}

int watch_run(const char *config_path, bool once)
{
	struct watcher w = { .config_path = config_path, .once = once, .ifd = -1,
			     .queue_fd = -1, .stop = &got_stop, .add_dir = watch_add_dir };
	struct sigaction old[NSIGNALS];
	bool signals_set = false;
	bool inotify_up = false;
	bool abandoned;
	int rc;

	rc = config_load(config_path, &w.cfg);
	if (rc < 0)
		goto out;
	/* a config found through the search order is reloaded from the same file */
	if (!w.config_path)
		w.config_path = w.cfg->file;
	rc = inotify_start(&w);
	if (rc < 0)
		goto out;
	inotify_up = true;
	signals_install(old);
	signals_set = true;
	rc = setup_all(&w);
	if (rc == 0 && !once)
		rc = ws_setup(&w); /* --once runs the queue only */
	if (rc < 0)
		goto out;
	if (!once)
		log_status(&w);

	for (;;) {
		int64_t now;

		if (got_stop)
			break;
		if (got_reload) {
			got_reload = 0;
			rc = reload(&w);
			if (rc < 0)
				goto out;
		}
		drain_events(&w);
		if (w.queue_lost) {
			log_warn("queue directory '%s' went away: creating it again",
				 w.cfg->paths.queue);
			rc = queue_setup(&w);
			if (rc < 0)
				goto out;
		}
		if (w.queue_scan) {
			w.queue_scan = false;
			wq_scan(&w);
		}
		wq_read_names(&w);
		now = util_now_ms();
		if (w.next_reconcile_ms <= now) {
			wr_watch(&w);
			wr_reconcile(&w);
			w.next_reconcile_ms = util_now_ms() + reconcile_interval_ms(w.cfg);
		}
		wr_flush_dirty(&w);
		devices_step(&w);
		wq_run(&w, util_now_ms());
		got_child = 0; /* before the reap: a later exit wakes the next wait */
		ws_run(&w, util_now_ms());
		if (once) {
			int64_t due = wq_next_due(&w);

			/* --once: until every VM's jobs are done or wait for a later run */
			if (!wq_inflight(&w) && !wk_inflight(w.dev_pool) &&
			    (!due || due > util_now_ms()))
				break;
		}
		wait_for_work(&w);
	}
	rc = run_end(&w);
out:
	ws_release(&w);
	wq_release(&w);
	abandoned = devices_end(&w);
	if (w.cfg)
		teardown_all(&w);
	free(w.devs);
	if (inotify_up)
		inotifytools_cleanup();
	if (signals_set)
		signals_restore(old);
	if (!abandoned)
		config_free(w.cfg);
	else if (rc == 0)
		exit_beside_lookup();
	return rc;
}
