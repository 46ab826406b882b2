"""SAN side of the ONTAP simulator: NVMe namespaces, subsystems, hosts, subsystem maps, the NVMe
service, NVMe and IP interfaces (LIFs), consistency groups and their snapshots
(ontap-rest.md §2.8-2.10).

Each namespace is backed by a sparse image file `root/ns/<uuid>.img` (the namespace uuid is the
NVMe NS UUID a host sees, so the fake `nvme` can find the bytes).  Volume snapshots save copies
of the images of the volume's namespaces under `root/ns/.snapshot/<snapshot uuid>/`, which is
what CG snapshots and restores rewind; the NAS side calls the `_ns_*` hooks for that.

`SanMixin` comes first in OntapSim's bases; its handlers run with `self.lock` held.
"""

import os
import re
import shutil
import time

from ontap_core import (API, Pending, copy_file, dig, err, iso, new_uuid, not_found)
from ontap_nas import ref

NS_MIN = 4096
NS_MAX = 140737488355328
_NS_NAME_RX = re.compile(r"^/vol/([^/]+)/(?:([^/]+)/)?([^/]+)$")
_NS_CHARS_RX = re.compile(r"^[A-Za-z0-9\-._{}]+$")
_SUBSYS_RX = re.compile(r"^[A-Za-z0-9_.\-:]{1,64}$")
_NQN_RX = re.compile(r"^nqn\.\d{4}-\d{2}\.[^\s]+$")
OS_TYPES = ("aix", "linux", "vmware", "windows")
CG_MAX_VOLUMES = 80


class SanMixin:
    """Namespace, subsystem, map, LIF and consistency group handlers."""

    def _san_init(self):
        self.namespaces = {}        # uuid -> dict
        self.subsystems = {}        # uuid -> dict
        self.maps = []              # {"subsystem": uuid, "namespace": uuid, "nsid": int}
        self.lifs = {}              # uuid -> dict
        self.cgs = {}               # uuid -> dict
        self.ns_dir = os.path.join(self.root, "ns")
        os.makedirs(os.path.join(self.ns_dir, ".snapshot"), exist_ok=True)
        r = self.route
        r("GET", "/storage/namespaces", lambda q: self.collection(
            q, [self._ns_rec(n) for n in self.namespaces.values()]))
        r("GET", "/storage/namespaces/{uuid}", lambda q: self.instance(
            q, self._ns_rec(self._ns(q.params["uuid"]))))
        r("POST", "/storage/namespaces", self._ns_post)
        r("PATCH", "/storage/namespaces/{uuid}", self._ns_patch)
        r("DELETE", "/storage/namespaces/{uuid}", self._ns_delete)
        r("GET", "/protocols/nvme/subsystems", lambda q: self.collection(
            q, [self._ss_rec(s) for s in self.subsystems.values()]))
        r("GET", "/protocols/nvme/subsystems/{uuid}", lambda q: self.instance(
            q, self._ss_rec(self._ss(q.params["uuid"]))))
        r("POST", "/protocols/nvme/subsystems", self._ss_post)
        r("PATCH", "/protocols/nvme/subsystems/{uuid}", self._ss_patch)
        r("DELETE", "/protocols/nvme/subsystems/{uuid}", self._ss_delete)
        r("GET", "/protocols/nvme/subsystems/{subsystem.uuid}/hosts", self._hosts_list)
        r("POST", "/protocols/nvme/subsystems/{subsystem.uuid}/hosts", self._hosts_post)
        r("DELETE", "/protocols/nvme/subsystems/{subsystem.uuid}/hosts/{nqn}",
          self._hosts_delete)
        r("GET", "/protocols/nvme/subsystem-maps", lambda q: self.collection(
            q, [self._map_rec(m) for m in self.maps], "subsystem,namespace,svm"))
        r("POST", "/protocols/nvme/subsystem-maps", self._map_post)
        r("GET", "/protocols/nvme/subsystem-maps/{subsystem.uuid}/{namespace.uuid}",
          lambda q: self.instance(q, self._map_rec(self._map_of(q))))
        r("DELETE", "/protocols/nvme/subsystem-maps/{subsystem.uuid}/{namespace.uuid}",
          self._map_delete)
        r("GET", "/protocols/nvme/services", lambda q: self.collection(
            q, [self._svc_rec(s) for s in self.svms.values()], "svm"))
        r("GET", "/protocols/nvme/services/{svm.uuid}", self._svc_get)
        r("GET", "/protocols/nvme/interfaces", lambda q: self.collection(
            q, [self._nvme_if_rec(l) for l in self.lifs.values()
                if "data_nvme_tcp" in l["services"]]))
        r("GET", "/network/ip/interfaces", lambda q: self.collection(
            q, [self._lif_rec(l) for l in self.lifs.values()]))
        r("GET", "/application/consistency-groups", lambda q: self.collection(
            q, [self._cg_rec(c) for c in self.cgs.values()]))
        r("GET", "/application/consistency-groups/{uuid}", lambda q: self.instance(
            q, self._cg_rec(self._cg(q.params["uuid"]))))
        r("POST", "/application/consistency-groups", self._cg_post)
        r("PATCH", "/application/consistency-groups/{uuid}", self._cg_patch)
        r("DELETE", "/application/consistency-groups/{uuid}", self._cg_delete)
        base = "/application/consistency-groups/{consistency_group.uuid}/snapshots"
        r("GET", base, self._cgsnap_list)
        r("POST", base, self._cgsnap_post)
        r("GET", base + "/{uuid}", self._cgsnap_get)
        r("PATCH", base + "/{uuid}", self._cgsnap_patch)
        r("DELETE", base + "/{uuid}", self._cgsnap_delete)

    # -- seeding (public, used by OntapSim callers) ------------------------------------------

    def add_lif(self, svm, name, ip, services=("data_nvme_tcp",), state="up", enabled=True,
                node="cluster1-01"):
        """A data LIF; `services` e.g. ["data_nvme_tcp"] or ["data_nfs"]."""
        with self.lock:
            s = self._svm_by({"name": svm})
            lif = {"uuid": new_uuid(), "name": name, "svm": s, "ip": ip,
                   "services": list(services), "state": state, "enabled": bool(enabled),
                   "node": node}
            self.lifs[lif["uuid"]] = lif
            return lif["uuid"]

    def set_lif(self, name, **changes):
        """Change a LIF's state/enabled/ip/services (e.g. a portal going down)."""
        with self.lock:
            for lif in self.lifs.values():
                if lif["name"] == name:
                    lif.update(changes)
                    return
            raise KeyError("no LIF %r" % name)

    # -- namespaces --------------------------------------------------------------------------

    def _ns(self, uuid):
        n = self.namespaces.get(uuid)
        if n is None:
            raise not_found("namespace \"%s\" does not exist" % uuid, code="72090006")
        return n

    def _ns_map(self, n):
        for m in self.maps:
            if m["namespace"] == n["uuid"]:
                return m
        return None

    def _ns_rec(self, n):
        v = self.vols[n["vol"]]
        try:
            used = os.stat(n["image"]).st_blocks * 512
        except OSError:
            used = 0
        m = self._ns_map(n)
        rec = {"uuid": n["uuid"], "name": n["name"], "svm": ref(n["svm"], "svm"),
               "location": {"volume": {"name": v.name, "uuid": v.uuid,
                                       "_links": {"self": {"href": API + "/storage/volumes/"
                                                           + v.uuid}}},
                            "namespace": n["ns_name"]},
               "enabled": True, "os_type": n["os_type"], "create_time": iso(n["create_time"]),
               "auto_delete": False,
               "space": {"size": n["size"], "used": min(used, n["size"]),
                         "block_size": n["block_size"],
                         "guarantee": {"requested": False, "reserved": False}},
               "status": {"state": "online" if v.state == "online" else "offline",
                          "container_state": "online" if v.state == "online" else "offline",
                          "read_only": False, "mapped": m is not None},
               "_links": {"self": {"href": API + "/storage/namespaces/" + n["uuid"]}}}
        if n.get("comment") is not None:
            rec["comment"] = n["comment"]
        if m is not None:
            s = self.subsystems[m["subsystem"]]
            rec["subsystem_map"] = {"nsid": "%08Xh" % m["nsid"], "anagrpid": "%08Xh" % m["nsid"],
                                    "subsystem": {"name": s["name"], "uuid": s["uuid"]}}
        return rec

    def _new_ns(self, svm, vol, ns_name, size, os_type="linux", block_size=4096, comment=None,
                uuid=None, source=None):
        n = {"uuid": uuid or new_uuid(), "svm": svm, "vol": vol.uuid, "ns_name": ns_name,
             "name": "/vol/%s/%s" % (vol.name, ns_name), "size": size, "os_type": os_type,
             "block_size": block_size, "comment": comment, "create_time": time.time()}
        n["image"] = os.path.join(self.ns_dir, n["uuid"] + ".img")
        if source:
            copy_file(source, n["image"])
        else:
            open(n["image"], "wb").close()
        os.truncate(n["image"], size)  # sparse: the size costs nothing
        self.namespaces[n["uuid"]] = n
        return n

    def _ns_post(self, req):
        body = req.body or {}
        svm = self._svm_by(body.get("svm"))
        name = body.get("name")
        clone_src = dig(body, "clone.source") or {}
        if name:
            m = _NS_NAME_RX.match(name)
            if not m:
                raise err("5374352", "invalid namespace name \"%s\": expected "
                          "/vol/<volume>/<namespace>" % name, target="name")
            volname, ns_name = m.group(1), m.group(3)
        else:
            volname = dig(body, "location.volume.name")
            ns_name = dig(body, "location.namespace")
            if not (volname or dig(body, "location.volume.uuid")) or not ns_name:
                raise err("262177", "\"name\" or \"location.volume\" and "
                          "\"location.namespace\" are required", target="name")
        if not _NS_CHARS_RX.match(ns_name):
            raise err("72089732", "invalid namespace name \"%s\": only A-Z a-z 0-9 - . _ { } "
                      "are allowed" % ns_name, target="name")
        vol = self._vol_named(svm["uuid"], volname) if volname else \
            self.vols.get(dig(body, "location.volume.uuid"))
        if vol is None:
            raise err("917927", "volume \"%s\" not found" % volname, status=404,
                      target="location.volume.name")
        source = None
        if clone_src:
            src = None
            for n in self.namespaces.values():
                if n["uuid"] == clone_src.get("uuid") or n["name"] == clone_src.get("name"):
                    src = n
            if src is None:
                raise not_found("clone source namespace does not exist", code="72090006",
                                target="clone.source")
            size, os_type, source = src["size"], src["os_type"], src["image"]
        else:
            if body.get("os_type") not in OS_TYPES:
                raise err("262177" if not body.get("os_type") else "262197",
                          "\"os_type\" must be one of %s" % ", ".join(OS_TYPES),
                          target="os_type")
            size = dig(body, "space.size")
            if not isinstance(size, int) or isinstance(size, bool):
                raise err("262177", "\"space.size\" is required", target="space.size")
            if size < NS_MIN:
                raise err("72089723", "namespace size %d is too small (minimum %d)"
                          % (size, NS_MIN), target="space.size")
            if size > NS_MAX:
                raise err("72089724", "namespace size %d is too large" % size,
                          target="space.size")
            os_type = body["os_type"]
        full = "/vol/%s/%s" % (vol.name, ns_name)
        if any(n["name"] == full for n in self.namespaces.values()):
            raise err("72089725", "a LUN or namespace already exists at \"%s\"" % full,
                      status=409, target="name")
        n = self._new_ns(svm, vol, ns_name, size, os_type,
                         dig(body, "space.block_size") or 4096, body.get("comment"),
                         source=source)
        out = {}
        if req.qbool("return_records"):
            out = {"num_records": 1, "records": [self._ns_rec(n)]}
        return 201, out, {"Location": "/api/storage/namespaces/" + n["uuid"]}

    def _ns_patch(self, req):
        n = self._ns(req.params["uuid"])
        body = req.body or {}
        size = dig(body, "space.size")
        if size is not None:
            if size < n["size"]:
                raise err("72090038", "a namespace cannot be shrunk (%d < %d)"
                          % (size, n["size"]), target="space.size")
            if size > NS_MAX:
                raise err("72089724", "namespace size %d is too large" % size,
                          target="space.size")
            n["size"] = size
            os.truncate(n["image"], size)
        if "comment" in body:
            n["comment"] = body["comment"]
        return 200, {}

    def _ns_delete(self, req):
        n = self._ns(req.params["uuid"])
        m = self._ns_map(n)
        if m is not None:
            if not req.qbool("allow_delete_while_mapped"):
                raise err("72089796", "namespace \"%s\" is mapped; unmap it before deleting it"
                          % n["name"], status=409)
            self.maps.remove(m)
        self._drop_ns(n)
        return 200, {}

    def _drop_ns(self, n):
        m = self._ns_map(n)
        if m is not None:
            self.maps.remove(m)
        try:
            os.unlink(n["image"])
        except FileNotFoundError:
            pass
        del self.namespaces[n["uuid"]]

    # -- hooks called by the NAS side --------------------------------------------------------

    def _vol_namespaces(self, v):
        return [n for n in self.namespaces.values() if n["vol"] == v.uuid]

    def _ns_bytes(self, v):
        total = 0
        for n in self._vol_namespaces(v):
            try:
                total += os.stat(n["image"]).st_blocks * 512
            except OSError:
                pass
        return total

    def _snap_ns_dir(self, snap):
        return os.path.join(self.ns_dir, ".snapshot", snap.uuid)

    def _ns_snapshot(self, v, snap):
        """A volume snapshot includes its namespaces: save each image (holes kept)."""
        nss = self._vol_namespaces(v)
        if not nss:
            return
        d = self._snap_ns_dir(snap)
        os.makedirs(d, exist_ok=True)
        for n in nss:
            saved = os.path.join(d, n["uuid"] + ".img")
            copy_file(n["image"], saved)
            snap.ns[n["uuid"]] = dict((k, n[k]) for k in ("ns_name", "size", "os_type",
                                                          "block_size", "comment"))
            snap.ns[n["uuid"]]["image"] = saved

    def _ns_snapshot_dropped(self, snap):
        d = self._snap_ns_dir(snap)
        if os.path.isdir(d):
            shutil.rmtree(d)

    def _ns_restore(self, v, snap):
        """SnapRestore of the namespaces: images and sizes rewind; a namespace created after
        the snapshot disappears (with its map), one deleted since comes back unmapped."""
        for n in self._vol_namespaces(v):
            if n["uuid"] not in snap.ns:
                self._drop_ns(n)
        for uuid, saved in snap.ns.items():
            n = self.namespaces.get(uuid)
            if n is None:
                self._new_ns(v.svm, v, saved["ns_name"], saved["size"], saved["os_type"],
                             saved["block_size"], saved["comment"], uuid=uuid,
                             source=saved["image"])
            else:
                copy_file(saved["image"], n["image"])
                n["size"] = saved["size"]
                os.truncate(n["image"], saved["size"])

    def _ns_flexclone(self, parent, snap, clone):
        """A FlexClone carries the snapshot's namespaces, under new uuids and unmapped."""
        for saved in snap.ns.values():
            self._new_ns(clone.svm, clone, saved["ns_name"], saved["size"], saved["os_type"],
                         saved["block_size"], saved["comment"], source=saved["image"])

    def _ns_volume_deleting(self, v, keep=False):
        """keep: the volume goes to the recovery queue, its namespaces' images stay on disk
        (space still used) but the namespaces leave the REST view with it."""
        nss = self._vol_namespaces(v)
        mapped = [n["name"] for n in nss if self._ns_map(n)]
        if mapped:
            # The reference names no volume-level code; the namespace's own "must be unmapped"
            # code tells the client what to do.
            raise err("72089796", "volume \"%s\" holds mapped namespaces (%s); unmap them "
                      "before deleting the volume" % (v.name, ", ".join(mapped)))
        for n in nss:
            if keep:
                del self.namespaces[n["uuid"]]
            else:
                self._drop_ns(n)

    def _cg_volume_deleted(self, v):
        for cg in self.cgs.values():
            if v.uuid in cg["volumes"]:
                cg["volumes"].remove(v.uuid)

    # -- subsystems and hosts ----------------------------------------------------------------

    def _ss(self, uuid, code="72090001"):
        s = self.subsystems.get(uuid)
        if s is None:
            raise not_found("NVMe subsystem \"%s\" does not exist" % uuid, code=code)
        return s

    def _ss_rec(self, s):
        maps = [m for m in self.maps if m["subsystem"] == s["uuid"]]
        return {"uuid": s["uuid"], "name": s["name"], "svm": ref(s["svm"], "svm"),
                "os_type": s["os_type"], "comment": s["comment"],
                "target_nqn": s["target_nqn"], "delete_on_unmap": s["delete_on_unmap"],
                "hosts": [{"nqn": h} for h in s["hosts"]],
                "io_queue": {"default": {"count": 4, "depth": 32}},
                "subsystem_maps": [{"nsid": "%08Xh" % m["nsid"], "anagrpid": "%08Xh" % m["nsid"],
                                    "namespace": {"name": self.namespaces[m["namespace"]]["name"],
                                                  "uuid": m["namespace"]}} for m in maps],
                "_links": {"self": {"href": API + "/protocols/nvme/subsystems/" + s["uuid"]}}}

    def _check_nqn(self, nqn):
        if not isinstance(nqn, str) or not nqn.startswith("nqn"):
            raise err("72089771", "invalid host NQN \"%s\": it must start with \"nqn\"" % nqn,
                      target="nqn")
        if not _NQN_RX.match(nqn):
            raise err("72089772", "invalid host NQN \"%s\": expected nqn.yyyy-mm.<name>" % nqn,
                      target="nqn")

    def _ss_post(self, req):
        body = req.body or {}
        svm = self._svm_by(body.get("svm"))
        name = body.get("name")
        if not name:
            raise err("262177", "missing value for \"name\"", target="name")
        if not _SUBSYS_RX.match(name):
            raise err("72089709", "invalid NVMe subsystem name \"%s\"" % name, target="name")
        if body.get("os_type") not in OS_TYPES:
            raise err("262177" if not body.get("os_type") else "262197",
                      "\"os_type\" must be one of %s" % ", ".join(OS_TYPES), target="os_type")
        hosts = [h.get("nqn") for h in body.get("hosts") or []]
        for h in hosts:
            self._check_nqn(h)
        if any(s["name"] == name and s["svm"] is svm for s in self.subsystems.values()):
            raise err("72090025", "NVMe subsystem \"%s\" already exists" % name, status=409,
                      target="name")
        s = {"uuid": new_uuid(), "name": name, "svm": svm, "os_type": body["os_type"],
             "comment": body.get("comment", ""), "hosts": list(dict.fromkeys(hosts)),
             "delete_on_unmap": bool(body.get("delete_on_unmap", False)),
             "target_nqn": "nqn.1992-08.com.netapp:sn.%s:subsystem.%s"
             % (self.cluster["uuid"].replace("-", ""), name)}
        self.subsystems[s["uuid"]] = s
        out = {"num_records": 1, "records": [self._ss_rec(s)]} \
            if req.qbool("return_records") else {}
        return 201, out, {"Location": "/api/protocols/nvme/subsystems/" + s["uuid"]}

    def _ss_patch(self, req):
        s = self._ss(req.params["uuid"])
        body = req.body or {}
        if "comment" in body:
            s["comment"] = body["comment"]
        if "delete_on_unmap" in body:
            s["delete_on_unmap"] = bool(body["delete_on_unmap"])
        return 200, {}

    def _ss_delete(self, req):
        s = self._ss(req.params["uuid"])
        maps = [m for m in self.maps if m["subsystem"] == s["uuid"]]
        if maps and not req.qbool("allow_delete_while_mapped"):
            raise err("72090023", "NVMe subsystem \"%s\" has mapped namespaces" % s["name"],
                      status=409)
        if s["hosts"] and not req.qbool("allow_delete_with_hosts"):
            raise err("72090024", "NVMe subsystem \"%s\" has hosts" % s["name"], status=409)
        for m in maps:
            self.maps.remove(m)
        del self.subsystems[s["uuid"]]
        return 200, {}

    def _hosts_list(self, req):
        s = self._ss(req.params["subsystem.uuid"])
        return self.collection(req, [{"nqn": h, "subsystem": {"name": s["name"],
                                                              "uuid": s["uuid"]},
                                      "_links": {"self": {"href": "%s/protocols/nvme/subsystems"
                                                          "/%s/hosts/%s" % (API, s["uuid"], h)}}}
                                     for h in s["hosts"]], "nqn")

    def _hosts_post(self, req):
        s = self._ss(req.params["subsystem.uuid"])
        body = req.body or {}
        nqns = [r.get("nqn") for r in body["records"]] if body.get("records") else \
            [body.get("nqn")]
        for nqn in nqns:
            self._check_nqn(nqn)
        for nqn in nqns:
            if nqn in s["hosts"]:
                raise err("72089705", "host \"%s\" is already in NVMe subsystem \"%s\""
                          % (nqn, s["name"]), status=409, target="nqn")
        s["hosts"].extend(nqns)
        out = {"num_records": len(nqns), "records": [{"nqn": n} for n in nqns]} \
            if req.qbool("return_records") else {}
        return 201, out

    def _hosts_delete(self, req):
        s = self._ss(req.params["subsystem.uuid"])
        nqn = req.params["nqn"]
        if nqn not in s["hosts"]:
            raise not_found("host \"%s\" is not in NVMe subsystem \"%s\"" % (nqn, s["name"]),
                            code="72090004", target="nqn")
        s["hosts"].remove(nqn)
        return 200, {}

    # -- subsystem maps ----------------------------------------------------------------------

    def _map_rec(self, m):
        s = self.subsystems[m["subsystem"]]
        n = self.namespaces[m["namespace"]]
        return {"svm": ref(s["svm"], "svm"),
                "subsystem": {"name": s["name"], "uuid": s["uuid"]},
                "namespace": {"name": n["name"], "uuid": n["uuid"],
                              "node": {"name": "cluster1-01"}},
                "nsid": "%08Xh" % m["nsid"], "anagrpid": "%08Xh" % m["nsid"],
                "_links": {"self": {"href": "%s/protocols/nvme/subsystem-maps/%s/%s"
                                    % (API, s["uuid"], n["uuid"])}}}

    def _map_of(self, req):
        su, nu = req.params["subsystem.uuid"], req.params["namespace.uuid"]
        for m in self.maps:
            if m["subsystem"] == su and m["namespace"] == nu:
                return m
        raise not_found("namespace \"%s\" is not mapped to NVMe subsystem \"%s\"" % (nu, su),
                        code="72090019")

    def _map_post(self, req):
        body = req.body or {}
        sref, nref = body.get("subsystem") or {}, body.get("namespace") or {}
        svm = self._svm_by(body.get("svm"), required=False)
        s = None
        for c in self.subsystems.values():
            if (c["uuid"] == sref.get("uuid") or (not sref.get("uuid") and
                                                 c["name"] == sref.get("name"))) and \
                    (svm is None or c["svm"] is svm):
                s = c
        if s is None:
            raise not_found("NVMe subsystem \"%s\" does not exist"
                            % (sref.get("uuid") or sref.get("name")), code="72090001",
                            target="subsystem")
        n = None
        for c in self.namespaces.values():
            if c["uuid"] == nref.get("uuid") or (not nref.get("uuid") and
                                                 c["name"] == nref.get("name")):
                n = c
        if n is None:
            raise not_found("namespace \"%s\" does not exist"
                            % (nref.get("uuid") or nref.get("name")), code="72090006",
                            target="namespace")
        if self._ns_map(n) is not None:
            # A namespace maps to one subsystem at a time.
            raise err("72089790", "namespace \"%s\" is already mapped" % n["name"], status=409,
                      target="namespace")
        used = {m["nsid"] for m in self.maps if m["subsystem"] == s["uuid"]}
        nsid = 1
        while nsid in used:
            nsid += 1
        m = {"subsystem": s["uuid"], "namespace": n["uuid"], "nsid": nsid}
        self.maps.append(m)
        out = {"num_records": 1, "records": [self._map_rec(m)]} \
            if req.qbool("return_records") else {}
        return 201, out, {"Location": "/api/protocols/nvme/subsystem-maps/%s/%s"
                          % (s["uuid"], n["uuid"])}

    def _map_delete(self, req):
        m = self._map_of(req)
        self.maps.remove(m)
        s = self.subsystems[m["subsystem"]]
        if s["delete_on_unmap"] and not any(x["subsystem"] == s["uuid"] for x in self.maps):
            del self.subsystems[s["uuid"]]
        return 200, {}

    # -- NVMe service and interfaces ---------------------------------------------------------

    def _svc_rec(self, s):
        return {"svm": ref(s, "svm"), "enabled": True,
                "_links": {"self": {"href": API + "/protocols/nvme/services/" + s["uuid"]}}}

    def _svc_get(self, req):
        s = self.svms.get(req.params["svm.uuid"])
        if s is None:
            raise not_found("the SVM has no NVMe service", code="72089651")
        return self.instance(req, self._svc_rec(s))

    def _lif_rec(self, l):
        return {"uuid": l["uuid"], "name": l["name"], "svm": ref(l["svm"], "svm"),
                "ip": {"address": l["ip"], "family": "ipv6" if ":" in l["ip"] else "ipv4",
                       "netmask": "64" if ":" in l["ip"] else "24"},
                "services": list(l["services"]), "state": l["state"], "enabled": l["enabled"],
                "scope": "svm",
                "location": {"home_node": {"name": l["node"]}, "node": {"name": l["node"]},
                             "is_home": True},
                "_links": {"self": {"href": API + "/network/ip/interfaces/" + l["uuid"]}}}

    def _nvme_if_rec(self, l):
        return {"uuid": l["uuid"], "name": l["name"], "svm": ref(l["svm"], "svm"),
                "enabled": l["enabled"], "interface_type": "ip_interface",
                "transport_protocols": ["nvme_tcp"], "transport_address": l["ip"],
                "node": {"name": l["node"]},
                "ip_interface": {"uuid": l["uuid"], "name": l["name"],
                                 "ip": {"address": l["ip"]}}}

    # -- consistency groups ------------------------------------------------------------------

    def _cg(self, uuid):
        c = self.cgs.get(uuid)
        if c is None:
            raise not_found("consistency group \"%s\" does not exist" % uuid, code="53411843")
        return c

    def _cg_rec(self, c):
        vols = [self.vols[u] for u in c["volumes"] if u in self.vols]
        size = sum(v.size for v in vols)
        used = sum(self._vol_used(v) for v in vols)
        return {"uuid": c["uuid"], "name": c["name"], "svm": ref(c["svm"], "svm"),
                "snapshot_policy": {"name": c["snapshot_policy"]},
                "replicated": False, "consistency_groups": [],
                "space": {"size": size, "used": used, "available": max(size - used, 0)},
                "volumes": [{"name": v.name, "uuid": v.uuid,
                             "_links": {"self": {"href": API + "/storage/volumes/" + v.uuid}}}
                            for v in vols],
                "namespaces": [{"name": n["name"], "uuid": n["uuid"]} for v in vols
                               for n in self._vol_namespaces(v)],
                "luns": [],
                "_links": {"self": {"href": API + "/application/consistency-groups/"
                                    + c["uuid"]}}}

    def _cg_volume_refs(self, c_svm, vols, allowed):
        """[(Vol, action)] from a request's volumes[]; the simulator groups existing
        volumes (pve-ontap creates its volumes first), so action "create" is refused."""
        out = []
        for vr in vols or []:
            action = dig(vr, "provisioning_options.action") or "add"
            if action not in allowed:
                raise err("262197", "volumes[].provisioning_options.action \"%s\" is not "
                          "supported here (use one of %s)" % (action, ", ".join(allowed)),
                          target="volumes.provisioning_options.action")
            v = self.vols.get(vr.get("uuid")) if vr.get("uuid") else \
                self._vol_named(c_svm["uuid"], vr.get("name"))
            if v is None:
                raise err("53411864", "volume \"%s\" does not exist in SVM \"%s\""
                          % (vr.get("name") or vr.get("uuid"), c_svm["name"]), status=404,
                          target="volumes.name")
            out.append((v, action))
        return out

    def _cg_post(self, req):
        body = req.body or {}
        svm = self._svm_by(body.get("svm"))
        refs = self._cg_volume_refs(svm, body.get("volumes"), ("add",))
        if not refs:
            raise err("53411864", "a consistency group needs volumes", target="volumes")
        if len(refs) > CG_MAX_VOLUMES:
            raise err("262197", "at most %d volumes per consistency group" % CG_MAX_VOLUMES,
                      target="volumes")
        name = body.get("name") or (refs[0][0].name if len(refs) == 1 else None)
        if not name:
            raise err("53411846", "\"name\" is required", target="name")

        def work():
            if any(c["name"] == name and c["svm"] is svm for c in self.cgs.values()):
                raise err("53411852", "consistency group \"%s\" already exists" % name,
                          target="name")
            for v, _ in refs:
                if v.cg and v.cg in self.cgs:
                    raise err("53411865", "volume \"%s\" is already in consistency group "
                              "\"%s\"" % (v.name, self.cgs[v.cg]["name"]))
            c = {"uuid": new_uuid(), "name": name, "svm": svm, "volumes": [],
                 "snapshot_policy": dig(body, "snapshot_policy.name") or "none",
                 "snapshots": []}
            for v, _ in refs:
                c["volumes"].append(v.uuid)
                v.cg = c["uuid"]
            self.cgs[c["uuid"]] = c
        job = self.start_job(req, "POST /api/application/consistency-groups (%s)" % name, work,
                             svm=svm)
        return Pending(job, 201, location="/api/application/consistency-groups/?name=" + name,
                       records=lambda: [self._cg_rec(c) for c in self.cgs.values()
                                        if c["name"] == name and c["svm"] is svm])

    def _cg_patch(self, req):
        c = self._cg(req.params["uuid"])
        body = req.body or {}
        restore = dig(body, "restore_to.snapshot")
        if restore:
            if [k for k in body if k != "restore_to"]:
                raise err("262186", "\"restore_to\" cannot be combined with other changes",
                          target="restore_to")
            job = self.start_job(req, "PATCH /api/application/consistency-groups/%s (restore)"
                                 % c["uuid"], lambda: self._cg_restore(c, restore),
                                 svm=c["svm"])
            return Pending(job, 200)
        refs = self._cg_volume_refs(c["svm"], body.get("volumes"), ("add", "remove"))
        if refs and tuple(self.version) < (9, 12, 1):
            # Adding or removing volumes of an existing CG by PATCH came with 9.12.1
            # (reference/ontap-rest.md §2.10 "Modify" and §3: the volumes action enum of
            # 9.10.1 is create|add for new CGs only; McKay1717: PATCH add/remove from
            # 9.12.1).  Codes from the PATCH error table: 262285 for a removal; for an
            # addition the table's "only supported when provisioning new objects".
            if any(a == "remove" for _, a in refs):
                raise err("262285", "Consistency group does not support removing elements "
                          "using a PATCH request.")
            raise err("53411856", "Field provided is only supported when provisioning new "
                      "objects.", target="volumes.provisioning_options.action")

        def work():
            for v, action in refs:
                if action == "add":
                    if v.cg and v.cg != c["uuid"] and v.cg in self.cgs:
                        raise err("53411865", "volume \"%s\" is already in consistency group "
                                  "\"%s\"" % (v.name, self.cgs[v.cg]["name"]))
                    if v.uuid not in c["volumes"]:
                        c["volumes"].append(v.uuid)
                    v.cg = c["uuid"]
                else:
                    if v.uuid not in c["volumes"]:
                        raise err("53411861", "volume \"%s\" is not in consistency group "
                                  "\"%s\"" % (v.name, c["name"]))
                    c["volumes"].remove(v.uuid)
                    v.cg = None
            if dig(body, "snapshot_policy.name"):
                c["snapshot_policy"] = body["snapshot_policy"]["name"]
        job = self.start_job(req, "PATCH /api/application/consistency-groups/%s" % c["uuid"],
                             work, svm=c["svm"])
        return Pending(job, 200)

    def _cg_restore(self, c, sref):
        """Every member volume rewinds to its member snapshot (tree and namespace images);
        newer CG snapshots go, as their member snapshots do (§2.10)."""
        snap = self._cgsnap_find(c, sref)
        members = [(self.vols.get(m["volume"]), m) for m in snap["members"]]
        for v, m in members:
            if v is None:
                raise err("53411842", "volume \"%s\" of snapshot \"%s\" no longer exists"
                          % (m["volume_name"], snap["name"]))
            self._find_snap(v, {"uuid": m["snapshot"]})
        for v, m in members:
            self._restore_volume(v, {"uuid": m["snapshot"]})
        for other in list(c["snapshots"]):
            if other["create_time"] > snap["create_time"]:
                c["snapshots"].remove(other)

    def _cg_delete(self, req):
        c = self._cg(req.params["uuid"])

        def work():
            # The volumes and their snapshots stay (§2.10); only the grouping goes.
            for u in c["volumes"]:
                if u in self.vols:
                    self.vols[u].cg = None
            self.cgs.pop(c["uuid"], None)
        job = self.start_job(req, "DELETE /api/application/consistency-groups/%s" % c["uuid"],
                             work, svm=c["svm"])
        return Pending(job, 200)

    # -- consistency group snapshots ---------------------------------------------------------

    def _cgsnap_members(self, c, s):
        """(present, missing): member snapshots that still exist, and the volumes whose
        member snapshot is gone (deleting one makes the CG snapshot partial)."""
        present, missing = [], []
        for m in s["members"]:
            v = self.vols.get(m["volume"])
            vs = next((x for x in v.snapshots if x.uuid == m["snapshot"]), None) if v else None
            if vs is None:
                missing.append({"name": m["volume_name"], "uuid": m["volume"]})
            else:
                present.append((v, vs))
        return present, missing

    def _cgsnap_rec(self, c, s):
        present, missing = self._cgsnap_members(c, s)
        rec = {"uuid": s["uuid"], "name": s["name"], "create_time": iso(s["create_time"]),
               "consistency_type": s["consistency_type"],
               "consistency_group": {"name": c["name"], "uuid": c["uuid"]},
               "svm": ref(c["svm"], "svm"),
               "is_partial": bool(missing), "missing_volumes": missing,
               "snapshot_volumes": [{"volume": {"name": v.name, "uuid": v.uuid},
                                     "snapshot": {"name": vs.name, "uuid": vs.uuid}}
                                    for v, vs in present],
               "_links": {"self": {"href": "%s/application/consistency-groups/%s/snapshots/%s"
                                   % (API, c["uuid"], s["uuid"])}}}
        if s["comment"] is not None:
            rec["comment"] = s["comment"]
        if s["label"] is not None:
            rec["snapmirror_label"] = s["label"]
        return rec

    def _cgsnap_find(self, c, sref):
        for s in c["snapshots"]:
            if (not sref.get("uuid") or s["uuid"] == sref["uuid"]) and \
                    (not sref.get("name") or s["name"] == sref["name"]):
                return s
        raise not_found("snapshot \"%s\" of consistency group \"%s\" does not exist"
                        % (sref.get("name") or sref.get("uuid"), c["name"]))

    def _cgsnap_list(self, req):
        c = self._cg(req.params["consistency_group.uuid"])
        return self.collection(req, [self._cgsnap_rec(c, s) for s in c["snapshots"]])

    def _cgsnap_get(self, req):
        c = self._cg(req.params["consistency_group.uuid"])
        return self.instance(req, self._cgsnap_rec(c, self._cgsnap_find(
            c, {"uuid": req.params["uuid"]})))

    def _cgsnap_post(self, req):
        c = self._cg(req.params["consistency_group.uuid"])
        body = req.body or {}
        self._check_snap_name(body.get("name"))
        name = body["name"]
        ctype = body.get("consistency_type", "crash")
        if ctype not in ("crash", "application"):
            raise err("262197", "invalid value \"%s\" for \"consistency_type\"" % ctype,
                      target="consistency_type")

        def work():
            if any(s["name"] == name for s in c["snapshots"]):
                raise err("53411921", "failed to create consistency group snapshot \"%s\": "
                          "a snapshot with that name already exists" % name, target="name")
            vols = [self.vols[u] for u in c["volumes"] if u in self.vols]
            if not vols:
                raise err("53411918", "consistency group \"%s\" has no volumes" % c["name"])
            taken = []
            try:
                for v in vols:  # the same name on every member (§2.10)
                    taken.append((v, self._take_snapshot(v, name, body.get("comment"),
                                                         body.get("snapmirror_label"))))
            except Exception:
                for v, vs in taken:  # all or nothing
                    self._drop_snapshot(v, vs)
                raise
            c["snapshots"].append({
                "uuid": new_uuid(), "name": name, "comment": body.get("comment"),
                "label": body.get("snapmirror_label"), "consistency_type": ctype,
                "create_time": taken[0][1].create_time,
                "members": [{"volume": v.uuid, "volume_name": v.name, "snapshot": vs.uuid}
                            for v, vs in taken]})
        job = self.start_job(req, "POST /api/application/consistency-groups/%s/snapshots"
                             "/?name=%s" % (c["uuid"], name), work, svm=c["svm"])
        return Pending(job, 201,
                       location="/api/application/consistency-groups/%s/snapshots/?name=%s"
                       % (c["uuid"], name),
                       records=lambda: [self._cgsnap_rec(c, s) for s in c["snapshots"]
                                        if s["name"] == name])

    def _cgsnap_patch(self, req):
        c = self._cg(req.params["consistency_group.uuid"])
        s = self._cgsnap_find(c, {"uuid": req.params["uuid"]})
        body = req.body or {}
        # action=commit of a two-phase snapshot: the simulator's snapshots are complete at
        # once, so committing is a no-op that succeeds.
        if "comment" in body:
            s["comment"] = body["comment"]
        if "snapmirror_label" in body:
            s["label"] = body["snapmirror_label"]
        return 200, {}

    def _cgsnap_delete(self, req):
        c = self._cg(req.params["consistency_group.uuid"])
        s = self._cgsnap_find(c, {"uuid": req.params["uuid"]})

        def work():
            if s not in c["snapshots"]:
                raise not_found("snapshot \"%s\" does not exist" % s["uuid"])
            present, _ = self._cgsnap_members(c, s)
            for v, vs in present:
                if vs.owners:
                    raise err("1638543", "snapshot \"%s\" of volume \"%s\" is in use by a "
                              "FlexClone" % (vs.name, v.name))
            for v, vs in present:  # the member snapshots go with it
                self._drop_snapshot(v, vs)
            c["snapshots"].remove(s)
        job = self.start_job(req, "DELETE /api/application/consistency-groups/%s/snapshots/%s"
                             % (c["uuid"], s["uuid"]), work, svm=c["svm"])
        return Pending(job, 200)

    # -- inspection --------------------------------------------------------------------------

    def _san_summary(self):
        """SAN part of OntapSim.state_summary(): names and sizes, no uuids or times."""
        nss = {}
        for n in self.namespaces.values():
            m = self._ns_map(n)
            nss[n["name"]] = {"size": n["size"], "comment": n["comment"],
                              "subsystem": self.subsystems[m["subsystem"]]["name"]
                              if m else None}
        return {
            "namespaces": nss,
            "subsystems": {s["name"]: {"hosts": sorted(s["hosts"]),
                                       "namespaces": sorted(
                                           self.namespaces[m["namespace"]]["name"]
                                           for m in self.maps if m["subsystem"] == s["uuid"])}
                           for s in self.subsystems.values()},
            "consistency_groups": {c["name"]: {
                "volumes": sorted(self.vols[u].name for u in c["volumes"]
                                  if u in self.vols),
                "snapshots": [s["name"] for s in c["snapshots"]]} for c in self.cgs.values()},
            "lifs": {l["name"]: {"ip": l["ip"], "state": l["state"], "enabled": l["enabled"],
                                 "services": list(l["services"])} for l in self.lifs.values()},
        }

    def namespaces_info(self):
        """Every namespace: name, uuid, volume, size, image (the backing file), subsystem."""
        with self.lock:
            out = []
            for n in self.namespaces.values():
                m = self._ns_map(n)
                out.append({"name": n["name"], "uuid": n["uuid"],
                            "volume": self.vols[n["vol"]].name, "size": n["size"],
                            "image": n["image"], "comment": n["comment"],
                            "subsystem": self.subsystems[m["subsystem"]]["name"] if m else None,
                            "nsid": m["nsid"] if m else None})
            return out
