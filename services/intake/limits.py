"""The per-partner rate limit in front of the partner doors (429 with Retry-After).
The body limit is shared.middleware.BodyLimit, as in every service."""

from __future__ import annotations

import math

from shared.http import Principal, Problem

from .ratelimit import TokenBuckets


def check_rate(limiter: TokenBuckets, principal: Principal) -> None:
    """Partners are limited per partner; admins and coordinators are not."""
    if principal.partner_id is None:
        return
    wait = limiter.take(principal.partner_id)
    if wait > 0:
        raise Problem(429, "Too Many Requests",
                      f"over {limiter.rate:g} requests per second for this partner; retry later",
                      headers={"Retry-After": str(max(1, math.ceil(wait)))})
