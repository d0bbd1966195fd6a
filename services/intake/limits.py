"""Guards in front of every door: the body size limit (413) and the
per-partner rate limit (429 with Retry-After)."""

from __future__ import annotations

import json
import math

from shared.http import PROBLEM_JSON, Principal, Problem

from .ratelimit import TokenBuckets

_WITH_BODY = {"POST", "PUT", "PATCH"}


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` is answered 413 before any
    endpoint reads it, whether or not Content-Length was declared."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope, send) -> None:
        body = json.dumps({
            "type": "about:blank", "title": "Content Too Large", "status": 413,
            "detail": f"the body is larger than {self.max_bytes} bytes", "instance": scope["path"],
        }).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", PROBLEM_JSON.encode()),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def check_rate(limiter: TokenBuckets, principal: Principal) -> None:
    """Partners are limited per partner; admins and coordinators are not."""
    if principal.partner_id is None:
        return
    wait = limiter.take(principal.partner_id)
    if wait > 0:
        raise Problem(429, "Too Many Requests",
                      f"over {limiter.rate:g} requests per second for this partner; retry later",
                      headers={"Retry-After": str(max(1, math.ceil(wait)))})
