"""The points ledger: completions paid to the members on duty, coordinators'
adjustments, a member's total and the community's leaderboard.

How a completion becomes points: dispatch says a request is done with the
team and assignment.  The points for it are the rule (see points) for the
request's category and urgency, learned from intake's aid.request.received.v1
(unknown: the default points and no multiplier).  Every member of the team
who was available at completion (active, on shift at `changed_at`, fit by
the check-in rule) earns those points in full; if nobody was available by
that reckoning (e.g. nobody checked in), every active member does.  Each
entry's key is assignment:<assignment>:<member>, unique in the ledger, so a
redelivered or repeated "done" never counts twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import as_utc
from shared.contracts import RequestReceivedV1, RequestStatusChangedV1
from shared.http import Principal

from . import shifts, store
from .duty import is_fit, member_on_shift
from .members import visible_member
from .models import SOURCE
from .settings import VolunteersSettings
from .teams import in_scope, schedule_of, zone_of


async def record_request_facts(*, session: AsyncConnection, event: RequestReceivedV1) -> None:
    """Remembers the request's category and urgency (the first telling wins), to score its completion."""
    data = event.data
    await store.upsert_request_fact(session, dict(request_id=str(data.request_id), category=data.category,
                                                  urgency=data.urgency, received_at=as_utc(data.received_at)))


async def award_completion(*, session: AsyncConnection, event: RequestStatusChangedV1,
                           settings: VolunteersSettings) -> int:
    """Points for a done assignment; returns how many ledger entries were added."""
    data = event.data
    if data.status != "done" or data.team_id is None or data.assignment_id is None:
        return 0
    team = await store.get_team(session, str(data.team_id))
    if team is None:
        return 0
    fact = await store.get_request_fact(session, str(data.request_id))
    category, urgency = (fact.category, fact.urgency) if fact else (None, None)
    points = settings.points_rules.points_for(category, urgency)
    active = await store.team_members(session, team.id, active_only=True)
    if not active or points == 0:
        return 0
    at = as_utc(data.changed_at)
    schedule = schedule_of(team)
    covered = shifts.coverage(schedule, at)
    latest = await store.latest_checkins(session, [m.id for m in active])
    today = shifts.local_day(zone_of(team), at)
    available = [
        m for m in active
        if member_on_shift(covered, schedule.groups, m.shift_group)
        and is_fit(latest[m.id].status if m.id in latest else None,
                   latest[m.id].day if m.id in latest else None, today, settings.require_checkin)
    ]
    recipients = available or active
    what = f"{category or 'unknown category'}, {urgency or 'unknown urgency'}"
    reason = (f"request {data.request_id} done by team {team.name} ({what}); "
              f"{'on duty at completion' if available else 'shared by the whole team: nobody was on duty'}")
    added = 0
    for m in recipients:
        added += await store.add_points(session, dict(
            id=str(uuid4()), member_id=m.id, team_id=team.id, community=team.community, points=points,
            reason=reason, source_key=f"assignment:{data.assignment_id}:{m.id}", created_by=SOURCE,
            created_at=at,
        ))
    return added


async def adjust_points(*, session: AsyncConnection, principal: Principal, member_id: str, points: int,
                        reason: str, now: datetime) -> dict[str, Any]:
    """A coordinator of the member's community adds or takes away points, with a reason; the entry."""
    member, team = await visible_member(session, principal, member_id)
    entry = dict(id=str(uuid4()), member_id=member.id, team_id=team.id, community=team.community,
                 points=points, reason=f"adjustment: {reason}", source_key=f"adjustment:{uuid4()}",
                 created_by=principal.subject, created_at=now)
    await store.add_points(session, entry)
    return entry


async def points_of(*, session: AsyncConnection, principal: Principal, member_id: str) -> dict[str, Any]:
    """A member's total and every ledger entry behind it, oldest first (404 outside the caller's scope)."""
    await visible_member(session, principal, member_id)
    entries = [dict(r._mapping) for r in await store.ledger_of(session, member_id)]
    return {"member_id": member_id, "total": sum(e["points"] for e in entries), "entries": entries}


async def leaderboard(*, session: AsyncConnection, principal: Principal, community: str,
                      limit: int) -> list[dict[str, Any]]:
    """The community's members ranked by points earned there (ties by name); empty outside the caller's scope."""
    if not await in_scope(session, principal, community):
        return []
    rows = await store.leaderboard(session, community, limit)
    return [{"rank": i, "member_id": r.id, "name": r.name, "team_id": r.team_id, "points": int(r.points)}
            for i, r in enumerate(rows, start=1)]
