"""Shift arithmetic: who in a team is on shift at a moment, and when that next
changes.  Pure: no I/O, no clock; every function takes the moment it asks about.

A team's schedule has three parts, all in the community's time zone:

- weekly shifts: a weekday and local start/end times; an end at or before the
  start means the shift runs past midnight into the next day (end == start is a
  24-hour shift).  `every_weeks` = 2 with an `anchor` date makes a shift happen
  every other week (counted in Monday-started weeks from the anchor's week),
  which is how two groups rotate by week;
- one-off shifts: an absolute interval (extra cover, e.g. a weekend drive);
- exceptions: an absolute interval in which weekly shifts do not happen
  (a holiday, a group stood down).  One-off shifts are not cancelled by
  exceptions: cancel the weekly slot with an exception and add a one-off to move it.

Every part may name a `group` ("A", "B", ...).  A part without a group concerns
the whole team.  A member in group G is on shift when a part for G or for the
whole team covers the moment; a member without a group is on shift whenever any
part covers it.  Intervals are half-open: [start, end).

A schedule with no parts at all means "always on duty" (the simple deployment).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# The label standing for "members whose group no part names": only
# whole-team parts apply to them.
_WHOLE_TEAM = "\x00team"
_DEFAULT_ANCHOR = date(2024, 1, 1)  # a Monday


@dataclass(frozen=True)
class WeeklyShift:
    weekday: int  # 0 = Monday … 6 = Sunday
    start: time
    end: time
    group: str | None = None
    every_weeks: int = 1
    anchor: date | None = None

    def happens_on(self, day: date) -> bool:
        if day.weekday() != self.weekday:
            return False
        if self.every_weeks == 1:
            return True
        anchor = self.anchor or _DEFAULT_ANCHOR
        anchor_monday = anchor - timedelta(days=anchor.weekday())
        return ((day - anchor_monday).days // 7) % self.every_weeks == 0


@dataclass(frozen=True)
class Interval:
    """An absolute interval; used for one-off shifts and exceptions."""

    starts_at: datetime
    ends_at: datetime
    group: str | None = None


@dataclass(frozen=True)
class Schedule:
    tz: ZoneInfo
    weekly: tuple[WeeklyShift, ...] = ()
    one_off: tuple[Interval, ...] = ()
    exceptions: tuple[Interval, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.weekly or self.one_off or self.exceptions)

    @property
    def groups(self) -> frozenset[str]:
        parts: tuple[WeeklyShift | Interval, ...] = (*self.weekly, *self.one_off, *self.exceptions)
        return frozenset(p.group for p in parts if p.group is not None)


@dataclass(frozen=True)
class _Span:
    start: datetime
    end: datetime
    group: str | None
    kind: str  # weekly | one_off | exception


@dataclass
class _Window:
    """The schedule's intervals that touch [lo, hi), expanded once."""

    spans: list[_Span] = field(default_factory=list)

    def covered(self, label: str, at: datetime) -> bool:
        weekly = exception = one_off = False
        for s in self.spans:
            if s.start <= at < s.end and (s.group is None or s.group == label):
                if s.kind == "weekly":
                    weekly = True
                elif s.kind == "exception":
                    exception = True
                else:
                    one_off = True
        return (weekly and not exception) or one_off


def _local(tz: ZoneInfo, day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _expand(schedule: Schedule, lo: datetime, hi: datetime) -> _Window:
    window = _Window()
    first = lo.astimezone(schedule.tz).date() - timedelta(days=1)
    last = hi.astimezone(schedule.tz).date()
    day = first
    while day <= last:
        for w in schedule.weekly:
            if w.happens_on(day):
                start = _local(schedule.tz, day, w.start)
                end_day = day + timedelta(days=1) if w.end <= w.start else day
                end = _local(schedule.tz, end_day, w.end)
                if start < hi and end > lo:
                    window.spans.append(_Span(start, end, w.group, "weekly"))
        day += timedelta(days=1)
    for kind, intervals in (("one_off", schedule.one_off), ("exception", schedule.exceptions)):
        for i in intervals:
            if i.starts_at < hi and i.ends_at > lo:
                window.spans.append(_Span(i.starts_at, i.ends_at, i.group, kind))
    return window


def _labels(schedule: Schedule) -> tuple[str, ...]:
    return (*sorted(schedule.groups), _WHOLE_TEAM)


def _check_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("moments must carry a time zone")


def on_shift(schedule: Schedule, at: datetime, group: str | None = None) -> bool:
    """Whether a member of `group` (None: a member without a group) is on
    shift at `at`.  With an empty schedule everyone always is."""
    _check_aware(at)
    if schedule.is_empty:
        return True
    window = _expand(schedule, at, at + timedelta(microseconds=1))
    if group is None:
        return any(window.covered(label, at) for label in _labels(schedule))
    return window.covered(group, at)


def on_duty(schedule: Schedule, at: datetime) -> bool:
    """Whether anyone in the team is scheduled at `at`."""
    return on_shift(schedule, at, None)


def coverage(schedule: Schedule, at: datetime) -> frozenset[str]:
    """The groups on shift at `at` ("" stands for whole-team cover)."""
    _check_aware(at)
    if schedule.is_empty:
        return frozenset({""})
    window = _expand(schedule, at, at + timedelta(microseconds=1))
    return _coverage(schedule, window, at)


def _coverage(schedule: Schedule, window: _Window, at: datetime) -> frozenset[str]:
    return frozenset(
        ("" if label == _WHOLE_TEAM else label)
        for label in _labels(schedule)
        if window.covered(label, at)
    )


def horizon(schedule: Schedule) -> timedelta:
    """How far ahead `next_change` looks: one full rotation and a bit."""
    rotation = max((w.every_weeks for w in schedule.weekly), default=1)
    return timedelta(days=7 * rotation + 2)


def next_change(schedule: Schedule, at: datetime) -> datetime | None:
    """The first moment after `at` at which the schedule alone changes who is
    on shift; None when it never does (empty, or round-the-clock cover)."""
    _check_aware(at)
    if schedule.is_empty:
        return None
    hi = at + horizon(schedule)
    window = _expand(schedule, at, hi)
    before = _coverage(schedule, window, at)
    boundaries = sorted({t for s in window.spans for t in (s.start, s.end) if at < t <= hi})
    for moment in boundaries:
        if _coverage(schedule, window, moment) != before:
            return moment
    return None


def next_local_midnight(tz: ZoneInfo, at: datetime) -> datetime:
    """The start of the next local day after `at`, in UTC."""
    tomorrow = at.astimezone(tz).date() + timedelta(days=1)
    return _local(tz, tomorrow, time(0, 0))


def local_day(tz: ZoneInfo, at: datetime) -> date:
    return at.astimezone(tz).date()


# --- the stored form ----------------------------------------------------------


def parse_time(text: str) -> time:
    """"HH:MM" (24-hour; "24:00" is not allowed, use "00:00")."""
    hours, minutes = text.split(":")
    if len(hours) != 2 or len(minutes) != 2:
        raise ValueError(f"{text!r} is not HH:MM")
    return time(int(hours), int(minutes))


def parse_moment(text: str | datetime, tz: ZoneInfo) -> datetime:
    """An ISO moment; one without an offset is read in the community's zone."""
    moment = text if isinstance(text, datetime) else datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def from_document(document: dict[str, Any] | None, tz: ZoneInfo) -> Schedule:
    """The schedule from its stored JSON form (see `to_document`)."""
    document = document or {}

    def interval(item: dict[str, Any]) -> Interval:
        return Interval(parse_moment(item["starts_at"], tz), parse_moment(item["ends_at"], tz),
                        item.get("group"))

    return Schedule(
        tz=tz,
        weekly=tuple(
            WeeklyShift(
                weekday=item["weekday"],
                start=parse_time(item["start"]),
                end=parse_time(item["end"]),
                group=item.get("group"),
                every_weeks=item.get("every_weeks", 1),
                anchor=date.fromisoformat(item["anchor"]) if item.get("anchor") else None,
            )
            for item in document.get("weekly", ())
        ),
        one_off=tuple(interval(i) for i in document.get("one_off", ())),
        exceptions=tuple(interval(i) for i in document.get("exceptions", ())),
    )
