"""HTTP plumbing every service shares: RFC 9457 problem details, bearer-token
authentication, health and readiness, metrics."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta, timezone
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import make_asgi_app
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


def not_found(what: str) -> Problem:
    return Problem(404, "Not Found", f"{what} does not exist")


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return exc.response(request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldError(_field_name(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
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


TokenResolver = Callable[[Request, str], Awaitable[Principal | None]]

_bearer = HTTPBearer(auto_error=False)
_TOKEN_ISSUER = "heartline"


def issue_coordinator_token(
    secret: str, subject: str, role: str, communities: list[str] | frozenset[str], ttl: timedelta
) -> str:
    """A signed token (JWT, HS256) that every service accepts without a lookup."""
    now = datetime.now(timezone.utc)
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


def bearer_auth(admin_token: str, resolve: TokenResolver | None = None, token_secret: str | None = None):
    """A dependency that returns the calling `Principal` or answers 401.  The
    admin token is accepted everywhere, and so are coordinator tokens signed
    with `token_secret`; `resolve` knows the service's own keys (partner keys)."""

    async def authenticate(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Problem(401, "Unauthorized", "send Authorization: Bearer <token>",
                          headers={"WWW-Authenticate": "Bearer"})
        token = credentials.credentials
        if secrets.compare_digest(token.encode(), admin_token.encode()):
            return Principal(role="admin", subject="admin")
        if token_secret and token.count(".") == 2 and (principal := read_coordinator_token(token_secret, token)):
            return principal
        if resolve is not None and (principal := await resolve(request, token)):
            return principal
        raise Problem(401, "Unauthorized", "the token is not valid",
                      headers={"WWW-Authenticate": "Bearer"})

    return authenticate


def mount_metrics(app: FastAPI) -> None:
    app.mount("/metrics", make_asgi_app())
