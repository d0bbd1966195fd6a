"""Every query notify makes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from .models import consents, deliveries, inbound_messages, offers, requesters, teams


def _insert(session: AsyncConnection):
    return postgresql.insert if session.dialect.name == "postgresql" else sqlite.insert


# --- requesters -------------------------------------------------------------------------


async def save_requester(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(
        _insert(session)(requesters).values(**values).on_conflict_do_nothing(index_elements=["request_id"])
    )


async def get_requester(session: AsyncConnection, request_id: str, for_update: bool = False) -> Row | None:
    query = select(requesters).where(requesters.c.request_id == request_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def track_request_status(session: AsyncConnection, request_id: str, status: str, sequence: int) -> None:
    """Keeps the newest status heard (events may arrive out of order)."""
    await session.execute(
        update(requesters)
        .where(requesters.c.request_id == request_id,
               or_(requesters.c.sequence.is_(None), requesters.c.sequence < sequence))
        .values(status=status, sequence=sequence)
    )


async def awaiting_rating(session: AsyncConnection, phone: str) -> Row | None:
    """The newest request of this phone that is done and not yet rated."""
    return (await session.execute(
        select(requesters)
        .where(requesters.c.phone == phone, requesters.c.status == "done", requesters.c.rated_at.is_(None))
        .order_by(requesters.c.sequence.desc())
        .limit(1)
        .with_for_update()
    )).first()


async def requester_by_phone(session: AsyncConnection, phone: str) -> Row | None:
    return (await session.execute(
        select(requesters).where(requesters.c.phone == phone).limit(1)
    )).first()


async def mark_rated(session: AsyncConnection, request_id: str, at: datetime) -> None:
    await session.execute(update(requesters).where(requesters.c.request_id == request_id).values(rated_at=at))


# --- teams ------------------------------------------------------------------------------


async def upsert_team(session: AsyncConnection, values: dict[str, Any]) -> None:
    current = (
        await session.execute(select(teams.c.version).where(teams.c.id == values["id"]).with_for_update())
    ).scalar_one_or_none()
    if current is None:
        await session.execute(teams.insert().values(**values))
    elif values["version"] > current:
        await session.execute(update(teams).where(teams.c.id == values["id"]).values(**values))


async def get_team(session: AsyncConnection, team_id: str) -> Row | None:
    return (await session.execute(select(teams).where(teams.c.id == team_id))).first()


async def teams_led_by(session: AsyncConnection, phone: str) -> list[Row]:
    return list((await session.execute(select(teams).where(teams.c.leader_phone == phone))).all())


# --- offers -----------------------------------------------------------------------------


async def record_offer(session: AsyncConnection, values: dict[str, Any]) -> None:
    """An offer's details; its state stays whatever a status change already said."""
    details = {k: values[k] for k in ("category", "urgency", "summary", "offer_expires_at", "offered_at")}
    await session.execute(
        _insert(session)(offers).values(**values)
        .on_conflict_do_update(index_elements=["assignment_id"], set_=details)
    )


async def track_offer_state(session: AsyncConnection, values: dict[str, Any]) -> None:
    """Moves an offer to the state a status change names, if that change is newer."""
    insert = _insert(session)(offers).values(**values)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["assignment_id"],
            set_=dict(state=insert.excluded.state, sequence=insert.excluded.sequence),
            where=offers.c.sequence < insert.excluded.sequence,
        )
    )


async def get_offer(session: AsyncConnection, assignment_id: str) -> Row | None:
    return (await session.execute(select(offers).where(offers.c.assignment_id == assignment_id))).first()


async def offers_of_teams(session: AsyncConnection, team_ids: list[str], states: tuple[str, ...]) -> list[Row]:
    return list((await session.execute(
        select(offers).where(offers.c.team_id.in_(team_ids), offers.c.state.in_(states))
        .order_by(offers.c.offered_at)
    )).all())


# --- consent ----------------------------------------------------------------------------


async def get_consent(session: AsyncConnection, phone: str) -> Row | None:
    return (await session.execute(select(consents).where(consents.c.phone == phone))).first()


async def opted_out_among(session: AsyncConnection, phones: list[str]) -> set[str]:
    if not phones:
        return set()
    rows = await session.execute(
        select(consents.c.phone).where(consents.c.phone.in_(phones), consents.c.opted_out.is_(True))
    )
    return set(rows.scalars().all())


async def save_consent(session: AsyncConnection, values: dict[str, Any]) -> None:
    insert = _insert(session)(consents).values(**values)
    await session.execute(insert.on_conflict_do_update(
        index_elements=["phone"], set_={k: v for k, v in values.items() if k != "phone"}
    ))


# --- inbound ----------------------------------------------------------------------------


async def record_inbound(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """False when the provider sent this message (same id) before."""
    result = await session.execute(
        _insert(session)(inbound_messages).values(**values).on_conflict_do_nothing(
            index_elements=["channel", "provider_message_id"]
        )
    )
    return result.rowcount == 1


async def set_inbound_outcome(session: AsyncConnection, inbound_id: str, outcome: str) -> None:
    await session.execute(
        update(inbound_messages).where(inbound_messages.c.id == inbound_id).values(outcome=outcome)
    )


async def inbound_outcome(session: AsyncConnection, channel: str, provider_message_id: str) -> str | None:
    return (await session.execute(
        select(inbound_messages.c.outcome).where(
            inbound_messages.c.channel == channel,
            inbound_messages.c.provider_message_id == provider_message_id)
    )).scalar_one_or_none()


# --- deliveries -------------------------------------------------------------------------


async def queue_delivery(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """False when this (event, recipient, channel) was queued before."""
    result = await session.execute(
        _insert(session)(deliveries).values(**values).on_conflict_do_nothing(
            index_elements=["cause_event_id", "recipient", "channel"]
        )
    )
    return result.rowcount == 1


async def due_deliveries(session: AsyncConnection, now: datetime, limit: int,
                         channels: list[str] | None = None) -> list[Row]:
    query = select(deliveries).where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
    if channels is not None:
        query = query.where(deliveries.c.channel.in_(channels))
    result = await session.execute(
        query.order_by(deliveries.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
    )
    return list(result.all())


async def next_due_at(session: AsyncConnection) -> datetime | None:
    return (await session.execute(
        select(func.min(deliveries.c.next_attempt_at)).where(deliveries.c.status == "pending")
    )).scalar_one_or_none()


async def update_delivery(session: AsyncConnection, delivery_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))


def _delivery_filters(query, f: dict[str, Any]):
    if f.get("request_id"):
        query = query.where(deliveries.c.request_id == f["request_id"])
    if f.get("status"):
        query = query.where(deliveries.c.status == f["status"])
    if f.get("recipient"):
        query = query.where(deliveries.c.recipient == f["recipient"])
    if f.get("channel"):
        query = query.where(deliveries.c.channel == f["channel"])
    if f.get("since"):
        query = query.where(deliveries.c.created_at >= f["since"])
    if f.get("until"):
        query = query.where(deliveries.c.created_at < f["until"])
    if f.get("communities") is not None:
        query = query.where(deliveries.c.community.in_(sorted(f["communities"])))
    return query


async def list_deliveries(session: AsyncConnection, filters: dict[str, Any], limit: int, offset: int
                          ) -> tuple[list[Row], int]:
    """One page, newest first, and how many match in all."""
    query = _delivery_filters(select(deliveries), filters)
    rows = (await session.execute(
        query.order_by(deliveries.c.created_at.desc(), deliveries.c.id).limit(limit).offset(offset)
    )).all()
    total = (await session.execute(
        _delivery_filters(select(func.count()).select_from(deliveries), filters)
    )).scalar_one()
    return list(rows), total
