# SPDX-License-Identifier: GPL-2.0-or-later
"""pve-ontap under attack: secrets stay secret, TLS is verified, redirects are not
followed, non-root runs that would fail silently are refused, and no name from a config,
policy, job file or ONTAP answer leads outside its directory (DESIGN.md "Configuration",
HACKING.md "Secrets", STYLE.md rules 7, 9, 10)."""

import json
import os
import re
import resource
import shutil
import subprocess

import pytest
import yaml

from certcache import fast_certs  # noqa: F401
from conftest import ONTAP_PASSWORD, PVE_PASSWORD, binary, wait_for

pytestmark = pytest.mark.usefixtures("fast_certs")

DISKS = {"scsi0": ("vm-100-disk-0.raw", 8 * 1024), "scsi1": ("vm-100-disk-1.raw", 4 * 1024)}


def all_files(root):
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = os.lstat(p).st_size
    return out


# ------------------------------------------------------------------------------ secrets


def spy_on_qm(env):
    """T/bin/qm records its environment (one JSON object per run) in T/qm-env.log, then
    execs the fake qm."""
    real = env.paths["qm"] + "-real"
    shutil.move(env.paths["qm"], real)
    log = os.path.join(env.T, "qm-env.log")
    script = ("#!/usr/bin/python3\nimport json, os, sys\n"
              "with open(%r, 'a') as f:\n    f.write(json.dumps(dict(os.environ)) + '\\n')\n"
              "os.execv(%r, [%r] + sys.argv[1:])\n" % (log, real, real))
    with open(env.paths["qm"], "w") as f:
        f.write(script)
    os.chmod(env.paths["qm"], 0o755)
    return log


SECRET_SETUPS = ["ontap-inline-password+pve-token", "pve-ticket-password"]


def use_secrets(env, how):
    """Put the secrets where the config allows them; returns the strings that must never
    be seen."""
    cfg = env.config
    if how == "ontap-inline-password+pve-token":
        o = cfg["ontap"]["cluster1"]
        o.pop("password_file")
        o["password"] = ONTAP_PASSWORD
        secrets = [ONTAP_PASSWORD, cfg["pve"]["token"].split("=", 1)[1]]
    else:
        cfg["pve"].pop("token")
        cfg["pve"]["user"] = "root@pam"
        cfg["pve"]["password"] = PVE_PASSWORD
        secrets = [ONTAP_PASSWORD, PVE_PASSWORD]
    env.write_config()
    return secrets


@pytest.mark.parametrize("how", SECRET_SETUPS)
def test_secrets_never_leave_the_process(env, how):
    secrets = use_secrets(env, how)
    env.add_vm(100, disks=DISKS, status="running", agent=True)
    env.write_policy(100, "snapshots:\n  - on: [pre-stop]\n    label: daily\n"
                          "    quiesce: freeze\n")
    qm_env = spy_on_qm(env)
    outputs = []

    def run(*args, **kw):
        r = env.run("--log-level", "debug", *args, **kw)
        outputs.append((args, r.stdout + r.stderr))
        return r

    assert run("--json", "vm", "create", "--vm", "100", "--quiesce", "freeze").returncode == 0
    assert run("--dry-run", "vm", "create", "--vm", "100").returncode == 0
    assert run("--dry-run", "storage", "mount", "--storage", "ONTAP01", "--snapshot",
               "nope").returncode == 6, outputs[-1]
    assert run("doctor").returncode == 0, outputs[-1]
    # failures: ONTAP refuses, PVE refuses
    env.ontap.add_fault("POST", r"^/api/", "status", count=None, status=500)
    assert run("vm", "create", "--vm", "100", "--quiesce", "freeze").returncode == 4
    env.ontap.clear_faults()
    env.pve.add_fault("GET", r"/status/current$", "status", count=None, status=500)
    env.pve.add_fault("POST", r"/agent/", "status", count=None, status=500)
    assert run("vm", "create", "--vm", "100", "--quiesce", "freeze").returncode != 0
    env.pve.clear_faults()
    # the hook (stdout is PVE's task log)
    e = {"PVE_ONTAP_CONFIG": env.config_path}
    r = subprocess.run([binary(), "100", "pre-stop"], capture_output=True, text=True,
                       env=dict(e, PATH="/usr/bin:/bin", LC_ALL="C"), stdin=subprocess.DEVNULL)
    outputs.append((("hook",), r.stdout + r.stderr))
    # children: install-hook runs qm set, watch runs qm rescan for the queued jobs
    assert run("install-hook", "--vm", "100").returncode == 0
    assert env.queue_jobs()
    assert run("watch", "--once").returncode == 0

    for args, out in outputs:
        for s in secrets:
            assert s not in out, (args, out)
        assert "Authorization" not in out or "***" in out, (args, out)
    assert "POST /api/storage/file/clone" in outputs[1][1]    # the dry run did print
    with open(qm_env) as f:
        envs = [json.loads(line) for line in f]
    assert envs, "qm never ran"
    for child in envs:
        blob = json.dumps(child)
        for s in secrets:
            assert s not in blob, child
        assert not [k for k in child if k.startswith("PVE_ONTAP_") and k != "PVE_ONTAP_CONFIG"
                    and "PASS" in k.upper()]
    files = [os.path.join(env.T, "qm.log"), os.path.join(env.T, "nvme.log")]
    for d, _dirs, names in os.walk(env.paths["state"]):   # queue, rejected jobs, state
        files += [os.path.join(d, n) for n in names]
    for path in files:
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            for s in secrets:
                assert s.encode() not in data, path


def test_no_core_dump_of_secrets(env):
    env.add_vm(100, disks=DISKS)
    env.ontap.add_fault("GET", r"^/api/storage/volumes$", "latency", seconds=2)
    exe = binary()
    p = subprocess.Popen([exe, "--config", env.config_path, "vm", "list", "--vm", "100"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: resource.setrlimit(
                             resource.RLIMIT_CORE,
                             (resource.RLIM_INFINITY, resource.RLIM_INFINITY)))
    try:
        assert wait_for(lambda: any(q["path"] == "/api/storage/volumes"
                                    for q in env.ontap.requests), timeout=10)
        with open("/proc/%d/limits" % p.pid) as f:
            line = next(ln for ln in f if ln.startswith("Max core file size"))
        soft = line.split()[4]
        assert soft == "0", line
    finally:
        p.communicate(timeout=20)


# ------------------------------------------------------------------------------ config permissions


def test_config_with_password_readable_by_others_is_refused(env):
    env.add_vm(100, disks=DISKS)
    env.config["ontap"]["cluster1"].pop("password_file")
    env.config["ontap"]["cluster1"]["password"] = ONTAP_PASSWORD
    env.write_config()
    os.chmod(env.config_path, 0o644)
    r = env.run("vm", "list", "--vm", "100")
    assert r.returncode == 3, r.stderr
    assert env.config_path in r.stderr and re.search(r"readable|permission|0644|mode",
                                                     r.stderr), r.stderr
    assert ONTAP_PASSWORD not in r.stderr + r.stdout
    assert env.ontap.requests == [] and env.pve.requests == []
    os.chmod(env.config_path, 0o640)              # group-readable is refused as well
    assert env.run("vm", "list", "--vm", "100").returncode == 3
    os.chmod(env.config_path, 0o600)
    assert env.run("vm", "list", "--vm", "100").returncode == 0


def test_password_file_readable_by_others_is_refused(env):
    env.add_vm(100, disks=DISKS)
    pw = os.path.join(env.T, "ontap.pw")
    os.chmod(pw, 0o644)
    r = env.run("vm", "list", "--vm", "100")
    assert r.returncode == 3, r.stderr
    assert pw in r.stderr, r.stderr
    assert ONTAP_PASSWORD not in r.stderr + r.stdout
    assert env.ontap.requests == []


# ------------------------------------------------------------------------------ TLS


def serve_ontap_with(env, name):
    """Restart the ONTAP simulator (same state, same port) with certificate `name`."""
    port = env.ontap.port
    env.ontap.stop()
    env.ontap.certfile = env.certs[name]
    env.ontap.keyfile = env.certs[name + "_key"]
    env.ontap.start(port)


@pytest.mark.parametrize("cert", ["expired", "selfsigned", "wronghost"])
def test_bad_server_certificate(env, cert):
    serve_ontap_with(env, cert)
    r = env.run("storage", "list", "--storage", "ONTAP01")
    assert r.returncode == 4, r.stderr
    assert re.search(r"TLS verification of '127\.0\.0\.1:\d+' failed", r.stderr), r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.startswith("pve-ontap: error:")]) == 1
    # no request got through to the API
    assert env.ontap.requests == []
    # a matching pin accepts exactly this certificate
    o = env.config["ontap"]["cluster1"]
    o["fingerprint"] = env.certs["fingerprints"][cert]
    env.write_config()
    r = env.run("storage", "list", "--storage", "ONTAP01")
    assert r.returncode == 0, r.stderr
    o.pop("fingerprint")
    o["verify"] = False
    env.write_config()
    r = env.run("storage", "list", "--storage", "ONTAP01")
    assert r.returncode == 0, r.stderr


def test_pin_of_another_certificate_refuses_even_with_verify_off(env):
    o = env.config["ontap"]["cluster1"]
    o["verify"] = False
    o["fingerprint"] = env.certs["fingerprints"]["selfsigned"]
    env.write_config()
    r = env.run("storage", "list", "--storage", "ONTAP01")
    assert r.returncode == 4, r.stderr
    assert "fingerprint" in r.stderr
    assert env.ontap.requests == []


def test_redirect_is_not_followed(env):
    sim = env.ontap
    target = "https://127.0.0.1:%d/api/redirected-here" % sim.port
    orig_send = sim._send

    def send(h, status, body, headers=None, **kw):
        if status == 302:
            headers = dict(headers or {}, Location=target)
        return orig_send(h, status, body, headers, **kw)

    sim._send = send
    sim.add_fault("GET", r"^/api/storage/volumes$", "status", count=None, status=302,
                  body={})
    r = env.run("storage", "list", "--storage", "ONTAP01")
    assert r.returncode == 4, r.stderr
    assert "302" in r.stderr, r.stderr
    assert not [q for q in sim.requests if "redirected" in q["path"]]


# ------------------------------------------------------------------------------ root


def test_watch_refuses_non_root(env):
    if os.geteuid() != 0:
        pytest.skip("already unprivileged: test_watcher covers it")
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("no setpriv")
    exe = binary()
    os.chmod(env.T, 0o755)           # let 'nobody' reach the binary's config path at least
    argv = [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups",
            exe, "--config", env.config_path, "watch", "--once"]
    e = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    r = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=30, cwd="/")
    assert r.returncode == 2, r.stderr
    assert "root" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    # the test opt-in lifts it (then the config, 0600 root, is what stops nobody: exit 3)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/",
                       env=dict(e, PVE_ONTAP_ALLOW_NONROOT="1"))
    assert r.returncode == 3, r.stderr
    assert env.qm_calls() == []


# ------------------------------------------------------------------------------ paths


@pytest.mark.parametrize("volid", [
    "ONTAP01:100/../../etc/passwd",
    "ONTAP01:100/vm-100-disk-0.raw/..",
    "ONTAP01:100/../101/vm-101-disk-0.raw",
    "ONTAP01:../x",
])
def test_volid_escaping_the_image_directory_is_refused(env, volid):
    paths = env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)},
                       extra_conf="scsi1: %s,size=4K\n" % volid)
    os.makedirs(env.image_path(101, ""), exist_ok=True)
    with open(env.image_path(101, "vm-101-disk-0.raw"), "wb") as f:
        f.write(b"another VM's disk")
    before = all_files(env.T)
    r = env.run("vm", "create", "--vm", "100")
    # refused before anything is sent (exit 1), said once and clearly, naming the volid
    assert [q for q in env.ontap.requests if q["method"] == "POST"] == []
    lines = [ln for ln in r.stderr.splitlines() if volid in ln]
    assert len(lines) == 1 and "scsi1" in lines[0], r.stderr
    assert not [q for q in env.ontap.requests if q["method"] in ("PATCH", "DELETE")]
    after = all_files(env.T)
    assert sorted(set(after) - set(before)) == [], sorted(set(after) - set(before))
    assert {k: v for k, v in after.items() if k in before} == before
    assert paths and r.returncode == 1, r.stderr


def test_policy_label_with_path_is_refused(env):
    env.add_vm(100, disks=DISKS)
    path = env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: ../x\n")
    r = env.run("policy", "check", path)
    assert r.returncode == 3
    assert "%s:3:12: bad label '../x'" % path in r.stdout + r.stderr
    r = subprocess.run([binary(), "100", "post-stop"], capture_output=True, text=True,
                       env={"PVE_ONTAP_CONFIG": env.config_path, "PATH": "/usr/bin:/bin"},
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and "bad label '../x'" in r.stderr, r.stderr
    assert env.ontap.requests == []
    assert not [f for f in all_files(env.T) if "x-" in os.path.basename(f)]


@pytest.mark.parametrize("job", [
    {"vmid": 100, "action": "unused-remove", "volid": "ONTAP01:../x"},
    {"vmid": 100, "action": "unused-remove", "volid": "ONTAP01:100/../../../etc/passwd"},
    {"vmid": 100, "action": "unused-remove", "volid": "ONTAP01:100/vm-100-disk-0.raw/.."},
    {"vmid": "100/../1", "action": "rescan"},
])
def test_job_with_escaping_volid_is_rejected(env, job):
    env.add_vm(100, disks=DISKS, extra_conf="unused0: %s\n" % job.get("volid", "x"))
    q = env.paths["queue"]
    with open(os.path.join(q, ".100-evil.job"), "w") as f:
        json.dump(job, f)
    os.rename(os.path.join(q, ".100-evil.job"), os.path.join(q, "100-evil.job"))
    before = {k: v for k, v in all_files(env.T).items() if "queue" not in k and
              not k.startswith(("qm", "var/"))}
    r = env.run("watch", "--once")
    assert "100-evil.job" in r.stderr, r.stderr
    assert os.listdir(os.path.join(q, "rejected")) == ["100-evil.job"]
    assert not [c for c in env.qm_calls() if "set" in c]
    after = {k: v for k, v in all_files(env.T).items() if "queue" not in k and
             not k.startswith(("qm", "var/"))}
    assert after == before


def test_hostile_names_in_an_ontap_listing(env):
    """File names from ONTAP are data: '..' parts, slashes, control characters and newlines
    neither reach a path that is deleted or cloned, nor the terminal raw."""
    env.add_vm(100, disks=DISKS)
    d = os.path.dirname(env.image_path(100, "x"))
    # real files with control characters in their names (ONTAP returns them as they are)
    for name in ("vm-100-disk-0-snap-daily-20200101T000000Z.raw\n",
                 "vm-100-disk-0-snap-daily-20200102T000000Z.raw\x1b[2J",
                 "\x1b]0;owned\x07vm-100-disk-0-snap-daily-20200103T000000Z.raw"):
        with open(os.path.join(d, name), "wb") as f:
            f.write(b"hostile")
    outside = os.path.join(env.T, "x-victim")
    with open(outside, "wb") as f:
        f.write(b"must survive")
    # and names no file system has, planted in the answer itself
    sim = env.ontap
    orig_send = sim._send
    fakes = ["../../x-victim", "..", "vm-100-disk-0-snap-daily-20200104T000000Z.raw/../../../x",
             "../vm-100-disk-0-snap-daily-20200105T000000Z.raw",
             "vm-100-disk-0-snap-../../x-20200106T000000Z.raw"]

    def send(h, status, body, headers=None, **kw):
        if isinstance(body, dict) and isinstance(body.get("records"), list) and \
                "/files/" in h.path and h.command == "GET":
            body = dict(body)
            body["records"] = body["records"] + [{"name": n, "type": "file", "size": 7}
                                                 for n in fakes]
            body["num_records"] = len(body["records"])
        return orig_send(h, status, body, headers, **kw)

    sim._send = send
    env.write_policy(100, "snapshots:\n  - on: [post-stop]\n    label: daily\n    keep: 1\n")
    r = env.run("--json", "vm", "list", "--vm", "100")
    assert r.returncode == 0, r.stderr
    listed = [s["name"] for s in json.loads(r.stdout)]
    for n in listed:
        assert re.fullmatch(r"[a-z0-9_]+-\d{8}T\d{6}Z", n), listed
    r2 = env.run("vm", "list", "--vm", "100")
    assert "\x1b" not in r2.stdout + r2.stderr and "\x07" not in r2.stdout + r2.stderr
    # retention with keep: 1 of label daily: deletes nothing that is not its own clone
    r = subprocess.run([binary(), "100", "post-stop"], capture_output=True, text=True,
                       env={"PVE_ONTAP_CONFIG": env.config_path, "PATH": "/usr/bin:/bin"},
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout + r.stderr
    deletes = [q["path"] for q in sim.requests if q["method"] == "DELETE"]
    for p in deletes:
        assert "%2E%2E" not in p.upper() and ".." not in p and "%2F" in p, deletes
        assert "x-victim" not in p, deletes
    with open(outside, "rb") as f:
        assert f.read() == b"must survive"
    for name in os.listdir(d):
        if "\n" in name or "\x1b" in name:
            with open(os.path.join(d, name), "rb") as f:
                assert f.read() == b"hostile"
    # the hostile names were not taken as ours: three real files, untouched, still there
    assert len([n for n in os.listdir(d) if "\n" in n or "\x1b" in n]) == 3
