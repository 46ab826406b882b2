"""Installation: 'make install' (always) and the Debian package (PVE_ONTAP_TEST_DEB=1, after
'make deb', which takes a minute and is run by hand). Files must be where pve-ontap(8)'s
FILES section says."""

import glob
import os
import shutil
import stat
import subprocess

import pytest

from conftest import REPO, binary

EXAMPLE_POLICIES = sorted(os.path.basename(p)
                          for p in glob.glob(os.path.join(REPO, "policies", "examples",
                                                          "*.yaml")))

# path (relative to the root) -> mode
INSTALLED = {
    "usr/sbin/pve-ontap": 0o755,
    "lib/systemd/system/pve-ontap-watch.service": 0o644,
    "usr/share/bash-completion/completions/pve-ontap": 0o644,
    "usr/share/doc/pve-ontap/examples/config.yaml": 0o644,
}


def check_tree(root, man):
    for rel, mode in dict(INSTALLED, **{man: 0o644}).items():
        path = os.path.join(root, rel)
        assert os.path.isfile(path), rel
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, (rel, oct(os.stat(path).st_mode))
    pol = sorted(os.listdir(os.path.join(root, "usr/share/doc/pve-ontap/examples/policies")))
    assert pol == EXAMPLE_POLICIES and pol
    # the installed program is a working pve-ontap
    r = subprocess.run([os.path.join(root, "usr/sbin/pve-ontap"), "--version"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("pve-ontap "), r.stderr
    # the unit runs the installed path
    with open(os.path.join(root, "lib/systemd/system/pve-ontap-watch.service"),
              encoding="utf-8") as f:
        assert "ExecStart=/usr/sbin/pve-ontap watch" in f.read()


def test_make_install_puts_every_file_in_place(tmp_path):
    exe = binary()
    if not os.access(exe, os.X_OK):
        pytest.fail("pve-ontap not built (%s); run make" % exe)
    dest = tmp_path / "root"
    # -o all: install what is built (the build itself is tested elsewhere) in BUILDDIR
    r = subprocess.run(["make", "--no-print-directory", "-o", "all", "install",
                        "DESTDIR=%s" % dest, "PREFIX=/usr",
                        "BUILDDIR=%s" % os.path.dirname(os.path.abspath(exe))],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    check_tree(str(dest), "usr/share/man/man8/pve-ontap.8")
    with open(os.path.join(dest, "usr/sbin/pve-ontap"), "rb") as a, open(exe, "rb") as b:
        assert a.read() == b.read()


@pytest.mark.skipif(os.environ.get("PVE_ONTAP_TEST_DEB") != "1",
                    reason="set PVE_ONTAP_TEST_DEB=1 after 'make deb'")
def test_debian_package_contents(tmp_path):
    debs = sorted(glob.glob(os.path.join(REPO, "build", "pve-ontap_*.deb")),
                  key=os.path.getmtime)
    assert debs, "no build/pve-ontap_*.deb: run 'make deb' first"
    deb = debs[-1]
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb not installed")
    # dpkg --root needs a dpkg database; extracting shows the same files
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True, timeout=120)
    check_tree(str(root), "usr/share/man/man8/pve-ontap.8.gz")
    assert os.path.isfile(root / "usr/share/doc/pve-ontap/copyright")

    def field(name):
        return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert field("Package") == "pve-ontap" and field("Section") == "admin"
    depends = field("Depends")
    for lib in ("libcurl4", "libssl3", "libyaml-0-2", "libinotifytools0", "libc6"):
        assert lib in depends, depends
    assert "nvme-cli" in field("Recommends")
    # the watcher is enabled by the maintainer script dh_installsystemd wrote
    ctl = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", deb, str(ctl)], check=True, timeout=60)
    with open(ctl / "postinst", encoding="utf-8") as f:
        postinst = f.read()
    assert "deb-systemd-helper enable 'pve-ontap-watch.service'" in postinst
    assert os.path.exists(ctl / "postrm")
