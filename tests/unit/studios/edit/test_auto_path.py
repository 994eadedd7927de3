"""``auto`` in try-out mode: a simulated provider gives way to a real local path (issue 28)."""

from __future__ import annotations

from collections.abc import Callable

from support import Embedded

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


def test_a_simulator_imagestudio_up_starts_counts_as_simulated_before_it_first_answers(
    embedded: Embedded,
) -> None:
    """A fresh try-out server: no call has reached a simulator yet, but ``imagestudio up`` records
    what it started, so the very first ``auto`` job takes the local path (issue 28)."""
    from imagestudio.cli.run import _start_provider_simulators
    from imagestudio.config import get_settings
    from imagestudio.providers.directory import provider_directory
    from imagestudio.providers.health import provider_health
    from imagestudio.studios.common.routes import provider_status

    assert provider_health()["stability"][1] is None  # nothing answered yet
    running, _lines = _start_provider_simulators(get_settings())
    try:
        assert provider_status("stability").simulated is True
        assert plan(status=provider_status)[0] == [LOCAL]
    finally:
        for handle in running:
            handle.stop()
        provider_directory.clear_simulators()
