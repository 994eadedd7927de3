"""SQLite (embedded mode): reads never wait for the write lock, and no DNS lookup runs under it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from support import Embedded, accepted_id, post_social

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def writers_by_thread() -> Iterator[set[int]]:
    """The threads whose engine connection has a write (IMMEDIATE) transaction open, kept current."""
    from sqlalchemy import event

    from imagestudio.db import SQLITE_BEGIN_OPTION, get_engine

    engine = get_engine()
    open_writers: set[int] = set()

    def began(connection: Any) -> None:
        if connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE") == "IMMEDIATE":
            open_writers.add(threading.get_ident())

    def ended(connection: Any) -> None:
        open_writers.discard(threading.get_ident())

    event.listen(engine, "begin", began)
    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)
    try:
        yield open_writers
    finally:
        event.remove(engine, "begin", began)
        event.remove(engine, "commit", ended)
        event.remove(engine, "rollback", ended)


@contextmanager
def write_lock_held(stack: Embedded) -> Iterator[None]:
    """Another connection (a worker, say) holds the write lock while the block runs."""
    holder = sqlite3.connect(stack.data_dir / "imagestudio.db", timeout=30, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # waits its turn behind the gateway's own writers
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_job_reads_answer_while_another_connection_holds_the_write_lock(embedded: Embedded) -> None:
    key = embedded.new_key()
    job_id = accepted_id(post_social(embedded, key, platforms="youtube"))
    answers: dict[str, Any] = {}

    def read() -> None:
        answers["job"] = embedded.client.get(f"{API}/jobs/{job_id}", headers=auth(key))
        answers["page"] = embedded.client.get(f"{API}/jobs", headers=auth(key))

    with write_lock_held(embedded):
        reader = threading.Thread(target=read)
        reader.start()
        # Bounded, far below the 30 s busy timeout a read taking the write lock would wait.
        reader.join(timeout=20)
        waited = reader.is_alive()
    reader.join()
    assert not waited, "a read waited for the write lock"
    assert answers["job"].status_code == 200 and answers["job"].json()["id"] == job_id
    assert [j["id"] for j in answers["page"].json()["items"]] == [job_id]


@pytest.mark.parametrize(
    "path",
    ["/assets", "/personas", "/webhooks/endpoints", "/webhooks/deliveries"],
)
def test_other_reads_answer_while_another_connection_holds_the_write_lock(
    embedded: Embedded, path: str
) -> None:
    key = embedded.new_key()
    embedded.client.get(f"{API}{path}", headers=auth(key))  # warm: the key cached, the tenant's rows made
    answers: dict[str, Any] = {}

    def read() -> None:
        answers["page"] = embedded.client.get(f"{API}{path}", headers=auth(key))

    with write_lock_held(embedded):
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=20)  # bounded, far below the 30 s busy timeout
        waited = reader.is_alive()
    reader.join()
    assert not waited, f"GET {path} waited for the write lock"
    assert answers["page"].status_code == 200, answers["page"].text


def test_read_session_refuses_to_write(embedded: Embedded) -> None:
    from imagestudio.db import new_read_session
    from imagestudio.tenants.models import Tenant

    with new_read_session() as session, pytest.raises(RuntimeError, match="read session"):
        session.add(Tenant(name="x", tier="free"))
        session.flush()


def test_webhook_urls_are_resolved_before_the_write_lock_is_taken(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagestudio.egress import EgressGuard
    from imagestudio.webhooks.service import webhook_service

    key = embedded.new_key()
    looked_up: list[tuple[str, bool]] = []
    with writers_by_thread() as writers:

        def resolver(host: str, port: int) -> list[str]:
            # Whether the thread resolving (the request's) holds no write transaction meanwhile.
            looked_up.append((host, threading.get_ident() not in writers))
            return ["93.184.216.34"]  # a public address; nothing connects to it here

        monkeypatch.setattr(
            webhook_service.endpoints, "guard", lambda: EgressGuard(allow_loopback=False, resolver=resolver)
        )
        created = embedded.client.post(
            f"{API}/webhooks/endpoints", headers=auth(key), json={"url": "https://hooks.example/a"}
        )
        assert created.status_code == 201, created.text
        patched = embedded.client.patch(
            f"{API}/webhooks/endpoints/{created.json()['id']}",
            headers=auth(key),
            json={"url": "https://hooks.example/b"},
        )
        assert patched.status_code == 200, patched.text
        accepted_id(post_social(embedded, key, platforms="youtube", webhook_url="https://hooks.example/job"))
    assert looked_up == [("hooks.example", True)] * 3
