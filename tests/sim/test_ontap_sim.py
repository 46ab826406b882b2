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
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

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
    names = lambda q: sorted(r["name"] for r in cli.get("/api/storage/volumes?" + q)[1]["records"])  # noqa: E731
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
