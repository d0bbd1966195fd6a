"""Dispatch's candidate lookup as the service runs it, with 100,000 teams in
PostgreSQL, one request at a time:

- the service's path: the replica's in-memory index (team_index.TeamCache,
  built from the teams table as at start-up) shortlists and ranks, then the
  shortlisted teams' current rows are read by primary key and ranked afresh
  (what `offers._offer_nearest` does before reserving), inside the
  transaction that records the offer, as in the service (its BEGIN and
  COMMIT are reported apart: the offer pays them whatever the lookup);
- for comparison, the database-only path (what runs while the index is not
  loaded or too stale): the H3 cells of the request's point looked up in the
  `team_cells` table, every team filed there read and ranked.

The offer itself (the conditional update reserving a unit, the audit and the
outbox rows) is the same on both paths and not measured here.
`bench_matching` measures the in-memory index alone.

Run: .venv/bin/python -m tests.benchmarks dispatch_lookup
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import time
import uuid
from pathlib import Path

import asyncpg
import numpy as np
from sqlalchemy import text

import services.dispatch
from services.dispatch import offers, store
from services.dispatch.matching import WIDEN_MARGIN_KM, cells_for_point, cells_for_team, match_candidates
from services.dispatch.settings import DispatchSettings
from services.dispatch.team_index import TeamCache
from services.dispatch.teams import current_rows, team_snapshot
from shared.db import Database
from tests.benchmarks.bench_matching import _point, _teams
from tests.support.infra import find_postgres, with_database

LOOKUPS = 2_000


async def _load(dsn: str, teams) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("teams", columns=[
            "id", "version", "name", "community", "lat", "lon", "radius_km", "categories",
            "capacity", "open_tasks", "status", "on_duty", "area"], records=[
            (t.id, 1, t.id, "bench", t.lat, t.lon, t.radius_km, json.dumps(sorted(t.categories)),
             t.capacity, t.open_tasks, "active" if t.active else "paused", t.on_duty, None)
            for t in teams])
        cells = []
        for t in teams:
            own = set(cells_for_team(t))
            cells.extend((t.id, c, c in own) for c in set(cells_for_team(t, WIDEN_MARGIN_KM)) | own)
        await conn.copy_records_to_table("team_cells", columns=["team_id", "cell", "own"], records=cells)
        await conn.execute("VACUUM ANALYZE")  # steady state: what autovacuum keeps it at
        return len(cells)
    finally:
        await conn.close()


async def run() -> None:
    admin_url, _ = find_postgres()
    plain = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"hl_bench_dispatch_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(plain)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = with_database(admin_url, name)
    db = Database(url)
    try:
        await db.migrate(Path(services.dispatch.__file__).parent / "migrations")
        rng = random.Random(20260101)
        teams = _teams(rng)
        started = time.perf_counter()
        cells = await _load(with_database(plain, name), teams)
        print(f"loaded {len(teams):,} teams, {cells:,} cell rows in {time.perf_counter() - started:.1f}s")

        # No reload loop runs here: keep the index usable for the whole run.
        cache = TeamCache(db, DispatchSettings(database_url=url, team_index_max_age_seconds=3600))
        started = time.perf_counter()
        await cache.refresh()
        print(f"in-memory index of {len(cache.index.teams):,} teams built from the table in "
              f"{time.perf_counter() - started:.1f}s (once per replica, at start-up)")
        gc.collect()
        gc.freeze()  # as a served replica does once its index is built (shared/runtime.py)

        points = [_point(rng) for _ in range(LOOKUPS + 200)]
        whole, memory, recheck, transaction, found, rechecked = [], [], [], [], 0, 0
        for i, (lat, lon, category) in enumerate(points):
            candidates, ids = [], []
            tx0 = time.perf_counter()
            async with db.transaction() as session:
                # In the service, matching runs inside the transaction that
                # records the offer, begun by the statements before it (the
                # inbox claim, the request row): its BEGIN and COMMIT are the
                # offer's, timed apart below.
                await session.execute(text("SELECT 1"))
                t0 = time.perf_counter()
                shortlist, _ = match_candidates(lat, lon, category, cache.current().near(lat, lon))
                t1 = time.perf_counter()
                for batch in offers.recheck_batches(shortlist):  # the first batch, and the rest only if needed
                    ids = [c.team_id for c in batch]
                    rows = await current_rows(session=session, team_ids=ids)
                    candidates, _ = match_candidates(lat, lon, category, [team_snapshot(r) for r in rows.values()])
                    if candidates:
                        break
                t2 = time.perf_counter()
            tx1 = time.perf_counter()
            if i >= 200:  # the first 200 warm the pool and the caches
                whole.append(t2 - t0)
                memory.append(t1 - t0)
                recheck.append(t2 - t1)
                transaction.append((tx1 - tx0) - (t2 - t0))
                found += bool(candidates)
                rechecked += len(ids)
        print("service path (in-memory shortlist + re-check of its rows, in the offer's transaction):")
        _report((("whole", whole), ("  memory part", memory), ("  database re-check", recheck),
                 ("  (offer BEGIN+COMMIT)", transaction)))
        print(f"  ({LOOKUPS:,} requests one at a time, {rechecked / LOOKUPS:.1f} team rows re-read per request; "
              f"with a candidate: {found / LOOKUPS:.0%}; goal: p99 < 2 ms)")

        samples, database, ranking, found, teams_seen = [], [], [], 0, 0
        for i, (lat, lon, category) in enumerate(points):
            async with db.transaction() as session:
                await session.execute(text("SELECT 1"))  # begun, as above
                t0 = time.perf_counter()
                rows = await store.teams_near(session, cells_for_point(lat, lon), widened=False)
                t1 = time.perf_counter()
                candidates, _ = match_candidates(lat, lon, category, (team_snapshot(r) for r in rows))
                t2 = time.perf_counter()
            if i >= 200:
                samples.append(t2 - t0)
                database.append(t1 - t0)
                ranking.append(t2 - t1)
                found += bool(candidates)
                teams_seen += len(rows)
        print("database-only path (the fallback; what the service ran before):")
        _report((("whole", samples), ("  database part", database), ("  ranking part", ranking)))
        print(f"  ({teams_seen / LOOKUPS:.0f} teams fetched per request; with a candidate: {found / LOOKUPS:.0%})")
        p99 = lambda values: float(np.percentile(values, 99))
        print(f"p99 ratio, database-only / service path: {p99(samples) / p99(whole):.1f}x")
    finally:
        await db.dispose()
        conn = await asyncpg.connect(plain)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def _report(parts) -> None:
    for label, values in parts:
        p50, p95, p99 = np.percentile(np.array(values) * 1000, [50, 95, 99])
        print(f"  {label:19}: p50 {p50:.2f} ms  p95 {p95:.2f} ms  p99 {p99:.2f} ms")


def main() -> None:
    asyncio.run(run())
