"""Every migration renders, step by step, the same PostgreSQL it rendered when it was recorded.

A revision's meaning is fixed once it has run on some database: the same revision must build the
same schema on a database migrated last month and on one migrated today. The migrations share
frozen blocks (``imagestudio.migrations.blocks``) and the naming of constraints; an edit to either
that changes what any recorded revision emits, upgrading or downgrading, fails here.

``recorded_postgresql.json`` holds each step's offline SQL (``alembic upgrade A:B --sql``) as
rendered by the migrations before they were rewritten onto the blocks. A new migration may be
added to it once it has been released; a recorded one is never re-recorded. 0009 is not recorded:
its data step (sealing webhook secrets) reads rows, which offline rendering cannot; it uses no
block, and ``tests/unit/webhooks/test_secrets_at_rest.py`` runs it on real rows.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from imagestudio.migrate import alembic_config

RECORDED: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).parent / "recorded_postgresql.json").read_text(encoding="utf-8")
)


def render(revision: str, direction: str) -> str:
    """The SQL of one step (``up`` to ``revision`` from its parent, or ``down`` from it), offline."""
    config = alembic_config("postgresql://render@localhost/render")
    parent = ScriptDirectory.from_config(config).get_revision(revision).down_revision or "base"
    assert isinstance(parent, str)
    config.output_buffer = io.StringIO()
    if direction == "up":
        command.upgrade(config, f"{parent}:{revision}", sql=True)
    else:
        command.downgrade(config, f"{revision}:{parent}", sql=True)
    return config.output_buffer.getvalue()


@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize("revision", sorted(RECORDED))
def test_a_recorded_migration_renders_the_sql_it_was_recorded_with(revision: str, direction: str) -> None:
    assert render(revision, direction) == RECORDED[revision][direction]


def test_every_migration_but_the_data_only_one_is_recorded() -> None:
    """Each revision up to 0015 is pinned; only 0009 (rows read while migrating) is left to its test."""
    scripts = ScriptDirectory.from_config(alembic_config("postgresql://render@localhost/render"))
    released = {script.revision for script in scripts.walk_revisions() if script.revision <= "0015"}
    assert released - set(RECORDED) == {"0009"}


def test_a_changed_block_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is not blind: a block emitting another type changes the recorded SQL."""
    import sqlalchemy as sa

    from imagestudio.migrations import blocks

    monkeypatch.setattr(blocks.sa, "Double", sa.Float)
    assert render("0001", "up") != RECORDED["0001"]["up"]
