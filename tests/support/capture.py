"""A local HTTP server standing in for an SMS gateway and chat bots: apprise's
json:// posts land here and are recorded.  It can be told to fail."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from .httpserver import LocalHttpServer, Request


@dataclass
class Captured:
    path: str
    body: dict


class CaptureServer:
    def __init__(self) -> None:
        self.messages: list[Captured] = []
        self.fail_next = 0  # answer this many posts with 500
        self._lock = threading.Lock()
        self.http: LocalHttpServer | None = None

    def _answer(self, request: Request) -> None:
        raw = request.body()
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                request.reply(500)
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"raw": raw.decode(errors="replace")}
            self.messages.append(Captured(request.path.split("?")[0], body))
        request.reply(200)

    @property
    def url(self) -> str:
        return self.http.address

    def sms_url(self) -> str:
        return f"json://{self.url}/sms?:to={{to}}"

    def chat_url(self, name: str) -> str:
        return f"json://{self.url}/chat/{name}"

    def start(self) -> CaptureServer:
        self.http = LocalHttpServer(self._answer)
        return self

    def stop(self) -> None:
        self.http.stop()

    def at(self, path: str) -> list[Captured]:
        with self._lock:
            return [m for m in self.messages if m.path == path]

    def sms_to(self, phone: str) -> list[Captured]:
        with self._lock:
            return [m for m in self.messages if m.path == "/sms" and m.body.get("to") == phone]
