"""A local HTTP server standing in for an SMS gateway and chat bots: apprise's
json:// posts land here and are recorded.  It can be told to fail."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Captured:
    path: str
    body: dict


class CaptureServer:
    def __init__(self) -> None:
        self.messages: list[Captured] = []
        self.fail_next = 0  # answer this many posts with 500
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with capture._lock:
                    if capture.fail_next > 0:
                        capture.fail_next -= 1
                        self.send_response(500)
                        self.end_headers()
                        return
                    try:
                        body = json.loads(raw or b"{}")
                    except ValueError:
                        body = {"raw": raw.decode(errors="replace")}
                    capture.messages.append(Captured(self.path.split("?")[0], body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def sms_url(self) -> str:
        return f"json://{self.url}/sms?:to={{to}}"

    def chat_url(self, name: str) -> str:
        return f"json://{self.url}/chat/{name}"

    def start(self) -> "CaptureServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def at(self, path: str) -> list[Captured]:
        with self._lock:
            return [m for m in self.messages if m.path == path]

    def sms_to(self, phone: str) -> list[Captured]:
        with self._lock:
            return [m for m in self.messages if m.path == "/sms" and m.body.get("to") == phone]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Polls `predicate` until it returns something truthy, or fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
