"""Fixtures shared by every test (helpers live in support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import Embedded, reload_settings, stub_broker


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Embedded]:
    from imagestudio.broker import use_broker
    from imagestudio.migrate import upgrade

    broker = stub_broker()
    monkeypatch.setenv("IMAGESTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IMAGESTUDIO_BROKER_URL", "memory://")
    monkeypatch.setenv("IMAGESTUDIO_STORAGE_BACKEND", "local")
    monkeypatch.setenv("IMAGESTUDIO_OUTBOX_POLL_SECONDS", "0.05")
    monkeypatch.setenv("IMAGESTUDIO_PUBLIC_URL", "http://testserver")
    monkeypatch.delenv("IMAGESTUDIO_DATABASE_URL", raising=False)
    reload_settings()
    use_broker(broker)
    broker.flush_all()
    upgrade()
    from gateway.app import create_app

    with TestClient(create_app()) as client:
        stack = Embedded(client, broker, tmp_path / "data")
        try:
            yield stack
        finally:
            if stack.worker is not None:
                stack.worker.stop()
    broker.flush_all()
    reload_settings()
