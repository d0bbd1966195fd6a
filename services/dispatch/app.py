"""Dispatch: matches requests to teams by location; the coordinators' API."""

from pathlib import Path

from fastapi import FastAPI

from shared.runtime import Runtime

from . import api, handlers
from .communities import CommunityDirectory
from .loops import QueueSweeper, RetentionSweeper
from .models import outbox, processed_events
from .settings import DispatchSettings
from .team_index import TeamCache


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    settings = settings or DispatchSettings()
    runtime = Runtime(settings, "dispatch", settings.database_url,
                      Path(__file__).parent / "migrations", outbox, processed_events)
    communities = CommunityDirectory(runtime.db, settings.community_reload_seconds)
    runtime.background(communities.run)
    teams = TeamCache(runtime.db, settings)
    runtime.background(teams.run)
    runtime.warm_up(teams.built.wait)
    sweeper = QueueSweeper(runtime, settings, teams, communities)
    runtime.background(sweeper.run)
    runtime.background(RetentionSweeper(runtime, settings).run)
    handlers.register(runtime, settings, sweeper, teams, communities)
    app = runtime.app("Heartline dispatch")
    app.state.teams = teams
    app.state.communities = communities
    app.include_router(api.router(runtime, settings, sweeper, communities))
    return app
