# SPDX-License-Identifier: GPL-2.0-or-later
"""Every mutating command under every kind of fault (DESIGN.md "Exit status").

One table of commands, one table of faults; each case prepares the objects the command
works on, takes a picture of the simulators' state, injects the fault and runs the command.
The outcome checked is the contract: the exit status (4 for API/TLS/HTTP/job errors, 5 for a
timeout; the hook exits 0 with one warning unless it is pre-start under on_error: block), one
error line naming the cause, and -- because a failed command must not leave half-made
objects behind -- ONTAP, PVE, the job queue and the mounts exactly as they were before.
The rollback cases below the matrix fail the 2nd of several requests of one command."""

import collections
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "sim"))

from certcache import fast_certs, other_ca  # noqa: E402,F401
from conftest import binary  # noqa: E402

pytestmark = pytest.mark.usefixtures("fast_certs")

DISKS = {
    "scsi0": ("vm-100-disk-0.raw", 16 * 1024),
    "scsi1": ("vm-100-disk-1.raw", 8 * 1024),
}
HOOK_TIMEOUT = 2          # seconds: the policy's timeout when the fault is a slow job
HOOK_TIMEOUT_LONG = 10    # otherwise: room for the client's retries, so the cause shows
MUTATIONS = ("POST", "PATCH", "DELETE")

# ------------------------------------------------------------------------------ helpers


def read(path):
    with open(path, "rb") as f:
        return f.read()


def closed_port():
    """A loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_vm(env, status="stopped"):
    return env.add_vm(100, disks=DISKS, status=status, agent=True)


def vm_snapshot(env):
    r = env.run("--json", "vm", "create", "--vm", "100")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["name"]


def storage_snapshot(env):
    r = env.run("--json", "storage", "create", "--storage", "ONTAP01")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["name"]


def storage_ids(env):
    st = env.pve.storages()
    return sorted(st.keys() if isinstance(st, dict) else [x.get("storage") for x in st])


def picture(env):
    """Everything a failed command must leave as it found it."""
    mnt = env.paths["mnt"]
    return {
        "ontap": env.ontap.state_summary(),
        "pve_storages": storage_ids(env),
        "queue": sorted((j["vmid"], j["action"], j.get("volid")) for j in env.queue_jobs()),
        "mounts": sorted(os.listdir(mnt)),
        "vm_conf": env.vm_config(100) if os.path.exists(
            os.path.join(env.paths["pve_etc"], "qemu-server", "100.conf")) else None,
        "locks": sorted(os.listdir(env.paths["lock"])),
    }


def run_hook(env, phase):
    """As qemu-server runs a hookscript: argv only, stdin closed, config from the env."""
    exe = binary()
    if not os.access(exe, os.X_OK):
        pytest.fail("pve-ontap not built (%s); run make" % exe)
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
         "PVE_ONTAP_CONFIG": env.config_path}
    t0 = time.monotonic()
    p = subprocess.run([exe, "100", phase], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, env=e, timeout=60, cwd="/")
    p.elapsed = time.monotonic() - t0
    return p


# ------------------------------------------------------------------------------ commands
# Each prepares the objects it needs (before the fault) and returns a runner.

Cmd = collections.namedtuple("Cmd", "prepare needs_pve hook_phase")
# prepare(env, hook_timeout) -> runner(env) -> CompletedProcess with .elapsed


def _cli(*argv):
    def run(env):
        t0 = time.monotonic()
        r = env.run(*argv, timeout=60)
        r.elapsed = time.monotonic() - t0
        return r
    return run


def p_vm_create(env, timeout):
    make_vm(env)
    return _cli("vm", "create", "--vm", "100")


def p_vm_delete(env, timeout):
    make_vm(env)
    return _cli("vm", "delete", "--vm", "100", "--snapshot", vm_snapshot(env))


def p_vm_restore(env, timeout):
    paths = make_vm(env)
    name = vm_snapshot(env)
    for p in paths.values():          # something for the restore to undo
        with open(p, "wb") as f:
            f.write(b"written after the snapshot")
    return _cli("vm", "restore", "--vm", "100", "--snapshot", name, "--yes")


def p_storage_create(env, timeout):
    make_vm(env)
    return _cli("storage", "create", "--storage", "ONTAP01")


def p_storage_delete(env, timeout):
    make_vm(env)
    return _cli("storage", "delete", "--storage", "ONTAP01", "--snapshot",
                storage_snapshot(env))


def p_storage_restore(env, timeout):
    paths = make_vm(env)
    name = storage_snapshot(env)
    with open(paths["scsi0"], "wb") as f:
        f.write(b"written after the snapshot")
    return _cli("storage", "restore", "--storage", "ONTAP01", "--snapshot", name, "--yes")


def p_storage_mount(env, timeout):
    make_vm(env)
    return _cli("storage", "mount", "--storage", "ONTAP01", "--snapshot",
                storage_snapshot(env))


def p_storage_unmount(env, timeout):
    make_vm(env)
    r = env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot",
                storage_snapshot(env))
    assert r.returncode == 0, r.stderr
    return _cli("storage", "unmount", "--storage", "ONTAP01-CLONE")


def p_hook_pre_stop(env, timeout):
    make_vm(env, status="running")
    env.write_policy(100, "snapshots:\n  - on: [pre-stop]\n    label: daily\n    keep: 2\n"
                          "    quiesce: freeze\ntimeout: %ds\n" % timeout)
    return lambda e: run_hook(e, "pre-stop")


def p_hook_pre_start(env, timeout):
    make_vm(env)
    env.write_policy(100, "snapshots:\n  - on: [pre-start]\n    label: safe\n    keep: 2\n"
                          "on_error: block\ntimeout: %ds\n" % timeout)
    return lambda e: run_hook(e, "pre-start")


COMMANDS = {
    "vm-create": Cmd(p_vm_create, False, None),
    "vm-delete": Cmd(p_vm_delete, False, None),
    "vm-restore": Cmd(p_vm_restore, True, None),
    "storage-create": Cmd(p_storage_create, False, None),
    "storage-delete": Cmd(p_storage_delete, False, None),
    "storage-restore": Cmd(p_storage_restore, True, None),
    "storage-mount": Cmd(p_storage_mount, True, None),
    "storage-unmount": Cmd(p_storage_unmount, True, None),
    "hook-pre-stop": Cmd(p_hook_pre_stop, True, "pre-stop"),
    "hook-pre-start-block": Cmd(p_hook_pre_start, False, "pre-start"),
}

# ------------------------------------------------------------------------------ faults
# inject(env) returns nothing; `status` is the CLI exit status (pre-start+block uses it too);
# `says` must match the one error (or warning) line; `only` limits the commands.

Fault = collections.namedtuple("Fault", "inject status says only")


def _cfg(env, fn):
    fn(env.config)
    env.write_config()


def f_ontap_unreachable(env):
    _cfg(env, lambda c: c["ontap"]["cluster1"].update(port=closed_port()))


def f_pve_unreachable(env):
    _cfg(env, lambda c: c["pve"].update(port=closed_port()))


def f_tls_other_ca(env):
    other = other_ca(os.path.join(env.T, "other-ca"))
    _cfg(env, lambda c: c["ontap"]["cluster1"].update(ca_file=other["ca"]))


def f_wrong_pin(env):
    fp = env.certs["fingerprints"]["selfsigned"]
    _cfg(env, lambda c: c["ontap"]["cluster1"].update(fingerprint=fp))


def f_wrong_password(env):
    with open(os.path.join(env.T, "ontap.pw"), "w") as f:
        f.write("not-the-password\n")


def _on_mutations(kind, **kw):
    def inject(env):
        for m in MUTATIONS:
            env.ontap.add_fault(m, r"^/api/", kind, count=None, **kw)
    return inject


def f_malformed(env):
    env.ontap.add_fault("GET", r"^/api/", "malformed", count=None)


def f_truncate(env):
    env.ontap.add_fault("GET", r"^/api/", "truncate", count=None)


JOB_COMMANDS = ("vm-create", "vm-restore", "storage-create", "storage-delete",
                "storage-restore", "storage-mount", "storage-unmount", "hook-pre-stop",
                "hook-pre-start-block")
# Faults on the first request (connection, TLS, credentials, parsing) take the same path
# through the client whatever the command (and each costs the client's retries, seconds):
# they run against one CLI command and both hook phases.  Faults on the mutations, and PVE
# being unreachable, run against every command they can hit.
FIRST_REQUEST = ("vm-create", "hook-pre-stop", "hook-pre-start-block")

FAULTS = {
    "ontap-unreachable": Fault(f_ontap_unreachable, 4, r"cannot connect to '127\.0\.0\.1:",
                               FIRST_REQUEST),
    "pve-unreachable": Fault(f_pve_unreachable, 4, r"cannot connect to '127\.0\.0\.1:",
                             [c for c, v in COMMANDS.items() if v.needs_pve]),
    "tls-other-ca": Fault(f_tls_other_ca, 4, r"TLS verification of '127\.0\.0\.1:\d+' failed",
                          FIRST_REQUEST),
    "wrong-pin": Fault(f_wrong_pin, 4, r"(?i)fingerprint", FIRST_REQUEST),
    "401": Fault(f_wrong_password, 4, r"authentication failed for user 'admin'",
                 FIRST_REQUEST),
    "5xx": Fault(_on_mutations("status", status=503), 4, r"simulated failure", None),
    "drop": Fault(_on_mutations("drop"), 4, r"(?i)connection|empty|closed|no answer|reply",
                  None),
    "truncate": Fault(f_truncate, 4, r"(?i)truncat|incomplete|partial|short|transfer|closed",
                      FIRST_REQUEST),
    "malformed": Fault(f_malformed, 4, r"(?i)JSON|malformed|parse|invalid", FIRST_REQUEST),
    "job-fail": Fault(_on_mutations("job_fail", code="65552",
                                    message="simulated job failure"), 4,
                      r"simulated job failure", JOB_COMMANDS),
    # no CLI command takes a deadline: a job slower than the deadline is a hook matter
    "slow-job": Fault(_on_mutations("slow_job", seconds=HOOK_TIMEOUT + 6), 5,
                      r"timeout of %ds reached" % HOOK_TIMEOUT,
                      ["hook-pre-stop", "hook-pre-start-block"]),
}

# Known product bugs (reported); the case stays in the matrix and must start passing.
# Cases that expose a known product bug, marked xfail (strict) with the reason; none now.
KNOWN = {}


def _param(c, f):
    marks = [pytest.mark.xfail(reason=KNOWN[(c, f)], strict=True)] if (c, f) in KNOWN else []
    return pytest.param(c, f, id="%s-%s" % (c, f), marks=marks)


CASES = [_param(c, f) for c in COMMANDS for f, fault in FAULTS.items()
         if fault.only is None or c in fault.only]


@pytest.mark.parametrize("cmd,fault", CASES)
def test_fault_matrix(env, cmd, fault):
    c, f = COMMANDS[cmd], FAULTS[fault]
    timeout = HOOK_TIMEOUT if fault == "slow-job" else HOOK_TIMEOUT_LONG
    run = c.prepare(env, timeout)
    disks = {k: read(env.image_path(100, fn)) for k, (fn, _s) in DISKS.items()}
    before = picture(env)
    f.inject(env)
    r = run(env)
    out = r.stdout + r.stderr
    assert "s3cr3t" not in out and "Traceback" not in out and "(null)" not in out, out

    if c.hook_phase == "pre-stop":
        # never blocks: exit 0, one warning line for our phase, the guest thawed
        assert r.returncode == 0, out
        ours = [ln for ln in r.stderr.splitlines() if "VM 100 pre-stop" in ln]
        assert len(ours) == 1 and ours[0].startswith("pve-ontap: warning: VM 100 pre-stop: "), \
            r.stderr
        assert re.search(f.says, ours[0]), ours[0]
        assert env.pve.vm(100)["frozen"] is False
    elif c.hook_phase == "pre-start":
        assert r.returncode == f.status, out
        ours = [ln for ln in r.stderr.splitlines() if "VM 100 pre-start" in ln]
        assert len(ours) == 1 and ours[0].startswith("pve-ontap: error: VM 100 pre-start: "), \
            r.stderr
        assert ours[0].endswith("the start is aborted (on_error: block)"), ours[0]
        assert re.search(f.says, ours[0]), ours[0]
    else:
        assert r.returncode == f.status, out
        errs = [ln for ln in r.stderr.splitlines() if ln.startswith("pve-ontap: error: ")]
        assert len(errs) == 1, r.stderr
        assert r.stderr.rstrip("\n").splitlines()[-1] == errs[0]
        assert re.search(f.says, errs[0]), errs[0]
    if c.hook_phase:
        assert r.elapsed < timeout + 4, r.elapsed
    # no half-made object anywhere, the disks untouched
    assert picture(env) == before
    assert {k: read(env.image_path(100, fn)) for k, (fn, _s) in DISKS.items()} == disks


# ------------------------------------------------------------------------------ rollback
# The 2nd (or a later) of several mutations fails: what the first ones did is undone.


def test_vm_create_second_clone_fails_rolls_back(env):
    make_vm(env)
    before = picture(env)
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "status", after=1, count=None,
                        status=500, body={"error": {"message": "disk full", "code": "13"}})
    r = env.run("vm", "create", "--vm", "100")
    assert r.returncode == 4, r.stderr
    assert "disk full" in r.stderr
    assert picture(env) == before


def test_vm_restore_fails_midway_puts_disks_back(env):
    """Clones 1-2 are the safety snapshot, 3-4 the restore: the 4th fails after the 3rd
    overwrote scsi0.  The disks hold their pre-restore bytes again and the safety snapshot
    is kept (and said so); nothing else changed."""
    paths = make_vm(env)
    name = vm_snapshot(env)
    for p in paths.values():
        with open(p, "wb") as f:
            f.write(b"written after the snapshot")
    before_disks = {k: read(p) for k, p in paths.items()}
    before = picture(env)
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "job_fail", after=3, count=1,
                        code="13565952", message="Clone start failed")
    r = env.run("vm", "restore", "--vm", "100", "--snapshot", name, "--yes")
    assert r.returncode == 4, r.stderr
    assert "Clone start failed" in r.stderr and "safety snapshot 'prerestore-" in r.stderr
    assert {k: read(p) for k, p in paths.items()} == before_disks
    after = picture(env)
    files = after["ontap"]["volumes"]["svm1/proxmox_storage01"].pop("files")
    old = before["ontap"]["volumes"]["svm1/proxmox_storage01"].pop("files")
    added = sorted(set(files) - set(old))
    assert len(added) == 2 and all("-snap-prerestore-" in f for f in added), added
    assert {k: v for k, v in files.items() if k in old} == old
    # the safety snapshot's clones are kept: one register job each
    assert sorted(q for q in after["queue"] if q not in before["queue"]) == sorted(
        (100, "register", "ONTAP01:100/" + os.path.basename(f)) for f in added)
    after["queue"] = before["queue"]
    assert after == before


def test_storage_unmount_delete_fails_after_junction_cleared(env):
    """unmount = PVE storage removal, junction cleared, volume deleted.  When the delete
    fails the FlexClone is still there, its junction and PVE storage are put back (so a
    re-run can finish the job) and the error names it."""
    make_vm(env)
    r = env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot",
                storage_snapshot(env))
    assert r.returncode == 0, r.stderr
    env.ontap.add_fault("DELETE", r"^/api/storage/volumes/[^/]+$", "job_fail", count=None,
                        code="917536", message="volume is busy")
    r = env.run("storage", "unmount", "--storage", "ONTAP01-CLONE")
    assert r.returncode == 4, r.stderr
    assert "volume is busy" in r.stderr
    clones = [v for v in env.ontap.volumes() if "_clone_" in v["name"]]
    assert len(clones) == 1
    # the error names the clone so it can be found and removed by hand
    assert clones[0]["name"] in r.stderr, r.stderr
    assert "put back" in r.stderr
    # ... and the storage is there again, so a re-run finishes once ONTAP lets it
    env.ontap.clear_faults()
    r = env.run("storage", "unmount", "--storage", "ONTAP01-CLONE")
    assert r.returncode == 0, r.stderr
    assert not [v for v in env.ontap.volumes() if "_clone_" in v["name"]]
