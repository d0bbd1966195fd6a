"""Runs dispatch as a process: `python -m services.dispatch` serves, `... migrate` migrates."""

from shared.serve import serve

from .app import create_app
from .settings import DispatchSettings

if __name__ == "__main__":
    serve(create_app, DispatchSettings())
