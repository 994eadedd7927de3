"""Webhook tests: receivers live on loopback, so the egress guard's loopback switch is on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import Embedded, reload_settings
from webhook_receiver import Receiver


@pytest.fixture
def hooks(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Embedded]:
    """The embedded stack with loopback receivers allowed and a millisecond retry schedule."""
    from imagestudio.config import get_settings

    monkeypatch.setenv("IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("IMAGESTUDIO_WEBHOOK_RETRY_SCHEDULE_SECONDS", "[0, 0.01, 0.01, 0.01, 0.01]")
    monkeypatch.setenv("IMAGESTUDIO_WEBHOOK_TIMEOUT_SECONDS", "5")
    get_settings.cache_clear()  # settings only: the engine and store stay the fixture's
    yield embedded
    reload_settings()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r
