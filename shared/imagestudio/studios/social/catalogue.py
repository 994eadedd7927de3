"""The platform catalogue: its routes (``GET /social/platforms`` and those below it) and their answers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from imagestudio.studios.common.catalogue import CatalogueRead
from imagestudio.studios.common.http_routes import CatalogueRoute
from imagestudio.studios.social.platforms import PLATFORMS, get_platform


class SafeZoneRead(CatalogueRead):
    """The fraction of each side a platform's overlays may cover."""

    top: float
    bottom: float
    left: float
    right: float


class SocialFormatRead(CatalogueRead):
    id: str
    key: str = Field(description="``<platform>.<format>``, as ``formats`` takes it")
    name: str
    width: int
    height: int
    aspect: str
    max_bytes: int
    safe_zone: SafeZoneRead
    notes: str
    source: str
    checked: str = Field(description="The day the source was checked")


class PlatformRead(CatalogueRead):
    """``GET /platform-specs/{platform}``: a platform's upload rules and formats."""

    id: str
    name: str
    aliases: list[str]
    file_types: list[str]
    max_bytes: int
    source: str
    checked: str
    formats: list[SocialFormatRead]


class PlatformList(CatalogueRead):
    """``GET /social/platforms``."""

    platforms: list[PlatformRead]


class PlatformFormats(CatalogueRead):
    """``GET /social/platforms/{platform}/formats``."""

    platform: str
    formats: list[SocialFormatRead]


def list_platforms() -> PlatformList:
    """Every platform with its formats, sizes, aspect ratios, size limits, safe zones and sources."""
    return PlatformList.model_validate({"platforms": [p.describe() for p in PLATFORMS.values()]})


def list_formats(platform: str) -> PlatformFormats:
    """The formats of one platform."""
    found = get_platform(platform)
    return PlatformFormats.model_validate(
        {"platform": found.id, "formats": [f.describe() for f in found.formats]}
    )


def platform_specs(platform: str) -> PlatformRead:
    """A platform's upload rules (file types, size limit) and formats."""
    return PlatformRead.model_validate(get_platform(platform).describe())


def _example() -> dict[str, Any]:
    """One real platform, as the routes describe it (the OpenAPI examples)."""
    return get_platform("instagram").describe()


#: The routes the gateway serves from the platform table (``studios/common/http_routes.py``).
CATALOGUES = (
    CatalogueRoute(
        path="/social/platforms", read=list_platforms, example=lambda: {"platforms": [_example()]}
    ),
    CatalogueRoute(
        path="/social/platforms/{platform}/formats",
        read=list_formats,
        example=lambda: {"platform": _example()["id"], "formats": _example()["formats"]},
    ),
    CatalogueRoute(path="/platform-specs/{platform}", read=platform_specs, example=_example),
)
