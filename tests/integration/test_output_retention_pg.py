"""Output retention on PostgreSQL and S3: the one-statement submission stores the retention, the
job's succeeding sets when its outputs expire, and the sweeper deletes its rows and objects then."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from support import Embedded, make_image

from imagestudio.assets.models import Asset
from imagestudio.assets.sweeper import sweep_job_outputs
from imagestudio.db import session_scope
from imagestudio.storage import get_store

pytestmark = pytest.mark.integration

API = "/api/image-studio"


def test_outputs_past_their_retention_are_swept_on_postgres_and_s3(pg_stack: Embedded) -> None:
    key, _ = pg_stack.new_tenant(tier="pro")
    headers = {"Authorization": f"Bearer {key}"}
    response = pg_stack.client.post(
        f"{API}/social/optimize",
        headers=headers,
        files={"image": ("a.png", make_image(64, 48), "image/png")},
        data={"platforms": "youtube", "output_retention_seconds": "600"},
    )
    assert response.status_code == 202, response.text
    job_id = str(response.json()["id"])
    pg_stack.start_worker()
    pg_stack.drain()

    done = pg_stack.client.get(f"{API}/jobs/{job_id}", headers=headers).json()
    assert done["status"] == "succeeded" and done["outputs"], done
    assert done["output_retention_seconds"] == 600 and done["outputs_deleted_at"] is None
    expires = datetime.fromisoformat(done["outputs_expire_at"].replace("Z", "+00:00"))
    with session_scope() as session:
        keys = [a.key for a in session.query(Asset).filter(Asset.job_id == job_id)]
    assert keys and all(get_store().exists(k) for k in keys)

    # The database is shared with earlier tests of this worker: count this job's objects only.
    with session_scope() as session:  # not due yet: left alone
        sweep_job_outputs(session, now=expires - timedelta(seconds=1))
    assert all(get_store().exists(k) for k in keys)
    with session_scope() as session:
        assert sweep_job_outputs(session, now=expires + timedelta(seconds=1)) >= len(keys)
    assert not any(get_store().exists(k) for k in keys)
    gone = pg_stack.client.get(f"{API}/jobs/{job_id}", headers=headers).json()
    assert gone["outputs"] == [] and gone["outputs_deleted_at"] is not None
