"""Column and table blocks that migrations 0001-0015 share, each written once. FROZEN: never edit.

Why a shared module and not a squash: a deployed database may stand at any revision from 0001 to
0015 and must still upgrade to head, and the data migrations (0005's credit accounts, 0009's
sealed secrets, 0011's storage accounts) must run on the data such a database holds. Squashing
the chain into one new base would either strand those databases or need the old chain kept beside
it (twice the code, not less). So every revision stays, and what they repeated (the UUID and
tenant columns, timestamp columns, cascading foreign keys named as autogenerate names them,
indexes created and dropped in batch mode) is written once here.

Why frozen: a migration's meaning is fixed the day it first runs somewhere; the same revision must
build the same schema on every database, then and later. A block here is therefore part of every
migration that calls it. Never change what a function here emits (its defaults included); a later
migration that needs something else writes it out, or calls a new function added here that no
older migration uses. ``tests/unit/migrations/test_migrations_keep_their_meaning.py`` renders each
revision's SQL and compares it with the SQL recorded when the blocks were introduced, so a change
here that alters any older migration fails there.

Names are given explicitly (``op.f``), never left to the ORM's naming convention in
``imagestudio.orm``: a later change to that convention must not rename what old migrations create.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

Column = sa.Column[Any]


def uid(name: str = "id", *, null: bool = False) -> Column:
    """A 36-character id column (a UUID's text form): row ids and references to them."""
    return sa.Column(name, sa.String(length=36), nullable=null)


def serial(name: str = "id") -> Column:
    """An auto-incrementing integer id column."""
    return sa.Column(name, sa.Integer(), autoincrement=True, nullable=False)


def string(name: str, length: int, *, null: bool = False) -> Column:
    """A ``VARCHAR(length)`` column."""
    return sa.Column(name, sa.String(length=length), nullable=null)


def text(name: str, *, null: bool = False) -> Column:
    """An unbounded text column."""
    return sa.Column(name, sa.Text(), nullable=null)


def integer(name: str, *, null: bool = False, default: str | None = None) -> Column:
    """An integer column; ``default`` is a server default (what existing rows get when added)."""
    return sa.Column(name, sa.Integer(), nullable=null, server_default=default)


def big(name: str, *, null: bool = False) -> Column:
    """A 64-bit integer column (byte counts, window starts)."""
    return sa.Column(name, sa.BigInteger(), nullable=null)


def double(name: str, *, null: bool = False) -> Column:
    """A double-precision column."""
    return sa.Column(name, sa.Double(), nullable=null)


def real(name: str, *, null: bool = False) -> Column:
    """A ``sa.Float`` column (monotonic clock readings)."""
    return sa.Column(name, sa.Float(), nullable=null)


def flag(name: str, *, null: bool = False) -> Column:
    """A boolean column."""
    return sa.Column(name, sa.Boolean(), nullable=null)


def json(name: str, *, null: bool = False) -> Column:
    """A JSON column."""
    return sa.Column(name, sa.JSON(), nullable=null)


def moment(name: str, *, null: bool = False) -> Column:
    """A timezone-aware timestamp column."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=null)


def stamps() -> tuple[Column, Column]:
    """``created_at`` and ``updated_at``, both required, in that order."""
    return moment("created_at"), moment("updated_at")


def create_table(
    name: str,
    *columns: Column,
    key: Sequence[str] = ("id",),
    refs: Mapping[str, str] | None = None,
    unique: Mapping[str, Sequence[str]] | None = None,
    indexes: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Create table ``name`` and its indexes.

    ``refs`` maps a column to the table whose ``id`` it references, in the order the foreign keys
    are declared; every one cascades on delete and is named ``fk_<table>_<column>_<target>``. The
    primary key over ``key`` is ``pk_<table>``; ``unique`` and ``indexes`` map a constraint's or
    an index's name to its columns.
    """
    constraints: list[sa.Constraint] = [
        sa.ForeignKeyConstraint(
            [column], [f"{target}.id"], name=op.f(f"fk_{name}_{column}_{target}"), ondelete="CASCADE"
        )
        for column, target in (refs or {}).items()
    ]
    constraints.append(sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{name}")))
    constraints += [sa.UniqueConstraint(*cols, name=op.f(uq)) for uq, cols in (unique or {}).items()]
    op.create_table(name, *columns, *constraints)
    if indexes:
        create_indexes(name, indexes)


def tenant_table(
    name: str,
    *columns: Column,
    id: Column | None = None,
    refs: Mapping[str, str] | None = None,
    **options: Any,
) -> None:
    """A table whose rows a tenant owns: ``id`` (a UUID unless another column is given), then
    ``tenant_id``, then ``columns``; the tenant's foreign key is declared after those of ``refs``.
    ``options`` as for :func:`create_table`."""
    refs = {**(refs or {}), "tenant_id": "tenants"}
    create_table(name, id if id is not None else uid(), uid("tenant_id"), *columns, refs=refs, **options)


def tenant_record(name: str, *columns: Column) -> None:
    """A table of one row per tenant, keyed by ``tenant_id``, then ``columns``."""
    create_table(name, uid("tenant_id"), *columns, key=["tenant_id"], refs={"tenant_id": "tenants"})


def create_rate_limit_windows() -> None:
    """The per-tenant request counters: created by 0004, dropped by 0006 (and created on its way down)."""
    create_table(
        "rate_limit_windows",
        uid("tenant_id"),
        string("name", 40),
        big("window_start"),
        integer("count"),
        key=["tenant_id", "name", "window_start"],
        refs={"tenant_id": "tenants"},
    )


def drop_table(name: str, indexes: Iterable[str] = ()) -> None:
    """Drop table ``name`` after its ``indexes`` (the reverse of :func:`create_table`)."""
    drop_indexes(name, indexes)
    op.drop_table(name)


def create_indexes(table: str, indexes: Mapping[str, Sequence[str]]) -> None:
    """Create plain (non-unique) indexes on ``table``, by name, in batch mode (SQLite too)."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for index, columns in indexes.items():
            batch_op.create_index(op.f(index), list(columns), unique=False)


def drop_indexes(table: str, indexes: Iterable[str]) -> None:
    """Drop ``indexes`` from ``table`` by name, in batch mode; nothing when there are none."""
    names = list(indexes)
    if names:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in names:
                batch_op.drop_index(op.f(index))


#: The partial indexes' condition: queued jobs only.
QUEUED = sa.text("status = 'queued'")


def create_partial_index(name: str, table: str, columns: Sequence[str], where: sa.TextClause) -> None:
    """A plain index on the rows ``where`` holds, on PostgreSQL and SQLite alike."""
    op.create_index(name, table, list(columns), unique=False, postgresql_where=where, sqlite_where=where)


def add_columns(table: str, *columns: Column) -> None:
    """Add ``columns`` to ``table`` in batch mode (SQLite rebuilds the table where it must)."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    """Drop the columns ``names`` from ``table`` in batch mode, in the order given."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in names:
            batch_op.drop_column(name)
