"""Issue #11's attacks on intake's partner doors, each tried and refused: a
webhook aimed inside the cluster, a redirect, the remote's error text read back,
and one partner's key reaching another partner's requests (every door)."""

from __future__ import annotations

from tests.support.bus import TestBus
from tests.support.httpserver import LocalHttpServer, Request
from tests.support.system import request_body
from tests.support.waiting import eventually

from .conftest import Receiver, new_partner, status_event


async def _last_try(partner) -> dict | None:
    log = (await partner.get("/v1/webhook/deliveries")).json()
    return log[0] if log and log[0]["attempts"] >= 1 else None


async def test_a_webhook_into_the_cluster_is_refused_when_it_would_be_sent(start_intake, bus_env) -> None:
    async with start_intake(outbound_allowed_hosts=[], webhook_poll_seconds=0.1) as (intake, _app):
        _, partner = await new_partner(intake)
        async with partner:
            # Its shape is fine, so it is stored; its address is what is refused.
            assert (await partner.put("/v1/webhook", json={"url": "http://127.0.0.1:5432/"})).status_code == 200
            request_id = (await partner.post("/v1/requests", json=request_body())).json()["id"]
            async with TestBus(bus_env) as bus:
                await bus.publish(status_event(request_id, "accepted", 1))
            tried = await eventually(lambda: _last_try(partner), what="the refused try")
            assert tried["last_error"] == "refused: address not allowed"
            assert tried["last_status_code"] is None and tried["state"] != "delivered"


async def test_a_redirect_is_not_followed_and_the_remotes_text_never_comes_back(intake, bus_env) -> None:
    inside = Receiver()
    secret_text = "FATAL: password authentication failed for user postgres"

    def answer(request: Request) -> None:
        request.body()
        request.send_response(302)
        request.send_header("Location", inside.url)
        request.send_header("Content-Length", str(len(secret_text)))
        request.end_headers()
        request.wfile.write(secret_text.encode())

    redirecting = LocalHttpServer(answer)
    try:
        _, partner = await new_partner(intake)
        async with partner:
            await partner.put("/v1/webhook", json={"url": f"{redirecting.url}/hook"})
            request_id = (await partner.post("/v1/requests", json=request_body())).json()["id"]
            async with TestBus(bus_env) as bus:
                await bus.publish(status_event(request_id, "accepted", 1))
            tried = await eventually(lambda: _last_try(partner), what="the redirected try")
            assert (tried["last_status_code"], tried["last_error"], tried["state"]) == (302, "3xx", "pending")
            assert secret_text not in (await partner.get("/v1/webhook/deliveries")).text
            assert inside.payloads() == []  # the redirect's target was never posted to
    finally:
        redirecting.stop()
        inside.stop()


async def test_webhook_urls_are_checked_when_stored(start_intake) -> None:
    async with start_intake(environment="production", ops_endpoints="open") as (intake, _app):
        _, partner = await new_partner(intake)
        async with partner:
            plain = await partner.put("/v1/webhook", json={"url": "http://partner.example/hook"})
            assert plain.status_code == 422 and plain.json()["errors"][0]["field"] == "url"
            assert (await partner.put("/v1/webhook", json={"url": "https://partner.example/hook"})).status_code == 200
    async with start_intake() as (intake, _app):
        _, partner = await new_partner(intake)
        async with partner:
            credentials = await partner.put("/v1/webhook", json={"url": "http://user:pw@partner.example/hook"})
            assert credentials.status_code == 422 and credentials.json()["errors"][0]["field"] == "url"


async def test_another_partners_key_reaches_nothing_of_mine(intake, bus_env) -> None:
    receiver = Receiver()
    try:
        _, alpha = await new_partner(intake, "Alpha")
        _, beta = await new_partner(intake, "Beta")
        async with alpha, beta:
            await alpha.put("/v1/webhook", json={"url": receiver.url})
            await beta.put("/v1/webhook", json={"url": receiver.url})
            mine = (await alpha.post("/v1/requests", json=request_body(external_id="a-1"))).json()
            async with TestBus(bus_env) as bus:
                await bus.publish(status_event(mine["id"], "accepted", 1))
            await eventually(lambda: _last_try(alpha), what="alpha's delivery")
            beta_key = beta.headers["Authorization"].removeprefix("Bearer ")
            assert (await beta.get(f"/v1/requests/{mine['id']}")).status_code == 404
            assert (await beta.get("/v1/requests")).json() == []
            assert (await beta.post(f"/v1/requests/{mine['id']}/cancel")).status_code == 404
            assert (await beta.post(f"/v1/requests/{mine['id']}/feedback", json={"rating": 1})).status_code == 404
            assert (await beta.get("/v1/webhook/deliveries", params={"request_id": mine["id"]})).json() == []
            assert (await beta.get("/v1/webhook/deliveries")).json() == []
            one = await intake.get(f"/open311/v2/requests/{mine['id']}.json", params={"api_key": beta_key},
                                   headers={"Authorization": ""})
            assert one.status_code == 404
            listed = await intake.get("/open311/v2/requests.json", params={"api_key": beta_key},
                                      headers={"Authorization": ""})
            assert listed.json() == []
            # Without a key, anyone sees only what does not identify the requester.
            [public] = (await intake.get(f"/open311/v2/requests/{mine['id']}.json",
                                         headers={"Authorization": ""})).json()
            assert public["description"] is None and public["address"] is None
            assert (await alpha.get(f"/v1/requests/{mine['id']}")).status_code == 200
    finally:
        receiver.stop()
