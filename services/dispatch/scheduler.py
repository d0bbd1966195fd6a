"""Dispatch's clock-driven door: expires offers past their deadline, escalates
requests that waited too long for capacity, reports SLA breaches, and offers
queued requests again when teams change or capacity frees up.  Deadlines live
in the database, so they survive restarts; with several replicas each row is
claimed by one of them (SKIP LOCKED) and handled once."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

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
        self._changed = False
        self._next_escalated_retry = 0.0

    def wake(self) -> None:
        """Teams changed or capacity came free: sweep now, escalated requests too."""
        self._changed = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            await self.sweep()
            await wake_or_timeout(self._wake, self.interval_seconds)

    async def sweep(self) -> None:
        db = self.runtime.db
        now = datetime.now(UTC)
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
        # Escalated requests are matched again when something changed (and
        # now and then regardless), in the same order as the queued ones.
        retry_escalated = self._changed or time.monotonic() >= self._next_escalated_retry
        self._changed = False
        if retry_escalated:
            self._next_escalated_retry = time.monotonic() + self.settings.escalated_retry_seconds
            async with db.transaction() as session:
                waiting = await service.waiting_request_ids(session, self.settings.surge_batch, True)
        else:
            waiting = [(request_id, "queued") for request_id in queued]
        # Most urgent first, each in its own transaction: a team that a request
        # finds at capacity is held for it for the rest of the sweep, so a unit
        # that frees up meanwhile is not taken by a less urgent request behind it.
        held: set[str] = set()
        for request_id, status in waiting:
            async with db.transaction() as session:
                if status == "queued":
                    await service.offer_to_best_team(session, self.settings, request_id, self._index(), held)
                else:
                    await service.retry_escalated(session, self.settings, request_id, self._index(), held)

    def _index(self):
        return self.teams.current() if self.teams is not None else None
