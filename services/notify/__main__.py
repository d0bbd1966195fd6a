"""`python -m services.notify`: serves notify (or, with `migrate`, only migrates its database)."""

from shared.serve import serve

from .app import create_app
from .settings import NotifySettings

if __name__ == "__main__":
    serve(create_app, NotifySettings())
