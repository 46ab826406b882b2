/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lib/config/config.c: the YAML and .ini formats of DESIGN.md "Configuration (contract)". */
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

#include "config/config.h"
#include "base/err.h"
#include "base/log.h"
#include "base/secret.h"
#include "testutil.h"
#include "base/util.h"

static char tmpdir[] = "/tmp/test_config.XXXXXX";

/* Write tmpdir/name with mode; returns the path (static buffer per call site is enough). */
static char *write_file(const char *name, const char *text, mode_t mode)
{
	char *path = util_xasprintf("%s/%s", tmpdir, name);
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static int group_setup(void **state)
{
	(void)state;
	log_init("test_config");
	log_set_level(LOG_LVL_ERROR);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	testutil_rm_rf(tmpdir);
	secret_clear();
	return 0;
}

static int parse(const char *text, struct config **c)
{
	return config_parse_yaml("t.yaml", text, strlen(text), c);
}

/* Parse text that must fail and compare the (first) message. */
static void expect_error(const char *text, const char *msg)
{
	struct config *c = (struct config *)1;

	assert_int_equal(parse(text, &c), POE_CONFIG);
	assert_null(c);
	assert_int_equal(err_code(), POE_CONFIG);
	assert_string_equal(err_msg(), msg);
}

/* DESIGN.md's example with every key; %s is the password file of cluster2. */
static const char full_example[] =
	"# DESIGN.md's example, every key\n"
	"pve:\n"
	"  host: 192.0.2.10\n"
	"  port: 8007\n"
	"  token: root@pam!pveontap=0b3f1234-aaaa\n"
	"  user: root@pam\n"
	"  password: pve-pass-1234\n"
	"  verify: no\n"
	"  ca_file: /etc/pve/pve-root-ca.pem\n"
	"  fingerprint: \"AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:"
	"AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\"\n"
	"ontap:\n"
	"  cluster1:\n"
	"    host: 192.168.38.50\n"
	"    port: 8443\n"
	"    user: admin\n"
	"    password: ontap-pass-5678\n"
	"    verify: true\n"
	"    ca_file: /etc/pve-ontap/cluster1-ca.pem\n"
	"    fingerprint: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	"  cluster2:\n"
	"    host: ontap2.example.com\n"
	"    user: vsadmin\n"
	"    password_file: %s\n"
	"storages:\n"
	"  ONTAP01:\n"
	"    ontap: cluster1\n"
	"    svm: svm1\n"
	"    volume: proxmox_storage01\n"
	"  NVME01:\n"
	"    ontap: cluster2\n"
	"    protocol: nvme\n"
	"    svm: svm_nvme\n"
	"    subsystem: pve-nvme\n"
	"    aggregate: aggr1\n"
	"    prefix: pve_\n"
	"    encryption: true\n"
	"    space_reserve: volume\n"
	"    qos_policy: gold\n"
	"    tiering_policy: auto\n"
	"    snapshot_reserve: 5\n"
	"    portals: [10.0.0.1, 10.0.0.2]\n"
	"  NVME02:\n"
	"    ontap: cluster1\n"
	"    protocol: nvme\n"
	"    svm: svm_nvme\n"
	"    subsystem: pve-nvme\n"
	"    prefix: \"\"\n"
	"    encryption: no\n"
	"    adaptive_qos_policy: extreme\n"
	"    snapshot_reserve: 0\n"
	"    portals:\n"
	"      - 10.0.0.3\n"
	"paths:\n"
	"  pve_etc: /t/etc/pve\n"
	"  policies: /t/policies\n"
	"  queue: /t/queue\n"
	"  state: /t/state\n"
	"  lock: /t/lock\n"
	"  mnt: /t/mnt\n"
	"  dev: /t/dev\n"
	"  sysfs: /t/sys\n"
	"  qm: /t/bin/qm\n"
	"  nvme: /t/bin/nvme\n"
	"  hostnqn: /t/hostnqn\n"
	"  snippets: /t/snippets\n"
	"watch:\n"
	"  reconcile: 2m\n";

static void check_full_clients(const struct config *c)
{
	assert_string_equal(c->pve.host, "192.0.2.10");
	assert_int_equal(c->pve.port, 8007);
	assert_string_equal(c->pve.token, "root@pam!pveontap=0b3f1234-aaaa");
	assert_string_equal(c->pve.user, "root@pam");
	assert_string_equal(c->pve.password, "pve-pass-1234");
	assert_false(c->pve.verify);
	assert_string_equal(c->pve.ca_file, "/etc/pve/pve-root-ca.pem");
	assert_non_null(strstr(c->pve.fingerprint, "AA:BB:CC"));

	assert_int_equal(c->nontap, 2);
	assert_string_equal(c->ontap[0].name, "cluster1");
	assert_string_equal(c->ontap[0].host, "192.168.38.50");
	assert_int_equal(c->ontap[0].port, 8443);
	assert_string_equal(c->ontap[0].user, "admin");
	assert_string_equal(c->ontap[0].password, "ontap-pass-5678");
	assert_true(c->ontap[0].verify);
	assert_string_equal(c->ontap[0].ca_file, "/etc/pve-ontap/cluster1-ca.pem");
	assert_non_null(c->ontap[0].fingerprint);
	assert_string_equal(c->ontap[1].name, "cluster2");
	assert_string_equal(c->ontap[1].host, "ontap2.example.com");
	assert_int_equal(c->ontap[1].port, 443);
	assert_string_equal(c->ontap[1].password, "pw-from-file-77");
	assert_true(c->ontap[1].verify);
	assert_null(c->ontap[1].ca_file);
	assert_null(c->ontap[1].fingerprint);
}

static void check_full_storages(const struct config *c)
{
	const struct config_storage *s;

	assert_int_equal(c->nstorages, 3);
	s = config_storage_find(c, "ONTAP01");
	assert_non_null(s);
	assert_int_equal(s->protocol, STORAGE_NFS);
	assert_string_equal(s->ontap_name, "cluster1");
	assert_ptr_equal(s->ontap, &c->ontap[0]);
	assert_string_equal(s->svm, "svm1");
	assert_string_equal(s->volume, "proxmox_storage01");
	assert_string_equal(s->prefix, "pve_");
	assert_string_equal(s->space_reserve, "none");
	assert_int_equal(s->encryption, -1);
	assert_int_equal(s->snapshot_reserve, -1);
	assert_int_equal(s->nportals, 0);

	s = config_storage_find(c, "NVME01");
	assert_non_null(s);
	assert_int_equal(s->protocol, STORAGE_NVME);
	assert_ptr_equal(s->ontap, &c->ontap[1]);
	assert_string_equal(s->svm, "svm_nvme");
	assert_string_equal(s->subsystem, "pve-nvme");
	assert_string_equal(s->aggregate, "aggr1");
	assert_string_equal(s->prefix, "pve_");
	assert_int_equal(s->encryption, 1);
	assert_string_equal(s->space_reserve, "volume");
	assert_string_equal(s->qos_policy, "gold");
	assert_null(s->adaptive_qos_policy);
	assert_string_equal(s->tiering_policy, "auto");
	assert_int_equal(s->snapshot_reserve, 5);
	assert_int_equal(s->nportals, 2);
	assert_string_equal(s->portals[0], "10.0.0.1");
	assert_string_equal(s->portals[1], "10.0.0.2");

	s = config_storage_find(c, "NVME02");
	assert_non_null(s);
	assert_string_equal(s->prefix, "");
	assert_int_equal(s->encryption, 0);
	assert_string_equal(s->adaptive_qos_policy, "extreme");
	assert_int_equal(s->snapshot_reserve, 0);
	assert_int_equal(s->nportals, 1);
	assert_null(config_storage_find(c, "NOPE"));
}

static void check_full_paths(const struct config *c)
{
	assert_string_equal(c->paths.pve_etc, "/t/etc/pve");
	assert_string_equal(c->paths.policies, "/t/policies");
	assert_string_equal(c->paths.queue, "/t/queue");
	assert_string_equal(c->paths.state, "/t/state");
	assert_string_equal(c->paths.lock, "/t/lock");
	assert_string_equal(c->paths.mnt, "/t/mnt");
	assert_string_equal(c->paths.dev, "/t/dev");
	assert_string_equal(c->paths.sysfs, "/t/sys");
	assert_string_equal(c->paths.qm, "/t/bin/qm");
	assert_string_equal(c->paths.nvme, "/t/bin/nvme");
	assert_string_equal(c->paths.hostnqn, "/t/hostnqn");
	assert_string_equal(c->paths.snippets, "/t/snippets");
	assert_int_equal(c->watch.reconcile_s, 120);
}

static void test_full_example(void **state)
{
	char *pwfile = write_file("cluster2.pw", "pw-from-file-77\n", 0600);
	char *text = util_xasprintf(full_example, pwfile);
	struct config *c = NULL;
	char scrubbed[128];

	(void)state;
	assert_int_equal(parse(text, &c), 0);
	assert_non_null(c);
	assert_string_equal(c->file, "t.yaml");
	assert_false(c->from_ini);
	check_full_clients(c);
	check_full_storages(c);
	check_full_paths(c);

	/* every secret is registered for scrubbing, the token's secret part too */
	secret_scrub(scrubbed, sizeof(scrubbed), "a pve-pass-1234 b ontap-pass-5678 c pw-from-file-77");
	assert_string_equal(scrubbed, "a *** b *** c ***");
	secret_scrub(scrubbed, sizeof(scrubbed), "x 0b3f1234-aaaa");
	assert_string_equal(scrubbed, "x ***");

	config_free(c);
	free(text);
	free(pwfile);
}

static void check_default_paths(const struct config *c)
{
	assert_string_equal(c->pve.host, "127.0.0.1");
	assert_int_equal(c->pve.port, 8006);
	assert_true(c->pve.verify);
	assert_null(c->pve.token);
	assert_null(c->pve.user);
	assert_null(c->pve.password);
	assert_string_equal(c->paths.pve_etc, "/etc/pve");
	assert_string_equal(c->paths.policies, "/etc/pve/pve-ontap/policies");
	assert_string_equal(c->paths.queue, "/var/lib/pve-ontap/queue");
	assert_string_equal(c->paths.state, "/var/lib/pve-ontap");
	assert_string_equal(c->paths.lock, "/etc/pve/priv/lock");
	assert_string_equal(c->paths.mnt, "/mnt/pve");
	assert_string_equal(c->paths.dev, "/dev");
	assert_string_equal(c->paths.sysfs, "/sys");
	assert_string_equal(c->paths.qm, "/usr/sbin/qm");
	assert_string_equal(c->paths.nvme, "/usr/sbin/nvme");
	assert_string_equal(c->paths.hostnqn, "/etc/nvme/hostnqn");
	assert_string_equal(c->paths.nvme_etc, "/etc/nvme");
	assert_string_equal(c->paths.lvm_conf, "/etc/lvm/lvm.conf");
	assert_null(c->paths.metrics);
	assert_string_equal(c->paths.snippets, "/var/lib/vz/snippets");
	assert_int_equal(c->watch.reconcile_s, 60);
	assert_int_equal(c->watch.max_parallel, 4);
	assert_int_equal(c->nontap, 0);
	assert_int_equal(c->nstorages, 0);
}

static void test_defaults(void **state)
{
	struct config *c = config_new_defaults();
	const struct config_storage *s;

	(void)state;
	check_default_paths(c);
	config_free(c);

	assert_int_equal(parse("", &c), 0);
	check_default_paths(c);
	config_free(c);
	assert_int_equal(parse("# only a comment\n", &c), 0);
	check_default_paths(c);
	config_free(c);
	assert_int_equal(parse("pve:\n  verify: yes\n", &c), 0);
	check_default_paths(c);
	config_free(c);

	/* per-object defaults */
	assert_int_equal(parse("ontap:\n  c1:\n    host: h1\n    user: u\n    password: pppp1\n"
			       "storages:\n  S1:\n    ontap: c1\n",
			       &c),
			 0);
	assert_int_equal(c->ontap[0].port, 443);
	assert_true(c->ontap[0].verify);
	s = config_storage_find(c, "S1");
	assert_int_equal(s->protocol, STORAGE_NFS);
	assert_string_equal(s->prefix, "pve_");
	assert_string_equal(s->space_reserve, "none");
	assert_int_equal(s->encryption, -1);
	assert_int_equal(s->snapshot_reserve, -1);
	assert_null(s->svm);
	assert_null(s->volume);
	config_free(c);

	/* paths inside pve_etc and state follow them unless given */
	assert_int_equal(parse("paths:\n  pve_etc: /T/etc/pve\n  state: /T/var\n", &c), 0);
	assert_string_equal(c->paths.policies, "/T/etc/pve/pve-ontap/policies");
	assert_string_equal(c->paths.lock, "/T/etc/pve/priv/lock");
	assert_string_equal(c->paths.queue, "/T/var/queue");
	assert_string_equal(c->paths.mnt, "/mnt/pve");
	config_free(c);

	/* DESIGN.md: the host NQN is <nvme_etc>/hostnqn; metrics and max_parallel are read */
	assert_int_equal(parse("paths:\n  nvme_etc: /T/nvme\n  lvm_conf: /T/lvm.conf\n"
			       "  metrics: /T/m.prom\nwatch:\n  max_parallel: 9\n", &c), 0);
	assert_string_equal(c->paths.hostnqn, "/T/nvme/hostnqn");
	assert_string_equal(c->paths.lvm_conf, "/T/lvm.conf");
	assert_string_equal(c->paths.metrics, "/T/m.prom");
	assert_int_equal(c->watch.max_parallel, 9);
	config_free(c);
	assert_int_equal(parse("watch:\n  max_parallel: 0\n", &c), POE_CONFIG);
	assert_null(c);
}

static void test_errors_file_line_col(void **state)
{
	(void)state;
	expect_error("pve:\n  host: h\nbogus: 1\n",
		     "t.yaml:3:1: unknown key 'bogus' (expected one of: pve, ontap, storages, "
		     "paths, watch)");
	expect_error("pve:\n  hots: h\n",
		     "t.yaml:2:3: unknown key 'hots' (expected one of: host, port, token, user, "
		     "password, password_file, verify, ca_file, fingerprint)");
	expect_error("pve: [a, b]\n", "t.yaml:1:6: 'pve' must be a mapping, not a list");
	expect_error("pve:\nontap: {}\n", "t.yaml:1:5: 'pve' must be a mapping, not an empty value");
	expect_error("pve:\n  host: {a: 1}\n", "t.yaml:2:9: 'host' must be a scalar, not a mapping");
	expect_error("pve:\n  port: 70000\n",
		     "t.yaml:2:9: 'port' must be an integer from 1 to 65535, not '70000'");
	expect_error("pve:\n  port: 0\n",
		     "t.yaml:2:9: 'port' must be an integer from 1 to 65535, not '0'");
	expect_error("pve:\n  port: 80a\n",
		     "t.yaml:2:9: 'port' must be an integer from 1 to 65535, not '80a'");
	expect_error("pve:\n  verify: on\n",
		     "t.yaml:2:11: 'verify' must be true or false (or yes/no), not 'on'");
	expect_error("pve:\n  verify: 1\n",
		     "t.yaml:2:11: 'verify' must be true or false (or yes/no), not '1'");
	expect_error("pve:\n  host: a\n  port: 1\n  host: b\n",
		     "t.yaml:4:3: duplicate key 'host' (first at line 2)");
	expect_error("pve:\n  host: \"a/b@c\"\n",
		     "t.yaml:2:9: bad host 'a/b@c' (a host name or an IP address)");
	expect_error("pve:\n  token: nonsense-secret\n",
		     "t.yaml:2:10: 'token' must be an API token 'user@realm!tokenid=secret'");
	expect_error("pve:\n  fingerprint: AA:BB\n",
		     "t.yaml:2:16: 'fingerprint' must be a SHA-256 fingerprint (32 hex pairs, "
		     "AA:BB:...)");
	expect_error("pve:\n  user: root@pam\n",
		     "t.yaml:1:1: 'pve' sets 'user' but neither 'password' nor 'password_file'");
	expect_error("pve:\n  ca_file:\n", "t.yaml:2:11: 'ca_file' needs a value");

	expect_error("ontap:\n  c1:\n    host: h\n    user: u\n    password: pppp1\n"
		     "storages:\n  S1:\n    ontap: c2\n",
		     "t.yaml:8:12: storage 'S1' names unknown ONTAP cluster 'c2'");
	expect_error("storages:\n  S1:\n    svm: x\n",
		     "t.yaml:2:3: storage 'S1' has no 'ontap' (the name of a cluster under ontap:)");
	expect_error("storages:\n  1abc:\n    ontap: c\n",
		     "t.yaml:2:3: '1abc' is not a PVE storage id ([A-Za-z][A-Za-z0-9._-]*"
		     "[A-Za-z0-9])");
	expect_error("storages:\n  abc-:\n    ontap: c\n",
		     "t.yaml:2:3: 'abc-' is not a PVE storage id ([A-Za-z][A-Za-z0-9._-]*"
		     "[A-Za-z0-9])");
	expect_error("ontap:\n  c1:\n    host: h\n    user: u\n    password: pppp1\n"
		     "storages:\n  S1:\n    ontap: c1\n    protocol: iscsi\n",
		     "t.yaml:9:15: 'protocol' must be nfs or nvme, not 'iscsi'");
	expect_error("ontap:\n  c1:\n    host: h\n    user: u\n    password: pppp1\n"
		     "storages:\n  S1:\n    ontap: c1\n    snapshot_reserve: 91\n",
		     "t.yaml:9:23: 'snapshot_reserve' must be a percentage from 0 to 90, not '91'");
	expect_error("ontap:\n  c1:\n    host: h\n    user: u\n    password: pppp1\n"
		     "storages:\n  S1:\n    ontap: c1\n    space_reserve: thin\n",
		     "t.yaml:9:20: 'space_reserve' must be none or volume, not 'thin'");
	expect_error("ontap:\n  c1:\n    host: h\n    user: u\n    password: pppp1\n"
		     "storages:\n  S1:\n    ontap: c1\n    portals: 10.0.0.1\n",
		     "t.yaml:9:14: 'portals' must be a list, not a scalar");
	expect_error("ontap:\n  c1:\n    host: h\n    user: u\n    password: pppp1\n"
		     "storages:\n  S1:\n    ontap: c1\n    encryption: maybe\n",
		     "t.yaml:9:17: 'encryption' must be true or false (or yes/no), not 'maybe'");
	expect_error("ontap:\n  c1:\n    host: h\n    user: u\n    password: pppp1\n"
		     "storages:\n  S1:\n    ontap: c1\n    protocol: nvme\n    svm: s\n",
		     "t.yaml:7:3: NVMe storage 'S1' has no 'subsystem'");
	expect_error("ontap:\n  c1:\n    host: h\n    password: pppp1\n",
		     "t.yaml:2:3: ONTAP cluster 'c1' has no 'user'");
	expect_error("paths:\n  queue: var/queue\n",
		     "t.yaml:2:10: 'queue' must be an absolute path, not 'var/queue'");
	expect_error("watch:\n  reconcile: soon\n",
		     "t.yaml:2:14: bad duration 'soon' for 'reconcile' (1s to 7d: a number with s, "
		     "m, h or d)");
	expect_error("watch:\n  reconcile: 0\n",
		     "t.yaml:2:14: bad duration '0' for 'reconcile' (1s to 7d: a number with s, "
		     "m, h or d)");
	expect_error("- a\n- b\n", "t.yaml:1:1: the configuration must be a mapping, not a list");

	/* structure */
	expect_error("pve: &x\n  host: a\nontap: *x\n", "t.yaml:1:6: YAML anchors are not allowed");
	expect_error("pve:\n  host: *x\n", "t.yaml:2:9: YAML aliases are not allowed");
	expect_error("pve: {host: a}\n---\npve: {}\n", "t.yaml:2:1: only one YAML document is allowed");
	expect_error("a: [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]\n", "t.yaml:1:19: nesting too deep");
	expect_error("pve:\n  host: a\n bad\n",
		     "t.yaml:3:2: did not find expected key while parsing a block mapping");
	expect_error("pve: \"unterminated\n",
		     "t.yaml:2:1: found unexpected end of stream while scanning a quoted scalar");
}

static void test_all_errors_collected(void **state)
{
	struct config *c = NULL;

	(void)state;
	/* the first error is the message; the walk went on (they are logged) */
	assert_int_equal(parse("pve:\n  port: x\n  verify: maybe\nbogus: 1\n", &c), POE_CONFIG);
	assert_string_equal(err_msg(),
			    "t.yaml:2:9: 'port' must be an integer from 1 to 65535, not 'x'");
	assert_null(c);
}

/* The real path decides, not the spelling: "<dir>/../x" is not under <dir>. */
static void test_path_is_under(void **state)
{
	char *dir = util_xasprintf("%s/pve", tmpdir);
	char *in = util_xasprintf("%s/pve/c.yaml", tmpdir);
	char *out = util_xasprintf("%s/c.yaml", tmpdir);
	char *dotdot = util_xasprintf("%s/pve/../c.yaml", tmpdir);
	char *link = util_xasprintf("%s/pve/link.yaml", tmpdir);
	char *slash = util_xasprintf("%s/pve/", tmpdir);
	char *sibling = util_xasprintf("%s/pve2", tmpdir);

	(void)state;
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(mkdir(sibling, 0700), 0);
	free(write_file("pve/c.yaml", "x: 1\n", 0600));
	free(write_file("c.yaml", "x: 1\n", 0600));
	assert_int_equal(symlink(out, link), 0);
	assert_true(config_path_is_under(in, dir));
	assert_true(config_path_is_under(in, slash));
	assert_true(config_path_is_under(dir, dir));
	assert_false(config_path_is_under(out, dir));
	assert_false(config_path_is_under(dotdot, dir));
	assert_false(config_path_is_under(link, dir));
	assert_false(config_path_is_under(sibling, dir));
	assert_false(config_path_is_under("/nonexistent/pve/c.yaml", "/nonexistent/pve"));
	assert_string_equal(config_readers(0640), "its group");
	assert_string_equal(config_readers(0604), "others");
	assert_string_equal(config_readers(0644), "its group and others");
	assert_string_equal(config_readers(0600), "nobody else");
	free(dir);
	free(in);
	free(out);
	free(dotdot);
	free(link);
	free(slash);
	free(sibling);
}

static void test_password_permissions(void **state)
{
	const char *yaml = "ontap:\n  c1:\n    host: h\n    user: admin\n"
			   "    password: very-secret-99\n";
	char *path = write_file("pw.yaml", yaml, 0644);
	char want[512];
	struct config *c = NULL;

	(void)state;
	assert_int_equal(config_load(path, &c), POE_CONFIG);
	assert_null(c);
	snprintf(want, sizeof(want),
		 "config file '%s' holds a password and is readable by its group and others (mode 0644): "
		 "chmod 600 it",
		 path);
	assert_string_equal(err_msg(), want);
	assert_null(strstr(err_msg(), "very-secret-99"));

	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(config_load(path, &c), POE_CONFIG);
	assert_non_null(strstr(err_msg(), "is readable by its group (mode 0640)"));

	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(config_load(path, &c), 0);
	assert_string_equal(c->file, path);
	assert_string_equal(c->ontap[0].password, "very-secret-99");
	config_free(c);
	free(path);

	/* a token counts as a password */
	path = write_file("tok.yaml", "pve:\n  token: root@pam!t=abcdef-123\n", 0604);
	assert_int_equal(config_load(path, &c), POE_CONFIG);
	assert_non_null(strstr(err_msg(), "holds an API token and is readable by others (mode 0604)"));
	free(path);

	/* no secret: any mode will do */
	path = write_file("plain.yaml", "pve:\n  host: h\n", 0644);
	assert_int_equal(config_load(path, &c), 0);
	config_free(c);
	free(path);
}

static void test_password_file(void **state)
{
	char *pw = write_file("ontap.pw", "from-file-secret\r\n", 0600);
	char *text = util_xasprintf("ontap:\n  c1:\n    host: h\n    user: admin\n"
				    "    password_file: %s\n",
				    pw);
	char *cfg;
	char want[512];
	struct config *c = NULL;

	(void)state;
	assert_int_equal(parse(text, &c), 0);
	assert_string_equal(c->ontap[0].password, "from-file-secret");
	config_free(c);

	/* relative to the config file's directory; the config itself may then be 0644 */
	cfg = write_file("rel.yaml", "ontap:\n  c1:\n    host: h\n    user: admin\n"
				     "    password_file: ontap.pw\n",
			 0644);
	assert_int_equal(config_load(cfg, &c), 0);
	assert_string_equal(c->ontap[0].password, "from-file-secret");
	config_free(c);
	free(cfg);

	/* group/other-readable password file refused, at the value's position */
	assert_int_equal(chmod(pw, 0644), 0);
	assert_int_equal(parse(text, &c), POE_CONFIG);
	snprintf(want, sizeof(want),
		 "t.yaml:5:20: password file '%s' is readable by its group and others (mode 0644): chmod 600 it",
		 pw);
	assert_string_equal(err_msg(), want);
	free(text);

	/* missing, empty, too big */
	text = util_xasprintf("pve:\n  user: root@pam\n  password_file: %s/nope.pw\n", tmpdir);
	assert_int_equal(parse(text, &c), POE_CONFIG);
	assert_non_null(strstr(err_msg(), "t.yaml:3:18: cannot read password file: "));
	free(text);
	free(pw);
	pw = write_file("empty.pw", "\n", 0600);
	text = util_xasprintf("pve:\n  user: root@pam\n  password_file: %s\n", pw);
	assert_int_equal(parse(text, &c), POE_CONFIG);
	assert_non_null(strstr(err_msg(), "is empty"));
	free(text);
	free(pw);
	{
		char big[5000];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		pw = write_file("big.pw", big, 0600);
	}
	text = util_xasprintf("pve:\n  user: root@pam\n  password_file: %s\n", pw);
	assert_int_equal(parse(text, &c), POE_CONFIG);
	assert_non_null(strstr(err_msg(), "larger than 4096 bytes"));
	free(text);

	/* password and password_file together */
	free(pw);
	pw = write_file("ok.pw", "abcdefgh\n", 0600);
	text = util_xasprintf("pve:\n  user: root@pam\n  password: abcd1234\n  password_file: %s\n",
			      pw);
	assert_int_equal(parse(text, &c), POE_CONFIG);
	assert_string_equal(err_msg(),
			    "t.yaml:4:3: 'password' and 'password_file' exclude each other");
	free(text);
	free(pw);
}

/* [paths] (extension) and host:port for ONTAP sections, so an .ini runs anywhere. */
static void test_ini_paths_and_ports(void **state)
{
	const char *ini = "[proxmox]\n"
			  "proxmox_host = 127.0.0.1:18006\n"
			  "proxmox_user = root@pam\n"
			  "proxmox_pass = SuPeRs3cr3t-pve\n"
			  "[ONTAP01]\n"
			  "host = 127.0.0.1:18443\n"
			  "user = admin\n"
			  "pass = SuPeRs3cr3t#1\n"
			  "[paths]\n"
			  "pve_etc = /t/etc/pve\n"
			  "queue = /t/queue\n";
	const char *bad = "[paths]\nmnt = relative/dir\n";
	struct config *c = NULL;

	(void)state;
	assert_int_equal(config_parse_ini("c.ini", ini, strlen(ini), &c), 0);
	assert_int_equal(c->pve.port, 18006);
	assert_int_equal(c->nontap, 1);
	assert_string_equal(c->ontap[0].host, "127.0.0.1");
	assert_int_equal(c->ontap[0].port, 18443);
	assert_int_equal(c->nstorages, 1);  /* [paths] is not a storage */
	assert_string_equal(c->paths.pve_etc, "/t/etc/pve");
	assert_string_equal(c->paths.queue, "/t/queue");
	config_free(c);
	c = NULL;
	assert_int_equal(config_parse_ini("b.ini", bad, strlen(bad), &c), POE_CONFIG);
	assert_non_null(strstr(err_msg(), "b.ini:2: 'mnt' must be an absolute path"));
	assert_null(c);
}

static const char ini_example[] = "[proxmox]\n"
	"# Proxmox PVE API\n"
	"proxmox_host = 172.16.60.128\n"
	"proxmox_user = root@pam\n"
	"proxmox_pass = SuPeRs3cr3t-pve\n"
	"proxmox_verify = false\n"
	"\n"
	"; each section is a PVE storage id\n"
	"[ONTAP01]\n"
	"host = 192.168.38.50\n"
	"user = admin\n"
	"pass = SuPeRs3cr3t#1\n"
	"verify = false\n"
	"\n"
	"[BACKUP01]\n"
	"Host: 192.168.38.51\n"
	"user = admin\n"
	"pass = other-pass\n";

static void test_ini(void **state)
{
	struct config *c = NULL;
	const struct config_storage *s;

	(void)state;
	assert_int_equal(config_parse_ini("c.ini", ini_example, strlen(ini_example), &c), 0);
	assert_true(c->from_ini);
	assert_string_equal(c->pve.host, "172.16.60.128");
	assert_int_equal(c->pve.port, 8006);
	assert_string_equal(c->pve.user, "root@pam");
	assert_string_equal(c->pve.password, "SuPeRs3cr3t-pve");
	assert_false(c->pve.verify);
	assert_int_equal(c->nontap, 2);
	assert_int_equal(c->nstorages, 2);
	s = config_storage_find(c, "ONTAP01");
	assert_non_null(s);
	assert_int_equal(s->protocol, STORAGE_NFS);
	assert_null(s->svm);
	assert_string_equal(s->ontap_name, "ONTAP01");
	assert_non_null(s->ontap);
	assert_string_equal(s->ontap->host, "192.168.38.50");
	assert_string_equal(s->ontap->user, "admin");
	assert_string_equal(s->ontap->password, "SuPeRs3cr3t#1");
	assert_false(s->ontap->verify);
	assert_int_equal(s->ontap->port, 443);
	s = config_storage_find(c, "BACKUP01");
	assert_non_null(s);
	assert_string_equal(s->ontap->host, "192.168.38.51");
	assert_true(s->ontap->verify);
	assert_string_equal(c->paths.queue, "/var/lib/pve-ontap/queue");
	assert_int_equal(c->watch.reconcile_s, 60);
	config_free(c);
}

/* host:port as proxmoxer takes it, [DEFAULT] inherited */
static void test_ini_defaults_and_host_port(void **state)
{
	struct config *c = NULL;
	const char *t = "[DEFAULT]\nuser = admin\nverify = yes\n"
			"[proxmox]\nproxmox_host = pve1.example:8443\n"
			"[S1]\nhost = h\npass = xyzzy-1\n";

	(void)state;
	assert_int_equal(config_parse_ini("c.ini", t, strlen(t), &c), 0);
	assert_string_equal(c->pve.host, "pve1.example");
	assert_int_equal(c->pve.port, 8443);
	assert_string_equal(c->ontap[0].user, "admin");
	assert_true(c->ontap[0].verify);
	config_free(c);
}

/* Parse ini text that must fail and compare the message. */
static void expect_ini_error(const char *text, const char *msg)
{
	struct config *c = NULL;

	assert_int_equal(config_parse_ini("c.ini", text, strlen(text), &c), POE_CONFIG);
	assert_string_equal(err_msg(), msg);
}

/* errors name file:line */
static void test_ini_errors(void **state)
{
	(void)state;
	expect_ini_error("[proxmox]\nproxmox_host = h\n[ONTAP01]\nhost = h\nuser = u\npass = pppp1\n"
			 "verify = perhaps\n",
			 "c.ini:7: 'verify' must be true or false, not 'perhaps'");
	expect_ini_error("host = h\n", "c.ini:1: a key outside of a section");
	expect_ini_error("[S1]\nhost = h\nuser = u\npass = pppp1\n[S1]\n",
			 "c.ini:5: duplicate section [S1] (first at line 1)");
	expect_ini_error("[S1]\nhost = h\nuser = u\npass = pppp1\nhost = i\n",
			 "c.ini:5: duplicate key 'host' in [S1] (first at line 2)");
	expect_ini_error("[S1]\nhost = h\njunk line\n", "c.ini:3: expected 'key = value'");
	expect_ini_error("[S1]\nhost = h\nuser = u\n", "c.ini:1: [S1] has no 'pass'");
	expect_ini_error("[9bad]\nhost = h\nuser = u\npass = pppp1\n",
			 "c.ini:1: '9bad' is not a PVE storage id ([A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9])");
	expect_ini_error("[S1\n", "c.ini:1: bad section header (expected [name])");
}

static void test_ini_load(void **state)
{
	struct config *c = NULL;
	char want[512];
	char *path;

	(void)state;
	/* config_load() picks the format by name, with the same permission rule */
	path = write_file("config.ini", ini_example, 0644);
	assert_int_equal(config_load(path, &c), POE_CONFIG);
	snprintf(want, sizeof(want),
		 "config file '%s' holds a password and is readable by its group and others (mode 0644): "
		 "chmod 600 it",
		 path);
	assert_string_equal(err_msg(), want);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(config_load(path, &c), 0);
	assert_true(c->from_ini);
	assert_non_null(config_storage_find(c, "BACKUP01"));
	config_free(c);
	free(path);
}

static void test_search_order(void **state)
{
	char *a = write_file("a.yaml", "pve:\n  host: from-a\n", 0600);
	char *b = write_file("b.yaml", "pve:\n  host: from-b\n", 0600);
	char *big;
	struct config *c = NULL;

	(void)state;
	setenv("PVE_ONTAP_CONFIG", b, 1);
	assert_int_equal(config_load(a, &c), 0);
	assert_string_equal(c->pve.host, "from-a");
	config_free(c);
	assert_int_equal(config_load(NULL, &c), 0);
	assert_string_equal(c->pve.host, "from-b");
	assert_string_equal(c->file, b);
	config_free(c);
	assert_int_equal(config_load("", &c), 0);
	assert_string_equal(c->pve.host, "from-b");
	config_free(c);
	unsetenv("PVE_ONTAP_CONFIG");

	/* an explicit file that is not there */
	free(a);
	a = util_xasprintf("%s/missing.yaml", tmpdir);
	assert_int_equal(config_load(a, &c), POE_CONFIG);
	assert_null(c);
	assert_non_null(strstr(err_msg(), "cannot load the configuration: "));
	assert_non_null(strstr(err_msg(), "missing.yaml"));

	/* over 1 MiB */
	big = util_xmalloc((1 << 20) + 16);
	memset(big, '#', (1 << 20) + 15);
	big[(1 << 20) + 15] = '\0';
	free(b);
	b = write_file("big.yaml", big, 0600);
	assert_int_equal(config_load(b, &c), POE_CONFIG);
	assert_non_null(strstr(err_msg(), "larger than"));
	free(big);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors_file_line_col),
		cmocka_unit_test(test_all_errors_collected),
		cmocka_unit_test(test_password_permissions),
		cmocka_unit_test(test_path_is_under),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_ini),
		cmocka_unit_test(test_ini_defaults_and_host_port),
		cmocka_unit_test(test_ini_errors),
		cmocka_unit_test(test_ini_load),
		cmocka_unit_test(test_ini_paths_and_ports),
		cmocka_unit_test(test_search_order),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
