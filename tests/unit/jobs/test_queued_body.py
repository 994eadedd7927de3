"""The 202 the event loop's submission renders from plain values is ``to_read``'s of the ``Job``, byte for byte."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from imagestudio.db import utcnow
from imagestudio.jobs.service import JobDraft, job_service
from imagestudio.messaging import Priority


def test_queued_body_is_to_reads_json_byte_for_byte() -> None:
    drafts = [
        JobDraft(
            studio="social",
            params={"formats": ["instagram.story"], "quality": 0.5, "note": 'é😀\u2028<&>"\\', "big": 10**20},
            inputs={"image": "t/k.jpg"},
            sizes={"image": (10, 20)},
            source_names={"image": 'pé😀".jpg'},
            start_deadline=utcnow() + timedelta(seconds=61),
            priority=Priority.high,
            output_retention_seconds=3600,
        ),
        JobDraft(studio="social", params={}, inputs={"image": "t/k.jpg"}),
    ]
    for draft in drafts:
        queued = job_service._queued("tenant", draft)
        for values in (queued, replace(queued, created_at=queued.created_at.replace(microsecond=0))):
            expected = job_service.to_read(None, [values.as_job()])[0].model_dump_json(by_alias=True)
            assert job_service.queued_body(values) == expected.encode()
