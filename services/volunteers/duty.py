"""A team's effective state from its schedule, its members and their health:
pure, no I/O.

The rule (documented in the README of the service's API too):

- A team with no active members is the simple deployment: it is on duty when
  its schedule says so (always, with no schedule), and its capacity is then the
  nominal capacity (0 while off duty).
- A team with active members counts its *available* members: active, on
  shift now (see `shifts`), and fit.  on_duty = at least one is available;
  capacity = min(nominal, available × tasks_per_member).
- Fit: the member's latest check-in says "ok".  With `require_checkin` (the
  default) only today's check-in (community's local day) counts, so a member who
  has not checked in today is off duty, and everyone's state rolls over at local
  midnight.  Without it, a member who never checked in counts as fit and the
  latest check-in stands until the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from . import shifts


@dataclass(frozen=True)
class MemberState:
    group: str | None
    fit: bool


@dataclass(frozen=True)
class Duty:
    on_duty: bool
    capacity: int
    available_members: int
    next_change_at: datetime | None


def is_fit(last_status: str | None, last_day: date | None, today: date, require_checkin: bool) -> bool:
    """Whether a member counts as fit today given their latest check-in."""
    if last_status is None:
        return not require_checkin
    if require_checkin and last_day != today:
        return False
    return last_status == "ok"


def member_on_shift(covered: frozenset[str], named_groups: frozenset[str], group: str | None) -> bool:
    """From `shifts.coverage`: is a member of `group` on shift?"""
    if group is None:
        return bool(covered)
    if group in covered:
        return True
    return group not in named_groups and "" in covered


def team_duty(
    schedule: shifts.Schedule,
    nominal_capacity: int,
    members: list[MemberState],
    at: datetime,
    *,
    tasks_per_member: int,
    require_checkin: bool,
) -> Duty:
    """The team's on_duty, effective capacity and next scheduled change at `at`."""
    covered = shifts.coverage(schedule, at)
    next_at = shifts.next_change(schedule, at)
    if not members:
        on = bool(covered)
        return Duty(on, nominal_capacity if on else 0, 0, next_at)
    available = sum(
        1 for m in members if m.fit and member_on_shift(covered, schedule.groups, m.group)
    )
    if require_checkin:
        midnight = shifts.next_local_midnight(schedule.tz, at)
        next_at = midnight if next_at is None else min(next_at, midnight)
    return Duty(available > 0, min(nominal_capacity, available * tasks_per_member), available, next_at)
