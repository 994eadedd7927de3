"""StabilityClient's control endpoints: the multipart it sends (0.0 strengths included) and the simulator's answers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from provider_support import CASES, Env, in_process, png

from imagestudio.errors import ProviderBadRequest, ProviderContentFiltered, ProviderRateLimited
from imagestudio.providers import ControlRequest, StabilityClient
from simulators import StabilitySimulator


@pytest.fixture
def stability() -> Iterator[Env]:
    environment = in_process(CASES["stability"], sim=StabilitySimulator())
    yield environment
    environment.client.close()


def _sent(request: ControlRequest) -> tuple[str, str]:
    seen: list[httpx.Request] = []

    def handler(sent: httpx.Request) -> httpx.Response:
        seen.append(sent)
        return httpx.Response(200, content=png(64, 64), headers={"finish-reason": "SUCCESS", "seed": "3"})

    client = StabilityClient(api_key="k", transport=httpx.MockTransport(handler))
    client.control(request)
    return seen[0].url.path, seen[0].read().decode("latin-1")


def test_a_zero_strength_is_sent_as_zero_not_left_to_the_default() -> None:
    path, body = _sent(ControlRequest(operation="sketch", image=png(), prompt="a boat", control_strength=0.0))
    assert path == "/v2beta/stable-image/control/sketch"
    assert 'name="control_strength"\r\n\r\n0.0' in body
    assert 'name="image"; filename="image"' in body


def test_style_transfer_sends_init_and_style_images_and_its_three_strengths() -> None:
    path, body = _sent(
        ControlRequest(
            operation="style-transfer",
            image=png(),
            style_image=png(80, 80),
            style_strength=0.0,
            composition_fidelity=0.25,
            change_strength=0.1,
        )
    )
    assert path == "/v2beta/stable-image/control/style-transfer"
    assert 'name="init_image"' in body and 'name="style_image"' in body
    for field, value in (
        ("style_strength", "0.0"),
        ("composition_fidelity", "0.25"),
        ("change_strength", "0.1"),
    ):
        assert f'name="{field}"\r\n\r\n{value}' in body
    assert 'name="control_strength"' not in body and 'name="prompt"' not in body


def test_style_sends_fidelity_and_aspect_ratio() -> None:
    _, body = _sent(
        ControlRequest(operation="style", image=png(), prompt="p", fidelity=0.0, aspect_ratio="3:2")
    )
    assert 'name="fidelity"\r\n\r\n0.0' in body and 'name="aspect_ratio"\r\n\r\n3:2' in body


def test_each_endpoint_answers_an_image_on_the_simulator(stability: Env) -> None:
    client = stability.client
    assert isinstance(client, StabilityClient)
    sketch = client.control(ControlRequest(operation="sketch", image=png(128, 96), prompt="a hut"))
    assert (sketch.width, sketch.height, sketch.model) == (128, 96, "control/sketch")
    style = client.control(
        ControlRequest(operation="style", image=png(), prompt="a hut", aspect_ratio="9:16")
    )
    assert (style.width, style.height) == (768, 1344)
    moved = client.control(ControlRequest(operation="style-transfer", image=png(100, 80), style_image=png()))
    assert (moved.width, moved.height) == (100, 80)
    structure = client.control(ControlRequest(operation="structure", image=png(), prompt="a hut"))
    assert structure.model == "control/structure"


def test_the_simulator_refuses_what_the_api_refuses(stability: Env) -> None:
    with pytest.raises(ProviderBadRequest, match="aspect ratio"):
        stability.client.control(ControlRequest(operation="sketch", image=png(700, 100), prompt="x"))  # type: ignore[attr-defined]
    with pytest.raises(ProviderBadRequest, match="change_strength"):
        stability.client.control(  # type: ignore[attr-defined]
            ControlRequest(operation="style-transfer", image=png(), style_image=png()).model_copy(
                update={"change_strength": 0.05}
            )
        )


def test_content_moderation_and_rate_limits_are_typed(stability: Env) -> None:
    sim = stability.sim
    sim.faults.push({"status": 403, "path": "/control/style"})
    with pytest.raises(ProviderContentFiltered):
        stability.client.control(ControlRequest(operation="style", image=png(), prompt="x"))  # type: ignore[attr-defined]
    sim.faults.push({"content_filter": True, "path": "/control/sketch"})
    with pytest.raises(ProviderContentFiltered, match="content moderation"):
        stability.client.control(ControlRequest(operation="sketch", image=png(), prompt="x"))  # type: ignore[attr-defined]
    sim.faults.push({"status": 429, "retry_after": 7, "path": "/control/sketch"})
    with pytest.raises(ProviderRateLimited) as limited:
        stability.client.control(ControlRequest(operation="sketch", image=png(), prompt="x"))  # type: ignore[attr-defined]
    assert limited.value.retry_after == 7


def test_a_request_without_what_the_operation_needs_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="style_image"):
        ControlRequest(operation="style-transfer", image=png())
    with pytest.raises(ValueError, match="prompt"):
        ControlRequest(operation="sketch", image=png())
