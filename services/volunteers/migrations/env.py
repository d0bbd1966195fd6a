from shared.db import run_alembic_env

from services.volunteers.models import metadata

run_alembic_env(metadata)
