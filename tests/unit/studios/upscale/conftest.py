"""Upscale-studio fixtures: the same embedded stack and simulators as the edit tests (tests/unit/studios/edit/edit_support.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Embedded

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "edit"))  # the shared edit_support helpers

from edit_support import Studio, local_studio, studio, studio_stack  # noqa: E402

__all__ = ["local_studio", "one_thread_studio", "short_deadline_studio", "studio"]


@pytest.fixture
def short_deadline_studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """Simulators, and async results given up on after half a second."""
    yield from studio_stack(
        embedded, monkeypatch, providers=True, IMAGESTUDIO_ASYNC_POLL_DEADLINE_SECONDS="0.5"
    )


@pytest.fixture
def one_thread_studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """Simulators, and a worker with a single thread."""
    yield from studio_stack(embedded, monkeypatch, providers=True, threads=1)
