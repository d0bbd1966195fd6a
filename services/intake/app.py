"""Intake's app factory: the doors, the bus handlers and the webhook loop on one
runtime.  Intake takes requests for help in, validates them, publishes them."""

from pathlib import Path

from fastapi import FastAPI

from shared.http import document_schemas, install_problem_handlers, mount_metrics
from shared.middleware import BodyLimit
from shared.runtime import Runtime

from . import api, forms, handlers, loops, open311_api
from .models import outbox, processed_events
from .ratelimit import TokenBuckets
from .schemas import HotlineCallIn, RequestIn
from .settings import IntakeSettings


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = Runtime(settings, "intake", settings.database_url,
                      Path(__file__).parent / "migrations", outbox, processed_events)
    handlers.register(runtime)
    loops.register(runtime, settings)
    limiter = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
    app = FastAPI(title="Heartline intake", version="1", lifespan=runtime.lifespan)
    app.state.runtime = runtime
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.include_router(runtime.health_router())
    app.include_router(api.router(runtime, settings, limiter))
    app.include_router(open311_api.router(runtime, settings, limiter))
    app.include_router(forms.router(runtime, settings, limiter))
    mount_metrics(app)
    document_schemas(app, RequestIn, HotlineCallIn)  # read by their doors themselves
    return app
