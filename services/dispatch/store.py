"""Every query dispatch makes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, any_, delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import driver, where_equal

from .models import assignments, audit, notes, requests, team_cells, teams

OPEN_ASSIGNMENT_STATES = ("offered", "accepted", "in_progress")
OPEN_REQUEST_STATES = ("queued", "offered", "accepted", "in_progress", "escalated")


# --- teams (read model of volunteers' events) ---------------------------------


# Team changes take turns on PostgreSQL (a transaction-scoped advisory lock),
# so each takes max(change_seq) + 1 only after the previous one committed:
# the numbers become visible in order and a reader that saw N missed nothing
# below it.  (A sequence would hand out numbers that commit out of order.)
# SQLite runs one writer at a time anyway.
_TEAM_CHANGES_LOCK = 7_242_300_101


async def upsert_team(session: AsyncConnection, values: dict[str, Any], cells: dict[int, bool]) -> bool:
    """Applies a team's state (and its cells in the spatial index) if it is
    newer than what we hold, with the next change number."""
    if session.dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_TEAM_CHANGES_LOCK)))
    current = (
        await session.execute(
            select(teams.c.version).where(teams.c.id == values["id"]).with_for_update()
        )
    ).scalar_one_or_none()
    if current is not None and values["version"] <= current:
        return False
    next_change = select(func.coalesce(func.max(teams.c.change_seq), 0) + 1).scalar_subquery()
    if current is None:
        await session.execute(teams.insert().values(open_tasks=0, change_seq=next_change, **values))
    else:
        await session.execute(update(teams).where(teams.c.id == values["id"])
                              .values(change_seq=next_change, **values))
        await session.execute(delete(team_cells).where(team_cells.c.team_id == values["id"]))
    if cells:
        await session.execute(insert(team_cells), [{"team_id": values["id"], "cell": c, "own": own}
                                                   for c, own in cells.items()])
    return True


async def teams_changed_since(session: AsyncConnection, change_seq: int) -> list[Row]:
    """Teams changed after `change_seq` (every team for -1), in change order."""
    return list((await session.execute(
        select(teams).where(teams.c.change_seq > change_seq).order_by(teams.c.change_seq)
    )).all())


class DriverRow(dict[str, Any]):
    """A row read through the driver, looked at as SQLAlchemy's Row is
    (`row.name`, `row._mapping`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> DriverRow:
        return self


# A team's row as `teams_by_id` reads it: one or the other, read alike.
TeamRow = Row[Any] | DriverRow

_TEAMS_BY_ID = f"SELECT {', '.join(c.name for c in teams.c)} FROM teams WHERE id = ANY($1::varchar[])"


async def teams_by_id(session: AsyncConnection, ids: list[str]) -> list[TeamRow]:
    """The current rows of a few teams, by primary key (SQLAlchemy rows, or
    DriverRows on PostgreSQL: read them alike)."""
    if not ids:
        return []
    if session.dialect.name == "postgresql":
        # Read before every offer: straight to the driver, which halves the
        # time SQLAlchemy's execute and row processing take here (p50 0.51 ->
        # 0.26 ms for 8 rows).  The caller has locked the request already, so
        # this runs inside its transaction.  SQLAlchemy's asyncpg dialect gives
        # each connection a json codec: categories and area arrive decoded.
        return [DriverRow(record) for record in await (await driver(session)).fetch(_TEAMS_BY_ID, ids)]
    rows: list[TeamRow] = []
    for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
        rows.extend((await session.execute(select(teams).where(teams.c.id.in_(ids[start:start + 500])))).all())
    return rows


async def teams_near(session: AsyncConnection, cells: list[int], widened: bool) -> list[Row]:
    """Teams filed under any of the point's cells (a superset of those covering it)."""
    ids = select(team_cells.c.team_id).where(team_cells.c.cell.in_(cells)).distinct()
    if not widened:
        ids = ids.where(team_cells.c.own.is_(True))
    if session.dialect.name == "postgresql":
        # id = ANY(ARRAY(subquery)): the ids first (covering index), then the
        # teams by primary key.  As IN (subquery) the planner hash-joins and
        # scans every team.
        return list((await session.execute(
            select(teams).where(teams.c.id == any_(func.array(ids.scalar_subquery())))
        )).all())
    return list((await session.execute(select(teams).where(teams.c.id.in_(ids)))).all())


async def reserve_capacity(session: AsyncConnection, team_id: str, *, override: bool = False,
                           version: int | None = None) -> bool:
    """Takes one unit of a team's capacity, or fails if none is free.  With
    `override` (a coordinator's audited decision) capacity is not checked.
    With `version`, also fails if the team changed since that version was read
    (the matcher checked that version: area, duty, skills, capacity)."""
    query = update(teams).where(teams.c.id == team_id, teams.c.status == "active")
    if not override:
        query = query.where(teams.c.open_tasks < teams.c.capacity)
    if version is not None:
        query = query.where(teams.c.version == version, teams.c.on_duty.is_(True))
    result = await session.execute(query.values(open_tasks=teams.c.open_tasks + 1))
    return result.rowcount == 1


async def release_capacity(session: AsyncConnection, team_id: str) -> None:
    await session.execute(
        update(teams).where(teams.c.id == team_id, teams.c.open_tasks > 0)
        .values(open_tasks=teams.c.open_tasks - 1)
    )


async def get_team(session: AsyncConnection, team_id: str) -> Row | None:
    return (await session.execute(select(teams).where(teams.c.id == team_id))).first()


# --- requests ------------------------------------------------------------------


async def insert_request(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(requests.insert().values(**values))


async def get_request(session: AsyncConnection, request_id: str, *, for_update: bool = False,
                      skip_locked: bool = False) -> Row | None:
    query = select(requests).where(requests.c.id == request_id)
    if for_update:
        query = query.with_for_update(skip_locked=skip_locked)
    return (await session.execute(query)).first()


async def update_request(session: AsyncConnection, request_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(requests).where(requests.c.id == request_id).values(**values))


QUEUE_ORDER = (requests.c.urgency_rank, requests.c.vulnerability_score.desc(), requests.c.received_at)


async def queued_request_ids(session: AsyncConnection, limit: int) -> list[str]:
    """The queue's order: most urgent, then most vulnerable, then oldest."""
    return [request_id for request_id, _ in await waiting_request_ids(session, limit, with_escalated=False)]


async def waiting_request_ids(session: AsyncConnection, limit: int,
                              with_escalated: bool) -> list[tuple[str, str]]:
    """(id, status) of the queued requests and, `with_escalated`, of the
    escalated ones a team could still take, in the queue's order."""
    statuses = ("queued", "escalated") if with_escalated else ("queued",)
    result = await session.execute(
        select(requests.c.id, requests.c.status)
        .where(requests.c.status.in_(statuses), requests.c.needs_volunteer.is_(True))
        .order_by(*QUEUE_ORDER)
        .limit(limit)
    )
    return [(row.id, row.status) for row in result]


async def lock_requests(session: AsyncConnection, ids: list[str]) -> list[Row]:
    """Locks the queued ones among `ids`, skipping rows another replica holds."""
    result = await session.execute(
        select(requests).where(requests.c.id.in_(ids), requests.c.status == "queued")
        .order_by(*QUEUE_ORDER).with_for_update(skip_locked=True)
    )
    return list(result.all())


def _queue_filter(query: Select[Any], filters: dict[str, Any]) -> Select[Any]:
    query = where_equal(query, filters, {"status": requests.c.status, "community": requests.c.community,
                                         "category": requests.c.category, "urgency": requests.c.urgency})
    if filters.get("communities") is not None:
        query = query.where(requests.c.community.in_(filters["communities"]))
    if filters.get("received_before"):
        query = query.where(requests.c.received_at <= filters["received_before"])
    if filters.get("received_after"):
        query = query.where(requests.c.received_at >= filters["received_after"])
    return query


async def list_requests(session: AsyncConnection, filters: dict[str, Any], limit: int, offset: int) -> list[Row]:
    query = _queue_filter(select(requests), filters).order_by(*QUEUE_ORDER, requests.c.id)
    return list((await session.execute(query.limit(limit).offset(offset))).all())


async def count_requests(session: AsyncConnection, filters: dict[str, Any]) -> int:
    query = _queue_filter(select(func.count()).select_from(requests), filters)
    return int((await session.execute(query)).scalar_one())


async def due_escalations(session: AsyncConnection, now: datetime, limit: int) -> list[Row]:
    """Queued requests whose wait for capacity ran out; one replica claims each."""
    result = await session.execute(
        select(requests).where(requests.c.status == "queued", requests.c.escalate_at <= now)
        .order_by(requests.c.escalate_at).limit(limit).with_for_update(skip_locked=True)
    )
    return list(result.all())


async def due_sla_breaches(session: AsyncConnection, now: datetime, limit: int) -> list[Row]:
    """Requests not accepted by their SLA deadline and not yet reported."""
    result = await session.execute(
        select(requests).where(requests.c.sla_due_at <= now, requests.c.sla_breached_at.is_(None),
                               requests.c.status.in_(("queued", "offered", "escalated")))
        .order_by(requests.c.sla_due_at).limit(limit).with_for_update(skip_locked=True)
    )
    return list(result.all())


# --- assignments ------------------------------------------------------------------


async def insert_assignment(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(assignments.insert().values(**values))


async def get_assignment(session: AsyncConnection, assignment_id: str, *, for_update: bool = False) -> Row | None:
    query = select(assignments).where(assignments.c.id == assignment_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def update_assignment(session: AsyncConnection, assignment_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(assignments).where(assignments.c.id == assignment_id).values(**values))


# The assignment a request shows: its open offer or task, or the one done, latest offered.
_CURRENT_ASSIGNMENT_STATES = OPEN_ASSIGNMENT_STATES + ("done",)


async def current_assignments(session: AsyncConnection, request_ids: list[str]) -> dict[str, Row]:
    """The assignment each of these requests shows (those that have one), in one query."""
    if not request_ids:
        return {}
    result = await session.execute(
        select(assignments)
        .where(assignments.c.request_id.in_(request_ids), assignments.c.state.in_(_CURRENT_ASSIGNMENT_STATES))
        .order_by(assignments.c.request_id, assignments.c.offered_at.desc())
    )
    current: dict[str, Row] = {}
    for row in result:
        current.setdefault(row.request_id, row)  # the latest offered comes first
    return current


async def open_assignment(session: AsyncConnection, request_id: str) -> Row | None:
    """The offer or task that holds a unit of a team's capacity for this request."""
    result = await session.execute(
        select(assignments).where(assignments.c.request_id == request_id,
                                  assignments.c.state.in_(OPEN_ASSIGNMENT_STATES))
        .order_by(assignments.c.offered_at.desc()).limit(1).with_for_update()
    )
    return result.first()


async def assignments_of(session: AsyncConnection, request_id: str) -> list[Row]:
    result = await session.execute(
        select(assignments).where(assignments.c.request_id == request_id).order_by(assignments.c.offered_at)
    )
    return list(result.all())


async def teams_tried(session: AsyncConnection, request_id: str) -> set[str]:
    """Teams that declined this request or let the offer expire."""
    result = await session.execute(
        select(assignments.c.team_id).where(
            assignments.c.request_id == request_id,
            assignments.c.state.in_(("declined", "expired")),
        )
    )
    return set(result.scalars())


async def expired_offer_ids(session: AsyncConnection, now: datetime, limit: int) -> list[str]:
    result = await session.execute(
        select(assignments.c.id)
        .where(and_(assignments.c.state == "offered", assignments.c.offer_expires_at <= now))
        .order_by(assignments.c.offer_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result.scalars())


# --- audit --------------------------------------------------------------------------


async def add_audit(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(audit.insert().values(**values))


async def add_note(session: AsyncConnection, values: dict[str, Any]) -> int:
    result = await session.execute(notes.insert().values(**values).returning(notes.c.id))
    return int(result.scalar_one())


async def notes_of(session: AsyncConnection, request_id: str) -> list[Row]:
    result = await session.execute(select(notes).where(notes.c.request_id == request_id).order_by(notes.c.id))
    return list(result.all())


async def histories(session: AsyncConnection, request_ids: list[str]) -> dict[str, list[Row]]:
    """Each of these requests' audit rows, oldest first, in one query."""
    if not request_ids:
        return {}
    result = await session.execute(
        select(audit).where(audit.c.request_id.in_(request_ids)).order_by(audit.c.id)
    )
    found: dict[str, list[Row]] = {}
    for row in result:
        found.setdefault(row.request_id, []).append(row)
    return found


# --- stats --------------------------------------------------------------------------


# The communities a figure is limited to; None: all of them.
Communities = frozenset[str] | None


def _scoped(query: Select[Any], column: ColumnElement[Any], communities: Communities) -> Select[Any]:
    return query if communities is None else query.where(column.in_(communities))


async def open_by_community_and_category(session: AsyncConnection, communities: Communities) -> list[Row]:
    query = (select(requests.c.community, requests.c.category, func.count().label("open"))
             .where(requests.c.status.in_(OPEN_REQUEST_STATES))
             .group_by(requests.c.community, requests.c.category))
    return list((await session.execute(_scoped(query, requests.c.community, communities))).all())


async def waiting_by_community(session: AsyncConnection, communities: Communities) -> list[Row]:
    """Requests that still need a team (queued, offered, escalated), per community."""
    query = (select(requests.c.community, func.count().label("waiting"))
             .where(requests.c.status.in_(("queued", "offered", "escalated")))
             .group_by(requests.c.community))
    return list((await session.execute(_scoped(query, requests.c.community, communities))).all())


async def on_duty_capacity_by_community(session: AsyncConnection, communities: Communities) -> list[Row]:
    query = (select(teams.c.community, func.count().label("teams"),
                    func.sum(teams.c.capacity).label("capacity"),
                    func.sum(teams.c.open_tasks).label("open_tasks"))
             .where(teams.c.status == "active", teams.c.on_duty.is_(True))
             .group_by(teams.c.community))
    return list((await session.execute(_scoped(query, teams.c.community, communities))).all())


async def lifecycle_times(session: AsyncConnection, communities: Communities) -> list[Row]:
    query = select(requests.c.received_at, requests.c.accepted_at, requests.c.closed_at).where(
        requests.c.accepted_at.is_not(None) | requests.c.closed_at.is_not(None))
    return list((await session.execute(_scoped(query, requests.c.community, communities))).all())


async def sla_breaches_by_community(session: AsyncConnection, communities: Communities) -> list[Row]:
    query = (select(requests.c.community, func.count().label("breaches"))
             .where(requests.c.sla_breached_at.is_not(None)).group_by(requests.c.community))
    return list((await session.execute(_scoped(query, requests.c.community, communities))).all())
