"""Run Alembic migrations programmatically (``imagestudio migrate``, embedded start-up, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from imagestudio.config import get_settings
from imagestudio.db import sqlalchemy_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", sqlalchemy_url(database_url or get_settings().resolved_database_url)
    )
    return config


def upgrade(database_url: str | None = None) -> None:
    settings = get_settings()
    if not (database_url or settings.database_url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), "head")
