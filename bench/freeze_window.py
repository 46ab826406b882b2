#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Freeze window of `vm create --quiesce freeze`: fsfreeze-freeze to fsfreeze-thaw as the
PVE simulator sees them (the time between its receiving the two requests), through the
latency relay, for each disk count, against the floor (issue 18 point 4).

    python3 bench/freeze_window.py --bin build/pve-ontap [--rtt-ms 50] [--disks 1,16] [--repeat 3]

The floor is one clone round plus the thaw call: the freeze's answer travels back (RTT/2),
the clone POSTs go out and come back (RTT), the thaw travels to PVE (RTT/2): 2 RTT. Each
disk count runs twice, with an empty volume cache (the look-up GET before the freeze opens
the clone round's connections) and with the volume cached (no ONTAP request before the
freeze). Run by hand; no test depends on it.
"""

import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "tests", "sim"))
sys.path.insert(0, HERE)

import conftest  # noqa: E402
import pve_sim  # noqa: E402
from latency_proxy import relay_args, relayed_vm  # noqa: E402

FREEZE = ("POST", "/nodes/{node}/qemu/{vmid}/agent/fsfreeze-freeze")
THAW = ("POST", "/nodes/{node}/qemu/{vmid}/agent/fsfreeze-thaw")
_seen = []
_seen_lock = threading.Lock()


def _timed(kind, fn):
    def handler(self, p, user):
        with _seen_lock:
            _seen.append((kind, time.monotonic()))
        return fn(self, p, user)
    return handler


def instrument():
    """Record when the simulator receives each freeze and thaw (its route table)."""
    for key, kind in ((FREEZE, "freeze"), (THAW, "thaw")):
        pve_sim._ROUTES[key] = _timed(kind, pve_sim._ROUTES[key])


def window():
    with _seen_lock:
        ev = list(_seen)
        _seen.clear()
    freezes = [t for k, t in ev if k == "freeze"]
    thaws = [t for k, t in ev if k == "thaw"]
    if len(freezes) != 1 or not thaws:
        raise RuntimeError("expected one freeze and a thaw, saw %r" % ev)
    return thaws[0] - freezes[0]


def run_n(a, n):
    with relayed_vm(conftest.Env, a.rtt_ms, n, status="running") as (env, _proxies):
        cache = os.path.join(env.paths["state"], "volumes.json")
        out = {"empty cache": [], "volume cached": []}
        for i in range(a.repeat):
            for case in out:
                if case == "empty cache" and os.path.exists(cache):
                    os.unlink(cache)
                label = "f%d%s" % (i, case[0])
                r = env.run("vm", "create", "--vm", "100", "--label", label,
                            "--quiesce", "freeze")
                if r.returncode != 0:
                    raise RuntimeError("vm create failed: %s" % r.stderr.strip())
                out[case].append(window())
        return {c: statistics.median(v) for c, v in out.items()}


def main():
    a = relay_args(__doc__, "1,16")
    instrument()
    rtt = a.rtt_ms / 1000.0
    print("RTT %.0f ms; freeze -> thaw as received by PVE, median of %d; floor 2 RTT "
          "(one clone round + the thaw call)" % (a.rtt_ms, a.repeat))
    for n in (int(x) for x in a.disks.split(",")):
        res = run_n(a, n)
        for case, w in res.items():
            print("N=%-3d %-14s %6.0f ms  %.1f RTT  (floor %.0f ms)" % (
                n, case, w * 1000, w / rtt, 2 * a.rtt_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
