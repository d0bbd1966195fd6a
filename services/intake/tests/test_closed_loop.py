"""The closed loop: status from dispatch's events, cancel, feedback through
the API and relayed from notify (an SMS rating)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from shared.contracts import RequestFeedbackGivenV1, RequestStatusChangedV1
from tests.support.bus import TestBus
from tests.support.system import request_body

from .conftest import new_partner


def status_event(request_id: str, status: str, sequence: int, reason: str | None = None,
                 at: datetime | None = None) -> RequestStatusChangedV1:
    return RequestStatusChangedV1(
        source="heartline/dispatch", correlationid=request_id,
        data=dict(request_id=request_id, status=status, sequence=sequence, reason=reason,
                  changed_at=at or datetime.now(UTC)),
    )


async def wait_for_status(client, request_id: str, status: str, timeout: float = 15.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body = (await client.get(f"/v1/requests/{request_id}")).json()
        if body["status"] == status:
            return body
        assert loop.time() < deadline, f"status stayed {body['status']}, expected {status}"
        await asyncio.sleep(0.05)


async def test_the_requester_status_follows_dispatch_with_the_time_of_each_change(intake, bus_env) -> None:
    request_id = (await intake.post("/v1/requests", json=request_body())).json()["id"]
    async with TestBus(bus_env) as bus:
        for sequence, (status, public) in enumerate(
                (("queued", "received"), ("offered", "received"), ("accepted", "assigned"),
                 ("in_progress", "in_progress"), ("done", "done")), 1):
            await bus.publish(status_event(request_id, status, sequence))
            if sequence > 2:
                await wait_for_status(intake, request_id, public)
        # A late, older change does not move it back.
        await bus.publish(status_event(request_id, "accepted", 3))
        await bus.publish(status_event(request_id, "closed", 6, "confirmed by the requester"))
        body = await wait_for_status(intake, request_id, "closed")
    assert [h["status"] for h in body["history"]] == ["received", "assigned", "in_progress", "done", "closed"]
    assert body["history"][-1]["reason"] == "confirmed by the requester"
    assert all(h["at"] for h in body["history"])


async def test_changes_that_arrive_out_of_order_all_reach_the_history_in_order(intake, bus_env) -> None:
    """The consumer handles a fetched batch side by side, so dispatch's
    "accepted" can land after its "done": the status stays done, and the
    requester still sees when it was assigned, in its place."""
    request_id = (await intake.post("/v1/requests", json=request_body())).json()["id"]
    start = datetime.now(UTC)
    at = {n: start + timedelta(minutes=n) for n in range(1, 6)}
    async with TestBus(bus_env) as bus:
        await bus.publish(status_event(request_id, "done", 5, at=at[5]))
        await wait_for_status(intake, request_id, "done")
        for status, sequence in (("accepted", 3), ("offered", 2), ("in_progress", 4), ("accepted", 3)):
            await bus.publish(status_event(request_id, status, sequence, at=at[sequence]))
        await bus.settled("intake-request-status")
    body = (await intake.get(f"/v1/requests/{request_id}")).json()
    assert body["status"] == "done"
    assert [(h["status"], h["at"]) for h in body["history"][1:]] == [
        (status, at[n].isoformat().replace("+00:00", "Z"))
        for status, n in (("assigned", 3), ("in_progress", 4), ("done", 5))]


async def test_cancelling_publishes_and_is_refused_once_done(intake, bus_env) -> None:
    _, partner = await new_partner(intake)
    async with partner:
        first = (await partner.post("/v1/requests", json=request_body(external_id="c-1"))).json()
        cancelled = await partner.post(f"/v1/requests/{first['id']}/cancel", json={"reason": "family helped"})
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert (await partner.post(f"/v1/requests/{first['id']}/cancel")).status_code == 200  # harmless twice
        async with TestBus(bus_env) as bus:
            event = await bus.wait_for("aid.request.cancelled.v1",
                                       lambda e: e["data"]["request_id"] == first["id"])
            assert (event["data"]["cancelled_by"], event["data"]["reason"]) == ("partner", "family helped")
            assert len(await bus.published("aid.request.cancelled.v1")) == 1
            # Dispatch, not yet aware, offers it: the requester still sees it cancelled.
            await bus.publish(status_event(first["id"], "offered", 2))
            await bus.publish(status_event(first["id"], "cancelled", 3))

            second = (await partner.post("/v1/requests", json=request_body(external_id="c-2"))).json()
            await bus.publish(status_event(second["id"], "done", 1))
            await wait_for_status(partner, second["id"], "done")
            # The first one's changes may have been handled side by side with
            # the second's, or not yet: wait until every change was handled.
            await bus.settled("intake-request-status")
        assert (await partner.get(f"/v1/requests/{first['id']}")).json()["status"] == "cancelled"
        refused = await partner.post(f"/v1/requests/{second['id']}/cancel")
        assert refused.status_code == 409
        assert refused.json()["request_status"] == "done"
        assert "done" in refused.json()["detail"]
        bad = await partner.post(f"/v1/requests/{second['id']}/cancel", json={"reason": 5})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"
        missing = await partner.post(f"/v1/requests/{uuid4()}/cancel")
        assert missing.status_code == 404


async def test_feedback_only_when_done_and_it_is_published(intake, bus_env) -> None:
    request_id = (await intake.post("/v1/requests", json=request_body())).json()["id"]
    early = await intake.post(f"/v1/requests/{request_id}/feedback", json={"rating": 5})
    assert early.status_code == 409
    assert "received" in early.json()["detail"]
    for bad, field in (({"rating": 6}, "rating"), ({"rating": 0}, "rating"), ({}, "rating"),
                       ({"rating": "five"}, "rating"), ({"rating": 4, "comment": 1}, "comment")):
        response = await intake.post(f"/v1/requests/{request_id}/feedback", json=bad)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, bad
    async with TestBus(bus_env) as bus:
        await bus.publish(status_event(request_id, "done", 1))
        await wait_for_status(intake, request_id, "done")
        given = await intake.post(f"/v1/requests/{request_id}/feedback",
                                  json={"rating": 4, "comment": "谢谢"})
        assert given.status_code == 200
        assert given.json()["feedback"]["rating"] == 4
        assert given.json()["feedback"]["channel"] == "api"
        same = await intake.post(f"/v1/requests/{request_id}/feedback", json={"rating": 4, "comment": "谢谢"})
        assert same.status_code == 200  # a retry of the same feedback
        other = await intake.post(f"/v1/requests/{request_id}/feedback", json={"rating": 1})
        assert other.status_code == 409
        event = await bus.wait_for("aid.request.feedback_given.v1",
                                   lambda e: e["data"]["request_id"] == request_id)
        assert (event["data"]["rating"], event["data"]["comment"], event["source"]) == (4, "谢谢", "heartline/intake")
        assert len(await bus.published("aid.request.feedback_given.v1")) == 1


async def test_a_rating_sent_by_sms_is_recorded_once(intake, bus_env) -> None:
    request_id = (await intake.post("/v1/requests", json=request_body())).json()["id"]

    def rating(value: int, source: str = "heartline/notify") -> RequestFeedbackGivenV1:
        return RequestFeedbackGivenV1(
            source=source, correlationid=request_id,
            data=dict(request_id=request_id, rating=value, channel="sms", given_at=datetime.now(UTC)))

    async with TestBus(bus_env) as bus:
        await bus.publish(status_event(request_id, "done", 1))
        await wait_for_status(intake, request_id, "done")
        first = rating(5)
        await bus.publish(first)
        await bus.publish(first, msg_id=f"redelivered-{first.id}")  # a redelivery JetStream cannot catch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while (feedback := (await intake.get(f"/v1/requests/{request_id}")).json()["feedback"]) is None:
            assert loop.time() < deadline, "the SMS rating was not recorded"
            await asyncio.sleep(0.05)
        # A second reply does not overwrite the first.  Published once the
        # first is recorded: events fetched together are handled side by
        # side, so which of two in one batch counts as first is chance.
        await bus.publish(rating(2))
        await bus.settled("intake-request-feedback")
        feedback = (await intake.get(f"/v1/requests/{request_id}")).json()["feedback"]
    assert (feedback["rating"], feedback["channel"]) == (5, "sms")
    # The API then refuses a different rating: the requester already answered.
    assert (await intake.post(f"/v1/requests/{request_id}/feedback", json={"rating": 1})).status_code == 409


async def test_intakes_own_feedback_event_coming_back_changes_nothing(intake, bus_env) -> None:
    request_id = (await intake.post("/v1/requests", json=request_body())).json()["id"]
    async with TestBus(bus_env) as bus:
        await bus.publish(RequestFeedbackGivenV1(
            source="heartline/intake", correlationid=request_id,
            data=dict(request_id=request_id, rating=3, channel="api", given_at=datetime.now(UTC))))
        await bus.settled("intake-request-feedback")
        assert (await intake.get(f"/v1/requests/{request_id}")).json()["feedback"] is None
        # And it did not take the place of the requester's own answer.
        marker = RequestFeedbackGivenV1(
            source="heartline/notify", correlationid=request_id,
            data=dict(request_id=request_id, rating=5, channel="sms", given_at=datetime.now(UTC)))
        await bus.publish(marker)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while (feedback := (await intake.get(f"/v1/requests/{request_id}")).json()["feedback"]) is None:
            assert loop.time() < deadline
            await asyncio.sleep(0.05)
    assert feedback["rating"] == marker.data.rating
