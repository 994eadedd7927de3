"""Opaque keyset cursors (created_at, id) and date-time filters shared by every paged listing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

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


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return as_utc(datetime.fromisoformat(created)), str(row_id)
    except Exception as exc:
        raise InvalidRequest("cursor is not one this API returned") from exc
