"""Surge mode: a backlog assigned jointly, as a min-cost assignment over the
teams' free units of capacity, instead of first-come nearest (`assign_greedy`,
what one-at-a-time matching does).  Pure: no I/O, no clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from shared.geo import distance_km

from .matching import URGENCY_RANK, TeamSnapshot, exclusion_reason


@dataclass(frozen=True)
class BacklogRequest:
    id: str
    lat: float
    lon: float
    category: str
    urgency: str = "normal"
    vulnerability: int = 0
    tried: frozenset[str] = frozenset()  # teams that declined it or let an offer expire
    communities: frozenset[str] | None = None  # the teams' communities that may serve it; None: any


@dataclass(frozen=True)
class Pairing:
    request_id: str
    team_id: str
    distance_km: float


def total_distance(pairings: Iterable[Pairing]) -> float:
    return sum(p.distance_km for p in pairings)


def assign_greedy(requests: Sequence[BacklogRequest], teams: Sequence[TeamSnapshot],
                  margin_km: float = 0.0) -> list[Pairing]:
    """First come, nearest team with a free unit (what one-at-a-time matching does)."""
    free = {t.id: t.free_capacity for t in teams}
    pairings = []
    for request in requests:
        best: tuple[float, str] | None = None
        for team in teams:
            if free[team.id] <= 0:
                continue
            d = _feasible(request, team, margin_km)
            if d is not None and (best is None or (d, team.id) < best):
                best = (d, team.id)
        if best is not None:
            free[best[1]] -= 1
            pairings.append(Pairing(request.id, best[1], best[0]))
    return pairings


def assign_jointly(requests: Sequence[BacklogRequest], teams: Sequence[TeamSnapshot],
                   margin_km: float = 0.0) -> list[Pairing]:
    """Min-cost assignment: as many requests as can be matched, and among those
    matchings the least total distance.  Teams are expanded into one column per
    free unit of capacity (never more units than there are requests)."""
    if not requests:
        return []
    slots: list[TeamSnapshot] = []
    for team in teams:
        slots.extend([team] * min(team.free_capacity, len(requests)))
    if not slots:
        return []
    cost = np.empty((len(requests), len(slots)))
    feasible = np.zeros_like(cost, dtype=bool)
    column_of: dict[str, list[int]] = {}
    for j, team in enumerate(slots):
        column_of.setdefault(team.id, []).append(j)
    for i, request in enumerate(requests):
        for columns in column_of.values():
            d = _feasible(request, slots[columns[0]], margin_km)
            if d is not None:
                cost[i, columns] = d
                feasible[i, columns] = True
    if not feasible.any():
        return []
    # An infeasible pair costs more than every feasible pair together, so the
    # optimum first matches as many requests as possible, then minimises distance.
    penalty = float(cost[feasible].sum()) + 1.0
    cost[~feasible] = penalty
    rows, cols = linear_sum_assignment(cost)
    return [Pairing(requests[i].id, slots[j].id, float(cost[i, j]))
            for i, j in zip(rows, cols, strict=True) if feasible[i, j]]


def assign_backlog(requests: Sequence[BacklogRequest], teams: Sequence[TeamSnapshot],
                   margin_km: float = 0.0) -> list[Pairing]:
    """Surge mode: the backlog tier by tier (urgency, then vulnerability), each
    tier jointly on the capacity the tiers before it left free."""
    free = {t.id: t.free_capacity for t in teams}
    by_id = {t.id: t for t in teams}
    tiers: dict[tuple[int, int], list[BacklogRequest]] = {}
    for r in requests:
        tiers.setdefault((URGENCY_RANK[r.urgency], -r.vulnerability), []).append(r)
    pairings: list[Pairing] = []
    for key in sorted(tiers):
        left = [dataclasses.replace(by_id[team_id], capacity=units, open_tasks=0)
                for team_id, units in free.items() if units > 0]
        tier_pairs = assign_jointly(tiers[key], left, margin_km)
        for p in tier_pairs:
            free[p.team_id] -= 1
        pairings.extend(tier_pairs)
    return pairings


def _feasible(request: BacklogRequest, team: TeamSnapshot, margin_km: float) -> float | None:
    """The distance when `team` may take `request`, else None."""
    if request.communities is not None and team.community not in request.communities:
        return None
    if team.id not in request.tried and exclusion_reason(team, request.lat, request.lon, request.category,
                                                         margin_km) is None:
        return distance_km(request.lat, request.lon, team.lat, team.lon)
    return None
