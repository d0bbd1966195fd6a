"""Volunteers in process on real PostgreSQL and NATS, with a clock the test drives;
and the request bodies the tests build teams and members from."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from services.volunteers.app import create_app
from services.volunteers.settings import VolunteersSettings
from tests.support.bus import TestBus
from tests.support.inprocess import serve_in_process, settings_for

SH = ZoneInfo("Asia/Shanghai")
SECRET = "test-token-secret-0123456789abcdefghij"
TEAM_CHANGED = "aid.team.changed.v1"


class Clock:
    """Now, as the service sees it; tests move it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def local(day: str, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(datetime.fromisoformat(day).date(), time(hh, mm), tzinfo=SH).astimezone(UTC)


def team_body(**extra) -> dict:
    body = {
        "name": "Jianghan night and day",
        "community": "wuhan-jianghan-01",
        "location": {"lat": 30.5928, "lon": 114.3055},
        "radius_km": 3.0,
        "skills": ["delivery", "medicine_purchase"],
        "capacity": 4,
        "leader": {"name": "Wang Wei", "phone": "+8613900139000"},
    }
    body.update(extra)
    return body


SPLIT = {"weekly": [
    part for w in range(7)
    for part in ({"weekday": w, "start": "08:00", "end": "20:00", "group": "A"},
                 {"weekday": w, "start": "20:00", "end": "08:00", "group": "B"})
]}


def member(name: str, phone: str, group: str | None = None) -> dict:
    return {"name": name, "phone": phone, "skills": ["delivery"], "duty": "delivery", "group": group}


async def team_version(bus: TestBus, team_id: str, version: int) -> dict:
    return (await bus.wait_for(TEAM_CHANGED, lambda e: e["data"]["team_id"] == team_id
                               and e["data"]["version"] == version))["data"]


@pytest.fixture
def clock() -> Clock:
    return Clock(local("2025-03-03", 12))  # a Monday, noon in Shanghai


@pytest.fixture
async def make_volunteers(bus_env, make_database, clock):
    """Starts volunteers with settings overrides; yields (app, admin client)."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        async def start(**overrides):
            overrides.setdefault("duty_poll_seconds", 0.1)
            overrides.setdefault("token_secret", SECRET)
            settings = settings_for(VolunteersSettings, bus_env, await make_database("volunteers"), **overrides)
            app = create_app(settings, clock=clock)
            client = await stack.enter_async_context(serve_in_process(app))
            return app, client

        yield start


@pytest.fixture
async def volunteers(make_volunteers):
    _, client = await make_volunteers()
    return client
