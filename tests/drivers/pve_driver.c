/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test driver for lib/pve_api.c and lib/pve_local.c (HACKING.md "Test drivers"):
 *   pve_driver [--dry-run] [--timeout MS] CONFIG CMD ARGS...
 * performs one call, prints the result as JSON on stdout and exits with
 * err_exit_status(rc), err_msg() on stderr. The local reader commands (vmconf,
 * storagecfg) do not read CONFIG (pass "-").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "format/json.h"
#include "base/log.h"
#include "pve/pve.h"
#include "base/util.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: pve_driver [--dry-run] [--timeout MS] CONFIG CMD ARGS...\n"
		"  version | vm-node VMID | vm-status NODE VMID | suspend|resume|shutdown|start\n"
		"  NODE VMID | freeze|thaw|agent-status NODE VMID | storage-get ID |\n"
		"  storage-create ID key=value... | storage-delete ID | task-wait NODE UPID |\n"
		"  vmconf PVE_ETC VMID | storagecfg PVE_ETC MNT\n");
}

static int print_json(struct buf *b)
{
	if (!b->data)
		return POE_FAIL;
	fputs(b->data, stdout);
	fputc('\n', stdout);
	return 0;
}

static void jw_storage(struct json_writer *w, const char *key, const struct pve_storage *st)
{
	jw_object_begin(w, key);
	jw_string(w, "id", st->id);
	jw_string(w, "type", st->type);
	jw_string(w, "server", st->server);
	jw_string(w, "export", st->export_path);
	jw_string(w, "path", st->path);
	jw_string(w, "options", st->options);
	jw_string(w, "content", st->content);
	jw_string(w, "nodes", st->nodes);
	jw_bool(w, "disabled", st->disabled);
	jw_object_end(w);
}

static int cmd_vmconf(int argc, char **argv, struct buf *out)
{
	struct pve_vmconf *c = NULL;
	struct json_writer w;
	int64_t vmid;
	int rc;

	if (argc != 2 || util_parse_int(argv[1], 1, 999999999, &vmid) < 0)
		return err_set(POE_USAGE, "vmconf PVE_ETC VMID");
	rc = pve_vmconf_load(argv[0], (int)vmid, &c);
	if (rc < 0)
		return rc;
	jw_init(&w, out, 0);
	jw_object_begin(&w, NULL);
	jw_int(&w, "vmid", c->vmid);
	jw_string(&w, "path", c->path);
	jw_string(&w, "node", c->node);
	jw_string(&w, "name", c->name);
	jw_string(&w, "lock", c->lock);
	jw_bool(&w, "agent", c->agent);
	jw_string(&w, "hookscript", c->hookscript);
	jw_array_begin(&w, "drives");
	for (int i = 0; i < c->ndrives; i++) {
		const struct pve_drive *d = &c->drives[i];

		jw_object_begin(&w, NULL);
		jw_string(&w, "key", d->key);
		jw_string(&w, "volid", d->volid);
		jw_string(&w, "storage", d->storage);
		jw_string(&w, "volume", d->volume);
		jw_string(&w, "options", d->options);
		jw_bool(&w, "is_cdrom", d->is_cdrom);
		jw_bool(&w, "is_unused", d->is_unused);
		jw_bool(&w, "backup_off", d->backup_off);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_object_end(&w);
	rc = jw_finish(&w);
	pve_vmconf_free(c);
	return rc;
}

static int cmd_storagecfg(int argc, char **argv, struct buf *out)
{
	struct pve_storagecfg *s = NULL;
	struct json_writer w;
	int rc;

	if (argc != 2)
		return err_set(POE_USAGE, "storagecfg PVE_ETC MNT");
	rc = pve_storagecfg_load(argv[0], argv[1], &s);
	if (rc < 0)
		return rc;
	jw_init(&w, out, 0);
	jw_array_begin(&w, NULL);
	for (int i = 0; i < s->n; i++)
		jw_storage(&w, NULL, &s->st[i]);
	jw_array_end(&w);
	rc = jw_finish(&w);
	pve_storagecfg_free(s);
	return rc;
}

static int parse_vmid(const char *s, int *vmid)
{
	int64_t v;

	if (util_parse_int(s, 1, 999999999, &v) < 0)
		return err_set(POE_USAGE, "invalid VM id '%s'", s);
	*vmid = (int)v;
	return 0;
}

static int storage_set_kv(struct pve_storage *st, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char **dst = NULL;
	size_t kl;

	if (!eq)
		return err_set(POE_USAGE, "expected key=value, got '%s'", kv);
	kl = (size_t)(eq - kv);
	if (kl == 6 && !strncmp(kv, "server", kl))
		dst = &st->server;
	else if (kl == 6 && !strncmp(kv, "export", kl))
		dst = &st->export_path;
	else if (kl == 4 && !strncmp(kv, "path", kl))
		dst = &st->path;
	else if (kl == 7 && !strncmp(kv, "options", kl))
		dst = &st->options;
	else if (kl == 7 && !strncmp(kv, "content", kl))
		dst = &st->content;
	else if (kl == 5 && !strncmp(kv, "nodes", kl))
		dst = &st->nodes;
	else if (kl == 7 && !strncmp(kv, "disable", kl)) {
		st->disabled = !strcmp(eq + 1, "1");
		return 0;
	}
	if (!dst)
		return err_set(POE_USAGE, "unknown storage key in '%s'", kv);
	free(*dst);
	*dst = util_xstrdup(eq + 1);
	return 0;
}

/* The power and agent actions, by command name. */
typedef int (*vm_action_fn)(struct pve_client *pc, const char *node, int vmid, int64_t deadline);

static vm_action_fn vm_action(const char *cmd)
{
	static const struct {
		const char *name;
		vm_action_fn fn;
	} actions[] = {
		{ "suspend", pve_vm_suspend_todisk }, { "resume", pve_vm_resume },
		{ "shutdown", pve_vm_shutdown },      { "start", pve_vm_start },
		{ "freeze", pve_agent_freeze },       { "thaw", pve_agent_thaw },
	};

	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (!strcmp(cmd, actions[i].name))
			return actions[i].fn;
	return NULL;
}

/* storage-create <id> key=value...: an NFS storage */
static int storage_create(struct pve_client *pc, int argc, char **argv, int64_t deadline)
{
	struct pve_storage st = { 0 };
	int rc = 0;

	st.id = util_xstrdup(argv[0]);
	st.type = util_xstrdup("nfs");
	for (int i = 1; i < argc && rc == 0; i++)
		rc = storage_set_kv(&st, argv[i]);
	if (rc == 0)
		rc = pve_storage_create(pc, &st, deadline);
	pve_storage_release(&st);
	return rc;
}

/* {"ok": true} after a call that answers nothing else, else its error */
static int ok_or(struct json_writer *w, int rc)
{
	if (rc < 0)
		return rc;
	jw_object_begin(w, NULL);
	jw_bool(w, "ok", true);
	jw_object_end(w);
	return 0;
}

static int cmd_api(struct pve_client *pc, const char *cmd, int argc, char **argv,
		   int64_t deadline, struct buf *out)
{
	struct json_writer w;
	int vmid = 0;
	int rc = 0;

	jw_init(&w, out, 0);
	if (!strcmp(cmd, "version") && argc == 0) {
		char v[64];

		rc = pve_version(pc, v, sizeof(v), deadline);
		if (rc < 0)
			return rc;
		jw_object_begin(&w, NULL);
		jw_string(&w, "version", v);
		jw_object_end(&w);
	} else if (!strcmp(cmd, "vm-node") && argc == 1) {
		char node[64];

		if ((rc = parse_vmid(argv[0], &vmid)) < 0 ||
		    (rc = pve_vm_node(pc, vmid, node, sizeof(node), deadline)) < 0)
			return rc;
		jw_object_begin(&w, NULL);
		jw_string(&w, "node", node);
		jw_object_end(&w);
	} else if (!strcmp(cmd, "vm-status") && argc == 2) {
		struct pve_vm_status st;

		if ((rc = parse_vmid(argv[1], &vmid)) < 0 ||
		    (rc = pve_vm_status(pc, argv[0], vmid, &st, deadline)) < 0)
			return rc;
		jw_object_begin(&w, NULL);
		jw_string(&w, "status", st.status);
		jw_string(&w, "qmpstatus", st.qmpstatus);
		jw_string(&w, "lock", st.lock);
		jw_bool(&w, "agent", st.agent);
		jw_object_end(&w);
	} else if (argc == 2 && vm_action(cmd)) {
		if ((rc = parse_vmid(argv[1], &vmid)) < 0 ||
		    (rc = ok_or(&w, vm_action(cmd)(pc, argv[0], vmid, deadline))) < 0)
			return rc;
	} else if (!strcmp(cmd, "agent-status") && argc == 2) {
		char status[32];

		if ((rc = parse_vmid(argv[1], &vmid)) < 0 ||
		    (rc = pve_agent_status(pc, argv[0], vmid, status, sizeof(status), deadline)) <
			    0)
			return rc;
		jw_object_begin(&w, NULL);
		jw_string(&w, "status", status);
		jw_object_end(&w);
	} else if (!strcmp(cmd, "storage-get") && argc == 1) {
		struct pve_storage st;

		rc = pve_storage_get(pc, argv[0], &st, deadline);
		if (rc < 0)
			return rc;
		jw_storage(&w, NULL, &st);
		pve_storage_release(&st);
	} else if (!strcmp(cmd, "storage-create") && argc >= 1) {
		if ((rc = ok_or(&w, storage_create(pc, argc, argv, deadline))) < 0)
			return rc;
	} else if (!strcmp(cmd, "storage-delete") && argc == 1) {
		if ((rc = ok_or(&w, pve_storage_delete(pc, argv[0], deadline))) < 0)
			return rc;
	} else if (!strcmp(cmd, "task-wait") && argc == 2) {
		if ((rc = ok_or(&w, pve_task_wait(pc, argv[0], argv[1], deadline))) < 0)
			return rc;
	} else {
		usage();
		return err_set(POE_USAGE, "unknown command or wrong arguments: '%s'", cmd);
	}
	return jw_finish(&w);
}

int main(int argc, char **argv)
{
	struct buf out = BUF_INIT(16 << 20);
	struct buf dry = BUF_INIT(1 << 20);
	struct config *cfg = NULL;
	struct pve_client *pc = NULL;
	bool dry_run = false;
	int64_t timeout_ms = 30000;
	int64_t deadline;
	const char *cmd;
	int i = 1;
	int rc;

	log_init("pve_driver");
	if (getenv("PVE_DRIVER_DEBUG"))
		log_set_level(LOG_LVL_DEBUG);
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--dry-run")) {
			dry_run = true;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (util_parse_int(argv[++i], 1, 3600000, &timeout_ms) < 0) {
				rc = err_set(POE_USAGE, "invalid --timeout '%s'", argv[i]);
				goto out;
			}
		} else {
			usage();
			rc = err_set(POE_USAGE, "unknown option '%s'", argv[i]);
			goto out;
		}
	}
	if (argc - i < 2) {
		usage();
		rc = err_set(POE_USAGE, "missing arguments");
		goto out;
	}
	cmd = argv[i + 1];
	deadline = util_now_ms() + timeout_ms;

	if (!strcmp(cmd, "vmconf")) {
		rc = cmd_vmconf(argc - i - 2, argv + i + 2, &out);
	} else if (!strcmp(cmd, "storagecfg")) {
		rc = cmd_storagecfg(argc - i - 2, argv + i + 2, &out);
	} else {
		rc = config_load(argv[i], &cfg);
		if (rc < 0)
			goto out;
		pc = pve_client_new(&cfg->pve);
		if (!pc) {
			rc = err_code() < 0 ? err_code() : POE_FAIL;
			goto out;
		}
		if (dry_run)
			pve_client_set_dry_run(pc, &dry);
		rc = cmd_api(pc, cmd, argc - i - 2, argv + i + 2, deadline, &out);
		if (rc >= 0 && dry_run) {
			struct json_writer w;

			/* {"result": <out>, "dry_run": "<log>"} */
			struct buf wrapped = BUF_INIT(32 << 20);

			jw_init(&w, &wrapped, 0);
			jw_object_begin(&w, NULL);
			jw_string(&w, "dry_run", buf_cstr(&dry));
			jw_string(&w, "result", buf_cstr(&out));
			jw_object_end(&w);
			rc = jw_finish(&w);
			buf_release(&out);
			out = wrapped;
		}
	}
	if (rc >= 0)
		rc = print_json(&out);
out:
	if (rc < 0)
		fprintf(stderr, "pve_driver: error: %s\n", err_msg());
	pve_client_free(pc);
	config_free(cfg);
	buf_release(&out);
	buf_release(&dry);
	return err_exit_status(rc);
}
