"""Quiet hours: the end of the window a moment falls in, across midnight too."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from services.notify.quiet import quiet_until

SHANGHAI = ZoneInfo("Asia/Shanghai")


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
       st.integers(0, 23), st.integers(0, 23))
def test_quiet_until_is_the_next_end_of_the_window_or_none(now, start_hour, end_hour) -> None:
    start, end = time(start_hour), time(end_hour)
    until = quiet_until(now, start, end, SHANGHAI)
    local = now.astimezone(SHANGHAI).time()
    inside = (start <= local < end) if start < end else (local >= start or local < end) if start != end else False
    assert (until is not None) == inside
    if until is not None:
        assert now < until <= now + timedelta(hours=24)
        assert until.astimezone(SHANGHAI).time() == end


def test_quiet_hours_across_midnight() -> None:
    start, end = time(22), time(7)
    at_2330 = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
    assert quiet_until(at_2330, start, end, SHANGHAI) == datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    at_0630 = datetime(2026, 11, 21, 22, 30, tzinfo=UTC)
    assert quiet_until(at_0630, start, end, SHANGHAI) == datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    assert quiet_until(datetime(2026, 11, 21, 6, 0, tzinfo=UTC), start, end, SHANGHAI) is None
