"""Faults the bus and the processes must survive: a dispatch process killed
while requests flow, and NATS stopped while intake takes requests."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
import pytest

from tests.support.capture import CaptureServer
from tests.support.infra import NatsServer
from tests.support.processes import SERVICES, ServiceProcess
from tests.support.system import ADMIN_TOKEN, AUTH, System, request_body, team_body
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def _dispatch_requests(client: httpx.Client, status: str | None = None) -> list[dict]:
    params = {"limit": 500, **({"status": status} if status else {})}
    return client.get("/v1/requests", params=params).json()


async def _dispatch_assignment_counts(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT request_id, count(*) AS n FROM assignments GROUP BY request_id")
        return {r["request_id"]: r["n"] for r in rows}
    finally:
        await conn.close()


async def test_killing_dispatch_loses_no_request_and_assigns_none_twice(bus_env, make_database) -> None:
    capture = CaptureServer().start()
    databases = {name: await make_database(name) for name in SERVICES}
    system = System(bus_env, databases, capture).start()
    try:
        system.seed_communities()
        volunteers, intake, dispatch = (system.client(n) for n in ("volunteers", "intake", "dispatch"))
        capacity, teams = 8, 3
        team_ids = []
        for i in range(teams):
            r = volunteers.post("/v1/teams", json=team_body(
                capture, name=f"Team {i}", lat=30.59 + i * 0.002, capacity=capacity))
            assert r.status_code == 201, r.text
            team_ids.append(r.json()["id"])
        await system.teams_reached_dispatch(*team_ids)
        total = 40  # more than the 24 units of capacity: some must stay queued

        def post(i: int) -> str:
            r = intake.post("/v1/requests", json=request_body(external_id=f"kill-{i}"))
            assert r.status_code == 202, r.text
            return r.json()["id"]

        with ThreadPoolExecutor(4) as pool:
            first = list(pool.map(post, range(total // 2)))
            system["dispatch"].kill()
            rest = list(pool.map(post, range(total // 2, total)))
        posted = set(first + rest)
        assert len(posted) == total

        system["dispatch"].start()
        everything = wait_until(
            lambda: (got := _dispatch_requests(dispatch)) and {r["id"] for r in got} == posted and got,
            timeout=60, what="every posted request to reach dispatch",
        )
        offered = wait_until(
            lambda: (len(got := _dispatch_requests(dispatch, "offered")) == teams * capacity) and got,
            timeout=60, what="every unit of capacity to be offered",
        )
        everything = _dispatch_requests(dispatch)
        assert sum(r["status"] == "queued" for r in everything) == total - teams * capacity

        per_team: dict[str, int] = {}
        for r in offered:
            per_team[r["assignment"]["team_id"]] = per_team.get(r["assignment"]["team_id"], 0) + 1
        assert max(per_team.values()) <= capacity, f"a team was offered more than its capacity: {per_team}"

        counts = await _dispatch_assignment_counts(databases["dispatch"])
        assert max(counts.values()) == 1, "a request was assigned twice"
        assert len(counts) == teams * capacity
    finally:
        system.stop()
        capture.stop()


async def test_requests_taken_while_nats_is_down_go_out_when_it_is_back(make_database) -> None:
    nats_server = NatsServer()
    nats_server.start()
    env = {"NATS_URL": nats_server.url, "HEARTLINE_ADMIN_TOKEN": ADMIN_TOKEN}
    intake = ServiceProcess("intake", {**env, "INTAKE_DATABASE_URL": await make_database("intake")})
    dispatch = ServiceProcess("dispatch", {**env, "DISPATCH_DATABASE_URL": await make_database("dispatch")})
    try:
        intake.start()
        dispatch.start()
        nats_server.stop()
        wait_until(lambda: httpx.get(intake.url + "/readyz").status_code == 503,
                   what="intake to notice the bus is gone")

        ids = set()
        with httpx.Client(base_url=intake.url, headers=AUTH) as client:
            for i in range(20):
                r = client.post("/v1/requests", json=request_body(external_id=f"offline-{i}"))
                assert r.status_code == 202, r.text
                ids.add(r.json()["id"])
            assert client.get(f"/v1/requests/{next(iter(ids))}").json()["status"] == "received"

        await asyncio.sleep(0)  # nothing reaches dispatch while NATS is down
        with httpx.Client(base_url=dispatch.url, headers=AUTH) as client:
            assert _dispatch_requests(client) == []
            nats_server.start()
            arrived = wait_until(
                lambda: {r["id"] for r in _dispatch_requests(client)} == ids,
                timeout=60, what="the stored requests to reach dispatch once NATS is back",
            )
            assert arrived
    finally:
        intake.stop()
        dispatch.stop()
        nats_server.stop()
