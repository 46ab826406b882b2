"""NAS side of the ONTAP simulator: cluster, SVMs, aggregates, volumes (FlexVol and FlexClone),
volume snapshots, single-file clone and the files endpoint (ontap-rest.md §2.1-2.7).

Every volume is backed by a real directory (`root/vol/<name>` unless the seed names one), so what
pve-ontap sees through the simulated NFS mount (a symlink to that directory) and what the REST
API reports are one truth.  A snapshot is a copy of the tree in `<dir>/.snapshot/<name>/`, which
is also where an NFS client finds it on a real ONTAP volume; restores rewind the directory in
place so existing "mounts" keep working.

`NasMixin` is combined with `OntapCore` (and `SanMixin`) into `OntapSim`; its methods run with
`self.lock` held (the core's dispatcher takes it).  Error codes follow the reference's tables;
where the reference names none, the choice is documented at the raise.
"""

import os
import re
import shutil
import time

from ontap_core import (API, Pending, clear_tree, copy_file, copy_tree, dig, err,
                        iso, new_uuid, not_found, tree_bytes, write_json_atomic)

MIB = 1 << 20
GIB = 1 << 30
VOLUME_MIN = 20 * MIB          # ONTAP's smallest FlexVol
VOLUME_DEFAULT = 20 * MIB      # size when POST gives none (§2.4 defaults)
MAX_SNAPSHOTS = 1023           # per volume (§2.5)
_SIZE_RX = re.compile(r"^\s*(\d+)\s*([kmgtp]?)b?\s*$", re.I)
_VOL_NAME_RX = re.compile(r"^[A-Za-z0-9_]+$")
_SNAP_NAME_RX = re.compile(r"^[A-Za-z0-9_.\-:+]+$")
_ENUMS = {
    "guarantee.type": ("volume", "none"),
    "tiering.policy": ("all", "auto", "none", "snapshot_only"),
    "autosize.mode": ("grow", "grow_shrink", "off"),
    "state": ("error", "mixed", "offline", "online", "restricted"),
    "style": ("flexvol", "flexgroup", "flexgroup_constituent"),
    "type": ("rw", "dp", "ls"),
    "nas.security_style": ("mixed", "ntfs", "unified", "unix"),
}


def parse_size(value, field="size"):
    """Integer bytes, or a string with a KB/MB/GB/TB/PB suffix in powers of 1024 (§1.3)."""
    if isinstance(value, bool):
        raise err("262197", "invalid value for \"%s\"" % field, target=field)
    if isinstance(value, int):
        return value
    m = _SIZE_RX.match(str(value))
    if not m:
        raise err("262197", "invalid value \"%s\" for \"%s\"" % (value, field), target=field)
    return int(m.group(1)) * (1024 ** " kmgtp".index((m.group(2) or " ").lower()))


def ref(obj, kind):
    """{name, uuid, _links} reference to an SVM or a volume (§1.3)."""
    href = {"svm": "/svm/svms/", "volume": "/storage/volumes/"}[kind]
    name, uuid = (obj["name"], obj["uuid"]) if isinstance(obj, dict) else (obj.name, obj.uuid)
    return {"name": name, "uuid": uuid, "_links": {"self": {"href": API + href + uuid}}}


class Snap:
    """A volume snapshot: metadata plus the path of its copy of the volume tree."""

    def __init__(self, vol, name, ts, comment=None, label=None):
        self.uuid = new_uuid()
        self.name = name
        self.create_time = ts
        self.comment = comment
        self.label = label
        self.expiry_time = None
        self.vol = vol
        self.owners = set()        # FlexClone volume uuids that depend on it (§2.5)
        self.ns = {}               # namespace uuid -> saved image (ontap_san.py)

    @property
    def path(self):
        return os.path.join(self.vol.directory, ".snapshot", self.name)


class Vol:
    def __init__(self, svm, name, directory, size):
        self.uuid = new_uuid()
        self.name = name
        self.svm = svm
        self.directory = os.path.abspath(directory)
        self.size = size
        self.state = "online"
        self.style = "flexvol"
        self.type = "rw"
        self.comment = None
        self.create_time = time.time()
        self.aggregates = []
        self.nas_path = ""
        self.export_policy = "default"
        self.security_style = "unix"
        self.unix_permissions = 755
        self.guarantee = "volume"
        self.snapshot_policy = "default"
        self.snapshot_reserve = 5
        self.encryption = False
        self.qos_policy = None
        self.tiering = "none"
        self.autosize = {"mode": "off", "maximum": size}
        self.is_flexclone = False
        self.parent = None          # (volume uuid, volume name) of a FlexClone's parent
        self.parent_snap = None     # Snap the FlexClone was made from
        self.split_initiated = False
        self.snapshots = []         # Snap, oldest first
        self.cg = None              # consistency group uuid (ontap_san.py)
        self.owns_directory = True  # delete the directory with the volume


class NasMixin:
    """Cluster, SVM, volume, snapshot and file handlers.  Expects OntapCore's attributes."""

    def _nas_init(self, exports_file=None):
        self.exports_file = exports_file
        self.cluster = {"name": "cluster1", "uuid": new_uuid()}
        self.svms = {}              # uuid -> svm dict
        self.aggregates = {}        # uuid -> {name, uuid}
        self.vols = {}           # uuid -> Vol
        # Deleted volumes kept for recovery (DELETE without force=true), uuid -> Vol
        self.recovery_queue = {}
        self._dsid = 1024
        self.file_clone_status = None  # 200/201: answer file clone so, with the job link
        self._last_snap_ts = 0
        os.makedirs(os.path.join(self.root, "vol"), exist_ok=True)
        r = self.route
        r("GET", "/cluster", self._cluster_get)
        r("GET", "/svm/svms", lambda q: self.collection(q, [self._svm_rec(s) for s in
                                                             self.svms.values()]))
        r("GET", "/svm/svms/{uuid}", self._svm_get)
        r("GET", "/storage/volumes", lambda q: self.collection(
            q, [self._vol_rec(v) for v in self.vols.values()]))
        r("GET", "/storage/volumes/{uuid}", lambda q: self.instance(
            q, self._vol_rec(self._vol(q.params["uuid"]))))
        r("POST", "/storage/volumes", self._vol_post)
        r("PATCH", "/storage/volumes/{uuid}", self._vol_patch)
        r("DELETE", "/storage/volumes/{uuid}", self._vol_delete)
        r("GET", "/storage/volumes/{volume.uuid}/snapshots", self._snap_list)
        r("POST", "/storage/volumes/{volume.uuid}/snapshots", self._snap_post)
        r("GET", "/storage/volumes/{volume.uuid}/snapshots/{uuid}", self._snap_get)
        r("PATCH", "/storage/volumes/{volume.uuid}/snapshots/{uuid}", self._snap_patch)
        r("DELETE", "/storage/volumes/{volume.uuid}/snapshots/{uuid}", self._snap_delete)
        r("POST", "/storage/file/clone", self._file_clone)
        r("GET", "/storage/file/clone/split-status/{volume.uuid}", self._split_status)
        r("GET", "/storage/volumes/{volume.uuid}/files/{path}", self._files_get)
        r("POST", "/storage/volumes/{volume.uuid}/files/{path}", self._files_post)
        r("PATCH", "/storage/volumes/{volume.uuid}/files/{path}", self._files_patch)
        r("DELETE", "/storage/volumes/{volume.uuid}/files/{path}", self._files_delete)

    # -- lookups -----------------------------------------------------------------------------

    def _svm_by(self, ref_, required=True):
        """An SVM from a {name|uuid} reference: 2621462 unknown, 2621706 mismatch, 2621707 none."""
        ref_ = ref_ or {}
        name, uuid = ref_.get("name"), ref_.get("uuid")
        if not name and not uuid:
            if not required:
                return None
            raise err("2621707", "no SVM was specified; \"svm.name\" or \"svm.uuid\" is required",
                      target="svm.name")
        for s in self.svms.values():
            if (uuid is None or s["uuid"] == uuid) and (name is None or s["name"] == name):
                return s
        if uuid and name and any(s["uuid"] == uuid for s in self.svms.values()):
            raise err("2621706", "the specified \"svm.uuid\" and \"svm.name\" refer to different "
                      "SVMs", target="svm.uuid")
        raise err("2621462", "SVM \"%s\" does not exist" % (name or uuid), status=404,
                  target="svm.name")

    def _vol(self, uuid, code="4"):
        v = self.vols.get(uuid)
        if v is None:
            raise not_found("volume \"%s\" does not exist" % uuid, code=code)
        return v

    def _vol_named(self, svm_uuid, name):
        for v in self.vols.values():
            if v.name == name and (svm_uuid is None or v.svm["uuid"] == svm_uuid):
                return v
        return None

    def _write_exports(self):
        """exports.json: {"<junction>": "<abs dir>"} for every mounted volume; the PVE
        simulator "mounts" NFS storages from it (HACKING.md "Test tree")."""
        if not self.exports_file:
            return
        write_json_atomic(self.exports_file, {v.nas_path: v.directory for v in
                                              self.vols.values() if v.nas_path})

    def _next_snap_ts(self):
        # create_time has whole seconds; keep it strictly increasing per simulator so that
        # "newest" is never ambiguous (a burst of snapshots runs ahead of the clock by a few s).
        ts = max(int(time.time()), self._last_snap_ts + 1)
        self._last_snap_ts = ts
        return ts

    # -- cluster and SVMs --------------------------------------------------------------------

    def _cluster_get(self, req):
        g, ma, mi = self.version
        rec = dict(self.cluster, version={
            "full": "NetApp Release %d.%d.%d: Mon Nov 18 12:34:56 UTC 2024" % (g, ma, mi),
            "generation": g, "major": ma, "minor": mi},
            _links={"self": {"href": API + "/cluster"}})
        return self.instance(req, rec)

    def _svm_rec(self, s):
        return {"uuid": s["uuid"], "name": s["name"], "state": "running", "subtype": "default",
                "comment": "", "language": "c.utf_8",
                "aggregates": [{"name": a["name"], "uuid": a["uuid"]}
                               for a in self.aggregates.values()],
                "nfs": {"enabled": True}, "nvme": {"enabled": True},
                "iscsi": {"enabled": False}, "cifs": {"enabled": False},
                "_links": {"self": {"href": API + "/svm/svms/" + s["uuid"]}}}

    def _svm_get(self, req):
        s = self.svms.get(req.params["uuid"])
        if s is None:
            raise not_found("SVM \"%s\" does not exist" % req.params["uuid"])
        return self.instance(req, self._svm_rec(s))

    # -- volumes: records --------------------------------------------------------------------

    def _vol_used(self, v):
        used = 0
        if os.path.isdir(v.directory):
            for name in os.listdir(v.directory):
                p = os.path.join(v.directory, name)
                if name == ".snapshot":
                    continue
                used += tree_bytes(p) if os.path.isdir(p) else os.lstat(p).st_blocks * 512
        return used + self._ns_bytes(v)

    def _vol_rec(self, v):
        """The full volume record (expensive fields included; FieldSelector trims it)."""
        used = self._vol_used(v)
        snap_used = tree_bytes(os.path.join(v.directory, ".snapshot")) \
            if os.path.isdir(os.path.join(v.directory, ".snapshot")) else 0
        rec = {
            "uuid": v.uuid, "name": v.name, "svm": ref(v.svm, "svm"),
            "aggregates": [{"name": a["name"], "uuid": a["uuid"]} for a in v.aggregates],
            "size": v.size, "state": v.state, "style": v.style, "type": v.type,
            "create_time": iso(v.create_time),
            "nas": {"export_policy": {"name": v.export_policy, "id": 1},
                    "security_style": v.security_style, "unix_permissions": v.unix_permissions,
                    "uid": 0, "gid": 0},
            "space": {"size": v.size, "used": used, "available": max(v.size - used, 0),
                      "snapshot": {"reserve_percent": v.snapshot_reserve, "used": snap_used}},
            "clone": {"is_flexclone": v.is_flexclone,
                      "has_flexclone": any(s.owners for s in v.snapshots)},
            "guarantee": {"type": v.guarantee},
            "encryption": {"enabled": v.encryption,
                           "state": "encrypted" if v.encryption else "none"},
            "tiering": {"policy": v.tiering},
            "autosize": dict(v.autosize),
            "snapshot_policy": {"name": v.snapshot_policy},
            "snapshot_directory_access_enabled": True,
            "is_svm_root": False,
            "_links": {"self": {"href": API + "/storage/volumes/" + v.uuid}},
        }
        if v.comment is not None:
            rec["comment"] = v.comment
        if v.nas_path:
            rec["nas"]["path"] = v.nas_path  # unset while unmounted
        if v.qos_policy:
            rec["qos"] = {"policy": {"name": v.qos_policy}}
        if v.is_flexclone:
            rec["clone"].update({
                "parent_volume": {"name": v.parent[1], "uuid": v.parent[0]},
                "parent_snapshot": {"name": v.parent_snap.name, "uuid": v.parent_snap.uuid},
                "parent_svm": {"name": v.svm["name"], "uuid": v.svm["uuid"]},
                "split_initiated": v.split_initiated, "split_complete_percent": 0})
        if v.cg:
            cg = self.cgs.get(v.cg) if hasattr(self, "cgs") else None
            if cg is not None:
                rec["consistency_group"] = {"name": cg["name"], "uuid": cg["uuid"]}
        return rec

    # -- volumes: create ---------------------------------------------------------------------

    def _check_vol_name(self, name, target="name"):
        """Name rules of 9.16.1 (§2.4): 917886 too long, 917887 first char, 917888 chars."""
        if not isinstance(name, str) or not name:
            raise err("262177", "missing value for \"%s\"" % target, target=target)
        if len(name) > 203:
            raise err("917886", "volume name \"%s\" is too long: at most 203 characters"
                      % name, target=target)
        if not (name[0].isalpha() or name[0] == "_"):
            raise err("917887", "the first character of volume name \"%s\" must be a letter "
                      "or an underscore" % name, target=target)
        if not _VOL_NAME_RX.match(name):
            raise err("917888", "invalid volume name \"%s\": only letters, digits and "
                      "underscores are allowed" % name, target=target)

    def _check_enums(self, body):
        for field, allowed in _ENUMS.items():
            val = dig(body, field)
            if val is not None and val not in allowed:
                raise err("262197", "invalid value \"%s\" for \"%s\"; allowed: %s"
                          % (val, field, ", ".join(allowed)), target=field)
        pct = dig(body, "space.snapshot.reserve_percent")
        if pct is not None and not (isinstance(pct, int) and 0 <= pct <= 90):
            raise err("917835", "snapshot reserve must be between 0 and 90 percent",
                      target="space.snapshot.reserve_percent")
        path = dig(body, "nas.path")
        if path not in (None, "") and not str(path).startswith("/"):
            raise err("918252", "invalid junction path \"%s\": it must start with \"/\"" % path,
                      target="nas.path")

    def _check_junction_free(self, svm_uuid, path, self_uuid=None):
        if not path:
            return
        for v in self.vols.values():
            if v.uuid != self_uuid and v.svm["uuid"] == svm_uuid and \
                    v.nas_path.lower() == path.lower():
                # No code in the reference for this; ONTAP's "junction already in use" is
                # reported as an invalid nas.path.
                raise err("918252", "junction path \"%s\" is already used by volume \"%s\""
                          % (path, v.name), target="nas.path")

    def _apply_vol_options(self, v, body):
        """Fields shared by POST and PATCH (qos, autosize, policy, ...)."""
        if "comment" in body:
            v.comment = body["comment"]
        if dig(body, "guarantee.type"):
            v.guarantee = body["guarantee"]["type"]
        if dig(body, "snapshot_policy.name"):
            v.snapshot_policy = body["snapshot_policy"]["name"]
        if dig(body, "space.snapshot.reserve_percent") is not None:
            v.snapshot_reserve = body["space"]["snapshot"]["reserve_percent"]
        if dig(body, "encryption.enabled") is not None:
            v.encryption = bool(body["encryption"]["enabled"])
        if dig(body, "qos.policy.name"):
            v.qos_policy = body["qos"]["policy"]["name"]
        if dig(body, "tiering.policy"):
            v.tiering = body["tiering"]["policy"]
        if isinstance(body.get("autosize"), dict):
            a = body["autosize"]
            if "mode" in a:
                v.autosize["mode"] = a["mode"]
            if "maximum" in a:
                v.autosize["maximum"] = parse_size(a["maximum"], "autosize.maximum")
        if dig(body, "nas.export_policy.name"):
            v.export_policy = body["nas"]["export_policy"]["name"]
        if dig(body, "nas.security_style"):
            v.security_style = body["nas"]["security_style"]
        if dig(body, "nas.unix_permissions") is not None:
            v.unix_permissions = body["nas"]["unix_permissions"]

    def _vol_post(self, req):
        body = req.body or {}
        self._check_vol_name(body.get("name"))
        svm = self._svm_by(body.get("svm"))
        self._check_enums(body)
        name = body["name"]
        clone = body.get("clone") or {}
        size = parse_size(body["size"]) if body.get("size") is not None else None
        if size is not None and size < VOLUME_MIN:
            raise err("917534", "volume size %d is too small: the minimum is %d bytes"
                      % (size, VOLUME_MIN), target="size")
        if clone.get("is_flexclone") or clone.get("parent_volume"):
            if not clone.get("parent_volume"):
                raise err("262177", "\"clone.parent_volume\" is required for a FlexClone",
                          target="clone.parent_volume")
            work = lambda: self._create_flexclone(svm, name, body)  # noqa: E731
            what = "clone"
        else:
            aggrs = body.get("aggregates") or []
            if len(aggrs) != 1:
                raise err("918242", "exactly one aggregate must be given for a FlexVol",
                          target="aggregates")
            work = lambda: self._create_flexvol(svm, name, size or VOLUME_DEFAULT,  # noqa: E731
                                                aggrs[0], body)
            what = "create"
        job = self.start_job(req, "POST /api/storage/volumes/?name=%s (%s)" % (name, what),
                             work, svm=svm)
        return Pending(job, 201, location="/api/storage/volumes/?name=%s" % name,
                       records=lambda: [self._vol_rec(v) for v in self.vols.values()
                                        if v.name == name and v.svm is svm])

    def _create_flexvol(self, svm, name, size, aggr_ref, body, directory=None):
        if self._vol_named(svm["uuid"], name):
            raise err("917526", "The volume name specified is a duplicate: \"%s\"" % name,
                      target="name")
        aggr = None
        for a in self.aggregates.values():
            if a["name"] == aggr_ref.get("name") or a["uuid"] == aggr_ref.get("uuid"):
                aggr = a
        if aggr is None:
            raise err("917508", "aggregate \"%s\" does not exist"
                      % (aggr_ref.get("name") or aggr_ref.get("uuid")), status=404,
                      target="aggregates.name")
        nas_path = dig(body, "nas.path") or ""
        self._check_junction_free(svm["uuid"], nas_path)
        v = Vol(svm, name, directory or os.path.join(self.root, "vol", name), size)
        v.owns_directory = v.directory.startswith(self.root + os.sep)
        v.aggregates = [aggr]
        v.autosize["maximum"] = int(size * 1.2)
        if body.get("state"):
            v.state = body["state"]
        self._apply_vol_options(v, body)
        os.makedirs(v.directory, exist_ok=True)
        os.chmod(v.directory, 0o755)
        v.nas_path = nas_path
        self.vols[v.uuid] = v
        self._write_exports()
        return v

    def _create_flexclone(self, svm, name, body):
        if self._vol_named(svm["uuid"], name):
            raise err("917526", "The volume name specified is a duplicate: \"%s\"" % name,
                      target="name")
        clone = body["clone"]
        pref = clone["parent_volume"]
        parent = self.vols.get(pref.get("uuid")) if pref.get("uuid") else \
            self._vol_named(svm["uuid"], pref.get("name"))
        if parent is None:
            raise err("524601", "parent volume \"%s\" not found"
                      % (pref.get("name") or pref.get("uuid")), target="clone.parent_volume")
        if pref.get("name") and pref["name"] != parent.name:
            raise err("918236", "\"clone.parent_volume.uuid\" and \"clone.parent_volume.name\" "
                      "refer to different volumes", target="clone.parent_volume")
        sref = clone.get("parent_snapshot") or {}
        if sref:
            snap = None
            for s in parent.snapshots:
                if (not sref.get("uuid") or s.uuid == sref["uuid"]) and \
                        (not sref.get("name") or s.name == sref["name"]):
                    snap = s
            if snap is None:
                if sref.get("uuid") and sref.get("name") and \
                        any(s.uuid == sref["uuid"] for s in parent.snapshots):
                    raise err("918243", "\"clone.parent_snapshot.uuid\" and "
                              "\"clone.parent_snapshot.name\" refer to different snapshots")
                raise err("1638600", "snapshot \"%s\" does not exist on volume \"%s\""
                          % (sref.get("name") or sref.get("uuid"), parent.name), status=404,
                          target="clone.parent_snapshot")
        else:
            # Without a parent snapshot ONTAP takes a fresh one of the parent (§2.4).
            snap = self._take_snapshot(parent, "clone_%s.0" % name, None, None)
        nas_path = dig(body, "nas.path") or ""
        self._check_junction_free(svm["uuid"], nas_path)
        v = Vol(svm, name, os.path.join(self.root, "vol", name), parent.size)
        v.aggregates = list(parent.aggregates)
        for attr in ("guarantee", "snapshot_policy", "snapshot_reserve", "encryption",
                     "qos_policy", "tiering", "security_style", "unix_permissions",
                     "export_policy"):
            setattr(v, attr, getattr(parent, attr))
        v.autosize = dict(parent.autosize)
        v.is_flexclone = True
        v.parent = (parent.uuid, parent.name)
        v.parent_snap = snap
        self._apply_vol_options(v, body)
        if os.path.exists(v.directory):
            shutil.rmtree(v.directory)
        # The clone's data is the snapshot's tree, in a directory of its own.
        copy_tree(snap.path, v.directory, ())
        os.chmod(v.directory, 0o755)
        snap.owners.add(v.uuid)
        v.nas_path = nas_path
        self.vols[v.uuid] = v
        self._ns_flexclone(parent, snap, v)
        self._write_exports()
        return v

    # -- volumes: modify and delete ----------------------------------------------------------

    def _vol_patch(self, req):
        v = self._vol(req.params["uuid"])
        body = req.body or {}
        restore = dict(body.get("restore_to") or {})
        for key in ("restore_to.snapshot.name", "restore_to.snapshot.uuid"):
            if req.q(key):
                restore.setdefault("snapshot", {})[key.rsplit(".", 1)[1]] = req.q(key)
        others = [k for k in body if k != "restore_to"]
        if restore.get("snapshot"):
            if others:
                raise err("918251", "a restore cannot be combined with other changes",
                          target="restore_to")
            sref = restore["snapshot"]
            job = self.start_job(req, "PATCH /api/storage/volumes/%s (restore)" % v.uuid,
                                 lambda: self._restore_volume(v, sref), svm=v.svm)
            return Pending(job, 200)
        split = dig(body, "clone.split_initiated")
        if split:
            if [k for k in others if k != "clone"] or len(body["clone"]) > 1:
                raise err("918248", "a FlexClone split cannot be combined with other changes",
                          target="clone.split_initiated")
            if not v.is_flexclone:
                raise err("918247", "volume \"%s\" is not a FlexClone" % v.name,
                          target="clone.split_initiated")
        if "name" in body:
            self._check_vol_name(body["name"])
        self._check_enums(body)
        size = parse_size(body["size"]) if body.get("size") is not None else None
        if size is not None and size < VOLUME_MIN:
            raise err("917534", "volume size %d is too small" % size, target="size")

        def work():
            if "name" in body and body["name"] != v.name:
                if self._vol_named(v.svm["uuid"], body["name"]):
                    raise err("917526", "The volume name specified is a duplicate: \"%s\""
                              % body["name"], target="name")
                v.name = body["name"]  # the directory stays: a rename moves no data
            if size is not None:
                if size < self._vol_used(v):
                    raise err("917534", "new size %d is smaller than the used space" % size,
                              target="size")
                v.size = size
            if body.get("state"):
                v.state = body["state"]
            if dig(body, "nas.path") is not None:
                path = body["nas"]["path"]
                self._check_junction_free(v.svm["uuid"], path, v.uuid)
                v.nas_path = path  # "" unmounts (§2.4)
                self._write_exports()
            if split:
                self._split_clone(v)
            self._apply_vol_options(v, body)
        job = self.start_job(req, "PATCH /api/storage/volumes/%s" % v.uuid, work, svm=v.svm)
        return Pending(job, 200)

    def _split_clone(self, v):
        """The clone keeps its (already separate) directory and stops pinning the parent's
        snapshot.  ONTAP splits in the background; the simulator finishes at once."""
        if v.parent_snap is not None:
            v.parent_snap.owners.discard(v.uuid)
        v.is_flexclone = False
        v.parent = None
        v.parent_snap = None
        v.split_initiated = True

    def _find_snap(self, v, sref, target="restore_to.snapshot"):
        for s in v.snapshots:
            if (not sref.get("uuid") or s.uuid == sref["uuid"]) and \
                    (not sref.get("name") or s.name == sref["name"]):
                return s
        raise err("1638600", "snapshot \"%s\" does not exist on volume \"%s\""
                  % (sref.get("name") or sref.get("uuid"), v.name), status=404, target=target)

    def _restore_volume(self, v, sref):
        """SnapRestore: the tree (and namespace images) rewind to the snapshot, and every newer
        snapshot is deleted (§2.4).  A newer snapshot that backs a FlexClone blocks it."""
        snap = self._find_snap(v, sref)
        newer = [s for s in v.snapshots if s.create_time > snap.create_time]
        for s in newer:
            if s.owners:
                raise err("1638543", "snapshot \"%s\" is newer than \"%s\" and backs a "
                          "FlexClone; delete or split the clone first" % (s.name, snap.name))
        clear_tree(v.directory)
        copy_tree(snap.path, v.directory, ())
        self._ns_restore(v, snap)
        for s in newer:
            self._drop_snapshot(v, s)

    def _vol_delete(self, req):
        v = self._vol(req.params["uuid"])

        def work():
            if v.uuid not in self.vols:
                raise not_found("volume \"%s\" does not exist" % v.uuid)
            if v.nas_path:
                raise err("917536", "the volume must be unmounted before being deleted: "
                          "volume \"%s\" is mounted at \"%s\"" % (v.name, v.nas_path))
            # a FlexClone parked in the recovery queue still depends on its parent
            clones = sorted((self.vols.get(o) or self.recovery_queue[o]).name
                            for s in v.snapshots for o in s.owners
                            if o in self.vols or o in self.recovery_queue)
            if clones:
                raise err("524615", "volume \"%s\" has FlexClones (%s); delete or split them "
                          "first" % (v.name, ", ".join(clones)))
            force = req.qbool("force")
            self._ns_volume_deleting(v, keep=not force)  # refuses while a namespace is mapped
            self._cg_volume_deleted(v)
            del self.vols[v.uuid]
            if not force:
                self._park(v)
                return
            if v.parent_snap is not None:
                v.parent_snap.owners.discard(v.uuid)
            if v.owns_directory and os.path.isdir(v.directory):
                shutil.rmtree(v.directory)
            self._write_exports()
        job = self.start_job(req, "DELETE /api/storage/volumes/%s" % v.uuid, work, svm=v.svm)
        return Pending(job, 200)

    def _park(self, v):
        """DELETE without force=true: the volume goes to the recovery queue (`volume
        recovery-queue show`), renamed <name>_<dsid> and offline, for the retention hours;
        it keeps its blocks (space), its namespaces' data, and -- a FlexClone -- its parent's
        snapshot, which stays busy (reference/ontap-rest.md §2.4 "force=true skips the
        volume recovery queue ... a parked FlexClone still pins its parent's snapshot";
        Additions: "still using space").  It is no longer a REST volume.  The simulator
        never purges the queue: tests run well within the default 12 hours."""
        self._dsid += 1
        v.name = "%s_%d" % (v.name, self._dsid)
        v.state = "offline"
        self.recovery_queue[v.uuid] = v
        self._write_exports()

    def recovery_queue_names(self):
        """Names (<name>_<dsid>) of the volumes in the recovery queue, sorted."""
        with self.lock:
            return sorted(v.name for v in self.recovery_queue.values())

    # -- volume snapshots --------------------------------------------------------------------

    def _snap_rec(self, s):
        v = s.vol
        rec = {"uuid": s.uuid, "name": s.name, "create_time": iso(s.create_time),
               "volume": ref(v, "volume"), "svm": ref(v.svm, "svm"), "state": "valid",
               "size": tree_bytes(s.path) if os.path.isdir(s.path) else 0,
               "version_uuid": s.uuid, "reclaimable_space": 0,
               "delta": {"size_consumed": 0, "time_elapsed": "PT0S"},
               "_links": {"self": {"href": "%s/storage/volumes/%s/snapshots/%s"
                                   % (API, v.uuid, s.uuid)}}}
        if s.comment is not None:
            rec["comment"] = s.comment
        if s.label is not None:
            rec["snapmirror_label"] = s.label
        if s.expiry_time is not None:
            rec["expiry_time"] = s.expiry_time
        if s.owners:
            rec["owners"] = ["volume_clone"]
        return rec

    def _snap_vol(self, req):
        # 918235: unknown volume uuid on the snapshot collection (§2.5).
        return self._vol(req.params["volume.uuid"], code="918235")

    def _snap_of(self, v, uuid):
        for s in v.snapshots:
            if s.uuid == uuid:
                return s
        raise not_found("snapshot \"%s\" does not exist on volume \"%s\"" % (uuid, v.name),
                        code="1638600")

    def _snap_list(self, req):
        v = self._snap_vol(req)
        return self.collection(req, [self._snap_rec(s) for s in v.snapshots])

    def _snap_get(self, req):
        v = self._snap_vol(req)
        return self.instance(req, self._snap_rec(self._snap_of(v, req.params["uuid"])))

    def _check_snap_name(self, name):
        if not isinstance(name, str) or not name:
            raise err("262177", "missing value for \"name\"", target="name")
        if len(name) > 255 or not _SNAP_NAME_RX.match(name) or name in (".", ".."):
            raise err("1638518", "invalid snapshot name \"%s\"" % name, target="name")

    def _snap_post(self, req):
        v = self._snap_vol(req)
        body = req.body or {}
        self._check_snap_name(body.get("name"))
        name = body["name"]

        def work():
            if v.uuid not in self.vols:
                raise not_found("volume \"%s\" does not exist" % v.uuid)
            self._take_snapshot(v, name, body.get("comment"), body.get("snapmirror_label"))
        # A duplicate name (525059) is found when the job runs: answered 409 when the request
        # waits for it (return_timeout), a failed job otherwise.
        job = self.start_job(req, "POST /api/storage/volumes/%s/snapshots/?name=%s"
                             % (v.uuid, name), work, svm=v.svm)
        return Pending(job, 201, location="/api/storage/volumes/%s/snapshots/?name=%s"
                       % (v.uuid, name),
                       records=lambda: [self._snap_rec(s) for s in v.snapshots
                                        if s.name == name])

    def _take_snapshot(self, v, name, comment, label):
        if any(s.name == name for s in v.snapshots):
            raise err("525059", "snapshot \"%s\" already exists on volume \"%s\""
                      % (name, v.name), target="name")
        if v.state != "online":
            raise err("524479", "volume \"%s\" is %s" % (v.name, v.state))
        if len(v.snapshots) >= MAX_SNAPSHOTS:
            raise err("525062", "volume \"%s\" already has the maximum of %d snapshots"
                      % (v.name, MAX_SNAPSHOTS))
        s = Snap(v, name, self._next_snap_ts(), comment, label)
        if os.path.exists(s.path):
            shutil.rmtree(s.path)
        copy_tree(v.directory, s.path)
        self._ns_snapshot(v, s)
        v.snapshots.append(s)
        return s

    def _drop_snapshot(self, v, s):
        if os.path.isdir(s.path):
            shutil.rmtree(s.path)
        self._ns_snapshot_dropped(s)
        v.snapshots.remove(s)

    def _snap_patch(self, req):
        v = self._snap_vol(req)
        s = self._snap_of(v, req.params["uuid"])
        body = req.body or {}
        if "name" in body:
            self._check_snap_name(body["name"])

        def work():
            if "name" in body and body["name"] != s.name:
                if any(o.name == body["name"] for o in v.snapshots):
                    raise err("524508", "cannot rename snapshot \"%s\": \"%s\" already exists"
                              % (s.name, body["name"]), target="name")
                old = s.path
                s.name = body["name"]
                if os.path.isdir(old):
                    os.rename(old, s.path)
            if "comment" in body:
                s.comment = body["comment"]
            if "snapmirror_label" in body:
                s.label = body["snapmirror_label"]
            if "expiry_time" in body:
                s.expiry_time = body["expiry_time"]
        job = self.start_job(req, "PATCH /api/storage/volumes/%s/snapshots/%s"
                             % (v.uuid, s.uuid), work, svm=v.svm)
        return Pending(job, 200)

    def _snap_delete(self, req):
        v = self._snap_vol(req)
        s = self._snap_of(v, req.params["uuid"])

        def work():
            if s not in v.snapshots:
                raise not_found("snapshot \"%s\" does not exist" % s.uuid, code="1638600")
            if s.owners:
                raise err("1638543", "snapshot \"%s\" is in use by a FlexClone of volume \"%s\""
                          % (s.name, v.name))
            if s.expiry_time and s.expiry_time > iso(time.time()):
                raise err("1638555", "snapshot \"%s\" has not expired or is locked" % s.name)
            self._drop_snapshot(v, s)
        job = self.start_job(req, "DELETE /api/storage/volumes/%s/snapshots/%s"
                             % (v.uuid, s.uuid), work, svm=v.svm)
        return Pending(job, 200)

    # -- single-file clone (§2.6) ------------------------------------------------------------

    def _rel(self, path, target):
        """A volume-relative path, normalised; `./x` and `x` are the same, `..` may not leave
        the volume.  "" is the volume root."""
        if not isinstance(path, str):
            raise err("262177", "missing value for \"%s\"" % target, target=target)
        p = os.path.normpath("/" + path.strip()).lstrip("/")
        if p in (".", ""):
            return ""
        if ".." in path.split("/") and os.path.normpath(path).startswith(".."):
            raise err("262197", "invalid path \"%s\": outside the volume" % path, target=target)
        return p

    @staticmethod
    def _in_snapshot(rel):
        return rel == ".snapshot" or rel.startswith(".snapshot/")

    def _file_clone(self, req):
        body = req.body or {}
        vref = body.get("volume") or {}
        if vref.get("uuid"):
            v = self.vols.get(vref["uuid"])
            if v is None:
                raise err("918235", "volume \"%s\" does not exist" % vref["uuid"], status=404,
                          target="volume.uuid")
            if vref.get("name") and vref["name"] != v.name:
                raise err("918236", "\"volume.uuid\" and \"volume.name\" refer to different "
                          "volumes", target="volume.name")
        elif vref.get("name"):
            v = self._vol_named(None, vref["name"])
            if v is None:
                raise err("918235", "volume \"%s\" does not exist" % vref["name"], status=404,
                          target="volume.name")
        else:
            raise err("262177", "missing value for \"volume.uuid\"", target="volume.uuid")
        src = self._rel(body.get("source_path"), "source_path")
        dst = self._rel(body.get("destination_path"), "destination_path")
        overwrite = bool(body.get("overwrite_destination", False))

        def work():
            sp = os.path.join(v.directory, src)
            dp = os.path.join(v.directory, dst)
            if not src or not os.path.isfile(sp):
                raise err("917864", "cannot get the file handle for \"%s\": no such file"
                          % body["source_path"], status=404, target="source_path")
            if self._in_snapshot(dst):
                raise err("131102", "read-only file system: \"%s\"" % dst,
                          target="destination_path")
            if not os.path.isdir(os.path.dirname(dp)):
                raise err("13565952", "Clone start failed: the directory of \"%s\" does not "
                          "exist" % dst, target="destination_path")
            if os.path.isdir(dp) or (os.path.lexists(dp) and not overwrite):
                # The tables name no code for this (§2.6); ONTAP's generic one it is.
                raise err("13565952", "Clone start failed: destination file \"%s\" already "
                          "exists" % dst, target="destination_path")
            # Real bytes (holes kept): the clone must read back exactly as its source.
            copy_file(sp, dp)
        job = self.start_job(req, "POST /api/storage/file/clone (%s -> %s)" % (src, dst), work,
                             svm=v.svm)
        if self.file_clone_status in (200, 201):
            # The job link under 200/201 while the job may still run (or fail): ONTAP may
            # answer so (reference/ontap-rest.md "Additions": poll whenever the answer has
            # job.uuid, as Ansible's rest_generic.check_for_error_and_job_results does).
            return self.file_clone_status, job.link()
        return Pending(job, 201)

    def _split_status(self, req):
        v = self._vol(req.params["volume.uuid"], code="918235")
        return self.instance(req, {"volume": ref(v, "volume"), "svm": ref(v.svm, "svm"),
                                   "pending_splits": 0, "unsplit_size": 0,
                                   "unsplit_clone_count": 0})

    # -- files and directories (§2.7) --------------------------------------------------------

    def _files_target(self, req):
        v = self._vol(req.params["volume.uuid"], code="918235")
        rel = self._rel(req.params["path"], "path")
        return v, rel, os.path.join(v.directory, rel) if rel else v.directory

    def _file_rec(self, v, rel, name, full):
        import stat as st_
        st = os.lstat(full)
        m = st.st_mode
        kind = ("directory" if st_.S_ISDIR(m) else "symlink" if st_.S_ISLNK(m) else
                "file" if st_.S_ISREG(m) else "blockdev" if st_.S_ISBLK(m) else
                "chardev" if st_.S_ISCHR(m) else "fifo" if st_.S_ISFIFO(m) else "socket")
        rec = {"name": name, "path": rel or ".", "type": kind, "size": st.st_size,
               "bytes_used": st.st_blocks * 512, "unique_bytes": st.st_blocks * 512,
               "creation_time": iso(st.st_ctime), "modified_time": iso(st.st_mtime),
               "accessed_time": iso(st.st_atime), "changed_time": iso(st.st_ctime),
               "unix_permissions": int(oct(m & 0o7777)[2:]), "owner_id": st.st_uid,
               "group_id": st.st_gid, "inode_number": st.st_ino,
               "hard_links_count": st.st_nlink, "is_junction": False,
               "is_snapshot": self._in_snapshot(rel),
               "volume": ref(v, "volume"),
               "_links": {"self": {"href": "%s/storage/volumes/%s/files/%s" % (
                   API, v.uuid, (rel or ".").replace("/", "%2F").replace(".", "%2E"))}}}
        if kind == "directory":
            rec["is_empty"] = not [n for n in os.listdir(full) if n != ".snapshot"]
        if kind == "symlink":
            rec["target"] = os.readlink(full)
        return rec

    def _files_get(self, req):
        v, rel, full = self._files_target(req)
        if not os.path.lexists(full):
            raise not_found("no such file or directory: \"%s\"" % (rel or "."), code="6684674",
                            target="path")
        default = "name,type,path"
        if req.qbool("return_metadata") or not os.path.isdir(full):
            rec = self._file_rec(v, rel, os.path.basename(rel) or ".", full)
            return self.collection(req, [rec], default)
        recs = [self._file_rec(v, rel, ".", full),
                self._file_rec(v, os.path.dirname(rel), "..",
                               os.path.dirname(full) if rel else full)]
        for name in sorted(os.listdir(full)):
            if name == ".snapshot" and not rel:
                continue  # hidden from the root listing, reachable by name (as over NFS)
            recs.append(self._file_rec(v, os.path.join(rel, name), name,
                                       os.path.join(full, name)))
        return self.collection(req, recs, default)

    def _writable(self, rel, target="path"):
        if self._in_snapshot(rel):
            raise err("131102", "read-only file system: \"%s\"" % rel, target=target)
        if not rel:
            raise err("6488110", "the volume root cannot be changed here", target=target)

    def _files_post(self, req):
        v, rel, full = self._files_target(req)
        body = req.body or {}
        self._writable(rel)
        kind = body.get("type")
        if not kind:
            raise err("6488085", "\"type\" is required", target="type")
        if kind == "directory" and body.get("unix_permissions") is None:
            raise err("6488084", "\"unix_permissions\" is required for a directory",
                      target="unix_permissions")
        if kind not in ("directory", "file"):
            raise err("262197", "invalid value \"%s\" for \"type\"" % kind, target="type")
        if os.path.lexists(full):
            raise err("6488118", "file exists: \"%s\"" % rel, target="path")
        if not os.path.isdir(os.path.dirname(full)):
            # Like mkdir(2): parents are not created.
            raise not_found("no such file or directory: \"%s\"" % os.path.dirname(rel),
                            code="6684674", target="path")
        mode = int(str(body.get("unix_permissions", 644)), 8)
        if kind == "directory":
            os.mkdir(full)
        else:
            with open(full, "wb"):
                pass
        os.chmod(full, mode)
        return 201, {"num_records": 1, "records": [self._file_rec(v, rel,
                                                                  os.path.basename(rel), full)]}

    def _files_patch(self, req):
        v, rel, full = self._files_target(req)
        body = req.body or {}
        self._writable(rel)
        if not os.path.lexists(full):
            raise not_found("no such file or directory: \"%s\"" % rel, code="6684674",
                            target="path")
        if body.get("path") is not None:
            new = self._rel(body["path"], "path")
            self._writable(new)
            nfull = os.path.join(v.directory, new)
            if os.path.isdir(nfull) and nfull != full:
                raise err("6488083", "cannot rename \"%s\": \"%s\" is an existing directory"
                          % (rel, new), target="path")
            if not os.path.isdir(os.path.dirname(nfull)):
                raise err("6488082", "cannot rename \"%s\" to \"%s\": no such directory"
                          % (rel, new), target="path")
            os.rename(full, nfull)
            full = nfull
        if body.get("size") is not None:
            if not os.path.isfile(full):
                raise err("6488081", "\"size\" applies to files only", target="size")
            os.truncate(full, parse_size(body["size"]))
        # fill_enabled / overwrite_enabled / qos_policy: accepted, no effect on a plain tree.
        return 200, {}

    def _files_delete(self, req):
        v, rel, full = self._files_target(req)
        self._writable(rel)
        if not os.path.lexists(full):
            raise not_found("no such file or directory: \"%s\"" % rel, code="6684674",
                            target="path")
        if os.path.isdir(full) and not os.path.islink(full):
            if req.qbool("recurse"):
                # rm -rf runs as a job on ONTAP (§2.7).
                def work():
                    if os.path.isdir(full):
                        shutil.rmtree(full)
                job = self.start_job(req, "DELETE /api/storage/volumes/%s/files/%s (recurse)"
                                     % (v.uuid, rel), work, svm=v.svm)
                return Pending(job, 200)
            if os.listdir(full):
                raise err("131138", "directory not empty: \"%s\"" % rel, status=409,
                          target="path")
            os.rmdir(full)
        else:
            os.unlink(full)
        return 200, {}

    # -- hooks for the SAN side --------------------------------------------------------------
    # A volume may hold NVMe namespaces and belong to a consistency group (ontap_san.py).
    # These are the NAS-only behaviours; SanMixin, listed first in OntapSim's bases,
    # overrides them.

    def _ns_bytes(self, v):
        return 0

    def _ns_snapshot(self, v, snap):
        pass

    def _ns_snapshot_dropped(self, snap):
        pass

    def _ns_restore(self, v, snap):
        pass

    def _ns_flexclone(self, parent, snap, clone):
        pass

    def _ns_volume_deleting(self, v):
        pass

    def _cg_volume_deleted(self, v):
        pass
