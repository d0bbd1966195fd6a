"""Accepted means stored: with NATS down intake still answers 202 and the
events go out once NATS is back (in process; tests/test_faults.py does it
across processes).  And no name or phone ever reaches a log."""

from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy import func, select

from services.intake.app import create_app
from services.intake.models import outbox
from services.intake.settings import IntakeSettings
from shared.public_doors import solve
from tests.support.bus import TestBus
from tests.support.infra import NatsServer
from tests.support.inprocess import serve_in_process, settings_for
from tests.support.system import request_body
from tests.support.waiting import eventually

from .conftest import Receiver, add_community, new_partner, status_event


async def _unpublished(runtime) -> int:
    async with runtime.db.connect() as session:
        return (await session.execute(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))).scalar_one()


async def test_requests_taken_while_nats_is_down_are_published_when_it_is_back(make_database) -> None:
    server = NatsServer()
    server.start()
    tag = uuid.uuid4().hex[:8]
    bus_env = {"NATS_URL": server.url, "HEARTLINE_BUS_PREFIX": f"o{tag}.", "HEARTLINE_STREAM": f"O{tag.upper()}"}
    app = create_app(settings_for(IntakeSettings, bus_env, await make_database("intake")))
    runtime = app.state.runtime
    try:
        async with serve_in_process(app) as intake:
            server.stop()
            await eventually(lambda: not runtime.bus.is_connected(), what="intake to notice NATS is gone")
            ids = []
            for i in range(5):
                response = await intake.post("/v1/requests", json=request_body(external_id=f"down-{i}"))
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
            assert await _unpublished(runtime) == 5  # stored, waiting in the outbox

            server.start()
            async with TestBus(bus_env) as bus:
                async def all_published():
                    events = await bus.published("aid.request.received.v1")
                    return sorted(e["data"]["request_id"] for e in events) == sorted(ids)

                await eventually(all_published, timeout=30, what="the outbox to drain once NATS is back")

            async def all_marked():
                return await _unpublished(runtime) == 0

            # The relay marks the rows after the publish acks, in a transaction
            # that may not have committed yet when the events are seen.
            await eventually(all_marked, what="the outbox rows to be marked published")
    finally:
        server.stop()


async def test_names_and_phones_never_reach_the_logs(intake, bus_env, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    name, phone, national = "Zhang Sanfeng", "+8613612345678", "13612345678"
    receiver = Receiver(fail_next=1)
    try:
        _, partner = await new_partner(intake)
        async with partner:
            await partner.put("/v1/webhook", json={"url": receiver.url})
            body = request_body()
            body["requester"] = {"name": name, "phone": phone}
            request_id = (await partner.post("/v1/requests", json=body)).json()["id"]
            bad = dict(body, location={"lat": 99, "lon": 0})
            assert (await partner.post("/v1/requests", json=bad)).status_code == 422
            async with TestBus(bus_env) as bus:
                await bus.publish(status_event(request_id, "accepted", 1))

            async def delivered():
                log = (await partner.get("/v1/webhook/deliveries")).json()
                return log and log[0]["state"] == "delivered"

            await eventually(delivered, what="the webhook to be delivered after one failure")
        await add_community(intake)
        page = await intake.get("/form/jianghan-01")
        token = page.text.split('name="form_token" value="')[1].split('"')[0]
        await intake.post("/form/jianghan-01", data={
            "form_token": token, "pow": solve(token, 4), "category": "medicine", "description": "d", "address": "a",
            "name": name, "phone": "12"})  # a bad number: the form answers 422
        await asyncio.sleep(0)
    finally:
        receiver.stop()
    logged = caplog.text
    assert logged, "nothing was logged at all: the check would be empty"
    for secret in (name, phone, national):
        assert secret not in logged
