"""--dry-run with --json (DESIGN.md "Command line"): stdout is exactly one JSON document
{"dry_run": true, "requests": [{"service", "method", "path", "body"}], "jobs": [...]}
for every verb that has both, and nothing changes on ONTAP, in PVE or in the queue."""

import json

import pytest

from test_nvme import POOL, base_conf, nvme_setup, ok

NONROOT = {"PVE_ONTAP_ALLOW_NONROOT": "1"}


def dry(e, *args, **kw):
    r = e.run("--dry-run", "--json", *[str(a) for a in args], **kw)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    doc = json.loads(r.stdout)          # the whole of stdout is one document
    assert isinstance(doc, dict) and doc["dry_run"] is True, r.stdout
    assert set(doc) == {"dry_run", "requests", "jobs", "commands"}, doc
    for q in doc["requests"]:
        assert set(q) == {"service", "method", "path", "body"}, q
        assert q["service"] in ("ontap", "pve") and q["method"] != "GET", q
    return doc


def snapshot_name(env, vmid):
    r = ok(env.run("--json", "vm", "list", "--vm", vmid))
    return json.loads(r.stdout)[-1]["name"]


@pytest.fixture
def nfs(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    ok(env.run("vm", "create", "--vm", "100", "--label", "daily"))
    ok(env.run("storage", "create", "--storage", "ONTAP01", "--label", "manual"))
    return env


def frozen(env):
    return (env.ontap.state_summary(), env.queue_jobs(), env.qm_calls(),
            env.pve.storages())


def test_vm_verbs(nfs):
    env = nfs
    snap = snapshot_name(env, 100)
    before = frozen(env)
    doc = dry(env, "vm", "create", "--vm", 100, "--label", "hourly")
    (clone,) = doc["requests"]
    assert (clone["service"], clone["method"]) == ("ontap", "POST")
    assert clone["path"].startswith("/api/storage/file/clone")
    assert clone["body"]["source_path"] == "images/100/vm-100-disk-0.raw"
    assert clone["body"]["destination_path"].startswith(
        "images/100/vm-100-disk-0-snap-hourly-")
    assert doc["jobs"] == [{"vmid": 100, "action": "register", "volid": "ONTAP01:100/%s"
                            % clone["body"]["destination_path"].split("/")[-1]}]
    assert dry(env, "vm", "list", "--vm", 100) == {"dry_run": True, "requests": [],
                                                   "jobs": [], "commands": []}
    doc = dry(env, "vm", "delete", "--vm", 100, "--snapshot", snap)
    assert [q["method"] for q in doc["requests"]] == ["DELETE"]
    doc = dry(env, "vm", "restore", "--vm", 100, "--snapshot", snap, "--yes")
    clones = [q for q in doc["requests"] if q["path"].startswith("/api/storage/file/clone")]
    assert clones and clones[-1]["body"]["overwrite_destination"] is True
    assert frozen(env) == before


def test_storage_verbs(nfs):
    env = nfs
    snaps = json.loads(ok(env.run("--json", "storage", "list", "--storage", "ONTAP01")).stdout)
    snap = snaps[-1]["name"]
    before = frozen(env)
    doc = dry(env, "storage", "create", "--storage", "ONTAP01", "--label", "weekly")
    (post,) = doc["requests"]
    assert post["method"] == "POST" and post["path"].endswith("/snapshots?return_timeout=30")
    assert post["body"]["name"].startswith("pveontap_weekly-")
    for verb in ("list", "show"):
        assert dry(env, "storage", verb, "--storage", "ONTAP01")["requests"] == []
    doc = dry(env, "storage", "delete", "--storage", "ONTAP01", "--snapshot", snap)
    assert [q["method"] for q in doc["requests"]] == ["DELETE"]
    doc = dry(env, "storage", "restore", "--storage", "ONTAP01", "--snapshot", snap, "--yes")
    assert doc["requests"] and doc["requests"][0]["method"] == "PATCH"
    doc = dry(env, "storage", "mount", "--storage", "ONTAP01", "--snapshot", snap)
    services = [q["service"] for q in doc["requests"]]
    assert "ontap" in services and "pve" in services
    (add,) = [q for q in doc["requests"] if q["service"] == "pve"]
    # PVE's form body as an object of decoded fields
    assert add["method"] == "POST" and add["path"] == "/api2/json/storage"
    assert add["body"]["storage"] == "ONTAP01-CLONE" and add["body"]["type"] == "nfs"
    assert frozen(env) == before


def test_install_hook(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    doc = dry(env, "install-hook", "--vm", 100, env=NONROOT)
    assert doc["requests"] == [] and doc["jobs"] == []
    assert doc["commands"][1].endswith("set 100 --hookscript local:snippets/pve-ontap")
    assert env.qm_calls() == []


def test_nvme_verbs(env):
    nvme_setup(env)
    env.pve.add_vm(100, base_conf(100))
    ok(env.run("nvme", "connect", "--storage", POOL))
    disk = json.loads(ok(env.run("--json", "nvme", "create", "--vm", 100, "--storage", POOL,
                                 "--size", "64M")).stdout)
    # the watcher's attach, done here: the VM config names the namespace
    env.pve.add_vm(100, base_conf(100, [(disk["uuid"], 64 << 20)]))
    ok(env.run("vm", "create", "--vm", 100, "--label", "daily"))
    snap = snapshot_name(env, 100)
    jobs = env.queue_jobs()
    before = env.ontap.state_summary()
    doc = dry(env, "nvme", "create", "--vm", 100, "--storage", POOL, "--size", "1G")
    assert "/api/storage/volumes?return_timeout=30" in [q["path"] for q in doc["requests"]]
    assert doc["jobs"][0]["action"] == "nvme-attach"
    doc = dry(env, "nvme", "resize", "--vm", 100, "--disk", 0, "--size", "128M")
    assert {q["method"] for q in doc["requests"]} == {"PATCH"}
    doc = dry(env, "nvme", "delete", "--vm", 100, "--disk", 0, "--yes")
    assert "DELETE" in [q["method"] for q in doc["requests"]]
    assert dry(env, "nvme", "list", "--vm", 100)["requests"] == []
    dry(env, "nvme", "connect", "--storage", POOL)
    doc = dry(env, "nvme", "clone", "--vm", 100, "--snapshot", snap)
    assert doc["requests"] and doc["requests"][0]["service"] == "ontap"
    assert env.ontap.state_summary() == before
    assert env.queue_jobs() == jobs
