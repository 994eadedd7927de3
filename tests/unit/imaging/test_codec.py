"""Upload validation from the header, the worker's full decode, the upright sRGB source, size-limited encoding."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import pyvips  # type: ignore[import-untyped, unused-ignore]
from PIL import Image

from imagestudio.errors import ImageTooLarge, InvalidImage, ValidationFailed
from imagestudio.imaging import (
    ImageInfo,
    SourceImage,
    encode,
    inspect_image,
    provider_ready,
    verify_pixels,
)

MAX_PIXELS = 50_000_000
MAX_BYTES = 20_000_000


def inspect(data: bytes, *, field: str = "image") -> ImageInfo:
    """``inspect_image`` with generous limits."""
    return inspect_image(data, max_pixels=MAX_PIXELS, max_bytes=MAX_BYTES, field=field)


def image_bytes(image: Image.Image, fmt: str, **options: Any) -> bytes:
    """Encode a Pillow image in memory."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    """An RGB image of random pixels: incompressible, so byte sizes are large and predictable."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def with_orientation(image: Image.Image, orientation: int) -> bytes:
    """A JPEG of ``image`` (stored as is) carrying an EXIF orientation tag and a camera make."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SecretCam"
    return image_bytes(image, "JPEG", exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize(
    ("fmt", "mode", "expected", "alpha"),
    [
        ("PNG", "RGB", "png", False),
        ("PNG", "RGBA", "png", True),
        ("JPEG", "RGB", "jpeg", False),
        ("WEBP", "RGB", "webp", False),
        ("GIF", "RGB", "gif", False),
        ("TIFF", "RGB", "tiff", False),
        ("BMP", "RGB", "bmp", False),
    ],
)
def test_inspect_reports_format_size_and_alpha(fmt: str, mode: str, expected: str, alpha: bool) -> None:
    data = image_bytes(Image.new(mode, (123, 45), "teal"), fmt)

    info = inspect(data)

    assert (info.format, info.width, info.height) == (expected, 123, 45)
    assert info.has_alpha is alpha
    assert info.orientation == 1


def test_inspect_swaps_sides_for_exif_orientation_6() -> None:
    data = with_orientation(Image.new("RGB", (400, 200), "white"), 6)

    info = inspect(data)

    assert (info.width, info.height, info.orientation) == (200, 400, 6)


def test_inspect_rejects_text_naming_the_field() -> None:
    with pytest.raises(InvalidImage) as caught:
        inspect(b"this is a text file, not a picture\n" * 10, field="photo")

    assert caught.value.field == "photo"
    assert "photo" in caught.value.detail


def test_inspect_rejects_empty_bytes() -> None:
    with pytest.raises(InvalidImage, match="empty"):
        inspect(b"")


def test_inspect_rejects_a_format_we_do_not_accept() -> None:
    data = image_bytes(Image.new("RGB", (32, 32), "red"), "ICO")

    with pytest.raises(InvalidImage, match="unsupported"):
        inspect(data)


def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every libvips call that would decode pixels fail the test."""

    def decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("pixels were decoded")

    for operation in ("avg", "copy_memory", "autorot", "numpy", "write_to_memory"):
        monkeypatch.setattr(pyvips.Image, operation, decoding, raising=False)


def corrupt_png(width: int = 300, height: int = 200) -> bytes:
    """A PNG whose header is sound but whose compressed pixel data has 64 bytes flipped."""
    data = bytearray(image_bytes(noise(width, height), "PNG"))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    return bytes(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP"])
def test_inspect_reads_only_the_header_so_a_file_cut_in_half_passes(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = image_bytes(noise(300, 200), fmt)
    no_pixel_decoding(monkeypatch)

    info = inspect(data[: len(data) // 2])

    assert (info.format, info.width, info.height) == (fmt.lower(), 300, 200)


def test_inspect_reads_only_the_header_so_a_corrupt_png_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    no_pixel_decoding(monkeypatch)

    info = inspect(corrupt_png())

    assert (info.format, info.width, info.height) == ("png", 300, 200)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP"])
def test_the_worker_decode_refuses_a_file_cut_in_half_naming_the_field(fmt: str) -> None:
    data = image_bytes(noise(300, 200), fmt)

    with pytest.raises(InvalidImage, match="truncated or corrupt") as caught:
        verify_pixels(data[: len(data) // 2], max_pixels=MAX_PIXELS, field="photo")

    assert caught.value.field == "photo"


def test_the_worker_decode_refuses_a_corrupt_png() -> None:
    with pytest.raises(InvalidImage, match="PNG file is truncated or corrupt"):
        verify_pixels(corrupt_png(), max_pixels=MAX_PIXELS)


def test_the_worker_decode_accepts_a_sound_image() -> None:
    verify_pixels(image_bytes(noise(300, 200), "JPEG"), max_pixels=MAX_PIXELS)
    verify_pixels(image_bytes(noise(30, 20), "BMP"), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_an_upright_jpeg_png_or_webp_goes_to_a_provider_as_it_is(fmt: str) -> None:
    data = image_bytes(noise(64, 48), fmt)

    assert provider_ready(data, max_pixels=MAX_PIXELS) == data


@pytest.mark.parametrize(
    ("fmt", "mode", "sent"),
    [("BMP", "RGB", "JPEG"), ("TIFF", "RGB", "JPEG"), ("GIF", "P", "JPEG"), ("TIFF", "RGBA", "PNG")],
)
def test_a_format_providers_cannot_read_is_re_encoded_for_them(fmt: str, mode: str, sent: str) -> None:
    data = image_bytes(Image.new(mode, (64, 48), 3 if mode == "P" else "teal"), fmt)

    ready = Image.open(io.BytesIO(provider_ready(data, max_pixels=MAX_PIXELS)))

    assert (ready.format, ready.size) == (sent, (64, 48))


def test_a_photo_with_an_exif_turn_goes_to_a_provider_upright() -> None:
    """Limits and mask sizes were checked on the upright size: the provider must see that size."""
    upright = Image.new("RGB", (96, 64), "white")
    upright.paste((220, 20, 20), (0, 0, 48, 32))  # red top-left quadrant
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways writes

    ready = Image.open(io.BytesIO(provider_ready(with_orientation(stored, 6), max_pixels=MAX_PIXELS)))

    assert ready.size == (96, 64) and ready.getexif().get(0x0112, 1) == 1
    red, _, blue = ready.convert("RGB").getpixel((10, 10))  # type: ignore[misc]
    assert red > 180 and blue < 80


def test_a_damaged_file_is_refused_before_it_is_re_encoded_for_a_provider() -> None:
    data = image_bytes(noise(300, 200), "BMP")

    with pytest.raises(InvalidImage, match="truncated or corrupt") as caught:
        provider_ready(data[: len(data) // 2], max_pixels=MAX_PIXELS, field="mask")

    assert caught.value.field == "mask"


def test_alpha_and_orientation_come_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    rgba = image_bytes(Image.new("RGBA", (64, 48), (0, 0, 0, 0)), "PNG")
    turned = with_orientation(Image.new("RGB", (64, 48), "white"), 8)
    no_pixel_decoding(monkeypatch)

    assert inspect(rgba).has_alpha is True
    assert (inspect(turned).width, inspect(turned).orientation, inspect(turned).has_alpha) == (48, 8, False)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF"])
def test_an_animation_counts_every_frame_against_the_pixel_limit(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = [Image.new("RGB", (100, 80), (40 * i, 0, 0)) for i in range(7)]
    data = image_bytes(frames[0], fmt, save_all=True, append_images=frames[1:])
    no_pixel_decoding(monkeypatch)

    with pytest.raises(ImageTooLarge) as caught:
        inspect_image(data, max_pixels=50_000, max_bytes=MAX_BYTES)  # one frame is 8,000 pixels

    assert "7 frames of 100x80" in caught.value.detail and "56,000 pixels" in caught.value.detail
    assert caught.value.field == "image" and caught.value.status == 413
    assert inspect_image(data, max_pixels=56_000, max_bytes=MAX_BYTES).width == 100


def test_load_rejects_a_truncated_jpeg_too() -> None:
    data = image_bytes(noise(300, 200), "JPEG")

    with pytest.raises(InvalidImage):
        SourceImage.load(data[: len(data) // 2], max_pixels=MAX_PIXELS)


def test_decompression_bomb_is_refused_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    # 400 million pixels that compress to ~50 kB: decoding it would need 400 MB.
    bomb = image_bytes(Image.new("1", (20_000, 20_000)), "PNG")
    assert len(bomb) < 100_000

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("pixels were decoded")

    for operation in ("avg", "copy_memory", "autorot"):
        monkeypatch.setattr(pyvips.Image, operation, no_decoding, raising=False)

    with pytest.raises(ImageTooLarge) as caught:
        inspect(bomb)
    assert "20000x20000" in caught.value.detail
    assert "50,000,000" in caught.value.detail
    with pytest.raises(ImageTooLarge):
        SourceImage.load(bomb, max_pixels=MAX_PIXELS)


def test_inspect_rejects_too_many_bytes_saying_the_limit() -> None:
    data = image_bytes(noise(200, 200), "PNG")

    with pytest.raises(ImageTooLarge) as caught:
        inspect_image(data, max_pixels=10**8, max_bytes=1000)

    assert f"{len(data):,} bytes" in caught.value.detail
    assert "1,000 bytes" in caught.value.detail
    assert caught.value.status == 413


def test_load_turns_the_pixels_upright() -> None:
    stored = Image.new("RGB", (400, 200), "white")
    stored.paste((255, 0, 0), (0, 0, 40, 40))  # marker at the stored top-left

    source = SourceImage.load(with_orientation(stored, 6), max_pixels=10**8)

    # Orientation 6 means "rotate 90° clockwise to view": top-left moves to top-right.
    assert (source.width, source.height) == (200, 400)
    red, green, _ = source.image.getpoint(190, 10)[:3]
    assert red > 200 and green < 60
    assert source.image.getpoint(10, 10)[1] > 200  # the old corner is white now


def test_load_converts_cmyk_to_srgb() -> None:
    data = image_bytes(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG")

    source = SourceImage.load(data, max_pixels=10**8)

    assert source.image.bands == 3 and source.image.interpretation == "srgb"
    red, green, blue = source.image.getpoint(10, 10)
    assert red > 180 and green < 90 and blue < 90


def test_load_honours_an_embedded_wide_gamut_profile() -> None:
    original = (200, 100, 50)
    srgb = pyvips.Image.black(32, 32, bands=3).new_from_image(list(original)).copy(interpretation="srgb")
    p3 = srgb.icc_transform("p3")  # values re-encoded for Display P3, P3 profile embedded
    data = bytes(p3.write_to_buffer(".png"))
    raw = [int(v) for v in pyvips.Image.new_from_buffer(data, "").getpoint(5, 5)]
    assert max(abs(a - b) for a, b in zip(raw, original, strict=True)) > 8  # the test means something

    source = SourceImage.load(data, max_pixels=10**8)

    restored = [int(v) for v in source.image.getpoint(5, 5)]
    assert max(abs(a - b) for a, b in zip(restored, original, strict=True)) <= 3
    assert not source.image.get_typeof("icc-profile-data")


def test_load_makes_grey_and_16_bit_images_8_bit_rgb() -> None:
    grey = image_bytes(Image.new("L", (20, 10), 77), "PNG")
    deep = pyvips.Image.black(20, 10, bands=3).new_from_image([65535, 0, 32768]).cast("ushort")
    deep_png = bytes(deep.copy(interpretation="rgb16").write_to_buffer(".png"))

    for data in (grey, deep_png):
        image = SourceImage.load(data, max_pixels=10**8).image
        assert (image.bands, image.format, image.interpretation) == (3, "uchar", "srgb")


def test_encode_steps_quality_down_to_fit_the_byte_limit() -> None:
    image = pyvips.Image.new_from_array(np.asarray(noise(1080, 1080)), interpretation="srgb")
    full, _, _ = encode(image, output_format="jpeg", quality=90)
    limit = len(full) // 2

    data, quality, fits = encode(image, output_format="jpeg", quality=90, max_bytes=limit)

    assert fits and len(data) <= limit
    assert quality is not None and 40 <= quality < 90
    # The best quality that fits was chosen, not just any: one step up no longer fits.
    above, _, _ = encode(image, output_format="jpeg", quality=quality + 1)
    assert len(above) > limit


@pytest.mark.parametrize(("fmt", "floor"), [("jpeg", 40), ("webp", 40), ("png", None)])
def test_encode_reports_a_limit_it_cannot_meet(fmt: str, floor: int | None) -> None:
    image = pyvips.Image.new_from_array(np.asarray(noise(300, 300)), interpretation="srgb")

    data, quality, fits = encode(image, output_format=fmt, quality=90, max_bytes=500)  # type: ignore[arg-type]

    assert not fits and len(data) > 500
    assert quality == floor
    assert Image.open(io.BytesIO(data)).format == fmt.upper()


def test_encode_refuses_unknown_format_and_bad_quality() -> None:
    image = pyvips.Image.black(4, 4, bands=3)
    with pytest.raises(ValidationFailed) as caught:
        encode(image, output_format="gif", quality=90)  # type: ignore[arg-type]
    assert caught.value.field == "output_format"
    with pytest.raises(ValidationFailed) as caught:
        encode(image, output_format="jpeg", quality=0)
    assert caught.value.field == "quality"
