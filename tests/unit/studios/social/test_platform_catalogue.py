"""The social platform catalogue: sourced, consistent sizes and safe zones, served, documented, rendered."""

from __future__ import annotations

import io
import re
from datetime import date

import numpy as np
import pytest
from PIL import Image
from support import ROOT, Embedded, accepted_id, post_social

from imagestudio.errors import ValidationFailed
from imagestudio.imaging import SafeZone
from imagestudio.studios.social import SocialOptimizeRequest, resolve_formats
from imagestudio.studios.social.platforms import (
    CHECKED,
    GRID_ASPECT,
    MB,
    PLATFORMS,
    SocialFormat,
    get_format,
)

API = "/api/image-studio"
FORMATS = [f for p in PLATFORMS.values() for f in p.formats]
DOC = ROOT / "docs" / "studios" / "social.md"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def percent(fraction: float) -> str:
    return f"{round(fraction * 100, 2):g}%"


def catalogue_rows() -> list[str]:
    """The docs table of every format, written from the catalogue (docs/studios/social.md holds it)."""
    rows = []
    for f in FORMATS:
        zone = ", ".join(percent(edge) for edge in f.safe_zone)
        host = f.source.split("/")[2].removeprefix("www.")
        rows.append(
            f"| `{f.key}` | {f.width}×{f.height} | {f.aspect} | {f.max_bytes / MB:g} MB | {zone} "
            f"| [{host}]({f.source}) |"
        )
    return rows


def test_every_format_and_platform_cites_an_https_source_checked_on_a_real_day() -> None:
    assert date.fromisoformat(CHECKED) <= date.today()
    for platform in PLATFORMS.values():
        assert platform.source.startswith("https://"), platform.id
        for fmt in platform.formats:
            assert fmt.source.startswith("https://"), fmt.key
            assert fmt.describe()["source"] == fmt.source and fmt.describe()["checked"] == CHECKED


def test_the_marketing_formats_are_there() -> None:
    keys = {f.key for f in FORMATS}
    assert {"threads.post_portrait", "threads.post_square", "bluesky.post", "bluesky.banner"} <= keys
    assert {"instagram.feed_portrait", "instagram.grid_preview"} <= keys
    assert (get_format("linkedin.carousel_square").width, get_format("linkedin.carousel_square").height) == (
        1080,
        1080,
    )
    assert (
        get_format("linkedin.carousel_portrait").width,
        get_format("linkedin.carousel_portrait").height,
    ) == (
        1080,
        1350,
    )
    grid = get_format("instagram.grid_preview")
    assert grid.width / grid.height == GRID_ASPECT and grid.aspect == "3:4"


def test_aspect_labels_are_the_true_ratio_of_each_size() -> None:
    for fmt in FORMATS:
        w, _, h = fmt.aspect.partition(":")
        assert abs(float(w) / float(h) - fmt.width / fmt.height) < 0.01, fmt.key
    assert len({f.key for f in FORMATS}) == len(FORMATS)  # no key twice


def test_upload_limits_are_per_format_and_in_decimal_megabytes() -> None:
    assert get_format("youtube.thumbnail").max_bytes == 2_000_000
    assert get_format("youtube.channel_art").max_bytes == 6_000_000  # not the thumbnail's 2 MB
    assert get_format("bluesky.post").max_bytes == 1_000_000  # the lexicon's blob limit
    assert PLATFORMS["twitter"].max_bytes == 5_000_000
    for fmt in FORMATS:
        assert 0 < fmt.max_bytes <= 30 * MB, fmt.key
    # Bluesky refuses images over 2000 px a side.
    assert all(max(f.width, f.height) <= 2000 for f in PLATFORMS["bluesky"].formats)


def test_every_safe_zone_is_valid_and_leaves_room_for_content() -> None:
    for fmt in FORMATS:
        zone = SafeZone(*fmt.safe_zone)
        inside = (1 - zone.top - zone.bottom) * (1 - zone.left - zone.right)
        assert 0.15 <= inside < 1, fmt.key  # channel art keeps only 1546x423 of 2560x1440: 18%


def test_story_and_reel_keep_meta_s_published_bands() -> None:
    story, reel = get_format("instagram.story"), get_format("instagram.reel")
    assert story.safe_zone[:2] == (0.14, 0.20)
    assert reel.safe_zone == (0.14, 0.35, 0.06, 0.06)
    assert get_format("facebook.story").safe_zone == story.safe_zone


@pytest.mark.parametrize(
    "key", ["instagram.feed_square", "instagram.feed_portrait", "instagram.feed_landscape"]
)
def test_instagram_feed_safe_zones_lie_inside_the_3_4_grid_tile(key: str) -> None:
    fmt = get_format(key)
    top, bottom, left, right = fmt.safe_zone
    tile_w = min(fmt.width, fmt.height * GRID_ASPECT)
    tile_h = min(fmt.height, fmt.width / GRID_ASPECT)
    assert (1 - left - right) * fmt.width <= tile_w + 1
    assert (1 - top - bottom) * fmt.height <= tile_h + 1


def test_channel_art_safe_zone_is_the_centre_1546x423() -> None:
    fmt = get_format("youtube.channel_art")
    top, bottom, left, right = fmt.safe_zone
    assert round((1 - left - right) * fmt.width) == 1546
    assert round((1 - top - bottom) * fmt.height) == 423


def test_a_catalogue_entry_with_a_bad_safe_zone_or_no_source_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        SocialFormat("x", "y", "Y", 100, 100, (0.6, 0.5, 0.0, 0.0), MB, "https://example.org/")
    with pytest.raises(ValueError, match="https"):
        SocialFormat("x", "y", "Y", 100, 100, (0.1, 0.1, 0.1, 0.1), MB, "a blog somewhere")


def test_the_request_examples_name_real_formats() -> None:
    examples = SocialOptimizeRequest.model_config["json_schema_extra"]["examples"]  # type: ignore[index]
    for example in examples:
        assert resolve_formats(example.get("platforms"), example.get("formats"))


def test_the_docs_table_is_the_catalogue() -> None:
    text = DOC.read_text()
    documented = [line.strip() for line in text.splitlines() if line.strip().startswith("| `")]
    assert documented == catalogue_rows(), "\n".join(catalogue_rows())
    assert CHECKED in text


def test_the_catalogue_endpoint_serves_sources_and_the_new_platforms(embedded: Embedded) -> None:
    key = embedded.new_key()
    platforms = embedded.client.get(f"{API}/social/platforms", headers=auth(key)).json()["platforms"]
    assert {"threads", "bluesky"} <= {p["id"] for p in platforms}
    served = [f for p in platforms for f in p["formats"]]
    assert len(served) == len(FORMATS)
    for fmt in served:
        assert fmt["source"].startswith("https://") and fmt["checked"] == CHECKED, fmt["key"]
    bluesky = embedded.client.get(f"{API}/platform-specs/bluesky", headers=auth(key)).json()
    assert bluesky["max_bytes"] == 1_000_000 and "webp" in bluesky["file_types"]


def noisy_jpeg(width: int, height: int) -> bytes:
    """Random pixels: the worst case for a size limit (barely compressible)."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_new_formats_render_end_to_end_and_fit_their_upload_limits(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    image = ("noise.jpg", noisy_jpeg(1600, 1200), "image/jpeg")
    formats = "linkedin.carousel_square,linkedin.carousel_portrait,instagram.grid_preview"
    response = post_social(
        embedded, key, image, platforms="threads,bluesky", formats=formats, quality="100", zip="false"
    )
    job = embedded.wait_job(key, accepted_id(response))
    assert job["status"] == "succeeded", job
    outputs = {o["name"]: o for o in job["outputs"]}
    expected = {f.key: f for f in FORMATS if f.platform in ("threads", "bluesky")}
    for extra in ("linkedin.carousel_square", "linkedin.carousel_portrait", "instagram.grid_preview"):
        expected[extra] = get_format(extra)
    assert set(outputs) == set(expected)
    for name, fmt in expected.items():
        data = embedded.client.get(outputs[name]["url"]).content
        assert Image.open(io.BytesIO(data)).size == (fmt.width, fmt.height), name
        meta = outputs[name]["metadata"]
        assert len(data) <= fmt.max_bytes and meta["fits_size_limit"] is True, name
        assert meta["max_bytes"] == fmt.max_bytes
    # Noise at quality 100 is over Bluesky's 1,000,000 bytes: the quality was stepped down to fit.
    bluesky = outputs["bluesky.post"]["metadata"]
    assert bluesky["quality"] < 100
    assert outputs["threads.post_portrait"]["metadata"]["quality"] == 100  # 8 MB: no need


def test_an_unknown_new_style_format_is_a_422_naming_formats(embedded: Embedded) -> None:
    key = embedded.new_key()
    response = post_social(embedded, key, ("a.jpg", noisy_jpeg(64, 64), "image/jpeg"), formats="bluesky.reel")
    assert response.status_code == 422 and response.json()["field"] == "formats"
    assert re.search(r"bluesky\.post", response.json()["detail"])
