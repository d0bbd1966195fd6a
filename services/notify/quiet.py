"""Quiet hours: when a non-urgent message may go out.  Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_until(now: datetime, start: time | None, end: time | None, zone: ZoneInfo) -> datetime | None:
    """The end of the quiet window `now` falls in (UTC), or None when `now`
    is outside it.  The window is local time in `zone` and may span midnight
    (22:00-07:00); start == end or no start means no quiet hours."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside, day = start <= clock < end, local.date()
    else:
        inside = clock >= start or clock < end
        day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
