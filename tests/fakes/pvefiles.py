"""Proxmox VE on-disk formats shared by the fake `qm` and the PVE simulator.

One implementation of the VM config format, storage.cfg, volume ids and PVE's image-name rules,
so that the simulator's API, the fake `qm` and pve-ontap's local reader all see the same files
("one truth", HACKING.md).  Behaviour follows ../shared/reference/pve.md; the PVE source each
function mirrors is named in its docstring.  Standard library only: the fakes run under
Debian's /usr/bin/python3 with no extra packages.
"""

import errno
import json
import os
import re
import struct
import sys
import tempfile
import time

# --------------------------------------------------------------------------------------------
# Sizes (pve-common PVE::JSONSchema parse_size / format_size)
# --------------------------------------------------------------------------------------------

_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def fake_start(argv, tool):
    """The common start of the fake commands (qm.py, nvme.py): 'TOOL.py --root T args...'.
    Logs args as one JSON line to T/TOOL.log (O_APPEND writes of one short line are atomic,
    so concurrent fakes do not interleave) and returns (T, args), or None after printing
    the usage line."""
    if len(argv) < 2 or argv[0] != "--root":
        print("usage: %s.py --root T <%s arguments>" % (tool, tool), file=sys.stderr)
        return None
    root = os.path.abspath(argv[1])
    args = argv[2:]
    fd = os.open(os.path.join(root, tool + ".log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                 0o644)
    try:
        os.write(fd, (json.dumps(args) + "\n").encode())
    finally:
        os.close(fd)
    return root, args


def parse_size(text):
    """'32G' -> bytes; a bare number is bytes.  Returns None when unparsable."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)\s*", str(text))
    if not m:
        return None
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


def format_size(size):
    """Exactly PVE's format_size: largest unit that divides evenly; 0 comes out as '0T'
    because the Perl code only stops when a division leaves a remainder."""
    size = int(size)
    kb = size // 1024
    if kb * 1024 != size:
        return str(size)
    mb = kb // 1024
    if mb * 1024 != kb:
        return "%dK" % kb
    gb = mb // 1024
    if gb * 1024 != mb:
        return "%dM" % mb
    tb = gb // 1024
    if tb * 1024 != gb:
        return "%dG" % gb
    return "%dT" % tb


# --------------------------------------------------------------------------------------------
# Description encoding (pve-common PVE::Tools encode_text / decode_text)
# --------------------------------------------------------------------------------------------

def encode_text(text):
    # PVE encodes control characters, high-bit bytes and ':' (so a comment line can never be
    # mistaken for a key) as %XX; '%' itself is left alone, exactly like the Perl code.
    out = []
    for ch in text:
        o = ord(ch)
        if o < 0x20 or 0x7F <= o <= 0xFF or ch == ":":
            out.append("%%%02X" % o)
        else:
            out.append(ch)
    return "".join(out)


def decode_text(text):
    return re.sub(r"%([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


# --------------------------------------------------------------------------------------------
# VM config (qemu-server parse_vm_config / write_vm_config)
# --------------------------------------------------------------------------------------------

DRIVE_KEY_RE = re.compile(
    r"^(?:ide[0-3]|sata[0-5]|scsi(?:[0-9]|[12][0-9]|30)|virtio(?:[0-9]|1[0-5])"
    r"|efidisk0|tpmstate0)$")
UNUSED_KEY_RE = re.compile(r"^unused(\d+)$")
MAX_UNUSED = 256  # unused0 .. unused255 (qemu-server MAX_UNUSED_DISKS)

_KEY_LINE_RE = re.compile(r"^([a-z][a-z_\-]*\d*):\s*(.+?)\s*$")
_SNAP_RE = re.compile(r"^\[([a-z][a-z0-9_\-]+)\]\s*$", re.I)


def is_drive_key(key):
    return bool(DRIVE_KEY_RE.match(key))


def is_unused_key(key):
    m = UNUSED_KEY_RE.match(key)
    return bool(m) and int(m.group(1)) < MAX_UNUSED


class VmConfig:
    """A parsed <vmid>.conf: `main` (dict of the live section, description under
    'description'), `pending` (dict, may hold 'delete'), `special` (name -> dict, e.g.
    'cloudinit') and `snapshots` (name -> dict).  Writing sorts keys, as PVE does, so a
    round trip through any writer gives the same bytes."""

    def __init__(self):
        self.main = {}
        self.pending = {}
        self.special = {}
        self.snapshots = {}

    @classmethod
    def parse(cls, text):
        conf = cls()
        section = conf.main
        descr = None
        descr_target = conf.main

        def flush_descr():
            if descr is not None:
                # PVE keeps the newline-joined comment lines; drop the final newline so a
                # write/parse round trip is stable.
                descr_target["description"] = descr[:-1] if descr.endswith("\n") else descr

        for line in text.splitlines():
            if not line.strip():
                continue
            if re.match(r"^\[PENDING\]\s*$", line, re.I):
                flush_descr()
                descr, section = None, conf.pending
                descr_target = section
                continue
            m = re.match(r"^\[special:([a-z]+)\]\s*$", line, re.I)
            if m:
                flush_descr()
                descr, section = None, conf.special.setdefault(m.group(1), {})
                descr_target = section
                continue
            m = _SNAP_RE.match(line)
            if m:
                flush_descr()
                descr, section = None, conf.snapshots.setdefault(m.group(1), {})
                descr_target = section
                continue
            if line.startswith("#"):
                descr = (descr or "") + decode_text(line[1:]) + "\n"
                continue
            m = _KEY_LINE_RE.match(line)
            if m:
                section[m.group(1)] = m.group(2)
            # Unparsable lines are warned about and dropped by PVE; we drop them too.
        flush_descr()
        return conf

    @staticmethod
    def _raw_section(d):
        raw = []
        descr = d.get("description")
        if descr is not None:
            if descr:
                raw.extend("#" + encode_text(cl) for cl in descr.split("\n"))
            else:
                raw.append("#")
        for key in sorted(d):
            if key in ("digest", "description"):
                continue
            raw.append("%s: %s" % (key, d[key]))
        return "".join(line + "\n" for line in raw)

    def text(self):
        out = self._raw_section(self.main)
        if self.pending:
            out += "\n[PENDING]\n" + self._raw_section(self.pending)
        for name in sorted(self.special):
            out += "\n[special:%s]\n" % name + self._raw_section(self.special[name])
        for name in sorted(self.snapshots):
            out += "\n[%s]\n" % name + self._raw_section(self.snapshots[name])
        return out


def read_vm_config(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return VmConfig.parse(f.read())


def atomic_write(path, data, mode=0o640):
    """Write via a temporary file in the same directory and rename, so a concurrent reader
    (pve-ontap's local reader, the watcher) never sees a half-written file, as with pmxcfs."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_vm_config(path, conf):
    atomic_write(path, conf.text())


# --------------------------------------------------------------------------------------------
# Drive property strings (qemu-server Drive.pm parse_drive / print_drive)
# --------------------------------------------------------------------------------------------

def parse_drive(value):
    """'[file=]<volid>[,k=v...]' -> (file, dict of options in given order)."""
    parts = value.split(",")
    opts = {}
    file = None
    for i, part in enumerate(parts):
        if "=" in part:
            k, v = part.split("=", 1)
            if k == "file":
                file = v
            else:
                opts[k] = v
        elif i == 0:
            file = part
        else:
            # A bare flag after the first element is not valid PVE syntax; keep it verbatim
            # so we never silently lose data.
            opts[part] = None
    return file, opts


def print_drive(file, opts):
    """PVE prints the default key (file) first and the other keys sorted."""
    out = [file]
    for k in sorted(opts):
        out.append(k if opts[k] is None else "%s=%s" % (k, opts[k]))
    return ",".join(out)


def drive_is_cdrom(file, opts):
    return file == "cdrom" or opts.get("media") == "cdrom"


def lowest_free_unused(main, volid=None):
    """qemu-server add_unused_volume: lowest free unusedN; None if `volid` is already an
    unused entry (no duplicates).  Raises ValueError when all 256 slots are taken."""
    key = None
    for ind in range(MAX_UNUSED - 1, -1, -1):
        test = "unused%d" % ind
        vid = main.get(test)
        if vid is not None:
            if volid is not None and parse_drive(vid)[0] == volid:
                return None
        else:
            key = test
    if key is None:
        raise ValueError("Too many unused volumes - please delete them first.")
    return key


# --------------------------------------------------------------------------------------------
# storage.cfg (pve-common SectionConfig, pve-storage plugins)
# --------------------------------------------------------------------------------------------

STORAGE_ID_RE = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", re.I)

# Options whose value is a boolean in the storage schema; a bare key in storage.cfg means 1.
STORAGE_BOOL_OPTS = {"disable", "shared", "mkdir", "create-base-path", "create-subdirs",
                     "is_mountpoint", "sparse", "krbd", "nocow", "saferemove",
                     "snapshot-as-volume-chain", "tagged_only", "fuse",
                     "nowritecache", "skip-cert-verification"}

# Type-specific default content (pve-storage plugin defaults); 'dir' and 'nfs' default to
# images when `content` is missing from storage.cfg.
_DEFAULT_CONTENT = {"dir": "images,rootdir", "nfs": "images", "cifs": "images"}
_SHARED_TYPES = {"nfs", "cifs", "cephfs", "rbd", "iscsi", "iscsidirect", "pbs", "glusterfs"}


def parse_storage_cfg(text):
    """-> dict id -> dict(type=..., <opt>=<str>), in file order."""
    out = {}
    cur = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^(\S+):\s*(\S+)\s*$", line)
        if m and not line[0].isspace():
            cur = {"type": m.group(1)}
            out[m.group(2)] = cur
            continue
        m = re.match(r"^\s+(\S+)(?:\s+(.*\S))?\s*$", line)
        if m and cur is not None:
            key, val = m.group(1), m.group(2)
            cur[key] = "1" if val is None else val
    return out


# Per type, the keys PVE treats as fixed; SectionConfig writes them first (sorted), then the
# others (sorted) -- which is why pvesm.adoc shows export/path/server before content/options.
STORAGE_FIXED_KEYS = {"nfs": ("export", "path", "server", "snapshot-as-volume-chain"),
                      "cifs": ("path", "server", "share", "subdir"),
                      "dir": ("path",)}


def format_storage_cfg(storages):
    """Each section: '<type>: <id>' then tab-indented '<key> <value>' lines, blank line
    between sections (pvesm.adoc).  Booleans are written as 0/1."""
    chunks = []
    for sid, opts in storages.items():
        lines = ["%s: %s" % (opts["type"], sid)]
        fixed = STORAGE_FIXED_KEYS.get(opts["type"], ())
        keys = [k for k in opts if k not in ("type", "digest", "storage")]
        keys = sorted(k for k in keys if k in fixed) + sorted(k for k in keys
                                                              if k not in fixed)
        for k in keys:
            lines.append("\t%s %s" % (k, opts[k]))
        chunks.append("\n".join(lines) + "\n")
    return "\n".join(chunks)


def read_storage_cfg(pve_etc):
    try:
        with open(os.path.join(pve_etc, "storage.cfg"), encoding="utf-8") as f:
            return parse_storage_cfg(f.read())
    except FileNotFoundError:
        return {}


def write_storage_cfg(pve_etc, storages):
    atomic_write(os.path.join(pve_etc, "storage.cfg"), format_storage_cfg(storages))


def storage_content(opts):
    c = opts.get("content", _DEFAULT_CONTENT.get(opts.get("type"), ""))
    return [x for x in re.split(r"[,;\s]+", c) if x]


def storage_shared(opts):
    return opts.get("type") in _SHARED_TYPES or opts.get("shared") == "1"


def storage_enabled(opts, node=None):
    if opts.get("disable") == "1":
        return False
    nodes = opts.get("nodes")
    if node and nodes:
        return node in re.split(r"[,;\s]+", nodes)
    return True


def storage_path(sid, opts, mnt_dir):
    """Directory-style storages: explicit `path`, else PVE's default mount point, which in a
    test tree is <mnt_dir>/<id> (mnt_dir = T/mnt/pve)."""
    if opts.get("path"):
        return opts["path"]
    if opts.get("type") in ("nfs", "cifs", "cephfs"):
        return os.path.join(mnt_dir, sid)
    return None


# --------------------------------------------------------------------------------------------
# Volume names (pve-storage Plugin.pm parse_name_dir / parse_volname / list_images)
# --------------------------------------------------------------------------------------------

IMAGE_EXTS = ("raw", "qcow2", "vmdk", "subvol")


def parse_name_dir(name, version="pve9"):
    """Returns the format ('raw', 'qcow2', ...) when PVE accepts `name` as a volume file
    name in images/<vmid>/, else None (pve.md section 8)."""
    if "/" in name or re.search(r"\s", name):
        return None
    m = re.fullmatch(r"(.+)\.(raw|qcow2|vmdk|subvol)", name, re.S)
    if not m:
        return None
    fmt = m.group(2)
    if str(version).endswith("9"):
        # PVE 9 reserves snap-*.qcow2 for snapshot-as-volume-chain files.
        if name.startswith("snap-") and fmt == "qcow2":
            return None
    return fmt


def parse_volid(volid):
    """'<storage>:<volname>' -> (storage, volname), splitting at the first ':' after a valid
    storage id; None for absolute paths and malformed ids."""
    m = re.match(r"^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$", volid, re.I)
    if not m:
        return None
    return m.group(1), m.group(2)


def parse_volname(volname, version="pve9"):
    """-> dict(vtype, owner (int or None), name, format) or None.
    `<vmid>/<file>` is an image owned by the directory's VMID; `snippets/<file>` a snippet."""
    m = re.fullmatch(r"(\d+)/([^/]+)", volname)
    if m:
        fmt = parse_name_dir(m.group(2), version)
        if not fmt:
            return None
        return {"vtype": "images", "owner": int(m.group(1)), "name": m.group(2),
                "format": fmt}
    m = re.fullmatch(r"(\d+)/([^/]+)/(\d+)/([^/]+)", volname)
    if m:  # linked clone: <vmid>/<base>/<vmid>/<file>
        fmt = parse_name_dir(m.group(4), version)
        if not fmt:
            return None
        return {"vtype": "images", "owner": int(m.group(3)), "name": m.group(4),
                "format": fmt, "base": m.group(2)}
    m = re.fullmatch(r"snippets/([^/]+)", volname)
    if m:
        return {"vtype": "snippets", "owner": None, "name": m.group(1), "format": "snippet"}
    m = re.fullmatch(r"iso/([^/]+\.(?:iso|img))", volname, re.I)
    if m:
        return {"vtype": "iso", "owner": None, "name": m.group(1), "format": "iso"}
    return None


def volume_path(volid, storages, mnt_dir, version="pve9"):
    """Absolute path of a volume id on a directory-style storage, or None."""
    p = parse_volid(volid)
    if not p:
        return None
    sid, volname = p
    opts = storages.get(sid)
    if opts is None:
        return None
    base = storage_path(sid, opts, mnt_dir)
    info = parse_volname(volname, version)
    if base is None or info is None:
        return None
    if info["vtype"] == "images":
        return os.path.join(base, "images", volname)
    if info["vtype"] == "snippets":
        return os.path.join(base, "snippets", info["name"])
    if info["vtype"] == "iso":
        return os.path.join(base, "template", "iso", info["name"])
    return None


_QCOW2_MAGIC = b"QFI\xfb"


def image_info(path, fmt):
    """-> (format, size) like file_size_info: qcow2 reports its virtual size from the header;
    a file whose content does not match its extension is format 'invalid' (PVE warns and
    still lists it).  Returns None when the file cannot be read."""
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if fmt == "qcow2":
        if len(head) >= 32 and head[:4] == _QCOW2_MAGIC:
            return "qcow2", struct.unpack(">Q", head[24:32])[0]
        return "invalid", st.st_size
    if fmt == "raw":
        if head[:4] == _QCOW2_MAGIC:
            return "invalid", st.st_size
        return "raw", st.st_size
    if fmt == "vmdk":
        if head[:4] == b"KDMV" or head.startswith(b"# Disk DescriptorFile"):
            return "vmdk", st.st_size
        return "invalid", st.st_size
    return fmt, st.st_size


def list_images(sid, base, vmid=None, version="pve9", formats=IMAGE_EXTS):
    """pve-storage Plugin::list_images for one directory-style storage: glob
    images/<digits>/*, accept only names parse_name_dir accepts, owner = directory number.
    Returns a list of dicts (volid, vmid, format, size, used, ctime, path), sorted by volid."""
    out = []
    images = os.path.join(base, "images")
    try:
        dirs = sorted(os.listdir(images))
    except OSError:
        return out
    for d in dirs:
        if not d.isdigit():
            continue
        owner = int(d)
        if vmid is not None and owner != int(vmid):
            continue
        try:
            names = sorted(os.listdir(os.path.join(images, d)))
        except OSError:
            continue
        for name in names:
            fmt = parse_name_dir(name, version)
            if not fmt or fmt not in formats:
                continue
            path = os.path.join(images, d, name)
            if not os.path.isfile(path):
                continue
            info = image_info(path, fmt)
            if info is None:
                continue
            st = os.stat(path)
            out.append({"volid": "%s:%s/%s" % (sid, d, name), "vmid": owner,
                        "format": info[0], "size": info[1],
                        "used": st.st_blocks * 512, "ctime": int(st.st_mtime),
                        "path": path})
    out.sort(key=lambda e: e["volid"])
    return out


# --------------------------------------------------------------------------------------------
# Locks shared by the fake qm and the simulator
# --------------------------------------------------------------------------------------------

def flock_path(root, vmid):
    """Test-tree stand-in for the flock on /var/lock/qemu-server/lock-<vmid>.conf: while the
    file T/lock-<vmid> exists, someone (a running hook, a test) holds the VM's config lock."""
    return os.path.join(root, "lock-%d" % int(vmid))


def wait_flock(root, vmid, timeout):
    """Returns True once the lock is free, False after `timeout` seconds (PVE waits 10 s)."""
    deadline = time.monotonic() + timeout
    while os.path.exists(flock_path(root, vmid)):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def flock_error(vmid):
    return ("can't lock file '/var/lock/qemu-server/lock-%d.conf' - got timeout" % int(vmid))


def runtime_state_path(root, vmid):
    """The simulator mirrors each VM's run state here (T/run/qemu-server/<vmid>.json) so the
    fake `qm status` agrees with the API, as qm and the API share /var/run on a real node."""
    return os.path.join(root, "run", "qemu-server", "%d.json" % int(vmid))


def ensure_dir(path, mode=0o755):
    try:
        os.makedirs(path, mode=mode, exist_ok=True)
    except OSError as e:  # a dangling symlink in the way, e.g.
        if e.errno != errno.EEXIST:
            raise


# --------------------------------------------------------------------------------------------
# Config updates (qemu-server API2/Qemu.pm update_vm_api), shared by PUT/POST .../config in
# the simulator and the fake `qm set`, which in PVE is the same API code run from the CLI.
# --------------------------------------------------------------------------------------------

class PveError(Exception):
    """An error as PVE reports it: HTTP status (500 unless a parameter error), message, and
    for 400 a map param -> message.  The fake qm prints `message` and exits 255."""

    def __init__(self, message, status=500, errors=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors

    @classmethod
    def param(cls, name, msg):
        return cls("Parameter verification failed.", 400, {name: msg})


def conf_path(pve_etc, node, vmid):
    return os.path.join(pve_etc, "nodes", node, "qemu-server", "%d.conf" % int(vmid))


def conf_digest(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def load_vm_config(pve_etc, node, vmid):
    path = conf_path(pve_etc, node, vmid)
    try:
        return read_vm_config(path)
    except FileNotFoundError:
        raise PveError("Configuration file 'nodes/%s/qemu-server/%d.conf' does not exist"
                       % (node, int(vmid)))


def config_view(conf, snapshot=None, current=False):
    """What GET /nodes/<node>/qemu/<vmid>/config and 'qm config' (the same API method,
    qemu-server API2/Qemu.pm vm_config) return: a snapshot's section
    (QemuConfig->load_snapshot_config), else the main section with the pending values
    applied and the pending deletions removed unless current (pve-guest-common
    AbstractConfig.pm load_current_config)."""
    if snapshot:
        if snapshot not in conf.snapshots:
            raise PveError("snapshot '%s' does not exist" % snapshot)
        return dict(conf.snapshots[snapshot])
    section = dict(conf.main)
    if not current:
        for k, v in conf.pending.items():
            if k != "delete":
                section[k] = v
        for k in re.split(r"[,;\s]+", conf.pending.get("delete", "")):
            if k:
                section.pop(k.lstrip("!"), None)
    return section


class VmLock:
    """Holds the VM's config flock (T/lock-<vmid>) for the duration of a `with` block; waits
    `timeout` seconds for another holder first, then fails with PVE's message."""

    def __init__(self, root, vmid, timeout):
        self.path = flock_path(root, vmid)
        self.vmid = vmid
        self.timeout = timeout
        self.held = False

    def __enter__(self):
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                os.write(fd, b"%d\n" % os.getpid())
                os.close(fd)
                self.held = True
                return self
            except FileExistsError:
                if time.monotonic() >= deadline:
                    raise PveError(flock_error(self.vmid))
                time.sleep(0.02)

    def __exit__(self, *exc):
        if self.held:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.held = False
        return False


def _volume_in_main(main, volid, skip_key=None):
    for k, v in main.items():
        if k == skip_key or not (is_drive_key(k) or is_unused_key(k) or k == "vmstate"):
            continue
        if parse_drive(v)[0] == volid:
            return True
    return False


def _volume_in_snapshots(conf, volid):
    return any(_volume_in_main(s, volid) for s in conf.snapshots.values())


class StoreCtx:
    """What config updates need to know about storages: storage.cfg contents, where NFS
    storages are mounted in the tree, and which naming rules (pve8/pve9) apply."""

    def __init__(self, pve_etc, mnt_dir, version="pve9"):
        self.pve_etc = pve_etc
        self.mnt_dir = mnt_dir
        self.version = version
        self.storages = read_storage_cfg(pve_etc)

    def path(self, volid):
        return volume_path(volid, self.storages, self.mnt_dir, self.version)

    def owner(self, volid):
        """VMID owning a volume (the images/<vmid>/ directory); raises like
        PVE::Storage::parse_volume_id for unknown storages."""
        p = parse_volid(volid)
        if not p:
            return None
        if p[0] not in self.storages:
            raise PveError("storage '%s' does not exist" % p[0])
        info = parse_volname(p[1], self.version)
        return info["owner"] if info else None


def _file_size(path):
    try:
        with open(path, "rb") as f:
            return f.seek(0, os.SEEK_END)
    except OSError:
        return None


def check_hookscript(volid, sc):
    """pve-guest-common GuestHelpers::check_hookscript: a `snippets` volume that exists and
    is executable.  Returns the absolute path."""
    p = parse_volid(volid)
    if not p or p[0] not in sc.storages:
        raise PveError("storage '%s' does not exist" % (p[0] if p else volid))
    info = parse_volname(p[1], sc.version)
    if not info or info["vtype"] != "snippets":
        raise PveError("'%s' is not in the snippets directory" % volid)
    path = sc.path(volid)
    if not path or not os.path.isfile(path):
        raise PveError("script '%s' does not exist" % volid)
    if not os.access(path, os.X_OK):
        raise PveError("script '%s' is not executable" % volid)
    return path


def _find_free_diskname(sc, sid, vmid, fmt):
    """pve-storage find_free_diskname: counts only (vm|base)-<vmid>-disk-<N>.<ext>."""
    base = storage_path(sid, sc.storages[sid], sc.mnt_dir)
    used = set()
    try:
        for name in os.listdir(os.path.join(base, "images", str(vmid))):
            m = re.fullmatch(r"(?:vm|base)-%d-disk-(\d+)\.(?:raw|qcow2|vmdk|subvol)" % vmid,
                             name)
            if m:
                used.add(int(m.group(1)))
    except OSError:
        pass
    n = 0
    while n in used:
        n += 1
    return "vm-%d-disk-%d.%s" % (vmid, n, fmt)


def _prepare_drive(key, value, vmid, sc, user):
    """Validates a drive value and returns the value to store (with size=), allocating a
    new image for the STORAGE:SIZE_GiB syntax."""
    file, opts = parse_drive(value)
    if file is None:
        raise PveError.param(key, "invalid format - missing volume")
    if drive_is_cdrom(file, opts) or file == "none":
        return print_drive(file, opts)
    m = re.fullmatch(r"([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?)", file, re.I)
    if m:  # allocate a new disk: STORAGE_ID:SIZE_IN_GiB
        sid = m.group(1)
        if sid not in sc.storages:
            raise PveError("storage '%s' does not exist" % sid)
        fmt = opts.pop("format", None) or sc.storages[sid].get("format", "raw")
        name = _find_free_diskname(sc, sid, vmid, fmt)
        size = int(float(m.group(2)) * (1 << 30))
        path = os.path.join(storage_path(sid, sc.storages[sid], sc.mnt_dir), "images",
                            str(vmid), name)
        ensure_dir(os.path.dirname(path))
        with open(path, "wb") as f:
            f.truncate(size)
        opts["size"] = format_size(size)
        return print_drive("%s:%d/%s" % (sid, vmid, name), opts)
    if file.startswith("/"):
        if user != "root@pam":
            raise PveError("only root can pass arbitrary filesystem paths")
        size = _file_size(file)
        if not size:
            raise PveError("volume '%s' does not exist" % file)
        opts["size"] = format_size(size)
        return print_drive(file, opts)
    p = parse_volid(file)
    if not p:
        raise PveError.param(key, "invalid format - unable to parse volume ID '%s'" % file)
    if p[0] not in sc.storages:
        raise PveError("storage '%s' does not exist" % p[0])
    path = sc.path(file)
    size = _file_size(path) if path else None
    if not size:
        # volume_size_info returns 0/undef for missing or empty images
        raise PveError("volume '%s' does not exist" % file)
    opts["size"] = format_size(size)
    return print_drive(file, opts)


def _free_volume(sc, volid, warnings):
    """vdisk_free on a directory storage: a missing file is only a warning."""
    path = sc.path(volid)
    if path is None:
        return
    if not os.path.isfile(path):
        warnings.append("disk image '%s' does not exist" % path)
        return
    os.unlink(path)


def _register_unused(conf, sc, vmid, volid):
    """vmconfig_register_unused_drive: a detached owned volume becomes the lowest unusedN."""
    try:
        if sc.owner(volid) != vmid:
            return
    except PveError:
        return
    key = lowest_free_unused(conf.main, volid)
    if key:
        conf.main[key] = volid


ROOT_ONLY_KEYS = {"hookscript", "args", "lock", "vmstate"}
_SPECIAL = {"delete", "revert", "digest", "skiplock", "force", "background_delay", "node",
            "vmid"}


def _bool(v):
    return str(v).lower() in ("1", "true", "yes", "on")


def update_vm_config(root, pve_etc, node, vmid, params, user="root@pam", mnt_dir=None,
                     version="pve9", lock_timeout=10.0):
    """Applies a PUT/POST config or `qm set`: deletes first, then sets, under the VM's flock,
    refusing on a config `lock:` unless skiplock (root@pam only).  Returns warnings."""
    vmid = int(vmid)
    mnt_dir = mnt_dir or os.path.join(root, "mnt", "pve")
    warnings = []
    skiplock = _bool(params.get("skiplock", 0))
    if skiplock and user != "root@pam":
        raise PveError.param("skiplock", "Only root may use this option.")
    deletes = [d for d in re.split(r"[,;\s]+", str(params.get("delete", ""))) if d]
    sets = {k: v for k, v in params.items() if k not in _SPECIAL}
    if user != "root@pam":
        for k in list(sets) + deletes:
            if k in ROOT_ONLY_KEYS:
                raise PveError("only root can set '%s' config" % k)
    for k in deletes:
        if k in sets:
            raise PveError.param(k, "can't set and delete the same option")
    sc = StoreCtx(pve_etc, mnt_dir, version)
    path = conf_path(pve_etc, node, vmid)
    with VmLock(root, vmid, lock_timeout):
        conf = load_vm_config(pve_etc, node, vmid)
        if params.get("digest") and params["digest"] != conf_digest(path):
            raise PveError("detected modified configuration - file changed by other user? "
                           "Try again.")
        if conf.main.get("lock") and not skiplock:
            raise PveError("VM is locked (%s)" % conf.main["lock"])
        for key in deletes:
            val = conf.main.get(key)
            if val is None:
                warnings.append("cannot delete '%s' - not set in current configuration!"
                                % key)
                continue
            if is_unused_key(key):
                volid = parse_drive(val)[0]
                if _volume_in_main(conf.main, volid, skip_key=key):
                    raise PveError("unable to delete '%s' - volume is in use" % key)
                # qemu-server QemuServer.pm try_deallocate_drive (called from the m/^unused/
                # branch of the delete path in API2/Qemu.pm): an owned volume is destroyed
                # with the entry (vdisk_free) -- deleting unusedN deletes the image -- and
                # one a snapshot still references is refused ("still in use (snapshot?)").
                if sc.owner(volid) == vmid:
                    if _volume_in_snapshots(conf, volid):
                        raise PveError("unable to delete '%s' - volume is still in use "
                                       "(snapshot?)" % volid)
                    _free_volume(sc, volid, warnings)
                del conf.main[key]
            elif is_drive_key(key):
                file, opts = parse_drive(val)
                del conf.main[key]
                if not drive_is_cdrom(file, opts) and parse_volid(file or ""):
                    _register_unused(conf, sc, vmid, file)
            else:
                del conf.main[key]
        for key in sorted(sets):
            val = sets[key]
            if isinstance(val, bool):
                val = "1" if val else "0"
            val = str(val)
            if key == "hookscript":
                check_hookscript(val, sc)
            if is_drive_key(key):
                new = _prepare_drive(key, val, vmid, sc, user)
                old = conf.main.get(key)
                conf.main[key] = new
                if old:
                    ofile, oopts = parse_drive(old)
                    if (ofile != parse_drive(new)[0] and not drive_is_cdrom(ofile, oopts)
                            and parse_volid(ofile or "")):
                        _register_unused(conf, sc, vmid, ofile)
                continue
            if is_unused_key(key):
                if parse_volid(parse_drive(val)[0] or "") is None:
                    raise PveError.param(key, "invalid format - unable to parse volume ID")
            if key == "description":
                conf.main[key] = val
                continue
            if "\n" in val:
                raise PveError.param(key, "value contains a newline")
            conf.main[key] = val
        write_vm_config(path, conf)
    return warnings
