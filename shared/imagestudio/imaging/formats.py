"""The image formats Image Studio reads and writes: one record a format, every fact the code needs.

Everything that asks "what media type is WebP", "which extension does a JPEG get", "can GIF hold
alpha" or "which formats may a studio output" reads this table (imgproxy's ``imagetype`` habit).
The ``Literal`` types below are spelled out for mypy and pydantic; a test checks each against the
table, so a format added here and not there (or the reverse) fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

#: What a studio renders its outputs as (create, edit, control, upscale, social, and what providers return).
OutputFormat = Literal["png", "jpeg", "webp"]
#: What the compress studio searches a quality for (PNG's is its palette's).
CompressFormat = Literal["jpeg", "png", "webp", "avif"]
#: Every format the convert route writes.
Encoding = Literal["jpeg", "png", "webp", "avif", "gif", "tiff", "bmp"]

#: Encoder qualities a request may name, where a format has one.
QUALITY_RANGE: Final = (1, 100)


@dataclass(frozen=True)
class ImageFormat:
    """One format's facts."""

    #: The name requests, jobs and ``inspect_image`` use.
    name: str
    #: Its media type (stored objects, HTTP responses, provider uploads).
    media_type: str
    #: The file extension outputs and stored uploads get (no dot).
    extension: str
    #: Holds an alpha channel (GIF's is one bit; BMP as Pillow writes it has none).
    alpha: bool
    #: Keeps every frame of an animation.
    animation: bool
    #: Has no quality setting when converting (PNG's quality is compress's palette search).
    lossless: bool
    #: Quality a conversion uses when the request names none (a conversion should not look converted).
    default_quality: int | None
    #: A studio may render it (``OutputFormat``); every image provider reads these three too.
    output: bool
    #: The compress studio searches a quality for it (``CompressFormat``).
    compressible: bool
    #: The convert route writes it (``Encoding``).
    encodable: bool
    #: Other media types an upload of it may be declared with.
    aliases: tuple[str, ...]
    #: What the header check reports for it when that is not ``name`` (libvips reads AVIF as HEIF).
    decoded_as: str | None


#: Every format, by name: one row a format, the columns in :class:`ImageFormat`'s order.
# fmt: off
FORMATS: Final[dict[str, ImageFormat]] = {row[0]: ImageFormat(*row) for row in (
    # name   media type    ext    alpha  anim.  lossless quality output compress convert aliases         read as
    ("jpeg", "image/jpeg", "jpg",  False, False, False,  90,     True,  True,    True,   (),             None),
    ("png",  "image/png",  "png",  True,  False, True,   None,   True,  True,    True,   (),             None),
    ("webp", "image/webp", "webp", True,  True,  False,  90,     True,  True,    True,   (),             None),
    ("avif", "image/avif", "avif", True,  False, False,  75,     False, True,    True,   (),             "heif"),
    ("gif",  "image/gif",  "gif",  True,  True,  True,   None,   False, False,   True,   (),             None),
    ("tiff", "image/tiff", "tiff", True,  False, True,   None,   False, False,   True,   (),             None),
    ("bmp",  "image/bmp",  "bmp",  False, False, True,   None,   False, False,   True,   (),             None),
    ("heif", "image/heif", "heic", True,  False, False,  None,   False, False,   False,  ("image/heic",), None),
)}
# fmt: on

#: Every media type an upload may be declared with.
UPLOAD_MEDIA_TYPES: Final = tuple(t for f in FORMATS.values() for t in (f.media_type, *f.aliases))


def media_type(name: str) -> str:
    """The media type of format ``name``."""
    return FORMATS[name].media_type


def extension(name: str) -> str:
    """The file extension (no dot) of format ``name``."""
    return FORMATS[name].extension


def by_media_type(declared: str) -> ImageFormat | None:
    """The format a media type names (its own or an alias), or None."""
    for fmt in FORMATS.values():
        if declared == fmt.media_type or declared in fmt.aliases:
            return fmt
    return None


def encodings(*, output: bool = False, compressible: bool = False) -> tuple[str, ...]:
    """The names of the formats the convert route writes, or only those a studio outputs or compress searches."""
    return tuple(
        f.name
        for f in FORMATS.values()
        if f.encodable and (f.output or not output) and (f.compressible or not compressible)
    )
