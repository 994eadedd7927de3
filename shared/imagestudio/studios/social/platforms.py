"""The social platform catalogue, as data: every format's size, upload limit, safe zone and source.

Each format cites the page its size, limit and safe zone were checked against (``source``) and the
day they were checked (``CHECKED``). Upload limits are decimal megabytes (a platform's "5 MB" may be
5,000,000 bytes), so an output encoded under the figure here fits however the platform counts.
Where a platform shows part of an image only (the Instagram profile grid's 3:4 tiles, the middle
of a Facebook cover on phones) that crop counts as covered, like the bands its buttons sit on.

It runs past 500 lines because it is one table (31 formats with a source each), not logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from imagestudio.errors import ValidationFailed
from imagestudio.imaging import SafeZone

__all__ = [
    "CHECKED",
    "CUSTOM",
    "CustomFormat",
    "MB",
    "PLATFORMS",
    "Platform",
    "SocialFormat",
    "get_format",
    "get_platform",
]

#: A decimal megabyte: the smaller reading of a platform's "MB", so outputs fit either reading.
MB = 1_000_000
#: The day every size, limit and safe zone below was checked against its source.
CHECKED = "2026-12-01"
#: Margin kept clear on edges no platform overlay or crop covers: text off the very edge.
TITLE_SAFE = 0.05
#: The Instagram profile grid has shown every post as a 3:4 tile since January 2025.
GRID_ASPECT = 3 / 4

Edges = tuple[float, float, float, float]

#: The platform name of formats a request sizes itself (``CustomFormat``): ``custom.<name>``.
CUSTOM = "custom"
#: Smallest and largest side of a custom format (the largest is what any output may be).
CUSTOM_MIN_SIDE = 16
CUSTOM_MAX_SIDE = 8192
#: Upload limit a custom format is compressed under unless it names its own.
CUSTOM_MAX_BYTES = 30 * MB


@dataclass(frozen=True)
class SocialFormat:
    """One output a platform expects: exact size, upload limit, and the edges its interface covers."""

    platform: str
    id: str
    name: str
    width: int
    height: int
    #: Fractions of each edge that platform UI covers or crops away (top, bottom, left, right).
    safe_zone: Edges
    #: Upload limit the output is compressed under.
    max_bytes: int
    #: The page the size, limit and safe zone were checked against.
    source: str
    notes: str = ""

    def __post_init__(self) -> None:
        """Refuse a catalogue entry with an impossible safe zone, no source or no size."""
        SafeZone(*self.safe_zone)  # raises when a margin is outside 0..1 or leaves no area
        if self.platform != CUSTOM and not self.source.startswith("https://"):
            raise ValueError(f"{self.key}: the source must be an https:// page, got {self.source!r}")
        if self.width < 1 or self.height < 1 or self.max_bytes < 1:
            raise ValueError(f"{self.key}: size and upload limit must be positive")

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
            "source": self.source,
            "checked": CHECKED,
        }


class CustomSafeZone(BaseModel):
    """Fractions of each edge a partner's interface covers; content is kept inside the rest."""

    model_config = ConfigDict(extra="forbid")

    top: float = Field(default=0.0, ge=0.0, le=0.45)
    bottom: float = Field(default=0.0, ge=0.0, le=0.45)
    left: float = Field(default=0.0, ge=0.0, le=0.45)
    right: float = Field(default=0.0, ge=0.0, le=0.45)


class CustomFormat(BaseModel):
    """A format the request sizes itself, beside catalogue keys: ``{"name", "width", "height", "safe_zone"?}``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "partner_banner", "width": 1200, "height": 1500}]},
    )

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    width: int = Field(ge=CUSTOM_MIN_SIDE, le=CUSTOM_MAX_SIDE)
    height: int = Field(ge=CUSTOM_MIN_SIDE, le=CUSTOM_MAX_SIDE)
    safe_zone: CustomSafeZone = Field(default_factory=CustomSafeZone)
    max_bytes: int = Field(default=CUSTOM_MAX_BYTES, ge=10_000, le=CUSTOM_MAX_BYTES)

    @property
    def key(self) -> str:
        return f"{CUSTOM}.{self.name.lower()}"

    def to_format(self) -> SocialFormat:
        """The format the studio renders: the title-safe margin at least, as catalogue formats have."""
        zone = self.safe_zone
        edges = _clear(top=zone.top, bottom=zone.bottom, left=zone.left, right=zone.right)
        return SocialFormat(
            CUSTOM,
            self.name.lower(),
            self.name,
            self.width,
            self.height,
            edges,
            self.max_bytes,
            "",
            "custom size",
        )


@dataclass(frozen=True)
class Platform:
    """A platform's upload rules (file types, usual image limit) and its formats."""

    id: str
    name: str
    file_types: tuple[str, ...]
    #: The platform's usual image limit; a format may have its own (``SocialFormat.max_bytes``).
    max_bytes: int
    #: The page the file types and the usual limit were checked against.
    source: str
    formats: tuple[SocialFormat, ...]
    aliases: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "aliases": list(self.aliases),
            "file_types": list(self.file_types),
            "max_bytes": self.max_bytes,
            "source": self.source,
            "checked": CHECKED,
            "formats": [f.describe() for f in self.formats],
        }


class _Spec(NamedTuple):
    """A format row as written below; the platform fills in its id and, unless given, its limit."""

    id: str
    name: str
    width: int
    height: int
    safe_zone: Edges
    source: str
    notes: str = ""
    max_bytes: int | None = None


def _platform(
    pid: str,
    name: str,
    types: tuple[str, ...],
    limit: int,
    source: str,
    specs: list[_Spec],
    aliases: tuple[str, ...] = (),
) -> Platform:
    formats = tuple(
        SocialFormat(
            pid,
            s.id,
            s.name,
            s.width,
            s.height,
            s.safe_zone,
            s.max_bytes or limit,
            s.source,
            s.notes,
        )
        for s in specs
    )
    return Platform(pid, name, types, limit, source, formats, aliases)


def _clear(*, top: float = 0.0, bottom: float = 0.0, left: float = 0.0, right: float = 0.0) -> Edges:
    """A safe zone: the covered fractions given, and at least the title-safe margin everywhere."""

    def edge(covered: float) -> float:
        return round(max(TITLE_SAFE, covered), 4)

    return (edge(top), edge(bottom), edge(left), edge(right))


def _grid_tile(width: int, height: int) -> Edges:
    """The Instagram profile grid's 3:4 centre tile of a post, as a safe zone."""
    if width / height > GRID_ASPECT:
        side = (1 - GRID_ASPECT * height / width) / 2
        return _clear(left=side, right=side)
    band = (1 - width / (GRID_ASPECT * height)) / 2
    return _clear(top=band, bottom=band)


def _band(pixels: int, of: int) -> float:
    return pixels / of


# Sources, one page per claim; third-party guides where the platform publishes no page of its own.
_META_ADS = "https://mediamaxnetwork.com/digital-specifications/social-ads/"
_IG_SIZES = "https://recurpost.com/blog/instagram-post-size-guide"
_IG_GRID = "https://pictuary.com/glossary/profile-grid"
_IG_GRID_GUIDE = "https://aspectratiocalculator.pages.dev/blog/aspect-ratio-guide-instagram"
_FB_SIZES = "https://image-compressor.uk/facebook-image-sizes"
_FB_FEED = "https://alladspecs.com/specs/meta-facebook/feed-image-ad"
_X_MEDIA = "https://docs.getlate.dev/resources/media-guidelines/twitter"
_X_CARD = "https://developer.x.com/en/docs/x-for-websites/cards/overview/summary-card-with-large-image"
_X_HEADER = "https://postsyncer.com/tips/x-twitter-header-image-size"
_LI_SIZES = "https://www.picovert.com/en/blog/image-size-for-linkedin"
_LI_LIMIT = "https://www.cadslist.com/linkedin-image-sizes/"
_LI_DOCUMENT = "https://slidedrift.com/blog/linkedin-carousel-size-guide"
_YT_THUMBNAIL = "https://dropvert.pages.dev/guides/how-to-make-a-youtube-thumbnail"
_YT_BANNER = "https://webbannerexperts.com/youtube-channel-banner-size-the-2560x1440-guide"
_PINTEREST = "https://help.pinterest.com/en/business/article/pinterest-product-specs"
_TIKTOK_SIZES = "https://image-compressor.uk/tiktok-image-sizes"
_TIKTOK_SAFE = "https://adfuseai.com/blog/tiktok-ad-sizes-specs-guide"
_THREADS = "https://www.picovert.com/en/blog/image-size-for-threads"
_THREADS_SIZES = "https://moda.app/resources/sizes/threads-post"
_BSKY_LEXICON = "https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/embed/images.json"
_BSKY_PROFILE = "https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/actor/profile.json"
_BSKY_SIZES = "https://xroadstudio.com/platform-specs/bluesky"

# Meta's 9:16 bands: Stories cover the top 14% and bottom 20%; Reels the top 14%, bottom 35% and
# 6% of each side (Meta's ads guide, quoted by _META_ADS).
_META_STORY = _clear(top=0.14, bottom=0.20)
_META_REEL = _clear(top=0.14, bottom=0.35, left=0.06, right=0.06)

#: Platform specs, checked on ``CHECKED`` against each format's ``source``.
PLATFORMS: dict[str, Platform] = {
    p.id: p
    for p in (
        _platform(
            "instagram",
            "Instagram",
            ("jpeg", "png"),
            30 * MB,
            _META_ADS,
            [
                _Spec(
                    "feed_square",
                    "Feed post (square)",
                    1080,
                    1080,
                    _grid_tile(1080, 1080),
                    _IG_SIZES,
                    "The profile grid shows the centre 810x1080",
                ),
                _Spec(
                    "feed_portrait",
                    "Feed post (portrait 4:5)",
                    1080,
                    1350,
                    _grid_tile(1080, 1350),
                    _IG_GRID,
                    "Most feed space of the classic ratios; the grid trims 34 px from each side",
                ),
                _Spec(
                    "grid_preview",
                    "Profile grid tile (3:4)",
                    1080,
                    1440,
                    _clear(),
                    _IG_GRID_GUIDE,
                    "The profile grid has shown every post as a 3:4 tile since 2025; "
                    "a 3:4 post is its own tile, uncropped",
                ),
                _Spec(
                    "feed_landscape",
                    "Feed post (landscape)",
                    1080,
                    566,
                    _grid_tile(1080, 566),
                    _IG_SIZES,
                    "The profile grid shows only the centre 424x566",
                ),
                _Spec(
                    "story",
                    "Story",
                    1080,
                    1920,
                    _META_STORY,
                    _META_ADS,
                    "Top 14% holds the profile and timer, bottom 20% the reply bar",
                ),
                _Spec(
                    "reel",
                    "Reel cover",
                    1080,
                    1920,
                    _META_REEL,
                    _META_ADS,
                    "Caption and buttons cover the bottom 35%; the grid shows the centre 1080x1440",
                ),
            ],
        ),
        _platform(
            "facebook",
            "Facebook",
            ("jpeg", "png"),
            30 * MB,
            _FB_FEED,
            [
                _Spec("feed", "Feed post (link)", 1200, 630, _clear(), _FB_SIZES),
                _Spec("feed_square", "Feed post (square)", 1080, 1080, _clear(), _FB_FEED),
                _Spec("story", "Story", 1080, 1920, _META_STORY, _META_ADS),
                _Spec(
                    "cover",
                    "Cover photo",
                    820,
                    312,
                    _clear(left=_band(90, 820), right=_band(90, 820)),
                    _FB_SIZES,
                    "Phones show 640x360 of it: only the centre 640x312 shows everywhere",
                ),
            ],
        ),
        _platform(
            "twitter",
            "Twitter / X",
            ("jpeg", "png", "webp"),
            5 * MB,
            _X_MEDIA,
            [
                _Spec("post", "Post image", 1200, 675, _clear(), _X_MEDIA),
                _Spec("card", "Summary card (large image)", 1200, 600, _clear(), _X_CARD),
                _Spec(
                    "header",
                    "Profile header",
                    1500,
                    500,
                    _clear(top=0.15, bottom=0.15, left=0.15, right=0.15),
                    _X_HEADER,
                    "Phones crop the outer 10-15%; the profile picture overlaps the bottom left",
                ),
            ],
            aliases=("x",),
        ),
        _platform(
            "linkedin",
            "LinkedIn",
            ("jpeg", "png"),
            8 * MB,
            _LI_LIMIT,
            [
                _Spec("feed", "Feed post", 1200, 627, _clear(), _LI_SIZES),
                _Spec("feed_square", "Feed post (square)", 1080, 1080, _clear(), _LI_SIZES),
                _Spec("article", "Article cover", 1200, 627, _clear(), _LI_SIZES),
                _Spec(
                    "company_cover",
                    "Company page cover",
                    1128,
                    191,
                    _clear(left=0.20, right=0.20),
                    _LI_SIZES,
                    "Phones crop the sides: keep text in the centre 60%",
                ),
                _Spec(
                    "carousel_square",
                    "Carousel slide (square)",
                    1080,
                    1080,
                    _clear(),
                    _LI_DOCUMENT,
                    "One page of a document (PDF) post: same-size pages, under 100 MB and 300 pages",
                ),
                _Spec(
                    "carousel_portrait",
                    "Carousel slide (portrait 4:5)",
                    1080,
                    1350,
                    _clear(),
                    _LI_DOCUMENT,
                    "One page of a document (PDF) post: same-size pages, under 100 MB and 300 pages",
                ),
            ],
        ),
        _platform(
            "youtube",
            "YouTube",
            ("jpeg", "png"),
            2 * MB,
            _YT_THUMBNAIL,
            [
                _Spec(
                    "thumbnail",
                    "Video thumbnail",
                    1280,
                    720,
                    _clear(bottom=0.12, right=0.15),
                    _YT_THUMBNAIL,
                    "Bottom right holds the duration badge",
                ),
                _Spec(
                    "channel_art",
                    "Channel art",
                    2560,
                    1440,
                    _clear(
                        top=_band(1440 - 423, 2 * 1440),
                        bottom=_band(1440 - 423, 2 * 1440),
                        left=_band(2560 - 1546, 2 * 2560),
                        right=_band(2560 - 1546, 2 * 2560),
                    ),
                    _YT_BANNER,
                    "Safe on every device: the centre 1546x423",
                    max_bytes=6 * MB,
                ),
            ],
        ),
        _platform(
            "pinterest",
            "Pinterest",
            ("jpeg", "png"),
            20 * MB,
            _PINTEREST,
            [
                _Spec(
                    "pin",
                    "Standard pin",
                    1000,
                    1500,
                    _clear(),
                    _PINTEREST,
                    "Taller than 2:3 may be cut off in feeds",
                ),
                _Spec("square_pin", "Square pin", 1000, 1000, _clear(), _PINTEREST),
                _Spec(
                    "story_pin",
                    "Full-screen pin (9:16)",
                    1080,
                    1920,
                    _META_STORY,
                    _PINTEREST,
                    "Pinterest publishes no overlay figures; Meta's story bands are kept",
                ),
            ],
        ),
        _platform(
            "tiktok",
            "TikTok",
            ("jpeg", "png"),
            10 * MB,
            _TIKTOK_SIZES,
            [
                _Spec(
                    "cover",
                    "Video cover / photo-mode slide",
                    1080,
                    1920,
                    _clear(top=_band(150, 1920), bottom=_band(440, 1920), right=_band(150, 1080)),
                    _TIKTOK_SAFE,
                    "Right edge holds the action buttons, the bottom the caption and music",
                ),
            ],
        ),
        _platform(
            "threads",
            "Threads",
            ("jpeg", "png"),
            8 * MB,
            _THREADS,
            [
                _Spec(
                    "post_portrait",
                    "Post (portrait 4:5)",
                    1080,
                    1350,
                    _clear(),
                    _THREADS_SIZES,
                    "Most feed space; a carousel takes the ratio of its first image",
                ),
                _Spec("post_square", "Post (square)", 1080, 1080, _clear(), _THREADS),
                _Spec("post_landscape", "Post (landscape)", 1200, 628, _clear(), _THREADS_SIZES),
            ],
        ),
        _platform(
            "bluesky",
            "Bluesky",
            ("jpeg", "png", "webp"),
            1 * MB,
            _BSKY_LEXICON,
            [
                _Spec(
                    "post",
                    "Post image",
                    1200,
                    675,
                    _clear(),
                    _BSKY_SIZES,
                    "Each image at most 1,000,000 bytes and 2000x2000 (the lexicon's limit)",
                ),
                _Spec("post_square", "Post image (square)", 1080, 1080, _clear(), _BSKY_SIZES),
                _Spec(
                    "banner",
                    "Profile banner",
                    1500,
                    500,
                    _clear(bottom=0.20, left=0.15),
                    _BSKY_PROFILE,
                    "The avatar overlaps the bottom left",
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
