# SPDX-License-Identifier: GPL-2.0-or-later
"""The PVE API client (lib/pve/pve_api.c) and the local reader (lib/pve/pve_local.c), driven through
build/drivers/pve_driver against the PVE simulator (HACKING.md "Test drivers").

The fixture here starts only the PVE simulator (the client needs nothing from ONTAP), in a
tree laid out like the shared `env` fixture's, and asserts the same: no request outside the
API specification.
"""

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "sim"))
sys.path.insert(0, os.path.join(REPO, "tests", "fakes"))

import certs  # noqa: E402
from pve_sim import PveSim  # noqa: E402
from conftest import env_lifecycle  # noqa: E402

NODE = "pve1"
PVE_PASSWORD = "s3cr3t-pve"
JUNCTION = "/proxmox_storage01"

VM_CONF = """\
#web server%3A production
boot: order=scsi0;net0
cores: 4
efidisk0: ONTAP01:100/vm-100-disk-1.raw,efitype=4m,pre-enrolled-keys=1,size=528K
ide2: none,media=cdrom
memory: 8192
name: web01
net0: virtio=BC:24:11:2C:69:EC,bridge=vmbr0
scsi0: ONTAP01:100/vm-100-disk-0.raw,discard=on,iothread=1,size=32G
scsi1: ONTAP01:100/vm-100-disk-4.raw,backup=0,size=1G
scsihw: virtio-scsi-single
tpmstate0: ONTAP01:100/vm-100-disk-2.raw,size=4M,version=v2.0
unused0: ONTAP01:100/vm-100-disk-0-snap-hourly-20240313T144247Z.raw
virtio1: ONTAP01:100/vm-100-disk-3.raw,size=100G
"""


def driver_path():
    if os.environ.get("PVE_DRIVER"):
        return os.environ["PVE_DRIVER"]
    b = os.environ.get("PVE_ONTAP_BIN")
    builddir = os.path.dirname(b) if b else os.path.join(REPO, "build")
    return os.path.join(builddir, "drivers", "pve_driver")


def _write(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


class PveEnv:
    def __init__(self, T):
        self.T = str(T)
        self.pve_etc = os.path.join(self.T, "etc", "pve")
        self.mnt = os.path.join(self.T, "mnt", "pve")
        self.config_path = os.path.join(self.T, "config.yaml")
        self.pve = None

    def teardown(self):
        if self.pve:
            self.pve.stop()

    def setup(self):
        T = self.T
        os.makedirs(os.path.join(self.pve_etc, "nodes", NODE, "qemu-server"))
        os.symlink(os.path.join("nodes", NODE, "qemu-server"),
                   os.path.join(self.pve_etc, "qemu-server"))
        os.makedirs(self.mnt)
        self.certs = certs.make_certs(os.path.join(T, "certs"))
        # an ONTAP volume directory behind the junction, as the ONTAP simulator keeps it
        self.voldir = os.path.join(T, "sim", "ontap", "vol", "proxmox_storage01")
        os.makedirs(self.voldir)
        self.exports = os.path.join(T, "exports.json")
        with open(self.exports, "w", encoding="utf-8") as f:
            json.dump({JUNCTION: self.voldir}, f)
        self.pve = PveSim(T, self.pve_etc, self.certs["cert"], self.certs["key"], node=NODE,
                          token="root@pam!pveontap=%s" % uuid.uuid4(),
                          users={"root@pam": PVE_PASSWORD}, exports_file=self.exports,
                          mnt_dir=self.mnt)
        self.pve.add_storage("ONTAP01", "nfs", mount=True, export=JUNCTION, server="127.0.0.1",
                             content="images", options="vers=4.1,nconnect=4")
        self.pve.start()
        self.write_config()
        return self

    def pve_config(self, **over):
        c = {"host": "127.0.0.1", "port": self.pve.port, "token": self.pve.token,
             "verify": True, "ca_file": self.certs["ca"]}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def write_config(self, **over):
        cfg = {"pve": self.pve_config(**over),
               "paths": {"pve_etc": self.pve_etc, "mnt": self.mnt,
                         "lock": os.path.join(self.T, "etc", "pve", "priv", "lock"),
                         "queue": os.path.join(self.T, "var", "lib", "pve-ontap", "queue"),
                         "state": os.path.join(self.T, "var", "lib", "pve-ontap")}}
        _write(self.config_path, yaml.safe_dump(cfg, sort_keys=False))

    def run(self, *args, timeout=60):
        exe = driver_path()
        if not os.access(exe, os.X_OK):
            pytest.fail("pve_driver not built (%s); run make unit-bins" % exe)
        args = [str(a) for a in args]
        opts = []
        # options (--dry-run, --timeout MS) come before CONFIG
        while args and args[0].startswith("--"):
            n = 2 if args[0] == "--timeout" else 1
            opts += args[:n]
            args = args[n:]
        argv = [exe] + opts + [self.config_path] + args
        env = dict(os.environ, LC_ALL="C")
        env.pop("PVE_ONTAP_CONFIG", None)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)

    def ok(self, *args):
        r = self.run(*args)
        assert r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr)
        return json.loads(r.stdout)

    def raw_post(self, path, data=b""):
        """A request from outside the client under test (to obtain a UPID)."""
        ctx = ssl.create_default_context(cafile=self.certs["ca"])
        rq = urllib.request.Request("%s%s" % (self.pve.url, path), data=data, method="POST",
                                    headers={"Authorization": "PVEAPIToken=" + self.pve.token})
        with urllib.request.urlopen(rq, context=ctx) as r:
            return json.load(r)["data"]


@pytest.fixture
def penv(tmp_path):
    yield from env_lifecycle(PveEnv(tmp_path))


def api_requests(penv, method=None, path_prefix=None):
    out = []
    for r in penv.pve.requests:
        if method and r["method"] != method:
            continue
        if path_prefix and not r["path"].startswith(path_prefix):
            continue
        out.append(r)
    return out


# ---------------------------------------------------------------- token auth, every call


def test_version_with_token(penv):
    assert penv.ok("version") == {"version": "9.1.1"}
    r = api_requests(penv, "GET", "/version")[0]
    assert r["auth"] == "token" and r["user"] == "root@pam!pveontap"


def test_vm_node_and_missing_vm(penv):
    penv.pve.add_vm(100, VM_CONF, status="running")
    assert penv.ok("vm-node", 100) == {"node": NODE}
    r = penv.run("vm-node", 999)
    assert r.returncode == 6, r.stderr
    assert "VM 999" in r.stderr


def test_vm_status(penv):
    penv.pve.add_vm(100, VM_CONF, status="running")
    penv.pve.add_vm(101, "name: off\n", status="stopped", agent=False)
    st = penv.ok("vm-status", NODE, 100)
    assert st["status"] == "running" and st["qmpstatus"] == "running"
    assert st["agent"] is True and st["lock"] == ""
    st = penv.ok("vm-status", NODE, 101)
    assert st["status"] == "stopped" and st["agent"] is False
    r = penv.run("vm-status", NODE, 555)
    assert r.returncode == 6, r.stderr
    assert "does not exist" in r.stderr and "VM 555" in r.stderr


def test_power_cycle(penv):
    penv.pve.add_vm(100, VM_CONF, status="stopped")
    assert penv.ok("start", NODE, 100) == {"ok": True}
    assert penv.pve.vm(100)["status"] == "running"
    assert penv.ok("suspend", NODE, 100) == {"ok": True}
    v = penv.pve.vm(100)
    assert v["hibernated"] and v["status"] == "stopped"
    assert penv.pve.vm(100)["lock"] == "suspended"
    assert penv.ok("vm-status", NODE, 100)["lock"] == "suspended"
    assert penv.ok("resume", NODE, 100) == {"ok": True}
    assert penv.pve.vm(100)["status"] == "running"
    assert penv.ok("shutdown", NODE, 100) == {"ok": True}
    assert penv.pve.vm(100)["status"] == "stopped"
    # suspend sent todisk=1, and every task was polled by its UPID
    susp = api_requests(penv, "POST", "/nodes/pve1/qemu/100/status/suspend")[0]
    assert susp["params"].get("todisk") in ("1", 1)
    polls = api_requests(penv, "GET", "/nodes/pve1/tasks/")
    assert polls and all(p["path"].endswith("/status") for p in polls)
    # the UPID was percent-encoded in the URL path
    assert all("UPID%3A" in p["url_path"] for p in polls)


def test_task_failure_is_an_api_error(penv):
    penv.pve.add_vm(100, VM_CONF, status="stopped")
    penv.pve.task_fail("qmstart", "start failed: QEMU exited with code 1")
    r = penv.run("start", NODE, 100)
    assert r.returncode == 4, r.stderr
    assert "task qmstart for VM 100 failed: start failed: QEMU exited with code 1" in r.stderr
    assert penv.pve.vm(100)["status"] == "stopped"


def test_task_warnings_are_success(penv):
    penv.pve.add_vm(100, VM_CONF, status="stopped")
    penv.pve.task_fail("qmstart", "WARNINGS: 1")
    r = penv.run("start", NODE, 100)
    assert r.returncode == 0, r.stderr
    assert penv.pve.vm(100)["status"] == "running"
    assert "WARNINGS: 1" in r.stderr  # logged as a warning


def test_task_wait_on_a_upid(penv):
    penv.pve.add_vm(100, VM_CONF, status="stopped")
    penv.pve.task_seconds = 1.5
    upid = penv.raw_post("/nodes/pve1/qemu/100/status/start")
    assert upid.startswith("UPID:pve1:")
    assert penv.ok("task-wait", NODE, upid) == {"ok": True}
    # it returned only once the task had ended (under valgrind the first poll may be late)
    assert penv.pve.vm(100)["status"] == "running"
    assert [t["status"] for t in penv.pve.tasks() if t["upid"] == upid] == ["stopped"]
    assert api_requests(penv, "GET", "/nodes/pve1/tasks/")
    # a failed one
    penv.pve.task_fail("qmshutdown", "VM quit/powerdown failed - got timeout")
    upid = penv.raw_post("/nodes/pve1/qemu/100/status/shutdown")
    r = penv.run("task-wait", NODE, upid)
    assert r.returncode == 4
    assert "task qmshutdown for VM 100 failed: VM quit/powerdown failed - got timeout" \
        in r.stderr


def test_task_wait_deadline(penv):
    penv.pve.add_vm(100, VM_CONF, status="stopped")
    penv.pve.task_seconds = 5
    upid = penv.raw_post("/nodes/pve1/qemu/100/status/start")
    r = penv.run("--timeout", 1200, "task-wait", NODE, upid)
    assert r.returncode == 5, r.stderr
    assert "qmstart" in r.stderr
    penv.pve.wait_tasks()


def test_guest_agent_freeze_thaw(penv):
    penv.pve.add_vm(100, VM_CONF, status="running")
    assert penv.ok("agent-status", NODE, 100) == {"status": "thawed"}
    assert penv.ok("freeze", NODE, 100) == {"ok": True}
    assert penv.pve.vm(100)["frozen"] is True
    assert penv.ok("agent-status", NODE, 100) == {"status": "frozen"}
    assert penv.ok("thaw", NODE, 100) == {"ok": True}
    assert penv.pve.vm(100)["frozen"] is False
    assert api_requests(penv, "POST", "/nodes/pve1/qemu/100/agent/fsfreeze-freeze")
    assert api_requests(penv, "POST", "/nodes/pve1/qemu/100/agent/fsfreeze-thaw")


def test_guest_agent_not_running(penv):
    penv.pve.add_vm(100, VM_CONF, status="running", agent=False)
    penv.pve.set_agent(100, False)
    r = penv.run("freeze", NODE, 100)
    assert r.returncode == 4
    assert "cannot freeze the file systems of VM 100" in r.stderr
    assert "guest agent" in r.stderr


def test_storage_create_get_delete(penv):
    assert penv.ok("storage-get", "ONTAP01")["export"] == JUNCTION
    out = penv.ok("storage-create", "ONTAP01-CLONE", "server=127.0.0.1",
                  "export=" + JUNCTION, "content=images",
                  "options=vers=4.1,nconnect=4", "nodes=pve1")
    assert out == {"ok": True}
    st = penv.pve.storages()["ONTAP01-CLONE"]
    assert st["type"] == "nfs" and st["export"] == JUNCTION and st["server"] == "127.0.0.1"
    assert st["options"] == "vers=4.1,nconnect=4" and st["nodes"] == "pve1"
    # the form body was decoded by the simulator to exactly these values
    body = api_requests(penv, "POST", "/storage")[0]["body"]
    assert body["export"] == JUNCTION and body["storage"] == "ONTAP01-CLONE"
    got = penv.ok("storage-get", "ONTAP01-CLONE")
    assert got["id"] == "ONTAP01-CLONE" and got["type"] == "nfs"
    assert got["path"] == os.path.join(penv.mnt, "ONTAP01-CLONE")
    assert got["content"] == "images" and got["disabled"] is False
    # the local reader sees the same storage.cfg
    cfg = penv.ok("storagecfg", penv.pve_etc, penv.mnt)
    ids = {s["id"]: s for s in cfg}
    assert ids["ONTAP01-CLONE"]["export"] == JUNCTION
    assert ids["ONTAP01-CLONE"]["options"] == "vers=4.1,nconnect=4"
    assert ids["ONTAP01"]["server"] == "127.0.0.1"
    # duplicate
    r = penv.run("storage-create", "ONTAP01-CLONE", "server=127.0.0.1", "export=" + JUNCTION)
    assert r.returncode == 4 and "already defined" in r.stderr
    assert penv.ok("storage-delete", "ONTAP01-CLONE") == {"ok": True}
    assert "ONTAP01-CLONE" not in penv.pve.storages()
    r = penv.run("storage-get", "ONTAP01-CLONE")
    assert r.returncode == 6 and "storage 'ONTAP01-CLONE' does not exist" in r.stderr
    r = penv.run("storage-delete", "ONTAP01-CLONE")
    assert r.returncode == 6


def test_dry_run_sends_no_mutation(penv):
    penv.pve.add_vm(100, VM_CONF, status="stopped")
    n_before = len(penv.pve.requests)
    out = penv.ok("--dry-run", "storage-create", "X1", "server=10.0.0.1",
                  "export=/vol/x1", "content=images")
    assert out["dry_run"].startswith("POST /api2/json/storage storage=X1&type=nfs&server=10.0.0.1")
    assert "export=%2Fvol%2Fx1" in out["dry_run"]
    out = penv.ok("--dry-run", "start", NODE, 100)
    assert out["dry_run"] == "POST /api2/json/nodes/pve1/qemu/100/status/start\n"
    out = penv.ok("--dry-run", "storage-delete", "ONTAP01")
    assert out["dry_run"] == "DELETE /api2/json/storage/ONTAP01\n"
    assert len(penv.pve.requests) == n_before
    assert "X1" not in penv.pve.storages() and "ONTAP01" in penv.pve.storages()
    secret = penv.pve.token.rsplit("=", 1)[1]
    assert secret not in json.dumps(out)


# ---------------------------------------------------------------- ticket auth


def test_ticket_auth_with_csrf(penv):
    penv.write_config(token=None, user="root@pam", password=PVE_PASSWORD)
    penv.pve.add_vm(100, VM_CONF, status="stopped")
    assert penv.ok("version") == {"version": "9.1.1"}
    assert penv.ok("start", NODE, 100) == {"ok": True}
    assert penv.pve.vm(100)["status"] == "running"
    logins = api_requests(penv, "POST", "/access/ticket")
    assert len(logins) == 2  # one per process
    assert logins[0]["body"]["username"] == "root@pam"
    start = api_requests(penv, "POST", "/nodes/pve1/qemu/100/status/start")[0]
    assert start["auth"] == "ticket" and start["status"] == 200
    # the simulator refuses writes without the CSRF token: the start got through with it


def test_expired_ticket_is_renewed(penv):
    penv.write_config(token=None, user="root@pam", password=PVE_PASSWORD)
    penv.pve.add_vm(100, VM_CONF, status="stopped")
    penv.pve.task_seconds = 2
    exe = driver_path()
    if not os.access(exe, os.X_OK):
        pytest.fail("pve_driver not built (%s)" % exe)
    proc = subprocess.Popen([exe, penv.config_path, "start", NODE, "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not api_requests(penv, "GET", "/nodes/pve1/tasks/"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        penv.pve.expire_tickets()  # the next poll gets 401 and must log in again
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len(api_requests(penv, "POST", "/access/ticket")) == 2
    assert 401 in [r["status"] for r in api_requests(penv, "GET", "/nodes/pve1/tasks/")]
    assert penv.pve.vm(100)["status"] == "running"


def test_ticket_auth_wrong_password(penv):
    penv.write_config(token=None, user="root@pam", password="wrong-password")
    r = penv.run("version")
    assert r.returncode == 4
    assert "cannot log in to PVE" in r.stderr and "root@pam" in r.stderr
    assert "authentication failure" in r.stderr
    assert "wrong-password" not in r.stderr


def test_password_with_special_characters(penv):
    pw = "p&ss=w%rd +/?"
    penv.pve.users["root@pam"] = pw
    penv.write_config(token=None, user="root@pam", password=pw)
    assert penv.ok("version") == {"version": "9.1.1"}


# ---------------------------------------------------------------- errors


def test_wrong_token(penv):
    bad = "root@pam!pveontap=00000000-0000-0000-0000-000000000000"
    penv.write_config(token=bad)
    r = penv.run("version")
    assert r.returncode == 4, r.stderr
    assert "API token 'root@pam!pveontap' was refused" in r.stderr
    assert "invalid token value" in r.stderr
    assert "00000000-0000-0000-0000-000000000000" not in r.stderr


def test_old_server_error_from_reason_phrase(penv):
    penv.pve.add_vm(100, VM_CONF, status="running")
    # PVE 8.0-8.3: no "message" in the body, the error is the reason phrase only
    penv.pve.add_fault("GET", r"/status/current$", "status", status=500,
                       message="VM 100 qmp command failed - got timeout", body={"data": None})
    r = penv.run("vm-status", NODE, 100)
    assert r.returncode == 4
    assert "HTTP 500: VM 100 qmp command failed - got timeout" in r.stderr


def test_parameter_errors_are_shown(penv):
    penv.pve.add_vm(100, VM_CONF, status="stopped")
    penv.pve.add_fault("POST", r"/status/start$", "status", status=400,
                       message="Parameter verification failed.",
                       body={"data": None, "message": "Parameter verification failed.\n",
                             "errors": {"vmid": "invalid format - value does not look like "
                                                "a valid VM ID\n"}})
    r = penv.run("start", NODE, 100)
    assert r.returncode == 4
    assert "Parameter verification failed.; vmid: invalid format - value does not look " \
           "like a valid VM ID" in r.stderr


def test_server_unavailable_and_timeout(penv):
    penv.pve.add_fault("GET", r"/version$", "status", status=503,
                       message="service unavailable")
    r = penv.run("version")
    assert r.returncode == 4 and "HTTP 503: service unavailable" in r.stderr
    penv.pve.add_fault("GET", r"/version$", "latency", seconds=3)
    r = penv.run("--timeout", 800, "version")
    assert r.returncode == 5, r.stderr


def test_unreachable(penv):
    penv.write_config(port=1)
    r = penv.run("version")
    assert r.returncode == 4, r.stderr
    assert "127.0.0.1" in r.stderr


# ---------------------------------------------------------------- TLS


def test_tls_unknown_ca_refused(penv):
    penv.write_config(ca_file=None)
    r = penv.run("version")
    assert r.returncode == 4, r.stderr


def test_fingerprint_pin(penv):
    penv.write_config(ca_file=None, fingerprint=penv.certs["fingerprint"])
    assert penv.ok("version") == {"version": "9.1.1"}
    penv.write_config(ca_file=None, fingerprint=penv.certs["fingerprints"]["selfsigned"])
    r = penv.run("version")
    assert r.returncode == 4, r.stderr
    assert not api_requests(penv, "GET", "/version")[1:]  # nothing sent on a wrong pin


def test_verify_off(penv):
    penv.write_config(ca_file=None, verify=False)
    assert penv.ok("version") == {"version": "9.1.1"}


# ---------------------------------------------------------------- local reader


def test_local_reader_reads_simulator_files(penv):
    penv.pve.add_vm(100, VM_CONF, status="stopped")
    c = penv.ok("vmconf", penv.pve_etc, 100)
    assert c["vmid"] == 100 and c["name"] == "web01" and c["node"] == "pve1"  # the link
    assert c["agent"] is True  # the simulator added agent: 1
    drives = {d["key"]: d for d in c["drives"]}
    assert set(drives) == {"efidisk0", "ide2", "scsi0", "scsi1", "tpmstate0", "unused0",
                           "virtio1"}
    assert drives["ide2"]["is_cdrom"] is True
    assert drives["scsi0"]["storage"] == "ONTAP01"
    assert drives["scsi0"]["volume"] == "100/vm-100-disk-0.raw"
    assert drives["scsi1"]["backup_off"] is True
    assert drives["unused0"]["is_unused"] is True
    # after the API changed the config (hibernate), the reader sees the lock
    penv.ok("start", NODE, 100)
    penv.ok("suspend", NODE, 100)
    c = penv.ok("vmconf", penv.pve_etc, 100)
    assert c["lock"] == "suspended"
    r = penv.run("vmconf", penv.pve_etc, 404)
    assert r.returncode == 6


def test_local_reader_other_node(penv):
    d = os.path.join(penv.pve_etc, "nodes", "pve2", "qemu-server")
    os.makedirs(d)
    with open(os.path.join(d, "200.conf"), "w", encoding="utf-8") as f:
        f.write("name: elsewhere\nvirtio0: ONTAP01:200/vm-200-disk-0.raw,size=1G\n"
                "\n[snap1]\nscsi0: ONTAP01:200/old.raw\n")
    c = penv.ok("vmconf", penv.pve_etc, 200)
    assert c["node"] == "pve2" and [x["key"] for x in c["drives"]] == ["virtio0"]
