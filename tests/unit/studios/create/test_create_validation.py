"""POST /create refuses bad input with a 422 (or 403) problem naming the field, and queues nothing."""

from __future__ import annotations

from typing import Any

import pytest
from create_support import CreateStack
from sqlalchemy import func, select

from imagestudio.db import session_scope
from imagestudio.jobs.models import Job
from imagestudio.outbox import OutboxMessage


def nothing_enqueued() -> None:
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.actor_name == "create.run_job")
            )
            == 0
        )


def refused(stack: CreateStack, body: dict[str, Any], field: str, *, status: int = 422) -> dict[str, Any]:
    response = stack.post(body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["field"] == field, problem
    assert problem["instance"] == "/api/image-studio/create"
    nothing_enqueued()
    return problem  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({}, "prompt"),
        ({"prompt": "a fox", "negative_prompt": "y" * 2001}, "negative_prompt"),
        ({"prompt": "a fox", "count": 0}, "count"),
        ({"prompt": "a fox", "count": 11}, "count"),
        ({"prompt": "a fox", "num_variations": 11}, "num_variations"),
        ({"prompt": "a fox", "provider": "midjourney"}, "provider"),
        ({"prompt": "a fox", "quality": "ultra"}, "quality"),
        ({"prompt": "a fox", "style_preset": "watercolour"}, "style_preset"),
        ({"prompt": "a fox", "output_format": "gif"}, "output_format"),
        ({"prompt": "a fox", "seed": -1}, "seed"),
        ({"prompt": "a fox", "seed": 2**31}, "seed"),
        ({"prompt": "a fox", "seed": 2**31 - 2, "count": 3}, "seed"),  # seed + 2 is past every provider's
        ({"prompt": "a fox", "width": 10_000, "height": 512}, "width"),
        ({"prompt": "a fox", "use_persona": True}, "use_persona"),
    ],
)
def test_malformed_request_is_refused_naming_the_field(
    create_stack: CreateStack, body: dict[str, Any], field: str
) -> None:
    refused(create_stack, body, field)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"template_id": "myspace_banner"}, "template_id", "unknown template"),
        ({"model": "dall-e-3"}, "model", "unknown model"),
        ({"provider": "gemini", "model": "ultra"}, "model", "for gemini"),
        ({"persona_id": "0a4f3d51-7f4b-4b59-9f5c-000000000000"}, "persona_id", "unknown persona"),
        ({"aspect_ratio": "wide"}, "aspect_ratio", "not a ratio"),
        ({"aspect_ratio": "10:1"}, "aspect_ratio", "outside"),
        ({"aspect_ratio": "16:9", "width": 1000, "height": 1000}, "aspect_ratio", "disagrees"),
        ({"aspect_ratio": "1:8", "width": 1024}, "height", "derived height"),
        # Gemini's image models go no wider than 21:9: 4:1 would lose 42 % of the image.
        ({"provider": "gemini", "aspect_ratio": "4:1"}, "aspect_ratio", "gemini cannot produce 4.00:1"),
        # LinkedIn's company cover is really 5.91:1 (the seed called it 4:1); Stability's widest is 21:9.
        (
            {"provider": "stability", "template_id": "linkedin_cover"},
            "aspect_ratio",
            "stability cannot produce",
        ),
        ({"model": "ultra", "aspect_ratio": "3:1"}, "aspect_ratio", "stability ultra cannot"),
    ],
)
def test_unservable_request_is_refused_before_queueing(
    create_stack: CreateStack, body: dict[str, Any], field: str, words: str
) -> None:
    problem = refused(create_stack, {"prompt": "a lighthouse at dawn", **body}, field)
    assert words in problem["detail"], problem["detail"]


def test_another_tenants_persona_is_unknown(create_stack: CreateStack) -> None:
    other = create_stack.embedded.new_key("other")
    response = create_stack.embedded.client.post(
        "/api/image-studio/personas", json={"name": "Theirs"}, headers=create_stack.headers(other)
    )
    assert response.status_code == 201
    refused(create_stack, {"prompt": "a fox", "persona_id": response.json()["id"]}, "persona_id")


def test_provider_without_key_or_simulator_is_refused(create_stack: CreateStack) -> None:
    from imagestudio.providers.directory import provider_directory

    provider_directory.clear_simulators()
    problem = refused(create_stack, {"prompt": "a fox", "provider": "wavespeed"}, "provider")
    assert "IMAGESTUDIO_WAVESPEED_API_KEY" in problem["detail"]
    problem = refused(create_stack, {"prompt": "a fox"}, "provider")
    assert "no image provider is available" in problem["detail"]


def test_tier_without_the_provider_or_batch_is_forbidden(create_stack: CreateStack) -> None:
    free = create_stack.embedded.new_key("free", tier="free")
    response = create_stack.post({"prompt": "a fox", "provider": "stability"}, key=free)
    assert response.status_code == 403 and response.json()["limit"] == "providers"
    response = create_stack.post({"prompt": "a fox", "count": 5}, key=free)
    assert response.status_code == 403 and response.json()["limit"] == "max_batch"
    nothing_enqueued()


def test_auto_mode_only_plans_providers_the_tier_includes(create_stack: CreateStack) -> None:
    free = create_stack.embedded.new_key("free", tier="free")
    job = create_stack.submit({"prompt": "a fox", "quality": "premium"}, key=free)
    assert {c["provider"] for c in job["params"]["candidates"]} <= {"huggingface", "gemini"}


def test_num_variations_is_accepted_as_count(create_stack: CreateStack) -> None:
    job = create_stack.submit({"prompt": "a fox", "num_variations": 3, "provider": "gemini"})
    assert job["params"]["count"] == 3
    assert job["status"] == "queued"
