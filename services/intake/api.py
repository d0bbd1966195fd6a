"""Intake's HTTP doors (partner API, hotline desk, catalogues, partner admin)."""

import time
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from shared.http import BearerAuth, Principal, json_body, json_body_doc
from shared.runtime import Runtime

from . import qr, service
from .categories import CATALOGUE
from .limits import check_rate
from .ratelimit import TokenBuckets
from .schemas import (
    COMMUNITY_CODE,
    CancelIn,
    CategoryOut,
    CommunityIn,
    CommunityOut,
    DeliveryOut,
    FeedbackIn,
    HotlineCallIn,
    PartnerIn,
    PartnerKeyOut,
    PartnerOut,
    RequestIn,
    RequestOut,
    WebhookIn,
    WebhookOut,
)
from .settings import IntakeSettings

PROBLEMS = {
    401: {"description": "No token, or not a valid one"},
    413: {"description": "The body is too large"},
    422: {"description": "A field is missing or wrong; `errors` names each"},
    429: {"description": "Over the partner's rate; see Retry-After"},
}
CommunityCodePath = Annotated[str, Path(pattern=COMMUNITY_CODE, max_length=64)]


class KeyCache:
    """Recently resolved partner keys, so that a busy partner does not cost a
    lookup per call.  A revocation on this replica clears it at once; other
    replicas notice within `ttl` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: str, principal: Principal) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (principal, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()


def partner_resolver(runtime: Runtime, cache: KeyCache):
    """Partner API keys, looked up by their hash."""

    async def resolve(_request: Request, token: str) -> Principal | None:
        if (principal := cache.get(token)) is not None:
            return principal
        async with runtime.db.connect() as session:
            principal = await service.partner_for_key(session, token)
        if principal is not None and cache.ttl > 0:
            cache.put(token, principal)
        return principal

    return resolve


def authenticated(authenticate: BearerAuth, limiter: TokenBuckets):
    async def caller(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        check_rate(limiter, principal)
        return principal

    return caller


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "The same key with the same body answers what the first call answered.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def _idempotency_key(request: Request) -> tuple[str | None, list[dict]]:
    """The Idempotency-Key header, and what is wrong with it (as FastAPI words it)."""
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 200:
        return None, [{"type": "string_length", "loc": ("header", "Idempotency-Key"),
                       "msg": "String should have 1 to 200 characters"}]
    return key, []


def _submission_response(submission: service.Submission) -> Response:
    headers = {"Idempotent-Replayed": "true"} if submission.replayed else None
    return Response(submission.body, status_code=submission.status_code, headers=headers,
                    media_type="application/json")


def router(runtime: Runtime, settings: IntakeSettings, limiter: TokenBuckets) -> APIRouter:
    api = APIRouter(prefix="/v1", responses=PROBLEMS)
    keys = KeyCache(settings.partner_key_cache_seconds)
    authenticate = runtime.auth(resolve=partner_resolver(runtime, keys))
    Caller = Annotated[Principal, Depends(authenticated(authenticate, limiter))]

    async def submission(request: Request, model: type[RequestIn | HotlineCallIn], intake_of) -> Response:
        """The submission doors, the busiest there are, read their request
        themselves: FastAPI's dependency solving and two-step body validation
        cost ~0.1 ms of a ~1.2 ms call (A/B rounds in one process).  Their
        OpenAPI entries say what FastAPI would have said from a signature."""
        caller = await authenticate.of(request)
        check_rate(limiter, caller)
        idempotency_key, errors = _idempotency_key(request)
        body = await json_body(request, model, earlier=errors)
        async with runtime.db.autocommit() as session:
            submission = await service.submit(
                session, caller, intake_of(body), settings,
                idempotency_key=idempotency_key, fingerprint_of=body.model_dump(mode="json"))
        return _submission_response(submission)

    @api.get("/categories", response_model=list[CategoryOut], tags=["catalogue"])
    async def list_categories() -> list[CategoryOut]:
        return [
            CategoryOut(code=c.code, name={"zh-CN": c.name_zh, "en": c.name_en},
                        needs_volunteer=c.needs_volunteer)
            for c in CATALOGUE.values()
        ]

    # --- requests ---------------------------------------------------------------

    @api.post("/requests", status_code=202, response_model=RequestOut, tags=["requests"],
              responses={200: {"model": RequestOut, "description": "The same external_id was seen before"},
                         409: {"description": "The same Idempotency-Key is in flight"}},
              openapi_extra=json_body_doc(RequestIn, [IDEMPOTENCY_KEY]))
    async def submit_request(request: Request) -> Response:
        return await submission(request, RequestIn, service.Intake.from_partner)

    @api.get("/requests", response_model=list[RequestOut], tags=["requests"])
    async def list_requests(
        caller: Caller,
        status: Literal["received", "assigned", "in_progress", "done", "closed", "cancelled",
                        "escalated"] | None = None,
        external_id: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[RequestOut]:
        async with runtime.db.transaction() as session:
            return await service.list_requests(session, caller, status=status,
                                               external_id=external_id, limit=limit)

    @api.get("/requests/{request_id}", response_model=RequestOut, tags=["requests"],
             responses={404: {"description": "No such request, or another partner's"}})
    async def get_request(request_id: UUID, caller: Caller) -> RequestOut:
        async with runtime.db.transaction() as session:
            return await service.get_request(session, caller, str(request_id))

    @api.post("/requests/{request_id}/cancel", response_model=RequestOut, tags=["requests"],
              responses={404: {"description": "No such request"},
                         409: {"description": "The request is already done or closed"}})
    async def cancel_request(request_id: UUID, caller: Caller, body: CancelIn | None = None) -> RequestOut:
        async with runtime.db.transaction() as session:
            return await service.cancel(session, caller, str(request_id), body.reason if body else None)

    @api.post("/requests/{request_id}/feedback", response_model=RequestOut, tags=["requests"],
              responses={404: {"description": "No such request"},
                         409: {"description": "The request is not done, or feedback was given"}})
    async def give_feedback(request_id: UUID, body: FeedbackIn, caller: Caller) -> RequestOut:
        async with runtime.db.transaction() as session:
            return await service.give_feedback(session, caller, str(request_id), body)

    @api.post("/hotline/calls", status_code=202, response_model=RequestOut, tags=["hotline"],
              summary="A hotline operator files a request on a caller's behalf",
              responses={200: {"model": RequestOut, "description": "The same call was filed before"}},
              openapi_extra=json_body_doc(HotlineCallIn, [IDEMPOTENCY_KEY]))
    async def file_call(request: Request) -> Response:
        return await submission(request, HotlineCallIn, service.Intake.from_hotline)

    # --- partners (admin) ----------------------------------------------------------

    @api.post("/partners", status_code=201, response_model=PartnerOut, tags=["partners"],
              responses={403: {"description": "Not an administrator"}})
    async def create_partner(body: PartnerIn, caller: Caller) -> PartnerOut:
        async with runtime.db.transaction() as session:
            return await service.create_partner(session, caller, body.name)

    @api.get("/partners", response_model=list[PartnerOut], tags=["partners"],
             responses={403: {"description": "Not an administrator"}})
    async def list_partners(caller: Caller) -> list[PartnerOut]:
        async with runtime.db.transaction() as session:
            return await service.list_partners(session, caller)

    @api.post("/partners/{partner_id}/keys", status_code=201, response_model=PartnerKeyOut,
              tags=["partners"], responses={403: {"description": "Not an administrator"},
                                            404: {"description": "No such partner"}})
    async def create_key(partner_id: UUID, caller: Caller) -> PartnerKeyOut:
        async with runtime.db.transaction() as session:
            return await service.create_key(session, caller, str(partner_id))

    @api.get("/partners/{partner_id}/keys", response_model=list[PartnerKeyOut], tags=["partners"],
             responses={403: {"description": "Not an administrator"},
                        404: {"description": "No such partner"}})
    async def list_keys(partner_id: UUID, caller: Caller) -> list[PartnerKeyOut]:
        async with runtime.db.transaction() as session:
            return await service.list_keys(session, caller, str(partner_id))

    @api.delete("/partners/{partner_id}/keys/{key_id}", status_code=204, tags=["partners"],
                responses={403: {"description": "Not an administrator"},
                           404: {"description": "No such key"}})
    async def revoke_key(partner_id: UUID, key_id: UUID, caller: Caller) -> Response:
        async with runtime.db.transaction() as session:
            await service.revoke_key(session, caller, str(partner_id), str(key_id))
        keys.clear()
        return Response(status_code=204)

    # --- the calling partner's webhook ------------------------------------------------

    @api.put("/webhook", response_model=WebhookOut, tags=["webhooks"],
             responses={403: {"description": "Not a partner"}})
    async def register_webhook(body: WebhookIn, caller: Caller) -> WebhookOut:
        async with runtime.db.transaction() as session:
            return await service.register_webhook(session, caller, str(body.url))

    @api.get("/webhook", response_model=WebhookOut, tags=["webhooks"],
             responses={403: {"description": "Not a partner"}, 404: {"description": "None registered"}})
    async def get_webhook(caller: Caller) -> WebhookOut:
        async with runtime.db.transaction() as session:
            return await service.get_webhook(session, caller)

    @api.delete("/webhook", status_code=204, tags=["webhooks"],
                responses={403: {"description": "Not a partner"}})
    async def remove_webhook(caller: Caller) -> Response:
        async with runtime.db.transaction() as session:
            await service.remove_webhook(session, caller)
        return Response(status_code=204)

    @api.get("/webhook/deliveries", response_model=list[DeliveryOut], tags=["webhooks"],
             responses={403: {"description": "Not a partner"}})
    async def list_deliveries(caller: Caller, request_id: UUID | None = None,
                              limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryOut]:
        async with runtime.db.transaction() as session:
            return await service.webhook_deliveries(
                session, caller, str(request_id) if request_id else None, limit)

    # --- communities -----------------------------------------------------------------

    @api.get("/communities", response_model=list[CommunityOut], tags=["catalogue"])
    async def list_communities() -> list[CommunityOut]:
        async with runtime.db.transaction() as session:
            return await service.list_communities(session, settings)

    @api.get("/communities/{code}", response_model=CommunityOut, tags=["catalogue"],
             responses={404: {"description": "No such community"}})
    async def get_community(code: CommunityCodePath) -> CommunityOut:
        async with runtime.db.transaction() as session:
            return await service.get_community(session, code, settings)

    @api.put("/communities/{code}", response_model=CommunityOut, tags=["catalogue"],
             responses={403: {"description": "Not a coordinator of this community"}})
    async def put_community(code: CommunityCodePath, body: CommunityIn, caller: Caller) -> CommunityOut:
        async with runtime.db.transaction() as session:
            return await service.put_community(session, caller, code, body, settings)

    @api.get("/communities/{code}/qr", tags=["catalogue"],
             summary="The QR code (SVG or PNG) that opens the community's request form",
             responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}},
                        404: {"description": "No such community"}})
    async def community_qr(code: CommunityCodePath,
                           format: Literal["svg", "png"] = "svg") -> Response:
        async with runtime.db.transaction() as session:
            community = await service.get_community(session, code, settings)
        content, media_type = qr.render(community.form_url, format)
        return Response(content, media_type=media_type)

    return api
