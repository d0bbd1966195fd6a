"""Team and coordinator actions on a request: accept, decline, start and
complete (by API and by relayed SMS reply), cancellation, feedback closing a
done request, manual assignment with a capacity override, notes, and scoping
to a coordinator's communities; on real PostgreSQL and NATS."""

from __future__ import annotations

from uuid import uuid4

from tests.support.waiting import eventually

from .conftest import (
    COMMUNITY,
    FAR_COMMUNITY,
    JIANGHAN,
    NEIGHBOUR,
    Dispatch,
    cancelled_event,
    coordinator_headers,
    feedback_event,
    open_tasks,
    publish_tree,
    replied_event,
    request_event,
    team_event,
    two_teams,
)

OTHER = "wuhan-wuchang-02"


async def test_offer_accept_start_complete_close(dispatch: Dispatch) -> None:
    near, _ = await two_teams(dispatch)
    request = request_event()
    request_id = str(request.data.request_id)
    await dispatch.publish(request)
    offered = await dispatch.wait_status(request_id, "offered")
    assignment = offered["assignment"]["id"]
    assert await open_tasks(dispatch, near) == 1

    # Start before accept is illegal: 409 naming the current state.
    refused = await dispatch.client.post(f"/v1/assignments/{assignment}/start")
    assert refused.status_code == 409
    assert refused.json()["current_state"] == "offered"
    assert "offered" in refused.json()["detail"]

    for action, status in (("accept", "accepted"), ("start", "in_progress"), ("complete", "done")):
        response = await dispatch.client.post(f"/v1/assignments/{assignment}/{action}")
        assert response.status_code == 200, response.text
        assert (await dispatch.request(request_id))["status"] == status
    assert await open_tasks(dispatch, near) == 0  # done frees the unit

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
    near, next_ = await two_teams(dispatch)
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
    assert await open_tasks(dispatch, near) == 0
    await dispatch.client.post(f"/v1/assignments/{second['assignment']['id']}/decline")
    escalated = await dispatch.wait_status(request_id, "escalated")
    assert escalated["status_reason"] == "every team declined or let the offer expire"


async def test_replies_by_sms_act_like_the_api_and_stale_ones_are_recorded(dispatch: Dispatch) -> None:
    near, next_ = await two_teams(dispatch)
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
    near, _ = await two_teams(dispatch)
    request = request_event()
    request_id = str(request.data.request_id)
    await dispatch.publish(request)
    offer = (await dispatch.wait_status(request_id, "offered"))["assignment"]
    await dispatch.client.post(f"/v1/assignments/{offer['id']}/accept")
    assert await open_tasks(dispatch, near) == 1
    await dispatch.publish(cancelled_event(request_id))
    cancelled = await dispatch.wait_status(request_id, "cancelled")
    assert cancelled["history"][-1]["actor"] == "requester"
    assert await open_tasks(dispatch, near) == 0
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


async def test_manual_assign_respects_capacity_unless_overridden_and_is_audited(dispatch: Dispatch) -> None:
    first, full = str(uuid4()), str(uuid4())
    await dispatch.publish(team_event(first, lat=30.5960, lon=114.3010, capacity=1))
    await dispatch.publish(team_event(full, capacity=0, lat=30.60))
    await dispatch.team_loaded(first), await dispatch.team_loaded(full)
    request = request_event()
    request_id = str(request.data.request_id)
    await dispatch.publish(request)
    await dispatch.wait_status(request_id, "offered")

    refused = await dispatch.client.post(f"/v1/requests/{request_id}/assign",
                                         json={"team_id": full, "reason": "they know her"})
    assert refused.status_code == 409 and "capacity" in refused.json()["detail"]
    missing_reason = await dispatch.client.post(f"/v1/requests/{request_id}/assign", json={"team_id": full})
    assert missing_reason.status_code == 422 and missing_reason.json()["errors"][0]["field"] == "reason"
    unknown = await dispatch.client.post(f"/v1/requests/{request_id}/assign",
                                         json={"team_id": str(uuid4()), "reason": "x"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "team_id"

    moved = await dispatch.client.post(f"/v1/requests/{request_id}/assign",
                                       json={"team_id": full, "reason": "they know her", "override_capacity": True})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["status"] == "offered" and body["assignment"]["team_id"] == full
    assert "capacity override" in body["history"][-1]["reason"]
    assert body["history"][-1]["actor"] == "admin"
    rows = await dispatch.sql("SELECT id, open_tasks FROM teams")
    assert {r["id"]: r["open_tasks"] for r in rows} == {first: 0, full: 1}
    history = (await dispatch.client.get(f"/v1/requests/{request_id}/history")).json()
    assert [a["state"] for a in history["assignments"]] == ["reassigned", "offered"]


async def test_notes_and_scoping_to_a_coordinators_communities(dispatch: Dispatch) -> None:
    team = str(uuid4())
    await dispatch.publish(team_event(team))
    await dispatch.team_loaded(team)
    mine, theirs = request_event(), request_event(community=OTHER)
    await dispatch.publish(mine)
    await dispatch.publish(theirs)
    await dispatch.wait_status(str(mine.data.request_id), "offered")
    await eventually(lambda: dispatch.request(str(theirs.data.request_id)), what="the other request")

    coordinator = coordinator_headers(COMMUNITY)
    listed = await dispatch.client.get("/v1/requests", headers=coordinator)
    assert [r["id"] for r in listed.json()] == [str(mine.data.request_id)]
    # Outside the caller's scope a request does not exist: 404, never a 403 that confirms it does.
    forbidden = await dispatch.client.get(f"/v1/requests/{theirs.data.request_id}", headers=coordinator)
    assert forbidden.status_code == 404
    cancel = await dispatch.client.post(f"/v1/requests/{theirs.data.request_id}/cancel",
                                        json={"reason": "x"}, headers=coordinator)
    assert cancel.status_code == 404
    assert (await dispatch.request(str(theirs.data.request_id)))["status"] != "cancelled"

    note = await dispatch.client.post(f"/v1/requests/{mine.data.request_id}/notes",
                                      json={"text": "called her, she is fine until tonight"}, headers=coordinator)
    assert note.status_code == 201 and note.json()["author"] == "coord-zhang"
    empty = await dispatch.client.post(f"/v1/requests/{mine.data.request_id}/notes", json={"text": ""},
                                       headers=coordinator)
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "text"
    assignment = (await dispatch.request(str(mine.data.request_id)))["assignment"]["id"]
    accepted = await dispatch.client.post(f"/v1/assignments/{assignment}/accept", headers=coordinator)
    assert accepted.status_code == 200
    history = (await dispatch.client.get(f"/v1/requests/{mine.data.request_id}/history", headers=coordinator)).json()
    assert history["notes"][0]["text"].startswith("called her")
    assert history["request"]["history"][-1]["actor"] == "coord-zhang"

    held_before = (await dispatch.sql("SELECT open_tasks FROM teams"))[0]["open_tasks"]
    cancelled = await dispatch.client.post(f"/v1/requests/{mine.data.request_id}/cancel",
                                           json={"reason": "moved to hospital"}, headers=coordinator)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await dispatch.sql("SELECT open_tasks FROM teams"))[0]["open_tasks"] == held_before - 1


async def _a_request_and_teams_of_three_communities(dispatch: Dispatch) -> tuple[str, dict[str, str]]:
    """A jianghan-01 request offered to its own team; teams of jianghan-02 and
    hongshan-07 nearby (their bases set near it, as a ghost team's would be)."""
    await publish_tree(dispatch)
    teams = {COMMUNITY: str(uuid4()), NEIGHBOUR: str(uuid4()), FAR_COMMUNITY: str(uuid4())}
    for i, (community, team) in enumerate(teams.items()):
        await dispatch.publish(team_event(team, lat=30.5955 + 0.002 * i, lon=114.3005, community=community))
        await dispatch.team_loaded(team)
    request = request_event()
    await dispatch.publish(request)
    body = await dispatch.wait_status(str(request.data.request_id), "offered")
    assert body["assignment"]["team_id"] == teams[COMMUNITY]
    return str(request.data.request_id), teams


async def test_manual_assign_refuses_a_team_of_another_community(dispatch: Dispatch) -> None:
    request_id, teams = await _a_request_and_teams_of_three_communities(dispatch)
    url = f"/v1/requests/{request_id}/assign"
    # The attack: the coordinator of jianghan-01 hands its request to a
    # team of hongshan-07 (outside its scope: as if it did not exist).
    outside = await dispatch.client.post(url, json={"team_id": teams[FAR_COMMUNITY], "reason": "closer"},
                                         headers=coordinator_headers(COMMUNITY))
    assert outside.status_code == 404
    # Both communities in scope, but named one by one (no district): not the request's community.
    both = coordinator_headers(COMMUNITY, FAR_COMMUNITY)
    other = await dispatch.client.post(url, json={"team_id": teams[FAR_COMMUNITY], "reason": "closer",
                                                  "override_capacity": True}, headers=both)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "team_id"
    # A community coordinator cannot reach its district's other community either.
    sibling = await dispatch.client.post(url, json={"team_id": teams[NEIGHBOUR], "reason": "closer"},
                                         headers=coordinator_headers(COMMUNITY))
    assert sibling.status_code == 404
    # An admin's scope holds the city both districts are in, as a city coordinator's would.
    assert (await dispatch.client.post(url, json={"team_id": teams[FAR_COMMUNITY], "reason": "x"})).status_code == 200
    body = await dispatch.request(request_id)
    assert body["assignment"]["team_id"] == teams[FAR_COMMUNITY]


async def test_a_district_coordinator_moves_a_request_to_a_neighbouring_communitys_team(dispatch: Dispatch) -> None:
    request_id, teams = await _a_request_and_teams_of_three_communities(dispatch)
    district = coordinator_headers(JIANGHAN)
    moved = await dispatch.client.post(f"/v1/requests/{request_id}/assign",
                                       json={"team_id": teams[NEIGHBOUR], "reason": "they know her"},
                                       headers=district)
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["assignment"]["team_id"] == teams[NEIGHBOUR] and body["community"] == COMMUNITY
    assert body["history"][-1]["actor"] == "coord-zhang"
    assert body["history"][-1]["reason"] == "reassigned by coordinator: they know her"
    far = await dispatch.client.post(f"/v1/requests/{request_id}/assign",
                                     json={"team_id": teams[FAR_COMMUNITY], "reason": "x"}, headers=district)
    assert far.status_code == 404
    # The capacity override still needs a reason and is audited with who and why.
    await dispatch.publish(team_event(teams[COMMUNITY], version=2, capacity=0))
    await dispatch.team_loaded(teams[COMMUNITY], 2)
    refused = await dispatch.client.post(f"/v1/requests/{request_id}/assign", headers=district,
                                         json={"team_id": teams[COMMUNITY], "override_capacity": True})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "reason"
    back = await dispatch.client.post(f"/v1/requests/{request_id}/assign", headers=district,
                                      json={"team_id": teams[COMMUNITY], "reason": "her usual team",
                                            "override_capacity": True})
    assert back.status_code == 200, back.text
    last = back.json()["history"][-1]
    assert last["actor"] == "coord-zhang" and last["reason"].startswith("reassigned by coordinator: her usual team")
    assert "capacity override" in last["reason"]
