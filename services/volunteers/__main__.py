"""`python -m services.volunteers`: serves the volunteers app (or `migrate` only)."""

from shared.serve import serve

from .app import create_app
from .settings import VolunteersSettings

if __name__ == "__main__":
    serve(create_app, VolunteersSettings())
