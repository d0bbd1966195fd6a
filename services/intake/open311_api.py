"""Open311 GeoReport v2 doors, so existing 311 apps can post unchanged.
Errors here use the spec's format, not problem details."""

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from shared.clock import utcnow
from shared.http import Principal, Problem, roles
from shared.runtime import Runtime

from . import open311, partners, requests, submissions
from .categories import CATALOGUE
from .communities import Catalogue
from .limits import check_rate
from .ratelimit import TokenBuckets
from .settings import IntakeSettings

Format = Annotated[str, Path(pattern=r"^(json|xml)$", description="json or xml")]
MAX_SPAN = timedelta(days=90)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # dates outside these are no one's request
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_FORM_FIELDS = ["api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string",
                "address_id", "email", "device_id", "account_id", "first_name", "last_name",
                "phone", "description", "media_url", "attribute[people]", "attribute[urgency]",
                "attribute[vulnerabilities][]", "attribute[community]", "attribute[locale]"]
_POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object",
            "required": ["api_key", "service_code"],
            "properties": {name: {"type": "string"} for name in _FORM_FIELDS},
        }}},
    }
}


def _respond(fmt: str, root: str, item: str | None, payload: Any, status: int = 200,
             headers: dict[str, str] | None = None) -> Response:
    if fmt == "xml":
        content = open311.to_xml(root, item, payload)
    else:
        content = json.dumps(payload, ensure_ascii=False).encode()
    return Response(content, status_code=status, media_type=open311.MEDIA_TYPES[fmt], headers=headers)


def _errors(fmt: str, status: int, descriptions: list[str], headers: dict[str, str] | None = None) -> Response:
    return _respond(fmt, "errors", "error", [open311.error(status, d) for d in descriptions], status, headers)


def _problem(fmt: str, problem: Problem) -> Response:
    status = 400 if problem.status == 422 else problem.status
    reasons = [f"{open311_field(e.field)}: {e.reason}" for e in problem.errors] or [problem.detail or problem.title]
    return _errors(fmt, status, reasons, problem.headers)


def open311_field(field: str) -> str:
    return {"location.community": "attribute[community]"}.get(field, field)


def router(runtime: Runtime, settings: IntakeSettings, limiter: TokenBuckets, catalogue: Catalogue) -> APIRouter:
    api = APIRouter(prefix="/open311/v2", tags=["open311"])

    async def partner(api_key: str | None) -> Principal | None:
        if not api_key:
            return None
        async with runtime.db.connect() as session:
            return await partners.partner_for_key(session=session, key=api_key)

    @api.get("/services.{fmt}", summary="GeoReport v2: the service list", openapi_extra=roles("public"))
    async def list_services(fmt: Format, jurisdiction_id: str | None = None) -> Response:
        return _respond(fmt, "services", "service", open311.services())

    @api.get("/services/{code}.{fmt}", summary="GeoReport v2: a service definition (its attributes)",
             openapi_extra=roles("public"))
    async def service_definition(code: str, fmt: Format, jurisdiction_id: str | None = None) -> Response:
        if code not in CATALOGUE:
            return _errors(fmt, 404, [f"service_code {code} not found"])
        return _respond(fmt, "service_definition", None, open311.service_definition(code))

    @api.post("/requests.{fmt}", summary="GeoReport v2: create a service request (form-encoded)",
              openapi_extra=roles("partner", extra=_POST_BODY))
    async def create_request(fmt: Format, request: Request) -> Response:
        try:
            form = await request.form()
        except Exception:
            return _errors(fmt, 400, ["the body must be application/x-www-form-urlencoded"])
        api_key = form.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            return _errors(fmt, 401, ["api_key: required"])
        caller = await partner(api_key)
        if caller is None:
            return _errors(fmt, 403, ["api_key: not valid"])
        try:
            check_rate(limiter, caller)
        except Problem as problem:
            return _problem(fmt, problem)
        body, errors = open311.request_from_form(form, form.getlist)
        if body is None:
            return _errors(fmt, 400, [e["description"] for e in errors])
        if body.category not in CATALOGUE:  # unreachable: the model checks the code
            return _errors(fmt, 400, ["service_code: not found"])
        places = await catalogue.current(runtime.db)
        try:
            async with runtime.db.autocommit() as session:
                submission = await submissions.submit(session=session, principal=caller,
                                                      new_request=submissions.NewRequest.from_partner(body),
                                                      settings=settings, catalogue=places)
        except Problem as problem:
            return _problem(fmt, problem)
        created = {"service_request_id": str(submission.request.id),
                   "service_notice": open311.notice(body.category), "account_id": None}
        return _respond(fmt, "service_requests", "request", [created], status=201)

    @api.get("/requests.{fmt}", summary="GeoReport v2: query service requests", openapi_extra=roles(
        "public", extra={"description": "Anyone sees requests without what identifies a requester; "
                                        "with its api_key a partner sees its own requests in full, and only those."}))
    async def query_requests(
        fmt: Format,
        service_request_id: Annotated[str | None, Query(max_length=4000)] = None,
        service_code: Annotated[str | None, Query(max_length=1000)] = None,
        start_date: Annotated[str | None, Query(max_length=40)] = None,
        end_date: Annotated[str | None, Query(max_length=40)] = None,
        status: Annotated[str | None, Query(max_length=40)] = None,
        api_key: Annotated[str | None, Query(max_length=200)] = None,
        jurisdiction_id: str | None = None,
    ) -> Response:
        caller = await partner(api_key)
        if api_key and caller is None:
            return _errors(fmt, 403, ["api_key: not valid"])
        ids = [i.strip() for i in (service_request_id or "").split(",") if i.strip()] or None
        codes = [c.strip() for c in (service_code or "").split(",") if c.strip()] or None
        statuses = [s.strip() for s in (status or "").split(",") if s.strip()] or None
        errors: list[str] = []
        if statuses and not set(statuses) <= {"open", "closed"}:
            errors.append("status: must be open or closed (comma-separated)")
        dates: dict[str, datetime | None] = {"start_date": None, "end_date": None}
        for name, raw in (("start_date", start_date), ("end_date", end_date)):
            if raw:
                try:
                    moment = open311.parse_w3c(raw)
                    if not EARLIEST <= moment <= LATEST:
                        raise ValueError("out of range")
                    dates[name] = moment
                except ValueError:
                    errors.append(f"{name}: must be a W3C date-time with a UTC offset, between 2000 and 2200, "
                                  "e.g. 2024-01-05T09:30:00+08:00")
        start, end = dates["start_date"], dates["end_date"]
        if start and end and end - start > MAX_SPAN:
            errors.append("start_date, end_date: may not span more than 90 days")
        if errors:
            return _errors(fmt, 400, errors)
        if not ids:  # the default window is the last 90 days
            if start is None:
                start = (end or utcnow()) - MAX_SPAN
        async with runtime.db.transaction() as session:
            rows = await requests.open311_requests(
                session=session, principal=caller, ids=ids, codes=codes, statuses=statuses, start=start, end=end)
        full = caller is not None
        return _respond(fmt, "service_requests", "request",
                        [open311.service_request(r, full=full) for r in rows])

    @api.get("/requests/{service_request_id}.{fmt}", summary="GeoReport v2: one service request",
             openapi_extra=roles("public"))
    async def get_request(
        service_request_id: str, fmt: Format,
        api_key: Annotated[str | None, Query(max_length=200)] = None,
        jurisdiction_id: str | None = None,
    ) -> Response:
        caller = await partner(api_key)
        if api_key and caller is None:
            return _errors(fmt, 403, ["api_key: not valid"])
        async with runtime.db.transaction() as session:
            rows = await requests.open311_requests(session=session, principal=caller, ids=[service_request_id[:100]],
                                                   codes=None, statuses=None, start=None, end=None)
        if not rows:
            return _errors(fmt, 404, [f"service_request_id {service_request_id} not found"])
        return _respond(fmt, "service_requests", "request",
                        [open311.service_request(rows[0], full=caller is not None)])

    @api.get("/tokens/{token}.{fmt}", summary="GeoReport v2: the request a token stands for",
             openapi_extra=roles("public"))
    async def get_token(token: str, fmt: Format, jurisdiction_id: str | None = None) -> Response:
        # Requests are stored when posted, so a token is the request id itself.
        async with runtime.db.transaction() as session:
            rows = await requests.open311_requests(session=session, principal=None, ids=[token[:100]], codes=None,
                                                   statuses=None, start=None, end=None)
        if not rows:
            return _errors(fmt, 404, [f"token {token} not found"])
        return _respond(fmt, "service_requests", "request",
                        [{"service_request_id": str(rows[0].id), "token": token}])

    return api
