"""Dispatch in process on real PostgreSQL and NATS, and events as intake,
volunteers and notify would publish them."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

import services.dispatch
from services.dispatch.app import create_app
from services.dispatch.settings import DispatchSettings
from shared.contracts import (
    AssignmentRepliedV1,
    CommunityChangedV1,
    RequestCancelledV1,
    RequestFeedbackGivenV1,
    RequestReceivedV1,
    TeamChangedV1,
)
from shared.db import Database
from shared.http import issue_coordinator_token
from tests.support.bus import TestBus
from tests.support.inprocess import serve_in_process, settings_for
from tests.support.waiting import eventually

TOKEN_SECRET = "dispatch-test-token-secret-0123456789"
COMMUNITY = "wuhan-jianghan-01"
HERE = (30.5928, 114.3055)
MIGRATIONS = Path(services.dispatch.__file__).parent / "migrations"


def team_event(team_id: str | None = None, version: int = 1, *, lat: float = HERE[0], lon: float = HERE[1],
               radius_km: float = 5.0, capacity: int = 3, on_duty: bool = True, status: str = "active",
               categories: tuple[str, ...] = ("medicine", "daily_necessities"), area: dict | None = None,
               community: str = COMMUNITY, name: str = "Team") -> TeamChangedV1:
    return TeamChangedV1(
        source="heartline/volunteers", correlationid=team_id or "team",
        data=dict(team_id=team_id or str(uuid4()), version=version, name=name, community=community,
                  location={"lat": lat, "lon": lon}, radius_km=radius_km, skills=("delivery",),
                  categories=categories, area=area, capacity=capacity, on_duty=on_duty, status=status,
                  leader={"name": "Wang Wei", "phone": "+8613900139000"}),
    )


# Wuhan's tree as volunteers publishes it: city > districts > communities.
CITY, JIANGHAN, HONGSHAN = "wuhan", "wuhan-jianghan", "wuhan-hongshan"
NEIGHBOUR, FAR_COMMUNITY = "wuhan-jianghan-02", "wuhan-hongshan-07"
FAR = (30.5050, 114.4000)  # in hongshan-07, some 13 km from HERE
TREE = {CITY: (None, "city"), JIANGHAN: (CITY, "district"), HONGSHAN: (CITY, "district"),
        COMMUNITY: (JIANGHAN, "community"), NEIGHBOUR: (JIANGHAN, "community"), FAR_COMMUNITY: (HONGSHAN, "community")}


def community_event(code: str, parent: str | None = None, level: str = "community", version: int = 1,
                    boundary: dict | None = None) -> CommunityChangedV1:
    return CommunityChangedV1(
        source="heartline/volunteers", correlationid=code,
        data=dict(code=code, version=version, level=level, parent=parent, name_zh=code, name_en=code,
                  timezone="Asia/Shanghai", boundary=boundary, hotline=None, status="active",
                  changed_at=datetime.now(UTC)),
    )


def square(lat: float, lon: float, half_km: float = 1.0) -> dict:
    """A GeoJSON square of side 2 * half_km around the point."""
    d_lat, d_lon = half_km / 111.2, half_km / (111.2 * 0.86)
    ring = [[lon - d_lon, lat - d_lat], [lon + d_lon, lat - d_lat], [lon + d_lon, lat + d_lat],
            [lon - d_lon, lat + d_lat], [lon - d_lon, lat - d_lat]]
    return {"type": "Polygon", "coordinates": [ring]}


async def publish_tree(dispatch: Dispatch, boundaries: dict[str, dict] | None = None) -> None:
    """Publishes TREE (with `boundaries`) and waits until dispatch's tree has all of it."""
    for code, (parent, level) in TREE.items():
        await dispatch.publish(community_event(code, parent, level, boundary=(boundaries or {}).get(code)))

    async def known() -> bool:
        tree = dispatch.app.state.communities.tree
        return all(tree.parents.get(code, "?") == parent for code, (parent, _) in TREE.items())
    await eventually(known, what="the community tree in dispatch", timeout=15.0)


def request_event(*, lat: float = 30.5950, lon: float = 114.3000, category: str = "medicine",
                  urgency: str = "high", vulnerabilities: tuple[str, ...] = (), community: str | None = COMMUNITY,
                  needs_volunteer: bool = True, received_at: datetime | None = None) -> RequestReceivedV1:
    request_id = str(uuid4())
    return RequestReceivedV1(
        source="heartline/intake", correlationid=request_id,
        data=dict(request_id=request_id, reference=request_id[:8].upper(), category=category,
                  needs_volunteer=needs_volunteer, description="Needs insulin delivered",
                  location={"lat": lat, "lon": lon}, community=community, urgency=urgency,
                  vulnerabilities=vulnerabilities, requester={"name": "Li Na", "phone": "+8613800138000"},
                  received_at=received_at or datetime.now(UTC)),
    )


def cancelled_event(request_id: str, by: str = "requester") -> RequestCancelledV1:
    return RequestCancelledV1(source="heartline/intake", correlationid=request_id,
                              data=dict(request_id=request_id, cancelled_by=by, reason="no longer needed",
                                        cancelled_at=datetime.now(UTC)))


def feedback_event(request_id: str, rating: int = 5) -> RequestFeedbackGivenV1:
    return RequestFeedbackGivenV1(source="heartline/intake", correlationid=request_id,
                                  data=dict(request_id=request_id, rating=rating, channel="sms",
                                            given_at=datetime.now(UTC)))


def replied_event(assignment: dict, action: str, team_id: str | None = None) -> AssignmentRepliedV1:
    return AssignmentRepliedV1(source="heartline/notify", correlationid=assignment["request_id"],
                               data=dict(assignment_id=assignment["id"], team_id=team_id or assignment["team_id"],
                                         action=action, channel="sms", received_at=datetime.now(UTC)))


def coordinator_headers(*communities: str) -> dict[str, str]:
    token, _ = issue_coordinator_token(TOKEN_SECRET, subject="coord-zhang", communities=communities,
                                       ttl=timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


class Dispatch:
    """A running dispatch plus the bus, with the waits tests need."""

    def __init__(self, client, bus: TestBus, database_url: str, app=None) -> None:
        self.client = client
        self.bus = bus
        self.database_url = database_url
        self.app = app

    async def publish(self, event) -> None:
        await self.bus.publish(event)

    async def request(self, request_id: str) -> dict:
        response = await self.client.get(f"/v1/requests/{request_id}")
        return response.json() if response.status_code == 200 else {}

    async def wait_status(self, request_id: str, *statuses: str, timeout: float = 15.0) -> dict:
        async def probe():
            body = await self.request(request_id)
            return body if body.get("status") in statuses else None
        return await eventually(probe, what=f"request {request_id} to be {statuses}", timeout=timeout)

    async def team_loaded(self, team_id: str, version: int = 1) -> None:
        """Until the team (at `version` or later) is in dispatch's table and in
        its in-memory index: the index takes a change only after the change's
        transaction commits, and a request matched in between would be matched
        without it."""
        async def probe():
            rows = await self.sql("SELECT version, change_seq FROM teams WHERE id = $1", team_id)
            if not (rows and rows[0]["version"] >= version):
                return False
            teams = self.app.state.teams if self.app is not None else None
            return teams is None or not teams.enabled or teams.change_seq >= rows[0]["change_seq"]
        await eventually(probe, what=f"team {team_id} v{version} in dispatch", timeout=15.0)

    async def sql(self, query: str, *args):
        conn = await asyncpg.connect(self.database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


@pytest.fixture
def start_dispatch(bus_env, make_database):
    """Starts dispatch in process (settings overridable); the same database can
    be passed again to start it anew, as after a restart."""

    @asynccontextmanager
    async def start(database_url: str | None = None, **overrides):
        database_url = database_url or await make_database("dispatch")
        overrides.setdefault("sweep_seconds", 0.2)
        settings = settings_for(DispatchSettings, bus_env, database_url, token_secret=TOKEN_SECRET, **overrides)
        app = create_app(settings)
        async with TestBus(bus_env) as bus, serve_in_process(app) as client:
            yield Dispatch(client, bus, database_url, app)

    return start


@pytest.fixture
async def dispatch_db(make_database):
    """A migrated dispatch database of its own, for use cases called directly (no app, no bus)."""
    db = Database(await make_database("dispatch"))
    try:
        await db.migrate(MIGRATIONS)
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def dispatch(start_dispatch):
    async with start_dispatch() as running:
        yield running


async def two_teams(dispatch: Dispatch) -> tuple[str, str]:
    """A team next to the usual request and one a little further, one unit each; their ids."""
    near, next_ = str(uuid4()), str(uuid4())
    await dispatch.publish(team_event(near, lat=30.5955, lon=114.3005, capacity=1))
    await dispatch.publish(team_event(next_, lat=30.6000, lon=114.3100, capacity=1))
    await dispatch.team_loaded(near), await dispatch.team_loaded(next_)
    return near, next_


async def open_tasks(dispatch: Dispatch, team_id: str) -> int:
    return (await dispatch.sql("SELECT open_tasks FROM teams WHERE id = $1", team_id))[0]["open_tasks"]
