"""A source planned from its kept analysis (no pixels) answers every plan the decoded source does."""

from __future__ import annotations

import io

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw
from skimage import data as skimage_data

from imagestudio.imaging import SafeZone, SourceImage, plan_output, render_format
from imagestudio.imaging.crop import adopt_analysis, analyse, planning_source
from imagestudio.imaging.source import held_size

#: Outputs as a job asks for them: (width, height) and a safe zone (top, bottom, left, right).
OUTPUTS = [
    ((1080, 1350), SafeZone(0.05, 0.2, 0.05, 0.05)),
    ((1080, 1920), SafeZone(0.14, 0.35, 0.06, 0.06)),
    ((1500, 500), SafeZone(0.1, 0.1, 0.2, 0.2)),
    ((1200, 630), SafeZone(0.0, 0.0, 0.0, 0.0)),
]
SIZES = [size for size, _ in OUTPUTS]


def png(pixels: npt.NDArray[np.uint8]) -> bytes:
    """Lossless, so every decode of the test image is the same pixels."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def with_face() -> bytes:
    """The astronaut on the right of a wide grey frame: the crops are placed on the face."""
    canvas = np.full((1200, 2400, 3), 128, np.uint8)
    canvas[300:1100, 1500:2300] = cv2.resize(skimage_data.astronaut(), (800, 800))
    return png(canvas)


def with_subject() -> bytes:
    """A dark bottle on a plain white frame, off centre: placed on the subject."""
    image = Image.new("RGB", (2400, 1600), (246, 246, 246))
    ImageDraw.Draw(image).rounded_rectangle((300, 400, 650, 1400), radius=60, fill=(20, 60, 140))
    return png(np.asarray(image))


def busy() -> bytes:
    """Coffee and a cat side by side: no face, no subject on a plain ground, so libvips' attention."""
    coffee = cv2.resize(skimage_data.coffee(), (900, 600))
    cat = cv2.resize(skimage_data.chelsea(), (900, 600))
    return png(np.concatenate([coffee, cat], axis=1))


@pytest.mark.parametrize(
    ("image", "placed_on"), [(with_face, "faces"), (with_subject, "subject"), (busy, "attention")]
)
def test_a_plan_from_the_analysis_equals_the_decoded_sources(image: object, placed_on: str) -> None:
    assert callable(image)
    data = image()
    decoded = SourceImage.load(data, max_pixels=50_000_000, sizes=SIZES)
    analysis = analyse(decoded)
    assert analysis.held == held_size((analysis.width, analysis.height), SIZES)
    fresh = SourceImage.load(data, max_pixels=50_000_000, sizes=SIZES)
    kept = planning_source(analysis)
    for (width, height), zone in OUTPUTS:
        for focal in (None, (0.2, 0.7)):
            expected = plan_output(fresh, width=width, height=height, safe_zone=zone, focal_point=focal)
            assert (
                plan_output(kept, width=width, height=height, safe_zone=zone, focal_point=focal) == expected
            )
    first = plan_output(kept, width=1080, height=1350, safe_zone=OUTPUTS[0][1])
    assert first.placement is not None and first.placement.placed_on == placed_on
    # Not a source to render from: it holds no more than the attention model's small copy.
    with pytest.raises(ValueError, match="not loaded for"):
        render_format(kept, width=1080, height=1080)


def test_an_analysis_is_adopted_only_by_a_source_held_at_its_size() -> None:
    data = with_face()
    analysis = analyse(SourceImage.load(data, max_pixels=50_000_000, sizes=SIZES))
    same = SourceImage.load(data, max_pixels=50_000_000, sizes=SIZES)
    assert adopt_analysis(same, analysis) and same.faces == analysis.faces and analysis.faces
    smaller = SourceImage.load(data, max_pixels=50_000_000, sizes=[(320, 320)])
    assert (smaller.image.width, smaller.image.height) != analysis.held
    assert not adopt_analysis(smaller, analysis)
    assert smaller.faces is None  # left to be found on its own copy
