"""``auto`` in try-out mode: a simulated provider gives way to a real local path (issue 28)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from imagestudio.studios.common.routes import ProviderStatus, Route, plan_routes

PROVIDER = Route(provider="stability", model="edit/remove-background", credits=5)
LOCAL = Route(provider="local", model="local/remove_background", credits=0)


def plan(
    *,
    simulated: bool = False,
    local: Route | None = LOCAL,
    status: Callable[[str], ProviderStatus] | None = None,
) -> tuple[list[Route], list[dict[str, str]]]:
    return plan_routes(
        path="auto",
        what="remove_background",
        provider=PROVIDER,
        local=local,
        provider_refusal=None,
        local_refusal=None,
        allowed={"stability"},
        status=status or (lambda name: ProviderStatus(configured=True, healthy=True, simulated=simulated)),
    )


def test_auto_skips_a_simulated_provider_when_the_local_path_can_serve() -> None:
    routes, skipped = plan(simulated=True)
    assert routes == [LOCAL]
    assert skipped[0]["provider"] == "stability" and "simulated" in skipped[0]["reason"]


def test_auto_keeps_a_real_provider_first_and_a_simulated_one_without_a_local_path() -> None:
    assert plan(simulated=False) == ([PROVIDER, LOCAL], [])
    assert plan(simulated=True, local=None) == ([PROVIDER], [])


def test_a_simulator_this_process_started_counts_as_simulated_before_it_first_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fresh try-out server: no call has reached the simulator yet, so no answer says what it is;
    the directory does, so the very first ``auto`` job takes the local path (issue 28)."""
    from imagestudio.providers.directory import ProviderDirectory
    from imagestudio.studios.common import routes

    directory = ProviderDirectory()
    directory.use_simulators({"stability": {"api_key": "sim", "base_url": "http://127.0.0.1:9"}})
    monkeypatch.setattr(routes, "provider_directory", directory)
    never_answered = ({"state": "closed"}, None)
    monkeypatch.setattr(routes, "provider_health", lambda: {"stability": never_answered})
    state = routes.provider_status("stability")
    assert state == ProviderStatus(configured=True, healthy=True, simulated=True)
    assert plan(status=routes.provider_status)[0] == [LOCAL]
