#!/usr/bin/python3
"""Fake `qm` for pve-ontap's tests: `qm.py --root T <qm arguments>`.

Appends its argv (without --root T) as one JSON array line to T/qm.log, then acts on the test
tree like the real qm (qemu-server src/PVE/CLI/qm.pm) would act on /etc/pve:

  qm rescan [--vmid N] [--dryrun]      (alias: qm disk rescan)   pve.md 5.1
  qm set N [--delete k1,k2] [--<key> <value> ...] [--skiplock] [--digest D]
  qm config N [--current] [--snapshot S]
  qm status N [--verbose]

Storages come from T/etc/pve/storage.cfg; NFS storages without a `path` are under
T/mnt/pve/<id>.  VM configs are T/etc/pve/qemu-server/<vmid>.conf (the local node).  The VM
flock is the file T/lock-N (held by the PVE simulator while it runs a hookscript, or by a
test); we wait $QM_LOCK_TIMEOUT seconds (default 0.5; PVE waits 10) before failing.
Errors go to stderr and exit with 255, as Perl's die does in PVE's CLI handler.

Failure injection: T/qm-faults.json, a list of {"match": [argv prefix], "exit": N,
"stderr": "...", "stdout": "...", "sleep": s, "count": n}; the first matching entry with
count > 0 is applied (count is decremented) instead of running the command.
PVE_FAKE_VERSION=pve8 selects PVE 8's image-name rules (default pve9).
"""

import fcntl
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvefiles as pf  # noqa: E402
from pvefiles import PveError  # noqa: E402

NODE = os.environ.get("PVE_FAKE_NODE", "pve1")
VERSION = os.environ.get("PVE_FAKE_VERSION", "pve9")


class Usage(Exception):
    pass


def apply_fault(root, argv):
    path = os.path.join(root, "qm-faults.json")
    if not os.path.exists(path):
        return None
    with open(path, "r+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        faults = json.load(f)
        hit = None
        for fault in faults:
            m = fault.get("match", [])
            if fault.get("count", 1) > 0 and argv[:len(m)] == m:
                fault["count"] = fault.get("count", 1) - 1
                hit = fault
                break
        if hit:
            f.seek(0)
            f.truncate()
            json.dump(faults, f)
    if not hit:
        return None
    if hit.get("sleep"):
        time.sleep(float(hit["sleep"]))
    sys.stdout.write(hit.get("stdout", ""))
    sys.stderr.write(hit.get("stderr", ""))
    return int(hit.get("exit", 255))


class Ctx:
    def __init__(self, root):
        self.root = root
        self.pve_etc = os.path.join(root, "etc", "pve")
        self.mnt = os.path.join(root, "mnt", "pve")
        self.lock_timeout = float(os.environ.get("QM_LOCK_TIMEOUT", "0.5"))

    def local_vmids(self):
        d = os.path.join(self.pve_etc, "nodes", NODE, "qemu-server")
        try:
            names = os.listdir(d)
        except OSError:
            return []
        return sorted(int(m.group(1)) for m in (re.fullmatch(r"(\d+)\.conf", n)
                                                 for n in names) if m)


BOOL_OPTS = {"skiplock", "dryrun", "current", "verbose", "force"}


def parse_opts(args):
    """PVE CLI style: --key value, booleans may stand alone; returns (dict, positionals)."""
    opts, pos = {}, []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and len(a) > 1 and not re.fullmatch(r"-\d+", a):
            key = a.lstrip("-")
            if "=" in key:
                key, val = key.split("=", 1)
                opts[key] = val
            elif key in BOOL_OPTS:
                if i + 1 < len(args) and args[i + 1] in ("0", "1"):
                    opts[key] = args[i + 1]
                    i += 1
                else:
                    opts[key] = "1"
            else:
                if i + 1 >= len(args):
                    raise Usage("option '%s' requires a value" % a)
                opts[key] = args[i + 1]
                i += 1
        else:
            pos.append(a)
        i += 1
    return opts, pos


# ------------------------------------------------------------------------------ rescan

def scan_volids(ctx, vmid):
    """qemu-server scan_volids: every images volume of `vmid` on every enabled storage with
    images content whose directory is there (for NFS: "mounted"), size > 0."""
    storages = pf.read_storage_cfg(ctx.pve_etc)
    found = {}
    for sid, opts in storages.items():
        if not pf.storage_enabled(opts, NODE) or "images" not in pf.storage_content(opts):
            continue
        base = pf.storage_path(sid, opts, ctx.mnt)
        if base is None:
            continue
        if not os.path.isdir(base):
            # activate_storage would try to mount it; in the test tree that means the
            # symlink is missing, which PVE would report as the storage not being online
            print("storage '%s' is not online" % sid, file=sys.stderr)
            continue
        for e in pf.list_images(sid, base, vmid, VERSION):
            if e["format"] == "invalid":
                print("WARN: image '%s' is not in the expected format" % e["path"],
                      file=sys.stderr)
            if not e["size"]:
                continue
            found[e["volid"]] = e
    return found


# qemu-server valid_drive_names() order, which foreach_volume follows
DRIVE_ORDER = (["ide%d" % i for i in range(4)] + ["sata%d" % i for i in range(6)]
               + ["scsi%d" % i for i in range(31)] + ["virtio%d" % i for i in range(16)]
               + ["efidisk0", "tpmstate0"])


def update_disk_config(vmid, conf, volid_hash):
    """qemu-server update_disk_config, line for line: sizes of referenced drives, drop
    unusedN whose volume is attached, add unreferenced volumes as the lowest free unusedN."""
    changes = False
    prefix = "VM %d" % vmid
    referenced = set()
    referencedpath = set()
    main = conf.main
    for opt in [k for k in DRIVE_ORDER if k in main]:
        file, dopts = pf.parse_drive(main[opt])
        if not file:
            continue
        volume = volid_hash.get(file)
        referenced.add(file)
        if volume:
            referencedpath.add(os.path.realpath(volume["path"]))
        if pf.drive_is_cdrom(file, dopts) or not volume:
            continue
        old = pf.parse_size(dopts.get("size", "0")) or 0
        new = volume["size"]
        if new != old:
            dopts["size"] = pf.format_size(new)
            main[opt] = pf.print_drive(file, dopts)
            changes = True
            print("%s (%s): size of disk '%s' updated from %s to %s"
                  % (prefix, opt, file, pf.format_size(old), pf.format_size(new)))
    for opt in sorted((k for k in main if pf.is_unused_key(k)),
                      key=lambda k: int(k[6:])):
        file = pf.parse_drive(main[opt])[0]
        if not file:
            continue
        path = volid_hash[file]["path"] if file in volid_hash else None
        rpath = os.path.realpath(path) if path else None
        if file in referenced or (rpath and rpath in referencedpath):
            print("%s remove entry '%s', its volume '%s' is in use" % (prefix, opt, file))
            changes = True
            del main[opt]
        referenced.add(file)
        if rpath:
            referencedpath.add(rpath)
    for volid in sorted(volid_hash):
        if re.search(r"vm-%d-state-" % vmid, volid):
            continue
        if volid in referenced:
            continue
        path = volid_hash[volid].get("path")
        if not path:
            continue
        rpath = os.path.realpath(path)
        if rpath in referencedpath:
            continue
        key = pf.lowest_free_unused(main, volid)  # raises "Too many unused volumes"
        changes = True
        if key:
            main[key] = volid
            print("%s add unreferenced volume '%s' as '%s' to config" % (prefix, volid, key))
        referencedpath.add(rpath)
    return changes


def cmd_rescan(ctx, args):
    opts, pos = parse_opts(args)
    if pos:
        raise Usage("too many arguments")
    dryrun = pf._bool(opts.get("dryrun", "0"))
    if dryrun:
        print("NOTE: running in dry-run mode, won't write changes out!")
    vmids = [int(opts["vmid"])] if "vmid" in opts else ctx.local_vmids()
    print("rescan volumes...")
    for vmid in vmids:
        volid_hash = scan_volids(ctx, vmid)
        with pf.VmLock(ctx.root, vmid, ctx.lock_timeout):
            conf = pf.load_vm_config(ctx.pve_etc, NODE, vmid)
            if conf.main.get("lock"):
                raise PveError("VM is locked (%s)" % conf.main["lock"])
            try:
                changes = update_disk_config(vmid, conf, volid_hash)
            except ValueError as e:
                raise PveError(str(e))
            if changes and not dryrun:
                pf.write_vm_config(pf.conf_path(ctx.pve_etc, NODE, vmid), conf)
    return 0


# ------------------------------------------------------------------------------ set/config

def cmd_set(ctx, args):
    opts, pos = parse_opts(args)
    if len(pos) != 1 or not pos[0].isdigit():
        raise Usage("qm set <vmid> [OPTIONS]")
    vmid = int(pos[0])
    for k in opts:
        if k not in ("delete", "skiplock", "digest", "revert", "force") and \
                not re.fullmatch(r"[a-z][a-z_\-]*\d*", k):
            raise PveError.param(k, "property is not defined in schema and the schema does "
                                    "not allow additional properties")
    warnings = pf.update_vm_config(ctx.root, ctx.pve_etc, NODE, vmid, opts, user="root@pam",
                                   mnt_dir=ctx.mnt, version=VERSION,
                                   lock_timeout=ctx.lock_timeout)
    for w in warnings:
        print(w, file=sys.stderr)
    return 0


def cmd_config(ctx, args):
    opts, pos = parse_opts(args)
    if len(pos) != 1 or not pos[0].isdigit():
        raise Usage("qm config <vmid> [OPTIONS]")
    conf = pf.load_vm_config(ctx.pve_etc, NODE, int(pos[0]))
    section = pf.config_view(conf, opts.get("snapshot"), pf._bool(opts.get("current", "0")))
    # qm config prints sorted keys, no digest, the description encoded like in the file
    for k in sorted(section):
        v = section[k]
        if k == "description":
            v = pf.encode_text(v)
        print("%s: %s" % (k, v))
    return 0


def cmd_status(ctx, args):
    opts, pos = parse_opts(args)
    if len(pos) != 1 or not pos[0].isdigit():
        raise Usage("qm status <vmid> [OPTIONS]")
    vmid = int(pos[0])
    pf.load_vm_config(ctx.pve_etc, NODE, vmid)
    state = {"status": "stopped", "qmpstatus": "stopped"}
    try:
        with open(pf.runtime_state_path(ctx.root, vmid), encoding="utf-8") as f:
            state.update(json.load(f))
    except (OSError, ValueError):
        pass
    print("status: %s" % state["status"])
    if pf._bool(opts.get("verbose", "0")):
        print("qmpstatus: %s" % state["qmpstatus"])
        if state.get("pid"):
            print("pid: %s" % state["pid"])
        print("vmid: %d" % vmid)
    return 0


COMMANDS = {"rescan": cmd_rescan, "set": cmd_set, "config": cmd_config, "status": cmd_status}


def main(argv):
    started = pf.fake_start(argv, "qm")
    if started is None:
        return 2
    root, args = started
    rc = apply_fault(root, args)
    if rc is not None:
        return rc
    ctx = Ctx(root)
    if args[:2] == ["disk", "rescan"]:
        args = ["rescan"] + args[2:]
    if not args or args[0] not in COMMANDS:
        print("400 unknown command 'qm %s'" % " ".join(args[:1]), file=sys.stderr)
        return 255
    try:
        return COMMANDS[args[0]](ctx, args[1:])
    except Usage as e:
        print("400 wrong number of arguments or bad option\n%s" % e, file=sys.stderr)
        return 255
    except PveError as e:
        if e.errors:
            print("400 Parameter verification failed.", file=sys.stderr)
            for k, v in e.errors.items():
                print("%s: %s" % (k, v.rstrip("\n")), file=sys.stderr)
        else:
            print(e.message.rstrip("\n"), file=sys.stderr)
        return 255


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
