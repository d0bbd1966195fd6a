"""Notify's HTTP doors: the delivery log, consent, and the providers'
webhooks for replies (authenticated by a timestamped signature, not by
bearer token; a team's chat bot signs with its own team's key)."""

import json
import time
from datetime import datetime
from typing import Annotated, Literal, TypeVar
from urllib.parse import parse_qs
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ValidationError

from shared.http import FieldError, PageParams, Principal, Problem, counted, not_found, require_admin, roles
from shared.runtime import Runtime

from . import consent, inbound, sending, store
from .communities import CommunityDirectory
from .messages import Composer
from .replies import SIGNATURE_HEADER, TIMESTAMP_HEADER, WINDOW_SECONDS, signature_valid, team_key
from .schemas import (
    PHONE_SCHEMA,
    ConsentChangeOut,
    ConsentIn,
    ConsentOut,
    DeliveryOut,
    E164Phone,
    InboundChat,
    InboundOut,
    InboundSms,
    TeamKeyOut,
)

STAFF = roles("coordinator", "admin")
ModelT = TypeVar("ModelT", bound=BaseModel)
# Names some gateways use (Twilio: From, Body, MessageSid) mapped to ours.
_ALIASES = {"From": "from", "Body": "text", "MessageSid": "id", "msisdn": "from", "content": "text"}


def router(runtime: Runtime, composer: Composer, directory: CommunityDirectory) -> APIRouter:
    api = APIRouter(prefix="/v1")
    Caller = Annotated[Principal, Depends(runtime.auth())]
    Phone = Annotated[E164Phone, Path(description="E.164", json_schema_extra=PHONE_SCHEMA)]

    @api.get("/deliveries", response_model=list[DeliveryOut], tags=["deliveries"], openapi_extra=STAFF)
    async def list_deliveries(
        caller: Caller,
        page: PageParams,
        response: Response,
        request_id: UUID | None = None,
        status: Literal["pending", "sent", "failed", "suppressed"] | None = None,
        recipient: Literal["requester", "team", "coordinator", "member"] | None = None,
        channel: Literal["sms", "chat"] | None = None,
        since: Annotated[datetime | None, Query(description="created at or after")] = None,
        until: Annotated[datetime | None, Query(description="created before")] = None,
    ) -> list[DeliveryOut]:
        """The delivery log, newest first; X-Total-Count gives the number of
        matches.  A coordinator sees only their communities' messages."""
        if since and until and until <= since:
            raise Problem(422, "Invalid request", "until must be after since",
                          [FieldError("until", "must be after since")])
        filters = dict(request_id=str(request_id) if request_id else None, status=status,
                       recipient=recipient, channel=channel, since=since, until=until)
        async with runtime.db.transaction() as session:
            found, total = await sending.list_deliveries(session=session, principal=caller, filters=filters,
                                                         tree=await directory.tree(session),
                                                         limit=page.limit, offset=page.offset)
        return counted(response, found, total)

    @api.get("/consents/{phone}", response_model=ConsentOut, tags=["consent"], openapi_extra=STAFF)
    async def get_consent(caller: Caller, phone: Phone) -> ConsentOut:
        """What a number agreed to; a coordinator asks only about the people of
        their communities (any other number: 404)."""
        async with runtime.db.transaction() as session:
            return await consent.get_consent(session=session, principal=caller, phone=phone,
                                             tree=await directory.tree(session))

    @api.put("/consents/{phone}", response_model=ConsentOut, tags=["consent"], openapi_extra=STAFF)
    async def put_consent(caller: Caller, phone: Phone, body: ConsentIn) -> ConsentOut:
        """Opt a number out of (or back into) every message, and set the
        channel its owner prefers; a coordinator, only for the people of their
        communities and with a reason.  Every change is kept (see /history)."""
        async with runtime.db.transaction() as session:
            return await consent.set_consent(session=session, principal=caller, phone=phone, body=body,
                                             tree=await directory.tree(session), changed_at=composer.now())

    @api.get("/consents/{phone}/history", response_model=list[ConsentChangeOut], tags=["consent"],
             openapi_extra=STAFF)
    async def consent_history(caller: Caller, phone: Phone, page: PageParams,
                              response: Response) -> list[ConsentChangeOut]:
        """Who changed a number's consent, when and why, newest first."""
        async with runtime.db.transaction() as session:
            found, total = await consent.consent_history(session=session, principal=caller, phone=phone,
                                                         tree=await directory.tree(session),
                                                         limit=page.limit, offset=page.offset)
        return counted(response, found, total)

    @api.get("/teams/{team_id}/inbound-key", response_model=TeamKeyOut, tags=["inbound"],
             openapi_extra=roles("admin"))
    async def team_inbound_key(caller: Caller, team_id: UUID) -> TeamKeyOut:
        """The key the team's chat bot signs its replies with (admins only)."""
        require_admin(caller)
        if composer.settings.inbound_secret is None:
            raise Problem(409, "Conflict", "inbound webhooks are off: NOTIFY_INBOUND_SECRET is not set")
        secret = composer.settings.inbound_secret.get_secret_value()
        async with runtime.db.transaction() as session:
            if await store.get_team(session, str(team_id)) is None:
                raise not_found(f"team {team_id}")
        return TeamKeyOut(team_id=team_id, key=team_key(secret, str(team_id)))

    @api.post("/inbound/sms", response_model=InboundOut, tags=["inbound"], openapi_extra=roles("signed"))
    async def inbound_sms(request: Request) -> InboundOut:
        """The SMS gateway's webhook for replies: JSON or form {from, text, id?},
        with X-Heartline-Timestamp (unix seconds, within 5 minutes of ours) and
        X-Heartline-Signature: HMAC-SHA256(inbound secret, "<timestamp>." + body)."""
        message = _parse(InboundSms, await _verified_body(request, _inbound_secret(composer)), request)
        async with runtime.db.transaction() as session:
            outcome = await inbound.receive_sms(session=session, sender=message.sender, text=message.text,
                                                provider_message_id=message.id, composer=composer)
        return InboundOut(outcome=outcome)

    @api.post("/inbound/chat/{team_id}", response_model=InboundOut, tags=["inbound"],
              openapi_extra=roles("signed"))
    async def inbound_chat(request: Request, team_id: UUID) -> InboundOut:
        """A team chat bot's webhook for replies in that team's chat (one URL
        per team), signed like the SMS webhook but with the team's own key
        (GET /v1/teams/{team_id}/inbound-key)."""
        key = team_key(_inbound_secret(composer), str(team_id))
        message = _parse(InboundChat, await _verified_body(request, key), request)
        async with runtime.db.transaction() as session:
            outcome = await inbound.receive_chat(session=session, team_id=str(team_id), text=message.text,
                                                 provider_message_id=message.id, composer=composer)
        return InboundOut(outcome=outcome)

    return api


def _inbound_secret(composer: Composer) -> str:
    secret = composer.settings.inbound_secret
    if secret is None:  # nothing can be signed: every caller is unauthenticated
        raise Problem(401, "Unauthorized", "inbound webhooks are off: NOTIFY_INBOUND_SECRET is not set")
    return secret.get_secret_value()


async def _verified_body(request: Request, key: str) -> bytes:
    # The shared BodyLimit has already refused a body too long to read.
    body = await request.body()
    if not signature_valid(key, body, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER),
                           time.time()):
        raise Problem(401, "Unauthorized",
                      f"missing, stale (over {WINDOW_SECONDS}s) or wrong {TIMESTAMP_HEADER} / {SIGNATURE_HEADER} "
                      '(HMAC-SHA256 of "<timestamp>." + body)')
    return body


def _parse(model: type[ModelT], body: bytes, request: Request) -> ModelT:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/x-www-form-urlencoded":
            fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        else:
            fields = json.loads(body or b"{}")
        if not isinstance(fields, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError):
        raise Problem(422, "Invalid request", "the body is neither a JSON object nor a form",
                      [FieldError("body", "not a JSON object or form")]) from None
    fields = {_ALIASES.get(k, k): v for k, v in fields.items()}
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        errors = [FieldError(".".join(str(part) for part in error["loc"]) or "body", error["msg"])
                  for error in exc.errors()]
        raise Problem(422, "Invalid request", "; ".join(f"{error.field}: {error.reason}" for error in errors),
                      errors) from None
