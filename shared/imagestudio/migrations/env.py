"""Alembic environment: the URL comes from Settings, the schema from ``imagestudio.models``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from imagestudio.config import get_settings
from imagestudio.db import sqlalchemy_url
from imagestudio.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or sqlalchemy_url(get_settings().resolved_database_url)
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        # Batch mode lets SQLite (which cannot ALTER most things) follow the same migrations.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
