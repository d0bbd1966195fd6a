"""Consent per phone number: opted out of every message (an SMS STOP, or a
coordinator by API) or not, and the channel its owner prefers.  A
coordinator reads and changes only the numbers of people in their
communities (requesters of their requests, leaders of their teams); every
change is kept, with who made it and why."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.http import FieldError, Principal, Problem
from shared.scope import CommunityTree, covers

from . import store
from .schemas import ConsentChangeOut, ConsentIn, ConsentOut


async def _check_scope(session: AsyncConnection, principal: Principal, phone: str, tree: CommunityTree) -> None:
    """404 unless the number belongs to someone in the principal's scope: the
    same answer whether notify knows the number elsewhere or not at all."""
    if principal.is_admin:
        return
    if not any(covers(principal, community, tree) for community in await store.communities_of_phone(session, phone)):
        raise Problem(404, "Not Found", "no such number among the people of your communities")


async def _consent_out(session: AsyncConnection, phone: str) -> ConsentOut:
    row = await store.get_consent(session, phone)
    if row is None:
        return ConsentOut(phone=phone, opted_out=False, preferred_channel=None, changed_via=None, changed_at=None)
    return ConsentOut(phone=row.phone, opted_out=row.opted_out, preferred_channel=row.preferred_channel,
                      changed_via=row.changed_via, changed_at=row.changed_at)


async def get_consent(*, session: AsyncConnection, principal: Principal, phone: str,
                      tree: CommunityTree) -> ConsentOut:
    """What a number agreed to; a number never heard of is opted in, with no preference."""
    await _check_scope(session, principal, phone, tree)
    return await _consent_out(session, phone)


async def set_consent(*, session: AsyncConnection, principal: Principal, phone: str, body: ConsentIn,
                      tree: CommunityTree, changed_at: datetime) -> ConsentOut:
    """Opts a number out (or back in) and sets the channel it prefers, by API
    (a coordinator acting on a phone call, who must say why); audited."""
    await _check_scope(session, principal, phone, tree)
    reason = (body.reason or "").strip() or None
    if not principal.is_admin and reason is None:
        raise Problem(422, "Invalid request", "reason: a coordinator must say why",
                      [FieldError("reason", "a coordinator must say why")])
    await store.save_consent(session, dict(phone=phone, opted_out=body.opted_out,
                                           preferred_channel=body.preferred_channel,
                                           changed_via="api", changed_at=changed_at))
    await store.record_consent_change(session, dict(
        id=str(uuid4()), phone=phone, opted_out=body.opted_out, preferred_channel=body.preferred_channel,
        changed_via="api", changed_by=principal.subject, role=principal.role, reason=reason, changed_at=changed_at))
    return await _consent_out(session, phone)


async def consent_history(*, session: AsyncConnection, principal: Principal, phone: str, tree: CommunityTree,
                          limit: int, offset: int) -> tuple[list[ConsentChangeOut], int]:
    """A number's consent changes, newest first, and how many there are."""
    await _check_scope(session, principal, phone, tree)
    rows, total = await store.consent_history(session, phone, limit, offset)
    return [ConsentChangeOut(opted_out=row.opted_out, preferred_channel=row.preferred_channel,
                             changed_via=row.changed_via, changed_by=row.changed_by, role=row.role,
                             reason=row.reason, changed_at=row.changed_at) for row in rows], total


async def opt_by_sms(*, session: AsyncConnection, phone: str, opted_out: bool, changed_at: datetime) -> None:
    """STOP or START from the number itself; a preference set before stays."""
    await store.save_consent(session, dict(phone=phone, opted_out=opted_out, changed_via="sms",
                                           changed_at=changed_at))
    current = await store.get_consent(session, phone)
    await store.record_consent_change(session, dict(
        id=str(uuid4()), phone=phone, opted_out=opted_out,
        preferred_channel=current.preferred_channel if current else None,
        changed_via="sms", changed_by="sender", role="sender", reason=None, changed_at=changed_at))


async def preferred_channel(*, session: AsyncConnection, phone: str, requested: str | None) -> str:
    """The channel to reach a requester by: the number's own preference if
    one was set by API, else what they asked for with their request, else SMS."""
    row = await store.get_consent(session, phone)
    return (row.preferred_channel if row and row.preferred_channel else requested) or "sms"
