"""Template catalogue, filters, ranked search and recommendation."""

from __future__ import annotations

from math import gcd

import pytest
from create_support import CreateStack

from imagestudio.studios.social import PLATFORMS as SOCIAL_PLATFORMS
from imagestudio.templates.catalogue import CATEGORIES, TEMPLATES
from imagestudio.templates.service import template_service

#: The seed's 26 template ids; every one must still exist.
SEED_IDS = {
    "instagram_feed_square", "instagram_feed_portrait", "instagram_story", "instagram_reel_cover",
    "facebook_feed", "facebook_feed_square", "facebook_story", "facebook_cover", "twitter_post",
    "twitter_card", "twitter_header", "linkedin_post", "linkedin_post_square", "linkedin_article",
    "linkedin_cover", "youtube_thumbnail", "youtube_channel_art", "pinterest_pin", "pinterest_story",
    "tiktok_video_cover", "blog_header", "blog_header_wide", "email_banner", "email_product",
    "website_hero", "website_banner",
}  # fmt: skip


def test_catalogue_covers_the_seed_and_every_category() -> None:
    assert SEED_IDS <= set(TEMPLATES)
    assert {t.category for t in TEMPLATES.values()} == set(CATEGORIES)
    assert len([t for t in TEMPLATES.values() if t.category == "ad_creative"]) >= 3
    assert len([t for t in TEMPLATES.values() if t.category == "product"]) >= 3


def test_aspect_ratios_are_the_true_ratios_of_the_sizes() -> None:
    assert TEMPLATES["facebook_cover"].aspect_ratio == "2.63:1"  # the seed said 16:9
    assert TEMPLATES["linkedin_cover"].aspect_ratio == "5.91:1"  # the seed said 4:1
    assert TEMPLATES["linkedin_article"].aspect_ratio == "1.91:1"  # the seed said 2:1
    for template in TEMPLATES.values():
        w, _, h = template.aspect_ratio.partition(":")
        assert abs(float(w) / float(h) - template.width / template.height) < 0.01, template.id
        divisor = gcd(template.width, template.height)
        if template.width // divisor <= 32 and template.height // divisor <= 32:
            assert template.aspect_ratio == f"{template.width // divisor}:{template.height // divisor}"


def test_sizes_agree_with_the_social_optimizer() -> None:
    social = {f.key: (f.width, f.height) for p in SOCIAL_PLATFORMS.values() for f in p.formats}
    assert (TEMPLATES["twitter_post"].width, TEMPLATES["twitter_post"].height) == social["twitter.post"]
    assert (TEMPLATES["youtube_channel_art"].width, TEMPLATES["youtube_channel_art"].height) == social[
        "youtube.channel_art"
    ]


def test_suggested_providers_are_real_providers() -> None:
    for template in TEMPLATES.values():
        assert set(template.suggested_providers) <= {"stability", "wavespeed", "huggingface", "gemini"}


def test_list_filters_by_platform_and_category(create_stack: CreateStack) -> None:
    body = create_stack.get("/templates").json()
    assert body["count"] == len(TEMPLATES)
    linkedin = create_stack.get("/templates", platform="linkedin").json()["templates"]
    assert linkedin and all(t["platform"] == "linkedin" for t in linkedin)
    ads = create_stack.get("/templates", platform="linkedin", category="ad_creative").json()["templates"]
    assert [t["id"] for t in ads] == ["linkedin_sponsored"]
    one = create_stack.get("/templates/instagram_story").json()
    assert (one["width"], one["height"], one["aspect_ratio"]) == (1080, 1920, "9:16")
    assert one["suggested_providers"] and one["style_recommendations"]


@pytest.mark.parametrize(
    ("params", "field"), [({"platform": "myspace"}, "platform"), ({"category": "memes"}, "category")]
)
def test_unknown_filter_is_a_422_naming_it(
    create_stack: CreateStack, params: dict[str, str], field: str
) -> None:
    response = create_stack.get("/templates", **params)
    assert response.status_code == 422 and response.json()["field"] == field


def test_unknown_template_is_a_404(create_stack: CreateStack) -> None:
    assert create_stack.get("/templates/nope").status_code == 404


def test_search_ranks_name_matches_first() -> None:
    ids = [m.template.id for m in template_service.search("instagram story")]
    assert ids[0] == "instagram_story"  # whole query in the name
    assert ids.index("instagram_story_ad") < ids.index("facebook_story")
    assert set(ids[:2]) == {"instagram_story", "instagram_story_ad"}


def test_search_weighs_name_over_tags_over_description() -> None:
    matches = {m.template.id: m.score for m in template_service.search("thumbnail")}
    # "thumbnail" is in the YouTube thumbnail's name; only in another template's use cases.
    assert max(matches, key=matches.__getitem__) == "youtube_thumbnail"
    assert all(
        score < matches["youtube_thumbnail"] for tid, score in matches.items() if tid != "youtube_thumbnail"
    )


def test_search_prefix_matches_count_half() -> None:
    exact = {m.template.id: m.score for m in template_service.search("packshot")}
    prefix = {m.template.id: m.score for m in template_service.search("pack")}
    assert prefix["product_white_background"] == exact["product_white_background"] / 2


def test_search_route_returns_scores_and_reasons(create_stack: CreateStack) -> None:
    body = create_stack.get("/templates/search", q="product on white").json()
    first = body["results"][0]
    assert first["id"] == "product_white_background"
    assert first["score"] > body["results"][1]["score"]
    assert any("name" in reason for reason in first["reasons"])
    assert create_stack.get("/templates/search", q="").status_code == 422
    assert create_stack.get("/templates/search", q="the of").json()["detail"].startswith("q:")
    assert create_stack.get("/templates/search", q="zebra crossing").json()["count"] == 0


def test_search_takes_the_old_query_parameter_as_an_alias_of_q(create_stack: CreateStack) -> None:
    new = create_stack.get("/templates/search", q="product on white").json()
    old = create_stack.get("/templates/search", query="product on white")
    assert old.status_code == 200, old.text
    assert old.json() == new and new["count"] > 0
    assert (
        create_stack.get("/templates/search", q="square post", query="zebra").json()["query"] == "square post"
    )
    missing = create_stack.get("/templates/search")
    assert missing.status_code == 422 and missing.json()["field"] == "q", missing.text


def test_recommend_restricts_to_the_platform_and_explains() -> None:
    matches = template_service.recommend(use_case="video cover", platform="tiktok")
    assert [m.template.id for m in matches] == ["tiktok_video_cover"]
    assert "made for tiktok" in matches[0].reasons


def test_recommend_by_intent_prefers_its_categories() -> None:
    matches = template_service.recommend(intent="conversion", platform="instagram")
    assert matches[0].template.id == "instagram_story_ad"
    assert any(reason.startswith("intent conversion") for reason in matches[0].reasons)
    product = template_service.recommend(use_case="marketplace listing", intent="conversion")
    assert product[0].template.id == "product_white_background"


def test_recommend_route_validates_its_inputs(create_stack: CreateStack) -> None:
    assert create_stack.get("/templates/recommend").json()["field"] == "use_case"
    assert create_stack.get("/templates/recommend", intent="world-domination").json()["field"] == "intent"
    body = create_stack.get("/templates/recommend", use_case="newsletter header", limit=2).json()
    assert body["count"] == 2 and body["results"][0]["id"] == "email_banner"
