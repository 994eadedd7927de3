"""The migration chain builds exactly the schema the ORM declares: autogenerate finds nothing to add.

A model changed without its migration, or a migration that drifts from its model, fails here. (The
chain is kept as written, not squashed: a database at any older revision must still upgrade, and
the data migrations 0005 and 0009 are tested by running them.)
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from imagestudio.migrate import alembic_config
from imagestudio.models import Base


def schema_diff(database: Path, revision: str) -> list[tuple[object, ...]]:
    """What autogenerate would change in a database migrated to ``revision`` to match the ORM."""
    url = f"sqlite:///{database}"
    command.upgrade(alembic_config(url), revision)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))
    finally:
        engine.dispose()


def test_upgraded_database_matches_the_orm_metadata(tmp_path: Path) -> None:
    assert schema_diff(tmp_path / "schema.db", "head") == []


def test_a_database_one_migration_behind_differs_from_the_orm(tmp_path: Path) -> None:
    """The comparison sees a missing column: 0012 adds ``uploads.frames`` (later revisions add more)."""
    diff = schema_diff(tmp_path / "behind.db", "0011")

    added = [(c[2], c[3].name) for c in diff if isinstance(c, tuple) and c[0] == "add_column"]
    assert ("uploads", "frames") in added
