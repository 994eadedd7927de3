"""Nothing free on PostgreSQL and S3: an output racing a cancel ends withdrawn, never free."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select, text
from support import Embedded, submit_social_job, wait_for

from imagestudio.assets.models import Asset
from imagestudio.assets.service import asset_service
from imagestudio.credits.models import CreditEntry, EntryKind
from imagestudio.db import session_scope
from imagestudio.jobs.runner import JobContext
from imagestudio.jobs.service import job_service
from imagestudio.storage import get_store, output_key

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def test_output_recorded_while_a_cancel_waits_is_withdrawn_by_it(
    pg_stack: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, tenant_id = pg_stack.new_tenant()
    job_id = submit_social_job(tenant_id, cost=2)
    with session_scope() as session:
        claimed = job_service.claim_lease(session, job_id=job_id, owner="test-host:1:run").job
        assert claimed is not None
        ctx = JobContext.for_job(claimed, lease_owner="test-host:1:run")

    recorded, commit = threading.Event(), threading.Event()
    record = asset_service.record_output

    def record_then_wait(*args: Any, **kwargs: Any) -> Any:
        asset = record(*args, **kwargs)
        recorded.set()
        commit.wait(30)  # the worker's transaction stays open while the cancel arrives
        return asset

    monkeypatch.setattr(asset_service, "record_output", record_then_wait)
    writer = threading.Thread(
        target=ctx.add_output,
        args=("image-1", b"pixels"),
        kwargs={"ext": "txt", "content_type": "text/plain", "format": "txt", "metadata": {"credits": 2}},
    )
    writer.start()
    assert recorded.wait(30)
    answers: list[int] = []
    canceller = threading.Thread(
        target=lambda: answers.append(
            pg_stack.client.post(
                f"{API}/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {key}"}
            ).status_code
        )
    )
    canceller.start()

    def cancel_waits_on_the_job_row() -> bool:
        with session_scope() as session:
            waiting = session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        return bool(waiting)

    wait_for(cancel_waits_on_the_job_row, what="the cancel to wait on the worker's row lock")
    commit.set()
    writer.join(30)
    canceller.join(30)
    assert answers == [200]
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Asset).where(Asset.job_id == job_id)) == 0
        captures = session.scalar(
            select(func.count())
            .select_from(CreditEntry)
            .where(CreditEntry.job_id == job_id, CreditEntry.kind == EntryKind.capture)
        )
        assert captures == 0
    assert not get_store().exists(output_key(tenant_id, job_id, "image-1", "txt"))
