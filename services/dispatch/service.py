"""Dispatch's use cases: take requests in, offer them to the best team, follow
them to the end.  They never commit: the caller's transaction does."""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import (
    AssignmentOfferedV1,
    AssignmentRepliedV1,
    RequestCancelledV1,
    RequestFeedbackGivenV1,
    RequestReceivedV1,
    RequestStatusChangedV1,
    TeamChangedV1,
)
from shared.contracts.requests import RequestSlaBreachedV1
from shared.http import FieldError, Principal, Problem, not_found
from shared.outbox import record_event

from . import store
from .matching import (
    NO_CAPACITY,
    NO_CAPACITY_REASON,
    URGENCY_RANK,
    WIDEN_MARGIN_KM,
    Area,
    BacklogRequest,
    Candidate,
    Exclusion,
    TeamIndex,
    TeamSnapshot,
    assign_backlog,
    assign_greedy,
    cells_for_point,
    cells_for_team,
    distance_km,
    escalation_reason,
    exclusion_reason,
    match_candidates,
    total_distance,
    vulnerability_score,
)
from .models import outbox
from .routing import travel_times
from .schemas import (
    AssignIn,
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

SOURCE = "heartline/dispatch"
DISPATCH = "dispatch"
FINAL_STATES = ("closed", "cancelled")

log = logging.getLogger("heartline.dispatch")

# Which status a request may move to from each status.  Anything else is
# refused with 409 naming the current status.
TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"offered", "cancelled", "escalated"}),
    "offered": frozenset({"accepted", "queued", "cancelled", "offered"}),  # offered again: reassigned
    "accepted": frozenset({"in_progress", "done", "cancelled", "offered"}),
    "in_progress": frozenset({"done", "cancelled", "offered"}),
    "done": frozenset({"closed"}),
    "escalated": frozenset({"offered", "cancelled"}),
    "closed": frozenset(),
    "cancelled": frozenset(),
}


def _now() -> datetime:
    return datetime.now(UTC)


def conflict(what: str, current: str, **extra: Any) -> Problem:
    return Problem(409, "Conflict", f"{what}: the request is {current}", current_state=current, **extra)


# --- teams ---------------------------------------------------------------------------


async def apply_team_change(session: AsyncConnection, event: TeamChangedV1) -> bool:
    """Keeps the read model of teams and their cells; True when the change was newer.
    An area that is not a valid polygon falls back to the circle (and is logged)."""
    team = event.data
    area = team.area
    if area is not None:
        try:
            Area.from_geojson(area)
        except ValueError as exc:
            log.warning("team %s v%s: ignoring its area (%s); using its circle", team.team_id, team.version, exc)
            area = None
    values = dict(
        id=str(team.team_id), version=team.version, name=team.name, community=team.community,
        lat=team.location.lat, lon=team.location.lon, radius_km=team.radius_km,
        categories=list(team.categories), capacity=team.capacity, status=team.status,
        on_duty=team.on_duty, area=area,
    )
    snapshot = _snapshot_from(values, open_tasks=0)
    cells: dict[int, bool] = {}
    if team.status != "deleted":
        cells = dict.fromkeys(cells_for_team(snapshot, WIDEN_MARGIN_KM), False)
        cells.update(dict.fromkeys(cells_for_team(snapshot), True))
    return await store.upsert_team(session, values, cells)


# Parsed polygons, by (team, version): parsing is the costly part of a team row.
_AREAS: OrderedDict[tuple[str, int], Area] = OrderedDict()


def _area(team_id: str, version: int, geojson: dict | None) -> Area | None:
    if geojson is None:
        return None
    key = (team_id, version)
    area = _AREAS.get(key)
    if area is None:
        area = _AREAS[key] = Area.from_geojson(geojson)
        if len(_AREAS) > 20_000:
            _AREAS.popitem(last=False)
    return area


def _snapshot_from(values: dict, open_tasks: int) -> TeamSnapshot:
    return TeamSnapshot(
        id=values["id"], lat=values["lat"], lon=values["lon"], radius_km=values["radius_km"],
        categories=frozenset(values["categories"]), capacity=values["capacity"], open_tasks=open_tasks,
        active=values["status"] == "active", on_duty=values["on_duty"], community=values["community"],
        area=_area(values["id"], values["version"], values["area"]),
    )


def _snapshot(row) -> TeamSnapshot:
    return _snapshot_from(row._mapping, row.open_tasks)


def index_snapshot(row) -> TeamSnapshot:
    """A team as the in-memory index holds it: without open_tasks (0), which
    changes with every offer and is read from the row when offering."""
    return _snapshot_from(row._mapping, open_tasks=0)


async def _teams_near(session: AsyncConnection, lat: float, lon: float, widened: bool = True) -> dict[str, Any]:
    return {row.id: row for row in await store.teams_near(session, cells_for_point(lat, lon), widened)}


# --- requests ------------------------------------------------------------------------


async def take_request(session: AsyncConnection, settings: DispatchSettings, event: RequestReceivedV1,
                       index: TeamIndex | None = None) -> None:
    """Starts following a request and tries to offer it at once."""
    r = event.data
    request_id = str(r.request_id)
    if await store.get_request(session, request_id):
        return
    now = _now()
    await store.insert_request(
        session,
        dict(
            id=request_id, reference=r.reference, category=r.category,
            needs_volunteer=r.needs_volunteer, urgency=r.urgency, urgency_rank=URGENCY_RANK[r.urgency],
            vulnerabilities=list(r.vulnerabilities), vulnerability_score=vulnerability_score(r.vulnerabilities),
            people=r.people, source=r.source, community=r.community,
            summary=r.description[:280], lat=r.location.lat, lon=r.location.lon,
            status="queued", sequence=1, received_at=r.received_at, updated_at=now,
            sla_due_at=r.received_at + timedelta(minutes=settings.sla_minutes(r.urgency)),
        ),
    )
    await _audit_and_publish(session, request_id, None, "queued", 1, "intake", "received", now,
                             community=r.community)
    if not r.needs_volunteer:
        request = await store.get_request(session, request_id, for_update=True)
        await _transition(session, request, "escalated", DISPATCH,
                          f"category {r.category} is for coordinators, not teams")
        return
    await offer_to_best_team(session, settings, request_id, index)


async def offer_to_best_team(session: AsyncConnection, settings: DispatchSettings, request_id: str,
                             index: TeamIndex | None = None, held: set[str] | None = None) -> bool:
    """Offers a queued request to the best candidate with free capacity.  When
    there is none, widens the search once past the teams' areas; when still
    none, waits for capacity (if only capacity is missing) or escalates with
    the reason.  True when an offer was made.

    With `index` (the replica's in-memory teams) the shortlist comes from
    memory and only the shortlisted teams' rows are read; without it, every
    team filed under the request's cells is read from the database.  Either
    way the offer goes only to a team whose current row qualifies.

    `held` is a sweep's, which goes through the queue most urgent first: the
    teams a more urgent request of the same sweep found at capacity.  They
    count as at capacity here too, and this request adds those it waits for.
    So a unit that frees up in the middle of a sweep (a team change, a task
    done) goes to the most urgent request waiting for it, on the next sweep,
    not to whichever request the sweep reached after the unit came free."""
    request = await store.get_request(session, request_id, for_update=True, skip_locked=True)
    if request is None or request.status != "queued":
        return False
    tried = await store.teams_tried(session, request_id)
    held = set() if held is None else held
    offered, excluded = await _offer_nearest(session, settings, request, index, widened=request.widened,
                                             tried=tried, held=held)
    if offered:
        return True
    if not request.widened:
        now = _now()
        await store.update_request(session, request_id, dict(widened=True, updated_at=now))
        await store.add_audit(session, dict(
            request_id=request_id, from_status="queued", to_status="queued", actor=DISPATCH, at=now,
            reason=f"no candidate in any team's area; search widened by {WIDEN_MARGIN_KM:g} km"))
        request = await store.get_request(session, request_id)
        offered, excluded = await _offer_nearest(session, settings, request, index, widened=True, tried=tried,
                                                 held=held)
        if offered:
            return True
    if index is not None and not any(e.reason == NO_CAPACITY for e in excluded):
        # About to escalate on what memory shortlisted, which may be up to a
        # reload behind (a team that just came on duty): the database decides.
        offered, excluded = await _offer_nearest(session, settings, request, None, widened=True, tried=tried,
                                                 held=held)
        if offered:
            return True
    if any(e.reason == NO_CAPACITY for e in excluded):
        _hold_for_this_one(held, excluded, tried)
        # Capacity frees up as tasks end: wait, but not past the urgency's limit.
        values: dict[str, Any] = {}
        reason = "waiting: every team that could take it is at capacity"
        if request.status_reason != reason:
            values["status_reason"] = reason
        if request.escalate_at is None:
            values["escalate_at"] = _now() + timedelta(minutes=settings.wait_minutes(request.urgency))
        if values:
            await store.update_request(session, request_id, values)
        return False
    await _transition(session, request, "escalated", DISPATCH, escalation_reason(excluded))
    return False


async def retry_escalated(session: AsyncConnection, settings: DispatchSettings, request_id: str,
                          index: TeamIndex | None = None, held: set[str] | None = None) -> bool:
    """Offers an escalated request to a team that can take it now (one came
    on duty, joined, grew its area, or freed a unit), as a queued one would
    be offered; if none can, it stays escalated as it is.  Coordinators were
    told when it was escalated; this keeps looking meanwhile."""
    request = await store.get_request(session, request_id, for_update=True, skip_locked=True)
    if request is None or request.status != "escalated" or not request.needs_volunteer:
        return False
    tried = await store.teams_tried(session, request_id)
    held = set() if held is None else held
    offered, excluded = await _offer_nearest(session, settings, request, index, widened=True, tried=tried,
                                             held=held)
    _hold_for_this_one(held, excluded, tried)
    return offered


# Shortlisted teams whose rows are read first; the rest only if none of these
# can take the request.
RECHECK_FIRST = 8


async def _offer_nearest(session: AsyncConnection, settings: DispatchSettings, request, index: TeamIndex | None,
                         *, widened: bool, tried: set[str], held: set[str]) -> tuple[bool, list[Exclusion]]:
    """Offers the request to the best team that can take it; whether it did,
    and why the teams looked at were left out."""
    margin = WIDEN_MARGIN_KM if widened else 0.0
    if index is None:
        rows = await _teams_near(session, request.lat, request.lon, widened=widened)
        candidates, excluded = match_candidates(request.lat, request.lon, request.category,
                                                [_snapshot(t) for t in rows.values()], margin_km=margin, tried=tried)
        candidates = _hold_back(candidates, excluded, held)
        candidates = (await _by_travel_time(settings, request, candidates, rows))[0]
        return await _offer_first(session, settings, request, candidates, rows, widened=widened), excluded
    # Memory shortlists by area, skill, status and duty (open_tasks unknown
    # there); the shortlisted teams' current rows decide, ranked afresh.
    shortlist, excluded = match_candidates(request.lat, request.lon, request.category,
                                           index.near(request.lat, request.lon, widened),
                                           margin_km=margin, tried=tried)
    shortlist = _hold_back(shortlist, excluded, held)
    for batch in _batches(shortlist):
        rows = await _current_rows(session, [c.team_id for c in batch])
        candidates, rechecked = match_candidates(request.lat, request.lon, request.category,
                                                 [_snapshot(t) for t in rows.values()], margin_km=margin,
                                                 tried=tried)
        excluded.extend(rechecked)
        candidates = (await _by_travel_time(settings, request, candidates, rows))[0]
        if await _offer_first(session, settings, request, candidates, rows, widened=widened):
            return True, excluded
    return False, excluded


async def _by_travel_time(settings: DispatchSettings, request, candidates: list[Candidate],
                          rows: dict) -> tuple[list[Candidate], dict[str, float | None]]:
    """With a routing provider, the first few candidates (those a re-check
    reads) re-ranked by travel time, with each one's seconds; else as they are."""
    routing = travel_times(settings.routing_url, settings.routing_profile, settings.routing_timeout_seconds)
    if routing is None:
        return candidates, {}
    first, rest = candidates[:RECHECK_FIRST], candidates[RECHECK_FIRST:]
    ranked, seconds = await routing.rank((request.lat, request.lon), first,
                                         {c.team_id: (rows[c.team_id].lat, rows[c.team_id].lon) for c in first})
    return ranked + rest, seconds


def _hold_for_this_one(held: set[str], excluded: list[Exclusion], tried: set[str]) -> None:
    """The teams this request waits for (at capacity, not yet tried) are held
    for it for the rest of the sweep."""
    held.update(e.team_id for e in excluded if e.reason == NO_CAPACITY and e.team_id not in tried)


def _hold_back(candidates: list[Candidate], excluded: list[Exclusion], held: set[str]) -> list[Candidate]:
    """Leaves out the teams held for a more urgent request: for this one they are at capacity."""
    if not held:
        return candidates
    excluded.extend(Exclusion(c.team_id, NO_CAPACITY) for c in candidates if c.team_id in held)
    return [c for c in candidates if c.team_id not in held]


def _batches(shortlist: list[Candidate]) -> list[list[Candidate]]:
    """The first RECHECK_FIRST (and any tied with the last of them), then the rest."""
    cut = min(RECHECK_FIRST, len(shortlist))
    while 0 < cut < len(shortlist) and round(shortlist[cut].distance_km, 3) == round(shortlist[cut - 1].distance_km, 3):
        cut += 1
    return [b for b in (shortlist[:cut], shortlist[cut:]) if b]


async def _current_rows(session: AsyncConnection, team_ids: list[str]) -> dict[str, Any]:
    return {row.id: row for row in await store.teams_by_id(session, team_ids) if row.status != "deleted"}


async def _offer_first(session: AsyncConnection, settings: DispatchSettings, request,
                       candidates: list[Candidate], rows: dict, *, widened: bool) -> bool:
    for candidate in candidates:
        # The conditional update is the guard: two replicas cannot both take
        # a team's last unit of capacity, and a team that changed since its
        # row was read (went off duty, moved its area) is not offered.
        if not await store.reserve_capacity(session, candidate.team_id, version=rows[candidate.team_id].version):
            continue
        where = "nearby team (search widened)" if widened else "nearest team"
        await _make_offer(session, settings, request, rows[candidate.team_id], candidate.distance_km,
                          DISPATCH, f"{where} with free capacity, {candidate.distance_km:.1f} km")
        return True
    return False


async def _make_offer(session: AsyncConnection, settings: DispatchSettings, request, team,
                      distance: float, actor: str, reason: str) -> str:
    """Records an offer whose unit of capacity the caller has already reserved."""
    now = _now()
    assignment_id = str(uuid4())
    expires = now + timedelta(minutes=settings.offer_minutes(request.urgency))
    await store.insert_assignment(
        session,
        dict(id=assignment_id, request_id=request.id, team_id=team.id, state="offered",
             distance_km=distance, offered_at=now, offer_expires_at=expires),
    )
    values: dict[str, Any] = {"escalate_at": None}
    if request.community is None:  # where the request is: the community whose team covers it
        values["community"] = team.community
    await store.update_request(session, request.id, values)
    await _transition(session, request, "offered", actor, reason, team_id=team.id,
                      assignment_id=assignment_id, community=team.community)
    await record_event(
        session, outbox,
        AssignmentOfferedV1(
            source=SOURCE, correlationid=request.id,
            data=dict(
                assignment_id=assignment_id, request_id=request.id, team_id=team.id,
                category=request.category, urgency=request.urgency, summary=request.summary,
                location={"lat": request.lat, "lon": request.lon},
                distance_km=round(distance, 3), offer_expires_at=expires,
            ),
        ),
    )
    return assignment_id


async def queued_request_ids(session: AsyncConnection, batch: int = 50) -> list[str]:
    return await store.queued_request_ids(session, batch)


async def waiting_request_ids(session: AsyncConnection, batch: int, with_escalated: bool) -> list[tuple[str, str]]:
    return await store.waiting_request_ids(session, batch, with_escalated)


async def assign_surge(session: AsyncConnection, settings: DispatchSettings, request_ids: list[str],
                       index: TeamIndex | None = None) -> dict:
    """Surge mode: offers a backlog jointly (min-cost over capacity slots,
    tier by tier of urgency and vulnerability).  Requests it cannot place are
    left queued for one-by-one matching (which widens or escalates them).
    Returns the joint and the greedy total distance for the same backlog."""
    locked = await store.lock_requests(session, request_ids)
    if not locked:
        return {"requests": 0, "offered": 0, "joint_km": 0.0, "greedy_km": 0.0}
    rows: dict[str, Any] = {}
    shortlist: set[str] = set()
    backlog: list[BacklogRequest] = []
    for request in locked:
        tried = frozenset(await store.teams_tried(session, request.id))
        if index is None:
            rows.update(await _teams_near(session, request.lat, request.lon, widened=False))
        else:  # memory shortlists; the rows read below decide
            shortlist.update(t.id for t in index.near(request.lat, request.lon) if t.id not in tried
                             and exclusion_reason(t, request.lat, request.lon, request.category) is None)
        backlog.append(BacklogRequest(
            request.id, request.lat, request.lon, request.category, request.urgency,
            request.vulnerability_score, tried))
    if index is not None:
        rows = await _current_rows(session, sorted(shortlist))
    teams = [_snapshot(t) for t in rows.values()]
    joint = assign_backlog(backlog, teams)
    greedy = assign_greedy(backlog, teams)
    report = {"requests": len(backlog), "offered": 0, "joint_km": round(total_distance(joint), 3),
              "greedy_km": round(total_distance(greedy), 3), "greedy_offered": len(greedy)}
    by_id = {r.id: r for r in locked}
    for pairing in joint:
        if not await store.reserve_capacity(session, pairing.team_id, version=rows[pairing.team_id].version):
            continue  # another replica took the unit meanwhile, or the team changed; it stays queued
        await _make_offer(
            session, settings, by_id[pairing.request_id], rows[pairing.team_id], pairing.distance_km,
            DISPATCH, f"surge: assigned jointly with {len(joint) - 1} others, {pairing.distance_km:.1f} km "
                      f"(backlog total {report['joint_km']:.1f} km vs {report['greedy_km']:.1f} km greedy)")
        report["offered"] += 1
    log.info("surge: %s", report)
    return report


async def expire_offers(session: AsyncConnection, now: datetime, batch: int = 50) -> int:
    """Offers past their deadline go back to the queue for the next team."""
    ids = await store.expired_offer_ids(session, now, batch)
    for assignment_id in ids:
        await _end_offer(session, assignment_id, "expired", DISPATCH, "offer deadline passed")
    return len(ids)


async def escalate_overdue(session: AsyncConnection, now: datetime, batch: int = 50) -> int:
    """Requests that waited too long for a team with free capacity go to coordinators."""
    due = await store.due_escalations(session, now, batch)
    for request in due:
        await store.update_request(session, request.id, dict(escalate_at=None))
        await _transition(session, request, "escalated", DISPATCH, NO_CAPACITY_REASON)
    return len(due)


async def report_sla_breaches(session: AsyncConnection, now: datetime, batch: int = 50) -> int:
    """Marks (once) and announces requests no team accepted within their SLA."""
    due = await store.due_sla_breaches(session, now, batch)
    for request in due:
        await store.update_request(session, request.id, dict(sla_breached_at=now))
        await store.add_audit(session, dict(
            request_id=request.id, from_status=request.status, to_status=request.status, actor=DISPATCH,
            reason=f"SLA breached: not accepted by {request.sla_due_at.isoformat()}", at=now))
        await record_event(session, outbox, RequestSlaBreachedV1(
            source=SOURCE, correlationid=request.id,
            data=dict(request_id=request.id, status=request.status, urgency=request.urgency,
                      community=request.community, due_at=request.sla_due_at, breached_at=now)))
    return len(due)


# --- the request's lifecycle: team and coordinator actions ---------------------------------

# action: (assignment states it applies to, new assignment state, new request status)
ACTIONS = {
    "accept": (("offered",), "accepted", "accepted"),
    "decline": (("offered",), "declined", "queued"),
    "start": (("accepted",), "in_progress", "in_progress"),
    "complete": (("accepted", "in_progress"), "done", "done"),
}


async def act_on_assignment(
    session: AsyncConnection, principal: Principal | None, assignment_id: str, action: str,
    reason: str | None, *, actor: str | None = None,
) -> AssignmentOut:
    """Accept, decline, start or complete; `principal` None means the team itself
    (a relayed reply).  409 when the assignment is not in a state that allows it."""
    assignment = await store.get_assignment(session, assignment_id, for_update=True)
    if assignment is None:
        raise not_found(f"assignment {assignment_id}")
    request = await store.get_request(session, assignment.request_id, for_update=True)
    if principal is not None:
        team = await store.get_team(session, assignment.team_id)
        _check_scope(principal, request, team.community if team else None)
    allowed_from, new_state, _ = ACTIONS[action]
    if assignment.state not in allowed_from:
        raise Problem(409, "Conflict",
                      f"cannot {action} an assignment that is {assignment.state} "
                      f"(the request is {request.status})",
                      current_state=assignment.state, request_status=request.status)
    who = actor or principal.subject
    if action == "decline":
        await _end_offer(session, assignment_id, "declined", who, reason or "declined")
    else:
        await _move(session, assignment, new_state, who, reason)
    return _assignment_view(await store.get_assignment(session, assignment_id))


async def apply_reply(session: AsyncConnection, event: AssignmentRepliedV1) -> bool:
    """A team leader's SMS or chat reply, acted on like the API action.  A reply
    that no longer applies (an accept after the offer expired, a reply from
    another team) is recorded as a note and ignored.  True when acted on."""
    reply = event.data
    assignment = await store.get_assignment(session, str(reply.assignment_id))
    if assignment is None:
        log.warning("reply %s for unknown assignment %s ignored", event.id, reply.assignment_id)
        return False
    actor = f"team {reply.team_id} via {reply.channel}"
    ignored = None
    if str(reply.team_id) != assignment.team_id:
        ignored = f"the assignment belongs to team {assignment.team_id}"
    else:
        try:
            await act_on_assignment(session, None, assignment.id, reply.action,
                                    f"{reply.action} by {reply.channel} reply", actor=actor)
            return True
        except Problem as problem:
            ignored = problem.detail
    await store.add_note(session, dict(
        request_id=assignment.request_id, author=DISPATCH, at=_now(),
        text=f"ignored {reply.channel} reply '{reply.action}' from team {reply.team_id}: {ignored}"))
    return False


async def _move(session: AsyncConnection, assignment, new_state: str, actor: str, reason: str | None) -> None:
    request_status = {a[1]: a[2] for a in ACTIONS.values()}[new_state]
    now = _now()
    await store.update_assignment(session, assignment.id, dict(state=new_state, decided_at=now))
    if new_state == "done":
        await store.release_capacity(session, assignment.team_id)
    request = await store.get_request(session, assignment.request_id, for_update=True)
    if new_state == "accepted" and request.accepted_at is None:
        await store.update_request(session, request.id, dict(accepted_at=now))
    team = await store.get_team(session, assignment.team_id)
    await _transition(session, request, request_status, actor, reason, team_id=assignment.team_id,
                      assignment_id=assignment.id, community=team.community if team else None)


async def _end_offer(session: AsyncConnection, assignment_id: str, outcome: str, actor: str, reason: str) -> None:
    assignment = await store.get_assignment(session, assignment_id, for_update=True)
    if assignment is None or assignment.state != "offered":
        return
    await store.update_assignment(session, assignment_id, dict(state=outcome, decided_at=_now()))
    await store.release_capacity(session, assignment.team_id)
    request = await store.get_request(session, assignment.request_id, for_update=True)
    await _transition(session, request, "queued", actor, f"{outcome}: {reason}",
                      team_id=assignment.team_id, assignment_id=assignment_id)


async def _release_open_assignment(session: AsyncConnection, request_id: str, outcome: str):
    """Ends the request's open offer or task, if any, and frees its unit; returns it."""
    held = await store.open_assignment(session, request_id)
    if held is not None:
        await store.update_assignment(session, held.id, dict(state=outcome, decided_at=_now()))
        await store.release_capacity(session, held.team_id)
    return held


async def cancel_request(session: AsyncConnection, request_id: str, actor: str, reason: str | None,
                         principal: Principal | None = None) -> RequestOut:
    """Cancels at any state before done; frees the team's unit of capacity."""
    request = await _locked_request(session, request_id)
    if principal is not None:
        _check_scope(principal, request)
    if "cancelled" not in TRANSITIONS[request.status]:
        raise conflict("cannot cancel", request.status)
    released = await _release_open_assignment(session, request_id, "cancelled")
    await store.update_request(session, request_id, dict(escalate_at=None))
    # With the team that held it, so that notify can tell that team to stand down.
    await _transition(session, request, "cancelled", actor, reason or "cancelled",
                      team_id=released.team_id if released else None,
                      assignment_id=released.id if released else None)
    return await _request_view(session, await store.get_request(session, request_id))


async def apply_cancellation(session: AsyncConnection, event: RequestCancelledV1) -> bool:
    data = event.data
    try:
        await cancel_request(session, str(data.request_id), data.cancelled_by, data.reason or "cancelled")
        return True
    except Problem as problem:  # unknown, or already done or final: nothing to undo
        log.info("cancellation of %s ignored: %s", data.request_id, problem.detail)
        return False


async def apply_feedback(session: AsyncConnection, event: RequestFeedbackGivenV1) -> bool:
    """The requester confirmed a done request: it is closed."""
    data = event.data
    request = await store.get_request(session, str(data.request_id), for_update=True)
    if request is None or request.status != "done":
        log.info("feedback for %s ignored: request is %s", data.request_id,
                 request.status if request else "unknown")
        return False
    await store.update_request(session, request.id, dict(closed_at=_now()))
    assignment = await store.current_assignment(session, request.id)
    await _transition(session, request, "closed", "requester",
                      f"confirmed and rated {data.rating}/5 via {data.channel}",
                      team_id=assignment.team_id if assignment else None,
                      assignment_id=assignment.id if assignment else None)
    return True


async def assign_manually(session: AsyncConnection, settings: DispatchSettings, principal: Principal,
                          request_id: str, body: AssignIn) -> RequestOut:
    """A coordinator offers a request to a team of their choice (or moves it from
    its current team).  Capacity is respected unless `override_capacity`, which
    is audited.  The team still answers the offer (or a coordinator on its behalf)."""
    request = await _locked_request(session, request_id)
    _check_scope(principal, request)
    if "offered" not in TRANSITIONS[request.status]:
        raise conflict("cannot assign", request.status)
    team = await store.get_team(session, str(body.team_id))
    if team is None:
        raise Problem(422, "Invalid request", f"team {body.team_id} does not exist",
                      [FieldError("team_id", "no such team")])
    if team.status != "active":
        raise Problem(409, "Conflict", f"team {team.id} is {team.status}", team_status=team.status,
                      current_state=request.status)
    held = await store.open_assignment(session, request_id)
    if held is not None and held.team_id == team.id:
        raise conflict(f"team {team.id} already holds it", request.status)
    if not await store.reserve_capacity(session, team.id, override=body.override_capacity):
        raise Problem(409, "Conflict",
                      f"team {team.id} has no free capacity ({team.open_tasks}/{team.capacity}); "
                      "set override_capacity to assign anyway", current_state=request.status,
                      open_tasks=team.open_tasks, capacity=team.capacity)
    if held is not None:
        await store.update_assignment(session, held.id, dict(state="reassigned", decided_at=_now()))
        await store.release_capacity(session, held.team_id)
    verb = "reassigned" if held is not None else "assigned"
    reason = f"{verb} by coordinator: {body.reason}"
    if body.override_capacity and team.open_tasks >= team.capacity:
        reason += f" (capacity override: team held {team.open_tasks}/{team.capacity})"
    distance = distance_km(request.lat, request.lon, team.lat, team.lon)
    await _make_offer(session, settings, request, team, distance, principal.subject, reason)
    return await _request_view(session, await store.get_request(session, request_id))


async def add_note(session: AsyncConnection, principal: Principal, request_id: str, text: str) -> NoteOut:
    request = await store.get_request(session, request_id)
    if request is None:
        raise not_found(f"request {request_id}")
    _check_scope(principal, request)
    at = _now()
    note_id = await store.add_note(session, dict(request_id=request_id, author=principal.subject, text=text, at=at))
    return NoteOut(id=note_id, author=principal.subject, text=text, at=at)


# --- reads ---------------------------------------------------------------------------------


async def get_request(session: AsyncConnection, request_id: str, principal: Principal | None = None) -> RequestOut:
    row = await store.get_request(session, request_id)
    if row is None:
        raise not_found(f"request {request_id}")
    if principal is not None:
        _check_scope(principal, row)
    return await _request_view(session, row)


async def list_requests(session: AsyncConnection, principal: Principal, filters: dict[str, Any],
                        limit: int, offset: int) -> tuple[list[RequestOut], int]:
    """The queue, filtered and paged; `min_age_minutes` / `max_age_minutes`
    select by how long ago the request was received."""
    filters = dict(filters)
    if not principal.is_admin:
        filters["communities"] = sorted(principal.communities)
    now = _now()
    if (min_age := filters.pop("min_age_minutes", None)) is not None:
        filters["received_before"] = now - timedelta(minutes=min_age)
    if (max_age := filters.pop("max_age_minutes", None)) is not None:
        filters["received_after"] = now - timedelta(minutes=max_age)
    rows = await store.list_requests(session, filters, limit, offset)
    total = await store.count_requests(session, filters)
    return [await _request_view(session, r) for r in rows], total


async def history(session: AsyncConnection, principal: Principal, request_id: str) -> HistoryOut:
    row = await store.get_request(session, request_id)
    if row is None:
        raise not_found(f"request {request_id}")
    _check_scope(principal, row)
    return HistoryOut(
        request=await _request_view(session, row),
        assignments=[_assignment_view(a) for a in await store.assignments_of(session, request_id)],
        notes=[NoteOut(id=n.id, author=n.author, text=n.text, at=n.at) for n in await store.notes_of(session, request_id)],
    )


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


async def candidates(session: AsyncConnection, settings: DispatchSettings, principal: Principal,
                     request_id: str) -> CandidatesOut:
    """Every team that could cover the request, ranked, and why each other was left out."""
    request = await store.get_request(session, request_id)
    if request is None:
        raise not_found(f"request {request_id}")
    _check_scope(principal, request)
    tried = await store.teams_tried(session, request_id)
    rows = await _teams_near(session, request.lat, request.lon, widened=request.widened)
    margin = WIDEN_MARGIN_KM if request.widened else 0.0
    found, excluded = match_candidates(request.lat, request.lon, request.category,
                                       [_snapshot(t) for t in rows.values()], margin_km=margin, tried=tried)
    found, seconds = await _by_travel_time(settings, request, found, rows)
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
                  for e in sorted(excluded, key=lambda e: (e.reason == "outside_area", e.team_id))],
        escalation_reason=None if found else escalation_reason(excluded),
    )


def _percentiles(seconds: list[float]) -> dict[str, float | int | None]:
    if not seconds:
        return {"count": 0, "p50": None, "p90": None, "p95": None}
    p50, p90, p95 = np.percentile(np.array(seconds), [50, 90, 95])
    return {"count": len(seconds), "p50": round(float(p50), 1), "p90": round(float(p90), 1),
            "p95": round(float(p95), 1)}


async def stats(session: AsyncConnection, principal: Principal) -> dict:
    """Figures for the console, limited to the caller's communities."""
    scope = None if principal.is_admin else principal.communities
    open_rows = await store.open_by_community_and_category(session, scope)
    waiting = {r.community: r.waiting for r in await store.waiting_by_community(session, scope)}
    capacity = {r.community: r for r in await store.on_duty_capacity_by_community(session, scope)}
    breaches = {r.community: r.breaches for r in await store.sla_breaches_by_community(session, scope)}
    to_assign, to_close = [], []
    for r in await store.lifecycle_times(session, scope):
        if r.accepted_at is not None:
            to_assign.append((_aware(r.accepted_at) - _aware(r.received_at)).total_seconds())
        if r.closed_at is not None:
            to_close.append((_aware(r.closed_at) - _aware(r.received_at)).total_seconds())
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


# --- helpers ----------------------------------------------------------------------------------


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _check_scope(principal: Principal, request, team_community: str | None = None) -> None:
    """Coordinators act only in their communities: the request's, or (before it
    has one) the team's."""
    if principal.is_admin:
        return
    community = request.community or team_community
    if community is None or not principal.may_act_for(community):
        raise Problem(403, "Forbidden", f"request {request.id} is outside your communities")


async def _locked_request(session: AsyncConnection, request_id: str):
    request = await store.get_request(session, request_id, for_update=True)
    if request is None:
        raise not_found(f"request {request_id}")
    return request


async def _transition(
    session: AsyncConnection, request, status: str, actor: str, reason: str | None,
    *, team_id: str | None = None, assignment_id: str | None = None, community: str | None = None,
) -> None:
    """Moves the request (409 if the move is not allowed from where it is), with
    an audit row and a status_changed event in the same transaction."""
    if status not in TRANSITIONS[request.status]:
        raise conflict(f"cannot move to {status}", request.status)
    now = _now()
    sequence = request.sequence + 1
    await store.update_request(
        session, request.id,
        dict(status=status, sequence=sequence, updated_at=now, status_reason=reason),
    )
    await _audit_and_publish(session, request.id, request.status, status, sequence, actor, reason, now,
                             team_id=team_id, assignment_id=assignment_id,
                             community=community or request.community)


async def _audit_and_publish(
    session: AsyncConnection, request_id: str, previous: str | None, status: str, sequence: int,
    actor: str, reason: str | None, at: datetime,
    *, team_id: str | None = None, assignment_id: str | None = None, community: str | None = None,
) -> None:
    await store.add_audit(session, dict(request_id=request_id, from_status=previous,
                                        to_status=status, actor=actor, reason=reason, at=at))
    await record_event(
        session, outbox,
        RequestStatusChangedV1(
            source=SOURCE, correlationid=request_id,
            data=dict(request_id=request_id, status=status, previous_status=previous,
                      sequence=sequence, team_id=team_id, assignment_id=assignment_id,
                      community=community, reason=reason, changed_at=at),
        ),
    )


def _assignment_view(row) -> AssignmentOut:
    return AssignmentOut(
        id=row.id, request_id=row.request_id, team_id=row.team_id, state=row.state,
        distance_km=row.distance_km, offered_at=row.offered_at,
        offer_expires_at=row.offer_expires_at, decided_at=row.decided_at,
    )


async def _request_view(session: AsyncConnection, row) -> RequestOut:
    assignment = await store.current_assignment(session, row.id)
    return RequestOut(
        id=row.id, reference=row.reference, status=row.status, status_reason=row.status_reason,
        category=row.category, urgency=row.urgency, vulnerabilities=row.vulnerabilities,
        people=row.people, source=row.source, community=row.community, widened=row.widened,
        location={"lat": row.lat, "lon": row.lon},
        received_at=row.received_at, updated_at=row.updated_at,
        sla_due_at=row.sla_due_at, sla_breached_at=row.sla_breached_at,
        assignment=_assignment_view(assignment) if assignment else None,
        history=[AuditOut(from_status=h.from_status, to_status=h.to_status, actor=h.actor,
                          reason=h.reason, at=h.at) for h in await store.history(session, row.id)],
    )

