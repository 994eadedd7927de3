"""Social optimizer: one upload rendered to every chosen platform format.

The platform catalogue lives here as data; the pixels are done by ``imagestudio.imaging``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from math import gcd
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from imagestudio.config import get_settings
from imagestudio.errors import ValidationFailed
from imagestudio.imaging import SafeZone, SourceImage, render_format, safe_zone_overlay, zip_outputs
from imagestudio.jobs.runner import JobContext
from imagestudio.studios.base import Images, Prepared
from imagestudio.studios.pricing import Estimate, EstimateItem, register
from imagestudio.studios.request import StudioRequest, UploadId

CropMode = Literal["smart", "center", "fit"]
OutputFormat = Literal["jpeg", "png", "webp"]

MB = 1024 * 1024


@dataclass(frozen=True)
class SocialFormat:
    platform: str
    id: str
    name: str
    width: int
    height: int
    #: Fractions of each edge that platform UI may cover (top, bottom, left, right).
    safe_zone: tuple[float, float, float, float]
    #: Upload limit the output is compressed under.
    max_bytes: int
    notes: str = ""

    @property
    def key(self) -> str:
        return f"{self.platform}.{self.id}"

    @property
    def aspect(self) -> str:
        """The true reduced ratio (the seed mislabelled several, e.g. 820x312 as 16:9)."""
        g = gcd(self.width, self.height)
        w, h = self.width // g, self.height // g
        if w <= 32 and h <= 32:
            return f"{w}:{h}"
        return (
            f"{self.width / self.height:.2f}:1"
            if self.width >= self.height
            else f"1:{self.height / self.width:.2f}"
        )

    def describe(self) -> dict[str, Any]:
        top, bottom, left, right = self.safe_zone
        return {
            "id": self.id,
            "key": self.key,
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "aspect": self.aspect,
            "max_bytes": self.max_bytes,
            "safe_zone": {"top": top, "bottom": bottom, "left": left, "right": right},
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Platform:
    id: str
    name: str
    file_types: tuple[str, ...]
    max_bytes: int
    formats: tuple[SocialFormat, ...]
    aliases: tuple[str, ...] = ()


_FEED = (0.15, 0.15, 0.10, 0.10)
_PORTRAIT = (0.20, 0.20, 0.10, 0.10)
_STORY = (0.25, 0.15, 0.10, 0.10)
_COVER = (0.20, 0.10, 0.15, 0.15)


def _platform(
    pid: str,
    name: str,
    types: tuple[str, ...],
    limit: int,
    formats: list[tuple[str, str, int, int, tuple[float, float, float, float], str]],
    aliases: tuple[str, ...] = (),
) -> Platform:
    return Platform(
        id=pid,
        name=name,
        file_types=types,
        max_bytes=limit,
        aliases=aliases,
        formats=tuple(
            SocialFormat(pid, fid, fname, w, h, zone, limit, notes)
            for fid, fname, w, h, zone, notes in formats
        ),
    )


#: Platform specs (2026). Safe zones keep text clear of profile pictures, captions and buttons.
PLATFORMS: dict[str, Platform] = {
    p.id: p
    for p in (
        _platform(
            "instagram",
            "Instagram",
            ("jpeg", "png"),
            30 * MB,
            [
                ("feed_square", "Feed post (square)", 1080, 1080, _FEED, ""),
                (
                    "feed_portrait",
                    "Feed post (portrait)",
                    1080,
                    1350,
                    _PORTRAIT,
                    "Tallest feed format; most screen space",
                ),
                ("feed_landscape", "Feed post (landscape)", 1080, 566, _FEED, ""),
                ("story", "Story", 1080, 1920, _STORY, "Top 14% and bottom 20% hold profile and reply bar"),
                ("reel", "Reel cover", 1080, 1920, _STORY, "Grid shows the centre 1080x1440"),
            ],
        ),
        _platform(
            "facebook",
            "Facebook",
            ("jpeg", "png"),
            30 * MB,
            [
                ("feed", "Feed post", 1200, 630, _FEED, ""),
                ("feed_square", "Feed post (square)", 1080, 1080, _FEED, ""),
                ("story", "Story", 1080, 1920, _STORY, ""),
                ("cover", "Cover photo", 820, 312, _COVER, "Mobile crops the sides to 640x360"),
            ],
        ),
        _platform(
            "twitter",
            "Twitter / X",
            ("jpeg", "png", "webp"),
            5 * MB,
            [
                ("post", "Post image", 1200, 675, _FEED, ""),
                ("card", "Summary card", 1200, 600, _FEED, ""),
                ("header", "Profile header", 1500, 500, _COVER, "Profile picture overlaps the bottom left"),
            ],
            aliases=("x",),
        ),
        _platform(
            "linkedin",
            "LinkedIn",
            ("jpeg", "png"),
            8 * MB,
            [
                ("feed", "Feed post", 1200, 628, _FEED, ""),
                ("feed_square", "Feed post (square)", 1080, 1080, _FEED, ""),
                ("article", "Article cover", 1200, 627, _FEED, ""),
                ("company_cover", "Company page cover", 1128, 191, _COVER, ""),
            ],
        ),
        _platform(
            "youtube",
            "YouTube",
            ("jpeg", "png"),
            2 * MB,
            [
                ("thumbnail", "Video thumbnail", 1280, 720, _FEED, "Bottom right holds the duration badge"),
                (
                    "channel_art",
                    "Channel art",
                    2560,
                    1440,
                    (0.3486, 0.3486, 0.2539, 0.2539),
                    "Safe on every device: the centre 1546x423",
                ),
            ],
        ),
        _platform(
            "pinterest",
            "Pinterest",
            ("jpeg", "png"),
            20 * MB,
            [
                ("pin", "Standard pin", 1000, 1500, _PORTRAIT, ""),
                ("square_pin", "Square pin", 1000, 1000, _FEED, ""),
                ("story_pin", "Idea / story pin", 1080, 1920, _STORY, ""),
            ],
        ),
        _platform(
            "tiktok",
            "TikTok",
            ("jpeg", "png"),
            10 * MB,
            [
                (
                    "cover",
                    "Video cover",
                    1080,
                    1920,
                    (0.15, 0.25, 0.10, 0.15),
                    "Right edge holds the action buttons",
                ),
            ],
        ),
    )
}

_ALIASES = {alias: p.id for p in PLATFORMS.values() for alias in (p.id, *p.aliases)}


def get_platform(name: str, *, field: str = "platform") -> Platform:
    pid = _ALIASES.get(name.strip().lower())
    if pid is None:
        raise ValidationFailed(field, f"unknown platform {name!r}; choose from {', '.join(PLATFORMS)}")
    return PLATFORMS[pid]


def get_format(key: str) -> SocialFormat:
    platform_name, sep, format_id = key.replace(":", ".").partition(".")
    platform = get_platform(platform_name, field="formats")
    for fmt in platform.formats:
        if fmt.id == format_id.strip().lower():
            return fmt
    known = ", ".join(f.key for f in platform.formats)
    raise ValidationFailed("formats", f"unknown format {key!r}; {platform.id} has {known}")


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
                    "formats": ["instagram.story", "linkedin.post"],
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


@register("social")
def _price_request(request: dict[str, Any], allowed: Collection[str]) -> Estimate:
    """Price a request given in the route's own terms (platforms, formats)."""
    chosen = resolve_formats(_as_list(request.get("platforms")), _as_list(request.get("formats")))
    return estimate_social(SocialOptimizeParams(formats=[f.key for f in chosen]))


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


_EXT = {"jpeg": "jpg", "png": "png", "webp": "webp"}


def run(ctx: JobContext) -> None:
    """Render every requested format, then the optional previews and the zip."""
    params = SocialOptimizeParams.model_validate(ctx.params)
    formats = [get_format(key) for key in params.formats]
    steps = len(formats) + (1 if params.zip else 0)
    ctx.progress(0.0, f"decoding the image for {len(formats)} formats")
    source = SourceImage.load(ctx.read_input("image"), max_pixels=get_settings().max_image_pixels)
    archive: list[tuple[str, bytes]] = []
    ext = _EXT[params.output_format]
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


def is_hex_colour(value: str) -> bool:
    return len(value) == 7 and value[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in value[1:])
