"""The rate limiter: no window of one second holds more sends than the rate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.ratelimit import SlidingWindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(st.floats(1, 50), st.lists(st.floats(0, 0.3), min_size=1, max_size=300))
def test_no_window_of_one_second_holds_more_than_the_rate(rate, steps) -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(rate, clock)
    sent = []
    for step in steps:
        clock.now += step
        if limiter.try_take():
            sent.append(clock.now)
    for i, t in enumerate(sent):
        assert sum(1 for u in sent[i:] if u < t + 1.0) <= int(rate)


def test_the_limiter_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, clock)
    assert limiter.try_take() and limiter.try_take() and not limiter.try_take()
    assert limiter.delay() == pytest.approx(1.0)
    clock.now = 1.0
    assert limiter.try_take()
    slow = SlidingWindowLimiter(0.5, clock)
    assert slow.try_take() and not slow.try_take() and slow.delay() == pytest.approx(2.0)
