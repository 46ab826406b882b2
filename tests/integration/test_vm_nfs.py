"""VM snapshots of NFS disks: ONTAP file clones, checked by the bytes on disk (issue 5)."""

import json
import os
import re
import time

NAME_RE = re.compile(r"^(manual|[a-z0-9_]+)-\d{8}T\d{6}Z$")

DISKS = {
    "scsi0": ("vm-100-disk-0.raw", 64 * 1024),
    "virtio1": ("vm-100-disk-1.qcow2", 48 * 1024),
    "efidisk0": ("vm-100-disk-2.raw", 16 * 1024, "efitype=4m,pre-enrolled-keys=1"),
}
CDROM = "ide2: none,media=cdrom\n"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def make_vm(env, **kw):
    return env.add_vm(100, disks=DISKS, extra_conf=CDROM, **kw)


def clone_files(env, vmid=100):
    d = os.path.join(env.paths["mnt"], "ONTAP01", "images", str(vmid))
    return sorted(f for f in os.listdir(d) if "-snap-" in f)


def create(env, *args):
    r = env.run("--json", "vm", "create", "--vm", "100", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_create_list_restore_delete_three_disks(env):
    paths = make_vm(env)
    original = {k: read(p) for k, p in paths.items()}

    snap = create(env, "--label", "daily")
    assert NAME_RE.match(snap["name"]) and snap["label"] == "daily"
    assert sorted(d["disk"] for d in snap["disks"]) == ["efidisk0", "scsi0", "virtio1"]
    assert {d["kind"] for d in snap["disks"]} == {"file-clone"}
    # one clone file per disk, next to it, with the bytes of the disk
    for key, (fname, _size, *_o) in DISKS.items():
        stem, ext = fname.rsplit(".", 1)
        clone = env.image_path(100, "%s-snap-%s.%s" % (stem, snap["name"], ext))
        assert read(clone) == original[key]
    # all clones in one parallel batch: three POSTs to the clone endpoint
    posts = [q for q in env.ontap.requests
             if q["method"] == "POST" and q["path"] == "/api/storage/file/clone"]
    assert len(posts) == 3
    # one register job per clone for the watcher (never a whole-VM rescan, which would
    # add every other storage's images too), nothing done to the VM config by us
    jobs = env.queue_jobs()
    assert sorted((j["vmid"], j["action"], j["volid"]) for j in jobs) == sorted(
        (100, "register", "ONTAP01:100/" + f) for f in clone_files(env))
    assert len(jobs) == 3
    assert env.qm_calls() == []

    r = env.run("--json", "vm", "list", "--vm", "100")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [s["name"] for s in listed] == [snap["name"]]
    assert sorted(d["disk"] for d in listed[0]["disks"]) == ["efidisk0", "scsi0", "virtio1"]
    assert listed[0]["created"].endswith("Z")

    # change every disk, then restore: the bytes come back
    for p in paths.values():
        with open(p, "wb") as f:
            f.write(b"changed after the snapshot")
    r = env.run("vm", "restore", "--vm", "100", "--snapshot", snap["name"])
    assert r.returncode == 2 and "--yes" in r.stderr + r.stdout
    assert read(paths["scsi0"]) == b"changed after the snapshot"
    r = env.run("vm", "restore", "--vm", "100", "--snapshot", snap["name"], "--yes")
    assert r.returncode == 0, r.stderr
    for key, p in paths.items():
        assert read(p) == original[key]
    # the safety snapshot holds the state from before the restore
    r = env.run("--json", "vm", "list", "--vm", "100")
    names = [s["name"] for s in json.loads(r.stdout)]
    pre = [n for n in names if n.startswith("prerestore-")]
    assert len(pre) == 1
    stem = "vm-100-disk-0"
    assert read(env.image_path(100, "%s-snap-%s.raw" % (stem, pre[0]))) == \
        b"changed after the snapshot"

    r = env.run("vm", "delete", "--vm", "100", "--snapshot", snap["name"])
    assert r.returncode == 0, r.stderr
    assert not any(snap["name"] in f for f in clone_files(env))
    removals = [j for j in env.queue_jobs() if j["action"] == "unused-remove"]
    assert sorted(j["volid"] for j in removals) == sorted(
        "ONTAP01:100/%s-snap-%s.%s" % (f.rsplit(".", 1)[0], snap["name"], f.rsplit(".", 1)[1])
        for f, *_ in DISKS.values())


def test_restore_refuses_running_vm(env):
    make_vm(env, status="running")
    snap = create(env)
    r = env.run("vm", "restore", "--vm", "100", "--snapshot", snap["name"], "--yes")
    assert r.returncode == 1
    assert "stop it" in r.stderr


def test_restore_asks_pve_once_beside_ontap(env):
    """The VM's status is read once, from status/current of the node the config's link
    names (no cluster/resources look-up)."""
    make_vm(env)
    snap = create(env)
    before = len(env.pve.requests)
    r = env.run("vm", "restore", "--vm", "100", "--snapshot", snap["name"], "--yes")
    assert r.returncode == 0, r.stderr
    paths = [q["path"] for q in env.pve.requests[before:]]
    assert paths == ["/nodes/pve1/qemu/100/status/current"], paths


def test_unknown_snapshot_and_vm(env):
    make_vm(env)
    r = env.run("vm", "delete", "--vm", "100", "--snapshot", "daily-20200101T000000Z")
    assert r.returncode == 6, r.stderr
    r = env.run("vm", "list", "--vm", "4242")
    assert r.returncode == 6 and "4242" in r.stderr
    r = env.run("vm", "delete", "--vm", "100", "--snapshot", "not-ours")
    assert r.returncode == 2


def test_atomic_rollback_when_second_clone_fails(env):
    make_vm(env)
    before = sorted(os.listdir(os.path.dirname(env.image_path(100, "x"))))
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "job_fail", after=1,
                        code="13565952", message="Clone start failed")
    r = env.run("vm", "create", "--vm", "100")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "Clone start failed" in r.stderr
    after = sorted(os.listdir(os.path.dirname(env.image_path(100, "x"))))
    assert after == before
    assert env.queue_jobs() == []
    # a re-run succeeds
    time.sleep(1.1)
    r = env.run("vm", "create", "--vm", "100")
    assert r.returncode == 0, r.stderr
    assert len(clone_files(env)) == 3


def test_freeze_thawed_when_ontap_fails(env):
    make_vm(env, status="running", agent=True)
    env.ontap.add_fault("POST", r"^/api/storage/file/clone$", "status", status=500,
                        body={"error": {"message": "internal error", "code": "65552"}})
    r = env.run("vm", "create", "--vm", "100", "--quiesce", "freeze")
    assert r.returncode == 4, r.stderr
    vm = env.pve.vm(100)
    assert vm["frozen"] is False
    paths = [q["path"] for q in env.pve.requests]
    assert any(p.endswith("/agent/fsfreeze-freeze") for p in paths)
    assert any(p.endswith("/agent/fsfreeze-thaw") for p in paths)
    assert clone_files(env) == []


def test_freeze_success_order(env):
    make_vm(env, status="running", agent=True)
    snap = create(env, "--quiesce", "freeze")
    assert len(snap["disks"]) == 3
    assert env.pve.vm(100)["frozen"] is False
    order = [q["path"].rsplit("/", 1)[-1] for q in env.pve.requests
             if "/agent/" in q["path"]]
    assert order[0] == "fsfreeze-freeze" and "fsfreeze-thaw" in order


def test_seed_script_commands_unchanged(env):
    """pve-ontap-snapshot.py's own command lines keep working (one-dash options)."""
    make_vm(env, status="running")
    r = env.run("vm", "create", "-vm", "100", "-suspend")
    assert r.returncode == 0, r.stderr
    assert len(clone_files(env)) == 3
    # suspended to disk and resumed again
    assert env.pve.vm(100)["status"] == "running"
    kinds = [q["path"].rsplit("/", 1)[-1] for q in env.pve.requests if "/status/" in q["path"]]
    assert "suspend" in kinds and "resume" in kinds
    r = env.run("storage", "list", "-storage", "ONTAP01")
    assert r.returncode == 0, r.stderr
    assert "NAME" in r.stdout


def test_skips_disks_on_other_storages(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)},
               extra_conf="scsi1: local-lvm:vm-100-disk-1,size=8G\n" + CDROM)
    snap = create(env)
    assert [d["disk"] for d in snap["disks"]] == ["scsi0"]


def test_dry_run_changes_nothing(env):
    make_vm(env)
    r = env.run("--dry-run", "vm", "create", "--vm", "100")
    assert r.returncode == 0, r.stderr
    assert "POST /api/storage/file/clone" in r.stdout
    assert clone_files(env) == []
    assert env.queue_jobs() == []
    assert not [q for q in env.ontap.requests if q["method"] != "GET"]
    assert "s3cr3t" not in r.stdout + r.stderr


def test_seed_script_commands_with_its_ini_config(env):
    """pve-ontap-snapshot.py users switch unchanged: its config.ini format ([proxmox] plus
    one section per storage, no SVM, ticket login) and its one-dash command lines."""
    make_vm(env, status="running")
    ini = os.path.join(env.T, "config.ini")
    paths = "".join("%s = %s\n" % kv for kv in env.paths.items())
    text = ("[proxmox]\nproxmox_host = 127.0.0.1:%d\nproxmox_user = root@pam\n"
            "proxmox_pass = s3cr3t-pve\nproxmox_verify = false\n\n"
            "[ONTAP01]\nhost = 127.0.0.1:%d\nuser = admin\npass = s3cr3t-ontap\n"
            "verify = false\n\n[paths]\n%s" % (env.pve.port, env.ontap.port, paths))
    fd = os.open(ini, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    r = env.run("vm", "create", "-vm", "100", "-suspend", "-config", ini, config=False)
    assert r.returncode == 0, r.stderr
    assert len(clone_files(env)) == 3
    assert env.pve.vm(100)["status"] == "running"
    assert any(q["path"] == "/access/ticket" for q in env.pve.requests)
    r = env.run("storage", "create", "-storage", "ONTAP01", "-config", ini, config=False)
    assert r.returncode == 0, r.stderr
    r = env.run("storage", "list", "-storage", "ONTAP01", "-config", ini, config=False)
    assert r.returncode == 0, r.stderr
    assert "pveontap_manual-" in r.stdout
    # the same file readable by others is refused: it holds passwords
    os.chmod(ini, 0o644)
    r = env.run("storage", "list", "-storage", "ONTAP01", "-config", ini, config=False)
    assert r.returncode == 3 and "config.ini" in r.stderr


def test_snapshot_of_more_than_64_disks_lists_and_deletes_every_one(env):
    # A record holds as many disks as the directory has clones of the VM: here the clones
    # of 70 detached disks (vm-100-disk-<n>, DESIGN.md names) beside the one current disk.
    # Before records grew on demand, a record kept the first 64 and the rest went unseen.
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    snap = create(env)
    extra = ["vm-100-disk-%d-snap-%s.raw" % (i, snap["name"]) for i in range(1, 71)]
    for f in extra:
        with open(env.image_path(100, f), "wb") as fh:
            fh.write(b"x")
    r = env.run("--json", "vm", "list", "--vm", "100")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [s["name"] for s in listed] == [snap["name"]]
    assert sorted(d["disk"] for d in listed[0]["disks"]) == sorted(
        ["scsi0"] + ["vm-100-disk-%d" % i for i in range(1, 71)])
    assert listed[0]["complete"] is True
    r = env.run("vm", "list", "--vm", "100")
    assert r.returncode == 0, r.stderr
    row = r.stdout.splitlines()[1].split()
    assert sorted(row[2].split(",")) == sorted(
        ["scsi0"] + ["vm-100-disk-%d" % i for i in range(1, 71)])

    r = env.run("vm", "delete", "--vm", "100", "--snapshot", snap["name"])
    assert r.returncode == 0, r.stderr
    assert clone_files(env) == []
