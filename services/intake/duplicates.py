"""Recognising the same need arriving twice through different channels (a
partner app and the hotline, say): same phone, same category, close by,
within a time window.  Such a request is linked to the earlier one, never
merged or dropped: a coordinator decides."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

EARTH_RADIUS_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


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
