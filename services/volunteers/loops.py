"""Volunteers' timed loops: the shift-boundary publisher, the missing
check-in reporter and the retention of personal data, with the use case each pass runs.  Each pass is one
transaction (the door); state lives in the database, so a restart misses nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import MemberCheckinMissingV1
from shared.outbox import record_event
from shared.runtime import Runtime

from . import store
from .models import SOURCE, outbox
from .settings import VolunteersSettings
from .teams import refresh_team, zone_of

log = logging.getLogger("heartline.volunteers.loops")
BATCH = 100


async def publish_due_transitions(*, session: AsyncConnection, settings: VolunteersSettings, now: datetime,
                                  limit: int = BATCH) -> int:
    """Shift boundaries (and the check-in day rolling over): every team whose
    stored next_change_at has come is recomputed and published with a new
    version.  Rows are claimed with SKIP LOCKED, so among replicas one
    publishes each change.  Returns how many teams were published."""
    due = await store.claim_due_teams(session, now, limit)
    for team in due:
        await refresh_team(session, team, now, settings, force=True)
    return len(due)


async def report_missing_checkins(*, session: AsyncConnection, settings: VolunteersSettings, now: datetime) -> int:
    """For each team whose local time of day is past the reminder time, every
    active member without a check-in today is reported once
    (aid.member.checkin_missing.v1; notify sends the reminder).  The
    (member, day) claim makes it once per member per day across restarts and
    replicas.  Returns how many were reported."""
    reported = 0
    for team in await store.teams_with_active_members(session):
        local_now = now.astimezone(zone_of(team))
        if local_now.time() < settings.checkin_reminder_at:
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


async def forget_personal_data(*, session: AsyncConnection, settings: VolunteersSettings, now: datetime) -> int:
    """Retention: `personal_data_days` after a registration is decided (or left
    pending), its name, phone and availability go; health check-ins older than
    that go; spent form-token nonces go once expired.  What statistics need
    (community, skills, status, times) stays.  Returns how many records changed."""
    cutoff = now - timedelta(days=settings.personal_data_days)
    erased = await store.erase_old_registrations(session, cutoff)
    erased += await store.delete_old_checkins(session, cutoff.date())
    await store.prune_form_nonces(session, now)
    return erased


def register(runtime: Runtime, settings: VolunteersSettings, clock: Callable[[], datetime]) -> None:
    async def shift_boundaries() -> None:
        """Publishes each team whose scheduled change has come; a change that
        fell while the service was down goes out at once."""
        while True:
            async with runtime.db.transaction() as session:
                published = await publish_due_transitions(session=session, settings=settings, now=clock())
            if published:
                log.info("published %d scheduled team changes", published)
            if published < BATCH:
                await asyncio.sleep(settings.duty_poll_seconds)

    async def missing_checkins() -> None:
        """Reports members who have not checked in by the reminder time."""
        while True:
            async with runtime.db.transaction() as session:
                reported = await report_missing_checkins(session=session, settings=settings, now=clock())
            if reported:
                log.info("reported %d missing check-ins", reported)
            await asyncio.sleep(settings.duty_poll_seconds)

    async def retention() -> None:
        """Forgets personal data past its retention period."""
        while True:
            async with runtime.db.transaction() as session:
                erased = await forget_personal_data(session=session, settings=settings, now=clock())
            if erased:
                log.info("retention: %d records cleared of personal data", erased)
            await asyncio.sleep(settings.retention_poll_seconds)

    runtime.background(shift_boundaries)
    runtime.background(retention)
    runtime.background(missing_checkins)
