"""Volunteers: teams, members, service areas, shifts, check-ins, points."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from shared.clock import utcnow
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
    app = runtime.app("Heartline volunteers", body_limits={"/v1/import/": settings.max_import_bytes})
    app.include_router(api.router(runtime, settings, clock))
    app.include_router(forms.router(runtime, settings, clock))
    return app
