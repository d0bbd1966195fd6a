"""The bus: one JetStream stream over `aid.>`, durable pull consumers, and the
retry / dead-letter policy every subscriber shares.

FastStream's default JetStream policy would terminate a message whose handler
raised, with no retry.  Heartline instead takes acknowledgement into its own
hands (`AckPolicy.MANUAL` plus `DeliveryPolicy`): success acks; a failure is
negatively acknowledged with an exponential delay; once `max_deliver` is
reached, or at once for a message that can never be parsed, the message is
copied to the dead-letter stream with the reason and acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from faststream import AckPolicy, BaseMiddleware
from faststream.nats import JStream, NatsBroker, PullSub
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy as AckPolicy_
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from prometheus_client import Counter
from pydantic import ValidationError

from shared.clock import backoff_seconds
from shared.contracts import Event
from shared.logs import scrub, scrub_event_payload
from shared.settings import ServiceSettings

log = logging.getLogger("heartline.bus")
E = TypeVar("E", bound=Event)


def tolerate_empty_fetches() -> None:
    """FastStream 0.7.8's pull loop suppresses nats.errors.TimeoutError, but
    nats-py 2.16's fetch also raises that error's base class, the builtin
    TimeoutError, when a fetch simply finds nothing; FastStream's supervisor
    then logs a crash with a traceback and restarts the loop (nothing is
    lost, but operators see an ERROR every few idle minutes).  An empty
    fetch is normal: let the loop suppress the base class.  Drop this when
    FastStream catches it (shared/tests/test_bus.py checks the behaviour)."""
    from faststream.nats.subscriber.usecases import stream_pull_subscriber

    stream_pull_subscriber.TimeoutError = TimeoutError  # type: ignore[misc, assignment]

DUPLICATE_WINDOW_SECONDS = 2 * 60 * 60
DEAD_LETTER_RETENTION_SECONDS = 30 * 24 * 60 * 60
DEAD_LETTERS = Counter(
    "heartline_dead_letters_total", "Events moved to the dead-letter stream", ["consumer"]
)
HANDLER_FAILURES = Counter(
    "heartline_handler_failures_total", "Handler attempts that raised", ["consumer"]
)


class Bus:
    """Names and policy of one deployment's bus, shared by a service's parts."""

    def __init__(self, settings: ServiceSettings, service: str) -> None:
        self.settings = settings
        self.service = service
        self.prefix = settings.bus_prefix
        self.stream = JStream(
            name=settings.stream_name,
            subjects=[f"{self.prefix}aid.>"],
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
        self.dead_letter_stream = StreamConfig(
            name=f"{settings.stream_name}_DEADLETTER",
            subjects=[f"{self.prefix}deadletter.>"],
            max_age=DEAD_LETTER_RETENTION_SECONDS,
        )
        tolerate_empty_fetches()  # before any subscriber of this broker starts its pull loop
        self.broker = NatsBroker(
            settings.nats_url,
            name=f"heartline-{service}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            middlewares=[self._delivery_policy()],
            logger=logging.getLogger(f"heartline.{service}.faststream"),
            log_level=logging.DEBUG,  # one line per message is for debugging, not for operators
        )

    def subject(self, event: type[Event] | str) -> str:
        name = event if isinstance(event, str) else event.type_name()
        return f"{self.prefix}{name}"

    def subscriber(self, handler: str, event: type[Event], description: str | None = None) -> Any:
        """A durable pull consumer `<service>-<handler>` on one event type.
        Replicas of a service share it, so each event is handled by one of them."""
        durable = f"{self.service}-{handler}"
        return self.broker.subscriber(
            self.subject(event),
            stream=self.stream,
            durable=durable,
            # A long poll returns as soon as a message arrives.  A short one
            # trips a nats-py 2.16 / FastStream 0.7.8 mismatch (a builtin
            # TimeoutError FastStream does not suppress; its supervisor then
            # restarts the fetch loop with a logged traceback).
            pull_sub=PullSub(batch_size=16, timeout=5.0),
            config=ConsumerConfig(
                durable_name=durable,
                max_deliver=self.settings.max_deliver,
                ack_wait=30,
            ),
            ack_policy=AckPolicy.MANUAL,
            title=durable,
            description=description,
        )

    def publisher(self, event: type[Event], description: str | None = None) -> Any:
        """Declares that this service publishes `event`, for the AsyncAPI document."""
        return self.broker.publisher(
            self.subject(event), stream=self.stream, schema=event, description=description
        )

    async def follow(self, event: type[E], apply: Callable[[E], None]) -> None:
        """Every replica sees every `event`, from the start of the stream and then
        as they come (an ordered, ephemeral consumer of its own): for small state
        each replica keeps in memory, such as revoked tokens.  Call after start()."""
        js = self.broker.config.connection_state.stream

        async def on_message(msg: Any) -> None:
            try:
                apply(event.model_validate_json(msg.data))
            except ValidationError:
                log.warning("%s: ignored an unreadable %s", self.service, event.type_name())

        await js.subscribe(self.subject(event), stream=self.stream.name, cb=on_message, ordered_consumer=True,
                           deliver_policy=DeliverPolicy.ALL)

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes, str]], timeout: float = 5.0
    ) -> tuple[int, BaseException | None]:
        """Publishes already-serialised events (subject, payload, event id),
        pipelined: every message is written at once, then the acks are
        awaited.  Returns how many from the start JetStream acknowledged, and
        the error that stopped the rest; those go again on the next call, and
        JetStream drops a repeat of a `Nats-Msg-Id` inside its de-duplication
        window.  Straight through nats-py's asynchronous JetStream publish:
        FastStream's publish path cost about twice the CPU per message
        (47-74 us against 26-33 us, pipelined in batches of 64), and its
        middlewares have nothing to do for the outbox relay."""
        js = self.broker.config.connection_state.stream
        sent: list[asyncio.Future[Any]] = []
        error: BaseException | None = None
        try:
            async with asyncio.timeout(timeout):
                for subject, payload, event_id in messages:
                    sent.append(await js.publish_async(
                        subject, payload, stream=self.stream.name,
                        headers={"Nats-Msg-Id": event_id, "content-type": "application/json"}))
                if sent:
                    await asyncio.wait(sent)
        except Exception as exc:  # timed out, or the connection went while sending
            error = exc
        finally:
            for ack in sent:
                ack.cancel()  # no-op when done; else frees its place in nats-py's pending set
        acked = 0
        for ack in sent:
            if ack.cancelled() or ack.exception() is not None:
                error = error or (ack.exception() if not ack.cancelled() else TimeoutError())
                break
            acked += 1
        return acked, error if acked < len(messages) else None

    async def start(self) -> None:
        """Connects, declares the streams and starts the subscribers.  The main
        stream is declared by FastStream from the subscribers and publishers."""
        await self.broker.start()
        js = self.broker.config.connection_state.stream
        try:
            await js.add_stream(self.dead_letter_stream)
        except BadRequestError:  # exists with other settings: bring it in line
            await js.update_stream(self.dead_letter_stream)

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest dead letters of this service's consumers, newest first."""
        js = self.broker.config.connection_state.stream
        subject = f"{self.prefix}deadletter.>"  # wildcards match whole tokens only
        try:
            info = await js.stream_info(self.dead_letter_stream.name)
        except NotFoundError:
            return []
        start = max(1, info.state.last_seq - 10 * limit)
        sub = await js.pull_subscribe(
            subject, stream=self.dead_letter_stream.name,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
                                  ack_policy=AckPolicy_.NONE, inactive_threshold=30),
        )
        found: list[dict[str, Any]] = []
        try:
            while True:
                try:
                    batch = await sub.fetch(200, timeout=0.5)
                except (TimeoutError, NatsTimeoutError):
                    break
                for m in batch:
                    if not m.subject.rsplit(".", 1)[-1].startswith(f"{self.service}-"):
                        continue
                    headers = m.headers or {}
                    found.append({
                        "consumer": m.subject.rsplit(".", 1)[-1],
                        "subject": headers.get("Heartline-Subject"),
                        "reason": headers.get("Heartline-Reason"),
                        "deliveries": int(headers.get("Heartline-Deliveries", "0")),
                        "sequence": m.metadata.sequence.stream,
                        "at": m.metadata.timestamp.isoformat() if m.metadata.timestamp else None,
                        "payload": m.data.decode(errors="replace"),
                    })
        finally:
            await sub.unsubscribe()
        return list(reversed(found))[:limit]

    def is_connected(self) -> bool:
        connection = self.broker._connection
        return bool(connection is not None and connection.is_connected)

    def retry_delay(self, delivered: int) -> float:
        return backoff_seconds(delivered, base=self.settings.retry_base_seconds, cap=60.0)

    def _delivery_policy(self) -> Callable[..., BaseMiddleware]:
        bus = self

        class DeliveryPolicy(BaseMiddleware):
            async def consume_scope(self, call_next: Any, msg: Any) -> Any:
                try:
                    result = await call_next(msg)
                except Exception as exc:  # decide: retry later, or dead-letter
                    await bus._on_failure(msg, exc)
                    return None
                await msg.ack()
                return result

        return DeliveryPolicy

    async def _on_failure(self, msg: Any, exc: Exception) -> None:
        raw = msg.raw_message
        meta = raw.metadata
        consumer = meta.consumer or "?"
        delivered = meta.num_delivered or 1
        HANDLER_FAILURES.labels(consumer).inc()
        permanent = isinstance(exc, ValidationError)
        if permanent or delivered >= self.settings.max_deliver:
            # Kept for weeks and read by operators: no personal data in either.
            reason = scrub(f"{type(exc).__name__}: {exc}")[:2000]
            log.error(
                "dead-lettering %s from %s after %d deliveries: %s",
                raw.subject, consumer, delivered, type(exc).__name__,
            )
            await self.broker.publish(
                scrub_event_payload(raw.data),
                f"{self.prefix}deadletter.{consumer}",
                headers={
                    "Heartline-Reason": reason.replace("\n", " "),
                    "Heartline-Subject": raw.subject,
                    "Heartline-Deliveries": str(delivered),
                    "Nats-Msg-Id": f"dl-{consumer}-{meta.sequence.stream}",
                },
                stream=self.dead_letter_stream.name,
                timeout=5.0,
            )
            DEAD_LETTERS.labels(consumer).inc()
            await msg.ack()
            return
        delay = self.retry_delay(delivered)
        log.warning(
            "handler %s failed (delivery %d), retrying in %.1fs: %s",
            consumer, delivered, delay, type(exc).__name__,
        )
        await msg.nack(delay=delay)
