"""The SDK over a faulty network: a dropped event stream, a lost answer, a 429, an expired link."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sdk_service import Service

from imagestudio_client import DownloadError, ImageStudio, JobProgress


class _CutAfterFirstEvent(httpx.SyncByteStream):
    """An event stream that breaks, like a dropped connection, right after its first event."""

    def __init__(self, inner: httpx.SyncByteStream) -> None:
        self.inner = inner

    def __iter__(self) -> Iterator[bytes]:
        buffer = b""
        for chunk in self.inner:
            buffer += chunk
            start = buffer.find(b"id: ")
            end = buffer.find(b"\n\n", start) if start >= 0 else -1
            if end >= 0:
                yield buffer[: end + 2]
                self.inner.close()
                raise httpx.RemoteProtocolError("peer closed connection (cut by the test)")
        yield buffer

    def close(self) -> None:
        self.inner.close()


class FaultyNetwork(httpx.BaseTransport):
    """The real network, with the faults a test arms; it records what the SDK sent."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []
        self.cut_streams = 0  # event streams to break after their first event
        self.refuse_streams = False  # answer 503 to every event stream
        self.lose_submissions: list[str] = []  # "429" or "drop": what replaces the next answers
        self.swallowed: list[dict[str, object]] = []  # the answers the client never saw

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        if request.url.path.endswith("/events") and self.refuse_streams:
            return httpx.Response(503, json={"status": 503, "title": "Service unavailable"})
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/events") and self.cut_streams:
            self.cut_streams -= 1
            assert isinstance(response.stream, httpx.SyncByteStream)
            return httpx.Response(
                response.status_code, headers=response.headers, stream=_CutAfterFirstEvent(response.stream)
            )
        if request.method == "POST" and "Idempotency-Key" in request.headers and self.lose_submissions:
            fault = self.lose_submissions.pop(0)
            response.read()
            self.swallowed.append(json.loads(response.content))  # the server made the job...
            if fault == "drop":  # ...and the connection died before the answer arrived
                raise httpx.ReadError("connection reset (by the test)")
            return httpx.Response(
                429, headers={"Retry-After": "0"}, json={"status": 429, "title": "Too many"}
            )
        return response

    def events_requests(self) -> list[httpx.Request]:
        return [r for r in self.sent if r.url.path.endswith("/events")]


def test_stream_resumes_after_a_dropped_connection_with_last_event_id(service: Service) -> None:
    network = FaultyNetwork()
    with ImageStudio(service.url, service.key, transport=network) as client:
        job = client.social.optimize(service.photo(), formats=["instagram.story", "x.header"])
        network.cut_streams = 1
        events = list(client.jobs.stream(job.id))
    ids = [event.id for event in events]
    assert ids == sorted(set(ids)), "no event lost order or came twice"
    assert events[0].type == "job.queued" and events[-1].type == "job.succeeded"
    first, second = network.events_requests()
    assert "Last-Event-ID" not in first.headers
    assert second.headers["Last-Event-ID"] == str(events[0].id)


def test_wait_follows_a_dropped_event_stream_to_the_end(service: Service) -> None:
    network = FaultyNetwork()
    with ImageStudio(service.url, service.key, transport=network) as client:
        job = client.social.optimize(service.photo(), formats=["instagram.story"])
        network.cut_streams = 1
        seen: list[JobProgress] = []
        done = job.wait(timeout=120, on_progress=seen.append)
    assert done.status == "succeeded"
    assert len(network.events_requests()) == 2
    assert [p.status for p in seen][-1] == "succeeded"


def test_wait_falls_back_to_polling_when_the_stream_is_refused(service: Service) -> None:
    network = FaultyNetwork()
    network.refuse_streams = True
    with ImageStudio(service.url, service.key, transport=network) as client:
        job = client.social.optimize(service.photo(), formats=["instagram.story"])
        assert job.wait(timeout=120).status == "succeeded"
    polls = [r for r in network.sent if r.method == "GET" and r.url.path.endswith(f"/jobs/{job.id}")]
    assert polls, "the job was polled"


@pytest.mark.parametrize("fault", ["429", "drop"])
def test_a_retried_submission_makes_one_job(service: Service, fault: str) -> None:
    network = FaultyNetwork()
    with ImageStudio(service.url, service.key, transport=network) as client:
        upload = client.uploads.create(service.photo())
        before = {job.id for job in client.jobs.list(studio="upscale")}
        network.lose_submissions = [fault]
        job = client.upscale(upload.id, mode="fast", path="local")
        after = {job.id for job in client.jobs.list(studio="upscale")}
    submissions = [r for r in network.sent if r.url.path.endswith("/upscale")]
    assert len(submissions) == 2
    keys = {r.headers["Idempotency-Key"] for r in submissions}
    assert len(keys) == 1, "the retry carries the first try's key"
    assert job.id == network.swallowed[0]["id"], "the retry answers with the job the lost answer made"
    assert after - before == {job.id}, "exactly one job was made"


def test_download_refreshes_expired_links_and_checks_sizes(service: Service, tmp_path: Path) -> None:
    network = FaultyNetwork()
    with ImageStudio(service.url, service.key, transport=network) as client:
        job = client.social.optimize(service.photo(), formats=["instagram.story", "x.header"]).wait(
            timeout=120
        )
        assert job.status == "succeeded"
        past = datetime.now(UTC) - timedelta(minutes=1)
        stale = job.model_copy(
            update={
                "outputs": [
                    # One link known to be expired; the others look valid but the store refuses them.
                    o.model_copy(
                        update={"url": o.url.replace("signature=", "signature=0"), "expires_at": past}
                    )
                    if i == 0
                    else o.model_copy(update={"url": o.url.replace("signature=", "signature=0")})
                    for i, o in enumerate(job.outputs)
                ]
            }
        )
        network.sent.clear()
        progress: list[int] = []
        files = client.jobs.download(stale, tmp_path, on_progress=lambda p: progress.append(p.done_bytes))
        assert [p.name for p in files] == [o.local_name for o in job.outputs]
        assert [p.stat().st_size for p in files] == [o.bytes for o in job.outputs]
        assert Image.open(tmp_path / "instagram.story.jpg").size == (1080, 1920)
        assert progress[-1] == sum(o.bytes for o in job.outputs)
        refreshes = [r for r in network.sent if r.url.path.endswith(f"/jobs/{job.id}")]
        assert len(refreshes) == 1, "one refresh served every stale link"

        short = job.model_copy(update={"outputs": [job.outputs[0].model_copy(update={"bytes": 1})]})
        with pytest.raises(DownloadError, match="bytes"):
            client.jobs.download(short, tmp_path / "short")
        assert not list((tmp_path / "short").iterdir()), "no partial file is left"
