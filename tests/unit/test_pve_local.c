/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the local PVE reader (lib/pve/pve_local.c): VM configs and storage.cfg. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "pve/pve.h"
#include "testutil.h"
#include "base/util.h"

/* reference/pve.md §7, plus a snapshot section, as PVE writes it. */
static const char conf_ref[] =
	"#web server\n"
	"boot: order=scsi0;net0\n"
	"cores: 4\n"
	"efidisk0: ONTAP01:100/vm-100-disk-1.raw,efitype=4m,pre-enrolled-keys=1,size=528K\n"
	"hookscript: local:snippets/pve-ontap\n"
	"memory: 8192\n"
	"name: web01\n"
	"net0: virtio=BC:24:11:2C:69:EC,bridge=vmbr0\n"
	"parent: pre-upgrade\n"
	"scsi0: ONTAP01:100/vm-100-disk-0.raw,discard=on,iothread=1,size=32G\n"
	"scsihw: virtio-scsi-single\n"
	"tpmstate0: ONTAP01:100/vm-100-disk-2.raw,size=4M,version=v2.0\n"
	"unused0: ONTAP01:100/vm-100-disk-0-snap-hourly-20240313T144247Z.raw\n"
	"virtio1: ONTAP01:100/vm-100-disk-3.raw,size=100G\n"
	"\n"
	"[pre-upgrade]\n"
	"boot: order=scsi0;net0\n"
	"cores: 2\n"
	"scsi0: ONTAP01:100/vm-100-disk-0.raw,discard=on,iothread=1,size=32G\n"
	"scsi5: OLD:100/vm-100-disk-9.raw,size=1G\n"
	"snaptime: 1710340967\n"
	"vmstate: ONTAP01:100/vm-100-state-pre-upgrade.raw\n";

static const struct pve_drive *find_drive(const struct pve_vmconf *c, const char *key)
{
	for (int i = 0; i < c->ndrives; i++)
		if (!strcmp(c->drives[i].key, key))
			return &c->drives[i];
	return NULL;
}

static void test_reference_example(void **state)
{
	struct pve_vmconf *c = NULL;
	const struct pve_drive *d;

	(void)state;
	assert_int_equal(pve_vmconf_parse(conf_ref, strlen(conf_ref), 100, &c), 0);
	assert_non_null(c);
	assert_int_equal(c->vmid, 100);
	assert_int_equal(c->ndrives, 5);
	assert_string_equal(c->name, "web01");
	assert_string_equal(c->hookscript, "local:snippets/pve-ontap");
	assert_null(c->lock);
	assert_false(c->agent);

	d = find_drive(c, "scsi0");
	assert_non_null(d);
	assert_string_equal(d->volid, "ONTAP01:100/vm-100-disk-0.raw");
	assert_string_equal(d->storage, "ONTAP01");
	assert_string_equal(d->volume, "100/vm-100-disk-0.raw");
	assert_string_equal(d->options, "discard=on,iothread=1,size=32G");
	assert_false(d->is_cdrom);
	assert_false(d->is_unused);
	assert_false(d->backup_off);

	d = find_drive(c, "efidisk0");
	assert_non_null(d);
	assert_string_equal(d->volume, "100/vm-100-disk-1.raw");
	assert_string_equal(d->options, "efitype=4m,pre-enrolled-keys=1,size=528K");

	d = find_drive(c, "tpmstate0");
	assert_non_null(d);
	assert_string_equal(d->volume, "100/vm-100-disk-2.raw");

	d = find_drive(c, "unused0");
	assert_non_null(d);
	assert_true(d->is_unused);
	assert_string_equal(d->volume, "100/vm-100-disk-0-snap-hourly-20240313T144247Z.raw");
	assert_string_equal(d->options, "");

	d = find_drive(c, "virtio1");
	assert_non_null(d);
	assert_string_equal(d->options, "size=100G");

	/* the snapshot section is not the live config */
	assert_null(find_drive(c, "scsi5"));
	pve_vmconf_free(c);
}

static void test_pending_and_cloudinit_sections(void **state)
{
	static const char conf[] =
		"agent: 1\n"
		"ide2: ONTAP01:100/vm-100-cloudinit.qcow2,media=cdrom\n"
		"ide0: local-lvm:vm-100-cloudinit,media=cdrom,size=4M\n"
		"lock: backup\n"
		"scsi0: ONTAP01:100/vm-100-disk-0.raw,size=8G\n"
		"\n"
		"[PENDING]\n"
		"delete: scsi0\n"
		"scsi1: ONTAP01:100/vm-100-disk-7.raw,size=8G\n"
		"\n"
		"[special:cloudinit]\n"
		"ipconfig0: ip=dhcp\n"
		"scsi2: ONTAP01:100/vm-100-disk-8.raw\n";
	struct pve_vmconf *c = NULL;
	const struct pve_drive *d;

	(void)state;
	assert_int_equal(pve_vmconf_parse(conf, strlen(conf), 100, &c), 0);
	assert_int_equal(c->ndrives, 3);
	assert_true(c->agent);
	assert_string_equal(c->lock, "backup");
	d = find_drive(c, "ide2");
	assert_true(d->is_cdrom);
	d = find_drive(c, "ide0");
	assert_true(d->is_cdrom);
	assert_string_equal(d->storage, "local-lvm");
	assert_string_equal(d->volume, "vm-100-cloudinit");
	d = find_drive(c, "scsi0");
	assert_false(d->is_cdrom);
	assert_null(find_drive(c, "scsi1"));
	assert_null(find_drive(c, "scsi2"));
	pve_vmconf_free(c);
}

static void test_cdrom_path_and_options(void **state)
{
	static const char conf[] =
		"#multi-line description with: colons\n"
		"#scsi9: FAKE:100/vm-100-disk-9.raw\n"
		"agent: enabled=1,fstrim_cloned_disks=1\n"
		"ide2: none,media=cdrom\n"
		"ide3: cdrom,media=cdrom\n"
		"sata0: local:iso/debian-12.iso,media=cdrom,size=600M\n"
		"sata1: /dev/disk/by-id/nvme-uuid.1b4e28ba-2fa1-11d2-883f-0016d3cca427,size=20G\n"
		"scsi1: file=ONTAP01:100/vm-100-disk-4.raw,backup=0,ssd=1\n"
		"scsi2: cache=none,file=ONTAP01:100/vm-100-disk-5.qcow2\n"
		"scsi30: ONTAP01:100/vm-100-disk-6.raw,backup=no\n"
		"scsi31: ONTAP01:100/vm-100-disk-99.raw\n"
		"virtio15: ONTAP01:100/vm-100-disk-0-snapshot-2024-03-13_14:42:47+0000.raw,"
		"size=1G\n"
		"virtio16: ONTAP01:100/vm-100-disk-98.raw\n"
		"unused255: ONTAP01:100/vm-100-disk-10.raw\n"
		"unused256: ONTAP01:100/vm-100-disk-11.raw\n"
		"sata6: ONTAP01:100/vm-100-disk-12.raw\n"
		"ide4: ONTAP01:100/vm-100-disk-13.raw\n"
		"net0: virtio=BC:24:11:2C:69:EC,bridge=vmbr0\n"
		"not a key line\n"
		"   \n";
	struct pve_vmconf *c = NULL;
	const struct pve_drive *d;

	(void)state;
	assert_int_equal(pve_vmconf_parse(conf, strlen(conf), 100, &c), 0);
	assert_true(c->agent);
	assert_int_equal(c->ndrives, 9);
	assert_null(find_drive(c, "scsi9"));

	d = find_drive(c, "ide2");
	assert_true(d->is_cdrom);
	assert_string_equal(d->volid, "none");
	assert_null(d->storage);
	d = find_drive(c, "ide3");
	assert_true(d->is_cdrom);
	d = find_drive(c, "sata0");
	assert_true(d->is_cdrom);
	assert_string_equal(d->storage, "local");

	d = find_drive(c, "sata1");
	assert_false(d->is_cdrom);
	assert_null(d->storage);
	assert_null(d->volume);
	assert_string_equal(d->volid,
			    "/dev/disk/by-id/nvme-uuid.1b4e28ba-2fa1-11d2-883f-0016d3cca427");
	assert_string_equal(d->options, "size=20G");

	d = find_drive(c, "scsi1");
	assert_string_equal(d->volid, "ONTAP01:100/vm-100-disk-4.raw");
	assert_true(d->backup_off);
	assert_string_equal(d->options, "backup=0,ssd=1");

	d = find_drive(c, "scsi2");
	assert_string_equal(d->volume, "100/vm-100-disk-5.qcow2");
	assert_string_equal(d->options, "cache=none");
	assert_false(d->backup_off);

	d = find_drive(c, "scsi30");
	assert_true(d->backup_off);

	d = find_drive(c, "virtio15");
	assert_string_equal(d->storage, "ONTAP01");
	assert_string_equal(d->volume, "100/vm-100-disk-0-snapshot-2024-03-13_14:42:47+0000.raw");

	d = find_drive(c, "unused255");
	assert_true(d->is_unused);
	assert_null(find_drive(c, "scsi31"));
	assert_null(find_drive(c, "virtio16"));
	assert_null(find_drive(c, "unused256"));
	assert_null(find_drive(c, "sata6"));
	assert_null(find_drive(c, "ide4"));
	pve_vmconf_free(c);
}

static void test_agent_values(void **state)
{
	static const struct {
		const char *conf;
		bool on;
	} cases[] = {
		{ "agent: 1\n", true },
		{ "agent: 0\n", false },
		{ "agent: enabled=1\n", true },
		{ "agent: enabled=0,fstrim_cloned_disks=1\n", false },
		{ "agent: fstrim_cloned_disks=1,enabled=1\n", true },
		{ "agent: 1,type=virtio\n", true },
		{ "agent: type=isa\n", false },
		{ "cores: 1\n", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pve_vmconf *c = NULL;

		assert_int_equal(pve_vmconf_parse(cases[i].conf, strlen(cases[i].conf), 101, &c),
				 0);
		assert_int_equal(c->agent, cases[i].on);
		pve_vmconf_free(c);
	}
}

static void test_drive_keys(void **state)
{
	(void)state;
	assert_true(pve_is_drive_key("scsi0"));
	assert_true(pve_is_drive_key("scsi30"));
	assert_false(pve_is_drive_key("scsi31"));
	assert_false(pve_is_drive_key("scsi01"));
	assert_false(pve_is_drive_key("scsi"));
	assert_false(pve_is_drive_key("scsihw"));
	assert_true(pve_is_drive_key("virtio15"));
	assert_false(pve_is_drive_key("virtio16"));
	assert_true(pve_is_drive_key("sata5"));
	assert_false(pve_is_drive_key("sata6"));
	assert_true(pve_is_drive_key("ide3"));
	assert_false(pve_is_drive_key("ide4"));
	assert_true(pve_is_drive_key("efidisk0"));
	assert_false(pve_is_drive_key("efidisk1"));
	assert_true(pve_is_drive_key("tpmstate0"));
	assert_true(pve_is_drive_key("unused0"));
	assert_true(pve_is_drive_key("unused255"));
	assert_false(pve_is_drive_key("unused256"));
	assert_false(pve_is_drive_key("unused99999999999999999999"));
	assert_false(pve_is_drive_key("net0"));
	assert_false(pve_is_drive_key(NULL));
}

static void test_bad_input(void **state)
{
	static const char nul[] = "scsi0: A:100/x.raw\0\nname: x\n";
	static const char nofile[] = "scsi0: size=32G,ssd=1\n";
	struct pve_vmconf *c = NULL;

	(void)state;
	assert_int_equal(pve_vmconf_parse(nul, sizeof(nul) - 1, 100, &c), POE_FAIL);
	assert_null(c);
	assert_int_equal(pve_vmconf_parse(nofile, strlen(nofile), 100, &c), POE_FAIL);
	assert_non_null(strstr(err_msg(), "scsi0"));
	assert_null(c);
	/* empty is a valid (empty) config */
	assert_int_equal(pve_vmconf_parse("", 0, 100, &c), 0);
	assert_int_equal(c->ndrives, 0);
	pve_vmconf_free(c);
	/* invalid storage id: kept as an opaque volid */
	assert_int_equal(pve_vmconf_parse("scsi0: 1bad:100/x.raw\n", 21, 100, &c), 0);
	assert_null(c->drives[0].storage);
	assert_string_equal(c->drives[0].volid, "1bad:100/x.raw");
	pve_vmconf_free(c);
}

static char *make_tree(void)
{
	char *root = testutil_mkdtemp("test_pve_local");

	assert_non_null(root);
	return root;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_load_local_and_other_node(void **state)
{
	char *root = make_tree();
	char *p;
	struct pve_vmconf *c = NULL;

	(void)state;
	p = util_xasprintf("%s/nodes/pve1/qemu-server", root);
	assert_int_equal(util_mkdir_p(p, 0755), 0);
	free(p);
	p = util_xasprintf("%s/nodes/pve2/qemu-server", root);
	assert_int_equal(util_mkdir_p(p, 0755), 0);
	free(p);
	p = util_xasprintf("%s/qemu-server", root);
	assert_int_equal(symlink("nodes/pve1/qemu-server", p), 0);
	free(p);
	p = util_xasprintf("%s/nodes/pve1/qemu-server/100.conf", root);
	write_file(p, conf_ref);
	free(p);
	p = util_xasprintf("%s/nodes/pve2/qemu-server/200.conf", root);
	write_file(p, "name: remote\nvirtio0: ONTAP01:200/vm-200-disk-0.raw\n");
	free(p);

	assert_int_equal(pve_vmconf_load(root, 100, &c), 0);
	/* the qemu-server link names the local node: no API call needed to learn it */
	assert_string_equal(c->node, "pve1");
	assert_string_equal(c->name, "web01");
	assert_non_null(strstr(c->path, "/qemu-server/100.conf"));
	pve_vmconf_free(c);
	assert_true(pve_vm_is_local(root, 100));

	assert_int_equal(pve_vmconf_load(root, 200, &c), 0);
	assert_string_equal(c->node, "pve2");
	assert_string_equal(c->drives[0].key, "virtio0");
	pve_vmconf_free(c);
	assert_false(pve_vm_is_local(root, 200));

	assert_int_equal(pve_vmconf_load(root, 300, &c), POE_NOTFOUND);
	assert_null(c);
	assert_non_null(strstr(err_msg(), "300"));
	assert_false(pve_vm_is_local(root, 300));

	testutil_rm_rf(root);
	free(root);
}

static void test_load_too_big(void **state)
{
	char *root = make_tree();
	char *p = util_xasprintf("%s/qemu-server", root);
	struct pve_vmconf *c = NULL;
	FILE *f;

	(void)state;
	assert_int_equal(util_mkdir_p(p, 0755), 0);
	free(p);
	p = util_xasprintf("%s/qemu-server/100.conf", root);
	f = fopen(p, "w");
	assert_non_null(f);
	for (int i = 0; i < 40000; i++)
		fputs("#padding padding padding padding\n", f);
	fclose(f);
	assert_true(pve_vmconf_load(root, 100, &c) < 0);
	assert_null(c);
	free(p);
	testutil_rm_rf(root);
	free(root);
}

static const char storage_cfg[] =
	"dir: local\n"
	"\tpath /var/lib/vz\n"
	"\tcontent iso,vztmpl,backup,snippets\n"
	"\n"
	"lvmthin: local-lvm\n"
	"\tthinpool data\n"
	"\tvgname pve\n"
	"\tcontent rootdir,images\n"
	"\n"
	"# a comment\n"
	"nfs: ONTAP01\n"
	"        export /proxmox_storage01\n"
	"        path /mnt/pve/ONTAP01\n"
	"        server 172.16.60.60\n"
	"        content images\n"
	"        options vers=4.1,nconnect=16\n"
	"        prune-backups keep-all=1\n"
	"\n"
	"nfs: ONTAP02\n"
	"\texport /vol2\n"
	"\tserver 172.16.60.61\n"
	"\tcontent images,iso\n"
	"\tnodes pve1,pve2\n"
	"\tdisable\n"
	"\tfuture-key some value\n"
	"\n"
	"nfs: ONTAP03\n"
	"\texport /vol3\n"
	"\tserver fd00::1\n"
	"\tdisable 0\n"
	"\n"
	"nfs: ONTAP01\n"
	"\texport /dup\n"
	"\n"
	"nfs: 9bad\n"
	"\texport /bad\n";

static void test_storagecfg(void **state)
{
	struct pve_storagecfg *s = NULL;
	const struct pve_storage *st;

	(void)state;
	assert_int_equal(pve_storagecfg_parse(storage_cfg, strlen(storage_cfg), "/tmp/mnt", &s), 0);
	assert_int_equal(s->n, 5);

	st = pve_storagecfg_find(s, "local");
	assert_string_equal(st->type, "dir");
	assert_string_equal(st->path, "/var/lib/vz");
	assert_null(st->server);

	st = pve_storagecfg_find(s, "ONTAP01");
	assert_string_equal(st->type, "nfs");
	assert_string_equal(st->export_path, "/proxmox_storage01");
	assert_string_equal(st->path, "/mnt/pve/ONTAP01");
	assert_string_equal(st->server, "172.16.60.60");
	assert_string_equal(st->content, "images");
	assert_string_equal(st->options, "vers=4.1,nconnect=16");
	assert_null(st->nodes);
	assert_false(st->disabled);

	st = pve_storagecfg_find(s, "ONTAP02");
	assert_string_equal(st->path, "/tmp/mnt/ONTAP02");
	assert_string_equal(st->nodes, "pve1,pve2");
	assert_string_equal(st->content, "images,iso");
	assert_true(st->disabled);
	assert_null(st->options);

	st = pve_storagecfg_find(s, "ONTAP03");
	assert_string_equal(st->server, "fd00::1");
	assert_false(st->disabled);

	st = pve_storagecfg_find(s, "local-lvm");
	assert_null(st->path);
	assert_null(pve_storagecfg_find(s, "9bad"));
	assert_null(pve_storagecfg_find(s, "nope"));
	pve_storagecfg_free(s);

	assert_int_equal(pve_storagecfg_parse("", 0, "/mnt/pve", &s), 0);
	assert_int_equal(s->n, 0);
	pve_storagecfg_free(s);
}

static void test_storagecfg_load(void **state)
{
	char *root = make_tree();
	char *p = util_xasprintf("%s/storage.cfg", root);
	struct pve_storagecfg *s = NULL;

	(void)state;
	assert_int_equal(pve_storagecfg_load(root, "/mnt/pve", &s), POE_NOTFOUND);
	assert_null(s);
	write_file(p, "nfs: X1\n\tserver 10.0.0.1\n\texport /x1\n");
	assert_int_equal(pve_storagecfg_load(root, "/mnt/pve", &s), 0);
	assert_int_equal(s->n, 1);
	assert_string_equal(s->st[0].path, "/mnt/pve/X1");
	pve_storagecfg_free(s);
	free(p);
	testutil_rm_rf(root);
	free(root);
}

/* parse_volname/parse_name_dir of pve-storage (PVE 9), case by case. */
static void test_volname_accepted(void **state)
{
	static const struct {
		const char *v, *owner, *name, *fmt;
		bool base;
	} ok[] = {
		{ "100/vm-100-disk-0.raw", "100", "vm-100-disk-0.raw", "raw", false },
		{ "100/vm-100-disk-0-snap-daily-20261122T101500Z.raw", "100",
		  "vm-100-disk-0-snap-daily-20261122T101500Z.raw", "raw", false },
		{ "100/vm-101-disk-1.qcow2", "100", "vm-101-disk-1.qcow2", "qcow2", false },
		{ "100/base-100-disk-0.vmdk", "100", "base-100-disk-0.vmdk", "vmdk", true },
		{ "100/base-.raw", "100", "base-.raw", "raw", false },
		{ "100/my:disk.raw", "100", "my:disk.raw", "raw", false },
		{ "100/disk.raw.qcow2", "100", "disk.raw.qcow2", "qcow2", false },
		{ "100/base-100-disk-0.raw/101/vm-101-disk-0.qcow2", "101", "vm-101-disk-0.qcow2",
		  "qcow2", false },
		{ "0100/x.raw", "0100", "x.raw", "raw", false },
	};
	struct pve_volname vn;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(pve_volname_parse(ok[i].v, &vn), PVE_VOL_IMAGES);
		assert_string_equal(vn.owner, ok[i].owner);
		assert_string_equal(vn.name, ok[i].name);
		assert_string_equal(vn.format, ok[i].fmt);
		assert_int_equal(vn.is_base, ok[i].base);
	}
	assert_int_equal(pve_volname_parse("iso/debian.iso", &vn), PVE_VOL_OTHER);
	assert_int_equal(pve_volname_parse("snippets/pve-ontap", &vn), PVE_VOL_OTHER);
}

static void test_volname_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"vm-100-disk-0.raw",             /* no owner directory */
		"../100/vm-100-disk-0.raw",
		"100/../101/vm-101-disk-0.raw",  /* linked-clone shape, '..' is no name */
		"abc/vm-100-disk-0.raw",         /* owner not a VMID */
		"1a/vm-100-disk-0.raw",
		"100/sub/vm-100-disk-0.raw",     /* three components */
		"100//vm-100-disk-0.raw",
		"100/vm-100-disk-0.raw/",
		"100/vm-100-disk-0",             /* no format */
		"100/vm-100-disk-0.RAW",         /* the formats are lower case */
		"100/vm-100-disk-0.img",
		"100/.raw",                      /* nothing before the format */
		"100/snap-a-vm-100-disk-0.qcow2", /* a snapshot file */
		"100/vm-100 disk-0.raw",         /* whitespace */
		"100/vm-100-disk-0.raw\t",
		"100/vm-100-\x01.raw",           /* control byte (stricter than PVE) */
		"100/vm-100-\xc3\xa9.raw",       /* non-ASCII (stricter than PVE) */
		"100/base.raw/101/vm-101-disk-0.qcow2/102/x.raw",
		"100/nobase/101/vm-101-disk-0.qcow2", /* the base must parse too */
		"100/base-100-disk-0.raw/x/vm-101-disk-0.qcow2",
		"12345678901234567/x.raw",       /* owner beyond any VMID */
	};
	struct pve_volname vn;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pve_volname_parse(bad[i], &vn), PVE_VOL_INVALID);
		assert_true(vn.why[0] != '\0');
	}
	/* snap-*.qcow2 is refused, snap-*.raw is a name like any other */
	assert_int_equal(pve_volname_parse("100/snap-x.raw", &vn), PVE_VOL_IMAGES);
}

/* parse_volume_id: the storage id has two characters at least. */
static void test_volid_storage_id(void **state)
{
	struct pve_vmconf *c = NULL;
	const char *conf = "scsi0: a:100/vm-100-disk-0.raw\nscsi1: ab:100/vm-100-disk-1.raw\n";

	(void)state;
	assert_int_equal(pve_vmconf_parse(conf, strlen(conf), 100, &c), 0);
	assert_int_equal(c->ndrives, 2);
	assert_null(c->drives[0].storage);
	assert_string_equal(c->drives[1].storage, "ab");
	pve_vmconf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_example),
		cmocka_unit_test(test_pending_and_cloudinit_sections),
		cmocka_unit_test(test_cdrom_path_and_options),
		cmocka_unit_test(test_agent_values),
		cmocka_unit_test(test_drive_keys),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_load_local_and_other_node),
		cmocka_unit_test(test_load_too_big),
		cmocka_unit_test(test_storagecfg),
		cmocka_unit_test(test_storagecfg_load),
		cmocka_unit_test(test_volname_accepted),
		cmocka_unit_test(test_volname_refused),
		cmocka_unit_test(test_volid_storage_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
