"""Missing check-ins are reported once per member per day, after the reminder time."""

from __future__ import annotations

import asyncio

from tests.support.bus import TestBus

from .conftest import local
from .test_duty_api import member, team_body

MISSING = "aid.member.checkin_missing.v1"


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
