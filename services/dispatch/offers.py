"""Offering requests to teams: taking a new request in, offering it (or an
escalated one) to the best team that can take it, and surge mode's joint
assignment of a backlog.

Which teams' communities may serve a request (`serving_communities`), so that
a team declared in one community cannot win another's requests by putting
its base or area there:
- a request of community C is offered only to teams of C;
- once the search is widened, also to teams of C's siblings: communities the
  read model knows under the same parent (district) as C.  A team whose
  community the read model does not know is therefore offered only requests
  of exactly its own community (events may arrive in any order: it is stored
  all the same, and serves its siblings once its community is known);
- a request that came without a community is placed by the boundaries the
  read model holds; if none holds it, every team that covers it may take it
  (and the request takes the community of the team it is offered to)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import as_utc, utcnow
from shared.contracts import AssignmentOfferedV1, RequestReceivedV1
from shared.outbox import record_event
from shared.scope import CommunityTree

from . import store
from .communities import CommunityDirectory
from .lifecycle import DISPATCH
from .matching import (
    NO_CAPACITY,
    URGENCY_RANK,
    WIDEN_MARGIN_KM,
    Candidate,
    Exclusion,
    TeamIndex,
    escalation_reason,
    exclusion_reason,
    match_candidates,
    vulnerability_score,
)
from .models import outbox
from .routing import travel_times
from .settings import DispatchSettings
from .store import TeamRow
from .surge import BacklogRequest, assign_backlog, assign_greedy, total_distance
from .teams import current_rows, team_snapshot, teams_near
from .transitions import SOURCE, move_request, record_status

log = logging.getLogger("heartline.dispatch")

# Shortlisted teams whose rows are read first; the rest only if none of these
# can take the request.
RECHECK_FIRST = 8


def serving_communities(community: str | None, tree: CommunityTree | None, *,
                        widened: bool) -> frozenset[str] | None:
    """The communities whose teams may be offered a request of `community`
    (the rule in this module's docstring); None: any team's."""
    if community is None:
        return None
    if not widened or tree is None or (parent := tree.parents.get(community)) is None:
        return frozenset({community})
    return frozenset({community, *tree.children.get(parent, ())})


def _tree(directory: CommunityDirectory | None) -> CommunityTree | None:
    return directory.tree if directory is not None else None


async def take_request(*, session: AsyncConnection, event: RequestReceivedV1, settings: DispatchSettings,
                       index: TeamIndex | None = None, directory: CommunityDirectory | None = None) -> None:
    """Starts following a request (once) and tries to offer it at once.  One
    that came without a community takes the one whose boundary holds it."""
    r = event.data
    request_id = str(r.request_id)
    if await store.get_request(session, request_id):
        return
    community = r.community
    if community is None and directory is not None:
        community = directory.locate(r.location.lat, r.location.lon)
    now = utcnow()
    received_at = as_utc(r.received_at)  # the contract allows a naive time; the columns take aware ones
    sla_due_at = received_at + timedelta(minutes=settings.sla_minutes(r.urgency))
    await store.insert_request(
        session,
        dict(
            id=request_id, reference=r.reference, category=r.category,
            needs_volunteer=r.needs_volunteer, urgency=r.urgency, urgency_rank=URGENCY_RANK[r.urgency],
            vulnerabilities=list(r.vulnerabilities), vulnerability_score=vulnerability_score(r.vulnerabilities),
            people=r.people, source=r.source, community=community,
            summary=r.description[:280], lat=r.location.lat, lon=r.location.lon,
            status="queued", sequence=1, received_at=received_at, updated_at=now, sla_due_at=sla_due_at,
        ),
    )
    await record_status(session, request_id=request_id, previous=None, status="queued", sequence=1,
                        actor="intake", reason="received", at=now, expected_by=sla_due_at, community=community)
    if not r.needs_volunteer:
        request = await _request(session, request_id, for_update=True)
        await move_request(session, request=request, status="escalated", actor=DISPATCH,
                           reason=f"category {r.category} is for coordinators, not teams")
        return
    await offer_to_best_team(session=session, request_id=request_id, settings=settings, index=index,
                             directory=directory)


async def offer_to_best_team(*, session: AsyncConnection, request_id: str, settings: DispatchSettings,
                             index: TeamIndex | None = None, held: set[str] | None = None,
                             directory: CommunityDirectory | None = None) -> bool:
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
    tree = _tree(directory)
    offered, excluded = await _offer_nearest(session, settings, request, index, widened=request.widened,
                                             tried=tried, held=held, tree=tree)
    if offered:
        return True
    if not request.widened:
        now = utcnow()
        await store.update_request(session, request_id, dict(widened=True, updated_at=now))
        await store.add_audit(session, dict(
            request_id=request_id, from_status="queued", to_status="queued", actor=DISPATCH, at=now,
            reason=f"no candidate in any team's area; search widened by {WIDEN_MARGIN_KM:g} km"))
        request = await _request(session, request_id)
        offered, excluded = await _offer_nearest(session, settings, request, index, widened=True, tried=tried,
                                                 held=held, tree=tree)
        if offered:
            return True
    if index is not None and not any(e.reason == NO_CAPACITY for e in excluded):
        # About to escalate on what memory shortlisted, which may be up to a
        # reload behind (a team that just came on duty): the database decides.
        offered, excluded = await _offer_nearest(session, settings, request, None, widened=True, tried=tried,
                                                 held=held, tree=tree)
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
            values["escalate_at"] = utcnow() + timedelta(minutes=settings.wait_minutes(request.urgency))
        if values:
            await store.update_request(session, request_id, values)
        return False
    await move_request(session, request=request, status="escalated", actor=DISPATCH,
                       reason=escalation_reason(excluded))
    return False


async def retry_escalated(*, session: AsyncConnection, request_id: str, settings: DispatchSettings,
                          index: TeamIndex | None = None, held: set[str] | None = None,
                          directory: CommunityDirectory | None = None) -> bool:
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
                                             held=held, tree=_tree(directory))
    _hold_for_this_one(held, excluded, tried)
    return offered


async def queued_request_ids(*, session: AsyncConnection, limit: int) -> list[str]:
    """The queued requests' ids in the queue's order: most urgent, then most vulnerable, then oldest."""
    return await store.queued_request_ids(session, limit)


async def waiting_request_ids(*, session: AsyncConnection, limit: int, with_escalated: bool) -> list[tuple[str, str]]:
    """(id, status) of the queued requests and, `with_escalated`, of the
    escalated ones a team could still take, in the queue's order."""
    return await store.waiting_request_ids(session, limit, with_escalated)


async def assign_surge(*, session: AsyncConnection, request_ids: list[str], settings: DispatchSettings,
                       index: TeamIndex | None = None, directory: CommunityDirectory | None = None) -> dict[str, Any]:
    """Surge mode: offers a backlog jointly (min-cost over capacity slots,
    tier by tier of urgency and vulnerability).  Requests it cannot place are
    left queued for one-by-one matching (which widens or escalates them).
    Returns the joint and the greedy total distance for the same backlog."""
    locked = await store.lock_requests(session, request_ids)
    if not locked:
        return {"requests": 0, "offered": 0, "joint_km": 0.0, "greedy_km": 0.0}
    rows: dict[str, TeamRow] = {}
    shortlist: set[str] = set()
    backlog: list[BacklogRequest] = []
    for request in locked:
        tried = frozenset(await store.teams_tried(session, request.id))
        serving = serving_communities(request.community, _tree(directory), widened=False)
        if index is None:
            rows.update(await teams_near(session=session, lat=request.lat, lon=request.lon, widened=False))
        else:  # memory shortlists; the rows read below decide
            shortlist.update(t.id for t in index.near(request.lat, request.lon) if t.id not in tried
                             and (serving is None or t.community in serving)
                             and exclusion_reason(t, request.lat, request.lon, request.category) is None)
        backlog.append(BacklogRequest(
            request.id, request.lat, request.lon, request.category, request.urgency,
            request.vulnerability_score, tried, serving))
    if index is not None:
        rows = await current_rows(session=session, team_ids=sorted(shortlist))
    teams = [team_snapshot(t) for t in rows.values()]
    joint = assign_backlog(backlog, teams)
    greedy = assign_greedy(backlog, teams)
    report: dict[str, Any] = {"requests": len(backlog), "offered": 0, "joint_km": round(total_distance(joint), 3),
                              "greedy_km": round(total_distance(greedy), 3), "greedy_offered": len(greedy)}
    by_id = {r.id: r for r in locked}
    for pairing in joint:
        if not await store.reserve_capacity(session, pairing.team_id, version=rows[pairing.team_id].version):
            continue  # another replica took the unit meanwhile, or the team changed; it stays queued
        await make_offer(
            session=session, request=by_id[pairing.request_id], team=rows[pairing.team_id], distance=pairing.distance_km,
            actor=DISPATCH, reason=f"surge: assigned jointly with {len(joint) - 1} others, "
                                   f"{pairing.distance_km:.1f} km (backlog total {report['joint_km']:.1f} km "
                                   f"vs {report['greedy_km']:.1f} km greedy)",
            settings=settings)
        report["offered"] += 1
    log.info("surge: %s", report)
    return report


async def make_offer(*, session: AsyncConnection, request: Row[Any], team: TeamRow, distance: float, actor: str,
                     reason: str, settings: DispatchSettings) -> str:
    """Records an offer whose unit of capacity the caller has already reserved; its assignment's id."""
    now = utcnow()
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
    await move_request(session, request=request, status="offered", actor=actor, reason=reason, team_id=team.id,
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


async def rank_by_travel_time(*, request: Row[Any], candidates: list[Candidate], rows: dict[str, TeamRow],
                              settings: DispatchSettings) -> tuple[list[Candidate], dict[str, float | None]]:
    """With a routing provider, the first few candidates (those a re-check
    reads) re-ranked by travel time, with each one's seconds; else as they are."""
    routing = travel_times(settings.routing_url, settings.routing_profile, settings.routing_timeout_seconds)
    if routing is None:
        return candidates, {}
    first, rest = candidates[:RECHECK_FIRST], candidates[RECHECK_FIRST:]
    ranked, seconds = await routing.rank((request.lat, request.lon), first,
                                         {c.team_id: (rows[c.team_id].lat, rows[c.team_id].lon) for c in first})
    return ranked + rest, seconds


def recheck_batches(shortlist: list[Candidate]) -> list[list[Candidate]]:
    """The shortlist in the batches whose rows are re-read: the first
    RECHECK_FIRST (and any tied with the last of them), then the rest."""
    cut = min(RECHECK_FIRST, len(shortlist))
    while 0 < cut < len(shortlist) and round(shortlist[cut].distance_km, 3) == round(shortlist[cut - 1].distance_km, 3):
        cut += 1
    return [b for b in (shortlist[:cut], shortlist[cut:]) if b]


async def _request(session: AsyncConnection, request_id: str, *, for_update: bool = False) -> Row[Any]:
    """A request this transaction just wrote or holds locked: it is there."""
    request = await store.get_request(session, request_id, for_update=for_update)
    assert request is not None, f"request {request_id} vanished inside its own transaction"
    return request


async def _offer_nearest(session: AsyncConnection, settings: DispatchSettings, request: Row[Any],
                         index: TeamIndex | None, *, widened: bool, tried: set[str],
                         held: set[str], tree: CommunityTree | None) -> tuple[bool, list[Exclusion]]:
    """Offers the request to the best team that can take it; whether it did,
    and why the teams looked at were left out."""
    margin = WIDEN_MARGIN_KM if widened else 0.0
    serving = serving_communities(request.community, tree, widened=widened)
    if index is None:
        rows = await teams_near(session=session, lat=request.lat, lon=request.lon, widened=widened)
        candidates, excluded = match_candidates(request.lat, request.lon, request.category,
                                                [team_snapshot(t) for t in rows.values()], margin_km=margin,
                                                tried=tried, communities=serving)
        candidates = _hold_back(candidates, excluded, held)
        candidates = (await rank_by_travel_time(request=request, candidates=candidates, rows=rows, settings=settings))[0]
        return await _offer_first(session, settings, request, candidates, rows, widened=widened), excluded
    # Memory shortlists by area, skill, status and duty (open_tasks unknown
    # there); the shortlisted teams' current rows decide, ranked afresh.
    shortlist, excluded = match_candidates(request.lat, request.lon, request.category,
                                           index.near(request.lat, request.lon, widened),
                                           margin_km=margin, tried=tried, communities=serving)
    shortlist = _hold_back(shortlist, excluded, held)
    for batch in recheck_batches(shortlist):
        rows = await current_rows(session=session, team_ids=[c.team_id for c in batch])
        candidates, rechecked = match_candidates(request.lat, request.lon, request.category,
                                                 [team_snapshot(t) for t in rows.values()], margin_km=margin,
                                                 tried=tried, communities=serving)
        excluded.extend(rechecked)
        candidates = (await rank_by_travel_time(request=request, candidates=candidates, rows=rows, settings=settings))[0]
        if await _offer_first(session, settings, request, candidates, rows, widened=widened):
            return True, excluded
    return False, excluded


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


async def _offer_first(session: AsyncConnection, settings: DispatchSettings, request: Row[Any],
                       candidates: list[Candidate], rows: dict[str, TeamRow], *, widened: bool) -> bool:
    for candidate in candidates:
        # The conditional update is the guard: two replicas cannot both take
        # a team's last unit of capacity, and a team that changed since its
        # row was read (went off duty, moved its area) is not offered.
        if not await store.reserve_capacity(session, candidate.team_id, version=rows[candidate.team_id].version):
            continue
        where = "nearby team (search widened)" if widened else "nearest team"
        await make_offer(session=session, request=request, team=rows[candidate.team_id], distance=candidate.distance_km,
                         actor=DISPATCH, reason=f"{where} with free capacity, {candidate.distance_km:.1f} km",
                         settings=settings)
        return True
    return False
