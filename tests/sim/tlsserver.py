# SPDX-License-Identifier: GPL-2.0-or-later
"""The HTTPS server both simulators run on: one thread per connection, TLS handshake in
that thread, a real server's listen backlog."""

import http.server
import socket
import ssl
import sys
import threading


def serve_tls(sim, handler, port, name, poll_interval):
    """Serve handler for sim on 127.0.0.1:port (0 = any) with sim.certfile and sim.keyfile,
    in a daemon thread; the handler finds the simulator as self.server.sim. Sets
    sim._server, sim._thread and sim.port; returns sim."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sim.certfile, sim.keyfile)

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        # a real server's backlog: Python's default of 5 drops the SYNs of a client
        # opening 8 connections at once, which then wait 1 s for TCP to retry
        request_queue_size = 128
        allow_reuse_address = True

        def get_request(self):
            # The TLS handshake happens on the first read, in the connection's own
            # thread: a client that connects and stalls cannot block the accept loop.
            sock, addr = self.socket.accept()
            return ctx.wrap_socket(sock, server_side=True,
                                   do_handshake_on_connect=False), addr

        def handle_error(self, request, client_address):
            # Clients that reject our certificate or drop the connection are part of the
            # tests; do not spray tracebacks over pytest's output.
            exc = sys.exc_info()[1]
            if isinstance(exc, (ssl.SSLError, ConnectionError, socket.timeout, OSError)):
                return
            super().handle_error(request, client_address)

    sim._server = Server(("127.0.0.1", port), handler)
    sim._server.sim = sim
    sim.port = sim._server.server_address[1]
    sim._thread = threading.Thread(target=sim._server.serve_forever,
                                   kwargs={"poll_interval": poll_interval},
                                   name=name, daemon=True)
    sim._thread.start()
    return sim
