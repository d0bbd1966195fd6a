"""The store on the embedded default: notify's migrations and queries on
SQLite (the bus is still the real NATS)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from services.notify.app import create_app
from tests.support.bus import TestBus
from tests.support.inprocess import serve_in_process
from tests.support.waiting import eventually

from .conftest import (
    LEADER_PHONE,
    REQUESTER_PHONE,
    Notify,
    notify_settings,
    offered,
    request_received,
    status_changed,
    team_changed,
)


async def test_messages_replies_and_opt_out_on_sqlite(bus_env, capture, clock, tmp_path) -> None:
    settings = notify_settings(bus_env, f"sqlite+aiosqlite:///{tmp_path}/notify.db", capture)
    async with serve_in_process(create_app(settings, clock=clock)) as client, TestBus(bus_env) as bus:
        notify = Notify(client, bus, capture, clock)
        team_id, request_id, assignment_id = uuid4(), uuid4(), uuid4()
        await bus.publish(team_changed(team_id, chat_url=None))
        await bus.publish(request_received(request_id))
        await bus.publish(offered(request_id, team_id, assignment_id))
        await eventually(lambda: capture.sms_to(LEADER_PHONE), what="the offer")
        assert (await notify.inbound_sms(LEADER_PHONE, "1")).json() == {"outcome": "accept"}
        replied = await bus.wait_for("aid.assignment.replied.v1")
        assert replied["data"]["assignment_id"] == str(assignment_id)
        await eventually(lambda: capture.sms_to(REQUESTER_PHONE), what="the receipt")
        assert (await notify.inbound_sms(REQUESTER_PHONE, "STOP")).json() == {"outcome": "opted_out"}
        await bus.publish(request_received(uuid4()))
        await eventually(lambda: notify.deliveries(status="suppressed"), what="the receipt logged as suppressed")
        assert len(await notify.deliveries(status="suppressed")) == 1
        assert len(capture.sms_to(REQUESTER_PHONE)) == 1  # only the receipt from before STOP


async def test_the_promised_time_is_kept_with_the_status_on_sqlite(bus_env, capture, clock, tmp_path) -> None:
    settings = notify_settings(bus_env, f"sqlite+aiosqlite:///{tmp_path}/notify.db", capture)
    async with serve_in_process(create_app(settings, clock=clock)), TestBus(bus_env) as bus:
        team_id, request_id = uuid4(), uuid4()
        await bus.publish(team_changed(team_id, capture.chat_url("team-s"), name="Sunrise Team"))
        await bus.publish(request_received(request_id, locale="en"))
        await eventually(lambda: capture.sms_to(REQUESTER_PHONE), what="the receipt")
        # The offer's status change carries dispatch's promise; the acceptance (from an older dispatch) none.
        await bus.publish(status_changed(request_id, "offered", 2, changed_at=datetime(2026, 11, 21, 5, 0, tzinfo=UTC),
                                         expected_by=datetime(2026, 11, 21, 6, 30, tzinfo=UTC)))
        await bus.settled("notify-statuses")
        await bus.publish(status_changed(request_id, "accepted", 3, team_id, uuid4(),
                                         changed_at=datetime(2026, 11, 21, 5, 10, tzinfo=UTC)))
        assigned = (await eventually(lambda: capture.sms_to(REQUESTER_PHONE)[1:], what="the assigned SMS"))[0]
        assert assigned.body["message"].endswith('"Sunrise Team". Expect them by 14:30.')
