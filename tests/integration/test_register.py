"""How our objects enter and leave PVE VM configs (DESIGN.md "Job queue", "Watcher"):
the register job, unused-remove never deleting a live volume, and FlexClone mounts that
must not leak into VM configs (issue 14 item 6, issue 15 item 5).

PVE deletes the file of an unusedN entry that is deleted (qemu-server try_deallocate_drive
-> vdisk_free): the fake qm does the same, so every test here checks files on disk too.
"""

import json
import os

from test_watcher import STORAGE, queue_files, registers, rescans, run_once, write_job

CLONE = "vm-100-disk-0-snap-daily-20261122T101500Z.raw"
VOLID = "%s:100/%s" % (STORAGE, CLONE)


def write_clone(env, vmid=100, name=CLONE, data=b"c" * 4096):
    path = env.image_path(vmid, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def set_calls(env):
    return [c for c in env.qm_calls() if c[:1] == ["set"]]


# ------------------------------------------------------------------ unused-remove (14.6)

def test_unused_remove_never_deletes_an_entry_whose_file_is_there(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)},
               extra_conf="unused0: %s\n" % VOLID)
    clone = write_clone(env)
    # whatever the job says: deleting unused0 now would deallocate the live clone
    write_job(env, 100, "unused-remove", volid=VOLID)
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    assert set_calls(env) == [], r.stderr
    assert os.path.exists(clone)
    with open(clone, "rb") as f:
        assert f.read() == b"c" * 4096
    assert env.vm_config(100)["unused0"] == VOLID
    assert queue_files(env) == []
    assert "whose file is still there" in r.stderr

    # once the file is gone the same job removes the entry
    os.unlink(clone)
    write_job(env, 100, "unused-remove", volid=VOLID)
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    assert set_calls(env) == [["set", "100", "--delete", "unused0"]], r.stderr
    assert "unused0" not in env.vm_config(100)


def test_unused_remove_with_storage_unmounted_deletes_nothing(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)},
               extra_conf="unused0: %s\n" % VOLID)
    clone = write_clone(env)
    mnt = os.path.join(env.paths["mnt"], STORAGE)
    target = os.readlink(mnt)
    os.unlink(mnt)                            # the NFS mount is gone: the file looks gone
    os.makedirs(mnt)
    try:
        name = write_job(env, 100, "unused-remove", volid=VOLID)
        r = run_once(env)
        assert set_calls(env) == [], r.stderr
        assert env.vm_config(100)["unused0"] == VOLID
        assert "cannot tell whether the file" in r.stderr
        assert r.returncode == 1                 # the job is kept for a later run
        assert queue_files(env) == [name]
    finally:
        os.rmdir(mnt)
        os.symlink(target, mnt)
    assert os.path.exists(clone)


# ------------------------------------------------------------------ register (15.5)

def test_register_job_adds_exactly_that_volume_as_next_free_unused(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)},
               extra_conf="unused0: %s:100/someone-elses.raw\n"
                          "unused2: %s:100/another.raw\n" % (STORAGE, STORAGE))
    write_clone(env)
    # not ours and not asked for: stays out of the config (a qm rescan would add it)
    other = "vm-100-disk-7.raw"
    write_clone(env, name=other)
    write_job(env, 100, "register", volid=VOLID)
    write_job(env, 100, "register", volid=VOLID)   # a duplicate is coalesced
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    assert env.qm_calls() == [["set", "100", "--unused1", VOLID]], r.stderr
    conf = env.vm_config(100)
    assert conf["unused1"] == VOLID
    assert other not in json.dumps(conf)
    assert queue_files(env) == []

    # already in the config, or its file gone: nothing to do, no qm call
    write_job(env, 100, "register", volid=VOLID)
    write_job(env, 100, "register", volid="%s:100/vm-100-disk-0-snap-x-20200101T000000Z.raw"
              % STORAGE)
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    assert len(env.qm_calls()) == 1
    assert queue_files(env) == []


def test_register_job_retries_while_vm_is_locked(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)}, extra_conf="lock: backup")
    write_clone(env)
    name = write_job(env, 100, "register", volid=VOLID)
    r = run_once(env)
    assert r.returncode == 1
    assert queue_files(env) == [name]
    assert "unused0" not in env.vm_config(100)


def _flexclone_of_vm_100(env):
    """`storage mount` of a snapshot holding VM 100's disk: storage ONTAP01-CLONE with
    images/100/vm-100-disk-0.raw on it."""
    r = env.run("--json", "storage", "create", "--storage", STORAGE)
    assert r.returncode == 0, r.stderr
    snap = json.loads(r.stdout)["name"]
    r = env.run("storage", "mount", "--storage", STORAGE, "--snapshot", snap)
    assert r.returncode == 0, r.stderr
    mounted = os.path.join(env.paths["mnt"], "ONTAP01-CLONE", "images", "100",
                           "vm-100-disk-0.raw")
    assert os.path.isfile(mounted)
    return mounted


def test_vm_create_registers_only_its_clones_never_flexclone_images(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096),
                           "scsi1": ("vm-100-disk-1.raw", 4096)})
    _flexclone_of_vm_100(env)
    r = env.run("--json", "vm", "create", "--vm", "100")
    assert r.returncode == 0, r.stderr
    name = json.loads(r.stdout)["name"]
    ours = sorted("%s:100/vm-100-disk-%d-snap-%s.raw" % (STORAGE, i, name) for i in (0, 1))
    assert sorted((j["action"], j["volid"]) for j in env.queue_jobs()) == \
        [("register", v) for v in ours]
    r = run_once(env)
    assert r.returncode == 0, r.stderr
    assert rescans(env) == []
    assert sorted(c[3] for c in registers(env, 100)) == ours
    conf = env.vm_config(100)
    unused = sorted(v for k, v in conf.items() if k.startswith("unused"))
    # exactly our clones: nothing of the FlexClone storage (a qm rescan adds its images)
    assert unused == ours, conf
    assert not [v for v in conf.values() if "ONTAP01-CLONE:" in v], conf
    # so the clone storage can go without leaving dangling entries
    r = env.run("storage", "unmount", "--storage", "ONTAP01-CLONE")
    assert r.returncode == 0, r.stderr
