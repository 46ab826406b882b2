# SPDX-License-Identifier: GPL-2.0-or-later
"""Hook mode: `pve-ontap <vmid> <phase>` run as PVE runs it (reference/pve.md §1): argv only,
stdin closed, LC_ALL=C, no options (the config comes from $PVE_ONTAP_CONFIG).  Outcomes are
checked on disk (clone files next to the disks), in the job queue and in the requests the
simulators saw."""

import json
import os
import re
import ssl
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DISKS = {
    "scsi0": ("vm-100-disk-0.raw", 64 * 1024),
    "virtio1": ("vm-100-disk-1.raw", 32 * 1024),
}
TS = r"\d{8}T\d{6}Z"
LINE_RE = re.compile(r"^pve-ontap: VM 100 (?P<phase>[a-z-]+): snapshot "
                     r"(?P<name>[a-z0-9_]+-%s) of (?P<n>\d+) disks? in \d+\.\d s"
                     r"(?:; pruned (?P<pruned>\d+)(?: \((?P<names>[^)]*)\))?)?$" % TS)


def binary():
    return os.environ.get("PVE_ONTAP_BIN") or os.path.join(REPO, "build", "pve-ontap")


def hook(env, vmid, phase, extra_env=None, timeout=120):
    """Run the hook exactly as qemu-server's exec_hookscript does; adds .elapsed."""
    exe = binary()
    if not os.access(exe, os.X_OK):
        pytest.fail("pve-ontap not built (%s); run make" % exe)
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
         "LVM_SUPPRESS_FD_WARNINGS": "1", "PVE_ONTAP_CONFIG": env.config_path}
    e.update(extra_env or {})
    t0 = time.monotonic()
    p = subprocess.run([exe, str(vmid), phase], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, env=e, timeout=timeout, cwd="/")
    p.elapsed = time.monotonic() - t0
    return p


def nreq(env):
    return len(env.ontap.requests) + len(env.pve.requests)


def images(env, vmid=100):
    return os.path.join(env.paths["mnt"], "ONTAP01", "images", str(vmid))


def snapshots(env, label=None, vmid=100):
    """Names (<label>-<ts>) of the snapshots whose clone of disk 0 exists, oldest first."""
    rx = re.compile(r"^vm-%d-disk-0-snap-(([a-z0-9_]+)-%s)\.raw$" % (vmid, TS))
    out = []
    for f in os.listdir(images(env, vmid)):
        m = rx.match(f)
        if m and (label is None or m.group(2) == label):
            out.append(m.group(1))
    return sorted(out, key=lambda n: (n.rsplit("-", 1)[1], n))


def clone(env, disk_file, name, vmid=100):
    stem, ext = disk_file.rsplit(".", 1)
    return os.path.join(images(env, vmid), "%s-snap-%s.%s" % (stem, name, ext))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def set_power(env, vmid, status):
    """What PVE does between the phases: the VM starts or stops."""
    with env.pve._lock:  # the simulator's own state change, as its start/stop tasks do
        env.pve._set_run(int(vmid), status)


def agent_calls(env):
    return [q["path"].rsplit("/", 1)[-1] for q in env.pve.requests if "/agent/" in q["path"]]


def clone_posts(env):
    return [q for q in env.ontap.requests
            if q["method"] == "POST" and q["path"] == "/api/storage/file/clone"]


def hang_ontap(env, seconds):
    """Every ONTAP request answers only after `seconds`."""
    for m in ("GET", "POST", "PATCH", "DELETE"):
        env.ontap.add_fault(m, r".*", "latency", count=10000, seconds=seconds)


def snapped(r, phase):
    """The snapshot name of the hook's status line for phase."""
    for line in r.stdout.splitlines():
        m = LINE_RE.match(line)
        if m and m.group("phase") == phase:
            return m
    raise AssertionError("no snapshot line for %s in %r / %r" % (phase, r.stdout, r.stderr))


def lock_held(env, vmid=100):
    return os.path.exists(os.path.join(env.paths["lock"], "pve-ontap-vm-%d" % vmid))


def make_vm(env, **kw):
    return env.add_vm(100, disks=DISKS, extra_conf="ide2: none,media=cdrom\n", **kw)


# ---------------------------------------------------------------- nothing to do


def test_no_policy_exits_at_once_without_a_request(env):
    make_vm(env, status="running")
    env.write_policy(101, "snapshots:\n  - on: [pre-start]\n    label: other\n")
    before = nreq(env)
    for phase in ("pre-start", "post-start", "pre-stop", "post-stop", "pre-migrate"):
        r = hook(env, 100, phase)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        assert r.elapsed < 2.0
    assert nreq(env) == before == 0
    assert env.queue_jobs() == []
    assert snapshots(env) == []
    assert env.qm_calls() == []


def test_no_rule_for_the_phase_sends_nothing(env):
    make_vm(env, status="running")
    env.write_policy("default", "snapshots:\n  - on: [pre-stop]\n    label: daily\n")
    for phase in ("pre-start", "post-start", "post-stop", "some-future-phase"):
        r = hook(env, 100, phase)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "" or "unknown phase" in r.stdout
    assert nreq(env) == 0
    assert snapshots(env) == []


def test_broken_policy_or_config_never_blocks(env):
    make_vm(env)
    path = env.write_policy(100, "snapshots:\n  - on: [pre-start]\n    label: x\n"
                                 "    kep: 3\non_error: block\n")
    r = hook(env, 100, "pre-start")
    assert r.returncode == 0
    assert "%s:4:5: unknown key 'kep'" % path in r.stderr
    r = hook(env, 100, "pre-start",
             extra_env={"PVE_ONTAP_CONFIG": os.path.join(env.T, "missing.yaml")})
    assert r.returncode == 0
    assert len(r.stderr.splitlines()) == 1 and "configuration" in r.stderr
    assert nreq(env) == 0


# ---------------------------------------------------------------- the phases


POLICY_ALL = """\
snapshots:
  - on: [pre-stop]
    label: daily
    keep: 7
    quiesce: freeze
  - on: [post-stop]
    label: offline
    keep: 7
  - on: [post-start]
    label: boot
    keep: 7
    quiesce: freeze
"""


def test_stop_start_reboot_migration_sequence(env):
    paths = make_vm(env, status="running", agent=True)
    env.write_policy(100, POLICY_ALL)
    disk0 = DISKS["scsi0"][0]

    def write_disk(tag):
        with open(paths["scsi0"], "wb") as f:
            f.write(tag.encode() * 1024)
        return tag.encode() * 1024

    # stop: pre-stop (running: frozen and thawed), then post-stop (stopped: no agent)
    content = write_disk("stop1")
    r = hook(env, 100, "pre-stop")
    assert r.returncode == 0, r.stderr
    m = snapped(r, "pre-stop")
    assert m.group("n") == "2"
    daily1 = m.group("name")
    assert snapshots(env, "daily") == [daily1]
    assert read(clone(env, disk0, daily1)) == content
    assert agent_calls(env)[0] == "fsfreeze-freeze" and "fsfreeze-thaw" in agent_calls(env)
    assert env.pve.vm(100)["frozen"] is False
    set_power(env, 100, "stopped")
    nagent = len(agent_calls(env))
    r = hook(env, 100, "post-stop")
    assert r.returncode == 0, r.stderr
    offline1 = snapped(r, "post-stop").group("name")
    assert snapshots(env, "offline") == [offline1]
    assert len(agent_calls(env)) == nagent

    # start: pre-start has no rule, post-start snapshots the running VM
    time.sleep(1.1)
    n = nreq(env)
    r = hook(env, 100, "pre-start")
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert nreq(env) == n
    set_power(env, 100, "running")
    content = write_disk("start1")
    r = hook(env, 100, "post-start")
    assert r.returncode == 0, r.stderr
    boot1 = snapped(r, "post-start").group("name")
    assert snapshots(env, "boot") == [boot1]
    assert read(clone(env, disk0, boot1)) == content

    # reboot through the API: all four phases
    time.sleep(1.1)
    content = write_disk("reboot")
    assert hook(env, 100, "pre-stop").returncode == 0
    set_power(env, 100, "stopped")
    assert hook(env, 100, "post-stop").returncode == 0
    assert hook(env, 100, "pre-start").returncode == 0
    set_power(env, 100, "running")
    assert hook(env, 100, "post-start").returncode == 0
    assert len(snapshots(env, "daily")) == 2
    assert len(snapshots(env, "offline")) == 2
    assert len(snapshots(env, "boot")) == 2
    assert read(clone(env, disk0, snapshots(env, "daily")[-1])) == content
    # the older ones still hold their bytes
    assert read(clone(env, disk0, daily1)) == b"stop1" * 1024

    # live migration, target node: pre-start and post-start with PVE_MIGRATED_FROM
    time.sleep(1.1)
    n = nreq(env)
    r = hook(env, 100, "pre-start", extra_env={"PVE_MIGRATED_FROM": "pve2"})
    assert r.returncode == 0 and r.stdout == "", r.stderr  # no rule there anyway
    r = hook(env, 100, "post-start", extra_env={"PVE_MIGRATED_FROM": "pve2"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "pve-ontap: VM 100 post-start: skipped: migration from pve2 " \
                       "(skip_on_migration)\n"
    assert nreq(env) == n
    assert len(snapshots(env)) == 6
    # an empty PVE_MIGRATED_FROM is a normal start
    r = hook(env, 100, "post-start", extra_env={"PVE_MIGRATED_FROM": ""})
    assert r.returncode == 0, r.stderr
    assert len(snapshots(env, "boot")) == 3

    # the hook never touched the VM config itself, nor ran qm
    assert env.qm_calls() == []
    assert not lock_held(env)


def test_migration_snapshot_when_asked(env):
    make_vm(env)
    env.write_policy(100, "snapshots:\n  - on: [pre-start]\n    label: migrated\n"
                          "skip_on_migration: false\n")
    r = hook(env, 100, "pre-start", extra_env={"PVE_MIGRATED_FROM": "pve2"})
    assert r.returncode == 0, r.stderr
    assert len(snapshots(env, "migrated")) == 1


def test_backup_of_a_stopped_vm_is_not_a_boot(env):
    env.add_vm(100, disks=DISKS, extra_conf="lock: backup\n")
    env.write_policy(100, "snapshots:\n  - on: [pre-start, post-start]\n    label: boot\n")
    r = hook(env, 100, "pre-start")
    assert r.returncode == 0, r.stderr
    assert "skipped: backup in progress" in r.stdout
    assert snapshots(env) == [] and nreq(env) == 0


def test_disks_include_exclude(env):
    make_vm(env)
    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: sys\n"
                          "disks:\n  exclude: [virtio1]\n")
    r = hook(env, 100, "post-stop")
    assert r.returncode == 0, r.stderr
    name = snapped(r, "post-stop").group("name")
    assert snapped(r, "post-stop").group("n") == "1"
    assert os.path.exists(clone(env, DISKS["scsi0"][0], name))
    assert not os.path.exists(clone(env, DISKS["virtio1"][0], name))


# ---------------------------------------------------------------- retention


def test_retention_keeps_exactly_n_and_spares_other_snapshots(env):
    make_vm(env)
    env.write_policy(100, "snapshots:\n  - on: [pre-stop]\n    label: daily\n    keep: 2\n")
    # a snapshot made by hand, and files that only look alike
    r = env.run("--json", "vm", "create", "--vm", "100")
    assert r.returncode == 0, r.stderr
    manual = json.loads(r.stdout)["name"]
    assert manual.startswith("manual-")
    foreign = ["vm-100-disk-0-snap-daily-20200101.raw", "vm-100-disk-0-copy.raw",
               "vm-100-disk-0-snap-daily-20200101T000000Z.raw.bak"]
    for f in foreign:
        with open(os.path.join(images(env), f), "wb") as fh:
            fh.write(b"not ours")

    names = []
    for i in range(4):
        time.sleep(1.1)
        r = hook(env, 100, "pre-stop")
        assert r.returncode == 0, r.stderr
        m = snapped(r, "pre-stop")
        names.append(m.group("name"))
        if i < 2:
            assert m.group("pruned") is None
        else:
            # the oldest of the label goes, and the line says which
            assert m.group("pruned") == "1"
            assert m.group("names") == names[i - 2]
        assert snapshots(env, "daily") == names[-2:]

    assert snapshots(env, "manual") == [manual]
    for f in foreign:
        assert read(os.path.join(images(env), f)) == b"not ours"
    # both disks' clones of the pruned snapshots are gone, the kept ones are there
    for name in names[:2]:
        for fname, _ in DISKS.values():
            assert not os.path.exists(clone(env, fname, name))
    for name in names[2:]:
        for fname, _ in DISKS.values():
            assert os.path.exists(clone(env, fname, name))
    # PVE may list a pruned clone as unusedN: the watcher is asked to drop it
    removals = {j["volid"] for j in env.queue_jobs() if j["action"] == "unused-remove"}
    for name in names[:2]:
        assert "ONTAP01:100/vm-100-disk-0-snap-%s.raw" % name in removals


def test_min_interval_skips(env):
    make_vm(env)
    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: daily\n"
                          "    min_interval: 1h\n")
    r = hook(env, 100, "post-stop")
    assert r.returncode == 0, r.stderr
    first = snapped(r, "post-stop").group("name")
    time.sleep(1.1)
    posts = len(clone_posts(env))
    r = hook(env, 100, "post-stop")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^pve-ontap: VM 100 post-stop: skipped daily: newest is \d+s old "
                     r"\(min_interval 1h\)$", r.stdout, re.M), r.stdout
    assert len(clone_posts(env)) == posts
    assert snapshots(env, "daily") == [first]
    # another label is another bucket; a shorter interval that has passed lets it through
    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: daily\n"
                          "    min_interval: 2s\n")
    time.sleep(1.5)
    r = hook(env, 100, "post-stop")
    assert r.returncode == 0, r.stderr
    assert snapped(r, "post-stop")
    assert len(snapshots(env, "daily")) == 2


# ---------------------------------------------------------------- the queue


def test_register_job_per_clone_and_config_untouched(env):
    make_vm(env)
    conf = os.path.join(env.paths["pve_etc"], "nodes", "pve1", "qemu-server", "100.conf")
    before = read(conf)
    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: offline\n")
    for _ in range(2):
        r = hook(env, 100, "post-stop")
        assert r.returncode == 0, r.stderr
        time.sleep(1.1)
    # one register job per clone file of the two snapshots, exactly those volumes
    clones = sorted(f for f in os.listdir(os.path.dirname(env.image_path(100, "x")))
                    if "-snap-" in f)
    assert len(clones) == 2 * len(DISKS)
    jobs = sorted((j["vmid"], j["action"], j["volid"]) for j in env.queue_jobs())
    assert jobs == [(100, "register", "ONTAP01:100/" + f) for f in clones]
    assert read(conf) == before
    assert env.qm_calls() == []
    # PVE's own config writes were never asked for either
    assert not [q for q in env.pve.requests if q["path"].endswith("/config")
                and q["method"] in ("PUT", "POST")]

    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: quiet\n"
                          "register: false\n")
    r = hook(env, 100, "post-stop")
    assert r.returncode == 0, r.stderr
    assert len(env.queue_jobs()) == 2 * len(DISKS)


def loud_registrations(env):
    return sorted((j["vmid"], j["action"], "-snap-loud-" in j["volid"])
                  for j in env.queue_jobs())


def test_rule_register_overrides_the_policy(env):
    """A rule's own `register` wins over the policy-wide one (DESIGN.md Policies)."""
    make_vm(env)
    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: quiet\n"
                          "    register: false\n  - on: [post-stop]\n    label: loud\n"
                          "register: true\n")
    r = hook(env, 100, "post-stop")
    assert r.returncode == 0, r.stderr
    # one register job per clone of a registering snapshot: only 'loud' registers
    assert loud_registrations(env) == [(100, "register", True)] * 2

    time.sleep(1.1)
    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: loud\n"
                          "    register: yes\n  - on: [post-stop]\n    label: quiet\n"
                          "register: false\n")
    r = hook(env, 100, "post-stop")
    assert r.returncode == 0, r.stderr
    assert loud_registrations(env) == [(100, "register", True)] * 4


# ---------------------------------------------------------------- failures


def test_hung_ontap_warn_returns_by_the_deadline(env):
    make_vm(env, status="running", agent=True)
    env.write_policy(100, "snapshots:\n  - on: [pre-stop]\n    label: daily\n"
                          "    quiesce: freeze\ntimeout: 3s\n")
    # listing answers, the clone hangs: the guest is frozen when the deadline comes
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "latency", count=100, seconds=8)
    r = hook(env, 100, "pre-stop")
    assert r.returncode == 0
    assert r.elapsed < 3 + 3, r.elapsed
    # our own line comes last (ops may have logged details before it)
    assert r.stderr.splitlines()[-1].startswith(
        "pve-ontap: warning: VM 100 pre-stop: snapshot failed: timeout of 3s reached: "), \
        r.stderr
    assert snapshots(env) == []
    assert not lock_held(env)
    # the freeze was undone although the deadline had passed
    assert "fsfreeze-freeze" in agent_calls(env) and "fsfreeze-thaw" in agent_calls(env)
    assert env.pve.vm(100)["frozen"] is False

    # everything hung, listing included: still back by the deadline
    hang_ontap(env, 8)
    r = hook(env, 100, "pre-stop")
    assert r.returncode == 0
    assert r.elapsed < 3 + 3, r.elapsed
    assert "pve-ontap: warning: VM 100 pre-stop: " in r.stderr
    assert not lock_held(env)


def test_hung_ontap_block_aborts_pre_start_only(env):
    make_vm(env)
    env.write_policy(100, "snapshots:\n  - on: [pre-start, post-stop]\n    label: safe\n"
                          "on_error: block\ntimeout: 2s\n")
    hang_ontap(env, 7)
    r = hook(env, 100, "pre-start")
    assert r.returncode == 5, r.stdout + r.stderr
    assert r.elapsed < 2 + 3, r.elapsed
    assert r.stderr.splitlines()[-1].startswith(
        "pve-ontap: error: VM 100 pre-start: cannot list snapshots: timeout of 2s reached: ")
    assert r.stderr.splitlines()[-1].endswith("; the start is aborted (on_error: block)")
    assert not lock_held(env)
    # no other phase can veto: the same failure is a warning there
    r = hook(env, 100, "post-stop")
    assert r.returncode == 0
    assert "pve-ontap: warning: VM 100 post-stop: " in r.stderr


def blocking_policy_and_failing_clones(env):
    make_vm(env)
    env.write_policy(100, "snapshots:\n  - on: [pre-start]\n    label: safe\n"
                          "on_error: block\n")
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "status", count=10, status=500,
                        body={"error": {"message": "internal error", "code": "65552"}})


def test_ontap_error_status_in_pre_start(env):
    blocking_policy_and_failing_clones(env)
    r = hook(env, 100, "pre-start")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "snapshot failed" in r.stderr and "internal error" in r.stderr
    assert snapshots(env) == []
    # with on_error: warn the start goes on
    env.write_policy(100, "snapshots:\n  - on: [pre-start]\n    label: safe\n")
    r = hook(env, 100, "pre-start")
    assert r.returncode == 0
    ours = [line for line in r.stderr.splitlines() if "VM 100 pre-start" in line]
    assert len(ours) == 1
    assert ours[0].startswith("pve-ontap: warning: VM 100 pre-start: snapshot failed: ")
    assert r.stderr.splitlines()[-1] == ours[0]


def test_explicit_hook_command_keeps_the_blocking_status(env):
    """'pve-ontap hook VMID PHASE' (by hand) exits as the hookscript form does."""
    blocking_policy_and_failing_clones(env)
    r = env.run("hook", "100", "pre-start")
    assert r.returncode == 4, r.stdout + r.stderr
    assert r.stderr.splitlines()[-1].endswith("; the start is aborted (on_error: block)")
    assert snapshots(env) == []
    assert not lock_held(env)


def test_waits_for_the_cluster_lock_within_the_deadline(env):
    make_vm(env)
    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: x\ntimeout: 2s\n")
    # another node holds the VM's lock (fresh, so not stale)
    held = os.path.join(env.paths["lock"], "pve-ontap-vm-100")
    os.mkdir(held)
    with open(os.path.join(held, "owner"), "w") as f:
        f.write("pve2 4242 %d\n" % int(time.time()))
    r = hook(env, 100, "post-stop")
    assert r.returncode == 0
    # waits for the work's share of the timeout (2 s less the 1 s kept for cleaning up)
    assert 0.9 < r.elapsed < 5, r.elapsed
    assert "warning: VM 100 post-stop: cannot lock the VM: timeout of 2s reached: " \
           "cannot lock 'vm-100': held by pve2 pid 4242" in r.stderr
    assert os.path.isdir(held)  # someone else's lock is left alone
    assert snapshots(env) == []


# ---------------------------------------------------------------- as PVE runs it


def api(env, method, path, **params):
    ctx = ssl.create_default_context(cafile=env.certs["ca"])
    url = "https://127.0.0.1:%d/api2/json%s" % (env.pve.port, path)
    data = urllib.parse.urlencode(params).encode() if method != "GET" else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": "PVEAPIToken=%s" % env.pve.token})
    with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
        return json.load(resp)["data"]


def task_of(env, upid):
    env.pve.wait_tasks(timeout=60)
    return next(t for t in env.pve.tasks() if t["upid"] == upid)


def test_pve_runs_the_hook_on_start_and_stop(env):
    make_vm(env, agent=True)
    env.pve.agent_boot_seconds = 1.0  # the guest's agent is up by the shutdown below
    env.install_hook(100)
    env.write_policy(100, "snapshots:\n  - on: [post-start]\n    label: boot\n    keep: 3\n"
                          "  - on: [pre-stop]\n    label: daily\n    quiesce: freeze\n")
    t = task_of(env, api(env, "POST", "/nodes/pve1/qemu/100/status/start"))
    assert t["exitstatus"] == "OK", t
    assert env.pve.vm(100)["status"] == "running"
    assert len(snapshots(env, "boot")) == 1
    assert any(line.startswith("pve-ontap: VM 100 post-start: snapshot boot-")
               for line in t["log"]), t["log"]
    time.sleep(1.1)
    t = task_of(env, api(env, "POST", "/nodes/pve1/qemu/100/status/shutdown"))
    assert t["exitstatus"] == "OK", t
    assert len(snapshots(env, "daily")) == 1
    assert env.pve.vm(100)["frozen"] is False


def test_pve_start_aborted_by_a_blocking_policy(env):
    make_vm(env)
    env.install_hook(100)
    env.write_policy(100, "snapshots:\n  - on: [pre-start]\n    label: safe\n"
                          "on_error: block\ntimeout: 2s\n")
    hang_ontap(env, 6)
    t = task_of(env, api(env, "POST", "/nodes/pve1/qemu/100/status/start"))
    assert "hookscript error for 100 on pre-start" in t["exitstatus"], t
    assert "exit code 5" in t["exitstatus"]
    assert env.pve.vm(100)["status"] == "stopped"
