"""Self-registration: the public door (form token, proof of work, rate limit, phone
regions, the same answer for a known phone), then approve or reject."""

from __future__ import annotations

from .conftest import proof, register, registration_id, team_body
from .test_coordinators import bearer, coordinator

PUBLIC = {"Authorization": ""}


def registration(phone: str = "+8613600000001", community: str = "c1") -> dict:
    return {"name": "Rider Zhou", "phone": phone, "skills": ["delivery"], "community": community,
            "availability": "evenings"}


async def registrations_of(volunteers, phone: str) -> list[dict]:
    return [r for r in (await volunteers.get("/v1/registrations", params={"limit": 500})).json() if r["phone"] == phone]


async def test_register_then_approve_into_a_team(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body(community="c1"))).json()
    created = await register(volunteers, registration(), headers=PUBLIC)
    assert created.status_code == 201 and created.json()["status"] == "received"
    # The same phone written another way is the same person: the same answer, and no second row.
    again = await register(volunteers, registration(phone="+86 136 0000 0001"), headers=PUBLIC)
    assert (again.status_code, again.json()) == (created.status_code, created.json())
    assert len(await registrations_of(volunteers, "+8613600000001")) == 1
    created_id = await registration_id(volunteers, "+8613600000001")

    token = bearer((await coordinator(volunteers, ["c1"]))["token"])
    pending = (await volunteers.get("/v1/registrations", params={"status": "pending"}, headers=token)).json()
    assert [r["id"] for r in pending] == [created_id]
    approved = await volunteers.post(f"/v1/registrations/{created_id}/approve",
                                     json={"team_id": team["id"], "duty": "delivery", "group": "A"}, headers=token)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    members = (await volunteers.get(f"/v1/teams/{team['id']}/members")).json()
    assert [(m["name"], m["phone"], m["group"], m["duty"]) for m in members] == [
        ("Rider Zhou", "+8613600000001", "A", "delivery")]
    # Approved once: cannot be decided again; registering again (now a member) answers as a new one would.
    twice = await volunteers.post(f"/v1/registrations/{created_id}/reject",
                                  json={"reason": "changed my mind"}, headers=token)
    assert twice.status_code == 409
    member_again = await register(volunteers, registration(), headers=PUBLIC)
    assert (member_again.status_code, member_again.json()) == (created.status_code, created.json())
    assert len(await registrations_of(volunteers, "+8613600000001")) == 1


async def test_reject_needs_a_reason_and_frees_the_phone(volunteers) -> None:
    await register(volunteers, registration(phone="+8613600000002"))
    created_id = await registration_id(volunteers, "+8613600000002")
    assert (await volunteers.post(f"/v1/registrations/{created_id}/reject", json={"reason": ""})).status_code == 422
    rejected = await volunteers.post(f"/v1/registrations/{created_id}/reject", json={"reason": "not in the area"})
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "not in the area"
    assert (await register(volunteers, registration(phone="+8613600000002"))).status_code == 201
    assert len(await registrations_of(volunteers, "+8613600000002")) == 2


async def test_coordinators_only_decide_for_their_community(volunteers) -> None:
    await register(volunteers, registration(phone="+8613600000003"))
    created_id = await registration_id(volunteers, "+8613600000003")
    other = bearer((await coordinator(volunteers, ["c2"]))["token"])
    assert (await volunteers.post(f"/v1/registrations/{created_id}/reject", json={"reason": "nope nope"},
                                  headers=other)).status_code == 404  # out of scope: as if not there
    assert (await volunteers.get("/v1/registrations", headers=other)).json() == []
    # Lists are filtered to the scope: asking for another community's shows none of them.
    assert (await volunteers.get("/v1/registrations", params={"community": "c1"}, headers=other)).json() == []


async def test_bad_registrations_name_the_field(volunteers) -> None:
    response = await register(volunteers, {**registration(), "phone": "12345", "skills": ["flying"]})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"phone", "skills"}
    nowhere = await register(volunteers, registration(community="atlantis-01"))
    assert nowhere.status_code == 422 and nowhere.json()["errors"][0]["field"] == "community"


async def test_a_form_token_is_spent_once_and_needs_its_work(volunteers) -> None:
    spent = await proof(volunteers, "registration")
    first = await volunteers.post("/v1/registrations", json={**registration(phone="+8613600000011"), **spent})
    assert first.status_code == 201
    replay = await volunteers.post("/v1/registrations", json={**registration(phone="+8613600000012"), **spent})
    assert replay.status_code == 422 and replay.json()["errors"][0]["field"] == "form_token"
    fresh = await proof(volunteers, "registration")
    wrong = str(int(fresh["pow"]) + 1)
    while True:  # a number that does not solve it
        from shared.public_doors import solves
        if not solves(fresh["form_token"], wrong, 4):
            break
        wrong = str(int(wrong) + 1)
    bad_pow = await volunteers.post("/v1/registrations", json={**registration(phone="+8613600000013"),
                                                               **fresh, "pow": wrong})
    assert bad_pow.status_code == 422 and bad_pow.json()["errors"][0]["field"] == "pow"
    made_up = await volunteers.post("/v1/registrations", json={**registration(phone="+8613600000014"),
                                                               "form_token": "client-chosen", "pow": "0"})
    assert made_up.status_code == 422 and made_up.json()["errors"][0]["field"] == "form_token"
    other_form = await proof(volunteers, "checkin")
    crossed = await volunteers.post("/v1/registrations", json={**registration(phone="+8613600000015"), **other_form})
    assert crossed.status_code == 422
    missing = await volunteers.post("/v1/registrations", json=registration(phone="+8613600000016"))
    assert missing.status_code == 422
    assert len(await registrations_of(volunteers, "+8613600000012")) == 0


async def test_only_the_deployments_regions(volunteers) -> None:
    response = await register(volunteers, registration(phone="+12025550123"))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "phone"
    assert await registrations_of(volunteers, "+12025550123") == []


async def test_a_spoofed_forwarded_for_does_not_escape_the_limit(make_volunteers) -> None:
    _, client = await make_volunteers(form_rate_per_minute=3, trusted_proxies=["10.9.9.9/32"])
    answers = []
    for n in range(5):
        spoofed = {"Authorization": "", "X-Forwarded-For": f"203.0.113.{n}"}
        answers.append((await client.get("/v1/form-token", params={"form": "registration"},
                                         headers=spoofed)).status_code)
    assert answers == [200, 200, 200, 429, 429]
    limited = await client.post("/v1/registrations", json={**registration(), "form_token": "x", "pow": "0"},
                                headers={"Authorization": "", "X-Forwarded-For": "198.51.100.7"})
    assert limited.status_code == 429
