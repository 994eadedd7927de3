"""Upscale-studio fixtures: the same embedded stack and simulators as the edit tests (tests/unit/edit/edit_support.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Embedded

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "edit"))  # the shared edit_support helpers

from edit_support import Studio, studio_stack  # noqa: E402


@pytest.fixture
def studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """Stability reached through an in-process SIMULATOR."""
    yield from studio_stack(embedded, monkeypatch, providers=True)


@pytest.fixture
def local_studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """No provider configured: only the local paths can serve."""
    yield from studio_stack(embedded, monkeypatch, providers=False)


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
