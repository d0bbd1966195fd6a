"""Intake's app factory: the doors, the bus handlers and the webhook loop on one
runtime.  Intake takes requests for help in, validates them, publishes them."""

from pathlib import Path

from fastapi import FastAPI

from shared.http import document_schemas
from shared.runtime import Runtime

from . import api, forms, handlers, loops, open311_api
from .communities import Catalogue
from .models import outbox, processed_events
from .ratelimit import TokenBuckets
from .schemas import HotlineCallIn, RequestIn
from .settings import IntakeSettings


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = Runtime(settings, "intake", settings.database_url,
                      Path(__file__).parent / "migrations", outbox, processed_events)
    catalogue = Catalogue(settings.community_cache_seconds)
    handlers.register(runtime, catalogue)
    loops.register(runtime, settings)
    limiter = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
    app = runtime.app("Heartline intake")
    app.state.settings = settings
    app.state.catalogue = catalogue
    app.include_router(api.router(runtime, settings, limiter, catalogue))
    app.include_router(open311_api.router(runtime, settings, limiter, catalogue))
    app.include_router(forms.router(runtime, settings, catalogue))
    document_schemas(app, RequestIn, HotlineCallIn)  # read by their doors themselves
    return app
