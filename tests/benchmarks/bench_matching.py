"""Dispatch matching with 100,000 teams: per-request candidate lookup through
the H3 cell index against a linear scan of every team, and surge mode's total
distance against greedy nearest on a backlog.

Run: .venv/bin/python -m tests.benchmarks matching
"""

from __future__ import annotations

import gc
import random
import statistics
import time

import numpy as np

from services.dispatch.matching import TeamIndex, TeamSnapshot, match_candidates
from services.dispatch.surge import BacklogRequest, assign_backlog, assign_greedy, total_distance

TEAMS = 100_000
REQUESTS = 2_000
SCANNED = 15
CATEGORIES = ("medicine", "daily_necessities", "protective_supplies", "psychological_support")
# About the size of a large province: 4 x 4 degrees around Wuhan.
LAT0, LON0, SPREAD = 30.59, 114.30, 2.0


def _teams(rng: random.Random) -> list[TeamSnapshot]:
    return [
        TeamSnapshot(
            id=f"team-{i}", lat=LAT0 + rng.uniform(-SPREAD, SPREAD), lon=LON0 + rng.uniform(-SPREAD, SPREAD),
            radius_km=rng.uniform(1.0, 8.0),
            categories=frozenset(rng.sample(CATEGORIES, rng.randint(1, 3))),
            capacity=rng.randint(1, 6), open_tasks=rng.randint(0, 6),
            active=rng.random() > 0.05, on_duty=rng.random() > 0.3,
        )
        for i in range(TEAMS)
    ]


def _point(rng: random.Random) -> tuple[float, float, str]:
    return LAT0 + rng.uniform(-SPREAD, SPREAD), LON0 + rng.uniform(-SPREAD, SPREAD), rng.choice(CATEGORIES)


def _ms(samples: list[float]) -> str:
    p50, p95, p99 = np.percentile(np.array(samples) * 1000, [50, 95, 99])
    return f"p50 {p50:.3f} ms  p95 {p95:.3f} ms  p99 {p99:.3f} ms"


def main() -> None:
    rng = random.Random(20260101)
    teams = _teams(rng)
    started = time.perf_counter()
    index = TeamIndex(teams)
    print(f"{TEAMS:,} teams, index built in {time.perf_counter() - started:.1f}s")
    # The index lives as long as the process: keep the collector from walking
    # it again and again (what a long-running service does after loading).
    gc.collect()
    gc.freeze()

    indexed, looked_at, found = [], [], []
    for _ in range(REQUESTS):
        lat, lon, category = _point(rng)
        t0 = time.perf_counter()
        nearby = index.near(lat, lon)
        candidates, _ = match_candidates(lat, lon, category, nearby)
        indexed.append(time.perf_counter() - t0)
        looked_at.append(len(nearby))
        found.append(len(candidates))
    print(f"indexed match, {REQUESTS} requests: {_ms(indexed)}")
    print(f"  teams examined per request: mean {statistics.mean(looked_at):.0f}, "
          f"candidates: mean {statistics.mean(found):.1f}")

    scanned = []
    for _ in range(SCANNED):
        lat, lon, category = _point(rng)
        t0 = time.perf_counter()
        via_scan, _ = match_candidates(lat, lon, category, teams)
        scanned.append(time.perf_counter() - t0)
        assert match_candidates(lat, lon, category, index.near(lat, lon))[0] == via_scan
    print(f"linear scan, {SCANNED} requests: {_ms(scanned)}")
    p99_indexed = float(np.percentile(indexed, 99))
    print(f"ratio linear/indexed at p50: {statistics.median(scanned) / statistics.median(indexed):.0f}x; "
          f"indexed p99 {'under' if p99_indexed < 0.002 else 'OVER'} the 2 ms target")

    # Surge: a backlog piled up in one district, matched jointly vs greedily.
    for backlog_size in (100, 300):
        backlog = [BacklogRequest(f"r{i}", LAT0 + rng.uniform(-0.15, 0.15), LON0 + rng.uniform(-0.15, 0.15),
                                  rng.choice(CATEGORIES)) for i in range(backlog_size)]
        nearby = {t.id: t for r in backlog for t in index.near(r.lat, r.lon)}
        local = list(nearby.values())
        t0 = time.perf_counter()
        joint = assign_backlog(backlog, local)
        joint_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        greedy = assign_greedy(backlog, local)
        greedy_s = time.perf_counter() - t0
        gk, jk = total_distance(greedy), total_distance(joint)
        print(f"surge, backlog {backlog_size}, {len(local)} nearby teams: joint {len(joint)} assigned, "
              f"{jk:.1f} km in {joint_s * 1000:.0f} ms; greedy {len(greedy)} assigned, {gk:.1f} km "
              f"in {greedy_s * 1000:.0f} ms; per assigned request joint {jk / max(1, len(joint)):.2f} km "
              f"vs greedy {gk / max(1, len(greedy)):.2f} km")


if __name__ == "__main__":
    main()
