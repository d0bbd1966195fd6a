"""The guards every service puts in front of its doors, as plain ASGI (no
per-request cost of Starlette's BaseHTTPMiddleware): a body limit enforced
before the body is read, and the security headers of every answer."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_WITH_BODY = {"POST", "PUT", "PATCH"}
PROBLEM_JSON = b"application/problem+json"

# Pages are our own templates with our own scripts and styles, served from here.
CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_EVERY_ANSWER = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
_HTML_ANSWER = [(b"content-security-policy", CONTENT_SECURITY_POLICY), (b"x-frame-options", b"DENY")]
# FastAPI's /docs and /redoc pages load their own scripts; they are closed in production.
_DEVELOPER_PAGES = ("/docs", "/redoc")


class BodyLimit:
    """A body over `max_bytes` (or over `limits[path prefix]`) is answered 413
    before any endpoint reads it, whether or not Content-Length was declared."""

    def __init__(self, app: ASGIApp, max_bytes: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        return next((size for prefix, size in self.limits if path.startswith(prefix)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    body = json.dumps({
        "type": "about:blank", "title": "Content Too Large", "status": 413,
        "detail": f"the body is larger than {limit} bytes", "instance": scope["path"],
    }).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", PROBLEM_JSON), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *_EVERY_ANSWER]})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """nosniff and no-referrer on every answer; on HTML pages also a CSP that
    allows only this origin's scripts and forbids framing (clickjacking)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        developer_page = scope["path"].startswith(_DEVELOPER_PAGES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                extra = _EVERY_ANSWER + (_HTML_ANSWER if content_type.startswith(b"text/html")
                                         and not developer_page else [])
                message["headers"] = headers + [(n, v) for n, v in extra if n not in present]
            await send(message)

        await self.app(scope, receive, with_headers)
