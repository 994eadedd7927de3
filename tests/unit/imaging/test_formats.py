"""The one table of image formats: the Literal types agree with it, and every lookup reads it."""

from __future__ import annotations

from typing import get_args

import pytest

from imagestudio.imaging.compress import ALPHA_FORMATS, ANIMATED_FORMATS, LOSSLESS_FORMATS
from imagestudio.imaging.formats import (
    FORMATS,
    UPLOAD_MEDIA_TYPES,
    CompressFormat,
    Encoding,
    OutputFormat,
    by_media_type,
    encodings,
    extension,
    media_type,
)


@pytest.mark.parametrize(
    ("literal", "flags"),
    [(OutputFormat, {"output": True}), (CompressFormat, {"compressible": True}), (Encoding, {})],
)
def test_each_format_literal_names_the_formats_the_table_marks(
    literal: object, flags: dict[str, bool]
) -> None:
    assert set(get_args(literal)) == set(encodings(**flags))


def test_output_formats_are_the_three_every_provider_reads() -> None:
    assert set(get_args(OutputFormat)) == {"jpeg", "png", "webp"}


def test_compress_sets_are_read_off_the_table() -> None:
    assert ALPHA_FORMATS == {"png", "webp", "avif", "gif", "tiff"}
    assert ANIMATED_FORMATS == {"webp", "gif"}
    assert LOSSLESS_FORMATS == {"png", "gif", "tiff", "bmp"}


def test_jpeg_gets_the_jpg_extension_and_its_media_type() -> None:
    assert (extension("jpeg"), media_type("jpeg")) == ("jpg", "image/jpeg")


@pytest.mark.parametrize("declared", UPLOAD_MEDIA_TYPES)
def test_every_upload_media_type_names_a_format_the_header_check_can_report(declared: str) -> None:
    fmt = by_media_type(declared)
    assert fmt is not None
    assert (fmt.decoded_as or fmt.name) in FORMATS


def test_heic_and_avif_uploads_are_checked_as_heif() -> None:
    heic, avif = by_media_type("image/heic"), by_media_type("image/avif")
    assert heic is not None and avif is not None
    assert (heic.name, avif.decoded_as) == ("heif", "heif")
    assert by_media_type("image/svg+xml") is None


def test_lossy_formats_have_a_default_quality_and_lossless_ones_none() -> None:
    for fmt in FORMATS.values():
        if fmt.encodable and fmt.name != "png":
            assert (fmt.default_quality is None) == fmt.lossless, fmt.name
