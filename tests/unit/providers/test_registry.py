"""The catalogue, quality candidates and building clients from a plain config mapping."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from provider_support import png

import imagestudio.providers as providers
from imagestudio.providers import (
    QUALITY_MODELS,
    GenerationRequest,
    ImageProvider,
    ProviderConfig,
    build_providers,
    candidates,
    get_model,
)
from imagestudio.providers.gemini import GEMINI_IMAGE_MODELS
from imagestudio.providers.huggingface import HF_MODELS
from imagestudio.providers.registry import QUALITY_ROWS, models_for, offered
from imagestudio.providers.stability import _GENERATE_ENDPOINTS
from imagestudio.providers.wavespeed import WAVESPEED_MODELS

#: The day these tests judge lifecycles by (the day they were written against the vendors' pages).
TODAY = date(2026, 12, 7)

#: The credit figures the catalogue must carry (our credits per image).
CREDITS = {
    ("stability", "ultra"): 8,
    ("stability", "core"): 3,
    ("stability", "sd3.5-large"): 6.5,
    ("stability", "sd3.5-large-turbo"): 4,
    ("stability", "sd3.5-medium"): 3.5,
    ("stability", "sd3.5-flash"): 2.5,
    ("wavespeed", "ideogram-v3-turbo"): 6,
    ("wavespeed", "qwen-image"): 2,
    ("wavespeed", "flux-dev"): 1.2,  # USD 0.012 per image (image-to-image)
    ("huggingface", "black-forest-labs/FLUX.1-schnell"): 1,
    ("huggingface", "black-forest-labs/FLUX.1-dev"): 3,
    # 1,120 image tokens per 1K image at USD 60 (Flash) and 120 (Pro) per million.
    ("gemini", "gemini-3.1-flash-image"): 6.7,
    ("gemini", "gemini-3-pro-image"): 13.4,
}


@pytest.mark.parametrize(("key", "credits"), list(CREDITS.items()), ids=lambda value: str(value))
def test_generation_credits_match_the_price_sheet(key: tuple[str, str], credits: float) -> None:
    assert get_model(*key).credits_per_image == credits


def test_every_offered_model_is_callable_by_its_client() -> None:
    callable_models = {
        "stability": set(_GENERATE_ENDPOINTS),
        "wavespeed": set(WAVESPEED_MODELS),
        "huggingface": set(HF_MODELS),
        "gemini": set(GEMINI_IMAGE_MODELS),
    }
    for info in offered(today=TODAY):
        if info.provider == "stability" and info.kind != "generate":
            assert info.model.split("/")[0] in ("edit", "upscale", "control")
            continue
        assert info.model in callable_models[info.provider], info


def test_quality_levels_list_catalogued_models_of_that_level_first() -> None:
    for quality, entries in QUALITY_MODELS.items():
        assert len(entries) >= 2, "every level needs a fallback"
        infos = [get_model(provider, model) for provider, model in entries]
        assert infos[0].quality == quality
        assert len({info.provider for info in infos}) >= 2


def test_candidates_keep_only_configured_providers_in_order() -> None:
    chosen = candidates("premium", configured={"gemini", "stability"})

    assert [(info.provider, info.model) for info in chosen] == [
        ("stability", "ultra"),
        ("gemini", "gemini-3-pro-image"),
        ("stability", "sd3.5-large"),
    ]


def test_a_model_past_its_shutdown_date_is_never_offered() -> None:
    """Imagen 4 stopped answering on 2026-08-17, Gemini 2.5 Flash Image on 2026-10-02."""
    before, after = date(2026, 8, 16), date(2026, 8, 17)
    imagen = ("gemini", "imagen-4.0-generate-001")

    assert imagen in {(info.provider, info.model) for info in offered(today=before)}
    assert imagen not in {(info.provider, info.model) for info in offered(today=after)}
    assert "gemini-2.5-flash-image" in {info.model for info in models_for("gemini", today=date(2026, 10, 1))}
    assert [info.model for info in models_for("gemini", today=TODAY)] == [
        "gemini-3.1-flash-image",
        "gemini-3-pro-image",
    ]
    assert get_model(*imagen).shutdown_on == after  # the lifecycle stays on record


def test_every_quality_row_is_served_today() -> None:
    served = {(info.provider, info.model) for info in offered(today=TODAY)}
    for level, rows in QUALITY_ROWS.items():
        for provider, choice in rows:
            assert (provider, choice.model) in served, (level, provider, choice.model)


def test_gemini_serves_text_to_image_and_image_to_image_on_one_model() -> None:
    info = get_model("gemini", "gemini-3.1-flash-image")
    assert info.capabilities == ("text-to-image", "image-to-image")
    assert get_model("stability", "edit/erase").capabilities == ("edit",)


def test_candidates_leave_out_models_past_their_shutdown() -> None:
    chosen = candidates("premium", configured={"gemini"}, today=TODAY)
    assert [info.model for info in chosen] == ["gemini-3-pro-image"]


def test_unknown_model_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        get_model("stability", "sdxl-0.9")


def test_build_providers_skips_providers_without_a_key() -> None:
    built = build_providers(
        {
            "stability": {"api_key": "sk-1", "base_url": "http://127.0.0.1:9/"},
            "wavespeed": {"api_key": ""},
            "huggingface": ProviderConfig(),
            "gemini": {"api_key": "AIza", "timeout": 5},
        }
    )

    assert sorted(built) == ["gemini", "stability"]
    assert all(isinstance(client, ImageProvider) for client in built.values())
    assert built["stability"].base_url == "http://127.0.0.1:9"  # type: ignore[attr-defined]
    assert built["gemini"].base_url == "https://generativelanguage.googleapis.com"  # type: ignore[attr-defined]
    for client in built.values():
        client.close()


def test_built_clients_use_the_given_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=png(), headers={"content-type": "image/png"})

    built = build_providers({"stability": {"api_key": "sk"}}, transport=httpx.MockTransport(handler))

    [image] = built["stability"].generate(GenerationRequest(prompt="x"))
    assert image.provider == "stability"


def test_build_providers_rejects_unknown_names() -> None:
    with pytest.raises(KeyError, match="unknown provider"):
        build_providers({"midjourney": {"api_key": "x"}})


def test_config_never_shows_the_key() -> None:
    assert "sk-secret" not in repr(ProviderConfig.model_validate({"api_key": "sk-secret"}))


def test_exported_names_match_all() -> None:
    public = {name for name in dir(providers) if not name.startswith("_")}
    modules = {
        "batch", "check", "directory", "execution", "gemini", "health", "http", "huggingface", "protocols", "registry", "resilience",
        "schemas", "selection", "sizing", "stability", "wavespeed",
    }  # fmt: skip

    assert set(providers.__all__) == public - modules
