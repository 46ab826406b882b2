"""Tests of the PVE simulator (pve_sim.py) and its schema validator (pve_spec.py)."""

import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fakes"))

import certs  # noqa: E402
import pve_spec  # noqa: E402
import pvefiles as pf  # noqa: E402
from pve_sim import PveSim  # noqa: E402

TOKEN = "root@pam!pveontap=0b3f6c7e-1111-4222-8333-944455556666"
CONF = """#web server
boot: order=scsi0
cores: 2
memory: 2048
name: web01
scsi0: ONTAP01:100/vm-100-disk-0.raw,iothread=1,size=1M
scsihw: virtio-scsi-single

[before]
parent: x
scsi0: ONTAP01:100/vm-100-disk-0.raw,size=1M
snaptime: 1700000000
"""


class Client:
    """Minimal PVE API client: keep-alive connection, token or ticket auth."""

    def __init__(self, sim, ca=None, ctx=None):
        self.sim = sim
        self.ctx = ctx or ssl.create_default_context(cafile=ca)
        self.conn = None
        self.token = None
        self.ticket = None
        self.csrf = None

    def req(self, method, path, params=None, json_body=False, headers=None, csrf=True):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.sim.port,
                                                    context=self.ctx, timeout=10)
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "PVEAPIToken=" + self.token
        if self.ticket:
            h["Cookie"] = "PVEAuthCookie=" + urllib.parse.quote(self.ticket, safe="")
            if csrf and method != "GET":
                h["CSRFPreventionToken"] = self.csrf
        url = "/api2/json" + path
        body = None
        if params and method in ("GET", "DELETE"):
            url += "?" + urllib.parse.urlencode(params)
        elif params is not None:
            if json_body:
                body = json.dumps(params)
                h["Content-Type"] = "application/json"
            else:
                body = urllib.parse.urlencode(params)
                h["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, url, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return r.status, r.reason, json.loads(data) if data else None

    def login(self, user="root@pam", password="s3cr3t-pve"):
        st, _, d = self.req("POST", "/access/ticket", {"username": user, "password": password})
        assert st == 200, d
        self.ticket = d["data"]["ticket"]
        self.csrf = d["data"]["CSRFPreventionToken"]
        return d["data"]

    def wait(self, upid, timeout=10):
        node = upid.split(":")[1]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st, _, d = self.req("GET", "/nodes/%s/tasks/%s/status"
                                % (node, urllib.parse.quote(upid, safe="")))
            assert st == 200, d
            if d["data"]["status"] == "stopped":
                return d["data"]
            time.sleep(0.02)
        raise AssertionError("task did not end")


@pytest.fixture
def tree(tmp_path):
    T = str(tmp_path)
    c = certs.make_certs(os.path.join(T, "certs"))
    vol = os.path.join(T, "sim", "ontap", "vol", "proxmox_storage01")
    os.makedirs(vol)
    exports = os.path.join(T, "exports.json")
    with open(exports, "w") as f:
        json.dump({"/proxmox_storage01": vol}, f)
    sim = PveSim(T, os.path.join(T, "etc", "pve"), c["cert"], c["key"], token=TOKEN,
                 exports_file=exports)
    sim.add_storage("local", "dir", path=os.path.join(T, "var", "lib", "vz"),
                    content="iso,backup,snippets")
    sim.add_storage("ONTAP01", "nfs", export="/proxmox_storage01", server="127.0.0.1",
                    content="images", options="vers=4.1,nconnect=4")
    img = os.path.join(T, "mnt", "pve", "ONTAP01", "images", "100")
    os.makedirs(img)
    with open(os.path.join(img, "vm-100-disk-0.raw"), "wb") as f:
        f.write(b"A" * (1 << 20))
    sim.add_vm(100, CONF, status="stopped")
    sim.start()
    cl = Client(sim, c["ca"])
    cl.token = TOKEN
    yield sim, cl, T, vol
    sim.stop()


# ------------------------------------------------------------------------ spec


def test_spec_accepts_numbered_keys_and_rejects_unknown():
    assert pve_spec.validate("PUT", "/nodes/pve1/qemu/100/config",
                             {"scsi3": "ONTAP01:100/a.raw", "unused7": "ONTAP01:100/b.raw",
                              "delete": "unused0,unused1", "skiplock": 1}) == []
    errs = pve_spec.validate("PUT", "/nodes/pve1/qemu/100/config", {"frobnicate": 1})
    assert len(errs) == 1 and "frobnicate" in errs[0]
    assert pve_spec.validate("GET", "/nodes/pve1/qemu/1x/config", {})
    assert pve_spec.validate("PATCH", "/version", {})[0].startswith("Method 'PATCH")
    assert pve_spec.validate("GET", "/api2/json/nodes/pve1/tasks/UPID%3Apve1%3Ax/status") == []
    # PVE 8 has no snapshot-as-volume-chain
    p = {"storage": "S1", "type": "nfs", "snapshot-as-volume-chain": 1}
    assert pve_spec.validate("POST", "/storage", p, "pve9") == []
    assert pve_spec.validate("POST", "/storage", p, "pve8")


def test_spec_required_and_enum():
    assert pve_spec.validate("POST", "/access/ticket", {"username": "root@pam"})
    assert pve_spec.validate("GET", "/cluster/resources", {"type": "vm"}) == []
    assert pve_spec.validate("GET", "/cluster/resources", {"type": "vms"})


# ------------------------------------------------------------------------ auth


def test_token_auth_variants(tree):
    sim, cl, T, _ = tree
    st, _, d = cl.req("GET", "/version")
    assert st == 200 and d["data"]["release"] == "9.1"
    # space instead of '=', URI-escaped value; split at the last '='
    cl.token = None
    esc = urllib.parse.quote(TOKEN, safe="")
    st, _, d = cl.req("GET", "/version", headers={"Authorization": "PVEAPIToken " + esc})
    assert st == 200
    st, reason, d = cl.req("GET", "/version",
                           headers={"Authorization": "PVEAPIToken=" + TOKEN[:-1] + "0"})
    assert st == 401 and d["data"] is None and "invalid token" in d["message"]
    st, reason, d = cl.req("GET", "/version")
    assert st == 401 and reason == "No ticket"
    assert sim.requests[-1]["status"] == 401 and sim.violations == []


def test_ticket_and_csrf(tree):
    sim, cl, T, _ = tree
    cl.token = None
    data = cl.login()
    assert data["ticket"].startswith("PVE:root@pam:") and "::" in data["ticket"]
    assert data["username"] == "root@pam"
    st, _, d = cl.req("GET", "/nodes/pve1/qemu/100/config")
    assert st == 200 and d["data"]["name"] == "web01"
    st, reason, d = cl.req("PUT", "/nodes/pve1/qemu/100/config", {"name": "x1"}, csrf=False)
    assert st == 401 and "csrf" in reason
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config", {"name": "x1"})
    assert st == 200 and sim.vm(100)["config"]["name"] == "x1"
    # JSON login with realm separately, wrong password
    st, _, d = cl.req("POST", "/access/ticket", {"username": "root", "realm": "pam",
                                                "password": "nope"}, json_body=True)
    assert st == 401
    # renewal with the ticket as password; expiry
    st, _, d = cl.req("POST", "/access/ticket", {"username": "root@pam",
                                                "password": cl.ticket})
    assert st == 200
    sim.expire_tickets()
    st, _, d = cl.req("GET", "/version")
    assert st == 401


def test_hookscript_needs_root_ticket(tree):
    sim, cl, T, _ = tree
    snip = os.path.join(T, "var", "lib", "vz", "snippets", "hook")
    with open(snip, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(snip, 0o755)
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config",
                      {"hookscript": "local:snippets/hook"})
    assert st == 500 and "only root can set 'hookscript'" in d["message"]
    cl.token = None
    cl.login()
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config",
                      {"hookscript": "local:snippets/missing"})
    assert st == 500 and "does not exist" in d["message"]
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config",
                      {"hookscript": "local:snippets/hook"})
    assert st == 200 and sim.vm(100)["config"]["hookscript"] == "local:snippets/hook"


# ------------------------------------------------------------------------ schema, errors


def test_schema_violation_is_400_and_recorded(tree):
    sim, cl, T, _ = tree
    st, reason, d = cl.req("PUT", "/nodes/pve1/qemu/100/config", {"bogus": "1"})
    assert st == 400 and reason == "Parameter verification failed."
    assert "bogus" in d["errors"] and d["message"] == "Parameter verification failed.\n"
    st, reason, d = cl.req("GET", "/nodes/pve1/nosuch")
    assert st == 501 and reason.startswith("Method 'GET /api2/json/nodes/pve1/nosuch'")
    assert len(sim.violations) == 2
    sim.violations.clear()


def test_config_get_put_delete_and_lock(tree):
    sim, cl, T, vol = tree
    st, _, d = cl.req("GET", "/nodes/pve1/qemu/100/config")
    c = d["data"]
    assert c["cores"] == 2 and c["description"] == "web server" and len(c["digest"]) == 40
    # unused entry pointing at a clone file, then delete it: PVE destroys the image
    clone = os.path.join(vol, "images", "100", "vm-100-disk-0-snap-daily-20261122T101500Z.raw")
    with open(clone, "wb") as f:
        f.write(b"B" * 4096)
    volid = "ONTAP01:100/" + os.path.basename(clone)
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config",
                      {"unused0": volid, "digest": c["digest"]})
    assert st == 200, d
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config",
                      {"unused1": volid, "digest": c["digest"]})
    assert st == 500 and "detected modified configuration" in d["message"]
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config", {"delete": "unused0"})
    assert st == 200 and not os.path.exists(clone)
    assert "unused0" not in sim.vm(100)["config"]
    # attach an existing volume: size= is filled in
    with open(os.path.join(vol, "images", "100", "vm-100-disk-1.raw"), "wb") as f:
        f.write(b"C" * (2 << 20))
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config",
                      {"scsi1": "ONTAP01:100/vm-100-disk-1.raw,iothread=1,discard=on"})
    assert st == 200
    assert sim.vm(100)["config"]["scsi1"] == \
        "ONTAP01:100/vm-100-disk-1.raw,discard=on,iothread=1,size=2M"
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config", {"scsi2": "ONTAP01:100/nope.raw"})
    assert st == 500 and d["message"] == "volume 'ONTAP01:100/nope.raw' does not exist\n"
    # detaching a disk makes it the lowest free unusedN (PVE keeps owned volumes)
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config", {"delete": "scsi1"})
    assert st == 200 and sim.vm(100)["config"]["unused0"] == "ONTAP01:100/vm-100-disk-1.raw"
    text = open(os.path.join(T, "etc", "pve", "qemu-server", "100.conf")).read()
    assert "[before]" in text and text.startswith("#web server\n")
    # lock: refused without skiplock, skiplock refused for tokens
    conf = pf.load_vm_config(os.path.join(T, "etc", "pve"), "pve1", 100)
    conf.main["lock"] = "backup"
    pf.write_vm_config(pf.conf_path(os.path.join(T, "etc", "pve"), "pve1", 100), conf)
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config", {"name": "y"})
    assert st == 500 and d["message"] == "VM is locked (backup)\n"
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config", {"name": "y", "skiplock": 1})
    assert st == 400 and "skiplock" in d["errors"]
    # the VM flock held by someone else
    del conf.main["lock"]
    pf.write_vm_config(pf.conf_path(os.path.join(T, "etc", "pve"), "pve1", 100), conf)
    sim.hold_lock(100)
    sim.lock_timeout = 0.1
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/100/config", {"name": "y"})
    assert st == 500 and "can't lock file '/var/lock/qemu-server/lock-100.conf'" in \
        d["message"]
    sim.release_lock(100)
    assert sim.violations == []


# ------------------------------------------------------------------------ tasks, power


def test_start_stop_tasks_and_failure(tree):
    sim, cl, T, _ = tree
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/100/status/start")
    upid = d["data"]
    assert upid.startswith("UPID:pve1:") and ":qmstart:100:root@pam!pveontap:" in upid
    assert cl.wait(upid)["exitstatus"] == "OK"
    assert sim.vm(100)["status"] == "running"
    st, _, d = cl.req("GET", "/nodes/pve1/qemu/100/status/current")
    assert d["data"]["status"] == "running" and d["data"]["qmpstatus"] == "running"
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/100/status/start")
    assert cl.wait(d["data"])["exitstatus"] == "VM 100 already running"
    sim.task_fail("qmshutdown", "VM quit/powerdown failed - got timeout")
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/100/status/shutdown")
    t = cl.wait(d["data"])
    assert t["exitstatus"] == "VM quit/powerdown failed - got timeout"
    assert sim.vm(100)["status"] == "running"
    st, _, d = cl.req("GET", "/nodes/pve1/tasks/%s/log" % urllib.parse.quote(d["data"]))
    assert d["data"][-1]["t"] == "TASK ERROR: VM quit/powerdown failed - got timeout"
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/100/status/stop")
    assert cl.wait(d["data"])["exitstatus"] == "OK" and sim.vm(100)["status"] == "stopped"
    assert not os.path.exists(pf.runtime_state_path(T, 100))


def test_hibernate_and_resume(tree):
    sim, cl, T, vol = tree
    sim.add_vm(101, "name: h\n", status="running")
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/101/status/suspend", {"todisk": 1})
    assert ":qmsuspend:101:" in d["data"] and cl.wait(d["data"])["exitstatus"] == "OK"
    v = sim.vm(101)
    assert v["status"] == "stopped" and v["lock"] == "suspended" and v["suspended"]
    state = v["config"]["vmstate"]
    assert state.startswith("ONTAP01:101/vm-101-state-suspend-")
    assert os.path.exists(os.path.join(vol, "images", "101", state.split("/")[1]))
    st, _, d = cl.req("PUT", "/nodes/pve1/qemu/101/config", {"name": "z"})
    assert st == 500 and "locked (suspended)" in d["message"]
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/101/status/resume")
    assert cl.wait(d["data"])["exitstatus"] == "OK"
    v = sim.vm(101)
    assert v["status"] == "running" and v["lock"] is None and "vmstate" not in v["config"]
    # pause / resume
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/101/status/suspend")
    assert ":qmpause:" in d["data"] and cl.wait(d["data"])["exitstatus"] == "OK"
    assert sim.vm(101)["paused"]


def test_hookscript_runs_on_start_and_pre_start_failure_aborts(tree):
    sim, cl, T, _ = tree
    snip = os.path.join(T, "var", "lib", "vz", "snippets", "hook")
    log = os.path.join(T, "hook.log")
    with open(snip, "w") as f:
        f.write("#!/bin/sh\necho \"$1 $2 lock=$(test -e %s/lock-$1 && echo held)\" >> %s\n"
                "echo hook says $2\n[ -e %s/fail ] && exit 3\nexit 0\n" % (T, log, T))
    os.chmod(snip, 0o755)
    pf.update_vm_config(T, os.path.join(T, "etc", "pve"), "pve1", 100,
                        {"hookscript": "local:snippets/hook"})
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/100/status/start")
    assert cl.wait(d["data"])["exitstatus"] == "OK"
    assert open(log).read().split("\n")[:2] == ["100 pre-start lock=held",
                                               "100 post-start lock=held"]
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/100/status/stop")
    cl.wait(d["data"])
    open(os.path.join(T, "fail"), "w").close()
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/100/status/start")
    t = cl.wait(d["data"])
    assert t["exitstatus"] == ("hookscript error for 100 on pre-start: command '%s 100 "
                               "pre-start' failed: exit code 3" % snip)
    assert sim.vm(100)["status"] == "stopped"


def test_fsfreeze(tree):
    sim, cl, T, _ = tree
    base = "/nodes/pve1/qemu/100/agent/"
    st, _, d = cl.req("POST", base + "fsfreeze-freeze")
    assert st == 500 and "not running" in d["message"]
    sim.add_vm(102, "name: a\n", status="running", agent=True)
    sim.add_vm(103, "agent: 1\nname: b\n", status="running", agent=False)
    sim.add_vm(104, "name: c\n", status="running", agent=False)
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/102/agent/fsfreeze-freeze")
    assert st == 200 and d["data"]["result"] == 2 and sim.vm(102)["frozen"]
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/102/agent/fsfreeze-status")
    assert d["data"]["result"] == "frozen"
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/102/agent/fsfreeze-thaw")
    assert d["data"]["result"] == 2 and not sim.vm(102)["frozen"]
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/103/agent/fsfreeze-freeze")
    assert st == 500 and "agent is not running" in d["message"]
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/104/agent/fsfreeze-freeze")
    assert st == 500 and d["message"] == "No QEMU guest agent configured\n"
    # a freeze that goes through in the guest while the answer never arrives
    sim.add_fault("POST", r"fsfreeze-freeze$", "hang", seconds=0.3)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        cl.req("POST", "/nodes/pve1/qemu/102/agent/fsfreeze-freeze")
    cl.conn = None
    assert sim.vm(102)["frozen"]
    sim.add_fault("POST", r"fsfreeze-thaw$", "latency", seconds=0.2, when="after")
    t0 = time.monotonic()
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/102/agent/fsfreeze-thaw")
    assert st == 200 and time.monotonic() - t0 >= 0.2 and not sim.vm(102)["frozen"]


def test_faults_status_drop_truncate_malformed(tree):
    sim, cl, T, _ = tree
    sim.add_fault("GET", r"^/version$", "status", status=503, message="busy", after=1)
    assert cl.req("GET", "/version")[0] == 200
    st, reason, d = cl.req("GET", "/version")
    assert st == 503 and reason == "busy"
    assert cl.req("GET", "/version")[0] == 200
    sim.add_fault("GET", r"/version", "drop")
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        cl.req("GET", "/version")
    cl.conn = None
    sim.add_fault("GET", r"/version", "truncate")
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        cl.req("GET", "/version")
    cl.conn = None
    sim.add_fault("GET", r"/version", "malformed")
    with pytest.raises(ValueError):
        cl.req("GET", "/version")
    cl.conn = None


# ------------------------------------------------------------------------ storage


def test_storage_create_mounts_from_exports(tree):
    sim, cl, T, vol = tree
    clone = os.path.join(T, "sim", "ontap", "vol", "clone1")
    os.makedirs(clone)
    exports = json.load(open(sim.exports_file))
    exports["/clone1"] = clone
    json.dump(exports, open(sim.exports_file, "w"))
    st, _, d = cl.req("POST", "/storage", {"storage": "ONTAP01-CLONE", "type": "nfs",
                                           "server": "127.0.0.1", "export": "/clone1",
                                           "content": "images",
                                           "options": "vers=4.1,nconnect=4"})
    assert st == 200 and d["data"] == {"storage": "ONTAP01-CLONE", "type": "nfs"}
    mnt = os.path.join(T, "mnt", "pve", "ONTAP01-CLONE")
    assert os.path.islink(mnt) and os.path.realpath(mnt) == os.path.realpath(clone)
    cfg = open(os.path.join(T, "etc", "pve", "storage.cfg")).read()
    assert "nfs: ONTAP01-CLONE\n\texport /clone1\n" in cfg
    assert "\tpath %s\n" % mnt in cfg
    st, _, d = cl.req("GET", "/storage/ONTAP01-CLONE")
    assert d["data"]["export"] == "/clone1" and d["data"]["shared"] == 1
    # unknown export: PVE's mount error and no section left behind
    st, _, d = cl.req("POST", "/storage", {"storage": "BAD1", "type": "nfs",
                                           "server": "127.0.0.1", "export": "/nope"})
    assert st == 500 and d["message"].startswith("mount error: mount.nfs: mounting "
                                                 "127.0.0.1:/nope failed")
    assert "BAD1" not in sim.storages()
    # fixed keys cannot change; other keys can
    st, _, d = cl.req("PUT", "/storage/ONTAP01-CLONE", {"options": "vers=4.2"})
    assert st == 200 and sim.storages()["ONTAP01-CLONE"]["options"] == "vers=4.2"
    st, _, d = cl.req("DELETE", "/storage/ONTAP01-CLONE")
    assert st == 200 and "ONTAP01-CLONE" not in sim.storages() and os.path.islink(mnt)
    st, _, d = cl.req("GET", "/storage")
    assert sorted(s["storage"] for s in d["data"]) == ["ONTAP01", "local"]
    assert sim.violations == []


def test_content_listing(tree):
    sim, cl, T, vol = tree
    d100 = os.path.join(vol, "images", "100")
    for name, data in [("vm-100-disk-0-snap-daily-20261122T101500Z.raw", b"x" * 512),
                       ("snap-foo.qcow2", b"QFI\xfb" + b"\0" * 60),
                       ("bad name.raw", b"x"), ("notes.txt", b"x"),
                       ("vm-100-disk-1.qcow2", b"QFI\xfb" + b"\0" * 20 +
                        (1 << 30).to_bytes(8, "big") + b"\0" * 32)]:
        with open(os.path.join(d100, name), "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(vol, "images", "200"))
    open(os.path.join(vol, "images", "200", "vm-200-disk-0.raw"), "wb").write(b"y" * 10)
    st, _, d = cl.req("GET", "/nodes/pve1/storage/ONTAP01/content",
                      {"content": "images", "vmid": 100})
    got = {e["volid"]: (e["format"], e["size"], e["vmid"]) for e in d["data"]}
    assert got == {
        "ONTAP01:100/vm-100-disk-0-snap-daily-20261122T101500Z.raw": ("raw", 512, 100),
        "ONTAP01:100/vm-100-disk-0.raw": ("raw", 1 << 20, 100),
        "ONTAP01:100/vm-100-disk-1.qcow2": ("qcow2", 1 << 30, 100)}
    st, _, d = cl.req("GET", "/nodes/pve1/storage/ONTAP01/content")
    assert "ONTAP01:200/vm-200-disk-0.raw" in {e["volid"] for e in d["data"]}
    st, _, d = cl.req("GET", "/nodes/pve1/storage/ONTAP01/status")
    assert d["data"]["active"] == 1 and d["data"]["type"] == "nfs" and d["data"]["total"] > 0
    st, _, d = cl.req("GET", "/nodes/pve1/storage/NOPE1/content")
    assert st == 500 and d["message"] == "storage 'NOPE1' does not exist\n"
    st, _, d = cl.req("GET", "/nodes/pve2/storage/ONTAP01/content")
    assert st == 500 and "hostname lookup 'pve2' failed" in d["message"]
    st, _, d = cl.req("GET", "/cluster/resources", {"type": "storage"})
    assert {e["storage"] for e in d["data"]} == {"local", "ONTAP01"}
    st, _, d = cl.req("GET", "/cluster/resources", {"type": "vm"})
    assert d["data"][0]["id"] == "qemu/100" and d["data"][0]["maxdisk"] == 1 << 20
    st, _, d = cl.req("GET", "/nodes")
    assert len(d["data"][0]["ssl_fingerprint"]) == 95
    assert sim.violations == []


def test_keepalive_and_threads(tree):
    sim, cl, T, _ = tree
    for _ in range(5):
        assert cl.req("GET", "/version")[0] == 200
    conn = cl.conn
    assert conn is not None and cl.req("GET", "/nodes/pve1/qemu")[0] == 200
    assert cl.conn is conn
    import threading
    errors = []

    def worker():
        c = Client(sim, ctx=cl.ctx)
        c.token = TOKEN
        for _ in range(10):
            if c.req("GET", "/nodes/pve1/qemu/100/status/current")[0] != 200:
                errors.append(1)

    ts = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert errors == []


def test_migrate_refuses_raw_path_without_shared(tree):
    """QemuMigrate.pm $test_volid: a drive path starting with '/' needs shared=1."""
    sim, cl, T, _ = tree
    os.makedirs(os.path.join(T, "etc", "pve", "nodes", "pve2"))
    dev = os.path.join(T, "dev", "disk", "by-id", "nvme-uuid.1b2c")
    os.makedirs(os.path.dirname(dev))
    with open(dev, "wb") as f:
        f.truncate(1 << 20)
    sim.add_vm(102, "name: n\nscsi0: ONTAP01:100/vm-100-disk-0.raw,size=1M\n"
                    "scsi1: %s,size=1M\n" % dev)
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/102/migrate", {"target": "pve2"})
    assert st == 200, d
    t = cl.wait(d["data"])
    assert t["exitstatus"] == "can't migrate VM - check log"
    st, _, log = cl.req("GET", "/nodes/pve1/tasks/%s/log" % urllib.parse.quote(d["data"]))
    assert "can't migrate local disk '%s': local file/device" % dev in \
        [l["t"] for l in log["data"]]
    assert os.path.isfile(os.path.join(T, "etc", "pve", "nodes", "pve1", "qemu-server",
                                       "102.conf"))
    # with shared=1 it migrates: the config moves to the target node
    sim.add_vm(103, "name: n\nscsi1: %s,shared=1,size=1M\n" % dev)
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/103/migrate", {"target": "pve2"})
    assert cl.wait(d["data"])["exitstatus"] == "OK"
    assert os.path.isfile(os.path.join(T, "etc", "pve", "nodes", "pve2", "qemu-server",
                                       "103.conf"))
    assert not os.path.exists(os.path.join(T, "etc", "pve", "nodes", "pve1", "qemu-server",
                                           "103.conf"))
    # a running VM needs online=1; the local node and unknown nodes are refused
    sim.add_vm(104, "name: n\n", status="running")
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/104/migrate", {"target": "pve2"})
    assert st == 500 and "without --online" in d["message"]
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/104/migrate", {"target": "pve1"})
    assert st == 400 and d["errors"]["target"].strip() == "target is local node."
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/104/migrate", {"target": "pve9"})
    assert st == 500 and d["message"].strip() == "no such cluster node 'pve9'"
    assert sim.violations == []


def test_storage_for_other_node_is_not_mounted_and_blocks_migration(tree):
    """Config.pm create activates only a storage enabled on this node; a volume on a storage
    whose `nodes` lacks the target cannot migrate (target_storage_check_available)."""
    sim, cl, T, vol = tree
    os.makedirs(os.path.join(T, "etc", "pve", "nodes", "pve2"))
    clone = os.path.join(T, "sim", "ontap", "vol", "clone2")
    os.makedirs(os.path.join(clone, "images", "105"))
    with open(os.path.join(clone, "images", "105", "vm-105-disk-0.raw"), "wb") as f:
        f.write(b"c" * 4096)
    exports = json.load(open(sim.exports_file))
    exports["/clone2"] = clone
    json.dump(exports, open(sim.exports_file, "w"))
    st, _, d = cl.req("POST", "/storage", {"storage": "OTHER", "type": "nfs",
                                           "server": "127.0.0.1", "export": "/clone2",
                                           "nodes": "pve2"})
    assert st == 200, d
    assert sim.storages()["OTHER"]["nodes"] == "pve2"
    assert not os.path.lexists(os.path.join(T, "mnt", "pve", "OTHER"))
    st, _, d = cl.req("POST", "/storage", {"storage": "MINE", "type": "nfs",
                                           "server": "127.0.0.1", "export": "/clone2",
                                           "nodes": "pve1"})
    assert st == 200 and os.path.islink(os.path.join(T, "mnt", "pve", "MINE"))
    sim.add_vm(105, "name: c\nunused0: MINE:105/vm-105-disk-0.raw\n")
    st, _, d = cl.req("POST", "/nodes/pve1/qemu/105/migrate", {"target": "pve2"})
    assert cl.wait(d["data"])["exitstatus"] == "can't migrate VM - check log"
    st, _, log = cl.req("GET", "/nodes/pve1/tasks/%s/log" % urllib.parse.quote(d["data"]))
    assert "can't migrate local disk 'MINE:105/vm-105-disk-0.raw': storage 'MINE' is not " \
           "available on node 'pve2'" in [l["t"] for l in log["data"]]
    assert sim.violations == []
