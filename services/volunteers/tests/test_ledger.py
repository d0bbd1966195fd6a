"""The points ledger: dispatch's completions paid by the rules, idempotency, adjustments, leaderboard."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from shared.contracts import RequestReceivedV1, RequestStatusChangedV1
from tests.support.bus import TestBus
from tests.support.waiting import eventually

from .conftest import local, member, team_body
from .test_coordinators import bearer, coordinator


def received(request_id, category="medicine", urgency="high") -> RequestReceivedV1:
    return RequestReceivedV1(source="heartline/intake", correlationid=str(request_id), data=dict(
        request_id=request_id, reference="R-1", category=category, needs_volunteer=True,
        description="insulin", location={"lat": 30.59, "lon": 114.30}, urgency=urgency,
        requester={"name": "Li Na", "phone": "+8613800138000"}, received_at=datetime.now(UTC)))


def done(request_id, team_id, assignment_id, at) -> RequestStatusChangedV1:
    return RequestStatusChangedV1(source="heartline/dispatch", correlationid=str(request_id), data=dict(
        request_id=request_id, status="done", previous_status="in_progress", sequence=5,
        team_id=team_id, assignment_id=assignment_id, community="c1", changed_at=at))


async def wait_for_fact(app, request_id) -> None:
    """Until volunteers has recorded the request's category (a separate consumer)."""
    from services.volunteers import store

    async def recorded():
        async with app.state.runtime.db.transaction() as session:
            return await store.get_request_fact(session, str(request_id))

    await eventually(recorded, what="the request's facts to be recorded")


async def points(client, member_id) -> dict:
    return (await client.get(f"/v1/members/{member_id}/points")).json()


async def wait_points(client, member_id, total: int) -> dict:
    async def reached():
        got = await points(client, member_id)
        return got if got["total"] == total else None

    return await eventually(reached, what=f"member {member_id}'s points to reach {total}")


async def test_a_done_assignment_pays_the_members_on_duty_once(make_volunteers, bus_env, clock) -> None:
    app, volunteers = await make_volunteers()
    schedule = {"weekly": [p for w in range(7) for p in (
        {"weekday": w, "start": "08:00", "end": "20:00", "group": "A"},
        {"weekday": w, "start": "20:00", "end": "08:00", "group": "B"})]}
    team = (await volunteers.post("/v1/teams", json=team_body(community="c1", schedule=schedule))).json()
    day = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Li", "+8613800000061", "A"))).json()
    night = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Sun", "+8613800000062", "B"))).json()
    for m in (day, night):
        await volunteers.post(f"/v1/members/{m['id']}/checkins", json={"status": "ok"})
    request_id, assignment_id = uuid4(), uuid4()
    async with TestBus(bus_env) as bus:
        await bus.publish(received(request_id, "medicine", "high"))
        await wait_for_fact(app, request_id)
        first = done(request_id, team["id"], assignment_id, local("2025-03-03", 15))
        # The same completion twice, under different message ids: JetStream cannot
        # drop the second, the ledger must.  Then the very same event redelivered.
        await bus.publish(first, msg_id="m-1")
        await bus.publish(done(request_id, team["id"], assignment_id, local("2025-03-03", 15)), msg_id="m-2")
        await bus.publish(first, msg_id="m-3")
        later = done(uuid4(), team["id"], uuid4(), local("2025-03-03", 16))
        await bus.publish(later)
        # Points for the later one do not show the three were consumed before
        # it (events fetched together are handled side by side): wait for all.
        await bus.settled("volunteers-points")
    got = await points(volunteers, day["id"])
    assert got["total"] == 23 + 10  # 15 × 1.5 rounded, then default 10
    assert [e["points"] for e in got["entries"]] == [23, 10]
    assert "medicine, high" in got["entries"][0]["reason"]
    assert got["entries"][0]["source_key"] == f"assignment:{assignment_id}:{day['id']}"
    assert (await points(volunteers, night["id"]))["total"] == 0  # off shift at 15:00

    token = bearer((await coordinator(volunteers, ["c1"]))["token"])
    adjusted = await volunteers.post(f"/v1/members/{night['id']}/points",
                                     json={"points": 5, "reason": "sorted the supplies"}, headers=token)
    assert adjusted.status_code == 201 and adjusted.json()["created_by"].startswith("coordinator:")
    board = (await volunteers.get("/v1/leaderboard", params={"community": "c1"})).json()
    assert [(r["rank"], r["name"], r["points"]) for r in board] == [(1, "Li", 33), (2, "Sun", 5)]
    assert (await volunteers.get("/v1/leaderboard", params={"community": "c2"})).json() == []


async def test_adjustments_need_a_reason_and_the_right_community(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body(community="c1"))).json()
    m = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Li", "+8613800000071"))).json()
    no_reason = await volunteers.post(f"/v1/members/{m['id']}/points", json={"points": 5, "reason": ""})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    zero = await volunteers.post(f"/v1/members/{m['id']}/points", json={"points": 0, "reason": "nothing"})
    assert zero.status_code == 422
    other = bearer((await coordinator(volunteers, ["c2"]))["token"])
    forbidden = await volunteers.post(f"/v1/members/{m['id']}/points", json={"points": 5, "reason": "why not"},
                                      headers=other)
    assert forbidden.status_code == 404  # out of scope: as if it were not there
    assert (await points(volunteers, m["id"]))["total"] == 0


async def test_nobody_on_duty_means_the_whole_team_shares(volunteers, bus_env) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body(community="c1"))).json()
    a = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Li", "+8613800000081"))).json()
    b = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Sun", "+8613800000082"))).json()
    async with TestBus(bus_env) as bus:  # nobody checked in; the request was never seen: default points
        await bus.publish(done(uuid4(), team["id"], uuid4(), local("2025-03-03", 15)))
    for m in (a, b):
        got = await wait_points(volunteers, m["id"], 10)
        assert "whole team" in got["entries"][0]["reason"]
