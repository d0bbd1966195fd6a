"""A threaded HTTP server on a free local port, for tests and benchmarks that
need something at the other end of an HTTP call: an SMS gateway, a partner's
webhook, a routing provider.  Each stand-in says only how it answers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHttpServer:
    """Calls `answer(request)` for every GET and POST; `request` is the
    handler, with `body()` and `reply()` below for the common parts."""

    def __init__(self, answer: Callable[[Request], None], backlog: int = 5) -> None:
        class Server(ThreadingHTTPServer):
            request_queue_size = backlog
            daemon_threads = True

        class Handler(Request):
            def do_GET(self) -> None:
                answer(self)

            do_POST = do_GET

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Request(BaseHTTPRequestHandler):
    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status: int, raw: bytes = b"", content_type: str | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        if raw:
            self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if raw:
            self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass
