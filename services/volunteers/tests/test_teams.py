"""Teams through the API: state, schedule validation, deletion, and the
published team event, on real PostgreSQL and NATS."""

from __future__ import annotations

from tests.support.bus import TestBus

from .conftest import team_body, team_version


async def test_a_team_without_members_or_schedule_is_always_on_duty(volunteers, bus_env) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    assert (team["on_duty"], team["effective_capacity"], team["next_change_at"]) == (True, 4, None)
    async with TestBus(bus_env) as bus:
        event = await team_version(bus, team["id"], 1)
    assert (event["capacity"], event["on_duty"], event["area"]) == (4, True, None)
    assert set(event["categories"]) >= {"medicine", "daily_necessities"}


async def test_schedule_validation_names_the_field(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    bad = {"weekly": [{"weekday": 7, "start": "25:00", "end": "08:00"}],
           "one_off": [{"starts_at": "2025-03-03T10:00:00+08:00", "ends_at": "2025-03-03T09:00:00+08:00"}]}
    response = await volunteers.put(f"/v1/teams/{team['id']}/schedule", json=bad)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"weekly.0.weekday", "weekly.0.start", "one_off.0"} <= fields


async def test_deleting_a_team_publishes_it_deleted(volunteers, bus_env) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    assert (await volunteers.delete(f"/v1/teams/{team['id']}")).status_code == 204
    assert (await volunteers.get(f"/v1/teams/{team['id']}")).status_code == 404
    async with TestBus(bus_env) as bus:
        event = await team_version(bus, team["id"], 2)
    assert event["status"] == "deleted"


async def test_paging_and_moments_are_bounded(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body())).json()
    for path, params, field in (("/v1/teams", {"offset": 10**18}, "offset"),
                                ("/v1/teams", {"limit": 0}, "limit"),
                                ("/v1/registrations", {"offset": 10**18}, "offset"),
                                ("/v1/communities", {"limit": 10**9}, "limit"),
                                (f"/v1/teams/{team['id']}/duty", {"at": "9999-12-31T23:59:59+00:00"}, "at"),
                                ("/v1/leaderboard", {"community": "x" * 65}, "community")):
        response = await volunteers.get(path, params=params)
        assert response.status_code == 422, (path, params)
        assert field in {e["field"].split(".")[-1] for e in response.json()["errors"]}, (path, response.json())
