"""Effective capacity and on-duty from schedule, members and check-ins (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.volunteers.duty import MemberState, is_fit, team_duty
from services.volunteers.shifts import Schedule, WeeklyShift

SH = ZoneInfo("Asia/Shanghai")
MON = date(2025, 3, 3)
NOON = datetime.combine(MON, time(12), tzinfo=SH).astimezone(UTC)
SPLIT = Schedule(SH, weekly=tuple(
    p for w in range(7) for p in (WeeklyShift(w, time(8), time(20), "A"), WeeklyShift(w, time(20), time(8), "B"))
))


def duty(schedule, nominal, members, at=NOON, per=1, require=True):
    return team_duty(schedule, nominal, members, at, tasks_per_member=per, require_checkin=require)


def test_no_members_no_schedule_is_the_simple_deployment() -> None:
    d = duty(Schedule(SH), 5, [])
    assert (d.on_duty, d.capacity, d.next_change_at) == (True, 5, None)


def test_no_members_off_schedule_has_no_capacity() -> None:
    d = duty(Schedule(SH, weekly=(WeeklyShift(1, time(8), time(20)),)), 5, [])
    assert (d.on_duty, d.capacity) == (False, 0)


def test_capacity_follows_fit_members_on_shift_capped_by_nominal() -> None:
    members = [MemberState("A", True), MemberState("A", True), MemberState("A", False), MemberState("B", True)]
    d = duty(SPLIT, 5, members)
    assert (d.on_duty, d.capacity, d.available_members) == (True, 2, 2)
    assert duty(SPLIT, 5, members, per=3).capacity == 5  # 2 × 3 capped at nominal 5
    night = datetime.combine(MON, time(21), tzinfo=SH).astimezone(UTC)
    assert duty(SPLIT, 5, members, at=night).capacity == 1


def test_nobody_fit_means_off_duty() -> None:
    d = duty(Schedule(SH), 5, [MemberState(None, False)])
    assert (d.on_duty, d.capacity) == (False, 0)


def test_required_checkins_roll_over_at_local_midnight() -> None:
    d = duty(Schedule(SH), 5, [MemberState(None, True)])
    assert d.next_change_at == datetime.combine(MON + timedelta(days=1), time(0), tzinfo=SH)
    assert duty(Schedule(SH), 5, [MemberState(None, True)], require=False).next_change_at is None
    # The schedule's next change wins when it is sooner.
    assert duty(SPLIT, 5, [MemberState("A", True)]).next_change_at == datetime.combine(MON, time(20), tzinfo=SH)


def test_fitness_rule() -> None:
    today, yesterday = MON, MON - timedelta(days=1)
    assert is_fit("ok", today, today, require_checkin=True)
    assert not is_fit("ok", yesterday, today, require_checkin=True)
    assert not is_fit(None, None, today, require_checkin=True)
    assert is_fit(None, None, today, require_checkin=False)
    assert is_fit("ok", yesterday, today, require_checkin=False)
    assert not is_fit("quarantine", yesterday, today, require_checkin=False)  # stands until the next check-in
    assert not is_fit("unwell", today, today, require_checkin=True)
