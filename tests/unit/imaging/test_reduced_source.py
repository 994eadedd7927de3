"""A source loaded for known output sizes holds a reduced copy and renders what the full-size one renders."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from skimage import data as skimage_data

from imagestudio.imaging import SafeZone, SourceImage, detect_faces, render_format
from imagestudio.imaging.crop import plan_crop
from imagestudio.imaging.sizing import MIN_ZOOM, render_scale

astronaut: Callable[[], npt.NDArray[np.uint8]] = skimage_data.astronaut
#: The astronaut's face inside skimage's 512x512 photo (eyebrows to chin), and its paste at 2x.
FACE_IN_PHOTO = (170, 60, 280, 210)
PASTE_X, PASTE_Y, PASTE_SCALE = 3300, 900, 2
#: Output sizes with platform-like safe zones (top, bottom, left, right): square, story, link, banner.
OUTPUTS: list[tuple[int, int, SafeZone]] = [
    (1080, 1080, SafeZone(0.05, 0.05, 0.05, 0.05)),
    (1080, 1920, SafeZone(0.14, 0.35, 0.06, 0.06)),
    (1200, 630, SafeZone(0.0, 0.0, 0.0, 0.0)),
    (1500, 500, SafeZone(0.1, 0.1, 0.2, 0.2)),
]
SIZES = [(width, height) for width, height, _ in OUTPUTS]


def jpeg(pixels: npt.NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo() -> bytes:
    """A 15 MP photo: soft gradients, a little grain and the astronaut at 2x on the right."""
    y, x = np.mgrid[0:3200, 0:4800]
    grain = np.random.default_rng(5).normal(0, 4, (3200, 4800))
    base = np.stack([60 + x / 40, 90 + y / 30, 140 + grain], axis=2)
    pixels = np.clip(base, 0, 255).astype(np.uint8)
    person = cv2.resize(astronaut(), None, fx=PASTE_SCALE, fy=PASTE_SCALE, interpolation=cv2.INTER_CUBIC)
    pixels[PASTE_Y : PASTE_Y + person.shape[0], PASTE_X : PASTE_X + person.shape[1]] = person
    return jpeg(pixels)


def face_region() -> tuple[int, int, int, int]:
    left, top, right, bottom = (PASTE_SCALE * v for v in FACE_IN_PHOTO)
    return left + PASTE_X, top + PASTE_Y, right + PASTE_X, bottom + PASTE_Y


def test_render_scale_is_what_the_closest_crop_of_the_largest_output_needs() -> None:
    # A 1080x1920 story from 6000x4000: the 2250x4000 box, zoomed in as far as MIN_ZOOM.
    assert render_scale(6000, 4000, [(1080, 1080), (1080, 1920)]) == pytest.approx(1920 / 4000 / MIN_ZOOM)
    # An output that needs every source pixel, and no outputs at all: the whole source.
    assert render_scale(1200, 800, [(1080, 1080)]) == 1.0
    assert render_scale(6000, 4000, []) == 1.0


def test_a_source_loaded_for_its_outputs_holds_a_reduced_copy_and_reports_source_pixels(photo: bytes) -> None:
    source = SourceImage.load(photo, max_pixels=10**8, sizes=SIZES)

    scale = render_scale(4800, 3200, SIZES)
    assert scale < 1.0
    assert (source.width, source.height) == (4800, 3200)
    assert (source.image.width, source.image.height) == (math.ceil(4800 * scale), math.ceil(3200 * scale))
    faces = detect_faces(source)
    assert faces, "no face found on the reduced copy"
    x, y, w, h = faces[0]
    left, top, right, bottom = face_region()
    assert left <= x + w / 2 <= right and top <= y + h / 2 <= bottom


def test_the_reduced_copy_gives_the_full_size_crops_and_pixels(photo: bytes) -> None:
    full = SourceImage.load(photo, max_pixels=10**8)
    reduced = SourceImage.load(photo, max_pixels=10**8, sizes=SIZES)

    for width, height, zone in OUTPUTS:
        expected = render_format(full, width=width, height=height, safe_zone=zone, output_format="png")
        got = render_format(reduced, width=width, height=height, safe_zone=zone, output_format="png")

        assert got.crop_box is not None and expected.crop_box is not None
        # The same box to within a pixel of the output: faces are found on a differently sampled copy.
        slack = expected.crop_box[2] / width + 1
        assert got.crop_box == pytest.approx(expected.crop_box, abs=slack), (width, height)
        ours = np.asarray(Image.open(io.BytesIO(got.data)).convert("RGB"), dtype=np.int16)
        theirs = np.asarray(Image.open(io.BytesIO(expected.data)).convert("RGB"), dtype=np.int16)
        assert np.abs(ours - theirs).mean() < 2.0, (width, height)


def test_a_size_the_source_was_not_loaded_for_is_refused_rather_than_enlarged(photo: bytes) -> None:
    source = SourceImage.load(photo, max_pixels=10**8, sizes=[(540, 960)])

    with pytest.raises(ValueError, match="1080x1920"):
        render_format(source, width=1080, height=1920, mode="center")
    assert render_format(source, width=270, height=480, mode="center").width == 270


def test_a_subject_found_on_the_reduced_copy_is_boxed_in_source_pixels() -> None:
    pixels = np.full((3000, 4500, 3), 245, np.uint8)
    pixels[1200:2400, 3000:3600] = (20, 90, 160)  # a product on white, right of centre
    source = SourceImage.load(jpeg(pixels), max_pixels=10**8, sizes=[(1080, 1080)])

    plan = plan_crop(source, width=1080, height=1080, mode="smart")

    assert plan.placed_on == "subject" and plan.subject is not None
    x, y, w, h = plan.subject
    assert (x, y, x + w, y + h) == pytest.approx((3000, 1200, 3600, 2400), abs=40)
