"""Talks to a test's own stream directly: publish an event as another service
would, or read what a service published."""

from __future__ import annotations

import asyncio
import json

import nats
import nats.js.errors
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.contracts import Event


class TestBus:
    __test__ = False  # not a pytest class

    def __init__(self, bus_env: dict[str, str]) -> None:
        self.url = bus_env["NATS_URL"]
        self.prefix = bus_env["HEARTLINE_BUS_PREFIX"]
        self.stream = bus_env["HEARTLINE_STREAM"]
        self.nc = None

    async def __aenter__(self) -> TestBus:
        self.nc = await nats.connect(self.url)
        self.js = self.nc.jetstream()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.nc.close()

    async def ensure_stream(self) -> None:
        try:
            await self.js.stream_info(self.stream)
        except Exception:
            await self.js.add_stream(name=self.stream, subjects=[f"{self.prefix}aid.>"],
                                     duplicate_window=7200)

    async def publish(self, event: Event, msg_id: str | None = None) -> None:
        """As a producer's outbox relay would; `msg_id` overrides the
        de-duplication id (to simulate a redelivery JetStream cannot catch)."""
        await self.ensure_stream()
        await self.js.publish(
            f"{self.prefix}{event.type}", event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": msg_id or str(event.id)},
        )

    async def published(self, event_type: str, timeout: float = 10.0) -> list[dict]:
        """Every message of `event_type` in the stream so far, oldest first.
        How many there are is asked first, so a fetch that is slow on a busy
        machine cannot cut the list short; `timeout` bounds each fetch."""
        await self.ensure_stream()
        sub = await self.js.pull_subscribe(
            f"{self.prefix}{event_type}", durable=None, stream=self.stream,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        found: list[dict] = []
        try:
            remaining = (await sub.consumer_info()).num_pending
            while remaining > 0:
                batch = await sub.fetch(min(remaining, 100), timeout=timeout)
                for msg in batch:
                    found.append(json.loads(msg.data))
                    await msg.ack()
                remaining -= len(batch)
        finally:
            await sub.unsubscribe()
        return found

    async def wait_for(self, event_type: str, predicate=lambda e: True, timeout: float = 20.0) -> dict:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for event in await self.published(event_type):
                if predicate(event):
                    return event
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {event_type} matching the predicate within {timeout}s")

    async def settled(self, durable: str, timeout: float = 20.0) -> None:
        """Waits until a service's durable consumer (`<service>-<handler>`) has
        handled and acknowledged every message published so far on its
        subject: what those events do (or do not do) is then done.  Only for
        events already in the stream (published here, or seen with wait_for)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        info = None
        while True:
            try:
                info = await self.js.consumer_info(self.stream, durable)
            except nats.js.errors.NotFoundError:  # the service has not subscribed yet
                info = None
            if info is not None and info.num_pending == 0 and info.num_ack_pending == 0:
                return
            if loop.time() > deadline:
                raise AssertionError(f"{durable} still has messages to handle after {timeout}s: {info}")
            await asyncio.sleep(0.05)
