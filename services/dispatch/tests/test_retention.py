"""Retention: once a request has been finished for DISPATCH_PERSONAL_DATA_DAYS,
its summary, exact location, notes and typed reasons are gone, and what the
statistics read (category, community, times, outcome) stays; a request still
open, or finished more recently, keeps everything.  On real PostgreSQL."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from uuid import uuid4

from services.dispatch import assignments, offers, store, teams
from services.dispatch.loops import RetentionSweeper
from services.dispatch.settings import DispatchSettings
from shared.http import Principal
from shared.scope import CommunityTree

from .conftest import COMMUNITY, request_event, team_event

ADMIN = Principal("admin", "admin")
NOTE = "Li Na's neighbour Zhang has the key, +8613800138000"


async def _finished_and_open_requests(dispatch_db, settings) -> tuple[str, str]:
    async with dispatch_db.transaction() as session:
        await teams.apply_team_change(session=session, event=team_event(str(uuid4())))
    events = [request_event(lat=30.594987, lon=114.301234), request_event()]
    for event in events:
        async with dispatch_db.transaction() as session:
            await offers.take_request(session=session, event=event, settings=settings)
    finished, still_open = (str(e.data.request_id) for e in events)
    async with dispatch_db.transaction() as session:
        for request_id in (finished, still_open):
            await assignments.add_note(session=session, principal=ADMIN, request_id=request_id, text=NOTE,
                                       tree=CommunityTree({}))
        await assignments.cancel_request(session=session, principal=ADMIN, request_id=finished, actor="admin",
                                         reason="her son Li Ming takes her in", tree=CommunityTree({}))
    return finished, still_open


async def test_personal_data_goes_after_the_period_and_the_figures_stay(dispatch_db) -> None:
    settings = DispatchSettings(database_url=dispatch_db.url, personal_data_days=0.5 / 86400)  # half a second
    finished, still_open = await _finished_and_open_requests(dispatch_db, settings)
    sweeper = RetentionSweeper(SimpleNamespace(db=dispatch_db), settings)
    await asyncio.sleep(0.6)
    assert await sweeper.sweep() == 1
    assert await sweeper.sweep() == 0  # done once

    async with dispatch_db.connect() as conn:
        gone = await store.get_request(conn, finished)
        kept = await store.get_request(conn, still_open)
        notes = {r: [n.text for n in await store.notes_of(conn, r)] for r in (finished, still_open)}
        reasons = {r: [a.reason for a in (await store.histories(conn, [r]))[r]] for r in (finished, still_open)}
    # What identified her is gone...
    assert gone.summary == "" and gone.status_reason is None and gone.personal_data_removed_at is not None
    assert (gone.lat, gone.lon) == (30.59, 114.3)
    assert notes[finished] == ["[removed]"] and set(reasons[finished]) == {None}
    # ...and what the statistics need stays.
    assert (gone.status, gone.category, gone.community, gone.urgency) == ("cancelled", "medicine", COMMUNITY, "high")
    assert gone.received_at is not None and gone.sla_due_at is not None
    assert len(await _history(dispatch_db, finished)) == 3  # received, offered, cancelled: times and actors
    # The open request keeps everything.
    assert kept.summary == "Needs insulin delivered" and kept.personal_data_removed_at is None
    assert notes[still_open] == [NOTE] and "received" in reasons[still_open]


async def test_nothing_goes_before_the_period(dispatch_db) -> None:
    settings = DispatchSettings(database_url=dispatch_db.url)  # 90 days
    finished, _ = await _finished_and_open_requests(dispatch_db, settings)
    assert await RetentionSweeper(SimpleNamespace(db=dispatch_db), settings).sweep() == 0
    async with dispatch_db.connect() as conn:
        request = await store.get_request(conn, finished)
        assert request.summary == "Needs insulin delivered" and request.lat == 30.594987
        assert [n.text for n in await store.notes_of(conn, finished)] == [NOTE]


async def _history(dispatch_db, request_id: str) -> list:
    async with dispatch_db.connect() as conn:
        return [(a.from_status, a.to_status, a.actor) for a in (await store.histories(conn, [request_id]))[request_id]]
