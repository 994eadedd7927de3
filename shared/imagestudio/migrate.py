"""Run Alembic migrations programmatically (``imagestudio migrate``, embedded start-up, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

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


def revisions(database_url: str | None = None) -> tuple[str | None, str | None]:
    """(the database's revision, the newest migration's): equal when the schema is current.

    The database's is ``None`` before the first migration (no ``alembic_version`` table).
    """
    config = alembic_config(database_url)
    head = ScriptDirectory.from_config(config).get_current_head()
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision(), head
    finally:
        engine.dispose()
