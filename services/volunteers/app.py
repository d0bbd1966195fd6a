"""Volunteers: teams, members, service areas, shifts, check-ins, points."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import Depends, FastAPI, Request

from shared.clock import utcnow
from shared.http import FieldError, Problem
from shared.runtime import Runtime

from . import api, forms, handlers, loops
from .doors import Doors
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
    # The form tokens' key: the token secret, or else the admin token (never sent to anyone).
    doors = Doors(settings, runtime.token_secret or runtime.admin_token)
    guard = [Depends(storable_url)]
    app.include_router(api.router(runtime, settings, clock, doors), dependencies=guard)
    app.include_router(forms.router(runtime, settings, clock, doors), dependencies=guard)
    return app


async def storable_url(request: Request) -> None:
    """A NUL in a path or query parameter (`%00`) is a 422 naming it: PostgreSQL
    text cannot hold one, and a lookup with it would otherwise be a 500."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if "\x00" in str(value):
            raise Problem(422, "Invalid request", f"{name}: must not contain NUL characters",
                          [FieldError(name, "must not contain NUL characters")])
