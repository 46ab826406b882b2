#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Watcher benchmark, run by hand:  python3 bench/watcher_latency.py --bin build/pve-ontap

Builds a throw-away PVE-like tree (no simulators: the watcher needs none for the queue),
a fast fake qm (a bash script appending "<vmid> <EPOCHREALTIME>" to a file) and measures:
  - queue-to-qm latency p50/p99 at 10 and 1000 jobs/s (each job for its own VM, so nothing
    is coalesced and every job is one qm run);
  - the watcher's RSS after 100 000 jobs (written as fast as possible for 100 VMs, so the
    watcher coalesces them), with an even faster fake qm (a two-line /bin/sh script) so that
    the watcher, not qm, sets the pace.
Every phase has a time bound (latency phases 60 s each, the 100 000 jobs 240 s).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

QM = """#!/bin/bash
# fake qm: "rescan --vmid N" -> "N <wall clock>"
echo "$3 $EPOCHREALTIME" >> "%s"
"""

# dash starts faster than bash; only the count of runs matters in the RSS phase
QM_FAST = """#!/bin/sh
echo "$3 0" >> "%s"
"""


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def setup(T, nvms):
    pve = os.path.join(T, "etc", "pve")
    confdir = os.path.join(pve, "nodes", "pve1", "qemu-server")
    os.makedirs(confdir)
    os.symlink("nodes/pve1/qemu-server", os.path.join(pve, "qemu-server"))
    for v in range(100, 100 + nvms):
        with open(os.path.join(confdir, "%d.conf" % v), "w") as f:
            f.write("name: vm%d\nmemory: 512\n" % v)
    for d in ("var/lib/pve-ontap/queue", "mnt/pve", "dev", "sys/class/block", "bin"):
        os.makedirs(os.path.join(T, d), exist_ok=True)
    qm = os.path.join(T, "bin", "qm")
    with open(qm, "w") as f:
        f.write(QM % os.path.join(T, "qm.out"))
    os.chmod(qm, 0o755)
    cfg = os.path.join(T, "config.yaml")
    fd = os.open(cfg, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("paths:\n")
        for k, v in (("pve_etc", pve), ("queue", "var/lib/pve-ontap/queue"),
                     ("state", "var/lib/pve-ontap"), ("mnt", "mnt/pve"), ("dev", "dev"),
                     ("sysfs", "sys"), ("qm", "bin/qm"), ("lock", "etc/pve/priv/lock"),
                     ("policies", "etc/pve/pve-ontap/policies")):
            f.write("  %s: %s\n" % (k, v if v.startswith("/") else os.path.join(T, v)))
    return cfg


def start(binary, T, cfg):
    env = dict(os.environ, PVE_ONTAP_ALLOW_NONROOT="1", LC_ALL="C")
    env.pop("PVE_ONTAP_CONFIG", None)
    log = open(os.path.join(T, "watch.log"), "wb")
    p = subprocess.Popen([binary, "--config", cfg, "--log-level", "warn", "watch"],
                         stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=T)
    time.sleep(0.5)
    if p.poll() is not None:
        sys.exit("watcher exited: %s" % open(os.path.join(T, "watch.log")).read())
    return p


def replace_qm(T, text):
    """Swap the fake qm atomically (writing a file that is being executed is ETXTBSY)."""
    qm = os.path.join(T, "bin", "qm")
    tmp = qm + ".new"
    with open(tmp, "w") as f:
        f.write(text % os.path.join(T, "qm.out"))
    os.chmod(tmp, 0o755)
    os.rename(tmp, qm)


def put(q, vmid, seq):
    name = "%d-%08d.job" % (vmid, seq)
    tmp = os.path.join(q, "." + name)
    with open(tmp, "w") as f:
        f.write(json.dumps({"vmid": vmid, "action": "rescan"}))
    os.rename(tmp, os.path.join(q, name))


def read_out(T):
    path = os.path.join(T, "qm.out")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def latency_run(T, q, rate, count, vmids, bound_s):
    """Write `count` jobs at `rate` per second cycling over `vmids`; a job's latency is the
    time from its write to the start of the first qm run for its VM after it (a coalesced
    job is served by that run)."""
    writes = []
    already = len(read_out(T))
    interval = 1.0 / rate
    t_next = time.monotonic()
    for i in range(count):
        vmid = vmids[i % len(vmids)]
        now = time.monotonic()
        if t_next > now:
            time.sleep(t_next - now)
        writes.append((vmid, time.time()))
        put(q, vmid, i)
        t_next += interval
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline and any(n.endswith(".job") for n in os.listdir(q)):
        time.sleep(0.05)
    runs = {}
    for v, ts in read_out(T)[already:]:
        runs.setdefault(int(v), []).append(float(ts))
    lat, lost = [], 0
    for vmid, t in writes:
        later = [r for r in runs.get(vmid, []) if r >= t]
        if later:
            lat.append((later[0] - t) * 1000.0)
        else:
            lost += 1
    return lat, lost, len(read_out(T)) - already


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/pve-ontap")
    ap.add_argument("--jobs-rss", type=int, default=100000)
    ap.add_argument("--vms", type=int, default=20, help="VMs the latency jobs cycle over")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        sys.exit("%s: not built (make)" % binary)
    if not os.path.exists("/bin/bash"):
        sys.exit("needs /bin/bash for the fast fake qm")

    T = tempfile.mkdtemp(prefix="pve-ontap-bench-")
    try:
        n10, n1000 = 50, 3000
        cfg = setup(T, max(args.vms, 100))
        q = os.path.join(T, "var/lib/pve-ontap/queue")
        p = start(binary, T, cfg)
        print("watcher RSS at start: %d KiB" % rss_kib(p.pid))

        vmids = list(range(100, 100 + args.vms))
        for rate, count in ((10, n10), (1000, n1000)):
            lat, lost, runs = latency_run(T, q, rate, count, vmids, bound_s=60)
            if not lat:
                print("%5d jobs/s: no job reached qm" % rate)
                continue
            print("%5d jobs/s, %d jobs for %d VMs: queue->qm latency p50 %.1f ms, "
                  "p99 %.1f ms, max %.1f ms; %d qm runs%s"
                  % (rate, count, len(vmids), pct(lat, 50), pct(lat, 99), max(lat), runs,
                     ", %d jobs not served" % lost if lost else ""))

        # RSS after many jobs: 100 VMs, as fast as the writer goes (coalesced)
        replace_qm(T, QM_FAST if os.path.exists("/bin/sh") else QM)
        before_runs = len(read_out(T))
        t0 = time.monotonic()
        written = 0
        bound = time.monotonic() + 240
        while written < args.jobs_rss and time.monotonic() < bound:
            for _ in range(1000):
                put(q, 100 + written % 100, 10 ** 7 + written)
                written += 1
            # keep the backlog bounded like a real node would
            while len(os.listdir(q)) > 5000 and time.monotonic() < bound:
                time.sleep(0.01)
        while time.monotonic() < bound and any(not n.startswith(".") and n.endswith(".job")
                                               for n in os.listdir(q)):
            time.sleep(0.05)
        left = len([n for n in os.listdir(q) if n.endswith(".job")])
        el = time.monotonic() - t0
        time.sleep(0.5)                      # the last qm runs end, the job array is freed
        calls = len(read_out(T)) - before_runs
        print("%d jobs in %.1f s (%.0f jobs/s), %d qm runs after coalescing, %d left; "
              "watcher RSS %d KiB" % (written, el, written / el, calls, left, rss_kib(p.pid)))
        with open("/proc/%d/stat" % p.pid) as f:
            ticks = [int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13]]
        time.sleep(2)
        with open("/proc/%d/stat" % p.pid) as f:
            ticks2 = [int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13]]
        print("idle CPU over 2 s: %d clock ticks" % (sum(ticks2) - sum(ticks)))
        p.send_signal(signal.SIGTERM)
        rc = p.wait(30)
        print("SIGTERM: exit %d" % rc)
    finally:
        shutil.rmtree(T, ignore_errors=True)


if __name__ == "__main__":
    main()
