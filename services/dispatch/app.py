"""Dispatch: matches requests to teams by location; the coordinators' API."""

from pathlib import Path

from fastapi import FastAPI

from shared.runtime import Runtime

from . import api, handlers
from .loops import QueueSweeper
from .models import outbox, processed_events
from .settings import DispatchSettings
from .team_index import TeamCache


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    settings = settings or DispatchSettings()
    runtime = Runtime(settings, "dispatch", settings.database_url,
                      Path(__file__).parent / "migrations", outbox, processed_events)
    teams = TeamCache(runtime.db, settings)
    runtime.background(teams.run)
    runtime.warm_up(teams.built.wait)
    sweeper = QueueSweeper(runtime, settings, teams)
    runtime.background(sweeper.run)
    handlers.register(runtime, settings, sweeper, teams)
    app = runtime.app("Heartline dispatch")
    app.state.teams = teams
    app.include_router(api.router(runtime, settings, sweeper))
    return app
