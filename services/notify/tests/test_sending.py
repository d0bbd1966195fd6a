"""Sending: retries with backoff when the provider answers 500 or does not
answer in time, the dead-letter record and the coordinators' alert, quiet
hours (with an injected clock), the delivery log's filters, and no secret in
logs or API output."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from tests.support.httpserver import LocalHttpServer, Request
from tests.support.waiting import eventually

from .conftest import (
    COMMUNITY,
    REQUESTER_PHONE,
    coordinator,
    offered,
    publish_wuhan,
    request_received,
    team_changed,
)


async def test_a_provider_500_is_retried_with_backoff_until_it_goes_through(notify) -> None:
    notify.capture.fail_next = 2
    await notify.bus.publish(request_received(uuid4()))
    await eventually(lambda: notify.capture.sms_to(REQUESTER_PHONE), what="the SMS after two failures")
    [delivery] = await eventually(lambda: notify.deliveries(status="sent"), what="the sent record")
    assert delivery["attempts"] == 3 and delivery["last_error"] is None
    delivered = await notify.bus.wait_for("aid.notification.delivered.v1")
    assert (delivered["data"]["status"], delivered["data"]["attempts"]) == ("sent", 3)


async def test_after_the_last_attempt_a_failed_record_and_a_coordinator_alert(notify) -> None:
    notify.capture.fail_next = 3  # max_attempts is 3: every attempt fails, the alert then goes through
    request_id = uuid4()
    await notify.bus.publish(request_received(request_id))
    alert = (await eventually(lambda: notify.capture.at("/chat/jianghan-coordinators"), what="the alert"))[0]
    assert alert.body["message"].startswith("【消息未送达】发给求助人的短信消息（求助 HL-7Q2K）尝试 3 次后失败")
    [failed] = await notify.deliveries(status="failed")
    assert failed["request_id"] == str(request_id)
    assert failed["attempts"] == 3 and failed["last_error"] == "the provider refused the message"
    await notify.bus.wait_for("aid.notification.delivered.v1", lambda e: e["data"]["status"] == "failed")
    assert not notify.capture.sms_to(REQUESTER_PHONE)


class SlowFirstServer:
    """An SMS gateway that holds its first request without answering."""

    def __init__(self, hold_seconds: float) -> None:
        self.received: list[dict] = []
        self.calls = 0
        self.release = threading.Event()
        self.hold_seconds = hold_seconds
        self.http = LocalHttpServer(self._answer)

    def _answer(self, request: Request) -> None:
        raw = request.body()
        self.calls += 1
        if self.calls == 1:
            self.release.wait(self.hold_seconds)
        else:
            self.received.append(json.loads(raw))
        request.reply(200)

    @property
    def sms_url(self) -> str:
        return f"json://{self.http.address}/sms?:to={{to}}"

    def stop(self) -> None:
        self.release.set()
        self.http.stop()


@pytest.fixture
def slow_gateway():
    server = SlowFirstServer(hold_seconds=10)
    yield server
    server.stop()


async def test_a_provider_that_does_not_answer_in_time_is_retried(bus_env, make_database, capture, clock,
                                                                  slow_gateway) -> None:
    from services.notify.app import create_app
    from tests.support.bus import TestBus
    from tests.support.inprocess import serve_in_process

    from .conftest import notify_settings

    settings = notify_settings(bus_env, await make_database("notify"), capture,
                               sms_url=slow_gateway.sms_url, send_timeout_seconds=0.5)
    async with serve_in_process(create_app(settings, clock=clock)) as client, TestBus(bus_env) as bus:
        await bus.publish(request_received(uuid4()))
        await eventually(lambda: slow_gateway.received, what="the SMS on the second attempt")
        assert slow_gateway.received[0]["to"] == REQUESTER_PHONE
        async def sent():
            return [d for d in (await client.get("/v1/deliveries")).json() if d["status"] == "sent"]
        [delivery] = await eventually(sent, what="the sent record")
        assert delivery["attempts"] == 2


QUIET = {"quiet_start": "22:00", "quiet_end": "07:00", "timezone": "Asia/Shanghai"}


@pytest.mark.parametrize("notify", [QUIET], indirect=True)
async def test_quiet_hours_defer_non_urgent_messages_and_let_urgent_ones_through(notify) -> None:
    notify.clock.at = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    normal, critical = uuid4(), uuid4()
    await notify.bus.publish(request_received(normal, urgency="normal", reference="HL-NORM"))
    await notify.bus.publish(request_received(critical, urgency="critical", phone="+8613800000009",
                                              reference="HL-CRIT"))
    await eventually(lambda: notify.capture.sms_to("+8613800000009"), what="the critical receipt at night")
    # The gateway sees the SMS a moment before the log marks it sent; wait for the log, not the gateway.
    await eventually(lambda: notify.deliveries(status="sent", request_id=str(critical)), what="the critical record")
    [deferred] = await eventually(lambda: notify.deliveries(status="pending"), what="the deferred record")
    assert deferred["request_id"] == str(normal)
    assert "HL-NORM" in deferred["body"]
    assert deferred["next_attempt_at"] == "2026-11-21T23:00:00Z"  # 07:00 in Shanghai
    assert not notify.capture.sms_to(REQUESTER_PHONE)
    notify.clock.at = datetime(2026, 11, 21, 23, 0, 1, tzinfo=UTC)
    sms = await eventually(lambda: notify.capture.sms_to(REQUESTER_PHONE), what="the receipt in the morning")
    assert "HL-NORM" in sms[0].body["message"]


async def test_the_delivery_log_filters_pages_and_hides_addresses(notify, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ids = [uuid4() for _ in range(3)]
    for i, request_id in enumerate(ids):
        await notify.bus.publish(request_received(request_id, phone=f"+861380000001{i}"))
    await eventually(lambda: len(notify.capture.at("/sms")) == 3, what="three receipts")
    started = datetime.now(UTC) - timedelta(minutes=5)
    first = await notify.client.get("/v1/deliveries", params={"limit": 2, "recipient": "requester"})
    assert first.headers["X-Total-Count"] == "3" and len(first.json()) == 2
    second = await notify.client.get("/v1/deliveries", params={"limit": 2, "offset": 2, "recipient": "requester"})
    assert len(second.json()) == 1
    assert {d["id"] for d in first.json() + second.json()} == {d["id"] for d in await notify.deliveries()}
    assert [d["request_id"] for d in await notify.deliveries(request_id=str(ids[1]))] == [str(ids[1])]
    assert await notify.deliveries(channel="chat") == []
    assert await notify.deliveries(recipient="team") == []
    assert len(await notify.deliveries(since=started.isoformat())) == 3
    assert await notify.deliveries(until=started.isoformat()) == []
    assert [d["to"] for d in await notify.deliveries(request_id=str(ids[0]))] == ["+86138****0010"]
    bad = await notify.client.get("/v1/deliveries", params={"since": started.isoformat(),
                                                           "until": started.isoformat(), "status": "lost"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"query.status"}
    backwards = await notify.client.get("/v1/deliveries", params={
        "since": started.isoformat(), "until": (started - timedelta(hours=1)).isoformat()})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "until"
    logged = caplog.text
    assert f"{notify.capture.url}/sms" not in logged and "+8613800000010" not in logged


HOSTILE = {"outbound_allowed_hosts": []}  # the operator lists no host: 127.0.0.1 is inside the cluster


@pytest.mark.parametrize("notify", [HOSTILE], indirect=True)
async def test_a_team_chat_url_into_the_cluster_is_refused_at_once(notify) -> None:
    hostile = {
        "loopback": notify.capture.chat_url("evil"),  # json://127.0.0.1:<port>/chat/evil
        "metadata": "json://169.254.169.254/latest/meta-data/?method=PUT&+X-aws-ec2-metadata-token-ttl-seconds=60",
        "resolved": f"matrix://bot:pw@127.0.0.1:{notify.capture.url.rsplit(':', 1)[1]}/!room",
        "several": f"tgram://123:abc/456, {notify.capture.chat_url('evil')}",
    }
    for name, url in hostile.items():
        team_id, request_id = uuid4(), uuid4()
        await notify.bus.publish(team_changed(team_id, url, name=f"Team {name}", leader_phone="+8613900139001"))
        await notify.bus.publish(request_received(request_id, phone="+8613800000101"))
        await notify.bus.publish(offered(request_id, team_id))
    failed = await eventually(lambda: _team_deliveries(notify, "failed", 4), what="four refused offers")
    for delivery in failed:
        assert delivery["attempts"] == 1 and delivery["last_error"].startswith("refused: the team's chat URL ")
        assert delivery["to"] == "(chat)"
    reasons = {d["last_error"] for d in failed}
    assert any("HEARTLINE_OUTBOUND_ALLOWED_HOSTS" in r for r in reasons)  # json:// to an unlisted host
    assert any("loopback, private, link-local" in r for r in reasons)  # matrix:// resolved at send time
    assert any("exactly one URL" in r for r in reasons)
    assert notify.capture.at("/chat/evil") == []  # no POST reached the port
    shown = (await notify.client.get("/v1/deliveries")).text
    assert "169.254" not in shown and notify.capture.url not in shown and "bot:pw" not in shown
    delivered = await notify.bus.wait_for("aid.notification.delivered.v1", lambda e: e["data"]["status"] == "failed")
    assert delivered["data"]["attempts"] == 1


async def _team_deliveries(notify, status: str, count: int) -> list[dict] | None:
    found = await notify.deliveries(recipient="team", status=status)
    return found if len(found) >= count else None


async def test_the_delivery_log_is_scoped_by_the_community_tree_and_bounded(notify) -> None:
    await publish_wuhan(notify)
    await notify.bus.publish(request_received(uuid4(), phone="+8613800000201"))
    await notify.bus.publish(request_received(uuid4(), phone="+8613800000202", community="wuhan-hongshan-07"))
    await eventually(lambda: len(notify.capture.at("/sms")) == 2, what="both receipts")
    as_jianghan = await notify.client.get("/v1/deliveries", headers=coordinator(COMMUNITY))
    assert [d["to"] for d in as_jianghan.json()] == ["+86138****0201"]
    as_district = await notify.client.get("/v1/deliveries", headers=coordinator("wuhan-hongshan"))
    assert [d["to"] for d in as_district.json()] == ["+86138****0202"]
    elsewhere = await notify.client.get("/v1/deliveries", headers=coordinator("wuhan-wuchang-03"))
    assert elsewhere.json() == [] and elsewhere.headers["X-Total-Count"] == "0"
    assert len(await notify.deliveries()) == 2  # the admin sees all
    for params, field in (({"offset": 10**12}, "query.offset"), ({"limit": 0}, "query.limit"),
                          ({"limit": 10**9}, "query.limit"), ({"since": "9999999999999-01-01"}, "query.since")):
        bad = await notify.client.get("/v1/deliveries", params=params)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, bad.text
    anonymous = await notify.client.get("/v1/deliveries", headers={"Authorization": ""})
    assert anonymous.status_code == 401
