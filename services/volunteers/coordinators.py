"""Coordinators: the people an admin lets act for communities, and the signed
tokens every service reads to know them.  Every token issued is recorded, so
that it (or all of a coordinator's) can be revoked; a revocation is published
(aid.coordinator.token_revoked.v1) and every service's runtime refuses the token."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import CoordinatorTokenRevokedV1
from shared.http import FieldError, Principal, Problem, issue_coordinator_token, not_found, require_admin
from shared.outbox import record_event

from . import store
from .access_schemas import CoordinatorIn
from .models import SOURCE, outbox
from .settings import VolunteersSettings

SUBJECT_PREFIX = "coordinator:"


async def create_coordinator(*, session: AsyncConnection, principal: Principal, body: CoordinatorIn,
                             secret: str | None, settings: VolunteersSettings, now: datetime) -> dict[str, Any]:
    """An admin creates a coordinator of existing communities, districts or cities, and gets their first token."""
    require_admin(principal)
    signing_secret = _signing_secret(secret)
    known = await store.communities_by_code(session, body.communities)
    unknown = sorted(set(body.communities) - known.keys())
    if unknown:
        raise Problem(422, "Invalid request", f"no such communities: {', '.join(unknown)}",
                      [FieldError("communities", f"{code} does not exist") for code in unknown])
    values = dict(id=str(uuid4()), name=body.name, phone=body.phone, role="coordinator",
                  communities=sorted(set(body.communities)), created_by=principal.subject, created_at=now)
    await store.insert_coordinator(session, values)
    return {**_coordinator_view(values), **await _token(session, values, signing_secret, settings, now)}


async def reissue_token(*, session: AsyncConnection, principal: Principal, coordinator_id: str,
                        secret: str | None, settings: VolunteersSettings, now: datetime) -> dict[str, Any]:
    """An admin issues a fresh token for an existing coordinator."""
    require_admin(principal)
    signing_secret = _signing_secret(secret)
    row = await _coordinator(session, coordinator_id)
    values = dict(row._mapping)
    return {**_coordinator_view(values), **await _token(session, values, signing_secret, settings, now)}


async def refresh_token(*, session: AsyncConnection, principal: Principal, secret: str | None,
                        settings: VolunteersSettings, now: datetime) -> dict[str, Any]:
    """A coordinator trades their valid token for a new one; the old one is revoked."""
    row = await _caller(session, principal)
    signing_secret = _signing_secret(secret)
    await _revoke(session, [(principal.token_id or "", principal.expires_at or now)], row.id, now)
    values = dict(row._mapping)
    return {**_coordinator_view(values), **await _token(session, values, signing_secret, settings, now)}


async def sign_out(*, session: AsyncConnection, principal: Principal, now: datetime) -> None:
    """Revokes the caller's own token."""
    row = await _caller(session, principal)
    await _revoke(session, [(principal.token_id or "", principal.expires_at or now)], row.id, now)


async def revoke_all(*, session: AsyncConnection, principal: Principal, coordinator_id: str,
                     now: datetime) -> dict[str, Any]:
    """An admin revokes every unexpired token of a coordinator; how many."""
    require_admin(principal)
    row = await _coordinator(session, coordinator_id)
    live = await store.live_coordinator_tokens(session, row.id, now)
    await _revoke(session, [(t.jti, t.expires_at) for t in live], row.id, now)
    return {"coordinator_id": row.id, "revoked": len(live)}


async def list_coordinators(*, session: AsyncConnection, principal: Principal) -> list[dict[str, Any]]:
    """Every coordinator, oldest first, without tokens (admins only)."""
    require_admin(principal)
    return [_coordinator_view(dict(r._mapping)) for r in await store.list_coordinators(session)]


async def _coordinator(session: AsyncConnection, coordinator_id: str) -> Row[Any]:
    row = await store.get_coordinator(session, coordinator_id)
    if row is None:
        raise not_found(f"coordinator {coordinator_id}")
    return row


async def _caller(session: AsyncConnection, principal: Principal) -> Row[Any]:
    """The coordinator behind a coordinator token (the admin token has nothing to refresh or revoke)."""
    if principal.role != "coordinator" or not principal.subject.startswith(SUBJECT_PREFIX) or not principal.token_id:
        raise Problem(403, "Forbidden", "only a coordinator's token can be refreshed or signed out")
    row = await store.get_coordinator(session, principal.subject.removeprefix(SUBJECT_PREFIX))
    if row is None:
        raise Problem(403, "Forbidden", "the coordinator no longer exists")
    return row


async def _revoke(session: AsyncConnection, tokens: list[tuple[str, datetime]], coordinator_id: str,
                  now: datetime) -> None:
    for jti, expires_at in tokens:
        await store.revoke_coordinator_token(session, jti, coordinator_id, expires_at, now)
        await record_event(session, outbox, CoordinatorTokenRevokedV1(
            source=SOURCE, correlationid=coordinator_id,
            data=dict(token_id=jti, subject=f"{SUBJECT_PREFIX}{coordinator_id}", expires_at=expires_at,
                      revoked_at=now),
        ))


def _signing_secret(secret: str | None) -> str:
    if not secret:
        raise Problem(503, "Token issuing not configured",
                      "issuing coordinator tokens needs HEARTLINE_TOKEN_SECRET set on every service")
    return secret


async def _token(session: AsyncConnection, values: Mapping[str, Any], secret: str, settings: VolunteersSettings,
                 now: datetime) -> dict[str, Any]:
    ttl = timedelta(hours=settings.coordinator_token_hours)
    token, jti = issue_coordinator_token(secret, subject=f"{SUBJECT_PREFIX}{values['id']}",
                                         communities=values["communities"], ttl=ttl, now=now)
    await store.insert_coordinator_token(session, dict(jti=jti, coordinator_id=values["id"], issued_at=now,
                                                       expires_at=now + ttl))
    return {"token": token, "token_expires_at": now + ttl}


def _coordinator_view(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in ("id", "name", "phone", "role", "communities", "created_at")}
