"""Fixtures shared by every test (helpers live in support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support import Embedded, in_process_stack

import imagestudio.models  # noqa: F401  (every table registered, as the entry points do)
from imagestudio.config import get_settings
from imagestudio.telemetry import tracing


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Embedded]:
    """The embedded mode: SQLite, local folder, in-process broker."""
    yield from in_process_stack(tmp_path, monkeypatch)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into an in-memory exporter; request it before ``embedded`` so the app is
    instrumented."""
    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing(get_settings(), service_name="test", exporter=exporter) is not None
    try:
        yield exporter
    finally:
        tracing.shutdown_tracing()
