"""The queue sweep: most urgent first, and a unit of capacity freed in the
middle of a sweep is kept for the most urgent request waiting for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import uuid4

from services.dispatch import offers, store, teams
from services.dispatch.loops import QueueSweeper
from services.dispatch.settings import DispatchSettings

from .conftest import request_event, team_event


async def test_a_unit_freed_in_the_middle_of_a_sweep_goes_to_the_most_urgent_request(dispatch_db,
                                                                                      monkeypatch) -> None:
    # The sweep offers queued requests one at a time, most urgent first.  Here
    # the team gets a unit just after the most urgent request was found waiting
    # for it (as when its change commits while the sweep runs): the next one
    # in line must not take it; the next sweep gives it to the most urgent.
    settings = DispatchSettings(database_url=dispatch_db.url)
    team = str(uuid4())
    async with dispatch_db.transaction() as session:
        await teams.apply_team_change(session=session, event=team_event(team, capacity=0))
    old = datetime.now(UTC) - timedelta(hours=2)
    events = [request_event(urgency="normal", received_at=old), request_event(urgency="critical", received_at=old),
              request_event(urgency="critical", vulnerabilities=("elderly_alone",))]
    for event in events:
        async with dispatch_db.transaction() as session:
            await offers.take_request(session=session, event=event, settings=settings)
    normal, critical, elderly = (str(e.data.request_id) for e in events)

    tried: list[str] = []
    offer = offers.offer_to_best_team

    async def offer_then_free_a_unit(**arguments):
        result = await offer(**arguments)
        if not tried:
            async with dispatch_db.transaction() as other:
                assert await teams.apply_team_change(session=other, event=team_event(team, version=2, capacity=1))
        tried.append(arguments["request_id"])
        return result

    async def statuses() -> list[str]:
        async with dispatch_db.connect() as conn:
            return [(await store.get_request(conn, r)).status for r in (elderly, critical, normal)]

    monkeypatch.setattr(offers, "offer_to_best_team", offer_then_free_a_unit)
    sweeper = QueueSweeper(SimpleNamespace(db=dispatch_db), settings)
    await sweeper.sweep()
    assert tried == [elderly, critical, normal]
    assert await statuses() == ["queued", "queued", "queued"]
    await sweeper.sweep()
    assert await statuses() == ["offered", "queued", "queued"]
