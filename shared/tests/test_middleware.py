"""The guards in front of every door, on a small app of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from shared.middleware import BodyLimit, SecurityHeaders


def _app(read: list[int]) -> FastAPI:
    app = FastAPI()

    @app.post("/json")
    async def json_door(request: Request) -> dict[str, int]:
        read.append(len(await request.body()))
        return {"size": read[-1]}

    @app.post("/import/csv")
    async def csv_door(request: Request) -> dict[str, int]:
        read.append(len(await request.body()))
        return {"size": read[-1]}

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>")

    app.add_middleware(BodyLimit, max_bytes=1024, limits={"/import/": 64 * 1024})
    app.add_middleware(SecurityHeaders)
    return app


async def test_a_body_over_the_limit_is_refused_before_the_door_reads_it() -> None:
    read: list[int] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(read)), base_url="http://t") as client:
        assert (await client.post("/json", content=b"x" * 1024)).json() == {"size": 1024}
        declared = await client.post("/json", content=b"x" * 1025)

        async def undeclared() -> AsyncIterator[bytes]:
            for _ in range(5):
                yield b"x" * 400  # chunked: no Content-Length to trust

        streamed = await client.post("/json", content=undeclared())
        assert (await client.post("/import/csv", content=b"x" * 60_000)).status_code == 200
    for refused in (declared, streamed):
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
        assert "1024 bytes" in refused.json()["detail"]
    assert read == [1024, 60_000]


async def test_pages_carry_the_security_headers() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app([])), base_url="http://t") as client:
        page = await client.get("/page")
        data = await client.post("/json", content=b"{}")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert data.headers["x-content-type-options"] == "nosniff" and "content-security-policy" not in data.headers
