"""Every query volunteers makes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, and_, delete, func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import insert_for

from .models import (
    checkin_reminders,
    checkins,
    communities,
    coordinator_tokens,
    coordinators,
    member_moves,
    members,
    points_ledger,
    registrations,
    request_facts,
    teams,
    used_form_tokens,
)


async def _insert_unless_taken(session: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """Inserts in a savepoint: False when a unique key clashes, and the
    surrounding transaction is still usable."""
    try:
        async with session.begin_nested():
            await session.execute(table.insert().values(**values))
    except IntegrityError:
        return False
    return True


# --- communities --------------------------------------------------------------


async def get_community(session: AsyncConnection, code: str, *, for_update: bool = False) -> Row[Any] | None:
    query = select(communities).where(communities.c.code == code)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def communities_by_code(session: AsyncConnection, codes: list[str]) -> dict[str, Row[Any]]:
    if not codes:
        return {}
    query = select(communities).where(communities.c.code.in_(sorted(set(codes))))
    return {row.code: row for row in (await session.execute(query)).all()}


async def list_communities(session: AsyncConnection, level: str | None, parent: str | None,
                           limit: int, offset: int) -> tuple[list[Row[Any]], int]:
    query = select(communities)
    if level:
        query = query.where(communities.c.level == level)
    if parent:
        query = query.where(communities.c.parent == parent)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.order_by(communities.c.code).limit(limit).offset(offset))).all()
    return list(rows), int(total)


async def community_parents(session: AsyncConnection) -> dict[str, str | None]:
    """Every community's parent link: what scopes are read against."""
    rows = (await session.execute(select(communities.c.code, communities.c.parent))).all()
    return {row.code: row.parent for row in rows}


async def children_of(session: AsyncConnection, code: str) -> list[Row[Any]]:
    return list((await session.execute(select(communities).where(communities.c.parent == code))).all())


async def insert_community(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(communities.insert().values(**values))


async def update_community(session: AsyncConnection, code: str, values: dict[str, Any]) -> None:
    await session.execute(update(communities).where(communities.c.code == code).values(**values))


# --- teams --------------------------------------------------------------------


async def insert_team(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(teams.insert().values(**values))


async def get_team(session: AsyncConnection, team_id: str, *, for_update: bool = False) -> Row[Any] | None:
    query = select(teams).where(teams.c.id == team_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def list_teams(session: AsyncConnection, visible: frozenset[str] | None, community: str | None,
                     limit: int, offset: int) -> tuple[list[Row[Any]], int]:
    """A page of live teams within `visible` (None: all), and how many there are."""
    query = select(teams).where(teams.c.status != "deleted")
    if visible is not None:
        query = query.where(teams.c.community.in_(sorted(visible)))
    if community:
        query = query.where(teams.c.community == community)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.order_by(teams.c.created_at, teams.c.id).limit(limit).offset(offset))).all()
    return list(rows), int(total)


async def team_by_name(session: AsyncConnection, community: str, name: str) -> Row[Any] | None:
    query = select(teams).where(teams.c.community == community, teams.c.name == name,
                                teams.c.status != "deleted").order_by(teams.c.created_at)
    return (await session.execute(query)).first()


async def update_team(session: AsyncConnection, team_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(teams).where(teams.c.id == team_id).values(**values))


async def claim_due_teams(session: AsyncConnection, now: datetime, limit: int) -> list[Row[Any]]:
    """Teams whose scheduled change has come, locked for this transaction;
    rows another replica holds are skipped (it publishes them)."""
    query = (
        select(teams)
        .where(teams.c.next_change_at <= now, teams.c.status != "deleted")
        .order_by(teams.c.next_change_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).all())


# --- members ------------------------------------------------------------------


async def insert_member(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """False when the phone already belongs to a member."""
    return await _insert_unless_taken(session, members, values)


async def get_member(session: AsyncConnection, member_id: str, *, for_update: bool = False) -> Row[Any] | None:
    query = select(members).where(members.c.id == member_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def member_by_phone(session: AsyncConnection, phone: str) -> Row[Any] | None:
    return (await session.execute(select(members).where(members.c.phone == phone))).first()


async def member_by_checkin_key(session: AsyncConnection, key: str) -> Row[Any] | None:
    return (await session.execute(select(members).where(members.c.checkin_key == key))).first()


async def update_member(session: AsyncConnection, member_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(members).where(members.c.id == member_id).values(**values))


async def team_members(session: AsyncConnection, team_id: str, *, active_only: bool = False) -> list[Row[Any]]:
    query = select(members).where(members.c.team_id == team_id).order_by(members.c.name, members.c.id)
    if active_only:
        query = query.where(members.c.active.is_(True))
    return list((await session.execute(query)).all())


async def insert_move(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(member_moves.insert().values(**values))


async def member_moves_of(session: AsyncConnection, member_id: str) -> list[Row[Any]]:
    query = select(member_moves).where(member_moves.c.member_id == member_id).order_by(member_moves.c.moved_at)
    return list((await session.execute(query)).all())


# --- check-ins ----------------------------------------------------------------


async def upsert_checkin(session: AsyncConnection, values: dict[str, Any]) -> None:
    """Today's check-in; a second one the same day replaces the first."""
    statement = insert_for(session, checkins).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["member_id", "day"],
        set_={"status": statement.excluded.status, "channel": statement.excluded.channel,
              "checked_at": statement.excluded.checked_at},
    )
    await session.execute(statement)


async def latest_checkins(session: AsyncConnection, member_ids: list[str]) -> dict[str, Row[Any]]:
    """Each member's most recent check-in."""
    if not member_ids:
        return {}
    latest = (
        select(checkins.c.member_id, func.max(checkins.c.day).label("day"))
        .where(checkins.c.member_id.in_(member_ids))
        .group_by(checkins.c.member_id)
        .subquery()
    )
    query = select(checkins).join(
        latest, and_(checkins.c.member_id == latest.c.member_id, checkins.c.day == latest.c.day)
    )
    return {row.member_id: row for row in (await session.execute(query)).all()}


async def members_to_remind(session: AsyncConnection, team_id: str, day: date) -> list[Row[Any]]:
    """Active members of the team with no check-in and no reminder for `day`."""
    has_checkin = select(checkins.c.member_id).where(checkins.c.day == day)
    reminded = select(checkin_reminders.c.member_id).where(checkin_reminders.c.day == day)
    query = select(members).where(
        members.c.team_id == team_id,
        members.c.active.is_(True),
        members.c.id.not_in(has_checkin),
        members.c.id.not_in(reminded),
    )
    return list((await session.execute(query)).all())


async def claim_reminder(session: AsyncConnection, member_id: str, day: date, now: datetime) -> bool:
    """True the first time a member is reminded for `day` (across replicas)."""
    result = await session.execute(
        insert_for(session, checkin_reminders)
        .values(member_id=member_id, day=day, sent_at=now)
        .on_conflict_do_nothing(index_elements=["member_id", "day"])
    )
    return result.rowcount == 1


async def teams_with_active_members(session: AsyncConnection) -> list[Row[Any]]:
    query = select(teams).where(
        teams.c.status != "deleted",
        teams.c.id.in_(select(members.c.team_id).where(members.c.active.is_(True))),
    )
    return list((await session.execute(query)).all())


# --- coordinators -------------------------------------------------------------


async def insert_coordinator(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(coordinators.insert().values(**values))


async def get_coordinator(session: AsyncConnection, coordinator_id: str) -> Row[Any] | None:
    return (await session.execute(select(coordinators).where(coordinators.c.id == coordinator_id))).first()


async def list_coordinators(session: AsyncConnection) -> list[Row[Any]]:
    return list((await session.execute(select(coordinators).order_by(coordinators.c.created_at))).all())


async def insert_coordinator_token(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(coordinator_tokens.insert().values(**values))


async def live_coordinator_tokens(session: AsyncConnection, coordinator_id: str, now: datetime) -> list[Row[Any]]:
    query = select(coordinator_tokens).where(coordinator_tokens.c.coordinator_id == coordinator_id,
                                             coordinator_tokens.c.expires_at > now,
                                             coordinator_tokens.c.revoked_at.is_(None))
    return list((await session.execute(query)).all())


async def revoke_coordinator_token(session: AsyncConnection, jti: str, coordinator_id: str, expires_at: datetime,
                                   now: datetime) -> None:
    """Marks the token revoked (recording it if it was issued before tokens were recorded)."""
    statement = insert_for(session, coordinator_tokens).values(
        jti=jti, coordinator_id=coordinator_id, issued_at=now, expires_at=expires_at, revoked_at=now)
    await session.execute(statement.on_conflict_do_update(index_elements=["jti"], set_={"revoked_at": now}))


# --- public form tokens -------------------------------------------------------


async def claim_form_nonce(session: AsyncConnection, nonce: str, expires_at: datetime) -> bool:
    """True the first time a form token's nonce is spent (across replicas)."""
    result = await session.execute(
        insert_for(session, used_form_tokens).values(nonce=nonce, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["nonce"])
    )
    return result.rowcount == 1


async def prune_form_nonces(session: AsyncConnection, now: datetime) -> int:
    """Forgets the nonces of tokens that have expired anyway."""
    result = await session.execute(delete(used_form_tokens).where(used_form_tokens.c.expires_at < now))
    return int(result.rowcount or 0)


# --- registrations ------------------------------------------------------------


async def insert_registration(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """False when the phone already has an open registration (the partial
    unique index settles two registrations racing each other)."""
    return await _insert_unless_taken(session, registrations, values)


async def open_registration_by_phone(session: AsyncConnection, phone: str) -> Row[Any] | None:
    query = select(registrations).where(registrations.c.phone == phone, registrations.c.status != "rejected")
    return (await session.execute(query)).first()


async def get_registration(session: AsyncConnection, registration_id: str, *, for_update: bool = False) -> Row[Any] | None:
    query = select(registrations).where(registrations.c.id == registration_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def list_registrations(session: AsyncConnection, communities: frozenset[str] | None,
                             status: str | None, limit: int, offset: int) -> list[Row[Any]]:
    query = select(registrations).order_by(registrations.c.created_at, registrations.c.id)
    if communities is not None:
        query = query.where(registrations.c.community.in_(sorted(communities)))
    if status:
        query = query.where(registrations.c.status == status)
    return list((await session.execute(query.limit(limit).offset(offset))).all())


async def update_registration(session: AsyncConnection, registration_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(registrations).where(registrations.c.id == registration_id).values(**values))


# --- retention ----------------------------------------------------------------


async def erase_old_registrations(session: AsyncConnection, cutoff: datetime) -> int:
    """Removes the name, phone, availability and reason of registrations decided
    before `cutoff` (and of pending ones older than it, which expire); keeps the
    community, skills, status and times for the statistics."""
    old = or_(registrations.c.decided_at < cutoff,
              and_(registrations.c.status == "pending", registrations.c.created_at < cutoff))
    erased = and_(registrations.c.name == "", registrations.c.availability.is_(None))
    rows = (await session.execute(select(registrations.c.id, registrations.c.status)
                                  .where(old, ~erased).limit(1000))).all()
    for row in rows:
        # A placeholder, not "": the open-phone unique index must still hold.
        await session.execute(update(registrations).where(registrations.c.id == row.id).values(
            name="", phone=f"erased:{row.id[:12]}", availability=None, reason=None,
            status="expired" if row.status == "pending" else row.status))
    return len(rows)


async def delete_old_checkins(session: AsyncConnection, before: date) -> int:
    """Health check-ins (and their reminders) of days before `before`."""
    result = await session.execute(delete(checkins).where(checkins.c.day < before))
    await session.execute(delete(checkin_reminders).where(checkin_reminders.c.day < before))
    return int(result.rowcount or 0)


# --- points -------------------------------------------------------------------


async def upsert_request_fact(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(
        insert_for(session, request_facts).values(**values).on_conflict_do_nothing(index_elements=["request_id"])
    )


async def get_request_fact(session: AsyncConnection, request_id: str) -> Row[Any] | None:
    return (await session.execute(select(request_facts).where(request_facts.c.request_id == request_id))).first()


async def add_points(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """Adds a ledger entry unless one with the same source_key exists."""
    result = await session.execute(
        insert_for(session, points_ledger).values(**values).on_conflict_do_nothing(index_elements=["source_key"])
    )
    return result.rowcount == 1


async def ledger_of(session: AsyncConnection, member_id: str) -> list[Row[Any]]:
    query = select(points_ledger).where(points_ledger.c.member_id == member_id).order_by(points_ledger.c.created_at)
    return list((await session.execute(query)).all())


async def leaderboard(session: AsyncConnection, community: str, limit: int) -> list[Row[Any]]:
    total = func.sum(points_ledger.c.points).label("points")
    query = (
        select(members.c.id, members.c.name, members.c.team_id, total)
        .join(members, members.c.id == points_ledger.c.member_id)
        .where(points_ledger.c.community == community)
        .group_by(members.c.id, members.c.name, members.c.team_id)
        .order_by(total.desc(), members.c.name)
        .limit(limit)
    )
    return list((await session.execute(query)).all())
