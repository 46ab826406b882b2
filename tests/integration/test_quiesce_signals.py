# SPDX-License-Identifier: GPL-2.0-or-later
"""A guest is never left frozen or suspended, whatever stops pve-ontap half-way.

`vm create --quiesce freeze|suspend` (and the hook's pre-stop with quiesce: freeze) is
interrupted by SIGTERM or SIGINT while the guest is quiesced and the ONTAP file clone is in
flight (a latency fault holds it).  The process must exit non-zero within a few seconds,
the guest must be thawed / running again, and no clone file may remain once ONTAP has
finished the request it was sent."""

import os
import signal
import subprocess
import time

import pytest

from certcache import fast_certs  # noqa: F401
from conftest import spawn, wait_for

pytestmark = pytest.mark.usefixtures("fast_certs")

DISKS = {"scsi0": ("vm-100-disk-0.raw", 16 * 1024), "scsi1": ("vm-100-disk-1.raw", 8 * 1024)}
CLONE_DELAY = 3.0     # seconds ONTAP holds each file clone request
PROMPT = 5.0          # seconds the process may take to undo the quiesce and exit


def clone_files(env):
    d = os.path.dirname(env.image_path(100, "x"))
    return sorted(f for f in os.listdir(d) if "-snap-" in f)


def clone_requests_done(env):
    reqs = [q for q in env.ontap.requests if q["path"] == "/api/storage/file/clone"]
    return reqs and all(q["status"] is not None for q in reqs)


def interrupt_while(env, proc, quiesced, sig):
    """Wait until the guest is quiesced and a clone is in flight, then send `sig`; returns
    (returncode, stderr, seconds from the signal to the exit)."""
    ok = wait_for(lambda: quiesced() and any(
        q["path"] == "/api/storage/file/clone" for q in env.ontap.requests), timeout=15)
    if not ok:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("the guest was never quiesced with a clone in flight: %s" % err)
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=PROMPT + CLONE_DELAY + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("still running %.1f s after the signal: %s" % (time.monotonic() - t0, err))
    return proc.returncode, err, time.monotonic() - t0


def slow_clones(env):
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "latency", count=None,
                        seconds=CLONE_DELAY)


def interrupted_cli_create(env, quiesce, state, sig):
    """'vm create --quiesce <quiesce>' of a running VM with slow clones, sent sig while
    the VM's <state> ("frozen", "suspended") holds; returns its stderr."""
    env.add_vm(100, disks=DISKS, status="running", agent=True)
    slow_clones(env)
    p = spawn(env, ["vm", "create", "--vm", "100", "--quiesce", quiesce])
    rc, err, took = interrupt_while(env, p, lambda: env.pve.vm(100)[state], sig)
    assert rc != 0, err
    assert took < PROMPT, (took, err)
    return err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_freeze_interrupted(env, sig):
    err = interrupted_cli_create(env, "freeze", "frozen", sig)
    assert env.pve.vm(100)["frozen"] is False, err
    assert wait_for(lambda: clone_requests_done(env), timeout=CLONE_DELAY + 5)
    assert clone_files(env) == [], err
    assert env.queue_jobs() == []
    assert "Traceback" not in err and err.strip(), err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_suspend_interrupted(env, sig):
    err = interrupted_cli_create(env, "suspend", "suspended", sig)
    env.pve.wait_tasks(timeout=10)
    vm = env.pve.vm(100)
    assert vm["status"] == "running" and not vm["suspended"] and not vm["paused"], vm
    assert wait_for(lambda: clone_requests_done(env), timeout=CLONE_DELAY + 5)
    assert clone_files(env) == [], err


def test_hook_freeze_sigterm(env):
    env.add_vm(100, disks=DISKS, status="running", agent=True)
    env.write_policy(100, "snapshots:\n  - on: [pre-stop]\n    label: daily\n"
                          "    quiesce: freeze\ntimeout: 20s\n")
    slow_clones(env)
    p = spawn(env, ["100", "pre-stop"], hook=True)
    rc, err, took = interrupt_while(env, p, lambda: env.pve.vm(100)["frozen"], signal.SIGTERM)
    # killed by PVE (stop timeout): the guest is thawed before the process goes
    assert took < PROMPT, (took, err)
    assert env.pve.vm(100)["frozen"] is False, err
    assert wait_for(lambda: clone_requests_done(env), timeout=CLONE_DELAY + 5)
    assert clone_files(env) == [], err
    assert not os.path.exists(os.path.join(env.paths["lock"], "pve-ontap-vm-100"))
    assert rc != 0 or "interrupted" in err, (rc, err)


def test_hook_watchdog_waits_for_a_slow_thaw(env):
    """The policy timeout passes while the guest is frozen and the thaw takes longer than
    the watchdog's grace: the hook must finish thawing (and say what failed), never end
    the process with the guest still frozen."""
    env.add_vm(100, disks=DISKS, status="running", agent=True)
    env.write_policy(100, "snapshots:\n  - on: [pre-stop]\n    label: daily\n"
                          "    quiesce: freeze\ntimeout: 2s\n")
    slow_clones(env)                                        # 3 s: beyond the timeout
    env.pve.add_fault("POST", r"agent/fsfreeze-thaw$", "latency", seconds=8)
    p = spawn(env, ["100", "pre-stop"], hook=True)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err                           # pre-stop never blocks
    assert "giving up" not in err, err                      # the watchdog did not fire
    assert env.pve.vm(100)["frozen"] is False, err
    thaws = [q for q in env.pve.requests if q["path"].endswith("/agent/fsfreeze-thaw")]
    assert thaws and thaws[0]["status"] == 200, thaws
    # the state was checked after the thaw answered
    paths = [q["path"].rsplit("/", 1)[-1] for q in env.pve.requests if "/agent/" in q["path"]]
    assert paths.index("fsfreeze-status") > paths.index("fsfreeze-thaw"), paths


def test_hook_watchdog_grace_after_a_late_thaw(env):
    """The thaw ends long after the watchdog's grace and the clean-up after it (removing the
    clones of the failed snapshot) is slow: the watchdog counts its grace again from the
    thaw, so the hook finishes the clean-up and releases the lock itself (hook.c
    watchdog_main)."""
    env.add_vm(100, disks=DISKS, status="running", agent=True)
    env.write_policy(100, "snapshots:\n  - on: [pre-stop]\n    label: daily\n"
                          "    quiesce: freeze\ntimeout: 2s\n")
    slow_clones(env)
    env.pve.add_fault("POST", r"agent/fsfreeze-thaw$", "latency", seconds=8)
    env.ontap.add_fault("DELETE", r"^/api/storage/volumes/[^/]+/files/", "latency",
                        count=None, seconds=0.5)
    p = spawn(env, ["100", "pre-stop"], hook=True)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "giving up" not in err, err
    assert env.pve.vm(100)["frozen"] is False, err
    assert clone_files(env) == [], err
    assert not os.path.exists(os.path.join(env.paths["lock"], "pve-ontap-vm-100"))
