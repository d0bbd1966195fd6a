"""Stored requests (requests.py): who sees which, the status following
dispatch (with the time it promised), cancel, feedback through the API and
relayed from notify (an SMS rating), and lists that cost the same few
statements whatever their size."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import event

from shared.contracts import RequestFeedbackGivenV1
from shared.http import issue_coordinator_token
from tests.support.bus import TestBus
from tests.support.system import request_body
from tests.support.waiting import eventually

from .conftest import TOKEN_SECRET, client_as, new_partner, status_event, wait_for_status
from .test_submissions import _rich_body, add_community


async def recorded_feedback(client, request_id: str) -> dict | None:
    return (await client.get(f"/v1/requests/{request_id}")).json()["feedback"]


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
        await eventually(lambda: recorded_feedback(intake, request_id), what="the SMS rating to be recorded",
                         timeout=15)
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
        feedback = await eventually(lambda: recorded_feedback(intake, request_id), what="the SMS rating",
                                    timeout=15)
    assert feedback["rating"] == marker.data.rating


async def test_a_partner_sees_only_its_own_requests(intake) -> None:
    _, alpha = await new_partner(intake, "Alpha")
    _, beta = await new_partner(intake, "Beta")
    async with alpha, beta:
        mine = (await alpha.post("/v1/requests", json=request_body(external_id="same"))).json()
        # The same external id from another partner is another request.
        theirs = (await beta.post("/v1/requests", json=request_body(external_id="same"))).json()
        assert mine["id"] != theirs["id"]
        other = await alpha.get(f"/v1/requests/{theirs['id']}")
        assert other.status_code == 404
        assert other.json()["title"] == "Not Found"
        assert (await alpha.post(f"/v1/requests/{theirs['id']}/cancel")).status_code == 404
        assert [r["id"] for r in (await alpha.get("/v1/requests")).json()] == [mine["id"]]
        by_external = (await alpha.get("/v1/requests", params={"external_id": "same"})).json()
        assert [r["id"] for r in by_external] == [mine["id"]]
        assert (await alpha.get("/v1/requests", params={"external_id": "other"})).json() == []
    assert (await intake.get(f"/v1/requests/{theirs['id']}")).status_code == 200
    assert len((await intake.get("/v1/requests")).json()) == 2


async def test_a_coordinator_sees_the_requests_of_their_communities(intake) -> None:
    await add_community(intake)
    await add_community(intake, "wuchang-07", 30.55, 114.31)
    here = (await intake.post("/v1/requests", json=_rich_body())).json()
    there = (await intake.post("/v1/requests", json=_rich_body(
        external_id="rich-2", location={"address": "8 Zhongnan Rd", "community": "wuchang-07"}))).json()
    token, _ = issue_coordinator_token(TOKEN_SECRET, subject="coord-1", communities=["jianghan-01"],
                                       ttl=timedelta(hours=1))
    async with client_as(intake, token) as coordinator:
        assert (await coordinator.get(f"/v1/requests/{here['id']}")).status_code == 200
        assert (await coordinator.get(f"/v1/requests/{there['id']}")).status_code == 404
        assert [r["id"] for r in (await coordinator.get("/v1/requests")).json()] == [here["id"]]
        assert (await coordinator.post(f"/v1/requests/{there['id']}/cancel")).status_code == 404
        cancelled = await coordinator.post(f"/v1/requests/{here['id']}/cancel", json={"reason": "moved away"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        # Partner administration stays with the admin.
        assert (await coordinator.post("/v1/partners", json={"name": "x"})).status_code == 403
        # Communities are volunteers' now: intake only follows them.
        assert (await coordinator.put("/v1/communities/wuchang-07",
                                      json={"name": "x", "lat": 1, "lon": 1})).status_code == 405


async def test_dispatchs_promise_shows_in_the_view_and_in_open311(intake, bus_env) -> None:
    """Dispatch's SLA is the one time the requester is told: intake keeps the
    latest it was given and shows no time of its own before that."""
    request_id = (await intake.post("/v1/requests", json=request_body())).json()["id"]

    async def open311_expected() -> str | None:
        [found] = (await intake.get(f"/open311/v2/requests/{request_id}.json")).json()
        return found["expected_datetime"]

    assert (await intake.get(f"/v1/requests/{request_id}")).json()["expected_by"] is None
    assert await open311_expected() is None
    promised = datetime(2030, 1, 5, 11, 30, 15, 250_000, tzinfo=UTC)
    async with TestBus(bus_env) as bus:
        await bus.publish(status_event(request_id, "queued", 1, expected_by=promised))
        await bus.settled("intake-request-status")
        view = (await intake.get(f"/v1/requests/{request_id}")).json()
        assert view["expected_by"] == "2030-01-05T11:30:15.250000Z"
        assert await open311_expected() == "2030-01-05T11:30:15+00:00"  # the spec's format: whole seconds
        # A later change that promises nothing new keeps the promise; a newer promise replaces it.
        await bus.publish(status_event(request_id, "accepted", 2))
        await wait_for_status(intake, request_id, "assigned")
        assert (await intake.get(f"/v1/requests/{request_id}")).json()["expected_by"] == view["expected_by"]
        await bus.publish(status_event(request_id, "in_progress", 3, expected_by=promised + timedelta(hours=1)))
        moved = await wait_for_status(intake, request_id, "in_progress")
    assert moved["expected_by"] == "2030-01-05T12:30:15.250000Z"
    assert await open311_expected() == "2030-01-05T12:30:15+00:00"


def _statements_on_requests(engine, statements: list[str]):
    """Records each statement that reads requests or their history (the
    background loops touch other tables on the same engine)."""

    def record(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        if re.search(r"\b(requests|status_changes)\b", statement):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return lambda: event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_a_page_of_requests_costs_the_same_few_statements_whatever_its_size(intake) -> None:
    ids = [(await intake.post("/v1/requests", json=request_body(external_id=f"page-{n}"))).json()["id"]
           for n in range(50)]
    for request_id in ids[-3:]:  # the newest, on both pages, with a history of their own
        assert (await intake.post(f"/v1/requests/{request_id}/cancel")).status_code == 200
    statements: list[str] = []
    stop = _statements_on_requests(intake._transport.app.state.runtime.db.engine, statements)
    counts = {}
    try:
        for size in (5, 50):
            statements.clear()
            page = (await intake.get("/v1/requests", params={"limit": size})).json()
            assert len(page) == size
            assert [[h["status"] for h in r["history"]] for r in page[:3]] == [["received", "cancelled"]] * 3
            assert all([h["status"] for h in r["history"]] == ["received"] for r in page[3:])
            counts[size] = len(statements)
    finally:
        stop()
    assert counts[5] == counts[50] <= 2, counts
