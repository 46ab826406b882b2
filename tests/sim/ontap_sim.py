#!/usr/bin/python3
"""ONTAP REST simulator for pve-ontap's tests and `make demo` (HACKING.md "Simulators").

A stateful HTTPS server on 127.0.0.1 speaking the subset of the ONTAP 9.16.1 REST API that
pve-ontap uses (../shared/specs/ontap-openapi-subset.yaml), with ONTAP's behaviour as recorded in
../shared/reference/ontap-rest.md.  The pieces:

  ontap_core.py  HTTP/TLS, Basic auth, spec validation, fields/filters/paging, jobs, faults
  ontap_nas.py   cluster, SVMs, volumes, FlexClones, snapshots, file clone, files endpoint
  ontap_san.py   namespaces, subsystems, hosts, maps, NVMe service/LIFs, consistency groups

Python API (in-process, as tests/integration/conftest.py uses it):

  sim = OntapSim(root, certfile, keyfile, user="admin", password="s3cr3t-ontap",
                 exports_file=None)
  sim.add_svm("svm1"); sim.add_aggregate("aggr1")
  sim.add_volume("svm1", "vol1", nas_path="/vol1", directory=None, size=100 GiB)
  sim.start(); sim.port; sim.url; ...; sim.stop()

Standalone:
  ontap_sim.py --root DIR --cert C --key K [--port N] [--port-file F] [--seed seed.yaml]
               [--exports-file F] [--user U --password P]
prints the port on stdout and serves until SIGINT/SIGTERM.  The seed file is YAML:
  svms: [svm1]
  aggregates: [aggr1]
  volumes: [{svm: svm1, name: vol1, nas_path: /vol1, directory: /abs/dir, size: 10737418240}]
  lifs: [{svm: svm1, name: lif1, ip: 10.0.0.1, services: [data_nvme_tcp]}]
  page_size: 2        # optional
  job_seconds: 1      # optional
  version: 9.11.1     # optional: the ONTAP release reported and followed (default 9.16.1)
"""

import argparse
import os
import signal
import sys
import threading

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from ontap_core import OntapCore, iso, new_uuid  # noqa: E402
from ontap_nas import GIB, NasMixin  # noqa: E402

try:
    from ontap_san import SanMixin  # noqa: E402
except ImportError:  # pragma: no cover - ontap_san.py is part of the same tree
    SanMixin = None

_Bases = (SanMixin, NasMixin, OntapCore) if SanMixin else (NasMixin, OntapCore)


class OntapSim(*_Bases):
    """The whole simulator.  All public methods are thread-safe (one lock)."""

    def __init__(self, root, certfile, keyfile, user="admin", password="s3cr3t-ontap",
                 exports_file=None, spec_path=None):
        OntapCore.__init__(self, root, certfile, keyfile, user=user, password=password,
                           spec_path=spec_path)
        self._nas_init(exports_file)
        if SanMixin:
            self._san_init()
        with self.lock:
            self._write_exports()

    # -- seeding -----------------------------------------------------------------------------

    def add_svm(self, name):
        with self.lock:
            for s in self.svms.values():
                if s["name"] == name:
                    return s["uuid"]
            s = {"name": name, "uuid": new_uuid()}
            self.svms[s["uuid"]] = s
            return s["uuid"]

    def add_aggregate(self, name):
        with self.lock:
            for a in self.aggregates.values():
                if a["name"] == name:
                    return a["uuid"]
            a = {"name": name, "uuid": new_uuid()}
            self.aggregates[a["uuid"]] = a
            return a["uuid"]

    def add_volume(self, svm, name, nas_path=None, directory=None, size=100 * GIB,
                   aggregate=None, **options):
        """A FlexVol as if created earlier.  `directory` (default root/vol/<name>) backs it
        and is kept when the volume is deleted if it lies outside root.  `options` are volume
        POST body fields (e.g. comment="x", snapshot_policy={"name": "none"})."""
        with self.lock:
            s = self._svm_by({"name": svm})
            if aggregate is None:
                aggregate = next(iter(self.aggregates.values()), None)
                aggregate = aggregate["name"] if aggregate else None
            if aggregate is None:
                aggregate = "aggr1"
            self.add_aggregate(aggregate)
            body = dict(options)
            if nas_path:
                body["nas"] = dict(body.get("nas") or {}, path=nas_path)
            self._check_vol_name(name)
            v = self._create_flexvol(s, name, int(size), {"name": aggregate}, body,
                                     directory=directory)
            v.owns_directory = v.directory.startswith(self.root + os.sep)
            return v.uuid

    def add_snapshot(self, volname, name, comment=None, label=None, svm=None):
        """A volume snapshot taken now (a copy of the directory tree as it is)."""
        with self.lock:
            v = self._vol_by_name(volname, svm)
            return self._take_snapshot(v, name, comment, label).uuid

    def set_version(self, version):
        """The ONTAP release this cluster reports and behaves as: "9.11.1", (9, 12, 0)..."""
        if isinstance(version, str):
            version = tuple(int(x) for x in version.split("."))
        if len(version) != 3:
            raise ValueError("version %r: expected generation.major.minor" % (version,))
        with self.lock:
            self.version = tuple(version)

    # -- inspection --------------------------------------------------------------------------

    def _vol_by_name(self, volname, svm=None):
        svm_uuid = self._svm_by({"name": svm})["uuid"] if svm else None
        v = self._vol_named(svm_uuid, volname)
        if v is None:
            raise KeyError("no volume %r" % volname)
        return v

    def _vol_info(self, v):
        return {"uuid": v.uuid, "name": v.name, "svm": v.svm["name"],
                "nas_path": v.nas_path or None, "directory": v.directory, "size": v.size,
                "state": v.state, "comment": v.comment, "is_flexclone": v.is_flexclone,
                "parent_volume": v.parent[1] if v.parent else None,
                "parent_snapshot": v.parent_snap.name if v.parent_snap else None,
                "snapshot_policy": v.snapshot_policy, "qos_policy": v.qos_policy,
                "guarantee": v.guarantee, "encryption": v.encryption, "tiering": v.tiering,
                "snapshot_reserve": v.snapshot_reserve, "autosize": dict(v.autosize),
                "aggregates": [a["name"] for a in v.aggregates],
                "consistency_group": self.cgs[v.cg]["name"] if v.cg and
                getattr(self, "cgs", None) and v.cg in self.cgs else None,
                "snapshots": [s.name for s in v.snapshots]}

    def volumes(self):
        """Every volume as a dict (name, uuid, svm, nas_path, directory, size, state, ...)."""
        with self.lock:
            return [self._vol_info(v) for v in self.vols.values()]

    def volume(self, volname, svm=None):
        with self.lock:
            return self._vol_info(self._vol_by_name(volname, svm))

    def snapshots(self, volname, svm=None):
        """The volume's snapshots, oldest first: name, uuid, create_time (ISO), comment,
        snapmirror_label, path (the copy under <dir>/.snapshot), owners (FlexClone names)."""
        with self.lock:
            v = self._vol_by_name(volname, svm)
            return [{"name": s.name, "uuid": s.uuid, "create_time": iso(s.create_time),
                     "comment": s.comment, "snapmirror_label": s.label, "path": s.path,
                     "owners": sorted((self.vols.get(o) or self.recovery_queue[o]).name
                                      for o in s.owners if o in self.vols or
                                      o in self.recovery_queue)} for s in v.snapshots]

    @staticmethod
    def _tree(path):
        out = {}
        if not os.path.isdir(path):
            return out
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for n in sorted(filenames):
                p = os.path.join(dirpath, n)
                out[os.path.relpath(p, path)] = os.lstat(p).st_size
        return out

    def state_summary(self):
        """A comparable dict of every object, free of uuids and times: equal before and after
        anything that must not change ONTAP state (e.g. --dry-run)."""
        with self.lock:
            vols = {}
            for v in self.vols.values():
                info = self._vol_info(v)
                for k in ("uuid", "directory"):
                    info.pop(k)
                info["snapshots"] = [{"name": s.name, "comment": s.comment,
                                      "snapmirror_label": s.label} for s in v.snapshots]
                info["files"] = self._tree(v.directory)
                vols["%s/%s" % (v.svm["name"], v.name)] = info
            out = {"svms": sorted(s["name"] for s in self.svms.values()),
                   "aggregates": sorted(a["name"] for a in self.aggregates.values()),
                   "volumes": vols,
                   "recovery_queue": sorted(v.name for v in self.recovery_queue.values())}
            if SanMixin:
                out.update(self._san_summary())
            return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="ONTAP REST simulator (pve-ontap tests, demo)")
    ap.add_argument("--root", required=True, help="state directory (volume trees live here)")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port", type=int, default=0, help="default: a free port")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--seed", help="YAML seed file (svms, aggregates, volumes, lifs, ...)")
    ap.add_argument("--exports-file", help="keep {junction: directory} JSON here")
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", default="s3cr3t-ontap")
    a = ap.parse_args(argv)
    sim = OntapSim(a.root, a.cert, a.key, user=a.user, password=a.password,
                   exports_file=a.exports_file)
    if a.seed:
        import yaml
        with open(a.seed, encoding="utf-8") as f:
            seed = yaml.safe_load(f) or {}
        for name in seed.get("svms", []):
            sim.add_svm(name)
        for name in seed.get("aggregates", []):
            sim.add_aggregate(name)
        for v in seed.get("volumes", []):
            v = dict(v)
            sim.add_volume(v.pop("svm"), v.pop("name"), **v)
        for lif in seed.get("lifs", []):
            lif = dict(lif)
            sim.add_lif(lif.pop("svm"), lif.pop("name"), lif.pop("ip"), **lif)
        sim.page_size = seed.get("page_size", sim.page_size)
        sim.job_seconds = seed.get("job_seconds", sim.job_seconds)
        if seed.get("version"):
            sim.set_version(str(seed["version"]))
    sim.start(a.port)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % sim.port)
        os.replace(tmp, a.port_file)
    print(sim.port, flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
