"""Intake's SQL but the submission's (see submission_store): requests and
their history, partners and their keys, communities, webhook deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import insert_for

from .models import (
    communities,
    idempotency_keys,
    partner_keys,
    partners,
    requests,
    status_changes,
    used_form_tokens,
    webhook_deliveries,
)

# --- requests -------------------------------------------------------------------

_ADD_STATUS_CHANGE = status_changes.insert()


async def get_request(session: AsyncConnection, request_id: str, *, for_update: bool = False) -> Row[Any] | None:
    query = select(requests).where(requests.c.id == request_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def add_status_change(
    session: AsyncConnection, request_id: str, status: str, at: datetime, reason: str | None,
    sequence: int | None = None,
) -> None:
    await session.execute(_ADD_STATUS_CHANGE, {"request_id": request_id, "status": status, "changed_at": at,
                                               "reason": reason, "sequence": sequence})


_HISTORY_COLUMNS = (status_changes.c.request_id, status_changes.c.status, status_changes.c.changed_at,
                    status_changes.c.reason, status_changes.c.sequence)


async def history(session: AsyncConnection, request_id: str) -> list[Row[Any]]:
    """One request's stored changes, oldest first."""
    result = await session.execute(
        select(*_HISTORY_COLUMNS).where(status_changes.c.request_id == request_id)
        .order_by(status_changes.c.changed_at, status_changes.c.id)
    )
    return list(result.all())


async def histories(session: AsyncConnection, request_ids: list[str]) -> dict[str, list[Row[Any]]]:
    """The stored changes of many requests in one query, each oldest first."""
    by_request: dict[str, list[Row[Any]]] = {request_id: [] for request_id in request_ids}
    if not request_ids:
        return by_request
    result = await session.execute(
        select(*_HISTORY_COLUMNS).where(status_changes.c.request_id.in_(request_ids))
        .order_by(status_changes.c.changed_at, status_changes.c.id)
    )
    for row in result:
        by_request[row.request_id].append(row)
    return by_request


async def set_status(
    session: AsyncConnection, request_id: str, status: str, sequence: int | None, at: datetime,
    expected_by: datetime | None = None,
) -> None:
    """Sets the requester-facing status; `sequence` is dispatch's, None for a
    change intake made itself (a cancellation).  `expected_by`, dispatch's
    promise, replaces the stored one when given."""
    values: dict[str, Any] = dict(status=status, updated_at=at)
    if sequence is not None:
        values["dispatch_sequence"] = sequence
    if expected_by is not None:
        values["expected_by"] = expected_by
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


def _requests_where(
    query: Select[Any],
    *,
    submitted_by: str | None = None,
    communities_or_subject: tuple[Iterable[str], str] | None = None,
    ids: list[str] | None = None,
    external_id: str | None = None,
    categories: list[str] | None = None,
    statuses: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[Any]:
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
    return query


async def list_requests(session: AsyncConnection, *, limit: int = 1000, offset: int = 0,
                        **filters: Any) -> list[Row[Any]]:
    """Newest first.  `submitted_by` scopes to one owner; `communities_or_subject`
    to a coordinator's communities plus what the coordinator filed (see _requests_where)."""
    query = _requests_where(select(requests), **filters)
    result = await session.execute(query.order_by(requests.c.received_at.desc(), requests.c.id)
                                   .limit(limit).offset(offset))
    return list(result.all())


async def page_of_requests(session: AsyncConnection, *, limit: int, offset: int,
                           **filters: Any) -> tuple[list[Row[Any]], int]:
    """A page, newest first, and how many match in all: one statement (the
    total rides on each row), two only for a page past the end."""
    query = _requests_where(select(requests, func.count().over().label("total_count")), **filters)
    rows = list((await session.execute(query.order_by(requests.c.received_at.desc(), requests.c.id)
                                       .limit(limit).offset(offset))).all())
    if rows:
        return rows, int(rows[0].total_count)
    if offset == 0:
        return rows, 0
    total = await session.execute(_requests_where(select(func.count()).select_from(requests), **filters))
    return rows, int(total.scalar_one())


async def remove_personal_data(session: AsyncConnection, *, statuses: Iterable[str], ended_before: datetime,
                               now: datetime) -> int:
    """Clears the personal fields of requests in `statuses` last changed before
    `ended_before`, with their history's reasons, their deliveries' payloads
    and the answers kept for Idempotency-Keys as old; how many requests."""
    ids = list((await session.execute(
        select(requests.c.id).where(requests.c.status.in_(list(statuses)), requests.c.updated_at < ended_before,
                                    requests.c.personal_data_removed_at.is_(None)).limit(1000))).scalars())
    if not ids:
        return 0
    await session.execute(update(requests).where(requests.c.id.in_(ids)).values(
        requester_name="", requester_phone="", address=None, description="", operator_notes=None,
        feedback_comment=None, personal_data_removed_at=now))
    await session.execute(update(status_changes).where(status_changes.c.request_id.in_(ids)).values(reason=None))
    await session.execute(update(webhook_deliveries).where(webhook_deliveries.c.request_id.in_(ids))
                          .values(payload="{}"))
    await session.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < ended_before))
    return len(ids)


# --- partners and their keys -----------------------------------------------------


async def insert_partner(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(partners.insert().values(**values))


async def get_partner(session: AsyncConnection, partner_id: str) -> Row[Any] | None:
    return (await session.execute(select(partners).where(partners.c.id == partner_id))).first()


async def list_partners(session: AsyncConnection) -> list[Row[Any]]:
    return list((await session.execute(select(partners).order_by(partners.c.created_at))).all())


async def insert_key(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(partner_keys.insert().values(**values))


async def list_keys(session: AsyncConnection, partner_id: str) -> list[Row[Any]]:
    result = await session.execute(
        select(partner_keys).where(partner_keys.c.partner_id == partner_id).order_by(partner_keys.c.created_at)
    )
    return list(result.all())


async def get_key(session: AsyncConnection, partner_id: str, key_id: str) -> Row[Any] | None:
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


async def upsert_community_if_newer(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """Stores a community's state unless the stored version is as new; True if it was stored."""
    statement = insert_for(session, communities).values(**values)
    result = await session.execute(statement.on_conflict_do_update(
        index_elements=["code"],
        set_={k: statement.excluded[k] for k in values if k != "code"},
        where=communities.c.version < statement.excluded.version,
    ))
    return bool(result.rowcount)


async def list_communities(session: AsyncConnection) -> list[Row[Any]]:
    return list((await session.execute(select(communities).order_by(communities.c.code))).all())


# --- form tokens -----------------------------------------------------------------------


async def claim_form_token(session: AsyncConnection, nonce: str, expires_at: datetime) -> bool:
    """True the first time a form token's nonce is spent."""
    statement = insert_for(session, used_form_tokens).values(nonce=nonce, expires_at=expires_at)
    result = await session.execute(statement.on_conflict_do_nothing(index_elements=["nonce"]))
    return bool(result.rowcount)


async def prune_form_tokens(session: AsyncConnection, now: datetime) -> int:
    result = await session.execute(delete(used_form_tokens).where(used_form_tokens.c.expires_at < now))
    return int(result.rowcount or 0)


# --- webhook deliveries ----------------------------------------------------------------


async def insert_delivery(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(webhook_deliveries.insert().values(**values))


async def claim_due_deliveries(
    session: AsyncConnection, now: datetime, lease_until: datetime, limit: int
) -> list[Row[Any]]:
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


def _deliveries_of(partner_id: str, request_id: str | None) -> list[Any]:
    conditions = [webhook_deliveries.c.partner_id == partner_id]
    if request_id:
        conditions.append(webhook_deliveries.c.request_id == request_id)
    return conditions


async def list_deliveries(
    session: AsyncConnection, partner_id: str, request_id: str | None, limit: int, offset: int = 0,
) -> list[Row[Any]]:
    result = await session.execute(
        select(webhook_deliveries).where(and_(*_deliveries_of(partner_id, request_id)))
        .order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id).limit(limit).offset(offset)
    )
    return list(result.all())


async def count_deliveries(session: AsyncConnection, partner_id: str, request_id: str | None) -> int:
    query = select(func.count()).select_from(webhook_deliveries).where(and_(*_deliveries_of(partner_id, request_id)))
    return int((await session.execute(query)).scalar_one())
