"""Every state transition, deadlines, replies relayed by notify, cancellations
and feedback, on real PostgreSQL and NATS."""

from __future__ import annotations

from uuid import uuid4

from .conftest import (
    Dispatch,
    cancelled_event,
    eventually,
    feedback_event,
    replied_event,
    request_event,
    team_event,
)


async def _two_teams(dispatch: Dispatch) -> tuple[str, str]:
    near, next_ = str(uuid4()), str(uuid4())
    await dispatch.publish(team_event(near, lat=30.5955, lon=114.3005, capacity=1))
    await dispatch.publish(team_event(next_, lat=30.6000, lon=114.3100, capacity=1))
    await dispatch.team_loaded(near), await dispatch.team_loaded(next_)
    return near, next_


async def _open_tasks(dispatch: Dispatch, team_id: str) -> int:
    return (await dispatch.sql("SELECT open_tasks FROM teams WHERE id = $1", team_id))[0]["open_tasks"]


async def test_offer_accept_start_complete_close(dispatch: Dispatch) -> None:
    near, _ = await _two_teams(dispatch)
    request = request_event()
    request_id = str(request.data.request_id)
    await dispatch.publish(request)
    offered = await dispatch.wait_status(request_id, "offered")
    assignment = offered["assignment"]["id"]
    assert await _open_tasks(dispatch, near) == 1

    # Start before accept is illegal: 409 naming the current state.
    refused = await dispatch.client.post(f"/v1/assignments/{assignment}/start")
    assert refused.status_code == 409
    assert refused.json()["current_state"] == "offered"
    assert "offered" in refused.json()["detail"]

    for action, status in (("accept", "accepted"), ("start", "in_progress"), ("complete", "done")):
        response = await dispatch.client.post(f"/v1/assignments/{assignment}/{action}")
        assert response.status_code == 200, response.text
        assert (await dispatch.request(request_id))["status"] == status
    assert await _open_tasks(dispatch, near) == 0  # done frees the unit

    again = await dispatch.client.post(f"/v1/assignments/{assignment}/complete")
    assert again.status_code == 409 and again.json()["current_state"] == "done"
    cancel = await dispatch.client.post(f"/v1/requests/{request_id}/cancel", json={"reason": "too late"})
    assert cancel.status_code == 409 and cancel.json()["current_state"] == "done"

    await dispatch.publish(feedback_event(request_id))
    closed = await dispatch.wait_status(request_id, "closed")
    statuses = [h["to_status"] for h in closed["history"]]
    assert statuses == ["queued", "offered", "accepted", "in_progress", "done", "closed"]
    assert all(h["actor"] and h["at"] for h in closed["history"])

    async def sequences():
        found = [e["data"]["sequence"] for e in await dispatch.bus.published("aid.request.status_changed.v1")
                 if e["data"]["request_id"] == request_id]
        return found if len(found) >= 6 else None
    # The outbox relay publishes after the commit: the last change may not be out yet.
    assert sorted(await eventually(sequences, what="six status changes on the bus")) == list(range(1, 7))


async def test_a_decline_goes_to_the_next_team_and_then_escalates(dispatch: Dispatch) -> None:
    near, next_ = await _two_teams(dispatch)
    request = request_event()
    request_id = str(request.data.request_id)
    await dispatch.publish(request)
    first = await dispatch.wait_status(request_id, "offered")
    assert first["assignment"]["team_id"] == near
    declined = await dispatch.client.post(f"/v1/assignments/{first['assignment']['id']}/decline",
                                          json={"reason": "no car today"})
    assert declined.status_code == 200 and declined.json()["state"] == "declined"

    async def offered_to_next():
        body = await dispatch.request(request_id)
        return body if body["status"] == "offered" and body["assignment"]["team_id"] == next_ else None

    second = await eventually(offered_to_next, what="the offer to the next team")
    assert await _open_tasks(dispatch, near) == 0
    await dispatch.client.post(f"/v1/assignments/{second['assignment']['id']}/decline")
    escalated = await dispatch.wait_status(request_id, "escalated")
    assert escalated["status_reason"] == "every team declined or let the offer expire"


async def test_an_offer_expires_at_its_stored_deadline_and_the_next_team_gets_it(start_dispatch) -> None:
    # 0.02 minutes = 1.2 s for a high-urgency offer.
    async with start_dispatch(offer_minutes_high=0.02) as dispatch:
        near, next_ = await _two_teams(dispatch)
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
        assert await _open_tasks(dispatch, near) == 0


async def test_an_offer_deadline_survives_a_restart(start_dispatch, make_database) -> None:
    database = await make_database("dispatch")
    async with start_dispatch(database) as dispatch:
        near, next_ = await _two_teams(dispatch)
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


async def test_replies_by_sms_act_like_the_api_and_stale_ones_are_recorded(dispatch: Dispatch) -> None:
    near, next_ = await _two_teams(dispatch)
    request = request_event()
    request_id = str(request.data.request_id)
    await dispatch.publish(request)
    offer = (await dispatch.wait_status(request_id, "offered"))["assignment"]

    await dispatch.publish(replied_event(offer, "decline"))
    async def offered_to_next():
        body = await dispatch.request(request_id)
        return body if body["status"] == "offered" and body["assignment"]["team_id"] == next_ else None
    second = (await eventually(offered_to_next, what="the decline by SMS to move the offer on"))["assignment"]

    # The first team changes its mind: the offer is no longer theirs.
    await dispatch.publish(replied_event(offer, "accept"))
    await dispatch.publish(replied_event(second, "accept"))
    await dispatch.wait_status(request_id, "accepted")
    await dispatch.publish(replied_event(second, "complete"))
    await dispatch.wait_status(request_id, "done")

    async def noted():
        notes = (await dispatch.client.get(f"/v1/requests/{request_id}/history")).json()["notes"]
        return [n for n in notes if "ignored sms reply 'accept'" in n["text"]]
    notes = await eventually(noted, what="the stale reply to be recorded")
    assert "declined" in notes[0]["text"]
    history = (await dispatch.request(request_id))["history"]
    assert [h["to_status"] for h in history][-2:] == ["accepted", "done"]
    assert "via sms" in history[-1]["actor"]


async def test_a_cancellation_releases_the_teams_capacity(dispatch: Dispatch) -> None:
    near, _ = await _two_teams(dispatch)
    request = request_event()
    request_id = str(request.data.request_id)
    await dispatch.publish(request)
    offer = (await dispatch.wait_status(request_id, "offered"))["assignment"]
    await dispatch.client.post(f"/v1/assignments/{offer['id']}/accept")
    assert await _open_tasks(dispatch, near) == 1
    await dispatch.publish(cancelled_event(request_id))
    cancelled = await dispatch.wait_status(request_id, "cancelled")
    assert cancelled["history"][-1]["actor"] == "requester"
    assert await _open_tasks(dispatch, near) == 0
    # The event names the team that held it, so that it can be told to stand down.
    event = await dispatch.bus.wait_for(
        "aid.request.status_changed.v1",
        lambda e: e["data"]["request_id"] == request_id and e["data"]["status"] == "cancelled")
    assert (event["data"]["team_id"], event["data"]["assignment_id"]) == (near, offer["id"])
    late = await dispatch.client.post(f"/v1/assignments/{offer['id']}/start")
    assert late.status_code == 409 and late.json()["current_state"] == "cancelled"
    # A repeated cancellation changes nothing and does not loop.
    await dispatch.publish(cancelled_event(request_id))
    await dispatch.publish(feedback_event(request_id))  # feedback on a cancelled request: ignored
    later = request_event()
    await dispatch.publish(later)
    await dispatch.wait_status(str(later.data.request_id), "offered")
    # Other consumers than the later request's: wait until they handled theirs.
    for consumer in ("dispatch-cancellations", "dispatch-feedback"):
        await dispatch.bus.settled(consumer)
    assert (await dispatch.request(request_id))["status"] == "cancelled"


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
