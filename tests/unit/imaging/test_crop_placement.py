"""Smart crop on hard scenes: small, tilted and paired faces kept, subjects kept whole, safe zones honoured."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw

from imagestudio.errors import ValidationFailed
from imagestudio.imaging import SafeZone, SourceImage, crop, detect_faces, faces, render_format
from imagestudio.imaging.crop import plan_crop

# The hard-scene benchmark's people: the astronaut's head and shoulders pasted, scaled and turned.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from bench_crop_hard import person  # noqa: E402

Region = tuple[float, float, float, float]
STORY = SafeZone(top=0.25, bottom=0.15, left=0.10, right=0.10)


def load(pixels: npt.NDArray[np.uint8]) -> SourceImage:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return SourceImage.load(buffer.getvalue(), max_pixels=10**8)


def textured(width: int, height: int, seed: int) -> npt.NDArray[np.uint8]:
    """Grey with loud colour noise blocks: busy enough that saliency alone would wander."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, (height // 40 + 1, width // 40 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.kron(blocks, np.ones((40, 40, 1), np.uint8))[:height, :width])


def holds(box: tuple[int, int, int, int], region: Region, slack: float = 2) -> bool:
    left, top, width, height = box
    return (
        left <= region[0] + slack
        and top <= region[1] + slack
        and region[2] - slack <= left + width
        and region[3] - slack <= top + height
    )


def test_small_face_in_a_wide_busy_photo_is_found_and_kept() -> None:
    canvas = textured(3000, 2000, 1)
    face = person(canvas, 60, 2400, 600)  # 3 % of the shorter side
    source = load(canvas)

    assert any(
        face[0] <= x + w / 2 <= face[2] and face[1] <= y + h / 2 <= face[3]
        for x, y, w, h in detect_faces(source)
    )
    assert holds(plan_crop(source, width=1080, height=1350, mode="smart").box, face)


@pytest.mark.parametrize("angle", [25, -25])
def test_tilted_face_is_found_and_kept(angle: float) -> None:
    canvas = textured(2400, 1600, 2)
    face = person(canvas, 220, 1850, 700, angle)
    source = load(canvas)

    plan = plan_crop(source, width=1080, height=1920, mode="smart")

    assert plan.placed_on == "faces"
    assert holds(plan.box, face)


def test_two_people_far_apart_keep_the_larger_one_when_both_cannot_fit() -> None:
    canvas = textured(3600, 1600, 3)
    small = person(canvas, 180, 400, 600)
    large = person(canvas, 240, 3150, 650)
    source = load(canvas)

    assert len(detect_faces(source)) == 2
    box = plan_crop(source, width=1080, height=1080, mode="smart").box
    assert holds(box, large) and not holds(box, small)
    wide = plan_crop(source, width=3000, height=1000, mode="smart").box  # 3600 wide: room for both
    assert holds(wide, large) and holds(wide, small)


def test_story_crop_puts_the_face_below_the_top_band_when_there_is_room() -> None:
    canvas = textured(1600, 2400, 4)
    face = person(canvas, 240, 600, 620)  # a head in the top fifth of a tall photo
    source = load(canvas)

    plain = plan_crop(source, width=540, height=960, mode="smart")
    # The head's top is at 19 % of the height, under a 25 % band: a zoom past 1.31 clears it.
    safe = plan_crop(source, width=540, height=960, mode="smart", safe_zone=STORY, max_zoom=1.42)
    rendered = render_format(source, width=540, height=960, mode="smart", safe_zone=STORY, max_zoom=1.42)
    bounded = plan_crop(source, width=540, height=960, mode="smart", safe_zone=STORY)

    assert holds(plain.box, face) and holds(safe.box, face)
    left, top, width, height = safe.box
    assert face[1] - top >= STORY.top * height - 2  # below the band the app draws over
    assert rendered.subject is not None
    assert rendered.subject.placed_on == "faces" and rendered.subject.faces == 1
    assert rendered.subject.inside_safe_zone is True
    assert 1.25 < rendered.subject.zoom == safe.zoom <= 1.42
    # The default bound (1.25) does not reach: the largest box, the face leaning away from the band.
    assert bounded.zoom == 1.0 and holds(bounded.box, face)
    x, y, w, h = rendered.subject.box or (0, 0, 0, 0)
    assert y >= STORY.top * 960 - 1 and x >= STORY.left * 540 - 1 and x + w <= 540 * 0.9 + 1
    # Without the safe zone the same face sits in the top band: the zone is what moved it.
    top_band = render_format(source, width=540, height=960, mode="smart", safe_zone=None)
    assert top_band.subject is not None and top_band.subject.inside_safe_zone is None
    assert (top_band.subject.box or (0, 0, 0, 0))[1] < STORY.top * 960


def test_subject_that_cannot_clear_the_bands_is_reported_outside() -> None:
    image = Image.new("RGB", (1080, 1920), (246, 246, 246))
    ImageDraw.Draw(image).rectangle((400, 40, 700, 400), fill=(200, 30, 30))  # at the top of a 9:16 source
    source = load(np.asarray(image).copy())

    rendered = render_format(
        source, width=1080, height=1920, mode="smart", safe_zone=SafeZone(0.4, 0.1, 0, 0)
    )

    assert rendered.crop_box is not None and holds(rendered.crop_box, (400, 40, 701, 401))
    assert rendered.subject is not None and rendered.subject.placed_on == "subject"
    assert rendered.subject.inside_safe_zone is False


def product_scene() -> tuple[npt.NDArray[np.uint8], Region]:
    image = Image.new("RGB", (3000, 2000), (246, 246, 246))
    draw = ImageDraw.Draw(image)
    # A tall product near the right edge: its peak is the label, its box the whole bottle.
    draw.rectangle((2350, 500, 2450, 700), fill=(30, 30, 30))
    draw.rounded_rectangle((2250, 700, 2550, 1700), radius=60, fill=(20, 90, 160))
    draw.rectangle((2260, 1100, 2540, 1300), fill=(240, 200, 40))
    return np.asarray(image).copy(), (2250, 500, 2551, 1701)


@pytest.mark.parametrize(("width", "height"), [(1080, 1080), (1080, 1350), (1080, 1920), (1200, 628)])
def test_product_on_a_plain_background_is_kept_whole(width: int, height: int) -> None:
    pixels, bottle = product_scene()
    source = load(pixels)

    plan = plan_crop(source, width=width, height=height, mode="smart")

    assert plan.placed_on == "subject"
    assert holds(plan.box, bottle)
    assert plan.subject is not None and holds(plan.subject, bottle, slack=1)


def test_subject_box_is_reported_in_output_pixels() -> None:
    pixels, bottle = product_scene()
    source = load(pixels)

    rendered = render_format(
        source, width=500, height=500, mode="smart", safe_zone=SafeZone(0.1, 0.1, 0.1, 0.1)
    )

    assert rendered.subject is not None and rendered.subject.placed_on == "subject"
    assert rendered.subject.inside_safe_zone is True
    x, y, w, h = rendered.subject.box or (0, 0, 0, 0)
    crop_left, crop_top, crop_w, _ = rendered.crop_box or (0, 0, 1, 1)
    scale = 500 / crop_w
    assert x == pytest.approx((bottle[0] - crop_left) * scale, abs=4)
    assert y == pytest.approx((bottle[1] - crop_top) * scale, abs=4)
    assert y >= 50 - 1 and y + h <= 450 + 1


def test_busy_picture_has_no_subject_box_and_falls_back_to_attention() -> None:
    source = load(textured(2000, 1200, 6))

    rendered = render_format(source, width=300, height=300, mode="smart", safe_zone=STORY)

    assert rendered.subject is not None
    assert rendered.subject.placed_on == "attention" and rendered.subject.box is None
    assert rendered.subject.inside_safe_zone is None


def test_subject_taller_than_a_banner_is_centred_on() -> None:
    pixels, bottle = product_scene()
    source = load(pixels)

    plan = plan_crop(source, width=1128, height=191, mode="smart")  # LinkedIn's company cover

    left, top, width, height = plan.box
    assert height < bottle[3] - bottle[1]  # it cannot be kept whole
    assert plan.placed_on == "subject"
    # Within one pixel of the 256 px copy the subject is boxed on.
    assert top + height / 2 == pytest.approx((bottle[1] + bottle[3]) / 2, abs=3000 / 256)
    assert left <= bottle[0] and bottle[2] <= left + width


def test_small_face_on_the_seam_between_fine_bands_is_found() -> None:
    canvas = textured(3000, 2000, 7)
    fine_scale = min(faces.FINE_SIDE / 2000, math.sqrt(faces.FINE_PIXELS / (3000 * 2000)))
    seam = math.ceil(2000 * fine_scale / faces.FINE_BANDS) / fine_scale  # first band's end, source px
    face = person(canvas, 60, 1500, seam)

    found = detect_faces(load(canvas))

    assert any(face[0] <= x + w / 2 <= face[2] and face[1] <= y + h / 2 <= face[3] for x, y, w, h in found)


def test_fine_pass_skips_faces_too_small_to_keep_next_to_a_large_one() -> None:
    canvas = textured(3000, 2000, 8)
    large = person(canvas, 300, 800, 900)
    small = person(canvas, 60, 2400, 600)  # a fifth of the large face: dropped by MIN_FACE_RATIO anyway

    found = detect_faces(load(canvas))

    assert [box for box in found if box[2] < (large[2] - large[0]) * faces.MIN_FACE_RATIO] == []
    assert any(large[0] <= x + w / 2 <= large[2] for x, _, w, _ in found)
    assert not any(
        small[0] <= x + w / 2 <= small[2] and small[1] <= y + h / 2 <= small[3] for x, y, w, h in found
    )


def test_square_portrait_to_a_story_zooms_in_within_the_bound_to_clear_the_top_band() -> None:
    # The case: a square portrait, face top at about 12.7 % of the height, under a 14 % band.
    canvas = textured(2000, 2000, 9)
    face = person(canvas, 200, 1000, 390)
    story = SafeZone(top=0.14, bottom=0.20, left=0.05, right=0.05)
    source = load(canvas)

    held = render_format(source, width=540, height=960, mode="smart", safe_zone=story)
    unzoomed = render_format(source, width=540, height=960, mode="smart", safe_zone=story, max_zoom=1.0)

    assert held.subject is not None and held.subject.inside_safe_zone is True
    assert 1.0 < held.subject.zoom <= 1.25
    assert held.crop_box is not None and holds(held.crop_box, face)
    assert held.crop_box[3] == round(2000 / held.subject.zoom)
    # With zooming off the same face is reported outside, as before.
    assert unzoomed.subject is not None and unzoomed.subject.inside_safe_zone is False
    assert unzoomed.subject.zoom == 1.0


def test_zoom_never_goes_past_the_sources_resolution() -> None:
    # A source no larger than the output: any zoom would enlarge it further, so none is used.
    canvas = textured(540, 540, 10)
    person(canvas, 60, 270, 95)
    source = load(canvas)
    story = SafeZone(top=0.14, bottom=0.20, left=0.05, right=0.05)

    plan = plan_crop(source, width=540, height=960, mode="smart", safe_zone=story, max_zoom=1.4)

    assert plan.zoom == 1.0 and plan.box[3] == 540


@pytest.mark.parametrize("bad", [0.9, 1.5, float("nan")])
def test_zoom_bound_outside_one_to_the_limit_is_refused_naming_the_field(bad: float) -> None:
    source = load(textured(400, 400, 11))
    with pytest.raises(ValidationFailed) as caught:
        plan_crop(source, width=100, height=100, mode="smart", max_zoom=bad)
    assert caught.value.field == "max_zoom"


def test_attention_places_every_size_on_the_salient_blob_from_one_small_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Grey grain with one saturated, outlined blob off centre: libvips' attention (edges, skin,
    # saturation) peaks on it.
    rng = np.random.default_rng(29)
    pixels = np.clip(rng.normal(128, 6, (1500, 3000, 1)).repeat(3, axis=2), 0, 255).astype(np.uint8)
    blob = (2000, 500, 120)  # centre x, y and radius
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    x, y, r = blob
    draw.ellipse((x - r, y - r, x + r, y + r), fill=(230, 20, 30), outline=(0, 0, 0), width=12)
    source = load(np.asarray(image))
    source.subject, source.subject_searched = None, True  # placed by attention, not as a subject
    shrinks = []
    small_rgb = crop._small_rgb
    monkeypatch.setattr(crop, "_small_rgb", lambda img, side: shrinks.append(side) or small_rgb(img, side))

    for width, height in ((1080, 1080), (1080, 1920), (1200, 628), (1500, 500), (1000, 1500)):
        plan = plan_crop(source, width=width, height=height, mode="smart")

        assert plan.placed_on == "attention"
        left, top, box_w, box_h = plan.box
        assert left <= x - r and x + r <= left + box_w, (width, height, plan.box)
        assert top <= y - r and y + r <= top + box_h, (width, height, plan.box)
    # The subject search shrinks its own copy; attention shrinks the held copy once, not per size.
    assert shrinks.count(crop.ATTENTION_SIDE) == 1
