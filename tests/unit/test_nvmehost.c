/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "base/err.h"
#include "host/nvmehost.h"
#include "base/util.h"

#define UUID "3f2a6c1e-9b7d-4e21-8a55-0c6d9e1f2b34"
#define UUID_HEX "3f2a6c1e9b7d4e218a550c6d9e1f2b34"
#define OTHER "11111111-2222-3333-4444-555555555555"

struct fixture {
	char root[64];
	struct config *cfg;
};

static void put(const char *root, const char *rel, const char *text, mode_t mode)
{
	char *path = util_xasprintf("%s/%s", root, rel);
	char *dir = util_xstrdup(path);
	FILE *f;

	*strrchr(dir, '/') = '\0';
	assert_int_equal(util_mkdir_p(dir, 0755), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	free(dir);
	free(path);
}

/* A namespace head or path device: node in dev/, attributes in sys/class/block/<name>/. */
static void device(const char *root, const char *name, const char *uuid, const char *nguid,
		   int hidden)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "dev/%s", name);
	put(root, rel, "", 0600);
	if (uuid) {
		snprintf(rel, sizeof(rel), "sys/class/block/%s/uuid", name);
		put(root, rel, uuid, 0444);
	}
	if (nguid) {
		snprintf(rel, sizeof(rel), "sys/class/block/%s/nguid", name);
		put(root, rel, nguid, 0444);
	}
	snprintf(rel, sizeof(rel), "sys/class/block/%s/hidden", name);
	put(root, rel, hidden ? "1\n" : "0\n", 0444);
}

static void set_path(char **slot, const char *root, const char *rel)
{
	free(*slot);
	*slot = util_xasprintf("%s/%s", root, rel);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	strcpy(fx->root, "/tmp/test_nvmehost.XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	fx->cfg = config_new_defaults();
	set_path(&fx->cfg->paths.dev, fx->root, "dev");
	set_path(&fx->cfg->paths.sysfs, fx->root, "sys");
	set_path(&fx->cfg->paths.nvme, fx->root, "bin/nvme");
	set_path(&fx->cfg->paths.hostnqn, fx->root, "etc/nvme/hostnqn");
	assert_int_equal(util_mkdir_p(fx->cfg->paths.dev, 0755), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	const char *argv[] = { "/bin/rm", "-rf", fx->root, NULL };
	pid_t pid = fork();

	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, NULL, 0) < 0)
		;
	config_free(fx->cfg);
	free(fx);
	return 0;
}

static void test_names(void **state)
{
	char u[NVMEHOST_UUID_LEN + 1];

	(void)state;
	assert_true(nvmehost_is_head("nvme0n1"));
	assert_true(nvmehost_is_head("nvme12n345"));
	assert_false(nvmehost_is_head("nvme0c1n1"));
	assert_false(nvmehost_is_head("nvme0n1p1"));
	assert_false(nvmehost_is_head("nvme0"));
	assert_false(nvmehost_is_head("nvmen1"));
	assert_false(nvmehost_is_head("nvme0n"));
	assert_false(nvmehost_is_head("ng0n1"));
	assert_false(nvmehost_is_head("nvme1234567n1"));
	assert_false(nvmehost_is_head("sda"));
	assert_false(nvmehost_is_head("nvme-fabrics"));
	assert_true(util_is_uuid(UUID));
	assert_false(util_is_uuid(UUID_HEX));
	assert_false(util_is_uuid(UUID "0"));
	assert_false(util_is_uuid("3f2a6c1e-9b7d-4e21-8a55-0c6d9e1f2b3g"));

	assert_true(nvmehost_volid_uuid(NULL, "/dev/disk/by-id/nvme-uuid." UUID, u));
	assert_string_equal(u, UUID);
	assert_true(nvmehost_volid_uuid(NULL, "/dev/disk/by-id/nvme-uuid.3F2A6C1E-9B7D-4E21-8A55-0C6D9E1F2B34", u));
	assert_string_equal(u, UUID);
	assert_false(nvmehost_volid_uuid(NULL, "/dev/disk/by-id/nvme-uuid." UUID ",size=1G", u));
	assert_false(nvmehost_volid_uuid(NULL, "ONTAP01:100/vm-100-disk-0.raw", u));
	assert_false(nvmehost_volid_uuid(NULL, "/dev/nvme0n1", u));
	assert_false(nvmehost_volid_uuid(NULL, NULL, u));
}

static void test_volid_below_paths_dev(void **state)
{
	struct fixture *fx = *state;
	char u[NVMEHOST_UUID_LEN + 1];
	char *v = util_xasprintf("%s/disk/by-id/nvme-uuid.%s", fx->cfg->paths.dev, UUID);

	assert_true(nvmehost_volid_uuid(fx->cfg, v, u));
	assert_string_equal(u, UUID);
	assert_false(nvmehost_volid_uuid(NULL, v, u));
	free(v);
}

static void test_sysfs_skips_path_devices(void **state)
{
	struct fixture *fx = *state;
	char dev[512], want[512];

	/* the per-path device carries the same uuid and sorts first: never the answer */
	device(fx->root, "nvme0c0n1", UUID "\n", NULL, 1);
	assert_int_equal(nvmehost_resolve_sysfs(fx->cfg, UUID, dev, sizeof(dev)), POE_NOTFOUND);
	/* a head device marked hidden is not usable either */
	device(fx->root, "nvme0n7", UUID "\n", NULL, 1);
	assert_int_equal(nvmehost_resolve_sysfs(fx->cfg, UUID, dev, sizeof(dev)), POE_NOTFOUND);
	device(fx->root, "nvme0n1", OTHER "\n", NULL, 0);
	device(fx->root, "nvme0n2", "3F2A6C1E-9B7D-4E21-8A55-0C6D9E1F2B34\n", NULL, 0);
	assert_int_equal(nvmehost_resolve_sysfs(fx->cfg, UUID, dev, sizeof(dev)),
			 NVMEHOST_BY_SYSFS);
	snprintf(want, sizeof(want), "%s/nvme0n2", fx->cfg->paths.dev);
	assert_string_equal(dev, want);
	assert_int_equal(nvmehost_resolve(fx->cfg, UUID, dev, sizeof(dev)), NVMEHOST_BY_SYSFS);
	assert_string_equal(dev, want);
	assert_int_equal(nvmehost_resolve_sysfs(fx->cfg, "bad", dev, sizeof(dev)), POE_USAGE);
}

static void test_sysfs_nguid_and_bounds(void **state)
{
	struct fixture *fx = *state;
	char dev[512], want[512], big[600];

	/* no uuid attribute: nguid, with or without dashes */
	device(fx->root, "nvme1n1", NULL, UUID_HEX "\n", 0);
	assert_int_equal(nvmehost_resolve_sysfs(fx->cfg, UUID, dev, sizeof(dev)),
			 NVMEHOST_BY_SYSFS);
	snprintf(want, sizeof(want), "%s/nvme1n1", fx->cfg->paths.dev);
	assert_string_equal(dev, want);
	/* an oversized attribute is not read as a match */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, UUID, strlen(UUID));
	device(fx->root, "nvme1n1", big, "zz", 0);
	assert_int_equal(nvmehost_resolve_sysfs(fx->cfg, UUID, dev, sizeof(dev)), POE_NOTFOUND);
	device(fx->root, "nvme2n1", NULL, "3f2a6c1e-9b7d-4e21-8a55-0c6d9e1f2b34", 0);
	assert_int_equal(nvmehost_resolve_sysfs(fx->cfg, UUID, dev, sizeof(dev)),
			 NVMEHOST_BY_SYSFS);
	/* a device whose node is gone from dev/ is not returned */
	snprintf(want, sizeof(want), "%s/nvme2n1", fx->cfg->paths.dev);
	assert_string_equal(dev, want);
	unlink(want);
	assert_int_equal(nvmehost_resolve_sysfs(fx->cfg, UUID, dev, sizeof(dev)), POE_NOTFOUND);
}

static const char ontapdevices_json[] =
	"Unable to open /dev/nvme0c0n1: No such file or directory\n"
	"{\n  \"ONTAPdevices\": [\n"
	"    {\"Device\": \"/dev/nvme0c0n2\", \"Vserver\": \"svm\", \"Namespace_Path\": \"/vol/x/x\","
	"     \"NSID\": 2, \"UUID\": \"" UUID "\", \"Size\": \"1.07GB\"},\n"
	"    {\"Device\": \"/dev/nvme0n1\", \"Vserver\": \"svm\", \"Namespace_Path\": \"/vol/y/y\","
	"     \"NSID\": 1, \"UUID\": \"" OTHER "\", \"Size\": \"1.07GB\"},\n"
	"    {\"Device\": \"/dev/nvme0n2\", \"Vserver\": \"svm\", \"Namespace_Path\": "
	"\"/vol/pve_vm_100_disk_0/pve_vm_100_disk_0\", \"NSID\": 2, "
	"\"UUID\": \"3F2A6C1E-9B7D-4E21-8A55-0C6D9E1F2B34\", \"Size\": \"1.07GB\"}\n"
	"  ]\n}\n";

static void test_parse_ontapdevices(void **state)
{
	char name[64];

	(void)state;
	assert_int_equal(nvmehost_parse_ontapdevices(ontapdevices_json, strlen(ontapdevices_json),
						     UUID, name, sizeof(name)),
			 0);
	assert_string_equal(name, "nvme0n2");
	assert_int_equal(nvmehost_parse_ontapdevices(ontapdevices_json, strlen(ontapdevices_json),
						     "99999999-2222-3333-4444-555555555555", name,
						     sizeof(name)),
			 POE_NOTFOUND);
	assert_int_equal(nvmehost_parse_ontapdevices("no json here", 12, UUID, name, sizeof(name)),
			 POE_FAIL);
	assert_int_equal(nvmehost_parse_ontapdevices("x {\"ONTAPdevices\": [", 20, UUID, name,
						     sizeof(name)),
			 POE_FAIL);
	assert_int_equal(nvmehost_parse_ontapdevices("{\"Devices\": []}", 15, UUID, name,
						     sizeof(name)),
			 POE_FAIL);
	/* the length bounds the read, not a NUL */
	assert_int_equal(nvmehost_parse_ontapdevices(ontapdevices_json, 40, UUID, name,
						     sizeof(name)),
			 POE_FAIL);
}

static void test_parse_list(void **state)
{
	struct fixture *fx = *state;
	static const char flat[] =
		"{\"Devices\": [{\"NameSpace\": 1, \"DevicePath\": \"/dev/nvme0n1\", "
		"\"UUID\": \"" OTHER "\"}, {\"NameSpace\": 2, \"DevicePath\": \"/dev/nvme0n2\", "
		"\"UUID\": \"" UUID "\"}]}";
	/* nvme-cli 2.x verbose layout, no UUID in the record: sysfs decides */
	static const char nested[] =
		"{\"Devices\": [{\"HostNQN\": \"nqn.x\", \"Subsystems\": [{\"Subsystem\": \"nvme-subsys0\","
		" \"Controllers\": [{\"Controller\": \"nvme0\", \"Paths\": [{\"Path\": \"nvme0c0n3\"}]}],"
		" \"Namespaces\": [{\"NameSpace\": \"nvme0c0n3\"}, {\"NameSpace\": \"nvme0n3\", "
		"\"NSID\": 3}]}]}]}";
	char name[64];

	assert_int_equal(nvmehost_parse_list(NULL, flat, strlen(flat), UUID, name, sizeof(name)),
			 0);
	assert_string_equal(name, "nvme0n2");
	assert_int_equal(nvmehost_parse_list(fx->cfg, nested, strlen(nested), UUID, name,
					     sizeof(name)),
			 POE_NOTFOUND);
	device(fx->root, "nvme0c0n3", UUID, NULL, 1);
	device(fx->root, "nvme0n3", UUID, NULL, 0);
	assert_int_equal(nvmehost_parse_list(fx->cfg, nested, strlen(nested), UUID, name,
					     sizeof(name)),
			 0);
	assert_string_equal(name, "nvme0n3");
	assert_int_equal(nvmehost_parse_list(NULL, "{\"Devices\": [}", 14, UUID, name,
					     sizeof(name)),
			 POE_FAIL);
}

static void fake_nvme(const struct fixture *fx, const char *script)
{
	put(fx->root, "bin/nvme", script, 0755);
}

static void test_resolve_falls_back(void **state)
{
	struct fixture *fx = *state;
	char dev[512], want[512], script[1024];

	put(fx->root, "ontapdevices.json", ontapdevices_json, 0644);
	device(fx->root, "nvme0n2", NULL, NULL, 0); /* no uuid/nguid in sysfs */
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n[ \"$1\" = netapp ] && exec /bin/cat %s/ontapdevices.json\n"
		 "echo '{\"Devices\": []}'\n",
		 fx->root);
	fake_nvme(fx, script);
	snprintf(want, sizeof(want), "%s/nvme0n2", fx->cfg->paths.dev);
	assert_int_equal(nvmehost_resolve(fx->cfg, UUID, dev, sizeof(dev)),
			 NVMEHOST_BY_ONTAPDEVICES);
	assert_string_equal(dev, want);
	/* no plugin: nvme list */
	fake_nvme(fx, "#!/bin/sh\n[ \"$1\" = netapp ] && { echo 'Invalid sub-command' >&2; exit 1; }\n"
		      "echo '{\"Devices\": [{\"DevicePath\": \"/dev/nvme0n2\", \"UUID\": \"" UUID
		      "\"}]}'\n");
	assert_int_equal(nvmehost_resolve(fx->cfg, UUID, dev, sizeof(dev)), NVMEHOST_BY_LIST);
	assert_string_equal(dev, want);
	/* nothing anywhere */
	fake_nvme(fx, "#!/bin/sh\necho '{\"Devices\": []}'\n");
	assert_int_equal(nvmehost_resolve(fx->cfg, UUID, dev, sizeof(dev)), POE_NOTFOUND);
	assert_non_null(strstr(err_msg(), "ontapdevices"));
}

static void test_hostnqn(void **state)
{
	struct fixture *fx = *state;
	char nqn[NVMEHOST_NQN_MAX + 1], longer[300];

	/* no file and no nvme-cli */
	assert_int_equal(nvmehost_hostnqn(fx->cfg, nqn, sizeof(nqn)), POE_CONFIG);
	/* no file: what "nvme show-hostnqn" prints (validated like the file) */
	fake_nvme(fx, "#!/bin/sh\n[ \"$1\" = show-hostnqn ] || exit 9\n"
		      "echo nqn.2014-08.org.nvmexpress:uuid:" UUID "\n");
	assert_int_equal(nvmehost_hostnqn(fx->cfg, nqn, sizeof(nqn)), 0);
	assert_string_equal(nqn, "nqn.2014-08.org.nvmexpress:uuid:" UUID);
	fake_nvme(fx, "#!/bin/sh\necho 'hostnqn is not available -- use nvme gen-hostnqn' >&2\n"
		      "exit 2\n");
	assert_int_equal(nvmehost_hostnqn(fx->cfg, nqn, sizeof(nqn)), POE_CONFIG);
	assert_non_null(strstr(err_msg(), "gen-hostnqn"));
	fake_nvme(fx, "#!/bin/sh\necho 'not an nqn'\n");
	assert_int_equal(nvmehost_hostnqn(fx->cfg, nqn, sizeof(nqn)), POE_CONFIG);
	put(fx->root, "etc/nvme/hostnqn", "  nqn.2014-08.org.nvmexpress:uuid:" UUID "  \nrest\n", 0644);
	assert_int_equal(nvmehost_hostnqn(fx->cfg, nqn, sizeof(nqn)), 0);
	assert_string_equal(nqn, "nqn.2014-08.org.nvmexpress:uuid:" UUID);
	put(fx->root, "etc/nvme/hostnqn", "iqn.2014-08.org:x\n", 0644);
	assert_int_equal(nvmehost_hostnqn(fx->cfg, nqn, sizeof(nqn)), POE_CONFIG);
	put(fx->root, "etc/nvme/hostnqn", "nqn.2014-08 org\n", 0644);
	assert_int_equal(nvmehost_hostnqn(fx->cfg, nqn, sizeof(nqn)), POE_CONFIG);
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	memcpy(longer, "nqn.", 4);
	put(fx->root, "etc/nvme/hostnqn", longer, 0644);
	assert_int_equal(nvmehost_hostnqn(fx->cfg, nqn, sizeof(nqn)), POE_CONFIG);
}

static void test_connect(void **state)
{
	struct fixture *fx = *state;
	const char *portals[] = { "10.0.0.1", "10.0.0.2", "10.0.0.3" };

	put(fx->root, "etc/nvme/hostnqn", "nqn.2014-08.org.nvmexpress:uuid:" UUID "\n", 0644);
	/* .1 connects, .2 is already connected (exit 114), .3 times out */
	fake_nvme(fx, "#!/bin/sh\ncase \"$5\" in\n"
		      "10.0.0.1) [ \"$7\" = nqn.2014-08.org.nvmexpress:uuid:" UUID " ] || exit 9;"
		      " exit 0;;\n"
		      "10.0.0.2) echo 'already connected' >&2; exit 114;;\n"
		      "*) echo 'Failed to write to /dev/nvme-fabrics: Connection timed out' >&2;"
		      " exit 110;;\nesac\n");
	assert_int_equal(nvmehost_connect(fx->cfg, portals, 3, 0), 2);
	assert_int_equal(nvmehost_connect(fx->cfg, portals + 2, 1, 0), POE_FAIL);
	assert_non_null(strstr(err_msg(), "10.0.0.3"));
	assert_non_null(strstr(err_msg(), "Connection timed out"));
	assert_int_equal(nvmehost_connect(fx->cfg, portals, 0, 0), POE_CONFIG);
	/* the deadline bounds a portal that hangs */
	fake_nvme(fx, "#!/bin/sh\nexec /bin/sleep 10\n");
	assert_int_equal(nvmehost_connect(fx->cfg, portals, 1, util_now_ms() + 300), POE_TIMEOUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_volid_below_paths_dev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sysfs_skips_path_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sysfs_nguid_and_bounds, setup, teardown),
		cmocka_unit_test(test_parse_ontapdevices),
		cmocka_unit_test_setup_teardown(test_parse_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostnqn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
