"""Each replica's in-memory index of teams: kept current across replicas by
the reload loop, and never the last word on an offer (the team's current row
is)."""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager

from services.dispatch import store, teams
from services.dispatch.app import create_app
from services.dispatch.settings import DispatchSettings
from shared.db import Database
from tests.support.bus import TestBus
from tests.support.inprocess import serve_in_process, settings_for
from tests.support.waiting import eventually

from .conftest import TOKEN_SECRET, Dispatch, request_event, team_event


async def _team_in_index(app, team_id: str, predicate, what: str):
    async def probe():
        index = app.state.teams.current()
        team = index.teams.get(team_id) if index is not None else None
        return team if team is not None and predicate(team) else None
    return await eventually(probe, what=what, timeout=15.0)


async def test_a_team_change_one_replica_handles_reaches_the_other_replicas_index(bus_env, make_database) -> None:
    database = await make_database("dispatch")
    apps = [create_app(settings_for(DispatchSettings, bus_env, database, token_secret=TOKEN_SECRET,
                                    sweep_seconds=0.2, team_reload_seconds=0.5,
                                    run_migrations=(i == 0)))
            for i in range(2)]
    async with AsyncExitStack() as stack:
        for app in apps:  # the first migrates; both share the dispatch-teams consumer
            await stack.enter_async_context(serve_in_process(app))
        bus = await stack.enter_async_context(TestBus(bus_env))
        event = team_event(capacity=2)
        team_id = str(event.data.team_id)
        await bus.publish(event)
        for app in apps:
            await _team_in_index(app, team_id, lambda t: t.on_duty, "the team in both replicas' indexes")
        await bus.publish(team_event(team_id, version=2, capacity=2, on_duty=False, radius_km=2.0))
        for app in apps:
            await _team_in_index(app, team_id, lambda t: not t.on_duty and t.radius_km == 2.0,
                                 "version 2 in both replicas' indexes")
        # One replica applied it (one consumer), the other learned it by reloading.
        handled = await Dispatch(None, bus, database).sql(
            "SELECT count(*) AS n FROM processed_events WHERE consumer = 'dispatch-teams'")
        assert handled[0]["n"] == 2
        await bus.publish(team_event(team_id, version=3, status="deleted"))
        for app in apps:
            await eventually(lambda app=app: _gone(app, team_id), what="the deleted team out of both indexes",
                             timeout=15.0)


async def _gone(app, team_id: str) -> bool:
    index = app.state.teams.current()
    return index is not None and team_id not in index.teams


async def _apply_as_another_replica(database_url: str, event) -> None:
    """Applies a team change the way another replica would (this one's loop does not hear of it)."""
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            assert await teams.apply_team_change(session=session, event=event)
    finally:
        await db.dispose()


@asynccontextmanager
async def _dispatch(bus_env, database_url: str, **overrides):
    app = create_app(settings_for(DispatchSettings, bus_env, database_url, token_secret=TOKEN_SECRET,
                                  sweep_seconds=0.2, **overrides))
    async with TestBus(bus_env) as bus, serve_in_process(app) as client:
        yield app, Dispatch(client, bus, database_url, app)


async def test_a_team_whose_row_changed_after_the_index_read_it_is_never_offered(bus_env, make_database) -> None:
    # The loop reloads once an hour: the index stays as it was read.
    async with _dispatch(bus_env, await make_database("dispatch"), team_reload_seconds=3600,
                         team_index_max_age_seconds=3600) as (app, dispatch):
        app_teams = app.state.teams
        near, far = team_event(capacity=2, name="Near"), team_event(capacity=2, lat=30.62, name="Far")
        near_id, far_id = str(near.data.team_id), str(far.data.team_id)
        for event in (near, far):
            await dispatch.publish(event)
        await eventually(lambda: _both(app_teams, near_id, far_id), what="both teams in the index", timeout=15.0)
        # Both changes may be handled side by side, and a handler reloads the
        # index after its commit: one still reloading would read the change
        # below.  Wait until both handlers are done.
        await dispatch.bus.settled("dispatch-teams")
        # Another replica applies: Near went off duty.
        await _apply_as_another_replica(dispatch.database_url,
                                        team_event(near_id, version=2, capacity=2, on_duty=False, name="Near"))
        assert app_teams.current().teams[near_id].on_duty  # the index still says on duty

        request = request_event()
        await dispatch.publish(request)
        body = await dispatch.wait_status(str(request.data.request_id), "offered")
        assert body["assignment"]["team_id"] == far_id
        rows = await dispatch.sql("SELECT open_tasks FROM teams WHERE id = $1", near_id)
        assert rows[0]["open_tasks"] == 0

        # Far's area moved away and Near is off duty: memory still shortlists
        # both, the database says nobody is on duty nearby.
        await _apply_as_another_replica(dispatch.database_url,
                                        team_event(far_id, version=2, capacity=2, lat=31.5, name="Far"))
        second = request_event()
        await dispatch.publish(second)
        body = await dispatch.wait_status(str(second.data.request_id), "escalated")
        assert body["assignment"] is None
        assert body["status_reason"] == "no team on duty"


async def _both(cache, *team_ids: str) -> bool:
    index = cache.current()
    return index is not None and all(t in index.teams for t in team_ids)


async def test_the_capacity_guard_refuses_a_team_changed_since_the_version_read(dispatch_db) -> None:
    event = team_event(capacity=2)
    team_id = str(event.data.team_id)
    async with dispatch_db.transaction() as session:
        await teams.apply_team_change(session=session, event=event)
    async with dispatch_db.transaction() as session:
        await teams.apply_team_change(session=session,
                                      event=team_event(team_id, version=2, capacity=2, on_duty=False))
    async with dispatch_db.transaction() as session:
        assert not await store.reserve_capacity(session, team_id, version=1)
        assert not await store.reserve_capacity(session, team_id, version=2)  # off duty
    async with dispatch_db.transaction() as session:
        await teams.apply_team_change(session=session, event=team_event(team_id, version=3, capacity=2))
    async with dispatch_db.transaction() as session:
        assert await store.reserve_capacity(session, team_id, version=3)
        changes = await store.teams_changed_since(session, -1)
        assert [r.change_seq for r in changes] == [3]  # one number per applied change, in order


async def test_on_sqlite_the_index_is_built_kept_current_and_offers(bus_env, tmp_path) -> None:
    settings = settings_for(DispatchSettings, bus_env, f"sqlite+aiosqlite:///{tmp_path}/dispatch.db",
                            token_secret=TOKEN_SECRET, sweep_seconds=0.2, team_reload_seconds=0.5)
    app = create_app(settings)
    async with TestBus(bus_env) as bus, serve_in_process(app) as client:
        event = team_event(capacity=1)
        team_id = str(event.data.team_id)
        await bus.publish(event)
        await _team_in_index(app, team_id, lambda t: t.on_duty, "the team in the index")
        request = request_event()
        await bus.publish(request)

        async def offered():
            body = (await client.get(f"/v1/requests/{request.data.request_id}")).json()
            return body if body.get("status") == "offered" else None
        body = await eventually(offered, what="the offer", timeout=15.0)
        assert body["assignment"]["team_id"] == team_id
        await bus.publish(team_event(team_id, version=2, capacity=1, on_duty=False))
        await _team_in_index(app, team_id, lambda t: not t.on_duty, "version 2 in the index")
