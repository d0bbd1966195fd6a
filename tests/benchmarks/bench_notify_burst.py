"""Notify under a burst: EVENTS check-in reminders published at once on real
NATS, notify (in process, real PostgreSQL) sends one SMS each to a local HTTP
gateway that timestamps every arrival.  Prints the highest number of SMS the
gateway saw in any one-second window against the configured rate, and
whether every message arrived exactly once.

Run: .venv/bin/python -m tests.benchmarks notify_burst
(BENCH_NOTIFY_EVENTS and BENCH_NOTIFY_RATE override the defaults.)
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from datetime import date

import asyncpg
import nats

from services.notify.app import create_app
from services.notify.settings import NotifySettings
from shared.contracts import MemberCheckinMissingV1
from tests.support.bus import TestBus
from tests.support.httpserver import LocalHttpServer, Request
from tests.support.infra import find_nats, find_postgres, with_database
from tests.support.inprocess import serve_in_process, settings_for

EVENTS = int(os.environ.get("BENCH_NOTIFY_EVENTS", "2000"))
RATE = float(os.environ.get("BENCH_NOTIFY_RATE", "50"))


class TimestampingGateway:
    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.http = LocalHttpServer(self._answer, backlog=512)

    def _answer(self, request: Request) -> None:
        body = json.loads(request.body())
        with self.lock:
            self.arrivals.append((time.monotonic(), body["to"]))
        request.reply(200)

    @property
    def sms_url(self) -> str:
        return f"json://{self.http.address}/sms?:to={{to}}"

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


def max_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def run() -> None:
    nats_url, _ = find_nats()
    admin_url, _ = find_postgres()
    name = f"hl_bench_notify_{uuid.uuid4().hex[:8]}"
    plain = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    tag = uuid.uuid4().hex[:8]
    bus_env = {"NATS_URL": nats_url, "HEARTLINE_BUS_PREFIX": f"b{tag}.", "HEARTLINE_STREAM": f"B{tag.upper()}"}
    gateway = TimestampingGateway()
    settings = settings_for(NotifySettings, bus_env, with_database(admin_url, name),
                            sms_url=gateway.sms_url, rate_per_second={"sms": RATE, "chat": 10.0},
                            send_batch=200, send_timeout_seconds=10.0)
    phones = [f"+86137{i:08d}" for i in range(EVENTS)]
    try:
        async with serve_in_process(create_app(settings)) as client, TestBus(bus_env) as bus:
            started = time.monotonic()
            today = date.today()
            for chunk in range(0, EVENTS, 500):
                await asyncio.gather(*(
                    bus.publish(MemberCheckinMissingV1(
                        source="bench", correlationid="burst",
                        data=dict(member_id=uuid.uuid4(), name="Volunteer", phone=phone, day=today)))
                    for phone in phones[chunk:chunk + 500]))
            published = time.monotonic() - started
            deadline = started + max(120.0, EVENTS / RATE * 3)
            while gateway.count() < EVENTS and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            elapsed = time.monotonic() - started
            await asyncio.sleep(1.0)  # anything sent twice would arrive now
            log = await client.get("/v1/deliveries", params={"limit": 1})
            sent = await client.get("/v1/deliveries", params={"limit": 1, "status": "sent"})
    finally:
        gateway.http.stop()
        conn = await asyncpg.connect(plain)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for stream in (bus_env["HEARTLINE_STREAM"], bus_env["HEARTLINE_STREAM"] + "_DEADLETTER"):
            try:
                await js.delete_stream(stream)
            except Exception:
                pass
        await nc.close()

    times = [t for t, _ in gateway.arrivals]
    recipients = [to for _, to in gateway.arrivals]
    peak = max_in_any_second(times)
    lost = len(set(phones) - set(recipients))
    doubled = len(recipients) - len(set(recipients))
    send_span = (max(times) - min(times)) if times else 0.0
    print(f"events published:          {EVENTS} in {published:.1f}s")
    print(f"SMS at the gateway:        {len(recipients)} in {elapsed:.1f}s from the first publish")
    print(f"deliveries logged / sent:  {log.headers['X-Total-Count']} / {sent.headers['X-Total-Count']}")
    print(f"configured rate:           {RATE:.0f} SMS/s (per replica; one replica here)")
    print(f"max in any 1 s window:     {peak} SMS  ({peak / RATE:.2f} of the configured rate)")
    print(f"mean rate while sending:   {len(times) / send_span if send_span else 0:.1f} SMS/s")
    print(f"lost: {lost}   sent twice: {doubled}")
    print("OK: within the rate, none lost" if peak <= RATE and lost == 0 and doubled == 0 else "NOT OK")


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
