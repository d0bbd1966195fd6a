"""Members, shifts, check-ins and the published team state, on real
PostgreSQL and NATS, with a driven clock."""

from __future__ import annotations

from tests.support.bus import TestBus
from tests.support.waiting import wait_until  # noqa: F401  (kept for parity with other suites)

from .conftest import local

TEAM_CHANGED = "aid.team.changed.v1"


def team_body(**extra) -> dict:
    body = {
        "name": "Jianghan night and day",
        "community": "wuhan-jianghan-01",
        "location": {"lat": 30.5928, "lon": 114.3055},
        "radius_km": 3.0,
        "skills": ["delivery", "medicine_purchase"],
        "capacity": 4,
        "leader": {"name": "Wang Wei", "phone": "+8613900139000"},
    }
    body.update(extra)
    return body


SPLIT = {"weekly": [
    part for w in range(7)
    for part in ({"weekday": w, "start": "08:00", "end": "20:00", "group": "A"},
                 {"weekday": w, "start": "20:00", "end": "08:00", "group": "B"})
]}


def member(name: str, phone: str, group: str | None = None) -> dict:
    return {"name": name, "phone": phone, "skills": ["delivery"], "duty": "delivery", "group": group}


async def team_version(bus: TestBus, team_id: str, version: int) -> dict:
    return (await bus.wait_for(TEAM_CHANGED, lambda e: e["data"]["team_id"] == team_id
                               and e["data"]["version"] == version))["data"]


async def test_a_team_without_members_or_schedule_is_always_on_duty(volunteers, bus_env) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    assert (team["on_duty"], team["effective_capacity"], team["next_change_at"]) == (True, 4, None)
    async with TestBus(bus_env) as bus:
        event = await team_version(bus, team["id"], 1)
    assert (event["capacity"], event["on_duty"], event["area"]) == (4, True, None)
    assert set(event["categories"]) >= {"medicine", "daily_necessities"}


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


async def test_the_shift_boundary_is_published_when_it_comes(volunteers, bus_env, clock) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body(schedule=SPLIT))).json()
    day = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Li", "+8613800000011", "A"))).json()
    night = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Sun", "+8613800000012", "B"))).json()
    for m in (day, night):
        await volunteers.post(f"/v1/members/{m['id']}/checkins", json={"status": "ok"})
    before = (await volunteers.get(f"/v1/teams/{team['id']}")).json()
    assert (before["on_duty"], before["effective_capacity"]) == (True, 1)

    clock.now = local("2025-03-03", 20, 1)  # past the 20:00 hand-over: nobody edits anything
    async with TestBus(bus_env) as bus:
        event = await bus.wait_for(TEAM_CHANGED, lambda e: e["data"]["team_id"] == team["id"]
                                   and e["data"]["version"] > before["version"])
    data = event["data"]
    assert data["on_duty"] is True and data["capacity"] == 1  # the night group took over
    assert data["next_change_at"].startswith("2025-03-03T16:00")  # local midnight: check-ins roll over
    duty_now = (await volunteers.get(f"/v1/teams/{team['id']}/duty")).json()
    assert duty_now["available_members"] == 1

    clock.now = local("2025-03-04", 0, 1)  # a new day: nobody has checked in yet
    async with TestBus(bus_env) as bus:
        event = await bus.wait_for(TEAM_CHANGED, lambda e: e["data"]["team_id"] == team["id"]
                                   and e["data"]["version"] > data["version"])
    assert (event["data"]["on_duty"], event["data"]["capacity"]) == (False, 0)


async def test_a_boundary_missed_while_down_goes_out_after_a_restart(make_volunteers, bus_env, clock,
                                                                     make_database) -> None:
    app, client = await make_volunteers(require_checkin=False, duty_poll_seconds=3600)
    schedule = {"weekly": [{"weekday": 0, "start": "08:00", "end": "13:00"}]}
    team = (await client.post("/v1/teams", json=team_body(schedule=schedule))).json()
    assert team["on_duty"] is True and team["next_change_at"].startswith("2025-03-03T05:00")
    # The loop already ran its first pass; the clock moves while it waits an
    # hour, as if the service were down.  A restarted service reads the
    # stored next_change_at and publishes at once.
    clock.now = local("2025-03-03", 14)
    url = app.state.runtime.db.url
    from services.volunteers.app import create_app
    from services.volunteers.settings import VolunteersSettings
    from tests.support.inprocess import serve_in_process, settings_for

    restarted = create_app(settings_for(VolunteersSettings, bus_env, url, duty_poll_seconds=0.1,
                                        require_checkin=False), clock=clock)
    async with serve_in_process(restarted):
        async with TestBus(bus_env) as bus:
            event = await bus.wait_for(TEAM_CHANGED, lambda e: e["data"]["team_id"] == team["id"]
                                       and e["data"]["version"] == 2)
    assert (event["data"]["on_duty"], event["data"]["capacity"]) == (False, 0)
    assert event["data"]["next_change_at"].startswith("2025-03-10T00:00")  # next Monday 08:00 local


async def test_schedule_validation_names_the_field(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    bad = {"weekly": [{"weekday": 7, "start": "25:00", "end": "08:00"}],
           "one_off": [{"starts_at": "2025-03-03T10:00:00+08:00", "ends_at": "2025-03-03T09:00:00+08:00"}]}
    response = await volunteers.put(f"/v1/teams/{team['id']}/schedule", json=bad)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"weekly.0.weekday", "weekly.0.start", "one_off.0"} <= fields


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


async def test_deleting_a_team_publishes_it_deleted(volunteers, bus_env) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    assert (await volunteers.delete(f"/v1/teams/{team['id']}")).status_code == 204
    assert (await volunteers.get(f"/v1/teams/{team['id']}")).status_code == 404
    async with TestBus(bus_env) as bus:
        event = await team_version(bus, team["id"], 2)
    assert event["status"] == "deleted"


async def test_the_checkin_form_works_without_an_account(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    m = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Li", "+8613800000031"))).json()
    link = m["checkin_url"]
    page = await volunteers.get(link, headers={"Authorization": ""})
    assert page.status_code == 200 and "Li" in page.text
    done = await volunteers.post(link, data={"status": "quarantine"}, headers={"Authorization": ""})
    assert done.status_code == 200
    assert (await volunteers.get(f"/v1/members/{m['id']}")).json()["last_checkin"]["status"] == "quarantine"
    assert (await volunteers.get("/checkin/not-a-key")).status_code == 404
    assert (await volunteers.post(link, data={"status": "fine"})).status_code == 422
