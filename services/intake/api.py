"""Intake's HTTP doors (partner API, hotline desk, catalogues, partner admin)."""

from collections.abc import Callable
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from shared.http import (
    BearerAuth,
    PageParams,
    Principal,
    TokenResolver,
    counted,
    json_body,
    json_body_doc,
    require_admin,
    roles,
)
from shared.runtime import Runtime

from . import communities, partners, qr, requests, submissions, webhook_deliveries
from .categories import CATALOGUE
from .communities import Catalogue
from .limits import check_rate
from .ratelimit import TokenBuckets
from .schemas import (
    COMMUNITY_CODE,
    CancelIn,
    CategoryOut,
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

PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, or not a valid one"},
    413: {"description": "The body is too large"},
    422: {"description": "A field is missing or wrong; `errors` names each"},
    429: {"description": "Over the partner's rate; see Retry-After"},
}
CommunityCodePath = Annotated[str, Path(pattern=COMMUNITY_CODE, max_length=64)]


def partner_resolver(runtime: Runtime, cache: partners.KeyCache) -> TokenResolver:
    """Partner API keys, looked up by their hash unless the cache knows them."""

    async def resolve(_request: Request, token: str) -> Principal | None:
        if (principal := cache.get(token)) is not None:
            return principal
        async with runtime.db.connect() as session:
            principal = await partners.partner_for_key(session=session, key=token)
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


def _submission_response(submission: submissions.Submission) -> Response:
    headers = {"Idempotent-Replayed": "true"} if submission.replayed else None
    return Response(submission.body, status_code=submission.status_code, headers=headers,
                    media_type="application/json")


def router(runtime: Runtime, settings: IntakeSettings, limiter: TokenBuckets, catalogue: Catalogue) -> APIRouter:
    api = APIRouter(prefix="/v1", responses=PROBLEMS)
    keys = partners.KeyCache(settings.partner_key_cache_seconds)
    authenticate = runtime.auth(resolve=partner_resolver(runtime, keys))
    Caller = Annotated[Principal, Depends(authenticated(authenticate, limiter))]

    def admin_caller(caller: Caller) -> Principal:
        require_admin(caller)  # before the body is read: a wrong role hears 403, not what its body lacks
        return caller

    def partner_caller(caller: Caller) -> Principal:
        partners.require_partner(caller)
        return caller

    Admin = Annotated[Principal, Depends(admin_caller)]
    Partner = Annotated[Principal, Depends(partner_caller)]

    async def submission(request: Request, model: type[RequestIn] | type[HotlineCallIn],
                         new_request: Callable[[Any], submissions.NewRequest]) -> Response:
        """The submission doors, the busiest there are, read their request
        themselves (measured in submissions' docstring).  Their OpenAPI
        entries say what FastAPI would have said from a signature."""
        caller = await authenticate.of(request)
        check_rate(limiter, caller)
        idempotency_key, errors = _idempotency_key(request)
        body = await json_body(request, model, earlier=errors)
        places = await catalogue.current(runtime.db)
        async with runtime.db.autocommit() as session:
            submission = await submissions.submit(
                session=session, principal=caller, new_request=new_request(body),
                idempotency_key=idempotency_key, fingerprint_of=body.model_dump(mode="json"), settings=settings,
                catalogue=places)
        return _submission_response(submission)

    @api.get("/categories", response_model=list[CategoryOut], tags=["catalogue"],
             openapi_extra=roles("public"))
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
              openapi_extra=roles("partner", "coordinator", "admin", extra=json_body_doc(RequestIn, [IDEMPOTENCY_KEY])))
    async def submit_request(request: Request) -> Response:
        return await submission(request, RequestIn, submissions.NewRequest.from_partner)

    @api.get("/requests", response_model=list[RequestOut], tags=["requests"],
             openapi_extra=roles("partner", "coordinator", "admin"))
    async def list_requests(
        caller: Caller,
        response: Response,
        page: PageParams,
        status: Literal["received", "assigned", "in_progress", "done", "closed", "cancelled",
                        "escalated"] | None = None,
        external_id: Annotated[str | None, Query(max_length=100)] = None,
    ) -> list[RequestOut]:
        tree = (await catalogue.current(runtime.db)).tree
        async with runtime.db.transaction() as session:
            found, total = await requests.list_requests(
                session=session, principal=caller, status=status, external_id=external_id, limit=page.limit,
                offset=page.offset, tree=tree)
        return counted(response, found, total)

    @api.get("/requests/{request_id}", response_model=RequestOut, tags=["requests"],
             responses={404: {"description": "No such request, or another partner's"}},
             openapi_extra=roles("partner", "coordinator", "admin"))
    async def get_request(request_id: UUID, caller: Caller) -> RequestOut:
        async with runtime.db.transaction() as session:
            return await requests.get_request(session=session, principal=caller, request_id=str(request_id),
                                              tree=(await catalogue.current(runtime.db)).tree)

    @api.post("/requests/{request_id}/cancel", response_model=RequestOut, tags=["requests"],
              responses={404: {"description": "No such request"},
                         409: {"description": "The request is already done or closed"}},
              openapi_extra=roles("partner", "coordinator", "admin"))
    async def cancel_request(request_id: UUID, caller: Caller, body: CancelIn | None = None) -> RequestOut:
        async with runtime.db.transaction() as session:
            return await requests.cancel_request(session=session, principal=caller, request_id=str(request_id),
                                                 reason=body.reason if body else None,
                                                 tree=(await catalogue.current(runtime.db)).tree)

    @api.post("/requests/{request_id}/feedback", response_model=RequestOut, tags=["requests"],
              responses={404: {"description": "No such request"},
                         409: {"description": "The request is not done, or feedback was given"}},
              openapi_extra=roles("partner", "coordinator", "admin"))
    async def give_feedback(request_id: UUID, body: FeedbackIn, caller: Caller) -> RequestOut:
        async with runtime.db.transaction() as session:
            return await requests.give_feedback(session=session, principal=caller, request_id=str(request_id),
                                                body=body, tree=(await catalogue.current(runtime.db)).tree)

    @api.post("/hotline/calls", status_code=202, response_model=RequestOut, tags=["hotline"],
              summary="A hotline operator files a request on a caller's behalf",
              responses={200: {"model": RequestOut, "description": "The same call was filed before"}},
              openapi_extra=roles("partner", "coordinator", "admin", extra=json_body_doc(HotlineCallIn, [IDEMPOTENCY_KEY])))
    async def file_call(request: Request) -> Response:
        return await submission(request, HotlineCallIn, submissions.NewRequest.from_hotline)

    # --- partners (admin) ----------------------------------------------------------

    @api.post("/partners", status_code=201, response_model=PartnerOut, tags=["partners"],
              responses={403: {"description": "Not an administrator"}},
              openapi_extra=roles("admin"))
    async def create_partner(body: PartnerIn, caller: Admin) -> PartnerOut:
        async with runtime.db.transaction() as session:
            return await partners.create_partner(session=session, principal=caller, name=body.name)

    @api.get("/partners", response_model=list[PartnerOut], tags=["partners"],
             responses={403: {"description": "Not an administrator"}},
             openapi_extra=roles("admin"))
    async def list_partners(caller: Caller) -> list[PartnerOut]:
        async with runtime.db.transaction() as session:
            return await partners.list_partners(session=session, principal=caller)

    @api.post("/partners/{partner_id}/keys", status_code=201, response_model=PartnerKeyOut,
              tags=["partners"], responses={403: {"description": "Not an administrator"},
                                            404: {"description": "No such partner"}},
              openapi_extra=roles("admin"))
    async def create_key(partner_id: UUID, caller: Caller) -> PartnerKeyOut:
        async with runtime.db.transaction() as session:
            return await partners.create_key(session=session, principal=caller, partner_id=str(partner_id))

    @api.get("/partners/{partner_id}/keys", response_model=list[PartnerKeyOut], tags=["partners"],
             responses={403: {"description": "Not an administrator"},
                        404: {"description": "No such partner"}},
             openapi_extra=roles("admin"))
    async def list_keys(partner_id: UUID, caller: Caller) -> list[PartnerKeyOut]:
        async with runtime.db.transaction() as session:
            return await partners.list_keys(session=session, principal=caller, partner_id=str(partner_id))

    @api.delete("/partners/{partner_id}/keys/{key_id}", status_code=204, tags=["partners"],
                responses={403: {"description": "Not an administrator"},
                           404: {"description": "No such key"}},
                openapi_extra=roles("admin"))
    async def revoke_key(partner_id: UUID, key_id: UUID, caller: Caller) -> Response:
        async with runtime.db.transaction() as session:
            await partners.revoke_key(session=session, principal=caller, partner_id=str(partner_id),
                                      key_id=str(key_id))
        keys.clear()
        return Response(status_code=204)

    # --- the calling partner's webhook ------------------------------------------------

    @api.put("/webhook", response_model=WebhookOut, tags=["webhooks"],
             responses={403: {"description": "Not a partner"}},
             openapi_extra=roles("partner"))
    async def register_webhook(body: WebhookIn, caller: Partner) -> WebhookOut:
        async with runtime.db.transaction() as session:
            return await partners.register_webhook(session=session, principal=caller, url=str(body.url),
                                                   require_https=settings.environment == "production")

    @api.get("/webhook", response_model=WebhookOut, tags=["webhooks"],
             responses={403: {"description": "Not a partner"}, 404: {"description": "None registered"}},
             openapi_extra=roles("partner"))
    async def get_webhook(caller: Caller) -> WebhookOut:
        async with runtime.db.transaction() as session:
            return await partners.get_webhook(session=session, principal=caller)

    @api.delete("/webhook", status_code=204, tags=["webhooks"],
                responses={403: {"description": "Not a partner"}},
                openapi_extra=roles("partner"))
    async def remove_webhook(caller: Caller) -> Response:
        async with runtime.db.transaction() as session:
            await partners.remove_webhook(session=session, principal=caller)
        return Response(status_code=204)

    @api.get("/webhook/deliveries", response_model=list[DeliveryOut], tags=["webhooks"],
             responses={403: {"description": "Not a partner"}},
             openapi_extra=roles("partner"))
    async def list_deliveries(caller: Caller, response: Response, page: PageParams,
                              request_id: UUID | None = None) -> list[DeliveryOut]:
        async with runtime.db.transaction() as session:
            found, total = await webhook_deliveries.list_deliveries(
                session=session, principal=caller, request_id=str(request_id) if request_id else None,
                limit=page.limit, offset=page.offset)
        return counted(response, found, total)

    # --- communities -----------------------------------------------------------------

    @api.get("/communities", response_model=list[CommunityOut], tags=["catalogue"],
             openapi_extra=roles("public"))
    async def list_communities() -> list[CommunityOut]:
        return communities.list_communities(catalogue=await catalogue.current(runtime.db), settings=settings)

    @api.get("/communities/{code}", response_model=CommunityOut, tags=["catalogue"],
             responses={404: {"description": "No such community"}}, openapi_extra=roles("public"))
    async def get_community(code: CommunityCodePath) -> CommunityOut:
        return communities.get_community(catalogue=await catalogue.current(runtime.db), code=code,
                                         settings=settings)

    @api.get("/communities/{code}/qr", tags=["catalogue"],
             summary="The QR code (SVG or PNG) that opens the community's request form",
             responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}},
                        404: {"description": "No such community"}}, openapi_extra=roles("public"))
    async def community_qr(code: CommunityCodePath,
                           format: Literal["svg", "png"] = "svg") -> Response:
        community = communities.get_community(catalogue=await catalogue.current(runtime.db), code=code,
                                              settings=settings)
        content, media_type = qr.render(community.form_url, format)
        return Response(content, media_type=media_type)

    return api
