#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Scheduler benchmark, run by hand (not in make check):

    /usr/bin/python3 bench/schedule_bench.py --bin build/pve-ontap [--vms 1000]
        [--burst 200] [--latency 0.02] [--max-parallel N] [--phase tick|burst|all]

Uses the integration tests' tree and simulators (tests/integration/conftest.py) and the
test-only schedule clock (PVE_ONTAP_TEST_NOW_OFFSET=@file, HACKING.md).

1. Tick cost: --vms VMs on this node, each with its own policy file (a `*/15` rule that is
   not due during the measurement), the rescan period set to 1 s: the watcher's CPU time
   per rescan of VMs and policies, its RSS, and its CPU while idle between rescans.
2. Burst: --burst running VMs (one NFS disk each) with a `*/1` rule, all due in the same
   minute, every ONTAP request delayed by --latency s (simulator latency fault): the time
   from the slot until every run is recorded, the peak number of open ONTAP connections
   (sampled every 2 ms), and that every VM got exactly one snapshot.
Every phase is bounded in time; the simulators only listen on 127.0.0.1.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import conftest  # noqa: E402  (the test tree and simulators)
from test_schedule import Clock  # noqa: E402  (the test-only schedule clock)
from test_watcher import wait_for  # noqa: E402
from watcher_latency import rss_kib  # noqa: E402  (bench/, beside this file)


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_watcher(env, clock):
    e = dict(os.environ)
    e.pop("PVE_ONTAP_CONFIG", None)
    e.update({"PVE_ONTAP_ALLOW_NONROOT": "1", "LC_ALL": "C",
              "PVE_ONTAP_TEST_NOW_OFFSET": "@" + clock.path})
    log = open(os.path.join(env.T, "watch.log"), "ab")
    p = subprocess.Popen([conftest.binary(), "--config", env.config_path, "watch"],
                         stdout=log, stderr=log, env=e, cwd=env.T)
    ok = wait_for(lambda: b"watching queue" in open(os.path.join(env.T, "watch.log"), "rb")
                  .read(), 30)
    if not ok:
        p.kill()
        raise SystemExit("watcher did not start")
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def add_conf(env, vmid, disk, status):
    if disk:
        env.add_vm(vmid, disks={"scsi0": ("vm-%d-disk-0.raw" % vmid, 4096)}, status=status)
    else:
        env.pve.add_vm(vmid, "name: vm%d\nmemory: 512\n" % vmid, status=status)


def tick_cost(env, nvms):
    clock = Clock(env.T)
    env.config.setdefault("watch", {})["reconcile"] = "1s"
    env.write_config()
    for v in range(100, 100 + nvms):
        add_conf(env, v, False, "stopped")
        env.write_policy(v, "snapshots:\n  - schedule: \"*/15\"\n    label: q%d\n    keep: 4\n"
                            % (v % 7))
    # the next */15 slot is at least 5 minutes away: nothing runs while we measure
    t = clock.now()
    clock.set(clock.offset - (t % 900) + 1)  # one second past a */15 slot
    p = start_watcher(env, clock)
    time.sleep(3)  # first rescan (parses every policy) behind us
    c0, t0 = cpu_s(p.pid), time.monotonic()
    time.sleep(20)
    c1, t1 = cpu_s(p.pid), time.monotonic()
    rss = rss_kib(p.pid)
    stop(p)
    rescans = (t1 - t0) / 1.0
    print("tick cost, %d VMs with a policy each: %.2f ms CPU per rescan (%.0f rescans in "
          "%.1f s, %.3f s CPU), RSS %d KiB"
          % (nvms, 1000 * (c1 - c0) / rescans, rescans, t1 - t0, c1 - c0, rss))
    # idle with the default rescan period: the CPU used in 20 s
    env.config["watch"]["reconcile"] = "60s"
    env.write_config()
    p = start_watcher(env, clock)
    time.sleep(3)
    c0 = cpu_s(p.pid)
    time.sleep(20)
    c1 = cpu_s(p.pid)
    stop(p)
    print("idle (rescan every 60 s): %.3f s CPU in 20 s" % (c1 - c0))


def burst(env, n, latency):
    clock = Clock(env.T)
    for v in range(100, 100 + n):
        add_conf(env, v, True, "running")
    env.write_policy("default", "snapshots:\n  - schedule: \"*/1\"\n    label: burst\n"
                                "    keep: 3\n")
    env.ontap.add_fault("*", ".*", "latency", count=None, seconds=latency)
    t = clock.now()
    clock.set(clock.offset + (60 - (t % 60)) - 3)   # the slot is 3 s away
    slot = (int(clock.now()) // 60 + 1) * 60
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], len(env.ontap._conns))
            time.sleep(0.002)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    p = start_watcher(env, clock)
    state = os.path.join(env.paths["state"], "runs")

    def finished():
        try:
            names = os.listdir(state)
        except FileNotFoundError:
            return 0
        k = 0
        for name in names:
            if name.startswith("."):
                continue  # a state file being replaced
            with open(os.path.join(state, name)) as f:
                k += "runs_ok=1\n" in f.read()
        return k

    ok = wait_for(lambda: finished() == n, 600, step=0.05)
    elapsed = clock.now() - slot
    done.set()
    stop(p)
    per_vm = []
    for v in range(100, 100 + n):
        d = os.path.dirname(env.image_path(v, "x"))
        per_vm.append(len([f for f in os.listdir(d) if "-snap-burst-" in f]))
    clones = len([q for q in env.ontap.requests
                  if q["method"] == "POST" and q["path"] == "/api/storage/file/clone"])
    print("burst of %d VMs due the same minute, %.0f ms per ONTAP request, max_parallel %s: "
          "all done %.1f s after the slot (%s), peak %d open ONTAP connections, "
          "%d VMs with exactly one snapshot, %d clone requests, %d ONTAP requests"
          % (n, latency * 1000, env.config.get("watch", {}).get("max_parallel", 4), elapsed,
             "complete" if ok else "TIMED OUT", peak[0], per_vm.count(1), clones,
             len(env.ontap.requests)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", help="the binary (default: $PVE_ONTAP_BIN, else build/pve-ontap)")
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--max-parallel", type=int, default=0, help="watch.max_parallel (0: default)")
    ap.add_argument("--phase", choices=("tick", "burst", "all"), default="all")
    a = ap.parse_args()
    if a.bin:
        os.environ["PVE_ONTAP_BIN"] = os.path.abspath(a.bin)
    for phase in (("tick", "burst") if a.phase == "all" else (a.phase,)):
        T = tempfile.mkdtemp(prefix="schedule_bench.")
        os.chmod(T, 0o700)
        env = conftest.Env(__import__("pathlib").Path(T))
        try:
            env.setup()
            if a.max_parallel:
                env.config.setdefault("watch", {})["max_parallel"] = a.max_parallel
                env.write_config()
            if phase == "tick":
                tick_cost(env, a.vms)
            else:
                burst(env, a.burst, a.latency)
        finally:
            env.teardown()
            shutil.rmtree(T, ignore_errors=True)


if __name__ == "__main__":
    main()
