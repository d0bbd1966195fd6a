"""Volunteers' clock-driven loops: the shift-boundary publisher and the
missing check-in reporter.  Each pass is one transaction (the door)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from shared.runtime import Runtime

from . import service
from .settings import VolunteersSettings

log = logging.getLogger("heartline.volunteers.loops")
BATCH = 100


def register(runtime: Runtime, cfg: VolunteersSettings, clock: Callable[[], datetime]) -> None:
    async def shift_boundaries() -> None:
        """Publishes each team whose scheduled change has come (see
        service.publish_due_transitions); state lives in the database, so a
        restart misses nothing: a change that fell while down goes out at once."""
        while True:
            async with runtime.db.transaction() as session:
                published = await service.publish_due_transitions(session, clock(), cfg, BATCH)
            if published:
                log.info("published %d scheduled team changes", published)
            if published < BATCH:
                await asyncio.sleep(cfg.duty_poll_seconds)

    async def missing_checkins() -> None:
        """Reports members who have not checked in by the reminder time."""
        while True:
            async with runtime.db.transaction() as session:
                reported = await service.report_missing_checkins(session, clock(), cfg)
            if reported:
                log.info("reported %d missing check-ins", reported)
            await asyncio.sleep(cfg.duty_poll_seconds)

    runtime.background(shift_boundaries)
    runtime.background(missing_checkins)
