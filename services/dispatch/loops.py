"""Dispatch's timed loop: the queue sweep, which expires offers past their
deadline, escalates requests that waited too long for capacity, reports SLA
breaches, and offers queued requests again when teams change or capacity
frees up.  Deadlines live in the database, so they survive restarts; with
several replicas each row is claimed by one of them (SKIP LOCKED) and handled
once.  The retention sweep removes finished requests' personal data after
DISPATCH_PERSONAL_DATA_DAYS.  (The team index's and the community tree's
reload loops live with them, in team_index.py and communities.py.)"""

from __future__ import annotations

import asyncio
import time

from shared.clock import utcnow
from shared.runtime import Runtime
from shared.waiting import wake_or_timeout

from . import deadlines, offers, retention
from .communities import CommunityDirectory
from .matching import TeamIndex
from .settings import DispatchSettings
from .team_index import TeamCache


class QueueSweeper:
    def __init__(self, runtime: Runtime, settings: DispatchSettings, teams: TeamCache | None = None,
                 communities: CommunityDirectory | None = None) -> None:
        self.runtime = runtime
        self.teams = teams
        self.communities = communities
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
        settings = self.settings
        now = utcnow()
        async with db.transaction() as session:
            await deadlines.expire_offers(session=session, now=now)
        async with db.transaction() as session:
            await deadlines.escalate_overdue(session=session, now=now)
        async with db.transaction() as session:
            await deadlines.report_sla_breaches(session=session, now=now)
        async with db.transaction() as session:
            queued = await offers.queued_request_ids(session=session, limit=settings.surge_batch)
        if len(queued) >= settings.surge_threshold:
            async with db.transaction() as session:
                await offers.assign_surge(session=session, request_ids=queued, settings=settings, index=self._index(),
                                          directory=self.communities)
            async with db.transaction() as session:
                queued = await offers.queued_request_ids(session=session, limit=settings.surge_batch)
        # Escalated requests are matched again when something changed (and
        # now and then regardless), in the same order as the queued ones.
        retry_escalated = self._changed or time.monotonic() >= self._next_escalated_retry
        self._changed = False
        if retry_escalated:
            self._next_escalated_retry = time.monotonic() + settings.escalated_retry_seconds
            async with db.transaction() as session:
                waiting = await offers.waiting_request_ids(session=session, limit=settings.surge_batch,
                                                           with_escalated=True)
        else:
            waiting = [(request_id, "queued") for request_id in queued]
        # Most urgent first, each in its own transaction: a team that a request
        # finds at capacity is held for it for the rest of the sweep, so a unit
        # that frees up meanwhile is not taken by a less urgent request behind it.
        held: set[str] = set()
        for request_id, status in waiting:
            async with db.transaction() as session:
                if status == "queued":
                    await offers.offer_to_best_team(session=session, request_id=request_id, settings=settings,
                                                    index=self._index(), held=held, directory=self.communities)
                else:
                    await offers.retry_escalated(session=session, request_id=request_id, settings=settings,
                                                 index=self._index(), held=held, directory=self.communities)

    def _index(self) -> TeamIndex | None:
        return self.teams.current() if self.teams is not None else None


class RetentionSweeper:
    """Every `retention_sweep_seconds`, removes the personal data of requests
    finished more than `personal_data_days` ago (retention.py), in batches."""

    def __init__(self, runtime: Runtime, settings: DispatchSettings) -> None:
        self.runtime = runtime
        self.settings = settings

    async def run(self) -> None:
        while True:
            await self.sweep()
            await asyncio.sleep(self.settings.retention_sweep_seconds)

    async def sweep(self) -> int:
        """Removes what is due now; how many requests it scrubbed."""
        removed = 0
        while True:
            async with self.runtime.db.transaction() as session:
                done = await retention.remove_personal_data(session=session, now=utcnow(),
                                                            days=self.settings.personal_data_days)
            removed += done
            if done < retention.BATCH:
                return removed
