"""The embedded default: intake's migrations and queries on SQLite (the bus
is still the real NATS)."""

from __future__ import annotations

import asyncio

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.public_doors import solve
from tests.support.bus import TestBus
from tests.support.inprocess import serve_in_process, settings_for
from tests.support.system import request_body
from tests.support.waiting import eventually

from .conftest import Receiver, add_community, new_partner, status_event, wait_for_status
from .test_open311 import SPEC_POST


async def test_the_partner_api_open311_the_form_and_webhooks_on_sqlite(bus_env, tmp_path) -> None:
    settings = settings_for(IntakeSettings, bus_env, f"sqlite+aiosqlite:///{tmp_path}/intake.db",
                            webhook_poll_seconds=0.05, form_pow_bits=4)
    receiver = Receiver()
    try:
        async with serve_in_process(create_app(settings)) as admin, TestBus(bus_env) as bus:
            await add_community(admin)
            _, partner = await new_partner(admin)
            async with partner:
                await partner.put("/v1/webhook", json={"url": receiver.url})
                body = request_body(external_id="sq-1")
                answers = await asyncio.gather(*(
                    partner.post("/v1/requests", json=body, headers={"Idempotency-Key": "sq"}) for _ in range(4)))
                assert {a.json()["id"] for a in answers} == {answers[0].json()["id"]}
                request_id = answers[0].json()["id"]
                assert (await partner.post("/v1/requests", json=body)).status_code == 200
                await bus.publish(status_event(request_id, "done", 1))
                await wait_for_status(partner, request_id, "done")
                given = await partner.post(f"/v1/requests/{request_id}/feedback", json={"rating": 5})
                assert given.status_code == 200
                await eventually(lambda: [p["status"] for p in receiver.payloads()] == ["done"],
                            what="the webhook on SQLite")
                key = partner.headers["Authorization"].removeprefix("Bearer ")
                posted = await admin.post("/open311/v2/requests.json", data={**SPEC_POST, "api_key": key})
                assert posted.status_code == 201, posted.text
                listed = (await admin.get("/open311/v2/requests.json", params={"api_key": key})).json()
                assert len(listed) == 2
            page = await admin.get("/form/jianghan-01")
            token = page.text.split('name="form_token" value="')[1].split('"')[0]
            sent = await admin.post("/form/jianghan-01", data={
                "form_token": token, "pow": solve(token, 4), "category": "medicine", "description": "药", "address": "3栋",
                "name": "李娜", "phone": "13800138000"})
            assert sent.status_code == 201, sent.text
            received = await bus.wait_for("aid.request.received.v1", lambda e: e["data"]["source"] == "qr")
            assert received["data"]["community"] == "jianghan-01"
            # A likely duplicate is linked on SQLite too, and its replay says so.
            first = (await admin.post("/v1/requests", json=request_body(phone="+8613700137000"))).json()
            repeat = request_body(phone="+8613700137000", lat=30.5951)
            linked = [await admin.post("/v1/requests", json=repeat, headers={"Idempotency-Key": "dup"})
                      for _ in range(2)]
            assert linked[0].json()["possible_duplicate_of"] == first["id"]
            assert linked[1].json() == linked[0].json()
    finally:
        receiver.stop()
