"""Runs one service's app inside the test process, on real NATS and
PostgreSQL, and talks to it over ASGI (no sockets, no sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from .system import AUTH


@asynccontextmanager
async def serve_in_process(app: FastAPI, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """Starts the app's lifespan (migrations, bus, outbox relay, background
    loops), waits for the bus, and yields a client authenticated as admin."""
    async with app.router.lifespan_context(app):
        async with asyncio.timeout(20):
            await app.state.runtime.bus_started.wait()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                     headers=headers if headers is not None else AUTH) as client:
            yield client


def settings_for(settings_class, bus_env: dict[str, str], database_url: str, **overrides):
    """A service's settings pointed at this test's stream and database.  The
    stand-in servers (chat, webhooks) listen on 127.0.0.1, which an operator
    would have to allow: tests of that refusal pass outbound_allowed_hosts=[]."""
    from .system import ADMIN_TOKEN

    overrides.setdefault("outbound_allowed_hosts", ["127.0.0.1"])
    return settings_class(
        database_url=database_url,
        nats_url=bus_env["NATS_URL"],
        bus_prefix=bus_env["HEARTLINE_BUS_PREFIX"],
        stream_name=bus_env["HEARTLINE_STREAM"],
        admin_token=ADMIN_TOKEN,
        **overrides,
    )
