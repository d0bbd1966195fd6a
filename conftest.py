"""Fixtures every test shares: real NATS JetStream and real PostgreSQL, with
names (stream, subjects, databases) of its own for each test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import nats
import pytest

from tests.support.infra import Unavailable, find_nats, find_postgres, with_database


@pytest.fixture(scope="session")
def nats_url() -> str:
    try:
        url, container = find_nats()
    except Unavailable as exc:
        pytest.skip(str(exc))
    yield url
    if container is not None:
        container.stop()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    try:
        url, container = find_postgres()
    except Unavailable as exc:
        pytest.skip(str(exc))
    yield url
    if container is not None:
        container.stop()


def _plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def make_database(postgres_admin_url: str) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Creates empty PostgreSQL databases for this test; drops them after."""
    created: list[str] = []

    async def create(label: str) -> str:
        name = f"hl_{label}_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(_plain_dsn(postgres_admin_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        created.append(name)
        return with_database(postgres_admin_url, name)

    yield create
    conn = await asyncpg.connect(_plain_dsn(postgres_admin_url))
    try:
        for name in created:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def bus_env(nats_url: str) -> AsyncIterator[dict[str, str]]:
    """A stream and subject prefix of this test's own on the shared NATS."""
    tag = uuid.uuid4().hex[:10]
    env = {
        "NATS_URL": nats_url,
        "HEARTLINE_BUS_PREFIX": f"t{tag}.",
        "HEARTLINE_STREAM": f"T{tag.upper()}",
    }
    yield env
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for stream in (env["HEARTLINE_STREAM"], env["HEARTLINE_STREAM"] + "_DEADLETTER"):
            try:
                await js.delete_stream(stream)
            except Exception:
                pass
    finally:
        await nc.close()
