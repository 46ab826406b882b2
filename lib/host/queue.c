/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Job files of DESIGN.md "Job queue: hook and CLI to watcher (contract)". The hook and the
 * CLI write them, the watcher (root) reads them: a job file is untrusted input until it
 * has been checked to be a small regular file owned by root with one strict JSON object.
 */
#include "host/queue.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "format/json.h"
#include "base/util.h"

#define QUEUE_VMID_MIN 100
#define QUEUE_VMID_MAX 999999999
/* {"vmid":N,"action":"...","volid":"..."} is 7 tokens; leave room, refuse the rest. */
#define QUEUE_MAX_TOKENS 64

static const char *const action_names[] = {
	[QUEUE_RESCAN] = "rescan",
	[QUEUE_UNUSED_REMOVE] = "unused-remove",
	[QUEUE_NVME_ATTACH] = "nvme-attach",
	[QUEUE_REGISTER] = "register",
};

#define N_ACTIONS ((int)(sizeof(action_names) / sizeof(action_names[0])))

const char *queue_action_name(enum queue_action a)
{
	if ((int)a < 0 || (int)a >= N_ACTIONS)
		return "unknown";
	return action_names[a];
}

static int action_from_name(const char *s, enum queue_action *out)
{
	for (int i = 0; i < N_ACTIONS; i++) {
		if (!strcmp(s, action_names[i])) {
			*out = (enum queue_action)i;
			return 0;
		}
	}
	return POE_FAIL;
}

/*
 * "<storage>:<vmid>/<file>" (reference/pve.md §6, §8). The file must be a safe name and
 * free of whitespace, ',' and '=' (they would break a drive property string).
 */
static bool is_job_volid(const char *v)
{
	const char *colon = strchr(v, ':');
	const char *slash;
	const char *p;

	if (!colon || !util_is_storage_id(v, (size_t)(colon - v)))
		return false;
	p = colon + 1;
	slash = strchr(p, '/');
	if (!slash || slash == p || slash - p > 9)
		return false;
	for (; p < slash; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	if (!util_is_safe_name(slash + 1))
		return false;
	for (p = slash + 1; *p; p++)
		if (isspace((unsigned char)*p) || *p == ',' || *p == '=' || *p == ':')
			return false;
	return true;
}

/*
 * An NVMe disk is a raw path in the VM config (DESIGN.md "Storage kinds"); "nvme delete"
 * has the watcher drop the drive entry naming "/dev/disk/by-id/nvme-uuid.<uuid>".
 */
static bool is_nvme_volid(const char *v)
{
	static const char prefix[] = "/dev/disk/by-id/nvme-uuid.";

	return !strncmp(v, prefix, sizeof(prefix) - 1) && util_is_uuid(v + sizeof(prefix) - 1);
}

static int job_check(const struct queue_job *job)
{
	if (job->vmid < QUEUE_VMID_MIN || job->vmid > QUEUE_VMID_MAX)
		return err_set(POE_FAIL, "invalid job: vmid %d out of range", job->vmid);
	switch (job->action) {
	case QUEUE_RESCAN:
		return 0;
	case QUEUE_UNUSED_REMOVE:
		if (!memchr(job->arg, '\0', sizeof(job->arg)) ||
		    !(is_job_volid(job->arg) || is_nvme_volid(job->arg)))
			return err_set(POE_FAIL, "invalid job: bad volid '%.*s'",
				       (int)sizeof(job->arg) - 1, job->arg);
		return 0;
	case QUEUE_REGISTER:
		/* a volume on a storage, never a path: PVE registers only volumes it owns */
		if (!memchr(job->arg, '\0', sizeof(job->arg)) || !is_job_volid(job->arg))
			return err_set(POE_FAIL, "invalid job: bad volid '%.*s'",
				       (int)sizeof(job->arg) - 1, job->arg);
		return 0;
	case QUEUE_NVME_ATTACH:
		if (!memchr(job->arg, '\0', sizeof(job->arg)) || !util_is_uuid(job->arg))
			return err_set(POE_FAIL, "invalid job: bad namespace uuid '%.*s'",
				       (int)sizeof(job->arg) - 1, job->arg);
		return 0;
	}
	return err_set(POE_FAIL, "invalid job: unknown action %d", (int)job->action);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return err_set(POE_FAIL, "cannot open queue directory '%s': %s", dir,
			       strerror(errno));
	if (fsync(fd) < 0)
		rc = err_set(POE_FAIL, "cannot sync queue directory '%s': %s", dir,
			     strerror(errno));
	close(fd);
	return rc;
}

int queue_put(const char *dir, const struct queue_job *job)
{
	static atomic_uint counter;
	struct buf body = BUF_INIT(QUEUE_MAX_JOB_BYTES);
	struct json_writer w;
	struct timespec ts;
	char name[128];
	char *tmp = NULL;
	char *final = NULL;
	int fd = -1;
	int rc;

	rc = job_check(job);
	if (rc < 0)
		return rc;
	rc = util_mkdir_p(dir, 0700);
	if (rc < 0)
		return err_prefix(POE_FAIL, "cannot create queue directory '%s'", dir);

	jw_init(&w, &body, 0);
	jw_object_begin(&w, NULL);
	jw_int(&w, "vmid", job->vmid);
	jw_string(&w, "action", queue_action_name(job->action));
	if (job->action == QUEUE_UNUSED_REMOVE || job->action == QUEUE_REGISTER)
		jw_string(&w, "volid", job->arg);
	else if (job->action == QUEUE_NVME_ATTACH)
		jw_string(&w, "uuid", job->arg);
	jw_object_end(&w);
	rc = jw_finish(&w);
	if (rc < 0) {
		rc = err_prefix(POE_FAIL, "cannot encode job for VM %d", job->vmid);
		goto out;
	}
	if (buf_putc(&body, '\n') < 0) {
		rc = POE_FAIL;
		goto out;
	}

	/*
	 * Unique and sortable: wall-clock milliseconds (fixed width, so names sort by time),
	 * then pid and a per-process counter for jobs written within the same millisecond.
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "%d-%013" PRId64 "-%ld-%u.job", job->vmid,
		 (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, (long)getpid(),
		 atomic_fetch_add(&counter, 1));
	tmp = util_xasprintf("%s/.%s.tmp", dir, name);
	final = util_xasprintf("%s/%s", dir, name);

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = err_set(POE_FAIL, "cannot create job file '%s': %s", tmp, strerror(errno));
		goto out;
	}
	for (size_t off = 0; off < body.len;) {
		ssize_t n = write(fd, body.data + off, body.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(POE_FAIL, "cannot write job file '%s': %s", tmp,
				     strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		rc = err_set(POE_FAIL, "cannot sync job file '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = err_set(POE_FAIL, "cannot write job file '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, final) < 0) {
		rc = err_set(POE_FAIL, "cannot rename job file to '%s': %s", final,
			     strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	rc = fsync_dir(dir);
out:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(final);
	buf_release(&body);
	return rc;
}

int queue_parse(const char *text, size_t len, struct queue_job *job)
{
	struct json_doc d = { 0 };
	bool have_vmid = false, have_action = false, have_volid = false, have_uuid = false;
	char volid[sizeof(job->arg)] = "";
	char uuid[sizeof(job->arg)] = "";
	char action[32];
	int rc;

	memset(job, 0, sizeof(*job));
	if (len > QUEUE_MAX_JOB_BYTES)
		return err_set(POE_FAIL, "invalid job: larger than %d bytes", QUEUE_MAX_JOB_BYTES);
	rc = json_parse(&d, text, len, QUEUE_MAX_TOKENS);
	if (rc < 0) {
		rc = err_prefix(POE_FAIL, "invalid job");
		goto out;
	}
	if (json_type(&d, 0) != JSON_OBJECT) {
		rc = err_set(POE_FAIL, "invalid job: not a JSON object");
		goto out;
	}
	json_for_each(&d, 0, v) {
		int k = json_key_of(&d, v);
		char key[16];

		if (json_str(&d, k, key, sizeof(key)) < 0) {
			rc = err_set(POE_FAIL, "invalid job: unknown key");
			goto out;
		}
		if (!strcmp(key, "vmid") && !have_vmid) {
			int64_t n;

			if (json_int(&d, v, &n) < 0 || n < QUEUE_VMID_MIN || n > QUEUE_VMID_MAX) {
				rc = err_set(POE_FAIL, "invalid job: bad vmid");
				goto out;
			}
			job->vmid = (int)n;
			have_vmid = true;
		} else if (!strcmp(key, "action") && !have_action) {
			if (json_str(&d, v, action, sizeof(action)) < 0 ||
			    action_from_name(action, &job->action) < 0) {
				rc = err_set(POE_FAIL, "invalid job: unknown action");
				goto out;
			}
			have_action = true;
		} else if (!strcmp(key, "volid") && !have_volid) {
			if (json_str(&d, v, volid, sizeof(volid)) < 0) {
				rc = err_set(POE_FAIL, "invalid job: bad volid");
				goto out;
			}
			have_volid = true;
		} else if (!strcmp(key, "uuid") && !have_uuid) {
			if (json_str(&d, v, uuid, sizeof(uuid)) < 0) {
				rc = err_set(POE_FAIL, "invalid job: bad uuid");
				goto out;
			}
			have_uuid = true;
		} else {
			rc = err_set(POE_FAIL, "invalid job: unknown or repeated key '%s'", key);
			goto out;
		}
	}
	if (!have_vmid || !have_action) {
		rc = err_set(POE_FAIL, "invalid job: vmid and action are required");
		goto out;
	}
	switch (job->action) {
	case QUEUE_RESCAN:
		if (have_volid || have_uuid) {
			rc = err_set(POE_FAIL, "invalid job: rescan takes no volid or uuid");
			goto out;
		}
		break;
	case QUEUE_UNUSED_REMOVE:
	case QUEUE_REGISTER:
		if (!have_volid || have_uuid) {
			rc = err_set(POE_FAIL, "invalid job: %s needs a volid",
				     queue_action_name(job->action));
			goto out;
		}
		util_strlcpy(job->arg, volid, sizeof(job->arg)); /* same size: cannot be cut */
		break;
	case QUEUE_NVME_ATTACH:
		if (!have_uuid || have_volid) {
			rc = err_set(POE_FAIL, "invalid job: nvme-attach needs a uuid");
			goto out;
		}
		util_strlcpy(job->arg, uuid, sizeof(job->arg)); /* same size */
		break;
	}
	rc = job_check(job);
out:
	json_free(&d);
	if (rc < 0)
		memset(job, 0, sizeof(*job));
	return rc;
}

int queue_read(int dirfd, const char *name, struct queue_job *job)
{
	char data[QUEUE_MAX_JOB_BYTES + 1];
	size_t len = 0;
	struct stat st;
	uid_t euid = geteuid();
	size_t nl = strlen(name);
	int fd = -1;
	int rc = 0;

	memset(job, 0, sizeof(*job));
	if (!util_is_safe_name(name) || name[0] == '.' || nl < 5 || nl >= sizeof(job->file) ||
	    strcmp(name + nl - 4, ".job") != 0)
		return err_set(POE_FAIL, "invalid job file name '%s'", name);

	/* O_NONBLOCK: a FIFO planted in the queue must not hang the watcher. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = err_set(errno == ENOENT ? POE_NOTFOUND : POE_FAIL,
			     "cannot open job file '%s': %s", name, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = err_set(POE_FAIL, "cannot stat job file '%s': %s", name, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(POE_FAIL, "job file '%s' is not a regular file", name);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != euid) {
		rc = err_set(POE_FAIL, "job file '%s' is owned by uid %u, not root", name,
			     (unsigned)st.st_uid);
		goto out;
	}
	if (st.st_size > QUEUE_MAX_JOB_BYTES) {
		rc = err_set(POE_FAIL, "job file '%s' is larger than %d bytes", name,
			     QUEUE_MAX_JOB_BYTES);
		goto out;
	}
	/* Read one byte more than allowed: the file may grow after fstat. */
	while (len < sizeof(data)) {
		ssize_t n = read(fd, data + len, sizeof(data) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(POE_FAIL, "cannot read job file '%s': %s", name,
				     strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > QUEUE_MAX_JOB_BYTES) {
		rc = err_set(POE_FAIL, "job file '%s' is larger than %d bytes", name,
			     QUEUE_MAX_JOB_BYTES);
		goto out;
	}
	rc = queue_parse(data, len, job);
	if (rc < 0) {
		rc = err_prefix(rc, "job file '%s'", name);
		goto out;
	}
	/* The name starts with the VM it is for; a mismatch means someone else wrote it. */
	{
		char prefix[16];
		int pl = snprintf(prefix, sizeof(prefix), "%d-", job->vmid);

		if (strncmp(name, prefix, (size_t)pl) != 0) {
			rc = err_set(POE_FAIL, "job file '%s' is not named for VM %d", name,
				     job->vmid);
			memset(job, 0, sizeof(*job));
			goto out;
		}
	}
	util_strlcpy(job->file, name, sizeof(job->file)); /* a directory entry's name: fits */
out:
	if (fd >= 0)
		close(fd);
	return rc;
}
