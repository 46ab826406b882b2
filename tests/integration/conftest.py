"""Integration fixture `env` (HACKING.md "Test tree", "Fixtures").

Each test gets a fresh tree T (pytest tmp_path) laid out like a PVE node, the ONTAP and PVE
simulators running in-process over HTTPS with a throw-away CA, fake `qm`/`nvme` wrappers, and
T/config.yaml pointing pve-ontap at all of it.  At teardown both simulators must have seen no
request that their API specification does not declare.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "sim"))
sys.path.insert(0, os.path.join(REPO, "tests", "fakes"))

import certs  # noqa: E402
import nvme as fake_nvme  # noqa: E402
import pvefiles  # noqa: E402
from pve_sim import PveSim  # noqa: E402

try:
    from ontap_sim import OntapSim  # noqa: E402
except ImportError as _e:  # written concurrently; fail the tests that need it, clearly
    OntapSim = None
    _ONTAP_IMPORT_ERROR = _e

PYTHON = "/usr/bin/python3"
NODE = "pve1"
STORAGE = "ONTAP01"
VOLUME = "proxmox_storage01"
JUNCTION = "/proxmox_storage01"
ONTAP_PASSWORD = "s3cr3t-ontap"
PVE_PASSWORD = "s3cr3t-pve"


def binary():
    return os.environ.get("PVE_ONTAP_BIN") or os.path.join(REPO, "build", "pve-ontap")


def _mkdirs(*paths):
    for p in paths:
        os.makedirs(p, mode=0o700, exist_ok=True)
        os.chmod(p, 0o700)


def _write(path, text, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)  # O_CREAT's mode is filtered by the umask


def _pattern(name, n):
    """Deterministic, name-dependent bytes, so a restored image can be told from another."""
    seed = ("%s:" % name).encode()
    return (seed * (n // len(seed) + 1))[:n]


class Env:
    def __init__(self, T):
        self.T = str(T)
        T = self.T
        self.paths = {
            "pve_etc": os.path.join(T, "etc", "pve"),
            "policies": os.path.join(T, "etc", "pve", "pve-ontap", "policies"),
            "queue": os.path.join(T, "var", "lib", "pve-ontap", "queue"),
            "state": os.path.join(T, "var", "lib", "pve-ontap"),
            "lock": os.path.join(T, "etc", "pve", "priv", "lock"),
            "mnt": os.path.join(T, "mnt", "pve"),
            "dev": os.path.join(T, "dev"),
            "sysfs": os.path.join(T, "sys"),
            "qm": os.path.join(T, "bin", "qm"),
            "nvme": os.path.join(T, "bin", "nvme"),
            # hostnqn, discovery.conf (never the machine's /etc/nvme) and lvm.conf
            "nvme_etc": os.path.join(T, "etc", "nvme"),
            "lvm_conf": os.path.join(T, "etc", "lvm", "lvm.conf"),
        }
        self.config_path = os.path.join(T, "config.yaml")
        self.exports_file = os.path.join(T, "exports.json")
        self.ontap = None
        self.pve = None
        self.config = None
        self.certs = None

    # ------------------------------------------------------------------ setup

    def setup(self):
        T, p = self.T, self.paths
        _mkdirs(os.path.join(p["pve_etc"], "nodes", NODE, "qemu-server"), p["policies"],
                p["queue"], p["state"], p["lock"], p["mnt"], p["dev"],
                os.path.join(p["sysfs"], "class", "block"), os.path.join(T, "bin"),
                os.path.join(T, "sim", "ontap"), os.path.join(T, "certs"),
                os.path.join(T, "var", "lib", "vz", "snippets"))
        os.symlink(os.path.join("nodes", NODE, "qemu-server"),
                   os.path.join(p["pve_etc"], "qemu-server"))
        self.certs = certs.make_certs(os.path.join(T, "certs"))
        for tool in ("qm", "nvme"):
            _write(p[tool], '#!/bin/sh\nexec %s %s --root %s "$@"\n' % (
                PYTHON, os.path.join(REPO, "tests", "fakes", tool + ".py"), T), 0o755)
        _write(os.path.join(T, "ontap.pw"), ONTAP_PASSWORD + "\n", 0o600)

        if OntapSim is None:
            raise RuntimeError("tests/sim/ontap_sim.py cannot be imported: %s"
                               % _ONTAP_IMPORT_ERROR)
        self.ontap = OntapSim(os.path.join(T, "sim", "ontap"), self.certs["cert"],
                              self.certs["key"], user="admin", password=ONTAP_PASSWORD,
                              exports_file=self.exports_file)
        self.ontap.add_svm("svm1")
        self.ontap.add_aggregate("aggr1")
        self.volume_dir = os.path.join(T, "sim", "ontap", "vol", VOLUME)
        self.ontap.add_volume("svm1", VOLUME, nas_path=JUNCTION, directory=self.volume_dir)
        self.ontap.start()

        self.pve = PveSim(T, p["pve_etc"], self.certs["cert"], self.certs["key"], node=NODE,
                          token="root@pam!pveontap=%s" % uuid.uuid4(),
                          users={"root@pam": PVE_PASSWORD}, exports_file=self.exports_file)
        # hookscripts started by the simulator find the test config like the real hook
        # finds /etc/pve/pve-ontap/config.yaml
        self.pve.hook_env["PVE_ONTAP_CONFIG"] = self.config_path
        self.pve.add_storage("local", "dir", mount=True,
                             path=os.path.join(T, "var", "lib", "vz"),
                             content="iso,vztmpl,backup,snippets")
        self.pve.add_storage(STORAGE, "nfs", mount=True, export=JUNCTION,
                             path=os.path.join(p["mnt"], STORAGE), server="127.0.0.1",
                             content="images", options="vers=4.1,nconnect=4")
        mnt = os.path.join(p["mnt"], STORAGE)
        if os.path.realpath(mnt) != os.path.realpath(self.volume_dir):
            raise RuntimeError("simulated NFS mount %s does not lead to %s"
                               % (mnt, self.volume_dir))
        self.pve.start()

        self.config = {
            "pve": {"host": "127.0.0.1", "port": self.pve.port, "token": self.pve.token,
                    "verify": True, "ca_file": self.certs["ca"]},
            "ontap": {"cluster1": {"host": "127.0.0.1", "port": self.ontap.port,
                                   "user": "admin",
                                   "password_file": os.path.join(T, "ontap.pw"),
                                   "verify": True, "ca_file": self.certs["ca"]}},
            "storages": {STORAGE: {"ontap": "cluster1", "svm": "svm1"}},
            "paths": dict(p),
        }
        self.write_config()
        return self

    def teardown(self):
        for sim in (self.pve, self.ontap):
            if sim is not None:
                sim.stop()

    def write_config(self, config=None):
        """(Re)write T/config.yaml (0600) from `config` or self.config."""
        if config is not None:
            self.config = config
        _write(self.config_path, yaml.safe_dump(self.config, sort_keys=False), 0o600)

    # ------------------------------------------------------------------ helpers

    def run(self, *args, input=None, extra_env=None, env=None, timeout=60, config=True):
        """Run the binary under test; returns subprocess.CompletedProcess (text)."""
        exe = binary()
        if not os.access(exe, os.X_OK):
            pytest.fail("pve-ontap not built (%s); run make" % exe)
        e = dict(os.environ)
        e.pop("PVE_ONTAP_CONFIG", None)
        e["PATH"] = os.path.join(self.T, "bin") + os.pathsep + e.get("PATH", "/usr/bin:/bin")
        e["LC_ALL"] = "C"
        argv = [exe]
        if config:
            e["PVE_ONTAP_CONFIG"] = self.config_path
            argv += ["--config", self.config_path]
        e.update(extra_env or {})
        e.update(env or {})
        argv += [str(a) for a in args]
        if os.environ.get("PVE_ONTAP_VALGRIND") == "1":
            # make check-valgrind: memory errors and definite/indirect leaks fail the test
            argv = ["valgrind", "-q", "--leak-check=full",
                    "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                    "--trace-children=no"] + argv
            timeout = timeout * 4
        r = subprocess.run(argv, input=input, capture_output=True, text=True, env=e,
                           timeout=timeout, cwd=self.T)
        if r.returncode == 99 and argv[0] == "valgrind":
            pytest.fail("valgrind found errors in %s:\n%s" % (" ".join(str(a) for a in args), r.stderr),
                        pytrace=False)
        return r

    def _log(self, name):
        path = os.path.join(self.T, name)
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def qm_faults(self, faults):
        """The fake qm's faults (tests/fakes/qm.py): a list of {"match": [argv words],
        "exit", "stderr", "sleep", "count"}."""
        with open(os.path.join(self.T, "qm-faults.json"), "w", encoding="utf-8") as f:
            json.dump(faults, f)

    def qm_calls(self):
        """argv lists (without --root) of every fake qm run, in order."""
        return self._log("qm.log")

    def nvme_calls(self):
        return self._log("nvme.log")

    def image_path(self, vmid, filename, storage=STORAGE):
        return os.path.join(self.paths["mnt"], storage, "images", str(vmid), filename)

    def add_vm(self, vmid, disks=None, extra_conf="", status="stopped", agent=True,
               name=None):
        """Create a VM whose disks live on ONTAP01.  `disks` maps a config key to
        (filename, content[, options]); content is bytes or an int size (filled with a
        name-dependent pattern).  Returns {key: absolute image path}."""
        vmid = int(vmid)
        lines = ["boot: order=scsi0", "cores: 2", "memory: 2048",
                 "name: %s" % (name or "vm%d" % vmid),
                 "net0: virtio=BC:24:11:00:%02X:%02X,bridge=vmbr0" % (vmid // 256 % 256,
                                                                    vmid % 256),
                 "scsihw: virtio-scsi-single"]
        paths = {}
        for key, spec in (disks or {}).items():
            filename, content = spec[0], spec[1]
            opts = spec[2] if len(spec) > 2 else ""
            if isinstance(content, int):
                content = _pattern(filename, content)
            path = self.image_path(vmid, filename)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(content)
            paths[key] = path
            value = "%s:%d/%s" % (STORAGE, vmid, filename)
            if opts:
                value += "," + opts.lstrip(",")
            value += ",size=%s" % pvefiles.format_size(len(content))
            lines.append("%s: %s" % (key, value))
        conf = "\n".join(lines) + "\n"
        if extra_conf:
            conf += extra_conf if extra_conf.endswith("\n") else extra_conf + "\n"
        self.pve.add_vm(vmid, conf, status=status, agent=agent)
        return paths

    def vm_config(self, vmid):
        """The live section of <vmid>.conf as a dict (read from the file)."""
        return pvefiles.load_vm_config(self.paths["pve_etc"], NODE, vmid).main

    def queue_jobs(self):
        """Parsed job files in the queue (names not starting with '.'), oldest first;
        each dict gets the file name under '_file'."""
        q = self.paths["queue"]
        out = []
        for name in os.listdir(q):
            if name.startswith(".") or not name.endswith(".job"):
                continue
            path = os.path.join(q, name)
            with open(path, encoding="utf-8") as f:
                job = json.load(f)
            job["_file"] = name
            out.append((os.stat(path).st_mtime_ns, name, job))
        return [j for _, _, j in sorted(out, key=lambda t: (t[0], t[1]))]

    def write_policy(self, vmid_or_default, yaml_text):
        path = os.path.join(self.paths["policies"], "%s.yaml" % vmid_or_default)
        _write(path, yaml_text, 0o600)
        return path

    def install_hook(self, vmid=None):
        """Copy the built binary into local:snippets/pve-ontap (executable); with `vmid`,
        also set it as the VM's hookscript (as root would with qm set)."""
        exe = binary()
        if not os.access(exe, os.X_OK):
            pytest.fail("pve-ontap not built (%s); run make" % exe)
        dst = os.path.join(self.T, "var", "lib", "vz", "snippets", "pve-ontap")
        shutil.copy2(exe, dst)
        os.chmod(dst, 0o755)
        if vmid is not None:
            pvefiles.update_vm_config(self.T, self.paths["pve_etc"], NODE, vmid,
                                      {"hookscript": "local:snippets/pve-ontap"},
                                      mnt_dir=self.paths["mnt"])
        return dst

    # NVMe host side (fake nvme state) -------------------------------------------------

    def nvme_portal(self, portal, reachable=True, connected=False):
        fake_nvme.set_portal(self.T, portal, reachable, connected)

    def nvme_add_device(self, uuid_, path, size, connect_on, vserver="svm_nvme"):
        """A namespace the host can see through `connect_on`; returns the device name
        if it is present now."""
        return fake_nvme.add_device(self.T, uuid_, path, size, connect_on, vserver)

    def nvme_remove_device(self, uuid_):
        fake_nvme.remove_device(self.T, uuid_)


def wait_for(pred, timeout, step=0.02):
    """Poll pred() until it holds or timeout seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def spawn(env, argv, hook=False):
    """Start the binary under test without waiting (to signal it): as the CLI with
    --config, or with hook=True as PVE runs a hookscript (config from the environment)."""
    exe = binary()
    if not os.access(exe, os.X_OK):
        pytest.fail("pve-ontap not built (%s); run make" % exe)
    e = {"PATH": os.path.join(env.T, "bin") + ":/usr/sbin:/usr/bin:/sbin:/bin",
         "LC_ALL": "C", "PVE_ONTAP_CONFIG": env.config_path}
    full = [exe] + ([] if hook else ["--config", env.config_path]) + list(argv)
    return subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e, cwd=env.T)


def env_lifecycle(e):
    """A fixture's body: set e up in its private directory, hand it to the test, tear it
    down; then every request the simulators saw must be one their API specs declare."""
    os.chmod(e.T, 0o700)
    try:
        e.setup()
        yield e
    finally:
        e.teardown()
    ontap_v = e.ontap.violations if getattr(e, "ontap", None) else []
    pve_v = e.pve.violations if e.pve else []
    assert ontap_v == [] and pve_v == [], \
        "requests not declared by the API specs:\nONTAP: %r\nPVE: %r" % (ontap_v, pve_v)


@pytest.fixture
def env(tmp_path):
    yield from env_lifecycle(Env(tmp_path))
