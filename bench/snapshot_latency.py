#!/usr/bin/python3
"""VM snapshot wall time against the ONTAP simulator with injected latency per request.

    python3 bench/snapshot_latency.py --bin build/pve-ontap [--latency-ms 20] [--disks 1,4,16]

For each disk count, builds a VM whose disks are files on the simulated NFS storage, runs
`vm create` a few times and reports the wall time, the requests that reached ONTAP, and the
minimum possible time: critical-path round trips x latency. The critical path of an NFS
snapshot is two round trips: find the volume by junction, then all file clones at once
(ONTAP answers inline because return_timeout covers the clone). Run by hand.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import conftest  # noqa: E402  (the test tree and simulators of the integration tests)

CRITICAL_PATH_RTT = 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "pve-ontap"))
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--disks", default="1,4,16")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    os.environ["PVE_ONTAP_BIN"] = os.path.abspath(a.bin)
    lat = a.latency_ms / 1000.0
    print("NFS VM snapshot, %.0f ms injected latency per ONTAP request" % a.latency_ms)
    print("%6s %10s %10s %10s %9s" % ("disks", "wall ms", "min ms", "ratio", "requests"))
    for n in (int(x) for x in a.disks.split(",")):
        with tempfile.TemporaryDirectory() as T:
            os.chmod(T, 0o700)
            env = conftest.Env(T)
            env.setup()
            try:
                disks = {"scsi%d" % i: ("vm-100-disk-%d.raw" % i, 64 * 1024)
                         for i in range(n)}
                env.add_vm(100, disks=disks)
                for method in ("GET", "POST", "PATCH", "DELETE"):
                    env.ontap.add_fault(method, r".*", "latency", count=10 ** 9, seconds=lat)
                walls, reqs = [], []
                for i in range(a.repeat):
                    before = len(env.ontap.requests)
                    t0 = time.perf_counter()
                    r = env.run("vm", "create", "--vm", "100", "--label", "b%d" % i)
                    walls.append((time.perf_counter() - t0) * 1000.0)
                    if r.returncode != 0:
                        print("vm create failed: %s" % r.stderr.strip())
                        return 1
                    reqs.append(len(env.ontap.requests) - before)
                    time.sleep(1.05)  # names are per second
            finally:
                env.teardown()
        wall = statistics.median(walls)
        minimum = CRITICAL_PATH_RTT * a.latency_ms
        print("%6d %10.1f %10.1f %10.2f %9d" % (n, wall, minimum, wall / minimum,
                                                statistics.median(reqs)))
    print("(wall includes process start, config load and TLS handshakes to both servers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
