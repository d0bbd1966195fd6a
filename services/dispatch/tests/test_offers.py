"""Offering requests to teams: the nearest team whose area covers the
request, polygons with holes, widening, escalation with its reason, an
escalated request offered once a team can take it, the queue's priority, and
which communities' teams may serve a request (offers.serving_communities);
on real PostgreSQL and NATS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from tests.support.waiting import eventually

from .conftest import (
    COMMUNITY,
    FAR,
    FAR_COMMUNITY,
    NEIGHBOUR,
    Dispatch,
    publish_tree,
    request_event,
    team_event,
)

# A square around the request's location (30.5950, 114.3000) with a hole in its middle.
SQUARE_WITH_HOLE = {
    "type": "Polygon",
    "coordinates": [
        [[114.28, 30.58], [114.32, 30.58], [114.32, 30.61], [114.28, 30.61], [114.28, 30.58]],
        [[114.295, 30.590], [114.305, 30.590], [114.305, 30.600], [114.295, 30.600], [114.295, 30.590]],
    ],
}


async def test_offers_to_the_nearest_team_whose_area_covers_the_request(dispatch: Dispatch) -> None:
    near, far = str(uuid4()), str(uuid4())
    await dispatch.publish(team_event(near, lat=30.5960, lon=114.3010))
    await dispatch.publish(team_event(far, lat=30.6300, lon=114.3300, radius_km=10))
    await dispatch.team_loaded(near), await dispatch.team_loaded(far)
    request = request_event()
    await dispatch.publish(request)
    body = await dispatch.wait_status(str(request.data.request_id), "offered")
    assert body["assignment"]["team_id"] == near
    assert body["assignment"]["distance_km"] < 1
    offered = await dispatch.bus.wait_for("aid.assignment.offered.v1",
                                          lambda e: e["data"]["request_id"] == str(request.data.request_id))
    assert offered["data"]["team_id"] == near
    changed = await dispatch.bus.wait_for(
        "aid.request.status_changed.v1",
        lambda e: e["data"]["request_id"] == str(request.data.request_id) and e["data"]["status"] == "offered")
    assert changed["data"]["community"] == "wuhan-jianghan-01"


async def test_a_polygon_area_with_a_hole_is_respected(dispatch: Dispatch) -> None:
    polygon_team, circle_team = str(uuid4()), str(uuid4())
    # The polygon team's base is right at the request, but the request is in its hole.
    await dispatch.publish(team_event(polygon_team, lat=30.5950, lon=114.3000, area=SQUARE_WITH_HOLE))
    await dispatch.publish(team_event(circle_team, lat=30.6100, lon=114.3200, radius_km=5))
    await dispatch.team_loaded(polygon_team), await dispatch.team_loaded(circle_team)
    in_hole = request_event(lat=30.5950, lon=114.3000)
    in_ring = request_event(lat=30.5850, lon=114.2850)
    await dispatch.publish(in_hole)
    await dispatch.publish(in_ring)
    hole = await dispatch.wait_status(str(in_hole.data.request_id), "offered")
    ring = await dispatch.wait_status(str(in_ring.data.request_id), "offered")
    assert hole["assignment"]["team_id"] == circle_team
    assert ring["assignment"]["team_id"] == polygon_team

    candidates = (await dispatch.client.get(f"/v1/requests/{in_hole.data.request_id}/candidates")).json()
    excluded = {e["team_id"]: e["reason"] for e in candidates["excluded"]}
    assert excluded[polygon_team] == "outside_area"


async def test_an_off_duty_team_is_not_offered_and_the_request_escalates_with_the_reason(dispatch: Dispatch) -> None:
    team = str(uuid4())
    await dispatch.publish(team_event(team, on_duty=False))
    await dispatch.team_loaded(team)
    request = request_event()
    await dispatch.publish(request)
    body = await dispatch.wait_status(str(request.data.request_id), "escalated")
    assert body["status_reason"] == "no team on duty"
    assert body["assignment"] is None
    event = await dispatch.bus.wait_for(
        "aid.request.status_changed.v1",
        lambda e: e["data"]["request_id"] == str(request.data.request_id) and e["data"]["status"] == "escalated")
    assert event["data"]["reason"] == "no team on duty"
    assert event["data"]["community"] == "wuhan-jianghan-01"
    # It widened once before giving up, and the history says so.
    reasons = [h["reason"] for h in body["history"]]
    assert any("widened" in (r or "") for r in reasons)


async def test_an_escalated_request_is_offered_once_a_team_can_take_it(dispatch: Dispatch) -> None:
    team = str(uuid4())
    await dispatch.publish(team_event(team, on_duty=False))
    await dispatch.team_loaded(team)
    request = request_event()
    request_id = str(request.data.request_id)
    await dispatch.publish(request)
    await dispatch.wait_status(request_id, "escalated")
    # The shift begins: volunteers publishes the team, now on duty.
    await dispatch.publish(team_event(team, version=2, on_duty=True))
    body = await dispatch.wait_status(request_id, "offered")
    assert body["assignment"]["team_id"] == team
    assert [(h["from_status"], h["to_status"]) for h in body["history"]][-1] == ("escalated", "offered")


async def test_escalation_names_a_missing_skill_and_a_location_outside_every_area(dispatch: Dispatch) -> None:
    team = str(uuid4())
    await dispatch.publish(team_event(team, categories=("daily_necessities",)))
    await dispatch.team_loaded(team)
    no_skill = request_event(category="medicine")
    far_away = request_event(lat=31.5, lon=115.5, category="daily_necessities")
    await dispatch.publish(no_skill)
    await dispatch.publish(far_away)
    assert (await dispatch.wait_status(str(no_skill.data.request_id), "escalated"))["status_reason"] \
        == "no team with the skill"
    assert (await dispatch.wait_status(str(far_away.data.request_id), "escalated"))["status_reason"] \
        == "outside every team's area"


async def test_the_search_widens_once_to_a_team_just_outside_its_area(dispatch: Dispatch) -> None:
    team = str(uuid4())
    # Base 7 km north of the request, radius 5 km: 2 km short, inside the 5 km widening.
    await dispatch.publish(team_event(team, lat=30.5950 + 7 / 111.2, lon=114.3000, radius_km=5))
    await dispatch.team_loaded(team)
    request = request_event()
    await dispatch.publish(request)
    body = await dispatch.wait_status(str(request.data.request_id), "offered")
    assert body["assignment"]["team_id"] == team
    assert body["widened"] is True
    assert "widened" in body["status_reason"]


async def test_the_queue_serves_urgency_then_vulnerability_then_age(dispatch: Dispatch) -> None:
    team = str(uuid4())
    await dispatch.publish(team_event(team, capacity=0))
    await dispatch.team_loaded(team)
    old = datetime.now(UTC) - timedelta(hours=2)
    normal_old = request_event(urgency="normal", received_at=old)
    critical = request_event(urgency="critical", received_at=old)
    critical_elderly = request_event(urgency="critical", vulnerabilities=("elderly_alone",))
    for event in (normal_old, critical, critical_elderly):
        await dispatch.publish(event)
    ids = [str(e.data.request_id) for e in (normal_old, critical, critical_elderly)]
    for request_id in ids:
        await eventually(lambda rid=request_id: _waiting(dispatch, rid), what="requests waiting for capacity")

    listed = (await dispatch.client.get("/v1/requests", params={"status": "queued"})).json()
    assert [r["id"] for r in listed] == [ids[2], ids[1], ids[0]]

    await dispatch.publish(team_event(team, version=2, capacity=1))
    first = await dispatch.wait_status(ids[2], "offered")
    assert first["assignment"]["team_id"] == team
    assert (await dispatch.request(ids[1]))["status"] == "queued"
    assert (await dispatch.request(ids[0]))["status"] == "queued"


async def _waiting(dispatch: Dispatch, request_id: str) -> bool:
    body = await dispatch.request(request_id)
    return body.get("status") == "queued" and (body.get("status_reason") or "").startswith("waiting")


async def test_a_request_that_needs_no_volunteer_goes_to_coordinators(dispatch: Dispatch) -> None:
    request = request_event(category="policy_question", needs_volunteer=False)
    await dispatch.publish(request)
    body = await dispatch.wait_status(str(request.data.request_id), "escalated")
    assert "coordinators" in body["status_reason"]


async def test_a_team_of_another_community_does_not_win_a_request_by_its_base(dispatch: Dispatch) -> None:
    # The attack: a team declared in jianghan-01 with its base in the
    # middle of hongshan-07, 50 km of reach, every skill, capacity 1000.
    await publish_tree(dispatch)
    ghost, theirs = str(uuid4()), str(uuid4())
    await dispatch.publish(team_event(ghost, lat=FAR[0], lon=FAR[1], radius_km=50, capacity=1000))
    await dispatch.publish(team_event(theirs, lat=FAR[0] + 0.02, lon=FAR[1], community=FAR_COMMUNITY))
    await dispatch.team_loaded(ghost), await dispatch.team_loaded(theirs)
    request = request_event(lat=FAR[0], lon=FAR[1] + 0.001, community=FAR_COMMUNITY)
    await dispatch.publish(request)
    body = await dispatch.wait_status(str(request.data.request_id), "offered")
    assert body["assignment"]["team_id"] == theirs and not body["widened"]
    candidates = (await dispatch.client.get(f"/v1/requests/{request.data.request_id}/candidates")).json()
    assert {e["team_id"]: e["reason"] for e in candidates["excluded"]}[ghost] == "other_community"

    # With hongshan-07's own team busy, the request escalates rather than go to the ghost.
    other = request_event(lat=FAR[0], lon=FAR[1] + 0.002, community=FAR_COMMUNITY, category="daily_necessities")
    await dispatch.publish(team_event(theirs, version=2, lat=FAR[0] + 0.02, lon=FAR[1], community=FAR_COMMUNITY,
                                      on_duty=False))
    await dispatch.team_loaded(theirs, 2)
    await dispatch.publish(other)
    escalated = await dispatch.wait_status(str(other.data.request_id), "escalated")
    assert escalated["assignment"] is None and escalated["widened"]


async def test_widening_reaches_sibling_communities_only_once_their_parent_is_known(dispatch: Dispatch) -> None:
    neighbours_team, unknown_team = str(uuid4()), str(uuid4())
    # Teams of jianghan-02 and of a community nobody published, both next to a
    # jianghan-01 request that has no team of its own.
    await dispatch.publish(team_event(neighbours_team, community=NEIGHBOUR, lat=30.5960, lon=114.3010))
    await dispatch.publish(team_event(unknown_team, community="wuhan-nowhere-99", lat=30.5951, lon=114.3001))
    await dispatch.team_loaded(neighbours_team), await dispatch.team_loaded(unknown_team)
    before = request_event()
    await dispatch.publish(before)
    # Before the read model knows jianghan-02 is a sibling: no team may take it.
    escalated = await dispatch.wait_status(str(before.data.request_id), "escalated")
    assert escalated["widened"] and escalated["assignment"] is None

    await publish_tree(dispatch)
    after = request_event()
    await dispatch.publish(after)
    body = await dispatch.wait_status(str(after.data.request_id), "offered")
    # Widened to the sibling's team, never to the team of the unknown community (nearer).
    assert body["widened"] and body["assignment"]["team_id"] == neighbours_team
    assert body["community"] == COMMUNITY
