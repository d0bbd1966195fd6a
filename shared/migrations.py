"""`python -m shared.migrations <service> "<message>"`: writes a new Alembic
revision for a service by comparing its models with a scratch SQLite database
brought to the newest revision."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent


def main(service: str, message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        config = Config()
        config.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
        config.attributes["database_url"] = f"sqlite+aiosqlite:///{scratch}/scratch.db"
        command.upgrade(config, "head")
        command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
