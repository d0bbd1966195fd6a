"""Assignments and what teams and coordinators do to a request: accept,
decline, start, complete (by API or relayed reply), cancel, confirm by
feedback, assign by hand, and notes."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.contracts import AssignmentRepliedV1, RequestCancelledV1, RequestFeedbackGivenV1
from shared.geo import distance_km
from shared.http import FieldError, Principal, Problem, not_found
from shared.scope import CommunityTree, covers

from . import store
from .console_reads import assignment_view, request_view
from .lifecycle import DISPATCH, REQUEST_STATUS_AFTER, check_action, check_move, check_scope, conflict, may_move
from .offers import make_offer
from .schemas import AssignIn, AssignmentOut, NoteOut, RequestOut
from .settings import DispatchSettings
from .transitions import move_request

log = logging.getLogger("heartline.dispatch")


async def act_on_assignment(
    *, session: AsyncConnection, principal: Principal | None, assignment_id: str, action: str,
    actor: str, reason: str | None, tree: CommunityTree | None = None,
) -> AssignmentOut:
    """Accept, decline, start or complete, by `actor`; `principal` None means the
    team itself (a relayed reply).  404 outside the caller's scope; 409 when
    the assignment is not in a state that allows it."""
    assignment = await store.get_assignment(session, assignment_id, for_update=True)
    if assignment is None:
        raise not_found(f"assignment {assignment_id}")
    request = await _request(session, assignment.request_id, for_update=True)
    if principal is not None:
        team = await store.get_team(session, assignment.team_id)
        check_scope(principal, what=f"assignment {assignment_id}",
                    community=request.community or (team.community if team else None), tree=_given(tree))
    rule = check_action(action, assignment.state, request.status)
    if action == "decline":
        await end_offer(session=session, assignment_id=assignment_id, outcome="declined", actor=actor,
                        reason=reason or "declined")
    else:
        await _move(session, assignment, rule.assignment_state, actor, reason)
    answered = await store.get_assignment(session, assignment_id)
    assert answered is not None, f"assignment {assignment_id} vanished inside its own transaction"
    return assignment_view(answered)


async def apply_reply(*, session: AsyncConnection, event: AssignmentRepliedV1) -> bool:
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
            await act_on_assignment(session=session, principal=None, assignment_id=assignment.id,
                                    action=reply.action, actor=actor,
                                    reason=f"{reply.action} by {reply.channel} reply")
            return True
        except Problem as problem:
            ignored = problem.detail
    await store.add_note(session, dict(
        request_id=assignment.request_id, author=DISPATCH, at=utcnow(),
        text=f"ignored {reply.channel} reply '{reply.action}' from team {reply.team_id}: {ignored}"))
    return False


async def end_offer(*, session: AsyncConnection, assignment_id: str, outcome: str, actor: str, reason: str) -> None:
    """Ends an open offer (declined or expired), frees its unit and puts the
    request back in the queue; nothing if the offer was already answered."""
    assignment = await store.get_assignment(session, assignment_id, for_update=True)
    if assignment is None or assignment.state != "offered":
        return
    await store.update_assignment(session, assignment_id, dict(state=outcome, decided_at=utcnow()))
    await store.release_capacity(session, assignment.team_id)
    request = await _request(session, assignment.request_id, for_update=True)
    await move_request(session, request=request, status="queued", actor=actor, reason=f"{outcome}: {reason}",
                       team_id=assignment.team_id, assignment_id=assignment_id)


async def cancel_request(*, session: AsyncConnection, principal: Principal | None, request_id: str, actor: str,
                         reason: str | None, tree: CommunityTree | None = None) -> RequestOut:
    """Cancels at any state before done (`principal` None: the requester,
    through intake); frees the team's unit of capacity.  404 outside the caller's scope."""
    request = await _locked_request(session, request_id)
    if principal is not None:
        check_scope(principal, what=f"request {request_id}", community=request.community, tree=_given(tree))
    check_move(request.status, "cancelled", "cannot cancel")
    released = await _release_open_assignment(session, request_id, "cancelled")
    await store.update_request(session, request_id, dict(escalate_at=None))
    # With the team that held it, so that notify can tell that team to stand down.
    await move_request(session, request=request, status="cancelled", actor=actor, reason=reason or "cancelled",
                       team_id=released.team_id if released else None,
                       assignment_id=released.id if released else None)
    return await request_view(session=session, row=await _request(session, request_id))


async def apply_cancellation(*, session: AsyncConnection, event: RequestCancelledV1) -> bool:
    """The requester's cancellation; True when it cancelled the request."""
    data = event.data
    try:
        await cancel_request(session=session, principal=None, request_id=str(data.request_id),
                             actor=data.cancelled_by, reason=data.reason or "cancelled")
        return True
    except Problem as problem:  # unknown, or already done or final: nothing to undo
        log.info("cancellation of %s ignored: %s", data.request_id, problem.detail)
        return False


async def apply_feedback(*, session: AsyncConnection, event: RequestFeedbackGivenV1) -> bool:
    """The requester confirmed a done request: it is closed.  True when it was."""
    data = event.data
    request = await store.get_request(session, str(data.request_id), for_update=True)
    if request is None or request.status != "done":
        log.info("feedback for %s ignored: request is %s", data.request_id,
                 request.status if request else "unknown")
        return False
    await store.update_request(session, request.id, dict(closed_at=utcnow()))
    assignment = (await store.current_assignments(session, [request.id])).get(request.id)
    await move_request(session, request=request, status="closed", actor="requester",
                       reason=f"confirmed and rated {data.rating}/5 via {data.channel}",
                       team_id=assignment.team_id if assignment else None,
                       assignment_id=assignment.id if assignment else None)
    return True


async def assign_manually(*, session: AsyncConnection, principal: Principal, request_id: str, body: AssignIn,
                          settings: DispatchSettings, tree: CommunityTree) -> RequestOut:
    """A coordinator offers a request to a team of their choice (or moves it from
    its current team).  The team serves the request's community, or a community
    under a district or city the caller's scope holds together with the
    request's (`may_serve`): else a 422 naming team_id; a team outside the
    caller's scope is a 404.  Capacity is respected unless `override_capacity`,
    which is audited (who, why) in the request's history.  The team still
    answers the offer (or a coordinator on its behalf)."""
    request = await _locked_request(session, request_id)
    check_scope(principal, what=f"request {request_id}", community=request.community, tree=tree)
    if not may_move(request.status, "offered"):
        raise conflict("cannot assign", request.status)
    team = await store.get_team(session, str(body.team_id))
    if team is not None and not covers(principal, team.community, tree):
        team = None  # outside the caller's scope: as if it did not exist
    if team is None:
        if not principal.is_admin:
            raise not_found(f"team {body.team_id}")
        raise Problem(422, "Invalid request", f"team {body.team_id} does not exist",
                      [FieldError("team_id", "no such team")])
    if not may_serve(principal, tree, request_community=request.community, team_community=team.community):
        raise Problem(422, "Invalid request",
                      f"team {team.id} is of community {team.community}, not the request's ({request.community})",
                      [FieldError("team_id", "the team does not serve the request's community")])
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
        await store.update_assignment(session, held.id, dict(state="reassigned", decided_at=utcnow()))
        await store.release_capacity(session, held.team_id)
    verb = "reassigned" if held is not None else "assigned"
    reason = f"{verb} by coordinator: {body.reason}"
    if body.override_capacity and team.open_tasks >= team.capacity:
        reason += f" (capacity override: team held {team.open_tasks}/{team.capacity})"
    await make_offer(session=session, request=request, team=team,
                     distance=distance_km(request.lat, request.lon, team.lat, team.lon),
                     actor=principal.subject, reason=reason, settings=settings)
    return await request_view(session=session, row=await _request(session, request_id))


async def add_note(*, session: AsyncConnection, principal: Principal, request_id: str, text: str,
                   tree: CommunityTree) -> NoteOut:
    """Adds a coordinator's note to a request in their scope (404 outside it)."""
    request = await store.get_request(session, request_id)
    if request is None:
        raise not_found(f"request {request_id}")
    check_scope(principal, what=f"request {request_id}", community=request.community, tree=tree)
    at = utcnow()
    note_id = await store.add_note(session, dict(request_id=request_id, author=principal.subject, text=text, at=at))
    return NoteOut(id=note_id, author=principal.subject, text=text, at=at)


def may_serve(principal: Principal, tree: CommunityTree, *, request_community: str | None,
              team_community: str) -> bool:
    """Whether a coordinator may hand a request of `request_community` to a team
    of `team_community`: the same community, or two under a district or city
    that the caller's scope names (any common one, for an admin).  A request
    of no community (only admins see one) may go to any team."""
    if request_community is None or team_community == request_community:
        return True
    common = set(tree.lineage(request_community)[1:]) & set(tree.lineage(team_community)[1:])
    return bool(common) if principal.is_admin else not common.isdisjoint(principal.communities)


def _given(tree: CommunityTree | None) -> CommunityTree:
    """The tree a door acting for a principal passes (without one, no parent is known)."""
    return tree if tree is not None else CommunityTree({})


async def _move(session: AsyncConnection, assignment: Row[Any], new_state: str, actor: str,
                reason: str | None) -> None:
    now = utcnow()
    await store.update_assignment(session, assignment.id, dict(state=new_state, decided_at=now))
    if new_state == "done":
        await store.release_capacity(session, assignment.team_id)
    request = await _request(session, assignment.request_id, for_update=True)
    if new_state == "accepted" and request.accepted_at is None:
        await store.update_request(session, request.id, dict(accepted_at=now))
    team = await store.get_team(session, assignment.team_id)
    await move_request(session, request=request, status=REQUEST_STATUS_AFTER[new_state], actor=actor, reason=reason,
                       team_id=assignment.team_id, assignment_id=assignment.id,
                       community=team.community if team else None)


async def _release_open_assignment(session: AsyncConnection, request_id: str, outcome: str) -> Row[Any] | None:
    """Ends the request's open offer or task, if any, and frees its unit; returns it."""
    held = await store.open_assignment(session, request_id)
    if held is not None:
        await store.update_assignment(session, held.id, dict(state=outcome, decided_at=utcnow()))
        await store.release_capacity(session, held.team_id)
    return held


async def _locked_request(session: AsyncConnection, request_id: str) -> Row[Any]:
    request = await store.get_request(session, request_id, for_update=True)
    if request is None:
        raise not_found(f"request {request_id}")
    return request


async def _request(session: AsyncConnection, request_id: str, *, for_update: bool = False) -> Row[Any]:
    """A request this transaction holds, or an assignment of it points to: it is there."""
    request = await store.get_request(session, request_id, for_update=for_update)
    assert request is not None, f"request {request_id} vanished inside its own transaction"
    return request
