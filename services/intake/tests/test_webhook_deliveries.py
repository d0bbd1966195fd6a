"""Partner webhooks (webhook_deliveries.py, sent by loops.py): every status
change of a partner's request is POSTed, signed, retried with backoff, and
logged where the partner can read it."""

from __future__ import annotations

import json
import time

from services.intake import webhook_deliveries
from shared.clock import backoff_seconds
from tests.support.bus import TestBus
from tests.support.system import request_body
from tests.support.waiting import eventually

from .conftest import Receiver, new_partner, status_event


def test_a_signature_verifies_only_with_the_same_secret_body_and_a_fresh_time() -> None:
    body = webhook_deliveries.body({"status": "assigned", "request_id": "r"})
    header = webhook_deliveries.signature("s3cret", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert webhook_deliveries.verify("s3cret", header, body, now=1_700_000_010)
    assert not webhook_deliveries.verify("other", header, body, now=1_700_000_010)
    assert not webhook_deliveries.verify("s3cret", header, body + b" ", now=1_700_000_010)
    assert not webhook_deliveries.verify("s3cret", header, body, now=1_700_001_000)
    assert not webhook_deliveries.verify("s3cret", "garbage", body, now=1_700_000_000)


def test_retries_back_off_exponentially_up_to_a_ceiling() -> None:
    gaps = [backoff_seconds(n, base=2, cap=60) for n in range(1, 8)]
    assert gaps == [2, 4, 8, 16, 32, 60, 60]


async def test_status_changes_are_posted_signed_and_retried(intake, bus_env) -> None:
    receiver = Receiver(fail_next=2)
    try:
        _, partner = await new_partner(intake)
        async with partner:
            registered = await partner.put("/v1/webhook", json={"url": receiver.url})
            assert registered.status_code == 200, registered.text
            secret = registered.json()["secret"]
            assert (await partner.get("/v1/webhook")).json() == {
                "url": receiver.url, "secret": None, "signature": registered.json()["signature"]}
            request = (await partner.post("/v1/requests", json=request_body(external_id="w-1"))).json()
            async with TestBus(bus_env) as bus:
                await bus.publish(status_event(request["id"], "accepted", 1))

            async def delivered():
                log = (await partner.get("/v1/webhook/deliveries")).json()
                return log if log and log[0]["state"] == "delivered" else None

            log = await eventually(delivered, what="the delivery to succeed after two failures")
            assert (log[0]["attempts"], log[0]["last_status_code"]) == (3, 204)
            assert log[0]["payload"]["status"] == "assigned"

            headers, raw = receiver.received[0]
            assert webhook_deliveries.verify(secret, headers["heartline-signature"], raw, now=int(time.time()))
            assert not webhook_deliveries.verify("another secret", headers["heartline-signature"], raw, now=int(time.time()))
            payload = json.loads(raw)
            assert headers["heartline-delivery"] == payload["delivery_id"] == log[0]["id"]
            assert (payload["request_id"], payload["external_id"], payload["status"], payload["previous_status"]) \
                == (request["id"], "w-1", "assigned", "received")
            assert "13800138000" not in raw.decode() and "Li Na" not in raw.decode()

            await partner.post(f"/v1/requests/{request['id']}/cancel")
            await eventually(lambda: [p["status"] for p in receiver.payloads()] == ["assigned", "cancelled"],
                        what="the cancellation to be posted")
            by_request = (await partner.get("/v1/webhook/deliveries",
                                            params={"request_id": request["id"]})).json()
            assert len(by_request) == 2
    finally:
        receiver.stop()


async def test_a_callback_that_keeps_failing_ends_failed_in_the_log(start_intake, bus_env) -> None:
    receiver = Receiver(fail_next=100)
    try:
        async with start_intake(webhook_poll_seconds=0.05, webhook_retry_base_seconds=0.05,
                                webhook_max_attempts=3) as (intake, _):
            _, partner = await new_partner(intake)
            async with partner:
                await partner.put("/v1/webhook", json={"url": receiver.url})
                request = (await partner.post("/v1/requests", json=request_body())).json()
                await partner.post(f"/v1/requests/{request['id']}/cancel")

                async def failed():
                    log = (await partner.get("/v1/webhook/deliveries")).json()
                    return log if log and log[0]["state"] == "failed" else None

                log = await eventually(failed, what="the delivery to give up")
                assert (log[0]["attempts"], log[0]["last_status_code"]) == (3, 500)
                assert log[0]["last_error"] == "5xx"  # a status class, never the remote's text
                assert log[0]["next_attempt_at"] is None
    finally:
        receiver.stop()


async def test_webhooks_belong_to_partners_and_need_an_http_url(intake) -> None:
    assert (await intake.put("/v1/webhook", json={"url": "https://example.org/h"})).status_code == 403
    assert (await intake.get("/v1/webhook/deliveries")).status_code == 403
    _, partner = await new_partner(intake)
    async with partner:
        assert (await partner.get("/v1/webhook")).status_code == 404
        for url in ("ftp://example.org/x", "not a url", 5):
            response = await partner.put("/v1/webhook", json={"url": url})
            assert response.status_code == 422, url
            assert response.json()["errors"][0]["field"] == "url"
        assert (await partner.put("/v1/webhook", json={"url": "https://example.org/h"})).status_code == 200
        assert (await partner.delete("/v1/webhook")).status_code == 204
        assert (await partner.get("/v1/webhook")).status_code == 404
        # No webhook, no deliveries queued.
        request = (await partner.post("/v1/requests", json=request_body())).json()
        await partner.post(f"/v1/requests/{request['id']}/cancel")
        assert (await partner.get("/v1/webhook/deliveries")).json() == []
