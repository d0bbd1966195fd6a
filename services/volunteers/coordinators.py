"""Coordinators: the people an admin lets act for communities, and the signed
tokens every service reads to know them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.http import Principal, Problem, issue_coordinator_token, not_found, require_admin

from . import store
from .schemas import CoordinatorIn
from .settings import VolunteersSettings


async def create_coordinator(*, session: AsyncConnection, principal: Principal, body: CoordinatorIn,
                             secret: str | None, settings: VolunteersSettings, now: datetime) -> dict[str, Any]:
    """An admin creates a coordinator (or admin) and gets their first token."""
    require_admin(principal)
    signing_secret = _signing_secret(secret)
    values = dict(id=str(uuid4()), name=body.name, phone=body.phone, role=body.role,
                  communities=sorted(set(body.communities)), created_by=principal.subject, created_at=now)
    await store.insert_coordinator(session, values)
    return {**_coordinator_view(values), **_token(values, signing_secret, settings)}


async def reissue_token(*, session: AsyncConnection, principal: Principal, coordinator_id: str,
                        secret: str | None, settings: VolunteersSettings) -> dict[str, Any]:
    """An admin issues a fresh token for an existing coordinator."""
    require_admin(principal)
    signing_secret = _signing_secret(secret)
    row = await store.get_coordinator(session, coordinator_id)
    if row is None:
        raise not_found(f"coordinator {coordinator_id}")
    values = dict(row._mapping)
    return {**_coordinator_view(values), **_token(values, signing_secret, settings)}


async def list_coordinators(*, session: AsyncConnection, principal: Principal) -> list[dict[str, Any]]:
    """Every coordinator, oldest first, without tokens (admins only)."""
    require_admin(principal)
    return [_coordinator_view(dict(r._mapping)) for r in await store.list_coordinators(session)]


def _signing_secret(secret: str | None) -> str:
    if not secret:
        raise Problem(503, "Token issuing not configured",
                      "issuing coordinator tokens needs HEARTLINE_TOKEN_SECRET set on every service")
    return secret


def _token(values: Mapping[str, Any], secret: str, settings: VolunteersSettings) -> dict[str, Any]:
    ttl = timedelta(days=settings.coordinator_token_days)
    token, _ = issue_coordinator_token(secret, subject=f"coordinator:{values['id']}",
                                       communities=values["communities"], ttl=ttl)
    return {"token": token, "token_expires_in_days": settings.coordinator_token_days}


def _coordinator_view(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in ("id", "name", "phone", "role", "communities", "created_at")}
