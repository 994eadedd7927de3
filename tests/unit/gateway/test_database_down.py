"""A database restart mid-request is a 503 problem with Retry-After, never a 500.

Found by the chaos suite (docs/chaos.md): during ``pg_ctl restart`` submissions got 500
"Internal error" from the unhandled ``OperationalError``.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import OperationalError
from support import Embedded

from imagestudio.jobs.service import job_service

API = "/api/image-studio"


def test_a_dropped_database_connection_is_a_503_problem(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = embedded.new_key()

    def restarting(*args: Any, **kwargs: Any) -> None:
        orig = psycopg.OperationalError("connection failed: FATAL:  the database system is shutting down")
        raise OperationalError("SELECT 1", {}, orig)

    monkeypatch.setattr(job_service, "read", restarting)
    response = embedded.client.get(f"{API}/jobs/some-id", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "2"
    body = response.json()
    assert body["type"].endswith("/database-unavailable") and body["status"] == 503
    assert "shutting down" not in body["detail"]  # the cause is for the logs, not the client
