"""Every query intake makes."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, Table, Text, and_, bindparam, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import autocommits, driver

from .models import (
    communities,
    idempotency_keys,
    partner_keys,
    partners,
    requests,
    status_changes,
    webhook_deliveries,
)


def _insert(session: AsyncConnection):
    return postgresql.insert if session.dialect.name == "postgresql" else sqlite.insert


# --- requests -------------------------------------------------------------------


# Statements on the hot path are built once and executed with parameters:
# building a statement per call costs more CPU than the round trip.
_BY_EXTERNAL_ID = select(requests).where(
    requests.c.submitted_by == bindparam("owner"), requests.c.external_id == bindparam("external_id"))
_EARLIER = (
    select(requests.c.id, requests.c.lat, requests.c.lon, requests.c.received_at, requests.c.duplicate_of)
    .where(
        requests.c.requester_phone == bindparam("phone"),
        requests.c.category == bindparam("category"),
        requests.c.received_at >= bindparam("since"),
        requests.c.status.not_in(("cancelled", "closed")),
    )
    .order_by(requests.c.received_at)
    .limit(50)
)
_ADD_STATUS_CHANGE = status_changes.insert()
_FINISH_IDEMPOTENCY_KEY = (
    update(idempotency_keys)
    .where(idempotency_keys.c.owner == bindparam("b_owner"), idempotency_keys.c.key == bindparam("b_key"))
    .values(status_code=bindparam("status_code"), response=bindparam("response"))
)
_INSERT_REQUEST = {
    dialect: module.insert(requests).on_conflict_do_nothing(index_elements=["submitted_by", "external_id"])
    for dialect, module in (("postgresql", postgresql), ("sqlite", sqlite))
}
_CLAIM_IDEMPOTENCY_KEY = {
    dialect: module.insert(idempotency_keys).on_conflict_do_nothing(index_elements=["owner", "key"])
    for dialect, module in (("postgresql", postgresql), ("sqlite", sqlite))
}


class Outcome(enum.Enum):
    CREATED = "created"
    KEY_TAKEN = "key_taken"  # the Idempotency-Key was used before: nothing written
    EXTERNAL_ID_TAKEN = "external_id_taken"  # the owner's external id is taken: no request, no event


# The columns a new request is written with (the rest take their defaults).
SUBMITTED_COLUMNS = (
    "id", "reference", "submitted_by", "external_id", "category", "description", "lat", "lon",
    "address", "community", "urgency", "vulnerabilities", "people", "source", "requester_name",
    "requester_phone", "requester_locale", "preferred_channel", "status", "dispatch_sequence",
    "duplicate_of", "operator_id", "call_at", "operator_notes", "received_at", "updated_at",
)


def probes_duplicates_in_sql(session: AsyncConnection) -> bool:
    """True where `insert_submission` finds the likely original itself."""
    return session.dialect.name == "postgresql"


# duplicates.distance_m (haversine), term for term, so both give the same metres.
_DISTANCE_M = """2 * CAST(6371000.0 AS double precision) * asin(least(CAST(1.0 AS double precision), sqrt(
        sin((radians(lat) - radians(:lat)) / 2) ^ 2
        + cos(radians(:lat)) * cos(radians(lat)) * sin(radians(lon - :lon) / 2) ^ 2)))"""


def _submission_sql(with_key: bool, outbox: Table) -> str:
    """PostgreSQL: the duplicate probe, the Idempotency-Key claim, the request
    and its outbox row in one statement (one round trip).  Each insert happens
    only if the one before it did: a key already taken writes nothing; an
    external id already taken (ON CONFLICT waits for a concurrent insert of the
    same one) writes no event.  The probe is duplicates.likely_original in SQL:
    the first open request (same phone, category, since `since`) within
    `radius_m`, or what that one repeats; the stored answer carries it between
    `response_head` and `response_tail`."""
    columns = ", ".join(SUBMITTED_COLUMNS)
    params = ", ".join("(SELECT original FROM earlier)" if c == "duplicate_of" else f":{c}"
                       for c in SUBMITTED_COLUMNS)
    claim = ""
    condition = ""
    if with_key:
        claim = """claimed AS (
            INSERT INTO idempotency_keys (owner, key, fingerprint, status_code, response, created_at)
            VALUES (:submitted_by, :idempotency_key, :fingerprint, :status_code,
                    :response_head || coalesce('"' || (SELECT original FROM earlier) || '"', 'null')
                    || :response_tail, :received_at)
            ON CONFLICT (owner, key) DO NOTHING
            RETURNING 1
        ), """
        condition = "WHERE EXISTS (SELECT FROM claimed)"
    sql = f"""WITH earlier AS (
            SELECT coalesce(duplicate_of, id) AS original FROM requests
            WHERE requester_phone = :requester_phone AND category = :category
              AND received_at >= :since AND status NOT IN ('cancelled', 'closed')
              AND {_DISTANCE_M} <= :radius_m
            ORDER BY received_at, id
            LIMIT 1
        ), {claim}stored AS (
            INSERT INTO requests ({columns}) SELECT {params} {condition}
            ON CONFLICT (submitted_by, external_id) DO NOTHING
            RETURNING 1
        ), queued AS (
            INSERT INTO {outbox.name} (event_id, type, payload)
            SELECT :event_id, :event_type, :payload WHERE EXISTS (SELECT FROM stored)
            RETURNING 1
        )
        SELECT {"EXISTS (SELECT FROM claimed)" if with_key else "true"} AS claimed,
               EXISTS (SELECT FROM stored) AS stored,
               (SELECT original FROM earlier) AS duplicate_of"""
    return sql


def _bound_submission(with_key: bool, sql: str):
    types = [bindparam(c, type_=requests.c[c].type) for c in SUBMITTED_COLUMNS if c != "duplicate_of"]
    types += [bindparam("event_id", type_=String), bindparam("event_type", type_=String),
              bindparam("payload", type_=Text), bindparam("since", type_=requests.c.received_at.type),
              bindparam("radius_m", type_=Float)]
    if with_key:
        types += [bindparam("idempotency_key", type_=String), bindparam("fingerprint", type_=String),
                  bindparam("status_code", type_=Integer), bindparam("response_head", type_=Text),
                  bindparam("response_tail", type_=Text)]
    return text(sql).bindparams(*types)


class _Submission:
    """The submission statement, for SQLAlchemy and, in $n form, for the driver."""

    def __init__(self, with_key: bool, outbox: Table) -> None:
        sql = _submission_sql(with_key, outbox)
        self.bound = _bound_submission(with_key, sql)
        self.names: list[str] = []

        def number(match: re.Match) -> str:
            if match[1] not in self.names:
                self.names.append(match[1])
            return f"${self.names.index(match[1]) + 1}"

        self.positional = re.sub(r"(?<![:\w]):(\w+)", number, sql)


_SUBMISSION: dict[tuple[bool, str], _Submission] = {}


async def insert_submission(
    session: AsyncConnection, values: dict[str, Any], outbox: Table, event: dict[str, str],
    idempotency: tuple[str, str, int, str, str] | None = None,
    probe: tuple[datetime, float] | None = None,
) -> tuple[Outcome, str | None]:
    """Writes a new request with its outbox row `event` (event_id, type,
    payload) and, given `idempotency` (key, fingerprint, status code, and the
    answer as the text before and after its `possible_duplicate_of` value),
    claims the owner's Idempotency-Key with its answer first.  A concurrent
    call with the same key or external id waits here for the other to end.

    Where `probes_duplicates_in_sql`, `probe` (since, radius in metres) finds
    the likely original, which is stored and returned; elsewhere the caller
    has put it in `values` already, and it is returned as it is."""
    owner = values["submitted_by"]
    if probes_duplicates_in_sql(session):
        statement = _SUBMISSION.get((idempotency is not None, outbox.name))
        if statement is None:
            statement = _SUBMISSION[(idempotency is not None, outbox.name)] = _Submission(
                idempotency is not None, outbox)
        params = {c: values[c] for c in SUBMITTED_COLUMNS if c != "duplicate_of"}
        params.update(event_id=event["event_id"], event_type=event["type"], payload=event["payload"],
                      since=probe[0], radius_m=probe[1])
        if idempotency is not None:
            params.update(idempotency_key=idempotency[0], fingerprint=idempotency[1],
                          status_code=idempotency[2], response_head=idempotency[3],
                          response_tail=idempotency[4])
        if autocommits(session):
            # One statement outside any transaction: straight to the driver,
            # which saves SQLAlchemy's per-execute work (a sixth of a millisecond,
            # about a tenth of this call) on the hottest statement of intake.
            claimed, stored, duplicate_of = await (await driver(session)).fetchrow(
                statement.positional, *(params[name] for name in statement.names))
        else:
            claimed, stored, duplicate_of = (await session.execute(statement.bound, params)).one()
    else:  # SQLite: the same steps, one statement each
        duplicate_of = values["duplicate_of"]
        if idempotency is None:
            claimed = True
        else:
            answer = idempotency[3] + (f'"{duplicate_of}"' if duplicate_of else "null") + idempotency[4]
            claimed = await claim_idempotency_key(session, owner, idempotency[0], idempotency[1],
                                                  values["received_at"], idempotency[2], answer)
        stored = claimed and await insert_request(session, values)
        if stored:
            await session.execute(outbox.insert(), event)
    if not claimed:
        return Outcome.KEY_TAKEN, duplicate_of
    return (Outcome.CREATED if stored else Outcome.EXTERNAL_ID_TAKEN), duplicate_of


async def find_by_external_id(session: AsyncConnection, submitted_by: str, external_id: str) -> Row | None:
    result = await session.execute(_BY_EXTERNAL_ID, {"owner": submitted_by, "external_id": external_id})
    return result.first()


async def insert_request(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """False when another request already holds the owner's external id (a
    concurrent insert of the same one waits here for the other to end)."""
    result = await session.execute(_INSERT_REQUEST[session.dialect.name], values)
    return result.rowcount == 1


async def get_request(session: AsyncConnection, request_id: str, *, for_update: bool = False) -> Row | None:
    query = select(requests).where(requests.c.id == request_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def get_request_by_reference(session: AsyncConnection, reference: str) -> Row | None:
    return (await session.execute(select(requests).where(requests.c.reference == reference))).first()


async def earlier_requests_for(
    session: AsyncConnection, phone: str, category: str, since: datetime
) -> list[Row]:
    """Open requests from the same phone in the same category since `since`."""
    result = await session.execute(_EARLIER, {"phone": phone, "category": category, "since": since})
    return list(result.all())


async def add_status_change(
    session: AsyncConnection, request_id: str, status: str, at: datetime, reason: str | None,
    sequence: int | None = None,
) -> None:
    await session.execute(_ADD_STATUS_CHANGE, {"request_id": request_id, "status": status, "changed_at": at,
                                               "reason": reason, "sequence": sequence})


async def history(session: AsyncConnection, request_id: str) -> list[Row]:
    result = await session.execute(
        select(status_changes.c.status, status_changes.c.changed_at, status_changes.c.reason,
               status_changes.c.sequence)
        .where(status_changes.c.request_id == request_id)
        .order_by(status_changes.c.changed_at, status_changes.c.id)
    )
    return list(result.all())


async def set_status(
    session: AsyncConnection, request_id: str, status: str, sequence: int | None, at: datetime
) -> None:
    """Sets the requester-facing status; `sequence` is dispatch's, None for a
    change intake made itself (a cancellation)."""
    values: dict[str, Any] = dict(status=status, updated_at=at)
    if sequence is not None:
        values["dispatch_sequence"] = sequence
    await session.execute(update(requests).where(requests.c.id == request_id).values(**values))


async def set_feedback(
    session: AsyncConnection, request_id: str, rating: int, comment: str | None, channel: str, at: datetime
) -> None:
    await session.execute(
        update(requests).where(requests.c.id == request_id).values(
            feedback_rating=rating, feedback_comment=comment, feedback_channel=channel,
            feedback_at=at, updated_at=at,
        )
    )


async def list_requests(
    session: AsyncConnection,
    *,
    submitted_by: str | None = None,
    communities_or_subject: tuple[Iterable[str], str] | None = None,
    ids: list[str] | None = None,
    external_id: str | None = None,
    categories: list[str] | None = None,
    statuses: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 1000,
) -> list[Row]:
    """Newest first.  `submitted_by` scopes to one owner; `communities_or_subject`
    to a coordinator's communities plus what the coordinator filed."""
    query = select(requests)
    if submitted_by is not None:
        query = query.where(requests.c.submitted_by == submitted_by)
    if communities_or_subject is not None:
        codes, subject = communities_or_subject
        query = query.where(or_(requests.c.community.in_(list(codes)), requests.c.submitted_by == subject))
    if ids:
        query = query.where(or_(requests.c.id.in_(ids), requests.c.reference.in_(ids)))
    if external_id is not None:
        query = query.where(requests.c.external_id == external_id)
    if categories:
        query = query.where(requests.c.category.in_(categories))
    if statuses:
        query = query.where(requests.c.status.in_(statuses))
    if start is not None:
        query = query.where(requests.c.received_at >= start)
    if end is not None:
        query = query.where(requests.c.received_at <= end)
    result = await session.execute(query.order_by(requests.c.received_at.desc()).limit(limit))
    return list(result.all())


# --- partners and their keys -----------------------------------------------------


async def insert_partner(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(partners.insert().values(**values))


async def get_partner(session: AsyncConnection, partner_id: str) -> Row | None:
    return (await session.execute(select(partners).where(partners.c.id == partner_id))).first()


async def list_partners(session: AsyncConnection) -> list[Row]:
    return list((await session.execute(select(partners).order_by(partners.c.created_at))).all())


async def insert_key(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(partner_keys.insert().values(**values))


async def list_keys(session: AsyncConnection, partner_id: str) -> list[Row]:
    result = await session.execute(
        select(partner_keys).where(partner_keys.c.partner_id == partner_id).order_by(partner_keys.c.created_at)
    )
    return list(result.all())


async def get_key(session: AsyncConnection, partner_id: str, key_id: str) -> Row | None:
    result = await session.execute(
        select(partner_keys).where(partner_keys.c.id == key_id, partner_keys.c.partner_id == partner_id)
    )
    return result.first()


async def partner_for_key(session: AsyncConnection, key_hash: str) -> str | None:
    """The partner id of an active (not revoked) key."""
    result = await session.execute(
        select(partner_keys.c.partner_id).where(
            partner_keys.c.key_hash == key_hash, partner_keys.c.revoked_at.is_(None)
        )
    )
    return result.scalar_one_or_none()


async def revoke_key(session: AsyncConnection, key_id: str, at: datetime) -> None:
    await session.execute(
        update(partner_keys).where(partner_keys.c.id == key_id, partner_keys.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def set_webhook(session: AsyncConnection, partner_id: str, url: str | None, secret: str | None) -> None:
    await session.execute(
        update(partners).where(partners.c.id == partner_id).values(webhook_url=url, webhook_secret=secret)
    )


# --- communities -------------------------------------------------------------------


async def upsert_community(session: AsyncConnection, values: dict[str, Any]) -> None:
    insert = _insert(session)
    statement = insert(communities).values(**values)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["code"],
        set_={k: statement.excluded[k] for k in ("name", "lat", "lon", "updated_at")},
    ))


async def get_community(session: AsyncConnection, code: str) -> Row | None:
    return (await session.execute(select(communities).where(communities.c.code == code))).first()


async def list_communities(session: AsyncConnection) -> list[Row]:
    return list((await session.execute(select(communities).order_by(communities.c.code))).all())


# --- idempotency keys ----------------------------------------------------------------


async def claim_idempotency_key(
    session: AsyncConnection, owner: str, key: str, fingerprint: str, at: datetime,
    status_code: int, response: str,
) -> bool:
    """True for the first use of (owner, key), stored with its answer.  A
    concurrent first use waits here until the other transaction ends."""
    result = await session.execute(
        _CLAIM_IDEMPOTENCY_KEY[session.dialect.name],
        {"owner": owner, "key": key, "fingerprint": fingerprint, "created_at": at,
         "status_code": status_code, "response": response},
    )
    return result.rowcount == 1


async def get_idempotency_key(session: AsyncConnection, owner: str, key: str) -> Row | None:
    result = await session.execute(
        select(idempotency_keys).where(idempotency_keys.c.owner == owner, idempotency_keys.c.key == key)
    )
    return result.first()


async def finish_idempotency_key(
    session: AsyncConnection, owner: str, key: str, status_code: int, response: str
) -> None:
    await session.execute(_FINISH_IDEMPOTENCY_KEY, {"b_owner": owner, "b_key": key,
                                                    "status_code": status_code, "response": response})


# --- webhook deliveries ----------------------------------------------------------------


async def insert_delivery(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(webhook_deliveries.insert().values(**values))


async def claim_due_deliveries(
    session: AsyncConnection, now: datetime, lease_until: datetime, limit: int
) -> list[Row]:
    """Due deliveries, leased until `lease_until` so no other replica sends them meanwhile."""
    rows = list((await session.execute(
        select(webhook_deliveries, partners.c.webhook_secret)
        .join(partners, partners.c.id == webhook_deliveries.c.partner_id)
        .where(webhook_deliveries.c.state == "pending", webhook_deliveries.c.next_attempt_at <= now)
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=webhook_deliveries)
    )).all())
    if rows:
        await session.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id.in_([r.id for r in rows]))
            .values(next_attempt_at=lease_until)
        )
    return rows


async def record_attempt(
    session: AsyncConnection, delivery_id: str, *, state: str, attempts: int,
    status_code: int | None, error: str | None, next_attempt_at: datetime | None,
    delivered_at: datetime | None,
) -> None:
    await session.execute(
        update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(
            state=state, attempts=attempts, last_status_code=status_code,
            last_error=error[:300] if error else None, next_attempt_at=next_attempt_at,
            delivered_at=delivered_at,
        )
    )


async def earliest_due_delivery(session: AsyncConnection) -> datetime | None:
    result = await session.execute(
        select(webhook_deliveries.c.next_attempt_at)
        .where(webhook_deliveries.c.state == "pending")
        .order_by(webhook_deliveries.c.next_attempt_at).limit(1)
    )
    return result.scalar_one_or_none()


async def list_deliveries(
    session: AsyncConnection, partner_id: str, request_id: str | None, limit: int
) -> list[Row]:
    conditions = [webhook_deliveries.c.partner_id == partner_id]
    if request_id:
        conditions.append(webhook_deliveries.c.request_id == request_id)
    result = await session.execute(
        select(webhook_deliveries).where(and_(*conditions))
        .order_by(webhook_deliveries.c.created_at.desc()).limit(limit)
    )
    return list(result.all())
