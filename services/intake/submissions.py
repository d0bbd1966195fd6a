"""Submissions: a request for help taken in at any door (partner API, hotline
desk, QR form, Open311) and stored with its event.  Intake's hot path, and the
one owner of what was done to make it fast, each measured by interleaved A/B
rounds in one process with 16 callers:

- the write is one atomic statement (duplicate probe, Idempotency-Key claim,
  request, outbox row), autocommitted and sent straight to asyncpg: see
  submission_store; 1.58 against 1.74 ms of CPU per accepted call;
- the two JSON doors (api.py) read their own request instead of FastAPI's
  dependency solving and two-step validation: ~0.1 ms of a ~1.2 ms call.

The answer is RequestOut's JSON, split around `possible_duplicate_of` so that
the statement stores it with the duplicate it finds.  Writing that JSON by hand
instead of through the model was measured too: ~10 us either way, so the model
writes it."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.contracts import RequestReceivedV1
from shared.http import FieldError, Principal, Problem
from shared.scope import covers

from . import duplicates, store, submission_store
from .categories import CATALOGUE
from .communities import Catalogue
from .models import outbox
from .requests import SOURCE, owner_of, view
from .schemas import HotlineCallIn, HotlineOut, RequestIn, RequestOut, StatusChangeOut
from .settings import IntakeSettings
from .submission_store import Outcome

# Crockford-like alphabet without 0/O and 1/I/L, easy to read out on the phone.
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
# Where the answer is cut for the duplicate the statement finds.  User text is
# JSON-escaped, so it cannot contain this: the first one is the field.
_NO_DUPLICATE = '"possible_duplicate_of":null'


@dataclass(frozen=True)
class Submission:
    """The answer to a submission: `body` is the request's JSON (RequestOut)."""

    body: bytes
    status_code: int
    replayed: bool = False

    @cached_property
    def request(self) -> RequestOut:
        return RequestOut.model_validate_json(self.body)


@dataclass(frozen=True)
class NewRequest:
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
    def from_partner(cls, body: RequestIn) -> NewRequest:
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
    def from_hotline(cls, body: HotlineCallIn) -> NewRequest:
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


def _new_reference() -> str:
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))


def _fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def answer_halves(values: dict[str, Any], needs_volunteer: bool) -> tuple[str, str]:
    """A new request's answer (RequestOut's JSON) as the text before and after
    its `possible_duplicate_of` value: the row and its one status change are
    known, so nothing is read back."""
    received = values["received_at"]
    hotline = None
    if values["operator_id"]:
        hotline = HotlineOut(operator_id=values["operator_id"], call_at=values["call_at"],
                             notes=values["operator_notes"])
    answer = RequestOut(
        id=values["id"], reference=values["reference"], status="received", category=values["category"],
        needs_volunteer=needs_volunteer, urgency=values["urgency"], source=values["source"],
        community=values["community"], people=values["people"],
        vulnerabilities=[v for v in values["vulnerabilities"].split(",") if v],
        external_id=values["external_id"], possible_duplicate_of=None, received_at=received,
        updated_at=received, history=[StatusChangeOut(status="received", at=received)], hotline=hotline,
    ).model_dump_json()
    head, _, tail = answer.partition(_NO_DUPLICATE)
    return head + '"possible_duplicate_of":', tail


async def submit(
    *, session: AsyncConnection, principal: Principal, new_request: NewRequest,
    idempotency_key: str | None = None, fingerprint_of: Any = None, settings: IntakeSettings,
    catalogue: Catalogue,
) -> Submission:
    """Stores a request and queues its `aid.request.received.v1`: 202.

    The same `Idempotency-Key` with the same body (`fingerprint_of`) answers
    what the first call answered; with another body it is refused (422).  A
    repeated `external_id` from the same owner is the same request (200).

    On PostgreSQL the write is one atomic statement, so doors run this on
    `Database.autocommit()` (no BEGIN/COMMIT round trips); the one follow-up
    write, on a taken external id, is healed by a retry (see _replay)."""
    owner = owner_of(principal)
    now = utcnow()
    new_request = _place(catalogue, new_request)
    if (principal.role == "coordinator" and new_request.community is not None
            and not covers(principal, new_request.community, catalogue.tree)):
        raise Problem(422, "Invalid request", "location.community: not one of your communities",
                      [FieldError("location.community", "is not one of the communities you coordinate")])
    lat, lon = new_request.lat or 0.0, new_request.lon or 0.0
    since = now - timedelta(hours=settings.duplicate_window_hours)
    duplicate_of = None
    if not submission_store.probes_duplicates_in_sql(session):  # else the insert finds it, in one round trip
        earlier = await submission_store.earlier_requests_for(session, new_request.phone, new_request.category,
                                                               since)
        duplicate_of = duplicates.likely_original(
            (duplicates.Earlier(e.id, e.lat, e.lon, e.received_at, e.duplicate_of) for e in earlier),
            lat, lon, settings.duplicate_radius_m,
        )
    preferred_channel = new_request.preferred_channel or (
        "phone_call" if "no_smartphone" in new_request.vulnerabilities else "sms")
    values = _row(new_request, owner, lat, lon, preferred_channel, duplicate_of, now)
    needs_volunteer = CATALOGUE[new_request.category].needs_volunteer
    event = _received_event(values, new_request, needs_volunteer, principal.partner_id)
    head, tail = answer_halves(values, needs_volunteer)
    idempotency = None
    if idempotency_key is not None:
        idempotency = (idempotency_key, _fingerprint(fingerprint_of))
    # The idempotency key (claimed together with its answer), the request and
    # its event are written together; the event row commits with the request.
    outcome, duplicate_of = await submission_store.insert_submission(
        session, values, outbox,
        dict(event_id=str(event.id), type=event.type, payload=event.model_dump_json()),
        idempotency=None if idempotency is None else (*idempotency, 202, head, tail),
        probe=(since, settings.duplicate_radius_m),
    )
    if outcome is Outcome.KEY_TAKEN and idempotency is not None:  # only a claimed key can be taken
        return await _replay(session, new_request, owner, *idempotency)
    if outcome is Outcome.EXTERNAL_ID_TAKEN:
        return await _same_external_id(session, new_request, owner, idempotency_key)
    return Submission((head + (f'"{duplicate_of}"' if duplicate_of else "null") + tail).encode(), status_code=202)


def _place(catalogue: Catalogue, new_request: NewRequest) -> NewRequest:
    """The request with its coordinates (else a point inside its community)
    and its community (else the one whose boundary holds the point).  A given
    community must be in the catalogue, unless the catalogue is still empty."""
    lat, lon, code = new_request.lat, new_request.lon, new_request.community
    if code is not None:
        if catalogue.by_code and catalogue.form(code) is None:
            raise Problem(422, "Invalid request", "location.community: unknown community code",
                          [FieldError("location.community", "is not in the community catalogue")])
        if lat is None or lon is None:
            centre = catalogue.centre(code)
            if centre is None:
                raise Problem(422, "Invalid request", "location.community: unknown community code",
                              [FieldError("location.community",
                                          "is not in the community catalogue; give lat and lon")])
            lat, lon = centre
    elif lat is not None and lon is not None:
        code = catalogue.locate(lat, lon)
    if lat is None or lon is None:  # LocationIn refuses this already; said again for the type
        raise Problem(422, "Invalid request", "location: give lat and lon, or an address with a community code")
    return replace(new_request, lat=lat, lon=lon, community=code)


def _row(new_request: NewRequest, owner: str, lat: float, lon: float, preferred_channel: str,
         duplicate_of: str | None, now: datetime) -> dict[str, Any]:
    """The new request's row (submission_store.SUBMITTED_COLUMNS)."""
    return dict(
        id=str(uuid4()), reference=_new_reference(), submitted_by=owner, external_id=new_request.external_id,
        category=new_request.category, description=new_request.description, lat=lat, lon=lon,
        address=new_request.address, community=new_request.community, urgency=new_request.urgency,
        vulnerabilities=",".join(new_request.vulnerabilities), people=new_request.people,
        source=new_request.source, requester_name=new_request.name, requester_phone=new_request.phone,
        requester_locale=new_request.locale, preferred_channel=preferred_channel, status="received",
        dispatch_sequence=0, duplicate_of=duplicate_of, operator_id=new_request.operator_id,
        call_at=new_request.call_at, operator_notes=new_request.operator_notes, received_at=now, updated_at=now,
    )


def _received_event(values: dict[str, Any], new_request: NewRequest, needs_volunteer: bool,
                    partner_id: str | None) -> RequestReceivedV1:
    return RequestReceivedV1(
        source=SOURCE,
        correlationid=values["id"],
        data=dict(
            request_id=values["id"], reference=values["reference"], category=new_request.category,
            needs_volunteer=needs_volunteer, description=new_request.description,
            location=dict(lat=values["lat"], lon=values["lon"]), community=new_request.community,
            urgency=new_request.urgency, vulnerabilities=new_request.vulnerabilities, people=new_request.people,
            source=new_request.source,
            requester=dict(name=new_request.name, phone=new_request.phone, locale=new_request.locale,
                           preferred_channel=values["preferred_channel"]),
            external_id=new_request.external_id, partner_id=partner_id, received_at=values["received_at"],
        ),
    )


async def _replay(session: AsyncConnection, new_request: NewRequest, owner: str, key: str,
                  fingerprint: str) -> Submission:
    row = await submission_store.get_idempotency_key(session, owner, key)
    if row is None or row.status_code is None:  # not expected: a key is stored with its answer
        raise Problem(409, "Conflict", "a call with this Idempotency-Key is in progress; retry")
    if row.fingerprint != fingerprint:
        raise Problem(422, "Idempotency-Key reused",
                      "this Idempotency-Key was used before with a different body",
                      [FieldError("Idempotency-Key", "was used before with a different body")])
    if (row.status_code == 202 and new_request.external_id is not None
            and await store.get_request(session, json.loads(row.response)["id"]) is None):
        # The first call found its external id taken and stopped between its
        # two statements (see _same_external_id): answer what it would have.
        return await _same_external_id(session, new_request, owner, key)
    return Submission(row.response.encode(), status_code=row.status_code, replayed=True)


async def _same_external_id(session: AsyncConnection, new_request: NewRequest, owner: str,
                            key: str | None) -> Submission:
    """The owner sent this external id before (or a concurrent call just did):
    that request, 200.  On PostgreSQL the submission statement claimed the
    Idempotency-Key with a 202 answer before it found the id taken, and that
    statement has committed; this rewrites the key's answer."""
    existing = await submission_store.find_by_external_id(session, owner, new_request.external_id or "")
    if existing is None:
        raise Problem(409, "Conflict", "the request could not be stored; retry")
    body = (await view(session=session, request=existing)).model_dump_json().encode()
    if key is not None:
        await submission_store.finish_idempotency_key(session, owner, key, 200, body.decode())
    return Submission(body, status_code=200)
