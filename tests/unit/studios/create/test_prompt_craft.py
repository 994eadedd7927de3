"""Prompt enhancement and persona application: deterministic, explained, never duplicated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from create_support import API, CreateStack

from imagestudio.personas.schemas import PersonaRead
from imagestudio.personas.service import persona_service
from imagestudio.providers.stability import STYLE_PRESETS
from imagestudio.templates.catalogue import TEMPLATES
from imagestudio.templates.prompting import STYLE_PHRASES, PromptResult, append_phrases, enhance


def persona(**fields: object) -> PersonaRead:
    now = datetime.now(UTC)
    base: dict[str, object] = {
        "id": "p1",
        "name": "Brand",
        "description": "",
        "tone": "",
        "palette": [],
        "style_keywords": [],
        "avoid": [],
        "created_at": now,
        "updated_at": now,
    }
    return PersonaRead.model_validate(base | fields)


def test_every_stability_preset_has_words() -> None:
    assert set(STYLE_PHRASES) == set(STYLE_PRESETS)


def test_enhancement_is_deterministic_and_explains_each_addition() -> None:
    template = TEMPLATES["pinterest_pin"]
    first = enhance("a lemon tart", None, style_preset="photographic", quality="premium", template=template)
    again = enhance("a lemon tart", None, style_preset="photographic", quality="premium", template=template)
    assert first == again
    assert first.prompt == (
        "a lemon tart, professional photograph, natural lighting, realistic detail, "
        "tall composition, subject in the upper two thirds, space at the bottom for text, "
        "highly detailed, sharp focus, rich lighting"  # "professional composition": both words already there
    )
    assert [(a.source, a.target) for a in first.additions] == [
        ("style", "prompt"),
        ("template", "prompt"),
        ("quality", "prompt"),
        ("baseline", "negative_prompt"),
    ]
    assert all(a.reason for a in first.additions)
    assert "Pinterest Pin (1000x1500, 2:3)" in first.additions[1].reason


def test_enhancement_does_not_repeat_what_the_prompt_says() -> None:
    result = enhance(
        "a cinematic still of a city, dramatic lighting",
        "blurry",
        style_preset="cinematic",
        quality="draft",
        template=None,
    )
    assert result.prompt == "a cinematic still of a city, dramatic lighting, shallow depth of field"
    assert result.additions[0].text == "shallow depth of field"
    assert result.negative_prompt == "blurry, low quality, distorted, watermark, jpeg artifacts"


def test_draft_without_style_or_template_only_adds_the_negative_baseline() -> None:
    result = enhance("a fox", None, style_preset=None, quality="draft", template=None)
    assert result.prompt == "a fox"
    assert [a.source for a in result.additions] == ["baseline"]


@pytest.mark.parametrize(
    ("text", "phrases", "expected"),
    [
        ("", "a, b", ("a, b", ["a", "b"])),
        ("red fox", "fox, snow", ("red fox, snow", ["snow"])),
        ("x", " , ,", ("x", [])),
    ],
)
def test_append_phrases(text: str, phrases: str, expected: tuple[str, list[str]]) -> None:
    assert append_phrases(text, phrases) == expected


def test_persona_adds_tone_palette_style_and_avoided_subjects() -> None:
    brand = persona(
        tone="calm", palette=["#112233", "white"], style_keywords=["minimalist", "flat"], avoid=["cars"]
    )
    result = persona_service.apply(brand, PromptResult("a street at night", None))
    assert (
        result.prompt == "a street at night, calm mood, colour palette of #112233 and white, minimalist, flat"
    )
    assert result.negative_prompt == "cars"
    assert [a.target for a in result.additions] == ["prompt", "prompt", "prompt", "negative_prompt"]
    assert result.warnings == []


def test_persona_warns_when_the_prompt_names_an_avoided_subject() -> None:
    result = persona_service.apply(persona(avoid=["cars", "smoke"]), PromptResult("two cars racing", "dust"))
    assert result.negative_prompt == "dust, cars, smoke"
    assert result.warnings == ["the prompt names cars, which persona 'Brand' avoids"]


def test_empty_persona_changes_nothing() -> None:
    start = PromptResult("a fox", None)
    assert persona_service.apply(persona(), start) == start


def test_persona_crud_is_per_tenant(create_stack: CreateStack) -> None:
    client, headers = create_stack.embedded.client, create_stack.headers()
    created = client.post(
        f"{API}/personas", json={"name": " Acme ", "palette": ["#ABCDEF"], "avoid": ["cats"]}, headers=headers
    )
    assert created.status_code == 201
    body = created.json()
    assert created.headers["location"] == f"{API}/personas/{body['id']}"
    assert (body["name"], body["palette"]) == ("Acme", ["#abcdef"])
    assert client.get(f"{API}/personas", headers=headers).json()["items"][0]["id"] == body["id"]
    patched = client.patch(f"{API}/personas/{body['id']}", json={"tone": "bold"}, headers=headers).json()
    assert (patched["tone"], patched["avoid"]) == ("bold", ["cats"])
    other = create_stack.headers(create_stack.embedded.new_key("other"))
    assert client.get(f"{API}/personas/{body['id']}", headers=other).status_code == 404
    assert client.patch(f"{API}/personas/{body['id']}", json={"tone": "x"}, headers=other).status_code == 404
    assert client.delete(f"{API}/personas/{body['id']}", headers=other).status_code == 404
    assert client.get(f"{API}/personas", headers=other).json()["items"] == []
    assert client.delete(f"{API}/personas/{body['id']}", headers=headers).status_code == 204
    assert client.get(f"{API}/personas/{body['id']}", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a", "palette": ["#12345"]}, "palette.0"),
        ({"name": "a", "avoid": ["x" * 101]}, "avoid.0"),
        ({"name": "a", "mood": "x"}, "mood"),
    ],
)
def test_persona_validation_names_the_field(
    create_stack: CreateStack, body: dict[str, object], field: str
) -> None:
    response = create_stack.embedded.client.post(f"{API}/personas", json=body, headers=create_stack.headers())
    assert response.status_code == 422 and response.json()["field"] == field
