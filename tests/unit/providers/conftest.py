"""Fixtures for the provider clients: simulators in-process (no socket) or on loopback uvicorn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from provider_support import CASES, Env, Simulator, serving

from simulators import run_in_thread
from simulators.server import RunningSimulator


@pytest.fixture(params=list(CASES))
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    """Each provider's client against its in-process simulator."""
    yield from serving(CASES[request.param])


@pytest.fixture(scope="session")
def loopback() -> Iterator[dict[str, tuple[Simulator, RunningSimulator]]]:
    """Every simulator served by uvicorn on 127.0.0.1 (one each for the whole session)."""
    started: dict[str, tuple[Simulator, RunningSimulator]] = {}
    try:
        for name, case in CASES.items():
            sim = case.make_simulator()
            started[name] = (sim, run_in_thread(sim.app))
        yield started
    finally:
        for _, running in started.values():
            running.stop()


@pytest.fixture
def loopback_env(
    request: pytest.FixtureRequest, loopback: dict[str, tuple[Simulator, RunningSimulator]]
) -> Iterator[Env]:
    """A client to one loopback simulator (parametrise indirectly with the provider name)."""
    case = CASES[request.param]
    sim, running = loopback[case.name]
    sim.faults.clear()
    client = case.client_class(api_key=sim.api_key, base_url=running.base_url, timeout=10.0)
    yield Env(case, sim, client)
    client.close()
    sim.faults.clear()
