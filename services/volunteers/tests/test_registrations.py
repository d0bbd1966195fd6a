"""Self-registration: public form and API, dedupe by phone, approve or reject."""

from __future__ import annotations

from .conftest import team_body
from .test_coordinators import bearer, coordinator


def registration(phone: str = "+8613600000001", community: str = "c1") -> dict:
    return {"name": "Rider Zhou", "phone": phone, "skills": ["delivery"], "community": community,
            "availability": "evenings"}


async def test_register_then_approve_into_a_team(volunteers) -> None:
    team = (await volunteers.post("/v1/teams", json=team_body(community="c1"))).json()
    public = {"Authorization": ""}
    created = await volunteers.post("/v1/registrations", json=registration(), headers=public)
    assert created.status_code == 201 and created.json()["status"] == "pending"
    # The same phone written another way is the same person.
    again = await volunteers.post("/v1/registrations", json=registration(phone="+86 136 0000 0001"), headers=public)
    assert again.status_code == 409 and again.json()["registration_id"] == created.json()["id"]

    token = bearer((await coordinator(volunteers, ["c1"]))["token"])
    pending = (await volunteers.get("/v1/registrations", params={"status": "pending"}, headers=token)).json()
    assert [r["id"] for r in pending] == [created.json()["id"]]
    approved = await volunteers.post(f"/v1/registrations/{created.json()['id']}/approve",
                                     json={"team_id": team["id"], "duty": "delivery", "group": "A"}, headers=token)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    members = (await volunteers.get(f"/v1/teams/{team['id']}/members")).json()
    assert [(m["name"], m["phone"], m["group"], m["duty"]) for m in members] == [
        ("Rider Zhou", "+8613600000001", "A", "delivery")]
    # Approved once: cannot be decided again; registering again is still a 409.
    twice = await volunteers.post(f"/v1/registrations/{created.json()['id']}/reject",
                                  json={"reason": "changed my mind"}, headers=token)
    assert twice.status_code == 409
    assert (await volunteers.post("/v1/registrations", json=registration(), headers=public)).status_code == 409


async def test_reject_needs_a_reason_and_frees_the_phone(volunteers) -> None:
    created = (await volunteers.post("/v1/registrations", json=registration(phone="+8613600000002"))).json()
    assert (await volunteers.post(f"/v1/registrations/{created['id']}/reject", json={"reason": ""})).status_code == 422
    rejected = await volunteers.post(f"/v1/registrations/{created['id']}/reject", json={"reason": "not in the area"})
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "not in the area"
    assert (await volunteers.post("/v1/registrations", json=registration(phone="+8613600000002"))).status_code == 201


async def test_coordinators_only_decide_for_their_community(volunteers) -> None:
    created = (await volunteers.post("/v1/registrations", json=registration(phone="+8613600000003"))).json()
    other = bearer((await coordinator(volunteers, ["c2"]))["token"])
    assert (await volunteers.post(f"/v1/registrations/{created['id']}/reject", json={"reason": "nope nope"},
                                  headers=other)).status_code == 403
    assert (await volunteers.get("/v1/registrations", headers=other)).json() == []
    assert (await volunteers.get("/v1/registrations", params={"community": "c1"}, headers=other)).status_code == 403


async def test_bad_registrations_name_the_field(volunteers) -> None:
    response = await volunteers.post("/v1/registrations", json={**registration(), "phone": "12345", "skills": ["flying"]})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"phone", "skills"}
