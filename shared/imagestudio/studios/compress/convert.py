"""``POST /convert``: the compress studio's second route, converting one image to another format.

A job of studio ``compress`` (its queue, worker and stored params); only the request differs:
a target format, transparency preserved or flattened on a colour, the colour space, metadata.
Animated GIF and WebP keep every frame when converted to WebP or GIF. ``GET /compress/options``
(:func:`describe_options`) is built here, where both routes' models are known: compress cannot
import this module, which builds on it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.errors import ValidationFailed
from imagestudio.imaging.colour import is_hex_colour
from imagestudio.imaging.compress import (
    ALPHA_FORMATS,
    ANIMATED_FORMATS,
    LOSSLESS_FORMATS,
    MAX_SEARCH_ENCODES,
    avif_supported,
)
from imagestudio.imaging.formats import FORMATS, Encoding
from imagestudio.studios import compress
from imagestudio.studios.common.base import Images, Prepared
from imagestudio.studios.common.http_routes import CatalogueRoute, SubmitRoute
from imagestudio.studios.common.pricing import Estimate
from imagestudio.studios.common.request import EXAMPLE_UPLOAD, ImageRequest, examples
from imagestudio.studios.compress import ColourSpace, CompressParams, Metadata, Transparency
from imagestudio.studios.compress.catalogue import CompressOptions, CompressPresets

__all__ = [
    "ROUTE",
    "CATALOGUES",
    "list_options",
    "list_presets",
    "ConvertRequest",
    "Request",
    "check",
    "describe_options",
    "estimate",
    "name",
    "prepare",
    "price",
    "run",
]

#: The studio the job belongs to: convert is a route of the compress studio, not a studio of its own.
name = compress.name
run = compress.run
price = compress.price


class ConvertRequest(ImageRequest):
    """``POST /convert``: one image and the format to convert it to."""

    model_config = examples(
        {"image": EXAMPLE_UPLOAD, "format": "webp"},
        {"image": EXAMPLE_UPLOAD, "format": "jpeg", "transparency": "flatten", "background": "#000000"},
    )

    format: Encoding = Field(description="Target format (avif where this server's libvips writes it)")
    quality: int | None = Field(
        default=None, ge=1, le=100, description="JPEG, WebP and AVIF only; default 90 (AVIF 75)"
    )
    transparency: Transparency | None = Field(
        default=None, description="preserve (formats with alpha) or flatten; default preserve where possible"
    )
    background: str | None = Field(
        default=None, max_length=7, description="#rrggbb the image is flattened on (default #ffffff)"
    )
    colour_space: ColourSpace = Field(default="srgb", description="srgb: converted through the ICC profile")
    metadata: Metadata = Field(default="keep", description="keep or strip EXIF, XMP, IPTC (and sRGB ICC)")
    progressive: bool = Field(default=True, description="JPEG: progressive scans")

    def to_params(self) -> CompressParams:
        """The job's params; contradictions refused naming the field."""
        fmt = self.format
        if fmt == "avif" and not avif_supported():
            raise ValidationFailed("format", "this server's libvips cannot write AVIF; use webp or png")
        if self.transparency == "preserve" and fmt not in ALPHA_FORMATS:
            raise ValidationFailed(
                "transparency", f"{fmt} has no alpha channel; use flatten or another format"
            )
        if self.background is not None:
            if not is_hex_colour(self.background):
                raise ValidationFailed("background", "use a #rrggbb colour")
            if self.transparency == "preserve":
                raise ValidationFailed(
                    "background", "a background is for flattening; transparency is preserve"
                )
        if self.quality is not None and fmt in LOSSLESS_FORMATS:
            raise ValidationFailed("quality", f"{fmt} is lossless here; compress PNG with POST /compress")
        flatten = self.transparency == "flatten" or (
            self.transparency is None and self.background is not None
        )
        return CompressParams(
            operation="convert",
            format=fmt,
            mode="lossless" if fmt in LOSSLESS_FORMATS else "quality",
            quality=None if fmt in LOSSLESS_FORMATS else self.quality or FORMATS[fmt].default_quality,
            metadata=self.metadata,
            progressive=self.progressive,
            transparency="flatten" if flatten else self.transparency,
            background=(self.background or "#ffffff").lower(),
            colour_space=self.colour_space,
        )


Request = ConvertRequest


def check(request: ConvertRequest, *, files: Collection[str]) -> None:
    """Refuse what needs no image: alpha kept in a format without one, a quality for a lossless format."""
    request.to_params()


def prepare(session: Session, *, tenant_id: str, request: ConvertRequest, images: Images) -> Prepared:
    """The job's params and its one image; a BMP over the lossless output cap is refused here."""
    params = request.to_params()
    for _, info in images.values():
        compress.check_output_size(params.format, info.width, info.height)
    return Prepared(params=params, images=[image for image, _ in images.values()], cost=price(params))


def estimate(request: dict[str, Any], allowed: Collection[str]) -> Estimate:
    """Price a convert request in the route's own terms."""
    ConvertRequest.model_validate({"image": "upl_x", **request}).to_params()
    return compress.estimate_compress("convert")


def describe_options() -> dict[str, Any]:
    """``GET /compress/options``: the formats this server writes, the presets and every field of both routes."""
    avif = avif_supported()
    formats = [
        {
            "id": fmt,
            "compress": fmt in ("jpeg", "png", "webp", "avif"),
            "convert": True,
            "available": fmt != "avif" or avif,
            "lossless": fmt in LOSSLESS_FORMATS,
            "alpha": fmt in ALPHA_FORMATS,
            "animation": fmt in ANIMATED_FORMATS,
        }
        for fmt in ("jpeg", "png", "webp", "avif", "gif", "tiff", "bmp")
    ]
    return {
        "formats": formats,
        "presets": [p.describe() for p in compress.PRESETS.values()],
        "compress": {"credits": 0, "fields": compress.CompressRequest.catalogue_fields()},
        "convert": {"credits": 0, "fields": ConvertRequest.catalogue_fields()},
        "limits": {
            "target_kb_qualities": [10, 95],
            "target_ssim_qualities": [10, 100],
            "max_encodes": MAX_SEARCH_ENCODES,
            "max_lossless_output_bytes": get_settings().max_lossless_output_bytes,
        },
    }


def list_options() -> CompressOptions:
    """The formats this server writes (AVIF where its libvips can), the presets and every field of both routes."""
    return CompressOptions.model_validate(describe_options())


def list_presets() -> CompressPresets:
    """The presets: web, email, social, high_quality, max_compression (format and quality each)."""
    return CompressPresets.model_validate({"presets": describe_options()["presets"]})


#: The gateway's routes for this route of the compress studio (``studios/common/http_routes.py``).
ROUTE = SubmitRoute(
    "/convert",
    "submit_convert",
    """Accept a conversion job (202): a job of studio ``compress`` converting one image to ``format``.

    Transparency preserved (formats with alpha) or flattened on ``background``; colour space to
    sRGB; metadata kept or stripped; animated GIF or WebP keeps every frame in WebP or GIF.
    """,
)
CATALOGUES = (
    CatalogueRoute(path="/compress/options", read=list_options, example=describe_options),
    CatalogueRoute(
        path="/compress/presets",
        read=list_presets,
        example=lambda: {"presets": describe_options()["presets"]},
    ),
)
