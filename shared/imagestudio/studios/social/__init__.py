"""Social optimizer: one upload rendered to every chosen platform format.

The platform catalogue is data in ``social_platforms``; the pixels are done by ``imagestudio.imaging``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.errors import ValidationFailed
from imagestudio.imaging import SafeZone, SourceImage, render_format, safe_zone_overlay, zip_outputs
from imagestudio.imaging.colour import is_hex_colour
from imagestudio.imaging.formats import OutputFormat, extension
from imagestudio.jobs.runner import JobContext
from imagestudio.studios.common.base import Images, Prepared
from imagestudio.studios.common.pricing import Estimate, EstimateItem
from imagestudio.studios.common.request import StudioRequest, UploadId
from imagestudio.studios.social.platforms import PLATFORMS as PLATFORMS
from imagestudio.studios.social.platforms import Platform as Platform
from imagestudio.studios.social.platforms import SocialFormat as SocialFormat
from imagestudio.studios.social.platforms import get_format as get_format
from imagestudio.studios.social.platforms import get_platform as get_platform

CropMode = Literal["smart", "center", "fit"]


def _split(values: list[str] | None) -> list[str]:
    """Accept repeated fields and comma-separated lists alike."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def resolve_formats(platforms: list[str] | None, formats: list[str] | None) -> list[SocialFormat]:
    """The formats a request asks for: named formats plus every format of named platforms; none named means all."""
    platform_names, format_keys = _split(platforms), _split(formats)
    chosen: dict[str, SocialFormat] = {}
    if not platform_names and not format_keys:
        platform_names = list(PLATFORMS)
    for name in platform_names:
        if name.lower() == "all":
            for p in PLATFORMS.values():
                chosen.update({f.key: f for f in p.formats})
            continue
        chosen.update({f.key: f for f in get_platform(name, field="platforms").formats})
    for key in format_keys:
        fmt = get_format(key)
        chosen[fmt.key] = fmt
    return list(chosen.values())


class SocialOptimizeParams(BaseModel):
    """The validated request, stored on the job."""

    formats: list[str] = Field(min_length=1)
    crop_mode: CropMode = "smart"
    focal_point: tuple[float, float] | None = None
    background: str = "auto"
    output_format: OutputFormat = "jpeg"
    quality: int = Field(default=90, ge=1, le=100)
    safe_zone_overlay: bool = False
    zip: bool = True
    enforce_size_limits: bool = True


class SocialOptimizeRequest(StudioRequest):
    """``POST /social/optimize``: one image, the platforms and formats to render it to, and how."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19",
                    "formats": ["instagram.story", "linkedin.feed"],
                },
                {
                    "image": "upl_3f0c9a6b2e5d4c1a8b7e6f5d4c3b2a19",
                    "platforms": ["instagram"],
                    "crop_mode": "fit",
                },
            ]
        }
    )

    image_fields = ("image",)
    required_images = ("image",)

    image: UploadId | None = None
    platforms: list[str] | None = Field(
        default=None, description="Platforms (repeat or comma-separate); every format of each. `all` for all."
    )
    formats: list[str] | None = Field(
        default=None, description="Formats as `platform.format`, e.g. `instagram.story`"
    )
    crop_mode: CropMode = "smart"
    focal_x: float | None = Field(
        default=None, ge=0, le=1, description="Focal point x in 0..1; overrides smart"
    )
    focal_y: float | None = Field(default=None, ge=0, le=1)
    background: str = Field(default="auto", max_length=20, description="fit mode: auto, blur or #rrggbb")
    output_format: OutputFormat = "jpeg"
    quality: int = Field(default=90, ge=1, le=100)
    safe_zone_overlay: bool = False
    zip: bool = Field(default=True, description="Also produce all.zip of every output")
    enforce_size_limits: bool = True

    def to_params(self) -> SocialOptimizeParams:
        """The job's params: formats resolved, focal point and background checked."""
        chosen = resolve_formats(self.platforms, self.formats)
        if (self.focal_x is None) != (self.focal_y is None):
            raise ValidationFailed(
                "focal_y" if self.focal_y is None else "focal_x", "give both focal_x and focal_y"
            )
        if self.background not in ("auto", "blur") and not is_hex_colour(self.background):
            raise ValidationFailed("background", "use auto, blur or a #rrggbb colour")
        return SocialOptimizeParams(
            formats=[f.key for f in chosen],
            crop_mode=self.crop_mode,
            focal_point=(self.focal_x, self.focal_y)
            if self.focal_x is not None and self.focal_y is not None
            else None,
            background=self.background,
            output_format=self.output_format,
            quality=self.quality,
            safe_zone_overlay=self.safe_zone_overlay,
            zip=self.zip,
            enforce_size_limits=self.enforce_size_limits,
        )


#: The studio's name: its jobs, queue and actors.
name = "social"
Request = SocialOptimizeRequest


def check(request: SocialOptimizeRequest, *, files: Collection[str]) -> None:
    """Refuse what needs no image to judge: unknown platforms or formats, half a focal point, a bad background."""
    request.to_params()


def prepare(session: Session, *, tenant_id: str, request: SocialOptimizeRequest, images: Images) -> Prepared:
    """The job's params and its one image; social is local pixel work, so no provider is planned."""
    params = request.to_params()
    return Prepared(params=params, images=[image for image, _ in images.values()], cost=price(params))


def price(params: SocialOptimizeParams) -> int:
    """Credits a social job costs: none, it is local pixel work (as the seed charged)."""
    return estimate_social(params).total_credits


def estimate_social(params: SocialOptimizeParams) -> Estimate:
    items = [
        EstimateItem(item=key, provider="local", unit_credits=0, count=1, credits=0) for key in params.formats
    ]
    total = sum(i.credits for i in items)
    return Estimate(studio="social", total_credits=total, max_credits=total, breakdown=items)


def estimate(request: dict[str, Any], allowed: Collection[str]) -> Estimate:
    """Price a request given in the route's own terms (platforms, formats)."""
    chosen = resolve_formats(_as_list(request.get("platforms")), _as_list(request.get("formats")))
    return estimate_social(SocialOptimizeParams(formats=[f.key for f in chosen]))


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def run(ctx: JobContext) -> None:
    """Render every requested format, then the optional previews and the zip."""
    params = SocialOptimizeParams.model_validate(ctx.params)
    formats = [get_format(key) for key in params.formats]
    steps = len(formats) + (1 if params.zip else 0)
    ctx.progress(0.0, f"decoding the image for {len(formats)} formats")
    source = SourceImage.load(
        ctx.read_input("image"),
        max_pixels=get_settings().max_image_pixels,
        sizes=[(fmt.width, fmt.height) for fmt in formats],
    )
    archive: list[tuple[str, bytes]] = []
    ext = extension(params.output_format)
    for position, fmt in enumerate(formats):
        top, bottom, left, right = fmt.safe_zone
        safe_zone = SafeZone(top=top, bottom=bottom, left=left, right=right)
        rendered = render_format(
            source,
            width=fmt.width,
            height=fmt.height,
            mode=params.crop_mode,
            focal_point=params.focal_point,
            background=params.background,
            output_format=params.output_format,
            quality=params.quality,
            max_bytes=fmt.max_bytes if params.enforce_size_limits else None,
            safe_zone=safe_zone,
        )
        ctx.add_output(
            fmt.key,
            rendered.data,
            ext=ext,
            content_type=rendered.content_type,
            format=rendered.format,
            position=position * 2,
            width=rendered.width,
            height=rendered.height,
            metadata={
                "platform": fmt.platform,
                "format": fmt.id,
                "format_name": fmt.name,
                "aspect": fmt.aspect,
                "crop_mode": params.crop_mode,
                "crop_box": list(rendered.crop_box) if rendered.crop_box else None,
                "quality": rendered.quality,
                "max_bytes": fmt.max_bytes,
                "fits_size_limit": rendered.fits_size_limit,
                "safe_zone": {"top": top, "bottom": bottom, "left": left, "right": right},
                "subject": asdict(rendered.subject) if rendered.subject else None,
            },
        )
        archive.append((f"{fmt.key}.{ext}", rendered.data))
        if params.safe_zone_overlay:
            preview = safe_zone_overlay(rendered, safe_zone)
            ctx.add_output(
                f"{fmt.key}.safe-zone",
                preview.data,
                ext="png",
                content_type=preview.content_type,
                format=preview.format,
                kind="preview",
                position=position * 2 + 1,
                width=preview.width,
                height=preview.height,
                metadata={"platform": fmt.platform, "format": fmt.id, "preview_of": fmt.key},
            )
            archive.append((f"{fmt.key}.safe-zone.png", preview.data))
        ctx.progress((position + 1) / steps, f"rendered {fmt.key} ({position + 1}/{len(formats)})")
    if params.zip:
        bundle = zip_outputs(archive)
        ctx.add_output(
            "all.zip",
            bundle,
            ext="zip",
            content_type="application/zip",
            format="zip",
            kind="archive",
            position=len(formats) * 2,
            metadata={"files": [name for name, _ in archive]},
        )
