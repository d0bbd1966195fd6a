"""Volunteers: teams, members, service areas, shifts, check-ins, points."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from shared.clock import utcnow
from shared.http import install_problem_handlers, mount_metrics
from shared.runtime import Runtime

from . import api, forms, handlers, loops
from .models import outbox, processed_events
from .settings import VolunteersSettings


def create_app(settings: VolunteersSettings | None = None,
               clock: Callable[[], datetime] = utcnow) -> FastAPI:
    """`clock` is the service's idea of now: shifts, check-in days and the
    shift-boundary publisher all read it (tests drive time through it)."""
    settings = settings or VolunteersSettings()
    runtime = Runtime(settings, "volunteers", settings.database_url,
                      Path(__file__).parent / "migrations", outbox, processed_events)
    handlers.register(runtime, settings)
    loops.register(runtime, settings, clock)
    app = FastAPI(title="Heartline volunteers", version="1", lifespan=runtime.lifespan)
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.include_router(runtime.health_router())
    app.include_router(api.router(runtime, settings, clock))
    app.include_router(forms.router(runtime, settings, clock))
    mount_metrics(app)
    return app
