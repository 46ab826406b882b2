"""install/pve-ontap-watch.service: the hardening it promises (each kept capability and
writable path explained in the unit), its systemd-analyze score, and the package's
versioned dependencies on the dlopen()ed libraries."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO

UNIT = os.path.join(REPO, "install", "pve-ontap-watch.service")
CONTROL = os.path.join(REPO, "debian", "control")
# what the watcher needs as root (qm, nvme, mount.nfs); the unit says why for each
KEPT_CAPS = {"CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
             "CAP_CHOWN", "CAP_NET_BIND_SERVICE"}
# what qm (perl) writes, the job queue aside (StateDirectory=)
WRITABLE = {"/etc/pve", "/var/lock", "/run", "/var/log/pve", "/var/lib/qemu-server",
            "/mnt/pve", "/etc/nvme", "/var/lib/prometheus/node-exporter"}


def parse_unit(path):
    """{section: {key: [values in order]}} and the comment lines, as systemd reads it
    (one directive a line; a key may repeat)."""
    sections, comments, cur = {}, [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith(("#", ";")):
                comments.append(line)
            elif line.startswith("["):
                cur = sections.setdefault(line.strip("[]"), {})
            else:
                key, _, value = line.partition("=")
                cur.setdefault(key.strip(), []).append(value.strip())
    return sections, "\n".join(comments)


def test_unit_keeps_only_explained_capabilities_and_paths():
    units, comments = parse_unit(UNIT)
    svc = units["Service"]
    caps = set(" ".join(svc["CapabilityBoundingSet"]).split())
    assert caps == KEPT_CAPS
    for cap in caps:
        assert re.search(r"#\s+%s\b" % cap, comments), cap
    assert svc["ProtectSystem"] == ["strict"]
    paths = {p.lstrip("-") for v in svc["ReadWritePaths"] for p in v.split()}
    assert paths == WRITABLE
    for p in paths:
        assert re.search(r"#\s+%s\s" % re.escape(p), comments) or p in ("/run",), p
    assert svc["StateDirectory"] == ["pve-ontap"]
    # mount for NFS storages; a service's syscalls otherwise
    assert svc["SystemCallFilter"][0].split() == ["@system-service", "@mount"]
    assert svc["SystemCallErrorNumber"] == ["EPERM"]
    # the real /dev (inotify on new namespaces), but only NVMe device nodes open
    assert svc["PrivateDevices"] == ["no"] and svc["DevicePolicy"] == ["closed"]
    assert svc["DeviceAllow"] == ["char-nvme rw", "/dev/nvme-fabrics rw", "block-blkext r"]
    for key in ("NoNewPrivileges", "PrivateTmp", "PrivateMounts", "ProtectHome",
                "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
                "MemoryDenyWriteExecute", "RestrictSUIDSGID", "RestrictNamespaces"):
        assert svc[key] == ["yes"], key
    assert svc["ExecStart"] == ["/usr/sbin/pve-ontap watch"]


def test_unit_security_score_is_at_most_3_5():
    exe = shutil.which("systemd-analyze")
    if not exe:
        pytest.fail("systemd-analyze missing: run 'make deps' (install/deps.sh: systemd)")
    r = subprocess.run([exe, "security", "--offline=true", "--no-pager", UNIT],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for pve-ontap-watch\.service: (\d+\.\d)",
                  r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 3.5, r.stdout


def test_package_depends_on_the_dlopened_library_versions():
    with open(CONTROL, encoding="utf-8") as f:
        text = re.sub(r"^#.*\n", "", f.read(), flags=re.M)
    depends = re.search(r"^Depends:(.*?)(?=^\S)", text, re.M | re.S).group(1)
    alts = [a.strip() for a in depends.replace("\n", " ").split(",") if a.strip()]
    # CURLOPT_PROTOCOLS_STR is libcurl 7.85; libssl.so.3 is OpenSSL 3
    assert "libcurl4t64 (>= 7.85.0) | libcurl4 (>= 7.85.0)" in alts
    assert "libssl3t64 (>= 3.0.0) | libssl3 (>= 3.0.0)" in alts
