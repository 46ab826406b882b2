#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Critical-path round trips of vm create/list/delete/restore through a latency relay.

    python3 bench/rtt_table.py --bin build/pve-ontap [--rtt-ms 50] [--disks 1,4,16] [--repeat 3]

Both simulators sit behind bench/latency_proxy.py, which delays every TCP segment by RTT/2
each way and charges each new connection its connect round trip, so TLS handshakes and
extra connections cost what they cost on a real network (TLS 1.3). For each command and
disk count it prints the wall time in RTTs (wall / RTT, median of the repeats), the round
trips counted from the relay's byte timing, and the requests and new connections that
reached ONTAP and PVE. Run by hand; no test depends on it.
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, HERE)

import conftest  # noqa: E402
from latency_proxy import relay_args, relayed_vm, round_trips  # noqa: E402

# "vm create (first)" runs with an empty volume cache (<paths.state>/volumes.json), the
# other commands find the volume in it
GOAL = {"vm create (first)": 4, "vm create": 3, "vm list": 4, "vm delete": 5, "vm restore": 7}


def measure(env, proxies, rtt, argv):
    for p in proxies:
        p.reset_counters()
    before = len(env.ontap.requests) + len(env.pve.requests)
    t0 = time.perf_counter()
    r = env.run(*argv)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), r.stderr.strip()))
    reqs = len(env.ontap.requests) + len(env.pve.requests) - before
    conns = sum(p.connections for p in proxies)
    counted = round_trips(proxies)
    return wall / rtt, counted, reqs, conns


def run_n(a, n):
    rows = {}
    with relayed_vm(conftest.Env, a.rtt_ms, n) as (env, proxies):
        rtt = a.rtt_ms / 1000.0
        samples = {c: [] for c in GOAL}
        for i in range(a.repeat):
            label = "b%d" % i
            cache = os.path.join(env.paths["state"], "volumes.json")
            if os.path.exists(cache):
                os.unlink(cache)
            samples["vm create (first)"].append(measure(
                env, proxies, rtt, ("vm", "create", "--vm", "100", "--label", "c%d" % i)))
            samples["vm create"].append(
                measure(env, proxies, rtt, ("vm", "create", "--vm", "100", "--label", label)))
            time.sleep(1.05)  # names are per second
            name = [s for s in os.listdir(os.path.dirname(env.image_path(100, "x"))) if "-snap-%s-" % label in s][0]
            snap = name.split("-snap-", 1)[1].rsplit(".", 1)[0]
            samples["vm list"].append(measure(env, proxies, rtt, ("vm", "list", "--vm", "100")))
            samples["vm restore"].append(measure(
                env, proxies, rtt, ("vm", "restore", "--vm", "100", "--snapshot", snap, "--yes")))
            samples["vm delete"].append(
                measure(env, proxies, rtt, ("vm", "delete", "--vm", "100", "--snapshot", snap)))
            time.sleep(1.05)
        for c, s in samples.items():
            rows[c] = tuple(statistics.median(x[k] for x in s) for k in range(4))
    return rows


def main():
    a = relay_args(__doc__, "1,4,16")
    ns = [int(x) for x in a.disks.split(",")]
    table = {n: run_n(a, n) for n in ns}
    print("RTT %.0f ms; cells: wall/RTT (round trips counted from bytes; requests; connections)"
          % a.rtt_ms)
    print("%-19s" % "command" + "".join("%-24s" % ("N=%d" % n) for n in ns) + "goal")
    for c in GOAL:
        cells = ["%.1f (%d; %d req; %d conn)" % table[n][c] for n in ns]
        print("%-19s" % c + "".join("%-24s" % x for x in cells) + "<= %d" % GOAL[c])
    return 0


if __name__ == "__main__":
    sys.exit(main())
