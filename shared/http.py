"""HTTP plumbing every service shares: RFC 9457 problem details, bearer-token
authentication, health and readiness, metrics."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import jwt
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from prometheus_client import make_asgi_app
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("heartline.http")

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


class Problem(Exception):
    """An answer that is not a success, rendered as RFC 9457 problem details."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.headers = headers
        self.extensions = extensions

    def response(self, request: Request) -> JSONResponse:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "instance": request.url.path,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = [{"field": e.field, "reason": e.reason} for e in self.errors]
        body.update(self.extensions)
        return JSONResponse(body, status_code=self.status, headers=self.headers, media_type=PROBLEM_JSON)


T = TypeVar("T")
# Deeper than this, a list is a search, not a page: and a database asked for
# OFFSET 10**18 answers an error, not an empty page.
MAX_OFFSET = 100_000


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def _page(limit: Annotated[int, Query(ge=1, le=500, description="At most this many.")] = 100,
          offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many first.")] = 0) -> Page:
    return Page(limit=limit, offset=offset)


PageParams = Annotated[Page, Depends(_page)]


def counted(response: Response, page: list[T], total: int) -> list[T]:
    """A page of a list, its total in `X-Total-Count` (every list door pages the same way)."""
    response.headers["X-Total-Count"] = str(total)
    return page


def not_found(what: str) -> Problem:
    return Problem(404, "Not Found", f"{what} does not exist")


def _field_error(error: dict[str, Any]) -> FieldError:
    if error.get("type") == "json_invalid":  # FastAPI puts the character offset in loc
        return FieldError("body", f"is not valid JSON: {(error.get('ctx') or {}).get('error', error['msg'])}")
    parts = [str(p) for p in error["loc"]]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return FieldError(".".join(parts) or "body", error["msg"])


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return exc.response(request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_field_error(e) for e in exc.errors()]
        detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
        return Problem(422, "Invalid request", detail, errors).response(request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
        return Problem(
            exc.status_code,
            title.get(exc.status_code, "Error"),
            str(exc.detail) if exc.detail else None,
            headers=getattr(exc, "headers", None),
        ).response(request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return Problem(500, "Internal Server Error", "the error was logged").response(request)


# --- authentication -----------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who is calling.  `role` is admin, coordinator or partner; coordinators
    act for `communities`, partners only see their own partner's requests."""

    role: str
    subject: str
    communities: frozenset[str] = field(default_factory=frozenset)
    partner_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_act_for(self, community: str) -> bool:
        return self.is_admin or community in self.communities


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Problem(403, "Forbidden", "only an admin may do this")


TokenResolver = Callable[[Request, str], Awaitable[Principal | None]]

_bearer = HTTPBearer(auto_error=False)
_TOKEN_ISSUER = "heartline"


def issue_coordinator_token(
    secret: str, subject: str, role: str, communities: list[str] | frozenset[str], ttl: timedelta
) -> str:
    """A signed token (JWT, HS256) that every service accepts without a lookup."""
    now = datetime.now(UTC)
    claims = {"iss": _TOKEN_ISSUER, "sub": subject, "role": role,
              "communities": sorted(communities), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def read_coordinator_token(secret: str, token: str) -> Principal | None:
    """The principal a valid, unexpired token names; None otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=_TOKEN_ISSUER,
                            options={"require": ["exp", "sub", "role"]})
    except jwt.PyJWTError:
        return None
    if claims["role"] not in ("admin", "coordinator"):
        return None
    return Principal(role=claims["role"], subject=claims["sub"],
                     communities=frozenset(claims.get("communities") or ()))


class BearerAuth:
    """Who is calling, from `Authorization: Bearer <token>`, or a 401.  The
    admin token is accepted everywhere, and so are coordinator tokens signed
    with `token_secret`; `resolve` knows the service's own keys (partner keys).

    Used as a FastAPI dependency (which also documents the scheme), or called
    as `of(request)` by a door that reads its request itself."""

    def __init__(self, admin_token: str, resolve: TokenResolver | None = None,
                 token_secret: str | None = None) -> None:
        self.admin_token = admin_token.encode()
        self.resolve = resolve
        self.token_secret = token_secret

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("send Authorization: Bearer <token>")
        return await self._principal(request, credentials.credentials)

    async def of(self, request: Request) -> Principal:
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        if not token or scheme.lower() != "bearer":
            raise _unauthorized("send Authorization: Bearer <token>")
        return await self._principal(request, token)

    async def _principal(self, request: Request, token: str) -> Principal:
        if secrets.compare_digest(token.encode(), self.admin_token):
            return Principal(role="admin", subject="admin")
        if (self.token_secret and token.count(".") == 2
                and (principal := read_coordinator_token(self.token_secret, token))):
            return principal
        if self.resolve is not None and (principal := await self.resolve(request, token)):
            return principal
        raise _unauthorized("the token is not valid")


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


# --- bodies read by the door itself ---------------------------------------------

M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M], earlier: Sequence[dict[str, Any]] = ()) -> M:
    """The request's JSON body as `model`, parsed and validated in one pass
    by pydantic.  For the busiest doors: FastAPI parses the body to Python
    objects first and validates those, and its dependency solving around
    that cost ~0.1 ms of intake's ~1.2 ms call.  Errors, with the `earlier`
    ones the door found in its headers, are answered together as FastAPI
    answers them, naming each field."""
    content_type = request.headers.get("content-type")
    if content_type and not _is_json(content_type):
        raise Problem(415, "Unsupported Media Type", "send the body as application/json",
                      [FieldError("body", f"is {content_type.split(';')[0]}, not application/json")])
    raw = await request.body()
    if not raw:
        raise RequestValidationError([*earlier, {"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        body = model.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [*earlier, *({**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False))]) from None
    if earlier:
        raise RequestValidationError(list(earlier))
    return body


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def json_body_doc(model: type[BaseModel], headers: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """`openapi_extra` for a door that reads its body with `json_body`, its
    `headers` and its bearer token (`BearerAuth.of`) itself: documents what
    FastAPI would have from a signature.  The app must list `model` in
    `document_schemas`."""
    return {
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}},
        "parameters": list(headers),
        "security": [{"HTTPBearer": []}],
    }


def document_schemas(app: FastAPI, *models: type[BaseModel]) -> None:
    """Adds `models` (and the models they use) to the app's OpenAPI
    components, for doors documented with `json_body_doc`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = generate().setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, definition)
                schemas.setdefault(model.__name__, schema)
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def mount_metrics(app: FastAPI) -> None:
    app.mount("/metrics", make_asgi_app())
