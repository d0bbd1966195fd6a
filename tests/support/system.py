"""The whole of Heartline as four processes on real NATS and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from .capture import CaptureServer
from .processes import SERVICES, ServiceProcess

ADMIN_TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class System:
    def __init__(self, bus_env: dict[str, str], databases: dict[str, str], capture: CaptureServer,
                 extra_env: dict[str, str] | None = None) -> None:
        self.capture = capture
        common = {**bus_env, "HEARTLINE_ADMIN_TOKEN": ADMIN_TOKEN,
                  "HEARTLINE_SMS_URL": capture.sms_url(), **(extra_env or {})}
        self.services = {
            name: ServiceProcess(name, {**common, f"{name.upper()}_DATABASE_URL": databases[name]})
            for name in SERVICES
        }

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def start(self) -> "System":
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


def team_body(capture: CaptureServer, name: str = "Team A", lat: float = 30.5928, lon: float = 114.3055,
              radius_km: float = 5.0, capacity: int = 3, skills: list[str] | None = None) -> dict:
    return {
        "name": name,
        "community": "wuhan-jianghan-01",
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
        yield system.start()
    finally:
        system.stop()
        capture.stop()
