"""Partners: the organisations that file requests through the API, their
API keys (stored hashed, cached briefly once resolved) and their webhook."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any
from uuid import uuid4

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.http import FieldError, Principal, Problem, not_found, require_admin
from shared.outbound import UnsafeUrl, check_webhook_url

from . import store
from .schemas import PartnerKeyOut, PartnerOut, WebhookOut

KEY_PREFIX = "hlk_"


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def partner_for_key(*, session: AsyncConnection, key: str) -> Principal | None:
    """The partner principal a live (not revoked) API key stands for, or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    partner_id = await store.partner_for_key(session, _key_hash(key))
    if partner_id is None:
        return None
    return Principal(role="partner", subject=f"partner:{partner_id}", partner_id=partner_id)


class KeyCache:
    """Recently resolved partner keys, so that a busy partner does not cost a
    lookup per call.  A revocation on this replica clears it at once; other
    replicas notice within `ttl` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: str, principal: Principal | None) -> None:
        """Remembers a key that resolved (a ttl of 0 remembers nothing)."""
        if principal is None or self.ttl <= 0:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (principal, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()


def _partner_out(row: Row[Any]) -> PartnerOut:
    return PartnerOut(id=row.id, name=row.name, created_at=row.created_at, webhook_url=row.webhook_url)


async def _existing(session: AsyncConnection, partner_id: str) -> Row[Any]:
    partner = await store.get_partner(session, partner_id)
    if partner is None:
        raise not_found(f"partner {partner_id}")
    return partner


async def create_partner(*, session: AsyncConnection, principal: Principal, name: str) -> PartnerOut:
    """A new partner, without keys yet (admin only)."""
    require_admin(principal)
    partner_id = str(uuid4())
    await store.insert_partner(session, dict(id=partner_id, name=name, created_at=utcnow()))
    return _partner_out(await _existing(session, partner_id))


async def list_partners(*, session: AsyncConnection, principal: Principal) -> list[PartnerOut]:
    """Every partner, oldest first (admin only)."""
    require_admin(principal)
    return [_partner_out(r) for r in await store.list_partners(session)]


async def create_key(*, session: AsyncConnection, principal: Principal, partner_id: str) -> PartnerKeyOut:
    """A new API key for a partner; the key is in the answer and nowhere else."""
    require_admin(principal)
    await _existing(session, partner_id)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    values = dict(id=str(uuid4()), partner_id=partner_id, key_hash=_key_hash(key),
                  prefix=key[: len(KEY_PREFIX) + 6], created_at=utcnow())
    await store.insert_key(session, values)
    return PartnerKeyOut(id=values["id"], partner_id=partner_id, prefix=values["prefix"],
                         created_at=values["created_at"], key=key)


async def list_keys(*, session: AsyncConnection, principal: Principal, partner_id: str) -> list[PartnerKeyOut]:
    """A partner's keys, revoked ones too, without the keys themselves (admin only)."""
    require_admin(principal)
    await _existing(session, partner_id)
    return [PartnerKeyOut(id=k.id, partner_id=k.partner_id, prefix=k.prefix, created_at=k.created_at,
                          revoked_at=k.revoked_at) for k in await store.list_keys(session, partner_id)]


async def revoke_key(*, session: AsyncConnection, principal: Principal, partner_id: str, key_id: str) -> None:
    """The key stops working (admin only); revoking twice is harmless."""
    require_admin(principal)
    if await store.get_key(session, partner_id, key_id) is None:
        raise not_found(f"key {key_id}")
    await store.revoke_key(session, key_id, utcnow())


def require_partner(principal: Principal) -> str:
    """The caller's partner id; a caller that is not a partner gets 403."""
    if principal.partner_id is None:
        raise Problem(403, "Forbidden", "webhooks belong to a partner: call with a partner API key")
    return principal.partner_id


async def register_webhook(*, session: AsyncConnection, principal: Principal, url: str,
                           require_https: bool) -> WebhookOut:
    """Sets the partner's callback URL and a fresh signing secret.  The URL is
    checked here for its shape (https only where `require_https`), and its
    address again before every post."""
    partner_id = require_partner(principal)
    try:
        url = check_webhook_url(url, require_https=require_https)
    except UnsafeUrl as exc:
        raise Problem(422, "Invalid request", f"url: {exc}", [FieldError("url", str(exc))]) from None
    secret = secrets.token_urlsafe(32)
    await store.set_webhook(session, partner_id, url, secret)
    return WebhookOut(url=url, secret=secret)


async def get_webhook(*, session: AsyncConnection, principal: Principal) -> WebhookOut:
    """The partner's callback URL (its secret is shown only when registered)."""
    partner = await _existing(session, require_partner(principal))
    if not partner.webhook_url:
        raise not_found("webhook")
    return WebhookOut(url=partner.webhook_url)


async def remove_webhook(*, session: AsyncConnection, principal: Principal) -> None:
    """No more deliveries are queued for the partner."""
    await store.set_webhook(session, require_partner(principal), None, None)
