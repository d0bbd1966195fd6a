"""Each replica's in-memory index of teams (matching.TeamIndex), the fast
path of candidate lookup.

Built from the `teams` table at start-up, then kept current by reloading only
the teams whose `change_seq` is past the last one seen: every
`team_reload_seconds` (replicas share the `dispatch-teams` consumer, so this
is how a replica learns of a change another one applied) and at once in the
replica that applied the change itself.

What it holds is a shortlist, never a decision: it has no `open_tasks`
(snapshots carry 0), and the matcher re-reads the shortlisted teams' rows
before offering, and reserves a unit only if the row is still the version it
checked (store.reserve_capacity).  If the index was not brought up to date
within `team_index_max_age_seconds` (database unreachable, loop starved),
`current()` answers None and the matcher reads the database instead, so the
staleness of what it shortlists is bounded."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Row

from shared.db import Database
from shared.waiting import wake_or_timeout

from . import store
from .matching import TeamIndex
from .settings import DispatchSettings
from .teams import index_snapshot

log = logging.getLogger("heartline.dispatch.team_index")

_BUILD_SLICE = 50  # teams indexed between yields to the event loop while building


class TeamCache:
    def __init__(self, db: Database, settings: DispatchSettings) -> None:
        self.db = db
        self.enabled = settings.team_index
        self.reload_seconds = settings.team_reload_seconds
        self.max_age_seconds = settings.team_index_max_age_seconds
        self.index: TeamIndex | None = None
        self.change_seq = -1  # the last change applied; -1: nothing loaded yet
        self.refreshed_at: float | None = None  # monotonic time of the last reload's read
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.built = asyncio.Event()  # the first full build is done (or there is no index)
        if not self.enabled:
            self.built.set()

    def current(self) -> TeamIndex | None:
        """The index if it is up to date within the bound, else None (read the database)."""
        if self.index is None or self.refreshed_at is None:
            return None
        if time.monotonic() - self.refreshed_at > self.max_age_seconds:
            return None
        return self.index

    async def refresh(self) -> int:
        """Applies the teams changed since the last reload; how many there were."""
        async with self._lock:
            applied, catching_up = 0, True
            while catching_up:
                read_at = time.monotonic()
                async with self.db.transaction() as session:
                    rows = await store.teams_changed_since(session, self.change_seq)
                # Building takes seconds: once built, catch up on what changed meanwhile.
                catching_up = self.index is None
                if self.index is None:
                    self.index = await _build(rows)
                    self.built.set()
                    log.info("team index built: %d teams in %.1fs", len(self.index.teams),
                             time.monotonic() - read_at)
                else:
                    for row in rows:
                        _apply(self.index, row)
                if rows:
                    self.change_seq = max(self.change_seq, rows[-1].change_seq)
                self.refreshed_at = read_at
                applied += len(rows)
            return applied

    async def refresh_now(self) -> None:
        """After this replica applied a team change: into the index at once
        (if the read fails, the loop catches up)."""
        if not self.enabled:
            return
        if self.index is None:  # still being built (it catches up after): don't hold the handler
            return
        try:
            await self.refresh()
        except Exception as exc:
            log.warning("team index: reload after a change failed (%s); the loop retries", exc)
            self._wake.set()

    async def run(self) -> None:
        if not self.enabled:
            return
        while True:
            self._wake.clear()
            try:
                await self.refresh()
            except Exception as exc:  # the database is away: current() falls back once stale
                log.warning("team index: reload failed (%s: %s)", type(exc).__name__, exc)
            await wake_or_timeout(self._wake, self.reload_seconds)


async def _build(rows: Sequence[Row[Any]]) -> TeamIndex:
    index = TeamIndex()
    for start in range(0, len(rows), _BUILD_SLICE):
        for row in rows[start:start + _BUILD_SLICE]:
            _apply(index, row)
        await asyncio.sleep(0)  # 100,000 teams take tens of seconds: keep serving meanwhile
    return index


def _apply(index: TeamIndex, row: Row[Any]) -> None:
    if row.status == "deleted":
        index.discard(row.id)
    else:
        index.add(index_snapshot(row))
