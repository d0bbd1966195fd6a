"""The issue's attacks with a coordinator token of jianghan-01 against hongshan-07's
things: nothing of theirs is seen or changed; chat URLs are write-only and checked."""

from __future__ import annotations

from .conftest import member, team_body

HONGSHAN_BASE = {"lat": 30.50, "lon": 114.41}


async def token_for(volunteers, communities: list[str]) -> dict:
    issued = await volunteers.post("/v1/coordinators", json={"name": "Chen", "communities": communities})
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}"}


async def hongshan_team(volunteers) -> tuple[dict, dict]:
    team = await volunteers.post("/v1/teams", json=team_body(
        name="Hongshan 7", community="wuhan-hongshan-07", location=HONGSHAN_BASE, radius_km=2,
        chat_url="tgram://123456:secret-bot-token/-100200300", leader={"name": "Liu", "phone": "+8613900139077"}))
    assert team.status_code == 201, team.text
    m = await volunteers.post(f"/v1/teams/{team.json()['id']}/members", json=member("Zhou", "+8613800000077"))
    return team.json(), m.json()


async def test_a_jianghan_coordinator_sees_nothing_of_hongshan(volunteers) -> None:
    theirs, their_member = await hongshan_team(volunteers)
    mine = (await volunteers.post("/v1/teams", json=team_body(community="wuhan-jianghan-01"))).json()
    jianghan = await token_for(volunteers, ["wuhan-jianghan-01"])

    listed = await volunteers.get("/v1/teams", headers=jianghan)
    assert [t["id"] for t in listed.json()] == [mine["id"]] and listed.headers["x-total-count"] == "1"
    assert "chat_url" not in listed.text and "secret-bot-token" not in listed.text
    # Asking for their community by name filters to nothing, not to their teams.
    assert (await volunteers.get("/v1/teams", params={"community": "wuhan-hongshan-07"}, headers=jianghan)).json() == []
    for path in (f"/v1/teams/{theirs['id']}", f"/v1/teams/{theirs['id']}/schedule", f"/v1/teams/{theirs['id']}/duty",
                 f"/v1/teams/{theirs['id']}/members", f"/v1/members/{their_member['id']}",
                 f"/v1/members/{their_member['id']}/moves", f"/v1/members/{their_member['id']}/points"):
        response = await volunteers.get(path, headers=jianghan)
        assert response.status_code == 404, path
    assert (await volunteers.get("/v1/leaderboard", params={"community": "wuhan-hongshan-07"},
                                 headers=jianghan)).json() == []
    for kind in ("teams", "members", "shifts"):
        exported = (await volunteers.get(f"/v1/export/{kind}.csv", headers=jianghan)).text
        assert "Hongshan 7" not in exported and "+8613800000077" not in exported and "Zhou" not in exported
    # The writes the issue tried: each 404 (or 403 creating in their community).
    writes = [
        await volunteers.patch(f"/v1/teams/{theirs['id']}", json={"capacity": 1000}, headers=jianghan),
        await volunteers.patch(f"/v1/members/{their_member['id']}", json={"active": False}, headers=jianghan),
        await volunteers.post(f"/v1/members/{their_member['id']}/points", json={"points": -50, "reason": "spite"},
                              headers=jianghan),
    ]
    assert [w.status_code for w in writes] == [404, 404, 404]
    assert (await volunteers.post("/v1/teams", json=team_body(community="wuhan-hongshan-07", location=HONGSHAN_BASE,
                                                              radius_km=2), headers=jianghan)).status_code == 403


async def test_a_district_coordinator_sees_its_communities(volunteers) -> None:
    theirs, their_member = await hongshan_team(volunteers)
    await volunteers.post("/v1/teams", json=team_body(community="wuhan-jianghan-01"))
    hongshan = await token_for(volunteers, ["wuhan-hongshan"])
    listed = (await volunteers.get("/v1/teams", headers=hongshan)).json()
    assert [t["id"] for t in listed] == [theirs["id"]]
    seen = await volunteers.get(f"/v1/members/{their_member['id']}", headers=hongshan)
    assert seen.status_code == 200 and seen.json()["phone"] == "+8613800000077"
    assert listed[0]["has_chat"] is True and "chat_url" not in listed[0]
    assert listed[0]["leader"]["phone"] == "+8613900139077"


async def test_chat_urls_that_reach_inside_are_refused(volunteers) -> None:
    for url in ("json://169.254.169.254/latest/meta-data?method=PUT&+X-aws-ec2-metadata-token-ttl-seconds=60",
                "mailto://user:pass@example.com?smtp=internal-host",
                "tgram://123:abc/-1 json://127.0.0.1/x",
                "tgram://123:abc/-1,json://127.0.0.1/x"):
        response = await volunteers.post("/v1/teams", json=team_body(chat_url=url))
        assert response.status_code == 422, url
        assert response.json()["errors"][0]["field"] == "chat_url"
    team = (await volunteers.post("/v1/teams", json=team_body(chat_url="json://127.0.0.1:9/hook"))).json()
    assert team["has_chat"] is True
    patched = await volunteers.patch(f"/v1/teams/{team['id']}", json={"chat_url": "json://10.0.0.5/x"})
    assert patched.status_code == 422 and patched.json()["errors"][0]["field"] == "chat_url"


async def test_json_chat_urls_need_a_listed_host(make_volunteers) -> None:
    _, client = await make_volunteers(outbound_allowed_hosts=[])
    response = await client.post("/v1/teams", json=team_body(chat_url="json://127.0.0.1/x"))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "chat_url"
