"""Fixtures shared by every test (helpers live in support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Embedded, in_process_stack

import imagestudio.models  # noqa: F401  (every table registered, as the entry points do)


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Embedded]:
    """The embedded mode: SQLite, local folder, in-process broker."""
    yield from in_process_stack(tmp_path, monkeypatch)
