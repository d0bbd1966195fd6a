"""Members: joining, changes, moves between teams, and their daily health
check-ins.  A change that alters a team's duty republishes the team (see teams)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.http import FieldError, Principal, Problem, not_found
from shared.phones import mask_phone

from . import shifts, store
from .duty import is_fit
from .schemas import CheckinOut, CheckinStatus, MemberIn, MemberOut, MemberPatch, MoveOut
from .settings import VolunteersSettings
from .teams import existing_team, in_scope, live_team, refresh_team, team_for_change, zone_of


def _phone_taken(phone: str) -> Problem:
    return Problem(409, "Conflict", f"a member with phone {mask_phone(phone)} already exists",
                   [FieldError("phone", "already registered to a member")])


async def find_member(session: AsyncConnection, member_id: str, *, for_update: bool = False) -> Row[Any]:
    """The member, or 404."""
    member = await store.get_member(session, member_id, for_update=for_update)
    if member is None:
        raise not_found(f"member {member_id}")
    return member


async def visible_member(session: AsyncConnection, principal: Principal, member_id: str, *,
                         for_update: bool = False) -> tuple[Row[Any], Row[Any]]:
    """The member and their team, if the team's community is in the caller's scope; else 404."""
    member = await find_member(session, member_id, for_update=for_update)
    team = await existing_team(session, member.team_id)
    if not await in_scope(session, principal, team.community):
        raise not_found(f"member {member_id}")
    return member, team


async def enrol_member(*, session: AsyncConnection, principal: Principal, team_id: str, body: MemberIn,
                       now: datetime, reason: str) -> str:
    """Inserts a member into a team the caller holds, with the move that records
    why they joined; 409 when the phone is already a member's.  Its id."""
    if await store.member_by_phone(session, body.phone):
        raise _phone_taken(body.phone)
    member_id = str(uuid4())
    inserted = await store.insert_member(session, dict(
        id=member_id, team_id=team_id, name=body.name, phone=body.phone, skills=body.skills,
        duty=body.duty, shift_group=body.group, active=body.active, locale=body.locale,
        checkin_key=secrets.token_urlsafe(24), created_at=now, updated_at=now,
    ))
    if not inserted:
        raise _phone_taken(body.phone)
    await store.insert_move(session, dict(id=str(uuid4()), member_id=member_id, from_team_id=None,
                                          to_team_id=team_id, reason=reason, moved_by=principal.subject,
                                          moved_at=now))
    return member_id


async def add_member(*, session: AsyncConnection, principal: Principal, team_id: str, body: MemberIn,
                     settings: VolunteersSettings, now: datetime) -> MemberOut:
    """Adds a member to a team of the caller's community (one team per phone)."""
    team = await team_for_change(session, principal, team_id)
    member_id = await enrol_member(session=session, principal=principal, team_id=team.id, body=body, now=now,
                                   reason="joined")
    await refresh_team(session, team, now, settings)
    return await _member_view(session, principal, await find_member(session, member_id), team, settings, now)


async def list_members(*, session: AsyncConnection, principal: Principal, team_id: str,
                       settings: VolunteersSettings, now: datetime) -> list[MemberOut]:
    """The live team's members with their latest check-in (404 outside the caller's scope)."""
    team = await live_team(session, principal, team_id)
    rows = await store.team_members(session, team.id)
    latest = await store.latest_checkins(session, [m.id for m in rows])
    return [_member_out(principal, m, team, latest.get(m.id), settings, now) for m in rows]


async def get_member(*, session: AsyncConnection, principal: Principal, member_id: str,
                     settings: VolunteersSettings, now: datetime) -> MemberOut:
    """One member with their latest check-in (404 outside the caller's scope)."""
    member, team = await visible_member(session, principal, member_id)
    return await _member_view(session, principal, member, team, settings, now)


async def update_member(*, session: AsyncConnection, principal: Principal, member_id: str, patch: MemberPatch,
                        settings: VolunteersSettings, now: datetime) -> MemberOut:
    """Changes the fields the patch names (duty and group may be null); the team's duty follows."""
    member, _ = await visible_member(session, principal, member_id, for_update=True)
    team = await team_for_change(session, principal, member.team_id)
    values: dict[str, Any] = {}
    for key in patch.model_fields_set:
        value = getattr(patch, key)
        column = "shift_group" if key == "group" else key
        if value is None and key not in ("duty", "group"):
            raise Problem(422, "Invalid request", f"{key} cannot be null", [FieldError(key, "cannot be null")])
        values[column] = value
    if "phone" in values and values["phone"] != member.phone:
        if await store.member_by_phone(session, values["phone"]):
            raise _phone_taken(values["phone"])
    if values:
        values["updated_at"] = now
        await store.update_member(session, member.id, values)
        await refresh_team(session, team, now, settings)
    return await _member_view(session, principal, await find_member(session, member.id),
                              await existing_team(session, team.id), settings, now)


async def move_member(*, session: AsyncConnection, principal: Principal, member_id: str, to_team_id: str,
                      reason: str | None, settings: VolunteersSettings, now: datetime) -> MemberOut:
    """Moves a member to another team (one team at a time); the move is recorded
    and both teams' state is republished if it changed."""
    member, _ = await visible_member(session, principal, member_id, for_update=True)
    source = await team_for_change(session, principal, member.team_id)
    target = await team_for_change(session, principal, to_team_id)
    if target.id == source.id:
        raise Problem(409, "Conflict", "the member is already in that team")
    await store.update_member(session, member.id, {"team_id": target.id, "updated_at": now})
    await store.insert_move(session, dict(id=str(uuid4()), member_id=member.id, from_team_id=source.id,
                                          to_team_id=target.id, reason=reason, moved_by=principal.subject,
                                          moved_at=now))
    await refresh_team(session, source, now, settings)
    target = await refresh_team(session, target, now, settings)
    return await _member_view(session, principal, await find_member(session, member.id), target, settings, now)


async def member_moves(*, session: AsyncConnection, principal: Principal, member_id: str) -> list[MoveOut]:
    """Every team the member joined or moved to, oldest first."""
    await visible_member(session, principal, member_id)
    return [MoveOut(**row._mapping) for row in await store.member_moves_of(session, member_id)]


async def _member_view(session: AsyncConnection, principal: Principal, member: Row[Any], team: Row[Any],
                       settings: VolunteersSettings, now: datetime) -> MemberOut:
    latest = await store.latest_checkins(session, [member.id])
    return _member_out(principal, member, team, latest.get(member.id), settings, now)


def _member_out(principal: Principal, member: Row[Any], team: Row[Any], checkin: Row[Any] | None,
                settings: VolunteersSettings, now: datetime) -> MemberOut:
    trusted = True  # a member is only shown to callers whose scope covers the team (or to an admin)
    today = shifts.local_day(zone_of(team), now)
    return MemberOut(
        id=member.id,
        team_id=member.team_id,
        name=member.name,
        phone=member.phone if trusted else mask_phone(member.phone),
        skills=member.skills,
        duty=member.duty,
        group=member.shift_group,
        active=member.active,
        locale=member.locale,
        last_checkin=CheckinOut(day=checkin.day, status=checkin.status, channel=checkin.channel,
                                checked_at=checkin.checked_at) if checkin else None,
        fit=is_fit(checkin.status if checkin else None, checkin.day if checkin else None,
                   today, settings.require_checkin),
        checkin_url=f"/checkin/{member.checkin_key}" if trusted else None,
        created_at=member.created_at,
        updated_at=member.updated_at,
    )


# --- daily health check-ins ---------------------------------------------------------


async def check_in(*, session: AsyncConnection, member: Row[Any], status: CheckinStatus, channel: str,
                   settings: VolunteersSettings, now: datetime) -> CheckinOut:
    """Records today's (community-local) check-in; the team's capacity and
    on-duty state follow, and a changed state is published."""
    team = await existing_team(session, member.team_id, for_update=True)
    day = shifts.local_day(zone_of(team), now)
    await store.upsert_checkin(session, dict(member_id=member.id, day=day, status=status,
                                             channel=channel, checked_at=now))
    if team.status != "deleted":
        await refresh_team(session, team, now, settings)
    return CheckinOut(day=day, status=status, channel=channel, checked_at=now)


async def check_in_by_coordinator(*, session: AsyncConnection, principal: Principal, member_id: str,
                                  status: CheckinStatus, settings: VolunteersSettings, now: datetime) -> CheckinOut:
    """A coordinator of the member's community records the member's check-in for them."""
    member, _ = await visible_member(session, principal, member_id)
    return await check_in(session=session, member=member, status=status, channel="api", settings=settings, now=now)


async def member_for_checkin_key(*, session: AsyncConnection, key: str) -> Row[Any]:
    """The member whose secret check-in link carries `key`, or 404."""
    member = await store.member_by_checkin_key(session, key) if key else None
    if member is None:
        raise not_found("check-in link")
    return member
