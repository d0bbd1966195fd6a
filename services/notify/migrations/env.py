from shared.db import run_alembic_env

from services.notify.models import metadata

run_alembic_env(metadata)
