#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A TCP relay on 127.0.0.1 that makes a loopback server look RTT milliseconds away.

Every segment is delayed by RTT/2 in each direction, in order, and a new connection pays
the connect round trip (a real client can send its first byte only one RTT after SYN, so
the relay holds the client's first bytes one RTT longer). TLS handshakes, keep-alive reuse
and parallel connections therefore cost what they cost on a WAN. It counts connections
and the bytes of each direction with their times, for the benches (bench/rtt_table.py).

    proxy = LatencyProxy(("127.0.0.1", upstream_port), rtt_ms=50); proxy.start()
    ... point the client at proxy.port ...; proxy.stop()

Run by hand only (benches); it never leaves the loopback interface.
"""

import contextlib
import os
import selectors
import socket
import tempfile
import threading
import time
import heapq


class LatencyProxy:
    def __init__(self, upstream, rtt_ms=50.0):
        self.upstream = upstream
        self.half = rtt_ms / 2000.0
        self.rtt = rtt_ms / 1000.0
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.connections = 0
        self.peak = 0
        self.open = 0
        self.events = []          # (time, conn id, "c2s"|"s2c", bytes)
        self._lock = threading.Lock()
        self._stop = False
        self._queue = []          # heap of (due, seq, dst socket, data or None for close)
        self._seq = 0
        self._cv = threading.Condition()
        self._threads = []

    # ---------------------------------------------------------------- public

    def start(self):
        for target in (self._accept_loop, self._deliver_loop):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self._cv:
            self._cv.notify_all()

    def reset_counters(self):
        with self._lock:
            self.connections = 0
            self.peak = self.open
            self.events = []

    # ---------------------------------------------------------------- internals

    def _schedule(self, due, dst, data):
        with self._cv:
            self._seq += 1
            heapq.heappush(self._queue, (due, self._seq, dst, data))
            self._cv.notify()

    def _deliver_loop(self):
        while not self._stop:
            with self._cv:
                while not self._stop and (not self._queue or self._queue[0][0] > time.monotonic()):
                    timeout = None if not self._queue else max(0.0, self._queue[0][0] - time.monotonic())
                    self._cv.wait(timeout)
                if self._stop:
                    return
                _due, _seq, dst, data = heapq.heappop(self._queue)
            try:
                if data is None:
                    dst.shutdown(socket.SHUT_WR)
                else:
                    dst.sendall(data)
            except OSError:
                pass

    def _accept_loop(self):
        while not self._stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.upstream)
            except OSError:
                c.close()
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                cid = self.connections
                self.open += 1
                self.peak = max(self.peak, self.open)
            threading.Thread(target=self._pump, args=(cid, c, u), daemon=True).start()

    def _pump(self, cid, c, u):
        """Relay both directions of one connection through the delay queue."""
        sel = selectors.DefaultSelector()
        sel.register(c, selectors.EVENT_READ, ("c2s", u))
        sel.register(u, selectors.EVENT_READ, ("s2c", c))
        # order per direction: a later segment never overtakes an earlier one
        last_due = {"c2s": 0.0, "s2c": 0.0}
        first = True
        live = 2
        while live and not self._stop:
            for key, _ in sel.select(timeout=0.5):
                direction, dst = key.data
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                now = time.monotonic()
                delay = self.half
                if direction == "c2s" and first:
                    delay += self.rtt  # the connect round trip the loopback did not charge
                    first = False
                due = max(now + delay, last_due[direction])
                last_due[direction] = due
                if data:
                    with self._lock:
                        self.events.append((now, cid, direction, len(data)))
                    self._schedule(due, dst, data)
                else:
                    sel.unregister(key.fileobj)
                    self._schedule(due, dst, None)
                    live -= 1
        time.sleep(self.rtt + 0.05)
        for s in (c, u):
            try:
                s.close()
            except OSError:
                pass
        with self._lock:
            self.open -= 1


def round_trips(proxies):
    """Critical-path round trips counted from the byte timing of one or more relays (one
    timeline: a client that talks to two servers one after the other pays both). The relay
    sees every client segment when it is sent; a client that waits for an answer sends its
    next segment at least one RTT after the previous round started, while the sends of one
    parallel round come within milliseconds. So client-to-server segments are grouped into
    rounds (a new round starts more than 3/4 RTT after the current one), and a round that
    opens connections also pays their connect round trip."""
    allev = []
    for i, p in enumerate(proxies):
        with p._lock:
            allev.extend((t, (i, cid), d, n) for t, cid, d, n in p.events)
    allev.sort()
    rtt = proxies[0].rtt
    # a segment nothing answers (TLS close_notify at exit) is not waited for
    last_answer = {}
    for t, cid, direction, _n in allev:
        if direction == "s2c":
            last_answer[cid] = t
    ev = [e for e in allev if e[2] == "c2s" and last_answer.get(e[1], -1) > e[0]]
    seen, rounds, start, connects = set(), 0, None, False
    for t, cid, _direction, _n in ev:
        if start is None or t - start > 0.75 * rtt:
            rounds += 1 + (1 if connects else 0)
            start, connects = t, False
        if cid not in seen:
            seen.add(cid)
            connects = True
    return rounds + (1 if connects else 0)


def relay_env(env, rtt_ms):
    """Put a relay in front of both simulators of a conftest.Env and point its config at
    them; returns the relays (ONTAP's first), to stop when done."""
    proxies = []
    for sim, key in ((env.ontap, ("ontap", "cluster1")), (env.pve, ("pve",))):
        p = LatencyProxy(("127.0.0.1", sim.port), rtt_ms).start()
        proxies.append(p)
        node = env.config
        for k in key:
            node = node[k]
        node["port"] = p.port
    env.write_config()
    return proxies


@contextlib.contextmanager
def relayed_vm(env_class, rtt_ms, ndisks, status="stopped"):
    """A test tree (tests/integration/conftest.py Env) with VM 100 of ndisks 64 KiB disks,
    both simulators behind relays: yields (env, relays)."""
    with tempfile.TemporaryDirectory() as T:
        os.chmod(T, 0o700)
        env = env_class(T)
        env.setup()
        proxies = []
        try:
            disks = {"scsi%d" % i: ("vm-100-disk-%d.raw" % i, 64 * 1024) for i in range(ndisks)}
            env.add_vm(100, disks=disks, status=status)
            proxies = relay_env(env, rtt_ms)
            yield env, proxies
        finally:
            for p in proxies:
                p.stop()
            env.teardown()


def relay_args(doc, disks):
    """The options every relay bench takes (--bin, --rtt-ms, --disks, --repeat), parsed;
    PVE_ONTAP_BIN is set to the binary for the test tree's helpers."""
    import argparse
    import os
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(repo, "build", "pve-ontap"))
    ap.add_argument("--rtt-ms", type=float, default=50.0)
    ap.add_argument("--disks", default=disks)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    os.environ["PVE_ONTAP_BIN"] = os.path.abspath(a.bin)
    return a
