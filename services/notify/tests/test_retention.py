"""Retention: NOTIFY_PERSONAL_DATA_DAYS after a request closed (or a message,
a reply, a consent change), names, phones, addresses and texts are gone,
and what the statistics need stays."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from sqlalchemy import select

from services.notify import retention
from services.notify.models import consent_changes, consents, deliveries, inbound_messages, offers, requesters
from shared.clock import utcnow
from tests.support.waiting import eventually

from .conftest import REQUESTER_PHONE, offered, request_received, status_changed, team_changed

FAST = {"personal_data_days": 90, "retention_interval_seconds": 0.1}


async def _rows(notify, table) -> list:
    async with notify.app.state.runtime.db.transaction() as session:
        return list((await session.execute(select(table))).all())


@pytest.mark.parametrize("notify", [FAST], indirect=True)
async def test_personal_data_goes_after_the_period_and_statistics_stay(notify) -> None:
    team_id, request_id, assignment_id, still_open = uuid4(), uuid4(), uuid4(), uuid4()
    await notify.bus.publish(team_changed(team_id, None))
    await notify.bus.publish(request_received(request_id))
    await notify.bus.publish(request_received(still_open, phone="+8613800000301", reference="HL-OPEN"))
    await notify.bus.publish(offered(request_id, team_id, assignment_id))
    for status, sequence in (("accepted", 3), ("done", 5)):
        await notify.bus.publish(status_changed(request_id, status, sequence, team_id, assignment_id))
    await eventually(lambda: len(notify.capture.sms_to(REQUESTER_PHONE)) >= 3, what="receipt, assigned, rate")
    assert (await notify.inbound_sms(REQUESTER_PHONE, "5")).json() == {"outcome": "rated"}
    await notify.bus.publish(status_changed(request_id, "closed", 6, team_id, assignment_id))
    changed = await notify.client.put(f"/v1/consents/{REQUESTER_PHONE}", json={
        "opted_out": True, "reason": "Li Na's daughter called: her mother is in hospital"})
    assert changed.status_code == 200
    await notify.bus.settled("notify-statuses")
    await eventually(lambda: _none_pending(notify), what="every message sent")

    # Before the period is over, nothing goes.
    async with notify.app.state.runtime.db.transaction() as session:
        early = await retention.forget_personal_data(session=session, now=utcnow() + timedelta(days=89), days=90)
    assert not any(early.values()), early

    notify.clock.at = utcnow() + timedelta(days=91)
    await eventually(lambda: _all_forgotten(notify), what="the retention job's round")
    by_request = {row.request_id: row for row in await _rows(notify, requesters)}
    closed, open_ = by_request[str(request_id)], by_request[str(still_open)]
    assert (closed.phone, closed.name) == ("", None)
    assert (closed.category, closed.community, closed.status, closed.urgency) == (
        "medicine", "wuhan-jianghan-01", "closed", "high")
    assert closed.closed_at is not None and closed.rated_at is not None
    assert open_.phone == "+8613800000301"  # its request is not closed: the requester is still reachable
    assert all(row.summary is None for row in await _rows(notify, offers) if row.request_id == str(request_id))
    sent = await _rows(notify, deliveries)
    assert all((row.address, row.body) == ("", "") for row in sent)
    assert {row.template for row in sent} >= {"request_received", "team_offer", "team_contact", "requester_done"}
    assert all(row.status == "sent" and row.sent_at and row.created_at and row.channel for row in sent)
    [reply] = await _rows(notify, inbound_messages)
    assert (reply.text, reply.sender, reply.outcome, reply.channel) == ("", "", "rated", "sms")
    [change] = await _rows(notify, consent_changes)
    assert (change.reason, change.opted_out, change.changed_by) == (None, True, "admin")
    # The opt-out itself stays: a number that said stop is not messaged again.
    assert [row.opted_out for row in await _rows(notify, consents) if row.phone == REQUESTER_PHONE] == [True]
    shown = (await notify.client.get("/v1/deliveries")).json()
    assert shown and all(d["body"] == "" and d["to"] in ("****", "(none)") for d in shown)


async def _none_pending(notify) -> bool:
    return not await notify.deliveries(status="pending") and len(await notify.deliveries(status="sent")) >= 5


async def _all_forgotten(notify) -> bool:
    return all(row.body == "" for row in await _rows(notify, deliveries))
