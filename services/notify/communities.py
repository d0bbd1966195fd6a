"""Communities, districts and cities as volunteers publishes them, and the
tree of them that says which coordinator covers what.  Each replica keeps the
tree in memory: reloaded after it applies a change itself, and after a short
while in any case (another replica may have applied one)."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import CommunityChangedV1
from shared.scope import CommunityTree

from . import store


class CommunityDirectory:
    """This replica's copy of the community tree."""

    def __init__(self, max_age_seconds: float) -> None:
        self.max_age_seconds = max_age_seconds
        self._tree: CommunityTree | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        """The next read loads the tree again (call it after a change is committed)."""
        self._tree = None

    async def tree(self, session: AsyncConnection) -> CommunityTree:
        """The tree, loaded again when it is stale."""
        now = time.monotonic()
        if self._tree is None or now - self._loaded_at > self.max_age_seconds:
            self._tree = CommunityTree(await store.community_parents(session))
            self._loaded_at = now
        return self._tree


async def keep_community(*, session: AsyncConnection, event: CommunityChangedV1) -> bool:
    """Keeps a community's newest state (an older version is ignored); True when it changed."""
    community = event.data
    return await store.upsert_community(session, dict(
        code=community.code, version=community.version, level=community.level, parent=community.parent,
        name_zh=community.name_zh, name_en=community.name_en, timezone=community.timezone,
        boundary=community.boundary, hotline=community.hotline, status=community.status,
        changed_at=community.changed_at))
