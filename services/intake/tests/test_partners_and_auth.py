"""Partner keys, who sees what, the richer request body, and the guards
(body size, rate limit), against real PostgreSQL and NATS."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from shared.http import issue_coordinator_token
from tests.support.bus import TestBus
from tests.support.system import request_body

from .conftest import TOKEN_SECRET, client_as, new_partner


def _rich_body(**changes) -> dict:
    body = request_body(external_id="rich-1")
    body["location"] = {"address": "3-2-601, 12 Minzhu Rd", "community": "jianghan-01"}
    body["requester"]["preferred_channel"] = "phone_call"
    body.update(vulnerabilities=["elderly_alone", "no_smartphone"], people=2, source="outreach")
    body.update(changes)
    return body


async def _community(admin, code: str = "jianghan-01", lat: float = 30.59, lon: float = 114.30) -> None:
    r = await admin.put(f"/v1/communities/{code}", json={"name": "Jianghan 01", "lat": lat, "lon": lon})
    assert r.status_code == 200, r.text


async def test_a_partner_key_works_is_stored_hashed_and_can_be_revoked(intake, start_intake) -> None:
    partner_id, partner = await new_partner(intake)
    async with partner:
        accepted = await partner.post("/v1/requests", json=request_body(external_id="k-1"))
        assert accepted.status_code == 202, accepted.text
        keys = (await intake.get(f"/v1/partners/{partner_id}/keys")).json()
        assert len(keys) == 1 and "key" not in keys[0] or keys[0]["key"] is None
        key = partner.headers["Authorization"].removeprefix("Bearer ")
        assert key.startswith(keys[0]["prefix"])

        runtime = intake._transport.app.state.runtime
        async with runtime.db.connect() as session:
            from sqlalchemy import select

            from services.intake.models import partner_keys
            stored = (await session.execute(select(partner_keys.c.key_hash))).scalars().all()
        assert stored == [hashlib.sha256(key.encode()).hexdigest()]

        revoked = await intake.delete(f"/v1/partners/{partner_id}/keys/{keys[0]['id']}")
        assert revoked.status_code == 204
        refused = await partner.get(f"/v1/requests/{accepted.json()['id']}")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"


async def test_only_an_admin_manages_partners(intake) -> None:
    _, partner = await new_partner(intake)
    async with partner:
        assert (await partner.post("/v1/partners", json={"name": "x"})).status_code == 403
        assert (await partner.get("/v1/partners")).status_code == 403
    missing = await intake.post("/v1/partners/00000000-0000-0000-0000-000000000000/keys")
    assert missing.status_code == 404


async def test_a_partner_sees_only_its_own_requests(intake) -> None:
    _, alpha = await new_partner(intake, "Alpha")
    _, beta = await new_partner(intake, "Beta")
    async with alpha, beta:
        mine = (await alpha.post("/v1/requests", json=request_body(external_id="same"))).json()
        # The same external id from another partner is another request.
        theirs = (await beta.post("/v1/requests", json=request_body(external_id="same"))).json()
        assert mine["id"] != theirs["id"]
        other = await alpha.get(f"/v1/requests/{theirs['id']}")
        assert other.status_code == 404
        assert other.json()["title"] == "Not Found"
        assert (await alpha.post(f"/v1/requests/{theirs['id']}/cancel")).status_code == 404
        assert [r["id"] for r in (await alpha.get("/v1/requests")).json()] == [mine["id"]]
        by_external = (await alpha.get("/v1/requests", params={"external_id": "same"})).json()
        assert [r["id"] for r in by_external] == [mine["id"]]
        assert (await alpha.get("/v1/requests", params={"external_id": "other"})).json() == []
    assert (await intake.get(f"/v1/requests/{theirs['id']}")).status_code == 200
    assert len((await intake.get("/v1/requests")).json()) == 2


async def test_a_coordinator_sees_the_requests_of_their_communities(intake) -> None:
    await _community(intake)
    await _community(intake, "wuchang-07", 30.55, 114.31)
    here = (await intake.post("/v1/requests", json=_rich_body())).json()
    there = (await intake.post("/v1/requests", json=_rich_body(
        external_id="rich-2", location={"address": "8 Zhongnan Rd", "community": "wuchang-07"}))).json()
    token = issue_coordinator_token(TOKEN_SECRET, "coord-1", "coordinator", ["jianghan-01"], timedelta(hours=1))
    async with client_as(intake, token) as coordinator:
        assert (await coordinator.get(f"/v1/requests/{here['id']}")).status_code == 200
        assert (await coordinator.get(f"/v1/requests/{there['id']}")).status_code == 404
        assert [r["id"] for r in (await coordinator.get("/v1/requests")).json()] == [here["id"]]
        assert (await coordinator.post(f"/v1/requests/{there['id']}/cancel")).status_code == 404
        cancelled = await coordinator.post(f"/v1/requests/{here['id']}/cancel", json={"reason": "moved away"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        # Partner administration stays with the admin.
        assert (await coordinator.post("/v1/partners", json={"name": "x"})).status_code == 403
        # A coordinator manages only their own communities.
        assert (await coordinator.put("/v1/communities/wuchang-07",
                                      json={"name": "x", "lat": 1, "lon": 1})).status_code == 403
        assert (await coordinator.put("/v1/communities/jianghan-01",
                                      json={"name": "Jianghan One", "lat": 30.6, "lon": 114.3})).status_code == 200


async def test_the_richer_body_reaches_the_event_and_an_address_resolves_through_the_community(
        intake, bus_env) -> None:
    await _community(intake, lat=30.5901, lon=114.3012)
    body = _rich_body()
    body["requester"]["phone"] = "+86 138-0013-8000"  # spaces and dashes are normalised
    accepted = await intake.post("/v1/requests", json=body)
    assert accepted.status_code == 202, accepted.text
    view = accepted.json()
    assert (view["community"], view["people"], view["source"]) == ("jianghan-01", 2, "outreach")
    assert view["vulnerabilities"] == ["elderly_alone", "no_smartphone"]
    assert "13800138000" not in accepted.text and "Li Na" not in accepted.text
    async with TestBus(bus_env) as bus:
        event = await bus.wait_for("aid.request.received.v1",
                                   lambda e: e["data"]["request_id"] == view["id"])
    data = event["data"]
    assert data["location"] == {"lat": 30.5901, "lon": 114.3012}
    assert data["community"] == "jianghan-01"
    assert data["vulnerabilities"] == ["elderly_alone", "no_smartphone"]
    assert (data["people"], data["source"]) == (2, "outreach")
    assert data["requester"]["phone"] == "+8613800138000"
    assert data["requester"]["preferred_channel"] == "phone_call"


async def test_no_smartphone_means_a_call_back_unless_the_requester_chose(intake, bus_env) -> None:
    body = request_body(external_id="ns-1")
    body["vulnerabilities"] = ["no_smartphone"]
    first = (await intake.post("/v1/requests", json=body)).json()
    async with TestBus(bus_env) as bus:
        event = await bus.wait_for("aid.request.received.v1", lambda e: e["data"]["request_id"] == first["id"])
    assert event["data"]["requester"]["preferred_channel"] == "phone_call"


async def test_every_class_of_bad_input_is_a_problem_naming_the_field(intake) -> None:
    cases = {
        "category": dict(category="unicorns"),
        "description": dict(description=None),
        "location.lat": dict(location={"lat": -91, "lon": 114}),
        "location.lon": dict(location={"lat": 30, "lon": "east"}),
        "location": dict(location={"address": "somewhere"}),
        "requester.phone": dict(requester={"name": "Li", "phone": "+86 123"}),
        "requester.name": dict(requester={"phone": "+8613800138000"}),
        "people": dict(people=0),
        "vulnerabilities.0": dict(vulnerabilities=["tall"]),
        "urgency": dict(urgency="whenever"),
        "source": dict(source="pigeon"),
        "surprise": dict(surprise=1),
    }
    for field, change in cases.items():
        body = request_body()
        body.update(change)
        response = await intake.post("/v1/requests", json=body)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in response.json()["errors"]}, (field, response.json())
    missing = request_body()
    del missing["category"]
    response = await intake.post("/v1/requests", json=missing)
    assert response.json()["errors"] == [{"field": "category", "reason": "Field required"}]
    not_json = await intake.post("/v1/requests", content=b"{not json",
                                 headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    unknown_community = request_body()
    unknown_community["location"] = {"address": "1 Road", "community": "nowhere-99"}
    response = await intake.post("/v1/requests", json=unknown_community)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "location.community"
    # Nothing half-written: no request was stored by any of these.
    assert (await intake.get("/v1/requests")).json() == []


async def test_the_submission_doors_answer_a_bad_body_key_or_token_as_every_door_does(intake) -> None:
    """The two submission doors read their own request (see api.submission):
    their answers to bad input must be those FastAPI gives at every other door."""
    from .test_hotline_and_form import CALL

    await _community(intake)
    for path, body in (("/v1/requests", request_body()), ("/v1/hotline/calls", CALL)):
        not_json = await intake.post(path, content=b'{"category": ', headers={"content-type": "application/json"})
        assert not_json.status_code == 422, (path, not_json.text)
        [error] = not_json.json()["errors"]
        assert error["field"] == "body" and error["reason"].startswith("is not valid JSON: "), error
        empty = await intake.post(path)
        assert empty.status_code == 422
        assert empty.json()["errors"] == [{"field": "body", "reason": "Field required"}]
        as_text = await intake.post(path, content=b"hello", headers={"content-type": "text/plain"})
        assert as_text.status_code == 415
        assert as_text.headers["content-type"] == "application/problem+json"
        assert as_text.json()["errors"][0]["field"] == "body"
        # A key too long and a field missing: both named in one answer.
        no_category = {k: v for k, v in body.items() if k != "category"}
        both = await intake.post(path, json=no_category, headers={"Idempotency-Key": "k" * 201})
        assert both.status_code == 422
        assert {e["field"] for e in both.json()["errors"]} == {"header.Idempotency-Key", "category"}
        long_key = await intake.post(path, json=body, headers={"Idempotency-Key": "k" * 201})
        assert [e["field"] for e in long_key.json()["errors"]] == ["header.Idempotency-Key"]
        for authorization in (None, "Basic YWRtaW46eA==", "Bearer", "Bearer not-a-key"):
            async with client_as(intake, "") as caller:
                headers = {"Authorization": authorization} if authorization else {}
                if authorization is None:
                    del caller.headers["Authorization"]
                refused = await caller.post(path, json=body, headers=headers)
            assert refused.status_code == 401, (path, authorization)
            assert refused.headers["www-authenticate"] == "Bearer"
        # application/*+json is JSON too; the right key gets through.
        accepted = await intake.post(path, content=json.dumps(body).encode(),
                                     headers={"content-type": "application/merge-patch+json; charset=utf-8",
                                              "Idempotency-Key": path.ljust(200, "k")})
        assert accepted.status_code == 202, accepted.text
    # A door that FastAPI reads names malformed JSON the same way.
    request_id = accepted.json()["id"]
    broken = await intake.post(f"/v1/requests/{request_id}/cancel", content=b"{oops",
                               headers={"content-type": "application/json"})
    assert broken.status_code == 422
    assert [e["field"] for e in broken.json()["errors"]] == ["body"]
    assert broken.json()["errors"][0]["reason"].startswith("is not valid JSON: ")
    assert len((await intake.get("/v1/requests")).json()) == 2  # only the two accepted


async def test_mainland_mobiles_validate_and_malformed_numbers_do_not(intake) -> None:
    for phone in ("+8613800138000", "+8618612345678", "+85291234567", "+447911123456"):
        body = request_body(phone=phone)
        assert (await intake.post("/v1/requests", json=body)).status_code == 202, phone
    for phone in ("13800138000", "+861380013800", "+8600000000000", "+86abc", "++8613800138000"):
        response = await intake.post("/v1/requests", json=request_body(phone=phone))
        assert response.status_code == 422, phone
        assert response.json()["errors"][0]["field"] == "requester.phone"


async def test_an_oversized_body_is_413(start_intake) -> None:
    async with start_intake(max_body_bytes=4096) as (intake, _):
        body = request_body()
        body["description"] = "x" * 5000
        response = await intake.post("/v1/requests", json=body)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 413

        async def chunks():  # no Content-Length: counted as it streams in
            for _ in range(10):
                yield b" " * 1000

        streamed = await intake.post("/v1/requests", content=chunks(),
                                     headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert (await intake.post("/v1/requests", json=request_body())).status_code == 202


async def test_a_partner_over_its_rate_gets_429_with_retry_after(start_intake) -> None:
    async with start_intake(rate_limit_per_second=0.5, rate_limit_burst=3) as (intake, _):
        _, partner = await new_partner(intake)
        _, other = await new_partner(intake, "Other")
        async with partner, other:
            codes = [(await partner.get("/v1/requests")).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            limited = await partner.post("/v1/requests", json=request_body())
            assert limited.status_code == 429
            assert int(limited.headers["Retry-After"]) >= 1
            assert limited.headers["content-type"] == "application/problem+json"
            # Buckets are per partner; the admin is not limited.
            assert (await other.get("/v1/requests")).status_code == 200
            assert [(await intake.get("/v1/requests")).status_code for _ in range(5)] == [200] * 5
