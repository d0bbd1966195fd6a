"""Members, check-ins and moves through the API, and the team state they drive."""

from __future__ import annotations

from tests.support.bus import TestBus

from .conftest import SPLIT, member, team_body, team_version


async def test_checkins_drive_capacity_and_the_published_event(volunteers, bus_env, clock) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body(schedule=SPLIT))).json()
    a1 = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Li", "+8613800000001", "A"))).json()
    a2 = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Zhao", "+8613800000002", "A"))).json()
    await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Sun", "+8613800000003", "B"))
    # Nobody has checked in today: off duty, no capacity.
    state = (await volunteers.get(f"/v1/teams/{team['id']}")).json()
    assert (state["on_duty"], state["effective_capacity"]) == (False, 0)

    ok = await volunteers.post(f"/v1/members/{a1['id']}/checkins", json={"status": "ok"})
    assert ok.status_code == 201 and ok.json()["day"] == "2025-03-03"
    await volunteers.post(f"/v1/members/{a2['id']}/checkins", json={"status": "ok"})
    state = (await volunteers.get(f"/v1/teams/{team['id']}")).json()
    assert (state["on_duty"], state["effective_capacity"]) == (True, 2)
    async with TestBus(bus_env) as bus:
        event = await team_version(bus, team["id"], state["version"])
        assert (event["capacity"], event["on_duty"]) == (2, True)
        assert event["next_change_at"].startswith("2025-03-03T12:00")  # 20:00 Shanghai in UTC

        unwell = await volunteers.post(f"/v1/members/{a2['id']}/checkins", json={"status": "unwell"})
        assert unwell.status_code == 201
        after = (await volunteers.get(f"/v1/teams/{team['id']}")).json()
        assert after["effective_capacity"] == 1 and after["version"] == state["version"] + 1
        event = await team_version(bus, team["id"], after["version"])
        assert event["capacity"] == 1
    members = (await volunteers.get(f"/v1/teams/{team['id']}/members")).json()
    assert {m["name"]: m["fit"] for m in members} == {"Li": True, "Zhao": False, "Sun": False}


async def test_moving_a_member_is_recorded_and_changes_both_teams(volunteers, bus_env) -> None:
    first = (await volunteers.post("/v1/teams", json=team_body(name="First"))).json()
    second = (await volunteers.post("/v1/teams", json=team_body(name="Second"))).json()
    m = (await volunteers.post(f"/v1/teams/{first['id']}/members", json=member("Li", "+8613800000021"))).json()
    await volunteers.post(f"/v1/members/{m['id']}/checkins", json={"status": "ok"})
    assert (await volunteers.get(f"/v1/teams/{first['id']}")).json()["effective_capacity"] == 1
    moved = await volunteers.post(f"/v1/members/{m['id']}/move", json={"team_id": second["id"], "reason": "short-handed"})
    assert moved.status_code == 200 and moved.json()["team_id"] == second["id"]
    # The first team has no members left: the simple deployment again (nominal capacity).
    assert (await volunteers.get(f"/v1/teams/{first['id']}")).json()["effective_capacity"] == 4
    assert (await volunteers.get(f"/v1/teams/{second['id']}")).json()["effective_capacity"] == 1
    moves = (await volunteers.get(f"/v1/members/{m['id']}/moves")).json()
    assert [(x["from_team_id"], x["to_team_id"], x["reason"]) for x in moves] == [
        (None, first["id"], "joined"), (first["id"], second["id"], "short-handed")]
    # One team at a time: the same phone cannot join again.
    again = await volunteers.post(f"/v1/teams/{first['id']}/members", json=member("Li", "+86 138 0000 0021"))
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "phone"
