"""Gateway fixtures: the edit/upscale studio stack, and uploads named by id in JSON bodies."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Embedded

# the shared edit_support helpers
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "studios" / "edit"))

from edit_support import Studio, studio_stack  # noqa: E402
from image_url_support import serving_images  # noqa: E402
from upload_support import FakeUploads  # noqa: E402


@pytest.fixture
def studio(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """Edit and upscale workers, Stability and WaveSpeed reached through in-process SIMULATORS."""
    yield from studio_stack(embedded, monkeypatch, providers=True)


@pytest.fixture
def uploads(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> FakeUploads:
    """Upload ids for JSON bodies (see upload_support: a stand-in until POST /uploads lands)."""
    return FakeUploads.install(monkeypatch)


@pytest.fixture
def server() -> Iterator[str]:
    """The base URL of a loopback server answering ``ImageServer``'s paths (images given by URL)."""
    with serving_images() as base_url:
        yield base_url
