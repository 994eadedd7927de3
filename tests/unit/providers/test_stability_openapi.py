"""Our Stability client's requests and the Stability simulator's answers, held to Stability's v2beta OpenAPI
(docs/vendor/stability-v2beta-openapi.json), so client and simulator cannot agree on a mistake."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jsonschema
import pytest
from provider_support import png
from stability_contract import SPEC, validate_request, validate_response

from imagestudio.errors import ProviderContentFiltered, ProviderRateLimited
from imagestudio.providers import (
    ControlRequest,
    EditRequest,
    GenerationRequest,
    StabilityClient,
    UpscaleRequest,
)
from simulators import InProcessTransport, StabilitySimulator


class Contract(httpx.BaseTransport):
    """Checks every request against the document before the simulator sees it, and every answer after."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.checked: list[tuple[str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        validate_request(request)
        response = self.inner.handle_request(request)
        response.read()
        validate_response(request, response)
        self.checked.append((request.url.path, response.status_code))
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def checked() -> Iterator[tuple[StabilityClient, StabilitySimulator, Contract]]:
    sim = StabilitySimulator(in_progress_polls=1)
    contract = Contract(InProcessTransport(sim.app))
    client = StabilityClient(api_key=sim.api_key, base_url="http://stability.sim", transport=contract)
    yield client, sim, contract
    client.close()


def test_every_operation_we_call_is_in_the_document_and_both_sides_keep_to_it(
    checked: tuple[StabilityClient, StabilitySimulator, Contract],
) -> None:
    client, _, contract = checked
    image, mask = png(256, 256), png(256, 256, (255, 255, 255))
    for model in ("ultra", "core", "sd3.5-large", "sd3.5-flash"):
        client.generate(
            GenerationRequest(prompt="a fox", model=model, output_format="webp", style_preset="anime")
        )
    client.generate(GenerationRequest(prompt="a fox", model="sd3.5-medium", init_image=image, strength=0.4))
    client.generate(GenerationRequest(prompt="a fox", model="ultra", init_image=image, strength=0.0))
    client.edit(EditRequest(operation="erase", image=image, mask=mask, grow_mask=20))
    client.edit(EditRequest(operation="inpaint", image=image, mask=mask, prompt="tulips", grow_mask=5))
    client.edit(EditRequest(operation="outpaint", image=image, left=64, creativity=0.5))
    client.edit(EditRequest(operation="search-and-replace", image=image, prompt="a cat", search_prompt="dog"))
    client.edit(EditRequest(operation="search-and-recolor", image=image, prompt="red", select_prompt="car"))
    client.edit(EditRequest(operation="remove-background", image=image, output_format="webp"))
    relight = client.submit_edit(
        EditRequest(operation="replace-background-and-relight", image=image, prompt="dusk")
    )
    client.wait(relight, interval=0, deadline=5)
    client.upscale(UpscaleRequest(mode="fast", image=png(128, 128)))
    client.upscale(UpscaleRequest(mode="conservative", image=image, prompt="sharp", creativity=0.2))
    creative = client.submit_upscale(
        UpscaleRequest(mode="creative", image=image, prompt="sharp", creativity=0.3)
    )
    client.wait(creative, interval=0, deadline=5)
    for operation in ("sketch", "structure", "style"):
        client.control(ControlRequest(operation=operation, image=image, prompt="a boat"))  # type: ignore[arg-type]
    client.control(ControlRequest(operation="style-transfer", image=image, style_image=png(200, 200)))

    paths = {path for path, _ in contract.checked}
    documented = {path for path in SPEC["paths"] if path != "/v2beta/results/{id}"}
    assert documented <= paths  # every documented operation was exercised
    assert {status for _, status in contract.checked} == {200, 202}


def test_the_simulators_refusals_are_documented_answers(
    checked: tuple[StabilityClient, StabilitySimulator, Contract],
) -> None:
    client, sim, contract = checked
    sim.faults.push({"content_filter": True}, {"finish_reason": "CONTENT_FILTERED"})
    with pytest.raises(ProviderContentFiltered):
        client.generate(GenerationRequest(prompt="x"))
    [blurred] = client.generate(GenerationRequest(prompt="x"))
    assert blurred.content_filtered
    locked = StabilitySimulator(rate_limit=1)
    with StabilityClient(
        api_key=locked.api_key, base_url="http://s.sim", transport=Contract(InProcessTransport(locked.app))
    ) as tight:
        tight.generate(GenerationRequest(prompt="x"))
        with pytest.raises(ProviderRateLimited):
            tight.generate(GenerationRequest(prompt="x"))
    assert [status for _, status in contract.checked] == [403, 200]


@pytest.mark.parametrize(
    ("path", "fields", "words"),
    [
        # What the client sent before issue 26, now caught by the document itself.
        ("/v2beta/stable-image/edit/erase", {"grow_mask": "50"}, "50 is greater than the maximum of 20"),
        (
            "/v2beta/stable-image/upscale/conservative",
            {"prompt": "p", "creativity": "0.1"},
            "less than the minimum",
        ),
        ("/v2beta/stable-image/generate/sd3", {"prompt": "p", "model": "sd3-large"}, "is not one of"),
        ("/v2beta/stable-image/generate/core", {"prompt": "p", "cfg_scale": "3"}, "Additional properties"),
    ],
)
def test_the_document_refuses_what_the_vendor_refuses(path: str, fields: dict[str, str], words: str) -> None:
    files = {"image": ("i", png(), "image/png"), **{name: (None, value) for name, value in fields.items()}}
    request = httpx.Request("POST", f"https://api.stability.ai{path}", files=files)
    with pytest.raises(jsonschema.ValidationError, match=words):
        validate_request(request)
