"""The gateway freezes what its startup built (the collector stops re-scanning it) and thaws it
when it stops."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient
from support import Embedded

from gateway.app import create_app


def test_startup_objects_are_frozen_while_the_gateway_runs(embedded: Embedded) -> None:
    gc.unfreeze()
    with TestClient(create_app()):
        assert gc.get_freeze_count() > 10_000  # every module, route and schema built so far
    assert gc.get_freeze_count() == 0
