"""Consent per phone number: opted out of every message (an SMS STOP, or a
coordinator by API) or not, and the channel its owner prefers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from . import store
from .schemas import ConsentIn, ConsentOut


async def get_consent(*, session: AsyncConnection, phone: str) -> ConsentOut:
    """What a number agreed to; a number never heard of is opted in, with no preference."""
    row = await store.get_consent(session, phone)
    if row is None:
        return ConsentOut(phone=phone, opted_out=False, preferred_channel=None, changed_via=None, changed_at=None)
    return ConsentOut(phone=row.phone, opted_out=row.opted_out, preferred_channel=row.preferred_channel,
                      changed_via=row.changed_via, changed_at=row.changed_at)


async def set_consent(*, session: AsyncConnection, phone: str, body: ConsentIn, changed_at: datetime) -> ConsentOut:
    """Opts a number out (or back in) and sets the channel it prefers, by API
    (a coordinator acting on a phone call)."""
    await store.save_consent(session, dict(phone=phone, opted_out=body.opted_out,
                                           preferred_channel=body.preferred_channel,
                                           changed_via="api", changed_at=changed_at))
    return await get_consent(session=session, phone=phone)


async def opt_by_sms(*, session: AsyncConnection, phone: str, opted_out: bool, changed_at: datetime) -> None:
    """STOP or START from the number itself; a preference set before stays."""
    await store.save_consent(session, dict(phone=phone, opted_out=opted_out, changed_via="sms",
                                           changed_at=changed_at))


async def preferred_channel(*, session: AsyncConnection, phone: str, requested: str | None) -> str:
    """The channel to reach a requester by: the number's own preference if
    one was set by API, else what they asked for with their request, else SMS."""
    row = await store.get_consent(session, phone)
    return (row.preferred_channel if row and row.preferred_channel else requested) or "sms"
