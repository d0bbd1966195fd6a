"""Messages-per-second limits per channel, enforced in the sending process.

A sliding-window log rather than a token bucket (a bucket that starts full
lets through its capacity plus a second's refill inside one second).  A send
counts from the moment it starts until one window after it ended: the
provider sees the message somewhere between the two, so no window of
`window` seconds at the provider ever holds more than `per_window` messages,
however the calls' latencies vary.  Each replica keeps its own limiter (see
README)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

_IN_FLIGHT_POLL = 0.005


class _Send:
    __slots__ = ("ended",)

    def __init__(self) -> None:
        self.ended: float | None = None


class SlidingWindowLimiter:
    def __init__(self, rate_per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        if rate_per_second >= 1:
            self.window, self.per_window = 1.0, math.floor(rate_per_second)
        else:  # 0.5/s: one message in any 2 seconds
            self.window, self.per_window = 1.0 / rate_per_second, 1
        self.clock = clock
        self._sends: list[_Send] = []

    def _forget(self, now: float) -> None:
        horizon = now - self.window
        self._sends = [send for send in self._sends if send.ended is None or send.ended > horizon]

    def delay(self) -> float:
        """Seconds until one more send may start (0: now)."""
        now = self.clock()
        self._forget(now)
        if len(self._sends) < self.per_window:
            return 0.0
        ended = [send.ended for send in self._sends if send.ended is not None]
        if not ended:
            return _IN_FLIGHT_POLL  # all still in flight: one of them must finish first
        return max(min(ended) + self.window - now, 1e-3)

    def start(self) -> _Send | None:
        """Counts a send that starts now, or None when the limit forbids it."""
        if self.delay() > 0:
            return None
        send = _Send()
        self._sends.append(send)
        return send

    def finish(self, send: _Send) -> None:
        send.ended = self.clock()

    def try_take(self) -> bool:
        """An instantaneous send: starts and ends now."""
        send = self.start()
        if send is None:
            return False
        self.finish(send)
        return True

    async def acquire(self) -> _Send:
        """Waits until a send may start and counts it; call `finish` when the
        provider call returns (or fails)."""
        while (send := self.start()) is None:  # noqa: ASYNC110 - it waits for time to pass, not for an event
            await asyncio.sleep(self.delay())
        return send
