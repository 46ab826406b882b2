"""Tests of the ONTAP simulator itself (tests/sim/ontap_*.py).

The simulator is the yardstick of the C client's integration tests, so its own behaviour is
pinned here: auth, fields and expensive fields, filters, paging, jobs, file clone, snapshots and
restores, FlexClones, NVMe objects, consistency groups, spec validation and every fault kind.
Run: /usr/bin/python3 -m pytest -q tests/sim/test_ontap_sim.py
"""

import base64
import http.client
import json
import os
import ssl
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import certs  # noqa: E402
from ontap_sim import OntapSim  # noqa: E402

PW = "s3cr3t-ontap"


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    return certs.make_certs(tmp_path_factory.mktemp("certs"))


class Client:
    """A keep-alive HTTPS client trusting the test CA."""

    def __init__(self, sim, ca, user="admin", password=PW):
        self.sim = sim
        self.ctx = ssl.create_default_context(cafile=ca)
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.conn = None

    def _conn(self):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.sim.port,
                                                    context=self.ctx, timeout=10)
        return self.conn

    def raw(self, method, path, body=None, auth=True):
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = self.auth
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c = self._conn()
        try:
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        except Exception:
            self.close()
            raise

    def call(self, method, path, body=None, auth=True):
        status, data = self.raw(method, path, body, auth)
        return status, (json.loads(data) if data else None)

    def get(self, path):
        return self.call("GET", path)

    def wait_job(self, href, timeout=10):
        deadline = time.time() + timeout
        while True:
            s, j = self.get(href + "?fields=state,message,code,error")
            assert s == 200, j
            if j["state"] in ("success", "failure"):
                return j
            assert time.time() < deadline, j
            time.sleep(0.05)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@pytest.fixture
def sim(tmp_path, tls):
    s = OntapSim(str(tmp_path / "ontap"), tls["cert"], tls["key"], password=PW,
                 exports_file=str(tmp_path / "exports.json"))
    s.add_svm("svm1")
    s.add_aggregate("aggr1")
    s.add_volume("svm1", "vol1", nas_path="/vol1")
    s.start()
    yield s
    s.stop()


@pytest.fixture
def cli(sim, tls):
    c = Client(sim, tls["ca"])
    yield c
    c.close()


def vol_uuid(cli, name="vol1"):
    s, b = cli.get("/api/storage/volumes?svm.name=svm1&name=%s" % name)
    assert s == 200 and b["num_records"] == 1, b
    return b["records"][0]["uuid"]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ------------------------------------------------------------------------------- basics

def test_auth(sim, cli, tls):
    s, b = cli.call("GET", "/api/cluster", auth=False)
    assert s == 401 and b["error"]["code"] == "6"
    bad = Client(sim, tls["ca"], password="wrong")
    assert bad.call("GET", "/api/cluster")[0] == 401
    bad.close()
    s, b = cli.get("/api/cluster?fields=version,name,uuid")
    assert s == 200
    assert (b["version"]["generation"], b["version"]["major"], b["version"]["minor"]) == (9, 16, 1)
    assert "Authorization" not in sim.requests[-1]["headers"]


def test_keep_alive(sim, cli):
    for _ in range(3):
        assert cli.get("/api/svm/svms")[0] == 200
    sock = cli.conn.sock
    assert cli.get("/api/cluster")[0] == 200
    assert cli.conn.sock is sock  # the same connection served every request


def test_fields_and_expensive_fields(sim, cli):
    s, b = cli.get("/api/storage/volumes")
    assert set(b["records"][0]) == {"uuid", "name", "_links"}
    s, b = cli.get("/api/storage/volumes?fields=*")
    rec = b["records"][0]
    assert "state" in rec and "space" in rec
    assert "path" not in rec["nas"] and "snapshot" not in rec["space"] and "qos" not in rec
    assert "guarantee" not in rec and "autosize" not in rec and "is_svm_root" not in rec
    s, b = cli.get("/api/storage/volumes?fields=nas.path,space.snapshot.reserve_percent")
    rec = b["records"][0]
    assert rec["nas"] == {"path": "/vol1"}
    assert rec["space"] == {"snapshot": {"reserve_percent": 5}}
    s, b = cli.get("/api/storage/volumes?fields=**")
    rec = b["records"][0]
    assert rec["nas"]["path"] == "/vol1" and "autosize" in rec and "guarantee" in rec
    s, b = cli.get("/api/storage/volumes?fields=space,!space.available")
    assert "available" not in b["records"][0]["space"] and "size" in b["records"][0]["space"]
    # an instance GET defaults to * (standard fields only)
    s, b = cli.get("/api/storage/volumes/%s" % vol_uuid(cli))
    assert s == 200 and "state" in b and "path" not in b.get("nas", {})


def test_filters(sim, cli):
    sim.add_volume("svm1", "vol2", size=1 << 30)
    sim.add_volume("svm1", "other", nas_path="/other")
    def names(q):
        return sorted(r["name"] for r in cli.get("/api/storage/volumes?" + q)[1]["records"])
    assert names("name=vol*") == ["vol1", "vol2"]
    assert names("name=!vol*") == ["other"]
    assert names("name=vol1|other") == ["other", "vol1"]
    assert names("nas.path=/VOL1") == ["vol1"]          # junctions compare case-insensitively
    assert names("size=<2000000000") == ["vol2"]
    assert names("svm.name=nosuch") == []
    assert names("name=vol1&svm.name=svm1") == ["vol1"]


def test_pagination_page_size_one(sim, cli):
    sim.add_volume("svm1", "vol2")
    sim.add_volume("svm1", "vol3")
    sim.page_size = 1
    href, seen, pages = "/api/storage/volumes?svm.name=svm1&fields=uuid,name", [], 0
    while href:
        s, b = cli.get(href)
        assert s == 200 and b["num_records"] == len(b["records"]) == 1
        seen += [r["name"] for r in b["records"]]
        href = b["_links"].get("next", {}).get("href")
        pages += 1
    assert seen == ["vol1", "vol2", "vol3"] and pages == 3
    sim.page_size = None
    s, b = cli.get("/api/storage/volumes?max_records=2")
    assert b["num_records"] == 2 and "next" in b["_links"]
    s, b = cli.get("/api/storage/volumes?return_records=false")
    assert b["num_records"] == 3 and "records" not in b
    assert sim.violations == []


def test_spec_violation(sim, cli):
    s, b = cli.get("/api/storage/volumes?bogus_param=1")
    assert s == 400 and b["error"]["code"] == "262179"
    s, b = cli.call("POST", "/api/storage/volumes", {"name": "x", "no_such_field": 1})
    assert s == 400 and b["error"]["code"] == "262179"
    assert len(sim.violations) == 2
    assert sim.violations[0]["path"] == "/api/storage/volumes"
    sim.violations.clear()
    s, b = cli.call("POST", "/api/storage/volumes?return_timeout=121", {"name": "x"})
    assert s == 400 and b["error"]["code"] == "262197"


# ------------------------------------------------------------------------------- jobs

def test_async_job_transitions(sim, cli):
    vu = vol_uuid(cli)
    sim.job_seconds = 0.6
    s, b = cli.call("POST", "/api/storage/volumes/%s/snapshots" % vu, {"name": "s1"})
    assert s == 202 and set(b) == {"job"}
    href = b["job"]["_links"]["self"]["href"]
    states = []
    while True:
        s, j = cli.get(href + "?fields=state,message,code,error")
        assert s == 200
        states.append(j["state"])
        if j["state"] == "success":
            break
        assert not [x for x in sim.snapshots("vol1")], "effect before the job ended"
        time.sleep(0.05)
    assert states[0] == "queued" and "running" in states
    assert j["code"] == 0 and [x["name"] for x in sim.snapshots("vol1")] == ["s1"]
    # return_timeout covering the job's duration: the answer waits and is 201
    s, b = cli.call("POST", "/api/storage/volumes/%s/snapshots?return_timeout=5" % vu,
                    {"name": "s2"})
    assert s == 201 and "job" in b
    # shorter than the job: 202 at once
    t0 = time.time()
    s, b = cli.call("POST", "/api/storage/volumes/%s/snapshots?return_timeout=0" % vu,
                    {"name": "s3"})
    assert s == 202 and time.time() - t0 < 0.5


def test_job_failure_and_expiry(sim, cli):
    vu = vol_uuid(cli)
    sim.add_snapshot("vol1", "dup")
    # a semantic failure: 409 when answered inline, a failed job otherwise
    s, b = cli.call("POST", "/api/storage/volumes/%s/snapshots?return_timeout=30" % vu,
                    {"name": "dup"})
    assert s == 409 and b["error"]["code"] == "525059"
    s, b = cli.call("POST", "/api/storage/volumes/%s/snapshots" % vu, {"name": "dup"})
    assert s == 202
    j = cli.wait_job(b["job"]["_links"]["self"]["href"])
    assert j["state"] == "failure" and j["code"] == 525059 and j["error"]["code"] == "525059"
    sim.job_retention = 0.1
    time.sleep(0.2)
    assert cli.get(b["job"]["_links"]["self"]["href"])[0] == 404


# ------------------------------------------------------------------------------- NAS

def test_file_clone_bytes(sim, cli):
    vu = vol_uuid(cli)
    vdir = sim.volume("vol1")["directory"]
    data = os.urandom(70000)
    write(os.path.join(vdir, "images/100/vm-100-disk-0.raw"), data)
    sim.add_snapshot("vol1", "pveontap_daily-1")
    write(os.path.join(vdir, "images/100/vm-100-disk-0.raw"), b"changed")
    body = {"volume": {"name": "vol1", "uuid": vu},
            "source_path": "./.snapshot/pveontap_daily-1/images/100/vm-100-disk-0.raw",
            "destination_path": "images/100/copy.raw", "overwrite_destination": False}
    s, b = cli.call("POST", "/api/storage/file/clone?return_timeout=30", body)
    assert s == 201, b
    assert read(os.path.join(vdir, "images/100/copy.raw")) == data
    # existing destination: refused inline, or as a failed job
    s, b = cli.call("POST", "/api/storage/file/clone?return_timeout=30", body)
    assert s == 400 and b["error"]["code"] == "13565952"
    s, b = cli.call("POST", "/api/storage/file/clone", body)
    j = cli.wait_job(b["job"]["_links"]["self"]["href"])
    assert j["state"] == "failure" and j["error"]["code"] == "13565952"
    # overwrite, with the source given without "./"
    body.update(source_path=".snapshot/pveontap_daily-1/images/100/vm-100-disk-0.raw",
                destination_path="images/100/vm-100-disk-0.raw", overwrite_destination=True)
    assert cli.call("POST", "/api/storage/file/clone?return_timeout=30", body)[0] == 201
    assert read(os.path.join(vdir, "images/100/vm-100-disk-0.raw")) == data
    body.update(source_path="images/nope.raw")
    s, b = cli.call("POST", "/api/storage/file/clone?return_timeout=30", body)
    assert b["error"]["code"] == "917864"
    body.update(volume={"name": "other", "uuid": vu})
    s, b = cli.call("POST", "/api/storage/file/clone?return_timeout=30", body)
    assert b["error"]["code"] == "918236"


def test_snapshot_restore_rewinds_tree(sim, cli):
    vu = vol_uuid(cli)
    vdir = sim.volume("vol1")["directory"]
    write(os.path.join(vdir, "a.txt"), b"one")
    s, b = cli.call("POST", "/api/storage/volumes/%s/snapshots?return_timeout=30" % vu,
                    {"name": "s1", "comment": "c1", "snapmirror_label": "daily"})
    assert s == 201
    assert read(os.path.join(vdir, ".snapshot/s1/a.txt")) == b"one"
    write(os.path.join(vdir, "a.txt"), b"two")
    write(os.path.join(vdir, "b.txt"), b"new")
    sim.add_snapshot("vol1", "s2")
    s, b = cli.get("/api/storage/volumes/%s/snapshots?fields=uuid,name,create_time,comment,"
                   "snapmirror_label" % vu)
    recs = b["records"]
    assert [r["name"] for r in recs] == ["s1", "s2"]
    assert recs[0]["comment"] == "c1" and recs[0]["snapmirror_label"] == "daily"
    assert recs[0]["create_time"] < recs[1]["create_time"]
    assert recs[0]["create_time"][-6] in "+-"  # ISO-8601 with an offset
    s, b = cli.call("PATCH", "/api/storage/volumes/%s?restore_to.snapshot.name=s1"
                    "&return_timeout=30" % vu, {})
    assert s == 200, b
    assert read(os.path.join(vdir, "a.txt")) == b"one"
    assert not os.path.exists(os.path.join(vdir, "b.txt"))
    assert [x["name"] for x in sim.snapshots("vol1")] == ["s1"]  # newer ones are gone
    # restore by uuid; the body form (restore_to in the volume model) is not in the spec
    # subset, so it is a violation like any undeclared field
    write(os.path.join(vdir, "a.txt"), b"three")
    assert cli.call("PATCH", "/api/storage/volumes/%s?restore_to.snapshot.uuid=%s"
                    "&return_timeout=30" % (vu, recs[0]["uuid"]), {})[0] == 200
    assert read(os.path.join(vdir, "a.txt")) == b"one"
    s, b = cli.call("PATCH", "/api/storage/volumes/%s" % vu,
                    {"restore_to": {"snapshot": {"name": "s1"}}})
    assert s == 400 and b["error"]["code"] == "262179"
    sim.violations.clear()
    sid = recs[0]["uuid"]
    assert cli.call("DELETE", "/api/storage/volumes/%s/snapshots/%s?return_timeout=30"
                    % (vu, sid))[0] == 200
    assert not os.path.exists(os.path.join(vdir, ".snapshot/s1"))
    assert sim.violations == []


def test_flexclone_directory_and_delete_rules(sim, cli, tmp_path):
    vu = vol_uuid(cli)
    vdir = sim.volume("vol1")["directory"]
    write(os.path.join(vdir, "images/100/d.raw"), b"snapdata")
    sim.add_snapshot("vol1", "pveontap_x-1")
    write(os.path.join(vdir, "images/100/d.raw"), b"later")
    s, b = cli.call("POST", "/api/storage/volumes?return_timeout=60", {
        "name": "vol1_clone_1", "svm": {"name": "svm1"},
        "clone": {"is_flexclone": True, "parent_volume": {"name": "vol1"},
                  "parent_snapshot": {"name": "pveontap_x-1"}},
        "nas": {"path": "/vol1_clone_1"}})
    assert s == 201, b
    info = sim.volume("vol1_clone_1")
    assert info["is_flexclone"] and info["parent_snapshot"] == "pveontap_x-1"
    assert info["directory"] == os.path.join(sim.root, "vol", "vol1_clone_1")
    assert read(os.path.join(info["directory"], "images/100/d.raw")) == b"snapdata"
    with open(tmp_path / "exports.json") as f:
        assert json.load(f)["/vol1_clone_1"] == info["directory"]
    cu = vol_uuid(cli, "vol1_clone_1")
    s, b = cli.get("/api/storage/volumes/%s?fields=clone.parent_volume.name,"
                   "clone.parent_snapshot.name,clone.is_flexclone" % cu)
    assert b["clone"]["parent_volume"]["name"] == "vol1"
    # the parent's snapshot and the parent itself are pinned; mounted volumes stay
    snap = sim.snapshots("vol1")[0]
    s, b = cli.call("DELETE", "/api/storage/volumes/%s/snapshots/%s?return_timeout=30"
                    % (vu, snap["uuid"]))
    assert b["error"]["code"] == "1638543"
    s, b = cli.call("DELETE", "/api/storage/volumes/%s?return_timeout=30" % cu)
    assert b["error"]["code"] == "917536"
    assert cli.call("PATCH", "/api/storage/volumes/%s?return_timeout=30" % vu,
                    {"nas": {"path": ""}})[0] == 200
    s, b = cli.call("DELETE", "/api/storage/volumes/%s?return_timeout=30" % vu)
    assert b["error"]["code"] == "524615"
    assert cli.call("PATCH", "/api/storage/volumes/%s?return_timeout=30" % cu,
                    {"nas": {"path": ""}})[0] == 200
    with open(tmp_path / "exports.json") as f:
        assert json.load(f) == {}
    assert cli.call("DELETE", "/api/storage/volumes/%s?force=true&return_timeout=30"
                    % cu)[0] == 200
    assert not os.path.exists(info["directory"])
    assert sim.snapshots("vol1")[0]["owners"] == []


def _clone_of_vol1(sim, cli, name):
    vdir = sim.volume("vol1")["directory"]
    write(os.path.join(vdir, "images/100/d.raw"), b"snapdata")
    if not sim.snapshots("vol1"):
        sim.add_snapshot("vol1", "pveontap_x-1")
    s, b = cli.call("POST", "/api/storage/volumes?return_timeout=60", {
        "name": name, "svm": {"name": "svm1"},
        "clone": {"is_flexclone": True, "parent_volume": {"name": "vol1"},
                  "parent_snapshot": {"name": "pveontap_x-1"}}})
    assert s == 201, b
    return vol_uuid(cli, name)


def test_delete_without_force_parks_in_recovery_queue(sim, cli):
    cu = _clone_of_vol1(sim, cli, "vol1_clone_1")
    cdir = sim.volume("vol1_clone_1")["directory"]
    assert cli.call("DELETE", "/api/storage/volumes/%s?return_timeout=30" % cu)[0] == 200
    # gone from the REST view, renamed <name>_<dsid> in the queue, its data still there
    s, b = cli.get("/api/storage/volumes?svm.name=svm1&name=vol1_clone_1")
    assert b["num_records"] == 0
    assert sim.recovery_queue_names() == ["vol1_clone_1_1025"]
    assert sim.state_summary()["recovery_queue"] == ["vol1_clone_1_1025"]
    assert os.path.exists(os.path.join(cdir, "images/100/d.raw"))
    # the parent's snapshot stays busy, and the parent cannot go either
    vu = vol_uuid(cli)
    snap = sim.snapshots("vol1")[0]
    assert snap["owners"] == ["vol1_clone_1_1025"]
    s, b = cli.call("DELETE", "/api/storage/volumes/%s/snapshots/%s?return_timeout=30"
                    % (vu, snap["uuid"]))
    assert b["error"]["code"] == "1638543"
    # the name is free again
    cu2 = _clone_of_vol1(sim, cli, "vol1_clone_1")
    assert cli.call("DELETE", "/api/storage/volumes/%s?force=true&return_timeout=30"
                    % cu2)[0] == 200
    assert sim.recovery_queue_names() == ["vol1_clone_1_1025"]


def test_versions(sim, cli):
    sim.set_version("9.11.1")
    s, b = cli.get("/api/cluster?fields=version")
    assert b["version"] == {"full": b["version"]["full"], "generation": 9, "major": 11,
                            "minor": 1} and "9.11.1" in b["version"]["full"]
    cu = _clone_of_vol1(sim, cli, "vol1_clone_2")
    # force is unknown before 9.12: refused as any unknown argument, nothing deleted
    s, b = cli.call("DELETE", "/api/storage/volumes/%s?force=true" % cu)
    assert s == 400 and b["error"]["code"] == "262179"
    assert "force" in b["error"]["message"]
    assert len(sim.violations) == 1
    sim.violations.clear()
    assert sim.volume("vol1_clone_2")
    sim.set_version((9, 12, 0))
    assert cli.call("DELETE", "/api/storage/volumes/%s?force=true&return_timeout=30"
                    % cu)[0] == 200
    assert sim.recovery_queue_names() == [] and sim.violations == []
    # CG membership changes by PATCH: 9.12.1
    for v in ("cgv_a", "cgv_b"):
        sim.add_volume("svm1", v)
    s, b = cli.call("POST", "/api/application/consistency-groups?return_timeout=60", {
        "svm": {"name": "svm1"}, "name": "cg1",
        "volumes": [{"name": "cgv_a", "provisioning_options": {"action": "add"}}]})
    assert s == 201, b
    cg = cli.get("/api/application/consistency-groups?name=cg1")[1]["records"][0]["uuid"]
    url = "/api/application/consistency-groups/%s?return_timeout=30" % cg
    add = {"volumes": [{"name": "cgv_b", "provisioning_options": {"action": "add"}}]}
    rm = {"volumes": [{"name": "cgv_a", "provisioning_options": {"action": "remove"}}]}
    s, b = cli.call("PATCH", url, add)
    assert s == 400 and b["error"]["code"] == "53411856"
    s, b = cli.call("PATCH", url, rm)
    assert s == 400 and b["error"]["code"] == "262285"
    assert sim.state_summary()["consistency_groups"]["cg1"]["volumes"] == ["cgv_a"]
    sim.set_version("9.12.1")
    assert cli.call("PATCH", url, add)[0] == 200
    assert sim.state_summary()["consistency_groups"]["cg1"]["volumes"] == ["cgv_a", "cgv_b"]


def test_file_clone_job_under_201(sim, cli):
    vu = vol_uuid(cli)
    vdir = sim.volume("vol1")["directory"]
    write(os.path.join(vdir, "a.raw"), b"abc")
    sim.file_clone_status = 201
    sim.job_seconds = 1
    s, b = cli.call("POST", "/api/storage/file/clone?return_timeout=30", {
        "volume": {"name": "vol1", "uuid": vu}, "source_path": "a.raw",
        "destination_path": "b.raw", "overwrite_destination": False})
    assert s == 201 and b["job"]["uuid"]
    # answered at once: the clone is made when the job ends
    assert not os.path.exists(os.path.join(vdir, "b.raw"))
    j = cli.wait_job(b["job"]["_links"]["self"]["href"])
    assert j["state"] == "success" and read(os.path.join(vdir, "b.raw")) == b"abc"


def test_volume_create_rules(sim, cli):
    base = {"svm": {"name": "svm1"}, "aggregates": [{"name": "aggr1"}]}
    s, b = cli.call("POST", "/api/storage/volumes", dict(base, name="bad-name"))
    assert s == 400 and b["error"]["code"] == "917888"
    s, b = cli.call("POST", "/api/storage/volumes?return_timeout=30", dict(base, name="vol1"))
    assert s == 409 and b["error"]["code"] == "917526"
    s, b = cli.call("POST", "/api/storage/volumes?return_timeout=30&return_records=true", dict(
        base, name="pve_vm_100_disk_0", size=10 << 30, guarantee={"type": "none"},
        snapshot_policy={"name": "none"}, space={"snapshot": {"reserve_percent": 0}},
        encryption={"enabled": True}, qos={"policy": {"name": "gold"}},
        tiering={"policy": "auto"}, autosize={"mode": "grow", "maximum": 20 << 30}))
    assert s == 201 and b["records"][0]["name"] == "pve_vm_100_disk_0"
    v = sim.volume("pve_vm_100_disk_0")
    assert (v["guarantee"], v["snapshot_policy"], v["qos_policy"], v["encryption"],
            v["tiering"], v["snapshot_reserve"]) == ("none", "none", "gold", True, "auto", 0)
    uuid = v["uuid"]
    assert cli.call("PATCH", "/api/storage/volumes/%s?return_timeout=30" % uuid,
                    {"size": 20 << 30})[0] == 200
    assert sim.volume("pve_vm_100_disk_0")["size"] == 20 << 30


def test_files_endpoint(sim, cli):
    vu = vol_uuid(cli)
    vdir = sim.volume("vol1")["directory"]
    base = "/api/storage/volumes/%s/files/" % vu
    s, b = cli.call("POST", base + "images%2F100", {"type": "directory", "unix_permissions": 755})
    assert s == 404 and b["error"]["code"] == "6684674"  # parents are not created
    for p in ("images", "images%2F100"):
        assert cli.call("POST", base + p, {"type": "directory", "unix_permissions": 755})[0] == 201
    s, b = cli.call("POST", base + "images", {"type": "directory", "unix_permissions": 755})
    assert b["error"]["code"] == "6488118"
    write(os.path.join(vdir, "images/100/f.raw"), b"12345")
    s, b = cli.get(base + "images%2F100?fields=name,type,size,creation_time")
    assert [r["name"] for r in b["records"]] == [".", "..", "f.raw"]
    assert b["records"][2]["size"] == 5 and b["records"][2]["type"] == "file"
    s, b = cli.get(base + "%2E?fields=name,type")
    assert [r["name"] for r in b["records"]] == [".", "..", "images"]
    s, b = cli.get(base + "images%2F100%2Ff%2Eraw?return_metadata=true&fields=size,type")
    assert b["records"][0]["size"] == 5
    assert cli.call("PATCH", base + "images%2F100%2Ff%2Eraw",
                    {"path": "images/100/g.raw"})[0] == 200
    assert read(os.path.join(vdir, "images/100/g.raw")) == b"12345"
    s, b = cli.call("DELETE", base + "images")
    assert b["error"]["code"] == "131138"
    s, b = cli.call("DELETE", base + "images?recurse=true&return_timeout=30")
    assert s == 200 and not os.path.exists(os.path.join(vdir, "images"))
    s, b = cli.call("DELETE", base + "nope")
    assert s == 404 and b["error"]["code"] == "6684674"
    assert sim.violations == []


# ------------------------------------------------------------------------------- SAN

def test_nvme_namespace_subsystem_map(sim, cli):
    s, b = cli.call("POST", "/api/storage/volumes?return_timeout=30", {
        "name": "pve_vm_100_disk_0", "svm": {"name": "svm1"}, "aggregates": [{"name": "aggr1"}],
        "size": 2 << 30})
    assert s == 201
    s, b = cli.call("POST", "/api/storage/namespaces?return_records=true&return_timeout=30", {
        "svm": {"name": "svm1"}, "name": "/vol/pve_vm_100_disk_0/pve_vm_100_disk_0",
        "os_type": "linux", "space": {"size": 1 << 30, "block_size": 4096}, "comment": "c"})
    assert s == 201, b
    ns = b["records"][0]["uuid"]
    image = [n for n in sim.namespaces_info() if n["uuid"] == ns][0]["image"]
    assert os.path.getsize(image) == 1 << 30 and os.stat(image).st_blocks == 0  # sparse
    s, b = cli.call("POST", "/api/storage/namespaces", {
        "svm": {"name": "svm1"}, "name": "/vol/nosuch/ns", "os_type": "linux",
        "space": {"size": 1 << 20}})
    assert b["error"]["code"] == "917927"
    s, b = cli.call("POST", "/api/protocols/nvme/subsystems?return_records=true", {
        "svm": {"name": "svm1"}, "name": "pve-nvme", "os_type": "linux", "comment": "pve-ontap"})
    assert s == 201 and b["records"][0]["target_nqn"].endswith(":subsystem.pve-nvme")
    ss = b["records"][0]["uuid"]
    s, b = cli.call("POST", "/api/protocols/nvme/subsystems", {
        "svm": {"name": "svm1"}, "name": "pve-nvme", "os_type": "linux"})
    assert s == 409 and b["error"]["code"] == "72090025"
    nqn = "nqn.2014-08.org.nvmexpress:uuid:1234"
    assert cli.call("POST", "/api/protocols/nvme/subsystems/%s/hosts" % ss, {"nqn": nqn})[0] == 201
    s, b = cli.call("POST", "/api/protocols/nvme/subsystems/%s/hosts" % ss, {"nqn": nqn})
    assert b["error"]["code"] == "72089705"
    s, b = cli.get("/api/protocols/nvme/subsystems/%s/hosts?fields=nqn" % ss)
    assert [h["nqn"] for h in b["records"]] == [nqn]
    mapping = {"svm": {"name": "svm1"}, "subsystem": {"uuid": ss}, "namespace": {"uuid": ns}}
    assert cli.call("POST", "/api/protocols/nvme/subsystem-maps", mapping)[0] == 201
    s, b = cli.call("POST", "/api/protocols/nvme/subsystem-maps", mapping)
    assert b["error"]["code"] == "72089790"
    s, b = cli.get("/api/storage/namespaces?svm.name=svm1&name=/vol/pve_*/*&fields=uuid,name,"
                   "status.mapped,subsystem_map.subsystem.name,space.size")
    rec = b["records"][0]
    assert rec["status"]["mapped"] is True
    assert rec["subsystem_map"]["subsystem"]["name"] == "pve-nvme"
    s, b = cli.get("/api/storage/namespaces?fields=*")
    assert "subsystem_map" not in b["records"][0]  # expensive
    s, b = cli.call("DELETE", "/api/storage/namespaces/%s" % ns)
    assert s == 409 and b["error"]["code"] == "72089796"
    s, b = cli.call("PATCH", "/api/storage/namespaces/%s" % ns, {"space": {"size": 1 << 20}})
    assert b["error"]["code"] == "72090038"
    assert cli.call("PATCH", "/api/storage/namespaces/%s" % ns,
                    {"space": {"size": 2 << 30}})[0] == 200
    assert cli.call("DELETE", "/api/protocols/nvme/subsystem-maps/%s/%s" % (ss, ns))[0] == 200
    s, b = cli.call("DELETE", "/api/protocols/nvme/subsystem-maps/%s/%s" % (ss, ns))
    assert s == 404 and b["error"]["code"] == "72090019"
    assert cli.call("DELETE", "/api/storage/namespaces/%s?return_timeout=30" % ns)[0] == 200
    assert not os.path.exists(image)
    assert sim.violations == []


def test_lifs_and_services(sim, cli):
    sim.add_lif("svm1", "lif1", "10.0.0.1", services=["data_nvme_tcp"])
    sim.add_lif("svm1", "lif2", "10.0.0.2", services=["data_nvme_tcp"], state="down")
    sim.add_lif("svm1", "nfs1", "10.0.1.1", services=["data_nfs"])
    sim.page_size = 1
    href, recs = ("/api/network/ip/interfaces?svm.name=svm1&services=data_nvme_tcp"
                  "&fields=uuid,name,ip.address,state,enabled"), []
    while href:
        s, b = cli.get(href)
        recs += b["records"]
        href = b["_links"].get("next", {}).get("href")
    assert [(r["name"], r["ip"]["address"], r["state"]) for r in recs] == [
        ("lif1", "10.0.0.1", "up"), ("lif2", "10.0.0.2", "down")]
    s, b = cli.get("/api/protocols/nvme/services?svm.name=svm1&fields=enabled")
    assert b["records"][0]["enabled"] is True
    s, b = cli.get("/api/protocols/nvme/interfaces?svm.name=svm1&fields=ip_interface.ip.address")
    assert b["num_records"] == 1 and "next" in b["_links"]


def test_consistency_group_snapshot_restore(sim, cli):
    vols = ["pve_vm_100_disk_0", "pve_vm_100_disk_1"]
    images = {}
    for v in vols:
        sim.add_volume("svm1", v, size=1 << 30)
        s, b = cli.call("POST", "/api/storage/namespaces?return_records=true", {
            "svm": {"name": "svm1"}, "name": "/vol/%s/%s" % (v, v), "os_type": "linux",
            "space": {"size": 1 << 26}})
        images[v] = [n for n in sim.namespaces_info() if n["volume"] == v][0]["image"]
        with open(images[v], "r+b") as f:
            f.write(b"before-" + v.encode())
    s, b = cli.call("POST", "/api/application/consistency-groups?return_timeout=60", {
        "svm": {"name": "svm1"}, "name": "pve_cg_vm_100",
        "volumes": [{"name": v, "provisioning_options": {"action": "add"}} for v in vols],
        "snapshot_policy": {"name": "none"}})
    assert s == 201, b
    s, b = cli.get("/api/application/consistency-groups?svm.name=svm1&name=pve_cg_vm_100"
                   "&fields=uuid,name,volumes.name,volumes.uuid")
    cg = b["records"][0]
    assert sorted(v["name"] for v in cg["volumes"]) == vols
    assert "volumes" not in cli.get("/api/application/consistency-groups?fields=*")[1][
        "records"][0]  # expensive
    base = "/api/application/consistency-groups/%s" % cg["uuid"]
    for name in ("pveontap_a-1", "pveontap_a-2"):
        s, b = cli.call("POST", base + "/snapshots?return_timeout=30", {
            "name": name, "comment": "c", "consistency_type": "crash", "snapmirror_label": "a"})
        assert s == 201, b
        for v in vols:
            with open(images[v], "r+b") as f:
                f.write(b"after--" + name.encode())
    s, b = cli.call("POST", base + "/snapshots?return_timeout=30", {"name": "pveontap_a-1"})
    assert b["error"]["code"] == "53411921"
    assert [x["name"] for x in sim.snapshots(vols[1])] == ["pveontap_a-1", "pveontap_a-2"]
    s, b = cli.get(base + "/snapshots?fields=uuid,name,comment,create_time,is_partial,"
                   "snapshot_volumes")
    snaps = b["records"]
    assert [x["is_partial"] for x in snaps] == [False, False]
    assert sorted(x["volume"]["name"] for x in snaps[0]["snapshot_volumes"]) == vols
    s, b = cli.call("PATCH", base + "?return_timeout=60",
                    {"restore_to": {"snapshot": {"uuid": snaps[0]["uuid"]}}})
    assert s == 200, b
    for v in vols:
        with open(images[v], "rb") as f:
            assert f.read(7 + len(v)) == b"before-" + v.encode()
    s, b = cli.get(base + "/snapshots?fields=uuid,name")
    assert [x["name"] for x in b["records"]] == ["pveontap_a-1"]
    # membership changes, CG snapshot delete (member snapshots go), CG delete (volumes stay)
    assert cli.call("PATCH", base + "?return_timeout=30", {"volumes": [
        {"name": vols[1], "provisioning_options": {"action": "remove"}}]})[0] == 200
    assert sim.volume(vols[1])["consistency_group"] is None
    assert cli.call("DELETE", base + "/snapshots/%s?return_timeout=30"
                    % snaps[0]["uuid"])[0] == 200
    assert sim.snapshots(vols[0]) == []
    assert cli.call("DELETE", base + "?return_timeout=30")[0] == 200
    assert sorted(v["name"] for v in sim.volumes()) == sorted(["vol1"] + vols)
    assert sim.violations == []


# ------------------------------------------------------------------------------- faults

def test_fault_status_latency_malformed(sim, cli):
    sim.add_fault("GET", r"/api/cluster$", "status", status=503)
    s, b = cli.get("/api/cluster")
    assert s == 503 and b["error"]["code"] == "65552"
    assert cli.get("/api/cluster")[0] == 200  # count=1 by default
    sim.add_fault("GET", r"/api/cluster", "latency", seconds=0.3)
    t0 = time.time()
    assert cli.get("/api/cluster")[0] == 200 and time.time() - t0 >= 0.3
    sim.add_fault("GET", r"/api/svm/svms", "malformed", after=1)
    assert cli.get("/api/svm/svms")[0] == 200  # let through
    s, data = cli.raw("GET", "/api/svm/svms")
    assert s == 200
    with pytest.raises(ValueError):
        json.loads(data)
    assert [r["status"] for r in sim.requests[-2:]] == [200, 200]


def test_fault_drop_and_truncate(sim, cli):
    sim.add_fault("GET", r"/api/cluster", "drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        cli.get("/api/cluster")
    assert sim.requests[-1]["status"] == "dropped"
    assert cli.get("/api/cluster")[0] == 200  # a new connection works
    sim.add_fault("GET", r"/api/cluster", "truncate")
    with pytest.raises((http.client.IncompleteRead, ConnectionError, ssl.SSLError)):
        cli.get("/api/cluster")
    cli.close()
    assert cli.get("/api/cluster")[0] == 200


def test_fault_drop_after_acts_then_loses_the_reply(sim, cli):
    """drop_after: the request is carried out, the answer never comes (the lost reply);
    match_body limits a fault to one request of several to the same path."""
    vu = vol_uuid(cli)
    sim.add_fault("POST", r"/snapshots$", "drop_after", body_regex=r'"name": "s2"')
    assert cli.call("POST", "/api/storage/volumes/%s/snapshots?return_timeout=30" % vu,
                    {"name": "s1"})[0] == 201  # not matched: answered
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        cli.call("POST", "/api/storage/volumes/%s/snapshots?return_timeout=30" % vu,
                 {"name": "s2"})
    assert sim.requests[-1]["status"] == "dropped" and sim.requests[-1]["acted"] == 201
    cli.close()
    assert sorted(x["name"] for x in sim.snapshots("vol1")) == ["s1", "s2"]


def test_fault_job_fail_and_slow_job(sim, cli):
    vu = vol_uuid(cli)
    sim.add_fault("POST", r"/snapshots", "job_fail", code=1638555, message="locked")
    s, b = cli.call("POST", "/api/storage/volumes/%s/snapshots?return_timeout=30" % vu,
                    {"name": "s1"})
    assert s == 202  # a failed *job*, even with return_timeout
    j = cli.wait_job(b["job"]["_links"]["self"]["href"])
    assert (j["state"], j["code"], j["error"]["code"], j["message"]) == \
        ("failure", 1638555, "1638555", "locked")
    assert sim.snapshots("vol1") == []  # no effect
    sim.add_fault("POST", r"/snapshots", "slow_job", seconds=0.5)
    s, b = cli.call("POST", "/api/storage/volumes/%s/snapshots?return_timeout=0" % vu,
                    {"name": "s2"})
    assert s == 202
    s, j = cli.get(b["job"]["_links"]["self"]["href"])
    assert j["state"] in ("queued", "running") and sim.snapshots("vol1") == []
    assert cli.wait_job(b["job"]["_links"]["self"]["href"])["state"] == "success"
    assert [x["name"] for x in sim.snapshots("vol1")] == ["s2"]


def test_fault_body_regex_hits_one_request_of_a_batch(sim, cli):
    vu = vol_uuid(cli)
    vdir = sim.volume("vol1")["directory"]
    write(os.path.join(vdir, "images/100/vm-100-disk-0.raw"), b"zero")
    sim.add_fault("POST", r"/file/clone$", "job_fail", count=1,
                  body_regex=r'"destination_path": *"images/100/b\.raw"', message="no")
    body = {"volume": {"name": "vol1", "uuid": vu},
            "source_path": "images/100/vm-100-disk-0.raw"}
    states = []
    for dst in ("a.raw", "b.raw", "b.raw"):
        s, b = cli.call("POST", "/api/storage/file/clone", dict(
            body, destination_path="images/100/" + dst))
        assert s == 202, b
        states.append(cli.wait_job(b["job"]["_links"]["self"]["href"])["state"])
    # only the first clone to b.raw fails: its body matched, and count=1
    assert states == ["success", "failure", "success"]
    assert read(os.path.join(vdir, "images/100/b.raw")) == b"zero"


# ------------------------------------------------------------------------------- standalone

def test_standalone(tmp_path, tls):
    seed = tmp_path / "seed.yaml"
    seed.write_text("svms: [svm1]\naggregates: [aggr1]\n"
                    "volumes: [{svm: svm1, name: vol1, nas_path: /vol1}]\n"
                    "lifs: [{svm: svm1, name: lif1, ip: 10.0.0.1, services: [data_nvme_tcp]}]\n")
    port_file = tmp_path / "port"
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "ontap_sim.py"),
                          "--root", str(tmp_path / "root"), "--cert", tls["cert"],
                          "--key", tls["key"], "--port-file", str(port_file),
                          "--seed", str(seed), "--exports-file", str(tmp_path / "e.json"),
                          "--password", PW], stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        assert int(port_file.read_text()) == port

        class Fake:
            pass
        fake = Fake()
        fake.port = port
        c = Client(fake, tls["ca"])
        s, b = c.get("/api/storage/volumes?fields=nas.path")
        assert s == 200 and b["records"][0]["nas"]["path"] == "/vol1"
        c.close()
        assert json.loads((tmp_path / "e.json").read_text()) == {
            "/vol1": str(tmp_path / "root" / "vol" / "vol1")}
    finally:
        p.terminate()
        assert p.wait(10) == 0
