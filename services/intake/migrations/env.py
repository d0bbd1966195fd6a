from shared.db import run_alembic_env

from services.intake.models import metadata

run_alembic_env(metadata)
