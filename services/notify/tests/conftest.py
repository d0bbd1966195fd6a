"""Notify in process on real NATS and PostgreSQL, with a local HTTP server as
SMS gateway, team chat bots and coordinators' channel, and a clock the test sets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest

from services.notify.app import create_app
from services.notify.replies import sign
from services.notify.settings import NotifySettings
from shared.clock import utcnow
from shared.contracts import (
    AssignmentOfferedV1,
    RequestReceivedV1,
    RequestStatusChangedV1,
    TeamChangedV1,
)
from tests.support.bus import TestBus
from tests.support.capture import CaptureServer
from tests.support.inprocess import serve_in_process, settings_for

INBOUND_SECRET = "test-inbound-secret-0123456789"
REQUESTER_PHONE = "+8613800138000"
LEADER_PHONE = "+8613900139000"
COMMUNITY = "wuhan-jianghan-01"


class Clock:
    """Real time unless a test pins it."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or utcnow()


@dataclass
class Notify:
    client: httpx.AsyncClient
    bus: TestBus
    capture: CaptureServer
    clock: Clock

    async def inbound_sms(self, sender: str, text: str, secret: str = INBOUND_SECRET, **extra) -> httpx.Response:
        body = json.dumps({"from": sender, "text": text, **extra}).encode()
        return await self.client.post("/v1/inbound/sms", content=body, headers={
            "content-type": "application/json", "X-Heartline-Signature": sign(secret, body)})

    async def inbound_chat(self, team_id: UUID, text: str) -> httpx.Response:
        body = json.dumps({"text": text}).encode()
        return await self.client.post(f"/v1/inbound/chat/{team_id}", content=body, headers={
            "content-type": "application/json", "X-Heartline-Signature": sign(INBOUND_SECRET, body)})

    async def deliveries(self, **params) -> list[dict]:
        response = await self.client.get("/v1/deliveries", params=params)
        assert response.status_code == 200, response.text
        return response.json()


def notify_settings(bus_env, db_url: str, capture: CaptureServer, **overrides) -> NotifySettings:
    values = dict(
        sms_url=capture.sms_url(),
        coordinator_urls={"*": [capture.chat_url("coordinators")],
                          COMMUNITY: [capture.chat_url("jianghan-coordinators")]},
        inbound_secret=INBOUND_SECRET,
        send_retry_base_seconds=0.05,
        max_attempts=3,
        send_timeout_seconds=2.0,
        rate_per_second={"sms": 200.0, "chat": 200.0},
    )
    values.update(overrides)
    return settings_for(NotifySettings, bus_env, db_url, **values)


@pytest.fixture
def capture():
    server = CaptureServer().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def notify(bus_env, make_database, capture, clock, request):
    overrides = getattr(request, "param", {}) or {}
    app = create_app(notify_settings(bus_env, await make_database("notify"), capture, **overrides), clock=clock)
    async with serve_in_process(app) as client, TestBus(bus_env) as bus:
        yield Notify(client, bus, capture, clock)


# --- events as the other services publish them ---------------------------------------------


def team_changed(team_id: UUID, chat_url: str | None, name: str = "Team A", version: int = 1,
                 leader_phone: str = LEADER_PHONE) -> TeamChangedV1:
    return TeamChangedV1(source="heartline/volunteers", correlationid=str(team_id), data=dict(
        team_id=team_id, version=version, name=name, community=COMMUNITY,
        location={"lat": 30.59, "lon": 114.30}, radius_km=5, skills=["delivery"],
        categories=["medicine"], capacity=3, status="active", chat_url=chat_url,
        leader={"name": "Wang Wei", "phone": leader_phone}))


def request_received(request_id: UUID, locale: str = "zh-CN", urgency: str = "high",
                     phone: str = REQUESTER_PHONE, preferred_channel: str = "sms",
                     reference: str = "HL-7Q2K") -> RequestReceivedV1:
    return RequestReceivedV1(source="heartline/intake", correlationid=str(request_id), data=dict(
        request_id=request_id, reference=reference, category="medicine", needs_volunteer=True,
        description="Needs insulin", location={"lat": 30.595, "lon": 114.30}, community=COMMUNITY,
        urgency=urgency, requester={"name": "Li Na", "phone": phone, "locale": locale,
                                    "preferred_channel": preferred_channel},
        received_at=datetime.now(UTC)))


def offered(request_id: UUID, team_id: UUID, assignment_id: UUID | None = None,
            summary: str = "Insulin for an elderly woman on the 6th floor",
            expires_in: timedelta = timedelta(minutes=15)) -> AssignmentOfferedV1:
    return AssignmentOfferedV1(source="heartline/dispatch", correlationid=str(request_id), data=dict(
        assignment_id=assignment_id or uuid4(), request_id=request_id, team_id=team_id,
        category="medicine", urgency="high", summary=summary, location={"lat": 30.595, "lon": 114.30},
        distance_km=0.6, offer_expires_at=datetime.now(UTC) + expires_in))


def status_changed(request_id: UUID, status: str, sequence: int, team_id: UUID | None = None,
                   assignment_id: UUID | None = None, reason: str | None = None,
                   community: str | None = COMMUNITY, changed_at: datetime | None = None,
                   expected_by: datetime | None = None) -> RequestStatusChangedV1:
    return RequestStatusChangedV1(source="heartline/dispatch", correlationid=str(request_id), data=dict(
        request_id=request_id, status=status, sequence=sequence, team_id=team_id,
        assignment_id=assignment_id, community=community, reason=reason,
        changed_at=changed_at or datetime.now(UTC), expected_by=expected_by))
