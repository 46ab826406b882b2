"""Core of the ONTAP REST simulator: HTTPS server, routing, auth, fields, filters, paging, jobs,
fault injection and spec validation (HACKING.md "Simulators"; ../shared/reference/ontap-rest.md).

The object handlers live in ontap_nas.py (cluster, SVMs, aggregates, volumes, snapshots, files,
file clone) and ontap_san.py (namespaces, subsystems, maps, LIFs, consistency groups); ontap_sim.py
assembles them into `OntapSim`.  This module knows nothing about storage objects: it turns HTTP
into `Request` objects, calls the handler registered for the spec template the path matches, and
turns the handler's answer (a dict, an `OntapError` or a `Pending` job) back into HTTP, the way
ONTAP 9.16.1 does.

Everything that changes simulator state runs under one re-entrant lock (`self.lock`); waiting
(latency faults, inline jobs) happens outside it so slow requests never stall the others.
"""

import base64
import datetime
import errno
import fcntl
import http.server
import json
import os
import re
import shutil
import socket
import sys
import threading
import time
import urllib.parse
import uuid as uuidlib

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import specs  # noqa: E402
import tlsserver  # noqa: E402

API = "/api"
JOB_RETENTION = 300.0  # seconds a finished job stays readable (§1.8)
GLOBAL_QUERY = frozenset(["fields", "max_records", "return_records", "return_timeout", "order_by"])

# Query parameters the 9.16.1 spec declares that older releases do not know, with the release
# that introduced them.  The REST reference of 9.13.1/9.14.1 lists `force` of DELETE
# /storage/volumes/{uuid} as "Introduced in: 9.12" (reference/ontap-rest.md §2.4, §3
# "volume DELETE force"); before that ONTAP answers it as any unknown argument: 400, code
# 262179 "Unexpected argument" (the spec's generic error table).
VERSIONED_QUERY = {("DELETE", "/storage/volumes/{uuid}", "force"): (9, 12, 0)}

# HTTP status for an ONTAP error code (§1.9 and the tables of §2).  Only needed where the same
# failure can come back synchronously (an inline job) or as a failed job; handlers that raise
# OntapError directly give the status themselves.
_CODE_STATUS = {
    "1": 409, "4": 404, "8": 409, "917526": 409, "525059": 409, "72090025": 409,
    "72089705": 409, "72089790": 409, "53411852": 409, "53411860": 409, "53411921": 409,
    "6488118": 409, "524615": 409, "917536": 409, "1638543": 409, "72089796": 409,
    "6684674": 404, "917864": 404, "1638600": 404, "524601": 404, "918235": 404,
    "72090006": 404, "72090001": 404, "53411842": 404, "53411843": 404, "72090019": 404,
}


class OntapError(Exception):
    """An ONTAP error answer: {"error": {"message", "code" (a string), "target"}}."""

    def __init__(self, status, code, message, target=None):
        super().__init__(message)
        self.status = int(status)
        self.code = str(code)
        self.message = message
        self.target = target

    def body(self):
        err = {"message": self.message, "code": self.code}
        if self.target:
            err["target"] = self.target
        return {"error": err}


def err(code, message, status=None, target=None):
    """Build an OntapError; the status defaults from the code (400 when unknown)."""
    return OntapError(status or _CODE_STATUS.get(str(code), 400), code, message, target)


def not_found(what="entry doesn't exist", target="uuid", code="4"):
    return OntapError(404, code, what, target)


# ---------------------------------------------------------------------------------- time

def iso(ts):
    """ISO-8601 with offset, whole seconds, local zone (ONTAP's `create_time` form)."""
    return datetime.datetime.fromtimestamp(int(ts)).astimezone().isoformat(timespec="seconds")


def new_uuid():
    return str(uuidlib.uuid4())


# ---------------------------------------------------------------------------------- files

_FICLONE = 0x40049409  # ioctl(FICLONE): share extents on btrfs/xfs, instant and space-free


def copy_file(src, dst):
    """Copy a file's bytes, keeping holes.  Namespace images are large sparse files (tens of
    GiB with a few KiB written), so a plain byte copy would fill the disk: try a reflink,
    else copy only the data extents (SEEK_DATA/SEEK_HOLE) and truncate to the full size."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        try:
            fcntl.ioctl(fo.fileno(), _FICLONE, fi.fileno())
            return
        except OSError:
            pass
        size = os.fstat(fi.fileno()).st_size
        fd = fi.fileno()
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:  # only a hole is left
                    break
                raise
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            os.lseek(fd, data, os.SEEK_SET)
            fo.seek(data)
            left = hole - data
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                fo.write(chunk)
                left -= len(chunk)
            pos = hole
        fo.truncate(size)
    shutil.copymode(src, dst)


def copy_tree(src, dst, exclude_top=(".snapshot",)):
    """Copy a directory tree with copy_file, leaving out `exclude_top` entries at its top
    (a volume's .snapshot directory is not part of the volume's own data)."""
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        if name in exclude_top:
            continue
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.islink(s):
            os.symlink(os.readlink(s), d)
        elif os.path.isdir(s):
            copy_tree(s, d, ())
        else:
            copy_file(s, d)
    shutil.copymode(src, dst)


def clear_tree(path, keep=(".snapshot",)):
    """Empty a directory except `keep` entries (used by restores, which rewind in place so
    the directory -- and every NFS "mount" symlink to it -- stays the same)."""
    for name in os.listdir(path):
        if name in keep:
            continue
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def tree_bytes(path):
    """Bytes allocated under path (st_blocks), as `space.used` would count them."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for n in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
            except OSError:
                pass
    return total


def write_json_atomic(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------- bodies

def expand_dotted(obj):
    """{"a.b": 1, "a": {"c": 2}} -> {"a": {"b": 1, "c": 2}}: ONTAP accepts flat dotted keys as
    well as nested objects (§1.10), handlers only see the nested form."""
    if isinstance(obj, list):
        return [expand_dotted(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, val in obj.items():
        val = expand_dotted(val)
        parts = key.split(".")
        cur = out
        for p in parts[:-1]:
            nxt = cur.get(p)
            if not isinstance(nxt, dict):
                nxt = cur[p] = {}
            cur = nxt
        last = parts[-1]
        if isinstance(cur.get(last), dict) and isinstance(val, dict):
            cur[last].update(val)
        else:
            cur[last] = val
    return out


def dig(obj, dotted, default=None):
    """obj["a"]["b"] for "a.b", or default."""
    cur = obj
    for p in dotted.split("."):
        if not isinstance(cur, dict) or p not in cur:
            return default
        cur = cur[p]
    return cur


def values_at(obj, parts):
    """Every leaf value at a dotted path, looking through arrays (for filters like
    services=data_nvme_tcp on an array field).  [] when the field is unset."""
    if not parts:
        if isinstance(obj, list):
            out = []
            for v in obj:
                out.extend(values_at(v, []))
            return out
        return [] if obj is None else [obj]
    if isinstance(obj, list):
        out = []
        for v in obj:
            out.extend(values_at(v, parts))
        return out
    if not isinstance(obj, dict) or parts[0] not in obj:
        return []
    return values_at(obj[parts[0]], parts[1:])


# ---------------------------------------------------------------------------------- fields

_ALL, _SOME, _NONE = 2, 1, 0


def _under(path, entry):
    """True when `path` is `entry` or inside it ("x.*" and "x" both cover x and x.y)."""
    if entry.endswith(".*"):
        entry = entry[:-2]
    return path == entry or path.startswith(entry + ".")


class FieldSelector:
    """ONTAP's `fields=` (§1.4): names (dotted), `*` (standard fields), `**` (standard and
    expensive), `!name` (leave out).  Expensive fields are those the spec's GET description
    lists; they appear only when named or with `**`.  `_links` always stays."""

    def __init__(self, fields, expensive, default):
        items = [f.strip() for f in (fields if fields is not None else default).split(",")]
        items = [f for f in items if f]
        self.dstar = "**" in items
        self.star = "*" in items
        self.include = [f for f in items if f not in ("*", "**") and not f.startswith("!")]
        self.exclude = [f[1:] for f in items if f.startswith("!")]
        self.expensive = list(expensive or ())

    def _decide(self, path):
        if any(_under(path, e) for e in self.exclude):
            return _NONE
        inner_excl = any(e.startswith(path + ".") for e in self.exclude)
        if self.dstar or any(_under(path, f) for f in self.include):
            return _SOME if inner_excl else _ALL
        if any(f.startswith(path + ".") for f in self.include):
            return _SOME
        if self.star:
            if any(_under(path, e) for e in self.expensive):
                return _NONE
            if inner_excl or any(e.startswith(path + ".") for e in self.expensive):
                return _SOME
            return _ALL
        return _NONE

    def apply(self, rec):
        return self._sel(rec, "")

    def _sel(self, obj, prefix):
        out = {}
        for key, val in obj.items():
            if key == "_links":
                out[key] = val
                continue
            path = prefix + key
            d = self._decide(path)
            if d == _ALL:
                out[key] = val
            elif d == _SOME:
                if isinstance(val, dict):
                    sub = self._sel(val, path + ".")
                    if sub:
                        out[key] = sub
                elif isinstance(val, list):
                    out[key] = [self._sel(v, path + ".") if isinstance(v, dict) else v
                                for v in val]
        return out


# ---------------------------------------------------------------------------------- filters

def _num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def _scalar_str(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _match_one(alt, value, ci):
    """One alternative of a filter expression against one value (None = unset)."""
    if alt == "null":
        return value is None
    if alt.startswith("!"):
        return not _match_one(alt[1:], value, ci)
    if value is None:
        return False  # comparisons and patterns exclude unset fields (§1.5)
    sval = _scalar_str(value)
    for op in ("<=", ">=", "<", ">"):
        if alt.startswith(op):
            rhs = alt[len(op):]
            a, b = _num(sval), _num(rhs)
            if a is None or b is None:
                a, b = sval, rhs
            return {"<=": a <= b, ">=": a >= b, "<": a < b, ">": a > b}[op]
    if ".." in alt and not alt.startswith('"'):
        lo, hi = alt.split("..", 1)
        a, lo_n, hi_n = _num(sval), _num(lo), _num(hi)
        if None not in (a, lo_n, hi_n):
            return lo_n <= a <= hi_n
        return lo <= sval <= hi
    if len(alt) >= 2 and alt[0] == '"' and alt[-1] == '"':
        lit = alt[1:-1]
        return sval.lower() == lit.lower() if ci else sval == lit
    if "*" in alt:
        rx = "^" + ".*".join(re.escape(p) for p in alt.split("*")) + "$"
        return re.match(rx, sval, re.I if ci else 0) is not None
    return sval.lower() == alt.lower() if ci else sval == alt


def filter_match(expr, values, ci=False):
    """ONTAP query filter (§1.5): `a|b` alternatives, `*` wildcards, `!` negation, `<`, `<=`,
    `>`, `>=`, `lo..hi`, `null`, "quoted" literals.  Multi-valued fields (arrays) match when
    any element does; a negation must hold for every element."""
    if expr.startswith("{") and expr.endswith("}"):
        expr = '"%s"' % expr[1:-1]
    alts = [expr] if (expr.startswith('"') and expr.endswith('"')) else expr.split("|")
    vals = values if values else [None]
    for alt in alts:
        if alt.startswith("!"):
            if all(_match_one(alt, v, ci) for v in vals):
                return True
        elif any(_match_one(alt, v, ci) for v in vals):
            return True
    return False


# Compared case-insensitively by ONTAP (§2.4: nas.path is unique per SVM and case-insensitive).
_CI_FIELDS = frozenset(["nas.path"])


# ---------------------------------------------------------------------------------- requests

class Request:
    """One parsed HTTP request as handlers see it."""

    def __init__(self, method, raw_path, full, query, body, headers, template, params):
        self.method = method
        self.raw_path = raw_path        # as sent, without the query string
        self.full = full                # as sent, with the query string
        self.query = query              # dict of str (last value wins)
        self.body = body                # parsed JSON with dotted keys expanded, or None
        self.headers = headers
        self.template = template        # spec template, e.g. /storage/volumes/{uuid}
        self.params = params            # path parameters, URL-decoded
        self.job_fault = None           # a job_fail / slow_job fault aimed at this request

    def q(self, key, default=None):
        return self.query.get(key, default)

    def qbool(self, key, default=False):
        v = self.query.get(key)
        if v is None:
            return default
        return v.strip().lower() in ("true", "1", "yes")


class Pending:
    """A handler's answer for an asynchronous operation: the job, and what to answer when it
    ends within return_timeout (ONTAP 9.16.1: 201 for POST, 200 for PATCH/DELETE)."""

    def __init__(self, job, status, location=None, records=None):
        self.job = job
        self.status = status
        self.location = location
        self.records = records  # callable giving the created records (return_records=true)


class Job:
    def __init__(self, description, work, duration, svm=None, fail=None):
        self.uuid = new_uuid()
        self.description = description
        self.work = work              # callable applying the operation; may raise OntapError
        self.duration = float(duration)
        self.svm = svm
        self.fail = fail              # (code, message) of a job_fail fault: no effect at all
        self.start = time.time()
        self.end = None
        self.state = "queued"
        self.code = 0
        self.message = ""
        self.error = None
        self.done = threading.Event()

    def href(self):
        return "%s/cluster/jobs/%s" % (API, self.uuid)

    def link(self):
        return {"job": {"uuid": self.uuid, "_links": {"self": {"href": self.href()}}}}

    def current_state(self, now):
        if self.end is not None:
            return self.state
        # A short queued phase, then running: pollers see the real ONTAP sequence.
        return "queued" if now - self.start < min(0.2 * self.duration, 1.0) else "running"

    def record(self, now):
        state = self.current_state(now)
        rec = {"uuid": self.uuid, "description": self.description, "state": state,
               "message": self.message if self.end is not None else
               ("queued" if state == "queued" else "running"),
               "code": self.code, "start_time": iso(self.start),
               "node": {"name": "cluster1-01"},
               "_links": {"self": {"href": self.href()}}}
        if self.end is not None:
            rec["end_time"] = iso(self.end)
        if self.svm:
            rec["svm"] = {"name": self.svm["name"], "uuid": self.svm["uuid"]}
        if self.error:
            rec["error"] = self.error
        return rec


class Fault:
    KINDS = ("status", "latency", "drop", "drop_after", "truncate", "malformed", "job_fail",
             "slow_job")

    def __init__(self, method, path_regex, kind, count, after, kw):
        if kind not in self.KINDS:
            raise ValueError("unknown fault kind %r (one of %s)" % (kind, ", ".join(self.KINDS)))
        self.method = method.upper() if method and method != "*" else None
        self.regex = re.compile(path_regex)
        # a test-only selector, no ONTAP behaviour: aim at one request of a parallel batch
        # (e.g. the file clone of one disk) by its raw request body
        body_regex = kw.pop("body_regex", None)
        self.body_regex = re.compile(body_regex) if body_regex else None
        self.kind = kind
        self.count = count       # how many matching requests it hits (None = all)
        self.after = after       # matching requests let through first
        self.kw = kw
        self.seen = 0
        self.hits = 0

    def take(self, method, path, full, body=b""):
        if self.method not in (None, method):
            return False
        if not (self.regex.search(path) or self.regex.search(full)):
            return False
        if self.body_regex and not self.body_regex.search(body.decode("utf-8", "replace")):
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.count is not None and self.hits >= self.count:
            return False
        self.hits += 1
        return True


# ---------------------------------------------------------------------------------- server

class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive with Content-Length on every answer, as libzapid-httpd (§4).
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY (socketserver.StreamRequestHandler): headers and body go out in two
    # writes; with Nagle the second waits for the client's delayed ACK (~40 ms a reply).
    disable_nagle_algorithm = True
    server_version = "libzapid-httpd"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed eventually

    def setup(self):
        super().setup()
        self.server.sim._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.sim._conns.discard(self.connection)

    def log_message(self, fmt, *args):
        pass

    def _any(self):
        self.server.sim._handle(self)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = _any


class OntapCore:
    """HTTP machinery and generic ONTAP semantics; handlers register with `route()`."""

    def __init__(self, root, certfile, keyfile, user="admin", password="s3cr3t-ontap",
                 spec_path=None):
        self.root = os.path.abspath(str(root))
        os.makedirs(self.root, exist_ok=True)
        self.certfile = certfile
        self.keyfile = keyfile
        self.user = user
        self.password = password
        self.spec = specs.OntapSpec(spec_path)
        self.lock = threading.RLock()
        self.routes = {}
        self.requests = []
        self.violations = []
        self.page_size = None       # records per page when the client asks for more (or none)
        self.version = (9, 16, 1)   # the release reported by GET /api/cluster (set_version)
        self.job_seconds = 0        # how long jobs stay queued/running
        self.job_retention = JOB_RETENTION
        self.jobs = {}
        self.faults = []
        self.port = None
        self._server = None
        self._thread = None
        self._conns = set()
        self._timers = set()
        self.route("GET", "/cluster/jobs", self._jobs_list)
        self.route("GET", "/cluster/jobs/{uuid}", self._job_get)

    # -- life cycle --------------------------------------------------------------------------

    def route(self, method, template, fn):
        if self.spec.operation(method, template) is None:
            raise ValueError("%s %s is not in the ONTAP spec subset" % (method, template))
        self.routes[(method.upper(), template)] = fn

    def start(self, port=0):
        return tlsserver.serve_tls(self, _Handler, port, "ontap-sim", 0.1)

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.lock:
            for t in list(self._timers):
                t.cancel()
            self._timers.clear()
        self._server = None

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    # -- faults ------------------------------------------------------------------------------

    def add_fault(self, method, path_regex, kind, count=1, after=0, **kw):
        """Make matching requests misbehave (HACKING.md): kind status (status=503, body),
        latency (seconds), drop (closed before it is carried out), drop_after (carried out,
        then closed without an answer), truncate, malformed, job_fail (code, message),
        slow_job (seconds).  `count` requests are hit (None = every one) after `after` got
        through.  body_regex= also requires the raw request body to match (one disk of a
        parallel batch)."""
        with self.lock:
            f = Fault(method, path_regex, kind, count, after, kw)
            self.faults.append(f)
            return f

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def _take_fault(self, method, path, full, body=b""):
        for f in self.faults:
            if f.take(method, path, full, body):
                return f
        return None

    # -- jobs --------------------------------------------------------------------------------

    def start_job(self, req, description, work, svm=None):
        """Create a job for `work` (a callable that applies the operation, raising OntapError
        to fail the job).  It stays queued/running for job_seconds (or a slow_job fault's
        seconds) and takes effect at its end; a job_fail fault fails it with no effect."""
        duration = float(self.job_seconds or 0)
        fail = None
        f = req.job_fault if req is not None else None
        if f is not None and f.kind == "slow_job":
            duration = float(f.kw.get("seconds", 5))
        elif f is not None and f.kind == "job_fail":
            fail = (str(f.kw.get("code", "65552")), f.kw.get("message", "simulated job failure"))
        job = Job(description, work, duration, svm=svm, fail=fail)
        self.jobs[job.uuid] = job
        if duration <= 0:
            self._finish_job(job)
        else:
            t = threading.Timer(duration, self._finish_job, args=(job,))
            t.daemon = True
            self._timers.add(t)
            t.start()
        return job

    def _finish_job(self, job):
        with self.lock:
            if job.end is not None:
                return
            if job.fail is not None:
                code, message = job.fail
                self._job_failed(job, code, message)
            else:
                try:
                    job.work()
                    job.state, job.message, job.code = "success", "success", 0
                except OntapError as e:
                    self._job_failed(job, e.code, e.message)
                except Exception as e:  # a simulator bug: fail loudly but keep serving
                    import traceback
                    traceback.print_exc()
                    self._job_failed(job, "65552", "internal error: %s" % e)
            job.end = time.time()
            job.done.set()
            self._timers = {t for t in self._timers if t.is_alive()}

    @staticmethod
    def _job_failed(job, code, message):
        job.state = "failure"
        job.code = int(code)
        job.message = message
        job.error = {"code": str(code), "message": message}

    def _live_job(self, uuid):
        job = self.jobs.get(uuid)
        if job is None:
            return None
        if job.end is not None and time.time() - job.end > self.job_retention:
            del self.jobs[uuid]  # "deleted after a default time of 300 seconds" (§1.8)
            return None
        return job

    def _job_get(self, req):
        job = self._live_job(req.params["uuid"])
        if job is None:
            raise not_found()
        return self.instance(req, job.record(time.time()))

    def _jobs_list(self, req):
        now = time.time()
        recs = [j.record(now) for j in list(self.jobs.values()) if self._live_job(j.uuid)]
        return self.collection(req, recs)

    # -- answers -----------------------------------------------------------------------------

    def instance(self, req, rec):
        """An instance GET: `*` unless fields= says otherwise."""
        sel = FieldSelector(req.q("fields"), self.spec.expensive_fields(req.template), "*")
        return 200, sel.apply(rec)

    def collection(self, req, records, default_fields="uuid,name"):
        """A collection GET: filters, order_by, return_records, fields and paging (§1.4-1.6).
        Pages are cut by `max_records` or `page_size`, whichever is smaller; the next page's
        href carries the original query plus `start.index`, and is meant to be GET verbatim."""
        op = self.spec.operation("get", req.template) or {}
        filters = set(op.get("x-filter-query-params") or [])
        recs = []
        for r in records:
            if all(filter_match(v, values_at(r, k.split(".")), k in _CI_FIELDS)
                   for k, v in req.query.items() if k in filters):
                recs.append(r)
        order = req.q("order_by")
        if order:
            for term in reversed([t.strip() for t in order.split(",") if t.strip()]):
                parts = term.split()
                key, desc = parts[0], len(parts) > 1 and parts[1].lower() == "desc"
                recs.sort(key=lambda r, k=key: (dig(r, k) is None, _scalar_str(dig(r, k, ""))),
                          reverse=desc)
        self_link = {"self": {"href": req.full}}
        if not req.qbool("return_records", True):
            return 200, {"num_records": len(recs), "_links": self_link}
        start = int(req.q("start.index", "0") or 0)
        size = None
        if req.q("max_records"):
            try:
                size = int(req.q("max_records"))
            except ValueError:
                raise err("262197", "invalid value for max_records", target="max_records")
            if size < 1:
                raise err("262197", "max_records must be at least 1", target="max_records")
        if self.page_size:
            size = min(size or self.page_size, self.page_size)
        page = recs[start:start + size] if size else recs[start:]
        sel = FieldSelector(req.q("fields"), self.spec.expensive_fields(req.template),
                            default_fields)
        out = {"records": [sel.apply(r) for r in page], "num_records": len(page),
               "_links": self_link}
        if size and start + size < len(recs):
            q = [(k, v) for k, v in req.query.items()
                 if not k.startswith("start.") and k != "max_records"]
            q += [("max_records", str(size)), ("start.index", str(start + size))]
            qs = urllib.parse.urlencode(q, safe="*,!|<>=/", quote_via=urllib.parse.quote)
            out["_links"] = dict(self_link, next={"href": req.raw_path + "?" + qs})
        return 200, out

    # -- HTTP --------------------------------------------------------------------------------

    def _send(self, h, status, body, headers=None, truncate=False, raw=None):
        data = raw if raw is not None else (b"" if body is None else
                                            json.dumps(body).encode("utf-8"))
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Cache-Control", "no-cache,no-store,must-revalidate")
        h.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        # truncate: announce more than is sent, then close -- the client must notice.
        h.send_header("Content-Length", str(len(data) + (64 if truncate else 0)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
        h.wfile.flush()
        if truncate:
            h.close_connection = True

    def _authorized(self, h):
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.user and pw == self.password

    def _handle(self, h):
        method = h.command.upper()
        split = urllib.parse.urlsplit(h.path)
        raw_path = split.path
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length > 0 else b""
        headers = {k: v for k, v in h.headers.items() if k.lower() != "authorization"}
        rec = {"method": method, "path": raw_path, "query": query, "body": None,
               "status": None, "headers": headers}
        with self.lock:
            self.requests.append(rec)
            fault = self._take_fault(method, raw_path, h.path, raw)
        if raw:
            try:
                rec["body"] = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                rec["body"] = raw.decode("utf-8", "replace")
        kind = fault.kind if fault else None
        if kind == "latency":
            time.sleep(float(fault.kw.get("seconds", 1)))
        elif kind == "drop":
            rec["status"] = "dropped"
            h.close_connection = True   # close without a single byte of answer
            return
        elif kind == "status":
            status = int(fault.kw.get("status", 503))
            body = fault.kw.get("body", {"error": {"message": "simulated failure",
                                                   "code": "65552"}})
            rec["status"] = status
            if isinstance(body, (bytes, str)):
                raw_body = body.encode() if isinstance(body, str) else body
                self._send(h, status, None, raw=raw_body)
            else:
                self._send(h, status, body)
            return
        elif kind == "malformed":
            rec["status"] = 200
            self._send(h, 200, None, raw=b'{"records": [{"uuid": "oops", "name": ')
            return
        try:
            status, body, extra = self._process(h, method, raw_path, query, raw, rec, fault)
        except Exception as e:  # a simulator bug: answer like ONTAP's unmapped 500
            import traceback
            traceback.print_exc()
            status, body, extra = 500, {"error": {"message": "internal error: %s" % e,
                                                  "code": "65562"}}, {}
        if kind == "drop_after":
            # The request was carried out, then the connection went before the answer.  Real
            # ONTAP does the same: a request it accepted runs to its end whatever happens to
            # the client's connection (the job model of ../shared/reference/ontap-rest.md
            # §1.8, and its client rule 6: "never blindly re-POST after a timeout: re-read
            # the object by name", because the first POST may well have been done).
            rec["status"] = "dropped"
            rec["acted"] = status
            h.close_connection = True
            return
        rec["status"] = status
        self._send(h, status, body, extra, truncate=(kind == "truncate"))

    def _process(self, h, method, raw_path, query, raw, rec, fault):
        """Auth, parsing, spec validation, dispatch; returns (status, body, headers)."""
        if not self._authorized(h):
            return 401, {"error": {"message": "not authorized for that command", "code": "6"}}, \
                {"WWW-Authenticate": 'Basic realm="ontap"'}
        body = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                return 400, OntapError(400, "262199", "invalid JSON: %s" % e).body(), {}
        problems = self.spec.validate(method, raw_path, query, body)
        if problems:
            with self.lock:
                self.violations.append({"method": method, "path": raw_path, "query": query,
                                        "body": body, "errors": problems})
            return 400, OntapError(400, "262179", "; ".join(problems)).body(), {}
        problems = self._version_problems(method, raw_path, query)
        if problems:
            with self.lock:
                self.violations.append({"method": method, "path": raw_path, "query": query,
                                        "body": body, "errors": problems})
            return 400, OntapError(400, "262179", "; ".join(problems)).body(), {}
        rt = query.get("return_timeout")
        if rt is not None:
            try:
                rt_val = int(rt)
            except ValueError:
                rt_val = -1
            if not 0 <= rt_val <= 120:
                return 400, OntapError(400, "262197", "Invalid value provided for field "
                                       "\"return_timeout\"; it must be between 0 and 120",
                                       target="return_timeout").body(), {}
        tpl, params = self.spec.match(raw_path)
        fn = self.routes.get((method, tpl))
        if fn is None:
            # Declared by the spec but not simulated: a gap in the simulator, made visible.
            with self.lock:
                self.violations.append({"method": method, "path": raw_path, "query": query,
                                        "body": body,
                                        "errors": ["%s %s is not simulated" % (method, tpl)]})
            return 405, OntapError(405, "3", "operation not supported").body(), {}
        if method in ("GET", "DELETE", "HEAD") and body not in (None, {}, ""):
            return 400, OntapError(400, "262198", "a request body is not allowed on %s"
                                   % method).body(), {}
        req = Request(method, raw_path, h.path, query,
                      expand_dotted(body) if isinstance(body, dict) else body,
                      rec["headers"], tpl, params)
        if fault is not None and fault.kind in ("job_fail", "slow_job"):
            req.job_fault = fault
        with self.lock:
            try:
                result = fn(req)
            except OntapError as e:
                return e.status, e.body(), {}
        if isinstance(result, Pending):
            return self._answer_job(req, result)
        if isinstance(result, dict):
            return 200, result, {}
        if len(result) == 2:
            return result[0], result[1], {}
        return result

    def _version_problems(self, method, raw_path, query):
        """Query parameters this cluster's release does not know yet (VERSIONED_QUERY)."""
        m = self.spec.match(raw_path)
        if m is None:
            return []
        out = []
        for key in query:
            since = VERSIONED_QUERY.get((method, m[0], key))
            if since is not None and tuple(self.version) < since:
                out.append("Unexpected argument \"%s\": not known before ONTAP %s (this "
                           "cluster runs %s)" % (key, ".".join(map(str, since)),
                                                 ".".join(map(str, self.version))))
        return out

    def _answer_job(self, req, p):
        """202 + job, or -- when return_timeout covers the job's duration -- wait for it and
        answer 201 (POST) / 200 (PATCH, DELETE) with the job link, or the job's error when it
        failed (ONTAP reports a failure that happens within return_timeout synchronously).
        A job_fail fault always answers 202 so that the client sees a failed *job*."""
        job = p.job
        headers = {"Location": p.location} if p.location else {}
        try:
            rt = int(req.q("return_timeout", "0") or 0)
        except ValueError:
            rt = 0
        if job.fail is not None or rt <= 0 or rt < job.duration:
            return 202, job.link(), headers
        job.done.wait(job.duration + 10)
        with self.lock:
            if job.state == "success":
                body = job.link()
                if p.records is not None and req.qbool("return_records", False):
                    recs = p.records()
                    body.update({"num_records": len(recs), "records": recs})
                return p.status, body, headers
            if job.state == "failure":
                e = err(job.error["code"], job.error["message"])
                return e.status, e.body(), {}
        return 202, job.link(), headers
