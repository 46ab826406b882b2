/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the policy loader (policies/policy.c, DESIGN.md "Policies (contract)"). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "format/json.h"
#include "policy.h"
#include "sched/calendar.h"
#include "base/util.h"

/* Parse text that must fail; returns the error lines (caller frees). */
static char *errors_of(const char *text)
{
	struct buf errors = BUF_INIT(1 << 20);
	struct policy *p = (struct policy *)1;
	int rc = policy_parse("p.yaml", text, strlen(text), &p, &errors);

	assert_int_equal(rc, POE_CONFIG);
	assert_null(p);
	/* err_msg() holds the first error, without its newline */
	assert_true(strncmp(buf_cstr(&errors), err_msg(), strlen(err_msg())) == 0);
	return buf_detach(&errors);
}

static void assert_errors(const char *text, const char *expected)
{
	char *got = errors_of(text);

	assert_string_equal(got, expected);
	free(got);
}

static struct policy *parse_ok(const char *text)
{
	struct buf errors = BUF_INIT(1 << 20);
	struct policy *p = NULL;
	int rc = policy_parse("p.yaml", text, strlen(text), &p, &errors);

	if (rc)
		fprintf(stderr, "unexpected errors:\n%s", buf_cstr(&errors));
	assert_int_equal(rc, 0);
	assert_non_null(p);
	assert_string_equal(buf_cstr(&errors), "");
	buf_release(&errors);
	return p;
}

static const char full[] =
	"# the example of DESIGN.md\n"
	"snapshots:\n"
	"  - on: [pre-stop]\n"
	"    label: daily\n"
	"    keep: 7\n"
	"    min_interval: 12h\n"
	"    quiesce: freeze\n"
	"  - on: [post-start, pre-start]\n"
	"    label: boot\n"
	"    keep: 3\n"
	"disks:\n"
	"  include: [scsi0, virtio1]\n"
	"  exclude: [efidisk0]\n"
	"register: false\n"
	"on_error: block\n"
	"timeout: 2m\n"
	"skip_on_migration: no\n";

static void test_full_valid_file(void **state)
{
	struct policy *p;
	int idx[POLICY_MAX_RULES];

	(void)state;
	p = parse_ok(full);
	assert_string_equal(p->file, "p.yaml");
	assert_int_equal(p->nrules, 2);
	assert_int_equal(p->rules[0].phases, POLICY_PRE_STOP);
	assert_string_equal(p->rules[0].label, "daily");
	assert_int_equal(p->rules[0].keep, 7);
	assert_int_equal(p->rules[0].min_interval_s, 12 * 3600);
	assert_int_equal(p->rules[0].quiesce, POLICY_QUIESCE_FREEZE);
	assert_int_equal(p->rules[1].phases, POLICY_POST_START | POLICY_PRE_START);
	assert_string_equal(p->rules[1].label, "boot");
	assert_int_equal(p->rules[1].keep, 3);
	assert_int_equal(p->rules[1].min_interval_s, 0);
	assert_int_equal(p->rules[1].quiesce, POLICY_QUIESCE_NONE);
	assert_string_equal(p->include[0], "scsi0");
	assert_string_equal(p->include[1], "virtio1");
	assert_null(p->include[2]);
	assert_string_equal(p->exclude[0], "efidisk0");
	assert_null(p->exclude[1]);
	assert_false(p->register_clones);
	assert_int_equal(p->on_error, POLICY_ON_ERROR_BLOCK);
	assert_true(policy_blocks_start(p));
	assert_int_equal(p->timeout_s, 120);
	assert_false(p->skip_on_migration);

	assert_int_equal(policy_rules_for_phase(p, POLICY_PRE_STOP, idx), 1);
	assert_int_equal(idx[0], 0);
	assert_int_equal(policy_rules_for_phase(p, POLICY_PRE_START, idx), 1);
	assert_int_equal(idx[0], 1);
	assert_int_equal(policy_rules_for_phase(p, POLICY_POST_STOP, idx), 0);
	policy_free(p);
}

static void test_defaults(void **state)
{
	struct policy *p;

	(void)state;
	p = parse_ok("snapshots:\n  - on: [pre-stop]\n    label: daily\n");
	assert_int_equal(p->nrules, 1);
	assert_int_equal(p->rules[0].keep, POLICY_KEEP_DEFAULT);
	assert_int_equal(p->rules[0].min_interval_s, 0);
	assert_int_equal(p->rules[0].quiesce, POLICY_QUIESCE_NONE);
	assert_null(p->include);
	assert_null(p->exclude);
	assert_true(p->register_clones);
	assert_int_equal(p->on_error, POLICY_ON_ERROR_WARN);
	assert_false(policy_blocks_start(p));
	assert_int_equal(p->timeout_s, 30);
	assert_true(p->skip_on_migration);
	policy_free(p);

	/* an empty file, a comment, a null document and null values: nothing to do */
	p = parse_ok("");
	assert_int_equal(p->nrules, 0);
	policy_free(p);
	p = parse_ok("# nothing yet\n");
	policy_free(p);
	p = parse_ok("~\n");
	policy_free(p);
	p = parse_ok("snapshots:\ntimeout: ~\ndisks: null\n");
	assert_int_equal(p->nrules, 0);
	assert_int_equal(p->timeout_s, 30);
	policy_free(p);
	/* plain numbers are seconds; quoted scalars are fine */
	p = parse_ok("timeout: 45\nregister: 'off'\non_error: \"warn\"\n");
	assert_int_equal(p->timeout_s, 45);
	assert_false(p->register_clones);
	policy_free(p);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	assert_errors("snapshots:\n"
		      "  - on: [pre-stop]\n"
		      "    label: daily\n"
		      "    kep: 7\n"
		      "bogus: 1\n"
		      "disks:\n"
		      "  inlcude: [scsi0]\n",
		      "p.yaml:4:5: unknown key 'kep' in a snapshot rule (expected one of: on, "
		      "schedule, label, keep, min_interval, quiesce, register)\n"
		      "p.yaml:5:1: unknown key 'bogus' (expected one of: snapshots, disks, "
		      "register, on_error, timeout, skip_on_migration)\n"
		      "p.yaml:7:3: unknown key 'inlcude' in 'disks' (expected one of: include, "
		      "exclude)\n");
}

static void test_wrong_types(void **state)
{
	(void)state;
	assert_errors("snapshots:\n"
		      "  on: [pre-stop]\n"
		      "disks: [scsi0]\n"
		      "register: [true]\n"
		      "timeout: {a: 1}\n",
		      "p.yaml:2:3: 'snapshots' must be a sequence, not a mapping\n"
		      "p.yaml:3:8: 'disks' must be a mapping, not a sequence\n"
		      "p.yaml:4:11: 'register' must be a scalar, not a sequence\n"
		      "p.yaml:5:10: 'timeout' must be a scalar, not a mapping\n");
	assert_errors("- a\n- b\n", "p.yaml:1:1: a policy must be a mapping, not a sequence\n");
	assert_errors("snapshots:\n"
		      "  - pre-stop\n"
		      "  - on: pre-stop\n"
		      "    label: [x]\n"
		      "    keep: {n: 1}\n",
		      "p.yaml:2:5: a snapshot rule must be a mapping, not a scalar\n"
		      "p.yaml:3:9: 'on' must be a sequence, not a scalar\n"
		      "p.yaml:4:12: 'label' must be a scalar, not a sequence\n"
		      "p.yaml:5:11: 'keep' must be a scalar, not a mapping\n");
	/* required keys, reported at the rule; a null value is no value */
	assert_errors("snapshots:\n"
		      "  - keep: 3\n"
		      "  - on:\n"
		      "    label: x\n",
		      "p.yaml:2:5: snapshot rule without 'on' or 'schedule' (when it fires)\n"
		      "p.yaml:2:5: snapshot rule without 'label'\n"
		      "p.yaml:3:5: snapshot rule without 'on' or 'schedule' (when it fires)\n");
	assert_errors("{[a]: 1}\n", "p.yaml:1:2: a key must be a scalar, not a sequence\n");
}

static void test_bad_values(void **state)
{
	(void)state;
	assert_errors("snapshots:\n"
		      "  - on: [pre-stop]\n"
		      "    label: daily\n"
		      "    keep: 0\n"
		      "    min_interval: soon\n"
		      "    quiesce: suspend\n"
		      "  - on: [post-stop]\n"
		      "    label: other\n"
		      "    keep: many\n"
		      "    min_interval: -5m\n"
		      "register: maybe\n"
		      "on_error: fail\n"
		      "timeout: 5x\n"
		      "skip_on_migration: 1\n",
		      "p.yaml:4:11: 'keep' must be an integer from 1 to 1000, not '0'\n"
		      "p.yaml:5:19: bad duration 'soon' for 'min_interval' (a number with s, m, h "
		      "or d, e.g. 12h)\n"
		      "p.yaml:6:14: 'quiesce' must be none or freeze, not 'suspend'\n"
		      "p.yaml:9:11: 'keep' must be an integer from 1 to 1000, not 'many'\n"
		      "p.yaml:10:19: bad duration '-5m' for 'min_interval' (a number with s, m, h "
		      "or d, e.g. 12h)\n"
		      "p.yaml:11:11: 'register' must be true or false, not 'maybe'\n"
		      "p.yaml:12:11: 'on_error' must be warn or block, not 'fail'\n"
		      "p.yaml:13:10: bad duration '5x' for 'timeout' (a number with s, m, h or d, "
		      "e.g. 12h)\n"
		      "p.yaml:14:20: 'skip_on_migration' must be true or false, not '1'\n");
	assert_errors("timeout: 0s\n", "p.yaml:1:10: 'timeout' must be from 1s to 1h, not '0s'\n");
	assert_errors("timeout: 61m\n",
		      "p.yaml:1:10: 'timeout' must be from 1s to 1h, not '61m'\n");
	assert_errors("snapshots:\n  - {on: [pre-stop], label: a, keep: 1001}\n",
		      "p.yaml:2:38: 'keep' must be an integer from 1 to 1000, not '1001'\n");
}

static void test_labels(void **state)
{
	(void)state;
	assert_errors("snapshots:\n"
		      "  - {on: [pre-stop], label: Daily}\n"
		      "  - {on: [pre-stop], label: a-b}\n"
		      "  - {on: [pre-stop], label: abcdefghijabcdefghijabcdefghijabc}\n"
		      "  - {on: [pre-stop], label: manual}\n"
		      "  - {on: [pre-stop], label: prerestore}\n"
		      "  - {on: [pre-stop], label: ''}\n",
		      "p.yaml:2:29: bad label 'Daily' (1 to 32 of a-z, 0-9 and _)\n"
		      "p.yaml:3:29: bad label 'a-b' (1 to 32 of a-z, 0-9 and _)\n"
		      "p.yaml:4:29: bad label 'abcdefghijabcdefghijabcdefghijabc' (1 to 32 of "
		      "a-z, 0-9 and _)\n"
		      "p.yaml:5:29: label 'manual' is reserved (retention would delete snapshots "
		      "made by hand)\n"
		      "p.yaml:6:29: label 'prerestore' is reserved (retention would delete "
		      "snapshots made by hand)\n"
		      "p.yaml:7:29: bad label '' (1 to 32 of a-z, 0-9 and _)\n");
	/* 32 characters is the limit, digits and _ are fine */
	policy_free(parse_ok("snapshots:\n"
			     "  - {on: [pre-stop], label: abcdefghijabcdefghijabcdefghij_9}\n"));
	assert_errors("snapshots:\n"
		      "  - on: [pre-stop]\n"
		      "    label: daily\n"
		      "  - on: [post-stop]\n"
		      "    label: daily\n",
		      "p.yaml:5:12: duplicate label 'daily' (first at line 3)\n");
}

static void test_phases(void **state)
{
	(void)state;
	assert_errors("snapshots:\n"
		      "  - on: [pre-stop, pre-migrate, pre-stop, [x]]\n"
		      "    label: a\n"
		      "  - on: []\n"
		      "    label: b\n",
		      "p.yaml:2:20: unknown phase 'pre-migrate' (expected pre-start, post-start, "
		      "pre-stop or post-stop)\n"
		      "p.yaml:2:33: phase 'pre-stop' listed twice\n"
		      "p.yaml:2:43: a phase must be a scalar, not a sequence\n"
		      "p.yaml:4:9: 'on' lists no phase (any of pre-start, post-start, pre-stop, "
		      "post-stop)\n");
	assert_int_equal(policy_phase_parse("pre-start"), POLICY_PRE_START);
	assert_int_equal(policy_phase_parse("post-start"), POLICY_POST_START);
	assert_int_equal(policy_phase_parse("pre-stop"), POLICY_PRE_STOP);
	assert_int_equal(policy_phase_parse("post-stop"), POLICY_POST_STOP);
	assert_int_equal(policy_phase_parse("pre-migrate"), 0);
	assert_int_equal(policy_phase_parse(NULL), 0);
	assert_string_equal(policy_phase_name(POLICY_POST_STOP), "post-stop");
	assert_null(policy_phase_name(POLICY_POST_STOP | POLICY_PRE_STOP));
}

static void test_disks(void **state)
{
	(void)state;
	assert_errors("disks:\n"
		      "  include: [scsi0, sdb, scsi0, {a: b}]\n"
		      "  exclude: []\n",
		      "p.yaml:2:20: 'sdb' is not a PVE disk key (scsi0, virtio1, sata2, ide3, "
		      "efidisk0, tpmstate0, ...)\n"
		      "p.yaml:2:25: disk 'scsi0' listed twice\n"
		      "p.yaml:2:32: a disk key must be a scalar, not a mapping\n"
		      "p.yaml:3:12: 'exclude' lists no disk (leave it out instead)\n");
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	assert_errors("timeout: 10s\n"
		      "snapshots:\n"
		      "  - on: [pre-stop]\n"
		      "    label: a\n"
		      "    label: b\n"
		      "timeout: 20s\n",
		      "p.yaml:5:5: duplicate key 'label' (first at line 4)\n"
		      "p.yaml:6:1: duplicate key 'timeout' (first at line 1)\n");
}

static void test_anchors_and_aliases(void **state)
{
	(void)state;
	assert_errors("snapshots:\n"
		      "  - &rule\n"
		      "    on: [pre-stop]\n"
		      "    label: a\n"
		      "  - *rule\n"
		      "timeout: &t 10s\n",
		      "p.yaml:2:5: YAML anchors are not allowed in a policy (&rule)\n"
		      "p.yaml:5:5: YAML aliases are not allowed in a policy (*rule)\n"
		      "p.yaml:6:10: YAML anchors are not allowed in a policy (&t)\n");
}

static void test_nesting(void **state)
{
	char *got;

	(void)state;
	/* root mapping + 7 sequences = 8 levels: deep, but only a type error */
	assert_errors("snapshots: [[[[[[[1]]]]]]]\n",
		      "p.yaml:1:13: a snapshot rule must be a mapping, not a sequence\n");
	/* one more level is refused where it starts, and the walk goes on */
	assert_errors("snapshots: [[[[[[[[1]]]]]]]]\ntimeout: x\n",
		      "p.yaml:1:13: a snapshot rule must be a mapping, not a sequence\n"
		      "p.yaml:1:19: nesting deeper than 8 levels\n"
		      "p.yaml:2:10: bad duration 'x' for 'timeout' (a number with s, m, h or d, "
		      "e.g. 12h)\n");
	/* far deeper than libyaml would like to recurse: still one error, no crash */
	{
		char deep[20000];
		size_t n = 0;

		n += (size_t)snprintf(deep, sizeof(deep), "snapshots: ");
		for (int i = 0; i < 5000; i++)
			deep[n++] = '[';
		for (int i = 0; i < 5000; i++)
			deep[n++] = ']';
		deep[n++] = '\n';
		deep[n] = '\0';
		got = errors_of(deep);
		assert_string_equal(got, "p.yaml:1:13: a snapshot rule must be a mapping, not a "
					 "sequence\n"
					 "p.yaml:1:19: nesting deeper than 8 levels\n");
		free(got);
	}
}

static void test_syntax_and_documents(void **state)
{
	char *got;

	(void)state;
	got = errors_of("snapshots: [a\n");
	assert_true(strncmp(got, "p.yaml:2:1: invalid YAML: ", 26) == 0);
	assert_non_null(strchr(got, '\n'));
	assert_null(strchr(got, '\n')[1] ? got : NULL);
	free(got);
	got = errors_of("timeout: 10s\n\tregister: true\n");
	assert_true(strncmp(got, "p.yaml:", 7) == 0);
	assert_non_null(strstr(got, "invalid YAML: "));
	free(got);
	assert_errors("timeout: 10s\n---\ntimeout: 20s\n",
		      "p.yaml:2:1: a policy file holds one YAML document, found a second one\n");
}

static void test_collects_all_errors(void **state)
{
	char *got;
	int lines = 0;

	(void)state;
	got = errors_of("snapshots:\n"
			"  - on: [pre-stp]\n"
			"    label: A\n"
			"    keep: -1\n"
			"    min_interval: 1y\n"
			"    quiesce: thaw\n"
			"    extra: 1\n"
			"disks: {include: [nvme0]}\n"
			"on_error: explode\n"
			"timeout: forever\n"
			"skip_on_migration: perhaps\n"
			"colour: blue\n");
	for (const char *s = got; *s; s++)
		lines += *s == '\n';
	assert_int_equal(lines, 11);
	free(got);
}

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_policy.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static int teardown_dir(void **state)
{
	char path[256];
	const char *names[] = { "100.yaml", "default.yaml", "big.yaml", "dir.yaml/x",
				"dir.yaml", "101.yaml" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		if (remove(path) && unlink(path))
			rmdir(path);
	}
	rmdir(tmpdir);
	return 0;
}

static void test_find(void **state)
{
	char path[256], want[256];

	(void)state;
	assert_int_equal(policy_find(tmpdir, 100, path, sizeof(path)), POE_NOTFOUND);
	assert_string_equal(path, "");
	assert_int_equal(policy_find("/nonexistent/dir", 100, path, sizeof(path)), POE_NOTFOUND);

	write_file(tmpdir, "default.yaml", "", 0);
	assert_int_equal(policy_find(tmpdir, 100, path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/default.yaml", tmpdir);
	assert_string_equal(path, want);

	write_file(tmpdir, "100.yaml", "", 0);
	assert_int_equal(policy_find(tmpdir, 100, path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/100.yaml", tmpdir);
	assert_string_equal(path, want);
	assert_int_equal(policy_find(tmpdir, 101, path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/default.yaml", tmpdir);
	assert_string_equal(path, want);

	/* a directory where the file should be is a configuration error, not a silent skip */
	snprintf(want, sizeof(want), "%s/101.yaml", tmpdir);
	assert_int_equal(mkdir(want, 0700), 0);
	assert_int_equal(policy_find(tmpdir, 101, path, sizeof(path)), POE_CONFIG);

	assert_int_equal(policy_find(tmpdir, 100, path, 8), POE_FAIL);
}

static void test_load_file(void **state)
{
	struct buf errors = BUF_INIT(1 << 20);
	struct policy *p = NULL;
	char path[256], want[512];
	char *big;
	size_t n = 70000;

	(void)state;
	write_file(tmpdir, "100.yaml", full, strlen(full));
	snprintf(path, sizeof(path), "%s/100.yaml", tmpdir);
	assert_int_equal(policy_load_file(path, &p, &errors), 0);
	assert_string_equal(p->file, path);
	assert_int_equal(p->nrules, 2);
	policy_free(p);

	/* errors carry the file's path */
	write_file(tmpdir, "100.yaml", "timeout: x\n", 11);
	assert_int_equal(policy_load_file(path, &p, &errors), POE_CONFIG);
	snprintf(want, sizeof(want), "%s:1:10: bad duration 'x' for 'timeout' (a number with s, "
		 "m, h or d, e.g. 12h)\n", path);
	assert_string_equal(buf_cstr(&errors), want);
	buf_reset(&errors);

	/* larger than 64 KiB: refused before parsing */
	big = malloc(n);
	assert_non_null(big);
	memset(big, '#', n);
	big[n - 1] = '\n';
	write_file(tmpdir, "big.yaml", big, n);
	free(big);
	snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
	assert_int_equal(policy_load_file(path, &p, &errors), POE_CONFIG);
	assert_null(p);
	snprintf(want, sizeof(want), "%s:1:1: policy is larger than 64 KiB (70000 bytes)\n", path);
	assert_string_equal(buf_cstr(&errors), want);
	buf_reset(&errors);

	/* exactly 64 KiB is fine */
	big = malloc(POLICY_MAX_FILE_BYTES);
	assert_non_null(big);
	memset(big, '#', POLICY_MAX_FILE_BYTES);
	big[POLICY_MAX_FILE_BYTES - 1] = '\n';
	write_file(tmpdir, "big.yaml", big, POLICY_MAX_FILE_BYTES);
	free(big);
	assert_int_equal(policy_load_file(path, &p, &errors), 0);
	policy_free(p);

	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	assert_int_equal(policy_load_file(path, &p, &errors), POE_NOTFOUND);
	assert_non_null(strstr(buf_cstr(&errors), "missing.yaml"));
	buf_reset(&errors);

	snprintf(path, sizeof(path), "%s/dir.yaml", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(policy_load_file(path, &p, &errors), POE_CONFIG);
	assert_non_null(strstr(buf_cstr(&errors), "not a regular file"));
	buf_release(&errors);
}

static void test_write_yaml_round_trip(void **state)
{
	struct buf out = BUF_INIT(1 << 20);
	struct policy *p, *q;

	(void)state;
	p = parse_ok(full);
	assert_int_equal(policy_write_yaml(p, 0, &out), 0);
	assert_string_equal(buf_cstr(&out),
			    "snapshots:\n"
			    "  - on: [pre-stop]\n"
			    "    label: daily\n"
			    "    keep: 7\n"
			    "    min_interval: 12h\n"
			    "    quiesce: freeze\n"
			    "    register: false\n"
			    "  - on: [pre-start, post-start]\n"
			    "    label: boot\n"
			    "    keep: 3\n"
			    "    min_interval: 0s\n"
			    "    quiesce: none\n"
			    "    register: false\n"
			    "disks:\n"
			    "  include: [scsi0, virtio1]\n"
			    "  exclude: [efidisk0]\n"
			    "register: false\n"
			    "on_error: block\n"
			    "timeout: 2m\n"
			    "skip_on_migration: false\n");
	q = parse_ok(buf_cstr(&out));
	assert_int_equal(q->nrules, 2);
	assert_int_equal(q->rules[1].phases, p->rules[1].phases);
	assert_int_equal(q->timeout_s, p->timeout_s);
	policy_free(q);
	policy_free(p);

	buf_reset(&out);
	p = parse_ok("");
	assert_int_equal(policy_write_yaml(p, 0, &out), 0);
	q = parse_ok(buf_cstr(&out));
	assert_int_equal(q->nrules, 0);
	assert_null(q->include);
	policy_free(q);
	policy_free(p);
	buf_release(&out);
}

/* The policy as JSON in out, parsed into d (caller frees both). */
static void policy_json(const struct policy *p, int64_t now, struct buf *out,
			struct json_doc *d)
{
	struct json_writer w;

	jw_init(&w, out, 0);
	policy_write_json(p, now, &w, NULL);
	assert_int_equal(jw_finish(&w), 0);
	assert_int_equal(json_parse(d, out->data, out->len, 0), 0);
}

static void test_write_json(void **state)
{
	struct buf out = BUF_INIT(1 << 20);
	struct json_doc d;
	struct policy *p;
	char s[64];
	int64_t v;

	(void)state;
	p = parse_ok(full);
	policy_json(p, 0, &out, &d);
	assert_int_equal(json_get_str(&d, 0, "snapshots.0.label", s, sizeof(s)), 0);
	assert_string_equal(s, "daily");
	assert_int_equal(json_get_str(&d, 0, "snapshots.1.on.1", s, sizeof(s)), 0);
	assert_string_equal(s, "post-start");
	assert_int_equal(json_get_int(&d, 0, "snapshots.0.min_interval_seconds", &v), 0);
	assert_int_equal(v, 43200);
	assert_int_equal(json_get_str(&d, 0, "disks.exclude.0", s, sizeof(s)), 0);
	assert_string_equal(s, "efidisk0");
	assert_int_equal(json_get_str(&d, 0, "on_error", s, sizeof(s)), 0);
	assert_string_equal(s, "block");
	assert_int_equal(json_get_int(&d, 0, "timeout_seconds", &v), 0);
	assert_int_equal(v, 120);
	json_free(&d);
	policy_free(p);
	buf_release(&out);
}

/* ---- schedules (issue 16) ---- */

static const char scheduled[] =
	"snapshots:\n"
	"  - schedule: \"*:00\"\n"
	"    label: hourly\n"
	"    keep: 24\n"
	"    register: false\n"
	"  - on: [pre-stop]\n"
	"    schedule: 'mon..fri 02:30'\n"
	"    label: nightly\n"
	"  - on: [post-start]\n"
	"    label: boot\n"
	"    register: yes\n"
	"register: true\n";

static void test_schedule_rules(void **state)
{
	struct policy *p;
	int idx[POLICY_MAX_RULES];
	const int64_t now = 1796212800; /* 2026-12-02 12:00:00 UTC, a Wednesday */

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	p = parse_ok(scheduled);
	assert_int_equal(p->nrules, 3);
	/* a scheduled-only rule fires on no phase */
	assert_int_equal(p->rules[0].phases, 0);
	assert_string_equal(p->rules[0].schedule, "*:00");
	assert_non_null(p->rules[0].cal);
	assert_int_equal(cal_next(p->rules[0].cal, now), now + 3600);
	assert_int_equal(p->rules[1].phases, POLICY_PRE_STOP);
	assert_string_equal(p->rules[1].schedule, "mon..fri 02:30");
	assert_int_equal(cal_next(p->rules[1].cal, now), now + 14 * 3600 + 1800);
	assert_null(p->rules[2].schedule);
	assert_null(p->rules[2].cal);
	/* register per rule: -1 inherits the policy's */
	assert_int_equal(p->rules[0].register_clones, 0);
	assert_int_equal(p->rules[1].register_clones, -1);
	assert_int_equal(p->rules[2].register_clones, 1);
	assert_false(policy_rule_registers(p, &p->rules[0]));
	assert_true(policy_rule_registers(p, &p->rules[1]));
	p->register_clones = false;
	assert_false(policy_rule_registers(p, &p->rules[1]));
	assert_true(policy_rule_registers(p, &p->rules[2]));
	assert_int_equal(policy_rules_for_phase(p, POLICY_PRE_STOP, idx), 1);
	assert_int_equal(idx[0], 1);
	assert_int_equal(policy_rules_for_phase(p, POLICY_POST_START, idx), 1);
	assert_int_equal(idx[0], 2);
	policy_free(p);
}

static void test_schedule_errors(void **state)
{
	(void)state;
	/* the column points into the string, inside quotes or not */
	assert_errors("snapshots:\n"
		      "  - schedule: \"mon..fri 25:00\"\n"
		      "    label: a\n"
		      "  - schedule: mon..fri 02:6x\n"
		      "    label: b\n"
		      "  - schedule: 'feb 30'\n"
		      "    label: c\n",
		      "p.yaml:2:25: bad schedule 'mon..fri 25:00': hour 25 out of range 0..23\n"
		      "p.yaml:4:28: bad schedule 'mon..fri 02:6x': unexpected 'x' after time\n"
		      "p.yaml:6:16: bad schedule 'feb 30': unknown weekday 'feb'\n");
	/* a schedule that never fires; one written over two lines is pointed at its start */
	assert_errors("snapshots:\n"
		      "  - schedule: \"*-02-30\"\n"
		      "    label: a\n"
		      "  - schedule: \"2021-02-29\n"
		      "      12:00x\"\n"
		      "    label: b\n"
		      "  - schedule: \"\"\n"
		      "    label: c\n"
		      "  - schedule: [daily]\n"
		      "    label: d\n"
		      "  - schedule: daily\n"
		      "    register: maybe\n"
		      "    label: e\n",
		      "p.yaml:2:15: schedule '*-02-30' never fires (no date matches it)\n"
		      "p.yaml:4:15: bad schedule '2021-02-29 12:00x': unexpected 'x' after time\n"
		      "p.yaml:7:16: bad schedule '': empty calendar event\n"
		      "p.yaml:9:15: 'schedule' must be a scalar, not a sequence\n"
		      "p.yaml:12:15: 'register' must be true or false, not 'maybe'\n");
	/* a past one-shot date is valid: the policy does not turn invalid as time passes */
	policy_free(parse_ok("snapshots:\n  - schedule: 2015-10-21\n    label: once\n"));
}

/* A policy with a thousand rules is refused at once with one message; 64 load. */
static void test_rule_limit(void **state)
{
	struct buf text = BUF_INIT(1 << 20);
	struct policy *p;
	char *got;

	(void)state;
	assert_int_equal(buf_puts(&text, "snapshots:\n"), 0);
	for (int i = 0; i < POLICY_MAX_RULES; i++)
		assert_int_equal(buf_printf(&text, "  - {schedule: '*/5', label: r%d}\n", i), 0);
	p = parse_ok(buf_cstr(&text));
	assert_int_equal(p->nrules, POLICY_MAX_RULES);
	policy_free(p);
	for (int i = POLICY_MAX_RULES; i < 1000; i++)
		assert_int_equal(buf_printf(&text, "  - {schedule: '*/5', label: r%d}\n", i), 0);
	got = errors_of(buf_cstr(&text));
	assert_string_equal(got, "p.yaml:66:5: more than 64 snapshot rules (the limit of one "
				 "policy); found 1000\n");
	free(got);
	buf_release(&text);
}

static void test_write_schedule(void **state)
{
	struct buf out = BUF_INIT(1 << 20);
	struct json_doc d;
	struct policy *p, *q;
	const int64_t now = 1796212800; /* 2026-12-02 12:00:00 UTC */
	char s[64];
	bool b;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	p = parse_ok(scheduled);
	assert_int_equal(policy_write_yaml(p, now, &out), 0);
	assert_string_equal(buf_cstr(&out),
			    "snapshots:\n"
			    "  - schedule: \"*:00\"    # next due: 2026-12-02 13:00:00 UTC\n"
			    "    label: hourly\n"
			    "    keep: 24\n"
			    "    min_interval: 0s\n"
			    "    quiesce: none\n"
			    "    register: false\n"
			    "  - on: [pre-stop]\n"
			    "    schedule: \"mon..fri 02:30\"    # next due: 2026-12-03 02:30:00 UTC\n"
			    "    label: nightly\n"
			    "    keep: 7\n"
			    "    min_interval: 0s\n"
			    "    quiesce: none\n"
			    "    register: true\n"
			    "  - on: [post-start]\n"
			    "    label: boot\n"
			    "    keep: 7\n"
			    "    min_interval: 0s\n"
			    "    quiesce: none\n"
			    "    register: true\n"
			    "disks: {}    # every disk on a configured storage\n"
			    "register: true\n"
			    "on_error: warn\n"
			    "timeout: 30s\n"
			    "skip_on_migration: true\n");
	q = parse_ok(buf_cstr(&out));
	assert_string_equal(q->rules[1].schedule, "mon..fri 02:30");
	policy_free(q);

	buf_reset(&out);
	policy_json(p, now, &out, &d);
	assert_int_equal(json_get_str(&d, 0, "snapshots.0.schedule", s, sizeof(s)), 0);
	assert_string_equal(s, "*:00");
	assert_int_equal(json_get_str(&d, 0, "snapshots.0.next_due", s, sizeof(s)), 0);
	assert_string_equal(s, "2026-12-02T13:00:00Z");
	assert_int_equal(json_get_bool(&d, 0, "snapshots.0.register", &b), 0);
	assert_false(b);
	assert_int_equal(json_get_str(&d, 0, "snapshots.1.next_due", s, sizeof(s)), 0);
	assert_string_equal(s, "2026-12-03T02:30:00Z");
	json_free(&d);
	policy_free(p);
	buf_release(&out);
}

static void test_format_duration(void **state)
{
	char d[24];

	(void)state;
	policy_format_duration(0, d, sizeof(d));
	assert_string_equal(d, "0s");
	policy_format_duration(90, d, sizeof(d));
	assert_string_equal(d, "90s");
	policy_format_duration(120, d, sizeof(d));
	assert_string_equal(d, "2m");
	policy_format_duration(43200, d, sizeof(d));
	assert_string_equal(d, "12h");
	policy_format_duration(7 * 86400, d, sizeof(d));
	assert_string_equal(d, "7d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_valid_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_phases),
		cmocka_unit_test(test_disks),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_anchors_and_aliases),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_syntax_and_documents),
		cmocka_unit_test(test_collects_all_errors),
		cmocka_unit_test_setup_teardown(test_find, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_file, setup_dir, teardown_dir),
		cmocka_unit_test(test_write_yaml_round_trip),
		cmocka_unit_test(test_write_json),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_schedule_rules),
		cmocka_unit_test(test_schedule_errors),
		cmocka_unit_test(test_rule_limit),
		cmocka_unit_test(test_write_schedule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
