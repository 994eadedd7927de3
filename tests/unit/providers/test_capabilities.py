"""Each client meets the capability protocols of what it can do, and only those; the quality table is one."""

from __future__ import annotations

import pytest

from imagestudio.errors import ProviderBadRequest
from imagestudio.providers import GeminiClient, HuggingFaceClient, StabilityClient, WaveSpeedClient
from imagestudio.providers.protocols import (
    Editor,
    GenerationSubmitter,
    ImageProvider,
    PollingProvider,
    PromptEditor,
    Upscaler,
    as_editor,
    as_poller,
    as_upscaler,
)
from imagestudio.providers.registry import QUALITY_MODELS, QUALITY_ROWS, QUALITY_TABLE


def _clients() -> dict[str, object]:
    options = {"api_key": "k", "base_url": "http://127.0.0.1:9"}
    return {
        "stability": StabilityClient(**options),
        "wavespeed": WaveSpeedClient(**options),
        "huggingface": HuggingFaceClient(**options),
        "gemini": GeminiClient(**options),
    }


def test_clients_meet_exactly_their_capabilities() -> None:
    clients = _clients()
    expected = {
        "stability": {ImageProvider, Editor, Upscaler, PollingProvider, PromptEditor},
        # A runtime check sees method names only: WaveSpeed's edit/submit_edit (GeneralEditRequest) read
        # as an Editor too; mypy tells the request types apart, and the route names the provider.
        "wavespeed": {ImageProvider, GenerationSubmitter, Editor, PromptEditor, PollingProvider},
        "huggingface": {ImageProvider},
        "gemini": {ImageProvider},
    }
    protocols = (ImageProvider, GenerationSubmitter, Editor, PromptEditor, Upscaler, PollingProvider)
    for name, client in clients.items():
        assert {p for p in protocols if isinstance(client, p)} == expected[name], name


def test_a_client_without_a_capability_is_refused_naming_it() -> None:
    clients = _clients()
    with pytest.raises(ProviderBadRequest, match="wavespeed cannot upscale"):
        as_upscaler(clients["wavespeed"])
    with pytest.raises(ProviderBadRequest, match="gemini cannot edit"):
        as_editor(clients["gemini"])
    with pytest.raises(ProviderBadRequest, match="huggingface cannot poll"):
        as_poller(clients["huggingface"])
    assert as_upscaler(clients["stability"]) is clients["stability"]


def test_quality_table_and_preferences_are_views_of_one_table() -> None:
    for level, rows in QUALITY_ROWS.items():
        assert QUALITY_MODELS[level] == tuple((provider, choice.model) for provider, choice in rows)
        for provider, choice in QUALITY_TABLE[level].items():
            assert choice == next(c for p, c in rows if p == provider)
        assert set(QUALITY_TABLE[level]) == {provider for provider, _ in rows}
