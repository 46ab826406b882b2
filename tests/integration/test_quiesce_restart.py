# SPDX-License-Identifier: GPL-2.0-or-later
"""A VM that `vm create --suspend|--shutdown` took down runs again within the command, as
PVE starts it: through vm_start, which runs the VM's pre-start hookscript under the VM
config lock (qemu-server QemuServer.pm vm_start), and that hook takes the VM's cluster lock
(DESIGN.md "Cluster", issue 15.2).  A failed resume or start is retried and verified, and a
complete snapshot is kept when the VM cannot be started (issue 14.5).  At post-start the
guest agent is not up yet: `quiesce: freeze` then takes a crash-consistent snapshot without
any freeze or thaw (issue 15.3)."""

import json
import os
import re
import time

import pytest

from certcache import fast_certs  # noqa: F401

pytestmark = pytest.mark.usefixtures("fast_certs")

DISKS = {"scsi0": ("vm-100-disk-0.raw", 16 * 1024), "scsi1": ("vm-100-disk-1.raw", 8 * 1024)}
TS = r"\d{8}T\d{6}Z"


def snaps(env, label):
    d = os.path.dirname(env.image_path(100, "x"))
    rx = re.compile(r"^vm-100-disk-0-snap-(%s-%s)\.raw$" % (label, TS))
    return sorted(m.group(1) for m in map(rx.match, os.listdir(d)) if m)


def clone_files(env):
    d = os.path.dirname(env.image_path(100, "x"))
    return sorted(f for f in os.listdir(d) if "-snap-" in f)


def restart_tasks(env):
    return [t for t in env.pve.tasks() if t["type"] in ("qmstart", "qmresume")]


def lock_dir(env):
    return os.path.join(env.paths["lock"], "pve-ontap-vm-100")


@pytest.mark.parametrize("how", ["--suspend", "--shutdown"])
def test_started_again_runs_its_own_pre_start_hook(env, how):
    """The hook's pre-start rule (on_error: block) must get the VM's lock during the
    resume/start that `vm create` triggers; before the fix it waited for the CLI's lock
    until its timeout and aborted the start."""
    env.add_vm(100, disks=DISKS, status="running")
    env.install_hook(100)
    env.write_policy(100, "snapshots:\n  - on: [pre-start]\n    label: boot\n"
                          "on_error: block\ntimeout: 5s\n")
    r = env.run("vm", "create", "--vm", "100", how, "--json")
    assert r.returncode == 0, r.stderr
    snap = json.loads(r.stdout)
    vm = env.pve.vm(100)
    assert vm["status"] == "running" and vm["lock"] is None, vm
    # the CLI's snapshot, and the one the hook's own rule took during the start
    assert snaps(env, "manual") == [snap["name"]]
    assert len(snaps(env, "boot")) == 1
    tasks = restart_tasks(env)
    assert [t["exitstatus"] for t in tasks] == ["OK"], tasks
    assert not any("timeout" in line for line in tasks[0]["log"]), tasks[0]["log"]
    assert any(re.match(r"^pve-ontap: VM 100 pre-start: snapshot boot-", line)
               for line in tasks[0]["log"]), tasks[0]["log"]
    assert not os.path.exists(lock_dir(env))


def test_resume_retried_after_a_lost_answer(env):
    """A 596 on the resume (proxy lost the node) is retried; the VM runs again and the
    snapshot is kept."""
    env.add_vm(100, disks=DISKS, status="running")
    env.pve.add_fault("POST", r"/status/resume$", "status", count=1, status=596,
                      message="Connection timed out")
    r = env.run("vm", "create", "--vm", "100", "--suspend", "--json")
    assert r.returncode == 0, r.stderr
    snap = json.loads(r.stdout)
    vm = env.pve.vm(100)
    assert vm["status"] == "running" and vm["lock"] is None, vm
    assert snaps(env, "manual") == [snap["name"]]
    resumes = [q for q in env.pve.requests if q["path"].endswith("/status/resume")]
    assert [q["status"] for q in resumes] == [596, 200]


def test_resume_whose_task_ran_is_not_repeated(env):
    """The resume's answer is lost after PVE did it: the VM's status says it runs, so no
    second resume (which would fail 'VM not running' and mislead)."""
    env.add_vm(100, disks=DISKS, status="running")
    env.pve.add_fault("GET", r"/tasks/.*qmresume.*/status$", "status", count=1000,
                      status=596, message="Connection timed out")
    r = env.run("vm", "create", "--vm", "100", "--suspend")
    assert r.returncode == 0, r.stderr
    assert env.pve.vm(100)["status"] == "running"
    resumes = [q for q in env.pve.requests if q["path"].endswith("/status/resume")]
    assert len(resumes) == 1
    assert len(snaps(env, "manual")) == 1


@pytest.mark.parametrize("how,task", [("--suspend", "qmresume"), ("--shutdown", "qmstart")])
def test_complete_snapshot_kept_when_the_vm_cannot_start(env, how, task):
    env.add_vm(100, disks=DISKS, status="running")
    env.pve.task_fail(task, "start failed: QEMU exited with code 1", count=100)
    r = env.run("vm", "create", "--vm", "100", how)
    assert r.returncode == 1, (r.returncode, r.stderr)
    names = snaps(env, "manual")
    assert len(names) == 1
    assert len(clone_files(env)) == 2  # both disks' clones are there
    assert "snapshot '%s' of VM 100 was taken and is kept" % names[0] in r.stderr
    assert "VM 100 needs attention" in r.stderr and "qm start 100" in r.stderr
    assert "QEMU exited with code 1" in r.stderr
    assert len([t for t in env.pve.tasks() if t["type"] == task]) == 4  # retried
    assert not os.path.exists(lock_dir(env))


def test_failed_snapshot_removed_before_the_vm_is_resumed(env):
    """The clones of a failed snapshot go while the lock is still held, so the hook that
    the resume runs never sees half a snapshot."""
    env.add_vm(100, disks=DISKS, status="running")
    env.ontap.add_fault("POST", r"/api/storage/file/clone", "status", count=1, after=1,
                        status=500, body={"error": {"code": "1", "message": "no space"}})
    r = env.run("vm", "create", "--vm", "100", "--suspend")
    assert r.returncode != 0
    assert "no space" in r.stderr
    assert clone_files(env) == []
    assert env.pve.vm(100)["status"] == "running"


# ---------------------------------------------------------------- post-start freeze


def start_with_hook(env, policy):
    env.add_vm(100, disks=DISKS, agent=True)
    env.install_hook(100)
    env.write_policy(100, policy)
    from test_hook import api, task_of
    return task_of(env, api(env, "POST", "/nodes/pve1/qemu/100/status/start"))


POST_START_FREEZE = "snapshots:\n  - on: [post-start]\n    label: boot\n    quiesce: freeze\n"


def agent_calls(env):
    return [q["path"].rsplit("/", 1)[-1] for q in env.pve.requests if "/agent/" in q["path"]]


def test_post_start_freeze_while_the_agent_boots(env):
    env.pve.agent_boot_seconds = 30
    t = start_with_hook(env, POST_START_FREEZE)
    assert t["exitstatus"] == "OK", t
    assert env.pve.vm(100)["status"] == "running"
    assert len(snaps(env, "boot")) == 1  # crash-consistent, but taken
    assert agent_calls(env) == ["ping"]  # no freeze, and no thaw of a guest never frozen
    assert env.pve.vm(100)["frozen"] is False
    assert not any("error" in line or "warning" in line for line in t["log"]), t["log"]


def test_post_start_freeze_when_the_agent_answers(env):
    env.pve.agent_boot_seconds = 0
    t = start_with_hook(env, POST_START_FREEZE)
    assert t["exitstatus"] == "OK", t
    assert len(snaps(env, "boot")) == 1
    assert agent_calls(env)[:2] == ["ping", "fsfreeze-freeze"]
    assert "fsfreeze-thaw" in agent_calls(env)
    assert env.pve.vm(100)["frozen"] is False
