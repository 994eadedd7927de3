"""Opaque keyset cursors (created_at, id), the keyset query and page, and date-time filters shared
by every paged listing (jobs, assets, webhook deliveries): newest first, ``limit + 1`` rows read to
know whether another page follows."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from imagestudio.errors import InvalidRequest


def as_utc(value: datetime) -> datetime:
    """A client's date-time in UTC; one without an offset is read as UTC (it cannot mean local time).

    A value whose offset moves it past year 1 or 9999 (``0001-01-01T00:00+01:00``) is a ValueError,
    which validation reports against its field, not an OverflowError (a 500).
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("date-time is out of range once moved to UTC") from exc


#: A date-time a client sends (query filters): ISO 8601, naive values read as UTC.
UTCDatetime = Annotated[datetime, AfterValidator(as_utc)]


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """A page of a newest-first listing; ``next_cursor`` is null on the last page.

    Each listing names its own subclass (``JobPage(Page[JobRead])``), so OpenAPI shows one schema
    per listing under that name, with :func:`page_example` as its example.
    """

    items: list[ItemT]
    next_cursor: str | None = None


def page_example(item: dict[str, Any]) -> dict[str, Any]:
    """The ``json_schema_extra`` of a page model: one page holding ``item``, the last."""
    return {"examples": [{"items": [item], "next_cursor": None}]}


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return as_utc(datetime.fromisoformat(created)), str(row_id)
    except Exception as exc:
        raise InvalidRequest("cursor is not one this API returned") from exc


class Keyed(Protocol):
    """A row a listing pages through: its keyset is (created_at, id)."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


RowT = TypeVar("RowT", bound=Keyed)
SelectT = TypeVar("SelectT", bound=Select[Any])


def newest_first(
    stmt: SelectT,
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[str],
    before: tuple[datetime, str] | None,
    limit: int,
) -> SelectT:
    """``stmt`` newest first, from just past the keyset ``before`` (a decoded cursor), ``limit`` rows."""
    if before:
        created, last_id = before
        stmt = stmt.where(or_(created_at < created, and_(created_at == created, row_id < last_id)))
    return stmt.order_by(created_at.desc(), row_id.desc()).limit(limit)


def page_of(rows: Sequence[RowT], limit: int) -> tuple[Sequence[RowT], str | None]:
    """The page of ``limit + 1`` rows read: its first ``limit``, and the cursor of the next (None: none follows)."""
    page = rows[:limit]
    more = len(rows) > limit and bool(page)
    return page, encode_cursor(page[-1].created_at, page[-1].id) if more else None


def read_page(
    read: Callable[[int, tuple[datetime, str] | None], Sequence[RowT]], *, limit: int, cursor: str | None
) -> tuple[Sequence[RowT], str | None]:
    """One page of a newest-first listing: ``read(limit + 1, before)`` from just past ``cursor``
    (``newest_first`` takes both), cut by :func:`page_of`."""
    return page_of(read(limit + 1, decode_cursor(cursor) if cursor else None), limit)
