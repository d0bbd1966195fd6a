"""Coordinator tokens issued by volunteers; community-scoped changes; phone masking."""

from __future__ import annotations

from shared.http import read_coordinator_token

from .conftest import SECRET, member, team_body


async def coordinator(volunteers, communities: list[str], role: str = "coordinator") -> dict:
    response = await volunteers.post("/v1/coordinators", json={
        "name": "Chen", "phone": "+8613700000001", "role": role, "communities": communities})
    assert response.status_code == 201, response.text
    return response.json()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_an_admin_issues_a_token_every_service_can_read(volunteers) -> None:
    issued = await coordinator(volunteers, ["wuhan-jianghan-01"])
    principal = read_coordinator_token(SECRET, issued["token"])
    assert principal.role == "coordinator" and principal.communities == {"wuhan-jianghan-01"}
    listed = (await volunteers.get("/v1/coordinators")).json()
    assert [c["id"] for c in listed] == [issued["id"]] and "token" not in listed[0]
    fresh = await volunteers.post(f"/v1/coordinators/{issued['id']}/token")
    assert fresh.status_code == 200 and read_coordinator_token(SECRET, fresh.json()["token"]) is not None


async def test_a_coordinator_needs_a_community_and_only_admins_issue(volunteers) -> None:
    response = await volunteers.post("/v1/coordinators", json={"name": "Chen", "communities": []})
    assert response.status_code == 422
    issued = await coordinator(volunteers, ["wuhan-jianghan-01"])
    again = await volunteers.post("/v1/coordinators", json={"name": "X", "communities": ["wuhan-jianghan-01"]},
                                  headers=bearer(issued["token"]))
    assert again.status_code == 403


async def test_without_the_secret_issuing_is_a_clear_503(make_volunteers) -> None:
    _, client = await make_volunteers(token_secret=None)
    response = await client.post("/v1/coordinators", json={"name": "Chen", "communities": ["c1"]})
    assert response.status_code == 503
    assert "HEARTLINE_TOKEN_SECRET" in response.json()["detail"]


async def test_a_coordinator_cannot_change_another_communitys_team(volunteers) -> None:
    mine = (await volunteers.post("/v1/teams", json=team_body(community="c-mine"))).json()
    theirs = (await volunteers.post("/v1/teams", json=team_body(community="c-theirs"))).json()
    token = bearer((await coordinator(volunteers, ["c-mine"]))["token"])

    assert (await volunteers.patch(f"/v1/teams/{mine['id']}", json={"capacity": 2}, headers=token)).status_code == 200
    assert (await volunteers.post("/v1/teams", json=team_body(community="c-mine"), headers=token)).status_code == 201
    forbidden = [
        await volunteers.patch(f"/v1/teams/{theirs['id']}", json={"capacity": 2}, headers=token),
        await volunteers.post("/v1/teams", json=team_body(community="c-theirs"), headers=token),
        await volunteers.delete(f"/v1/teams/{theirs['id']}", headers=token),
        await volunteers.put(f"/v1/teams/{theirs['id']}/schedule", json={}, headers=token),
        await volunteers.post(f"/v1/teams/{theirs['id']}/members", json=member("Li", "+8613800000041"),
                              headers=token),
    ]
    # Creating in a community out of scope is 403 (communities are no secret); anything that
    # exists out of scope is 404, so a refusal does not confirm it is there.
    assert [r.status_code for r in forbidden] == [404, 403, 404, 404, 404]
    assert forbidden[0].headers["content-type"] == "application/problem+json"
    # Their team is unchanged.
    assert (await volunteers.get(f"/v1/teams/{theirs['id']}")).json()["capacity"] == 4
    # Moving a member of mine into their team is forbidden too.
    m = (await volunteers.post(f"/v1/teams/{mine['id']}/members", json=member("Li", "+8613800000042"),
                               headers=token)).json()
    move = await volunteers.post(f"/v1/members/{m['id']}/move", json={"team_id": theirs["id"]}, headers=token)
    assert move.status_code == 404


async def test_coordinators_of_other_communities_do_not_see_members(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body(community="c-mine"))).json()
    m = (await volunteers.post(f"/v1/teams/{team['id']}/members", json=member("Li", "+8613800000051"))).json()
    assert m["phone"] == "+8613800000051"  # admin
    own = bearer((await coordinator(volunteers, ["c-mine"]))["token"])
    other = bearer((await coordinator(volunteers, ["c-other"]))["token"])
    assert (await volunteers.get(f"/v1/members/{m['id']}", headers=own)).json()["phone"] == "+8613800000051"
    # Out of scope there is nothing to see, masked or not.
    assert (await volunteers.get(f"/v1/teams/{team['id']}/members", headers=other)).status_code == 404
    assert (await volunteers.get(f"/v1/members/{m['id']}", headers=other)).status_code == 404
    # Nor may they record a check-in for that member.
    assert (await volunteers.post(f"/v1/members/{m['id']}/checkins", json={"status": "ok"},
                                  headers=other)).status_code == 404


async def test_a_forged_token_is_401(volunteers) -> None:
    from datetime import timedelta

    from shared.http import issue_coordinator_token

    forged, _ = issue_coordinator_token("another-secret-0123456789abcdefghijklmn", subject="x", communities=[],
                                        ttl=timedelta(hours=1))
    assert (await volunteers.get("/v1/teams", headers=bearer(forged))).status_code == 401


async def test_no_coordinator_is_an_admin_and_scopes_must_exist(volunteers) -> None:
    admin = await volunteers.post("/v1/coordinators", json={"name": "X", "role": "admin", "communities": ["c1"]})
    assert admin.status_code == 422 and admin.json()["errors"][0]["field"] == "role"
    unknown = await volunteers.post("/v1/coordinators", json={"name": "X", "communities": ["c1", "atlantis-01"]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "communities"
    issued = await coordinator(volunteers, ["wuhan-jianghan"])
    principal = read_coordinator_token(SECRET, issued["token"])
    assert principal is not None and principal.expires_at is not None
    from datetime import UTC, datetime, timedelta
    assert principal.expires_at - datetime.now(UTC) <= timedelta(hours=8)


async def test_signed_out_refreshed_and_revoked_tokens_stop_working(volunteers) -> None:
    from tests.support.waiting import eventually

    async def refused(headers: dict) -> bool:
        return (await volunteers.get("/v1/teams", headers=headers)).status_code == 401

    first = await coordinator(volunteers, ["c1"])
    old = bearer(first["token"])
    assert (await volunteers.get("/v1/teams", headers=old)).status_code == 200
    refreshed = await volunteers.post("/v1/auth/refresh", headers=old)
    assert refreshed.status_code == 200, refreshed.text
    new = bearer(refreshed.json()["token"])
    await eventually(lambda: refused(old), what="the refreshed-away token refused")
    assert (await volunteers.get("/v1/teams", headers=new)).status_code == 200

    assert (await volunteers.post("/v1/auth/sign-out", headers=new)).status_code == 204
    await eventually(lambda: refused(new), what="the signed-out token refused")

    a = bearer((await volunteers.post(f"/v1/coordinators/{first['id']}/token")).json()["token"])
    b = bearer((await volunteers.post(f"/v1/coordinators/{first['id']}/token")).json()["token"])
    revoked = await volunteers.post(f"/v1/coordinators/{first['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked"] == 2
    await eventually(lambda: refused(a), what="revoked token a refused")
    await eventually(lambda: refused(b), what="revoked token b refused")
    # The admin token has nothing to sign out.
    assert (await volunteers.post("/v1/auth/sign-out")).status_code == 403
