"""Fixtures shared by every test (helpers live in support.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support import Embedded, in_process_stack

import imagestudio.models  # noqa: F401  (every table registered, as the entry points do)
from imagestudio.config import get_settings
from imagestudio.telemetry import tracing

#: Files that take minutes, started first under ``make test``'s ``--dist loadfile`` (with
#: ``--no-loadscope-reorder``): xdist's own order is by test count, which put the chaos run and the
#: memory phase (one test each, minutes each) last, where one worker ran them while the other idled.
#: Each worker takes two files at the start, so the order pairs them: chaos then the memory phase
#: on one worker (never both at once), the clients then the stack test on the other (by then the
#: background image build has had minutes; the stack test waits for it).
LONG_FILES = (
    "tests/chaos/test_chaos.py",
    "tests/integration/test_clients_distributed.py",
    "tests/chaos/test_memory_phase.py",
    "tests/stack/test_stack.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker: ``LONG_FILES`` first, then the other files by test count (xdist's order)."""
    if not hasattr(config, "workerinput"):
        return  # a run without workers keeps the collection order
    files = [item.nodeid.split("::", 1)[0] for item in items]
    counts = Counter(files)
    first = {path: files.index(path) for path in counts}
    rank = {path: i for i, path in enumerate(LONG_FILES)}
    order = {
        id(item): (rank.get(f, len(rank)), -counts[f], first[f]) for item, f in zip(items, files, strict=True)
    }
    items.sort(key=lambda item: order[id(item)])


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
