"""The shift arithmetic, pure: midnight, week wrap, overlaps, exceptions,
one-offs, rotating groups, and next_change_at agreeing with on_shift."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.volunteers import shifts
from services.volunteers.shifts import Interval, Schedule, WeeklyShift

SH = ZoneInfo("Asia/Shanghai")
# 2025-03-03 is a Monday.
MON = date(2025, 3, 3)


def at(day: date, hh: int, mm: int = 0, tz=SH) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=tz).astimezone(UTC)


def d(offset: int) -> date:
    return MON + timedelta(days=offset)


def test_an_empty_schedule_is_always_on_duty_and_never_changes() -> None:
    empty = Schedule(SH)
    assert shifts.on_duty(empty, at(MON, 3))
    assert shifts.on_shift(empty, at(MON, 3), "A")
    assert shifts.next_change(empty, at(MON, 3)) is None


def test_a_day_shift_is_half_open() -> None:
    s = Schedule(SH, weekly=(WeeklyShift(0, time(8), time(20)),))
    assert not shifts.on_duty(s, at(MON, 7, 59))
    assert shifts.on_duty(s, at(MON, 8))
    assert shifts.on_duty(s, at(MON, 19, 59))
    assert not shifts.on_duty(s, at(MON, 20))
    assert not shifts.on_duty(s, at(d(1), 10))  # Tuesday: no shift
    assert shifts.next_change(s, at(MON, 7)) == at(MON, 8)
    assert shifts.next_change(s, at(MON, 8)) == at(MON, 20)
    assert shifts.next_change(s, at(MON, 21)) == at(d(7), 8)  # next Monday


def test_a_night_shift_crosses_midnight() -> None:
    s = Schedule(SH, weekly=(WeeklyShift(2, time(20), time(8)),))  # Wed 20:00 → Thu 08:00
    assert shifts.on_duty(s, at(d(2), 23, 30))
    assert shifts.on_duty(s, at(d(3), 0))
    assert shifts.on_duty(s, at(d(3), 7, 59))
    assert not shifts.on_duty(s, at(d(3), 8))
    assert shifts.next_change(s, at(d(2), 21)) == at(d(3), 8)


def test_sunday_night_wraps_into_monday() -> None:
    s = Schedule(SH, weekly=(WeeklyShift(6, time(22), time(6)),))  # Sun 22:00 → Mon 06:00
    assert shifts.on_duty(s, at(MON, 1))  # Monday 01:00 belongs to the previous Sunday's shift
    assert shifts.on_duty(s, at(d(6), 23))
    assert shifts.on_duty(s, at(d(7), 5, 59))
    assert not shifts.on_duty(s, at(d(7), 6))
    assert shifts.next_change(s, at(d(6), 12)) == at(d(6), 22)
    assert shifts.next_change(s, at(d(6), 22)) == at(d(7), 6)


def test_end_equal_to_start_is_a_24_hour_shift() -> None:
    s = Schedule(SH, weekly=(WeeklyShift(0, time(9), time(9)),))
    assert shifts.on_duty(s, at(d(1), 8, 59))
    assert not shifts.on_duty(s, at(d(1), 9))


def test_overlapping_and_touching_shifts_merge_into_one_stretch() -> None:
    s = Schedule(SH, weekly=(
        WeeklyShift(0, time(8), time(14)),
        WeeklyShift(0, time(12), time(18)),   # overlaps the first
        WeeklyShift(0, time(18), time(22)),   # touches the second
    ))
    assert shifts.on_duty(s, at(MON, 13))
    # No change at 12:00, 14:00 or 18:00: the next one is the end at 22:00.
    assert shifts.next_change(s, at(MON, 9)) == at(MON, 22)


def test_round_the_clock_cover_never_changes() -> None:
    s = Schedule(SH, weekly=tuple(WeeklyShift(w, time(0), time(0)) for w in range(7)))
    assert shifts.on_duty(s, at(d(3), 4))
    assert shifts.next_change(s, at(d(3), 4)) is None


def test_an_exception_cancels_weekly_shifts_but_not_one_offs() -> None:
    s = Schedule(
        SH,
        weekly=(WeeklyShift(0, time(8), time(20)),),
        exceptions=(Interval(at(MON, 0), at(d(1), 0)),),              # Monday off
        one_off=(Interval(at(MON, 14), at(MON, 16)),),                 # but 14-16 covered
    )
    assert not shifts.on_duty(s, at(MON, 9))
    assert shifts.on_duty(s, at(MON, 15))
    assert shifts.next_change(s, at(MON, 9)) == at(MON, 14)
    assert shifts.next_change(s, at(MON, 15)) == at(MON, 16)
    assert shifts.next_change(s, at(MON, 17)) == at(d(7), 8)
    assert shifts.on_duty(s, at(d(7), 9))  # the following Monday is normal


def test_a_one_off_on_a_free_day() -> None:
    s = Schedule(SH, one_off=(Interval(at(d(5), 9), at(d(5), 12)),))
    assert not shifts.on_duty(s, at(d(5), 8))
    assert shifts.on_duty(s, at(d(5), 9))
    assert shifts.next_change(s, at(d(4), 0)) == at(d(5), 9)
    assert shifts.next_change(s, at(d(5), 13)) is None


def test_two_groups_split_the_day() -> None:
    s = Schedule(SH, weekly=tuple(
        part for w in range(7)
        for part in (WeeklyShift(w, time(8), time(20), "A"), WeeklyShift(w, time(20), time(8), "B"))
    ))
    assert shifts.on_shift(s, at(MON, 9), "A") and not shifts.on_shift(s, at(MON, 9), "B")
    assert shifts.on_shift(s, at(MON, 21), "B") and not shifts.on_shift(s, at(MON, 21), "A")
    assert shifts.on_duty(s, at(MON, 9)) and shifts.on_duty(s, at(MON, 21))
    assert shifts.on_shift(s, at(MON, 21), None)  # a member without a group is always covered here
    assert not shifts.on_shift(s, at(MON, 21), "C")  # a group no part names
    assert shifts.coverage(s, at(MON, 21)) == {"B"}
    # The team stays on duty, but who is on shift changes at 20:00.
    assert shifts.next_change(s, at(MON, 9)) == at(MON, 20)


def test_two_groups_rotate_by_week() -> None:
    s = Schedule(SH, weekly=tuple(
        part for w in range(5)
        for part in (WeeklyShift(w, time(9), time(17), "A", every_weeks=2, anchor=MON),
                     WeeklyShift(w, time(9), time(17), "B", every_weeks=2, anchor=d(7)))
    ))
    assert shifts.coverage(s, at(MON, 10)) == {"A"}
    assert shifts.coverage(s, at(d(7), 10)) == {"B"}
    assert shifts.coverage(s, at(d(14), 10)) == {"A"}
    assert shifts.coverage(s, at(d(5), 10)) == frozenset()  # Saturday


def test_a_group_exception_stands_only_that_group_down() -> None:
    s = Schedule(
        SH,
        weekly=(WeeklyShift(0, time(8), time(20)),),  # whole team
        exceptions=(Interval(at(MON, 0), at(d(1), 0), "A"),),
    )
    assert not shifts.on_shift(s, at(MON, 9), "A")
    assert shifts.on_shift(s, at(MON, 9), "B")
    assert shifts.on_duty(s, at(MON, 9))


def test_time_zone_matters() -> None:
    s = Schedule(ZoneInfo("Europe/London"), weekly=(WeeklyShift(0, time(8), time(9)),))
    # 08:30 in Shanghai on Monday is 00:30 in London: off.
    assert not shifts.on_duty(s, at(MON, 8, 30))
    assert shifts.on_duty(s, at(MON, 8, 30, ZoneInfo("Europe/London")))


def test_daylight_saving_shift_keeps_local_hours() -> None:
    london = ZoneInfo("Europe/London")
    sunday_of_change = date(2025, 3, 30)  # clocks go forward at 01:00
    s = Schedule(london, weekly=(WeeklyShift(6, time(0), time(4)),))
    start = shifts.next_change(s, at(sunday_of_change - timedelta(days=1), 12, tz=london))
    end = shifts.next_change(s, start)
    assert end - start == timedelta(hours=3)  # one hour fewer that night


def test_naive_moments_are_refused() -> None:
    try:
        shifts.on_duty(Schedule(SH), datetime(2025, 3, 3, 8))
    except ValueError:
        return
    raise AssertionError("a naive moment was accepted")


def test_documents_round_trip() -> None:
    document = {
        "weekly": [{"weekday": 6, "start": "22:00", "end": "06:00", "group": "B", "every_weeks": 2,
                    "anchor": "2025-03-03"}],
        "one_off": [{"starts_at": "2025-03-08T09:00:00", "ends_at": "2025-03-08T12:00:00", "group": None}],
        "exceptions": [{"starts_at": "2025-03-10T00:00:00+08:00", "ends_at": "2025-03-11T00:00:00+08:00"}],
    }
    s = shifts.from_document(document, SH)
    assert s.weekly[0] == WeeklyShift(6, time(22), time(6), "B", 2, MON)
    assert s.one_off[0].starts_at == at(d(5), 9)  # a naive moment is read in the team's zone
    assert s.exceptions[0].ends_at == at(d(8), 0)


# --- properties ----------------------------------------------------------------

weekly_shift = st.builds(
    WeeklyShift,
    weekday=st.integers(0, 6),
    start=st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    end=st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    group=st.sampled_from([None, "A", "B"]),
    every_weeks=st.sampled_from([1, 1, 2]),
    anchor=st.just(MON),
)
interval = st.builds(
    lambda start, hours, group: Interval(at(MON, 0) + timedelta(minutes=15 * start),
                                         at(MON, 0) + timedelta(minutes=15 * start + 60 * hours), group),
    st.integers(0, 4 * 24 * 14), st.integers(1, 48), st.sampled_from([None, "A", "B"]),
)
schedules = st.builds(
    lambda w, o, e: Schedule(SH, tuple(w), tuple(o), tuple(e)),
    st.lists(weekly_shift, max_size=6), st.lists(interval, max_size=3), st.lists(interval, max_size=3),
)
moments = st.integers(0, 4 * 24 * 21).map(lambda q: at(MON, 0) + timedelta(minutes=15 * q))


@settings(max_examples=200, deadline=None)
@given(schedules, moments)
def test_nothing_changes_before_next_change_and_something_does_at_it(s: Schedule, t: datetime) -> None:
    before = shifts.coverage(s, t)
    change = shifts.next_change(s, t)
    probe_end = change if change is not None else t + shifts.horizon(s)
    step = timedelta(minutes=15)
    probe = t + step
    while probe < probe_end:  # 15-minute grid: every boundary above lies on it
        assert shifts.coverage(s, probe) == before, (probe, change)
        probe += step
    if change is not None:
        assert change > t
        assert shifts.coverage(s, change) != before


@settings(max_examples=200, deadline=None)
@given(schedules, moments, st.sampled_from([None, "A", "B", "C"]))
def test_on_shift_agrees_with_coverage(s: Schedule, t: datetime, group) -> None:
    from services.volunteers.duty import member_on_shift

    assert shifts.on_shift(s, t, group) == member_on_shift(shifts.coverage(s, t), s.groups, group)
