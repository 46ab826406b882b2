/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cluster-wide lock (DESIGN.md "Cluster"): mkdir of <lockdir>/pve-ontap-<name> is atomic
 * on pmxcfs as on a local file system, which is what PVE's own cfs_lock relies on. The
 * owner file inside says who holds it ("<host> <pid> <unix time>"), for messages and for
 * recovering from a holder that died: a lock older than 120 s (PVE's own cfs lock
 * lifetime) is stale and taken over, and so is one of a dead process on this host.
 */
#include "host/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

#define LOCK_STALE_S 120
#define LOCK_STEP_MS 100
#define LOCK_OWNER_FILE "owner"

struct lock_owner {
	char host[256];
	long pid;
	long long since;
	bool valid;
};

/* <lockpath>/owner; false when it does not fit (cannot happen for paths from l->path). */
static bool owner_path(char *out, size_t n, const char *lockpath)
{
	int len = snprintf(out, n, "%s/%s", lockpath, LOCK_OWNER_FILE);

	return len > 0 && (size_t)len < n;
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

/* Age of the lock in seconds, from the owner file or else the directory's mtime. */
static long long lock_age(const char *lockpath, const struct lock_owner *o)
{
	time_t now = time(NULL);
	struct stat st;

	if (o->valid)
		return (long long)now - o->since;
	if (stat(lockpath, &st) < 0)
		return 0;
	return (long long)now - (long long)st.st_mtime;
}

static bool lock_is_stale(const char *lockpath, const struct lock_owner *o, const char *host)
{
	if (lock_age(lockpath, o) > LOCK_STALE_S)
		return true;
	/* A holder on this node that no longer exists will never release it. */
	if (o->valid && !strcmp(o->host, host) && kill((pid_t)o->pid, 0) < 0 && errno == ESRCH)
		return true;
	return false;
}

static void lock_remove(const char *lockpath)
{
	char path[600];

	if (owner_path(path, sizeof(path), lockpath))
		unlink(path);
	rmdir(lockpath);
}

/*
 * Remove a stale lock so that exactly one waiter wins the next mkdir: rename it to a
 * unique name first (only one rename of the same directory succeeds), then delete that.
 * Where rename of a directory is not supported, fall back to removing it in place.
 */
static bool same_owner(const struct lock_owner *a, const struct lock_owner *b)
{
	return a->valid == b->valid && a->pid == b->pid && a->since == b->since &&
	       !strcmp(a->host, b->host);
}

static void lock_break(const char *lockpath, const char *host, const struct lock_owner *judged)
{
	char aside[600];
	static unsigned counter;

	int n = snprintf(aside, sizeof(aside), "%s.stale-%.64s-%ld-%u", lockpath, host,
			 (long)getpid(), counter++);

	if (n > 0 && (size_t)n < sizeof(aside) && rename(lockpath, aside) == 0) {
		struct lock_owner o;

		/*
		 * Between our staleness check and the rename another waiter may have broken
		 * the lock and taken it afresh: give back a lock that is not the one we
		 * judged stale (never over a newer one).
		 */
		owner_read(aside, &o);
		if ((!same_owner(&o, judged) || !lock_is_stale(aside, &o, host)) &&
		    renameat2(AT_FDCWD, aside, AT_FDCWD, lockpath, RENAME_NOREPLACE) == 0)
			return;
		lock_remove(aside);
		return;
	}
	if (n > 0 && (size_t)n < sizeof(aside) && errno == ENOENT)
		return;
	lock_remove(lockpath);
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

int cluster_lock_acquire(struct cluster_lock *l, const char *lockdir, const char *name,
			 int64_t deadline)
{
	char host[256];
	struct lock_owner o;
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
				rmdir(l->path);
				return err_prefix(rc, "cannot lock '%s'", name);
			}
			l->held = 1;
			return 0;
		}
		if (errno != EEXIST)
			return err_set(POE_FAIL, "cannot lock '%s': cannot create '%s': %s", name,
				       l->path, strerror(errno));

		owner_read(l->path, &o);
		if (lock_is_stale(l->path, &o, host)) {
			if (o.valid)
				log_warn("taking over stale lock '%s' of %s pid %ld", name, o.host,
					 o.pid);
			else
				log_warn("taking over stale lock '%s'", name);
			lock_break(l->path, host, &o);
			continue;
		}
		if (util_sleep_ms(LOCK_STEP_MS, deadline) == POE_TIMEOUT) {
			if (o.valid)
				return err_set(POE_TIMEOUT,
					       "cannot lock '%s': held by %s pid %ld for %llds",
					       name, o.host, o.pid, lock_age(l->path, &o));
			return err_set(POE_TIMEOUT, "cannot lock '%s': held by another process",
				       name);
		}
	}
}

void cluster_lock_release(struct cluster_lock *l)
{
	char host[256];
	struct lock_owner o;

	if (!l || !l->held)
		return;
	l->held = 0;
	local_host(host, sizeof(host));
	owner_read(l->path, &o);
	/* Taken over as stale while we held it: the lock is someone else's now. */
	if (o.valid && (strcmp(o.host, host) != 0 || o.pid != (long)getpid())) {
		log_warn("lock '%s' was taken over by %s pid %ld, not releasing it", l->path,
			 o.host, o.pid);
		return;
	}
	lock_remove(l->path);
}
