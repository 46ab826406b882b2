"""`pve-ontap watch`: the job queue, the NFS reconcile, NVMe devices, signals (DESIGN.md
"Job queue (contract)", "Watcher").

The watcher runs as a subprocess against the `env` tree; the fake qm records every call in
T/qm.log and acts on T/etc/pve like the real one.
"""

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request
import uuid as uuidlib
import base64

import pytest

from conftest import ONTAP_PASSWORD, binary

STORAGE = "ONTAP01"


# ------------------------------------------------------------------------------ helpers

def wait_for(cond, timeout=10.0, step=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def write_job(env, vmid, action="rescan", name=None, **kw):
    """As queue_put() does: a '.'-name in the queue, then rename into place."""
    job = {"vmid": vmid, "action": action}
    job.update(kw)
    q = env.paths["queue"]
    name = name or "%d-%s.job" % (vmid, uuidlib.uuid4().hex)
    tmp = os.path.join(q, ".%s.tmp" % name)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(job, f)
    os.rename(tmp, os.path.join(q, name))
    return name


def queue_files(env):
    q = env.paths["queue"]
    return sorted(n for n in os.listdir(q)
                  if not n.startswith(".") and n not in ("rejected", "failed"))


def rescans(env, vmid=None):
    return [c for c in env.qm_calls()
            if c[:1] == ["rescan"] and (vmid is None or c == ["rescan", "--vmid", str(vmid)])]


def migrate(env, vmid, target="pve2"):
    """POST .../migrate to another node of the cluster through the PVE simulator; returns
    the task's exit status."""
    import http.client
    import urllib.parse
    os.makedirs(os.path.join(env.paths["pve_etc"], "nodes", target), exist_ok=True)
    ctx = ssl.create_default_context(cafile=env.certs["ca"])
    conn = http.client.HTTPSConnection("127.0.0.1", env.pve.port, context=ctx, timeout=10)
    h = {"Authorization": "PVEAPIToken=" + env.pve.token,
         "Content-Type": "application/x-www-form-urlencoded"}
    conn.request("POST", "/api2/json/nodes/%s/qemu/%d/migrate" % (env.pve.node, vmid),
                 body=urllib.parse.urlencode({"target": target}), headers=h)
    r = conn.getresponse()
    body = json.loads(r.read())
    assert r.status == 200, body
    upid = body["data"]
    for _ in range(500):
        conn.request("GET", "/api2/json/nodes/%s/tasks/%s/status"
                     % (env.pve.node, urllib.parse.quote(upid, safe="")), headers=h)
        st = json.loads(conn.getresponse().read())["data"]
        if st["status"] == "stopped":
            return st["exitstatus"]
        time.sleep(0.02)
    raise AssertionError("migration task did not end")


def registers(env, vmid=None):
    """`qm set N --unusedK <volid>` calls (the register job)."""
    return [c for c in env.qm_calls()
            if c[:1] == ["set"] and len(c) == 4 and c[2].startswith("--unused")
            and (vmid is None or c[1] == str(vmid))]


def set_reconcile(env, seconds):
    env.config.setdefault("watch", {})["reconcile"] = "%ds" % seconds
    env.write_config()


class Watcher:
    """`pve-ontap --config T/config.yaml watch` in the background, stderr in T/watch.log."""

    def __init__(self, env, *args):
        exe = binary()
        if not os.access(exe, os.X_OK):
            pytest.fail("pve-ontap not built (%s); run make" % exe)
        self.env = env
        self.log_path = os.path.join(env.T, "watch.log")
        self.log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        e = dict(os.environ)
        e.pop("PVE_ONTAP_CONFIG", None)
        e["PVE_ONTAP_ALLOW_NONROOT"] = "1"
        e["LC_ALL"] = "C"
        self.err = open(self.log_path, "ab")
        self.p = subprocess.Popen(
            [exe, "--config", env.config_path, "--log-level", "debug", "watch"] + list(args),
            stdout=subprocess.DEVNULL, stderr=self.err, env=e, cwd=env.T)
        if not args:
            assert wait_for(lambda: "watching queue" in self.log() or self.p.poll() is not None,
                            timeout=15), self.log()
            assert self.p.poll() is None, "watcher exited early:\n" + self.log()

    def log(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.log_start)
            return f.read().decode(errors="replace")

    def signal(self, sig):
        self.p.send_signal(sig)

    def stop(self, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.err.close()
        return rc

    def kill9(self):
        self.p.kill()
        self.p.wait()
        self.err.close()


@pytest.fixture
def watcher(env):
    started = []

    def start(*args):
        w = Watcher(env, *args)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.p.poll() is None:
            w.stop()


def run_once(env):
    return env.run("watch", "--once", extra_env={"PVE_ONTAP_ALLOW_NONROOT": "1"}, timeout=120)


# ------------------------------------------------------------------------------ queue

def test_queued_rescan_reaches_qm_fast(env, watcher):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    w = watcher()
    times = []
    for i in range(3):
        before = len(rescans(env, 100))
        t0 = time.monotonic()
        write_job(env, 100)
        assert wait_for(lambda: len(rescans(env, 100)) > before, timeout=5), w.log()
        times.append(time.monotonic() - t0)
        assert wait_for(lambda: not queue_files(env), timeout=5), w.log()
    # the fake qm is a Python program: most of each figure is its start-up
    print("queue -> qm latency (s): %s" % ", ".join("%.3f" % t for t in times))
    assert max(times) < 2.0, times
    assert w.stop() == 0


def test_500_jobs_for_5_vms_are_5_rescans(env, watcher):
    vmids = [100, 101, 102, 103, 104]
    for v in vmids:
        env.add_vm(v, disks={"scsi0": ("vm-%d-disk-0.raw" % v, 4096)})
    for i in range(500):
        write_job(env, vmids[i % 5])
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    assert sorted(int(c[2]) for c in rescans(env)) == vmids
    assert queue_files(env) == []

    # the same with a watcher that starts on leftovers
    for i in range(500):
        write_job(env, vmids[i % 5])
    w = watcher()
    assert wait_for(lambda: not queue_files(env), timeout=30), w.log()
    time.sleep(0.3)
    assert sorted(int(c[2]) for c in rescans(env)) == sorted(vmids * 2), w.log()
    assert w.stop() == 0


def test_jobs_of_one_vm_run_in_order_and_unused_remove(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)},
               extra_conf="unused0: %s:100/vm-100-disk-0-snap-daily-20261122T101500Z.raw\n"
                          "unused1: %s:100/vm-100-disk-0-snap-daily-20261121T101500Z.raw\n"
               % (STORAGE, STORAGE))
    # unused1's file is there (the reconcile keeps it); unused0's went with a prune
    with open(env.image_path(100, "vm-100-disk-0-snap-daily-20261121T101500Z.raw"), "wb") as f:
        f.write(b"k" * 4096)
    write_job(env, 100, "unused-remove",
              volid="%s:100/vm-100-disk-0-snap-daily-20261122T101500Z.raw" % STORAGE)
    write_job(env, 100, "unused-remove",
              volid="%s:100/vm-100-disk-0-snap-daily-20261122T101500Z.raw" % STORAGE)
    # nothing refers to this one: success without a qm call
    write_job(env, 100, "unused-remove",
              volid="%s:100/vm-100-disk-0-snap-daily-20200101T000000Z.raw" % STORAGE)
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    assert env.qm_calls() == [["set", "100", "--delete", "unused0"]], r.stderr
    conf = env.vm_config(100)
    assert "unused0" not in conf and "unused1" in conf
    assert queue_files(env) == []


def test_locked_vm_is_retried_until_unlocked(env, watcher):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)}, extra_conf="lock: backup")
    w = watcher()
    name = write_job(env, 100)
    assert wait_for(lambda: len(rescans(env, 100)) >= 2, timeout=10), w.log()
    assert name in queue_files(env)          # kept while the VM is locked
    assert "VM is locked (backup)" in w.log()
    # unlock: rewrite the config without the lock line
    path = os.path.join(env.paths["pve_etc"], "qemu-server", "100.conf")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(l for l in text.splitlines(True) if not l.startswith("lock:")))
    assert wait_for(lambda: not queue_files(env), timeout=40), w.log()
    assert "'qm rescan --vmid 100' done" in w.log() or "rescan --vmid 100' done" in w.log()
    # the flock (T/lock-100, held by another qm) is retried the same way
    open(os.path.join(env.T, "lock-100"), "w").close()
    n = len(rescans(env, 100))
    write_job(env, 100)
    assert wait_for(lambda: len(rescans(env, 100)) >= n + 2, timeout=10), w.log()
    assert queue_files(env)
    os.unlink(os.path.join(env.T, "lock-100"))
    assert wait_for(lambda: not queue_files(env), timeout=40), w.log()
    assert w.stop() == 0


def test_kill9_while_qm_runs_loses_no_job(env, watcher):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    # the first rescan of VM 100 hangs for 3 s (and then "succeeds" without acting)
    env.qm_faults([{"match": ["rescan", "--vmid", "100"], "sleep": 3, "exit": 0, "count": 1}])
    w = watcher()
    name = write_job(env, 100)
    assert wait_for(lambda: len(rescans(env, 100)) == 1, timeout=10), w.log()
    w.kill9()                                # between reading the job and its completion
    assert name in queue_files(env)
    w2 = watcher()
    assert wait_for(lambda: not queue_files(env), timeout=15), w2.log()
    assert len(rescans(env, 100)) == 2
    assert w2.stop() == 0


def test_sigterm_finishes_the_qm_in_hand(env, watcher):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    env.qm_faults([{"match": ["rescan", "--vmid", "100"], "sleep": 2, "exit": 0, "count": 1}])
    w = watcher()
    write_job(env, 100)
    assert wait_for(lambda: len(rescans(env, 100)) == 1, timeout=10), w.log()
    t0 = time.monotonic()
    w.signal(signal.SIGTERM)
    assert w.stop() == 0
    # it waited for qm (on a worker thread) and then deleted the job file
    assert time.monotonic() - t0 > 1.0, w.log()
    assert queue_files(env) == [], w.log()
    assert "1 job(s) done" in w.log()


def test_invalid_job_files_are_rejected(env, watcher):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    env.add_vm(101, disks={"scsi0": ("vm-101-disk-0.raw", 4096)})
    q = env.paths["queue"]
    # a valid job outside the queue, reached through a symlink: never followed
    outside = os.path.join(env.T, "outside.job")
    with open(outside, "w") as f:
        json.dump({"vmid": 100, "action": "rescan"}, f)
    bad = {
        "100-link.job": None,
        "100-big.job": json.dumps({"vmid": 100, "action": "rescan"}) + " " * 5000,
        "100-badjson.job": '{"vmid": 100, "action": "rescan"',
        "100-unknown.job": json.dumps({"vmid": 100, "action": "destroy"}),
        "100-extra.job": json.dumps({"vmid": 100, "action": "rescan", "cmd": "rm -rf /"}),
    }
    w = watcher()
    os.symlink(outside, os.path.join(q, ".100-link.job.tmp"))
    os.rename(os.path.join(q, ".100-link.job.tmp"), os.path.join(q, "100-link.job"))
    for name, text in bad.items():
        if text is None:
            continue
        tmp = os.path.join(q, "." + name)
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(q, name))
    write_job(env, 101)
    assert wait_for(lambda: rescans(env, 101), timeout=10), w.log()
    assert wait_for(lambda: len(os.listdir(os.path.join(q, "rejected"))) == len(bad),
                    timeout=10), w.log()
    assert w.stop() == 0
    # a file that made no event (a FIFO created in place) is found at the next start
    os.mkfifo(os.path.join(q, "100-fifo.job"))
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    bad["100-fifo.job"] = None
    assert sorted(os.listdir(os.path.join(q, "rejected"))) == sorted(bad)
    assert queue_files(env) == []
    assert rescans(env, 100) == []
    assert os.path.exists(outside)
    assert "rejected job file '100-big.job'" in w.log()


def test_job_for_vm_of_another_node_is_kept(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    other = os.path.join(env.paths["pve_etc"], "nodes", "pve2", "qemu-server")
    os.makedirs(other)
    os.rename(os.path.join(env.paths["pve_etc"], "nodes", "pve1", "qemu-server", "100.conf"),
              os.path.join(other, "100.conf"))
    name = write_job(env, 100)
    r = run_once(env)
    assert r.returncode == 1                 # left for a later run
    assert env.qm_calls() == []
    assert queue_files(env) == [name]


# ------------------------------------------------------------------------------ NFS

def test_reconcile_finds_clone_made_elsewhere(env, watcher):
    set_reconcile(env, 1)
    # VM 105's image directory gets a clone while its config is on no node here (as when
    # ONTAP made it: no inotify event reaches this node); then the VM arrives
    img = env.image_path(105, "vm-105-disk-0-snap-daily-20261122T101500Z.raw")
    os.makedirs(os.path.dirname(img))
    with open(env.image_path(105, "vm-105-disk-0.raw"), "wb") as f:
        f.write(b"x" * 4096)
    w = watcher()
    with open(img, "wb") as f:
        f.write(b"y" * 4096)
    time.sleep(0.5)
    assert registers(env, 105) == []         # not a VM of this node (yet)
    env.add_vm(105, disks={"scsi0": ("vm-105-disk-0.raw", 4096)},
               extra_conf="unused0: %s:105/someone-elses.raw\n" % STORAGE)
    t0 = time.monotonic()
    volid = "%s:105/vm-105-disk-0-snap-daily-20261122T101500Z.raw" % STORAGE
    assert wait_for(lambda: registers(env, 105), timeout=10), w.log()
    print("reconcile found the clone after %.2f s" % (time.monotonic() - t0))
    # exactly that volume, as the next free unusedN; never a whole-VM rescan
    assert registers(env, 105) == [["set", "105", "--unused1", volid]], w.log()
    assert wait_for(lambda: env.vm_config(105).get("unused1") == volid, timeout=10), w.log()
    # once referenced it asks no more
    time.sleep(2.5)
    assert len(registers(env, 105)) == 1, w.log()
    assert rescans(env) == [], w.log()
    assert w.stop() == 0


def test_clone_written_through_this_node_is_seen_by_inotify(env, watcher):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    w = watcher()                            # reconcile every 60 s: only inotify can see it
    time.sleep(0.3)
    assert registers(env, 100) == []
    tmp = env.image_path(100, ".tmp-clone")
    with open(tmp, "wb") as f:
        f.write(b"z" * 4096)
    os.rename(tmp, env.image_path(100, "vm-100-disk-0-snap-boot-20261122T101500Z.raw"))
    volid = "%s:100/vm-100-disk-0-snap-boot-20261122T101500Z.raw" % STORAGE
    assert wait_for(lambda: registers(env, 100), timeout=5), w.log()
    assert registers(env, 100) == [["set", "100", "--unused0", volid]], w.log()
    assert wait_for(lambda: env.vm_config(100).get("unused0") == volid, timeout=5), w.log()
    assert rescans(env) == [], w.log()
    assert w.stop() == 0


def test_once_removes_stale_unused_entries(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)},
               extra_conf="unused0: %s:100/vm-100-disk-0-snap-daily-20261122T101500Z.raw\n"
                          "unused1: %s:100/someone-elses.raw\n" % (STORAGE, STORAGE))
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    assert env.qm_calls() == [["set", "100", "--delete", "unused0"]]
    conf = env.vm_config(100)
    assert "unused0" not in conf and "unused1" in conf   # not our name shape: left alone


# ------------------------------------------------------------------------------ NVMe

def _ontap(env, method, path, body=None):
    ctx = ssl.create_default_context(cafile=env.certs["ca"])
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (env.ontap.port, path),
                                 method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", "Basic " + base64.b64encode(
        ("admin:%s" % ONTAP_PASSWORD).encode()).decode())
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        text = resp.read().decode()
        return json.loads(text) if text else {}


def _make_namespace(env, svm, vol):
    """A namespace /vol/<vol>/<vol> (DESIGN.md NVMe model); returns its uuid."""
    if hasattr(env.ontap, "add_namespace"):
        ns = env.ontap.add_namespace(svm, "/vol/%s/%s" % (vol, vol), size=1 << 30)
        return ns["uuid"] if isinstance(ns, dict) else ns
    env.ontap.add_volume(svm, vol)
    _ontap(env, "POST", "/api/storage/namespaces?return_timeout=30",
           {"svm": {"name": svm}, "name": "/vol/%s/%s" % (vol, vol), "os_type": "linux",
            "space": {"size": 1 << 30}})
    got = _ontap(env, "GET", "/api/storage/namespaces?svm.name=%s&name=%s&fields=uuid"
                 % (svm, urllib.request.quote("/vol/%s/%s" % (vol, vol))))
    return got["records"][0]["uuid"]


def _fake_device(env, name, uuid_):
    sysdir = os.path.join(env.paths["sysfs"], "class", "block", name)
    os.makedirs(sysdir, exist_ok=True)
    with open(os.path.join(sysdir, "uuid"), "w") as f:
        f.write(uuid_ + "\n")
    dev = os.path.join(env.paths["dev"], name)
    with open(dev, "wb") as f:
        f.truncate(1 << 20)
    return dev


def _udev_link(env, name, uuid_):
    """What udev does a moment after the kernel made the device: the by-id link."""
    byid = os.path.join(env.paths["dev"], "disk", "by-id")
    os.makedirs(byid, exist_ok=True)
    link = os.path.join(byid, "nvme-uuid." + uuid_)
    os.symlink(os.path.join("..", "..", name), link)
    return link


def _nvme_pool(env):
    """An NVMe pool NVME01 on SVM svm_nvme of cluster1."""
    env.ontap.add_svm("svm_nvme")
    env.config["storages"]["NVME01"] = {"ontap": "cluster1", "protocol": "nvme",
                                        "svm": "svm_nvme", "subsystem": "pve-nvme",
                                        "aggregate": "aggr1"}
    env.write_config()


def test_new_nvme_device_is_attached(env, watcher):
    _nvme_pool(env)
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    ns_uuid = _make_namespace(env, "svm_nvme", "pve_vm_100_disk_1")
    w = watcher()
    # a path device (nvme0c0n1) is not a namespace head: ignored
    _fake_device(env, "nvme0c0n1", ns_uuid)
    _fake_device(env, "nvme0n1", ns_uuid)
    # udev has not made the by-id link yet: the kernel name never goes into the config
    assert wait_for(lambda: "its udev link" in w.log(), timeout=15), w.log()
    assert [c for c in env.qm_calls() if c[:1] == ["set"]] == [], w.log()
    link = _udev_link(env, "nvme0n1", ns_uuid)
    assert wait_for(lambda: [c for c in env.qm_calls() if c[:1] == ["set"]], timeout=15), \
        w.log()
    # the stable name, shared=1 so that PVE can migrate the VM (QemuMigrate.pm)
    assert env.qm_calls() == [["set", "100", "--scsi1", link + ",shared=1"]], w.log()
    assert wait_for(lambda: env.vm_config(100).get("scsi1", "").startswith(link + ","),
                    timeout=10), w.log()
    assert "shared=1" in env.vm_config(100)["scsi1"].split(","), env.vm_config(100)
    # a device of no VM of ours is left alone
    _fake_device(env, "nvme1n1", str(uuidlib.uuid4()))
    assert wait_for(lambda: "left alone" in w.log(), timeout=15), w.log()
    # a queued nvme-attach of the same namespace finds it attached already
    write_job(env, 100, "nvme-attach", uuid=ns_uuid)
    assert wait_for(lambda: not queue_files(env), timeout=10), w.log()
    assert len([c for c in env.qm_calls() if c[:1] == ["set"]]) == 1
    assert w.stop() == 0
    # the VM migrates (QemuMigrate.pm refuses a '/' path without shared=1)
    assert migrate(env, 100) == "OK"


def _namespace_lookups(env, since=0):
    return [r for r in env.ontap.requests[since:]
            if r["method"] == "GET" and r["path"].startswith("/api/storage/namespaces")]


def test_hung_ontap_lookup_of_a_device_holds_up_neither_jobs_nor_sigterm(env, watcher):
    """A new device's ONTAP look-up that hangs (an unreachable cluster: up to 15 s per pool)
    runs beside the queue: another VM's job runs, and SIGTERM ends the watcher, while it is
    still outstanding."""
    _nvme_pool(env)
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    env.add_vm(101, disks={"scsi0": ("vm-101-disk-0.raw", 4096)})
    ns_uuid = _make_namespace(env, "svm_nvme", "pve_vm_100_disk_1")
    # the look-up is answered only after 8 s; the job of VM 101 keeps qm busy for 1 s
    env.ontap.add_fault("GET", r"^/api/storage/namespaces", "latency", count=None, seconds=8)
    env.qm_faults([{"match": ["rescan", "--vmid", "101"], "sleep": 1, "exit": 0, "count": 1}])
    mark = len(env.ontap.requests)
    w = watcher()
    _fake_device(env, "nvme0n1", ns_uuid)
    assert wait_for(lambda: _namespace_lookups(env, mark), timeout=10), w.log()
    write_job(env, 101)
    assert wait_for(lambda: rescans(env, 101), timeout=5), w.log()
    # the job ran while the look-up was still unanswered
    assert [r["status"] for r in _namespace_lookups(env, mark)] == [None], w.log()
    w.signal(signal.SIGTERM)
    assert w.stop() == 0, w.log()
    # the job in hand finished (its file is gone); the look-up was not waited for
    assert queue_files(env) == [], w.log()
    assert "1 job(s) done" in w.log()
    assert [r["status"] for r in _namespace_lookups(env, mark)] == [None], w.log()
    assert [c for c in env.qm_calls() if c[:1] == ["set"]] == []


def _set_conf_lines(env, vmid, lines):
    """Append drive lines to the VM's config (its live section) as an editor would."""
    path = os.path.join(env.paths["pve_etc"], "qemu-server", "%d.conf" % vmid)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, sep, rest = text.partition("\n[")
    with open(path, "w", encoding="utf-8") as f:
        f.write(head.rstrip("\n") + "\n" + "".join(l + "\n" for l in lines) +
                (sep + rest if sep else ""))


def _names_namespace(env, value, ns_uuid):
    v = value.split(",", 1)[0]
    if v.lower().endswith("nvme-uuid." + ns_uuid.lower()):
        return True
    base = os.path.basename(v)
    try:
        with open(os.path.join(env.paths["sysfs"], "class", "block", base, "uuid")) as f:
            return f.read().strip().lower() == ns_uuid.lower()
    except OSError:
        return False


def test_unused_remove_of_namespace_drops_every_drive_naming_it(env):
    _nvme_pool(env)
    ns_uuid = str(uuidlib.uuid4())
    other = str(uuidlib.uuid4())
    _fake_device(env, "nvme3n1", ns_uuid)
    _fake_device(env, "nvme4n1", other)
    dev = env.paths["dev"]
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    _set_conf_lines(env, 100, [
        "scsi1: %s/disk/by-id/nvme-uuid.%s,size=1G" % (dev, ns_uuid),   # as the watcher attaches
        "virtio2: /dev/disk/by-id/nvme-uuid.%s,size=1G" % ns_uuid.upper(),
        "sata1: /dev/nvme3n1,size=1G",                                  # kernel name (sysfs)
        "unused0: %s/nvme3n1" % dev,
        "scsi2: /dev/disk/by-id/nvme-uuid.%s,size=1G" % other,          # another namespace
        "scsi3: /dev/nvme4n1,size=1G",
        "unused1: /dev/nvme9n9",                                        # unknown device: kept
    ])
    write_job(env, 100, "unused-remove", volid="/dev/disk/by-id/nvme-uuid." + ns_uuid)
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    calls = env.qm_calls()
    assert len(calls) == 1 and calls[0][:3] == ["set", "100", "--delete"], calls
    assert sorted(calls[0][3].split(",")) == ["sata1", "scsi1", "unused0", "virtio2"], calls
    conf = env.vm_config(100)
    assert not [k for k, v in conf.items() if _names_namespace(env, v, ns_uuid)], conf
    for k in ("scsi0", "scsi2", "scsi3", "unused1"):
        assert k in conf, conf
    assert queue_files(env) == []
    # nothing left to remove: success without qm
    write_job(env, 100, "unused-remove", volid="/dev/disk/by-id/nvme-uuid." + ns_uuid)
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    assert len(env.qm_calls()) == 1
    assert queue_files(env) == []


def test_nvme_disk_lifecycle_attach_waits_for_device_and_delete_drops_it(env, watcher):
    from test_nvme import appear, base_conf, create_disk, nvme_setup
    nvme_setup(env)
    env.pve.add_vm(100, base_conf(100))
    d0 = create_disk(env, 100)
    # the namespace is mapped, the portal connected, but the kernel has not shown the
    # device yet: the nvme-attach job waits with backoff
    assert not [d for d in os.listdir(env.paths["dev"]) if d.startswith("nvme")]
    w = watcher()
    assert wait_for(lambda: w.log().count("no block device for namespace %s" % d0["uuid"])
                    >= 3, timeout=15), w.log()
    time.sleep(1.0)                          # the next retry is seconds away now
    assert [c for c in env.qm_calls() if c[:1] == ["set"]] == []
    t0 = time.monotonic()
    name = appear(env, d0)
    assert name
    # the /dev event attaches at once (not at the next retry)
    assert wait_for(lambda: [c for c in env.qm_calls() if c[:1] == ["set"]], timeout=10), \
        w.log()
    took = time.monotonic() - t0
    byid = os.path.join(env.paths["dev"], "disk", "by-id", "nvme-uuid." + d0["uuid"])
    kernel = os.path.join(env.paths["dev"], name)
    sets = [c for c in env.qm_calls() if c[:1] == ["set"]]
    # the udev link, never the kernel's name, and shared=1
    assert sets == [["set", "100", "--scsi0", byid + ",shared=1"]], sets
    assert took < 2.0, (took, w.log())
    assert "is namespace %s of a waiting nvme-attach job" % d0["uuid"] in w.log()
    assert wait_for(lambda: not queue_files(env), timeout=10), w.log()
    assert wait_for(lambda: env.vm_config(100).get("scsi0", "").startswith(sets[0][3]),
                    timeout=10), w.log()
    assert w.stop() == 0

    # someone also gave the namespace by its kernel name and left an unused entry
    _set_conf_lines(env, 100, ["virtio1: /dev/%s" % name, "unused2: %s" % byid])
    r = env.run("nvme", "delete", "--vm", 100, "--disk", 0, "--yes")
    assert r.returncode == 0, r.stderr
    assert [(j["action"], j["volid"]) for j in env.queue_jobs()] == [
        ("unused-remove", "/dev/disk/by-id/nvme-uuid." + d0["uuid"])]
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    conf = env.vm_config(100)
    assert not [k for k, v in conf.items()
                if v.split(",")[0] in (byid, kernel, "/dev/" + name)], conf
    assert "scsi0" not in conf and "virtio1" not in conf and "unused2" not in conf
    assert queue_files(env) == []


def test_device_without_sysfs_uuid_is_resolved_by_nguid(env, watcher):
    _nvme_pool(env)
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    ns_uuid = _make_namespace(env, "svm_nvme", "pve_vm_100_disk_1")
    w = watcher()
    sysdir = os.path.join(env.paths["sysfs"], "class", "block", "nvme2n1")
    os.makedirs(sysdir)
    with open(os.path.join(sysdir, "nguid"), "w") as f:
        f.write(ns_uuid.replace("-", "") + "\n")
    dev = os.path.join(env.paths["dev"], "nvme2n1")
    with open(dev, "wb") as f:
        f.truncate(1 << 20)
    link = _udev_link(env, "nvme2n1", ns_uuid)
    assert wait_for(lambda: [c for c in env.qm_calls() if c[:1] == ["set"]], timeout=15), \
        w.log()
    assert env.qm_calls() == [["set", "100", "--scsi1", link + ",shared=1"]], w.log()
    assert w.stop() == 0


def test_doctor_names_nvme_disks_without_shared(env):
    u1, u2, u3 = (str(uuidlib.uuid4()) for _ in range(3))
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    _set_conf_lines(env, 100, [
        "scsi1: /dev/disk/by-id/nvme-uuid.%s,size=1G" % u1,            # blocks migration
        "scsi2: /dev/disk/by-id/nvme-uuid.%s,shared=1,size=1G" % u2,   # fine
        "scsi3: /dev/nvme0n7,shared=1,size=1G",                         # a kernel name
        "scsi4: %s/disk/by-id/nvme-uuid.%s,discard=on,shared=on" % (env.paths["dev"], u3),
    ])
    r = env.run("doctor", timeout=120)
    warns = [l for l in r.stdout.splitlines() if l.startswith("warn") and "NVMe disk" in l]
    assert len(warns) == 2, r.stdout
    assert "VM 100: NVMe disk scsi1 '/dev/disk/by-id/nvme-uuid.%s' lacks shared=1" % u1 \
        in warns[0], warns
    assert "qm set 100 --scsi1 /dev/disk/by-id/nvme-uuid.<uuid>,shared=1" in warns[0], warns
    assert "VM 100: NVMe disk scsi3 '/dev/nvme0n7' is a kernel name" in warns[1], warns
    assert env.qm_calls() == []              # doctor changes nothing


# ------------------------------------------------------------------------------ concurrency

SLOW_QM = """#!/bin/sh
# qm that takes a second: records start and end (wall clock) around the fake
echo "start $(date +%%s.%%N) $*" >> "%(log)s"
sleep 1
"%(qm)s" "$@"
rc=$?
echo "end $(date +%%s.%%N) $*" >> "%(log)s"
exit $rc
"""


def test_qm_runs_for_different_vms_at_once_and_in_order_per_vm(env):
    vmids = [100, 101, 102, 103, 104, 105]
    for v in vmids:
        env.add_vm(v, disks={"scsi0": ("vm-%d-disk-0.raw" % v, 4096)},
                   extra_conf="unused0: %s:%d/vm-%d-disk-0-snap-daily-20261122T101500Z.raw\n"
                   % (STORAGE, v, v) if v == 100 else "")
    slow = os.path.join(env.T, "bin", "qm-slow")
    timing = os.path.join(env.T, "qm-timing.log")
    with open(slow, "w") as f:
        f.write(SLOW_QM % {"log": timing, "qm": env.config["paths"]["qm"]})
    os.chmod(slow, 0o755)
    env.config["paths"]["qm"] = slow
    env.write_config()
    # VM 100: unused-remove, then rescan (in this order); the others one rescan each
    write_job(env, 100, "unused-remove",
              volid="%s:100/vm-100-disk-0-snap-daily-20261122T101500Z.raw" % STORAGE)
    time.sleep(0.01)
    for v in vmids:
        write_job(env, v)
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    # concurrency is read from the qm runs' own start/end records, not from the wall
    # clock (a loaded machine stretches that; speed is for bench/)
    events = []
    with open(timing) as f:
        for line in f:
            kind, ts, args = line.split(" ", 2)
            events.append((float(ts), kind, args.split()))
    events.sort(key=lambda e: (e[0], e[1] == "start"))
    running = peak = 0
    for _, kind, _ in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert 2 <= peak <= 4, events   # several VMs at once, never more than 4
    mine = [(ts, kind, a) for ts, kind, a in events if "100" in a]
    assert [(kind, a[0]) for _, kind, a in mine] == [
        ("start", "set"), ("end", "set"), ("start", "rescan"), ("end", "rescan")], mine
    assert sorted(int(c[2]) for c in rescans(env)) == vmids
    assert "unused0" not in env.vm_config(100)
    assert queue_files(env) == []


# ------------------------------------------------------------------------------ signals

def test_sighup_with_broken_config_keeps_running(env, watcher):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    w = watcher()
    with open(env.config_path) as f:
        good = f.read()
    with open(env.config_path, "a") as f:
        f.write("nonsense_key: [\n")
    w.signal(signal.SIGHUP)
    assert wait_for(lambda: "not reloaded" in w.log(), timeout=5), w.log()
    assert w.p.poll() is None
    write_job(env, 100)
    assert wait_for(lambda: rescans(env, 100), timeout=5), w.log()
    # a good config is taken
    with open(env.config_path, "w") as f:
        f.write(good)
    os.chmod(env.config_path, 0o600)
    w.signal(signal.SIGHUP)
    assert wait_for(lambda: "configuration reloaded" in w.log(), timeout=5), w.log()
    write_job(env, 100)
    assert wait_for(lambda: len(rescans(env, 100)) == 2, timeout=5), w.log()
    assert w.stop() == 0


def test_sigterm_exits_0_and_idle_uses_no_cpu(env, watcher):
    w = watcher()
    with open("/proc/%d/stat" % w.p.pid) as f:
        before = [int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13]]
    time.sleep(1.0)
    with open("/proc/%d/stat" % w.p.pid) as f:
        after = [int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13]]
    assert sum(after) - sum(before) <= 2     # clock ticks (1/100 s): no busy polling
    w.signal(signal.SIGTERM)
    assert w.p.wait(10) == 0
    w.err.close()
    assert "stopping" in w.log()


def test_refuses_non_root_without_opt_in(env):
    if os.geteuid() == 0:
        pytest.skip("runs as root")
    r = env.run("watch", "--once")
    assert r.returncode == 2 and "root" in r.stderr
