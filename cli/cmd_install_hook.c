/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "pve-ontap install-hook --vm ID [--snippets STORAGE]": copy this binary into the snippets
 * directory of a directory-style PVE storage and make it the VM's hookscript with
 * "qm set ID --hookscript STORAGE:snippets/pve-ontap" (reference/pve.md §1.5).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "base/exec.h"
#include "format/json.h"
#include "base/log.h"
#include "pve/pve.h"
#include "base/util.h"

#define HOOK_NAME "pve-ontap"
#define QM_TIMEOUT_MS 60000
/* A pve-ontap binary is a few hundred KiB; anything this big is not what we meant to copy. */
#define HOOK_MAX_BYTES ((off_t)256 << 20)

static const char install_hook_help[] =
	"Copy the running pve-ontap binary into the snippets directory of a directory-style PVE\n"
	"storage (default 'local', i.e. /var/lib/vz/snippets/pve-ontap; the directory is the\n"
	"storage's path from storage.cfg plus /snippets) and run\n"
	"  qm set ID --hookscript STORAGE:snippets/pve-ontap\n"
	"The copy is atomic (temporary file in the same directory, fsync, chmod 0755, rename),\n"
	"so a VM starting meanwhile runs either the old or the new binary.\n"
	"Only root@pam may set a hookscript: run this as root on the node that holds the VM\n"
	"(an API token, even root@pam's, is refused by PVE). PVE checks at every start that the\n"
	"file exists and is executable on the node where the VM starts: in a cluster, use a\n"
	"shared storage with the snippets content type, or run install-hook (or install the\n"
	"package) on every node the VM may run or migrate to.";

/* Directory-style storage types whose path holds a snippets/ directory (pve.md §1.5, §6). */
static bool type_has_path(const char *type)
{
	static const char *const types[] = { "dir", "nfs", "cifs", "cephfs", "glusterfs", "btrfs" };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (type && !strcmp(type, types[i]))
			return true;
	return false;
}

/* Storage types that every node sees the same (PVE marks a "dir" storage shared by hand). */
static bool type_is_shared(const char *type)
{
	return type && (!strcmp(type, "nfs") || !strcmp(type, "cifs") ||
			!strcmp(type, "cephfs") || !strcmp(type, "glusterfs"));
}

/*
 * The snippets directory of storage id: <path>/snippets. For "local" without an entry or a
 * path, paths.snippets (default /var/lib/vz/snippets), as PVE's built-in default.
 * Returns a newly allocated path in *dir (caller frees); *shared tells whether other nodes
 * see the same directory.
 */
static int snippets_dir(const struct config *cfg, const char *id, char **dir, bool *shared)
{
	struct pve_storagecfg *sc = NULL;
	const struct pve_storage *st;
	int rc;

	*dir = NULL;
	*shared = false;
	rc = pve_storagecfg_load(cfg->paths.pve_etc, cfg->paths.mnt, &sc);
	if (rc < 0 && rc != POE_NOTFOUND)
		return err_prefix(rc, "cannot read the PVE storage configuration");
	st = sc ? pve_storagecfg_find(sc, id) : NULL;
	if (!st) {
		if (!strcmp(id, "local")) {
			*dir = util_xstrdup(cfg->paths.snippets);
			rc = 0;
		} else {
			rc = err_set(POE_NOTFOUND, "storage '%s' is not in %s/storage.cfg", id,
				     cfg->paths.pve_etc);
		}
		goto out;
	}
	if (!type_has_path(st->type)) {
		rc = err_set(POE_USAGE,
			     "storage '%s' is of type '%s': a hookscript must live on a directory-"
			     "style storage (dir, nfs, cifs, cephfs)", id, st->type ? st->type : "?");
		goto out;
	}
	if (st->disabled)
		log_warn("storage '%s' is disabled; PVE still runs the hookscript from it", id);
	if (st->path && st->path[0])
		*dir = util_xasprintf("%s/snippets", st->path);
	else if (!strcmp(id, "local"))
		*dir = util_xstrdup(cfg->paths.snippets);
	else {
		rc = err_set(POE_CONFIG, "storage '%s' has no path in storage.cfg", id);
		goto out;
	}
	*shared = type_is_shared(st->type);
	if (st->content && !strstr(st->content, "snippets"))
		log_info("storage '%s' has no 'snippets' content type: the hookscript works, but "
			 "the GUI will not list it (pvesm set %s --content %s,snippets)",
			 id, id, st->content);
	rc = 0;
out:
	pve_storagecfg_free(sc);
	return rc;
}

/* Copy src_fd to a new executable file dst atomically (same-directory temp, fsync, rename). */
static int install_file(int src_fd, const char *dir, const char *dst, off_t *size)
{
	char *tmp = util_xasprintf("%s/." HOOK_NAME ".XXXXXX", dir);
	char buf[8192]; /* frames stay under -Wstack-usage (Makefile) */
	off_t total = 0;
	int fd = -1, dfd = -1, rc = POE_FAIL;

	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = err_set(POE_FAIL, "cannot create a file in '%s': %s", dir, strerror(errno));
		free(tmp);
		return rc;
	}
	for (;;) {
		ssize_t n = read(src_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(POE_FAIL, "cannot read the running binary: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		total += n;
		if (total > HOOK_MAX_BYTES) {
			rc = err_set(POE_FAIL, "the running binary is larger than %lld bytes",
				     (long long)HOOK_MAX_BYTES);
			goto out;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = err_set(POE_FAIL, "cannot write '%s': %s", tmp,
					     strerror(errno));
				goto out;
			}
			off += w;
		}
	}
	/* PVE checks "exists and is executable" before every hook run (pve.md §1.1). */
	if (fchmod(fd, 0755) < 0 || fsync(fd) < 0) {
		rc = err_set(POE_FAIL, "cannot finish '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = err_set(POE_FAIL, "cannot finish '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) < 0) {
		rc = err_set(POE_FAIL, "cannot rename '%s' to '%s': %s", tmp, dst,
			     strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	*size = total;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	return rc;
}

/* First line of qm's stderr (or stdout), for the error message. */
static void first_line(const struct exec_result *r, char *out, size_t n)
{
	const char *s = buf_cstr(&r->err);
	size_t len;

	if (!s[0])
		s = buf_cstr(&r->out);
	while (*s == ' ' || *s == '\n')
		s++;
	len = strcspn(s, "\n");
	if (len >= n)
		len = n - 1;
	memcpy(out, s, len);
	out[len] = '\0';
}

static int run_qm_set(const struct config *cfg, int vmid, const char *volid)
{
	char vmid_s[16], detail[512];
	const char *argv[] = { cfg->paths.qm, "set", vmid_s, "--hookscript", volid, NULL };
	struct exec_result r;
	struct buf cmd = BUF_INIT(4096);
	int rc;

	snprintf(vmid_s, sizeof(vmid_s), "%d", vmid);
	exec_result_init(&r);
	exec_format_argv(argv, &cmd);
	log_debug("running %s", buf_cstr(&cmd));
	rc = exec_run(argv, util_now_ms() + QM_TIMEOUT_MS, &r);
	if (rc < 0) {
		rc = err_prefix(rc, "cannot run '%s'", buf_cstr(&cmd));
		goto out;
	}
	if (r.exit_code != 0) {
		first_line(&r, detail, sizeof(detail));
		rc = err_set(POE_FAIL, "'%s' failed (exit status %d): %s%s", buf_cstr(&cmd),
			     r.exit_code, detail,
			     strstr(detail, "only root") ?
				     " (only root@pam may set a hookscript: run it as root)" : "");
		goto out;
	}
	rc = 0;
out:
	buf_release(&cmd);
	exec_result_release(&r);
	return rc;
}

/* What install-hook did, as a person or a script (--json) reads it. */
static void print_result(const struct cli_ctx *ctx, long long vmid, const char *dst,
			 const char *volid, const char *storage, bool shared, off_t size)
{
	if (ctx->json) {
		struct buf out = BUF_INIT(1 << 16);
		struct json_writer w;

		jw_init(&w, &out, 1);
		jw_object_begin(&w, NULL);
		jw_int(&w, "vmid", vmid);
		jw_string(&w, "path", dst);
		jw_string(&w, "hookscript", volid);
		jw_bool(&w, "shared", shared);
		jw_object_end(&w);
		if (jw_finish(&w) == 0)
			printf("%s\n", buf_cstr(&out));
		buf_release(&out);
	} else {
		printf("installed %s (%lld bytes, mode 0755)\n", dst, (long long)size);
		printf("set hookscript of VM %lld: qm set %lld --hookscript %s\n", vmid, vmid,
		       volid);
		printf("note: only root@pam may set a hookscript (as root with qm, not with an "
		       "API token)\n");
		if (shared)
			printf("note: storage '%s' is shared: every node runs this copy\n", storage);
		else
			printf("note: storage '%s' is local to this node: in a cluster, run "
			       "install-hook (or install the package) on every node VM %lld may "
			       "start or migrate to, or use a shared storage with --snippets\n",
			       storage, vmid);
	}
}

/* The VM's config, which must be on this node: qm only changes local VMs. */
static int load_local_vm(const struct config *cfg, long long vmid, struct pve_vmconf **vm)
{
	int rc = pve_vmconf_load(cfg->paths.pve_etc, (int)vmid, vm);

	if (rc == POE_NOTFOUND)
		return err_set(POE_NOTFOUND, "VM %lld does not exist (no %s/qemu-server/%lld.conf)",
			       vmid, cfg->paths.pve_etc, vmid);
	if (rc < 0)
		return rc;
	if (!pve_vm_is_local(cfg->paths.pve_etc, (int)vmid))
		return err_set(POE_FAIL, "VM %lld is on node '%s', not on this one: run install-hook "
			       "there ('qm set' changes only local VMs)", vmid, (*vm)->node);
	return 0;
}

/* Copy the running binary to dst in dir (created); its size goes to *size. */
static int copy_self(const char *dir, const char *dst, off_t *size)
{
	int src, rc = util_mkdir_p(dir, 0755);

	if (rc < 0)
		return err_prefix(rc, "cannot create '%s'", dir);
	src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return err_set(POE_FAIL, "cannot open the running binary (/proc/self/exe): %s",
			       strerror(errno));
	rc = install_file(src, dir, dst, size);
	close(src);
	return rc;
}

static int cmd_install_hook(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *storage = "local";
	long long vmid = 0;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM whose hookscript to set" },
		{ "snippets", CLI_OPT_STR, &storage, false, "STORAGE",
		  "directory-style storage for the binary (default local)" },
		{ .name = NULL },
	};
	const struct config *cfg;
	struct pve_vmconf *vm = NULL;
	char *dir = NULL, *dst = NULL, *volid = NULL;
	bool shared = false;
	off_t size = 0;
	int rc;

	rc = cli_parse("install-hook", argc, argv, opts, install_hook_help, NULL, NULL);
	if (rc)
		return rc;
	rc = cli_config(ctx);
	if (rc < 0)
		return rc;
	cfg = ctx->cfg;
	if (vmid < 100 || vmid > 999999999)
		return cli_usage_error("install-hook", "'%lld' is not a VM id (100 to 999999999)",
				       vmid);
	if (!util_is_safe_name(storage) || strchr(storage, ':'))
		return cli_usage_error("install-hook", "bad storage id '%s'", storage);

	/* qm only changes VMs of the node it runs on: say so before copying anything. */
	rc = load_local_vm(cfg, vmid, &vm);
	if (rc < 0)
		goto out;

	rc = snippets_dir(cfg, storage, &dir, &shared);
	if (rc < 0)
		goto out;
	dst = util_xasprintf("%s/" HOOK_NAME, dir);
	volid = util_xasprintf("%s:snippets/" HOOK_NAME, storage);
	if (vm->hookscript && strcmp(vm->hookscript, volid))
		log_warn("VM %lld has hookscript '%s'; it is replaced by '%s'", vmid, vm->hookscript,
			 volid);

	if (ctx->dry_run && ctx->json) {
		char *log = util_xasprintf("COPY /proc/self/exe %s 0755\nEXEC %s set %lld "
					   "--hookscript %s\n", dst, cfg->paths.qm, vmid, volid);

		cli_dry_run_print(ctx, log);
		free(log);
		rc = 0;
		goto out;
	}
	if (ctx->dry_run) {
		printf("would copy /proc/self/exe to %s (mode 0755)\n", dst);
		printf("would run: %s set %lld --hookscript %s\n", cfg->paths.qm, vmid, volid);
		rc = 0;
		goto out;
	}

	rc = copy_self(dir, dst, &size);
	if (rc < 0)
		goto out;
	rc = run_qm_set(cfg, (int)vmid, volid);
	if (rc < 0) {
		rc = err_prefix(rc, "installed '%s', but could not set it as hookscript of VM "
				"%lld", dst, vmid);
		goto out;
	}

	print_result(ctx, vmid, dst, volid, storage, shared, size);
	rc = 0;
out:
	pve_vmconf_free(vm);
	free(dir);
	free(dst);
	free(volid);
	return rc;
}

const struct cli_object cli_obj_install_hook = {
	.name = "install-hook",
	.summary = "copy pve-ontap into a snippets directory and set it as a VM's hookscript",
	.verbs = NULL,
	.fn = cmd_install_hook,
	.flags = CLI_NEEDS_ROOT | CLI_NEEDS_CONFIG,
	.usage = "--vm ID [--snippets STORAGE]",
	.help = install_hook_help,
};
