"""The route table is the truth about who may call what: every route declares
its roles (shared.http.roles), the README lists them, and each door, called as
each role, answers as the table says."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from shared.http import issue_coordinator_token
from tests.support.docs import declared_routes
from tests.support.inprocess import serve_in_process, settings_for

TOKEN_SECRET = "routes-test-token-secret-0123456789abcdef"
SAMPLE = {"phone": "+8613800138000", "fmt": "json", "kind": "teams", "code": "wuhan-jianghan-01",
          "token": "x", "service_request_id": str(uuid.uuid4())}


def test_every_route_says_who_may_call_it() -> None:
    undeclared = [f"{s} {m} {p}" for s, m, p, who in declared_routes() if not who]
    assert not undeclared, "routes without roles(...): " + ", ".join(undeclared)


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE.get(m.group(1), str(uuid.uuid4())), path)


@pytest.fixture
async def apps(bus_env, make_database):
    import importlib

    started = {}
    for name in ("intake", "volunteers", "dispatch", "notify"):
        app_module = importlib.import_module(f"services.{name}.app")
        settings_module = importlib.import_module(f"services.{name}.settings")
        settings_class = getattr(settings_module, f"{name.capitalize()}Settings")
        settings = settings_for(settings_class, bus_env, await make_database(name), token_secret=TOKEN_SECRET)
        started[name] = app_module.create_app(settings)
    yield started


async def test_each_door_refuses_the_roles_it_does_not_list(apps) -> None:
    coordinator, _ = issue_coordinator_token(TOKEN_SECRET, subject="coordinator:routes",
                                             communities=["wuhan-jianghan-01"], ttl=timedelta(hours=1))
    disagreements = []
    for service, app in apps.items():
        async with serve_in_process(app, headers={}) as client:
            for name, method, path, who in declared_routes():
                if name != service or path.startswith(("/metrics", "/docs")) or "public" in who:
                    continue
                url = _url(path)
                anonymous = await client.request(method, url, json={})
                if anonymous.status_code != 401:
                    disagreements.append(f"{service} {method} {path}: anonymous got {anonymous.status_code}")
                if "coordinator" not in who and "signed" not in who:
                    as_coordinator = await client.request(method, url, json={},
                                                          headers={"Authorization": f"Bearer {coordinator}"})
                    if as_coordinator.status_code not in (401, 403, 404):
                        disagreements.append(f"{service} {method} {path}: a coordinator got "
                                             f"{as_coordinator.status_code}")
    assert not disagreements, "\n".join(disagreements)
