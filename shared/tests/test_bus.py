"""The bus's delivery policy on a real JetStream: retry with backoff, then the
dead-letter stream with the reason; replicas share one durable consumer."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace
from uuid import uuid4

import nats
from faststream.nats.subscriber.usecases.stream_pull_subscriber import PullStreamSubscriber
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.bus import Bus
from shared.contracts import RequestCancelledV1
from shared.settings import ServiceSettings
from tests.support.bus import TestBus
from tests.support.waiting import eventually


class _Settings(ServiceSettings):
    port: int = 0


def _bus(bus_env: dict[str, str], service: str = "probe", **overrides) -> Bus:
    settings = _Settings(nats_url=bus_env["NATS_URL"], bus_prefix=bus_env["HEARTLINE_BUS_PREFIX"],
                         stream_name=bus_env["HEARTLINE_STREAM"], max_deliver=3,
                         retry_base_seconds=0.05, **overrides)
    return Bus(settings, service)


def _event(reason: str | None = None) -> RequestCancelledV1:
    return RequestCancelledV1(
        source="heartline/test", correlationid="c",
        data={"request_id": str(uuid4()), "cancelled_by": "partner", "reason": reason,
              "cancelled_at": datetime.now(UTC)},
    )


async def _dead_letters(bus_env: dict[str, str]) -> list:
    nc = await nats.connect(bus_env["NATS_URL"])
    try:
        js = nc.jetstream()
        stream = bus_env["HEARTLINE_STREAM"] + "_DEADLETTER"
        try:
            await js.stream_info(stream)
        except Exception:
            return []
        sub = await js.pull_subscribe(f"{bus_env['HEARTLINE_BUS_PREFIX']}deadletter.>", durable=None,
                                      stream=stream, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
        try:
            return await sub.fetch(100, timeout=0.5)
        except Exception:
            return []
        finally:
            await sub.unsubscribe()
    finally:
        await nc.close()


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered(bus_env) -> None:
    bus = _bus(bus_env)
    calls: list[str] = []

    @bus.subscriber("cancel", RequestCancelledV1)
    async def handle(event: RequestCancelledV1) -> None:
        calls.append(str(event.id))
        raise RuntimeError("the database is on fire; key (phone)=(+8613800138000)")

    await bus.start()
    try:
        event = _event(reason="Li Na moved in with her son, call +8613800138000")
        async with TestBus(bus_env) as test_bus:
            await test_bus.publish(event)
        letters = await eventually(lambda: _dead_letters(bus_env), what="a dead letter", timeout=15.0)
    finally:
        await bus.broker.stop()
    assert calls == [str(event.id)] * 3, "expected exactly max_deliver attempts"
    letter = letters[0]
    assert letter.subject == f"{bus_env['HEARTLINE_BUS_PREFIX']}deadletter.probe-cancel"
    assert letter.headers["Heartline-Deliveries"] == "3"
    assert "RuntimeError: the database is on fire" in letter.headers["Heartline-Reason"]
    assert letter.headers["Heartline-Subject"].endswith("aid.request.cancelled.v1")
    kept = json.loads(letter.data)
    assert kept["id"] == str(event.id) and kept["data"]["request_id"] == str(event.data.request_id)
    assert kept["data"]["reason"] == "[removed]"
    assert "8613800138000" not in letter.data.decode() + letter.headers["Heartline-Reason"]
    assert "Li Na" not in letter.data.decode()


async def test_a_transient_failure_is_retried_and_then_handled_once(bus_env) -> None:
    bus = _bus(bus_env)
    attempts: list[int] = []
    handled: list[str] = []

    @bus.subscriber("cancel", RequestCancelledV1)
    async def handle(event: RequestCancelledV1) -> None:
        attempts.append(1)
        if len(attempts) < 2:
            raise ConnectionError("blip")
        handled.append(str(event.id))

    await bus.start()
    try:
        async with TestBus(bus_env) as test_bus:
            await test_bus.publish(_event())
            await eventually(lambda: handled, what="the retry to succeed")
            # Acknowledged: no redelivery can follow (and one not acknowledged would never settle).
            await test_bus.settled("probe-cancel")
    finally:
        await bus.broker.stop()
    assert len(attempts) == 2 and len(handled) == 1
    assert await _dead_letters(bus_env) == []


async def test_a_message_that_cannot_be_parsed_is_dead_lettered_at_once(bus_env) -> None:
    bus = _bus(bus_env)
    calls: list[object] = []

    @bus.subscriber("cancel", RequestCancelledV1)
    async def handle(event: RequestCancelledV1) -> None:
        calls.append(event)

    await bus.start()
    try:
        nc = await nats.connect(bus_env["NATS_URL"])
        await nc.jetstream().publish(f"{bus_env['HEARTLINE_BUS_PREFIX']}aid.request.cancelled.v1",
                                     b'{"not": "an event"}')
        await nc.close()
        letters = await eventually(lambda: _dead_letters(bus_env), what="a dead letter")
    finally:
        await bus.broker.stop()
    assert calls == []
    assert letters[0].headers["Heartline-Deliveries"] == "1"
    assert "ValidationError" in letters[0].headers["Heartline-Reason"]


async def test_replicas_share_one_durable_consumer(bus_env) -> None:
    seen: Counter[str] = Counter()
    by_replica: Counter[int] = Counter()

    def replica(n: int) -> Bus:
        bus = _bus(bus_env, service="dispatch")

        @bus.subscriber("cancel", RequestCancelledV1)
        async def handle(event: RequestCancelledV1) -> None:
            seen[str(event.id)] += 1
            by_replica[n] += 1
            await asyncio.sleep(0.01)

        return bus

    replicas = [replica(n) for n in range(2)]
    for bus in replicas:
        await bus.start()
    try:
        events = [_event() for _ in range(40)]
        async with TestBus(bus_env) as test_bus:
            for event in events:
                await test_bus.publish(event)
            await eventually(lambda: len(seen) == 40, what="all events handled")
            # Every one acknowledged: none can be delivered again, to either replica.
            await test_bus.settled("dispatch-cancel")
    finally:
        for bus in replicas:
            await bus.broker.stop()
    assert set(seen.values()) == {1}, "an event was handled by both replicas"
    assert sum(by_replica.values()) == 40


async def test_operators_see_a_service_s_dead_letters_over_http(bus_env, make_database) -> None:
    from services.intake.app import create_app
    from services.intake.settings import IntakeSettings
    from tests.support.inprocess import serve_in_process, settings_for

    app = create_app(settings_for(IntakeSettings, bus_env, await make_database("intake")))
    async with serve_in_process(app) as client:
        assert (await client.get("/v1/dead-letters")).json() == []
        nc = await nats.connect(bus_env["NATS_URL"])
        await nc.jetstream().publish(f"{bus_env['HEARTLINE_BUS_PREFIX']}aid.request.status_changed.v1",
                                     b'{"garbage": true}')
        await nc.close()

        async def listed():
            return (await client.get("/v1/dead-letters")).json()

        letters = await eventually(listed, what="the dead letter to be listed")
        assert letters[0]["consumer"] == "intake-request-status"
        assert "ValidationError" in letters[0]["reason"]
        assert letters[0]["payload"] == '{"garbage": true}'
        denied = await client.get("/v1/dead-letters", headers={"Authorization": "Bearer wrong"})
        assert denied.status_code == 401


async def test_an_empty_fetch_that_times_out_does_not_crash_the_pull_loop() -> None:
    """nats-py's fetch may raise the builtin TimeoutError when nothing came;
    the pull loop must treat it as an empty fetch, not let it escape (the
    fix is installed by importing shared.bus, as this module does)."""
    fetches = []

    async def fetch(batch: int, timeout: float):
        fetches.append(batch)
        if len(fetches) == 1:
            raise TimeoutError  # the builtin one, not nats.errors.TimeoutError
        loop.running = False
        return []

    loop = SimpleNamespace(running=True, subscription=SimpleNamespace(fetch=fetch),
                           pull_sub=SimpleNamespace(batch_size=1, timeout=0.1))
    await PullStreamSubscriber._consume_pull(loop, cb=None)
    assert len(fetches) == 2  # it went round again after the timeout
