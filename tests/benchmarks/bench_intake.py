"""Intake's cost: sustained `POST /v1/requests` (partner key, validation,
idempotency key, duplicate probe, transactional outbox; the relay publishes
to JetStream in the background) beside a minimal FastAPI endpoint that only
inserts a row and publishes to JetStream, in the same run, on the same
PostgreSQL and NATS, with the same concurrency over in-process ASGI.
Prints each one's rate and p50/p99 latency, and the ratios (goal: rate
ratio 0.9 or better).  The variants run in interleaved rounds, so that the
machine's changing load falls on each alike; intake's time includes waiting
for its relay to publish everything it took.

Run: .venv/bin/python -m tests.benchmarks intake
(BENCH_INTAKE_SECONDS, BENCH_INTAKE_ROUNDS, BENCH_INTAKE_CONCURRENCY override the defaults.)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import statistics
import time
import uuid

import asyncpg
import httpx
import nats
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Column, MetaData, String, Table, Text
from sqlalchemy.ext.asyncio import create_async_engine

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from tests.support.bus import TestBus
from tests.support.infra import find_nats, find_postgres, with_database
from tests.support.inprocess import serve_in_process, settings_for
from tests.support.system import request_body

SECONDS = float(os.environ.get("BENCH_INTAKE_SECONDS", "12"))  # per variant, over all rounds
ROUNDS = int(os.environ.get("BENCH_INTAKE_ROUNDS", "4"))
CONCURRENCY = int(os.environ.get("BENCH_INTAKE_CONCURRENCY", "16"))


def minimal_app(database_url: str, nats_url: str, subject: str, stream: str, pool: dict) -> FastAPI:
    """What the comparison is against: insert one row, publish, answer (with
    the same connection pool as intake's)."""
    metadata = MetaData()
    rows = Table("requests", metadata, Column("id", String(36), primary_key=True), Column("body", Text))
    engine = create_async_engine(database_url, **pool)
    state: dict = {}

    async def lifespan(_app):
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        state["nc"] = await nats.connect(nats_url)
        state["js"] = state["nc"].jetstream()
        yield
        await state["nc"].close()
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/requests", status_code=202)
    async def post(body: dict) -> JSONResponse:
        request_id = str(uuid.uuid4())
        raw = json.dumps(body)
        async with engine.begin() as conn:
            await conn.execute(rows.insert().values(id=request_id, body=raw))
        await state["js"].publish(subject, raw.encode(), stream=stream, headers={"Nats-Msg-Id": request_id})
        return JSONResponse({"id": request_id}, status_code=202)

    return app


async def load(client: httpx.AsyncClient, headers: dict[str, str], seconds: float,
               idempotency: bool = True) -> tuple[int, list[float], int]:
    """Posts as fast as CONCURRENCY callers can for `seconds`; (ok, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def caller(worker: int) -> None:
        nonlocal errors
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            body = request_body(external_id=f"b-{worker}-{n}-{uuid.uuid4().hex[:6]}",
                                phone=f"+86138{worker:04d}{n % 10000:04d}")
            started = time.perf_counter()
            key = {"Idempotency-Key": uuid.uuid4().hex} if idempotency else {}
            response = await client.post("/v1/requests", json=body, headers={**headers, **key})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 202:
                errors += 1

    await asyncio.gather(*(caller(w) for w in range(CONCURRENCY)))
    return len(latencies) - errors, latencies, errors


def summary(name: str, ok: int, latencies: list[float], errors: int, seconds: float) -> tuple[float, float]:
    rate = ok / seconds
    p50 = statistics.median(latencies) * 1000
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    print(f"{name:>8}: {rate:8.1f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   "
          f"({ok} accepted, {errors} errors)")
    return rate, p99


class Tally:
    """One variant's rounds: accepted calls, the time they took, latencies."""

    def __init__(self) -> None:
        self.ok = 0
        self.errors = 0
        self.seconds = 0.0
        self.latencies: list[float] = []
        self.rates: list[float] = []
        self.draining = 0.0
        self.cpu = 0.0
        self.machine: dict[str, float] = {}

    def add(self, ok: int, latencies: list[float], errors: int, seconds: float, draining: float = 0.0) -> None:
        self.draining += draining
        self.ok += ok
        self.errors += errors
        self.seconds += seconds
        self.latencies += latencies
        self.rates.append(ok / seconds)


async def machine(probe: asyncpg.Connection) -> dict[str, float]:
    """Running totals: CPU seconds of the local PostgreSQL and NATS processes
    and the seconds this process waited for a CPU (Linux /proc; absent
    elsewhere), WAL bytes written and connections opened on PostgreSQL
    (read on `probe`, which stays open so as not to count itself)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    totals: dict[str, float] = {}
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        tasks = os.listdir("/proc/self/task")
    except OSError:
        pids, tasks = [], []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        server = "postgres" if name.startswith("postgres") else "nats" if name == "nats-server" else None
        if server:
            fields = stat[stat.rindex(")") + 2:].split()
            totals[server] = totals.get(server, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/schedstat") as f:
                totals["waited"] = totals.get("waited", 0.0) + int(f.read().split()[1]) / 1e9
        except OSError:
            continue
    row = await probe.fetchrow("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS wal, "
                               "(SELECT sum(sessions) FROM pg_stat_database) AS connections")
    totals["wal"] = float(row["wal"])
    totals["connections"] = float(row["connections"])
    return totals


async def intake_round(client: httpx.AsyncClient, headers: dict[str, str], outbox: asyncpg.Connection,
                       seconds: float, idempotency: bool) -> tuple[int, list[float], int, float, float]:
    """A load round, then until the relay has published all it took: the
    time counted is both, so intake's rate includes its publishing."""
    started = time.perf_counter()
    ok, latencies, errors = await load(client, headers, seconds, idempotency)
    loaded = time.perf_counter()
    while await outbox.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
        await asyncio.sleep(0.02)
    done = time.perf_counter()
    return ok, latencies, errors, done - started, done - loaded


@contextlib.asynccontextmanager
async def _connection(url: str):
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def run() -> None:
    nats_url, _ = find_nats()
    admin_url, _ = find_postgres()
    names = [f"hl_bench_intake_{uuid.uuid4().hex[:8]}", f"hl_bench_minimal_{uuid.uuid4().hex[:8]}"]
    plain = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    for name in names:
        await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    tag = uuid.uuid4().hex[:8]
    bus_env = {"NATS_URL": nats_url, "HEARTLINE_BUS_PREFIX": f"b{tag}.", "HEARTLINE_STREAM": f"B{tag.upper()}"}
    tallies = {"intake": Tally(), "no idem": Tally(), "minimal": Tally()}
    round_seconds = SECONDS / ROUNDS
    try:
        settings = settings_for(IntakeSettings, bus_env, with_database(admin_url, names[0]),
                                rate_limit_per_second=1e6, rate_limit_burst=1_000_000)
        minimal = minimal_app(with_database(admin_url, names[1]), nats_url,
                              f"b{tag}.aid.request.received.v1", f"B{tag.upper()}",
                              dict(pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow))
        intake = create_app(settings)
        gc.collect()
        gc.freeze()  # as a served process does once start-up is done (shared/runtime.py)
        async with serve_in_process(intake) as admin, \
                _connection(plain) as probe, _connection(with_database(plain, names[0])) as outbox, \
                minimal.router.lifespan_context(minimal), \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=minimal), base_url="http://m") as client:
            partner_id = (await admin.post("/v1/partners", json={"name": "bench"})).json()["id"]
            key = (await admin.post(f"/v1/partners/{partner_id}/keys")).json()["key"]
            partner = {"Authorization": f"Bearer {key}"}
            await intake_round(admin, partner, outbox, 1.0, True)  # warm up
            await load(client, {}, 1.0)
            # Interleaved rounds, so that a change in the machine's load over
            # the run falls on every variant alike.
            for n in range(ROUNDS):
                order = ["intake", "minimal", "no idem"]
                for name in order[n % 3:] + order[:n % 3]:
                    cpu = time.process_time()
                    before = await machine(probe)
                    if name == "minimal":
                        ok, latencies, errors = await load(client, {}, round_seconds)
                        tallies[name].add(ok, latencies, errors, round_seconds)
                    else:
                        tallies[name].add(*await intake_round(admin, partner, outbox, round_seconds,
                                                              idempotency=name == "intake"))
                    tallies[name].cpu += time.process_time() - cpu
                    for figure, value in (await machine(probe)).items():
                        tallies[name].machine[figure] = (tallies[name].machine.get(figure, 0.0)
                                                         + value - before.get(figure, 0.0))
        figures = {name: summary(name, t.ok, t.latencies, t.errors, t.seconds) for name, t in tallies.items()}
        print(f"(of intake's time, waiting for the relay to publish the rest after the load: "
              f"{tallies['intake'].draining:.2f}s of {tallies['intake'].seconds:.1f}s; "
              f"without key {tallies['no idem'].draining:.2f}s of {tallies['no idem'].seconds:.1f}s)")
        # This process's CPU time per accepted call (client, app, drivers): less
        # sensitive to other processes on the machine than the rates are.
        cpu = {name: t.cpu / max(t.ok, 1) * 1000 for name, t in tallies.items()}
        print("CPU per accepted call: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items())
              + f"; minimal/intake {cpu['minimal'] / cpu['intake']:.2f}")
        # What the machine did for each: PostgreSQL's and NATS's CPU, WAL
        # written, PostgreSQL connections opened, and how long this process
        # was ready to run but waited for a CPU (all per accepted call).
        for name, t in tallies.items():
            per = {figure: value / max(t.ok, 1) for figure, value in t.machine.items()}
            print(f"  {name}: postgres {per.get('postgres', 0) * 1000:.2f} ms CPU, "
                  f"nats {per.get('nats', 0) * 1000:.2f} ms CPU, WAL {per.get('wal', 0):.0f} B, "
                  f"new connections {per.get('connections', 0) * 1000:.1f} per 1000, "
                  f"waited for a CPU {per.get('waited', 0) * 1000:.2f} ms")
        rounds = [i / m for i, m in zip(tallies["intake"].rates, tallies["minimal"].rates, strict=True)]
        print(f"rate ratio intake/minimal: {figures['intake'][0] / figures['minimal'][0]:.2f}  (goal >= 0.9)"
              f"   per round: median {statistics.median(rounds):.2f}, "
              f"{min(rounds):.2f}..{max(rounds):.2f}")
        print(f"p99 ratio intake/minimal:  {figures['intake'][1] / figures['minimal'][1]:.2f}")
        print(f"rate ratio without Idempotency-Key: {figures['no idem'][0] / figures['minimal'][0]:.2f}")
        print(f"({CONCURRENCY} concurrent callers, {ROUNDS} interleaved rounds of {round_seconds:g}s each, "
              f"intake's time includes draining its outbox; in-process ASGI, {os.cpu_count()} CPUs)")
    finally:
        async with TestBus(bus_env) as bus:
            try:
                await bus.js.delete_stream(bus_env["HEARTLINE_STREAM"])
            except Exception:
                pass
        conn = await asyncpg.connect(plain)
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
