#!/usr/bin/python3
"""Fake nvme-cli for pve-ontap's tests: `nvme.py --root T <nvme arguments>`.

Appends argv (without --root T) as a JSON array line to T/nvme.log and acts on the state file
T/nvme-state.json:

  {"hostnqn": "nqn.2014-08.org.nvmexpress:uuid:...",
   "subnqn": "nqn.1992-08.com.netapp:sn.<x>:subsystem.pve-nvme",
   "portals": {"10.0.0.1": {"reachable": true, "connected": false}},
   "devices": [{"uuid": "...", "path": "/vol/pve_vm_100_disk_0/pve_vm_100_disk_0",
                "vserver": "svm_nvme", "size": 1073741824, "nguid": "...",
                "connect_on": "10.0.0.1" (or a list), "nsid": 1, "name": "nvme0n1"}]}

A device is *present* while at least one of its `connect_on` portals is connected; present
devices exist as regular (sparse) files T/dev/nvme<ctrl>n<nsid> with sysfs attributes under
T/sys/class/block/<name>/ (uuid, nguid, wwid, nsid, size in 512-byte sectors, hidden=0),
a udev-style link T/dev/disk/by-id/nvme-uuid.<uuid>, and -- as native NVMe multipath creates
-- a hidden per-path device nvme<ctrl>c<path>n<nsid> (sysfs hidden=1, plus a node in T/dev as
a trap: pve-ontap must never use it).

Commands: connect-all, connect, disconnect, disconnect-all, discover, list, ns-rescan,
show-hostnqn, netapp ontapdevices.  Tests add and remove namespaces with add_device() /
remove_device() (importable), which also materialise devices at once on a connected portal,
as a namespace mapped to a connected subsystem appears through an async event.
"""

import fcntl
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvefiles as pf  # noqa: E402

STATE = "nvme-state.json"
SUBSYS_INDEX = 0  # one ONTAP subsystem: controller/head index 0


class Fail(Exception):
    def __init__(self, msg, rc=1):
        super().__init__(msg)
        self.msg = msg
        self.rc = rc


class State:
    """Locked read-modify-write of T/nvme-state.json (tests and fakes may run concurrently)."""

    def __init__(self, root):
        self.root = root
        self.path = os.path.join(root, STATE)
        self.lockf = None
        self.data = None

    def __enter__(self):
        self.lockf = open(os.path.join(self.root, ".nvme-state.lock"), "a+")
        fcntl.flock(self.lockf, fcntl.LOCK_EX)
        try:
            with open(self.path, encoding="utf-8") as f:
                self.data = json.load(f)
        except FileNotFoundError:
            self.data = {}
        self.data.setdefault("hostnqn", "nqn.2014-08.org.nvmexpress:uuid:%s" % uuid.uuid4())
        self.data.setdefault("subnqn", "nqn.1992-08.com.netapp:sn.0123456789abcdef0123456789"
                                       "abcdef:subsystem.pve-nvme")
        self.data.setdefault("portals", {})
        self.data.setdefault("devices", [])
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            tmp = self.path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.data, f, indent=1)
            os.replace(tmp, self.path)
        fcntl.flock(self.lockf, fcntl.LOCK_UN)
        self.lockf.close()
        return False


# ------------------------------------------------------------------------------ devices

def _portals_of(dev):
    c = dev.get("connect_on")
    if c is None:
        return []
    return [c] if isinstance(c, str) else list(c)


def _portal_index(data, portal):
    return sorted(data["portals"]).index(portal) if portal in data["portals"] else 0


def _next_nsid(data):
    used = {d.get("nsid") for d in data["devices"] if d.get("nsid")}
    n = 1
    while n in used:
        n += 1
    return n


def _nguid(u):
    return u.replace("-", "")


def _dev_paths(root, name):
    return (os.path.join(root, "dev", name), os.path.join(root, "sys", "class", "block", name))


def _write(path, text):
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def _materialise(root, data, dev):
    """Create the device node, sysfs entries, by-id link and hidden path devices."""
    if not dev.get("nsid"):
        dev["nsid"] = _next_nsid(data)
    name = "nvme%dn%d" % (SUBSYS_INDEX, dev["nsid"])
    dev["name"] = name
    devnode, sysdir = _dev_paths(root, name)
    os.makedirs(os.path.dirname(devnode), exist_ok=True)
    os.makedirs(sysdir, exist_ok=True)
    with open(devnode, "ab") as f:
        f.truncate(int(dev.get("size", 1 << 30)))
    u = dev["uuid"]
    _write(os.path.join(sysdir, "uuid"), u + "\n")
    _write(os.path.join(sysdir, "nguid"), (dev.get("nguid") or _nguid(u)) + "\n")
    _write(os.path.join(sysdir, "wwid"), "uuid.%s\n" % u)
    _write(os.path.join(sysdir, "nsid"), "%d\n" % dev["nsid"])
    _write(os.path.join(sysdir, "size"), "%d\n" % (int(dev.get("size", 1 << 30)) // 512))
    _write(os.path.join(sysdir, "hidden"), "0\n")
    byid = os.path.join(root, "dev", "disk", "by-id")
    os.makedirs(byid, exist_ok=True)
    link = os.path.join(byid, "nvme-uuid.%s" % u)
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(os.path.join("..", "..", name), link)
    # one hidden path device per connected portal (native multipath)
    for portal in _portals_of(dev):
        if data["portals"].get(portal, {}).get("connected"):
            pname = "nvme%dc%dn%d" % (SUBSYS_INDEX, _portal_index(data, portal), dev["nsid"])
            pnode, psys = _dev_paths(root, pname)
            os.makedirs(psys, exist_ok=True)
            with open(pnode, "ab"):
                pass
            _write(os.path.join(psys, "uuid"), u + "\n")
            _write(os.path.join(psys, "hidden"), "1\n")
            _write(os.path.join(psys, "nsid"), "%d\n" % dev["nsid"])


def _remove_nodes(root, dev):
    name = dev.get("name")
    if not name:
        return
    for n in [name] + ["nvme%dc%dn%d" % (SUBSYS_INDEX, i, dev["nsid"]) for i in range(16)]:
        devnode, sysdir = _dev_paths(root, n)
        if os.path.lexists(devnode):
            os.unlink(devnode)
        if os.path.isdir(sysdir):
            for f in os.listdir(sysdir):
                os.unlink(os.path.join(sysdir, f))
            os.rmdir(sysdir)
    link = os.path.join(root, "dev", "disk", "by-id", "nvme-uuid.%s" % dev["uuid"])
    if os.path.lexists(link):
        os.unlink(link)
    dev.pop("name", None)


def _present(data, dev):
    return any(data["portals"].get(p, {}).get("connected") for p in _portals_of(dev))


def _sync(root, data):
    """Make T/dev and T/sys agree with the state (after any change)."""
    for dev in data["devices"]:
        if _present(data, dev):
            _materialise(root, data, dev)
        else:
            _remove_nodes(root, dev)


# --- importable helpers for tests --------------------------------------------------------

def set_portal(root, portal, reachable=True, connected=False):
    with State(root) as st:
        st.data["portals"][portal] = {"reachable": reachable, "connected": connected}
        _sync(root, st.data)


def add_device(root, uuid_, path, size, connect_on, vserver="svm_nvme", nguid=None):
    """Add a namespace visible through `connect_on`; returns its device name if it is
    present now (portal connected), else None."""
    with State(root) as st:
        dev = {"uuid": uuid_, "path": path, "size": int(size), "vserver": vserver,
               "connect_on": connect_on, "nguid": nguid or _nguid(uuid_)}
        st.data["devices"].append(dev)
        _sync(root, st.data)
        return dev.get("name")


def remove_device(root, uuid_):
    with State(root) as st:
        for dev in list(st.data["devices"]):
            if dev["uuid"] == uuid_:
                _remove_nodes(root, dev)
                st.data["devices"].remove(dev)


def devices(root):
    with State(root) as st:
        return [dict(d) for d in st.data["devices"]]


# ------------------------------------------------------------------------------ commands

def _opts(args, flags):
    """nvme-cli style options: -t tcp, --transport=tcp, --transport tcp."""
    out, pos = {}, []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            out[flags.get(k, k)] = v
        elif a.startswith("-") and len(a) > 1:
            k = a.lstrip("-")
            k = flags.get(k, k)
            if k in ("verbose", "quiet", "persistent", "force", "human-readable"):
                out[k] = True
            elif i + 1 < len(args):
                out[k] = args[i + 1]
                i += 1
            else:
                raise Fail("option '%s' requires an argument" % a, 22)
        else:
            pos.append(a)
        i += 1
    return out, pos


_FABRIC_FLAGS = {"t": "transport", "a": "traddr", "s": "trsvcid", "n": "nqn", "q": "hostnqn",
                 "w": "host-traddr", "o": "output-format", "d": "device", "v": "verbose"}


def _connect(root, args, all_):
    o, _ = _opts(args, _FABRIC_FLAGS)
    if o.get("transport", "tcp") != "tcp":
        raise Fail("transport type '%s' is not supported here" % o.get("transport"), 22)
    portal = o.get("traddr")
    if not portal:
        raise Fail("required argument [--traddr | -a] not specified", 22)
    with State(root) as st:
        p = st.data["portals"].get(portal)
        if p is None or not p.get("reachable"):
            raise Fail("Failed to write to /dev/nvme-fabrics: Connection timed out\n"
                       "failed to get discovery log: Connection timed out" if all_ else
                       "Failed to write to /dev/nvme-fabrics: Connection timed out", 110)
        if not all_ and o.get("nqn") and o["nqn"] != st.data["subnqn"]:
            raise Fail("Failed to write to /dev/nvme-fabrics: Input/output error", 5)
        if p.get("connected"):
            # nvme-cli 2.x reports an existing controller and succeeds
            print("already connected to hostnqn=%s,nqn=%s,transport=tcp,traddr=%s,trsvcid=%s"
                  % (st.data["hostnqn"], st.data["subnqn"], portal, o.get("trsvcid", "4420")),
                  file=sys.stderr)
            return 0
        p["connected"] = True
        _sync(root, st.data)
        if not all_:
            print("connecting to device: nvme%d" % SUBSYS_INDEX)
    return 0


def _disconnect(root, args, all_):
    o, _ = _opts(args, _FABRIC_FLAGS)
    with State(root) as st:
        n = 0
        for portal, p in st.data["portals"].items():
            if not p.get("connected"):
                continue
            if all_ or o.get("nqn") == st.data["subnqn"] or \
                    o.get("device") in ("nvme%d" % SUBSYS_INDEX, "/dev/nvme%d" % SUBSYS_INDEX):
                p["connected"] = False
                n += 1
        _sync(root, st.data)
        if not all_:
            print("NQN:%s disconnected %d controller(s)" % (o.get("nqn", ""), n))
    return 0


def _discover(root, args):
    o, _ = _opts(args, _FABRIC_FLAGS)
    portal = o.get("traddr")
    with State(root) as st:
        p = st.data["portals"].get(portal)
        if p is None or not p.get("reachable"):
            raise Fail("Failed to write to /dev/nvme-fabrics: Connection timed out", 110)
        recs = [{"trtype": "tcp", "adrfam": "ipv4", "subtype": "nvme subsystem",
                 "treq": "not specified", "portid": i, "trsvcid": "4420",
                 "subnqn": st.data["subnqn"], "traddr": a, "eflags": "none",
                 "sectype": "none"} for i, a in enumerate(sorted(st.data["portals"]))
                if st.data["portals"][a].get("reachable")]
    if o.get("output-format") == "json":
        print(json.dumps({"genctr": 2, "records": recs}, indent=2))
        return 0
    print("\nDiscovery Log Number of Records %d, Generation counter 2" % len(recs))
    for i, r in enumerate(recs):
        print("=====Discovery Log Entry %d======" % i)
        for k in ("trtype", "adrfam", "subtype", "treq", "portid", "trsvcid", "subnqn",
                  "traddr", "eflags", "sectype"):
            print("%-8s %s" % (k + ":", r[k]))
    return 0


def _present_devices(root):
    # a test may have edited the state file by hand: bring T/dev and T/sys in line first
    with State(root) as st:
        _sync(root, st.data)
        return [dict(d) for d in st.data["devices"] if _present(st.data, d)], st.data


def _list(root, args):
    o, _ = _opts(args, _FABRIC_FLAGS)
    devs, _ = _present_devices(root)
    devs.sort(key=lambda d: d["nsid"])
    if o.get("output-format") == "json":
        out = []
        for i, d in enumerate(devs):
            size = int(d.get("size", 1 << 30))
            out.append({"NameSpace": d["nsid"], "DevicePath": "/dev/%s" % d["name"],
                        "GenericPath": "/dev/ng%dn%d" % (SUBSYS_INDEX, d["nsid"]),
                        "Firmware": "9.16.1", "Index": i,
                        "ModelNumber": "NetApp ONTAP Controller",
                        "SerialNumber": "81Lk3cD7Y2mjAAAAAAAB", "UUID": d["uuid"],
                        "UsedBytes": size, "MaximumLBA": size // 4096,
                        "PhysicalSize": size, "SectorSize": 4096})
        print(json.dumps({"Devices": out}, indent=2))
        return 0
    print("%-21s %-21s %-20s %-40s %-10s %-26s %-16s %-8s" % (
        "Node", "Generic", "SN", "Model", "Namespace", "Usage", "Format", "FW Rev"))
    for d in devs:
        size = int(d.get("size", 1 << 30))
        print("%-21s %-21s %-20s %-40s %-10s %-26s %-16s %-8s" % (
            "/dev/" + d["name"], "/dev/ng%dn%d" % (SUBSYS_INDEX, d["nsid"]),
            "81Lk3cD7Y2mjAAAAAAAB", "NetApp ONTAP Controller", "0x%x" % d["nsid"],
            "%.2f GB / %.2f GB" % (size / 1e9, size / 1e9), "4 KiB + 0 B", "9.16.1"))
    return 0


def _human(size):
    for unit, div in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= div:
            return "%.2f%s" % (size / div, unit)
    return "%dB" % size


def _ontapdevices(root, args):
    o, _ = _opts(args, _FABRIC_FLAGS)
    devs, _ = _present_devices(root)
    devs.sort(key=lambda d: d["nsid"])
    fmt = o.get("output-format", "normal")
    # Real nvme-cli prints a complaint about the hidden per-path devices it cannot query
    # before the JSON document; clients must skip to the first '{'.
    print("Unable to open /dev/nvme%dc0n1: No such file or directory" % SUBSYS_INDEX)
    if fmt == "json":
        out = [{"Device": "/dev/%s" % d["name"], "Vserver": d.get("vserver", "svm"),
                "Namespace_Path": d["path"], "NSID": d["nsid"], "UUID": d["uuid"],
                "Size": _human(int(d.get("size", 1 << 30))), "LBA_Data_Size": 4096,
                "Namespace_Size": int(d.get("size", 1 << 30)) // 4096} for d in devs]
        print(json.dumps({"ONTAPdevices": out}, indent=2))
        return 0
    print("%-16s %-25s %-50s %-5s %-36s %-9s" % ("Device", "Vserver", "Namespace Path",
                                                "NSID", "UUID", "Size"))
    for d in devs:
        print("%-16s %-25s %-50s %-5d %-36s %-9s" % (
            "/dev/" + d["name"], d.get("vserver", "svm"), d["path"], d["nsid"], d["uuid"],
            _human(int(d.get("size", 1 << 30)))))
    return 0


def _ns_rescan(root, args):
    with State(root) as st:
        _sync(root, st.data)
    return 0


def _show_hostnqn(root, args):
    """As nvme-cli 2.x nvme.c show_hostnqn_cmd: nvmf_hostnqn_from_file() (the first line of
    SYSCONFDIR/nvme/hostnqn, here T/etc/nvme/hostnqn; an empty file counts as none), else
    nvmf_hostnqn_generate() ("nqn.2014-08.org.nvmexpress:uuid:<hostid>", libnvme fabrics.c,
    the hostid from the DMI product uuid: stable per machine, here the state's "hostnqn"),
    printed with "%s\n"."""
    try:
        with open(os.path.join(root, "etc", "nvme", "hostnqn"), encoding="ascii",
                  errors="replace") as f:
            line = f.read(4095).split("\n", 1)[0]
    except OSError:
        line = ""
    if line:
        print(line)
        return 0
    with State(root) as st:
        print(st.data["hostnqn"])
    return 0


def main(argv):
    started = pf.fake_start(argv, "nvme")
    if started is None:
        return 2
    root, args = started
    if not args:
        print("usage: nvme <command> [<device>] [<args>]", file=sys.stderr)
        return 1
    cmd, rest = args[0], args[1:]
    try:
        if cmd == "connect-all":
            return _connect(root, rest, True)
        if cmd == "connect":
            return _connect(root, rest, False)
        if cmd == "disconnect":
            return _disconnect(root, rest, False)
        if cmd == "disconnect-all":
            return _disconnect(root, rest, True)
        if cmd == "discover":
            return _discover(root, rest)
        if cmd == "list":
            return _list(root, rest)
        if cmd == "ns-rescan":
            return _ns_rescan(root, rest)
        if cmd == "show-hostnqn":
            return _show_hostnqn(root, rest)
        if cmd == "netapp" and rest[:1] == ["ontapdevices"]:
            return _ontapdevices(root, rest[1:])
        print("ERROR: Invalid sub-command '%s' for plugin" % " ".join(args[:2])
              if cmd == "netapp" else "ERROR: Invalid sub-command '%s'" % cmd,
              file=sys.stderr)
        return 1
    except Fail as e:
        print(e.msg, file=sys.stderr)
        # nvme-cli 2.x exits with the (positive) errno, clamped by the shell to 8 bits
        return e.rc & 0xFF or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
