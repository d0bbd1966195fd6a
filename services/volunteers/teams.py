"""Teams: their state, their duty (from schedule, members and check-ins) and
the aid.team.changed.v1 event that carries both.  Use cases never commit: the
door's transaction does.  Those that depend on the time take `now` (the app's
clock), so the shift-boundary loop and the tests can drive time."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import TeamChangedV1
from shared.http import FieldError, Principal, Problem, not_found
from shared.outbound import UnsafeUrl, check_chat_url
from shared.outbox import record_event
from shared.scope import covers, visible_communities

from . import areas, shifts, store
from .communities import scope_tree
from .duty import Duty, MemberState, is_fit, team_duty
from .models import SOURCE, outbox
from .schemas import DutyOut, ScheduleIn, ScheduleOut, TeamIn, TeamOut, TeamPatch
from .settings import VolunteersSettings
from .skills import categories_served


async def in_scope(session: AsyncConnection, principal: Principal, community: str) -> bool:
    """Whether the caller may see and act on things of `community` (admins: always)."""
    return principal.is_admin or covers(principal, community, await scope_tree(session))


async def require_community(session: AsyncConnection, principal: Principal, community: str) -> None:
    """403 unless the caller's scope covers `community` (for creating in it:
    communities are no secret, what is in them is)."""
    if not await in_scope(session, principal, community):
        raise Problem(403, "Forbidden", f"you do not coordinate community {community!r}")


async def check_placement(session: AsyncConnection, settings: VolunteersSettings, *, community: str, lat: float,
                          lon: float, radius_km: float, area: dict[str, Any] | None) -> None:
    """No ghost teams: the community exists and is active, the base lies inside
    its boundary, and the area reaches past it by at most the configured margin."""
    place = await store.get_community(session, community)
    if place is None or place.status != "active" or place.level != "community" or place.boundary is None:
        why = "does not exist" if place is None else (
            "is retired" if place.status != "active" else f"is a {place.level}, not a community")
        raise Problem(422, "Invalid request", f"community {community!r} {why}", [FieldError("community", why)])
    if not areas.base_inside(place.boundary, lat, lon):
        raise Problem(422, "Invalid request", f"the base lies outside community {community!r}",
                      [FieldError("location", f"must lie inside the boundary of {community}")])
    if not areas.stays_near(place.boundary, lat, lon, radius_km, area, settings.area_margin_km):
        field = "area" if area is not None else "radius_km"
        reason = f"reaches more than {settings.area_margin_km:g} km past the boundary of {community}"
        raise Problem(422, "Invalid request", f"{field} {reason}", [FieldError(field, reason)])


def zone_of(team: Row[Any]) -> ZoneInfo:
    return ZoneInfo(team.timezone)


def schedule_of(team: Row[Any]) -> shifts.Schedule:
    return shifts.from_document(team.schedule, zone_of(team))


async def existing_team(session: AsyncConnection, team_id: str, *, for_update: bool = False) -> Row[Any]:
    """A team this transaction knows is there (a member's, or one it just wrote), deleted or not."""
    team = await store.get_team(session, team_id, for_update=for_update)
    assert team is not None, f"team {team_id} vanished inside its own transaction"
    return team


async def live_team(session: AsyncConnection, principal: Principal, team_id: str) -> Row[Any]:
    """The team, unless it does not exist, was deleted, or lies outside the caller's scope (404)."""
    team = await store.get_team(session, team_id)
    if team is None or team.status == "deleted" or not await in_scope(session, principal, team.community):
        raise not_found(f"team {team_id}")
    return team


async def team_for_change(session: AsyncConnection, principal: Principal, team_id: str) -> Row[Any]:
    """The live team, locked for this transaction, if the caller's scope covers it (else 404)."""
    team = await store.get_team(session, team_id, for_update=True)
    if team is None or team.status == "deleted" or not await in_scope(session, principal, team.community):
        raise not_found(f"team {team_id}")
    return team


async def compute_duty(session: AsyncConnection, team: Row[Any], at: datetime, settings: VolunteersSettings) -> Duty:
    """The team's duty at `at` from its schedule, active members and check-ins."""
    active = await store.team_members(session, team.id, active_only=True)
    latest = await store.latest_checkins(session, [m.id for m in active])
    today = shifts.local_day(zone_of(team), at)
    states = [
        MemberState(
            m.shift_group,
            is_fit(latest[m.id].status if m.id in latest else None,
                   latest[m.id].day if m.id in latest else None, today, settings.require_checkin),
        )
        for m in active
    ]
    return team_duty(schedule_of(team), team.capacity, states, at,
                     tasks_per_member=settings.tasks_per_member, require_checkin=settings.require_checkin)


async def refresh_team(session: AsyncConnection, team: Row[Any], now: datetime, settings: VolunteersSettings, *,
                       changed: dict[str, Any] | None = None, force: bool = False) -> Row[Any]:
    """Applies `changed` columns, recomputes duty, and — when anything the team
    event carries changed (or `force`) — bumps the version and records the event.
    Returns the fresh row."""
    values = dict(changed or {})
    before = team
    if values:
        await store.update_team(session, team.id, values)
        team = await existing_team(session, team.id)
    duty = await compute_duty(session, team, now, settings)
    state = dict(effective_capacity=duty.capacity, on_duty=duty.on_duty,
                 next_change_at=None if team.status == "deleted" else duty.next_change_at)
    moved = any(getattr(before, k) != v for k, v in state.items())
    if not (values or moved or force):
        return team
    await store.update_team(session, team.id, dict(state, version=before.version + 1, updated_at=now))
    fresh = await existing_team(session, team.id)
    await _record_team_changed(session, fresh)
    return fresh


async def create_team(*, session: AsyncConnection, principal: Principal, body: TeamIn,
                      settings: VolunteersSettings, now: datetime) -> TeamOut:
    """Creates a team in a community the caller coordinates, inside its boundary, and publishes it."""
    await require_community(session, principal, body.community)
    await check_placement(session, settings, community=body.community, lat=body.location.lat,
                          lon=body.location.lon, radius_km=body.radius_km, area=body.area)
    chat_url = checked_chat_url(body.chat_url, settings)
    values: dict[str, Any] = dict(
        id=str(uuid4()),
        version=1,
        name=body.name,
        community=body.community,
        lat=body.location.lat,
        lon=body.location.lon,
        radius_km=body.radius_km,
        area=body.area,
        skills=body.skills,
        capacity=body.capacity,
        status=body.status,
        chat_url=chat_url,
        leader_name=body.leader.name,
        leader_phone=body.leader.phone,
        timezone=body.timezone or settings.default_timezone,
        schedule=body.schedule.model_dump(mode="json") if body.schedule else None,
        created_at=now,
        updated_at=now,
    )
    schedule = shifts.from_document(values["schedule"], ZoneInfo(values["timezone"]))
    duty = team_duty(schedule, body.capacity, [], now, tasks_per_member=settings.tasks_per_member,
                     require_checkin=settings.require_checkin)
    values.update(effective_capacity=duty.capacity, on_duty=duty.on_duty, next_change_at=duty.next_change_at)
    await store.insert_team(session, values)
    team = await existing_team(session, values["id"])
    await _record_team_changed(session, team)
    return team_view(team)


async def update_team(*, session: AsyncConnection, principal: Principal, team_id: str, patch: TeamPatch,
                      settings: VolunteersSettings, now: datetime) -> TeamOut:
    """Changes the fields the patch names (area null: back to the radius circle); a change is published."""
    team = await team_for_change(session, principal, team_id)
    values: dict[str, Any] = {}
    for key in patch.model_fields_set:
        value = getattr(patch, key)
        if value is None and key not in ("area", "chat_url"):  # only these two may be cleared
            raise Problem(422, "Invalid request", f"{key} cannot be null",
                          [FieldError(key, "cannot be null")])
        if key == "location":
            values.update(lat=value.lat, lon=value.lon)
        elif key == "leader":
            values.update(leader_name=value.name, leader_phone=value.phone)
        elif key == "area":
            values["area"] = value
        elif key == "chat_url":
            values["chat_url"] = checked_chat_url(value, settings)
        else:
            values[key] = value
    if values.keys() & {"lat", "lon", "radius_km", "area"}:
        merged = {**team._mapping, **values}
        await check_placement(session, settings, community=team.community, lat=merged["lat"], lon=merged["lon"],
                              radius_km=merged["radius_km"], area=merged["area"])
    if values:
        team = await refresh_team(session, team, now, settings, changed=values)
    return team_view(team)


def checked_chat_url(url: str | None, settings: VolunteersSettings) -> str | None:
    """One chat URL of an allowed kind (no request forgery from inside the cluster), or 422 naming chat_url."""
    if url is None:
        return None
    try:
        return check_chat_url(url, allowed_hosts=settings.outbound_allowed_hosts)
    except UnsafeUrl as exc:
        raise Problem(422, "Invalid request", f"chat_url {exc}", [FieldError("chat_url", str(exc))]) from None


async def delete_team(*, session: AsyncConnection, principal: Principal, team_id: str,
                      settings: VolunteersSettings, now: datetime) -> None:
    """Marks the team deleted and publishes it so (dispatch stops offering to it)."""
    team = await team_for_change(session, principal, team_id)
    await refresh_team(session, team, now, settings, changed={"status": "deleted"})


async def get_team(*, session: AsyncConnection, principal: Principal, team_id: str) -> TeamOut:
    """The live team's current state (404 outside the caller's scope)."""
    return team_view(await live_team(session, principal, team_id))


async def list_teams(*, session: AsyncConnection, principal: Principal, community: str | None, limit: int,
                     offset: int) -> tuple[list[TeamOut], int]:
    """Live teams in the caller's scope, oldest first, of one community or all; and how many."""
    visible = visible_communities(principal, await scope_tree(session))
    rows, total = await store.list_teams(session, visible, community, limit, offset)
    return [team_view(t) for t in rows], total


async def put_schedule(*, session: AsyncConnection, principal: Principal, team_id: str, body: ScheduleIn,
                       settings: VolunteersSettings, now: datetime) -> ScheduleOut:
    """Replaces the team's schedule; the duty it gives now is published if it changed."""
    team = await team_for_change(session, principal, team_id)
    document = body.model_dump(mode="json")
    team = await refresh_team(session, team, now, settings, changed={"schedule": document})
    return ScheduleOut(timezone=team.timezone, **document)


async def get_schedule(*, session: AsyncConnection, principal: Principal, team_id: str) -> ScheduleOut:
    """The live team's schedule, with its time zone."""
    team = await live_team(session, principal, team_id)
    return ScheduleOut(timezone=team.timezone, **(team.schedule or {}))


async def duty_at(*, session: AsyncConnection, principal: Principal, team_id: str, at: datetime,
                  settings: VolunteersSettings) -> DutyOut:
    """Whether the live team is on duty at `at`, its capacity then and when that next changes."""
    team = await live_team(session, principal, team_id)
    duty = await compute_duty(session, team, at, settings)
    return DutyOut(at=at, on_duty=duty.on_duty, capacity=duty.capacity,
                   available_members=duty.available_members, next_change_at=duty.next_change_at)


async def _record_team_changed(session: AsyncConnection, team: Row[Any]) -> None:
    await record_event(
        session,
        outbox,
        TeamChangedV1(
            source=SOURCE,
            correlationid=team.id,
            data=dict(
                team_id=team.id,
                version=team.version,
                name=team.name,
                community=team.community,
                location={"lat": team.lat, "lon": team.lon},
                radius_km=team.radius_km,
                area=team.area,
                skills=team.skills,
                categories=categories_served(team.skills),
                capacity=team.effective_capacity,
                on_duty=team.on_duty,
                next_change_at=team.next_change_at,
                status=team.status,
                chat_url=team.chat_url,
                leader={"name": team.leader_name, "phone": team.leader_phone},
            ),
        ),
    )


def team_view(team: Row[Any]) -> TeamOut:
    return TeamOut(
        id=team.id,
        version=team.version,
        name=team.name,
        community=team.community,
        location={"lat": team.lat, "lon": team.lon},
        radius_km=team.radius_km,
        area=team.area,
        skills=team.skills,
        categories=list(categories_served(team.skills)),
        capacity=team.capacity,
        effective_capacity=team.effective_capacity,
        on_duty=team.on_duty,
        next_change_at=team.next_change_at,
        timezone=team.timezone,
        status=team.status,
        has_chat=team.chat_url is not None,
        leader={"name": team.leader_name, "phone": team.leader_phone},
        created_at=team.created_at,
        updated_at=team.updated_at,
    )
