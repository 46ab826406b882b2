"""Run state and visible failures (issue 16 item 6): a failed hook run logs one warning line
(journald priority <4> under systemd), naming VM, label and cause, and leaves the run state
that `status` reads; a later good run clears it."""

import os
import subprocess

from conftest import binary

DISKS = {"scsi0": ("vm-100-disk-0.raw", 4096)}


def state(env, vmid, label):
    path = os.path.join(env.paths["state"], "runs", "%d-%s.state" % (vmid, label))
    with open(path) as f:
        out = dict(line.rstrip("\n").split("=", 1) for line in f)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    return out


def hook_to_journal(env, vmid, phase):
    """The hook with stderr on a file that JOURNAL_STREAM names, as systemd sets it up."""
    err = os.path.join(env.T, "stderr.log")
    with open(err, "w") as f:
        st = os.fstat(f.fileno())
        e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
             "PVE_ONTAP_CONFIG": env.config_path,
             "JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}
        r = subprocess.run([binary(), str(vmid), phase], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=f, text=True, env=e, timeout=60)
    with open(err) as f:
        return r, f.read().splitlines()


def test_failed_hook_run_warns_once_and_is_recorded(env):
    env.add_vm(100, disks=DISKS)
    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: daily\n"
                          "  - on: [post-stop]\n    label: boot\n")
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "status", count=10, status=500,
                        body={"error": {"message": "internal error", "code": "65552"}})
    r, lines = hook_to_journal(env, 100, "post-stop")
    assert r.returncode == 0
    ours = [ln for ln in lines if "VM 100 post-stop" in ln]
    assert len(ours) == 1, lines
    assert ours[0].startswith("<4>VM 100 post-stop: snapshot failed: "), ours[0]
    assert "internal error" in ours[0] and ours[0].endswith(" (labels daily, boot)"), ours[0]
    for label in ("daily", "boot"):
        s = state(env, 100, label)
        assert s["result"] == "failed" and "internal error" in s["cause"], s
        assert s["runs_failed"] == "1" and s["runs_ok"] == "0" and s["last_success"] == "0"

    env.ontap.clear_faults()
    r, lines = hook_to_journal(env, 100, "post-stop")
    assert r.returncode == 0, lines
    assert not [ln for ln in lines if ln.startswith("<4>")], lines
    s = state(env, 100, "daily")
    assert s["result"] == "ok" and s["cause"] == "" and s["runs_ok"] == "1"
    assert s["runs_failed"] == "1" and int(s["last_success"]) == int(s["last_run"]) > 0
