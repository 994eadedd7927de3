"""Create-studio fixtures: the embedded stack with every provider reached through an in-process simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from create_support import CreateStack, Simulator
from support import Embedded, every_simulator, reload_settings, simulated_providers


@pytest.fixture
def create_stack(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[CreateStack]:
    import create_worker.main  # noqa: F401  (declares create.run_job on the session's stub broker)
    from imagestudio.config import get_settings

    for name, value in {
        "IMAGESTUDIO_PROVIDER_RETRY_BASE_SECONDS": "0.01",
        "IMAGESTUDIO_PROVIDER_MAX_WAIT_SECONDS": "1",
        "IMAGESTUDIO_PROVIDER_POLL_INTERVAL_SECONDS": "0.01",
        "IMAGESTUDIO_PROVIDER_TIMEOUT_SECONDS": "10",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()  # settings only: the engine and store stay the fixture's
    sims: dict[str, Simulator] = every_simulator()
    try:
        with simulated_providers(embedded, sims):
            yield CreateStack(embedded, embedded.new_key(), sims)
    finally:
        reload_settings()
