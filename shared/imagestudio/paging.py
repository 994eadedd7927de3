"""Opaque keyset cursors (created_at, id) and date-time filters shared by every paged listing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

from imagestudio.errors import InvalidRequest


def as_utc(value: datetime) -> datetime:
    """A client's date-time in UTC; one without an offset is read as UTC (it cannot mean local time)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
