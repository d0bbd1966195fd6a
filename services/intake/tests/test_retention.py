"""Retention (retention.py, run by loops.keep_tidy): personal data leaves a
request some time after it was closed or cancelled; statistics stay."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from services.intake import retention
from services.intake.models import requests, status_changes, webhook_deliveries
from tests.support.bus import TestBus
from tests.support.system import request_body
from tests.support.waiting import eventually

from .conftest import Receiver, new_partner, status_event, wait_for_status


async def test_personal_data_is_removed_after_the_period_and_statistics_stay(intake, bus_env) -> None:
    db = intake._transport.app.state.runtime.db
    receiver = Receiver()
    try:
        _, partner = await new_partner(intake)
        async with partner:
            await partner.put("/v1/webhook", json={"url": receiver.url})
            body = request_body(external_id="r-1")
            body["requester"] = {"name": "Zhang Sanfeng", "phone": "+8613612345678"}
            cancelled = (await partner.post("/v1/requests", json=body)).json()
            closed = (await partner.post("/v1/requests", json=request_body(external_id="r-2",
                                                                           phone="+8613712345678"))).json()
            still_open = (await partner.post("/v1/requests", json=request_body(external_id="r-3",
                                                                               phone="+8613912345678"))).json()
            await partner.post(f"/v1/requests/{cancelled['id']}/cancel", json={"reason": "moved to her son's"})
            async with TestBus(bus_env) as bus:
                await bus.publish(status_event(closed["id"], "closed", 1))
            await wait_for_status(partner, closed["id"], "closed")
            await eventually(lambda: len(receiver.payloads()) >= 2, what="the deliveries")

        await asyncio.sleep(1.2)
        async with db.transaction() as session:
            assert await retention.remove_personal_data(session=session, days=1 / 86400) == 2
            assert await retention.remove_personal_data(session=session, days=1 / 86400) == 0  # once only
        async with db.connect() as session:
            rows = {r.id: r for r in (await session.execute(select(requests))).all()}
            reasons = (await session.execute(select(status_changes.c.reason).where(
                status_changes.c.request_id == cancelled["id"]))).scalars().all()
            payloads = {r.request_id: json.loads(r.payload)
                        for r in (await session.execute(select(webhook_deliveries))).all()}
    finally:
        receiver.stop()
    for ended in (cancelled["id"], closed["id"]):
        row = rows[ended]
        assert (row.requester_name, row.requester_phone, row.description, row.address) == ("", "", "", None)
        assert row.personal_data_removed_at is not None
        # What the dashboards need stays.
        assert (row.category, row.urgency, row.people) == ("medicine", "high", 1)
        assert row.received_at is not None and row.lat == 30.595
        assert payloads.get(ended, {}) == {}
    assert rows[cancelled["id"]].status == "cancelled" and rows[closed["id"]].status == "closed"
    assert reasons == [None]
    kept = rows[still_open["id"]]
    assert (kept.requester_phone, kept.requester_name) == ("+8613912345678", "Li Na")
    assert kept.personal_data_removed_at is None
