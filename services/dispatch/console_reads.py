"""What the coordinators' console reads: a request, the queue, a request's
whole history, the teams that could take it, the figures, and their views.
Every list is a fixed few queries, whatever its length."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.geo import distance_km
from shared.http import Principal, not_found
from shared.scope import CommunityTree, covers, visible_communities

from . import store
from .lifecycle import check_scope
from .matching import WIDEN_MARGIN_KM, escalation_reason, match_candidates
from .offers import rank_by_travel_time, serving_communities
from .schemas import (
    AssignmentOut,
    AuditOut,
    CandidateOut,
    CandidatesOut,
    ExclusionOut,
    HistoryOut,
    NoteOut,
    RequestOut,
)
from .settings import DispatchSettings
from .teams import team_snapshot, teams_near


async def get_request(*, session: AsyncConnection, principal: Principal, request_id: str,
                      tree: CommunityTree) -> RequestOut:
    """The request with its current assignment and status history (404 unknown or outside the caller's scope)."""
    row = await _visible_request(session, principal, request_id, tree)
    return await request_view(session=session, row=row)


async def list_requests(*, session: AsyncConnection, principal: Principal, filters: dict[str, Any],
                        limit: int, offset: int, tree: CommunityTree) -> tuple[list[RequestOut], int]:
    """The queue in the caller's scope (its communities, and those below its
    districts and cities), filtered and paged, with the total;
    `min_age_minutes` / `max_age_minutes` select by how long ago the request
    was received."""
    filters = dict(filters)
    visible = visible_communities(principal, tree)
    if visible is not None:
        filters["communities"] = sorted(visible)
    now = utcnow()
    if (min_age := filters.pop("min_age_minutes", None)) is not None:
        filters["received_before"] = now - timedelta(minutes=min_age)
    if (max_age := filters.pop("max_age_minutes", None)) is not None:
        filters["received_after"] = now - timedelta(minutes=max_age)
    rows = await store.list_requests(session, filters, limit, offset)
    total = await store.count_requests(session, filters)
    return await request_views(session=session, rows=rows), total


async def history(*, session: AsyncConnection, principal: Principal, request_id: str,
                  tree: CommunityTree) -> HistoryOut:
    """The request's whole story: status changes, every offer and task, and notes."""
    row = await _visible_request(session, principal, request_id, tree)
    return HistoryOut(
        request=await request_view(session=session, row=row),
        assignments=[assignment_view(a) for a in await store.assignments_of(session, request_id)],
        notes=[NoteOut(id=n.id, author=n.author, text=n.text, at=n.at) for n in await store.notes_of(session, request_id)],
    )


async def candidates(*, session: AsyncConnection, principal: Principal, request_id: str,
                     settings: DispatchSettings, tree: CommunityTree) -> CandidatesOut:
    """Every team that could cover the request, ranked, and why each other
    (of the caller's scope) was left out."""
    request = await _visible_request(session, principal, request_id, tree)
    tried = await store.teams_tried(session, request_id)
    rows = await teams_near(session=session, lat=request.lat, lon=request.lon, widened=request.widened)
    margin = WIDEN_MARGIN_KM if request.widened else 0.0
    found, excluded = match_candidates(request.lat, request.lon, request.category,
                                       [team_snapshot(t) for t in rows.values()], margin_km=margin, tried=tried,
                                       communities=serving_communities(request.community, tree,
                                                                       widened=request.widened))
    found, seconds = await rank_by_travel_time(request=request, candidates=found, rows=rows, settings=settings)
    # Teams left out are listed only where the caller sees them (the ones that
    # may serve the request are listed, whichever community they are of).
    excluded = [e for e in excluded if covers(principal, rows[e.team_id].community, tree)]
    return CandidatesOut(
        request_id=request.id, widened=request.widened,
        candidates=[CandidateOut(team_id=c.team_id, name=rows[c.team_id].name,
                                 community=rows[c.team_id].community, distance_km=round(c.distance_km, 3),
                                 travel_minutes=_minutes(seconds.get(c.team_id)),
                                 open_tasks=c.open_tasks, capacity=rows[c.team_id].capacity)
                    for c in found],
        excluded=[ExclusionOut(team_id=e.team_id, name=rows[e.team_id].name, community=rows[e.team_id].community,
                               reason=e.reason,
                               distance_km=round(distance_km(request.lat, request.lon,
                                                             rows[e.team_id].lat, rows[e.team_id].lon), 3))
                  for e in sorted(excluded, key=lambda e: (e.reason in ("outside_area", "other_community"), e.team_id))],
        escalation_reason=None if found else escalation_reason(excluded),
    )


async def stats(*, session: AsyncConnection, principal: Principal, tree: CommunityTree) -> dict[str, Any]:
    """Figures for the console, limited to the caller's scope."""
    scope = visible_communities(principal, tree)
    open_rows = await store.open_by_community_and_category(session, scope)
    waiting = {r.community: r.waiting for r in await store.waiting_by_community(session, scope)}
    capacity = {r.community: r for r in await store.on_duty_capacity_by_community(session, scope)}
    breaches = {r.community: r.breaches for r in await store.sla_breaches_by_community(session, scope)}
    to_assign, to_close = [], []
    for r in await store.lifecycle_times(session, scope):
        if r.accepted_at is not None:
            to_assign.append((r.accepted_at - r.received_at).total_seconds())
        if r.closed_at is not None:
            to_close.append((r.closed_at - r.received_at).total_seconds())
    communities = sorted({c for c in (*waiting, *capacity, *breaches) if c is not None})
    return {
        "open": [{"community": r.community, "category": r.category, "open": r.open} for r in open_rows],
        "demand_vs_capacity": [
            {"community": c, "waiting_requests": waiting.get(c, 0),
             "on_duty_teams": capacity[c].teams if c in capacity else 0,
             "on_duty_capacity": int(capacity[c].capacity or 0) if c in capacity else 0,
             "free_capacity": max(0, int((capacity[c].capacity or 0) - (capacity[c].open_tasks or 0)))
             if c in capacity else 0}
            for c in communities
        ],
        "time_to_accept_seconds": _percentiles(to_assign),
        "time_to_close_seconds": _percentiles(to_close),
        "sla_breaches": [{"community": c, "breaches": n} for c, n in sorted(breaches.items(), key=lambda x: str(x[0]))],
    }


async def request_views(*, session: AsyncConnection, rows: Sequence[Row[Any]]) -> list[RequestOut]:
    """The requests as the console shows them, in their order: two queries
    for the lot (their current assignments, their status histories)."""
    ids = [row.id for row in rows]
    assignments = await store.current_assignments(session, ids)
    histories = await store.histories(session, ids)
    return [_request_out(row, assignments.get(row.id), histories.get(row.id, [])) for row in rows]


async def request_view(*, session: AsyncConnection, row: Row[Any]) -> RequestOut:
    """One request as the console shows it."""
    return (await request_views(session=session, rows=[row]))[0]


def assignment_view(row: Row[Any]) -> AssignmentOut:
    return AssignmentOut(
        id=row.id, request_id=row.request_id, team_id=row.team_id, state=row.state,
        distance_km=row.distance_km, offered_at=row.offered_at,
        offer_expires_at=row.offer_expires_at, decided_at=row.decided_at,
    )


def _request_out(row: Row[Any], assignment: Row[Any] | None, history_rows: list[Row[Any]]) -> RequestOut:
    return RequestOut(
        id=row.id, reference=row.reference, status=row.status, status_reason=row.status_reason,
        category=row.category, urgency=row.urgency, vulnerabilities=row.vulnerabilities,
        people=row.people, source=row.source, community=row.community, widened=row.widened,
        location={"lat": row.lat, "lon": row.lon},
        received_at=row.received_at, updated_at=row.updated_at,
        sla_due_at=row.sla_due_at, sla_breached_at=row.sla_breached_at,
        assignment=assignment_view(assignment) if assignment else None,
        history=[AuditOut(from_status=h.from_status, to_status=h.to_status, actor=h.actor,
                          reason=h.reason, at=h.at) for h in history_rows],
    )


async def _visible_request(session: AsyncConnection, principal: Principal, request_id: str,
                           tree: CommunityTree) -> Row[Any]:
    """The request, if the caller may see it (404 unknown or outside their scope)."""
    row = await store.get_request(session, request_id)
    if row is None:
        raise not_found(f"request {request_id}")
    check_scope(principal, what=f"request {request_id}", community=row.community, tree=tree)
    return row


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _percentiles(seconds: list[float]) -> dict[str, float | int | None]:
    if not seconds:
        return {"count": 0, "p50": None, "p90": None, "p95": None}
    p50, p90, p95 = np.percentile(np.array(seconds), [50, 90, 95])
    return {"count": len(seconds), "p50": round(float(p50), 1), "p90": round(float(p90), 1),
            "p95": round(float(p95), 1)}
