"""Intake in process on real PostgreSQL and NATS, and the partners a test needs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from tests.support.inprocess import serve_in_process, settings_for

TOKEN_SECRET = "intake-test-token-secret-0123456789"


@pytest.fixture
def start_intake(bus_env, make_database) -> Callable:
    """Starts intake with settings overrides; yields (admin client, app)."""

    @asynccontextmanager
    async def start(**overrides) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
        settings = settings_for(IntakeSettings, bus_env, await make_database("intake"),
                                token_secret=TOKEN_SECRET, **overrides)
        app = create_app(settings)
        async with serve_in_process(app) as client:
            yield client, app

    return start


@pytest.fixture
async def intake(start_intake) -> AsyncIterator[httpx.AsyncClient]:
    async with start_intake(webhook_poll_seconds=0.1, webhook_retry_base_seconds=0.1) as (client, _app):
        yield client


def client_as(admin: httpx.AsyncClient, token: str) -> httpx.AsyncClient:
    """Another client on the same app, with another bearer token."""
    return httpx.AsyncClient(transport=admin._transport, base_url=admin.base_url,
                             headers={"Authorization": f"Bearer {token}"})


async def new_partner(admin: httpx.AsyncClient, name: str = "Care app") -> tuple[str, httpx.AsyncClient]:
    """(partner id, a client using a fresh API key of that partner)."""
    created = await admin.post("/v1/partners", json={"name": name})
    assert created.status_code == 201, created.text
    partner_id = created.json()["id"]
    key = await admin.post(f"/v1/partners/{partner_id}/keys")
    assert key.status_code == 201, key.text
    return partner_id, client_as(admin, key.json()["key"])
