"""Operator commands on a PostgreSQL database nobody migrated: one line saying what to run, exit 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from support import imagestudio_cli, scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A PostgreSQL database of its own, with no table in it."""
    with scratch_database("imagestudio_cli") as url:
        yield url


@pytest.mark.parametrize(
    "args",
    [
        ("keys", "create", "--tenant", "acme"),
        ("keys", "revoke", "isk_abcdefgh"),
        ("tenants", "set-tier", "some-tenant", "pro"),
        ("credits", "grant", "some-tenant", "10"),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_operator_command_on_an_unmigrated_database_says_to_migrate(
    empty_database: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = imagestudio_cli(*args, data_dir=tmp_path, IMAGESTUDIO_DATABASE_URL=empty_database)
    assert result.returncode == 1, result.stdout + result.stderr
    said = (result.stdout + result.stderr).strip()
    assert "Traceback" not in said and len(said.splitlines()) == 1, said
    assert "not migrated" in said and "imagestudio migrate" in said
    with psycopg.connect(empty_database) as conn:  # nothing was created behind the operator's back
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
