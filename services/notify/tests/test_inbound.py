"""Inbound replies through the providers' signed webhooks: a leader's 1/2/DONE
becomes aid.assignment.replied.v1, a requester's 1-5 after completion
aid.request.feedback_given.v1, anything else a help text."""

from __future__ import annotations

import json
from uuid import uuid4

from services.notify.replies import sign
from tests.support.waiting import eventually

from .conftest import (
    INBOUND_SECRET,
    LEADER_PHONE,
    REQUESTER_PHONE,
    offered,
    request_received,
    status_changed,
    team_changed,
)


async def offer_to_team(notify, chat: bool = False):
    team_id, request_id, assignment_id = uuid4(), uuid4(), uuid4()
    await notify.bus.publish(team_changed(team_id, notify.capture.chat_url("team-a") if chat else None))
    await notify.bus.publish(request_received(request_id))
    await notify.bus.publish(offered(request_id, team_id, assignment_id))
    await eventually(lambda: notify.capture.at("/chat/team-a") if chat else notify.capture.sms_to(LEADER_PHONE),
                     what="the offer")
    return team_id, request_id, assignment_id


async def test_a_leader_accepts_by_sms_and_reports_done(notify) -> None:
    team_id, request_id, assignment_id = await offer_to_team(notify)
    answer = await notify.inbound_sms(LEADER_PHONE, "１。")  # full-width digit and a full stop
    assert answer.status_code == 200 and answer.json() == {"outcome": "accept"}
    replied = await notify.bus.wait_for("aid.assignment.replied.v1")
    assert replied["data"]["assignment_id"] == str(assignment_id)
    assert replied["data"]["team_id"] == str(team_id)
    assert (replied["data"]["action"], replied["data"]["channel"]) == ("accept", "sms")
    assert replied["correlationid"] == str(request_id)

    await notify.bus.publish(status_changed(request_id, "accepted", 3, team_id, assignment_id))
    await eventually(lambda: notify.capture.sms_to(LEADER_PHONE)[1:], what="the contact")
    assert (await notify.inbound_sms(LEADER_PHONE, "完成")).json() == {"outcome": "complete"}
    await notify.bus.wait_for("aid.assignment.replied.v1", lambda e: e["data"]["action"] == "complete")


async def test_a_leader_declines_in_the_team_chat(notify) -> None:
    team_id, _, assignment_id = await offer_to_team(notify, chat=True)
    answer = await notify.inbound_chat(team_id, "拒绝")
    assert answer.json() == {"outcome": "decline"}
    replied = await notify.bus.wait_for("aid.assignment.replied.v1")
    assert replied["data"] | {"received_at": None} == {
        "assignment_id": str(assignment_id), "team_id": str(team_id), "action": "decline",
        "channel": "chat", "received_at": None}


async def test_two_open_offers_need_the_task_number(notify) -> None:
    team_id, request_id, first = await offer_to_team(notify)
    second = uuid4()
    await notify.bus.publish(offered(request_id, team_id, second))
    await eventually(lambda: notify.capture.sms_to(LEADER_PHONE)[1:], what="the second offer")
    assert (await notify.inbound_sms(LEADER_PHONE, "ACCEPT")).json() == {"outcome": "help"}
    help_text = (await eventually(lambda: notify.capture.sms_to(LEADER_PHONE)[2:], what="the help text"))[0]
    assert str(first)[:8] in help_text.body["message"] and str(second)[:8] in help_text.body["message"]
    assert (await notify.inbound_sms(LEADER_PHONE, f"1 {str(second)[:8]}")).json() == {"outcome": "accept"}
    replied = await notify.bus.wait_for("aid.assignment.replied.v1")
    assert replied["data"]["assignment_id"] == str(second)


async def test_a_requester_rates_a_done_request_once(notify) -> None:
    team_id, request_id, assignment_id = await offer_to_team(notify)
    await notify.bus.publish(status_changed(request_id, "done", 5, team_id, assignment_id))
    await eventually(lambda: notify.capture.sms_to(REQUESTER_PHONE)[1:], what="the rating question")
    assert (await notify.inbound_sms(REQUESTER_PHONE, "5")).json() == {"outcome": "rated"}
    feedback = await notify.bus.wait_for("aid.request.feedback_given.v1")
    assert feedback["data"]["request_id"] == str(request_id)
    assert (feedback["data"]["rating"], feedback["data"]["channel"]) == (5, "sms")
    assert (await notify.inbound_sms(REQUESTER_PHONE, "4")).json() == {"outcome": "help"}
    assert len(await notify.bus.published("aid.request.feedback_given.v1")) == 1


async def test_an_unrecognised_reply_gets_a_short_help_text_in_the_senders_language(notify) -> None:
    await notify.bus.publish(request_received(uuid4(), locale="en", phone="+447911123456"))
    await eventually(lambda: notify.capture.sms_to("+447911123456"), what="the receipt")
    assert (await notify.inbound_sms("+447911123456", "when will they come?")).json() == {"outcome": "help"}
    help_text = (await eventually(lambda: notify.capture.sms_to("+447911123456")[1:], what="the help"))[0]
    assert help_text.body["message"].startswith("Sorry, we did not understand your reply.")


async def test_webhooks_refuse_bad_or_missing_signatures_and_name_bad_fields(notify) -> None:
    wrong = await notify.inbound_sms(LEADER_PHONE, "1", secret="not-the-secret")
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"
    unsigned = await notify.client.post("/v1/inbound/sms", json={"from": LEADER_PHONE, "text": "1"})
    assert unsigned.status_code == 401
    body = json.dumps({"from": "13800138000", "text": ""}).encode()
    bad = await notify.client.post("/v1/inbound/sms", content=body, headers={
        "content-type": "application/json", "X-Heartline-Signature": sign(INBOUND_SECRET, body)})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"from", "text"}
    form = b"From=%2B8613900139000&Body=STOP&MessageSid=SM1"
    twilio = await notify.client.post("/v1/inbound/sms", content=form, headers={
        "content-type": "application/x-www-form-urlencoded", "X-Heartline-Signature": sign(INBOUND_SECRET, form)})
    assert twilio.json() == {"outcome": "opted_out"}
    again = await notify.client.post("/v1/inbound/sms", content=form, headers={
        "content-type": "application/x-www-form-urlencoded", "X-Heartline-Signature": sign(INBOUND_SECRET, form)})
    assert again.json() == {"outcome": "duplicate"}
    assert (await notify.inbound_chat(uuid4(), "1")).status_code == 404
