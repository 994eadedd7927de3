"""Edit-studio fixtures: the embedded stack with the edit/upscale workers, with or without simulated providers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from edit_support import Studio, studio_stack
from support import Embedded


@pytest.fixture
def studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """Stability and WaveSpeed reached through in-process SIMULATORS."""
    yield from studio_stack(embedded, monkeypatch, providers=True)


@pytest.fixture
def local_studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """No provider configured: only the local paths can serve."""
    yield from studio_stack(embedded, monkeypatch, providers=False)
