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


def box(west: float, south: float, east: float, north: float) -> dict:
    """A rectangular GeoJSON Polygon (lon, lat)."""
    return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                 [west, south]]]}


# Central Wuhan around the test teams' bases (30.59 N, 114.30 E), and Hongshan to the south-east of it.
CENTRAL = box(114.22, 30.54, 114.36, 30.64)
HONGSHAN_07 = box(114.38, 30.47, 114.44, 30.53)
TEST_COMMUNITIES = ("wuhan-jianghan-01", "wuhan-jianghan-02", "c1", "c2", "c-mine", "c-theirs", "c-other")


def community(code: str, level: str = "community", parent: str | None = None, boundary: dict | None = None) -> dict:
    return {"code": code, "level": level, "parent": parent, "name_zh": code, "name_en": code,
            "boundary": boundary}


async def seed_communities(client) -> None:
    """Wuhan, two districts and the test communities (all but Hongshan-07 share the central box):
    what teams, coordinators and registrations must now name."""
    bodies = [community("wuhan", "city"), community("wuhan-jianghan", "district", "wuhan"),
              community("wuhan-hongshan", "district", "wuhan"),
              community("wuhan-hongshan-07", parent="wuhan-hongshan", boundary=HONGSHAN_07),
              *(community(code, parent="wuhan-jianghan", boundary=CENTRAL) for code in TEST_COMMUNITIES)]
    for body in bodies:
        response = await client.post("/v1/communities", json=body)
        assert response.status_code == 201, response.text


async def proof(client, form: str) -> dict:
    """A fresh form token for a public form and its proof of work (what /static/pow.js does)."""
    from shared.public_doors import solve

    issued = (await client.get("/v1/form-token", params={"form": form}, headers={"Authorization": ""})).json()
    return {"form_token": issued["token"], "pow": solve(issued["token"], issued["bits"])}


async def register(client, body: dict, **kwargs):
    """POST /v1/registrations as the public does, with a fresh form token."""
    return await client.post("/v1/registrations", json={**body, **await proof(client, "registration")}, **kwargs)


async def registration_id(client, phone: str) -> str:
    """The id of the registration for `phone` (the public answer does not carry it), as an admin sees it."""
    rows = (await client.get("/v1/registrations", params={"limit": 500})).json()
    return next(r["id"] for r in rows if r["phone"] == phone)


@pytest.fixture
def clock() -> Clock:
    return Clock(local("2025-03-03", 12))  # a Monday, noon in Shanghai


@pytest.fixture
async def make_volunteers(bus_env, make_database, clock):
    """Starts volunteers with settings overrides; yields (app, admin client)."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        async def start(seed: bool = True, **overrides):
            overrides.setdefault("duty_poll_seconds", 0.1)
            overrides.setdefault("form_pow_bits", 4)
            overrides.setdefault("form_rate_per_minute", 10_000)
            overrides.setdefault("token_secret", SECRET)
            settings = settings_for(VolunteersSettings, bus_env, await make_database("volunteers"), **overrides)
            app = create_app(settings, clock=clock)
            client = await stack.enter_async_context(serve_in_process(app))
            if seed:
                await seed_communities(client)
            return app, client

        yield start


@pytest.fixture
async def volunteers(make_volunteers):
    _, client = await make_volunteers()
    return client
