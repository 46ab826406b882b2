/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cluster-wide lock (DESIGN.md "Cluster"): mkdir of <lockdir>/pve-ontap-<name> is atomic
 * on pmxcfs as on a local file system, which is what PVE's own cfs_lock relies on. The
 * owner file inside says who holds it ("<host> <pid> <unix time>"), for messages and for
 * recovering from a holder that died on this node.
 *
 * Lifetime as on pmxcfs (pve-cluster memdb.c, CFS_LOCK_TIMEOUT 120 s from the last mtime
 * update): the holder's refresher thread touches the directory's mtime every 10 s; a lock
 * whose mtime is older than 120 s is stale, and so is one whose owner is a dead process on
 * this node. pmxcfs refuses rename of lock directories (memdb.c, "we do not allow rename
 * for locks"), so a takeover never renames: the one waiter that creates the break
 * directory "<lock>.break-<identity>-<gen>" (identity: the stale lock's mtime) removes the
 * lock, after checking that it is still the one it judged stale; then every waiter races
 * on mkdir again, and exactly one wins.
 */
#include "host/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

#define LOCK_STALE_MS 120000   /* pmxcfs CFS_LOCK_TIMEOUT */
#define LOCK_REFRESH_MS 10000  /* "at least every 30 s" (DESIGN.md), with margin */
#define LOCK_STEP_MS 100
#define LOCK_OWNER_FILE "owner"
#define LOCK_SCALE_ENV "PVE_ONTAP_TEST_LOCK_SCALE"

struct lock_owner {
	char host[256];
	long pid;
	long long since;
	bool valid;
};

/* What a waiter saw of a lock: the directory's mtime (its identity) and its owner. */
struct lock_seen {
	bool exists;
	struct timespec mtime;
	struct lock_owner o;
};

/* base ms scaled by $PVE_ONTAP_TEST_LOCK_SCALE (tests only: a factor in (0, 1]). */
static int64_t lock_ms(int64_t base)
{
	const char *s = getenv(LOCK_SCALE_ENV);
	char *end;
	double f;

	if (!s || !*s)
		return base;
	f = strtod(s, &end);
	if (*end || !(f > 0.0 && f <= 1.0))
		return base;
	return (int64_t)((double)base * f) > 0 ? (int64_t)((double)base * f) : 1;
}

static int64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t ts_ms(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

/* <lockpath><suffix>; false when it does not fit (cannot happen for paths from l->path). */
static bool sub_path(char *out, size_t n, const char *lockpath, const char *suffix)
{
	int len = snprintf(out, n, "%s%s", lockpath, suffix);

	return len > 0 && (size_t)len < n;
}

static bool owner_path(char *out, size_t n, const char *lockpath)
{
	return sub_path(out, n, lockpath, "/" LOCK_OWNER_FILE);
}

static void local_host(char *out, size_t n)
{
	if (gethostname(out, n) < 0 || !out[0])
		util_strlcpy(out, "unknown", n);
	out[n - 1] = '\0';
}

/* Read "<host> <pid> <time>" from the owner file; valid = false when absent or garbled. */
static void owner_read(const char *lockpath, struct lock_owner *o)
{
	char path[600];
	char data[512];
	ssize_t n;
	int fd;

	memset(o, 0, sizeof(*o));
	if (!owner_path(path, sizeof(path), lockpath))
		return;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	if (n <= 0)
		return;
	data[n] = '\0';
	if (sscanf(data, "%255s %ld %lld", o->host, &o->pid, &o->since) == 3 && o->pid > 0)
		o->valid = true;
}

static bool owner_is_self(const struct lock_owner *o, const char *host)
{
	return o->valid && !strcmp(o->host, host) && o->pid == (long)getpid();
}

static void lock_look(const char *lockpath, struct lock_seen *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (stat(lockpath, &st) < 0)
		return;
	s->exists = true;
	s->mtime = st.st_mtim;
	owner_read(lockpath, &s->o);
}

static bool same_seen(const struct lock_seen *a, const struct lock_seen *b)
{
	return a->exists && b->exists && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->o.valid == b->o.valid &&
	       a->o.pid == b->o.pid && a->o.since == b->o.since && !strcmp(a->o.host, b->o.host);
}

static bool lock_is_stale(const struct lock_seen *s, const char *host)
{
	if (!s->exists)
		return false;
	if (realtime_ms() - ts_ms(&s->mtime) > lock_ms(LOCK_STALE_MS))
		return true;
	/* A holder on this node that no longer exists will never release it. */
	return s->o.valid && !strcmp(s->o.host, host) && kill((pid_t)s->o.pid, 0) < 0 &&
	       errno == ESRCH;
}

static void lock_remove(const char *lockpath)
{
	char path[600];

	if (owner_path(path, sizeof(path), lockpath))
		unlink(path);
	rmdir(lockpath);
}

/* "<lock>.break-<mtime s>.<ns>-<gen>" */
static bool break_path(char *out, size_t n, const char *lockpath, const struct lock_seen *s,
		       int gen)
{
	int len = snprintf(out, n, "%s.break-%lld.%09ld-%d", lockpath,
			   (long long)s->mtime.tv_sec, s->mtime.tv_nsec, gen);

	return len > 0 && (size_t)len < n;
}

/*
 * Become the one breaker of the stale lock *judged: create its break directory of the
 * lowest generation not itself stale (a breaker that died holds its generation only
 * until that expires). Returns the generation, -1 when another waiter is breaking it.
 */
static int break_enter(const char *lockpath, const struct lock_seen *judged, char *bp,
		       size_t n)
{
	struct stat st;

	for (int gen = 0;; gen++) {
		if (!break_path(bp, n, lockpath, judged, gen))
			return -1;
		if (mkdir(bp, 0700) == 0)
			return gen;
		if (errno != EEXIST)
			return -1;
		if (stat(bp, &st) == 0 &&
		    realtime_ms() - ts_ms(&st.st_mtim) <= lock_ms(LOCK_STALE_MS))
			return -1;
	}
}

/*
 * Remove the stale lock *judged if it is still that lock; others keep waiting meanwhile.
 * False when another waiter is breaking it.
 */
static bool lock_break(const char *lockpath, const char *host, const struct lock_seen *judged)
{
	char bp[700];
	struct lock_seen now;
	int gen = break_enter(lockpath, judged, bp, sizeof(bp));

	if (gen < 0)
		return false;
	/* between our judgement and the break directory another waiter may have broken
	 * the lock and taken it afresh: only the lock we judged stale is removed */
	lock_look(lockpath, &now);
	if (same_seen(&now, judged) && lock_is_stale(&now, host)) {
		if (judged->o.valid)
			log_warn("taking over stale lock '%s' of %s pid %ld", lockpath,
				 judged->o.host, judged->o.pid);
		else
			log_warn("taking over stale lock '%s'", lockpath);
		lock_remove(lockpath);
	}
	for (int g = gen; g >= 0; g--)
		if (break_path(bp, sizeof(bp), lockpath, judged, g))
			rmdir(bp);
	return true;
}

static int owner_write(const char *lockpath, const char *host)
{
	char path[600];
	char data[400];
	int len, fd, rc = 0;

	if (!owner_path(path, sizeof(path), lockpath))
		return err_set(POE_FAIL, "lock path '%s' is too long", lockpath);
	len = snprintf(data, sizeof(data), "%.255s %ld %lld\n", host, (long)getpid(),
		       (long long)time(NULL));
	if (len < 0 || (size_t)len >= sizeof(data))
		return err_set(POE_FAIL, "cannot format lock owner");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(POE_FAIL, "cannot write lock owner '%s': %s", path,
			       strerror(errno));
	if (write(fd, data, (size_t)len) != len)
		rc = err_set(POE_FAIL, "cannot write lock owner '%s': %s", path,
			     strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(POE_FAIL, "cannot write lock owner '%s': %s", path,
			     strerror(errno));
	return rc;
}

/* ---- the refresher ---- */

static void cond_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Touch the lock's mtime while it is ours; stop when it was taken over. */
static void *refresher_main(void *arg)
{
	struct cluster_lock *l = arg;
	struct lock_owner o;
	struct timespec ts;
	char host[256];

	local_host(host, sizeof(host));
	pthread_mutex_lock(&l->mu);
	for (;;) {
		cond_deadline(&ts, lock_ms(LOCK_REFRESH_MS));
		while (!l->stop && pthread_cond_timedwait(&l->cond, &l->mu, &ts) == 0)
			;
		if (l->stop)
			break;
		owner_read(l->path, &o);
		if (!owner_is_self(&o, host)) {
			log_warn("lock '%s' is no longer ours, not refreshing it", l->path);
			break;
		}
		if (utimensat(AT_FDCWD, l->path, NULL, 0) < 0)
			log_warn("cannot refresh lock '%s': %s", l->path, strerror(errno));
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void refresher_start(struct cluster_lock *l)
{
	pthread_condattr_t ca;

	l->stop = false;
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &ca);
	pthread_condattr_destroy(&ca);
	l->refreshing = pthread_create(&l->thread, NULL, refresher_main, l) == 0;
	if (!l->refreshing) {
		log_warn("cannot start the refresher of lock '%s': it expires in %llds",
			 l->path, (long long)lock_ms(LOCK_STALE_MS) / 1000);
		pthread_cond_destroy(&l->cond);
		pthread_mutex_destroy(&l->mu);
	}
}

static void refresher_stop(struct cluster_lock *l)
{
	if (!l->refreshing)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->mu);
	l->refreshing = false;
}

/* ---- acquire and release ---- */

static int lock_timeout(const char *name, const struct lock_seen *s)
{
	if (s->o.valid)
		return err_set(POE_TIMEOUT, "cannot lock '%s': held by %s pid %ld for %llds", name,
			       s->o.host, s->o.pid, (long long)time(NULL) - s->o.since);
	return err_set(POE_TIMEOUT, "cannot lock '%s': held by another process", name);
}

int cluster_lock_acquire(struct cluster_lock *l, const char *lockdir, const char *name,
			 int64_t deadline)
{
	char host[256];
	struct lock_seen s;
	int n, rc;

	memset(l, 0, sizeof(*l));
	if (!util_is_safe_name(name))
		return err_set(POE_FAIL, "invalid lock name '%s'", name);
	n = snprintf(l->path, sizeof(l->path), "%s/pve-ontap-%s", lockdir, name);
	if (n < 0 || (size_t)n >= sizeof(l->path))
		return err_set(POE_FAIL, "lock path for '%s' is too long", name);
	local_host(host, sizeof(host));
	deadline = util_deadline_min(deadline);

	for (;;) {
		if (mkdir(l->path, 0700) == 0) {
			rc = owner_write(l->path, host);
			if (rc < 0) {
				lock_remove(l->path);
				return err_prefix(rc, "cannot lock '%s'", name);
			}
			l->held = 1;
			refresher_start(l);
			return 0;
		}
		if (errno != EEXIST)
			return err_set(POE_FAIL, "cannot lock '%s': cannot create '%s': %s", name,
				       l->path, strerror(errno));
		lock_look(l->path, &s);
		if (lock_is_stale(&s, host) && lock_break(l->path, host, &s))
			continue;
		if (util_sleep_ms(LOCK_STEP_MS, deadline) == POE_TIMEOUT)
			return lock_timeout(name, &s);
	}
}

void cluster_lock_release(struct cluster_lock *l)
{
	char host[256];
	struct lock_owner o;

	if (!l || !l->held)
		return;
	l->held = 0;
	refresher_stop(l);
	local_host(host, sizeof(host));
	owner_read(l->path, &o);
	/* Taken over as stale while we held it: the lock is someone else's now. */
	if (o.valid && !owner_is_self(&o, host)) {
		log_warn("lock '%s' was taken over by %s pid %ld, not releasing it", l->path,
			 o.host, o.pid);
		return;
	}
	lock_remove(l->path);
}
