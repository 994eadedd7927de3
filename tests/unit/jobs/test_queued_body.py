"""The 202 the event loop's submission renders without a ``JobRead`` is ``to_read``'s, byte for byte."""

from __future__ import annotations

from datetime import timedelta

from imagestudio.db import utcnow
from imagestudio.jobs.service import JobDraft, job_service
from imagestudio.messaging import Priority


def test_queued_body_is_to_reads_json_byte_for_byte() -> None:
    drafts = [
        JobDraft(
            studio="social",
            params={"formats": ["instagram.story"], "quality": 0.5, "note": "é😀\u2028<&>\"\\", "big": 10**20},
            inputs={"image": "t/k.jpg"},
            sizes={"image": (10, 20)},
            source_names={"image": "pé😀\".jpg"},
            start_deadline=utcnow() + timedelta(seconds=61),
            priority=Priority.high,
            output_retention_seconds=3600,
        ),
        JobDraft(studio="social", params={}, inputs={"image": "t/k.jpg"}),
    ]
    for draft in drafts:
        job = job_service._new_job("tenant", draft)
        expected = job_service.to_read(None, [job])[0].model_dump_json(by_alias=True).encode()
        assert job_service.queued_body(job) == expected
        job.created_at = job.updated_at = job.created_at.replace(microsecond=0)  # no fraction printed
        expected = job_service.to_read(None, [job])[0].model_dump_json(by_alias=True).encode()
        assert job_service.queued_body(job) == expected
