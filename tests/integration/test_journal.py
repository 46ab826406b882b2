"""Journal fields (issue 17, point 7): under systemd (JOURNAL_STREAM names stderr) the
watcher logs through journald's native protocol with VMID= on the lines of a VM's jobs,
so 'journalctl -u pve-ontap-watch VMID=100' finds them; elsewhere its lines are as before.
journald is a unix datagram socket in the test tree (PVE_ONTAP_JOURNAL_SOCKET, test only)."""

import os
import socket
import subprocess

from conftest import binary

NONROOT = {"PVE_ONTAP_ALLOW_NONROOT": "1"}


def parse_entry(data):
    """One native-protocol datagram as {field: value} (both encodings of
    systemd's journal-native protocol)."""
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            size = int.from_bytes(data[nl + 1:nl + 9], "little")
            v = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        fields[k.decode()] = v.decode()
    return fields


def run_watcher(env, tmp_path, journal):
    sock_path = str(tmp_path / "journal.socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    errpath = tmp_path / "stderr"
    with open(errpath, "wb") as err:
        st = os.fstat(err.fileno())
        e = dict(os.environ, LC_ALL="C", PVE_ONTAP_JOURNAL_SOCKET=sock_path, **NONROOT)
        e["PATH"] = os.path.join(env.T, "bin") + os.pathsep + e["PATH"]
        if journal:
            e["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        r = subprocess.run([binary(), "--config", env.config_path, "watch", "--once"],
                           stdout=subprocess.PIPE, stderr=err, env=e, timeout=120,
                           cwd=env.T)
    sock.setblocking(False)
    entries = []
    while True:
        try:
            entries.append(parse_entry(sock.recv(65536)))
        except BlockingIOError:
            break
    sock.close()
    return r, errpath.read_text(), entries


def queue_register(env):
    """A snapshot of a one-disk VM; returns the qm argv its register job will run."""
    env.add_vm(100, disks={"scsi0": ("vm-100-disk-0.raw", 4096)})
    r = env.run("vm", "create", "--vm", "100", "--label", "daily")
    assert r.returncode == 0, r.stderr
    (job,) = env.queue_jobs()
    assert job["action"] == "register"
    return ["set", "100", "--unused0", job["volid"]]


def test_watcher_logs_native_journal_entries_with_vmid(env, tmp_path):
    argv = queue_register(env)
    r, err, entries = run_watcher(env, tmp_path, journal=True)
    assert r.returncode == 0, err
    assert err == ""                   # every line went to journald, none twice
    done = [x for x in entries if x["MESSAGE"] == "VM 100: 'qm %s' done" % " ".join(argv)]
    assert len(done) == 1, entries
    assert done[0]["VMID"] == "100" and done[0]["PRIORITY"] == "6"
    assert done[0]["SYSLOG_IDENTIFIER"] == "pve-ontap"
    # lines about no VM carry no VMID
    assert any("VMID" not in x for x in entries), entries
    assert env.qm_calls() == [argv]


def test_without_systemd_lines_stay_as_they_were(env, tmp_path):
    argv = queue_register(env)
    r, err, entries = run_watcher(env, tmp_path, journal=False)
    assert r.returncode == 0, err
    assert entries == []
    assert "pve-ontap: VM 100: 'qm %s' done\n" % " ".join(argv) in err, err
