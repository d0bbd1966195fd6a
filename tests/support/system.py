"""The whole of Heartline as four processes on real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import httpx

from .bus import TestBus
from .capture import CaptureServer
from .processes import SERVICES, ServiceProcess

ADMIN_TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class System:
    def __init__(self, bus_env: dict[str, str], databases: dict[str, str], capture: CaptureServer,
                 extra_env: dict[str, str] | None = None) -> None:
        self.capture = capture
        self.bus_env = bus_env
        common = {**bus_env, "HEARTLINE_ADMIN_TOKEN": ADMIN_TOKEN, "HEARTLINE_OUTBOUND_ALLOWED_HOSTS": '["127.0.0.1"]',
                  "HEARTLINE_SMS_URL": capture.sms_url(), **(extra_env or {})}
        self.services = {
            name: ServiceProcess(name, {**common, f"{name.upper()}_DATABASE_URL": databases[name]})
            for name in SERVICES
        }

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def start(self) -> System:
        for service in self.services.values():
            service.start(wait=None)
        for service in self.services.values():
            service.wait_for("/readyz")
        return self

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()

    def client(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.services[name].url, headers=AUTH, timeout=10.0)

    async def teams_reached_dispatch(self, *team_ids: str) -> None:
        """Until dispatch has handled each team's current state (as volunteers
        has it now).  Teams and requests reach dispatch through two consumers,
        and a request handled before its team is escalated first (and offered
        only when the sweeper next retries escalated requests)."""
        with self.client("volunteers") as volunteers:
            versions = {t: volunteers.get(f"/v1/teams/{t}").json()["version"] for t in team_ids}
        async with TestBus(self.bus_env) as bus:
            for team_id, version in versions.items():
                await bus.wait_for("aid.team.changed.v1", lambda e, t=team_id, v=version:
                                   e["data"]["team_id"] == t and e["data"]["version"] >= v)
            await bus.settled("dispatch-teams")

    def seed_communities(self) -> None:
        """Wuhan, its Jianghan district and the community every test's teams and
        requests lie in (a box around them), created in volunteers and known to
        intake, dispatch and notify before a test starts."""
        with self.client("volunteers") as volunteers:
            for body in DEMO_COMMUNITIES:
                created = volunteers.post("/v1/communities", json=body)
                assert created.status_code == 201, created.text
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self._communities_reached_everyone()).result()

    async def _communities_reached_everyone(self) -> None:
        async with TestBus(self.bus_env) as bus:
            await bus.wait_for("aid.community.changed.v1", lambda e: e["data"]["code"] == COMMUNITY)
            for consumer in ("intake-communities", "dispatch-communities", "notify-communities"):
                await bus.settled(consumer)

    def wait_for_teams_in_dispatch(self, *team_ids: str) -> None:
        """teams_reached_dispatch, for a test that runs without an event loop."""
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self.teams_reached_dispatch(*team_ids)).result()


COMMUNITY = "wuhan-jianghan-01"
# lon, lat: a box of about 70 by 70 km around the tests' bases and homes.
_BOX = [[114.0, 30.3], [114.7, 30.3], [114.7, 30.95], [114.0, 30.95], [114.0, 30.3]]
DEMO_COMMUNITIES = [
    {"code": "wuhan", "level": "city", "name_zh": "武汉市", "name_en": "Wuhan"},
    {"code": "wuhan-jianghan", "level": "district", "parent": "wuhan", "name_zh": "江汉区", "name_en": "Jianghan"},
    {"code": COMMUNITY, "level": "community", "parent": "wuhan-jianghan", "name_zh": "江汉一社区",
     "name_en": "Jianghan 01", "boundary": {"type": "Polygon", "coordinates": [_BOX]}, "hotline": "+862782345678"},
]


def team_body(capture: CaptureServer, name: str = "Team A", lat: float = 30.5928, lon: float = 114.3055,
              radius_km: float = 5.0, capacity: int = 3, skills: list[str] | None = None) -> dict:
    return {
        "name": name,
        "community": COMMUNITY,
        "location": {"lat": lat, "lon": lon},
        "radius_km": radius_km,
        "skills": skills or ["delivery", "medicine_purchase"],
        "capacity": capacity,
        "chat_url": capture.chat_url(name.lower().replace(" ", "-")),
        "leader": {"name": "Wang Wei", "phone": "+8613900139000"},
    }


def request_body(external_id: str | None = None, phone: str = "+8613800138000",
                 lat: float = 30.5950, lon: float = 114.3000, category: str = "medicine") -> dict:
    return {
        "category": category,
        "description": "Needs insulin delivered; lives alone on the 6th floor",
        "location": {"lat": lat, "lon": lon},
        "requester": {"name": "Li Na", "phone": phone, "locale": "zh-CN"},
        "urgency": "high",
        "external_id": external_id,
    }


@asynccontextmanager
async def running_system(make_database, bus_env: dict[str, str], extra_env: dict[str, str] | None = None,
                         sqlite_dir=None) -> AsyncIterator[System]:
    """The four services as processes with a capture server for SMS and chat;
    on fresh PostgreSQL databases, or on SQLite files in `sqlite_dir`."""
    capture = CaptureServer().start()
    if sqlite_dir is None:
        databases = {name: await make_database(name) for name in SERVICES}
    else:
        databases = {name: f"sqlite+aiosqlite:///{sqlite_dir}/{name}.db" for name in SERVICES}
    system = System(bus_env, databases, capture, extra_env)
    try:
        system.start()
        system.seed_communities()
        yield system
    finally:
        system.stop()
        capture.stop()
