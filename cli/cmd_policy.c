// SPDX-License-Identifier: GPL-2.0-or-later
/* pve-ontap policy check|show: validate snapshot policies, print a VM's effective policy. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "format/json.h"
#include "policy.h"
#include "base/util.h"

/* Error lines of one file; a file can hold at most 64 KiB of mistakes, so this is ample. */
#define POLICY_ERRORS_MAX (1 << 20)

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The hook reads only "<vmid>.yaml" and "default.yaml" (DESIGN.md "Policies"). */
static bool name_is_read_by_hook(const char *name)
{
	size_t n = strlen(name);
	size_t i;

	if (!strcmp(name, "default.yaml"))
		return true;
	for (i = 0; i + 5 < n; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return i > 0 && i + 5 == n && name[0] != '0';
}

/*
 * The *.yaml files of dir, sorted, as newly allocated paths in *out (caller frees each and
 * the array). A missing directory is an empty list.
 */
static int policy_dir_list(const char *dir, char ***out, int *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	int cnt = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_set(POE_CONFIG, "cannot read policy directory '%s': %s", dir,
			       strerror(errno));
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".yaml"))
			continue;
		if (cnt + 1 >= cap) {
			cap = cap ? cap * 2 : 16;
			v = util_xrealloc(v, (size_t)cap * sizeof(*v));
		}
		v[cnt++] = util_xasprintf("%s/%s", dir, de->d_name);
	}
	closedir(d);
	if (cnt)
		qsort(v, (size_t)cnt, sizeof(*v), cmp_str);
	*out = v;
	*n = cnt;
	return 0;
}

/* Check one file; errors go to stderr (text) or into w (json). Returns 0 or POE_CONFIG. */
static int check_one(struct cli_ctx *cc, const char *path, bool from_dir, struct json_writer *w)
{
	struct buf errors = BUF_INIT(POLICY_ERRORS_MAX);
	struct policy *p = NULL;
	const char *base = strrchr(path, '/');
	bool ignored = from_dir && !name_is_read_by_hook(base ? base + 1 : path);
	int rc;

	rc = policy_load_file(path, &p, &errors);
	if (rc < 0 && !buf_cstr(&errors)[0])
		buf_note(&errors, "%s\n", err_msg());
	if (cc->json) {
		const char *e = buf_cstr(&errors);

		jw_object_begin(w, NULL);
		jw_string(w, "file", path);
		jw_bool(w, "ok", rc == 0);
		jw_bool(w, "read_by_hook", !ignored);
		jw_array_begin(w, "errors");
		while (*e) {
			const char *nl = strchr(e, '\n');
			size_t len = nl ? (size_t)(nl - e) : strlen(e);
			char *line = util_xmalloc(len + 1);

			memcpy(line, e, len);
			line[len] = '\0';
			jw_string(w, NULL, line);
			free(line);
			e += len + (nl ? 1 : 0);
		}
		jw_array_end(w);
		jw_object_end(w);
	} else if (rc == 0) {
		printf("%s: ok\n", path);
	} else {
		fflush(stdout);
		fputs(buf_cstr(&errors), stderr);
	}
	if (ignored && !cc->json)
		fprintf(stderr, "%s: warning: the hook reads only <vmid>.yaml and default.yaml\n",
			path);
	policy_free(p);
	buf_release(&errors);
	return rc < 0 ? POE_CONFIG : 0;
}

static int policy_check(struct cli_ctx *cc, int argc, char **argv)
{
	const struct cli_opt opts[] = { { .name = NULL } };
	struct buf out = BUF_INIT(64 << 20);
	struct json_writer w = { 0 };
	char **pos = NULL, **files = NULL;
	int npos = 0, nfiles = 0, nbad = 0, total, rc;
	bool from_dir;

	rc = cli_parse("policy check", argc, argv, opts,
		       "Validate policy files: every error is printed as 'file:line:col: message'\n"
		       "and the exit status is 3 if any file has one. Without FILE, checks every\n"
		       "*.yaml in the policy directory (paths.policies of the configuration).",
		       &pos, &npos);
	if (rc)
		goto out;
	from_dir = npos == 0;
	if (from_dir) {
		rc = cli_config(cc);
		if (rc < 0)
			goto out;
		rc = policy_dir_list(cc->cfg->paths.policies, &files, &nfiles);
		if (rc < 0)
			goto out;
		if (!nfiles && !cc->json)
			printf("%s: no policy files (the hook does nothing)\n",
			       cc->cfg->paths.policies);
	}
	total = from_dir ? nfiles : npos;
	if (cc->json) {
		jw_init(&w, &out, 1);
		jw_object_begin(&w, NULL);
		jw_array_begin(&w, "files");
	}
	for (int i = 0; i < total; i++)
		if (check_one(cc, from_dir ? files[i] : pos[i], from_dir, &w) < 0)
			nbad++;
	if (cc->json) {
		jw_array_end(&w);
		jw_bool(&w, "ok", nbad == 0);
		jw_object_end(&w);
		rc = jw_finish(&w);
		if (rc < 0)
			goto out;
		printf("%s\n", buf_cstr(&out));
	}
	rc = 0;
	if (nbad)
		rc = err_set(POE_CONFIG, "%d of %d policy file%s invalid", nbad, total,
			     total == 1 ? " is" : "s are");
out:
	for (int i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	free(pos);
	buf_release(&out);
	return rc;
}

static int policy_show(struct cli_ctx *cc, int argc, char **argv)
{
	long long vmid = 0;
	const struct cli_opt opts[] = {
		{ "vm", CLI_OPT_INT, &vmid, true, "ID", "the VM" },
		{ .name = NULL },
	};
	struct buf errors = BUF_INIT(POLICY_ERRORS_MAX);
	struct buf out = BUF_INIT(1 << 20);
	struct policy *p = NULL;
	struct json_writer w = { 0 };
	const char *dir;
	const char *source = NULL;
	char path[4096];
	int rc;

	rc = cli_parse("policy show", argc, argv, opts,
		       "Print the policy the hook applies to a VM, with every default filled in, and\n"
		       "the file it comes from (<vmid>.yaml, else default.yaml).",
		       NULL, NULL);
	if (rc)
		goto out;
	if (vmid < 100 || vmid > 999999999) {
		rc = cli_usage_error("policy show", "'%lld' is not a VM id (100 to 999999999)",
				     vmid);
		goto out;
	}
	dir = cc->cfg->paths.policies;
	rc = policy_find(dir, (int)vmid, path, sizeof(path));
	if (rc < 0 && rc != POE_NOTFOUND)
		goto out;
	if (rc == 0) {
		const char *base = strrchr(path, '/');

		source = base && !strcmp(base + 1, "default.yaml") ? "default" : "vm";
		rc = policy_load_file(path, &p, &errors);
		if (rc < 0) {
			fputs(buf_cstr(&errors), stderr);
			goto out;
		}
	}
	if (cc->json) {
		jw_init(&w, &out, 1);
		jw_object_begin(&w, NULL);
		jw_int(&w, "vmid", vmid);
		jw_string(&w, "file", p ? path : NULL);
		jw_string(&w, "source", source);
		if (p)
			policy_write_json(p, (int64_t)time(NULL), &w, "policy");
		else
			jw_null(&w, "policy");
		jw_object_end(&w);
		rc = jw_finish(&w);
		if (rc < 0)
			goto out;
		printf("%s\n", buf_cstr(&out));
	} else if (!p) {
		printf("# VM %lld: no policy (neither %s/%lld.yaml nor %s/default.yaml exists);\n"
		       "# the hook does nothing\n", vmid, dir, vmid, dir);
	} else {
		rc = policy_write_yaml(p, (int64_t)time(NULL), &out);
		if (rc < 0)
			goto out;
		printf("# VM %lld: %s (%s), defaults filled in\n%s", vmid, path,
		       !strcmp(source, "vm") ? "its own policy" : "the default policy",
		       buf_cstr(&out));
	}
	rc = 0;
out:
	policy_free(p);
	buf_release(&errors);
	buf_release(&out);
	return rc;
}

static const struct cli_verb policy_verbs[] = {
	{ "check", policy_check, 0, "[FILE...]",
	  "Validate policy files (default: every *.yaml in the policy directory); all errors\n"
	  "are listed as file:line:col: message, exit status 3 if there is any." },
	{ "show", policy_show, CLI_NEEDS_CONFIG, "--vm ID",
	  "Print the effective policy of a VM and the file it comes from." },
	{ .name = NULL },
};

const struct cli_object cli_obj_policy = {
	.name = "policy",
	.summary = "snapshot policies: validate files, show a VM's effective policy",
	.verbs = policy_verbs,
};
