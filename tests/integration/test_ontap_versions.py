# SPDX-License-Identifier: GPL-2.0-or-later
"""ONTAP releases (DESIGN.md "Storage kinds", ONTAP versions; issue 15 item 7): volume DELETE
sends force=true from 9.12 on, so nothing waits in the recovery queue; consistency-group
add/remove is refused before 9.12.1 with a clear error and nothing changed; the cluster version
is read lazily, once per run and cluster; a file-clone answer with a job is polled whatever its
status.  The simulator parks volumes deleted without force in its recovery queue and refuses
force before 9.12 as an unknown argument (tests/sim/ontap_core.py VERSIONED_QUERY)."""

import json

import pytest

from test_nvme import POOL, SVM, base_conf, create_disk, nvme_setup, ok
from test_ontap_client import SVM as NFS_SVM
from test_ontap_client import run, write_file
from conftest import VOLUME

VERSIONS = ["9.11.1", "9.12.0", "9.14.1"]


def cluster_gets(env, since=0):
    return [q for q in env.ontap.requests[since:]
            if q["method"] == "GET" and q["path"] == "/api/cluster"]


def deletes(env, since=0):
    return [q for q in env.ontap.requests[since:]
            if q["method"] == "DELETE" and q["path"].startswith("/api/storage/volumes/")
            and "/snapshots/" not in q["path"] and "/files/" not in q["path"]]


# ------------------------------------------------------------------ the client, directly

@pytest.mark.parametrize("version", VERSIONS)
def test_volume_delete_per_version(env, version):
    env.ontap.set_version(version)
    uuids = [env.ontap.add_volume(NFS_SVM, "scratch_%d" % i) for i in range(3)]
    r = run(env, "volume-delete", *uuids, check=0)
    forced = version != "9.11.1"
    # one GET /api/cluster for three deletes, asking only for the version
    gets = cluster_gets(env)
    assert len(gets) == 1 and gets[0]["query"]["fields"] == "version"
    assert [q["query"].get("force") for q in deletes(env)] == [
        "true" if forced else None] * 3
    expect = [] if forced else ["scratch_0_1025", "scratch_1_1026", "scratch_2_1027"]
    assert env.ontap.state_summary()["recovery_queue"] == expect
    assert not [v for v in env.ontap.volumes() if v["name"].startswith("scratch_")]
    assert r.requests == len(env.ontap.requests)


def test_no_version_read_without_a_versioned_call(env):
    run(env, "volume-find", NFS_SVM, VOLUME, check=0)
    run(env, "volume-list", NFS_SVM, "*", check=0)
    assert cluster_gets(env) == []


@pytest.mark.parametrize("status", [200, 201])
def test_file_clone_job_polled_under_200_201(env, status):
    write_file(env, "images/100/a.raw", b"a" * 100)
    env.ontap.file_clone_status = status
    env.ontap.job_seconds = 1
    r = run(env, "file-clone", VOLUME, "images/100/a.raw:images/100/a2.raw", svm=NFS_SVM,
            check=0)
    assert [o["rc"] for o in r.value] == [0]
    polls = [q for q in env.ontap.requests if q["path"].startswith("/api/cluster/jobs/")]
    assert polls
    with open(env.volume_dir + "/images/100/a2.raw", "rb") as f:
        assert f.read() == b"a" * 100
    # a job that fails under 201 is a failure, not a success
    env.ontap.add_fault("POST", r"/api/storage/file/clone$", "job_fail", code="13565952",
                        message="Clone start failed")
    r = run(env, "file-clone", VOLUME, "images/100/a.raw:images/100/a3.raw", svm=NFS_SVM)
    assert r.rc == 4 and "Clone start failed" in r.stderr, r


def test_cg_add_refused_before_9_12_1(env):
    env.ontap.set_version("9.12.0")
    for v in ("cgv_a", "cgv_b"):
        env.ontap.add_volume(NFS_SVM, v)
    cg = run(env, "cg-create", NFS_SVM, "cg1", "cgv_a", check=0).value
    before = env.ontap.state_summary()
    n0 = len(env.ontap.requests)
    r = run(env, "cg-add", cg["uuid"], "cgv_b")
    assert r.rc == 1, r
    assert "9.12.1" in r.stderr and "9.12.0" in r.stderr
    assert not [q for q in env.ontap.requests[n0:] if q["method"] == "PATCH"]
    assert env.ontap.state_summary() == before


# ------------------------------------------------------------------ NFS: storage unmount

@pytest.mark.parametrize("version", VERSIONS)
def test_unmount_leaves_no_clone_in_recovery_queue(env, version):
    env.ontap.set_version(version)
    r = env.run("--json", "storage", "create", "--storage", "ONTAP01")
    snap = json.loads(ok(r).stdout)["name"]
    ok(env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot", snap))
    n0 = len(env.ontap.requests)
    r = ok(env.run("storage", "unmount", "--storage", "ONTAP01-CLONE"))
    assert len(cluster_gets(env, n0)) == 1
    queue = env.ontap.state_summary()["recovery_queue"]
    if version == "9.11.1":
        # the release cannot do better: the clone waits there, pinning the snapshot, and
        # the user is told so
        assert len(queue) == 1 and queue[0].startswith("proxmox_storage01_clone_")
        assert "recovery queue" in r.stderr and "9.11.1" in r.stderr
        return
    assert "recovery queue" not in r.stderr
    assert queue == []
    # the parent snapshot is free again
    ok(env.run("storage", "delete", "--storage", "ONTAP01", "--snapshot", snap))
    assert env.ontap.snapshots(VOLUME) == []


def test_vm_snapshot_reads_no_version(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 8192)})
    ok(env.run("vm", "create", "--vm", 100))
    assert cluster_gets(env) == []


# ------------------------------------------------------------------ NVMe

@pytest.mark.parametrize("version", ["9.12.1", "9.14.1"])
def test_nvme_delete_leaves_nothing_in_recovery_queue(env, version):
    nvme_setup(env)
    env.ontap.set_version(version)
    env.pve.add_vm(100, base_conf(100))
    create_disk(env, 100)
    create_disk(env, 100)
    n0 = len(env.ontap.requests)
    ok(env.run("nvme", "delete", "--vm", 100, "--disk", 1, "--yes"))
    ok(env.run("nvme", "delete", "--vm", 100, "--disk", 0, "--yes"))
    s = env.ontap.state_summary()
    assert s["recovery_queue"] == []
    assert not [k for k in s["volumes"] if k.startswith(SVM + "/")]
    assert s["namespaces"] == {} and s["consistency_groups"] == {}
    # one version read per run: two runs
    assert len(cluster_gets(env, n0)) == 2
    assert all(q["query"].get("force") == "true" for q in deletes(env, n0))


@pytest.mark.parametrize("version", ["9.11.1", "9.12.0"])
def test_nvme_cg_change_refused_before_9_12_1(env, version):
    nvme_setup(env)
    env.ontap.set_version(version)
    env.pve.add_vm(100, base_conf(100))
    create_disk(env, 100)  # the first disk makes the CG: fine on every release
    before = env.ontap.state_summary()
    r = env.run("nvme", "create", "--vm", 100, "--storage", POOL, "--size", "64M")
    assert r.returncode == 1, r.stderr
    assert "9.12.1" in r.stderr and version in r.stderr and "pve_cg_vm_100" in r.stderr
    assert env.ontap.state_summary() == before
    # a VM with two disks made on 9.12.1 cannot lose one on an older release either
    env.ontap.set_version("9.12.1")
    create_disk(env, 100)
    env.ontap.set_version(version)
    before = env.ontap.state_summary()
    r = env.run("nvme", "delete", "--vm", 100, "--disk", 1, "--yes")
    assert r.returncode == 1 and "9.12.1" in r.stderr, r.stderr
    assert env.ontap.state_summary() == before
