"""Inbound replies through the providers' signed webhooks: a leader's 1/2/DONE
becomes aid.assignment.replied.v1, a requester's 1-5 after completion
aid.request.feedback_given.v1, anything else a help text."""

from __future__ import annotations

import json
import time
from uuid import uuid4

from services.notify.replies import signed_headers, team_key
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
        "content-type": "application/json", **signed_headers(INBOUND_SECRET, body, int(time.time()))})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"from", "text"}
    form = b"From=%2B8613900139000&Body=STOP&MessageSid=SM1"
    twilio = await notify.client.post("/v1/inbound/sms", content=form, headers={
        "content-type": "application/x-www-form-urlencoded", **signed_headers(INBOUND_SECRET, form, int(time.time()))})
    assert twilio.json() == {"outcome": "opted_out"}
    again = await notify.client.post("/v1/inbound/sms", content=form, headers={
        "content-type": "application/x-www-form-urlencoded", **signed_headers(INBOUND_SECRET, form, int(time.time()))})
    assert again.json() == {"outcome": "duplicate"}
    assert (await notify.inbound_chat(uuid4(), "1")).status_code == 404


async def test_a_replayed_webhook_outside_five_minutes_is_refused(notify) -> None:
    now = time.time()
    for skew in (-301, -3600, 301):  # a captured call sent again later, or one dated ahead
        stale = await notify.inbound_sms(LEADER_PHONE, "STOP", at=now + skew)
        assert stale.status_code == 401 and "stale" in stale.json()["detail"]
    body = json.dumps({"from": LEADER_PHONE, "text": "STOP"}).encode()
    headers = signed_headers(INBOUND_SECRET, body, int(now))
    moved = await notify.client.post("/v1/inbound/sms", content=body, headers={
        "content-type": "application/json", **headers, "X-Heartline-Timestamp": str(int(now) + 1)})
    assert moved.status_code == 401  # the timestamp is signed: a fresh one cannot be put on an old signature
    consent = (await notify.client.get(f"/v1/consents/{LEADER_PHONE}")).json()
    assert consent["opted_out"] is False and consent["changed_via"] is None
    assert (await notify.inbound_sms(LEADER_PHONE, "STOP", at=now - 60)).json() == {"outcome": "opted_out"}


async def test_one_teams_bot_cannot_sign_for_another_team(notify) -> None:
    team_id, _, _ = await offer_to_team(notify, chat=True)
    other_team = uuid4()
    await notify.bus.publish(team_changed(other_team, notify.capture.chat_url("team-b"), name="Team B",
                                          leader_phone="+8613900139111"))
    other_key = (await eventually(lambda: _key(notify, other_team), what="team B known"))
    assert other_key == team_key(INBOUND_SECRET, str(other_team))
    forged = await notify.inbound_chat(team_id, "1", key=other_key)
    assert forged.status_code == 401
    shared = await notify.inbound_chat(team_id, "1", key=INBOUND_SECRET)  # the SMS secret is not a team's key
    assert shared.status_code == 401
    assert await notify.bus.published("aid.assignment.replied.v1") == []
    own = await notify.inbound_chat(team_id, "1", key=(await _key(notify, team_id)))
    assert own.status_code == 200 and own.json() == {"outcome": "accept"}


async def _key(notify, team_id) -> str | None:
    answer = await notify.client.get(f"/v1/teams/{team_id}/inbound-key")
    return answer.json()["key"] if answer.status_code == 200 else None
