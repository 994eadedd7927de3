"""The SDK's uploads list, and a job's priority and output retention, sync and async, against a real
`imagestudio up` (its dev tenant is on the pro tier: every priority, retention up to 30 days)."""

from __future__ import annotations

import asyncio

import pytest
from sdk_service import Service

from imagestudio_client import AsyncImageStudio, ImageStudio, PermissionDeniedError, ValidationError


def test_uploads_list_and_a_jobs_priority_and_retention_through_the_sync_client(service: Service) -> None:
    with ImageStudio(service.url, service.key) as client:
        first = client.uploads.create(service.photo())
        second = client.uploads.create(service.photo())
        listed = [upload.id for upload in client.uploads.list(page_size=1)]  # one per page: the cursor pages
        assert listed.index(second.id) < listed.index(first.id) and len(listed) == len(set(listed))

        credits = client.credits.get()
        assert credits.priorities == ["low", "normal", "high"]
        assert credits.max_output_retention_seconds == 30 * 86_400
        job = client.social.optimize(
            first.id, formats=["linkedin.feed"], zip=False, priority="high", output_retention_seconds=3600
        )
        assert (job.priority, job.output_retention_seconds) == ("high", 3600)
        done = job.wait(timeout=120)
        assert done.status == "succeeded", done.error
        assert done.outputs_expire_at is not None and done.outputs_deleted_at is None

        with pytest.raises(PermissionDeniedError) as over:  # past the pro tier's 30 days
            client.social.optimize(first.id, formats=["linkedin.feed"], output_retention_seconds=31 * 86_400)
        assert over.value.field == "output_retention_seconds"
        with pytest.raises(ValidationError) as unknown:
            client.social.optimize(first.id, formats=["linkedin.feed"], priority="urgent")
        assert "priority" in str(unknown.value.problem)


def test_uploads_list_through_the_async_client(service: Service) -> None:
    async def run() -> tuple[str, list[str]]:
        async with AsyncImageStudio(service.url, service.key) as client:
            upload = await client.uploads.create(service.photo())
            return upload.id, [u.id async for u in client.uploads.list()]

    made, listed = asyncio.run(run())
    assert listed[0] == made
