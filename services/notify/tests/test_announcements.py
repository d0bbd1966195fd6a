"""Announcements, who hears what, in which language, exactly once: events in
on real NATS, messages out to a local HTTP server standing in for the SMS
gateway, team chats and coordinators; notify on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from shared.contracts import MemberCheckinMissingV1, RequestSlaBreachedV1
from tests.support.waiting import eventually

from .conftest import COMMUNITY, LEADER_PHONE, REQUESTER_PHONE, offered, request_received, status_changed, team_changed


async def test_a_request_life_tells_each_person_the_right_thing_in_their_language(notify) -> None:
    capture = notify.capture
    team_id, request_id, assignment_id = uuid4(), uuid4(), uuid4()
    await notify.bus.publish(team_changed(team_id, capture.chat_url("team-a"), name="Sunrise Team"))
    await notify.bus.publish(request_received(request_id, locale="en"))

    received = await eventually(lambda: capture.sms_to(REQUESTER_PHONE), what="the receipt SMS")
    assert received[0].body["message"].startswith("[Heartline] We received your request (medicine)")
    assert "HL-7Q2K" in received[0].body["message"]

    await notify.bus.publish(offered(request_id, team_id, assignment_id))
    offer = (await eventually(lambda: capture.at("/chat/team-a"), what="the offer in the team chat"))[0].body["message"]
    assert "【新任务】紧急｜药品｜距离 0.6 公里" in offer  # the team's language, not the requester's
    assert str(assignment_id)[:8] in offer and "回复 1 接受，2 拒绝" in offer
    assert REQUESTER_PHONE not in offer, "the requester's phone before acceptance"

    # Dispatch promised a team by 06:30 UTC: 14:30 in Shanghai, the configured zone.
    await notify.bus.publish(status_changed(request_id, "accepted", 3, team_id, assignment_id,
                                            changed_at=datetime(2026, 11, 21, 5, 10, tzinfo=UTC),
                                            expected_by=datetime(2026, 11, 21, 6, 30, tzinfo=UTC)))
    assigned = (await eventually(lambda: capture.sms_to(REQUESTER_PHONE)[1:], what="the assigned SMS"))[0]
    assert 'taken by the volunteer team "Sunrise Team". Expect them by 14:30.' in assigned.body["message"]
    contact = (await eventually(lambda: capture.at("/chat/team-a")[1:], what="the contact in the chat"))[0]
    assert "求助人：Li Na，电话 +8613800138000，编号 HL-7Q2K" in contact.body["message"]
    assert "Insulin for an elderly woman" in contact.body["message"]

    await notify.bus.publish(status_changed(request_id, "done", 5, team_id, assignment_id))
    done = (await eventually(lambda: capture.sms_to(REQUESTER_PHONE)[2:], what="the rating SMS"))[0]
    assert "reply 1-5 to confirm and rate" in done.body["message"]

    await notify.bus.publish(status_changed(uuid4(), "escalated", 2, reason="no team within 5 km"))
    alert = (await eventually(lambda: capture.at("/chat/jianghan-coordinators"), what="the escalation"))[0]
    assert "已升级：no team within 5 km" in alert.body["message"]
    assert f"社区 {COMMUNITY}" in alert.body["message"]

    log = await notify.deliveries(request_id=str(request_id))
    assert sorted((d["template"], d["recipient"], d["channel"], d["locale"]) for d in log) == [
        ("request_received", "requester", "sms", "en"),
        ("requester_assigned", "requester", "sms", "en"),
        ("requester_done", "requester", "sms", "en"),
        ("team_contact", "team", "chat", "zh-CN"),
        ("team_offer", "team", "chat", "zh-CN"),
    ]
    assert all(d["status"] == "sent" for d in log)
    assert all(REQUESTER_PHONE not in d["to"] and "127.0.0.1" not in d["to"] for d in log)
    assert "127.0.0.1" not in str(log), "a chat URL in the API output"


async def test_the_team_holding_a_cancelled_request_is_told_to_stand_down(notify) -> None:
    capture = notify.capture
    team_id, request_id, assignment_id = uuid4(), uuid4(), uuid4()
    await notify.bus.publish(team_changed(team_id, capture.chat_url("team-c")))
    await notify.bus.publish(request_received(request_id))
    await notify.bus.publish(offered(request_id, team_id, assignment_id))
    await eventually(lambda: capture.at("/chat/team-c"), what="the offer")
    await notify.bus.publish(status_changed(request_id, "cancelled", 3, team_id, assignment_id,
                                            reason="the requester's neighbour helped"))
    told = (await eventually(lambda: capture.at("/chat/team-c")[1:], what="the stand-down"))[0].body["message"]
    assert told == f"【任务 {str(assignment_id)[:8]} 已取消】求助 HL-7Q2K 已取消，无需前往。谢谢！"
    # A cancellation no team held (it was still queued) tells no team.
    other = uuid4()
    await notify.bus.publish(request_received(other))
    await notify.bus.publish(status_changed(other, "cancelled", 2))
    await notify.bus.settled("notify-requests")
    await notify.bus.settled("notify-statuses")
    assert [d["template"] for d in await notify.deliveries(request_id=str(other))] == ["request_received"]


async def test_chinese_requester_and_a_team_without_chat_reached_by_its_leader_sms(notify) -> None:
    capture = notify.capture
    team_id, request_id = uuid4(), uuid4()
    await notify.bus.publish(team_changed(team_id, chat_url=None))
    await notify.bus.publish(request_received(request_id, locale="zh-CN"))
    receipt = (await eventually(lambda: capture.sms_to(REQUESTER_PHONE), what="the receipt"))[0]
    assert receipt.body["message"].startswith("【社区互助】已收到您的求助（药品），编号 HL-7Q2K")
    await notify.bus.publish(offered(request_id, team_id, summary="药" * 400))
    offer = (await eventually(lambda: capture.sms_to(LEADER_PHONE), what="the offer by SMS"))[0].body["message"]
    # Kept within the 3 segments allowed: the summary was shortened, the instructions were not.
    assert len(offer) <= 3 * 67 and "…" in offer and "回复 1 接受，2 拒绝" in offer


async def test_an_event_delivered_twice_sends_one_message(notify) -> None:
    capture = notify.capture
    event = request_received(uuid4())
    await notify.bus.publish(event, msg_id="first")
    await notify.bus.publish(event, msg_id="second")  # past JetStream's de-duplication
    await eventually(lambda: capture.sms_to(REQUESTER_PHONE), what="the receipt")
    await notify.bus.publish(request_received(uuid4(), phone="+8613800000001"))
    await eventually(lambda: capture.sms_to("+8613800000001"), what="a later message")
    # The repeat had its chance: events fetched together are handled side by side.
    await notify.bus.settled("notify-requests")
    assert len(capture.sms_to(REQUESTER_PHONE)) == 1
    assert len(await notify.deliveries(recipient="requester")) == 2


async def test_a_requester_who_prefers_a_call_is_called_by_a_coordinator(notify) -> None:
    request_id = uuid4()
    await notify.bus.publish(request_received(request_id, preferred_channel="phone_call"))
    call = (await eventually(lambda: notify.capture.at("/chat/jianghan-coordinators"), what="the call request"))[0]
    assert "【请致电求助人】Li Na +8613800138000" in call.body["message"]
    assert "已收到您的求助" in call.body["message"]
    assert not notify.capture.sms_to(REQUESTER_PHONE)


async def test_a_member_without_todays_checkin_is_reminded(notify) -> None:
    await notify.bus.publish(MemberCheckinMissingV1(
        source="heartline/volunteers", correlationid="checkin", data=dict(
            member_id=uuid4(), name="Zhang San", phone="+8613700137000", locale="en", day="2026-11-21")))
    sms = (await eventually(lambda: notify.capture.sms_to("+8613700137000"), what="the reminder"))[0]
    assert sms.body["message"] == ("[Health check-in] Zhang San, you have not done your health "
                                   "check-in for today (2026-11-21) yet. Please do it now.")


async def test_a_missed_deadline_alerts_the_communitys_coordinators(notify) -> None:
    request_id = uuid4()
    await notify.bus.publish(request_received(request_id, locale="en"))
    await eventually(lambda: notify.capture.sms_to(REQUESTER_PHONE), what="the receipt")
    await notify.bus.publish(RequestSlaBreachedV1(
        source="heartline/dispatch", correlationid=str(request_id), data=dict(
            request_id=request_id, status="offered", urgency="high", community=COMMUNITY,
            due_at=datetime(2026, 11, 21, 2, 30, tzinfo=UTC),
            breached_at=datetime(2026, 11, 21, 2, 31, tzinfo=UTC))))
    alert = (await eventually(lambda: notify.capture.at("/chat/jianghan-coordinators"), what="the SLA alert"))[0]
    assert alert.body["message"] == (
        f"【超时未接单】求助 HL-7Q2K（紧急｜药品｜社区 {COMMUNITY}）应在 10:30 前被接单，"
        "目前状态：已派单待接受。请协调。")


@pytest.mark.parametrize("notify", [{"timezone": "Europe/Berlin"}], indirect=True)
async def test_the_assigned_sms_says_dispatchs_promised_time_or_no_time(notify) -> None:
    capture = notify.capture
    team_id, promised, unpromised = uuid4(), uuid4(), uuid4()
    await notify.bus.publish(team_changed(team_id, capture.chat_url("team-t"), name="Sunrise Team"))
    await notify.bus.publish(request_received(promised, phone="+8613800000021"))
    await notify.bus.publish(request_received(unpromised, phone="+8613800000022", reference="HL-OLD1"))
    await eventually(lambda: capture.sms_to("+8613800000021") and capture.sms_to("+8613800000022"),
                     what="both receipts")
    # 23:30 UTC is the next day in Berlin: the date is shown too.
    await notify.bus.publish(status_changed(promised, "accepted", 3, team_id, uuid4(),
                                            changed_at=datetime(2026, 11, 21, 13, 0, tzinfo=UTC),
                                            expected_by=datetime(2026, 11, 21, 23, 30, tzinfo=UTC)))
    # An older dispatch carries no promise: the message invents none.
    await notify.bus.publish(status_changed(unpromised, "accepted", 3, team_id, uuid4()))
    with_time = (await eventually(lambda: capture.sms_to("+8613800000021")[1:], what="the assigned SMS"))[0]
    assert with_time.body["message"] == "【社区互助】您的求助 HL-7Q2K 已由志愿队「Sunrise Team」接单，预计 11-22 00:30 前联系您。"
    without = (await eventually(lambda: capture.sms_to("+8613800000022")[1:], what="the other assigned SMS"))[0]
    assert without.body["message"] == "【社区互助】您的求助 HL-OLD1 已由志愿队「Sunrise Team」接单，将尽快联系您。"
