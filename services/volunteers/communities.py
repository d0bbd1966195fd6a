"""Communities (grids), their districts and cities: volunteers owns them.  An
admin writes them (one at a time, or a whole GeoJSON/CSV file, every entry or
none); every change is published as aid.community.changed.v1 through the
outbox; everyone authenticated reads them.  The scope tree every other door
checks against is read from here."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import CommunityChangedV1
from shared.http import FieldError, Principal, Problem, not_found, require_admin
from shared.outbox import record_event
from shared.scope import CommunityTree

from . import store
from .access_schemas import CommunityFields, CommunityIn, CommunityOut
from .models import SOURCE, outbox

RANK = {"community": 0, "district": 1, "city": 2}
MAX_ENTRIES = 5000
CSV_COLUMNS = ("code", "level", "parent", "name_zh", "name_en", "timezone", "boundary", "hotline", "status")


async def scope_tree(session: AsyncConnection) -> CommunityTree:
    """The parent links every scope check reads (one small query; every replica sees the same)."""
    return CommunityTree(await store.community_parents(session))


async def create_community(*, session: AsyncConnection, principal: Principal, body: CommunityIn,
                           now: datetime) -> CommunityOut:
    """An admin adds a community, district or city; it is published."""
    require_admin(principal)
    if await store.get_community(session, body.code) is not None:
        raise Problem(409, "Conflict", f"community {body.code} already exists",
                      [FieldError("code", "already exists")])
    await _check_place(session, body.code, body, {}, prefix="")
    return await _save(session, body, None, now)


async def replace_community(*, session: AsyncConnection, principal: Principal, code: str, body: CommunityFields,
                            now: datetime) -> CommunityOut:
    """An admin replaces a community's fields (version + 1); it is published."""
    require_admin(principal)
    existing = await store.get_community(session, code, for_update=True)
    if existing is None:
        raise not_found(f"community {code}")
    await _check_place(session, code, body, {}, prefix="")
    return await _save(session, CommunityIn(code=code, **body.model_dump()), existing, now)


async def get_community(*, session: AsyncConnection, code: str) -> CommunityOut:
    """One community, district or city."""
    row = await store.get_community(session, code)
    if row is None:
        raise not_found(f"community {code}")
    return view(row)


async def list_communities(*, session: AsyncConnection, level: str | None, parent: str | None,
                           limit: int, offset: int) -> tuple[list[CommunityOut], int]:
    """A page of communities by code, and how many there are."""
    rows, total = await store.list_communities(session, level, parent, limit, offset)
    return [view(r) for r in rows], total


async def import_communities(*, session: AsyncConnection, principal: Principal, text: str,
                             now: datetime) -> dict[str, Any]:
    """An admin imports a GeoJSON FeatureCollection (fields in each feature's
    properties, the boundary its geometry) or a CSV (a `boundary` column of
    GeoJSON text).  Every entry is written or none: a 422 names each bad
    feature or row and field."""
    require_admin(principal)
    stripped = text.lstrip()
    entries = _features(stripped) if stripped.startswith("{") else _csv_rows(text)
    parsed: dict[str, tuple[str, CommunityIn]] = {}
    errors: list[FieldError] = []
    for label, raw in entries:
        try:
            item = CommunityIn.model_validate(raw)
        except ValidationError as exc:
            errors.extend(FieldError(f"{label}.{'.'.join(str(p) for p in e['loc']) or 'entry'}", e["msg"])
                          for e in exc.errors())
            continue
        if item.code in parsed:
            errors.append(FieldError(f"{label}.code", f"{item.code} appears twice in the file"))
        parsed[item.code] = (label, item)
    if not errors:
        batch = {code: item for code, (_, item) in parsed.items()}
        for code, (label, item) in parsed.items():
            errors.extend(await _place_problems(session, code, item, batch, prefix=f"{label}."))
    if errors:
        raise Problem(422, "Invalid import", f"{len(errors)} problems; nothing was imported", errors)
    existing = await store.communities_by_code(session, list(parsed))
    created = 0
    for _, item in sorted(parsed.values(), key=lambda p: -RANK[p[1].level]):
        created += item.code not in existing
        await _save(session, item, existing.get(item.code), now)
    return {"imported": len(parsed), "created": created, "updated": len(parsed) - created}


def _features(text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
        raise Problem(422, "Invalid import", "not valid JSON", [FieldError("body", str(exc))]) from None
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection" or not isinstance(features,
                                                                                                      list):
        raise Problem(422, "Invalid import", "expected a GeoJSON FeatureCollection",
                      [FieldError("body", "must be a FeatureCollection with a features list")])
    _bounded(len(features))
    out = []
    for i, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        raw = dict(props) if isinstance(props, dict) else {}
        if isinstance(feature, dict) and feature.get("geometry") is not None:
            raw["boundary"] = feature["geometry"]
        out.append((f"feature {i}", raw))
    return out


def _csv_rows(text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))  # a bare CR ends a row, as in csv_io
    try:
        missing = {"code", "level", "name_zh", "name_en"} - set(reader.fieldnames or ())
        rows = [] if missing else list(reader)
    except csv.Error as exc:
        raise Problem(422, "Invalid import", "not readable as CSV",
                      [FieldError("body", f"line {reader.line_num}: {exc}")]) from None
    if missing:
        raise Problem(422, "Invalid import", "the header lacks required columns",
                      [FieldError("header", f"missing column {c}") for c in sorted(missing)])
    _bounded(len(rows))
    out: list[tuple[str, dict[str, Any]]] = []
    for n, row in enumerate(rows, start=2):
        raw: dict[str, Any] = {k: v.strip() for k, v in row.items() if k in CSV_COLUMNS and v and v.strip()}
        if "boundary" in raw:
            try:
                raw["boundary"] = json.loads(raw["boundary"])
            except ValueError:
                raw["boundary"] = "not GeoJSON text"
        out.append((f"row {n}", raw))
    return out


def _bounded(count: int) -> None:
    if count > MAX_ENTRIES:
        raise Problem(422, "Invalid import", f"at most {MAX_ENTRIES} entries per file",
                      [FieldError("body", "too many entries")])


async def _check_place(session: AsyncConnection, code: str, body: CommunityFields,
                       batch: dict[str, CommunityIn], *, prefix: str) -> None:
    problems = await _place_problems(session, code, body, batch, prefix=prefix)
    if problems:
        raise Problem(422, "Invalid request", "; ".join(f"{e.field}: {e.reason}" for e in problems), problems)


async def _place_problems(session: AsyncConnection, code: str, body: CommunityFields,
                          batch: dict[str, CommunityIn], *, prefix: str) -> list[FieldError]:
    """The parent must exist (here or in the same file) and sit a level above;
    so a chain of parents always climbs and never closes on itself."""
    problems = []
    if body.parent is not None:
        parent: Any = batch.get(body.parent) or await store.get_community(session, body.parent)
        if body.parent == code:
            problems.append(FieldError(f"{prefix}parent", "cannot be the community itself"))
        elif parent is None:
            problems.append(FieldError(f"{prefix}parent", f"{body.parent} does not exist"))
        elif RANK[parent.level] <= RANK[body.level]:
            problems.append(FieldError(f"{prefix}parent", f"a {body.level}'s parent must be a level above it, "
                                       f"not a {parent.level}"))
    for child in await store.children_of(session, code):
        level = batch[child.code].level if child.code in batch else child.level
        if RANK[level] >= RANK[body.level]:
            problems.append(FieldError(f"{prefix}level", f"{child.code} below it is a {level}"))
            break
    return problems


async def _save(session: AsyncConnection, body: CommunityIn, existing: Row[Any] | None,
                now: datetime) -> CommunityOut:
    values = body.model_dump()
    if existing is None:
        values.update(version=1, created_at=now, updated_at=now)
        await store.insert_community(session, values)
    else:
        values.update(version=existing.version + 1, updated_at=now)
        await store.update_community(session, body.code, values)
    row = await store.get_community(session, body.code)
    assert row is not None
    await record_event(session, outbox, CommunityChangedV1(
        source=SOURCE, correlationid=row.code,
        data=dict(code=row.code, version=row.version, level=row.level, parent=row.parent, name_zh=row.name_zh,
                  name_en=row.name_en, timezone=row.timezone, boundary=row.boundary, hotline=row.hotline,
                  status=row.status, changed_at=now),
    ))
    return view(row)


def view(row: Row[Any]) -> CommunityOut:
    return CommunityOut(**row._mapping)
