"""Rendering platform formats: exact sizes and formats, colour handling, letterboxing, previews, zips."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pytest
import pyvips  # type: ignore[import-untyped, unused-ignore]
from PIL import Image

from imagestudio.errors import ValidationFailed
from imagestudio.imaging import (
    CropMode,
    OutputFormat,
    SafeZone,
    SourceImage,
    render_format,
    safe_zone_overlay,
    zip_outputs,
)


def image_bytes(image: Image.Image, fmt: str, **options: Any) -> bytes:
    """Encode a Pillow image in memory."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def load(image: Image.Image, fmt: str = "PNG", **options: Any) -> SourceImage:
    """A SourceImage from a Pillow image, through real encoded bytes."""
    return SourceImage.load(image_bytes(image, fmt, **options), max_pixels=10**8)


def reopen(data: bytes) -> Image.Image:
    """Decode an output the way a client would."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture(scope="module")
def photo() -> SourceImage:
    """A 900x600 picture with gradients and shapes: something worth resampling."""
    y, x = np.mgrid[0:600, 0:900]
    pixels = np.stack([x * 255 // 899, y * 255 // 599, (x + y) % 256], axis=2).astype(np.uint8)
    pixels[200:400, 350:550] = (250, 250, 20)
    return load(Image.fromarray(pixels))


@pytest.mark.parametrize("mode", ["smart", "center", "fit"])
@pytest.mark.parametrize("output_format", ["jpeg", "png", "webp"])
@pytest.mark.parametrize(("width", "height"), [(333, 517), (1080, 1080)])  # down, and up from 900x600
def test_render_has_the_exact_size_and_format(
    photo: SourceImage, mode: CropMode, output_format: OutputFormat, width: int, height: int
) -> None:
    rendered = render_format(photo, width=width, height=height, mode=mode, output_format=output_format)

    image = reopen(rendered.data)
    assert image.size == (width, height) == (rendered.width, rendered.height)
    assert image.format == output_format.upper()
    assert rendered.content_type == f"image/{output_format}"
    assert rendered.quality == (None if output_format == "png" else 90)
    assert rendered.fits_size_limit
    if mode == "fit":
        assert rendered.crop_box is None
    else:
        assert rendered.crop_box is not None
        _, _, box_w, box_h = rendered.crop_box
        assert abs(box_w / box_h - width / height) < 0.01


def test_render_follows_exif_orientation() -> None:
    stored = Image.new("RGB", (400, 200), "white")
    stored.paste((255, 0, 0), (0, 0, 60, 60))  # marker at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6
    source = load(stored, "JPEG", exif=exif.tobytes(), quality=95)

    rendered = render_format(source, width=100, height=200, mode="center", output_format="png")

    image = reopen(rendered.data).convert("RGB")
    assert image.size == (100, 200)
    top_right, top_left = image.getpixel((95, 5)), image.getpixel((5, 5))
    assert isinstance(top_right, tuple) and isinstance(top_left, tuple)
    assert top_right[0] > 200 and top_right[1] < 60  # rotated 90° clockwise: red in the top-right
    assert min(top_left) > 200


@pytest.mark.parametrize("output_format", ["jpeg", "png", "webp"])
def test_render_strips_all_metadata(output_format: OutputFormat) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    exif[0x0131] = "EditorWithVersion 1.2"
    source = load(Image.new("RGB", (300, 200), "orange"), "JPEG", exif=exif.tobytes())

    rendered = render_format(source, width=150, height=100, output_format=output_format)

    assert b"SecretCam" not in rendered.data and b"EditorWithVersion" not in rendered.data
    image = reopen(rendered.data)
    assert not image.getexif()
    assert "exif" not in image.info and "icc_profile" not in image.info


def test_render_turns_cmyk_into_srgb() -> None:
    source = load(Image.new("CMYK", (200, 200), (0, 255, 255, 0)), "JPEG")

    rendered = render_format(source, width=100, height=100, output_format="png")

    image = reopen(rendered.data)
    assert image.mode == "RGB"
    red, green, blue = np.asarray(image)[50, 50]
    assert red > 180 and green < 90 and blue < 90


def test_render_converts_a_wide_gamut_profile_to_srgb() -> None:
    original = np.array([40, 160, 90])
    srgb = pyvips.Image.black(64, 64, bands=3).new_from_image(original.tolist()).copy(interpretation="srgb")
    source = SourceImage.load(bytes(srgb.icc_transform("p3").write_to_buffer(".png")), max_pixels=10**8)

    rendered = render_format(source, width=32, height=32, output_format="png")

    image = reopen(rendered.data)
    assert image.mode == "RGB" and "icc_profile" not in image.info
    assert np.abs(np.asarray(image)[16, 16].astype(int) - original).max() <= 3


def test_render_flattens_alpha_on_white_for_jpeg_and_keeps_it_for_png() -> None:
    picture = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    picture.paste((0, 0, 255, 255), (50, 50, 150, 150))
    source = load(picture)
    assert source.has_alpha

    as_jpeg = np.asarray(reopen(render_format(source, width=100, height=100, mode="center").data))
    as_png = reopen(render_format(source, width=100, height=100, mode="center", output_format="png").data)

    assert as_jpeg.shape == (100, 100, 3)
    assert as_jpeg[5, 5].min() > 245  # transparent became white, not black
    assert as_jpeg[50, 50, 2] > 230 and as_jpeg[50, 50, :2].max() < 30
    assert as_png.mode == "RGBA" and np.asarray(as_png)[5, 5, 3] == 0


def test_fit_letterboxes_on_the_requested_colour() -> None:
    source = load(Image.new("RGB", (400, 200), (255, 255, 255)))

    rendered = render_format(
        source, width=300, height=300, mode="fit", background="#1E90ff", output_format="png"
    )

    pixels = np.asarray(reopen(rendered.data))
    # 400x200 fitted into 300x300 is 300x150: bands of 75 px above and below.
    assert (pixels[:70] == (0x1E, 0x90, 0xFF)).all()
    assert (pixels[-70:] == (0x1E, 0x90, 0xFF)).all()
    assert (pixels[80:220] == 255).all()


def test_fit_auto_background_samples_the_border_colour() -> None:
    picture = Image.new("RGB", (200, 400), (20, 120, 110))  # teal frame
    picture.paste((250, 240, 10), (40, 60, 160, 340))  # a yellow subject inside it
    source = load(picture)

    rendered = render_format(source, width=400, height=400, mode="fit", output_format="png")

    pixels = np.asarray(reopen(rendered.data)).astype(int)
    for band in (pixels[:, :90], pixels[:, -90:]):
        assert np.abs(band - (20, 120, 110)).max() <= 2


def test_fit_blur_background_is_made_from_the_image() -> None:
    picture = Image.new("RGB", (200, 400), (200, 30, 30))
    picture.paste((30, 30, 200), (0, 200, 200, 400))  # red top half, blue bottom half
    source = load(picture)

    rendered = render_format(
        source, width=400, height=400, mode="fit", background="blur", output_format="png"
    )

    pixels = np.asarray(reopen(rendered.data)).astype(int)
    top_band, bottom_band = pixels[20, 20], pixels[380, 20]
    assert top_band[0] > top_band[2] + 60  # reddish, like the image above it
    assert bottom_band[2] > bottom_band[0] + 60  # bluish


def test_render_steps_quality_down_for_max_bytes() -> None:
    rng = np.random.default_rng(3)
    source = load(Image.fromarray(rng.integers(0, 256, (1080, 1080, 3), dtype=np.uint8)), compress_level=1)

    rendered = render_format(source, width=1080, height=1080, quality=92, max_bytes=400_000)
    hopeless = render_format(source, width=1080, height=1080, quality=92, max_bytes=20_000)

    assert rendered.fits_size_limit and len(rendered.data) <= 400_000
    assert rendered.quality is not None and rendered.quality < 92
    assert not hopeless.fits_size_limit and hopeless.quality == 40


@pytest.mark.parametrize("background", ["red", "#12345", "#gg0000", "", "rgb(1,2,3)"])
def test_render_refuses_a_bad_background(photo: SourceImage, background: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        render_format(photo, width=100, height=100, mode="fit", background=background)
    assert caught.value.field == "background"


@pytest.mark.parametrize("focal_point", [(1.2, 0.5), (0.5, -0.1), (float("nan"), 0.5)])
def test_render_refuses_a_focal_point_outside_the_image(
    photo: SourceImage, focal_point: tuple[float, float]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        render_format(photo, width=100, height=100, focal_point=focal_point)
    assert caught.value.field == "focal_point"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"mode": "stretch"}, "mode"),
        ({"width": 0}, "width"),
        ({"height": 100_000}, "height"),
        ({"quality": 101}, "quality"),
        ({"output_format": "bmp"}, "output_format"),
    ],
)
def test_render_refuses_bad_options(photo: SourceImage, options: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {"width": 100, "height": 100, **options}
    with pytest.raises(ValidationFailed) as caught:
        render_format(photo, **arguments)
    assert caught.value.field == field


def test_safe_zone_overlay_shades_outside_and_outlines_the_zone() -> None:
    source = load(Image.new("RGB", (540, 960), (160, 160, 160)))
    rendered = render_format(source, width=540, height=960, output_format="jpeg")
    zone = SafeZone(top=0.1, bottom=0.2, left=0.05, right=0.1)

    preview = safe_zone_overlay(rendered, zone)

    image = reopen(preview.data)
    assert image.format == "PNG" and preview.format == "png" and preview.content_type == "image/png"
    assert image.size == (540, 960) == (preview.width, preview.height)
    pixels = np.asarray(image.convert("RGB")).astype(int)
    inside = pixels[300, 270].sum()
    for outside in (pixels[20, 270], pixels[940, 270], pixels[480, 5], pixels[480, 530]):
        assert outside.sum() < inside * 0.7
    # The border sits on the zone's edge (left = 27 px, top = 96 px) in a colour no photo pixel has here.
    assert tuple(pixels[480, 27]) == (255, 0, 255)
    assert tuple(pixels[96, 270]) == (255, 0, 255)


@pytest.mark.parametrize(
    ("edges", "valid"), [((0.1, 0.1, 0.1, 0.1), True), ((0.6, 0.5, 0, 0), False), ((-0.1, 0, 0, 0), False)]
)
def test_safe_zone_refuses_margins_that_leave_nothing(edges: tuple[float, ...], valid: bool) -> None:
    if valid:
        SafeZone(*edges)
        return
    with pytest.raises(ValidationFailed) as caught:
        SafeZone(*edges)
    assert caught.value.field == "safe_zone"


def test_zip_outputs_keeps_names_sanitised_and_unique() -> None:
    files = [
        ("instagram_post.jpg", b"one"),
        ("story.png", b"two"),
        ("../../etc/passwd", b"three"),
        ("instagram_post.jpg", b"four"),
        ("C:\\Users\\me\\cover photo.webp", b"five"),
        ("", b"six"),
    ]

    archive = zipfile.ZipFile(io.BytesIO(zip_outputs(files)))

    assert archive.testzip() is None
    assert archive.namelist() == [
        "instagram_post.jpg",
        "story.png",
        "passwd",
        "instagram_post-2.jpg",
        "cover_photo.webp",
        "file",
    ]
    assert [archive.read(name) for name in archive.namelist()] == [data for _, data in files]
    assert archive.getinfo("story.png").compress_type == zipfile.ZIP_STORED
