"""Command-line habits (issue 17, point 3): "did you mean" for a mistyped object, verb or
option (git's help.c), 'help [OBJECT [VERB]]', 'hook --help', '--opt=value' wherever
'--opt value' works, and the bash completion of snapshot names and of '--opt=' forms in a
real bash."""

import json
import os
import subprocess
import time

from conftest import binary
from test_admin import complete as admin_complete

NOCONF = {"PVE_ONTAP_CONFIG": "/nonexistent/config.yaml", "LC_ALL": "C"}


def run(*args):
    return subprocess.run([binary()] + list(args), capture_output=True, text=True,
                          env=dict(os.environ, **NOCONF), timeout=30)


def test_mistyped_object_suggests_the_nearest():
    r = run("vmm")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().endswith("unknown command 'vmm' (see 'pve-ontap --help'); "
                                     "did you mean 'vm'"), r.stderr
    r = run("docter")
    assert r.returncode == 2
    assert r.stderr.strip().endswith("did you mean 'doctor'"), r.stderr
    # a prefix is nearest, as in git
    assert run("stor").stderr.strip().endswith("did you mean 'storage'")
    # nothing near: no guess
    r = run("frobnicate")
    assert r.returncode == 2 and "did you mean" not in r.stderr, r.stderr


def test_mistyped_verb_and_option_suggest_the_nearest():
    r = run("vm", "craete")
    assert r.returncode == 2
    assert r.stderr.strip().endswith("vm: unknown verb 'craete' (see 'pve-ontap vm --help'); "
                                     "did you mean 'create'"), r.stderr
    r = run("storage", "mout")
    assert r.stderr.strip().endswith("did you mean 'mount'"), r.stderr


def test_help_command_prints_the_help_of_object_and_verb():
    for words in ([], ["vm"], ["vm", "create"], ["storage", "mount"], ["doctor"]):
        a = run("help", *words)
        b = run(*(words + ["--help"]))
        assert a.returncode == 0 and b.returncode == 0, (words, a.stderr, b.stderr)
        assert a.stdout == b.stdout and a.stdout.startswith("usage: pve-ontap"), words
    assert "help [OBJECT [VERB]]" in run("--help").stdout
    r = run("help", "vm", "craete")
    assert r.returncode == 2 and "did you mean 'create'" in r.stderr


def test_hook_help_explains_hook_mode():
    for args in (["hook", "--help"], ["hook", "-h"], ["help", "hook"]):
        r = run(*args)
        assert r.returncode == 0, (args, r.stderr)
        assert r.stdout.startswith("usage: pve-ontap hook VMID PHASE\n"), r.stdout
        for word in ("pre-start", "post-stop", "install-hook", "on_error: block"):
            assert word in r.stdout, word
    r = run("hook", "100")
    assert r.returncode == 2 and "usage: pve-ontap hook VMID PHASE" in r.stderr


def test_watch_help_names_the_real_keys():
    out = run("watch", "--help").stdout
    assert "'watch.reconcile'" in out and "'watch.max_parallel'" in out
    assert "reconcile_s" not in out


def test_empty_argument_is_a_positional_argument(env):
    # main.c read argv[i][1] of "" (one byte past it) looking for -config
    r = env.run("vm", "list", "--vm", "100", "")
    assert r.returncode == 2
    assert r.stderr.strip().endswith("vm list: unexpected argument '' "
                                     "(see 'pve-ontap vm list --help')"), r.stderr


def test_opt_equals_value_everywhere(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    assert env.run("vm", "create", "--vm", "100", "--label", "daily").returncode == 0
    base = env.run("--json", "vm", "list", "--vm", "100")
    assert base.returncode == 0, base.stderr
    for args in (["--json", "vm", "list", "--vm=100"],
                 ["--json", "vm", "list", "-vm=100"],
                 ["vm", "list", "--vm=100", "--json"],
                 ["vm", "list", "-vm", "100", "-json"],
                 ["--log-level=error", "--json", "vm", "list", "--vm=100"],
                 ["vm", "list", "--vm=100", "--log-level=error", "--json"]):
        r = env.run(*args)
        assert r.returncode == 0, (args, r.stderr)
        assert json.loads(r.stdout) == json.loads(base.stdout), args
    # --config=FILE before and after the verb
    for args in (["--config=%s" % env.config_path, "--json", "vm", "list", "--vm", "100"],
                 ["--json", "vm", "list", "--vm", "100", "-config=%s" % env.config_path]):
        r = env.run(*args, config=False)
        assert r.returncode == 0, (args, r.stderr)
        assert json.loads(r.stdout) == json.loads(base.stdout), args
    r = env.run("vm", "list", "--vmm=100")
    assert r.returncode == 2 and "did you mean '--vm'" in r.stderr, r.stderr


# ------------------------------------------------------------------ completion, real bash

def complete(words, env_extra=None):
    """COMPREPLY of _pve_ontap for COMP_WORDS=words (the last one being completed), sorted."""
    return sorted(admin_complete(words, env_extra))


def test_completion_of_vm_snapshots_from_image_directories(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096),
                           "scsi1": ("vm-100-disk-1.qcow2", 4096)})
    env.add_vm(101, disks={"scsi0": ("vm-101-disk-0.raw", 4096)})
    for label in ("daily", "weekly"):
        r = env.run("vm", "create", "--vm", "100", "--label", label)
        assert r.returncode == 0, r.stderr
    env.run("vm", "create", "--vm", "101", "--label", "hourly")
    names = sorted(s["name"] for s in json.loads(env.run("--json", "vm", "list", "--vm",
                                                         "100").stdout))
    assert len(names) == 2
    cfg = ["pve-ontap", "--config", env.config_path]
    assert complete(cfg + ["vm", "delete", "--vm", "100", "--snapshot", ""]) == names
    daily = [n for n in names if n.startswith("daily-")]
    assert complete(cfg + ["vm", "restore", "--vm=100", "--snapshot", "da"]) == daily
    # one word "--snapshot=da" (COMP_WORDBREAKS without '='): the reply keeps the option
    assert complete(cfg + ["vm", "restore", "-vm", "100", "--snapshot=da"]) == \
        ["--snapshot=" + n for n in daily]
    # bash's default split at '=': "--snapshot" "=" "da"
    assert complete(cfg + ["vm", "delete", "--vm", "=", "100", "--snapshot", "=", "da"]) \
        == daily
    assert complete(cfg + ["vm", "delete", "--vm", "100", "--snapshot", "="]) == names


def test_completion_of_opt_equals_values(env):
    cfg = ["pve-ontap", "--config=%s" % env.config_path]
    assert complete(cfg + ["storage", "list", "--storage=ON"]) == ["--storage=ONTAP01"]
    assert complete(cfg + ["storage", "list", "--storage", "=", "ON"]) == ["ONTAP01"]
    assert complete(["pve-ontap", "vm", "create", "--quiesce=f"]) == ["--quiesce=freeze"]
    assert complete(["pve-ontap", "--log-level=d"]) == ["--log-level=debug"]
    assert complete(["pve-ontap", "vm", "p"]) == ["prune"]
    assert complete(["pve-ontap", "help", "st"]) == ["status", "storage"]


def test_completion_of_storage_snapshots_from_a_background_cache(env, tmp_path):
    for label in ("manual", "daily"):
        r = env.run("storage", "create", "--storage", "ONTAP01", "--label", label)
        assert r.returncode == 0, r.stderr
    names = sorted(s["name"] for s in json.loads(
        env.run("--json", "storage", "list", "--storage", "ONTAP01").stdout))
    assert len(names) == 2
    bindir = tmp_path / "cbin"
    bindir.mkdir()
    os.symlink(os.path.abspath(binary()), bindir / "pve-ontap")
    cache = tmp_path / "cache"
    extra = {"XDG_CACHE_HOME": str(cache), "PVE_ONTAP_ALLOW_NONROOT": "1",
             "PATH": "%s:%s:%s" % (bindir, os.path.join(env.T, "bin"), os.environ["PATH"])}
    words = ["pve-ontap", "--config", env.config_path, "storage", "delete", "--storage",
             "ONTAP01", "--snapshot", ""]
    before = len(env.ontap.requests)
    # no cache yet: TAB answers at once with nothing and refreshes in the background
    assert complete(words, extra) == []
    cached = cache / "pve-ontap" / "storage-ONTAP01.snapshots"
    for _ in range(600):
        if cached.exists():
            break
        time.sleep(0.05)
    assert cached.exists()
    assert len(env.ontap.requests) > before
    assert oct(os.stat(cached).st_mode & 0o777) == "0o600"
    # the next TAB reads the cache only: no request to ONTAP
    before = len(env.ontap.requests)
    assert complete(words, extra) == names
    assert complete(words[:-1] + ["pveontap_d"], extra) == \
        [n for n in names if n.startswith("pveontap_d")]
    assert len(env.ontap.requests) == before
