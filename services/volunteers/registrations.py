"""Self-registration (the QR "call-up"): a public registration, pending until
a coordinator of its community approves it into a team or rejects it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.http import FieldError, Principal, Problem, not_found
from shared.scope import visible_communities

from . import store
from .communities import scope_tree
from .members import enrol_member
from .schemas import ApproveIn, MemberIn, RegistrationIn
from .settings import VolunteersSettings
from .teams import in_scope, refresh_team, team_for_change


async def register(*, session: AsyncConnection, body: RegistrationIn, now: datetime) -> dict[str, Any]:
    """A public registration, pending until a coordinator decides.  One phone
    registers once (after a rejection one may try again); a phone already
    registered, or already a member's, gets exactly the answer a new one gets
    and nothing is written: the door does not tell who is registered."""
    place = await store.get_community(session, body.community)
    if place is None or place.status != "active" or place.level != "community":
        raise Problem(422, "Invalid request", f"there is no community {body.community!r} taking volunteers",
                      [FieldError("community", "no such community")])
    known = (await store.member_by_phone(session, body.phone)
             or await store.open_registration_by_phone(session, body.phone))
    if not known:
        # The partial unique index settles two registrations racing each other.
        await store.insert_registration(session, dict(
            id=str(uuid4()), name=body.name, phone=body.phone, skills=body.skills, community=body.community,
            availability=body.availability, status="pending", created_at=now))
    return {"status": "received", "community": body.community,
            "detail": "thank you: a coordinator of the community will contact you"}


async def list_registrations(*, session: AsyncConnection, principal: Principal, community: str | None,
                             status: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
    """Registrations of one community the caller coordinates, or of all theirs; oldest first."""
    scope = visible_communities(principal, await scope_tree(session))
    if community is not None:
        scope = frozenset({community}) & scope if scope is not None else frozenset({community})
    rows = await store.list_registrations(session, scope, status, limit, offset)
    return [dict(r._mapping) for r in rows]


async def approve_registration(*, session: AsyncConnection, principal: Principal, registration_id: str,
                               body: ApproveIn, settings: VolunteersSettings, now: datetime) -> dict[str, Any]:
    """Makes the registrant a member of a team (of a community the caller coordinates)."""
    registration = await _pending_registration(session, principal, registration_id)
    team = await team_for_change(session, principal, str(body.team_id))
    member = MemberIn(name=registration.name, phone=registration.phone, skills=registration.skills,
                      duty=body.duty, group=body.group)
    member_id = await enrol_member(session=session, principal=principal, team_id=team.id, body=member, now=now,
                                   reason=f"registration {registration.id}")
    await store.update_registration(session, registration.id, dict(
        status="approved", member_id=member_id, team_id=team.id, decided_by=principal.subject, decided_at=now))
    await refresh_team(session, team, now, settings)
    return await _registration_view(session, registration.id)


async def reject_registration(*, session: AsyncConnection, principal: Principal, registration_id: str,
                              reason: str, now: datetime) -> dict[str, Any]:
    """Turns a pending registration down with a reason; the phone may register again."""
    registration = await _pending_registration(session, principal, registration_id)
    await store.update_registration(session, registration.id, dict(
        status="rejected", reason=reason, decided_by=principal.subject, decided_at=now))
    return await _registration_view(session, registration.id)


async def _pending_registration(session: AsyncConnection, principal: Principal, registration_id: str) -> Row[Any]:
    registration = await store.get_registration(session, registration_id, for_update=True)
    if registration is None or not await in_scope(session, principal, registration.community):
        raise not_found(f"registration {registration_id}")
    if registration.status != "pending":
        raise Problem(409, "Conflict", f"the registration is already {registration.status}")
    return registration


async def _registration_view(session: AsyncConnection, registration_id: str) -> dict[str, Any]:
    """A registration this transaction just wrote: it is there."""
    registration = await store.get_registration(session, registration_id)
    assert registration is not None, f"registration {registration_id} vanished inside its own transaction"
    return dict(registration._mapping)
