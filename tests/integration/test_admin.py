"""What an administrator touches first: install-hook, doctor, --help, the manual page and the
bash completion."""

import json
import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import REPO, binary

NONROOT = {"PVE_ONTAP_ALLOW_NONROOT": "1"}
# the page as the build makes it from install/pve-ontap.8.in (next to the binary)
MAN = os.path.join(os.path.dirname(os.path.abspath(binary())), "pve-ontap.8")
COMPLETION = os.path.join(REPO, "install", "pve-ontap.bash-completion")
DESIGN = os.path.join(os.path.dirname(REPO), "shared", "DESIGN.md")
SYSTEMD = os.path.isdir("/run/systemd/system")

# DESIGN.md "Command line (contract)", in case ../shared is not next to the checkout.
VERBS = [
    "vm create", "vm list", "vm delete", "vm restore",
    "storage create", "storage list", "storage show", "storage delete", "storage restore",
    "storage mount", "storage unmount",
    "nvme create", "nvme delete", "nvme resize", "nvme list", "nvme clone", "nvme connect",
    "nvme resolve", "policy check", "policy show", "watch", "install-hook", "doctor", "hook",
]
CONFIG_KEYS = [
    "host", "port", "token", "user", "password", "password_file", "verify", "ca_file",
    "fingerprint", "ontap", "protocol", "svm", "volume", "subsystem", "aggregate", "prefix",
    "encryption", "space_reserve", "qos_policy", "adaptive_qos_policy", "tiering_policy",
    "snapshot_reserve", "portals", "pve_etc", "policies", "queue", "state", "lock", "mnt",
    "dev", "sysfs", "qm", "nvme", "hostnqn", "snippets", "reconcile",
]
POLICY_KEYS = ["snapshots", "on", "schedule", "label", "keep", "min_interval", "quiesce", "disks",
               "include", "exclude", "register", "on_error", "timeout", "skip_on_migration"]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def man_text():
    """The manual page as a reader sees it (roff escapes removed)."""
    with open(MAN, encoding="utf-8") as f:
        raw = f.read()
    text = raw.replace("\\-", "-").replace("\\&", "")
    text = re.sub(r"\\f[BIRP]", "", text)
    return re.sub(r"^\.[A-Z]+ ?", "", text, flags=re.M)


def lines(out, word):
    return [line for line in out.splitlines() if line.startswith(word)]


# ---------------------------------------------------------------------------- install-hook

def test_install_hook_copies_binary_and_sets_hookscript(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    r = env.run("install-hook", "--vm", "100", env=NONROOT)
    assert r.returncode == 0, r.stderr
    dst = os.path.join(env.T, "var", "lib", "vz", "snippets", "pve-ontap")
    assert os.access(dst, os.X_OK)
    assert os.stat(dst).st_mode & 0o777 == 0o755
    assert read(dst) == read(binary())
    # nothing left behind from the atomic copy
    assert os.listdir(os.path.dirname(dst)) == ["pve-ontap"]
    assert ["set", "100", "--hookscript", "local:snippets/pve-ontap"] in env.qm_calls()
    assert env.vm_config(100)["hookscript"] == "local:snippets/pve-ontap"
    # the output explains the two things that surprise people
    assert "root@pam" in r.stdout
    assert "every node" in r.stdout


def test_install_hook_replaces_a_running_copy_atomically(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    dst = os.path.join(env.T, "var", "lib", "vz", "snippets", "pve-ontap")
    with open(dst, "wb") as f:
        f.write(b"#!/bin/sh\nexit 0\n")
    os.chmod(dst, 0o700)
    old_ino = os.stat(dst).st_ino
    r = env.run("install-hook", "--vm", "100", env=NONROOT)
    assert r.returncode == 0, r.stderr
    st = os.stat(dst)
    assert st.st_ino != old_ino  # renamed into place, never rewritten in place
    assert read(dst) == read(binary()) and st.st_mode & 0o777 == 0o755


def test_install_hook_dry_run_and_errors(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    dst = os.path.join(env.T, "var", "lib", "vz", "snippets", "pve-ontap")
    r = env.run("--dry-run", "install-hook", "--vm", "100", env=NONROOT)
    assert r.returncode == 0, r.stderr
    assert "qm" in r.stdout and "local:snippets/pve-ontap" in r.stdout
    assert not os.path.exists(dst) and env.qm_calls() == []

    r = env.run("install-hook", "--vm", "100", "--snippets", "nosuch", env=NONROOT)
    assert r.returncode == 6, r.stderr
    assert "nosuch" in r.stderr
    r = env.run("install-hook", "--vm", "4242", env=NONROOT)
    assert r.returncode == 6 and "4242" in r.stderr
    r = env.run("install-hook", env=NONROOT)
    assert r.returncode == 2 and "--vm" in r.stderr
    assert env.qm_calls() == []


def test_install_hook_reports_qm_failure(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    env.qm_faults([{"match": ["set"], "exit": 255,
                    "stderr": "only root can set 'hookscript' config\n"}])
    r = env.run("install-hook", "--vm", "100", env=NONROOT)
    assert r.returncode == 1
    assert "only root" in r.stderr and "root@pam" in r.stderr


# ---------------------------------------------------------------------------------- doctor

def test_doctor_passes_against_the_simulators(env):
    r = env.run("doctor", timeout=120)
    out = r.stdout
    for line in out.splitlines()[:-1]:
        assert re.match(r"^(ok  |warn|FAIL) ", line), line
    fails = lines(out, "FAIL")
    if SYSTEMD:  # the watcher line depends on the host running pve-ontap-watch
        fails = [f for f in fails if "watcher" not in f]
    else:
        assert r.returncode == 0, out + r.stderr
        assert "checks passed" in out
    assert fails == []
    oks = "\n".join(lines(out, "ok"))
    for what in ("config", "PVE API reachable", "PVE API TLS", "PVE API credentials",
                 "PVE version 9", "ONTAP cluster 'cluster1' reachable",
                 "ONTAP cluster 'cluster1' TLS", "ONTAP cluster 'cluster1' credentials",
                 "ONTAP cluster 'cluster1' version",
                 "storage 'ONTAP01' (NFS) is volume 'proxmox_storage01'",
                 "queue directory"):
        assert what in oks, (what, out)
    # the probe for TLS is sent without credentials; nothing is changed on ONTAP
    assert all(q["method"] == "GET" for q in env.ontap.requests)
    assert env.qm_calls() == []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_doctor_fails_when_ontap_is_unreachable(env):
    env.config["ontap"]["cluster1"]["port"] = free_port()
    env.write_config()
    r = env.run("doctor", timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    fails = lines(r.stdout, "FAIL")
    assert any("ONTAP cluster 'cluster1' reachable" in f for f in fails), r.stdout
    # storages on it are not checked again (no second timeout), PVE still is
    assert any("storage 'ONTAP01'" in w and "not checked" in w
               for w in lines(r.stdout, "warn")), r.stdout
    assert any("PVE API credentials" in o for o in lines(r.stdout, "ok")), r.stdout
    assert "checks failed" in r.stderr


def test_doctor_fails_on_a_wrong_password(env):
    with open(os.path.join(env.T, "ontap.pw"), "w", encoding="utf-8") as f:
        f.write("not-the-password\n")
    r = env.run("doctor", timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    fails = lines(r.stdout, "FAIL")
    assert any("ONTAP cluster 'cluster1' credentials" in f for f in fails), r.stdout
    # TLS itself was fine
    assert any("ONTAP cluster 'cluster1' TLS" in o for o in lines(r.stdout, "ok"))
    assert "not-the-password" not in r.stdout + r.stderr


def test_doctor_fails_on_a_wrong_pve_token_and_a_bad_ca(env):
    env.config["pve"]["token"] = env.pve.token.rsplit("=", 1)[0] + "=wrong-secret"
    env.config["ontap"]["cluster1"]["ca_file"] = os.path.join(env.T, "nosuch-ca.pem")
    env.write_config()
    r = env.run("doctor", timeout=120)
    assert r.returncode == 1
    fails = lines(r.stdout, "FAIL")
    assert any("PVE API credentials" in f for f in fails), r.stdout
    assert any("ONTAP cluster 'cluster1' TLS" in f for f in fails), r.stdout
    assert "wrong-secret" not in r.stdout + r.stderr


def test_doctor_reports_a_config_that_does_not_load(env):
    with open(env.config_path, "a", encoding="utf-8") as f:
        f.write("bogus_key: 1\n")
    r = env.run("doctor")
    assert r.returncode == 1
    fail = lines(r.stdout, "FAIL")
    assert len(fail) == 1 and "bogus_key" in fail[0], r.stdout


def test_doctor_flags_a_writable_config_and_a_bad_policy(env):
    os.chmod(env.config_path, 0o622)
    env.write_policy(100, "snapshots:\n  - on: [pre-stop]\n    label: Bad!\n")
    r = env.run("doctor", timeout=120)
    assert r.returncode == 1
    fails = "\n".join(lines(r.stdout, "FAIL"))
    assert "writable by group or others" in fails
    assert "100.yaml" in fails


PVE_LVM_CONF = """# lvm.conf as pve-manager's postinst leaves it
devices {
	# added by pve-manager to avoid scanning ZFS zvols and Ceph rbds
	global_filter=["r|/dev/zd.*|","r|/dev/rbd.*|"]
}
"""
NVME_REJECT = '"r|/dev/disk/by-id/nvme-uuid.*|"'


def write_lvm_conf(env, text):
    path = env.config["paths"]["lvm_conf"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def lvm_lines(out):
    return [line for line in out.splitlines() if line[5:].startswith("LVM:")]


def test_doctor_lvm_global_filter(env):
    from test_nvme import nvme_setup
    nvme_setup(env)
    write_lvm_conf(env, PVE_LVM_CONF)
    r = env.run("doctor", timeout=120)
    assert r.returncode == 1
    fix = 'global_filter=[%s,"r|/dev/zd.*|","r|/dev/rbd.*|"]' % NVME_REJECT
    (line,) = lvm_lines(r.stdout)
    assert line.startswith("FAIL") and line.endswith("section: " + fix), line
    # that line makes it pass
    write_lvm_conf(env, "devices {\n  " + fix + "\n}\n")
    (line,) = lvm_lines(env.run("doctor", timeout=120).stdout)
    assert line.startswith("ok"), line
    # a catch-all accept still lets LVM take the kernel name /dev/nvmeXnY
    write_lvm_conf(env, 'devices {\n global_filter = [ %s, "a|.*|" ]\n}\n' % NVME_REJECT)
    (line,) = lvm_lines(env.run("doctor", timeout=120).stdout)
    assert line.startswith("FAIL") and "kernel names" in line, line
    # none at all (a commented-out one does not count)
    write_lvm_conf(env, "devices {\n # global_filter = [ %s ]\n}\n" % NVME_REJECT)
    (line,) = lvm_lines(env.run("doctor", timeout=120).stdout)
    assert line.startswith("FAIL") and line.endswith("global_filter=[%s]" % NVME_REJECT), line


def test_doctor_and_nvme_list_name_orphans(env):
    from test_nvme import SVM, base_conf, create_disk, nvme_setup
    nvme_setup(env)
    for vmid in (100, 105):
        env.pve.add_vm(vmid, base_conf(vmid))
        create_disk(env, vmid)
    # qm destroy 105: the config goes, the raw-path disk's ONTAP objects stay
    os.unlink(os.path.join(env.paths["pve_etc"], "nodes", "pve1", "qemu-server", "105.conf"))
    # VM 106 lives on another node; 107 is gone and left a recovery clone
    other = os.path.join(env.paths["pve_etc"], "nodes", "pve2", "qemu-server")
    os.makedirs(other)
    with open(os.path.join(other, "106.conf"), "w", encoding="utf-8") as f:
        f.write(base_conf(106))
    env.ontap.add_volume(SVM, "pve_vm_106_disk_0")
    env.ontap.add_volume(SVM, "pve_vm_107_disk_2_clone_daily_20261122T101500Z")
    env.ontap.add_volume(SVM, "pve_vm_108_data")  # not a name of ours: never an orphan
    write_lvm_conf(env, "devices {\n global_filter=[%s]\n}\n" % NVME_REJECT)
    before = env.ontap.state_summary()
    r = env.run("--json", "nvme", "list", "--orphans")
    assert r.returncode == 0, r.stderr
    got = [(o["kind"], o["vmid"], o["name"]) for o in json.loads(r.stdout)]
    assert got == [("volume", 105, "pve_vm_105_disk_0"),
                   ("consistency-group", 105, "pve_cg_vm_105"),
                   ("volume", 107, "pve_vm_107_disk_2_clone_daily_20261122T101500Z")]
    r = env.run("nvme", "list", "--orphans")
    assert r.returncode == 0 and "pve_cg_vm_105" in r.stdout and "vm_100" not in r.stdout
    r = env.run("doctor", timeout=120)
    warns = [w for w in lines(r.stdout, "warn") if "has no config on any node" in w]
    assert len(warns) == 3, r.stdout
    assert "volume 'pve_vm_105_disk_0' belongs to VM 105" in warns[0]
    assert "consistency-group 'pve_cg_vm_105'" in warns[1]
    assert "VM 107" in warns[2]
    assert env.ontap.state_summary() == before  # nothing was removed
    # without the cluster's configs every VM would look gone: refused
    shutil.rmtree(os.path.join(env.paths["pve_etc"], "nodes"))
    r = env.run("nvme", "list", "--orphans")
    assert r.returncode == 1 and "cannot tell which VMs exist" in r.stderr


def test_doctor_json(env):
    r = env.run("--json", "doctor", timeout=120)
    import json
    doc = json.loads(r.stdout)
    assert doc["failed"] == len([c for c in doc["checks"] if c["status"] == "FAIL"])
    assert doc["ok"] >= 10


# ------------------------------------------------------------------------------------ help

def run_plain(*args):
    exe = binary()
    if not os.access(exe, os.X_OK):
        pytest.fail("pve-ontap not built")
    e = dict(os.environ)
    e.pop("PVE_ONTAP_CONFIG", None)
    e["LC_ALL"] = "C"
    return subprocess.run([exe] + list(args), capture_output=True, text=True, env=e,
                          timeout=30)


def test_help_is_real_help():
    r = run_plain("--help")
    assert r.returncode == 0
    for obj in ("vm", "storage", "policy", "watch", "install-hook", "doctor", "hook"):
        assert re.search(r"^  %s\s" % re.escape(obj), r.stdout, re.M), (obj, r.stdout)
    assert "--config" in r.stdout and "Exit status" in r.stdout

    r = run_plain("vm", "--help")
    assert r.returncode == 0
    for verb in ("create", "list", "delete", "restore"):
        assert "vm %s" % verb in r.stdout

    r = run_plain("vm", "create", "--help")
    assert r.returncode == 0
    assert "usage: pve-ontap vm create --vm ID" in r.stdout
    for opt in ("--label", "--quiesce", "--suspend", "--shutdown"):
        assert opt in r.stdout
    assert "file clone" in r.stdout  # what it does, not only the options

    r = run_plain("install-hook", "--help")
    assert r.returncode == 0 and "root@pam" in r.stdout and "--snippets" in r.stdout
    r = run_plain("doctor", "--help")
    assert r.returncode == 0 and "9.10.1" in r.stdout


# ---------------------------------------------------------------------- man page, completion

def design_verbs():
    if not os.path.exists(DESIGN):
        return VERBS
    with open(DESIGN, encoding="utf-8") as f:
        text = f.read()
    found = set(re.findall(r"^pve-ontap \[global\] ([a-z-]+(?: [a-z]+)?)", text, re.M))
    found = {v if v.split()[0] in ("vm", "storage", "nvme", "policy") else v.split()[0]
             for v in found}
    return sorted(found | {"hook"})


def test_man_page_documents_every_verb_key_and_exit_status():
    text = man_text()
    verbs = design_verbs()
    assert "vm create" in verbs and "nvme resolve" in verbs
    for verb in verbs:
        assert verb in text, verb
    for key in CONFIG_KEYS + POLICY_KEYS:
        assert re.search(r"\b%s\b" % re.escape(key), text), key
    exit_section = text.split("EXIT STATUS", 1)[1].split("EXAMPLES", 1)[0]
    for status in range(7):
        assert re.search(r"^%d$" % status, exit_section, re.M), status
    for path in ("/usr/sbin/pve-ontap", "/lib/systemd/system/pve-ontap-watch.service",
                 "/var/lib/pve-ontap/queue", "/etc/pve/pve-ontap/config.yaml"):
        assert path in text, path


def test_man_page_renders_without_warnings():
    # make deps installs groff and man-db (lintian's manual page check runs man --warnings)
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", MAN], capture_output=True,
                       timeout=60)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode()
    assert b"install-hook" in r.stdout.replace(b"\xe2\x80\x90", b"-")
    r = subprocess.run(["groff", "-man", "-ww", "-z", MAN], capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode()
    e = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", MAN],
                       capture_output=True, env=e, timeout=60)
    assert r.returncode == 0 and r.stderr == b"", r.stderr.decode()


def test_man_page_version_and_date_come_from_the_build(tmp_path):
    # SOURCE_DATE_EPOCH as dpkg-buildpackage sets it from debian/changelog
    r = subprocess.run(["make", "--no-print-directory", "BUILDDIR=%s" % tmp_path,
                        "VERSION=9.8.7", "%s/pve-ontap.8" % tmp_path],
                       cwd=REPO, env=dict(os.environ, SOURCE_DATE_EPOCH="1764633600"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(tmp_path / "pve-ontap.8", encoding="utf-8") as f:
        th = [line for line in f if line.startswith(".TH ")]
    assert th == ['.TH PVE\\-ONTAP 8 "2025-12-02" "pve-ontap 9.8.7" "System Administration"\n']
    with open(os.path.join(REPO, "install", "pve-ontap.8.in"), encoding="utf-8") as f:
        assert '"@DATE@" "pve-ontap @VERSION@"' in f.read()


def rendered_man():
    """The page as man shows it: plain text, no bold/underline, real hyphens."""
    r = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", MAN], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().replace("\u2010", "-").replace("\u2212", "-")


def test_man_page_files_and_see_also():
    text = rendered_man()
    files = text.split("\nFILES\n", 1)[1].split("\nEXIT STATUS\n", 1)[0]
    for path in ("/usr/sbin/pve-ontap", "/var/lib/vz/snippets/pve-ontap",
                 "/etc/pve/pve-ontap/config.yaml", "/etc/pve-ontap/config.yaml",
                 "/etc/pve/pve-ontap/policies/", "/var/lib/pve-ontap/queue/",
                 "/etc/pve/priv/lock/", "/lib/systemd/system/pve-ontap-watch.service",
                 "/usr/share/doc/pve-ontap/examples/",
                 "/usr/share/bash-completion/completions/pve-ontap", "/etc/pve/storage.cfg",
                 "/dev/disk/by-id/nvme-uuid.uuid", "/etc/nvme/hostnqn",
                 "/etc/nvme/discovery.conf", "/etc/lvm/lvm.conf",
                 "/var/lib/prometheus/node-exporter/pve-ontap.prom", "/usr/sbin/qm",
                 "/usr/sbin/nvme"):
        assert path in files, path
    see_also = text.split("\nSEE ALSO\n", 1)[1]
    for page in ("qm(1)", "pvesm(1)", "nvme(1)"):
        assert page in see_also, page
    # the note on deleting unusedN entries (DESIGN.md Watcher)
    assert "deletes the file, that is, that disk of the snapshot" in " ".join(text.split())
    for key in ("schedule", "metrics", "nvme_etc", "lvm_conf", "max_parallel"):
        assert re.search(r"^ +%s\n" % key, text, re.M), key


def complete(words, env_extra=None):
    script = ('source %s\nCOMP_WORDS=(%s)\nCOMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n'
              '_pve_ontap\nprintf "%%s\\n" "${COMPREPLY[@]}"\n'
              % (COMPLETION, " ".join("'%s'" % w for w in words)))
    e = dict(os.environ)
    e.update(env_extra or {})
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=e,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_bash_completion(env):
    assert complete(["pve-ontap", ""]) == ["vm", "storage", "nvme", "policy", "status",
                                           "watch", "install-hook", "doctor", "hook",
                                           "help"]
    assert complete(["pve-ontap", "vm", "p"]) == ["prune"]
    assert complete(["pve-ontap", "vm", "prune", "--"])[:3] == ["--vm", "--keep", "--label"]
    assert "--keep" in complete(["pve-ontap", "vm", "create", "--"])
    assert complete(["pve-ontap", "status", "--"])[:2] == ["--vm", "--config"]
    assert complete(["pve-ontap", "storage", "m"]) == ["mount"]
    assert "--quiesce" in complete(["pve-ontap", "vm", "create", "--"])
    assert complete(["pve-ontap", "vm", "create", "--quiesce", "f"]) == ["freeze"]
    # storage ids from the configuration file's storages: keys
    assert complete(["pve-ontap", "--config", env.config_path, "storage", "list",
                     "--storage", ""]) == ["ONTAP01"]
    assert complete(["pve-ontap", "storage", "list", "--storage", ""],
                    {"PVE_ONTAP_CONFIG": env.config_path}) == ["ONTAP01"]


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed")
def test_bash_completion_shellcheck():
    r = subprocess.run(["shellcheck", "-s", "bash", COMPLETION,
                        os.path.join(REPO, "install", "build-deb.sh")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout


def test_doctor_checks_the_hookscripts_of_local_vms(env):
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    env.add_vm(101, disks={"scsi0": ("vm-101-disk-0.raw", 4096)})
    env.write_policy(101, "snapshots:\n  - on: [pre-stop]\n    label: daily\n")
    assert env.run("install-hook", "--vm", "100", env=NONROOT).returncode == 0
    r = env.run("doctor", timeout=120)
    assert "ok   hookscripts: 1 VM on this node run this pve-ontap" in r.stdout, r.stdout
    assert any("VM 101 has a policy but no pve-ontap hookscript" in w
               for w in lines(r.stdout, "warn")), r.stdout

    snippet = os.path.join(env.T, "var", "lib", "vz", "snippets", "pve-ontap")
    with open(snippet, "ab") as f:
        f.write(b"an older build")
    r = env.run("doctor", timeout=120)
    assert any("VM 100: hookscript" in w and "differs" in w
               for w in lines(r.stdout, "warn")), r.stdout

    os.chmod(snippet, 0o644)
    r = env.run("doctor", timeout=120)
    assert r.returncode == 1
    assert any("VM 100: hookscript 'local:snippets/pve-ontap'" in f
               for f in lines(r.stdout, "FAIL")), r.stdout
