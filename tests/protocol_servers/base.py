"""HTTP plumbing the local protocol servers share, so each provider module holds only its protocol.

A server subclasses `Handler` for its `server_version` and answers in its owner's `_handle(handler, method)`.
"""

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer


class TrackingServer(ThreadingHTTPServer):
    """Threading server that knows its open connections, so stop() can end idle keep-alives."""

    daemon_threads = True

    def __init__(self, address, handler, owner):
        self.owner = owner
        self.connections = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self):
        """Shut down every open connection, waking handlers blocked on an idle keep-alive."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # A client that gave up mid-answer (its timeout, a held request) is expected here.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """Hands every request to the owning server's `_handle(handler, method)`."""

    protocol_version = "HTTP/1.1"
    sys_version = ""
    # Ends idle keep-alive connections of clients that never close them.
    timeout = 5

    def log_message(self, format, *args):
        # Tests read `requests`, not an access log on stderr.
        pass

    def do_GET(self):
        self.server.owner._handle(self, "GET")

    def do_POST(self):
        self.server.owner._handle(self, "POST")

    def do_PUT(self):
        self.server.owner._handle(self, "PUT")

    def do_DELETE(self):
        self.server.owner._handle(self, "DELETE")

    @property
    def chunked(self):
        """Whether the request body comes with chunked transfer-encoding."""
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def read_body(self):
        """The request body as bytes, chunked or by Content-Length."""
        if self.chunked:
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section ends with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, body, content_type, extra_headers=()):
        """Send `body` (bytes) with `status`; a `content_type` of None sends no Content-Type."""
        try:
            self.send_response(status)
            if content_type is not None:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra_headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (ConnectionError, TimeoutError):
            # The client stopped waiting; a real server would not care either.
            self.close_connection = True
