"""The community catalogue: where a request given by address is placed, and
whose QR code opens that community's request form."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.http import Principal, Problem, not_found

from . import store
from .schemas import CommunityIn, CommunityOut
from .settings import IntakeSettings


def _community_out(row: Row[Any], settings: IntakeSettings) -> CommunityOut:
    form_url = f"{settings.public_base_url.rstrip('/')}/form/{row.code}"
    return CommunityOut(code=row.code, name=row.name, lat=row.lat, lon=row.lon, form_url=form_url,
                        updated_at=row.updated_at)


async def put_community(
    *, session: AsyncConnection, principal: Principal, code: str, body: CommunityIn, settings: IntakeSettings,
) -> CommunityOut:
    """Adds or updates a community; a coordinator manages only their own communities."""
    if principal.role == "partner" or not principal.may_act_for(code):
        raise Problem(403, "Forbidden", f"you do not coordinate community {code}")
    await store.upsert_community(session, dict(code=code, name=body.name, lat=body.lat, lon=body.lon,
                                                updated_at=utcnow()))
    return await get_community(session=session, code=code, settings=settings)


async def find_community(*, session: AsyncConnection, code: str) -> Row[Any] | None:
    """The catalogue's entry for `code`, or None."""
    return await store.get_community(session, code)


async def get_community(*, session: AsyncConnection, code: str, settings: IntakeSettings) -> CommunityOut:
    """One community with its form's URL; 404 if it is not in the catalogue."""
    row = await store.get_community(session, code)
    if row is None:
        raise not_found(f"community {code}")
    return _community_out(row, settings)


async def list_communities(*, session: AsyncConnection, settings: IntakeSettings) -> list[CommunityOut]:
    """The whole catalogue, by code."""
    return [_community_out(r, settings) for r in await store.list_communities(session)]
