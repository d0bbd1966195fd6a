"""Notify's app factory: messages out by SMS and chat (in each person's
language, with consent, quiet hours and rate limits), and replies in from
providers' webhooks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from shared.clock import utcnow
from shared.runtime import Runtime

from . import api, handlers, loops
from .channels import Channel, build_channels
from .communities import CommunityDirectory
from .messages import Composer
from .models import outbox, processed_events
from .settings import NotifySettings
from .templates import MessageTemplates


def create_app(settings: NotifySettings | None = None, channels: dict[str, Channel] | None = None,
               clock: Callable[[], datetime] | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    # apprise logs provider calls at INFO, with hosts and sometimes tokens in them.
    logging.getLogger("apprise").setLevel(logging.WARNING)
    runtime = Runtime(settings, "notify", settings.database_url,
                      Path(__file__).parent / "migrations", outbox, processed_events)
    composer = Composer(settings, MessageTemplates(settings.templates_dir), clock or utcnow)
    directory = CommunityDirectory(settings.community_cache_seconds)
    loops.register(runtime, composer, channels or build_channels(settings))
    handlers.register(runtime, composer, directory)
    app = runtime.app("Heartline notify")
    app.include_router(api.router(runtime, composer, directory))
    return app
