"""Intake's use cases.  They never commit: the caller's transaction does."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import (
    RequestCancelledV1,
    RequestFeedbackGivenV1,
    RequestReceivedV1,
    RequestStatusChangedV1,
)
from shared.http import FieldError, Principal, Problem, not_found
from shared.outbox import record_event

from . import duplicates, store, webhooks
from .categories import CATALOGUE
from .models import outbox
from .schemas import (
    CommunityIn,
    CommunityOut,
    DeliveryOut,
    FeedbackIn,
    FeedbackOut,
    HotlineCallIn,
    HotlineOut,
    PartnerKeyOut,
    PartnerOut,
    RequestIn,
    RequestOut,
    StatusChangeOut,
    WebhookOut,
)
from .settings import IntakeSettings

SOURCE = "heartline/intake"

# Dispatch's lifecycle, as the requester sees it.
PUBLIC_STATUS = {
    "queued": "received",
    "offered": "received",
    "accepted": "assigned",
    "in_progress": "in_progress",
    "done": "done",
    "closed": "closed",
    "cancelled": "cancelled",
    "escalated": "escalated",
}
CANCELLABLE = frozenset({"received", "assigned", "in_progress", "escalated"})
# Once cancelled here, only dispatch's word that the work was finished anyway counts.
AFTER_CANCEL = frozenset({"cancelled", "done", "closed"})

# Crockford-like alphabet without 0/O and 1/I/L, easy to read out on the phone.
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
PARTNER_KEY_PREFIX = "hlk_"


def _new_reference() -> str:
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))


def _now() -> datetime:
    return datetime.now(UTC)


def owner_of(principal: Principal) -> str:
    """Whose requests a caller files and sees: its partner, else itself."""
    return principal.partner_id or principal.subject


def may_see(principal: Principal, row) -> bool:
    if principal.is_admin:
        return True
    if principal.role == "coordinator" and row.community and principal.may_act_for(row.community):
        return True
    return row.submitted_by == owner_of(principal)


@dataclass(frozen=True)
class Submission:
    """The answer to a submission: `body` is the request's JSON (RequestOut)."""

    body: bytes
    created: bool
    status_code: int
    replayed: bool = False

    @cached_property
    def request(self) -> RequestOut:
        return RequestOut.model_validate_json(self.body)


@dataclass(frozen=True)
class Intake:
    """What every door (partner API, hotline desk, QR form, Open311) hands in."""

    category: str
    description: str
    lat: float | None
    lon: float | None
    address: str | None
    community: str | None
    urgency: str
    vulnerabilities: tuple[str, ...]
    people: int
    source: str
    name: str
    phone: str
    locale: str
    preferred_channel: str | None
    external_id: str | None = None
    operator_id: str | None = None
    call_at: datetime | None = None
    operator_notes: str | None = None

    @classmethod
    def from_partner(cls, body: RequestIn) -> Intake:
        return cls(
            category=body.category, description=body.description,
            lat=body.location.lat, lon=body.location.lon, address=body.location.address,
            community=body.location.community, urgency=body.urgency,
            vulnerabilities=tuple(dict.fromkeys(body.vulnerabilities)), people=body.people,
            source=body.source, name=body.requester.name, phone=body.requester.phone,
            locale=body.requester.locale, preferred_channel=body.requester.preferred_channel,
            external_id=body.external_id,
        )

    @classmethod
    def from_hotline(cls, body: HotlineCallIn) -> Intake:
        return cls(
            category=body.category, description=body.description,
            lat=body.location.lat, lon=body.location.lon, address=body.location.address,
            community=body.location.community, urgency=body.urgency,
            vulnerabilities=tuple(dict.fromkeys(body.vulnerabilities)), people=body.people,
            source="hotline", name=body.caller.name, phone=body.caller.phone,
            locale=body.caller.locale, preferred_channel=body.caller.preferred_channel,
            external_id=body.external_id, operator_id=body.operator_id, call_at=body.call_at.astimezone(UTC),
            operator_notes=body.notes,
        )


def _iso(at: datetime | None) -> str | None:
    """A UTC time as pydantic writes it (`...Z`)."""
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def _new_request_json(values: dict[str, Any], needs_volunteer: bool) -> str:
    """RequestOut's JSON for a request just received, written directly: the
    hot path's answer (and its idempotency record) without building and
    re-serialising the model.  `test_pure` checks it against RequestOut."""
    received = _iso(values["received_at"])
    hotline = None
    if values["operator_id"]:
        hotline = {"operator_id": values["operator_id"], "call_at": _iso(values["call_at"]),
                   "notes": values["operator_notes"]}
    vulnerabilities = values["vulnerabilities"]
    return json.dumps({
        "id": values["id"], "reference": values["reference"], "status": "received",
        "category": values["category"], "needs_volunteer": needs_volunteer,
        "urgency": values["urgency"], "source": values["source"], "community": values["community"],
        "people": values["people"], "vulnerabilities": vulnerabilities.split(",") if vulnerabilities else [],
        "external_id": values["external_id"], "possible_duplicate_of": values["duplicate_of"],
        "received_at": received, "updated_at": received,
        "history": [{"status": "received", "at": received, "reason": None}],
        "feedback": None, "hotline": hotline,
    }, ensure_ascii=False, separators=(",", ":"))


def _fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


async def submit(
    session: AsyncConnection,
    principal: Principal,
    intake: Intake,
    settings: IntakeSettings,
    *,
    owner: str | None = None,
    idempotency_key: str | None = None,
    fingerprint_of: Any = None,
    partner_id: str | None = None,
) -> Submission:
    """Stores a request and queues its `aid.request.received.v1`.

    The same `Idempotency-Key` with the same body answers what the first call
    answered; with another body it is refused (422).  A repeated `external_id`
    from the same owner is the same request (200).

    On PostgreSQL the write is one atomic statement, so doors run this on
    `Database.autocommit()` (no BEGIN/COMMIT round trips); the one follow-up
    write, on a taken external id, is healed by a retry (see _replay)."""
    owner = owner or owner_of(principal)
    idempotency = None
    if idempotency_key is not None:
        idempotency = (idempotency_key, _fingerprint(fingerprint_of))
    return await _submit(session, intake, settings, owner, _now(),
                         partner_id or principal.partner_id, idempotency)


async def _replay(session: AsyncConnection, intake: Intake, owner: str, key: str, fingerprint: str) -> Submission:
    row = await store.get_idempotency_key(session, owner, key)
    if row is None or row.status_code is None:  # not expected: a key is stored with its answer
        raise Problem(409, "Conflict", "a call with this Idempotency-Key is in progress; retry")
    if row.fingerprint != fingerprint:
        raise Problem(422, "Idempotency-Key reused",
                      "this Idempotency-Key was used before with a different body",
                      [FieldError("Idempotency-Key", "was used before with a different body")])
    if (row.status_code == 202 and intake.external_id is not None
            and await store.get_request(session, json.loads(row.response)["id"]) is None):
        # The first call found its external id taken and stopped between its
        # two statements (see _same_external_id): answer what it would have.
        return await _same_external_id(session, intake, owner, key)
    return Submission(row.response.encode(), created=False, status_code=row.status_code,
                      replayed=True)


async def _same_external_id(session: AsyncConnection, intake: Intake, owner: str, key: str | None) -> Submission:
    """The owner sent this external id before (or a concurrent call just did):
    that request, 200.  On PostgreSQL the submission statement claimed the
    Idempotency-Key with a 202 answer before it found the id taken, and that
    statement has committed; this rewrites the key's answer."""
    existing = await store.find_by_external_id(session, owner, intake.external_id or "")
    if existing is None:
        raise Problem(409, "Conflict", "the request could not be stored; retry")
    body = (await _view(session, existing)).model_dump_json().encode()
    if key is not None:
        await store.finish_idempotency_key(session, owner, key, 200, body.decode())
    return Submission(body, created=False, status_code=200)


async def _submit(
    session: AsyncConnection, intake: Intake, settings: IntakeSettings, owner: str, now: datetime,
    partner_id: str | None, idempotency: tuple[str, str] | None,
) -> Submission:
    lat, lon = intake.lat, intake.lon
    if intake.community is not None:
        community = await store.get_community(session, intake.community)
        if community is None:
            raise Problem(422, "Invalid request", "location.community: unknown community code",
                          [FieldError("location.community", "is not in the community catalogue")])
        if lat is None:
            lat, lon = community.lat, community.lon

    since = now - timedelta(hours=settings.duplicate_window_hours)
    duplicate_of = None
    if not store.probes_duplicates_in_sql(session):  # else the insert finds it, in one round trip
        earlier = await store.earlier_requests_for(session, intake.phone, intake.category, since)
        duplicate_of = duplicates.likely_original(
            (duplicates.Earlier(e.id, e.lat, e.lon, e.received_at, e.duplicate_of) for e in earlier),
            lat, lon, settings.duplicate_radius_m,
        )
    preferred_channel = intake.preferred_channel or (
        "phone_call" if "no_smartphone" in intake.vulnerabilities else "sms")
    request_id = str(uuid4())
    values = dict(
        id=request_id,
        reference=_new_reference(),
        submitted_by=owner,
        external_id=intake.external_id,
        category=intake.category,
        description=intake.description,
        lat=lat,
        lon=lon,
        address=intake.address,
        community=intake.community,
        urgency=intake.urgency,
        vulnerabilities=",".join(intake.vulnerabilities),
        people=intake.people,
        source=intake.source,
        requester_name=intake.name,
        requester_phone=intake.phone,
        requester_locale=intake.locale,
        preferred_channel=preferred_channel,
        status="received",
        dispatch_sequence=0,
        duplicate_of=duplicate_of,
        operator_id=intake.operator_id,
        call_at=intake.call_at,
        operator_notes=intake.operator_notes,
        received_at=now,
        updated_at=now,
    )
    # The new row and its one status change are known: no need to read them back.
    view = _new_request_json({**values, "duplicate_of": None}, CATALOGUE[intake.category].needs_volunteer)
    event = RequestReceivedV1(
        source=SOURCE,
        correlationid=request_id,
        data=dict(
            request_id=request_id,
            reference=values["reference"],
            category=intake.category,
            needs_volunteer=CATALOGUE[intake.category].needs_volunteer,
            description=intake.description,
            location=dict(lat=lat, lon=lon),
            community=intake.community,
            urgency=intake.urgency,
            vulnerabilities=intake.vulnerabilities,
            people=intake.people,
            source=intake.source,
            requester=dict(name=intake.name, phone=intake.phone, locale=intake.locale,
                           preferred_channel=preferred_channel),
            external_id=intake.external_id,
            partner_id=partner_id,
            received_at=now,
        ),
    )
    # The idempotency key (claimed together with its answer), the request and
    # its event are written together; the event row commits with the request.
    # The answer around its possible_duplicate_of, which the insert may find.
    # User text cannot contain this unescaped, so the first one is the key.
    head, _, tail = view.partition('"possible_duplicate_of":null')
    head += '"possible_duplicate_of":'
    outcome, duplicate_of = await store.insert_submission(
        session, values, outbox,
        dict(event_id=str(event.id), type=event.type, payload=event.model_dump_json()),
        idempotency=None if idempotency is None else (*idempotency, 202, head, tail),
        probe=(since, settings.duplicate_radius_m),
    )
    if outcome is store.Outcome.KEY_TAKEN:
        return await _replay(session, intake, owner, *idempotency)
    if outcome is store.Outcome.EXTERNAL_ID_TAKEN:
        return await _same_external_id(session, intake, owner, idempotency and idempotency[0])
    return Submission((head + (f'"{duplicate_of}"' if duplicate_of else "null") + tail).encode(),
                      created=True, status_code=202)


async def get_request(session: AsyncConnection, principal: Principal, request_id: str) -> RequestOut:
    return await _view(session, await _visible(session, principal, request_id))


async def list_requests(
    session: AsyncConnection, principal: Principal, *, status: str | None, external_id: str | None,
    limit: int,
) -> list[RequestOut]:
    scope: dict[str, Any] = {}
    if principal.role == "coordinator":
        scope["communities_or_subject"] = (principal.communities, principal.subject)
    elif not principal.is_admin:
        scope["submitted_by"] = owner_of(principal)
    rows = await store.list_requests(session, statuses=[status] if status else None,
                                     external_id=external_id, limit=limit, **scope)
    return [await _view(session, r) for r in rows]


async def _visible(session: AsyncConnection, principal: Principal, request_id: str, *, for_update: bool = False):
    row = await store.get_request(session, request_id, for_update=for_update)
    # Another partner's request is indistinguishable from a missing one.
    if row is None or not may_see(principal, row):
        raise not_found(f"request {request_id}")
    return row


async def apply_dispatch_status(session: AsyncConnection, event: RequestStatusChangedV1) -> None:
    """Follows dispatch's lifecycle.  An older change arriving after a newer
    one (a consumer handles a fetched batch side by side) does not move the
    status back, but takes its place in the history."""
    change = event.data
    row = await store.get_request(session, str(change.request_id), for_update=True)
    if row is None:
        return
    public = PUBLIC_STATUS[change.status]
    if change.sequence <= row.dispatch_sequence:
        await _late_change(session, row, public, change)
        return
    if row.status == "cancelled" and public not in AFTER_CANCEL:
        # Dispatch had not yet heard of the cancellation when it said this.
        await store.set_status(session, row.id, row.status, change.sequence, row.updated_at)
        return
    if public != row.status:
        await _status_changed(session, row, public, change.changed_at, change.reason, change.sequence)
    await store.set_status(session, row.id, public, change.sequence, change.changed_at)


async def _late_change(session: AsyncConnection, row, public: str, change) -> None:
    """Into the history, by its sequence, unless it is there already or the
    changes either side of it show the same status.  No webhook: the partner
    was told the newer status, which stands."""
    if row.status == "cancelled" and public not in AFTER_CANCEL:
        return
    numbered = [h for h in await store.history(session, row.id) if h.sequence is not None]
    if any(h.sequence == change.sequence for h in numbered):
        return
    before = [h.status for h in numbered if h.sequence < change.sequence]
    after = [h.status for h in numbered if h.sequence > change.sequence]
    if public in ((before[-1] if before else "received"), (after[0] if after else None)):
        return
    await store.add_status_change(session, row.id, public, change.changed_at, change.reason, change.sequence)


async def cancel(session: AsyncConnection, principal: Principal, request_id: str, reason: str | None) -> RequestOut:
    """Withdraws a request that is not yet done.  Cancelling twice is harmless."""
    row = await _visible(session, principal, request_id, for_update=True)
    if row.status == "cancelled":
        return await _view(session, row)
    if row.status not in CANCELLABLE:
        raise Problem(409, "Conflict",
                      f"a request that is {row.status} can no longer be cancelled",
                      request_status=row.status)
    now = _now()
    await _status_changed(session, row, "cancelled", now, reason)
    await store.set_status(session, row.id, "cancelled", None, now)
    await record_event(session, outbox, RequestCancelledV1(
        source=SOURCE, correlationid=row.id,
        data=dict(request_id=row.id, reason=reason, cancelled_at=now,
                  cancelled_by="partner" if principal.role == "partner" else "coordinator"),
    ))
    return await _view(session, await store.get_request(session, row.id))


async def give_feedback(
    session: AsyncConnection, principal: Principal, request_id: str, body: FeedbackIn
) -> RequestOut:
    """The requester's confirmation and rating of a done request; dispatch closes it."""
    row = await _visible(session, principal, request_id, for_update=True)
    if row.feedback_rating is not None:
        if (row.feedback_rating, row.feedback_comment) == (body.rating, body.comment):
            return await _view(session, row)  # a retry of the same feedback
        raise Problem(409, "Conflict", "feedback was already given for this request")
    if row.status != "done":
        raise Problem(409, "Conflict",
                      f"feedback is taken once the request is done; it is {row.status}",
                      request_status=row.status)
    now = _now()
    await store.set_feedback(session, row.id, body.rating, body.comment, "api", now)
    await record_event(session, outbox, RequestFeedbackGivenV1(
        source=SOURCE, correlationid=row.id,
        data=dict(request_id=row.id, rating=body.rating, comment=body.comment, channel="api",
                  given_at=now),
    ))
    return await _view(session, await store.get_request(session, row.id))


async def record_relayed_feedback(session: AsyncConnection, event: RequestFeedbackGivenV1) -> None:
    """Feedback the requester gave elsewhere (an SMS reply relayed by notify).
    The first feedback of a request stands; repeats change nothing."""
    if event.source == SOURCE:
        return
    data = event.data
    row = await store.get_request(session, str(data.request_id), for_update=True)
    if row is None or row.feedback_rating is not None:
        return
    await store.set_feedback(session, row.id, data.rating, data.comment, data.channel, data.given_at)


async def _status_changed(session: AsyncConnection, row, status: str, at: datetime, reason: str | None,
                          sequence: int | None = None) -> None:
    """Records a requester-facing change and queues it for the partner's webhook."""
    await store.add_status_change(session, row.id, status, at, reason, sequence)
    partner = await store.get_partner(session, row.submitted_by)
    if partner is None or not partner.webhook_url:
        return
    payload = dict(
        delivery_id=str(uuid4()), event="request.status_changed", request_id=row.id,
        reference=row.reference, external_id=row.external_id, status=status,
        previous_status=row.status, reason=reason, at=at.isoformat(),
    )
    await store.insert_delivery(session, dict(
        id=payload["delivery_id"], partner_id=partner.id, request_id=row.id,
        url=partner.webhook_url, payload=json.dumps(payload), state="pending", attempts=0,
        next_attempt_at=_now(), created_at=_now(),
    ))


async def _history(session: AsyncConnection, row) -> list[StatusChangeOut]:
    """Every requester-facing change, oldest first.  Being received is the
    request's row itself (received_at), not a stored change."""
    changes = [StatusChangeOut(status=h.status, at=h.changed_at, reason=h.reason)
               for h in await store.history(session, row.id)]
    if changes and changes[0].status == "received":  # stored by an earlier version
        return changes
    return [StatusChangeOut(status="received", at=row.received_at), *changes]


async def _view(session: AsyncConnection, row) -> RequestOut:
    feedback = None
    if row.feedback_rating is not None:
        feedback = FeedbackOut(rating=row.feedback_rating, comment=row.feedback_comment,
                               channel=row.feedback_channel, at=row.feedback_at)
    return RequestOut(
        id=row.id,
        reference=row.reference,
        status=row.status,
        category=row.category,
        needs_volunteer=CATALOGUE[row.category].needs_volunteer,
        urgency=row.urgency,
        source=row.source,
        community=row.community,
        people=row.people,
        vulnerabilities=[v for v in row.vulnerabilities.split(",") if v],
        external_id=row.external_id,
        possible_duplicate_of=row.duplicate_of,
        received_at=row.received_at,
        updated_at=row.updated_at,
        history=await _history(session, row),
        feedback=feedback,
        hotline=HotlineOut(operator_id=row.operator_id, call_at=row.call_at, notes=row.operator_notes)
        if row.operator_id else None,
    )


# --- partners, keys, webhooks -----------------------------------------------------------


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def partner_for_key(session: AsyncConnection, key: str) -> Principal | None:
    """The partner principal a live API key stands for."""
    if not key.startswith(PARTNER_KEY_PREFIX) or len(key) > 200:
        return None
    partner_id = await store.partner_for_key(session, _key_hash(key))
    if partner_id is None:
        return None
    return Principal(role="partner", subject=f"partner:{partner_id}", partner_id=partner_id)


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Problem(403, "Forbidden", "only an administrator manages partners")


def _partner_out(row) -> PartnerOut:
    return PartnerOut(id=row.id, name=row.name, created_at=row.created_at, webhook_url=row.webhook_url)


async def create_partner(session: AsyncConnection, principal: Principal, name: str) -> PartnerOut:
    _require_admin(principal)
    values = dict(id=str(uuid4()), name=name, created_at=_now())
    await store.insert_partner(session, values)
    return _partner_out(await store.get_partner(session, values["id"]))


async def list_partners(session: AsyncConnection, principal: Principal) -> list[PartnerOut]:
    _require_admin(principal)
    return [_partner_out(r) for r in await store.list_partners(session)]


async def _partner(session: AsyncConnection, partner_id: str):
    partner = await store.get_partner(session, partner_id)
    if partner is None:
        raise not_found(f"partner {partner_id}")
    return partner


async def create_key(session: AsyncConnection, principal: Principal, partner_id: str) -> PartnerKeyOut:
    """A new API key for a partner; the key is in the answer and nowhere else."""
    _require_admin(principal)
    await _partner(session, partner_id)
    key = PARTNER_KEY_PREFIX + secrets.token_urlsafe(32)
    values = dict(id=str(uuid4()), partner_id=partner_id, key_hash=_key_hash(key),
                  prefix=key[: len(PARTNER_KEY_PREFIX) + 6], created_at=_now())
    await store.insert_key(session, values)
    return PartnerKeyOut(id=values["id"], partner_id=partner_id, prefix=values["prefix"],
                         created_at=values["created_at"], key=key)


async def list_keys(session: AsyncConnection, principal: Principal, partner_id: str) -> list[PartnerKeyOut]:
    _require_admin(principal)
    await _partner(session, partner_id)
    return [PartnerKeyOut(id=k.id, partner_id=k.partner_id, prefix=k.prefix, created_at=k.created_at,
                          revoked_at=k.revoked_at) for k in await store.list_keys(session, partner_id)]


async def revoke_key(session: AsyncConnection, principal: Principal, partner_id: str, key_id: str) -> None:
    _require_admin(principal)
    if await store.get_key(session, partner_id, key_id) is None:
        raise not_found(f"key {key_id}")
    await store.revoke_key(session, key_id, _now())


def _require_partner(principal: Principal) -> str:
    if principal.partner_id is None:
        raise Problem(403, "Forbidden", "webhooks belong to a partner: call with a partner API key")
    return principal.partner_id


async def register_webhook(session: AsyncConnection, principal: Principal, url: str) -> WebhookOut:
    """Sets the partner's callback URL and a fresh signing secret."""
    partner_id = _require_partner(principal)
    secret = secrets.token_urlsafe(32)
    await store.set_webhook(session, partner_id, url, secret)
    return WebhookOut(url=url, secret=secret)


async def get_webhook(session: AsyncConnection, principal: Principal) -> WebhookOut:
    partner = await _partner(session, _require_partner(principal))
    if not partner.webhook_url:
        raise not_found("webhook")
    return WebhookOut(url=partner.webhook_url)


async def remove_webhook(session: AsyncConnection, principal: Principal) -> None:
    await store.set_webhook(session, _require_partner(principal), None, None)


async def webhook_deliveries(
    session: AsyncConnection, principal: Principal, request_id: str | None, limit: int
) -> list[DeliveryOut]:
    partner_id = _require_partner(principal)
    return [
        DeliveryOut(id=d.id, request_id=d.request_id, state=d.state, attempts=d.attempts,
                    last_status_code=d.last_status_code, last_error=d.last_error,
                    next_attempt_at=d.next_attempt_at if d.state == "pending" else None,
                    created_at=d.created_at, delivered_at=d.delivered_at,
                    payload=json.loads(d.payload))
        for d in await store.list_deliveries(session, partner_id, request_id, limit)
    ]


@dataclass(frozen=True)
class DueDelivery:
    id: str
    url: str
    body: bytes
    secret: str
    attempts: int


async def claim_due_webhooks(session: AsyncConnection, lease_seconds: float, limit: int = 20) -> list[DueDelivery]:
    now = _now()
    rows = await store.claim_due_deliveries(session, now, now + timedelta(seconds=lease_seconds), limit)
    return [DueDelivery(r.id, r.url, webhooks.body(json.loads(r.payload)), r.webhook_secret or "",
                        r.attempts) for r in rows]


async def webhook_attempted(
    session: AsyncConnection, delivery: DueDelivery, status_code: int | None, error: str | None,
    settings: IntakeSettings,
) -> None:
    """Records one try: delivered on 2xx, else retried with backoff until the
    attempts run out."""
    now = _now()
    attempts = delivery.attempts + 1
    if status_code is not None and 200 <= status_code < 300:
        await store.record_attempt(session, delivery.id, state="delivered", attempts=attempts,
                                   status_code=status_code, error=None, next_attempt_at=None,
                                   delivered_at=now)
        return
    error = error or f"answered HTTP {status_code}"
    if attempts >= settings.webhook_max_attempts:
        await store.record_attempt(session, delivery.id, state="failed", attempts=attempts,
                                   status_code=status_code, error=error, next_attempt_at=None,
                                   delivered_at=None)
        return
    await store.record_attempt(
        session, delivery.id, state="pending", attempts=attempts, status_code=status_code,
        error=error, delivered_at=None,
        next_attempt_at=webhooks.next_attempt(attempts, now, settings.webhook_retry_base_seconds,
                                              settings.webhook_retry_max_seconds),
    )


async def seconds_until_next_webhook(session: AsyncConnection) -> float | None:
    due = await store.earliest_due_delivery(session)
    if due is None:
        return None
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    return max(0.0, (due - _now()).total_seconds())


# --- communities ----------------------------------------------------------------------------


def _community_out(row, settings: IntakeSettings) -> CommunityOut:
    return CommunityOut(code=row.code, name=row.name, lat=row.lat, lon=row.lon,
                        form_url=form_url(settings, row.code), updated_at=row.updated_at)


def form_url(settings: IntakeSettings, code: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/form/{code}"


async def put_community(session: AsyncConnection, principal: Principal, code: str, body: CommunityIn,
                        settings: IntakeSettings) -> CommunityOut:
    """Adds or updates a community; a coordinator manages only their own communities."""
    if principal.role == "partner" or not principal.may_act_for(code):
        raise Problem(403, "Forbidden", f"you do not coordinate community {code}")
    await store.upsert_community(session, dict(code=code, name=body.name, lat=body.lat, lon=body.lon,
                                                updated_at=_now()))
    return _community_out(await store.get_community(session, code), settings)


async def find_community(session: AsyncConnection, code: str):
    """The catalogue's entry for `code`, or None."""
    return await store.get_community(session, code)


async def get_community(session: AsyncConnection, code: str, settings: IntakeSettings) -> CommunityOut:
    row = await store.get_community(session, code)
    if row is None:
        raise not_found(f"community {code}")
    return _community_out(row, settings)


async def list_communities(session: AsyncConnection, settings: IntakeSettings) -> list[CommunityOut]:
    return [_community_out(r, settings) for r in await store.list_communities(session)]


# --- Open311 ------------------------------------------------------------------------------

OPEN311_CLOSED = ("done", "closed", "cancelled")
OPEN311_OPEN = ("received", "assigned", "in_progress", "escalated")


async def open311_requests(
    session: AsyncConnection, principal: Principal | None, *, ids: list[str] | None,
    codes: list[str] | None, statuses: list[str] | None, start: datetime | None,
    end: datetime | None, limit: int = 1000,
) -> list:
    """Requests for GeoReport's GET: a partner's own with its api_key, else
    everyone's (shown without what identifies a requester)."""
    scope: dict[str, Any] = {}
    if principal is not None and not principal.is_admin:
        scope["submitted_by"] = owner_of(principal)
    heartline_statuses = None
    if statuses:
        heartline_statuses = [s for open311 in statuses
                              for s in (OPEN311_CLOSED if open311 == "closed" else OPEN311_OPEN)]
    if ids:
        return await store.list_requests(session, ids=ids, limit=limit, **scope)
    return await store.list_requests(session, categories=codes, statuses=heartline_statuses,
                                     start=start, end=end, limit=limit, **scope)
