"""The SDK's Server-Sent Events decoder reads the gateway's frames, and skips its ``stream.closed``."""

from __future__ import annotations

from imagestudio_client._core import SSEDecoder
from imagestudio_client._models import JobEvent


def _decode(text: str) -> list[JobEvent]:
    decoder = SSEDecoder()
    return [event for line in text.splitlines(keepends=True) if (event := decoder.feed(line)) is not None]


def test_job_events_are_decoded_and_the_lifetime_close_is_skipped() -> None:
    stream = (
        "retry: 2000\n\n"
        ": heartbeat\n\n"
        'id: 7\nevent: job.running\ndata: {"id":7,"job_id":"j","type":"job.running",'
        '"created_at":"2026-01-01T00:00:00Z","data":{"status":"running"}}\n\n'
        'event: stream.closed\ndata: {"reason": "lifetime"}\n\n'
        'id: 8\nevent: job.succeeded\ndata: {"id":8,"job_id":"j","type":"job.succeeded",'
        '"created_at":"2026-01-01T00:00:01Z","data":{}}\n\n'
    )
    events = _decode(stream)
    assert [(e.id, e.type) for e in events] == [(7, "job.running"), (8, "job.succeeded")]
    assert events[-1].terminal and not events[0].terminal
