# SPDX-License-Identifier: GPL-2.0-or-later
"""The ONTAP REST client (lib/ontap/ontap.c, lib/ontap/ontap_nvme.c) against the ONTAP simulator,
through tests/drivers/ontap_driver (HACKING.md "Test drivers").

Each test checks what the client returned *and* what reached the simulator (requests,
bodies, objects), not only exit codes.
"""

import base64
import http.server
import json
import os
import ssl
import subprocess
import threading
import time

import pytest

from conftest import ONTAP_PASSWORD, VOLUME, JUNCTION, binary

CLUSTER = "cluster1"
SVM = "svm1"

# Under valgrind everything is several times slower: stretch the timing-based cases.
SLOW = 5 if os.environ.get("PVE_ONTAP_VALGRIND") == "1" else 1

# exit statuses of DESIGN.md
EXIT_API, EXIT_TIMEOUT, EXIT_NOTFOUND = 4, 5, 6


def driver():
    path = os.environ.get("PVE_ONTAP_ONTAP_DRIVER") or os.path.join(
        os.path.dirname(binary()), "drivers", "ontap_driver")
    if not os.access(path, os.X_OK):
        pytest.fail("ontap_driver not built (%s); run make unit-bins" % path)
    return path


class Result:
    def __init__(self, proc):
        self.proc = proc
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.value = None
        self.requests = None
        self.dry_run = None
        for line in proc.stdout.splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            if isinstance(obj, dict) and set(obj) == {"requests"}:
                self.requests = obj["requests"]
            elif isinstance(obj, dict) and set(obj) == {"dry_run"}:
                self.dry_run = obj["dry_run"]
            else:
                self.value = obj

    def __repr__(self):
        return "rc=%d stdout=%r stderr=%r" % (self.rc, self.stdout, self.stderr)


def run(env, *args, deadline_ms=None, dry_run=False, svm=None, config=None, timeout=120,
        check=None):
    argv = [driver()]
    if os.environ.get("PVE_ONTAP_VALGRIND") == "1":
        argv = ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                "--error-exitcode=99"] + argv
    if deadline_ms is not None:
        argv += ["--deadline-ms", str(deadline_ms)]
    if dry_run:
        argv.append("--dry-run")
    if svm:
        argv += ["--svm", svm]
    argv += [config or env.config_path, CLUSTER] + [str(a) for a in args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=env.T,
                          env=dict(os.environ, LC_ALL="C"))
    r = Result(proc)
    assert r.rc != 99, "valgrind found errors: %s" % r.stderr
    if check is not None:
        assert r.rc == check, r
    return r


def reqs(env, method=None, contains=None):
    out = []
    for rq in env.ontap.requests:
        if method and rq["method"] != method:
            continue
        if contains and contains not in rq["path"]:
            continue
        out.append(rq)
    return out


def vol_uuid(env, name=VOLUME):
    r = run(env, "volume-find", SVM, name, check=0)
    return r.value["uuid"]


def write_file(env, rel, data):
    path = os.path.join(env.volume_dir, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------- cluster, transport


def test_version(env):
    r = run(env, "version", check=0)
    assert r.value["generation"] == 9 and r.value["major"] >= 10
    rq = reqs(env, "GET", "/api/cluster")
    assert rq and "version" in rq[-1]["query"]["fields"]
    assert r.requests == len(env.ontap.requests)


class _Capture(http.server.BaseHTTPRequestHandler):
    """A one-endpoint HTTPS server that records request headers (the simulator's request
    log does not keep them)."""
    protocol_version = "HTTP/1.1"
    seen = []
    answer = (200, b'{"name":"c1","uuid":"u","version":{"generation":9,"major":14,"minor":1}}')

    def do_GET(self):
        type(self).seen.append(dict(self.headers.items()))
        status, body = type(self).answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def capture(env):
    _Capture.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(env.certs["cert"], env.certs["key"])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    cfg = json.loads(json.dumps(env.config))
    cfg["ontap"][CLUSTER]["port"] = srv.server_address[1]
    path = os.path.join(env.T, "capture.yaml")
    import yaml
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(yaml.safe_dump(cfg))
    yield path
    srv.shutdown()
    srv.server_close()


def test_headers_and_no_secret_in_output(env, capture):
    r = run(env, "version", config=capture, check=0)
    assert r.value == {"generation": 9, "major": 14, "minor": 1}
    h = {k.lower(): v for k, v in _Capture.seen[0].items()}
    assert h["x-dot-client-app"].startswith("pve-ontap/")
    assert "application/json" in h["accept"]
    cred = base64.b64encode(("admin:" + ONTAP_PASSWORD).encode()).decode()
    assert h["authorization"] == "Basic " + cred
    # Neither the password nor the Authorization value ever shows up in output, also not
    # in a failure message.
    _Capture.answer = (500, b'{"error":{"message":"boom","code":"65552"}}')
    bad = run(env, "version", config=capture)
    _Capture.answer = (200, b"{}")
    for out in (r.stdout + r.stderr, bad.stdout + bad.stderr):
        assert ONTAP_PASSWORD not in out and cred not in out
    assert bad.rc == EXIT_API and "boom (ONTAP error 65552)" in bad.stderr


def test_client_app_header_on_every_request(env):
    u = vol_uuid(env)
    run(env, "snap-create", u, "hdr", "-", "-", check=0)
    for rq in env.ontap.requests:
        h = {k.lower(): v for k, v in rq["headers"].items()}
        assert h["x-dot-client-app"].startswith("pve-ontap/")


def test_forbidden_is_permission_denied(env, capture):
    _Capture.answer = (403, b'{"error":{"message":"not authorized for that command","code":"6"}}')
    r = run(env, "version", config=capture)
    _Capture.answer = (200, b"{}")
    assert r.rc == EXIT_API, r
    assert "permission denied for user 'admin'" in r.stderr and "(ONTAP error 6)" in r.stderr
    assert len(_Capture.seen) == 1  # not retried


def test_malformed_json_is_api_error(env, capture):
    _Capture.answer = (200, b'{"name": "c1", "version": {')
    r = run(env, "version", config=capture)
    assert r.rc == EXIT_API, r
    assert "invalid response from" in r.stderr
    _Capture.answer = (200, b"{}")


def test_malformed_json_from_sim(env):
    env.ontap.add_fault("GET", r"/api/storage/volumes$", "malformed", count=10)
    r = run(env, "volume-find", SVM, VOLUME)
    assert r.rc == EXIT_API, r
    assert "invalid response from" in r.stderr


def test_bad_password_is_401(env):
    with open(os.path.join(env.T, "ontap.pw"), "w") as f:
        f.write("wrong-password\n")
    r = run(env, "volume-find", SVM, VOLUME)
    assert r.rc == EXIT_API, r
    assert "authentication failed for user 'admin'" in r.stderr
    assert "wrong-password" not in r.stderr + r.stdout
    # 401 is not retried
    assert len(env.ontap.requests) == 1


def test_get_5xx_is_retried(env):
    env.ontap.add_fault("GET", r"/api/storage/volumes$", "status", status=503, count=2)
    r = run(env, "volume-find", SVM, VOLUME, check=0)
    assert r.value["name"] == VOLUME
    gets = reqs(env, "GET", "/api/storage/volumes")
    assert len(gets) == 3 and [g["status"] for g in gets] == [503, 503, 200]
    # the backoff (about 1 s then 1.4 s, jittered) is tests/unit/test_ontap.c's test_jitter
    assert r.requests == 3


def test_get_5xx_gives_up_after_three_tries(env):
    env.ontap.add_fault("GET", r"/api/storage/volumes$", "status", status=503, count=10)
    r = run(env, "volume-find", SVM, VOLUME)
    assert r.rc == EXIT_API, r
    assert len(reqs(env, "GET", "/api/storage/volumes")) == 3


def test_dropped_connection_on_get_is_retried(env):
    env.ontap.add_fault("GET", r"/api/storage/volumes$", "drop", count=1)
    r = run(env, "volume-find", SVM, VOLUME, check=0)
    assert r.value["name"] == VOLUME
    assert r.requests == 2


def test_not_found_exit_6(env):
    r = run(env, "volume-find", SVM, "no_such_volume")
    assert r.rc == EXIT_NOTFOUND, r
    assert "no_such_volume" in r.stderr
    r = run(env, "volume-get", "00000000-0000-0000-0000-000000000000")
    assert r.rc == EXIT_NOTFOUND, r
    assert "(ONTAP error 4)" in r.stderr


# ---------------------------------------------------------------- volumes


def test_volume_find_sends_svm_and_fields(env):
    r = run(env, "volume-find", SVM, VOLUME, check=0)
    v = r.value
    assert v["name"] == VOLUME and v["svm"] == SVM and v["nas_path"] == JUNCTION
    assert len(v["uuid"]) >= 32
    q = reqs(env, "GET", "/api/storage/volumes")[-1]["query"]
    assert q["name"] == VOLUME and q["svm.name"] == SVM
    fields = q["fields"].split(",")
    for f in ("uuid", "nas.path", "clone.is_flexclone", "space.snapshot.reserve_percent"):
        assert f in fields


def test_volume_find_by_path_and_get(env):
    r = run(env, "volume-find-path", SVM, JUNCTION, check=0)
    assert r.value["name"] == VOLUME
    q = reqs(env, "GET", "/api/storage/volumes")[-1]["query"]
    assert q["nas.path"] == JUNCTION and q["svm.name"] == SVM
    g = run(env, "volume-get", r.value["uuid"], check=0)
    assert g.value["name"] == VOLUME and g.value["nas_path"] == JUNCTION
    assert run(env, "volume-find-path", SVM, "/nowhere").rc == EXIT_NOTFOUND


def test_volume_find_path_without_svm(env):
    # an .ini config has no SVM: filter on nas.path only
    r = run(env, "volume-find-path", "-", JUNCTION, check=0)
    assert r.value["name"] == VOLUME
    q = reqs(env, "GET", "/api/storage/volumes")[-1]["query"]
    assert "svm.name" not in q


def test_volume_create_full_spec(env):
    spec = {"name": "pve_vm_100_disk_0", "svm": SVM, "aggregate": "aggr1",
            "size": 10 * 2**30, "guarantee": "none", "encryption": 1, "qos_policy": "gold",
            "tiering_policy": "auto", "snapshot_reserve": 5, "autosize_max": 20 * 2**30,
            "nas_path": "/pve_vm_100_disk_0", "comment": "vm-100-disk-0",
            "snapshot_policy_none": True}
    env.ontap.job_seconds = 1
    r = run(env, "volume-create", json.dumps(spec), check=0)
    assert r.value["name"] == "pve_vm_100_disk_0" and r.value["uuid"]
    post = reqs(env, "POST", "/api/storage/volumes")
    assert len(post) == 1
    assert post[0]["query"]["return_timeout"] == "30"
    body = post[0]["body"]
    assert not any("." in k for k in body), "dotted keys: %r" % body
    assert body["svm"] == {"name": SVM}
    assert body["aggregates"] == [{"name": "aggr1"}]
    assert body["size"] == 10 * 2**30
    assert body["guarantee"] == {"type": "none"}
    assert body["encryption"] == {"enabled": True}
    assert body["qos"] == {"policy": {"name": "gold"}}
    assert body["tiering"] == {"policy": "auto"}
    assert body["space"] == {"snapshot": {"reserve_percent": 5}}
    assert body["autosize"] == {"mode": "grow", "maximum": 20 * 2**30}
    assert body["snapshot_policy"] == {"name": "none"}
    assert body["nas"] == {"path": "/pve_vm_100_disk_0"}
    assert body["comment"] == "vm-100-disk-0"
    assert reqs(env, "GET", "/api/cluster/jobs/")
    assert any(v["name"] == "pve_vm_100_disk_0" for v in env.ontap.volumes())


def test_volume_create_adaptive_qos(env):
    spec = {"name": "pve_vm_101_disk_0", "svm": SVM, "aggregate": "aggr1",
            "size": 2**30, "adaptive_qos_policy": "extreme"}
    run(env, "volume-create", json.dumps(spec), check=0)
    body = reqs(env, "POST", "/api/storage/volumes")[0]["body"]
    assert body["qos"] == {"policy": {"name": "extreme"}}


def test_volume_resize_nas_path_delete(env):
    spec = {"name": "scratch", "svm": SVM, "aggregate": "aggr1", "size": 2**30,
            "nas_path": "/scratch"}
    u = run(env, "volume-create", json.dumps(spec), check=0).value["uuid"]
    run(env, "volume-resize", u, "2G", check=0)
    assert run(env, "volume-get", u, check=0).value["size"] == 2 * 2**30
    run(env, "volume-nas-path", u, "/scratch2", check=0)
    assert run(env, "volume-get", u, check=0).value["nas_path"] == "/scratch2"
    n0 = len(env.ontap.requests)
    run(env, "volume-delete", u, check=0)
    seq = [(rq["method"], rq["body"]) for rq in env.ontap.requests[n0:]
           if rq["method"] != "GET"]
    # the junction is cleared first, then the volume is deleted
    assert seq[0] == ("PATCH", {"nas": {"path": ""}})
    assert seq[-1][0] == "DELETE"
    assert not any(v["name"] == "scratch" for v in env.ontap.volumes())
    assert run(env, "volume-get", u).rc == EXIT_NOTFOUND


def test_flexclone_and_restore(env):
    u = vol_uuid(env)
    write_file(env, "images/100/vm-100-disk-0.raw", b"A" * 4096)
    run(env, "snap-create", u, "pveontap_s1", "-", "-", check=0)
    r = run(env, "flexclone", SVM, VOLUME, "pveontap_s1", "clone1", "/clone1", check=0)
    assert r.value["name"] == "clone1" and r.value["nas_path"] == "/clone1"
    body = reqs(env, "POST", "/api/storage/volumes")[-1]["body"]
    assert body == {"name": "clone1", "svm": {"name": SVM},
                    "clone": {"is_flexclone": True, "parent_volume": {"name": VOLUME},
                              "parent_snapshot": {"name": "pveontap_s1"}},
                    "nas": {"path": "/clone1"}}
    g = run(env, "volume-get", r.value["uuid"], check=0).value
    assert g["is_flexclone"] and g["clone_parent"] == VOLUME

    # SnapRestore brings the file content back
    write_file(env, "images/100/vm-100-disk-0.raw", b"B" * 4096)
    run(env, "volume-restore", u, "pveontap_s1", check=0)
    patch = reqs(env, "PATCH", "/api/storage/volumes/")[-1]
    assert patch["query"]["restore_to.snapshot.name"] == "pveontap_s1"
    with open(os.path.join(env.volume_dir, "images/100/vm-100-disk-0.raw"), "rb") as f:
        assert f.read() == b"A" * 4096


def test_volume_list(env):
    env.ontap.add_volume(SVM, "pve_a")
    env.ontap.add_volume(SVM, "pve_b")
    env.ontap.page_size = 1
    r = run(env, "volume-list", SVM, "pve_*", check=0)
    assert sorted(v["name"] for v in r.value) == ["pve_a", "pve_b"]


# ---------------------------------------------------------------- snapshots, jobs


def test_snapshot_create_is_idempotent(env):
    u = vol_uuid(env)
    r1 = run(env, "snap-create", u, "pveontap_daily-20260101T000000Z", "pve-ontap vm=100",
             "daily", check=0)
    r2 = run(env, "snap-create", u, "pveontap_daily-20260101T000000Z", "pve-ontap vm=100",
             "daily", check=0)
    assert r1.rc == r2.rc == 0
    names = [s["name"] for s in env.ontap.snapshots(VOLUME)]
    assert names.count("pveontap_daily-20260101T000000Z") == 1
    body = reqs(env, "POST", "/snapshots")[0]["body"]
    assert body == {"name": "pveontap_daily-20260101T000000Z", "comment": "pve-ontap vm=100",
                    "snapmirror_label": "daily"}
    f = run(env, "snap-find", u, "pveontap_daily-20260101T000000Z", check=0).value
    assert f["label"] == "daily" and f["comment"] == "pve-ontap vm=100"


def test_snapshot_list_paginates(env):
    u = vol_uuid(env)
    for i in range(5):
        run(env, "snap-create", u, "pveontap_h-%d" % i, "-", "-", check=0)
    run(env, "snap-create", u, "other", "-", "-", check=0)
    env.ontap.page_size = 1
    n0 = len(env.ontap.requests)
    r = run(env, "snap-list", u, "pveontap_*", check=0)
    assert [s["name"] for s in r.value] == ["pveontap_h-%d" % i for i in range(5)]
    times = [s["create_time"] for s in r.value]
    assert times == sorted(times)
    gets = [rq for rq in env.ontap.requests[n0:] if rq["method"] == "GET"]
    # five pages of one record (plus possibly a last empty page)
    assert len(gets) >= 5
    assert all("/snapshots" in g["path"] for g in gets)


def test_snapshot_delete(env):
    u = vol_uuid(env)
    run(env, "snap-create", u, "gone_soon", "-", "-", check=0)
    s = run(env, "snap-find", u, "gone_soon", check=0).value
    run(env, "snap-delete", u, s["uuid"], check=0)
    assert "gone_soon" not in [x["name"] for x in env.ontap.snapshots(VOLUME)]
    assert run(env, "snap-find", u, "gone_soon").rc == EXIT_NOTFOUND


def test_job_longer_than_one_poll(env):
    u = vol_uuid(env)
    # return_timeout is at most half the time left, so with 5 s ONTAP answers 202 after 2 s
    # and the client polls the 3 s job to its end
    env.ontap.add_fault("POST", r"/snapshots$", "slow_job", seconds=3 * SLOW)
    t0 = time.monotonic()
    run(env, "snap-create", u, "slowish", "-", "-", deadline_ms=5000 * SLOW, check=0)
    assert time.monotonic() - t0 >= 2.9 * SLOW
    post = reqs(env, "POST", "/snapshots")[0]
    assert post["status"] == 202
    if SLOW == 1:
        assert post["query"]["return_timeout"] == "2"
    polls = reqs(env, "GET", "/api/cluster/jobs/")
    assert len(polls) >= 2
    assert polls[0]["query"]["fields"] == "state,message,code,error"
    assert "slowish" in [x["name"] for x in env.ontap.snapshots(VOLUME)]


def test_job_within_return_timeout(env):
    u = vol_uuid(env)
    env.ontap.job_seconds = 1
    run(env, "snap-create", u, "inline", "-", "-", check=0)
    post = reqs(env, "POST", "/snapshots")[0]
    assert post["query"]["return_timeout"] == "30" and post["status"] == 201
    assert "inline" in [x["name"] for x in env.ontap.snapshots(VOLUME)]


def test_slow_job_beyond_deadline_is_timeout_not_failure(env):
    u = vol_uuid(env)
    env.ontap.add_fault("POST", r"/snapshots$", "slow_job", seconds=4 * SLOW)
    t0 = time.monotonic()
    r = run(env, "snap-create", u, "very_slow", "-", "-", deadline_ms=1500 * SLOW)
    assert r.rc == EXIT_TIMEOUT, r
    assert time.monotonic() - t0 < 4 * SLOW
    assert "still running" in r.stderr and "failed" not in r.stderr
    # the operation completes on ONTAP afterwards
    deadline = time.monotonic() + 10 * SLOW
    while time.monotonic() < deadline:
        if "very_slow" in [x["name"] for x in env.ontap.snapshots(VOLUME)]:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the slow snapshot never appeared")


def test_vanished_job_is_rechecked_by_name(env):
    u = vol_uuid(env)
    # the job record is gone as soon as the job ends: the client cannot see the outcome
    # and looks for the snapshot by name instead
    env.ontap.job_retention = 0
    env.ontap.add_fault("POST", r"/snapshots$", "slow_job", seconds=3 * SLOW)
    n0 = len(env.ontap.requests)
    run(env, "snap-create", u, "orphan", "-", "-", deadline_ms=5000 * SLOW, check=0)
    new = env.ontap.requests[n0:]
    assert any(rq["status"] == 404 and "/cluster/jobs/" in rq["path"] for rq in new)
    assert new[-1]["method"] == "GET" and new[-1]["query"].get("name") == "orphan"
    assert "orphan" in [x["name"] for x in env.ontap.snapshots(VOLUME)]


def test_job_failure_reports_message_and_code(env):
    u = vol_uuid(env)
    env.ontap.add_fault("POST", r"/snapshots$", "job_fail", code=1638555,
                        message="Snapshot copy is locked")
    r = run(env, "snap-create", u, "doomed", "-", "-")
    assert r.rc == EXIT_API, r
    assert "Snapshot copy is locked" in r.stderr and "1638555" in r.stderr


def test_lost_reply_to_post_is_rechecked_not_resent_blindly(env):
    u = vol_uuid(env)
    env.ontap.add_fault("POST", r"/snapshots$", "drop", count=1)
    run(env, "snap-create", u, "lost_reply", "-", "-", check=0)
    names = [x["name"] for x in env.ontap.snapshots(VOLUME)]
    assert names.count("lost_reply") == 1
    # after the lost reply the client looked the snapshot up by name before anything else
    n = [i for i, rq in enumerate(env.ontap.requests)
         if rq["method"] == "POST" and rq["path"].endswith("/snapshots")]
    after = env.ontap.requests[n[0] + 1]
    assert after["method"] == "GET" and after["query"].get("name") == "lost_reply"


# ---------------------------------------------------------------- files


def test_file_clones_in_parallel(env):
    u = vol_uuid(env)
    for i in range(4):
        write_file(env, "images/100/vm-100-disk-%d.raw" % i, bytes([65 + i]) * 8192)
    run(env, "snap-create", u, "pveontap_x", "-", "-", check=0)
    env.ontap.add_fault("POST", r"/api/storage/file/clone$", "latency", seconds=1, count=4)
    ops = ["./.snapshot/pveontap_x/images/100/vm-100-disk-%d.raw:images/100/copy-%d.raw"
           % (i, i) for i in range(4)]
    n0 = len(env.ontap.requests)
    t0 = time.monotonic()
    r = run(env, "file-clone", VOLUME, *ops, svm=SVM, check=0)
    elapsed = time.monotonic() - t0
    assert [o["rc"] for o in r.value] == [0, 0, 0, 0]
    posts = [rq for rq in env.ontap.requests[n0:] if rq["method"] == "POST"]
    assert len(posts) == 4
    assert all(p["path"] == "/api/storage/file/clone" for p in posts)
    b = posts[0]["body"]
    assert b["volume"]["name"] == VOLUME and b["volume"]["uuid"] == u
    assert b["overwrite_destination"] is False
    # four 1 s latencies in parallel, not in a row
    if SLOW == 1:
        assert elapsed < 3.5, elapsed
    for i in range(4):
        with open(os.path.join(env.volume_dir, "images/100/copy-%d.raw" % i), "rb") as f:
            assert f.read() == bytes([65 + i]) * 8192


def test_file_clone_jobs_polled(env):
    write_file(env, "images/100/a.raw", b"a" * 100)
    write_file(env, "images/100/b.raw", b"b" * 100)
    env.ontap.add_fault("POST", r"/api/storage/file/clone$", "slow_job", seconds=3 * SLOW,
                        count=2)
    n0 = len(env.ontap.requests)
    r = run(env, "file-clone", VOLUME, "images/100/a.raw:images/100/a2.raw",
            "images/100/b.raw:images/100/b2.raw", svm=SVM, deadline_ms=6000 * SLOW, check=0)
    assert [o["rc"] for o in r.value] == [0, 0]
    new = env.ontap.requests[n0:]
    assert [rq["status"] for rq in new if rq["method"] == "POST"] == [202, 202]
    polls = [rq for rq in new if "/api/cluster/jobs/" in rq["path"]]
    assert len({p["path"] for p in polls}) == 2 and len(polls) >= 4
    assert os.path.exists(os.path.join(env.volume_dir, "images/100/b2.raw"))


def test_file_clone_slow_job_times_out(env):
    write_file(env, "images/100/a.raw", b"a" * 100)
    env.ontap.add_fault("POST", r"/api/storage/file/clone$", "slow_job", seconds=4 * SLOW)
    r = run(env, "file-clone", VOLUME, "images/100/a.raw:images/100/a3.raw", svm=SVM,
            deadline_ms=1500 * SLOW)
    assert r.rc == EXIT_TIMEOUT, r
    assert "still running" in r.stderr


def test_file_clone_overwrite_and_failure(env):
    write_file(env, "images/100/a.raw", b"new" * 10)
    write_file(env, "images/100/dst.raw", b"old")
    # without overwrite an existing destination fails; the other op still succeeds
    r = run(env, "file-clone", VOLUME, "images/100/a.raw:images/100/dst.raw",
            "images/100/a.raw:images/100/other.raw", svm=SVM)
    assert r.rc == EXIT_API, r
    assert r.value[0]["rc"] < 0 and r.value[0]["err"]
    assert r.value[1]["rc"] == 0
    r = run(env, "file-clone", VOLUME, "images/100/a.raw:images/100/dst.raw:overwrite",
            svm=SVM, check=0)
    with open(os.path.join(env.volume_dir, "images/100/dst.raw"), "rb") as f:
        assert f.read() == b"new" * 10


def test_file_delete_many(env):
    write_file(env, "images/100/x.raw", b"x")
    write_file(env, "images/100/y.raw", b"y")
    n0 = len(env.ontap.requests)
    r = run(env, "file-delete", VOLUME, "images/100/x.raw", "images/100/y.raw",
            "images/100/never-there.raw", svm=SVM, check=0)
    assert [o["rc"] for o in r.value] == [0, 0, 0]
    dels = [rq for rq in env.ontap.requests[n0:] if rq["method"] == "DELETE"]
    assert len(dels) == 3
    # the path is one encoded segment: '/' as %2F, '.' as %2E
    assert any("images%2F100%2Fx%2Eraw" in d.get("raw_path", d["path"]) or
               d["path"].endswith("/files/images/100/x.raw") or
               "images%2F100%2Fx" in d["path"] for d in dels)
    assert not os.path.exists(os.path.join(env.volume_dir, "images/100/x.raw"))


def test_dir_create_and_list(env):
    u = vol_uuid(env)
    run(env, "dir-create", u, "images/200", check=0)
    run(env, "dir-create", u, "images/200", check=0)  # exists: fine
    assert os.path.isdir(os.path.join(env.volume_dir, "images/200"))
    write_file(env, "images/200/vm-200-disk-0.raw", b"z" * 1000)
    r = run(env, "dir-list", u, "images/200", check=0)
    assert [(f["name"], f["type"], f["size"]) for f in r.value] == \
        [("vm-200-disk-0.raw", "file", 1000)]
    assert run(env, "dir-list", u, "images/999").rc == EXIT_NOTFOUND


# ---------------------------------------------------------------- dry run


def test_dry_run_sends_no_mutation(env):
    u = vol_uuid(env)
    n0 = len(env.ontap.requests)
    r = run(env, "snap-create", u, "dry", "c", "-", dry_run=True, check=0)
    assert all(rq["method"] == "GET" for rq in env.ontap.requests[n0:])
    assert "dry" not in [x["name"] for x in env.ontap.snapshots(VOLUME)]
    assert r.dry_run.startswith("POST /api/storage/volumes/%s/snapshots?return_timeout=" % u)
    assert '{"name":"dry","comment":"c"}' in r.dry_run

    write_file(env, "images/100/a.raw", b"a")
    n0 = len(env.ontap.requests)
    r = run(env, "file-clone", VOLUME, "images/100/a.raw:images/100/b.raw", svm=SVM,
            dry_run=True, check=0)
    assert all(rq["method"] == "GET" for rq in env.ontap.requests[n0:])
    assert r.dry_run.startswith("POST /api/storage/file/clone?return_timeout=30 {")
    assert not os.path.exists(os.path.join(env.volume_dir, "images/100/b.raw"))
    assert ONTAP_PASSWORD not in r.stdout

    spec = {"name": "drv", "svm": SVM, "aggregate": "aggr1", "size": 2**30}
    r = run(env, "volume-create", json.dumps(spec), dry_run=True, check=0)
    assert r.value["name"] == "drv"
    assert not reqs(env, "POST")
    assert r.requests == 0


# ---------------------------------------------------------------- NVMe


def test_namespace_lifecycle_and_maps(env):
    env.ontap.add_volume(SVM, "pve_vm_100_disk_0")
    name = "/vol/pve_vm_100_disk_0/pve_vm_100_disk_0"
    ns = run(env, "namespace-create", SVM, name, "1G", "vm-100-disk-0", check=0).value
    assert ns["name"] == name and ns["size"] == 2**30 and ns["uuid"]
    body = reqs(env, "POST", "/api/storage/namespaces")[0]["body"]
    assert body["svm"] == {"name": SVM} and body["os_type"] == "linux"
    assert body["space"]["size"] == 2**30
    assert run(env, "namespace-find", SVM, name, check=0).value["uuid"] == ns["uuid"]
    assert run(env, "namespace-find", SVM, "/vol/x/y").rc == EXIT_NOTFOUND
    lst = run(env, "namespace-list", SVM, "/vol/pve_vm_100_*/*", check=0).value
    assert [n["name"] for n in lst] == [name]

    s1 = run(env, "subsystem-ensure", SVM, "pve_cluster1", check=0).value
    s2 = run(env, "subsystem-ensure", SVM, "pve_cluster1", check=0).value
    assert s1["uuid"] == s2["uuid"] and s1["target_nqn"]
    assert len(reqs(env, "POST", "/api/protocols/nvme/subsystems")) == 1
    nqn = "nqn.2014-08.org.nvmexpress:uuid:5a2c0000-0000-0000-0000-000000000001"
    run(env, "host-add", s1["uuid"], nqn, check=0)
    run(env, "host-add", s1["uuid"], nqn, check=0)  # already there: success

    run(env, "map-create", SVM, s1["uuid"], ns["uuid"], check=0)
    run(env, "map-create", SVM, s1["uuid"], ns["uuid"], check=0)  # already mapped
    g = run(env, "namespace-get", ns["uuid"], check=0).value
    assert g["mapped"] and g["subsystem"] == "pve_cluster1"
    run(env, "namespace-resize", ns["uuid"], "2G", check=0)
    assert run(env, "namespace-get", ns["uuid"], check=0).value["size"] == 2 * 2**30
    run(env, "map-delete", s1["uuid"], ns["uuid"], check=0)
    run(env, "map-delete", s1["uuid"], ns["uuid"], check=0)  # not mapped: success
    assert not run(env, "namespace-get", ns["uuid"], check=0).value["mapped"]
    run(env, "namespace-delete", ns["uuid"], check=0)
    assert run(env, "namespace-get", ns["uuid"]).rc == EXIT_NOTFOUND


def test_nvme_lifs_filters_and_pages(env):
    env.ontap.add_lif(SVM, "lif_up1", "10.0.0.1", services=["data_nvme_tcp"])
    env.ontap.add_lif(SVM, "lif_down", "10.0.0.2", services=["data_nvme_tcp"], state="down")
    env.ontap.add_lif(SVM, "lif_off", "10.0.0.3", services=["data_nvme_tcp"], enabled=False)
    env.ontap.add_lif(SVM, "lif_nfs", "10.0.0.4", services=["data_nfs"])
    env.ontap.add_lif(SVM, "lif_up2", "10.0.0.5", services=["data_nvme_tcp"])
    env.ontap.page_size = 1
    r = run(env, "lifs", SVM, check=0)
    assert sorted(l["ip"] for l in r.value) == ["10.0.0.1", "10.0.0.5"]
    q = reqs(env, "GET", "/api/network/ip/interfaces")[0]["query"]
    assert q["svm.name"] == SVM and q["services"] == "data_nvme_tcp"


# ---------------------------------------------------------------- consistency groups


def test_consistency_group_lifecycle(env):
    env.ontap.add_volume(SVM, "pve_vm_100_disk_0")
    env.ontap.add_volume(SVM, "pve_vm_100_disk_1")
    env.ontap.add_volume(SVM, "pve_vm_100_disk_2")
    cg = run(env, "cg-create", SVM, "pve_cg_vm_100", "pve_vm_100_disk_0",
             "pve_vm_100_disk_1", check=0).value
    assert cg["name"] == "pve_cg_vm_100"
    assert sorted(cg["volumes"]) == ["pve_vm_100_disk_0", "pve_vm_100_disk_1"]
    body = reqs(env, "POST", "/api/application/consistency-groups")[0]["body"]
    assert body["volumes"][0] == {"name": "pve_vm_100_disk_0",
                                  "provisioning_options": {"action": "add"}}
    f = run(env, "cg-find", SVM, "pve_cg_vm_100", check=0).value
    assert f["uuid"] == cg["uuid"]

    run(env, "cg-add", cg["uuid"], "pve_vm_100_disk_2", check=0)
    assert len(run(env, "cg-find", SVM, "pve_cg_vm_100", check=0).value["volumes"]) == 3
    run(env, "cg-remove", cg["uuid"], "pve_vm_100_disk_2", check=0)
    assert len(run(env, "cg-find", SVM, "pve_cg_vm_100", check=0).value["volumes"]) == 2

    run(env, "cgsnap-create", cg["uuid"], "pveontap_a", "pve-ontap", "hourly", check=0)
    run(env, "cgsnap-create", cg["uuid"], "pveontap_a", "pve-ontap", "hourly", check=0)
    run(env, "cgsnap-create", cg["uuid"], "pveontap_b", "-", "-", check=0)
    env.ontap.page_size = 1
    snaps = run(env, "cgsnap-list", cg["uuid"], "pveontap_*", check=0).value
    assert [s["name"] for s in snaps] == ["pveontap_a", "pveontap_b"]
    assert sorted(snaps[0]["volumes"]) == ["pve_vm_100_disk_0", "pve_vm_100_disk_1"]
    assert not snaps[0]["is_partial"]
    # member snapshots are ordinary volume snapshots
    assert "pveontap_a" in [s["name"] for s in env.ontap.snapshots("pve_vm_100_disk_0")]

    run(env, "cg-restore", cg["uuid"], snaps[0]["uuid"], check=0)
    patch = reqs(env, "PATCH", "/api/application/consistency-groups/")[-1]
    assert patch["body"] == {"restore_to": {"snapshot": {"uuid": snaps[0]["uuid"]}}}
    # restore deletes newer snapshots
    left = run(env, "cgsnap-list", cg["uuid"], "-", check=0).value
    assert [s["name"] for s in left] == ["pveontap_a"]

    run(env, "cgsnap-delete", cg["uuid"], snaps[0]["uuid"], check=0)
    assert run(env, "cgsnap-list", cg["uuid"], "-", check=0).value == []
    run(env, "cg-delete", cg["uuid"], check=0)
    assert run(env, "cg-find", SVM, "pve_cg_vm_100").rc == EXIT_NOTFOUND
    # volumes survive the CG
    assert {"pve_vm_100_disk_0", "pve_vm_100_disk_1"} <= {v["name"] for v in env.ontap.volumes()}
