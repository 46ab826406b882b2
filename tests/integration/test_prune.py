"""Retention by hand: vm prune and vm create --keep (issue 16 item 3)."""

import json
import os

DISKS = {"scsi0": ("vm-100-disk-0.raw", 4096), "virtio1": ("vm-100-disk-1.raw", 4096)}
HOURLY = ["hourly-202611%02dT%02d0000Z" % (20 + i // 3, i % 3) for i in range(6)]
DAILY = ["daily-202611%02dT020000Z" % (10 + i) for i in range(4)]
FOREIGN = ["vm-100-disk-0-snap-mine.raw", "vm-100-disk-0-snap-Hourly-20261101T000000Z.raw",
           "vm-100-disk-0-snap-hourly-2026.raw", "vm-100-disk-0-copy.raw"]


def seed(env):
    """10 snapshots of two labels (both disks), one 'manual', and files of other names."""
    env.add_vm(100, disks=DISKS)
    names = HOURLY + DAILY + ["manual-20261101T000000Z", "prerestore-20261101T000000Z"]
    for name in names:
        for stem in ("vm-100-disk-0", "vm-100-disk-1"):
            with open(env.image_path(100, "%s-snap-%s.raw" % (stem, name)), "wb") as f:
                f.write(b"x")
    for name in FOREIGN:
        with open(env.image_path(100, name), "wb") as f:
            f.write(b"foreign")


def files(env):
    return sorted(os.listdir(os.path.dirname(env.image_path(100, "x"))))


def listed(env):
    r = env.run("--json", "vm", "list", "--vm", "100")
    assert r.returncode == 0, r.stderr
    return [s["name"] for s in json.loads(r.stdout)]


def test_prune_label_keeps_newest_n_and_nothing_else(env):
    seed(env)
    before = files(env)
    r = env.run("--json", "vm", "prune", "--vm", "100", "--keep", "2", "--label", "hourly")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [s["name"] for s in doc["pruned"]] == HOURLY[:4]
    assert doc["dry_run"] is False and doc["keep"] == 2 and doc["label"] == "hourly"
    gone = {"vm-100-disk-%d-snap-%s.raw" % (d, n) for n in HOURLY[:4] for d in (0, 1)}
    assert files(env) == sorted(set(before) - gone)
    assert listed(env) == sorted(DAILY + HOURLY[4:] + ["manual-20261101T000000Z",
                                                       "prerestore-20261101T000000Z"],
                                 key=lambda n: n.split("-", 1)[1])
    # the VM lock was taken and let go again
    assert os.listdir(env.paths["lock"]) == []


def test_prune_every_label_spares_manual_prerestore_and_foreign(env):
    seed(env)
    r = env.run("vm", "prune", "--vm", "100", "--keep", "1")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == sorted(
        "deleted snapshot '%s' of VM 100" % n for n in HOURLY[:5] + DAILY[:3])
    left = files(env)
    for name in FOREIGN:
        assert name in left
    assert sorted(listed(env)) == sorted([HOURLY[5], DAILY[3], "manual-20261101T000000Z",
                                          "prerestore-20261101T000000Z"])
    # asked by label, manual goes too
    r = env.run("vm", "prune", "--vm", "100", "--keep", "0", "--label", "manual")
    assert r.returncode == 0, r.stderr
    assert "manual-20261101T000000Z" not in listed(env)
    assert "prerestore-20261101T000000Z" in listed(env)


def test_prune_dry_run_changes_nothing(env):
    seed(env)
    state = env.ontap.state_summary()
    before = files(env)
    r = env.run("--dry-run", "--json", "vm", "prune", "--vm", "100", "--keep", "3",
                "--label", "daily")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # the one dry-run document of DESIGN.md "Command line"
    assert doc["dry_run"] is True
    deletes = [q for q in doc["requests"] if q["method"] == "DELETE"]
    assert len(deletes) == 2 and all(q["service"] == "ontap" for q in deletes)
    assert all(DAILY[0] in q["path"] for q in deletes), deletes
    r = env.run("--dry-run", "vm", "prune", "--vm", "100", "--keep", "3", "--label", "daily")
    assert r.returncode == 0, r.stderr
    assert "would delete snapshot '%s' of VM 100" % DAILY[0] in r.stdout.splitlines()
    assert files(env) == before
    assert env.ontap.state_summary() == state
    assert not [q for q in env.ontap.requests if q["method"] == "DELETE"]


def test_create_keep_prunes_its_label(env):
    seed(env)
    r = env.run("--json", "vm", "create", "--vm", "100", "--label", "daily", "--keep", "2")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [s["name"] for s in doc["pruned"]] == DAILY[:3]
    assert sorted(n for n in listed(env) if n.startswith("daily-")) == sorted(
        [DAILY[3], doc["name"]])
    assert len([n for n in listed(env) if n.startswith("hourly-")]) == 6


def test_prune_usage_errors(env):
    seed(env)
    r = env.run("vm", "create", "--vm", "100", "--keep", "2")
    assert r.returncode == 2 and "--keep needs --label" in r.stderr
    r = env.run("vm", "prune", "--vm", "100")
    assert r.returncode == 2
    r = env.run("vm", "prune", "--vm", "100", "--keep", "-1")
    assert r.returncode == 2
    assert len(listed(env)) == 12
