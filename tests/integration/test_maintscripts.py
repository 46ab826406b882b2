"""The Debian maintainer scripts (debian/pve-ontap.{postinst,prerm,postrm} plus what
dh_installsystemd adds, built the way 'make deb' builds them) run with every argument
sequence dpkg uses, against stub deb-systemd-invoke, deb-systemd-helper and systemctl that
log their argv: no systemd as PID 1 needed, nothing on the host touched.

The generated scripts name absolute paths (/run/systemd/system, the test of "booted with
systemd"; /var/lib/pve-ontap, the state purge removes; /usr/bin/deb-systemd-helper); the
test rewrites exactly those into its temporary root before running them."""

import os
import shutil
import subprocess

import pytest

from conftest import REPO

UNIT = "pve-ontap-watch.service"
STUBS = ("deb-systemd-invoke", "deb-systemd-helper", "systemctl")


def build_scripts(work):
    """debian/rules override_dh_installsystemd + dh_installdeb, as dpkg-buildpackage runs
    them, in a copy of debian/ with the unit where 'make install' puts it."""
    for tool in ("dh_installsystemd", "dh_installdeb"):
        if not shutil.which(tool):
            pytest.fail("%s missing: run 'make deps' (install/deps.sh installs debhelper)"
                        % tool)
    shutil.copytree(os.path.join(REPO, "debian"), work / "debian")
    unitdir = work / "debian" / "pve-ontap" / "lib" / "systemd" / "system"
    unitdir.mkdir(parents=True)
    shutil.copy(os.path.join(REPO, "install", UNIT), unitdir / UNIT)
    for cmd in (["debian/rules", "override_dh_installsystemd"], ["dh_installdeb"]):
        r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    return work / "debian" / "pve-ontap" / "DEBIAN"


class Node:
    """A temporary root with the stubs on PATH; .run(script, *args) runs one maintainer
    script as dpkg would and returns the stub calls it made."""

    def __init__(self, root, debian, systemd=True):
        self.root = root
        self.debian = debian
        self.log = root / "calls.log"
        self.bin = root / "bin"
        self.bin.mkdir()
        for name in STUBS:
            stub = self.bin / name
            stub.write_text('#!/bin/sh\nprintf "%%s\\n" "%s $*" >> "%s"\nexit 0\n'
                            % (name, self.log))
            stub.chmod(0o755)
        if systemd:
            (root / "run" / "systemd" / "system").mkdir(parents=True)
        self.state = root / "var" / "lib" / "pve-ontap"
        (self.state / "queue").mkdir(parents=True)
        (self.state / "queue" / "100-1.job").write_text("{}\n")

    def run(self, script, *args):
        text = (self.debian / script).read_text()
        for real, fake in (("/run/systemd/system", self.root / "run/systemd/system"),
                           ("/var/lib/pve-ontap", self.state),
                           ("/usr/bin/deb-systemd-helper", self.bin / "deb-systemd-helper")):
            text = text.replace(real, str(fake))
        path = self.root / script
        path.write_text(text)
        self.log.write_text("")
        env = dict(os.environ, PATH="%s:/usr/bin:/bin" % self.bin)
        env.pop("DPKG_ROOT", None)
        r = subprocess.run(["/bin/sh", "-e", str(path)] + list(args), env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (script, args, r.stderr)
        return self.log.read_text().splitlines()


ENABLE = ["deb-systemd-helper unmask %s" % UNIT,
          "deb-systemd-helper --quiet was-enabled %s" % UNIT,
          "deb-systemd-helper enable %s" % UNIT]
RELOAD = "systemctl --system daemon-reload"


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    return build_scripts(tmp_path_factory.mktemp("deb"))


def test_install_enables_without_starting(tmp_path, scripts):
    node = Node(tmp_path, scripts)
    # new install: no preinst of ours, then postinst configure with no old version
    assert node.run("postinst", "configure") == ENABLE + [RELOAD]


def test_upgrade_restarts_a_running_watcher_after_daemon_reload(tmp_path, scripts):
    node = Node(tmp_path, scripts)
    # the old package's prerm must not stop it: the upgrade happens under it
    assert node.run("prerm", "upgrade", "0.2.0") == []
    calls = node.run("postinst", "configure", "0.1.0")
    # daemon-reload first, so try-restart starts the new unit file; try-restart leaves a
    # watcher stopped that was stopped (no config yet)
    assert calls == ENABLE + [RELOAD, "deb-systemd-invoke try-restart %s" % UNIT]
    assert (node.state / "queue" / "100-1.job").exists()


def test_remove_stops_the_watcher_and_keeps_the_queue(tmp_path, scripts):
    node = Node(tmp_path, scripts)
    assert node.run("prerm", "remove") == ["deb-systemd-invoke stop %s" % UNIT]
    assert node.run("postrm", "remove") == [RELOAD]
    assert (node.state / "queue" / "100-1.job").read_text() == "{}\n"


def test_purge_removes_state_and_unit_links(tmp_path, scripts):
    node = Node(tmp_path, scripts)
    node.run("prerm", "remove")
    node.run("postrm", "remove")
    assert node.run("postrm", "purge") == ["deb-systemd-helper purge %s" % UNIT]
    assert not node.state.exists()
    assert (tmp_path / "run").exists() and (tmp_path / "bin").exists()


def test_without_systemd_running_only_the_links_change(tmp_path, scripts):
    # a chroot or container without systemd as PID 1: nothing is started or stopped
    node = Node(tmp_path, scripts, systemd=False)
    assert node.run("postinst", "configure", "0.1.0") == ENABLE
    assert node.run("prerm", "remove") == []
    assert node.run("postrm", "remove") == []
