"""Token buckets (ratelimit.py), on a clock the test moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_second=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0  # another partner, another bucket
    clock.now = 0.5
    assert buckets.take("a") == 0.0
    clock.now = 100
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refills only up to the burst


@given(st.lists(st.floats(min_value=0, max_value=5), max_size=60))
def test_a_bucket_never_allows_more_than_burst_plus_rate_times_time(gaps) -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_second=1.5, burst=4, clock=clock)
    allowed = 0
    for gap in gaps:
        clock.now += gap
        allowed += buckets.take("p") == 0.0
    assert allowed <= 4 + 1.5 * clock.now + 1e-9


def test_buckets_forget_full_ones_when_there_are_too_many() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_second=1, burst=1, clock=clock, max_keys=3)
    for key in "abc":
        buckets.take(key)
    clock.now = 10
    buckets.take("d")
    assert len(buckets._buckets) == 1
