"""Dispatch's clock-driven door: expires offers past their deadline, escalates
requests that waited too long for capacity, reports SLA breaches, and offers
queued requests again when teams change or capacity frees up.  Deadlines live
in the database, so they survive restarts; with several replicas each row is
claimed by one of them (SKIP LOCKED) and handled once."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from shared.runtime import Runtime
from shared.waiting import wake_or_timeout

from . import service
from .settings import DispatchSettings
from .team_index import TeamCache

log = logging.getLogger("heartline.dispatch.scheduler")


class QueueSweeper:
    def __init__(self, runtime: Runtime, settings: DispatchSettings, teams: TeamCache | None = None) -> None:
        self.runtime = runtime
        self.teams = teams
        self.settings = settings
        self.interval_seconds = settings.sweep_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            await self.sweep()
            await wake_or_timeout(self._wake, self.interval_seconds)

    async def sweep(self) -> None:
        db = self.runtime.db
        now = datetime.now(timezone.utc)
        async with db.transaction() as session:
            await service.expire_offers(session, now)
        async with db.transaction() as session:
            await service.escalate_overdue(session, now)
        async with db.transaction() as session:
            await service.report_sla_breaches(session, now)
        async with db.transaction() as session:
            queued = await service.queued_request_ids(session, self.settings.surge_batch)
        if len(queued) >= self.settings.surge_threshold:
            async with db.transaction() as session:
                await service.assign_surge(session, self.settings, queued, self._index())
            async with db.transaction() as session:
                queued = await service.queued_request_ids(session, self.settings.surge_batch)
        # Most urgent first, each in its own transaction: a team that a request
        # finds at capacity is held for it for the rest of the sweep, so a unit
        # that frees up meanwhile is not taken by a less urgent request behind it.
        held: set[str] = set()
        for request_id in queued:
            async with db.transaction() as session:
                await service.offer_to_best_team(session, self.settings, request_id, self._index(), held)

    def _index(self):
        return self.teams.current() if self.teams is not None else None
