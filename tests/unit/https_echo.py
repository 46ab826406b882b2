#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Throw-away HTTPS echo server for tests/unit/test_http.c.

    https_echo.py --certdir DIR [--leaf server|wronghost|selfsigned|expired]

Creates (or reuses) a CA and leaf certificates in DIR (tests/sim/certs.py when it is
there, else the openssl CLI directly), listens on 127.0.0.1 on a random port, and prints
one line to stdout:

    port=<n> ca=<ca.pem> fp=<AA:BB:... of the served leaf> cafp=<AA:BB:... of the CA>

It exits when stdin reaches EOF (the test closes the pipe or dies). Paths:

    /redirect       302 to /elsewhere (which the client must never request)
    /big?size=N     200 with N bytes (default 1 MiB)
    /slow?ms=N      sleeps N ms, then echoes
    /status/<n>     answers with status n and the echo body
    /drop           closes the connection without answering
    /log            JSON list of the paths requested so far (not counting /log)
    anything else   200, JSON echo: method, path, headers, body, client_port
"""

import argparse
import hashlib
import http.server
import json
import os
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
LOCAL_SAN = "IP:127.0.0.1,DNS:localhost"


def _run(argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _fingerprint(pem):
    with open(pem) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, 64, 2))


def _make_certs_openssl(d):
    """Fallback when tests/sim/certs.py is not available: CA + server leaf."""
    os.makedirs(d, exist_ok=True)
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr = os.path.join(d, "server.key"), os.path.join(d, "server.csr")
    ext, pem = os.path.join(d, "server.ext"), os.path.join(d, "server.pem")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _run(["openssl", "req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca, "-days", "30",
         "-subj", "/CN=https_echo test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    _run(["openssl", "req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=localhost"])
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=%s\n" % LOCAL_SAN)
    _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
          "-set_serial", "2", "-days", "30", "-sha256", "-extfile", ext, "-out", pem])
    return {"ca": ca, "server": pem, "server_key": key}


def make_certs(d):
    sys.path.insert(0, os.path.join(HERE, "..", "sim"))
    try:
        import certs  # noqa: E402  (written alongside the simulators)
        return certs.make_certs(d)
    except ImportError:
        return _make_certs_openssl(d)


class State:
    lock = threading.Lock()
    paths = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY (socketserver.StreamRequestHandler): headers and body go out in two
    # writes; with Nagle the second waits for the client's delayed ACK (~40 ms a reply).
    disable_nagle_algorithm = True
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if url.path != "/log":
            with State.lock:
                State.paths.append(url.path)
        if url.path == "/log":
            with State.lock:
                data = json.dumps(State.paths).encode()
            return self._send(200, data)
        if url.path == "/drop":
            self.close_connection = True
            return None
        if url.path == "/redirect":
            return self._send(302, b"{}", extra=[("Location", "/elsewhere")])
        if url.path == "/big":
            size = int(query.get("size", 1 << 20))
            return self._send(200, b"x" * size, ctype="text/plain")
        if url.path == "/slow":
            time.sleep(int(query.get("ms", 1000)) / 1000.0)
        status = 200
        if url.path.startswith("/status/"):
            status = int(url.path.split("/")[2])
        echo = {
            "method": self.command,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "client_port": self.client_address[1],
        }
        return self._send(status, json.dumps(echo).encode())

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    ctx = None

    def finish_request(self, request, client_address):
        # The handshake runs in the worker thread, so a client that rejects our
        # certificate (or a slow one) never blocks the accept loop.
        try:
            request = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--certdir", required=True)
    ap.add_argument("--leaf", default="server")
    args = ap.parse_args()
    c = make_certs(args.certdir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(c[args.leaf], c[args.leaf + "_key"])
    srv = Server(("127.0.0.1", 0), Handler)
    srv.ctx = ctx
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("port=%d ca=%s fp=%s cafp=%s" % (srv.server_address[1], c["ca"],
                                           _fingerprint(c[args.leaf]), _fingerprint(c["ca"])),
          flush=True)
    # Run until the test closes our stdin (or dies).
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except KeyboardInterrupt:
        pass
    srv.shutdown()


if __name__ == "__main__":
    main()
