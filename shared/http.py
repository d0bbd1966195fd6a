"""HTTP plumbing every service shares: RFC 9457 problem details, bearer-token
authentication, health and readiness, metrics."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import jwt
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
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
    token_id: str | None = None  # a coordinator token's jti: what revoking names
    expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_act_for(self, community: str) -> bool:
        return self.is_admin or community in self.communities


# Who may call a route: the README's route table is made from these, and
# tests/test_routes.py calls each route as each role to check the doors agree.
ROLES = ("public", "signed", "partner", "coordinator", "admin")


def roles(*who: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A route's `openapi_extra` saying who may call it (merged with `extra`):
    "public" (anyone), "signed" (a gateway's HMAC signature), "partner",
    "coordinator" (within their scope), "admin"."""
    unknown = set(who) - set(ROLES)
    if unknown or not who:
        raise ValueError(f"roles must be some of {ROLES}, not {sorted(unknown)}")
    return {**(extra or {}), "x-heartline-roles": list(who)}


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Problem(403, "Forbidden", "only an admin may do this")


TokenResolver = Callable[[Request, str], Awaitable[Principal | None]]

_bearer = HTTPBearer(auto_error=False)
_TOKEN_ISSUER = "heartline"


SERVICES = ("intake", "volunteers", "dispatch", "notify")
MIN_SECRET_BYTES = 32


def audience(service: str) -> str:
    return f"heartline-{service}"


def issue_coordinator_token(secret: str, *, subject: str, communities: Iterable[str], ttl: timedelta,
                            services: Iterable[str] = SERVICES, now: datetime | None = None) -> tuple[str, str]:
    """A signed token (JWT, HS256) that the named services accept without a
    lookup, and its id (jti) for revoking it.  It never grants the admin role:
    the admin token is the only way to that."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
    issued = now or datetime.now(UTC)
    token_id = uuid.uuid4().hex
    claims = {"iss": _TOKEN_ISSUER, "sub": subject, "role": "coordinator", "jti": token_id,
              "aud": [audience(s) for s in services], "communities": sorted(communities),
              "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, secret, algorithm="HS256"), token_id


class Revocations:
    """Token ids revoked before their expiry, each kept until it would have expired."""

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}

    def revoke(self, token_id: str, expires_at: datetime) -> None:
        self._until[token_id] = expires_at
        now = datetime.now(UTC)
        if len(self._until) % 256 == 0:  # now and then, forget what expired anyway
            self._until = {t: at for t, at in self._until.items() if at > now}

    def __contains__(self, token_id: object) -> bool:
        return token_id in self._until


def read_coordinator_token(secret: str, token: str, *, service: str | None = None,
                           revoked: Revocations | None = None) -> Principal | None:
    """The principal a valid, unexpired, unrevoked coordinator token names, if it
    was issued for `service`; None otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=_TOKEN_ISSUER,
                            audience=audience(service) if service else None,
                            options={"require": ["exp", "sub", "role", "jti", "aud"], "verify_aud": bool(service)})
    except jwt.PyJWTError:
        return None
    if claims["role"] != "coordinator" or (revoked is not None and claims["jti"] in revoked):
        return None
    return Principal(role="coordinator", subject=claims["sub"], communities=frozenset(claims.get("communities") or ()),
                     token_id=claims["jti"], expires_at=datetime.fromtimestamp(claims["exp"], UTC))


class BearerAuth:
    """Who is calling, from `Authorization: Bearer <token>`, or a 401.  The
    admin token is accepted everywhere, and so are coordinator tokens signed
    with `token_secret`; `resolve` knows the service's own keys (partner keys).

    Used as a FastAPI dependency (which also documents the scheme), or called
    as `of(request)` by a door that reads its request itself."""

    def __init__(self, admin_token: str, resolve: TokenResolver | None = None,
                 token_secret: str | None = None, *, service: str | None = None,
                 revoked: Revocations | None = None) -> None:
        self.admin_token = admin_token.encode()
        self.resolve = resolve
        self.token_secret = token_secret
        self.service = service
        self.revoked = revoked

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
                and (principal := read_coordinator_token(self.token_secret, token, service=self.service,
                                                         revoked=self.revoked))):
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
