/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The watcher's workers: a few threads that run tasks (a job's action: qm, nvme-cli; a
 * device look-up: nvme-cli, ONTAP) so that a slow qm of one VM, or an unreachable ONTAP,
 * does not hold up the others or the main loop. Each task names the function to run. exec_run() blocks until its child exits,
 * so concurrency needs threads (or a process per job); threads keep the results in memory
 * and need no SIGCHLD.
 *
 * The main thread owns every watcher structure; a task carries what it may read (a copy of
 * the job, the config), and comes back through a mutex-protected list with an eventfd tick
 * that wakes the main thread's ppoll(). Workers block every signal (STYLE.md #11: the
 * handlers run on the main thread, which sets the flags and wakes from ppoll()); exec_run()
 * gives each child the default mask again.
 */
#include "watch_internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

struct wk_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t *threads;
	int nthreads;
	int maxthreads;
	int running;                       /* tasks a worker runs now */
	int efd;
	bool quit;
	int inflight;                      /* submitted, not yet taken back */
	struct wk_task *todo, *todo_tail;  /* FIFO: in submission order */
	struct wk_task *done, *done_tail;
};

static void push(struct wk_task **head, struct wk_task **tail, struct wk_task *t)
{
	t->next = NULL;
	if (*tail)
		(*tail)->next = t;
	else
		*head = t;
	*tail = t;
}

static struct wk_task *pop(struct wk_task **head, struct wk_task **tail)
{
	struct wk_task *t = *head;

	if (t) {
		*head = t->next;
		if (!*head)
			*tail = NULL;
		t->next = NULL;
	}
	return t;
}

static void tick(struct wk_pool *p)
{
	uint64_t one = 1;

	/* the counter cannot overflow in practice; EAGAIN would mean it is readable anyway */
	while (write(p->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void *worker(void *arg)
{
	struct wk_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct wk_task *t;

		while (!p->todo && !p->quit)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->quit)
			break;
		t = pop(&p->todo, &p->todo_tail);
		t->started = true;
		p->running++;
		pthread_mutex_unlock(&p->lock);

		t->fn(t->arg);
		err_clear();

		pthread_mutex_lock(&p->lock);
		p->running--;
		push(&p->done, &p->done_tail, t);
		tick(p);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int wk_pool_new(struct wk_pool **out, int nthreads)
{
	struct wk_pool *p = util_xcalloc(1, sizeof(*p));

	p->maxthreads = nthreads > 0 ? nthreads : 1;
	p->threads = util_xcalloc((size_t)p->maxthreads, sizeof(*p->threads));
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		int e = errno;

		free(p->threads);
		free(p);
		return err_set(POE_FAIL, "cannot create an eventfd for the workers: %s",
			       strerror(e));
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	*out = p;
	return 0;
}

/* Start the threads with every signal blocked (they inherit the creator's mask). */
static int start_threads(struct wk_pool *p)
{
	sigset_t all, old;
	int rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (p->nthreads < p->maxthreads) {
		int e = pthread_create(&p->threads[p->nthreads], NULL, worker, p);

		if (e) {
			/* fewer workers still work; none does not */
			if (!p->nthreads)
				rc = err_set(POE_FAIL, "cannot start a worker thread: %s",
					     strerror(e));
			else
				log_warn("running with %d worker thread(s): %s", p->nthreads,
					 strerror(e));
			break;
		}
		p->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int wk_submit(struct wk_pool *p, struct wk_task *t)
{
	int rc;

	if (!p->nthreads) {
		rc = start_threads(p);
		if (rc < 0)
			return rc;
	}
	t->started = false;
	pthread_mutex_lock(&p->lock);
	push(&p->todo, &p->todo_tail, t);
	p->inflight++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

struct wk_task *wk_take(struct wk_pool *p)
{
	struct wk_task *t;
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	t = pop(&p->done, &p->done_tail);
	if (t)
		p->inflight--;
	else /* empty: reset the tick (it is set again by the next finished task) */
		while (read(p->efd, &n, sizeof(n)) < 0 && errno == EINTR)
			;
	pthread_mutex_unlock(&p->lock);
	return t;
}

int wk_inflight(const struct wk_pool *p)
{
	/* only the main thread changes it */
	return p ? p->inflight : 0;
}

int wk_running(const struct wk_pool *p)
{
	int n;

	if (!p)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&p->lock);
	n = p->running;
	pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
	return n;
}

int wk_fd(const struct wk_pool *p)
{
	return p ? p->efd : -1;
}

void wk_cancel_waiting(struct wk_pool *p)
{
	struct wk_task *t;

	pthread_mutex_lock(&p->lock);
	while ((t = pop(&p->todo, &p->todo_tail)) != NULL) {
		t->started = false;
		push(&p->done, &p->done_tail, t);
	}
	tick(p);
	pthread_mutex_unlock(&p->lock);
}

void wk_wait(struct wk_pool *p, int timeout_ms)
{
	struct pollfd pfd = { .fd = p->efd, .events = POLLIN };

	poll(&pfd, 1, timeout_ms);
}

/* Threads end once they have no task running. */
static void tell_quit(struct wk_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->quit = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void wk_pool_free(struct wk_pool *p)
{
	if (!p)
		return;
	tell_quit(p);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* nothing is left when the caller drained the pool first; be safe anyway */
	while (p->todo)
		free(pop(&p->todo, &p->todo_tail));
	while (p->done)
		free(pop(&p->done, &p->done_tail));
	close(p->efd);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}

void wk_pool_abandon(struct wk_pool *p)
{
	if (!p)
		return;
	/* idle threads end; the running one ends with the process */
	tell_quit(p);
	for (int i = 0; i < p->nthreads; i++)
		pthread_detach(p->threads[i]);
}
