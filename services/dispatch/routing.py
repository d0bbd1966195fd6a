"""Travel time from teams to a request, from a routing provider.

Ranking is by great-circle distance unless DISPATCH_ROUTING_URL names an
OSRM-compatible table service (OSRM's /table/v1; Valhalla and GraphHopper
ship OSRM-compatible front ends).  Then the few candidates that survived the
checks are re-ranked by how long the team takes to get to the requester.
A provider that is slow, down or answers nonsense never holds up an offer:
the great-circle order stands, and the fallback is counted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import httpx
from prometheus_client import Counter

from .matching import Candidate

log = logging.getLogger(__name__)

FALLBACKS = Counter("heartline_dispatch_routing_fallbacks_total",
                    "Rankings that fell back to great-circle distance because routing failed", ["reason"])


class RoutingError(Exception):
    pass


def table_url(base_url: str, profile: str, request: tuple[float, float],
              teams: Sequence[tuple[float, float]]) -> str:
    """OSRM's table request: the teams' bases as sources, the request as the
    one destination.  OSRM wants lon,lat."""
    points = ";".join(f"{lon:.6f},{lat:.6f}" for lat, lon in (request, *teams))
    sources = ";".join(str(i) for i in range(1, len(teams) + 1))
    return f"{base_url.rstrip('/')}/table/v1/{profile}/{points}?sources={sources}&destinations=0&annotations=duration"


def durations_from(body: object, count: int) -> list[float | None]:
    """Seconds from each source to the destination, None where OSRM found no route."""
    if not isinstance(body, dict) or body.get("code") != "Ok":
        raise RoutingError(f"answer code {body.get('code') if isinstance(body, dict) else type(body).__name__}")
    rows = body.get("durations")
    if not isinstance(rows, list) or len(rows) != count:
        raise RoutingError("durations do not match the sources asked for")
    seconds: list[float | None] = []
    for row in rows:
        value = row[0] if isinstance(row, list) and row else None
        if value is not None and (not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0):
            raise RoutingError(f"duration {value!r} is not a number of seconds")
        seconds.append(None if value is None else float(value))
    return seconds


def by_travel_time(candidates: Sequence[Candidate], seconds: Sequence[float | None]) -> list[Candidate]:
    """Fastest first; ties (and teams with no route, last) by the great-circle
    order they came in, which already breaks ties by load."""
    order = {c.team_id: i for i, c in enumerate(candidates)}
    timed = zip(candidates, seconds, strict=True)
    ranked = sorted(timed, key=lambda pair: (pair[1] is None, round(pair[1] or 0.0), order[pair[0].team_id]))
    return [c for c, _ in ranked]


class TravelTimes:
    """A routing provider's table service, asked once per offer for the few
    candidates left after the checks."""

    def __init__(self, base_url: str, profile: str = "driving", timeout_seconds: float = 1.0) -> None:
        self.base_url = base_url
        self.profile = profile
        self.timeout_seconds = timeout_seconds

    async def seconds(self, request: tuple[float, float],
                      bases: Sequence[tuple[float, float]]) -> list[float | None] | None:
        """Seconds from each base to `request` (None: no route), or None when
        the provider failed; a failure is logged and counted, never raised."""
        url = table_url(self.base_url, self.profile, request, bases)
        try:
            # A client per ranking: offers are few (one per request), and it
            # keeps no connection bound to an event loop between them.
            async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
                response = await client.get(url)
            response.raise_for_status()
            return durations_from(response.json(), len(bases))
        except (httpx.HTTPError, ValueError, RoutingError) as error:
            reason = "timeout" if isinstance(error, httpx.TimeoutException) else type(error).__name__
            FALLBACKS.labels(reason).inc()
            # Not the error's text: httpx's carries the URL, which holds the requester's location.
            detail = error if isinstance(error, RoutingError) else getattr(
                getattr(error, "response", None), "status_code", "")
            log.warning("routing: %s %s; ranking by great-circle distance", reason, detail)
            return None

    async def rank(self, request: tuple[float, float], candidates: Sequence[Candidate],
                   bases: dict[str, tuple[float, float]]) -> tuple[list[Candidate], dict[str, float | None]]:
        """`candidates` (in great-circle order) by travel time from their
        `bases` to `request`, with each one's seconds; in the order given, with
        no times, if there is nothing to choose between or the provider fails."""
        if len(candidates) < 2:
            return list(candidates), {}
        seconds = await self.seconds(request, [bases[c.team_id] for c in candidates])
        if seconds is None:
            return list(candidates), {}
        return by_travel_time(candidates, seconds), {c.team_id: t for c, t in zip(candidates, seconds, strict=True)}


def travel_times(base_url: str | None, profile: str, timeout_seconds: float) -> TravelTimes | None:
    return TravelTimes(base_url, profile, timeout_seconds) if base_url else None
