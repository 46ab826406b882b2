#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A node-wide burst: a node shutting down stops its VMs in parallel, so N pre-stop hooks
with 2-4 disks each start within a second. Reports the completion time, how many hooks took
their snapshot within their timeout, the requests and 503 answers, and the peak number of
concurrent connections from the node to ONTAP.

    python3 bench/burst.py --bin build/pve-ontap [--vms 50] [--rtt-ms 2] [--refuse-503 0.2]

ONTAP sits behind bench/latency_proxy.py (RTT --rtt-ms, which also counts connections);
--refuse-503 makes the simulator answer that share of requests with 503, as a busy cluster
does (ontap-rest.md §4). Run by hand; no test depends on it.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, HERE)

import conftest  # noqa: E402
from latency_proxy import LatencyProxy  # noqa: E402

POLICY = """snapshots:
  - on: [pre-stop]
    label: burst
    keep: 3
timeout: 30s
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "pve-ontap"))
    ap.add_argument("--vms", type=int, default=50)
    ap.add_argument("--rtt-ms", type=float, default=2.0)
    ap.add_argument("--refuse-503", type=float, default=0.0)
    a = ap.parse_args()
    exe = os.path.abspath(a.bin)
    rnd = random.Random(7)
    with tempfile.TemporaryDirectory() as T:
        os.chmod(T, 0o700)
        env = conftest.Env(T)
        env.setup()
        proxy = None
        try:
            ndisks = {}
            for i in range(a.vms):
                vmid = 200 + i
                n = rnd.randint(2, 4)
                ndisks[vmid] = n
                env.add_vm(vmid, disks={"scsi%d" % k: ("vm-%d-disk-%d.raw" % (vmid, k), 4096)
                                        for k in range(n)}, status="running")
            env.write_policy("default", POLICY)
            proxy = LatencyProxy(("127.0.0.1", env.ontap.port), a.rtt_ms).start()
            env.config["ontap"]["cluster1"]["port"] = proxy.port
            env.write_config()
            if a.refuse_503:
                # the first share of the burst's requests (about 3 per VM) get 503
                for method in ("GET", "POST"):
                    env.ontap.add_fault(method, r".*", "status", status=503,
                                        count=int(a.refuse_503 * a.vms * 3))
            e = dict(os.environ, PVE_ONTAP_CONFIG=env.config_path, LC_ALL="C")
            before = len(env.ontap.requests)
            t0 = time.monotonic()
            procs = [(vmid, subprocess.Popen([exe, str(vmid), "pre-stop"], env=e,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                             text=True))
                     for vmid in ndisks]
            done = {}
            for vmid, p in procs:
                out, err = p.communicate(timeout=120)
                done[vmid] = (time.monotonic() - t0, p.returncode, err.strip())
            wall = time.monotonic() - t0
            taken = 0
            for vmid, n in ndisks.items():
                d = os.path.dirname(env.image_path(vmid, "x"))
                clones = [f for f in os.listdir(d) if "-snap-burst-" in f]
                taken += len(clones) == n
            reqs = env.ontap.requests[before:]
            print("VMs %d (disks %d), RTT %.0f ms, 503 share %.2f" % (
                a.vms, sum(ndisks.values()), a.rtt_ms, a.refuse_503))
            print("completion %.2f s (slowest hook %.2f s)" % (wall, max(v[0] for v in done.values())))
            print("snapshots taken %d of %d" % (taken, a.vms))
            print("requests %d, of them answered 503: %d" % (
                len(reqs), sum(1 for r in reqs if r.get("status") == 503)))
            print("ONTAP connections %d, peak concurrent %d" % (proxy.connections, proxy.peak))
            failed = [(v, d[2]) for v, d in done.items() if "error" in d[2] or "warning" in d[2]]
            for v, msg in failed[:5]:
                print("VM %d: %s" % (v, msg.splitlines()[-1] if msg else ""))
            return 0 if taken == a.vms else 1
        finally:
            if proxy:
                proxy.stop()
            env.teardown()


if __name__ == "__main__":
    sys.exit(main())
