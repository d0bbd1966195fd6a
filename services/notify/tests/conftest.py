"""Notify in process on real NATS and PostgreSQL, with a local HTTP server as
SMS gateway, team chat bots and coordinators' channel, and a clock the test sets."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from services.notify.app import create_app
from services.notify.replies import signed_headers, team_key
from services.notify.settings import NotifySettings
from shared.clock import utcnow
from shared.contracts import (
    AssignmentOfferedV1,
    CommunityChangedV1,
    RequestReceivedV1,
    RequestStatusChangedV1,
    TeamChangedV1,
)
from shared.http import issue_coordinator_token
from tests.support.bus import TestBus
from tests.support.capture import CaptureServer
from tests.support.inprocess import serve_in_process, settings_for

INBOUND_SECRET = "test-inbound-secret-0123456789"
TOKEN_SECRET = "notify-test-token-secret-0123456789abcdef"
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
    app: Any = field(default=None, repr=False)

    async def inbound_sms(self, sender: str, text: str, secret: str = INBOUND_SECRET, at: float | None = None,
                          **extra) -> httpx.Response:
        body = json.dumps({"from": sender, "text": text, **extra}).encode()
        return await self.client.post("/v1/inbound/sms", content=body, headers={
            "content-type": "application/json", **signed_headers(secret, body, int(at or time.time()))})

    async def inbound_chat(self, team_id: UUID, text: str, key: str | None = None) -> httpx.Response:
        """A reply in the team's chat, signed with the team's own key (or `key`)."""
        body = json.dumps({"text": text}).encode()
        key = key or team_key(INBOUND_SECRET, str(team_id))
        return await self.client.post(f"/v1/inbound/chat/{team_id}", content=body, headers={
            "content-type": "application/json", **signed_headers(key, body, int(time.time()))})

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
        token_secret=TOKEN_SECRET,
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
        yield Notify(client, bus, capture, clock, app)


def coordinator(*communities: str, subject: str = "coordinator:test") -> dict[str, str]:
    """Headers of a coordinator of `communities` (communities, districts or cities)."""
    token, _ = issue_coordinator_token(TOKEN_SECRET, subject=subject, communities=communities,
                                       ttl=timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


# Two districts of Wuhan, one community each (the tree notify learns from volunteers).
WUHAN_TREE = (("wuhan", None, "city"), ("wuhan-jianghan", "wuhan", "district"),
              ("wuhan-hongshan", "wuhan", "district"), (COMMUNITY, "wuhan-jianghan", "community"),
              ("wuhan-hongshan-07", "wuhan-hongshan", "community"))


async def publish_wuhan(notify: Notify) -> None:
    """Publishes the tree and waits until notify has applied it."""
    for code, parent, level in WUHAN_TREE:
        await notify.bus.publish(community_changed(code, parent, level))
    await notify.bus.settled("notify-communities")


# --- events as the other services publish them ---------------------------------------------


def community_changed(code: str, parent: str | None, level: str = "community", version: int = 1
                      ) -> CommunityChangedV1:
    return CommunityChangedV1(source="heartline/volunteers", correlationid=code, data=dict(
        code=code, version=version, level=level, parent=parent, name_zh=code, name_en=code,
        timezone="Asia/Shanghai", boundary=None, hotline=None, status="active", changed_at=datetime.now(UTC)))


def team_changed(team_id: UUID, chat_url: str | None, name: str = "Team A", version: int = 1,
                 leader_phone: str = LEADER_PHONE, community: str = COMMUNITY) -> TeamChangedV1:
    return TeamChangedV1(source="heartline/volunteers", correlationid=str(team_id), data=dict(
        team_id=team_id, version=version, name=name, community=community,
        location={"lat": 30.59, "lon": 114.30}, radius_km=5, skills=["delivery"],
        categories=["medicine"], capacity=3, status="active", chat_url=chat_url,
        leader={"name": "Wang Wei", "phone": leader_phone}))


def request_received(request_id: UUID, locale: str = "zh-CN", urgency: str = "high",
                     phone: str = REQUESTER_PHONE, preferred_channel: str = "sms",
                     reference: str = "HL-7Q2K", community: str = COMMUNITY) -> RequestReceivedV1:
    return RequestReceivedV1(source="heartline/intake", correlationid=str(request_id), data=dict(
        request_id=request_id, reference=reference, category="medicine", needs_volunteer=True,
        description="Needs insulin", location={"lat": 30.595, "lon": 114.30}, community=community,
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
