"""CSV, the form organisations hold their lists in: parsing rows into the
API's own shapes (so a CSV row is validated exactly like a JSON body) and
writing rows back out.  Pure: no I/O."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from .schemas import IntervalIn, MemberIn, TeamIn, WeeklyShiftIn

MAX_ROWS = 5000

TEAM_COLUMNS = ("name", "community", "lat", "lon", "radius_km", "skills", "capacity", "leader_name",
                "leader_phone", "chat_url", "timezone", "status")
MEMBER_COLUMNS = ("community", "team", "name", "phone", "skills", "duty", "group", "active", "locale")
SHIFT_COLUMNS = ("community", "team", "kind", "weekday", "start", "end", "starts_at", "ends_at", "group",
                 "every_weeks", "anchor")
COLUMNS = {"teams": TEAM_COLUMNS, "members": MEMBER_COLUMNS, "shifts": SHIFT_COLUMNS}
REQUIRED = {
    "teams": {"name", "community", "lat", "lon", "radius_km", "skills", "capacity", "leader_name", "leader_phone"},
    "members": {"community", "team", "name", "phone"},
    "shifts": {"community", "team", "kind"},
}


@dataclass
class RowError:
    row: int  # 1 = the header line; data from 2, as a spreadsheet shows it
    field: str
    reason: str


@dataclass
class Parsed:
    rows: list[tuple[int, dict[str, str], BaseModel | None]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _list(text: str) -> list[str]:
    return [part for part in (p.strip() for p in text.replace(";", " ").replace(",", " ").split()) if part]


def _blank_none(raw: dict[str, str]) -> dict[str, Any]:
    return {k: (v.strip() if v and v.strip() else None) for k, v in raw.items()}


def _team(raw: dict[str, Any]) -> TeamIn:
    return TeamIn(
        name=raw["name"] or "", community=raw["community"] or "",
        location={"lat": raw["lat"], "lon": raw["lon"]}, radius_km=raw["radius_km"],
        skills=_list(raw["skills"] or ""), capacity=raw["capacity"],
        leader={"name": raw["leader_name"] or "", "phone": raw["leader_phone"] or ""},
        chat_url=raw.get("chat_url"), timezone=raw.get("timezone"), status=raw.get("status") or "active",
    )


def _member(raw: dict[str, Any]) -> MemberIn:
    return MemberIn(name=raw["name"] or "", phone=raw["phone"] or "", skills=_list(raw.get("skills") or ""),
                    duty=raw.get("duty"), group=raw.get("group"), active=raw.get("active") or True,
                    locale=raw.get("locale") or "zh-CN")


def _shift(raw: dict[str, Any]) -> BaseModel:
    kind = raw.get("kind")
    if kind == "weekly":
        return WeeklyShiftIn(weekday=raw.get("weekday"), start=raw.get("start") or "", end=raw.get("end") or "",
                             group=raw.get("group"), every_weeks=raw.get("every_weeks") or 1, anchor=raw.get("anchor"))
    if kind in ("one_off", "exception"):
        return IntervalIn(starts_at=raw.get("starts_at"), ends_at=raw.get("ends_at"), group=raw.get("group"))
    raise ValueError("kind must be weekly, one_off or exception")


BUILDERS = {"teams": _team, "members": _member, "shifts": _shift}
# Which CSV column a model's field came from, to name it in the error.
FIELD_TO_COLUMN = {"location.lat": "lat", "location.lon": "lon", "leader.name": "leader_name",
                   "leader.phone": "leader_phone"}


def parse(kind: str, text: str) -> Parsed:
    """Every row validated; errors for every bad row (nothing stops at the first)."""
    parsed = Parsed()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = REQUIRED[kind] - set(header)
    unknown = set(header) - set(COLUMNS[kind])
    if missing or unknown:
        for name in sorted(missing):
            parsed.errors.append(RowError(1, name, "required column missing"))
        for name in sorted(unknown):
            parsed.errors.append(RowError(1, name, f"unknown column; expected {', '.join(COLUMNS[kind])}"))
        return parsed
    reader.fieldnames = header
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            parsed.errors.append(RowError(number, "row", f"at most {MAX_ROWS} rows per import"))
            break
        if None in raw:
            parsed.errors.append(RowError(number, "row", "more cells than columns"))
            continue
        values = _blank_none(raw)
        try:
            model = BUILDERS[kind](values)
        except ValidationError as exc:
            for e in exc.errors():
                name = ".".join(str(p) for p in e["loc"]) or "row"
                parsed.errors.append(RowError(number, FIELD_TO_COLUMN.get(name, name), e["msg"]))
            continue
        except ValueError as exc:
            parsed.errors.append(RowError(number, "kind", str(exc)))
            continue
        parsed.rows.append((number, values, model))
    if not parsed.rows and not parsed.errors:
        parsed.errors.append(RowError(2, "row", "the file has no rows"))
    return parsed


def write(kind: str, rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS[kind], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue()
