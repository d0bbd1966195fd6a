"""`python -m services.<name>`: logging set up, then uvicorn on the settings'
port.  `python -m services.<name> migrate` only applies the database
migrations and exits (a Kubernetes Job does this before a rollout)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from shared.logs import configure_logging
from shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def serve(create_app: Callable[[S], FastAPI], settings: S) -> None:
    configure_logging()
    # FastStream's own lifecycle chatter (consumers starting, fetch loops) is
    # for debugging; operators see its warnings and errors.
    logging.getLogger(f"heartline.{type(settings).__name__.removesuffix('Settings').lower()}.faststream").setLevel(
        logging.WARNING
    )
    app = create_app(settings)
    if sys.argv[1:] == ["migrate"]:
        runtime = app.state.runtime
        asyncio.run(runtime.db.migrate(runtime.migrations))
        return
    app.state.runtime.freeze_when_warm = True
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,  # request paths carry no personal data, but keep logs lean
        log_config=None,  # keep configure_logging's scrubbing handler
        timeout_graceful_shutdown=10,
    )
