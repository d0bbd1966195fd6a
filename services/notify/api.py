"""Notify's HTTP doors: the delivery log, consent, and the providers'
webhooks for replies (authenticated by signature, not by bearer token)."""

import json
from datetime import datetime
from typing import Annotated, Literal, TypeVar
from urllib.parse import parse_qs
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ValidationError

from shared.http import FieldError, PageParams, Principal, Problem, counted
from shared.runtime import Runtime

from . import consent, inbound, sending
from .messages import Composer
from .replies import signature_valid
from .schemas import PHONE_SCHEMA, ConsentIn, ConsentOut, DeliveryOut, E164Phone, InboundChat, InboundOut, InboundSms

SIGNATURE_HEADER = "X-Heartline-Signature"
ModelT = TypeVar("ModelT", bound=BaseModel)
# Names some gateways use (Twilio: From, Body, MessageSid) mapped to ours.
_ALIASES = {"From": "from", "Body": "text", "MessageSid": "id", "msisdn": "from", "content": "text"}


def router(runtime: Runtime, composer: Composer) -> APIRouter:
    api = APIRouter(prefix="/v1")
    Caller = Annotated[Principal, Depends(runtime.auth())]
    Phone = Annotated[E164Phone, Path(description="E.164", json_schema_extra=PHONE_SCHEMA)]

    @api.get("/deliveries", response_model=list[DeliveryOut], tags=["deliveries"])
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
                                                         limit=page.limit, offset=page.offset)
        return counted(response, found, total)

    @api.get("/consents/{phone}", response_model=ConsentOut, tags=["consent"])
    async def get_consent(caller: Caller, phone: Phone) -> ConsentOut:
        async with runtime.db.transaction() as session:
            return await consent.get_consent(session=session, phone=phone)

    @api.put("/consents/{phone}", response_model=ConsentOut, tags=["consent"])
    async def put_consent(caller: Caller, phone: Phone, body: ConsentIn) -> ConsentOut:
        """Opt a number out of (or back into) every message, and set the
        channel its owner prefers."""
        async with runtime.db.transaction() as session:
            return await consent.set_consent(session=session, phone=phone, body=body, changed_at=composer.now())

    @api.post("/inbound/sms", response_model=InboundOut, tags=["inbound"])
    async def inbound_sms(request: Request) -> InboundOut:
        """The SMS gateway's webhook for replies: JSON or form {from, text, id?},
        signed with HMAC-SHA256 of the raw body in X-Heartline-Signature."""
        message = _parse(InboundSms, await _verified_body(request, composer), request)
        async with runtime.db.transaction() as session:
            outcome = await inbound.receive_sms(session=session, sender=message.sender, text=message.text,
                                                provider_message_id=message.id, composer=composer)
        return InboundOut(outcome=outcome)

    @api.post("/inbound/chat/{team_id}", response_model=InboundOut, tags=["inbound"])
    async def inbound_chat(request: Request, team_id: UUID) -> InboundOut:
        """A team chat bot's webhook for replies in that team's chat (one URL
        per team), signed like the SMS webhook."""
        message = _parse(InboundChat, await _verified_body(request, composer), request)
        async with runtime.db.transaction() as session:
            outcome = await inbound.receive_chat(session=session, team_id=str(team_id), text=message.text,
                                                 provider_message_id=message.id, composer=composer)
        return InboundOut(outcome=outcome)

    return api


async def _verified_body(request: Request, composer: Composer) -> bytes:
    secret = composer.settings.inbound_secret
    if secret is None:
        raise Problem(403, "Forbidden", "inbound webhooks are off: NOTIFY_INBOUND_SECRET is not set")
    body = await request.body()
    if not signature_valid(secret.get_secret_value(), body, request.headers.get(SIGNATURE_HEADER)):
        raise Problem(401, "Unauthorized", f"missing or wrong {SIGNATURE_HEADER} (HMAC-SHA256 of the body)")
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
