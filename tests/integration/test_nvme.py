"""NVMe/TCP disks end to end: `nvme create|delete|resize|list|clone|connect|resolve` and VM
snapshots of NVMe disks (one consistency-group snapshot) against the ONTAP simulator, with the
fake nvme-cli standing in for the host (DESIGN.md "Storage kinds", NVMe model)."""

import json
import os
import re
import stat

import pytest

POOL = "NVME01"
SVM = "svm_nvme"
SUBSYS = "pve-nvme"
PORTAL = "127.0.0.2"
HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:6b1e3c52-0d7f-4a0e-9d3b-5f2a7c1e9a10"
MIB = 1 << 20
BYID = "/dev/disk/by-id/nvme-uuid."


# ------------------------------------------------------------------------------ helpers

def nvme_setup(env, lif=True, portals=True):
    env.ontap.add_svm(SVM)
    if lif:
        env.ontap.add_lif(SVM, "nvme_lif1", PORTAL)
    env.nvme_portal(PORTAL)
    etc = os.path.join(env.T, "etc", "nvme")
    os.makedirs(etc, exist_ok=True)
    path = os.path.join(etc, "hostnqn")
    with open(path, "w", encoding="ascii") as f:
        f.write(HOSTNQN + "\n")
    pool = {"ontap": "cluster1", "protocol": "nvme", "svm": SVM, "subsystem": SUBSYS,
            "aggregate": "aggr1", "prefix": "pve_"}
    if portals:
        pool["portals"] = [PORTAL]
    env.config["storages"][POOL] = pool
    env.config["paths"]["hostnqn"] = path
    env.write_config()


def base_conf(vmid, disks=()):
    lines = ["boot: order=scsi0", "cores: 1", "memory: 1024", "name: nvme%d" % vmid,
             "scsihw: virtio-scsi-single"]
    for i, (uuid, size) in enumerate(disks):
        lines.append("scsi%d: %s%s,size=%dM" % (i, BYID, uuid, size // MIB))
    return "\n".join(lines) + "\n"


def ok(r):
    assert r.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout,
                                                                  r.stderr)
    return r


def ns_of(env, volume):
    for n in env.ontap.namespaces_info():
        if n["volume"] == volume:
            return n
    return None


def create_disk(env, vmid, size=64 * MIB):
    r = ok(env.run("--json", "nvme", "create", "--vm", vmid, "--storage", POOL,
                   "--size", "%dM" % (size // MIB)))
    return json.loads(r.stdout)


def appear(env, info):
    """The namespace shows up on this host (the kernel's AEN after the map)."""
    return env.nvme_add_device(info["uuid"], info["namespace"], info["size"], PORTAL)


def write_image(env, uuid, data, offset=0):
    for n in env.ontap.namespaces_info():
        if n["uuid"] == uuid:
            with open(n["image"], "r+b") as f:
                f.seek(offset)
                f.write(data)
            return
    raise AssertionError("no namespace %s" % uuid)


def read_image(env, uuid, n, offset=0):
    for ns in env.ontap.namespaces_info():
        if ns["uuid"] == uuid:
            with open(ns["image"], "rb") as f:
                f.seek(offset)
                return f.read(n)
    raise AssertionError("no namespace %s" % uuid)


def attach_jobs(env):
    return [j for j in env.queue_jobs() if j["action"] == "nvme-attach"]


def clear_queue(env):
    q = env.paths["queue"]
    for name in os.listdir(q):
        os.unlink(os.path.join(q, name))


def pve_objects(env):
    """The pve-ontap part of the ONTAP state: volumes of the pool, namespaces, CGs."""
    s = env.ontap.state_summary()
    return {"volumes": sorted(k for k in s["volumes"] if k.startswith(SVM + "/")),
            "namespaces": sorted(s["namespaces"]),
            "cgs": s["consistency_groups"],
            "maps": {k: v["namespaces"] for k, v in s["subsystems"].items()}}


# ------------------------------------------------------------------------------ lifecycle

def test_lifecycle_two_disks(env):
    nvme_setup(env)
    env.pve.add_vm(100, base_conf(100))

    d0 = create_disk(env, 100)
    d1 = create_disk(env, 100, 96 * MIB)
    assert (d0["disk"], d1["disk"]) == (0, 1)
    assert d0["volume"] == "pve_vm_100_disk_0"
    assert d0["namespace"] == "/vol/pve_vm_100_disk_0/pve_vm_100_disk_0"
    assert d1["size"] == 96 * MIB
    s = env.ontap.state_summary()
    assert s["consistency_groups"]["pve_cg_vm_100"]["volumes"] == [
        "pve_vm_100_disk_0", "pve_vm_100_disk_1"]
    assert s["subsystems"][SUBSYS]["hosts"] == [HOSTNQN]
    assert s["subsystems"][SUBSYS]["namespaces"] == [d0["namespace"], d1["namespace"]]
    vol = s["volumes"][SVM + "/pve_vm_100_disk_0"]
    # headroom: at least 64 MiB above the namespace
    assert vol["size"] >= 64 * MIB + 64 * MIB
    # the volume request carried the pool's options
    posts = [q for q in env.ontap.requests
             if q["method"] == "POST" and q["path"] == "/api/storage/volumes"]
    assert posts[0]["body"]["snapshot_policy"] == {"name": "none"}
    assert posts[0]["body"]["guarantee"] == {"type": "none"}
    assert posts[0]["body"]["autosize"]["mode"] == "grow"
    # attach jobs for the watcher, connect-all to the portal
    assert [j["uuid"] for j in attach_jobs(env)] == [d0["uuid"], d1["uuid"]]
    assert all(j["vmid"] == 100 for j in attach_jobs(env))
    connects = [c for c in env.nvme_calls() if c[0] == "connect-all"]
    assert connects and connects[0][:5] == ["connect-all", "-t", "tcp", "-a", PORTAL]
    assert "-q" in connects[0] and HOSTNQN in connects[0]

    # the devices appear; the watcher would attach them: do as it does
    dev0, dev1 = appear(env, d0), appear(env, d1)
    r = ok(env.run("nvme", "resolve", "--uuid", d0["uuid"]))
    assert r.stdout.strip() == os.path.join(env.paths["dev"], dev0)
    env.pve.add_vm(100, base_conf(100, [(d0["uuid"], d0["size"]), (d1["uuid"], d1["size"])]))
    listed = json.loads(ok(env.run("--json", "nvme", "list", "--vm", 100)).stdout)
    assert sorted((x["disk"], x["device"]) for x in listed) == [
        (0, os.path.join(env.paths["dev"], dev0)), (1, os.path.join(env.paths["dev"], dev1))]
    assert all(x["mapped"] for x in listed)

    # VM snapshot: one CG snapshot covering both disks
    write_image(env, d0["uuid"], b"A" * 4096)
    write_image(env, d1["uuid"], b"a" * 4096)
    snap = json.loads(ok(env.run("--json", "vm", "create", "--vm", 100)).stdout)
    assert re.match(r"^manual-\d{8}T\d{6}Z$", snap["name"])
    assert sorted((d["disk"], d["kind"]) for d in snap["disks"]) == [
        ("scsi0", "cg-snapshot"), ("scsi1", "cg-snapshot")]
    s = env.ontap.state_summary()
    assert s["consistency_groups"]["pve_cg_vm_100"]["snapshots"] == [
        "pveontap_" + snap["name"]]
    cgsnaps = [q for q in env.ontap.requests if q["method"] == "POST"
               and q["path"].endswith("/snapshots") and "consistency-groups" in q["path"]]
    assert len(cgsnaps) == 1
    assert cgsnaps[0]["body"]["comment"] == "pve-ontap vm=100 label=manual phase=manual"
    listed = json.loads(ok(env.run("--json", "vm", "list", "--vm", 100)).stdout)
    assert [x["name"] for x in listed] == [snap["name"]]
    assert sorted(d["disk"] for d in listed[0]["disks"]) == ["scsi0", "scsi1"]

    # grow, never shrink
    ok(env.run("nvme", "resize", "--vm", 100, "--disk", 0, "--size", "128M"))
    assert ns_of(env, "pve_vm_100_disk_0")["size"] == 128 * MIB
    r = env.run("nvme", "resize", "--vm", 100, "--disk", 0, "--size", "64M")
    assert r.returncode == 2 and "shrink" in r.stderr
    patches = [q["path"] for q in env.ontap.requests if q["method"] == "PATCH" and (
        q["path"].startswith("/api/storage/volumes/") or
        q["path"].startswith("/api/storage/namespaces/"))]
    assert patches[0].startswith("/api/storage/volumes/")  # the volume first
    assert patches[1].startswith("/api/storage/namespaces/")

    # the guest writes; restore brings the bytes back (and the size of the snapshot)
    write_image(env, d0["uuid"], b"B" * 4096)
    write_image(env, d1["uuid"], b"b" * 4096)
    r = env.run("vm", "restore", "--vm", 100, "--snapshot", snap["name"])
    assert r.returncode == 2  # needs --yes
    ok(env.run("vm", "restore", "--vm", 100, "--snapshot", snap["name"], "--yes"))
    assert read_image(env, d0["uuid"], 4096) == b"A" * 4096
    assert read_image(env, d1["uuid"], 4096) == b"a" * 4096
    s = env.ontap.state_summary()
    assert s["consistency_groups"]["pve_cg_vm_100"]["snapshots"] == [
        "pveontap_" + snap["name"]]

    # a newer snapshot is not discarded without --force
    env.ontap.job_seconds = 0
    snap2 = json.loads(ok(env.run("--json", "vm", "create", "--vm", 100, "--label", "later"))
                       .stdout)
    r = env.run("vm", "restore", "--vm", 100, "--snapshot", snap["name"], "--yes")
    assert r.returncode == 1 and "newer" in r.stderr and "--force" in r.stderr
    ok(env.run("vm", "delete", "--vm", 100, "--snapshot", snap2["name"]))

    # file-level recovery: FlexClones mapped and handed to the watcher
    clear_queue(env)
    clones = json.loads(ok(env.run("--json", "nvme", "clone", "--vm", 100, "--snapshot",
                                   snap["name"])).stdout)
    suffix = snap["name"].replace("-", "_")
    assert sorted(c["volume"] for c in clones) == [
        "pve_vm_100_disk_0_clone_" + suffix, "pve_vm_100_disk_1_clone_" + suffix]
    assert all(c["clone"] and c["mapped"] for c in clones)
    c0 = [c for c in clones if c["disk"] == 0][0]
    assert c0["uuid"] not in (d0["uuid"], d1["uuid"])
    assert read_image(env, c0["uuid"], 4096) == b"A" * 4096
    assert sorted(j["uuid"] for j in attach_jobs(env)) == sorted(c["uuid"] for c in clones)
    assert sorted(pve_objects(env)["maps"][SUBSYS]) == sorted(
        [d0["namespace"], d1["namespace"]] + [c["namespace"] for c in clones])

    # deleting the snapshot takes its clones first (they pin the member snapshots)
    ok(env.run("vm", "delete", "--vm", 100, "--snapshot", snap["name"]))
    objs = pve_objects(env)
    assert objs["volumes"] == [SVM + "/pve_vm_100_disk_0", SVM + "/pve_vm_100_disk_1"]
    # the refused restore above left its safety snapshot, nothing else is there
    assert [x for x in objs["cgs"]["pve_cg_vm_100"]["snapshots"]
            if not x.startswith("pveontap_prerestore-")] == []

    # nvme delete: --yes needed; refused while the VM runs with the disk attached
    r = env.run("nvme", "delete", "--vm", 100, "--disk", 0)
    assert r.returncode == 2
    env.pve.add_vm(100, base_conf(100, [(d0["uuid"], d0["size"]), (d1["uuid"], d1["size"])]),
                   status="running")
    r = env.run("nvme", "delete", "--vm", 100, "--disk", 0, "--yes")
    assert r.returncode == 1 and "running" in r.stderr
    assert ns_of(env, "pve_vm_100_disk_0") is not None
    env.pve.add_vm(100, base_conf(100, [(d0["uuid"], d0["size"]), (d1["uuid"], d1["size"])]))
    clear_queue(env)
    ok(env.run("nvme", "delete", "--vm", 100, "--disk", 0, "--yes"))
    ok(env.run("nvme", "delete", "--vm", 100, "--disk", 1, "--yes"))
    jobs = env.queue_jobs()
    assert sorted((j["action"], j["volid"]) for j in jobs) == sorted(
        [("unused-remove", BYID + d0["uuid"]), ("unused-remove", BYID + d1["uuid"])])
    objs = pve_objects(env)
    assert objs == {"volumes": [], "namespaces": [], "cgs": {}, "maps": {SUBSYS: []}}
    r = env.run("nvme", "delete", "--vm", 100, "--disk", 1, "--yes")
    assert r.returncode == 6


def test_dry_run_changes_nothing(env):
    nvme_setup(env)
    env.pve.add_vm(100, base_conf(100))
    ok(env.run("nvme", "connect", "--storage", POOL))
    before = env.ontap.state_summary()
    r = ok(env.run("--dry-run", "nvme", "create", "--vm", 100, "--storage", POOL,
                   "--size", "1G"))
    assert "POST /api/storage/volumes" in r.stdout
    assert "nvme-attach" in r.stdout
    assert env.ontap.state_summary() == before
    assert env.queue_jobs() == []


# ------------------------------------------------------------------------------ teardown

# Each mutating request of a create, in order; a failure at any of them leaves nothing.
CREATE_STEPS_NEW_CG = [
    ("POST", r"^/api/storage/volumes$"),
    ("POST", r"^/api/storage/namespaces$"),
    ("POST", r"^/api/protocols/nvme/subsystem-maps$"),
    ("POST", r"^/api/application/consistency-groups$"),
]


@pytest.mark.parametrize("method,path", CREATE_STEPS_NEW_CG)
def test_create_failure_tears_down_new_cg(env, method, path):
    nvme_setup(env)
    env.pve.add_vm(100, base_conf(100))
    ok(env.run("nvme", "connect", "--storage", POOL))  # subsystem and host entry exist
    before = env.ontap.state_summary()
    env.ontap.add_fault(method, path, "status", status=500,
                        body={"error": {"message": "injected", "code": "65552"}})
    r = env.run("nvme", "create", "--vm", 100, "--storage", POOL, "--size", "64M")
    assert r.returncode == 4, r.stderr
    assert "cannot create disk 0 of VM 100" in r.stderr and "injected" in r.stderr
    assert env.ontap.state_summary() == before
    assert attach_jobs(env) == []


@pytest.mark.parametrize("method,path", CREATE_STEPS_NEW_CG[:3] + [
    ("PATCH", r"^/api/application/consistency-groups/[^/]+$")])
def test_create_failure_tears_down_existing_cg(env, method, path):
    nvme_setup(env)
    env.pve.add_vm(100, base_conf(100))
    create_disk(env, 100)
    clear_queue(env)
    before = env.ontap.state_summary()
    env.ontap.add_fault(method, path, "status", status=500,
                        body={"error": {"message": "injected", "code": "65552"}})
    r = env.run("nvme", "create", "--vm", 100, "--storage", POOL, "--size", "64M")
    assert r.returncode == 4, r.stderr
    assert env.ontap.state_summary() == before
    assert attach_jobs(env) == []


@pytest.mark.parametrize("method,path", [
    ("POST", r"^/api/protocols/nvme/subsystems$"),
    ("POST", r"^/api/protocols/nvme/subsystems/[^/]+/hosts$"),
])
def test_create_failure_in_pool_setup_makes_no_disk(env, method, path):
    nvme_setup(env)
    env.pve.add_vm(100, base_conf(100))
    env.ontap.add_fault(method, path, "status", status=500,
                        body={"error": {"message": "injected", "code": "65552"}})
    r = env.run("nvme", "create", "--vm", 100, "--storage", POOL, "--size", "64M")
    assert r.returncode == 4, r.stderr
    objs = pve_objects(env)
    assert objs["volumes"] == [] and objs["namespaces"] == [] and objs["cgs"] == {}


# ------------------------------------------------------------------------------ host side

def test_resolution_strategies(env):
    nvme_setup(env)
    env.pve.add_vm(100, base_conf(100))
    d0 = create_disk(env, 100)
    dev = appear(env, d0)
    want = os.path.join(env.paths["dev"], dev)
    assert not re.search(r"c\d+n", dev)

    def resolve():
        before = len(env.nvme_calls())
        r = ok(env.run("--json", "nvme", "resolve", "--uuid", d0["uuid"].upper()))
        doc = json.loads(r.stdout)
        return doc["device"], doc["found_by"], [c[:2] for c in env.nvme_calls()[before:]]

    # 1: sysfs uuid, no nvme-cli at all; the hidden path device is never the answer
    assert resolve() == (want, "sysfs", [])
    # 1b: nguid when the uuid attribute is missing
    sysdir = os.path.join(env.paths["sysfs"], "class", "block", dev)
    os.unlink(os.path.join(sysdir, "uuid"))
    assert resolve() == (want, "sysfs", [])
    # 2: the NetApp plugin (text before the JSON); the fake re-creates sysfs afterwards
    os.unlink(os.path.join(sysdir, "nguid"))
    if os.path.exists(os.path.join(sysdir, "uuid")):
        os.unlink(os.path.join(sysdir, "uuid"))
    assert resolve() == (want, "ontapdevices", [["netapp", "ontapdevices"]])
    # 3: nvme-cli without the NetApp plugin
    real = env.paths["nvme"]
    wrapper = os.path.join(env.T, "bin", "nvme-noplugin")
    with open(wrapper, "w", encoding="ascii") as f:
        f.write('#!/bin/sh\n[ "$1" = netapp ] && { echo "ERROR: Invalid sub-command" >&2; '
                'exit 1; }\nexec %s "$@"\n' % real)
    os.chmod(wrapper, 0o755)
    env.config["paths"]["nvme"] = wrapper
    env.write_config()
    for a in ("uuid", "nguid"):
        p = os.path.join(sysdir, a)
        if os.path.exists(p):
            os.unlink(p)
    got = resolve()
    assert got[:2] == (want, "nvme-list")
    assert got[2] == [["list", "-o"]]  # the wrapper refused "netapp" before the fake ran
    # unknown namespace: exit 6 with the reasons
    env.nvme_remove_device(d0["uuid"])
    r = env.run("nvme", "resolve", "--uuid", d0["uuid"])
    assert r.returncode == 6 and "connected" in r.stderr


def test_connect_discovers_lifs_and_reports_dead_portals(env):
    nvme_setup(env, portals=False)
    env.ontap.add_lif(SVM, "nvme_lif_down", "127.0.0.9", state="down")
    r = ok(env.run("nvme", "connect", "--storage", POOL))
    assert "1 portal" in r.stdout
    addrs = [c[4] for c in env.nvme_calls() if c[0] == "connect-all"]
    assert addrs == [PORTAL]  # the LIF that is down is not tried
    # connecting again: "already connected" counts
    ok(env.run("nvme", "connect", "--storage", POOL))
    # no portal answers: a clear error
    env.nvme_portal(PORTAL, reachable=False)
    r = env.run("nvme", "connect", "--storage", POOL)
    assert r.returncode == 1 and "no NVMe/TCP portal answered" in r.stderr
    assert PORTAL in r.stderr


def test_connect_persists_portals_for_boot(env):
    """nvmf-autoconnect.service runs "nvme connect-all", which reads one discovery controller
    per line of discovery.conf (nvme-cli fabrics.c discover_from_conf_file)."""
    nvme_setup(env, portals=False)
    env.ontap.add_lif(SVM, "nvme_lif2", "127.0.0.3")
    env.nvme_portal("127.0.0.3")
    conf = os.path.join(env.T, "etc", "nvme", "discovery.conf")
    mine = "--transport=tcp --traddr=%s --trsvcid=8009\n"
    with open(conf, "w", encoding="ascii") as f:
        # another controller and a comment stay; a line naming one of ours in another
        # form counts as ours
        f.write("# site\n--transport=tcp --traddr=192.0.2.7 --trsvcid=8009\n"
                "-t tcp -a 127.0.0.3\n")
    ok(env.run("nvme", "connect", "--storage", POOL))
    ok(env.run("nvme", "connect", "--storage", POOL))
    with open(conf, encoding="ascii") as f:
        assert f.read() == ("# site\n--transport=tcp --traddr=192.0.2.7 --trsvcid=8009\n"
                            "-t tcp -a 127.0.0.3\n" + mine % PORTAL)
    os.unlink(conf)
    ok(env.run("nvme", "connect", "--storage", POOL))
    ok(env.run("nvme", "connect", "--storage", POOL))
    with open(conf, encoding="ascii") as f:
        assert f.read() == mine % PORTAL + mine % "127.0.0.3"
    assert [n for n in os.listdir(os.path.dirname(conf)) if n != "hostnqn"] == [
        "discovery.conf"]  # no temporary file left
    # a dry run writes nothing and says what it would add
    os.unlink(conf)
    r = ok(env.run("--dry-run", "nvme", "connect", "--storage", POOL))
    assert not os.path.exists(conf) and "discovery.conf" in r.stdout


def test_hostnqn_from_nvme_cli_without_file(env):
    """No <nvme_etc>/hostnqn (nvme-cli never wrote it): the NQN nvme-cli uses itself, from
    "nvme show-hostnqn" through paths.nvme."""
    nvme_setup(env)
    os.unlink(os.path.join(env.T, "etc", "nvme", "hostnqn"))
    del env.config["paths"]["hostnqn"]  # the default: <paths.nvme_etc>/hostnqn
    env.write_config()
    ok(env.run("nvme", "connect", "--storage", POOL))
    calls = env.nvme_calls()
    assert ["show-hostnqn"] in calls
    connect = [c for c in calls if c[0] == "connect-all"][0]
    with open(os.path.join(env.T, "nvme-state.json"), encoding="utf-8") as f:
        fake_nqn = json.load(f)["hostnqn"]
    assert connect[connect.index("-q") + 1] == fake_nqn
    assert env.ontap.state_summary()["subsystems"][SUBSYS]["hosts"] == [fake_nqn]
    # the file, once there, wins
    with open(os.path.join(env.T, "etc", "nvme", "hostnqn"), "w", encoding="ascii") as f:
        f.write(HOSTNQN + "\n")
    n = len(env.nvme_calls())
    ok(env.run("nvme", "connect", "--storage", POOL))
    assert ["show-hostnqn"] not in env.nvme_calls()[n:]
    assert sorted(env.ontap.state_summary()["subsystems"][SUBSYS]["hosts"]) == sorted(
        [fake_nqn, HOSTNQN])


def test_hostnqn_is_validated(env):
    nvme_setup(env)
    with open(env.config["paths"]["hostnqn"], "w", encoding="ascii") as f:
        f.write("not-an-nqn\n")
    env.pve.add_vm(100, base_conf(100))
    before = env.ontap.state_summary()
    r = env.run("nvme", "create", "--vm", 100, "--storage", POOL, "--size", "64M")
    assert r.returncode == 3 and "NQN" in r.stderr
    assert env.ontap.state_summary() == before


# ------------------------------------------------------------------------------ mixed VM

def test_mixed_nfs_and_nvme_vm_one_snapshot(env):
    nvme_setup(env)
    paths = env.add_vm(101, disks={"scsi0": ("vm-101-disk-0.raw", 8192)})
    d = create_disk(env, 101)
    conf = open(os.path.join(env.paths["pve_etc"], "qemu-server", "101.conf"),
                encoding="utf-8").read()
    conf = conf.replace("scsihw:", "scsi1: %s%s,size=64M\nscsihw:" % (BYID, d["uuid"]), 1)
    env.pve.add_vm(101, conf)
    write_image(env, d["uuid"], b"N" * 4096)
    snap = json.loads(ok(env.run("--json", "vm", "create", "--vm", 101)).stdout)
    assert sorted((x["disk"], x["kind"]) for x in snap["disks"]) == [
        ("scsi0", "file-clone"), ("scsi1", "cg-snapshot")]
    listed = json.loads(ok(env.run("--json", "vm", "list", "--vm", 101)).stdout)
    assert len(listed) == 1 and len(listed[0]["disks"]) == 2
    # both halves come back
    with open(paths["scsi0"], "r+b") as f:
        f.write(b"changed!")
    write_image(env, d["uuid"], b"M" * 4096)
    ok(env.run("vm", "restore", "--vm", 101, "--snapshot", snap["name"], "--yes"))
    assert read_image(env, d["uuid"], 4096) == b"N" * 4096
    with open(paths["scsi0"], "rb") as f:
        assert f.read(8) != b"changed!"
    ok(env.run("vm", "delete", "--vm", 101, "--snapshot", snap["name"]))
    assert pve_objects(env)["cgs"]["pve_cg_vm_101"]["snapshots"] == []


def test_help_and_usage(env):
    nvme_setup(env)
    r = ok(env.run("nvme", "create", "--help"))
    assert "consistency group" in r.stdout + r.stderr
    r = env.run("nvme", "create", "--vm", 100, "--storage", POOL)
    assert r.returncode == 2
    r = env.run("nvme", "create", "--vm", 100, "--storage", "ONTAP01", "--size", "1G")
    assert r.returncode == 3
    r = env.run("nvme", "resolve", "--uuid", "nope")
    assert r.returncode == 2
    assert stat.S_IMODE(os.stat(env.config_path).st_mode) == 0o600
