"""The volume cache (issue 18 point 2): a VM snapshot of a known volume sends no volume
look-up; a stale entry is dropped and the operation retried once, never making anything
twice; a cache file that is corrupt or not ours is ignored."""

import json
import os
import stat

from conftest import JUNCTION, VOLUME

DISKS = {"scsi0": ("vm-100-disk-0.raw", 32 * 1024), "scsi1": ("vm-100-disk-1.raw", 16 * 1024)}
CLONE = "/api/storage/file/clone"


def cache_path(env):
    return os.path.join(env.paths["state"], "volumes.json")


def cache(env):
    with open(cache_path(env), encoding="utf-8") as f:
        return json.load(f)


def lookups(reqs):
    """Volume look-ups (the collection GET by name or nas.path), each once: a GET that opens
    the connections of the next round is sent on each of them (lib/net/http.c)."""
    seen = []
    for q in reqs:
        if q["method"] == "GET" and q["path"] == "/api/storage/volumes" and q["query"] not in seen:
            seen.append(q["query"])
    return seen


def clone_posts(reqs):
    return [q for q in reqs if q["method"] == "POST" and q["path"] == CLONE]


def create(env, label, *args):
    before = len(env.ontap.requests)
    r = env.run("--json", "vm", "create", "--vm", "100", "--label", label, *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), env.ontap.requests[before:]


def clones(env, label):
    d = os.path.dirname(env.image_path(100, "x"))
    return sorted(f for f in os.listdir(d) if "-snap-%s-" % label in f)


def recreate_volume(env):
    """The volume was deleted and a new one made at the same junction (a new uuid), its
    data put back: the simulator's record is replaced, the directory kept."""
    with env.ontap.lock:
        old = env.ontap._vol_by_name(VOLUME)
        del env.ontap.vols[old.uuid]
    return env.ontap.add_volume("svm1", VOLUME, nas_path=JUNCTION, directory=env.volume_dir)


def test_second_create_sends_no_lookup(env):
    env.add_vm(100, disks=DISKS)
    uuid = env.ontap.volume(VOLUME)["uuid"]
    _snap, reqs = create(env, "one")
    assert len(lookups(reqs)) == 1
    entries = cache(env)["entries"]
    assert [(e["key"], e["uuid"], e["name"], e["svm_name"], e["nas_path"]) for e in entries] == [
        ("export:" + JUNCTION, uuid, VOLUME, "svm1", JUNCTION)]
    assert stat.S_IMODE(os.stat(cache_path(env)).st_mode) == 0o644

    _snap, reqs = create(env, "two")
    assert lookups(reqs) == []
    assert len(clone_posts(reqs)) == 2
    assert reqs[0]["path"] == CLONE  # nothing before the clone round
    assert len(clones(env, "two")) == 2


def test_recreated_volume_one_invalidation_one_retry(env):
    env.add_vm(100, disks=DISKS)
    create(env, "one")
    new_uuid = recreate_volume(env)

    snap, reqs = create(env, "two")
    # the stale clone round failed on the missing volume, the uuid was checked, the
    # volume looked up again, and the clones made once
    posts = clone_posts(reqs)
    assert [q["status"] for q in posts] == [404, 404, 201, 201]
    assert {q["body"]["volume"]["uuid"] for q in posts[2:]} == {new_uuid}
    assert len(lookups(reqs)) == 1
    assert len(clones(env, "two")) == 2
    assert sorted(d["disk"] for d in snap["disks"]) == ["scsi0", "scsi1"]
    assert [e["uuid"] for e in cache(env)["entries"]] == [new_uuid]


def test_recreated_volume_found_before_the_freeze(env):
    """With a guest to freeze, the cached volume is read by uuid first (which opens the
    clone round's connections): a stale entry is found before the guest is frozen, so the
    guest is frozen once and no clone POST goes to the old uuid."""
    env.add_vm(100, disks=DISKS, status="running")
    create(env, "one", "--quiesce", "freeze")
    new_uuid = recreate_volume(env)
    n = len(env.pve.requests)

    _snap, reqs = create(env, "two", "--quiesce", "freeze")
    freezes = [q for q in env.pve.requests[n:] if q["path"].endswith("/agent/fsfreeze-freeze")]
    assert len(freezes) == 1
    posts = clone_posts(reqs)
    assert [q["status"] for q in posts] == [201, 201]
    assert {q["body"]["volume"]["uuid"] for q in posts} == {new_uuid}
    assert len(clones(env, "two")) == 2
    assert env.pve.vm(100)["frozen"] is False
    assert [e["uuid"] for e in cache(env)["entries"]] == [new_uuid]


def test_renamed_volume_name_mismatch_retried(env):
    env.add_vm(100, disks=DISKS)
    create(env, "one")
    with env.ontap.lock:
        env.ontap._vol_by_name(VOLUME).name = "renamed_vol"

    _snap, reqs = create(env, "two")
    posts = clone_posts(reqs)
    assert [q["status"] for q in posts] == [400, 400, 201, 201]
    assert {q["body"]["volume"]["name"] for q in posts[2:]} == {"renamed_vol"}
    assert len(clones(env, "two")) == 2
    assert [e["name"] for e in cache(env)["entries"]] == ["renamed_vol"]


def failed_create(env, status, code, message):
    """A cached volume's clone POSTs are answered status/code: the create fails."""
    env.add_vm(100, disks=DISKS)
    create(env, "one")
    env.ontap.add_fault("POST", "^/api/storage/file/clone$", "status", count=2, status=status,
                        body={"error": {"code": code, "message": message}})
    n = len(env.ontap.requests)
    r = env.run("vm", "create", "--vm", "100", "--label", "two")
    return r, env.ontap.requests[n:]


def test_not_found_from_a_volume_that_is_there_is_not_retried(env):
    """A 404 on the clone while the cached volume still exists (the check finds it): the
    failure stands, nothing is sent again and the entry is kept."""
    r, reqs = failed_create(env, 404, "918235", "volume not found")
    assert r.returncode == 6, r.stderr
    assert len(clone_posts(reqs)) == 2
    assert lookups(reqs) == []
    assert clones(env, "two") == []
    assert [e["uuid"] for e in cache(env)["entries"]] == [env.ontap.volume(VOLUME)["uuid"]]


def test_other_failure_of_a_cached_volume_is_not_retried(env):
    r, reqs = failed_create(env, 400, "13565952", "Clone start failed")
    assert r.returncode == 4, r.stderr
    assert len(clone_posts(reqs)) == 2
    assert [q for q in reqs if q["method"] == "GET"] == []
    assert clones(env, "two") == []


def test_list_and_delete_after_recreation(env):
    env.add_vm(100, disks=DISKS)
    snap, _ = create(env, "one")
    new_uuid = recreate_volume(env)

    r = env.run("--json", "vm", "list", "--vm", "100")
    assert r.returncode == 0, r.stderr
    assert [s["name"] for s in json.loads(r.stdout)] == [snap["name"]]
    assert [e["uuid"] for e in cache(env)["entries"]] == [new_uuid]

    recreate_volume(env)
    r = env.run("vm", "delete", "--vm", "100", "--snapshot", snap["name"])
    assert r.returncode == 0, r.stderr
    assert clones(env, "one") == []


def test_corrupt_cache_file_is_ignored(env):
    env.add_vm(100, disks=DISKS)
    os.makedirs(env.paths["state"], exist_ok=True)
    with open(cache_path(env), "w", encoding="utf-8") as f:
        f.write('{"pve-ontap-volume-cache": 1, "entries": [ {"cluster": ')
    os.chmod(cache_path(env), 0o644)
    _snap, reqs = create(env, "one")
    assert len(lookups(reqs)) == 1
    assert len(clones(env, "one")) == 2
    assert [e["uuid"] for e in cache(env)["entries"]] == [env.ontap.volume(VOLUME)["uuid"]]


def tampered(env, **change):
    create(env, "one")
    doc = cache(env)
    doc["entries"][0].update(change)
    with open(cache_path(env), "w", encoding="utf-8") as f:
        json.dump(doc, f)


def test_entry_for_another_path_is_not_trusted(env):
    """An entry whose junction is not the export (nor above it) is not used."""
    env.add_vm(100, disks=DISKS)
    tampered(env, nas_path="/other")
    _snap, reqs = create(env, "two")
    assert len(lookups(reqs)) == 1
    assert len(clones(env, "two")) == 2


def test_cache_writable_by_others_is_ignored(env):
    env.add_vm(100, disks=DISKS)
    tampered(env, uuid="00000000-0000-0000-0000-000000000000")
    os.chmod(cache_path(env), 0o666)
    _snap, reqs = create(env, "two")
    assert len(lookups(reqs)) == 1
    assert [q["status"] for q in clone_posts(reqs)] == [201, 201]


def test_dry_run_writes_no_cache(env):
    env.add_vm(100, disks=DISKS)
    r = env.run("--dry-run", "vm", "create", "--vm", "100", "--label", "one")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(cache_path(env))


def test_cache_symlink_is_ignored(env):
    env.add_vm(100, disks=DISKS)
    tampered(env, uuid="00000000-0000-0000-0000-000000000000")
    real = os.path.join(env.T, "elsewhere.json")
    os.rename(cache_path(env), real)
    os.symlink(real, cache_path(env))
    _snap, reqs = create(env, "two")
    assert len(lookups(reqs)) == 1
    assert [q["status"] for q in clone_posts(reqs)] == [201, 201]
    assert not os.path.islink(cache_path(env))
