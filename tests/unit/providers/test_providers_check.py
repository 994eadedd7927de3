"""``imagestudio providers check`` against the simulators: served, refused and gone, one cheap call per model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest
from provider_support import CASES
from pydantic import SecretStr
from typer.testing import CliRunner

from imagestudio.cli import app
from imagestudio.providers.check import check_endpoints
from imagestudio.providers.directory import Endpoint, provider_directory
from imagestudio.providers.registry import models_for
from imagestudio.telemetry.metrics import PROVIDER_MODEL_GONE
from simulators import InProcessTransport

TODAY = date(2026, 12, 7)


@pytest.fixture
def fleet() -> Iterator[dict[str, tuple[object, Endpoint]]]:
    """Every simulator in-process, with the endpoint that reaches it."""
    made = {}
    for name, case in CASES.items():
        sim = case.make_simulator()
        endpoint = Endpoint(
            name,
            f"http://{name}.sim",
            SecretStr(sim.api_key),
            simulated=True,
            transport=InProcessTransport(sim.app),
        )
        made[name] = (sim, endpoint)
    yield made
    for _, endpoint in made.values():
        assert endpoint.transport is not None
        endpoint.transport.close()


def test_every_offered_model_is_served_by_its_simulator_with_one_call_each(
    fleet: dict[str, tuple[object, Endpoint]],
) -> None:
    results = check_endpoints([endpoint for _, endpoint in fleet.values()], timeout=10, today=TODAY)

    assert {(r.provider, r.model) for r in results} == {
        (name, info.model) for name in fleet for info in models_for(name, today=TODAY)
    }
    assert {r.status for r in results} == {"served"}, [r for r in results if r.status != "served"]
    for name, (sim, _) in fleet.items():
        assert sim.calls.count("") == len(models_for(name, today=TODAY))  # type: ignore[attr-defined]
    # Nothing was made (nothing billed): every POST probe was refused for what it lacked.
    stability = fleet["stability"][0]
    assert {c.status for c in stability.calls.entries()} == {400}  # type: ignore[attr-defined]


def test_a_withdrawn_model_is_gone_and_sets_the_metric(fleet: dict[str, tuple[object, Endpoint]]) -> None:
    wavespeed, endpoint = fleet["wavespeed"]
    wavespeed.harness.retire("ideogram-ai/ideogram-v3-turbo", status=410)  # type: ignore[attr-defined]
    gemini, gemini_endpoint = fleet["gemini"]
    gemini.harness.retire("gemini-3-pro-image", status=404)  # type: ignore[attr-defined]

    results = {(r.provider, r.model): r for r in check_endpoints([endpoint, gemini_endpoint], timeout=10)}

    assert results[("wavespeed", "ideogram-v3-turbo")].status == "gone"
    assert results[("wavespeed", "qwen-image")].status == "served"
    assert results[("gemini", "gemini-3-pro-image")].status == "gone"
    assert results[("gemini", "gemini-3.1-flash-image")].status == "served"
    assert PROVIDER_MODEL_GONE.labels("wavespeed", "ideogram-v3-turbo")._value.get() == 1  # type: ignore[attr-defined]
    assert PROVIDER_MODEL_GONE.labels("wavespeed", "qwen-image")._value.get() == 0  # type: ignore[attr-defined]


def test_a_wrong_key_is_refused_not_gone(fleet: dict[str, tuple[object, Endpoint]]) -> None:
    for name in ("stability", "gemini", "huggingface", "wavespeed"):
        _, endpoint = fleet[name]
        wrong = Endpoint(
            name, endpoint.base_url, SecretStr("wrong"), simulated=True, transport=endpoint.transport
        )
        statuses = {r.status for r in check_endpoints([wrong], timeout=10)}
        assert statuses == {"refused"}, name


def test_the_command_reports_each_model_and_fails_when_one_is_gone(
    fleet: dict[str, tuple[object, Endpoint]],
) -> None:
    sim, endpoint = fleet["huggingface"]
    provider_directory.use_simulators(
        {
            "huggingface": {
                "api_key": endpoint.api_key.get_secret_value(),
                "base_url": endpoint.base_url,
                "transport": endpoint.transport,
            }
        }  # fmt: skip
    )
    try:
        served = CliRunner().invoke(
            app, ["providers", "check", "--provider", "huggingface", "--json", "--no-mark"]
        )
        sim.harness.retire("fal-ai/flux/dev", status=410)  # type: ignore[attr-defined]
        gone = CliRunner().invoke(
            app, ["providers", "check", "--provider", "huggingface", "--json", "--no-mark"]
        )
    finally:
        provider_directory.clear_simulators()

    assert served.exit_code == 0, served.output
    lines = [json.loads(line) for line in served.output.splitlines() if line.startswith("{")]
    assert [(line["model"], line["status"], line["simulated"]) for line in lines] == [
        ("black-forest-labs/FLUX.1-schnell", "served", True),
        ("black-forest-labs/FLUX.1-dev", "served", True),
    ]
    assert gone.exit_code == 1
    statuses = {
        json.loads(line)["model"]: json.loads(line)["status"]
        for line in gone.output.splitlines()
        if line.startswith("{")
    }
    assert statuses["black-forest-labs/FLUX.1-dev"] == "gone"
