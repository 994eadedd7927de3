"""Choosing the crop box: largest box of the aspect, kept on salient content, faces or a focal point."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from skimage import data as skimage_data

from imagestudio.imaging import SourceImage, detect_faces, render_format
from imagestudio.imaging import crop as crop_module
from imagestudio.imaging.crop import plan_crop

Box = tuple[int, int, int, int]

#: skimage's 512x512 photo of an astronaut (the function is untyped).
astronaut: Callable[[], npt.NDArray[np.uint8]] = skimage_data.astronaut
#: Where the red object sits in the ``salient`` fixture: (left, top, right, bottom).
OBJECT: tuple[int, int, int, int] = (90, 420, 250, 580)
#: Where the astronaut photo is pasted on the ``portrait`` canvas.
PASTE_X, PASTE_Y = 1850, 44
#: The astronaut's face inside skimage's 512x512 photo (generous: eyebrows to chin).
FACE_IN_PHOTO: tuple[int, int, int, int] = (170, 60, 280, 210)


def load(pixels: npt.NDArray[np.uint8]) -> SourceImage:
    """A SourceImage through real PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return SourceImage.load(buffer.getvalue(), max_pixels=10**8)


def contains(box: Box, region: tuple[int, int, int, int]) -> bool:
    """Whether the (left, top, width, height) box holds the (left, top, right, bottom) region."""
    left, top, width, height = box
    return left <= region[0] and top <= region[1] and region[2] <= left + width and region[3] <= top + height


@pytest.fixture(scope="module")
def salient() -> SourceImage:
    """2000x1000 flat grey with fine noise texture and one bright red object near the left edge."""
    rng = np.random.default_rng(7)
    grey = np.clip(128 + rng.normal(0, 10, (1000, 2000)), 0, 255).astype(np.uint8)
    pixels = np.repeat(grey[:, :, None], 3, axis=2)
    left, top, right, bottom = OBJECT
    pixels[top:bottom, left:right] = (240, 20, 10)
    return load(pixels)


def portrait_pixels() -> npt.NDArray[np.uint8]:
    """2400x600 grey: a loud red/green checkerboard on the left, the astronaut photo at the right end."""
    rng = np.random.default_rng(11)
    grey = np.clip(128 + rng.normal(0, 10, (600, 2400)), 0, 255).astype(np.uint8)
    pixels = np.repeat(grey[:, :, None], 3, axis=2)
    y, x = np.mgrid[0:600, 0:900]
    squares = ((x // 80 + y // 80) % 2 == 0)[:, :, None]
    pixels[:, :900] = np.where(squares, np.array([255, 0, 0], np.uint8), np.array([0, 255, 0], np.uint8))
    pixels[PASTE_Y : PASTE_Y + 512, PASTE_X : PASTE_X + 512] = astronaut()
    return pixels


@pytest.fixture(scope="module")
def portrait() -> SourceImage:
    """The portrait canvas, decoded."""
    return load(portrait_pixels())


def face_region() -> tuple[int, int, int, int]:
    """The astronaut's face in canvas pixels."""
    left, top, right, bottom = FACE_IN_PHOTO
    return left + PASTE_X, top + PASTE_Y, right + PASTE_X, bottom + PASTE_Y


def test_crop_box_is_the_largest_box_of_the_target_aspect(salient: SourceImage) -> None:
    assert plan_crop(salient, width=1080, height=1920, mode="center").box == (719, 0, 562, 1000)
    assert plan_crop(salient, width=1200, height=400, mode="center").box in {
        (0, 166, 2000, 667),
        (0, 167, 2000, 667),
    }
    assert plan_crop(salient, width=100, height=50, mode="smart").box == (0, 0, 2000, 1000)


def test_smart_crop_keeps_the_salient_object_that_center_cuts(salient: SourceImage) -> None:
    smart = plan_crop(salient, width=1080, height=1920, mode="smart").box
    center = plan_crop(salient, width=1080, height=1920, mode="center").box

    assert contains(smart, OBJECT)
    assert not contains(center, OBJECT)
    assert detect_faces(salient) == ()  # it was saliency, not a face, that placed the box


@pytest.mark.parametrize(("width", "height"), [(1080, 1080), (1080, 1920)])
def test_smart_crop_keeps_the_face(portrait: SourceImage, width: int, height: int) -> None:
    faces = detect_faces(portrait)
    assert faces, "the Haar cascade found no face in the astronaut photo"
    x, y, w, h = faces[0]
    face_left, face_top, face_right, face_bottom = face_region()
    assert face_left <= x + w / 2 <= face_right and face_top <= y + h / 2 <= face_bottom

    smart = plan_crop(portrait, width=width, height=height, mode="smart").box
    center = plan_crop(portrait, width=width, height=height, mode="center").box

    assert contains(smart, face_region())
    assert not contains(center, face_region())
    # Without the face, saliency alone prefers the loud checkerboard: the face is what decided.
    faceless = load(portrait_pixels())
    faceless.faces = ()
    assert not contains(plan_crop(faceless, width=width, height=height, mode="smart").box, face_region())


def test_face_detection_runs_once_per_source(portrait: SourceImage, monkeypatch: pytest.MonkeyPatch) -> None:
    detect_faces(portrait)

    def detector_called_again(*args: object) -> None:
        raise AssertionError("faces were detected twice")

    monkeypatch.setattr(crop_module, "_detect_faces", detector_called_again)
    plan_crop(portrait, width=1080, height=1350, mode="smart")
    render_format(portrait, width=108, height=192, mode="smart")


def test_focal_point_overrides_smart_and_center(salient: SourceImage, portrait: SourceImage) -> None:
    on_the_right = plan_crop(salient, width=1080, height=1920, mode="smart", focal_point=(0.95, 0.5)).box
    on_the_left = plan_crop(portrait, width=1080, height=1080, mode="center", focal_point=(0.0, 0.0)).box

    assert on_the_right == (2000 - 562, 0, 562, 1000)
    assert not contains(on_the_right, OBJECT)
    assert on_the_left == (0, 0, 600, 600)


def test_focal_point_is_centred_as_far_as_the_edges_allow(salient: SourceImage) -> None:
    left, top, width, height = plan_crop(
        salient, width=1080, height=1920, mode="smart", focal_point=(0.5, 0.5)
    ).box

    assert (left + width / 2, top + height / 2) == pytest.approx((1000, 500), abs=1)


def test_rendered_smart_crop_shows_the_object(salient: SourceImage) -> None:
    rendered = render_format(salient, width=270, height=480, mode="smart", output_format="png")

    pixels = np.asarray(Image.open(io.BytesIO(rendered.data)).convert("RGB")).astype(int)
    red = (pixels[:, :, 0] > 200) & (pixels[:, :, 1] < 80)
    # The 160x160 object shrinks by 270/562 to ~77x77 px: all of it should be in the frame.
    assert red.sum() > 70 * 70
