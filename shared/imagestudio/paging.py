"""Opaque keyset cursors (created_at, id) shared by every paged listing."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from imagestudio.errors import InvalidRequest


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created), str(row_id)
    except Exception as exc:
        raise InvalidRequest("cursor is not one this API returned") from exc
