"""The declarative ``Base`` every table derives from, and the column helpers tables share.

A leaf: it imports no other ``imagestudio`` module, so a ``models.py`` can define tables without
pulling in the engine, the broker or a provider client. ``imagestudio.models`` imports every table;
``imagestudio.db`` owns the engine and sessions.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.types import TypeDecorator

#: Constraint names Alembic can rely on in both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


#: A row id: a new UUID's text, made on insert (``id: Mapped[UUIDKey]``).
UUIDKey = Annotated[str, mapped_column(String(36), primary_key=True, default=new_id)]

#: A row number counted up by the database, for append-only logs (``id: Mapped[SerialKey]``).
SerialKey = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]

#: The tenant owning a row: deleting the tenant deletes it (``tenant_id: Mapped[TenantRef]``;
#: ``= mapped_column(index=True)`` adds an index).
TenantRef = Annotated[str, mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp in both dialects (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for Core statements that skip the ORM (bulk inserts on hot paths)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
