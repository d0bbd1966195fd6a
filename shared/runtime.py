"""What every service runs besides its HTTP doors: its database (migrated on
start), its bus connection (retried until NATS answers, then reconnected
forever), its outbox relay and any background loops of its own."""

import asyncio
import gc
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from faststream.specification import AsyncAPI
from prometheus_client import make_asgi_app
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.routing import Route

from shared.bus import Bus
from shared.contracts import CoordinatorTokenRevokedV1, Event
from shared.db import Database
from shared.http import (
    BearerAuth,
    Principal,
    Problem,
    Revocations,
    TokenResolver,
    install_problem_handlers,
    roles,
)
from shared.middleware import BodyLimit, Receive, Scope, SecurityHeaders, Send
from shared.outbox import OutboxRelay, Retention, claim_event
from shared.settings import ServiceSettings

log = logging.getLogger("heartline.runtime")

T = TypeVar("T")


class Runtime:
    def __init__(
        self,
        settings: ServiceSettings,
        service: str,
        database_url: str,
        migrations: Path,
        outbox: Table,
        inbox: Table,
    ) -> None:
        self.settings = settings
        self.service = service
        self.db = Database(database_url, settings.db_pool_size, settings.db_max_overflow)
        self.bus = Bus(settings, service)
        self.relay = OutboxRelay(self.db, outbox, self.bus)
        self.inbox = inbox
        self.migrations = migrations
        self.admin_token = (
            settings.admin_token.get_secret_value() if settings.admin_token else _dev_token(service)
        )
        self.token_secret = settings.token_secret.get_secret_value() if settings.token_secret else None
        self.retention = Retention(self.db, outbox, inbox, settings.retention_days)
        self._loops: list[Callable[[], Awaitable[None]]] = [self.relay.run, self.retention.run]
        self._tasks: list[asyncio.Task[None]] = []
        self._warm_ups: list[Callable[[], Awaitable[object]]] = []
        self.freeze_when_warm = False  # a served process sets it; a test process keeps its collector
        self.bus_started = asyncio.Event()
        self.revocations = Revocations()

    def auth(self, resolve: TokenResolver | None = None) -> BearerAuth:
        """The bearer-token dependency for this service's endpoints: coordinator
        tokens must name this service and not be revoked."""
        return BearerAuth(self.admin_token, resolve, self.token_secret, service=self.service,
                          revoked=self.revocations)

    async def once(
        self, consumer: str, event: Event, effect: Callable[[AsyncConnection], Awaitable[T]]
    ) -> T | None:
        """The door of every bus handler: claims `event` for `consumer` and runs
        `effect` in the same transaction.  A repeat does nothing and gives None."""
        async with self.db.transaction() as session:
            if not await claim_event(session, self.inbox, consumer, event.id):
                return None
            return await effect(session)

    def background(self, loop: Callable[[], Awaitable[None]]) -> None:
        """Runs `loop` for the life of the process, once the bus is up."""
        self._loops.append(loop)

    def warm_up(self, ready: Callable[[], Awaitable[object]]) -> None:
        """Start-up is not over until `ready()` returns (a cache built in the
        background, say): what exists then is frozen out of the cyclic collector."""
        self._warm_ups.append(ready)

    async def _freeze_when_warm(self) -> None:
        await self.bus_started.wait()
        await asyncio.gather(*(ready() for ready in self._warm_ups))
        # What start-up built lives as long as the process: the collector's full
        # passes over it stall the event loop (dispatch's 100,000-team index:
        # seconds; intake under load: p99 93 -> 79 ms in a 16-caller run).
        gc.collect()
        gc.freeze()
        log.info("%s: start-up done; %d objects frozen out of the cyclic collector",
                 self.service, gc.get_freeze_count())

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        if self.settings.run_migrations:
            await self.db.migrate(self.migrations)
        self._tasks.append(asyncio.create_task(self._start_bus(), name=f"{self.service}-bus"))
        if self.freeze_when_warm:
            self._tasks.append(asyncio.create_task(self._freeze_when_warm(), name=f"{self.service}-warm-up"))
        try:
            yield
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                _, stuck = await asyncio.wait(self._tasks, timeout=10)
                for task in stuck:
                    log.error("%s: background task %s did not stop", self.service, task.get_name())
            if self.bus_started.is_set():
                try:
                    await self.bus.broker.stop()
                except Exception as exc:  # NATS already gone: nothing left to drain
                    log.warning("%s: bus did not close cleanly: %s", self.service, type(exc).__name__)
            await self.db.dispose()

    async def _start_bus(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.bus.start()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS not there yet: the HTTP side keeps serving
                log.warning("%s: bus not reachable (%s); retrying in %.1fs", self.service, exc, delay)
                try:
                    await self.bus.broker.stop()
                except Exception:
                    pass
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        await self.bus.follow(CoordinatorTokenRevokedV1, lambda event: self.revocations.revoke(
            event.data.token_id, event.data.expires_at))
        self.bus_started.set()
        log.info("%s: bus connected", self.service)
        for loop in self._loops:
            self._tasks.append(asyncio.create_task(_forever(loop), name=loop.__qualname__))

    def app(self, title: str, *, body_limits: dict[str, int] | None = None) -> FastAPI:
        """The service's FastAPI app with what every service puts around its doors:
        problem details, the body limit, security headers, health and readiness,
        dead letters, and the operations endpoints as `HEARTLINE_OPS_ENDPOINTS` says."""
        access = self.settings.ops_access
        app = FastAPI(title=title, version="1", lifespan=self.lifespan,
                      docs_url="/docs" if access == "open" else None, redoc_url=None,
                      openapi_url="/openapi.json" if access == "open" else None)
        app.state.runtime = self
        install_problem_handlers(app)
        app.add_middleware(BodyLimit, max_bytes=self.settings.max_body_bytes, limits=body_limits)
        app.add_middleware(SecurityHeaders)
        app.include_router(self.health_router())
        if access != "off":
            app.include_router(self._ops_router(app, access))
            # A route, not a mount: Prometheus asks for /metrics, and a mount would redirect it to /metrics/.
            app.router.routes.append(Route("/metrics", Metrics(self.admin_token if access == "admin" else None),
                                           include_in_schema=False))
        return app

    def _ops_router(self, app: FastAPI, access: str) -> APIRouter:
        router = APIRouter(tags=["operations"])

        async def operator(request: Request) -> None:
            if access == "admin" and not (await self.auth().of(request)).is_admin:
                raise Problem(403, "Forbidden", "operations endpoints take the admin token")

        who = roles("public") if access == "open" else roles("admin")

        @router.get("/asyncapi.json", summary="AsyncAPI document of this service's bus use",
                    dependencies=[Depends(operator)], openapi_extra=who)
        async def asyncapi() -> JSONResponse:
            spec = AsyncAPI(self.bus.broker, title=f"Heartline {self.service}", version="1")
            return JSONResponse(spec.to_specification().to_jsonable())

        if access == "admin":
            @router.get("/openapi.json", include_in_schema=False, dependencies=[Depends(operator)],
                        openapi_extra=who)
            async def openapi() -> JSONResponse:
                return JSONResponse(app.openapi())

        return router

    def health_router(self) -> APIRouter:
        router = APIRouter(tags=["operations"])

        @router.get("/healthz", summary="The process is up", openapi_extra=roles("public"))
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @router.get("/readyz", summary="The database and the bus are reachable", openapi_extra=roles("public"))
        async def readyz() -> JSONResponse:
            checks = {"database": "ok", "bus": "ok"}
            try:
                async with asyncio.timeout(2.0):
                    await self.db.ping()
            except Exception as exc:
                checks["database"] = f"unreachable: {type(exc).__name__}"
            if not (self.bus_started.is_set() and self.bus.is_connected()):
                checks["bus"] = "unreachable"
            ready = all(v == "ok" for v in checks.values())
            return JSONResponse(
                {"status": "ready" if ready else "not ready", "checks": checks},
                status_code=200 if ready else 503,
            )

        @router.get("/v1/dead-letters", summary="Events this service gave up on, with the reason",
                    openapi_extra=roles("admin"))
        async def dead_letters(
            principal: Annotated[Principal, Depends(self.auth())],
            limit: Annotated[int, Query(ge=1, le=500)] = 50,
        ) -> JSONResponse:
            if not principal.is_admin:
                raise Problem(403, "Forbidden", "dead letters are for operators (admin token)")
            if not self.bus.is_connected():
                raise Problem(503, "Service Unavailable", "the bus is not reachable")
            return JSONResponse(await self.bus.dead_letters(limit))

        return router


async def _forever(loop: Callable[[], Awaitable[None]]) -> None:
    """Restarts a background loop that crashed, so one bug cannot stop it for good."""
    while True:
        try:
            await loop()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background loop %s crashed; restarting", loop.__qualname__)
            await asyncio.sleep(1.0)


class Metrics:
    """Prometheus's exposition, behind the admin bearer token when one is given
    (as Prometheus's `authorization` scrape setting sends it).  A class, so that
    Starlette serves it as an ASGI app rather than as a request handler."""

    def __init__(self, admin_token: str | None) -> None:
        self.expected = f"Bearer {admin_token}".encode() if admin_token else None
        self.exposition = make_asgi_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = dict(scope.get("headers", [])).get(b"authorization", b"")
        if self.expected is not None and not secrets.compare_digest(given, self.expected):
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"www-authenticate", b"Bearer"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.exposition(scope, receive, send)


def _dev_token(service: str) -> str:
    token = secrets.token_urlsafe(24)
    log.warning("%s: HEARTLINE_ADMIN_TOKEN not set; development token: %s", service, token)
    return token
