"""A request's lifecycle: which status may follow which, what each team action
does to an assignment and its request, and who may act on a request.  Pure:
no I/O, no clock."""

from __future__ import annotations

from typing import Any, NamedTuple

from shared.http import Principal, Problem, not_found
from shared.scope import CommunityTree, covers

# The actor dispatch records for what it does on its own (offers, deadlines).
DISPATCH = "dispatch"

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


class Action(NamedTuple):
    """What a team's answer does: from which assignment states, to which
    assignment state, and so to which request status."""

    allowed_from: tuple[str, ...]
    assignment_state: str
    request_status: str


ACTIONS: dict[str, Action] = {
    "accept": Action(("offered",), "accepted", "accepted"),
    "decline": Action(("offered",), "declined", "queued"),
    "start": Action(("accepted",), "in_progress", "in_progress"),
    "complete": Action(("accepted", "in_progress"), "done", "done"),
}

# The request's status once its assignment reached a state by an action.
REQUEST_STATUS_AFTER: dict[str, str] = {a.assignment_state: a.request_status for a in ACTIONS.values()}


def may_move(current: str, status: str) -> bool:
    return status in TRANSITIONS[current]


def conflict(what: str, current: str, **extra: Any) -> Problem:
    """The 409 for a move the request's current status does not allow."""
    return Problem(409, "Conflict", f"{what}: the request is {current}", current_state=current, **extra)


def check_move(current: str, status: str, what: str | None = None) -> None:
    """Raises the 409 unless a request that is `current` may become `status`."""
    if not may_move(current, status):
        raise conflict(what or f"cannot move to {status}", current)


def check_action(action: str, assignment_state: str, request_status: str) -> Action:
    """The action, or the 409 naming both states when the assignment is not in one it applies to."""
    rule = ACTIONS[action]
    if assignment_state not in rule.allowed_from:
        raise Problem(409, "Conflict",
                      f"cannot {action} an assignment that is {assignment_state} (the request is {request_status})",
                      current_state=assignment_state, request_status=request_status)
    return rule


def check_scope(principal: Principal, *, what: str, community: str | None, tree: CommunityTree) -> None:
    """Coordinators see and act only inside their scope (communities, or the
    districts and cities above them): `what` (a request, or an assignment of
    one) outside it is a 404, as if it did not exist.  Admins act everywhere."""
    if not covers(principal, community, tree):
        raise not_found(what)
