"""Intake's HTTP doors (api.py): what a partner's call gets back, and the
OpenAPI document of the two doors that read their own request."""

from __future__ import annotations

import json

from tests.support.bus import TestBus
from tests.support.system import request_body

from .conftest import client_as
from .test_submissions import CALL, add_community


async def test_an_accepted_request_is_stored_and_published(intake, bus_env) -> None:
    response = await intake.post("/v1/requests", json=request_body(external_id="p-1"))
    assert response.status_code == 202
    request_id = response.json()["id"]
    async with TestBus(bus_env) as bus:
        event = await bus.wait_for("aid.request.received.v1",
                                   lambda e: e["data"]["request_id"] == request_id)
    assert event["data"]["category"] == "medicine"
    assert event["data"]["needs_volunteer"] is True
    assert event["correlationid"] == request_id
    assert (await intake.get(f"/v1/requests/{request_id}")).json()["status"] == "received"


async def test_bad_input_is_a_problem_naming_each_field(intake) -> None:
    body = request_body()
    body["location"]["lat"] = 91
    body["requester"]["phone"] = "13800138000"
    body["category"] = "unicorns"
    response = await intake.post("/v1/requests", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"location.lat", "requester.phone", "category"}


async def test_no_token_or_a_wrong_one_is_401(intake) -> None:
    assert (await intake.post("/v1/requests", json=request_body(), headers={"Authorization": ""})).status_code == 401
    wrong = await intake.get("/v1/categories", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code in (200, 401)  # the catalogue is public
    assert (await intake.get("/v1/requests/00000000-0000-0000-0000-000000000000",
                             headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_unknown_request_is_404_problem(intake) -> None:
    response = await intake.get("/v1/requests/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"


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
    await add_community(intake)
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


def test_the_submission_doors_are_documented_as_if_fastapi_had_read_them() -> None:
    from services.intake.app import create_app
    from services.intake.settings import IntakeSettings

    document = create_app(IntakeSettings(admin_token="t")).openapi()
    for path, model in (("/v1/requests", "RequestIn"), ("/v1/hotline/calls", "HotlineCallIn")):
        operation = document["paths"][path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model}"}
        assert operation["security"] == [{"HTTPBearer": []}]
        assert [(p["name"], p["in"]) for p in operation["parameters"]] == [("Idempotency-Key", "header")]
    schemas = document["components"]["schemas"]
    assert "requester" in schemas["RequestIn"]["properties"]

    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    dangling = {ref for ref in refs(document) if ref.removeprefix("#/components/schemas/") not in schemas}
    assert not dangling
