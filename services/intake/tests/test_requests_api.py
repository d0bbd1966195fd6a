"""Intake's partner API against real PostgreSQL and NATS, in process."""

from __future__ import annotations

import pytest

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from tests.support.bus import TestBus
from tests.support.inprocess import serve_in_process, settings_for
from tests.support.system import request_body


@pytest.fixture
async def intake(bus_env, make_database):
    app = create_app(settings_for(IntakeSettings, bus_env, await make_database("intake")))
    async with serve_in_process(app) as client:
        yield client


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
