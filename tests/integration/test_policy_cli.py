# SPDX-License-Identifier: GPL-2.0-or-later
"""`pve-ontap policy check|show` (DESIGN.md "Policies (contract)"): the built binary on files
in a temporary tree.  No simulator is needed: neither verb talks to ONTAP or PVE."""

import glob
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = sorted(glob.glob(os.path.join(REPO, "policies", "examples", "*.yaml")))

GOOD = """\
snapshots:
  - on: [pre-stop]
    label: daily
    min_interval: 12h
    quiesce: freeze
"""

BAD = """\
snapshots:
  - on: [pre-stop, pre-migrate]
    label: Daily
    kep: 7
  - on: [post-start]
    label: boot
    keep: 0
timeout: soon
extra: 1
"""

BAD_ERRORS = [
    "%s:2:20: unknown phase 'pre-migrate' (expected pre-start, post-start, pre-stop or "
    "post-stop)",
    "%s:3:12: bad label 'Daily' (1 to 32 of a-z, 0-9 and _)",
    "%s:4:5: unknown key 'kep' in a snapshot rule (expected one of: on, schedule, label, "
    "keep, min_interval, quiesce, register)",
    "%s:7:11: 'keep' must be an integer from 1 to 1000, not '0'",
    "%s:8:10: bad duration 'soon' for 'timeout' (a number with s, m, h or d, e.g. 12h)",
    "%s:9:1: unknown key 'extra' (expected one of: snapshots, disks, register, on_error, "
    "timeout, skip_on_migration)",
]


def binary():
    return os.environ.get("PVE_ONTAP_BIN") or os.path.join(REPO, "build", "pve-ontap")


class Tree:
    def __init__(self, root):
        self.root = str(root)
        self.policies = os.path.join(self.root, "policies")
        os.makedirs(self.policies)
        self.config = os.path.join(self.root, "config.yaml")
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("paths:\n  policies: %s\n  pve_etc: %s\n  lock: %s\n  queue: %s\n"
                    % (self.policies, os.path.join(self.root, "etc"),
                       os.path.join(self.root, "lock"), os.path.join(self.root, "queue")))

    def write(self, name, text, directory=None):
        path = os.path.join(directory or self.policies, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, *args, config=True, tz=None):
        exe = binary()
        if not os.access(exe, os.X_OK):
            pytest.fail("pve-ontap not built (%s); run make" % exe)
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
        if tz:
            env["TZ"] = tz
        argv = [exe] + (["--config", self.config] if config else []) + [str(a) for a in args]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=env, timeout=60, cwd=self.root)


@pytest.fixture
def tree(tmp_path):
    os.chmod(tmp_path, 0o700)
    return Tree(tmp_path)


def test_examples_exist():
    names = {os.path.basename(p) for p in EXAMPLES}
    assert {"nightly-keep7-freeze.yaml", "boot.yaml", "offline-poststop.yaml",
            "block-start.yaml", "hourly-workdays-scheduled.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_every_example_passes_check(tree, path):
    r = tree.run("policy", "check", path, config=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s: ok\n" % path
    assert r.stderr == ""


def test_examples_mean_what_their_names_say(tree):
    ex = {os.path.basename(p): p for p in EXAMPLES}
    for name, check in (
            ("nightly-keep7-freeze.yaml",
             lambda p: p["snapshots"][0]["on"] == ["pre-stop"]
             and p["snapshots"][0]["keep"] == 7 and p["snapshots"][0]["quiesce"] == "freeze"
             and p["snapshots"][0]["min_interval"] == "12h"),
            ("boot.yaml", lambda p: p["snapshots"][0]["on"] == ["post-start"]
             and p["snapshots"][0]["keep"] == 3),
            ("offline-poststop.yaml", lambda p: p["snapshots"][0]["on"] == ["post-stop"]),
            ("block-start.yaml", lambda p: p["snapshots"][0]["on"] == ["pre-start"]
             and p["on_error"] == "block"),
            ("hourly-workdays-scheduled.yaml",
             lambda p: p["snapshots"][0]["schedule"] == "mon..fri 8..18:00"
             and p["snapshots"][0]["on"] == [] and p["snapshots"][0]["register"] is False
             and p["snapshots"][1]["schedule"] == "02:30"
             and p["snapshots"][1]["on"] == ["pre-stop"] and p["snapshots"][1]["register"])):
        with open(ex[name]) as f:
            tree.write("100.yaml", f.read())
        r = tree.run("--json", "policy", "show", "--vm", "100")
        assert r.returncode == 0, r.stderr
        assert check(json.loads(r.stdout)["policy"]), name


def test_check_good_file(tree):
    path = tree.write("100.yaml", GOOD)
    r = tree.run("policy", "check", path, config=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s: ok\n" % path


def test_check_bad_file_lists_every_error(tree):
    good = tree.write("100.yaml", GOOD)
    bad = tree.write("101.yaml", BAD)
    r = tree.run("policy", "check", good, bad, config=False)
    assert r.returncode == 3, r.stdout + r.stderr
    assert r.stdout == "%s: ok\n" % good
    lines = r.stderr.splitlines()
    assert lines[:len(BAD_ERRORS)] == [e % bad for e in BAD_ERRORS]
    # then one closing line from main: which files failed
    assert lines[len(BAD_ERRORS):] == ["pve-ontap: error: 1 of 2 policy files are invalid"]


def test_check_yaml_syntax_error_and_missing_file(tree):
    bad = tree.write("102.yaml", "snapshots: [\n  - on: [pre-stop\n")
    missing = os.path.join(tree.policies, "nope.yaml")
    r = tree.run("policy", "check", bad, missing, config=False)
    assert r.returncode == 3
    assert r.stderr.startswith(bad + ":")
    assert "invalid YAML" in r.stderr
    assert missing in r.stderr


def test_check_refuses_anchors_deep_nesting_and_big_files(tree):
    p1 = tree.write("103.yaml", "timeout: &t 10s\non_error: *t\n")
    p2 = tree.write("104.yaml", "snapshots: " + "[" * 20 + "]" * 20 + "\n")
    p3 = tree.write("105.yaml", "#" * (70 * 1024) + "\n")
    r = tree.run("policy", "check", p1, p2, p3, config=False)
    assert r.returncode == 3
    assert "%s:1:10: YAML anchors are not allowed in a policy (&t)" % p1 in r.stderr
    assert "%s:2:11: YAML aliases are not allowed in a policy (*t)" % p1 in r.stderr
    assert "%s:1:19: nesting deeper than 8 levels" % p2 in r.stderr
    assert "%s:1:1: policy is larger than 64 KiB" % p3 in r.stderr


def test_check_policy_directory(tree):
    tree.write("100.yaml", GOOD)
    tree.write("default.yaml", BAD)
    tree.write("notes.yaml", GOOD)
    tree.write("README", "not yaml at all: [")
    r = tree.run("policy", "check")
    assert r.returncode == 3
    out = r.stdout.splitlines()
    assert out == ["%s/100.yaml: ok" % tree.policies, "%s/notes.yaml: ok" % tree.policies]
    default = os.path.join(tree.policies, "default.yaml")
    for e in BAD_ERRORS:
        assert (e % default) in r.stderr
    # a file the hook never reads is pointed out
    assert "notes.yaml: warning: the hook reads only <vmid>.yaml and default.yaml" in r.stderr
    assert "README" not in r.stdout + r.stderr


def test_check_empty_directory(tree):
    r = tree.run("policy", "check")
    assert r.returncode == 0, r.stderr
    assert "no policy files" in r.stdout


def test_check_json(tree):
    good = tree.write("100.yaml", GOOD)
    bad = tree.write("101.yaml", BAD)
    r = tree.run("--json", "policy", "check", good, bad, config=False)
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert doc["ok"] is False
    assert [(f["file"], f["ok"]) for f in doc["files"]] == [(good, True), (bad, False)]
    assert doc["files"][1]["errors"] == [e % bad for e in BAD_ERRORS]


def test_show_effective_policy(tree):
    path = tree.write("100.yaml", GOOD)
    r = tree.run("policy", "show", "--vm", "100")
    assert r.returncode == 0, r.stderr
    assert path in r.stdout
    # defaults are filled in
    for line in ("    label: daily", "    keep: 7", "    min_interval: 12h",
                 "    quiesce: freeze", "register: true", "on_error: warn", "timeout: 30s",
                 "skip_on_migration: true"):
        assert line in r.stdout.splitlines(), line
    # and what it prints is itself a valid policy
    shown = tree.write("shown.yaml", r.stdout, directory=tree.root)
    r = tree.run("policy", "check", shown, config=False)
    assert r.returncode == 0, r.stderr


def test_show_json_and_fallback_to_default(tree):
    tree.write("100.yaml", GOOD)
    tree.write("default.yaml", "snapshots:\n  - on: [post-stop]\n    label: offline\n"
                               "    keep: 2\non_error: block\ntimeout: 1m\n")
    r = tree.run("--json", "policy", "show", "--vm", "100")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["vmid"] == 100 and doc["source"] == "vm"
    assert doc["file"] == os.path.join(tree.policies, "100.yaml")
    pol = doc["policy"]
    assert pol["snapshots"] == [{"on": ["pre-stop"], "schedule": None, "next_due": None,
                                 "label": "daily", "keep": 7,
                                 "min_interval": "12h", "min_interval_seconds": 43200,
                                 "quiesce": "freeze", "register": True}]
    assert pol["disks"] == {"include": None, "exclude": None}
    assert pol["register"] is True and pol["on_error"] == "warn"
    assert pol["timeout_seconds"] == 30 and pol["skip_on_migration"] is True

    r = tree.run("--json", "policy", "show", "--vm", "101")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["source"] == "default"
    assert doc["file"] == os.path.join(tree.policies, "default.yaml")
    assert doc["policy"]["on_error"] == "block" and doc["policy"]["timeout"] == "1m"
    assert doc["policy"]["snapshots"][0]["on"] == ["post-stop"]


def test_show_without_policy(tree):
    r = tree.run("--json", "policy", "show", "--vm", "100")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["policy"] is None and doc["source"] is None
    r = tree.run("policy", "show", "--vm", "100")
    assert r.returncode == 0
    assert "no policy" in r.stdout


def test_show_broken_policy(tree):
    path = tree.write("100.yaml", BAD)
    r = tree.run("policy", "show", "--vm", "100")
    assert r.returncode == 3
    assert (BAD_ERRORS[0] % path) in r.stderr


def test_show_usage_errors(tree):
    r = tree.run("policy", "show")
    assert r.returncode == 2
    r = tree.run("policy", "show", "--vm", "12")
    assert r.returncode == 2


SCHEDULED = """\
snapshots:
  - schedule: "2199-12-31 23:00"
    label: last
    register: false
  - on: [post-start]
    schedule: '*-02-29 12:00'
    label: leap
"""


def test_show_schedule_and_next_due(tree):
    """The schedule and its next due time in local time (TZ), a valid policy again."""
    tree.write("100.yaml", SCHEDULED)
    r = tree.run("policy", "show", "--vm", "100", tz="Europe/Berlin")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert '  - schedule: "2199-12-31 23:00"    # next due: 2199-12-31 23:00:00 CET' in lines
    assert "  - on: [post-start]" in lines
    assert "    register: false" in lines
    shown = tree.write("shown.yaml", r.stdout, directory=tree.root)
    assert tree.run("policy", "check", shown, config=False).returncode == 0

    r = tree.run("--json", "policy", "show", "--vm", "100", tz="Europe/Berlin")
    assert r.returncode == 0, r.stderr
    rules = json.loads(r.stdout)["policy"]["snapshots"]
    assert [(x["schedule"], x["on"], x["register"]) for x in rules] == [
        ("2199-12-31 23:00", [], False), ("*-02-29 12:00", ["post-start"], True)]
    assert rules[0]["next_due"] == "2199-12-31T22:00:00Z"      # 23:00 CET is 22:00 UTC
    assert rules[1]["next_due"].endswith("-02-29T11:00:00Z")


def test_check_bad_schedules(tree):
    """Every bad calendar event as file:line:col, the column inside the string."""
    path = tree.write("100.yaml", """\
snapshots:
  - schedule: "mon..fri 02:61"
    label: a
  - schedule: feb 30
    label: b
  - schedule: "*-02-30"
    label: c
  - label: d
    keep: 2
""")
    r = tree.run("policy", "check", path, config=False)
    assert r.returncode == 3
    assert r.stderr.splitlines()[:4] == [
        "%s:2:28: bad schedule 'mon..fri 02:61': minute 61 out of range 0..59" % path,
        "%s:4:15: bad schedule 'feb 30': unknown weekday 'feb'" % path,
        "%s:6:15: schedule '*-02-30' never fires (no date matches it)" % path,
        "%s:8:5: snapshot rule without 'on' or 'schedule' (when it fires)" % path]


def test_check_thousand_rules_refused(tree):
    """A policy with a thousand rules: one clear error, not a thousand, and no crash."""
    text = "snapshots:\n" + "".join("  - {schedule: '*/5', label: r%d}\n" % i
                                     for i in range(1000))
    path = tree.write("100.yaml", text)
    r = tree.run("policy", "check", path, config=False)
    assert r.returncode == 3
    assert r.stderr.splitlines() == [
        "%s:66:5: more than 64 snapshot rules (the limit of one policy); found 1000" % path,
        "pve-ontap: error: 1 of 1 policy file is invalid"]
