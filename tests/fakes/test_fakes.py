"""Tests of the fake qm (PVE rescan/set semantics, pve.md 5.1) and the fake nvme."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import nvme as fake_nvme  # noqa: E402
import pvefiles as pf  # noqa: E402

PY = "/usr/bin/python3"


@pytest.fixture
def T(tmp_path):
    T = str(tmp_path)
    pve = os.path.join(T, "etc", "pve")
    os.makedirs(os.path.join(pve, "nodes", "pve1", "qemu-server"))
    os.symlink("nodes/pve1/qemu-server", os.path.join(pve, "qemu-server"))
    vol = os.path.join(T, "sim", "ontap", "vol", "proxmox_storage01")
    os.makedirs(os.path.join(vol, "images"))
    os.makedirs(os.path.join(T, "mnt", "pve"))
    os.symlink(vol, os.path.join(T, "mnt", "pve", "ONTAP01"))
    os.makedirs(os.path.join(T, "var", "lib", "vz", "snippets"))
    os.makedirs(os.path.join(T, "other", "images", "100"))
    with open(os.path.join(pve, "storage.cfg"), "w") as f:
        f.write("dir: local\n\tpath %s/var/lib/vz\n\tcontent iso,snippets\n\n"
                "nfs: ONTAP01\n\texport /proxmox_storage01\n\tpath %s/mnt/pve/ONTAP01\n"
                "\tserver 127.0.0.1\n\tcontent images\n\toptions vers=4.1\n\n"
                "dir: other\n\tpath %s/other\n\tcontent iso\n" % (T, T, T))
    return T


def img(T, vmid, name, data=b"x" * 1024, base=None):
    d = os.path.join(base or os.path.join(T, "mnt", "pve", "ONTAP01"), "images", str(vmid))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    return os.path.join(d, name)


def conf(T, vmid, text):
    with open(os.path.join(T, "etc", "pve", "qemu-server", "%d.conf" % vmid), "w") as f:
        f.write(text)


def readconf(T, vmid):
    return open(os.path.join(T, "etc", "pve", "qemu-server", "%d.conf" % vmid)).read()


def qm(T, *args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([PY, os.path.join(HERE, "qm.py"), "--root", T] + list(args),
                          capture_output=True, text=True, env=e, timeout=30)


def nvme(T, *args):
    return subprocess.run([PY, os.path.join(HERE, "nvme.py"), "--root", T] + list(args),
                          capture_output=True, text=True, timeout=30)


BASE = ("boot: order=scsi0\nide2: ONTAP01:iso/x.iso,media=cdrom\nname: web\n"
        "scsi0: ONTAP01:100/vm-100-disk-0.raw,iothread=1,size=1K\n")


# ------------------------------------------------------------------------ qm rescan

def test_rescan_adds_lowest_free_unused_and_logs(T):
    img(T, 100, "vm-100-disk-0.raw")
    img(T, 100, "vm-100-disk-0-snap-daily-20261122T101500Z.raw")
    img(T, 100, "vm-100-disk-0-snap-hourly-20261122T111500Z.raw")
    img(T, 100, "vm-100-state-suspend-2026-01-01.raw")       # state volumes are skipped
    img(T, 100, "empty.raw", b"")                             # size 0 is skipped
    img(T, 100, "snap-vm-100-disk-0.qcow2", b"QFI\xfb" + b"\0" * 60)  # PVE 9 rejects
    img(T, 100, "has space.raw")                              # rejected name
    img(T, 100, "readme.txt")                                 # no image extension
    img(T, 101, "vm-101-disk-0.raw")                          # other VM
    img(T, 100, "vm-100-disk-5.raw", base=os.path.join(T, "other"))  # no images content
    conf(T, 100, BASE + "unused1: ONTAP01:100/elsewhere.raw\n")
    r = qm(T, "rescan", "--vmid", "100")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "rescan volumes...",
        "VM 100 add unreferenced volume 'ONTAP01:100/vm-100-disk-0-snap-daily-"
        "20261122T101500Z.raw' as 'unused0' to config",
        "VM 100 add unreferenced volume 'ONTAP01:100/vm-100-disk-0-snap-hourly-"
        "20261122T111500Z.raw' as 'unused2' to config"]
    c = pf.VmConfig.parse(readconf(T, 100)).main
    assert c["unused0"].endswith("daily-20261122T101500Z.raw")
    assert c["unused1"] == "ONTAP01:100/elsewhere.raw"
    assert c["unused2"].endswith("hourly-20261122T111500Z.raw")
    assert c["ide2"] == "ONTAP01:iso/x.iso,media=cdrom"
    assert json.loads(open(os.path.join(T, "qm.log")).read()) == ["rescan", "--vmid", "100"]
    # second run: nothing to do, file unchanged
    before = readconf(T, 100)
    r = qm(T, "disk", "rescan", "--vmid", "100")
    assert r.returncode == 0 and r.stdout == "rescan volumes...\n" and readconf(T, 100) == before


def test_rescan_drops_unused_that_is_attached_and_updates_size(T):
    img(T, 100, "vm-100-disk-0.raw", b"x" * 2048)
    conf(T, 100, BASE + "unused0: ONTAP01:100/vm-100-disk-0.raw\n")
    r = qm(T, "rescan", "--vmid", "100")
    assert r.returncode == 0, r.stderr
    assert "VM 100 (scsi0): size of disk 'ONTAP01:100/vm-100-disk-0.raw' updated from 1K " \
           "to 2K" in r.stdout
    assert "VM 100 remove entry 'unused0', its volume 'ONTAP01:100/vm-100-disk-0.raw' is " \
           "in use" in r.stdout
    c = pf.VmConfig.parse(readconf(T, 100)).main
    assert "unused0" not in c and c["scsi0"] == \
        "ONTAP01:100/vm-100-disk-0.raw,iothread=1,size=2K"


def test_rescan_dryrun_writes_nothing(T):
    img(T, 100, "vm-100-disk-0.raw")
    img(T, 100, "vm-100-disk-1.raw")
    conf(T, 100, BASE)
    r = qm(T, "rescan", "--vmid", "100", "--dryrun")
    assert r.returncode == 0
    assert r.stdout.startswith("NOTE: running in dry-run mode, won't write changes out!\n")
    assert "as 'unused0'" in r.stdout and readconf(T, 100) == BASE


def test_rescan_locked_vm_and_flock(T):
    img(T, 100, "vm-100-disk-1.raw")
    conf(T, 100, BASE + "lock: backup\n")
    r = qm(T, "rescan", "--vmid", "100")
    assert r.returncode == 255 and r.stderr == "VM is locked (backup)\n"
    conf(T, 100, BASE)
    open(os.path.join(T, "lock-100"), "w").close()
    r = qm(T, "rescan", "--vmid", "100", env={"QM_LOCK_TIMEOUT": "0.1"})
    assert r.returncode == 255
    assert r.stderr == "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout\n"
    assert readconf(T, 100) == BASE
    os.unlink(os.path.join(T, "lock-100"))
    assert qm(T, "rescan", "--vmid", "100").returncode == 0
    assert not os.path.exists(os.path.join(T, "lock-100"))


def test_rescan_keeps_snapshot_sections_and_description(T):
    img(T, 100, "vm-100-disk-0.raw")
    img(T, 100, "vm-100-disk-1.raw")
    text = ("#my vm%3A prod\n" + BASE + "parent: before\n\n[before]\nname: web\n"
            "scsi0: ONTAP01:100/vm-100-disk-0.raw,size=1K\nsnaptime: 1700000000\n")
    conf(T, 100, text)
    assert qm(T, "rescan", "--vmid", "100").returncode == 0
    out = readconf(T, 100)
    assert out.startswith("#my vm%3A prod\nboot: order=scsi0\n")
    assert "unused0: ONTAP01:100/vm-100-disk-1.raw\n\n[before]\nname: web\n" in out
    assert out.endswith("snaptime: 1700000000\n")
    r = qm(T, "config", "100")
    assert "description: my vm%3A prod" in r.stdout and "digest" not in r.stdout
    r = qm(T, "config", "100", "--snapshot", "before")
    assert r.stdout.splitlines()[0] == "name: web"


def test_rescan_pve8_rules(T):
    # qcow2 header: magic, version, ..., virtual size (bytes 24-31)
    img(T, 100, "snap-x.qcow2", b"QFI\xfb" + b"\0" * 20 + (1 << 20).to_bytes(8, "big"))
    conf(T, 100, BASE)
    img(T, 100, "vm-100-disk-0.raw")
    r = qm(T, "rescan", "--vmid", "100", env={"PVE_FAKE_VERSION": "pve8"})
    assert "snap-x.qcow2' as 'unused0'" in r.stdout


def test_rescan_all_vms(T):
    img(T, 100, "vm-100-disk-0.raw")
    img(T, 100, "vm-100-disk-7.raw")
    img(T, 101, "vm-101-disk-0.raw")
    conf(T, 100, BASE)
    conf(T, 101, "name: b\n")
    r = qm(T, "rescan")
    assert r.returncode == 0
    assert "VM 101 add unreferenced volume 'ONTAP01:101/vm-101-disk-0.raw' as 'unused0'" \
        in r.stdout
    assert "unused0: ONTAP01:100/vm-100-disk-7.raw" in readconf(T, 100)


# ------------------------------------------------------------------------ qm set

def test_set_delete_unused_destroys_owned_image(T):
    clone = img(T, 100, "vm-100-disk-0-snap-a-20261122T101500Z.raw")
    conf(T, 100, BASE + "unused0: ONTAP01:100/vm-100-disk-0-snap-a-20261122T101500Z.raw\n"
             "unused1: ONTAP01:100/gone.raw\n")
    r = qm(T, "set", "100", "--delete", "unused0,unused1")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(clone)
    assert "disk image '%s' does not exist" % os.path.join(
        T, "mnt", "pve", "ONTAP01", "images", "100", "gone.raw") in r.stderr
    assert "unused" not in readconf(T, 100)
    r = qm(T, "set", "100", "--delete", "unused5")
    assert r.returncode == 0 and "cannot delete 'unused5' - not set" in r.stderr


def test_set_delete_unused_referenced_by_snapshot_is_refused(T):
    clone = img(T, 100, "vm-100-disk-0-snap-a-20261122T101500Z.raw")
    volid = "ONTAP01:100/vm-100-disk-0-snap-a-20261122T101500Z.raw"
    conf(T, 100, BASE + "unused0: %s\n\n[s1]\nscsi1: %s,size=1K\n" % (volid, volid))
    r = qm(T, "set", "100", "--delete", "unused0")
    assert r.returncode == 255
    assert "unable to delete '%s' - volume is still in use (snapshot?)" % volid in r.stderr
    assert os.path.exists(clone) and "unused0: " + volid in readconf(T, 100)


def test_set_unused_registers_one_volume(T):
    img(T, 100, "vm-100-disk-0-snap-a-20261122T101500Z.raw")
    img(T, 100, "vm-100-disk-0-snap-b-20261122T101500Z.raw")
    conf(T, 100, BASE)
    r = qm(T, "set", "100", "--unused3", "ONTAP01:100/vm-100-disk-0-snap-a-20261122T101500Z.raw")
    assert r.returncode == 0, r.stderr
    c = readconf(T, 100)
    assert "unused3: ONTAP01:100/vm-100-disk-0-snap-a-20261122T101500Z.raw\n" in c
    assert "snap-b" not in c                       # only that volume, unlike a rescan
    r = qm(T, "set", "100", "--unused4", "not a volid")
    assert r.returncode == 255 and "unused4" in r.stderr


def test_rescan_skips_storage_of_other_nodes(T):
    """storage_check_enabled: a storage whose `nodes` lacks this node is not scanned."""
    os.makedirs(os.path.join(T, "clone", "images", "100"))
    img(T, 100, "vm-100-disk-0.raw", base=os.path.join(T, "clone"))
    img(T, 100, "vm-100-disk-0.raw")
    with open(os.path.join(T, "etc", "pve", "storage.cfg"), "a") as f:
        f.write("\ndir: CLONE\n\tpath %s/clone\n\tcontent images\n\tnodes pve2\n" % T)
    conf(T, 100, BASE)
    r = qm(T, "rescan", "--vmid", "100")
    assert r.returncode == 0, r.stderr
    assert "CLONE:" not in readconf(T, 100)
    with open(os.path.join(T, "etc", "pve", "storage.cfg")) as f:
        assert "\tnodes pve2\n" in f.read()


def test_set_scsi_path_and_volid(T):
    dev = os.path.join(T, "dev", "disk", "by-id")
    os.makedirs(dev)
    with open(os.path.join(T, "dev", "nvme0n1"), "wb") as f:
        f.truncate(1 << 30)
    os.symlink("../../nvme0n1", os.path.join(dev, "nvme-uuid.abc"))
    img(T, 100, "vm-100-disk-0.raw")
    img(T, 100, "vm-100-disk-2.raw", b"y" * (1 << 20))
    conf(T, 100, BASE)
    r = qm(T, "set", "100", "--scsi1", os.path.join(dev, "nvme-uuid.abc") + ",iothread=1")
    assert r.returncode == 0, r.stderr
    r = qm(T, "set", "100", "--scsi2", "ONTAP01:100/vm-100-disk-2.raw")
    assert r.returncode == 0, r.stderr
    c = pf.VmConfig.parse(readconf(T, 100)).main
    assert c["scsi1"] == os.path.join(dev, "nvme-uuid.abc") + ",iothread=1,size=1G"
    assert c["scsi2"] == "ONTAP01:100/vm-100-disk-2.raw,size=1M"
    r = qm(T, "set", "100", "--scsi3", "/nonexistent")
    assert r.returncode == 255 and "volume '/nonexistent' does not exist" in r.stderr
    conf(T, 100, BASE + "lock: suspended\n")
    r = qm(T, "set", "100", "--name", "x")
    assert r.returncode == 255 and r.stderr == "VM is locked (suspended)\n"
    r = qm(T, "set", "100", "--name", "x", "--skiplock")
    assert r.returncode == 0 and "name: x\n" in readconf(T, 100)


def test_set_hookscript_checks_snippet(T):
    conf(T, 100, BASE)
    snip = os.path.join(T, "var", "lib", "vz", "snippets", "pve-ontap")
    r = qm(T, "set", "100", "--hookscript", "local:snippets/pve-ontap")
    assert r.returncode == 255 and "script 'local:snippets/pve-ontap' does not exist" in r.stderr
    open(snip, "w").close()
    r = qm(T, "set", "100", "--hookscript", "local:snippets/pve-ontap")
    assert r.returncode == 255 and "is not executable" in r.stderr
    os.chmod(snip, 0o755)
    r = qm(T, "set", "100", "--hookscript", "local:snippets/pve-ontap")
    assert r.returncode == 0 and "hookscript: local:snippets/pve-ontap\n" in readconf(T, 100)
    r = qm(T, "set", "100", "--hookscript", "local:iso/x.iso")
    assert r.returncode == 255 and "not in the snippets directory" in r.stderr


def test_status_and_faults(T):
    conf(T, 100, BASE)
    assert qm(T, "status", "100").stdout == "status: stopped\n"
    os.makedirs(os.path.join(T, "run", "qemu-server"))
    with open(pf.runtime_state_path(T, 100), "w") as f:
        json.dump({"status": "running", "qmpstatus": "paused", "pid": 7}, f)
    r = qm(T, "status", "100", "--verbose")
    assert r.stdout.splitlines()[:2] == ["status: running", "qmpstatus: paused"]
    r = qm(T, "status", "999")
    assert r.returncode == 255 and "Configuration file 'nodes/pve1/qemu-server/999.conf' " \
                                   "does not exist" in r.stderr
    with open(os.path.join(T, "qm-faults.json"), "w") as f:
        json.dump([{"match": ["rescan"], "exit": 255, "stderr": "boom\n", "count": 1}], f)
    r = qm(T, "rescan", "--vmid", "100")
    assert r.returncode == 255 and r.stderr == "boom\n"
    assert qm(T, "rescan", "--vmid", "100").returncode == 0
    calls = [json.loads(x) for x in open(os.path.join(T, "qm.log"))]
    assert calls[-1] == ["rescan", "--vmid", "100"] and len(calls) == 5


# ------------------------------------------------------------------------ nvme

UUID = "5f6e3b1a-8c2d-4e9f-a1b2-c3d4e5f60718"


def test_nvme_connect_list_ontapdevices_disconnect(T):
    fake_nvme.set_portal(T, "10.0.0.1", reachable=True, connected=False)
    fake_nvme.set_portal(T, "10.0.0.9", reachable=False)
    assert fake_nvme.add_device(T, UUID, "/vol/pve_vm_100_disk_0/pve_vm_100_disk_0",
                                1 << 30, "10.0.0.1") is None
    assert not os.path.exists(os.path.join(T, "dev", "nvme0n1"))
    r = nvme(T, "connect-all", "-t", "tcp", "-a", "10.0.0.9")
    assert r.returncode != 0 and "Connection timed out" in r.stderr
    r = nvme(T, "connect-all", "-t", "tcp", "-a", "10.0.0.1", "-s", "4420")
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(os.path.join(T, "dev", "nvme0n1")) == 1 << 30
    assert open(os.path.join(T, "sys", "class", "block", "nvme0n1", "uuid")).read() == \
        UUID + "\n"
    assert os.path.exists(os.path.join(T, "sys", "class", "block", "nvme0n1", "nguid"))
    assert open(os.path.join(T, "sys", "class", "block", "nvme0c0n1", "hidden")).read() == \
        "1\n"
    assert os.path.realpath(os.path.join(T, "dev", "disk", "by-id", "nvme-uuid." + UUID)) == \
        os.path.join(T, "dev", "nvme0n1")
    r = nvme(T, "connect-all", "--transport=tcp", "--traddr=10.0.0.1")
    assert r.returncode == 0 and "already connected" in r.stderr
    r = nvme(T, "list", "-o", "json")
    d = json.loads(r.stdout)["Devices"][0]
    assert d["DevicePath"] == "/dev/nvme0n1" and d["NameSpace"] == 1 and d["UUID"] == UUID
    r = nvme(T, "netapp", "ontapdevices", "-o", "json")
    first, rest = r.stdout.split("\n", 1)
    assert not first.startswith("{")
    dev = json.loads(rest)["ONTAPdevices"][0]
    assert dev["Device"] == "/dev/nvme0n1" and dev["UUID"] == UUID and dev["NSID"] == 1
    assert dev["Namespace_Path"] == "/vol/pve_vm_100_disk_0/pve_vm_100_disk_0"
    # a namespace mapped while connected appears at once (as with an AEN)
    assert fake_nvme.add_device(T, "11111111-2222-4333-8444-555555555555", "/vol/b/b",
                                1 << 20, "10.0.0.1") == "nvme0n2"
    r = nvme(T, "discover", "-t", "tcp", "-a", "10.0.0.1", "-o", "json")
    assert json.loads(r.stdout)["records"][0]["traddr"] == "10.0.0.1"
    r = nvme(T, "disconnect-all")
    assert r.returncode == 0 and not os.path.exists(os.path.join(T, "dev", "nvme0n1"))
    assert not os.path.exists(os.path.join(T, "sys", "class", "block", "nvme0c0n1"))
    assert json.loads(open(os.path.join(T, "nvme.log")).readline()) == \
        ["connect-all", "-t", "tcp", "-a", "10.0.0.9"]


# ------------------------------------------------------------------------ formats

def test_format_size_and_names():
    assert pf.format_size(1 << 20) == "1M" and pf.format_size(528 << 10) == "528K"
    assert pf.format_size(32 << 30) == "32G" and pf.format_size(1000) == "1000"
    assert pf.parse_name_dir("vm-100-disk-0-snap-daily-20261122T101500Z.raw") == "raw"
    assert pf.parse_name_dir("snap-x.qcow2") is None
    assert pf.parse_name_dir("snap-x.qcow2", "pve8") == "qcow2"
    assert pf.parse_name_dir("a b.raw") is None and pf.parse_name_dir("x.img") is None
    assert pf.parse_volid("ONTAP01:100/a:b.raw") == ("ONTAP01", "100/a:b.raw")


def test_config_applies_pending_values_and_deletions(T):
    # qemu-server API2/Qemu.pm vm_config (what 'qm config' runs): pending values applied,
    # pending deletions removed, unless --current
    conf(T, 100, BASE + "memory: 2048\nnet0: virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0\n"
         "\n[PENDING]\ndelete: net0\nmemory: 4096\n")
    r = qm(T, "config", "100")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "memory: 4096" in lines
    assert not [l for l in lines if l.startswith("net0:")]
    r = qm(T, "config", "100", "--current", "1")
    lines = r.stdout.splitlines()
    assert "memory: 2048" in lines
    assert "net0: virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0" in lines
