# SPDX-License-Identifier: GPL-2.0-or-later
"""`vm restore` is all or nothing, respects PVE's locks, and knows incomplete snapshots
(issue 14 items 3 and 4, issue 15 item 6).

- A clone-back that fails at the first, a middle or the last disk, on either storage of a
  two-storage VM, leaves every disk with its pre-restore bytes (put back from the
  `prerestore` safety snapshot); a mixed NFS+NVMe VM whose CG restore fails gets its NFS
  disks back and a message saying what the NVMe side holds.
- A VM config with a `lock:` line is refused (exit 1, the lock named) before anything is
  sent; --force overrides a stale lock, never `suspended` (hibernated: the saved RAM belongs
  to the current disks).
- A snapshot whose clone of one disk was deleted (PVE's Remove of the Unused Disk frees the
  file, reference/pve.md Additions) is listed as incomplete, and its restore refuses naming
  the disk unless --force, which restores the disks that remain.
"""

import json
import os
import re

import pytest

from test_nvme import BYID, nvme_setup, read_image, write_image

MIB = 1 << 20
VOL2, JUNCTION2, STORAGE2 = "proxmox_storage02", "/proxmox_storage02", "ONTAP02"

# two on each storage; PVE writes the keys sorted, so this is also the order of the disks
# in the config and of the storages in a restore (ONTAP01 first)
DISKS = [
    ("scsi0", "ONTAP01", "vm-100-disk-0.raw", 16 * 1024),
    ("scsi1", "ONTAP01", "vm-100-disk-1.raw", 12 * 1024),
    ("scsi2", STORAGE2, "vm-100-disk-2.raw", 8 * 1024),
    ("scsi3", STORAGE2, "vm-100-disk-3.raw", 4 * 1024),
]
CLONE = r"^/api/storage/file/clone$"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def add_second_storage(env):
    """ONTAP02 on volume proxmox_storage02 of the same SVM, seeded as conftest seeds
    ONTAP01: the volume, the PVE NFS storage ("mounted"), the pve-ontap storage entry."""
    vdir = os.path.join(env.T, "sim", "ontap", "vol", VOL2)
    env.ontap.add_volume("svm1", VOL2, nas_path=JUNCTION2, directory=vdir)
    mnt = os.path.join(env.paths["mnt"], STORAGE2)
    env.pve.add_storage(STORAGE2, "nfs", mount=True, export=JUNCTION2, path=mnt,
                        server="127.0.0.1", content="images")
    assert os.path.realpath(mnt) == os.path.realpath(vdir)
    env.config["storages"][STORAGE2] = {"ontap": "cluster1", "svm": "svm1"}
    env.write_config()


def make_vm(env, disks=DISKS, extra_conf="", status="stopped"):
    """VM 100 with `disks` (key, storage, file, size); returns {key: image path}."""
    first = {k: (f, size) for k, st, f, size in disks if st == "ONTAP01"}
    lines = []
    paths = {}
    for key, st, fname, size in disks:
        if st == "ONTAP01":
            continue
        path = env.image_path(100, fname, storage=st)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write(path, (("%s:" % fname).encode() * size)[:size])
        paths[key] = path
        lines.append("%s: %s:100/%s,size=%dK" % (key, st, fname, size // 1024))
    paths.update(env.add_vm(100, disks=first, status=status,
                            extra_conf="\n".join(lines + [extra_conf]).strip("\n")))
    return paths


def attach_nvme(env, vmid, drives):
    """Put NVMe namespaces {key: uuid} into the VM config as the watcher would."""
    conf_path = os.path.join(env.paths["pve_etc"], "qemu-server", "%d.conf" % vmid)
    with open(conf_path, encoding="utf-8") as f:
        conf = f.read()
    lines = "".join("%s: %s%s,shared=1,size=64M\n" % (k, BYID, u) for k, u in drives.items())
    env.pve.add_vm(vmid, conf.replace("scsihw:", lines + "scsihw:", 1))


def mixed_snapshot(env, nfs, nvme):
    """VM 101 with NFS disks `nfs` (as env.add_vm takes them) and one NVMe disk per
    {key: pool}, each namespace filled with b"<key>"; snapshotted. Returns (NFS image paths,
    {key: uuid}, the snapshot)."""
    paths = env.add_vm(101, disks=nfs)
    uuids = {}
    for key, pool in nvme.items():
        r = env.run("--json", "nvme", "create", "--vm", 101, "--storage", pool, "--size", "64M")
        assert r.returncode == 0, r.stderr
        uuids[key] = json.loads(r.stdout)["uuid"]
    attach_nvme(env, 101, uuids)
    for key, u in uuids.items():
        write_image(env, u, key.encode() * 1024)
    snap = snapshot(env, 101)
    assert sorted((x["disk"], x["kind"]) for x in snap["disks"]) == sorted(
        [(k, "file-clone") for k in nfs] + [(k, "cg-snapshot") for k in nvme])
    return paths, uuids, snap


def snapshot(env, vmid=100, *args):
    r = env.run("--json", "vm", "create", "--vm", vmid, *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def overwrite_all(paths):
    for key, p in paths.items():
        write(p, b"written after the snapshot to %s" % key.encode())
    return {k: read(p) for k, p in paths.items()}


def listing(env, vmid=100):
    r = env.run("--json", "vm", "list", "--vm", vmid)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def files_of(state):
    return {v: info["files"] for v, info in state["volumes"].items()}


def error_line(r):
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("pve-ontap: error: ")]
    assert len(errs) == 1, r.stderr
    return errs[0]


def clone_posts(env):
    return [q for q in env.ontap.requests
            if q["method"] == "POST" and q["path"] == "/api/storage/file/clone"]


def dest_regex(fname):
    return r'"destination_path": *"[^"]*/%s"' % re.escape(fname)


def assert_only_safety_added(env, before, after):
    """ONTAP as before but for one prerestore clone per disk, next to it."""
    b, a = files_of(before), files_of(after)
    added = {v: sorted(set(a[v]) - set(b[v])) for v in a}
    assert {v: [f for f in fs if "-snap-prerestore-" not in f] for v, fs in added.items()} \
        == {v: [] for v in a}, added
    assert sum(len(fs) for fs in added.values()) == len(DISKS), added
    for v in a:
        assert {f: s for f, s in a[v].items() if f in b[v]} == b[v]
    for state in (before, after):
        for info in state["volumes"].values():
            info.pop("files")
    assert after == before


# --------------------------------------------------------------------------------- 14.3

@pytest.mark.parametrize("failing", [d[0] for d in DISKS])
def test_failed_clone_back_puts_every_disk_back(env, failing):
    """The clone-back of one disk fails (first, middle or last disk; either storage):
    every disk, on both storages, holds its pre-restore bytes afterwards."""
    add_second_storage(env)
    paths = make_vm(env)
    snap = snapshot(env)
    assert sorted(d["storage"] for d in snap["disks"]) == ["ONTAP01"] * 2 + [STORAGE2] * 2
    before_bytes = overwrite_all(paths)
    conf = env.vm_config(100)
    before = env.ontap.state_summary()
    fname = [d[2] for d in DISKS if d[0] == failing][0]
    # the first clone with this destination is the restore's; the put-back's comes later
    env.ontap.add_fault("POST", CLONE, "job_fail", count=1, body_regex=dest_regex(fname),
                        code="13565952", message="Clone start failed")
    r = env.run("vm", "restore", "--vm", "100", "--snapshot", snap["name"], "--yes")
    assert r.returncode == 4, r.stderr
    line = error_line(r)
    assert re.search(r"cannot restore VM 100 to '%s' \(safety snapshot 'prerestore-\d{8}T"
                     r"\d{6}Z' kept, every NFS disk put back from it\): .*Clone start failed"
                     % snap["name"], line), line
    assert {k: read(p) for k, p in paths.items()} == before_bytes
    assert_only_safety_added(env, before, env.ontap.state_summary())
    assert env.vm_config(100) == conf
    assert os.listdir(env.paths["lock"]) == []
    # nothing was sent to the storage after the one that failed
    restore_dsts = [q["body"]["destination_path"] for q in clone_posts(env)
                    if "-snap-%s." % snap["name"] in q["body"]["source_path"]]
    order = [d[2] for d in DISKS]
    stores = {d[2]: d[1] for d in DISKS}
    failed_store = stores[fname]
    if failed_store == "ONTAP01":
        assert all(stores[os.path.basename(p)] == "ONTAP01" for p in restore_dsts)
    assert sorted(os.path.basename(p) for p in restore_dsts) == sorted(
        f for f in order if failed_store == STORAGE2 or stores[f] == "ONTAP01")


def test_second_storage_dropped_reply_is_put_back(env):
    """The clone-back on the second storage gets no answer at all (outcome unknown): that
    disk is put back too, with the first storage's disks."""
    add_second_storage(env)
    paths = make_vm(env)
    snap = snapshot(env)
    before_bytes = overwrite_all(paths)
    # the restore's clone of scsi3 (source: the snapshot), not the put-back's
    env.ontap.add_fault("POST", CLONE, "drop", count=None,
                        body_regex=r'"source_path": *"[^"]*-snap-%s\.raw", *%s' % (
                            re.escape(snap["name"]), dest_regex("vm-100-disk-3.raw")))
    r = env.run("vm", "restore", "--vm", "100", "--snapshot", snap["name"], "--yes")
    assert r.returncode == 4, r.stderr
    assert "kept, every NFS disk put back from it)" in error_line(r)
    assert {k: read(p) for k, p in paths.items()} == before_bytes
    puts = [q["body"]["destination_path"] for q in clone_posts(env)
            if "-snap-prerestore-" in q["body"]["source_path"]]
    assert sorted(os.path.basename(p) for p in puts) == sorted(d[2] for d in DISKS)
    assert os.listdir(env.paths["lock"]) == []


def test_put_back_that_fails_is_named(env):
    """Restore and put-back of scsi2 both fail: the message names scsi2 and the safety
    snapshot to restore it from; the other disks are back."""
    add_second_storage(env)
    paths = make_vm(env)
    snap = snapshot(env)
    before_bytes = overwrite_all(paths)
    env.ontap.add_fault("POST", CLONE, "job_fail", count=None,
                        body_regex=dest_regex("vm-100-disk-2.raw"), code="13565952",
                        message="Clone start failed")
    r = env.run("vm", "restore", "--vm", "100", "--snapshot", snap["name"], "--yes")
    assert r.returncode == 4, r.stderr
    line = error_line(r)
    pre = [s["name"] for s in listing(env) if s["label"] == "prerestore"]
    assert len(pre) == 1
    assert ("(safety snapshot '%s' kept; scsi2 could not be put back from it: restore '%s' to"
            " bring it back)" % (pre[0], pre[0])) in line, line
    # (the simulator's failed job changes nothing, so scsi2 still has its bytes too)
    assert {k: read(p) for k, p in paths.items()} == before_bytes
    assert os.listdir(env.paths["lock"]) == []


def test_mixed_vm_cg_restore_fails_nfs_put_back(env):
    """NFS disks restored, then the CG restore of the NVMe disk fails: the NFS disks are
    put back, and the message says what the NVMe side holds."""
    nvme_setup(env)
    paths, uuids, snap = mixed_snapshot(env, {"scsi0": ("vm-101-disk-0.raw", 8192),
                                              "scsi1": ("vm-101-disk-1.raw", 4096)},
                                        {"scsi2": "NVME01"})
    before_bytes = overwrite_all(paths)
    write_image(env, uuids["scsi2"], b"M" * 4096)
    env.ontap.add_fault("PATCH", r"^/api/application/consistency-groups/", "job_fail",
                        count=None, code="65552", message="restore failed on the cluster")
    r = env.run("vm", "restore", "--vm", 101, "--snapshot", snap["name"], "--yes")
    assert r.returncode == 4, r.stderr
    line = error_line(r)
    assert "restore failed on the cluster" in line
    assert re.search(r"kept, every NFS disk put back from it; NVMe disks: consistency group "
                     r"'pve_cg_vm_101' may be partly restored \(ONTAP does not roll back its "
                     r"volumes\); run the restore again to bring them all to '%s'\): cannot "
                     r"restore consistency group 'pve_cg_vm_101': " % snap["name"], line), line
    assert {k: read(p) for k, p in paths.items()} == before_bytes
    assert read_image(env, uuids["scsi2"], 4096) == b"M" * 4096
    assert os.listdir(env.paths["lock"]) == []


def test_nvme_refusal_comes_before_any_change(env):
    """A CG restore that would discard a newer snapshot is refused before the NFS disks
    are touched and before any safety snapshot is taken."""
    nvme_setup(env)
    paths, _uuids, first = mixed_snapshot(env, {"scsi0": ("vm-101-disk-0.raw", 8192)},
                                          {"scsi1": "NVME01"})
    snapshot(env, 101, "--label", "later")
    before_bytes = overwrite_all(paths)
    before = env.ontap.state_summary()
    r = env.run("vm", "restore", "--vm", 101, "--snapshot", first["name"], "--yes")
    assert r.returncode == 1, r.stderr
    assert "newer" in error_line(r)
    assert env.ontap.state_summary() == before
    assert {k: read(p) for k, p in paths.items()} == before_bytes
    assert os.listdir(env.paths["lock"]) == []


# --------------------------------------------------------------------------------- 14.4

LOCKS = ["suspended", "migrate", "clone", "backup", "rollback", "create", "snapshot",
         "snapshot-delete", "suspending"]


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("lock", LOCKS)
def test_locked_vm_is_refused(env, lock, force):
    extra = "lock: %s" % lock
    if lock == "suspended":
        extra += "\nvmstate: ONTAP01:100/vm-100-state-suspend-2026-12-02.raw"
    paths = make_vm(env, disks=DISKS[:2], extra_conf=extra)
    snap = snapshot(env)
    wanted = {k: read(p) for k, p in paths.items()}
    before_bytes = overwrite_all(paths)
    before = env.ontap.state_summary()
    conf = env.vm_config(100)
    nclones = len(clone_posts(env))
    argv = ["vm", "restore", "--vm", "100", "--snapshot", snap["name"], "--yes"]
    r = env.run(*(argv + (["--force"] if force else [])))
    assert env.vm_config(100) == conf
    assert os.listdir(env.paths["lock"]) == []
    if force and lock != "suspended":
        # a stale lock, overridden on purpose: restored, and said so
        assert r.returncode == 0, r.stderr
        assert "locked ('%s')" % lock in r.stderr and "--force" in r.stderr
        assert {k: read(p) for k, p in paths.items()} == wanted
        return
    assert r.returncode == 1, r.stderr
    line = error_line(r)
    assert "'%s'" % lock in line, line
    if lock == "suspended":
        assert "hibernated" in line and "--force does not override" in line
    else:
        assert "--force" in line
    # refused before anything was sent: no safety snapshot, no clone
    assert len(clone_posts(env)) == nclones
    assert env.ontap.state_summary() == before
    assert {k: read(p) for k, p in paths.items()} == before_bytes


# --------------------------------------------------------------------------------- 15.6

INC_DISKS = DISKS[:2] + [("efidisk0", "ONTAP01", "vm-100-disk-2.raw", 4 * 1024)]


def test_snapshot_with_deleted_clone_is_incomplete(env):
    paths = make_vm(env, disks=INC_DISKS)
    old = snapshot(env, 100, "--label", "old")
    target = snapshot(env)
    at_snapshot = {k: read(p) for k, p in paths.items()}
    # PVE's Remove of the Unused Disk of scsi1's clone: vdisk_free deletes the file
    os.unlink(env.image_path(100, "vm-100-disk-1-snap-%s.raw" % target["name"]))
    before_bytes = overwrite_all(paths)

    listed = {s["name"]: s for s in listing(env)}
    t = listed[target["name"]]
    assert t["complete"] is False and t["missing"] == ["scsi1"]
    assert sorted(d["disk"] for d in t["disks"]) == ["efidisk0", "scsi0"]
    assert set(t) >= {"name", "label", "created", "disks"}
    assert listed[old["name"]]["complete"] is True and listed[old["name"]]["missing"] == []
    r = env.run("vm", "list", "--vm", "100")
    assert r.returncode == 0, r.stderr
    row = [ln for ln in r.stdout.splitlines() if ln.startswith(target["name"])]
    assert len(row) == 1 and "incomplete, missing: scsi1" in row[0], r.stdout
    row = [ln for ln in r.stdout.splitlines() if ln.startswith(old["name"])]
    assert len(row) == 1 and "incomplete" not in row[0], r.stdout

    # refused, naming the disk, before anything changes
    state = env.ontap.state_summary()
    r = env.run("vm", "restore", "--vm", "100", "--snapshot", target["name"], "--yes")
    assert r.returncode == 1, r.stderr
    line = error_line(r)
    assert "incomplete" in line and "scsi1" in line and "--force" in line, line
    assert env.ontap.state_summary() == state
    assert {k: read(p) for k, p in paths.items()} == before_bytes
    assert os.listdir(env.paths["lock"]) == []

    # --force restores the disks that remain, scsi1 keeps what it has
    r = env.run("vm", "restore", "--vm", "100", "--snapshot", target["name"], "--yes",
                "--force")
    assert r.returncode == 0, r.stderr
    assert "scsi1" in r.stderr
    assert read(paths["scsi0"]) == at_snapshot["scsi0"]
    assert read(paths["efidisk0"]) == at_snapshot["efidisk0"]
    assert read(paths["scsi1"]) == before_bytes["scsi1"]
    assert os.listdir(env.paths["lock"]) == []


def test_second_nvme_pool_fails_names_what_stays_restored(env):
    """Two NVMe pools, one CG each: the first CG restore succeeds, the second fails. ONTAP
    cannot undo the first: the message says it stays restored and the second may be partly
    restored; the NFS disk is put back."""
    nvme_setup(env)
    env.ontap.add_svm("svm_nvme2")
    env.ontap.add_lif("svm_nvme2", "nvme_lif2", "127.0.0.3")
    env.nvme_portal("127.0.0.3")
    env.config["storages"]["NVME02"] = dict(env.config["storages"]["NVME01"],
                                            svm="svm_nvme2", subsystem="pve-nvme2",
                                            portals=["127.0.0.3"], prefix="p2_")
    env.write_config()
    paths, uuids, snap = mixed_snapshot(env, {"scsi0": ("vm-101-disk-0.raw", 8192)},
                                        {"scsi1": "NVME01", "scsi2": "NVME02"})
    before_bytes = overwrite_all(paths)
    write_image(env, uuids["scsi1"], b"x" * 4096)
    write_image(env, uuids["scsi2"], b"y" * 4096)
    env.ontap.add_fault("PATCH", r"^/api/application/consistency-groups/", "job_fail",
                        after=1, count=None, code="65552", message="restore failed")
    r = env.run("vm", "restore", "--vm", 101, "--snapshot", snap["name"], "--yes")
    assert r.returncode == 4, r.stderr
    line = error_line(r)
    assert ("kept, every NFS disk put back from it; NVMe disks: consistency group "
            "'pve_cg_vm_101' restored to '%s' and not undone" % snap["name"]) in line, line
    assert "consistency group 'p2_cg_vm_101' may be partly restored" in line, line
    assert "cannot restore consistency group 'p2_cg_vm_101': " in line, line
    assert {k: read(p) for k, p in paths.items()} == before_bytes
    assert read_image(env, uuids["scsi1"], 4096) == (b"scsi1" * 1024)[:4096]
    assert read_image(env, uuids["scsi2"], 4096) == b"y" * 4096
    assert os.listdir(env.paths["lock"]) == []
