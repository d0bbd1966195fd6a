"""The timed loops: shift boundaries published when they come (and after a
restart), and missing check-ins reported once per member per day after the
reminder time."""

from __future__ import annotations

import asyncio

from tests.support.bus import TestBus

from .conftest import SPLIT, TEAM_CHANGED, local, member, team_body

MISSING = "aid.member.checkin_missing.v1"


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


async def test_reported_once_after_the_reminder_time(make_volunteers, bus_env, clock) -> None:
    clock.now = local("2025-03-03", 9)  # before the 10:00 reminder time
    app, volunteers = await make_volunteers()
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    late = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Li", "+8613800000091"))).json()
    early = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Sun", "+8613800000092"))).json()
    await volunteers.post(f"/v1/members/{early['id']}/checkins", json={"status": "unwell"})
    async with TestBus(bus_env) as bus:
        await asyncio.sleep(0)  # (the loops keep passing; nothing is due before 10:00)
        assert await bus.published(MISSING) == []
        clock.now = local("2025-03-03", 10, 30)
        event = await bus.wait_for(MISSING, lambda e: e["data"]["member_id"] == late["id"])
        assert event["data"]["day"] == "2025-03-03" and event["data"]["phone"] == "+8613800000091"
        # Restart on the same database (its first pass runs at 10:30 the same day): still one.
        url = app.state.runtime.db.url
        from services.volunteers.app import create_app
        from services.volunteers.settings import VolunteersSettings
        from tests.support.inprocess import serve_in_process, settings_for

        again = create_app(settings_for(VolunteersSettings, bus_env, url, duty_poll_seconds=0.05), clock=clock)
        async with serve_in_process(again):
            clock.now = local("2025-03-04", 10, 30)  # the next day reports again
            await bus.wait_for(MISSING, lambda e: e["data"]["day"] == "2025-03-04")
        events = await bus.published(MISSING)
    today = [e for e in events if e["data"]["day"] == "2025-03-03"]
    assert [e["data"]["member_id"] for e in today] == [late["id"]]  # Sun checked in (unwell): no reminder
    assert sorted(e["data"]["member_id"] for e in events if e["data"]["day"] == "2025-03-04") == sorted(
        [late["id"], early["id"]])


async def test_personal_data_is_forgotten_after_the_retention_period(make_volunteers, clock) -> None:
    from datetime import timedelta

    from tests.support.waiting import eventually

    from .conftest import register

    _, client = await make_volunteers(personal_data_days=2, retention_poll_seconds=0.1)
    team = (await client.post("/v1/teams", json=team_body(community="c1"))).json()
    m = (await client.post(f"/v1/teams/{team['id']}/members", json=member("Li", "+8613800000091"))).json()
    await client.post(f"/v1/members/{m['id']}/checkins", json={"status": "unwell"})
    for phone in ("+8613600000091", "+8613600000092"):
        body = {"name": "Rider Wu", "phone": phone, "skills": ["delivery"], "community": "c1",
                "availability": "weekends"}
        assert (await register(client, body)).status_code == 201
    rows = (await client.get("/v1/registrations")).json()
    rejected = await client.post(f"/v1/registrations/{rows[0]['id']}/reject", json={"reason": "lives far away"})
    assert rejected.status_code == 200

    clock.now += timedelta(days=1)  # within the period: kept
    await asyncio.sleep(0.5)
    assert {r["name"] for r in (await client.get("/v1/registrations")).json()} == {"Rider Wu"}

    clock.now += timedelta(days=2)

    async def erased() -> list[dict] | None:
        found = (await client.get("/v1/registrations")).json()
        return found if all(r["name"] == "" for r in found) else None

    found = await eventually(erased, what="registrations erased")
    assert all(r["phone"].startswith("erased:") and r["availability"] is None and r["reason"] is None for r in found)
    # What statistics need stays.
    assert sorted(r["status"] for r in found) == ["expired", "rejected"]
    assert all(r["community"] == "c1" and r["skills"] == ["delivery"] and r["created_at"] for r in found)
    member_now = (await client.get(f"/v1/members/{m['id']}")).json()
    assert member_now["last_checkin"] is None and member_now["name"] == "Li"
