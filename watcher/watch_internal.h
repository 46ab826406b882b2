/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_WATCH_INTERNAL_H
#define PVE_ONTAP_WATCH_INTERNAL_H

/*
 * Shared between watch.c (loop, signals, inotify), queue_runner.c (jobs), reconcile.c
 * (NFS image directories) and devices.c (/dev). Not part of any other module's contract.
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/queue.h"

struct config;
struct ontap_client;
struct pve_vmconf;
struct wk_pool;
struct ws_sched;
struct watcher;

/* ---- pure helpers (tested by tests/unit/test_watch.c) ---- */

#define WATCH_BACKOFF_MIN_MS 500
#define WATCH_BACKOFF_MAX_MS 30000
#define WATCH_UUID_LEN 36

/* Names of clones and namespaces: ops/names.h; NVMe head devices: nvmehost_is_head(). */
/*
 * A namespace uuid as read from sysfs (untrusted: bounded by len, trailing whitespace
 * allowed): 8-4-4-4-12 hex digits, copied lowercase into out. Returns 0 or POE_FAIL.
 */
int watch_uuid_parse(const char *text, size_t len, char out[WATCH_UUID_LEN + 1]);
/* Two jobs that do the same thing (same VM, action and argument) are coalesced. */
bool watch_jobs_same(const struct queue_job *a, const struct queue_job *b);
/*
 * Coalesce jobs (of one VM, in order): key_of[i] is the index of the first job that does
 * the same as jobs[i]. Returns the number of distinct actions.
 */
int watch_coalesce(const struct queue_job *jobs, int n, int *key_of);
/* Capped exponential backoff: 0 -> 500 ms, doubling, at most 30 s. */
int64_t watch_backoff_next(int64_t cur_ms);
/* Does qm's output say "try again later" (config lock held, lock: set, timeout, quorum)? */
bool watch_qm_is_retryable(const char *text);

/* ---- watcher state ---- */

enum watch_kind {
	WK_QUEUE = 1,
	WK_DEV,
	WK_IMAGES,   /* <storage>/images/ */
	WK_VMDIR,    /* <storage>/images/<vmid>/ */
};

/* One inotify watch (libinotifytools keeps the wd -> path map; this keeps the meaning). */
struct watch_dir {
	int wd;
	enum watch_kind kind;
	int nfs;        /* index into watcher.nfs (WK_IMAGES, WK_VMDIR) */
	int vmid;       /* WK_VMDIR */
	bool dirty;     /* WK_VMDIR: an event asks for a look at the directory */
};

/* A job, from a file in the queue (job.file set) or made internally (job.file ""). */
struct watch_job {
	struct queue_job job;
	uint64_t seq;
	uint64_t task;            /* the task running its action (0: none) */
	int64_t nodev_since_ms;   /* nvme-attach: first attempt that found no device */
	bool done;
};

/* Retry state of one VM with pending jobs. */
struct watch_vm {
	int vmid;
	int64_t next_try_ms;      /* 0: now */
	int64_t backoff_ms;
	int failures;             /* failures in a row that were not "locked" */
	int64_t remote_since_ms;  /* when the VM was first seen not on this node; 0: local */
	uint64_t round;           /* last wq_run() round that looked at it */
	bool busy;                /* a task of this VM is with the workers */
	bool woken;               /* its device appeared while the task ran: retry at once */
	bool keep;                /* compact(): it still has jobs */
};

/* A configured NFS storage and its image directory. */
struct watch_nfs {
	char *id;
	char *images;            /* "<path>/images" */
	bool watched;
	bool warned;
};

/* A /dev name waiting to be resolved (uuid from sysfs, VM from ONTAP). */
struct watch_dev {
	char name[64];
	int attempts;
	int64_t next_try_ms;
	bool busy;                /* with the device worker */
};

/* Last set of unreferenced clone files that the reconcile asked to register. */
struct watch_sig {
	int nfs;
	int vmid;
	uint64_t sig;
};

/* A device found to be a namespace (devices.c -> the caller: wake a job or add one). */
struct wd_found {
	char uuid[WATCH_UUID_LEN + 1];
	int vmid;                 /* -1: only wake a waiting nvme-attach job of the uuid */
};

/* Adds an inotify watch on dir (a path ending in '/'); returns its index or < 0. */
typedef int (*watch_add_dir_fn)(struct watcher *w, const char *dir, uint32_t mask,
				enum watch_kind kind, int nfs, int vmid);

struct watcher {
	const char *config_path;
	const volatile sig_atomic_t *stop;  /* set by SIGTERM/SIGINT (watch.c) */
	watch_add_dir_fn add_dir;           /* watch.c's, for reconcile.c */
	struct config *cfg;
	bool once;
	int ifd;                  /* libinotifytools' inotify descriptor, polled here */
	int queue_fd;             /* paths.queue, O_DIRECTORY */
	bool queue_lost;          /* the queue directory went away: set it up again */

	struct watch_dir *dirs;
	int ndirs;

	char **names;             /* queue file names seen in events, to be read */
	int nnames;
	int names_cap;
	bool queue_scan;          /* read the whole queue directory (start, overflow, reload) */

	struct watch_job *jobs;
	int njobs;
	int jobs_cap;
	uint64_t seq;
	struct watch_vm *vms;
	int nvms;
	struct wk_pool *pool;     /* runs the actions (qm) of different VMs at once */
	uint64_t task_seq;
	uint64_t round;
	unsigned long jobs_done;  /* job files completed, for the status line */
	int jobs_left;            /* --once: jobs that could not be completed */

	struct watch_nfs *nfs;
	int nnfs;
	struct watch_sig *sigs;
	int nsigs;
	int64_t next_reconcile_ms;

	struct watch_dev *devs;
	int ndevs;
	struct wk_pool *dev_pool; /* resolves devices (nvme-cli, ONTAP) off the main loop */
	struct ontap_client **oc; /* one per cfg->ontap[i], made on first use (dev_pool's) */
	struct ws_sched *sched;   /* scheduled rules (scheduler.c); NULL with --once */
};


/* queue_runner.c */
/* WR_NODEV: nvme-attach found no block device for the namespace (yet) */
enum watch_result { WR_OK = 0, WR_RETRY, WR_FAIL, WR_REMOTE, WR_NODEV };

void wq_note_name(struct watcher *w, const char *name);
void wq_scan(struct watcher *w);
void wq_read_names(struct watcher *w);
/* Add an internal job (not backed by a file). */
void wq_add(struct watcher *w, const struct queue_job *job);
/*
 * Take the results of finished actions, then hand the next action of every VM whose jobs
 * are due to the workers (one action per VM at a time, WQ_WORKERS at once). Returns true
 * when it started or finished something.
 */
bool wq_run(struct watcher *w, int64_t now);
/*
 * Earliest time a VM's next action may start, 0 when none can (no jobs, or every worker
 * busy: wq_wake_fd() then says when one finishes).
 */
int64_t wq_next_due(const struct watcher *w);
/* Readable when a worker finished an action (-1 before the first one started). */
int wq_wake_fd(const struct watcher *w);
/* Actions with the workers. */
int wq_inflight(const struct watcher *w);
/*
 * Wait for every action with the workers and take its result (SIGTERM, reload: nothing may
 * keep using the config). cancel_waiting: actions no worker started yet are not started.
 */
void wq_drain(struct watcher *w, bool cancel_waiting);
/* A device with this namespace uuid appeared: pending nvme-attach jobs of it run at once. */
bool wq_wake_uuid(struct watcher *w, const char *uuid);
/* The namespace uuids of pending nvme-attach jobs (caller frees *out). */
int wq_waiting_uuids(const struct watcher *w, char (**out)[WATCH_UUID_LEN + 1]);
bool wq_idle(const struct watcher *w);
void wq_release(struct watcher *w);
/* Run one action (called on a worker thread: touches nothing but cfg, the VM and qm). */
enum watch_result wq_run_action(const struct config *cfg, const struct queue_job *job);
/* Attach the namespace uuid to the VM (nvme-attach) as "<by-id link>,shared=1". */
enum watch_result wq_nvme_attach(const struct config *cfg, int vmid, const char *uuid);
/*
 * Does the drive value volid (a VM config's path, without options) name namespace uuid?
 * "/dev/disk/by-id/nvme-uuid.<uuid>" (also below paths.dev) by its name, "/dev/nvmeXnY"
 * (or below paths.dev) through sysfs.
 */
bool wq_volid_is_namespace(const struct config *cfg, const char *volid, const char *uuid);

enum wq_file { WQ_FILE_GONE, WQ_FILE_THERE, WQ_FILE_UNKNOWN };
/*
 * Is the file of volume "<vmid>/<file>" on PVE storage id there? UNKNOWN when the storage
 * is not in storage.cfg, has no directory, or its images/ directory is missing (not
 * mounted: a missing file then says nothing).
 */
enum wq_file wq_volume_file(const struct config *cfg, const char *storage, const char *volume);

/*
 * workers.c: a small pool of threads that run a function per task; all signals blocked
 * there. The main thread owns every watcher structure; a task carries what it may read.
 */
#define WQ_WORKERS 4

struct wk_task {
	void (*fn)(void *arg);       /* runs on a worker thread */
	void *arg;
	bool started;                /* a worker took it (else it was cancelled) */
	struct wk_task *next;
};

/* Returns 0 or POE_FAIL (eventfd); up to nthreads threads start with the first task. */
int wk_pool_new(struct wk_pool **out, int nthreads);
/*
 * Hand a task to the workers; they own it until wk_take(). The task is the first member of
 * one allocation (wk_pool_free() frees what was never taken back).
 */
int wk_submit(struct wk_pool *p, struct wk_task *t);
/* A finished (or cancelled: started false, fn not run) task, or NULL. Never blocks. */
struct wk_task *wk_take(struct wk_pool *p);
/* Tasks submitted and not yet taken back. */
int wk_inflight(const struct wk_pool *p);
/* Tasks a worker is running now. */
int wk_running(const struct wk_pool *p);
int wk_fd(const struct wk_pool *p);
/* Tasks no worker started yet are returned by wk_take() with started false, not run. */
void wk_cancel_waiting(struct wk_pool *p);
/* Block until a task finished, at most timeout_ms (EINTR returns early). */
void wk_wait(struct wk_pool *p, int timeout_ms);
/* Stops and joins the threads; every task should have been taken back. */
void wk_pool_free(struct wk_pool *p);
/*
 * Process exit while a task still runs (a hung look-up): the threads are left to the
 * exit, nothing of the pool is freed (the running task may still read it).
 */
void wk_pool_abandon(struct wk_pool *p);

/* reconcile.c */
int wr_setup(struct watcher *w);
void wr_release(struct watcher *w);
/* Add watches that are missing (storage mounted late, new VM directories). */
void wr_watch(struct watcher *w);
void wr_event(struct watcher *w, struct watch_dir *d, uint32_t mask, const char *name);
void wr_flush_dirty(struct watcher *w);
void wr_reconcile(struct watcher *w);

/* scheduler.c: scheduled rules, run as child processes; the metrics file */
/* Set up (first call) or reload (SIGHUP: policies read again). POE_FAIL when we cannot
 * find our own executable. */
int ws_setup(struct watcher *w);
/* Forget the schedule; running children finish on their own. */
void ws_release(struct watcher *w);
/* Reap children, rescan VMs and policies when due, start due runs, rewrite the metrics. */
void ws_run(struct watcher *w, int64_t now_ms);
/* Monotonic ms of the next wakeup the schedule needs (at most a minute ahead). */
int64_t ws_next_due(const struct watcher *w);
/* Scheduled runs in progress. */
int ws_running(const struct watcher *w);

/* device_link.c */
/*
 * The block device of a namespace as a VM config names it: <dev>/disk/by-id/nvme-uuid.<uuid>,
 * never a kernel name. POE_NOTFOUND while that udev link is missing (the message says
 * whether the kernel shows the device already).
 */
int wd_device_for_uuid(const struct config *cfg, const char *uuid, char *path, size_t n);

/* devices.c */
void wd_event(struct watcher *w, const char *name);
/*
 * Take the results of finished look-ups (into *found, caller frees) and hand due devices
 * to the device worker; waiting: uuids of pending nvme-attach jobs (no ONTAP look-up for
 * those). Returns the number of entries in *found.
 */
int wd_run(struct watcher *w, int64_t now, char (*waiting)[WATCH_UUID_LEN + 1], int nwaiting,
	   struct wd_found **found);
int64_t wd_next_due(const struct watcher *w);
/* Readable when a device look-up finished (-1 before the first one started). */
int wd_wake_fd(const struct watcher *w);
/*
 * Wait for the look-ups in hand (reload: they read the config). stopping: do not wait for
 * one that runs; returns false when one is still running then.
 */
bool wd_drain(struct watcher *w, bool stopping);
/* Frees the ONTAP clients (they borrow the config); pending devices stay. */
void wd_release(struct watcher *w);

#endif
