"""Volunteers' use cases.  They never commit: the caller's transaction does.
Every use case that depends on the time takes `now` (the app's clock), so the
shift-boundary publisher and the tests can drive time."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import MemberCheckinMissingV1, RequestReceivedV1, RequestStatusChangedV1, TeamChangedV1
from shared.http import FieldError, Principal, Problem, issue_coordinator_token, not_found
from shared.outbox import record_event

from . import shifts, store
from .duty import Duty, MemberState, is_fit, member_on_shift, team_duty
from .models import outbox
from .schemas import (
    CheckinOut,
    DutyOut,
    MemberIn,
    MemberOut,
    MemberPatch,
    MoveOut,
    ScheduleIn,
    ScheduleOut,
    TeamIn,
    TeamOut,
    TeamPatch,
)
from .settings import VolunteersSettings
from .skills import categories_served

SOURCE = "heartline/volunteers"
POINTS_CONSUMER = "volunteers-points"
FACTS_CONSUMER = "volunteers-request-facts"


def _require_community(principal: Principal, community: str) -> None:
    if not principal.may_act_for(community):
        raise Problem(403, "Forbidden", f"you do not coordinate community {community!r}")


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Problem(403, "Forbidden", "only an admin may do this")


def mask_phone(phone: str) -> str:
    """+8613900139000 → +86139****9000: enough to recognise, not to call."""
    keep_head = min(6, max(len(phone) - 4, 0))
    return phone[:keep_head] + "*" * max(len(phone) - keep_head - 4, 0) + phone[-4:]


async def _savepoint_insert(session: AsyncConnection, insert, values: dict, conflict: Problem) -> None:
    """Runs `insert(session, values)`; a unique-key clash becomes `conflict`
    without spoiling the surrounding transaction."""
    try:
        async with session.begin_nested():
            await insert(session, values)
    except IntegrityError:
        raise conflict from None


# --- teams: state, duty and the published event ----------------------------------


def _zone(row) -> ZoneInfo:
    return ZoneInfo(row.timezone)


def schedule_of(row) -> shifts.Schedule:
    return shifts.from_document(row.schedule, _zone(row))


async def compute_duty(session: AsyncConnection, row, at: datetime, cfg: VolunteersSettings) -> Duty:
    """The team's duty at `at` from its schedule, active members and check-ins."""
    active = await store.team_members(session, row.id, active_only=True)
    latest = await store.latest_checkins(session, [m.id for m in active])
    today = shifts.local_day(_zone(row), at)
    states = [
        MemberState(
            m.shift_group,
            is_fit(latest[m.id].status if m.id in latest else None,
                   latest[m.id].day if m.id in latest else None, today, cfg.require_checkin),
        )
        for m in active
    ]
    return team_duty(schedule_of(row), row.capacity, states, at,
                     tasks_per_member=cfg.tasks_per_member, require_checkin=cfg.require_checkin)


async def refresh_team(session: AsyncConnection, row, now: datetime, cfg: VolunteersSettings, *,
                       changed: dict | None = None, force: bool = False):
    """Applies `changed` columns, recomputes duty, and — when anything the team
    event carries changed (or `force`) — bumps the version and records the event.
    Returns the fresh row."""
    values = dict(changed or {})
    before = row
    if values:
        await store.update_team(session, row.id, values)
        row = await store.get_team(session, row.id)
    duty = await compute_duty(session, row, now, cfg)
    state = dict(effective_capacity=duty.capacity, on_duty=duty.on_duty,
                 next_change_at=None if row.status == "deleted" else duty.next_change_at)
    moved = any(_differs(getattr(before, k), v) for k, v in state.items())
    if not (values or moved or force):
        return row
    await store.update_team(session, row.id, dict(state, version=before.version + 1, updated_at=now))
    fresh = await store.get_team(session, row.id)
    await _publish_change(session, fresh)
    return fresh


def _differs(old, new) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):
        return old.astimezone(UTC) != new.astimezone(UTC)
    return old != new


async def create_team(session: AsyncConnection, principal: Principal, body: TeamIn,
                      now: datetime, cfg: VolunteersSettings) -> TeamOut:
    _require_community(principal, body.community)
    values = dict(
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
        chat_url=body.chat_url,
        leader_name=body.leader.name,
        leader_phone=body.leader.phone,
        timezone=body.timezone or cfg.default_timezone,
        schedule=body.schedule.model_dump(mode="json") if body.schedule else None,
        created_at=now,
        updated_at=now,
    )
    schedule = shifts.from_document(values["schedule"], ZoneInfo(values["timezone"]))
    duty = team_duty(schedule, body.capacity, [], now, tasks_per_member=cfg.tasks_per_member,
                     require_checkin=cfg.require_checkin)
    values.update(effective_capacity=duty.capacity, on_duty=duty.on_duty, next_change_at=duty.next_change_at)
    await store.insert_team(session, values)
    row = await store.get_team(session, values["id"])
    await _publish_change(session, row)
    return team_view(row)


async def _team_for_change(session: AsyncConnection, principal: Principal, team_id: str):
    row = await store.get_team(session, team_id, for_update=True)
    if row is None or row.status == "deleted":
        raise not_found(f"team {team_id}")
    _require_community(principal, row.community)
    return row


async def update_team(session: AsyncConnection, principal: Principal, team_id: str, patch: TeamPatch,
                      now: datetime, cfg: VolunteersSettings) -> TeamOut:
    row = await _team_for_change(session, principal, team_id)
    values: dict = {}
    for key in patch.model_fields_set:
        value = getattr(patch, key)
        if key == "location":
            values.update(lat=value.lat, lon=value.lon)
        elif key == "leader":
            values.update(leader_name=value.name, leader_phone=value.phone)
        elif key == "area":
            values["area"] = value  # null: back to the radius circle
        elif value is None:
            raise Problem(422, "Invalid request", f"{key} cannot be null",
                          [FieldError(key, "cannot be null")])
        else:
            values[key] = value
    if values:
        row = await refresh_team(session, row, now, cfg, changed=values)
    return team_view(row)


async def delete_team(session: AsyncConnection, principal: Principal, team_id: str,
                      now: datetime, cfg: VolunteersSettings) -> None:
    row = await _team_for_change(session, principal, team_id)
    await refresh_team(session, row, now, cfg, changed={"status": "deleted"})


async def get_team(session: AsyncConnection, team_id: str) -> TeamOut:
    return team_view(await _live_team(session, team_id))


async def _live_team(session: AsyncConnection, team_id: str):
    row = await store.get_team(session, team_id)
    if row is None or row.status == "deleted":
        raise not_found(f"team {team_id}")
    return row


async def list_teams(session: AsyncConnection, community: str | None, limit: int, offset: int) -> list[TeamOut]:
    return [team_view(r) for r in await store.list_teams(session, community, limit, offset)]


async def put_schedule(session: AsyncConnection, principal: Principal, team_id: str, body: ScheduleIn,
                       now: datetime, cfg: VolunteersSettings) -> ScheduleOut:
    row = await _team_for_change(session, principal, team_id)
    document = body.model_dump(mode="json")
    row = await refresh_team(session, row, now, cfg, changed={"schedule": document})
    return ScheduleOut(timezone=row.timezone, **document)


async def get_schedule(session: AsyncConnection, team_id: str) -> ScheduleOut:
    row = await _live_team(session, team_id)
    return ScheduleOut(timezone=row.timezone, **(row.schedule or {}))


async def duty_at(session: AsyncConnection, team_id: str, at: datetime, cfg: VolunteersSettings) -> DutyOut:
    row = await _live_team(session, team_id)
    duty = await compute_duty(session, row, at, cfg)
    return DutyOut(at=at, on_duty=duty.on_duty, capacity=duty.capacity,
                   available_members=duty.available_members, next_change_at=duty.next_change_at)


async def publish_due_transitions(session: AsyncConnection, now: datetime, cfg: VolunteersSettings,
                                  limit: int = 100) -> int:
    """Shift boundaries (and the check-in day rolling over): every team whose
    stored next_change_at has come is recomputed and published with a new
    version.  Rows are claimed with SKIP LOCKED, so among replicas one
    publishes each change.  Returns how many teams were published."""
    due = await store.claim_due_teams(session, now, limit)
    for row in due:
        await refresh_team(session, row, now, cfg, force=True)
    return len(due)


async def _publish_change(session: AsyncConnection, row) -> None:
    await record_event(
        session,
        outbox,
        TeamChangedV1(
            source=SOURCE,
            correlationid=row.id,
            data=dict(
                team_id=row.id,
                version=row.version,
                name=row.name,
                community=row.community,
                location={"lat": row.lat, "lon": row.lon},
                radius_km=row.radius_km,
                area=row.area,
                skills=row.skills,
                categories=categories_served(row.skills),
                capacity=row.effective_capacity,
                on_duty=row.on_duty,
                next_change_at=row.next_change_at,
                status=row.status,
                chat_url=row.chat_url,
                leader={"name": row.leader_name, "phone": row.leader_phone},
            ),
        ),
    )


def team_view(row) -> TeamOut:
    return TeamOut(
        id=row.id,
        version=row.version,
        name=row.name,
        community=row.community,
        location={"lat": row.lat, "lon": row.lon},
        radius_km=row.radius_km,
        area=row.area,
        skills=row.skills,
        categories=list(categories_served(row.skills)),
        capacity=row.capacity,
        effective_capacity=row.effective_capacity,
        on_duty=row.on_duty,
        next_change_at=row.next_change_at,
        timezone=row.timezone,
        status=row.status,
        chat_url=row.chat_url,
        leader={"name": row.leader_name, "phone": row.leader_phone},
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# --- members ---------------------------------------------------------------------


def _phone_taken(phone: str) -> Problem:
    return Problem(409, "Conflict", f"a member with phone {mask_phone(phone)} already exists",
                   [FieldError("phone", "already registered to a member")])


async def add_member(session: AsyncConnection, principal: Principal, team_id: str, body: MemberIn,
                     now: datetime, cfg: VolunteersSettings) -> MemberOut:
    team = await _team_for_change(session, principal, team_id)
    member_id = await _insert_member(session, team.id, body, principal, now, reason="joined")
    await refresh_team(session, team, now, cfg)
    return await _member_view(session, principal, await store.get_member(session, member_id), team, cfg, now)


async def _insert_member(session: AsyncConnection, team_id: str, body: MemberIn, principal: Principal,
                         now: datetime, reason: str) -> str:
    if await store.member_by_phone(session, body.phone):
        raise _phone_taken(body.phone)
    member_id = str(uuid4())
    await _savepoint_insert(session, store.insert_member, dict(
        id=member_id, team_id=team_id, name=body.name, phone=body.phone, skills=body.skills,
        duty=body.duty, shift_group=body.group, active=body.active, locale=body.locale,
        checkin_key=secrets.token_urlsafe(24), created_at=now, updated_at=now,
    ), _phone_taken(body.phone))
    await store.insert_move(session, dict(id=str(uuid4()), member_id=member_id, from_team_id=None,
                                          to_team_id=team_id, reason=reason, moved_by=principal.subject,
                                          moved_at=now))
    return member_id


async def list_members(session: AsyncConnection, principal: Principal, team_id: str,
                       cfg: VolunteersSettings, now: datetime) -> list[MemberOut]:
    team = await _live_team(session, team_id)
    rows = await store.team_members(session, team.id)
    latest = await store.latest_checkins(session, [m.id for m in rows])
    return [_member_out(principal, m, team, latest.get(m.id), cfg, now) for m in rows]


async def get_member(session: AsyncConnection, principal: Principal, member_id: str,
                     cfg: VolunteersSettings, now: datetime) -> MemberOut:
    member = await _member(session, member_id)
    team = await store.get_team(session, member.team_id)
    return await _member_view(session, principal, member, team, cfg, now)


async def _member(session: AsyncConnection, member_id: str, *, for_update: bool = False):
    member = await store.get_member(session, member_id, for_update=for_update)
    if member is None:
        raise not_found(f"member {member_id}")
    return member


async def update_member(session: AsyncConnection, principal: Principal, member_id: str, patch: MemberPatch,
                        now: datetime, cfg: VolunteersSettings) -> MemberOut:
    member = await _member(session, member_id, for_update=True)
    team = await _team_for_change(session, principal, member.team_id)
    values: dict = {}
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
        await refresh_team(session, team, now, cfg)
    return await _member_view(session, principal, await store.get_member(session, member.id),
                              await store.get_team(session, team.id), cfg, now)


async def move_member(session: AsyncConnection, principal: Principal, member_id: str, to_team_id: str,
                      reason: str | None, now: datetime, cfg: VolunteersSettings) -> MemberOut:
    """Moves a member to another team (one team at a time); the move is recorded
    and both teams' state is republished if it changed."""
    member = await _member(session, member_id, for_update=True)
    source = await _team_for_change(session, principal, member.team_id)
    target = await _team_for_change(session, principal, to_team_id)
    if target.id == source.id:
        raise Problem(409, "Conflict", "the member is already in that team")
    await store.update_member(session, member.id, {"team_id": target.id, "updated_at": now})
    await store.insert_move(session, dict(id=str(uuid4()), member_id=member.id, from_team_id=source.id,
                                          to_team_id=target.id, reason=reason, moved_by=principal.subject,
                                          moved_at=now))
    await refresh_team(session, source, now, cfg)
    target = await refresh_team(session, target, now, cfg)
    return await _member_view(session, principal, await store.get_member(session, member.id), target, cfg, now)


async def member_moves(session: AsyncConnection, member_id: str) -> list[MoveOut]:
    await _member(session, member_id)
    return [MoveOut(**row._mapping) for row in await store.member_moves_of(session, member_id)]


async def _member_view(session: AsyncConnection, principal: Principal, member, team,
                       cfg: VolunteersSettings, now: datetime) -> MemberOut:
    latest = await store.latest_checkins(session, [member.id])
    return _member_out(principal, member, team, latest.get(member.id), cfg, now)


def _member_out(principal: Principal, member, team, checkin, cfg: VolunteersSettings, now: datetime) -> MemberOut:
    trusted = principal.may_act_for(team.community)
    today = shifts.local_day(_zone(team), now)
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
                   today, cfg.require_checkin),
        checkin_url=f"/checkin/{member.checkin_key}" if trusted else None,
        created_at=member.created_at,
        updated_at=member.updated_at,
    )


# --- health check-ins ------------------------------------------------------------


async def check_in(session: AsyncConnection, member, status: str, channel: str,
                   now: datetime, cfg: VolunteersSettings) -> CheckinOut:
    """Records today's (community-local) check-in; the team's capacity and
    on-duty state follow, and a changed state is published."""
    team = await store.get_team(session, member.team_id, for_update=True)
    day = shifts.local_day(_zone(team), now)
    await store.upsert_checkin(session, dict(member_id=member.id, day=day, status=status,
                                             channel=channel, checked_at=now))
    if team.status != "deleted":
        await refresh_team(session, team, now, cfg)
    return CheckinOut(day=day, status=status, channel=channel, checked_at=now)


async def check_in_by_coordinator(session: AsyncConnection, principal: Principal, member_id: str, status: str,
                                  now: datetime, cfg: VolunteersSettings) -> CheckinOut:
    member = await _member(session, member_id)
    team = await store.get_team(session, member.team_id)
    _require_community(principal, team.community)
    return await check_in(session, member, status, "api", now, cfg)


async def member_for_checkin_key(session: AsyncConnection, key: str):
    member = await store.member_by_checkin_key(session, key) if key else None
    if member is None:
        raise not_found("check-in link")
    return member


# --- coordinators ----------------------------------------------------------------


async def create_coordinator(session: AsyncConnection, principal: Principal, body, secret: str | None,
                             now: datetime, cfg: VolunteersSettings) -> dict:
    _require_admin(principal)
    _require_secret(secret)
    values = dict(id=str(uuid4()), name=body.name, phone=body.phone, role=body.role,
                  communities=sorted(set(body.communities)), created_by=principal.subject, created_at=now)
    await store.insert_coordinator(session, values)
    return {**_coordinator_view(values), **_token(values, secret, cfg)}


async def reissue_token(session: AsyncConnection, principal: Principal, coordinator_id: str,
                        secret: str | None, cfg: VolunteersSettings) -> dict:
    _require_admin(principal)
    _require_secret(secret)
    row = await store.get_coordinator(session, coordinator_id)
    if row is None:
        raise not_found(f"coordinator {coordinator_id}")
    return {**_coordinator_view(row._mapping), **_token(row._mapping, secret, cfg)}


async def list_coordinators(session: AsyncConnection, principal: Principal) -> list[dict]:
    _require_admin(principal)
    return [_coordinator_view(r._mapping) for r in await store.list_coordinators(session)]


def _require_secret(secret: str | None) -> None:
    if not secret:
        raise Problem(503, "Token issuing not configured",
                      "issuing coordinator tokens needs HEARTLINE_TOKEN_SECRET set on every service")


def _token(values, secret: str, cfg: VolunteersSettings) -> dict:
    ttl = timedelta(days=cfg.coordinator_token_days)
    token = issue_coordinator_token(secret, f"coordinator:{values['id']}", values["role"],
                                    values["communities"], ttl)
    return {"token": token, "token_expires_in_days": cfg.coordinator_token_days}


def _coordinator_view(values) -> dict:
    return {k: values[k] for k in ("id", "name", "phone", "role", "communities", "created_at")}


# --- points ----------------------------------------------------------------------
#
# How a completion becomes points: dispatch says a request is done with the
# team and assignment.  The points for it are the configured rule for the
# request's category and urgency (learned from intake's aid.request.received.v1;
# unknown → the default points and no multiplier).  Every member of the team
# who was available at completion (active, on shift at `changed_at`, fit by
# the check-in rule) earns those points in full; if nobody was available by
# that reckoning (e.g. nobody checked in), every active member does.  Each
# entry's key is assignment:<assignment>:<member>, unique in the ledger, so a
# redelivered or repeated "done" never counts twice.


async def record_request_facts(session: AsyncConnection, event: RequestReceivedV1) -> None:
    data = event.data
    await store.upsert_request_fact(session, dict(request_id=str(data.request_id), category=data.category,
                                                  urgency=data.urgency, received_at=data.received_at))


async def award_completion(session: AsyncConnection, event: RequestStatusChangedV1, cfg: VolunteersSettings) -> int:
    """Points for a done assignment; returns how many ledger entries were added."""
    data = event.data
    if data.status != "done" or data.team_id is None or data.assignment_id is None:
        return 0
    team = await store.get_team(session, str(data.team_id))
    if team is None:
        return 0
    fact = await store.get_request_fact(session, str(data.request_id))
    category, urgency = (fact.category, fact.urgency) if fact else (None, None)
    points = cfg.points_rules.points_for(category, urgency)
    active = await store.team_members(session, team.id, active_only=True)
    if not active or points == 0:
        return 0
    at = data.changed_at if data.changed_at.tzinfo else data.changed_at.replace(tzinfo=UTC)
    schedule = schedule_of(team)
    covered = shifts.coverage(schedule, at)
    latest = await store.latest_checkins(session, [m.id for m in active])
    today = shifts.local_day(_zone(team), at)
    available = [
        m for m in active
        if member_on_shift(covered, schedule.groups, m.shift_group)
        and is_fit(latest[m.id].status if m.id in latest else None,
                   latest[m.id].day if m.id in latest else None, today, cfg.require_checkin)
    ]
    recipients = available or active
    what = f"{category or 'unknown category'}, {urgency or 'unknown urgency'}"
    reason = (f"request {data.request_id} done by team {team.name} ({what}); "
              f"{'on duty at completion' if available else 'shared by the whole team: nobody was on duty'}")
    added = 0
    for m in recipients:
        added += await store.add_points(session, dict(
            id=str(uuid4()), member_id=m.id, team_id=team.id, community=team.community, points=points,
            reason=reason, source_key=f"assignment:{data.assignment_id}:{m.id}", created_by=SOURCE,
            created_at=data.changed_at,
        ))
    return added


async def adjust_points(session: AsyncConnection, principal: Principal, member_id: str, points: int,
                        reason: str, now: datetime) -> dict:
    member = await _member(session, member_id)
    team = await store.get_team(session, member.team_id)
    _require_community(principal, team.community)
    entry = dict(id=str(uuid4()), member_id=member.id, team_id=team.id, community=team.community,
                 points=points, reason=f"adjustment: {reason}", source_key=f"adjustment:{uuid4()}",
                 created_by=principal.subject, created_at=now)
    await store.add_points(session, entry)
    return entry


async def points_of(session: AsyncConnection, member_id: str) -> dict:
    await _member(session, member_id)
    entries = [dict(r._mapping) for r in await store.ledger_of(session, member_id)]
    return {"member_id": member_id, "total": sum(e["points"] for e in entries), "entries": entries}


async def leaderboard(session: AsyncConnection, community: str, limit: int) -> list[dict]:
    rows = await store.leaderboard(session, community, limit)
    return [{"rank": i, "member_id": r.id, "name": r.name, "team_id": r.team_id, "points": int(r.points)}
            for i, r in enumerate(rows, start=1)]


# --- self-registration (the QR "call-up") ---------------------------------------


def _already_registered(existing_id: str | None, what: str) -> Problem:
    extra = {"registration_id": existing_id} if existing_id else {}
    return Problem(409, "Already registered", f"this phone number {what}",
                   [FieldError("phone", what)], **extra)


async def register(session: AsyncConnection, body, now: datetime) -> dict:
    """A public registration, pending until a coordinator decides.  One phone
    registers once: a second try while the first is pending or approved, or by
    someone already a member, is a 409 (after a rejection one may try again)."""
    if await store.member_by_phone(session, body.phone):
        raise _already_registered(None, "already belongs to a team member")
    existing = await store.open_registration_by_phone(session, body.phone)
    if existing is not None:
        raise _already_registered(existing.id, f"already has a {existing.status} registration")
    values = dict(id=str(uuid4()), name=body.name, phone=body.phone, skills=body.skills,
                  community=body.community, availability=body.availability, status="pending",
                  created_at=now)
    # The partial unique index settles two registrations racing each other.
    await _savepoint_insert(session, store.insert_registration, values,
                            _already_registered(None, "already has a registration"))
    return dict((await store.get_registration(session, values["id"]))._mapping)


async def list_registrations(session: AsyncConnection, principal: Principal, community: str | None,
                             status: str | None, limit: int, offset: int) -> list[dict]:
    if community is not None:
        _require_community(principal, community)
        scope = frozenset({community})
    else:
        scope = None if principal.is_admin else principal.communities
    rows = await store.list_registrations(session, scope, status, limit, offset)
    return [dict(r._mapping) for r in rows]


async def _pending_registration(session: AsyncConnection, principal: Principal, registration_id: str):
    row = await store.get_registration(session, registration_id, for_update=True)
    if row is None:
        raise not_found(f"registration {registration_id}")
    _require_community(principal, row.community)
    if row.status != "pending":
        raise Problem(409, "Conflict", f"the registration is already {row.status}")
    return row


async def approve_registration(session: AsyncConnection, principal: Principal, registration_id: str, body,
                               now: datetime, cfg: VolunteersSettings) -> dict:
    """Makes the registrant a member of a team (of a community the caller coordinates)."""
    row = await _pending_registration(session, principal, registration_id)
    team = await _team_for_change(session, principal, str(body.team_id))
    member = MemberIn(name=row.name, phone=row.phone, skills=row.skills, duty=body.duty, group=body.group)
    member_id = await _insert_member(session, team.id, member, principal, now, reason=f"registration {row.id}")
    await store.update_registration(session, row.id, dict(status="approved", member_id=member_id, team_id=team.id,
                                                          decided_by=principal.subject, decided_at=now))
    await refresh_team(session, team, now, cfg)
    return dict((await store.get_registration(session, row.id))._mapping)


async def reject_registration(session: AsyncConnection, principal: Principal, registration_id: str, reason: str,
                              now: datetime) -> dict:
    row = await _pending_registration(session, principal, registration_id)
    await store.update_registration(session, row.id, dict(status="rejected", reason=reason,
                                                          decided_by=principal.subject, decided_at=now))
    return dict((await store.get_registration(session, row.id))._mapping)


# --- bulk CSV import and export ----------------------------------------------------


async def import_csv(session: AsyncConnection, principal: Principal, kind: str, text: str,
                     now: datetime, cfg: VolunteersSettings) -> dict:
    """Imports every row or none: all rows are checked first (shape, rights,
    references, duplicates) and any problem is a 422 listing every bad row;
    the writes then share the caller's one transaction."""
    from . import bulk

    parsed = bulk.parse(kind, text)
    errors = list(parsed.errors)
    teams_by_name: dict[tuple[str, str], object] = {}
    phones: dict[str, int] = {}
    for number, raw, model in parsed.rows:
        community = raw.get("community") or ""
        if not principal.may_act_for(community):
            errors.append(bulk.RowError(number, "community", f"you do not coordinate community {community!r}"))
            continue
        if kind in ("members", "shifts"):
            key = (community, raw.get("team") or "")
            if key not in teams_by_name:
                teams_by_name[key] = await store.team_by_name(session, *key)
            if teams_by_name[key] is None:
                errors.append(bulk.RowError(number, "team", f"no team {key[1]!r} in community {community!r}"))
        if kind == "members":
            if model.phone in phones:
                errors.append(bulk.RowError(number, "phone", f"same phone as row {phones[model.phone]}"))
            elif await store.member_by_phone(session, model.phone):
                errors.append(bulk.RowError(number, "phone", "already registered to a member"))
            phones.setdefault(model.phone, number)
    if errors:
        raise Problem(422, "Invalid CSV", f"{len(errors)} problem(s); nothing was imported",
                      [FieldError(f"row {e.row}.{e.field}", e.reason) for e in errors],
                      row_errors=[{"row": e.row, "field": e.field, "reason": e.reason} for e in errors])
    if kind == "teams":
        for _, _, model in parsed.rows:
            await create_team(session, principal, model, now, cfg)
    elif kind == "members":
        for _, raw, model in parsed.rows:
            team = teams_by_name[(raw["community"], raw["team"])]
            await _insert_member(session, team.id, model, principal, now, reason="csv import")
    else:
        additions: dict[str, dict] = {}
        for _, raw, model in parsed.rows:
            team = teams_by_name[(raw["community"], raw["team"])]
            document = additions.setdefault(team.id, dict(team.schedule or {}))
            part = {"weekly": "weekly", "one_off": "one_off", "exception": "exceptions"}[raw["kind"]]
            document[part] = [*document.get(part, []), model.model_dump(mode="json")]
        for document in additions.values():
            if sum(len(document.get(p, [])) for p in ("weekly", "one_off", "exceptions")) > 1200:
                raise Problem(422, "Invalid CSV", "a team's schedule would exceed 1200 parts; nothing was imported")
    for team in {t.id: t for t in teams_by_name.values() if t is not None}.values():
        fresh = await store.get_team(session, team.id, for_update=True)
        changed = {"schedule": additions[team.id]} if kind == "shifts" and team.id in additions else None
        await refresh_team(session, fresh, now, cfg, changed=changed)
    return {"kind": kind, "imported": len(parsed.rows)}


async def export_csv(session: AsyncConnection, principal: Principal, kind: str, community: str | None) -> str:
    from . import bulk

    teams = await store.list_teams(session, community, 100_000, 0)
    rows: list[dict] = []
    for team in teams:
        if kind == "teams":
            rows.append(dict(name=team.name, community=team.community, lat=team.lat, lon=team.lon,
                             radius_km=team.radius_km, skills=" ".join(team.skills), capacity=team.capacity,
                             leader_name=team.leader_name, leader_phone=team.leader_phone,
                             chat_url=team.chat_url, timezone=team.timezone, status=team.status))
        elif kind == "members":
            trusted = principal.may_act_for(team.community)
            for m in await store.team_members(session, team.id):
                rows.append(dict(community=team.community, team=team.name, name=m.name,
                                 phone=m.phone if trusted else mask_phone(m.phone), skills=" ".join(m.skills),
                                 duty=m.duty, group=m.shift_group, active=str(m.active).lower(), locale=m.locale))
        else:
            document = team.schedule or {}
            base = dict(community=team.community, team=team.name)
            for w in document.get("weekly", []):
                rows.append({**base, "kind": "weekly", **w})
            for kind_name, part in (("one_off", "one_off"), ("exception", "exceptions")):
                for i in document.get(part, []):
                    rows.append({**base, "kind": kind_name, **i})
    return bulk.write(kind, rows)


# --- missing check-ins ---------------------------------------------------------------


async def report_missing_checkins(session: AsyncConnection, now: datetime, cfg: VolunteersSettings) -> int:
    """For each team whose local time of day is past the reminder time, every
    active member without a check-in today is reported once
    (aid.member.checkin_missing.v1; notify sends the reminder).  The
    (member, day) claim makes it once per member per day across restarts and
    replicas.  Returns how many were reported."""
    reported = 0
    for team in await store.teams_with_active_members(session):
        local_now = now.astimezone(_zone(team))
        if local_now.time() < cfg.checkin_reminder_at:
            continue
        day = local_now.date()
        for m in await store.members_to_remind(session, team.id, day):
            if not await store.claim_reminder(session, m.id, day, now):
                continue
            await record_event(session, outbox, MemberCheckinMissingV1(
                source=SOURCE, correlationid=m.id,
                data=dict(member_id=m.id, team_id=team.id, name=m.name, phone=m.phone, locale=m.locale, day=day),
            ))
            reported += 1
    return reported
