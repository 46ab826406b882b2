#!/usr/bin/python3
"""Proxmox VE API simulator for pve-ontap's tests (HACKING.md "Simulators").

A stateful HTTPS server on 127.0.0.1 (random port) speaking the subset of the PVE REST API that
pve-ontap uses, with PVE's behaviour as recorded in ../shared/reference/pve.md: token and ticket
authentication (+ CSRF), `{"data": ...}` envelopes, PVE's error shapes (message, errors map on
400, reason phrase = first line of the message, 501 for unknown methods), UPID tasks with
exitstatus, VM power state with hookscripts run like qemu-server runs them, guest-agent
fsfreeze, storage.cfg management with simulated NFS mounts, and storage content listings.

Every request is validated against ../shared/specs/pve-apischema-subset.json (pve_spec.py);
anything undeclared gets 400 (or 501 for an unknown path/method) and is recorded in
`.violations`, which the integration fixture asserts stays empty.

The files are the truth: VM configs live in <pve_etc>/nodes/<node>/qemu-server/<vmid>.conf
and storages in <pve_etc>/storage.cfg, re-read on every request, so what pve-ontap's local
reader, the fake `qm` and this API see is always the same.  Only run state (running, paused,
frozen) is in memory; it is mirrored to <root>/run/qemu-server/<vmid>.json for the fake qm.

Standalone (make demo):
  pve_sim.py --root T --pve-etc T/etc/pve --cert C --key K --port-file F [--seed seed.yaml]
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "fakes"))

import pve_spec  # noqa: E402
import pvefiles as pf  # noqa: E402
import tlsserver  # noqa: E402
from pvefiles import PveError  # noqa: E402

API_PREFIX = "/api2/json"
VERSIONS = {"pve9": {"version": "9.1.1", "release": "9.1", "repoid": "42e4eb3d0e9cf6d4"},
            "pve8": {"version": "8.4.1", "release": "8.4", "repoid": "2a5fa54a8503f96d"}}
TICKET_LIFETIME = 7200  # seconds (pve.md 2.3)

# Phase order of the hookscript around each action (pve.md 1.4).
_HOOKS = {
    "qmstart": (("pre-start", True), None, ("post-start", False)),
    "qmstop": (("pre-stop", False), None, ("post-stop", False)),
    "qmshutdown": (("pre-stop", False), None, ("post-stop", False)),
    "qmsuspend": (None, None, ("post-stop", False)),  # hibernate: no pre-stop
}


class _Fault:
    def __init__(self, method, path_regex, kind, count, after, kw):
        self.method = method.upper() if method else None
        self.regex = re.compile(path_regex)
        self.kind = kind
        self.count = count
        self.after = after
        self.kw = kw
        self.seen = 0

    def matches(self, method, rel, full):
        if self.method not in (None, "*", method):
            return False
        return bool(self.regex.search(rel) or self.regex.search(full))


class _Task:
    def __init__(self, upid, node, type_, id_, user, pid, pstart, starttime):
        self.upid = upid
        self.node = node
        self.type = type_
        self.id = id_
        self.user = user
        self.pid = pid
        self.pstart = pstart
        self.starttime = starttime
        self.status = "running"
        self.exitstatus = None
        self.log = []
        self.done = threading.Event()
        self.endtime = None


class PveSim:
    """In-process PVE API server.  See the module docstring and HACKING.md."""

    def __init__(self, root, pve_etc, certfile, keyfile, node="pve1", token=None,
                 users=None, exports_file=None, version="pve9", mnt_dir=None):
        self.root = os.path.abspath(root)
        self.pve_etc = os.path.abspath(pve_etc)
        self.certfile = certfile
        self.keyfile = keyfile
        self.node = node
        self.token = token or "root@pam!pveontap=%s" % uuid.uuid4()
        self.users = dict(users if users is not None else {"root@pam": "s3cr3t-pve"})
        self.exports_file = exports_file
        self.version = version
        self.mnt_dir = os.path.abspath(mnt_dir or os.path.join(self.root, "mnt", "pve"))
        # Tunables (public): seconds a task stays running, seconds a config writer waits for
        # the VM flock (PVE: 10), delay before answering a failed login (PVE: ~3),
        # environment added to hookscript runs, cap on one hookscript run.
        self.task_seconds = 0.05
        self.lock_timeout = 0.5
        self.login_fail_delay = 0.0
        self.hook_env = {}
        self.hook_timeout = 120.0
        # Guest agent: seconds after a start (vm_start) before qemu-ga in the booting guest
        # answers, and how long a call waits for the ping that fails meanwhile (qemu-server
        # QemuServer/Agent.pm qga_check_running: guest-ping with timeout => 3).
        self.agent_boot_seconds = 5.0
        self.agent_ping_timeout = 3.0
        self.requests = []
        self.violations = []
        self.port = None
        self._lock = threading.RLock()
        self._vms = {}          # vmid -> run state
        self._tasks = {}        # upid -> _Task
        self._tickets = {}      # ticket -> (user, csrf, issued epoch)
        self._faults = []
        self._task_faults = []  # [type, exitstatus, remaining]
        self._tokens = {}
        self._secret = secrets.token_bytes(32)
        self._pid = 0x1000
        self._boot = time.time()
        self._server = None
        self._thread = None
        self._stopping = threading.Event()
        self.add_token(self.token)
        self._ensure_tree()

    # ---------------------------------------------------------------- lifecycle

    def _ensure_tree(self):
        qs = os.path.join(self.pve_etc, "nodes", self.node, "qemu-server")
        os.makedirs(qs, exist_ok=True)
        link = os.path.join(self.pve_etc, "qemu-server")
        if not os.path.lexists(link):
            # pmxcfs shows the local node's directory as /etc/pve/qemu-server
            os.symlink(os.path.join("nodes", self.node, "qemu-server"), link)
        os.makedirs(os.path.join(self.root, "run", "qemu-server"), exist_ok=True)
        os.makedirs(self.mnt_dir, exist_ok=True)

    def start(self, port=0):
        return tlsserver.serve_tls(self, _Handler, port, "pve-sim", 0.05)

    def stop(self):
        self._stopping.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for t in list(self._tasks.values()):
            t.done.wait(timeout=5)

    @property
    def url(self):
        return "https://127.0.0.1:%d%s" % (self.port, API_PREFIX)

    # ---------------------------------------------------------------- seeding

    def add_token(self, full):
        """Accept another API token `user@realm!id=secret`."""
        tokenid, secret = full.rsplit("=", 1)
        with self._lock:
            self._tokens[tokenid] = secret

    def add_vm(self, vmid, conf_text, status="stopped", agent=True):
        """Write <vmid>.conf and set the run state.  `agent` says whether a guest agent
        answers inside the guest; when True and the config has no `agent:` key, `agent: 1`
        is added so fsfreeze works out of the box."""
        vmid = int(vmid)
        conf = pf.VmConfig.parse(conf_text)
        if agent and "agent" not in conf.main:
            conf.main["agent"] = "1"
        pf.write_vm_config(pf.conf_path(self.pve_etc, self.node, vmid), conf)
        with self._lock:
            st = self._state(vmid)
            st["agent"] = bool(agent)
            self._set_run(vmid, "running" if status in ("running", "paused") else "stopped",
                          "paused" if status == "paused" else None)

    def add_storage(self, storage, type, mount=True, **opts):
        """Add a section to storage.cfg (PVE's format) and, for nfs, "mount" it."""
        with self._lock:
            cfg = pf.read_storage_cfg(self.pve_etc)
            sect = {"type": type}
            known = set(pve_spec.load(self.version)["/storage"]["POST"]["parameters"]
                        ["_all_property_names"])
            for k, v in opts.items():
                # Python keywords cannot hold '-': create_subdirs= means create-subdirs
                if k not in known and k.replace("_", "-") in known:
                    k = k.replace("_", "-")
                sect[k] = self._cfg_value(v)
            if type in ("nfs", "cifs") and "path" not in sect:
                sect["path"] = os.path.join(self.mnt_dir, storage)
            cfg[storage] = sect
            pf.write_storage_cfg(self.pve_etc, cfg)
            if mount:
                self._activate_storage(storage, sect)

    def set_agent(self, vmid, running):
        """Make the guest agent (un)responsive."""
        with self._lock:
            self._state(int(vmid))["agent"] = bool(running)

    def hold_lock(self, vmid):
        """Take the VM's flock (T/lock-<vmid>) as a running hook's parent would."""
        fd = os.open(pf.flock_path(self.root, vmid), os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)

    def release_lock(self, vmid):
        try:
            os.unlink(pf.flock_path(self.root, vmid))
        except FileNotFoundError:
            pass

    def expire_tickets(self):
        """Age every issued ticket past its 2 h lifetime."""
        with self._lock:
            for t, (user, csrf, issued) in list(self._tickets.items()):
                self._tickets[t] = (user, csrf, issued - TICKET_LIFETIME - 1)

    # ---------------------------------------------------------------- inspection

    def vm(self, vmid):
        """dict(status, qmpstatus, frozen, suspended, paused, hibernated, lock, agent,
        config) -- config is the parsed live section (None if the VM has no config)."""
        vmid = int(vmid)
        with self._lock:
            try:
                conf = pf.load_vm_config(self.pve_etc, self.node, vmid).main
            except PveError:
                conf = None
            st = self._state(vmid)
            lock = conf.get("lock") if conf else None
            return {"status": st["status"], "qmpstatus": st["qmpstatus"],
                    "frozen": st["frozen"], "paused": st["qmpstatus"] == "paused",
                    "hibernated": lock == "suspended",
                    "suspended": st["qmpstatus"] == "paused" or lock == "suspended",
                    "lock": lock, "agent": st["agent"], "config": conf}

    def storages(self):
        return pf.read_storage_cfg(self.pve_etc)

    def tasks(self):
        """List of dict(upid, type, id, user, status, exitstatus, log)."""
        with self._lock:
            return [{"upid": t.upid, "type": t.type, "id": t.id, "user": t.user,
                     "status": t.status, "exitstatus": t.exitstatus,
                     "log": list(t.log)} for t in self._tasks.values()]

    def wait_tasks(self, timeout=30):
        """Block until every task has ended (tests that do not poll)."""
        for t in list(self._tasks.values()):
            t.done.wait(timeout)

    # ---------------------------------------------------------------- faults

    def add_fault(self, method, path_regex, kind, count=1, after=0, **kw):
        """kind: status (status=503, message=..., body=...), latency (seconds, when=
        'before'|'after': 'after' lets the action happen and only delays the answer),
        drop (close without answering), truncate (Content-Length larger than the body
        sent), malformed (200 with a broken JSON body), hang (do the action, then hold the
        connection `seconds` (default 30) and close it without answering -- a freeze that
        goes through in the guest while the client times out)."""
        if kind not in ("status", "latency", "drop", "truncate", "malformed", "hang"):
            raise ValueError("unknown fault kind %r" % kind)
        with self._lock:
            self._faults.append(_Fault(method, path_regex, kind, count, after, kw))

    def task_fail(self, type, exitstatus, count=1):
        """The next `count` tasks of `type` (qmstart, qmstop, qmshutdown, qmsuspend,
        qmpause, qmresume, qmconfig, imgdel) end with `exitstatus`.  A `WARNINGS: n`
        status still performs the action, anything else skips it."""
        with self._lock:
            self._task_faults.append([type, exitstatus, count])

    def clear_faults(self):
        with self._lock:
            self._faults.clear()
            self._task_faults.clear()

    def _take_fault(self, method, rel, full):
        with self._lock:
            for f in self._faults:
                if f.count <= 0 or not f.matches(method, rel, full):
                    continue
                f.seen += 1
                if f.seen <= f.after:
                    continue
                f.count -= 1
                return f
        return None

    # ---------------------------------------------------------------- run state

    def _state(self, vmid):
        st = self._vms.get(vmid)
        if st is None:
            st = {"status": "stopped", "qmpstatus": "stopped", "frozen": False,
                  "agent": True, "pid": None, "started": None, "agent_up_at": 0.0}
            self._vms[vmid] = st
        return st

    def _set_run(self, vmid, status, qmpstatus=None):
        st = self._state(vmid)
        st["status"] = status
        st["qmpstatus"] = qmpstatus or status
        if status == "running" and st["pid"] is None:
            self._pid += 1
            st["pid"] = self._pid
            st["started"] = time.time()
        if status == "stopped":
            st["pid"] = None
            st["started"] = None
            st["frozen"] = False
        path = pf.runtime_state_path(self.root, vmid)
        if status == "stopped":
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            pf.atomic_write(path, json.dumps({"status": st["status"],
                                              "qmpstatus": st["qmpstatus"],
                                              "pid": st["pid"]}) + "\n")

    def _vm_exists(self, vmid):
        return os.path.isfile(pf.conf_path(self.pve_etc, self.node, vmid))

    def _require_vm(self, vmid):
        return pf.load_vm_config(self.pve_etc, self.node, vmid)

    def _power_args(self, p, user):
        """The checks every power and config endpoint of qemu-server API2/Qemu.pm makes
        first (vm_start, vm_stop, vm_shutdown, vm_suspend, vm_resume, update_vm_async): the
        VM exists, and skiplock is root's only (raise_param_exc "Only root may use this
        option."). Returns (vmid, config, skiplock)."""
        vmid = int(p["vmid"])
        conf = self._require_vm(vmid)
        skiplock = pf._bool(p.get("skiplock", 0))
        if skiplock and user != "root@pam":
            raise PveError.param("skiplock", "Only root may use this option.")
        return vmid, conf, skiplock

    def _require_running(self, vmid):
        """PVE::QemuServer::check_running's callers: "VM <vmid> not running"."""
        if self._state(vmid)["status"] != "running":
            raise PveError("VM %d not running" % vmid)

    # ---------------------------------------------------------------- storage helpers

    @staticmethod
    def _cfg_value(v):
        if isinstance(v, bool):
            return "1" if v else "0"
        if isinstance(v, (list, tuple)):
            return ",".join(str(x) for x in v)
        return str(v)

    def _exports(self):
        if not self.exports_file:
            return {}
        try:
            with open(self.exports_file, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _activate_storage(self, sid, opts):
        """Mounting, simulated: <path> becomes a symlink to the directory the ONTAP simulator
        backs the export's junction with (T/exports.json), then PVE's content subdirectories
        are created (create-subdirs defaults to on)."""
        path = pf.storage_path(sid, opts, self.mnt_dir)
        if path is None:
            raise PveError("storage '%s' has no path" % sid)
        if opts["type"] == "nfs":
            export = opts.get("export", "")
            target = None
            exports = self._exports()
            for junction, d in exports.items():
                if junction.rstrip("/") == export.rstrip("/") and export:
                    target = d
            if os.path.islink(path) and target and \
                    os.path.realpath(path) == os.path.realpath(target):
                pass  # already mounted
            else:
                if target is None or not os.path.isdir(target):
                    raise PveError("mount error: mount.nfs: mounting %s:%s failed, reason "
                                   "given by server: No such file or directory"
                                   % (opts.get("server", "?"), export))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if os.path.islink(path):
                    os.unlink(path)
                elif os.path.isdir(path):
                    if os.listdir(path):
                        raise PveError("mount error: mount point '%s' is busy (the simulator "
                                       "cannot mount over a non-empty directory)" % path)
                    os.rmdir(path)
                os.symlink(os.path.abspath(target), path)
        else:
            os.makedirs(path, exist_ok=True)
        if opts.get("create-subdirs", "1") != "0":
            sub = {"images": "images", "snippets": "snippets", "iso": "template/iso",
                   "vztmpl": "template/cache", "backup": "dump", "import": "import"}
            for c in pf.storage_content(opts):
                if c in sub:
                    os.makedirs(os.path.join(path, sub[c]), exist_ok=True)
        return path

    def _storage(self, sid):
        cfg = pf.read_storage_cfg(self.pve_etc)
        if sid not in cfg:
            raise PveError("storage '%s' does not exist" % sid)
        return cfg[sid]

    def _storage_active(self, sid, opts):
        path = pf.storage_path(sid, opts, self.mnt_dir)
        return bool(path) and os.path.isdir(path)

    # ---------------------------------------------------------------- tasks

    def _new_task(self, type_, id_, user, work):
        """Starts a worker thread like PVE's fork_worker.  `work(task)` runs after
        task_seconds (outside the sim lock so hookscripts may call back into the API) and
        raises PveError to fail the task; it may append to task.log and return a warnings
        count."""
        with self._lock:
            self._pid += 1
            now = int(time.time())
            pid = self._pid
            pstart = int((time.monotonic() * 100)) & 0xFFFFFFFF
            upid = "UPID:%s:%08X:%08X:%08X:%s:%s:%s:" % (self.node, pid, pstart, now, type_,
                                                         id_, user)
            task = _Task(upid, self.node, type_, id_, user, pid, pstart, now)
            forced = None
            for tf in self._task_faults:
                if tf[0] == type_ and tf[2] > 0:
                    tf[2] -= 1
                    forced = tf[1]
                    break
            self._tasks[upid] = task

        def run():
            if self.task_seconds:
                time.sleep(self.task_seconds)
            status = "OK"
            warnings = 0
            try:
                if forced is None or forced.startswith("WARNINGS"):
                    warnings = work(task) or 0
                if forced is not None:
                    status = forced
                elif warnings:
                    status = "WARNINGS: %d" % warnings
            except PveError as e:
                status = e.message.split("\n")[0]
            except Exception as e:  # a simulator bug must still end the task visibly
                status = "simulator error: %r" % (e,)
            with self._lock:
                if status == "OK":
                    task.log.append("TASK OK")
                elif status.startswith("WARNINGS"):
                    task.log.append("TASK %s" % status)
                else:
                    task.log.append("TASK ERROR: %s" % status)
                task.exitstatus = status
                task.status = "stopped"
                task.endtime = int(time.time())
            task.done.set()

        threading.Thread(target=run, name="pve-task-%s" % type_, daemon=True).start()
        return upid

    def _run_hook(self, vmid, phase, task):
        """Runs the VM's hookscript like qemu-server's exec_hookscript: argv [path, vmid,
        phase], stdin at EOF, LC_ALL=C, no shell.  Raises PveError on failure (the caller
        decides whether that aborts); output goes to the task log."""
        try:
            conf = self._require_vm(vmid)
        except PveError:
            return
        volid = conf.main.get("hookscript")
        if not volid:
            return
        try:
            path = pf.check_hookscript(volid, pf.StoreCtx(self.pve_etc, self.mnt_dir,
                                                          self.version))
        except PveError as e:
            raise PveError("hookscript error for %d on %s: %s" % (vmid, phase, e.message))
        env = dict(os.environ)
        env.update(self.hook_env)
        env["LC_ALL"] = "C"
        env["LVM_SUPPRESS_FD_WARNINGS"] = "1"
        env.pop("PVE_MIGRATED_FROM", None)
        try:
            p = subprocess.run([path, str(vmid), phase], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                               timeout=self.hook_timeout)
            out, rc = p.stdout, p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = e.output or b"", "timeout"
        with self._lock:
            task.log.extend(out.decode("utf-8", "replace").splitlines())
        if rc != 0:
            detail = ("exit code %d" % rc) if isinstance(rc, int) and rc > 0 else \
                ("killed by signal %d" % -rc if isinstance(rc, int) else "got timeout")
            raise PveError("hookscript error for %d on %s: command '%s %d %s' failed: %s"
                           % (vmid, phase, path, vmid, phase, detail))

    def _power_task(self, type_, vmid, user, action, skiplock=False, lock_ok=(), hooks=None):
        """Common shape of start/stop/shutdown/suspend: take the flock, check the config
        lock, hooks before/after, `action()` in between (under the sim lock)."""
        pre, _, post = hooks or _HOOKS.get(type_, (None, None, None))

        def work(task):
            warnings = 0
            with pf.VmLock(self.root, vmid, self.lock_timeout):
                conf = self._require_vm(vmid)
                lock = conf.main.get("lock")
                if lock and not skiplock and lock not in lock_ok:
                    raise PveError("VM is locked (%s)" % lock)
                with self._lock:
                    action(check_only=True)
                if pre:
                    try:
                        self._run_hook(vmid, pre[0], task)
                    except PveError as e:
                        if pre[1]:
                            raise
                        task.log.append("WARN: " + e.message)
                        warnings += 1
                with self._lock:
                    action(check_only=False)
                if post:
                    try:
                        self._run_hook(vmid, post[0], task)
                    except PveError as e:
                        task.log.append("WARN: " + e.message)
                        warnings += 1
            return warnings

        return self._new_task(type_, str(vmid), user, work)

    # ---------------------------------------------------------------- request handling

    def _record_violation(self, method, path, params, errors):
        with self._lock:
            self.violations.append({"method": method, "path": path, "params": params,
                                    "errors": errors})

    def _authenticate(self, h, method, full, op):
        """-> (user, kind) or raises PveError(401).  Cookie beats token (pve.md 2.2)."""
        cookie = h.headers.get("Cookie", "")
        ticket = None
        for part in cookie.split(";"):
            k, _, v = part.strip().partition("=")
            if k == "PVEAuthCookie":
                ticket = urllib.parse.unquote(v)
        if ticket:
            user = self._verify_ticket(ticket)
            if user is None:
                raise PveError("invalid ticket", 401)
            if method != "GET":
                csrf = h.headers.get("CSRFPreventionToken")
                with self._lock:
                    ok = csrf is not None and hmac.compare_digest(
                        csrf, self._tickets[ticket][1])
                if not ok:
                    raise PveError("Permission denied - invalid csrf token", 401)
            return user, "ticket"
        auth = h.headers.get("Authorization", "")
        m = re.match(r"^PVEAPIToken[= ](.*)$", auth.strip())
        if m:
            value = urllib.parse.unquote(m.group(1))
            if "=" not in value:
                raise PveError("invalid token value!", 401)
            tokenid, secret = value.rsplit("=", 1)
            with self._lock:
                good = self._tokens.get(tokenid)
            if good is None or not hmac.compare_digest(good, secret):
                raise PveError("invalid token value!", 401)
            if op is not None and op.get("allowtoken") == 0:
                raise PveError("URI '%s' not available with API token, need proper ticket."
                               % full, 401)
            return tokenid, "token"
        raise PveError("No ticket", 401)

    def _verify_ticket(self, ticket):
        with self._lock:
            rec = self._tickets.get(ticket)
        if not rec:
            return None
        user, _, issued = rec
        if time.time() - issued > TICKET_LIFETIME:
            return None
        return user

    def _issue_ticket(self, user):
        now = int(time.time())
        plain = "PVE:%s:%08X" % (user, now)
        sig = base64.b64encode(hmac.new(self._secret, plain.encode(),
                                        hashlib.sha256).digest()).decode()
        ticket = "%s::%s" % (plain, sig)
        csrf_mac = base64.b64encode(hmac.new(self._secret, ("%08X:%s" % (now, user)).encode(),
                                             hashlib.sha256).digest()).decode().rstrip("=")
        csrf = "%08X:%s" % (now, csrf_mac)
        with self._lock:
            self._tickets[ticket] = (user, csrf, now)
        return ticket, csrf

    def handle(self, h):
        """Entry point for one HTTP request (called by _Handler)."""
        method = h.command
        url = urllib.parse.urlsplit(h.path)
        full = url.path
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query,
                                                              keep_blank_values=True).items()}
        raw = h.read_body()
        body = None
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        rel = full[len(API_PREFIX):] if full.startswith(API_PREFIX + "/") else full
        rel_dec = "/" + "/".join(pve_spec.split_path(rel))
        rec = {"method": method, "path": rel_dec, "url_path": full, "query": query,
               "body": None, "params": None, "status": None, "user": None, "auth": None}
        with self._lock:
            self.requests.append(rec)
        fault = self._take_fault(method, rel_dec, full)
        if fault and fault.kind == "drop":
            rec["status"] = "drop"
            h.drop()
            return
        if fault and fault.kind == "latency" and fault.kw.get("when", "before") == "before":
            time.sleep(float(fault.kw.get("seconds", 1.0)))
        if fault and fault.kind == "status":
            st = int(fault.kw.get("status", 503))
            msg = fault.kw.get("message", "simulated failure")
            rec["status"] = st
            body_obj = fault.kw.get("body", {"data": None, "message": msg + "\n"})
            h.respond(st, msg, body_obj)
            return
        try:
            if raw:
                if ctype == "application/json":
                    try:
                        body = json.loads(raw.decode("utf-8"))
                    except ValueError as e:
                        body = e
                    if not isinstance(body, dict):
                        # a client bug, so it counts as a violation like an undeclared key
                        err = "request body is not a JSON object: %s" % (body,)
                        self._record_violation(method, rel_dec, None, {"_body": err})
                        raise PveError(err, 400)
                else:
                    body = {k: v[-1] for k, v in urllib.parse.parse_qs(
                        raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
            rec["body"] = body
            params = dict(query)
            params.update(body or {})
            rec["params"] = params
            data = self._dispatch(h, method, full, rel, params, rec)
            status, msg, obj = 200, "OK", {"data": data}
        except PveError as e:
            status = e.status
            msg = e.message.split("\n")[0]
            obj = {"data": None, "message": e.message.rstrip("\n") + "\n"}
            if e.errors:
                obj["errors"] = {k: v.rstrip("\n") + "\n" for k, v in e.errors.items()}
        rec["status"] = status
        if fault and fault.kind == "latency" and fault.kw.get("when") == "after":
            time.sleep(float(fault.kw.get("seconds", 1.0)))
        if fault and fault.kind == "hang":
            end = time.monotonic() + float(fault.kw.get("seconds", 30))
            while time.monotonic() < end and not self._stopping.is_set():
                time.sleep(0.05)
            rec["status"] = "hang"
            h.drop()
            return
        if fault and fault.kind == "truncate":
            h.respond(status, msg, obj, truncate=True)
            return
        if fault and fault.kind == "malformed":
            h.respond(200, "OK", None, raw_body=b'{"data": {"status": "runn')
            return
        h.respond(status, msg, obj)

    def _dispatch(self, h, method, full, rel, params, rec):
        if not (full == API_PREFIX or full.startswith(API_PREFIX + "/")):
            self._record_violation(method, full, params, {"_": "not under %s" % API_PREFIX})
            raise PveError("Method '%s %s' not implemented" % (method, full), 501)
        status, errors = pve_spec.check(method, rel, params, self.version)
        if status == 501:
            self._record_violation(method, rel, params, errors)
            raise PveError("Method '%s %s' not implemented" % (method, full), 501)
        op = pve_spec.operation(method, rel, self.version)
        tmpl, pathvals = pve_spec.match_path(rel, self.version)
        if tmpl == "/access/ticket":
            user, kind = None, None
        else:
            user, kind = self._authenticate(h, method, full, op)
        rec["user"], rec["auth"] = user, kind
        if status == 400:
            self._record_violation(method, rel, params, errors)
            raise PveError("Parameter verification failed.", 400, errors)
        p = dict(params)
        p.update(pathvals)
        if "node" in pathvals and pathvals["node"] != self.node:
            raise PveError("hostname lookup '%s' failed - failed to get address info for: "
                           "%s: Name or service not known" % (pathvals["node"],
                                                              pathvals["node"]))
        fn = _ROUTES.get((method, tmpl))
        if fn is None:
            raise PveError("Method '%s %s' not implemented" % (method, full), 501)
        return fn(self, p, user or "")

    # ---------------------------------------------------------------- endpoints

    def _ep_ticket(self, p, _user):
        username = p["username"]
        if "@" not in username and p.get("realm"):
            username = "%s@%s" % (username, p["realm"])
        password = p["password"]
        user = None
        if password.startswith("PVE:"):
            tu = self._verify_ticket(password)  # renewal: the old ticket as password
            if tu is not None and tu == username:
                user = tu
        elif username in self.users and hmac.compare_digest(self.users[username], password):
            user = username
        if user is None:
            if self.login_fail_delay:
                time.sleep(self.login_fail_delay)
            raise PveError("authentication failure", 401)
        ticket, csrf = self._issue_ticket(user)
        return {"username": user, "ticket": ticket, "CSRFPreventionToken": csrf}

    def _ep_version(self, p, user):
        return dict(VERSIONS[self.version])

    def _vm_ids(self):
        d = os.path.join(self.pve_etc, "nodes", self.node, "qemu-server")
        out = []
        for name in os.listdir(d):
            m = re.fullmatch(r"(\d+)\.conf", name)
            if m:
                out.append(int(m.group(1)))
        return sorted(out)

    def _vm_entry(self, vmid, full=False):
        conf = self._require_vm(vmid).main
        st = self._state(vmid)
        # maxdisk is the boot disk's size, which PVE takes from the first disk drive
        maxdisk = 0
        for k in ("scsi0", "virtio0", "sata0", "ide0"):
            if k in conf:
                maxdisk = pf.parse_size(parse_opts(conf[k]).get("size", "0")) or 0
                break
        mem = pf.parse_size(re.sub(r"^current=", "", conf.get("memory", "2048")).split(",")[0]
                            + "M") or 0
        e = {"vmid": vmid, "status": st["status"], "name": conf.get("name", "VM %d" % vmid),
             "cpus": int(conf.get("cores", "1")) * int(conf.get("sockets", "1")),
             "maxmem": mem, "maxdisk": maxdisk, "mem": 0, "disk": 0, "cpu": 0, "netin": 0,
             "netout": 0, "diskread": 0, "diskwrite": 0,
             "uptime": int(time.time() - st["started"]) if st["started"] else 0}
        if st["pid"]:
            e["pid"] = st["pid"]
        if conf.get("lock"):
            e["lock"] = conf["lock"]
        if conf.get("template") == "1":
            e["template"] = 1
        if conf.get("tags"):
            e["tags"] = conf["tags"]
        if full:
            e["qmpstatus"] = st["qmpstatus"]
        return e

    def _ep_resources(self, p, user):
        typ = p.get("type")
        out = []
        with self._lock:
            if typ in (None, "vm"):
                for vmid in self._vm_ids():
                    e = self._vm_entry(vmid)
                    e.update({"id": "qemu/%d" % vmid, "type": "qemu", "node": self.node,
                              "template": e.get("template", 0)})
                    e.pop("pid", None)
                    out.append(e)
            if typ in (None, "storage"):
                for sid, opts in pf.read_storage_cfg(self.pve_etc).items():
                    if not pf.storage_enabled(opts, self.node):
                        continue
                    total, used = self._df(sid, opts)
                    out.append({"id": "storage/%s/%s" % (self.node, sid), "type": "storage",
                                "node": self.node, "storage": sid,
                                "status": "available" if total else "unknown",
                                "content": ",".join(pf.storage_content(opts)),
                                "plugintype": opts["type"],
                                "shared": 1 if pf.storage_shared(opts) else 0,
                                "disk": used, "maxdisk": total})
            if typ in (None, "node"):
                out.append(self._node_entry(cluster=True))
        return out

    def _df(self, sid, opts):
        path = pf.storage_path(sid, opts, self.mnt_dir)
        if not path or not os.path.isdir(path):
            return 0, 0
        s = os.statvfs(path)
        return s.f_blocks * s.f_frsize, (s.f_blocks - s.f_bfree) * s.f_frsize

    def _fingerprint(self):
        with open(self.certfile, encoding="ascii") as f:
            pem = f.read()
        m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
        der = ssl.PEM_cert_to_DER_cert(m.group(0))
        d = hashlib.sha256(der).hexdigest().upper()
        return ":".join(d[i:i + 2] for i in range(0, 64, 2))

    def _node_entry(self, cluster=False):
        e = {"node": self.node, "status": "online", "type": "node",
             "id": "node/%s" % self.node, "level": "", "cpu": 0.02, "maxcpu": 8,
             "mem": 4 << 30, "maxmem": 32 << 30, "disk": 10 << 30, "maxdisk": 100 << 30,
             "uptime": int(time.time() - self._boot)}
        if not cluster:
            e["ssl_fingerprint"] = self._fingerprint()
        return e

    def _ep_nodes(self, p, user):
        return [self._node_entry()]

    def _ep_qemu_list(self, p, user):
        full = pf._bool(p.get("full", 0))
        with self._lock:
            return [self._vm_entry(v, full) for v in self._vm_ids()]

    def _typed(self, key, val, returns):
        """GET config answers integer/boolean keys as JSON numbers, like PVE."""
        props = (returns or {}).get("properties") or {}
        schema = props.get(key)
        if schema is None:
            m = re.match(r"^([a-z][a-z_\-]*?)(\d+)$", key)
            schema = props.get(m.group(1) + "[n]") if m else None
        if schema is None and key in _NUMERIC_CONFIG_KEYS:
            schema = {"type": "integer"}
        if schema and schema.get("type") in ("integer", "boolean") and \
                re.fullmatch(r"-?\d+", val):
            return int(val)
        if schema and schema.get("type") == "number" and re.fullmatch(r"-?\d+(\.\d+)?", val):
            return float(val) if "." in val else int(val)
        return val

    def _ep_config_get(self, p, user):
        vmid = int(p["vmid"])
        conf = self._require_vm(vmid)
        path = pf.conf_path(self.pve_etc, self.node, vmid)
        section = pf.config_view(conf, p.get("snapshot"), pf._bool(p.get("current", 0)))
        op = pve_spec.operation("GET", "/nodes/x/qemu/1/config", self.version)
        out = {k: self._typed(k, v, op.get("returns")) if k != "description" else v
               for k, v in section.items()}
        out["digest"] = pf.conf_digest(path)
        return out

    def _ep_config_put(self, p, user):
        vmid = int(p["vmid"])
        warnings = pf.update_vm_config(self.root, self.pve_etc, self.node, vmid, p,
                                       user=user, mnt_dir=self.mnt_dir, version=self.version,
                                       lock_timeout=self.lock_timeout)
        del warnings  # PUT has nowhere to report them; PVE prints them to the daemon log
        return None

    def _ep_config_post(self, p, user):
        vmid, _, _ = self._power_args(p, user)

        def work(task):
            warnings = pf.update_vm_config(self.root, self.pve_etc, self.node, vmid, p,
                                           user=user, mnt_dir=self.mnt_dir,
                                           version=self.version,
                                           lock_timeout=self.lock_timeout)
            with self._lock:
                task.log.extend("WARN: " + w for w in warnings)
            return len(warnings)

        upid = self._new_task("qmconfig", str(vmid), user, work)
        delay = p.get("background_delay")
        if delay:
            task = self._tasks[upid]
            if task.done.wait(float(delay)) and task.exitstatus == "OK":
                return None
        return upid

    def _ep_status_current(self, p, user):
        vmid = int(p["vmid"])
        conf = self._require_vm(vmid).main
        with self._lock:
            e = self._vm_entry(vmid)
            e["qmpstatus"] = self._state(vmid)["qmpstatus"]
            e["ha"] = {"managed": 0}
            if _agent_configured(conf):
                e["agent"] = 1
            e["running-machine"] = "pc-i440fx-9.2+pve1" if e["status"] == "running" else None
            if e["running-machine"] is None:
                del e["running-machine"]
            return e

    def _ep_start(self, p, user, task_type="qmstart"):
        vmid, conf, skiplock = self._power_args(p, user)
        del conf

        def action(check_only):
            st = self._state(vmid)
            if st["status"] == "running":
                raise PveError("VM %d already running" % vmid)
            if check_only:
                return
            c = self._require_vm(vmid)
            if c.main.get("lock") == "suspended":
                self._resume_hibernated(vmid, c)
            self._set_run(vmid, "running")
            # a fresh QEMU: the guest boots, qemu-ga is not up yet (pve.md Additions,
            # "Guest agent calls ping first"); a resumed hibernated guest restores its RAM,
            # but its agent channel too needs a moment (treated alike)
            self._state(vmid)["agent_up_at"] = time.time() + self.agent_boot_seconds

        # A hibernated VM (lock: suspended) is started through vm_start (pve.md 3), and
        # so is its resume: qemu-server API2/Qemu.pm vm_resume forks a 'qmresume' worker
        # that calls PVE::QemuServer::vm_start, which runs the pre-start hookscript under
        # the VM config lock (QemuServer.pm vm_start -> lock_config -> vm_start_nolock ->
        # exec_hookscript 'pre-start', then 'post-start').
        return self._power_task(task_type, vmid, user, action, skiplock,
                                lock_ok=("suspended",), hooks=_HOOKS["qmstart"])

    def _resume_hibernated(self, vmid, conf):
        vmstate = conf.main.pop("vmstate", None)
        conf.main.pop("lock", None)
        if vmstate:
            sc = pf.StoreCtx(self.pve_etc, self.mnt_dir, self.version)
            path = sc.path(vmstate)
            if path and os.path.isfile(path):
                os.unlink(path)
        pf.write_vm_config(pf.conf_path(self.pve_etc, self.node, vmid), conf)

    def _ep_stop(self, p, user):
        vmid, _, skiplock = self._power_args(p, user)

        def action(check_only):
            if not check_only:
                self._set_run(vmid, "stopped")

        return self._power_task("qmstop", vmid, user, action, skiplock)

    def _ep_shutdown(self, p, user):
        vmid, _, skiplock = self._power_args(p, user)

        def action(check_only):
            self._require_running(vmid)
            if not check_only:
                self._set_run(vmid, "stopped")

        return self._power_task("qmshutdown", vmid, user, action, skiplock)

    def _ep_suspend(self, p, user):
        vmid, _, skiplock = self._power_args(p, user)
        todisk = pf._bool(p.get("todisk", 0))
        if not todisk:
            def pause(task):
                with pf.VmLock(self.root, vmid, self.lock_timeout):
                    c = self._require_vm(vmid)
                    if c.main.get("lock") and not skiplock:
                        raise PveError("VM is locked (%s)" % c.main["lock"])
                    with self._lock:
                        self._require_running(vmid)
                        self._set_run(vmid, "running", "paused")
                return 0
            return self._new_task("qmpause", str(vmid), user, pause)

        statestorage = p.get("statestorage")

        def action(check_only):
            self._require_running(vmid)
            c = self._require_vm(vmid)
            sc = pf.StoreCtx(self.pve_etc, self.mnt_dir, self.version)
            sid = statestorage or c.main.get("vmstatestorage")
            if not sid:
                for cand, o in sc.storages.items():
                    if "images" in pf.storage_content(o) and pf.storage_enabled(o, self.node):
                        sid = cand
                        break
            if not sid or sid not in sc.storages:
                raise PveError("storage '%s' does not exist" % sid)
            if check_only:
                return
            name = "vm-%d-state-suspend-%s.raw" % (vmid, time.strftime("%Y-%m-%d"))
            volid = "%s:%d/%s" % (sid, vmid, name)
            path = sc.path(volid)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.truncate(1 << 20)
            c.main["lock"] = "suspended"
            c.main["vmstate"] = volid
            pf.write_vm_config(pf.conf_path(self.pve_etc, self.node, vmid), c)
            self._set_run(vmid, "stopped")

        return self._power_task("qmsuspend", vmid, user, action, skiplock)

    def _ep_resume(self, p, user):
        vmid, _, skiplock = self._power_args(p, user)
        c = self._require_vm(vmid)
        if c.main.get("lock") == "suspended" and self._state(vmid)["status"] == "stopped":
            # resuming a hibernated VM is a start: hooks fire (pve.md 1.4)
            return self._ep_start(p, user, task_type="qmresume")

        def work(task):
            with self._lock:
                self._require_running(vmid)
                self._set_run(vmid, "running", "running")
            return 0

        return self._new_task("qmresume", str(vmid), user, work)

    def _agent_check(self, vmid):
        """qemu-server QemuServer/Agent.pm assert_agent_available, called by every agent
        endpoint (API2/Qemu/Agent.pm register_command): the agent must be configured, the
        VM running, and a guest-ping (timeout 3 s) must answer, else "QEMU guest agent is
        not running".  Called under the sim lock; the failed ping's wait is spent with the
        lock released."""
        conf = self._require_vm(vmid).main
        st = self._state(vmid)
        if st["status"] != "running":
            raise PveError("VM %d is not running" % vmid)
        if not _agent_configured(conf):
            raise PveError("No QEMU guest agent configured")
        if not st["agent"] or st["qmpstatus"] == "paused" or \
                time.time() < st.get("agent_up_at", 0.0):
            self._lock.release()
            try:
                time.sleep(self.agent_ping_timeout)
            finally:
                self._lock.acquire()
            raise PveError("QEMU guest agent is not running")
        return st

    def _ep_freeze(self, p, user):
        vmid = int(p["vmid"])
        with self._lock:
            st = self._agent_check(vmid)
            if st["frozen"]:
                raise PveError("VM %d qmp command 'guest-fsfreeze-freeze' failed - Command "
                               "guest-fsfreeze-freeze has been disabled: the agent is in "
                               "frozen state" % vmid)
            st["frozen"] = True
            return {"result": 2}

    def _ep_thaw(self, p, user):
        vmid = int(p["vmid"])
        with self._lock:
            st = self._agent_check(vmid)
            n = 2 if st["frozen"] else 0
            st["frozen"] = False
            return {"result": n}

    def _ep_fsstatus(self, p, user):
        vmid = int(p["vmid"])
        with self._lock:
            st = self._agent_check(vmid)
            return {"result": "frozen" if st["frozen"] else "thawed"}

    def _ep_ping(self, p, user):
        with self._lock:
            self._agent_check(int(p["vmid"]))
            return {"result": {}}

    def _ep_unlink(self, p, user):
        vmid = int(p["vmid"])
        ids = [x for x in re.split(r"[,;\s]+", p["idlist"]) if x]
        force = pf._bool(p.get("force", 0))
        params = {"delete": ",".join(ids)}
        if force:
            # force: detached volumes are destroyed instead of becoming unusedN
            conf = self._require_vm(vmid)
            sc = pf.StoreCtx(self.pve_etc, self.mnt_dir, self.version)
            for k in ids:
                v = conf.main.get(k)
                if v and pf.is_drive_key(k):
                    f, o = pf.parse_drive(v)
                    if not pf.drive_is_cdrom(f, o) and sc.path(f) and os.path.isfile(
                            sc.path(f)):
                        os.unlink(sc.path(f))
        pf.update_vm_config(self.root, self.pve_etc, self.node, vmid, params, user=user,
                            mnt_dir=self.mnt_dir, version=self.version,
                            lock_timeout=self.lock_timeout)
        if force:  # entries that pointed at destroyed volumes go too
            conf = self._require_vm(vmid)
            sc = pf.StoreCtx(self.pve_etc, self.mnt_dir, self.version)
            drop = [k for k, v in conf.main.items() if pf.is_unused_key(k)
                    and sc.path(v) and not os.path.exists(sc.path(v))]
            for k in drop:
                del conf.main[k]
            pf.write_vm_config(pf.conf_path(self.pve_etc, self.node, vmid), conf)
        return None

    # migration -------------------------------------------------------------------------

    def _migrate_volume_error(self, sc, volid, attr, target):
        """One volume of qemu-server QemuMigrate.pm scan_local_volumes' $test_volid: the
        reason it cannot be migrated to `target`, or None."""
        if volid.startswith("/"):
            # "if ($volid =~ m|^/|) { return if $attr->{shared}; ... die "local file/device" }"
            return None if attr.get("shared") else "local file/device"
        if volid in ("none", "cdrom"):
            return "can't migrate local cdrom drive" if volid == "cdrom" else None
        pv = pf.parse_volid(volid)
        if not pv or pv[0] not in sc.storages:
            return "storage '%s' does not exist" % (pv[0] if pv else volid)
        opts = sc.storages[pv[0]]
        # PVE::Storage::storage_check_enabled for this node, then for the target
        # (target_storage_check_available): a storage limited by `nodes` stays behind
        if not pf.storage_enabled(opts, self.node):
            return "storage '%s' is not available on node '%s'" % (pv[0], self.node)
        if not pf.storage_enabled(opts, target):
            return "storage '%s' is not available on node '%s'" % (pv[0], target)
        if pf.storage_shared(opts):
            return None
        return "local disk on non-shared storage '%s' (not simulated)" % pv[0]

    @staticmethod
    def _migrate_volids(conf):
        """qemu-server foreach_volid: every drive and unusedN of the config and of its
        snapshots, with the drive's `shared` flag."""
        out = {}
        for section in [conf.main] + list(conf.snapshots.values()):
            for k, v in section.items():
                if not (pf.is_drive_key(k) or pf.is_unused_key(k)):
                    continue
                file, dopts = pf.parse_drive(v)
                if file:
                    a = out.setdefault(file, {})
                    a["shared"] = a.get("shared") or pf._bool(dopts.get("shared", 0))
        return out

    def _ep_migrate(self, p, user):
        """POST /nodes/{node}/qemu/{vmid}/migrate (qemu-server API2/Qemu.pm migrate_vm, then
        QemuMigrate.pm in a 'qmigrate' task): refuses any drive path starting with '/'
        without shared=1 ("can't migrate local disk '<path>': local file/device", task
        error "can't migrate VM - check log"); on success the config moves to
        nodes/<target>/qemu-server (move_config_to_node)."""
        vmid = int(p["vmid"])
        target = p["target"]
        self._require_vm(vmid)
        if target == self.node:
            raise PveError.param("target", "target is local node.")
        # PVE::Cluster::check_node_exists: pmxcfs has nodes/<name>/ for each member
        if not os.path.isdir(os.path.join(self.pve_etc, "nodes", target)):
            raise PveError("no such cluster node '%s'" % target)
        with self._lock:
            running = self._state(vmid)["status"] == "running"
        if running and not pf._bool(p.get("online", 0)):
            raise PveError("can't migrate running VM without --online")

        def work(task):
            with pf.VmLock(self.root, vmid, self.lock_timeout):
                conf = self._require_vm(vmid)
                if conf.main.get("lock"):
                    raise PveError("VM is locked (%s)" % conf.main["lock"])
                sc = pf.StoreCtx(self.pve_etc, self.mnt_dir, self.version)
                errors = {}
                for volid, attr in sorted(self._migrate_volids(conf).items()):
                    err = self._migrate_volume_error(sc, volid, attr, target)
                    if err:
                        errors[volid] = err
                with self._lock:
                    for volid, err in sorted(errors.items()):
                        task.log.append("can't migrate local disk '%s': %s" % (volid, err))
                if errors:
                    raise PveError("can't migrate VM - check log")
                dst = os.path.join(self.pve_etc, "nodes", target, "qemu-server")
                os.makedirs(dst, exist_ok=True)
                os.rename(pf.conf_path(self.pve_etc, self.node, vmid),
                          os.path.join(dst, "%d.conf" % vmid))
                with self._lock:
                    if running:
                        self._set_run(vmid, "stopped")
                    task.log.append("migration finished successfully")
            return 0

        return self._new_task("qmigrate", str(vmid), user, work)

    # storage configuration -------------------------------------------------------------

    def _storage_out(self, sid, opts, cfg_text):
        out = {"storage": sid}
        for k, v in opts.items():
            out[k] = int(v) if k in pf.STORAGE_BOOL_OPTS and v in ("0", "1") else v
        if pf.storage_shared(opts) and opts["type"] in ("nfs", "cifs"):
            out["shared"] = 1
        out["digest"] = hashlib.sha1(cfg_text.encode()).hexdigest()
        return out

    def _cfg_text(self):
        try:
            with open(os.path.join(self.pve_etc, "storage.cfg"), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def _ep_storage_list(self, p, user):
        with self._lock:
            text = self._cfg_text()
            cfg = pf.parse_storage_cfg(text)
            return [self._storage_out(s, o, text) for s, o in cfg.items()
                    if not p.get("type") or o["type"] == p["type"]]

    def _ep_storage_create(self, p, user):
        sid = p["storage"]
        typ = p["type"]
        with self._lock:
            cfg = pf.read_storage_cfg(self.pve_etc)
            if sid in cfg:
                raise PveError("create storage failed: storage ID '%s' already defined" % sid)
            sect = {"type": typ}
            if typ == "nfs":
                for req in ("server", "export"):
                    if not p.get(req):
                        raise PveError.param(req, "property is missing and it is not "
                                                  "optional")
            elif typ == "dir" and not p.get("path"):
                raise PveError.param("path", "property is missing and it is not optional")
            for k, v in p.items():
                if k in ("storage", "type", "digest", "node"):
                    continue
                sect[k] = self._cfg_value(v)
            if typ in ("nfs", "cifs") and "path" not in sect:
                sect["path"] = os.path.join(self.mnt_dir, sid)
            if "content" not in sect and typ in ("nfs", "dir"):
                sect["content"] = "images" if typ == "nfs" else "images,rootdir"
            cfg[sid] = sect
            pf.write_storage_cfg(self.pve_etc, cfg)
            # pve-storage API2/Storage/Config.pm create: "try to activate if enabled on local
            # node" (storage_check_enabled honours `disable` and `nodes`)
            if sect.get("disable") != "1" and pf.storage_enabled(sect, self.node):
                try:
                    self._activate_storage(sid, sect)
                except PveError:
                    # PVE rolls the section back when the new storage cannot be activated
                    cfg = pf.read_storage_cfg(self.pve_etc)
                    cfg.pop(sid, None)
                    pf.write_storage_cfg(self.pve_etc, cfg)
                    raise
            return {"storage": sid, "type": typ}

    def _ep_storage_get(self, p, user):
        with self._lock:
            text = self._cfg_text()
            cfg = pf.parse_storage_cfg(text)
            if p["storage"] not in cfg:
                raise PveError("storage '%s' does not exist" % p["storage"])
            return self._storage_out(p["storage"], cfg[p["storage"]], text)

    _FIXED = {"nfs": ("server", "export", "path"), "cifs": ("server", "share", "path"),
              "dir": ("path",)}

    def _ep_storage_update(self, p, user):
        sid = p["storage"]
        with self._lock:
            text = self._cfg_text()
            cfg = pf.parse_storage_cfg(text)
            if sid not in cfg:
                raise PveError("storage '%s' does not exist" % sid)
            if p.get("digest") and p["digest"] != hashlib.sha1(text.encode()).hexdigest():
                raise PveError("detected modified configuration - file changed by other "
                               "user? Try again.")
            sect = cfg[sid]
            for k in p:
                if k in self._FIXED.get(sect["type"], ()):
                    raise PveError.param(k, "can't change value of fixed parameter '%s'" % k)
            for k in [x for x in re.split(r"[,;\s]+", p.get("delete", "")) if x]:
                sect.pop(k, None)
            for k, v in p.items():
                if k in ("storage", "delete", "digest", "node"):
                    continue
                sect[k] = self._cfg_value(v)
            pf.write_storage_cfg(self.pve_etc, cfg)
            return {"storage": sid, "type": sect["type"]}

    def _ep_storage_delete(self, p, user):
        sid = p["storage"]
        with self._lock:
            cfg = pf.read_storage_cfg(self.pve_etc)
            if sid not in cfg:
                raise PveError("storage '%s' does not exist" % sid)
            del cfg[sid]
            # The "mount" (symlink) stays, as PVE leaves NFS mounts in place (pve.md 3).
            pf.write_storage_cfg(self.pve_etc, cfg)
        return None

    # storage content -------------------------------------------------------------------

    def _ep_content_list(self, p, user):
        sid = p["storage"]
        with self._lock:
            opts = self._storage(sid)
            if not pf.storage_enabled(opts, self.node):
                raise PveError("storage '%s' is disabled" % sid)
            base = self._activate_storage(sid, opts)
            content = pf.storage_content(opts)
        want = p.get("content")
        out = []
        if (want in (None, "images")) and "images" in content:
            for e in pf.list_images(sid, base, p.get("vmid"), self.version):
                e = dict(e)
                e.pop("path")
                e["content"] = "images"
                out.append(e)
        if want in (None, "snippets") and "snippets" in content and p.get("vmid") is None:
            d = os.path.join(base, "snippets")
            for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                fp = os.path.join(d, name)
                if os.path.isfile(fp) and not re.search(r"\s", name):
                    st = os.stat(fp)
                    out.append({"volid": "%s:snippets/%s" % (sid, name), "format": "snippet",
                                "size": st.st_size, "ctime": int(st.st_mtime),
                                "content": "snippets"})
        return out

    def _volume(self, p):
        sid = p["storage"]
        opts = self._storage(sid)
        vol = p["volume"]
        volid = vol if vol.startswith(sid + ":") else "%s:%s" % (sid, vol)
        sc = pf.StoreCtx(self.pve_etc, self.mnt_dir, self.version)
        path = sc.path(volid)
        if path is None:
            raise PveError("unable to parse volume ID '%s'" % volid)
        return sid, opts, volid, path

    def _ep_content_alloc(self, p, user):
        sid = p["storage"]
        with self._lock:
            opts = self._storage(sid)
            base = self._activate_storage(sid, opts)
            vmid = int(p["vmid"])
            name = p["filename"]
            fmt = p.get("format") or pf.parse_name_dir(name, self.version) or "raw"
            if pf.parse_name_dir(name, self.version) is None:
                raise PveError("illegal name '%s' - should be 'vm-%d-*'" % (name, vmid))
            if not name.startswith("vm-%d-" % vmid) and not name.startswith("base-%d-" % vmid):
                raise PveError("illegal name '%s' - should be 'vm-%d-*'" % (name, vmid))
            size_s = str(p["size"])
            size = pf.parse_size(size_s) if size_s[-1:].isalpha() else \
                (int(size_s) * 1024 if size_s.isdigit() else None)
            if not size:
                raise PveError.param("size", "unable to parse size '%s'" % size_s)
            path = os.path.join(base, "images", str(vmid), name)
            if os.path.exists(path):
                raise PveError("disk image '%s' already exists" % path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.truncate(size)
            del fmt
            return "%s:%d/%s" % (sid, vmid, name)

    def _ep_content_get(self, p, user):
        with self._lock:
            sid, opts, volid, path = self._volume(p)
            if not os.path.isfile(path):
                raise PveError("volume '%s' does not exist" % volid)
            fmt = pf.parse_name_dir(os.path.basename(path), self.version) or "raw"
            info = pf.image_info(path, fmt) or (fmt, 0)
            st = os.stat(path)
            return {"path": path, "size": info[1], "used": st.st_blocks * 512,
                    "format": info[0]}

    def _ep_content_delete(self, p, user):
        with self._lock:
            sid, opts, volid, path = self._volume(p)

        def work(task):
            if not os.path.isfile(path):
                task.log.append("WARN: disk image '%s' does not exist" % path)
                return 1
            os.unlink(path)
            return 0

        upid = self._new_task("imgdel", volid, user, work)
        delay = p.get("delay")
        if delay and self._tasks[upid].done.wait(float(delay)):
            return None
        return upid

    def _ep_storage_status(self, p, user):
        sid = p["storage"]
        with self._lock:
            opts = self._storage(sid)
            total, used = self._df(sid, opts)
            active = 1 if self._storage_active(sid, opts) else 0
            return {"active": active, "enabled": 1 if pf.storage_enabled(opts) else 0,
                    "content": ",".join(pf.storage_content(opts)), "type": opts["type"],
                    "shared": 1 if pf.storage_shared(opts) else 0,
                    "total": total, "used": used, "avail": total - used}

    # tasks -----------------------------------------------------------------------------

    def _task(self, p):
        upid = p["upid"]
        if not re.fullmatch(r"UPID:[^:]+:[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8,9}:[0-9A-Fa-f]{8}:"
                            r"[^:]*:[^:]*:[^:]+:", upid):
            raise PveError("unable to parse worker upid '%s'" % upid)
        t = self._tasks.get(upid)
        if t is None:
            raise PveError("no such task")
        return t

    def _ep_task_status(self, p, user):
        with self._lock:
            t = self._task(p)
            out = {"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
                   "starttime": t.starttime, "type": t.type, "id": t.id, "user": t.user,
                   "status": t.status}
            if t.status == "stopped":
                out["exitstatus"] = t.exitstatus
            return out

    def _ep_task_log(self, p, user):
        with self._lock:
            t = self._task(p)
            start = int(p.get("start", 0))
            limit = int(p.get("limit", 50))
            lines = t.log if t.log else ["no content"]
            return [{"n": i + 1, "t": line}
                    for i, line in enumerate(lines) if i >= start][:limit]

    def _task_list(self, p):
        out = []
        with self._lock:
            for t in self._tasks.values():
                if p.get("vmid") and t.id != str(p["vmid"]):
                    continue
                if p.get("typefilter") and t.type != p["typefilter"]:
                    continue
                src = p.get("source", "archive")
                if src == "active" and t.status != "running":
                    continue
                if src == "archive" and t.status == "running":
                    continue
                if pf._bool(p.get("errors", 0)) and t.exitstatus in (None, "OK"):
                    continue
                e = {"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
                     "starttime": t.starttime, "type": t.type, "id": t.id, "user": t.user}
                if t.status == "stopped":
                    e["status"] = t.exitstatus
                    e["endtime"] = t.endtime
                out.append(e)
        out.sort(key=lambda e: -e["starttime"])
        return out[int(p.get("start", 0)):][:int(p.get("limit", 50))]

    def _ep_tasks(self, p, user):
        return self._task_list(p)

    def _ep_cluster_tasks(self, p, user):
        return self._task_list({"source": "all", "limit": 10000})


# Integer/boolean VM config keys whose schema the trimmed spec file does not carry
# (qemu-server confdesc); GET config returns them as JSON numbers.
_NUMERIC_CONFIG_KEYS = {"cores", "sockets", "vcpus", "cpuunits", "balloon", "shares",
                        "migrate_speed", "onboot", "acpi", "kvm", "tablet", "localtime",
                        "template", "protection", "numa", "reboot", "freeze", "autostart",
                        "keephugepages", "snaptime"}


def parse_opts(value):
    return pf.parse_drive(value)[1]


def _agent_configured(conf):
    v = conf.get("agent")
    if v is None:
        return False
    f, o = pf.parse_drive(v)
    enabled = o.get("enabled", f if f not in (None, "") else "0")
    return pf._bool(enabled)


_ROUTES = {
    ("POST", "/access/ticket"): PveSim._ep_ticket,
    ("GET", "/version"): PveSim._ep_version,
    ("GET", "/cluster/resources"): PveSim._ep_resources,
    ("GET", "/cluster/tasks"): PveSim._ep_cluster_tasks,
    ("GET", "/nodes"): PveSim._ep_nodes,
    ("GET", "/nodes/{node}/qemu"): PveSim._ep_qemu_list,
    ("GET", "/nodes/{node}/qemu/{vmid}/config"): PveSim._ep_config_get,
    ("PUT", "/nodes/{node}/qemu/{vmid}/config"): PveSim._ep_config_put,
    ("POST", "/nodes/{node}/qemu/{vmid}/config"): PveSim._ep_config_post,
    ("GET", "/nodes/{node}/qemu/{vmid}/status/current"): PveSim._ep_status_current,
    ("POST", "/nodes/{node}/qemu/{vmid}/status/start"): PveSim._ep_start,
    ("POST", "/nodes/{node}/qemu/{vmid}/status/stop"): PveSim._ep_stop,
    ("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"): PveSim._ep_shutdown,
    ("POST", "/nodes/{node}/qemu/{vmid}/status/suspend"): PveSim._ep_suspend,
    ("POST", "/nodes/{node}/qemu/{vmid}/status/resume"): PveSim._ep_resume,
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/fsfreeze-freeze"): PveSim._ep_freeze,
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/fsfreeze-thaw"): PveSim._ep_thaw,
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/fsfreeze-status"): PveSim._ep_fsstatus,
    ("POST", "/nodes/{node}/qemu/{vmid}/agent/ping"): PveSim._ep_ping,
    ("PUT", "/nodes/{node}/qemu/{vmid}/unlink"): PveSim._ep_unlink,
    ("POST", "/nodes/{node}/qemu/{vmid}/migrate"): PveSim._ep_migrate,
    ("GET", "/storage"): PveSim._ep_storage_list,
    ("POST", "/storage"): PveSim._ep_storage_create,
    ("GET", "/storage/{storage}"): PveSim._ep_storage_get,
    ("PUT", "/storage/{storage}"): PveSim._ep_storage_update,
    ("DELETE", "/storage/{storage}"): PveSim._ep_storage_delete,
    ("GET", "/nodes/{node}/storage/{storage}/content"): PveSim._ep_content_list,
    ("POST", "/nodes/{node}/storage/{storage}/content"): PveSim._ep_content_alloc,
    ("GET", "/nodes/{node}/storage/{storage}/content/{volume}"): PveSim._ep_content_get,
    ("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}"):
        PveSim._ep_content_delete,
    ("GET", "/nodes/{node}/storage/{storage}/status"): PveSim._ep_storage_status,
    ("GET", "/nodes/{node}/tasks/{upid}/status"): PveSim._ep_task_status,
    ("GET", "/nodes/{node}/tasks/{upid}/log"): PveSim._ep_task_log,
    ("GET", "/nodes/{node}/tasks"): PveSim._ep_tasks,
}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, like pveproxy
    # TCP_NODELAY (socketserver.StreamRequestHandler): headers and body go out in two
    # writes; with Nagle the second waits for the client's delayed ACK (~40 ms a reply).
    disable_nagle_algorithm = True
    server_version = "pve-api-daemon/3.0"
    sys_version = ""
    timeout = 60

    def log_message(self, fmt, *args):  # quiet; requests are recorded in sim.requests
        pass

    def version_string(self):
        return self.server_version

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > (16 << 20):
            raise ValueError("request body too large")
        return self.rfile.read(n) if n else b""

    def _any(self):
        try:
            self.server.sim.handle(self)
        except (ConnectionError, ssl.SSLError, socket.timeout):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _any

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def respond(self, status, reason, obj, truncate=False, raw_body=None):
        body = raw_body if raw_body is not None else json.dumps(obj).encode()
        reason = re.sub(r"[\r\n]+", " ", reason or "")[:200]
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Cache-Control", "max-age=0")
        self.send_header("Pragma", "no-cache")
        length = len(body) + (100 if truncate else 0)
        self.send_header("Content-Length", str(length))
        if status >= 400 or truncate:
            # pve-http-server disables keep-alive on error responses
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if truncate else body)
        self.wfile.flush()
        if truncate:
            self.drop()


# -------------------------------------------------------------------- standalone


def _load_seed(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError:
        import yaml
        return yaml.safe_load(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Proxmox VE API simulator (pve-ontap tests)")
    ap.add_argument("--root", required=True, help="test tree T")
    ap.add_argument("--pve-etc", required=True, help="directory standing in for /etc/pve")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the listening port here once ready")
    ap.add_argument("--node", default="pve1")
    ap.add_argument("--token", help="API token user@realm!id=secret")
    ap.add_argument("--exports-file", help="JSON {junction: dir} kept by the ONTAP sim")
    ap.add_argument("--version", default="pve9", choices=sorted(VERSIONS))
    ap.add_argument("--seed", help="JSON/YAML: {storages: {id: {type:..., ...}}, "
                                   "vms: {vmid: {conf: text, status:..., agent:...}}, "
                                   "users: {user: password}, task_seconds: n}")
    a = ap.parse_args(argv)
    seed = _load_seed(a.seed) if a.seed else {}
    sim = PveSim(a.root, a.pve_etc, a.cert, a.key, node=a.node,
                 token=a.token or seed.get("token"), users=seed.get("users"),
                 exports_file=a.exports_file or seed.get("exports_file"), version=a.version)
    if "task_seconds" in seed:
        sim.task_seconds = float(seed["task_seconds"])
    sim.hook_env.update(seed.get("hook_env") or {})
    for sid, opts in (seed.get("storages") or {}).items():
        opts = dict(opts)
        sim.add_storage(sid, opts.pop("type"), mount=opts.pop("mount", True), **opts)
    for vmid, v in (seed.get("vms") or {}).items():
        sim.add_vm(int(vmid), v.get("conf", ""), status=v.get("status", "stopped"),
                   agent=v.get("agent", True))
    sim.start(a.port)
    if a.port_file:
        pf.atomic_write(a.port_file, "%d\n" % sim.port, mode=0o644)
    print("pve-sim listening on https://127.0.0.1:%d (token %s)" % (
        sim.port, sim.token.split("=")[0] + "=***"), file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
