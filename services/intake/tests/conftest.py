"""Intake in process on real PostgreSQL and NATS, and what its tests share:
the partners a test needs, dispatch's status changes, a partner's callback."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest

from services.intake import handlers
from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.contracts import CommunityChangedV1, RequestStatusChangedV1
from tests.support.httpserver import LocalHttpServer, Request
from tests.support.inprocess import serve_in_process, settings_for
from tests.support.waiting import eventually

TOKEN_SECRET = "intake-test-token-secret-0123456789"
POW_BITS = 4  # the form's proof of work, made cheap for tests


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
    async with start_intake(webhook_poll_seconds=0.1, webhook_retry_base_seconds=0.1,
                            form_pow_bits=POW_BITS) as (client, _app):
        yield client


def community_event(code: str = "jianghan-01", lat: float = 30.59, lon: float = 114.30, name: str = "江汉一社区",
                    *, version: int = 1, parent: str | None = None, level: str = "community",
                    half_side: float = 0.02, status: str = "active") -> CommunityChangedV1:
    """Volunteers' event for a community whose boundary is a square around (lat, lon)."""
    ring = [[lon - half_side, lat - half_side], [lon + half_side, lat - half_side],
            [lon + half_side, lat + half_side], [lon - half_side, lat + half_side], [lon - half_side, lat - half_side]]
    return CommunityChangedV1(source="heartline/volunteers", correlationid=code, data=dict(
        code=code, version=version, level=level, parent=parent, name_zh=name, name_en=f"{code} (en)",
        timezone="Asia/Shanghai", boundary={"type": "Polygon", "coordinates": [ring]} if level == "community" else None,
        hotline=None, status=status, changed_at=datetime.now(UTC)))


async def add_community(client: httpx.AsyncClient, code: str = "jianghan-01", lat: float = 30.59,
                        lon: float = 114.30, name: str = "江汉一社区", **more) -> None:
    """Puts a community in the app's read model as volunteers' event would
    (the handler's own use case, on the app behind `client`)."""
    app = client._transport.app  # type: ignore[attr-defined]
    await handlers.community_changed(app.state.runtime, app.state.catalogue,
                                     community_event(code, lat, lon, name, **more))


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


def status_event(request_id: str, status: str, sequence: int, reason: str | None = None,
                 at: datetime | None = None, expected_by: datetime | None = None) -> RequestStatusChangedV1:
    """Dispatch's status change, as dispatch publishes it."""
    return RequestStatusChangedV1(
        source="heartline/dispatch", correlationid=request_id,
        data=dict(request_id=request_id, status=status, sequence=sequence, reason=reason,
                  changed_at=at or datetime.now(UTC), expected_by=expected_by),
    )


async def wait_for_status(client: httpx.AsyncClient, request_id: str, status: str, timeout: float = 15.0) -> dict:
    """The request's view once it shows `status`."""

    async def reached() -> dict | None:
        body = (await client.get(f"/v1/requests/{request_id}")).json()
        return body if body["status"] == status else None

    return await eventually(reached, what=f"request {request_id} to be {status}", timeout=timeout)


class Receiver:
    """A partner's callback endpoint; answers 500 to the first `fail_next` posts."""

    def __init__(self, fail_next: int = 0) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = fail_next
        self.lock = threading.Lock()
        self.http = LocalHttpServer(self._answer)
        self.url = f"{self.http.url}/hook"

    def _answer(self, request: Request) -> None:
        raw = request.body()
        with self.lock:
            failing = self.fail_next > 0
            self.fail_next -= failing
            if not failing:
                self.received.append(({k.lower(): v for k, v in request.headers.items()}, raw))
        request.reply(500 if failing else 204)

    def stop(self) -> None:
        self.http.stop()

    def payloads(self) -> list[dict]:
        with self.lock:
            return [json.loads(raw) for _, raw in self.received]
