"""Storage (volume) snapshots, SnapRestore and FlexClone mount/unmount (issue 5)."""

import json
import os
import time


def read(path):
    with open(path, "rb") as f:
        return f.read()


def snapshots(env):
    r = env.run("--json", "storage", "list", "--storage", "ONTAP01")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def create(env, label=None):
    args = ["--json", "storage", "create", "--storage", "ONTAP01"]
    if label:
        args += ["--label", label]
    r = env.run(*args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_create_list_show_delete(env):
    s = create(env)
    assert s["name"].startswith("pveontap_manual-")
    assert "storage=ONTAP01" in s["comment"]
    listed = snapshots(env)
    assert [x["name"] for x in listed] == [s["name"]]
    assert set(listed[0]) >= {"name", "created", "comment"}

    r = env.run("--json", "storage", "show", "--storage", "ONTAP01")
    assert r.returncode == 0, r.stderr
    show = json.loads(r.stdout)
    assert show["name"] == "proxmox_storage01" and show["nas_path"] == "/proxmox_storage01"
    # lookup by junction and SVM, never a scan of every volume
    gets = [q for q in env.ontap.requests
            if q["method"] == "GET" and q["path"] == "/api/storage/volumes"]
    assert gets and all(q["query"].get("svm.name") == "svm1" for q in gets)
    assert all("nas.path" in q["query"] or "name" in q["query"] for q in gets)

    r = env.run("storage", "delete", "--storage", "ONTAP01", "--snapshot", s["name"])
    assert r.returncode == 0, r.stderr
    assert snapshots(env) == []
    r = env.run("storage", "delete", "--storage", "ONTAP01", "--snapshot", s["name"])
    assert r.returncode == 6


def test_restore_rewinds_tree_and_drops_newer(env):
    paths = env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 8192)})
    original = read(paths["scsi0"])
    s1 = create(env, "one")
    with open(paths["scsi0"], "wb") as f:
        f.write(b"newer data")
    extra = env.image_path(100, "vm-100-disk-9.raw")
    with open(extra, "wb") as f:
        f.write(b"a disk made later")
    time.sleep(1.1)
    s2 = create(env, "two")

    r = env.run("storage", "restore", "--storage", "ONTAP01", "--snapshot", s1["name"])
    assert r.returncode == 2
    assert s2["name"] in r.stderr          # says which newer snapshots go
    assert "VM 100" in r.stderr            # and which VMs are affected
    assert read(paths["scsi0"]) == b"newer data"

    r = env.run("storage", "restore", "--storage", "ONTAP01", "--snapshot", s1["name"],
                "--yes")
    assert r.returncode == 0, r.stderr
    assert read(paths["scsi0"]) == original
    assert not os.path.exists(extra)
    assert [x["name"] for x in snapshots(env)] == [s1["name"]]


def test_restore_refuses_while_vm_runs(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)}, status="running")
    s1 = create(env)
    r = env.run("storage", "restore", "--storage", "ONTAP01", "--snapshot", s1["name"],
                "--yes")
    assert r.returncode == 1 and "running" in r.stderr
    r = env.run("storage", "restore", "--storage", "ONTAP01", "--snapshot", s1["name"],
                "--yes", "--force")
    assert r.returncode == 0, r.stderr


def test_mount_and_unmount(env):
    paths = env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 8192)})
    original = read(paths["scsi0"])
    s = create(env)
    with open(paths["scsi0"], "wb") as f:
        f.write(b"changed")

    r = env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot", s["name"])
    assert r.returncode == 0, r.stderr
    assert "ONTAP01-CLONE" in r.stdout
    clones = [v for v in env.ontap.volumes() if "_clone_" in v["name"]]
    assert len(clones) == 1
    clone = clones[0]
    assert clone["name"].startswith("proxmox_storage01_clone_")
    storages = env.pve.storages()
    st = storages["ONTAP01-CLONE"] if isinstance(storages, dict) else \
        [x for x in storages if x.get("storage") == "ONTAP01-CLONE"][0]
    assert st["export"] == "/" + clone["name"]
    assert "nconnect=4" in st.get("options", "")
    # the clone holds the snapshot's bytes, the original is untouched
    mounted = os.path.join(env.paths["mnt"], "ONTAP01-CLONE", "images", "100",
                           "vm-100-disk-0.raw")
    assert read(mounted) == original
    assert read(paths["scsi0"]) == b"changed"

    # a second mount under the same id is refused before anything is made
    r = env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot", s["name"])
    assert r.returncode == 1 and "already exists" in r.stderr
    assert len([v for v in env.ontap.volumes() if "_clone_" in v["name"]]) == 1

    # unmount refuses the original storage
    r = env.run("storage", "unmount", "--storage", "ONTAP01")
    assert r.returncode == 1
    assert any(v["name"] == "proxmox_storage01" for v in env.ontap.volumes())

    r = env.run("storage", "unmount", "--storage", "ONTAP01-CLONE")
    assert r.returncode == 0, r.stderr
    assert not [v for v in env.ontap.volumes() if "_clone_" in v["name"]]
    storages = env.pve.storages()
    ids = storages.keys() if isinstance(storages, dict) else [x.get("storage") for x in storages]
    assert "ONTAP01-CLONE" not in ids
    assert not os.path.lexists(os.path.join(env.paths["mnt"], "ONTAP01-CLONE"))
    # junction cleared before the delete
    methods = [(q["method"], q.get("body")) for q in env.ontap.requests
               if q["path"].startswith("/api/storage/volumes/" + clone["uuid"])]
    patch_idx = [i for i, (m, b) in enumerate(methods)
                 if m == "PATCH" and b and b.get("nas", {}).get("path") == ""]
    del_idx = [i for i, (m, _b) in enumerate(methods) if m == "DELETE"]
    assert patch_idx and del_idx and patch_idx[0] < del_idx[0]


def test_mount_failure_in_pve_leaves_no_flexclone(env):
    s = create(env)
    before = env.ontap.state_summary()
    env.pve.add_fault("POST", r"^/api2/json/storage$", "status", status=500,
                      message="storage 'ONTAP01-CLONE' already defined")
    r = env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot", s["name"],
                "--as", "ONTAP01-CLONE")
    assert r.returncode == 4, r.stderr
    assert not [v for v in env.ontap.volumes() if "_clone_" in v["name"]]
    assert env.ontap.state_summary() == before


def test_mount_failure_in_ontap_adds_no_storage(env):
    s = create(env)
    env.ontap.add_fault("POST", r"^/api/storage/volumes$", "job_fail", code="524597",
                        message="Failed to create clone")
    r = env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot", s["name"])
    assert r.returncode == 4
    storages = env.pve.storages()
    ids = storages.keys() if isinstance(storages, dict) else [x.get("storage") for x in storages]
    assert "ONTAP01-CLONE" not in ids


def test_mount_refuses_a_bad_or_too_long_new_id(env):
    """A --as id of bad syntax, or too long for PVE, is a usage error (exit 2) before
    anything is made; a 300-byte one used to be a plain failure (exit 1)."""
    s = create(env)
    before = env.ontap.state_summary()
    for newid in ("9bad", "S" * 65, "S" * 300):
        r = env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot", s["name"],
                    "--as", newid)
        assert r.returncode == 2, (newid[:10], r.returncode, r.stderr)
        assert ("'%s' is not a valid PVE storage id" % newid) in r.stderr, r.stderr
    assert env.ontap.state_summary() == before
    assert not [v for v in env.ontap.volumes() if "_clone_" in v["name"]]


def test_unknown_storage_and_snapshot(env):
    r = env.run("storage", "list", "--storage", "NOPE")
    assert r.returncode == 6
    r = env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot", "nope")
    assert r.returncode == 6


def test_mount_is_for_this_node_only(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 8192)})
    s = create(env)
    r = env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot", s["name"])
    assert r.returncode == 0, r.stderr
    # nodes <this node>: no other node mounts the FlexClone, so none keeps a stale mount
    # of it after the unmount (PVE's DELETE /storage leaves mounts in place)
    cfg = read(os.path.join(env.paths["pve_etc"], "storage.cfg")).decode()
    section = cfg.split("nfs: ONTAP01-CLONE\n", 1)[1].split("\n\n", 1)[0]
    assert "\tnodes pve1\n" in section + "\n", cfg
    assert env.pve.storages()["ONTAP01-CLONE"]["nodes"] == "pve1"
    assert "nodes" not in env.pve.storages()["ONTAP01"]


def test_unmount_refuses_while_a_vm_config_uses_it(env):
    paths = env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 8192)})
    s = create(env)
    r = env.run("storage", "mount", "--storage", "ONTAP01", "--snapshot", s["name"])
    assert r.returncode == 0, r.stderr
    # a VM config refers to a volume on it: refused, nothing removed
    env.add_vm(101, disks={"scsi0": ("vm-101-disk-0.raw", 4096)},
               extra_conf="unused0: ONTAP01-CLONE:100/vm-100-disk-0.raw\n")
    r = env.run("storage", "unmount", "--storage", "ONTAP01-CLONE")
    assert r.returncode == 1, r.stderr
    assert "VM 101: unused0" in r.stderr and "--force" in r.stderr
    assert "ONTAP01-CLONE" in env.pve.storages()
    assert [v for v in env.ontap.volumes() if "_clone_" in v["name"]]
    assert os.path.lexists(os.path.join(env.paths["mnt"], "ONTAP01-CLONE"))

    # --force removes it anyway
    r = env.run("storage", "unmount", "--storage", "ONTAP01-CLONE", "--force")
    assert r.returncode == 0, r.stderr
    assert "ONTAP01-CLONE" not in env.pve.storages()
    assert not [v for v in env.ontap.volumes() if "_clone_" in v["name"]]
    assert not os.path.lexists(os.path.join(env.paths["mnt"], "ONTAP01-CLONE"))
    assert read(paths["scsi0"])
