"""A request's status changes as recorded: the new status, an audit row and a
status_changed event (carrying the SLA deadline) in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.contracts import RequestStatusChangedV1
from shared.outbox import record_event

from . import store
from .lifecycle import check_move
from .models import outbox

SOURCE = "heartline/dispatch"


async def move_request(
    session: AsyncConnection, *, request: Any, status: str, actor: str, reason: str | None,
    team_id: str | None = None, assignment_id: str | None = None, community: str | None = None,
) -> None:
    """Moves the request (409 if the move is not allowed from where it is), with
    an audit row and a status_changed event in the same transaction."""
    check_move(request.status, status)
    now = utcnow()
    sequence = request.sequence + 1
    await store.update_request(
        session, request.id, dict(status=status, sequence=sequence, updated_at=now, status_reason=reason),
    )
    await record_status(session, request_id=request.id, previous=request.status, status=status, sequence=sequence,
                        actor=actor, reason=reason, at=now, expected_by=request.sla_due_at, team_id=team_id,
                        assignment_id=assignment_id, community=community or request.community)


async def record_status(
    session: AsyncConnection, *, request_id: str, previous: str | None, status: str, sequence: int,
    actor: str, reason: str | None, at: datetime, expected_by: datetime | None,
    team_id: str | None = None, assignment_id: str | None = None, community: str | None = None,
) -> None:
    """The audit row and the status_changed event of a status the request just took."""
    await store.add_audit(session, dict(request_id=request_id, from_status=previous,
                                        to_status=status, actor=actor, reason=reason, at=at))
    await record_event(
        session, outbox,
        RequestStatusChangedV1(
            source=SOURCE, correlationid=request_id,
            data=dict(request_id=request_id, status=status, previous_status=previous,
                      sequence=sequence, team_id=team_id, assignment_id=assignment_id,
                      community=community, reason=reason, changed_at=at, expected_by=expected_by),
        ),
    )
