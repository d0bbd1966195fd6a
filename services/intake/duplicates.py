"""Recognising the same need arriving twice through different channels (a
partner app and the hotline, say): same phone, same category, close by,
within a time window.  Such a request is linked to the earlier one, never
merged or dropped: a coordinator decides."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.geo import distance_m


@dataclass(frozen=True)
class Earlier:
    id: str
    lat: float
    lon: float
    received_at: datetime
    duplicate_of: str | None


def likely_original(earlier: Iterable[Earlier], lat: float, lon: float, radius_m: float) -> str | None:
    """The id of the first request that a new one (already filtered by phone,
    category and time window) likely repeats, or None.  A chain of repeats
    links to its first request, not to the previous repeat."""
    nearby = [e for e in earlier if distance_m(lat, lon, e.lat, e.lon) <= radius_m]
    if not nearby:
        return None
    first = min(nearby, key=lambda e: (e.received_at, e.id))
    return first.duplicate_of or first.id
