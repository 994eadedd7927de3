"""Control-studio fixtures: the same embedded stack and simulators as the edit tests (tests/unit/studios/edit/edit_support.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Embedded

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "edit"))  # the shared edit_support helpers

from edit_support import Studio, studio, studio_stack  # noqa: E402

__all__ = ["bare_studio", "studio"]


@pytest.fixture
def bare_studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """No provider configured: nothing can generate a control image."""
    yield from studio_stack(embedded, monkeypatch, providers=False)
