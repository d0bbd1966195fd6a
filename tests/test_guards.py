"""What every service puts in front of its doors, tried on each service: a body
too large is refused before it is read (notify's before its signature is
checked), production keeps the operations endpoints for operators, and pages
carry their security headers."""

from __future__ import annotations

import importlib
from pathlib import Path

import httpx
import pytest

from tests.support.inprocess import serve_in_process, settings_for
from tests.support.system import ADMIN_TOKEN, AUTH

SECRET = "guards-test-token-secret-0123456789abcdef"
# A door of each service that takes a body (notify's checks a signature first).
DOORS = {"intake": "/v1/requests", "volunteers": "/v1/teams",
         "dispatch": "/v1/requests/00000000-0000-0000-0000-000000000000/notes", "notify": "/v1/inbound/sms"}


def _app(service: str, tmp_path: Path, **overrides):
    settings_class = getattr(importlib.import_module(f"services.{service}.settings"), f"{service.capitalize()}Settings")
    settings = settings_class(database_url=f"sqlite+aiosqlite:///{tmp_path}/{service}.db", admin_token=ADMIN_TOKEN,
                              token_secret=SECRET, **overrides)
    return importlib.import_module(f"services.{service}.app").create_app(settings)


def _client(app) -> httpx.AsyncClient:
    # No lifespan: what is tried here answers before any door or database is reached.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("service", sorted(DOORS))
async def test_a_body_too_large_is_refused_before_it_is_read(service: str, tmp_path: Path) -> None:
    async with _client(_app(service, tmp_path)) as client:
        refused = await client.post(DOORS[service], content=b"{" + b" " * 200_000 + b"}", headers={
            **AUTH, "content-type": "application/json"})
    assert refused.status_code == 413, refused.text
    assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("service", sorted(DOORS))
async def test_production_keeps_the_operations_endpoints_for_operators(service: str, tmp_path: Path) -> None:
    async with _client(_app(service, tmp_path, environment="production")) as client:
        for path in ("/openapi.json", "/asyncapi.json", "/metrics"):
            assert (await client.get(path)).status_code == 401, path
            assert (await client.get(path, headers=AUTH)).status_code == 200, path
        assert (await client.get("/docs")).status_code == 404
    async with _client(_app(service, tmp_path, environment="production", ops_endpoints="open")) as client:
        assert (await client.get("/openapi.json")).status_code == 200  # the operator said so
    async with _client(_app(service, tmp_path, environment="production", ops_endpoints="off")) as client:
        assert (await client.get("/metrics", headers=AUTH)).status_code == 404


async def test_a_page_carries_its_security_headers(bus_env, make_database) -> None:
    create_app = importlib.import_module("services.intake.app").create_app
    intake_settings = importlib.import_module("services.intake.settings").IntakeSettings
    app = create_app(settings_for(intake_settings, bus_env, await make_database("intake")))
    async with serve_in_process(app, headers={}) as client:
        page = await client.get("/form/nowhere-01")
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
