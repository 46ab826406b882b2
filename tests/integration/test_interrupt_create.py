# SPDX-License-Identifier: GPL-2.0-or-later
"""Nothing half-made by a VM snapshot that is interrupted or whose answers are lost.

Issue 14, items 1 and 2.  The fault hits one disk of a batch: the first, the middle or the
last disk of a 3-disk VM, or one of the two storages of a VM with disks on both:

* a signal (SIGTERM, SIGINT, SIGHUP) while that disk's clone is held by a latency fault:
  the command finishes the request in flight, removes every clone and exits 1 with one
  line saying it was interrupted, the lock released;
* the reply to that disk's clone POST is lost after ONTAP made the clone (`drop_after`);
* in the hook, that disk's clone request outlives the work's deadline while the others'
  jobs are still running: every clone that ONTAP finishes within the policy's timeout is
  removed, because the hook keeps a share of the timeout for the cleanup.

The outcome checked each time: the simulator's state equal to before (no clone file, the
disks' bytes unchanged), no queued job, an empty lock directory, the exit status and the one
error line."""

import json
import os
import re
import signal
import time

import pytest

from certcache import fast_certs  # noqa: F401
from conftest import spawn, wait_for

pytestmark = pytest.mark.usefixtures("fast_certs")

DISKS = {"scsi0": ("vm-100-disk-0.raw", 16 * 1024), "scsi1": ("vm-100-disk-1.raw", 8 * 1024),
         "scsi2": ("vm-100-disk-2.raw", 4 * 1024)}
KEYS = sorted(DISKS)
HOLD = 2.0            # seconds a latency fault holds one disk's clone request
CLONE = r"^/api/storage/file/clone$"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def picture(env):
    return {"ontap": env.ontap.state_summary(),
            "queue": [(j["vmid"], j["action"]) for j in env.queue_jobs()],
            "locks": sorted(os.listdir(env.paths["lock"])),
            "vm_conf": env.vm_config(100)}


def second_storage(env):
    """Storage ONTAP02 on volume proxmox_storage02 (junction /proxmox_storage02), mounted
    and configured like ONTAP01; returns the directory its images/100 lives in."""
    d = os.path.join(env.T, "sim", "ontap", "vol", "proxmox_storage02")
    env.ontap.add_volume("svm1", "proxmox_storage02", nas_path="/proxmox_storage02",
                         directory=d)
    env.pve.add_storage("ONTAP02", "nfs", mount=True, export="/proxmox_storage02",
                        path=os.path.join(env.paths["mnt"], "ONTAP02"), server="127.0.0.1",
                        content="images")
    env.config["storages"]["ONTAP02"] = {"ontap": "cluster1", "svm": "svm1"}
    env.write_config()
    images = os.path.join(env.paths["mnt"], "ONTAP02", "images", "100")
    os.makedirs(images, exist_ok=True)
    return images


def make_vm(env, layout, status="stopped"):
    """layout "3disks": scsi0-2 on ONTAP01; "2storages": scsi0 on ONTAP01, scsi1 on ONTAP02.
    Returns {key: image path} and the destination-name regex of each key's clone."""
    if layout == "3disks":
        paths = env.add_vm(100, disks=DISKS, status=status, agent=True)
    else:
        images = second_storage(env)
        p1 = os.path.join(images, "vm-100-disk-1.raw")
        with open(p1, "wb") as f:
            f.write(b"second storage " * 500)
        paths = env.add_vm(100, disks={"scsi0": DISKS["scsi0"]}, status=status, agent=True,
                           extra_conf="scsi1: ONTAP02:100/vm-100-disk-1.raw,size=8K\n")
        paths["scsi1"] = p1
    match = {k: r"vm-100-disk-%s-snap-" % k[-1] for k in paths}
    return paths, match


def held(env, match):
    """Has the clone request for the disk whose destination matches arrived and not yet
    been answered?"""
    return any(q["path"] == "/api/storage/file/clone" and q["status"] is None and
               re.search(match, (q["body"] or {}).get("destination_path", ""))
               for q in list(env.ontap.requests))


def jobs_done(env):
    return all(j.end is not None for j in list(env.ontap.jobs.values()))


def error_lines(err):
    return [ln for ln in err.splitlines() if ln.startswith("pve-ontap: error: ")]


def assert_unchanged(env, before, paths, disks):
    assert wait_for(lambda: jobs_done(env), timeout=15)
    assert picture(env) == before
    assert {k: read(p) for k, p in paths.items()} == disks
    assert os.listdir(env.paths["lock"]) == []


# ------------------------------------------------------------------------------ signals

SIGNAL_CASES = [
    ("3disks", "scsi0", signal.SIGTERM),
    ("3disks", "scsi1", signal.SIGINT),
    ("3disks", "scsi2", signal.SIGHUP),
    ("2storages", "scsi0", signal.SIGTERM),   # 1st storage: the 2nd batch must not start
    ("2storages", "scsi1", signal.SIGINT),    # 2nd storage: the 1st one's clones are undone
]


@pytest.mark.parametrize("layout,key,sig", SIGNAL_CASES,
                         ids=["%s-%s-%s" % (c[0], c[1], c[2].name) for c in SIGNAL_CASES])
def test_vm_create_interrupted(env, layout, key, sig):
    paths, match = make_vm(env, layout)
    disks = {k: read(p) for k, p in paths.items()}
    before = picture(env)
    env.ontap.add_fault("POST", CLONE, "latency", seconds=HOLD, body_regex=match[key])
    p = spawn(env, ["vm", "create", "--vm", "100"])
    if not wait_for(lambda: held(env, match[key]), timeout=20):
        p.kill()
        pytest.fail("the clone of %s was never in flight: %s" % (key, p.communicate()[1]))
    p.send_signal(sig)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1, err
    errs = error_lines(err)
    assert len(errs) == 1, err
    assert ("interrupted by %s" % sig.name) in errs[0], errs[0]
    assert "clone(s) made were removed" in errs[0] or "no clone was made" in errs[0], errs[0]
    assert out == ""
    assert_unchanged(env, before, paths, disks)
    if layout == "2storages" and key == "scsi0":
        # stopped between batches: the second storage was never asked
        assert not [q for q in env.ontap.requests if q["path"] == "/api/storage/file/clone"
                    and "proxmox_storage02" in str(q["body"])]


def test_storage_create_interrupted_completes_and_says_so(env):
    """A command with a single step cannot stop half-way: it finishes, releases the lock and
    exits 1 naming the signal and that its result stands."""
    make_vm(env, "3disks")
    env.ontap.add_fault("POST", r"/snapshots$", "latency", seconds=HOLD)
    p = spawn(env, ["storage", "create", "--storage", "ONTAP01"])
    assert wait_for(lambda: any(q["path"].endswith("/snapshots") and q["status"] is None
                                for q in list(env.ontap.requests)), timeout=20)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1, err
    errs = error_lines(err)
    assert len(errs) == 1 and "interrupted by SIGTERM after the operation had completed" \
        in errs[0], err
    assert len(env.ontap.snapshots("proxmox_storage01")) == 1
    assert os.listdir(env.paths["lock"]) == []


def catches(pid, sig):
    """Does process pid catch sig (/proc/<pid>/status SigCgt)?"""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    except OSError:
        pass
    return False


def test_signal_ends_the_wait_for_the_lock(env):
    """Another node holds the VM's lock: a signal ends the wait at once, nothing is done and
    the other node's lock stays."""
    make_vm(env, "3disks")
    held_dir = os.path.join(env.paths["lock"], "pve-ontap-vm-100")
    os.mkdir(held_dir)
    with open(os.path.join(held_dir, "owner"), "w") as f:
        f.write("pve2 4242 %d\n" % int(time.time()))
    before = env.ontap.state_summary()
    p = spawn(env, ["vm", "create", "--vm", "100"])
    # the handler is in place (it is from before the lock is taken on): SigCgt says so
    assert wait_for(lambda: catches(p.pid, signal.SIGTERM), timeout=20)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 1, err
    errs = error_lines(err)
    assert len(errs) == 1 and "interrupted by SIGTERM while waiting for the lock 'vm-100'" \
        in errs[0], err
    assert os.listdir(env.paths["lock"]) == ["pve-ontap-vm-100"]
    assert env.ontap.state_summary() == before


# ------------------------------------------------------------------------------ lost replies

LOST_CASES = [("3disks", "scsi0"), ("3disks", "scsi1"), ("3disks", "scsi2"),
              ("2storages", "scsi0"), ("2storages", "scsi1")]


@pytest.mark.parametrize("layout,key", LOST_CASES, ids=["%s-%s" % c for c in LOST_CASES])
def test_vm_create_reply_lost_after_clone_made(env, layout, key):
    """ONTAP made the clone, the answer never came: the clone is found by name and removed
    with the others."""
    paths, match = make_vm(env, layout)
    disks = {k: read(p) for k, p in paths.items()}
    before = picture(env)
    env.ontap.add_fault("POST", CLONE, "drop_after", body_regex=match[key])
    r = env.run("vm", "create", "--vm", "100")
    assert r.returncode == 4, r.stderr
    errs = error_lines(r.stderr)
    assert len(errs) == 1 and r.stderr.rstrip("\n").splitlines()[-1] == errs[0], r.stderr
    assert "no answer from ONTAP" in errs[0] and "were removed" in errs[0], errs[0]
    # the lost POST was sent once: never re-sent blindly
    sent = [q for q in env.ontap.requests if q["path"] == "/api/storage/file/clone"
            and match[key] in (q["body"] or {}).get("destination_path", "")]
    assert len(sent) == 1, sent
    assert_unchanged(env, before, paths, disks)


# ------------------------------------------------------------------------------ deadlines

HOOK_TIMEOUT = 8      # the work gets 6 s, undoing the last 2 s (hooks/hook.c set_deadlines)
LATE = 6.8            # seconds: past the work's deadline, within the timeout


@pytest.mark.parametrize("layout,key", LOST_CASES, ids=["%s-%s" % c for c in LOST_CASES])
def test_hook_clones_outlive_the_deadline(env, layout, key):
    """One disk's clone request is answered only after the work's deadline, the other
    disks' jobs also end after it: the hook must wait for them within its cleanup share
    and remove every clone ONTAP made, then warn once (pre-stop never blocks)."""
    paths, match = make_vm(env, layout)
    disks = {k: read(p) for k, p in paths.items()}
    env.write_policy(100, "snapshots:\n  - on: [pre-stop]\n    label: daily\n"
                          "timeout: %ds\n" % HOOK_TIMEOUT)
    before = picture(env)
    env.ontap.add_fault("POST", CLONE, "latency", seconds=LATE, body_regex=match[key])
    for k in paths:
        if k != key:
            env.ontap.add_fault("POST", CLONE, "slow_job", seconds=LATE, body_regex=match[k])
    p = spawn(env, ["100", "pre-stop"], hook=True)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    ours = [ln for ln in err.splitlines() if "VM 100 pre-stop" in ln]
    assert len(ours) == 1 and ours[0].startswith("pve-ontap: warning: VM 100 pre-stop: "), err
    assert "timeout of %ds reached" % HOOK_TIMEOUT in ours[0], ours[0]
    assert "were removed" in ours[0], ours[0]
    assert "giving up" not in err
    assert_unchanged(env, before, paths, disks)


# ------------------------------------------------------------------------------ references
# Issue 14, item 7: a volume id PVE would refuse is never followed (pve-storage
# PVE/Storage/Plugin.pm parse_volname and parse_name_dir).

BAD_REFS = {
    "owner-not-vmid": "ONTAP01:abc/vm-100-disk-9.raw",
    "dotdot-linked-clone": "ONTAP01:100/../101/vm-101-disk-0.raw",
    "subdirectory": "ONTAP01:100/sub/vm-100-disk-9.raw",
    "snapshot-file": "ONTAP01:100/snap-x-vm-100-disk-9.qcow2",
    "no-format": "ONTAP01:100/vm-100-disk-9",
}


def vm_with_ref(env, key, ref):
    """The 3-disk VM with the drive `key` replaced by `ref`; returns the image paths."""
    disks = {k: v for k, v in DISKS.items() if k != key}
    paths = env.add_vm(100, disks=disks, extra_conf="%s: %s,size=4K\n" % (key, ref))
    return paths


@pytest.mark.parametrize("key", KEYS, ids=["first", "middle", "last"])
@pytest.mark.parametrize("ref", sorted(BAD_REFS), ids=sorted(BAD_REFS))
def test_reference_pve_refuses_is_refused_before_any_request(env, key, ref):
    paths = vm_with_ref(env, key, BAD_REFS[ref])
    disks = {k: read(p) for k, p in paths.items()}
    before = picture(env)
    n = len(env.ontap.requests)
    r = env.run("vm", "create", "--vm", "100")
    assert r.returncode == 1, r.stderr
    errs = error_lines(r.stderr)
    assert len(errs) == 1, r.stderr
    assert ("%s of VM 100 refers to '%s'" % (key, BAD_REFS[ref])) in errs[0], errs[0]
    assert "PVE does not accept" in errs[0], errs[0]
    assert env.ontap.requests[n:] == []
    assert_unchanged(env, before, paths, disks)


def test_unrelated_cdrom_and_other_content_do_not_block(env):
    """A cdrom (or a disk of other content) with a reference PVE would refuse is not ours to
    check: the disks are snapshot."""
    paths = env.add_vm(100, disks=DISKS, extra_conf=(
        "ide2: ONTAP01:100/../x.iso,media=cdrom\n"
        "sata0: ONTAP01:iso/debian.iso\n"))
    r = env.run("--json", "vm", "create", "--vm", "100")
    assert r.returncode == 0, r.stderr
    snap = json.loads(r.stdout)
    assert sorted(d["disk"] for d in snap["disks"]) == KEYS
    for k, p in paths.items():
        clone = p[:-len(".raw")] + "-snap-%s.raw" % snap["name"]
        assert read(clone) == read(p)


@pytest.mark.parametrize("rule", ["exclude: [scsi1]", "include: [scsi0, scsi2]"])
def test_skipped_drive_does_not_block_the_hook(env, rule):
    paths = vm_with_ref(env, "scsi1", BAD_REFS["owner-not-vmid"])
    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: daily\n"
                          "disks:\n  %s\ntimeout: 20s\n" % rule)
    p = spawn(env, ["100", "post-stop"], hook=True)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "snapshot daily-" in out and "of 2 disks" in out, (out, err)
    assert "warning" not in err, err
    for k in ("scsi0", "scsi2"):
        d = os.path.dirname(paths[k])
        assert [f for f in os.listdir(d) if f.startswith(os.path.basename(paths[k])[:-4] +
                                                          "-snap-daily-")], os.listdir(d)
