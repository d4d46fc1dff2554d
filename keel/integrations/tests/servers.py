"""Real HTTP servers on 127.0.0.1 standing in for providers' revoke endpoints."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Provider:
    """Answers every POST with ``status`` (and a Location header when given); records each request."""

    def __init__(self, status=200, location=None):
        self.status = status
        self.location = location
        self.requests = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                length = int(self.headers.get("Content-Length", 0))
                provider.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length).decode()}
                )
                self.send_response(provider.status)
                if provider.location:
                    self.send_header("Location", provider.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def netloc(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://{self.netloc}/oauth/revoke"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class DripServer:
    """Accepts the request, then answers one byte every ``interval`` seconds: each byte arrives well within a
    per-read timeout, so only a total deadline ends the call."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Padding: " + b"x" * 40 + b"\r\n\r\n"

    def __init__(self, interval=2.0):
        self.interval = interval
        self.stopped = threading.Event()
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def netloc(self):
        return f"127.0.0.1:{self.listener.getsockname()[1]}"

    @property
    def url(self):
        return f"http://{self.netloc}/revoke"

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn):
        with conn:
            conn.recv(65536)
            for byte in self.ANSWER:
                if self.stopped.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the client hung up: what a deadline does
                self.stopped.wait(self.interval)

    def close(self):
        self.stopped.set()
        self.listener.close()
