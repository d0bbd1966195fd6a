"""Dispatch's read model of teams: a team change takes effect, and an older
version arriving late is ignored; on real PostgreSQL and NATS."""

from __future__ import annotations

from uuid import uuid4

from .conftest import Dispatch, request_event, team_event


async def test_a_team_change_takes_effect_and_old_versions_are_ignored(dispatch: Dispatch) -> None:
    team = str(uuid4())
    await dispatch.publish(team_event(team, version=2, on_duty=False))
    await dispatch.team_loaded(team, 2)
    await dispatch.publish(team_event(team, version=1, on_duty=True))  # late, older: ignored
    request = request_event()
    await dispatch.publish(request)
    await dispatch.wait_status(str(request.data.request_id), "escalated")
    await dispatch.bus.settled("dispatch-teams")  # the late version 1 was handled (another consumer)
    rows = await dispatch.sql("SELECT version, on_duty FROM teams WHERE id = $1", team)
    assert (rows[0]["version"], rows[0]["on_duty"]) == (2, False)

    # Volunteers republishes at the shift boundary: now on duty, new requests get the team.
    await dispatch.publish(team_event(team, version=3, on_duty=True))
    await dispatch.team_loaded(team, 3)
    later = request_event()
    await dispatch.publish(later)
    assert (await dispatch.wait_status(str(later.data.request_id), "offered"))["assignment"]["team_id"] == team
