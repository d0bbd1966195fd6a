"""Channels: with no SMS provider configured, messages are only logged, and
the log says to whom (masked), what kind and how long: never the body, which
holds a requester's name and phone."""

from __future__ import annotations

import logging
from uuid import uuid4

import pytest

from tests.support.waiting import eventually

from .conftest import LEADER_PHONE, REQUESTER_PHONE, offered, request_received, status_changed, team_changed


@pytest.mark.parametrize("notify", [{"sms_url": None}], indirect=True)
async def test_the_log_channel_never_logs_a_body_name_or_phone(notify, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    team_id, request_id, assignment_id = uuid4(), uuid4(), uuid4()
    await notify.bus.publish(team_changed(team_id, None))  # no chat: the leader gets SMS
    await notify.bus.publish(request_received(request_id))
    await notify.bus.publish(offered(request_id, team_id, assignment_id))
    await eventually(lambda: _sent(notify, "team_offer"), what="the offer")
    await notify.bus.publish(status_changed(request_id, "accepted", 3, team_id, assignment_id))
    contact = await eventually(lambda: _sent(notify, "team_contact"), what="the requester's contact to the leader")
    assert "Li Na" in contact["body"] and REQUESTER_PHONE in contact["body"]  # what went: name and phone
    assert notify.capture.at("/sms") == []  # nothing went to a gateway
    logged = caplog.text
    for secret in ("Li Na", REQUESTER_PHONE, LEADER_PHONE, "Insulin", "insulin", "HL-7Q2K"):
        assert secret not in logged, secret
    assert "+86139****9000" in logged and "team_contact" in logged
    assert f"{len(contact['body'])} characters" in logged


async def _sent(notify, template: str) -> dict | None:
    found = [d for d in await notify.deliveries(status="sent") if d["template"] == template]
    return found[0] if found else None
