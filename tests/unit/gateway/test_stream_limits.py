"""Open event streams and ``Prefer: wait`` requests are capped per tenant, and streams end in time.

No worker runs (and the ASGI transport starts no outbox relay), so a submitted job stays queued:
a stream on it never ends by itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message
from support import Embedded, make_image, use_settings

from gateway.app import create_app
from gateway.stream_slots import TenantSlots
from imagestudio.config import get_settings
from imagestudio.errors import StreamsLimited

API = "/api/image-studio"
#: Lifetime of a stream in these tests, in seconds: long enough to see it held, short to end.
LIFETIME = 2.0


@pytest.fixture
def app(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("IMAGESTUDIO_MAX_EVENT_STREAMS_PER_TENANT", "1")
    monkeypatch.setenv("IMAGESTUDIO_MAX_WAITS_PER_TENANT", "1")
    monkeypatch.setenv("IMAGESTUDIO_MAX_STREAM_SECONDS", str(LIFETIME))
    get_settings.cache_clear()
    return create_app()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def submit(http: httpx.AsyncClient, key: str, **headers: str) -> httpx.Response:
    return await http.post(
        f"{API}/social/optimize",
        headers={**auth(key), **headers},
        files={"image": ("a.png", make_image(64, 48), "image/png")},
        data={"formats": "instagram.feed_square"},
    )


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Wait on state inside the event loop, bounded."""
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def held(app: FastAPI, name: str, tenant_id: str) -> int:
    slots: TenantSlots | None = getattr(app.state, name, None)
    return 0 if slots is None else slots.held(tenant_id)


@pytest.fixture
def tenant(embedded: Embedded) -> tuple[str, str]:
    """A new tenant's key and id."""
    from imagestudio.db import session_scope
    from imagestudio.tenants.service import tenant_service

    key = embedded.new_key()
    with session_scope() as session:
        return key, tenant_service.authenticate(session, key=key).tenant_id


def run(app: FastAPI, go: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    """``go`` with a client of ``app``, in an event loop of its own."""

    async def main() -> None:
        async with client(app) as http:
            await go(http)

    asyncio.run(main())


async def open_stream(
    app: FastAPI, http: httpx.AsyncClient, key: str, tenant_id: str
) -> tuple[str, asyncio.Task[httpx.Response]]:
    """A new job's event stream, once it holds the tenant's slot: the events URL and the stream's task."""
    job = (await submit(http, key)).json()
    events = f"{API}/jobs/{job['id']}/events"
    stream = asyncio.create_task(http.get(events, headers=auth(key)))
    await until(lambda: held(app, "event_stream_slots", tenant_id) == 1, "the stream to be open")
    return events, stream


async def hold_a_wait(
    app: FastAPI, http: httpx.AsyncClient, key: str, tenant_id: str, seconds: int
) -> asyncio.Task[httpx.Response]:
    """A submission waiting up to ``seconds`` for its job (``Prefer: wait``), once it holds the tenant's slot."""
    waiting = asyncio.create_task(submit(http, key, Prefer=f"wait={seconds}"))
    await until(lambda: held(app, "wait_slots", tenant_id) == 1, "the wait to be held")
    return waiting


def frames(text: str) -> list[dict[str, str]]:
    parsed = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if fields:
            parsed.append(fields)
    return parsed


def test_slots_count_per_tenant_refuse_past_the_cap_and_release_once() -> None:
    slots = TenantSlots(policy="event-streams", what="event streams")
    first = slots.acquire("t1", allowed=2)
    slots.acquire("t1", allowed=2)
    with pytest.raises(StreamsLimited) as refused:
        slots.acquire("t1", allowed=2)
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "5"
    assert refused.value.headers["RateLimit-Policy"] == '"event-streams";q=2;qu="concurrent-requests"'
    assert slots.acquire("t2", allowed=2).tenant_id == "t2"  # another tenant has its own count
    first.release()
    first.release()  # twice is once
    assert slots.held("t1") == 1
    slots.acquire("t1", allowed=2)
    assert slots.held("t1") == 2


def test_a_stream_on_a_job_that_never_ends_closes_with_the_reason_and_frees_its_slot(
    app: FastAPI, embedded: Embedded, tenant: tuple[str, str]
) -> None:
    key, tenant_id = tenant

    async def go(http: httpx.AsyncClient) -> None:
        events, first = await open_stream(app, http, key, tenant_id)
        refused = await http.get(events, headers=auth(key))
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["Retry-After"] == "5"
        assert refused.json()["limit"] == "event-streams"
        other = embedded.new_key("other")
        # Another tenant is not held by this one's streams (its own stream ends with the lifetime).
        assert (await http.get(events, headers=auth(other))).status_code == 404
        streamed = await first
        assert streamed.status_code == 200
        last = frames(streamed.text)[-1]
        assert last["event"] == "stream.closed" and json.loads(last["data"]) == {"reason": "lifetime"}
        assert "id" not in last  # Last-Event-ID stays on the last real event
        assert held(app, "event_stream_slots", tenant_id) == 0
        again = await http.get(events, headers=auth(key))  # the slot came back
        assert again.status_code == 200

    run(app, go)


def test_a_client_hanging_up_frees_its_stream_slot(
    app: FastAPI, tenant: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_settings(monkeypatch, IMAGESTUDIO_MAX_STREAM_SECONDS="3600")
    key, tenant_id = tenant

    async def go(http: httpx.AsyncClient) -> None:
        job = (await submit(http, key)).json()
        sent: list[Message] = []
        first_body = asyncio.Event()
        request_sent = False

        async def receive() -> Message:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await first_body.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and message.get("body"):
                first_body.set()

        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"{API}/jobs/{job['id']}/events",
            "raw_path": f"{API}/jobs/{job['id']}/events".encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {key}".encode())],
            "client": ("127.0.0.1", 1234),
            "server": ("testserver", 80),
        }
        call: Awaitable[None] = app(scope, receive, send)
        await asyncio.wait_for(call, 30)
        assert sent[0]["status"] == 200
        assert held(app, "event_stream_slots", tenant_id) == 0

    run(app, go)


def test_prefer_wait_past_the_cap_is_429_before_a_job_is_made_and_the_slot_comes_back(
    app: FastAPI, tenant: tuple[str, str]
) -> None:
    key, tenant_id = tenant

    async def go(http: httpx.AsyncClient) -> None:
        waiting = await hold_a_wait(app, http, key, tenant_id, 2)
        refused = await submit(http, key, Prefer="wait=2")
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == "5" and refused.json()["limit"] == "waits"
        without_wait = await submit(http, key)  # not waiting: not capped
        assert without_wait.status_code == 202
        answered = await waiting
        assert answered.status_code == 202  # the job stayed queued through the wait
        assert held(app, "wait_slots", tenant_id) == 0
        jobs = (await http.get(f"{API}/jobs", headers=auth(key))).json()["items"]
        assert len(jobs) == 2  # the refused request made no job

    run(app, go)


def revoke_elsewhere(key: str) -> None:
    """What `imagestudio keys revoke` does from its own process: the row only, no cache here cleared."""
    from sqlalchemy import update

    from imagestudio.db import session_scope, utcnow
    from imagestudio.tenants.models import ApiKey
    from imagestudio.tenants.service import hash_key

    with session_scope() as session:
        session.execute(update(ApiKey).where(ApiKey.key_hash == hash_key(key)).values(revoked_at=utcnow()))


@pytest.fixture
def rechecking(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """Streams that would stay open an hour; keys re-checked every 0.1 s, cached 0.5 s."""
    use_settings(
        monkeypatch,
        IMAGESTUDIO_MAX_STREAM_SECONDS="3600",
        IMAGESTUDIO_STREAM_KEY_CHECK_SECONDS="0.1",
        IMAGESTUDIO_AUTH_CACHE_SECONDS="0.5",
    )
    return app


def test_a_stream_ends_when_its_key_is_revoked(rechecking: FastAPI, tenant: tuple[str, str]) -> None:
    key, tenant_id = tenant

    async def go(http: httpx.AsyncClient) -> None:
        events, stream = await open_stream(rechecking, http, key, tenant_id)
        revoke_elsewhere(key)
        streamed = await asyncio.wait_for(stream, 30)  # not the hour the stream may last
        assert streamed.status_code == 200
        last = frames(streamed.text)[-1]
        assert last["event"] == "stream.closed"
        assert json.loads(last["data"]) == {"reason": "unauthorized"}
        assert held(rechecking, "event_stream_slots", tenant_id) == 0
        assert (await http.get(events, headers=auth(key))).status_code == 401

    run(rechecking, go)


def test_a_prefer_wait_answers_401_when_its_key_is_revoked(
    rechecking: FastAPI, tenant: tuple[str, str]
) -> None:
    key, tenant_id = tenant

    async def go(http: httpx.AsyncClient) -> None:
        waiting = await hold_a_wait(rechecking, http, key, tenant_id, 60)
        revoke_elsewhere(key)
        answered = await asyncio.wait_for(waiting, 30)  # not the 60 s asked for
        assert answered.status_code == 401, answered.text
        assert answered.headers["content-type"] == "application/problem+json"
        assert held(rechecking, "wait_slots", tenant_id) == 0

    run(rechecking, go)
