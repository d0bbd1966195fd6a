"""Intake's process: `python -m services.intake` serves the app."""

from shared.serve import serve

from .app import create_app
from .settings import IntakeSettings

if __name__ == "__main__":
    serve(create_app, IntakeSettings())
