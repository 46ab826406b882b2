#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make demo: the main job of pve-ontap, end to end, against the bundled simulators.

Builds a throw-away tree laid out like a PVE node (tests/integration/conftest.py's Env),
starts the ONTAP and PVE simulators in-process on loopback, and walks through what an
administrator does: doctor, install-hook, a policy, VM stops and starts through the PVE API
(the hook takes the snapshots and applies retention), a manual snapshot, a restore that
brings the bytes back, a storage snapshot mounted as a new storage and unmounted, and the
watcher registering each clone so that it shows in PVE. Every command is printed with what
a user would see; every step's outcome is checked. Exit status 0 only if all were right.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import ssl
import sys
import tempfile
import time
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

VMID = 100
POLICY = """\
# VM 100: a daily snapshot when it stops, a boot snapshot when it has started
snapshots:
  - on: [pre-stop]
    label: daily
    keep: 3
  - on: [post-start]
    label: boot
    keep: 2
on_error: warn
timeout: 30s
"""
DISKS = {
    "scsi0": ("vm-100-disk-0.raw", 1 << 20),
    "virtio1": ("vm-100-disk-1.raw", 256 << 10),
}
SNAP_RE = re.compile(r"^[a-z0-9_]+-\d{8}T\d{6}Z$")


class DemoFailed(Exception):
    pass


class Demo:
    def __init__(self, env, color):
        self.env = env
        self.T = env.T
        self.color = color
        self.steps = 0

    # ------------------------------------------------------------------ output

    def _c(self, code, text):
        return "\033[%sm%s\033[0m" % (code, text) if self.color else text

    def title(self, text):
        self.steps += 1
        print()
        print(self._c("1", "== %d. %s" % (self.steps, text)))

    def say(self, text):
        print(self._c("2", "   # " + text))

    def show(self, text):
        for line in text.rstrip("\n").splitlines():
            print("    " + line.replace(self.T, "$T"))

    def check(self, ok, what):
        if not ok:
            print(self._c("31", "   FAILED: " + what))
            raise DemoFailed(what)
        print(self._c("32", "   ok: " + what))

    # ------------------------------------------------------------------ actions

    def pve_ontap(self, *args, expect=0, extra_env=None, quiet=False):
        """Run the binary as the user would (the --config option is left out of the echo)."""
        print(self._c("36", "$ pve-ontap " + " ".join(str(a) for a in args)))
        r = self.env.run(*args, extra_env=extra_env, timeout=120)
        if not quiet:
            self.show(r.stdout)
            self.show(r.stderr)
        if expect is not None and r.returncode != expect:
            self.show(r.stderr if quiet else "")
            raise DemoFailed("'pve-ontap %s' exited %d, expected %d"
                             % (" ".join(map(str, args)), r.returncode, expect))
        return r

    def api(self, method, path, params=None):
        """A PVE API call with the simulator's token, as a script or the GUI would make."""
        pve = self.env.pve
        url = "https://127.0.0.1:%d/api2/json%s" % (pve.port, path)
        data = urllib.parse.urlencode(params or {}).encode() if method != "GET" else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", "PVEAPIToken=" + pve.token)
        ctx = ssl.create_default_context(cafile=self.env.certs["ca"])
        with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
            return json.loads(resp.read().decode())["data"]

    def power(self, action):
        """POST status/<action> like 'qm <action>' through the API; waits for the task and
        shows its log (the hookscript's output is part of it)."""
        node = "pve1"
        print(self._c("36", "$ pvesh create /nodes/%s/qemu/%d/status/%s" % (node, VMID, action)))
        upid = self.api("POST", "/nodes/%s/qemu/%d/status/%s" % (node, VMID, action))
        qupid = urllib.parse.quote(upid, safe="")
        deadline = time.monotonic() + 120
        while True:
            st = self.api("GET", "/nodes/%s/tasks/%s/status" % (node, qupid))
            if st["status"] == "stopped":
                break
            if time.monotonic() > deadline:
                raise DemoFailed("task %s did not finish" % upid)
            time.sleep(0.1)
        log = self.api("GET", "/nodes/%s/tasks/%s/log?limit=500" % (node, qupid))
        self.show("\n".join(entry["t"] for entry in log))
        self.check(st.get("exitstatus") == "OK",
                   "task %s ended OK (hook ran on %s)" % (
                       st["type"], "pre-start/post-start" if action == "start"
                       else "pre-stop/post-stop"))
        return st

    def snapshots(self):
        r = self.env.run("--json", "vm", "list", "--vm", VMID)
        if r.returncode != 0:
            raise DemoFailed("vm list failed: " + r.stderr)
        return json.loads(r.stdout)

    def digest(self, path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]

    # ------------------------------------------------------------------ the story

    def run(self):
        env = self.env
        print(self._c("1", "pve-ontap demo"))
        self.say("a throw-away PVE node tree in $T = %s" % self.T)
        self.say("ONTAP simulator on 127.0.0.1:%d (SVM svm1, volume proxmox_storage01, "
                 "junction /proxmox_storage01)" % env.ontap.port)
        self.say("PVE simulator on 127.0.0.1:%d (node pve1, NFS storage ONTAP01)"
                 % env.pve.port)
        self.say("every command below runs with --config $T/config.yaml")

        self.title("A VM whose disks are files on the NFS storage ONTAP01")
        paths = env.add_vm(VMID, disks=DISKS, name="web01")
        original = {k: self.digest(p) for k, p in paths.items()}
        with open(os.path.join(env.paths["pve_etc"], "qemu-server", "%d.conf" % VMID),
                  encoding="utf-8") as f:
            self.show(f.read())
        for key, p in paths.items():
            self.say("%s: %s sha256 %s" % (key, os.path.basename(p), original[key]))

        self.title("Check the node")
        r = self.pve_ontap("doctor", expect=None)
        fails = [line for line in r.stdout.splitlines() if line.startswith("FAIL")]
        # on a host that runs systemd the watcher line reflects that host, not the demo
        fails = [line for line in fails if "watcher" not in line]
        self.check(fails == [], "doctor: PVE, ONTAP and the storage check out")

        self.title("Attach the hookscript")
        self.pve_ontap("install-hook", "--vm", VMID,
                       extra_env={"PVE_ONTAP_ALLOW_NONROOT": "1"})
        snippet = os.path.join(self.T, "var", "lib", "vz", "snippets", "pve-ontap")
        self.check(os.access(snippet, os.X_OK) and
                   env.vm_config(VMID).get("hookscript") == "local:snippets/pve-ontap",
                   "binary in local:snippets, 'hookscript: local:snippets/pve-ontap' in "
                   "100.conf")

        self.title("A policy for VM 100")
        policy = env.write_policy(VMID, POLICY)
        self.say("written to " + policy.replace(self.T, "$T"))
        self.show(POLICY)
        self.pve_ontap("policy", "check")
        self.pve_ontap("policy", "show", "--vm", VMID)

        self.title("Start and stop the VM three times (the hook snapshots, retention prunes)")
        for i in range(3):
            if i:
                time.sleep(1.1)  # snapshot names have a resolution of one second
            self.power("start")
            time.sleep(1.1)
            self.power("stop")
        snaps = self.snapshots()
        labels = [s["label"] for s in snaps]
        self.pve_ontap("vm", "list", "--vm", VMID)
        self.check(labels.count("boot") == 2, "post-start: 3 boot snapshots taken, keep 2")
        self.check(labels.count("daily") == 3, "pre-stop: 3 daily snapshots, keep 3")
        self.check(all(SNAP_RE.match(s["name"]) for s in snaps), "names are <label>-<ts>")
        self.check(all(len(s["disks"]) == 2 and
                       {d["kind"] for d in s["disks"]} == {"file-clone"} for s in snaps),
                   "each snapshot holds a file clone of both disks")

        self.title("A manual snapshot (the VM is stopped)")
        r = self.pve_ontap("--json", "vm", "create", "--vm", VMID, quiet=True)
        manual = json.loads(r.stdout)
        self.show(r.stdout)
        clone0 = env.image_path(VMID, "vm-100-disk-0-snap-%s.raw" % manual["name"])
        self.check(manual["label"] == "manual" and os.path.exists(clone0) and
                   self.digest(clone0) == original["scsi0"],
                   "'%s': the clone of scsi0 has the disk's bytes" % manual["name"])

        self.title("Restore: damage a disk, bring the bytes back")
        with open(paths["scsi0"], "r+b") as f:
            f.write(b"\0" * 4096 + b"oops, the wrong dd" * 100)
        damaged = self.digest(paths["scsi0"])
        self.say("scsi0 overwritten: sha256 %s (was %s)" % (damaged, original["scsi0"]))
        self.check(damaged != original["scsi0"], "the disk changed")
        self.pve_ontap("vm", "restore", "--vm", VMID, "--snapshot", manual["name"], expect=2)
        self.pve_ontap("vm", "restore", "--vm", VMID, "--snapshot", manual["name"], "--yes")
        restored = self.digest(paths["scsi0"])
        self.say("scsi0 now: sha256 %s" % restored)
        self.check(restored == original["scsi0"] and
                   self.digest(paths["virtio1"]) == original["virtio1"],
                   "both disks have their bytes of '%s' again" % manual["name"])
        self.check(any(s["label"] == "prerestore" for s in self.snapshots()),
                   "a 'prerestore' safety snapshot holds the damaged state")

        self.title("Storage snapshot, mounted as a new PVE storage, then unmounted")
        r = self.pve_ontap("--json", "storage", "create", "--storage", "ONTAP01", quiet=True)
        ssnap = json.loads(r.stdout)
        self.show(r.stdout)
        self.pve_ontap("storage", "list", "--storage", "ONTAP01")
        self.pve_ontap("storage", "mount", "--storage", "ONTAP01", "--snapshot", ssnap["name"])
        mnt = os.path.join(env.paths["mnt"], "ONTAP01-CLONE")
        in_clone = os.path.join(mnt, "images", str(VMID), "vm-100-disk-0.raw")
        self.check("ONTAP01-CLONE" in env.pve.storages(), "PVE has a storage ONTAP01-CLONE")
        self.check(os.path.exists(in_clone) and self.digest(in_clone) == original["scsi0"],
                   "the clone shows scsi0 as it was at the storage snapshot")
        self.pve_ontap("storage", "unmount", "--storage", "ONTAP01-CLONE")
        clones = [v["name"] for v in env.ontap.volumes() if "_clone_" in v["name"]]
        self.check("ONTAP01-CLONE" not in env.pve.storages() and not os.path.lexists(mnt)
                   and not clones,
                   "storage, mount and FlexClone are gone")

        self.title("The watcher makes the clones visible in PVE")
        jobs = env.queue_jobs()
        self.say("%d jobs queued by the hook and the CLI: %s" % (
            len(jobs), ", ".join(sorted({"%s %s" % (j["action"], j["vmid"]) for j in jobs}))))
        before = set(k for k in env.vm_config(VMID) if k.startswith("unused"))
        self.pve_ontap("watch", "--once", extra_env={"PVE_ONTAP_ALLOW_NONROOT": "1"})
        conf = env.vm_config(VMID)
        unused = {k: v for k, v in conf.items() if k.startswith("unused")}
        for call in env.qm_calls():
            if "--hookscript" not in call:
                self.say("the watcher ran: qm " + " ".join(call))
        self.show("\n".join("%s: %s" % kv for kv in
                           sorted(unused.items(), key=lambda kv: int(kv[0][6:]))))
        names = {s["name"] for s in self.snapshots()}
        on_disk = sorted(f for f in os.listdir(os.path.dirname(paths["scsi0"]))
                         if "-snap-" in f)
        self.check(not before and len(unused) == len(on_disk) and
                   all(any(n in v for n in names) for v in unused.values()),
                   "one unusedN entry per clone file (%d), none for pruned snapshots"
                   % len(unused))
        self.check(env.queue_jobs() == [], "the queue is empty")

        self.title("The simulators saw only requests their API specifications declare")
        self.check(env.ontap.violations == [] and env.pve.violations == [],
                   "no undeclared ONTAP or PVE request")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "pve-ontap"),
                    help="the pve-ontap binary (default build/pve-ontap)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary tree")
    args = ap.parse_args()
    exe = os.path.abspath(args.bin)
    if not os.access(exe, os.X_OK):
        print("demo: %s is not built; run make" % exe, file=sys.stderr)
        return 2
    os.environ["PVE_ONTAP_BIN"] = exe
    import conftest  # noqa: E402  (after PVE_ONTAP_BIN, which it reads)

    start = time.monotonic()
    T = tempfile.mkdtemp(prefix="pve-ontap-demo.")
    os.chmod(T, 0o700)
    env = conftest.Env(T)
    demo = None
    rc = 1
    try:
        env.setup()
        demo = Demo(env, color=sys.stdout.isatty())
        demo.run()
        rc = 0
    except DemoFailed as e:
        print("\ndemo: step failed: %s" % e, file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - report any crash as a failed demo
        import traceback
        traceback.print_exc()
        print("\ndemo: %s" % e, file=sys.stderr)
    finally:
        env.teardown()
        if args.keep:
            print("demo: tree kept in %s" % T, file=sys.stderr)
        else:
            shutil.rmtree(T, ignore_errors=True)
    took = time.monotonic() - start
    if rc == 0:
        print("\ndemo: all %d steps did what they should (%.1f s)" % (demo.steps, took))
    else:
        print("demo: FAILED after %.1f s" % took, file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
