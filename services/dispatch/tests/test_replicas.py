"""Three dispatch processes on one database and one durable consumer, under
concurrent load and short offer deadlines: no request is ever held by two
offers, no team ever holds more than its capacity, and every expired
deadline fired exactly once."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import pytest

from tests.support.bus import TestBus
from tests.support.processes import ServiceProcess
from tests.support.system import ADMIN_TOKEN

from .conftest import request_event, team_event

pytestmark = pytest.mark.e2e

TEAMS, CAPACITY, REQUESTS = 3, 4, 30


async def _check_invariants(conn: asyncpg.Connection) -> dict:
    doubled = await conn.fetch(
        "SELECT request_id, count(*) AS n FROM assignments "
        "WHERE state IN ('offered', 'accepted', 'in_progress') GROUP BY request_id HAVING count(*) > 1")
    assert not doubled, f"requests held by two offers at once: {doubled}"
    rows = await conn.fetch(
        "SELECT t.id, t.capacity, t.open_tasks, "
        "(SELECT count(*) FROM assignments a WHERE a.team_id = t.id "
        " AND a.state IN ('offered', 'accepted', 'in_progress')) AS held FROM teams t")
    for r in rows:
        assert r["held"] <= r["capacity"], f"team over capacity: {dict(r)}"
        assert r["open_tasks"] == r["held"], f"open_tasks out of step with assignments: {dict(r)}"
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM assignments WHERE state = 'expired') AS expired, "
        "(SELECT count(*) FROM audit WHERE reason LIKE 'expired:%') AS expiries, "
        "(SELECT count(*) FROM assignments) AS offers, "
        "(SELECT count(*) FROM requests) AS requests")
    assert counts["expiries"] == counts["expired"], f"a deadline fired more or less than once: {dict(counts)}"
    return dict(counts)


async def test_three_replicas_never_double_assign_or_overfill(bus_env, make_database) -> None:
    database = await make_database("dispatch")
    env = {**bus_env, "HEARTLINE_ADMIN_TOKEN": ADMIN_TOKEN, "DISPATCH_DATABASE_URL": database,
           "DISPATCH_OFFER_MINUTES_HIGH": "0.04", "DISPATCH_SWEEP_SECONDS": "0.2",
           "DISPATCH_SURGE_THRESHOLD": "10"}
    # The first one migrates the empty database (as a deploy's migration job
    # would); the other two then start side by side with it.
    replicas = [ServiceProcess("dispatch", env),
                *(ServiceProcess("dispatch", {**env, "HEARTLINE_RUN_MIGRATIONS": "false"}) for _ in range(2))]
    conn = await asyncpg.connect(database.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await asyncio.to_thread(replicas[0].start)
        for replica in replicas[1:]:
            replica.start(wait=None)
        for replica in replicas[1:]:
            await asyncio.to_thread(replica.wait_for, "/readyz")
        async with TestBus(bus_env) as bus:
            team_ids = [str(uuid4()) for _ in range(TEAMS)]
            for i, team_id in enumerate(team_ids):
                await bus.publish(team_event(team_id, lat=30.5928 + i * 0.002, capacity=CAPACITY))
            # Teams and requests are two consumers: a request handled before its
            # teams would be escalated ("outside every team's area") for good.
            await bus.settled("dispatch-teams")
            events = [request_event() for _ in range(REQUESTS)]
            await asyncio.gather(*(bus.publish(e) for e in events))

        # Offers expire every 2.4 s and move on from team to team across the
        # replicas; sample the invariants until several rounds have expired.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        samples = 0
        while True:
            counts = await _check_invariants(conn)
            samples += 1
            if counts["requests"] == REQUESTS and counts["expired"] >= 2 * TEAMS * CAPACITY:
                break
            assert loop.time() < deadline, f"not enough churn within 60 s: {counts}\n{replicas[0].logs()}"
            await asyncio.sleep(0.05)
        assert samples > 1
        surge = await conn.fetchval("SELECT count(*) FROM audit WHERE reason LIKE 'surge:%'")
        assert surge > 0, "the backlog was never assigned jointly"
        worked = await conn.fetch("SELECT DISTINCT actor FROM audit")
        assert {r["actor"] for r in worked} >= {"dispatch", "intake"}
    finally:
        await conn.close()
        for replica in replicas:
            replica.stop()
