"""CSV import and export, the form organisations hold their lists in.  Rows
are parsed into the API's own shapes (so a CSV row is validated exactly like
a JSON body); an import writes every row or none."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.http import FieldError, Principal, Problem
from shared.scope import visible_communities

from . import store
from .communities import scope_tree
from .members import enrol_member
from .schemas import IntervalIn, MemberIn, TeamIn, WeeklyShiftIn
from .settings import VolunteersSettings
from .teams import check_placement, checked_chat_url, create_team, existing_team, in_scope, refresh_team

MAX_ROWS = 5000
MAX_EXPORT_TEAMS = 100_000

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
    rows: list[tuple[int, dict[str, str | None], BaseModel]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _list(text: str) -> list[str]:
    return [part for part in (p.strip() for p in text.replace(";", " ").replace(",", " ").split()) if part]


def _blank_none(raw: dict[str, str]) -> dict[str, str | None]:
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
    # newline="": a bare CR ends a row, as in any spreadsheet's CSV, instead of failing the reader.
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return _rows(kind, reader)
    except csv.Error as exc:
        parsed = Parsed()
        parsed.errors.append(RowError(reader.line_num or 1, "row", f"not readable as CSV: {exc}"))
        return parsed


def _rows(kind: str, reader: csv.DictReader) -> Parsed:
    parsed = Parsed()
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
        writer.writerow({k: defused("" if v is None else v) for k, v in row.items()})
    return out.getvalue()


PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defused(value: Any) -> Any:
    """A cell a spreadsheet would run as a formula gets a leading single quote
    (OWASP's CSV injection advice); plain numbers (an E.164 phone, -3.5) run
    nothing and are written as they are, so an export imports back."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


# --- the use cases --------------------------------------------------------------

SCHEDULE_PARTS = {"weekly": "weekly", "one_off": "one_off", "exception": "exceptions"}
MAX_SCHEDULE_PARTS = 1200


async def import_csv(*, session: AsyncConnection, principal: Principal, kind: str, text: str,
                     settings: VolunteersSettings, now: datetime) -> dict[str, Any]:
    """Imports every row or none: all rows are checked first (shape, rights,
    references, duplicates) and any problem is a 422 listing every bad row;
    the writes then share the caller's one transaction."""
    parsed = parse(kind, text)
    errors = list(parsed.errors)
    teams_by_name: dict[tuple[str, str], Row[Any] | None] = {}
    phones: dict[str, int] = {}
    for number, raw, model in parsed.rows:
        community = raw.get("community") or ""
        if not await in_scope(session, principal, community):
            errors.append(RowError(number, "community", f"you do not coordinate community {community!r}"))
            continue
        if isinstance(model, TeamIn):
            try:
                await check_placement(session, settings, community=community, lat=model.location.lat,
                                      lon=model.location.lon, radius_km=model.radius_km, area=model.area)
                checked_chat_url(model.chat_url, settings)
            except Problem as problem:
                errors.extend(RowError(number, e.field, e.reason) for e in problem.errors)
        if kind in ("members", "shifts"):
            key = (community, raw.get("team") or "")
            if key not in teams_by_name:
                teams_by_name[key] = await store.team_by_name(session, *key)
            if teams_by_name[key] is None:
                errors.append(RowError(number, "team", f"no team {key[1]!r} in community {community!r}"))
        if isinstance(model, MemberIn):
            if model.phone in phones:
                errors.append(RowError(number, "phone", f"same phone as row {phones[model.phone]}"))
            elif await store.member_by_phone(session, model.phone):
                errors.append(RowError(number, "phone", "already registered to a member"))
            phones.setdefault(model.phone, number)
    if errors:
        raise Problem(422, "Invalid CSV", f"{len(errors)} problem(s); nothing was imported",
                      [FieldError(f"row {e.row}.{e.field}", e.reason) for e in errors],
                      row_errors=[{"row": e.row, "field": e.field, "reason": e.reason} for e in errors])
    teams = {key: team for key, team in teams_by_name.items() if team is not None}
    schedules: dict[str, dict[str, Any]] = {}
    for _, raw, model in parsed.rows:
        if isinstance(model, TeamIn):
            await create_team(session=session, principal=principal, body=model, settings=settings, now=now)
            continue
        team = teams[(raw["community"] or "", raw["team"] or "")]
        if isinstance(model, MemberIn):
            await enrol_member(session=session, principal=principal, team_id=team.id, body=model, now=now,
                               reason="csv import")
        else:
            document = schedules.setdefault(team.id, dict(team.schedule or {}))
            part = SCHEDULE_PARTS[raw["kind"] or ""]
            document[part] = [*document.get(part, []), model.model_dump(mode="json")]
    for document in schedules.values():
        if sum(len(document.get(p, [])) for p in SCHEDULE_PARTS.values()) > MAX_SCHEDULE_PARTS:
            raise Problem(422, "Invalid CSV",
                          f"a team's schedule would exceed {MAX_SCHEDULE_PARTS} parts; nothing was imported")
    for team in {t.id: t for t in teams.values()}.values():
        fresh = await existing_team(session, team.id, for_update=True)
        changed = {"schedule": schedules[team.id]} if team.id in schedules else None
        await refresh_team(session, fresh, now, settings, changed=changed)
    return {"kind": kind, "imported": len(parsed.rows)}


async def export_csv(*, session: AsyncConnection, principal: Principal, kind: str, community: str | None) -> str:
    """Live teams of the caller's scope, their members or their shifts in the
    import's columns (chat URLs are write-only: left empty); every cell defused."""
    rows: list[dict[str, Any]] = []
    visible = visible_communities(principal, await scope_tree(session))
    found, _ = await store.list_teams(session, visible, community, MAX_EXPORT_TEAMS, 0)
    for team in found:
        if kind == "teams":
            rows.append(dict(name=team.name, community=team.community, lat=team.lat, lon=team.lon,
                             radius_km=team.radius_km, skills=" ".join(team.skills), capacity=team.capacity,
                             leader_name=team.leader_name, leader_phone=team.leader_phone,
                             chat_url=None, timezone=team.timezone, status=team.status))
        elif kind == "members":
            for m in await store.team_members(session, team.id):
                rows.append(dict(community=team.community, team=team.name, name=m.name,
                                 phone=m.phone, skills=" ".join(m.skills),
                                 duty=m.duty, group=m.shift_group, active=str(m.active).lower(), locale=m.locale))
        else:
            document = team.schedule or {}
            base = dict(community=team.community, team=team.name)
            for weekly in document.get("weekly", []):
                rows.append({**base, "kind": "weekly", **weekly})
            for kind_name, part in (("one_off", "one_off"), ("exception", "exceptions")):
                for interval in document.get(part, []):
                    rows.append({**base, "kind": kind_name, **interval})
    return write(kind, rows)
