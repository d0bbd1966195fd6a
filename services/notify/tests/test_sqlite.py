"""The embedded default: notify's migrations and queries on SQLite (the bus is
still the real NATS)."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from services.notify.app import create_app
from tests.support.bus import TestBus
from tests.support.inprocess import serve_in_process
from tests.support.waiting import wait_until

from .conftest import LEADER_PHONE, REQUESTER_PHONE, Notify, notify_settings, offered, request_received, team_changed


async def test_messages_replies_and_opt_out_on_sqlite(bus_env, capture, clock, tmp_path) -> None:
    settings = notify_settings(bus_env, f"sqlite+aiosqlite:///{tmp_path}/notify.db", capture)
    async with serve_in_process(create_app(settings, clock=clock)) as client, TestBus(bus_env) as bus:
        notify = Notify(client, bus, capture, clock)
        team_id, request_id, assignment_id = uuid4(), uuid4(), uuid4()
        await bus.publish(team_changed(team_id, chat_url=None))
        await bus.publish(request_received(request_id))
        await bus.publish(offered(request_id, team_id, assignment_id))
        await asyncio.to_thread(wait_until, lambda: capture.sms_to(LEADER_PHONE), 20, 0.05, "the offer")
        assert (await notify.inbound_sms(LEADER_PHONE, "1")).json() == {"outcome": "accept"}
        replied = await bus.wait_for("aid.assignment.replied.v1")
        assert replied["data"]["assignment_id"] == str(assignment_id)
        await asyncio.to_thread(wait_until, lambda: capture.sms_to(REQUESTER_PHONE), 20, 0.05, "the receipt")
        assert (await notify.inbound_sms(REQUESTER_PHONE, "STOP")).json() == {"outcome": "opted_out"}
        await bus.publish(request_received(uuid4()))
        for _ in range(200):
            if await notify.deliveries(status="suppressed"):
                break
            await asyncio.sleep(0.1)
        assert len(await notify.deliveries(status="suppressed")) == 1
        assert len(capture.sms_to(REQUESTER_PHONE)) == 1  # only the receipt from before STOP
