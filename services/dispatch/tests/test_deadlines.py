"""Stored deadlines: an offer expires and moves on, a deadline survives a
restart, waiting for capacity escalates in time, and an SLA breach is
announced once; on real PostgreSQL and NATS."""

from __future__ import annotations

from uuid import uuid4

from tests.support.waiting import eventually

from .conftest import open_tasks, request_event, team_event, two_teams


async def test_an_offer_expires_at_its_stored_deadline_and_the_next_team_gets_it(start_dispatch) -> None:
    # 0.02 minutes = 1.2 s for a high-urgency offer.
    async with start_dispatch(offer_minutes_high=0.02) as dispatch:
        near, next_ = await two_teams(dispatch)
        request = request_event()
        request_id = str(request.data.request_id)
        await dispatch.publish(request)

        async def moved_on():
            history = (await dispatch.client.get(f"/v1/requests/{request_id}/history")).json()
            states = {a["team_id"]: a["state"] for a in history.get("assignments", [])}
            return states if next_ in states else None

        # The next team's offer expires 1.2 s later in turn: look for it in the
        # history, not as the current offer, which a busy machine may miss.
        states = await eventually(moved_on, what="the expired offer to move to the next team")
        assert states[near] == "expired"
        assert await open_tasks(dispatch, near) == 0


async def test_an_offer_deadline_survives_a_restart(start_dispatch, make_database) -> None:
    database = await make_database("dispatch")
    async with start_dispatch(database) as dispatch:
        near, next_ = await two_teams(dispatch)
        request = request_event()
        request_id = str(request.data.request_id)
        await dispatch.publish(request)
        await dispatch.wait_status(request_id, "offered")
    # The deadline was an hour away; a new process with a short deadline still
    # expires it because it is stored.  Pull it into the past directly.
    await dispatch.sql("UPDATE assignments SET offer_expires_at = now() - interval '1 second'")
    async with start_dispatch(database) as restarted:
        async def moved_on():
            body = await restarted.request(request_id)
            return body if body["assignment"] and body["assignment"]["team_id"] == next_ else None

        await eventually(moved_on, what="the restarted dispatch to expire the stored deadline")
        expired = await restarted.sql(
            "SELECT count(*) AS n FROM audit WHERE request_id = $1 AND reason LIKE 'expired:%'", request_id)
        assert expired[0]["n"] == 1


async def test_waiting_for_capacity_escalates_at_its_deadline_and_sla_breach_is_announced(start_dispatch) -> None:
    async with start_dispatch(wait_minutes_high=0.02, sla_minutes_high=0.03) as dispatch:
        team = str(uuid4())
        await dispatch.publish(team_event(team, capacity=1))
        await dispatch.team_loaded(team)
        first, second = request_event(), request_event()
        await dispatch.publish(first)
        await dispatch.wait_status(str(first.data.request_id), "offered")
        await dispatch.publish(second)
        escalated = await dispatch.wait_status(str(second.data.request_id), "escalated")
        assert escalated["status_reason"] == "no team with free capacity"
        breach = await dispatch.bus.wait_for(
            "aid.request.sla_breached.v1", lambda e: e["data"]["request_id"] == str(second.data.request_id))
        assert breach["data"]["urgency"] == "high"
        breaches = await dispatch.bus.published("aid.request.sla_breached.v1")
        assert sum(e["data"]["request_id"] == str(second.data.request_id) for e in breaches) == 1
