"""Gateway fixtures: the edit/upscale studio stack, and uploads named by id in JSON bodies."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from support import Embedded

# the shared edit_support helpers
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "studios" / "edit"))

from edit_support import Studio, studio_stack  # noqa: E402
from image_url_support import ImageServer  # noqa: E402
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
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ImageServer)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
