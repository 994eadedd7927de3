"""``zoom_limit``: each output says what held its zoom, so a subject left outside the safe zone says why."""

from __future__ import annotations

import io
from typing import get_args

import pytest
from PIL import Image, ImageDraw

from imagestudio.imaging import SafeZone, SourceImage, ZoomLimit, plan_output
from imagestudio.imaging.crop import NO_BANDS, CropAnalysis, plan_crop, planning_source
from imagestudio.imaging.social import subject_placement

#: Instagram's story bands as the catalogue draws them (top, bottom, left, right).
STORY = SafeZone(top=0.14, bottom=0.20, left=0.05, right=0.05)


def product(side: int, top: int, height: int) -> SourceImage:
    """A square, plain-background photo with one dark product ``height`` px tall starting at ``top``."""
    image = Image.new("RGB", (side, side), (246, 246, 246))
    middle = side // 2
    ImageDraw.Draw(image).rectangle(
        (middle - height // 3, top, middle + height // 3, top + height - 1), fill=(20, 60, 140)
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return SourceImage.load(buffer.getvalue(), max_pixels=10**8)


def story(source: SourceImage, **options: object) -> tuple[bool | None, float, str]:
    """The 540x960 story's placement of the source: (inside the safe zone, zoom, zoom limit)."""
    plan = plan_output(source, width=540, height=960, **options)  # type: ignore[arg-type]
    assert plan.placement is not None
    return plan.placement.inside_safe_zone, plan.placement.zoom, plan.placement.zoom_limit


def test_a_subject_already_inside_needs_no_zoom_and_nothing_held_it() -> None:
    assert story(product(2000, 700, 500), safe_zone=STORY) == (True, 1.0, "none")


def test_a_subject_under_the_top_band_is_zoomed_in_within_the_bound_and_nothing_held_it() -> None:
    # The product's top at 12.5 % of the height under a 14 % band: a zoom of about 1.12 clears it.
    inside, zoom, limit = story(product(2000, 250, 500), safe_zone=STORY)
    assert inside is True and 1.0 < zoom <= 1.25 and limit == "none"


def test_a_subject_needing_more_than_the_bound_says_bound() -> None:
    # The top at 10 %: clearing 14 % needs a zoom of 1.4, past the default bound of 1.25; the
    # 2000 px source has pixels for 2.08.
    assert story(product(2000, 200, 500), safe_zone=STORY) == (False, 1.0, "bound")
    # A bound of 1 (zooming off) holds the zoom too, even where 1.12 would do.
    assert story(product(2000, 250, 500), safe_zone=STORY, max_zoom=1.0) == (False, 1.0, "bound")


def test_a_source_too_small_for_the_zoom_says_source_resolution() -> None:
    # The newcomer's case at story scale: the 1000 px square's crop is 562x1000 for a 540x960
    # output, so a zoom past 1.04 would enlarge it; the 1.17 needed is within the bound.
    assert story(product(1000, 120, 300), safe_zone=STORY) == (False, 1.0, "source_resolution")


@pytest.mark.parametrize(
    ("top", "height"),
    [
        (0, 500),  # touching the top edge: no crop puts a band above it
        (200, 1700),  # taller than the safe area of any crop: zooming in only makes that worse
    ],
)
def test_a_subject_no_zoom_can_place_says_no_zoom_fits(top: int, height: int) -> None:
    assert story(product(2000, top, height), safe_zone=STORY) == (False, 1.0, "no_zoom_fits")


@pytest.mark.parametrize("zone", [None, NO_BANDS])
def test_a_format_without_bands_says_no_safe_zone(zone: SafeZone | None) -> None:
    inside, zoom, limit = story(product(2000, 200, 500), safe_zone=zone)
    assert zoom == 1.0 and limit == "no_safe_zone"
    assert inside is (None if zone is None else True)


def test_a_crop_not_placed_on_a_subject_says_not_placed() -> None:
    source = product(2000, 200, 500)
    # The centre, the focal point, fit and a crop set by hand place nothing: there is no placement.
    for options in (
        {"mode": "center"},
        {"focal_point": (0.5, 0.1)},
        {"mode": "fit"},
        {"crop_box": (0, 0, 10, 10)},
    ):
        assert plan_output(source, width=540, height=960, safe_zone=STORY, **options).placement is None  # type: ignore[arg-type]
    # The salient peak of a busy picture has no box to place inside the zone.
    busy = Image.effect_noise((600, 600), 120).convert("RGB")
    buffer = io.BytesIO()
    busy.save(buffer, "PNG")
    noisy = SourceImage.load(buffer.getvalue(), max_pixels=10**8)
    plan = plan_output(noisy, width=300, height=300, safe_zone=STORY)
    assert plan.placement is not None and plan.placement.placed_on == "attention"
    assert plan.placement.zoom_limit == "not_placed"


def test_every_value_is_one_the_tests_above_produce() -> None:
    assert set(get_args(ZoomLimit)) == {
        "none",
        "bound",
        "source_resolution",
        "no_zoom_fits",
        "no_safe_zone",
        "not_placed",
    }


def test_a_zoom_range_narrower_than_one_step_between_two_steps_is_still_found() -> None:
    # A subject 278 px down a 2000 px square and 1302 px tall: under the Story's 14 % band until a
    # zoom of 1.0072, too tall for the band-free part past 1.0138. The search's steps (1.0, then
    # 1.0208) both miss that range; its middle places it.
    analysis = CropAnalysis(2000, 2000, (2000, 2000), (), (850, 278, 300, 1302), None)
    plan = plan_crop(planning_source(analysis), width=540, height=960, mode="smart", safe_zone=STORY)

    assert plan.zoom_limit == "none" and 1.0072 <= plan.zoom <= 1.0138
    placement = subject_placement(plan, 540, 960, STORY)
    assert placement is not None and placement.inside_safe_zone is True
