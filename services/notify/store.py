"""Notify's store: every query notify makes, and nothing else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import insert_for, where_equal

from .models import communities, consent_changes, consents, deliveries, inbound_messages, offers, requesters, teams

# --- requesters -------------------------------------------------------------------------


async def save_requester(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(
        insert_for(session, requesters).values(**values).on_conflict_do_nothing(index_elements=["request_id"])
    )


async def get_requester(session: AsyncConnection, request_id: str) -> Row | None:
    return (await session.execute(select(requesters).where(requesters.c.request_id == request_id))).first()


async def track_request_status(session: AsyncConnection, request_id: str, status: str, sequence: int,
                               expected_by: datetime | None, closed_at: datetime | None = None) -> None:
    """Keeps the newest status heard (events may arrive out of order), the
    time the requester was promised whenever a status change carries one, and
    when the request was closed or cancelled (None while it is open)."""
    values: dict[str, Any] = dict(status=status, sequence=sequence, closed_at=closed_at)
    if expected_by is not None:  # an older producer's event leaves the promise already heard
        values["expected_by"] = expected_by
    await session.execute(
        update(requesters)
        .where(requesters.c.request_id == request_id,
               or_(requesters.c.sequence.is_(None), requesters.c.sequence < sequence))
        .values(**values)
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
        insert_for(session, offers).values(**values)
        .on_conflict_do_update(index_elements=["assignment_id"], set_=details)
    )


async def track_offer_state(session: AsyncConnection, values: dict[str, Any]) -> None:
    """Moves an offer to the state a status change names, if that change is newer."""
    insert = insert_for(session, offers).values(**values)
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
    insert = insert_for(session, consents).values(**values)
    await session.execute(insert.on_conflict_do_update(
        index_elements=["phone"], set_={k: v for k, v in values.items() if k != "phone"}
    ))


# --- inbound ----------------------------------------------------------------------------


async def record_inbound(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """False when the provider sent this message (same id) before."""
    result = await session.execute(
        insert_for(session, inbound_messages).values(**values).on_conflict_do_nothing(
            index_elements=["channel", "provider_message_id"]
        )
    )
    return result.rowcount == 1


async def set_inbound_outcome(session: AsyncConnection, inbound_id: str, outcome: str) -> None:
    await session.execute(
        update(inbound_messages).where(inbound_messages.c.id == inbound_id).values(outcome=outcome)
    )


# --- deliveries -------------------------------------------------------------------------


async def queue_delivery(session: AsyncConnection, values: dict[str, Any]) -> None:
    """Does nothing when this (event, recipient, channel) was queued before."""
    await session.execute(
        insert_for(session, deliveries).values(**values).on_conflict_do_nothing(
            index_elements=["cause_event_id", "recipient", "channel"]
        )
    )


async def due_deliveries(session: AsyncConnection, now: datetime, limit: int, channels: list[str]) -> list[Row]:
    """Pending deliveries of these channels whose time has come, oldest first,
    locked so that no other replica sends them too."""
    result = await session.execute(
        select(deliveries)
        .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now,
               deliveries.c.channel.in_(channels))
        .order_by(deliveries.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
    )
    return list(result.all())


async def update_delivery(session: AsyncConnection, delivery_id: str, values: dict[str, Any]) -> None:
    await session.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))


def _delivery_filters(query: Select[Any], filters: dict[str, Any]) -> Select[Any]:
    query = where_equal(query, filters, {"request_id": deliveries.c.request_id, "status": deliveries.c.status,
                                         "recipient": deliveries.c.recipient, "channel": deliveries.c.channel})
    if filters.get("since"):
        query = query.where(deliveries.c.created_at >= filters["since"])
    if filters.get("until"):
        query = query.where(deliveries.c.created_at < filters["until"])
    if filters.get("communities") is not None:
        query = query.where(deliveries.c.community.in_(sorted(filters["communities"])))
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


# --- communities ------------------------------------------------------------------------


async def upsert_community(session: AsyncConnection, values: dict[str, Any]) -> bool:
    """Applies a community's state if it is newer than the one kept; True when it was."""
    current = (await session.execute(
        select(communities.c.version).where(communities.c.code == values["code"]).with_for_update()
    )).scalar_one_or_none()
    if current is None:
        await session.execute(communities.insert().values(**values))
        return True
    if values["version"] > current:
        await session.execute(update(communities).where(communities.c.code == values["code"]).values(**values))
        return True
    return False


async def community_parents(session: AsyncConnection) -> dict[str, str | None]:
    rows = await session.execute(select(communities.c.code, communities.c.parent))
    return {row.code: row.parent for row in rows.all()}


async def get_community(session: AsyncConnection, code: str) -> Row | None:
    return (await session.execute(select(communities).where(communities.c.code == code))).first()


# --- whose phone is it ------------------------------------------------------------------


async def communities_of_phone(session: AsyncConnection, phone: str) -> set[str | None]:
    """The communities of the requests this phone made and of the teams it leads."""
    asked = select(requesters.c.community).where(requesters.c.phone == phone)
    leads = select(teams.c.community).where(teams.c.leader_phone == phone)
    rows = await session.execute(asked.union(leads))
    return set(rows.scalars().all())


# --- consent history --------------------------------------------------------------------


async def record_consent_change(session: AsyncConnection, values: dict[str, Any]) -> None:
    await session.execute(consent_changes.insert().values(**values))


async def consent_history(session: AsyncConnection, phone: str, limit: int, offset: int
                          ) -> tuple[list[Row], int]:
    """A phone's consent changes, newest first, and how many there are."""
    rows = (await session.execute(
        select(consent_changes).where(consent_changes.c.phone == phone)
        .order_by(consent_changes.c.changed_at.desc(), consent_changes.c.id).limit(limit).offset(offset)
    )).all()
    total = (await session.execute(
        select(func.count()).select_from(consent_changes).where(consent_changes.c.phone == phone)
    )).scalar_one()
    return list(rows), total


# --- retention of personal data ---------------------------------------------------------


async def forget_personal_data(session: AsyncConnection, before: datetime) -> dict[str, int]:
    """Removes names, phones, addresses and texts kept since before `before`;
    what statistics need (category, community, channel, status, times) stays.
    Says how many rows of each table it changed."""
    done: dict[str, int] = {}
    result = await session.execute(
        update(requesters).where(requesters.c.closed_at < before, requesters.c.phone != "")
        .values(phone="", name=None))
    done["requesters"] = result.rowcount
    closed = select(requesters.c.request_id).where(requesters.c.closed_at < before)
    result = await session.execute(
        update(offers).where(offers.c.request_id.in_(closed), offers.c.summary.is_not(None)).values(summary=None))
    done["offers"] = result.rowcount
    result = await session.execute(
        update(deliveries).where(deliveries.c.created_at < before, deliveries.c.status != "pending",
                                 or_(deliveries.c.address != "", deliveries.c.body != ""))
        .values(address="", body="", last_error=None))
    done["deliveries"] = result.rowcount
    result = await session.execute(
        update(inbound_messages).where(inbound_messages.c.received_at < before,
                                       or_(inbound_messages.c.text != "", inbound_messages.c.sender != ""))
        .values(text="", sender=""))
    done["inbound_messages"] = result.rowcount
    result = await session.execute(
        update(consent_changes).where(consent_changes.c.changed_at < before, consent_changes.c.reason.is_not(None))
        .values(reason=None))
    done["consent_changes"] = result.rowcount
    return done
