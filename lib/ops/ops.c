/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Operation context shared by the CLI and the hook: lazily created clients, the mapping of
 * a PVE storage to its ONTAP volume, snapshot and clone names of DESIGN.md, signals while a
 * guest is frozen, and job queueing for the watcher.
 */
#include "ops/ops.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "host/lock.h"
#include "base/log.h"
#include "ontap/ontap.h"
#include "ops/ops_internal.h"
#include "pve/pve.h"
#include "host/queue.h"
#include "base/util.h"

volatile sig_atomic_t ops_interrupted;

void ops_ctx_init(struct ops_ctx *ctx, const struct config *cfg)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = cfg;
}

void ops_ctx_release(struct ops_ctx *ctx)
{
	for (int i = 0; i < ctx->nontap; i++)
		ontap_client_free(ctx->ontap[i]);
	free(ctx->ontap);
	ctx->ontap = NULL;
	ctx->nontap = 0;
	pve_client_free(ctx->pve);
	ctx->pve = NULL;
	free(ctx->vols);
	ctx->vols = NULL;
	ctx->nvols = 0;
}

int ops_ontap(struct ops_ctx *ctx, const struct config_storage *st, struct ontap_client **out)
{
	int idx;

	*out = NULL;
	if (!st->ontap)
		return err_set(POE_CONFIG, "storage '%s' names no ONTAP cluster", st->id);
	idx = (int)(st->ontap - ctx->cfg->ontap);
	if (idx < 0 || idx >= ctx->cfg->nontap)
		return err_set(POE_CONFIG, "storage '%s' names an unknown ONTAP cluster", st->id);
	if (!ctx->ontap) {
		ctx->nontap = ctx->cfg->nontap;
		ctx->ontap = util_xcalloc((size_t)ctx->nontap, sizeof(*ctx->ontap));
	}
	if (!ctx->ontap[idx]) {
		ctx->ontap[idx] = ontap_client_new(st->ontap);
		if (!ctx->ontap[idx]) /* ontap_client_new() said why */
			return err_code() < 0 ? err_code() : POE_CONFIG;
		if (ctx->dry_run)
			ontap_client_set_dry_run(ctx->ontap[idx], ctx->dry_run);
	}
	*out = ctx->ontap[idx];
	return 0;
}

int ops_pve(struct ops_ctx *ctx, struct pve_client **out)
{
	*out = NULL;
	if (!ctx->pve) {
		ctx->pve = pve_client_new(&ctx->cfg->pve);
		if (!ctx->pve) /* pve_client_new() said why */
			return err_code() < 0 ? err_code() : POE_CONFIG;
		if (ctx->dry_run)
			pve_client_set_dry_run(ctx->pve, ctx->dry_run);
	}
	*out = ctx->pve;
	return 0;
}

/* How long a CLI operation waits for the lock held by a hook or another node. */
#define OPS_LOCK_WAIT_MS 60000
#define OPS_LOCK_SLICE_MS 500
/* The longest storage id a lock is named after in full ("pve-ontap-storage-" + id fits a
 * file name of 255 bytes with room to spare). */
#define OPS_LOCK_ID_MAX 200

static int lock_named(struct ops_ctx *ctx, const char *name, struct cluster_lock *l)
{
	int64_t deadline = ctx->deadline ? ctx->deadline : util_now_ms() + OPS_LOCK_WAIT_MS;
	int rc;

	memset(l, 0, sizeof(*l));
	if (ctx->dry_run)
		return 0;
	/* in slices, so that a signal ends the wait (nothing has been done yet) */
	for (;;) {
		int64_t slice = util_now_ms() + OPS_LOCK_SLICE_MS;

		rc = cluster_lock_acquire(l, ctx->cfg->paths.lock, name,
					  slice < deadline ? slice : deadline);
		if (rc != POE_TIMEOUT || util_deadline_passed(deadline))
			break;
		if (ops_interrupted)
			return err_set(POE_FAIL,
				       "interrupted by %s while waiting for the lock '%s': nothing was done",
				       ops_signal_name(ops_interrupted), name);
	}
	if (rc == POE_TIMEOUT)
		return err_set(POE_TIMEOUT,
			       "another pve-ontap operation (a hook, or a run on another node) holds the lock '%s' in '%s'",
			       name, ctx->cfg->paths.lock);
	return rc;
}

int ops_lock_vm(struct ops_ctx *ctx, int vmid, struct cluster_lock *l)
{
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "vm-%d", vmid);
	rc = lock_named(ctx, name, l);
	if (rc == 0 && l->held)
		ctx->vm_lock = l;
	return rc;
}

int ops_lock_storage(struct ops_ctx *ctx, const char *id, struct cluster_lock *l)
{
	char name[CONFIG_STORAGE_ID_MAX + 16];
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	int rc;

	if (!util_is_safe_name(id))
		return err_set(POE_USAGE, "bad storage id '%s'", id);
	/*
	 * "pve-ontap-storage-<id>" is one file name of 255 bytes at most: an id too long for
	 * it is named by its first bytes and a hash of all of it, so that two ids alike at the
	 * start never share a lock (cutting the id did).
	 */
	if (strlen(id) <= OPS_LOCK_ID_MAX) {
		rc = util_format(name, sizeof(name), "lock name", "storage-%s", id);
	} else {
		for (const char *p = id; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		rc = util_format(name, sizeof(name), "lock name", "storage-%.*s-%016" PRIx64,
				 OPS_LOCK_ID_MAX - 17, id, h);
	}
	return rc < 0 ? rc : lock_named(ctx, name, l);
}

int ops_parse_quiesce(const char *s, enum quiesce *out)
{
	static const char *const names[] = { "none", "freeze", "suspend", "shutdown" };

	for (int i = 0; i < 4; i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum quiesce)i;
			return 0;
		}
	}
	return err_set(POE_USAGE, "bad quiesce mode '%s' (none, freeze, suspend, shutdown)", s);
}

int ops_pve_storage(struct ops_ctx *ctx, const char *id, struct pve_storage *out)
{
	struct pve_storagecfg *sc = NULL;
	const struct pve_storage *s;
	struct pve_client *pc;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = pve_storagecfg_load(ctx->cfg->paths.pve_etc, ctx->cfg->paths.mnt, &sc);
	if (rc == 0) {
		s = pve_storagecfg_find(sc, id);
		if (!s) {
			rc = err_set(POE_NOTFOUND, "storage '%s' is not defined in '%s/storage.cfg'",
				     id, ctx->cfg->paths.pve_etc);
			goto out;
		}
		out->id = util_xstrdup(s->id);
		out->type = s->type ? util_xstrdup(s->type) : NULL;
		out->server = s->server ? util_xstrdup(s->server) : NULL;
		out->export_path = s->export_path ? util_xstrdup(s->export_path) : NULL;
		out->path = s->path ? util_xstrdup(s->path) : NULL;
		out->options = s->options ? util_xstrdup(s->options) : NULL;
		out->content = s->content ? util_xstrdup(s->content) : NULL;
		out->nodes = s->nodes ? util_xstrdup(s->nodes) : NULL;
		out->disabled = s->disabled;
		goto out;
	}
	if (rc != POE_NOTFOUND)
		goto out;
	/* not on a PVE node (no storage.cfg here): ask the API */
	rc = ops_pve(ctx, &pc);
	if (rc == 0)
		rc = pve_storage_get(pc, id, out, 0);
out:
	pve_storagecfg_free(sc);
	return rc;
}

static int volume_resolve(struct ops_ctx *ctx, const struct config_storage *st,
			  struct ops_volume *out);

int ops_volume_resolve(struct ops_ctx *ctx, const struct config_storage *st,
		       struct ops_volume *out)
{
	struct ops_volume *cache = ctx->vols;
	int rc;

	/* one lookup per storage and operation: the hook's round trips are counted */
	for (int i = 0; i < ctx->nvols; i++) {
		if (cache[i].st == st) {
			*out = cache[i];
			return 0;
		}
	}
	rc = volume_resolve(ctx, st, out);
	if (rc < 0)
		return rc;
	cache = util_xrealloc(ctx->vols, (size_t)(ctx->nvols + 1) * sizeof(*cache));
	cache[ctx->nvols++] = *out;
	ctx->vols = cache;
	return 0;
}

/* The volume cache's name of a cluster: "host:port" (a host name of 255 at most fits). */
static void cluster_of(const struct config_storage *st, char *cluster, size_t n)
{
	snprintf(cluster, n, "%s:%d", st->ontap->host, st->ontap->port ? st->ontap->port : 443);
}

/* The volume cache's key of out (out->cache_key set); cluster is the storage for it. */
static void cache_key(struct ops_volume *out, const char *export, char *cluster, size_t n,
		      struct volcache_key *k)
{
	const struct config_storage *st = out->st;

	cluster_of(st, cluster, n);
	if (st->volume)
		snprintf(out->cache_key, sizeof(out->cache_key), "volume:%s", st->volume);
	else
		snprintf(out->cache_key, sizeof(out->cache_key), "export:%s", export);
	k->cluster = cluster;
	k->svm = st->svm ? st->svm : "";
	k->key = out->cache_key;
}

/* Is export the junction nas or a path below it? */
static bool path_under(const char *export, const char *nas)
{
	size_t l = strlen(nas);

	return l > 1 && !strncmp(export, nas, l) && (export[l] == '\0' || export[l] == '/');
}

/*
 * The cached volume, when it is what was asked for: the configured name, or a junction at
 * or above the export (a cache entry never chooses a path), on the configured SVM.
 */
static bool cache_lookup(struct ops_ctx *ctx, struct ops_volume *out, const char *export)
{
	const struct config_storage *st = out->st;
	struct volcache_key k;
	struct err_saved saved;
	struct ontap_volume v;
	char cluster[300];
	int rc;

	cache_key(out, export, cluster, sizeof(cluster), &k);
	if (ctx->fresh_volumes)
		return false;
	err_save(&saved);
	rc = ops_volcache_get(ctx->cfg, &k, &v);
	if (rc < 0) {
		/* an entry that does not fit is a miss too: the look-up asks ONTAP */
		if (rc != POE_NOTFOUND)
			log_debug("volume cache entry not used: %s", err_msg());
		err_restore(&saved);
		return false;
	}
	if ((st->svm && strcmp(v.svm, st->svm) != 0) ||
	    (st->volume ? strcmp(v.name, st->volume) != 0 : !path_under(export, v.nas_path)))
		return false;
	out->vol = v;
	out->cached = true;
	return true;
}

static void cache_store(struct ops_ctx *ctx, struct ops_volume *out, const char *export)
{
	struct volcache_key k;
	char cluster[300];

	if (ctx->dry_run || out->cached)
		return;
	cache_key(out, export, cluster, sizeof(cluster), &k);
	ops_volcache_put(ctx->cfg, &k, &out->vol);
}

/* The volume mounted at path or at a parent of it; path is cut to the junction found. */
static int find_by_export(struct ops_volume *out, const char *export, char *path)
{
	const struct config_storage *st = out->st;
	int rc;

	for (;;) {
		char *slash;

		rc = ontap_volume_find_by_path(out->oc, st->svm, path, &out->vol, 0);
		if (rc != POE_NOTFOUND)
			return rc;
		/* an export below a junction: the volume is mounted at a parent path */
		slash = strrchr(path, '/');
		if (!slash || slash == path)
			return err_set(POE_NOTFOUND,
				       "no ONTAP volume is mounted at '%s' (export of storage '%s') on SVM '%s'",
				       export, st->id, st->svm ? st->svm : "(any)");
		*slash = '\0';
	}
}

static int resolve_by_name(struct ops_ctx *ctx, const struct config_storage *st,
			   struct ops_volume *out)
{
	int rc;

	if (cache_lookup(ctx, out, ""))
		return 0;
	rc = ontap_volume_find(out->oc, st->svm, st->volume, &out->vol, 0);
	if (rc == POE_NOTFOUND)
		return err_set(POE_NOTFOUND, "volume '%s' of storage '%s' not found on SVM '%s'",
			       st->volume, st->id, st->svm ? st->svm : "(any)");
	if (rc == 0)
		cache_store(ctx, out, "");
	return rc;
}

static int resolve_by_export(struct ops_ctx *ctx, const struct config_storage *st,
			     struct ops_volume *out)
{
	char export[256], path[256];
	struct pve_storage ps;
	int rc;

	rc = ops_pve_storage(ctx, st->id, &ps);
	if (rc < 0)
		return rc;
	if (ps.path) {
		rc = util_strcpy(out->mountpath, ps.path, sizeof(out->mountpath), "mount path");
		if (rc < 0)
			goto out;
	}
	if (!ps.export_path || ps.export_path[0] != '/') {
		rc = err_set(POE_CONFIG, "storage '%s' has no NFS export: is it an NFS storage?",
			     st->id);
		goto out;
	}
	if (util_strlcpy(export, ps.export_path, sizeof(export)) >= sizeof(export)) {
		rc = err_set(POE_CONFIG, "export path '%s' of storage '%s' is too long",
			     ps.export_path, st->id);
		goto out;
	}
	/* strip a trailing '/' (PVE accepts "export /vol/") */
	while (strlen(export) > 1 && export[strlen(export) - 1] == '/')
		export[strlen(export) - 1] = '\0';
	if (cache_lookup(ctx, out, export)) {
		util_strlcpy(path, out->vol.nas_path, sizeof(path)); /* same size: cannot be cut */
	} else {
		util_strlcpy(path, export, sizeof(path)); /* same size */
		rc = find_by_export(out, ps.export_path, path);
		if (rc == 0)
			cache_store(ctx, out, export);
	}
	if (rc == 0 && strlen(export) > strlen(path)) {
		const char *sub = export + strlen(path);

		while (*sub == '/')
			sub++;
		snprintf(out->subdir, sizeof(out->subdir), "%s/", sub);
		if (!util_is_safe_relpath(sub))
			rc = err_set(POE_CONFIG, "unsafe export path '%s'", ps.export_path);
	}
out:
	pve_storage_release(&ps);
	return rc;
}

static int volume_resolve(struct ops_ctx *ctx, const struct config_storage *st,
			  struct ops_volume *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->st = st;
	if (st->protocol != STORAGE_NFS)
		return err_set(POE_CONFIG, "storage '%s' is an NVMe pool, not an NFS storage",
			       st->id);
	rc = ops_ontap(ctx, st, &out->oc);
	if (rc < 0)
		return rc;
	snprintf(out->mountpath, sizeof(out->mountpath), "%s/%s", ctx->cfg->paths.mnt, st->id);
	ontap_client_expect_parallel(out->oc, ctx->parallel_hint);
	if (st->volume)
		return resolve_by_name(ctx, st, out);
	return resolve_by_export(ctx, st, out);
}

/* Did ONTAP say that the volume itself is not there (not a file in it)? */
static bool volume_missing_answer(const struct ontap_error *e)
{
	/* 918235 volume not found, 918236 volume uuid and name of different volumes (§2.6) */
	if (!strcmp(e->code, "918235") || !strcmp(e->code, "918236"))
		return true;
	return e->http_status == 404 && strcmp(e->code, "6684674") != 0;
}

/* GET the cached volume by uuid: gone, or its uuid now names another volume? Then its
 * entry is dropped and ctx->vol_stale set. Other failures tell nothing: false. */
static bool confirm_stale(struct ops_ctx *ctx, const struct ops_volume *ov)
{
	struct volcache_key k;
	struct ontap_volume now;
	char cluster[300];
	int r = ontap_volume_get(ov->oc, ov->vol.uuid, &now, ctx->deadline);

	if (r != POE_NOTFOUND && (r != 0 || strcmp(now.name, ov->vol.name) == 0))
		return false;
	log_info("volume '%s' (%s) of storage '%s' is gone: looking it up again", ov->vol.name,
		 ov->vol.uuid, ov->st->id);
	cluster_of(ov->st, cluster, sizeof(cluster));
	k = (struct volcache_key){ cluster, ov->st->svm ? ov->st->svm : "", ov->cache_key };
	ops_volcache_drop(ctx->cfg, &k);
	ctx->vol_stale = true;
	return true;
}

bool ops_volume_stale(struct ops_ctx *ctx, const struct ops_volume *ov, int rc)
{
	struct err_saved saved;
	bool stale;

	if (rc >= 0 || !ov->cached || !volume_missing_answer(ontap_last_error(ov->oc)))
		return false;
	err_save(&saved);
	stale = confirm_stale(ctx, ov); /* make sure before anything is sent again */
	err_restore(&saved);
	return stale;
}

int ops_volume_check(struct ops_ctx *ctx, const struct ops_volume *ov, int width)
{
	if (!ov->cached)
		return 0;
	ontap_client_expect_parallel(ov->oc, width);
	if (confirm_stale(ctx, ov))
		return err_set(POE_NOTFOUND, "volume '%s' of storage '%s' is not there any more",
			       ov->vol.name, ov->st->id);
	err_clear();
	return 0;
}

bool ops_volume_retry(struct ops_ctx *ctx, int rc)
{
	if (rc >= 0 || !ctx->vol_stale)
		return false;
	ctx->vol_stale = false;
	ctx->fresh_volumes = true;
	free(ctx->vols);
	ctx->vols = NULL;
	ctx->nvols = 0;
	err_clear();
	return true;
}

int ops_vm_node(struct ops_ctx *ctx, const struct pve_vmconf *vm, char *node, size_t n)
{
	struct pve_client *pc;
	int rc;

	if (vm->node[0])
		return util_strcpy(node, vm->node, n, "node name");
	rc = ops_pve(ctx, &pc);
	if (rc < 0)
		return rc;
	return pve_vm_node(pc, vm->vmid, node, n, ctx->deadline);
}

static void on_signal(int sig)
{
	ops_interrupted = sig;
}

static const int run_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define NRUN_SIGNALS ((int)(sizeof(run_signals) / sizeof(run_signals[0])))

/*
 * Who installed on_signal(): a whole command run (ops_run_signals_catch()), or only a
 * quiesce (ops_signals_catch(), e.g. a watcher's scheduled snapshot). The handlers found
 * before are kept and put back, never SIG_DFL: the watcher has handlers of its own.
 */
static struct {
	bool run;
	bool quiesce;
	struct sigaction old[NRUN_SIGNALS];
} sigstate;

static void handlers_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	ops_interrupted = 0;
	for (int i = 0; i < NRUN_SIGNALS; i++)
		sigaction(run_signals[i], &sa, &sigstate.old[i]);
}

static void handlers_restore(void)
{
	for (int i = 0; i < NRUN_SIGNALS; i++)
		sigaction(run_signals[i], &sigstate.old[i], NULL);
}

/* Claim the handlers for one user (run or quiesce); installed by whoever comes first. */
static void handlers_claim(bool *mine, bool other)
{
	if (*mine)
		return;
	if (!other)
		handlers_install();
	*mine = true;
}

/* Give up one user's claim; the handlers go back when the other holds none. */
static bool handlers_unclaim(bool *mine, bool other)
{
	if (!*mine)
		return false;
	*mine = false;
	if (!other)
		handlers_restore();
	return true;
}

void ops_run_signals_catch(void)
{
	handlers_claim(&sigstate.run, sigstate.quiesce);
}

void ops_run_signals_release(void)
{
	handlers_unclaim(&sigstate.run, sigstate.quiesce);
}

int ops_interrupt_signal(void)
{
	return (int)ops_interrupted;
}

const char *ops_signal_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP";
	default:
		return "a signal";
	}
}

void ops_signals_catch(void)
{
	handlers_claim(&sigstate.quiesce, sigstate.run);
}

void ops_signals_restore(void)
{
	if (handlers_unclaim(&sigstate.quiesce, sigstate.run) && ops_interrupted)
		log_warn("interrupted: the guest was thawed/resumed before stopping");
}

int ops_queue(struct ops_ctx *ctx, int vmid, int action, const char *arg)
{
	struct queue_job job;

	memset(&job, 0, sizeof(job));
	job.vmid = vmid;
	job.action = (enum queue_action)action;
	if (arg && util_strcpy(job.arg, arg, sizeof(job.arg), "job argument") < 0)
		return POE_FAIL;
	if (ctx->dry_run)
		return buf_printf(ctx->dry_run, "QUEUE %s/%d-*.job {\"vmid\":%d,\"action\":\"%s\"%s%s%s}\n",
				  ctx->cfg->paths.queue, vmid, vmid, queue_action_name(job.action),
				  arg ? (action == QUEUE_NVME_ATTACH ? ",\"uuid\":\"" : ",\"volid\":\"") : "",
				  arg ? arg : "", arg ? "\"" : "");
	return queue_put(ctx->cfg->paths.queue, &job);
}
