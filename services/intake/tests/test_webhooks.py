"""Partner webhooks: every status change of a partner's request is POSTed,
signed, retried with backoff, and logged where the partner can read it."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import time

from services.intake import webhooks
from tests.support.bus import TestBus
from tests.support.httpserver import LocalHttpServer, Request
from tests.support.system import request_body

from .conftest import new_partner
from .test_closed_loop import status_event


class Receiver:
    """A partner's callback endpoint; answers 500 to the first `fail_next` posts."""

    def __init__(self, fail_next: int = 0) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = fail_next
        self.lock = threading.Lock()
        self.http = LocalHttpServer(self._answer)
        self.url = f"{self.http.url}/hook"

    def _answer(self, request: Request) -> None:
        raw = request.body()
        with self.lock:
            failing = self.fail_next > 0
            self.fail_next -= failing
            if not failing:
                self.received.append(({k.lower(): v for k, v in request.headers.items()}, raw))
        request.reply(500 if failing else 204)

    def stop(self) -> None:
        self.http.stop()

    def payloads(self) -> list[dict]:
        with self.lock:
            return [json.loads(raw) for _, raw in self.received]


async def until(predicate, timeout: float = 20.0, what: str = "condition"):
    """Polls `predicate` (plain or async) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


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

            log = await until(delivered, what="the delivery to succeed after two failures")
            assert (log[0]["attempts"], log[0]["last_status_code"]) == (3, 204)
            assert log[0]["payload"]["status"] == "assigned"

            headers, raw = receiver.received[0]
            assert webhooks.verify(secret, headers["heartline-signature"], raw, now=int(time.time()))
            assert not webhooks.verify("another secret", headers["heartline-signature"], raw, now=int(time.time()))
            payload = json.loads(raw)
            assert headers["heartline-delivery"] == payload["delivery_id"] == log[0]["id"]
            assert (payload["request_id"], payload["external_id"], payload["status"], payload["previous_status"]) \
                == (request["id"], "w-1", "assigned", "received")
            assert "13800138000" not in raw.decode() and "Li Na" not in raw.decode()

            await partner.post(f"/v1/requests/{request['id']}/cancel")
            await until(lambda: [p["status"] for p in receiver.payloads()] == ["assigned", "cancelled"],
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

                log = await until(failed, what="the delivery to give up")
                assert (log[0]["attempts"], log[0]["last_status_code"]) == (3, 500)
                assert log[0]["last_error"] == "answered HTTP 500"
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
