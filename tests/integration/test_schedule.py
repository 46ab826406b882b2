"""Scheduled rules run by the watcher, status and the metrics file (issue 16 items 2, 4, 5, 6).

The schedule clock is moved with the test-only PVE_ONTAP_TEST_NOW_OFFSET=@<file> (HACKING.md
"Test-only knobs"): the file holds seconds added to the wall clock, read at every use; a
SIGHUP makes a running watcher look at it at once."""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
import yaml

from conftest import binary
from test_hook import agent_calls
from test_watcher import wait_for as _wait_for


def wait_for(cond, timeout=20.0):
    return _wait_for(cond, timeout=timeout, step=0.02)

DISKS = {"scsi0": ("vm-100-disk-0.raw", 4096)}
POLICY = ("snapshots:\n  - schedule: \"*/1\"\n    label: minutely\n    keep: 2\n"
          "    quiesce: freeze\n")
TS = r"\d{8}T\d{6}Z"


class Clock:
    """The schedule clock of every process started with env(): wall clock + offset."""

    def __init__(self, T):
        self.path = os.path.join(T, "clock-offset")
        self.offset = 0
        self.set(0)

    def set(self, offset):
        self.offset = int(offset)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % self.offset)
        os.rename(tmp, self.path)

    def now(self):
        return time.time() + self.offset

    def before_minute(self, lead=1.5):
        """Move the clock so that the next whole minute is `lead` seconds away."""
        t = self.now()
        self.set(self.offset + (60 - (t % 60)) - lead)

    def env(self):
        return {"PVE_ONTAP_TEST_NOW_OFFSET": "@" + self.path}


class Watcher:
    def __init__(self, T, config_path, clock, name="watch"):
        self.log_path = os.path.join(T, name + ".log")
        e = dict(os.environ)
        e.pop("PVE_ONTAP_CONFIG", None)
        e.update({"PVE_ONTAP_ALLOW_NONROOT": "1", "LC_ALL": "C"})
        e.update(clock.env())
        self.err = open(self.log_path, "ab")
        self.p = subprocess.Popen([binary(), "--config", config_path, "--log-level", "debug",
                                   "watch"], stdout=self.err, stderr=self.err, env=e, cwd=T)
        assert wait_for(lambda: "watching queue" in self.log() or self.p.poll() is not None)
        assert self.p.poll() is None, self.log()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def hup(self):
        self.p.send_signal(signal.SIGHUP)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()
        return self.p.returncode


@pytest.fixture
def sched(env):
    clock = Clock(env.T)
    started = []

    def start(config_path=None, name="watch"):
        w = Watcher(env.T, config_path or env.config_path, clock, name)
        started.append(w)
        return w

    env.config.setdefault("paths", {})["metrics"] = os.path.join(env.T, "metrics.prom")
    env.write_config()
    yield clock, start
    for w in started:
        w.stop()


def snaps(env, vmid=100, label="minutely"):
    d = os.path.dirname(env.image_path(vmid, "x"))
    if not os.path.isdir(d):
        return []
    rx = re.compile(r"^vm-%d-disk-0-snap-(%s-%s)\.raw$" % (vmid, label, TS))
    return sorted(m.group(1) for m in map(rx.match, os.listdir(d)) if m)


def runstate(env, vmid, label, state_dir=None):
    path = os.path.join(state_dir or env.paths["state"], "runs", "%d-%s.state" % (vmid, label))
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f)


def slot_name(t):
    """The name a run for slot t gets, to the minute: the run is named when it takes the
    snapshot, within seconds after the slot."""
    return "minutely-" + time.strftime("%Y%m%dT%H%M", time.gmtime(t))


def minutes(names):
    return [n[:-3] for n in names]


def next_slot(clock):
    return (int(clock.now()) // 60 + 1) * 60


def start_before_slot(env, clock, start, keep):
    """VM 100 running with the */1 rule (keep N), the watcher started 1.5 s before a slot;
    returns the watcher and that slot."""
    setup_vm(env, 100)
    env.write_policy(100, POLICY.replace("keep: 2", "keep: %d" % keep))
    clock.before_minute()
    w = start()
    return w, next_slot(clock)


def clone_posts(env):
    return len([q for q in env.ontap.requests
                if q["method"] == "POST" and q["path"] == "/api/storage/file/clone"])


def hup_and_wait(w):
    """SIGHUP, then wait until the watcher has reloaded (the same loop round runs what is
    due before it sleeps again)."""
    n = w.log().count("configuration reloaded")
    w.hup()
    assert wait_for(lambda: w.log().count("configuration reloaded") > n), w.log()


def status(env, clock, *args, offset=0):
    e = {"PVE_ONTAP_TEST_NOW_OFFSET": str(clock.offset + offset)}
    r = env.run("--json", "status", *args, extra_env=e)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None, r.stderr


def setup_vm(env, vmid=100, status_="running"):
    disks = {"scsi0": ("vm-%d-disk-0.raw" % vmid, 4096)}
    env.add_vm(vmid, disks=disks, status=status_)


# --------------------------------------------------------------- metrics file syntax

METRIC_LINE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)\})?'
    r' (?P<value>[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|NaN|[-+]Inf))$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Check the text exposition format (0.0.4) strictly; return {(name, labels): value}.
    Every sample's family has HELP and TYPE lines before it, once each; lines end in \\n."""
    assert text.endswith("\n")
    helped, typed, samples = set(), {}, {}
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in helped, line
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in typed, line
            typed[name] = kind
        else:
            m = METRIC_LINE.match(line)
            assert m, "not a sample line: %r" % line
            name = m.group("name")
            assert name in helped and name in typed, line
            labels = tuple(LABEL.findall(m.group("labels") or ""))
            assert (name, labels) not in samples, line
            samples[(name, labels)] = float(m.group("value"))
    return samples


def test_metrics_syntax_checker_rejects_bad_files():
    good = ('# HELP a_total x\n# TYPE a_total counter\na_total{l="q\\"\\\\\\n"} 1\n')
    assert parse_metrics(good) == {("a_total", (("l", 'q\\"\\\\\\n'),)): 1.0}
    for bad in ('a 1\n', '# HELP a x\n# TYPE a gauge\na{l="x"y"} 1\n',
                '# HELP a x\n# TYPE a gauge\na 1', '# HELP a x\n# TYPE a gauge\na{l="\n"} 1\n'):
        with pytest.raises(AssertionError):
            parse_metrics(bad)


# --------------------------------------------------------------------------- tests

def test_one_snapshot_per_slot_retention_and_stopped_vm_skipped(env, sched):
    clock, start = sched
    setup_vm(env, 100)
    setup_vm(env, 101, status_="stopped")
    env.write_policy("default", POLICY)
    clock.before_minute()
    w = start()
    taken = []
    for i in range(3):
        slot = next_slot(clock)
        if i:
            clock.set(clock.offset + 60)  # the clock jumps to just past the next slot
            w.hup()
        taken.append(slot_name(slot))
        assert wait_for(lambda: runstate(env, 100, "minutely").get("runs_ok") == str(i + 1)), \
            w.log()
        assert wait_for(lambda: slot_name(slot) in minutes(snaps(env))), (snaps(env), w.log())
    # one snapshot per slot, named for it, retention keeps the newest two
    assert wait_for(lambda: minutes(snaps(env)) == taken[1:]), (snaps(env), taken, w.log())
    st = runstate(env, 100, "minutely")
    assert st["result"] == "ok" and st["runs_failed"] == "0"
    # the stopped VM: its slots are handled, no snapshot, no run counted
    assert snaps(env, 101) == []
    st = runstate(env, 101, "minutely")
    assert st.get("runs_ok", "0") == "0" and int(st.get("slot", 0)) > 0
    assert w.stop() == 0
    # quiesce: freeze, for each of the three runs of the running VM, always thawed
    calls = agent_calls(env)
    assert calls.count("fsfreeze-freeze") == 3 and calls.count("fsfreeze-thaw") == 3, calls
    assert env.pve.vm(100)["frozen"] is False


def test_missed_slot_is_made_up_once(env, sched):
    clock, start = sched
    w, first_slot = start_before_slot(env, clock, start, keep=10)
    first = slot_name(first_slot)
    assert wait_for(lambda: minutes(snaps(env)) == [first]), w.log()
    assert wait_for(lambda: runstate(env, 100, "minutely").get("runs_ok") == "1"), w.log()
    assert w.stop() == 0
    # the watcher is down for five slots
    clock.set(clock.offset + 5 * 60 + 10)
    w = start(name="watch2")
    assert wait_for(lambda: runstate(env, 100, "minutely").get("runs_ok") == "2"), \
        (sorted(runstate(env, 100, "minutely").items()), clock.now(), w.log()[-300:])
    assert wait_for(lambda: len(snaps(env)) == 2)
    assert w.stop() == 0
    assert len(snaps(env)) == 2 and minutes(snaps(env))[0] == first
    # the make-up run was for the latest missed slot
    assert int(runstate(env, 100, "minutely")["slot"]) == first_slot + 5 * 60


def node2_tree(env):
    """A second node sharing /etc/pve: its own pve_etc view (as pmxcfs shows each node its
    own qemu-server link), state, queue and metrics; the same locks and policies."""
    T2 = os.path.join(env.T, "node2")
    view = os.path.join(T2, "etc", "pve")
    os.makedirs(view)
    shared = env.paths["pve_etc"]
    for name in os.listdir(shared):
        if name != "qemu-server":
            os.symlink(os.path.join(shared, name), os.path.join(view, name))
    os.makedirs(os.path.join(shared, "nodes", "pve2", "qemu-server"), exist_ok=True)
    cfg = yaml.safe_load(yaml.safe_dump(env.config))
    for key in ("state", "queue"):
        cfg["paths"][key] = os.path.join(T2, key)
        os.makedirs(cfg["paths"][key])
    cfg["paths"]["pve_etc"] = view
    cfg["paths"]["metrics"] = os.path.join(T2, "metrics.prom")
    return T2, view, cfg


def write_cfg(path, cfg):
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    os.chmod(path, 0o600)


def test_two_watchers_never_run_one_slot_twice(env, sched):
    clock, start = sched
    setup_vm(env, 100)
    env.write_policy(100, POLICY.replace("keep: 2", "keep: 10"))
    T2, view, cfg2 = node2_tree(env)
    # mid-migration both nodes see the VM's config: both are due for every slot
    os.symlink(os.path.join(env.paths["pve_etc"], "nodes", "pve1", "qemu-server"),
               os.path.join(view, "qemu-server"))
    cfg2_path = os.path.join(T2, "config.yaml")
    write_cfg(cfg2_path, cfg2)
    clock.before_minute()
    w1 = start()
    w2 = start(cfg2_path, name="watch-node2")
    want = []
    for i in range(3):
        slot = next_slot(clock)
        if i:
            clock.set(clock.offset + 60)
            w1.hup()
            w2.hup()
        want.append(slot_name(slot))
        assert wait_for(lambda: slot_name(slot) in minutes(snaps(env))), (w1.log(), w2.log())
        # both have handled the slot (one ran it, the other found it done under the lock)
        assert wait_for(lambda: int(runstate(env, 100, "minutely").get("slot", 0)) >= slot and
                        int(runstate(env, 100, "minutely",
                                     cfg2["paths"]["state"]).get("slot", 0)) >= slot), \
            (w1.log(), w2.log())
    assert w1.stop() == 0 and w2.stop() == 0
    assert minutes(snaps(env)) == want
    runs = [int(runstate(env, 100, "minutely", d).get("runs_ok", 0))
            for d in (env.paths["state"], cfg2["paths"]["state"])]
    assert sum(runs) == 3
    assert clone_posts(env) == 3


def test_status_and_metrics_ok_then_failed_and_late(env, sched):
    clock, start = sched
    setup_vm(env, 100)
    env.write_policy(100, POLICY)
    rc, doc, err = status(env, clock)
    assert rc == 1 and [r["state"] for r in doc["rules"]] == ["never"], (doc, err)
    clock.before_minute()
    w = start()
    first = slot_name(next_slot(clock))
    assert wait_for(lambda: runstate(env, 100, "minutely").get("runs_ok") == "1"), w.log()
    rc, doc, err = status(env, clock)
    assert rc == 0 and doc["ok"] is True, (doc, err)
    row = doc["rules"][0]
    assert (row["vmid"], row["label"], row["newest"][:-3], row["state"]) == \
        (100, "minutely", first, "ok")
    assert row["next_due"].endswith("Z") and row["cause"] is None
    metrics = os.path.join(env.T, "metrics.prom")
    assert wait_for(lambda: os.path.exists(metrics))
    m = parse_metrics(open(metrics).read())
    key = (("vmid", "100"), ("label", "minutely"))
    assert m[("pve_ontap_snapshot_last_success_timestamp_seconds", key)] > 0
    assert m[("pve_ontap_snapshot_runs_total", key + (("result", "ok"),))] == 1
    assert m[("pve_ontap_snapshot_runs_total", key + (("result", "failed"),))] == 0
    assert ("pve_ontap_watcher_jobs_pending", ()) in m

    # late: nothing new for more than a period plus a period's grace
    rc, doc, _ = status(env, clock, "--vm", "100", offset=200)
    assert rc == 1 and doc["rules"][0]["state"] == "late"

    # an ONTAP failure in the next slot: failed, with the cause, and one warning line
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "status", count=100, status=500,
                        body={"error": {"message": "internal error", "code": "65552"}})
    clock.set(clock.offset + 60)
    w.hup()
    assert wait_for(lambda: runstate(env, 100, "minutely").get("result") == "failed"), w.log()
    rc, doc, _ = status(env, clock)
    assert rc == 1 and doc["rules"][0]["state"] == "failed"
    assert "internal error" in doc["rules"][0]["cause"]
    assert wait_for(lambda: parse_metrics(open(metrics).read()).get(
        ("pve_ontap_snapshot_runs_total", key + (("result", "failed"),))) == 1)
    warn = [ln for ln in w.log().splitlines()
            if "VM 100 schedule: snapshot failed" in ln and "(label minutely)" in ln]
    assert len(warn) == 1 and warn[0].startswith("pve-ontap: warning: "), w.log()
    # a later good run clears it
    env.ontap.clear_faults()
    clock.set(clock.offset + 60)
    w.hup()
    assert wait_for(lambda: runstate(env, 100, "minutely").get("result") == "ok"), w.log()
    rc, doc, _ = status(env, clock)
    assert rc == 0 and doc["rules"][0]["state"] == "ok"
    r = env.run("status", extra_env={"PVE_ONTAP_TEST_NOW_OFFSET": str(clock.offset)})
    assert r.returncode == 0 and re.search(r"^100 +minutely +minutely-%s .* ok$" % TS,
                                           r.stdout, re.M), r.stdout


def test_clock_jumps_give_one_run_never_a_storm(env, sched):
    clock, start = sched
    w, first_slot = start_before_slot(env, clock, start, keep=100)
    assert wait_for(lambda: runstate(env, 100, "minutely").get("runs_ok") == "1"), w.log()
    # forward by an hour: sixty slots passed, one run, for the latest
    clock.set(clock.offset + 3600)
    w.hup()
    assert wait_for(lambda: runstate(env, 100, "minutely").get("runs_ok") == "2"), w.log()
    assert int(runstate(env, 100, "minutely")["slot"]) == first_slot + 3600
    # back by two hours: the slots up to the last one done are not run again
    clock.set(clock.offset - 7200)
    hup_and_wait(w)
    # the next slot by the new clock comes and goes: nothing runs
    clock.set(clock.offset + 60)
    hup_and_wait(w)
    assert w.stop() == 0
    # the watcher logs every start before it goes back to sleep: two, not more
    assert w.log().count("schedule minutely: run for slot") == 2, w.log()
    assert runstate(env, 100, "minutely")["runs_ok"] == "2"
    assert len(snaps(env)) == 2
    assert clone_posts(env) == 2


def test_sighup_reads_new_schedules(env, sched):
    clock, start = sched
    setup_vm(env, 100)
    env.write_policy(100, "snapshots:\n  - on: [pre-stop]\n    label: minutely\n")
    clock.before_minute(lead=30)
    w = start()
    # a scheduled rule appears; the slot is two seconds away once the watcher has it
    env.write_policy(100, POLICY)
    clock.set(clock.offset + 28)
    slot = next_slot(clock)
    hup_and_wait(w)
    assert wait_for(lambda: slot_name(slot) in minutes(snaps(env))), w.log()
    assert w.log().count("schedule minutely: run for slot") == 1
