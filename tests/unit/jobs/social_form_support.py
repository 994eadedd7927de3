"""Submitting a social job as a form through the embedded stack, and reading its answers (priority
and retention tests)."""

from __future__ import annotations

from datetime import datetime

from support import Embedded, post_social

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit_form(stack: Embedded, key: str, *, expect: int = 202, **fields: str) -> dict[str, object]:
    """POST /social/optimize with a small PNG and ``fields``; the answer's body (``expect`` its status)."""
    response = post_social(stack, key, **{"platforms": "youtube", **fields})
    assert response.status_code == expect, response.text
    body: dict[str, object] = response.json()
    return body


def moment(value: object) -> datetime:
    assert isinstance(value, str)
    return datetime.fromisoformat(value)
